/*
 * resolver.c - one c-ares channel driven by the libuv loop (see resolver.h).
 *
 * The pattern is Node.js's cares_wrap: c-ares tells which sockets it wants watched through
 * ARES_OPT_SOCK_STATE_CB (the only source of socket state); each gets a uv_poll_t, and one
 * uv_timer_t is armed from ares_timeout(), so retries and timeouts run without a periodic
 * tick. Unlike Node, ares_timeout() is asked once per loop turn, from a uv_prepare_t just
 * before the loop sleeps, not after every call into c-ares: c-ares 1.18's ares_timeout walks
 * every query it holds, so asking after each of a service's thousands of lookups started in
 * one turn (or each of their answers) was quadratic.
 *
 * Every answer is delivered from a uv_idle_t on a later loop turn, never from inside
 * c-ares: c-ares calls back synchronously from ares_getaddrinfo (IP literals, /etc/hosts,
 * no memory), from ares_cancel and from ares_destroy, and a caller must never see its
 * callback run inside the call that started the query, nor re-enter c-ares from one.
 * c-ares only fills the query's answer and moves it to the `done` list.
 *
 * A query lives until both c-ares has let go of it (its callback ran) and the caller has
 * its answer or cancelled it: c-ares 1.18 cannot cancel one query, so a cancelled query or
 * one answered by our own deadline stays allocated, silently, until c-ares ends it.
 *
 * Timeouts: c-ares's per-try timeout doubles each round over the servers, and a name is
 * tried with each search domain in turn, so c-ares alone does not bound a query. c-ares gets
 * a per-try timeout of timeout / (3 x servers) with 2 tries (about the whole budget when
 * every server is silent), and our deadline (every query has the same budget, so the
 * in-flight list is in deadline order and one timer on its head serves all) answers
 * "no answer" at the budget whatever c-ares still does.
 *
 * c-ares 1.18.1 is the floor (Debian 12): newer APIs are gated on ARES_VERSION.
 */
#define CARES_NO_DEPRECATED 1 /* ares_search/ares_parse_srv_reply: deprecated in 1.28 */

#include <arpa/inet.h>
#include <ares.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/list.h"
#include "discover/resolver.h"

#define DNS_NAME_MAX 253
#define REREAD_MS_DEFAULT (5 * 60 * 1000) /* resolv.conf is read again when idle this long */
#define SERVERS_TEXT_MAX 160

enum q_where { Q_NONE, Q_INFLIGHT, Q_DONE };

struct cpgo_dns_query {
    struct cpgo_resolver *r;
    struct cpgo_list_node link; /* in r->inflight or r->done (where says which) */
    enum q_where where;
    int srv;           /* 1: SRV, 0: addresses */
    int family;        /* addresses: AF_INET, AF_INET6, AF_UNSPEC */
    int in_ares;       /* c-ares holds it: its callback has not run yet */
    int cancelled;     /* the caller let go: nothing is delivered */
    int in_cb;         /* its callback is running: nothing may free it */
    int delivered;     /* the caller had its answer */
    uint64_t deadline; /* uv_now() ms */
    cpgo_dns_cb cb;
    void *arg;
    struct cpgo_dns_answer ans;
    char name[]; /* as asked */
};

struct rpoll {
    uv_poll_t h;
    ares_socket_t fd;
    struct cpgo_resolver *r;
    struct cpgo_list_node link;
};

struct cpgo_resolver {
    uv_loop_t *loop;
    ares_channel ch;                     /* NULL only while being made again */
    char *servers_csv;                   /* dns.servers as c-ares takes them; NULL = resolv.conf */
    char *resolv_conf;                   /* a resolv.conf other than /etc/resolv.conf (tests) */
    char servers_text[SERVERS_TEXT_MAX]; /* for errors: "127.0.0.1:5353" */
    int nservers;
    uint64_t timeout_ms, reread_ms, made_ms;
    uv_timer_t ares_timer; /* c-ares's own next timeout (ares_timeout) */
    uv_prepare_t rearm;    /* asks ares_timeout once before the loop sleeps, when due */
    uv_timer_t deadline;   /* the oldest in-flight query's budget */
    uv_idle_t deliver;     /* runs the callbacks of `done` */
    struct cpgo_list inflight, done, polls;
    size_t nares; /* queries c-ares holds (in flight or let go of) */
    int nhandles; /* handles open or closing */
    int closing;
    void (*closed)(void *arg);
    void *closed_arg;
};

