/*
 * Unit tests for profile/pgograph: the Go compiler's PGO edge graph on hand-built profiles.
 * Every expected text below is what `go tool preprofile` (Go 1.26) prints for the same
 * profile: CPGO_PGOGRAPH_DUMP=DIR writes each profile as DIR/<name>.pb.gz so that this can
 * be checked again with a newer Go (tests/integration/pgograph_oracle.sh does it).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pbuild.h"
#include "profile/pgograph.h"

static struct pbuild *cpu_profile(void)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_period(b, "cpu", "nanoseconds", 10000000);
    return b;
}

static void loc1(struct pbuild *b, uint64_t id, uint64_t addr, uint64_t fn, int64_t line)
{
    pbuild_location(b, id, 0, addr, 1, &fn, &line);
}

static void sample(struct pbuild *b, int64_t w, size_t n, const uint64_t *locs)
{
    int64_t v[2] = {w, w * 10000000};
    pbuild_sample(b, n, locs, 2, v);
}

static void dump(struct pbuild *b, const char *name)
{
    const char *dir = getenv("CPGO_PGOGRAPH_DUMP");
    if (!dir) return;
    struct cpgo_buf out;
    if (pbuild_encode(b, 0, &out)) return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s.pb.gz", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(out.data, 1, out.len, f);
        fclose(f);
    }
    cpgo_buf_free(&out);
}

/* Builds the graph of b's profile and returns its preprofile text (malloc'd), or NULL with
 * the error in *err. */
static char *edges_of(struct pbuild *b, const char *name, struct cpgo_pgograph **keep,
                      struct cpgo_err *err)
{
    dump(b, name);
    struct cpgo_pgograph *g = NULL;
    if (cpgo_pgograph_build(pbuild_pb(b), &g, err)) return NULL;
    struct cpgo_buf out;
    cpgo_buf_init(&out, 1 << 20);
    int rc = cpgo_pgograph_write(g, &out, err);
    if (!rc) rc = cpgo_buf_append(&out, "", 1);
    if (keep)
        *keep = g;
    else
        cpgo_pgograph_free(g);
    if (rc) {
        cpgo_buf_free(&out);
        return NULL;
    }
    return (char *)out.data;
}

static void check_edges(struct pbuild *b, const char *name, const char *want)
{
    struct cpgo_err err = {0};
    char *got = edges_of(b, name, NULL, &err);
    CHECK(got != NULL);
    if (got && strcmp(got, want)) {
        CHECK(!"edges differ");
        fprintf(stderr, "%s: got:\n%s--- want:\n%s---\n", name, got, want);
    }
    if (!got) fprintf(stderr, "%s: %s\n", name, err.text);
    free(got);
    pbuild_free(b);
}

static void check_error(struct pbuild *b, const char *name, int code, const char *text)
{
    struct cpgo_err err = {0};
    char *got = edges_of(b, name, NULL, &err);
    CHECK(got == NULL);
    CHECK_EQ_INT(err.code, code);
    CHECK_STR_CONTAINS(err.text, text);
    free(got);
    pbuild_free(b);
}

/* Inline frames: every line of the two leaf-most locations is a node, outermost first, and
 * a frame beyond the second location is not read at all. */
static void test_inline(void)
{
    struct pbuild *b = cpu_profile();
    pbuild_function(b, 1, "main.leaf", "a.go", 10);
    pbuild_function(b, 2, "main.inl", "a.go", 20);
    pbuild_function(b, 3, "main.caller", "a.go", 30);
    pbuild_function(b, 4, "main.root", "a.go", 40);
    uint64_t fa[] = {1, 2};
    int64_t la[] = {12, 25}; /* leaf at 12, inlined into inl at 25 */
    pbuild_location(b, 1, 0, 0x100, 2, fa, la);
    loc1(b, 2, 0x200, 3, 33);
    loc1(b, 3, 0x300, 4, 41);
    sample(b, 7, 3, (uint64_t[]){1, 2, 3});
    check_edges(b, "inline",
                "GO PREPROFILE V1\n"
                "main.caller\nmain.inl\n3 7\n"
                "main.inl\nmain.leaf\n5 7\n");
}

