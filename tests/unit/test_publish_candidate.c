/* Unit tests for publish/candidate: the stamp (written, read back, the newest of several,
 * malformed ones ignored), the age and the decay factor (a clock that went back is age 0),
 * the window text, Go PGO's checks (no edge, no start line), and the min_change decision
 * against the existing file and against the open proposal. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pbuild.h"
#include "publish/candidate.h"

static struct cpgo_limits lim;

/* A CPU profile: main.a -> main.b (count n) and, with `other`, main.c -> main.d (count m). */
static struct cpgo_profile *prof(int64_t n, int64_t m, const char *comment, int start_lines,
                                 int single_frames)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_period(b, "cpu", "nanoseconds", 10000000);
    if (comment) pbuild_comment(b, comment);
    const char *names[] = {"main.a", "main.b", "main.c", "main.d"};
    for (uint64_t i = 0; i < 4; i++) {
        pbuild_function(b, i + 1, names[i], "main.go", start_lines ? (int64_t)(10 * i + 10) : 0);
        uint64_t f = i + 1;
        int64_t line = (int64_t)(10 * i + 12);
        pbuild_location(b, i + 1, 0, 0, 1, &f, &line);
    }
    uint64_t ab[] = {2, 1}, cd[] = {4, 3}, a1[] = {1};
    int64_t v1[] = {n, n * 10000000}, v2[] = {m, m * 10000000};
    if (single_frames) {
        pbuild_sample(b, 1, a1, 2, v1);
    } else {
        if (n) pbuild_sample(b, 2, ab, 2, v1);
        if (m) pbuild_sample(b, 2, cd, 2, v2);
    }
    struct cpgo_buf out;
    pbuild_encode(b, 0, &out);
    pbuild_free(b);
    struct cpgo_profile *p = NULL;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_profile_decode(out.data, out.len, &lim, &p, &err), 0);
    cpgo_buf_free(&out);
    return p;
}

struct fold {
    const struct cpgo_profile *p;
};

static int fold(void *arg, struct cpgo_merger *m, struct cpgo_err *err)
{
    return cpgo_merge_add(m, ((struct fold *)arg)->p, err);
}

static int64_t first_value(const struct cpgo_profile *p, const char *caller)
{
    int64_t t = 0;
    for (size_t i = 0; i < p->pb->n_sample; i++) {
        const Perftools__Profiles__Sample *s = p->pb->sample[i];
        if (s->n_location_id < 2) continue;
        int64_t li = cpgo_id_lookup(&p->location_ids, s->location_id[1]);
        const Perftools__Profiles__Location *l = p->pb->location[li];
        int64_t fi = cpgo_id_lookup(&p->function_ids, l->line[0]->function_id);
        size_t n;
        const char *name = cpgo_profile_str(p->pb, p->pb->function[fi]->name, &n);
        /* table strings are not NUL-terminated: compare with the length */
        if (n == strlen(caller) && !memcmp(name, caller, n)) t += s->value[0];
    }
    return t;
}

