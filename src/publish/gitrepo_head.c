/*
 * gitrepo_head.c - whose the head branch is, and whether cpgo's pushes landed:
 * cpgo_gitrepo_inspect_head (commits on top of the base, their committers, the tip's
 * Cpgo-Target trailer), cpgo_gitrepo_path_history (which pushed blobs the target branch's
 * file has been) and cpgo_gitrepo_is_merged. Reads the cache only. Thread: a target's
 * lane, inside one call (gitrepo_int.h).
 */
#include "publish/gitrepo_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the head branch ---- */

void gitrepo_ident_or_default(const struct cpgo_git_ident *in, const char **name,
                              const char **email)
{
    *name = in && in->name && *in->name ? in->name : CPGO_GIT_DEFAULT_NAME;
    *email = in && in->email && *in->email ? in->email : CPGO_GIT_DEFAULT_EMAIL;
}

/* Fills out->ahead, foreign, why and on_base for head (fetched) over base. */
int gitrepo_walk_head(struct call *c, const git_oid *base, const git_oid *head,
                      const char *target_branch, const char *head_branch,
                      const struct cpgo_git_ident *ident, struct cpgo_git_head *out)
{
    const char *name, *email;
    gitrepo_ident_or_default(ident, &name, &email);
    git_revwalk *walk = NULL;
    int rc;
    if ((rc = git_revwalk_new(&walk, c->repo)) < 0 || (rc = git_revwalk_push(walk, head)) < 0 ||
        (rc = git_revwalk_hide(walk, base)) < 0) {
        git_revwalk_free(walk);
        return gitrepo_gfail(c, CPGO_CLASS_LOCAL, rc, "cannot walk branch '%s' of %s", head_branch,
                             c->g->url);
    }
    git_oid id;
    int first_parent_is_base = 0;
    while (out->ahead < AHEAD_MAX && (rc = git_revwalk_next(&id, walk)) == 0) {
        out->ahead++;
        git_commit *cm = NULL;
        if ((rc = git_commit_lookup(&cm, c->repo, &id)) < 0) break;
        const git_signature *who = git_commit_committer(cm);
        int ours = who && who->name && who->email && !strcmp(who->name, name) &&
                   !strcmp(who->email, email);
        if (!ours && !out->foreign) {
            char hex[CPGO_GIT_ID_SIZE];
            gitrepo_oid_hex(hex, &id);
            snprintf(out->why, sizeof out->why, "commit %.12s by %s <%s> is not cpgo's", hex,
                     who && who->name ? who->name : "?", who && who->email ? who->email : "?");
            out->foreign = 1;
        }
        if (git_oid_equal(&id, head))
            first_parent_is_base =
                git_commit_parentcount(cm) == 1 && git_oid_equal(git_commit_parent_id(cm, 0), base);
        git_commit_free(cm);
    }
    git_revwalk_free(walk);
    if (rc < 0 && rc != GIT_ITEROVER)
        return gitrepo_gfail(c, CPGO_CLASS_LOCAL, rc, "cannot walk branch '%s' of %s", head_branch,
                             c->g->url);
    if (out->ahead > 1 && !out->foreign) {
        snprintf(out->why, sizeof out->why, "%s%llu commits on top of '%s' (cpgo makes one)",
                 out->ahead >= AHEAD_MAX ? "at least " : "", (unsigned long long)out->ahead,
                 target_branch);
        out->foreign = 1;
    }
    out->on_base = out->ahead == 1 && !out->foreign && first_parent_is_base;
    return 0;
}

int cpgo_gitrepo_inspect_head(struct cpgo_gitrepo *g, const char *target_branch,
                              const char *head_branch, const struct cpgo_git_ident *ident,
                              struct cpgo_git_head *out, struct cpgo_err *err)
{
    memset(out, 0, sizeof *out);
    struct call c;
    git_oid base, head;
    int found = 0;
    int rc = gitrepo_begin(&c, g, err);
    if (rc || (rc = gitrepo_check_branches(&c, target_branch, head_branch)) ||
        (rc = gitrepo_tracking_tip(&c, target_branch, NULL, &base)))
        goto out;
    gitrepo_oid_hex(out->base, &base);
    if ((rc = gitrepo_tracking_tip(&c, head_branch, &found, &head)) || !found) goto out;
    out->exists = 1;
    gitrepo_oid_hex(out->tip, &head);
    rc = gitrepo_walk_head(&c, &base, &head, target_branch, head_branch, ident, out);
    if (!rc) {
        /* who made the tip, and for which target: ownership follows the tip, not its parents
         * (a base branch rewritten under the branch must not make cpgo's commit foreign) */
        git_commit *cm = NULL;
        if (git_commit_lookup(&cm, c.repo, &head) >= 0) {
            const git_signature *who = git_commit_committer(cm);
            snprintf(out->tip_email, sizeof out->tip_email, "%s",
                     who && who->email ? who->email : "");
            git_message_trailer_array tr = {0};
            const char *msg = git_commit_message(cm);
            if (msg && git_message_trailers(&tr, msg) >= 0) {
                for (size_t i = 0; i < tr.count; i++)
                    if (!strcmp(tr.trailers[i].key, CPGO_GIT_TRAILER))
                        snprintf(out->tip_target, sizeof out->tip_target, "%s",
                                 tr.trailers[i].value);
                git_message_trailer_array_free(&tr);
            }
            git_commit_free(cm);
        }
        git_error_clear();
    }
out:
    gitrepo_end(&c);
    return rc;
}

