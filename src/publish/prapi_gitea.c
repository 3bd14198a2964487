/*
 * prapi_gitea.c - the Gitea / Forgejo dialect of the pull-request API client (prapi_int.h,
 * struct prapi_dialect): REST API v1 at https://HOST/api/v1, as go-gitea/gitea describes it
 * in routers/api/v1/repo/pull.go (its swagger comments) and the official Go client
 * code.gitea.io/sdk/gitea (v0.25.1) uses it:
 *   - auth: "Authorization: token <t>" (sdk client.go doRequest);
 *   - find: GET /repos/{o}/{r}/pulls/{base}/{head} (sdk pull.go GetPullRequestByBaseHead,
 *     Gitea >= 1.22). Gitea answers the first pull request of that pair in any state
 *     (models/issues GetPullRequestByBaseHeadInfo has no ORDER BY), so only an open answer
 *     ends the search; a closed one, or a 404 (no such pull request, or a Gitea older than
 *     1.22 without the route), falls back to the list GET /repos/{o}/{r}/pulls?state=all
 *     (sdk ListRepoPullRequests: page, limit; newest first), which Gitea does not filter
 *     by head: the shared code keeps the entries whose head.ref (and base.ref) match
 *     (a fork's head written "owner:branch", see normalize_pr);
 *   - create: POST /repos/{o}/{r}/pulls {head, base, title, body} (sdk
 *     CreatePullRequestOption) -> 201. A draft is a title starting "WIP: " (Gitea's
 *     WORK_IN_PROGRESS_PREFIXES; the API has no draft field to set); a title is cut to
 *     Gitea's 255 characters rather than refused. An open pull request
 *     for the same head and base makes Gitea answer 409 "pull request already exists for
 *     these targets [...]": CPGO_CLASS_EXISTS, the caller looks it up. An ambiguous failure
 *     of the POST is followed by a lookup in the list of open ones, never a blind second
 *     POST (and Gitea's 409 would refuse a duplicate anyway);
 *   - then the options, each an optional step (a failure is a warning):
 *       labels: Gitea takes label IDs, so the names are looked up in the repository's
 *         labels (sdk ListRepoLabels, GET /repos/{o}/{r}/labels, paged) and then, for names
 *         still missing, the organisation's (sdk ListOrgLabels, GET /orgs/{o}/labels; a 404
 *         there means the owner is a user), and the IDs found are added (sdk
 *         AddIssueLabels, POST /repos/{o}/{r}/issues/{n}/labels {"labels": [ids]}); a name
 *         found nowhere is reported, never created;
 *       assignees: PATCH /repos/{o}/{r}/pulls/{n} {"assignees": [...]} (sdk
 *         EditPullRequestOption; answered 201 with the pull request, whose assignees are
 *         compared with what was asked: Gitea ignores them without write access);
 *       reviewers: POST /repos/{o}/{r}/pulls/{n}/requested_reviewers {"reviewers": [...]}
 *         (sdk CreateReviewRequests);
 *       auto-merge: the repository's default_merge_style read (GET /repos/{o}/{r}, sdk
 *         repo.go Repository), then POST /repos/{o}/{r}/pulls/{n}/merge {"Do": that style,
 *         "merge_when_checks_succeed": true, "head_commit_id": head sha} (sdk
 *         MergePullRequestOption): 201 scheduled, 200 merged at once (checks already
 *         green), 405 not allowed / work in progress, 409 already scheduled or head moved;
 *     assignees and reviewers are not sent with the POST because an unknown user there
 *     fails the whole creation (422);
 *   - update: PATCH /repos/{o}/{r}/pulls/{n} {title, body} -> 201 (sic). A draft stays a
 *     draft: when a title is given, the pull request is read first and its "WIP:" prefix
 *     kept. Labels are left as they are (a person may have removed one; prapi.h);
 *   - get: GET /repos/{o}/{r}/pulls/{n};
 *   - answers: the GitHub-shaped pull request JSON the shared parser reads, once its times
 *     are made UTC (Gitea writes them in the server's zone, "+02:00"), `draft` is set
 *     from the title where an older Gitea does not send it, and head.ref is taken from
 *     head.label (the branch's name; head.ref is "refs/pull/N/head" once the branch is
 *     deleted); errors {"message", "url"}.
 * Gitea sends no rate-limit headers of its own; a 429 with Retry-After (a proxy, Forgejo's
 * limiter) is honoured by the shared code. Forgejo keeps these endpoints (not verified
 * against a Forgejo server here).
 * Thread: the loop.
 */