int main(void)
{
    cpgo_limits_default(&lim);
    struct cpgo_err err;

    /* the stamp: the newest of several wins, malformed ones are ignored */
    struct cpgo_profile *s = prof(1, 0, "cpgo-written: 2026-12-01T10:00:00Z", 1, 0);
    CHECK_EQ_INT(cpgo_candidate_stamp_time(s->pb), 1796119200);
    cpgo_profile_free(s);
    s = prof(1, 0, "cpgo-written: 2026-12-01T12:00:00+02:00", 1, 0);
    CHECK_EQ_INT(cpgo_candidate_stamp_time(s->pb), 1796119200);
    cpgo_profile_free(s);
    const char *bad[] = {"cpgo-written: yesterday", "cpgo-written: 2026-13-01T00:00:00Z",
                         "cpgo-written: 2026-12-01T10:00:00",
                         "cpgo-written:", "other: 2026-12-01T10:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s = prof(1, 0, bad[i], 1, 0);
        CHECK_EQ_INT(cpgo_candidate_stamp_time(s->pb), -1);
        cpgo_profile_free(s);
    }

    /* the factor: exact halves; identity without a half-life, at age 0 and below */
    double f;
    struct cpgo_scale sc = cpgo_candidate_decay(2 * 86400, 86400000, 1, &f);
    CHECK(f == 0.25);
    CHECK(sc.num * 4 == sc.den && sc.decay_seed != 0);
    sc = cpgo_candidate_decay(0, 86400000, 1, &f);
    CHECK(f == 1.0 && sc.num == sc.den);
    sc = cpgo_candidate_decay(-5, 86400000, 1, &f);
    CHECK(f == 1.0 && sc.num == sc.den);
    sc = cpgo_candidate_decay(86400, 0, 1, &f);
    CHECK(f == 1.0 && sc.num == sc.den);

    char w[128];
    cpgo_candidate_window(168 * 3600 * 1000LL, w, sizeof w);
    CHECK(!strcmp(w, "90% of the weight is from the last 23 days"));
    cpgo_candidate_window(3600 * 1000LL, w, sizeof w);
    CHECK(!strcmp(w, "90% of the weight is from the last 3 hours"));

    /* a build: existing (stamped two half-lives ago) decayed by 1/4, pending added, stamped
     * now; the edge change is against the existing file */
    const int64_t now = 1796119200 + 2 * 86400;
    struct cpgo_pgo_policy pol = {.half_life_ms = 86400000};
    struct cpgo_profile *old = prof(400, 0, "cpgo-written: 2026-12-01T10:00:00Z", 1, 0);
    struct cpgo_profile *neu = prof(0, 100, NULL, 1, 0);
    struct fold fa = {neu};
    struct cpgo_candidate_in in = {
        .pgo = &pol, .lim = &lim, .now_s = now, .existing = old, .fold = fold, .fold_arg = &fa};
    struct cpgo_candidate c;
    CHECK_EQ_INT(cpgo_candidate_build(&in, &c, &err), 0);
    CHECK(c.age_from == CPGO_AGE_STAMP && c.age_s == 2 * 86400 && c.decay == 0.25);
    CHECK_EQ_INT(first_value(c.neu, "main.a"), 100);
    CHECK_EQ_INT(first_value(c.neu, "main.c"), 100);
    CHECK_EQ_INT(cpgo_candidate_stamp_time(c.neu->pb), now);
    CHECK(c.worth && c.ref != NULL && c.tvd > 0.49 && c.tvd < 0.51);
    CHECK(c.nadded == 1 && c.nremoved == 0);
    cpgo_candidate_free(&c);

    /* a clock that went back: age 0, nothing scaled */
    in.now_s = 1796119200 - 3600;
    CHECK_EQ_INT(cpgo_candidate_build(&in, &c, &err), 0);
    CHECK(c.age_s == 0 && c.decay == 1.0);
    CHECK_EQ_INT(first_value(c.neu, "main.a"), 400);
    cpgo_candidate_free(&c);

    /* without a stamp the caller's time is the age (the last commit that changed it) */
    struct cpgo_profile *plain = prof(400, 0, NULL, 1, 0);
    in.existing = plain;
    in.existing_changed_s = now - 86400;
    in.now_s = now;
    CHECK_EQ_INT(cpgo_candidate_build(&in, &c, &err), 0);
    CHECK(c.age_from == CPGO_AGE_FALLBACK && c.decay == 0.5);
    CHECK_EQ_INT(first_value(c.neu, "main.a"), 200);
    cpgo_candidate_free(&c);
    in.existing_changed_s = 0; /* and without either: no decay */
    CHECK_EQ_INT(cpgo_candidate_build(&in, &c, &err), 0);
    CHECK(c.age_from == CPGO_AGE_NONE && c.decay == 1.0);
    cpgo_candidate_free(&c);

    /* min_change: the same shape again is below 5%; a shifted hot spot is not */
    pol.half_life_ms = 0;
    pol.min_change_ppm = 50000;
    struct cpgo_profile *same = prof(40, 0, NULL, 1, 0);
    fa.p = same;
    in.existing = plain;
    CHECK_EQ_INT(cpgo_candidate_build(&in, &c, &err), 0);
    CHECK(!c.worth && c.tvd < 1e-9 && strstr(c.why, "min_change") != NULL);
    cpgo_candidate_free(&c);
    fa.p = neu;
    CHECK_EQ_INT(cpgo_candidate_build(&in, &c, &err), 0);
    CHECK(c.worth);
    cpgo_candidate_free(&c);
    /* ... judged against the open proposal when there is one */
    struct cpgo_profile *prop = prof(400, 100, NULL, 1, 0);
    in.proposed = prop;
    struct cpgo_profile *more = prof(4, 1, NULL, 1, 0);
    fa.p = more;
    in.existing = plain;
    CHECK_EQ_INT(cpgo_candidate_build(&in, &c, &err), 0);
    /* existing 400:0 + 4:1 vs the proposal 400:100 -> a hot edge disappears: worth it */
    CHECK(c.worth && c.ref_is_proposal);
    cpgo_candidate_free(&c);
    in.existing = prop;
    fa.p = more; /* 404:101 vs 400:100: tiny */
    CHECK_EQ_INT(cpgo_candidate_build(&in, &c, &err), 0);
    CHECK(!c.worth && c.ref_is_proposal);
    cpgo_candidate_free(&c);
    in.proposed = NULL;

    /* Go's PGO would ignore a candidate without edges, reject one without start lines */
    pol.min_change_ppm = 0;
    struct cpgo_profile *single = prof(5, 0, NULL, 1, 1);
    in.existing = NULL;
    fa.p = single;
    CHECK(cpgo_candidate_build(&in, &c, &err) == CPGO_E_INPUT);
    CHECK(strstr(err.text, "no call edges") != NULL && c.failed == CPGO_CAND_PGO);
    cpgo_candidate_free(&c);
    struct cpgo_profile *nostart = prof(5, 0, NULL, 0, 0);
    fa.p = nostart;
    CHECK(cpgo_candidate_build(&in, &c, &err) == CPGO_E_INPUT);
    CHECK(strstr(err.text, "start line") != NULL);
    cpgo_candidate_free(&c);

    struct cpgo_profile *all[] = {old, neu, plain, same, prop, more, single, nostart};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cpgo_profile_free(all[i]);
    CHECK_DONE();
}
