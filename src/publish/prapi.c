/*
 * prapi.c - see prapi.h. The pull-request API client: a FIFO of operations, one HTTP
 * request in flight at a time, run as the scraper's own easy handles on the shared curl
 * multi, in the dialect of its forge. This file is the client's life and its transfers:
 * creating and closing the client (with its dialect, from the table here), the pump that
 * starts the head of the queue when its time has come, one transfer (the request built,
 * the response copied out, then judged). The rest of the module, one concern a file
 * (prapi_int.h lists what they share); each calls only the ones listed after it, so no two
 * call each other (a dialect's functions are called through its table, not by name):
 *   prapi_ops.c     the operations (find, create, update, get) and cpgo's marker
 *   prapi.c         (this file) and the dialect table
 *   prapi_github.c, prapi_gitlab.c, prapi_gitea.c   the dialects
 *   prapi_pace.c    judging a response: pacing, rate limits, retries, redirects, pages
 *   prapi_req.c     an operation's life: the queue, the one callback that ends it,
 *                   optional steps; the helpers the dialects share
 *   prapi_parse.c   the response parsers (pull requests, error documents, Link headers)
 *
 * Life of an operation: submit validates, builds its URL and JSON, queues it and arms the
 * pump timer (never sending from inside the submit call, so callbacks are never
 * re-entrant). The pump starts the head of the queue once its time has come: the queue's
 * pause (rate limits, backoff), the gap after the last mutation and the hourly mutation
 * budget. When curl is done, everything needed from the response (status, rate-limit
 * headers, Date, Location, Link, body) is copied out and the easy handle is freed first;
 * then the response is judged: finish (one callback), or put back at the head of the
 * queue for a retry, a redirect or the next page, with the queue paused as GitHub asks.
 *
 * Invariants:
 *   - at most one request in flight (`active`), and it is not in the queue;
 *   - every operation ends in exactly one callback, from the pump timer or the easy done
 *     callback, never from a submit function;
 *   - the token lives in `token` and, during a transfer, in the Authorization node of the
 *     request's header list, which is zeroed before it is freed; no error line or log
 *     line is built from anything that holds it, and what a server sends back (error
 *     bodies, Location, html_url) is scrubbed of it in every form (url.h) before any cut;
 *   - every buffer is bounded: response bodies by max_json_bytes (counted in the write
 *     callback), error lines by their arrays, URLs by validated parts.
 */
#include "publish/prapi_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/log.h"

void cpgo_prapi_limits_default(struct cpgo_prapi_limits *l)
{
    l->max_json_bytes = 4u << 20;
    l->timeout_ms = 30000;
    l->connect_timeout_ms = 10000;
    l->per_page = 100;
    l->max_pages = 10;
    l->max_queued = 10000;
}

void cpgo_prapi_pacing_default(struct cpgo_prapi_pacing *p)
{
    p->min_mutation_gap_ms = 1000;
    p->max_mutations_per_hour = 400;
    p->secondary_wait_ms = 60000;
    p->backoff_base_ms = 1000;
    p->backoff_max_ms = 600000;
    p->reset_margin_ms = 1000;
    p->max_pause_ms = 3900000;
    p->max_retries = 5;
}

static int64_t parse_int_header(const char *v)
{
    if (!v) return -1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (!isdigit((unsigned char)*v)) return -1;
    char *end;
    long long x = strtoll(v, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end || x < 0) return -1;
    return x;
}

/* ---- URLs -------------------------------------------------------------------------------- */

static int is_loopback(const char *host)
{
    return !strcasecmp(host, "localhost") || !strcmp(host, "[::1]") || !strncmp(host, "127.", 4);
}

static void pump(struct cpgo_prapi_client *c);

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct prapi_req *r = userp;
    size_t n = size * nmemb;
    int rc = cpgo_buf_append(&r->body, data, n);
    if (rc) {
        r->over_limit = rc == CPGO_E_LIMIT;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    return n;
}

static int xferinfo_cb(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct prapi_req *r = p;
    return r->abort;
}

