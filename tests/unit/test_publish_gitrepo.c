/*
 * test_publish_gitrepo.c - the git layer against real repositories made with the git
 * command line, and the results checked with the git command line.
 *
 * Without arguments: local repositories, a bare one through a file:// URL and a non-bare
 * one through a plain path, through a whole life: file absent, rounds repeated, the base
 * moving, a foreign commit, the merge; then the profile at the root, found by search,
 * ambiguous, a directory, a symlink, too large; the lease; missing branches.
 *
 * `test_publish_gitrepo http-round URL TOKEN STATE_DIR DATA [COMMAND]` runs one round
 * (fetch, inspect, find, [COMMAND,] publish) against URL with TOKEN ("-" for none) and
 * prints "pushed|unchanged COMMIT BLOB" or "error CLASS TEXT"; exit status 0, 3 for an
 * authentication failure, 1 otherwise. COMMAND (a shell command) can move the branch on
 * the server between the fetch and the push, to test the lease.
 * tests/integration/git_http_auth.sh drives it against a smart-HTTP server.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "publish/gitrepo.h"

#define HEAD_BR "cpgo/main/default.pgo"

static char root[512];

/* Runs a shell command; its output goes to root/cmd.log. Returns the exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[4096], full[4700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "(%s) >>'%s/cmd.log' 2>&1", cmd, root);
    int st = system(full);
    if (st != 0) fprintf(stderr, "command failed (%d): %s\n", st, cmd);
    return st;
}

/* Runs a shell command and returns its first line of output (static buffer, trimmed). */
static const char *cap(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *cap(const char *fmt, ...)
{
    static char out[4][1024];
    static int slot;
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *o = out[slot++ % 4];
    o[0] = 0;
    FILE *p = popen(cmd, "r");
    if (!p) return o;
    if (!fgets(o, sizeof out[0], p)) o[0] = 0;
    while (fgetc(p) != EOF) {
    }
    pclose(p);
    o[strcspn(o, "\n")] = 0;
    return o;
}

/* A commit by "Human" on BRANCH of REPO (bare or not) setting PATH to CONTENT with MODE,
 * made with plumbing so that it works the same in both kinds of repository. */
static const char COMMIT_SH[] =
    "#!/bin/sh\n"
    "set -e\n"
    "r=$1 b=$2 p=$3 c=$4 m=${5:-100644}\n"
    "export GIT_INDEX_FILE=\"$(dirname \"$0\")/idx.$$\"\n"
    "export GIT_AUTHOR_NAME=Human GIT_AUTHOR_EMAIL=human@example.com\n"
    "export GIT_COMMITTER_NAME=Human GIT_COMMITTER_EMAIL=human@example.com\n"
    "rm -f \"$GIT_INDEX_FILE\"\n"
    "parent=\n"
    "if git -C \"$r\" rev-parse -q --verify \"refs/heads/$b\" >/dev/null; then\n"
    "  git -C \"$r\" read-tree \"refs/heads/$b\"; parent=\"-p refs/heads/$b\"\n"
    "fi\n"
    "blob=$(printf '%s' \"$c\" | git -C \"$r\" hash-object -w --stdin)\n"
    "git -C \"$r\" update-index --add --cacheinfo \"$m,$blob,$p\"\n"
    "tree=$(git -C \"$r\" write-tree)\n"
    "commit=$(echo \"human edit of $p\" | git -C \"$r\" commit-tree \"$tree\" $parent)\n"
    "git -C \"$r\" update-ref \"refs/heads/$b\" \"$commit\"\n"
    "rm -f \"$GIT_INDEX_FILE\"\n";

static int human(const char *repo, const char *branch, const char *path, const char *content)
{
    return run("sh '%s/commit.sh' '%s' '%s' '%s' '%s'", root, repo, branch, path, content);
}

/* A repository under root: bare (NAME.git) or not, with one commit on main. */
static void make_repo(const char *name, int bare, char *dir, size_t cap_)
{
    snprintf(dir, cap_, "%s/%s%s", root, name, bare ? ".git" : "");
    run("git init -q %s -b main '%s'", bare ? "--bare" : "", dir);
    human(dir, "main", "README", "hello");
}

/* struct cpgo_repo for a local repository, as config/repo.c would make it. */
struct lrepo {
    struct cpgo_repo r;
    char url[600];
    char path[600];
};

static void local_repo(struct lrepo *l, const char *dir, int file_url)
{
    memset(l, 0, sizeof *l);
    snprintf(l->url, sizeof l->url, "%s%s", file_url ? "file://" : "", dir);
    snprintf(l->path, sizeof l->path, "%s", dir + 1);
    size_t n = strlen(l->path);
    if (n > 4 && !strcmp(l->path + n - 4, ".git")) l->path[n - 4] = 0;
    l->r.kind = CPGO_REPO_FILE;
    l->r.host = "local";
    l->r.path = l->path;
    l->r.url = l->url;
}

static struct cpgo_gitrepo *open_repo(const char *dir, int file_url)
{
    struct lrepo l;
    local_repo(&l, dir, file_url);
    char state[600];
    snprintf(state, sizeof state, "%s/state", root);
    struct cpgo_gitrepo *g = NULL;
    struct cpgo_err err = {0};
    int rc = cpgo_gitrepo_open(state, &l.r, NULL, &g, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "open: %s\n", err.text);
    return g;
}

/* One round as the publisher drives it. Returns 0, 1 when the head branch is foreign, or
 * the failing code (err filled). */
struct round {
    struct cpgo_git_tips tips;
    struct cpgo_git_head head;
    struct cpgo_git_file file;
    struct cpgo_git_publish pub;
    struct cpgo_err err;
};

static const char *between_cmd; /* http-round: a command run just before publishing */

static int do_round(struct cpgo_gitrepo *g, const char *target_file, const char *data,
                    struct round *r)
{
    cpgo_git_file_free(&r->file);
    memset(r, 0, sizeof *r);
    int rc = cpgo_gitrepo_fetch(g, "main", HEAD_BR, &r->tips, &r->err);
    if (!rc) rc = cpgo_gitrepo_inspect_head(g, "main", HEAD_BR, NULL, &r->head, &r->err);
    if (!rc && r->head.foreign) return 1;
    if (!rc) rc = cpgo_gitrepo_find_profile(g, "main", target_file, 1 << 20, &r->file, &r->err);
    if (rc) return rc;
    if (between_cmd && system(between_cmd) != 0) fprintf(stderr, "failed: %s\n", between_cmd);
    struct cpgo_git_commit_req req = {
        .target_branch = "main",
        .head_branch = HEAD_BR,
        .path = r->file.path,
        .data = data,
        .len = strlen(data),
        .message = "Update default.pgo\n\nfrom cpgo",
    };
    return cpgo_gitrepo_publish(g, &req, &r->pub, &r->err);
}

static size_t count_files(const char *dir)
{
    return (size_t)atol(cap("find '%s/objects' -type f | wc -l", dir));
}

/* The whole life of one target on one repository. */
static void lifecycle(int bare)
{
    char dir[600];
    make_repo(bare ? "life-bare" : "life-work", bare, dir, sizeof dir);
    struct cpgo_gitrepo *g = open_repo(dir, bare);
    if (!g) return;
    struct round r;
    memset(&r, 0, sizeof r);

    /* 1. first round, the file absent: created at target_file */
    int rc = do_round(g, "default.pgo", "profile-1", &r);
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "round 1: %s\n", r.err.text);
    CHECK_EQ_INT(r.tips.head_exists, 0);
    CHECK_EQ_INT(r.head.exists, 0);
    CHECK_EQ_INT(r.file.found, 0);
    CHECK(r.file.path && !strcmp(r.file.path, "default.pgo"));
    CHECK_EQ_INT(r.pub.pushed, 1);
    CHECK(!strcmp(cap("git -C '%s' rev-list --count main..%s", dir, HEAD_BR), "1"));
    CHECK(!strcmp(cap("git -C '%s' show %s:default.pgo", dir, HEAD_BR), "profile-1"));
    CHECK(!strcmp(cap("git -C '%s' rev-parse %s", dir, HEAD_BR), r.pub.commit));
    CHECK(!strcmp(cap("git -C '%s' rev-parse %s:default.pgo", dir, HEAD_BR), r.pub.blob));
    CHECK(!strcmp(cap("git -C '%s' rev-parse %s^", dir, HEAD_BR),
                  cap("git -C '%s' rev-parse main", dir)));
    CHECK(!strcmp(cap("git -C '%s' diff --name-only main %s | tr '\\n' ' '", dir, HEAD_BR),
                  "default.pgo "));
    CHECK(!strcmp(cap("git -C '%s' log -1 --format='%%an|%%ae|%%cn|%%ce|%%s' %s", dir, HEAD_BR),
                  "cpgo|cpgo@localhost|cpgo|cpgo@localhost|Update default.pgo"));
    char first[CPGO_GIT_ID_SIZE];
    memcpy(first, r.pub.commit, sizeof first);

    /* 2. the same content again: nothing pushed, nothing written to the cache */
    size_t files_before = count_files(cpgo_gitrepo_cache_dir(g));
    rc = do_round(g, "default.pgo", "profile-1", &r);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(r.tips.head_exists, 1);
    CHECK_EQ_INT(r.head.exists, 1);
    CHECK_EQ_INT(r.head.ahead, 1);
    CHECK_EQ_INT(r.head.on_base, 1);
    CHECK_EQ_INT(r.head.foreign, 0);
    CHECK_EQ_INT(r.pub.unchanged, 1);
    CHECK_EQ_INT(r.pub.pushed, 0);
    CHECK(!strcmp(r.pub.commit, first));
    CHECK(!strcmp(cap("git -C '%s' rev-parse %s", dir, HEAD_BR), first));
    CHECK_EQ_INT(count_files(cpgo_gitrepo_cache_dir(g)), files_before);

    /* 3. new content: one regenerated commit, still one branch, one commit on the base */
    rc = do_round(g, "default.pgo", "profile-2", &r);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(r.pub.pushed, 1);
    CHECK(strcmp(r.pub.commit, first) != 0);
    CHECK(!strcmp(cap("git -C '%s' rev-list --count main..%s", dir, HEAD_BR), "1"));
    CHECK(!strcmp(cap("git -C '%s' show %s:default.pgo", dir, HEAD_BR), "profile-2"));
    CHECK(!strcmp(cap("git -C '%s' for-each-ref refs/heads/cpgo | wc -l", dir), "1"));

    /* 4. the base moved: regenerated on the new tip, the other change kept */
    /* (not a main package: one would draw a new file into its directory, see placing) */
    CHECK_EQ_INT(human(dir, "main", "src/main.go", "package src"), 0);
    rc = do_round(g, "default.pgo", "profile-2", &r);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(r.head.on_base, 0);
    CHECK_EQ_INT(r.head.foreign, 0);
    CHECK_EQ_INT(r.pub.pushed, 1);
    CHECK(!strcmp(cap("git -C '%s' rev-parse %s^", dir, HEAD_BR),
                  cap("git -C '%s' rev-parse main", dir)));
    CHECK(!strcmp(cap("git -C '%s' rev-list --count main..%s", dir, HEAD_BR), "1"));
    CHECK(!strcmp(cap("git -C '%s' ls-tree -r --name-only %s | tr '\\n' ' '", dir, HEAD_BR),
                  "README default.pgo src/main.go "));
    char pushed_blob[CPGO_GIT_ID_SIZE];
    memcpy(pushed_blob, r.pub.blob, sizeof pushed_blob);

    /* 5. not merged yet */
    int merged = -1;
    struct cpgo_err err = {0};
    CHECK_EQ_INT(cpgo_gitrepo_is_merged(g, "main", "default.pgo", pushed_blob, &merged, &err), 0);
    CHECK_EQ_INT(merged, 0);

    /* 6. merged: main fast-forwarded to the branch */
    CHECK_EQ_INT(run("git -C '%s' update-ref refs/heads/main refs/heads/%s", dir, HEAD_BR), 0);
    struct cpgo_git_tips tips;
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", HEAD_BR, &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_is_merged(g, "main", "default.pgo", pushed_blob, &merged, &err), 0);
    CHECK_EQ_INT(merged, 1);
    CHECK_EQ_INT(cpgo_gitrepo_is_merged(g, "main", "default.pgo", first, &merged, &err), 0);
    CHECK_EQ_INT(merged, 0);
    struct cpgo_git_head h;
    CHECK_EQ_INT(cpgo_gitrepo_inspect_head(g, "main", HEAD_BR, NULL, &h, &err), 0);
    CHECK_EQ_INT(h.exists, 1);
    CHECK_EQ_INT(h.ahead, 0);
    CHECK_EQ_INT(h.foreign, 0);
    /* the next round reads the merged file from main; the same content is no proposal */
    rc = do_round(g, "default.pgo", "profile-2", &r);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(r.file.found, 1);
    CHECK(!strcmp(r.file.blob, pushed_blob));
    CHECK(r.file.len == 9 && !memcmp(r.file.data, "profile-2", 9));
    CHECK_EQ_INT(r.pub.same_as_base, 1);
    CHECK_EQ_INT(r.pub.pushed, 0);

    /* 7. a foreign commit on the head branch: reported, left alone */
    rc = do_round(g, "default.pgo", "profile-3", &r);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(r.pub.pushed, 1);
    CHECK_EQ_INT(human(dir, HEAD_BR, "notes.txt", "mine"), 0);
    char tip[64];
    snprintf(tip, sizeof tip, "%s", cap("git -C '%s' rev-parse %s", dir, HEAD_BR));
    rc = do_round(g, "default.pgo", "profile-4", &r);
    CHECK_EQ_INT(rc, 1);
    CHECK_EQ_INT(r.head.foreign, 1);
    CHECK_EQ_INT(r.head.ahead, 2);
    CHECK_STR_CONTAINS(r.head.why, "Human <human@example.com>");
    CHECK(!strcmp(cap("git -C '%s' rev-parse %s", dir, HEAD_BR), tip));
    /* publish itself refuses too, unless told to overwrite */
    struct cpgo_git_commit_req freq = {.target_branch = "main",
                                       .head_branch = HEAD_BR,
                                       .path = "default.pgo",
                                       .data = "profile-4",
                                       .len = 9,
                                       .message = "m"};
    struct cpgo_git_publish fpub;
    rc = cpgo_gitrepo_publish(g, &freq, &fpub, &err);
    CHECK_EQ_INT(rc, CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_FOREIGN);
    CHECK(!cpgo_class_transient(CPGO_CLASS_FOREIGN));
    CHECK_STR_CONTAINS(err.text, "is not cpgo's to rewrite: commit");
    CHECK(!strcmp(cap("git -C '%s' rev-parse %s", dir, HEAD_BR), tip));

    /* 8. the lease: the branch changed after the fetch; publish refuses to overwrite */
    CHECK_EQ_INT(run("git -C '%s' update-ref -d refs/heads/%s", dir, HEAD_BR), 0);
    rc = do_round(g, "default.pgo", "profile-5", &r);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(r.pub.pushed, 1);
    CHECK(!strcmp(cap("git -C '%s' rev-list --count main..%s", dir, HEAD_BR), "1"));
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", HEAD_BR, &tips, &err), 0);
    CHECK_EQ_INT(human(dir, HEAD_BR, "default.pgo", "edited by hand"), 0);
    snprintf(tip, sizeof tip, "%s", cap("git -C '%s' rev-parse %s", dir, HEAD_BR));
    struct cpgo_git_publish pub;
    struct cpgo_git_commit_req req = {.target_branch = "main",
                                      .head_branch = HEAD_BR,
                                      .path = "default.pgo",
                                      .data = "profile-6",
                                      .len = 9,
                                      .message = "m"};
    rc = cpgo_gitrepo_publish(g, &req, &pub, &err);
    CHECK_EQ_INT(rc, CPGO_E_IO);
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_CONFLICT);
    CHECK_STR_CONTAINS(err.text, "changed since it was fetched");
    CHECK(!strcmp(cap("git -C '%s' rev-parse %s", dir, HEAD_BR), tip));

    /* the cache has no remote and no URL in its configuration */
    CHECK(!strcmp(cap("grep -c -e remote -e url '%s/config'", cpgo_gitrepo_cache_dir(g)), "0"));
    cpgo_git_file_free(&r.file);
    cpgo_gitrepo_close(g);
}

