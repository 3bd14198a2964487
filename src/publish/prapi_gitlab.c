/*
 * prapi_gitlab.c - the GitLab dialect of the pull-request API client (prapi_int.h, struct
 * prapi_dialect): merge requests through REST v4 (docs.gitlab.com/api/merge_requests/;
 * paths, methods and fields as the official Go client gitlab.com/gitlab-org/api/client-go
 * v1.46.0 sends them, cited per function below). A merge request stands for a pull request:
 * its `iid` (per project) is the number, `source_branch` the head, `target_branch` the
 * base, `description` the body.
 *
 * The project is addressed by its path, URL-encoded as one path segment: the owner is the
 * group path with its subgroups ("group/sub"), so the id of group/sub/app is
 * "group%2Fsub%2Fapp" (client-go gitlab.go PathEscape, which also writes '.' as %2E so
 * that Rails does not take ".app" for a format suffix). The token goes as
 * "Authorization: Bearer" (docs api/rest/authentication: personal, project, group and
 * OAuth tokens alike).
 *
 *   - find: GET /projects/:id/merge_requests?source_branch=&target_branch=&state=all
 *     (ListProjectMergeRequests), newest first, pages by Link rel="next"; the list holds
 *     forks' merge requests into the project too (source_project_id != target_project_id),
 *     which are dropped: a fork's branch of the same name is never cpgo's;
 *   - create: POST /projects/:id/merge_requests {source_branch, target_branch, title,
 *     description} (CreateMergeRequest); a draft is a "Draft: " title (GitLab >= 13.2);
 *     a title is cut to GitLab's 255 characters rather than refused (also on update).
 *     409 "Another open merge request already exists for this source branch" is
 *     CPGO_CLASS_EXISTS; after an ambiguous failure the lookup lists the opened ones;
 *   - update: PUT /projects/:id/merge_requests/:iid {title, description}
 *     (UpdateMergeRequest);
 *   - get: GET /projects/:id/merge_requests/:iid (GetMergeRequest).
 *
 * Options, each an optional step (its failure is a warning):
 *   - labels: GitLab creates a label named on an MR that does not exist (docs: "If a label
 *     does not already exist, this creates a new project label"; gitlab-org/gitlab#454576),
 *     and creating labels is not cpgo's job; so each is looked up first (GET
 *     /projects/:id/labels?search=NAME, ListLabels, group labels included) and only the
 *     existing ones are added (PUT ... {add_labels}), on create and on update; a missing
 *     one is a warning;
 *   - assignees and reviewers: GitLab takes user ids, so each username is looked up (GET
 *     /users?username=NAME, ListUsers); an unknown one is a warning; the ids go in the same
 *     PUT as the labels (assignee_ids, reviewer_ids);
 *   - auto-merge: the MR is read first (its `user.can_merge` and `sha`): a token that may
 *     not merge gets a warning instead of the 401 the merge would answer (a 401 stops the
 *     client). Then PUT .../merge {auto_merge, merge_when_pipeline_succeeds, sha}
 *     (AcceptMergeRequest: auto_merge since 17.11, the older name for older servers;
 *     sha so that only what cpgo pushed is merged). 405 right after a creation is GitLab
 *     still preparing the MR (gitlab-org/gitlab#353984): read and tried again, at most
 *     GL_MERGE_TRIES times, each PUT paced by the client's mutation gap. GitLab merges
 *     at once when asked while the head commit has no pipeline -- which, right after a
 *     push, may only mean its pipeline is not created yet -- so an MR whose
 *     `head_pipeline` is null is not merged: auto-merge is asked again at the next update
 *     (updates carry auto_merge; one already set is left alone).
 * Thread: the loop.
 */
#include "publish/prapi_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define GL_MERGE_TRIES 3 /* merge attempts answered 405 before the warning */
#define GL_MAX_TITLE 255 /* characters: Issuable validates the title's length */

/* next() advances `stage` past the step it hands out; the step in flight is `cur`. */
enum { ST_MAIN, ST_LABEL, ST_USER, ST_SET, ST_CHECK, ST_MERGE, ST_END };
enum { K_NONE, K_LABEL, K_USER, K_SET, K_CHECK, K_MERGE };

