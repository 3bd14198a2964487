/*
 * daemon.c - see daemon.h.
 *
 * Runtime objects: one struct backend per configured backend (its timers, the scrape in
 * flight, its last result) and one struct target per target (its work lane, its state,
 * round accounting). They are heap objects referenced by pointer from callbacks and jobs,
 * so a configuration reload can swap the config they point at without moving them.
 *
 * Scheduling: each backend has a tick timer armed for its next cron time plus a small
 * deterministic offset (a hash of the backend, as Prometheus spreads scrapes), so a fleet on
 * the same schedule does not connect in the same millisecond. A tick that finds the
 * backend's previous scrape still running is counted as missed and logged; scrapes of one
 * backend never overlap. Transient failures are retried with exponential backoff and
 * jitter while the next tick is far enough away; permanent ones wait for the next tick.
 *
 * Rounds: a tick enters the backend into its target's round; when every backend that
 * entered has finished (succeeded or failed), the target publishes once (publish.c).
 *
 * Jobs: this file's kinds run on the target's lane: load (open and recover its state),
 * ingest (scraped bodies: one, or up to CPGO_INGEST_BATCH queued together, sharing one
 * journal sync), snapshot (at shutdown). Each is its own struct with its own
 * work and done; every done ends with progress(), which publish.c reaches through the hook
 * in struct daemon, never by calling this file.
 *
 * Counters (busy backends, scrapes in flight, a target's round, ingests, snapshots) are
 * asserted before they are decremented: a count that would go below zero is a bug in the
 * accounting, not something to clamp.
 *
 * Shutdown: stop ticking, let scrapes in flight finish up to shutdown_timeout, drain the
 * ingest jobs, snapshot every target, close every handle, then the loop ends.
 */
/* nftw (the dry run removes its private state directory) is XSI */
#define _XOPEN_SOURCE 700
#include "daemon/daemon.h"

#include <assert.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <ftw.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/duration.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/url.h"
#include "daemon/daemon_int.h"
#include "daemon/nofile.h"
#include "profile/shape.h"
#include "publish/gitsock.h"

static uint64_t hash_str(const char *s, uint64_t h)
{
    return cpgo_hash_fnv1a(s, strlen(s), h);
}

static void schedule_next(struct backend *b);

/* busy: scraping, waiting to scrape, retrying or being ingested. Counted so that --once can
 * tell "everything finished" without walking thousands of backends per event. */
static void set_busy(struct backend *b, int busy);
static void start_scrape(struct backend *b);
static void backend_finished(struct backend *b);
static void backend_unref(struct backend *b);
static void backend_close(struct backend *b);
static void maybe_progress_shutdown(struct daemon *d);
static void drain_waiting(struct daemon *d);
static void once_check(struct daemon *d);
static void progress(struct daemon *d);

/* d->backends with O(1) removal (an instance leaves it after every scrape): each backend
 * knows the pointer that points at it. */
static void backend_link(struct daemon *d, struct backend *b)
{
    b->next = d->backends;
    if (b->next) b->next->pprev = &b->next;
    b->pprev = &d->backends;
    d->backends = b;
}

static void backend_unlink(struct backend *b)
{
    if (!b->pprev) return;
    *b->pprev = b->next;
    if (b->next) b->next->pprev = b->pprev;
    b->pprev = NULL;
    b->next = NULL;
}

static void set_busy(struct backend *b, int busy)
{
    if (b->busy == busy) return;
    b->busy = busy;
    if (busy) {
        b->d->busy_backends++;
    } else {
        assert(b->d->busy_backends > 0);
        b->d->busy_backends--;
    }
}

/* ---- jobs: one struct per kind, each with its own work (pool) and done (loop) ---------- */

/* Opens (recovers) a target's state on its lane. */
struct load_job {
    struct cpgo_job base;
    struct target *t;
    struct cpgo_target_in in;
    /* outputs */
    int rc;
    struct cpgo_err err;
    /* the opened state: given to the target in load_done, on the loop, because the loop
     * reads t->ts of every target (spill, status) while other targets' loads run */
    struct cpgo_tstate *ts;
    uint64_t pending_scrapes;
    size_t problems; /* what recovery found */
    int held;
    uint64_t corrupt_records;
    char problem[512];
    struct cpgo_state_forge fs; /* the forge record as stored */
};

static void load_work(struct cpgo_job *job)
{
    struct load_job *j = CPGO_JOB_DATA(job, struct load_job, base);
    struct target *t = j->t;
    j->rc = cpgo_state_open(j->in.state_dir, j->in.id, j->in.key, &j->in.mo, &j->in.lim, &j->ts,
                            &j->err);
    if (j->rc) return;
    cpgo_state_set_acct(j->ts, &t->acct);
    j->pending_scrapes = cpgo_state_pending_scrapes(j->ts);
    j->problems = cpgo_state_problem_count(j->ts);
    j->held = cpgo_state_held(j->ts);
    j->corrupt_records = cpgo_state_corrupt_records(j->ts);
    if (j->problems)
        snprintf(j->problem, sizeof j->problem, "%s", cpgo_state_problem(j->ts, 0, NULL));
    cpgo_state_forge_get(j->ts, &j->fs);
}

static void load_done(struct cpgo_job *job, int canceled)
{
    struct load_job *j = CPGO_JOB_DATA(job, struct load_job, base);
    struct target *t = j->t;
    struct daemon *d = t->d;
    if (canceled) j->rc = cpgo_err_set(&j->err, CPGO_E_IO, "canceled at shutdown");
    t->loading = 0;
    if (j->rc && j->ts) cpgo_state_close(j->ts);
    if (j->rc) {
        t->load_failed = 1;
        t->failed = 1;
        snprintf(t->last_error, sizeof t->last_error, "%s", j->err.text);
        cpgo_log(CPGO_LVL_ERROR,
                 d->opts.once ? "cannot open target state"
                              : "cannot open target state (retried at its next tick)",
                 "target", t->key, "error", j->err.text, NULL);
    } else {
        t->ts = j->ts;
        t->loaded = 1;
        t->load_failed = 0;
        if (t->failed && !t->publishes) t->failed = 0;
        t->pending_scrapes = j->pending_scrapes;
        t->problems = j->problems;
        t->held = j->held;
        t->corrupt_records = j->corrupt_records;
        snprintf(t->problem, sizeof t->problem, "%s", j->problem);
        cpgo_observe_state_problems(t);
        t->fs = j->fs;
        t->last_publish_ms = t->fs.last_publish;
        /* the head branch the last round resolved (before this start), unless the
         * configuration names one (cpgo_publish_target_cfg) */
        if (t->fs.head_branch[0] && t->cfg && !t->cfg->head_branch && !d->opts.output_dir)
            snprintf(t->head_branch, sizeof t->head_branch, "%s", t->fs.head_branch);
        if (j->pending_scrapes) {
            char n[24];
            snprintf(n, sizeof n, "%" PRIu64, j->pending_scrapes);
            cpgo_log(CPGO_LVL_INFO, "recovered pending scrapes", "target", t->key,
                     CPGO_LOG_INT("pending_scrapes"), n, NULL);
        }
    }
    free(j);
    progress(d);
}

/* Opens (recovers) the target's state on its lane; again after a failure, at a later
 * tick: a read-only or full disk may come back. */
static void submit_load(struct target *t)
{
    if (t->loading || t->loaded) return;
    struct daemon *d = t->d;
    struct load_job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->base.work = load_work;
    j->base.done = load_done;
    j->t = t;
    cpgo_daemon_target_in(t, &j->in);
    t->acct.total = &d->pending_mem;
    t->loading = 1;
    t->load_failed = 0;
    cpgo_workq_submit(d->q, &t->lane, &j->base);
}

/* Scraped bodies of one target: decode with the limits, require the Go CPU shape, journal
 * (the moment they are accepted: one sync for the job's bodies), merge into pending. A
 * body scraped while its target's last queued job is an ingest job that has not started
 * joins it (up to CPGO_INGEST_BATCH), so a busy lane syncs its journal once for several. */
struct ingest_body {
    struct backend *b;   /* a reference (b->refs) */
    unsigned char *body; /* moved in from the scrape; freed by the work */
    size_t len;
    struct cpgo_url_secrets *secrets; /* the backend's (a reference: a reload may replace b's) */
    struct cpgo_limits lim;
    uint64_t weight_ppm; /* the backend's `pgo: weight`, as configured when scraped */
    /* outputs */
    struct cpgo_ingest_item out;
};

struct ingest_job {
    struct cpgo_job base;
    struct target *t;
    size_t n;
    struct ingest_body *bodies; /* n of them, room for cap (loop thread until started) */
    size_t cap;
    /* outputs */
    uint64_t pending_scrapes;
    double work_seconds;
};

static void ingest_work(struct cpgo_job *job)
{
    struct ingest_job *j = CPGO_JOB_DATA(job, struct ingest_job, base);
    struct target *t = j->t;
    uint64_t started = uv_hrtime();
    struct cpgo_ingest_item it[CPGO_INGEST_BATCH];
    for (size_t i = 0; i < j->n; i++) {
        struct ingest_body *x = &j->bodies[i];
        it[i] = (struct cpgo_ingest_item){.body = x->body,
                                          .len = x->len,
                                          .lim = &x->lim,
                                          .backend = x->b->name,
                                          .weight_ppm = x->weight_ppm,
                                          .secrets = x->secrets};
        if (!t->ts) {
            it[i].rc = cpgo_err_set(&it[i].err, CPGO_E_IO, "target state is not available");
            it[i].cls = CPGO_CLASS_INTERNAL;
        }
    }
    if (t->ts) {
        cpgo_ingest_bodies(t->ts, it, j->n);
        j->pending_scrapes = cpgo_state_pending_scrapes(t->ts);
    }
    for (size_t i = 0; i < j->n; i++) {
        j->bodies[i].out = it[i];
        free(j->bodies[i].body);
        j->bodies[i].body = NULL;
    }
    j->work_seconds = (double)(uv_hrtime() - started) / 1e9;
}