/* Zeroes the Authorization value (and everything else) before the list is freed. */
static void free_headers(struct curl_slist *h)
{
    for (struct curl_slist *n = h; n; n = n->next)
        if (n->data) explicit_bzero(n->data, strlen(n->data));
    curl_slist_free_all(h);
}

static const char *header(CURL *e, const char *name)
{
    struct curl_header *h;
    if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK) return h->value;
    return NULL;
}

static void easy_done(void *easy, int curlcode, void *arg);

static int append_header(struct curl_slist **l, const char *h)
{
    struct curl_slist *n = curl_slist_append(*l, h);
    if (!n) return -1;
    *l = n;
    return 0;
}

/* Builds the easy handle for the request's current URL and method and hands it to the
 * scraper. On failure the request is finished. */
static void start(struct cpgo_prapi_client *c, struct prapi_req *r)
{
    CURL *e = curl_easy_init();
    if (!e) {
        prapi_finish(r, CPGO_CLASS_INTERNAL_RETRY, "out of memory");
        return;
    }
    cpgo_buf_free(&r->body);
    cpgo_buf_init(&r->body, c->lim.max_json_bytes);
    r->over_limit = 0;
    r->errbuf[0] = 0;
    r->easy = e;
    r->hdrs = NULL;
    int mutation = strcmp(r->method, "GET") != 0;
    /* the dialect's Authorization (or PRIVATE-TOKEN) line is assembled in a buffer zeroed
     * right after the list copies it; the list's copy is zeroed in free_headers */
    int bad = c->d->headers(c, &r->hdrs);
    bad |= append_header(&r->hdrs, "Expect:"); /* no 100-continue round trip */
    if (mutation) bad |= append_header(&r->hdrs, "Content-Type: application/json");
    if (bad) {
        free_headers(r->hdrs);
        r->hdrs = NULL;
        curl_easy_cleanup(e);
        r->easy = NULL;
        prapi_finish(r, CPGO_CLASS_INTERNAL_RETRY, "out of memory");
        return;
    }
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* followed here, after checking */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "cpgo/" CPGO_VERSION);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->lim.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->lim.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->lim.max_json_bytes);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* the cap counts decoded bytes */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (mutation) {
        const char *p = r->payload ? r->payload : "";
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, p);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(p));
        if (strcmp(r->method, "POST")) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    if (cpgo_scraper_run_easy(c->scraper, e, easy_done, r)) {
        free_headers(r->hdrs);
        r->hdrs = NULL;
        curl_easy_cleanup(e);
        r->easy = NULL;
        prapi_finish(r, CPGO_CLASS_CANCELED, "the HTTP client is closing");
        return;
    }
    c->active = r;
    r->sent_mutation = mutation;
    r->res.attempts++;
    c->st.requests++;
    if (mutation && c->mut_ring) {
        c->mut_ring[c->mut_pos] = prapi_now_ms();
        c->mut_pos = (c->mut_pos + 1) % c->pace.max_mutations_per_hour;
        if (c->mut_n < c->pace.max_mutations_per_hour) c->mut_n++;
    }
    if (cpgo_log_enabled(CPGO_LVL_DEBUG)) {
        char masked[512];
        cpgo_url_mask(r->url, masked, sizeof masked);
        cpgo_log(CPGO_LVL_DEBUG, "pull request API request", "forge", c->d->name, "repository",
                 r->repo, "method", r->method, "url", masked, NULL);
    }
}

/* Zeroes the token and frees what the client owns (any of it may be missing yet). */
static void client_free(struct cpgo_prapi_client *c)
{
    if (c->token) explicit_bzero(c->token, c->token_len);
    free(c->token);
    cpgo_url_secrets_unref(c->secrets);
    free(c->api_url);
    free(c->api_scheme);
    free(c->api_host);
    free(c->api_path);
    free(c->mut_ring);
    free(c);
}

static void close_cb(uv_handle_t *h)
{
    struct cpgo_prapi_client *c = h->data;
    void (*cb)(void *) = c->closed;
    void *arg = c->closed_arg;
    client_free(c);
    if (cb) cb(arg);
}

