/*
 * cmd_inspect.c - `cpgo inspect`: header, sizes, totals, PGO usability and hottest functions
 * of one profile, as text or as JSON (jansson); with --edges, the call edges the Go
 * compiler reads (profile/pgograph), byte for byte as `go tool preprofile` writes them.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/duration.h"
#include "profile/pgograph.h"
#include "profile/summary.h"

#define TOPN 10

static json_t *fns_json(const struct cpgo_summary_fn *f, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "name", f[i].name, "flat",
                                           (json_int_t)f[i].flat, "cum", (json_int_t)f[i].cum));
    return a;
}

/* A profile's time as Go's time.Unix(0, ns).Format(time.RFC3339Nano) prints it: local time
 * (TZ) with its offset, "Z" for UTC, the fraction without trailing zeros. */
static void format_time(int64_t ns, char *buf, size_t cap)
{
    int64_t sec = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!localtime_r(&t, &tm)) {
        snprintf(buf, cap, "%" PRId64 "ns since the epoch", ns);
        return;
    }
    char f[16] = "";
    if (frac) {
        snprintf(f, sizeof f, ".%09" PRId64, frac);
        size_t n = strlen(f); /* frac > 0: a digit other than 0 stops it before the '.' */
        while (n > 1 && f[n - 1] == '0')
            f[--n] = 0;
    }
    char zone[24] = "Z"; /* room for any two numbers, as -Wformat-truncation reckons */
    long off = tm.tm_gmtoff;
    if (off) {
        char sign = off < 0 ? '-' : '+';
        if (off < 0) off = -off;
        /* an offset is under a day (the kernel's tz data keeps it within ±26 h) */
        unsigned h = (unsigned)(off / 3600 % 100), m = (unsigned)(off / 60 % 60);
        snprintf(zone, sizeof zone, "%c%02u:%02u", sign, h, m);
    }
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d%s%s", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, f, zone);
}

static int print_json(const char *file, size_t bytes, const struct cpgo_summary *s)
{
    json_t *types = json_array();
    for (size_t i = 0; i < s->ntypes; i++)
        json_array_append_new(types,
                              json_pack("{s:s, s:s, s:I}", "type", s->type_names[i], "unit",
                                        s->type_units[i], "total", (json_int_t)s->totals[i]));
    char when[64], dur[32];
    format_time(s->time_nanos, when, sizeof when);
    cpgo_duration_format_ns(s->duration_nanos, dur, sizeof dur);
    json_t *o = json_pack(
        "{s:s, s:I, s:o, s:{s:s, s:s}, s:I, s:I, s:s, s:I, s:s, s:{s:I, s:I, s:I, s:I, s:I}, "
        "s:{s:b, s:b, s:b, s:b}, s:s, s:o, s:o}",
        "file", file, "bytes", (json_int_t)bytes, "sample_types", types, "period_type", "type",
        s->period_type, "unit", s->period_unit, "period", (json_int_t)s->period, "time_nanos",
        (json_int_t)s->time_nanos, "time", when, "duration_nanos", (json_int_t)s->duration_nanos,
        "duration", dur, "counts", "samples", (json_int_t)s->nsamples, "locations",
        (json_int_t)s->nlocations, "functions", (json_int_t)s->nfunctions, "mappings",
        (json_int_t)s->nmappings, "strings", (json_int_t)s->nstrings, "pgo", "usable",
        cpgo_summary_pgo_usable(s), "has_pgo_sample_type", s->pgo_index >= 0, "has_start_lines",
        s->has_start_lines, "has_negative_values", s->has_negative, "top_value",
        s->ntypes ? s->type_names[s->value_index] : "", "top_flat",
        fns_json(s->by_flat, s->ntop_flat), "top_cum", fns_json(s->by_cum, s->ntop_cum));
    if (!o) return -1;
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text) return -1;
    puts(text);
    free(text);
    return 0;
}

static void print_text(const char *file, size_t bytes, const struct cpgo_summary *s)
{
    printf("file:          %s (%zu bytes)\n", file, bytes);
    printf("sample types: ");
    for (size_t i = 0; i < s->ntypes; i++)
        printf(" %s/%s", s->type_names[i], s->type_units[i]);
    printf("\nperiod:        %" PRId64 " %s/%s\n", s->period, s->period_type, s->period_unit);
    char when[64], dur[32];
    format_time(s->time_nanos, when, sizeof when);
    cpgo_duration_format_ns(s->duration_nanos, dur, sizeof dur);
    printf("time:          %s\n", when);
    printf("duration:      %s\n", dur);
    printf("counts:        %zu samples, %zu locations, %zu functions, %zu mappings, %zu strings\n",
           s->nsamples, s->nlocations, s->nfunctions, s->nmappings, s->nstrings);
    printf("totals:       ");
    for (size_t i = 0; i < s->ntypes; i++)
        printf(" %" PRId64 " %s", s->totals[i], s->type_units[i]);
    printf("\nGo PGO:        %s", cpgo_summary_pgo_usable(s) ? "usable" : "NOT usable");
    if (s->pgo_index < 0) printf(" (no samples/count or cpu/nanoseconds sample type)");
    if (!s->has_start_lines) printf(" (no function has a start line)");
    if (s->has_negative) printf(" (negative sample values: not CPU weights)");
    printf("\n");
    if (!s->ntypes) return;
    const char *unit = s->type_units[s->value_index];
    int64_t total = s->totals[s->value_index];
    printf("\ntop %zu by flat %s/%s:\n", s->ntop_flat, s->type_names[s->value_index], unit);
    for (size_t i = 0; i < s->ntop_flat; i++)
        printf("  %14" PRId64 " %6.2f%%  %s\n", s->by_flat[i].flat,
               total ? 100.0 * (double)s->by_flat[i].flat / (double)total : 0.0,
               s->by_flat[i].name);
    printf("\ntop %zu by cumulative %s/%s:\n", s->ntop_cum, s->type_names[s->value_index], unit);
    for (size_t i = 0; i < s->ntop_cum; i++)
        printf("  %14" PRId64 " %6.2f%%  %s\n", s->by_cum[i].cum,
               total ? 100.0 * (double)s->by_cum[i].cum / (double)total : 0.0, s->by_cum[i].name);
}

