/*
 * gitrepo_log.c - when the file at a path last changed on a fetched branch:
 * cpgo_gitrepo_last_change, the age of a profile that carries no cpgo stamp (decay).
 *
 * It answers what `git log -1 --format=%ct <branch> -- <path>` answers, so a person can
 * check it: the walk goes newest first by committer time (ties: the commit queued first,
 * as git's date queue), and follows git's default history simplification. A commit whose
 * entry at the path (blob id and mode, or absence) equals a parent's is "the same" as that
 * parent: it is not a change, and only the first such parent is followed (a merge that
 * took one side's file unchanged hides the other side's history of the file, whose
 * commits git log does not show either). A commit that differs from every parent is a
 * change: the first one the walk meets is the answer. A root commit changes the path when
 * it has the file.
 *
 * libgit2's revwalk cannot follow only some parents, so the walk is ours: a binary heap
 * of commits by committer time and an index of the commits already met (base/hash's
 * cpgo_itab over a node array), each commit read once. Memory is bounded by max_commits
 * times the parents per commit. Reads the cache only. Thread: a target's lane, inside one
 * call (gitrepo_int.h).
 */
#include "publish/gitrepo_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/hash.h"

/* A commit met by the walk and the path's entry in its tree. */
struct node {
    git_oid id;
    int64_t time; /* committer time */
    int present;  /* the path exists in its tree */
    git_filemode_t mode;
    git_oid blob;
    int queued; /* pushed on the heap once: a commit is walked at most once */
};

struct walk {
    struct call *c;
    const char *branch;
    const char *path;
    struct node *nodes;
    size_t n, cap;
    struct cpgo_itab seen; /* oid -> index into nodes */
    uint32_t *heap;        /* node indexes; the newest on top */
    size_t hn, hcap;
};

/* A SHA-1 is uniform, but a hostile server can grind commits whose ids share their low
 * bits: under the process key (base/hash.h) it cannot aim at one probe chain. */
static uint64_t oid_hash(const git_oid *id)
{
    uint64_t h;
    memcpy(&h, id->id, sizeof h);
    return cpgo_hash_mix(cpgo_hash_keyed(0x67), h);
}

struct probe {
    const struct walk *w;
    const git_oid *id;
};

static int node_eq(const void *ctx, uint32_t idx)
{
    const struct probe *p = ctx;
    return git_oid_equal(&p->w->nodes[idx].id, p->id);
}

/* Newer first; equal times in the order they were met (node indexes grow). */
static int heap_before(const struct walk *w, uint32_t a, uint32_t b)
{
    if (w->nodes[a].time != w->nodes[b].time) return w->nodes[a].time > w->nodes[b].time;
    return a < b;
}

static int heap_push(struct walk *w, uint32_t idx)
{
    if (CPGO_ARRAY_PUSH_ROOM(w->heap, w->hn, w->hcap)) return CPGO_E_NOMEM;
    size_t i = w->hn++;
    w->heap[i] = idx;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_before(w, w->heap[i], w->heap[p])) break;
        uint32_t t = w->heap[i];
        w->heap[i] = w->heap[p];
        w->heap[p] = t;
        i = p;
    }
    return 0;
}

static uint32_t heap_pop(struct walk *w)
{
    uint32_t top = w->heap[0];
    w->heap[0] = w->heap[--w->hn];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < w->hn && heap_before(w, w->heap[l], w->heap[m])) m = l;
        if (r < w->hn && heap_before(w, w->heap[r], w->heap[m])) m = r;
        if (m == i) break;
        uint32_t t = w->heap[i];
        w->heap[i] = w->heap[m];
        w->heap[m] = t;
        i = m;
    }
    return top;
}

/* The node of commit `id`, reading the commit and its entry at the path the first time it
 * is met. *out = its index. */
