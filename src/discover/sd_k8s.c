/*
 * sd_k8s.c - `kubernetes_sd_configs[]`: the pods (role pod) or endpointslices (role
 * endpointslice) of a Kubernetes API server, found by list, then watch, as client-go's
 * Reflector does (docs/ARCHITECTURE.md, "Discovery"; the shapes in
 * tests/fixtures/k8s/, generated from k8s.io/api).
 *
 * One watcher per namespace (`namespaces.names`, the pod's own namespace in-cluster, or
 * one cluster-wide watcher when api_server is set and no namespace is), each a small state
 * machine of step functions:
 *
 *   list_begin ─▶ [token read on the pool] ─▶ list page (limit + continue) ─▶ parse on the
 *   pool ─▶ ... last page: the cache is replaced whole ─▶ watch_begin ─▶ [token] ─▶ watch
 *   stream: events applied as they come ─▶ the stream ends normally: watch_begin again
 *                                        ─▶ 410 (HTTP or an ERROR event): list_begin
 *                                        ─▶ any failure: backoff, then watch_begin (or
 *                                           list_begin when never listed)
 *
 * Why a private curl multi (cpgo_scraper) per source and not the daemon's: the daemon's
 * multi allows one connection per host:port (one CPU profile at a time per process), and a
 * watch holds its connection for minutes, so a second namespace's watch, or another
 * service's, would queue behind the first until it ended. This multi has no such limit
 * (over HTTP/2 curl still multiplexes them on one connection).
 *
 * The cache holds, per object (keyed "namespace/name"), what it gives: its targets and the
 * reasons it was dropped, derived once when the object arrives (so a rebuild only copies).
 * Large list bodies are parsed on libuv's thread pool; watch events (each at most 4 MiB)
 * on the loop. A framer that only counts braces outside strings finds where an event ends,
 * so each event is parsed once (json_loadb with JSON_DISABLE_EOF_CHECK, advancing by
 * e.position) however many chunks it arrived in, and an incomplete tail is kept.
 *
 * Reporting: the owner's `changed` hook is never called from inside a curl callback or a
 * done callback of the multi (the owner may close the source from the hook, which closes
 * the multi): failures and cache changes only arm the `tick` timer, and the hook runs from
 * there. The first answer waits until every namespace has listed or failed once; a
 * failing namespace keeps its last cache, so the targets stay the last good ones.
 *
 * The bearer token is a secret: it lives in memory only, in the Authorization header of
 * the requests in flight (zeroed when they end) and in a scrub set that every text taken
 * from a server goes through before it reaches an error.
 */
#define _GNU_SOURCE /* memmem */
#include "discover/sd_k8s.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/file.h"
#include "base/url.h"
#include "discover/source.h"
#include "scrape/scrape.h"

#define K8S_LIST_MAX ((size_t)64 << 20)    /* one list page's body */
#define K8S_EVENT_MAX ((size_t)4 << 20)    /* one watch event */
#define K8S_ERRBODY_MAX ((size_t)16 << 10) /* what is kept of an error answer */
#define K8S_TOKEN_MAX ((size_t)64 << 10)
#define K8S_CONNECT_TIMEOUT_MS 10000
#define K8S_MSG 512

/* ---- the cache: what each object gives -------------------------------------------------- */

struct k8s_obj {
    char *key; /* "namespace/name" */
    struct cpgo_sd_target *t;
    size_t nt;
    struct cpgo_sd_dropped *d;
    size_t nd;
};

/* Sorted by key (so lookups are binary searches and the targets come out in a stable
 * order), at most CPGO_SD_MAX_TARGETS objects. */
struct k8s_cache {
    struct k8s_obj *v;
    size_t n, cap;
    size_t over; /* objects not kept: over the ceiling */
};

static void obj_free(struct k8s_obj *o)
{
    free(o->key);
    cpgo_sd_targets_free(o->t, o->nt);
    cpgo_sd_dropped_free(o->d, o->nd);
    memset(o, 0, sizeof *o);
}

static void cache_free(struct k8s_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        obj_free(&c->v[i]);
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* Index of key, or -(insertion point) - 1. */
static long cache_find(const struct k8s_cache *c, const char *key)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(c->v[mid].key, key);
        if (!r) return (long)mid;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

/* Takes *o (replacing an object of the same key). 0 or -1 (out of memory: o freed). */
static int cache_put(struct k8s_cache *c, struct k8s_obj *o)
{
    long i = cache_find(c, o->key);
    if (i >= 0) {
        obj_free(&c->v[i]);
        c->v[i] = *o;
        return 0;
    }
    if (c->n >= CPGO_SD_MAX_TARGETS) {
        c->over++;
        obj_free(o);
        return 0;
    }
    if (CPGO_ARRAY_PUSH_ROOM(c->v, c->n, c->cap)) {
        obj_free(o);
        return -1;
    }
    size_t at = (size_t)(-i - 1);
    memmove(&c->v[at + 1], &c->v[at], (c->n - at) * sizeof *c->v);
    c->v[at] = *o;
    c->n++;
    return 0;
}

static void cache_del(struct k8s_cache *c, const char *key)
{
    long i = cache_find(c, key);
    if (i < 0) return;
    obj_free(&c->v[i]);
    memmove(&c->v[i], &c->v[i + 1], (c->n - (size_t)i - 1) * sizeof *c->v);
    c->n--;
}

static int obj_cmp(const void *a, const void *b)
{
    return strcmp(((const struct k8s_obj *)a)->key, ((const struct k8s_obj *)b)->key);
}

/* The pages of a list, appended unsorted, become a cache: sorted, a key seen twice (an
 * object moved between pages while paging) keeps its last state. */
static void cache_seal(struct k8s_cache *c)
{
    if (c->n > 1) qsort(c->v, c->n, sizeof *c->v, obj_cmp);
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (w && !strcmp(c->v[w - 1].key, c->v[i].key)) {
            obj_free(&c->v[w - 1]);
            c->v[w - 1] = c->v[i];
            continue;
        }
        c->v[w++] = c->v[i];
    }
    c->n = w;
}

/* ---- deriving targets from an object (any thread: reads only the immutable config) ---- */

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int add_target(struct k8s_obj *o, const char *host, int port, const char *origin)
{
    struct cpgo_sd_target *t = realloc(o->t, (o->nt + 1) * sizeof *t);
    if (!t) return -1;
    o->t = t;
    t[o->nt].host = strdup(host);
    t[o->nt].port = port;
    t[o->nt].origin = strdup(origin);
    o->nt++;
    return t[o->nt - 1].host && t[o->nt - 1].origin ? 0 : -1;
}

static int add_dropped(struct k8s_obj *o, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int add_dropped(struct k8s_obj *o, const char *what, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    struct cpgo_sd_dropped *d = realloc(o->d, (o->nd + 1) * sizeof *d);
    if (!d) return -1;
    o->d = d;
    d[o->nd].what = strdup(what);
    d[o->nd].why = strdup(why);
    o->nd++;
    return d[o->nd - 1].what && d[o->nd - 1].why ? 0 : -1;
}

/* `port:` as a number (1-65535), or 0 when it is a name. */
static int port_number(const char *p)
{
    if (!p || !*p) return 0;
    long v = 0;
    for (const char *c = p; *c; c++) {
        if (!isdigit((unsigned char)*c) || v > 65535) return 0;
        v = v * 10 + (*c - '0');
    }
    return v >= 1 && v <= 65535 ? (int)v : 0;
}

static int tcp(const json_t *port)
{
    const char *proto = jstr(port, "protocol"); /* absent = TCP (the API's default) */
    return !proto || !strcmp(proto, "TCP");
}

static int port_value(const json_t *v)
{
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    return n >= 1 && n <= 65535 ? (int)n : 0;
}

/* The port of a pod to scrape: `port:` a number (even if not declared), a name (of a
 * container port in any container), or absent (the only declared TCP port). 0 with why. */
static int pod_port(const char *want, const json_t *spec, char *why, size_t cap)
{
    int num = port_number(want);
    if (num) return num;
    int found = 0, count = 0;
    const json_t *containers = json_object_get(spec, "containers");
    size_t i, j;
    const json_t *c, *p;
    json_array_foreach(containers, i, c)
    {
        json_array_foreach(json_object_get(c, "ports"), j, p)
        {
            if (want) {
                const char *name = jstr(p, "name");
                if (name && !strcmp(name, want)) {
                    found = port_value(json_object_get(p, "containerPort"));
                    if (found) return found;
                }
            } else if (tcp(p)) {
                count++;
                found = port_value(json_object_get(p, "containerPort"));
            }
        }
    }
    if (want)
        snprintf(why, cap, "no port named %s", want);
    else if (count == 1 && found)
        return found;
    else if (count == 0)
        snprintf(why, cap, "declares no TCP port; set port");
    else
        snprintf(why, cap, "declares %d ports; set port", count);
    return 0;
}

static int pod_ready(const json_t *status)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *type = jstr(c, "type"), *st = jstr(c, "status");
        if (type && !strcmp(type, "Ready")) return st && !strcmp(st, "True");
    }
    return 0;
}

