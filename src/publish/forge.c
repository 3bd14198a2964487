/* forge.c - see forge.h. */
#include "publish/forge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/config.h"
#include "profile/summary.h"
#include "publish/prbody.h"

void cpgo_forge_result_free(struct cpgo_forge_result *r)
{
    free(r->body);
    r->body = NULL;
}

static int git_failed(struct cpgo_gitrepo *g, struct cpgo_forge_result *r, int rc)
{
    r->gcls = cpgo_gitrepo_last_class(g);
    if (r->gcls == CPGO_GIT_OK) r->gcls = CPGO_GIT_INTERNAL;
    return rc;
}

static int content_error(struct cpgo_forge_result *r, int rc)
{
    r->gcls = rc == CPGO_E_NOMEM || rc == CPGO_E_IO ? CPGO_GIT_LOCAL : CPGO_GIT_CONTENT;
    return rc;
}

int cpgo_forge_round(struct cpgo_tstate *ts, struct cpgo_gitrepo *g,
                     const struct cpgo_forge_req *req, struct cpgo_forge_result *r,
                     struct cpgo_err *err)
{
    memset(r, 0, sizeof *r);
    struct cpgo_git_tips tips;
    struct cpgo_git_file f;
    memset(&f, 0, sizeof f);
    /* the default head branch names the profile's path, known only after the search: the
     * configured file is the first guess, and a profile found elsewhere costs one more
     * (incremental) fetch */
    if (req->head_branch)
        snprintf(r->head_branch, sizeof r->head_branch, "%s", req->head_branch);
    else if (cpgo_config_head_branch(req->target_branch, req->target_file, r->head_branch,
                                     sizeof r->head_branch))
        return content_error(r, cpgo_err_set(err, CPGO_E_INPUT,
                                             "the default head branch is too long for the "
                                             "profile's path (set head_branch): %s",
                                             req->target_file));
    /* the existing file and the result merge many scrapes: the per-scrape limits do not
     * bound them */
    struct cpgo_limits mlim;
    cpgo_limits_merged(&req->lim, &mlim);
    int rc = cpgo_gitrepo_fetch(g, req->target_branch, r->head_branch, &tips, err);
    if (rc) return git_failed(g, r, rc);
    rc = cpgo_gitrepo_find_profile(g, req->target_branch, req->target_file, mlim.max_compressed,
                                   &f, err);
    if (rc) return git_failed(g, r, rc);
    snprintf(r->path, sizeof r->path, "%s", f.path);
    if (!req->head_branch && strcmp(f.path, req->target_file)) {
        if (cpgo_config_head_branch(req->target_branch, f.path, r->head_branch,
                                    sizeof r->head_branch)) {
            rc = content_error(r, cpgo_err_set(err, CPGO_E_INPUT,
                                               "the default head branch is too long for the "
                                               "profile's path (set head_branch): %s",
                                               f.path));
            goto out;
        }
        if ((rc = cpgo_gitrepo_fetch(g, req->target_branch, r->head_branch, &tips, err)))
            return git_failed(g, r, rc);
    }
    snprintf(r->base, sizeof r->base, "%s", f.base[0] ? f.base : tips.base);
    r->created = !f.found;

