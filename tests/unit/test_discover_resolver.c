/* Unit tests for discover/resolver: the c-ares channel on a private libuv loop against a real
 * dnsmasq on 127.0.0.1 (a free port), and against two servers dnsmasq cannot be (one
 * silent, one sending malformed replies). Covered: SRV with several targets and ports (and
 * enough of them that the reply goes over TCP), A, AAAA and both, NXDOMAIN and NOERROR
 * without data as answers, REFUSED, a timeout and a malformed reply as failures naming the
 * query and the server, IP literals answered without a query but never from inside the
 * call, no answer cached, resolv.conf read again when the channel is made again, and
 * cancel and close in every order (in flight, answered but not delivered, from inside a
 * callback). Every run ends with the loop closed with nothing open (uv_loop_close == 0).
 * Skipped only when dnsmasq is not installed. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "discover/resolver.h"
#include "dns_helpers.h"

static uv_loop_t loop;
static struct dnsmasq dm;

/* ---- a query's result ------------------------------------------------------------------ */

struct res {
    int done, calls;
    struct cpgo_dns_answer a; /* copied: the answer's arrays are freed after the callback */
    char hosts[64][80];
    int ports[64];
    char addrs[64][CPGO_DNS_ADDR_MAX];
    int stop; /* uv_stop when done */
};

static void on_answer(const struct cpgo_dns_answer *a, void *arg)
{
    struct res *r = arg;
    r->calls++;
    r->done = 1;
    r->a = *a;
    r->a.srv = NULL;
    r->a.addrs = NULL;
    for (size_t i = 0; i < a->nsrv && i < 64; i++) {
        snprintf(r->hosts[i], sizeof r->hosts[i], "%s", a->srv[i].host);
        r->ports[i] = a->srv[i].port;
    }
    for (size_t i = 0; i < a->naddrs && i < 64; i++)
        memcpy(r->addrs[i], a->addrs[i], CPGO_DNS_ADDR_MAX);
    if (r->stop) uv_stop(&loop);
}

static struct cpgo_resolver *resolver_at(int port, int64_t timeout_ms)
{
    char server[64];
    snprintf(server, sizeof server, "127.0.0.1:%d", port);
    const char *servers[] = {server};
    struct cpgo_resolver_opts o = {.servers = servers, .nservers = 1, .timeout_ms = timeout_ms};
    struct cpgo_resolver *r = NULL;
    struct cpgo_err err;
    if (cpgo_resolver_new(&loop, &o, &r, &err)) {
        fprintf(stderr, "cpgo_resolver_new: %s\n", err.text);
        exit(1);
    }
    return r;
}

static void closed_cb(void *arg)
{
    (*(int *)arg)++;
}

