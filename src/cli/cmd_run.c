/*
 * cmd_run.c - `cpgo run`: parses the flags (also the original tool's -configPath and
 * -verbose) and hands over to the daemon.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

int cpgo_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"configPath", required_argument, NULL, 'c'}, /* the original tool's flag */
        {"verbose", no_argument, NULL, 'v'},
        {"once", no_argument, NULL, 'O'},
        {"output", required_argument, NULL, 'o'},
        {"githubToken", required_argument, NULL, 'T'}, /* the original's; discouraged */
        {"shard", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cpgo_run_opts o;
    memset(&o, 0, sizeof o);
    int c;
    char *token = NULL;
    const char *shard = getenv("CPGO_SHARD");
    optind = 1;
    opterr = 0;
    while ((c = getopt_long_only(argc, argv, "c:vo:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o.config_path = optarg; break;
        case 'v': o.verbose = 1; break;
        case 'O': o.once = 1; break;
        case 'o': o.output_dir = optarg; break;
        case 'S':
            shard = optarg;
            break;
        case 'T':
            /* keep a copy and wipe the argument, so /proc/<pid>/cmdline stops showing it
             * (ps saw it until now: the daemon warns about that) */
            free(token);
            token = strdup(optarg);
            memset(optarg, 0, strlen(optarg));
            if (!token) return CPGO_EXIT_FAIL;
            o.github_token = token;
            break;
        case 'h': fputs(cpgo_cli_usage("run"), stdout); return CPGO_EXIT_OK;
        default:
        {
            /* never echo a value: "-githubTokn=ghs_..." would print the token */
            const char *a = argv[optind - 1];
            int n = (int)strcspn(a, "=");
            return cpgo_cli_usage_error("run", "unknown or incomplete option '%.*s'", n, a);
        }
        }
    }
    if (optind < argc) return cpgo_cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
    if (!o.config_path) o.config_path = "./config.yaml"; /* the original tool's default */
    if (shard && cpgo_daemon_parse_shard(shard, &o.shard_index, &o.shard_count)) {
        free(token);
        return cpgo_cli_usage_error("run",
                                    "--shard (or CPGO_SHARD) '%s' is not I/N with 0 <= I < N",
                                    shard);
    }
    int rc = cpgo_daemon_run(&o);
    if (token) {
        explicit_bzero(token, strlen(token));
        free(token);
    }
    return rc;
}