static int derive_pod(const struct cpgo_sd_k8s_cfg *cfg, const json_t *pod, struct k8s_obj *o,
                      const char *what)
{
    const json_t *md = json_object_get(pod, "metadata");
    const json_t *status = json_object_get(pod, "status");
    const json_t *dts = json_object_get(md, "deletionTimestamp");
    const char *phase = jstr(status, "phase"), *ip = jstr(status, "podIP");
    char why[160];
    if (dts && !json_is_null(dts)) return add_dropped(o, what, "terminating");
    if (!phase || strcmp(phase, "Running"))
        return add_dropped(o, what, "phase %.40s, not Running", phase ? phase : "unknown");
    if (!pod_ready(status)) return add_dropped(o, what, "not Ready");
    if (!ip || !*ip) return add_dropped(o, what, "no pod IP");
    int port = pod_port(cfg->port, json_object_get(pod, "spec"), why, sizeof why);
    if (!port) return add_dropped(o, what, "%s", why);
    return add_target(o, ip, port, what);
}

/* An endpointslice: every address of every ready, not terminating endpoint (nil ready =
 * ready, nil terminating = not), on the port chosen from ports[] as for pods. */
static int derive_slice(const struct cpgo_sd_k8s_cfg *cfg, const json_t *es, struct k8s_obj *o,
                        const char *what)
{
    int port = port_number(cfg->port), count = 0, found = 0;
    size_t i, j;
    const json_t *p, *ep, *a;
    if (!port) {
        json_array_foreach(json_object_get(es, "ports"), i, p)
        {
            if (cfg->port) {
                const char *name = jstr(p, "name");
                if (name && !strcmp(name, cfg->port)) {
                    found = port_value(json_object_get(p, "port"));
                    count = found ? 1 : -1;
                    break;
                }
            } else if (tcp(p)) {
                count++;
                found = port_value(json_object_get(p, "port"));
            }
        }
        if (cfg->port && count == 0) return add_dropped(o, what, "no port named %s", cfg->port);
        if (cfg->port && count < 0) return add_dropped(o, what, "port %s has no number", cfg->port);
        if (!cfg->port && count == 0) return add_dropped(o, what, "declares no TCP port; set port");
        if (!cfg->port && count > 1)
            return add_dropped(o, what, "declares %d ports; set port", count);
        if (!found) return add_dropped(o, what, "its port has no number; set port");
        port = found;
    }
    json_array_foreach(json_object_get(es, "endpoints"), i, ep)
    {
        const json_t *cond = json_object_get(ep, "conditions");
        const json_t *ready = json_object_get(cond, "ready");
        const json_t *term = json_object_get(cond, "terminating");
        int is_ready = !json_is_false(ready), is_term = json_is_true(term);
        json_array_foreach(json_object_get(ep, "addresses"), j, a)
        {
            if (!json_is_string(a)) continue;
            const char *addr = json_string_value(a);
            int rc;
            if (is_term || !is_ready) {
                char w[400];
                snprintf(w, sizeof w, "%s %s", what, addr);
                rc = add_dropped(o, w, is_term ? "terminating" : "not ready");
            } else {
                rc = add_target(o, addr, port, what);
            }
            if (rc) return rc;
        }
    }
    return 0;
}

/* What one object gives. 0; 1 when it is not an object with metadata.name (skipped); -1
 * when out of memory. */
static int derive(const struct cpgo_sd_k8s_cfg *cfg, const json_t *obj, struct k8s_obj *o)
{
    memset(o, 0, sizeof *o);
    const json_t *md = json_object_get(obj, "metadata");
    const char *ns = jstr(md, "namespace"), *name = jstr(md, "name");
    if (!name) return 1;
    size_t kl = strlen(ns ? ns : "") + strlen(name) + 2;
    if (!(o->key = malloc(kl))) return -1;
    snprintf(o->key, kl, "%s/%s", ns ? ns : "", name);
    char what[320];
    snprintf(what, sizeof what, "%s %.300s", cfg->role == CPGO_K8S_POD ? "pod" : "endpointslice",
             o->key);
    int rc =
        cfg->role == CPGO_K8S_POD ? derive_pod(cfg, obj, o, what) : derive_slice(cfg, obj, o, what);
    if (rc) obj_free(o);
    return rc ? -1 : 0;
}

/* ---- the source ----------------------------------------------------------------------- */

enum k8s_op { OP_NONE, OP_LIST, OP_WATCH };
enum k8s_after { AFTER_NONE, AFTER_RELIST, AFTER_BROKEN };

struct k8s_src;
struct k8s_job;

/* One namespace (or all of them): its cache, its list/watch, its retries. */
struct k8s_ns {
    struct k8s_src *src;
    char *ns; /* NULL = all namespaces (or the own one, not read yet) */
    int own;  /* the pod's own namespace, read from the service account */
    struct k8s_cache cache;
    int synced;   /* a list has completed */
    int answered; /* listed or failed at least once */
    char *rv;     /* resourceVersion to watch from */
    /* the list being read */
    struct k8s_cache pages;
    char *cont;
    double list_seconds;
    uint64_t list_started;
    /* the request in flight */
    enum k8s_op op;
    CURL *easy;
    struct curl_slist *hdrs, *connect_to;
    char errbuf[CURL_ERROR_SIZE];
    struct cpgo_buf body; /* a list page, the watch stream's unread tail, or an error body */
    size_t scan;          /* the watch framer: bytes of body already scanned */
    int depth, in_str, esc;
    long status;
    char reason[64];
    int checked;     /* the status and content type were looked at (first body byte) */
    int body_error;  /* a non-2xx answer: body is the error text */
    int established; /* a watch's 200 arrived */
    uint64_t established_at;
    enum k8s_after after;
    char broken[K8S_MSG];
    int retried_401;
    int timeout_s; /* the watch's timeoutSeconds */
    uint64_t op_started;
    size_t events;  /* in this watch */
    int quick_ends; /* watches in a row that ended at once with nothing */
    int list_410s;  /* expired continue tokens in a row */
    struct k8s_job *job;
    /* failures and retries */
    uv_timer_t timer;
    enum k8s_op retry_op;
    int failed;
    char error[K8S_MSG];
    int64_t backoff_ms;
    uint64_t recovered_at; /* hrtime of the last recovery (for the backoff reset) */
};

struct k8s_src {
    struct cpgo_sd_source base; /* first */
    const struct cpgo_sd_k8s_cfg *cfg;
    /* what deriving targets reads (role, port), the source's own copy: a list job on the
     * pool may outlive the configuration the owner frees after close */
    struct cpgo_sd_k8s_cfg pick;
    struct cpgo_sd_k8s_tuning tune;
    struct cpgo_scraper *http;
    char *base_url;   /* where requests go, without a trailing '/' */
    char *shown_url;  /* the same as configured, for errors */
    char *connect_to; /* "server_name:port:host:port" when tls.server_name is set */
    char *token_file, *ca_file, *ns_file;
    char *label, *field; /* the role's selectors, joined with ',' */
    /* the bearer token: read on the pool, kept in memory only */
    char *token;
    uint64_t token_read_at;
    struct cpgo_url_secrets *secrets;
    struct k8s_ns *ns;
    size_t nns;
    uv_timer_t tick; /* reports and debounced rebuilds run here, never inside curl */
    int dirty;       /* a cache changed since the last rebuild */
    int fail_new;    /* a failure not reported yet */
    int started, closing;
    size_t pending; /* handles, jobs and the multi not yet closed: freed at 0 */
    uint64_t rng;
};

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static uint64_t rnd(struct k8s_src *s)
{
    /* xorshift64*: jitter and watch lengths only */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545F4914F6CDD1DULL;
}

static void zero_free(char *p)
{
    if (!p) return;
    volatile char *v = p;
    while (*v)
        *v++ = 0;
    free(p);
}

