/*
 * config.c - see config.h; the files of src/config are described in config_int.h.
 *
 * Here: the walk and the entry points (the error list is errors.c). The walk takes the YAML tree
 * (yaml.c) against the key table (schema.c): it decides which keys exist (unknown ones get
 * an edit-distance suggestion, a known key at the wrong level says where it belongs),
 * refuses duplicates and wrong types, and stores each value through the table, which runs
 * the key's check (checks.c). `defaults:` is walked into a template backend. Then each
 * backend is completed and the backends grouped into targets (targets.c).
 *
 * A config is returned only when the error list (errors.c) is empty.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/url.h"
#include "config/config_int.h"

/* ---- the walk -------------------------------------------------------------------------- */

/* HTTP header name: an RFC 9110 token. */
static int is_token(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s)) return 0;
    return 1;
}

static int osa_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) return 99;
    int d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* The last component of a dotted name, and whether its parent is `prefix`. */
static const char *leaf_of(const struct key *k, const char *prefix)
{
    const char *dot = strrchr(k->name, '.');
    size_t pl = prefix ? strlen(prefix) : 0;
    if (!dot) return pl ? NULL : k->name;
    if (!pl || (size_t)(dot - k->name) != pl || strncmp(k->name, prefix, pl)) return NULL;
    return dot + 1;
}

static int token_key(const char *name)
{
    if (!strcmp(name, "token_env") || !strcmp(name, "token_file")) return 0;
    char low[64];
    size_t n = 0;
    for (; name[n] && n + 1 < sizeof low; n++)
        low[n] = (char)tolower((unsigned char)name[n]);
    low[n] = 0;
    return strstr(low, "token") != NULL;
}

/* Keys written in a mapping of `scope`: its own, and for a service the backend keys it
 * shares. */
static int key_in_scope(const struct key *k, enum kscope scope)
{
    return k->scope == scope || (scope == S_SERVICE && key_shared(k));
}

static void unknown_key(struct ctx *c, const struct node *key, enum kscope scope,
                        const char *prefix, const char *dpath)
{
    const char *best = NULL;
    int bestd = 3;
    for (size_t i = 0; i < NKEYS; i++) {
        if (!key_in_scope(&cpgo_config_keys[i], scope)) continue;
        const char *leaf = leaf_of(&cpgo_config_keys[i], prefix);
        if (!leaf) continue;
        int d = osa_distance(key->s, leaf);
        if (d < bestd && d < (int)strlen(leaf)) {
            bestd = d;
            best = leaf;
        }
    }
    /* a backend key written at the top level is named as such, even when a top-level key is
     * close to it (`pgo:` is not a misspelt `log:`) */
    if (best && !(scope == S_TOP && !prefix && cpgo_config_find_key(S_BACKEND, key->s))) {
        cpgo_config_add_error(c, key->line, key->col, "%s: unknown key; did you mean '%s'?", dpath,
                              best);
        return;
    }
    /* a known key at the wrong level */
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &cpgo_config_keys[i];
        const char *dot = strrchr(k->name, '.');
        const char *leaf = dot ? dot + 1 : k->name;
        if (strcmp(leaf, key->s)) continue;
        if (k->scope == S_BACKEND && scope == S_TOP && !prefix) {
            cpgo_config_add_error(
                c, key->line, key->col,
                "%s: unknown key here; '%s' is a backend setting (under backends[] or "
                "defaults)",
                dpath, k->name);
            return;
        }
        if (k->scope == S_BACKEND && scope == S_SERVICE && !prefix) {
            cpgo_config_add_error(
                c, key->line, key->col,
                "%s: unknown key here; '%s' is for backends only: a service's instances come "
                "from its discovery sources (static_configs, dns_sd_configs, file_sd_configs, "
                "kubernetes_sd_configs) and are scraped at scheme://instance/path",
                dpath, k->name);
            return;
        }
        if (key_in_scope(k, scope)) {
            cpgo_config_add_error(c, key->line, key->col,
                                  "%s: unknown key here; did you mean '%s'?", dpath, k->name);
            return;
        }
    }
    cpgo_config_add_error(c, key->line, key->col, "%s: unknown key", dpath);
}

/* A secret written where only its file may be: names the key to use instead. 1 when it
 * recorded an error. */
