/*
 * targets.c - from walked backends to targets: each backend completed (values inherited from
 * `defaults:`, computed defaults such as timeout = seconds + 15s, the forge and the head
 * branch) and checked where keys meet (timeout against the profile's seconds and the
 * schedule's period; a head branch that is not the target branch), names made unique, and
 * backends grouped into targets by normalised repository, branch and file, with the rules
 * that span backends: one target's backends agree, a head branch belongs to one target and
 * is never another target's base branch, a forge (github, gitlab, gitea) sends its token
 * only to its own git host, forge gitea has its API URL, and the pull-request options that
 * forge local ignores are warned about.
 *
 * The default head branch and the default forge are computed here, once, for config and
 * for publishing (config.h).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/duration.h"
#include "base/hash.h"
#include "base/url.h"
#include "config/config_int.h"

/* Key k of a backend has a usable value: set, inherited, or an optional key's default. */
static int valid(const struct bstate *b, size_t k)
{
    unsigned char st = b->s.set[k];
    return st == 1 || st == 3 || (st == 0 && !(cpgo_config_keys[k].flags & F_REQUIRED));
}

static int given(const struct bstate *b, size_t k)
{
    return b->s.set[k] == 1 || b->s.set[k] == 3;
}

/* Where to point for key k of a backend or service: its value, else its section when that
 * was written, else the backend. */
struct pos cpgo_config_where(const struct bstate *b, size_t k)
{
    if (b->s.set[k]) return b->s.at[k];
    const char *name = cpgo_config_keys[k].name, *dot = strchr(name, '.');
    if (dot) {
        char sec[64];
        snprintf(sec, sizeof sec, "%.*s", (int)(dot - name), name);
        const struct key *sk = cpgo_config_find_key(cpgo_config_keys[k].scope, sec);
        if (sk && b->s.set[sk - cpgo_config_keys]) return b->s.at[sk - cpgo_config_keys];
    }
    return (struct pos){b->cfg.line, b->cfg.column};
}

const char *cpgo_config_inherited(const struct bstate *b, size_t k)
{
    return b->s.set[k] == 3 ? " (from defaults)" : "";
}

void cpgo_config_key_path(const struct bstate *b, size_t k, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.%s", b->path, cpgo_config_keys[k].name);
}

#define where cpgo_config_where
#define inherited cpgo_config_inherited
#define backend_path cpgo_config_key_path

int cpgo_config_head_branch(const char *target_branch, const char *file, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "cpgo/%s/%s", target_branch, file);
    if (n >= 0 && (size_t)n < cap) return 0;
    if (cap) buf[0] = 0;
    return -1;
}

const char *cpgo_config_forge_name(enum cpgo_forge forge)
{
    switch (forge) {
    case CPGO_FORGE_GITHUB:
        return "github";
    case CPGO_FORGE_GITLAB:
        return "gitlab";
    case CPGO_FORGE_GITEA:
        return "gitea";
    case CPGO_FORGE_LOCAL:
        return "local";
    default:
        return "auto";
    }
}

/* Two hosts are one: case-insensitive, "[::1]" and "::1" alike (a repository's host and an
 * API URL's may be written either way). */
static int same_host(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 1 && a[0] == '[' && a[la - 1] == ']') a++, la -= 2;
    if (lb > 1 && b[0] == '[' && b[lb - 1] == ']') b++, lb -= 2;
    return la == lb && !strncasecmp(a, b, la);
}

