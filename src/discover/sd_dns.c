/*
 * sd_dns.c - `dns_sd_configs[]`: every refresh_interval, each name is asked of the
 * resolver (SRV, A or AAAA) and the answers together become the source's targets.
 *
 *   SRV       one target per record: "<target>:<port>" (the host name kept: resolving it is
 *             the aggregator's job, through the same resolver); priority and weight ignored
 *   A, AAAA   one target per address: "<ip>:<port>" with the configured port
 *
 * As Prometheus: a refresh succeeds when every name got an answer (NXDOMAIN and NOERROR
 * without data are answers: no targets for that name); when any name failed (timeout,
 * SERVFAIL, REFUSED, malformed), the refresh fails and the last good targets stay.
 *
 * A refresh never overlaps the previous one: a tick that comes while one is running waits
 * and starts it as soon as that one ends (as Go's ticker keeps one tick), and the
 * resolver's timeout bounds how long a refresh can run.
 *
 * Owns: its timer, the queries of the running refresh and their answers so far. Borrows:
 * the resolver and the configuration (both outlive it). Thread: the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/url.h"
#include "discover/resolver.h"
#include "discover/source.h"

struct sd_dns;

/* One name's part of the running refresh. */
struct dns_name {
    struct sd_dns *s;
    struct cpgo_dns_query *q; /* in flight; NULL once answered */
    int done, failed;
    char error[256];
    struct cpgo_sd_target *t; /* this name's targets */
    size_t nt;
    struct cpgo_sd_dropped *d; /* records not taken, and why */
    size_t nd;
};

struct sd_dns {
    struct cpgo_sd_source base; /* first */
    const struct cpgo_sd_dns_cfg *cfg;
    struct cpgo_resolver *resolver;
    uv_timer_t timer;
    struct dns_name *names; /* cfg->nnames, for the running refresh */
    size_t nnames;          /* cfg->nnames, for the close (cfg may be gone by then) */
    size_t pending;         /* names not answered yet */
    int running, due, closing;
    uint64_t started_ns;
};

static const char *type_name(enum cpgo_dns_type t)
{
    return t == CPGO_DNS_A ? "A" : t == CPGO_DNS_AAAA ? "AAAA" : "SRV";
}

static void name_reset(struct dns_name *n)
{
    cpgo_sd_targets_free(n->t, n->nt);
    cpgo_sd_dropped_free(n->d, n->nd);
    struct sd_dns *s = n->s;
    memset(n, 0, sizeof *n);
    n->s = s;
}

static void name_fail(struct dns_name *n, const char *why)
{
    n->failed = 1;
    snprintf(n->error, sizeof n->error, "%s", why);
}

static int drop(struct dns_name *n, const char *what, const char *why)
{
    if (n->nd >= CPGO_SD_MAX_DROPPED) return 0;
    n->d[n->nd].what = strdup(what);
    n->d[n->nd].why = strdup(why);
    if (!n->d[n->nd].what || !n->d[n->nd].why) {
        free(n->d[n->nd].what);
        free(n->d[n->nd].why);
        return -1;
    }
    n->nd++;
    return 0;
}

static int take(struct dns_name *n, const char *name, char *host, int port)
{
    char origin[300];
    snprintf(origin, sizeof origin, "%s (%s)", name, type_name(n->s->cfg->type));
    struct cpgo_sd_target *t = &n->t[n->nt];
    t->host = host;
    t->port = port;
    if (!(t->origin = strdup(origin))) {
        free(host);
        t->host = NULL;
        return -1;
    }
    n->nt++;
    return 0;
}