static void pump_cb(uv_timer_t *h)
{
    struct cpgo_prapi_client *c = h->data;
    if (c->closing || c->stopped) {
        /* fail everything queued; a callback may queue more, which fails here too */
        struct prapi_req *r;
        while ((r = prapi_pop(c))) {
            if (c->closing)
                prapi_finish(r, CPGO_CLASS_CANCELED, "not sent: the %s client is closing",
                             c->d->name);
            else
                prapi_finish(r, CPGO_CLASS_AUTH, "not sent: %s", c->st.stop_reason);
        }
        if (c->closing && !c->active && !uv_is_closing((uv_handle_t *)&c->timer))
            uv_close((uv_handle_t *)&c->timer, close_cb);
        return;
    }
    if (c->active || !prapi_peek(c)) return;
    uint64_t now = prapi_now_ms(), t = prapi_earliest_start(c, prapi_peek(c));
    if (t > now) {
        /* the loop's cached time may lag: re-arm for what remains */
        uv_timer_start(&c->timer, pump_cb, t - now, 0);
        return;
    }
    start(c, prapi_pop(c));
    if (!c->active) pump(c); /* it finished at once: go on with the next */
}

/* Arms the timer for the head of the queue (0 ms when it may start now). */
static void pump(struct cpgo_prapi_client *c)
{
    if (uv_is_closing((uv_handle_t *)&c->timer)) return;
    if (c->closing || c->stopped) {
        if (prapi_peek(c) || (c->closing && !c->active)) uv_timer_start(&c->timer, pump_cb, 0, 0);
        return;
    }
    if (c->active || !prapi_peek(c)) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = prapi_now_ms(), t = prapi_earliest_start(c, prapi_peek(c));
    uv_timer_start(&c->timer, pump_cb, t > now ? t - now : 0, 0);
}

/* Seconds to wait, capped at a day: the value is multiplied into milliseconds, and a huge
 * one must wait long (max_pause_ms caps it again), not wrap into "retry now". */
#define RETRY_AFTER_MAX_S 86400

static int64_t parse_retry_after(const char *v, int64_t date)
{
    if (!v) return -1;
    int64_t s = parse_int_header(v);
    if (s >= 0) return s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s;
    time_t t = curl_getdate(v, NULL); /* the HTTP-date form */
    if (t <= 0) return -1;
    int64_t now = date > 0 ? date : (int64_t)time(NULL);
    int64_t left = t > now ? (int64_t)t - now : 0;
    return left > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : left;
}

static void easy_done(void *easy, int curlcode, void *arg)
{
    struct prapi_req *r = arg;
    struct cpgo_prapi_client *c = r->c;
    CURL *e = easy;
    c->active = NULL;
    if (r->sent_mutation) {
        c->last_mutation_ms = prapi_now_ms();
        c->have_mutation = 1;
    }
    /* copy out what is needed, then let go of curl before any callback runs */
    struct prapi_resp rs;
    memset(&rs, 0, sizeof rs);
    rs.curlcode = curlcode;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &rs.status);
    /* GitHub's x-ratelimit-*, GitLab's RateLimit-* (both: remaining, reset epoch s) */
    const char *hrem = header(e, "x-ratelimit-remaining"), *hrst = header(e, "x-ratelimit-reset");
    rs.remaining = parse_int_header(hrem ? hrem : header(e, "ratelimit-remaining"));
    rs.reset = parse_int_header(hrst ? hrst : header(e, "ratelimit-reset"));
    const char *d = header(e, "date");
    time_t dt = d ? curl_getdate(d, NULL) : -1;
    rs.date = dt > 0 ? (int64_t)dt : -1;
    rs.retry_after_s = parse_retry_after(header(e, "retry-after"), rs.date);
    const char *link = header(e, "link");
    if (link) rs.link = prapi_xstrdup(link);
    char *loc = NULL;
    if (curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
        rs.location = prapi_xstrdup(loc);
    rs.over_limit = r->over_limit;
    memcpy(rs.curl_err, r->errbuf, sizeof rs.curl_err);
    rs.curl_err[sizeof rs.curl_err - 1] = 0;
    curl_easy_cleanup(e);
    r->easy = NULL;
    free_headers(r->hdrs);
    r->hdrs = NULL;
    rs.body = cpgo_buf_steal(&r->body, &rs.len);
    if (cpgo_log_enabled(CPGO_LVL_DEBUG)) {
        char sts[24], rem[24];
        snprintf(sts, sizeof sts, "%ld", rs.status);
        snprintf(rem, sizeof rem, "%lld", (long long)rs.remaining);
        cpgo_log(CPGO_LVL_DEBUG, "pull request API response", "forge", c->d->name, "repository",
                 r->repo, CPGO_LOG_INT("status"), sts, CPGO_LOG_INT("ratelimit_remaining"), rem,
                 NULL);
    }
    prapi_handle(r, &rs);
    free(rs.body);
    free(rs.link);
    free(rs.location);
    pump(c);
}

