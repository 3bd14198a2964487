/*
 * github.c - see github.h. The GitHub REST client: a FIFO of operations, one HTTP request
 * in flight at a time, run as the scraper's own easy handles on the shared curl multi.
 *
 * Life of an operation: submit validates, builds its URL and JSON, queues it and arms the
 * pump timer (never sending from inside the submit call, so callbacks are never
 * re-entrant). The pump starts the head of the queue once its time has come: the queue's
 * pause (rate limits, backoff), the gap after the last mutation and the hourly mutation
 * budget. When curl is done, everything needed from the response (status, rate-limit
 * headers, Date, Location, Link, body) is copied out and the easy handle is freed first;
 * then the response is judged: finish (one callback), or put back at the head of the
 * queue for a retry, a redirect or the next page, with the queue paused as GitHub asks.
 *
 * Invariants:
 *   - at most one request in flight (`active`), and it is not in the queue;
 *   - every operation ends in exactly one callback, from the pump timer or the easy done
 *     callback, never from a submit function;
 *   - the token lives in `token` and, during a transfer, in the Authorization node of the
 *     request's header list, which is zeroed before it is freed; no error line or log
 *     line is built from anything that holds it, and what a server sends back (error
 *     bodies, Location, html_url) is scrubbed of it in every form (url.h) before any cut;
 *   - every buffer is bounded: response bodies by max_json_bytes (counted in the write
 *     callback), error lines by their arrays, URLs by validated parts.
 */
#define _GNU_SOURCE /* strcasestr */
#include "publish/github.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/url.h"

#define GH_MAX_REDIRECTS 3
#define GH_MAX_NAME 100
#define GH_MAX_BRANCH 255
#define GH_MAX_LIST_ITEMS 1000 /* per page: per_page is at most 100 */

struct gh_req {
    struct gh_req *next;
    struct cpgo_gh_client *c;
    const char *method;  /* "GET", "POST" or "PATCH" (static strings) */
    char *url;           /* absolute URL of the next HTTP request */
    char *payload;       /* JSON for POST and PATCH */
    char repo[2 * GH_MAX_NAME + 2]; /* "owner/name", for error lines */
    /* CREATE: after an ambiguous failure the POST is replaced by a lookup (GET) */
    char *create_url, *lookup_url;
    int in_lookup;
    unsigned pages, redirects, retries;
    /* the transfer in flight */
    CURL *easy;
    struct curl_slist *hdrs;
    struct cpgo_buf body;
    int over_limit;
    int abort; /* set by close: the progress callback aborts the transfer */
    int sent_mutation;
    char errbuf[CURL_ERROR_SIZE];
    struct cpgo_gh_result res;
    cpgo_gh_done_cb done;
    void *arg;
};

/* What is kept of a response once its easy handle is gone. */
struct gh_resp {
    int curlcode;
    long status;
    int64_t remaining, reset, retry_after_s, date; /* -1 when absent */
    char *location, *link;
    unsigned char *body;
    size_t len;
    int over_limit;
    char curl_err[CURL_ERROR_SIZE];
};

struct cpgo_gh_client {
    uv_loop_t *loop;
    struct cpgo_scraper *scraper;
    char *api_url; /* no trailing '/' */
    char *api_scheme, *api_host, *api_path;
    int api_port;
    char *token;
    size_t token_len;
    struct cpgo_url_secrets *secrets; /* the token in every form (url.h), for error text */
    struct cpgo_gh_limits lim;
    struct cpgo_gh_pacing pace;
    uv_timer_t timer;
    struct gh_req *head, *tail; /* waiting */
    size_t nqueued;
    struct gh_req *active; /* in flight */
    uint64_t not_before_ms; /* the queue is paused until then (monotonic ms) */
    uint64_t last_mutation_ms;
    int have_mutation;
    uint64_t *mut_ring; /* start times of the last max_mutations_per_hour mutations */
    unsigned mut_n, mut_pos;
    unsigned secondary_streak; /* consecutive secondary limits: the backoff exponent */
    uint64_t rng;
    int stopped, closing;
    void (*closed)(void *);
    void *closed_arg;
    struct cpgo_gh_status st;
};

static const char *const class_names[CPGO_GH_CLASS_COUNT] = {
    [CPGO_GH_OK] = "ok",
    [CPGO_GH_AUTH] = "auth",
    [CPGO_GH_FORBIDDEN] = "forbidden",
    [CPGO_GH_NOT_FOUND] = "not_found",
    [CPGO_GH_EXISTS] = "exists",
    [CPGO_GH_INVALID] = "invalid",
    [CPGO_GH_RATE_LIMITED] = "rate_limited",
    [CPGO_GH_TRANSIENT] = "transient",
    [CPGO_GH_BAD_RESPONSE] = "bad_response",
    [CPGO_GH_REDIRECT] = "redirect",
    [CPGO_GH_HTTP] = "http",
    [CPGO_GH_CONFIG] = "config",
    [CPGO_GH_CANCELED] = "canceled",
    [CPGO_GH_INTERNAL] = "internal",
};

const char *cpgo_gh_class_name(enum cpgo_gh_class c)
{
    return (unsigned)c < CPGO_GH_CLASS_COUNT ? class_names[c] : "unknown";
}

static const char *op_name(enum cpgo_gh_op op)
{
    switch (op) {
    case CPGO_GH_OP_FIND: return "find pull request";
    case CPGO_GH_OP_CREATE: return "create pull request";
    case CPGO_GH_OP_UPDATE: return "update pull request";
    default: return "get pull request";
    }
}

void cpgo_gh_limits_default(struct cpgo_gh_limits *l)
{
    l->max_json_bytes = 4u << 20;
    l->timeout_ms = 30000;
    l->connect_timeout_ms = 10000;
    l->per_page = 100;
    l->max_pages = 10;
    l->max_queued = 10000;
}

void cpgo_gh_pacing_default(struct cpgo_gh_pacing *p)
{
    p->min_mutation_gap_ms = 1000;
    p->max_mutations_per_hour = 400;
    p->secondary_wait_ms = 60000;
    p->backoff_base_ms = 1000;
    p->backoff_max_ms = 600000;
    p->reset_margin_ms = 1000;
    p->max_pause_ms = 3900000;
    p->max_retries = 5;
}

/* ---- small helpers ----------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

/* RFC 3986 unreserved bytes stay, everything else becomes %XX (for query values). */
static char *pct_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *o = malloc(3 * n + 1), *p = o;
    if (!o) return NULL;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            *p++ = (char)ch;
        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        }
    }
    *p = 0;
    return o;
}

/* GitHub owner and repository names: letters, digits, '.', '_', '-'; never "." or "..". */
static int valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > GH_MAX_NAME || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-') return 0;
    return 1;
}

static int valid_branch(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > GH_MAX_BRANCH) return 0;
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || *s == 127) return 0;
    return 1;
}

/* Scrubs the token, in every form, from s (NUL-terminated, in place). Text a server sent
 * is scrubbed where it is read, before any cut (cpgo_gh_parse_message); this is for lines
 * built from other things. */
static void scrub(const struct cpgo_gh_client *c, char *s)
{
    size_t n = strlen(s);
    cpgo_url_scrub(c->secrets, s, n, s, n + 1);
}

static uint64_t rnd(struct cpgo_gh_client *c)
{
    /* xorshift64: jitter only, no need for quality */
    uint64_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return c->rng = x;
}

