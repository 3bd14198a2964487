/*
 * gitrepo_find.c - reading the fetched branches: their tips and trees, and
 * cpgo_gitrepo_find_profile (the path, or the one match of a bare name in a bounded
 * search of the tree; a directory, symlink or submodule is refused; the blob read under a
 * ceiling), and cpgo_gitrepo_read_file (exactly one path on any fetched branch, such as
 * the head branch: what cpgo proposes now). Reads the cache only. Thread: a target's lane,
 * inside one call (gitrepo_int.h).
 */
#include "publish/gitrepo_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading the fetched branches ---- */

/* The fetched tip of a branch (refs/remotes/origin/<branch>). With `found` NULL the branch
 * must have been fetched; otherwise *found says whether it was. */
int gitrepo_tracking_tip(struct call *c, const char *branch, int *found, git_oid *out)
{
    char ref[512];
    int rc = gitrepo_ref_name(c, ref, sizeof ref, TRACKING_PREFIX, branch);
    if (rc) return rc;
    rc = git_reference_name_to_id(out, c->repo, ref);
    if (found) *found = rc == 0;
    if (rc == GIT_ENOTFOUND && found) return 0;
    if (rc == GIT_ENOTFOUND)
        return gitrepo_fail(c, CPGO_CLASS_NOT_FOUND, "branch '%s' of %s has not been fetched",
                            branch, c->g->url);
    if (rc < 0)
        return gitrepo_gfail(c, CPGO_CLASS_LOCAL, rc, "cannot read branch '%s' of %s", branch,
                             c->g->url);
    return 0;
}

int gitrepo_branch_tree(struct call *c, const char *branch, git_oid *tip, git_commit **commit,
                        git_tree **tree)
{
    int rc = gitrepo_tracking_tip(c, branch, NULL, tip);
    if (rc) return rc;
    if ((rc = git_commit_lookup(commit, c->repo, tip)) < 0 ||
        (rc = git_commit_tree(tree, *commit)) < 0)
        return gitrepo_gfail(c, CPGO_CLASS_LOCAL, rc, "cannot read branch '%s' of %s", branch,
                             c->g->url);
    return 0;
}

const char *gitrepo_mode_noun(git_filemode_t m)
{
    switch (m) {
    case GIT_FILEMODE_TREE:
        return "a directory";
    case GIT_FILEMODE_LINK:
        return "a symbolic link";
    case GIT_FILEMODE_COMMIT:
        return "a submodule";
    default:
        return "not a regular file";
    }
}

int gitrepo_is_file_mode(git_filemode_t m)
{
    return m == GIT_FILEMODE_BLOB || m == GIT_FILEMODE_BLOB_EXECUTABLE;
}

struct search {
    struct call *c;
    const char *name;
    size_t visited;
    size_t matches;
    char *first[MATCHES_LISTED];
    git_filemode_t first_mode;
    int over; /* 1: entries, 2: depth */
    char path[PATH_MAX_LEN + 1];
};

/* Depth-first over the tree; names are compared before subtrees are loaded. */
static int search_tree(struct search *s, git_tree *tree, size_t plen, int depth)
{
    size_t n = git_tree_entrycount(tree);
    for (size_t i = 0; i < n; i++) {
        if (++s->visited > CPGO_GIT_SEARCH_MAX_ENTRIES) {
            s->over = 1;
            return -1;
        }
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        const char *name = git_tree_entry_name(e);
        git_filemode_t m = git_tree_entry_filemode(e);
        size_t nl = strlen(name);
        if (plen + nl + 1 > PATH_MAX_LEN) continue; /* no such path can be configured */
        if (m != GIT_FILEMODE_TREE && !strcmp(name, s->name)) {
            if (s->matches < MATCHES_LISTED) {
                char *p = malloc(plen + nl + 1);
                if (!p) return -1;
                memcpy(p, s->path, plen);
                memcpy(p + plen, name, nl + 1);
                if (!s->matches) s->first_mode = m;
                s->first[s->matches] = p;
            }
            s->matches++;
            continue;
        }
        if (m != GIT_FILEMODE_TREE) continue;
        if (depth + 1 > CPGO_GIT_SEARCH_MAX_DEPTH) {
            s->over = 2;
            return -1;
        }
        git_tree *sub = NULL;
        int rc = git_tree_lookup(&sub, s->c->repo, git_tree_entry_id(e));
        if (rc < 0) return rc;
        memcpy(s->path + plen, name, nl);
        s->path[plen + nl] = '/';
        rc = search_tree(s, sub, plen + nl + 1, depth + 1);
        git_tree_free(sub);
        if (rc) return rc;
    }
    return 0;
}

