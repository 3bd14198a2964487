/*
 * test_publish_forge.c - the forge round, step by step, against a real bare repository
 * (made and read back with the git command line) and a real target state.
 *
 * forge.c is compiled into this test with assertions on (release builds define NDEBUG),
 * as h2o's unit tests include the .c they test: every round here also checks the
 * exactly-once invariants forge.c asserts between its steps, and the steps can be run one
 * at a time to reach a race (the target branch moving between find and settle).
 *
 * Each outcome of a round: nothing, pushed, unchanged, settled after a merge, gated,
 * unmanaged; failures name their step and class: foreign, another target's branch, an
 * invalid existing file.
 */
#undef NDEBUG
#include "../../src/publish/forge.c"

#include <stdarg.h>
#include <unistd.h>

#include "check.h"
#include "pbuild.h"

#define TARGET_ID "00000000000000f1"
#define HEAD_BR "cpgo/main/default.pgo"

static char root[512], repo[600], state_dir[600];
static struct cpgo_limits lim;
static struct cpgo_merge_opts mo;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096], full[4700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "(%s) >>'%s/cmd.log' 2>&1", cmd, root);
    return system(full);
}

/* The first line a git command prints in the repository ("" when it fails). */
static const char *git_out(const char *args)
{
    static char out[2][256];
    static int slot;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "git -C '%s' %s 2>/dev/null", repo, args);
    char *o = out[slot++ % 2];
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

/* A commit by a person on `branch` setting `path` to `content` (plumbing: bare repo). */
static int human(const char *branch, const char *path, const char *content)
{
    return sh("export GIT_INDEX_FILE='%s/idx' GIT_AUTHOR_NAME=Human "
              "GIT_AUTHOR_EMAIL=human@example.com GIT_COMMITTER_NAME=Human "
              "GIT_COMMITTER_EMAIL=human@example.com; cd '%s' && rm -f \"$GIT_INDEX_FILE\" && "
              "p= && if git rev-parse -q --verify refs/heads/%s >/dev/null; then git read-tree "
              "refs/heads/%s; p='-p refs/heads/%s'; fi && b=$(printf '%%s' '%s' | git "
              "hash-object -w --stdin) && git update-index --add --cacheinfo 100644,$b,%s && "
              "t=$(git write-tree) && c=$(echo edit | git commit-tree $t $p) && git update-ref "
              "refs/heads/%s $c",
              root, repo, branch, branch, branch, content, path, branch);
}

static void ingest(struct cpgo_tstate *ts, int seed)
{
    struct pbuild *b = pbuild_golike((uint64_t)seed, 40, 30, 15, 0);
    struct cpgo_buf body;
    pbuild_encode(b, 0, &body);
    pbuild_free(b);
    struct cpgo_profile *p = NULL;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_profile_decode(body.data, body.len, &lim, &p, &err), 0);
    CHECK_EQ_INT(cpgo_state_ingest(ts, body.data, body.len, p, "b1", 1700000000 + seed, &err), 0);
    cpgo_profile_free(p);
    cpgo_buf_free(&body);
}

static struct cpgo_forge_req req(void)
{
    struct cpgo_forge_req q = {
        .target_key = "local/repo@main:default.pgo",
        .target_id = TARGET_ID,
        .target_branch = "main",
        .target_file = "default.pgo",
        .mo = mo,
        .lim = lim,
        .reopen_growth_pct = 50,
        /* the file's stamp comment is the round's time: fixed, so that two rounds on the
         * same pending give the same bytes however far apart a loaded machine runs them */
        .now_s = 1700000100,
    };
    return q;
}

/* One whole round; returns its outcome (err printed when it failed unexpectedly). */
static enum cpgo_forge_outcome round_of(struct cpgo_tstate *ts, struct cpgo_gitrepo *g,
                                        struct cpgo_forge_result *r, struct cpgo_err *err)
{
    struct cpgo_forge_req q = req();
    cpgo_forge_result_free(r);
    int rc = cpgo_forge_round(ts, g, &q, r, err);
    CHECK_EQ_INT(rc != 0, r->outcome == CPGO_FORGE_OUT_FAILED);
    CHECK_EQ_INT(rc != 0, r->step != NULL);
    return r->outcome;
}

static void set_forge(struct cpgo_tstate *ts, uint64_t closed_pr, uint64_t closed_scrapes,
                      uint64_t unmanaged_pr)
{
    struct cpgo_state_forge fs;
    struct cpgo_err err;
    cpgo_state_forge_get(ts, &fs);
    fs.closed_pr = closed_pr;
    fs.closed_scrapes = closed_scrapes;
    fs.released = 0;
    fs.unmanaged_pr = unmanaged_pr;
    CHECK_EQ_INT(cpgo_state_forge_put(ts, &fs, &err), 0);
}