/* ---- answers -------------------------------------------------------------------------- */

static void answer_free(struct cpgo_dns_answer *a)
{
    if (a->srv)
        for (size_t i = 0; i < a->nsrv; i++)
            free(a->srv[i].host);
    free(a->srv);
    free(a->addrs);
    a->srv = NULL;
    a->addrs = NULL;
    a->nsrv = a->naddrs = 0;
}

static const char *qtype(const struct cpgo_dns_query *q)
{
    if (q->srv) return "SRV";
    return q->family == AF_INET ? "A" : q->family == AF_INET6 ? "AAAA" : "A/AAAA";
}

static void answer_fail(struct cpgo_dns_query *q, const char *why)
{
    answer_free(&q->ans);
    q->ans.failed = 1;
    q->ans.nxdomain = 0;
    snprintf(q->ans.error, sizeof q->ans.error, "%s %s: %s", qtype(q), q->name, why);
}

/* The failure a c-ares status means, naming the server(s) asked. */
static void answer_status(struct cpgo_dns_query *q, int status)
{
    const struct cpgo_resolver *r = q->r;
    char why[224];
    switch (status) {
    case ARES_ETIMEOUT:
        snprintf(why, sizeof why, "no answer from %s within %.1fs", r->servers_text,
                 (double)r->timeout_ms / 1000);
        break;
    case ARES_ESERVFAIL:
        snprintf(why, sizeof why, "%s answered SERVFAIL", r->servers_text);
        break;
    case ARES_EREFUSED:
        snprintf(why, sizeof why, "%s answered REFUSED", r->servers_text);
        break;
    case ARES_ENOTIMP:
        snprintf(why, sizeof why, "%s answered NOTIMP", r->servers_text);
        break;
    case ARES_EFORMERR:
        snprintf(why, sizeof why, "%s answered FORMERR", r->servers_text);
        break;
    case ARES_EBADRESP:
        snprintf(why, sizeof why, "malformed reply from %s", r->servers_text);
        break;
    case ARES_ECONNREFUSED:
        snprintf(why, sizeof why, "could not reach %s (connection refused)", r->servers_text);
        break;
    case ARES_EBADNAME:
        snprintf(why, sizeof why, "not a valid DNS name");
        break;
    default:
        snprintf(why, sizeof why, "%s (asking %s)", ares_strerror(status), r->servers_text);
        break;
    }
    answer_fail(q, why);
}

/* ---- delivery ------------------------------------------------------------------------- */

static void query_unlist(struct cpgo_dns_query *q)
{
    struct cpgo_resolver *r = q->r;
    if (q->where == Q_INFLIGHT) cpgo_list_remove(&r->inflight, &q->link);
    if (q->where == Q_DONE) cpgo_list_remove(&r->done, &q->link);
    q->where = Q_NONE;
}

/* Frees q once neither c-ares nor the caller can reach it. */
static void query_release(struct cpgo_dns_query *q)
{
    if (q->in_ares || q->in_cb || q->where != Q_NONE || !(q->cancelled || q->delivered)) return;
    answer_free(&q->ans);
    free(q);
}

static void on_deadline(uv_timer_t *h);
static void on_deliver(uv_idle_t *h);

static void arm_deadline(struct cpgo_resolver *r)
{
    if (r->closing) return;
    struct cpgo_dns_query *q =
        CPGO_LIST_DATA(cpgo_list_head(&r->inflight), struct cpgo_dns_query, link);
    if (!q) {
        uv_timer_stop(&r->deadline);
        return;
    }
    uint64_t now = uv_now(r->loop);
    uv_timer_start(&r->deadline, on_deadline, q->deadline > now ? q->deadline - now : 0, 0);
}

/* q has its answer: the caller gets it on a later loop turn. */
static void query_done(struct cpgo_dns_query *q)
{
    struct cpgo_resolver *r = q->r;
    int was_head = q->where == Q_INFLIGHT && cpgo_list_head(&r->inflight) == &q->link;
    query_unlist(q);
    cpgo_list_push_tail(&r->done, &q->link);
    q->where = Q_DONE;
    uv_idle_start(&r->deliver, on_deliver);
    if (was_head) arm_deadline(r);
}