/* Recursion on one line: two addresses are two nodes (an edge f -> f), one address is one
 * node (no self-edge, so no edge at all: accepted, empty). */
static void test_recursion(void)
{
    struct pbuild *b = cpu_profile();
    pbuild_function(b, 1, "main.fib", "a.go", 100);
    loc1(b, 1, 0x10, 1, 104);
    loc1(b, 2, 0x20, 1, 104);
    sample(b, 3, 3, (uint64_t[]){1, 2, 2});
    check_edges(b, "recursion_addresses", "GO PREPROFILE V1\nmain.fib\nmain.fib\n4 3\n");

    b = cpu_profile();
    pbuild_function(b, 1, "main.fib", "a.go", 100);
    loc1(b, 1, 0x10, 1, 104);
    sample(b, 3, 3, (uint64_t[]){1, 1, 1});
    check_edges(b, "recursion_one_node", "GO PREPROFILE V1\n");

    /* A -> B -> A -> B in one sample (inline lines): each pair counted once per sample */
    b = cpu_profile();
    pbuild_function(b, 1, "a", "a.go", 1);
    pbuild_function(b, 2, "b", "b.go", 1);
    pbuild_location(b, 1, 0, 0x10, 2, (uint64_t[]){2, 1}, (int64_t[]){5, 3});
    pbuild_location(b, 2, 0, 0x10, 2, (uint64_t[]){2, 1}, (int64_t[]){5, 3});
    sample(b, 2, 2, (uint64_t[]){1, 2});
    /* nodes a:3 -> b:5 -> a:3 -> b:5 (both locations give the same two nodes) */
    check_edges(b, "pair_once", "GO PREPROFILE V1\na\nb\n2 2\nb\na\n4 2\n");
}

/* Samples with one location give no edge but do count their nodes (start lines seen). */
static void test_single_frame(void)
{
    struct pbuild *b = cpu_profile();
    pbuild_function(b, 1, "main.f", "a.go", 1);
    pbuild_function(b, 2, "main.g", "a.go", 10);
    loc1(b, 1, 0x10, 1, 2);
    loc1(b, 2, 0x20, 2, 12);
    sample(b, 5, 1, (uint64_t[]){1});
    sample(b, 1, 2, (uint64_t[]){1, 2});
    check_edges(b, "single_frame", "GO PREPROFILE V1\nmain.g\nmain.f\n2 1\n");
}

/* A location without lines, and a line whose function id is 0, are nodes of their address
 * alone: name "", line 0, start line 0. */
static void test_no_function(void)
{
    struct pbuild *b = cpu_profile();
    pbuild_function(b, 1, "main.f", "a.go", 1);
    loc1(b, 1, 0x10, 1, 3);
    pbuild_location(b, 2, 0, 0x20, 0, NULL, NULL);
    loc1(b, 3, 0x30, 0, 99);
    sample(b, 4, 2, (uint64_t[]){1, 2});
    sample(b, 2, 2, (uint64_t[]){3, 1});
    check_edges(b, "no_function", "GO PREPROFILE V1\n\nmain.f\n0 4\nmain.f\n\n2 2\n");
}

/* Zero-weight samples are skipped; a profile whose samples are all 0 has no graph node, so
 * no start line: Go refuses it. */
static void test_zero_weight(void)
{
    struct pbuild *b = cpu_profile();
    pbuild_function(b, 1, "f", "a.go", 1);
    pbuild_function(b, 2, "g", "a.go", 10);
    loc1(b, 1, 0x10, 1, 2);
    loc1(b, 2, 0x20, 2, 11);
    loc1(b, 3, 0x30, 2, 12);
    sample(b, 0, 2, (uint64_t[]){1, 3});
    sample(b, 6, 2, (uint64_t[]){1, 2});
    check_edges(b, "zero_weight", "GO PREPROFILE V1\ng\nf\n1 6\n");

    b = cpu_profile();
    pbuild_function(b, 1, "f", "a.go", 1);
    pbuild_function(b, 2, "g", "a.go", 10);
    loc1(b, 1, 0x10, 1, 2);
    loc1(b, 2, 0x20, 2, 11);
    sample(b, 0, 2, (uint64_t[]){1, 2});
    check_error(b, "all_zero", CPGO_E_INCOMPAT, "profile missing Function.start_line data");

    /* no samples at all: accepted, nothing (whatever the sample types) */
    b = pbuild_new();
    pbuild_sample_type(b, "alloc_space", "bytes");
    check_edges(b, "no_samples", "GO PREPROFILE V1\n");
}

