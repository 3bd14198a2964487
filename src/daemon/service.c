/*
 * service.c - services: one target whose instances are discovered (src/discover). Each
 * service has its discovery (the union of its sources), a cron tick like a backend's, and
 * the rotation (discover/rotation.h) that picks at most `max_instances` instances a round.
 *
 * A round takes a snapshot of the instances at its start, picks from it, and has daemon.c
 * scrape each pick through the instance hook (d->instance_start): each scrape is a backend
 * of its own in the target's round, so ingest, retries, the in-flight budget and
 * publishing are the backends' own. A busy instance (Go answers a second CPU profile
 * request with 500 "already in use") is replaced within the round by the next instance not
 * yet tried, and owed to the next round. The rotation is read from the target's state
 * directory before the first round (again once the state opens, when it could not be opened
 * at first) and saved after every change, by small jobs on the target's lane (never file
 * I/O on the loop).
 *
 * Calls: daemon.c calls this file; this file calls no function of daemon.c (the instance
 * and state-load hooks are pointers daemon.c installs), nor of observe.c (it sets the
 * metrics observe.c registered). Thread: the loop (the rotation jobs run on the target's lane).
 */
#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/metrics.h"
#include "base/hash.h"
#include "base/log.h"
#include "daemon/daemon_int.h"

void cpgo_service_ref(struct service *s)
{
    s->refs++;
}

void cpgo_service_unref(struct service *s)
{
    assert(s->refs > 0);
    if (--s->refs) return;
    cpgo_rotation_free(&s->rot);
    free(s->taken);
    for (size_t i = 0; i < s->nrinst; i++) {
        free(s->rinst[i].host);
        free(s->rinst[i].origin);
    }
    free(s->rinst);
    free(s);
}

/* ---- the rotation in the state directory ------------------------------------------------ */

struct rot_job {
    struct cpgo_job base;
    struct service *s;
    struct target *t;
    char name[256];
    char *text; /* save: the rotation; read: what was read */
    int save;
    int rc;
    int no_state; /* the target's state was not open: nothing was read */
    struct cpgo_err err;
};

static void rot_work(struct cpgo_job *job)
{
    struct rot_job *j = CPGO_JOB_DATA(job, struct rot_job, base);
    if (!j->t->ts) {
        j->no_state = 1;
        j->rc = cpgo_err_set(&j->err, CPGO_E_IO, "target state is not available");
        return;
    }
    if (j->save)
        j->rc = cpgo_state_rotation_write(j->t->ts, j->name, j->text, &j->err);
    else
        j->rc = cpgo_state_rotation_read(j->t->ts, j->name, &j->text, &j->err);
}

static void rot_save(struct service *s);

static void rot_done(struct cpgo_job *job, int canceled)
{
    struct rot_job *j = CPGO_JOB_DATA(job, struct rot_job, base);
    struct service *s = j->s;
    if (j->save) {
        s->rot_saving = 0;
        if (!canceled && j->rc)
            cpgo_log(CPGO_LVL_WARN, "cannot save the rotation (it continues in memory)", "service",
                     s->name, "error", j->err.text, NULL);
        if (s->rot_dirty && !s->removed && !canceled) rot_save(s);
    } else {
        s->rot_state = 2;
        if (!canceled && j->no_state)
            s->rot_state = 0; /* read once the target's state opens (ready) */
        else if (!canceled && j->rc)
            cpgo_log(CPGO_LVL_WARN, "the rotation could not be read: it starts over", "service",
                     s->name, "error", j->err.text, NULL);
        else if (!canceled && j->text && cpgo_rotation_decode(j->text, strlen(j->text), &s->rot))
            cpgo_log(CPGO_LVL_WARN, "the saved rotation is damaged: it starts over", "service",
                     s->name, NULL);
    }
    struct daemon *d = s->d;
    free(j->text);
    free(j);
    cpgo_service_unref(s);
    cpgo_daemon_progress(d); /* --once may be waiting for the rotation */
}