#include "publish/prapi_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define GT_MAX_LIMIT 50 /* Gitea's default MAX_RESPONSE_ITEMS: a larger limit is cut to it */
#define GT_DRAFT_PREFIX "WIP: "
#define GT_MAX_TITLE 255 /* characters: binding:"Required;MaxSize(255)" on the title */

enum {
    ST_MAIN,        /* the operation's first request */
    ST_FIND_LIST,   /* FIND: the list, after the by-base-head answer */
    ST_UPD_PATCH,   /* UPDATE: the PATCH, after the pull request was read */
    ST_LABELS_REPO, /* CREATE, optional steps from here on */
    ST_LABELS_ORG,
    ST_LABELS_ADD,
    ST_ASSIGNEES,
    ST_REVIEWERS,
    ST_MERGE_STYLE,
    ST_AUTO_MERGE,
    ST_END,
};

/* What a multi-request operation keeps between its requests (r->dstate). */
struct gt_state {
    int64_t *label_id;  /* CREATE: by r->labels index; 0 = not found (yet) */
    char *next_url;     /* the next page of labels (Link rel="next"), within the API */
    unsigned pages;     /* label pages read in this stage */
    int pending;        /* a label lookup was sent and has not answered 2xx */
    int lookup_failed;  /* a label lookup failed: missing names are not reported as such */
    char *title, *body; /* UPDATE: the edit, copied */
    int has_title, has_body;
    char merge_style[24]; /* CREATE: the repository's default_merge_style, "" = unknown */
};

static struct gt_state *state_of(struct prapi_req *r)
{
    if (!r->dstate) r->dstate = calloc(1, sizeof(struct gt_state));
    return r->dstate;
}

static void gt_free_state(struct prapi_req *r)
{
    struct gt_state *s = r->dstate;
    if (!s) return;
    free(s->label_id);
    free(s->next_url);
    free(s->title);
    free(s->body);
    free(s);
    r->dstate = NULL;
}

static int gt_headers(const struct cpgo_prapi_client *c, struct curl_slist **l)
{
    size_t alen = c->token_len + 32;
    char *auth = malloc(alen);
    if (!auth) return -1;
    /* the form Gitea documents and its Go client sends ("Bearer" works since 1.8 too) */
    snprintf(auth, alen, "Authorization: token %s", c->token);
    struct curl_slist *n = curl_slist_append(*l, auth);
    explicit_bzero(auth, alen);
    free(auth);
    if (!n) return -1;
    *l = n;
    if (!(n = curl_slist_append(*l, "Accept: application/json"))) return -1;
    *l = n;
    return 0;
}

static int has_wip(const char *title)
{
    /* Gitea's default WORK_IN_PROGRESS_PREFIXES, compared case-insensitively */
    return !strncasecmp(title, "WIP:", 4) || !strncasecmp(title, "[WIP]", 5);
}

/* The title as Gitea takes it: "WIP: " in front for a draft (unless it has a WIP prefix
 * already), cut to GT_MAX_TITLE characters on a character boundary (the input is UTF-8:
 * prapi_ops.c checked it), since a longer one would fail the whole request with 422.
 * NULL when out of memory. */
static char *gitea_title(const char *title, int draft)
{
    char *t = draft && !has_wip(title) ? prapi_xprintf(GT_DRAFT_PREFIX "%s", title)
                                       : prapi_xstrdup(title);
    if (!t) return NULL;
    size_t chars = 0, i = 0;
    for (; t[i]; i++) {
        if (((unsigned char)t[i] & 0xC0) == 0x80) continue; /* a continuation byte */
        if (chars == GT_MAX_TITLE) break;
        chars++;
    }
    t[i] = 0;
    return t;
}

/* Each '/'-separated segment escaped, the slashes kept: a branch as the last, open-ended
 * part of a path (sdk pull.go pathEscapeSegments). NULL when out of memory. */