/* The steps one by one, with target_branch force-moved between find and settle to a
 * history without the pushed file: the file read in find still settles its segment (the
 * base held it), and settle's invariant holds. */
static void race_settle(struct cpgo_tstate *ts, struct cpgo_gitrepo *g)
{
    struct cpgo_forge_req q = req();
    struct cpgo_forge_result r;
    struct cpgo_err err;
    memset(&r, 0, sizeof r);
    struct round rd = {.ts = ts, .g = g, .req = &q, .r = &r, .err = &err};
    cpgo_limits_merged(&q.lim, &rd.mlim);
    CHECK_EQ_INT(step_fetch(&rd), STEP_NEXT);
    CHECK_EQ_INT(step_find(&rd), STEP_NEXT);
    CHECK_EQ_INT(rd.f.found, 1);
    CHECK_EQ_INT(cpgo_state_segments(ts), 1);
    /* a person rewrites main: an orphan commit without the profile */
    sh("cd '%s' && t=$(git mktree </dev/null) && c=$(echo rewrite | git commit-tree $t) && "
       "git update-ref refs/heads/main $c",
       repo);
    struct cpgo_git_tips tips;
    CHECK_EQ_INT(cpgo_gitrepo_fetch(g, "main", r.head_branch, &tips, &err), 0);
    CHECK_EQ_INT(step_settle(&rd), STEP_NEXT);
    CHECK_EQ_INT(r.settled, 3); /* scrapes 2, 3 and 4 */
    CHECK_EQ_INT(cpgo_state_segments(ts), 0);
    CHECK_EQ_INT(cpgo_state_has_pending(ts), 0);
    CHECK_EQ_INT(step_gate(&rd), STEP_DONE);
    CHECK_EQ_INT(r.outcome, CPGO_FORGE_OUT_NOTHING);
    cpgo_git_file_free(&rd.f);
}

