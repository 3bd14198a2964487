/*
 * http.c - see http.h.
 *
 * One struct conn per accepted socket, with a TCP handle and a timer handle; it is freed
 * when both close callbacks have run. A connection moves through four phases:
 *
 *   OPEN     reading and parsing; every complete request is answered at once (handlers are
 *            synchronous), so responses leave in request order without any reordering
 *   DRAIN    the last response is queued (error, "Connection: close", HTTP/1.0): nothing
 *            more is parsed; when the writes finish, the write side is shut down
 *   LINGER   our FIN is sent; reads are dropped until the client closes, LINGER_MS pass
 *            or LINGER_BYTES arrive, so an error response is not destroyed by a reset
 *            (closing with unread input makes the kernel send RST)
 *   CLOSING  uv_close called
 *
 * Input: each read goes first through lint() (our framing check and the byte limits) and
 * then, for the bytes lint() accepted, through llhttp. on_message_complete pauses llhttp,
 * so each llhttp_execute covers at most one request, which is dispatched before the next
 * one is parsed. When a connection has more than max_conn_output bytes of responses
 * unwritten, parsing stops (reads too) and the unparsed rest of the read is kept in
 * `pending` (at most one read buffer); parsing resumes when every write has completed.
 *
 * Deadlines are one timer per connection, re-armed after every event to the nearest of:
 * the header deadline (accept or a request's first byte + header_timeout; not while
 * paused), the idle deadline (the last response written + idle_timeout, when nothing is
 * in progress), the write deadline (the last write progress + write_timeout, while writes
 * are queued) and the linger deadline.
 *
 * The fake mode (cpgo_admin_feed_for_fuzz) runs the same code with the socket calls
 * replaced: writes queue on the connection and complete when the driver says so, reads
 * are the driver's calls, and there are no timers.
 */
#include "admin/http.h"
#include "admin/metrics.h"

#include <arpa/inet.h>
#include <assert.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define READ_BUF (64 * 1024) /* one read; also the ceiling of a connection's pending input */
#define HEAD_MAX 768         /* a response's status line and headers */
#define CTYPE_MAX 200        /* a handler's content type */
/* Connections the kernel completes before we accept them: past it a new SYN is dropped and
 * retried a second later, longer than a health check waits, so room for a burst */
#define BACKLOG 511
#define DEFAULT_CTYPE "text/plain; charset=utf-8"

struct route {
    char *path;
    cpgo_admin_handler_cb handler;
    void *arg;
};

struct limits {
    size_t max_url, max_header_bytes, max_headers, max_conns;
    uint64_t header_to, idle_to, write_to;
    size_t max_resp, max_conn_out, max_total_out;
};

enum phase { P_OPEN, P_DRAIN, P_LINGER, P_CLOSING };

/* lint() states: where in the header section (or between requests) the next byte falls */
enum lint_state {
    L_IDLE,       /* between requests: CRLF pairs are skipped */
    L_IDLE_CR,    /* CR seen between requests */
    L_REQLINE,    /* method SP target SP version */
    L_REQLINE_CR, /* CR after the version */
    L_LINE_START, /* start of a header line, or of the final empty line */
    L_NAME,       /* header name, up to ':' */
    L_VALUE,      /* header value, up to CR */
    L_VALUE_CR,   /* CR after a value */
    L_END_CR,     /* CR of the empty line that ends the header section */
};

enum deadline_kind { D_NONE, D_HEADER, D_IDLE, D_WRITE, D_LINGER };

#define R_NONE (-1)

struct conn;

struct wreq {
    uv_write_t req;
    struct conn *c;
    struct wreq *next; /* fake mode: queued until the driver completes it */
    void *owned;       /* the body, when it was malloc'd */
    const char *body;  /* NULL for HEAD and bodiless responses */
    size_t body_len;
    size_t bytes; /* head + body bytes on the wire */
    size_t head_len;
    char head[HEAD_MAX];
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    struct cpgo_admin *a;
    struct conn *prev, *next;
    llhttp_t parser;
    enum phase phase;
    int handles;  /* uv handles not yet closed */
    int reading;  /* uv_read_start in effect */
    int paused;   /* output backlog: parsing stopped until every write completed */
    int peer_eof; /* the client shut down its side */
    /* deadlines (loop time, ms) */
    int in_request; /* from accept or a request's first byte until it is complete */
    uint64_t req_start, idle_start, write_progress, linger_start;
    size_t linger_bytes;
    /* the request being parsed */
    enum lint_state lint;
    unsigned char lint_prev;
    int lint_sp;
    size_t lint_target; /* request-target bytes so far */
    size_t hdr_bytes;   /* header section bytes so far */
    size_t nheaders;
    int reject, reject_status; /* set by a parser callback: reason and status */
    char *url;                 /* max_url + 1 bytes */
    size_t url_len;
    struct cpgo_buf pending; /* unparsed input while paused */
    /* output */
    size_t unwritten;
    unsigned nwrites;
    struct wreq *fake_head, *fake_tail;
};

struct refused {
    uv_tcp_t tcp;
    struct cpgo_admin *a;
};

struct cpgo_admin {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int fake;
    int closing;
    struct limits lim;
    struct route *routes;
    size_t nroutes;
    llhttp_settings_t settings;
    struct conn *conns, *conns_tail; /* newest first: the tail is the oldest */
    size_t nconns;
    size_t nclosing; /* of those, closed and waiting for their close callbacks */
    size_t handles; /* uv handles open: listener, connections', refused connections' */
    size_t out_total;
    cpgo_admin_closed_cb closed_cb;
    void *closed_arg;
    struct cpgo_admin_stats st;
    int port;
    /* cpgo_admin_register_metrics */
    struct cpgo_metrics *metrics;
    struct cpgo_metric *m_open, *m_conns, *m_requests, *m_idle, *m_rejected;
    /* Date header, formatted once per second */
    time_t date_sec;
    char date[64];
    /* fake mode */
    struct cpgo_buf *fake_out;
    size_t fake_responses;
    char read_buf[READ_BUF]; /* reads are consumed before the next one starts (one thread) */
};

