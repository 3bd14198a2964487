/*
 * scrape.c - see scrape.h. The curl-multi-on-libuv pattern of curl's multi-uv example,
 * with the fixes a daemon needs (docs/ARCHITECTURE.md, "Scraping"):
 *   - poll errors are forwarded as CURL_CSELECT_ERR, so a reset connection fails at once
 *     instead of waiting for its timeout;
 *   - completions are drained after every socket action and every timer action, so the
 *     last transfer to finish by timeout is reaped;
 *   - a socket's poll handle is stopped before it is closed, so curl may hand us the same
 *     fd number again at once (no UV_EEXIST);
 *   - curl is never called from its own callbacks: timer requests only (re)arm a uv timer,
 *     and done callbacks run after curl has returned, from a list collected first;
 *   - shutdown removes the easy handles, calls curl_multi_cleanup (which may still call the
 *     socket callback), then closes the timer; the scraper is freed in the last close
 *     callback.
 *
 * The in-flight budget (scrape.h) is charged in the write callback, the only place a body
 * buffer grows, and refunded wherever a buffer leaves a scrape (freed, dropped, or handed
 * to the done callback), so `inflight` is exactly the sum of the capacities of the buffers
 * scrapes own. Why drop the largest body rather than pause the one that needs room: a
 * paused transfer keeps its buffer and its connection, so paused bodies could hold the
 * whole budget until their timeouts while every new body waits behind them; dropping the
 * largest frees room at once, costs the body most likely to be hostile (a Go profile is a
 * few hundred KB, arriving in one burst), and lets no scrape wait past its own timeout.
 * A dropped body's buffer is freed inside another transfer's write callback: it is ours
 * (curl only ever hands data to the callback), and its transfer fails at its next
 * callback, or ends by its own timeout or completion, always reported as inflight_limit.
 */
#define _GNU_SOURCE /* memmem */
#include "scrape/scrape.h"

#include <arpa/inet.h>
#include <assert.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/list.h"

/* Initial body buffer without a Content-Length, and the most a Content-Length reserves at
 * the first byte (a liar announcing 60 MB then trickling must not hold 60 MB of budget). */
#define BODY_FIRST (64 * 1024)
#define BODY_FIRST_MAX (1024 * 1024)

struct cpgo_scraper {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    int closing;
    size_t open_handles; /* uv handles not yet closed: the timer and poll contexts */
    void (*closed)(void *);
    void *closed_arg;
    struct cpgo_list flying; /* of cpgo_scrape, by link: the scrapes in flight */
    struct cpgo_list paused; /* of cpgo_scrape, by pause_link: waiting for budget, FIFO */
    size_t inflight, inflight_peak, inflight_budget; /* body bytes held, see scrape.h */
    size_t big; /* bodies in flight grown past BODY_FIRST_MAX: no scrape pauses meanwhile */
    const char *user_agent; /* borrowed: a literal or the caller's, outlives the scraper */
};

struct cpgo_scrape {
    struct cpgo_scraper *s;
    struct cpgo_list_node link;       /* in s->flying, then in a batch of completions */
    struct cpgo_list_node pause_link; /* in s->paused while paused */
    int paused;
    CURL *easy;
    struct curl_slist *headers;
    struct curl_slist *connect_to; /* the pinned address (CURLOPT_CONNECT_TO), or NULL */
    unsigned char *buf;
    size_t len, cap, max;
    int over_limit;
    int over_budget; /* its body was dropped (or refused) for the in-flight budget */
    int out_of_memory;
    CURLcode result;
    uint64_t started_ns;
    /* a caller's own easy handle (cpgo_scraper_run_easy): not ours to clean up */
    cpgo_easy_done_cb easy_done;
    cpgo_scrape_done_cb done;
    void *arg;
    struct cpgo_url_secrets *secrets; /* a reference, dropped with the scrape */
    char refused[192]; /* options that cannot be used: failed as config, never sent */
    char errbuf[CURL_ERROR_SIZE];
};

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct cpgo_scraper *s;
};

static void maybe_finish_close(struct cpgo_scraper *s)
{
    if (s->closing && s->open_handles == 0) {
        void (*cb)(void *) = s->closed;
        void *arg = s->closed_arg;
        free(s);
        if (cb) cb(arg);
    }
}

