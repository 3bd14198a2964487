/*
 * prbody.c - see prbody.h. Text only: numbers are formatted by hand (no locale, grouping
 * with ','), times in UTC with gmtime_r, percentages with one decimal, so the output is
 * a function of the input alone.
 *
 * The table compares shares (percent of the profile's total for the summary's value
 * type), not raw values: the new file holds more samples than the old one, so only the
 * shares are comparable. Rows are the new top functions by flat value, then the old top
 * functions that left it; a cell is "—" when the function is not in that side's top list
 * (the summary keeps only its top N, so the value is unknown, not zero).
 */
#include "publish/prbody.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/duration.h"
#include "publish/candidate.h"
#include "publish/prapi.h"

#define DASH "\xe2\x80\x94"  /* — */
#define ARROW "\xe2\x86\x92" /* → */

static int put(struct cpgo_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(struct cpgo_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return CPGO_E_USAGE;
    if ((size_t)n < sizeof small) return cpgo_buf_append(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big) return CPGO_E_NOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = cpgo_buf_append(b, big, (size_t)n);
    free(big);
    return rc;
}

/* table: '|' becomes "\|" (GFM tables split on it even inside code spans); elsewhere it
 * stays, since a backslash would show */
static size_t escape(const char *in, size_t maxin, char *out, size_t cap, int table)
{
    if (!cap) return 0;
    size_t n = in ? strlen(in) : 0, o = 0;
    int cut = 0;
    if (n > maxin) {
        n = maxin;
        /* back up to the start of a UTF-8 character */
        while (n > 0 && ((unsigned char)in[n] & 0xC0) == 0x80)
            n--;
        cut = 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        const char *rep = NULL;
        char one[2] = {(char)ch, 0};
        if (ch == '|' && table)
            rep = "\\|";
        else if (ch == '\n' || ch == '\r' || ch == '\t')
            rep = " ";
        else if (ch == '`')
            rep = "'"; /* a backtick cannot be escaped inside a code span */
        else if (ch < ' ' || ch == 127)
            rep = "?";
        else
            rep = one;
        size_t rl = strlen(rep);
        if (o + rl + 1 > cap) break;
        memcpy(out + o, rep, rl);
        o += rl;
    }
    if (cut && o + 4 <= cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
    return o;
}

size_t cpgo_prbody_escape_cell(const char *in, size_t maxin, char *out, size_t cap)
{
    return escape(in, maxin, out, cap, 1);
}

/* "1234567" -> "1,234,567" */
static void fmt_count(int64_t v, char *buf, size_t cap)
{
    char digits[32];
    int neg = v < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)u);
    size_t o = 0;
    if (neg && o + 1 < cap) buf[o++] = '-';
    for (int i = 0; i < n && o + 1 < cap; i++) {
        if (i && (n - i) % 3 == 0 && o + 1 < cap) buf[o++] = ',';
        if (o + 1 < cap) buf[o++] = digits[i];
    }
    buf[o] = 0;
}

static void fmt_size(size_t v, char *buf, size_t cap)
{
    if (v < 1024)
        snprintf(buf, cap, "%zu B", v);
    else if (v < 1024 * 1024)
        snprintf(buf, cap, "%.1f KiB", (double)v / 1024.0);
    else
        snprintf(buf, cap, "%.1f MiB", (double)v / (1024.0 * 1024.0));
}

static void fmt_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, cap, "%lld", (long long)t);
}

static void fmt_cpu(int64_t ns, char *buf, size_t cap)
{
    double s = (double)ns / 1e9;
    if (s < 120)
        snprintf(buf, cap, "%.1f s", s);
    else if (s < 7200)
        snprintf(buf, cap, "%.1f min", s / 60);
    else
        snprintf(buf, cap, "%.1f h", s / 3600);
}

static int find_type(const struct cpgo_summary *s, const char *type, const char *unit)
{
    for (size_t i = 0; s && i < s->ntypes; i++)
        if (s->type_names[i] && s->type_units[i] && !strcmp(s->type_names[i], type) &&
            !strcmp(s->type_units[i], unit))
            return (int)i;
    return -1;
}

/* The total a reader calls "samples": samples/count when the profile has it, else the
 * summary's value type. */
