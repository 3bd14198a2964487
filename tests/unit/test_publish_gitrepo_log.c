/*
 * test_publish_gitrepo_log.c - cpgo_gitrepo_last_change and cpgo_gitrepo_read_file against
 * real repositories made with the git command line, with committer dates in the past
 * (GIT_COMMITTER_DATE), and `git log -1 --format=%ct BRANCH -- PATH` as the judge.
 *
 * Histories: a file changed then untouched by later commits (author date unlike the
 * committer date), merges that take one side's file unchanged (first and second parent,
 * and one whose other side changed the file and changed it back), a merge that resolves
 * both sides into a new file, a squash, a rebase (new committer time), a mode change, the
 * path absent, a directory, a branch not fetched, more history than max_commits. Then the
 * file on the head branch: exact path only, gone branch, directory, size limit.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "publish/gitrepo.h"

static char root[512];

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

/* The first line a shell command prints (static buffer, trimmed). */
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

/* A fresh repository with a working tree: root/NAME. */
static void make_repo(const char *name, char *dir, size_t n)
{
    snprintf(dir, n, "%s/%s", root, name);
    run("git init -q -b main '%s'", dir);
}

/* Writes FILE = CONTENT in DIR and commits everything, committed at time T (author date
 * T - 500: the committer time is the one that counts). */
static void commit_at(const char *dir, long long t, const char *file, const char *content)
{
    run("cd '%s' && mkdir -p \"$(dirname '%s')\" && printf '%%s' '%s' >'%s' && git add -A && "
        "GIT_AUTHOR_DATE='@%lld +0000' GIT_COMMITTER_DATE='@%lld +0000' "
        "git commit -q -m 'edit %s at %lld'",
        dir, file, content, file, t - 500, t, file, t);
}

/* git with the committer (and author) date T, in DIR. */
static int git_at(const char *dir, long long t, const char *args)
{
    return run("cd '%s' && GIT_AUTHOR_DATE='@%lld +0000' GIT_COMMITTER_DATE='@%lld +0000' git %s",
               dir, t, t, args);
}

static struct cpgo_gitrepo *open_local(char *dir)
{
    struct cpgo_repo r;
    memset(&r, 0, sizeof r);
    char path[600], state[600], host[] = "local";
    snprintf(path, sizeof path, "%s", dir + 1);
    snprintf(state, sizeof state, "%s/state", root);
    r.kind = CPGO_REPO_FILE;
    r.host = host;
    r.path = path;
    r.url = dir;
    struct cpgo_gitrepo *g = NULL;
    struct cpgo_err err = {0};
    int rc = cpgo_gitrepo_open(state, &r, NULL, &g, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "open: %s\n", err.text);
    return g;
}

/* Fetches BRANCH (and HEAD, may be NULL) of DIR into g's cache. */
static void fetch(struct cpgo_gitrepo *g, const char *branch, const char *head)
{
    struct cpgo_git_tips tips;
    struct cpgo_err err = {0};
    int rc = cpgo_gitrepo_fetch(g, branch, head, &tips, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "fetch: %s\n", err.text);
}

/* cpgo's answer for BRANCH/PATH, compared with git log's; returns the time or -1 when not
 * found. */
static long long last_change(struct cpgo_gitrepo *g, const char *dir, const char *branch,
                             const char *path, size_t max)
{
    int found = -1;
    int64_t when = -1;
    struct cpgo_err err = {0};
    int rc = cpgo_gitrepo_last_change(g, branch, path, max, &found, &when, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "last_change %s %s: %s\n", branch, path, err.text);
    if (rc) return -2;
    const char *git =
        cap("git -C '%s' log -1 --format=%%ct '%s' -- '%s' 2>/dev/null", dir, branch, path);
    if (found && max >= 1000) {
        /* with the whole history walked, git log is the judge */
        CHECK_EQ_INT(when, atoll(git));
        if (when != atoll(git))
            fprintf(stderr, "%s %s: cpgo %lld, git %s\n", branch, path, (long long)when, git);
    }
    return found ? (long long)when : -1;
}

