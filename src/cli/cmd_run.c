/*
 * cmd_run.c - `cpgo run`, and the original tool's command line (`cpgo -configPath FILE
 * -githubToken TOKEN -verbose`, no command), which is the same daemon: one parser serves
 * both, so the two can never drift apart.
 *
 * The original is a Go program, so its flags follow Go's flag package: `-flag value`,
 * `--flag value`, `-flag=value`, and for booleans `-flag` or `-flag=true|false`.
 * getopt_long_only accepts all of these spellings except the boolean value, which -verbose
 * takes as an optional argument. A flag's value is never echoed in an error: a mistyped
 * `-githubTokn=ghs_...` must not print the token.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"

/* Go's strconv.ParseBool, which the original's -verbose=VALUE goes through: 1 true, 0
 * false, -1 not a boolean. */
static int go_bool(const char *s)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (!strcmp(s, t[i])) return 1;
        if (!strcmp(s, f[i])) return 0;
    }
    return -1;
}

/* A usage error. cmd NULL is the original's command line: one line, which names the
 * original's flags because whoever typed it knows that tool, not cpgo's commands. */
static int usage_error(const char *cmd, const char *what, const char *arg)
{
    int n = (int)strcspn(arg, "="); /* never echo a value */
    /* nor one glued to a flag that takes one (-githubTokenghp_...): name the flag only */
    static const char *const valued[] = {"githubToken", "configPath", "config", "output", "shard"};
    const char *name = arg + strspn(arg, "-");
    size_t nl = strcspn(name, "=");
    int exact = 0;
    for (size_t i = 0; i < sizeof valued / sizeof valued[0]; i++)
        exact |= strlen(valued[i]) == nl && !strncmp(name, valued[i], nl);
    for (size_t i = 0; i < sizeof valued / sizeof valued[0] && !exact; i++) {
        size_t l = strlen(valued[i]);
        if (!strncmp(name, valued[i], l) && name[l] && name[l] != '=') {
            n = (int)(name - arg + l);
            what = "a value must follow a space or '=' after";
            break;
        }
    }
    if (cmd) return cpgo_cli_usage_error(cmd, "%s '%.*s'", what, n, arg);
    fprintf(stderr,
            "cpgo: %s '%.*s' (the original's flags: -configPath FILE, -githubToken TOKEN, "
            "-verbose; 'cpgo -h' for help)\n",
            what, n, arg);
    return CPGO_EXIT_INVALID;
}

/* argv[0] is the command ("run") or the program (the original's command line). */
static int run_flags(const char *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"configPath", required_argument, NULL, 'c'}, /* the original tool's flag */
        {"verbose", optional_argument, NULL, 'v'},    /* optional: Go's -verbose=false */
        {"once", no_argument, NULL, 'O'},
        {"dry-run", no_argument, NULL, 'D'},
        {"strict", no_argument, NULL, 'X'},
        {"output", required_argument, NULL, 'o'},
        {"githubToken", required_argument, NULL, 'T'}, /* the original's; discouraged */
        {"shard", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cpgo_run_opts o;
    memset(&o, 0, sizeof o);
    char *token = NULL;
    const char *shard = getenv("CPGO_SHARD");
    int rc = -1, c;
    optind = 1;
    opterr = 0;
    /* leading ':' tells a missing value (':') from an unknown flag ('?') */
    while (rc < 0) {
        int at = optind;
        optarg = NULL;
        if ((c = getopt_long_only(argc, argv, ":c:vo:h", opts, NULL)) == -1) break;
        /* the argument getopt was looking at: behind optind once consumed; while getopt
         * is inside a cluster of short options, optind stays and the rest of the cluster
         * may be anything (-vZghp_...): only the option character is named */
        char one[3] = {'-', (char)optopt, 0};
        const char *arg = optind > at ? argv[optind - 1] : one;
        switch (c) {
        case 'c':
            o.config_path = optarg;
            break;
        case 'v':
            o.verbose = optarg ? go_bool(optarg) : 1;
            if (o.verbose < 0)
                rc = usage_error(cmd, "a boolean (true, false, 1, 0, t, f) is expected by", arg);
            break;
        case 'O':
            o.once = 1;
            break;
        case 'D':
            o.dry_run = 1;
            break;
        case 'X':
            o.strict = 1;
            break;
        case 'o':
            o.output_dir = optarg;
            break;
        case 'S':
            shard = optarg;
            break;
        case 'T':
            /* keep a copy and wipe the argument, so /proc/<pid>/cmdline stops showing it
             * (ps saw it until now: the daemon warns about that) */
            free(token);
            token = strdup(optarg);
            memset(optarg, 0, strlen(optarg));
            if (!token) rc = CPGO_EXIT_FAIL;
            o.github_token = token;
            break;
        case 'h': /* as Go's flag package: the usage on standard error, exit 2 */
            if (cmd)
                rc = cpgo_cli_help_flag(cmd);
            else {
                cpgo_cli_print_help(stderr);
                rc = CPGO_EXIT_INVALID;
            }
            break;
        case ':':
            rc = usage_error(cmd, "a value is missing after", arg);
            break;
        default:
            rc = usage_error(cmd, cmd ? "unknown or incomplete option" : "unknown flag", arg);
        }
    }
    if (rc < 0 && optind < argc) {
        /* a stray word may be a value typed without its flag (a token): not echoed whole */
        char shown[16];
        snprintf(shown, sizeof shown, "%.3s%s", argv[optind],
                 strlen(argv[optind]) > 3 ? "..." : "");
        rc = cmd ? cpgo_cli_usage_error(cmd, "unexpected argument '%s'", shown)
                 : usage_error(NULL, "unexpected argument", shown);
    }
    if (!o.config_path) o.config_path = "./config.yaml"; /* the original tool's default */
    if (rc < 0 && o.dry_run && !o.once)
        rc = cpgo_cli_usage_error("run", "--dry-run needs --once (a dry run is one round)");
    if (rc < 0 && o.strict && !o.once)
        rc = cpgo_cli_usage_error("run", "--strict needs --once (it decides --once's exit status)");
    /* --once: the summary always (standard output); the progress line only for a person
     * watching (standard error, where the logs go, is a terminal) */
    o.summary = o.once;
    o.progress = o.once && isatty(STDERR_FILENO);
    if (rc < 0 && shard && cpgo_daemon_parse_shard(shard, &o.shard_index, &o.shard_count))
        rc = cpgo_cli_usage_error("run", "--shard (or CPGO_SHARD) '%s' is not I/N with 0 <= I < N",
                                  shard);
    if (rc < 0) rc = cpgo_daemon_run(&o);
    if (token) {
        explicit_bzero(token, strlen(token));
        free(token);
    }
    return rc;
}

int cpgo_cmd_run(int argc, char **argv)
{
    return run_flags("run", argc, argv);
}

int cpgo_cmd_original(int argc, char **argv)
{
    return run_flags(NULL, argc, argv);
}
