/*
 * prapi_github.c - the GitHub dialect of the pull-request API client (prapi_int.h, struct
 * prapi_dialect): REST API version 2022-11-28 (docs.github.com/rest/pulls/pulls), the
 * token as a Bearer token, pull requests found by head (owner:branch) and base, created,
 * updated with PATCH, read; and the options after a creation, each an optional step:
 *   - labels: each looked up first (GET /repos/{o}/{r}/labels/{name}: GitHub's "add
 *     labels" would create a missing one, and creating labels is not cpgo's job), the
 *     existing ones then added (POST /repos/{o}/{r}/issues/{n}/labels); a missing one is a
 *     warning;
 *   - assignees (POST .../issues/{n}/assignees): GitHub silently drops a user who cannot be
 *     assigned, so the answer is compared with what was asked;
 *   - reviewers (POST .../pulls/{n}/requested_reviewers);
 *   - auto-merge: GraphQL only (enablePullRequestAutoMerge with the pull request's node
 *     id), at {api}/graphql, or /api/graphql on Enterprise (/api/v3); GraphQL answers 200
 *     with an "errors" list when it refuses ("Auto merge is not allowed for this
 *     repository", "Pull request is in clean status").
 * Thread: the loop.
 */
#include "publish/prapi_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_MAIN, ST_LABEL_GET, ST_LABELS, ST_ASSIGNEES, ST_REVIEWERS, ST_AUTO_MERGE, ST_END };

static int gh_headers(const struct cpgo_prapi_client *c, struct curl_slist **l)
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
    static const char *const fixed[] = {"Accept: application/vnd.github+json",
                                        "X-GitHub-Api-Version: 2022-11-28"};
    for (size_t i = 0; i < 2; i++) {
        if (!(n = curl_slist_append(*l, fixed[i]))) return -1;
        *l = n;
    }
    return 0;
}

static char *list_url(struct prapi_req *r, const char *state, const char *head_owner,
                      const char *branch, const char *base)
{
    struct cpgo_prapi_client *c = r->c;
    char *label = prapi_xprintf("%s:%s", head_owner ? head_owner : r->owner, branch);
    char *eh = label ? prapi_escape(label) : NULL;
    char *eb = base ? prapi_escape(base) : NULL;
    char *url = NULL;
    if (eh && (!base || eb))
        url = prapi_xprintf("%s/repos/%s/%s/pulls?state=%s&head=%s%s%s&per_page=%u", c->api_url,
                            r->owner, r->name, state, eh, base ? "&base=" : "", base ? eb : "",
                            c->lim.per_page);
    free(label);
    free(eh);
    free(eb);
    return url;
}

static int gh_find(struct prapi_req *r, const char *head_owner, const char *head_branch,
                   const char *base)
{
    /* GitHub filters the list by head and base itself; a cross-repository head is not
     * filtered again by branch name alone */
    if (head_owner && strcmp(head_owner, r->owner)) {
        free(r->want_head);
        r->want_head = NULL;
    }
    return prapi_set_request(r, "GET", list_url(r, "all", head_owner, head_branch, base), NULL,
                             PRAPI_X_LIST);
}

/* Adds the non-NULL string pairs of kv to o: 0, or -1 when out of memory. */
static int set_strings(json_t *o, const char *const *kv, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        if (kv[i + 1] && json_object_set_new(o, kv[i], json_string(kv[i + 1]))) return -1;
    return 0;
}

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

