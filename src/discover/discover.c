/*
 * discover.c - a service's instances: the union of its sources, names resolved through the
 * one resolver, deduplicated by address and port, sorted by the rotation's key.
 *
 * The list is rebuilt whole after every change (a source's refresh, a name's answer): the
 * sources hold their last good targets, and the name cache holds each name's last good
 * address, so a rebuild never loses what a failed refresh could not confirm.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/hash.h"
#include "base/log.h"
#include "discover/discover.h"

/* A name is asked again when its answer is older than this (sources refresh every 30 s or
 * more, so a changed record is seen within one refresh). */
#define NAME_TTL_MS 30000

struct name {
    char *host;
    char addr[CPGO_DNS_ADDR_MAX]; /* "" until resolved once */
    char why[256];                /* the last failure */
    struct cpgo_dns_query *q;     /* in flight */
    uint64_t asked_ms;            /* uv_now of the last question */
    int used;                     /* referenced by the last rebuild */
    struct cpgo_discovery *dsc;
};

struct cpgo_discovery {
    struct cpgo_sd_env env;
    const struct cpgo_service_cfg *svc;
    cpgo_discovery_cb changed;
    void *arg;
    struct cpgo_sd_source **src;
    size_t nsrc;
    size_t *src_count;
    /* per source, a hash of the error last logged (0: none), so that a source failing at
     * every refresh logs once, again when its error changes, and once when it recovers
     * (the failures metric counts every refresh) */
    uint64_t *src_logged;
    struct name **names;
    size_t nnames, capnames;
    size_t pending; /* name queries in flight */
    struct cpgo_instance *inst;
    size_t ninst;
    struct cpgo_instance_dropped *drop;
    size_t ndrop;
    int started, closing;
    uv_idle_t kick;  /* rebuilds once per loop turn, however many answers came */
    uv_timer_t tick; /* asks stale names again even when no source changes */
    int dirty, handles;
};

static int is_ip(const char *h)
{
    unsigned char b[16];
    return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

static void instances_free(struct cpgo_instance *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(in[i].host);
        free(in[i].origin);
    }
    free(in);
}

static void dropped_free(struct cpgo_instance_dropped *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].what);
        free(d[i].why);
    }
    free(d);
}

/* A rebuild looks up every name and every address among thousands (up to
 * CPGO_SD_MAX_TARGETS a service): open-addressing tables of indexes, made for the rebuild,
 * keep it linear on the loop thread. A table is a power of two at least twice its entries;
 * SIZE_MAX marks a free slot. */
struct index {
    size_t *slot;
    size_t mask;
};

static int index_init(struct index *ix, size_t entries)
{
    size_t cap = 16;
    while (cap < entries * 2)
        cap <<= 1;
    ix->slot = malloc(cap * sizeof *ix->slot);
    if (!ix->slot) return -1;
    memset(ix->slot, 0xff, cap * sizeof *ix->slot);
    ix->mask = cap - 1;
    return 0;
}

/* Under the process key (hash.h): names and addresses come from discovery sources, which
 * must not be able to pick values that share one probe chain. */
static uint64_t host_hash(const char *host)
{
    uint64_t h = CPGO_FNV1A_INIT;
    for (const char *p = host; *p; p++) {
        unsigned char c = (unsigned char)tolower((unsigned char)*p);
        h = cpgo_hash_fnv1a(&c, 1, h);
    }
    return cpgo_hash_mix(cpgo_hash_keyed(0x68), h);
}

/* The name's entry (names[i], case-insensitive), or NULL; with ix, *slot is where it goes. */
static struct name *name_find(struct cpgo_discovery *dsc, const struct index *ix, const char *host,
                              size_t *slot)
{
    if (!ix->slot) {
        for (size_t i = 0; i < dsc->nnames; i++)
            if (!strcasecmp(dsc->names[i]->host, host)) return dsc->names[i];
        return NULL;
    }
    size_t h = (size_t)host_hash(host) & ix->mask;
    for (; ix->slot[h] != SIZE_MAX; h = (h + 1) & ix->mask)
        if (!strcasecmp(dsc->names[ix->slot[h]]->host, host)) return dsc->names[ix->slot[h]];
    *slot = h;
    return NULL;
}

