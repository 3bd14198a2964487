/*
 * cmd_demo.c - `cpgo demo`: the whole pipeline on this machine with nothing configured.
 *
 * It makes a directory with
 *   service/      a git repository (libgit2): a Go main package in cmd/checkout with an
 *                 existing default.pgo (one of the bundled profiles), one commit on main;
 *   config.yaml   three backends, forge local (the embedded default), target_file the bare
 *                 name default.pgo (found by searching the tree);
 *   state/, cpgo.log
 * starts three backends on 127.0.0.1 that serve real Go CPU profiles (recorded from a Go
 * program, embedded in the binary from examples/profiles) at /debug/pprof/profile, on a
 * libuv loop in a thread of their own, through the admin HTTP server (llhttp), and runs two
 * rounds of `cpgo run --once` against them. Then it prints the branch, the commit, the pull
 * request body a GitHub target would get, and where to look.
 * Thread: main (the backends' loop runs in one extra thread until the demo ends).
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "admin/http.h"
#include "base/buf.h"
#include "base/file.h"
#include "cli/cli.h"
#include "config/config.h"
#include "daemon/daemon.h"
#include "publish/gitrepo.h"

extern const struct {
    const char *name;
    const unsigned char *data;
    size_t len;
} cpgo_demo_profiles[];

#define NBACKENDS 3

struct backends;
struct slot {
    struct backends *b;
    int i;
    size_t served;
};

struct backends {
    uv_loop_t loop;
    uv_async_t stop;
    uv_thread_t thread;
    struct cpgo_admin *srv[NBACKENDS];
    int port[NBACKENDS];
    struct slot slot[NBACKENDS];
};

static size_t nprofiles(void)
{
    size_t n = 0;
    while (cpgo_demo_profiles[n].name)
        n++;
    return n;
}

/* Each backend serves the bundled profiles in turn, as a live service's profile changes. */
static int serve_profile(const char *path, const char *query, struct cpgo_admin_resp *resp,
                         void *arg)
{
    (void)path;
    (void)query;
    struct slot *sl = arg;
    size_t k = ((size_t)sl->i + sl->served++) % nprofiles();
    resp->content_type = "application/octet-stream";
    return cpgo_buf_append(resp->body, cpgo_demo_profiles[k].data, cpgo_demo_profiles[k].len);
}

static void stop_cb(uv_async_t *h)
{
    struct backends *b = h->data;
    for (int i = 0; i < NBACKENDS; i++)
        if (b->srv[i]) cpgo_admin_close(b->srv[i], NULL, NULL);
    uv_close((uv_handle_t *)&b->stop, NULL);
}

static void backends_thread(void *arg)
{
    struct backends *b = arg;
    uv_run(&b->loop, UV_RUN_DEFAULT);
}

static int backends_start(struct backends *b, char *err, size_t errcap)
{
    memset(b, 0, sizeof *b);
    uv_loop_init(&b->loop);
    uv_async_init(&b->loop, &b->stop, stop_cb);
    b->stop.data = b;
    for (int i = 0; i < NBACKENDS; i++) {
        b->slot[i].b = b;
        b->slot[i].i = i;
        struct cpgo_admin_route r = {"/debug/pprof/profile", serve_profile, &b->slot[i]};
        struct cpgo_admin_opts o = {.listen = "127.0.0.1:0", .routes = &r, .nroutes = 1};
        struct cpgo_err e;
        if (cpgo_admin_new(&b->loop, &o, &b->srv[i], &e)) {
            snprintf(err, errcap, "cannot start a demo backend: %.400s", e.text);
            uv_async_send(&b->stop);
            uv_run(&b->loop, UV_RUN_DEFAULT);
            uv_loop_close(&b->loop);
            return -1;
        }
        b->port[i] = cpgo_admin_port(b->srv[i]);
    }
    uv_thread_create(&b->thread, backends_thread, b);
    return 0;
}

static void backends_stop(struct backends *b)
{
    uv_async_send(&b->stop);
    uv_thread_join(&b->thread);
    uv_loop_close(&b->loop);
}

