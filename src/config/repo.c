/*
 * repo.c - see repo.h.
 *
 * What a `repository` value names decides which backends share a target, so spellings of
 * one repository must normalise alike: the host is lowercased, ".git" and trailing slashes
 * are dropped, and https, http, ssh and scp-like forms of one host and path give the same
 * (host, path). Local paths are made absolute lexically (the directory need not exist when
 * the configuration is checked). Credentials never belong here: cpgo authenticates with
 * github.token_env or github.token_file, so a user in an http(s) URL and a password
 * anywhere are refused, and error messages never repeat a password.
 */
#include "config/repo.h"
#include "base/url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ECHO_MAX 200

/* The value for messages: masked (url.h: a password never, not even a piece of one), at
 * most ECHO_MAX bytes, one line. */
static void echo(const char *text, char *buf, size_t cap)
{
    cpgo_url_mask(text, buf, cap < ECHO_MAX + 1 ? cap : ECHO_MAX + 1);
    for (char *p = buf; *p; p++) /* messages are one line */
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

static int fail(struct cpgo_err *err, const char *text, const char *why)
{
    char e[ECHO_MAX + 16];
    echo(text, e, sizeof e);
    return cpgo_err_set(err, CPGO_E_INPUT, "repository '%s': %s", e, why);
}

static int host_char(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_';
}

/* Validates and lowercases host [s, s+n): a name or a bracketed IPv6 address. */
static char *parse_host(const char *s, size_t n)
{
    if (!n || n > 253) return NULL; /* the longest DNS name */
    if (s[0] == '[') {
        if (n < 3 || s[n - 1] != ']') return NULL;
        for (size_t i = 1; i + 1 < n; i++)
            if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.') return NULL;
    } else {
        for (size_t i = 0; i < n; i++)
            if (!host_char((unsigned char)s[i])) return NULL;
        if (s[0] == '.' || s[0] == '-') return NULL;
    }
    char *h = strndup(s, n);
    if (h)
        for (char *p = h; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return h;
}

/* Port text [s, s+n) -> 1..65535, or -1. */
static int parse_port(const char *s, size_t n)
{
    if (!n || n > 5) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535 ? v : -1;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

/*
 * Splits a repository path into segments, refusing "." and ".." (which would let two
 * spellings name one repository, or climb out of it), and writes "a/b/c" to *with_git (as
 * written, for the clone URL) and *norm (without ".git"). Empty segments fold away.
 */
static int norm_path(const char *s, size_t n, char **with_git, char **norm, const char **why)
{
    char *w = malloc(n + 1);
    if (!w) {
        *why = "out of memory";
        return CPGO_E_NOMEM;
    }
    size_t len = 0, i = 0;
    while (i < n) {
        while (i < n && s[i] == '/')
            i++;
        size_t st = i;
        while (i < n && s[i] != '/')
            i++;
        size_t sl = i - st;
        if (!sl) continue;
        if ((sl == 1 && s[st] == '.') || (sl == 2 && s[st] == '.' && s[st + 1] == '.')) {
            free(w);
            *why = "the path must not contain '.' or '..' segments";
            return CPGO_E_INPUT;
        }
        if (len) w[len++] = '/';
        memcpy(w + len, s + st, sl);
        len += sl;
    }
    w[len] = 0;
    size_t nl = len;
    if (ends_with(w, nl, ".git")) nl -= 4;
    while (nl && w[nl - 1] == '/')
        nl--;
    if (!nl) {
        free(w);
        *why = "has no path (e.g. https://github.com/org/repo)";
        return CPGO_E_INPUT;
    }
    *norm = strndup(w, nl);
    *with_git = w;
    if (!*norm) {
        free(w);
        *with_git = NULL;
        *why = "out of memory";
        return CPGO_E_NOMEM;
    }
    return 0;
}

/* A local path, absolute or relative to base_dir, normalised lexically. */
static int parse_local(const char *text, const char *p, const char *base_dir, struct cpgo_repo *out,
                       struct cpgo_err *err)
{
    char cwd[4096];
    const char *parts[3] = {NULL, NULL, p};
    if (p[0] != '/') {
        const char *base = base_dir && *base_dir ? base_dir : ".";
        parts[1] = base;
        if (base[0] != '/') {
            if (!getcwd(cwd, sizeof cwd))
                return fail(err, text, "cannot resolve a relative path: no working directory");
            parts[0] = cwd;
        }
    }
    size_t total = 2;
    for (int i = 0; i < 3; i++)
        if (parts[i]) total += strlen(parts[i]) + 1;
    char *joined = malloc(total), *abs = malloc(total);
    const char **seg = malloc(total * sizeof *seg);
    size_t *segl = malloc(total * sizeof *segl);
    if (!joined || !abs || !seg || !segl) {
        free(joined), free(abs), free(seg), free(segl);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    joined[0] = 0;
    for (int i = 0; i < 3; i++) {
        if (!parts[i]) continue;
        strcat(joined, "/");
        strcat(joined, parts[i]);
    }
    size_t nseg = 0;
    for (const char *q = joined; *q;) {
        while (*q == '/')
            q++;
        const char *st = q;
        while (*q && *q != '/')
            q++;
        size_t sl = (size_t)(q - st);
        if (!sl || (sl == 1 && st[0] == '.')) continue;
        if (sl == 2 && st[0] == '.' && st[1] == '.') {
            if (nseg) nseg--;
            continue;
        }
        seg[nseg] = st;
        segl[nseg++] = sl;
    }
    size_t len = 0;
    for (size_t i = 0; i < nseg; i++) {
        abs[len++] = '/';
        memcpy(abs + len, seg[i], segl[i]);
        len += segl[i];
    }
    abs[len] = 0;
    free(joined), free(seg), free(segl);
    size_t nl = len;
    if (ends_with(abs, nl, ".git")) nl -= 4;
    while (nl && abs[nl - 1] == '/')
        nl--;
    if (nl <= 1) {
        free(abs);
        return fail(err, text, "names the root directory, not a repository");
    }
    out->kind = CPGO_REPO_FILE;
    out->host = strdup("local");
    out->path = strndup(abs + 1, nl - 1);
    out->url = abs;
    if (!out->host || !out->path) {
        cpgo_repo_free(out);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    return 0;
}

/* "github.com/org/repo" without a scheme is almost always a forgotten "https://", not a
 * directory called github.com next to the configuration. */
static int looks_like_host(const char *p)
{
    size_t n = strcspn(p, "/");
    if (!p[n] || !strchr(p + n + 1, '/')) return 0; /* want host/org/repo */
    const char *dot = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)p[i]) && p[i] != '.' && p[i] != '-') return 0;
        if (p[i] == '.') dot = p + i;
    }
    if (!dot || dot == p) return 0;
    size_t tld = (size_t)(p + n - dot - 1);
    if (tld < 2) return 0;
    for (const char *q = dot + 1; q < p + n; q++)
        if (!isalpha((unsigned char)*q)) return 0;
    return 1;
}

int cpgo_repo_parse(const char *text, const char *base_dir, struct cpgo_repo *out,
                    struct cpgo_err *err)
{
    memset(out, 0, sizeof *out);
    if (!text || !*text) return cpgo_err_set(err, CPGO_E_INPUT, "repository '': empty");
    /* spaces are fine in a local path ("/home/me/My Repos/app"), never in a URL */
    int local_path = text[0] == '/' || text[0] == '.';
    for (const char *p = text; *p; p++)
        if (iscntrl((unsigned char)*p) || (*p == ' ' && !local_path))
            return fail(err, text, "contains spaces or control characters");

    const char *sep = strstr(text, "://");
    int scheme_ok = sep && sep > text && isalpha((unsigned char)text[0]);
    for (const char *p = text; scheme_ok && p < sep; p++)
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.') scheme_ok = 0;
    if (scheme_ok) {
        size_t sl = (size_t)(sep - text);
        char scheme[16];
        if (sl >= sizeof scheme) return fail(err, text, "unsupported scheme");
        for (size_t i = 0; i < sl; i++)
            scheme[i] = (char)tolower((unsigned char)text[i]);
        scheme[sl] = 0;
        enum cpgo_repo_kind kind;
        if (!strcmp(scheme, "https"))
            kind = CPGO_REPO_HTTPS;
        else if (!strcmp(scheme, "http"))
            kind = CPGO_REPO_HTTP;
        else if (!strcmp(scheme, "ssh") || !strcmp(scheme, "git+ssh") || !strcmp(scheme, "ssh+git"))
            kind = CPGO_REPO_SSH;
        else if (!strcmp(scheme, "file"))
            kind = CPGO_REPO_FILE;
        else {
            char why[64];
            snprintf(why, sizeof why, "unsupported scheme %s (https, http, ssh, file)", scheme);
            return fail(err, text, why);
        }
        const char *auth = sep + 3;
        size_t alen = strcspn(auth, "/?#");
        if (kind == CPGO_REPO_FILE) {
            if (alen && !(alen == 9 && !strncasecmp(auth, "localhost", 9)))
                return fail(err, text, "a file:// URL names a local path (file:///path)");
            if (strpbrk(auth, "?#")) return fail(err, text, "must not have a query or fragment");
            if (auth[alen] != '/') return fail(err, text, "has no path");
            return parse_local(text, auth + alen, NULL, out, err);
        }
        if (strpbrk(auth, "?#")) return fail(err, text, "must not have a query or fragment");
        const char *at = NULL;
        for (size_t i = 0; i < alen; i++)
            if (auth[i] == '@') at = auth + i;
        const char *hs = auth;
        if (at) {
            if (memchr(auth, ':', (size_t)(at - auth)))
                return fail(err, text,
                            "contains a password; credentials do not belong in repository URLs "
                            "(use github.token_env or github.token_file)");
            if (kind != CPGO_REPO_SSH)
                return fail(err, text,
                            "contains credentials; they do not belong in repository URLs (use "
                            "github.token_env or github.token_file)");
            if (at == auth) return fail(err, text, "has an empty user name");
            hs = at + 1;
        }
        const char *he = auth + alen, *pe = NULL;
        if (*hs == '[') {
            const char *rb = memchr(hs, ']', (size_t)(he - hs));
            if (!rb) return fail(err, text, "has an invalid host");
            if (rb + 1 < he) {
                if (rb[1] != ':') return fail(err, text, "has an invalid host");
                pe = rb + 1;
            }
        } else {
            pe = memchr(hs, ':', (size_t)(he - hs));
        }
        const char *hend = pe ? pe : he;
        if (hend == hs) return fail(err, text, "has no host");
        int port = 0;
        if (pe && (port = parse_port(pe + 1, (size_t)(he - pe - 1))) < 0)
            return fail(err, text, "has an invalid port");
        char *host = parse_host(hs, (size_t)(hend - hs));
        if (!host) return fail(err, text, "has an invalid host");
        const char *why = NULL;
        char *wg = NULL, *np = NULL;
        int rc = norm_path(he, strlen(he), &wg, &np, &why);
        if (rc) {
            free(host);
            return rc == CPGO_E_NOMEM ? cpgo_err_set(err, rc, "out of memory")
                                      : fail(err, text, why);
        }
        char *user = at ? strndup(auth, (size_t)(at - auth)) : NULL;
        size_t ul = strlen(scheme) + strlen(host) + strlen(wg) + (user ? strlen(user) : 0) + 32;
        char *url = malloc(ul);
        if (!url || (at && !user)) {
            free(host), free(wg), free(np), free(user), free(url);
            return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
        }
        char portbuf[16] = "";
        if (port) snprintf(portbuf, sizeof portbuf, ":%d", port);
        snprintf(url, ul, "%s://%s%s%s%s/%s", kind == CPGO_REPO_SSH ? "ssh" : scheme,
                 user ? user : "", user ? "@" : "", host, portbuf, wg);
        free(wg);
        out->kind = kind;
        out->host = host;
        out->port = port;
        out->user = user;
        out->path = np;
        out->url = url;
        return 0;
    }

    /* scp-like "[user@]host:path": a ':' before any '/' (git's rule) */
    const char *colon = strchr(text, ':');
    const char *slash = strchr(text, '/');
    if (colon && (!slash || colon < slash)) {
        const char *rest = colon + 1;
        size_t rl = strcspn(rest, "/");
        if (memchr(rest, '@', rl))
            return fail(err, text,
                        "contains a password; credentials do not belong in repository URLs");
        const char *at = memchr(text, '@', (size_t)(colon - text));
        const char *hs = at ? at + 1 : text;
        if (at == text) return fail(err, text, "has an empty user name");
        if (colon == hs) return fail(err, text, "has no host");
        char *host = parse_host(hs, (size_t)(colon - hs));
        if (!host || host[0] == '[') {
            free(host);
            return fail(err, text, "has an invalid host");
        }
        const char *why = NULL;
        char *wg = NULL, *np = NULL;
        int rc = norm_path(rest, strlen(rest), &wg, &np, &why);
        if (rc) {
            free(host);
            return rc == CPGO_E_NOMEM ? cpgo_err_set(err, rc, "out of memory")
                                      : fail(err, text, why);
        }
        char *user = at ? strndup(text, (size_t)(at - text)) : NULL;
        size_t ul = strlen(host) + strlen(wg) + (user ? strlen(user) : 0) + 8;
        char *url = malloc(ul);
        if (!url || (at && !user)) {
            free(host), free(wg), free(np), free(user), free(url);
            return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
        }
        /* kept in scp form: its path is relative to the remote home, unlike ssh:// */
        snprintf(url, ul, "%s%s%s:%s%s", user ? user : "", user ? "@" : "", host,
                 rest[0] == '/' ? "/" : "", wg);
        free(wg);
        out->kind = CPGO_REPO_SSH;
        out->host = host;
        out->user = user;
        out->path = np;
        out->url = url;
        return 0;
    }
    if (sep) return fail(err, text, "unsupported scheme");
    if (text[0] != '/' && looks_like_host(text)) {
        char why[ECHO_MAX + 160];
        char e[ECHO_MAX + 16];
        echo(text, e, sizeof e);
        snprintf(why, sizeof why,
                 "looks like a host name without a scheme; write https://%.*s (or ./%.*s for a "
                 "local directory)",
                 ECHO_MAX / 2, e, ECHO_MAX / 2, e);
        return fail(err, text, why);
    }
    return parse_local(text, text, base_dir, out, err);
}

void cpgo_repo_free(struct cpgo_repo *r)
{
    if (!r) return;
    free(r->host);
    free(r->user);
    free(r->path);
    free(r->url);
    memset(r, 0, sizeof *r);
}
