/*
 * gitrepo_push.c - cpgo_gitrepo_publish: one commit on the fetched tip of target_branch
 * whose tree changes only the profile, built in memory (mempack) and written as one pack
 * only when it is pushed; then a force-push with a lease (remote repositories) or the
 * objects copied and the ref compare-and-swapped (local ones, refused while the branch is
 * checked out in a working tree). And cpgo_gitrepo_blob_id, the id a push will carry.
 * Thread: the caller's (a target's lane), inside one call (gitrepo_int.h).
 */
#include "publish/gitrepo_int.h"

#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- regenerating the commit ---- */

/*
 * Writes the tree `tree` (NULL: an empty directory) with `path` set to blob `id`, into
 * *out. Subtrees on the way are rewritten; every other entry is kept as it is.
 */
static int tree_with(struct call *c, git_tree *tree, const char *path, const char *full,
                     const git_oid *id, git_oid *out)
{
    git_treebuilder *b = NULL;
    git_tree *sub = NULL;
    char *name = NULL;
    int rc = git_treebuilder_new(&b, c->repo, tree);
    if (rc < 0) {
        rc = gitrepo_gfail(c, CPGO_CLASS_INTERNAL_RETRY, rc, "cannot build a tree for %s", full);
        goto out;
    }
    const char *slash = strchr(path, '/');
    if (!slash) {
        const git_tree_entry *e = tree ? git_tree_entry_byname(tree, path) : NULL;
        git_filemode_t mode = GIT_FILEMODE_BLOB;
        if (e) {
            mode = git_tree_entry_filemode(e);
            if (!gitrepo_is_file_mode(mode)) {
                rc = gitrepo_fail(c, CPGO_CLASS_CONTENT, "%s in %s is %s, not a profile", full,
                                  c->g->url, gitrepo_mode_noun(mode));
                goto out;
            }
        }
        if ((rc = git_treebuilder_insert(NULL, b, path, id, mode)) < 0) {
            rc = gitrepo_gfail(c, CPGO_CLASS_CONTENT, rc, "cannot add %s to the tree", full);
            goto out;
        }
    } else {
        if (!(name = strndup(path, (size_t)(slash - path)))) {
            rc = gitrepo_fail(c, CPGO_CLASS_INTERNAL_RETRY, "out of memory");
            goto out;
        }
        const git_tree_entry *e = tree ? git_tree_entry_byname(tree, name) : NULL;
        if (e && git_tree_entry_filemode(e) != GIT_FILEMODE_TREE) {
            rc = gitrepo_fail(c, CPGO_CLASS_CONTENT, "cannot create %s in %s: %.*s is %s", full,
                              c->g->url, (int)(slash - full), full,
                              gitrepo_mode_noun(git_tree_entry_filemode(e)));
            goto out;
        }
        if (e && (rc = git_tree_lookup(&sub, c->repo, git_tree_entry_id(e))) < 0) {
            rc = gitrepo_gfail(c, CPGO_CLASS_LOCAL, rc, "cannot read the tree of %s", full);
            goto out;
        }
        git_oid subid;
        if ((rc = tree_with(c, sub, slash + 1, full, id, &subid))) goto out;
        if ((rc = git_treebuilder_insert(NULL, b, name, &subid, GIT_FILEMODE_TREE)) < 0) {
            rc = gitrepo_gfail(c, CPGO_CLASS_CONTENT, rc, "cannot add %s to the tree", full);
            goto out;
        }
    }
    if ((rc = git_treebuilder_write(out, b)) < 0)
        rc = gitrepo_gfail(c, CPGO_CLASS_INTERNAL_RETRY, rc, "cannot write the tree for %s", full);
out:
    free(name);
    git_tree_free(sub);
    git_treebuilder_free(b);
    return rc;
}

/* Writes a pack (as git_mempack_dump made it) into repo's object database. */
static int write_pack(git_repository *repo, const git_buf *pack)
{
    git_odb *odb = NULL;
    git_odb_writepack *wp = NULL;
    git_indexer_progress stats;
    memset(&stats, 0, sizeof stats);
    int rc = git_repository_odb(&odb, repo);
    if (rc >= 0) rc = git_odb_write_pack(&wp, odb, NULL, NULL);
    if (rc >= 0) rc = wp->append(wp, pack->ptr, pack->size, &stats);
    if (rc >= 0) rc = wp->commit(wp, &stats);
    if (wp) wp->free(wp);
    git_odb_free(odb);
    return rc;
}

