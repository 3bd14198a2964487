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

/* ---- where a new profile goes: the directory of the one `package main` ---- */

/* The largest Go file whose package clause is looked for; a bigger one (generated data,
 * rare) is not taken as a main package's file. */
#define GO_FILE_MAX (8u << 20)

/* A Go file's leading comments: a build constraint of exactly "ignore" (`//go:build
 * ignore`, `// +build ignore`) leaves the file out of every build, as generators in a
 * library's directory are; skips them and says so in *ignored. Returns the text after. */
static const char *go_skip_comments(const char *p, const char *end, int *ignored)
{
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            size_t n = (size_t)(le - p);
            while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
                n--;
            if ((n == 17 && !memcmp(p, "//go:build ignore", 17)) ||
                (n == 16 && !memcmp(p, "// +build ignore", 16)))
                *ignored = 1;
            p = le;
        } else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
            const char *q = p + 2;
            while (q + 1 < end && !(q[0] == '*' && q[1] == '/'))
                q++;
            if (q + 1 >= end) return end;
            p = q + 2;
        } else {
            return p;
        }
    }
}

/* 1 when the Go source's package clause names main (and no build constraint ignores it),
 * 0 for any other package, -1 when there is no clause to read. */
static int go_is_main(const char *p, size_t len)
{
    const char *end = p + len;
    int ignored = 0;
    p = go_skip_comments(p, end, &ignored);
    if (end - p < 8 || memcmp(p, "package", 7) || (p[7] != ' ' && p[7] != '\t')) return -1;
    p += 8;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    /* `package main`, then a space, a newline, a comment or the end */
    if (end - p < 4 || memcmp(p, "main", 4)) return 0;
    p += 4;
    if (p < end && (*p == '_' || (*p >= '0' && *p <= '9') ||
                    ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') || (unsigned char)*p >= 0x80))
        return 0; /* "mainly" */
    return ignored ? 0 : 1;
}

struct mains {
    struct call *c;
    size_t visited;
    size_t ndirs;
    char *dirs[MATCHES_LISTED]; /* "" for the root */
    int over;                   /* 1: entries, 2: depth */
    char path[PATH_MAX_LEN + 1];
};

/* Depth-first: a directory is a main package's when one of its Go files (not _test.go)
 * says `package main`; testdata, vendor and directories Go ignores ('.' or '_' first) are
 * not looked into. At most one file is read per directory: Go allows one package there. */
static int search_mains(struct mains *m, git_tree *tree, size_t plen, int depth)
{
    size_t n = git_tree_entrycount(tree);
    int decided = 0; /* this directory's package is known */
    for (size_t i = 0; i < n; i++) {
        if (++m->visited > CPGO_GIT_SEARCH_MAX_ENTRIES) {
            m->over = 1;
            return -1;
        }
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        const char *name = git_tree_entry_name(e);
        git_filemode_t mode = git_tree_entry_filemode(e);
        size_t nl = strlen(name);
        if (mode == GIT_FILEMODE_TREE || decided || !gitrepo_is_file_mode(mode) || nl < 4 ||
            strcmp(name + nl - 3, ".go") || (nl >= 8 && !strcmp(name + nl - 8, "_test.go")) ||
            name[0] == '.' || name[0] == '_')
            continue;
        git_blob *blob = NULL;
        int rc = git_blob_lookup(&blob, m->c->repo, git_tree_entry_id(e));
        if (rc < 0) return rc;
        int is = git_blob_rawsize(blob) > GO_FILE_MAX
                     ? -1
                     : go_is_main(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
        git_blob_free(blob);
        if (is < 0) continue; /* no clause: the next file says */
        decided = 1;
        if (!is) continue;
        if (m->ndirs < MATCHES_LISTED) {
            size_t dl = plen ? plen - 1 : 0; /* without the trailing '/' */
            char *d = malloc(dl + 1);
            if (!d) return -1;
            memcpy(d, m->path, dl);
            d[dl] = 0;
            m->dirs[m->ndirs] = d;
        }
        m->ndirs++;
    }
    for (size_t i = 0; i < n; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        const char *name = git_tree_entry_name(e);
        size_t nl = strlen(name);
        if (git_tree_entry_filemode(e) != GIT_FILEMODE_TREE || name[0] == '.' || name[0] == '_' ||
            !strcmp(name, "testdata") || !strcmp(name, "vendor") || plen + nl + 1 > PATH_MAX_LEN)
            continue;
        if (depth + 1 > CPGO_GIT_SEARCH_MAX_DEPTH) {
            m->over = 2;
            return -1;
        }
        git_tree *sub = NULL;
        int rc = git_tree_lookup(&sub, m->c->repo, git_tree_entry_id(e));
        if (rc < 0) return rc;
        memcpy(m->path + plen, name, nl);
        m->path[plen + nl] = '/';
        rc = search_mains(m, sub, plen + nl + 1, depth + 1);
        git_tree_free(sub);
        if (rc) return rc;
    }
    return 0;
}

/* A bare target_file found nowhere: out->path is where it goes. The one directory holding a
 * `package main` (the root when none does: a library's profile has no better place), or
 * CPGO_CLASS_CONTENT listing them when there are several: Go reads default.pgo only from
 * the main package's directory, and which main is meant is the user's to say. */
/* out->path: target_file in `dir` ("" for the root), or at the root when that path would
 * be too long to write; `placed`: dir is the one package main's. */
static int place_in(struct call *c, const char *dir, int placed, const char *target_file,
                    struct cpgo_git_file *out)
{
    if (strlen(dir) + 1 + strlen(target_file) > PATH_MAX_LEN)
        dir = ""; /* cannot be written there: the root, as before */
    size_t len = strlen(dir) + 1 + strlen(target_file) + 1;
    if (!(out->path = malloc(len)))
        return gitrepo_fail(c, CPGO_CLASS_INTERNAL_RETRY, "out of memory");
    snprintf(out->path, len, "%s%s%s", dir, *dir ? "/" : "", target_file);
    out->placed = placed;
    return 0;
}

static int place_profile(struct call *c, git_tree *tree, const char *target_branch,
                         const char *target_file, struct cpgo_git_file *out)
{
    struct cpgo_gitrepo *g = c->g;
    /* the same tree: the same directory (the search reads nothing else) */
    if (g->placed_dir && git_oid_equal(&g->placed_tree, git_tree_id(tree)))
        return place_in(c, g->placed_dir, g->placed, target_file, out);
    struct mains m;
    memset(&m, 0, sizeof m);
    m.c = c;
    int src = search_mains(&m, tree, 0, 0);
    int rc = 0;
    if (m.over) {
        rc = gitrepo_fail(c, CPGO_CLASS_LIMIT,
                          "searching branch '%s' of %s for a package main to put %s beside: %s; "
                          "set target_file to the profile's path",
                          target_branch, c->g->url, target_file,
                          m.over == 1 ? "too many entries" : "directories nested too deep");
    } else if (src < 0) {
        rc = gitrepo_gfail(c, CPGO_CLASS_LOCAL, src, "cannot search branch '%s' of %s",
                           target_branch, c->g->url);
    } else if (m.ndirs > 1) {
        char list[400] = "";
        size_t n = 0;
        for (size_t i = 0; i < m.ndirs && i < MATCHES_LISTED; i++) {
            int w = snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                             m.dirs[i][0] ? m.dirs[i] : "(the root)");
            if (w < 0 || (size_t)w >= sizeof list - n) break;
            n += (size_t)w;
        }
        rc = gitrepo_fail(c, CPGO_CLASS_CONTENT,
                          "no file named %s on branch '%s' of %s, and %zu directories hold a "
                          "package main: %s%s; set target_file to the path of the profile in "
                          "the one to build with it (e.g. %s%s%s)",
                          target_file, target_branch, c->g->url, m.ndirs, list,
                          m.ndirs > MATCHES_LISTED ? ", ..." : "", m.dirs[0],
                          m.dirs[0][0] ? "/" : "", target_file);
    } else {
        const char *dir = m.ndirs ? m.dirs[0] : "";
        rc = place_in(c, dir, m.ndirs == 1, target_file, out);
        char *keep = rc ? NULL : strdup(dir);
        if (keep) { /* remembered for the next round; without, searched again */
            free(g->placed_dir);
            g->placed_dir = keep;
            git_oid_cpy(&g->placed_tree, git_tree_id(tree));
            g->placed = m.ndirs == 1;
        }
    }
    for (size_t i = 0; i < m.ndirs && i < MATCHES_LISTED; i++)
        free(m.dirs[i]);
    return rc;
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
    rc = place_profile(&c, tree, target_branch, target_file, out);
    goto out;
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