static void handle_closed_cb(uv_handle_t *h)
{
    struct cpgo_scraper *s;
    if (h->type == UV_POLL) {
        struct sock_ctx *c = h->data;
        s = c->s;
        free(c);
    } else {
        s = h->data;
    }
    s->open_handles--;
    maybe_finish_close(s);
}

static void resume_paused(struct cpgo_scraper *s);

/* ---- completions ------------------------------------------------------------------------- */

static void unlink_scrape(struct cpgo_scrape *t)
{
    cpgo_list_remove(&t->s->flying, &t->link);
}

/* The body buffer leaves the scrape (freed or handed over): refund its capacity. */
static void release_body(struct cpgo_scrape *t)
{
    struct cpgo_scraper *s = t->s;
    assert(s->inflight >= t->cap);
    if (t->cap > BODY_FIRST_MAX) {
        assert(s->big > 0);
        s->big--;
    }
    s->inflight -= t->cap;
    t->cap = 0;
    t->buf = NULL;
}

/* Hands a finished body to its done callback: it leaves the budget (the work queue counts
 * `len` from now on, so a buffer much larger than that is shrunk first). */
static unsigned char *give_body(struct cpgo_scrape *t)
{
    unsigned char *b = t->buf;
    if (b && t->cap - t->len > t->len / 8 + 4096) {
        unsigned char *nb = realloc(b, t->len ? t->len : 1);
        if (nb) b = nb;
    }
    release_body(t);
    return b;
}

static void free_scrape(struct cpgo_scrape *t)
{
    if (t->paused) cpgo_list_remove(&t->s->paused, &t->pause_link);
    t->paused = 0;
    free(t->buf);
    release_body(t);
    if (t->easy) {
        curl_multi_remove_handle(t->s->multi, t->easy);
        if (!t->easy_done) curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->headers);
    curl_slist_free_all(t->connect_to);
    cpgo_url_secrets_unref(t->secrets);
    free(t);
}

/* The body's first line for an error message, at most 120 characters: scrubbed of the
 * request's secrets first and cut after, so an echoed credential that straddles the cut
 * leaves nothing behind (the window is bounded; the scrubber masks a secret it cuts). */
static void first_line(const struct cpgo_scrape *t, char *out, size_t cap)
{
    size_t w = 0;
    while (w < t->len && w < 4096 && t->buf[w] != '\n' && t->buf[w] != '\r')
        w++;
    size_t o = cpgo_url_scrub(t->secrets, (const char *)t->buf, w, out, cap < 121 ? cap : 121);
    for (size_t i = 0; i < o; i++)
        if ((unsigned char)out[i] < ' ' || (unsigned char)out[i] >= 127) out[i] = '?';
}

/* A transport failure's class. Some CURLcodes cover causes of different kinds: curl 7.88
 * reports one response header line over its 100 KB cap as "Out of memory" (with no other
 * text), headers over 300 KB in all and broken chunking as receive errors, an HTTP/0.9
 * answer as "unsupported protocol"; those are the server's answer being invalid, not our
 * memory, network or URL. curl allocates nothing else between the status line and the
 * body, so "out of memory" with a status and no body byte is the header case. */
