/*
 * prapi_pace.c - GitHub's rules, which cpgo applies to every forge, applied to each response
 * (prapi.h lists them): when the next request may start (the queue's pause, the gap after a
 * mutation, the hourly budget), and what a response means -- finish the operation, retry it after a
 * backoff or a rate limit (primary, retry-after, secondary), stop the client on 401, follow a
 * redirect or a Link rel="next" page only within the API, and never send a POST twice blindly (a
 * lookup first). Thread: the loop, called from the client's transfer callback (prapi.c).
 */
#define _GNU_SOURCE /* strcasestr */
#include "publish/prapi_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/log.h"

static uint64_t rnd(struct cpgo_prapi_client *c)
{
    /* xorshift64: jitter only, no need for quality */
    uint64_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return c->rng = x;
}

/* The token may go only to the API itself: same scheme, host and port, under its path. */
static int same_api(const struct cpgo_prapi_client *c, const char *url)
{
    struct cpgo_url u;
    const char *why;
    if (cpgo_url_parse(url, &u, &why)) return 0;
    size_t pl = strlen(c->api_path);
    int ok = !u.user && !u.password && !strcasecmp(u.scheme, c->api_scheme) &&
             !strcasecmp(u.host, c->api_host) && u.port == c->api_port &&
             !strncmp(u.path, c->api_path, pl) && (u.path[pl] == '/' || u.path[pl] == 0);
    cpgo_url_free(&u);
    return ok;
}

/* When the head of the queue may start (monotonic ms). */
uint64_t prapi_earliest_start(const struct cpgo_prapi_client *c, const struct prapi_req *r)
{
    uint64_t t = c->not_before_ms;
    if (strcmp(r->method, "GET")) {
        if (c->have_mutation && c->last_mutation_ms + c->pace.min_mutation_gap_ms > t)
            t = c->last_mutation_ms + c->pace.min_mutation_gap_ms;
        if (c->mut_ring && c->mut_n == c->pace.max_mutations_per_hour) {
            uint64_t oldest = c->mut_ring[c->mut_pos] + 3600u * 1000u;
            if (oldest > t) t = oldest;
        }
    }
    return t;
}

static void pause_queue(struct cpgo_prapi_client *c, uint64_t wait_ms)
{
    if (wait_ms > c->pace.max_pause_ms) wait_ms = c->pace.max_pause_ms;
    uint64_t until = prapi_now_ms() + wait_ms;
    if (until > c->not_before_ms) c->not_before_ms = until;
}

/* ---- judging a response ------------------------------------------------------------------ */

static uint64_t backoff_ms(struct cpgo_prapi_client *c, unsigned attempt)
{
    uint64_t d = c->pace.backoff_base_ms;
    for (unsigned i = 0; i < attempt && d < c->pace.backoff_max_ms; i++)
        d *= 2;
    if (d > c->pace.backoff_max_ms) d = c->pace.backoff_max_ms;
    /* "equal jitter": half fixed, half random, so retries of many clients spread out */
    return d / 2 + (d ? rnd(c) % (d / 2 + 1) : 0);
}

/* Requeues r at the head after `wait_ms` (the queue waits with it: one request at a time),
 * or gives up when its retries are spent. */
static void retry(struct prapi_req *r, uint64_t wait_ms, enum cpgo_class cls, const char *why)
{
    struct cpgo_prapi_client *c = r->c;
    if (r->retries >= c->pace.max_retries) {
        prapi_finish(r, cls, "%s (gave up after %u retries)", why, r->retries);
        return;
    }
    r->retries++;
    c->st.retries++;
    pause_queue(c, wait_ms);
    prapi_push_front(c, r);
}

/* Seconds until x-ratelimit-reset, by the response's own clock when it sent one. */
static uint64_t reset_wait_ms(const struct cpgo_prapi_client *c, const struct prapi_resp *rs)
{
    int64_t now = rs->date > 0 ? rs->date : (int64_t)time(NULL);
    int64_t s = rs->reset - now;
    if (s < 0) s = 0;
    return (uint64_t)s * 1000u + c->pace.reset_margin_ms;
}

/* Points r's next request at `url` (copied): 0, or -1 once r is finished (out of memory). */
static int retarget(struct prapi_req *r, const char *url)
{
    char *u = prapi_xstrdup(url);
    if (!u) {
        prapi_finish(r, CPGO_CLASS_INTERNAL_RETRY, "out of memory");
        return -1;
    }
    free(r->url);
    r->url = u;
    return 0;
}

