/*
 * http.h - the admin endpoint: a small, hardened HTTP/1.1 server on the daemon's libuv loop
 * for /metrics and status pages (docs/RELIABILITY.md, section A).
 *
 * Wiring (the daemon, with config `listen:`):
 *
 *   struct cpgo_admin_route routes[] = {
 *       {"/metrics", cpgo_admin_metrics_handler, registry},
 *       {"/healthz", healthz_cb, d},
 *   };
 *   struct cpgo_admin_opts o = {.listen = cfg->listen, .routes = routes, .nroutes = 2};
 *   if (cpgo_admin_new(loop, &o, &d->admin, &err)) ... fatal: err.text names the address
 *   cpgo_admin_register_metrics(d->admin, registry);  (optional: the server's own counters)
 *   ...
 *   cpgo_admin_close(d->admin, on_admin_closed, d);    (at shutdown, before uv_loop_close)
 *
 * Requests: GET and HEAD only (anything else 405 with "Allow: GET, HEAD"), exact path
 * match (404 otherwise), no request bodies (Content-Length > 0 or Transfer-Encoding: 413
 * and close), HTTP/1.0 and 1.1 keep-alive ("Connection: close" honoured), pipelined
 * requests answered strictly in order. The parser is llhttp with no lenient flag, behind a
 * framing check of our own that llhttp 8 does not do: bare LF line endings, obs-folded or
 * whitespace-prefixed header lines, whitespace before a colon and anything but single
 * spaces in the request line are 400 and close (request smuggling relies on parsers that
 * disagree). HTTP versions other than 1.x get 505 and close.
 *
 * Responses always carry Content-Length, Content-Type, "Cache-Control: no-store",
 * "X-Content-Type-Options: nosniff" and "Server: cpgo" (no version), and a response that
 * ends the connection says "Connection: close". Handlers run synchronously on the loop, so
 * they must be cheap: copy out numbers kept elsewhere, never compute on demand.
 *
 * Bounded (struct cpgo_admin_opts, 0 = default): request-target length (414), header
 * section bytes and header count (431), concurrent connections (at the cap, the oldest
 * connection with no request being answered is closed to make room, so idle or slowloris
 * clients cannot lock out health checks; only when every connection is busy answering does
 * the new one get 503 and close), per-connection deadlines (request headers, keep-alive idle, write
 * progress), one response body, unwritten output per connection (reading and parsing stop above it
 * and resume when the output has drained) and in total (503). Errors end the connection with a
 * lingering close (our FIN first, the client's late bytes read and dropped for a moment) so the
 * client sees the error response instead of a reset.
 *
 * Owns: the listening socket, every connection and its buffers, copies of the route paths.
 * Borrows: the loop, route args (e.g. the metrics registry) until cpgo_admin_close.
 * Thread: the loop thread only; handlers and the closed callback run on it.
 */
#ifndef CPGO_ADMIN_HTTP_H
#define CPGO_ADMIN_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "base/buf.h"
#include "base/err.h"

struct cpgo_admin;
struct cpgo_metrics;

/* What a handler fills in. Preset: 200, "text/plain; charset=utf-8", an empty body whose
 * ceiling is max_response_bytes. content_type is read as soon as the handler returns, so a
 * string that lives that long is enough; it must be printable ASCII without CR or LF.
 * status must be 200..599 and not 204 or 304 (those cannot carry Content-Length). */
struct cpgo_admin_resp {
    int status;
    const char *content_type;
    struct cpgo_buf *body;
};

/*
 * A request handler. path is the request path without query ("/metrics"), query the raw
 * query string after '?' ("" when none); neither is percent-decoded. For HEAD the handler
 * runs as for GET (so Content-Length is right) and the body is not sent. Returns 0, or
 * non-zero for an internal failure (e.g. the body hit its ceiling): the client then gets 500
 * and the body is discarded. Must not call cpgo_admin_close.
 */
typedef int (*cpgo_admin_handler_cb)(const char *path, const char *query,
                                     struct cpgo_admin_resp *resp, void *arg);

struct cpgo_admin_route {
    const char *path; /* exact match, starts with '/', copied */
    cpgo_admin_handler_cb handler;
    void *arg;
};