static const char *const reason_names[CPGO_ADMIN_R_COUNT] = {
    [CPGO_ADMIN_R_CONN_LIMIT] = "conn_limit",
    [CPGO_ADMIN_R_URL_TOO_LONG] = "url_too_long",
    [CPGO_ADMIN_R_HEADERS_TOO_LARGE] = "headers_too_large",
    [CPGO_ADMIN_R_TOO_MANY_HEADERS] = "too_many_headers",
    [CPGO_ADMIN_R_BODY] = "body",
    [CPGO_ADMIN_R_METHOD] = "method",
    [CPGO_ADMIN_R_NOT_FOUND] = "not_found",
    [CPGO_ADMIN_R_BAD_REQUEST] = "bad_request",
    [CPGO_ADMIN_R_HEADER_TIMEOUT] = "header_timeout",
    [CPGO_ADMIN_R_WRITE_TIMEOUT] = "write_timeout",
    [CPGO_ADMIN_R_OVERLOAD] = "overload",
    [CPGO_ADMIN_R_HANDLER] = "handler",
    [CPGO_ADMIN_R_EVICTED] = "evicted",
};

const char *cpgo_admin_reason_name(enum cpgo_admin_reason r)
{
    return (unsigned)r < CPGO_ADMIN_R_COUNT ? reason_names[r] : "unknown";
}

static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 307:
        return "Temporary Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    }
    return status < 300   ? "OK"
           : status < 400 ? "Redirect"
           : status < 500 ? "Client Error"
                          : "Server Error";
}

static uint64_t now_ms(const struct cpgo_admin *a)
{
    return a->fake ? 0 : uv_now(a->loop);
}

/* ---- connection plumbing: the only places that differ in fake mode ---------------- */

static void admin_maybe_finish(struct cpgo_admin *a);
static void conn_input(struct conn *c, const char *p, size_t len);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void conn_free(struct conn *c)
{
    struct cpgo_admin *a = c->a;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        a->conns_tail = c->prev;
    assert(a->nconns > 0);
    a->nconns--;
    if (c->phase == P_CLOSING) {
        assert(a->nclosing > 0);
        a->nclosing--;
    }
    cpgo_buf_free(&c->pending);
    free(c->url);
    free(c);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct cpgo_admin *a = c->a;
    a->handles--;
    if (--c->handles == 0) conn_free(c);
    admin_maybe_finish(a);
}

/* Closes at once: queued writes are cancelled (their callbacks free them). */
static void conn_abort(struct conn *c)
{
    if (c->phase == P_CLOSING) return;
    c->phase = P_CLOSING;
    c->a->nclosing++;
    c->reading = 0;
    if (c->a->fake) return; /* the driver frees it */
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    *buf = uv_buf_init(c->a->read_buf, READ_BUF);
}

static void conn_read_start(struct conn *c)
{
    if (c->reading || c->phase == P_CLOSING) return;
    c->reading = 1;
    if (!c->a->fake && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) conn_abort(c);
}

static void conn_read_stop(struct conn *c)
{
    if (!c->reading) return;
    c->reading = 0;
    if (!c->a->fake) uv_read_stop((uv_stream_t *)&c->tcp);
}

static uint64_t conn_deadline(const struct conn *c, enum deadline_kind *kind)
{
    const struct limits *l = &c->a->lim;
    uint64_t d = UINT64_MAX;
    *kind = D_NONE;
    switch (c->phase) {
    case P_LINGER:
        *kind = D_LINGER;
        return c->linger_start + CPGO_ADMIN_LINGER_MS;
    case P_DRAIN:
        *kind = D_WRITE;
        return c->write_progress + l->write_to;
    case P_OPEN:
        if (c->nwrites) {
            d = c->write_progress + l->write_to;
            *kind = D_WRITE;
        }
        /* while paused the client is not to blame for an unfinished request: we stopped
         * reading it */
        if (c->paused) return d;
        if (c->in_request) {
            if (c->req_start + l->header_to < d) {
                d = c->req_start + l->header_to;
                *kind = D_HEADER;
            }
        } else if (!c->nwrites) {
            d = c->idle_start + l->idle_to;
            *kind = D_IDLE;
        }
        return d;
    case P_CLOSING:
        break;
    }
    return d;
}

static void on_timer(uv_timer_t *t);

static void conn_arm_timer(struct conn *c)
{
    if (c->a->fake || c->phase == P_CLOSING) return;
    enum deadline_kind kind;
    uint64_t d = conn_deadline(c, &kind), now = now_ms(c->a);
    if (kind == D_NONE)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, d > now ? d - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->phase == P_CLOSING) return;
    enum deadline_kind kind;
    uint64_t d = conn_deadline(c, &kind);
    if (kind == D_NONE) return;
    if (now_ms(c->a) < d) {
        conn_arm_timer(c);
        return;
    }
    struct cpgo_admin_stats *st = &c->a->st;
    if (kind == D_HEADER)
        st->rejected[CPGO_ADMIN_R_HEADER_TIMEOUT]++;
    else if (kind == D_WRITE)
        st->rejected[CPGO_ADMIN_R_WRITE_TIMEOUT]++;
    else if (kind == D_IDLE)
        st->idle_closed++;
    conn_abort(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (c->phase == P_CLOSING) return;
    if (status < 0) conn_abort(c);
}

/* Every response is written: end the connection (the DRAIN phase is over). */
static void conn_finish(struct conn *c)
{
    if (c->peer_eof || c->a->fake) {
        conn_abort(c);
        return;
    }
    c->phase = P_LINGER;
    c->linger_start = now_ms(c->a);
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown)) {
        conn_abort(c);
        return;
    }
    conn_read_start(c); /* to drop what the client still sends, see LINGER above */
    conn_arm_timer(c);
}

