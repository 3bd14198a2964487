/*
 * cmd_discover.c - `cpgo discover`: resolves every discovery source of every service once
 * and prints the instances a round would choose from (address, the name it was found as,
 * the source), with --all also what was left out and why: the role `promtool check
 * service-discovery` plays for Prometheus. It takes no lock and writes nothing, so it runs
 * beside the daemon. Exit status 1 when a source fails or does not answer in time.
 *
 * Thread: the main thread runs its own loop (the resolver, file watches and Kubernetes
 * lists run on it exactly as in the daemon).
 */
#include "cli/cli.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/duration.h"
#include "base/log.h"
#include "config/config.h"
#include "discover/discover.h"
#include "discover/resolver.h"
#include "scrape/scrape.h"

#define CMD "discover"

struct run {
    uv_loop_t loop;
    uv_timer_t deadline;
    struct cpgo_discovery **dsc;
    const struct cpgo_service_cfg **svc;
    size_t n;
    int timed_out;
};

static void check_done(struct run *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->dsc[i] && !cpgo_discovery_settled(r->dsc[i])) return;
    uv_stop(&r->loop);
}

static void changed(struct cpgo_discovery *dsc, void *arg)
{
    (void)dsc;
    check_done(arg);
}

static void deadline_cb(uv_timer_t *h)
{
    struct run *r = h->data;
    r->timed_out = 1;
    uv_stop(&r->loop);
}

static void print_service(const struct cpgo_service_cfg *sc, struct cpgo_discovery *dsc, int all,
                          int *failed)
{
    size_t n, nd;
    const struct cpgo_instance *in = cpgo_discovery_instances(dsc, &n);
    const struct cpgo_instance_dropped *dr = cpgo_discovery_dropped(dsc, &nd);
    size_t per = sc->max_instances == 0 || sc->max_instances > n ? n : sc->max_instances;
    printf("service %s: %zu instance%s (%zu scraped per round)\n", sc->name, n, n == 1 ? "" : "s",
           per);
    for (size_t i = 0; i < cpgo_discovery_nsources(dsc); i++) {
        const struct cpgo_sd_source *s = cpgo_discovery_source(dsc, i);
        if (!s->answered) {
            printf("  source %s: no answer in time\n", s->name);
            (*failed)++;
        } else if (!s->ok) {
            printf("  source %s: FAILED: %s\n", s->name, s->error);
            (*failed)++;
        } else {
            printf("  source %s: ok, %zu instance%s\n", s->name,
                   cpgo_discovery_source_instances(dsc, i),
                   cpgo_discovery_source_instances(dsc, i) == 1 ? "" : "s");
        }
    }
    for (size_t i = 0; i < n; i++) {
        char a[80];
        cpgo_instance_format(&in[i], a, sizeof a);
        printf("  %-45s %s%s%s(%s)\n", a, in[i].host ? "host " : "", in[i].host ? in[i].host : "",
               in[i].host ? " " : "", in[i].origin);
    }
    if (all) {
        if (nd) printf("  dropped:\n");
        for (size_t i = 0; i < nd; i++)
            printf("  - %s (%s): %s\n", dr[i].what, dr[i].source, dr[i].why);
    } else if (nd) {
        printf("  (%zu dropped; --all shows them)\n", nd);
    }
}

