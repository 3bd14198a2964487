/*
 * checks.c - the checks of single values that the key table (schema.c) names: each runs
 * after its value was converted and stored, refuses it with one error naming the key, or
 * normalises it (paths made absolute, ":port" bound to loopback, a trailing '/' cut).
 *
 * Why here and not in the callers: check-config and the start of `run` must refuse what
 * would only fail later (a URL libcurl would not fetch, a branch git would not take, a
 * profile path inside .git), and name the line it came from. The rules that span keys are
 * in targets.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/url.h"
#include "config/config_int.h"

int cpgo_config_parse_int(const char *s, int64_t *v)
{
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    if (!isdigit((unsigned char)*p)) return 0;
    int64_t x = 0;
    for (; isdigit((unsigned char)*p); p++) {
        if (x > (INT64_MAX - (*p - '0')) / 10) return 0;
        x = x * 10 + (*p - '0');
    }
    if (*p) return 0;
    *v = neg ? -x : x;
    return 1;
}

/* In place: "//" and "/./" become "/", a trailing "/" or "/." goes (the root stays "/").
 * ".." is kept: through a symbolic link "a/link/.." is not "a", so only what cannot change
 * the file named is removed. */
static void clean_path(char *p)
{
    char *w = p;
    for (const char *r = p; *r;) {
        if (r[0] == '/' && w > p && w[-1] == '/') {
            r++; /* "//" */
        } else if (r[0] == '.' && (w == p || w[-1] == '/') && (r[1] == '/' || !r[1]) && w > p) {
            r += r[1] ? 2 : 1; /* "/./" or a trailing "/." */
        } else {
            *w++ = *r++;
        }
    }
    while (w > p + 1 && w[-1] == '/')
        w--;
    *w = 0;
}

char *cpgo_config_join_path(struct ctx *c, const char *rel)
{
    if (rel[0] == '/') {
        char *out = cpgo_config_strdup(c, rel);
        if (out) clean_path(out);
        return out;
    }
    char cwd[4096] = "";
    const char *base = c->base_dir && *c->base_dir ? c->base_dir : ".";
    if (base[0] != '/' && !getcwd(cwd, sizeof cwd)) cwd[0] = 0;
    size_t n = strlen(cwd) + strlen(base) + strlen(rel) + 3;
    char *out = malloc(n);
    if (!out) {
        c->nomem = 1;
        return NULL;
    }
    if (!strcmp(base, ".") && *cwd)
        snprintf(out, n, "%s/%s", cwd, rel);
    else
        snprintf(out, n, "%s%s%s/%s", cwd, *cwd ? "/" : "", base, rel);
    clean_path(out); /* what check-config prints and logs name: no "/./" nor "//" */
    return out;
}

int cpgo_config_has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

/* state_dir and token_file: a path, made absolute against the configuration's directory. */
int cpgo_config_check_path(struct ctx *c, const struct key *k, void *base, const char *path,
                           struct pos at)
{
    char **p = field(base, k->off);
    if (!*p) return 0;
    char sh[SHOW_MAX + 8];
    if (!**p || cpgo_config_has_ctl(*p)) {
        cpgo_config_add_error(c, at.line, at.col, "%s: '%s' is not a path", path,
                              cpgo_config_show(*p, sh, sizeof sh));
        return -1;
    }
    char *abs = cpgo_config_join_path(c, *p);
    if (!abs) return -1;
    free(*p);
    *p = abs;
    return 0;
}

