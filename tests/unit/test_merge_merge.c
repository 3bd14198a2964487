/* Unit tests for merge/merge: pprof's Merge semantics, properties, trimming. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "check.h"
#include "merge/merge.h"
#include "pbuild.h"
#include "profile/shape.h"

static struct cpgo_limits lim;

static struct cpgo_profile *dec(const struct cpgo_buf *b)
{
    struct cpgo_profile *p = NULL;
    struct cpgo_err err;
    if (cpgo_profile_decode(b->data, b->len, &lim, &p, &err)) {
        fprintf(stderr, "decode: %s\n", err.text);
        abort();
    }
    return p;
}

static struct cpgo_buf enc(struct pbuild *b)
{
    struct cpgo_buf out;
    pbuild_encode(b, 1, &out);
    return out;
}

/* Merges inputs; returns the code; *out gets raw bytes on success. */
static int merge_n(const struct cpgo_merge_opts *o, size_t n, struct cpgo_buf *in,
                   struct cpgo_buf *out, struct cpgo_err *err)
{
    struct cpgo_merger *m;
    cpgo_merge_new(&m, o);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        struct cpgo_profile *p = dec(&in[i]);
        rc = cpgo_merge_add(m, p, err);
        cpgo_profile_free(p);
    }
    if (!rc) rc = cpgo_merge_encode(m, 1, 1, out, err);
    cpgo_merge_free(m);
    return rc;
}

static char *canon_of(const struct cpgo_buf *b, int with_addr)
{
    struct cpgo_profile *p = dec(b);
    char *s = canon_dump(p, with_addr);
    cpgo_profile_free(p);
    return s;
}

static int buf_eq(const struct cpgo_buf *a, const struct cpgo_buf *b)
{
    return a->len == b->len && !memcmp(a->data, b->data, a->len);
}

static struct pbuild *cpu_profile(void)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_period(b, "cpu", "nanoseconds", 10000000);
    return b;
}

