/*
 * http_int.h - what the files of the admin HTTP server share: the server's and a
 * connection's layout, and the functions one file calls in another. Not for other modules:
 * http.h is the interface.
 *
 * The server is four files, each calling only the ones listed after it, so no two call
 * each other in a circle:
 *   http.c        the public API: options and routes, listen and accept (the connection
 *                 cap: evict or refuse), the server's metrics, close, and the fake
 *                 connection that tests and the fuzzer drive.
 *   http_resp.c   answering: a complete request dispatched to its route, refusals, a
 *                 response's head, queued writes and the output ceilings; write
 *                 completion resumes parsing or ends the connection.
 *   http_parse.c  the reading side: reads, our framing check (lint) and the byte limits,
 *                 llhttp and its callbacks, pausing on output backlog, the lingering
 *                 close. A complete or refused request goes up to http_resp.c through
 *                 the server's dispatch/reject pointers, as llhttp hands requests to its
 *                 callbacks: the parser does not know how requests are answered.
 *   http_conn.c   the connection table and each connection's handles and lifetime, the
 *                 eviction choice at the cap, the deadlines (one timer per connection),
 *                 and freeing the server when its last handle has closed.
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
 * The fake mode (cpgo_admin_feed_for_fuzz) runs the same code with the socket calls
 * replaced: writes queue on the connection and complete when the driver says so, reads
 * are the driver's calls, and there are no timers.
 *
 * Thread: the loop thread only, as http.h.
 */
#ifndef CPGO_ADMIN_HTTP_INT_H
#define CPGO_ADMIN_HTTP_INT_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "admin/http.h"
#include "base/buf.h"
#include "base/list.h"

#define READ_BUF (64 * 1024) /* one read; also the ceiling of a connection's pending input */
#define HEAD_MAX 768         /* a response's status line and headers */
#define DEFAULT_CTYPE "text/plain; charset=utf-8"

#define R_NONE (-1)

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

struct conn;

struct wreq {
    uv_write_t req;
    struct conn *c;
    struct cpgo_list_node link; /* fake mode: queued until the driver completes it */
    void *owned;                /* the body, when it was malloc'd */
    const char *body;           /* NULL for HEAD and bodiless responses */
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
    struct cpgo_list_node link; /* in the server's table */
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
    struct cpgo_list fake_writes; /* struct wreq, in write order */
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
    /* A complete request, and one the parser refused (reason, status): http_resp.c's
     * cpgo_admin_conn_dispatch and cpgo_admin_conn_reject, called by http_parse.c */
    void (*dispatch)(struct conn *c);
    void (*reject)(struct conn *c, int reason, int status);
    struct cpgo_list conns; /* struct conn, oldest first; .len counts the closing too */
    size_t nclosing;        /* of those, closed and waiting for their close callbacks */
    size_t handles;         /* uv handles open: listener, connections', refused connections' */
    size_t out_total;
    cpgo_admin_closed_cb closed_cb;
    void *closed_arg;
    struct cpgo_admin_stats st;
    int port;
    char bound[64];      /* the bound address, "[::]:9090" or "127.0.0.1:9090" */
    int every_interface; /* bound to :: (dual-stack) or 0.0.0.0 */
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

static inline uint64_t cpgo_admin_now(const struct cpgo_admin *a)
{
    return a->fake ? 0 : uv_now(a->loop);
}

/* ---- the connection table, lifetime and deadlines (http_conn.c) ---------------------- */

/* A connection in the table, not yet accepted into (no handle is initialised). NULL when
 * out of memory. */
struct conn *cpgo_admin_conn_new(struct cpgo_admin *a);
/* Takes c out of the table and frees it (its handles are closed, or it is fake). */
void cpgo_admin_conn_free(struct conn *c);
/* Closes at once: queued writes are cancelled (their callbacks free them). */
void cpgo_admin_conn_abort(struct conn *c);
/* Re-arms c's timer for its nearest deadline. */
void cpgo_admin_conn_arm_timer(struct conn *c);
/* At the cap: closes the oldest connection not being answered. 0 when one was closed. */
int cpgo_admin_evict_one(struct cpgo_admin *a);
/* Frees the routes and the server. */
void cpgo_admin_free(struct cpgo_admin *a);
/* Once closing and the last handle has closed: frees the server, then calls closed_cb. */
void cpgo_admin_maybe_finish(struct cpgo_admin *a);

/* ---- the reading side (http_parse.c) --------------------------------------------------- */

/* Fills in the llhttp callbacks every connection's parser uses. */
void cpgo_admin_parse_settings(llhttp_settings_t *s);
void cpgo_admin_conn_read_start(struct conn *c);
void cpgo_admin_conn_read_stop(struct conn *c);
/* Bytes from the client (a read, or the fake driver). */
void cpgo_admin_conn_on_data(struct conn *c, const char *p, size_t len);
/* Every write has completed: parse the input kept while paused, then read again. */
void cpgo_admin_conn_resume(struct conn *c);
/* Every response is written: end the connection (the DRAIN phase is over). */
void cpgo_admin_conn_finish(struct conn *c);

/* ---- answering (http_resp.c) ------------------------------------------------------------ */

/* A complete request (llhttp paused on it): answer it. */
void cpgo_admin_conn_dispatch(struct conn *c);
/* Answers a request the parser refused, and ends the connection. */
void cpgo_admin_conn_reject(struct conn *c, int reason, int status);
/* A write has completed (status 0) or failed; frees w. */
void cpgo_admin_write_done(struct wreq *w, int status);

#endif