static void tick_cb(uv_timer_t *t);
static void retry_cb(uv_timer_t *t);
static void list_begin(struct k8s_ns *n);
static void watch_begin(struct k8s_ns *n);
static void send_op(struct k8s_ns *n);

/* Asks for a report: now (ms = 0), or after ms unless one is already coming (a debounce:
 * events keep arriving, the rebuild waits for the first one's delay only). */
static void tick_arm(struct k8s_src *s, int64_t ms)
{
    if (s->closing) return;
    if (ms > 0 && uv_is_active((uv_handle_t *)&s->tick)) return;
    uv_timer_start(&s->tick, tick_cb, (uint64_t)ms, 0);
}

/* The one-line display of a request for errors: "GET https://host:6443/api/v1/...". */
static void shown(const struct k8s_ns *n, enum k8s_op op, char *buf, size_t cap);

/* A failure of namespace n: reported from the tick, retried after the backoff. */
static void ns_fail(struct k8s_ns *n, enum k8s_op retry, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ns_fail(struct k8s_ns *n, enum k8s_op retry, const char *fmt, ...)
{
    struct k8s_src *s = n->src;
    char msg[K8S_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* every text here may hold what a server sent: scrub it once more as a whole */
    cpgo_url_scrub(s->secrets, msg, strlen(msg), n->error, sizeof n->error);
    n->failed = 1;
    n->answered = 1;
    n->op = OP_NONE;
    if (n->op_started) n->list_seconds = (double)(now_ns() - n->op_started) / 1e9;
    s->fail_new = 1;
    tick_arm(s, 0);
    uint64_t t = now_ns();
    if (n->recovered_at && t - n->recovered_at >= (uint64_t)s->tune.healthy_reset_ms * 1000000)
        n->backoff_ms = 0;
    n->recovered_at = 0;
    if (n->backoff_ms < s->tune.backoff_min_ms) n->backoff_ms = s->tune.backoff_min_ms;
    int64_t delay = n->backoff_ms + (int64_t)(rnd(s) % (uint64_t)(n->backoff_ms / 4 + 1));
    n->backoff_ms =
        n->backoff_ms * 2 > s->tune.backoff_max_ms ? s->tune.backoff_max_ms : n->backoff_ms * 2;
    n->retry_op = n->synced && n->rv && retry == OP_WATCH ? OP_WATCH : OP_LIST;
    n->retried_401 = 0; /* the next attempt may retry once after a 401 again */
    if (!s->closing) uv_timer_start(&n->timer, retry_cb, (uint64_t)delay, 0);
}

/* Namespace n works again (a list completed, a watch was accepted). */
static void ns_recovered(struct k8s_ns *n)
{
    n->answered = 1;
    if (!n->recovered_at) n->recovered_at = now_ns();
    if (n->failed) {
        n->failed = 0;
        tick_arm(n->src, 0);
    }
}

/* ---- the pool: reading a file (token, namespace), parsing a list page ------------------- */

enum job_kind { JOB_TOKEN, JOB_NAMESPACE, JOB_LIST };

struct k8s_job {
    uv_work_t work;
    struct k8s_ns *n;
    enum job_kind kind;
    const struct cpgo_sd_k8s_cfg *cfg;
    /* file jobs */
    const char *path;
    char *text;
    /* list jobs */
    unsigned char *body;
    size_t len;
    struct k8s_cache acc; /* the pages so far (moved in and out) */
    char *rv, *cont;
    const char *want_kind;
    int nomem;
    /* both */
    char err[K8S_MSG];
};

static void job_free(struct k8s_job *j)
{
    zero_free(j->text);
    free(j->body);
    cache_free(&j->acc);
    free(j->rv);
    free(j->cont);
    free(j);
}

static void file_work(uv_work_t *w)
{
    struct k8s_job *j = w->data;
    struct cpgo_err err = {0};
    unsigned char *data = NULL;
    size_t len = 0;
    int fd = cpgo_file_open_named(j->path, &err);
    if (fd < 0) {
        snprintf(j->err, sizeof j->err, "%s", err.text);
        return;
    }
    int rc = cpgo_file_read_fd(fd, j->path, K8S_TOKEN_MAX, &data, &len, &err);
    close(fd);
    if (rc) {
        snprintf(j->err, sizeof j->err, "%s", err.text);
        return;
    }
    while (len && isspace(data[len - 1]))
        data[--len] = 0;
    size_t start = 0;
    while (start < len && isspace(data[start]))
        start++;
    if (start == len) {
        snprintf(j->err, sizeof j->err, "%s is empty", j->path);
    } else {
        for (size_t i = start; i < len; i++)
            if (data[i] < 0x21 || data[i] == 0x7f) {
                snprintf(j->err, sizeof j->err, "%s holds a control character or a space", j->path);
                break;
            }
    }
    if (!j->err[0]) j->text = strdup((char *)data + start);
    if (!j->err[0] && !j->text) snprintf(j->err, sizeof j->err, "out of memory");
    memset(data, 0, len);
    free(data);
}

static void list_work(uv_work_t *w)
{
    struct k8s_job *j = w->data;
    json_error_t e;
    json_t *doc = json_loadb((const char *)j->body, j->len, 0, &e);
    free(j->body);
    j->body = NULL;
    if (!doc) {
        snprintf(j->err, sizeof j->err, "invalid JSON at line %d, column %d: %.200s", e.line,
                 e.column, e.text);
        return;
    }
    const char *kind = jstr(doc, "kind");
    const json_t *items = json_object_get(doc, "items");
    const json_t *md = json_object_get(doc, "metadata");
    const char *rv = jstr(md, "resourceVersion"), *cont = jstr(md, "continue");
    if (!json_is_object(doc) || (kind && strcmp(kind, j->want_kind))) {
        snprintf(j->err, sizeof j->err, "a %.40s where a %s was expected",
                 kind ? kind : "JSON value", j->want_kind);
    } else if (!json_is_array(items) && !json_is_null(items)) {
        snprintf(j->err, sizeof j->err, "a %s without items", j->want_kind);
    } else if (!rv || !*rv) {
        snprintf(j->err, sizeof j->err, "a %s without metadata.resourceVersion", j->want_kind);
    } else {
        j->rv = strdup(rv);
        j->cont = cont && *cont ? strdup(cont) : NULL;
        if (!j->rv || (cont && *cont && !j->cont)) j->nomem = 1;
        size_t i;
        const json_t *it;
        json_array_foreach(items, i, it)
        {
            if (j->nomem) break;
            if (j->acc.n >= CPGO_SD_MAX_TARGETS) {
                j->acc.over++;
                continue;
            }
            struct k8s_obj o;
            int rc = derive(j->cfg, it, &o);
            if (rc > 0) continue;
            if (rc < 0 || CPGO_ARRAY_PUSH_ROOM(j->acc.v, j->acc.n, j->acc.cap)) {
                if (!rc) obj_free(&o);
                j->nomem = 1;
                break;
            }
            j->acc.v[j->acc.n++] = o; /* appended: sealed after the last page */
        }
        if (!j->nomem && !j->cont) cache_seal(&j->acc);
    }
    json_decref(doc);
}

static void job_done(uv_work_t *w, int status);

static int job_queue(struct k8s_ns *n, struct k8s_job *j)
{
    struct k8s_src *s = n->src;
    j->n = n;
    j->work.data = j;
    int rc = uv_queue_work(s->base.loop, &j->work, j->kind == JOB_LIST ? list_work : file_work,
                           job_done);
    if (rc) {
        job_free(j);
        return -1;
    }
    n->job = j;
    s->pending++;
    return 0;
}

static void finish_close(struct k8s_src *s);

static void set_token(struct k8s_src *s, char *tok)
{
    if (s->token && !strcmp(s->token, tok)) {
        zero_free(tok);
        return;
    }
    /* a new set: the new token and the one before it (a server may still quote it) */
    struct cpgo_url_secrets *set = cpgo_url_secrets_new();
    if (set) {
        cpgo_url_secrets_add(set, tok);
        if (s->token) cpgo_url_secrets_add(set, s->token);
        cpgo_url_secrets_unref(s->secrets);
        s->secrets = set;
    } else {
        cpgo_url_secrets_add(s->secrets, tok); /* keep what scrubs the old ones */
    }
    zero_free(s->token);
    s->token = tok;
}

static void list_page_done(struct k8s_ns *n, struct k8s_job *j);

static void job_done(uv_work_t *w, int status)
{
    struct k8s_job *j = w->data;
    struct k8s_ns *n = j->n;
    struct k8s_src *s = n->src;
    n->job = NULL;
    s->pending--;
    if (s->closing || status == UV_ECANCELED) {
        job_free(j);
        if (s->closing) finish_close(s);
        return;
    }
    switch (j->kind) {
    case JOB_TOKEN:
        if (j->err[0]) {
            ns_fail(n, n->op, "bearer_token_file: %s", j->err);
            break;
        }
        s->token_read_at = now_ns();
        set_token(s, j->text);
        j->text = NULL;
        send_op(n);
        break;
    case JOB_NAMESPACE:
        if (j->err[0]) {
            ns_fail(n, OP_LIST, "the pod's own namespace: %s", j->err);
            break;
        }
        free(n->ns);
        n->ns = j->text;
        j->text = NULL;
        list_begin(n);
        break;
    case JOB_LIST:
        list_page_done(n, j);
        break;
    }
    job_free(j);
}

/* ---- requests ------------------------------------------------------------------------- */

static const char *resource_path(const struct k8s_src *s)
{
    return s->cfg->role == CPGO_K8S_POD ? "pods" : "endpointslices";
}

static const char *group_prefix(const struct k8s_src *s)
{
    return s->cfg->role == CPGO_K8S_POD ? "/api/v1" : "/apis/discovery.k8s.io/v1";
}

static int appendf(struct cpgo_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int appendf(struct cpgo_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp) return -1;
    return cpgo_buf_append(b, tmp, (size_t)k);
}

static int append_param(struct cpgo_buf *b, CURL *e, const char *key, const char *val)
{
    char *esc = curl_easy_escape(e, val, 0);
    if (!esc) return -1;
    int rc = cpgo_buf_append(b, b->len && memchr(b->data, '?', b->len) ? "&" : "?", 1);
    if (!rc) rc = cpgo_buf_append(b, key, strlen(key));
    if (!rc) rc = cpgo_buf_append(b, "=", 1);
    if (!rc) rc = cpgo_buf_append(b, esc, strlen(esc));
    curl_free(esc);
    return rc;
}

/* The path of n's collection, from base (e.g. "https://h:6443/api/v1/namespaces/x/pods"). */
static int append_collection(struct cpgo_buf *b, const struct k8s_ns *n, const char *base)
{
    const struct k8s_src *s = n->src;
    if (cpgo_buf_append(b, base, strlen(base))) return -1;
    if (appendf(b, "%s", group_prefix(s))) return -1;
    if (n->ns) {
        char *esc = curl_easy_escape(NULL, n->ns, 0);
        int rc = esc ? appendf(b, "/namespaces/%s", esc) : -1;
        curl_free(esc);
        if (rc) return -1;
    }
    return appendf(b, "/%s", resource_path(s));
}

static void shown(const struct k8s_ns *n, enum k8s_op op, char *buf, size_t cap)
{
    struct cpgo_buf b;
    cpgo_buf_init(&b, 4096);
    char masked[1024];
    cpgo_url_mask(n->src->shown_url, masked, sizeof masked);
    if (append_collection(&b, n, masked) || (op == OP_WATCH && appendf(&b, "?watch=1")) ||
        cpgo_buf_append(&b, "", 1)) {
        snprintf(buf, cap, "GET %.400s", masked);
    } else {
        snprintf(buf, cap, "GET %.500s", (char *)b.data);
    }
    cpgo_buf_free(&b);
}

static char *request_url(struct k8s_ns *n, CURL *e)
{
    struct k8s_src *s = n->src;
    struct cpgo_buf b;
    cpgo_buf_init(&b, 64 << 10);
    int rc = append_collection(&b, n, s->base_url);
    if (!rc && s->label) rc = append_param(&b, e, "labelSelector", s->label);
    if (!rc && s->field) rc = append_param(&b, e, "fieldSelector", s->field);
    if (n->op == OP_LIST) {
        char lim[24];
        snprintf(lim, sizeof lim, "%d", s->tune.page_limit);
        if (!rc) rc = append_param(&b, e, "limit", lim);
        if (!rc && n->cont) rc = append_param(&b, e, "continue", n->cont);
    } else {
        char ts[24];
        snprintf(ts, sizeof ts, "%d", n->timeout_s);
        if (!rc) rc = append_param(&b, e, "watch", "1");
        if (!rc) rc = append_param(&b, e, "resourceVersion", n->rv);
        if (!rc) rc = append_param(&b, e, "allowWatchBookmarks", "true");
        if (!rc) rc = append_param(&b, e, "timeoutSeconds", ts);
    }
    if (!rc) rc = cpgo_buf_append(&b, "", 1);
    if (rc) {
        cpgo_buf_free(&b);
        return NULL;
    }
    size_t len;
    return (char *)cpgo_buf_steal(&b, &len);
}

static void free_request(struct k8s_ns *n)
{
    if (n->easy) curl_easy_cleanup(n->easy);
    n->easy = NULL;
    for (struct curl_slist *l = n->hdrs; l; l = l->next) {
        volatile char *v = l->data; /* the Authorization header */
        while (*v)
            *v++ = 0;
    }
    curl_slist_free_all(n->hdrs);
    curl_slist_free_all(n->connect_to);
    n->hdrs = n->connect_to = NULL;
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
    struct k8s_ns *n = arg;
    size_t len = size * nmemb;
    if (len > 5 && !memcmp(p, "HTTP/", 5)) {
        /* a status line (a new one after an interim 1xx): "HTTP/1.1 403 Forbidden" */
        const char *sp = memchr(p, ' ', len);
        n->reason[0] = 0;
        n->status = 0;
        if (sp && (size_t)(sp - p) + 4 <= len) {
            n->status = strtol(sp + 1, NULL, 10);
            const char *r = sp + 4, *end = p + len;
            while (r < end && *r == ' ')
                r++;
            size_t k = 0;
            for (; r < end && *r != '\r' && *r != '\n' && k + 1 < sizeof n->reason; r++)
                n->reason[k++] = isprint((unsigned char)*r) ? *r : ' ';
            n->reason[k] = 0;
        }
    } else if ((len == 2 && !memcmp(p, "\r\n", 2)) || (len == 1 && *p == '\n')) {
        /* the end of the headers: a watch that is accepted is a recovery once it has
         * held for a moment or brought an event (so a server that accepts, then sends
         * garbage, does not flap the source to ok and back); the tick confirms it */
        const char *ct = NULL;
        curl_easy_getinfo(n->easy, CURLINFO_CONTENT_TYPE, &ct);
        if (n->op == OP_WATCH && n->status == 200 && !n->established &&
            (!ct || strstr(ct, "json"))) {
            n->established = 1;
            n->established_at = now_ns();
            if (n->failed)
                tick_arm(n->src, n->src->tune.debounce_ms);
            else
                ns_recovered(n);
        }
    }
    return len;
}

/* On the first body byte: a non-2xx answer is kept as error text (bounded); a 2xx one
 * must be JSON (a proxy's or a login page's HTML is not read on). 0, or -1 (abort). */
static int check_answer(struct k8s_ns *n)
{
    n->checked = 1;
    if (n->status < 200 || n->status > 299) {
        n->body_error = 1;
        n->body.max = K8S_ERRBODY_MAX;
        return 0;
    }
    const char *ct = NULL;
    curl_easy_getinfo(n->easy, CURLINFO_CONTENT_TYPE, &ct);
    if (ct && !strstr(ct, "json")) {
        char c[80];
        cpgo_url_scrub(n->src->secrets, ct, strlen(ct), c, 60);
        snprintf(n->broken, sizeof n->broken,
                 "%ld with Content-Type %s, not JSON (is api_server a Kubernetes API server?)",
                 n->status, c);
        n->after = AFTER_BROKEN;
        return -1;
    }
    return 0;
}

static size_t list_write(char *p, size_t size, size_t nmemb, void *arg)
{
    struct k8s_ns *n = arg;
    size_t len = size * nmemb;
    if (!n->checked && check_answer(n)) return 0;
    if (n->body_error) {
        size_t room = n->body.max - n->body.len;
        cpgo_buf_append(&n->body, p, len < room ? len : room);
        return len; /* the rest is not needed, but reading it keeps the connection */
    }
    if (cpgo_buf_append(&n->body, p, len)) {
        snprintf(n->broken, sizeof n->broken, "the list is larger than %zu MiB",
                 K8S_LIST_MAX >> 20);
        n->after = AFTER_BROKEN;
        return 0;
    }
    return len;
}

static int apply_event(struct k8s_ns *n, const char *p, size_t len, size_t avail, size_t *used);

/* The watch stream: cut complete events off the front of the buffer and apply them. */
static size_t watch_write(char *p, size_t size, size_t nmemb, void *arg)
{
    struct k8s_ns *n = arg;
    size_t len = size * nmemb;
    if (!n->checked && check_answer(n)) return 0;
    if (n->body_error) return list_write(p, size, nmemb, arg);
    if (n->after != AFTER_NONE) return 0;
    if (cpgo_buf_append(&n->body, p, len)) {
        snprintf(n->broken, sizeof n->broken,
                 "the watch sent an event larger than %zu MiB (the stream is cut)",
                 K8S_EVENT_MAX >> 20);
        n->after = AFTER_BROKEN;
        return 0;
    }
    char *d = (char *)n->body.data;
    size_t start = 0, i = n->scan;
    for (; i < n->body.len && n->after == AFTER_NONE; i++) {
        char c = d[i];
        if (n->in_str) {
            if (n->esc)
                n->esc = 0;
            else if (c == '\\')
                n->esc = 1;
            else if (c == '"')
                n->in_str = 0;
            continue;
        }
        if (n->depth == 0 && isspace((unsigned char)c)) {
            if (i == start) start++;
            continue;
        }
        int complete = 0;
        if (n->depth == 0 && c != '{')
            complete = 1; /* not an object: jansson says what it is */
        else if (c == '"')
            n->in_str = 1;
        else if (c == '{' || c == '[')
            n->depth++;
        else if ((c == '}' || c == ']') && --n->depth == 0)
            complete = 1;
        if (!complete) continue;
        size_t used = 0;
        if (apply_event(n, d + start, i + 1 - start, n->body.len - start, &used)) break;
        start += used;
        i = start - 1;
        n->depth = n->in_str = n->esc = 0;
    }
    if (n->after != AFTER_NONE) return 0;
    memmove(d, d + start, n->body.len - start);
    n->body.len -= start;
    n->scan = i - start;
    if (n->body.len > K8S_EVENT_MAX) {
        snprintf(n->broken, sizeof n->broken,
                 "the watch sent an event larger than %zu MiB (the stream is cut)",
                 K8S_EVENT_MAX >> 20);
        n->after = AFTER_BROKEN;
        return 0;
    }
    return len;
}

/* One event of the watch stream, [p, p + len) (the framer found its end; avail bytes are
 * there, for quoting). 0 with *used, or -1 with n->after set (the stream must end). */
static int apply_event(struct k8s_ns *n, const char *p, size_t len, size_t avail, size_t *used)
{
    struct k8s_src *s = n->src;
    json_error_t e;
    json_t *ev = json_loadb(p, len, JSON_DISABLE_EOF_CHECK, &e);
    if (!ev || !json_is_object(ev) || e.position <= 0 || (size_t)e.position > len) {
        char quoted[80];
        size_t k = 0;
        for (size_t i = 0; i < avail && k + 1 < sizeof quoted && k < 60; i++)
            quoted[k++] = isprint((unsigned char)p[i]) ? p[i] : ' ';
        quoted[k] = 0;
        char scrubbed[160];
        cpgo_url_scrub(s->secrets, quoted, k, scrubbed, sizeof scrubbed);
        snprintf(n->broken, sizeof n->broken,
                 "the watch stream is not JSON events (%.200s, at \"%s\")",
                 ev ? "a value that is not an object" : e.text, scrubbed);
        json_decref(ev);
        n->after = AFTER_BROKEN;
        return -1;
    }
    *used = (size_t)e.position;
    const char *type = jstr(ev, "type");
    const json_t *obj = json_object_get(ev, "object");
    const char *rv = jstr(json_object_get(obj, "metadata"), "resourceVersion");
    int rc = 0;
    if (!type || !json_is_object(obj)) {
        snprintf(n->broken, sizeof n->broken, "a watch event without type or object");
        n->after = AFTER_BROKEN;
        rc = -1;
    } else if (!strcmp(type, "ERROR")) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        const char *reason = jstr(obj, "reason"), *msg = jstr(obj, "message");
        if (code == 410 || (reason && (!strcmp(reason, "Expired") || !strcmp(reason, "Gone")))) {
            n->after = AFTER_RELIST; /* the history is gone: list from scratch */
        } else {
            char m[300];
            cpgo_url_scrub(s->secrets, msg ? msg : "", msg ? strlen(msg) : 0, m, 240);
            snprintf(n->broken, sizeof n->broken, "the watch sent an ERROR: %lld %.40s: %s",
                     (long long)code, reason ? reason : "", m);
            n->after = AFTER_BROKEN;
        }
        rc = -1;
    } else if (!strcmp(type, "BOOKMARK")) {
        /* only the resourceVersion moves */
    } else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED") || !strcmp(type, "DELETED")) {
        struct k8s_obj o;
        int d = derive(&s->pick, obj, &o);
        if (d < 0) {
            snprintf(n->broken, sizeof n->broken, "out of memory applying a watch event");
            n->after = AFTER_BROKEN;
            rc = -1;
        } else if (d == 0) {
            if (type[0] == 'D') {
                cache_del(&n->cache, o.key);
                obj_free(&o);
            } else if (cache_put(&n->cache, &o)) {
                snprintf(n->broken, sizeof n->broken, "out of memory applying a watch event");
                n->after = AFTER_BROKEN;
                rc = -1;
            }
            n->events++;
            s->dirty = 1;
            if (n->failed) ns_recovered(n); /* arms the tick now */
            tick_arm(s, s->tune.debounce_ms);
        }
    } else {
        snprintf(n->broken, sizeof n->broken, "a watch event of unknown type %.40s", type);
        n->after = AFTER_BROKEN;
        rc = -1;
    }
    if (!rc && rv && *rv) {
        char *c = strdup(rv);
        if (c) {
            free(n->rv);
            n->rv = c;
        }
    }
    json_decref(ev);
    return rc;
}