static int valid_host(const char *s, size_t n)
{
    if (!n || n > 253) return 0; /* the longest DNS name */
    if (s[0] == '[') {
        if (n < 3 || s[n - 1] != ']') return 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.') return 0;
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_') return 0;
    return 1;
}

static int parse_port(const char *s, size_t n, int min)
{
    if (!n || n > 5) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= min && v <= 65535 ? v : -1;
}

int cpgo_config_check_listen(struct ctx *c, const struct key *k, void *base, const char *path,
                             struct pos at)
{
    char **p = field(base, k->off);
    if (!*p) return 0;
    const char *s = *p, *port = NULL;
    size_t hl = 0;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb && rb[1] == ':') hl = (size_t)(rb + 1 - s), port = rb + 2;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && !strchr(colon + 1, ':')) hl = (size_t)(colon - s), port = colon + 1;
    }
    if (!port || parse_port(port, strlen(port), 0) < 0 || (hl && !valid_host(s, hl))) {
        char sh[SHOW_MAX + 8];
        cpgo_config_add_error(c, at.line, at.col,
                              "%s: '%s' is not host:port (e.g. 127.0.0.1:8080 or :8080)", path,
                              cpgo_config_show(s, sh, sizeof sh));
        return -1;
    }
    /* the admin endpoint binds addresses, never resolves names (admin/http.h): a name
     * other than localhost is refused here rather than when the daemon starts */
    char host[64];
    int v6 = s[0] == '[';
    if (hl && hl - (v6 ? 2 : 0) < sizeof host) {
        snprintf(host, sizeof host, "%.*s", (int)(hl - (v6 ? 2 : 0)), s + v6);
        unsigned char a[16];
        if (strcmp(host, "localhost") && inet_pton(v6 ? AF_INET6 : AF_INET, host, a) != 1) {
            char sh[SHOW_MAX + 8];
            cpgo_config_add_error(c, at.line, at.col,
                                  "%s: '%s': the host must be a numeric address or localhost "
                                  "(':%s' for every interface, '127.0.0.1:%s' for loopback)",
                                  path, cpgo_config_show(s, sh, sizeof sh), port, port);
            return -1;
        }
    } else if (hl) {
        char sh[SHOW_MAX + 8];
        cpgo_config_add_error(c, at.line, at.col, "%s: '%s': the host is too long", path,
                              cpgo_config_show(s, sh, sizeof sh));
        return -1;
    }
    /* ":port" stays as written: every interface, as in Go and Prometheus (admin/http.h) */
    return 0;
}

/* Splits an http(s) URL as libcurl, which will fetch it, parses it (url.h): 0, or -1 with
 * *why. host_port gets "host:port" (default port filled in), seconds the `seconds` query
 * parameter (30 when absent). */
int cpgo_config_split_url(const char *u, char *host_port, size_t cap, int64_t *seconds,
                          int *has_user, const char **why)
{
    struct cpgo_url p;
    if (cpgo_url_parse(u, &p, why)) return -1;
    *has_user = p.user || p.password;
    if (host_port) {
        snprintf(host_port, cap, "%s:%d", p.host, p.port);
        for (char *c = host_port; *c; c++) /* the port is digits: only the host changes */
            *c = (char)tolower((unsigned char)*c);
    }
    *seconds = 30;
    int rc = 0, seen = 0;
    for (const char *q = p.query; q && *q && !rc;) {
        size_t n = strcspn(q, "&");
        if (n > 8 && !strncmp(q, "seconds=", 8)) {
            int64_t v;
            char num[24];
            size_t vl = n - 8;
            if (seen) {
                *why = "has seconds= twice";
                rc = -1;
                break;
            }
            seen = 1;
            if (vl >= sizeof num) vl = sizeof num - 1;
            memcpy(num, q + 8, vl);
            num[vl] = 0;
            if (!isdigit((unsigned char)num[0]) || !cpgo_config_parse_int(num, &v) || v < 1 ||
                v > 3600) {
                *why = "has a seconds= parameter that is not a whole number from 1 to 3600";
                rc = -1;
                break;
            }
            *seconds = v;
        } else if (n == 7 && !strncmp(q, "seconds", 7)) {
            *why = "has a seconds= parameter that is not a whole number from 1 to 3600";
            rc = -1;
        }
        q += n;
        if (*q == '&') q++;
    }
    cpgo_url_free(&p);
    return rc;
}

int cpgo_config_check_url(struct ctx *c, const struct key *k, void *base, const char *path,
                          struct pos at)
{
    const char *u = *(char **)field(base, k->off), *why = NULL;
    int64_t seconds;
    int user;
    if (cpgo_config_split_url(u, NULL, 0, &seconds, &user, &why)) {
        char sh[SHOW_MAX + 8];
        cpgo_config_add_error(c, at.line, at.col, "%s: '%s' %s", path,
                              cpgo_config_show_url(u, sh, sizeof sh), why);
        return -1;
    }
    return 0;
}