static void rebuild(struct cpgo_discovery *dsc);

static void kick_cb(uv_idle_t *h)
{
    struct cpgo_discovery *dsc = h->data;
    uv_idle_stop(h);
    if (dsc->dirty) {
        dsc->dirty = 0;
        rebuild(dsc);
    }
}

/* A rebuild on the next loop turn: answers that arrive together cost one. */
static void mark_dirty(struct cpgo_discovery *dsc)
{
    if (dsc->closing) return;
    dsc->dirty = 1;
    uv_idle_start(&dsc->kick, kick_cb);
}

static void tick_cb(uv_timer_t *h)
{
    mark_dirty(h->data);
}

static void name_answered(const struct cpgo_dns_answer *a, void *arg)
{
    struct name *nm = arg;
    struct cpgo_discovery *dsc = nm->dsc;
    nm->q = NULL;
    dsc->pending--;
    if (a->failed) {
        snprintf(nm->why, sizeof nm->why, "%s", a->error);
    } else if (a->nxdomain || a->naddrs == 0) {
        /* the name is gone: an answer, so its old address goes too */
        snprintf(nm->why, sizeof nm->why, "%s", a->nxdomain ? "no such name" : "no address");
        nm->addr[0] = 0;
    } else {
        size_t pick = 0; /* IPv4 first: what most fleets listen on */
        for (size_t i = 0; i < a->naddrs; i++)
            if (!strchr(a->addrs[i], ':')) {
                pick = i;
                break;
            }
        snprintf(nm->addr, sizeof nm->addr, "%s", a->addrs[pick]);
        nm->why[0] = 0;
    }
    mark_dirty(dsc);
}

/* The name's entry; asks the resolver when it was never asked or its answer is old. */
static struct name *name_use(struct cpgo_discovery *dsc, struct index *ix, const char *host)
{
    size_t slot = SIZE_MAX;
    struct name *nm = name_find(dsc, ix, host, &slot);
    if (!nm) {
        if (dsc->nnames == dsc->capnames) {
            size_t nc = dsc->capnames ? dsc->capnames * 2 : 16;
            struct name **nn = realloc(dsc->names, nc * sizeof *nn);
            if (!nn) return NULL;
            dsc->names = nn;
            dsc->capnames = nc;
        }
        nm = calloc(1, sizeof *nm);
        if (!nm || !(nm->host = strdup(host))) {
            free(nm);
            return NULL;
        }
        nm->dsc = dsc;
        snprintf(nm->why, sizeof nm->why, "not resolved yet");
        if (ix->slot) ix->slot[slot] = dsc->nnames;
        dsc->names[dsc->nnames++] = nm;
    }
    nm->used = 1;
    uint64_t now = uv_now(dsc->env.loop);
    if (!nm->q && !dsc->closing && (nm->asked_ms == 0 || now - nm->asked_ms >= NAME_TTL_MS)) {
        nm->asked_ms = now ? now : 1;
        nm->q = cpgo_resolver_addr(dsc->env.resolver, host, AF_UNSPEC, name_answered, nm);
        if (nm->q) dsc->pending++;
    }
    return nm;
}

static int cmp_inst(const void *a, const void *b)
{
    const struct cpgo_instance *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    int c = strcmp(x->addr, y->addr);
    return c ? c : x->port - y->port;
}

static void add_drop(struct cpgo_instance_dropped **d, size_t *n, size_t *cap, const char *src,
                     const char *what, const char *why)
{
    if (*n >= CPGO_SD_MAX_DROPPED) return;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct cpgo_instance_dropped *nd = realloc(*d, nc * sizeof *nd);
        if (!nd) return;
        *d = nd;
        *cap = nc;
    }
    struct cpgo_instance_dropped *e = &(*d)[*n];
    memset(e, 0, sizeof *e);
    e->what = strdup(what ? what : "");
    e->why = strdup(why ? why : "");
    snprintf(e->source, sizeof e->source, "%s", src);
    if (!e->what || !e->why) {
        free(e->what);
        free(e->why);
        return;
    }
    (*n)++;
}