static char *escape_segments(const char *s)
{
    size_t n = strlen(s), o = 0, cap = 3 * n + 1;
    char *out = malloc(cap);
    if (!out) return NULL;
    const char *p = s;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        char *seg = prapi_xprintf("%.*s", (int)len, p);
        char *e = seg ? prapi_escape(seg) : NULL;
        free(seg);
        if (!e) {
            free(out);
            return NULL;
        }
        size_t el = strlen(e);
        memcpy(out + o, e, el); /* an escaped byte takes at most 3 */
        o += el;
        free(e);
        if (!slash) break;
        out[o++] = '/';
        p = slash + 1;
    }
    out[o] = 0;
    return out;
}

static unsigned page_limit(const struct cpgo_prapi_client *c)
{
    unsigned n = c->lim.per_page;
    return n == 0 || n > GT_MAX_LIMIT ? GT_MAX_LIMIT : n;
}

/* The list of pull requests, newest first; filtered by base where Gitea can (base_branch,
 * recent versions; older ones ignore it and the shared code filters). */
static char *list_url(struct prapi_req *r, const char *state, const char *base)
{
    struct cpgo_prapi_client *c = r->c;
    char *eb = base ? prapi_escape(base) : NULL;
    char *url = NULL;
    if (!base || eb)
        url = prapi_xprintf("%s/repos/%s/%s/pulls?state=%s%s%s&page=1&limit=%u", c->api_url,
                            r->owner, r->name, state, base ? "&base_branch=" : "", base ? eb : "",
                            page_limit(c));
    free(eb);
    return url;
}

static char *pr_url(const struct prapi_req *r, uint64_t number, const char *tail)
{
    return prapi_xprintf("%s/repos/%s/%s/pulls/%llu%s", r->c->api_url, r->owner, r->name,
                         (unsigned long long)number, tail);
}

/* A list keeps the pull requests whose head.ref is r->want_head; normalize_pr writes a
 * head in another repository as "owner:branch", so that is what a find or a lookup for
 * another owner's head wants. 0, or -1 when out of memory. */
static int want_cross(struct prapi_req *r, const char *owner_branch)
{
    char *w = prapi_xstrdup(owner_branch);
    if (!w) return -1;
    free(r->want_head);
    r->want_head = w;
    return 0;
}

static int to_list(struct prapi_req *r)
{
    r->stage = ST_FIND_LIST;
    return prapi_set_request(r, "GET", list_url(r, "all", r->want_base), NULL, PRAPI_X_LIST);
}

static int gt_find(struct prapi_req *r, const char *head_owner, const char *head_branch,
                   const char *base)
{
    r->stage = ST_MAIN;
    int cross = head_owner && strcmp(head_owner, r->owner);
    char *head =
        cross ? prapi_xprintf("%s:%s", head_owner, head_branch) : prapi_xstrdup(head_branch);
    if (!head || (cross && want_cross(r, head))) {
        free(head);
        return CPGO_E_NOMEM;
    }
    if (!base) { /* the direct route needs the base */
        free(head);
        return to_list(r);
    }
    char *eh = head ? escape_segments(head) : NULL;
    char *eb = prapi_escape(base);
    char *url = eh && eb ? prapi_xprintf("%s/repos/%s/%s/pulls/%s/%s", r->c->api_url, r->owner,
                                         r->name, eb, eh)
                         : NULL;
    free(head);
    free(eh);
    free(eb);
    return prapi_set_request(r, "GET", url, NULL, PRAPI_X_PR);
}

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