/*
 * Local repositories: the objects go straight into the repository's object database and
 * the branch moves only if it still has the value cpgo fetched (compare-and-swap).
 */
/*
 * Copies into dst the objects of a regenerated commit that dst lacks: the commit, the trees
 * along `path` and the blob; everything else is shared with the base, which came from dst.
 * (Not the mempack's content: libgit2 does not write an object the cache already has, and
 * dst may have pruned an old cpgo blob that the cache still keeps.)
 */
static int copy_objects(struct call *c, git_repository *dst, const git_oid *commit,
                        const git_oid *tree, const char *path)
{
    git_oid ids[PATH_MAX_SEGMENTS + 3];
    size_t n = 0;
    ids[n++] = *commit;
    ids[n++] = *tree;
    git_odb *from = NULL, *to = NULL;
    git_tree *root = NULL;
    int rc = git_tree_lookup(&root, c->repo, tree);
    char prefix[PATH_MAX_LEN + 1];
    for (const char *p = path; rc >= 0 && p && n < PATH_MAX_SEGMENTS + 3;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);
        memcpy(prefix, path, len);
        prefix[len] = 0;
        git_tree_entry *e = NULL;
        if ((rc = git_tree_entry_bypath(&e, root, prefix)) < 0) break;
        ids[n++] = *git_tree_entry_id(e);
        git_tree_entry_free(e);
        p = slash ? slash + 1 : NULL;
    }
    if (rc >= 0) rc = git_repository_odb(&from, c->repo);
    if (rc >= 0) rc = git_repository_odb(&to, dst);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        if (git_odb_exists(to, &ids[i])) continue;
        git_odb_object *o = NULL;
        git_oid written;
        if ((rc = git_odb_read(&o, from, &ids[i])) < 0) break;
        rc = git_odb_write(&written, to, git_odb_object_data(o), git_odb_object_size(o),
                           git_odb_object_type(o));
        git_odb_object_free(o);
    }
    git_odb_free(from);
    git_odb_free(to);
    git_tree_free(root);
    return rc < 0 ? rc : 0;
}

/* 1 when repository r (a working tree's) has HEAD naming `href`, even unborn. */
static int head_names(git_repository *r, const char *href)
{
    git_reference *h = NULL;
    if (git_reference_lookup(&h, r, "HEAD") < 0) {
        git_error_clear();
        return 0;
    }
    int yes = git_reference_type(h) == GIT_REFERENCE_SYMBOLIC &&
              !strcmp(git_reference_symbolic_target(h), href);
    git_reference_free(h);
    return yes;
}

/*
 * Is `href` the branch checked out in a working tree of dst: the main one (unless bare) or
 * a linked one (`git worktree add`, also of a bare repository)? Moving that branch would
 * leave the working tree's index and files describing the old commit, so the next commit
 * made there would silently revert cpgo's. git push refuses it (receive.denyCurrentBranch),
 * and so does cpgo. This is what git_branch_is_checked_out answers, plus an unborn branch
 * (`git checkout --orphan`, not a ref yet) and the working tree's path for the message.
 * Returns 1 with *where set, 0, or a negative libgit2 code.
 */
static int checked_out(git_repository *dst, const char *href, char *where, size_t cap)
{
    git_repository *common = dst, *wr = NULL;
    git_strarray names = {0};
    int rc = 0;
    if (git_repository_is_worktree(dst) &&
        (rc = git_repository_open_ext(&common, git_repository_commondir(dst),
                                      GIT_REPOSITORY_OPEN_NO_SEARCH, NULL)) < 0)
        return rc;
    if (!git_repository_is_bare(common) && head_names(common, href)) {
        snprintf(where, cap, "%s", git_repository_workdir(common));
        rc = 1;
        goto out;
    }
    if ((rc = git_worktree_list(&names, common)) < 0) goto out;
    for (size_t i = 0; i < names.count && rc == 0; i++) {
        git_worktree *wt = NULL;
        /* a linked tree's HEAD lives in the common directory (worktrees/<name>/HEAD), so
         * this works even while its files are on an unmounted disk */
        if (git_worktree_lookup(&wt, common, names.strings[i]) < 0 ||
            git_repository_open_from_worktree(&wr, wt) < 0) {
            git_error_clear();
            git_worktree_free(wt);
            continue;
        }
        if (head_names(wr, href)) {
            snprintf(where, cap, "%s", git_worktree_path(wt));
            rc = 1;
        }
        git_repository_free(wr);
        wr = NULL;
        git_worktree_free(wt);
    }
out:
    git_strarray_dispose(&names);
    if (common != dst) git_repository_free(common);
    return rc;
}