struct gl_state {
    int cur;
    int64_t assignee_id[CPGO_PRAPI_MAX_NAMES], reviewer_id[CPGO_PRAPI_MAX_NAMES]; /* 0: none */
    char sha[72];   /* the MR's head as read before merging */
    int skip_merge; /* the check found the MR cannot or need not be merged */
    unsigned merge_tries;
};

static struct gl_state *st(struct prapi_req *r)
{
    if (!r->dstate) r->dstate = calloc(1, sizeof(struct gl_state));
    return r->dstate;
}

static void gl_free_state(struct prapi_req *r)
{
    free(r->dstate);
    r->dstate = NULL;
}

/* A group path with subgroups: names as prapi_valid_name, joined by '/'. */
static int gl_valid_owner(const char *s)
{
    if (!s || !*s || strlen(s) > PRAPI_MAX_OWNER) return 0;
    char seg[PRAPI_MAX_NAME + 1];
    for (const char *p = s;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || n > PRAPI_MAX_NAME) return 0;
        memcpy(seg, p, n);
        seg[n] = 0;
        if (!prapi_valid_name(seg)) return 0;
        if (!e) return 1;
        p = e + 1;
    }
}

static int gl_headers(const struct cpgo_prapi_client *c, struct curl_slist **l)
{
    size_t alen = c->token_len + 32;
    char *auth = malloc(alen);
    if (!auth) return -1;
    snprintf(auth, alen, "Authorization: Bearer %s", c->token);
    struct curl_slist *n = curl_slist_append(*l, auth);
    explicit_bzero(auth, alen);
    free(auth);
    if (!n) return -1;
    *l = n;
    if (!(n = curl_slist_append(*l, "Accept: application/json"))) return -1;
    *l = n;
    return 0;
}

/* {api}/projects/{owner%2Fname} with '.' as %2E (client-go PathEscape); NULL: no memory. */
static char *project_url(const struct prapi_req *r)
{
    char *path = prapi_xprintf("%s/%s", r->owner, r->name);
    char *e = path ? prapi_escape(path) : NULL;
    free(path);
    if (!e) return NULL;
    size_t dots = 0;
    for (const char *p = e; *p; p++)
        dots += *p == '.';
    char *id = malloc(strlen(e) + 2 * dots + 1), *o = id;
    for (const char *p = e; id && *p; p++) {
        if (*p == '.') {
            memcpy(o, "%2E", 3);
            o += 3;
        } else {
            *o++ = *p;
        }
    }
    if (id) *o = 0;
    free(e);
    char *url = id ? prapi_xprintf("%s/projects/%s", r->c->api_url, id) : NULL;
    free(id);
    return url;
}

static char *mr_url(const struct prapi_req *r, uint64_t iid, const char *tail)
{
    char *p = project_url(r);
    char *u =
        p ? prapi_xprintf("%s/merge_requests/%llu%s", p, (unsigned long long)iid, tail) : NULL;
    free(p);
    return u;
}

/* The merge requests from branch to base (any base when NULL) in one state, newest first. */
static char *list_url(const struct prapi_req *r, const char *state, const char *branch,
                      const char *base)
{
    char *p = project_url(r);
    char *eh = prapi_escape(branch);
    char *eb = base ? prapi_escape(base) : NULL;
    char *url = NULL;
    if (p && eh && (!base || eb))
        url = prapi_xprintf("%s/merge_requests?source_branch=%s%s%s&state=%s"
                            "&order_by=created_at&sort=desc&per_page=%u",
                            p, eh, base ? "&target_branch=" : "", base ? eb : "", state,
                            r->c->lim.per_page);
    free(p);
    free(eh);
    free(eb);
    return url;
}

static int gl_find(struct prapi_req *r, const char *head_owner, const char *head_branch,
                   const char *base)
{
    /* a fork's MR (another source project) is not cpgo's: cpgo pushes to the project, and
     * gl_parse_list drops those the list holds */
    (void)head_owner;
    return prapi_set_request(r, "GET", list_url(r, "all", head_branch, base), NULL, PRAPI_X_LIST);
}

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