static int gt_create(struct prapi_req *r, const struct cpgo_prapi_new_pr *np)
{
    struct cpgo_prapi_client *c = r->c;
    struct gt_state *s = state_of(r);
    if (!s) return CPGO_E_NOMEM;
    if (r->nlabels && !(s->label_id = calloc(r->nlabels, sizeof *s->label_id))) return CPGO_E_NOMEM;
    int cross = np->head_owner && strcmp(np->head_owner, r->owner);
    char *head = cross ? prapi_xprintf("%s:%s", np->head_owner, np->head_branch)
                       : prapi_xstrdup(np->head_branch);
    if (head && cross && want_cross(r, head)) {
        free(head);
        return CPGO_E_NOMEM;
    }
    char *title = gitea_title(np->title, np->draft);
    json_t *o = head && title ? json_pack("{s:s, s:s, s:s, s:s}", "head", head, "base", np->base,
                                          "title", title, "body", np->body ? np->body : "")
                              : NULL;
    char *payload = dump(o);
    free(head);
    free(title);
    r->stage = ST_MAIN;
    r->create_url = prapi_xprintf("%s/repos/%s/%s/pulls", c->api_url, r->owner, r->name);
    /* after an ambiguous failure: the open pull requests, filtered by head and base (the
     * list works on every Gitea version, the by-base-head route only from 1.22) */
    r->lookup_url = list_url(r, "open", np->base);
    r->lookup_expect = PRAPI_X_LIST;
    if (!payload || !r->create_url || !r->lookup_url) {
        free(payload);
        return CPGO_E_NOMEM;
    }
    return prapi_set_request(r, "POST", prapi_xstrdup(r->create_url), payload, PRAPI_X_PR);
}

static char *edit_payload(const char *title, const char *body)
{
    json_t *o = json_object();
    if (!o) return NULL;
    if ((title && json_object_set_new(o, "title", json_string(title))) ||
        (body && json_object_set_new(o, "body", json_string(body)))) {
        json_decref(o);
        return NULL;
    }
    return dump(o);
}

static int gt_update(struct prapi_req *r, uint64_t number, const struct cpgo_prapi_edit *ed)
{
    struct gt_state *s = state_of(r);
    if (!s) return CPGO_E_NOMEM;
    if (!ed->title) { /* nothing to keep: straight to the PATCH */
        r->stage = ST_UPD_PATCH;
        return prapi_set_request(r, "PATCH", pr_url(r, number, ""), edit_payload(NULL, ed->body),
                                 PRAPI_X_PR);
    }
    s->has_title = 1;
    s->has_body = ed->body != NULL;
    if (!(s->title = prapi_xstrdup(ed->title)) ||
        (ed->body && !(s->body = prapi_xstrdup(ed->body))))
        return CPGO_E_NOMEM;
    r->stage = ST_MAIN; /* read it first: is it a draft? */
    return prapi_set_request(r, "GET", pr_url(r, number, ""), NULL, PRAPI_X_PR);
}

static int gt_get(struct prapi_req *r, uint64_t number)
{
    r->stage = ST_MAIN;
    return prapi_set_request(r, "GET", pr_url(r, number, ""), NULL, PRAPI_X_PR);
}

/* ---- the options after a creation ------------------------------------------------------------ */

static int step(struct prapi_req *r, int stage, const char *name, const char *method, char *url,
                char *payload)
{
    r->stage = stage;
    if (prapi_set_request(r, method, url, payload, PRAPI_X_OTHER)) return -1;
    r->optional = 1;
    snprintf(r->step, sizeof r->step, "%s", name);
    return 1;
}

static int labels_missing(const struct prapi_req *r, const struct gt_state *s)
{
    for (size_t i = 0; i < r->nlabels; i++)
        if (!s->label_id[i]) return 1;
    return 0;
}

/* A label lookup's next page (URL owned by the state), or its first page. */
static int label_page(struct prapi_req *r, int stage, char *url)
{
    struct gt_state *s = r->dstate;
    s->pending = 1;
    return step(r, stage, stage == ST_LABELS_REPO ? "labels" : "organisation labels", "GET", url,
                NULL);
}

static char *names_payload(const char *key, char **names, size_t n)
{
    json_t *o = json_object(), *a = json_array();
    if (!o || !a || json_object_set_new(o, key, a)) {
        json_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(a, json_string(names[i]))) {
            json_decref(o);
            return NULL;
        }
    return dump(o);
}

/* The first optional step at or after `from` that applies: 1 (r points at it), 0 (none:
 * the operation is complete), -1 (out of memory). */
