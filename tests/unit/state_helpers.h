/* state_helpers.h - what the state unit tests share (test_state_state.c,
 * test_state_trust.c): the limits and options, the state directory, profiles to ingest and
 * sample counts of pending, of a body and of all of pending. Header-only: each test is one
 * translation unit. */
#ifndef CPGO_TEST_STATE_HELPERS_H
#define CPGO_TEST_STATE_HELPERS_H

#include <stdint.h>
#include <stdio.h>

#include "pbuild.h"
#include "state/state.h"

static struct cpgo_limits lim;
static struct cpgo_merge_opts mo;
static char dir[512];

static struct cpgo_buf body(int seed)
{
    struct pbuild *b = pbuild_golike((uint64_t)seed, 50, 40, 20, 0);
    struct cpgo_buf out;
    pbuild_encode(b, 0, &out);
    pbuild_free(b);
    return out;
}

static int64_t samples(struct cpgo_tstate *ts)
{
    struct cpgo_merged *r;
    struct cpgo_err err;
    if (cpgo_merge_count(cpgo_state_pending(ts)) == 0) return 0;
    if (cpgo_merge_result(cpgo_state_pending(ts), &r, &err)) return -1;
    int64_t t = 0;
    for (size_t i = 0; i < r->pb.n_sample; i++)
        t += r->pb.sample[i]->value[0];
    cpgo_merged_free(r);
    return t;
}

static int64_t samples_of(const struct cpgo_buf *b)
{
    struct cpgo_profile *p;
    struct cpgo_err err;
    if (cpgo_profile_decode(b->data, b->len, &lim, &p, &err)) return -1;
    int64_t t = 0;
    for (size_t i = 0; i < p->pb->n_sample; i++)
        t += p->pb->sample[i]->value[0];
    cpgo_profile_free(p);
    return t;
}

/* Samples in all of pending: segments and the fresh part. */
static int64_t folded(struct cpgo_tstate *ts)
{
    struct cpgo_merger *m;
    struct cpgo_err err;
    cpgo_merge_new(&m, &mo);
    int64_t t = -1;
    if (cpgo_state_fold_pending(ts, m, &err) == 0) {
        struct cpgo_merged *r;
        t = 0;
        if (cpgo_merge_count(m) && cpgo_merge_result(m, &r, &err) == 0) {
            for (size_t i = 0; i < r->pb.n_sample; i++)
                t += r->pb.sample[i]->value[0];
            cpgo_merged_free(r);
        }
    } else {
        fprintf(stderr, "fold: %s\n", err.text);
    }
    cpgo_merge_free(m);
    return t;
}

/* The test target's state, opened (recovered) in dir. */
static struct cpgo_tstate *open_ts(void)
{
    struct cpgo_tstate *ts = NULL;
    struct cpgo_err err;
    if (cpgo_state_open(dir, "t1", "host/repo@main:default.pgo", &mo, &lim, &ts, &err))
        fprintf(stderr, "open: %s\n", err.text);
    return ts;
}

#endif