static int rot_submit(struct service *s, int save)
{
    struct rot_job *j = calloc(1, sizeof *j);
    if (!j) return -1;
    j->base.work = rot_work;
    j->base.done = rot_done;
    j->s = s;
    j->t = s->t;
    j->save = save;
    snprintf(j->name, sizeof j->name, "%s", s->name);
    if (save && !(j->text = cpgo_rotation_encode(&s->rot))) {
        free(j);
        return -1;
    }
    s->refs++;
    cpgo_workq_submit(s->d->q, &s->t->lane, &j->base);
    return 0;
}

static void rot_save(struct service *s)
{
    /* one save at a time, in order; a change meanwhile is saved when it ends */
    s->rot_dirty = 1;
    if (s->rot_saving) return;
    s->rot_dirty = 0;
    if (rot_submit(s, 1) == 0) s->rot_saving = 1;
}

/* ---- rounds ----------------------------------------------------------------------------- */

static void set_note(struct service *s)
{
    struct target *t = s->t;
    size_t len = 0;
    t->discovery_note[0] = 0;
    for (struct service *o = s->d->services; o; o = o->next) {
        if (o->t != t || o->removed || !o->rounds) continue;
        int n =
            snprintf(t->discovery_note + len, sizeof t->discovery_note - len,
                     "%s%s: %zu of %zu discovered instances scraped%s", len ? "; " : "", o->name,
                     o->last_scraped, o->last_discovered, o->last_busy ? " (some were busy)" : "");
        if (n < 0 || (size_t)n >= sizeof t->discovery_note - len) break;
        len += (size_t)n;
    }
}

static void round_end(struct service *s)
{
    s->in_round = 0;
    if (s->rot_dirty && !s->rot_saving) rot_save(s);
    s->last_scraped = s->round_ok;
    s->last_discovered = s->nrinst;
    s->last_busy = s->round_busy;
    s->last_round_ms = cpgo_daemon_wall_ms();
    set_note(s);
    char a[24], b[24], c[24], e[24];
    snprintf(a, sizeof a, "%zu", s->round_ok);
    snprintf(b, sizeof b, "%zu", s->nrinst);
    snprintf(c, sizeof c, "%zu", s->round_busy);
    snprintf(e, sizeof e, "%zu", s->round_failed);
    cpgo_log(CPGO_LVL_INFO, "service round finished", "service", s->name, CPGO_LOG_INT("scraped"),
             a, CPGO_LOG_INT("discovered"), b, CPGO_LOG_INT("busy"), c, CPGO_LOG_INT("failed"), e,
             NULL);
}

static void skip_round(struct service *s, const char *why)
{
    s->skipped_rounds++;
    snprintf(s->last_skip, sizeof s->last_skip, "%s", why);
    cpgo_log(CPGO_LVL_WARN, "service round skipped", "service", s->name, "target", s->t->key,
             "reason", why, NULL);
}