static enum cpgo_class class_of_curlcode(const struct cpgo_scrape *t, CURLcode rc,
                                         const char *detail, long status)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        return CPGO_CLASS_DNS;
    case CURLE_COULDNT_RESOLVE_PROXY: /* the proxy, not the target: a way in that failed */
    case CURLE_COULDNT_CONNECT:
    case CURLE_INTERFACE_FAILED:
    case CURLE_NO_CONNECTION_AVAILABLE:
    case CURLE_PROXY:
        return CPGO_CLASS_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return CPGO_CLASS_TIMEOUT;
    case CURLE_RECV_ERROR:
        if (strstr(detail, "chunked-encoding") || strstr(detail, "header"))
            return CPGO_CLASS_BAD_RESPONSE;
        return strstr(detail, " alert ") ? CPGO_CLASS_TLS : CPGO_CLASS_RESET;
    case CURLE_SEND_ERROR:
        /* A TLS 1.3 server checks the client certificate after the client has finished its
         * handshake, so its refusal ("tlsv13 alert certificate required", "... unknown ca")
         * comes at the first read or write: the options are wrong, not the network. */
        return strstr(detail, " alert ") ? CPGO_CLASS_TLS : CPGO_CLASS_RESET;
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return CPGO_CLASS_RESET;
    case CURLE_PARTIAL_FILE:
        return CPGO_CLASS_PARTIAL;
    case CURLE_FILESIZE_EXCEEDED:
        return CPGO_CLASS_BODY_LIMIT;
    case CURLE_WRITE_ERROR:
        return t->over_limit      ? CPGO_CLASS_BODY_LIMIT
               : t->out_of_memory ? CPGO_CLASS_OOM
                                  : CPGO_CLASS_INTERNAL;
    case CURLE_OUT_OF_MEMORY:
        if (status > 0 && !t->len) return CPGO_CLASS_BAD_RESPONSE;
        return CPGO_CLASS_OOM;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
        return CPGO_CLASS_BAD_RESPONSE;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return CPGO_CLASS_TLS;
    case CURLE_UNSUPPORTED_PROTOCOL:
        if (strstr(detail, "HTTP/0.9")) return CPGO_CLASS_BAD_RESPONSE;
        return CPGO_CLASS_CONFIG;
    case CURLE_URL_MALFORMAT:
        return CPGO_CLASS_CONFIG;
    default:
        return CPGO_CLASS_INTERNAL; /* shown with curl's own message */
    }
}

static void classify(struct cpgo_scrape *t, CURLcode rc, struct cpgo_scrape_result *r)
{
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
    r->len = t->len;
    if (t->refused[0]) {
        r->cls = CPGO_CLASS_CONFIG;
        cpgo_url_scrub(t->secrets, t->refused, strlen(t->refused), r->error, sizeof r->error);
        return;
    }
    if (t->over_budget) {
        /* first: a dropped body may still have "completed" (its last byte had arrived) */
        r->cls = CPGO_CLASS_INFLIGHT_LIMIT;
        snprintf(r->error, sizeof r->error,
                 "dropped at %zu bytes: response bodies in flight reached "
                 "limits.max_inflight_bytes (%zu bytes); the largest ones give way",
                 t->len, t->s->inflight_budget);
        return;
    }
    if (rc == CURLE_OK) {
        long st = r->http_status;
        if (st >= 200 && st < 300) {
            r->cls = CPGO_CLASS_OK;
            return;
        }
        char line[128];
        first_line(t, line, sizeof line);
        if (st == 500 && t->len && memmem(t->buf, t->len, "already in use", 14)) {
            r->cls = CPGO_CLASS_BUSY;
            snprintf(r->error, sizeof r->error, "HTTP 500: %s", line);
        } else if (st >= 500) {
            r->cls = CPGO_CLASS_HTTP_5XX;
            snprintf(r->error, sizeof r->error, "HTTP %ld: %s", st, line);
        } else if (st == 400 && t->len && memmem(t->buf, t->len, "WriteTimeout", 12)) {
            r->cls = CPGO_CLASS_CONFIG;
            snprintf(r->error, sizeof r->error,
                     "HTTP 400: %s (raise the server's WriteTimeout or lower seconds=)", line);
        } else if (st >= 300 && st < 400) {
            r->cls = CPGO_CLASS_HTTP_4XX;
            snprintf(r->error, sizeof r->error,
                     "HTTP %ld redirect refused (scrapes never "
                     "follow redirects)",
                     st);
        } else {
            r->cls = CPGO_CLASS_HTTP_4XX;
            snprintf(r->error, sizeof r->error, "HTTP %ld%s%s%s", st, line[0] ? ": " : "", line,
                     st == 404 ? " (is the path /debug/pprof/profile right?)" : "");
        }
        return;
    }
    const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
    long proxy_status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_HTTP_CONNECTCODE, &proxy_status);
    if (proxy_status && (proxy_status < 200 || proxy_status >= 300)) {
        /* the proxy refused the tunnel (407: its credentials; 403, 502: where it goes) */
        r->cls = CPGO_CLASS_CONNECT;
        char line[160];
        cpgo_url_scrub(t->secrets, detail, strlen(detail), line, sizeof line);
        snprintf(r->error, sizeof r->error, "proxy refused the tunnel with HTTP %ld (%s)",
                 proxy_status, line);
        return;
    }
    r->cls = class_of_curlcode(t, rc, detail, r->http_status);
    if (r->cls == CPGO_CLASS_BODY_LIMIT)
        snprintf(r->error, sizeof r->error, "body larger than the limit of %zu bytes", t->max);
    else if (r->cls == CPGO_CLASS_OOM && rc == CURLE_WRITE_ERROR)
        snprintf(r->error, sizeof r->error, "out of memory growing the body past %zu bytes",
                 t->len);
    else if (r->cls == CPGO_CLASS_BAD_RESPONSE && rc == CURLE_OUT_OF_MEMORY)
        snprintf(r->error, sizeof r->error,
                 "HTTP %ld with a response header line over curl's 100 KB limit (curl says "
                 "\"%.60s\")",
                 r->http_status, detail);
    else
        cpgo_url_scrub(t->secrets, detail, strlen(detail), r->error, sizeof r->error);
}