static int issue_from(struct prapi_req *r, int from)
{
    struct cpgo_prapi_client *c = r->c;
    struct gt_state *s = r->dstate;
    uint64_t n = r->res.pr.number;
    for (int st = from; st < ST_END; st++) {
        switch (st) {
        case ST_LABELS_REPO:
            if (!r->nlabels) break;
            s->pages = 0;
            return label_page(r, st,
                              prapi_xprintf("%s/repos/%s/%s/labels?page=1&limit=%u", c->api_url,
                                            r->owner, r->name, page_limit(c)));
        case ST_LABELS_ORG:
            if (!r->nlabels || s->lookup_failed || !labels_missing(r, s)) break;
            s->pages = 0;
            return label_page(r, st,
                              prapi_xprintf("%s/orgs/%s/labels?page=1&limit=%u", c->api_url,
                                            r->owner, page_limit(c)));
        case ST_LABELS_ADD: {
            if (!r->nlabels) break;
            json_t *ids = json_array();
            if (!ids) return -1;
            for (size_t i = 0; i < r->nlabels; i++) {
                if (s->label_id[i]) {
                    if (json_array_append_new(ids, json_integer(s->label_id[i]))) {
                        json_decref(ids);
                        return -1;
                    }
                } else if (!s->lookup_failed) {
                    char what[80];
                    snprintf(what, sizeof what, "label '%.48s'", r->labels[i]);
                    prapi_warn(r, what, "does not exist in the repository or its organisation");
                }
            }
            if (!json_array_size(ids)) {
                json_decref(ids);
                break;
            }
            json_t *o = json_object();
            if (!o || json_object_set_new(o, "labels", ids)) {
                json_decref(o);
                return -1;
            }
            return step(r, st, "labels", "POST",
                        prapi_xprintf("%s/repos/%s/%s/issues/%llu/labels", c->api_url, r->owner,
                                      r->name, (unsigned long long)n),
                        dump(o));
        }
        case ST_ASSIGNEES:
            if (!r->nassignees) break;
            return step(r, st, "assignees", "PATCH", pr_url(r, n, ""),
                        names_payload("assignees", r->assignees, r->nassignees));
        case ST_REVIEWERS:
            if (!r->nreviewers) break;
            return step(r, st, "reviewers", "POST", pr_url(r, n, "/requested_reviewers"),
                        names_payload("reviewers", r->reviewers, r->nreviewers));
        case ST_MERGE_STYLE:
            /* the merge style the repository uses by default (one it allows: "merge" may
             * be switched off) */
            if (!r->auto_merge) break;
            return step(r, st, "auto-merge (merge style)", "GET",
                        prapi_xprintf("%s/repos/%s/%s", c->api_url, r->owner, r->name), NULL);
        case ST_AUTO_MERGE: {
            if (!r->auto_merge) break;
            /* head_commit_id: merge only the commit cpgo pushed, not one pushed later */
            json_t *o =
                json_pack("{s:s, s:b, s:s}", "Do", s->merge_style[0] ? s->merge_style : "merge",
                          "merge_when_checks_succeed", 1, "head_commit_id",
                          r->res.pr.head_sha ? r->res.pr.head_sha : "");
            return step(r, st, "auto-merge", "POST", pr_url(r, n, "/merge"), dump(o));
        }
        default:
            break;
        }
    }
    r->stage = ST_END;
    return 0;
}

static int gt_next(struct prapi_req *r)
{
    struct gt_state *s = r->dstate;
    switch (r->res.op) {
    case CPGO_PRAPI_OP_FIND:
        /* an open answer ends the search; a closed one may hide a newer open one */
        if (r->stage == ST_MAIN && !(r->res.found && r->res.pr.open)) return to_list(r) ? -1 : 1;
        return 0;
    case CPGO_PRAPI_OP_UPDATE: {
        if (r->stage != ST_MAIN || !r->res.found) return 0;
        /* a draft stays a draft: keep the "WIP:" prefix the pull request has now */
        char *title = gitea_title(s->title, has_wip(r->res.pr.title));
        char *payload = title ? edit_payload(title, s->has_body ? s->body : NULL) : NULL;
        free(title);
        r->stage = ST_UPD_PATCH;
        return prapi_set_request(r, "PATCH", pr_url(r, r->res.pr.number, ""), payload, PRAPI_X_PR)
                   ? -1
                   : 1;
    }
    case CPGO_PRAPI_OP_CREATE:
        break;
    default:
        return 0;
    }
    if (!r->res.found) return 0;
    switch (r->stage) {
    case ST_MAIN:
        return issue_from(r, ST_LABELS_REPO);
    case ST_LABELS_REPO:
    case ST_LABELS_ORG:
        if (s->pending) { /* the lookup failed (a warning already says how) */
            s->pending = 0;
            s->lookup_failed = 1;
            free(s->next_url);
            s->next_url = NULL;
        }
        if (s->next_url && labels_missing(r, s) && s->pages + 1 < r->c->lim.max_pages) {
            char *url = s->next_url;
            s->next_url = NULL;
            s->pages++;
            return label_page(r, r->stage, url);
        }
        free(s->next_url);
        s->next_url = NULL;
        return issue_from(r, r->stage + 1);
    default:
        return issue_from(r, r->stage + 1);
    }
}