static void stop_client(struct cpgo_prapi_client *c, const char *msg)
{
    c->stopped = 1;
    c->st.stopped = 1;
    size_t o = 0;
    char m[96];
    m[0] = 0;
    prapi_append_clean(m, sizeof m, &o, msg, strlen(msg));
    prapi_scrub(c, m);
    snprintf(c->st.stop_reason, sizeof c->st.stop_reason,
             "%s answered 401 (%.40s) at %.40s: all %s requests stopped; fix the token", c->d->name,
             m, c->api_host, c->d->name);
    cpgo_log(CPGO_LVL_ERROR, "forge authentication failed: all its requests stopped", "forge",
             c->d->name, "api", c->api_url, "reason", m, NULL);
}

/* The lookup after an ambiguous POST found what it made: that is the result, and the
 * operation goes on with its steps. */
static void recovered(struct prapi_req *r)
{
    r->res.recovered = 1;
    r->in_lookup = 0;
    prapi_advance(r);
}

/* The lookup after an ambiguous POST found nothing: the POST may be sent again. */
static void post_again(struct prapi_req *r)
{
    r->in_lookup = 0;
    r->method = "POST";
    r->expect = PRAPI_X_PR;
    if (retarget(r, r->create_url)) return;
    r->pages = r->redirects = 0;
    prapi_push_front(r->c, r);
}

static void handle_list(struct prapi_req *r, struct prapi_resp *rs)
{
    struct cpgo_prapi_client *c = r->c;
    struct cpgo_prapi_pr *prs;
    size_t n;
    char err[200];
    if (c->d->parse_list((const char *)rs->body, rs->len, PRAPI_MAX_LIST_ITEMS, &prs, &n, err,
                         sizeof err)) {
        prapi_finish(r, CPGO_CLASS_BAD_RESPONSE, "HTTP %ld: %s", rs->status, err);
        return;
    }
    int open_found = 0;
    for (size_t i = 0; i < n; i++) {
        struct cpgo_prapi_pr *p = &prs[i];
        /* a list the forge did not filter (Gitea) holds other branches' pull requests */
        int other = (r->want_head && strcmp(p->head_ref, r->want_head)) ||
                    (r->want_base && p->base_ref[0] && strcmp(p->base_ref, r->want_base));
        if (open_found || other) {
            cpgo_prapi_pr_free(p);
            continue;
        }
        if (!r->in_lookup) r->res.nseen++;
        int take = p->open || !r->res.found || p->number > r->res.pr.number;
        if (r->in_lookup && !p->open) take = 0; /* a lookup after a POST wants open ones */
        if (take) {
            cpgo_prapi_pr_free(&r->res.pr);
            r->res.pr = *p;
            r->res.found = 1;
            open_found = p->open;
        } else {
            cpgo_prapi_pr_free(p);
        }
    }
    free(prs);
    if (r->in_lookup) {
        if (r->res.found) {
            recovered(r);
            return;
        }
        post_again(r);
        return;
    }
    if (open_found) {
        prapi_advance(r);
        return;
    }
    char next[2048];
    int ln = rs->link ? cpgo_prapi_link_next(rs->link, next, sizeof next) : 0;
    if (ln < 0) {
        prapi_finish(r, CPGO_CLASS_BAD_RESPONSE, "malformed Link header");
        return;
    }
    if (ln == 1) {
        if (!same_api(c, next)) {
            prapi_finish(r, CPGO_CLASS_BAD_RESPONSE, "Link rel=\"next\" leaves the API (%s://%s)",
                         c->api_scheme, c->api_host);
            return;
        }
        if (r->pages + 1 < c->lim.max_pages) {
            if (retarget(r, next)) return;
            r->pages++;
            r->redirects = 0;
            prapi_push_front(c, r);
            return;
        }
        r->res.truncated = 1;
    }
    prapi_advance(r);
}

