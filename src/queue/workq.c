/* workq.c - see workq.h. */
#include "queue/workq.h"

#include <assert.h>
#include <stdlib.h>

struct cpgo_workq {
    uv_loop_t *loop;
    size_t max_jobs, max_bytes;
    size_t jobs, bytes; /* waiting + running */
};

int cpgo_workq_new(uv_loop_t *loop, size_t max_jobs, size_t max_bytes, struct cpgo_workq **out)
{
    struct cpgo_workq *q = calloc(1, sizeof *q);
    if (!q) return -1;
    q->loop = loop;
    q->max_jobs = max_jobs ? max_jobs : 64;
    q->max_bytes = max_bytes ? max_bytes : (256u << 20);
    *out = q;
    return 0;
}

void cpgo_workq_free(struct cpgo_workq *q)
{
    free(q);
}

static void work_cb(uv_work_t *req)
{
    struct cpgo_job *j = req->data;
    j->work(j);
}

static void start_next(struct cpgo_lane *lane);

static void after_cb(uv_work_t *req, int status)
{
    struct cpgo_job *j = req->data;
    struct cpgo_workq *q = j->q;
    struct cpgo_lane *lane = j->lane;
    assert(lane->running == j && q->jobs >= j->units && q->bytes >= j->bytes);
    lane->running = NULL;
    q->jobs -= j->units;
    q->bytes -= j->bytes;
    /* start the lane's next job before done(): done may free the lane only when idle */
    start_next(lane);
    j->done(j, status == UV_ECANCELED);
}

static void start_next(struct cpgo_lane *lane)
{
    if (lane->running || cpgo_list_empty(&lane->waiting)) return;
    struct cpgo_job *j = CPGO_LIST_DATA(cpgo_list_pop_head(&lane->waiting), struct cpgo_job, link);
    lane->running = j;
    j->req.data = j;
    if (uv_queue_work(j->q->loop, &j->req, work_cb, after_cb) != 0) {
        /* cannot happen with valid arguments; fail the job rather than lose it silently */
        lane->running = NULL;
        j->q->jobs -= j->units;
        j->q->bytes -= j->bytes;
        j->done(j, 1);
        start_next(lane);
    }
}

void cpgo_workq_submit(struct cpgo_workq *q, struct cpgo_lane *lane, struct cpgo_job *job)
{
    job->q = q;
    job->lane = lane;
    if (!job->units) job->units = 1;
    q->jobs += job->units;
    q->bytes += job->bytes;
    cpgo_list_push_tail(&lane->waiting, &job->link);
    start_next(lane);
}

struct cpgo_job *cpgo_workq_last_waiting(struct cpgo_lane *lane)
{
    return CPGO_LIST_DATA(lane->waiting.tail, struct cpgo_job, link);
}

void cpgo_workq_grow(struct cpgo_workq *q, struct cpgo_job *job, size_t units, size_t bytes)
{
    assert(job->q == q && job->lane && job->lane->running != job);
    job->units += units;
    job->bytes += bytes;
    q->jobs += units;
    q->bytes += bytes;
}

int cpgo_workq_has_room(const struct cpgo_workq *q)
{
    return q->jobs < q->max_jobs && q->bytes < q->max_bytes;
}

size_t cpgo_workq_depth(const struct cpgo_workq *q)
{
    return q->jobs;
}