static int secret_key(struct ctx *c, const struct node *kn, enum kscope scope, const char *full,
                      const char *dpath)
{
    const char *use = NULL;
    if (scope == S_BACKEND || scope == S_SERVICE) {
        if (!strcmp(full, "basic_auth.password"))
            use = "basic_auth.password_file";
        else if (!strcmp(full, "authorization.credentials"))
            use = "authorization.credentials_file";
    } else if (scope == S_K8S && token_key(kn->s)) {
        use = "bearer_token_file";
    } else if (scope == S_TOP && !strcmp(full, "github.app.private_key")) {
        use = "github.app.private_key_file";
    }
    if (use) {
        cpgo_config_add_error(c, kn->line, kn->col,
                              "%s: secrets must not be written in the configuration; put it in "
                              "a file and set %s",
                              dpath, use);
        return 1;
    }
    if (!token_key(kn->s)) return 0;
    /* under gitlab: or gitea:, that forge's keys; anywhere else GitHub's, as before */
    const char *sec = "github", *env = "GITHUB_TOKEN";
    if (scope == S_TOP && full && !strncmp(full, "gitlab.", 7))
        sec = "gitlab", env = "GITLAB_TOKEN";
    else if (scope == S_TOP && full && !strncmp(full, "gitea.", 6))
        sec = "gitea", env = "GITEA_TOKEN";
    cpgo_config_add_error(c, kn->line, kn->col,
                          "%s: tokens must not be written in the configuration; put the token "
                          "in the environment (%s.token_env names the variable, default "
                          "%s) or in a file (%s.token_file)",
                          dpath, sec, env, sec);
    return 1;
}

static const char *type_want(const struct key *k)
{
    switch (k->type) {
    case T_SECTION:
    case T_HEADERS:
        return "a mapping";
    case T_LIST:
        return "a list";
    case T_STRLIST:
        return "a list of strings";
    case T_DURATION:
        return "a duration (e.g. 45s)";
    case T_SIZE:
        return "a size (e.g. 64MiB)";
    case T_COUNT:
    case T_INT:
    case T_INT64:
        return "an integer";
    case T_BOOL:
        return "true or false";
    case T_ENUM:
        return "one of its choices";
    case T_DECIMAL:
        return "a decimal number (e.g. 0.1)";
    case T_PERCENT:
        return "a percentage (e.g. 5%)";
    default:
        return "a string";
    }
}

static int set_headers(struct ctx *c, const struct key *k, void *base, const struct node *v,
                       const char *path)
{
    if (cpgo_config_yaml_null(v)) return 0;
    if (v->kind != N_MAP) {
        cpgo_config_add_error(c, v->line, v->col, "%s: expected a mapping (Name: value), got %s",
                              path, cpgo_config_yaml_kind(v));
        return -1;
    }
    size_t n = v->n / 2;
    if (n > MAX_HEADERS) {
        cpgo_config_add_error(c, v->line, v->col, "%s: more than %d headers", path, MAX_HEADERS);
        return -1;
    }
    struct cpgo_header *h = n ? calloc(n, sizeof *h) : NULL;
    if (n && !h) {
        c->nomem = 1;
        return -1;
    }
    int bad = 0;
    size_t m = 0;
    char sh[SHOW_MAX + 8], hp[320];
    for (size_t i = 0; i < n; i++) {
        const struct node *kn = v->kid[2 * i], *vn = v->kid[2 * i + 1];
        if (kn->kind != N_SCALAR || !is_token(kn->s)) {
            snprintf(hp, sizeof hp, "%s", path);
            cpgo_config_add_error(
                c, kn->line, kn->col, "%s: '%s' is not a valid header name (an HTTP token)", hp,
                kn->kind == N_SCALAR ? cpgo_config_show(kn->s, sh, sizeof sh) : "?");
            bad = 1;
            continue;
        }
        snprintf(hp, sizeof hp, "%s", path);
        cpgo_config_path_add(hp, sizeof hp, kn->s, 0);
        int dup = 0;
        for (size_t j = 0; j < m; j++)
            dup |= !strcasecmp(h[j].name, kn->s);
        if (dup) {
            cpgo_config_add_error(c, kn->line, kn->col, "%s: duplicate header", hp);
            bad = 1;
            continue;
        }
        if (vn->kind != N_SCALAR || cpgo_config_yaml_null(vn)) {
            cpgo_config_add_error(c, vn->line, vn->col, "%s: expected a string value, got %s", hp,
                                  cpgo_config_yaml_null(vn) ? "nothing"
                                                            : cpgo_config_yaml_kind(vn));
            bad = 1;
            continue;
        }
        if (strpbrk(vn->s, "\r\n") || cpgo_config_has_ctl(vn->s)) { /* never echo a header value */
            cpgo_config_add_error(c, vn->line, vn->col,
                                  "%s: the value contains a line break or control character", hp);
            bad = 1;
            continue;
        }
        h[m].name = cpgo_config_strdup(c, kn->s);
        h[m].value = cpgo_config_strdup(c, vn->s);
        m++;
    }
    struct cpgo_header **hp_ = field(base, k->off);
    size_t *np = field(base, k->off2);
    cpgo_config_free_headers(*hp_, *np);
    *hp_ = h;
    *np = m;
    return bad ? -1 : 0;
}

