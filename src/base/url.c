/* url.c - see url.h.
 *
 * Parsing is libcurl's: the scraper and the GitHub client hand the same text to libcurl,
 * so a URL that cpgo accepts is one libcurl reads the same way (a hand-written splitter
 * took "http://u:p@ss@host/" at its last '@' where libcurl takes the first and refuses
 * the host "ss@host"). Masking rebuilds the URL from libcurl's parts, so what is shown
 * is what was parsed with the secrets replaced; only text libcurl refuses is masked by
 * hand, and then generously.
 */
#include "base/url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* ---- names ---------------------------------------------------------------------------- */

static int contains_word(const char *s, size_t n, const char *const *words, size_t nw)
{
    for (size_t i = 0; i < nw; i++) {
        size_t w = strlen(words[i]);
        for (size_t j = 0; j + w <= n; j++)
            if (!strncasecmp(s + j, words[i], w)) return 1;
    }
    return 0;
}

int cpgo_url_secret_query_key(const char *key, size_t len)
{
    static const char *const words[] = {"token",  "key", "secret", "password",
                                        "passwd", "sig", "auth"};
    return contains_word(key, len, words, sizeof words / sizeof words[0]);
}

int cpgo_url_secret_header(const char *name)
{
    static const char *const words[] = {"auth",  "cookie",  "token",  "secret",
                                        "passw", "api-key", "apikey", "api_key"};
    return contains_word(name, strlen(name), words, sizeof words / sizeof words[0]);
}

/* ---- percent and base64 --------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes %XX sequences (others are kept as they are). malloc'd; *n is the length. */
static char *pct_decode(const char *s, size_t len, size_t *n)
{
    char *d = malloc(len + 1);
    if (!d) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < len && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
            (l = hexval((unsigned char)s[i + 2])) >= 0) {
            d[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = 0;
    *n = o;
    return d;
}

/* Encodes every byte but RFC 3986's unreserved ones, with upper- or lower-case hex. */
static char *pct_encode(const char *s, size_t len, int lower)
{
    const char *hex = lower ? "0123456789abcdef" : "0123456789ABCDEF";
    char *e = malloc(3 * len + 1);
    if (!e) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            e[o++] = (char)c;
        } else {
            e[o++] = '%';
            e[o++] = hex[c >> 4];
            e[o++] = hex[c & 15];
        }
    }
    e[o] = 0;
    return e;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with '=' padding. malloc'd. */
static char *b64_encode(const unsigned char *s, size_t len)
{
    char *e = malloc(4 * ((len + 2) / 3) + 1);
    if (!e) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < len) v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < len) v |= s[i + 2];
        e[o++] = B64[(v >> 18) & 63];
        e[o++] = B64[(v >> 12) & 63];
        e[o++] = i + 1 < len ? B64[(v >> 6) & 63] : '=';
        e[o++] = i + 2 < len ? B64[v & 63] : '=';
    }
    e[o] = 0;
    return e;
}