static void on_deliver(uv_idle_t *h)
{
    struct cpgo_resolver *r = h->data;
    /* at most what is done now: callbacks that start queries (IP literals are done at
     * once) cannot keep this turn going */
    size_t n = r->done.len;
    while (n-- && !r->closing) {
        struct cpgo_dns_query *q =
            CPGO_LIST_DATA(cpgo_list_head(&r->done), struct cpgo_dns_query, link);
        if (!q) break;
        query_unlist(q);
        q->in_cb = 1;
        q->cb(&q->ans, q->arg);
        q->in_cb = 0;
        q->delivered = 1;
        answer_free(&q->ans);
        query_release(q);
    }
    if (!r->closing && cpgo_list_empty(&r->done)) uv_idle_stop(h);
}

static void on_deadline(uv_timer_t *h)
{
    struct cpgo_resolver *r = h->data;
    uint64_t now = uv_now(r->loop);
    struct cpgo_dns_query *q;
    while ((q = CPGO_LIST_DATA(cpgo_list_head(&r->inflight), struct cpgo_dns_query, link)) &&
           q->deadline <= now) {
        answer_status(q, ARES_ETIMEOUT);
        query_done(q); /* c-ares may still hold it: it is freed when c-ares lets go */
    }
    arm_deadline(r);
}

/* ---- c-ares on the loop --------------------------------------------------------------- */

static void on_ares_timer(uv_timer_t *h);

static void on_rearm(uv_prepare_t *h);

/* After every call into c-ares: its next timeout is asked before the loop sleeps. */
static void rearm(struct cpgo_resolver *r)
{
    if (r->closing || !r->ch) return;
    uv_prepare_start(&r->rearm, on_rearm);
}

/* c-ares's next timeout, or none when nothing is pending; once per loop turn at most */
static void on_rearm(uv_prepare_t *h)
{
    struct cpgo_resolver *r = h->data;
    uv_prepare_stop(h);
    if (r->closing || !r->ch) return;
    struct timeval tv, *t = ares_timeout(r->ch, NULL, &tv);
    if (!t) {
        uv_timer_stop(&r->ares_timer);
        return;
    }
    uint64_t ms = (uint64_t)t->tv_sec * 1000 + ((uint64_t)t->tv_usec + 999) / 1000;
    uv_timer_start(&r->ares_timer, on_ares_timer, ms, 0);
}

static void on_ares_timer(uv_timer_t *h)
{
    struct cpgo_resolver *r = h->data;
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm(r);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct rpoll *p = h->data;
    struct cpgo_resolver *r = p->r;
    ares_socket_t fd = p->fd; /* p may be closed from inside ares_process_fd */
    if (status < 0)           /* an error on the socket: let c-ares read it and fail over */
        ares_process_fd(r->ch, fd, fd);
    else
        ares_process_fd(r->ch, (events & UV_READABLE) ? fd : ARES_SOCKET_BAD,
                        (events & UV_WRITABLE) ? fd : ARES_SOCKET_BAD);
    rearm(r);
}

static void resolver_handle_closed(struct cpgo_resolver *r);

static void poll_closed(uv_handle_t *h)
{
    struct rpoll *p = h->data;
    struct cpgo_resolver *r = p->r;
    free(p);
    resolver_handle_closed(r);
}

static void poll_close(struct cpgo_resolver *r, struct rpoll *p)
{
    cpgo_list_remove(&r->polls, &p->link);
    uv_poll_stop(&p->h);
    uv_close((uv_handle_t *)&p->h, poll_closed);
}

/* c-ares opens, watches or closes a socket (closed: called before close(2)). */
static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    struct cpgo_resolver *r = data;
    struct rpoll *p = NULL;
    for (struct cpgo_list_node *n = cpgo_list_head(&r->polls); n; n = n->next) {
        struct rpoll *c = CPGO_LIST_DATA(n, struct rpoll, link);
        if (c->fd == fd) {
            p = c;
            break;
        }
    }
    if (!readable && !writable) {
        if (p) poll_close(r, p);
        return;
    }
    if (!p) {
        p = calloc(1, sizeof *p);
        /* without a poll handle the query ends at its timeout: a failure, not a hang */
        if (!p) return;
        if (uv_poll_init_socket(r->loop, &p->h, fd)) {
            free(p);
            return;
        }
        p->fd = fd;
        p->r = r;
        p->h.data = p;
        cpgo_list_push_tail(&r->polls, &p->link);
        r->nhandles++;
    }
    uv_poll_start(&p->h, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), on_poll);
}

/* ---- the channel ---------------------------------------------------------------------- */