static int64_t parse_int_header(const char *v)
{
    if (!v) return -1;
    while (*v == ' ' || *v == '\t') v++;
    if (!isdigit((unsigned char)*v)) return -1;
    char *end;
    long long x = strtoll(v, &end, 10);
    while (*end == ' ' || *end == '\t') end++;
    if (*end || x < 0) return -1;
    return x;
}

/* ---- URLs -------------------------------------------------------------------------------- */

static int is_loopback(const char *host)
{
    return !strcasecmp(host, "localhost") || !strcmp(host, "[::1]") ||
           !strncmp(host, "127.", 4);
}

/* The token may go only to the API itself: same scheme, host and port, under its path. */
static int same_api(const struct cpgo_gh_client *c, const char *url)
{
    struct cpgo_url u;
    const char *why;
    if (cpgo_url_parse(url, &u, &why)) return 0;
    size_t pl = strlen(c->api_path);
    int ok = !u.user && !u.password && !strcasecmp(u.scheme, c->api_scheme) &&
             !strcasecmp(u.host, c->api_host) && u.port == c->api_port &&
             !strncmp(u.path, c->api_path, pl) && (u.path[pl] == '/' || u.path[pl] == 0);
    cpgo_url_free(&u);
    return ok;
}

/* ---- parsing ----------------------------------------------------------------------------- */

void cpgo_gh_pr_free(struct cpgo_gh_pr *pr)
{
    if (!pr) return;
    free(pr->title);
    free(pr->body);
    free(pr->html_url);
    free(pr->head_ref);
    free(pr->head_label);
    free(pr->head_sha);
    free(pr->base_ref);
    memset(pr, 0, sizeof *pr);
}

/* Optional string member: absent or null -> "", string -> copy, anything else -> error. */
static int get_str(json_t *o, const char *key, const char *where, char **out, char *err,
                   size_t cap)
{
    json_t *v = json_object_get(o, key);
    const char *s = "";
    size_t n = 0;
    if (v && json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
    } else if (v && !json_is_null(v)) {
        snprintf(err, cap, "%s%s: expected a string", where, key);
        return CPGO_E_INPUT;
    }
    char *d = malloc(n + 1);
    if (!d) {
        snprintf(err, cap, "out of memory");
        return CPGO_E_NOMEM;
    }
    memcpy(d, s, n);
    d[n] = 0;
    *out = d;
    return 0;
}

static int get_bool(json_t *o, const char *key, int *out, int *present, char *err, size_t cap)
{
    json_t *v = json_object_get(o, key);
    if (present) *present = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        snprintf(err, cap, "%s: expected true or false", key);
        return CPGO_E_INPUT;
    }
    *out = json_is_true(v);
    if (present) *present = 1;
    return 0;
}

/* "2024-05-14T10:00:00Z" -> epoch seconds; -1 if it is not that form. */
static int64_t parse_iso8601(const char *s)
{
    int y, mo, d, h, mi, se;
    char z;
    if (strlen(s) != 20 ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) != 7 || z != 'Z')
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return (int64_t)timegm(&tm);
}

static int pr_from_json(json_t *o, struct cpgo_gh_pr *pr, char *err, size_t cap)
{
    memset(pr, 0, sizeof *pr);
    if (!json_is_object(o)) {
        snprintf(err, cap, "pull request: expected an object");
        return CPGO_E_INPUT;
    }
    json_t *num = json_object_get(o, "number");
    if (!json_is_integer(num) || json_integer_value(num) <= 0) {
        snprintf(err, cap, "number: expected a positive integer");
        return CPGO_E_INPUT;
    }
    pr->number = (uint64_t)json_integer_value(num);
    json_t *state = json_object_get(o, "state");
    if (!json_is_string(state) ||
        (strcmp(json_string_value(state), "open") && strcmp(json_string_value(state), "closed"))) {
        snprintf(err, cap, "state: expected \"open\" or \"closed\"");
        return CPGO_E_INPUT;
    }
    pr->open = !strcmp(json_string_value(state), "open");
    int rc, merged_present = 0;
    char *merged_at = NULL, *closed_at = NULL;
    if ((rc = get_str(o, "title", "", &pr->title, err, cap)) ||
        (rc = get_str(o, "body", "", &pr->body, err, cap)) ||
        (rc = get_str(o, "html_url", "", &pr->html_url, err, cap)) ||
        (rc = get_bool(o, "merged", &pr->merged, &merged_present, err, cap)) ||
        (rc = get_bool(o, "draft", &pr->draft, NULL, err, cap)) ||
        (rc = get_str(o, "merged_at", "", &merged_at, err, cap)) ||
        (rc = get_str(o, "closed_at", "", &closed_at, err, cap)))
        goto fail;
    if (!merged_present) pr->merged = merged_at[0] != 0;
    if (closed_at[0]) {
        pr->closed_at = parse_iso8601(closed_at);
        if (pr->closed_at < 0) {
            snprintf(err, cap, "closed_at: expected a time like 2024-05-14T10:00:00Z");
            rc = CPGO_E_INPUT;
            goto fail;
        }
    }
    static const char *const sides[2] = {"head", "base"};
    for (int i = 0; i < 2; i++) {
        json_t *side = json_object_get(o, sides[i]);
        json_t *empty = NULL;
        if (side && !json_is_null(side) && !json_is_object(side)) {
            snprintf(err, cap, "%s: expected an object", sides[i]);
            rc = CPGO_E_INPUT;
            goto fail;
        }
        if (!json_is_object(side)) side = empty = json_object();
        if (!side) {
            rc = CPGO_E_NOMEM;
            goto fail;
        }
        if (i == 0)
            rc = get_str(side, "ref", "head.", &pr->head_ref, err, cap);
        if (!rc && i == 0) rc = get_str(side, "label", "head.", &pr->head_label, err, cap);
        if (!rc && i == 0) rc = get_str(side, "sha", "head.", &pr->head_sha, err, cap);
        if (i == 1) rc = get_str(side, "ref", "base.", &pr->base_ref, err, cap);
        json_decref(empty);
        if (rc) goto fail;
    }
    free(merged_at);
    free(closed_at);
    return 0;
fail:
    free(merged_at);
    free(closed_at);
    cpgo_gh_pr_free(pr);
    return rc;
}

static json_t *load(const char *data, size_t len, char *err, size_t cap)
{
    if (!data || !len) {
        snprintf(err, cap, "empty response");
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) snprintf(err, cap, "invalid JSON at line %d column %d: %s", je.line, je.column,
                        je.text);
    return root;
}

int cpgo_gh_parse_pr(const char *data, size_t len, struct cpgo_gh_pr *out, char *err,
                     size_t errcap)
{
    memset(out, 0, sizeof *out);
    json_t *root = load(data, len, err, errcap);
    if (!root) return CPGO_E_INPUT;
    int rc = pr_from_json(root, out, err, errcap);
    json_decref(root);
    return rc;
}