/* A list of strings: each item a scalar, checked by the key's icheck. */
static int set_strlist(struct ctx *c, const struct key *k, void *base, const struct node *v,
                       const char *path)
{
    char ***vp = field(base, k->off);
    size_t *np = field(base, k->off2);
    cpgo_config_free_strlist(*vp, *np);
    *vp = NULL;
    *np = 0;
    if (cpgo_config_yaml_null(v)) return 0;
    if (v->kind != N_SEQ) {
        cpgo_config_add_error(c, v->line, v->col, "%s: expected a list of strings, got %s", path,
                              cpgo_config_yaml_kind(v));
        return -1;
    }
    if (k->max && v->n > (size_t)k->max) {
        cpgo_config_add_error(c, v->line, v->col,
                              "%s: %zu entries; at most %" PRId64 " are allowed", path, v->n,
                              k->max);
        return -1;
    }
    if (!v->n && (k->flags & F_REQUIRED)) {
        cpgo_config_add_error(c, v->line, v->col,
                              "%s: the list is empty; at least one entry is "
                              "required",
                              path);
        return -1;
    }
    char **items = v->n ? calloc(v->n, sizeof *items) : NULL;
    if (v->n && !items) {
        c->nomem = 1;
        return -1;
    }
    int bad = 0;
    size_t m = 0;
    for (size_t i = 0; i < v->n && !c->nomem; i++) {
        const struct node *it = v->kid[i];
        char ip[320];
        snprintf(ip, sizeof ip, "%s", path);
        cpgo_config_path_add(ip, sizeof ip, NULL, (long)i);
        if (it->kind != N_SCALAR || cpgo_config_yaml_null(it) || !*it->s) {
            cpgo_config_add_error(c, it->line, it->col, "%s: expected a string, got %s", ip,
                                  it->kind != N_SCALAR        ? cpgo_config_yaml_kind(it)
                                  : cpgo_config_yaml_null(it) ? "nothing"
                                                              : "an empty one");
            bad = 1;
            continue;
        }
        char *s = cpgo_config_strdup(c, it->s);
        if (!s) break;
        if (k->icheck && k->icheck(c, &s, ip, (struct pos){it->line, it->col})) {
            free(s);
            bad = 1;
            continue;
        }
        size_t dup = m;
        for (size_t j = 0; (k->flags & F_UNIQUE) && j < m && dup == m; j++)
            if (!strcasecmp(items[j], s)) dup = j;
        if (dup < m) { /* the forges compare names without case: one name, twice */
            char sh[SHOW_MAX + 8];
            cpgo_config_add_error(c, it->line, it->col, "%s: '%s' is listed twice", ip,
                                  cpgo_config_show(s, sh, sizeof sh));
            free(s);
            bad = 1;
            continue;
        }
        items[m++] = s;
    }
    *vp = items;
    *np = m;
    return bad ? -1 : 0;
}

/* Converts, stores and checks one value; 0 or -1 (error recorded). */
static int set_node(struct ctx *c, const struct key *k, void *base, const struct node *v,
                    const char *path)
{
    if (k->type == T_HEADERS) return set_headers(c, k, base, v, path);
    if (k->type == T_STRLIST) return set_strlist(c, k, base, v, path);
    char sh[SHOW_MAX + 8], why[160];
    if (cpgo_config_yaml_null(v)) {
        if (k->flags & F_NULLABLE) {
            cpgo_config_store(c, k, base, NULL, why, sizeof why);
            return 0;
        }
        cpgo_config_add_error(c, v->line, v->col, "%s: needs a value (%s)", path, type_want(k));
        return -1;
    }
    if (v->kind != N_SCALAR) {
        cpgo_config_add_error(c, v->line, v->col, "%s: expected %s, got %s", path, type_want(k),
                              cpgo_config_yaml_kind(v));
        return -1;
    }
    int64_t iv;
    int bv;
    if ((k->type == T_INT || k->type == T_COUNT || k->type == T_INT64) && v->quoted &&
        cpgo_config_parse_int(v->s, &iv)) {
        cpgo_config_add_error(c, v->line, v->col,
                              "%s: '%s' is quoted; write the integer without quotes", path,
                              cpgo_config_show(v->s, sh, sizeof sh));
        return -1;
    }
    if (k->type == T_BOOL && (v->quoted || !cpgo_config_yaml_bool(v, &bv))) {
        cpgo_config_add_error(c, v->line, v->col, "%s: '%s' is not true or false", path,
                              cpgo_config_show(v->s, sh, sizeof sh));
        return -1;
    }
    const char *text = v->s;
    if (k->type == T_BOOL) text = bv ? "true" : "false";
    const char *err = cpgo_config_store(c, k, base, text, why, sizeof why);
    if (err) {
        cpgo_config_add_error(c, v->line, v->col, "%s: '%s' %s", path,
                              cpgo_config_show(v->s, sh, sizeof sh), err);
        return -1;
    }
    if (k->check && k->check(c, k, base, path, (struct pos){v->line, v->col})) return -1;
    return 0;
}