static void conn_resume(struct conn *c)
{
    c->paused = 0;
    if (c->pending.len) {
        /* take the bytes out first: parsing them may pause again and keep a new rest */
        size_t n;
        unsigned char *d = cpgo_buf_steal(&c->pending, &n);
        conn_input(c, (const char *)d, n);
        free(d);
    }
    if (c->phase == P_OPEN && !c->paused) conn_read_start(c);
}

static void write_done(struct wreq *w, int status)
{
    struct conn *c = w->c;
    struct cpgo_admin *a = c->a;
    c->unwritten -= w->bytes;
    a->out_total -= w->bytes;
    c->nwrites--;
    if (a->fake && status == 0) {
        a->fake_responses++;
        if (a->fake_out) {
            /* the output's own ceiling truncates; the fuzz target sets none */
            cpgo_buf_append(a->fake_out, w->head, w->head_len);
            if (w->body) cpgo_buf_append(a->fake_out, w->body, w->body_len);
        }
    }
    free(w->owned);
    free(w);
    if (c->phase == P_CLOSING) return;
    if (status < 0) {
        conn_abort(c);
        return;
    }
    uint64_t now = now_ms(a);
    c->write_progress = now;
    if (!c->nwrites) {
        c->idle_start = now; /* keep-alive idle counts from the last byte written */
        if (c->phase == P_DRAIN) {
            conn_finish(c);
            return;
        }
        if (c->paused) conn_resume(c);
    }
    conn_arm_timer(c);
}

static void on_write(uv_write_t *req, int status)
{
    write_done(req->data, status);
}

/* ---- responses --------------------------------------------------------------------- */