/* Decodes standard base64 (padding optional); NULL when it is not base64. */
static char *b64_decode(const char *s, size_t len, size_t *n)
{
    while (len && s[len - 1] == '=')
        len--;
    char *d = malloc(len * 3 / 4 + 1);
    if (!d) return NULL;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        const char *p = s[i] ? strchr(B64, s[i]) : NULL;
        if (!p) {
            free(d);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)(p - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    d[o] = 0;
    *n = o;
    return d;
}

/*
 * The base64 characters that depend on s alone when s starts `align` bytes (0..2) into a
 * 3-byte group: characters k with 6k >= 8 align and 6k + 6 <= 8 (align + len).
 */
static char *b64_core(const unsigned char *s, size_t len, int align, size_t *n)
{
    unsigned char *x = calloc(len + 3, 1);
    if (!x) return NULL;
    memcpy(x + align, s, len);
    char *full = b64_encode(x, len + (size_t)align);
    free(x);
    if (!full) return NULL;
    size_t from = (8 * (size_t)align + 5) / 6, to = 8 * ((size_t)align + len) / 6;
    if (to < from) to = from;
    memmove(full, full + from, to - from);
    full[to - from] = 0;
    *n = to - from;
    return full;
}

/* ---- the secrets set ---------------------------------------------------------------- */

struct cpgo_url_secrets {
    _Atomic int refs;
    char **v; /* forms, longest first, distinct */
    size_t *len;
    size_t n, cap;
};

struct cpgo_url_secrets *cpgo_url_secrets_new(void)
{
    struct cpgo_url_secrets *s = calloc(1, sizeof *s);
    if (s) atomic_init(&s->refs, 1);
    return s;
}

struct cpgo_url_secrets *cpgo_url_secrets_ref(struct cpgo_url_secrets *s)
{
    if (s) atomic_fetch_add(&s->refs, 1);
    return s;
}

void cpgo_url_secrets_unref(struct cpgo_url_secrets *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    for (size_t i = 0; i < s->n; i++) {
        explicit_bzero(s->v[i], s->len[i]);
        free(s->v[i]);
    }
    free(s->v);
    free(s->len);
    free(s);
}

size_t cpgo_url_secrets_count(const struct cpgo_url_secrets *s)
{
    return s ? s->n : 0;
}

/* Adds one form (copied), keeping the list longest first so the scrubber takes the longest
 * match at each position. */
static int add_form(struct cpgo_url_secrets *s, const char *f, size_t n)
{
    if (n < CPGO_URL_SECRET_MIN) return 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->len[i] == n && !memcmp(s->v[i], f, n)) return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        size_t *l = realloc(s->len, cap * sizeof *l);
        if (!l) return -1;
        s->len = l;
        s->cap = cap;
    }
    char *c = malloc(n + 1);
    if (!c) return -1;
    memcpy(c, f, n);
    c[n] = 0;
    size_t at = s->n;
    while (at > 0 && s->len[at - 1] < n) {
        s->v[at] = s->v[at - 1];
        s->len[at] = s->len[at - 1];
        at--;
    }
    s->v[at] = c;
    s->len[at] = n;
    s->n++;
    return 0;
}

/* Adds a malloc'd form and frees it (zeroed): NULL means out of memory. */
static int add_owned(struct cpgo_url_secrets *s, char *f, size_t n)
{
    if (!f) return -1;
    int rc = add_form(s, f, n);
    explicit_bzero(f, n);
    free(f);
    return rc;
}

/* One value's forms: as given, its bytes percent-encoded both ways, base64 whole and the
 * three alignment cores. */
static int add_forms(struct cpgo_url_secrets *s, const char *v, size_t n)
{
    if (n < CPGO_URL_SECRET_MIN) return 0;
    int rc = add_form(s, v, n);
    for (int lower = 0; lower < 2; lower++) {
        char *e = pct_encode(v, n, lower);
        rc |= add_owned(s, e, e ? strlen(e) : 0);
    }
    char *b = b64_encode((const unsigned char *)v, n);
    rc |= add_owned(s, b, b ? strlen(b) : 0);
    for (int a = 0; a < 3; a++) {
        size_t cl = 0;
        char *c = b64_core((const unsigned char *)v, n, a, &cl);
        rc |= add_owned(s, c, cl);
    }
    return rc ? -1 : 0;
}

static int add_value(struct cpgo_url_secrets *s, const char *v, size_t n)
{
    if (!s) return -1;
    if (n < CPGO_URL_SECRET_MIN) return 0;
    int rc = add_forms(s, v, n);
    size_t dn = 0;
    char *d = pct_decode(v, n, &dn);
    if (!d) return -1;
    if (dn != n || memcmp(d, v, n)) rc |= add_forms(s, d, dn);
    explicit_bzero(d, dn);
    free(d);
    return rc ? -1 : 0;
}

int cpgo_url_secrets_add(struct cpgo_url_secrets *s, const char *value)
{
    return value ? add_value(s, value, strlen(value)) : 0;
}