/* Drains curl's completion messages, then runs the done callbacks (outside curl). */
static void check_multi_info(struct cpgo_scraper *s)
{
    struct cpgo_list done = {0}; /* in completion order */
    CURLMsg *msg;
    int pending;
    while ((msg = curl_multi_info_read(s->multi, &pending))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle; /* copy out before the message is invalidated */
        CURLcode rc = msg->data.result;
        struct cpgo_scrape *t = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
        if (!t) continue;
        unlink_scrape(t);
        t->result = rc;
        cpgo_list_push_tail(&done, &t->link);
    }
    struct cpgo_scrape *t;
    while ((t = CPGO_LIST_DATA(cpgo_list_pop_head(&done), struct cpgo_scrape, link))) {
        if (t->easy_done) {
            cpgo_easy_done_cb cb = t->easy_done;
            void *easy = t->easy, *arg = t->arg;
            CURLcode rc = t->result;
            free_scrape(t); /* removes the handle from the multi, leaves it to the caller */
            cb(easy, (int)rc, arg);
            continue;
        }
        struct cpgo_scrape_result r;
        memset(&r, 0, sizeof r);
        classify(t, t->result, &r);
        r.seconds = (double)(uv_hrtime() - t->started_ns) / 1e9;
        if (r.cls == CPGO_CLASS_OK) {
            r.body = give_body(t);
        }
        cpgo_scrape_done_cb cb = t->done;
        void *arg = t->arg;
        free_scrape(t);
        cb(&r, arg);
        free(r.body); /* NULL unless the callback left it (it takes ownership by zeroing) */
    }
}

/* ---- curl -> us -------------------------------------------------------------------------- */

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct sock_ctx *c = h->data;
    struct cpgo_scraper *s = c->s;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(s->multi, c->fd, flags, &running);
    /* c may be gone now (curl may have removed the socket): do not touch it */
    check_multi_info(s);
    resume_paused(s);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct cpgo_scraper *s = userp;
    struct sock_ctx *c = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            uv_poll_stop(&c->poll);
            curl_multi_assign(s->multi, fd, NULL);
            uv_close((uv_handle_t *)&c->poll, handle_closed_cb);
        }
        return 0;
    }
    if (s->closing) return 0;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return 0; /* the transfer will time out; failing here would abort all */
        c->fd = fd;
        c->s = s;
        int rc = uv_poll_init_socket(s->loop, &c->poll, fd);
        if (rc) {
            free(c);
            return 0;
        }
        c->poll.data = c;
        s->open_handles++;
        curl_multi_assign(s->multi, fd, c);
    }
    int ev = 0;
    if (what & CURL_POLL_IN) ev |= UV_READABLE;
    if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
    uv_poll_start(&c->poll, ev, poll_cb);
    return 0;
}

static void timer_cb(uv_timer_t *h)
{
    struct cpgo_scraper *s = h->data;
    int running;
    curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(s);
    resume_paused(s);
}

static int timerfunc_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct cpgo_scraper *s = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&s->timer);
    else if (!s->closing)
        uv_timer_start(&s->timer, timer_cb, timeout_ms ? (uint64_t)timeout_ms : 1, 0);
    return 0;
}