/* Negative values: a node whose weights cancel to 0 (cum and flat) leaves the graph with
 * its outgoing edges while an edge into it stays; an edge whose weights sum to 0 still
 * prints; a total of 0 is an empty graph. */
static void test_negative(void)
{
    struct pbuild *b = cpu_profile();
    pbuild_function(b, 1, "a", "a.go", 1);
    pbuild_function(b, 2, "b", "a.go", 10);
    pbuild_function(b, 3, "c", "a.go", 20);
    pbuild_function(b, 4, "d", "a.go", 30);
    pbuild_function(b, 5, "e", "a.go", 40);
    loc1(b, 1, 0x10, 1, 2);
    loc1(b, 2, 0x20, 2, 11);
    loc1(b, 3, 0x30, 3, 21);
    loc1(b, 4, 0x40, 4, 31);
    /* the node b:11 at 0x20 again, with e inlined into it: b is not the leaf there */
    pbuild_location(b, 6, 0, 0x20, 2, (uint64_t[]){5, 2}, (int64_t[]){41, 11});
    sample(b, 5, 2, (uint64_t[]){1, 2});  /* b -> a 5 */
    sample(b, -8, 2, (uint64_t[]){3, 2}); /* b -> c -8 */
    sample(b, 3, 2, (uint64_t[]){6, 4});  /* d -> b 3, b -> e 3: b's cum is 0, flat 0 */
    sample(b, 2, 2, (uint64_t[]){1, 3});  /* c -> a 2 - 2 */
    sample(b, -2, 2, (uint64_t[]){1, 3});
    check_edges(b, "negative", "GO PREPROFILE V1\nd\nb\n1 3\nc\na\n1 0\n");

    b = cpu_profile();
    pbuild_function(b, 1, "a", "a.go", 1);
    pbuild_function(b, 2, "b", "a.go", 10);
    pbuild_function(b, 3, "c", "a.go", 20);
    loc1(b, 1, 0x10, 1, 2);
    loc1(b, 2, 0x20, 2, 11);
    loc1(b, 3, 0x30, 3, 21);
    sample(b, 4, 2, (uint64_t[]){1, 2});
    sample(b, -4, 2, (uint64_t[]){2, 3});
    check_edges(b, "total_zero", "GO PREPROFILE V1\n");
}

/* Ties: weight descending, then caller, callee byte-wise (upper case first, a prefix
 * first), then offset; one caller line reached from two addresses is one named edge. */
static void test_ties(void)
{
    struct pbuild *b = cpu_profile();
    pbuild_function(b, 1, "x", "a.go", 1);
    pbuild_function(b, 2, "ab", "a.go", 10);
    pbuild_function(b, 3, "abc", "a.go", 20);
    pbuild_function(b, 4, "B", "a.go", 30);
    loc1(b, 1, 0x10, 1, 2);
    loc1(b, 2, 0x20, 2, 11);
    loc1(b, 3, 0x30, 2, 12);
    loc1(b, 4, 0x40, 3, 21);
    loc1(b, 5, 0x50, 4, 31);
    loc1(b, 6, 0x60, 2, 11); /* ab:11 again, another address */
    sample(b, 1, 2, (uint64_t[]){1, 2});
    sample(b, 1, 2, (uint64_t[]){1, 6});
    sample(b, 1, 2, (uint64_t[]){1, 3});
    sample(b, 1, 2, (uint64_t[]){1, 4});
    sample(b, 1, 2, (uint64_t[]){1, 5});
    sample(b, 2, 2, (uint64_t[]){5, 2});
    check_edges(b, "ties",
                "GO PREPROFILE V1\n"
                "ab\nB\n1 2\n"
                "ab\nx\n1 2\n"
                "B\nx\n1 1\n"
                "ab\nx\n2 1\n"
                "abc\nx\n1 1\n");
}

