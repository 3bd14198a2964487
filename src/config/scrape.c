/*
 * scrape.c - the checks of the scrape options (tls_config, basic_auth, authorization,
 * proxy_url) and of a service's keys and discovery sources (path, static targets, DNS names
 * and servers, file_sd patterns, Kubernetes namespaces, ports and selectors).
 *
 * Secrets come only from files, and those files are read here, when the configuration is
 * loaded (and so again at each reload, which is a load): a mistake (a missing file, one
 * others can write, an empty one) is refused by check-config and at the start of `run`,
 * not at the first scrape an hour later. The content goes to the field the key names
 * (off2) and is never put in a message: errors name the key and the file only.
 *
 * Thread: any (a load); reads only files the configuration names, never blocking on a FIFO
 * (cpgo_file_open_named refuses it without waiting for a writer).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/url.h"
#include "config/config_int.h"

/* A secret read from a file: zeroed before it is freed (schema.c frees the configuration's
 * through it). */
void cpgo_config_free_secret(char *s)
{
    if (!s) return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/* ---- single values --------------------------------------------------------------------- */

/* An http(s) URL libcurl reads as cpgo does (proxy_url, api_server). The API server's URL
 * carries no credentials: the token goes in bearer_token_file. */
int cpgo_config_check_http_url(struct ctx *c, const struct key *k, void *base, const char *path,
                               struct pos at)
{
    const char *u = *(char **)field(base, k->off), *why = NULL;
    if (!u) return 0;
    struct cpgo_url p;
    char sh[SHOW_MAX + 8];
    if (cpgo_url_parse(u, &p, &why)) {
        cpgo_config_add_error(c, at.line, at.col, "%s: '%s' %s", path,
                              cpgo_config_show_url(u, sh, sizeof sh), why);
        return -1;
    }
    int user = p.user || p.password;
    cpgo_url_free(&p);
    if (user && !strcmp(k->name, "api_server")) { /* the Kubernetes API server's */
        cpgo_config_add_error(c, at.line, at.col,
                              "%s: '%s' must not hold credentials; set bearer_token_file", path,
                              cpgo_config_show_url(u, sh, sizeof sh));
        return -1;
    }
    return 0;
}

/* A service's path: what follows host:port in the URL cpgo builds, `seconds=` added. */
int cpgo_config_check_svc_path(struct ctx *c, const struct key *k, void *base, const char *path,
                               struct pos at)
{
    const char *s = *(char **)field(base, k->off), *why = NULL;
    char sh[SHOW_MAX + 8];
    const char *q = strchr(s, '?');
    if (s[0] != '/')
        why = "must start with '/'";
    else if (strlen(s) > 2048)
        why = "is longer than 2048 characters";
    else if (cpgo_config_has_ctl(s) || strchr(s, ' '))
        why = "must not contain spaces or control characters";
    else if (strchr(s, '#'))
        why = "must not contain a fragment ('#')";
    for (const char *p = q ? q + 1 : NULL; p && *p && !why;) {
        size_t n = strcspn(p, "&");
        if ((n >= 8 && !strncmp(p, "seconds=", 8)) || (n == 7 && !strncmp(p, "seconds", 7)))
            why = "must not set seconds= (cpgo adds it from the service's seconds)";
        p += n;
        if (*p == '&') p++;
    }
    if (!why) { /* as libcurl will read it */
        size_t n = strlen(s) + 16;
        char *u = malloc(n);
        struct cpgo_url pu;
        const char *w = NULL;
        if (!u) {
            c->nomem = 1;
            return -1;
        }
        snprintf(u, n, "http://h%s", s);
        if (cpgo_url_parse(u, &pu, &w))
            why = "is not a valid URL path";
        else
            cpgo_url_free(&pu);
        free(u);
    }
    if (why) {
        cpgo_config_add_error(c, at.line, at.col, "%s: '%s' %s", path,
                              cpgo_config_show(s, sh, sizeof sh), why);
        return -1;
    }
    return 0;
}

/* The path made absolute (relative to the configuration's directory); -1 when refused. */
static int absolute(struct ctx *c, char **p, const char *path, struct pos at)
{
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

/* A file that must exist now and be a regular file (tls files): opened without blocking and
 * closed at once. */
int cpgo_config_check_file(struct ctx *c, const struct key *k, void *base, const char *path,
                           struct pos at)
{
    char **p = field(base, k->off);
    if (!*p) return 0;
    if (absolute(c, p, path, at)) return -1;
    struct cpgo_err e = {0};
    int fd = cpgo_file_open_named(*p, &e);
    if (fd < 0) {
        cpgo_config_add_error(c, at.line, at.col, "%s: %s", path, e.text);
        return -1;
    }
    close(fd);
    return 0;
}

/* Reads a secret file into *out: a regular file, not writable by group or others, at most
 * MAX_SECRET bytes, trailing line breaks dropped, then one non-empty line. The message
 * names the file, never its content. */
static int read_secret(struct ctx *c, const char *file, char **out, const char *path, struct pos at)
{
    struct cpgo_err e = {0};
    *out = NULL;
    int fd = cpgo_file_open_named(file, &e);
    if (fd < 0) {
        cpgo_config_add_error(c, at.line, at.col, "%s: %s", path, e.text);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        close(fd);
        cpgo_config_add_error(c, at.line, at.col, "%s: cannot stat %s", path, file);
        return -1;
    }
    if (st.st_mode & (S_IWOTH | S_IWGRP)) {
        /* someone else could replace the secret, or read it as it is rotated */
        close(fd);
        cpgo_config_add_error(c, at.line, at.col,
                              "%s: %s is writable by %s: refused (chmod 600 it)", path, file,
                              st.st_mode & S_IWOTH ? "every user" : "its group");
        return -1;
    }
    unsigned char *data = NULL;
    size_t n = 0;
    int rc = cpgo_file_read_fd(fd, file, MAX_SECRET, &data, &n, &e);
    close(fd);
    if (rc == CPGO_E_NOMEM) {
        c->nomem = 1;
        return -1;
    }
    if (rc == CPGO_E_LIMIT) {
        cpgo_config_add_error(c, at.line, at.col, "%s: %s is larger than 64 KiB", path, file);
        return -1;
    }
    if (rc) {
        cpgo_config_add_error(c, at.line, at.col, "%s: %s", path, e.text);
        return -1;
    }
    char *buf = (char *)data;
    size_t size = n; /* all of it is zeroed when refused */
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    const char *why = NULL;
    if (!n)
        why = "is empty";
    else if (strlen(buf) != n || cpgo_config_has_ctl(buf))
        why = "holds more than one line or control characters";
    if (why) {
        explicit_bzero(buf, size);
        free(buf);
        cpgo_config_add_error(c, at.line, at.col, "%s: %s %s", path, file, why);
        return -1;
    }
    *out = buf;
    return 0;
}

int cpgo_config_check_secret(struct ctx *c, const struct key *k, void *base, const char *path,
                             struct pos at)
{
    char **p = field(base, k->off);
    char **content = field(base, k->off2);
    cpgo_config_free_secret(*content);
    *content = NULL;
    if (!*p) return 0;
    if (absolute(c, p, path, at)) return -1;
    return read_secret(c, *p, content, path, at);
}

static int dns_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 253) return 0;
    for (const char *q = s; *q;) {
        size_t len = strcspn(q, ".");
        if (!len) return q[0] == '.' && !q[1] && q != s; /* only a trailing dot */
        if (len > 63) return 0;
        for (size_t i = 0; i < len; i++)
            if (!isalnum((unsigned char)q[i]) && q[i] != '-' && q[i] != '_') return 0;
        q += len;
        if (*q) q++;
    }
    return 1;
}

