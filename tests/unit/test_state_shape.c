/* Unit tests for state/state under a target shape: recovery re-merges the journal and
 * snapshots through the shaped merger, so a state written before shapes existed (pending
 * whose reference is a reordered profile, or one of another set) is normalised or its bad
 * records are skipped, and honest scrapes are accepted after the restart. Kept apart from
 * test_state_state.c, which covers the journal protocol itself. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "canon.h"
#include "check.h"
#include "pbuild.h"
#include "profile/shape.h"
#include "state/state.h"

static struct cpgo_limits lim;
static char dir[512];

enum kind { HONEST, REVERSED, OTHER_SET };

static struct cpgo_buf body(enum kind k)
{
    struct pbuild *b = pbuild_golike(11, 300, 120, 60, 0);
    cpgo_pb_profile *pb = pbuild_pb(b);
    if (k == REVERSED) {
        Perftools__Profiles__ValueType *t0 = pb->sample_type[0];
        pb->sample_type[0] = pb->sample_type[1];
        pb->sample_type[1] = t0;
        for (size_t i = 0; i < pb->n_sample; i++) {
            int64_t v0 = pb->sample[i]->value[0];
            pb->sample[i]->value[0] = pb->sample[i]->value[1];
            pb->sample[i]->value[1] = v0;
        }
    } else if (k == OTHER_SET) {
        pb->sample_type[1]->type = pbuild_str(b, "wall");
    }
    struct cpgo_buf out;
    pbuild_encode(b, 0, &out);
    pbuild_free(b);
    return out;
}

static struct cpgo_tstate *open_ts(const struct cpgo_merge_opts *mo)
{
    struct cpgo_tstate *ts = NULL;
    struct cpgo_err err;
    if (cpgo_state_open(dir, "t1", "host/repo@main:default.pgo", mo, &lim, &ts, &err))
        fprintf(stderr, "open: %s\n", err.text);
    return ts;
}

static int ingest(struct cpgo_tstate *ts, const struct cpgo_buf *b)
{
    struct cpgo_profile *p;
    struct cpgo_err err;
    if (cpgo_profile_decode(b->data, b->len, &lim, &p, &err)) return -100;
    int rc = cpgo_state_ingest(ts, b->data, b->len, p, "b1", 1700000000, &err);
    cpgo_profile_free(p);
    return rc;
}

/* Canonical dump of pending. */
static char *pending_canon(struct cpgo_tstate *ts)
{
    struct cpgo_buf out;
    struct cpgo_err err;
    if (cpgo_merge_encode(cpgo_state_pending(ts), 1, 1, &out, &err)) return strdup("(error)");
    struct cpgo_profile *p;
    char *s = NULL;
    if (cpgo_profile_decode(out.data, out.len, &lim, &p, &err) == 0) {
        s = canon_dump(p, 1);
        cpgo_profile_free(p);
    }
    cpgo_buf_free(&out);
    return s ? s : strdup("(error)");
}

int main(void)
{
    cpgo_limits_default(&lim);
    snprintf(dir, sizeof dir, "%s/cpgo-state-shape-%ld",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    struct cpgo_merge_opts old, shaped;
    memset(&old, 0, sizeof old); /* what cpgo used before shapes: the first input decides */
    shaped = old;
    shaped.shape = &cpgo_shape_go_cpu;
    struct cpgo_buf honest = body(HONEST), rev = body(REVERSED), other = body(OTHER_SET);

    /* the reference: two honest scrapes, merged under the shape */
    struct cpgo_tstate *ts = open_ts(&shaped);
    CHECK_EQ_INT(ingest(ts, &honest), 0);
    CHECK_EQ_INT(ingest(ts, &honest), 0);
    char *want = pending_canon(ts);
    CHECK_STR_CONTAINS(want, "types: samples/count cpu/nanoseconds\n");
    cpgo_state_close(ts);
    if (system(cmd)) {
    }

    for (int snap = 0; snap < 2; snap++) {
        /* Written the old way: a reordered profile came first and became the reference (the
         * honest one was refused then). Recovered from the journal (as after kill -9) or from
         * a snapshot in the reversed order. */
        ts = open_ts(&old);
        CHECK_EQ_INT(ingest(ts, &rev), 0);
        CHECK_EQ_INT(ingest(ts, &honest), CPGO_E_INCOMPAT);
        if (snap) CHECK_EQ_INT(cpgo_state_snapshot(ts, &(struct cpgo_err){0}), 0);
        cpgo_state_close(ts);
        ts = open_ts(&shaped);
        CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 1);
        CHECK_EQ_INT(ingest(ts, &honest), 0); /* accepted now */
        char *got = pending_canon(ts);
        CHECK(!strcmp(got, want)); /* reordered + honest == honest + honest, in the Go order */
        free(got);
        /* and a restart of the new state gives the same again */
        cpgo_state_close(ts);
        ts = open_ts(&shaped);
        CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 2);
        got = pending_canon(ts);
        CHECK(!strcmp(got, want));
        free(got);
        cpgo_state_close(ts);
        if (system(cmd)) {
        }
    }

    /* Written the old way with another set as the reference: its journal record does not fit
     * the shape, so recovery skips it; it is never published, and honest scrapes are taken. */
    ts = open_ts(&old);
    CHECK_EQ_INT(ingest(ts, &other), 0);
    CHECK_EQ_INT(ingest(ts, &honest), CPGO_E_INCOMPAT);
    cpgo_state_close(ts);
    ts = open_ts(&shaped);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 0);
    CHECK_EQ_INT(ingest(ts, &other), CPGO_E_INCOMPAT);
    CHECK_EQ_INT(ingest(ts, &honest), 0);
    CHECK_EQ_INT(ingest(ts, &rev), 0);
    char *got = pending_canon(ts);
    CHECK(!strcmp(got, want));
    free(got);
    cpgo_state_close(ts);

    free(want);
    cpgo_buf_free(&honest);
    cpgo_buf_free(&rev);
    cpgo_buf_free(&other);
    if (system(cmd)) {
    }
    CHECK_DONE();
}