/* GitLab's draft prefixes (MergeRequest's draft regex, docs "Draft merge requests"). */
static int is_draft_title(const char *t)
{
    static const char *const pre[] = {"draft:", "[draft]", "(draft)", "draft -", "wip:", "[wip]"};
    while (*t == ' ')
        t++;
    for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
        if (!strncasecmp(t, pre[i], strlen(pre[i]))) return 1;
    return 0;
}

/* Cuts t (UTF-8: prapi_ops.c checked it) to GL_MAX_TITLE characters on a character
 * boundary: GitLab refuses a longer title with 400 ("is too long (maximum is 255
 * characters)", Issuable's title validation), and a long target file path in cpgo's title,
 * with a commit prefix and "Draft: ", can pass it. A cut title beats no merge request. */
static void cut_title(char *t)
{
    size_t chars = 0, i = 0;
    for (; t[i]; i++) {
        if (((unsigned char)t[i] & 0xC0) == 0x80) continue; /* a continuation byte */
        if (chars == GL_MAX_TITLE) break;
        chars++;
    }
    t[i] = 0;
}

static int gl_create(struct prapi_req *r, const struct cpgo_prapi_new_pr *np)
{
    char *title = np->draft && !is_draft_title(np->title) ? prapi_xprintf("Draft: %s", np->title)
                                                          : prapi_xstrdup(np->title);
    if (title) cut_title(title);
    json_t *o =
        title ? json_pack("{s:s, s:s, s:s, s:s}", "source_branch", np->head_branch, "target_branch",
                          np->base, "title", title, "description", np->body ? np->body : "")
              : NULL;
    free(title);
    char *payload = dump(o);
    r->create_url = project_url(r);
    char *u = r->create_url ? prapi_xprintf("%s/merge_requests", r->create_url) : NULL;
    free(r->create_url);
    r->create_url = u;
    r->lookup_url = list_url(r, "opened", np->head_branch, np->base);
    r->lookup_expect = PRAPI_X_LIST;
    if (!payload || !r->create_url || !r->lookup_url) {
        free(payload);
        return CPGO_E_NOMEM;
    }
    return prapi_set_request(r, "POST", prapi_xstrdup(r->create_url), payload, PRAPI_X_PR);
}

static int gl_update(struct prapi_req *r, uint64_t number, const struct cpgo_prapi_edit *ed)
{
    char *title = ed->title ? prapi_xstrdup(ed->title) : NULL;
    if (ed->title && !title) return CPGO_E_NOMEM;
    if (title) cut_title(title);
    json_t *o = json_object();
    if (o && ((title && json_object_set_new(o, "title", json_string(title))) ||
              (ed->body && json_object_set_new(o, "description", json_string(ed->body))))) {
        json_decref(o);
        o = NULL;
    }
    free(title);
    return prapi_set_request(r, "PUT", mr_url(r, number, ""), dump(o), PRAPI_X_PR);
}

static int gl_get(struct prapi_req *r, uint64_t number)
{
    return prapi_set_request(r, "GET", mr_url(r, number, ""), NULL, PRAPI_X_PR);
}

/* ---- parsing ------------------------------------------------------------------------------ */

/* Optional string member: absent or null -> "", string -> copy, anything else -> error. */
static int get_str(json_t *o, const char *key, char **out, char *err, size_t cap)
{
    json_t *v = json_object_get(o, key);
    if (v && !json_is_null(v) && !json_is_string(v)) {
        snprintf(err, cap, "%s: expected a string", key);
        return CPGO_E_INPUT;
    }
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
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

/* GitLab's times: "2024-05-14T10:00:00.123Z" (or without the fraction, or "+00:00"):
 * epoch seconds, -1 when not that form. */
static int64_t parse_time(const char *s)
{
    int y, mo, d, h, mi, se, used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &used) != 6 || used != 19)
        return -1;
    const char *p = s + used;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long off = 0;
    if (*p == 'Z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59) return -1;
        off = (*p == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
        p += 6;
    } else {
        return -1;
    }
    if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return (int64_t)timegm(&tm) - off;
}