/* tls_config.server_name: a DNS name (what SNI carries) */
int cpgo_config_check_hostname(struct ctx *c, const struct key *k, void *base, const char *path,
                               struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    if (!s || dns_name_ok(s)) return 0;
    char sh[SHOW_MAX + 8];
    cpgo_config_add_error(c, at.line, at.col, "%s: '%s' is not a host name", path,
                          cpgo_config_show(s, sh, sizeof sh));
    return -1;
}

int cpgo_config_check_username(struct ctx *c, const struct key *k, void *base, const char *path,
                               struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    if (!s) return 0;
    if (*s && strlen(s) <= 256 && !cpgo_config_has_ctl(s) && !strchr(s, ':')) return 0;
    char sh[SHOW_MAX + 8];
    cpgo_config_add_error(c, at.line, at.col,
                          "%s: '%s' must be 1 to 256 characters without ':' or control "
                          "characters",
                          path, cpgo_config_show(s, sh, sizeof sh));
    return -1;
}

static int is_token(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s)) return 0;
    return 1;
}

int cpgo_config_check_authz_type(struct ctx *c, const struct key *k, void *base, const char *path,
                                 struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    if (!s) return 0;
    char sh[SHOW_MAX + 8];
    if (!strcasecmp(s, "basic")) {
        cpgo_config_add_error(c, at.line, at.col, "%s: '%s': use basic_auth for Basic", path,
                              cpgo_config_show(s, sh, sizeof sh));
        return -1;
    }
    if (is_token(s) && strlen(s) <= 64) return 0;
    cpgo_config_add_error(c, at.line, at.col,
                          "%s: '%s' is not an authorization scheme (an HTTP token such as "
                          "Bearer)",
                          path, cpgo_config_show(s, sh, sizeof sh));
    return -1;
}