static int update_local(struct call *c, const char *head_branch, const git_oid *commit,
                        const git_oid *tree, const char *path, const git_oid *expect)
{
    git_repository *dst = NULL;
    git_reference *ref = NULL;
    char href[512];
    int rc = gitrepo_ref_name(c, href, sizeof href, "refs/heads/", head_branch);
    if (rc) return rc;
    rc = git_repository_open_ext(&dst, gitrepo_local_path(c->g->url), GIT_REPOSITORY_OPEN_NO_SEARCH,
                                 NULL);
    if (rc < 0) {
        rc = gitrepo_gfail(c, rc == GIT_ENOTFOUND ? CPGO_CLASS_NOT_FOUND : CPGO_CLASS_LOCAL, rc,
                           "cannot open %s", c->g->url);
        goto out;
    }
    char where[1024];
    if ((rc = checked_out(dst, href, where, sizeof where)) < 0) {
        rc = gitrepo_gfail(c, CPGO_CLASS_LOCAL, rc, "cannot list the working trees of %s",
                           c->g->url);
        goto out;
    }
    if (rc == 1) {
        rc = gitrepo_fail(
            c, CPGO_CLASS_REJECTED,
            "refusing to update branch '%s' of %s: it is checked out in the working tree "
            "%s (as git push refuses; check out another branch there, or use a bare "
            "repository)",
            head_branch, c->g->url, where);
        goto out;
    }
    if ((rc = copy_objects(c, dst, commit, tree, path)) < 0) {
        rc = gitrepo_gfail(c, CPGO_CLASS_LOCAL, rc, "cannot write objects into %s", c->g->url);
        goto out;
    }
    if (expect)
        rc = git_reference_create_matching(&ref, dst, href, commit, 1, expect, "cpgo: regenerate");
    else
        rc = git_reference_create(&ref, dst, href, commit, 0, "cpgo: regenerate");
    if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS || (rc == GIT_ENOTFOUND && expect)) {
        rc = gitrepo_fail(c, CPGO_CLASS_CONFLICT,
                          "branch '%s' of %s changed since it was fetched; not overwritten",
                          head_branch, c->g->url);
        goto out;
    }
    if (rc < 0)
        rc = gitrepo_gfail(c, CPGO_CLASS_LOCAL, rc, "cannot update branch '%s' of %s", head_branch,
                           c->g->url);
out:
    git_reference_free(ref);
    git_repository_free(dst);
    return rc;
}

/*
 * Remote repositories: a push of refs/cpgo/push to refs/heads/<head_branch>, forced,
 * after checking on the same connection that the branch still has the value fetched.
 */
