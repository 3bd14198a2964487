/*
 * sd_static.c - `static_configs[]`: the configured targets, answered once at start. The
 * configuration already checked every entry; what does not parse here is dropped with why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/url.h"
#include "discover/source.h"

struct sd_static {
    struct cpgo_sd_source base; /* first */
    const struct cpgo_sd_static_cfg *cfg;
    uv_idle_t idle; /* answers on the next loop turn, never inside start */
    int open;
};

static void answer(uv_idle_t *h)
{
    struct sd_static *s = h->data;
    uv_idle_stop(h);
    size_t n = s->cfg->ntargets, nt = 0, nd = 0;
    struct cpgo_sd_target *t = n ? calloc(n, sizeof *t) : NULL;
    struct cpgo_sd_dropped *d = n ? calloc(n, sizeof *d) : NULL;
    if (n && (!t || !d)) {
        free(t);
        free(d);
        cpgo_sd_source_fail(&s->base, 0, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char why[128], origin[160];
        char *host;
        int port;
        snprintf(origin, sizeof origin, "%s", s->base.name);
        if (cpgo_url_parse_hostport(s->cfg->targets[i], &host, &port, why, sizeof why)) {
            d[nd].what = strdup(s->cfg->targets[i]);
            d[nd].why = strdup(why);
            nd++;
            continue;
        }
        t[nt].host = host;
        t[nt].port = port;
        t[nt].origin = strdup(origin);
        nt++;
    }
    cpgo_sd_source_succeed(&s->base, t, nt, d, nd, 0);
}

static int start(struct cpgo_sd_source *src)
{
    struct sd_static *s = (struct sd_static *)src;
    uv_idle_start(&s->idle, answer);
    return 0;
}

static void closed(uv_handle_t *h)
{
    struct sd_static *s = h->data;
    cpgo_sd_source_free_base(&s->base);
    free(s);
}

static void close_src(struct cpgo_sd_source *src)
{
    struct sd_static *s = (struct sd_static *)src;
    s->base.changed = NULL;
    uv_close((uv_handle_t *)&s->idle, closed);
}

static const struct cpgo_sd_source_ops ops = {start, close_src};

int cpgo_sd_static_new(const struct cpgo_sd_env *env, const struct cpgo_sd_static_cfg *cfg,
                       size_t index, struct cpgo_sd_source **out)
{
    struct sd_static *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->base.ops = &ops;
    s->base.kind = CPGO_SD_STATIC;
    s->base.loop = env->loop;
    snprintf(s->base.name, sizeof s->base.name, "static_configs[%zu]", index);
    s->cfg = cfg;
    uv_idle_init(env->loop, &s->idle);
    s->idle.data = s;
    *out = &s->base;
    return 0;
}