int cpgo_gh_parse_pr_list(const char *data, size_t len, size_t max_items,
                          struct cpgo_gh_pr **out, size_t *n, char *err, size_t errcap)
{
    *out = NULL;
    *n = 0;
    json_t *root = load(data, len, err, errcap);
    if (!root) return CPGO_E_INPUT;
    int rc = 0;
    if (!json_is_array(root)) {
        snprintf(err, errcap, "expected an array of pull requests");
        rc = CPGO_E_INPUT;
        goto out;
    }
    size_t count = json_array_size(root);
    if (count > max_items) {
        snprintf(err, errcap, "%zu pull requests in one page, more than %zu", count, max_items);
        rc = CPGO_E_INPUT;
        goto out;
    }
    if (!count) goto out;
    struct cpgo_gh_pr *prs = calloc(count, sizeof *prs);
    if (!prs) {
        snprintf(err, errcap, "out of memory");
        rc = CPGO_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        char e[200];
        rc = pr_from_json(json_array_get(root, i), &prs[i], e, sizeof e);
        if (rc) {
            snprintf(err, errcap, "[%zu].%s", i, e);
            for (size_t j = 0; j < i; j++)
                cpgo_gh_pr_free(&prs[j]);
            free(prs);
            goto out;
        }
    }
    *out = prs;
    *n = count;
out:
    json_decref(root);
    return rc;
}

/* Appends printable ASCII of s (bounded by n) to out, other bytes as '?', no newlines. */
static void append_clean(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
        out[(*o)++] = (ch >= ' ' && ch < 127) ? (char)ch : '?';
    }
    out[*o < cap ? *o : cap - 1] = 0;
}

void cpgo_gh_parse_message(const char *data, size_t len, const struct cpgo_url_secrets *secrets,
                           char *out, size_t cap)
{
    if (!cap) return;
    out[0] = 0;
    /* the whole line first (bounded: a cut there is masked by the scrubber), scrubbed,
     * and only then cut to cap and made printable */
    struct cpgo_buf line;
    cpgo_buf_init(&line, 16384);
    json_t *root = json_loadb(data, len, 0, NULL);
    json_t *msg = root ? json_object_get(root, "message") : NULL;
    if (json_is_string(msg)) {
        cpgo_buf_append(&line, json_string_value(msg), json_string_length(msg));
        json_t *errs = json_object_get(root, "errors");
        size_t shown = 0;
        for (size_t i = 0; json_is_array(errs) && i < json_array_size(errs) && shown < 3; i++) {
            json_t *e = json_array_get(errs, i), *m = NULL;
            if (json_is_object(e)) {
                m = json_object_get(e, "message");
                if (!json_is_string(m)) m = json_object_get(e, "code");
            } else if (json_is_string(e)) {
                m = e;
            }
            if (!json_is_string(m)) continue;
            cpgo_buf_append(&line, shown ? "; " : ": ", 2);
            cpgo_buf_append(&line, json_string_value(m), json_string_length(m));
            shown++;
        }
    } else if (data) {
        /* not GitHub's error document (a proxy page?): its first line */
        size_t n = 0;
        while (n < len && data[n] != '\n' && data[n] != '\r') n++;
        cpgo_buf_append(&line, data, n < 16384 ? n : 16384);
    }
    json_decref(root);
    size_t o = cpgo_url_scrub(secrets, line.data ? (const char *)line.data : "", line.len, out,
                              cap);
    for (size_t i = 0; i < o; i++) {
        unsigned char ch = (unsigned char)out[i];
        if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
        out[i] = (ch >= ' ' && ch < 127) ? (char)ch : '?';
    }
    cpgo_buf_free(&line);
}

int cpgo_gh_link_next(const char *link, char *out, size_t cap)
{
    const char *p = link;
    if (cap) out[0] = 0;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (!*p) break;
        if (*p != '<') return -1;
        const char *u = p + 1, *ue = strchr(u, '>');
        if (!ue) return -1;
        p = ue + 1;
        int is_next = 0;
        /* parameters: ; name=value or ; name="value", up to the next ',' */
        for (;;) {
            while (*p == ' ' || *p == '\t') p++;
            if (*p != ';') break;
            p++;
            while (*p == ' ' || *p == '\t') p++;
            const char *k = p;
            while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ') p++;
            size_t kl = (size_t)(p - k);
            while (*p == ' ') p++;
            if (*p != '=') continue;
            p++;
            while (*p == ' ') p++;
            const char *v, *ve;
            if (*p == '"') {
                v = ++p;
                ve = strchr(v, '"');
                if (!ve) return -1;
                p = ve + 1;
            } else {
                v = p;
                while (*p && *p != ';' && *p != ',' && *p != ' ') p++;
                ve = p;
            }
            if (kl == 3 && !strncasecmp(k, "rel", 3)) {
                /* rel may hold several space-separated relation types */
                const char *w = v;
                while (w < ve) {
                    while (w < ve && *w == ' ') w++;
                    const char *we = w;
                    while (we < ve && *we != ' ') we++;
                    if (we - w == 4 && !strncasecmp(w, "next", 4)) is_next = 1;
                    w = we;
                }
            }
        }
        if (*p && *p != ',') return -1;
        if (is_next) {
            size_t n = (size_t)(ue - u);
            if (n == 0 || n + 1 > cap) return -1;
            for (size_t i = 0; i < n; i++)
                if ((unsigned char)u[i] <= ' ' || u[i] == 127) return -1;
            memcpy(out, u, n);
            out[n] = 0;
            return 1;
        }
    }
    return 0;
}

/* ---- the marker -------------------------------------------------------------------------- */

int cpgo_gh_marker(const char *target_key, char *buf, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    const char *pre = CPGO_GH_MARKER_PREFIX, *suf = CPGO_GH_MARKER_SUFFIX;
    size_t pl = strlen(pre), sl = strlen(suf);
    if (cap < pl + sl + 1) return -1;
    memcpy(buf, pre, pl);
    o = pl;
    char prev = '=';
    for (const char *k = target_key ? target_key : ""; *k; k++) {
        unsigned char ch = (unsigned char)*k;
        int enc = ch <= ' ' || ch >= 127 || ch == '%' || ch == '<' || ch == '>' ||
                  (ch == '-' && prev == '-');
        if (o + (enc ? 3 : 1) + sl + 1 > cap) return -1;
        if (enc) {
            buf[o++] = '%';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
            prev = '%';
        } else {
            buf[o++] = (char)ch;
            prev = (char)ch;
        }
    }
    /* "- -->" would still be fine, but "--->" is not: a trailing '-' is encoded too */
    if (prev == '-') {
        if (o + 2 + sl + 1 > cap) return -1;
        o--;
        buf[o++] = '%';
        buf[o++] = '2';
        buf[o++] = 'D';
    }
    memcpy(buf + o, suf, sl + 1);
    return (int)(o + sl);
}

size_t cpgo_gh_marker_size(const char *target_key)
{
    /* every key byte takes at most 3 ("%XX") */
    return strlen(CPGO_GH_MARKER_PREFIX) + 3 * (target_key ? strlen(target_key) : 0) +
           strlen(CPGO_GH_MARKER_SUFFIX) + 1;
}

int cpgo_gh_body_has_marker(const char *body, const char *target_key)
{
    if (!body) return 0;
    if (!target_key) return strstr(body, CPGO_GH_MARKER_PREFIX) != NULL;
    size_t cap = cpgo_gh_marker_size(target_key);
    char small[512], *m = cap <= sizeof small ? small : malloc(cap);
    if (!m) return 0;
    int found = cpgo_gh_marker(target_key, m, cap) >= 0 && strstr(body, m) != NULL;
    if (m != small) free(m);
    return found;
}