/* The profile where it is, or is not, on main. */
static void finding(void)
{
    char dir[600];
    struct cpgo_err err = {0};
    struct cpgo_git_tips tips;
    struct cpgo_git_file f = {0};
    struct round r;
    memset(&r, 0, sizeof r);

    /* at the root, executable bit kept on update */
    make_repo("root", 1, dir, sizeof dir);
    human(dir, "main", "default.pgo", "old-profile");
    run("sh '%s/commit.sh' '%s' main default.pgo old-profile 100755", root, dir);
    struct cpgo_gitrepo *g = open_repo(dir, 0);
    CHECK_EQ_INT(do_round(g, "default.pgo", "new-profile", &r), 0);
    CHECK_EQ_INT(r.file.found, 1);
    CHECK_EQ_INT(r.file.searched, 0);
    CHECK(r.file.len == 11 && !memcmp(r.file.data, "old-profile", 11));
    CHECK(!strcmp(r.file.blob, cap("git -C '%s' rev-parse main:default.pgo", dir)));
    CHECK(!strcmp(r.file.base, cap("git -C '%s' rev-parse main", dir)));
    CHECK_EQ_INT(r.pub.pushed, 1);
    CHECK(!strcmp(cap("git -C '%s' ls-tree %s default.pgo | cut -c1-6", dir, HEAD_BR), "100755"));
    CHECK(!strcmp(cap("git -C '%s' show %s:default.pgo", dir, HEAD_BR), "new-profile"));
    /* the size limit */
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "default.pgo", 5, &f, &err), CPGO_E_LIMIT);
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_LIMIT);
    CHECK_STR_CONTAINS(err.text, "more than the limit of 5");
    cpgo_gitrepo_close(g);

    /* found by search in a subdirectory, and updated there */
    make_repo("search", 1, dir, sizeof dir);
    human(dir, "main", "cmd/app/default.pgo", "app-profile");
    human(dir, "main", "cmd/app/main.go", "package main");
    human(dir, "main", "docs/default.pgo.md", "not it");
    g = open_repo(dir, 1);
    CHECK_EQ_INT(do_round(g, "default.pgo", "app-profile-2", &r), 0);
    CHECK_EQ_INT(r.file.found, 1);
    CHECK_EQ_INT(r.file.searched, 1);
    CHECK(r.file.path && !strcmp(r.file.path, "cmd/app/default.pgo"));
    CHECK_EQ_INT(r.pub.pushed, 1);
    CHECK(!strcmp(cap("git -C '%s' show %s:cmd/app/default.pgo", dir, HEAD_BR), "app-profile-2"));
    CHECK(!strcmp(cap("git -C '%s' diff --name-only main %s | tr '\\n' ' '", dir, HEAD_BR),
                  "cmd/app/default.pgo "));
    CHECK(!strcmp(cap("git -C '%s' ls-tree --name-only %s | tr '\\n' ' '", dir, HEAD_BR),
                  "README cmd docs "));
    /* is_merged looks at the path that was used */
    int merged = -1;
    CHECK_EQ_INT(run("git -C '%s' update-ref refs/heads/main refs/heads/%s", dir, HEAD_BR), 0);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", HEAD_BR, &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_is_merged(g, "main", r.file.path, r.pub.blob, &merged, &err), 0);
    CHECK_EQ_INT(merged, 1);
    cpgo_gitrepo_close(g);

    /* several matches: a permanent error that lists them */
    make_repo("several", 0, dir, sizeof dir);
    human(dir, "main", "a/default.pgo", "a");
    human(dir, "main", "b/c/default.pgo", "b");
    g = open_repo(dir, 0);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", HEAD_BR, &tips, &err), 0);
    int rc = cpgo_gitrepo_find_profile(g, "main", "default.pgo", 1 << 20, &f, &err);
    CHECK_EQ_INT(rc, CPGO_E_INPUT);
    CHECK(cpgo_err_is_input(rc));
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_CONTENT);
    CHECK(!cpgo_class_transient(cpgo_gitrepo_last_class(g)));
    CHECK_STR_CONTAINS(err.text, "a/default.pgo");
    CHECK_STR_CONTAINS(err.text, "b/c/default.pgo");
    CHECK_STR_CONTAINS(err.text, "set target_file");
    CHECK(f.path == NULL && f.data == NULL);
    /* a path chooses one of them */
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "b/c/default.pgo", 1 << 20, &f, &err), 0);
    CHECK(f.found && f.len == 1 && f.data[0] == 'b');
    cpgo_git_file_free(&f);
    /* a path that does not exist: absent, created there (with its directories) */
    CHECK_EQ_INT(do_round(g, "deploy/pgo/default.pgo", "deep", &r), 0);
    CHECK_EQ_INT(r.file.found, 0);
    CHECK_EQ_INT(r.pub.pushed, 1);
    CHECK(!strcmp(cap("git -C '%s' show %s:deploy/pgo/default.pgo", dir, HEAD_BR), "deep"));
    /* bad paths */
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "../x", 1 << 20, &f, &err), CPGO_E_INPUT);
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "/abs", 1 << 20, &f, &err), CPGO_E_INPUT);
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "a/.git/x", 1 << 20, &f, &err), CPGO_E_INPUT);
    /* a file in the way of a new directory */
    struct cpgo_git_publish pub;
    struct cpgo_git_commit_req req = {.target_branch = "main",
                                      .head_branch = HEAD_BR,
                                      .path = "README/default.pgo",
                                      .data = "x",
                                      .len = 1,
                                      .message = "m"};
    CHECK_EQ_INT(cpgo_gitrepo_publish(g, &req, &pub, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "README is not a regular file");
    cpgo_gitrepo_close(g);

    /* a directory, and a symbolic link, at the path */
    make_repo("notfile", 1, dir, sizeof dir);
    human(dir, "main", "default.pgo/x", "x");
    run("sh '%s/commit.sh' '%s' main sub/default.pgo ../README 120000", root, dir);
    g = open_repo(dir, 1);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", HEAD_BR, &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "default.pgo", 1 << 20, &f, &err),
                 CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "default.pgo on branch 'main'");
    CHECK_STR_CONTAINS(err.text, "is a directory");
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "sub/default.pgo", 1 << 20, &f, &err),
                 CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "is a symbolic link");
    cpgo_gitrepo_close(g);

    /* a symbolic link found by search is refused too */
    make_repo("link", 1, dir, sizeof dir);
    run("sh '%s/commit.sh' '%s' main sub/default.pgo ../README 120000", root, dir);
    g = open_repo(dir, 1);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", NULL, &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "default.pgo", 1 << 20, &f, &err),
                 CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "sub/default.pgo");
    CHECK_STR_CONTAINS(err.text, "symbolic link");
    cpgo_gitrepo_close(g);
    cpgo_git_file_free(&r.file);
}

