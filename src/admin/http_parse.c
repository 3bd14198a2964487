/*
 * http_parse.c - the admin server's reading side (see http_int.h): reads, our framing
 * check and byte limits, llhttp, pausing while output is backed up, and the lingering
 * close after the last response. A complete request goes to the server's dispatch, a
 * refused one to its reject (both in http_resp.c); this file calls http_conn.c only.
 *
 * Each read goes first through lint() (our framing check and the byte limits) and then,
 * for the bytes lint() accepted, through llhttp. on_message_complete pauses llhttp, so
 * each llhttp_execute covers at most one request, which is dispatched before the next one
 * is parsed. When a connection has more than max_conn_output bytes of responses
 * unwritten, parsing stops (reads too) and the unparsed rest of the read is kept in
 * `pending` (at most one read buffer); parsing resumes when every write has completed.
 *
 * Thread: the loop thread only.
 */
#include "admin/http_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- framing ----------------------------------------------------------------------- */

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
                c->req_start = cpgo_admin_now(c->a);
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
            c->a->reject(c, c->reject, c->reject_status);
            return;
        }
        if (e == HPE_PAUSED) {
            /* message complete: it must end exactly where lint saw the header section end,
             * since no request may have a body */
            if (!end || llhttp_get_error_pos(&c->parser) != p + n) {
                c->a->reject(c, CPGO_ADMIN_R_BAD_REQUEST, 400);
                return;
            }
            llhttp_resume(&c->parser);
            p += n;
            len -= n;
            c->a->dispatch(c);
            continue;
        }
        if (e != HPE_OK || end) { /* malformed, or a header section llhttp did not end */
            c->a->reject(c, CPGO_ADMIN_R_BAD_REQUEST, 400);
            return;
        }
        if (lint_reason != R_NONE) {
            c->a->reject(c, lint_reason, status);
            return;
        }
        p += n;
        len -= n;
    }
    if (len > 0 && c->phase == P_OPEN && c->paused) {
        /* at most one read: reading stopped when the connection paused */
        if (cpgo_buf_append(&c->pending, p, len)) cpgo_admin_conn_abort(c);
    }
}

/* ---- reading ----------------------------------------------------------------------- */

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    *buf = uv_buf_init(c->a->read_buf, READ_BUF);
}

void cpgo_admin_conn_read_start(struct conn *c)
{
    if (c->reading || c->phase == P_CLOSING) return;
    c->reading = 1;
    if (!c->a->fake && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read))
        cpgo_admin_conn_abort(c);
}

void cpgo_admin_conn_read_stop(struct conn *c)
{
    if (!c->reading) return;
    c->reading = 0;
    if (!c->a->fake) uv_read_stop((uv_stream_t *)&c->tcp);
}

void cpgo_admin_conn_on_data(struct conn *c, const char *p, size_t len)
{
    if (c->phase == P_LINGER) {
        c->linger_bytes += len;
        if (c->linger_bytes > CPGO_ADMIN_LINGER_BYTES) cpgo_admin_conn_abort(c);
        return;
    }
    if (c->phase != P_OPEN) return;
    conn_input(c, p, len);
    cpgo_admin_conn_arm_timer(c);
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
            cpgo_admin_conn_read_stop(c);
            cpgo_admin_conn_arm_timer(c);
            return;
        }
        cpgo_admin_conn_abort(c);
        return;
    }
    if (n > 0) cpgo_admin_conn_on_data(c, buf->base, (size_t)n);
}

/* ---- the end: lingering close, and resuming after a backlog ------------------------ */

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (c->phase == P_CLOSING) return;
    if (status < 0) cpgo_admin_conn_abort(c);
}

/* Every response is written: end the connection (the DRAIN phase is over). */
void cpgo_admin_conn_finish(struct conn *c)
{
    if (c->peer_eof || c->a->fake) {
        cpgo_admin_conn_abort(c);
        return;
    }
    c->phase = P_LINGER;
    c->linger_start = cpgo_admin_now(c->a);
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown)) {
        cpgo_admin_conn_abort(c);
        return;
    }
    cpgo_admin_conn_read_start(
        c); /* to drop what the client still sends, see LINGER in http_int.h */
    cpgo_admin_conn_arm_timer(c);
}

void cpgo_admin_conn_resume(struct conn *c)
{
    c->paused = 0;
    if (c->pending.len) {
        /* take the bytes out first: parsing them may pause again and keep a new rest */
        size_t n;
        unsigned char *d = cpgo_buf_steal(&c->pending, &n);
        conn_input(c, (const char *)d, n);
        free(d);
    }
    if (c->phase == P_OPEN && !c->paused) cpgo_admin_conn_read_start(c);
}

/* ---- llhttp ------------------------------------------------------------------------ */

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

void cpgo_admin_parse_settings(llhttp_settings_t *s)
{
    llhttp_settings_init(s);
    s->on_message_begin = on_message_begin;
    s->on_url = on_url;
    s->on_header_field_complete = on_header_field_complete;
    s->on_headers_complete = on_headers_complete;
    s->on_message_complete = on_message_complete;
}
