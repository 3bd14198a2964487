/*
 * prapi_app.c - the two GitHub App operations the REST client runs for ghapp.c, with the
 * app's JWT as the client's token: the installation of a repository (GET
 * /repos/{owner}/{repo}/installation -> "id") and an installation token (POST
 * /app/installations/{id}/access_tokens -> 201 {"token", "expires_at"}). Each request
 * carries an on_2xx hook that parses its answer into the result; everything else (pacing,
 * 401/403/404/422/5xx, redirects, scrubbing) is the client's, as for pull requests.
 * The token's parser never quotes the response: it holds a secret.
 * Thread: the loop (the parsers: any).
 */
#define _GNU_SOURCE /* timegm */
#include "publish/prapi_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define APP_MAX_TOKEN 1024 /* GitHub's tokens are 40 bytes today; leave room to grow */

/* Same rule as prapi_github.c: GitHub owner and repository names. */
static int app_valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > PRAPI_MAX_NAME || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-') return 0;
    return 1;
}

/* RFC 3339 as GitHub writes it ("2016-07-11T22:14:10Z"; fractions and offsets accepted):
 * epoch seconds, or -1. */
static int64_t rfc3339(const char *s)
{
    int y, mo, d, h, mi, se, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || !n)
        return -1;
    const char *p = s + n;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59)
            return -1;
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = se};
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t - off;
}

static json_t *load_object(const struct prapi_resp *rs, char *why, size_t cap)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)rs->body, rs->len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        /* jansson's text may quote the body: line and column only */
        snprintf(why, cap, "HTTP %ld: the answer is not JSON (line %d, column %d)", rs->status,
                 je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(why, cap, "HTTP %ld: the answer is not a JSON object", rs->status);
        return NULL;
    }
    return j;
}

static void installation_2xx(struct prapi_req *r, const struct prapi_resp *rs)
{
    char why[160];
    json_t *j = load_object(rs, why, sizeof why);
    if (!j) {
        prapi_finish(r, CPGO_CLASS_BAD_RESPONSE, "%s", why);
        return;
    }
    json_t *id = json_object_get(j, "id");
    if (!json_is_integer(id) || json_integer_value(id) <= 0) {
        json_decref(j);
        prapi_finish(r, CPGO_CLASS_BAD_RESPONSE, "HTTP %ld: no positive integer \"id\"",
                     rs->status);
        return;
    }
    r->res.installation_id = (uint64_t)json_integer_value(id);
    json_decref(j);
    prapi_finish(r, CPGO_CLASS_OK, "%s", "");
}

static void token_2xx(struct prapi_req *r, const struct prapi_resp *rs)
{
    char why[160];
    json_t *j = load_object(rs, why, sizeof why);
    if (!j) {
        prapi_finish(r, CPGO_CLASS_BAD_RESPONSE, "%s", why);
        return;
    }
    json_t *tok = json_object_get(j, "token"), *exp = json_object_get(j, "expires_at");
    const char *t = json_string_value(tok);
    size_t tl = t ? json_string_length(tok) : 0;
    int64_t e = json_is_string(exp) ? rfc3339(json_string_value(exp)) : -1;
    const char *bad = NULL;
    if (!t || !tl || tl > APP_MAX_TOKEN || strlen(t) != tl)
        bad = "no \"token\" string (or an empty or oversized one)";
    for (size_t i = 0; !bad && i < tl; i++)
        if ((unsigned char)t[i] <= ' ' || t[i] == 127) bad = "a \"token\" with control characters";
    if (!bad && e < 0) bad = "no RFC 3339 \"expires_at\"";
    if (!bad && !(r->res.token = prapi_xstrdup(t))) bad = "out of memory";
    /* jansson's copy of the token is freed with the tree: zero it first */
    if (t) explicit_bzero((char *)t, tl);
    json_decref(j);
    if (bad) {
        prapi_finish(
            r, strcmp(bad, "out of memory") ? CPGO_CLASS_BAD_RESPONSE : CPGO_CLASS_INTERNAL_RETRY,
            "HTTP %ld: %s", rs->status, bad);
        return;
    }
    r->res.expires_at = e;
    r->res.server_date = rs->date;
    prapi_finish(r, CPGO_CLASS_OK, "%s", "");
}

static struct prapi_req *app_req(struct cpgo_prapi_client *c, enum cpgo_prapi_op op,
                                 const char *label, cpgo_prapi_done_cb done, void *arg, int *rc)
{
    *rc = CPGO_E_USAGE;
    if (!c || c->closing || !done) return NULL;
    *rc = CPGO_E_LIMIT;
    if (c->waiting.len + (c->active ? 1 : 0) >= c->lim.max_queued) return NULL;
    *rc = CPGO_E_NOMEM;
    struct prapi_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->c = c;
    r->res.op = op;
    r->res.server_date = -1;
    r->done = done;
    r->arg = arg;
    r->method = "GET";
    snprintf(r->repo, sizeof r->repo, "%s", label);
    cpgo_buf_init(&r->body, c->lim.max_json_bytes);
    *rc = 0;
    return r;
}

int cpgo_prapi_app_installation(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                                cpgo_prapi_done_cb done, void *arg)
{
    if (!app_valid_name(owner) || !app_valid_name(repo)) return CPGO_E_USAGE;
    char label[2 * PRAPI_MAX_NAME + 2];
    snprintf(label, sizeof label, "%s/%s", owner, repo);
    int rc;
    struct prapi_req *r = app_req(c, CPGO_PRAPI_OP_APP_INSTALLATION, label, done, arg, &rc);
    if (!r) return rc;
    r->on_2xx = installation_2xx;
    r->url = prapi_xprintf("%s/repos/%s/%s/installation", c->api_url, owner, repo);
    return prapi_submit(c, r);
}

int cpgo_prapi_app_token(struct cpgo_prapi_client *c, uint64_t installation_id,
                         cpgo_prapi_done_cb done, void *arg)
{
    if (!installation_id || installation_id > (uint64_t)INT64_MAX) return CPGO_E_USAGE;
    char label[48];
    snprintf(label, sizeof label, "app installation %llu", (unsigned long long)installation_id);
    int rc;
    struct prapi_req *r = app_req(c, CPGO_PRAPI_OP_APP_TOKEN, label, done, arg, &rc);
    if (!r) return rc;
    r->on_2xx = token_2xx;
    r->method = "POST";
    r->payload = prapi_xstrdup("{}"); /* no narrowing: the installation's own permissions */
    r->url = prapi_xprintf("%s/app/installations/%llu/access_tokens", c->api_url,
                           (unsigned long long)installation_id);
    if (!r->payload) {
        prapi_free_req(r);
        return CPGO_E_NOMEM;
    }
    return prapi_submit(c, r);
}
