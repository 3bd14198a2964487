/*
 * The repository's default branch for a target_branch not written (issue 13, item 4):
 * cpgo_daemon_resolve_branches through real local repositories made with the git command
 * line (HEAD on master, on trunk; an empty one; a detached HEAD), checked against the same
 * configuration with the branches written: the same targets, keys, ids and head branches.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/log.h"
#include "check.h"
#include "config/config.h"
#include "daemon/daemon_int.h"
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

/* A repository whose HEAD is `branch`, with one commit there. */
static void mkrepo(const char *name, const char *branch)
{
    run("git init -q -b %s '%s/%s' && cd '%s/%s' && echo 'package main' >main.go && git add -A "
        "&& git commit -q -m init",
        branch, root, name, root, name);
}

static struct cpgo_config *parse(const char *yaml)
{
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e = {0};
    int rc = cpgo_config_parse(yaml, strlen(yaml), "c.yaml", root, &c, &e);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "  | %s\n", e.lines[i]);
    cpgo_config_errors_free(&e);
    CHECK_EQ_INT(rc, 0);
    return c;
}

/* Counts the repositories asked (the credential is asked once per git handle) and checks
 * that a local repository gets no credential. */
static int asked;
/* every forge has a token: a local repository must still get none */
static struct cpgo_token_set tset = {.tok = {"ghp_notForLocal", "glpat-notForLocal", "gt_not"}};
static const char *count_cred(void *ctx, const struct cpgo_target_cfg *t, const char **user)
{
    (void)ctx;
    asked++;
    const char *tok = cpgo_token_git_cred(&tset, t, user);
    CHECK(tok == NULL); /* forge local: no forge's token ever goes there */
    return tok;
}

static const struct cpgo_target_cfg *by_file(const struct cpgo_config *c, const char *file)
{
    for (size_t i = 0; i < c->ntargets; i++)
        if (!strcmp(c->targets[i].target_file, file)) return &c->targets[i];
    return NULL;
}

#define BK(n, more)                                                                                \
    "- {name: b" n ", url: 'http://127.0.0.1:1/debug/pprof/profile?seconds=1', schedule: "         \
    "'@hourly', open_pull_request: {" more "}}\n"

static void resolves_as_written(void)
{
    mkrepo("m", "master");
    mkrepo("t", "trunk");
    run("cd '%s/t' && git branch dev", root);
    char state[600];
    snprintf(state, sizeof state, "%s/state", root);
    /* b1: m's default; b2: m, master written, the same file (one target with b1); b3 and
     * b4: t's default, two files; b5: t with dev written (it wins) */
    const char *unresolved =
        "backends:\n" BK("1", "repository: m") BK("2", "repository: m, target_branch: master")
            BK("3", "repository: ./t/") BK("4", "repository: t, target_file: cmd/x/default.pgo")
                BK("5", "repository: t, target_branch: dev, target_file: d.pgo");
    const char *written = "backends:\n" BK("1", "repository: m, target_branch: master")
        BK("2", "repository: m, target_branch: master")
            BK("3", "repository: ./t/, target_branch: trunk")
                BK("4", "repository: t, target_branch: trunk, target_file: cmd/x/default.pgo")
                    BK("5", "repository: t, target_branch: dev, target_file: d.pgo");
    struct cpgo_config *c = parse(unresolved), *w = parse(written);
    if (!c || !w) goto out;
    /* before: three targets wait for their branch, b1 and b2 are apart */
    CHECK_EQ_INT(cpgo_config_unresolved(c), 3);
    CHECK_EQ_INT(c->ntargets, 5);
    CHECK(c->targets[0].target_branch == NULL && c->targets[0].branch_default);
    CHECK(strstr(c->targets[0].key, "@<default>:default.pgo") != NULL);
    struct cpgo_config_errors e = {0};
    asked = 0;
    tset.cfg = c;
    int rc = cpgo_daemon_resolve_branches(&c, state, count_cred, NULL, &e);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "  | %s\n", e.lines[i]);
    cpgo_config_errors_free(&e);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(asked, 2); /* one question per repository, not per target */
    CHECK_EQ_INT(cpgo_config_unresolved(c), 0);
    /* after: exactly the written configuration's targets */
    CHECK_EQ_INT(c->ntargets, w->ntargets);
    CHECK_EQ_INT(c->ntargets, 4);
    for (size_t i = 0; i < c->ntargets && i < w->ntargets; i++) {
        const struct cpgo_target_cfg *a = &c->targets[i], *b = &w->targets[i];
        CHECK(!strcmp(a->key, b->key));
        CHECK(!strcmp(a->id, b->id));
        CHECK(!strcmp(a->target_branch, b->target_branch));
        CHECK_EQ_INT(a->nbackends, b->nbackends);
        char h1[CPGO_CONFIG_HEAD_MAX], h2[CPGO_CONFIG_HEAD_MAX];
        cpgo_config_head_branch(a->target_branch, a->target_file, h1, sizeof h1);
        cpgo_config_head_branch(b->target_branch, b->target_file, h2, sizeof h2);
        CHECK(!strcmp(h1, h2));
    }
    const struct cpgo_target_cfg *t = &c->targets[0];
    CHECK(!strcmp(t->target_branch, "master"));
    CHECK_EQ_INT(t->nbackends, 2); /* resolved master and written master: one target */
    CHECK(t->branch_default);
    char id[17];
    snprintf(id, sizeof id, "%016" PRIx64,
             cpgo_hash_fnv1a(t->key, strlen(t->key), CPGO_FNV1A_INIT));
    CHECK(!strcmp(t->id, id));
    CHECK(strstr(t->key, "/m@master:default.pgo") != NULL);
    const struct cpgo_target_cfg *tt = by_file(c, "default.pgo") == t ? &c->targets[1] : NULL;
    CHECK(tt && !strcmp(tt->target_branch, "trunk"));
    const struct cpgo_target_cfg *x = by_file(c, "cmd/x/default.pgo");
    CHECK(x && !strcmp(x->target_branch, "trunk"));
    const struct cpgo_target_cfg *d = by_file(c, "d.pgo");
    CHECK(d && !strcmp(d->target_branch, "dev") && !d->branch_default);
    CHECK(!strcmp(c->backends[0].target_branch, "master"));
    /* nothing left to resolve: a second call asks nobody */
    asked = 0;
    tset.cfg = c;
    CHECK_EQ_INT(cpgo_daemon_resolve_branches(&c, state, count_cred, NULL, &e), 0);
    CHECK_EQ_INT(asked, 0);