/* A local repository that pruned an old cpgo blob the cache still has: it is copied back. */
/* Many rounds keep the cache small: packs are merged once they pile up, and what force-
 * pushes left unreachable goes with them. */
static void upkeep(void)
{
    char dir[600];
    make_repo("upkeep", 1, dir, sizeof dir);
    struct cpgo_gitrepo *g = open_repo(dir, 1);
    if (!g) return;
    struct round r;
    memset(&r, 0, sizeof r);
    int failed = 0;
    for (int i = 0; i < 60 && !failed; i++) {
        char data[64];
        snprintf(data, sizeof data, "profile-%d", i);
        failed = do_round(g, "default.pgo", data, &r) || !r.pub.pushed;
        if (failed) fprintf(stderr, "upkeep round %d: %s\n", i, r.err.text);
    }
    CHECK_EQ_INT(failed, 0);
    const char *cache = cpgo_gitrepo_cache_dir(g);
    long packs = atol(cap("ls '%s/objects/pack' | grep -c '\\.pack$'", cache));
    CHECK(packs >= 1 && packs <= 25);
    if (packs > 25) fprintf(stderr, "upkeep: %ld packs\n", packs);
    /* the cache still works, and holds what the branches need */
    CHECK_EQ_INT(do_round(g, "default.pgo", "profile-final", &r), 0);
    CHECK(!strcmp(cap("git -C '%s' show %s:default.pgo", dir, HEAD_BR), "profile-final"));
    CHECK(!strcmp(cap("git -C '%s' fsck --connectivity-only >/dev/null 2>&1 && echo ok", cache),
                  "ok"));
    cpgo_git_file_free(&r.file);
    cpgo_gitrepo_close(g);
}