static int push_remote(struct call *c, const char *head_branch, const git_oid *commit,
                       const git_oid *expect)
{
    git_remote *remote = NULL;
    git_reference *ref = NULL;
    char href[512], spec[1100];
    int pushref = 0;
    int rc = gitrepo_ref_name(c, href, sizeof href, "refs/heads/", head_branch);
    if (rc) return rc;
    if ((rc = git_reference_create(&ref, c->repo, PUSH_REF, commit, 1, "cpgo: push")) < 0) {
        rc = gitrepo_gfail(c, CPGO_CLASS_LOCAL, rc, "cannot prepare the push to %s", c->g->url);
        goto out;
    }
    pushref = 1;
    git_remote_callbacks cbs;
    git_proxy_options proxy;
    gitrepo_callbacks(c, &cbs);
    gitrepo_proxy_opts(&proxy);
    gitrepo_arm_deadline(c);
    if ((rc = gitrepo_anon_remote(c, &remote)) < 0) {
        rc = gitrepo_gfail(c, CPGO_CLASS_INTERNAL_RETRY, rc, "cannot push to %s", c->g->url);
        goto out;
    }
    if ((rc = git_remote_connect(remote, GIT_DIRECTION_PUSH, &cbs, &proxy, NULL)) < 0) {
        rc = gitrepo_gfail(c, CPGO_CLASS_NETWORK, rc, "cannot push to %s", c->g->url);
        goto out;
    }
    const git_remote_head **heads = NULL;
    size_t n = 0;
    if ((rc = git_remote_ls(&heads, &n, remote)) < 0) {
        rc = gitrepo_gfail(c, CPGO_CLASS_NETWORK, rc, "cannot list the branches of %s", c->g->url);
        goto out;
    }
    const git_oid *now_at = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(heads[i]->name, href)) now_at = &heads[i]->oid;
    if ((now_at == NULL) != (expect == NULL) || (now_at && !git_oid_equal(now_at, expect))) {
        rc = gitrepo_fail(c, CPGO_CLASS_CONFLICT,
                          "branch '%s' of %s changed since it was fetched; not overwritten",
                          head_branch, c->g->url);
        goto out;
    }
    snprintf(spec, sizeof spec, "+%s:%s", PUSH_REF, href);
    char *specv[1] = {spec};
    git_strarray specs = {specv, 1};
    git_push_options po;
    git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
    po.callbacks = cbs;
    po.proxy_opts = proxy;
    if ((rc = git_remote_upload(remote, &specs, &po)) < 0) {
        rc = gitrepo_gfail(c, CPGO_CLASS_NETWORK, rc, "cannot push branch '%s' to %s", head_branch,
                           c->g->url);
        goto out;
    }
    if (c->push_rejected) {
        rc = gitrepo_fail(c, CPGO_CLASS_REJECTED, "%s refused the push of branch '%s': %s",
                          c->g->url, head_branch, c->push_status);
        goto out;
    }
    rc = 0;
out:
    if (remote) git_remote_disconnect(remote);
    git_remote_free(remote);
    git_reference_free(ref);
    if (pushref) git_reference_remove(c->repo, PUSH_REF);
    return rc;
}