int cpgo_url_secrets_add_basic(struct cpgo_url_secrets *s, const char *user, const char *password)
{
    if (!s) return -1;
    user = user ? user : "";
    password = password ? password : "";
    int rc = cpgo_url_secrets_add(s, password);
    size_t ul = strlen(user), pl = strlen(password);
    if (ul + pl < CPGO_URL_SECRET_MIN) return rc;
    char *up = malloc(ul + pl + 2);
    if (!up) return -1;
    memcpy(up, user, ul);
    up[ul] = ':';
    memcpy(up + ul + 1, password, pl + 1);
    rc |= add_form(s, up, ul + 1 + pl);
    char *b = b64_encode((const unsigned char *)up, ul + 1 + pl);
    explicit_bzero(up, ul + 1 + pl);
    free(up);
    if (!b) return -1;
    size_t bl = strlen(b);
    rc |= add_form(s, b, bl);
    char *e = pct_encode(b, bl, 0); /* '+', '/' and '=' escaped, as in a query */
    rc |= add_owned(s, e, e ? strlen(e) : 0);
    free(b);
    return rc ? -1 : 0;
}

int cpgo_url_secrets_add_header(struct cpgo_url_secrets *s, const char *name, const char *value)
{
    if (!s) return -1;
    if (!name || !value || !cpgo_url_secret_header(name)) return 0;
    int rc = cpgo_url_secrets_add(s, value);
    /* "Bearer x", "token x", "Basic x": the credential alone, as a server may quote it */
    const char *sp = strchr(value, ' ');
    if (sp) {
        const char *cred = sp + 1;
        while (*cred == ' ')
            cred++;
        rc |= cpgo_url_secrets_add(s, cred);
        size_t dn = 0;
        char *d = NULL;
        if ((size_t)(sp - value) == 5 && !strncasecmp(value, "basic", 5) &&
            (d = b64_decode(cred, strlen(cred), &dn)) != NULL) {
            char *colon = memchr(d, ':', dn);
            if (colon) {
                *colon = 0;
                rc |= cpgo_url_secrets_add_basic(s, d, colon + 1);
                *colon = ':';
            }
            explicit_bzero(d, dn);
            free(d);
        }
    }
    /* Cookie: "a=1; b=2": each value */
    static const char *const cookie[] = {"cookie"};
    if (contains_word(name, strlen(name), cookie, 1)) {
        for (const char *p = value; *p;) {
            size_t n = strcspn(p, ";");
            const char *eq = memchr(p, '=', n);
            if (eq) rc |= add_value(s, eq + 1, n - (size_t)(eq + 1 - p));
            p += n;
            while (*p == ';' || *p == ' ')
                p++;
        }
    }
    return rc ? -1 : 0;
}

/* Visits each key=value pair of a query (without '?'): cb(key, klen, value, vlen). */
static int each_query_pair(const char *q, size_t qlen,
                           int (*cb)(const char *, size_t, const char *, size_t, void *), void *arg)
{
    int rc = 0;
    for (size_t i = 0; i < qlen;) {
        size_t n = 0;
        while (i + n < qlen && q[i + n] != '&')
            n++;
        const char *eq = memchr(q + i, '=', n);
        if (eq)
            rc |= cb(q + i, (size_t)(eq - (q + i)), eq + 1, n - (size_t)(eq + 1 - (q + i)), arg);
        i += n + 1;
    }
    return rc;
}

/* A query key is judged in its decoded form ("to%6Ben" is "token"). */
static int secret_key_text(const char *k, size_t n)
{
    size_t dn;
    char *d = pct_decode(k, n, &dn);
    int r = d ? cpgo_url_secret_query_key(d, dn) : 1; /* no memory: assume secret */
    free(d);
    return r;
}

static int add_query_pair(const char *k, size_t kn, const char *v, size_t vn, void *arg)
{
    return secret_key_text(k, kn) ? add_value(arg, v, vn) : 0;
}

/* The userinfo libcurl could not parse: everything from "://" to the last '@'. */
static const char *fallback_userinfo(const char *text, size_t *n)
{
    const char *sep = strstr(text, "://");
    const char *start = sep ? sep + 3 : text;
    const char *at = strrchr(start, '@');
    if (!at || !sep) return NULL;
    *n = (size_t)(at - start);
    return start;
}

static CURLU *curl_parse(const char *text, unsigned flags)
{
    CURLU *h = curl_url();
    if (h && curl_url_set(h, CURLUPART_URL, text, flags) != CURLUE_OK) {
        curl_url_cleanup(h);
        h = NULL;
    }
    return h;
}

