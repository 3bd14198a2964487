/*
 * cmd_check_config.c - `cpgo check-config`: validates a configuration file and prints it
 * normalised (every default filled in, secrets masked), or prints every error, one
 * "file:line:column: key: problem" line each. `--reference` prints docs/CONFIG.md.
 *
 * Options are parsed by hand rather than with getopt: the original tool's flag is the Go
 * style single-dash "-configPath FILE", which getopt would read as "-c onfigPath".
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "daemon/daemon.h"

#define CMD "check-config"

/* "-c FILE", "--config FILE", "--config=FILE" and the same for -configPath. */
static int file_option(int argc, char **argv, int *i, const char **val)
{
    static const char *const names[] = {"-c", "--config", "-configPath", "--configPath"};
    const char *a = argv[*i];
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        size_t n = strlen(names[k]);
        if (strncmp(a, names[k], n)) continue;
        if (a[n] == '=') {
            *val = a + n + 1;
            return 1;
        }
        if (a[n]) continue;
        if (*i + 1 >= argc) return -1;
        *val = argv[++*i];
        return 1;
    }
    return 0;
}

static int read_stdin(struct cpgo_buf *in)
{
    struct cpgo_err err;
    /* one byte over the configuration limit, so the parser reports the size */
    int rc = cpgo_cli_read_file("-", (4u << 20) + 1, in, &err);
    if (rc == CPGO_E_LIMIT) {
        fprintf(stderr, "<stdin>: the file is larger than the limit of 4 MiB\n");
        return CPGO_EXIT_INVALID;
    }
    if (rc) {
        fprintf(stderr, "<stdin>: %s\n", err.text);
        return CPGO_EXIT_FAIL;
    }
    return 0;
}

int cpgo_cmd_check_config(int argc, char **argv)
{
    const char *path = NULL, *output = NULL;
    int reference = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (CPGO_CLI_IS_HELP(a)) return cpgo_cli_help_flag(CMD);
        if (!strcmp(a, "--reference")) {
            reference = 1;
            continue;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!strcmp(a, "--output") || !strncmp(a, "--output=", 9)) {
            if (a[8] == '=')
                output = a + 9;
            else if (i + 1 < argc)
                output = argv[++i];
            else
                return cpgo_cli_usage_error(CMD, "--output needs a DIR");
            continue;
        }
        int f = file_option(argc, argv, &i, &val);
        if (f < 0) return cpgo_cli_usage_error(CMD, "%s needs a FILE", a);
        if (!f) {
            if (a[0] == '-' && a[1]) return cpgo_cli_usage_error(CMD, "unknown option '%s'", a);
            val = a;
        }
        if (path) return cpgo_cli_usage_error(CMD, "expects one configuration file");
        path = val;
    }
    if (reference) {
        if (path) return cpgo_cli_usage_error(CMD, "--reference takes no file");
        cpgo_config_write_reference(stdout);
        return fflush(stdout) ? CPGO_EXIT_FAIL : CPGO_EXIT_OK;
    }
    if (!path) path = "./config.yaml"; /* the original tool's default */

    struct cpgo_config *cfg = NULL;
    struct cpgo_config_errors errs = {0};
    const char *name = path;
    int rc;
    if (!strcmp(path, "-")) {
        struct cpgo_buf in;
        name = "<stdin>";
        if ((rc = read_stdin(&in))) return rc;
        rc = cpgo_config_parse((const char *)in.data, in.len, name, ".", &cfg, &errs);
        cpgo_buf_free(&in);
    } else {
        rc = cpgo_config_load(path, &cfg, &errs);
    }
    if (rc) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.lines[i]);
        if (rc == CPGO_E_INPUT)
            fprintf(stderr, "cpgo %s: %s: %zu error%s\n", CMD, name, errs.n,
                    errs.n == 1 ? "" : "s");
        else if (!errs.n)
            fprintf(stderr, "cpgo %s: %s: %s\n", CMD, name, cpgo_err_class(rc));
        cpgo_config_errors_free(&errs);
        /* a file that cannot be read is a usage error too (2), as for every command that
         * takes -c: only running out of memory is an operational failure */
        return rc == CPGO_E_NOMEM ? CPGO_EXIT_FAIL : CPGO_EXIT_INVALID;
    }
    if (output) {
        /* what `cpgo run --output DIR` refuses before it scrapes */
        struct cpgo_err e;
        if ((rc = cpgo_daemon_check_output(output, cfg, &e))) {
            fprintf(stderr, "%s: %s\n", name, e.text);
            cpgo_config_free(cfg);
            return rc == CPGO_E_NOMEM ? CPGO_EXIT_FAIL : CPGO_EXIT_INVALID;
        }
    }
    /* accepted, but without effect: said on stderr, so the dump stays configuration */
    for (size_t i = 0; i < cfg->nwarnings; i++)
        fprintf(stderr, "warning: %s\n", cfg->warnings[i]);
    /* what no check here can see: the daemon resolves it when it runs */
    if (!quiet) cpgo_config_write_runtime(cfg, stderr);
    rc = quiet ? 0 : cpgo_config_dump(cfg, stdout);
    cpgo_config_free(cfg);
    if (rc || fflush(stdout)) {
        fprintf(stderr, "cpgo %s: cannot write to standard output\n", CMD);
        return CPGO_EXIT_FAIL;
    }
    return CPGO_EXIT_OK;
}