int cpgo_gitrepo_path_history(struct cpgo_gitrepo *g, const char *target_branch, const char *path,
                              size_t max_commits, const char *const *blobs, size_t nblobs, int *hit,
                              struct cpgo_err *err)
{
    for (size_t i = 0; i < nblobs; i++)
        hit[i] = 0;
    if (!nblobs) return 0;
    struct call c;
    git_oid tip, id;
    git_oid *want = calloc(nblobs, sizeof *want);
    git_revwalk *walk = NULL;
    if (!want) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    for (size_t i = 0; i < nblobs; i++)
        if (git_oid_fromstr(&want[i], blobs[i]) < 0) memset(&want[i], 0, sizeof want[i]);
    int rc = gitrepo_begin(&c, g, err);
    if (rc || (rc = gitrepo_tracking_tip(&c, target_branch, NULL, &tip))) goto out;
    if ((rc = git_revwalk_new(&walk, c.repo)) < 0 ||
        (rc = git_revwalk_sorting(walk, GIT_SORT_TIME)) < 0 ||
        (rc = git_revwalk_push(walk, &tip)) < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_LOCAL, rc, "cannot walk branch '%s' of %s", target_branch,
                           g->url);
        goto out;
    }
    size_t seen = 0, left = nblobs;
    while (seen++ < max_commits && left && git_revwalk_next(&id, walk) == 0) {
        git_commit *cm = NULL;
        git_tree *tree = NULL;
        git_tree_entry *e = NULL;
        if (git_commit_lookup(&cm, c.repo, &id) >= 0 && git_commit_tree(&tree, cm) >= 0 &&
            git_tree_entry_bypath(&e, tree, path) >= 0) {
            for (size_t i = 0; i < nblobs; i++)
                if (!hit[i] && git_oid_equal(git_tree_entry_id(e), &want[i])) {
                    hit[i] = 1;
                    left--;
                }
        }
        git_tree_entry_free(e);
        git_tree_free(tree);
        git_commit_free(cm);
    }
    git_error_clear();
    rc = 0;
out:
    git_revwalk_free(walk);
    free(want);
    gitrepo_end(&c);
    return rc;
}

/* ---- merged? ---- */

int cpgo_gitrepo_is_merged(struct cpgo_gitrepo *g, const char *target_branch, const char *path,
                           const char *blob, int *merged, struct cpgo_err *err)
{
    *merged = 0;
    struct call c;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    git_tree_entry *entry = NULL;
    git_oid tip, want;
    int rc = gitrepo_begin(&c, g, err);
    if (rc || (rc = gitrepo_check_path(&c, path))) goto out;
    if (!blob || git_oid_fromstr(&want, blob) < 0) {
        rc = gitrepo_fail(&c, CPGO_CLASS_INTERNAL_RETRY, "'%s' is not a blob id", blob ? blob : "");
        goto out;
    }
    if ((rc = gitrepo_branch_tree(&c, target_branch, &tip, &commit, &tree))) goto out;
    rc = git_tree_entry_bypath(&entry, tree, path);
    if (rc == GIT_ENOTFOUND) {
        rc = 0;
        goto out;
    }
    if (rc < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_LOCAL, rc, "cannot read %s on branch '%s' of %s", path,
                           target_branch, g->url);
        goto out;
    }
    *merged = gitrepo_is_file_mode(git_tree_entry_filemode(entry)) &&
              git_oid_equal(git_tree_entry_id(entry), &want);
out:
    git_tree_entry_free(entry);
    git_tree_free(tree);
    git_commit_free(commit);
    gitrepo_end(&c);
    return rc;
}