static void walk_map(struct ctx *c, const struct node *m, enum kscope scope, const char *prefix,
                     const char *disp, void *base, void *bbase, struct sstate *st);

/* Fills in the defaults of scope's keys not given in st, and says which required ones are
 * missing (at `at`, the element). */
static void scope_defaults(struct ctx *c, enum kscope scope, void *base, struct sstate *st,
                           const char *path, struct pos at)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &cpgo_config_keys[i];
        if (k->scope != scope || st->set[i] || !key_is_leaf(k)) continue;
        cpgo_config_store_default(c, k, base);
        if (!(k->flags & F_REQUIRED)) continue;
        const char *dot = strrchr(k->name, '.');
        if (dot) { /* in a section: point at the section when it was written */
            char sec[64];
            snprintf(sec, sizeof sec, "%.*s", (int)(dot - k->name), k->name);
            const struct key *sk = cpgo_config_find_key(scope, sec);
            if (sk && st->set[sk - cpgo_config_keys]) at = st->at[sk - cpgo_config_keys];
        }
        cpgo_config_add_error(c, at.line, at.col, "%s.%s: required", path, k->name);
    }
}

/* A list whose elements are walked against k->sub into an array at base + k->off. */
static int walk_list(struct ctx *c, const struct key *k, void *base, const struct node *v,
                     const char *path)
{
    char **arr = field(base, k->off);
    size_t *np = field(base, k->off2);
    if (cpgo_config_yaml_null(v)) return 0;
    if (v->kind != N_SEQ) {
        cpgo_config_add_error(c, v->line, v->col, "%s: expected a list, got %s", path,
                              cpgo_config_yaml_kind(v));
        return -1;
    }
    if (k->max && v->n > (size_t)k->max) {
        cpgo_config_add_error(c, v->line, v->col,
                              "%s: %zu entries; at most %" PRId64 " are allowed", path, v->n,
                              k->max);
        return -1;
    }
    if (!v->n) return 0;
    char *elems = calloc(v->n, k->esize);
    struct sstate *st = calloc(1, sizeof *st);
    if (!elems || !st) {
        free(elems);
        free(st);
        c->nomem = 1;
        return -1;
    }
    *arr = elems; /* owned by base from here: freed with it whatever happens below */
    int bad = 0;
    for (size_t i = 0; i < v->n && !c->full && !c->nomem; i++) {
        const struct node *e = v->kid[i];
        void *el = elems + i * k->esize;
        char ep[320];
        snprintf(ep, sizeof ep, "%s", path);
        cpgo_config_path_add(ep, sizeof ep, NULL, (long)i);
        *np = i + 1;
        if (k->flags & F_LINE) memcpy(field(el, k->eline), &e->line, sizeof(int));
        if (e->kind != N_MAP) {
            cpgo_config_add_error(c, e->line, e->col, "%s: expected a mapping, got %s", ep,
                                  cpgo_config_yaml_null(e) ? "nothing" : cpgo_config_yaml_kind(e));
            bad = 1;
            continue;
        }
        memset(st, 0, sizeof *st);
        size_t before = c->nerr;
        walk_map(c, e, k->sub, NULL, ep, el, NULL, st);
        struct pos at = {e->line, e->col};
        scope_defaults(c, k->sub, el, st, ep, at);
        /* the rules across keys only when every key was sound: no second error for one
         * mistake */
        if (c->nerr == before && k->echeck) k->echeck(c, el, st, ep, at);
        bad |= c->nerr != before;
    }
    free(st);
    return bad ? -1 : 0;
}

/*
 * Walks mapping m against scope's keys (prefix: the section being walked, "tls_config"),
 * storing values at base; for a service (scope S_SERVICE) the backend keys it shares go to
 * bbase (its backend template). st records what was seen (one struct for both).
 */