/* One merge request (client-go merge_requests.go BasicMergeRequest) as a pull request. */
static int mr_from_json(json_t *o, struct cpgo_prapi_pr *pr, char *err, size_t cap)
{
    memset(pr, 0, sizeof *pr);
    if (!json_is_object(o)) {
        snprintf(err, cap, "merge request: expected an object");
        return CPGO_E_INPUT;
    }
    json_t *iid = json_object_get(o, "iid");
    if (!json_is_integer(iid) || json_integer_value(iid) <= 0) {
        snprintf(err, cap, "iid: expected a positive integer");
        return CPGO_E_INPUT;
    }
    pr->number = (uint64_t)json_integer_value(iid);
    json_t *state = json_object_get(o, "state");
    const char *sv = json_is_string(state) ? json_string_value(state) : "";
    /* "locked" is a merge in progress: still open, not yet merged */
    if (!strcmp(sv, "opened") || !strcmp(sv, "locked"))
        pr->open = 1;
    else if (!strcmp(sv, "merged"))
        pr->merged = 1;
    else if (strcmp(sv, "closed")) {
        snprintf(err, cap, "state: expected opened, closed, locked or merged");
        return CPGO_E_INPUT;
    }
    json_t *draft = json_object_get(o, "draft");
    if (draft && !json_is_null(draft) && !json_is_boolean(draft)) {
        snprintf(err, cap, "draft: expected true or false");
        return CPGO_E_INPUT;
    }
    pr->draft = json_is_true(draft);
    char *merged_at = NULL, *closed_at = NULL;
    int rc;
    if ((rc = get_str(o, "title", &pr->title, err, cap)) ||
        (rc = get_str(o, "description", &pr->body, err, cap)) ||
        (rc = get_str(o, "web_url", &pr->html_url, err, cap)) ||
        (rc = get_str(o, "source_branch", &pr->head_ref, err, cap)) ||
        (rc = get_str(o, "source_branch", &pr->head_label, err, cap)) ||
        (rc = get_str(o, "sha", &pr->head_sha, err, cap)) ||
        (rc = get_str(o, "target_branch", &pr->base_ref, err, cap)) ||
        (rc = get_str(o, "merged_at", &merged_at, err, cap)) ||
        (rc = get_str(o, "closed_at", &closed_at, err, cap)))
        goto fail;
    if (!(pr->node_id = calloc(1, 1))) {
        rc = CPGO_E_NOMEM;
        goto fail;
    }
    /* a merged MR has merged_at and no closed_at: it was closed by the merge */
    const char *when = closed_at[0] ? closed_at : merged_at;
    if (!pr->open && when[0]) {
        pr->closed_at = parse_time(when);
        if (pr->closed_at < 0) {
            snprintf(err, cap, "%s: expected a time like 2024-05-14T10:00:00.000Z",
                     closed_at[0] ? "closed_at" : "merged_at");
            rc = CPGO_E_INPUT;
            goto fail;
        }
    }
    free(merged_at);
    free(closed_at);
    return 0;
fail:
    free(merged_at);
    free(closed_at);
    cpgo_prapi_pr_free(pr);
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
    if (!root)
        snprintf(err, cap, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    return root;
}

static int gl_parse_pr(const char *data, size_t len, struct cpgo_prapi_pr *out, char *err,
                       size_t cap)
{
    memset(out, 0, sizeof *out);
    json_t *root = load(data, len, err, cap);
    if (!root) return CPGO_E_INPUT;
    int rc = mr_from_json(root, out, err, cap);
    json_decref(root);
    return rc;
}

/* A merge request from another project (a fork) into this one: GitLab lists it among the
 * project's merge requests (it lists by target project), with its own source_branch, which
 * may have cpgo's branch name; it is never cpgo's (cpgo pushes to the project itself), even
 * with a marker copied into it. Both ids are in every answer (client-go BasicMergeRequest
 * SourceProjectID, TargetProjectID); when one is missing the entry is kept. */
static int from_fork(json_t *o)
{
    json_t *src = json_object_get(o, "source_project_id");
    json_t *tgt = json_object_get(o, "target_project_id");
    return json_is_integer(src) && json_is_integer(tgt) &&
           json_integer_value(src) != json_integer_value(tgt);
}

static int gl_parse_list(const char *data, size_t len, size_t max_items, struct cpgo_prapi_pr **out,
                         size_t *n, char *err, size_t cap)
{
    *out = NULL;
    *n = 0;
    json_t *root = load(data, len, err, cap);
    if (!root) return CPGO_E_INPUT;
    int rc = 0;
    size_t count = json_is_array(root) ? json_array_size(root) : 0;
    if (!json_is_array(root)) {
        snprintf(err, cap, "expected an array of merge requests");
        rc = CPGO_E_INPUT;
    } else if (count > max_items) {
        snprintf(err, cap, "%zu merge requests in one page, more than %zu", count, max_items);
        rc = CPGO_E_INPUT;
    } else if (count) {
        struct cpgo_prapi_pr *prs = calloc(count, sizeof *prs);
        if (!prs) {
            snprintf(err, cap, "out of memory");
            rc = CPGO_E_NOMEM;
        }
        size_t kept = 0;
        for (size_t i = 0; prs && i < count; i++) {
            char e[200];
            json_t *item = json_array_get(root, i);
            if (from_fork(item)) continue;
            if ((rc = mr_from_json(item, &prs[kept], e, sizeof e))) {
                snprintf(err, cap, "[%zu].%s", i, e);
                for (size_t j = 0; j < kept; j++)
                    cpgo_prapi_pr_free(&prs[j]);
                free(prs);
                prs = NULL;
            } else {
                kept++;
            }
        }
        if (prs && kept) {
            *out = prs;
            *n = kept;
        } else {
            free(prs);
        }
    }
    json_decref(root);
    return rc;
}

/* ---- the optional steps ------------------------------------------------------------------ */

static int step(struct prapi_req *r, int kind, const char *name, const char *method, char *url,
                char *payload)
{
    if (prapi_set_request(r, method, url, payload, PRAPI_X_OTHER)) return -1;
    r->optional = 1;
    st(r)->cur = kind;
    snprintf(r->step, sizeof r->step, "%s", name);
    return 1;
}

/* The PUT that adds the existing labels and (on create) the users found; NULL payload when
 * there is nothing to set, -1 when out of memory. */
static int set_payload(struct prapi_req *r, struct gl_state *s, char **out)
{
    *out = NULL;
    json_t *o = json_object();
    if (!o) return -1;
    char csv[CPGO_PRAPI_MAX_NAMES * (PRAPI_MAX_BRANCH + 1) + 1];
    size_t cl = 0;
    for (size_t i = 0; i < r->nlabels; i++) {
        if (!((r->label_ok >> i) & 1)) continue;
        int k = snprintf(csv + cl, sizeof csv - cl, "%s%s", cl ? "," : "", r->labels[i]);
        if (k > 0) cl += (size_t)k;
    }
    int bad = cl && json_object_set_new(o, "add_labels", json_string(csv));
    const struct {
        const char *key;
        const int64_t *ids;
        size_t n;
    } users[2] = {{"assignee_ids", s->assignee_id, r->nassignees},
                  {"reviewer_ids", s->reviewer_id, r->nreviewers}};
    for (int u = 0; u < 2 && r->res.op == CPGO_PRAPI_OP_CREATE; u++) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < users[u].n; i++)
            if (users[u].ids[i] > 0) bad |= json_array_append_new(a, json_integer(users[u].ids[i]));
        if (!a) bad = 1;
        if (a && json_array_size(a))
            bad |= json_object_set_new(o, users[u].key, a);
        else
            json_decref(a);
    }
    if (bad) {
        json_decref(o);
        return -1;
    }
    if (!json_object_size(o)) {
        json_decref(o);
        return 0;
    }
    *out = dump(o);
    return *out ? 0 : -1;
}