/* The 99% cut: the first edge at which the cumulative weight exceeds 99% is the last hot. */
static void test_hot_cut(void)
{
    static const int64_t ws[][4] = {{990, 9, 1, 0}, {50, 49, 1, 0}, {995, 4, 1, 0}, {7, 0, 0, 0}};
    static const size_t want[] = {2, 3, 1, 1};
    for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) {
        struct pbuild *b = cpu_profile();
        pbuild_function(b, 1, "leaf", "a.go", 1);
        for (uint64_t i = 0; i < 4; i++) {
            char name[16];
            snprintf(name, sizeof name, "c%" PRIu64, i);
            pbuild_function(b, 2 + i, name, "a.go", 10);
            loc1(b, 2 + i, 0x20 + i, 2 + i, 11);
        }
        loc1(b, 1, 0x10, 1, 2);
        for (uint64_t i = 0; i < 4; i++)
            if (ws[k][i]) sample(b, ws[k][i], 2, (uint64_t[]){1, 2 + i});
        struct cpgo_err err = {0};
        struct cpgo_pgograph *g = NULL;
        char *t = edges_of(b, "hot", &g, &err);
        CHECK(t && g);
        if (g) {
            CHECK_EQ_INT(g->nhot, want[k]);
            CHECK_EQ_INT(g->total, ws[k][0] + ws[k][1] + ws[k][2]);
        }
        free(t);
        cpgo_pgograph_free(g);
        pbuild_free(b);
    }
}

/* No start line on any graph node: Go's error, word for word. A start line only on a
 * function no sample reaches does not count. */
static void test_start_line(void)
{
    struct pbuild *b = cpu_profile();
    pbuild_function(b, 1, "f", "a.go", 0);
    pbuild_function(b, 2, "g", "a.go", 0);
    pbuild_function(b, 3, "unused", "a.go", 5);
    loc1(b, 1, 0x10, 1, 2);
    loc1(b, 2, 0x20, 2, 11);
    loc1(b, 3, 0x30, 3, 6);
    sample(b, 6, 2, (uint64_t[]){1, 2});
    check_error(b, "no_start_line", CPGO_E_INCOMPAT,
                "profile missing Function.start_line data (Go version of profiled application "
                "too old? Go 1.20+ automatically adds this to profiles)");

    /* one node with a start line is enough; the others' offsets are their absolute lines */
    b = cpu_profile();
    pbuild_function(b, 1, "f", "a.go", 1);
    pbuild_function(b, 2, "g", "a.go", 0);
    loc1(b, 1, 0x10, 1, 2);
    loc1(b, 2, 0x20, 2, 11);
    sample(b, 6, 2, (uint64_t[]){1, 2});
    check_edges(b, "some_start_line", "GO PREPROFILE V1\ng\nf\n11 6\n");
}

/* The value: the first samples/count or cpu/nanoseconds type, wherever it is. */
static void test_sample_type(void)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "alloc_objects", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_sample_type(b, "samples", "count");
    pbuild_function(b, 1, "f", "a.go", 1);
    pbuild_function(b, 2, "g", "a.go", 10);
    loc1(b, 1, 0x10, 1, 2);
    loc1(b, 2, 0x20, 2, 11);
    pbuild_sample(b, 2, (uint64_t[]){1, 2}, 3, (int64_t[]){100, 30, 3});
    check_edges(b, "sample_type", "GO PREPROFILE V1\ng\nf\n1 30\n");

    b = pbuild_new();
    pbuild_sample_type(b, "alloc_objects", "count");
    pbuild_sample_type(b, "cpu", "nanosecond");
    pbuild_function(b, 1, "f", "a.go", 1);
    loc1(b, 1, 0x10, 1, 2);
    pbuild_sample(b, 1, (uint64_t[]){1}, 2, (int64_t[]){1, 2});
    check_error(b, "no_sample_type", CPGO_E_INCOMPAT,
                "profile does not contain a sample index with value/type \"samples/count\" or "
                "cpu/nanoseconds\"");
}