static void pruned(void)
{
    char dir[600];
    struct round r;
    memset(&r, 0, sizeof r);
    make_repo("pruned", 0, dir, sizeof dir);
    struct cpgo_gitrepo *g = open_repo(dir, 0);
    CHECK_EQ_INT(do_round(g, "pgo/default.pgo", "A", &r), 0);
    CHECK_EQ_INT(do_round(g, "pgo/default.pgo", "B", &r), 0);
    CHECK_EQ_INT(
        run("cd '%s' && git reflog expire --expire=now --all && git gc -q --prune=now", dir), 0);
    CHECK(!strcmp(cap("git -C '%s' cat-file -t $(echo A | tr -d '\n' | git hash-object --stdin) "
                      "2>&1 | grep -c fatal",
                      dir),
                  "1"));
    CHECK_EQ_INT(do_round(g, "pgo/default.pgo", "A", &r), 0);
    CHECK_EQ_INT(r.pub.pushed, 1);
    CHECK(!strcmp(cap("git -C '%s' show %s:pgo/default.pgo", dir, HEAD_BR), "A"));
    CHECK(!strcmp(cap("git -C '%s' fsck --strict 2>&1 | grep -v dangling | wc -l", dir), "0"));
    cpgo_git_file_free(&r.file);
    cpgo_gitrepo_close(g);
}