static int gl_next(struct prapi_req *r)
{
    struct cpgo_prapi_client *c = r->c;
    int create = r->res.op == CPGO_PRAPI_OP_CREATE;
    if ((!create && r->res.op != CPGO_PRAPI_OP_UPDATE) || !r->res.found) return 0;
    struct gl_state *s = st(r);
    if (!s) return -1;
    uint64_t iid = r->res.pr.number;
    char name[64];
    for (;;) {
        switch (r->stage) {
        case ST_MAIN:
            r->stage = ST_LABEL;
            r->idx = 0;
            continue;
        case ST_LABEL:
            if (r->idx < r->nlabels) {
                const char *l = r->labels[r->idx++];
                char *e = prapi_escape(l), *p = project_url(r);
                char *url = e && p ? prapi_xprintf("%s/labels?search=%s&per_page=100", p, e) : NULL;
                free(e);
                free(p);
                snprintf(name, sizeof name, "label '%.40s'", l);
                return step(r, K_LABEL, name, "GET", url, NULL);
            }
            r->stage = ST_USER;
            r->idx = 0;
            continue;
        case ST_USER:
            if (create && r->idx < r->nassignees + r->nreviewers) {
                size_t i = r->idx++;
                const char *u =
                    i < r->nassignees ? r->assignees[i] : r->reviewers[i - r->nassignees];
                char *e = prapi_escape(u);
                char *url = e ? prapi_xprintf("%s/users?username=%s", c->api_url, e) : NULL;
                free(e);
                snprintf(name, sizeof name, "%s '%.40s'",
                         i < r->nassignees ? "assignee" : "reviewer", u);
                return step(r, K_USER, name, "GET", url, NULL);
            }
            r->stage = ST_SET;
            continue;
        case ST_SET: {
            r->stage = ST_CHECK;
            char *payload;
            if (set_payload(r, s, &payload)) return -1;
            if (!payload) continue;
            return step(r, K_SET, "labels, assignees and reviewers", "PUT", mr_url(r, iid, ""),
                        payload);
        }
        case ST_CHECK:
            r->stage = ST_MERGE;
            if (!r->auto_merge) {
                r->stage = ST_END;
                continue;
            }
            return step(r, K_CHECK, "auto-merge", "GET", mr_url(r, iid, ""), NULL);
        case ST_MERGE: {
            r->stage = ST_END;
            if (s->skip_merge) continue;
            json_t *o = json_pack("{s:b, s:b}", "auto_merge", 1, "merge_when_pipeline_succeeds", 1);
            if (o && s->sha[0] && json_object_set_new(o, "sha", json_string(s->sha))) {
                json_decref(o);
                return -1;
            }
            s->merge_tries++;
            return step(r, K_MERGE, "auto-merge", "PUT", mr_url(r, iid, "/merge"), dump(o));
        }
        default:
            return 0;
        }
    }
}

