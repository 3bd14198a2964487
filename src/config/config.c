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

static void unknown_key(struct ctx *c, const struct node *key, enum kscope scope,
                        const char *prefix, const char *dpath)
{
    const char *best = NULL;
    int bestd = 3;
    for (size_t i = 0; i < NKEYS; i++) {
        if (cpgo_config_keys[i].scope != scope) continue;
        const char *leaf = leaf_of(&cpgo_config_keys[i], prefix);
        if (!leaf) continue;
        int d = osa_distance(key->s, leaf);
        if (d < bestd && d < (int)strlen(leaf)) {
            bestd = d;
            best = leaf;
        }
    }
    if (best) {
        cpgo_config_add_error(c, key->line, key->col, "%s: unknown key; did you mean '%s'?", dpath,
                              best);
        return;
    }
    /* a known key at the wrong level */
    for (size_t i = 0; i < NKEYS; i++) {
        const char *dot = strrchr(cpgo_config_keys[i].name, '.');
        const char *leaf = dot ? dot + 1 : cpgo_config_keys[i].name;
        if (strcmp(leaf, key->s)) continue;
        if (cpgo_config_keys[i].scope == S_BACKEND && scope == S_TOP && !prefix) {
            cpgo_config_add_error(
                c, key->line, key->col,
                "%s: unknown key here; '%s' is a backend setting (under backends[] or "
                "defaults)",
                dpath, cpgo_config_keys[i].name);
            return;
        }
        if (cpgo_config_keys[i].scope == scope) {
            cpgo_config_add_error(c, key->line, key->col,
                                  "%s: unknown key here; did you mean '%s'?", dpath,
                                  cpgo_config_keys[i].name);
            return;
        }
    }
    cpgo_config_add_error(c, key->line, key->col, "%s: unknown key", dpath);
}