/* The search's limits: entries visited and depth. */
static void search_limits(void)
{
    char dir[600];
    struct cpgo_err err = {0};
    struct cpgo_git_tips tips;
    struct cpgo_git_file f;
    make_repo("wide", 1, dir, sizeof dir);
    /* 201 directories of 1000 files each: more than 200000 entries */
    CHECK_EQ_INT(run("cd '%s' && b=$(echo x | git hash-object -w --stdin) && "
                     "t=$(for i in $(seq 1000); do printf '100644 blob %%s\tf%%d\n' $b $i; done"
                     " | git mktree) && "
                     "r=$(for i in $(seq 201); do printf '040000 tree %%s\td%%d\n' $t $i; done"
                     " | git mktree) && "
                     "git update-ref refs/heads/main $(git commit-tree $r -p main -m wide)",
                     dir),
                 0);
    struct cpgo_gitrepo *g = open_repo(dir, 1);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", NULL, &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "default.pgo", 100, &f, &err), CPGO_E_LIMIT);
    CHECK_STR_CONTAINS(err.text, "more than 200000 entries; set target_file");
    /* a path needs no search */
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "d7/f9", 100, &f, &err), 0);
    CHECK(f.found && f.len == 2);
    cpgo_git_file_free(&f);
    cpgo_gitrepo_close(g);

    make_repo("deep", 1, dir, sizeof dir);
    CHECK_EQ_INT(
        run("cd '%s' && b=$(echo x | git hash-object -w --stdin) && "
            "t=$(printf '100644 blob %%s\tleaf\n' $b | git mktree) && "
            "for i in $(seq 40); do t=$(printf '040000 tree %%s\td\n' $t | git mktree);"
            " done && git update-ref refs/heads/main $(git commit-tree $t -p main -m deep)",
            dir),
        0);
    g = open_repo(dir, 1);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", NULL, &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "default.pgo", 100, &f, &err), CPGO_E_LIMIT);
    CHECK_STR_CONTAINS(err.text, "deeper than 32");
    cpgo_gitrepo_close(g);
}

/* Targets of one repository on several threads: the cache's lock makes them take turns. */
struct worker {
    char dir[600];
    int id;
    int failures;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct cpgo_gitrepo *g = open_repo(w->dir, 1);
    if (!g) {
        w->failures++;
        return NULL;
    }
    char branch[64], file[64], data[64];
    snprintf(branch, sizeof branch, "cpgo/main/t%d.pgo", w->id);
    snprintf(file, sizeof file, "t%d.pgo", w->id);
    for (int i = 0; i < 5; i++) {
        struct cpgo_err err = {0};
        struct cpgo_git_tips tips;
        struct cpgo_git_publish pub;
        snprintf(data, sizeof data, "profile %d round %d", w->id, i);
        struct cpgo_git_commit_req req = {.target_branch = "main",
                                          .head_branch = branch,
                                          .path = file,
                                          .data = data,
                                          .len = strlen(data),
                                          .message = "m"};
        if (cpgo_gitrepo_fetch(g, "main", branch, &tips, &err) ||
            cpgo_gitrepo_publish(g, &req, &pub, &err) || !pub.pushed) {
            fprintf(stderr, "worker %d round %d: %s\n", w->id, i, err.text);
            w->failures++;
        }
    }
    cpgo_gitrepo_close(g);
    return NULL;
}