static void servers_describe(struct cpgo_resolver *r, ares_channel ch)
{
    struct ares_addr_port_node *list = NULL;
    r->nservers = 0;
    size_t len = 0;
    r->servers_text[0] = 0;
    if (ares_get_servers_ports(ch, &list) != ARES_SUCCESS) list = NULL;
    for (struct ares_addr_port_node *s = list; s; s = s->next) {
        char ip[CPGO_DNS_ADDR_MAX] = "?";
        inet_ntop(s->family,
                  s->family == AF_INET ? (const void *)&s->addr.addr4
                                       : (const void *)&s->addr.addr6,
                  ip, sizeof ip);
        int port = s->udp_port ? s->udp_port : 53;
        if (len < sizeof r->servers_text) {
            int w =
                snprintf(r->servers_text + len, sizeof r->servers_text - len,
                         s->family == AF_INET6 ? "%s[%s]:%d" : "%s%s:%d", len ? "," : "", ip, port);
            if (w > 0) len += (size_t)w;
        }
        r->nservers++;
    }
    ares_free_data(list);
    if (!r->nservers) snprintf(r->servers_text, sizeof r->servers_text, "no DNS server");
    if (len >= sizeof r->servers_text) /* cut: say so */
        memcpy(r->servers_text + sizeof r->servers_text - 4, "...", 4);
}

static int channel_init(struct cpgo_resolver *r, int nservers, ares_channel *out, const char **what)
{
    struct ares_options o;
    memset(&o, 0, sizeof o);
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    o.sock_state_cb = sock_state_cb;
    o.sock_state_cb_data = r;
    /* report SERVFAIL/REFUSED as they are instead of trying the next server and ending in
     * a vaguer error (Node does the same) */
    o.flags = ARES_FLAG_NOCHECKRESP;
    o.tries = 2;
    uint64_t per_try = r->timeout_ms / (3 * (uint64_t)(nservers > 0 ? nservers : 1));
    o.timeout = (int)(per_try < 50 ? 50 : per_try);
    if (r->servers_csv) {
        /* the configured servers are the whole resolver: no search domains from the
         * host's resolv.conf, which belong to another resolver */
        mask |= ARES_OPT_DOMAINS;
        o.domains = NULL;
        o.ndomains = 0;
    }
    if (r->resolv_conf) {
        mask |= ARES_OPT_RESOLVCONF;
        o.resolvconf_path = r->resolv_conf;
    }
#if ARES_VERSION >= 0x011700
    /* 1.23 caches answers (on by default from 1.31): every refresh must ask the server */
    mask |= ARES_OPT_QUERY_CACHE;
    o.qcache_max_ttl = 0;
#endif
    ares_channel ch;
    int st = ares_init_options(&ch, &o, mask);
    if (st != ARES_SUCCESS) {
        *what = ares_strerror(st);
        return -1;
    }
    if (r->servers_csv) {
        /* before any query: it fails with ARES_ENOTIMP while queries are outstanding */
        st = ares_set_servers_ports_csv(ch, r->servers_csv);
        if (st != ARES_SUCCESS) {
            ares_destroy(ch);
            *what = ares_strerror(st);
            return -1;
        }
    }
    *out = ch;
    return 0;
}

static int channel_make(struct cpgo_resolver *r, const char **what)
{
    ares_channel ch;
    int n = r->nservers > 0 ? r->nservers : 1;
    if (channel_init(r, n, &ch, what)) return -1;
    servers_describe(r, ch);
    if (r->nservers > 1 && r->nservers != n) {
        /* resolv.conf named more servers than assumed: the per-try timeout depends on it */
        ares_destroy(ch);
        if (channel_init(r, r->nservers, &ch, what)) return -1;
        servers_describe(r, ch);
    }
    r->ch = ch;
    r->made_ms = uv_now(r->loop);
    return 0;
}

/* c-ares 1.18 reads resolv.conf once, at init: make the channel again when nothing is in
 * flight and it is older than reread_ms, so edits there are seen. */
static void channel_refresh(struct cpgo_resolver *r)
{
    if (r->servers_csv || r->nares || uv_now(r->loop) - r->made_ms < r->reread_ms) return;
    ares_channel old = r->ch;
    char text[SERVERS_TEXT_MAX];
    int n = r->nservers;
    memcpy(text, r->servers_text, sizeof text);
    const char *what;
    r->ch = NULL;
    if (channel_make(r, &what)) { /* keep the old one */
        r->ch = old;
        r->nservers = n;
        memcpy(r->servers_text, text, sizeof text);
        r->made_ms = uv_now(r->loop);
        return;
    }
    ares_destroy(old); /* nothing in flight: closes its sockets (sock_state_cb) and no more */
}