/* ---- the queue ----------------------------------------------------------------------------- */

static void pump(struct cpgo_gh_client *c);

static void free_req(struct gh_req *r)
{
    free(r->url);
    free(r->payload);
    free(r->create_url);
    free(r->lookup_url);
    cpgo_buf_free(&r->body);
    cpgo_gh_pr_free(&r->res.pr);
    free(r);
}

static void push_back(struct cpgo_gh_client *c, struct gh_req *r)
{
    r->next = NULL;
    if (c->tail) c->tail->next = r;
    else c->head = r;
    c->tail = r;
    c->nqueued++;
}

static void push_front(struct cpgo_gh_client *c, struct gh_req *r)
{
    r->next = c->head;
    c->head = r;
    if (!c->tail) c->tail = r;
    c->nqueued++;
}

static struct gh_req *pop(struct cpgo_gh_client *c)
{
    struct gh_req *r = c->head;
    if (!r) return NULL;
    c->head = r->next;
    if (!c->head) c->tail = NULL;
    r->next = NULL;
    c->nqueued--;
    return r;
}

/* Ends an operation: the one callback, then the request is freed. */
static void finish(struct gh_req *r, enum cpgo_gh_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(struct gh_req *r, enum cpgo_gh_class cls, const char *fmt, ...)
{
    struct cpgo_gh_client *c = r->c;
    r->res.cls = cls;
    r->res.error[0] = 0;
    if (cls != CPGO_GH_OK) {
        int n = snprintf(r->res.error, sizeof r->res.error, "github %s: %s: ", r->repo,
                         op_name(r->res.op));
        if (n > 0 && (size_t)n < sizeof r->res.error) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->res.error + n, sizeof r->res.error - (size_t)n, fmt, ap);
            va_end(ap);
        }
        for (char *p = r->res.error; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
        scrub(c, r->res.error);
        cpgo_gh_pr_free(&r->res.pr);
        r->res.found = 0;
        if (cpgo_log_enabled(CPGO_LVL_DEBUG))
            cpgo_log(CPGO_LVL_DEBUG, "github operation failed", "repository", r->repo, "class",
                     cpgo_gh_class_name(cls), "error", r->res.error, NULL);
    } else if (r->res.pr.html_url) {
        scrub(c, r->res.pr.html_url); /* logged and shown in /status: a server's text too */
    }
    r->done(&r->res, r->arg);
    free_req(r);
}

/* When the head of the queue may start (monotonic ms). */
static uint64_t earliest_start(const struct cpgo_gh_client *c, const struct gh_req *r)
{
    uint64_t t = c->not_before_ms;
    if (strcmp(r->method, "GET")) {
        if (c->have_mutation && c->last_mutation_ms + c->pace.min_mutation_gap_ms > t)
            t = c->last_mutation_ms + c->pace.min_mutation_gap_ms;
        if (c->mut_ring && c->mut_n == c->pace.max_mutations_per_hour) {
            uint64_t oldest = c->mut_ring[c->mut_pos] + 3600u * 1000u;
            if (oldest > t) t = oldest;
        }
    }
    return t;
}

static void pause_queue(struct cpgo_gh_client *c, uint64_t wait_ms)
{
    if (wait_ms > c->pace.max_pause_ms) wait_ms = c->pace.max_pause_ms;
    uint64_t until = now_ms() + wait_ms;
    if (until > c->not_before_ms) c->not_before_ms = until;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct gh_req *r = userp;
    size_t n = size * nmemb;
    int rc = cpgo_buf_append(&r->body, data, n);
    if (rc) {
        r->over_limit = rc == CPGO_E_LIMIT;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    return n;
}

static int xferinfo_cb(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct gh_req *r = p;
    return r->abort;
}

/* Zeroes the Authorization value (and everything else) before the list is freed. */
static void free_headers(struct curl_slist *h)
{
    for (struct curl_slist *n = h; n; n = n->next)
        if (n->data) explicit_bzero(n->data, strlen(n->data));
    curl_slist_free_all(h);
}

static const char *header(CURL *e, const char *name)
{
    struct curl_header *h;
    if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK) return h->value;
    return NULL;
}

static void easy_done(void *easy, int curlcode, void *arg);

static int append_header(struct curl_slist **l, const char *h)
{
    struct curl_slist *n = curl_slist_append(*l, h);
    if (!n) return -1;
    *l = n;
    return 0;
}

/* Builds the easy handle for the request's current URL and method and hands it to the
 * scraper. On failure the request is finished. */
static void start(struct cpgo_gh_client *c, struct gh_req *r)
{
    CURL *e = curl_easy_init();
    if (!e) {
        finish(r, CPGO_GH_INTERNAL, "out of memory");
        return;
    }
    cpgo_buf_free(&r->body);
    cpgo_buf_init(&r->body, c->lim.max_json_bytes);
    r->over_limit = 0;
    r->errbuf[0] = 0;
    r->easy = e;
    r->hdrs = NULL;
    int mutation = strcmp(r->method, "GET") != 0;
    /* the Authorization line is assembled in a buffer zeroed right after the list copies
     * it; the list's copy is zeroed in free_headers */
    size_t alen = c->token_len + 32;
    char *auth = malloc(alen);
    int bad = !auth;
    if (auth) {
        snprintf(auth, alen, "Authorization: Bearer %s", c->token);
        bad |= append_header(&r->hdrs, auth);
        explicit_bzero(auth, alen);
        free(auth);
    }
    bad |= append_header(&r->hdrs, "Accept: application/vnd.github+json");
    bad |= append_header(&r->hdrs, "X-GitHub-Api-Version: 2022-11-28");
    bad |= append_header(&r->hdrs, "Expect:"); /* no 100-continue round trip */
    if (mutation) bad |= append_header(&r->hdrs, "Content-Type: application/json");
    if (bad) {
        free_headers(r->hdrs);
        r->hdrs = NULL;
        curl_easy_cleanup(e);
        r->easy = NULL;
        finish(r, CPGO_GH_INTERNAL, "out of memory");
        return;
    }
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* followed here, after checking */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "cpgo/" CPGO_VERSION);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->lim.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->lim.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->lim.max_json_bytes);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* the cap counts decoded bytes */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!strcmp(r->method, "POST") || !strcmp(r->method, "PATCH")) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->payload);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->payload));
        if (!strcmp(r->method, "PATCH")) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
    }
    if (cpgo_scraper_run_easy(c->scraper, e, easy_done, r)) {
        free_headers(r->hdrs);
        r->hdrs = NULL;
        curl_easy_cleanup(e);
        r->easy = NULL;
        finish(r, CPGO_GH_CANCELED, "the HTTP client is closing");
        return;
    }
    c->active = r;
    r->sent_mutation = mutation;
    r->res.attempts++;
    c->st.requests++;
    if (mutation && c->mut_ring) {
        c->mut_ring[c->mut_pos] = now_ms();
        c->mut_pos = (c->mut_pos + 1) % c->pace.max_mutations_per_hour;
        if (c->mut_n < c->pace.max_mutations_per_hour) c->mut_n++;
    }
    if (cpgo_log_enabled(CPGO_LVL_DEBUG)) {
        char masked[512];
        cpgo_url_mask(r->url, masked, sizeof masked);
        cpgo_log(CPGO_LVL_DEBUG, "github request", "repository", r->repo, "method", r->method,
                 "url", masked, NULL);
    }
}