/* The loopback hosts a plain http API URL may name (tests, a local proxy): as the API
 * client decides it (src/publish/prapi.c), so what config accepts the client takes. */
static int loopback_host(const char *host)
{
    return !strcasecmp(host, "localhost") || !strcmp(host, "[::1]") || !strncmp(host, "127.", 4);
}

/* github.api_url, gitlab.api_url, gitea.api_url: a plain base URL, https or loopback http
 * (the token goes with every request), stored without a trailing '/'. */
int cpgo_config_check_api_url(struct ctx *c, const struct key *k, void *base, const char *path,
                              struct pos at)
{
    char **p = field(base, k->off);
    if (!*p) return 0; /* gitea.api_url: null */
    const char *why = NULL;
    int64_t seconds;
    int user;
    char sh[SHOW_MAX + 8];
    if (cpgo_config_split_url(*p, NULL, 0, &seconds, &user, &why)) {
        cpgo_config_add_error(c, at.line, at.col, "%s: '%s' %s", path,
                              cpgo_config_show_url(*p, sh, sizeof sh), why);
        return -1;
    }
    const char *dot = strchr(k->name, '.');
    int sl = dot ? (int)(dot - k->name) : (int)strlen(k->name); /* "github", "gitlab"... */
    if (user || strpbrk(*p, "?#")) {
        cpgo_config_add_error(c, at.line, at.col,
                              "%s: '%s' must be a plain base URL, without credentials "
                              "(set %.*s.token_env or %.*s.token_file), query or fragment",
                              path, cpgo_config_show_url(*p, sh, sizeof sh), sl, k->name, sl,
                              k->name);
        return -1;
    }
    struct cpgo_url u;
    if (cpgo_url_parse(*p, &u, &why)) return -1; /* split_url parsed it: out of memory */
    int plain = !strcasecmp(u.scheme, "http") && !loopback_host(u.host);
    cpgo_url_free(&u);
    if (plain) {
        cpgo_config_add_error(c, at.line, at.col,
                              "%s: '%s' is plain http; the token goes with every request, so "
                              "use https (http only on loopback: 127.0.0.1, [::1], localhost)",
                              path, cpgo_config_show_url(*p, sh, sizeof sh));
        return -1;
    }
    size_t n = strlen(*p);
    while (n > 8 && (*p)[n - 1] == '/')
        (*p)[--n] = 0;
    return 0;
}

int cpgo_config_check_env(struct ctx *c, const struct key *k, void *base, const char *path,
                          struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    int ok = (isalpha((unsigned char)s[0]) || s[0] == '_') && strlen(s) <= 128;
    for (const char *q = s; ok && *q; q++)
        ok = isalnum((unsigned char)*q) || *q == '_';
    if (!ok) {
        char sh[SHOW_MAX + 8];
        cpgo_config_add_error(c, at.line, at.col,
                              "%s: '%s' is not an environment variable name (letters, digits, '_')",
                              path, cpgo_config_show(s, sh, sizeof sh));
        return -1;
    }
    return 0;
}

/* git refuses '<', '>' and line breaks in names and emails */
int cpgo_config_check_ident(struct ctx *c, const struct key *k, void *base, const char *path,
                            struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    size_t n = strlen(s);
    int ok = n >= 1 && n <= 200 && !cpgo_config_has_ctl(s) && !strpbrk(s, "<>");
    if (!ok) {
        char sh[SHOW_MAX + 8];
        cpgo_config_add_error(
            c, at.line, at.col,
            "%s: '%s' must be 1 to 200 characters without '<', '>' or control characters", path,
            cpgo_config_show(s, sh, sizeof sh));
        return -1;
    }
    return 0;
}

int cpgo_config_check_name(struct ctx *c, const struct key *k, void *base, const char *path,
                           struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    size_t n = strlen(s);
    int ok = n >= 1 && n <= MAX_NAME;
    for (const char *q = s; ok && *q; q++)
        ok = (unsigned char)*q > 0x20 && *q != 0x7f;
    if (!ok) {
        char sh[SHOW_MAX + 8];
        cpgo_config_add_error(
            c, at.line, at.col,
            "%s: '%s' is not a valid name (1 to %d printable characters, no spaces)", path,
            cpgo_config_show(s, sh, sizeof sh), MAX_NAME);
        return -1;
    }
    return 0;
}