/* ---- queries -------------------------------------------------------------------------- */

static struct cpgo_dns_query *query_new(struct cpgo_resolver *r, const char *name, int srv,
                                        int family, cpgo_dns_cb cb, void *arg)
{
    assert(!r->closing);
    size_t len = strlen(name);
    struct cpgo_dns_query *q = calloc(1, sizeof *q + len + 1);
    if (!q) return NULL;
    memcpy(q->name, name, len + 1);
    q->r = r;
    q->srv = srv;
    q->family = family;
    q->cb = cb;
    q->arg = arg;
    return q;
}

/* Hands q to c-ares: it is in flight until c-ares calls back or the deadline passes. */
static void query_send(struct cpgo_dns_query *q)
{
    struct cpgo_resolver *r = q->r;
    q->deadline = uv_now(r->loop) + r->timeout_ms;
    cpgo_list_push_tail(&r->inflight, &q->link);
    q->where = Q_INFLIGHT;
    if (cpgo_list_head(&r->inflight) == &q->link) arm_deadline(r);
    q->in_ares = 1;
    r->nares++;
}

/* A c-ares callback: record the answer; delivery waits for the loop. */
static int ares_returned(struct cpgo_dns_query *q, int status)
{
    struct cpgo_resolver *r = q->r;
    assert(q->in_ares && r->nares > 0);
    q->in_ares = 0;
    r->nares--;
    if (q->cancelled || q->where != Q_INFLIGHT) {
        /* let go of, or answered by the deadline already */
        query_release(q);
        return 0;
    }
    if (status == ARES_ECANCELLED || status == ARES_EDESTRUCTION) { /* not by us: a failure */
        answer_fail(q, "the query was cancelled");
        query_done(q);
        return 0;
    }
    return 1;
}

static void srv_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct cpgo_dns_query *q = arg;
    if (!ares_returned(q, status)) return;
    struct cpgo_dns_answer *a = &q->ans;
    if (status == ARES_ENOTFOUND) {
        a->nxdomain = 1;
    } else if (status == ARES_SUCCESS) {
        struct ares_srv_reply *list = NULL;
        int st = ares_parse_srv_reply(abuf, alen, &list);
        size_t n = 0;
        for (struct ares_srv_reply *s = list; s; s = s->next)
            n++;
        if (n > CPGO_DNS_MAX_ANSWERS) n = CPGO_DNS_MAX_ANSWERS;
        if (st == ARES_SUCCESS && n && !(a->srv = calloc(n, sizeof *a->srv))) st = ARES_ENOMEM;
        for (struct ares_srv_reply *s = list; st == ARES_SUCCESS && s && a->nsrv < n; s = s->next) {
            size_t hl = strlen(s->host);
            while (hl && s->host[hl - 1] == '.')
                hl--;
            if (!hl) continue; /* target "." (RFC 2782): no service at this name */
            struct cpgo_dns_srv *d = &a->srv[a->nsrv];
            if (!(d->host = strndup(s->host, hl))) {
                st = ARES_ENOMEM;
                break;
            }
            d->port = s->port;
            d->priority = s->priority;
            d->weight = s->weight;
            a->nsrv++;
        }
        ares_free_data(list);
        if (st != ARES_SUCCESS && st != ARES_ENODATA) answer_status(q, st);
    } else if (status != ARES_ENODATA) {
        answer_status(q, status);
    }
    query_done(q);
    (void)timeouts;
}