static void ingest_body_done(struct ingest_job *j, struct ingest_body *x, int canceled)
{
    struct target *t = j->t;
    struct backend *b = x->b;
    struct cpgo_ingest_item *o = &x->out;
    if (canceled) {
        o->rc = cpgo_err_set(&o->err, CPGO_E_IO, "canceled at shutdown");
        o->cls = CPGO_CLASS_CANCELED;
    }
    assert(t->ingests > 0);
    t->ingests--;
    /* the scheduled scrape's outcome (its HTTP attempts were counted in scrape_done) */
    cpgo_observe_scrape(b, o->cls);
    if (!o->rc) cpgo_observe_merged(t, j->work_seconds / (double)j->n);
    if (o->rc) {
        b->failed++;
        b->last_class = o->cls;
        snprintf(b->last_error, sizeof b->last_error, "%s", o->err.text);
        cpgo_log(CPGO_LVL_WARN, "scrape rejected", "backend", b->name, "target", t->key, "url",
                 b->url_masked, "class", cpgo_class_name(o->cls), "error", o->err.text, NULL);
    } else {
        b->ok++;
        b->last_class = CPGO_CLASS_OK;
        b->last_error[0] = 0;
        b->last_success_ms = cpgo_daemon_wall_ms();
        char n[32];
        snprintf(n, sizeof n, "%" PRIu64, j->pending_scrapes);
        cpgo_log(CPGO_LVL_INFO, "scrape merged", "backend", b->name, "target", t->key,
                 CPGO_LOG_INT("pending_scrapes"), n, NULL);
    }
    set_busy(b, 0);
    if (!b->removed) backend_finished(b);
    backend_unref(b);
    free(x->body);
    cpgo_url_secrets_unref(x->secrets);
}

static void ingest_done(struct cpgo_job *job, int canceled)
{
    struct ingest_job *j = CPGO_JOB_DATA(job, struct ingest_job, base);
    struct daemon *d = j->t->d;
    if (!canceled && j->t->ts) j->t->pending_scrapes = j->pending_scrapes;
    for (size_t i = 0; i < j->n; i++)
        ingest_body_done(j, &j->bodies[i], canceled);
    free(j->bodies);
    free(j);
    progress(d);
}

/* The target's last queued job if it is an ingest job that has not started and has room. */
static struct ingest_job *open_ingest(struct target *t)
{
    struct cpgo_job *last = cpgo_workq_last_waiting(&t->lane);
    if (!last || last->work != ingest_work) return NULL;
    struct ingest_job *j = CPGO_JOB_DATA(last, struct ingest_job, base);
    if (j->n == CPGO_INGEST_BATCH) return NULL;
    if (j->n == j->cap) {
        size_t cap = j->cap * 2 < CPGO_INGEST_BATCH ? j->cap * 2 : CPGO_INGEST_BATCH;
        struct ingest_body *nb = realloc(j->bodies, cap * sizeof *nb);
        if (!nb) return NULL; /* a job of its own, then */
        j->bodies = nb;
        j->cap = cap;
    }
    return j;
}

/* Queues the scraped body (moved in) on its target's lane: into the lane's last job when
 * that is an ingest job not yet started, else in a job of its own. -1 when out of memory. */
static int submit_ingest(struct backend *b, struct cpgo_scrape_result *r)
{
    struct daemon *d = b->d;
    struct target *t = b->t;
    struct ingest_job *j = open_ingest(t);
    int joined = j != NULL;
    if (!j) {
        j = calloc(1, sizeof *j);
        if (!j) return -1;
        j->bodies = calloc(1, sizeof *j->bodies);
        if (!j->bodies) {
            free(j);
            return -1;
        }
        j->cap = 1;
        j->base.work = ingest_work;
        j->base.done = ingest_done;
        j->t = t;
    }
    struct ingest_body *x = &j->bodies[j->n++];
    memset(x, 0, sizeof *x);
    x->b = b;
    b->refs++;
    x->secrets = cpgo_url_secrets_ref(b->secrets);
    x->lim = d->cfg->limits.profile;
    x->weight_ppm = b->cfg->pgo.weight_ppm;
    x->body = r->body;
    x->len = r->len;
    r->body = NULL; /* the job owns it now */
    t->ingests++;
    if (joined) {
        cpgo_workq_grow(d->q, &j->base, 1, x->len);
    } else {
        j->base.bytes = x->len;
        cpgo_workq_submit(d->q, &t->lane, &j->base);
    }
    return 0;
}

/* At shutdown: a snapshot of the target, so the next start needs no journal replay. */
struct snapshot_job {
    struct cpgo_job base;
    struct target *t;
    int rc;
    struct cpgo_err err;
};

static void snapshot_work(struct cpgo_job *job)
{
    struct snapshot_job *j = CPGO_JOB_DATA(job, struct snapshot_job, base);
    if (j->t->ts) j->rc = cpgo_state_snapshot(j->t->ts, &j->err);
}

static void snapshot_done(struct cpgo_job *job, int canceled)
{
    struct snapshot_job *j = CPGO_JOB_DATA(job, struct snapshot_job, base);
    struct daemon *d = j->t->d;
    if (canceled) j->rc = cpgo_err_set(&j->err, CPGO_E_IO, "canceled at shutdown");
    if (j->rc)
        cpgo_log(CPGO_LVL_WARN, "snapshot failed (the journal still holds everything)", "target",
                 j->t->key, "error", j->err.text, NULL);
    assert(d->snapshots_outstanding > 0);
    d->snapshots_outstanding--;
    free(j);
    progress(d);
}

static int submit_snapshot(struct target *t)
{
    struct snapshot_job *j = calloc(1, sizeof *j);
    if (!j) return -1;
    j->base.work = snapshot_work;
    j->base.done = snapshot_done;
    j->t = t;
    t->d->snapshots_outstanding++;
    cpgo_workq_submit(t->d->q, &t->lane, &j->base);
    return 0;
}

static void progress_after(struct daemon *d, int worked);

/* The idle trim: the heaps keep freed memory up to the trim threshold while work runs
 * (fix_mmap_threshold); once nothing is in flight or queued, it goes back to the system,
 * so the RSS between rounds is what is live (pending merges, caches). On the pool:
 * malloc_trim walks every arena. Not in --once, which exits instead. */
struct trim_job {
    struct cpgo_job base;
    struct daemon *d;
};

static void trim_work(struct cpgo_job *job)
{
    (void)job;
    malloc_trim(0);
}

static void trim_done(struct cpgo_job *job, int canceled)
{
    (void)canceled;
    struct trim_job *j = CPGO_JOB_DATA(job, struct trim_job, base);
    struct daemon *d = j->d;
    free(j);
    d->trimming = 0;
    progress_after(d, 0);
}

static void idle_trim(struct daemon *d)
{
    if (!d->trim_owed || d->trimming || d->stopping || d->opts.once || d->scrapes_in_flight ||
        cpgo_workq_depth(d->q))
        return;
    struct trim_job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->base.work = trim_work;
    j->base.done = trim_done;
    j->d = d;
    d->trim_owed = 0;
    d->trimming = 1;
    cpgo_workq_submit(d->q, &d->trim_lane, &j->base);
}

/* After a job's end, a scrape's failure or a pull-request step's end (the progress hook
 * publish.c calls): waiting scrapes may start, a --once run may end, shutdown may advance,
 * an idle daemon gives freed memory back. `worked`: 0 after the trim job itself. */
static void progress_after(struct daemon *d, int worked)
{
    if (worked) d->trim_owed = 1;
    drain_waiting(d);
    cpgo_spill_check(d);
    if (d->opts.once) once_check(d);
    idle_trim(d);
    maybe_progress_shutdown(d);
}

static void progress(struct daemon *d)
{
    progress_after(d, 1);
}

/* ---- scrapes ------------------------------------------------------------------------- */

static void retry_cb(uv_timer_t *h)
{
    struct backend *b = h->data;
    if (b->d->stopping || b->removed) {
        set_busy(b, 0);
        backend_finished(b);
        return;
    }
    start_scrape(b);
}

/* A scrape in flight ended: done, cancelled or abandoned. */
static void scrape_ended(struct backend *b)
{
    assert(b->d->scrapes_in_flight > 0 && b->t->scraping > 0);
    assert(b->d->expect_bytes >= b->expect_bytes);
    b->d->scrapes_in_flight--;
    b->t->scraping--;
    b->d->expect_bytes -= b->expect_bytes;
    b->expect_bytes = 0;
}