/* Drops the largest body in flight other than `asker` if it is larger than `asker` would
 * become with `want`, to make room; 1 when one was dropped. */
static int drop_largest(struct cpgo_scrape *asker, size_t want)
{
    struct cpgo_scrape *big = NULL;
    for (struct cpgo_list_node *n = cpgo_list_head(&asker->s->flying); n; n = n->next) {
        struct cpgo_scrape *t = CPGO_LIST_DATA(n, struct cpgo_scrape, link);
        if (t != asker && t->cap && (!big || t->cap > big->cap)) big = t;
    }
    if (!big || big->cap <= want) return 0;
    free(big->buf);
    release_body(big);
    big->over_budget = 1; /* its next write callback fails the transfer */
    return 1;
}

/* Charges `extra` bytes to the budget, dropping larger bodies for room; 0 when it fits. */
static int charge(struct cpgo_scrape *t, size_t extra, size_t want)
{
    struct cpgo_scraper *s = t->s;
    while (s->inflight > s->inflight_budget || extra > s->inflight_budget - s->inflight)
        if (!drop_largest(t, want)) return -1;
    s->inflight += extra;
    if (s->inflight > s->inflight_peak) s->inflight_peak = s->inflight;
    return 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct cpgo_scrape *t = userp;
    size_t n = size * nmemb;
    if (t->over_budget) return 0; /* dropped: CURLE_WRITE_ERROR, reported as inflight_limit */
    if (n > t->max - t->len) {
        t->over_limit = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (t->len + n > t->cap) {
        size_t need = t->len + n, cap = t->cap;
        /* Content-Length (Go sends one), when the body has not passed it yet: the buffer
         * grows up to it, so a body costs its own size, not the next power of two */
        curl_off_t cl = -1;
        curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        size_t declared = cl > 0 && (uint64_t)cl <= t->max && (size_t)cl >= need ? (size_t)cl : 0;
        if (!cap)
            cap = declared ? (declared < BODY_FIRST_MAX ? declared : BODY_FIRST_MAX) : BODY_FIRST;
        while (cap < need)
            cap = cap > t->max / 2 ? t->max : cap * 2;
        if (declared && cap > declared) cap = declared;
        if (cap > t->max) cap = t->max;
        /* The new buffer is charged whole before the old one is refunded: realloc may hold
         * both while it copies. When the doubled buffer does not fit, exactly what arrived
         * may. */
        size_t old = t->cap;
        if (charge(t, cap, cap)) {
            if (!t->cap && declared && declared <= BODY_FIRST_MAX && !t->s->big && t->s->inflight &&
                cap <= t->s->inflight_budget) {
                /* its first bytes, with a Content-Length (Go sends one), and it holds
                 * nothing: it waits for room instead of failing or pushing out others (a
                 * fleet answering at once, every body the same size, would otherwise fail
                 * all beyond the budget). Nothing it waits for can wait for it: a body
                 * being received grows without pausing. A body without a length (chunked,
                 * possibly endless), one longer than its first allocation, and any while a
                 * body has grown past BODY_FIRST_MAX (a hostile one may hold the room for
                 * its whole timeout) keep the rule below: the largest gives way. curl keeps
                 * these bytes and hands them again on resume_paused. */
                t->paused = 1;
                cpgo_list_push_tail(&t->s->paused, &t->pause_link);
                return CURL_WRITEFUNC_PAUSE;
            }
            cap = need;
            if (charge(t, cap, cap)) {
                t->over_budget = 1;
                return 0;
            }
        }
        unsigned char *b = realloc(t->buf, cap);
        if (!b) {
            t->s->inflight -= cap;
            t->out_of_memory = 1;
            return 0;
        }
        t->s->inflight -= old;
        if (old <= BODY_FIRST_MAX && cap > BODY_FIRST_MAX) t->s->big++;
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, data, n);
    t->len += n;
    return n;
}

/* Scrapes paused at their first bytes for want of budget (write_cb) go on, oldest first,
 * while the budget has room for what each announced (Content-Length, at most
 * BODY_FIRST_MAX). Called after curl returns, never from its callbacks; a resumed scrape
 * may pause again (it goes to the back), so each is tried at most once per call. */
static void resume_paused(struct cpgo_scraper *s)
{
    size_t n = s->paused.len;
    while (n-- && !s->closing) {
        struct cpgo_scrape *t =
            CPGO_LIST_DATA(cpgo_list_head(&s->paused), struct cpgo_scrape, pause_link);
        if (!t) break;
        curl_off_t cl = -1;
        curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        size_t want = cl <= 0                         ? BODY_FIRST
                      : (uint64_t)cl < BODY_FIRST_MAX ? (size_t)cl
                                                      : BODY_FIRST_MAX;
        if (s->inflight > s->inflight_budget || want > s->inflight_budget - s->inflight) break;
        cpgo_list_remove(&s->paused, &t->pause_link);
        t->paused = 0;
        curl_easy_pause(t->easy, CURLPAUSE_CONT); /* may call write_cb: it may pause again */
    }
}

/* ---- scrape options (scrape.h) ---------------------------------------------------------- */

/* Fails the scrape with class config before it reaches the network: curl is given no URL,
 * so it ends the transfer at its first step and the failure comes back through `done` like
 * any other (never from inside cpgo_scrape_start). The first refusal is kept. */
static void refuse(struct cpgo_scrape *t, const char *what)
{
    if (!t->refused[0]) snprintf(t->refused, sizeof t->refused, "%s", what);
    curl_easy_setopt(t->easy, CURLOPT_URL, NULL);
}

static int append_header(struct cpgo_scrape *t, const char *h)
{
    struct curl_slist *n = curl_slist_append(t->headers, h);
    if (!n) return -1;
    t->headers = n;
    return 0;
}

static int has_header(const struct cpgo_scrape *t, const char *name)
{
    size_t n = strlen(name);
    for (const struct curl_slist *h = t->headers; h; h = h->next)
        if (!strncasecmp(h->data, name, n) && h->data[n] == ':') return 1;
    return 0;
}

/* A host name as SNI carries it: letters, digits, '-', '_' and '.', at most 253 bytes. */
static int is_host_name(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");
    return n && !s[n] && n <= 253;
}

/* The address to connect to, as CONNECT_TO writes it ("[v6]" or "v4"); -1 when ip is not an
 * IP literal (the caller resolved it: a name here would be resolved by curl again). */
static int ip_literal(const char *ip, char *out, size_t cap)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, ip, a) == 1) return snprintf(out, cap, "%s", ip) < (int)cap ? 0 : -1;
    if (inet_pton(AF_INET6, ip, a) == 1) return snprintf(out, cap, "[%s]", ip) < (int)cap ? 0 : -1;
    return -1;
}