int cpgo_url_secrets_add_url(struct cpgo_url_secrets *s, const char *url)
{
    if (!s) return -1;
    if (!url) return 0;
    CURLU *h = curl_parse(url, CURLU_NON_SUPPORT_SCHEME);
    if (!h) {
        size_t n = 0;
        const char *ui = fallback_userinfo(url, &n);
        int rc = ui ? add_value(s, ui, n) : 0;
        const char *q = strchr(url, '?');
        if (q) rc |= each_query_pair(q + 1, strcspn(q + 1, "#"), add_query_pair, s);
        return rc ? -1 : 0;
    }
    char *user = NULL, *pw = NULL, *query = NULL;
    curl_url_get(h, CURLUPART_USER, &user, 0);
    curl_url_get(h, CURLUPART_PASSWORD, &pw, 0);
    curl_url_get(h, CURLUPART_QUERY, &query, 0);
    curl_url_cleanup(h);
    int rc = 0;
    if (pw || (user && *user)) {
        /* a lone user is the secret (https://TOKEN@host/); libcurl sends "user:" */
        const char *secret = pw ? pw : user;
        rc |= cpgo_url_secrets_add(s, secret);
        size_t un = 0, pn = 0;
        char *du = pct_decode(user ? user : "", user ? strlen(user) : 0, &un);
        char *dp = pct_decode(pw ? pw : "", pw ? strlen(pw) : 0, &pn);
        if (du && dp)
            rc |= cpgo_url_secrets_add_basic(s, du, dp);
        else
            rc = -1;
        if (du) explicit_bzero(du, un);
        if (dp) explicit_bzero(dp, pn);
        free(du);
        free(dp);
    }
    if (query) rc |= each_query_pair(query, strlen(query), add_query_pair, s);
    if (pw) explicit_bzero(pw, strlen(pw));
    curl_free(user);
    curl_free(pw);
    curl_free(query);
    return rc ? -1 : 0;
}

/* ---- scrubbing ------------------------------------------------------------------------ */

/* Length of the secret form at t[0, n): the longest one that starts there, or one that t
 * ends in the middle of (at least CPGO_URL_SECRET_MIN bytes of it); 0 if none. */
static size_t match_at(const struct cpgo_url_secrets *s, const char *t, size_t n)
{
    for (size_t i = 0; i < s->n; i++) {
        size_t l = s->len[i];
        if (l <= n ? !memcmp(t, s->v[i], l) : n >= CPGO_URL_SECRET_MIN && !memcmp(t, s->v[i], n))
            return l <= n ? l : n;
    }
    return 0;
}

size_t cpgo_url_scrub(const struct cpgo_url_secrets *s, const char *text, size_t len, char *out,
                      size_t cap)
{
    if (!cap) return 0;
    size_t o = 0, i = 0;
    /* o <= i throughout and a match is at least as long as the mask: in place is safe */
    while (i < len && o + 1 < cap) {
        size_t m = s && s->n ? match_at(s, text + i, len - i) : 0;
        if (m) {
            for (size_t k = 0; k < sizeof CPGO_URL_SCRUBBED - 1 && o + 1 < cap; k++)
                out[o++] = CPGO_URL_SCRUBBED[k];
            i += m;
        } else {
            out[o++] = text[i++];
        }
    }
    out[o] = 0;
    return o;
}

/* ---- parsing -------------------------------------------------------------------------- */

void cpgo_url_free(struct cpgo_url *u)
{
    if (!u) return;
    if (u->password) explicit_bzero(u->password, strlen(u->password));
    curl_free(u->scheme);
    curl_free(u->user);
    curl_free(u->password);
    curl_free(u->host);
    curl_free(u->path);
    curl_free(u->query);
    memset(u, 0, sizeof *u);
}

static const char *why_of(CURLUcode rc, const char *text)
{
    switch (rc) {
    case CURLUE_BAD_PORT_NUMBER:
        return "has an invalid port";
    case CURLUE_NO_HOST:
        return "has no host";
    case CURLUE_BAD_HOSTNAME:
    case CURLUE_BAD_IPV6: {
        const char *a = strstr(text, "://");
        a = a ? a + 3 : text;
        if (memchr(a, '@', strcspn(a, "/?#")))
            return "has an invalid host (a '@' or ':' in a user name or password must be "
                   "written %40 or %3A)";
        return "has an invalid host";
    }
    case CURLUE_BAD_LOGIN:
    case CURLUE_BAD_USER:
    case CURLUE_BAD_PASSWORD:
        return "has an invalid user name or password";
    case CURLUE_OUT_OF_MEMORY:
        return "cannot be parsed: out of memory";
    default:
        return "is not a valid URL";
    }
}

