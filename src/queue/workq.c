/* workq.c - see workq.h. */
#include "queue/workq.h"

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
    lane->running = NULL;
    q->jobs--;
    q->bytes -= j->bytes;
    /* start the lane's next job before done(): done may free the lane only when idle */
    start_next(lane);
    j->done(j, status == UV_ECANCELED);
}

static void start_next(struct cpgo_lane *lane)
{
    if (lane->running || !lane->head) return;
    struct cpgo_job *j = lane->head;
    lane->head = j->next;
    if (!lane->head) lane->tail = NULL;
    j->next = NULL;
    lane->running = j;
    j->req.data = j;
    if (uv_queue_work(j->q->loop, &j->req, work_cb, after_cb) != 0) {
        /* cannot happen with valid arguments; fail the job rather than lose it silently */
        lane->running = NULL;
        j->q->jobs--;
        j->q->bytes -= j->bytes;
        j->done(j, 1);
        start_next(lane);
    }
}

void cpgo_workq_submit(struct cpgo_workq *q, struct cpgo_lane *lane, struct cpgo_job *job)
{
    job->q = q;
    job->lane = lane;
    job->next = NULL;
    q->jobs++;
    q->bytes += job->bytes;
    if (lane->tail) lane->tail->next = job;
    else lane->head = job;
    lane->tail = job;
    start_next(lane);
}

int cpgo_workq_has_room(const struct cpgo_workq *q)
{
    return q->jobs < q->max_jobs && q->bytes < q->max_bytes;
}

size_t cpgo_workq_depth(const struct cpgo_workq *q)
{
    return q->jobs;
}

size_t cpgo_workq_bytes(const struct cpgo_workq *q)
{
    return q->bytes;
}

int cpgo_lane_idle(const struct cpgo_lane *lane)
{
    return !lane->running && !lane->head;
}

void cpgo_workq_cancel_waiting(struct cpgo_workq *q, struct cpgo_lane *lane)
{
    struct cpgo_job *j = lane->head;
    lane->head = lane->tail = NULL;
    while (j) {
        struct cpgo_job *next = j->next;
        q->jobs--;
        q->bytes -= j->bytes;
        j->done(j, 1);
        j = next;
    }
}