static const char *type_want(const struct key *k)
{
    switch (k->type) {
    case T_SECTION:
    case T_HEADERS:
        return "a mapping";
    case T_LIST:
        return "a list";
    case T_DURATION:
        return "a duration (e.g. 45s)";
    case T_SIZE:
        return "a size (e.g. 64MiB)";
    case T_COUNT:
    case T_INT:
        return "an integer";
    case T_BOOL:
        return "true or false";
    case T_ENUM:
        return "one of its choices";
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

/* Converts, stores and checks one value; 0 or -1 (error recorded). */
static int set_node(struct ctx *c, const struct key *k, void *base, const struct node *v,
                    const char *path)
{
    if (k->type == T_HEADERS) return set_headers(c, k, base, v, path);
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
    if ((k->type == T_INT || k->type == T_COUNT) && v->quoted && cpgo_config_parse_int(v->s, &iv)) {
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
                     const char *disp, void *base, struct sstate *st)
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
        if (!k) {
            if (token_key(kn->s))
                cpgo_config_add_error(
                    c, kn->line, kn->col,
                    "%s: tokens must not be written in the configuration; put the token "
                    "in the environment (github.token_env names the variable, default "
                    "GITHUB_TOKEN) or in a file (github.token_file)",
                    dpath);
            else
                unknown_key(c, kn, scope, prefix, dpath);
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
                walk_map(c, v, S_BACKEND, NULL, "defaults", &c->defs->cfg, &c->defs->s);
            } else {
                walk_map(c, v, scope, k->name, dpath, base, st);
            }
        } else if (k->type == T_LIST) {
            if (!cpgo_config_yaml_null(v) && v->kind != N_SEQ) {
                cpgo_config_add_error(c, v->line, v->col, "%s: expected a list, got %s", dpath,
                                      cpgo_config_yaml_kind(v));
                st->set[idx] = 2;
            }
            c->backends = v;
            c->backends_at = st->at[idx];
        } else if (set_node(c, k, base, v, dpath)) {
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
    char why[160];
    cpgo_limits_default(&cfg->limits.profile);
    for (size_t i = 0; i < NKEYS; i++)
        if (cpgo_config_keys[i].scope == S_TOP && cpgo_config_keys[i].def)
            cpgo_config_store(c, &cpgo_config_keys[i], cfg, cpgo_config_keys[i].def, why,
                              sizeof why);
    default_state_dir(c, cfg);
}

static void free_backend(struct cpgo_backend_cfg *b)
{
    cpgo_config_free_scope(S_BACKEND, b);
    if (b->schedule) cpgo_cron_free(b->schedule);
    b->schedule = NULL;
    cpgo_repo_free(&b->repo);
}

void cpgo_config_free(struct cpgo_config *c)
{
    if (!c) return;
    cpgo_config_free_scope(S_TOP, c);
    free(c->path);
    for (size_t i = 0; i < c->nbackends; i++)
        free_backend(&c->backends[i]);
    free(c->backends);
    for (size_t i = 0; i < c->ntargets; i++) {
        struct cpgo_target_cfg *t = &c->targets[i];
        free(t->key);
        free(t->id);
        cpgo_repo_free(&t->repo);
        free(t->repository);
        free(t->target_branch);
        free(t->target_file);
        free(t->head_branch);
        free(t->backends);
    }
    free(c->targets);
    free(c);
}

int cpgo_config_parse(const char *text, size_t len, const char *name, const char *base_dir,
                      struct cpgo_config **out, struct cpgo_config_errors *errs)
{
    struct ctx c = {.name = name ? name : "config", .base_dir = base_dir};
    struct node *root = NULL;
    struct cpgo_config *cfg = NULL;
    struct bstate defs;
    struct bstate *bs = NULL;
    size_t nb = 0;
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
    if (root && root->kind != N_MAP && !cpgo_config_yaml_null(root)) {
        cpgo_config_add_error(&c, root->line, root->col,
                              "the configuration must be a mapping (backends: ...), not %s",
                              cpgo_config_yaml_kind(root));
    } else if (root && root->kind == N_MAP) {
        walk_map(&c, root, S_TOP, NULL, "", cfg, top);
    }
    if (!top->set[KI_BACKENDS]) {
        cpgo_config_add_error(&c, root ? root->line : 1, root ? root->col : 1,
                              "backends: required (the list of backends to scrape)");
    } else if (top->set[KI_BACKENDS] == 1 &&
               (cpgo_config_yaml_null(c.backends) || !c.backends->n)) {
        cpgo_config_add_error(&c, c.backends_at.line, c.backends_at.col,
                              "backends: the list is empty; at least one backend is required");
    } else if (top->set[KI_BACKENDS] == 1 && c.backends->n > MAX_BACKENDS) {
        cpgo_config_add_error(&c, c.backends_at.line, c.backends_at.col,
                              "backends: %zu backends; at most %d are allowed", c.backends->n,
                              MAX_BACKENDS);
    } else if (top->set[KI_BACKENDS] == 1) {
        const struct node *list = c.backends;
        if (!(bs = calloc(list->n, sizeof *bs))) {
            c.nomem = 1;
            free(top);
            goto done;
        }
        for (size_t i = 0; i < list->n && !c.full && !c.nomem; i++, nb++) {
            const struct node *e = list->kid[i];
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
            walk_map(&c, e, S_BACKEND, NULL, b->path, &b->cfg, &b->s);
        }
        for (size_t i = 0; i < nb && !c.full && !c.nomem; i++)
            if (list->kid[i]->kind == N_MAP) cpgo_config_complete_backend(&c, &bs[i]);
        if (!c.full && !c.nomem) cpgo_config_assign_names(&c, bs, nb);
        if (!c.full && !c.nomem) cpgo_config_build_targets(&c, cfg, bs, nb);
    }
    free(top);

done:
    cpgo_config_yaml_free(root);
    free_backend(&defs.cfg);
    int rc = c.nomem ? CPGO_E_NOMEM : c.nerr || c.full ? CPGO_E_INPUT : 0;
    if (!rc && cfg) {
        cfg->backends = calloc(nb, sizeof *cfg->backends);
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
    for (size_t i = 0; i < nb; i++)
        free_backend(&bs[i].cfg);
    free(bs);
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