static void rebuild(struct cpgo_discovery *dsc)
{
    if (dsc->closing) return;
    size_t total = 0;
    for (size_t s = 0; s < dsc->nsrc; s++)
        total += dsc->src[s]->ntargets;
    if (total > CPGO_SD_MAX_TARGETS) total = CPGO_SD_MAX_TARGETS;
    struct cpgo_instance *inst = total ? calloc(total, sizeof *inst) : NULL;
    struct cpgo_instance_dropped *drop = NULL;
    size_t ninst = 0, ndrop = 0, capdrop = 0;
    if (total && !inst) return; /* keep the old list: out of memory is not an answer */
    /* addresses: each instance's index by key; names: each name's index in names[], for
     * the names known and those this rebuild adds (at most one a target) */
    struct index byaddr, byname = {NULL, 0};
    if (index_init(&byaddr, total)) {
        free(inst);
        return;
    }
    if (index_init(&byname, dsc->nnames + total)) byname.slot = NULL; /* then a linear scan */
    for (size_t i = 0; i < dsc->nnames; i++) {
        struct name *nm = dsc->names[i];
        nm->used = 0;
        if (!byname.slot) continue;
        size_t h = (size_t)host_hash(nm->host) & byname.mask;
        while (byname.slot[h] != SIZE_MAX)
            h = (h + 1) & byname.mask;
        byname.slot[h] = i;
    }
    for (size_t s = 0; s < dsc->nsrc; s++) {
        const struct cpgo_sd_source *src = dsc->src[s];
        dsc->src_count[s] = 0;
        for (size_t i = 0; i < src->ndropped; i++)
            add_drop(&drop, &ndrop, &capdrop, src->name, src->dropped[i].what, src->dropped[i].why);
        for (size_t i = 0; i < src->ntargets; i++) {
            const struct cpgo_sd_target *t = &src->targets[i];
            char what[400];
            snprintf(what, sizeof what, strchr(t->host, ':') ? "[%s]:%d" : "%s:%d", t->host,
                     t->port);
            if (ninst == total) {
                add_drop(&drop, &ndrop, &capdrop, src->name, what,
                         "over the limit of instances per service");
                continue;
            }
            const char *addr = t->host;
            const char *host = NULL;
            if (!is_ip(t->host)) {
                struct name *nm = name_use(dsc, &byname, t->host);
                if (!nm || !nm->addr[0]) {
                    char why[300];
                    snprintf(why, sizeof why, "does not resolve: %s",
                             nm ? nm->why : "out of memory");
                    add_drop(&drop, &ndrop, &capdrop, src->name, what, why);
                    continue;
                }
                addr = nm->addr;
                host = t->host;
            }
            uint64_t key = cpgo_instance_key(addr, t->port);
            size_t dup = ninst, h = (size_t)cpgo_hash_mix(cpgo_hash_keyed(0x61), key) & byaddr.mask;
            for (; byaddr.slot[h] != SIZE_MAX; h = (h + 1) & byaddr.mask) {
                const struct cpgo_instance *o = &inst[byaddr.slot[h]];
                if (o->key == key && o->port == t->port && !strcmp(o->addr, addr)) {
                    dup = byaddr.slot[h];
                    break;
                }
            }
            if (dup < ninst) {
                char why[300];
                snprintf(why, sizeof why, "the same address as %s", inst[dup].origin);
                add_drop(&drop, &ndrop, &capdrop, src->name, what, why);
                continue;
            }
            struct cpgo_instance *in = &inst[ninst];
            snprintf(in->addr, sizeof in->addr, "%s", addr);
            in->port = t->port;
            in->key = key;
            in->host = host ? strdup(host) : NULL;
            char origin[400];
            if (t->origin && t->origin[0] && strcmp(t->origin, src->name))
                snprintf(origin, sizeof origin, "%s: %s", src->name, t->origin);
            else
                snprintf(origin, sizeof origin, "%s", src->name);
            in->origin = strdup(origin);
            if ((host && !in->host) || !in->origin) {
                free(in->host);
                free(in->origin);
                memset(in, 0, sizeof *in);
                continue;
            }
            byaddr.slot[h] = ninst;
            dsc->src_count[s]++;
            ninst++;
        }
    }
    /* names no source mentions any more leave the cache */
    size_t k = 0;
    for (size_t i = 0; i < dsc->nnames; i++) {
        struct name *nm = dsc->names[i];
        if (nm->used || nm->q) {
            dsc->names[k++] = nm;
            continue;
        }
        free(nm->host);
        free(nm);
    }
    dsc->nnames = k;
    free(byaddr.slot);
    free(byname.slot);
    if (ninst > 1) qsort(inst, ninst, sizeof *inst, cmp_inst); /* never NULL to qsort (UBSan) */
    instances_free(dsc->inst, dsc->ninst);
    dropped_free(dsc->drop, dsc->ndrop);
    dsc->inst = inst;
    dsc->ninst = ninst;
    dsc->drop = drop;
    dsc->ndrop = ndrop;
    if (dsc->changed) dsc->changed(dsc, dsc->arg);
}