/* A page of labels: the IDs of the names asked for, and the next page's URL. */
static enum cpgo_class read_labels(struct prapi_req *r, const struct prapi_resp *rs, char *why,
                                   size_t cap)
{
    struct gt_state *s = r->dstate;
    json_error_t je;
    json_t *root = json_loadb((const char *)rs->body, rs->len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_array(root)) {
        json_decref(root);
        snprintf(why, cap, "the labels are not a JSON array");
        return CPGO_CLASS_BAD_RESPONSE;
    }
    for (size_t j = 0; j < json_array_size(root); j++) {
        json_t *l = json_array_get(root, j), *name = json_object_get(l, "name"),
               *id = json_object_get(l, "id");
        if (!json_is_string(name) || !json_is_integer(id) || json_integer_value(id) <= 0) continue;
        for (size_t i = 0; i < r->nlabels; i++)
            if (!s->label_id[i] && !strcmp(r->labels[i], json_string_value(name))) {
                s->label_id[i] = (int64_t)json_integer_value(id);
                r->label_ok |= 1ull << i;
            }
    }
    json_decref(root);
    s->pending = 0;
    free(s->next_url);
    s->next_url = NULL;
    char next[2048];
    int ln = rs->link ? cpgo_prapi_link_next(rs->link, next, sizeof next) : 0;
    size_t al = strlen(r->c->api_url);
    /* the token goes to the API only: a next page elsewhere is not followed */
    if (ln == 1 && !strncmp(next, r->c->api_url, al) && next[al] == '/' &&
        !(s->next_url = prapi_xstrdup(next))) {
        snprintf(why, cap, "out of memory");
        return CPGO_CLASS_INTERNAL_RETRY;
    }
    return CPGO_CLASS_OK;
}

static enum cpgo_class gt_step_done(struct prapi_req *r, const struct prapi_resp *rs, char *why,
                                    size_t cap)
{
    if (r->stage == ST_LABELS_REPO || r->stage == ST_LABELS_ORG)
        return read_labels(r, rs, why, cap);
    if (r->stage == ST_MERGE_STYLE) {
        /* sdk repo.go Repository.DefaultMergeStyle; anything else: "merge" */
        static const char *const styles[] = {"merge", "rebase", "rebase-merge", "squash",
                                             "fast-forward-only"};
        struct gt_state *s = r->dstate;
        json_t *root = json_loadb((const char *)rs->body, rs->len, 0, NULL);
        json_t *v = json_object_get(root, "default_merge_style");
        for (size_t i = 0; json_is_string(v) && i < sizeof styles / sizeof *styles; i++)
            if (!strcmp(json_string_value(v), styles[i]))
                snprintf(s->merge_style, sizeof s->merge_style, "%s", styles[i]);
        json_decref(root);
        return CPGO_CLASS_OK;
    }
    if (r->stage != ST_ASSIGNEES) return CPGO_CLASS_OK;
    /* Gitea ignores assignees from a token without write access: compare */
    json_t *root = json_loadb((const char *)rs->body, rs->len, 0, NULL);
    json_t *got = json_object_get(root, "assignees");
    size_t o = 0;
    why[0] = 0;
    for (size_t i = 0; i < r->nassignees; i++) {
        int seen = 0;
        for (size_t j = 0; json_is_array(got) && j < json_array_size(got); j++) {
            json_t *login = json_object_get(json_array_get(got, j), "login");
            seen |= json_is_string(login) && !strcmp(json_string_value(login), r->assignees[i]);
        }
        if (!seen && o + 2 < cap) {
            int k =
                snprintf(why + o, cap - o, "%s%s", o ? ", " : "not assigned: ", r->assignees[i]);
            if (k > 0) o += (size_t)k < cap - o ? (size_t)k : cap - o - 1;
        }
    }
    json_decref(root);
    return o ? CPGO_CLASS_INVALID : CPGO_CLASS_OK;
}

