/*
 * workq.h - the work queue: CPU work (decode, validate, trim, merge, encode, file I/O) on
 * libuv's thread pool, never on the loop thread.
 *
 * Jobs are submitted to a lane; the jobs of one lane run one at a time in submission order
 * (a target's merger is only ever touched by one job at a time, so it needs no lock), and
 * different lanes run in parallel on the pool. A job's inputs are moved in, its outputs are
 * moved out and applied in its done callback on the loop thread. A lane's next job starts
 * after the previous job's done callback has returned, so it sees what done applied.
 *
 * A job kind is a struct that embeds struct cpgo_job and sets its own work and done; both
 * get the embedded member back and recover their struct with CPGO_JOB_DATA, so the queue
 * needs no tag and no union of every kind:
 *
 *   struct ingest_job { struct cpgo_job base; unsigned char *body; ... };
 *   static void ingest_work(struct cpgo_job *job)
 *   { struct ingest_job *j = CPGO_JOB_DATA(job, struct ingest_job, base); ... }
 *
 * Bounded: the queue counts waiting jobs and their bytes; cpgo_workq_has_room tells the
 * scheduler whether to start another scrape, so a slow merge makes scrapes wait instead of
 * memory growing.
 *
 * Dispatch: the queue, not libuv, decides what runs next. At most `slots` jobs (the pool's
 * size) are handed to libuv at once; lanes with a job ready wait in two FIFOs, and a lane
 * whose next job is marked `prio` goes first. Handing every lane's head job to libuv at
 * once (as before) put a target's publish behind the ingests of every other target: with
 * 1,000 backends all arriving together no target published before 70% of the bodies were
 * merged, so every target's pending merge was in memory at once. Publish jobs are `prio`:
 * they finish a target and free its memory. For the same reason a lane whose job ends goes
 * on with its next job (to the head of its FIFO) before lanes that have not started: its
 * bodies are already queued, and finishing them closes its round. A lane's jobs per round
 * are bounded (its backends' bodies and one publish), so no lane waits forever.
 *
 * Owns: queued jobs until their done callback. Thread: the loop thread (work callbacks run
 * on pool threads and must touch only their job and their lane's private data).
 */
#ifndef CPGO_QUEUE_WORKQ_H
#define CPGO_QUEUE_WORKQ_H

#include <stddef.h>
#include <uv.h>

#include "base/list.h"

struct cpgo_workq;
struct cpgo_job;

struct cpgo_lane {
    struct cpgo_list waiting; /* of cpgo_job.link; all-zero = empty */
    struct cpgo_job *running;
    /* private: in one of the queue's ready FIFOs (its head job waits for a slot) */
    struct cpgo_list_node ready_link;
    int ready;
};

struct cpgo_job {
    size_t bytes;                                  /* weight against max_bytes (a body's size) */
    int prio;                                      /* dispatched before other lanes' jobs */
    size_t units;                                  /* weight against max_jobs; 0 = 1 */
    void (*work)(struct cpgo_job *);               /* pool thread */
    void (*done)(struct cpgo_job *, int canceled); /* loop thread; frees the job */
    /* private */
    uv_work_t req;
    struct cpgo_list_node link;
    struct cpgo_lane *lane;
    struct cpgo_workq *q;
};

/* The job-kind struct of type that embeds job as its member field. */
#define CPGO_JOB_DATA(job, type, field) ((type *)(void *)((char *)(job)-offsetof(type, field)))

/* `slots`: jobs handed to libuv at once; 0 = the pool's size (UV_THREADPOOL_SIZE, else 4). */
int cpgo_workq_new(uv_loop_t *loop, size_t max_jobs, size_t max_bytes, size_t slots,
                   struct cpgo_workq **out);
/* Queues job on lane. Always accepted: callers ask cpgo_workq_has_room before they start
 * work that will produce a job. */
void cpgo_workq_submit(struct cpgo_workq *q, struct cpgo_lane *lane, struct cpgo_job *job);
int cpgo_workq_has_room(const struct cpgo_workq *q);
/* Whether `jobs` more units and `bytes` more bytes (bodies not arrived yet, that the caller
 * expects) would still fit beside what is queued now, under max_jobs and max_bytes (loop
 * thread). */
int cpgo_workq_fits(const struct cpgo_workq *q, size_t jobs, size_t bytes);
/* The lane's last job if it has not started (loop thread), else NULL. Until it starts (which
 * happens on the loop thread, never while the caller runs) the pool does not touch it, so the
 * caller may add work to it, counted with cpgo_workq_grow: several scraped bodies of a
 * target then share one job (and one journal sync), in the order they were queued, with
 * nothing of the lane's queued between them. */
struct cpgo_job *cpgo_workq_last_waiting(struct cpgo_lane *lane);
/* Counts `units` more against max_jobs and `bytes` more against max_bytes for a job that
 * cpgo_workq_last_waiting returned (loop thread). */
void cpgo_workq_grow(struct cpgo_workq *q, struct cpgo_job *job, size_t units, size_t bytes);
size_t cpgo_workq_depth(const struct cpgo_workq *q);   /* waiting + running */
size_t cpgo_workq_running(const struct cpgo_workq *q); /* handed to libuv, at most slots */
void cpgo_workq_free(struct cpgo_workq *q);            /* only when depth is 0 */

#endif
