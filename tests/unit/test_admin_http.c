/* Unit tests for admin/http: a real server on 127.0.0.1, port 0, on a private libuv loop
 * (main thread), and real client sockets on a second thread that speak raw HTTP. The client
 * reads server counters through a /stats route, so they are read on the loop thread. Each
 * run ends with every handle closed (uv_loop_close == 0). Also the fake connection
 * (cpgo_admin_feed_for_fuzz): same bytes in, same bytes out, however the input is split. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin/http.h"
#include "admin/metrics.h"
#include "check.h"

/* ---- server harness ---------------------------------------------------------------- */

struct server {
    uv_loop_t loop;
    uv_async_t done;
    struct cpgo_admin *admin;
    struct cpgo_metrics *metrics;
    struct cpgo_admin_stats st; /* when the client finished */
    int port;
    int closed;
    size_t big; /* /big body size */
    void (*client)(struct server *);
};

static void on_closed(void *arg)
{
    struct server *s = arg;
    s->closed = 1;
}

static void on_done(uv_async_t *h)
{
    struct server *s = h->data;
    cpgo_admin_stats(s->admin, &s->st);
    cpgo_admin_close(s->admin, on_closed, s);
    uv_close((uv_handle_t *)&s->done, NULL);
}

static void *client_main(void *arg)
{
    struct server *s = arg;
    s->client(s);
    uv_async_send(&s->done);
    return NULL;
}

static int h_hello(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    return cpgo_buf_append(r->body, "hello\n", 6);
}

static int h_query(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    char line[512];
    int n = snprintf(line, sizeof line, "path=%s query=%s", path, query);
    r->content_type = "text/x-echo";
    return cpgo_buf_append(r->body, line, (size_t)n);
}

static int h_stats(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    struct server *s = arg;
    struct cpgo_admin_stats st;
    cpgo_admin_stats(s->admin, &st);
    char line[1024];
    int n = snprintf(line, sizeof line, "open=%llu conns=%llu requests=%llu idle=%llu",
                     (unsigned long long)st.open_connections, (unsigned long long)st.connections,
                     (unsigned long long)st.requests, (unsigned long long)st.idle_closed);
    for (int i = 0; i < CPGO_ADMIN_R_COUNT; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %s=%llu",
                      cpgo_admin_reason_name((enum cpgo_admin_reason)i),
                      (unsigned long long)st.rejected[i]);
    return cpgo_buf_append(r->body, line, (size_t)n);
}

/* A large body with a position-dependent pattern, so reordering or loss shows. */
static int h_big(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    struct server *s = arg;
    size_t n = strncmp(query, "n=", 2) ? s->big : strtoul(query + 2, NULL, 10);
    int rc = cpgo_buf_reserve(r->body, n);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++)
        r->body->data[i] = (unsigned char)('a' + (i * 7) % 26);
    r->body->len = n;
    r->content_type = "application/octet-stream";
    return 0;
}

static int h_fail(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    cpgo_buf_append(r->body, "partial", 7);
    return -1;
}

static int h_badtype(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    r->content_type = "text/plain\r\nX-Injected: 1";
    return 0;
}

static int h_teapot(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    r->status = 418;
    return cpgo_buf_append(r->body, "short and stout\n", 16);
}

static void run(struct cpgo_admin_opts *o, void (*client)(struct server *), struct server *s)
{
    struct cpgo_admin_route routes[] = {
        {"/hello", h_hello, s},   {"/query", h_query, s},
        {"/stats", h_stats, s},   {"/big", h_big, s},
        {"/fail", h_fail, s},     {"/badtype", h_badtype, s},
        {"/teapot", h_teapot, s}, {"/metrics", cpgo_admin_metrics_handler, NULL},
    };
    s->metrics = cpgo_metrics_new(0);
    routes[7].arg = s->metrics;
    o->routes = routes;
    o->nroutes = sizeof routes / sizeof routes[0];
    if (!o->listen) o->listen = "127.0.0.1:0";
    s->client = client;
    CHECK_EQ_INT(uv_loop_init(&s->loop), 0);
    uv_async_init(&s->loop, &s->done, on_done);
    s->done.data = s;
    struct cpgo_err err = {0};
    int rc = cpgo_admin_new(&s->loop, o, &s->admin, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "  cpgo_admin_new: %s\n", err.text);
        exit(1);
    }
    CHECK_EQ_INT(cpgo_admin_register_metrics(s->admin, s->metrics), 0);
    s->port = cpgo_admin_port(s->admin);
    CHECK(s->port > 0);
    pthread_t t;
    pthread_create(&t, NULL, client_main, s);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    pthread_join(t, NULL);
    CHECK(s->closed);
    CHECK_EQ_INT(uv_loop_close(&s->loop), 0);
    cpgo_metrics_free(s->metrics);
}

/* ---- client helpers (blocking sockets on the client thread) ------------------------ */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct cli {
    int fd;
    char *buf;
    size_t len, cap;
};