static int gt_judge(struct prapi_req *r, long st, const char *msg, enum cpgo_class *cls)
{
    if (st == 404 && r->res.op == CPGO_PRAPI_OP_FIND && r->stage == ST_MAIN) {
        /* none for that pair, or a Gitea older than 1.22 without the route: the list */
        if (to_list(r)) {
            *cls = CPGO_CLASS_INTERNAL_RETRY;
            return 0;
        }
        return 1;
    }
    if (st == 404 && r->stage == ST_LABELS_ORG) {
        /* the owner is a user, not an organisation: no organisation labels */
        struct gt_state *s = r->dstate;
        s->pending = 0;
        free(s->next_url);
        s->next_url = NULL;
        r->optional = 0;
        int n = issue_from(r, ST_LABELS_ADD);
        if (n > 0) return 1;
        *cls = n < 0 ? CPGO_CLASS_INTERNAL_RETRY : CPGO_CLASS_OK;
        return 0;
    }
    switch (st) {
    case 403:
    case 423: /* the repository is archived */
        *cls = CPGO_CLASS_FORBIDDEN;
        break;
    case 404:
        *cls = CPGO_CLASS_NOT_FOUND;
        break;
    case 409:
        /* CreatePullRequest: ErrPullRequestAlreadyExists; elsewhere a conflict (merge
         * already scheduled, head out of date, a base taken) */
        *cls = r->res.op == CPGO_PRAPI_OP_CREATE && r->stage == ST_MAIN && !r->optional &&
                       strstr(msg, "already exists")
                   ? CPGO_CLASS_EXISTS
                   : CPGO_CLASS_INVALID;
        break;
    case 400:
    case 405: /* merge: not allowed, work in progress, not mergeable yet */
    case 412: /* the state of a merged pull request */
    case 422: /* head == base, not branches, unknown user: never "exists" on Gitea */
        *cls = CPGO_CLASS_INVALID;
        break;
    default:
        *cls = CPGO_CLASS_HTTP;
        break;
    }
    return 0;
}

/* ---- answers -----------------------------------------------------------------------------------
 */

/* Days since 1970-01-01 of a civil date (proleptic Gregorian), without the C library's
 * time zone. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned mp = m > 2 ? m - 3 : m + 9; /* March = 0 */
    unsigned doy = (153 * mp + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "2024-05-14T12:00:00+02:00" (RFC 3339 with an offset, or fractional seconds) ->
 * "2024-05-14T10:00:00Z", the form the shared parser reads; 0 when s is not such a time
 * (then it is left for the shared parser to refuse with its own message). */
static int to_utc(const char *s, char out[21])
{
    int y, mo, d, h, mi, se, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || n != 19)
        return 0;
    const char *p = s + 19;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    int off = 0;
    if (*p == 'Z' && !p[1]) {
        off = 0;
    } else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
               isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
               isdigit((unsigned char)p[5]) && !p[6]) {
        off = ((p[1] - '0') * 10 + (p[2] - '0')) * 60 + (p[4] - '0') * 10 + (p[5] - '0');
        if (*p == '-') off = -off;
    } else {
        return 0;
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return 0;
    int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se -
                (int64_t)off * 60;
    if (t < 0) return 0;
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) return 0;
    return strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 20;
}