static void threads(void)
{
    enum { N = 4 };
    struct worker w[N];
    pthread_t t[N];
    char dir[600];
    make_repo("threads", 1, dir, sizeof dir);
    for (int i = 0; i < N; i++) {
        memset(&w[i], 0, sizeof w[i]);
        snprintf(w[i].dir, sizeof w[i].dir, "%s", dir);
        w[i].id = i;
        CHECK_EQ_INT(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(w[i].failures, 0);
        CHECK(!strcmp(cap("git -C '%s' show cpgo/main/t%d.pgo:t%d.pgo", dir, i, i),
                      i == 0   ? "profile 0 round 4"
                      : i == 1 ? "profile 1 round 4"
                      : i == 2 ? "profile 2 round 4"
                               : "profile 3 round 4"));
        CHECK(!strcmp(cap("git -C '%s' rev-list --count main..cpgo/main/t%d.pgo", dir, i), "1"));
    }
    CHECK(!strcmp(cap("git -C '%s' fsck --strict 2>&1 | grep -v dangling | wc -l", dir), "0"));
}

/* Identity: a commit by a configured bot is ours for that bot and foreign for another. */
static void identity(void)
{
    char dir[600];
    struct cpgo_err err = {0};
    struct cpgo_git_tips tips;
    make_repo("ident", 1, dir, sizeof dir);
    struct cpgo_gitrepo *g = open_repo(dir, 1);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", "pgo", &tips, &err), 0);
    struct cpgo_git_ident bot = {"PGO Bot", "bot@example.com"};
    struct cpgo_git_commit_req req = {.target_branch = "main",
                                      .head_branch = "pgo",
                                      .path = "default.pgo",
                                      .data = "p",
                                      .len = 1,
                                      .message = "Refresh PGO profile",
                                      .author = bot,
                                      .committer = bot};
    struct cpgo_git_publish pub;
    CHECK_EQ_INT(cpgo_gitrepo_publish(g, &req, &pub, &err), 0);
    CHECK(!strcmp(cap("git -C '%s' log -1 --format='%%an|%%ce' pgo", dir),
                  "PGO Bot|bot@example.com"));
    struct cpgo_git_head h;
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", "pgo", &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_inspect_head(g, "main", "pgo", &bot, &h, &err), 0);
    CHECK_EQ_INT(h.foreign, 0);
    CHECK_EQ_INT(h.on_base, 1);
    CHECK_EQ_INT(cpgo_gitrepo_inspect_head(g, "main", "pgo", NULL, &h, &err), 0);
    CHECK_EQ_INT(h.foreign, 1);
    CHECK_STR_CONTAINS(h.why, "PGO Bot");
    /* two cpgo commits on top of the base are not cpgo's shape either */
    CHECK_EQ_INT(
        run("cd '%s' && GIT_COMMITTER_NAME='PGO Bot' GIT_COMMITTER_EMAIL=bot@example.com "
            "git commit-tree -p pgo -m again pgo^{tree} | xargs git update-ref refs/heads/pgo",
            dir),
        0);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", "pgo", &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_inspect_head(g, "main", "pgo", &bot, &h, &err), 0);
    CHECK_EQ_INT(h.ahead, 2);
    CHECK_EQ_INT(h.foreign, 1);
    CHECK_STR_CONTAINS(h.why, "2 commits on top of 'main'");
    /* the head branch deleted remotely: its tracking ref goes too */
    CHECK_EQ_INT(run("git -C '%s' update-ref -d refs/heads/pgo", dir), 0);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", "pgo", &tips, &err), 0);
    CHECK_EQ_INT(tips.head_exists, 0);
    CHECK_EQ_INT(cpgo_gitrepo_inspect_head(g, "main", "pgo", &bot, &h, &err), 0);
    CHECK_EQ_INT(h.exists, 0);
    cpgo_gitrepo_close(g);
}

/* Failures that name what is missing. */
/* The repository's HEAD, as `git ls-remote --symref` names it (a target_branch not
 * written): bare and non-bare, a path and a file:// URL; no HEAD, a detached one, a missing
 * repository; nothing is fetched. */
static void default_branch(void)
{
    char dir[600], out[64];
    struct cpgo_err err = {0};
    make_repo("head-main", 1, dir, sizeof dir);
    struct cpgo_gitrepo *g = open_repo(dir, 1);
    CHECK_EQ_INT(cpgo_gitrepo_default_branch(g, out, sizeof out, &err), 0);
    CHECK(!strcmp(out, "main"));
    /* the cache gained no branch: listing is not fetching */
    CHECK(!strcmp(cap("git -C '%s' for-each-ref | wc -l", cpgo_gitrepo_cache_dir(g)), "0"));
    cpgo_gitrepo_close(g);
    run("git -C '%s' branch trunk main && git -C '%s' symbolic-ref HEAD refs/heads/trunk", dir,
        dir);
    g = open_repo(dir, 0);
    CHECK_EQ_INT(cpgo_gitrepo_default_branch(g, out, sizeof out, &err), 0);
    CHECK(!strcmp(out, "trunk"));
    CHECK_EQ_INT(cpgo_gitrepo_default_branch(g, out, 5, &err), CPGO_E_INPUT); /* no room */
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_CONTENT);
    cpgo_gitrepo_close(g);
    /* a working tree on master */
    snprintf(dir, sizeof dir, "%s/head-master", root);
    run("git init -q -b master '%s' && git -C '%s' commit -q --allow-empty -m init", dir, dir);
    g = open_repo(dir, 0);
    CHECK_EQ_INT(cpgo_gitrepo_default_branch(g, out, sizeof out, &err), 0);
    CHECK(!strcmp(out, "master"));
    /* detached: not a branch */
    run("git -C '%s' checkout -q --detach", dir);
    CHECK_EQ_INT(cpgo_gitrepo_default_branch(g, out, sizeof out, &err), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_NOT_FOUND);
    CHECK_STR_CONTAINS(err.text, "is not a branch (detached");
    CHECK(!out[0]);
    cpgo_gitrepo_close(g);
    /* empty: HEAD names a branch with no commit */
    snprintf(dir, sizeof dir, "%s/head-empty.git", root);
    run("git init -q --bare -b master '%s'", dir);
    g = open_repo(dir, 1);
    CHECK_EQ_INT(cpgo_gitrepo_default_branch(g, out, sizeof out, &err), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_NOT_FOUND);
    CHECK_STR_CONTAINS(err.text, "head-empty.git has no HEAD (an empty repository");
    cpgo_gitrepo_close(g);
    snprintf(dir, sizeof dir, "%s/head-gone", root);
    g = open_repo(dir, 0);
    CHECK_EQ_INT(cpgo_gitrepo_default_branch(g, out, sizeof out, &err), CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "head-gone does not exist");
    cpgo_gitrepo_close(g);
}

static void missing(void)
{
    char dir[600];
    struct cpgo_err err = {0};
    struct cpgo_git_tips tips;
    make_repo("missing", 1, dir, sizeof dir);
    struct cpgo_gitrepo *g = open_repo(dir, 1);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "release", NULL, &tips, &err), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_NOT_FOUND);
    CHECK_STR_CONTAINS(err.text, "branch 'release' does not exist in file://");
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "bad..name", NULL, &tips, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "not a valid branch name");
    /* the head branch is force-pushed: it can never be the target branch */
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", "main", &tips, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "is the target branch");
    struct cpgo_git_publish pub;
    struct cpgo_git_commit_req same = {.target_branch = "main",
                                       .head_branch = "main",
                                       .path = "default.pgo",
                                       .data = "x",
                                       .len = 1};
    CHECK_EQ_INT(cpgo_gitrepo_publish(g, &same, &pub, &err), CPGO_E_INPUT);
    CHECK(!strcmp(cap("git -C '%s' rev-list --count main", dir), "1"));
    struct cpgo_git_file f;
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "never-fetched", "default.pgo", 100, &f, &err),
                 CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "has not been fetched");
    cpgo_gitrepo_close(g);

    char gone[600];
    snprintf(gone, sizeof gone, "%s/no-such-repo.git", root);
    g = open_repo(gone, 0);
    int rc = cpgo_gitrepo_fetch(g, "main", NULL, &tips, &err);
    CHECK(cpgo_err_is_input(rc));
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_NOT_FOUND);
    CHECK_STR_CONTAINS(err.text, "no-such-repo.git");
    /* the same repository spelled as a URL shares the cache */
    struct cpgo_gitrepo *g2 = open_repo(gone, 1);
    CHECK(g2 && !strcmp(cpgo_gitrepo_cache_dir(g), cpgo_gitrepo_cache_dir(g2)));
    CHECK(strstr(cpgo_gitrepo_cache_dir(g), "/state/git/") != NULL);
    cpgo_gitrepo_close(g2);
    cpgo_gitrepo_close(g);

    /* a damaged cache is moved aside and created anew */
    g = open_repo(dir, 1);
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/config", cpgo_gitrepo_cache_dir(g));
    FILE *f2 = fopen(cfg, "w");
    CHECK(f2 != NULL);
    if (f2) {
        fputs("[core\n garbage = = =\n", f2);
        fclose(f2);
    }
    cpgo_gitrepo_close(g);
    g = open_repo(dir, 1);
    CHECK(g != NULL);
    if (!g) return;
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", NULL, &tips, &err), 0);
    CHECK(!strcmp(cap("ls -d '%s'.broken-* | wc -l", cpgo_gitrepo_cache_dir(g)), "1"));
    /* the whole cache directory deleted while the handle is open: created again */
    CHECK_EQ_INT(run("rm -rf '%s/state/git'", root), 0);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", NULL, &tips, &err), 0);
    CHECK(!strcmp(tips.base, cap("git -C '%s' rev-parse main", dir)));
    cpgo_gitrepo_close(g);
}