/* Starts a round on the instances discovered now. 0 started, -1 skipped. */
static int round_start(struct service *s)
{
    size_t n;
    const struct cpgo_instance *in = s->dsc ? cpgo_discovery_instances(s->dsc, &n) : NULL;
    if (!s->dsc) n = 0;
    int reuse = 0;
    if (n == 0 && s->nrinst && s->dsc && !cpgo_discovery_settled(s->dsc)) {
        /* discovery started again (a reload) and has not answered yet: the last round's
         * instances are the last good ones */
        reuse = 1;
        n = s->nrinst;
    }
    if (n == 0) {
        skip_round(s, s->dsc && cpgo_discovery_failing(s->dsc)
                          ? "no instances (a discovery source is failing)"
                          : "no instances discovered");
        return -1;
    }
    size_t *pick = calloc(n, sizeof *pick);
    if (!pick) {
        skip_round(s, "out of memory");
        return -1;
    }
    if (reuse) {
        memset(s->taken, 0, n);
    } else {
        for (size_t i = 0; i < s->nrinst; i++) {
            free(s->rinst[i].host);
            free(s->rinst[i].origin);
        }
        free(s->rinst);
        free(s->taken);
        s->rinst = calloc(n, sizeof *s->rinst);
        s->taken = calloc(n, 1);
        s->nrinst = 0;
        if (!s->rinst || !s->taken) {
            free(pick);
            skip_round(s, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            s->rinst[i] = in[i];
            s->rinst[i].host = in[i].host ? strdup(in[i].host) : NULL;
            s->rinst[i].origin = in[i].origin ? strdup(in[i].origin) : NULL;
        }
        s->nrinst = n;
    }
    size_t got = cpgo_rotation_pick(&s->rot, s->rinst, n, s->cfg->max_instances, pick, s->taken);
    s->in_round = 1;
    s->rounds++;
    s->round_outstanding = s->round_ok = s->round_failed = s->round_busy = 0;
    char a[24], b[24];
    snprintf(a, sizeof a, "%zu", got);
    snprintf(b, sizeof b, "%zu", n);
    cpgo_log(CPGO_LVL_INFO, "service round started", "service", s->name, "target", s->t->key,
             CPGO_LOG_INT("instances"), a, CPGO_LOG_INT("discovered"), b, NULL);
    for (size_t k = 0; k < got; k++) {
        s->round_outstanding++;
        if (s->d->instance_start(s, &s->rinst[pick[k]])) {
            s->round_outstanding--;
            s->round_failed++;
        }
    }
    free(pick);
    rot_save(s);
    if (s->round_outstanding == 0) round_end(s);
    return 0;
}

void cpgo_service_instance_done(struct service *s, uint64_t key, int result)
{
    if (!s->in_round) return;
    if (result > 0) {
        s->round_ok++;
        /* done already since its pick; a busy one retried is no longer owed (saved with
         * the round's end) */
        if (cpgo_rotation_done(&s->rot, key)) s->rot_dirty = 1;
    } else if (result == 0) {
        s->round_failed++;
    }
    assert(s->round_outstanding > 0);
    if (--s->round_outstanding == 0) round_end(s);
}

int cpgo_service_busy(struct service *s, uint64_t key)
{
    if (!s->in_round || s->d->stopping || s->removed) return 0;
    size_t i = cpgo_rotation_next(&s->rot, s->rinst, s->nrinst, s->taken);
    if (i == SIZE_MAX) return 0;
    cpgo_rotation_owe(&s->rot, key);
    s->round_busy++;
    char what[80];
    cpgo_instance_format(&s->rinst[i], what, sizeof what);
    cpgo_log(CPGO_LVL_INFO, "instance busy (another profiler): trying another in its place",
             "service", s->name, "instead", what, NULL);
    /* the busy one's scrape ends as busy; the substitute is counted in its place */
    s->round_outstanding++;
    if (s->d->instance_start(s, &s->rinst[i])) {
        s->round_outstanding--;
        s->round_failed++;
    }
    rot_save(s);
    return 1;
}

static void schedule_next(struct service *s);

static int ready(struct service *s, const char **why)
{
    struct target *t = s->t;
    if (!t->loaded) {
        *why = t->load_failed ? "the target's state is unavailable" : "loading state";
        /* open it again, as a backend's tick does: a read-only or full disk may be back
         * (--once reports the failure instead) */
        if (t->load_failed && !s->d->opts.once) s->d->target_load(t);
        return 0;
    }
    if (s->rot_state == 0) s->rot_state = rot_submit(s, 0) == 0 ? 1 : 2;
    if (s->rot_state != 2) {
        *why = "reading the rotation";
        return 0;
    }
    return 1;
}

static void tick_cb(uv_timer_t *h)
{
    struct service *s = h->data;
    struct daemon *d = s->d;
    if (d->stopping || s->removed) return;
    /* the next tick first: the round's instances may retry only while their retry ends
     * before it (instance_start copies s->next_fire_ms), which must not be this tick's */
    schedule_next(s);
    const char *why = NULL;
    if (s->in_round) {
        s->missed_ticks++;
        cpgo_log(CPGO_LVL_WARN, "missed tick: the previous round is still running", "service",
                 s->name, NULL);
    } else if (!ready(s, &why)) {
        skip_round(s, why);
    } else {
        round_start(s);
    }
}

static void schedule_next(struct service *s)
{
    int64_t now = cpgo_daemon_wall_ms();
    int64_t next;
    int64_t after = (s->next_fire_ms > now ? s->next_fire_ms : now) / 1000;
    if (cpgo_cron_next(s->cfg->tmpl.schedule, after, &next)) {
        cpgo_log(CPGO_LVL_WARN, "schedule never fires again", "service", s->name, NULL);
        return;
    }
    s->next_fire_ms = next * 1000;
    int64_t delay = s->next_fire_ms + s->offset_ms - now;
    uv_timer_start(&s->tick, tick_cb, delay > 0 ? (uint64_t)delay : 0, 0);
}

void cpgo_service_schedule(struct service *s)
{
    s->next_fire_ms = 0;
    schedule_next(s);
}

int cpgo_service_once_poll(struct service *s, int timed_out)
{
    if (s->once_state) return 1;
    const char *why;
    if (!ready(s, &why)) {
        if (s->t->load_failed) {
            s->once_state = 2;
            return 1;
        }
        return 0;
    }
    if (!timed_out && s->dsc && !cpgo_discovery_settled(s->dsc)) return 0;
    if (timed_out && s->dsc && !cpgo_discovery_settled(s->dsc))
        cpgo_log(CPGO_LVL_WARN, "discovery has not answered in time: scraping what is known",
                 "service", s->name, NULL);
    /* a source that failed or never answered: the run could not see the whole service, a
     * warning in the summary, as a failed backend is (what was scraped is still published;
     * --strict fails the run) */
    for (size_t i = 0; s->dsc && i < cpgo_discovery_nsources(s->dsc); i++) {
        const struct cpgo_sd_source *src = cpgo_discovery_source(s->dsc, i);
        if (src->answered && src->ok) continue;
        const char *error = src->answered ? src->error : "no answer in time";
        cpgo_log(CPGO_LVL_ERROR, "discovery source failed", "service", s->name, "source", src->name,
                 "error", error, NULL);
        char who[300], text[600];
        snprintf(who, sizeof who, "service %s", s->name);
        snprintf(text, sizeof text, "discovery source %.100s failed: %.450s", src->name, error);
        cpgo_report_warn(s->t, who, text);
    }
    s->once_state = round_start(s) == 0 ? 1 : 2;
    return 1;
}

/* ---- discovery -------------------------------------------------------------------------- */

static void discovery_changed(struct cpgo_discovery *dsc, void *arg)
{
    struct service *s = arg;
    (void)dsc;
    /* --once waits for discovery to settle: let it check again */
    if (s->d->opts.once) cpgo_daemon_progress(s->d);
}

int cpgo_service_env(struct daemon *d, struct cpgo_err *err)
{
    if (d->resolver) return 0;
    const struct cpgo_dns_cfg *dc = &d->cfg->dns;
    struct cpgo_resolver_opts ro = {(const char *const *)dc->servers, dc->nservers, dc->timeout_ms,
                                    NULL, 0};
    return cpgo_resolver_new(&d->loop, &ro, &d->resolver, err);
}

static void discovery_start(struct service *s)
{
    struct daemon *d = s->d;
    struct cpgo_err err;
    if (cpgo_service_env(d, &err)) {
        cpgo_log(CPGO_LVL_ERROR, "cannot start the resolver", "service", s->name, "error", err.text,
                 NULL);
        return;
    }
    char dir[4096] = ".";
    const char *slash = d->opts.config_path ? strrchr(d->opts.config_path, '/') : NULL;
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - d->opts.config_path), d->opts.config_path);
    /* Kubernetes sources drive a curl multi of their own (sd_k8s.c: watches hold their
     * connection for minutes, which the scrapes' one-per-host limit cannot allow) */
    struct cpgo_sd_env env = {&d->loop, d->resolver, d->scraper, dir};
    if (cpgo_discovery_new(&env, s->cfg, discovery_changed, s, &s->dsc, &err) ||
        cpgo_discovery_start(s->dsc, &err)) {
        cpgo_log(CPGO_LVL_ERROR, "cannot start discovery", "service", s->name, "error", err.text,
                 NULL);
        if (s->dsc) cpgo_discovery_close(s->dsc);
        s->dsc = NULL;
    }
}