/* Gitea's pull request made into the form the shared parser reads. */
static void normalize_pr(json_t *o)
{
    if (!json_is_object(o)) return;
    static const char *const times[] = {"closed_at", "merged_at", "created_at", "updated_at"};
    for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
        json_t *v = json_object_get(o, times[i]);
        char utc[21];
        if (json_is_string(v) && to_utc(json_string_value(v), utc))
            json_object_set_new(o, times[i], json_string(utc));
    }
    /* head.ref is the branch only while it exists: once deleted (the "Delete branch" button
     * after a close or merge, delete_branch_after_merge) Gitea writes the pull request's
     * own ref, "refs/pull/N/head"; the branch's name stays in head.label (services/convert
     * ToAPIPullRequest, PRBranchInfo.Name). A closed pull request whose branch is gone is
     * still cpgo's, for the closed-PR gate. */
    json_t *head = json_object_get(o, "head");
    json_t *label = json_object_get(head, "label");
    if (json_is_object(head) && json_is_string(label) && json_string_length(label)) {
        /* a head in another repository (a fork; repo_id -1 when it was deleted) is written
         * "owner:branch", as the find for another owner's head wants it: Gitea lists
         * forks' pull requests in the base repository, and a fork's branch with cpgo's
         * name is never cpgo's. ':' is not allowed in a branch name, so it never equals
         * a plain branch. */
        json_t *hid = json_object_get(head, "repo_id");
        json_t *bid = json_object_get(json_object_get(o, "base"), "repo_id");
        if (json_is_integer(hid) && json_is_integer(bid) &&
            json_integer_value(hid) != json_integer_value(bid)) {
            json_t *login =
                json_object_get(json_object_get(json_object_get(head, "repo"), "owner"), "login");
            char *ref =
                prapi_xprintf("%s:%s", json_is_string(login) ? json_string_value(login) : "",
                              json_string_value(label));
            json_object_set_new(head, "ref", ref ? json_string(ref) : json_null());
            free(ref);
        } else {
            json_object_set(head, "ref", label);
        }
    }
    /* "draft" arrived in Gitea's API later than the WIP prefix it reports */
    json_t *title = json_object_get(o, "title");
    if (!json_object_get(o, "draft") && json_is_string(title))
        json_object_set_new(o, "draft", json_boolean(has_wip(json_string_value(title))));
}

/* Loads, normalizes and dumps again for the shared parser; NULL (err set) when the input
 * is not JSON, so that the shared parser's message is kept for that case. */
static char *normalized(const char *data, size_t len, int list, size_t *outlen)
{
    json_t *root = data && len ? json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!root) return NULL;
    if (list && json_is_array(root))
        for (size_t i = 0; i < json_array_size(root); i++)
            normalize_pr(json_array_get(root, i));
    else if (!list)
        normalize_pr(root);
    char *s = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(root);
    if (s) *outlen = strlen(s);
    return s;
}

static int gt_parse_pr(const char *data, size_t len, struct cpgo_prapi_pr *out, char *err,
                       size_t errcap)
{
    size_t n = 0;
    char *s = normalized(data, len, 0, &n);
    int rc = s ? cpgo_prapi_parse_pr(s, n, out, err, errcap)
               : cpgo_prapi_parse_pr(data, len, out, err, errcap);
    free(s);
    return rc;
}

static int gt_parse_list(const char *data, size_t len, size_t max_items, struct cpgo_prapi_pr **out,
                         size_t *n, char *err, size_t errcap)
{
    size_t sn = 0;
    char *s = normalized(data, len, 1, &sn);
    int rc = s ? cpgo_prapi_parse_pr_list(s, sn, max_items, out, n, err, errcap)
               : cpgo_prapi_parse_pr_list(data, len, max_items, out, n, err, errcap);
    free(s);
    return rc;
}

static int gt_valid_owner(const char *s)
{
    return prapi_valid_name(s);
}

const struct prapi_dialect prapi_gitea = {
    .forge = CPGO_PRAPI_GITEA,
    .name = "Gitea",
    .tag = "gitea",
    .valid_owner = gt_valid_owner,
    .headers = gt_headers,
    .find = gt_find,
    .create = gt_create,
    .update = gt_update,
    .get = gt_get,
    .parse_pr = gt_parse_pr,
    .parse_list = gt_parse_list,
    .next = gt_next,
    .step_done = gt_step_done,
    .judge = gt_judge,
    .free_state = gt_free_state,
};