/* The dialects, by enum cpgo_prapi_forge. */
const struct prapi_dialect *const prapi_dialects[PRAPI_NFORGES] = {
    [CPGO_PRAPI_GITHUB] = &prapi_github,
    [CPGO_PRAPI_GITLAB] = &prapi_gitlab,
    [CPGO_PRAPI_GITEA] = &prapi_gitea,
};

/* ---- public -------------------------------------------------------------------------------- */

static int token_ok(const char *tok)
{
    for (const char *p = tok; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 127) return 0;
    return 1;
}

int cpgo_prapi_client_set_token(struct cpgo_prapi_client *c, const char *token)
{
    if (!token || !*token || !token_ok(token)) return CPGO_E_USAGE;
    size_t n = strlen(token);
    char *t = malloc(n + 1);
    struct cpgo_url_secrets *sec = cpgo_url_secrets_new();
    if (!t || !sec || cpgo_url_secrets_add(sec, token)) {
        free(t);
        cpgo_url_secrets_unref(sec);
        return CPGO_E_NOMEM;
    }
    memcpy(t, token, n + 1);
    /* the old token's forms stay scrubbed too: a late echo of it is still a secret */
    if (c->token && cpgo_url_secrets_add(sec, c->token)) {
        explicit_bzero(t, n);
        free(t);
        cpgo_url_secrets_unref(sec);
        return CPGO_E_NOMEM;
    }
    if (c->token) explicit_bzero(c->token, c->token_len);
    free(c->token);
    cpgo_url_secrets_unref(c->secrets);
    c->token = t;
    c->token_len = n;
    c->secrets = sec;
    if (c->stopped) {
        c->stopped = c->st.stopped = 0;
        c->st.stop_reason[0] = 0;
    }
    pump(c);
    return 0;
}

