/*
 * http_resp.c - the admin server's answers (see http_int.h): a complete request dispatched
 * to its route (or 404, 405, 500, 503), the answer to a request the parser refused, each
 * response's head, its write and the output ceilings (a connection past max_conn_output
 * pauses its parsing; past max_total_output new answers are 503). When a connection's last
 * write completes, http_parse.c resumes its parsing or ends it; this file calls
 * http_parse.c and http_conn.c only.
 *
 * Thread: the loop thread only.
 */
#include "admin/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CTYPE_MAX 200 /* a handler's content type */

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

/* ---- write completion -------------------------------------------------------------- */

void cpgo_admin_write_done(struct wreq *w, int status)
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
        cpgo_admin_conn_abort(c);
        return;
    }
    uint64_t now = cpgo_admin_now(a);
    c->write_progress = now;
    if (!c->nwrites) {
        c->idle_start = now; /* keep-alive idle counts from the last byte written */
        if (c->phase == P_DRAIN) {
            cpgo_admin_conn_finish(c);
            return;
        }
        if (c->paused) cpgo_admin_conn_resume(c);
    }
    cpgo_admin_conn_arm_timer(c);
}

static void on_write(uv_write_t *req, int status)
{
    cpgo_admin_write_done(req->data, status);
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
        cpgo_admin_conn_abort(c);
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
        cpgo_admin_conn_abort(c);
        return;
    }
    w->c = c;
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
    if (c->nwrites++ == 0) c->write_progress = cpgo_admin_now(a);
    if (close) {
        c->phase = P_DRAIN;
        cpgo_admin_conn_read_stop(c);
    }
    if (a->fake) {
        cpgo_list_push_tail(&c->fake_writes, &w->link);
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
        cpgo_admin_conn_abort(c);
    }
}

static void conn_send_text(struct conn *c, int status, const char *extra, const char *text,
                           int head, int close)
{
    conn_send(c, status, DEFAULT_CTYPE, extra, text, strlen(text), NULL, head, close);
}

#define ALLOW "Allow: GET, HEAD\r\n"

/* Answers a request the parser refused, and ends the connection. */
void cpgo_admin_conn_reject(struct conn *c, int reason, int status)
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
void cpgo_admin_conn_dispatch(struct conn *c)
{
    struct cpgo_admin *a = c->a;
    const struct limits *l = &a->lim;
    c->in_request = 0;
    c->idle_start = cpgo_admin_now(a);
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
        cpgo_admin_conn_reject(c, CPGO_ADMIN_R_BAD_REQUEST, 400);
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
        cpgo_admin_conn_read_stop(c);
    }
}