static void handle_2xx(struct prapi_req *r, struct prapi_resp *rs)
{
    struct cpgo_prapi_client *c = r->c;
    c->secondary_streak = 0;
    if (r->on_2xx) {
        r->on_2xx(r, rs);
        return;
    }
    enum prapi_expect x = r->in_lookup ? r->lookup_expect : r->expect;
    if (x == PRAPI_X_LIST) {
        handle_list(r, rs);
        return;
    }
    char err[200];
    if (x == PRAPI_X_OTHER) {
        enum cpgo_class cls =
            c->d->step_done ? c->d->step_done(r, rs, err, sizeof err) : CPGO_CLASS_OK;
        if (cls != CPGO_CLASS_OK) {
            prapi_finish(r, cls, "HTTP %ld: %s", rs->status, err);
            return;
        }
        prapi_advance(r);
        return;
    }
    struct cpgo_prapi_pr pr;
    if (c->d->parse_pr((const char *)rs->body, rs->len, &pr, err, sizeof err)) {
        prapi_finish(r, CPGO_CLASS_BAD_RESPONSE, "HTTP %ld: %s", rs->status, err);
        return;
    }
    if (r->in_lookup) {
        /* one pull request for the head (Gitea): only an open one is what the POST made */
        if (!pr.open) {
            cpgo_prapi_pr_free(&pr);
            post_again(r);
            return;
        }
        cpgo_prapi_pr_free(&r->res.pr);
        r->res.pr = pr;
        r->res.found = 1;
        recovered(r);
        return;
    }
    cpgo_prapi_pr_free(&r->res.pr);
    r->res.pr = pr;
    r->res.found = 1;
    prapi_advance(r);
}

/* A failure after which the request may or may not have taken effect. */
static void handle_ambiguous(struct prapi_req *r, struct prapi_resp *rs, enum cpgo_class cls,
                             const char *why)
{
    struct cpgo_prapi_client *c = r->c;
    uint64_t wait = backoff_ms(c, r->retries);
    if (rs->retry_after_s >= 0) { /* a 503 may say when to come back */
        uint64_t ra = (uint64_t)rs->retry_after_s * 1000u + c->pace.reset_margin_ms;
        if (ra > wait) wait = ra;
    }
    if (r->res.op == CPGO_PRAPI_OP_CREATE && !r->in_lookup && !r->optional) {
        /* never POST twice blindly: first look for what the first POST may have made. An
         * optional step after the creation (labels, reviewers, auto-merge) is retried as it
         * is: each is idempotent, and a lookup would skip it and flag `recovered`. */
        if (r->retries >= c->pace.max_retries) {
            prapi_finish(r, cls, "%s (gave up after %u retries)", why, r->retries);
            return;
        }
        if (retarget(r, r->lookup_url)) return;
        r->in_lookup = 1;
        r->expect = r->lookup_expect;
        r->method = "GET";
        r->pages = r->redirects = 0;
    }
    cpgo_log(CPGO_LVL_INFO, "pull request API request failed, retrying", "forge", c->d->name,
             "repository", r->repo, "error", why, NULL);
    retry(r, wait, cls, why);
}

