/* The union of a service's sources (discover.c): deduplicated by address and port (the
 * first source wins, the others are dropped with why), sorted by the rotation's key;
 * "settled" only once the list reflects every answer; a large fleet rebuilt without
 * quadratic work on the loop thread. Static sources only (their answers come from the
 * configuration); names go to a DNS server that never answers (a bound UDP socket that
 * reads nothing), on loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "discover/discover.h"

struct ctx {
    uv_loop_t *loop;
    int changes;
    double first_change_s; /* CPU seconds of this (the loop) thread until the first `changed` */
    struct timespec t0;
};

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void changed(struct cpgo_discovery *dsc, void *arg)
{
    (void)dsc;
    struct ctx *c = arg;
    if (!c->changes++) c->first_change_s = since(&c->t0);
    uv_stop(c->loop);
}

/* a DNS server that never answers: a bound UDP socket nobody reads */
static int silent_server(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

struct fixture {
    uv_loop_t loop;
    int fd;
    char server[32];
    const char *servers[1];
    struct cpgo_resolver *res;
    struct cpgo_scraper *scraper;
};

static int fixture_open(struct fixture *f)
{
    int port;
    uv_loop_init(&f->loop);
    f->fd = silent_server(&port);
    if (f->fd < 0) return -1;
    snprintf(f->server, sizeof f->server, "127.0.0.1:%d", port);
    f->servers[0] = f->server;
    struct cpgo_resolver_opts ro = {f->servers, 1, 60000, NULL, 0};
    struct cpgo_err err;
    return cpgo_resolver_new(&f->loop, &ro, &f->res, &err);
}

static void fixture_close(struct fixture *f)
{
    cpgo_resolver_close(f->res, NULL, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&f->loop), 0);
    close(f->fd);
}

static struct cpgo_discovery *discovery(struct fixture *f, struct cpgo_service_cfg *svc,
                                        struct ctx *c)
{
    struct cpgo_sd_env env = {&f->loop, f->res, NULL, "."};
    struct cpgo_discovery *dsc = NULL;
    struct cpgo_err err;
    c->loop = &f->loop;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c->t0);
    CHECK_EQ_INT(cpgo_discovery_new(&env, svc, changed, c, &dsc, &err), 0);
    CHECK_EQ_INT(cpgo_discovery_start(dsc, &err), 0);
    return dsc;
}

/* Two static sources sharing an address: one instance, from the first source; the other
 * is dropped naming it. The list is sorted by key. */
static void test_union(void)
{
    struct fixture f;
    CHECK_EQ_INT(fixture_open(&f), 0);
    char *a[] = {"10.0.0.1:6060", "10.0.0.2:6060", "10.0.0.1:6061"};
    char *b[] = {"10.0.0.2:6060", "10.0.0.3:6060"};
    struct cpgo_sd_static_cfg st[2] = {{a, 3, 1}, {b, 2, 2}};
    struct cpgo_service_cfg svc = {.name = "web", .statics = st, .nstatics = 2};
    struct ctx c = {0};
    struct cpgo_discovery *dsc = discovery(&f, &svc, &c);
    for (int i = 0; i < 100 && !cpgo_discovery_settled(dsc); i++)
        uv_run(&f.loop, UV_RUN_ONCE);
    size_t n, nd;
    const struct cpgo_instance *in = cpgo_discovery_instances(dsc, &n);
    const struct cpgo_instance_dropped *dr = cpgo_discovery_dropped(dsc, &nd);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(nd, 1);
    if (nd == 1) {
        CHECK(!strcmp(dr[0].what, "10.0.0.2:6060"));
        CHECK_STR_CONTAINS(dr[0].why, "the same address as static_configs[0]");
        CHECK(!strcmp(dr[0].source, "static_configs[1]"));
    }
    for (size_t i = 0; i + 1 < n; i++)
        CHECK(in[i].key < in[i + 1].key);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(in[i].addr, "10.0.0.2")) CHECK_STR_CONTAINS(in[i].origin, "static_configs[0]");
    CHECK_EQ_INT(cpgo_discovery_source_instances(dsc, 0), 3);
    CHECK_EQ_INT(cpgo_discovery_source_instances(dsc, 1), 1);
    cpgo_discovery_close(dsc);
    fixture_close(&f);
}

/* A source that answers with nothing (file_sd before its files exist): an empty list, and
 * no null array handed to qsort (UBSan aborts on it). */
