/* Unit tests for admin/metrics: the exact exposition text (0.0.4), escaping, number
 * formatting, histogram buckets, the series cap, registration errors and collectors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "admin/metrics.h"
#include "base/err.h"
#include "check.h"

/* Renders r into a NUL-terminated string the caller frees. */
static char *render(struct cpgo_metrics *r)
{
    struct cpgo_buf b;
    cpgo_buf_init(&b, 1 << 20);
    CHECK_EQ_INT(cpgo_metrics_render(r, &b), 0);
    cpgo_buf_append(&b, "", 1);
    return (char *)cpgo_buf_steal(&b, NULL);
}

static void check_text(const char *got, const char *want, int line)
{
    CHECK(!strcmp(got, want));
    if (strcmp(got, want)) fprintf(stderr, "  line %d: got\n%s\n  want\n%s\n", line, got, want);
}

#define DROPPED_EMPTY                                                                              \
    "# HELP cpgo_metrics_dropped_series_total Series not created because their family "            \
    "reached its series cap or a label value was too long.\n"                                      \
    "# TYPE cpgo_metrics_dropped_series_total counter\n"

static void test_exposition(void)
{
    struct cpgo_metrics *r = cpgo_metrics_new(0);
    struct cpgo_metric *scrapes = cpgo_metric_counter(
        r, "cpgo_scrapes_total", "Scrapes, by target and class.", CPGO_LABELS("target", "class"));
    struct cpgo_metric *up = cpgo_metric_gauge(r, "cpgo_up", "1 when running.", NULL);
    struct cpgo_metric *lat =
        cpgo_metric_histogram(r, "cpgo_scrape_seconds", "Scrape wall time.", CPGO_LABELS("target"),
                              (const double[]){0.5, 1, 2.5}, 3);
    struct cpgo_metric *bare =
        cpgo_metric_histogram(r, "cpgo_bare", "No labels.", NULL, (const double[]){1, INFINITY}, 2);
    CHECK(scrapes && up && lat && bare);
    CHECK(cpgo_metrics_error(r) == NULL);

    /* series created out of order render sorted by label values */
    CHECK_EQ_INT(cpgo_metric_inc(scrapes, CPGO_LABELS("web", "ok")), 0);
    CHECK_EQ_INT(cpgo_metric_add(scrapes, 2, CPGO_LABELS("api", "timeout")), 0);
    CHECK_EQ_INT(cpgo_metric_inc(scrapes, CPGO_LABELS("api", "ok")), 0);
    CHECK_EQ_INT(cpgo_metric_inc(scrapes, CPGO_LABELS("web", "ok")), 0);
    CHECK_EQ_INT(cpgo_metric_set(up, 1, NULL), 0);
    CHECK_EQ_INT(cpgo_metric_observe(lat, 0.25, CPGO_LABELS("web")), 0);
    CHECK_EQ_INT(cpgo_metric_observe(lat, 0.5, CPGO_LABELS("web")), 0); /* le is inclusive */
    CHECK_EQ_INT(cpgo_metric_observe(lat, 2, CPGO_LABELS("web")), 0);
    CHECK_EQ_INT(cpgo_metric_observe(lat, 100, CPGO_LABELS("web")), 0);
    CHECK_EQ_INT(cpgo_metric_observe(lat, 1, CPGO_LABELS("api")), 0);
    CHECK_EQ_INT(cpgo_metric_observe(bare, 3, NULL), 0);

    char *text = render(r);
    check_text(text,
               "# HELP cpgo_scrapes_total Scrapes, by target and class.\n"
               "# TYPE cpgo_scrapes_total counter\n"
               "cpgo_scrapes_total{target=\"api\",class=\"ok\"} 1\n"
               "cpgo_scrapes_total{target=\"api\",class=\"timeout\"} 2\n"
               "cpgo_scrapes_total{target=\"web\",class=\"ok\"} 2\n"
               "# HELP cpgo_up 1 when running.\n"
               "# TYPE cpgo_up gauge\n"
               "cpgo_up 1\n"
               "# HELP cpgo_scrape_seconds Scrape wall time.\n"
               "# TYPE cpgo_scrape_seconds histogram\n"
               "cpgo_scrape_seconds_bucket{target=\"api\",le=\"0.5\"} 0\n"
               "cpgo_scrape_seconds_bucket{target=\"api\",le=\"1\"} 1\n"
               "cpgo_scrape_seconds_bucket{target=\"api\",le=\"2.5\"} 1\n"
               "cpgo_scrape_seconds_bucket{target=\"api\",le=\"+Inf\"} 1\n"
               "cpgo_scrape_seconds_sum{target=\"api\"} 1\n"
               "cpgo_scrape_seconds_count{target=\"api\"} 1\n"
               "cpgo_scrape_seconds_bucket{target=\"web\",le=\"0.5\"} 2\n"
               "cpgo_scrape_seconds_bucket{target=\"web\",le=\"1\"} 2\n"
               "cpgo_scrape_seconds_bucket{target=\"web\",le=\"2.5\"} 3\n"
               "cpgo_scrape_seconds_bucket{target=\"web\",le=\"+Inf\"} 4\n"
               "cpgo_scrape_seconds_sum{target=\"web\"} 102.75\n"
               "cpgo_scrape_seconds_count{target=\"web\"} 4\n"
               "# HELP cpgo_bare No labels.\n"
               "# TYPE cpgo_bare histogram\n"
               "cpgo_bare_bucket{le=\"1\"} 0\n"
               "cpgo_bare_bucket{le=\"+Inf\"} 1\n"
               "cpgo_bare_sum 3\n"
               "cpgo_bare_count 1\n" DROPPED_EMPTY,
               __LINE__);
    free(text);

    /* values read back; clear and remove */
    double v = -1;
    CHECK_EQ_INT(cpgo_metric_get(scrapes, CPGO_LABELS("web", "ok"), &v), 0);
    CHECK(v == 2);
    CHECK_EQ_INT(cpgo_metric_get(scrapes, CPGO_LABELS("web", "dns"), &v), CPGO_E_EMPTY);
    CHECK_EQ_INT(cpgo_metric_get(lat, CPGO_LABELS("web"), &v), 0);
    CHECK(v == 4);
    CHECK_EQ_INT(cpgo_metric_remove(scrapes, CPGO_LABELS("api", "ok")), 0);
    CHECK_EQ_INT(cpgo_metric_remove(scrapes, CPGO_LABELS("api", "ok")), CPGO_E_EMPTY);
    CHECK_EQ_INT(cpgo_metric_series(scrapes), 2);
    /* the index still finds the series that moved */
    CHECK_EQ_INT(cpgo_metric_get(scrapes, CPGO_LABELS("web", "ok"), &v), 0);
    CHECK(v == 2);
    CHECK_EQ_INT(cpgo_metric_get(scrapes, CPGO_LABELS("api", "timeout"), &v), 0);
    CHECK(v == 2);
    cpgo_metric_clear(lat);
    cpgo_metric_clear(up);
    cpgo_metric_clear(bare);
    CHECK_EQ_INT(cpgo_metric_series(lat), 0);
    text = render(r);
    check_text(text,
               "# HELP cpgo_scrapes_total Scrapes, by target and class.\n"
               "# TYPE cpgo_scrapes_total counter\n"
               "cpgo_scrapes_total{target=\"api\",class=\"timeout\"} 2\n"
               "cpgo_scrapes_total{target=\"web\",class=\"ok\"} 2\n"
               "# HELP cpgo_up 1 when running.\n"
               "# TYPE cpgo_up gauge\n"
               "cpgo_up 0\n"
               "# HELP cpgo_scrape_seconds Scrape wall time.\n"
               "# TYPE cpgo_scrape_seconds histogram\n"
               "# HELP cpgo_bare No labels.\n"
               "# TYPE cpgo_bare histogram\n"
               "cpgo_bare_bucket{le=\"1\"} 0\n"
               "cpgo_bare_bucket{le=\"+Inf\"} 0\n"
               "cpgo_bare_sum 0\n"
               "cpgo_bare_count 0\n" DROPPED_EMPTY,
               __LINE__);
    free(text);
    cpgo_metrics_free(r);
}