void prapi_handle(struct prapi_req *r, struct prapi_resp *rs)
{
    struct cpgo_prapi_client *c = r->c;
    char why[256];
    r->res.http_status = rs->status;
    r->res.server_date = rs->date; /* a caller signing by GitHub's clock (ghapp.c) reads it */
    if (rs->remaining >= 0) c->st.rate_remaining = rs->remaining;
    if (rs->reset >= 0) c->st.rate_reset = rs->reset;
    /* out of requests for this hour: nothing more until the window resets */
    if (rs->remaining == 0 && rs->reset > 0) pause_queue(c, reset_wait_ms(c, rs));

    /* a response that completed while closing is still judged (a POST may have created
     * the pull request); whatever would be sent next is canceled by the pump */
    if (rs->curlcode == CURLE_ABORTED_BY_CALLBACK) {
        prapi_finish(r, CPGO_CLASS_CANCELED, "canceled: the %s client or the HTTP client closed",
                     c->d->name);
        return;
    }
    if (rs->curlcode != CURLE_OK) {
        const char *detail = rs->curl_err[0] ? rs->curl_err : curl_easy_strerror(rs->curlcode);
        cpgo_url_scrub(c->secrets, detail, strlen(detail), why, 201);
        switch (rs->curlcode) {
        case CURLE_WRITE_ERROR:
        case CURLE_FILESIZE_EXCEEDED:
            if (rs->over_limit || rs->curlcode == CURLE_FILESIZE_EXCEEDED)
                prapi_finish(r, CPGO_CLASS_BAD_RESPONSE,
                             "response larger than the limit of %zu bytes", c->lim.max_json_bytes);
            else
                prapi_finish(r, CPGO_CLASS_INTERNAL_RETRY, "out of memory reading the response");
            return;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
            prapi_finish(r, CPGO_CLASS_CONFIG, "%s", why);
            return;
        case CURLE_OUT_OF_MEMORY:
            prapi_finish(r, CPGO_CLASS_INTERNAL_RETRY, "%s", why);
            return;
        default:
            handle_ambiguous(r, rs, CPGO_CLASS_TRANSIENT, why);
            return;
        }
    }

    long st = rs->status;
    if (st >= 200 && st < 300) {
        handle_2xx(r, rs);
        return;
    }
    char msg[160];
    cpgo_prapi_parse_message((const char *)rs->body, rs->len, c->secrets, msg, sizeof msg);
    snprintf(why, sizeof why, "HTTP %ld%s%s", st, msg[0] ? ": " : "", msg);

    if (st == 301 || st == 302 || st == 307 || st == 308) {
        if (!rs->location) {
            prapi_finish(r, CPGO_CLASS_HTTP, "HTTP %ld without a Location", st);
            return;
        }
        if (r->redirects >= PRAPI_MAX_REDIRECTS) {
            prapi_finish(r, CPGO_CLASS_REDIRECT, "more than %d redirects", PRAPI_MAX_REDIRECTS);
            return;
        }
        if (!same_api(c, rs->location)) {
            char whole[4096], masked[160]; /* masked and scrubbed whole, then cut */
            cpgo_url_mask(rs->location, whole, sizeof whole);
            cpgo_url_scrub(c->secrets, whole, strlen(whole), masked, sizeof masked);
            prapi_finish(
                r, CPGO_CLASS_REDIRECT,
                "HTTP %ld redirect to %s refused: it leaves %s://%s (the token goes to the "
                "API only)",
                st, masked, c->api_scheme, c->api_host);
            return;
        }
        if (retarget(r, rs->location)) return;
        r->redirects++;
        prapi_push_front(c, r);
        return;
    }
    if (st == 401) {
        stop_client(c, msg[0] ? msg : "Bad credentials");
        prapi_finish(r, CPGO_CLASS_AUTH, "%s: all %s requests stopped; fix the token", why,
                     c->d->name);
        return;
    }
    int limited = st == 429 || rs->retry_after_s >= 0 || (st == 403 && rs->remaining == 0) ||
                  (st == 403 && strcasestr(msg, "rate limit"));
    if ((st == 403 || st == 429) && limited) {
        c->st.rate_limited++;
        uint64_t wait;
        const char *kind;
        if (rs->retry_after_s >= 0) {
            wait = (uint64_t)rs->retry_after_s * 1000u + c->pace.reset_margin_ms;
            kind = "retry-after";
        } else if (rs->remaining == 0 && rs->reset > 0) {
            wait = reset_wait_ms(c, rs);
            kind = "primary";
        } else {
            /* a secondary limit without headers: at least the documented minute, then
             * doubling, with jitter on top */
            wait = c->pace.secondary_wait_ms;
            for (unsigned i = 0; i < c->secondary_streak && wait < c->pace.max_pause_ms; i++)
                wait *= 2;
            wait += rnd(c) % (c->pace.secondary_wait_ms / 4 + 1);
            c->secondary_streak++;
            kind = "secondary";
        }
        if (wait > c->pace.max_pause_ms) wait = c->pace.max_pause_ms;
        char ws[32];
        snprintf(ws, sizeof ws, "%llu", (unsigned long long)wait);
        cpgo_log(CPGO_LVL_WARN, "rate limited: pausing the forge's requests", "forge", c->d->name,
                 "repository", r->repo, "kind", kind, CPGO_LOG_INT("wait_ms"), ws, NULL);
        retry(r, wait, CPGO_CLASS_RATE_LIMITED, why);
        return;
    }
    if (r->in_lookup && st == 404 && r->lookup_expect == PRAPI_X_PR) {
        post_again(r); /* no pull request for the head: the POST made none */
        return;
    }
    if (st >= 500) {
        handle_ambiguous(r, rs, CPGO_CLASS_TRANSIENT, why);
        return;
    }
    enum cpgo_class cls = CPGO_CLASS_HTTP;
    if (c->d->judge(r, st, msg, &cls)) {
        prapi_push_front(c, r); /* the dialect asks another way (r points at it) */
        return;
    }
    if (cls == CPGO_CLASS_NOT_FOUND && !r->optional) {
        prapi_finish(r, cls, "%s (no such repository or pull request, or the token cannot see it)",
                     why);
        return;
    }
    prapi_finish(r, cls, "%s", why);
}