/* Copies the blob `id` into out (bounded by max_bytes). */
static int read_blob(struct call *c, const git_oid *id, const char *branch, const char *path,
                     size_t max_bytes, struct cpgo_git_file *out)
{
    git_blob *blob = NULL;
    int rc = git_blob_lookup(&blob, c->repo, id);
    if (rc < 0)
        return gitrepo_gfail(c, CPGO_CLASS_LOCAL, rc, "cannot read %s on branch '%s' of %s", path,
                             branch, c->g->url);
    git_object_size_t size = git_blob_rawsize(blob);
    if (size > max_bytes) {
        git_blob_free(blob);
        return gitrepo_fail(c, CPGO_CLASS_LIMIT,
                            "%s on branch '%s' of %s is %llu bytes, more than the limit of %zu",
                            path, branch, c->g->url, (unsigned long long)size, max_bytes);
    }
    out->data = malloc(size ? (size_t)size : 1);
    if (!out->data) {
        git_blob_free(blob);
        return gitrepo_fail(c, CPGO_CLASS_INTERNAL_RETRY, "out of memory reading %s", path);
    }
    memcpy(out->data, git_blob_rawcontent(blob), (size_t)size);
    out->len = (size_t)size;
    gitrepo_oid_hex(out->blob, id);
    git_blob_free(blob);
    return 0;
}

void cpgo_git_file_free(struct cpgo_git_file *f)
{
    if (!f) return;
    free(f->path);
    free(f->data);
    memset(f, 0, sizeof *f);
}

int cpgo_gitrepo_find_profile(struct cpgo_gitrepo *g, const char *target_branch,
                              const char *target_file, size_t max_bytes, struct cpgo_git_file *out,
                              struct cpgo_err *err)
{
    memset(out, 0, sizeof *out);
    struct call c;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    git_tree_entry *entry = NULL;
    struct search s;
    memset(&s, 0, sizeof s);
    git_oid tip;
    int rc = gitrepo_begin(&c, g, err);
    if (rc || (rc = gitrepo_check_path(&c, target_file)) ||
        (rc = gitrepo_branch_tree(&c, target_branch, &tip, &commit, &tree)))
        goto out;
    gitrepo_oid_hex(out->base, &tip);
    rc = git_tree_entry_bypath(&entry, tree, target_file);
    if (rc == 0) {
        git_filemode_t m = git_tree_entry_filemode(entry);
        if (!gitrepo_is_file_mode(m)) {
            rc =
                gitrepo_fail(&c, CPGO_CLASS_CONTENT, "%s on branch '%s' of %s is %s, not a profile",
                             target_file, target_branch, g->url, gitrepo_mode_noun(m));
            goto out;
        }
        if (!(out->path = strdup(target_file))) {
            rc = gitrepo_fail(&c, CPGO_CLASS_INTERNAL_RETRY, "out of memory");
            goto out;
        }
        if ((rc = read_blob(&c, git_tree_entry_id(entry), target_branch, target_file, max_bytes,
                            out)))
            goto out;
        out->found = 1;
        goto out;
    }
    if (rc != GIT_ENOTFOUND) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_LOCAL, rc, "cannot read %s on branch '%s' of %s",
                           target_file, target_branch, g->url);
        goto out;
    }
    rc = 0;
    if (strchr(target_file, '/')) goto absent; /* a path: the caller creates it there */
    s.c = &c;
    s.name = target_file;
    int src = search_tree(&s, tree, 0, 0);
    if (s.over) {
        char why[64];
        if (s.over == 1)
            snprintf(why, sizeof why, "more than %d entries", CPGO_GIT_SEARCH_MAX_ENTRIES);
        else
            snprintf(why, sizeof why, "directories nested deeper than %d",
                     CPGO_GIT_SEARCH_MAX_DEPTH);
        rc = gitrepo_fail(&c, CPGO_CLASS_LIMIT,
                          "searching branch '%s' of %s for %s: %s; set target_file to the "
                          "profile's path",
                          target_branch, g->url, target_file, why);
        goto out;
    }
    if (src < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_LOCAL, src, "cannot search branch '%s' of %s",
                           target_branch, g->url);
        goto out;
    }
    if (s.matches > 1) {
        char list[300] = "";
        size_t n = 0;
        for (size_t i = 0; i < s.matches && i < MATCHES_LISTED; i++) {
            int w = snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", s.first[i]);
            if (w < 0 || (size_t)w >= sizeof list - n) break;
            n += (size_t)w;
        }
        rc = gitrepo_fail(
            &c, CPGO_CLASS_CONTENT,
            "%zu files named %s on branch '%s' of %s: %s%s; set target_file to the path "
            "of the one to update",
            s.matches, target_file, target_branch, g->url, list,
            s.matches > MATCHES_LISTED ? ", ..." : "");
        goto out;
    }
    if (s.matches == 1) {
        if (!gitrepo_is_file_mode(s.first_mode)) {
            rc =
                gitrepo_fail(&c, CPGO_CLASS_CONTENT, "%s on branch '%s' of %s is %s, not a profile",
                             s.first[0], target_branch, g->url, gitrepo_mode_noun(s.first_mode));
            goto out;
        }
        git_tree_entry *found = NULL;
        if ((rc = git_tree_entry_bypath(&found, tree, s.first[0])) < 0) {
            rc = gitrepo_gfail(&c, CPGO_CLASS_LOCAL, rc, "cannot read %s on branch '%s' of %s",
                               s.first[0], target_branch, g->url);
            goto out;
        }
        rc = read_blob(&c, git_tree_entry_id(found), target_branch, s.first[0], max_bytes, out);
        git_tree_entry_free(found);
        if (rc) goto out;
        out->path = s.first[0];
        s.first[0] = NULL;
        out->found = 1;
        out->searched = 1;
        goto out;
    }
