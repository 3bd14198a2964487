/*
 * Unit tests for publish/prbody: the exact Markdown of cpgo's pull requests (an update with
 * a before → after table, a new file with the note on where Go looks for it, a body without
 * a summary), the title and the commit summary line, table-cell escaping, determinism and
 * the size bound.
 */
#include <stdlib.h>

#include "check.h"
#include "publish/prapi.h"
#include "publish/prbody.h"

static char *type_names[] = {"samples", "cpu"}, *type_units[] = {"count", "nanoseconds"};

/* The summary of a CPU profile: value type cpu/nanoseconds, as cpgo_summary_build makes it. */
static struct cpgo_summary summary(int64_t *totals, struct cpgo_summary_fn *flat, size_t nflat,
                                   struct cpgo_summary_fn *cum, size_t ncum)
{
    struct cpgo_summary s = {0};
    s.ntypes = 2;
    s.type_names = type_names;
    s.type_units = type_units;
    s.totals = totals;
    s.value_index = 1;
    s.pgo_index = 0;
    s.has_start_lines = 1;
    s.by_flat = flat;
    s.ntop_flat = nflat;
    s.by_cum = cum;
    s.ntop_cum = ncum;
    return s;
}

static int check_text(const char *got, const char *want, int line)
{
    check_count++;
    if (got && !strcmp(got, want)) return 1;
    check_failures++;
    fprintf(stderr, "line %d: text differs.\n--- got:\n%s\n--- want:\n%s\n---\n", line,
            got ? got : "(null)", want);
    return 0;
}
#define CHECK_TEXT(got, want) check_text((got), (want), __LINE__)

static const char *const FOOTER =
    "\n---\n<sub>cpgo keeps this pull request up to date and rewrites it while its first line "
    "(a hidden marker) is there. To take it over, delete that line: cpgo then leaves the pull "
    "request alone.</sub>\n";

static char *cat(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s", a, b);
    return s;
}