static int64_t samples_total(const struct cpgo_summary *s)
{
    int i = find_type(s, "samples", "count");
    if (i >= 0) return s->totals[i];
    return s->ntypes && s->value_index < s->ntypes ? s->totals[s->value_index] : 0;
}

static const struct cpgo_summary_fn *find_fn(const struct cpgo_summary_fn *fns, size_t n,
                                             size_t limit, const char *name)
{
    for (size_t i = 0; i < n && i < limit; i++)
        if (fns[i].name && !strcmp(fns[i].name, name)) return &fns[i];
    return NULL;
}

/* The share of the summary's total as "12.3%", or "—" when not in its top list. */
static void share(const struct cpgo_summary *s, const struct cpgo_summary_fn *list, size_t n,
                  size_t limit, const char *name, int cum, char *buf, size_t cap)
{
    const struct cpgo_summary_fn *f = s ? find_fn(list, n, limit, name) : NULL;
    int64_t total = s && s->value_index < s->ntypes ? s->totals[s->value_index] : 0;
    if (!f || total <= 0) {
        snprintf(buf, cap, DASH);
        return;
    }
    snprintf(buf, cap, "%.1f%%", 100.0 * (double)(cum ? f->cum : f->flat) / (double)total);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int row(struct cpgo_buf *b, const char *name, const struct cpgo_prbody_in *in, size_t top)
{
    const struct cpgo_summary *be = in->before, *af = in->after;
    char cell[CPGO_PRBODY_NAME_MAX * 2 + 8];
    cpgo_prbody_escape_cell(name, CPGO_PRBODY_NAME_MAX, cell, sizeof cell);
    char fb[32], fa[32], cb[32], ca[32];
    share(af, af->by_flat, af->ntop_flat, top, name, 0, fa, sizeof fa);
    share(af, af->by_cum, af->ntop_cum, top, name, 1, ca, sizeof ca);
    if (!be) return put(b, "| `%s` | %s | %s |\n", cell, fa, ca);
    share(be, be->by_flat, be->ntop_flat, top, name, 0, fb, sizeof fb);
    share(be, be->by_cum, be->ntop_cum, top, name, 1, cb, sizeof cb);
    return put(b, "| `%s` | %s | %s | %s | %s |\n", cell, fb, fa, cb, ca);
}

static int table(struct cpgo_buf *b, const struct cpgo_prbody_in *in, size_t top)
{
    const struct cpgo_summary *be = in->before, *af = in->after;
    int rc;
    const char *vt = af->value_index < af->ntypes ? af->type_names[af->value_index] : "";
    const char *vu = af->value_index < af->ntypes ? af->type_units[af->value_index] : "";
    char t[80], u[80];
    escape(vt ? vt : "", 60, t, sizeof t, 0);
    escape(vu ? vu : "", 60, u, sizeof u, 0);
    if ((rc = put(b, "\n### Hottest functions\n\n")) ||
        (rc = put(b,
                  "Share of all `%s/%s` in the profile%s. Flat: in the function itself; "
                  "cum: including the functions it calls. " DASH ": not in the top %zu.\n\n",
                  t, u, be ? ", before " ARROW " after this update" : "", top)))
        return rc;
    if (be)
        rc = put(b, "| Function | Flat before | Flat after | Cum before | Cum after |\n"
                    "|---|---:|---:|---:|---:|\n");
    else
        rc = put(b, "| Function | Flat | Cum |\n|---|---:|---:|\n");
    if (rc) return rc;
    size_t na = af->ntop_flat < top ? af->ntop_flat : top;
    for (size_t i = 0; i < na; i++)
        if (af->by_flat[i].name && (rc = row(b, af->by_flat[i].name, in, top))) return rc;
    if (!be) return 0;
    /* the old hot functions that left the top list */
    size_t nb = be->ntop_flat < top ? be->ntop_flat : top;
    for (size_t i = 0; i < nb; i++) {
        const char *name = be->by_flat[i].name;
        if (!name || find_fn(af->by_flat, af->ntop_flat, top, name)) continue;
        if ((rc = row(b, name, in, top))) return rc;
    }
    return 0;
}

/* "N.N%" with a precision that keeps small shares visible */
static void fmt_pct(double f, char *buf, size_t cap)
{
    double p = f * 100.0;
    if (p >= 10 || p == 0)
        snprintf(buf, cap, "%.1f%%", p);
    else
        snprintf(buf, cap, "%.2f%%", p);
}

/* The `pgo:` rows of the summary table: decay, the edge change, the names kept out. */
static int pgo_rows(struct cpgo_buf *b, const struct cpgo_prbody_in *in)
{
    int rc = 0;
    if (in->half_life_ms > 0) {
        char hl[48], win[96], f[32];
        cpgo_duration_format(in->half_life_ms, hl, sizeof hl);
        cpgo_candidate_window(in->half_life_ms, win, sizeof win);
        if (in->decay < 1.0) {
            snprintf(f, sizeof f, "%.4f", in->decay);
            rc = put(b, "| Decay | half-life %s: %s; the existing samples were scaled by %s |\n",
                     hl, win, f);
        } else {
            rc = put(b, "| Decay | half-life %s: %s |\n", hl, win);
        }
        if (rc) return rc;
    }
    if (in->edges_known) {
        char pc[32];
        if (in->edge_change >= 0) {
            fmt_pct(in->edge_change, pc, sizeof pc);
            rc = put(b,
                     "| Call edges | %s of the edge weight moved from the base branch's file; %zu "
                     "hot edge%s added, %zu removed |\n",
                     pc, in->nhot_added, in->nhot_added == 1 ? "" : "s", in->nhot_removed);
        } else {
            rc = put(b, "| Call edges | %zu hot edge%s |\n", in->nhot_added,
                     in->nhot_added == 1 ? "" : "s");
        }
        if (rc) return rc;
    }
    if (in->nno_inline) {
        if ((rc = put(b, "| Kept out of PGO inlining | "))) return rc;
        size_t n = in->nno_inline < 8 ? in->nno_inline : 8;
        for (size_t i = 0; i < n; i++) {
            char cell[CPGO_PRBODY_NAME_MAX * 2 + 8];
            cpgo_prbody_escape_cell(in->no_inline[i], CPGO_PRBODY_NAME_MAX, cell, sizeof cell);
            if ((rc = put(b, "%s`%s`", i ? ", " : "", cell))) return rc;
        }
        if (in->nno_inline > n && (rc = put(b, " and %zu more", in->nno_inline - n))) return rc;
        if ((rc = put(b, " (renamed `DO NOT INLINE: ...`) |\n"))) return rc;
    }
    return 0;
}

static int edge_rows(struct cpgo_buf *b, const struct cpgo_pgo_edge_change *v, size_t n)
{
    int rc;
    if ((rc = put(b, "| Caller " ARROW " callee | Call site | Share |\n|---|---:|---:|\n")))
        return rc;
    size_t k = n < CPGO_PRBODY_EDGES_MAX ? n : CPGO_PRBODY_EDGES_MAX;
    for (size_t i = 0; i < k; i++) {
        char c1[CPGO_PRBODY_NAME_MAX * 2 + 8], c2[CPGO_PRBODY_NAME_MAX * 2 + 8], pc[32];
        cpgo_prbody_escape_cell(v[i].e->caller, CPGO_PRBODY_NAME_MAX, c1, sizeof c1);
        cpgo_prbody_escape_cell(v[i].e->callee, CPGO_PRBODY_NAME_MAX, c2, sizeof c2);
        fmt_pct(v[i].share, pc, sizeof pc);
        if ((rc = put(b, "| `%s` " ARROW " `%s` | +%" PRId64 " | %s |\n", c1, c2, v[i].e->offset,
                      pc)))
            return rc;
    }
    if (n > k && (rc = put(b, "\nand %zu more.\n", n - k))) return rc;
    return 0;
}

/* What will change in the build: the hot call edges (the compiler's 99% cut) that appear
 * and disappear. */
static int edges_section(struct cpgo_buf *b, const struct cpgo_prbody_in *in)
{
    int rc;
    if (!in->edges_known || (!in->nhot_added && !in->nhot_removed)) return 0;
    if ((rc = put(b, "\n### Hot call edges that change\n\n"
                     "The Go compiler inlines and devirtualizes at its hot call sites (the "
                     "edges that make up 99%% of the edge weight). Call site: lines after the "
                     "caller's first line. Share: of all edge weight.\n")))
        return rc;
    if (in->nhot_added && ((rc = put(b, "\n**Added** (hot now)\n\n")) ||
                           (rc = edge_rows(b, in->hot_added, in->nhot_added))))
        return rc;
    if (in->nhot_removed && ((rc = put(b, "\n**Removed** (no longer hot)\n\n")) ||
                             (rc = edge_rows(b, in->hot_removed, in->nhot_removed))))
        return rc;
    return 0;
}

static int created_note(struct cpgo_buf *b, const struct cpgo_prbody_in *in, const char *file)
{
    const char *base = base_name(in->target_file);
    if (strcmp(base, "default.pgo"))
        return put(b,
                   "\n**New file.** Go picks up a profile by itself only when it is named "
                   "`default.pgo` and sits in the main package's directory; build with "
                   "`-pgo=%s` to use this one.\n",
                   file);
    char dir[600];
    size_t dl = (size_t)(base - in->target_file);
    if (dl) {
        char raw[512];
        size_t n = dl - 1 < sizeof raw - 1 ? dl - 1 : sizeof raw - 1;
        memcpy(raw, in->target_file, n);
        raw[n] = 0;
        char esc[400];
        escape(raw, 200, esc, sizeof esc, 0);
        snprintf(dir, sizeof dir, "`%s`", esc);
    } else {
        snprintf(dir, sizeof dir, "the repository root");
    }
    if (in->placed)
        return put(b,
                   "\n**New file.** It goes into %s, the directory of the repository's one "
                   "`package main`, where `go build` reads it (`-pgo=auto`, the default since "
                   "Go 1.21).\n",
                   dir);
    return put(b,
               "\n**New file.** Go uses `default.pgo` only from the main package's "
               "directory (`go build -pgo=auto`, the default since Go 1.21): if %s is not "
               "the directory of your `package main`, move the file there.\n",
               dir);
}

int cpgo_prbody_build(const struct cpgo_prbody_in *in, char **out, size_t *len,
                      struct cpgo_err *err)
{
    *out = NULL;
    if (len) *len = 0;
    if (!in || !in->target_key || !in->target_file || !in->target_file[0] || !in->target_branch)
        return cpgo_err_set(err, CPGO_E_USAGE,
                            "pull request body: target key, file and "
                            "branch are required");
    size_t top = in->top_n ? in->top_n : 10;
    if (top > CPGO_PRBODY_TOP_MAX) top = CPGO_PRBODY_TOP_MAX;
    struct cpgo_buf b;
    cpgo_buf_init(&b, CPGO_PRAPI_MAX_BODY);
    char file[300], branch[300];
    size_t mcap = cpgo_prapi_marker_size(in->target_key);
    char *marker = malloc(mcap);
    if (!marker) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    cpgo_prapi_marker(in->target_key, marker, mcap);
    escape(in->target_file, 256, file, sizeof file, 0);
    escape(in->target_branch, 256, branch, sizeof branch, 0);
    int rc;
    char c1[32], c2[32], t1[64], t2[64];
    fmt_count((int64_t)in->scrapes, c1, sizeof c1);
    fmt_count((int64_t)in->instances, c2, sizeof c2);
    rc = put(&b, "%s\n", marker);
    free(marker);
    if (rc ||
        (rc = put(&b,
                  "%s the Go PGO profile `%s` %s `%s`, built from CPU profiles of running "
                  "instances collected by cpgo.\n\n",
                  in->created ? "Adds" : "Updates", file, in->created ? "to" : "on", branch)) ||
        (rc = put(&b, "| | |\n|---|---|\n")) ||
        (rc = put(&b, "| Scrapes | %s from %s instance%s |\n", c1, c2,
                  in->instances == 1 ? "" : "s")))
        goto fail;
    if (in->discovery && in->discovery[0]) {
        char dsc[600];
        escape(in->discovery, 512, dsc, sizeof dsc, 1);
        if ((rc = put(&b, "| Last round | %s |\n", dsc))) goto fail;
    }
    if (in->first_scrape > 0 && in->last_scrape > 0) {
        fmt_time(in->first_scrape, t1, sizeof t1);
        fmt_time(in->last_scrape, t2, sizeof t2);
        if (in->first_scrape == in->last_scrape)
            rc = put(&b, "| Window | %s |\n", t1);
        else
            rc = put(&b, "| Window | %s " ARROW " %s |\n", t1, t2);
        if (rc) goto fail;
    }
    if (in->after) {
        char sa[32], sb[32], cpu[48] = "";
        fmt_count(samples_total(in->after), sa, sizeof sa);
        int ci = find_type(in->after, "cpu", "nanoseconds");
        if (ci >= 0) {
            char d[24];
            fmt_cpu(in->after->totals[ci], d, sizeof d);
            snprintf(cpu, sizeof cpu, " (%s of CPU)", d);
        }
        if (in->before && !in->created) {
            fmt_count(samples_total(in->before), sb, sizeof sb);
            rc = put(&b, "| Samples | %s " ARROW " %s%s |\n", sb, sa, cpu);
        } else {
            rc = put(&b, "| Samples | %s%s |\n", sa, cpu);
        }
        if (rc) goto fail;
    }
    fmt_size(in->bytes_after, t2, sizeof t2);
    if (in->created) {
        rc = put(&b, "| File size | new, %s |\n", t2);
    } else {
        fmt_size(in->bytes_before, t1, sizeof t1);
        rc = put(&b, "| File size | %s " ARROW " %s |\n", t1, t2);
    }
    if (rc) goto fail;
    if ((rc = pgo_rows(&b, in))) goto fail;
    if ((rc = edges_section(&b, in))) goto fail;
    if (in->after && (rc = table(&b, in, top))) goto fail;
    if (in->created && (rc = created_note(&b, in, file))) goto fail;
    if ((rc = put(&b, "\n---\n<sub>cpgo keeps this pull request up to date and rewrites it "
                      "while its first line (a hidden marker) is there. To take it over, delete "
                      "that line: cpgo then leaves the pull request alone.</sub>\n")))
        goto fail;
    if ((rc = cpgo_buf_append(&b, "", 1))) goto fail; /* the NUL */
    size_t n;
    *out = (char *)cpgo_buf_steal(&b, &n);
    if (len) *len = n - 1;
    return 0;
fail:
    cpgo_buf_free(&b);
    if (rc == CPGO_E_LIMIT)
        return cpgo_err_set(err, rc, "pull request body: longer than %d bytes",
                            CPGO_PRAPI_MAX_BODY);
    return cpgo_err_set(err, rc, "pull request body: out of memory");
}

static const char *prefix(const struct cpgo_prbody_in *in)
{
    return in->commit_prefix && in->commit_prefix[0] ? in->commit_prefix : "cpgo: ";
}

int cpgo_prbody_title(const struct cpgo_prbody_in *in, char *buf, size_t cap)
{
    if (!cap) return -1;
    buf[0] = 0;
    if (!in || !in->target_file) return -1;
    char file[300];
    escape(in->target_file, 256, file, sizeof file, 0);
    int n = snprintf(buf, cap, "%s%s the PGO profile %s", prefix(in),
                     in->created ? "add" : "update", file);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int cpgo_prbody_summary_line(const struct cpgo_prbody_in *in, char *buf, size_t cap)
{
    if (!cap) return -1;
    buf[0] = 0;
    if (!in || !in->target_file) return -1;
    char file[300], c1[32], c2[32], s1[32], s2[32], sizes[80];
    escape(in->target_file, 256, file, sizeof file, 0);
    /* ASCII only: a commit subject is read in every terminal */
    for (char *p = file; *p; p++)
        if ((unsigned char)*p >= 127) *p = '?';
    fmt_count((int64_t)in->scrapes, c1, sizeof c1);
    fmt_count((int64_t)in->instances, c2, sizeof c2);
    fmt_size(in->bytes_after, s2, sizeof s2);
    if (in->created) {
        snprintf(sizes, sizeof sizes, "%s", s2);
    } else {
        fmt_size(in->bytes_before, s1, sizeof s1);
        snprintf(sizes, sizeof sizes, "%s -> %s", s1, s2);
    }
    int n = snprintf(buf, cap, "%s%s %s (%s scrape%s of %s instance%s, %s)", prefix(in),
                     in->created ? "add" : "update", file, c1, in->scrapes == 1 ? "" : "s", c2,
                     in->instances == 1 ? "" : "s", sizes);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}