/* The first element of a JSON array whose `key` equals want (case-insensitively when ci). */
static json_t *find_named(json_t *arr, const char *key, const char *want, int ci)
{
    for (size_t i = 0; json_is_array(arr) && i < json_array_size(arr); i++) {
        json_t *v = json_object_get(json_array_get(arr, i), key);
        if (json_is_string(v) &&
            (ci ? !strcasecmp(json_string_value(v), want) : !strcmp(json_string_value(v), want)))
            return json_array_get(arr, i);
    }
    return NULL;
}

static enum cpgo_class gl_step_done(struct prapi_req *r, const struct prapi_resp *rs, char *why,
                                    size_t cap)
{
    struct gl_state *s = st(r);
    if (!s) {
        snprintf(why, cap, "out of memory");
        return CPGO_CLASS_INTERNAL_RETRY;
    }
    json_t *root = json_loadb((const char *)rs->body, rs->len, 0, NULL);
    enum cpgo_class cls = CPGO_CLASS_OK;
    size_t i = r->idx ? r->idx - 1 : 0;
    if (!root) {
        snprintf(why, cap, "%s answered something that is not JSON", r->c->d->name);
        cls = CPGO_CLASS_BAD_RESPONSE;
    } else if (s->cur == K_LABEL) {
        /* search= matches substrings: only the exact name counts */
        if (find_named(root, "name", r->labels[i], 0))
            r->label_ok |= 1ull << i;
        else {
            snprintf(why, cap, "no such label in the project or its groups (not created)");
            cls = CPGO_CLASS_NOT_FOUND;
        }
    } else if (s->cur == K_USER) {
        const char *u = i < r->nassignees ? r->assignees[i] : r->reviewers[i - r->nassignees];
        json_t *id = json_object_get(find_named(root, "username", u, 1), "id");
        if (json_is_integer(id) && json_integer_value(id) > 0) {
            if (i < r->nassignees)
                s->assignee_id[i] = json_integer_value(id);
            else
                s->reviewer_id[i - r->nassignees] = json_integer_value(id);
        } else {
            snprintf(why, cap, "no such user");
            cls = CPGO_CLASS_NOT_FOUND;
        }
    } else if (s->cur == K_CHECK) {
        json_t *user = json_object_get(root, "user");
        json_t *can = json_object_get(user, "can_merge");
        json_t *sha = json_object_get(root, "sha");
        json_t *state = json_object_get(root, "state");
        if (json_is_string(sha) && json_string_length(sha) < sizeof s->sha)
            snprintf(s->sha, sizeof s->sha, "%s", json_string_value(sha));
        json_t *pipe = json_object_get(root, "head_pipeline");
        if (json_is_string(state) && strcmp(json_string_value(state), "opened")) {
            s->skip_merge = 1; /* merged (or closed) meanwhile: nothing to do */
        } else if (json_is_true(json_object_get(root, "merge_when_pipeline_succeeds"))) {
            s->skip_merge = 1; /* set at an earlier round: kept across pushes */
        } else if (pipe && json_is_null(pipe)) {
            /* GitLab merges at once when asked to merge on success while no pipeline
             * exists (the push's pipeline may not be created yet): asked again at the next
             * update instead, as Renovate waits for head_pipeline */
            s->skip_merge = 1;
            snprintf(why, cap,
                     "no pipeline for the head commit yet: asked again at the next "
                     "update");
            cls = CPGO_CLASS_INVALID;
        } else if (json_is_true(json_object_get(root, "draft"))) {
            s->skip_merge = 1; /* GitLab answers 405 to merging a draft, every time */
            snprintf(why, cap, "a draft merge request is not merged automatically");
            cls = CPGO_CLASS_INVALID;
        } else if (json_is_false(can)) {
            s->skip_merge = 1;
            snprintf(why, cap, "the token's user may not merge this merge request");
            cls = CPGO_CLASS_FORBIDDEN;
        }
    }
    /* K_SET and K_MERGE: a 2xx is the answer wanted */
    json_decref(root);
    return cls;
}