static void source_changed(struct cpgo_sd_source *src, void *arg)
{
    struct cpgo_discovery *dsc = arg;
    for (size_t i = 0; i < dsc->nsrc; i++) {
        if (dsc->src[i] != src) continue;
        if (!src->ok) {
            uint64_t h = cpgo_hash_fnv1a(src->error, strlen(src->error), CPGO_FNV1A_INIT) | 1;
            if (h != dsc->src_logged[i])
                cpgo_log(CPGO_LVL_WARN, "discovery source failed: its last good instances stay",
                         "service", dsc->svc->name, "source", src->name, "error", src->error, NULL);
            dsc->src_logged[i] = h;
        } else if (dsc->src_logged[i]) {
            cpgo_log(CPGO_LVL_INFO, "discovery source recovered", "service", dsc->svc->name,
                     "source", src->name, NULL);
            dsc->src_logged[i] = 0;
        }
    }
    mark_dirty(dsc);
}

int cpgo_discovery_new(const struct cpgo_sd_env *env, const struct cpgo_service_cfg *svc,
                       cpgo_discovery_cb changed, void *arg, struct cpgo_discovery **out,
                       struct cpgo_err *err)
{
    struct cpgo_discovery *dsc = calloc(1, sizeof *dsc);
    size_t n = svc->nstatics + svc->ndns + svc->nfiles + svc->nk8s;
    if (!dsc) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    dsc->env = *env;
    dsc->svc = svc;
    dsc->changed = changed;
    dsc->arg = arg;
    uv_idle_init(env->loop, &dsc->kick);
    uv_timer_init(env->loop, &dsc->tick);
    dsc->kick.data = dsc->tick.data = dsc;
    dsc->handles = 2;
    dsc->src = calloc(n ? n : 1, sizeof *dsc->src);
    dsc->src_count = calloc(n ? n : 1, sizeof *dsc->src_count);
    dsc->src_logged = calloc(n ? n : 1, sizeof *dsc->src_logged);
    if (!dsc->src || !dsc->src_count || !dsc->src_logged) goto nomem;
    for (size_t i = 0; i < svc->nstatics; i++)
        if (cpgo_sd_static_new(env, &svc->statics[i], i, &dsc->src[dsc->nsrc++])) goto nomem;
    for (size_t i = 0; i < svc->ndns; i++)
        if (cpgo_sd_dns_new(env, &svc->dns[i], i, &dsc->src[dsc->nsrc++])) goto nomem;
    for (size_t i = 0; i < svc->nfiles; i++)
        if (cpgo_sd_file_new(env, &svc->files[i], i, &dsc->src[dsc->nsrc++])) goto nomem;
    for (size_t i = 0; i < svc->nk8s; i++)
        if (cpgo_sd_k8s_new(env, &svc->k8s[i], i, &dsc->src[dsc->nsrc++])) goto nomem;
    for (size_t i = 0; i < dsc->nsrc; i++) {
        dsc->src[i]->changed = source_changed;
        dsc->src[i]->arg = dsc;
    }
    *out = dsc;
    return 0;
nomem:
    if (dsc->src && dsc->nsrc && !dsc->src[dsc->nsrc - 1]) dsc->nsrc--;
    cpgo_discovery_close(dsc);
    return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
}