/*
 * The URL curl is given, where it connects, and the Host header (scrape.h): with neither
 * resolve_ip nor a server_name that differs from the URL's host, the URL as it is. The
 * CONNECT_TO entry matches any host and port ("::ip:port"): the handle has one URL and
 * follows no redirect, so there is nothing else it could apply to. A URL curl cannot read
 * is passed on unchanged, for curl to refuse in its own words. 0, or -1 when out of memory.
 */
static int set_route(struct cpgo_scrape *t, const struct cpgo_scrape_req *req)
{
    CURL *e = t->easy;
    const char *sn = req->tls.server_name && req->tls.server_name[0] ? req->tls.server_name : NULL;
    char pinned[INET6_ADDRSTRLEN + 2] = "";
    if (req->resolve_ip && ip_literal(req->resolve_ip, pinned, sizeof pinned)) {
        char why[160];
        snprintf(why, sizeof why, "resolve_ip %.64s is not an IP address", req->resolve_ip);
        refuse(t, why);
        return 0;
    }
    if (!pinned[0] && !sn) {
        curl_easy_setopt(e, CURLOPT_URL, req->url);
        return 0;
    }
    CURLU *u = curl_url();
    if (!u) return -1;
    char *scheme = NULL, *host = NULL, *port = NULL, *url = NULL;
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, req->url, 0) ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
        curl_easy_setopt(e, CURLOPT_URL, req->url);
        rc = 0;
        goto out;
    }
    const char *dest = pinned[0] ? pinned : NULL;
    if (sn && !strcasecmp(scheme, "https") && strcasecmp(sn, host)) {
        if (!is_host_name(sn)) {
            char why[160];
            snprintf(why, sizeof why, "tls_config.server_name %.64s is not a host name", sn);
            refuse(t, why);
            rc = 0;
            goto out;
        }
        /* the Host header curl would have sent for the URL: the port only when it is not
         * the scheme's default */
        char h[512];
        int explicit_port = strcmp(port, "443") != 0;
        snprintf(h, sizeof h, "Host: %s%s%s", host, explicit_port ? ":" : "",
                 explicit_port ? port : "");
        if (!has_header(t, "Host") && append_header(t, h)) goto out;
        if (!dest) dest = host; /* "[v6]" as curl gives it: CONNECT_TO's own form */
        if (curl_url_set(u, CURLUPART_HOST, sn, 0)) goto out;
    }
    if (dest) {
        char to[600];
        snprintf(to, sizeof to, "::%s:%s", dest, port);
        t->connect_to = curl_slist_append(NULL, to);
        if (!t->connect_to) goto out;
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, t->connect_to);
    }
    if (curl_url_get(u, CURLUPART_URL, &url, 0)) goto out;
    curl_easy_setopt(e, CURLOPT_URL, url);
    rc = 0;