static void test_escaping(void)
{
    struct cpgo_metrics *r = cpgo_metrics_new(0);
    struct cpgo_metric *g = cpgo_metric_gauge(r, "esc:ape_1", "Help with \\ and\nnewline \"q\".",
                                              CPGO_LABELS("a", "_b2"));
    CHECK(g != NULL);
    CHECK_EQ_INT(cpgo_metric_set(g, -1.5, CPGO_LABELS("back\\slash \"quoted\"\nnext", "")), 0);
    CHECK_EQ_INT(cpgo_metric_set(g, 7, CPGO_LABELS("utf8 \xc3\xa9", "x")), 0);
    char *text = render(r);
    check_text(text,
               "# HELP esc:ape_1 Help with \\\\ and\\nnewline \"q\".\n"
               "# TYPE esc:ape_1 gauge\n"
               "esc:ape_1{a=\"back\\\\slash \\\"quoted\\\"\\nnext\",_b2=\"\"} -1.5\n"
               "esc:ape_1{a=\"utf8 \xc3\xa9\",_b2=\"x\"} 7\n" DROPPED_EMPTY,
               __LINE__);
    free(text);
    cpgo_metrics_free(r);
}

static void test_numbers(void)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0, "0"},
        {-0.0, "0"},
        {1, "1"},
        {-3, "-3"},
        {123456789, "123456789"},
        {4294967296.0, "4294967296"},
        {9007199254740993.0, "9007199254740992"}, /* the double it rounds to, exactly */
        {1e16, "10000000000000000"},
        {1e17, "1e+17"},
        {0.1, "0.1"},
        {0.30000000000000004, "0.30000000000000004"},
        {1.5, "1.5"},
        {2.5e-7, "2.5e-07"},
        {1.0 / 3, "0.3333333333333333"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {NAN, "NaN"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        cpgo_metrics_format_value(cases[i].v, buf, sizeof buf);
        CHECK(!strcmp(buf, cases[i].text));
        if (strcmp(buf, cases[i].text)) fprintf(stderr, "  got %s want %s\n", buf, cases[i].text);
        if (isfinite(cases[i].v)) CHECK(strtod(buf, NULL) == cases[i].v); /* round trip */
    }
    /* every printed value reads back exactly */
    unsigned long long x = 88172645463325252ull;
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d)) continue;
        char buf[64];
        cpgo_metrics_format_value(d, buf, sizeof buf);
        if (strtod(buf, NULL) != d && d != 0) bad++;
        if (strchr(buf, 'e') && d == floor(d) && fabs(d) < 1e17) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_cap(void)
{
    struct cpgo_metrics *r = cpgo_metrics_new(3);
    struct cpgo_metric *c = cpgo_metric_counter(r, "c_total", "", CPGO_LABELS("k"));
    struct cpgo_metric *h = cpgo_metric_histogram(r, "h", "", CPGO_LABELS("k"), NULL, 0);
    CHECK_EQ_INT(cpgo_metric_inc(c, CPGO_LABELS("a")), 0);
    CHECK_EQ_INT(cpgo_metric_inc(c, CPGO_LABELS("b")), 0);
    CHECK_EQ_INT(cpgo_metric_inc(c, CPGO_LABELS("c")), 0);
    CHECK_EQ_INT(cpgo_metric_inc(c, CPGO_LABELS("d")), CPGO_E_LIMIT);
    CHECK_EQ_INT(cpgo_metric_inc(c, CPGO_LABELS("e")), CPGO_E_LIMIT);
    CHECK_EQ_INT(cpgo_metric_inc(c, CPGO_LABELS("a")), 0); /* existing series still count */
    CHECK_EQ_INT(cpgo_metric_series(c), 3);
    char longv[CPGO_METRIC_VALUE_MAX + 2];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    CHECK_EQ_INT(cpgo_metric_observe(h, 1, CPGO_LABELS(longv)), CPGO_E_LIMIT);
    longv[CPGO_METRIC_VALUE_MAX] = 0; /* exactly the maximum is fine */
    CHECK_EQ_INT(cpgo_metric_observe(h, 1, CPGO_LABELS(longv)), 0);
    /* removing a series makes room again */
    CHECK_EQ_INT(cpgo_metric_remove(c, CPGO_LABELS("b")), 0);
    CHECK_EQ_INT(cpgo_metric_inc(c, CPGO_LABELS("d")), 0);
    char *text = render(r);
    CHECK_STR_CONTAINS(text,
                       "c_total{k=\"a\"} 2\nc_total{k=\"c\"} 1\nc_total{k=\"d\"} 1\n# HELP h");
    CHECK_STR_CONTAINS(text, "h_bucket{k=\"" /* only +Inf without bounds */);
    CHECK_STR_CONTAINS(text, "\",le=\"+Inf\"} 1\n");
    CHECK_STR_CONTAINS(text, "# TYPE cpgo_metrics_dropped_series_total counter\n"
                             "cpgo_metrics_dropped_series_total{metric=\"c_total\"} 2\n"
                             "cpgo_metrics_dropped_series_total{metric=\"h\"} 1\n");
    free(text);

    /* a render past the output ceiling fails cleanly */
    struct cpgo_buf small;
    cpgo_buf_init(&small, 40);
    CHECK_EQ_INT(cpgo_metrics_render(r, &small), CPGO_E_LIMIT);
    CHECK(small.len <= 40);
    cpgo_buf_free(&small);
    cpgo_metrics_free(r);
}

