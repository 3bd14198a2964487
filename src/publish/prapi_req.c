/*
 * prapi_req.c - an operation's life in the pull-request API client, below everything else in it:
 * the queue (a FIFO: new operations at the tail, retries, redirects and next pages at the
 * head), the one callback that ends each operation with its error line built, scrubbed of
 * the token, and the small helpers the client's files share. Calls nothing of the other
 * github files but the parsers (prapi_parse.c). Thread: the loop.
 */
#include "publish/prapi_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

static const char *op_name(enum cpgo_prapi_op op)
{
    switch (op) {
    case CPGO_PRAPI_OP_FIND:
        return "find pull request";
    case CPGO_PRAPI_OP_CREATE:
        return "create pull request";
    case CPGO_PRAPI_OP_UPDATE:
        return "update pull request";
    case CPGO_PRAPI_OP_APP_INSTALLATION:
        return "find the app's installation";
    case CPGO_PRAPI_OP_APP_TOKEN:
        return "mint an installation token";
    default:
        return "get pull request";
    }
}

/* ---- small helpers ----------------------------------------------------------------------- */

uint64_t prapi_now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

char *prapi_xprintf(const char *fmt, ...)
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

char *prapi_xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

/* Scrubs the token, in every form, from s (NUL-terminated, in place). Text a server sent
 * is scrubbed where it is read, before any cut (cpgo_prapi_parse_message); this is for lines
 * built from other things. */
void prapi_scrub(const struct cpgo_prapi_client *c, char *s)
{
    size_t n = strlen(s);
    cpgo_url_scrub(c->secrets, s, n, s, n + 1);
}

/* ---- the queue ----------------------------------------------------------------------------- */

void prapi_free_req(struct prapi_req *r)
{
    free(r->url);
    free(r->payload);
    free(r->create_url);
    free(r->lookup_url);
    free(r->want_head);
    free(r->want_base);
    char **lists[3] = {r->labels, r->reviewers, r->assignees};
    for (int i = 0; i < 3; i++) {
        for (char **p = lists[i]; p && *p; p++)
            free(*p);
        free(lists[i]);
    }
    if (r->c && r->c->d->free_state) r->c->d->free_state(r);
    cpgo_buf_free(&r->body);
    cpgo_prapi_pr_free(&r->res.pr);
    if (r->res.token) explicit_bzero(r->res.token, strlen(r->res.token));
    free(r->res.token);
    free(r);
}

void prapi_push_back(struct cpgo_prapi_client *c, struct prapi_req *r)
{
    cpgo_list_push_tail(&c->waiting, &r->link);
}

void prapi_push_front(struct cpgo_prapi_client *c, struct prapi_req *r)
{
    cpgo_list_push_head(&c->waiting, &r->link);
}

struct prapi_req *prapi_pop(struct cpgo_prapi_client *c)
{
    return CPGO_LIST_DATA(cpgo_list_pop_head(&c->waiting), struct prapi_req, link);
}

struct prapi_req *prapi_peek(const struct cpgo_prapi_client *c)
{
    return CPGO_LIST_DATA(cpgo_list_head(&c->waiting), struct prapi_req, link);
}

/* Ends an operation: the one callback, then the request is freed. An optional step that
 * fails (any class: its operation has already done what it is for) becomes a warning,
 * and the operation goes on with its next step. */