out:
    curl_free(url);
    curl_free(port);
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

_Static_assert(CPGO_SCRAPE_AUTHZ_MAX == 16384, "the refusals below say 16 KiB");

/* TLS, credentials and the proxy (scrape.h). 0, or -1 when out of memory. */
static int set_options(struct cpgo_scrape *t, const struct cpgo_scrape_req *req)
{
    CURL *e = t->easy;
    const struct cpgo_scrape_tls *tls = &req->tls;
    if (tls->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, tls->ca_file);
    if (tls->cert_file) curl_easy_setopt(e, CURLOPT_SSLCERT, tls->cert_file);
    if (tls->key_file) curl_easy_setopt(e, CURLOPT_SSLKEY, tls->key_file);
    if (tls->insecure_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (req->basic_user) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, req->basic_user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, req->basic_password ? req->basic_password : "");
    }
    if (req->authorization) {
        const char *v = req->authorization;
        size_t n = strnlen(v, CPGO_SCRAPE_AUTHZ_MAX);
        if (!n || n == CPGO_SCRAPE_AUTHZ_MAX || strpbrk(v, "\r\n")) {
            refuse(t, !n ? "the authorization header is empty (or its credentials were "
                           "longer than 16 KiB)"
                      : n == CPGO_SCRAPE_AUTHZ_MAX
                          ? "the authorization header is longer than 16 KiB"
                          : "the authorization header holds a line break");
        } else {
            size_t cap = sizeof "Authorization: " + n;
            char *h = malloc(cap);
            if (!h) return -1;
            snprintf(h, cap, "Authorization: %s", v);
            int rc = append_header(t, h);
            memset(h, 0, cap); /* a credential: curl keeps its own copy */
            free(h);
            if (rc) return -1;
        }
    }
    if (req->proxy_url) {
        curl_easy_setopt(e, CURLOPT_PROXY, req->proxy_url);
        curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
        curl_easy_setopt(e, CURLOPT_HEADEROPT, (long)CURLHEADER_SEPARATE);
    }
    return 0;
}

/* ---- public ---------------------------------------------------------------------------- */

int cpgo_scraper_new(uv_loop_t *loop, const struct cpgo_scraper_opts *opts,
                     struct cpgo_scraper **out)
{
    struct cpgo_scraper *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->loop = loop;
    s->multi = curl_multi_init();
    if (!s->multi) {
        free(s);
        return -1;
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->open_handles = 1;
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, timerfunc_cb);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
    /* one CPU profile at a time per target process (unless the owner streams, see .h) */
    long per_host = opts && opts->max_host_connections ? opts->max_host_connections : 1;
    curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, per_host < 0 ? 0L : per_host);
    /* The total is capped by the daemon, which starts a scrape only below
     * max_concurrent_scrapes (a transfer queued inside curl would spend its timeout
     * waiting); curl's own total cap costs loop CPU per event with thousands of transfers. */
    s->user_agent = opts && opts->user_agent ? opts->user_agent : "cpgo/" CPGO_VERSION;
    cpgo_scraper_set_inflight_budget(s, opts ? opts->max_inflight_bytes : 0);
    *out = s;
    return 0;
}