static void cli_open_rcvbuf(struct cli *c, int port, int rcvbuf)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf) setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {5, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ_INT(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
}

static void cli_open(struct cli *c, int port)
{
    cli_open_rcvbuf(c, port, 0);
}

static void cli_close(struct cli *c)
{
    close(c->fd);
    free(c->buf);
    c->buf = NULL;
}

static void cli_send_n(struct cli *c, const char *s, size_t n)
{
    while (n) {
        ssize_t k = send(c->fd, s, n, MSG_NOSIGNAL);
        if (k <= 0) return; /* the server may have closed: the read shows it */
        s += k;
        n -= (size_t)k;
    }
}

static void cli_send(struct cli *c, const char *s)
{
    cli_send_n(c, s, strlen(s));
}

/* Reads more bytes into c->buf: > 0, 0 at EOF, < 0 on error or timeout. */
static ssize_t cli_fill(struct cli *c)
{
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t k = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
    if (k > 0) c->len += (size_t)k;
    return k;
}

struct resp {
    int status;
    char head[4096];
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
};

static const char *hdr(const struct resp *r, const char *name)
{
    static _Thread_local char val[512];
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ')
                v++;
            size_t l = strcspn(v, "\r");
            if (l >= sizeof val) l = sizeof val - 1;
            memcpy(val, v, l);
            val[l] = 0;
            return val;
        }
    }
    return NULL;
}

/* One response (no body for a HEAD request). 0, or -1 at EOF/reset/timeout. */
static int cli_resp(struct cli *c, int head_request, struct resp *r)
{
    memset(r, 0, sizeof *r);
    char *end;
    while (!(c->buf && (c->buf[c->len] = 0, end = strstr(c->buf, "\r\n\r\n"))))
        if (cli_fill(c) <= 0) return -1;
    size_t hl = (size_t)(end - c->buf) + 4;
    if (hl >= sizeof r->head) return -1;
    memcpy(r->head, c->buf, hl);
    r->head[hl] = 0;
    if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1) return -1;
    const char *cl = hdr(r, "Content-Length");
    size_t blen = cl ? strtoul(cl, NULL, 10) : 0;
    if (head_request) blen = 0;
    while (c->len < hl + blen)
        if (cli_fill(c) <= 0) return -1;
    r->body = malloc(blen + 1);
    memcpy(r->body, c->buf + hl, blen);
    r->body[blen] = 0;
    r->body_len = blen;
    memmove(c->buf, c->buf + hl + blen, c->len - hl - blen);
    c->len -= hl + blen;
    return 0;
}

/* Sends one request and reads its response; returns the status (-1: none). */
static int cli_req(struct cli *c, const char *req, struct resp *r)
{
    cli_send(c, req);
    int rc = cli_resp(c, !strncmp(req, "HEAD ", 5), r);
    return rc ? -1 : r->status;
}

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* 1 when the server closed the connection (EOF or reset) with nothing more to read. */
static int cli_eof(struct cli *c)
{
    if (c->len) return 0;
    char b[256];
    ssize_t k = recv(c->fd, b, sizeof b, 0);
    return k == 0 || (k < 0 && errno == ECONNRESET);
}

/* Milliseconds until the server closes the connection, reading and dropping anything; -1
 * after limit_ms. */
static long cli_wait_close(struct cli *c, uint64_t t0, uint64_t limit_ms)
{
    for (;;) {
        struct pollfd p = {c->fd, POLLIN, 0};
        uint64_t now = mono_ms();
        if (now - t0 > limit_ms) return -1;
        if (poll(&p, 1, 20) > 0) {
            char b[4096];
            ssize_t k = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
            if (k == 0 || (k < 0 && errno == ECONNRESET)) return (long)(mono_ms() - t0);
        }
    }
}

