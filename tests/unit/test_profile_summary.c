/* Unit tests for profile/summary: totals, flat/cum, PGO usability. */
#include <stdint.h>

#include "check.h"
#include "pbuild.h"
#include "profile/summary.h"

/* Go PGO's needs, one rule for inspect, PR bodies and the daemon (cpgo_summary_pgo_lacks). */
static void test_pgo_lacks(void)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "alloc_objects", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_function(b, 1, "f", "a.go", 3);
    uint64_t fn[] = {1}, loc[] = {1};
    int64_t line[] = {4}, v[] = {1, 10};
    pbuild_location(b, 1, 0, 0x10, 1, fn, line);
    pbuild_sample(b, 1, loc, 2, v);
    cpgo_pb_profile *pb = pbuild_pb(b);
    int ti = -7;
    CHECK_EQ_INT(cpgo_summary_pgo_lacks(pb, CPGO_PGO_ALL, &ti), 0);
    CHECK_EQ_INT(ti, 1); /* the type Go PGO reads: cpu/nanoseconds, not the first */
    /* no start line anywhere */
    pb->function[0]->start_line = 0;
    CHECK_EQ_INT(cpgo_summary_pgo_lacks(pb, CPGO_PGO_ALL, NULL), CPGO_PGO_NO_START_LINES);
    /* only the needs asked about are reported */
    CHECK_EQ_INT(cpgo_summary_pgo_lacks(pb, CPGO_PGO_NO_TYPE | CPGO_PGO_NEGATIVE, NULL), 0);
    pb->function[0]->start_line = 3;
    /* a negative value in any sample type */
    pb->sample[0]->value[0] = -1;
    CHECK_EQ_INT(cpgo_summary_pgo_lacks(pb, CPGO_PGO_ALL, NULL), CPGO_PGO_NEGATIVE);
    CHECK_EQ_INT(cpgo_summary_pgo_lacks(pb, CPGO_PGO_NO_TYPE | CPGO_PGO_NO_START_LINES, NULL), 0);
    pb->sample[0]->value[0] = 1;
    /* no samples/count or cpu/nanoseconds: the names must match whole (cpu/nanosecond is
     * another unit) */
    pb->sample_type[1]->unit = pbuild_str(b, "nanosecond");
    CHECK_EQ_INT(cpgo_summary_pgo_lacks(pb, CPGO_PGO_ALL, &ti), CPGO_PGO_NO_TYPE);
    CHECK_EQ_INT(ti, -1);
    pb->sample_type[0]->type = pbuild_str(b, "samples");
    CHECK_EQ_INT(cpgo_summary_pgo_lacks(pb, CPGO_PGO_ALL, &ti), 0);
    CHECK_EQ_INT(ti, 0);
    /* no function at all: nothing has a start line */
    pb->n_function = 0;
    CHECK_EQ_INT(cpgo_summary_pgo_lacks(pb, CPGO_PGO_ALL, NULL), CPGO_PGO_NO_START_LINES);
    pb->n_function = 1;
    pbuild_free(b);
}

/* A profile without a period type: its names are the string table's empty string, which
 * protobuf-c leaves without data (strndup(NULL, 0) was undefined: UBSan stopped there). */
static void test_no_period_type(void)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_function(b, 1, "f", "a.go", 3);
    uint64_t fn[] = {1}, loc[] = {1};
    int64_t line[] = {4}, v[] = {5};
    pbuild_location(b, 1, 0, 0x10, 1, fn, line);
    pbuild_sample(b, 1, loc, 1, v);
    struct cpgo_buf raw;
    pbuild_encode(b, 1, &raw);
    struct cpgo_limits lim;
    cpgo_limits_default(&lim);
    struct cpgo_profile *p;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_profile_decode(raw.data, raw.len, &lim, &p, &err), 0);
    struct cpgo_summary s;
    CHECK_EQ_INT(cpgo_summary_build(p, 10, &s, &err), 0);
    CHECK(s.period_type && !strcmp(s.period_type, "") && s.period_unit && !*s.period_unit);
    CHECK_EQ_INT(s.totals[0], 5);
    cpgo_summary_free(&s);
    cpgo_profile_free(p);
    cpgo_buf_free(&raw);
    pbuild_free(b);
}

