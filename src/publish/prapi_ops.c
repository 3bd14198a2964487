/*
 * prapi_ops.c - the operations (find, create, update, get) as every forge shares them:
 * their arguments checked, a request made and handed to the client's dialect to build
 * (prapi_github.c, prapi_gitlab.c, prapi_gitea.c), then queued (prapi.c); the helpers the
 * dialects share; and cpgo's marker, which makes a pull request cpgo's on every forge.
 * Thread: the loop (the marker functions: any).
 */
#include "publish/prapi_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- the operations ------------------------------------------------------------------------ */

static int utf8_ok(const char *s)
{
    json_t *j = json_string(s); /* jansson validates UTF-8 */
    int ok = j != NULL;
    json_decref(j);
    return ok;
}

static int names_ok(const struct cpgo_prapi_names *v)
{
    if (v->n > CPGO_PRAPI_MAX_NAMES || (v->n && !v->v)) return 0;
    for (size_t i = 0; i < v->n; i++)
        if (!v->v[i] || !v->v[i][0] || strlen(v->v[i]) > PRAPI_MAX_BRANCH || !utf8_ok(v->v[i]))
            return 0;
    return 1;
}

static struct prapi_req *new_req(struct cpgo_prapi_client *c, enum cpgo_prapi_op op,
                                 const char *owner, const char *repo, cpgo_prapi_done_cb done,
                                 void *arg, int *rc)
{
    *rc = CPGO_E_USAGE;
    if (!c || c->closing || !done || !c->d->valid_owner(owner) || !prapi_valid_name(repo))
        return NULL;
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
    snprintf(r->owner, sizeof r->owner, "%s", owner);
    snprintf(r->name, sizeof r->name, "%s", repo);
    snprintf(r->repo, sizeof r->repo, "%s/%s", owner, repo);
    cpgo_buf_init(&r->body, c->lim.max_json_bytes);
    *rc = 0;
    return r;
}

/* Copies names into r: a NULL-terminated array of copies (NULL when there are none). */
static int copy_names(char ***out, size_t *n, const struct cpgo_prapi_names *v)
{
    *out = NULL;
    *n = 0;
    if (!v->n) return 0;
    char **a = calloc(v->n + 1, sizeof *a);
    if (!a) return CPGO_E_NOMEM;
    *out = a; /* freed with r, copied or not */
    for (size_t i = 0; i < v->n; i++)
        if (!(a[i] = prapi_xstrdup(v->v[i]))) return CPGO_E_NOMEM;
    *n = v->n;
    return 0;
}

/* Hands r to the dialect's builder and queues it: 0, or the builder's code (r freed). */
static int built(struct cpgo_prapi_client *c, struct prapi_req *r, int rc)
{
    if (rc) {
        prapi_free_req(r);
        return rc;
    }
    return prapi_submit(c, r);
}

int cpgo_prapi_find_pr(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                       const char *head_owner, const char *head_branch, const char *base,
                       cpgo_prapi_done_cb done, void *arg)
{
    if (!c || (head_owner && !c->d->valid_owner(head_owner)) || !prapi_valid_branch(head_branch) ||
        (base && !prapi_valid_branch(base)))
        return CPGO_E_USAGE;
    int rc;
    struct prapi_req *r = new_req(c, CPGO_PRAPI_OP_FIND, owner, repo, done, arg, &rc);
    if (!r) return rc;
    r->want_head = prapi_xstrdup(head_branch);
    r->want_base = base ? prapi_xstrdup(base) : NULL;
    if (!r->want_head || (base && !r->want_base)) return built(c, r, CPGO_E_NOMEM);
    return built(c, r, c->d->find(r, head_owner, head_branch, base));
}

int cpgo_prapi_create_pr(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                         const struct cpgo_prapi_new_pr *np, cpgo_prapi_done_cb done, void *arg)
{
    if (!c || !np || !np->title || !np->title[0] || !prapi_valid_branch(np->head_branch) ||
        !prapi_valid_branch(np->base) || (np->head_owner && !c->d->valid_owner(np->head_owner)))
        return CPGO_E_USAGE;
    if (strlen(np->title) > CPGO_PRAPI_MAX_TITLE ||
        (np->body && strlen(np->body) > CPGO_PRAPI_MAX_BODY))
        return CPGO_E_LIMIT;
    if (!utf8_ok(np->title) || (np->body && !utf8_ok(np->body)) || !utf8_ok(np->head_branch) ||
        !utf8_ok(np->base))
        return CPGO_E_INPUT;
    if (!names_ok(&np->labels) || !names_ok(&np->reviewers) || !names_ok(&np->assignees))
        return CPGO_E_USAGE;
    int rc;
    struct prapi_req *r = new_req(c, CPGO_PRAPI_OP_CREATE, owner, repo, done, arg, &rc);
    if (!r) return rc;
    r->want_head = prapi_xstrdup(np->head_branch);
    r->want_base = prapi_xstrdup(np->base);
    r->draft = np->draft;
    r->auto_merge = np->auto_merge;
    if (!r->want_head || !r->want_base || copy_names(&r->labels, &r->nlabels, &np->labels) ||
        copy_names(&r->reviewers, &r->nreviewers, &np->reviewers) ||
        copy_names(&r->assignees, &r->nassignees, &np->assignees))
        return built(c, r, CPGO_E_NOMEM);
    return built(c, r, c->d->create(r, np));
}

int cpgo_prapi_update_pr(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                         uint64_t number, const struct cpgo_prapi_edit *ed, cpgo_prapi_done_cb done,
                         void *arg)
{
    if (!c || !ed || !number || (!ed->title && !ed->body) || (ed->title && !ed->title[0]) ||
        !names_ok(&ed->labels))
        return CPGO_E_USAGE;
    if ((ed->title && strlen(ed->title) > CPGO_PRAPI_MAX_TITLE) ||
        (ed->body && strlen(ed->body) > CPGO_PRAPI_MAX_BODY))
        return CPGO_E_LIMIT;
    if ((ed->title && !utf8_ok(ed->title)) || (ed->body && !utf8_ok(ed->body))) return CPGO_E_INPUT;
    int rc;
    struct prapi_req *r = new_req(c, CPGO_PRAPI_OP_UPDATE, owner, repo, done, arg, &rc);
    if (!r) return rc;
    r->auto_merge = ed->auto_merge;
    if (copy_names(&r->labels, &r->nlabels, &ed->labels)) return built(c, r, CPGO_E_NOMEM);
    return built(c, r, c->d->update(r, number, ed));
}

int cpgo_prapi_get_pr(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                      uint64_t number, cpgo_prapi_done_cb done, void *arg)
{
    if (!c || !number) return CPGO_E_USAGE;
    int rc;
    struct prapi_req *r = new_req(c, CPGO_PRAPI_OP_GET, owner, repo, done, arg, &rc);
    if (!r) return rc;
    return built(c, r, c->d->get(r, number));
}