static int node_get(struct walk *w, const git_oid *id, uint32_t *out)
{
    struct probe pr = {w, id};
    int64_t at = cpgo_itab_find(&w->seen, oid_hash(id), node_eq, &pr);
    if (at >= 0) {
        *out = (uint32_t)at;
        return 0;
    }
    if (w->n >= UINT32_MAX - 1 || CPGO_ARRAY_PUSH_ROOM(w->nodes, w->n, w->cap))
        return gitrepo_fail(w->c, CPGO_CLASS_INTERNAL_RETRY, "out of memory walking '%s'",
                            w->branch);
    git_commit *cm = NULL;
    git_tree *tree = NULL;
    git_tree_entry *e = NULL;
    int rc;
    if ((rc = git_commit_lookup(&cm, w->c->repo, id)) < 0 || (rc = git_commit_tree(&tree, cm)) < 0)
        goto fail;
    struct node *nd = &w->nodes[w->n];
    memset(nd, 0, sizeof *nd);
    git_oid_cpy(&nd->id, id);
    nd->time = (int64_t)git_commit_time(cm);
    rc = git_tree_entry_bypath(&e, tree, w->path);
    if (rc == 0) {
        nd->present = 1;
        nd->mode = git_tree_entry_filemode(e);
        git_oid_cpy(&nd->blob, git_tree_entry_id(e));
    } else if (rc != GIT_ENOTFOUND) {
        goto fail;
    }
    git_tree_entry_free(e);
    git_tree_free(tree);
    git_commit_free(cm);
    git_error_clear();
    if (cpgo_itab_insert(&w->seen, oid_hash(id), (uint32_t)w->n))
        return gitrepo_fail(w->c, CPGO_CLASS_INTERNAL_RETRY, "out of memory walking '%s'",
                            w->branch);
    *out = (uint32_t)w->n++;
    return 0;
fail:
    git_tree_entry_free(e);
    git_tree_free(tree);
    git_commit_free(cm);
    return gitrepo_gfail(w->c, CPGO_CLASS_LOCAL, rc, "cannot walk branch '%s' of %s for %s",
                         w->branch, w->c->g->url, w->path);
}

static int same_entry(const struct node *a, const struct node *b)
{
    if (a->present != b->present) return 0;
    return !a->present || (a->mode == b->mode && git_oid_equal(&a->blob, &b->blob));
}

/* Queues node idx unless it was queued before. */
static int enqueue(struct walk *w, uint32_t idx)
{
    if (w->nodes[idx].queued) return 0;
    w->nodes[idx].queued = 1;
    if (heap_push(w, idx))
        return gitrepo_fail(w->c, CPGO_CLASS_INTERNAL_RETRY, "out of memory walking '%s'",
                            w->branch);
    return 0;
}

/* Pops commits until one changed the path (*found = 1, *when_s) or max_commits were read. */
static int walk_run(struct walk *w, const git_oid *tip, size_t max_commits, int *found,
                    int64_t *when_s)
{
    uint32_t idx;
    int rc = node_get(w, tip, &idx);
    if (rc) return rc;
    if (!w->nodes[idx].present) return 0; /* no file: no age */
    if (!gitrepo_is_file_mode(w->nodes[idx].mode))
        return gitrepo_fail(w->c, CPGO_CLASS_CONTENT,
                            "%s on branch '%s' of %s is %s, not a profile", w->path, w->branch,
                            w->c->g->url, gitrepo_mode_noun(w->nodes[idx].mode));
    if ((rc = enqueue(w, idx))) return rc;
    for (size_t walked = 0; walked < max_commits && w->hn; walked++) {
        idx = heap_pop(w);
        git_commit *cm = NULL;
        if ((rc = git_commit_lookup(&cm, w->c->repo, &w->nodes[idx].id)) < 0)
            return gitrepo_gfail(w->c, CPGO_CLASS_LOCAL, rc, "cannot walk branch '%s' of %s",
                                 w->branch, w->c->g->url);
        unsigned np = git_commit_parentcount(cm);
        uint32_t same = UINT32_MAX;
        for (unsigned i = 0; i < np && !rc && same == UINT32_MAX; i++) {
            uint32_t p;
            /* nodes may move when they grow: compare by index, not by pointer */
            rc = node_get(w, git_commit_parent_id(cm, i), &p);
            if (!rc && same_entry(&w->nodes[p], &w->nodes[idx])) same = p;
        }
        git_commit_free(cm);
        if (!rc && same != UINT32_MAX) {
            rc = enqueue(w, same); /* the same as this parent: follow it alone */
        } else if (!rc && (np > 0 || w->nodes[idx].present)) {
            *found = 1; /* differs from every parent (a root: has the file) */
            *when_s = w->nodes[idx].time;
        }
        if (rc || *found) return rc;
    }
    return 0;
}

int cpgo_gitrepo_last_change(struct cpgo_gitrepo *g, const char *branch, const char *path,
                             size_t max_commits, int *found, int64_t *when_s, struct cpgo_err *err)
{
    *found = 0;
    *when_s = 0;
    struct call c;
    struct walk w;
    memset(&w, 0, sizeof w);
    git_oid tip;
    int fetched = 0;
    int rc = gitrepo_begin(&c, g, err);
    if (rc || (rc = gitrepo_check_path(&c, path)) ||
        (rc = gitrepo_tracking_tip(&c, branch, &fetched, &tip)) || !fetched || !max_commits)
        goto out;
    w.c = &c;
    w.branch = branch;
    w.path = path;
    rc = walk_run(&w, &tip, max_commits, found, when_s);
    if (rc) {
        *found = 0;
        *when_s = 0;
    }
out:
    cpgo_itab_free(&w.seen);
    free(w.nodes);
    free(w.heap);
    gitrepo_end(&c);
    return rc;
}