/* Go's int64 sums wrap; C's would be undefined (UBSan checks this in the sanitizer build). */
static void test_wrap(void)
{
    struct pbuild *b = cpu_profile();
    pbuild_function(b, 1, "f", "a.go", 1);
    pbuild_function(b, 2, "g", "a.go", 10);
    loc1(b, 1, 0x10, 1, 2);
    loc1(b, 2, 0x20, 2, 11);
    int64_t big = INT64_MAX;
    pbuild_sample(b, 2, (uint64_t[]){1, 2}, 2, (int64_t[]){big, 1});
    pbuild_sample(b, 2, (uint64_t[]){1, 2}, 2, (int64_t[]){2, 1});
    /* INT64_MAX + 2 = INT64_MIN + 1 */
    check_edges(b, "wrap", "GO PREPROFILE V1\ng\nf\n1 -9223372036854775807\n");
}

/* Ids that are not 1..n, and two functions with one name and start line: one node. */
static void test_sparse_ids(void)
{
    struct pbuild *b = cpu_profile();
    pbuild_function(b, 70, "f", "a.go", 1);
    pbuild_function(b, 50, "f", "other.go", 1);
    pbuild_function(b, 9, "g", "a.go", 10);
    loc1(b, 900, 0x10, 70, 2);
    loc1(b, 800, 0x10, 50, 2);
    loc1(b, 7, 0x20, 9, 11);
    sample(b, 1, 2, (uint64_t[]){900, 7});
    sample(b, 2, 2, (uint64_t[]){800, 7});
    check_edges(b, "sparse_ids", "GO PREPROFILE V1\ng\nf\n1 3\n");
}

static struct cpgo_pgograph *graph_of(const int64_t *w, size_t n)
{
    struct pbuild *b = cpu_profile();
    pbuild_function(b, 1, "leaf", "a.go", 1);
    loc1(b, 1, 0x10, 1, 2);
    for (uint64_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%" PRIu64, i);
        pbuild_function(b, 2 + i, name, "a.go", 10);
        loc1(b, 2 + i, 0x20 + i, 2 + i, 11);
        if (w[i]) sample(b, w[i], 2, (uint64_t[]){1, 2 + i});
    }
    struct cpgo_err err = {0};
    struct cpgo_pgograph *g = NULL;
    if (n == 0) {
        cpgo_pgograph_empty(&g, &err);
    } else if (cpgo_pgograph_build(pbuild_pb(b), &g, &err)) {
        fprintf(stderr, "graph_of: %s\n", err.text);
    }
    pbuild_free(b);
    return g;
}

static int near(double a, double b)
{
    return a - b < 1e-12 && b - a < 1e-12;
}

static void test_tvd(void)
{
    struct cpgo_pgograph *a = graph_of((int64_t[]){60, 40}, 2);
    struct cpgo_pgograph *b = graph_of((int64_t[]){30, 20}, 2);     /* same shares */
    struct cpgo_pgograph *c = graph_of((int64_t[]){40, 40, 20}, 3); /* c2 new */
    struct cpgo_pgograph *d = graph_of((int64_t[]){0, 0, 0, 5}, 4); /* disjoint */
    struct cpgo_pgograph *e = graph_of(NULL, 0);
    struct cpgo_pgograph *f = graph_of(NULL, 0);
    CHECK(a && b && c && d && e && f);
    if (a && b && c && d && e && f) {
        CHECK(cpgo_pgograph_tvd(a, a) == 0.0);
        CHECK(cpgo_pgograph_tvd(a, b) == 0.0);
        /* |.6-.4| + |.4-.4| + |0-.2| = .4 -> .2 */
        CHECK(near(cpgo_pgograph_tvd(a, c), 0.2));
        CHECK(near(cpgo_pgograph_tvd(c, a), 0.2));
        CHECK(cpgo_pgograph_tvd(a, d) == 1.0);
        CHECK(cpgo_pgograph_tvd(a, e) == 1.0);
        CHECK(cpgo_pgograph_tvd(e, a) == 1.0);
        CHECK(cpgo_pgograph_tvd(e, f) == 0.0);
    }
    cpgo_pgograph_free(a);
    cpgo_pgograph_free(b);
    cpgo_pgograph_free(c);
    cpgo_pgograph_free(d);
    cpgo_pgograph_free(e);
    cpgo_pgograph_free(f);
}

