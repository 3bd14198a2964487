/*
 * cmd_merge.c - `cpgo merge`: fold profiles one by one into one merger (memory follows the
 * result, not the inputs), trim for PGO if asked, write deterministic bytes.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "merge/merge.h"

int cpgo_cmd_merge(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"compat", no_argument, NULL, 'c'},
        {"drop-labels", no_argument, NULL, 'L'},
        {"keep-frames", required_argument, NULL, 'k'},
        {"strip-addresses", no_argument, NULL, 'A'},
        {"raw", no_argument, NULL, 'r'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cpgo_merge_opts mo;
    memset(&mo, 0, sizeof mo);
    struct cpgo_limits lim;
    cpgo_limits_default(&lim);
    struct cpgo_err err = {0};
    const char *out_path = "-";
    int raw = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'c': mo.compat = 1; break;
        case 'L': mo.trim.drop_labels = 1; break;
        case 'A': mo.trim.strip_addresses = 1; break;
        case 'r': raw = 1; break;
        case 'k': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || end == optarg || n < 2 || n > 1000000)
                return cpgo_cli_usage_error("merge", "--keep-frames takes a number >= 2, got '%s'",
                                            optarg);
            mo.trim.keep_frames = (int)n;
            break;
        }
        case 'l':
            if (cpgo_cli_parse_limit(&lim, optarg, &err)) return cpgo_cli_fail("merge", &err);
            break;
        case 'h': fputs(cpgo_cli_usage("merge"), stdout); return CPGO_EXIT_OK;
        default:
            return cpgo_cli_usage_error("merge", "unknown or incomplete option '%s'",
                                        argv[optind - 1]);
        }
    }
    if (optind >= argc) return cpgo_cli_usage_error("merge", "no input files");
    int nstdin = 0;
    for (int i = optind; i < argc; i++) nstdin += !strcmp(argv[i], "-");
    if (nstdin > 1) return cpgo_cli_usage_error("merge", "standard input ('-') given more than once");

    struct cpgo_merger *m;
    if (cpgo_merge_new(&m, &mo)) {
        cpgo_err_set(&err, CPGO_E_NOMEM, "out of memory");
        return cpgo_cli_fail("merge", &err);
    }
    int rc = 0;
    for (int i = optind; i < argc && !rc; i++) {
        const char *name = strcmp(argv[i], "-") ? argv[i] : "<stdin>";
        struct cpgo_buf in;
        struct cpgo_profile *p = NULL;
        if ((rc = cpgo_cli_read_file(argv[i], lim.max_compressed, &in, &err)) == 0) {
            rc = cpgo_profile_decode(in.data, in.len, &lim, &p, &err);
            cpgo_buf_free(&in);
        }
        if (!rc) rc = cpgo_merge_add(m, p, &err);
        cpgo_profile_free(p);
        if (rc) cpgo_err_prefix(&err, "%s", name);
    }
    struct cpgo_buf out = {0};
    if (!rc) rc = cpgo_merge_encode(m, raw, &out, &err);
    cpgo_merge_free(m);
    if (!rc) rc = cpgo_cli_write_file(out_path, out.data, out.len, &err);
    cpgo_buf_free(&out);
    return rc ? cpgo_cli_fail("merge", &err) : CPGO_EXIT_OK;
}