int cpgo_url_parse(const char *text, struct cpgo_url *out, const char **why)
{
    memset(out, 0, sizeof *out);
    size_t sl;
    if (!strncasecmp(text, "http://", 7))
        sl = 7;
    else if (!strncasecmp(text, "https://", 8))
        sl = 8;
    else {
        *why = "is not an http or https URL";
        return -1;
    }
    for (const char *q = text; *q; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f) {
            *why = "contains spaces or control characters";
            return -1;
        }
    if (text[sl] == '/') { /* libcurl would take the path's first segment as the host */
        *why = "has no host";
        return -1;
    }
    CURLU *h = curl_url();
    if (!h) {
        *why = "cannot be parsed: out of memory";
        return -1;
    }
    CURLUcode rc = curl_url_set(h, CURLUPART_URL, text, 0);
    char *port = NULL;
    if (rc == CURLUE_OK) {
        if ((rc = curl_url_get(h, CURLUPART_SCHEME, &out->scheme, 0)) == CURLUE_OK &&
            (rc = curl_url_get(h, CURLUPART_HOST, &out->host, 0)) == CURLUE_OK &&
            (rc = curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) == CURLUE_OK &&
            (rc = curl_url_get(h, CURLUPART_PATH, &out->path, 0)) == CURLUE_OK) {
            curl_url_get(h, CURLUPART_USER, &out->user, 0);
            curl_url_get(h, CURLUPART_PASSWORD, &out->password, 0);
            curl_url_get(h, CURLUPART_QUERY, &out->query, 0);
        }
    }
    curl_url_cleanup(h);
    if (rc == CURLUE_OK) {
        out->port = port ? atoi(port) : 0;
        if (out->port <= 0 || out->port > 65535) rc = CURLUE_BAD_PORT_NUMBER;
        if (!*out->host) rc = CURLUE_NO_HOST;
        if (strlen(out->host) > 253) rc = CURLUE_BAD_HOSTNAME; /* the longest DNS name */
    }
    curl_free(port);
    if (rc != CURLUE_OK) {
        cpgo_url_free(out);
        *why = why_of(rc, text);
        return -1;
    }
    return 0;
}

/* ---- masking -------------------------------------------------------------------------- */

struct qmask {
    char *out;
    size_t o, cap;
};

static void put(struct qmask *m, const char *s, size_t n)
{
    if (m->o + n < m->cap) memcpy(m->out + m->o, s, n);
    m->o += n;
}

/* Rewrites a query with the values of secret keys replaced. out has room for the query. */
static size_t mask_query(const char *q, size_t qlen, char *out)
{
    struct qmask m = {out, 0, qlen + sizeof CPGO_URL_MASK * (qlen / 2 + 1) + 1};
    for (size_t i = 0; i < qlen;) {
        size_t n = 0;
        while (i + n < qlen && q[i + n] != '&')
            n++;
        const char *eq = memchr(q + i, '=', n);
        if (i) put(&m, "&", 1);
        if (eq && secret_key_text(q + i, (size_t)(eq - (q + i)))) {
            put(&m, q + i, (size_t)(eq + 1 - (q + i)));
            put(&m, CPGO_URL_MASK, sizeof CPGO_URL_MASK - 1);
        } else {
            put(&m, q + i, n);
        }
        i += n + 1;
    }
    out[m.o] = 0;
    return m.o;
}

static int is_ssh(const char *scheme)
{
    return !strcasecmp(scheme, "ssh") || !strcasecmp(scheme, "git+ssh") ||
           !strcasecmp(scheme, "ssh+git");
}

/* Appends text[0, n) to w with the query (after the first '?', up to '#') masked. */
static size_t put_masking_query(char *w, const char *text, size_t n)
{
    const char *q = memchr(text, '?', n);
    size_t head = q ? (size_t)(q + 1 - text) : n, o = head;
    memcpy(w, text, head);
    if (q) {
        const char *qs = q + 1, *end = text + n;
        const char *hash = memchr(qs, '#', (size_t)(end - qs));
        size_t ql = (size_t)((hash ? hash : end) - qs);
        o += mask_query(qs, ql, w + o);
        memcpy(w + o, qs + ql, (size_t)(end - (qs + ql)));
        o += (size_t)(end - (qs + ql));
    }
    w[o] = 0;
    return o;
}

