/* workq.c - see workq.h. */
#include "queue/workq.h"

#include <assert.h>
#include <stdlib.h>

struct cpgo_workq {
    uv_loop_t *loop;
    size_t max_jobs, max_bytes;
    size_t jobs, bytes; /* waiting + running */
    size_t slots, running;
    struct cpgo_list ready[2]; /* lanes by their head job: [1] prio, [0] the rest */
};

int cpgo_workq_new(uv_loop_t *loop, size_t max_jobs, size_t max_bytes, size_t slots,
                   struct cpgo_workq **out)
{
    struct cpgo_workq *q = calloc(1, sizeof *q);
    if (!q) return -1;
    q->loop = loop;
    q->max_jobs = max_jobs ? max_jobs : 64;
    q->max_bytes = max_bytes ? max_bytes : (256u << 20);
    if (!slots) {
        /* libuv reads the same variable at the pool's first use (default 4, at most 1024) */
        const char *e = getenv("UV_THREADPOOL_SIZE");
        long n = e ? strtol(e, NULL, 10) : 0;
        slots = n > 0 ? (n > 1024 ? 1024 : (size_t)n) : 4;
    }
    q->slots = slots;
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

/* A lane with a job waiting and none running waits for a slot in its class's FIFO: at the
 * tail when it has just become ready, at the head when its previous job has just ended
 * (`cont`), so a lane that has started goes on to its end before the other lanes start. */
static void make_ready(struct cpgo_workq *q, struct cpgo_lane *lane, int cont)
{
    if (lane->running || lane->ready || cpgo_list_empty(&lane->waiting)) return;
    struct cpgo_job *head = CPGO_LIST_DATA(cpgo_list_head(&lane->waiting), struct cpgo_job, link);
    lane->ready = 1;
    struct cpgo_list *l = &q->ready[head->prio ? 1 : 0];
    if (cont)
        cpgo_list_push_head(l, &lane->ready_link);
    else
        cpgo_list_push_tail(l, &lane->ready_link);
}

static void after_cb(uv_work_t *req, int status);

/* Hands ready lanes' head jobs to libuv while slots are free, prio lanes first. */
static void pump(struct cpgo_workq *q)
{
    while (q->running < q->slots) {
        struct cpgo_list *l = !cpgo_list_empty(&q->ready[1]) ? &q->ready[1] : &q->ready[0];
        if (cpgo_list_empty(l)) return;
        struct cpgo_lane *lane =
            CPGO_LIST_DATA(cpgo_list_pop_head(l), struct cpgo_lane, ready_link);
        lane->ready = 0;
        struct cpgo_job *j =
            CPGO_LIST_DATA(cpgo_list_pop_head(&lane->waiting), struct cpgo_job, link);
        lane->running = j;
        q->running++;
        j->req.data = j;
        if (uv_queue_work(q->loop, &j->req, work_cb, after_cb) != 0) {
            /* cannot happen with valid arguments; fail the job rather than lose it silently */
            lane->running = NULL;
            q->running--;
            q->jobs -= j->units;
            q->bytes -= j->bytes;
            make_ready(q, lane, 0);
            j->done(j, 1);
        }
    }
}

static void after_cb(uv_work_t *req, int status)
{
    struct cpgo_job *j = req->data;
    struct cpgo_workq *q = j->q;
    struct cpgo_lane *lane = j->lane;
    assert(lane->running == j && q->jobs >= j->units && q->bytes >= j->bytes && q->running > 0);
    lane->running = NULL;
    q->running--;
    q->jobs -= j->units;
    q->bytes -= j->bytes;
    /* queue the lane's next job before done(): done may free the lane only when idle; hand
     * it to libuv after done(): what done() records on the loop for the lane (a target's
     * opened state, say) is then seen by the lane's next job */
    make_ready(q, lane, 1);
    j->done(j, status == UV_ECANCELED);
    pump(q);
}

void cpgo_workq_submit(struct cpgo_workq *q, struct cpgo_lane *lane, struct cpgo_job *job)
{
    job->q = q;
    job->lane = lane;
    if (!job->units) job->units = 1;
    q->jobs += job->units;
    q->bytes += job->bytes;
    cpgo_list_push_tail(&lane->waiting, &job->link);
    make_ready(q, lane, 0);
    pump(q);
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

int cpgo_workq_fits(const struct cpgo_workq *q, size_t jobs, size_t bytes)
{
    return q->jobs <= q->max_jobs && jobs <= q->max_jobs - q->jobs && q->bytes <= q->max_bytes &&
           bytes <= q->max_bytes - q->bytes;
}

size_t cpgo_workq_depth(const struct cpgo_workq *q)
{
    return q->jobs;
}

size_t cpgo_workq_running(const struct cpgo_workq *q)
{
    return q->running;
}