/* ---- the HTTP mode for tests/integration/git_http_auth.sh ---- */

static int http_round(const char *url, const char *token, const char *state, const char *data)
{
    /* http://127.0.0.1:PORT/path */
    struct cpgo_repo r = {0};
    char host[64] = "", path[512] = "";
    int port = 0;
    if (sscanf(url, "http://%63[^:/]:%d/%511s", host, &port, path) < 3) {
        fprintf(stderr, "http-round: URL must be http://HOST:PORT/PATH\n");
        return 2;
    }
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".git")) path[n - 4] = 0;
    r.kind = CPGO_REPO_HTTP;
    r.host = host;
    r.port = port;
    r.path = path;
    r.url = (char *)url;
    struct cpgo_git_opts o = {.token = strcmp(token, "-") ? token : NULL, .timeout_s = 30};
    struct cpgo_err err = {0};
    struct cpgo_gitrepo *g = NULL;
    struct round rd;
    memset(&rd, 0, sizeof rd);
    int rc = cpgo_gitrepo_open(state, &r, &o, &g, &err);
    if (!rc) {
        rc = do_round(g, "default.pgo", data, &rd);
        if (rc == 1)
            snprintf(rd.err.text, sizeof rd.err.text, "foreign: %s", rd.head.why);
        else
            err = rd.err;
    }
    int status;
    if (!rc) {
        printf("%s %s %s\n", rd.pub.pushed ? "pushed" : "unchanged", rd.pub.commit, rd.pub.blob);
        status = 0;
    } else {
        enum cpgo_class cls = g ? cpgo_gitrepo_last_class(g) : CPGO_CLASS_LOCAL;
        printf("error %s %s\n", cpgo_class_name(cls), rc == 1 ? rd.err.text : err.text);
        status = cls == CPGO_CLASS_AUTH ? 3 : 1;
    }
    if (g) printf("cache %s\n", cpgo_gitrepo_cache_dir(g));
    cpgo_git_file_free(&rd.file);
    cpgo_gitrepo_close(g);
    return status;
}

/* git.ssh_key (and its .pub) that is a FIFO: libssh2 would block opening it; refused at
 * open, naming the setting, without any network call. */
static void ssh_key_files(void)
{
    char state[700], key[700], pub[700], fifo[700];
    snprintf(state, sizeof state, "%s/ssh-state", root);
    snprintf(key, sizeof key, "%s/id_test", root);
    snprintf(pub, sizeof pub, "%s/id_test.pub", root);
    snprintf(fifo, sizeof fifo, "%s/id_fifo", root);
    CHECK_EQ_INT(
        run("printf 'not really a key\\n' >'%s' && chmod 600 '%s' && mkfifo '%s'", key, key, fifo),
        0);
    struct cpgo_repo r;
    memset(&r, 0, sizeof r);
    r.kind = CPGO_REPO_SSH;
    r.host = "127.0.0.1";
    r.path = "acme/app";
    r.url = "ssh://git@127.0.0.1/acme/app.git";
    struct cpgo_git_opts o = {.ssh_key = fifo};
    struct cpgo_err err = {0};
    struct cpgo_gitrepo *g = NULL;
    int rc = cpgo_gitrepo_open(state, &r, &o, &g, &err);
    CHECK(rc < 0);
    CHECK(g == NULL);
    CHECK_STR_CONTAINS(err.text, "git.ssh_key: ");
    CHECK_STR_CONTAINS(err.text, "id_fifo is a FIFO: refused");
    cpgo_gitrepo_close(g);
    g = NULL;
    /* a regular key with a FIFO as its public key */
    o.ssh_key = key;
    o.ssh_pubkey = fifo;
    rc = cpgo_gitrepo_open(state, &r, &o, &g, &err);
    CHECK(rc < 0);
    CHECK_STR_CONTAINS(err.text, "git.ssh_key's .pub: ");
    cpgo_gitrepo_close(g);
    g = NULL;
    /* regular files: the handle opens (the key is read only when a server asks) */
    CHECK_EQ_INT(run("cp '%s' '%s'", key, pub), 0);
    o.ssh_pubkey = pub;
    CHECK_EQ_INT(cpgo_gitrepo_open(state, &r, &o, &g, &err), 0);
    cpgo_gitrepo_close(g);
}

