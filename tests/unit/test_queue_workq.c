/* Unit tests for queue/workq: lanes run one job at a time in order, at most `slots` jobs are
 * handed to libuv at once, lanes whose next job is prio go first, the bounds count waiting
 * and running jobs, and a done callback may submit to its own lane. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check.h"
#include "queue/workq.h"

#define NLOG 256

struct tjob {
    struct cpgo_job base;
    int id;
    struct cpgo_lane *lane;
    int resubmit; /* done() submits this many more on the same lane */
};

static struct cpgo_workq *q;
static uv_mutex_t mu;
static int order[NLOG], norder; /* ids in the order their work started */
static int active, max_active;  /* works running at once (pool threads) */
static int lane_busy[8];        /* a lane's works running at once: must stay <= 1 */
static int lane_overlap;
static struct cpgo_lane lanes[8];
static int done_count, max_running_seen;

static void twork(struct cpgo_job *job)
{
    struct tjob *j = CPGO_JOB_DATA(job, struct tjob, base);
    int li = (int)(j->lane - lanes);
    uv_mutex_lock(&mu);
    if (norder < NLOG) order[norder++] = j->id;
    if (++active > max_active) max_active = active;
    if (++lane_busy[li] > 1) lane_overlap = 1;
    uv_mutex_unlock(&mu);
    uv_sleep(2); /* let other pool threads overlap if the queue let them */
    uv_mutex_lock(&mu);
    active--;
    lane_busy[li]--;
    uv_mutex_unlock(&mu);
}

static void submit(struct cpgo_lane *lane, int id, int prio, int resubmit);

static void tdone(struct cpgo_job *job, int canceled)
{
    struct tjob *j = CPGO_JOB_DATA(job, struct tjob, base);
    CHECK(!canceled);
    done_count++;
    if (cpgo_workq_running(q) > (size_t)max_running_seen)
        max_running_seen = (int)cpgo_workq_running(q);
    if (j->resubmit) submit(j->lane, j->id + 1, 0, j->resubmit - 1);
    free(j);
}

static void submit(struct cpgo_lane *lane, int id, int prio, int resubmit)
{
    struct tjob *j = calloc(1, sizeof *j);
    j->base.work = twork;
    j->base.done = tdone;
    j->base.bytes = 10;
    j->base.prio = prio;
    j->id = id;
    j->lane = lane;
    j->resubmit = resubmit;
    cpgo_workq_submit(q, lane, &j->base);
    if (cpgo_workq_running(q) > (size_t)max_running_seen)
        max_running_seen = (int)cpgo_workq_running(q);
}

static int pos(int id)
{
    for (int i = 0; i < norder; i++)
        if (order[i] == id) return i;
    return -1;
}

int main(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_mutex_init(&mu);

    /* one slot: strictly one job at a time, prio lanes before the rest, FIFO otherwise */
    CHECK_EQ_INT(cpgo_workq_new(&loop, 8, 1000, 1, &q), 0);
    submit(&lanes[0], 100, 0, 0); /* dispatched at once: the slot is free */
    submit(&lanes[1], 200, 0, 0);
    submit(&lanes[2], 300, 0, 0);
    submit(&lanes[3], 400, 1, 0); /* prio: runs right after 100 */
    submit(&lanes[1], 201, 0, 0); /* same lane: after 200 */
    CHECK_EQ_INT(cpgo_workq_depth(q), 5);
    CHECK_EQ_INT(cpgo_workq_running(q), 1);
    CHECK(cpgo_workq_has_room(q));
    /* what is on its way counts too: 5 queued + 3 expected fit under 8 jobs, 4 do not */
    CHECK(cpgo_workq_fits(q, 3, 0));
    CHECK(!cpgo_workq_fits(q, 4, 0));
    CHECK(cpgo_workq_fits(q, 0, 950)); /* 5 jobs of 10 bytes under 1000 */
    CHECK(!cpgo_workq_fits(q, 1, 951));
    submit(&lanes[4], 500, 0, 0);
    submit(&lanes[5], 600, 0, 0);
    submit(&lanes[6], 700, 0, 0);
    CHECK(!cpgo_workq_has_room(q)); /* 8 jobs: max_jobs reached (waiting + running count) */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(done_count, 8);
    CHECK_EQ_INT(max_active, 1);
    CHECK_EQ_INT(max_running_seen, 1);
    CHECK_EQ_INT(norder, 8);
    CHECK_EQ_INT(order[0], 100);
    CHECK_EQ_INT(order[1], 400);
    CHECK(pos(200) < pos(300) && pos(300) < pos(500));
    CHECK_EQ_INT(pos(201), pos(200) + 1); /* a started lane goes on before lanes not started */
    CHECK_EQ_INT(cpgo_workq_depth(q), 0);
    CHECK(cpgo_workq_has_room(q));
    cpgo_workq_free(q);

    /* three slots, eight lanes of chains that resubmit from done(): never more than three
     * at once, never two of one lane at once, every job run */
    memset(lanes, 0, sizeof lanes);
    norder = done_count = max_active = max_running_seen = 0;
    CHECK_EQ_INT(cpgo_workq_new(&loop, 64, 1 << 20, 3, &q), 0);
    for (int i = 0; i < 8; i++) {
        submit(&lanes[i], 1000 * (i + 1), i % 3 == 0, 5);
        submit(&lanes[i], 1000 * (i + 1) + 500, 0, 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(done_count, 8 * 7);
    CHECK(max_active <= 3);
    CHECK_EQ_INT(max_running_seen, 3);
    CHECK(!lane_overlap);
    /* within a lane: submission order (x500 was submitted before the chain's x001..x005) */
    for (int i = 0; i < 8; i++) {
        int base = 1000 * (i + 1);
        CHECK(pos(base) < pos(base + 500));
        CHECK(pos(base + 500) < pos(base + 1));
        for (int k = 1; k < 5; k++)
            CHECK(pos(base + k) < pos(base + k + 1));
    }
    cpgo_workq_free(q);

    /* slots from the environment, as libuv reads it */
    setenv("UV_THREADPOOL_SIZE", "7", 1);
    CHECK_EQ_INT(cpgo_workq_new(&loop, 0, 0, 0, &q), 0);
    for (int i = 0; i < 8; i++)
        lanes[i] = (struct cpgo_lane){0};
    for (int i = 0; i < 8; i++)
        submit(&lanes[i], i, 0, 0);
    CHECK_EQ_INT(cpgo_workq_running(q), 7);
    uv_run(&loop, UV_RUN_DEFAULT);
    cpgo_workq_free(q);

    uv_mutex_destroy(&mu);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    CHECK_DONE();
}