/* The answer for one name, as targets (and dropped records). */
static void name_answer(struct dns_name *n, const char *name, const struct cpgo_dns_answer *a)
{
    const struct cpgo_sd_dns_cfg *cfg = n->s->cfg;
    if (a->failed) {
        name_fail(n, a->error);
        return;
    }
    size_t count = cfg->type == CPGO_DNS_SRV ? a->nsrv : a->naddrs;
    if (!count) return; /* NXDOMAIN or no data: no targets for this name */
    n->t = calloc(count, sizeof *n->t);
    n->d = calloc(count < CPGO_SD_MAX_DROPPED ? count : CPGO_SD_MAX_DROPPED, sizeof *n->d);
    if (!n->t || !n->d) {
        name_fail(n, "out of memory");
        return;
    }
    for (size_t i = 0; i < count; i++) {
        char hp[320], why[128], *host;
        int port, rc;
        if (cfg->type == CPGO_DNS_SRV) {
            /* whatever a server sends must make a target as a configured one would */
            snprintf(hp, sizeof hp, "%s:%d", a->srv[i].host, a->srv[i].port);
            if (cpgo_url_parse_hostport(hp, &host, &port, why, sizeof why)) {
                char what[400];
                snprintf(what, sizeof what, "SRV record %s of %s", hp, name);
                rc = drop(n, what, why);
            } else {
                rc = take(n, name, host, port);
            }
        } else {
            rc = (host = strdup(a->addrs[i])) ? take(n, name, host, cfg->port) : -1;
        }
        if (rc) {
            name_fail(n, "out of memory");
            return;
        }
    }
}

static void refresh(struct sd_dns *s);

/* Every name answered: the new set, or the refresh's failure (the last good set stays). */
static void finish(struct sd_dns *s)
{
    const struct cpgo_sd_dns_cfg *cfg = s->cfg;
    double seconds = (double)(uv_hrtime() - s->started_ns) / 1e9;
    char error[sizeof s->base.error];
    size_t el = 0, nt = 0, nd = 0, nfailed = 0;
    error[0] = 0;
    for (size_t i = 0; i < cfg->nnames; i++) {
        struct dns_name *n = &s->names[i];
        nfailed += n->failed ? 1 : 0;
        /* every failed name, as far as the line goes */
        if (n->failed && el < sizeof error)
            el += (size_t)snprintf(error + el, sizeof error - el, "%s%s", el ? "; " : "", n->error);
        nt += n->nt;
        nd += n->nd;
    }
    s->running = 0;
    if (nfailed) {
        for (size_t i = 0; i < cfg->nnames; i++)
            name_reset(&s->names[i]);
        cpgo_sd_source_fail(&s->base, seconds, "%s", error);
    } else {
        size_t over = nt > CPGO_SD_MAX_TARGETS ? nt - CPGO_SD_MAX_TARGETS : 0;
        if (over) nt = CPGO_SD_MAX_TARGETS;
        /* the records' dropped entries, and one saying targets were cut */
        size_t ndrec = nd < CPGO_SD_MAX_DROPPED - 1 ? nd : CPGO_SD_MAX_DROPPED - 1;
        nd = ndrec + (over ? 1 : 0);
        struct cpgo_sd_target *t = nt ? calloc(nt, sizeof *t) : NULL;
        struct cpgo_sd_dropped *d = nd ? calloc(nd, sizeof *d) : NULL;
        if ((nt && !t) || (nd && !d)) {
            free(t);
            free(d);
            for (size_t i = 0; i < cfg->nnames; i++)
                name_reset(&s->names[i]);
            cpgo_sd_source_fail(&s->base, seconds, "out of memory");
        } else {
            /* moved name by name into one list: the strings change owner, what is left
             * (over a limit) is freed with the name's arrays */
            size_t ti = 0, di = 0;
            for (size_t i = 0; i < cfg->nnames; i++) {
                struct dns_name *n = &s->names[i];
                for (size_t j = 0; j < n->nt && ti < nt; j++) {
                    t[ti++] = n->t[j];
                    n->t[j].host = n->t[j].origin = NULL;
                }
                for (size_t j = 0; j < n->nd && di < ndrec; j++) {
                    d[di++] = n->d[j];
                    n->d[j].what = n->d[j].why = NULL;
                }
                name_reset(n);
            }
            if (over && di < nd) {
                char what[64], why[96];
                snprintf(what, sizeof what, "%zu more targets", over);
                snprintf(why, sizeof why, "over the limit of %d targets per source",
                         CPGO_SD_MAX_TARGETS);
                d[di].what = strdup(what);
                d[di].why = strdup(why);
                if (d[di].what && d[di].why) {
                    di++;
                } else {
                    free(d[di].what);
                    free(d[di].why);
                }
            }
            cpgo_sd_source_succeed(&s->base, t, ti, d, di, seconds);
        }
    }
    /* `changed` may have closed the source: then no refresh starts */
    if (!s->closing && s->due) {
        s->due = 0;
        refresh(s);
    }
}

