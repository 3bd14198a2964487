/*
 * spill.c - limits.max_pending_memory in the daemon: the loop keeps the sum of the targets'
 * pending memory (each target's lane keeps its own record current, state.h "pending
 * memory"), and when it passes the budget the loop queues spill jobs for the least recently
 * used idle targets. The spill itself -- snapshot, free -- and the load back run on the
 * target's lane, inside the state module; the loop only chooses.
 *
 * Thread: the loop, except spill_work (the target's lane).
 */
#include "daemon/spill.h"

#include <malloc.h>
#include <stdlib.h>

#include "base/log.h"
#include "daemon/daemon_int.h"

static int by_use(const void *a, const void *b)
{
    const struct cpgo_spill_cand *x = a, *y = b;
    if (x->used != y->used) return x->used < y->used ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

size_t cpgo_spill_pick(struct cpgo_spill_cand *c, size_t n, int64_t total, int64_t budget)
{
    if (total <= budget && budget > 0) return 0;
    if (n == 0) return 0;
    qsort(c, n, sizeof *c, by_use);
    if (budget <= 0) return n;
    int64_t goal = budget - budget / 8;
    size_t k = 0;
    while (k < n && total > goal)
        total -= c[k++].mem;
    return k;
}

/* ---- the daemon's side -------------------------------------------------------------- */

struct spill_job {
    struct cpgo_job base;
    struct target *t;
    int trim; /* the last of its batch: give freed memory back to the system */
    int rc;
    struct cpgo_err err;
};

static void spill_work(struct cpgo_job *job)
{
    struct spill_job *j = CPGO_JOB_DATA(job, struct spill_job, base);
    if (j->t->ts) j->rc = cpgo_state_spill(j->t->ts, &j->err);
    /* The merger's large tables are their own mappings (daemon.c sets a fixed mmap
     * threshold) and go back when freed, but its many small blocks (hash tables of small
     * profiles, the string arena's early chunks) stay in glibc's heaps until trimmed.
     * Measured (bench/pending_memory.sh -n 60 --budget 32MiB): RSS 43 MiB with the trim,
     * 74 MiB without. */
    if (j->trim) malloc_trim(0);
}

static void spill_done(struct cpgo_job *job, int canceled)
{
    struct spill_job *j = CPGO_JOB_DATA(job, struct spill_job, base);
    struct target *t = j->t;
    struct daemon *d = t->d;
    t->spill_queued = 0;
    if (!canceled && j->rc) t->spill_retry_at = uv_now(&d->loop) + 60000;
    if (!canceled && j->rc)
        cpgo_log(CPGO_LVL_WARN, "cannot spill pending (kept in memory)", "target", t->key, "error",
                 j->err.text, NULL);
    else if (!canceled)
        cpgo_observe_spilled(d);
    d->spills_running--;
    free(j);
    cpgo_daemon_progress(d);
}

/* An idle lane: nothing of the target's is queued or running, so a spill now will not be
 * undone by a job already waiting. */
static int lane_idle(const struct target *t)
{
    return !t->lane.running && cpgo_list_empty(&t->lane.waiting);
}

void cpgo_spill_check(struct daemon *d)
{
    /* one batch at a time: the memory of spills still running is still counted */
    if (d->stopping || d->spills_running || !d->cfg) return;
    int64_t budget = (int64_t)d->cfg->limits.max_pending_memory;
    int64_t total = atomic_load(&d->pending_mem);
    if (total <= budget && budget > 0) return;
    size_t n = 0;
    for (struct target *t = d->targets; t; t = t->next)
        n++;
    struct cpgo_spill_cand *c = calloc(n ? n : 1, sizeof *c);
    struct target **tv = calloc(n ? n : 1, sizeof *tv);
    if (!c || !tv) {
        free(c);
        free(tv);
        return;
    }
    size_t k = 0, i = 0;
    for (struct target *t = d->targets; t; t = t->next, i++) {
        tv[i] = t;
        if (!t->ts || !t->loaded || t->loading || t->spill_queued || !lane_idle(t) ||
            !t->pending_scrapes || uv_now(&d->loop) < t->spill_retry_at ||
            !atomic_load(&t->acct.resident) || atomic_load(&t->acct.mem) <= 0)
            continue;
        /* (a target with nothing pending holds an empty merger: it is left alone) */
        c[k++] = (struct cpgo_spill_cand){
            .used = atomic_load(&t->acct.used), .mem = atomic_load(&t->acct.mem), .index = i};
    }
    size_t pick = cpgo_spill_pick(c, k, total, budget);
    for (size_t p = 0; p < pick; p++) {
        struct spill_job *j = calloc(1, sizeof *j);
        if (!j) break;
        j->base.work = spill_work;
        j->base.done = spill_done;
        j->t = tv[c[p].index];
        j->trim = p + 1 == pick;
        j->t->spill_queued = 1;
        d->spills_running++;
        j->base.prio = 1; /* frees memory: before the ingests that grow it */
        cpgo_workq_submit(d->q, &j->t->lane, &j->base);
    }
    free(c);
    free(tv);
}
