/*
 * resolver.h - DNS on the loop: one c-ares channel driven by libuv (the pattern of Node.js's
 * cares_wrap: c-ares reports its sockets through ARES_OPT_SOCK_STATE_CB, each one gets a
 * uv_poll_t, one uv_timer_t is re-armed from ares_timeout after every c-ares call). No
 * blocking resolver call is ever made on the loop thread.
 *
 * Servers: `dns.servers` ("ip:port", set with ares_set_servers_ports_csv, which keeps the
 * ports, unlike ares_set_servers_csv before c-ares 1.34), else /etc/resolv.conf. c-ares
 * 1.18 never re-reads resolv.conf; the channel is made again (before a query, when none is
 * in flight) once it is 5 minutes old, so a changed resolv.conf is picked up. With
 * `dns.servers`, the host's search domains are not used either. No answer is cached (each
 * refresh asks the server).
 *
 * Answers, as Prometheus reads them: NOERROR (even empty) and NXDOMAIN are answers;
 * SERVFAIL, REFUSED, timeouts, malformed replies are failures.
 *
 * Owns: the channel, its poll handles and timer, every query in flight. Thread: the loop
 * thread; callbacks run on it, never from inside the call that started the query.
 */
#ifndef CPGO_DISCOVER_RESOLVER_H
#define CPGO_DISCOVER_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"

#define CPGO_DNS_ADDR_MAX 46 /* INET6_ADDRSTRLEN */
#define CPGO_DNS_MAX_ANSWERS 4096

struct cpgo_resolver;
struct cpgo_dns_query;

struct cpgo_dns_srv {
    char *host; /* trailing dot removed; "." (no service) records are left out */
    int port, priority, weight;
};

struct cpgo_dns_answer {
    int failed;      /* 1: no answer (timeout, SERVFAIL, REFUSED, malformed, ...) */
    int nxdomain;    /* the name does not exist (an answer: an empty set) */
    char error[256]; /* when failed: what happened, naming the query ("SRV _x._tcp.y: ...") */
    struct cpgo_dns_srv *srv; /* SRV answers */
    size_t nsrv;
    char (*addrs)[CPGO_DNS_ADDR_MAX]; /* A/AAAA answers, as text */
    size_t naddrs;
};

/* Runs on the loop thread; the answer and its arrays are freed when it returns. */
typedef void (*cpgo_dns_cb)(const struct cpgo_dns_answer *a, void *arg);

struct cpgo_resolver_opts {
    const char *const *servers; /* "ip:port", "ip" or "[v6]:port"; NULL/0 = resolv.conf */
    size_t nservers;
    int64_t timeout_ms; /* per query, all tries included; 0 = 5 s */
    /* without servers: the resolv.conf to read (NULL = /etc/resolv.conf; tests), and how
     * long the channel lives before it is made again when idle (0 = 5 min) */
    const char *resolv_conf;
    int64_t reread_ms;
};

int cpgo_resolver_new(uv_loop_t *loop, const struct cpgo_resolver_opts *o,
                      struct cpgo_resolver **out, struct cpgo_err *err);
/* SRV records of name (the search list applies, as ares_search). NULL when out of memory
 * (then cb is not called). */
struct cpgo_dns_query *cpgo_resolver_srv(struct cpgo_resolver *r, const char *name, cpgo_dns_cb cb,
                                         void *arg);
/* Addresses of name: family AF_INET (A), AF_INET6 (AAAA) or AF_UNSPEC (both). An IP
 * literal is answered without a query (still through the callback, later on the loop). */
struct cpgo_dns_query *cpgo_resolver_addr(struct cpgo_resolver *r, const char *name, int family,
                                          cpgo_dns_cb cb, void *arg);
/* The callback of q will not run; q is invalid afterwards. Not for a query whose callback
 * has started (it is invalid from then on). */
void cpgo_dns_query_cancel(struct cpgo_dns_query *q);
/* Cancels every query (their callbacks do not run; the queries are invalid), closes the
 * handles; `closed` runs once the last one is closed, on a later loop turn. Safe from inside
 * a query's callback. */
void cpgo_resolver_close(struct cpgo_resolver *r, void (*closed)(void *arg), void *arg);

#endif