static void request_done(void *easy, int code, void *arg);

/* Starts n's request now (the token, when there is one, is in memory). */
static void send_op(struct k8s_ns *n)
{
    struct k8s_src *s = n->src;
    char shown_req[600];
    shown(n, n->op, shown_req, sizeof shown_req);
    CURL *e = curl_easy_init();
    char *url = e ? request_url(n, e) : NULL;
    if (!url) {
        if (e) curl_easy_cleanup(e);
        ns_fail(n, n->op, "%s: out of memory", shown_req);
        return;
    }
    n->easy = e;
    n->errbuf[0] = 0;
    n->status = 0;
    n->reason[0] = 0;
    n->checked = n->body_error = n->established = 0;
    n->after = AFTER_NONE;
    n->broken[0] = 0;
    n->scan = 0;
    n->depth = n->in_str = n->esc = 0;
    n->events = 0;
    cpgo_buf_free(&n->body);
    cpgo_buf_init(&n->body, n->op == OP_LIST ? K8S_LIST_MAX : K8S_EVENT_MAX + (64 << 10));
    n->op_started = now_ns();
    int rc = 0;
    struct curl_slist *h;
    if ((h = curl_slist_append(n->hdrs, "Accept: application/json")))
        n->hdrs = h;
    else
        rc = -1;
    if (!rc && s->token) {
        size_t hl = strlen(s->token) + 32;
        char *hv = malloc(hl);
        if (hv) {
            snprintf(hv, hl, "Authorization: Bearer %s", s->token);
            if ((h = curl_slist_append(n->hdrs, hv)))
                n->hdrs = h;
            else
                rc = -1;
            volatile char *v = hv;
            while (*v)
                *v++ = 0;
            free(hv);
        } else {
            rc = -1;
        }
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, n->hdrs);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)K8S_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "cpgo/" CPGO_VERSION);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, n->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, n);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, n);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (n->op == OP_LIST) {
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, list_write);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->tune.list_timeout_ms);
        /* a list page of 500 pods is a few MB of JSON; the ceiling counts decoded bytes */
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
    } else {
        /* an idle watch legitimately sends nothing for minutes, so no low-speed limit: the
         * server ends it after timeoutSeconds, and one that does not has stalled */
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, watch_write);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                         (long)((int64_t)n->timeout_s * 1000 + s->tune.watch_margin_ms));
    }
    if (s->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
    if (s->cfg->tls.cert_file) curl_easy_setopt(e, CURLOPT_SSLCERT, s->cfg->tls.cert_file);
    if (s->cfg->tls.key_file) curl_easy_setopt(e, CURLOPT_SSLKEY, s->cfg->tls.key_file);
    if (s->cfg->tls.insecure_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (s->connect_to) {
        /* curl does not copy the list: it lives as long as the handle */
        if ((n->connect_to = curl_slist_append(NULL, s->connect_to)))
            curl_easy_setopt(e, CURLOPT_CONNECT_TO, n->connect_to);
        else
            rc = -1;
    }
    if (rc || cpgo_scraper_run_easy(s->http, e, request_done, n)) {
        free_request(n);
        ns_fail(n, n->op, "%s: out of memory", shown_req);
    }
}

/* Reads the token first when it is due: at every (re)connect (list start, watch start),
 * when older than token_max_age_ms, and after a 401. */
static void start_op(struct k8s_ns *n, enum k8s_op op, int reconnect)
{
    struct k8s_src *s = n->src;
    n->op = op;
    if (s->closing) return;
    if (s->token_file &&
        (reconnect || !s->token ||
         now_ns() - s->token_read_at >= (uint64_t)s->tune.token_max_age_ms * 1000000)) {
        struct k8s_job *j = calloc(1, sizeof *j);
        if (j) {
            j->kind = JOB_TOKEN;
            j->path = s->token_file;
        }
        if (!j || job_queue(n, j)) ns_fail(n, op, "bearer_token_file: cannot queue the read");
        return;
    }
    send_op(n);
}

static void list_begin(struct k8s_ns *n)
{
    struct k8s_src *s = n->src;
    if (s->closing) return;
    if (n->own && !n->ns) {
        struct k8s_job *j = calloc(1, sizeof *j);
        if (j) {
            j->kind = JOB_NAMESPACE;
            j->path = s->ns_file;
        }
        n->op = OP_LIST;
        if (!j || job_queue(n, j)) ns_fail(n, OP_LIST, "the pod's own namespace: cannot read");
        return;
    }
    cache_free(&n->pages);
    free(n->cont);
    n->cont = NULL;
    n->list_started = now_ns();
    start_op(n, OP_LIST, 1);
}

static void watch_begin(struct k8s_ns *n)
{
    struct k8s_src *s = n->src;
    if (s->closing) return;
    int lo = s->tune.watch_min_s, hi = s->tune.watch_max_s;
    n->timeout_s = lo + (hi > lo ? (int)(rnd(s) % (uint64_t)(hi - lo + 1)) : 0);
    start_op(n, OP_WATCH, 1);
}

static void retry_cb(uv_timer_t *t)
{
    struct k8s_ns *n = t->data;
    if (n->retry_op == OP_WATCH)
        watch_begin(n);
    else
        list_begin(n);
}

/* The text of an error answer: the Status message, an HTML page's title, or the first
 * printable bytes; scrubbed, cut. */
static void error_text(struct k8s_ns *n, char *out, size_t cap)
{
    struct k8s_src *s = n->src;
    const char *body = (const char *)n->body.data;
    size_t len = n->body.len;
    out[0] = 0;
    if (!len) return;
    char raw[400];
    size_t k = 0;
    json_t *doc = json_loadb(body, len, 0, NULL);
    const char *msg = jstr(doc, "message");
    const char *kind = jstr(doc, "kind");
    if (msg && kind && !strcmp(kind, "Status")) {
        snprintf(raw, sizeof raw, "%s", msg);
        k = strlen(raw);
    } else {
        const char *tb = memmem(body, len, "<title>", 7);
        const char *te = tb ? memmem(tb, len - (size_t)(tb - body), "</title>", 8) : NULL;
        const char *from = body, *to = body + len;
        const char *pre = "";
        if (tb && te) {
            from = tb + 7;
            to = te;
            pre = "an HTML page: ";
        } else if (memmem(body, len < 512 ? len : 512, "<html", 5) ||
                   memmem(body, len < 512 ? len : 512, "<!DOCTYPE", 9)) {
            pre = "an HTML page: ";
        }
        k = (size_t)snprintf(raw, sizeof raw, "%s", pre);
        for (const char *c = from; c < to && k + 1 < sizeof raw && k < 200; c++)
            raw[k++] = isprint((unsigned char)*c) ? *c : ' ';
        raw[k] = 0;
    }
    json_decref(doc);
    cpgo_url_scrub(s->secrets, raw, k, out, cap < 240 ? cap : 240);
}

static void http_error(struct k8s_ns *n, enum k8s_op op, const char *req)
{
    char text[260], reason[80];
    error_text(n, text, sizeof text);
    cpgo_url_scrub(n->src->secrets, n->reason, strlen(n->reason), reason, sizeof reason);
    ns_fail(n, op, "%s: %ld%s%s%s%s", req, n->status, reason[0] ? " " : "", reason,
            text[0] ? ": " : "", text);
}

static void list_done(struct k8s_ns *n, int code, const char *req)
{
    struct k8s_src *s = n->src;
    if (code == CURLE_OK && n->status == 410 && n->cont && n->list_410s < 3) {
        /* the continue token expired: the list starts over (client-go does the same) */
        n->list_410s++;
        list_begin(n);
        return;
    }
    if (code == CURLE_OK && n->status == 401 && !n->retried_401 && s->token_file) {
        n->retried_401 = 1; /* the token was rotated under us: read it again, once */
        start_op(n, OP_LIST, 1);
        return;
    }
    if (n->after == AFTER_BROKEN) {
        ns_fail(n, OP_LIST, "%s: %s", req, n->broken);
        return;
    }
    if (code != CURLE_OK) {
        char m[CURL_ERROR_SIZE + 64];
        const char *detail = n->errbuf[0] ? n->errbuf : curl_easy_strerror((CURLcode)code);
        cpgo_url_scrub(s->secrets, detail, strlen(detail), m, sizeof m);
        ns_fail(n, OP_LIST, "%s: %s", req, m);
        return;
    }
    if (n->status < 200 || n->status > 299) {
        http_error(n, OP_LIST, req);
        return;
    }
    n->retried_401 = 0;
    struct k8s_job *j = calloc(1, sizeof *j);
    if (!j) {
        ns_fail(n, OP_LIST, "%s: out of memory", req);
        return;
    }
    j->kind = JOB_LIST;
    j->cfg = &s->pick;
    j->want_kind = s->cfg->role == CPGO_K8S_POD ? "PodList" : "EndpointSliceList";
    j->body = cpgo_buf_steal(&n->body, &j->len);
    j->acc = n->pages;
    memset(&n->pages, 0, sizeof n->pages);
    if (job_queue(n, j)) ns_fail(n, OP_LIST, "%s: cannot queue the parse", req);
}

static void list_page_done(struct k8s_ns *n, struct k8s_job *j)
{
    struct k8s_src *s = n->src;
    char req[600];
    shown(n, OP_LIST, req, sizeof req);
    if (j->err[0] || j->nomem) {
        char m[K8S_MSG];
        cpgo_url_scrub(s->secrets, j->err, strlen(j->err), m, sizeof m);
        ns_fail(n, OP_LIST, "%s: %s", req, j->nomem ? "out of memory" : m);
        return;
    }
    n->pages = j->acc;
    memset(&j->acc, 0, sizeof j->acc);
    if (j->cont) {
        free(n->cont);
        n->cont = j->cont;
        j->cont = NULL;
        start_op(n, OP_LIST, 0); /* the next page */
        return;
    }
    /* the last page: the list replaces the cache whole (vanished objects are gone) */
    cache_free(&n->cache);
    n->cache = n->pages;
    memset(&n->pages, 0, sizeof n->pages);
    free(n->cont);
    n->cont = NULL;
    free(n->rv);
    n->rv = j->rv;
    j->rv = NULL;
    n->list_seconds = (double)(now_ns() - n->list_started) / 1e9;
    n->synced = 1;
    n->list_410s = 0;
    s->dirty = 1;
    ns_recovered(n);
    tick_arm(s, 0);
    watch_begin(n);
}

static void watch_done(struct k8s_ns *n, int code, const char *req)
{
    struct k8s_src *s = n->src;
    double lasted = (double)(now_ns() - n->op_started) / 1e9;
    if (n->after == AFTER_RELIST || (code == CURLE_OK && n->status == 410)) {
        /* the resourceVersion is too old: list from scratch, replacing the cache */
        free(n->rv);
        n->rv = NULL;
        list_begin(n);
        return;
    }
    if (code == CURLE_OK && n->status == 401 && !n->retried_401 && s->token_file) {
        n->retried_401 = 1;
        start_op(n, OP_WATCH, 1);
        return;
    }
    if (n->after == AFTER_BROKEN) {
        ns_fail(n, OP_WATCH, "%s: %s", req, n->broken);
        return;
    }
    if (code == CURLE_OPERATION_TIMEDOUT && n->established) {
        ns_fail(n, OP_WATCH,
                "%s: the watch stalled: the server neither sent nor ended it within "
                "timeoutSeconds=%d + %lld ms",
                req, n->timeout_s, (long long)s->tune.watch_margin_ms);
        return;
    }
    if (code != CURLE_OK) {
        char m[CURL_ERROR_SIZE + 64];
        const char *detail = n->errbuf[0] ? n->errbuf : curl_easy_strerror((CURLcode)code);
        cpgo_url_scrub(s->secrets, detail, strlen(detail), m, sizeof m);
        ns_fail(n, OP_WATCH, "%s: %s", req, m);
        return;
    }
    if (n->status != 200) {
        http_error(n, OP_WATCH, req);
        return;
    }
    n->retried_401 = 0;
    if (n->body.len) {
        ns_fail(n, OP_WATCH, "%s: the watch stream ended inside an event", req);
        return;
    }
    if (n->failed) ns_recovered(n); /* a whole watch, accepted and ended cleanly */
    /* ended normally (timeoutSeconds): watch again from the last resourceVersion; a server
     * that ends every watch at once with nothing is not looped on */
    if (lasted < 1.0 && !n->events) {
        if (++n->quick_ends >= 2) {
            n->op = OP_NONE;
            n->retry_op = OP_WATCH;
            int64_t d =
                n->backoff_ms > s->tune.backoff_min_ms ? n->backoff_ms : s->tune.backoff_min_ms;
            uv_timer_start(&n->timer, retry_cb, (uint64_t)d, 0);
            return;
        }
    } else {
        n->quick_ends = 0;
    }
    watch_begin(n);
}

static void request_done(void *easy, int code, void *arg)
{
    struct k8s_ns *n = arg;
    struct k8s_src *s = n->src;
    (void)easy; /* n->easy */
    long st = 0;
    curl_easy_getinfo(n->easy, CURLINFO_RESPONSE_CODE, &st);
    if (st) n->status = st;
    /* the handle is done with: the next request (started below) has its own */
    free_request(n);
    if (s->closing) {
        cpgo_buf_free(&n->body);
        return;
    }
    char req[600];
    shown(n, n->op, req, sizeof req);
    if (n->op == OP_LIST)
        list_done(n, code, req);
    else
        watch_done(n, code, req);
}

/* ---- reporting -------------------------------------------------------------------------- */

static void rebuild(struct k8s_src *s)
{
    size_t nt = 0, nd = 0, over = 0;
    double seconds = 0;
    for (size_t i = 0; i < s->nns; i++) {
        const struct k8s_cache *c = &s->ns[i].cache;
        for (size_t k = 0; k < c->n; k++) {
            nt += c->v[k].nt;
            nd += c->v[k].nd;
        }
        over += c->over;
        if (s->ns[i].list_seconds > seconds) seconds = s->ns[i].list_seconds;
    }
    size_t over_t = nt > CPGO_SD_MAX_TARGETS ? nt - CPGO_SD_MAX_TARGETS : 0;
    if (over_t) nt = CPGO_SD_MAX_TARGETS;
    int notes = (over_t || over) ? 1 : 0;
    if (nd + (size_t)notes > CPGO_SD_MAX_DROPPED) nd = CPGO_SD_MAX_DROPPED - (size_t)notes;
    struct cpgo_sd_target *t = nt ? calloc(nt, sizeof *t) : NULL;
    struct cpgo_sd_dropped *d = nd + notes ? calloc(nd + notes, sizeof *d) : NULL;
    if ((nt && !t) || (nd + notes && !d)) {
        free(t);
        free(d);
        cpgo_sd_source_fail(&s->base, seconds, "out of memory building the targets");
        return;
    }
    size_t it = 0, id = 0;
    int nomem = 0;
    for (size_t i = 0; i < s->nns; i++) {
        const struct k8s_cache *c = &s->ns[i].cache;
        for (size_t k = 0; k < c->n; k++) {
            const struct k8s_obj *o = &c->v[k];
            for (size_t x = 0; x < o->nt && it < nt; x++, it++) {
                t[it].host = strdup(o->t[x].host);
                t[it].port = o->t[x].port;
                t[it].origin = strdup(o->t[x].origin);
                nomem |= !t[it].host || !t[it].origin;
            }
            for (size_t x = 0; x < o->nd && id < nd; x++, id++) {
                d[id].what = strdup(o->d[x].what);
                d[id].why = strdup(o->d[x].why);
                nomem |= !d[id].what || !d[id].why;
            }
        }
    }
    if (notes) {
        char why[160];
        snprintf(why, sizeof why, "%zu objects and %zu targets over the limit of %d", over, over_t,
                 CPGO_SD_MAX_TARGETS);
        d[id].what = strdup(s->base.name);
        d[id].why = strdup(why);
        nomem |= !d[id].what || !d[id].why;
        id++;
    }
    if (nomem) {
        cpgo_sd_targets_free(t, it);
        cpgo_sd_dropped_free(d, id);
        cpgo_sd_source_fail(&s->base, seconds, "out of memory building the targets");
        return;
    }
    cpgo_sd_source_succeed(&s->base, t, it, d, id, seconds);
}

static void tick_cb(uv_timer_t *timer)
{
    struct k8s_src *s = timer->data;
    if (s->closing) return;
    const char *failing = NULL;
    double seconds = 0;
    uint64_t t = now_ns(), hold = (uint64_t)s->tune.debounce_ms * 1000000;
    for (size_t i = 0; i < s->nns; i++) {
        struct k8s_ns *n = &s->ns[i];
        if (!n->failed || n->op != OP_WATCH || !n->established) continue;
        if (t - n->established_at >= hold)
            ns_recovered(n); /* the watch held */
        else
            uv_timer_start(&s->tick, tick_cb, (hold - (t - n->established_at)) / 1000000 + 1, 0);
    }
    for (size_t i = 0; i < s->nns; i++) {
        if (!s->ns[i].answered) return; /* the first answer waits for every namespace */
        if (s->ns[i].failed && !failing) {
            failing = s->ns[i].error;
            seconds = s->ns[i].list_seconds;
        }
    }
    int any_synced = 0;
    for (size_t i = 0; i < s->nns; i++)
        any_synced |= s->ns[i].synced;
    if (any_synced && (s->dirty || (!failing && !s->base.ok))) {
        s->dirty = 0;
        rebuild(s);
        if (s->closing) return; /* the owner closed the source from its hook */
    }
    if (failing && (s->fail_new || s->base.ok || !s->base.answered)) {
        s->fail_new = 0;
        cpgo_sd_source_fail(&s->base, seconds, "%s", failing);
    }
}

/* ---- life ------------------------------------------------------------------------------- */

static int join_selectors(struct k8s_src *s)
{
    const struct cpgo_sd_k8s_cfg *c = s->cfg;
    for (int field = 0; field < 2; field++) {
        struct cpgo_buf b;
        cpgo_buf_init(&b, 0);
        for (size_t i = 0; i < c->nselectors; i++) {
            const struct cpgo_k8s_selector *sel = &c->selectors[i];
            const char *v = field ? sel->field : sel->label;
            if (sel->role != c->role || !v || !*v) continue;
            if ((b.len && cpgo_buf_append(&b, ",", 1)) || cpgo_buf_append(&b, v, strlen(v))) {
                cpgo_buf_free(&b);
                return -1;
            }
        }
        if (!b.len) continue;
        if (cpgo_buf_append(&b, "", 1)) {
            cpgo_buf_free(&b);
            return -1;
        }
        size_t len;
        *(field ? &s->field : &s->label) = (char *)cpgo_buf_steal(&b, &len);
    }
    return 0;
}

static char *path_in(const char *dir, const char *name)
{
    size_t l = strlen(dir) + strlen(name) + 2;
    char *p = malloc(l);
    if (p) snprintf(p, l, "%s/%s", dir, name);
    return p;
}

/* Where to connect and with what (in-cluster defaults), decided at start. */
static int resolve(struct k8s_src *s)
{
    const struct cpgo_sd_k8s_cfg *c = s->cfg;
    const char *sa = s->tune.sa_dir ? s->tune.sa_dir : CPGO_K8S_SA_DIR;
    int in_cluster = !c->api_server;
    if (in_cluster) {
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        if (!host || !*host || !port || !*port) {
            snprintf(s->base.error, sizeof s->base.error,
                     "%s: not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST and "
                     "KUBERNETES_SERVICE_PORT are not set): set api_server",
                     s->base.name);
            return -1;
        }
        size_t l = strlen(host) + strlen(port) + 16;
        if (!(s->base_url = malloc(l))) return -1;
        snprintf(s->base_url, l, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
                 port);
    } else {
        s->base_url = strdup(c->api_server);
        if (!s->base_url) return -1;
        size_t l = strlen(s->base_url);
        while (l && s->base_url[l - 1] == '/')
            s->base_url[--l] = 0;
    }
    if (!(s->shown_url = strdup(s->base_url))) return -1;
    const char *tf = c->bearer_token_file;
    char *dtf = NULL, *dca = NULL;
    if (!tf && in_cluster && !(tf = dtf = path_in(sa, "token"))) return -1;
    const char *ca = c->tls.ca_file;
    if (!ca && in_cluster && !(ca = dca = path_in(sa, "ca.crt"))) {
        free(dtf);
        return -1;
    }
    s->token_file = dtf ? dtf : tf ? strdup(tf) : NULL;
    s->ca_file = dca ? dca : ca ? strdup(ca) : NULL;
    if ((tf && !s->token_file) || (ca && !s->ca_file)) return -1;
    if (!(s->ns_file = path_in(sa, "namespace"))) return -1;
    if (c->tls.server_name && *c->tls.server_name) {
        /* verify (and send SNI) for server_name while connecting where the URL points:
         * the request goes to server_name, curl connects it to the real host */
        CURLU *u = curl_url();
        char *host = NULL, *port = NULL, *url = NULL;
        int ok = u && !curl_url_set(u, CURLUPART_URL, s->base_url, 0) &&
                 !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
                 !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) &&
                 !curl_url_set(u, CURLUPART_HOST, c->tls.server_name, 0) &&
                 !curl_url_get(u, CURLUPART_URL, &url, 0);
        if (ok) {
            size_t l = strlen(c->tls.server_name) + strlen(host) + 2 * strlen(port) + 8;
            s->connect_to = malloc(l);
            if (s->connect_to)
                snprintf(s->connect_to, l, "%s:%s:%s:%s", c->tls.server_name, port, host, port);
            free(s->base_url);
            s->base_url = strdup(url);
            size_t bl = s->base_url ? strlen(s->base_url) : 0;
            while (bl && s->base_url[bl - 1] == '/')
                s->base_url[--bl] = 0;
        }
        curl_free(host);
        curl_free(port);
        curl_free(url);
        curl_url_cleanup(u);
        if (!ok) {
            snprintf(s->base.error, sizeof s->base.error,
                     "%s: tls_config.server_name %.100s does not fit api_server", s->base.name,
                     c->tls.server_name);
            return -1;
        }
        if (!s->connect_to || !s->base_url) return -1;
    }
    if (join_selectors(s)) return -1;
    /* the namespaces: the names, the own one (in-cluster default), or all of them */
    int own = c->own_namespace || (in_cluster && !c->nnamespaces);
    size_t nns = c->nnamespaces + (own ? 1 : 0);
    if (!nns) nns = 1; /* api_server and no namespace: all namespaces */
    s->ns = calloc(nns, sizeof *s->ns);
    if (!s->ns) return -1;
    for (size_t i = 0; i < nns; i++) {
        struct k8s_ns *n = &s->ns[i];
        n->src = s;
        if (i < c->nnamespaces && !(n->ns = strdup(c->namespaces[i]))) return -1;
        n->own = own && i == c->nnamespaces;
        uv_timer_init(s->base.loop, &n->timer);
        n->timer.data = n;
        s->nns++;
        s->pending++;
    }
    return 0;
}