static void tick_closed(uv_handle_t *h)
{
    cpgo_service_unref(h->data);
}

struct service *cpgo_service_new(struct daemon *d, const struct cpgo_service_cfg *cfg,
                                 struct target *t)
{
    struct service *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->d = d;
    s->cfg = cfg;
    s->t = t;
    snprintf(s->name, sizeof s->name, "%s", cfg->name);
    uv_timer_init(&d->loop, &s->tick);
    s->tick.data = s;
    s->refs = 1;
    int64_t period_ms = cfg->tmpl.period_s * 1000;
    int64_t spread = period_ms / 10 < 5000 ? period_ms / 10 : 5000;
    s->offset_ms = spread > 0
                       ? (int64_t)(cpgo_hash_fnv1a(s->name, strlen(s->name), CPGO_FNV1A_INIT) %
                                   (uint64_t)spread)
                       : 0;
    s->next = d->services;
    d->services = s;
    if (rot_submit(s, 0) == 0)
        s->rot_state = 1;
    else
        s->rot_state = 2;
    discovery_start(s);
    return s;
}

void cpgo_service_update(struct service *s, const struct cpgo_service_cfg *cfg, struct target *t)
{
    s->cfg = cfg;
    s->t = t; /* another target: its series under the old one went (daemon.c) */
    if (s->dsc) cpgo_discovery_close(s->dsc);
    s->dsc = NULL;
    discovery_start(s);
}