/* ---- the repository (libgit2) --------------------------------------------------------- */

static int write_file(const char *dir, const char *rel, const void *data, size_t len)
{
    char p[4200];
    int n = snprintf(p, sizeof p, "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= sizeof p) return -1;
    for (char *s = p + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(p, 0755);
        *s = '/';
    }
    struct cpgo_err e;
    return cpgo_file_write_at(AT_FDCWD, p, data, len, 0644, &e) ? -1 : 0;
}

static int git_check(int rc, const char *what, char *err, size_t errcap)
{
    if (rc >= 0) return 0;
    const git_error *e = git_error_last();
    snprintf(err, errcap, "%s: %s", what, e && e->message ? e->message : "libgit2 failed");
    return -1;
}

static int make_repo(const char *dir, char *err, size_t errcap)
{
    static const char gomod[] = "module example.com/checkout\n\ngo 1.21\n";
    static const char maingo[] =
        "package main\n\n// The demo's service. Go builds it with the default.pgo next to this "
        "file\n// (go build -pgo=auto, the default since Go 1.21).\nfunc main() {}\n";
    if ((mkdir(dir, 0755) && errno != EEXIST) ||
        write_file(dir, "go.mod", gomod, sizeof gomod - 1) ||
        write_file(dir, "cmd/checkout/main.go", maingo, sizeof maingo - 1) ||
        write_file(dir, "cmd/checkout/default.pgo", cpgo_demo_profiles[0].data,
                   cpgo_demo_profiles[0].len)) {
        snprintf(err, errcap, "cannot write into %.300s: %s", dir, strerror(errno));
        return -1;
    }
    git_repository *repo = NULL;
    git_index *idx = NULL;
    git_tree *tree = NULL;
    git_signature *sig = NULL;
    git_oid tree_id, commit_id;
    git_repository_init_options io;
    git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
    io.flags = GIT_REPOSITORY_INIT_MKPATH;
    io.initial_head = "main";
    int rc = git_check(git_repository_init_ext(&repo, dir, &io), "git init", err, errcap);
    if (!rc) rc = git_check(git_repository_index(&idx, repo), "git index", err, errcap);
    if (!rc) rc = git_check(git_index_add_all(idx, NULL, 0, NULL, NULL), "git add", err, errcap);
    if (!rc) rc = git_check(git_index_write(idx), "git add", err, errcap);
    if (!rc) rc = git_check(git_index_write_tree(&tree_id, idx), "git write-tree", err, errcap);
    if (!rc) rc = git_check(git_tree_lookup(&tree, repo, &tree_id), "git tree", err, errcap);
    if (!rc)
        rc = git_check(git_signature_now(&sig, "Demo Developer", "dev@example.com"), "signature",
                       err, errcap);
    if (!rc)
        rc = git_check(git_commit_create_v(&commit_id, repo, "HEAD", sig, sig, NULL,
                                           "checkout service with a hand-made default.pgo\n", tree,
                                           0),
                       "git commit", err, errcap);
    git_signature_free(sig);
    git_tree_free(tree);
    git_index_free(idx);
    git_repository_free(repo);
    return rc;
}

/* The branch's commit: id, subject and body (the body is what a pull request would say). */
static int read_branch(const char *dir, const char *branch, char id[41], char **msg)
{
    git_repository *repo = NULL;
    git_reference *ref = NULL;
    git_commit *c = NULL;
    char name[512];
    snprintf(name, sizeof name, "refs/heads/%s", branch);
    int rc = -1;
    if (git_repository_open(&repo, dir) >= 0 && git_reference_lookup(&ref, repo, name) >= 0 &&
        git_commit_lookup(&c, repo, git_reference_target(ref)) >= 0) {
        git_oid_tostr(id, 41, git_commit_id(c));
        *msg = strdup(git_commit_message(c));
        rc = *msg ? 0 : -1;
    }
    git_commit_free(c);
    git_reference_free(ref);
    git_repository_free(repo);
    return rc;
}

/* ---- the demo ------------------------------------------------------------------------- */

/* A YAML double-quoted scalar: any path (spaces, '#', ':', quotes) reads back unchanged. */
static void yaml_quote(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    out[o++] = '"';
    for (; *in && o + 6 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = 0;
}

static int run_round(const char *config, int log_fd)
{
    struct cpgo_run_opts o;
    memset(&o, 0, sizeof o);
    o.config_path = config;
    o.once = 1;
    o.log_fd = log_fd;
    return cpgo_daemon_run(&o);
}

static int demo(const char *dir, char *err, size_t errcap);

int cpgo_cmd_demo(int argc, char **argv)
{
    const char *dir_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir_arg = argv[++i];
        else if (CPGO_CLI_IS_HELP(argv[i]))
            return cpgo_cli_help_flag("demo");
        else
            return cpgo_cli_usage_error("demo", "unknown or incomplete option '%s'", argv[i]);
    }
    if (nprofiles() == 0) {
        fprintf(stderr, "cpgo demo: this binary was built without the bundled profiles\n");
        return CPGO_EXIT_FAIL;
    }
    char dir[4096];
    if (dir_arg) {
        if (mkdir(dir_arg, 0755) && errno != EEXIST) {
            fprintf(stderr, "cpgo demo: cannot create %s: %s\n", dir_arg, strerror(errno));
            return CPGO_EXIT_FAIL;
        }
        if (!realpath(dir_arg, dir)) {
            fprintf(stderr, "cpgo demo: %s: %s\n", dir_arg, strerror(errno));
            return CPGO_EXIT_FAIL;
        }
        /* never write over what is there: the directory must be new or empty */
        DIR *dd = opendir(dir);
        int used = 0;
        struct dirent *e;
        while (dd && (e = readdir(dd)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) used = 1;
        if (dd) closedir(dd);
        if (used) {
            fprintf(stderr, "cpgo demo: %s is not empty; give a new or empty directory\n", dir);
            return CPGO_EXIT_INVALID;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/cpgo-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "cpgo demo: cannot create a directory in %s: %s\n",
                    tmp && *tmp ? tmp : "/tmp", strerror(errno));
            return CPGO_EXIT_FAIL;
        }
    }
    char err[512];

    /* one libgit2 initialisation for the whole demo (the rounds nest theirs in it) */
    struct cpgo_err gerr;
    if (cpgo_git_init(&gerr)) {
        fprintf(stderr, "cpgo demo: %s\n", gerr.text);
        return CPGO_EXIT_FAIL;
    }
    int rc = demo(dir, err, sizeof err);
    cpgo_git_shutdown();
    return rc;
}

static char self_path[4096] = "cpgo";

static int demo(const char *dir, char *err, size_t errcap)
{
    /* the demo's backends are on loopback: an http_proxy in the environment must not
     * route them elsewhere */
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    ssize_t sl = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (sl > 0) self_path[sl] = 0;
    char repo[4200], config[4200], logp[4200];
    snprintf(repo, sizeof repo, "%s/service", dir);
    snprintf(config, sizeof config, "%s/config.yaml", dir);
    snprintf(logp, sizeof logp, "%s/cpgo.log", dir);
    int rc = make_repo(repo, err, errcap);
    if (rc) {
        fprintf(stderr, "cpgo demo: %s\n", err);
        return CPGO_EXIT_FAIL;
    }
    struct backends *b = calloc(1, sizeof *b);
    if (!b || backends_start(b, err, errcap)) {
        fprintf(stderr, "cpgo demo: %s\n", b ? err : "out of memory");
        free(b);
        return CPGO_EXIT_FAIL;
    }
    FILE *cf = fopen(config, "w");
    if (!cf) {
        fprintf(stderr, "cpgo demo: cannot write %s: %s\n", config, strerror(errno));
        backends_stop(b);
        free(b);
        return CPGO_EXIT_FAIL;
    }
    char qstate[9000], qrepo[9000], sd[4200];
    snprintf(sd, sizeof sd, "%s/state", dir);
    yaml_quote(sd, qstate, sizeof qstate);
    yaml_quote(repo, qrepo, sizeof qrepo);
    fprintf(cf,
            "# Written by `cpgo demo`: three instances of one service, published to a local\n"
            "# repository (forge local: the head branch is the result, no account needed).\n"
            "state_dir: %s\n"
            "defaults:\n"
            "  schedule: '*/5 * * * *'\n"
            "  open_pull_request:\n"
            "    repository: %s\n"
            "    target_file: default.pgo   # a bare name: found in cmd/checkout/\n"
            "    target_branch: main\n"
            "backends:\n",
            qstate, qrepo);
    for (int i = 0; i < NBACKENDS; i++)
        fprintf(cf,
                "- name: checkout-%d\n"
                "  url: http://127.0.0.1:%d/debug/pprof/profile?seconds=30\n",
                i + 1, b->port[i]);
    fclose(cf);
    int logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        fprintf(stderr, "cpgo demo: cannot write %s: %s\n", logp, strerror(errno));
        backends_stop(b);
        free(b);
        return CPGO_EXIT_FAIL;
    }

    printf("cpgo demo: the whole pipeline on this machine, no account needed\n\n");
    printf("  backends    %d instances of a Go service on 127.0.0.1:%d, :%d, :%d serving real\n"
           "              Go CPU profiles at /debug/pprof/profile\n",
           NBACKENDS, b->port[0], b->port[1], b->port[2]);
    printf("  repository  %s (main: cmd/checkout/main.go and an existing\n"
           "              cmd/checkout/default.pgo)\n",
           repo);
    printf("  config      %s\n\n", config);
    fflush(stdout);
    int r1 = run_round(config, logfd);
    printf(
        "  round 1     scraped %d backends, merged with the existing profile, committed: exit %d\n",
        NBACKENDS, r1);
    fflush(stdout);
    int r2 = r1 == 0 ? run_round(config, logfd) : r1;
    if (r1 == 0)
        printf("  round 2     scraped again; the same branch regenerated in place: exit %d\n\n",
               r2);
    close(logfd);
    backends_stop(b);
    free(b);
    if (r1 || r2) {
        fprintf(stderr, "cpgo demo: a round failed; see %s\n", logp);
        return CPGO_EXIT_FAIL;
    }

    char branch[64]; /* the default head branch: the profile is cmd/checkout/default.pgo */
    cpgo_config_head_branch("main", "cmd/checkout/default.pgo", branch, sizeof branch);
    char id[41] = "";
    char *msg = NULL;
    rc = read_branch(repo, branch, id, &msg);
    if (rc) {
        fprintf(stderr, "cpgo demo: the branch %s was not created; see %s\n", branch, logp);
        return CPGO_EXIT_FAIL;
    }
    size_t subject = strcspn(msg, "\n");
    const char *text = msg + subject;
    while (*text == '\n')
        text++;
    printf("  branch      %s\n", branch);
    printf("  commit      %s (one commit on top of main; only cmd/checkout/default.pgo)\n", id);
    printf("  message     %.*s\n\n", (int)subject, msg);
    printf("The pull request cpgo would open for this branch with forge: github:\n\n");
    /* indented for the terminal */
    for (const char *line = text; *line;) {
        size_t n = strcspn(line, "\n");
        printf("    %.*s\n", (int)n, line);
        line += n + (line[n] == '\n');
    }
    free(msg);
    printf("\nWhere to look:\n");
    printf("  git -C '%s' log --stat main..%s\n", repo, branch);
    printf("  git -C '%s' show %s:cmd/checkout/default.pgo > '%s/default.pgo'\n", repo, branch,
           dir);
    printf("  '%s' inspect '%s/default.pgo'\n", self_path, dir);
    printf("  '%s' (what cpgo logged), '%s/state' (its crash-safe state)\n", logp, dir);
    printf("Merging the branch (git -C '%s' merge --ff-only %s) is what merging the pull request\n"
           "does: the next round notices it and proposes only newer scrapes.\n",
           repo, branch);
    return CPGO_EXIT_OK;
}