/* Defaults of the limits below (also what a 0 in the options means). */
#define CPGO_ADMIN_DEFAULT_MAX_URL_BYTES 2048
#define CPGO_ADMIN_DEFAULT_MAX_HEADER_BYTES (16 * 1024)
#define CPGO_ADMIN_DEFAULT_MAX_HEADERS 64
/* A connection costs about 3 KB here (its struct, the parser, a URL buffer) plus the
 * kernel's socket buffers: hundreds are cheap, and a client holding many must not starve
 * the health checks that decide whether the pod is restarted. */
#define CPGO_ADMIN_DEFAULT_MAX_CONNECTIONS 256
#define CPGO_ADMIN_DEFAULT_HEADER_TIMEOUT_MS 10000
#define CPGO_ADMIN_DEFAULT_IDLE_TIMEOUT_MS 30000
#define CPGO_ADMIN_DEFAULT_WRITE_TIMEOUT_MS 30000
#define CPGO_ADMIN_DEFAULT_MAX_RESPONSE_BYTES (16u << 20)
#define CPGO_ADMIN_DEFAULT_MAX_CONN_OUTPUT (64 * 1024)
#define CPGO_ADMIN_DEFAULT_MAX_TOTAL_OUTPUT (64u << 20)
/* After an error response: how long, and how many bytes, a lingering close reads. */
#define CPGO_ADMIN_LINGER_MS 2000
#define CPGO_ADMIN_LINGER_BYTES (256 * 1024)

struct cpgo_admin_opts {
    /* "host:port": numeric IPv4, "[IPv6]", "localhost" (= 127.0.0.1, never resolved) or
     * empty (":9090" = 127.0.0.1:9090). Port 0 picks a free port (cpgo_admin_port). */
    const char *listen;
    const struct cpgo_admin_route *routes; /* copied */
    size_t nroutes;
    size_t max_url_bytes;    /* request-target bytes; more: 414 */
    size_t max_header_bytes; /* request line + header lines; more: 431 */
    size_t max_headers;      /* header fields; more: 431 */
    /* Open connections. At the cap a new connection closes the oldest one that is not
     * being answered (idle, part of a request received, or lingering after an error);
     * when there is none, the new one gets 503 and is closed. */
    size_t max_connections;
    /* From accepting a connection (or a request's first byte) until its header section is
     * complete; a slowloris client is closed when it passes. */
    uint64_t header_timeout_ms;
    uint64_t idle_timeout_ms;  /* keep-alive: between one request and the next */
    uint64_t write_timeout_ms; /* no write progress for this long: the client is not reading */
    size_t max_response_bytes; /* one response body (a larger one from a handler: 500) */
    /* Unwritten response bytes per connection above which no further pipelined request is
     * parsed (nor read) until everything is written; a connection therefore holds at most
     * this plus one response. */
    size_t max_conn_output;
    size_t max_total_output; /* unwritten bytes over all connections; beyond: 503 */
};

/* Why a request or connection was refused (cpgo_admin_stats.rejected). */
enum cpgo_admin_reason {
    CPGO_ADMIN_R_CONN_LIMIT,        /* 503: max_connections reached, none could be evicted */
    CPGO_ADMIN_R_URL_TOO_LONG,      /* 414 */
    CPGO_ADMIN_R_HEADERS_TOO_LARGE, /* 431: bytes */
    CPGO_ADMIN_R_TOO_MANY_HEADERS,  /* 431: count */
    CPGO_ADMIN_R_BODY,              /* 413: a request with a body */
    CPGO_ADMIN_R_METHOD,            /* 405 */
    CPGO_ADMIN_R_NOT_FOUND,         /* 404 */
    CPGO_ADMIN_R_BAD_REQUEST,       /* 400, 505: malformed */
    CPGO_ADMIN_R_HEADER_TIMEOUT,    /* closed: headers not complete within header_timeout */
    CPGO_ADMIN_R_WRITE_TIMEOUT,     /* closed: responses not read within write_timeout */
    CPGO_ADMIN_R_OVERLOAD,          /* 503: max_total_output reached */
    CPGO_ADMIN_R_HANDLER,           /* 500: the handler failed */
    CPGO_ADMIN_R_EVICTED, /* closed: the oldest connection not being answered, at the cap */
    CPGO_ADMIN_R_COUNT
};