void cpgo_service_stop_discovery(struct service *s)
{
    if (s->dsc) cpgo_discovery_close(s->dsc);
    s->dsc = NULL;
}

void cpgo_service_stop(struct service *s)
{
    uv_timer_stop(&s->tick);
}

void cpgo_service_close(struct service *s)
{
    s->removed = 1;
    if (s->dsc) cpgo_discovery_close(s->dsc);
    s->dsc = NULL;
    uv_timer_stop(&s->tick);
    uv_close((uv_handle_t *)&s->tick, tick_closed);
}

/* ---- status and metrics ------------------------------------------------------------------ */

static const char *kind_name(enum cpgo_sd_kind k)
{
    switch (k) {
    case CPGO_SD_STATIC:
        return "static";
    case CPGO_SD_DNS:
        return "dns";
    case CPGO_SD_FILE:
        return "file";
    case CPGO_SD_K8S:
        return "kubernetes";
    }
    return "?";
}

static json_t *iso_or_null(int64_t ms)
{
    if (ms <= 0) return json_null();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[40];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

json_t *cpgo_service_status(const struct service *s)
{
    json_t *o = json_object(), *srcs = json_array(), *insts = json_array();
    if (!o || !srcs || !insts) {
        json_decref(o);
        json_decref(srcs);
        json_decref(insts);
        return NULL;
    }
    size_t n = 0;
    const struct cpgo_instance *in = s->dsc ? cpgo_discovery_instances(s->dsc, &n) : NULL;
    for (size_t i = 0; s->dsc && i < cpgo_discovery_nsources(s->dsc); i++) {
        const struct cpgo_sd_source *src = cpgo_discovery_source(s->dsc, i);
        json_array_append_new(
            srcs,
            json_pack("{s:s, s:s, s:b, s:b, s:s?, s:I, s:I, s:o, s:f}", "name", src->name, "kind",
                      kind_name(src->kind), "answered", src->answered, "ok", src->ok, "last_error",
                      src->error[0] ? src->error : NULL, "instances",
                      (json_int_t)cpgo_discovery_source_instances(s->dsc, i), "failures",
                      (json_int_t)src->failures, "last_success", iso_or_null(src->last_success_ms),
                      "last_refresh_seconds", src->last_seconds));
    }
    /* the order the rotation walks; up to 1000 listed */
    for (size_t i = 0; i < n && i < 1000; i++) {
        char a[80];
        cpgo_instance_format(&in[i], a, sizeof a);
        json_array_append_new(insts, json_pack("{s:s, s:s?, s:s?}", "address", a, "host",
                                               in[i].host, "source", in[i].origin));
    }
    char cur[20];
    snprintf(cur, sizeof cur, "%016" PRIx64, s->rot.cursor);
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "target", json_string(s->t->key));
    json_object_set_new(o, "max_instances", json_integer((json_int_t)s->cfg->max_instances));
    json_object_set_new(o, "discovered", json_integer((json_int_t)n));
    json_object_set_new(o, "sources", srcs);
    json_object_set_new(o, "instances", insts);
    json_object_set_new(
        o, "rotation",
        json_pack("{s:s?, s:I, s:I, s:I, s:I}", "cursor", s->rot.has_cursor ? cur : NULL,
                  "done_in_cycle", (json_int_t)s->rot.ndone, "owed", (json_int_t)s->rot.nowed,
                  "rounds", (json_int_t)s->rot.rounds, "cycles", (json_int_t)s->rot.cycles));
    json_object_set_new(o, "last_round",
                        json_pack("{s:I, s:I, s:I, s:o}", "scraped", (json_int_t)s->last_scraped,
                                  "discovered", (json_int_t)s->last_discovered, "busy",
                                  (json_int_t)s->last_busy, "at", iso_or_null(s->last_round_ms)));
    json_object_set_new(o, "round_running", json_boolean(s->in_round));
    json_object_set_new(o, "skipped_rounds", json_integer((json_int_t)s->skipped_rounds));
    if (s->last_skip[0]) json_object_set_new(o, "last_skip", json_string(s->last_skip));
    json_object_set_new(o, "next_run",
                        iso_or_null(s->next_fire_ms ? s->next_fire_ms + s->offset_ms : 0));
    return o;
}