static const char *date_line(struct cpgo_admin *a)
{
    if (a->fake) return ""; /* output must depend on the input only */
    time_t now = time(NULL);
    if (now != a->date_sec || !a->date[0]) {
        /* by hand: strftime's %a and %b follow the locale */
        static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(a->date, sizeof a->date, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                 wd[tm.tm_wday % 7], tm.tm_mday, mo[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        a->date_sec = now;
    }
    return a->date;
}

/*
 * Queues one response. body (len bytes) is sent unless head; owned, if not NULL, is freed
 * once written. close ends the connection after it (DRAIN).
 */
static void conn_send(struct conn *c, int status, const char *ctype, const char *extra,
                      const char *body, size_t len, void *owned, int head, int close)
{
    struct cpgo_admin *a = c->a;
    struct wreq *w = malloc(sizeof *w);
    if (!w) {
        free(owned);
        conn_abort(c);
        return;
    }
    /* HTTP/1.0 closes unless the client asked for keep-alive, and must then be told */
    int keep10 = !close && c->parser.http_major == 1 && c->parser.http_minor == 0;
    int n = snprintf(w->head, sizeof w->head,
                     "HTTP/1.1 %d %s\r\n%sServer: cpgo\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\n%s%s\r\n",
                     status, status_text(status), date_line(a), ctype, len, extra ? extra : "",
                     close    ? "Connection: close\r\n"
                     : keep10 ? "Connection: keep-alive\r\n"
                              : "");
    if (n < 0 || (size_t)n >= sizeof w->head) { /* cannot happen: ctype is bounded */
        free(w);
        free(owned);
        conn_abort(c);
        return;
    }
    w->c = c;
    w->next = NULL;
    w->head_len = (size_t)n;
    if (head) {
        free(owned);
        owned = NULL;
        body = NULL;
        len = 0;
    }
    w->owned = owned;
    w->body = len ? body : NULL;
    w->body_len = len;
    w->bytes = w->head_len + len;
    w->req.data = w;
    c->unwritten += w->bytes;
    a->out_total += w->bytes;
    if (c->nwrites++ == 0) c->write_progress = now_ms(a);
    if (close) {
        c->phase = P_DRAIN;
        conn_read_stop(c);
    }
    if (a->fake) {
        if (c->fake_tail)
            c->fake_tail->next = w;
        else
            c->fake_head = w;
        c->fake_tail = w;
        return;
    }
    uv_buf_t bufs[2] = {uv_buf_init(w->head, (unsigned)w->head_len),
                        uv_buf_init((char *)w->body, (unsigned)w->body_len)};
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, w->body ? 2 : 1, on_write);
    if (rc) {
        c->unwritten -= w->bytes;
        a->out_total -= w->bytes;
        c->nwrites--;
        free(w->owned);
        free(w);
        conn_abort(c);
    }
}

static void conn_send_text(struct conn *c, int status, const char *extra, const char *text,
                           int head, int close)
{
    conn_send(c, status, DEFAULT_CTYPE, extra, text, strlen(text), NULL, head, close);
}

#define ALLOW "Allow: GET, HEAD\r\n"

/* Answers a request the parser refused, and ends the connection. */
static void conn_reject(struct conn *c, int reason, int status)
{
    c->a->st.rejected[reason]++;
    c->in_request = 0;
    const char *text = "bad request\n", *extra = NULL;
    switch (status) {
    case 405:
        text = "method not allowed\n";
        extra = ALLOW;
        break;
    case 413:
        text = "request bodies are not accepted\n";
        break;
    case 414:
        text = "URI too long\n";
        break;
    case 431:
        text = "request header fields too large\n";
        break;
    case 505:
        text = "HTTP version not supported\n";
        break;
    }
    conn_send_text(c, status, extra, text, 0, 1);
}

static int status_ok(int s)
{
    return s >= 200 && s <= 599 && s != 204 && s != 304;
}

static int ctype_ok(const char *t)
{
    if (!t || !*t) return 0;
    size_t i = 0;
    for (; t[i]; i++)
        if (t[i] < 0x20 || t[i] > 0x7e || i >= CTYPE_MAX) return 0; /* no CR/LF injection */
    return 1;
}

static const struct route *find_route(const struct cpgo_admin *a, const char *path)
{
    for (size_t i = 0; i < a->nroutes; i++)
        if (!strcmp(a->routes[i].path, path)) return &a->routes[i];
    return NULL;
}

/* A complete request (llhttp paused on it): answer it. */
static void conn_dispatch(struct conn *c)
{
    struct cpgo_admin *a = c->a;
    const struct limits *l = &a->lim;
    c->in_request = 0;
    c->idle_start = now_ms(a);
    int method = llhttp_get_method(&c->parser);
    int head = method == HTTP_HEAD;
    int get_or_head = method == HTTP_GET || method == HTTP_HEAD;
    /* after an upgrade request llhttp parses nothing more: end with this response */
    int close = !llhttp_should_keep_alive(&c->parser) || llhttp_get_upgrade(&c->parser);

    c->url[c->url_len] = 0;
    char *u = c->url;
    char *cut = strchr(u, '#');
    if (cut) *cut = 0;
    const char *query = "";
    if ((cut = strchr(u, '?'))) {
        *cut = 0;
        query = cut + 1;
    }
    const char *path = u;
    /* absolute-form ("GET http://host/metrics"), which servers must accept: the path is
     * what follows the authority */
    size_t scheme = !strncasecmp(u, "http://", 7) ? 7 : !strncasecmp(u, "https://", 8) ? 8 : 0;
    if (scheme) {
        const char *slash = strchr(u + scheme, '/');
        path = slash ? slash : "/";
    }
    if (get_or_head && path[0] != '/') {
        /* "GET * HTTP/1.1": not a resource we could have */
        conn_reject(c, CPGO_ADMIN_R_BAD_REQUEST, 400);
        return;
    }

    a->st.requests++;
    const struct route *r = get_or_head ? find_route(a, path) : NULL;
    if (!get_or_head) {
        a->st.rejected[CPGO_ADMIN_R_METHOD]++;
        conn_send_text(c, 405, ALLOW, "method not allowed\n", 0, close);
    } else if (!r) {
        a->st.rejected[CPGO_ADMIN_R_NOT_FOUND]++;
        conn_send_text(c, 404, NULL, "not found\n", head, close);
    } else {
        struct cpgo_buf body;
        cpgo_buf_init(&body, l->max_resp);
        struct cpgo_admin_resp resp = {200, DEFAULT_CTYPE, &body};
        int rc = r->handler(path, query, &resp, r->arg);
        if (c->phase != P_OPEN) { /* closed from inside the handler after all */
            cpgo_buf_free(&body);
            return;
        }
        if (rc || !status_ok(resp.status) || !ctype_ok(resp.content_type)) {
            cpgo_buf_free(&body);
            a->st.rejected[CPGO_ADMIN_R_HANDLER]++;
            conn_send_text(c, 500, NULL, "internal server error\n", head, close);
        } else if (a->out_total > l->max_total_out || body.len > l->max_total_out - a->out_total) {
            /* too much output already waits on slow clients: refuse, cheaply */
            cpgo_buf_free(&body);
            a->st.rejected[CPGO_ADMIN_R_OVERLOAD]++;
            conn_send_text(c, 503, NULL, "server busy\n", head, 1);
        } else {
            size_t len;
            unsigned char *data = cpgo_buf_steal(&body, &len);
            conn_send(c, resp.status, resp.content_type, NULL, (const char *)data, len, data, head,
                      close);
        }
    }
    if (c->phase == P_OPEN && c->unwritten > l->max_conn_out) {
        c->paused = 1;
        conn_read_stop(c);
    }
}

/* ---- parsing ----------------------------------------------------------------------- */

/*
 * The framing check llhttp 8 does not do in strict mode (it accepts a bare LF ending the
 * header section, obs-fold, whitespace before ':' and runs of spaces in the request line),
 * plus the limits that must hold before llhttp sees a byte: request-target length and
 * header section size. Scans p[0..len) and stops after the LF that ends a header section
 * (*end = 1), or at the first byte that is wrong or over a limit. *n = bytes accepted.
 * Returns R_NONE or a reason (with *status).
 */
static int lint(struct conn *c, const unsigned char *p, size_t len, size_t *n, int *end,
                int *status)
{
    const struct limits *l = &c->a->lim;
    *end = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = p[i];
        int bad = 0;
        switch (c->lint) {
        case L_IDLE:
            if (ch == '\r') {
                c->lint = L_IDLE_CR;
                break;
            }
            if (ch == '\n' || ch == ' ' || ch == '\t') {
                bad = 1;
                break;
            }
            c->lint = L_REQLINE;
            c->lint_sp = 0;
            c->lint_target = 0;
            c->hdr_bytes = 0;
            if (!c->in_request) { /* the header deadline starts at a request's first byte */
                c->in_request = 1;
                c->req_start = now_ms(c->a);
            }
            break;
        case L_IDLE_CR:
            if (ch == '\n')
                c->lint = L_IDLE;
            else
                bad = 1;
            break;
        case L_REQLINE:
            if (ch == ' ') {
                if (c->lint_prev == ' ' || c->lint_sp == 2)
                    bad = 1;
                else
                    c->lint_sp++;
            } else if (ch == '\r') {
                if (c->lint_sp != 2 || c->lint_prev == ' ')
                    bad = 1; /* also HTTP/0.9's "GET /" */
                else
                    c->lint = L_REQLINE_CR;
            } else if (ch == '\n' || ch == '\t') {
                bad = 1;
            } else if (c->lint_sp == 1 && ++c->lint_target > l->max_url) {
                *n = i;
                *status = 414;
                return CPGO_ADMIN_R_URL_TOO_LONG;
            }
            break;
        case L_REQLINE_CR:
            if (ch == '\n')
                c->lint = L_LINE_START;
            else
                bad = 1;
            break;
        case L_LINE_START:
            if (ch == '\r')
                c->lint = L_END_CR;
            else if (ch == '\n' || ch == ' ' || ch == '\t' || ch == ':')
                bad = 1; /* bare LF, obs-fold, empty name */
            else
                c->lint = L_NAME;
            break;
        case L_NAME:
            if (ch == ':')
                c->lint = L_VALUE;
            else if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
                bad = 1; /* RFC 9112 5.1: whitespace before the colon must be refused */
            break;
        case L_VALUE:
            if (ch == '\r')
                c->lint = L_VALUE_CR;
            else if (ch == '\n')
                bad = 1;
            break;
        case L_VALUE_CR:
            if (ch == '\n')
                c->lint = L_LINE_START;
            else
                bad = 1;
            break;
        case L_END_CR:
            if (ch != '\n') {
                bad = 1;
                break;
            }
            c->lint = L_IDLE;
            *n = i + 1;
            *end = 1;
            return R_NONE;
        }
        if (bad) {
            *n = i;
            *status = 400;
            return CPGO_ADMIN_R_BAD_REQUEST;
        }
        c->lint_prev = ch;
        if (c->lint != L_IDLE && c->lint != L_IDLE_CR && ++c->hdr_bytes > l->max_header_bytes) {
            *n = i;
            *status = 431;
            return CPGO_ADMIN_R_HEADERS_TOO_LARGE;
        }
    }
    *n = len;
    return R_NONE;
}