int cpgo_prapi_client_new(uv_loop_t *loop, struct cpgo_scraper *scraper,
                          const struct cpgo_prapi_opts *opts, struct cpgo_prapi_client **out,
                          struct cpgo_err *err)
{
    *out = NULL;
    const struct prapi_dialect *d =
        (unsigned)opts->forge < PRAPI_NFORGES ? prapi_dialects[opts->forge] : NULL;
    if (!d)
        return cpgo_err_set(err, CPGO_E_USAGE, "%s: not a forge this cpgo speaks to",
                            cpgo_prapi_forge_name(opts->forge));
    const char *api = opts->api_url;
    if (!api && opts->forge == CPGO_PRAPI_GITLAB) api = CPGO_PRAPI_GITLAB_API_URL;
    if (!api && opts->forge == CPGO_PRAPI_GITHUB) api = CPGO_PRAPI_DEFAULT_API_URL;
    if (!api) return cpgo_err_set(err, CPGO_E_USAGE, "%s: no api_url", d->tag);
    const char *tok = opts->token;
    if (!tok || !*tok) return cpgo_err_set(err, CPGO_E_USAGE, "%s: no token", d->tag);
    if (!token_ok(tok))
        return cpgo_err_set(err, CPGO_E_USAGE,
                            "%s: the token contains a control character (a newline?)", d->tag);
    struct cpgo_prapi_client *c = calloc(1, sizeof *c);
    if (!c) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    c->d = d;
    c->loop = loop;
    c->scraper = scraper;
    c->st.rate_remaining = c->st.rate_reset = -1;
    if (opts->limits)
        c->lim = *opts->limits;
    else
        cpgo_prapi_limits_default(&c->lim);
    if (opts->pacing)
        c->pace = *opts->pacing;
    else
        cpgo_prapi_pacing_default(&c->pace);
    if (!c->lim.per_page || c->lim.per_page > 100) c->lim.per_page = 100;
    if (!c->lim.max_pages) c->lim.max_pages = 1;
    if (!c->lim.max_json_bytes) c->lim.max_json_bytes = 4u << 20;
    c->token_len = strlen(tok);
    c->token = malloc(c->token_len + 1);
    size_t al = strlen(api);
    while (al && api[al - 1] == '/')
        al--;
    c->api_url = malloc(al + 1);
    if (!c->token || !c->api_url) goto nomem;
    memcpy(c->token, tok, c->token_len + 1);
    memcpy(c->api_url, api, al);
    c->api_url[al] = 0;
    if (!(c->secrets = cpgo_url_secrets_new()) || cpgo_url_secrets_add(c->secrets, tok)) goto nomem;
    struct cpgo_url u;
    const char *why;
    if (cpgo_url_parse(c->api_url, &u, &why) || u.user || u.password || u.query ||
        (strcasecmp(u.scheme, "https") &&
         !(strcasecmp(u.scheme, "http") == 0 && is_loopback(u.host)))) {
        cpgo_url_free(&u); /* cpgo_url_parse leaves it empty when it fails */
        char masked[256];
        cpgo_url_mask(c->api_url, masked, sizeof masked);
        prapi_scrub(c, masked);
        cpgo_err_set(
            err, CPGO_E_USAGE, "%s: api_url %s is not an https URL without credentials (like %s)",
            d->tag, masked,
            d->forge == CPGO_PRAPI_GITLAB  ? "https://gitlab.com/api/v4"
            : d->forge == CPGO_PRAPI_GITEA ? "https://HOST/api/v1"
                                           : "https://api.github.com or https://HOST/api/v3");
        client_free(c);
        return CPGO_E_USAGE;
    }
    c->api_scheme = prapi_xstrdup(u.scheme);
    c->api_host = prapi_xstrdup(u.host);
    c->api_port = u.port;
    /* "/" for api.github.com, "/api/v3" for Enterprise: stored without the trailing '/' */
    size_t pl = strlen(u.path);
    while (pl && u.path[pl - 1] == '/')
        pl--;
    c->api_path = malloc(pl + 1);
    if (c->api_path) {
        memcpy(c->api_path, u.path, pl);
        c->api_path[pl] = 0;
    }
    cpgo_url_free(&u);
    if (!c->api_scheme || !c->api_host || !c->api_path) goto nomem;
    if (c->pace.max_mutations_per_hour) {
        c->mut_ring = calloc(c->pace.max_mutations_per_hour, sizeof *c->mut_ring);
        if (!c->mut_ring) goto nomem;
    }
    c->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15ull;
    if (!c->rng) c->rng = 1;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    *out = c;
    return 0;
nomem:
    client_free(c);
    return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
}

void cpgo_prapi_client_close(struct cpgo_prapi_client *c, void (*closed)(void *arg), void *arg)
{
    if (!c || c->closing) return;
    c->closing = 1;
    c->closed = closed;
    c->closed_arg = arg;
    if (c->active) c->active->abort = 1; /* curl's progress callback ends it */
    uv_timer_start(&c->timer, pump_cb, 0, 0);
}

void cpgo_prapi_client_status(const struct cpgo_prapi_client *c, struct cpgo_prapi_status *st)
{
    *st = c->st;
    st->queued = c->waiting.len + (c->active ? 1 : 0);
    uint64_t now = prapi_now_ms();
    st->paused_ms = c->not_before_ms > now ? c->not_before_ms - now : 0;
}

int prapi_submit(struct cpgo_prapi_client *c, struct prapi_req *r)
{
    if (!r->url) {
        prapi_free_req(r);
        return CPGO_E_NOMEM;
    }
    prapi_push_back(c, r);
    pump(c);
    return 0;
}