static void walk_map(struct ctx *c, const struct node *m, enum kscope scope, const char *prefix,
                     const char *disp, void *base, void *bbase, struct sstate *st)
{
    for (size_t i = 0; i + 1 < m->n && !c->full && !c->nomem; i += 2) {
        const struct node *kn = m->kid[i], *v = m->kid[i + 1];
        if (kn->kind != N_SCALAR) {
            cpgo_config_add_error(c, kn->line, kn->col, "%s%skeys must be plain names, not %s",
                                  disp, *disp ? ": " : "", cpgo_config_yaml_kind(kn));
            continue;
        }
        char full[128], dpath[320];
        snprintf(full, sizeof full, "%s%s%.64s", prefix ? prefix : "", prefix ? "." : "", kn->s);
        snprintf(dpath, sizeof dpath, "%s", disp);
        cpgo_config_path_add(dpath, sizeof dpath, kn->s, 0);
        const struct key *k = strlen(kn->s) < 64 ? cpgo_config_find_key(scope, full) : NULL;
        void *kb = base;
        if (!k && scope == S_SERVICE && strlen(kn->s) < 64) {
            k = cpgo_config_find_key(S_BACKEND, full);
            if (k && !key_shared(k)) k = NULL;
            kb = bbase;
        }
        if (!k) {
            if (!secret_key(c, kn, scope, full, dpath)) unknown_key(c, kn, scope, prefix, dpath);
            continue;
        }
        size_t idx = (size_t)(k - cpgo_config_keys);
        if (st->set[idx]) {
            cpgo_config_add_error(c, kn->line, kn->col, "%s: duplicate key (first at line %d)",
                                  dpath, st->kat[idx].line);
            continue;
        }
        st->set[idx] = 1;
        st->at[idx] = (struct pos){v->line, v->col};
        st->kat[idx] = (struct pos){kn->line, kn->col};
        if (k->type == T_SECTION) {
            if (cpgo_config_yaml_null(v)) continue;
            if (v->kind != N_MAP) {
                cpgo_config_add_error(c, v->line, v->col, "%s: expected a mapping, got %s", dpath,
                                      cpgo_config_yaml_kind(v));
                st->set[idx] = 2;
            } else if (idx == KI_DEFAULTS) {
                walk_map(c, v, S_BACKEND, NULL, "defaults", &c->defs->cfg, NULL, &c->defs->s);
            } else {
                walk_map(c, v, k->scope, k->name, dpath, kb, NULL, st);
            }
        } else if (k->type == T_LIST && k->sub != S_TOP) {
            if (walk_list(c, k, kb, v, dpath)) st->set[idx] = 2;
        } else if (k->type == T_LIST) {
            if (!cpgo_config_yaml_null(v) && v->kind != N_SEQ) {
                cpgo_config_add_error(c, v->line, v->col, "%s: expected a list, got %s", dpath,
                                      cpgo_config_yaml_kind(v));
                st->set[idx] = 2;
            }
            if (idx == KI_SERVICES) {
                c->services = v;
                c->services_at = st->at[idx];
            } else {
                c->backends = v;
                c->backends_at = st->at[idx];
            }
        } else if (set_node(c, k, kb, v, dpath)) {
            st->set[idx] = 2;
        }
    }
}

/* ---- entry points ---------------------------------------------------------------------- */

static void default_state_dir(struct ctx *c, struct cpgo_config *cfg)
{
    const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char buf[4096];
    if (x && x[0] == '/')
        snprintf(buf, sizeof buf, "%s/cpgo", x);
    else if (geteuid() != 0 && home && home[0] == '/')
        snprintf(buf, sizeof buf, "%s/.local/state/cpgo", home);
    else
        snprintf(buf, sizeof buf, "/var/lib/cpgo");
    cfg->state_dir = cpgo_config_strdup(c, buf);
}

static void init_top(struct ctx *c, struct cpgo_config *cfg)
{
    cpgo_limits_default(&cfg->limits.profile);
    for (size_t i = 0; i < NKEYS; i++)
        if (cpgo_config_keys[i].scope == S_TOP)
            cpgo_config_store_default(c, &cpgo_config_keys[i], cfg);
    default_state_dir(c, cfg);
}

static void free_backend(struct cpgo_backend_cfg *b)
{
    cpgo_config_free_scope(S_BACKEND, b);
    if (b->schedule) cpgo_cron_free(b->schedule);
    b->schedule = NULL;
    cpgo_repo_free(&b->repo);
}

/* A service's own keys and its sources (its template is freed as a backend). */
static void free_service(struct cpgo_service_cfg *s)
{
    cpgo_config_free_scope(S_SERVICE, s);
    cpgo_config_pgo_free(&s->pgo);
    free_backend(&s->tmpl);
}