/* A container port: a number, or an IANA_SVC_NAME as Kubernetes validates it (1 to 15
 * lowercase letters, digits and '-', a letter among them, no '-' at either end nor "--"). */
int cpgo_config_check_k8s_port(struct ctx *c, const struct key *k, void *base, const char *path,
                               struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    if (!s) return 0;
    int64_t v;
    int ok;
    if (isdigit((unsigned char)s[0])) {
        ok = cpgo_config_parse_int(s, &v) && v >= 1 && v <= 65535;
    } else {
        size_t n = strlen(s);
        int letter = 0;
        ok = n >= 1 && n <= 15 && s[0] != '-' && s[n - 1] != '-' && !strstr(s, "--");
        for (size_t i = 0; ok && i < n; i++) {
            ok = islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-';
            letter |= islower((unsigned char)s[i]) != 0;
        }
        ok = ok && letter;
    }
    if (ok) return 0;
    char sh[SHOW_MAX + 8];
    cpgo_config_add_error(c, at.line, at.col,
                          "%s: '%s' is neither a port number (1 to 65535) nor a port name "
                          "(1 to 15 lowercase letters, digits and '-')",
                          path, cpgo_config_show(s, sh, sizeof sh));
    return -1;
}

/* ---- items of string lists ------------------------------------------------------------- */

int cpgo_config_item_hostport(struct ctx *c, char **item, const char *path, struct pos at)
{
    char why[128], sh[SHOW_MAX + 8];
    char *host = NULL;
    int port;
    if (!cpgo_url_parse_hostport(*item, &host, &port, why, sizeof why)) {
        free(host);
        return 0;
    }
    cpgo_config_add_error(c, at.line, at.col, "%s: '%s' %s", path,
                          cpgo_config_show(*item, sh, sizeof sh), why);
    return -1;
}

int cpgo_config_item_dns_name(struct ctx *c, char **item, const char *path, struct pos at)
{
    if (dns_name_ok(*item)) return 0;
    char sh[SHOW_MAX + 8];
    cpgo_config_add_error(c, at.line, at.col,
                          "%s: '%s' is not a DNS name (labels of letters, digits, '-' and '_', "
                          "at most 253 characters)",
                          path, cpgo_config_show(*item, sh, sizeof sh));
    return -1;
}

static int port_ok(const char *s)
{
    int64_t v;
    return isdigit((unsigned char)s[0]) && strlen(s) <= 5 && cpgo_config_parse_int(s, &v) &&
           v >= 1 && v <= 65535;
}

/* dns.servers: an IP literal with an optional port; never a name (who would resolve it?) */
int cpgo_config_item_dns_server(struct ctx *c, char **item, const char *path, struct pos at)
{
    const char *s = *item;
    unsigned char a[16];
    char host[64];
    int ok = 0;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb && (size_t)(rb - s - 1) < sizeof host) {
            snprintf(host, sizeof host, "%.*s", (int)(rb - s - 1), s + 1);
            ok = inet_pton(AF_INET6, host, a) == 1 && (!rb[1] || (rb[1] == ':' && port_ok(rb + 2)));
        }
    } else if (inet_pton(AF_INET6, s, a) == 1) {
        ok = 1;
    } else {
        const char *colon = strchr(s, ':');
        size_t hl = colon ? (size_t)(colon - s) : strlen(s);
        if (hl < sizeof host) {
            snprintf(host, sizeof host, "%.*s", (int)hl, s);
            ok = inet_pton(AF_INET, host, a) == 1 && (!colon || port_ok(colon + 1));
        }
    }
    if (ok) return 0;
    char sh[SHOW_MAX + 8];
    cpgo_config_add_error(c, at.line, at.col,
                          "%s: '%s' is not an IP address with an optional port (e.g. "
                          "127.0.0.1:5353 or [::1]:53); host names are not allowed",
                          path, cpgo_config_show(s, sh, sizeof sh));
    return -1;
}