static int start(struct cpgo_sd_source *src)
{
    struct k8s_src *s = (struct k8s_src *)src;
    if (s->started) return 0;
    s->started = 1;
    if (resolve(s)) {
        if (!s->base.error[0])
            snprintf(s->base.error, sizeof s->base.error, "%s: out of memory", s->base.name);
        return -1;
    }
    for (size_t i = 0; i < s->nns; i++)
        list_begin(&s->ns[i]);
    return 0;
}

static void finish_close(struct k8s_src *s)
{
    if (s->pending) return;
    for (size_t i = 0; i < s->nns; i++) {
        struct k8s_ns *n = &s->ns[i];
        free_request(n);
        cpgo_buf_free(&n->body);
        cache_free(&n->cache);
        cache_free(&n->pages);
        free(n->ns);
        free(n->rv);
        free(n->cont);
    }
    free(s->ns);
    free(s->base_url);
    free(s->shown_url);
    free(s->connect_to);
    free(s->token_file);
    free(s->ca_file);
    free(s->ns_file);
    free(s->label);
    free(s->field);
    zero_free(s->token);
    free(s->pick.port);
    cpgo_url_secrets_unref(s->secrets);
    cpgo_sd_source_free_base(&s->base);
    free(s);
}

static void ns_timer_closed(uv_handle_t *h)
{
    struct k8s_src *s = ((struct k8s_ns *)h->data)->src;
    s->pending--;
    finish_close(s);
}