int cpgo_discovery_start(struct cpgo_discovery *dsc, struct cpgo_err *err)
{
    dsc->started = 1;
    uv_timer_start(&dsc->tick, tick_cb, NAME_TTL_MS, NAME_TTL_MS);
    for (size_t i = 0; i < dsc->nsrc; i++) {
        struct cpgo_sd_source *s = dsc->src[i];
        if (s->ops->start(s)) {
            /* a source that cannot start fails like a refresh: the others go on */
            if (!s->answered)
                cpgo_sd_source_fail(s, 0, "%s", s->error[0] ? s->error : "cannot start");
        }
    }
    (void)err;
    return 0;
}

static void handle_closed(uv_handle_t *h)
{
    struct cpgo_discovery *dsc = h->data;
    if (--dsc->handles == 0) free(dsc);
}

void cpgo_discovery_close(struct cpgo_discovery *dsc)
{
    if (!dsc) return;
    dsc->closing = 1;
    dsc->changed = NULL;
    for (size_t i = 0; i < dsc->nsrc; i++)
        if (dsc->src[i]) dsc->src[i]->ops->close(dsc->src[i]);
    for (size_t i = 0; i < dsc->nnames; i++) {
        if (dsc->names[i]->q) cpgo_dns_query_cancel(dsc->names[i]->q);
        free(dsc->names[i]->host);
        free(dsc->names[i]);
    }
    free(dsc->names);
    free(dsc->src);
    free(dsc->src_count);
    free(dsc->src_logged);
    instances_free(dsc->inst, dsc->ninst);
    dropped_free(dsc->drop, dsc->ndrop);
    dsc->src = NULL;
    dsc->inst = NULL;
    dsc->drop = NULL;
    dsc->nsrc = dsc->ninst = dsc->ndrop = dsc->nnames = 0;
    uv_close((uv_handle_t *)&dsc->kick, handle_closed);
    uv_close((uv_handle_t *)&dsc->tick, handle_closed);
}

const struct cpgo_instance *cpgo_discovery_instances(const struct cpgo_discovery *dsc, size_t *n)
{
    *n = dsc->ninst;
    return dsc->inst;
}

const struct cpgo_instance_dropped *cpgo_discovery_dropped(const struct cpgo_discovery *dsc,
                                                           size_t *n)
{
    *n = dsc->ndrop;
    return dsc->drop;
}

int cpgo_discovery_settled(const struct cpgo_discovery *dsc)
{
    /* dirty: an answer came and the list is rebuilt on the next loop turn; until then the
     * list does not hold it (and names it brings are not asked yet) */
    if (dsc->pending || dsc->dirty) return 0;
    for (size_t i = 0; i < dsc->nsrc; i++)
        if (!dsc->src[i]->answered) return 0;
    return 1;
}

size_t cpgo_discovery_nsources(const struct cpgo_discovery *dsc)
{
    return dsc->nsrc;
}

const struct cpgo_sd_source *cpgo_discovery_source(const struct cpgo_discovery *dsc, size_t i)
{
    return i < dsc->nsrc ? dsc->src[i] : NULL;
}

size_t cpgo_discovery_source_instances(const struct cpgo_discovery *dsc, size_t i)
{
    return i < dsc->nsrc ? dsc->src_count[i] : 0;
}

size_t cpgo_discovery_failing(const struct cpgo_discovery *dsc)
{
    size_t n = 0;
    for (size_t i = 0; i < dsc->nsrc; i++)
        if (dsc->src[i]->answered && !dsc->src[i]->ok) n++;
    return n;
}
