/*
 * observe.c - what the daemon shows about itself: the Prometheus metrics (admin/metrics.h),
 * the admin endpoint's pages (admin/http.h) when `listen:` is set, and the loop-lag probe.
 *
 *   /healthz  200 while the loop answers (a stuck loop answers nothing, which is the
 *             signal), with the last measured loop lag
 *   /readyz   200 once the configuration is loaded and every target's state was opened;
 *             503 listing the targets whose state is not (yet) readable
 *   /metrics  the registry below, plus the server's own cpgo_admin_* families
 *   /status   JSON (jansson): every backend with its target, last result and error class,
 *             last success, next run; every target with its pending scrapes, last
 *             publish, next publish (min_interval's time, null when none waits), head
 *             branch, pull request; GitHub's rate-limit state. URLs are shown masked and
 *             the token never appears: nothing here holds it.
 *
 * Loop lag: a repeating 1 s timer compares when it ran with when it was due; the gauge is
 * the most recent lag, the histogram their distribution. The timer is unref'd so it never
 * keeps the loop alive.
 *
 * Counters are updated where events happen: daemon.c and publish.c call one
 * cpgo_observe_* function per event, from one place each, and never touch the registry
 * themselves (a scrape's HTTP attempts and its final outcome are two events: three busy
 * answers are three attempts and one failed scrape, as /status counts it); gauges, and
 * the process_* metrics, are refreshed by a collector when /metrics renders, which also
 * makes the counters of every configured backend and target exist at zero. A value not
 * known yet is absent, never a placeholder (docs/METRICS.md). A reload that
 * removes a backend, a service or a target removes its series (cpgo_metric_remove), so
 * /metrics shows only what is configured; events of a retired target that finish later are
 * not counted.
 * Thread: the loop only.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/http.h"
#include "admin/metrics.h"
#include "admin/process.h"
#include "base/log.h"
#include "daemon/daemon_int.h"
#include "version.h" /* CPGO_COMMIT, for cpgo_build_info */

#define LAG_PERIOD_MS 1000
#define STATUS_MAX (64u << 20)

static const double dur_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
static const double merge_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25,  0.5,    1,     2.5,  5,     10};
static const double lag_buckets[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};