void cpgo_service_collect(const struct service *s)
{
    const struct cpgo_observe *o = &s->d->obs;
    size_t n = 0;
    if (s->dsc) cpgo_discovery_instances(s->dsc, &n);
    cpgo_metric_set(o->svc_discovered, (double)n, CPGO_LABELS(s->name));
    cpgo_metric_set(o->svc_scraped, (double)s->last_scraped, CPGO_LABELS(s->name));
    cpgo_metric_set(o->svc_busy, (double)s->last_busy, CPGO_LABELS(s->name));
    cpgo_metric_set(o->svc_skipped, (double)s->skipped_rounds, CPGO_LABELS(s->name));
    for (size_t i = 0; s->dsc && i < cpgo_discovery_nsources(s->dsc); i++) {
        const struct cpgo_sd_source *src = cpgo_discovery_source(s->dsc, i);
        const char *const *l = CPGO_LABELS(s->name, src->name);
        cpgo_metric_set(o->sd_instances, (double)cpgo_discovery_source_instances(s->dsc, i), l);
        cpgo_metric_set(o->sd_failures, (double)src->failures, l);
        /* a refresh's duration once one ended: absent before, not 0 */
        if (src->answered) cpgo_metric_set(o->sd_refresh_seconds, src->last_seconds, l);
        cpgo_metric_set(o->sd_up, src->answered && src->ok ? 1 : 0, l);
        if (src->last_success_ms)
            cpgo_metric_set(o->sd_last_success, (double)src->last_success_ms / 1000.0, l);
    }
}