/* The counter `key` from /stats (on a fresh connection). */
static long stat_of(struct server *s, const char *key)
{
    struct cli c;
    struct resp r;
    cli_open(&c, s->port);
    long v = -1;
    if (cli_req(&c, "GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r) == 200) {
        char pat[64];
        snprintf(pat, sizeof pat, "%s=", key);
        const char *p = strstr(r.body, pat);
        if (p && (p == r.body || p[-1] == ' ')) v = strtol(p + strlen(pat), NULL, 10);
    }
    resp_free(&r);
    cli_close(&c);
    return v;
}

/* Every response carries these. */
static void check_common(const struct resp *r)
{
    CHECK(hdr(r, "Content-Length") != NULL);
    CHECK(hdr(r, "Content-Type") != NULL);
    CHECK(hdr(r, "Cache-Control") && !strcmp(hdr(r, "Cache-Control"), "no-store"));
    CHECK(hdr(r, "Server") && !strcmp(hdr(r, "Server"), "cpgo"));
}

/* Sends req on a fresh connection; expects status and then the connection closed. */
static void expect_reject(struct server *s, const char *req, size_t len, int status)
{
    struct cli c;
    struct resp r;
    cli_open(&c, s->port);
    cli_send_n(&c, req, len);
    int got = cli_resp(&c, 0, &r) ? -1 : r.status;
    CHECK_EQ_INT(got, status);
    if (got != status) fprintf(stderr, "  request: %.80s\n", req);
    if (got > 0) {
        check_common(&r);
        CHECK(hdr(&r, "Connection") && !strcmp(hdr(&r, "Connection"), "close"));
        CHECK(cli_eof(&c));
    }
    resp_free(&r);
    cli_close(&c);
}

/* ---- the basic server -------------------------------------------------------------- */

static void client_basic(struct server *s)
{
    struct cli c;
    struct resp r;

    /* 200, the headers every response has, keep-alive by default in 1.1 */
    cli_open(&c, s->port);
    CHECK_EQ_INT(cli_req(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    check_common(&r);
    CHECK(!strcmp(r.body, "hello\n"));
    CHECK(!strcmp(hdr(&r, "Content-Length"), "6"));
    CHECK(!strcmp(hdr(&r, "Content-Type"), "text/plain; charset=utf-8"));
    CHECK(!strcmp(hdr(&r, "X-Content-Type-Options"), "nosniff"));
    CHECK(hdr(&r, "Date") != NULL);
    CHECK(hdr(&r, "Connection") == NULL);
    CHECK(!strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17));
    resp_free(&r);
    /* 404 and keep-alive: the same connection goes on */
    CHECK_EQ_INT(cli_req(&c, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", &r), 404);
    check_common(&r);
    CHECK(!strcmp(r.body, "not found\n"));
    resp_free(&r);
    /* path and query reach the handler raw; a fragment is dropped */
    CHECK_EQ_INT(cli_req(&c, "GET /query?a=1&b=%20#frag HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK(!strcmp(r.body, "path=/query query=a=1&b=%20"));
    CHECK(!strcmp(hdr(&r, "Content-Type"), "text/x-echo"));
    resp_free(&r);
    CHECK_EQ_INT(cli_req(&c, "GET /query HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK(!strcmp(r.body, "path=/query query="));
    resp_free(&r);
    /* absolute-form */
    CHECK_EQ_INT(cli_req(&c, "GET http://x:1/query?z HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK(!strcmp(r.body, "path=/query query=z"));
    resp_free(&r);
    /* HEAD: GET's headers, no body (the GET that follows is read intact) */
    CHECK_EQ_INT(cli_req(&c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK(!strcmp(hdr(&r, "Content-Length"), "6"));
    CHECK_EQ_INT(r.body_len, 0);
    resp_free(&r);
    CHECK_EQ_INT(cli_req(&c, "HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n", &r), 404);
    CHECK(!strcmp(hdr(&r, "Content-Length"), "10"));
    resp_free(&r);
    CHECK_EQ_INT(cli_req(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK(!strcmp(r.body, "hello\n"));
    resp_free(&r);
    /* 405 with Allow; without a body the connection stays open */
    CHECK_EQ_INT(cli_req(&c, "POST /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 405);
    check_common(&r);
    CHECK(hdr(&r, "Allow") && !strcmp(hdr(&r, "Allow"), "GET, HEAD"));
    resp_free(&r);
    CHECK_EQ_INT(cli_req(&c, "DELETE /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r),
                 405);
    CHECK(hdr(&r, "Allow") != NULL);
    resp_free(&r);
    CHECK_EQ_INT(cli_req(&c, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", &r), 405);
    resp_free(&r);
    /* a handler's own status; a failing handler gives 500; a bad content type too */
    CHECK_EQ_INT(cli_req(&c, "GET /teapot HTTP/1.1\r\nHost: x\r\n\r\n", &r), 418);
    CHECK(!strcmp(r.body, "short and stout\n"));
    resp_free(&r);
    CHECK_EQ_INT(cli_req(&c, "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n", &r), 500);
    CHECK(!strstr(r.body, "partial"));
    resp_free(&r);
    CHECK_EQ_INT(cli_req(&c, "GET /badtype HTTP/1.1\r\nHost: x\r\n\r\n", &r), 500);
    CHECK(!strstr(r.head, "X-Injected"));
    resp_free(&r);
    /* Content-Length: 0 is not a body */
    CHECK_EQ_INT(cli_req(&c, "GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r),
                 200);
    resp_free(&r);
    /* leading empty lines between requests are ignored (RFC 9112 2.2) */
    CHECK_EQ_INT(cli_req(&c, "\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    resp_free(&r);
    /* Connection: close is honoured */
    CHECK_EQ_INT(cli_req(&c, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r),
                 200);
    CHECK(hdr(&r, "Connection") && !strcmp(hdr(&r, "Connection"), "close"));
    resp_free(&r);
    CHECK(cli_eof(&c));
    cli_close(&c);

    /* HTTP/1.0: closes by default, keeps alive when asked (and says so) */
    cli_open(&c, s->port);
    CHECK_EQ_INT(cli_req(&c, "GET /hello HTTP/1.0\r\n\r\n", &r), 200);
    CHECK(!strcmp(r.body, "hello\n"));
    CHECK(hdr(&r, "Connection") && !strcmp(hdr(&r, "Connection"), "close"));
    resp_free(&r);
    CHECK(cli_eof(&c));
    cli_close(&c);
    cli_open(&c, s->port);
    CHECK_EQ_INT(cli_req(&c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r), 200);
    CHECK(hdr(&r, "Connection") && !strcmp(hdr(&r, "Connection"), "keep-alive"));
    resp_free(&r);
    CHECK_EQ_INT(cli_req(&c, "GET /query?second HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r),
                 200);
    CHECK(!strcmp(r.body, "path=/query query=second"));
    resp_free(&r);
    CHECK_EQ_INT(cli_req(&c, "GET /hello HTTP/1.0\r\n\r\n", &r), 200);
    resp_free(&r);
    CHECK(cli_eof(&c));
    cli_close(&c);

    /* pipelining: three requests in one write, answered in order */
    cli_open(&c, s->port);
    cli_send(&c, "GET /query?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /query?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /query?n=3 HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 1; i <= 3; i++) {
        char want[64];
        snprintf(want, sizeof want, "path=/query query=n=%d", i);
        CHECK_EQ_INT(cli_resp(&c, 0, &r), 0);
        CHECK_EQ_INT(r.status, 200);
        CHECK(r.body && !strcmp(r.body, want));
        resp_free(&r);
    }
    /* mixed: HEAD, 404, 405, then a close that ends the pipeline (the 5th is never answered) */
    cli_send(&c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                 "PUT /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /query?last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                 "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_EQ_INT(cli_resp(&c, 1, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    CHECK_EQ_INT(cli_resp(&c, 0, &r), 0);
    CHECK_EQ_INT(r.status, 404);
    resp_free(&r);
    CHECK_EQ_INT(cli_resp(&c, 0, &r), 0);
    CHECK_EQ_INT(r.status, 405);
    resp_free(&r);
    CHECK_EQ_INT(cli_resp(&c, 0, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(r.body && !strcmp(r.body, "path=/query query=last"));
    resp_free(&r);
    CHECK(cli_eof(&c));
    cli_close(&c);

    /* a request split into single bytes still parses */
    cli_open(&c, s->port);
    const char *slow = "GET /query?split HTTP/1.1\r\nHost: x\r\n\r\n";
    for (const char *p = slow; *p; p++)
        cli_send_n(&c, p, 1);
    CHECK_EQ_INT(cli_resp(&c, 0, &r), 0);
    CHECK(r.body && !strcmp(r.body, "path=/query query=split"));
    resp_free(&r);
    /* a client that half-closes after its request still gets the answer */
    cli_send(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    shutdown(c.fd, SHUT_WR);
    CHECK_EQ_INT(cli_resp(&c, 0, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    CHECK(cli_eof(&c));
    cli_close(&c);

    /* ... also one over the output ceiling (reading stopped: the end is seen later) */
    cli_open(&c, s->port);
    cli_send(&c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    shutdown(c.fd, SHUT_WR);
    CHECK_EQ_INT(cli_resp(&c, 0, &r), 0);
    CHECK_EQ_INT(r.body_len, s->big);
    resp_free(&r);
    CHECK(cli_eof(&c));
    cli_close(&c);

    /* lingering close: after an error response, what the client still sends is read and
     * dropped, so the client reads the response and the end instead of a reset */
    cli_open(&c, s->port);
    CHECK_EQ_INT(cli_req(&c, "BAD\r\n\r\n", &r), 400);
    resp_free(&r);
    for (int i = 0; i < 10; i++)
        cli_send(&c, "more bytes the server drops\r\n");
    CHECK(cli_eof(&c));
    cli_close(&c);
    /* ... but not without end: past CPGO_ADMIN_LINGER_BYTES the server cuts it off */
    cli_open(&c, s->port);
    CHECK_EQ_INT(cli_req(&c, "BAD\r\n\r\n", &r), 400);
    resp_free(&r);
    {
        char *junk = malloc(CPGO_ADMIN_LINGER_BYTES + 65536);
        memset(junk, 'j', CPGO_ADMIN_LINGER_BYTES + 65536);
        cli_send_n(&c, junk, CPGO_ADMIN_LINGER_BYTES + 65536); /* stops at the reset */
        free(junk);
    }
    CHECK(cli_eof(&c));
    cli_close(&c);

    /* limits: 414, 431 (bytes), 431 (count); each closes */
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "GET /%0300d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    expect_reject(s, buf, (size_t)n, 414);
    snprintf(buf, sizeof buf, "GET /%0250d HTTP/1.1\r\nHost: x\r\n\r\n", 0); /* 251: fine */
    {
        struct cli c2;
        cli_open(&c2, s->port);
        CHECK_EQ_INT(cli_req(&c2, buf, &r), 404);
        resp_free(&r);
        cli_close(&c2);
    }
    n = snprintf(buf, sizeof buf, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: %01100d\r\n\r\n", 0);
    expect_reject(s, buf, (size_t)n, 431);
    n = snprintf(buf, sizeof buf, "GET /hello HTTP/1.1\r\n");
    for (int i = 0; i < 11; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "X-%d: v\r\n", i);
    n += snprintf(buf + n, sizeof buf - (size_t)n, "\r\n");
    expect_reject(s, buf, (size_t)n, 431);
    /* ten headers are fine */
    n = snprintf(buf, sizeof buf, "GET /hello HTTP/1.1\r\n");
    for (int i = 0; i < 10; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "X-%d: v\r\n", i);
    n += snprintf(buf + n, sizeof buf - (size_t)n, "Connection: close\r\n\r\n");
    expect_reject(s, buf, (size_t)n, 431); /* 11 with Connection */
    n = snprintf(buf, sizeof buf, "GET /hello HTTP/1.1\r\n");
    for (int i = 0; i < 9; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "X-%d: v\r\n", i);
    n += snprintf(buf + n, sizeof buf - (size_t)n, "Connection: close\r\n\r\n");
    expect_reject(s, buf, (size_t)n, 200);

    /* bodies: refused and the connection closed */
    const char *body_cl = "GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    expect_reject(s, body_cl, strlen(body_cl), 413);
    const char *body_te = "GET /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                          "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    expect_reject(s, body_te, strlen(body_te), 413);
    const char *post_body = "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    expect_reject(s, post_body, strlen(post_body), 405);

    /* malformed: 400 (or 505) and close */
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\n\n",          /* bare LF */
        "GET / HTTP/1.1\r\nHost: x\r\n\n",      /* bare LF ending the headers */
        "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", /* obs-fold */
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",   /* space before the colon */
        "GET  / HTTP/1.1\r\n\r\n",              /* two spaces */
        "GET / HTTP/1.1 \r\n\r\n",              /* trailing space */
        "GET /\r\n\r\n",                        /* HTTP/0.9 */
        "GET / HTTP/1.2\r\n\r\n",               /* no such version */
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS client hello */
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        "\n",
        ": x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_reject(s, bad[i], strlen(bad[i]), 400);
    expect_reject(s, "GET / HTTP/2.0\r\n\r\n", 18, 505);

    /* large responses, pipelined: reading pauses above the per-connection output ceiling
     * and resumes once drained; every byte arrives, in order */
    cli_open(&c, s->port);
    cli_send(&c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /query?mid HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /big HTTP/1.1\r\nHost: x\r\n\r\nHEAD /big HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    int heads[] = {0, 0, 0, 1, 0};
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(cli_resp(&c, heads[i], &r), 0);
        CHECK_EQ_INT(r.status, 200);
        if (i == 1) {
            CHECK(r.body && !strcmp(r.body, "path=/query query=mid"));
        } else if (i == 3) {
            CHECK_EQ_INT(strtoul(hdr(&r, "Content-Length"), NULL, 10), s->big);
        } else {
            CHECK_EQ_INT(r.body_len, s->big);
            size_t wrong = 0;
            for (size_t k = 0; r.body && k < r.body_len; k++)
                if (r.body[k] != (char)('a' + (k * 7) % 26)) wrong++;
            CHECK_EQ_INT(wrong, 0);
        }
        resp_free(&r);
    }
    CHECK(cli_eof(&c));
    cli_close(&c);

    /* earlier connections are all closed once the server has seen the clients' closes */
    uint64_t t0 = mono_ms();
    long open = -1;
    while (mono_ms() - t0 < 3000 && (open = stat_of(s, "open")) != 1)
        usleep(10000);
    CHECK_EQ_INT(open, 1); /* /stats' own */

    /* /metrics from the registry, with the server's own families */
    cli_open(&c, s->port);
    CHECK_EQ_INT(cli_req(&c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    CHECK(!strcmp(hdr(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8"));
    CHECK_STR_CONTAINS(r.body, "# TYPE cpgo_admin_requests_total counter\n");
    CHECK_STR_CONTAINS(r.body, "cpgo_admin_rejected_total{reason=\"url_too_long\"} 1\n");
    CHECK_STR_CONTAINS(r.body,
                       "# TYPE cpgo_admin_open_connections gauge\ncpgo_admin_open_connections ");
    resp_free(&r);
    /* open connections as the server counts them: this one and two more (a lingering
     * /stats connection from above may take a moment to go) */
    struct cli more[2];
    for (int i = 0; i < 2; i++) {
        cli_open(&more[i], s->port);
        CHECK_EQ_INT(cli_req(&more[i], "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
        resp_free(&r);
    }
    t0 = mono_ms();
    int three = 0;
    while (!three && mono_ms() - t0 < 3000) {
        CHECK_EQ_INT(cli_req(&c, "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
        three = r.body && !strncmp(r.body, "open=3 ", 7);
        resp_free(&r);
        if (!three) usleep(10000);
    }
    CHECK(three);
    for (int i = 0; i < 2; i++)
        cli_close(&more[i]);
    cli_close(&c);
}

static void test_basic(void)
{
    struct server s = {.big = 1 << 20};
    struct cpgo_admin_opts o = {
        .max_url_bytes = 256,
        .max_header_bytes = 1024,
        .max_headers = 10,
    };
    run(&o, client_basic, &s);
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_URL_TOO_LONG], 1);
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_HEADERS_TOO_LARGE], 1);
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_TOO_MANY_HEADERS], 2);
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_BODY], 2);
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_METHOD], 5); /* POST, DELETE, OPTIONS, PUT, POST */
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_BAD_REQUEST], 21);
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_HANDLER], 2);
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_CONN_LIMIT], 0);
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_HEADER_TIMEOUT], 0);
    CHECK(s.st.requests > 40);
    CHECK_EQ_INT(s.st.accept_errors, 0);
}

/* ---- deadlines --------------------------------------------------------------------- */

static void client_deadlines(struct server *s)
{
    struct cli c;
    struct resp r;

    /* slowloris: one byte every 50 ms never finishes its headers in 300 ms */
    cli_open(&c, s->port);
    const char *req =
        "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    uint64_t t0 = mono_ms();
    long closed_after = -1;
    for (const char *p = req; *p && closed_after < 0; p++) {
        cli_send_n(&c, p, 1);
        struct pollfd pf = {c.fd, POLLIN, 0};
        if (poll(&pf, 1, 50) > 0) {
            char b[256];
            ssize_t k = recv(c.fd, b, sizeof b, MSG_DONTWAIT);
            if (k == 0 || (k < 0 && errno == ECONNRESET)) closed_after = (long)(mono_ms() - t0);
        }
    }
    CHECK(closed_after >= 200 && closed_after < 2000);
    if (closed_after < 200 || closed_after >= 2000)
        fprintf(stderr, "  slowloris closed after %ld ms\n", closed_after);
    cli_close(&c);

    /* a connection that never says anything */
    cli_open(&c, s->port);
    long ms = cli_wait_close(&c, mono_ms(), 3000);
    CHECK(ms >= 200 && ms < 2000);
    cli_close(&c);

    /* keep-alive idle: closed idle_timeout after the last response */
    cli_open(&c, s->port);
    CHECK_EQ_INT(cli_req(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    resp_free(&r);
    t0 = mono_ms();
    /* a lone CRLF between requests does not restart anything */
    cli_send(&c, "\r\n");
    ms = cli_wait_close(&c, t0, 3000);
    CHECK(ms >= 400 && ms < 2500);
    if (ms < 400 || ms >= 2500) fprintf(stderr, "  idle close after %ld ms\n", ms);
    cli_close(&c);

    /* a request that is slow but within the deadline is answered */
    cli_open(&c, s->port);
    cli_send(&c, "GET /hello HTTP/1.1\r\n");
    usleep(100000);
    cli_send(&c, "Host: x\r\n\r\n");
    CHECK_EQ_INT(cli_resp(&c, 0, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    /* the header deadline of the next request starts at its first byte, not at the end of
     * the previous one */
    usleep(400000);
    CHECK_EQ_INT(cli_req(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    resp_free(&r);
    cli_close(&c);

    CHECK_EQ_INT(stat_of(s, "header_timeout"), 2);
    CHECK_EQ_INT(stat_of(s, "idle"), 1);
}

static void test_deadlines(void)
{
    struct server s = {.big = 16};
    struct cpgo_admin_opts o = {.header_timeout_ms = 300, .idle_timeout_ms = 600};
    run(&o, client_deadlines, &s);
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_HEADER_TIMEOUT], 2);
    CHECK_EQ_INT(s.st.idle_closed, 1);
}

/* A client that asks for a large response and never reads it. */
static void client_write_timeout(struct server *s)
{
    struct cli c;
    cli_open_rcvbuf(&c, s->port, 4096);
    cli_send(&c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    uint64_t t0 = mono_ms();
    long n = 0;
    while (mono_ms() - t0 < 5000 && (n = stat_of(s, "write_timeout")) < 1)
        usleep(20000);
    CHECK_EQ_INT(n, 1);
    CHECK(mono_ms() - t0 >= 250);
    /* the connection is gone: reading finds its end after the partial response */
    CHECK(cli_wait_close(&c, mono_ms(), 3000) >= 0);
    cli_close(&c);
    t0 = mono_ms();
    while (mono_ms() - t0 < 3000 && (n = stat_of(s, "open")) != 1)
        usleep(10000);
    CHECK_EQ_INT(n, 1); /* /stats' own */
}

static void test_write_timeout(void)
{
    /* 32 MiB: more than any socket buffers take, even tuned ones */
    struct server s = {.big = 32 << 20};
    struct cpgo_admin_opts o = {.write_timeout_ms = 300, .max_response_bytes = 64 << 20};
    run(&o, client_write_timeout, &s);
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_WRITE_TIMEOUT], 1);
}

/* ---- connection cap ---------------------------------------------------------------- */

/* At the cap a new connection closes the oldest one that is not being answered (idle after
 * a response, or with part of a request), so a client holding connections cannot lock
 * others out; connections whose response is being written keep their place; only when
 * every one is being answered does the new one get 503. */
static void client_cap(struct server *s)
{
    struct cli c[3], d, e, f;
    struct resp r;
    for (int i = 0; i < 2; i++) { /* c0, c1: idle keep-alive connections */
        cli_open(&c[i], s->port);
        CHECK_EQ_INT(cli_req(&c[i], "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
        resp_free(&r);
    }
    cli_open(&c[2], s->port); /* c2: a request that never completes (slowloris) */
    cli_send(&c[2], "GET /hel");
    /* the fourth gets in; the oldest, c0, is closed for it */
    cli_open(&d, s->port);
    CHECK_EQ_INT(cli_req(&d, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    resp_free(&r);
    CHECK(cli_eof(&c[0]));
    CHECK_EQ_INT(cli_req(&c[1], "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    resp_free(&r);
    /* then c1 (older than c2, though used since), then c2 with its partial request */
    cli_open(&e, s->port);
    CHECK_EQ_INT(cli_req(&e, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    resp_free(&r);
    CHECK(cli_eof(&c[1]));
    cli_open(&f, s->port);
    CHECK_EQ_INT(cli_req(&f, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    resp_free(&r);
    CHECK(cli_eof(&c[2]));
    for (int i = 0; i < 3; i++)
        cli_close(&c[i]);
    cli_close(&d);
    cli_close(&e);
    cli_close(&f);
    /* wait until the server has seen those closes */
    uint64_t t0 = mono_ms();
    long n = -1;
    while (mono_ms() - t0 < 3000 && (n = stat_of(s, "open")) != 1)
        usleep(10000);
    CHECK_EQ_INT(n, 1);

    /* three slow readers whose responses are being written fill the cap: none is evicted,
     * the next connection is refused, and each slow reader still gets its whole body */
    struct cli b[3], g;
    for (int i = 0; i < 3; i++) {
        cli_open_rcvbuf(&b[i], s->port, 4096);
        cli_send(&b[i], "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(cli_fill(&b[i]) > 0); /* the response has started */
    }
    cli_open(&g, s->port);
    CHECK_EQ_INT(cli_resp(&g, 0, &r), 0);
    CHECK_EQ_INT(r.status, 503);
    check_common(&r);
    CHECK(!strcmp(r.body, "too many connections\n"));
    resp_free(&r);
    CHECK(cli_eof(&g));
    cli_close(&g);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(cli_resp(&b[i], 0, &r), 0);
        CHECK_EQ_INT(r.body_len, s->big);
        resp_free(&r);
    }
    /* now they are idle: a new connection evicts the oldest of them */
    cli_open(&g, s->port);
    CHECK_EQ_INT(cli_req(&g, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
    resp_free(&r);
    CHECK(cli_eof(&b[0]));
    cli_close(&g);
    for (int i = 0; i < 3; i++)
        cli_close(&b[i]);
}

static void test_cap(void)
{
    struct server s = {.big = 16 << 20};
    struct cpgo_admin_opts o = {.max_connections = 3, .max_response_bytes = 64 << 20};
    run(&o, client_cap, &s);
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_CONN_LIMIT], 1);
    CHECK(s.st.rejected[CPGO_ADMIN_R_EVICTED] >= 4);
}

/* ---- total output budget ------------------------------------------------------------ */

static void client_overload(struct server *s)
{
    struct cli c, d;
    struct resp r;
    /* c asks for 32 MiB (more than the socket buffers hold) and does not read: the rest
     * waits in the server */
    cli_open(&c, s->port);
    cli_send(&c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    /* Until the server has read c's request, d's is served in full (200): asked again, not
     * timed, so a slow machine (ThreadSanitizer beside other work) only takes more tries. */
    int code = 0;
    for (int i = 0; i < 100 && code != 503; i++) {
        usleep(100000);
        cli_open(&d, s->port);
        code = cli_req(&d, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", &r);
        if (code == 503) CHECK(hdr(&r, "Connection") && !strcmp(hdr(&r, "Connection"), "close"));
        resp_free(&r);
        cli_close(&d);
    }
    CHECK_EQ_INT(code, 503);
    cli_open(&d, s->port);
    CHECK_EQ_INT(cli_req(&d, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200); /* small: ok */
    resp_free(&r);
    cli_close(&d);
    CHECK_EQ_INT(cli_resp(&c, 0, &r), 0); /* the first client still gets all of it */
    CHECK_EQ_INT(r.body_len, s->big);
    resp_free(&r);
    cli_close(&c);
}

static void test_overload(void)
{
    struct server s = {.big = 32 << 20};
    struct cpgo_admin_opts o = {.max_total_output = (32 << 20) + 500,
                                .max_response_bytes = 64 << 20};
    run(&o, client_overload, &s);
    CHECK_EQ_INT(s.st.rejected[CPGO_ADMIN_R_OVERLOAD], 1);
}

/* ---- a half-close while the response is being written ------------------------------ */

static void client_half_close(struct server *s)
{
    struct cli c;
    struct resp r;
    /* 32 MiB to a client that waits before reading: the write is in progress when the server reads
     * the client's end (no output ceiling stops its reading here), and still completes */
    cli_open(&c, s->port);
    cli_send(&c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    shutdown(c.fd, SHUT_WR);
    usleep(200000);
    CHECK_EQ_INT(cli_resp(&c, 0, &r), 0);
    CHECK_EQ_INT(r.body_len, s->big);
    resp_free(&r);
    CHECK(cli_eof(&c));
    cli_close(&c);
}

static void test_half_close(void)
{
    struct server s = {.big = 32 << 20};
    struct cpgo_admin_opts o = {.max_conn_output = 64 << 20, .max_response_bytes = 64 << 20};
    run(&o, client_half_close, &s);
    CHECK_EQ_INT(s.st.requests, 1);
}

/* ---- options and addresses ---------------------------------------------------------- */

static int noop(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    return 0;
}

static void on_flag(void *arg)
{
    *(int *)arg = 1;
}

static void test_listen(void)
{
    static const struct {
        const char *text;
        int family;
        const char *addr;
        int port;
    } ok[] = {
        {":9090", AF_INET6, "::", 9090},        {"localhost:0", AF_INET, "127.0.0.1", 0},
        {"0.0.0.0:80", AF_INET, "0.0.0.0", 80}, {"10.1.2.3:65535", AF_INET, "10.1.2.3", 65535},
        {"[::1]:9090", AF_INET6, "::1", 9090},  {"[::]:1", AF_INET6, "::", 1},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct sockaddr_storage ss;
        struct cpgo_err err = {0};
        CHECK_EQ_INT(cpgo_admin_parse_listen(ok[i].text, &ss, &err), 0);
        CHECK_EQ_INT(ss.ss_family, ok[i].family);
        char addr[64] = "";
        int port = -1;
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, addr, sizeof addr);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else {
            uv_ip6_name((struct sockaddr_in6 *)&ss, addr, sizeof addr);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        CHECK(!strcmp(addr, ok[i].addr));
        CHECK_EQ_INT(port, ok[i].port);
    }
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"", "empty"},
        {"9090", "expected host:port"},
        {":", "port must be"},
        {":65536", "port must be"},
        {":123456", "port must be"},
        {":-1", "port must be"},
        {":80x", "port must be"},
        {"example.com:80", "not a numeric IPv4"},
        {"1.2.3:80", "not a numeric IPv4"},
        {"::1:80", "needs brackets"},
        {"[::1]80", "expected [IPv6]:port"},
        {"[1.2.3.4]:80", "not a numeric IPv6"},
        {"[::1:80", "expected [IPv6]:port"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sockaddr_storage ss;
        struct cpgo_err err = {0};
        CHECK_EQ_INT(cpgo_admin_parse_listen(bad[i].text, &ss, &err), CPGO_E_INPUT);
        CHECK_STR_CONTAINS(err.text, bad[i].msg);
    }

    /* bad options and a port in use fail without leaving anything open */
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct cpgo_admin *a = (struct cpgo_admin *)1;
    struct cpgo_err err = {0};
    struct cpgo_admin_route dup[] = {{"/a", noop, NULL}, {"/a", noop, NULL}};
    struct cpgo_admin_opts o = {.listen = "127.0.0.1:0", .routes = dup, .nroutes = 2};
    CHECK_EQ_INT(cpgo_admin_new(&loop, &o, &a, &err), CPGO_E_USAGE);
    CHECK(a == NULL);
    CHECK_STR_CONTAINS(err.text, "appears twice");
    struct cpgo_admin_route badr[] = {{"nope", noop, NULL}};
    o.routes = badr;
    o.nroutes = 1;
    CHECK_EQ_INT(cpgo_admin_new(&loop, &o, &a, &err), CPGO_E_USAGE);
    o.nroutes = 0;
    o.listen = "nowhere";
    CHECK_EQ_INT(cpgo_admin_new(&loop, &o, &a, &err), CPGO_E_INPUT);
    o.listen = NULL;
    CHECK_EQ_INT(cpgo_admin_new(&loop, &o, &a, &err), CPGO_E_INPUT);

    o.listen = "127.0.0.1:0";
    struct cpgo_admin *first = NULL;
    CHECK_EQ_INT(cpgo_admin_new(&loop, &o, &first, &err), 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", cpgo_admin_port(first));
    o.listen = addr;
    CHECK_EQ_INT(cpgo_admin_new(&loop, &o, &a, &err), CPGO_E_IO);
    CHECK(a == NULL);
    CHECK_STR_CONTAINS(err.text, "listen 127.0.0.1:");
    CHECK_STR_CONTAINS(err.text, "address already in use");
    /* ":0" is every interface (dual-stack "::", or 0.0.0.0 without IPv6): IPv4's loopback
     * reaches it */
    o.listen = ":0";
    struct cpgo_admin *all = NULL;
    CHECK_EQ_INT(cpgo_admin_new(&loop, &o, &all, &err), 0);
    if (all) {
        char bound[64];
        CHECK_EQ_INT(cpgo_admin_bound(all, bound, sizeof bound), 1);
        CHECK(!strncmp(bound, "[::]:", 5) || !strncmp(bound, "0.0.0.0:", 8));
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)cpgo_admin_port(all)),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        CHECK_EQ_INT(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        close(fd);
        cpgo_admin_close(all, NULL, NULL);
    }
    char lb[64];
    CHECK_EQ_INT(cpgo_admin_bound(first, lb, sizeof lb), 0);
    CHECK(!strncmp(lb, "127.0.0.1:", 10));
    /* IPv6 loopback, where the host has it */
    o.listen = "[::1]:0";
    struct cpgo_admin *v6 = NULL;
    if (cpgo_admin_new(&loop, &o, &v6, &err) == 0) {
        CHECK(cpgo_admin_port(v6) > 0);
        cpgo_admin_close(v6, NULL, NULL);
    }
    int closed = 0;
    cpgo_admin_close(first, on_flag, &closed);
    CHECK(!closed); /* only from the loop */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(closed);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* ---- the fake connection ------------------------------------------------------------- */

static int fake_route(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    char line[600];
    int n = snprintf(line, sizeof line, "%s?%s\n", path, query);
    return cpgo_buf_append(r->body, line, (size_t)n);
}

static char *feed(const char *in, size_t chunk, size_t conn_out, int *responses)
{
    struct cpgo_admin_route routes[] = {{"/a", fake_route, NULL}, {"/b", fake_route, NULL}};
    struct cpgo_admin_opts o = {.routes = routes,
                                .nroutes = 2,
                                .max_url_bytes = 64,
                                .max_header_bytes = 256,
                                .max_headers = 4,
                                .max_conn_output = conn_out};
    struct cpgo_buf out;
    cpgo_buf_init(&out, 0);
    *responses = cpgo_admin_feed_for_fuzz(&o, in, strlen(in), chunk, &out);
    cpgo_buf_append(&out, "", 1);
    return (char *)cpgo_buf_steal(&out, NULL);
}

static void test_fake(void)
{
    /* 40 pipelined requests, then an error: the same output whatever the read sizes and
     * however small the output ceiling (which pauses parsing after every response) */
    char in[8192];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(in + n, sizeof in - n, "%s /%c?i=%d HTTP/1.1\r\nHost: h\r\n\r\n",
                              i % 5 == 4 ? "HEAD" : "GET", "ab"[i % 2], i);
    snprintf(in + n, sizeof in - n,
             "GET /a HTTP/1.1\r\nX: 1\r\nX: 2\r\nX: 3\r\nX: 4\r\nX: 5\r\n\r\n"
             "GET /a HTTP/1.1\r\n\r\n");
    int r0;
    char *whole = feed(in, 0, 0, &r0);
    CHECK_EQ_INT(r0, 41);
    CHECK_STR_CONTAINS(whole, "/a?i=0\n");
    CHECK_STR_CONTAINS(whole, "/a?i=38\n");
    CHECK(!strstr(whole, "?i=4\n")); /* HEAD */
    CHECK(!strstr(whole, "Date:"));
    CHECK_STR_CONTAINS(whole, "HTTP/1.1 431 ");
    /* order */
    const char *p = whole;
    int inorder = 1;
    for (int i = 0; i < 40; i++) {
        if (i % 5 == 4) continue;
        char want[32];
        snprintf(want, sizeof want, "?i=%d\n", i);
        const char *q = strstr(p, want);
        if (!q)
            inorder = 0;
        else
            p = q;
    }
    CHECK(inorder);
    static const size_t chunks[] = {1, 2, 3, 7, 64, 1000};
    static const size_t outs[] = {1, 100, 0};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
        for (size_t j = 0; j < sizeof outs / sizeof outs[0]; j++) {
            int rn;
            char *got = feed(in, chunks[i], outs[j], &rn);
            CHECK_EQ_INT(rn, r0);
            CHECK(!strcmp(got, whole));
            free(got);
        }
    free(whole);
}

int main(void)
{
    test_listen();
    test_fake();
    test_basic();
    test_deadlines();
    test_write_timeout();
    test_cap();
    test_overload();
    test_half_close();
    CHECK_DONE();
}