/* A file changed, then only other files; the author date is not what counts. */
static void changed_then_untouched(void)
{
    char dir[600];
    make_repo("untouched", dir, sizeof dir);
    commit_at(dir, 1000000, "default.pgo", "v1");
    commit_at(dir, 2000000, "default.pgo", "v2");
    commit_at(dir, 3000000, "README", "a");
    commit_at(dir, 4000000, "cmd/app/main.go", "package main");
    commit_at(dir, 5000000, "README", "b");
    struct cpgo_gitrepo *g = open_local(dir);
    if (!g) return;
    fetch(g, "main", NULL);
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 1000), 2000000);
    CHECK_EQ_INT(last_change(g, dir, "main", "cmd/app/main.go", 1000), 4000000);
    /* the walk stops at max_commits: the change is the 4th commit from the tip */
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 4), 2000000);
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 3), -1);
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 0), -1);
    /* absent at the tip: no age */
    CHECK_EQ_INT(last_change(g, dir, "main", "nothing/default.pgo", 1000), -1);
    /* a directory at the path */
    int found = 7;
    int64_t when = 7;
    struct cpgo_err err = {0};
    int rc = cpgo_gitrepo_last_change(g, "main", "cmd", 1000, &found, &when, &err);
    CHECK(rc < 0);
    CHECK_EQ_INT(found, 0);
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_CONTENT);
    CHECK_STR_CONTAINS(err.text, "cmd on branch 'main'");
    CHECK_STR_CONTAINS(err.text, "a directory");
    /* a branch not fetched, and a bad path */
    CHECK_EQ_INT(last_change(g, dir, "nope", "default.pgo", 1000), -1);
    rc = cpgo_gitrepo_last_change(g, "main", "../default.pgo", 1000, &found, &when, &err);
    CHECK(rc < 0);
    CHECK_STR_CONTAINS(err.text, "must not contain '.' or '..'");
    /* the file deleted at the tip: found = 0, not the deletion's time */
    run("cd '%s' && git rm -q default.pgo && GIT_COMMITTER_DATE='@6000000 +0000' git commit -q "
        "-m gone",
        dir);
    fetch(g, "main", NULL);
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 1000), -1);
    /* added again: its age starts then */
    commit_at(dir, 7000000, "default.pgo", "v1");
    fetch(g, "main", NULL);
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 1000), 7000000);
    /* only the mode changed: a change, as git log shows it */
    git_at(dir, 8000000, "update-index --chmod=+x default.pgo");
    git_at(dir, 8000000, "commit -q -m chmod");
    fetch(g, "main", NULL);
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 1000), 8000000);
    cpgo_gitrepo_close(g);
}

/* Merges. */
static void merges(void)
{
    char dir[600];
    make_repo("merges", dir, sizeof dir);
    commit_at(dir, 1000000, "default.pgo", "v1");
    run("git -C '%s' branch side", dir);
    run("git -C '%s' branch feature", dir);
    /* side: an unrelated change; main: the profile changes later */
    run("git -C '%s' checkout -q side", dir);
    commit_at(dir, 2000000, "README", "side");
    run("git -C '%s' checkout -q main", dir);
    commit_at(dir, 3000000, "default.pgo", "v2");
    /* main merges side (its file = the first parent's): not a change */
    git_at(dir, 4000000, "merge -q --no-ff -m 'merge side' side");
    /* feature merges main (its file = the second parent's): not a change; git log
     * follows main and finds main's change */
    run("git -C '%s' checkout -q feature", dir);
    commit_at(dir, 2500000, "notes", "feature");
    git_at(dir, 4500000, "merge -q --no-ff -m 'merge main' main");
    run("git -C '%s' checkout -q main", dir);

    /* hidden: a side branch that changed the file and changed it back; merged at a time
     * when its file equals main's. Only the first same parent is followed, so the side's
     * commits (newer than main's change) are not the answer. */
    run("git -C '%s' branch hidden-base main && git -C '%s' branch hidden main", dir, dir);
    run("git -C '%s' checkout -q hidden", dir);
    commit_at(dir, 5000000, "default.pgo", "tmp");
    commit_at(dir, 5100000, "default.pgo", "v2");
    run("git -C '%s' checkout -q hidden-base", dir);
    commit_at(dir, 5200000, "README", "base");
    git_at(dir, 5300000, "merge -q --no-ff -m 'merge hidden' hidden");

    /* both sides changed the file: the merge resolves it into v3, a change */
    run("git -C '%s' checkout -q -b left main", dir);
    commit_at(dir, 6000000, "default.pgo", "left");
    run("git -C '%s' checkout -q -b right main", dir);
    commit_at(dir, 6100000, "default.pgo", "right");
    run("cd '%s' && git checkout -q left && (git merge -q right -m x >/dev/null 2>&1 || true) && "
        "printf v3 >default.pgo && git add default.pgo && "
        "GIT_COMMITTER_DATE='@6200000 +0000' git commit -q -m 'merge right, resolved'",
        dir);
    run("git -C '%s' checkout -q main", dir);

    /* without git's simplification the side's change would be the newest */
    CHECK(!strcmp(
        cap("git -C '%s' log -1 --full-history --format=%%ct hidden-base -- default.pgo", dir),
        "5100000"));
    struct cpgo_gitrepo *g = open_local(dir);
    if (!g) return;
    const char *branches[] = {"main", "feature", "hidden-base", "left"};
    long long want[] = {3000000, 3000000, 3000000, 6200000};
    for (size_t i = 0; i < 4; i++) {
        fetch(g, branches[i], NULL);
        CHECK_EQ_INT(last_change(g, dir, branches[i], "default.pgo", 1000), want[i]);
    }
    /* the merge counts as one commit walked, then main's line */
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 2), 3000000);
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 1), -1);
    cpgo_gitrepo_close(g);
}