static void tick_closed(uv_handle_t *h)
{
    struct k8s_src *s = h->data;
    s->pending--;
    finish_close(s);
}

static void http_closed(void *arg)
{
    struct k8s_src *s = arg;
    s->pending--;
    finish_close(s);
}

static void close_src(struct cpgo_sd_source *src)
{
    struct k8s_src *s = (struct k8s_src *)src;
    if (s->closing) return;
    s->closing = 1;
    s->base.changed = NULL;
    for (size_t i = 0; i < s->nns; i++) {
        struct k8s_ns *n = &s->ns[i];
        uv_close((uv_handle_t *)&n->timer, ns_timer_closed);
        if (n->job) uv_cancel((uv_req_t *)&n->job->work); /* else it ends, then is freed */
    }
    uv_close((uv_handle_t *)&s->tick, tick_closed);
    /* hands our transfers back through request_done (aborted), which frees them */
    cpgo_scraper_close(s->http, http_closed, s);
}

static const struct cpgo_sd_source_ops ops = {start, close_src};

void cpgo_sd_k8s_tuning_default(struct cpgo_sd_k8s_tuning *t)
{
    t->watch_min_s = 300;
    t->watch_max_s = 600;
    t->watch_margin_ms = 30000;
    t->list_timeout_ms = 60000;
    t->backoff_min_ms = 800;
    t->backoff_max_ms = 30000;
    t->healthy_reset_ms = 120000;
    t->debounce_ms = 200;
    t->token_max_age_ms = 60000;
    t->page_limit = 500;
    t->sa_dir = CPGO_K8S_SA_DIR;
}