static void test_usage_errors(void)
{
    struct cpgo_metrics *r = cpgo_metrics_new(0);
    struct cpgo_metric *c = cpgo_metric_counter(r, "ok_total", "", CPGO_LABELS("a", "b"));
    struct cpgo_metric *g = cpgo_metric_gauge(r, "g", "", NULL);
    struct cpgo_metric *h = cpgo_metric_histogram(r, "hist", "", NULL, (const double[]){1}, 1);
    CHECK(c && g && h);
    CHECK(cpgo_metrics_error(r) == NULL);
    CHECK_EQ_INT(cpgo_metric_inc(c, CPGO_LABELS("x")), CPGO_E_USAGE);           /* too few */
    CHECK_EQ_INT(cpgo_metric_inc(c, CPGO_LABELS("x", "y", "z")), CPGO_E_USAGE); /* too many */
    CHECK_EQ_INT(cpgo_metric_inc(c, NULL), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_metric_add(c, -1, CPGO_LABELS("x", "y")), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_metric_add(c, NAN, CPGO_LABELS("x", "y")), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_metric_add(g, -1, NULL), 0); /* gauges go down */
    CHECK_EQ_INT(cpgo_metric_observe(c, 1, CPGO_LABELS("x", "y")), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_metric_inc(h, NULL), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_metric_inc(NULL, NULL), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_metric_observe(NULL, 1, NULL), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_metric_observe(h, NAN, NULL), 0); /* NaN lands in +Inf, as in Go */
    CHECK_EQ_INT(cpgo_metric_series(c), 0);
    CHECK(cpgo_metrics_error(r) == NULL);

    static const char *const bad_names[] = {"", "1abc", "a-b", "a b", "é", "a.b"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        struct cpgo_metrics *r2 = cpgo_metrics_new(0);
        CHECK(cpgo_metric_counter(r2, bad_names[i], "", NULL) == NULL);
        CHECK(cpgo_metrics_error(r2) != NULL);
        if (cpgo_metrics_error(r2)) CHECK_STR_CONTAINS(cpgo_metrics_error(r2), "is invalid");
        cpgo_metrics_free(r2);
    }
    CHECK(cpgo_metric_gauge(r, "NULL", "", NULL) != NULL); /* odd but valid */
    CHECK(cpgo_metric_gauge(r, "_:a9", "", NULL) != NULL);
    CHECK(cpgo_metrics_error(r) == NULL);

    const struct { /* not static: compound literals in a static initializer are not constant */
        const char *name;
        const char *const *labels;
        int hist;
        const char *msg;
    } bad[] = {
        {"l1", CPGO_LABELS("a-b"), 0, "label name 'a-b' is invalid"},
        {"l2", CPGO_LABELS("__x"), 0, "label name '__x' is invalid"},
        {"l3", CPGO_LABELS("9"), 0, "label name '9' is invalid"},
        {"l4", CPGO_LABELS("a:b"), 0, "label name 'a:b' is invalid"},
        {"l5", CPGO_LABELS("a", "a"), 0, "appears twice"},
        {"l6", CPGO_LABELS("le"), 1, "cannot have a label 'le'"},
        {"l7", CPGO_LABELS("a", "b", "c", "d", "e", "f", "g", "h", "i"), 0, "at most 8"},
        {"ok_total", NULL, 0, "already registered"},
        {"hist_sum", NULL, 0, "already registered"},    /* a histogram's sample name */
        {"hist_bucket", NULL, 1, "already registered"}, /* its own name is hist's */
        {"cpgo_metrics_dropped_series_total", NULL, 0, "already registered"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cpgo_metrics *r2 = cpgo_metrics_new(0);
        CHECK(cpgo_metric_counter(r2, "ok_total", "", NULL) != NULL);
        CHECK(cpgo_metric_histogram(r2, "hist", "", NULL, NULL, 0) != NULL);
        struct cpgo_metric *m =
            bad[i].hist
                ? cpgo_metric_histogram(r2, bad[i].name, "", bad[i].labels, (const double[]){1}, 1)
                : cpgo_metric_counter(r2, bad[i].name, "", bad[i].labels);
        CHECK(m == NULL);
        const char *e = cpgo_metrics_error(r2);
        CHECK(e != NULL);
        if (e) CHECK_STR_CONTAINS(e, bad[i].msg);
        cpgo_metrics_free(r2);
    }
    /* "ok" as a histogram owns ok_bucket/_sum/_count and clashes with nothing in a fresh
     * registry; a second histogram whose _count is the first one's name does */
    struct cpgo_metrics *r3 = cpgo_metrics_new(0);
    CHECK(cpgo_metric_counter(r3, "x_count", "", NULL) != NULL);
    CHECK(cpgo_metric_histogram(r3, "x", "", NULL, NULL, 0) == NULL);
    cpgo_metrics_free(r3);

    /* buckets */
    static const struct {
        double b[3];
        size_t n;
    } badb[] = {
        {{1, 1}, 2}, {{2, 1}, 2}, {{NAN}, 1}, {{-INFINITY, 0}, 2}, {{1, INFINITY, 2}, 3},
    };
    for (size_t i = 0; i < sizeof badb / sizeof badb[0]; i++) {
        struct cpgo_metrics *r2 = cpgo_metrics_new(0);
        CHECK(cpgo_metric_histogram(r2, "h", "", NULL, badb[i].b, badb[i].n) == NULL);
        CHECK(cpgo_metrics_error(r2) != NULL);
        cpgo_metrics_free(r2);
    }
    double many[CPGO_METRIC_MAX_BUCKETS + 1];
    for (int i = 0; i <= CPGO_METRIC_MAX_BUCKETS; i++)
        many[i] = i;
    struct cpgo_metrics *r4 = cpgo_metrics_new(0);
    CHECK(cpgo_metric_histogram(r4, "h1", "", NULL, many, CPGO_METRIC_MAX_BUCKETS) != NULL);
    CHECK(cpgo_metric_histogram(r4, "h2", "", NULL, many, CPGO_METRIC_MAX_BUCKETS + 1) == NULL);
    /* the first error is kept */
    CHECK(cpgo_metric_counter(r4, "bad name", "", NULL) == NULL);
    CHECK_STR_CONTAINS(cpgo_metrics_error(r4), "h2");
    cpgo_metrics_free(r4);
    cpgo_metrics_free(r);
}

struct collect_ctx {
    struct cpgo_metric *g;
    int calls;
};

static void collect(struct cpgo_metrics *r, void *arg)
{
    struct collect_ctx *c = arg;
    c->calls++;
    cpgo_metric_set(c->g, c->calls * 10, NULL);
}

static void test_collectors(void)
{
    struct cpgo_metrics *r = cpgo_metrics_new(0);
    struct collect_ctx ctx = {cpgo_metric_gauge(r, "depth", "Queue depth.", NULL), 0};
    CHECK_EQ_INT(cpgo_metrics_add_collector(r, collect, &ctx), 0);
    char *text = render(r);
    CHECK_STR_CONTAINS(text, "\ndepth 10\n");
    free(text);
    text = render(r);
    CHECK_STR_CONTAINS(text, "\ndepth 20\n");
    free(text);
    cpgo_metrics_remove_collector(r, collect, &ctx);
    cpgo_metrics_remove_collector(r, collect, &ctx); /* absent: no-op */
    text = render(r);
    CHECK_STR_CONTAINS(text, "\ndepth 20\n");
    CHECK_EQ_INT(ctx.calls, 2);
    free(text);
    for (int i = 0; i < CPGO_METRIC_MAX_COLLECTORS; i++)
        CHECK_EQ_INT(cpgo_metrics_add_collector(r, collect, &ctx), 0);
    CHECK_EQ_INT(cpgo_metrics_add_collector(r, collect, &ctx), CPGO_E_LIMIT);
    cpgo_metrics_free(r);
}

/* Many series: the index finds every one and the render is sorted. */
static void test_many(void)
{
    struct cpgo_metrics *r = cpgo_metrics_new(5000);
    struct cpgo_metric *c = cpgo_metric_counter(r, "n_total", "", CPGO_LABELS("a", "b"));
    char a[16], b[16];
    for (int i = 0; i < 4000; i++) {
        snprintf(a, sizeof a, "%d", (i * 7919) % 4000);
        snprintf(b, sizeof b, "%d", i % 3);
        CHECK_EQ_INT(cpgo_metric_add(c, i, CPGO_LABELS(a, b)), 0);
    }
    for (int i = 0; i < 4000; i += 2) {
        snprintf(a, sizeof a, "%d", (i * 7919) % 4000);
        snprintf(b, sizeof b, "%d", i % 3);
        CHECK_EQ_INT(cpgo_metric_remove(c, CPGO_LABELS(a, b)), 0);
    }
    CHECK_EQ_INT(cpgo_metric_series(c), 2000);
    int missing = 0;
    for (int i = 1; i < 4000; i += 2) {
        snprintf(a, sizeof a, "%d", (i * 7919) % 4000);
        snprintf(b, sizeof b, "%d", i % 3);
        double v;
        if (cpgo_metric_get(c, CPGO_LABELS(a, b), &v) || v != i) missing++;
    }
    CHECK_EQ_INT(missing, 0);
    char *text = render(r);
    /* sorted bytewise: "1" < "10" < "100" < ... */
    const char *prev = NULL;
    int unsorted = 0;
    for (const char *p = strstr(text, "n_total{"); p; p = strstr(p + 1, "\nn_total{")) {
        const char *q = strchr(p, '"') + 1;
        if (prev && strncmp(prev, q, (size_t)(strchr(q, '"') - q + 1)) > 0) unsorted++;
        prev = q;
    }
    CHECK_EQ_INT(unsorted, 0);
    free(text);
    cpgo_metrics_free(r);
}

/* A value not known yet is absent, never a placeholder: a family without labels loses its
 * sample with cpgo_metric_remove and gets it back at the next update. */
static void test_absent(void)
{
    struct cpgo_metrics *r = cpgo_metrics_new(0);
    struct cpgo_metric *g = cpgo_metric_gauge(r, "rate_remaining", "Remaining.", NULL);
    CHECK(g != NULL);
    char *text = render(r);
    CHECK_STR_CONTAINS(text, "# TYPE rate_remaining gauge\nrate_remaining 0\n");
    free(text);
    CHECK_EQ_INT(cpgo_metric_remove(g, NULL), 0);
    CHECK_EQ_INT(cpgo_metric_remove(g, NULL), CPGO_E_EMPTY);
    CHECK_EQ_INT(cpgo_metric_remove(g, CPGO_LABELS("x")), CPGO_E_USAGE);
    double v = 7;
    CHECK_EQ_INT(cpgo_metric_get(g, NULL, &v), CPGO_E_EMPTY);
    cpgo_metric_clear(g); /* no sample to reset */
    text = render(r);
    CHECK_STR_CONTAINS(text, "# TYPE rate_remaining gauge\n");
    CHECK(!strstr(text, "rate_remaining 0"));
    free(text);
    CHECK_EQ_INT(cpgo_metric_set(g, 4999, NULL), 0);
    CHECK_EQ_INT(cpgo_metric_get(g, NULL, &v), 0);
    CHECK(v == 4999);
    text = render(r);
    CHECK_STR_CONTAINS(text, "rate_remaining 4999\n");
    free(text);
    cpgo_metrics_free(r);
}

int main(void)
{
    test_exposition();
    test_escaping();
    test_numbers();
    test_cap();
    test_absent();
    test_usage_errors();
    test_collectors();
    test_many();
    CHECK_DONE();
}