/* libcurl's own rendering of the URL with the secrets replaced: used when the text does
 * not spell libcurl's parts literally. -1 when libcurl refuses the text. */
static int mask_rebuilt(CURLU *h, const char *user, const char *pw, const char *query, int ssh,
                        char *buf, size_t cap)
{
    char *url = NULL;
    if (pw) {
        if (curl_url_set(h, CURLUPART_PASSWORD, CPGO_URL_MASK, 0) != CURLUE_OK) return -1;
    } else if (user && *user && !ssh) {
        if (curl_url_set(h, CURLUPART_USER, CPGO_URL_MASK, 0) != CURLUE_OK) return -1;
    }
    if (query) {
        size_t ql = strlen(query);
        char *mq = malloc(ql + sizeof CPGO_URL_MASK * (ql / 2 + 1) + 2);
        if (!mq) return -1;
        mask_query(query, ql, mq);
        CURLUcode qrc = curl_url_set(h, CURLUPART_QUERY, mq, 0);
        free(mq);
        if (qrc != CURLUE_OK) return -1;
    }
    if (curl_url_get(h, CURLUPART_URL, &url, 0) != CURLUE_OK) return -1;
    snprintf(buf, cap, "%s", url);
    curl_free(url);
    return 0;
}

/* A URL libcurl parses: the text as written (a message should show what the user wrote),
 * with libcurl's password, lone user and secret query values replaced. -1 when libcurl
 * refuses the text. */
static int mask_parsed(const char *text, char *buf, size_t cap)
{
    CURLU *h = curl_parse(text, CURLU_NON_SUPPORT_SCHEME);
    if (!h) return -1;
    char *scheme = NULL, *user = NULL, *pw = NULL, *query = NULL;
    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(h, CURLUPART_USER, &user, 0);
    curl_url_get(h, CURLUPART_PASSWORD, &pw, 0);
    curl_url_get(h, CURLUPART_QUERY, &query, 0);
    int ssh = scheme && is_ssh(scheme);
    const char *sep = strstr(text, "://");
    size_t tl = strlen(text), ul = user ? strlen(user) : 0, pl = pw ? strlen(pw) : 0;
    /* the userinfo as libcurl split it, spelled out in the text? */
    const char *a = sep ? sep + 3 : NULL, *rest = a;
    int literal = a != NULL;
    if (literal && (user || pw)) {
        literal = !strncmp(a, user ? user : "", ul) &&
                  (pw ? a[ul] == ':' && !strncmp(a + ul + 1, pw, pl) && a[ul + 1 + pl] == '@'
                      : a[ul] == '@');
        rest = a + ul + (pw ? 1 + pl : 0) + 1;
    }
    int rc = 0;
    char *w = literal ? malloc(tl + sizeof CPGO_URL_MASK * (tl / 2 + 3) + 2) : NULL;
    if (w) {
        size_t o = (size_t)(a - text);
        memcpy(w, text, o);
        if (pw) {
            memcpy(w + o, user, ul);
            o += ul;
            o += (size_t)sprintf(w + o, ":%s@", CPGO_URL_MASK);
        } else if (user) {
            /* a lone user in an http(s) URL is usually a token; an ssh user is a name */
            o += (size_t)sprintf(w + o, "%s@", *user && !ssh ? CPGO_URL_MASK : user);
        }
        put_masking_query(w + o, rest, strlen(rest));
        snprintf(buf, cap, "%s", w);
        free(w);
    } else {
        rc = mask_rebuilt(h, user, pw, query, ssh, buf, cap);
    }
    if (pw) explicit_bzero(pw, pl);
    curl_free(scheme);
    curl_free(user);
    curl_free(pw);
    curl_free(query);
    curl_url_cleanup(h);
    return rc;
}