static void iso_time(int64_t ms, char *buf, size_t cap)
{
    if (ms <= 0) {
        buf[0] = 0;
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cpgo_observe_rfc3339(int64_t ms, char *buf, size_t cap)
{
    iso_time(ms, buf, cap);
}

static json_t *time_or_null(int64_t ms)
{
    char t[40];
    iso_time(ms, t, sizeof t);
    return t[0] ? json_string(t) : json_null();
}

/* ---- metrics ---------------------------------------------------------------------------- */

/* Makes a counter's series exist at zero (a configured backend's or target's, so rate()
 * and increase() see its first event); a value too long for a label is left out rather
 * than counted as dropped at every render. */
static void ensure(struct cpgo_metric *m, const char *const *values)
{
    for (size_t i = 0; values[i]; i++)
        if (strlen(values[i]) > CPGO_METRIC_VALUE_MAX) return;
    cpgo_metric_add(m, 0, values);
}

/* A gauge whose value may be unknown: set, or absent (never a placeholder). */
static void set_or_absent(struct cpgo_metric *m, double v, int known)
{
    if (known)
        cpgo_metric_set(m, v, NULL);
    else
        cpgo_metric_remove(m, NULL);
}

static void collect(struct cpgo_metrics *r, void *arg)
{
    (void)r;
    struct daemon *d = arg;
    struct cpgo_observe *o = &d->obs;
    /* the process, read now (a few syscalls: only when /metrics is asked for) */
    struct cpgo_process p;
    cpgo_process_read(&p);
    set_or_absent(o->proc_cpu, p.cpu_seconds, p.cpu_seconds >= 0);
    set_or_absent(o->proc_rss, p.resident_bytes, p.resident_bytes >= 0);
    set_or_absent(o->proc_vms, p.virtual_bytes, p.virtual_bytes >= 0);
    set_or_absent(o->proc_fds, p.open_fds, p.open_fds >= 0);
    set_or_absent(o->proc_max_fds, p.max_fds, p.max_fds >= 0);
    set_or_absent(o->proc_start, p.start_time_s, p.start_time_s >= 0);
    cpgo_metric_set(o->reload_ok, o->cfg_ok ? 1 : 0, NULL);
    set_or_absent(o->reload_at, (double)o->cfg_ok_ms / 1000.0, o->cfg_ok_ms > 0);
    cpgo_metric_set(o->queue_depth, (double)cpgo_workq_depth(d->q), NULL);
    cpgo_metric_set(o->scrapes_in_flight, (double)d->scrapes_in_flight, NULL);
    cpgo_metric_set(o->inflight_bytes, (double)cpgo_scraper_inflight_bytes(d->scraper), NULL);
    cpgo_metric_set(o->inflight_peak, (double)cpgo_scraper_inflight_peak(d->scraper), NULL);
    if (d->cfg)
        cpgo_metric_set(o->inflight_budget, (double)d->cfg->limits.max_inflight_bytes, NULL);
    cpgo_metric_set(o->loop_lag, o->last_lag_s, NULL);
    double mx = 0;
    for (size_t i = 0; i < LAG_WINDOW; i++)
        if (o->lag_ring[i] > mx) mx = o->lag_ring[i];
    cpgo_metric_set(o->loop_lag_max, mx, NULL);
    cpgo_metric_set(o->publish_queue, (double)d->pubq.len, NULL);
    cpgo_metric_set(o->pending_mem, (double)atomic_load(&d->pending_mem), NULL);
    if (d->cfg) cpgo_metric_set(o->pending_budget, (double)d->cfg->limits.max_pending_memory, NULL);
    /* GitHub's: absent until there is a client, the remaining count until it answered */
    struct cpgo_prapi_status st = {.rate_remaining = -1};
    struct cpgo_prapi_client *gh = d->fa[CPGO_PRAPI_GITHUB].client;
    if (gh) cpgo_prapi_client_status(gh, &st);
    set_or_absent(o->gh_remaining, (double)st.rate_remaining, gh && st.rate_remaining >= 0);
    set_or_absent(o->gh_stopped, st.stopped ? 1 : 0, gh != NULL);
    /* per-target and per-backend gauges: rebuilt, so removed ones disappear */
    cpgo_metric_clear(o->pending);
    for (struct target *t = d->targets; t; t = t->next)
        if (!t->retired)
            cpgo_metric_set(o->pending, (double)t->pending_scrapes, CPGO_LABELS(t->key));
    cpgo_metric_clear(o->state_problems);
    for (struct target *t = d->targets; t; t = t->next)
        if (!t->retired && t->loaded)
            cpgo_metric_set(o->state_problems, (double)t->problems, CPGO_LABELS(t->key));
    cpgo_metric_clear(o->last_publish);
    for (struct target *t = d->targets; t; t = t->next)
        if (!t->retired && t->published_ok_ms)
            cpgo_metric_set(o->last_publish, (double)t->published_ok_ms / 1000.0,
                            CPGO_LABELS(t->key));
    cpgo_metric_clear(o->last_success);
    for (struct backend *b = d->backends; b; b = b->next)
        if (b->last_success_ms && !b->svc)
            cpgo_metric_set(o->last_success, (double)b->last_success_ms / 1000.0,
                            CPGO_LABELS(b->name, b->t->key));
    /* the counters of everything configured exist from the start, at zero (a removed one's
     * series went at the reload: cpgo_observe_backend_left and the others) */
    for (struct target *t = d->targets; t; t = t->next) {
        if (t->retired) continue;
        ensure(o->merged, CPGO_LABELS(t->key));
        ensure(o->settled, CPGO_LABELS(t->key));
        ensure(o->corrupt_records, CPGO_LABELS(t->key));
        ensure(o->publishes, CPGO_LABELS(t->key, "failed"));
    }
    for (struct backend *b = d->backends; b; b = b->next) {
        if (b->svc || b->removed) continue; /* an instance counts under its service */
        ensure(o->scrapes, CPGO_LABELS(b->name, b->t->key, "ok"));
        ensure(o->attempts, CPGO_LABELS(b->name, b->t->key, "ok"));
        ensure(o->missed, CPGO_LABELS(b->name));
    }
    for (struct service *s = d->services; s; s = s->next) {
        if (s->removed) continue;
        ensure(o->scrapes, CPGO_LABELS(s->name, s->t->key, "ok"));
        ensure(o->attempts, CPGO_LABELS(s->name, s->t->key, "ok"));
    }
    /* services and their sources: rebuilt, so removed ones disappear */
    struct cpgo_metric *svc[] = {o->sd_instances,    o->sd_failures, o->sd_refresh_seconds,
                                 o->sd_last_success, o->sd_up,       o->svc_discovered,
                                 o->svc_scraped,     o->svc_busy,    o->svc_skipped};
    for (size_t i = 0; i < sizeof svc / sizeof *svc; i++)
        cpgo_metric_clear(svc[i]);
    for (struct service *s = d->services; s; s = s->next)
        cpgo_service_collect(s);
}

int cpgo_observe_init(struct daemon *d, struct cpgo_err *err)
{
    struct cpgo_observe *o = &d->obs;
    /* one series per backend and class at most: a 10,000-backend fleet fits */
    o->reg = cpgo_metrics_new(200000);
    if (!o->reg) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    struct cpgo_metrics *r = o->reg;
    o->build_info = cpgo_metric_gauge(r, "cpgo_build_info",
                                      "The version and git commit cpgo was built from (always 1).",
                                      CPGO_LABELS("version", "commit"));
    o->scrapes = cpgo_metric_counter(r, "cpgo_scrapes_total",
                                     "Scheduled scrapes ended, once each with its final outcome "
                                     "after its retries, by backend (a service's instances under "
                                     "the service), target and class: ok (merged), or why it "
                                     "failed (timeout, http_5xx, busy, bad_payload, ...). "
                                     "/status counts the same (scrapes_ok, scrapes_failed).",
                                     CPGO_LABELS("backend", "target", "class"));
    o->attempts = cpgo_metric_counter(r, "cpgo_scrape_attempts_total",
                                      "HTTP requests to backends, every retry counted, by "
                                      "backend, target and the transfer's class (ok: a body "
                                      "was received, whatever its content).",
                                      CPGO_LABELS("backend", "target", "class"));
    o->scrape_seconds = cpgo_metric_histogram(
        r, "cpgo_scrape_duration_seconds", "Wall time of one scrape attempt's transfer.", NULL,
        dur_buckets, sizeof dur_buckets / sizeof *dur_buckets);
    o->bytes = cpgo_metric_counter(r, "cpgo_scrape_received_bytes_total",
                                   "Response bytes received from backends.", NULL);
    o->missed = cpgo_metric_counter(r, "cpgo_missed_ticks_total",
                                    "Schedule ticks skipped because the previous scrape of the "
                                    "backend was still running (or its target was busy "
                                    "publishing with scrapes waiting).",
                                    CPGO_LABELS("backend"));
    o->merged = cpgo_metric_counter(r, "cpgo_profiles_merged_total",
                                    "Scraped profiles accepted and merged into pending.",
                                    CPGO_LABELS("target"));
    o->merge_seconds = cpgo_metric_histogram(
        r, "cpgo_merge_duration_seconds",
        "Time to decode, validate, journal and merge one scraped profile (work queue).", NULL,
        merge_buckets, sizeof merge_buckets / sizeof *merge_buckets);
    o->publishes = cpgo_metric_counter(r, "cpgo_publishes_total",
                                       "Publish rounds by target and outcome (pushed, unchanged, "
                                       "nothing, gated, failed, pr_opened, pr_updated, ...).",
                                       CPGO_LABELS("target", "outcome"));
    o->settled = cpgo_metric_counter(r, "cpgo_settled_scrapes_total",
                                     "Scrapes published because the target branch took cpgo's "
                                     "file (a merged pull request).",
                                     CPGO_LABELS("target"));
    o->pending =
        cpgo_metric_gauge(r, "cpgo_pending_scrapes",
                          "Accepted scrapes not yet in the target branch.", CPGO_LABELS("target"));
    o->state_problems = cpgo_metric_gauge(r, "cpgo_state_problems",
                                          "Damaged state files found at recovery and not yet "
                                          "acknowledged (cpgo state; cpgo state --ack).",
                                          CPGO_LABELS("target"));
    o->corrupt_records =
        cpgo_metric_counter(r, "cpgo_state_corrupt_records_total",
                            "Damaged journal records skipped at recovery.", CPGO_LABELS("target"));
    o->last_success = cpgo_metric_gauge(r, "cpgo_backend_last_success_timestamp_seconds",
                                        "When the backend was last scraped successfully.",
                                        CPGO_LABELS("backend", "target"));
    o->sd_instances = cpgo_metric_gauge(r, "cpgo_discovery_instances",
                                        "Instances a discovery source contributes to its service "
                                        "(after deduplication).",
                                        CPGO_LABELS("service", "source"));
    o->sd_failures = cpgo_metric_counter(r, "cpgo_discovery_failures_total",
                                         "Refreshes of a discovery source that failed (its last "
                                         "good instances are kept).",
                                         CPGO_LABELS("service", "source"));
    o->sd_refresh_seconds = cpgo_metric_gauge(r, "cpgo_discovery_refresh_duration_seconds",
                                              "How long the last refresh of a discovery source "
                                              "took.",
                                              CPGO_LABELS("service", "source"));
    o->sd_last_success = cpgo_metric_gauge(r, "cpgo_discovery_last_success_timestamp_seconds",
                                           "When a discovery source last refreshed successfully.",
                                           CPGO_LABELS("service", "source"));
    o->sd_up = cpgo_metric_gauge(r, "cpgo_discovery_up",
                                 "1 when the last refresh of a discovery source succeeded.",
                                 CPGO_LABELS("service", "source"));
    o->svc_discovered =
        cpgo_metric_gauge(r, "cpgo_service_instances_discovered",
                          "Instances of a service discovered now.", CPGO_LABELS("service"));
    o->svc_scraped = cpgo_metric_gauge(r, "cpgo_service_instances_scraped",
                                       "Instances of a service scraped successfully in its last "
                                       "round.",
                                       CPGO_LABELS("service"));
    o->svc_busy = cpgo_metric_gauge(r, "cpgo_service_instances_busy",
                                    "Instances of a service found busy (another profiler) in its "
                                    "last round.",
                                    CPGO_LABELS("service"));
    o->svc_skipped = cpgo_metric_counter(r, "cpgo_service_rounds_skipped_total",
                                         "Rounds of a service skipped (no instances, state not "
                                         "ready).",
                                         CPGO_LABELS("service"));
    o->last_publish = cpgo_metric_gauge(r, "cpgo_target_last_publish_timestamp_seconds",
                                        "When a publish of the target last ended without "
                                        "failing (written, pushed, unchanged, nothing pending, "
                                        "below min_change, ...); absent until one did since "
                                        "the start.",
                                        CPGO_LABELS("target"));
    o->gh_remaining = cpgo_metric_gauge(r, "cpgo_github_rate_limit_remaining",
                                        "GitHub's x-ratelimit-remaining from the last response "
                                        "(absent before the first).",
                                        NULL);
    o->gh_stopped = cpgo_metric_gauge(r, "cpgo_github_stopped",
                                      "1 when GitHub rejected the token (401) and all GitHub "
                                      "work stopped (absent without GitHub).",
                                      NULL);
    o->reload_ok = cpgo_metric_gauge(r, "cpgo_config_last_reload_successful",
                                     "1 when the last load of the configuration (the start, or "
                                     "SIGHUP) succeeded, 0 when the file was refused.",
                                     NULL);
    o->reload_at = cpgo_metric_gauge(r, "cpgo_config_last_reload_success_timestamp_seconds",
                                     "When the configuration was last loaded successfully.", NULL);
    o->proc_cpu = cpgo_metric_counter(r, "process_cpu_seconds_total",
                                      "Total user and system CPU time spent in seconds.", NULL);
    o->proc_rss = cpgo_metric_gauge(r, "process_resident_memory_bytes",
                                    "Resident memory size in bytes.", NULL);
    o->proc_vms =
        cpgo_metric_gauge(r, "process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL);
    o->proc_fds =
        cpgo_metric_gauge(r, "process_open_fds", "Number of open file descriptors.", NULL);
    o->proc_max_fds =
        cpgo_metric_gauge(r, "process_max_fds", "Maximum number of open file descriptors.", NULL);
    o->proc_start =
        cpgo_metric_gauge(r, "process_start_time_seconds",
                          "Start time of the process since unix epoch in seconds.", NULL);
    o->queue_depth = cpgo_metric_gauge(r, "cpgo_workqueue_depth",
                                       "Jobs queued or running on the work queue.", NULL);
    o->publish_queue = cpgo_metric_gauge(r, "cpgo_publish_queue_length",
                                         "Targets waiting for their turn to publish.", NULL);
    o->scrapes_in_flight = cpgo_metric_gauge(r, "cpgo_scrape_connections_open",
                                             "Scrapes in flight (open backend connections).", NULL);
    o->inflight_bytes = cpgo_metric_gauge(r, "cpgo_scrape_inflight_bytes",
                                          "Bytes of response bodies being received now (what "
                                          "limits.max_inflight_bytes bounds).",
                                          NULL);
    o->inflight_peak = cpgo_metric_gauge(r, "cpgo_scrape_inflight_peak_bytes",
                                         "The most cpgo_scrape_inflight_bytes has been since "
                                         "the start.",
                                         NULL);
    o->inflight_budget = cpgo_metric_gauge(r, "cpgo_scrape_inflight_budget_bytes",
                                           "limits.max_inflight_bytes.", NULL);
    o->loop_lag =
        cpgo_metric_gauge(r, "cpgo_loop_lag_seconds",
                          "How late the event loop ran a 1 s timer, last measured.", NULL);
    o->loop_lag_max = cpgo_metric_gauge(r, "cpgo_loop_lag_max_seconds",
                                        "The largest loop lag of the last 10 probes (10 s).", NULL);
    o->loop_lag_hist = cpgo_metric_histogram(r, "cpgo_loop_lag_distribution_seconds",
                                             "How late the event loop ran its 1 s timer.", NULL,
                                             lag_buckets, sizeof lag_buckets / sizeof *lag_buckets);
    o->pending_mem = cpgo_metric_gauge(r, "cpgo_pending_memory_bytes",
                                       "Memory the targets' pending merges hold now (estimated "
                                       "from the mergers' tables; what "
                                       "limits.max_pending_memory bounds).",
                                       NULL);
    o->pending_budget = cpgo_metric_gauge(r, "cpgo_pending_memory_budget_bytes",
                                          "limits.max_pending_memory.", NULL);
    o->spills = cpgo_metric_counter(r, "cpgo_pending_spills_total",
                                    "Pending merges spilled to the state directory to stay "
                                    "within limits.max_pending_memory (loaded back when the "
                                    "target next needs them).",
                                    NULL);
    if (cpgo_metrics_error(r))
        return cpgo_err_set(err, CPGO_E_USAGE, "metrics: %s", cpgo_metrics_error(r));
    cpgo_metric_set(o->build_info, 1, CPGO_LABELS(CPGO_VERSION, CPGO_COMMIT));
    /* absent until known (collect) */
    cpgo_metric_remove(o->gh_remaining, NULL);
    cpgo_metric_remove(o->gh_stopped, NULL);
    cpgo_metric_remove(o->reload_at, NULL);
    cpgo_metrics_add_collector(r, collect, d);
    return 0;
}

void cpgo_observe_spilled(struct daemon *d)
{
    cpgo_metric_inc(d->obs.spills, NULL);
}

static const char *const outcome_names[CPGO_OUTCOME_COUNT] = {
    [CPGO_OUTCOME_NONE] = "none",
    [CPGO_OUTCOME_FAILED] = "failed",
    [CPGO_OUTCOME_WRITTEN] = "written",
    [CPGO_OUTCOME_UNCHANGED] = "unchanged",
    [CPGO_OUTCOME_NOTHING] = "nothing",
    [CPGO_OUTCOME_PUSHED] = "pushed",
    [CPGO_OUTCOME_GATED] = "gated",
    [CPGO_OUTCOME_SAME_AS_BASE] = "same_as_base",
    [CPGO_OUTCOME_PR_OPENED] = "pr_opened",
    [CPGO_OUTCOME_PR_UPDATED] = "pr_updated",
    [CPGO_OUTCOME_PR_CURRENT] = "pr_current",
    [CPGO_OUTCOME_PR_CLOSED] = "pr_closed",
    [CPGO_OUTCOME_SMALL_CHANGE] = "small_change",
    [CPGO_OUTCOME_DRY_RUN] = "dry_run",
};

void cpgo_observe_attempt(struct backend *b, enum cpgo_class cls, double seconds, size_t bytes)
{
    struct cpgo_observe *o = &b->d->obs;
    if (seconds > 0) cpgo_metric_observe(o->scrape_seconds, seconds, NULL);
    cpgo_metric_add(o->bytes, (double)bytes, NULL);
    /* a removed backend's (or service's) series are gone: a scrape it canceled or that
     * ends after the reload must not bring them back */
    if (b->removed) return;
    /* an instance of a service counts under the service's name: instances come and go,
     * series must not */
    const char *who = b->svc ? b->svc->name : b->name;
    cpgo_metric_inc(o->attempts, CPGO_LABELS(who, b->t->key, cpgo_class_name(cls)));
}

void cpgo_observe_scrape(struct backend *b, enum cpgo_class cls)
{
    if (b->removed) return; /* as above */
    const char *who = b->svc ? b->svc->name : b->name;
    cpgo_metric_inc(b->d->obs.scrapes, CPGO_LABELS(who, b->t->key, cpgo_class_name(cls)));
}

void cpgo_observe_config_loaded(struct daemon *d, int ok)
{
    d->obs.cfg_ok = ok;
    if (ok) d->obs.cfg_ok_ms = cpgo_daemon_wall_ms();
}

void cpgo_observe_missed(struct backend *b)
{
    if (b->svc) return;
    cpgo_metric_inc(b->d->obs.missed, CPGO_LABELS(b->name));
}

void cpgo_observe_merged(struct target *t, double seconds)
{
    cpgo_metric_observe(t->d->obs.merge_seconds, seconds, NULL);
    if (!t->retired) cpgo_metric_inc(t->d->obs.merged, CPGO_LABELS(t->key));
}

void cpgo_observe_publish(struct target *t, enum cpgo_outcome outcome)
{
    if (outcome <= CPGO_OUTCOME_NONE || outcome >= CPGO_OUTCOME_COUNT) return;
    t->last_outcome = outcome;
    t->last_outcome_ms = cpgo_daemon_wall_ms();
    if (outcome != CPGO_OUTCOME_FAILED && outcome != CPGO_OUTCOME_DRY_RUN)
        t->published_ok_ms = t->last_outcome_ms;
    if (!t->retired)
        cpgo_metric_inc(t->d->obs.publishes, CPGO_LABELS(t->key, outcome_names[outcome]));
}

void cpgo_observe_state_problems(struct target *t)
{
    if (t->corrupt_records && !t->retired)
        cpgo_metric_add(t->d->obs.corrupt_records, (double)t->corrupt_records, CPGO_LABELS(t->key));
}

void cpgo_observe_settled(struct target *t, uint64_t scrapes)
{
    if (!t->retired) cpgo_metric_add(t->d->obs.settled, (double)scrapes, CPGO_LABELS(t->key));
}

void cpgo_observe_backend_left(struct backend *b, int removed)
{
    if (b->svc) return;
    struct cpgo_observe *o = &b->d->obs;
    for (int c = 0; c < CPGO_CLASS_COUNT; c++) {
        cpgo_metric_remove(o->scrapes, CPGO_LABELS(b->name, b->t->key, cpgo_class_name(c)));
        cpgo_metric_remove(o->attempts, CPGO_LABELS(b->name, b->t->key, cpgo_class_name(c)));
    }
    if (removed) cpgo_metric_remove(o->missed, CPGO_LABELS(b->name));
}

void cpgo_observe_service_left(const struct service *s, const struct target *t)
{
    /* its instances count under the service's name (cpgo_observe_scrape) */
    struct cpgo_observe *o = &s->d->obs;
    for (int c = 0; c < CPGO_CLASS_COUNT; c++) {
        cpgo_metric_remove(o->scrapes, CPGO_LABELS(s->name, t->key, cpgo_class_name(c)));
        cpgo_metric_remove(o->attempts, CPGO_LABELS(s->name, t->key, cpgo_class_name(c)));
    }
}

void cpgo_observe_target_retired(struct target *t)
{
    struct cpgo_observe *o = &t->d->obs;
    cpgo_metric_remove(o->merged, CPGO_LABELS(t->key));
    cpgo_metric_remove(o->settled, CPGO_LABELS(t->key));
    cpgo_metric_remove(o->corrupt_records, CPGO_LABELS(t->key));
    for (int c = CPGO_OUTCOME_NONE + 1; c < CPGO_OUTCOME_COUNT; c++)
        cpgo_metric_remove(o->publishes, CPGO_LABELS(t->key, outcome_names[c]));
}

/* ---- loop lag ----------------------------------------------------------------------------- */

static void lag_cb(uv_timer_t *h)
{
    struct daemon *d = h->data;
    struct cpgo_observe *o = &d->obs;
    uint64_t now = uv_hrtime();
    double lag = o->lag_due ? (double)(int64_t)(now - o->lag_due) / 1e9 : 0;
    if (lag < 0) lag = 0;
    o->last_lag_s = lag;
    o->lag_ring[o->lag_next++ % LAG_WINDOW] = lag;
    if (lag > o->lag_max_ever) o->lag_max_ever = lag;
    cpgo_metric_observe(o->loop_lag_hist, lag, NULL);
    o->lag_due = now + (uint64_t)LAG_PERIOD_MS * 1000000u;
    uv_timer_start(h, lag_cb, LAG_PERIOD_MS, 0);
}

/* ---- pages -------------------------------------------------------------------------------- */

static int page_healthz(const char *path, const char *query, struct cpgo_admin_resp *resp,
                        void *arg)
{
    (void)path;
    (void)query;
    struct daemon *d = arg;
    char s[96];
    int n = snprintf(s, sizeof s, "ok\nloop_lag_seconds %.6f\n", d->obs.last_lag_s);
    return cpgo_buf_append(resp->body, s, (size_t)n);
}

static int page_readyz(const char *path, const char *query, struct cpgo_admin_resp *resp, void *arg)
{
    (void)path;
    (void)query;
    struct daemon *d = arg;
    size_t waiting = 0, failed = 0, problems = 0;
    for (struct target *t = d->targets; t; t = t->next) {
        if (t->retired) continue;
        if (t->load_failed)
            failed++;
        else if (!t->loaded)
            waiting++;
        else if (t->problems)
            problems++;
    }
    struct cpgo_prapi_status gst;
    int gh_stopped = -1;
    for (int f = 0; f < CPGO_PRAPI_NFORGES && gh_stopped < 0; f++)
        if (d->fa[f].client) {
            cpgo_prapi_client_status(d->fa[f].client, &gst);
            if (gst.stopped) gh_stopped = f;
        }
    if (gh_stopped >= 0) {
        /* degraded, not dead: scraping goes on, but nothing reaches the forge (G11) */
        resp->status = 503;
        char s[300];
        int n = snprintf(s, sizeof s,
                         "not ready: %s rejected the token (401); replace it and send SIGHUP\n",
                         cpgo_prapi_forge_name((enum cpgo_prapi_forge)gh_stopped));
        return cpgo_buf_append(resp->body, s, (size_t)n);
    }
    if (!d->cfg || failed || waiting || problems || d->stopping) {
        resp->status = 503;
        char s[200];
        int n = snprintf(s, sizeof s,
                         "not ready: %zu target states unreadable, %zu still opening, %zu with "
                         "state problems (cpgo state)%s\n",
                         failed, waiting, problems, d->stopping ? ", stopping" : "");
        if (cpgo_buf_append(resp->body, s, (size_t)n)) return -1;
        for (struct target *t = d->targets; t && (failed || problems); t = t->next)
            if (!t->retired && (t->load_failed || t->problems)) {
                char line[1100];
                n = snprintf(line, sizeof line, "%s: %s\n", t->key,
                             t->load_failed ? t->last_error : t->problem);
                if (cpgo_buf_append(resp->body, line, (size_t)n)) return -1;
            }
        return 0;
    }
    return cpgo_buf_append(resp->body, "ready\n", 6);
}

static json_t *status_json(struct daemon *d)
{
    json_t *root = json_object(), *backends = json_array(), *targets = json_array();
    json_t *services = json_array();
    for (struct service *s = d->services; s; s = s->next) {
        json_t *o = cpgo_service_status(s);
        if (o) json_array_append_new(services, o);
    }
    for (struct backend *b = d->backends; b; b = b->next) {
        if (b->svc) continue; /* shown with its service */
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:o, s:o, s:I, s:I, s:I, s:b}", "name",
                              b->name, "target", b->t->key, "url", b->url_masked, "last_result",
                              b->ok + b->failed ? cpgo_class_name(b->last_class) : "none",
                              "last_error", b->last_error[0] ? b->last_error : NULL, "last_success",
                              time_or_null(b->last_success_ms), "next_run",
                              time_or_null(b->next_fire_ms + b->offset_ms), "scrapes_ok",
                              (json_int_t)b->ok, "scrapes_failed", (json_int_t)b->failed,
                              "missed_ticks", (json_int_t)b->missed_ticks, "busy", b->busy);
        if (o) json_array_append_new(backends, o);
    }
    for (struct target *t = d->targets; t; t = t->next) {
        if (t->retired) continue;
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:o, s:s?, s:o, s:s?, s:s?, s:b, s:b, s:s?}",
                              "target", t->key, "id", t->id, "forge",
                              d->opts.output_dir                ? "directory"
                              : t->prforge == CPGO_PRAPI_GITHUB ? "github"
                              : t->prforge == CPGO_PRAPI_GITLAB ? "gitlab"
                              : t->prforge == CPGO_PRAPI_GITEA  ? "gitea"
                                                                : "local",
                              "pending_scrapes", (json_int_t)t->pending_scrapes, "last_publish",
                              time_or_null(t->last_publish_ms), "last_outcome",
                              t->last_outcome ? outcome_names[t->last_outcome] : NULL,
                              "last_outcome_at", time_or_null(t->last_outcome_ms), "head_branch",
                              t->head_branch[0] ? t->head_branch : NULL, "pull_request",
                              t->fs.pr_url[0] ? t->fs.pr_url : NULL, "publishing",
                              t->publishing || t->in_pubq, "ready",
                              t->loaded && !t->load_failed && !t->problems, "last_error",
                              t->last_error[0] ? t->last_error : NULL);
        if (o && t->loaded) { /* the loop's view: the lane keeps acct current */
            json_object_set_new(o, "pending_in_memory",
                                json_boolean(atomic_load(&t->acct.resident)));
            json_object_set_new(o, "pending_memory_bytes",
                                json_integer((json_int_t)atomic_load(&t->acct.mem)));
        }
        if (o) /* why nothing happens yet: min_interval, or its turn in the publish queue */
            json_object_set_new(o, "next_publish", time_or_null(t->next_publish_ms));
        if (o && t->discovery_note[0])
            json_object_set_new(o, "last_round", json_string(t->discovery_note));
        if (o && t->pr_warning[0])
            json_object_set_new(o, "pull_request_warning", json_string(t->pr_warning));
        if (o && t->last_change[0])
            json_object_set_new(o, "last_change", json_string(t->last_change));
        if (o && t->problems) {
            json_object_set_new(o, "state_problems", json_integer((json_int_t)t->problems));
            json_object_set_new(o, "state_problem", json_string(t->problem));
            json_object_set_new(o, "publishing_held", json_boolean(t->held));
        }
        if (o) json_array_append_new(targets, o);
    }
    json_object_set_new(root, "version", json_string(CPGO_VERSION));
    json_object_set_new(root, "stopping", json_boolean(d->stopping));
    json_object_set_new(root, "loop_lag_seconds", json_real(d->obs.last_lag_s));
    json_object_set_new(root, "work_queue_depth", json_integer((json_int_t)cpgo_workq_depth(d->q)));
    json_object_set_new(root, "scrapes_in_flight", json_integer((json_int_t)d->scrapes_in_flight));
    json_object_set_new(root, "pending_memory_bytes",
                        json_integer((json_int_t)atomic_load(&d->pending_mem)));
    json_object_set_new(root, "inflight_bytes",
                        json_integer((json_int_t)cpgo_scraper_inflight_bytes(d->scraper)));
    static const char *const fkeys[CPGO_PRAPI_NFORGES] = {"github", "gitlab", "gitea"};
    for (int f = 0; f < CPGO_PRAPI_NFORGES; f++) {
        if (!d->fa[f].client) continue;
        struct cpgo_prapi_status st;
        cpgo_prapi_client_status(d->fa[f].client, &st);
        json_object_set_new(root, fkeys[f],
                            json_pack("{s:b, s:I, s:I, s:I, s:s?}", "stopped", st.stopped,
                                      "rate_limit_remaining", (json_int_t)st.rate_remaining,
                                      "queued", (json_int_t)st.queued, "requests",
                                      (json_int_t)st.requests, "stop_reason",
                                      st.stop_reason[0] ? st.stop_reason : NULL));
    }
    if (d->cfg->github.app.app_id > 0) {
        /* GitHub App mode: what was minted and until when; never a token */
        json_t *ga = json_pack("{s:I}", "app_id", (json_int_t)d->cfg->github.app.app_id);
        json_t *insts = json_array();
        if (d->app.app) {
            struct cpgo_ghapp_status as;
            cpgo_ghapp_status(d->app.app, &as);
            json_object_set_new(ga, "jwts", json_integer((json_int_t)as.jwts));
            json_object_set_new(ga, "lookups", json_integer((json_int_t)as.lookups));
            json_object_set_new(ga, "mints", json_integer((json_int_t)as.mints));
            json_object_set_new(ga, "clock_offset_seconds",
                                json_integer((json_int_t)as.clock_offset_s));
        }
        for (size_t i = 0; i < d->app.n; i++) {
            struct cpgo_prapi_status st = {0};
            if (d->app.fa[i].client) cpgo_prapi_client_status(d->app.fa[i].client, &st);
            json_array_append_new(
                insts, json_pack("{s:I, s:I, s:b, s:I}", "id", (json_int_t)d->app.inst[i],
                                 "token_expires_at", (json_int_t)d->app.expires[i], "stopped",
                                 st.stopped, "requests", (json_int_t)st.requests));
        }
        json_object_set_new(ga, "installations", insts);
        json_object_set_new(root, "github_app", ga);
    }
    json_object_set_new(root, "backends", backends);
    json_object_set_new(root, "services", services);
    json_object_set_new(root, "targets", targets);
    return root;
}