int cpgo_config_check_schedule(struct ctx *c, const struct key *k, void *base, const char *path,
                               struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    struct cpgo_cron *cr = NULL;
    struct cpgo_err e = {0};
    char sh[SHOW_MAX + 8];
    if (cpgo_cron_parse(s, &cr, &e)) {
        cpgo_config_add_error(c, at.line, at.col, "%s: '%s': %s", path,
                              cpgo_config_show(s, sh, sizeof sh), e.text);
        return -1;
    }
    int64_t period = cpgo_cron_min_period(cr);
    cpgo_cron_free(cr);
    if (period <= 0 || period == INT64_MAX) {
        cpgo_config_add_error(c, at.line, at.col, "%s: '%s' never fires", path,
                              cpgo_config_show(s, sh, sizeof sh));
        return -1;
    }
    return 0;
}

int cpgo_config_check_keep_frames(struct ctx *c, const struct key *k, void *base, const char *path,
                                  struct pos at)
{
    int v;
    memcpy(&v, field(base, k->off), sizeof v);
    if (v == 1) {
        cpgo_config_add_error(
            c, at.line, at.col,
            "%s: 1 is not allowed: 0 keeps every frame, otherwise keep at least 2 (Go PGO "
            "reads the two leaf-most)",
            path);
        return -1;
    }
    return 0;
}

int cpgo_config_check_repository(struct ctx *c, const struct key *k, void *base, const char *path,
                                 struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    struct cpgo_repo r;
    struct cpgo_err e = {0};
    int rc = cpgo_repo_parse(s, c->base_dir, &r, &e);
    if (rc == CPGO_E_NOMEM) c->nomem = 1;
    if (rc) {
        cpgo_config_add_error(c, at.line, at.col, "%s: %s", path, e.text);
        return -1;
    }
    cpgo_repo_free(&r);
    return 0;
}

int cpgo_config_check_target_file(struct ctx *c, const struct key *k, void *base, const char *path,
                                  struct pos at)
{
    const char *s = *(char **)field(base, k->off), *why = NULL;
    if (!*s)
        why = "is empty";
    else if (s[0] == '/')
        why = "must be a relative path inside the repository";
    else if (strlen(s) > CPGO_CONFIG_FILE_MAX)
        why = "is too long";
    else if (cpgo_config_has_ctl(s) || strchr(s, '\\'))
        why = "must not contain control characters or '\\'";
    for (const char *q = s; !why && *q;) {
        size_t n = strcspn(q, "/");
        if (!n)
            why = "must not contain empty path segments ('//' or a trailing '/')";
        else if (n == 2 && q[0] == '.' && q[1] == '.')
            why = "must not contain '..'";
        else if (n == 1 && q[0] == '.')
            why = "must not contain '.' segments";
        else if (n == 4 && !strncasecmp(q, ".git", 4))
            why = "must not be inside .git";
        q += n;
        if (*q == '/' && !*++q)
            why = "must not contain empty path segments ('//' or a trailing '/')";
    }
    if (why) {
        char sh[SHOW_MAX + 8];
        cpgo_config_add_error(c, at.line, at.col, "%s: '%s' %s", path,
                              cpgo_config_show(s, sh, sizeof sh), why);
        return -1;
    }
    return 0;
}