static void on_answer(const struct cpgo_dns_answer *a, void *arg)
{
    struct dns_name *n = arg;
    struct sd_dns *s = n->s;
    n->q = NULL;
    n->done = 1;
    name_answer(n, s->cfg->names[n - s->names], a);
    if (--s->pending == 0) finish(s);
}

static void refresh(struct sd_dns *s)
{
    const struct cpgo_sd_dns_cfg *cfg = s->cfg;
    s->running = 1;
    s->started_ns = uv_hrtime();
    s->pending = cfg->nnames;
    /* every name is asked before any answer can come (answers come on later turns) */
    for (size_t i = 0; i < cfg->nnames; i++) {
        struct dns_name *n = &s->names[i];
        name_reset(n);
        const char *name = cfg->names[i];
        if (cfg->type == CPGO_DNS_SRV)
            n->q = cpgo_resolver_srv(s->resolver, name, on_answer, n);
        else
            n->q = cpgo_resolver_addr(s->resolver, name,
                                      cfg->type == CPGO_DNS_A ? AF_INET : AF_INET6, on_answer, n);
        if (!n->q) {
            n->done = 1;
            name_fail(n, "out of memory");
            s->pending--;
        }
    }
    if (s->pending == 0) finish(s); /* no name, or none could be asked */
}

static void on_tick(uv_timer_t *h)
{
    struct sd_dns *s = h->data;
    if (s->running) {
        s->due = 1; /* the next refresh starts when this one ends */
        return;
    }
    refresh(s);
}

static int start(struct cpgo_sd_source *src)
{
    struct sd_dns *s = (struct sd_dns *)src;
    if (!s->resolver) {
        snprintf(src->error, sizeof src->error, "no resolver");
        return -1;
    }
    if (s->cfg->type != CPGO_DNS_SRV && (s->cfg->port < 1 || s->cfg->port > 65535)) {
        snprintf(src->error, sizeof src->error, "port (1-65535) is required for type %s",
                 type_name(s->cfg->type));
        return -1;
    }
    uint64_t every = s->cfg->refresh_ms > 0 ? (uint64_t)s->cfg->refresh_ms : 30000;
    /* the first refresh on the next loop turn, never inside start */
    uv_timer_start(&s->timer, on_tick, 0, every);
    return 0;
}

static void closed(uv_handle_t *h)
{
    struct sd_dns *s = h->data;
    /* not s->cfg: the configuration may be freed by now (a reload closes the source, then
     * frees the old configuration before this callback runs) */
    for (size_t i = 0; s->names && i < s->nnames; i++)
        name_reset(&s->names[i]);
    free(s->names);
    cpgo_sd_source_free_base(&s->base);
    free(s);
}

static void close_src(struct cpgo_sd_source *src)
{
    struct sd_dns *s = (struct sd_dns *)src;
    if (s->closing) return;
    s->closing = 1;
    s->base.changed = NULL;
    for (size_t i = 0; i < s->nnames; i++)
        if (s->names[i].q) {
            cpgo_dns_query_cancel(s->names[i].q);
            s->names[i].q = NULL;
        }
    uv_close((uv_handle_t *)&s->timer, closed);
}

static const struct cpgo_sd_source_ops ops = {start, close_src};

int cpgo_sd_dns_new(const struct cpgo_sd_env *env, const struct cpgo_sd_dns_cfg *cfg, size_t index,
                    struct cpgo_sd_source **out)
{
    struct sd_dns *s = calloc(1, sizeof *s);
    if (!s) return -1;
    if (cfg->nnames && !(s->names = calloc(cfg->nnames, sizeof *s->names))) {
        free(s);
        return -1;
    }
    for (size_t i = 0; i < cfg->nnames; i++)
        s->names[i].s = s;
    s->base.ops = &ops;
    s->base.kind = CPGO_SD_DNS;
    s->base.loop = env->loop;
    snprintf(s->base.name, sizeof s->base.name, "dns_sd_configs[%zu]", index);
    s->cfg = cfg;
    s->nnames = cfg->nnames;
    s->resolver = env->resolver;
    uv_timer_init(env->loop, &s->timer);
    s->timer.data = s;
    *out = &s->base;
    return 0;
}
