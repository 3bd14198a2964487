/*
 * http.c - see http.h. The server's public API: options, listen and accept (with the
 * connection cap), its metrics, close, and the fake connection of
 * cpgo_admin_feed_for_fuzz. How the server is split over its files, and a connection's
 * phases: http_int.h.
 *
 * Thread: the loop thread only.
 */
#include "admin/http.h"
#include "admin/http_int.h"
#include "admin/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connections the kernel completes before we accept them: past it a new SYN is dropped and
 * retried a second later, longer than a health check waits, so room for a burst */
#define BACKLOG 511

struct refused {
    uv_tcp_t tcp;
    struct cpgo_admin *a;
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

/* ---- listen and accept ------------------------------------------------------------ */

static void on_refused_closed(uv_handle_t *h)
{
    struct refused *r = h->data;
    struct cpgo_admin *a = r->a;
    free(r);
    a->handles--;
    cpgo_admin_maybe_finish(a);
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

/* At the cap a new connection takes the place of the oldest one not being answered
 * (cpgo_admin_evict_one), or is refused when every one is busy answering. */
static void on_connection(uv_stream_t *server, int status)
{
    struct cpgo_admin *a = server->data;
    if (status < 0) {
        a->st.accept_errors++;
        return;
    }
    /* closing connections are gone for the cap (freed when their handles close) */
    if (a->conns.len - a->nclosing >= a->lim.max_conns && cpgo_admin_evict_one(a)) {
        refuse(a, server, 0);
        return;
    }
    struct conn *c = cpgo_admin_conn_new(a);
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
        cpgo_admin_conn_abort(c);
        return;
    }
    a->st.connections++;
    uv_tcp_nodelay(&c->tcp, 1); /* small responses: no Nagle delay */
    cpgo_admin_conn_read_start(c);
    cpgo_admin_conn_arm_timer(c);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct cpgo_admin *a = h->data;
    a->handles--;
    cpgo_admin_maybe_finish(a);
}

/* Whether this host can open an IPv6 socket at all (a kernel or container with IPv6 off
 * cannot: EAFNOSUPPORT). */
static int ipv6_available(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    close(fd);
    return 1;
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
    if (!*host) {
        /* ":port" is every interface, as in Go and Prometheus: "::" without IPV6_V6ONLY
         * takes IPv4 too (cpgo_admin_new falls back to 0.0.0.0 on a host without IPv6).
         * The safe default is that no `listen:` means no endpoint. */
        struct sockaddr_in6 *sa = (struct sockaddr_in6 *)out;
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons((uint16_t)pn);
        sa->sin6_addr = in6addr_any;
        return 0;
    }
    struct sockaddr_in *sa = (struct sockaddr_in *)out;
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)pn);
    /* names are never resolved; "localhost" is the loopback */
    if (!strcmp(host, "localhost")) {
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
    cpgo_admin_parse_settings(&a->settings);
    a->dispatch = cpgo_admin_conn_dispatch;
    a->reject = cpgo_admin_conn_reject;
    *out = a;
    return 0;
nomem:
    cpgo_admin_free(a);
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
        cpgo_admin_free(a);
        return cpgo_err_set(err, CPGO_E_IO, "listen %s: %s", opts->listen, uv_strerror(rc));
    }
    a->listener.data = a;
    a->handles = 1;
    int any6 = ss.ss_family == AF_INET6 &&
               !memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, &in6addr_any, sizeof in6addr_any);
    if (any6 && !ipv6_available()) {
        /* every interface on a host without IPv6 (a container started with IPv6 off) */
        struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
        uint16_t port = ((struct sockaddr_in6 *)&ss)->sin6_port;
        memset(&ss, 0, sizeof ss);
        sa->sin_family = AF_INET;
        sa->sin_port = port;
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
        any6 = 0;
    }
    /* "::" is dual-stack (IPv4 too, as Go listens on it); any other IPv6 address is
     * only itself */
    unsigned flags = ss.ss_family == AF_INET6 && !any6 ? UV_TCP_IPV6ONLY : 0;
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
    char ip[INET6_ADDRSTRLEN] = "?";
    if (bound.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&bound)->sin6_addr, ip, sizeof ip);
        snprintf(a->bound, sizeof a->bound, "[%s]:%d", ip, a->port);
        a->every_interface = any6;
    } else {
        struct in_addr in = ((struct sockaddr_in *)&bound)->sin_addr;
        inet_ntop(AF_INET, &in, ip, sizeof ip);
        snprintf(a->bound, sizeof a->bound, "%s:%d", ip, a->port);
        a->every_interface = in.s_addr == htonl(INADDR_ANY);
    }
    *out = a;
    return 0;
}

int cpgo_admin_port(const struct cpgo_admin *a)
{
    return a->port;
}

int cpgo_admin_bound(const struct cpgo_admin *a, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", a->bound);
    return a->every_interface;
}

void cpgo_admin_stats(const struct cpgo_admin *a, struct cpgo_admin_stats *out)
{
    *out = a->st;
    out->open_connections = a->conns.len;
}

static void admin_collect(struct cpgo_metrics *r, void *arg)
{
    struct cpgo_admin *a = arg;
    cpgo_metric_set(a->m_open, (double)a->conns.len, NULL);
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
    /* aborting frees nothing before the close callbacks, so the walk is safe */
    for (struct cpgo_list_node *n = cpgo_list_head(&a->conns); n; n = n->next)
        cpgo_admin_conn_abort(CPGO_LIST_DATA(n, struct conn, link));
}

/* ---- fake connection (tests, fuzzing) ---------------------------------------------- */

static void fake_complete_writes(struct conn *c, int status)
{
    /* completing a write may resume parsing, which may queue more: loop until none */
    struct cpgo_list_node *n;
    while ((n = cpgo_list_pop_head(&c->fake_writes))) {
        struct wreq *w = CPGO_LIST_DATA(n, struct wreq, link);
        cpgo_admin_write_done(w, c->phase == P_CLOSING ? -1 : status);
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
    struct conn *c = cpgo_admin_conn_new(a);
    if (!c) {
        cpgo_admin_free(a);
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
            cpgo_admin_conn_on_data(c, p + off, n);
            off += n;
            progress = 1;
        }
        if (!cpgo_list_empty(&c->fake_writes)) {
            fake_complete_writes(c, 0);
            progress = 1;
        }
        if (!progress) break; /* all input read and every response written */
    }
    fake_complete_writes(c, -1); /* cancelled, as uv_close would */
    size_t responses = a->fake_responses;
    cpgo_admin_conn_free(c);
    cpgo_admin_free(a);
    return (int)(responses > INT32_MAX ? INT32_MAX : responses);
}