int main(void)
{
    test_pgo_lacks();
    test_no_period_type();
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_period(b, "cpu", "nanoseconds", 10);
    pbuild_function(b, 1, "leaf", "a.go", 1);
    pbuild_function(b, 2, "mid", "a.go", 10);
    pbuild_function(b, 3, "root", "a.go", 20);
    uint64_t f1[] = {1, 2}, f3[] = {3};
    int64_t l1[] = {2, 11}, l3[] = {21};
    pbuild_location(b, 1, 0, 0x10, 2, f1, l1); /* leaf inlined into mid */
    pbuild_location(b, 2, 0, 0x20, 1, f3, l3);
    uint64_t s1[] = {1, 2}, s2[] = {2, 2}; /* second: recursion in root */
    int64_t v1[] = {1, 10}, v2[] = {2, 20};
    pbuild_sample(b, 2, s1, 2, v1);
    pbuild_sample(b, 2, s2, 2, v2);
    struct cpgo_buf raw;
    pbuild_encode(b, 1, &raw);
    struct cpgo_limits lim;
    cpgo_limits_default(&lim);
    struct cpgo_profile *p;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_profile_decode(raw.data, raw.len, &lim, &p, &err), 0);
    struct cpgo_summary s;
    CHECK_EQ_INT(cpgo_summary_build(p, 10, &s, &err), 0);
    CHECK_EQ_INT(s.totals[0], 3);
    CHECK_EQ_INT(s.totals[1], 30);
    CHECK_EQ_INT(s.value_index, 1); /* the last type when no default is set */
    CHECK(cpgo_summary_pgo_usable(&s));
    CHECK_EQ_INT(s.ntop_flat, 2);
    CHECK(!strcmp(s.by_flat[0].name, "root") && s.by_flat[0].flat == 20);
    CHECK(!strcmp(s.by_flat[1].name, "leaf") && s.by_flat[1].flat == 10);
    CHECK(!strcmp(s.by_cum[0].name, "root") && s.by_cum[0].cum == 30); /* counted once */
    cpgo_summary_free(&s);
    cpgo_profile_free(p);
    cpgo_buf_free(&raw);
    /* no start lines -> not usable for PGO */
    pbuild_pb(b)->function[0]->start_line = 0;
    pbuild_pb(b)->function[1]->start_line = 0;
    pbuild_pb(b)->function[2]->start_line = 0;
    pbuild_encode(b, 1, &raw);
    CHECK_EQ_INT(cpgo_profile_decode(raw.data, raw.len, &lim, &p, &err), 0);
    CHECK_EQ_INT(cpgo_summary_build(p, 10, &s, &err), 0);
    CHECK(!cpgo_summary_pgo_usable(&s));
    cpgo_summary_free(&s);
    cpgo_profile_free(p);
    cpgo_buf_free(&raw);
    /* start lines back; a negative value (a diff profile) -> not usable for PGO */
    for (int i = 0; i < 3; i++)
        pbuild_pb(b)->function[i]->start_line = 1;
    pbuild_pb(b)->sample[1]->value[1] = -20;
    pbuild_encode(b, 1, &raw);
    CHECK_EQ_INT(cpgo_profile_decode(raw.data, raw.len, &lim, &p, &err), 0);
    CHECK_EQ_INT(cpgo_summary_build(p, 10, &s, &err), 0);
    CHECK(s.has_negative);
    CHECK_EQ_INT(s.totals[1], -10);
    CHECK(!cpgo_summary_pgo_usable(&s));
    cpgo_summary_free(&s);
    cpgo_profile_free(p);
    cpgo_buf_free(&raw);
    /* totals that overflow int64 are an error, not a wrapped or saturated figure */
    pbuild_pb(b)->sample[0]->value[1] = INT64_MAX - 5;
    pbuild_pb(b)->sample[1]->value[1] = 6;
    pbuild_encode(b, 1, &raw);
    CHECK_EQ_INT(cpgo_profile_decode(raw.data, raw.len, &lim, &p, &err), 0);
    CHECK_EQ_INT(cpgo_summary_build(p, 10, &s, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "the sum of its cpu/nanoseconds values overflows int64");
    cpgo_profile_free(p);
    cpgo_buf_free(&raw);
    /* a function's sum overflows while every running total fits (mixed signs) */
    pbuild_pb(b)->sample[0]->value[1] = INT64_MAX;  /* leaf */
    pbuild_pb(b)->sample[1]->value[1] = -INT64_MAX; /* root */
    int64_t v3[] = {1, INT64_MAX};
    pbuild_sample(b, 2, s1, 2, v3); /* leaf again */
    pbuild_encode(b, 1, &raw);
    CHECK_EQ_INT(cpgo_profile_decode(raw.data, raw.len, &lim, &p, &err), 0);
    CHECK_EQ_INT(cpgo_summary_build(p, 10, &s, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "a function's sum of cpu/nanoseconds values overflows int64");
    cpgo_profile_free(p);
    cpgo_buf_free(&raw);
    pbuild_free(b);
    CHECK_DONE();
}