static void close_cb(uv_handle_t *h)
{
    struct cpgo_gh_client *c = h->data;
    void (*cb)(void *) = c->closed;
    void *arg = c->closed_arg;
    explicit_bzero(c->token, c->token_len);
    free(c->token);
    cpgo_url_secrets_unref(c->secrets);
    free(c->api_url);
    free(c->api_scheme);
    free(c->api_host);
    free(c->api_path);
    free(c->mut_ring);
    free(c);
    if (cb) cb(arg);
}

static void pump_cb(uv_timer_t *h)
{
    struct cpgo_gh_client *c = h->data;
    if (c->closing || c->stopped) {
        /* fail everything queued; a callback may queue more, which fails here too */
        struct gh_req *r;
        while ((r = pop(c))) {
            if (c->closing)
                finish(r, CPGO_GH_CANCELED, "not sent: the GitHub client is closing");
            else
                finish(r, CPGO_GH_AUTH, "not sent: %s", c->st.stop_reason);
        }
        if (c->closing && !c->active && !uv_is_closing((uv_handle_t *)&c->timer))
            uv_close((uv_handle_t *)&c->timer, close_cb);
        return;
    }
    if (c->active || !c->head) return;
    uint64_t now = now_ms(), t = earliest_start(c, c->head);
    if (t > now) {
        /* the loop's cached time may lag: re-arm for what remains */
        uv_timer_start(&c->timer, pump_cb, t - now, 0);
        return;
    }
    start(c, pop(c));
    if (!c->active) pump(c); /* it finished at once: go on with the next */
}

/* Arms the timer for the head of the queue (0 ms when it may start now). */
static void pump(struct cpgo_gh_client *c)
{
    if (uv_is_closing((uv_handle_t *)&c->timer)) return;
    if (c->closing || c->stopped) {
        if (c->head || (c->closing && !c->active)) uv_timer_start(&c->timer, pump_cb, 0, 0);
        return;
    }
    if (c->active || !c->head) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = now_ms(), t = earliest_start(c, c->head);
    uv_timer_start(&c->timer, pump_cb, t > now ? t - now : 0, 0);
}

/* ---- judging a response ------------------------------------------------------------------ */

static uint64_t backoff_ms(struct cpgo_gh_client *c, unsigned attempt)
{
    uint64_t d = c->pace.backoff_base_ms;
    for (unsigned i = 0; i < attempt && d < c->pace.backoff_max_ms; i++)
        d *= 2;
    if (d > c->pace.backoff_max_ms) d = c->pace.backoff_max_ms;
    /* "equal jitter": half fixed, half random, so retries of many clients spread out */
    return d / 2 + (d ? rnd(c) % (d / 2 + 1) : 0);
}

/* Requeues r at the head after `wait_ms` (the queue waits with it: one request at a time),
 * or gives up when its retries are spent. */
static void retry(struct gh_req *r, uint64_t wait_ms, enum cpgo_gh_class cls, const char *why)
{
    struct cpgo_gh_client *c = r->c;
    if (r->retries >= c->pace.max_retries) {
        finish(r, cls, "%s (gave up after %u retries)", why, r->retries);
        return;
    }
    r->retries++;
    c->st.retries++;
    pause_queue(c, wait_ms);
    push_front(c, r);
}

/* Seconds until x-ratelimit-reset, by the response's own clock when it sent one. */
static uint64_t reset_wait_ms(const struct cpgo_gh_client *c, const struct gh_resp *rs)
{
    int64_t now = rs->date > 0 ? rs->date : (int64_t)time(NULL);
    int64_t s = rs->reset - now;
    if (s < 0) s = 0;
    return (uint64_t)s * 1000u + c->pace.reset_margin_ms;
}

static void stop_client(struct cpgo_gh_client *c, const char *msg)
{
    c->stopped = 1;
    c->st.stopped = 1;
    size_t o = 0;
    char m[96];
    m[0] = 0;
    append_clean(m, sizeof m, &o, msg, strlen(msg));
    scrub(c, m);
    snprintf(c->st.stop_reason, sizeof c->st.stop_reason,
             "GitHub answered 401 (%.40s) at %.40s: all GitHub requests stopped; fix the token", m,
             c->api_host);
    cpgo_log(CPGO_LVL_ERROR, "github authentication failed: all GitHub requests stopped",
             "api", c->api_url, "reason", m, NULL);
}

static void handle_list(struct gh_req *r, struct gh_resp *rs)
{
    struct cpgo_gh_client *c = r->c;
    struct cpgo_gh_pr *prs;
    size_t n;
    char err[200];
    if (cpgo_gh_parse_pr_list((const char *)rs->body, rs->len, GH_MAX_LIST_ITEMS, &prs, &n, err,
                              sizeof err)) {
        finish(r, CPGO_GH_BAD_RESPONSE, "HTTP %ld: %s", rs->status, err);
        return;
    }
    int open_found = 0;
    for (size_t i = 0; i < n; i++) {
        struct cpgo_gh_pr *p = &prs[i];
        if (open_found) {
            cpgo_gh_pr_free(p);
            continue;
        }
        if (!r->in_lookup) r->res.nseen++;
        int take = p->open || !r->res.found || p->number > r->res.pr.number;
        if (r->in_lookup && !p->open) take = 0; /* a lookup after a POST wants open ones */
        if (take) {
            cpgo_gh_pr_free(&r->res.pr);
            r->res.pr = *p;
            r->res.found = 1;
            open_found = p->open;
        } else {
            cpgo_gh_pr_free(p);
        }
    }
    free(prs);
    if (r->in_lookup) {
        if (r->res.found) {
            r->res.recovered = 1;
            finish(r, CPGO_GH_OK, "%s", "");
            return;
        }
        /* nothing was created: the POST may be sent again */
        r->in_lookup = 0;
        r->method = "POST";
        free(r->url);
        r->url = xstrdup(r->create_url);
        if (!r->url) {
            finish(r, CPGO_GH_INTERNAL, "out of memory");
            return;
        }
        r->pages = r->redirects = 0;
        push_front(c, r);
        return;
    }
    if (open_found) {
        finish(r, CPGO_GH_OK, "%s", "");
        return;
    }
    char next[2048];
    int ln = rs->link ? cpgo_gh_link_next(rs->link, next, sizeof next) : 0;
    if (ln < 0) {
        finish(r, CPGO_GH_BAD_RESPONSE, "malformed Link header");
        return;
    }
    if (ln == 1) {
        if (!same_api(c, next)) {
            finish(r, CPGO_GH_BAD_RESPONSE, "Link rel=\"next\" leaves the API (%s://%s)",
                   c->api_scheme, c->api_host);
            return;
        }
        if (r->pages + 1 < c->lim.max_pages) {
            char *u = xstrdup(next);
            if (!u) {
                finish(r, CPGO_GH_INTERNAL, "out of memory");
                return;
            }
            free(r->url);
            r->url = u;
            r->pages++;
            r->redirects = 0;
            push_front(c, r);
            return;
        }
        r->res.truncated = 1;
    }
    finish(r, CPGO_GH_OK, "%s", "");
}