struct cpgo_admin_stats {
    uint64_t open_connections; /* now, including those in a lingering close */
    uint64_t connections;      /* accepted under the cap, since start */
    uint64_t requests;         /* complete requests answered (any status, incl. 404/405/500) */
    uint64_t idle_closed;      /* keep-alive connections closed by idle_timeout */
    uint64_t accept_errors;
    uint64_t rejected[CPGO_ADMIN_R_COUNT];
};

/* Short stable name of a reason ("url_too_long"), used as a metric label. */
const char *cpgo_admin_reason_name(enum cpgo_admin_reason r);

/*
 * Parses a listen address (the forms of opts.listen) into a socket address. 0 or
 * CPGO_E_INPUT with err naming what is wrong. For config validation as well.
 * Forms, as Go's net.Listen reads them: "127.0.0.1:9090", "localhost:9090" (loopback),
 * "0.0.0.0:9090" (every IPv4 interface), "[::1]:9090" (that IPv6 address only),
 * "[::]:9090" and ":9090" (every interface: "::" dual-stack, IPv4 through mapped
 * addresses; 0.0.0.0 where the host has no IPv6). Names are never resolved.
 */
int cpgo_admin_parse_listen(const char *listen, struct sockaddr_storage *out, struct cpgo_err *err);

/*
 * Binds and listens. 0, or CPGO_E_USAGE (bad routes, or a limit past its sanity bound:
 * URL 1 MiB, header section 64 MiB, response 1 GiB, timeouts 2^40 ms), CPGO_E_INPUT (bad
 * address), CPGO_E_IO (bind/listen: "listen 127.0.0.1:9090: address already in use"),
 * CPGO_E_NOMEM. On failure *out is NULL and nothing needs closing (a handle that was opened
 * finishes closing on the loop's next turn, so run the loop before uv_loop_close).
 */
int cpgo_admin_new(uv_loop_t *loop, const struct cpgo_admin_opts *opts, struct cpgo_admin **out,
                   struct cpgo_err *err);

/* The bound port (the one chosen by the system when the address said port 0). */
int cpgo_admin_port(const struct cpgo_admin *a);
/* The bound address ("[::]:9090", "0.0.0.0:9090", "127.0.0.1:9090") into buf; 1 when it
 * is every interface, else 0. */
int cpgo_admin_bound(const struct cpgo_admin *a, char *buf, size_t cap);

void cpgo_admin_stats(const struct cpgo_admin *a, struct cpgo_admin_stats *out);

/*
 * Stops listening and closes every connection (responses not yet written are dropped).
 * closed_cb (may be NULL) runs on the loop once every handle is closed and the server is
 * freed. a must not be used after this call.
 */
typedef void (*cpgo_admin_closed_cb)(void *arg);
void cpgo_admin_close(struct cpgo_admin *a, cpgo_admin_closed_cb closed_cb, void *arg);

/*
 * A ready-made handler for "/metrics": arg is a struct cpgo_metrics *, rendered with
 * CPGO_METRICS_CONTENT_TYPE. A registry that outgrows max_response_bytes gives 500.
 */
int cpgo_admin_metrics_handler(const char *path, const char *query, struct cpgo_admin_resp *resp,
                               void *arg);

/*
 * Registers the server's own families in r and a collector that refreshes them at each
 * render: cpgo_admin_open_connections (gauge), cpgo_admin_connections_total,
 * cpgo_admin_requests_total, cpgo_admin_idle_closed_total and
 * cpgo_admin_rejected_total{reason} (counters). The collector is removed by
 * cpgo_admin_close, so r must outlive the server. 0 or CPGO_E_USAGE (registration failed:
 * see cpgo_metrics_error) / CPGO_E_LIMIT (no collector slot).
 */
int cpgo_admin_register_metrics(struct cpgo_admin *a, struct cpgo_metrics *r);

/*
 * Testing and fuzzing only: drives one connection's logic without a loop or socket. The
 * bytes in data arrive as reads of at most `chunk` bytes (0, or more than a real read's
 * 64 KiB, means 64 KiB); opts.listen is ignored. After each read, every response written
 * so far completes and is appended to out (NULL to drop). Deadlines are not exercised and
 * no Date header is written, so the output depends only on the input. Input after the
 * connection is closed is ignored. Returns the number of responses written, or a negative
 * CPGO_E code for bad options.
 */
int cpgo_admin_feed_for_fuzz(const struct cpgo_admin_opts *opts, const void *data, size_t len,
                             size_t chunk, struct cpgo_buf *out);

#endif