int main(void)
{
    /* before: 10 s of CPU in 1,000 samples; after: 123.45 s in 12,345 */
    int64_t tb[] = {1000, 10000000000LL}, ta[] = {12345, 123450000000LL};
    struct cpgo_summary_fn bflat[] = {
        {"main.handle", 4000000000LL, 4000000000LL},
        {"encoding/json.(*decodeState).object", 2000000000LL, 2500000000LL}};
    struct cpgo_summary_fn bcum[] = {{"main.main", 0, 10000000000LL},
                                     {"main.handle", 4000000000LL, 4000000000LL}};
    struct cpgo_summary_fn aflat[] = {
        {"main.handle", 37035000000LL, 49380000000LL},
        {"github.com/acme/svc/cache.(*LRU[...]).Get|Put", 24690000000LL, 30862500000LL},
        {"runtime.mallocgc", 12345000000LL, 13579500000LL}};
    struct cpgo_summary_fn acum[] = {
        {"main.main", 0, 123450000000LL},
        {"main.handle", 37035000000LL, 49380000000LL},
        {"github.com/acme/svc/cache.(*LRU[...]).Get|Put", 24690000000LL, 30862500000LL}};
    struct cpgo_summary before = summary(tb, bflat, 2, bcum, 2);
    struct cpgo_summary after = summary(ta, aflat, 3, acum, 3);

    struct cpgo_prbody_in in = {
        .target_key = "github.com/acme/svc@main:cmd/api/default.pgo",
        .target_file = "cmd/api/default.pgo",
        .target_branch = "main",
        .scrapes = 1234,
        .instances = 3,
        .first_scrape = 1715680800, /* 2024-05-14 10:00:00 UTC */
        .last_scrape = 1715767200,  /* a day later */
        .bytes_before = 10240,
        .bytes_after = 12800,
        .before = &before,
        .after = &after,
    };
    struct cpgo_err err;
    char *body = NULL;
    size_t len = 0;

    /* ---- an update ---- */
    CHECK_EQ_INT(cpgo_prbody_build(&in, &body, &len, &err), 0);
    char *want = cat(
        "<!-- cpgo:managed target=github.com/acme/svc@main:cmd/api/default.pgo -->\n"
        "Updates the Go PGO profile `cmd/api/default.pgo` on `main`, built from CPU profiles of "
        "running instances collected by cpgo.\n"
        "\n"
        "| | |\n"
        "|---|---|\n"
        "| Scrapes | 1,234 from 3 instances |\n"
        "| Window | 2024-05-14 10:00:00 UTC → 2024-05-15 10:00:00 UTC |\n"
        "| Samples | 1,000 → 12,345 (2.1 min of CPU) |\n"
        "| File size | 10.0 KiB → 12.5 KiB |\n"
        "\n"
        "### Hottest functions\n"
        "\n"
        "Share of all `cpu/nanoseconds` in the profile, before → after this update. Flat: in the "
        "function itself; cum: including the functions it calls. —: not in the top 10.\n"
        "\n"
        "| Function | Flat before | Flat after | Cum before | Cum after |\n"
        "|---|---:|---:|---:|---:|\n"
        "| `main.handle` | 40.0% | 30.0% | 40.0% | 40.0% |\n"
        "| `github.com/acme/svc/cache.(*LRU[...]).Get\\|Put` | — | 20.0% | — | 25.0% |\n"
        "| `runtime.mallocgc` | — | 10.0% | — | — |\n"
        "| `encoding/json.(*decodeState).object` | 20.0% | — | — | — |\n",
        FOOTER);
    CHECK_TEXT(body, want);
    CHECK_EQ_INT(len, strlen(want));
    CHECK(cpgo_prapi_body_has_marker(body, in.target_key));
    CHECK(!strncmp(body, CPGO_PRAPI_MARKER_PREFIX, strlen(CPGO_PRAPI_MARKER_PREFIX)));
    /* the same input gives the same bytes (no churn) */
    char *again = NULL;
    CHECK_EQ_INT(cpgo_prbody_build(&in, &again, NULL, &err), 0);
    CHECK(again && !strcmp(body, again));
    free(again);
    free(want);
    free(body);

    char line[256];
    CHECK_EQ_INT(cpgo_prbody_summary_line(&in, line, sizeof line),
                 (int)strlen("cpgo: update cmd/api/default.pgo (1,234 scrapes of 3 instances, "
                             "10.0 KiB -> 12.5 KiB)"));
    CHECK_TEXT(line, "cpgo: update cmd/api/default.pgo (1,234 scrapes of 3 instances, 10.0 KiB "
                     "-> 12.5 KiB)");
    CHECK(cpgo_prbody_title(&in, line, sizeof line) > 0);
    CHECK_TEXT(line, "cpgo: update the PGO profile cmd/api/default.pgo");
    CHECK_EQ_INT(cpgo_prbody_summary_line(&in, line, 20), -1);
    CHECK(strlen(line) < 20);

    /* commit_prefix (conventional commits) begins the subject and the title instead */
    in.commit_prefix = "chore(pgo): ";
    CHECK(cpgo_prbody_summary_line(&in, line, sizeof line) > 0);
    CHECK_TEXT(line, "chore(pgo): update cmd/api/default.pgo (1,234 scrapes of 3 instances, "
                     "10.0 KiB -> 12.5 KiB)");
    CHECK(cpgo_prbody_title(&in, line, sizeof line) > 0);
    CHECK_TEXT(line, "chore(pgo): update the PGO profile cmd/api/default.pgo");
    in.commit_prefix = "";
    CHECK(cpgo_prbody_title(&in, line, sizeof line) > 0);
    CHECK_TEXT(line, "cpgo: update the PGO profile cmd/api/default.pgo");
    in.commit_prefix = NULL;

    /* ---- a new file, one scrape: no before column, the note on where Go looks ---- */
    in.created = 1;
    in.before = NULL;
    in.scrapes = 1;
    in.instances = 1;
    in.first_scrape = in.last_scrape = 1715680800;
    in.bytes_after = 900;
    CHECK_EQ_INT(cpgo_prbody_build(&in, &body, &len, &err), 0);
    want =
        cat("<!-- cpgo:managed target=github.com/acme/svc@main:cmd/api/default.pgo -->\n"
            "Adds the Go PGO profile `cmd/api/default.pgo` to `main`, built from CPU profiles of "
            "running instances collected by cpgo.\n"
            "\n"
            "| | |\n"
            "|---|---|\n"
            "| Scrapes | 1 from 1 instance |\n"
            "| Window | 2024-05-14 10:00:00 UTC |\n"
            "| Samples | 12,345 (2.1 min of CPU) |\n"
            "| File size | new, 900 B |\n"
            "\n"
            "### Hottest functions\n"
            "\n"
            "Share of all `cpu/nanoseconds` in the profile. Flat: in the function itself; cum: "
            "including the functions it calls. —: not in the top 10.\n"
            "\n"
            "| Function | Flat | Cum |\n"
            "|---|---:|---:|\n"
            "| `main.handle` | 30.0% | 40.0% |\n"
            "| `github.com/acme/svc/cache.(*LRU[...]).Get\\|Put` | 20.0% | 25.0% |\n"
            "| `runtime.mallocgc` | 10.0% | — |\n"
            "\n"
            "**New file.** Go uses `default.pgo` only from the main package's directory (`go build "
            "-pgo=auto`, the default since Go 1.21): if `cmd/api` is not the directory of your "
            "`package main`, move the file there.\n",
            FOOTER);
    CHECK_TEXT(body, want);
    free(want);
    free(body);
    CHECK(cpgo_prbody_summary_line(&in, line, sizeof line) > 0);
    CHECK_TEXT(line, "cpgo: add cmd/api/default.pgo (1 scrape of 1 instance, 900 B)");
    CHECK(cpgo_prbody_title(&in, line, sizeof line) > 0);
    CHECK_TEXT(line, "cpgo: add the PGO profile cmd/api/default.pgo");

    /* ---- at the root, no summary, no window; then a name Go does not look for ---- */
    in.target_file = "default.pgo";
    in.after = NULL;
    in.first_scrape = in.last_scrape = 0;
    in.scrapes = 2;
    in.bytes_after = 3 * 1024 * 1024 + 1;
    CHECK_EQ_INT(cpgo_prbody_build(&in, &body, &len, &err), 0);
    want = cat("<!-- cpgo:managed target=github.com/acme/svc@main:cmd/api/default.pgo -->\n"
               "Adds the Go PGO profile `default.pgo` to `main`, built from CPU profiles of "
               "running instances collected by cpgo.\n"
               "\n"
               "| | |\n"
               "|---|---|\n"
               "| Scrapes | 2 from 1 instance |\n"
               "| File size | new, 3.0 MiB |\n"
               "\n"
               "**New file.** Go uses `default.pgo` only from the main package's directory (`go "
               "build -pgo=auto`, the default since Go 1.21): if the repository root is not the "
               "directory of your `package main`, move the file there.\n",
               FOOTER);
    CHECK_TEXT(body, want);
    free(want);
    free(body);
    in.target_file = "profiles/cpu|all.pprof";
    CHECK_EQ_INT(cpgo_prbody_build(&in, &body, &len, &err), 0);
    CHECK_STR_CONTAINS(body, "Adds the Go PGO profile `profiles/cpu|all.pprof` to `main`");
    CHECK_STR_CONTAINS(body, "\n**New file.** Go picks up a profile by itself only when it is "
                             "named `default.pgo` and sits in the main package's directory; "
                             "build with `-pgo=profiles/cpu|all.pprof` to use this one.\n");
    free(body);

    /* ---- bounds: many long names with pipes and newlines stay under GitHub's limit ---- */
    enum { N = 80 };
    struct cpgo_summary_fn many_a[N], many_b[N];
    char names[2 * N][400];
    for (int i = 0; i < 2 * N; i++) {
        memset(names[i], '|', 300);
        snprintf(names[i] + 300, 100, "\n%d", i);
    }
    for (int i = 0; i < N; i++) {
        many_a[i] = (struct cpgo_summary_fn){names[i], 1000 - i, 2000 - i};
        many_b[i] = (struct cpgo_summary_fn){names[N + i], 1000 - i, 2000 - i};
    }
    int64_t t2[] = {10, 100000};
    struct cpgo_summary sa = summary(t2, many_a, N, many_a, N);
    struct cpgo_summary sb = summary(t2, many_b, N, many_b, N);
    in.created = 0;
    in.before = &sb;
    in.after = &sa;
    in.top_n = 1000; /* clamped to 50 */
    CHECK_EQ_INT(cpgo_prbody_build(&in, &body, &len, &err), 0);
    CHECK(len < CPGO_PRAPI_MAX_BODY);
    size_t rows = 0;
    for (const char *p = body; (p = strstr(p, "\n| `")); p++)
        rows++;
    CHECK_EQ_INT(rows, 100); /* 50 now, 50 that left the top list */
    CHECK_STR_CONTAINS(body, "—: not in the top 50.");
    CHECK_STR_CONTAINS(body, "\\|...` |");
    free(body);

    /* ---- escaping ---- */
    char cell[64];
    CHECK_EQ_INT(cpgo_prbody_escape_cell("a|b\nc`d\x01\te", 100, cell, sizeof cell), 11);
    CHECK_TEXT(cell, "a\\|b c'd? e");
    cpgo_prbody_escape_cell("\xc3\xa9\xc3\xa9\xc3\xa9", 3, cell, sizeof cell);
    CHECK_TEXT(cell, "\xc3\xa9..."); /* cut before a split character */
    cpgo_prbody_escape_cell("||||||||", 100, cell, 6);
    CHECK_TEXT(cell, "\\|\\|"); /* never a half escape, never past cap */
    cpgo_prbody_escape_cell(NULL, 10, cell, sizeof cell);
    CHECK_TEXT(cell, "");

    /* ---- services: the last round, scraped of discovered (issue 11) ---- */
    in.discovery = "checkout: 10 of 37 discovered instances scraped | canary";
    CHECK_EQ_INT(cpgo_prbody_build(&in, &body, &len, &err), 0);
    CHECK_STR_CONTAINS(body, " instance |\n"
                             "| Last round | checkout: 10 of 37 discovered instances scraped "
                             "\\| canary |\n");
    free(body);
    in.discovery = NULL;

    /* ---- usage ---- */
    struct cpgo_prbody_in bad = {.target_key = "k", .target_branch = "main"};
    CHECK_EQ_INT(cpgo_prbody_build(&bad, &body, &len, &err), CPGO_E_USAGE);
    CHECK(body == NULL);
    CHECK_EQ_INT(cpgo_prbody_title(&bad, line, sizeof line), -1);
    CHECK_DONE();
}