void cpgo_sd_k8s_tune(struct cpgo_sd_source *src, const struct cpgo_sd_k8s_tuning *t)
{
    struct k8s_src *s = (struct k8s_src *)src;
    s->tune = *t;
}

int cpgo_sd_k8s_new(const struct cpgo_sd_env *env, const struct cpgo_sd_k8s_cfg *cfg, size_t index,
                    struct cpgo_sd_source **out)
{
    struct k8s_src *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->base.ops = &ops;
    s->base.kind = CPGO_SD_K8S;
    s->base.loop = env->loop;
    snprintf(s->base.name, sizeof s->base.name, "kubernetes_sd_configs[%zu]", index);
    s->cfg = cfg;
    s->pick.role = cfg->role;
    if (cfg->port && !(s->pick.port = strdup(cfg->port))) {
        free(s);
        return -1;
    }
    cpgo_sd_k8s_tuning_default(&s->tune);
    s->rng = (uv_hrtime() ^ (uint64_t)(uintptr_t)s) | 1;
    s->secrets = cpgo_url_secrets_new();
    /* no per-host limit: watches are long-lived streams to one server (see the top) */
    struct cpgo_scraper_opts o = {.max_host_connections = -1};
    if (!s->secrets || cpgo_scraper_new(env->loop, &o, &s->http)) {
        cpgo_url_secrets_unref(s->secrets);
        free(s->pick.port);
        free(s);
        return -1;
    }
    uv_timer_init(env->loop, &s->tick);
    s->tick.data = s;
    s->pending = 2; /* the tick and the multi; namespaces add theirs at start */
    *out = &s->base;
    return 0;
}
