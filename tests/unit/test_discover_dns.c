/* Unit tests for discover/sd_dns (`dns_sd_configs[]`): the source with the real resolver on
 * a private libuv loop against a real dnsmasq on 127.0.0.1 (a free port). Covered: SRV
 * names with several records and ports (host names kept, origins named), A and AAAA with
 * the configured port, NXDOMAIN and NOERROR without data as empty answers, REFUSED as a
 * failure, records changed between refreshes (the hosts file re-read on SIGHUP; SRV
 * records by a restart on the same port), and the last good set kept through a server that
 * went away, one that never answers (failure after the timeout) and one that sends
 * malformed SRV replies; a stuck refresh is never overlapped by the next; unusable SRV
 * records are dropped with why; close with a refresh in flight and from inside `changed`.
 * Every run ends with the loop closed with nothing open (uv_loop_close == 0). Skipped only
 * when dnsmasq is not installed. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "discover/resolver.h"
#include "discover/source.h"
#include "dns_helpers.h"

static uv_loop_t loop;
static struct dnsmasq dm;

/* ---- what a source reported ------------------------------------------------------------- */

struct seen {
    int changes;    /* calls of `changed` */
    int target;     /* uv_stop once changes reaches it */
    int reached;    /* changes >= target */
    double at[64];  /* when each change came (now_s) */
    char set[2048]; /* the targets, sorted: "host:port origin|..." */
    char dropped[1024];
    int ok;
    char error[512];
    size_t ntargets;
    int close_inside; /* close the source from inside `changed` */
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void on_changed(struct cpgo_sd_source *src, void *arg)
{
    struct seen *s = arg;
    if (s->changes < 64) s->at[s->changes] = now_s();
    s->changes++;
    s->ok = src->ok;
    snprintf(s->error, sizeof s->error, "%s", src->error);
    s->ntargets = src->ntargets;
    char *items[256];
    size_t n = src->ntargets < 256 ? src->ntargets : 256;
    for (size_t i = 0; i < n; i++) {
        items[i] = malloc(400);
        snprintf(items[i], 400, "%s:%d %s", src->targets[i].host, src->targets[i].port,
                 src->targets[i].origin);
    }
    qsort(items, n, sizeof *items, cmp_str);
    size_t len = 0;
    s->set[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (len < sizeof s->set)
            len += (size_t)snprintf(s->set + len, sizeof s->set - len, "%s|", items[i]);
        free(items[i]);
    }
    len = 0;
    s->dropped[0] = 0;
    for (size_t i = 0; i < src->ndropped; i++)
        if (len < sizeof s->dropped)
            len += (size_t)snprintf(s->dropped + len, sizeof s->dropped - len, "%s: %s|",
                                    src->dropped[i].what, src->dropped[i].why);
    if (s->close_inside) src->ops->close(src);
    if (s->changes >= s->target) {
        s->reached = 1;
        uv_stop(&loop);
    }
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

static struct cpgo_sd_source *source(struct cpgo_resolver *r, struct cpgo_sd_dns_cfg *cfg,
                                     struct seen *seen)
{
    struct cpgo_sd_env env = {.loop = &loop, .resolver = r};
    struct cpgo_sd_source *src = NULL;
    memset(seen, 0, sizeof *seen);
    seen->target = 1;
    CHECK(cpgo_sd_dns_new(&env, cfg, 2, &src) == 0);
    src->changed = on_changed;
    src->arg = seen;
    CHECK_EQ_INT(src->ops->start(src), 0);
    CHECK_EQ_INT(seen->changes, 0); /* the first refresh comes later, on the loop */
    return src;
}

/* Runs until `changed` was called `n` times in all. */
static int wait_changes(struct seen *s, int n, double max_s)
{
    s->target = n;
    s->reached = s->changes >= n;
    if (!s->reached) run_until(&loop, &s->reached, max_s);
    return s->reached ? 0 : -1;
}

/* Runs until the set is `want` (refreshes keep coming every refresh_interval). */
static int wait_set(struct seen *s, const char *want, double max_s)
{
    double end = now_s() + max_s;
    while (strcmp(s->set, want) && now_s() < end)
        if (wait_changes(s, s->changes + 1, end - now_s())) break;
    return strcmp(s->set, want) ? -1 : 0;
}

static void source_close(struct cpgo_sd_source *src)
{
    src->ops->close(src);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* ---- answers ------------------------------------------------------------------------------ */

static void test_srv(void)
{
    struct cpgo_resolver *r = resolver_at(dm.port, 5000);
    char *names[] = {"_pprof._tcp.fleet.test", "_pprof._tcp.nope.test", "app.test"};
    struct cpgo_sd_dns_cfg cfg = {
        .names = names, .nnames = 3, .type = CPGO_DNS_SRV, .refresh_ms = 60000};
    struct seen s;
    struct cpgo_sd_source *src = source(r, &cfg, &s);
    CHECK(wait_changes(&s, 1, 20) == 0);
    CHECK(s.ok);
    CHECK_EQ_INT(s.ntargets, 3);
    /* NXDOMAIN (nope) and NOERROR without SRV data (app.test): nothing, and no failure */
    CHECK_STR_CONTAINS(s.set, "app.test:6060 _pprof._tcp.fleet.test (SRV)|"
                              "app.test:6061 _pprof._tcp.fleet.test (SRV)|"
                              "other.test:7070 _pprof._tcp.fleet.test (SRV)|");
    CHECK_STR_CONTAINS(src->name, "dns_sd_configs[2]");
    CHECK(src->answered && src->last_success_ms > 0);
    source_close(src);

    /* a record that cannot be a target (port 0) is dropped with why, the rest kept */
    char *zero[] = {"_pprof._tcp.zero.test"};
    cfg.names = zero;
    cfg.nnames = 1;
    src = source(r, &cfg, &s);
    CHECK(wait_changes(&s, 1, 20) == 0);
    CHECK(s.ok);
    CHECK_EQ_INT(s.ntargets, 1);
    CHECK_STR_CONTAINS(s.set, "app.test:6062 _pprof._tcp.zero.test (SRV)|");
    CHECK_STR_CONTAINS(s.dropped, "SRV record app.test:0 of _pprof._tcp.zero.test: has no valid "
                                  "port");
    source_close(src);
    resolver_close_wait(r);
}

static void test_a_aaaa(void)
{
    struct cpgo_resolver *r = resolver_at(dm.port, 5000);
    char *names[] = {"app.test", "nope.test", "v6only.test", "other.test"};
    struct cpgo_sd_dns_cfg cfg = {
        .names = names, .nnames = 4, .type = CPGO_DNS_A, .port = 6060, .refresh_ms = 60000};
    struct seen s;
    struct cpgo_sd_source *src = source(r, &cfg, &s);
    CHECK(wait_changes(&s, 1, 20) == 0);
    CHECK(s.ok);
    CHECK(!strcmp(s.set, "127.0.0.10:6060 app.test (A)|127.0.0.11:6060 other.test (A)|"));
    source_close(src);

    cfg.type = CPGO_DNS_AAAA;
    cfg.port = 7070;
    src = source(r, &cfg, &s);
    CHECK(wait_changes(&s, 1, 20) == 0);
    CHECK(s.ok);
    CHECK(!strcmp(s.set, "::10:7070 app.test (AAAA)|::20:7070 v6only.test (AAAA)|"));
    source_close(src);

    /* A/AAAA without a port: refused at start */
    cfg.port = 0;
    struct cpgo_sd_env env = {.loop = &loop, .resolver = r};
    CHECK(cpgo_sd_dns_new(&env, &cfg, 0, &src) == 0);
    CHECK_EQ_INT(src->ops->start(src), -1);
    CHECK_STR_CONTAINS(src->error, "port (1-65535) is required for type AAAA");
    source_close(src);
    resolver_close_wait(r);
}

/* REFUSED for one name fails the whole refresh (Prometheus: no partial sets) */
static void test_refused(void)
{
    struct cpgo_resolver *r = resolver_at(dm.port, 5000);
    char *names[] = {"_pprof._tcp.fleet.test", "_pprof._tcp.x.example"};
    struct cpgo_sd_dns_cfg cfg = {.names = names, .nnames = 2, .refresh_ms = 60000};
    struct seen s;
    struct cpgo_sd_source *src = source(r, &cfg, &s);
    CHECK(wait_changes(&s, 1, 20) == 0);
    CHECK(!s.ok);
    CHECK_EQ_INT(s.ntargets, 0);
    CHECK_STR_CONTAINS(s.error, "SRV _pprof._tcp.x.example: 127.0.0.1:");
    CHECK_STR_CONTAINS(s.error, "answered REFUSED");
    CHECK(src->answered && src->failures == 1);
    source_close(src);
    resolver_close_wait(r);
}

/* ---- change, and the last good set through failures ---------------------------------------- */

static void test_changes_and_failures(void)
{
    const int64_t timeout = 800;
    struct cpgo_resolver *r = resolver_at(dm.port, timeout);
    char *a_names[] = {"hosts1.test"};
    struct cpgo_sd_dns_cfg acfg = {
        .names = a_names, .nnames = 1, .type = CPGO_DNS_A, .port = 6060, .refresh_ms = 100};
    char *srv_names[] = {"_pprof._tcp.moving.test"};
    struct cpgo_sd_dns_cfg scfg = {.names = srv_names, .nnames = 1, .refresh_ms = 100};
    struct seen as, ss;
    struct cpgo_sd_source *asrc = source(r, &acfg, &as);
    struct cpgo_sd_source *ssrc = source(r, &scfg, &ss);
    CHECK(wait_set(&as, "127.0.0.31:6060 hosts1.test (A)|", 20) == 0);
    CHECK(wait_set(&ss, "app.test:8001 _pprof._tcp.moving.test (SRV)|", 20) == 0);

    /* A: the hosts file edited, SIGHUP */
    CHECK(dnsmasq_hosts(&dm, "127.0.0.32 hosts1.test\n127.0.0.33 hosts1.test\n127.0.0.9 g2.test\n",
                        "g2.test") == 0);
    CHECK(wait_set(&as, "127.0.0.32:6060 hosts1.test (A)|127.0.0.33:6060 hosts1.test (A)|", 20) ==
          0);

    /* SRV: new records need a restart, on the same port */
    dm.records[dm.nrecords - 1] = "--srv-host=_pprof._tcp.moving.test,other.test,8002";
    dnsmasq_record(&dm, "--srv-host=_pprof._tcp.moving.test,other.test,8003");
    CHECK(dnsmasq_restart(&dm) == 0);
    CHECK(wait_set(&ss,
                   "other.test:8002 _pprof._tcp.moving.test (SRV)|"
                   "other.test:8003 _pprof._tcp.moving.test (SRV)|",
                   20) == 0);
    CHECK(ss.ok && as.ok);
    char good_a[2048], good_s[2048];
    snprintf(good_a, sizeof good_a, "%s", as.set);
    snprintf(good_s, sizeof good_s, "%s", ss.set);

    /* the server goes away: failures, the last good sets stay */
    int port = dm.port;
    dnsmasq_stop(&dm);
    int c = as.changes;
    CHECK(wait_changes(&as, c + 1, 20) == 0);
    while (as.ok && !wait_changes(&as, as.changes + 1, 20)) {
    }
    CHECK(!as.ok);
    CHECK_STR_CONTAINS(as.error, "A hosts1.test: ");
    CHECK(!strcmp(as.set, good_a));
    CHECK_EQ_INT(asrc->ntargets, 2);

    /* a server that never answers on that port: each refresh fails after the timeout, and
     * the next one never starts before the last ended (interval 100 ms, timeout 800 ms) */
    struct bad_server b;
    CHECK(bad_server_start(&b, BAD_SILENT, port) == 0);
    c = ss.changes;
    CHECK(wait_changes(&ss, c + 4, 30) == 0);
    CHECK(!ss.ok);
    CHECK_STR_CONTAINS(ss.error, "SRV _pprof._tcp.moving.test: no answer from 127.0.0.1:");
    CHECK(!strcmp(ss.set, good_s));
    for (int i = c + 2; i < c + 4; i++) /* whole refreshes against the silent server */
        CHECK(ss.at[i] - ss.at[i - 1] >= 0.9 * (double)timeout / 1000);
    CHECK(ssrc->last_seconds >= 0.9 * (double)timeout / 1000);
    CHECK(ssrc->last_seconds < 10);
    bad_server_stop(&b);

    /* malformed SRV replies: failures, the last good set stays */
    CHECK(bad_server_start(&b, BAD_MALFORMED, port) == 0);
    int changes0 = ss.changes;
    while (!strstr(ss.error, "malformed") && ss.changes < changes0 + 20 &&
           !wait_changes(&ss, ss.changes + 1, 20)) {
    }
    CHECK(!ss.ok);
    CHECK_STR_CONTAINS(ss.error, "SRV _pprof._tcp.moving.test: malformed reply from 127.0.0.1:");
    CHECK(!strcmp(ss.set, good_s));
    bad_server_stop(&b);

    /* back: the sets follow the records again */
    CHECK(dnsmasq_start_at(&dm, port) == 0);
    CHECK(dnsmasq_hosts(&dm, "127.0.0.31 hosts1.test\n127.0.0.8 g3.test\n", "g3.test") == 0);
    CHECK(wait_set(&as, "127.0.0.31:6060 hosts1.test (A)|", 20) == 0);
    CHECK(as.ok);
    source_close(asrc);
    source_close(ssrc);
    resolver_close_wait(r);
}

/* ---- close --------------------------------------------------------------------------------- */

static void test_close(void)
{
    /* with a refresh in flight (a silent server): `changed` never runs */
    struct bad_server b;
    CHECK(bad_server_start(&b, BAD_SILENT, 0) == 0);
    struct cpgo_resolver *r = resolver_at(b.port, 5000);
    char *names[] = {"_pprof._tcp.a.test", "_pprof._tcp.b.test"};
    struct cpgo_sd_dns_cfg cfg = {.names = names, .nnames = 2, .refresh_ms = 50};
    struct seen s;
    struct cpgo_sd_source *src = source(r, &cfg, &s);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    source_close(src);
    resolver_close_wait(r);
    CHECK_EQ_INT(s.changes, 0);
    bad_server_stop(&b);

    /* closed before its first refresh ran */
    r = resolver_at(dm.port, 5000);
    src = source(r, &cfg, &s);
    source_close(src);
    resolver_close_wait(r);
    CHECK_EQ_INT(s.changes, 0);

    /* from inside `changed`: no further refresh, nothing left open */
    r = resolver_at(dm.port, 5000);
    src = source(r, &cfg, &s);
    s.close_inside = 1;
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(s.changes, 1);
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
    dnsmasq_record(&dm, "--host-record=v6only.test,::20");
    dnsmasq_record(&dm, "--srv-host=_pprof._tcp.fleet.test,app.test,6060,0,5");
    dnsmasq_record(&dm, "--srv-host=_pprof._tcp.fleet.test,app.test,6061,0,5");
    dnsmasq_record(&dm, "--srv-host=_pprof._tcp.fleet.test,other.test,7070,1,0");
    dnsmasq_record(&dm, "--srv-host=_pprof._tcp.zero.test,app.test,0");
    dnsmasq_record(&dm, "--srv-host=_pprof._tcp.zero.test,app.test,6062");
    dnsmasq_record(&dm, "--srv-host=_pprof._tcp.moving.test,app.test,8001"); /* last: replaced */
    write_file(dm.hosts, "127.0.0.31 hosts1.test\n");
    if (dnsmasq_start(&dm)) {
        dnsmasq_cleanup(&dm);
        CHECK(0);
        CHECK_DONE();
    }

    test_srv();
    test_a_aaaa();
    test_refused();
    test_close();
    test_changes_and_failures();

    dnsmasq_cleanup(&dm);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    CHECK_DONE();
}