/* file_sd_configs[].files: as Prometheus, `^[^*]*(\*[^/]*)?\.(json|yml|yaml)$`. */
int cpgo_config_item_sd_file(struct ctx *c, char **item, const char *path, struct pos at)
{
    const char *s = *item, *why = NULL, *star = strchr(s, '*'), *dot = strrchr(s, '.');
    if (cpgo_config_has_ctl(s) || strlen(s) > 4096)
        why = "is not a path";
    else if (!dot || strchr(dot, '/') ||
             (strcasecmp(dot, ".json") && strcasecmp(dot, ".yml") && strcasecmp(dot, ".yaml")))
        why = "must end in .json, .yml or .yaml";
    else if (star && (strchr(star + 1, '*') || strchr(star, '/')))
        why = "may have one '*', in its last path segment only";
    if (why) {
        char sh[SHOW_MAX + 8];
        cpgo_config_add_error(c, at.line, at.col, "%s: '%s' %s", path,
                              cpgo_config_show(s, sh, sizeof sh), why);
        return -1;
    }
    char *abs = cpgo_config_join_path(c, s);
    if (!abs) return -1;
    free(*item);
    *item = abs;
    return 0;
}

/* A namespace name: an RFC 1123 label, as Kubernetes requires. */
int cpgo_config_item_namespace(struct ctx *c, char **item, const char *path, struct pos at)
{
    const char *s = *item;
    size_t n = strlen(s);
    int ok = n >= 1 && n <= 63 && s[0] != '-' && s[n - 1] != '-';
    for (size_t i = 0; ok && i < n; i++)
        ok = islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-';
    if (ok) return 0;
    char sh[SHOW_MAX + 8];
    cpgo_config_add_error(c, at.line, at.col,
                          "%s: '%s' is not a namespace name (1 to 63 lowercase letters, digits "
                          "and '-')",
                          path, cpgo_config_show(s, sh, sizeof sh));
    return -1;
}

/* ---- elements -------------------------------------------------------------------------- */

static const char *dns_type_name(enum cpgo_dns_type t)
{
    return t == CPGO_DNS_A ? "A" : t == CPGO_DNS_AAAA ? "AAAA" : "SRV";
}

void cpgo_config_elem_dns_sd(struct ctx *c, void *elem, const struct sstate *st, const char *path,
                             struct pos at)
{
    const struct cpgo_sd_dns_cfg *d = elem;
    /* SRV records carry their port: a port given there is ignored, as Prometheus does */
    if (d->type != CPGO_DNS_SRV && !d->port) {
        if (st->set[KI_DNSSD_PORT]) at = st->at[KI_DNSSD_PORT];
        cpgo_config_add_error(c, at.line, at.col, "%s.port: required for type %s", path,
                              dns_type_name(d->type));
    }
}

/* cert_file and key_file go together (tls of a scrape or of the API server). */
void cpgo_config_check_tls_pair(struct ctx *c, const struct cpgo_tls_cfg *t, const char *path,
                                struct pos cert_at, struct pos key_at, const char *from_cert,
                                const char *from_key)
{
    if (t->cert_file && !t->key_file)
        cpgo_config_add_error(c, cert_at.line, cert_at.col,
                              "%s.tls_config.cert_file%s: needs tls_config.key_file", path,
                              from_cert);
    else if (t->key_file && !t->cert_file)
        cpgo_config_add_error(c, key_at.line, key_at.col,
                              "%s.tls_config.key_file%s: needs tls_config.cert_file", path,
                              from_key);
}

void cpgo_config_elem_k8s_sd(struct ctx *c, void *elem, const struct sstate *st, const char *path,
                             struct pos at)
{
    const struct cpgo_sd_k8s_cfg *k = elem;
    cpgo_config_check_tls_pair(c, &k->tls, path, st->at[KI_K8S_TLS_CERT], st->at[KI_K8S_TLS_KEY],
                               "", "");
    /* Prometheus: a pod source takes pod selectors, an endpointslice source endpointslice,
     * service and pod ones (it watches those too) */
    for (size_t i = 0; i < k->nselectors; i++) {
        enum cpgo_k8s_role r = k->selectors[i].role;
        if (k->role == CPGO_K8S_ENDPOINTSLICE || r == CPGO_K8S_POD) continue;
        struct pos p = st->at[KI_K8S_SELECTORS];
        cpgo_config_add_error(c, p.line, p.col,
                              "%s.selectors[%zu].role: %s does not apply to role pod (only pod "
                              "selectors do)",
                              path, i, r == CPGO_K8S_SERVICE ? "service" : "endpointslice");
    }
    if (k->own_namespace && k->api_server) {
        struct pos p = st->at[KI_K8S_NS_OWN];
        cpgo_config_add_error(c, p.line, p.col,
                              "%s.namespaces.own_namespace: needs the in-cluster API server "
                              "(no api_server): the own namespace is the service account's",
                              path);
    }
}