int cpgo_cmd_discover(int argc, char **argv)
{
    const char *path = "config.yaml", *only = NULL;
    int all = 0;
    int64_t timeout_ms = 30000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (CPGO_CLI_IS_HELP(a)) return cpgo_cli_help_flag(CMD);
        int copt = cpgo_cli_config_option(CMD, argc, argv, &i, &path);
        if (copt < 0) return CPGO_EXIT_INVALID;
        if (copt > 0) {
            continue;
        } else if (!strcmp(a, "--service")) {
            if (i + 1 >= argc) return cpgo_cli_usage_error(CMD, "--service needs a name");
            only = argv[++i];
        } else if (!strcmp(a, "--all")) {
            all = 1;
        } else if (!strcmp(a, "--timeout")) {
            struct cpgo_err e;
            if (i + 1 >= argc || cpgo_duration_parse(argv[i + 1], &timeout_ms, &e) ||
                timeout_ms < 1)
                return cpgo_cli_usage_error(CMD, "--timeout needs a duration (e.g. 30s)");
            i++;
        } else {
            return cpgo_cli_usage_error(CMD, "unknown option %.64s", a);
        }
    }
    cpgo_log_setup(CPGO_LVL_ERROR, 0, 2);
    struct cpgo_config *cfg = NULL;
    struct cpgo_config_errors errs = {0};
    int rc = cpgo_config_load(path, &cfg, &errs);
    if (rc) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "cpgo discover: %s\n", errs.lines[i]);
        cpgo_config_errors_free(&errs);
        /* a missing or unreadable file is a usage error (2), as for every command with -c */
        return rc == CPGO_E_NOMEM ? CPGO_EXIT_FAIL : CPGO_EXIT_INVALID;
    }
    cpgo_config_errors_free(&errs);
    size_t want = 0;
    for (size_t i = 0; i < cfg->nservices; i++)
        if (!only || !strcmp(cfg->services[i].name, only)) want++;
    if (only && !want) {
        fprintf(stderr, "cpgo discover: no service %s in %s\n", only, path);
        cpgo_config_free(cfg);
        return CPGO_EXIT_INVALID;
    }
    if (!want) {
        printf("no services in %s (backends are listed by cpgo check-config)\n", path);
        cpgo_config_free(cfg);
        return CPGO_EXIT_OK;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        fprintf(stderr, "cpgo discover: cannot initialise libcurl\n");
        cpgo_config_free(cfg);
        return CPGO_EXIT_FAIL;
    }
    struct run r;
    memset(&r, 0, sizeof r);
    uv_loop_init(&r.loop);
    struct cpgo_scraper *scraper = NULL;
    struct cpgo_resolver *resolver = NULL;
    struct cpgo_err err = {0};
    struct cpgo_scraper_opts so = {"cpgo/" CPGO_VERSION, 0, 0};
    struct cpgo_resolver_opts ro = {(const char *const *)cfg->dns.servers, cfg->dns.nservers,
                                    cfg->dns.timeout_ms, NULL, 0};
    int code = CPGO_EXIT_OK;
    r.dsc = calloc(want, sizeof *r.dsc);
    r.svc = calloc(want, sizeof *r.svc);
    if (!r.dsc || !r.svc || cpgo_scraper_new(&r.loop, &so, &scraper) ||
        cpgo_resolver_new(&r.loop, &ro, &resolver, &err)) {
        fprintf(stderr, "cpgo discover: cannot start: %s\n",
                !r.dsc || !r.svc || !scraper ? "out of memory" : err.text);
        code = CPGO_EXIT_FAIL;
        goto out;
    }
    char dir[4096] = ".";
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct cpgo_sd_env env = {&r.loop, resolver, scraper, dir};
    for (size_t i = 0; i < cfg->nservices; i++) {
        const struct cpgo_service_cfg *sc = &cfg->services[i];
        if (only && strcmp(sc->name, only)) continue;
        r.svc[r.n] = sc;
        if (cpgo_discovery_new(&env, sc, changed, &r, &r.dsc[r.n], &err) ||
            cpgo_discovery_start(r.dsc[r.n], &err)) {
            fprintf(stderr, "cpgo discover: service %s: %s\n", sc->name, err.text);
            code = CPGO_EXIT_FAIL;
        }
        r.n++;
    }
    uv_timer_init(&r.loop, &r.deadline);
    r.deadline.data = &r;
    uv_timer_start(&r.deadline, deadline_cb, (uint64_t)timeout_ms, 0);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    int failed = 0;
    for (size_t i = 0; i < r.n; i++)
        if (r.dsc[i]) print_service(r.svc[i], r.dsc[i], all, &failed);
    /* a source without an answer, or a name still being resolved (its DNS server is
     * silent): the list printed may be short of what a round would scrape */
    if (r.timed_out)
        fprintf(stderr, "cpgo discover: not every source answered within the timeout\n");
    if (failed || r.timed_out) code = CPGO_EXIT_FAIL;
    uv_close((uv_handle_t *)&r.deadline, NULL);
out:
    for (size_t i = 0; i < r.n; i++)
        if (r.dsc[i]) cpgo_discovery_close(r.dsc[i]);
    if (resolver) cpgo_resolver_close(resolver, NULL, NULL);
    if (scraper) cpgo_scraper_close(scraper, NULL, NULL);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&r.loop)) fprintf(stderr, "cpgo discover: handles left open\n");
    free(r.dsc);
    free(r.svc);
    cpgo_config_free(cfg);
    curl_global_cleanup();
    return code;
}