static void test_hot_diff(void)
{
    /* from: c0 90, c1 9.5 (hot: 90 < 99 < 99.5), c2 0.5 (cold) */
    struct cpgo_pgograph *from = graph_of((int64_t[]){1800, 190, 10, 0}, 4);
    /* to: c0 50, c2 45, c3 5: all hot; c1 gone */
    struct cpgo_pgograph *to = graph_of((int64_t[]){500, 0, 450, 50}, 4);
    struct cpgo_pgograph *empty = graph_of(NULL, 0);
    CHECK(from && to && empty);
    if (!from || !to || !empty) return;
    CHECK_EQ_INT(from->nhot, 2);
    CHECK_EQ_INT(to->nhot, 3);
    struct cpgo_pgo_edge_change *ad = NULL, *rm = NULL;
    size_t na = 9, nr = 9;
    struct cpgo_err err = {0};
    CHECK_EQ_INT(cpgo_pgograph_hot_diff(from, to, &ad, &na, &rm, &nr, &err), 0);
    CHECK_EQ_INT(na, 2);
    CHECK_EQ_INT(nr, 1);
    if (na == 2 && nr == 1) {
        CHECK(!strcmp(ad[0].e->caller, "c2") && near(ad[0].share, 0.45));
        CHECK(!strcmp(ad[1].e->caller, "c3") && near(ad[1].share, 0.05));
        CHECK(!strcmp(rm[0].e->caller, "c1") && near(rm[0].share, 0.095));
        CHECK(rm[0].e == &from->edges[1]);
        CHECK_EQ_INT(ad[0].e->offset, 1);
    }
    free(ad);
    free(rm);
    /* nothing changes against itself; everything is added against nothing */
    CHECK_EQ_INT(cpgo_pgograph_hot_diff(to, to, &ad, &na, &rm, &nr, &err), 0);
    CHECK(na == 0 && nr == 0 && !ad && !rm);
    CHECK_EQ_INT(cpgo_pgograph_hot_diff(empty, to, &ad, &na, &rm, &nr, &err), 0);
    CHECK(na == 3 && nr == 0);
    if (na == 3) CHECK(!strcmp(ad[0].e->caller, "c0") && near(ad[0].share, 0.5));
    free(ad);
    free(rm);
    cpgo_pgograph_free(from);
    cpgo_pgograph_free(to);
    cpgo_pgograph_free(empty);
}

/* The writer honours its buffer's ceiling. */
static void test_write_limit(void)
{
    struct cpgo_pgograph *g = graph_of((int64_t[]){5, 6}, 2);
    CHECK(g != NULL);
    if (!g) return;
    struct cpgo_buf out;
    cpgo_buf_init(&out, 20);
    struct cpgo_err err = {0};
    CHECK_EQ_INT(cpgo_pgograph_write(g, &out, &err), CPGO_E_LIMIT);
    CHECK_STR_CONTAINS(err.text, "limit");
    cpgo_buf_free(&out);
    cpgo_pgograph_free(g);
}

int main(void)
{
    test_inline();
    test_recursion();
    test_single_frame();
    test_no_function();
    test_zero_weight();
    test_negative();
    test_ties();
    test_hot_cut();
    test_start_line();
    test_sample_type();
    test_wrap();
    test_sparse_ids();
    test_tvd();
    test_hot_diff();
    test_write_limit();
    CHECK_DONE();
}