/* git check-ref-format for refs/heads/<name>, simplified. NULL when valid. */
const char *cpgo_config_branch_problem(const char *s)
{
    size_t n = strlen(s);
    if (!n) return "is empty";
    if (n > CPGO_CONFIG_BRANCH_MAX) return "is too long";
    if (s[0] == '-') return "must not start with '-'";
    if (s[0] == '/' || s[n - 1] == '/') return "must not start or end with '/'";
    if (s[n - 1] == '.') return "must not end with '.'";
    if (!strcmp(s, "@")) return "must not be '@'";
    if (!strcmp(s, "HEAD")) return "must not be HEAD";
    /* a ref, not a branch name: cpgo would push refs/heads/refs/heads/... */
    if (!strncmp(s, "refs/", 5)) return "must not start with 'refs/': give the branch name alone";
    for (const char *q = s; *q; q++) {
        unsigned char ch = (unsigned char)*q;
        if (ch < 0x20 || ch == 0x7f || ch == ' ')
            return "must not contain spaces or control characters";
        if (strchr("~^:?*[\\", ch)) return "must not contain any of ~ ^ : ? * [ \\";
    }
    if (strstr(s, "..")) return "must not contain '..'";
    if (strstr(s, "@{")) return "must not contain '@{'";
    if (strstr(s, "//")) return "must not contain '//'";
    for (const char *q = s; *q;) {
        size_t len = strcspn(q, "/");
        if (q[0] == '.') return "must not have a component that starts with '.'";
        if (len >= 5 && !strncmp(q + len - 5, ".lock", 5))
            return "must not have a component that ends with '.lock'";
        q += len;
        if (*q) q++;
    }
    return NULL;
}

int cpgo_config_check_branch(struct ctx *c, const struct key *k, void *base, const char *path,
                             struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    if (!s) return 0;
    const char *why = cpgo_config_branch_problem(s);
    if (why) {
        char sh[SHOW_MAX + 8];
        cpgo_config_add_error(c, at.line, at.col, "%s: '%s' is not a valid branch name (%s)", path,
                              cpgo_config_show(s, sh, sizeof sh), why);
        return -1;
    }
    return 0;
}

/* pgo.half_life: 0 turns decay off; otherwise at least a minute, since a shorter half-life
 * would erase the file between two scrapes (and is surely a unit mistake: 168 for 168h). */
int cpgo_config_check_half_life(struct ctx *c, const struct key *k, void *base, const char *path,
                                struct pos at)
{
    int64_t v;
    memcpy(&v, field(base, k->off), sizeof v);
    if (v == 0 || v >= MINUTE) return 0;
    char t[32];
    cpgo_duration_format(v, t, sizeof t);
    cpgo_config_add_error(c, at.line, at.col,
                          "%s: %s is below 1m; give 0 (no decay) or at least 1m (e.g. 168h)", path,
                          t);
    return -1;
}

/* An item of pgo.no_inline. The name is written into the published profile's string table
 * and the pull request's body, so it is one line of bounded length; any other byte may be
 * in a Go symbol (generics print spaces and brackets). */
#define FUNC_NAME_MAX 1024
int cpgo_config_item_func_name(struct ctx *c, char **item, const char *path, struct pos at)
{
    char sh[SHOW_MAX + 8];
    size_t n = strlen(*item);
    if (n > FUNC_NAME_MAX) {
        cpgo_config_add_error(c, at.line, at.col,
                              "%s: '%s' is %zu bytes long; a function name has at most %d", path,
                              cpgo_config_show(*item, sh, sizeof sh), n, FUNC_NAME_MAX);
        return -1;
    }
    if (cpgo_config_has_ctl(*item)) {
        cpgo_config_add_error(c, at.line, at.col,
                              "%s: '%s' contains a line break or control character; a function "
                              "name is one line",
                              path, cpgo_config_show(*item, sh, sizeof sh));
        return -1;
    }
    return 0;
}

/* github.app: a present section needs both the app id and its key (the walk of a top-level
 * section fills no required keys), and a token file beside it would be a second
 * credential for the same API: which one wins would be a guess. */
void cpgo_config_check_github_app(struct ctx *c, const struct cpgo_config *cfg,
                                  const struct sstate *top)
{
    if (top->set[KI_GH_APP] != 1) return;
    struct pos at = top->at[KI_GH_APP];
    /* a refused value (set == 2) has its own error already */
    if (!top->set[KI_GH_APP_ID])
        cpgo_config_add_error(c, at.line, at.col,
                              "github.app.app_id: required (the app's ID, from its settings "
                              "page)");
    if (!top->set[KI_GH_APP_KEY] ||
        (top->set[KI_GH_APP_KEY] == 1 && !cfg->github.app.private_key_file))
        cpgo_config_add_error(c, at.line, at.col,
                              "github.app.private_key_file: required (the app's PEM private "
                              "key)");
    if (top->set[KI_TOKEN_FILE] == 1 && cfg->github.token_file) {
        struct pos t = top->kat[KI_TOKEN_FILE];
        cpgo_config_add_error(c, t.line, t.col,
                              "github.token_file: not with github.app (line %d): the app's "
                              "installation tokens are the credential; remove one of them",
                              top->kat[KI_GH_APP].line);
    }
}