static void handle_2xx(struct gh_req *r, struct gh_resp *rs)
{
    struct cpgo_gh_client *c = r->c;
    c->secondary_streak = 0;
    if (r->res.op == CPGO_GH_OP_FIND || r->in_lookup) {
        handle_list(r, rs);
        return;
    }
    char err[200];
    if (cpgo_gh_parse_pr((const char *)rs->body, rs->len, &r->res.pr, err, sizeof err)) {
        finish(r, CPGO_GH_BAD_RESPONSE, "HTTP %ld: %s", rs->status, err);
        return;
    }
    r->res.found = 1;
    finish(r, CPGO_GH_OK, "%s", "");
}

/* A failure after which the request may or may not have taken effect. */
static void handle_ambiguous(struct gh_req *r, struct gh_resp *rs, enum cpgo_gh_class cls,
                             const char *why)
{
    struct cpgo_gh_client *c = r->c;
    uint64_t wait = backoff_ms(c, r->retries);
    if (rs->retry_after_s >= 0) { /* a 503 may say when to come back */
        uint64_t ra = (uint64_t)rs->retry_after_s * 1000u + c->pace.reset_margin_ms;
        if (ra > wait) wait = ra;
    }
    if (r->res.op == CPGO_GH_OP_CREATE && !r->in_lookup) {
        /* never POST twice blindly: first look for what the first POST may have made */
        if (r->retries >= c->pace.max_retries) {
            finish(r, cls, "%s (gave up after %u retries)", why, r->retries);
            return;
        }
        free(r->url);
        r->url = xstrdup(r->lookup_url);
        if (!r->url) {
            finish(r, CPGO_GH_INTERNAL, "out of memory");
            return;
        }
        r->in_lookup = 1;
        r->method = "GET";
        r->pages = r->redirects = 0;
    }
    cpgo_log(CPGO_LVL_INFO, "github request failed, retrying", "repository", r->repo, "error",
             why, NULL);
    retry(r, wait, cls, why);
}

static void handle(struct gh_req *r, struct gh_resp *rs)
{
    struct cpgo_gh_client *c = r->c;
    char why[256];
    r->res.http_status = rs->status;
    if (rs->remaining >= 0) c->st.rate_remaining = rs->remaining;
    if (rs->reset >= 0) c->st.rate_reset = rs->reset;
    /* out of requests for this hour: nothing more until the window resets */
    if (rs->remaining == 0 && rs->reset > 0) pause_queue(c, reset_wait_ms(c, rs));

    /* a response that completed while closing is still judged (a POST may have created
     * the pull request); whatever would be sent next is canceled by the pump */
    if (rs->curlcode == CURLE_ABORTED_BY_CALLBACK) {
        finish(r, CPGO_GH_CANCELED, "canceled: the GitHub client or the HTTP client closed");
        return;
    }
    if (rs->curlcode != CURLE_OK) {
        const char *detail = rs->curl_err[0] ? rs->curl_err : curl_easy_strerror(rs->curlcode);
        cpgo_url_scrub(c->secrets, detail, strlen(detail), why, 201);
        switch (rs->curlcode) {
        case CURLE_WRITE_ERROR:
        case CURLE_FILESIZE_EXCEEDED:
            if (rs->over_limit || rs->curlcode == CURLE_FILESIZE_EXCEEDED)
                finish(r, CPGO_GH_BAD_RESPONSE, "response larger than the limit of %zu bytes",
                       c->lim.max_json_bytes);
            else
                finish(r, CPGO_GH_INTERNAL, "out of memory reading the response");
            return;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
            finish(r, CPGO_GH_CONFIG, "%s", why);
            return;
        case CURLE_OUT_OF_MEMORY: finish(r, CPGO_GH_INTERNAL, "%s", why); return;
        default: handle_ambiguous(r, rs, CPGO_GH_TRANSIENT, why); return;
        }
    }

    long st = rs->status;
    if (st >= 200 && st < 300) {
        handle_2xx(r, rs);
        return;
    }
    char msg[160];
    cpgo_gh_parse_message((const char *)rs->body, rs->len, c->secrets, msg, sizeof msg);
    snprintf(why, sizeof why, "HTTP %ld%s%s", st, msg[0] ? ": " : "", msg);

    if (st == 301 || st == 302 || st == 307 || st == 308) {
        if (!rs->location) {
            finish(r, CPGO_GH_HTTP, "HTTP %ld without a Location", st);
            return;
        }
        if (r->redirects >= GH_MAX_REDIRECTS) {
            finish(r, CPGO_GH_REDIRECT, "more than %d redirects", GH_MAX_REDIRECTS);
            return;
        }
        if (!same_api(c, rs->location)) {
            char whole[4096], masked[160]; /* masked and scrubbed whole, then cut */
            cpgo_url_mask(rs->location, whole, sizeof whole);
            cpgo_url_scrub(c->secrets, whole, strlen(whole), masked, sizeof masked);
            finish(r, CPGO_GH_REDIRECT,
                   "HTTP %ld redirect to %s refused: it leaves %s://%s (the token goes to the "
                   "API only)",
                   st, masked, c->api_scheme, c->api_host);
            return;
        }
        char *u = xstrdup(rs->location);
        if (!u) {
            finish(r, CPGO_GH_INTERNAL, "out of memory");
            return;
        }
        free(r->url);
        r->url = u;
        r->redirects++;
        push_front(c, r);
        return;
    }
    if (st == 401) {
        stop_client(c, msg[0] ? msg : "Bad credentials");
        finish(r, CPGO_GH_AUTH, "%s: all GitHub requests stopped; fix the token", why);
        return;
    }
    int limited = st == 429 || rs->retry_after_s >= 0 || (st == 403 && rs->remaining == 0) ||
                  (st == 403 && strcasestr(msg, "rate limit"));
    if ((st == 403 || st == 429) && limited) {
        c->st.rate_limited++;
        uint64_t wait;
        const char *kind;
        if (rs->retry_after_s >= 0) {
            wait = (uint64_t)rs->retry_after_s * 1000u + c->pace.reset_margin_ms;
            kind = "retry-after";
        } else if (rs->remaining == 0 && rs->reset > 0) {
            wait = reset_wait_ms(c, rs);
            kind = "primary";
        } else {
            /* a secondary limit without headers: at least the documented minute, then
             * doubling, with jitter on top */
            wait = c->pace.secondary_wait_ms;
            for (unsigned i = 0; i < c->secondary_streak && wait < c->pace.max_pause_ms; i++)
                wait *= 2;
            wait += rnd(c) % (c->pace.secondary_wait_ms / 4 + 1);
            c->secondary_streak++;
            kind = "secondary";
        }
        if (wait > c->pace.max_pause_ms) wait = c->pace.max_pause_ms;
        char ws[32];
        snprintf(ws, sizeof ws, "%llu", (unsigned long long)wait);
        cpgo_log(CPGO_LVL_WARN, "github rate limit: pausing GitHub requests", "repository",
                 r->repo, "kind", kind, "wait_ms", ws, NULL);
        retry(r, wait, CPGO_GH_RATE_LIMITED, why);
        return;
    }
    if (st == 403) {
        finish(r, CPGO_GH_FORBIDDEN, "%s", why);
        return;
    }
    if (st == 404) {
        finish(r, CPGO_GH_NOT_FOUND, "%s (no such repository or pull request, or the token "
               "cannot see it)", why);
        return;
    }
    if (st == 422) {
        finish(r, strcasestr(msg, "already exists") ? CPGO_GH_EXISTS : CPGO_GH_INVALID, "%s",
               why);
        return;
    }
    if (st >= 500) {
        handle_ambiguous(r, rs, CPGO_GH_TRANSIENT, why);
        return;
    }
    finish(r, CPGO_GH_HTTP, "%s", why);
}