static void conn_input(struct conn *c, const char *p, size_t len)
{
    while (len > 0 && c->phase == P_OPEN && !c->paused) {
        size_t n;
        int end, status = 0;
        int lint_reason = lint(c, (const unsigned char *)p, len, &n, &end, &status);
        /* llhttp sees the accepted bytes first, so its verdict on them (and a callback's
         * reject) comes before lint's on the byte after them */
        llhttp_errno_t e = n ? llhttp_execute(&c->parser, p, n) : HPE_OK;
        if (c->reject != R_NONE) {
            conn_reject(c, c->reject, c->reject_status);
            return;
        }
        if (e == HPE_PAUSED) {
            /* message complete: it must end exactly where lint saw the header section end,
             * since no request may have a body */
            if (!end || llhttp_get_error_pos(&c->parser) != p + n) {
                conn_reject(c, CPGO_ADMIN_R_BAD_REQUEST, 400);
                return;
            }
            llhttp_resume(&c->parser);
            p += n;
            len -= n;
            conn_dispatch(c);
            continue;
        }
        if (e != HPE_OK || end) { /* malformed, or a header section llhttp did not end */
            conn_reject(c, CPGO_ADMIN_R_BAD_REQUEST, 400);
            return;
        }
        if (lint_reason != R_NONE) {
            conn_reject(c, lint_reason, status);
            return;
        }
        p += n;
        len -= n;
    }
    if (len > 0 && c->phase == P_OPEN && c->paused) {
        /* at most one read: reading stopped when the connection paused */
        if (cpgo_buf_append(&c->pending, p, len)) conn_abort(c);
    }
}

static void conn_on_data(struct conn *c, const char *p, size_t len)
{
    if (c->phase == P_LINGER) {
        c->linger_bytes += len;
        if (c->linger_bytes > CPGO_ADMIN_LINGER_BYTES) conn_abort(c);
        return;
    }
    if (c->phase != P_OPEN) return;
    conn_input(c, p, len);
    conn_arm_timer(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (c->phase == P_CLOSING) return;
    if (n < 0) {
        if (n == UV_EOF && c->phase == P_OPEN && c->nwrites) {
            /* a half-close after the last request: deliver the responses, then close */
            c->peer_eof = 1;
            c->phase = P_DRAIN;
            conn_read_stop(c);
            conn_arm_timer(c);
            return;
        }
        conn_abort(c);
        return;
    }
    if (n > 0) conn_on_data(c, buf->base, (size_t)n);
}

/* llhttp callbacks: record what dispatch and the limits need. A callback that refuses the
 * request sets c->reject and returns -1, which stops llhttp. */

static int on_message_begin(llhttp_t *p)
{
    struct conn *c = p->data;
    c->url_len = 0;
    c->nheaders = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (len > c->a->lim.max_url - c->url_len) { /* lint() stops long targets before this */
        c->reject = CPGO_ADMIN_R_URL_TOO_LONG;
        c->reject_status = 414;
        return -1;
    }
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct conn *c = p->data;
    if (++c->nheaders > c->a->lim.max_headers) {
        c->reject = CPGO_ADMIN_R_TOO_MANY_HEADERS;
        c->reject_status = 431;
        return -1;
    }
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct conn *c = p->data;
    if (p->http_major != 1) {
        c->reject = CPGO_ADMIN_R_BAD_REQUEST;
        c->reject_status = 505;
        return -1;
    }
    if ((p->flags & F_TRANSFER_ENCODING) && !(p->flags & F_CHUNKED)) {
        /* RFC 9112 6.3: the body length cannot be known, which is 400 and close */
        c->reject = CPGO_ADMIN_R_BAD_REQUEST;
        c->reject_status = 400;
        return -1;
    }
    int method = llhttp_get_method(p);
    int body = (p->flags & (F_CHUNKED | F_TRANSFER_ENCODING)) ||
               ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
    if (!body) return 0;
    /* a body is never read: refuse and close rather than skip it */
    if (method != HTTP_GET && method != HTTP_HEAD) {
        c->reject = CPGO_ADMIN_R_METHOD;
        c->reject_status = 405;
    } else {
        c->reject = CPGO_ADMIN_R_BODY;
        c->reject_status = 413;
    }
    return -1;
}

static int on_message_complete(llhttp_t *p)
{
    return HPE_PAUSED; /* one request per llhttp_execute: dispatched before the next */
}

/* ---- server ------------------------------------------------------------------------ */

static struct conn *conn_new(struct cpgo_admin *a)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->url = malloc(a->lim.max_url + 1);
    if (!c->url) {
        free(c);
        return NULL;
    }
    c->a = a;
    c->reject = R_NONE;
    cpgo_buf_init(&c->pending, READ_BUF);
    llhttp_init(&c->parser, HTTP_REQUEST, &a->settings);
    c->parser.data = c;
    c->next = a->conns;
    if (a->conns)
        a->conns->prev = c;
    else
        a->conns_tail = c;
    a->conns = c;
    a->nconns++;
    /* the first request's header deadline runs from the accept */
    c->in_request = 1;
    c->req_start = c->idle_start = now_ms(a);
    return c;
}