static void resolver_close_wait(struct cpgo_resolver *r)
{
    int closed = 0;
    cpgo_resolver_close(r, closed_cb, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(closed, 1);
}

static void ask_srv(struct cpgo_resolver *r, const char *name, struct res *res)
{
    memset(res, 0, sizeof *res);
    res->stop = 1;
    CHECK(cpgo_resolver_srv(r, name, on_answer, res) != NULL);
    CHECK_EQ_INT(res->calls, 0); /* never from inside the call */
    CHECK(run_until(&loop, &res->done, 30) == 0);
}

static void ask_addr(struct cpgo_resolver *r, const char *name, int family, struct res *res)
{
    memset(res, 0, sizeof *res);
    res->stop = 1;
    CHECK(cpgo_resolver_addr(r, name, family, on_answer, res) != NULL);
    CHECK_EQ_INT(res->calls, 0);
    CHECK(run_until(&loop, &res->done, 30) == 0);
}

static int has_addr(const struct res *r, const char *addr)
{
    for (size_t i = 0; i < r->a.naddrs; i++)
        if (!strcmp(r->addrs[i], addr)) return 1;
    return 0;
}

static int has_srv(const struct res *r, const char *host, int port)
{
    for (size_t i = 0; i < r->a.nsrv; i++)
        if (!strcmp(r->hosts[i], host) && r->ports[i] == port) return 1;
    return 0;
}

/* ---- answers from dnsmasq -------------------------------------------------------------- */

static void test_answers(void)
{
    struct cpgo_resolver *r = resolver_at(dm.port, 5000);
    struct res res;

    ask_srv(r, "_pprof._tcp.fleet.test", &res);
    CHECK(!res.a.failed && !res.a.nxdomain);
    CHECK_EQ_INT(res.a.nsrv, 3);
    CHECK(has_srv(&res, "app.test", 6060));
    CHECK(has_srv(&res, "app.test", 6061));
    CHECK(has_srv(&res, "other.test", 7070));

    /* 60 records do not fit in 512 bytes: truncated over UDP, asked again over TCP */
    ask_srv(r, "_pprof._tcp.big.test", &res);
    CHECK(!res.a.failed);
    CHECK_EQ_INT(res.a.nsrv, 60);
    CHECK(has_srv(&res, "app.test", 10000));
    CHECK(has_srv(&res, "app.test", 10059));

    /* target "." (RFC 2782: no service here): an answer without targets */
    ask_srv(r, "_pprof._tcp.none.test", &res);
    CHECK(!res.a.failed && !res.a.nxdomain);
    CHECK_EQ_INT(res.a.nsrv, 0);

    ask_addr(r, "app.test", AF_INET, &res);
    CHECK(!res.a.failed);
    CHECK_EQ_INT(res.a.naddrs, 1);
    CHECK(has_addr(&res, "127.0.0.10"));

    ask_addr(r, "app.test", AF_INET6, &res);
    CHECK(!res.a.failed);
    CHECK_EQ_INT(res.a.naddrs, 1);
    CHECK(has_addr(&res, "::10"));

    ask_addr(r, "app.test", AF_UNSPEC, &res);
    CHECK(!res.a.failed);
    CHECK_EQ_INT(res.a.naddrs, 2);
    CHECK(has_addr(&res, "127.0.0.10") && has_addr(&res, "::10"));

    ask_addr(r, "hosts1.test", AF_INET, &res); /* from the hosts file */
    CHECK(!res.a.failed && has_addr(&res, "127.0.0.31"));

    /* NXDOMAIN: an answer, the name does not exist */
    ask_srv(r, "_pprof._tcp.nope.test", &res);
    CHECK(!res.a.failed && res.a.nxdomain && res.a.nsrv == 0);
    ask_addr(r, "nope.test", AF_INET, &res);
    CHECK(!res.a.failed && res.a.nxdomain && res.a.naddrs == 0);

    /* NOERROR without data: an empty answer */
    ask_addr(r, "v4only.test", AF_INET6, &res);
    CHECK(!res.a.failed && !res.a.nxdomain && res.a.naddrs == 0);
    ask_srv(r, "app.test", &res);
    CHECK(!res.a.failed && !res.a.nxdomain && res.a.nsrv == 0);

    /* REFUSED (outside every --local domain): a failure naming query and server */
    char server[64];
    snprintf(server, sizeof server, "127.0.0.1:%d", dm.port);
    ask_srv(r, "_pprof._tcp.x.example", &res);
    CHECK(res.a.failed);
    CHECK_STR_CONTAINS(res.a.error, "SRV _pprof._tcp.x.example");
    CHECK_STR_CONTAINS(res.a.error, "REFUSED");
    CHECK_STR_CONTAINS(res.a.error, server);
    ask_addr(r, "app.example", AF_INET, &res);
    CHECK(res.a.failed);
    CHECK_STR_CONTAINS(res.a.error, "A app.example");
    CHECK_STR_CONTAINS(res.a.error, "REFUSED");

    /* IP literals: no query, and still never from inside the call */
    ask_addr(r, "192.0.2.7", AF_INET, &res);
    CHECK(!res.a.failed && res.a.naddrs == 1 && has_addr(&res, "192.0.2.7"));
    ask_addr(r, "[2001:db8::0:1]", AF_UNSPEC, &res);
    CHECK(!res.a.failed && res.a.naddrs == 1 && has_addr(&res, "2001:db8::1"));
    ask_addr(r, "192.0.2.7", AF_INET6, &res);
    CHECK(!res.a.failed && res.a.naddrs == 0);

    resolver_close_wait(r);
}

/* Each query asks the server: a changed hosts file is seen at once. */
static void test_no_cache(void)
{
    struct cpgo_resolver *r = resolver_at(dm.port, 5000);
    struct res res;
    ask_addr(r, "hosts1.test", AF_INET, &res);
    CHECK(has_addr(&res, "127.0.0.31"));
    CHECK(dnsmasq_hosts(&dm, "127.0.0.32 hosts1.test\n127.0.0.99 gen2.test\n", "gen2.test") == 0);
    ask_addr(r, "hosts1.test", AF_INET, &res);
    CHECK_EQ_INT(res.a.naddrs, 1);
    CHECK(has_addr(&res, "127.0.0.32"));
    CHECK(dnsmasq_hosts(&dm, "127.0.0.31 hosts1.test\n127.0.0.98 gen3.test\n", "gen3.test") == 0);
    resolver_close_wait(r);
}

/* ---- servers dnsmasq cannot be --------------------------------------------------------- */

static void test_timeout(void)
{
    struct bad_server b;
    CHECK(bad_server_start(&b, BAD_SILENT, 0) == 0);
    struct cpgo_resolver *r = resolver_at(b.port, 600);
    struct res res, res2;
    double t0 = now_s();
    memset(&res2, 0, sizeof res2);
    CHECK(cpgo_resolver_addr(r, "app.test", AF_UNSPEC, on_answer, &res2) != NULL);
    ask_srv(r, "_pprof._tcp.fleet.test", &res);
    double took = now_s() - t0;
    CHECK(res.a.failed);
    CHECK_STR_CONTAINS(res.a.error, "SRV _pprof._tcp.fleet.test: no answer from 127.0.0.1:");
    CHECK_STR_CONTAINS(res.a.error, "within 0.6s");
    /* bounded by the timeout: not before it, and not long after (generous) */
    CHECK(took >= 0.55);
    CHECK(took < 5);
    if (!res2.done) run_until(&loop, &res2.done, 10);
    CHECK(res2.done && res2.a.failed);
    resolver_close_wait(r);
    bad_server_stop(&b);
}

static void test_malformed(void)
{
    struct bad_server b;
    CHECK(bad_server_start(&b, BAD_MALFORMED, 0) == 0);
    struct cpgo_resolver *r = resolver_at(b.port, 3000);
    struct res res;
    ask_srv(r, "_pprof._tcp.fleet.test", &res);
    CHECK(res.a.failed);
    CHECK_STR_CONTAINS(res.a.error, "SRV _pprof._tcp.fleet.test: malformed reply from 127.0.0.1:");
    ask_addr(r, "app.test", AF_INET, &res);
    CHECK(res.a.failed);
    CHECK_STR_CONTAINS(res.a.error, "A app.test: malformed reply");
    resolver_close_wait(r);
    bad_server_stop(&b);
}

/* ---- cancel and close ------------------------------------------------------------------ */

static void test_cancel(void)
{
    struct bad_server b;
    CHECK(bad_server_start(&b, BAD_SILENT, 0) == 0);
    struct cpgo_resolver *r = resolver_at(b.port, 400);
    struct res a, c, lit;
    memset(&a, 0, sizeof a);
    memset(&c, 0, sizeof c);
    memset(&lit, 0, sizeof lit);
    a.stop = 1;
    /* in flight at c-ares, then cancelled: its callback never runs, even after c-ares
     * gives up on it */
    struct cpgo_dns_query *q = cpgo_resolver_srv(r, "_pprof._tcp.fleet.test", on_answer, &c);
    /* answered at once but not yet delivered, then cancelled */
    struct cpgo_dns_query *ql = cpgo_resolver_addr(r, "10.1.2.3", AF_INET, on_answer, &lit);
    CHECK(q && ql);
    cpgo_dns_query_cancel(ql);
    uv_run(&loop, UV_RUN_NOWAIT);
    cpgo_dns_query_cancel(q);
    CHECK(cpgo_resolver_srv(r, "_pprof._tcp.other.test", on_answer, &a) != NULL);
    CHECK(run_until(&loop, &a.done, 10) == 0);
    CHECK(a.a.failed);
    uv_run(&loop, UV_RUN_DEFAULT); /* until c-ares lets go of everything */
    CHECK_EQ_INT(c.calls, 0);
    CHECK_EQ_INT(lit.calls, 0);
    resolver_close_wait(r);
    bad_server_stop(&b);
}

/* close with queries in flight (c-ares holds them), answered and not delivered, and
 * let go of after the deadline: no callback runs, `closed` once, nothing left open */
static void test_close_in_flight(void)
{
    struct bad_server b;
    CHECK(bad_server_start(&b, BAD_SILENT, 0) == 0);
    struct cpgo_resolver *r = resolver_at(b.port, 5000);
    struct res x[4];
    memset(x, 0, sizeof x);
    CHECK(cpgo_resolver_srv(r, "_pprof._tcp.fleet.test", on_answer, &x[0]) != NULL);
    CHECK(cpgo_resolver_addr(r, "app.test", AF_UNSPEC, on_answer, &x[1]) != NULL);
    CHECK(cpgo_resolver_addr(r, "::1", AF_INET6, on_answer, &x[2]) != NULL);
    struct cpgo_dns_query *q = cpgo_resolver_addr(r, "app.test", AF_INET, on_answer, &x[3]);
    uv_run(&loop, UV_RUN_NOWAIT); /* the sockets are open, polled */
    CHECK_EQ_INT(x[2].calls, 1);
    cpgo_dns_query_cancel(q);
    resolver_close_wait(r);
    CHECK_EQ_INT(x[0].calls + x[1].calls + x[3].calls, 0);
    bad_server_stop(&b);

    /* at once, before the loop ever ran */
    r = resolver_at(dm.port, 5000);
    memset(x, 0, sizeof x);
    CHECK(cpgo_resolver_srv(r, "_pprof._tcp.fleet.test", on_answer, &x[0]) != NULL);
    CHECK(cpgo_resolver_addr(r, "127.0.0.1", AF_INET, on_answer, &x[1]) != NULL);
    resolver_close_wait(r);
    CHECK_EQ_INT(x[0].calls + x[1].calls, 0);
}

/* closing from inside a callback: the other answers, ready in the same turn, are dropped */
static struct cpgo_resolver *closing_r;
static int inner_closed, inner_calls;
static void close_inside(const struct cpgo_dns_answer *a, void *arg)
{
    inner_calls++;
    if (inner_calls == 1) cpgo_resolver_close(closing_r, closed_cb, &inner_closed);
}

static void test_close_in_callback(void)
{
    closing_r = resolver_at(dm.port, 5000);
    inner_calls = inner_closed = 0;
    CHECK(cpgo_resolver_addr(closing_r, "10.0.0.1", AF_INET, close_inside, NULL) != NULL);
    CHECK(cpgo_resolver_addr(closing_r, "10.0.0.2", AF_INET, close_inside, NULL) != NULL);
    CHECK(cpgo_resolver_srv(closing_r, "_pprof._tcp.fleet.test", close_inside, NULL) != NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(inner_calls, 1);
    CHECK_EQ_INT(inner_closed, 1);

    /* and from inside the callback of a real (c-ares) answer, with more in flight */
    closing_r = resolver_at(dm.port, 5000);
    inner_calls = inner_closed = 0;
    for (int i = 0; i < 5; i++)
        CHECK(cpgo_resolver_srv(closing_r, "_pprof._tcp.fleet.test", close_inside, NULL) != NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(inner_calls >= 1);
    CHECK_EQ_INT(inner_closed, 1);
}

/* a query started from inside a callback is answered too (and not in the same turn) */
static struct cpgo_resolver *chain_r;
static struct res chain_res;
static void chain_first(const struct cpgo_dns_answer *a, void *arg)
{
    CHECK(cpgo_resolver_addr(chain_r, "app.test", AF_INET, on_answer, &chain_res) != NULL);
    CHECK_EQ_INT(chain_res.calls, 0);
}

static void test_query_in_callback(void)
{
    chain_r = resolver_at(dm.port, 5000);
    memset(&chain_res, 0, sizeof chain_res);
    chain_res.stop = 1;
    CHECK(cpgo_resolver_addr(chain_r, "10.9.9.9", AF_INET, chain_first, NULL) != NULL);
    CHECK(run_until(&loop, &chain_res.done, 30) == 0);
    CHECK(has_addr(&chain_res, "127.0.0.10"));
    resolver_close_wait(chain_r);
}

/* Without dns.servers: resolv.conf, read again when the channel is made again (idle and
 * older than reread_ms). c-ares 1.18 takes no port from resolv.conf, so dnsmasq cannot be
 * named there: the server a failure names shows which file was read (nothing listens on
 * 127.0.0.2-4:53 on a test machine; if something does, there is nothing to see). */
static void test_resolv_conf(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/resolv.conf", dm.dir);
    write_file(path, "nameserver 127.0.0.2\n");
    struct cpgo_resolver_opts o = {.resolv_conf = path, .reread_ms = 1, .timeout_ms = 2000};
    struct cpgo_resolver *r;
    struct cpgo_err err;
    CHECK(cpgo_resolver_new(&loop, &o, &r, &err) == 0);
    struct res one, two;
    ask_srv(r, "_pprof._tcp.x.invalid", &one);
    write_file(path, "nameserver 127.0.0.3\nnameserver 127.0.0.4\n");
    usleep(5 * 1000);
    uv_update_time(&loop);
    ask_srv(r, "_pprof._tcp.x.invalid", &two);
    if (one.a.failed && two.a.failed) {
        CHECK_STR_CONTAINS(one.a.error, "127.0.0.2:53");
        CHECK_STR_CONTAINS(two.a.error, "127.0.0.3:53,127.0.0.4:53");
    } else {
        printf("test_resolv_conf: a server answers on 127.0.0.2-4:53: not checked\n");
    }
    resolver_close_wait(r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!dnsmasq_path()) {
        printf("SKIP: dnsmasq is not installed\n");
        return 0;
    }
    CHECK(uv_loop_init(&loop) == 0);
    dnsmasq_init(&dm);
    dnsmasq_record(&dm, "--host-record=app.test,127.0.0.10,::10");
    dnsmasq_record(&dm, "--host-record=other.test,127.0.0.11");
    dnsmasq_record(&dm, "--host-record=v4only.test,127.0.0.12");
    dnsmasq_record(&dm, "--srv-host=_pprof._tcp.fleet.test,app.test,6060,0,5");
    dnsmasq_record(&dm, "--srv-host=_pprof._tcp.fleet.test,app.test,6061,0,5");
    dnsmasq_record(&dm, "--srv-host=_pprof._tcp.fleet.test,other.test,7070,1,0");
    dnsmasq_record(&dm, "--srv-host=_pprof._tcp.none.test");
    static char big[60][96];
    for (int i = 0; i < 60; i++) {
        snprintf(big[i], sizeof big[i], "--srv-host=_pprof._tcp.big.test,app.test,%d", 10000 + i);
        dnsmasq_record(&dm, big[i]);
    }
    write_file(dm.hosts, "127.0.0.31 hosts1.test\n");
    if (dnsmasq_start(&dm)) {
        dnsmasq_cleanup(&dm);
        CHECK(0);
        CHECK_DONE();
    }

    test_answers();
    test_no_cache();
    test_timeout();
    test_malformed();
    test_cancel();
    test_close_in_flight();
    test_close_in_callback();
    test_query_in_callback();
    test_resolv_conf();

    dnsmasq_cleanup(&dm);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    CHECK_DONE();
}