/* {"key": [names...]} for the names whose bit is set in mask (all when mask is ~0). */
static char *names_payload(const char *key, char **names, size_t n, uint64_t mask)
{
    json_t *o = json_object(), *a = json_array();
    if (!o || !a || json_object_set_new(o, key, a)) {
        json_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (((mask >> i) & 1) && json_array_append_new(a, json_string(names[i]))) {
            json_decref(o);
            return NULL;
        }
    return dump(o);
}

static int gh_create(struct prapi_req *r, const struct cpgo_prapi_new_pr *np)
{
    struct cpgo_prapi_client *c = r->c;
    int cross = np->head_owner && strcmp(np->head_owner, r->owner);
    char *head = cross ? prapi_xprintf("%s:%s", np->head_owner, np->head_branch)
                       : prapi_xstrdup(np->head_branch);
    json_t *o = json_object();
    const char *kv[] = {"title", np->title, "head", head,
                        "base",  np->base,  "body", np->body ? np->body : ""};
    char *payload = NULL;
    if (head && o && !set_strings(o, kv, 8) &&
        (!np->draft || !json_object_set_new(o, "draft", json_true()))) {
        payload = dump(o);
        o = NULL;
    }
    json_decref(o);
    free(head);
    if (cross) {
        free(r->want_head);
        r->want_head = NULL;
    }
    r->create_url = prapi_xprintf("%s/repos/%s/%s/pulls", c->api_url, r->owner, r->name);
    r->lookup_url = list_url(r, "open", np->head_owner, np->head_branch, np->base);
    r->lookup_expect = PRAPI_X_LIST;
    if (!r->create_url || !r->lookup_url) {
        free(payload);
        return CPGO_E_NOMEM;
    }
    return prapi_set_request(r, "POST", prapi_xstrdup(r->create_url), payload, PRAPI_X_PR);
}

static int gh_update(struct prapi_req *r, uint64_t number, const struct cpgo_prapi_edit *ed)
{
    json_t *o = json_object();
    const char *kv[] = {"title", ed->title, "body", ed->body};
    char *payload = NULL;
    if (o && !set_strings(o, kv, 4)) {
        payload = dump(o);
        o = NULL;
    }
    json_decref(o);
    return prapi_set_request(r, "PATCH",
                             prapi_xprintf("%s/repos/%s/%s/pulls/%llu", r->c->api_url, r->owner,
                                           r->name, (unsigned long long)number),
                             payload, PRAPI_X_PR);
}

static int gh_get(struct prapi_req *r, uint64_t number)
{
    return prapi_set_request(r, "GET",
                             prapi_xprintf("%s/repos/%s/%s/pulls/%llu", r->c->api_url, r->owner,
                                           r->name, (unsigned long long)number),
                             NULL, PRAPI_X_PR);
}

/* GraphQL's endpoint: https://api.github.com/graphql; Enterprise https://HOST/api/graphql
 * for a REST API at https://HOST/api/v3. */
static char *graphql_url(const struct cpgo_prapi_client *c)
{
    size_t n = strlen(c->api_url);
    if (n >= 7 && !strcmp(c->api_url + n - 7, "/api/v3"))
        return prapi_xprintf("%.*s/api/graphql", (int)(n - 7), c->api_url);
    return prapi_xprintf("%s/graphql", c->api_url);
}

static int step(struct prapi_req *r, const char *name, const char *method, char *url, char *payload)
{
    if (prapi_set_request(r, method, url, payload, PRAPI_X_OTHER)) return -1;
    r->optional = 1;
    snprintf(r->step, sizeof r->step, "%s", name);
    return 1;
}

static int gh_next(struct prapi_req *r)
{
    struct cpgo_prapi_client *c = r->c;
    if (r->res.op != CPGO_PRAPI_OP_CREATE || !r->res.found) return 0;
    unsigned long long n = (unsigned long long)r->res.pr.number;
    for (;;) {
        switch (r->stage) {
        case ST_MAIN:
            r->stage = ST_LABEL_GET;
            r->idx = 0;
            continue;
        case ST_LABEL_GET:
            if (r->idx < r->nlabels) {
                size_t i = r->idx++;
                char *e = prapi_escape(r->labels[i]);
                char name[48];
                snprintf(name, sizeof name, "label '%.32s'", r->labels[i]);
                if (!e) return -1;
                char *url =
                    prapi_xprintf("%s/repos/%s/%s/labels/%s", c->api_url, r->owner, r->name, e);
                free(e);
                int rc = step(r, name, "GET", url, NULL);
                r->expect = PRAPI_X_OTHER;
                return rc;
            }
            r->stage = ST_LABELS;
            continue;
        case ST_LABELS:
            r->stage = ST_ASSIGNEES;
            if (r->label_ok)
                return step(r, "labels", "POST",
                            prapi_xprintf("%s/repos/%s/%s/issues/%llu/labels", c->api_url, r->owner,
                                          r->name, n),
                            names_payload("labels", r->labels, r->nlabels, r->label_ok));
            continue;
        case ST_ASSIGNEES:
            r->stage = ST_REVIEWERS;
            if (r->nassignees)
                return step(r, "assignees", "POST",
                            prapi_xprintf("%s/repos/%s/%s/issues/%llu/assignees", c->api_url,
                                          r->owner, r->name, n),
                            names_payload("assignees", r->assignees, r->nassignees, ~0ull));
            continue;
        case ST_REVIEWERS:
            r->stage = ST_AUTO_MERGE;
            if (r->nreviewers)
                return step(r, "reviewers", "POST",
                            prapi_xprintf("%s/repos/%s/%s/pulls/%llu/requested_reviewers",
                                          c->api_url, r->owner, r->name, n),
                            names_payload("reviewers", r->reviewers, r->nreviewers, ~0ull));
            continue;
        case ST_AUTO_MERGE: {
            r->stage = ST_END;
            if (!r->auto_merge) continue;
            if (!r->res.pr.node_id || !r->res.pr.node_id[0]) {
                prapi_warn(r, "auto-merge", "the pull request has no node_id to enable it with");
                continue;
            }
            json_t *o = json_pack("{s:s, s:{s:s}}", "query",
                                  "mutation($id: ID!) { enablePullRequestAutoMerge(input: "
                                  "{pullRequestId: $id}) { clientMutationId } }",
                                  "variables", "id", r->res.pr.node_id);
            return step(r, "auto-merge", "POST", graphql_url(c), dump(o));
        }
        default:
            return 0;
        }
    }
}

static enum cpgo_class gh_step_done(struct prapi_req *r, const struct prapi_resp *rs, char *why,
                                    size_t cap)
{
    if (r->stage == ST_LABEL_GET) {
        r->label_ok |= 1ull << (r->idx - 1); /* 200: the label exists */
        return CPGO_CLASS_OK;
    }
    json_t *root = json_loadb((const char *)rs->body, rs->len, 0, NULL);
    enum cpgo_class cls = CPGO_CLASS_OK;
    if (r->stage == ST_END) { /* GraphQL: refusals come as 200 with "errors" */
        json_t *errs = json_object_get(root, "errors");
        if (!root) {
            snprintf(why, cap, "GraphQL answered something that is not JSON");
            cls = CPGO_CLASS_BAD_RESPONSE;
        } else if (json_is_array(errs) && json_array_size(errs)) {
            json_t *m = json_object_get(json_array_get(errs, 0), "message");
            char line[200];
            cpgo_prapi_parse_message(json_is_string(m) ? json_string_value(m) : "refused",
                                     json_is_string(m) ? json_string_length(m) : 7, r->c->secrets,
                                     line, sizeof line);
            snprintf(why, cap, "%s", line);
            cls = CPGO_CLASS_INVALID;
        }
    } else if (r->stage == ST_REVIEWERS) {
        /* assignees: GitHub answers 201 without the users it could not assign */
        json_t *got = json_object_get(root, "assignees");
        size_t o = 0;
        why[0] = 0;
        for (size_t i = 0; json_is_array(got) && i < r->nassignees; i++) {
            int seen = 0;
            for (size_t j = 0; j < json_array_size(got); j++) {
                json_t *login = json_object_get(json_array_get(got, j), "login");
                seen |= json_is_string(login) && !strcmp(json_string_value(login), r->assignees[i]);
            }
            if (!seen && o + 2 < cap) {
                int k = snprintf(why + o, cap - o, "%s%s", o ? ", " : "cannot assign ",
                                 r->assignees[i]);
                if (k > 0) o += (size_t)k < cap - o ? (size_t)k : cap - o - 1;
            }
        }
        if (o) cls = CPGO_CLASS_INVALID;
    }
    json_decref(root);
    if (cls != CPGO_CLASS_OK && !why[0]) snprintf(why, cap, "refused");
    return cls;
}

static int gh_judge(struct prapi_req *r, long st, const char *msg, enum cpgo_class *cls)
{
    prapi_judge_default(r, st, msg, cls);
    if (r->optional && r->stage == ST_LABEL_GET && st == 404)
        snprintf(r->step, sizeof r->step, "label '%.24s' does not exist", r->labels[r->idx - 1]);
    return 0;
}

static int gh_valid_owner(const char *s)
{
    return prapi_valid_name(s);
}

const struct prapi_dialect prapi_github = {
    .forge = CPGO_PRAPI_GITHUB,
    .name = "GitHub",
    .tag = "github",
    .valid_owner = gh_valid_owner,
    .headers = gh_headers,
    .find = gh_find,
    .create = gh_create,
    .update = gh_update,
    .get = gh_get,
    .parse_pr = cpgo_prapi_parse_pr,
    .parse_list = cpgo_prapi_parse_pr_list,
    .next = gh_next,
    .step_done = gh_step_done,
    .judge = gh_judge,
};