int cpgo_config_utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char b = *p;
        uint32_t cp;
        int n;
        if (b < 0x80) {
            p++;
            continue;
        } else if (b >= 0xc2 && b <= 0xdf) {
            cp = b & 0x1f, n = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
            cp = b & 0x0f, n = 2;
        } else if (b >= 0xf0 && b <= 0xf4) {
            cp = b & 0x07, n = 3;
        } else {
            return 0; /* a continuation byte first, an overlong lead (c0, c1) or > f4 */
        }
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* One line of printable UTF-8: what goes into a commit subject, a title or a label, which
 * the forges show and git writes as they are. NULL, or why not. */
static const char *printable_problem(const char *s)
{
    if (cpgo_config_has_ctl(s)) return "contains a line break or control character";
    if (!cpgo_config_utf8_ok(s)) return "is not valid UTF-8";
    return NULL;
}

/* open_pull_request.commit_prefix: before the commit subject (one line) and the title. */
int cpgo_config_check_commit_prefix(struct ctx *c, const struct key *k, void *base,
                                    const char *path, struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    if (!s) return 0;
    char sh[SHOW_MAX + 8];
    const char *why = printable_problem(s);
    if (!why && strlen(s) > CPGO_CONFIG_PREFIX_MAX) why = "is longer than 100 bytes";
    if (!why) return 0;
    cpgo_config_add_error(c, at.line, at.col,
                          "%s: '%s' %s; the prefix goes before the commit subject and the "
                          "pull request's title, one line of printable UTF-8",
                          path, cpgo_config_show(s, sh, sizeof sh), why);
    return -1;
}

/* An item of open_pull_request.labels. GitLab takes labels as one comma-separated string,
 * so a comma would split one label into two; the forges trim spaces, so a label with
 * leading or trailing ones would never compare equal to the one found. */
int cpgo_config_item_label(struct ctx *c, char **item, const char *path, struct pos at)
{
    const char *s = *item, *why = printable_problem(s);
    size_t n = strlen(s);
    if (!why && n > CPGO_CONFIG_LABEL_MAX) why = "is longer than 255 bytes";
    if (!why && strchr(s, ',')) why = "contains ','; GitLab separates labels with commas";
    if (!why && (s[0] == ' ' || s[n - 1] == ' '))
        why = "starts or ends with a space; forges trim labels";
    if (!why) return 0;
    char sh[SHOW_MAX + 8];
    cpgo_config_add_error(c, at.line, at.col, "%s: label '%s' %s", path,
                          cpgo_config_show(s, sh, sizeof sh), why);
    return -1;
}

/* An item of open_pull_request.reviewers and assignees: a user name as GitHub, GitLab and
 * Gitea spell them (GitLab's may hold '.', '-' and '_'); no '@', no team ("org/team"). */
int cpgo_config_item_user(struct ctx *c, char **item, const char *path, struct pos at)
{
    const char *s = *item;
    size_t n = strlen(s);
    int ok = n >= 1 && n <= CPGO_CONFIG_USER_MAX;
    for (const char *q = s; ok && *q; q++)
        ok = isalnum((unsigned char)*q) || *q == '.' || *q == '_' || *q == '-';
    if (ok) return 0;
    char sh[SHOW_MAX + 8];
    cpgo_config_add_error(
        c, at.line, at.col, "%s: '%s' is not a user name (1 to 255 of A-Z a-z 0-9 . _ -%s)", path,
        cpgo_config_show(s, sh, sizeof sh), s[0] == '@' ? "; write it without '@'" : "");
    return -1;
}