static void addr_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct cpgo_dns_query *q = arg;
    if (!ares_returned(q, status)) {
        if (res) ares_freeaddrinfo(res);
        return;
    }
    struct cpgo_dns_answer *a = &q->ans;
    if (status == ARES_ENOTFOUND) {
        a->nxdomain = 1;
    } else if (status == ARES_SUCCESS && res) {
        size_t n = 0;
        for (struct ares_addrinfo_node *p = res->nodes; p; p = p->ai_next)
            n++;
        if (n > CPGO_DNS_MAX_ANSWERS) n = CPGO_DNS_MAX_ANSWERS;
        if (n && !(a->addrs = calloc(n, sizeof *a->addrs))) {
            answer_status(q, ARES_ENOMEM);
            n = 0;
        }
        for (struct ares_addrinfo_node *p = res->nodes; p && a->naddrs < n; p = p->ai_next) {
            const void *src = NULL;
            if (p->ai_family == AF_INET)
                src = &((const struct sockaddr_in *)(const void *)p->ai_addr)->sin_addr;
            else if (p->ai_family == AF_INET6)
                src = &((const struct sockaddr_in6 *)(const void *)p->ai_addr)->sin6_addr;
            if (src && inet_ntop(p->ai_family, src, a->addrs[a->naddrs], CPGO_DNS_ADDR_MAX))
                a->naddrs++;
        }
    } else if (status != ARES_ENODATA) {
        answer_status(q, status);
    }
    if (res) ares_freeaddrinfo(res);
    query_done(q);
    (void)timeouts;
}

/* Answers q now (delivered later): a name no server is asked about. */
static struct cpgo_dns_query *query_answer_now(struct cpgo_dns_query *q)
{
    cpgo_list_push_tail(&q->r->done, &q->link);
    q->where = Q_DONE;
    uv_idle_start(&q->r->deliver, on_deliver);
    return q;
}

static int name_check(struct cpgo_dns_query *q)
{
    size_t len = strlen(q->name);
    if (len == 0) {
        answer_fail(q, "empty name");
        return -1;
    }
    if (len > DNS_NAME_MAX + 1) { /* + a trailing dot */
        answer_fail(q, "name longer than 253 characters");
        return -1;
    }
    return 0;
}

struct cpgo_dns_query *cpgo_resolver_srv(struct cpgo_resolver *r, const char *name, cpgo_dns_cb cb,
                                         void *arg)
{
    struct cpgo_dns_query *q = query_new(r, name, 1, AF_UNSPEC, cb, arg);
    if (!q) return NULL;
    if (name_check(q)) return query_answer_now(q);
    channel_refresh(r);
    query_send(q);
    ares_search(r->ch, name, 1 /* C_IN */, 33 /* T_SRV */, srv_cb, q);
    rearm(r);
    return q;
}

/* An IP literal (brackets allowed) is its own answer. 1 when name was one. */
static int literal_answer(struct cpgo_dns_query *q)
{
    char buf[CPGO_DNS_ADDR_MAX + 2];
    const char *s = q->name;
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']' && len - 2 < sizeof buf) {
        memcpy(buf, s + 1, len - 2);
        buf[len - 2] = 0;
        s = buf;
    } else if (len >= sizeof buf) {
        return 0;
    }
    unsigned char bin[sizeof(struct in6_addr)];
    int fam = inet_pton(AF_INET, s, bin) == 1    ? AF_INET
              : inet_pton(AF_INET6, s, bin) == 1 ? AF_INET6
                                                 : 0;
    if (!fam) return 0;
    /* an address of the other family: no address of the asked one (as NODATA) */
    if (q->family != AF_UNSPEC && q->family != fam) return 1;
    if (!(q->ans.addrs = calloc(1, sizeof *q->ans.addrs))) {
        answer_fail(q, "out of memory");
        return 1;
    }
    inet_ntop(fam, bin, q->ans.addrs[0], CPGO_DNS_ADDR_MAX);
    q->ans.naddrs = 1;
    return 1;
}

struct cpgo_dns_query *cpgo_resolver_addr(struct cpgo_resolver *r, const char *name, int family,
                                          cpgo_dns_cb cb, void *arg)
{
    assert(family == AF_INET || family == AF_INET6 || family == AF_UNSPEC);
    struct cpgo_dns_query *q = query_new(r, name, 0, family, cb, arg);
    if (!q) return NULL;
    if (name_check(q) || literal_answer(q)) return query_answer_now(q);
    channel_refresh(r);
    query_send(q);
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    /* the RFC 6724 sort connects UDP sockets to every address: blocking work, not needed */
    hints.ai_flags = ARES_AI_NOSORT;
    ares_getaddrinfo(r->ch, name, NULL, &hints, addr_cb, q);
    rearm(r);
    return q;
}

void cpgo_dns_query_cancel(struct cpgo_dns_query *q)
{
    if (!q) return;
    struct cpgo_resolver *r = q->r;
    int was_head = q->where == Q_INFLIGHT && cpgo_list_head(&r->inflight) == &q->link;
    query_unlist(q);
    q->cancelled = 1;
    answer_free(&q->ans);
    query_release(q);
    if (was_head) arm_deadline(r);
}