/* Seconds to wait, capped at a day: the value is multiplied into milliseconds, and a huge
 * one must wait long (max_pause_ms caps it again), not wrap into "retry now". */
#define RETRY_AFTER_MAX_S 86400

static int64_t parse_retry_after(const char *v, int64_t date)
{
    if (!v) return -1;
    int64_t s = parse_int_header(v);
    if (s >= 0) return s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s;
    time_t t = curl_getdate(v, NULL); /* the HTTP-date form */
    if (t <= 0) return -1;
    int64_t now = date > 0 ? date : (int64_t)time(NULL);
    int64_t left = t > now ? (int64_t)t - now : 0;
    return left > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : left;
}

static void easy_done(void *easy, int curlcode, void *arg)
{
    struct gh_req *r = arg;
    struct cpgo_gh_client *c = r->c;
    CURL *e = easy;
    c->active = NULL;
    if (r->sent_mutation) {
        c->last_mutation_ms = now_ms();
        c->have_mutation = 1;
    }
    /* copy out what is needed, then let go of curl before any callback runs */
    struct gh_resp rs;
    memset(&rs, 0, sizeof rs);
    rs.curlcode = curlcode;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &rs.status);
    rs.remaining = parse_int_header(header(e, "x-ratelimit-remaining"));
    rs.reset = parse_int_header(header(e, "x-ratelimit-reset"));
    const char *d = header(e, "date");
    time_t dt = d ? curl_getdate(d, NULL) : -1;
    rs.date = dt > 0 ? (int64_t)dt : -1;
    rs.retry_after_s = parse_retry_after(header(e, "retry-after"), rs.date);
    const char *link = header(e, "link");
    if (link) rs.link = xstrdup(link);
    char *loc = NULL;
    if (curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
        rs.location = xstrdup(loc);
    rs.over_limit = r->over_limit;
    memcpy(rs.curl_err, r->errbuf, sizeof rs.curl_err);
    rs.curl_err[sizeof rs.curl_err - 1] = 0;
    curl_easy_cleanup(e);
    r->easy = NULL;
    free_headers(r->hdrs);
    r->hdrs = NULL;
    rs.body = cpgo_buf_steal(&r->body, &rs.len);
    if (cpgo_log_enabled(CPGO_LVL_DEBUG)) {
        char sts[24], rem[24];
        snprintf(sts, sizeof sts, "%ld", rs.status);
        snprintf(rem, sizeof rem, "%lld", (long long)rs.remaining);
        cpgo_log(CPGO_LVL_DEBUG, "github response", "repository", r->repo, "status", sts,
                 "ratelimit_remaining", rem, NULL);
    }
    handle(r, &rs);
    free(rs.body);
    free(rs.link);
    free(rs.location);
    pump(c);
}

/* ---- public -------------------------------------------------------------------------------- */

int cpgo_gh_client_new(uv_loop_t *loop, struct cpgo_scraper *scraper,
                       const struct cpgo_gh_opts *opts, struct cpgo_gh_client **out,
                       struct cpgo_err *err)
{
    *out = NULL;
    const char *api = opts->api_url ? opts->api_url : CPGO_GH_DEFAULT_API_URL;
    const char *tok = opts->token;
    if (!tok || !*tok) return cpgo_err_set(err, CPGO_E_USAGE, "github: no token");
    for (const char *p = tok; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 127)
            return cpgo_err_set(err, CPGO_E_USAGE,
                                "github: the token contains a control character (a newline?)");
    struct cpgo_gh_client *c = calloc(1, sizeof *c);
    if (!c) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    c->loop = loop;
    c->scraper = scraper;
    c->st.rate_remaining = c->st.rate_reset = -1;
    if (opts->limits) c->lim = *opts->limits;
    else cpgo_gh_limits_default(&c->lim);
    if (opts->pacing) c->pace = *opts->pacing;
    else cpgo_gh_pacing_default(&c->pace);
    if (!c->lim.per_page || c->lim.per_page > 100) c->lim.per_page = 100;
    if (!c->lim.max_pages) c->lim.max_pages = 1;
    if (!c->lim.max_json_bytes) c->lim.max_json_bytes = 4u << 20;
    c->token_len = strlen(tok);
    c->token = malloc(c->token_len + 1);
    size_t al = strlen(api);
    while (al && api[al - 1] == '/') al--;
    c->api_url = malloc(al + 1);
    if (!c->token || !c->api_url) goto nomem;
    memcpy(c->token, tok, c->token_len + 1);
    memcpy(c->api_url, api, al);
    c->api_url[al] = 0;
    if (!(c->secrets = cpgo_url_secrets_new()) || cpgo_url_secrets_add(c->secrets, tok))
        goto nomem;
    struct cpgo_url u;
    const char *why;
    if (cpgo_url_parse(c->api_url, &u, &why) || u.user || u.password || u.query ||
        (strcasecmp(u.scheme, "https") && !(strcasecmp(u.scheme, "http") == 0 &&
                                            is_loopback(u.host)))) {
        cpgo_url_free(&u); /* cpgo_url_parse leaves it empty when it fails */
        char masked[256];
        cpgo_url_mask(c->api_url, masked, sizeof masked);
        scrub(c, masked);
        cpgo_err_set(err, CPGO_E_USAGE,
                     "github: api_url %s is not an https URL without credentials (like "
                     "https://api.github.com or https://HOST/api/v3)",
                     masked);
        explicit_bzero(c->token, c->token_len);
        free(c->token);
        cpgo_url_secrets_unref(c->secrets);
        free(c->api_url);
        free(c);
        return CPGO_E_USAGE;
    }
    c->api_scheme = xstrdup(u.scheme);
    c->api_host = xstrdup(u.host);
    c->api_port = u.port;
    /* "/" for api.github.com, "/api/v3" for Enterprise: stored without the trailing '/' */
    size_t pl = strlen(u.path);
    while (pl && u.path[pl - 1] == '/') pl--;
    c->api_path = malloc(pl + 1);
    if (c->api_path) {
        memcpy(c->api_path, u.path, pl);
        c->api_path[pl] = 0;
    }
    cpgo_url_free(&u);
    if (!c->api_scheme || !c->api_host || !c->api_path) goto nomem;
    if (c->pace.max_mutations_per_hour) {
        c->mut_ring = calloc(c->pace.max_mutations_per_hour, sizeof *c->mut_ring);
        if (!c->mut_ring) goto nomem;
    }
    c->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15ull;
    if (!c->rng) c->rng = 1;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    *out = c;
    return 0;
nomem:
    if (c->token) explicit_bzero(c->token, c->token_len);
    free(c->token);
    cpgo_url_secrets_unref(c->secrets);
    free(c->api_url);
    free(c->api_scheme);
    free(c->api_host);
    free(c->api_path);
    free(c->mut_ring);
    free(c);
    return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
}