static void test_empty(void)
{
    struct fixture f;
    CHECK_EQ_INT(fixture_open(&f), 0);
    struct cpgo_sd_static_cfg st = {NULL, 0, 1};
    struct cpgo_service_cfg svc = {.name = "web", .statics = &st, .nstatics = 1};
    struct ctx c = {0};
    struct cpgo_discovery *dsc = discovery(&f, &svc, &c);
    uv_run(&f.loop, UV_RUN_DEFAULT); /* until the first list */
    size_t n;
    CHECK_EQ_INT(c.changes, 1);
    CHECK(cpgo_discovery_instances(dsc, &n) == NULL && n == 0);
    CHECK(cpgo_discovery_settled(dsc));
    cpgo_discovery_close(dsc);
    fixture_close(&f);
}

/* --once starts a service's round as soon as its discovery says it has settled: by then
 * the instance list must hold every answer. A source answers on one loop turn and the list
 * is rebuilt on a later one; in between, "settled" said yes with the list still empty. */
static void test_settled_means_listed(void)
{
    struct fixture f;
    CHECK_EQ_INT(fixture_open(&f), 0);
    char *a[] = {"10.0.0.1:6060", "10.0.0.2:6060"};
    struct cpgo_sd_static_cfg st = {a, 2, 1};
    struct cpgo_service_cfg svc = {.name = "web", .statics = &st, .nstatics = 1};
    struct ctx c = {0};
    struct cpgo_discovery *dsc = discovery(&f, &svc, &c);
    int turns = 0, early = 0;
    for (; turns < 100; turns++) {
        if (cpgo_discovery_settled(dsc)) {
            size_t n;
            cpgo_discovery_instances(dsc, &n);
            if (n != 2) early++;
            break;
        }
        uv_run(&f.loop, UV_RUN_ONCE);
    }
    CHECK(turns < 100);
    CHECK_EQ_INT(early, 0);
    cpgo_discovery_close(dsc);
    fixture_close(&f);
}

/* A large fleet: 100,000 addresses (the ceiling per service, every one listed twice, by two
 * sources) and 5,000 names, rebuilt on the loop thread: linear-ish work, well under a
 * second of CPU even under sanitizers. The quadratic dedupe and name lookup took minutes.
 * Judged in the loop thread's CPU time, not wall time: a loaded machine does not change it. */
static void test_large_fleet(void)
{
    struct fixture f;
    CHECK_EQ_INT(fixture_open(&f), 0);
    const size_t nip = 50000, nname = 5000;
    char **a = calloc(nip, sizeof *a), **b = calloc(nip + nname, sizeof *b);
    for (size_t i = 0; i < nip; i++) {
        char t[64];
        snprintf(t, sizeof t, "10.%zu.%zu.%zu:6060", i / 65536, (i / 256) % 256, i % 256);
        a[i] = strdup(t);
        b[i] = strdup(t);
    }
    for (size_t i = 0; i < nname; i++) {
        char t[64];
        snprintf(t, sizeof t, "pod-%zu.web.internal:6060", i);
        b[nip + i] = strdup(t);
    }
    struct cpgo_sd_static_cfg st[2] = {{a, nip, 1}, {b, nip + nname, 2}};
    struct cpgo_service_cfg svc = {.name = "web", .statics = st, .nstatics = 2};
    struct ctx c = {0};
    struct cpgo_discovery *dsc = discovery(&f, &svc, &c);
    uv_run(&f.loop, UV_RUN_DEFAULT); /* until the first list */
    size_t n, nd;
    cpgo_discovery_instances(dsc, &n);
    cpgo_discovery_dropped(dsc, &nd);
    CHECK_EQ_INT(c.changes, 1);
    CHECK_EQ_INT(n, nip);
    CHECK_EQ_INT(nd, 1000); /* the duplicates and the unresolved names, up to the ceiling */
    fprintf(stderr, "first list of %zu instances after %.3f s of CPU\n", n, c.first_change_s);
    CHECK(c.first_change_s < 3.0);
    cpgo_discovery_close(dsc);
    fixture_close(&f);
    for (size_t i = 0; i < nip; i++) {
        free(a[i]);
        free(b[i]);
    }
    for (size_t i = 0; i < nname; i++)
        free(b[nip + i]);
    free(a);
    free(b);
}

int main(void)
{
    test_union();
    test_empty();
    test_settled_means_listed();
    test_large_fleet();
    CHECK_DONE();
}