static int gl_judge(struct prapi_req *r, long status, const char *msg, enum cpgo_class *cls)
{
    struct gl_state *s = r->dstate;
    if (r->optional && s && s->cur == K_MERGE && status == 405 && s->merge_tries < GL_MERGE_TRIES) {
        /* not mergeable yet (just created, still preparing): read it again, then retry */
        r->stage = ST_MERGE;
        s->cur = K_CHECK;
        if (!prapi_set_request(r, "GET", mr_url(r, r->res.pr.number, ""), NULL, PRAPI_X_OTHER))
            return 1;
    }
    switch (status) {
    case 403:
        *cls = CPGO_CLASS_FORBIDDEN;
        break;
    case 404:
        *cls = CPGO_CLASS_NOT_FOUND;
        break;
    case 409:
        /* create: "Another open merge request already exists for this source branch: !N";
         * merge: "SHA does not match HEAD of source branch" */
        *cls = strstr(msg, "already exists") ? CPGO_CLASS_EXISTS : CPGO_CLASS_INVALID;
        break;
    case 400: /* a missing or invalid field ({"error": "title is missing"}) */
    case 405: /* cannot merge now (draft, closed, pipeline pending or failed) */
    case 422: /* same source and target branch; "Branch cannot be merged" */
        *cls = CPGO_CLASS_INVALID;
        break;
    default:
        *cls = CPGO_CLASS_HTTP;
    }
    return 0;
}

const struct prapi_dialect prapi_gitlab = {
    .forge = CPGO_PRAPI_GITLAB,
    .name = "GitLab",
    .tag = "gitlab",
    .valid_owner = gl_valid_owner,
    .headers = gl_headers,
    .find = gl_find,
    .create = gl_create,
    .update = gl_update,
    .get = gl_get,
    .parse_pr = gl_parse_pr,
    .parse_list = gl_parse_list,
    .next = gl_next,
    .step_done = gl_step_done,
    .judge = gl_judge,
    .free_state = gl_free_state,
};