void cpgo_config_free(struct cpgo_config *c)
{
    if (!c) return;
    cpgo_config_free_scope(S_TOP, c);
    free(c->path);
    for (size_t i = 0; i < c->nbackends; i++)
        free_backend(&c->backends[i]);
    free(c->backends);
    for (size_t i = 0; i < c->nservices; i++)
        free_service(&c->services[i]);
    free(c->services);
    for (size_t i = 0; i < c->ntargets; i++) {
        struct cpgo_target_cfg *t = &c->targets[i];
        free(t->key);
        free(t->id);
        cpgo_repo_free(&t->repo);
        free(t->repository);
        free(t->target_branch);
        free(t->target_file);
        free(t->head_branch);
        cpgo_config_pgo_free(&t->pgo);
        cpgo_config_free_strlist(t->labels, t->nlabels);
        cpgo_config_free_strlist(t->reviewers, t->nreviewers);
        cpgo_config_free_strlist(t->assignees, t->nassignees);
        free(t->commit_prefix);
        free(t->backends);
        free(t->services);
    }
    free(c->targets);
    cpgo_config_free_strlist(c->warnings, c->nwarnings);
    if (c->source) {
        /* a URL's password or a secret header value is in it too */
        explicit_bzero(c->source->text, c->source->len);
        free(c->source->text);
        free(c->source->name);
        free(c->source->base_dir);
        free(c->source);
    }
    free(c);
}

/* The top-level list at `v` (backends: or services:) checked as a list: its length, or
 * 0 with an error when it cannot be walked. */
static size_t list_length(struct ctx *c, const struct node *v, struct pos at, const char *what,
                          size_t max)
{
    if (!v || cpgo_config_yaml_null(v) || v->kind != N_SEQ) return 0;
    if (v->n > max) {
        cpgo_config_add_error(c, at.line, at.col, "%s: %zu %s; at most %zu are allowed", what, v->n,
                              what, max);
        return 0;
    }
    return v->n;
}

/* Here, not in branches.c, which calls this file: files do not call each other in a
 * circle. */
size_t cpgo_config_unresolved(const struct cpgo_config *c)
{
    size_t n = 0;
    for (size_t i = 0; c && i < c->ntargets; i++)
        n += !c->targets[i].target_branch;
    return n;
}

/* The text is kept while a default branch waits to be resolved: cpgo_config_resolve_branches
 * loads it again with the answers, so they act exactly as written branches. */
static int keep_source(struct cpgo_config *cfg, const char *text, size_t len, const char *name,
                       const char *base_dir)
{
    struct cpgo_config_source *s = calloc(1, sizeof *s);
    if (!s) return -1;
    cfg->source = s;
    s->text = malloc(len ? len : 1);
    s->name = strdup(name);
    s->base_dir = base_dir ? strdup(base_dir) : NULL;
    if (!s->text || !s->name || (base_dir && !s->base_dir)) return -1;
    if (len) memcpy(s->text, text, len);
    s->len = len;
    return 0;
}

int cpgo_config_parse(const char *text, size_t len, const char *name, const char *base_dir,
                      struct cpgo_config **out, struct cpgo_config_errors *errs)
{
    return cpgo_config_parse_with(text, len, name, base_dir, NULL, out, errs);
}

int cpgo_config_parse_with(const char *text, size_t len, const char *name, const char *base_dir,
                           const struct branches *br, struct cpgo_config **out,
                           struct cpgo_config_errors *errs)
{
    struct ctx c = {.name = name ? name : "config", .base_dir = base_dir, .branches = br};
    struct node *root = NULL;
    struct cpgo_config *cfg = NULL;
    struct bstate defs;
    struct bstate *bs = NULL, *ss = NULL;
    struct cpgo_service_cfg *svcs = NULL;
    size_t nb = 0, ns = 0;
    memset(&defs, 0, sizeof defs);
    c.defs = &defs;
    *out = NULL;
    if (errs) errs->lines = NULL, errs->n = 0;