static void scrape_done(struct cpgo_scrape_result *r, void *arg)
{
    struct backend *b = arg;
    struct daemon *d = b->d;
    b->scrape = NULL;
    scrape_ended(b);
    cpgo_observe_attempt(b, r->cls, r->seconds, r->len);
    if (r->cls == CPGO_CLASS_OK) {
        b->last_body_bytes = r->len;
        if (submit_ingest(b, r) == 0) {
            drain_waiting(d);
            return;
        }
        r->cls = CPGO_CLASS_OOM;
        snprintf(r->error, sizeof r->error, "out of memory");
    }
    b->last_class = r->cls;
    snprintf(b->last_error, sizeof b->last_error, "%s", r->error);
    int64_t now = cpgo_daemon_wall_ms();
    int transient = cpgo_class_transient(r->cls);
    if (r->cls == CPGO_CLASS_BUSY && b->svc && !d->stopping && !b->removed &&
        cpgo_service_busy(b->svc, b->inst_key)) {
        /* another profiler is running on this instance: another instance of the service
         * took its place in the round; this one is owed to the next round */
        b->busy_replaced = 1;
        cpgo_observe_scrape(b, r->cls);
        set_busy(b, 0);
        backend_finished(b);
        progress(d);
        return;
    }
    if (transient && b->attempt < b->cfg->retries && !d->stopping && !b->removed) {
        /* exponential backoff with jitter: 1s, 2s, 4s, ... (x 0.5-1.5), only while the
         * retry and its timeout still end before the next tick */
        int64_t base = 1000LL << (b->attempt < 10 ? b->attempt : 10);
        uint64_t rnd = hash_str(b->name, (uint64_t)now * 2654435761u);
        int64_t delay = base / 2 + (int64_t)(rnd % (uint64_t)base);
        if (r->cls == CPGO_CLASS_BUSY) {
            /* busy: a profile is being taken; asking again within seconds only meets the
             * same one. Wait for its duration (plus a jitter of up to a second). */
            delay = b->cfg->seconds * 1000 + (int64_t)(rnd % 1000);
        }
        if (d->opts.once || now + delay + b->cfg->timeout_ms < b->next_fire_ms) {
            b->attempt++;
            char att[16];
            snprintf(att, sizeof att, "%d", b->attempt);
            cpgo_log(CPGO_LVL_INFO, "scrape failed, retrying", "backend", b->name, "target",
                     b->t->key, "url", b->url_masked, "class", cpgo_class_name(r->cls), "error",
                     r->error, CPGO_LOG_INT("attempt"), att, NULL);
            uv_timer_start(&b->retry, retry_cb, (uint64_t)delay, 0);
            return;
        }
    }
    b->failed++;
    cpgo_observe_scrape(b, r->cls);
    cpgo_log(CPGO_LVL_WARN, "scrape failed", "backend", b->name, "target", b->t->key, "url",
             b->url_masked, "class", cpgo_class_name(r->cls), CPGO_LOG_BOOL("transient"),
             transient ? "true" : "false", "error", r->error, NULL);
    set_busy(b, 0);
    backend_finished(b);
    /* --once: the last event may be this failure (a publish that cannot start submits no
     * job whose end would check) */
    progress(d);
}

/* What b's next body is expected to weigh in the work queue: its last one's size, or a
 * typical Go CPU profile's before it has one. */
static size_t expected_body(const struct backend *b)
{
    return b->last_body_bytes ? b->last_body_bytes : CPGO_DAEMON_BODY_GUESS;
}

static int has_capacity(struct daemon *d, const struct backend *b)
{
    /* the configured concurrency, or fewer when the open-file limit cannot hold it
     * (nofile.h): the others wait in the FIFO instead of failing with EMFILE */
    if (d->scrapes_in_flight >=
            cpgo_nofile_scrape_cap(d->nofile, d->cfg->limits.max_concurrent_scrapes) ||
        !cpgo_workq_has_room(d->q))
        return 0;
    /* max_queued_bytes and max_queued_bodies bound the bodies that will arrive too, not
     * only those queued now: every body of a round arrives at about the same time (after
     * `seconds`), faster than the pool can merge them, so room checked at the start alone
     * let a 10,000-backend round queue all of its bodies at once (1.3 GB). A scrape starts
     * when its body (the one it is expected to bring) fits beside the queue and the bodies
     * of the scrapes in flight, by count and by bytes; one always may when none is in
     * flight, whatever its size. Counting the bodies on their way matters for the flow as
     * much as for the bound: with the count checked against the queue alone, the bytes
     * rule started a whole wave (max_queued_bytes' worth), its bodies overflowed the count
     * together, and no scrape started until the queue had drained below it, so the pool
     * sat idle for the next wave's `seconds` (1-2 s every 10 s of a 10,000-backend round).
     * Now each merged body lets one more scrape start, and arrivals stay continuous. */
    return d->scrapes_in_flight == 0 ||
           cpgo_workq_fits(d->q, d->scrapes_in_flight + 1, d->expect_bytes + expected_body(b));
}

static void start_scrape(struct backend *b)
{
    struct daemon *d = b->d;
    if (!has_capacity(d, b) || !b->t->loaded) {
        if (!b->waiting) {
            b->waiting = 1;
            cpgo_list_push_tail(&d->waiting, &b->wait_link);
        }
        return;
    }
    struct cpgo_scrape_req req = {
        .url = b->cfg->url,
        .headers = (const char *const *)b->headers,
        .secrets = b->secrets,
        .timeout_ms = b->cfg->timeout_ms,
        .connect_timeout_ms = b->cfg->connect_timeout_ms,
        .max_body_bytes = d->cfg->limits.profile.max_compressed,
        .done = scrape_done,
        .arg = b,
    };
    char authz[CPGO_SCRAPE_AUTHZ_MAX]; /* "<type> <credentials>": curl copies it */
    cpgo_daemon_scrape_auth(&b->cfg->auth, &req, authz, sizeof authz);
    /* an instance found by name: connect to the address cpgo resolved (dns.servers, which
     * libcurl's system resolver does not know), the name stays in the Host header */
    if (b->svc && b->inst_host) req.resolve_ip = b->inst_addr;
    b->scrape = cpgo_scrape_start(d->scraper, &req);
    if (!b->scrape) {
        b->last_class = CPGO_CLASS_INTERNAL;
        snprintf(b->last_error, sizeof b->last_error, "cannot start the scrape");
        b->failed++;
        cpgo_observe_scrape(b, b->last_class);
        set_busy(b, 0);
        backend_finished(b);
        return;
    }
    d->scrapes_in_flight++;
    b->t->scraping++;
    b->expect_bytes = expected_body(b);
    d->expect_bytes += b->expect_bytes;
    if (cpgo_log_enabled(CPGO_LVL_DEBUG)) { /* -v: each step of a round, as the original logs */
        char to[32], inf[24], expb[24];
        cpgo_duration_format(b->cfg->timeout_ms, to, sizeof to);
        snprintf(inf, sizeof inf, "%zu", d->scrapes_in_flight);
        snprintf(expb, sizeof expb, "%zu", d->expect_bytes);
        /* in_flight and expected_bytes (the bodies those will bring, for max_queued_bytes)
         * say why the next ones wait */
        cpgo_log(CPGO_LVL_DEBUG, "scrape started", "backend", b->name, "target", b->t->key,
                 "timeout", to, CPGO_LOG_INT("in_flight"), inf, CPGO_LOG_INT("expected_bytes"),
                 expb, NULL);
    }
}

static void drain_waiting(struct daemon *d)
{
    while (!cpgo_list_empty(&d->waiting)) {
        struct backend *b = CPGO_LIST_DATA(cpgo_list_head(&d->waiting), struct backend, wait_link);
        if (!d->stopping && !has_capacity(d, b)) break; /* FIFO: the head goes first */
        if (!d->stopping && !b->t->loaded && !b->t->load_failed) break; /* keep FIFO order */
        cpgo_list_remove(&d->waiting, &b->wait_link);
        b->waiting = 0;
        if (d->stopping || b->removed || b->t->load_failed) {
            if (b->t->load_failed) {
                b->failed++;
                b->last_class = CPGO_CLASS_LOCAL;
                cpgo_observe_scrape(b, b->last_class);
                snprintf(b->last_error, sizeof b->last_error, "target state unavailable");
            }
            set_busy(b, 0);
            backend_finished(b);
            continue;
        }
        start_scrape(b);
    }
}

/* One member of the target's round (a backend, an instance, or a service not yet started
 * in --once) is done: when none is left, the target asks to publish. */
static void round_leave(struct target *t)
{
    struct daemon *d = t->d;
    assert(t->round_outstanding > 0);
    t->round_outstanding--;
    if (t->round_outstanding == 0 && !d->stopping) {
        /* with --once too: a target publishes as soon as its own backends are done, while
         * other targets are still being scraped and merged */
        if (d->opts.once) {
            if (t->once_submitted) return;
            t->once_submitted = 1;
            d->once_outstanding_publishes++;
        }
        cpgo_publish_request(t);
    }
}

/* An instance's scrape is over: it leaves the daemon's list and is closed (freed when the
 * last job holding it ends). */
static void instance_release(struct backend *b)
{
    if (b->released) return;
    b->released = 1;
    struct daemon *d = b->d;
    backend_unlink(b);
    if (b->waiting) {
        cpgo_list_remove(&d->waiting, &b->wait_link);
        b->waiting = 0;
    }
    backend_close(b);
}

/* A backend's round is over (success ingested, or final failure). */
static void backend_finished(struct backend *b)
{
    struct target *t = b->t;
    b->attempt = 0;
    /* --once: counted in its target's summary before the target may publish */
    if (b->d->opts.once) cpgo_report_scrape(b);
    if (b->svc && !b->released) {
        /* the service's round first: its summary goes into the publish this may start */
        int result = b->busy_replaced ? -1 : b->last_class == CPGO_CLASS_OK ? 1 : 0;
        cpgo_service_instance_done(b->svc, b->inst_key, result);
        if (b->in_round) {
            b->in_round = 0;
            round_leave(t);
        }
        instance_release(b);
        return;
    }
    if (!b->in_round) return;
    b->in_round = 0;
    round_leave(t);
}