int main(void)
{
    cpgo_limits_default(&lim);
    memset(&mo, 0, sizeof mo);
    snprintf(root, sizeof root, "%s/cpgo-forge-test-%ld",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    snprintf(repo, sizeof repo, "%s/repo.git", root);
    snprintf(state_dir, sizeof state_dir, "%s/state", root);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", root, root);
    if (system(cmd)) return 1;
    sh("git init -q --bare -b main '%s'", repo);
    CHECK_EQ_INT(human("main", "README", "hello"), 0);

    struct cpgo_err err = {0};
    CHECK_EQ_INT(cpgo_git_init(&err), 0);
    struct cpgo_tstate *ts = NULL;
    CHECK_EQ_INT(
        cpgo_state_open(state_dir, "t1", "local/repo@main:default.pgo", &mo, &lim, &ts, &err), 0);
    struct cpgo_repo cr = {.kind = CPGO_REPO_FILE, .url = repo, .host = "local", .path = "repo"};
    struct cpgo_gitrepo *g = NULL;
    CHECK_EQ_INT(cpgo_gitrepo_open(state_dir, &cr, NULL, &g, &err), 0);
    if (!ts || !g) CHECK_DONE();
    struct cpgo_forge_result r;
    memset(&r, 0, sizeof r);

    /* nothing pending: nothing pushed */
    CHECK_EQ_INT(round_of(ts, g, &r, &err), CPGO_FORGE_OUT_NOTHING);
    CHECK(!strcmp(r.head_branch, HEAD_BR));
    CHECK(!strcmp(git_out("rev-parse -q --verify refs/heads/" HEAD_BR), ""));

    /* one scrape: the file is created on the head branch, and its blob was recorded */
    ingest(ts, 1);
    CHECK_EQ_INT(round_of(ts, g, &r, &err), CPGO_FORGE_OUT_PUSHED);
    CHECK_EQ_INT(r.created, 1);
    CHECK_EQ_INT(r.scrapes, 1);
    CHECK(!strcmp(git_out("rev-parse " HEAD_BR), r.commit));
    CHECK(!strcmp(git_out("rev-parse " HEAD_BR ":default.pgo"), r.blob));
    CHECK_EQ_INT(blob_recorded(ts, r.blob), 1);
    CHECK_EQ_INT(cpgo_state_segments(ts), 1);
    char first_commit[CPGO_GIT_ID_SIZE];
    snprintf(first_commit, sizeof first_commit, "%s", r.commit);

    /* the same pending again: the branch already has it */
    CHECK_EQ_INT(round_of(ts, g, &r, &err), CPGO_FORGE_OUT_UNCHANGED);
    CHECK(!strcmp(r.commit, first_commit));

    /* the pull request is merged: its scrape is published, nothing is left */
    sh("git -C '%s' update-ref refs/heads/main refs/heads/" HEAD_BR, repo);
    CHECK_EQ_INT(round_of(ts, g, &r, &err), CPGO_FORGE_OUT_NOTHING);
    CHECK_EQ_INT(r.settled, 1);
    CHECK_EQ_INT(cpgo_state_segments(ts), 0);

    /* a closed pull request gates until pending has grown by half */
    ingest(ts, 2);
    set_forge(ts, 5, 2, 0);
    CHECK_EQ_INT(round_of(ts, g, &r, &err), CPGO_FORGE_OUT_GATED);
    ingest(ts, 3);
    ingest(ts, 4);
    CHECK_EQ_INT(round_of(ts, g, &r, &err), CPGO_FORGE_OUT_PUSHED);
    CHECK_EQ_INT(r.created, 0);
    CHECK_EQ_INT(r.scrapes, 3);

    /* a person took the open pull request over */
    set_forge(ts, 0, 0, 9);
    CHECK_EQ_INT(round_of(ts, g, &r, &err), CPGO_FORGE_OUT_UNMANAGED);
    set_forge(ts, 0, 0, 0);

    /* a person's commit on the head branch: left alone */
    CHECK_EQ_INT(human(HEAD_BR, "notes.txt", "mine"), 0);
    const char *tip = git_out("rev-parse " HEAD_BR);
    char human_tip[64];
    snprintf(human_tip, sizeof human_tip, "%s", tip);
    CHECK_EQ_INT(round_of(ts, g, &r, &err), CPGO_FORGE_OUT_FAILED);
    CHECK_EQ_INT(r.gcls, CPGO_CLASS_FOREIGN);
    CHECK(r.step && !strcmp(r.step, "foreign check"));
    CHECK_STR_CONTAINS(err.text, "has commits cpgo did not make");
    CHECK(!strcmp(git_out("rev-parse " HEAD_BR), human_tip));

    /* another target's commit at the tip: two targets on one file */
    sh("git -C '%s' update-ref -d refs/heads/" HEAD_BR, repo);
    sh("cd '%s' && t=$(git rev-parse main^{tree}) && c=$(printf 'x\\n\\nCpgo-Target: "
       "00000000000000f2\\n' | GIT_COMMITTER_NAME=cpgo GIT_COMMITTER_EMAIL=cpgo@localhost "
       "GIT_AUTHOR_NAME=cpgo GIT_AUTHOR_EMAIL=cpgo@localhost git commit-tree $t -p main) && "
       "git update-ref refs/heads/" HEAD_BR " $c",
       repo);
    CHECK_EQ_INT(round_of(ts, g, &r, &err), CPGO_FORGE_OUT_FAILED);
    CHECK_EQ_INT(r.gcls, CPGO_CLASS_CONTENT);
    CHECK(r.step && !strcmp(r.step, "foreign check"));
    CHECK_STR_CONTAINS(err.text, "another cpgo target (id 00000000000000f2)");
    sh("git -C '%s' update-ref -d refs/heads/" HEAD_BR, repo);

    /* the base file is not a profile: nothing pushed, a person must look */
    CHECK_EQ_INT(human("main", "default.pgo", "not a profile"), 0);
    CHECK_EQ_INT(round_of(ts, g, &r, &err), CPGO_FORGE_OUT_FAILED);
    CHECK_EQ_INT(r.gcls, CPGO_CLASS_CONTENT);
    CHECK(r.step && !strcmp(r.step, "validate"));
    CHECK_STR_CONTAINS(err.text, "is not a valid profile");
    CHECK(!strcmp(git_out("rev-parse -q --verify refs/heads/" HEAD_BR), ""));

    /* back to a profile: pushed; then main is rewritten under the round (race_settle) */
    sh("git -C '%s' update-ref refs/heads/main main^", repo);
    CHECK_EQ_INT(round_of(ts, g, &r, &err), CPGO_FORGE_OUT_PUSHED);
    sh("git -C '%s' update-ref refs/heads/main refs/heads/" HEAD_BR, repo);
    race_settle(ts, g);

    cpgo_forge_result_free(&r);
    cpgo_gitrepo_close(g);
    cpgo_state_close(ts);
    cpgo_git_shutdown();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (!check_failures && system(cmd)) fprintf(stderr, "cannot remove %s\n", root);
    CHECK_DONE();
}