static void on_refused_closed(uv_handle_t *h)
{
    struct refused *r = h->data;
    struct cpgo_admin *a = r->a;
    free(r);
    a->handles--;
    admin_maybe_finish(a);
}

static const char REFUSED_503[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                  "Server: cpgo\r\n"
                                  "Content-Type: " DEFAULT_CTYPE "\r\n"
                                  "Content-Length: 21\r\n"
                                  "Cache-Control: no-store\r\n"
                                  "X-Content-Type-Options: nosniff\r\n"
                                  "Connection: close\r\n"
                                  "\r\n"
                                  "too many connections\n";

/* Over max_connections: accept (else libuv stops watching the listener), answer 503 with
 * one non-blocking write into the fresh socket's buffer, and close. */
static void refuse(struct cpgo_admin *a, uv_stream_t *server, int out_of_memory)
{
    if (out_of_memory)
        a->st.accept_errors++;
    else
        a->st.rejected[CPGO_ADMIN_R_CONN_LIMIT]++;
    struct refused *r = calloc(1, sizeof *r);
    if (!r || uv_tcp_init(a->loop, &r->tcp)) {
        /* nothing to accept into: libuv retries the listener's pending connection later */
        free(r);
        a->st.accept_errors++;
        return;
    }
    r->a = a;
    r->tcp.data = r;
    a->handles++;
    if (!uv_accept(server, (uv_stream_t *)&r->tcp)) {
        uv_buf_t b = uv_buf_init((char *)REFUSED_503, sizeof REFUSED_503 - 1);
        uv_try_write((uv_stream_t *)&r->tcp, &b, 1);
    }
    uv_close((uv_handle_t *)&r->tcp, on_refused_closed);
}

/*
 * At the cap: closes the oldest connection that is not being answered (open with no
 * response queued: idle, fresh, or part of a request received; or lingering after an
 * error), so the new one can be served. Oldest first because a client that holds
 * connections holds its oldest ones longest, and a prober's connection is fresh. A
 * connection whose response is being written keeps its place. 0 when one was closed.
 */
static int evict_one(struct cpgo_admin *a)
{
    for (struct conn *c = a->conns_tail; c; c = c->prev) {
        if (!((c->phase == P_OPEN && !c->nwrites) || c->phase == P_LINGER)) continue;
        a->st.rejected[CPGO_ADMIN_R_EVICTED]++;
        conn_abort(c);
        return 0;
    }
    return -1;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct cpgo_admin *a = server->data;
    if (status < 0) {
        a->st.accept_errors++;
        return;
    }
    /* closing connections are gone for the cap (freed when their handles close) */
    if (a->nconns - a->nclosing >= a->lim.max_conns && evict_one(a)) {
        refuse(a, server, 0);
        return;
    }
    struct conn *c = conn_new(a);
    if (!c) {
        refuse(a, server, 1);
        return;
    }
    uv_tcp_init(a->loop, &c->tcp); /* cannot fail: no socket is created until accept */
    uv_timer_init(a->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    a->handles += 2;
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
        a->st.accept_errors++;
        conn_abort(c);
        return;
    }
    a->st.connections++;
    uv_tcp_nodelay(&c->tcp, 1); /* small responses: no Nagle delay */
    conn_read_start(c);
    conn_arm_timer(c);
}

static void admin_free(struct cpgo_admin *a)
{
    for (size_t i = 0; i < a->nroutes; i++)
        free(a->routes[i].path);
    free(a->routes);
    free(a);
}

static void admin_maybe_finish(struct cpgo_admin *a)
{
    if (!a->closing || a->handles) return;
    cpgo_admin_closed_cb cb = a->closed_cb;
    void *arg = a->closed_arg;
    admin_free(a);
    if (cb) cb(arg);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct cpgo_admin *a = h->data;
    a->handles--;
    admin_maybe_finish(a);
}

int cpgo_admin_parse_listen(const char *listen, struct sockaddr_storage *out, struct cpgo_err *err)
{
    memset(out, 0, sizeof *out);
    if (!listen || !*listen) return cpgo_err_set(err, CPGO_E_INPUT, "listen address is empty");
    char host[64];
    const char *port;
    int v6 = 0;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return cpgo_err_set(err, CPGO_E_INPUT, "listen address '%s': expected [IPv6]:port",
                                listen);
        if ((size_t)(close - listen - 1) >= sizeof host)
            return cpgo_err_set(err, CPGO_E_INPUT, "listen address '%s': host too long", listen);
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = 0;
        port = close + 2;
        v6 = 1;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon)
            return cpgo_err_set(err, CPGO_E_INPUT,
                                "listen address '%s': expected host:port or :port", listen);
        if (memchr(listen, ':', (size_t)(colon - listen)))
            return cpgo_err_set(err, CPGO_E_INPUT,
                                "listen address '%s': an IPv6 address needs brackets", listen);
        if ((size_t)(colon - listen) >= sizeof host)
            return cpgo_err_set(err, CPGO_E_INPUT, "listen address '%s': host too long", listen);
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = 0;
        port = colon + 1;
    }
    unsigned long pn = 0;
    size_t digits = strspn(port, "0123456789");
    if (!digits || port[digits] || digits > 5 || (pn = strtoul(port, NULL, 10)) > 65535)
        return cpgo_err_set(err, CPGO_E_INPUT, "listen address '%s': port must be 0..65535",
                            listen);
    if (v6) {
        struct sockaddr_in6 *sa = (struct sockaddr_in6 *)out;
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons((uint16_t)pn);
        if (inet_pton(AF_INET6, host, &sa->sin6_addr) != 1)
            return cpgo_err_set(err, CPGO_E_INPUT,
                                "listen address '%s': '%s' is not a numeric IPv6 address", listen,
                                host);
        return 0;
    }
    struct sockaddr_in *sa = (struct sockaddr_in *)out;
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)pn);
    /* the default is loopback (docs/RELIABILITY.md A1); names are never resolved */
    if (!*host || !strcmp(host, "localhost")) {
        sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return 0;
    }
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return cpgo_err_set(err, CPGO_E_INPUT,
                            "listen address '%s': '%s' is not a numeric IPv4 address or "
                            "localhost",
                            listen, host);
    return 0;
}