/* Takes the backend out of its target's round without finishing it: a reload removes it or
 * moves it to another target. */
static void leave_round(struct backend *b)
{
    if (!b->in_round) return;
    b->in_round = 0;
    assert(b->t->round_outstanding > 0);
    b->t->round_outstanding--;
}

/* A reload gives a kept backend (same name and URL) another target: what it counts in the
 * old one (its scrape in flight, its place in the round) moves with it, and its scrape
 * series under the old target go. */
static void backend_move(struct backend *b, struct target *t)
{
    if (b->t == t) return;
    cpgo_observe_backend_left(b, 0);
    int in_round = b->in_round;
    leave_round(b);
    if (b->scrape) {
        assert(b->t->scraping > 0);
        b->t->scraping--;
        t->scraping++;
    }
    b->t = t;
    if (in_round) {
        b->in_round = 1;
        t->round_outstanding++;
    }
}

static void tick_cb(uv_timer_t *h)
{
    struct backend *b = h->data;
    struct daemon *d = b->d;
    if (d->stopping || b->removed) return;
    struct target *t = b->t;
    if (t->load_failed && !d->opts.once) submit_load(t); /* its scrape waits for it */
    size_t cap = d->cfg->limits.max_queued_bodies / 4;
    if (cap < 2) cap = 2;
    if (!b->busy && t->forge_job && t->ingests + t->scraping >= cap) {
        /* The target's lane is busy with a git round (a slow or silent git server): its
         * bodies would wait behind it and, past the shared queue's room, stall every
         * other target's scrapes. Skip this tick for this target only. */
        b->missed_ticks++;
        cpgo_observe_missed(b);
        char n[24];
        snprintf(n, sizeof n, "%zu", t->ingests + t->scraping);
        cpgo_log(CPGO_LVL_WARN, "missed tick: the target is busy publishing with scrapes waiting",
                 "backend", b->name, "target", t->key, "waiting", n, NULL);
    } else if (b->busy) {
        b->missed_ticks++;
        cpgo_observe_missed(b);
        char n[24];
        snprintf(n, sizeof n, "%" PRIu64, b->missed_ticks);
        cpgo_log(CPGO_LVL_WARN, "missed tick: the previous scrape is still running", "backend",
                 b->name, "target", b->t->key, "missed_ticks", n, NULL);
    } else {
        set_busy(b, 1);
        b->in_round = 1;
        b->t->round_outstanding++;
        start_scrape(b);
    }
    schedule_next(b);
}