void cpgo_url_mask(const char *text, char *buf, size_t cap)
{
    if (!cap) return;
    buf[0] = 0;
    if (!text) return;
    if (!mask_parsed(text, buf, cap)) return;
    /* Not a URL libcurl reads: mask by hand, erring towards hiding. */
    size_t tl = strlen(text);
    char *w = malloc(tl + sizeof CPGO_URL_MASK * (tl / 2 + 3) + 2);
    if (!w) {
        snprintf(buf, cap, "(a URL)");
        return;
    }
    size_t o = 0, n = 0;
    const char *ui = fallback_userinfo(text, &n), *p = text;
    if (ui) {
        /* with "://", any userinfo is masked: a user, a password or a token */
        memcpy(w, text, (size_t)(ui - text));
        o = (size_t)(ui - text);
        memcpy(w + o, CPGO_URL_MASK, sizeof CPGO_URL_MASK - 1);
        o += sizeof CPGO_URL_MASK - 1;
        p = ui + n;
    } else if (!strstr(text, "://")) {
        /* scp-like "user:password@host:path": the user is a name, the rest is masked */
        size_t hl = strcspn(text, "/");
        const char *at = NULL;
        for (size_t i = 0; i < hl; i++)
            if (text[i] == '@') at = text + i;
        const char *colon = at ? memchr(text, ':', (size_t)(at - text)) : NULL;
        if (colon) {
            o = (size_t)(colon + 1 - text);
            memcpy(w, text, o);
            memcpy(w + o, CPGO_URL_MASK, sizeof CPGO_URL_MASK - 1);
            o += sizeof CPGO_URL_MASK - 1;
            p = at;
        }
    }
    put_masking_query(w + o, p, strlen(p));
    snprintf(buf, cap, "%s", w);
    free(w);
}

/* ---- the process ---------------------------------------------------------------------- */

int cpgo_url_secrets_nodump(void)
{
#ifdef __linux__
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) ? -1 : 0;
#else
    return -1;
#endif
}

/* ---- host:port --------------------------------------------------------------------- */

static int valid_hostname(const char *h, size_t n)
{
    if (n == 0 || n > 253) return 0;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch == '.') {
            if (label == 0) return 0;
            label = 0;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return 0;
        if (++label > 63) return 0;
    }
    return 1;
}

int cpgo_url_parse_hostport(const char *s, char **host, int *port, char *why, size_t cap)
{
    *host = NULL;
    *port = 0;
    size_t n = strlen(s);
    const char *h = s, *colon;
    size_t hn;
    if (n == 0) {
        snprintf(why, cap, "is empty");
        return -1;
    }
    if (n > 300) {
        snprintf(why, cap, "is longer than 300 characters");
        return -1;
    }
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            snprintf(why, cap, "is not host:port ([IPv6]:port for IPv6)");
            return -1;
        }
        h = s + 1;
        hn = (size_t)(close - h);
        colon = close + 1;
        char tmp[64];
        unsigned char bin[16];
        if (hn == 0 || hn >= sizeof tmp) {
            snprintf(why, cap, "has no valid IPv6 address in brackets");
            return -1;
        }
        memcpy(tmp, h, hn);
        tmp[hn] = 0;
        if (inet_pton(AF_INET6, tmp, bin) != 1) {
            snprintf(why, cap, "has no valid IPv6 address in brackets");
            return -1;
        }
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            snprintf(why, cap, "has no port (host:port)");
            return -1;
        }
        hn = (size_t)(colon - s);
        if (memchr(s, ':', hn)) {
            snprintf(why, cap, "is not host:port (write an IPv6 address in brackets)");
            return -1;
        }
        if (!valid_hostname(h, hn)) {
            snprintf(why, cap, "has no valid host name or address");
            return -1;
        }
    }
    const char *p = colon + 1;
    long v = 0;
    if (!*p) {
        snprintf(why, cap, "has no port (host:port)");
        return -1;
    }
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > 65535) {
            snprintf(why, cap, "has no valid port (1-65535)");
            return -1;
        }
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 65535) {
        snprintf(why, cap, "has no valid port (1-65535)");
        return -1;
    }
    *host = malloc(hn + 1);
    if (!*host) {
        snprintf(why, cap, "(out of memory)");
        return -1;
    }
    memcpy(*host, h, hn);
    (*host)[hn] = 0;
    *port = (int)v;
    return 0;
}