/* A squash merge and a rebase: new commits, new committer times. */
static void squash_and_rebase(void)
{
    char dir[600];
    make_repo("rewrite", dir, sizeof dir);
    commit_at(dir, 1000000, "default.pgo", "v1");
    run("git -C '%s' branch pr1", dir);
    run("git -C '%s' checkout -q pr1", dir);
    commit_at(dir, 2000000, "default.pgo", "pr1-a");
    commit_at(dir, 2100000, "default.pgo", "pr1-b");
    run("git -C '%s' checkout -q main", dir);
    commit_at(dir, 3000000, "README", "main");
    git_at(dir, 4000000, "merge -q --squash pr1");
    git_at(dir, 4000000, "commit -q -m 'squashed pr1'");
    struct cpgo_gitrepo *g = open_local(dir);
    if (!g) return;
    fetch(g, "main", NULL);
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 1000), 4000000);
    /* pr2 changes the file at 4100000 and is rebased onto main at 5000000: the rebased
     * commit's committer time is the rebase's (its author time stays) */
    run("git -C '%s' checkout -q -b pr2 main", dir);
    commit_at(dir, 4100000, "default.pgo", "pr2");
    commit_at(dir, 4200000, "README2", "pr2");
    run("git -C '%s' checkout -q main", dir);
    commit_at(dir, 4300000, "README3", "main");
    run("git -C '%s' checkout -q pr2", dir);
    git_at(dir, 5000000, "rebase -q main");
    CHECK(!strcmp(cap("git -C '%s' log -1 --format=%%at pr2 -- default.pgo", dir), "4099500"));
    fetch(g, "pr2", NULL);
    CHECK_EQ_INT(last_change(g, dir, "pr2", "default.pgo", 1000), 5000000);
    run("git -C '%s' checkout -q main", dir);
    cpgo_gitrepo_close(g);
}

/* More history than max_commits: the answer only within the walk. */
static void long_history(void)
{
    char dir[600];
    make_repo("long", dir, sizeof dir);
    commit_at(dir, 1000000, "default.pgo", "v1");
    /* 60 commits of another file */
    run("cd '%s' && for i in $(seq 1 60); do printf $i >README && git add README && "
        "GIT_COMMITTER_DATE=\"@$((1000000 + i * 10)) +0000\" git commit -q -m r$i; done",
        dir);
    struct cpgo_gitrepo *g = open_local(dir);
    if (!g) return;
    fetch(g, "main", NULL);
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 1000), 1000000);
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 61), 1000000);
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 60), -1);
    CHECK_EQ_INT(last_change(g, dir, "main", "default.pgo", 10), -1);
    cpgo_gitrepo_close(g);
}