static void schedule_next(struct backend *b)
{
    int64_t now = cpgo_daemon_wall_ms();
    int64_t next;
    /* the next cron time after the one just handled (or now) */
    int64_t after = (b->next_fire_ms > now ? b->next_fire_ms : now) / 1000;
    if (cpgo_cron_next(b->cfg->schedule, after, &next)) {
        cpgo_log(CPGO_LVL_WARN, "schedule never fires again", "backend", b->name, NULL);
        return;
    }
    b->next_fire_ms = next * 1000;
    int64_t delay = b->next_fire_ms + b->offset_ms - now;
    uv_timer_start(&b->tick, tick_cb, delay > 0 ? (uint64_t)delay : 0, 0);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void free_headers(char **h)
{
    for (char **p = h; p && *p; p++)
        free(*p);
    free(h);
}

/* What must never come back from a backend into logs or /status, in every form (url.h):
 * secret header values, the URL's password (or lone user), secret query values and the
 * scrape options' secrets (basic_auth, authorization, proxy_url credentials). A
 * process that holds such a secret is made not dumpable. */
static struct cpgo_url_secrets *build_secrets(const struct cpgo_backend_cfg *c)
{
    struct cpgo_url_secrets *s = cpgo_url_secrets_new();
    if (!s) return NULL;
    for (size_t i = 0; i < c->nheaders; i++)
        cpgo_url_secrets_add_header(s, c->headers[i].name, c->headers[i].value);
    cpgo_url_secrets_add_url(s, c->url);
    cpgo_daemon_scrape_auth_secrets(&c->auth, s);
    if (cpgo_url_secrets_count(s)) cpgo_url_secrets_nodump();
    return s;
}

static char **build_headers(const struct cpgo_backend_cfg *c)
{
    char **h = calloc(c->nheaders + 1, sizeof *h);
    if (!h) return NULL;
    for (size_t i = 0; i < c->nheaders; i++) {
        size_t n = strlen(c->headers[i].name) + strlen(c->headers[i].value) + 3;
        h[i] = malloc(n);
        if (!h[i]) {
            free_headers(h);
            return NULL;
        }
        snprintf(h[i], n, "%s: %s", c->headers[i].name, c->headers[i].value);
    }
    return h;
}

/* The id a target's state lives under. With --output DIR its pending scrapes are kept
 * apart from the forge target's (a run with --output must never consume what the daemon
 * will propose): the id is a hash of the target's id and "output". Every --output run
 * shares it, so a scrape accepted by one whose publish failed is published by the next. */
static void target_state_id(const struct daemon *d, const struct cpgo_target_cfg *tc, char *id,
                            size_t cap)
{
    if (!d->opts.output_dir) {
        snprintf(id, cap, "%s", tc->id);
        return;
    }
    cpgo_config_output_state_id(tc->id, id, cap);
}

static void target_set_cfg(struct target *t, const struct cpgo_target_cfg *tc)
{
    t->cfg = tc;
    t->trim = tc->trim;
    snprintf(t->key, sizeof t->key, "%s", tc->key);
    target_state_id(t->d, tc, t->id, sizeof t->id);
    cpgo_publish_target_cfg(t);
}

static struct target *target_new(struct daemon *d, const struct cpgo_target_cfg *tc)
{
    struct target *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->d = d;
    target_set_cfg(t, tc);
    t->next = d->targets;
    d->targets = t;
    submit_load(t);
    return t;
}

static void backend_unref(struct backend *b)
{
    assert(b->refs > 0);
    if (--b->refs == 0) {
        if (b->svc) {
            free(b->inst_cfg.url);
            cpgo_service_unref(b->svc);
        }
        free(b->inst_host);
        free_headers(b->headers);
        cpgo_url_secrets_unref(b->secrets);
        free(b);
    }
}

static void backend_handle_closed(uv_handle_t *h)
{
    backend_unref(h->data);
}

static struct backend *backend_new(struct daemon *d, const struct cpgo_backend_cfg *bc,
                                   struct target *t)
{
    struct backend *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->d = d;
    b->cfg = bc;
    b->t = t;
    snprintf(b->name, sizeof b->name, "%s", bc->name);
    cpgo_url_mask(bc->url, b->url_masked, sizeof b->url_masked);
    b->headers = build_headers(bc);
    b->secrets = build_secrets(bc);
    uv_timer_init(&d->loop, &b->tick);
    uv_timer_init(&d->loop, &b->retry);
    b->tick.data = b->retry.data = b;
    b->refs = 2;
    /* a deterministic spread: up to a tenth of the period, at most 5 s */
    /* the period was measured once when the config was loaded, off the loop */
    int64_t period_ms = bc->period_s * 1000;
    int64_t spread = period_ms / 10 < 5000 ? period_ms / 10 : 5000;
    b->offset_ms =
        spread > 0
            ? (int64_t)(hash_str(bc->url, hash_str(bc->name, CPGO_FNV1A_INIT)) % (uint64_t)spread)
            : 0;
    backend_link(d, b);
    return b;
}

/* The instance hook (service.c): one scrape of one instance, as a backend of its own in
 * the target's round, with the service's settings and the instance's URL. */
static int instance_start(struct service *s, const struct cpgo_instance *in)
{
    struct daemon *d = s->d;
    const struct cpgo_service_cfg *sc = s->cfg;
    struct backend *b = calloc(1, sizeof *b);
    if (!b) return -1;
    char hostport[400];
    const char *host = in->host ? in->host : in->addr;
    snprintf(hostport, sizeof hostport, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, in->port);
    const char *path = sc->path && sc->path[0] ? sc->path : "/debug/pprof/profile";
    size_t ulen = strlen(hostport) + strlen(path) + 64;
    char *url = malloc(ulen);
    if (!url) {
        free(b);
        return -1;
    }
    snprintf(url, ulen, "%s://%s%s%sseconds=%" PRId64, sc->https ? "https" : "http", hostport, path,
             strchr(path, '?') ? "&" : "?", sc->tmpl.seconds);
    b->d = d;
    b->svc = s;
    cpgo_service_ref(s);
    b->inst_cfg = sc->tmpl; /* shallow: the strings stay the configuration's */
    b->inst_cfg.url = url;
    b->cfg = &b->inst_cfg;
    b->t = s->t;
    b->inst_key = in->key;
    snprintf(b->inst_addr, sizeof b->inst_addr, "%s", in->addr);
    b->inst_host = in->host ? strdup(in->host) : NULL;
    char ia[80];
    cpgo_instance_format(in, ia, sizeof ia);
    snprintf(b->name, sizeof b->name, "%.170s/%s", s->name, ia);
    cpgo_url_mask(url, b->url_masked, sizeof b->url_masked);
    b->headers = build_headers(&sc->tmpl);
    b->secrets = build_secrets(&b->inst_cfg);
    uv_timer_init(&d->loop, &b->tick);
    uv_timer_init(&d->loop, &b->retry);
    b->tick.data = b->retry.data = b;
    b->refs = 2;
    b->next_fire_ms = s->next_fire_ms; /* retries end before the service's next tick */
    backend_link(d, b);
    set_busy(b, 1);
    b->in_round = 1;
    b->t->round_outstanding++;
    start_scrape(b);
    return 0;
}

/* A reload kept the service: its instances' scrapes (in flight, waiting, or waiting to
 * retry) take its new settings, as a kept backend does. inst_cfg is a shallow copy of the
 * service's template, whose strings (tls_config, basic_auth, authorization, proxy_url)
 * the old configuration owned: it is freed when the reload ends. */
static void instances_update(struct daemon *d, struct service *s)
{
    for (struct backend *b = d->backends; b; b = b->next) {
        if (b->svc != s || b->released) continue;
        char *url = b->inst_cfg.url; /* the instance's own */
        b->inst_cfg = s->cfg->tmpl;
        b->inst_cfg.url = url;
        free_headers(b->headers);
        b->headers = build_headers(&b->inst_cfg);
        cpgo_url_secrets_unref(b->secrets);
        b->secrets = build_secrets(&b->inst_cfg);
    }
}

static void backend_close(struct backend *b)
{
    set_busy(b, 0);
    if (b->scrape) {
        cpgo_scrape_cancel(b->scrape);
        b->scrape = NULL;
        scrape_ended(b);
    }
    uv_timer_stop(&b->tick);
    uv_timer_stop(&b->retry);
    uv_close((uv_handle_t *)&b->tick, backend_handle_closed);
    uv_close((uv_handle_t *)&b->retry, backend_handle_closed);
}

static void scraper_closed(void *arg)
{
    (void)arg;
}

static void finish(struct daemon *d)
{
    if (d->closing) return;
    d->closing = 1;
    /* the wait list holds only backends that will not start now */
    for (struct cpgo_list_node *n; (n = cpgo_list_pop_head(&d->waiting));)
        CPGO_LIST_DATA(n, struct backend, wait_link)->waiting = 0;
    for (struct backend *b = d->backends, *n; b; b = n) {
        n = b->next;
        if (d->opts.once) cpgo_report_scrape(b); /* stopped before its scrape ended */
        b->pprev = NULL;
        b->next = NULL;
        b->released = 1; /* an instance: nothing to unlink any more */
        backend_close(b);
    }
    d->backends = NULL;
    /* discovery before the scraper: Kubernetes watches run on its multi */
    for (struct service *s = d->services, *n; s; s = n) {
        n = s->next;
        cpgo_service_close(s);
    }
    d->services = NULL;
    if (d->resolver) cpgo_resolver_close(d->resolver, scraper_closed, d);
    d->resolver = NULL;
    cpgo_publish_close(d); /* before the scraper: the GitHub client borrows it */
    cpgo_observe_close(d);
    cpgo_scraper_close(d->scraper, scraper_closed, d);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    if (d->shutdown_timer_open) uv_close((uv_handle_t *)&d->shutdown_timer, NULL);
    if (d->once_sd_open) uv_close((uv_handle_t *)&d->once_sd_timer, NULL);
    cpgo_report_stop(d);
}

static void shutdown_deadline_cb(uv_timer_t *h)
{
    struct daemon *d = h->data;
    cpgo_log(CPGO_LVL_WARN, "shutdown deadline reached: abandoning scrapes in flight", NULL);
    for (struct backend *b = d->backends; b; b = b->next) {
        if (b->scrape) {
            cpgo_scrape_cancel(b->scrape);
            b->scrape = NULL;
            scrape_ended(b);
            set_busy(b, 0);
        }
        uv_timer_stop(&b->retry);
    }
    if (!cpgo_publish_idle(d)) {
        /* A git transfer that never ends (libgit2 1.5 has no socket timeouts) holds a pool
         * thread that nothing can interrupt. Everything accepted is already durable (the
         * journal is synced before a scrape counts; every state file is replaced
         * atomically), so leaving now loses nothing: the next start recovers, as after
         * kill -9. */
        cpgo_log(CPGO_LVL_ERROR,
                 "shutdown deadline reached with a git transfer still running: exiting without "
                 "it (the state on disk is complete)",
                 NULL);
        _exit(d->opts.once ? 1 : 0);
    }
    maybe_progress_shutdown(d);
}

static void maybe_progress_shutdown(struct daemon *d)
{
    if (!d->stopping || d->closing) return;
    if (d->scrapes_in_flight || cpgo_workq_depth(d->q) || d->reloading || !cpgo_publish_idle(d))
        return;
    for (struct backend *b = d->backends; b; b = b->next)
        if (uv_is_active((uv_handle_t *)&b->retry)) return;
    if (d->snapshot_phase == 0) {
        /* flush: snapshot each target so the next start needs no journal replay */
        d->snapshot_phase = 1;
        for (struct target *t = d->targets; t; t = t->next) {
            if (t->loaded) submit_snapshot(t);
        }
        if (d->snapshots_outstanding) return;
    }
    if (d->snapshots_outstanding) return;
    d->snapshot_phase = 2;
    finish(d);
}

static void begin_shutdown(struct daemon *d, const char *why)
{
    if (d->stopping) return;
    d->stopping = 1;
    cpgo_log(CPGO_LVL_INFO, "stopping", "reason", why, NULL);
    for (struct service *s = d->services; s; s = s->next)
        cpgo_service_stop(s);
    for (struct backend *b = d->backends; b; b = b->next) {
        uv_timer_stop(&b->tick);
        if (uv_is_active((uv_handle_t *)&b->retry)) {
            uv_timer_stop(&b->retry);
            set_busy(b, 0);
        }
    }
    drain_waiting(d); /* releases waiting backends without starting them */
    uv_timer_init(&d->loop, &d->shutdown_timer);
    d->shutdown_timer.data = d;
    d->shutdown_timer_open = 1;
    uv_timer_start(&d->shutdown_timer, shutdown_deadline_cb, (uint64_t)d->cfg->shutdown_timeout_ms,
                   0);
    uv_unref((uv_handle_t *)&d->shutdown_timer);
    maybe_progress_shutdown(d);
}

static void signal_cb(uv_signal_t *h, int signum);

static int dns_same(const struct cpgo_dns_cfg *a, const struct cpgo_dns_cfg *b)
{
    if (a->nservers != b->nservers || a->timeout_ms != b->timeout_ms) return 0;
    for (size_t i = 0; i < a->nservers; i++)
        if (strcmp(a->servers[i], b->servers[i])) return 0;
    return 1;
}

/* Applies a new configuration: keeps the runtime of targets and backends that still exist
 * (matched by target key, and backend name + URL), adds new ones, retires the rest. */
static void apply_config(struct daemon *d, struct cpgo_config *nc)
{
    struct cpgo_config *old = d->cfg;
    d->cfg = nc;
    cpgo_scraper_set_inflight_budget(d->scraper, nc->limits.max_inflight_bytes);
    size_t conc = nc->limits.max_concurrent_scrapes;
    cpgo_nofile_warn(d->nofile, conc, cpgo_nofile_scrape_cap(d->nofile, conc),
                     &d->nofile_warned_for);
    for (struct target *t = d->targets; t; t = t->next)
        t->retired = 1;
    struct target **tmap = calloc(nc->ntargets + 1, sizeof *tmap);
    for (size_t i = 0; i < nc->ntargets; i++) {
        if (!cpgo_daemon_owns(&d->opts, nc->targets[i].id)) continue; /* another replica's */
        struct target *t = d->targets;
        while (t && strcmp(t->key, nc->targets[i].key))
            t = t->next;
        if (t) {
            target_set_cfg(t, &nc->targets[i]);
            t->retired = 0;
        } else {
            t = target_new(d, &nc->targets[i]);
        }
        if (tmap) tmap[i] = t;
    }
    /* retired targets keep their state object (a job may be running) but get no work, and
     * their series leave /metrics */
    for (struct target *t = d->targets; t; t = t->next)
        if (t->retired) {
            if (t->cfg) cpgo_observe_target_retired(t);
            t->cfg = NULL;
        }
    /* existing backends by name (unique within a config): a string map, so a reload of
     * thousands of backends stays linear */
    size_t nold = 0;
    for (struct backend *b = d->backends; b; b = b->next) {
        if (b->svc) continue; /* an instance's scrape: goes with its service (below) */
        b->removed = 1;
        nold++;
    }
    struct cpgo_strmap byname = {0};
    struct backend **prev = calloc(nold ? nold : 1, sizeof *prev);
    nold = 0;
    for (struct backend *b = d->backends; b && prev; b = b->next) {
        if (b->svc) continue;
        prev[nold] = b;
        if (cpgo_strmap_put(&byname, b->name, nold++) == CPGO_E_NOMEM) {
            free(prev); /* no reuse then: every backend starts afresh */
            prev = NULL;
        }
    }
    for (size_t i = 0; i < nc->nbackends; i++) {
        const struct cpgo_backend_cfg *bc = &nc->backends[i];
        struct backend *b = NULL;
        size_t *k = prev ? cpgo_strmap_get(&byname, bc->name) : NULL;
        if (k && prev[*k]->removed && !strcmp(prev[*k]->cfg->url, bc->url)) b = prev[*k];
        struct target *t = tmap ? tmap[bc->target] : NULL;
        if (!t) continue;
        if (b) {
            b->removed = 0;
            b->cfg = bc;
            backend_move(b, t);
            free_headers(b->headers);
            b->headers = build_headers(bc);
            cpgo_url_secrets_unref(b->secrets);
            b->secrets = build_secrets(bc);
        } else {
            b = backend_new(d, bc, t);
            if (!b) continue;
        }
        b->next_fire_ms = 0;
        if (!d->opts.once) schedule_next(b);
    }
    /* services, by name: a kept one keeps its rotation and its round. Every discovery
     * starts again on the new configuration (its sources point into it); when `dns:`
     * changed, on a new resolver (the sources are closed before the resolver they use). */
    if (d->resolver && old && !dns_same(&old->dns, &nc->dns)) {
        for (struct service *s = d->services; s; s = s->next)
            cpgo_service_stop_discovery(s);
        cpgo_resolver_close(d->resolver, scraper_closed, d);
        d->resolver = NULL;
        cpgo_log(CPGO_LVL_INFO, "dns settings changed: a new resolver", NULL);
    }
    for (struct service *s = d->services; s; s = s->next)
        s->removed = 1;
    for (size_t i = 0; i < nc->nservices; i++) {
        const struct cpgo_service_cfg *sc = &nc->services[i];
        struct target *t = tmap ? tmap[sc->target] : NULL;
        if (!t) continue;
        struct service *s = d->services;
        while (s && (!s->removed || strcmp(s->name, sc->name)))
            s = s->next;
        if (s) {
            s->removed = 0;
            /* moved to another target: its scrape series under the old one go */
            if (t != s->t) cpgo_observe_service_left(s, s->t);
            cpgo_service_update(s, sc, t);
            instances_update(d, s);
        } else {
            s = cpgo_service_new(d, sc, t);
            if (!s) continue;
        }
        if (!d->opts.once) cpgo_service_schedule(s);
    }
    for (struct backend *b = d->backends; b; b = b->next)
        if (b->svc && b->svc->removed) b->removed = 1;
    for (struct service **sp = &d->services; *sp;) {
        struct service *s = *sp;
        if (!s->removed) {
            sp = &s->next;
            continue;
        }
        *sp = s->next;
        cpgo_log(CPGO_LVL_INFO, "service removed", "service", s->name, NULL);
        cpgo_observe_service_left(s, s->t);
        cpgo_service_close(s);
    }
    free(tmap);
    free(prev);
    cpgo_strmap_free(&byname);
    /* removed backends: cancel what is in flight, close their timers */
    struct backend **pp = &d->backends;
    while (*pp) {
        struct backend *b = *pp;
        if (!b->removed) {
            pp = &b->next;
            continue;
        }
        backend_unlink(b);
        if (b->waiting) {
            cpgo_list_remove(&d->waiting, &b->wait_link);
            b->waiting = 0;
        }
        leave_round(b);
        if (b->svc) {
            b->released = 1;
        } else {
            cpgo_observe_backend_left(b, 1);
            cpgo_log(CPGO_LVL_INFO, "backend removed", "backend", b->name, NULL);
        }
        backend_close(b);
    }
    /* targets whose backends are now all gone still hold their cfg pointer into the old
     * config only if retired; those got cfg = NULL above */
    for (struct target *t = d->targets; t; t = t->next)
        if (!t->retired && t->cfg == NULL) t->retired = 1;
    if (old) cpgo_config_free(old);
}

/* Reading and validating the file (YAML, cron, up to thousands of backends) is CPU work: it
 * runs on the pool; only the swap runs on the loop. */
struct reload_req {
    uv_work_t req;
    struct daemon *d;
    char path[4096];
    struct cpgo_config *nc;
    struct cpgo_config_errors errs;
    int rc;
    const char *flag_token;
    /* each forge's token, read with the new configuration (token files rotate) */
    char *token[CPGO_PRAPI_NFORGES];
    char token_source[CPGO_PRAPI_NFORGES][64];
    struct cpgo_err token_err[CPGO_PRAPI_NFORGES];
    int token_rc[CPGO_PRAPI_NFORGES];
    char state_dir[4096]; /* the running one (it cannot change): the git cache's place */
    /* github.app: the key read again (a replaced key file is used for the next JWT) */
    char *app_pem;
    size_t app_pem_len;
    struct cpgo_err app_err;
    int app_rc;
};

static void reload_work(uv_work_t *w)
{
    struct reload_req *r = w->data;
    r->rc = cpgo_config_reload(r->path, &r->nc, &r->errs);
    for (int f = 0; !r->rc && r->nc && f < CPGO_PRAPI_NFORGES; f++)
        r->token_rc[f] =
            cpgo_token_load(r->nc, (enum cpgo_prapi_forge)f, r->flag_token, &r->token[f],
                            r->token_source[f], sizeof r->token_source[f], &r->token_err[f]);
    if (!r->rc && r->nc)
        r->app_rc = cpgo_token_app_key(r->nc, &r->app_pem, &r->app_pem_len, &r->app_err);
    /* default branches again (one may have changed): refused like any invalid file; with
     * github.app, through installation tokens minted with the key just read */
    if (!r->rc && r->nc && cpgo_config_unresolved(r->nc)) {
        struct cpgo_token_set ts = {.cfg = r->nc};
        for (int f = 0; f < CPGO_PRAPI_NFORGES; f++)
            ts.tok[f] = r->token_rc[f] ? NULL : r->token[f];
        struct cpgo_app_tokens *at =
            r->app_rc ? NULL : cpgo_daemon_app_tokens(r->nc, r->app_pem, r->app_pem_len);
        ts.app = at;
        r->rc =
            cpgo_daemon_resolve_branches(&r->nc, r->state_dir, cpgo_token_git_cred, &ts, &r->errs);
        cpgo_daemon_app_tokens_free(at);
    }
}

static void reload_done(uv_work_t *w, int status)
{
    struct reload_req *r = w->data;
    struct daemon *d = r->d;
    d->reloading = 0;
    if (status == 0 && r->rc) {
        for (size_t i = 0; i < r->errs.n; i++)
            cpgo_log(CPGO_LVL_ERROR, "config reload refused; keeping the running configuration",
                     "error", r->errs.lines[i], NULL);
        cpgo_observe_config_loaded(d, 0);
    } else if (status == 0 && !d->stopping && r->nc) {
        struct cpgo_config *nc = r->nc;
        r->nc = NULL;
        if ((nc->listen || d->cfg->listen) &&
            (!nc->listen || !d->cfg->listen || strcmp(nc->listen, d->cfg->listen)))
            cpgo_log(CPGO_LVL_WARN, "listen cannot change on reload; restart to apply it", NULL);
        if (nc->log_level != d->cfg->log_level || nc->log_format != d->cfg->log_format) {
            /* -v keeps debug whatever the file says */
            cpgo_log_set_level(d->opts.verbose ? CPGO_LVL_DEBUG : (int)nc->log_level,
                               nc->log_format == CPGO_LOG_JSON);
            cpgo_log(CPGO_LVL_INFO, "log settings changed", "level",
                     nc->log_level == CPGO_LOG_DEBUG  ? "debug"
                     : nc->log_level == CPGO_LOG_INFO ? "info"
                     : nc->log_level == CPGO_LOG_WARN ? "warn"
                                                      : "error",
                     "format", nc->log_format == CPGO_LOG_JSON ? "json" : "logfmt", NULL);
        }
        if (strcmp(nc->state_dir, d->cfg->state_dir)) {
            cpgo_log(CPGO_LVL_WARN, "state_dir cannot change on reload; keeping the old one", NULL);
            free(nc->state_dir);
            nc->state_dir = strdup(d->cfg->state_dir);
        }
        const struct cpgo_github_cfg *og = &d->cfg->github;
        int app_changed =
            og->app.app_id != nc->github.app.app_id ||
            og->app.installation_id != nc->github.app.installation_id ||
            strcmp(og->api_url ? og->api_url : "", nc->github.api_url ? nc->github.api_url : "");
        apply_config(d, nc);
        if (r->app_rc)
            cpgo_log(CPGO_LVL_ERROR, "cannot read the GitHub App key; keeping the one in use",
                     "error", r->app_err.text, NULL);
        else if (!d->opts.output_dir || app_changed) {
            cpgo_publish_app_reload(d, r->app_pem, r->app_pem_len, app_changed);
            r->app_pem = NULL;
        }
        for (int f = 0; !d->opts.output_dir && f < CPGO_PRAPI_NFORGES; f++) {
            if (r->token_rc[f]) {
                cpgo_log(CPGO_LVL_ERROR, "cannot read a forge token; keeping the one in use",
                         "forge", cpgo_prapi_forge_name((enum cpgo_prapi_forge)f), "error",
                         r->token_err[f].text, NULL);
            } else {
                cpgo_token_update(d, (enum cpgo_prapi_forge)f, r->token[f], r->token_source[f]);
                r->token[f] = NULL;
            }
        }
        /* repository URLs, git.ssh_key and git.timeout may have changed: every target's git
         * handle is opened again at its next round (cheap: it is plain data), and the GitHub
         * client is replaced once idle (github.api_url) */
        d->token_gen++;
        for (int f = 0; f < CPGO_PRAPI_NFORGES; f++) {
            const char *api = cpgo_token_api_url(d->cfg, (enum cpgo_prapi_forge)f);
            if (d->fa[f].client && strcmp(d->fa[f].api_url, api ? api : "")) d->fa[f].stale = 1;
        }
        char n[24];
        snprintf(n, sizeof n, "%zu", nc->nbackends);
        cpgo_log(CPGO_LVL_INFO, "configuration reloaded", CPGO_LOG_INT("backends"), n, NULL);
        cpgo_observe_config_loaded(d, 1);
    }
    if (r->nc) cpgo_config_free(r->nc);
    for (int f = 0; f < CPGO_PRAPI_NFORGES; f++)
        if (r->token[f]) {
            explicit_bzero(r->token[f], strlen(r->token[f]));
            free(r->token[f]);
        }
    cpgo_ghapp_key_free(r->app_pem, r->app_pem_len);
    cpgo_config_errors_free(&r->errs);
    free(r);
    maybe_progress_shutdown(d);
}

static void reload(struct daemon *d)
{
    if (d->reloading) return; /* one reload at a time; the next SIGHUP reads the newer file */
    struct reload_req *r = calloc(1, sizeof *r);
    if (!r) return;
    r->d = d;
    r->req.data = r;
    snprintf(r->path, sizeof r->path, "%s", d->opts.config_path);
    snprintf(r->state_dir, sizeof r->state_dir, "%s", d->cfg->state_dir);
    r->flag_token = d->opts.github_token;
    if (uv_queue_work(&d->loop, &r->req, reload_work, reload_done)) {
        free(r);
        return;
    }
    d->reloading = 1;
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    if (signum == SIGHUP) {
        /* a dry run's configuration points at its private state directory */
        if (!d->stopping && !d->opts.dry_run) reload(d);
        return;
    }
    begin_shutdown(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* --once: when every backend has finished and no ingest is queued, publish every target;
 * when every publish has finished, stop. */
static void once_check(struct daemon *d)
{
    if (d->stopping) return;
    /* services first: each starts its round once discovery has settled (or the wait is
     * over); until then it holds its target's round open */
    if (d->once_services_started) {
        for (struct service *s = d->services; s; s = s->next) {
            if (!s->once_hold) continue;
            if (!cpgo_service_once_poll(s, d->once_sd_timed_out)) continue;
            s->once_hold = 0;
            round_leave(s->t);
        }
    }
    if (d->busy_backends || !cpgo_list_empty(&d->waiting)) return;
    for (struct service *s = d->services; s; s = s->next)
        if (s->once_hold) return;
    if (!d->once_publishing) {
        for (struct target *t = d->targets; t; t = t->next)
            if (!t->loaded && !t->load_failed) return;
        d->once_publishing = 1;
        /* targets whose round never started (no backend reached them) publish now */
        for (struct target *t = d->targets; t; t = t->next) {
            if (t->retired || !t->loaded || t->once_submitted) continue;
            t->once_submitted = 1;
            d->once_outstanding_publishes++;
            cpgo_publish_request(t);
        }
    }
    if (d->once_outstanding_publishes == 0 && cpgo_workq_depth(d->q) == 0)
        begin_shutdown(d, "--once finished");
}

/* --once: how long services wait for their discovery's first answers before they scrape
 * what is known */
#define ONCE_DISCOVERY_WAIT_MS 30000

static void once_sd_timeout_cb(uv_timer_t *h)
{
    struct daemon *d = h->data;
    d->once_sd_timed_out = 1;
    uv_timer_stop(h);
    progress(d);
}

static void once_start_cb(uv_timer_t *h)
{
    struct daemon *d = h->data;
    for (struct service *s = d->services; s; s = s->next) {
        s->once_hold = 1;
        s->t->round_outstanding++;
    }
    d->once_services_started = 1;
    if (d->services) {
        uv_timer_init(&d->loop, &d->once_sd_timer);
        d->once_sd_timer.data = d;
        d->once_sd_open = 1;
        uv_timer_start(&d->once_sd_timer, once_sd_timeout_cb, ONCE_DISCOVERY_WAIT_MS, 0);
    }
    for (struct backend *b = d->backends; b; b = b->next) {
        set_busy(b, 1);
        b->in_round = 1;
        b->t->round_outstanding++;
        start_scrape(b);
    }
    uv_close((uv_handle_t *)h, (uv_close_cb)free);
    once_check(d);
}

/* Response bodies, decode arenas and merge tables are large buffers freed in any order.
 * glibc's dynamic mmap threshold rises (up to 32 MiB) with every large buffer freed, after
 * which their successors come from the heap and stay resident: the in-flight budget would
 * bound what is live but not the process's RSS. A fixed threshold stops that. It is 4 MiB,
 * not less: below it a round's merge tables, graphs and exports (mostly 0.1 to 2 MiB) are
 * reused from the heap instead of being mapped, faulted in page by page and unmapped (with
 * a TLB shootdown on every core) for each target. Measured on 1,000 heavy backends
 * (bench/scrape.sh --heavy, three paired runs): 763k page faults and 15.7 s of CPU with a
 * 256 KiB threshold, 13.7 s with 4 MiB. What the heaps keep is bounded by the trim
 * threshold per arena while work runs, and given back when the daemon goes idle
 * (idle_trim): the RSS between rounds is what is live. */
static void fix_mmap_threshold(void)
{
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
#endif
}

/* Frees what cpgo_daemon_run set up (its loop closed or never run), the configuration in
 * d->cfg included, and releases the libraries and the state directory's lock. */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* --dry-run: its private state directory goes when it ends (no link followed). */
static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void daemon_free(struct daemon *d)
{
    cpgo_report_free(d);
    cpgo_token_free(d);
    cpgo_observe_free(d);
    for (struct target *t = d->targets, *n; t; t = n) {
        n = t->next;
        cpgo_state_close(t->ts);
        cpgo_gitrepo_close(t->git);
        free(t->pr_title);
        free(t->pr_body);
        free(t);
    }
    cpgo_workq_free(d->q);
    cpgo_config_free(d->cfg);
    cpgo_git_shutdown();
    curl_global_cleanup();
    cpgo_state_unlock(d->lock_fd);
    free(d);
}

/* cpgo_daemon_run without the dry run's cleanup: dry_dir gets the private state directory
 * once it exists, so every path out of here leaves it to the caller to remove. */
static int run(const struct cpgo_run_opts *o, char *dry_dir, size_t dry_cap)
{
    fix_mmap_threshold();
    /* With TZ unset, glibc's mktime (git_signature_now, for every commit) reads
     * /etc/localtime again on each call, freeing and copying its record of TZ under a lock
     * ThreadSanitizer cannot see. TZ set to that same file (what glibc defaults to) makes
     * each later call a string compare; set before any pool thread exists. */
    if (!getenv("TZ")) setenv("TZ", ":/etc/localtime", 0);
    tzset();
    struct cpgo_config *cfg = NULL;
    struct cpgo_config_errors errs = {0};
    int rc = cpgo_config_load(o->config_path, &cfg, &errs);
    if (rc) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "cpgo run: %s\n", errs.lines[i]);
        cpgo_config_errors_free(&errs);
        /* a missing or unreadable file is a usage error too: systemd's
         * RestartPreventExitStatus=2 must not restart a daemon that cannot start */
        return rc == CPGO_E_NOMEM ? 1 : 2;
    }
    cpgo_config_errors_free(&errs);
    cpgo_log_setup(o->verbose ? CPGO_LVL_DEBUG : (int)cfg->log_level,
                   cfg->log_format == CPGO_LOG_JSON, o->log_fd > 0 ? o->log_fd : 2);
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        fprintf(stderr, "cpgo run: cannot initialise libcurl\n");
        cpgo_config_free(cfg);
        return 1;
    }
    /* CPU work and fsyncs share libuv's pool: give it room to overlap them on every core
     * (read once, at the pool's first use; the process has no other thread yet). */
    if (!getenv("UV_THREADPOOL_SIZE")) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        char n[32];
        snprintf(n, sizeof n, "%ld", ncpu < 2 ? 4 : ncpu * 3 > 64 ? 64 : ncpu * 3);
        setenv("UV_THREADPOOL_SIZE", n, 0);
    }
    /* --output DIR: two targets must never share an output file (exit 2, before anything) */
    if (o->output_dir) {
        struct cpgo_err e;
        int lrc = cpgo_daemon_check_output(o->output_dir, cfg, &e);
        if (lrc) {
            fprintf(stderr, "cpgo run: %s\n", e.text);
            cpgo_config_free(cfg);
            curl_global_cleanup();
            return lrc == CPGO_E_NOMEM ? 1 : 2;
        }
    }
    /* --dry-run: a private state directory (removed at exit) instead of the configured one,
     * which is neither read, written nor locked, and no admin endpoint (the daemon's port
     * stays the daemon's) */
    if (o->dry_run) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dry_dir, dry_cap, "%s/cpgo-dry-run-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dry_dir)) dry_dir[0] = 0; /* nothing for the caller to remove */
        char *sd = dry_dir[0] ? strdup(dry_dir) : NULL;
        struct cpgo_err e;
        /* what the daemon holds pending is part of what it would publish: copied, read-only
         * (the real state directory is trusted first, as a run would) */
        int crc = !sd ? -1 : cpgo_state_dir_prepare(cfg->state_dir, 0, &e);
        if (crc == CPGO_E_EMPTY) crc = 0;
        if (!crc) crc = cpgo_state_dir_copy(cfg->state_dir, sd, &e);
        if (crc) {
            if (!sd)
                fprintf(stderr, "cpgo run: --dry-run: cannot create a temporary directory in %s\n",
                        tmp && *tmp ? tmp : "/tmp");
            else
                fprintf(stderr, "cpgo run: --dry-run: %s\n", e.text);
            free(sd);
            cpgo_config_free(cfg);
            curl_global_cleanup();
            return 1;
        }
        free(cfg->state_dir);
        cfg->state_dir = sd;
        free(cfg->listen);
        cfg->listen = NULL;
    }
    /* one owner per state directory, before anything is read from it: a second daemon
     * would replay the first one's journal and publish those scrapes again */
    int lock_fd = -1;
    {
        struct cpgo_err e;
        if (cpgo_state_dir_prepare(cfg->state_dir, 1, &e) ||
            cpgo_state_lock(cfg->state_dir, &lock_fd, &e)) {
            fprintf(stderr, "cpgo run: %s\n", e.text);
            cpgo_log(CPGO_LVL_ERROR, "cannot start", "error", e.text, NULL);
            cpgo_config_free(cfg);
            curl_global_cleanup();
            return 1;
        }
    }
    struct cpgo_err gerr;
    if (cpgo_git_init(&gerr)) {
        fprintf(stderr, "cpgo run: %s\n", gerr.text);
        cpgo_config_free(cfg);
        curl_global_cleanup();
        return 1;
    }
    /* git over http(s): a server that stops answering fails the round after this long
     * without data, instead of holding a pool thread forever */
    cpgo_gitsock_set_timeouts(cfg->git.timeout_ms < 30000 ? cfg->git.timeout_ms : 30000,
                              cfg->git.timeout_ms < 60000 ? cfg->git.timeout_ms : 60000);
    /* what the configuration accepts without effect (a pull-request option of a local
     * target): said once at start, as check-config says it */
    for (size_t i = 0; i < cfg->nwarnings; i++)
        cpgo_log(CPGO_LVL_WARN, "configuration", "warning", cfg->warnings[i], NULL);
    /* every scrape in flight holds a socket: the soft fd limit up to the hard one first */
    size_t nofile = cpgo_nofile_raise();
    struct daemon *d = calloc(1, sizeof *d);
    if (!d) return 1;
    d->nofile = nofile;
    d->opts = *o;
    d->lock_fd = lock_fd;
    d->progress = progress;
    d->instance_start = instance_start;
    d->target_load = submit_load;
    if (!o->output_dir) {
        struct cpgo_err e;
        d->cfg = cfg; /* for the token settings; apply_config sets it for good */
        if (cpgo_token_setup(d, &e)) {
            fprintf(stderr, "cpgo run: %s\n", e.text);
            daemon_free(d);
            return 1;
        }
        d->cfg = NULL;
    }
    /* a target_branch not written: the repository's default branch, asked now (the loop has
     * not started) and used from here on as if written -- before the shard, the --output
     * paths and the targets are decided */
    if (cpgo_config_unresolved(cfg)) {
        struct cpgo_config_errors rerrs = {0};
        /* each forge's token as the forge job sends it; with --output (which reads no token
         * otherwise) loaded here, and a public repository needs none */
        struct cpgo_token_set ts = {.cfg = cfg};
        char *own[CPGO_PRAPI_NFORGES] = {0};
        struct cpgo_err e;
        /* github.app (its key loaded by cpgo_token_setup): installation tokens instead */
        struct cpgo_app_tokens *at = cpgo_daemon_app_tokens(cfg, d->app.pem, d->app.pem_len);
        ts.app = at;
        for (int f = 0; f < CPGO_PRAPI_NFORGES; f++) {
            char src[64];
            if (o->output_dir && cpgo_token_load(cfg, (enum cpgo_prapi_forge)f, o->github_token,
                                                 &own[f], src, sizeof src, &e))
                own[f] = NULL;
            ts.tok[f] = o->output_dir ? own[f] : d->fa[f].token;
        }
        /* the configuration is loaded again: what this run changed in it (--dry-run's
         * private state directory, no admin endpoint) is carried over */
        char *sd = strdup(cfg->state_dir), *listen = cfg->listen ? strdup(cfg->listen) : NULL;
        int rrc = !sd || (cfg->listen && !listen)
                      ? CPGO_E_NOMEM
                      : cpgo_daemon_resolve_branches(&cfg, sd, cpgo_token_git_cred, &ts, &rerrs);
        if (!rrc) {
            free(cfg->state_dir);
            cfg->state_dir = sd;
            free(cfg->listen);
            cfg->listen = listen;
            sd = listen = NULL;
        }
        free(sd);
        free(listen);
        for (int f = 0; f < CPGO_PRAPI_NFORGES; f++)
            if (own[f]) {
                explicit_bzero(own[f], strlen(own[f]));
                free(own[f]);
            }
        cpgo_daemon_app_tokens_free(at);
        for (size_t i = 0; i < rerrs.n; i++) {
            fprintf(stderr, "cpgo run: %s\n", rerrs.lines[i]);
            cpgo_log(CPGO_LVL_ERROR, "cannot start", "error", rerrs.lines[i], NULL);
        }
        cpgo_config_errors_free(&rerrs);
        if (!rrc && o->output_dir && (rrc = cpgo_daemon_check_output(o->output_dir, cfg, &e))) {
            fprintf(stderr, "cpgo run: %s\n", e.text);
            rrc = rrc == CPGO_E_NOMEM ? rrc : CPGO_E_INPUT;
        }
        if (rrc) {
            if (rrc == CPGO_E_NOMEM) fprintf(stderr, "cpgo run: out of memory\n");
            cpgo_config_free(cfg);
            daemon_free(d);
            return rrc == CPGO_E_INPUT ? 2 : 1;
        }
    }
    uv_loop_init(&d->loop);
    struct cpgo_scraper_opts so = {"cpgo/" CPGO_VERSION, cfg->limits.max_inflight_bytes, 0};
    if (cpgo_scraper_new(&d->loop, &so, &d->scraper) ||
        cpgo_workq_new(&d->loop, cfg->limits.max_queued_bodies, cfg->limits.max_queued_bytes, 0,
                       &d->q)) {
        fprintf(stderr, "cpgo run: out of memory\n");
        return 1;
    }
    {
        struct cpgo_err e;
        d->cfg = cfg; /* read by the admin endpoint's setup; apply_config sets it for good */
        if (cpgo_observe_init(d, &e) || cpgo_observe_start(d, &e)) {
            fprintf(stderr, "cpgo run: %s\n", e.text);
            cpgo_log(CPGO_LVL_ERROR, "cannot start", "error", e.text, NULL);
            cpgo_observe_close(d);
            cpgo_scraper_close(d->scraper, scraper_closed, d);
            uv_run(&d->loop, UV_RUN_DEFAULT);
            uv_loop_close(&d->loop);
            daemon_free(d);
            return 1;
        }
        cpgo_observe_config_loaded(d, 1); /* the start's load counts, as in Prometheus */
        d->cfg = NULL;
    }
    uv_signal_init(&d->loop, &d->sigint);
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sighup);
    d->sigint.data = d->sigterm.data = d->sighup.data = d;
    uv_signal_start(&d->sigint, signal_cb, SIGINT);
    uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&d->sighup, signal_cb, SIGHUP);
    char nb[24], nt[24];
    snprintf(nb, sizeof nb, "%zu", cfg->nbackends);
    snprintf(nt, sizeof nt, "%zu", cfg->ntargets);
    char shard[32] = "all";
    if (o->shard_count > 1) {
        size_t owned = 0;
        for (size_t i = 0; i < cfg->ntargets; i++)
            owned += cpgo_daemon_owns(o, cfg->targets[i].id);
        snprintf(shard, sizeof shard, "%u/%u", o->shard_index, o->shard_count);
        snprintf(nt, sizeof nt, "%zu of %zu", owned, cfg->ntargets);
    }
    cpgo_log(CPGO_LVL_INFO, "starting", "config", o->config_path, CPGO_LOG_INT("backends"), nb,
             "targets", nt, "shard", shard, "state_dir", cfg->state_dir, "mode",
             o->once ? "once" : "daemon", NULL);
    d->cfg = NULL;
    apply_config(d, cfg);
    if (o->once && cpgo_report_start(d)) {
        fprintf(stderr, "cpgo run: out of memory\n");
        begin_shutdown(d, "out of memory");
    } else if (o->once) {
        uv_timer_t *t = malloc(sizeof *t);
        uv_timer_init(&d->loop, t);
        t->data = d;
        uv_timer_start(t, once_start_cb, 0, 0);
    }
    uv_run(&d->loop, UV_RUN_DEFAULT);
    /* the loop thread's own CPU time: curl, timers and callbacks, no decoding or merging */
    struct timespec cpu;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    char cpus[32];
    snprintf(cpus, sizeof cpus, "%.3f", (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9);
    char lagmax[32];
    snprintf(lagmax, sizeof lagmax, "%.4f", d->obs.lag_max_ever);
    cpgo_log(CPGO_LVL_INFO, "stopped", CPGO_LOG_NUM("loop_cpu_seconds"), cpus,
             CPGO_LOG_NUM("loop_lag_max_seconds"), lagmax, NULL);

    /* --once: the summary (report.c) decides: a target not published fails the run, a
     * failed backend in a published target is a warning (a failure with --strict) */
    int code = o->once ? cpgo_report_finish(d, o->summary ? stdout : NULL) : 0;
    if (uv_loop_close(&d->loop))
        cpgo_log(CPGO_LVL_WARN, "loop closed with handles still open", NULL);
    daemon_free(d);
    return code;
}

int cpgo_daemon_run(const struct cpgo_run_opts *o)
{
    char dry_dir[4096] = "";
    int code = run(o, dry_dir, sizeof dry_dir);
    /* --dry-run: its private state directory (a copy of pending) goes on every path out */
    if (dry_dir[0]) remove_tree(dry_dir);
    return code;
}