#define DEF(v, d) ((v) ? (v) : (d))

/* Validates the options and builds a server with no handle yet. */
static int admin_alloc(const struct cpgo_admin_opts *o, struct cpgo_admin **out,
                       struct cpgo_err *err)
{
    *out = NULL;
    if (!o) return cpgo_err_set(err, CPGO_E_USAGE, "admin: no options");
    if (o->nroutes && !o->routes) return cpgo_err_set(err, CPGO_E_USAGE, "admin: no routes");
    struct limits l = {
        .max_url = DEF(o->max_url_bytes, CPGO_ADMIN_DEFAULT_MAX_URL_BYTES),
        .max_header_bytes = DEF(o->max_header_bytes, CPGO_ADMIN_DEFAULT_MAX_HEADER_BYTES),
        .max_headers = DEF(o->max_headers, CPGO_ADMIN_DEFAULT_MAX_HEADERS),
        .max_conns = DEF(o->max_connections, CPGO_ADMIN_DEFAULT_MAX_CONNECTIONS),
        .header_to = DEF(o->header_timeout_ms, CPGO_ADMIN_DEFAULT_HEADER_TIMEOUT_MS),
        .idle_to = DEF(o->idle_timeout_ms, CPGO_ADMIN_DEFAULT_IDLE_TIMEOUT_MS),
        .write_to = DEF(o->write_timeout_ms, CPGO_ADMIN_DEFAULT_WRITE_TIMEOUT_MS),
        .max_resp = DEF(o->max_response_bytes, CPGO_ADMIN_DEFAULT_MAX_RESPONSE_BYTES),
        .max_conn_out = DEF(o->max_conn_output, CPGO_ADMIN_DEFAULT_MAX_CONN_OUTPUT),
        .max_total_out = DEF(o->max_total_output, CPGO_ADMIN_DEFAULT_MAX_TOTAL_OUTPUT),
    };
    /* bounds that keep arithmetic far from overflow (deadlines are loop time + timeout) */
    if (l.max_url > (1u << 20) || l.max_header_bytes > (64u << 20) || l.header_to > (1ull << 40) ||
        l.idle_to > (1ull << 40) || l.write_to > (1ull << 40) || l.max_resp > (1u << 30) ||
        l.max_total_out > ((size_t)1 << 40))
        return cpgo_err_set(err, CPGO_E_USAGE, "admin: a limit is out of range");
    for (size_t i = 0; i < o->nroutes; i++) {
        const struct cpgo_admin_route *r = &o->routes[i];
        if (!r->path || r->path[0] != '/' || strpbrk(r->path, "?# \t\r\n") || !r->handler ||
            strlen(r->path) > l.max_url)
            return cpgo_err_set(err, CPGO_E_USAGE, "admin: route %zu ('%s') is invalid", i,
                                r->path ? r->path : "(null)");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(o->routes[j].path, r->path))
                return cpgo_err_set(err, CPGO_E_USAGE, "admin: route '%s' appears twice", r->path);
    }
    struct cpgo_admin *a = calloc(1, sizeof *a);
    if (!a) return cpgo_err_set(err, CPGO_E_NOMEM, "admin: out of memory");
    a->lim = l;
    if (o->nroutes && !(a->routes = calloc(o->nroutes, sizeof *a->routes))) goto nomem;
    for (size_t i = 0; i < o->nroutes; i++) {
        if (!(a->routes[i].path = strdup(o->routes[i].path))) goto nomem;
        a->routes[i].handler = o->routes[i].handler;
        a->routes[i].arg = o->routes[i].arg;
        a->nroutes++;
    }
    llhttp_settings_init(&a->settings);
    a->settings.on_message_begin = on_message_begin;
    a->settings.on_url = on_url;
    a->settings.on_header_field_complete = on_header_field_complete;
    a->settings.on_headers_complete = on_headers_complete;
    a->settings.on_message_complete = on_message_complete;
    *out = a;
    return 0;
nomem:
    admin_free(a);
    return cpgo_err_set(err, CPGO_E_NOMEM, "admin: out of memory");
}