int cpgo_config_api_git_host(const char *api_url, char *buf, size_t cap)
{
    struct cpgo_url u;
    const char *why;
    if (cap) buf[0] = 0;
    if (!api_url || cpgo_url_parse(api_url, &u, &why)) return -1;
    /* github.com's API has a host of its own; Enterprise, GitLab and Gitea serve the API and
     * git on one host */
    snprintf(buf, cap, "%s", !strcasecmp(u.host, "api.github.com") ? "github.com" : u.host);
    cpgo_url_free(&u);
    for (char *p = buf; cap && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

/* The repository is on the git host of api_url. */
static int on_api_host(const struct cpgo_repo *repo, const char *api_url)
{
    char h[300];
    return !cpgo_config_api_git_host(api_url, h, sizeof h) && same_host(repo->host, h);
}

enum cpgo_forge cpgo_config_resolve_forge(const struct cpgo_config *cfg, enum cpgo_forge forge,
                                          const struct cpgo_repo *repo)
{
    if (forge != CPGO_FORGE_AUTO) return forge;
    if (!repo || !repo->host) return CPGO_FORGE_GITHUB;
    if (repo->kind == CPGO_REPO_FILE) return CPGO_FORGE_LOCAL;
    /* github first: what resolved to github before issue 13 still does */
    if (same_host(repo->host, "github.com") ||
        on_api_host(repo, cfg ? cfg->github.api_url : "https://api.github.com"))
        return CPGO_FORGE_GITHUB;
    if (same_host(repo->host, "gitlab.com") ||
        on_api_host(repo, cfg ? cfg->gitlab.api_url : "https://gitlab.com/api/v4"))
        return CPGO_FORGE_GITLAB;
    if (cfg && cfg->gitea.api_url && on_api_host(repo, cfg->gitea.api_url)) return CPGO_FORGE_GITEA;
    return CPGO_FORGE_GITHUB;
}

/* A backend's target branch as its target key spells it: "<default>" until resolved. */
static const char *branch_of(const struct cpgo_backend_cfg *cfg)
{
    return cfg->target_branch ? cfg->target_branch : CPGO_CONFIG_DEFAULT_BRANCH;
}

/* The head branch a backend's target is pushed to: the configured one or the default. */
static void head_of(const struct cpgo_backend_cfg *cfg, char *buf, size_t cap)
{
    if (cfg->head_branch)
        snprintf(buf, cap, "%s", cfg->head_branch);
    else
        cpgo_config_head_branch(branch_of(cfg), cfg->target_file, buf, cap);
}

char *cpgo_config_repo_key(const struct cpgo_repo *r)
{
    size_t n = strlen(r->host) + strlen(r->path) + 16;
    char *k = malloc(n);
    if (!k) return NULL;
    if (r->port)
        snprintf(k, n, "%s:%d/%s", r->host, r->port, r->path);
    else
        snprintf(k, n, "%s/%s", r->host, r->path);
    return k;
}

/* target_branch not written: the repository's default branch, when it was resolved (the
 * second load of cpgo_config_resolve_branches); else it stays NULL. */
static void default_branch(struct ctx *c, struct bstate *b, int repo_ok)
{
    struct cpgo_backend_cfg *cfg = &b->cfg;
    if (cfg->target_branch || b->s.set[KI_TARGET_BRANCH] == 2) return;
    b->branch_default = 1;
    if (!c->branches || !repo_ok) return;
    char *k = cpgo_config_repo_key(&cfg->repo);
    if (!k) {
        c->nomem = 1;
        return;
    }
    size_t *i = cpgo_strmap_get(&c->branches->map, k);
    free(k);
    if (i && c->branches->names[*i])
        cfg->target_branch = cpgo_config_strdup(c, c->branches->names[*i]);
}

/* Key k is in a section (tls_config...) the backend wrote itself, replacing defaults' whole:
 * it is not inherited. A section precedes its keys in the table: look back, not up. */
static int whole_section_given(const struct bstate *b, size_t k)
{
    const char *name = cpgo_config_keys[k].name, *dot = strchr(name, '.');
    if (!dot) return 0;
    size_t n = (size_t)(dot - name);
    for (size_t j = k; j-- > 0;) {
        const struct key *sk = &cpgo_config_keys[j];
        if (sk->type == T_SECTION && !strncmp(sk->name, name, n) && !sk->name[n])
            return (sk->flags & F_WHOLE) && b->s.set[j] == 1;
    }
    return 0;
}

/* A service's own part: its defaults, its name on the template, its seconds, and at least
 * one discovery source. */
static void complete_service(struct ctx *c, struct bstate *b)
{
    struct cpgo_service_cfg *svc = b->svc;
    for (size_t k = 0; k < NKEYS; k++) {
        const struct key *key = &cpgo_config_keys[k];
        if (key->scope != S_SERVICE || !key_is_leaf(key) || b->s.set[k]) continue;
        cpgo_config_store_default(c, key, svc);
        if (key->flags & F_REQUIRED) {
            char path[96];
            struct pos p = where(b, k);
            backend_path(b, k, path, sizeof path);
            cpgo_config_add_error(c, p.line, p.col, "%s: required", path);
        }
    }
    /* seconds was stored in svc->tmpl; the template is b->cfg until the end */
    b->seconds = svc->tmpl.seconds ? svc->tmpl.seconds : 30;
    b->valid_url = b->s.set[KI_SVC_SECONDS] != 2;
    if (svc->name && !(b->cfg.name = cpgo_config_strdup(c, svc->name))) return;
    static const size_t sources[] = {KI_SVC_STATIC, KI_SVC_DNS, KI_SVC_FILE, KI_SVC_K8S};
    int refused = 0; /* a source given but refused already has its error */
    for (size_t i = 0; i < 4; i++)
        refused |= b->s.set[sources[i]] == 2;
    if (!refused && !svc->nstatics && !svc->ndns && !svc->nfiles && !svc->nk8s)
        cpgo_config_add_error(c, b->cfg.line, b->cfg.column,
                              "%s: no discovery source; give at least one of static_configs, "
                              "dns_sd_configs, file_sd_configs or kubernetes_sd_configs",
                              b->path);
}

/* What the forge needs that another section holds, and the pull-request options a forge
 * without pull requests ignores (warned, not refused: a `defaults:` may set them for
 * targets of every kind). */
static void check_forge_options(struct ctx *c, struct bstate *b)
{
    struct cpgo_backend_cfg *cfg = &b->cfg;
    char path[96];
    if (!valid(b, KI_FORGE)) return;
    if (cfg->forge == CPGO_FORGE_GITEA && c->cfg && !c->cfg->gitea.api_url &&
        !(c->top && c->top->set[KI_GITEA_API_URL] == 2)) {
        struct pos p = where(b, KI_FORGE);
        backend_path(b, KI_FORGE, path, sizeof path);
        cpgo_config_add_error(c, p.line, p.col,
                              "%s: gitea%s needs gitea.api_url (the Gitea or Forgejo API, "
                              "https://HOST/api/v1); Gitea has no default host",
                              path, inherited(b, KI_FORGE));
    }
    if (cfg->forge != CPGO_FORGE_LOCAL) return;
    static const size_t pr_only[] = {KI_PR_LABELS, KI_PR_REVIEWERS, KI_PR_ASSIGNEES, KI_PR_DRAFT,
                                     KI_PR_AUTO_MERGE};
    for (size_t i = 0; i < sizeof pr_only / sizeof pr_only[0]; i++) {
        size_t k = pr_only[i];
        const struct key *key = &cpgo_config_keys[k];
        if (!given(b, k)) continue;
        int on = key->type == T_STRLIST ? *(const size_t *)cfield(cfg, key->off2) != 0
                                        : *(const int *)cfield(cfg, key->off) != 0;
        if (!on) continue;
        struct pos p = where(b, k);
        backend_path(b, k, path, sizeof path);
        cpgo_config_add_warning(c, p.line, p.col,
                                "%s%s: ignored: forge local opens no pull request (of the "
                                "pull request's options it uses commit_prefix only)",
                                path, inherited(b, k));
    }
}

void cpgo_config_complete_backend(struct ctx *c, struct bstate *b)
{
    struct cpgo_backend_cfg *cfg = &b->cfg;
    struct bstate *d = c->defs;
    char path[96], t1[32], t2[32], sh[SHOW_MAX + 8];
    for (size_t k = 0; k < NKEYS; k++) {
        if (cpgo_config_keys[k].scope != S_BACKEND || !key_is_leaf(&cpgo_config_keys[k]) ||
            b->s.set[k] || (b->svc && !key_shared(&cpgo_config_keys[k])) ||
            whole_section_given(b, k))
            continue;
        if (d->s.set[k] == 1) {
            cpgo_config_copy_value(c, &cpgo_config_keys[k], cfg, &d->cfg);
            b->s.set[k] = 3;
            b->s.at[k] = d->s.at[k];
        } else if (d->s.set[k] == 2) {
            b->s.set[k] = 2; /* already reported at defaults */
        } else {
            cpgo_config_store_default(c, &cpgo_config_keys[k], cfg);
        }
    }
    static const size_t required[] = {KI_URL, KI_SCHEDULE, KI_REPOSITORY};
    for (size_t i = b->svc ? 1 : 0; i < 3; i++) {
        size_t k = required[i];
        if (b->s.set[k] || (k == KI_REPOSITORY && b->s.set[KI_OPR] == 2)) continue;
        struct pos p = where(b, k);
        backend_path(b, k, path, sizeof path);
        cpgo_config_add_error(c, p.line, p.col, "%s: required", path);
    }

    b->seconds = 30;
    if (b->svc) {
        complete_service(c, b);
    } else if (valid(b, KI_URL)) {
        const char *w;
        int user;
        b->valid_url = !cpgo_config_split_url(cfg->url, NULL, 0, &b->seconds, &user, &w);
    }
    cfg->seconds = b->seconds;
    if (valid(b, KI_SCHEDULE)) {
        struct cpgo_err e;
        if (cpgo_cron_parse(cfg->schedule_text, &cfg->schedule, &e) == 0)
            cfg->period_s = b->period = cpgo_cron_min_period(cfg->schedule);
        else if (e.code == CPGO_E_NOMEM)
            c->nomem = 1;
    }

    /* timeout: longer than the profile, not longer than the schedule's period. Not written,
     * it is seconds + 15s, clamped to the period as Prometheus clamps a defaulted
     * scrape_timeout to scrape_interval; only a timeout someone wrote can fail to fit. */
    int timeout_ok = given(b, KI_TIMEOUT) || (!b->s.set[KI_TIMEOUT] && b->valid_url);
    if (!b->s.set[KI_TIMEOUT]) {
        cfg->timeout_ms = b->seconds * SEC + 15 * SEC;
        if (b->period > 0 && cfg->timeout_ms > b->period * SEC) cfg->timeout_ms = b->period * SEC;
    }
    if (!b->s.set[KI_CONNECT_TIMEOUT] && cfg->connect_timeout_ms > cfg->timeout_ms)
        cfg->connect_timeout_ms = cfg->timeout_ms; /* a default never conflicts */
    backend_path(b, KI_TIMEOUT, path, sizeof path);
    if (timeout_ok && !b->s.set[KI_TIMEOUT] && b->period > 0 && b->period <= b->seconds) {
        /* no timeout fits: the profile outlasts the time between two firings */
        struct pos p = where(b, KI_SCHEDULE);
        backend_path(b, KI_SCHEDULE, path, sizeof path);
        cpgo_duration_format(b->period * SEC, t2, sizeof t2);
        cpgo_config_add_error(c, p.line, p.col,
                              "%s: '%s' fires %s apart, not longer than the profile's %" PRId64
                              " seconds (%s): a scrape could not end before the next began",
                              path, cpgo_config_show(cfg->schedule_text, sh, sizeof sh), t2,
                              b->seconds, b->svc ? "seconds" : "seconds= in url");
        timeout_ok = 0;
    } else if (timeout_ok && b->valid_url && cfg->timeout_ms <= b->seconds * SEC) {
        struct pos p = where(b, KI_TIMEOUT);
        cpgo_duration_format(cfg->timeout_ms, t1, sizeof t1);
        cpgo_config_add_error(c, p.line, p.col,
                              "%s: %s%s must be longer than the profile's %" PRId64
                              " seconds (%s), or the scrape ends before the profile does",
                              path, t1, inherited(b, KI_TIMEOUT), b->seconds,
                              b->svc ? "seconds" : "seconds= in url");
        timeout_ok = 0;
    } else if (timeout_ok && b->period > 0 && cfg->timeout_ms > b->period * SEC) {
        /* only a written timeout gets here: a default was clamped above */
        struct pos p = where(b, KI_TIMEOUT);
        cpgo_duration_format(cfg->timeout_ms, t1, sizeof t1);
        cpgo_duration_format(b->period * SEC, t2, sizeof t2);
        cpgo_config_add_error(c, p.line, p.col,
                              "%s: %s%s must not be longer than the schedule's shortest period "
                              "(%s between '%s' firings), or scrapes would overlap",
                              path, t1, inherited(b, KI_TIMEOUT), t2,
                              cpgo_config_show(cfg->schedule_text, sh, sizeof sh));
        timeout_ok = 0;
    }
    if (timeout_ok && given(b, KI_CONNECT_TIMEOUT) && cfg->connect_timeout_ms > cfg->timeout_ms) {
        struct pos p = where(b, KI_CONNECT_TIMEOUT);
        backend_path(b, KI_CONNECT_TIMEOUT, path, sizeof path);
        cpgo_duration_format(cfg->connect_timeout_ms, t1, sizeof t1);
        cpgo_duration_format(cfg->timeout_ms, t2, sizeof t2);
        cpgo_config_add_error(c, p.line, p.col, "%s: %s%s must not be longer than timeout (%s)",
                              path, t1, inherited(b, KI_CONNECT_TIMEOUT), t2);
    }

    int repo_ok = 0;
    if (valid(b, KI_REPOSITORY)) {
        struct cpgo_err e;
        int rc = cpgo_repo_parse(cfg->repository, c->base_dir, &cfg->repo, &e);
        if (rc == CPGO_E_NOMEM) c->nomem = 1;
        repo_ok = rc == 0;
    }
    default_branch(c, b, repo_ok);
    if (!b->s.set[KI_FORGE])
        cfg->forge =
            cpgo_config_resolve_forge(c->cfg, CPGO_FORGE_AUTO, repo_ok ? &cfg->repo : NULL);
    else if (valid(b, KI_FORGE) && repo_ok && cfg->forge != CPGO_FORGE_LOCAL &&
             cfg->repo.kind == CPGO_REPO_FILE) {
        struct pos p = where(b, KI_FORGE);
        backend_path(b, KI_FORGE, path, sizeof path);
        cpgo_config_add_error(
            c, p.line, p.col,
            "%s: %s%s needs a repository on a server (https, http or ssh), not the "
            "local path '%s'",
            path, cpgo_config_forge_name(cfg->forge), inherited(b, KI_FORGE),
            cpgo_config_show(cfg->repo.url, sh, sizeof sh));
    }
    check_forge_options(c, b);

    /* an unresolved default branch is spelled "<default>" (a valid name): what the file
     * makes invalid is said now, the rest by the second load */
    if (valid(b, KI_TARGET_BRANCH) && valid(b, KI_TARGET_FILE) && !cfg->head_branch &&
        (valid(b, KI_HEAD_BRANCH) || !b->s.set[KI_HEAD_BRANCH])) {
        char hb[CPGO_CONFIG_HEAD_MAX];
        const char *w = cpgo_config_head_branch(branch_of(cfg), cfg->target_file, hb, sizeof hb)
                            ? "is too long"
                            : cpgo_config_branch_problem(hb);
        if (w) {
            struct pos p = where(b, KI_TARGET_FILE);
            backend_path(b, KI_HEAD_BRANCH, path, sizeof path);
            cpgo_config_add_error(
                c, p.line, p.col,
                "%s: the default '%s' is not a valid branch name (%s); set head_branch", path,
                cpgo_config_show(hb, sh, sizeof sh), w);
        }
    }
    /* Every forge: publishing refuses it too (gitrepo), but only at the first round, after
     * the scrapes; check-config and the start of `run` must say so at once. */
    if (valid(b, KI_HEAD_BRANCH) && cfg->head_branch && valid(b, KI_TARGET_BRANCH) &&
        cfg->target_branch && !strcmp(cfg->head_branch, cfg->target_branch)) {
        struct pos p = where(b, KI_HEAD_BRANCH);
        backend_path(b, KI_HEAD_BRANCH, path, sizeof path);
        cpgo_config_add_error(
            c, p.line, p.col,
            "%s: '%s'%s is the target branch; cpgo force-pushes the head branch, so it must "
            "be another one",
            path, cpgo_config_show(cfg->head_branch, sh, sizeof sh), inherited(b, KI_HEAD_BRANCH));
    }
    cpgo_config_check_scrape(c, b);
}

void cpgo_config_output_state_id(const char *target_id, char *out, size_t cap)
{
    uint64_t h = cpgo_hash_fnv1a(target_id, strlen(target_id), CPGO_FNV1A_INIT);
    h = cpgo_hash_fnv1a("\0output", 7, h);
    snprintf(out, cap, "%016" PRIx64, h);
}

static uint64_t fnv1a(const char *s)
{
    return cpgo_hash_fnv1a(s, strlen(s), CPGO_FNV1A_INIT);
}

/* The i-th of n backends then the services. */
static const struct bstate *member(const struct bstate *bs, size_t n, const struct bstate *ss,
                                   size_t i)
{
    return i < n ? &bs[i] : &ss[i - n];
}

void cpgo_config_assign_names(struct ctx *c, struct bstate *bs, size_t n, struct bstate *ss,
                              size_t ns)
{
    /* names taken -> backend index; per URL host:port, the next "#N" suffix to try */
    struct cpgo_strmap taken = {0}, next = {0};
    char **bases = calloc(n ? n : 1, sizeof *bases);
    size_t nbases = 0;
    if (!bases) {
        c->nomem = 1;
        return;
    }
    char path[96], sh[SHOW_MAX + 8];
    for (size_t i = 0; i < n && !c->nomem; i++) {
        if (!given(&bs[i], KI_NAME)) continue;
        size_t *other = cpgo_strmap_get(&taken, bs[i].cfg.name);
        if (other) {
            struct pos p = where(&bs[i], KI_NAME);
            backend_path(&bs[i], KI_NAME, path, sizeof path);
            cpgo_config_add_error(c, p.line, p.col, "%s: '%s'%s is also the name of %s", path,
                                  cpgo_config_show(bs[i].cfg.name, sh, sizeof sh),
                                  inherited(&bs[i], KI_NAME), member(bs, n, ss, *other)->path);
            continue;
        }
        if (cpgo_strmap_put(&taken, bs[i].cfg.name, i)) c->nomem = 1;
    }
    /* services: required names, unique among backends' given names and each other's; a
     * backend named after its URL steps aside (#2) */
    for (size_t i = 0; i < ns && !c->nomem; i++) {
        const struct cpgo_service_cfg *sv = ss[i].svc;
        if (ss[i].s.set[KI_SVC_NAME] != 1 || !sv->name) continue;
        size_t *other = cpgo_strmap_get(&taken, sv->name);
        if (other) {
            struct pos p = ss[i].s.at[KI_SVC_NAME];
            cpgo_config_add_error(c, p.line, p.col, "%s.name: '%s' is also the name of %s",
                                  ss[i].path, cpgo_config_show(sv->name, sh, sizeof sh),
                                  member(bs, n, ss, *other)->path);
            continue;
        }
        if (cpgo_strmap_put(&taken, sv->name, n + i)) c->nomem = 1;
    }
    for (size_t i = 0; i < n && !c->nomem; i++) {
        if (bs[i].s.set[KI_NAME] || !bs[i].valid_url) continue;
        char hp[300], cand[340];
        const char *w;
        int64_t sec;
        int user;
        cpgo_config_split_url(bs[i].cfg.url, hp, sizeof hp, &sec, &user, &w);
        size_t *suffix = cpgo_strmap_get(&next, hp);
        if (!suffix) {
            if (!(bases[nbases] = cpgo_config_strdup(c, hp))) break;
            if (cpgo_strmap_put(&next, bases[nbases++], 1)) {
                c->nomem = 1;
                break;
            }
            suffix = cpgo_strmap_get(&next, hp);
        }
        for (;;) { /* "host:port", then "host:port#2", "#3"... skipping names taken */
            size_t k = (*suffix)++;
            if (k == 1)
                snprintf(cand, sizeof cand, "%s", hp);
            else
                snprintf(cand, sizeof cand, "%s#%zu", hp, k);
            if (!cpgo_strmap_get(&taken, cand)) break;
        }
        bs[i].cfg.name = cpgo_config_strdup(c, cand);
        if (!bs[i].cfg.name) break;
        if (cpgo_strmap_put(&taken, bs[i].cfg.name, i)) c->nomem = 1;
    }
    for (size_t i = 0; i < nbases; i++)
        free(bases[i]);
    free(bases);
    cpgo_strmap_free(&taken);
    cpgo_strmap_free(&next);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Two lists of names hold the same names, in any order (a multiset: duplicates count):
 * pgo.no_inline, labels, reviewers, assignees. -1 when out of memory. */
static int same_names(struct ctx *c, char *const *x, size_t nx, char *const *y, size_t ny)
{
    if (nx != ny) return 0;
    size_t n = nx;
    if (!n) return 1;
    char **a = malloc(n * sizeof *a), **b = malloc(n * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        c->nomem = 1;
        return -1;
    }
    memcpy(a, x, n * sizeof *a);
    memcpy(b, y, n * sizeof *b);
    qsort(a, n, sizeof *a, cmp_str);
    qsort(b, n, sizeof *b, cmp_str);
    int same = 1;
    for (size_t i = 0; same && i < n; i++)
        same = !strcmp(a[i], b[i]);
    free(a);
    free(b);
    return same;
}

/* A list of names for a message, "[a, b]", cut to fit (the error shows at most SHOW_MAX of
 * it anyway). */
static void format_names(char *const *v, size_t n, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", v[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* A written head branch that a default one, cpgo/<branch>/<file>, may turn out to be. */
static int could_be_default(const char *head, const char *file)
{
    size_t hl = strlen(head), fl = strlen(file);
    return hl > 5 + fl + 1 && !strncmp(head, "cpgo/", 5) && head[hl - fl - 1] == '/' &&
           !strcmp(head + hl - fl, file);
}

/* A backend that writes target t must configure it as t's first backend does: trimming, the
 * pull request, and the target's part of pgo (all but weight, which is each member's). */
static void check_agreement(struct ctx *c, const struct cpgo_target_cfg *t,
                            const struct bstate *first, const struct bstate *b)
{
    const struct cpgo_backend_cfg *x = &first->cfg, *y = &b->cfg;
    static const size_t ks[] = {KI_DROP_LABELS,      KI_KEEP_FRAMES,   KI_STRIP_ADDRESSES,
                                KI_HEAD_BRANCH,      KI_MIN_INTERVAL,  KI_FORGE,
                                KI_REOPEN_GROWTH,    KI_PR_LABELS,     KI_PR_REVIEWERS,
                                KI_PR_ASSIGNEES,     KI_PR_DRAFT,      KI_PR_AUTO_MERGE,
                                KI_PR_COMMIT_PREFIX, KI_PGO_HALF_LIFE, KI_PGO_NO_INLINE,
                                KI_PGO_MIN_CHANGE,   KI_PGO_VERIFY};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        size_t k = ks[i];
        const struct key *key = &cpgo_config_keys[k];
        if (!valid(b, k) && b->s.set[k]) continue;
        if (!valid(first, k) && first->s.set[k]) continue;
        int differ;
        char v1[CPGO_CONFIG_HEAD_MAX], v2[CPGO_CONFIG_HEAD_MAX];
        if (key->type == T_STRLIST) { /* as sets of names: the order does not matter */
            char *const *l1 = *(char **const *)cfield(x, key->off);
            char *const *l2 = *(char **const *)cfield(y, key->off);
            size_t n1 = *(const size_t *)cfield(x, key->off2);
            size_t n2 = *(const size_t *)cfield(y, key->off2);
            int same = same_names(c, l1, n1, l2, n2);
            if (same < 0) return;
            differ = !same;
            format_names(l1, n1, v1, sizeof v1);
            format_names(l2, n2, v2, sizeof v2);
        } else if (key->type == T_STR && k != KI_HEAD_BRANCH) {
            const char *s1 = *(char *const *)cfield(x, key->off);
            const char *s2 = *(char *const *)cfield(y, key->off);
            snprintf(v1, sizeof v1, "'%s'", s1 ? s1 : "");
            snprintf(v2, sizeof v2, "'%s'", s2 ? s2 : "");
            differ = strcmp(v1, v2) != 0;
        } else if (k == KI_HEAD_BRANCH) { /* compared as pushed to: the default spelled out */
            if (!valid(first, KI_TARGET_BRANCH) || !valid(first, KI_TARGET_FILE)) continue;
            head_of(x, v1, sizeof v1);
            head_of(y, v2, sizeof v2);
            differ = strcmp(v1, v2) != 0;
            /* a default head on an unresolved branch against a written one that may be it
             * (cpgo/<branch>/<file>): compared by the second load */
            if (differ && !x->target_branch && (!x->head_branch || !y->head_branch) &&
                could_be_default(x->head_branch ? x->head_branch : y->head_branch, x->target_file))
                continue;
        } else {
            cpgo_config_format_value(&cpgo_config_keys[k], x, v1, sizeof v1);
            cpgo_config_format_value(&cpgo_config_keys[k], y, v2, sizeof v2);
            differ = strcmp(v1, v2) != 0;
        }
        if (!differ) continue;
        char path[96], sh1[SHOW_MAX + 8], sh2[SHOW_MAX + 8];
        struct pos p = where(b, k);
        backend_path(b, k, path, sizeof path);
        int trim = k == KI_DROP_LABELS || k == KI_KEEP_FRAMES || k == KI_STRIP_ADDRESSES;
        int pgo = k == KI_PGO_HALF_LIFE || k == KI_PGO_NO_INLINE || k == KI_PGO_MIN_CHANGE ||
                  k == KI_PGO_VERIFY;
        cpgo_config_add_error(
            c, p.line, p.col,
            "%s: %s%s differs from %s (%s), which writes the same target %s; backends of "
            "one target must %s",
            path, cpgo_config_show(v2, sh2, sizeof sh2), inherited(b, k), first->path,
            cpgo_config_show(v1, sh1, sizeof sh1), t->key,
            trim  ? "trim alike"
            : pgo ? "agree on pgo settings (all but weight, which is each backend's own)"
                  : "agree on open_pull_request settings");
    }
}

static int copy_repo(struct cpgo_repo *d, const struct cpgo_repo *s)
{
    memset(d, 0, sizeof *d);
    d->kind = s->kind;
    d->port = s->port;
    d->host = strdup(s->host);
    d->path = strdup(s->path);
    d->url = strdup(s->url);
    d->user = s->user ? strdup(s->user) : NULL;
    if (!d->host || !d->path || !d->url || (s->user && !d->user)) {
        cpgo_repo_free(d);
        return -1;
    }
    return 0;
}

static char *repo_branch_key(struct ctx *c, const struct cpgo_repo *r, const char *branch)
{
    size_t n = strlen(r->host) + strlen(r->path) + strlen(branch) + 4;
    char *k = malloc(n);
    if (!k) {
        c->nomem = 1;
        return NULL;
    }
    snprintf(k, n, "%s/%s@%s", r->host, r->path, branch);
    return k;
}

/* A forge sends its token to the repository's host (git over https): forge github only to
 * GitHub's own git host -- github.com for api.github.com, the API's host for Enterprise --,
 * forge gitlab and gitea only to their API's host; never over plain http except on loopback
 * (http URLs of that host are upgraded: its API is https, so is its git). */
static void check_forge_host(struct ctx *c, const struct cpgo_config *cfg, struct bstate *b)
{
    struct cpgo_backend_cfg *bc = &b->cfg;
    const char *api, *sec, *Name;
    size_t ki;
    if (bc->forge == CPGO_FORGE_GITHUB)
        api = cfg->github.api_url, sec = "github", Name = "GitHub", ki = KI_API_URL;
    else if (bc->forge == CPGO_FORGE_GITLAB)
        api = cfg->gitlab.api_url, sec = "gitlab", Name = "GitLab", ki = KI_GITLAB_API_URL;
    else if (bc->forge == CPGO_FORGE_GITEA)
        api = cfg->gitea.api_url, sec = "gitea", Name = "Gitea", ki = KI_GITEA_API_URL;
    else
        return;
    if (!bc->repo.host || !api) return;         /* gitea without api_url: refused per member */
    if (c->top && c->top->set[ki] == 2) return; /* a refused api_url: said once, there */
    if (strpbrk(api, "@?#")) return;            /* refused by its own check already */
    if (bc->repo.kind != CPGO_REPO_HTTPS && bc->repo.kind != CPGO_REPO_HTTP) return;
    char want[300];
    if (cpgo_config_api_git_host(api, want, sizeof want)) return; /* refused by its check */
    int loop = !strcmp(bc->repo.host, "127.0.0.1") || !strcmp(bc->repo.host, "localhost") ||
               !strcmp(bc->repo.host, "[::1]") || !strcmp(bc->repo.host, "::1");
    char path[96], sh[SHOW_MAX + 8];
    struct pos p = where(b, KI_REPOSITORY);
    backend_path(b, KI_REPOSITORY, path, sizeof path);
    if (!same_host(bc->repo.host, want)) {
        if (bc->forge == CPGO_FORGE_GITHUB)
            cpgo_config_add_error(
                c, p.line, p.col,
                "%s: '%s' is not on %s, the git host of github.api_url (%s): forge github "
                "would send the GitHub token there; set forge: local, or github.api_url for "
                "GitHub Enterprise",
                path, cpgo_config_show(bc->repository, sh, sizeof sh), want, api);
        else
            cpgo_config_add_error(
                c, p.line, p.col,
                "%s: '%s' is not on %s, the host of %s.api_url (%s): forge %s would send the "
                "%s token there; set %s.api_url to that server's API, or another forge",
                path, cpgo_config_show(bc->repository, sh, sizeof sh), want, sec, api, sec, Name,
                sec);
    } else if (bc->repo.kind == CPGO_REPO_HTTP && !loop &&
               !strncasecmp(bc->repo.url, "http://", 7)) {
        /* The original tool's sample says http://github.com/...: GitHub serves git over
         * https only (http redirects), and the token must not cross the network in the
         * clear, so the clone URL is upgraded. */
        size_t n = strlen(bc->repo.url) + 2;
        char *u = malloc(n);
        if (!u) {
            c->nomem = 1;
            return;
        }
        snprintf(u, n, "https://%s", bc->repo.url + strlen("http://"));
        free(bc->repo.url);
        bc->repo.url = u;
        bc->repo.kind = CPGO_REPO_HTTPS;
    }
}

void cpgo_config_build_targets(struct ctx *c, struct cpgo_config *cfg, struct bstate *bs, size_t nb,
                               struct bstate *ss, size_t ns)
{
    /* backends first, then services: a target's first member is the first in that order,
     * so a configuration of backends alone makes its targets as before */
    size_t n = nb + ns;
#define M(i) ((i) < nb ? &bs[i] : &ss[(i)-nb])
    /* target key -> target index; repository+branch -> the target whose head it is, or
     * SIZE_MAX - ti for target ti's base branch */
    struct cpgo_strmap m = {0}, heads = {0};
    if (!(cfg->targets = calloc(n ? n : 1, sizeof *cfg->targets))) {
        c->nomem = 1;
        return;
    }
    size_t *first = calloc(n ? n : 1, sizeof *first);
    size_t *counts = calloc(n ? n : 1, sizeof *counts);
    if (!first || !counts) c->nomem = 1;
    for (size_t i = 0; i < n && !c->nomem; i++) {
        struct bstate *b = M(i);
        struct cpgo_backend_cfg *bc = &b->cfg;
        if (!valid(b, KI_REPOSITORY) || !bc->repo.host || !valid(b, KI_TARGET_BRANCH) ||
            !valid(b, KI_TARGET_FILE))
            continue;
        size_t kl = strlen(bc->repo.host) + strlen(bc->repo.path) + strlen(branch_of(bc)) +
                    strlen(bc->target_file) + 4;
        char *key = malloc(kl);
        if (!key) {
            c->nomem = 1;
            break;
        }
        snprintf(key, kl, "%s/%s@%s:%s", bc->repo.host, bc->repo.path, branch_of(bc),
                 bc->target_file);
        size_t *known = cpgo_strmap_get(&m, key);
        if (known) {
            free(key);
            size_t ti = *known;
            bc->target = ti;
            counts[ti]++;
            check_agreement(c, &cfg->targets[ti], M(first[ti]), b);
            continue;
        }
        check_forge_host(c, cfg, b);
        size_t ti = cfg->ntargets++;
        struct cpgo_target_cfg *t = &cfg->targets[ti];
        t->key = key;
        if (cpgo_strmap_put(&m, key, ti)) c->nomem = 1;
        first[ti] = i;
        counts[ti] = 1;
        bc->target = ti;
        char id[17];
        snprintf(id, sizeof id, "%016" PRIx64, fnv1a(key));
        t->id = cpgo_config_strdup(c, id);
        t->repository = cpgo_config_strdup(c, bc->repository);
        t->target_branch = bc->target_branch ? cpgo_config_strdup(c, bc->target_branch) : NULL;
        t->branch_default = b->branch_default;
        t->target_file = cpgo_config_strdup(c, bc->target_file);
        t->head_branch = bc->head_branch ? cpgo_config_strdup(c, bc->head_branch) : NULL;
        t->min_interval_ms = bc->min_interval_ms;
        t->forge = bc->forge;
        t->reopen_growth = bc->reopen_growth;
        /* the pull request's options: the first member's too (the others agree) */
        t->labels = cpgo_config_copy_strlist(c, bc->labels, bc->nlabels);
        t->nlabels = t->labels ? bc->nlabels : 0;
        t->reviewers = cpgo_config_copy_strlist(c, bc->reviewers, bc->nreviewers);
        t->nreviewers = t->reviewers ? bc->nreviewers : 0;
        t->assignees = cpgo_config_copy_strlist(c, bc->assignees, bc->nassignees);
        t->nassignees = t->assignees ? bc->nassignees : 0;
        t->draft = bc->draft;
        t->auto_merge = bc->auto_merge;
        t->commit_prefix = cpgo_config_strdup(c, bc->commit_prefix ? bc->commit_prefix : "");
        t->trim = bc->trim;
        /* the target's part of pgo is its first member's (the others agree) */
        if (!cpgo_config_pgo_copy(c, &t->pgo, &bc->pgo)) t->pgo.weight_ppm = 1000000;
        if (copy_repo(&t->repo, &bc->repo)) c->nomem = 1;
    }
    /* backend and service index lists */
    for (size_t ti = 0; ti < cfg->ntargets && !c->nomem; ti++) {
        cfg->targets[ti].backends = malloc(counts[ti] * sizeof(size_t));
        cfg->targets[ti].services = malloc(counts[ti] * sizeof(size_t));
        if (!cfg->targets[ti].backends || !cfg->targets[ti].services) c->nomem = 1;
    }
    for (size_t i = 0; i < n && !c->nomem; i++) {
        struct bstate *b = M(i);
        if (!b->cfg.repo.host || !valid(b, KI_TARGET_BRANCH) || !valid(b, KI_TARGET_FILE) ||
            !valid(b, KI_REPOSITORY))
            continue;
        struct cpgo_target_cfg *t = &cfg->targets[b->cfg.target];
        if (i < nb)
            t->backends[t->nbackends++] = i;
        else
            t->services[t->nservices++] = i - nb;
    }
    /* head branches: one target each, and never another target's base branch */
    char **hkeys = NULL;
    size_t nh = 0;
    if (!c->nomem && cfg->ntargets && !(hkeys = calloc(2 * cfg->ntargets, sizeof *hkeys)))
        c->nomem = 1;
    for (size_t ti = 0; ti < cfg->ntargets && !c->nomem; ti++) {
        const struct cpgo_target_cfg *t = &cfg->targets[ti];
        /* an unresolved base is "<default>": head branches of one repository still clash
         * whatever it resolves to; a head against a resolved base is checked by the
         * second load */
        const char *base = t->target_branch ? t->target_branch : CPGO_CONFIG_DEFAULT_BRANCH;
        if (!(hkeys[nh] = repo_branch_key(c, &t->repo, base))) break;
        /* the first target on a base branch is the one named in an error */
        if (cpgo_strmap_put(&heads, hkeys[nh], SIZE_MAX - ti) == CPGO_E_NOMEM) c->nomem = 1;
        nh++;
    }
    for (size_t ti = 0; ti < cfg->ntargets && !c->nomem; ti++) {
        const struct cpgo_target_cfg *t = &cfg->targets[ti];
        const struct bstate *b = M(first[ti]);
        char path[96], sh[SHOW_MAX + 8], h[CPGO_CONFIG_HEAD_MAX];
        head_of(&b->cfg, h, sizeof h); /* t's head: its first backend's */
        if (!strcmp(h, t->target_branch ? t->target_branch : CPGO_CONFIG_DEFAULT_BRANCH))
            continue; /* refused above, per backend */
        char *hk = repo_branch_key(c, &t->repo, h);
        if (!hk) break;
        hkeys[nh++] = hk;
        size_t *on = cpgo_strmap_get(&heads, hk);
        if (!on) {
            if (cpgo_strmap_put(&heads, hk, ti)) c->nomem = 1;
            continue;
        }
        size_t other = *on;
        struct pos p = where(b, KI_HEAD_BRANCH);
        backend_path(b, KI_HEAD_BRANCH, path, sizeof path);
        if (other >= SIZE_MAX - cfg->ntargets)
            cpgo_config_add_error(
                c, p.line, p.col,
                "%s: '%s' is the target branch of %s in the same repository; cpgo would "
                "overwrite it",
                path, cpgo_config_show(h, sh, sizeof sh), M(first[SIZE_MAX - other])->path);
        else
            cpgo_config_add_error(
                c, p.line, p.col,
                "%s: '%s' is also the head branch of %s, a different target in the same "
                "repository",
                path, cpgo_config_show(h, sh, sizeof sh), M(first[other])->path);
    }
    for (size_t i = 0; i < nh; i++)
        free(hkeys[i]);
    free(hkeys);
    free(first);
    free(counts);
    cpgo_strmap_free(&m);
    cpgo_strmap_free(&heads);
#undef M
}

/* ---- the scrape options' rules across keys (after defaults:)
 * ----------------------------------------------- */

static int in_effect(const struct bstate *b, size_t k)
{
    return b->s.set[k] == 1 || b->s.set[k] == 3;
}

void cpgo_config_check_scrape(struct ctx *c, struct bstate *b)
{
    struct cpgo_scrape_auth_cfg *a = &b->cfg.auth;
    char path[96];
    cpgo_config_check_tls_pair(
        c, &a->tls, b->path, cpgo_config_where(b, KI_TLS_CERT), cpgo_config_where(b, KI_TLS_KEY),
        cpgo_config_inherited(b, KI_TLS_CERT), cpgo_config_inherited(b, KI_TLS_KEY));
    int basic = in_effect(b, KI_BASIC_USER) || in_effect(b, KI_BASIC_PASSWORD_FILE);
    int authz = in_effect(b, KI_AUTHZ_TYPE) || in_effect(b, KI_AUTHZ_CREDENTIALS_FILE);
    int refused = b->s.set[KI_BASIC_USER] == 2 || b->s.set[KI_BASIC_PASSWORD_FILE] == 2 ||
                  b->s.set[KI_AUTHZ_TYPE] == 2 || b->s.set[KI_AUTHZ_CREDENTIALS_FILE] == 2;
    if (basic && !a->basic_username && !refused) {
        struct pos p = cpgo_config_where(b, KI_BASIC_USER);
        cpgo_config_key_path(b, KI_BASIC_USER, path, sizeof path);
        cpgo_config_add_error(c, p.line, p.col, "%s: required with basic_auth", path);
    }
    if (authz && !a->authz_credentials_file && !refused) {
        struct pos p = cpgo_config_where(b, KI_AUTHZ_CREDENTIALS_FILE);
        cpgo_config_key_path(b, KI_AUTHZ_CREDENTIALS_FILE, path, sizeof path);
        cpgo_config_add_error(c, p.line, p.col, "%s: required with authorization", path);
    }
    if (authz && !a->authz_type && !b->s.set[KI_AUTHZ_TYPE] &&
        !(a->authz_type = cpgo_config_strdup(c, "Bearer")))
        return;
    if (basic && authz) {
        size_t k =
            in_effect(b, KI_AUTHZ_CREDENTIALS_FILE) ? KI_AUTHZ_CREDENTIALS_FILE : KI_AUTHZ_TYPE;
        struct pos p = cpgo_config_where(b, k);
        cpgo_config_add_error(c, p.line, p.col,
                              "%s.authorization%s: not together with basic_auth (both set the "
                              "Authorization header)",
                              b->path, cpgo_config_inherited(b, k));
    }
    for (size_t i = 0; (basic || authz) && i < b->cfg.nheaders; i++) {
        if (strcasecmp(b->cfg.headers[i].name, "Authorization")) continue;
        struct pos p = cpgo_config_where(b, KI_HEADERS);
        cpgo_config_add_error(c, p.line, p.col,
                              "%s.headers.%s%s: not together with %s (both set the "
                              "Authorization header)",
                              b->path, b->cfg.headers[i].name, cpgo_config_inherited(b, KI_HEADERS),
                              basic ? "basic_auth" : "authorization");
    }
}