/* Rendering thousands of backends takes tens of milliseconds on the loop: a page is built
 * at most once a second and served from that copy, so polling /status cannot stall the
 * loop (it is a view that may be a second old). */
static int page_status(const char *path, const char *query, struct cpgo_admin_resp *resp, void *arg)
{
    (void)path;
    (void)query;
    struct daemon *d = arg;
    struct cpgo_observe *o = &d->obs;
    uint64_t now = uv_now(&d->loop);
    if (!o->status_page || now - o->status_at >= 1000) {
        json_t *j = status_json(d);
        if (!j) return -1;
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!s) return -1;
        free(o->status_page);
        o->status_page = s;
        o->status_at = now;
    }
    resp->content_type = "application/json";
    int rc = cpgo_buf_append(resp->body, o->status_page, strlen(o->status_page));
    if (!rc) rc = cpgo_buf_append(resp->body, "\n", 1);
    return rc;
}

int cpgo_observe_start(struct daemon *d, struct cpgo_err *err)
{
    struct cpgo_observe *o = &d->obs;
    uv_timer_init(&d->loop, &o->lag_timer);
    o->lag_timer.data = d;
    o->lag_open = 1;
    o->lag_due = uv_hrtime() + (uint64_t)LAG_PERIOD_MS * 1000000u;
    uv_timer_start(&o->lag_timer, lag_cb, LAG_PERIOD_MS, 0);
    uv_unref((uv_handle_t *)&o->lag_timer);
    if (!d->cfg->listen) return 0;
    struct cpgo_admin_route routes[] = {
        {"/healthz", page_healthz, d},
        {"/readyz", page_readyz, d},
        {"/metrics", cpgo_admin_metrics_handler, o->reg},
        {"/status", page_status, d},
    };
    struct cpgo_admin_opts ao = {
        .listen = d->cfg->listen,
        .routes = routes,
        .nroutes = sizeof routes / sizeof routes[0],
        .max_response_bytes = STATUS_MAX,
    };
    int rc = cpgo_admin_new(&d->loop, &ao, &o->admin, err);
    if (rc) return rc;
    cpgo_admin_register_metrics(o->admin, o->reg);
    char port[16], bound[64];
    snprintf(port, sizeof port, "%d", cpgo_admin_port(o->admin));
    int every = cpgo_admin_bound(o->admin, bound, sizeof bound);
    /* which interfaces: ":9090" reaches beyond this host, say so */
    cpgo_log(CPGO_LVL_INFO, "admin endpoint listening", "listen", d->cfg->listen, "address", bound,
             "port", port, "interfaces",
             every                                                        ? "every interface"
             : !strncmp(bound, "127.", 4) || !strncmp(bound, "[::1]:", 6) ? "loopback"
                                                                          : "one address",
             NULL);
    return 0;
}

void cpgo_observe_close(struct daemon *d)
{
    struct cpgo_observe *o = &d->obs;
    if (o->lag_open) {
        o->lag_open = 0;
        uv_close((uv_handle_t *)&o->lag_timer, NULL);
    }
    if (o->admin) {
        cpgo_admin_close(o->admin, NULL, NULL);
        o->admin = NULL;
    }
}

void cpgo_observe_free(struct daemon *d)
{
    free(d->obs.status_page);
    d->obs.status_page = NULL;
    cpgo_metrics_free(d->obs.reg);
    d->obs.reg = NULL;
}