    /* 3. a merged pull request shows as the base branch having held a blob cpgo pushed */
    {
        char blobs[CPGO_STATE_MAX_SEGS * CPGO_STATE_MAX_BLOBS][CPGO_STATE_BLOB_SIZE];
        const char *ids[CPGO_STATE_MAX_SEGS * CPGO_STATE_MAX_BLOBS];
        int hit[CPGO_STATE_MAX_SEGS * CPGO_STATE_MAX_BLOBS];
        size_t nb = cpgo_state_pushed_blobs(ts, blobs, sizeof blobs / sizeof blobs[0]);
        for (size_t i = 0; i < nb; i++) ids[i] = blobs[i];
        if (nb && (rc = cpgo_gitrepo_path_history(g, req->target_branch, f.path,
                                                   CPGO_FORGE_HISTORY, ids, nb, hit, err)))
            return git_failed(g, r, rc);
        /* newest first: settling a segment settles every older one */
        for (size_t i = nb; i-- > 0;) {
            if (!hit[i]) continue;
            uint64_t n = 0;
            if ((rc = cpgo_state_settle(ts, blobs[i], &n, err))) {
                r->gcls = CPGO_GIT_LOCAL;
                goto out;
            }
            r->settled += n;
        }
    }
    /* 4. */
    if (!cpgo_state_has_pending(ts)) {
        r->nothing = 1;
        goto out;
    }
    struct cpgo_state_meta meta;
    cpgo_state_pending_meta(ts, &meta);
    r->scrapes = meta.scrapes;
    r->instances = meta.instances;
    struct cpgo_state_forge fs;
    cpgo_state_forge_get(ts, &fs);
    if (fs.unmanaged_pr) {
        r->unmanaged = 1; /* a person's now: the GitHub step looks whether that changed */
        goto out;
    }
    if (fs.closed_pr && !fs.released) {
        uint64_t need = fs.closed_scrapes + fs.closed_scrapes * req->reopen_growth_pct / 100;
        if (meta.scrapes < need || meta.scrapes == 0) {
            r->gated = 1;
            goto out;
        }
        fs.released = 1;
        if ((rc = cpgo_state_forge_put(ts, &fs, err))) {
            r->gcls = CPGO_GIT_LOCAL;
            goto out;
        }
    }
    /* 5. never rewrite what a person pushed */
    struct cpgo_git_head head;
    if ((rc = cpgo_gitrepo_inspect_head(g, req->target_branch, r->head_branch, &req->ident,
                                        &head, err))) {
        git_failed(g, r, rc);
        goto out;
    }
    int ours = head.exists &&
               ((fs.last_commit[0] && !strcmp(head.tip, fs.last_commit)) ||
                (req->target_id && !strcmp(head.tip_target, req->target_id) &&
                 !strcmp(head.tip_email, req->ident.email && *req->ident.email
                                             ? req->ident.email
                                             : CPGO_GIT_DEFAULT_EMAIL)));
    if (head.exists && !ours && head.tip_target[0] && req->target_id &&
        strcmp(head.tip_target, req->target_id)) {
        r->gcls = CPGO_GIT_CONTENT;
        rc = cpgo_err_set(err, CPGO_E_INPUT,
                          "branch '%s' belongs to another cpgo target (id %s): two targets "
                          "resolve to the same file; give one of them another target_file or "
                          "head_branch",
                          r->head_branch, head.tip_target);
        goto out;
    }
    if (head.foreign && !ours) {
        r->gcls = CPGO_GIT_FOREIGN;
        rc = cpgo_err_set(err, CPGO_E_USAGE,
                          "branch '%s' has commits cpgo did not make; left alone (delete the "
                          "branch to let cpgo recreate it): %s",
                          r->head_branch, head.why);
        goto out;
    }

    /* 6. + 7. */
    struct cpgo_merger *m = NULL;
    struct cpgo_profile *old = NULL, *neu = NULL;
    struct cpgo_summary sb, sa;
    int have_sb = 0, have_sa = 0;
    struct cpgo_buf out = {0};
    if (cpgo_merge_new(&m, &req->mo)) {
        rc = content_error(r, cpgo_err_set(err, CPGO_E_NOMEM, "out of memory"));
        goto build_out;
    }
    if (f.found) {
        r->bytes_before = f.len;
        if ((rc = cpgo_profile_decode(f.data, f.len, &mlim, &old, err))) {
            cpgo_err_prefix(err, "the existing %s on branch '%s' is not a valid profile", f.path,
                            req->target_branch);
            content_error(r, rc == CPGO_E_NOMEM ? rc : CPGO_E_INPUT);
            rc = rc == CPGO_E_NOMEM ? rc : CPGO_E_INPUT;
            goto build_out;
        }
        if (cpgo_summary_build(old, 10, &sb, err) == 0) have_sb = 1;
        if ((rc = cpgo_merge_add(m, old, err))) {
            cpgo_err_prefix(err, "the existing %s on branch '%s'", f.path, req->target_branch);
            content_error(r, rc);
            goto build_out;
        }
    }
    if ((rc = cpgo_state_fold_pending(ts, m, err))) {
        cpgo_err_prefix(err, "pending profiles cannot be merged with the existing %s on branch '%s'",
                        f.path, req->target_branch);
        content_error(r, rc);
        goto build_out;
    }
    if ((rc = cpgo_merge_encode(m, 0, 1, &out, err))) {
        content_error(r, rc);
        goto build_out;
    }
    cpgo_merge_free(m);
    m = NULL;
    r->bytes_after = out.len;
    /* what is pushed is decoded again: the summary for the body, and a last check */
    if ((rc = cpgo_profile_decode(out.data, out.len, &mlim, &neu, err)) ||
        (rc = cpgo_summary_build(neu, 10, &sa, err))) {
        cpgo_err_prefix(err, "the merged profile");
        r->gcls = CPGO_GIT_INTERNAL;
        goto build_out;
    }
    have_sa = 1;
    struct cpgo_prbody_in in = {
        .target_key = req->target_key,
        .target_file = f.path,
        .target_branch = req->target_branch,
        .scrapes = meta.scrapes,
        .instances = meta.instances,
        .first_scrape = meta.first,
        .last_scrape = meta.last,
        .created = r->created,
        .bytes_before = f.len,
        .bytes_after = out.len,
        .before = have_sb ? &sb : NULL,
        .after = &sa,
    };
    size_t blen;
    if ((rc = cpgo_prbody_build(&in, &r->body, &blen, err))) {
        r->gcls = CPGO_GIT_INTERNAL;
        goto build_out;
    }
    if (cpgo_prbody_summary_line(&in, r->summary, sizeof r->summary) < 0)
        snprintf(r->summary, sizeof r->summary, "cpgo: update %s", f.path);
    if (cpgo_prbody_title(&in, r->title, sizeof r->title) < 0)
        snprintf(r->title, sizeof r->title, "cpgo: update the PGO profile");