/* --edges: what `go tool preprofile -i FILE` writes (an empty file is an empty profile, as
 * in Go); --hot: only the hot call sites, without the header line. */
static int print_edges(const char *name, const struct cpgo_profile *p, int hot,
                       const struct cpgo_limits *lim)
{
    struct cpgo_err err = {0};
    struct cpgo_pgograph *g = NULL;
    int rc = p ? cpgo_pgograph_build(p->pb, &g, &err) : cpgo_pgograph_empty(&g, &err);
    struct cpgo_buf out;
    /* the list repeats names per edge, so it may outgrow the file: bounded like decoding */
    cpgo_buf_init(&out, lim->max_decode_memory);
    if (!rc && hot) {
        struct cpgo_pgograph view = *g;
        view.nedges = g->nhot;
        rc = cpgo_pgograph_write(&view, &out, &err);
    } else if (!rc) {
        rc = cpgo_pgograph_write(g, &out, &err);
    }
    cpgo_pgograph_free(g);
    if (rc) {
        cpgo_buf_free(&out);
        cpgo_err_prefix(&err, "%s", name);
        return cpgo_cli_fail("inspect", &err);
    }
    static const size_t hdr = sizeof "GO PREPROFILE V1\n" - 1;
    size_t skip = hot ? hdr : 0;
    size_t n = out.len - skip;
    int bad = n && fwrite(out.data + skip, 1, n, stdout) != n;
    cpgo_buf_free(&out);
    return (bad || fflush(stdout)) ? CPGO_EXIT_FAIL : CPGO_EXIT_OK;
}

int cpgo_cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"edges", no_argument, NULL, 'e'},
        {"hot", no_argument, NULL, 'H'},  {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    struct cpgo_limits lim;
    cpgo_limits_default(&lim);
    struct cpgo_err err = {0};
    int json = 0, edges = 0, hot = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'e':
            edges = 1;
            break;
        case 'H':
            hot = 1;
            break;
        case 'l':
            if (cpgo_cli_parse_limit(&lim, optarg, &err)) return cpgo_cli_fail("inspect", &err);
            break;
        case 'h':
            return cpgo_cli_help_flag("inspect");
        default:
            return cpgo_cli_usage_error("inspect", "unknown or incomplete option '%s'",
                                        argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return cpgo_cli_usage_error("inspect", "expects exactly one FILE");
    if (hot && !edges) return cpgo_cli_usage_error("inspect", "--hot goes with --edges");
    if (json && edges)
        return cpgo_cli_usage_error("inspect", "--json and --edges exclude each other");
    const char *path = argv[optind];
    const char *name = strcmp(path, "-") ? path : "<stdin>";
    struct cpgo_buf in;
    struct cpgo_profile *p = NULL;
    int rc = cpgo_cli_read_file(path, lim.max_compressed, &in, &err);
    size_t bytes = in.len;
    if (!rc) {
        rc = cpgo_profile_decode(in.data, in.len, &lim, &p, &err);
        cpgo_buf_free(&in);
    }
    if (edges && (!rc || rc == CPGO_E_EMPTY)) {
        int status = print_edges(name, p, hot, &lim);
        cpgo_profile_free(p);
        return status;
    }
    struct cpgo_summary s;
    if (!rc) rc = cpgo_summary_build(p, TOPN, &s, &err);
    cpgo_profile_free(p);
    if (rc) {
        cpgo_err_prefix(&err, "%s", name);
        return cpgo_cli_fail("inspect", &err);
    }
    if (json) {
        if (print_json(name, bytes, &s)) {
            cpgo_summary_free(&s);
            cpgo_err_set(&err, CPGO_E_NOMEM, "cannot build JSON output");
            return cpgo_cli_fail("inspect", &err);
        }
    } else {
        print_text(name, bytes, &s);
    }
    cpgo_summary_free(&s);
    return fflush(stdout) ? CPGO_EXIT_FAIL : CPGO_EXIT_OK;
}
