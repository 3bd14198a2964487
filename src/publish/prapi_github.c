/*
 * prapi_github.c - the pull-request operations (find, create, update, get): their arguments
 * checked, URLs built with query values escaped by libcurl, JSON payloads built by
 * jansson, then queued (prapi.c); and cpgo's marker, which makes a pull request cpgo's.
 * Thread: the loop (the marker functions: any).
 */
#include "publish/prapi_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GitHub owner and repository names: letters, digits, '.', '_', '-'; never "." or "..". */
static int valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > PRAPI_MAX_NAME || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-') return 0;
    return 1;
}

static int valid_branch(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > PRAPI_MAX_BRANCH) return 0;
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || *s == 127) return 0;
    return 1;
}

/* ---- the marker -------------------------------------------------------------------------- */

int cpgo_prapi_marker(const char *target_key, char *buf, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    const char *pre = CPGO_PRAPI_MARKER_PREFIX, *suf = CPGO_PRAPI_MARKER_SUFFIX;
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

size_t cpgo_prapi_marker_size(const char *target_key)
{
    /* every key byte takes at most 3 ("%XX") */
    return strlen(CPGO_PRAPI_MARKER_PREFIX) + 3 * (target_key ? strlen(target_key) : 0) +
           strlen(CPGO_PRAPI_MARKER_SUFFIX) + 1;
}

int cpgo_prapi_body_has_marker(const char *body, const char *target_key)
{
    if (!body) return 0;
    if (!target_key) return strstr(body, CPGO_PRAPI_MARKER_PREFIX) != NULL;
    size_t cap = cpgo_prapi_marker_size(target_key);
    char small[512], *m = cap <= sizeof small ? small : malloc(cap);
    if (!m) return 0;
    int found = cpgo_prapi_marker(target_key, m, cap) >= 0 && strstr(body, m) != NULL;
    if (m != small) free(m);
    return found;
}

static struct prapi_req *new_req(struct cpgo_prapi_client *c, enum cpgo_prapi_op op, const char *owner,
                              const char *repo, cpgo_prapi_done_cb done, void *arg, int *rc)
{
    *rc = CPGO_E_USAGE;
    if (!c || c->closing || !done || !valid_name(owner) || !valid_name(repo)) return NULL;
    *rc = CPGO_E_LIMIT;
    if (c->waiting.len + (c->active ? 1 : 0) >= c->lim.max_queued) return NULL;
    *rc = CPGO_E_NOMEM;
    struct prapi_req *r = calloc(1, sizeof *r);
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

static char *list_url(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                      const char *state, const char *head_owner, const char *branch,
                      const char *base)
{
    /* query values: libcurl keeps RFC 3986's unreserved bytes, the rest becomes %XX */
    char *label = prapi_xprintf("%s:%s", head_owner ? head_owner : owner, branch);
    char *eh = label ? curl_easy_escape(NULL, label, 0) : NULL;
    char *eb = base ? curl_easy_escape(NULL, base, 0) : NULL;
    char *url = NULL;
    if (eh && (!base || eb))
        url = prapi_xprintf("%s/repos/%s/%s/pulls?state=%s&head=%s%s%s&per_page=%u", c->api_url,
                             owner, repo, state, eh, base ? "&base=" : "", base ? eb : "",
                             c->lim.per_page);
    free(label);
    curl_free(eh);
    curl_free(eb);
    return url;
}

int cpgo_prapi_find_pr(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                    const char *head_owner, const char *head_branch, const char *base,
                    cpgo_prapi_done_cb done, void *arg)
{
    if ((head_owner && !valid_name(head_owner)) || !valid_branch(head_branch) ||
        (base && !valid_branch(base)))
        return CPGO_E_USAGE;
    int rc;
    struct prapi_req *r = new_req(c, CPGO_PRAPI_OP_FIND, owner, repo, done, arg, &rc);
    if (!r) return rc;
    r->url = list_url(c, owner, repo, "all", head_owner, head_branch, base);
    return prapi_submit(c, r);
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

int cpgo_prapi_create_pr(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                      const struct cpgo_prapi_new_pr *np, cpgo_prapi_done_cb done, void *arg)
{
    if (!np || !np->title || !np->title[0] || !valid_branch(np->head_branch) ||
        !valid_branch(np->base) || (np->head_owner && !valid_name(np->head_owner)))
        return CPGO_E_USAGE;
    if (strlen(np->title) > CPGO_PRAPI_MAX_TITLE || (np->body && strlen(np->body) > CPGO_PRAPI_MAX_BODY))
        return CPGO_E_LIMIT;
    if (!utf8_ok(np->title) || (np->body && !utf8_ok(np->body)) || !utf8_ok(np->head_branch) ||
        !utf8_ok(np->base))
        return CPGO_E_INPUT;
    int rc;
    struct prapi_req *r = new_req(c, CPGO_PRAPI_OP_CREATE, owner, repo, done, arg, &rc);
    if (!r) return rc;
    int cross = np->head_owner && strcmp(np->head_owner, owner);
    char *head = cross ? prapi_xprintf("%s:%s", np->head_owner, np->head_branch)
                       : prapi_xstrdup(np->head_branch);
    const char *kv[] = {"title", np->title, "head", head,
                        "base",  np->base,  "body", np->body ? np->body : ""};
    r->payload = head ? json_payload(kv, 8, np->draft) : NULL;
    free(head);
    r->method = "POST";
    r->create_url = prapi_xprintf("%s/repos/%s/%s/pulls", c->api_url, owner, repo);
    r->lookup_url = list_url(c, owner, repo, "open", np->head_owner, np->head_branch, np->base);
    r->url = r->create_url ? prapi_xstrdup(r->create_url) : NULL;
    if (!r->payload || !r->lookup_url) {
        prapi_free_req(r);
        return CPGO_E_NOMEM;
    }
    return prapi_submit(c, r);
}

int cpgo_prapi_update_pr(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                      uint64_t number, const char *title, const char *body, cpgo_prapi_done_cb done,
                      void *arg)
{
    if (!number || (!title && !body) || (title && !title[0])) return CPGO_E_USAGE;
    if ((title && strlen(title) > CPGO_PRAPI_MAX_TITLE) || (body && strlen(body) > CPGO_PRAPI_MAX_BODY))
        return CPGO_E_LIMIT;
    if ((title && !utf8_ok(title)) || (body && !utf8_ok(body))) return CPGO_E_INPUT;
    int rc;
    struct prapi_req *r = new_req(c, CPGO_PRAPI_OP_UPDATE, owner, repo, done, arg, &rc);
    if (!r) return rc;
    const char *kv[] = {"title", title, "body", body};
    r->payload = json_payload(kv, 4, 0);
    r->method = "PATCH";
    r->url = prapi_xprintf("%s/repos/%s/%s/pulls/%llu", c->api_url, owner, repo,
                            (unsigned long long)number);
    if (!r->payload) {
        prapi_free_req(r);
        return CPGO_E_NOMEM;
    }
    return prapi_submit(c, r);
}

int cpgo_prapi_get_pr(struct cpgo_prapi_client *c, const char *owner, const char *repo, uint64_t number,
                   cpgo_prapi_done_cb done, void *arg)
{
    if (!number) return CPGO_E_USAGE;
    int rc;
    struct prapi_req *r = new_req(c, CPGO_PRAPI_OP_GET, owner, repo, done, arg, &rc);
    if (!r) return rc;
    r->url = prapi_xprintf("%s/repos/%s/%s/pulls/%llu", c->api_url, owner, repo,
                            (unsigned long long)number);
    return prapi_submit(c, r);
}