absent:
    if (!(out->path = strdup(target_file)))
        rc = gitrepo_fail(&c, CPGO_CLASS_INTERNAL_RETRY, "out of memory");
out:
    for (size_t i = 0; i < MATCHES_LISTED; i++)
        free(s.first[i]);
    git_tree_entry_free(entry);
    git_tree_free(tree);
    git_commit_free(commit);
    gitrepo_end(&c);
    if (rc) {
        char base[CPGO_GIT_ID_SIZE];
        memcpy(base, out->base, sizeof base);
        cpgo_git_file_free(out);
        memcpy(out->base, base, sizeof base);
    }
    return rc;
}

/* The exact path on any fetched branch, without the bare-name search: the head branch
 * holds the file where cpgo put it, and a branch that is gone is an answer, not an error. */
int cpgo_gitrepo_read_file(struct cpgo_gitrepo *g, const char *branch, const char *path,
                           size_t max_bytes, struct cpgo_git_file *out, struct cpgo_err *err)
{
    memset(out, 0, sizeof *out);
    struct call c;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    git_tree_entry *entry = NULL;
    git_oid tip;
    int fetched = 0;
    int rc = gitrepo_begin(&c, g, err);
    if (rc || (rc = gitrepo_check_path(&c, path)) ||
        (rc = gitrepo_tracking_tip(&c, branch, &fetched, &tip)) || !fetched)
        goto out;
    gitrepo_oid_hex(out->base, &tip);
    if ((rc = git_commit_lookup(&commit, c.repo, &tip)) < 0 ||
        (rc = git_commit_tree(&tree, commit)) < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_LOCAL, rc, "cannot read branch '%s' of %s", branch,
                           g->url);
        goto out;
    }
    rc = git_tree_entry_bypath(&entry, tree, path);
    if (rc == GIT_ENOTFOUND) {
        rc = 0;
        goto out;
    }
    if (rc < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_LOCAL, rc, "cannot read %s on branch '%s' of %s", path,
                           branch, g->url);
        goto out;
    }
    git_filemode_t m = git_tree_entry_filemode(entry);
    if (!gitrepo_is_file_mode(m)) {
        rc = gitrepo_fail(&c, CPGO_CLASS_CONTENT, "%s on branch '%s' of %s is %s, not a profile",
                          path, branch, g->url, gitrepo_mode_noun(m));
        goto out;
    }
    if ((rc = read_blob(&c, git_tree_entry_id(entry), branch, path, max_bytes, out))) goto out;
    out->found = 1;
out:
    if (!rc && !(out->path = strdup(path)))
        rc = gitrepo_fail(&c, CPGO_CLASS_INTERNAL_RETRY, "out of memory");
    git_tree_entry_free(entry);
    git_tree_free(tree);
    git_commit_free(commit);
    gitrepo_end(&c);
    if (rc) {
        char base[CPGO_GIT_ID_SIZE];
        memcpy(base, out->base, sizeof base);
        cpgo_git_file_free(out);
        memcpy(out->base, base, sizeof base);
    }
    return rc;
}