struct cpgo_scrape *cpgo_scrape_start(struct cpgo_scraper *s, const struct cpgo_scrape_req *req)
{
    if (s->closing) return NULL;
    struct cpgo_scrape *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->s = s;
    t->max = req->max_body_bytes ? req->max_body_bytes : (64u << 20);
    t->done = req->done;
    t->arg = req->arg;
    t->easy = curl_easy_init();
    if (!t->easy) {
        free(t);
        return NULL;
    }
    t->secrets = cpgo_url_secrets_ref(req->secrets);
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_USERAGENT, s->user_agent);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* closed at the end, never cached (scrape.h: an idle fd per backend, and cache walks) */
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    /* No DNS cache entry outlives the connect. curl 7.88 keeps one entry per host:port (an
     * IP literal too) in a 7-slot hash and prunes the whole cache at every resolve, so with
     * thousands of backends each scrape walked thousands of entries on the loop thread
     * (perf at 5,000 backends: ~45% of the loop's samples in Curl_hash_clean_with_criterium).
     * A backend is scraped once a period, longer than the default 60 s the entry would live:
     * the cache never answered a scrape anyway. */
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    for (const char *const *h = req->headers; h && *h; h++) {
        if (append_header(t, *h)) {
            free_scrape(t);
            return NULL;
        }
    }
    /* after the caller's headers: a Host header among them is kept */
    if (set_route(t, req) || set_options(t, req)) {
        free_scrape(t);
        return NULL;
    }
    if (t->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    t->started_ns = uv_hrtime();
    cpgo_list_push_head(&s->flying, &t->link);
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK) {
        unlink_scrape(t);
        curl_easy_cleanup(t->easy);
        t->easy = NULL;
        free_scrape(t);
        return NULL;
    }
    return t;
}

int cpgo_scraper_run_easy(struct cpgo_scraper *s, void *easy, cpgo_easy_done_cb done, void *arg)
{
    if (s->closing) return -1;
    struct cpgo_scrape *t = calloc(1, sizeof *t);
    if (!t) return -1;
    t->s = s;
    t->easy = easy;
    t->easy_done = done;
    t->arg = arg;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)t);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    t->started_ns = uv_hrtime();
    cpgo_list_push_head(&s->flying, &t->link);
    if (curl_multi_add_handle(s->multi, easy) != CURLM_OK) {
        unlink_scrape(t);
        free(t);
        return -1;
    }
    return 0;
}

void cpgo_scrape_cancel(struct cpgo_scrape *t)
{
    if (!t) return;
    struct cpgo_scraper *s = t->s;
    unlink_scrape(t);
    free_scrape(t);
    resume_paused(s); /* its body's room may let a paused one go on */
}

void cpgo_scraper_set_inflight_budget(struct cpgo_scraper *s, size_t bytes)
{
    s->inflight_budget = bytes ? bytes : CPGO_SCRAPE_DEFAULT_INFLIGHT;
}

size_t cpgo_scraper_inflight_bytes(const struct cpgo_scraper *s)
{
    return s->inflight;
}

size_t cpgo_scraper_inflight_peak(const struct cpgo_scraper *s)
{
    return s->inflight_peak;
}

void cpgo_scraper_close(struct cpgo_scraper *s, void (*closed)(void *arg), void *arg)
{
    s->closing = 1;
    s->closed = closed;
    s->closed_arg = arg;
    struct cpgo_scrape *t;
    while ((t = CPGO_LIST_DATA(cpgo_list_head(&s->flying), struct cpgo_scrape, link))) {
        if (t->easy_done) {
            /* a caller's handle: give it back, aborted, so the caller can free it */
            cpgo_easy_done_cb cb = t->easy_done;
            void *easy = t->easy, *a = t->arg;
            unlink_scrape(t);
            free_scrape(t);
            cb(easy, (int)CURLE_ABORTED_BY_CALLBACK, a);
            continue;
        }
        cpgo_scrape_cancel(t);
    }
    /* may still call socket_cb with CURL_POLL_REMOVE: handled like any removal */
    curl_multi_cleanup(s->multi);
    s->multi = NULL;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, handle_closed_cb);
}