/* ---- life ----------------------------------------------------------------------------- */

static void resolver_free(struct cpgo_resolver *r)
{
    free(r->servers_csv);
    free(r->resolv_conf);
    free(r);
}

/* One of r's handles is closed: the last one, once closing, frees r. */
static void resolver_handle_closed(struct cpgo_resolver *r)
{
    assert(r->nhandles > 0);
    if (--r->nhandles > 0 || !r->closing) return;
    void (*closed)(void *) = r->closed;
    void *arg = r->closed_arg;
    resolver_free(r);
    ares_library_cleanup();
    if (closed) closed(arg);
}

static void own_handle_closed(uv_handle_t *h)
{
    resolver_handle_closed(h->data);
}

int cpgo_resolver_new(uv_loop_t *loop, const struct cpgo_resolver_opts *o,
                      struct cpgo_resolver **out, struct cpgo_err *err)
{
    int st = ares_library_init(ARES_LIB_INIT_ALL);
    if (st != ARES_SUCCESS)
        return cpgo_err_set(err, CPGO_E_IO, "dns: c-ares: %s", ares_strerror(st));
    struct cpgo_resolver *r = calloc(1, sizeof *r);
    if (!r) {
        ares_library_cleanup();
        return cpgo_err_set(err, CPGO_E_NOMEM, "dns: out of memory");
    }
    r->loop = loop;
    r->timeout_ms = o && o->timeout_ms > 0 ? (uint64_t)o->timeout_ms : 5000;
    r->reread_ms = o && o->reread_ms > 0 ? (uint64_t)o->reread_ms : REREAD_MS_DEFAULT;
    if (o && o->resolv_conf && !(r->resolv_conf = strdup(o->resolv_conf))) goto nomem;
    if (o && o->nservers) {
        size_t len = 0;
        for (size_t i = 0; i < o->nservers; i++)
            len += strlen(o->servers[i]) + 1;
        if (!(r->servers_csv = malloc(len))) goto nomem;
        r->servers_csv[0] = 0;
        for (size_t i = 0; i < o->nservers; i++) {
            if (i) strcat(r->servers_csv, ",");
            strcat(r->servers_csv, o->servers[i]);
        }
        r->nservers = (int)o->nservers;
    }
    const char *what = NULL;
    if (channel_make(r, &what)) {
        cpgo_err_set(err, CPGO_E_INPUT, "dns: %s: %s",
                     r->servers_csv ? "dns.servers" : "resolv.conf", what);
        resolver_free(r);
        ares_library_cleanup();
        return err->code;
    }
    uv_timer_init(loop, &r->ares_timer);
    uv_timer_init(loop, &r->deadline);
    uv_idle_init(loop, &r->deliver);
    uv_prepare_init(loop, &r->rearm);
    r->ares_timer.data = r->deadline.data = r->deliver.data = r->rearm.data = r;
    r->nhandles = 4;
    *out = r;
    return 0;
nomem:
    resolver_free(r);
    ares_library_cleanup();
    return cpgo_err_set(err, CPGO_E_NOMEM, "dns: out of memory");
}

void cpgo_resolver_close(struct cpgo_resolver *r, void (*closed)(void *arg), void *arg)
{
    if (!r || r->closing) return;
    r->closing = 1;
    r->closed = closed;
    r->closed_arg = arg;
    struct cpgo_list_node *n;
    while ((n = cpgo_list_head(&r->inflight)) || (n = cpgo_list_head(&r->done))) {
        struct cpgo_dns_query *q = CPGO_LIST_DATA(n, struct cpgo_dns_query, link);
        query_unlist(q);
        q->cancelled = 1;
        query_release(q);
    }
    /* calls back every query it holds (ARES_EDESTRUCTION: released) and closes its
     * sockets through sock_state_cb */
    ares_destroy(r->ch);
    r->ch = NULL;
    assert(r->nares == 0);
    while ((n = cpgo_list_head(&r->polls)))
        poll_close(r, CPGO_LIST_DATA(n, struct rpoll, link));
    uv_close((uv_handle_t *)&r->ares_timer, own_handle_closed);
    uv_close((uv_handle_t *)&r->deadline, own_handle_closed);
    uv_close((uv_handle_t *)&r->deliver, own_handle_closed);
    uv_close((uv_handle_t *)&r->rearm, own_handle_closed);
}