    if (len > MAX_FILE) {
        cpgo_config_add_error(&c, 0, 0, "the file is %zu bytes; the limit is 4 MiB", len);
        goto done;
    }
    if (cpgo_config_yaml_read(&c, text, len, &root)) goto done;
    if (!(cfg = calloc(1, sizeof *cfg)) || !(cfg->path = strdup(c.name))) {
        c.nomem = 1;
        goto done;
    }
    init_top(&c, cfg);
    struct sstate *top = calloc(1, sizeof *top);
    if (!top) {
        c.nomem = 1;
        goto done;
    }
    c.cfg = cfg;
    c.top = top;
    if (root && root->kind != N_MAP && !cpgo_config_yaml_null(root)) {
        cpgo_config_add_error(&c, root->line, root->col,
                              "the configuration must be a mapping (backends: ...), not %s",
                              cpgo_config_yaml_kind(root));
    } else if (root && root->kind == N_MAP) {
        walk_map(&c, root, S_TOP, NULL, "", cfg, NULL, top);
    }
    cpgo_config_check_github_app(&c, cfg, top);
    int has_b = top->set[KI_BACKENDS] == 1, has_s = top->set[KI_SERVICES] == 1;
    size_t want_b =
        has_b ? list_length(&c, c.backends, c.backends_at, "backends", MAX_BACKENDS) : 0;
    size_t want_s =
        has_s ? list_length(&c, c.services, c.services_at, "services", MAX_SERVICES) : 0;
    int empty_b = has_b && (cpgo_config_yaml_null(c.backends) || !c.backends->n);
    int empty_s = has_s && (cpgo_config_yaml_null(c.services) || !c.services->n);
    if (!top->set[KI_BACKENDS] && !top->set[KI_SERVICES]) {
        cpgo_config_add_error(&c, root ? root->line : 1, root ? root->col : 1,
                              "backends: required (the list of backends to scrape)");
    } else if (empty_b && (!top->set[KI_SERVICES] || empty_s)) {
        cpgo_config_add_error(&c, c.backends_at.line, c.backends_at.col,
                              "backends: the list is empty; at least one backend is required");
    } else if (empty_s && !top->set[KI_BACKENDS]) {
        cpgo_config_add_error(&c, c.services_at.line, c.services_at.col,
                              "services: the list is empty; at least one service (or backend) "
                              "is required");
    }
    if ((want_b && !(bs = calloc(want_b, sizeof *bs))) ||
        (want_s &&
         (!(ss = calloc(want_s, sizeof *ss)) || !(svcs = calloc(want_s, sizeof *svcs))))) {
        c.nomem = 1;
        free(top);
        goto done;
    }
    for (size_t i = 0; i < want_b && !c.full && !c.nomem; i++, nb++) {
        const struct node *e = c.backends->kid[i];
        struct bstate *b = &bs[i];
        snprintf(b->path, sizeof b->path, "backends[%zu]", i);
        b->cfg.line = e->line;
        b->cfg.column = e->col;
        if (e->kind != N_MAP) {
            cpgo_config_add_error(
                &c, e->line, e->col,
                "%s: expected a mapping (url, schedule, open_pull_request), got %s", b->path,
                cpgo_config_yaml_null(e) ? "nothing" : cpgo_config_yaml_kind(e));
            continue;
        }
        walk_map(&c, e, S_BACKEND, NULL, b->path, &b->cfg, NULL, &b->s);
    }
    for (size_t i = 0; i < want_s && !c.full && !c.nomem; i++, ns++) {
        const struct node *e = c.services->kid[i];
        struct bstate *b = &ss[i];
        snprintf(b->path, sizeof b->path, "services[%zu]", i);
        b->svc = &svcs[i];
        b->cfg.line = b->svc->line = e->line;
        b->cfg.column = b->svc->column = e->col;
        if (e->kind != N_MAP) {
            cpgo_config_add_error(&c, e->line, e->col,
                                  "%s: expected a mapping (name, schedule, static_configs..., "
                                  "open_pull_request), got %s",
                                  b->path,
                                  cpgo_config_yaml_null(e) ? "nothing" : cpgo_config_yaml_kind(e));
            continue;
        }
        walk_map(&c, e, S_SERVICE, NULL, b->path, b->svc, &b->cfg, &b->s);
    }
    for (size_t i = 0; i < nb && !c.full && !c.nomem; i++)
        if (c.backends->kid[i]->kind == N_MAP) cpgo_config_complete_backend(&c, &bs[i]);
    for (size_t i = 0; i < ns && !c.full && !c.nomem; i++)
        if (c.services->kid[i]->kind == N_MAP) cpgo_config_complete_backend(&c, &ss[i]);
    if (!c.full && !c.nomem) cpgo_config_assign_names(&c, bs, nb, ss, ns);
    if (!c.full && !c.nomem) cpgo_config_build_targets(&c, cfg, bs, nb, ss, ns);
    cfg->state_dir_default = !top->set[KI_STATE_DIR];
    c.top = NULL;
    free(top);

done:
    cpgo_config_yaml_free(root);
    free_backend(&defs.cfg);
    int rc = c.nomem ? CPGO_E_NOMEM : c.nerr || c.full ? CPGO_E_INPUT : 0;
    if (!rc && cfg) {
        cfg->backends = calloc(nb ? nb : 1, sizeof *cfg->backends);
        if (!cfg->backends) {
            c.nomem = 1;
            rc = CPGO_E_NOMEM;
        } else {
            for (size_t i = 0; i < nb; i++)
                cfg->backends[i] = bs[i].cfg;
            cfg->nbackends = nb;
            nb = 0;
        }
    }
    if (!rc && cfg && ns) {
        for (size_t i = 0; i < ns; i++) { /* the template is the walked backend part */
            svcs[i].tmpl = ss[i].cfg;
            svcs[i].target = ss[i].cfg.target;
            memset(&ss[i].cfg, 0, sizeof ss[i].cfg);
            if (cpgo_config_pgo_copy(&c, &svcs[i].pgo, &svcs[i].tmpl.pgo)) rc = CPGO_E_NOMEM;
        }
        cfg->services = svcs;
        cfg->nservices = ns;
        svcs = NULL;
        ns = 0;
    }
    for (size_t i = 0; i < nb; i++)
        free_backend(&bs[i].cfg);
    for (size_t i = 0; i < ns; i++) { /* not handed over: entries past ns are all zero */
        free_backend(&ss[i].cfg);
        free_service(&svcs[i]);
    }
    free(bs);
    free(ss);
    free(svcs);
    if (!rc && cfg) { /* the warnings go with the configuration */
        cfg->warnings = c.warns;
        cfg->nwarnings = c.nwarn;
    } else {
        cpgo_config_free_strlist(c.warns, c.nwarn);
    }
    c.warns = NULL;
    c.nwarn = 0;
    if (!rc && cpgo_config_unresolved(cfg) && keep_source(cfg, text, len, c.name, base_dir)) {
        c.nomem = 1;
        rc = CPGO_E_NOMEM;
    }
    cpgo_config_export_errors(&c, errs);
    if (rc) {
        cpgo_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

static int load(const char *path, int regular_only, struct cpgo_config **out,
                struct cpgo_config_errors *errs)
{
    struct ctx c = {.name = path};
    *out = NULL;
    if (errs) errs->lines = NULL, errs->n = 0;
    /* O_NONBLOCK for a reload: a FIFO must not block the pool thread (see config.h) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int rc = 0;
    if (fd < 0) {
        cpgo_config_add_error(&c, 0, 0, "cannot open: %s", strerror(errno));
        rc = CPGO_E_IO;
    } else if (fstat(fd, &st)) {
        cpgo_config_add_error(&c, 0, 0, "cannot read: %s", strerror(errno));
        rc = CPGO_E_IO;
    } else if (S_ISDIR(st.st_mode)) {
        cpgo_config_add_error(&c, 0, 0, "cannot read: is a directory");
        rc = CPGO_E_IO;
    } else if (regular_only && !S_ISREG(st.st_mode)) {
        cpgo_config_add_error(
            &c, 0, 0,
            "cannot read again: it is %s, not a regular file (a configuration read "
            "from a pipe cannot be reloaded)",
            S_ISFIFO(st.st_mode)   ? "a FIFO or pipe"
            : S_ISSOCK(st.st_mode) ? "a socket"
                                   : "a device");
        rc = CPGO_E_IO;
    } else if (regular_only && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)) {
        cpgo_config_add_error(&c, 0, 0, "cannot read: %s", strerror(errno));
        rc = CPGO_E_IO;
    } else {
        struct cpgo_err e;
        unsigned char *data;
        rc = cpgo_file_read_fd(fd, "the file", MAX_FILE, &data, &len, &e);
        buf = (char *)data;
        if (rc == CPGO_E_LIMIT) {
            cpgo_config_add_error(&c, 0, 0, "the file is larger than the limit of 4 MiB");
            rc = CPGO_E_INPUT;
        } else if (rc == CPGO_E_NOMEM) {
            c.nomem = 1;
        } else if (rc) {
            cpgo_config_add_error(&c, 0, 0, "%s", e.text);
        }
    }
    if (fd >= 0) close(fd);
    if (rc) {
        free(buf);
        cpgo_config_export_errors(&c, errs);
        return rc;
    }
    char *dir = strdup(path);
    if (!dir) {
        free(buf);
        return CPGO_E_NOMEM;
    }
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    rc = cpgo_config_parse(buf, len, path, dir, out, errs);
    free(dir);
    free(buf);
    return rc;
}

int cpgo_config_load(const char *path, struct cpgo_config **out, struct cpgo_config_errors *errs)
{
    return load(path, 0, out, errs);
}

int cpgo_config_reload(const char *path, struct cpgo_config **out, struct cpgo_config_errors *errs)
{
    return load(path, 1, out, errs);
}