int main(void)
{
    cpgo_limits_default(&lim);
    struct cpgo_err err;
    struct cpgo_merge_opts plain;
    memset(&plain, 0, sizeof plain);

    /* --- properties on generated profiles --------------------------------------------- */
    struct cpgo_buf g[3];
    for (int i = 0; i < 3; i++) {
        struct pbuild *b = pbuild_golike((uint64_t)i + 1, 3000, 800, 300, 1);
        if (i == 2) pbuild_comment(b, "third");
        g[i] = enc(b);
        pbuild_free(b);
    }
    struct cpgo_buf ab, ba, abc, a_bc, bc, tmp2[2];
    CHECK_EQ_INT(merge_n(&plain, 2, g, &ab, &err), 0);
    tmp2[0] = g[1];
    tmp2[1] = g[0];
    CHECK_EQ_INT(merge_n(&plain, 2, tmp2, &ba, &err), 0);
    char *cab = canon_of(&ab, 1), *cba = canon_of(&ba, 1);
    CHECK(!strcmp(cab, cba)); /* order independence */
    CHECK_EQ_INT(merge_n(&plain, 3, g, &abc, &err), 0);
    CHECK_EQ_INT(merge_n(&plain, 2, g + 1, &bc, &err), 0);
    tmp2[0] = g[0];
    tmp2[1] = bc;
    CHECK_EQ_INT(merge_n(&plain, 2, tmp2, &a_bc, &err), 0);
    char *c1 = canon_of(&abc, 1), *c2 = canon_of(&a_bc, 1);
    CHECK(!strcmp(c1, c2)); /* associativity */
    free(c1);
    free(c2);
    /* determinism: same inputs, same order -> same bytes */
    struct cpgo_buf ab2;
    CHECK_EQ_INT(merge_n(&plain, 2, g, &ab2, &err), 0);
    CHECK(buf_eq(&ab, &ab2));
    /* compaction is idempotent, to the byte */
    struct cpgo_buf ab_again;
    CHECK_EQ_INT(merge_n(&plain, 1, &ab, &ab_again, &err), 0);
    CHECK(buf_eq(&ab, &ab_again));
    /* merging with an empty profile (same types, same time) changes nothing but duration */
    struct pbuild *e = cpu_profile();
    pbuild_times(e, 1700000000000000000LL + 1000000000LL, 0);
    struct cpgo_buf eb = enc(e), a_e, tmp[2] = {g[0], eb};
    pbuild_free(e);
    CHECK_EQ_INT(merge_n(&plain, 2, tmp, &a_e, &err), 0);
    struct cpgo_buf a1;
    CHECK_EQ_INT(merge_n(&plain, 1, g, &a1, &err), 0);
    CHECK(buf_eq(&a_e, &a1));
    /* memory follows the result: 50 copies of one input -> the same entity counts */
    struct cpgo_merger *m;
    cpgo_merge_new(&m, &plain);
    struct cpgo_profile *pa = dec(&g[0]);
    for (int i = 0; i < 50; i++)
        CHECK_EQ_INT(cpgo_merge_add(m, pa, &err), 0);
    struct cpgo_merged *r;
    CHECK_EQ_INT(cpgo_merge_result(m, &r, &err), 0);
    struct cpgo_profile *p1 = dec(&a1);
    CHECK_EQ_INT(r->pb.n_sample, p1->pb->n_sample);
    CHECK_EQ_INT(r->pb.n_location, p1->pb->n_location);
    CHECK_EQ_INT(r->pb.duration_nanos, 50 * pa->pb->duration_nanos);
    CHECK_EQ_INT(r->pb.sample[0]->value[0], 50 * p1->pb->sample[0]->value[0]);
    cpgo_profile_free(p1);
    cpgo_merged_free(r);
    cpgo_merge_free(m);
    cpgo_profile_free(pa);
    free(cab);
    free(cba);
    cpgo_buf_free(&ab);
    cpgo_buf_free(&ba);
    cpgo_buf_free(&abc);
    cpgo_buf_free(&bc);
    cpgo_buf_free(&a_bc);
    cpgo_buf_free(&ab2);
    cpgo_buf_free(&ab_again);
    cpgo_buf_free(&eb);
    cpgo_buf_free(&a_e);
    cpgo_buf_free(&a1);

    /* --- header rules ------------------------------------------------------------------ */
    struct pbuild *h[3];
    int64_t times[3] = {500, 300, 0}, periods[3] = {10, 30, 20};
    for (int i = 0; i < 3; i++) {
        h[i] = cpu_profile();
        pbuild_period(h[i], "cpu", "nanoseconds", periods[i]);
        pbuild_times(h[i], times[i], 10 * (i + 1));
        pbuild_function(h[i], 1, "f", "f.go", 1);
        uint64_t fid[] = {1};
        int64_t ln[] = {2};
        pbuild_location(h[i], 1, 0, 0, 1, fid, ln);
        uint64_t st[] = {1};
        int64_t v[] = {1, 1};
        pbuild_sample(h[i], 1, st, 2, v);
    }
    pbuild_comment(h[0], "c1");
    pbuild_comment(h[1], "c2");
    pbuild_comment(h[1], "c1");
    pbuild_default_type(h[1], "cpu");
    struct cpgo_buf hb[3];
    for (int i = 0; i < 3; i++)
        hb[i] = enc(h[i]);
    struct cpgo_buf hm;
    CHECK_EQ_INT(merge_n(&plain, 2, hb, &hm, &err), 0);
    struct cpgo_profile *hp = dec(&hm);
    CHECK_EQ_INT(hp->pb->time_nanos, 300);    /* earliest */
    CHECK_EQ_INT(hp->pb->duration_nanos, 30); /* sum */
    CHECK_EQ_INT(hp->pb->period, 30);         /* max */
    CHECK_EQ_INT(hp->pb->n_comment, 2);       /* de-duplicated union, first-seen order */
    char *hc = canon_dump(hp, 0);
    CHECK_STR_CONTAINS(hc, "comments: [c1] [c2]");
    CHECK_STR_CONTAINS(hc, "default_sample_type: cpu");
    CHECK_STR_CONTAINS(hc, "{} <f;f;f.go;1:2:0> = 2 2");
    free(hc);
    cpgo_profile_free(hp);
    cpgo_buf_free(&hm);
    /* pprof's quirk: a zero time in the last input wins */
    CHECK_EQ_INT(merge_n(&plain, 3, hb, &hm, &err), 0);
    hp = dec(&hm);
    CHECK_EQ_INT(hp->pb->time_nanos, 0);
    cpgo_profile_free(hp);
    cpgo_buf_free(&hm);
    for (int i = 0; i < 3; i++) {
        cpgo_buf_free(&hb[i]);
        pbuild_free(h[i]);
    }

    /* --- compatibility ------------------------------------------------------------------- */
    struct pbuild *heap = pbuild_new();
    pbuild_sample_type(heap, "alloc_objects", "count");
    pbuild_sample_type(heap, "alloc_space", "bytes");
    pbuild_period(heap, "space", "bytes", 524288);
    struct cpgo_buf inc[2] = {g[0], enc(heap)};
    CHECK_EQ_INT(merge_n(&plain, 2, inc, &hm, &err), CPGO_E_INCOMPAT);
    CHECK_STR_CONTAINS(err.text, "incompatible period types cpu/nanoseconds and space/bytes");
    pbuild_period(heap, "cpu", "nanoseconds", 1);
    cpgo_buf_free(&inc[1]);
    inc[1] = enc(heap);
    CHECK_EQ_INT(merge_n(&plain, 2, inc, &hm, &err), CPGO_E_INCOMPAT);
    CHECK_STR_CONTAINS(err.text, "incompatible sample types [samples/count cpu/nanoseconds] and "
                                 "[alloc_objects/count alloc_space/bytes]");
    struct cpgo_merge_opts compat = plain;
    compat.compat = 1;
    CHECK_EQ_INT(merge_n(&compat, 2, inc, &hm, &err), CPGO_E_INCOMPAT);
    CHECK_STR_CONTAINS(err.text, "no sample type in common");
    cpgo_buf_free(&inc[1]);
    pbuild_free(heap);

    /* compat keeps the common types, in the first input's order */
    struct pbuild *x = pbuild_new(), *y = pbuild_new();
    pbuild_sample_type(x, "samples", "count");
    pbuild_sample_type(x, "cpu", "nanoseconds");
    pbuild_sample_type(y, "wall", "nanoseconds");
    pbuild_sample_type(y, "cpu", "nanoseconds");
    pbuild_sample_type(y, "samples", "count");
    struct pbuild *xy[2] = {x, y};
    for (int i = 0; i < 2; i++) {
        pbuild_period(xy[i], "cpu", "nanoseconds", 10);
        pbuild_function(xy[i], 1, "f", "f.go", 1);
        uint64_t fid[] = {1};
        int64_t ln[] = {2};
        pbuild_location(xy[i], 1, 0, 0, 1, fid, ln);
        uint64_t st[] = {1};
        int64_t vx[] = {1, 10}, vy[] = {99, 20, 2};
        pbuild_sample(xy[i], 1, st, i ? 3 : 2, i ? vy : vx);
    }
    /* y also has a sample that is zero in the common types only */
    uint64_t st1[] = {1};
    int64_t vz[] = {5, 0, 0};
    pbuild_sample(y, 1, st1, 3, vz);
    pbuild_label(y, "only", "zero");
    struct cpgo_buf xyb[2] = {enc(x), enc(y)};
    CHECK_EQ_INT(merge_n(&plain, 2, xyb, &hm, &err), CPGO_E_INCOMPAT);
    CHECK_EQ_INT(merge_n(&compat, 2, xyb, &hm, &err), 0);
    hc = canon_of(&hm, 0);
    CHECK_STR_CONTAINS(hc, "types: samples/count cpu/nanoseconds\n");
    CHECK_STR_CONTAINS(hc, "{} <f;f;f.go;1:2:0> = 3 30\n");
    CHECK(!strstr(hc, "only=zero"));
    free(hc);
    cpgo_buf_free(&hm);
    for (int i = 0; i < 2; i++) {
        cpgo_buf_free(&xyb[i]);
        pbuild_free(xy[i]);
    }

    /* --- identity rules, zero samples and first-use ids ------------------------------------ */
    struct pbuild *q = cpu_profile();
    pbuild_mapping(q, 7, 0x400000, 0x500000, 0, "/bin/app", "bid");
    pbuild_mapping(q, 9, 0x7f0000, 0x7f1000, 0, "/lib/libc.so", "");
    pbuild_function(q, 5, "a", "a.go", 1);
    pbuild_function(q, 6, "b", "b.go", 1);
    uint64_t fa[] = {5, 6}, fb[] = {6};
    int64_t la[] = {3, 4}, lb[] = {8};
    /* locations 30 and 31 differ only in the column of their first line: one location */
    pbuild_location(q, 31, 9, 0x7f0010, 1, fb, lb);
    pbuild_location(q, 30, 7, 0x400100, 2, fa, la);
    pbuild_location(q, 32, 7, 0x400100, 2, fa, la);
    pbuild_pb(q)->location[2]->line[0]->column = 5;
    /* location 33 differs in the column of its last line: a location of its own */
    pbuild_location(q, 33, 7, 0x400100, 2, fa, la);
    pbuild_pb(q)->location[3]->line[1]->column = 9;
    uint64_t s_zero[] = {31}, s_a[] = {30, 31}, s_b[] = {32, 31}, s_c[] = {33, 31};
    int64_t z[] = {0, 0}, one[] = {1, 10}, neg[] = {-1, -10};
    pbuild_sample(q, 1, s_zero, 2, z); /* all-zero: dropped before anything is mapped */
    pbuild_sample(q, 2, s_a, 2, one);
    pbuild_label(q, "k", "v");
    pbuild_label(q, "a", "w");
    pbuild_sample(q, 2, s_b, 2, one); /* same key as the previous (labels in other order) */
    pbuild_label(q, "a", "w");
    pbuild_label(q, "k", "v");
    pbuild_sample(q, 2, s_c, 2, one);
    pbuild_sample(q, 2, s_c, 2, neg);     /* sums to zero: garbage-collected with location 33 */
    pbuild_numlabel(q, "bytes", 0, NULL); /* a label with nothing is dropped: same key */
    struct cpgo_buf qb = enc(q), qm;
    CHECK_EQ_INT(merge_n(&plain, 1, &qb, &qm, &err), 0);
    struct cpgo_profile *qp = dec(&qm);
    CHECK_EQ_INT(qp->pb->n_sample, 1);
    CHECK_EQ_INT(qp->pb->sample[0]->value[0], 2);
    CHECK_EQ_INT(qp->pb->n_location, 2);
    CHECK_EQ_INT(qp->pb->n_mapping, 2);
    /* the first input's first mapping is mapping 1, even though a sample used libc first */
    size_t ml;
    const char *mf = cpgo_profile_str(qp->pb, qp->pb->mapping[0]->filename, &ml);
    CHECK(ml == 8 && !memcmp(mf, "/bin/app", 8));
    /* locations numbered in order of first use: the sample's leaf first */
    CHECK_EQ_INT(qp->pb->location[0]->n_line, 2);
    CHECK_EQ_INT(qp->pb->sample[0]->location_id[0], 1);
    CHECK_EQ_INT(qp->pb->sample[0]->location_id[1], 2);
    CHECK_EQ_INT(qp->pb->n_function, 2);
    cpgo_profile_free(qp);
    cpgo_buf_free(&qm);

    /* --- trimming -------------------------------------------------------------------------- */
    struct cpgo_merge_opts trim = plain;
    trim.trim.drop_labels = 1;
    trim.trim.strip_addresses = 1;
    trim.trim.keep_frames = 2;
    struct cpgo_buf gt;
    CHECK_EQ_INT(merge_n(&trim, 1, &g[0], &gt, &err), 0);
    struct cpgo_profile *tp = dec(&gt), *op = dec(&g[0]);
    CHECK_EQ_INT(tp->pb->n_mapping, 0);
    int64_t tot_t = 0, tot_o = 0;
    for (size_t i = 0; i < tp->pb->n_sample; i++) {
        CHECK(tp->pb->sample[i]->n_location_id <= 2);
        CHECK(tp->pb->sample[i]->n_label == 0);
        tot_t += tp->pb->sample[i]->value[1];
    }
    for (size_t i = 0; i < op->pb->n_sample; i++)
        tot_o += op->pb->sample[i]->value[1];
    CHECK_EQ_INT(tot_t, tot_o);                 /* nothing deleted, nothing rescaled */
    CHECK(tp->pb->n_sample < op->pb->n_sample); /* newly identical samples folded */
    for (size_t i = 0; i < tp->pb->n_location; i++)
        for (size_t j = 0; j < tp->pb->location[i]->n_line; j++)
            CHECK_EQ_INT(tp->pb->location[i]->line[j]->column, 0);
    cpgo_profile_free(tp);
    cpgo_profile_free(op);
    /* trimming is idempotent */
    struct cpgo_buf gt2;
    CHECK_EQ_INT(merge_n(&trim, 1, &gt, &gt2, &err), 0);
    CHECK(buf_eq(&gt, &gt2));
    cpgo_buf_free(&gt);
    cpgo_buf_free(&gt2);

    /* strip keeps the addresses of a leaf/caller pair that would otherwise become one
     * graph node for the compiler (recursion on one line), and zeroes the rest */
    struct pbuild *rq = cpu_profile();
    pbuild_function(rq, 1, "fib", "f.go", 10);
    pbuild_function(rq, 2, "main", "m.go", 1);
    uint64_t ffib[] = {1}, fmain[] = {2};
    int64_t l12[] = {12}, l3[] = {3};
    pbuild_location(rq, 1, 0, 0x1000, 1, ffib, l12);
    pbuild_location(rq, 2, 0, 0x1010, 1, ffib, l12);
    pbuild_location(rq, 3, 0, 0x2000, 1, fmain, l3);
    uint64_t rs[] = {1, 2, 3};
    pbuild_sample(rq, 3, rs, 2, one);
    struct cpgo_buf rqb = enc(rq), rqm;
    struct cpgo_merge_opts strip = plain;
    strip.trim.strip_addresses = 1;
    CHECK_EQ_INT(merge_n(&strip, 1, &rqb, &rqm, &err), 0);
    struct cpgo_profile *rp = dec(&rqm);
    CHECK_EQ_INT(rp->pb->n_location, 3);
    CHECK_EQ_INT(rp->pb->location[0]->address, 0x1000);
    CHECK_EQ_INT(rp->pb->location[1]->address, 0x1010);
    CHECK_EQ_INT(rp->pb->location[2]->address, 0);
    cpgo_profile_free(rp);
    cpgo_buf_free(&rqm);
    cpgo_buf_free(&rqb);
    pbuild_free(rq);

    /* --- overflow: refused whole, the accumulator exactly as before ------------------------ */
    {
        /* a: f (INT64_MAX - 1, 1) and g (5, 5) */
        struct pbuild *a = cpu_profile();
        pbuild_times(a, 1000, 10);
        pbuild_function(a, 1, "f", "f.go", 1);
        pbuild_function(a, 2, "g", "g.go", 1);
        uint64_t f1[] = {1}, f2[] = {2};
        int64_t l1[] = {1};
        pbuild_location(a, 1, 0, 0, 1, f1, l1);
        pbuild_location(a, 2, 0, 0, 1, f2, l1);
        uint64_t sf[] = {1}, sg[] = {2};
        int64_t big[] = {INT64_MAX - 1, 1}, five[] = {5, 5};
        pbuild_sample(a, 1, sf, 2, big);
        pbuild_sample(a, 1, sg, 2, five);
        /* b: adds to g first (undo log), creates new function h, string, location and
         * sample, then overflows on f */
        struct pbuild *b = cpu_profile();
        pbuild_times(b, 500, 20);
        pbuild_comment(b, "from b");
        pbuild_function(b, 1, "g", "g.go", 1);
        pbuild_function(b, 2, "h", "h.go", 7);
        pbuild_function(b, 3, "f", "f.go", 1);
        pbuild_location(b, 1, 0, 0, 1, f1, l1);
        pbuild_location(b, 2, 0, 0, 1, f2, l1);
        uint64_t f3[] = {3};
        pbuild_location(b, 3, 0, 0, 1, f3, l1);
        uint64_t s1[] = {1}, s2[] = {2, 1}, s3[] = {3};
        int64_t two[] = {2, 2}, ovf[] = {2, 1};
        pbuild_sample(b, 1, s1, 2, two);
        pbuild_sample(b, 2, s2, 2, two);
        pbuild_label(b, "new", "label");
        pbuild_sample(b, 1, s3, 2, ovf);
        /* c: an ordinary input to merge after the refusal */
        struct pbuild *cc = cpu_profile();
        pbuild_function(cc, 1, "g", "g.go", 1);
        pbuild_location(cc, 1, 0, 0, 1, f1, l1);
        pbuild_sample(cc, 1, s1, 2, five);
        struct cpgo_buf ab3[3] = {enc(a), enc(b), enc(cc)};
        struct cpgo_profile *pa3 = dec(&ab3[0]), *pb3 = dec(&ab3[1]), *pc3 = dec(&ab3[2]);
        struct cpgo_merger *mo;
        cpgo_merge_new(&mo, &plain);
        CHECK_EQ_INT(cpgo_merge_add(mo, pa3, &err), 0);
        struct cpgo_buf before, after, ref, both;
        CHECK_EQ_INT(cpgo_merge_encode(mo, 1, 1, &before, &err), 0);
        CHECK_EQ_INT(cpgo_merge_add(mo, pb3, &err), CPGO_E_INPUT);
        CHECK_STR_CONTAINS(err.text, "sample 3's samples/count value (2)");
        CHECK_STR_CONTAINS(err.text, "overflows int64");
        CHECK_EQ_INT(cpgo_merge_count(mo), 1);
        CHECK_EQ_INT(cpgo_merge_nsamples(mo), 2);
        CHECK_EQ_INT(cpgo_merge_encode(mo, 1, 1, &after, &err), 0);
        CHECK(buf_eq(&before, &after)); /* to the byte: values, strings, header, comments */
        /* the index tables were rolled back too: merging on gives what a fresh merger does */
        CHECK_EQ_INT(cpgo_merge_add(mo, pc3, &err), 0);
        CHECK_EQ_INT(cpgo_merge_add(mo, pb3, &err), CPGO_E_INPUT);
        CHECK_EQ_INT(cpgo_merge_encode(mo, 1, 1, &both, &err), 0);
        struct cpgo_buf ac[2] = {ab3[0], ab3[2]};
        CHECK_EQ_INT(merge_n(&plain, 2, ac, &ref, &err), 0);
        CHECK(buf_eq(&both, &ref));
        char *cb = canon_of(&both, 1);
        CHECK(!strstr(cb, "h.go") && !strstr(cb, "from b") && !strstr(cb, "new=label"));
        CHECK_STR_CONTAINS(cb, "= 9223372036854775806 1\n"); /* f as a left it */
        free(cb);
        cpgo_merge_free(mo);
        /* cpgo merge a b: refused with the same code (exit 2 in the CLI) */
        struct cpgo_buf out3;
        CHECK_EQ_INT(merge_n(&plain, 2, ab3, &out3, &err), CPGO_E_INPUT);
        /* compat narrowing in the refused input is rolled back as well */
        struct pbuild *w = cpu_profile();
        pbuild_sample_type(w, "wall", "nanoseconds");
        pbuild_function(w, 1, "f", "f.go", 1);
        pbuild_location(w, 1, 0, 0, 1, f1, l1);
        int64_t big3[] = {INT64_MAX - 1, 1, 7};
        pbuild_sample(w, 1, s1, 3, big3);
        struct cpgo_buf wb = enc(w), wonly, wafter;
        struct cpgo_profile *pw = dec(&wb);
        struct cpgo_merge_opts cmp = plain;
        cmp.compat = 1;
        cpgo_merge_new(&mo, &cmp);
        CHECK_EQ_INT(cpgo_merge_add(mo, pw, &err), 0);
        CHECK_EQ_INT(cpgo_merge_add(mo, pb3, &err), CPGO_E_INPUT); /* narrows, then overflows */
        CHECK_EQ_INT(cpgo_merge_encode(mo, 1, 1, &wafter, &err), 0);
        CHECK_EQ_INT(merge_n(&cmp, 1, &wb, &wonly, &err), 0);
        CHECK(buf_eq(&wafter, &wonly));
        cpgo_merge_free(mo);
        /* duration overflow: refused, named */
        struct pbuild *d1 = cpu_profile(), *d2 = cpu_profile();
        pbuild_times(d1, 1, INT64_MAX - 5);
        pbuild_times(d2, 1, 10);
        struct cpgo_buf db[2] = {enc(d1), enc(d2)}, dout;
        CHECK_EQ_INT(merge_n(&plain, 2, db, &dout, &err), CPGO_E_INPUT);
        CHECK_STR_CONTAINS(err.text, "duration (10 ns)");
        for (int i = 0; i < 2; i++)
            cpgo_buf_free(&db[i]);
        pbuild_free(d1);
        pbuild_free(d2);
        cpgo_profile_free(pw);
        cpgo_buf_free(&wb);
        cpgo_buf_free(&wonly);
        cpgo_buf_free(&wafter);
        pbuild_free(w);
        cpgo_profile_free(pa3);
        cpgo_profile_free(pb3);
        cpgo_profile_free(pc3);
        cpgo_buf_free(&before);
        cpgo_buf_free(&after);
        cpgo_buf_free(&ref);
        cpgo_buf_free(&both);
        for (int i = 0; i < 3; i++)
            cpgo_buf_free(&ab3[i]);
        pbuild_free(a);
        pbuild_free(b);
        pbuild_free(cc);
    }

    /* --- a shape: the target's expected types decide, not the first input ------------------- */
    {
        struct cpgo_merge_opts shaped = plain;
        shaped.shape = &cpgo_shape_go_cpu;
        /* the same profile with its sample types (and values) in the other order */
        struct pbuild *rv = pbuild_golike(7, 2000, 500, 200, 1);
        struct cpgo_buf orig = enc(rv);
        cpgo_pb_profile *rpb = pbuild_pb(rv);
        Perftools__Profiles__ValueType *t0 = rpb->sample_type[0];
        rpb->sample_type[0] = rpb->sample_type[1];
        rpb->sample_type[1] = t0;
        for (size_t i = 0; i < rpb->n_sample; i++) {
            int64_t v0 = rpb->sample[i]->value[0];
            rpb->sample[i]->value[0] = rpb->sample[i]->value[1];
            rpb->sample[i]->value[1] = v0;
        }
        struct cpgo_buf rev = enc(rv);
        /* pprof's rule refuses the mix */
        struct cpgo_buf mix[2] = {orig, rev}, mixr[2] = {rev, orig}, oo[2] = {orig, orig};
        struct cpgo_buf r1, r2, r3, r4, r5;
        CHECK_EQ_INT(merge_n(&plain, 2, mix, &r1, &err), CPGO_E_INCOMPAT);
        /* lossless: merging the reordered profile is merging the original, in either order */
        CHECK_EQ_INT(merge_n(&shaped, 2, mix, &r1, &err), 0);
        CHECK_EQ_INT(merge_n(&shaped, 2, mixr, &r2, &err), 0);
        CHECK_EQ_INT(merge_n(&shaped, 2, oo, &r3, &err), 0);
        CHECK(buf_eq(&r1, &r3));
        CHECK(buf_eq(&r2, &r3));
        CHECK_EQ_INT(merge_n(&shaped, 1, &rev, &r4, &err), 0);
        CHECK_EQ_INT(merge_n(&plain, 1, &orig, &r5, &err), 0);
        CHECK(buf_eq(&r4, &r5));
        struct cpgo_profile *p4 = dec(&r4);
        size_t lt;
        CHECK(!strcmp(cpgo_profile_str(p4->pb, p4->pb->sample_type[0]->type, &lt), "samples"));
        cpgo_profile_free(p4);
        cpgo_buf_free(&r1);
        cpgo_buf_free(&r2);
        cpgo_buf_free(&r3);
        cpgo_buf_free(&r4);
        cpgo_buf_free(&r5);

        /* other sets and period types are refused alone; a bad first input never becomes the
         * reference: the honest one after it is accepted */
        const char *bad[][4] = {
            {"samples", "count", NULL, NULL},
            {"samples", "count", "samples", "count"},
            {"cpu", "nanoseconds", "wall", "nanoseconds"},
            {"samples", "count", "cpu", "microseconds"},
        };
        struct cpgo_profile *honest = dec(&orig);
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            struct pbuild *x3 = pbuild_new();
            pbuild_sample_type(x3, bad[k][0], bad[k][1]);
            if (bad[k][2]) pbuild_sample_type(x3, bad[k][2], bad[k][3]);
            pbuild_period(x3, "cpu", "nanoseconds", 1);
            pbuild_function(x3, 1, "f", "f.go", 1);
            uint64_t fid[] = {1}, sid[] = {1};
            int64_t ln[] = {1}, vals[] = {1, 1};
            pbuild_location(x3, 1, 0, 0, 1, fid, ln);
            pbuild_sample(x3, 1, sid, bad[k][2] ? 2 : 1, vals);
            struct cpgo_buf xb = enc(x3);
            struct cpgo_profile *px = dec(&xb);
            struct cpgo_merger *sm;
            cpgo_merge_new(&sm, &shaped);
            CHECK_EQ_INT(cpgo_merge_add(sm, px, &err), CPGO_E_INCOMPAT);
            CHECK_STR_CONTAINS(err.text, "expected [samples/count cpu/nanoseconds]");
            CHECK_EQ_INT(cpgo_merge_count(sm), 0);
            CHECK_EQ_INT(cpgo_merge_add(sm, honest, &err), 0);
            CHECK_EQ_INT(cpgo_merge_add(sm, px, &err), CPGO_E_INCOMPAT);
            CHECK_EQ_INT(cpgo_merge_add(sm, honest, &err), 0);
            CHECK_EQ_INT(cpgo_merge_count(sm), 2);
            cpgo_merge_free(sm);
            cpgo_profile_free(px);
            cpgo_buf_free(&xb);
            pbuild_free(x3);
        }
        struct pbuild *hp2 = cpu_profile();
        pbuild_period(hp2, "space", "bytes", 1);
        struct cpgo_buf hb2 = enc(hp2), hout;
        CHECK_EQ_INT(merge_n(&shaped, 1, &hb2, &hout, &err), CPGO_E_INCOMPAT);
        CHECK_STR_CONTAINS(err.text, "period type space/bytes, expected cpu/nanoseconds");
        cpgo_buf_free(&hb2);
        pbuild_free(hp2);

        /* negative values: refused under the CPU shape (alone), kept by pprof's rule */
        struct pbuild *ng = cpu_profile();
        pbuild_function(ng, 1, "f", "f.go", 1);
        uint64_t fid[] = {1}, sid[] = {1};
        int64_t ln[] = {1}, okv[] = {1, 10}, negv[] = {1, -10};
        pbuild_location(ng, 1, 0, 0, 1, fid, ln);
        pbuild_sample(ng, 1, sid, 2, okv);
        pbuild_sample(ng, 1, sid, 2, negv);
        pbuild_label(ng, "k", "v");
        struct cpgo_buf nb = enc(ng), nout;
        struct cpgo_profile *pn = dec(&nb);
        struct cpgo_merger *sm;
        cpgo_merge_new(&sm, &shaped);
        CHECK_EQ_INT(cpgo_merge_add(sm, honest, &err), 0);
        CHECK_EQ_INT(cpgo_merge_add(sm, pn, &err), CPGO_E_INPUT);
        CHECK_STR_CONTAINS(err.text, "sample 2 has a negative cpu value (-10)");
        CHECK_EQ_INT(cpgo_merge_count(sm), 1);
        cpgo_merge_free(sm);
        CHECK_EQ_INT(merge_n(&plain, 1, &nb, &nout, &err), 0);
        cpgo_buf_free(&nout);
        cpgo_profile_free(pn);
        cpgo_buf_free(&nb);
        pbuild_free(ng);
        cpgo_profile_free(honest);
        cpgo_buf_free(&orig);
        cpgo_buf_free(&rev);
        pbuild_free(rv);
    }

    cpgo_buf_free(&qb);
    pbuild_free(q);
    for (int i = 0; i < 3; i++)
        cpgo_buf_free(&g[i]);
    CHECK_DONE();
}