    /* 8. the record first: a crash after the push must not count these scrapes twice */
    if ((rc = cpgo_gitrepo_blob_id(out.data, out.len, r->blob, err)) ||
        (rc = cpgo_state_push_begin(ts, r->blob, err))) {
        r->gcls = CPGO_GIT_LOCAL;
        goto build_out;
    }
    {
        /* the commit message: the summary line, then the body without its marker line */
        const char *b = r->body, *nl = strchr(b, '\n');
        if (nl && !strncmp(b, "<!--", 4)) b = nl + 1;
        while (*b == '\n') b++;
        const char *id = req->target_id ? req->target_id : "";
        size_t ml = strlen(r->summary) + strlen(b) + strlen(CPGO_GIT_TRAILER) + strlen(id) + 8;
        char *msg = malloc(ml);
        if (!msg) {
            rc = content_error(r, cpgo_err_set(err, CPGO_E_NOMEM, "out of memory"));
            goto build_out;
        }
        /* the trailer says which target the commit belongs to (ownership, collisions); the
         * body's footer about the pull request (after its "---" rule) is left out: git's
         * trailer parsers take a "---" line as the start of a patch */
        const char *foot = strstr(b, "\n---\n");
        size_t bl = foot ? (size_t)(foot - b) : strlen(b);
        while (bl && b[bl - 1] == '\n') bl--;
        snprintf(msg, ml, "%s\n\n%.*s\n\n%s: %s\n", r->summary, (int)bl, b, CPGO_GIT_TRAILER, id);
        struct cpgo_git_commit_req creq = {
            .target_branch = req->target_branch,
            .head_branch = r->head_branch,
            .path = f.path,
            .data = out.data,
            .len = out.len,
            .message = msg,
            .author = req->ident,
            .committer = req->ident,
            .overwrite_foreign = ours, /* decided above from the tip */
        };
        struct cpgo_git_publish pub;
        rc = cpgo_gitrepo_publish(g, &creq, &pub, err);
        free(msg);
        if (rc) {
            git_failed(g, r, rc);
            goto build_out;
        }
        r->pushed = pub.pushed;
        r->unchanged = pub.unchanged;
        r->same_as_base = pub.same_as_base;
        snprintf(r->commit, sizeof r->commit, "%s", pub.commit);
        snprintf(r->base, sizeof r->base, "%s", pub.base);
    }
build_out:
    if (have_sb) cpgo_summary_free(&sb);
    if (have_sa) cpgo_summary_free(&sa);
    cpgo_profile_free(old);
    cpgo_profile_free(neu);
    cpgo_merge_free(m);
    cpgo_buf_free(&out);
out:
    cpgo_git_file_free(&f);
    if (rc && r->gcls == CPGO_GIT_OK) r->gcls = CPGO_GIT_INTERNAL;
    return rc;
}