void prapi_finish(struct prapi_req *r, enum cpgo_class cls, const char *fmt, ...)
{
    struct cpgo_prapi_client *c = r->c;
    if (r->optional && cls != CPGO_CLASS_OK) {
        char why[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        prapi_warn(r, r->step, why);
        cpgo_log(CPGO_LVL_WARN, "pull request option not applied", "repository", r->repo, "step",
                 r->step, "error", r->res.warning, NULL);
        r->optional = 0;
        prapi_advance(r);
        return;
    }
    r->res.cls = cls;
    r->res.error[0] = 0;
    if (cls != CPGO_CLASS_OK) {
        int n = snprintf(r->res.error, sizeof r->res.error, "%s %s: %s: ", c->d->tag, r->repo,
                         op_name(r->res.op));
        if (n > 0 && (size_t)n < sizeof r->res.error) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->res.error + n, sizeof r->res.error - (size_t)n, fmt, ap);
            va_end(ap);
        }
        for (char *p = r->res.error; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
        prapi_scrub(c, r->res.error);
        cpgo_prapi_pr_free(&r->res.pr);
        r->res.found = 0;
        if (cpgo_log_enabled(CPGO_LVL_DEBUG))
            cpgo_log(CPGO_LVL_DEBUG, "pull request operation failed", "repository", r->repo,
                     "class", cpgo_class_name(cls), "error", r->res.error, NULL);
    } else if (r->res.pr.html_url) {
        prapi_scrub(c, r->res.pr.html_url); /* logged and shown in /status: a server's text too */
    }
    r->done(&r->res, r->arg);
    prapi_free_req(r);
}

void prapi_advance(struct prapi_req *r)
{
    struct cpgo_prapi_client *c = r->c;
    r->optional = 0;
    r->step[0] = 0;
    int n = c->d->next ? c->d->next(r) : 0;
    if (n < 0) {
        prapi_finish(r, CPGO_CLASS_INTERNAL_RETRY, "out of memory");
        return;
    }
    if (n == 0) {
        prapi_finish(r, CPGO_CLASS_OK, "%s", "");
        return;
    }
    r->pages = r->redirects = r->retries = 0;
    r->in_lookup = 0;
    prapi_push_front(c, r);
}

/* ---- the dialects' shared helpers ---------------------------------------------------------- */

const char *cpgo_prapi_forge_name(enum cpgo_prapi_forge f)
{
    switch (f) {
    case CPGO_PRAPI_GITLAB:
        return "GitLab";
    case CPGO_PRAPI_GITEA:
        return "Gitea";
    default:
        return "GitHub";
    }
}

/* GitHub owner and repository names: letters, digits, '.', '_', '-'; never "." or "..". */
int prapi_valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > PRAPI_MAX_NAME || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-') return 0;
    return 1;
}

int prapi_valid_branch(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > PRAPI_MAX_BRANCH) return 0;
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || *s == 127) return 0;
    return 1;
}

char *prapi_escape(const char *s)
{
    /* libcurl keeps RFC 3986's unreserved bytes, the rest becomes %XX ('/' too) */
    char *e = curl_easy_escape(NULL, s, 0);
    char *d = e ? prapi_xstrdup(e) : NULL;
    curl_free(e);
    return d;
}

int prapi_set_request(struct prapi_req *r, const char *method, char *url, char *payload,
                      enum prapi_expect expect)
{
    if (!url || (strcmp(method, "GET") && !payload)) {
        free(url);
        free(payload);
        return CPGO_E_NOMEM;
    }
    free(r->url);
    free(r->payload);
    r->url = url;
    r->payload = payload;
    r->method = method;
    r->expect = expect;
    r->pages = r->redirects = r->retries = 0;
    return 0;
}

void prapi_warn(struct prapi_req *r, const char *what, const char *why)
{
    char *w = r->res.warning;
    size_t cap = sizeof r->res.warning, o = strlen(w);
    if (o + 8 >= cap) return;
    int n = snprintf(w + o, cap - o, "%s%s: %s", o ? "; " : "", what, why);
    if (n < 0 || (size_t)n >= cap - o) memcpy(w + cap - 4, "...", 4);
    for (char *p = w; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    prapi_scrub(r->c, w);
}

int prapi_judge_default(struct prapi_req *r, long st, const char *msg, enum cpgo_class *cls)
{
    (void)r;
    if (st == 403)
        *cls = CPGO_CLASS_FORBIDDEN;
    else if (st == 404)
        *cls = CPGO_CLASS_NOT_FOUND;
    else if (st == 422)
        *cls = strstr(msg, "already exists") ? CPGO_CLASS_EXISTS : CPGO_CLASS_INVALID;
    else
        *cls = CPGO_CLASS_HTTP;
    return 0;
}