int cpgo_admin_new(uv_loop_t *loop, const struct cpgo_admin_opts *opts, struct cpgo_admin **out,
                   struct cpgo_err *err)
{
    *out = NULL;
    struct sockaddr_storage ss;
    int rc = cpgo_admin_parse_listen(opts ? opts->listen : NULL, &ss, err);
    if (rc) return rc;
    struct cpgo_admin *a;
    if ((rc = admin_alloc(opts, &a, err))) return rc;
    a->loop = loop;
    if ((rc = uv_tcp_init(loop, &a->listener))) {
        admin_free(a);
        return cpgo_err_set(err, CPGO_E_IO, "listen %s: %s", opts->listen, uv_strerror(rc));
    }
    a->listener.data = a;
    a->handles = 1;
    unsigned flags = ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
    rc = uv_tcp_bind(&a->listener, (const struct sockaddr *)&ss, flags);
    if (!rc) rc = uv_listen((uv_stream_t *)&a->listener, BACKLOG, on_connection);
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if (!rc) rc = uv_tcp_getsockname(&a->listener, (struct sockaddr *)&bound, &blen);
    if (rc) {
        cpgo_err_set(err, CPGO_E_IO, "listen %s: %s", opts->listen, uv_strerror(rc));
        a->closing = 1; /* freed by the close callback, with no callback of the caller's */
        uv_close((uv_handle_t *)&a->listener, on_listener_closed);
        return CPGO_E_IO;
    }
    a->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    *out = a;
    return 0;
}

int cpgo_admin_port(const struct cpgo_admin *a)
{
    return a->port;
}

void cpgo_admin_stats(const struct cpgo_admin *a, struct cpgo_admin_stats *out)
{
    *out = a->st;
    out->open_connections = a->nconns;
}

static void admin_collect(struct cpgo_metrics *r, void *arg)
{
    struct cpgo_admin *a = arg;
    cpgo_metric_set(a->m_open, (double)a->nconns, NULL);
    cpgo_metric_set(a->m_conns, (double)a->st.connections, NULL);
    cpgo_metric_set(a->m_requests, (double)a->st.requests, NULL);
    cpgo_metric_set(a->m_idle, (double)a->st.idle_closed, NULL);
    for (int i = 0; i < CPGO_ADMIN_R_COUNT; i++)
        cpgo_metric_set(a->m_rejected, (double)a->st.rejected[i],
                        CPGO_LABELS(cpgo_admin_reason_name((enum cpgo_admin_reason)i)));
}

int cpgo_admin_register_metrics(struct cpgo_admin *a, struct cpgo_metrics *r)
{
    a->m_open = cpgo_metric_gauge(r, "cpgo_admin_open_connections",
                                  "Connections open on the admin endpoint.", NULL);
    a->m_conns = cpgo_metric_counter(r, "cpgo_admin_connections_total",
                                     "Connections accepted by the admin endpoint.", NULL);
    a->m_requests = cpgo_metric_counter(r, "cpgo_admin_requests_total",
                                        "Requests answered by the admin endpoint.", NULL);
    a->m_idle = cpgo_metric_counter(r, "cpgo_admin_idle_closed_total",
                                    "Keep-alive connections closed after the idle timeout.", NULL);
    a->m_rejected = cpgo_metric_counter(
        r, "cpgo_admin_rejected_total",
        "Requests and connections the admin endpoint refused, by reason.", CPGO_LABELS("reason"));
    if (!a->m_open || !a->m_conns || !a->m_requests || !a->m_idle || !a->m_rejected)
        return CPGO_E_USAGE;
    if (cpgo_metrics_add_collector(r, admin_collect, a)) return CPGO_E_LIMIT;
    a->metrics = r;
    return 0;
}

int cpgo_admin_metrics_handler(const char *path, const char *query, struct cpgo_admin_resp *resp,
                               void *arg)
{
    resp->content_type = CPGO_METRICS_CONTENT_TYPE;
    return cpgo_metrics_render(arg, resp->body);
}

void cpgo_admin_close(struct cpgo_admin *a, cpgo_admin_closed_cb closed_cb, void *arg)
{
    a->closing = 1;
    a->closed_cb = closed_cb;
    a->closed_arg = arg;
    if (a->metrics) {
        cpgo_metrics_remove_collector(a->metrics, admin_collect, a);
        a->metrics = NULL;
    }
    uv_close((uv_handle_t *)&a->listener, on_listener_closed);
    for (struct conn *c = a->conns; c; c = c->next)
        conn_abort(c);
}

/* ---- fake connection (tests, fuzzing) ---------------------------------------------- */

static void fake_complete_writes(struct conn *c, int status)
{
    /* completing a write may resume parsing, which may queue more: loop until none */
    while (c->fake_head) {
        struct wreq *w = c->fake_head;
        c->fake_head = w->next;
        if (!c->fake_head) c->fake_tail = NULL;
        write_done(w, c->phase == P_CLOSING ? -1 : status);
    }
}

int cpgo_admin_feed_for_fuzz(const struct cpgo_admin_opts *opts, const void *data, size_t len,
                             size_t chunk, struct cpgo_buf *out)
{
    struct cpgo_admin *a;
    struct cpgo_err err;
    int rc = admin_alloc(opts, &a, &err);
    if (rc) return rc;
    a->fake = 1;
    a->fake_out = out;
    struct conn *c = conn_new(a);
    if (!c) {
        admin_free(a);
        return CPGO_E_NOMEM;
    }
    c->reading = 1;
    if (!chunk || chunk > READ_BUF) chunk = READ_BUF; /* a real read is at most READ_BUF */
    const char *p = data;
    size_t off = 0;
    while (c->phase != P_CLOSING) {
        int progress = 0;
        if (c->reading && off < len) {
            size_t n = len - off < chunk ? len - off : chunk;
            conn_on_data(c, p + off, n);
            off += n;
            progress = 1;
        }
        if (c->fake_head) {
            fake_complete_writes(c, 0);
            progress = 1;
        }
        if (!progress) break; /* all input read and every response written */
    }
    fake_complete_writes(c, -1); /* cancelled, as uv_close would */
    size_t responses = a->fake_responses;
    conn_free(c);
    admin_free(a);
    return (int)(responses > INT32_MAX ? INT32_MAX : responses);
}