out:
    cpgo_config_free(c);
    cpgo_config_free(w);
}

/* What cannot be resolved: one error per target naming the backend and the repository;
 * the configuration is left as it was. */
static void failures(void)
{
    run("git init -q -b master '%s/empty'", root);
    mkrepo("det", "main");
    run("cd '%s/det' && git checkout -q --detach", root);
    char state[600];
    snprintf(state, sizeof state, "%s/state", root);
    struct cpgo_config *c = parse("backends:\n" BK("1", "repository: m") BK(
        "2", "repository: empty") BK("3", "repository: det") BK("4", "repository: gone"));
    if (!c) return;
    struct cpgo_config *before = c;
    struct cpgo_config_errors e = {0};
    tset.cfg = c;
    int rc = cpgo_daemon_resolve_branches(&c, state, cpgo_token_git_cred, &tset, &e);
    CHECK_EQ_INT(rc, CPGO_E_INPUT);
    CHECK(c == before && cpgo_config_unresolved(c) == 4);
    CHECK_EQ_INT(e.n, 3);
    char all[8192] = "";
    for (size_t i = 0; i < e.n; i++) {
        strncat(all, e.lines[i], sizeof all - strlen(all) - 2);
        strcat(all, "\n");
    }
    char want[2400];
    snprintf(want, sizeof want,
             "c.yaml:3:3: backends[1] (b2): open_pull_request.target_branch is not set, and the "
             "default branch of %s/empty (its HEAD) could not be resolved: %s/empty has no HEAD "
             "(an empty repository",
             root, root);
    CHECK_STR_CONTAINS(all, want);
    snprintf(want, sizeof want,
             "c.yaml:4:3: backends[2] (b3): open_pull_request.target_branch "
             "is not set, and the default branch of %s/det",
             root);
    CHECK_STR_CONTAINS(all, want);
    CHECK_STR_CONTAINS(all, "is not a branch (detached");
    snprintf(want, sizeof want, "c.yaml:5:3: backends[3] (b4): ");
    CHECK_STR_CONTAINS(all, want);
    snprintf(want, sizeof want, "repository %s/gone does not exist; set target_branch", root);
    CHECK_STR_CONTAINS(all, want);
    cpgo_config_errors_free(&e);
    cpgo_config_free(c);

    /* the resolved branch is checked as a written one: head_branch equal to it is refused
     * by the second load, at the head_branch key */
    c = parse("backends:\n" BK("1", "repository: m, head_branch: master"));
    if (!c) return;
    tset.cfg = c;
    rc = cpgo_daemon_resolve_branches(&c, state, cpgo_token_git_cred, &tset, &e);
    CHECK_EQ_INT(rc, CPGO_E_INPUT);
    CHECK(e.n == 1 && strstr(e.lines[0], "backends[0].open_pull_request.head_branch: 'master' is "
                                         "the target branch"));
    cpgo_config_errors_free(&e);
    cpgo_config_free(c);
}

int main(void)
{
    if (system("git --version >/dev/null 2>&1") != 0) {
        printf("SKIP: git is not installed\n");
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/cpgo-defbranch-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("HOME", root, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
    setenv("GIT_AUTHOR_NAME", "Human", 1);
    setenv("GIT_AUTHOR_EMAIL", "human@example.com", 1);
    setenv("GIT_COMMITTER_NAME", "Human", 1);
    setenv("GIT_COMMITTER_EMAIL", "human@example.com", 1);
    cpgo_log_setup(CPGO_LVL_ERROR, 0, 2);
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_git_init(&err), 0);
    resolves_as_written();
    failures();
    cpgo_git_shutdown();
    if (!check_failures)
        run("rm -rf '%s'", root);
    else
        fprintf(stderr, "kept %s\n", root);
    CHECK_DONE();
}