int cpgo_gitrepo_publish(struct cpgo_gitrepo *g, const struct cpgo_git_commit_req *req,
                         struct cpgo_git_publish *out, struct cpgo_err *err)
{
    memset(out, 0, sizeof *out);
    struct call c;
    git_commit *base = NULL, *headc = NULL;
    git_tree *base_tree = NULL, *tree = NULL;
    git_odb *odb = NULL;
    git_odb_backend *mem = NULL;
    git_signature *author = NULL, *committer = NULL;
    git_buf msg = {0}, pack = {0};
    git_oid base_id, head_id, blob_id, tree_id, commit_id;
    int have_head = 0;
    int rc = gitrepo_begin(&c, g, err);
    if (rc || (rc = gitrepo_check_branches(&c, req->target_branch, req->head_branch)) ||
        (rc = gitrepo_check_path(&c, req->path)) ||
        (rc = gitrepo_branch_tree(&c, req->target_branch, &base_id, &base, &base_tree)))
        goto out;
    gitrepo_oid_hex(out->base, &base_id);
    if ((rc = gitrepo_tracking_tip(&c, req->head_branch, &have_head, &head_id))) goto out;
    if (have_head && !req->overwrite_foreign) {
        /* the caller inspects first; this makes sure a human's work is never overwritten */
        struct cpgo_git_head h;
        memset(&h, 0, sizeof h);
        if ((rc = gitrepo_walk_head(&c, &base_id, &head_id, req->target_branch, req->head_branch,
                                    &req->committer, &h)))
            goto out;
        if (h.foreign) {
            rc = gitrepo_fail(&c, CPGO_CLASS_FOREIGN,
                              "branch '%s' of %s is not cpgo's to rewrite: %s", req->head_branch,
                              g->url, h.why);
            goto out;
        }
    }
    /* New objects go to memory first: most rounds end as "unchanged" and write nothing. */
    if ((rc = git_repository_odb(&odb, c.repo)) < 0 || (rc = git_mempack_new(&mem)) < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_INTERNAL_RETRY, rc, "cannot prepare a commit for %s",
                           g->url);
        goto out;
    }
    if ((rc = git_odb_add_backend(odb, mem, 1000)) < 0) {
        git_error_clear();
        mem->free(mem);
        mem = NULL;
        rc = gitrepo_fail(&c, CPGO_CLASS_INTERNAL_RETRY, "cannot prepare a commit for %s", g->url);
        goto out;
    }
    if ((rc = git_blob_create_from_buffer(&blob_id, c.repo, req->data, req->len)) < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_INTERNAL_RETRY, rc, "cannot store the profile for %s",
                           g->url);
        goto out;
    }
    if ((rc = tree_with(&c, base_tree, req->path, req->path, &blob_id, &tree_id))) goto out;
    gitrepo_oid_hex(out->blob, &blob_id);
    if (git_oid_equal(&tree_id, git_tree_id(base_tree))) {
        out->same_as_base = 1;
        gitrepo_oid_hex(out->commit, have_head ? &head_id : NULL);
        goto out;
    }
    if (have_head) {
        if ((rc = git_commit_lookup(&headc, c.repo, &head_id)) < 0) {
            rc = gitrepo_gfail(&c, CPGO_CLASS_LOCAL, rc, "cannot read branch '%s' of %s",
                               req->head_branch, g->url);
            goto out;
        }
        if (git_commit_parentcount(headc) == 1 &&
            git_oid_equal(git_commit_parent_id(headc, 0), &base_id) &&
            git_oid_equal(git_commit_tree_id(headc), &tree_id)) {
            out->unchanged = 1;
            gitrepo_oid_hex(out->commit, &head_id);
            goto out;
        }
    }
    const char *an, *ae, *cn, *ce;
    gitrepo_ident_or_default(&req->author, &an, &ae);
    gitrepo_ident_or_default(&req->committer, &cn, &ce);
    if ((rc = git_signature_now(&author, an, ae)) < 0 ||
        (rc = git_signature_now(&committer, cn, ce)) < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_CONTENT, rc, "invalid author or committer");
        goto out;
    }
    if ((rc = git_message_prettify(&msg, req->message && *req->message ? req->message : "cpgo", 0,
                                   '#')) < 0 ||
        (rc = git_tree_lookup(&tree, c.repo, &tree_id)) < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_INTERNAL_RETRY, rc, "cannot prepare a commit for %s",
                           g->url);
        goto out;
    }
    const git_commit *parents[1] = {base};
    if ((rc = git_commit_create(&commit_id, c.repo, NULL, author, committer, NULL, msg.ptr, tree, 1,
                                parents)) < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_INTERNAL_RETRY, rc, "cannot create a commit for %s",
                           g->url);
        goto out;
    }
    /* The new objects, as one pack, into the cache before any ref points at them; the
       repository gets them from the push (or copy_objects for a local one). */
    if ((rc = git_mempack_dump(&pack, c.repo, mem)) < 0 || (rc = write_pack(c.repo, &pack)) < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_LOCAL, rc, "cannot write the commit into %s", g->cache);
        goto out;
    }
    if (g->kind == CPGO_REPO_FILE)
        rc = update_local(&c, req->head_branch, &commit_id, &tree_id, req->path,
                          have_head ? &head_id : NULL);
    else
        rc = push_remote(&c, req->head_branch, &commit_id, have_head ? &head_id : NULL);
    if (rc) goto out;
    out->pushed = 1;
    gitrepo_oid_hex(out->commit, &commit_id);
    /* What cpgo_gitrepo_fetch would now find: the next round sees the branch as pushed even
       if it does not fetch first. */
    char tdst[512];
    git_reference *ref = NULL;
    if (!gitrepo_ref_name(&c, tdst, sizeof tdst, TRACKING_PREFIX, req->head_branch) &&
        git_reference_create(&ref, c.repo, tdst, &commit_id, 1, "cpgo: pushed") >= 0)
        git_reference_free(ref);
    git_error_clear();
    gitrepo_maybe_repack(&c); /* after the ref moved: the new commit is reachable */
    rc = 0;
out:
    git_buf_dispose(&pack);
    git_buf_dispose(&msg);
    git_signature_free(author);
    git_signature_free(committer);
    git_tree_free(tree);
    git_tree_free(base_tree);
    git_commit_free(headc);
    git_commit_free(base);
    git_odb_free(odb); /* frees the mempack with it */
    gitrepo_end(&c);
    return rc;
}

int cpgo_gitrepo_blob_id(const void *data, size_t len, char out[CPGO_GIT_ID_SIZE],
                         struct cpgo_err *err)
{
    git_oid id;
    if (git_odb_hash(&id, data, len, GIT_OBJECT_BLOB) < 0) {
        git_error_clear();
        out[0] = 0;
        return cpgo_err_set(err, CPGO_E_NOMEM, "cannot hash the profile");
    }
    gitrepo_oid_hex(out, &id);
    return 0;
}