void cpgo_gh_client_close(struct cpgo_gh_client *c, void (*closed)(void *arg), void *arg)
{
    if (!c || c->closing) return;
    c->closing = 1;
    c->closed = closed;
    c->closed_arg = arg;
    if (c->active) c->active->abort = 1; /* curl's progress callback ends it */
    uv_timer_start(&c->timer, pump_cb, 0, 0);
}

void cpgo_gh_client_status(const struct cpgo_gh_client *c, struct cpgo_gh_status *st)
{
    *st = c->st;
    st->queued = c->nqueued + (c->active ? 1 : 0);
    uint64_t now = now_ms();
    st->paused_ms = c->not_before_ms > now ? c->not_before_ms - now : 0;
}

static struct gh_req *new_req(struct cpgo_gh_client *c, enum cpgo_gh_op op, const char *owner,
                              const char *repo, cpgo_gh_done_cb done, void *arg, int *rc)
{
    *rc = CPGO_E_USAGE;
    if (!c || c->closing || !done || !valid_name(owner) || !valid_name(repo)) return NULL;
    *rc = CPGO_E_LIMIT;
    if (c->nqueued + (c->active ? 1 : 0) >= c->lim.max_queued) return NULL;
    *rc = CPGO_E_NOMEM;
    struct gh_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->c = c;
    r->res.op = op;
    r->done = done;
    r->arg = arg;
    r->method = "GET";
    snprintf(r->repo, sizeof r->repo, "%s/%s", owner, repo);
    cpgo_buf_init(&r->body, c->lim.max_json_bytes);
    *rc = 0;
    return r;
}

static int submit(struct cpgo_gh_client *c, struct gh_req *r)
{
    if (!r->url) {
        free_req(r);
        return CPGO_E_NOMEM;
    }
    push_back(c, r);
    pump(c);
    return 0;
}

static char *list_url(struct cpgo_gh_client *c, const char *owner, const char *repo,
                      const char *state, const char *head_owner, const char *branch,
                      const char *base)
{
    char *label = xprintf("%s:%s", head_owner ? head_owner : owner, branch);
    char *eh = label ? pct_encode(label) : NULL;
    char *eb = base ? pct_encode(base) : NULL;
    char *url = NULL;
    if (eh && (!base || eb))
        url = xprintf("%s/repos/%s/%s/pulls?state=%s&head=%s%s%s&per_page=%u", c->api_url, owner,
                      repo, state, eh, base ? "&base=" : "", base ? eb : "", c->lim.per_page);
    free(label);
    free(eh);
    free(eb);
    return url;
}

int cpgo_gh_find_pr(struct cpgo_gh_client *c, const char *owner, const char *repo,
                    const char *head_owner, const char *head_branch, const char *base,
                    cpgo_gh_done_cb done, void *arg)
{
    if ((head_owner && !valid_name(head_owner)) || !valid_branch(head_branch) ||
        (base && !valid_branch(base)))
        return CPGO_E_USAGE;
    int rc;
    struct gh_req *r = new_req(c, CPGO_GH_OP_FIND, owner, repo, done, arg, &rc);
    if (!r) return rc;
    r->url = list_url(c, owner, repo, "all", head_owner, head_branch, base);
    return submit(c, r);
}

static int utf8_ok(const char *s)
{
    json_t *j = json_string(s); /* jansson validates UTF-8 */
    int ok = j != NULL;
    json_decref(j);
    return ok;
}

/* Builds {"k": v, ...} from pairs with NULL values skipped; NULL when out of memory. */
static char *json_payload(const char *const *kv, size_t n, int draft)
{
    json_t *o = json_object();
    if (!o) return NULL;
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (!kv[i + 1]) continue;
        if (json_object_set_new(o, kv[i], json_string(kv[i + 1]))) {
            json_decref(o);
            return NULL;
        }
    }
    if (draft && json_object_set_new(o, "draft", json_true())) {
        json_decref(o);
        return NULL;
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

int cpgo_gh_create_pr(struct cpgo_gh_client *c, const char *owner, const char *repo,
                      const struct cpgo_gh_new_pr *np, cpgo_gh_done_cb done, void *arg)
{
    if (!np || !np->title || !np->title[0] || !valid_branch(np->head_branch) ||
        !valid_branch(np->base) || (np->head_owner && !valid_name(np->head_owner)))
        return CPGO_E_USAGE;
    if (strlen(np->title) > CPGO_GH_MAX_TITLE || (np->body && strlen(np->body) > CPGO_GH_MAX_BODY))
        return CPGO_E_LIMIT;
    if (!utf8_ok(np->title) || (np->body && !utf8_ok(np->body)) || !utf8_ok(np->head_branch) ||
        !utf8_ok(np->base))
        return CPGO_E_INPUT;
    int rc;
    struct gh_req *r = new_req(c, CPGO_GH_OP_CREATE, owner, repo, done, arg, &rc);
    if (!r) return rc;
    int cross = np->head_owner && strcmp(np->head_owner, owner);
    char *head = cross ? xprintf("%s:%s", np->head_owner, np->head_branch)
                       : xstrdup(np->head_branch);
    const char *kv[] = {"title", np->title, "head", head, "base", np->base,
                        "body",  np->body ? np->body : ""};
    r->payload = head ? json_payload(kv, 8, np->draft) : NULL;
    free(head);
    r->method = "POST";
    r->create_url = xprintf("%s/repos/%s/%s/pulls", c->api_url, owner, repo);
    r->lookup_url = list_url(c, owner, repo, "open", np->head_owner, np->head_branch, np->base);
    r->url = r->create_url ? xstrdup(r->create_url) : NULL;
    if (!r->payload || !r->lookup_url) {
        free_req(r);
        return CPGO_E_NOMEM;
    }
    return submit(c, r);
}

int cpgo_gh_update_pr(struct cpgo_gh_client *c, const char *owner, const char *repo,
                      uint64_t number, const char *title, const char *body,
                      cpgo_gh_done_cb done, void *arg)
{
    if (!number || (!title && !body) || (title && !title[0])) return CPGO_E_USAGE;
    if ((title && strlen(title) > CPGO_GH_MAX_TITLE) || (body && strlen(body) > CPGO_GH_MAX_BODY))
        return CPGO_E_LIMIT;
    if ((title && !utf8_ok(title)) || (body && !utf8_ok(body))) return CPGO_E_INPUT;
    int rc;
    struct gh_req *r = new_req(c, CPGO_GH_OP_UPDATE, owner, repo, done, arg, &rc);
    if (!r) return rc;
    const char *kv[] = {"title", title, "body", body};
    r->payload = json_payload(kv, 4, 0);
    r->method = "PATCH";
    r->url = xprintf("%s/repos/%s/%s/pulls/%llu", c->api_url, owner, repo,
                     (unsigned long long)number);
    if (!r->payload) {
        free_req(r);
        return CPGO_E_NOMEM;
    }
    return submit(c, r);
}

int cpgo_gh_get_pr(struct cpgo_gh_client *c, const char *owner, const char *repo,
                   uint64_t number, cpgo_gh_done_cb done, void *arg)
{
    if (!number) return CPGO_E_USAGE;
    int rc;
    struct gh_req *r = new_req(c, CPGO_GH_OP_GET, owner, repo, done, arg, &rc);
    if (!r) return rc;
    r->url = xprintf("%s/repos/%s/%s/pulls/%llu", c->api_url, owner, repo,
                     (unsigned long long)number);
    return submit(c, r);
}