/* A new bare target_file goes into the directory of the tree's one package main. */
static void placing(void)
{
    char dir[600];
    struct cpgo_git_tips tips;
    struct cpgo_git_file f = {0};
    struct cpgo_err err = {0};
    struct round r;
    memset(&r, 0, sizeof r);

    /* one main package in cmd/app: what go build ignores does not count */
    make_repo("place-one", 1, dir, sizeof dir);
    human(dir, "main", "lib.go", "// Package lib.\npackage lib\n");
    human(dir, "main", "lib_test.go", "package main\n");
    human(dir, "main", "testdata/x/main.go", "package main\n");
    human(dir, "main", "vendor/example.com/t/main.go", "package main\n");
    human(dir, "main", ".tools/main.go", "package main\n");
    human(dir, "main", "_old/main.go", "package main\n");
    human(dir, "main", "gen/gen.go", "//go:build ignore\n\npackage main\n");
    human(dir, "main", "gen/lib.go", "package gen\n");
    human(dir, "main", "mainly/x.go", "package mainly\n");
    human(dir, "main", "cmd/app/main.go",
          "/* Command app.\n package lib */\n// package lib\n\npackage main // x\n");
    struct cpgo_gitrepo *g = open_repo(dir, 0);
    CHECK_EQ_INT(do_round(g, "default.pgo", "p1", &r), 0);
    CHECK_EQ_INT(r.file.found, 0);
    CHECK_EQ_INT(r.file.placed, 1);
    CHECK(r.file.path && !strcmp(r.file.path, "cmd/app/default.pgo"));
    CHECK(!strcmp(cap("git -C '%s' show %s:cmd/app/default.pgo", dir, HEAD_BR), "p1"));
    /* a path is taken as written */
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "pgo/default.pgo", 1 << 20, &f, &err), 0);
    CHECK(!f.found && !f.placed && !strcmp(f.path, "pgo/default.pgo"));
    cpgo_git_file_free(&f);
    cpgo_gitrepo_close(g);

    /* two: refused, both listed */
    make_repo("place-two", 1, dir, sizeof dir);
    human(dir, "main", "cmd/api/main.go", "package main\n");
    human(dir, "main", "cmd/worker/main.go", "package main\n");
    human(dir, "main", "cmd/worker/flags.go", "package main\n");
    g = open_repo(dir, 0);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", HEAD_BR, &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "default.pgo", 1 << 20, &f, &err),
                 CPGO_E_INPUT);
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_CONTENT);
    CHECK_STR_CONTAINS(err.text, "2 directories hold a package main: cmd/api, cmd/worker;");
    CHECK_STR_CONTAINS(err.text, "set target_file");
    CHECK(f.path == NULL);
    /* an existing file of that name anywhere wins, as before */
    human(dir, "main", "deploy/default.pgo", "old");
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", HEAD_BR, &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "default.pgo", 1 << 20, &f, &err), 0);
    CHECK(f.found && f.searched && !f.placed && !strcmp(f.path, "deploy/default.pgo"));
    cpgo_git_file_free(&f);
    cpgo_gitrepo_close(g);

    /* the main package at the root: the root; none at all: the root too */
    make_repo("place-root", 1, dir, sizeof dir);
    human(dir, "main", "main.go", "package main\n\nfunc main() {}\n");
    human(dir, "main", "internal/x/x.go", "package x\n");
    g = open_repo(dir, 0);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", HEAD_BR, &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "default.pgo", 1 << 20, &f, &err), 0);
    CHECK(!f.found && f.placed && !strcmp(f.path, "default.pgo"));
    cpgo_git_file_free(&f);
    /* the same tree again: the same answer (remembered, not searched again) */
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "default.pgo", 1 << 20, &f, &err), 0);
    CHECK(!f.found && f.placed && !strcmp(f.path, "default.pgo"));
    cpgo_git_file_free(&f);
    /* another name on that tree is its own question */
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "other.pgo", 1 << 20, &f, &err), 0);
    CHECK(!f.found && f.placed && !strcmp(f.path, "other.pgo"));
    cpgo_git_file_free(&f);
    /* a tree that changed is searched again: a second main package now */
    human(dir, "main", "cmd/tool/main.go", "package main\n");
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", HEAD_BR, &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "default.pgo", 1 << 20, &f, &err),
                 CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "2 directories hold a package main: (the root), cmd/tool;");
    cpgo_git_file_free(&f);
    cpgo_gitrepo_close(g);
    make_repo("place-none", 1, dir, sizeof dir);
    human(dir, "main", "lib.go", "package lib\n");
    g = open_repo(dir, 0);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", HEAD_BR, &tips, &err), 0);
    CHECK_EQ_INT(cpgo_gitrepo_find_profile(g, "main", "default.pgo", 1 << 20, &f, &err), 0);
    CHECK(!f.found && !f.placed && !strcmp(f.path, "default.pgo"));
    cpgo_git_file_free(&f);
    cpgo_gitrepo_close(g);
    cpgo_git_file_free(&r.file);
}

int main(int argc, char **argv)
{
    struct cpgo_err err = {0};
    if (argc >= 2 && !strcmp(argv[1], "http-round")) {
        if (argc != 6 && argc != 7) {
            fprintf(stderr, "usage: %s http-round URL TOKEN|- STATE_DIR DATA [COMMAND]\n", argv[0]);
            return 2;
        }
        if (argc == 7) between_cmd = argv[6];
        if (cpgo_git_init(&err)) {
            fprintf(stderr, "%s\n", err.text);
            return 1;
        }
        int st = http_round(argv[2], argv[3], argv[4], argv[5]);
        cpgo_git_shutdown();
        return st;
    }
    if (system("git --version >/dev/null 2>&1") != 0) {
        printf("SKIP: git is not installed\n");
        return 0;
    }
    const char *t = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/cpgo-gitrepo-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    /* neither git nor libgit2 reads the user's configuration */
    setenv("HOME", root, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
    setenv("GIT_AUTHOR_NAME", "Human", 1);
    setenv("GIT_AUTHOR_EMAIL", "human@example.com", 1);
    setenv("GIT_COMMITTER_NAME", "Human", 1);
    setenv("GIT_COMMITTER_EMAIL", "human@example.com", 1);
    char p[700];
    snprintf(p, sizeof p, "%s/commit.sh", root);
    FILE *f = fopen(p, "w");
    if (!f) return 1;
    fputs(COMMIT_SH, f);
    fclose(f);

    CHECK_EQ_INT(cpgo_git_init(&err), 0);
    lifecycle(1);
    lifecycle(0);
    finding();
    placing();
    search_limits();
    pruned();
    upkeep();
    threads();
    identity();
    missing();
    default_branch();
    ssh_key_files();
    cpgo_git_shutdown();
    if (!check_failures)
        run("rm -rf '%s'", root);
    else
        fprintf(stderr, "kept %s (cmd.log has the git commands' output)\n", root);
    CHECK_DONE();
}