/* cpgo_gitrepo_read_file: the exact path on the fetched head branch. */
static void read_head_file(void)
{
    char dir[600];
    make_repo("head", dir, sizeof dir);
    commit_at(dir, 1000000, "cmd/app/default.pgo", "base");
    const char *head = "cpgo/main/cmd/app/default.pgo";
    run("git -C '%s' checkout -q -b '%s'", dir, head);
    commit_at(dir, 2000000, "cmd/app/default.pgo", "proposed");
    run("git -C '%s' checkout -q main", dir);
    struct cpgo_gitrepo *g = open_local(dir);
    if (!g) return;
    struct cpgo_git_tips tips;
    struct cpgo_err err = {0};
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", head, &tips, &err), 0);
    CHECK_EQ_INT(tips.head_exists, 1);

    struct cpgo_git_file f;
    CHECK_EQ_INT(cpgo_gitrepo_read_file(g, head, "cmd/app/default.pgo", 1 << 20, &f, &err), 0);
    CHECK_EQ_INT(f.found, 1);
    CHECK_EQ_INT(f.searched, 0);
    CHECK(f.path && !strcmp(f.path, "cmd/app/default.pgo"));
    CHECK(f.len == 8 && f.data && !memcmp(f.data, "proposed", 8));
    CHECK(!strcmp(f.blob, cap("git -C '%s' rev-parse '%s:cmd/app/default.pgo'", dir, head)));
    CHECK(!strcmp(f.base, cap("git -C '%s' rev-parse '%s'", dir, head)));
    cpgo_git_file_free(&f);
    /* the target branch too */
    CHECK_EQ_INT(cpgo_gitrepo_read_file(g, "main", "cmd/app/default.pgo", 1 << 20, &f, &err), 0);
    CHECK(f.found && f.len == 4 && !memcmp(f.data, "base", 4));
    cpgo_git_file_free(&f);

    /* a bare name is not searched for: absent at the root */
    CHECK_EQ_INT(cpgo_gitrepo_read_file(g, head, "default.pgo", 1 << 20, &f, &err), 0);
    CHECK_EQ_INT(f.found, 0);
    CHECK(f.path && !strcmp(f.path, "default.pgo") && !f.data);
    CHECK(f.base[0] != 0);
    cpgo_git_file_free(&f);
    /* a directory, a blob over the limit */
    CHECK(cpgo_gitrepo_read_file(g, head, "cmd/app", 1 << 20, &f, &err) < 0);
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_CONTENT);
    CHECK_STR_CONTAINS(err.text, "is a directory, not a profile");
    CHECK(!f.path && !f.data);
    CHECK(cpgo_gitrepo_read_file(g, head, "cmd/app/default.pgo", 4, &f, &err) < 0);
    CHECK_EQ_INT(cpgo_gitrepo_last_class(g), CPGO_CLASS_LIMIT);
    CHECK_STR_CONTAINS(err.text, "8 bytes, more than the limit of 4");
    /* a branch never fetched: absent, no base */
    CHECK_EQ_INT(cpgo_gitrepo_read_file(g, "other", "cmd/app/default.pgo", 1 << 20, &f, &err), 0);
    CHECK_EQ_INT(f.found, 0);
    CHECK_EQ_INT(f.base[0], 0);
    cpgo_git_file_free(&f);
    /* the head branch deleted remotely: the next fetch drops it, and it reads as absent */
    run("git -C '%s' branch -q -D '%s'", dir, head);
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", head, &tips, &err), 0);
    CHECK_EQ_INT(tips.head_exists, 0);
    CHECK_EQ_INT(cpgo_gitrepo_read_file(g, head, "cmd/app/default.pgo", 1 << 20, &f, &err), 0);
    CHECK_EQ_INT(f.found, 0);
    CHECK_EQ_INT(f.base[0], 0);
    cpgo_git_file_free(&f);
    cpgo_gitrepo_close(g);
}

int main(void)
{
    if (system("git --version >/dev/null 2>&1") != 0) {
        printf("SKIP: git is not installed\n");
        return 0;
    }
    const char *t = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/cpgo-gitlog-XXXXXX", t && *t ? t : "/tmp");
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
    struct cpgo_err err = {0};
    CHECK_EQ_INT(cpgo_git_init(&err), 0);
    changed_then_untouched();
    merges();
    squash_and_rebase();
    long_history();
    read_head_file();
    cpgo_git_shutdown();
    if (!check_failures)
        run("rm -rf '%s'", root);
    else
        fprintf(stderr, "kept %s (cmd.log has the git commands' output)\n", root);
    CHECK_DONE();
}
