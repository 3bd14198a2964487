/*
 * cmd_merge.c - `cpgo merge`: fold profiles one by one into one merger (memory follows the
 * result, not the inputs), trim for PGO if asked, write deterministic bytes.
 *
 * Reading and decoding (gunzip, protobuf, validation) of input i+1 runs on a second thread
 * while the main thread merges input i: a pipeline of depth one, so at most two decoded
 * inputs exist at once. The output is packed and its gzip members compressed on all cores
 * (profile/codec.h, profile/gz.h). None of this changes a byte of the result.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "merge/merge.h"
#include "profile/gz.h"

struct decoded {
    struct cpgo_profile *p;
    struct cpgo_err err;
    int rc;
};

struct reader {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char **files;
    int nfiles;
    const struct cpgo_limits *lim;
    struct decoded *slots; /* one per file; `ready` counts the filled prefix */
    int ready;
    int taken; /* the consumer has taken slots below this */
    int stop;
};

static void decode_one(const char *path, const struct cpgo_limits *lim, struct decoded *d)
{
    struct cpgo_buf in;
    d->p = NULL;
    d->rc = cpgo_cli_read_file(path, lim->max_compressed, &in, &d->err);
    if (!d->rc) {
        d->rc = cpgo_profile_decode(in.data, in.len, lim, &d->p, &d->err);
        cpgo_buf_free(&in);
    }
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    for (int i = 0; i < r->nfiles; i++) {
        pthread_mutex_lock(&r->mu);
        /* stay at most one input ahead of the merge */
        while (!r->stop && i > r->taken + 1)
            pthread_cond_wait(&r->cv, &r->mu);
        int stop = r->stop;
        pthread_mutex_unlock(&r->mu);
        if (stop) break;
        decode_one(r->files[i], r->lim, &r->slots[i]);
        pthread_mutex_lock(&r->mu);
        r->ready = i + 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

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
        case 'o':
            out_path = optarg;
            break;
        case 'c':
            mo.compat = 1;
            break;
        case 'L':
            mo.trim.drop_labels = 1;
            break;
        case 'A':
            mo.trim.strip_addresses = 1;
            break;
        case 'r':
            raw = 1;
            break;
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
        case 'h':
            return cpgo_cli_help_flag("merge");
        default:
            return cpgo_cli_usage_error("merge", "unknown or incomplete option '%s'",
                                        argv[optind - 1]);
        }
    }
    if (optind >= argc) return cpgo_cli_usage_error("merge", "no input files");
    int nstdin = 0;
    for (int i = optind; i < argc; i++)
        nstdin += !strcmp(argv[i], "-");
    if (nstdin > 1)
        return cpgo_cli_usage_error("merge", "standard input ('-') given more than once");

    struct cpgo_merger *m;
    if (cpgo_merge_new(&m, &mo)) {
        cpgo_err_set(&err, CPGO_E_NOMEM, "out of memory");
        return cpgo_cli_fail("merge", &err);
    }
    struct reader r;
    memset(&r, 0, sizeof r);
    r.files = argv + optind;
    r.nfiles = argc - optind;
    r.lim = &lim;
    r.slots = calloc((size_t)r.nfiles, sizeof *r.slots);
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    pthread_t tid;
    int threaded = r.slots && pthread_create(&tid, NULL, reader_main, &r) == 0;
    int rc = r.slots ? 0 : cpgo_err_set(&err, CPGO_E_NOMEM, "out of memory");
    for (int i = 0; i < r.nfiles && !rc; i++) {
        struct decoded *d = &r.slots[i];
        if (threaded) {
            pthread_mutex_lock(&r.mu);
            while (r.ready <= i)
                pthread_cond_wait(&r.cv, &r.mu);
            pthread_mutex_unlock(&r.mu);
        } else {
            decode_one(r.files[i], &lim, d);
        }
        rc = d->rc;
        if (rc)
            err = d->err;
        else
            rc = cpgo_merge_add(m, d->p, &err);
        cpgo_profile_free(d->p);
        d->p = NULL;
        if (threaded) {
            pthread_mutex_lock(&r.mu);
            r.taken = i + 1;
            if (rc) r.stop = 1;
            pthread_cond_broadcast(&r.cv);
            pthread_mutex_unlock(&r.mu);
        }
        if (rc) cpgo_err_prefix(&err, "%s", strcmp(r.files[i], "-") ? r.files[i] : "<stdin>");
    }
    if (threaded) {
        pthread_join(tid, NULL);
        /* after a failure the reader may have decoded one input ahead */
        for (int i = 0; i < r.nfiles; i++)
            cpgo_profile_free(r.slots[i].p);
    }
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    free(r.slots);

    /* Pack, then free the accumulator and the message before compressing: the peak is the
     * larger of (accumulator + raw bytes) and (raw + gzip), not their sum. */
    struct cpgo_buf out = {0}, packed = {0};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (int)ncpu;
    struct cpgo_merged *res = NULL;
    if (!rc) rc = cpgo_merge_result(m, &res, &err);
    if (!rc) rc = cpgo_profile_pack_mt(&res->pb, threads, &packed, &err);
    cpgo_merged_free(res);
    cpgo_merge_free(m);
    if (!rc && raw) {
        out = packed;
        packed.data = NULL;
    } else if (!rc) {
        rc = cpgo_gz_compress(packed.data, packed.len, threads, &out, &err);
    }
    cpgo_buf_free(&packed);
    if (!rc) rc = cpgo_cli_write_file(out_path, out.data, out.len, &err);
    cpgo_buf_free(&out);
    return rc ? cpgo_cli_fail("merge", &err) : CPGO_EXIT_OK;
}
