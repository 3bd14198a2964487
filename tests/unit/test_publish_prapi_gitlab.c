/*
 * Unit tests for the GitLab dialect of publish/prapi (prapi_gitlab.c): the client on a
 * private uv loop and scraper, against tests/support/fake_gitlab.py (a stateful fake of
 * GitLab's REST v4 merge-request endpoints, started here with python3). Each case drives
 * the fake's controls and reads its request log to prove what went over the wire: the
 * project id URL-encoded with its subgroups, MRs by iid, Bearer auth, the optional steps
 * (labels looked up and never created, users by username, auto-merge with the head sha),
 * every error class, rate limits, redirects, and that an ambiguous POST is not sent twice.
 * All logging runs at debug level into a file; neither it nor any error line may contain
 * the token.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "check.h"
#include "publish/prapi.h"
#include "scrape/scrape.h"

#define TOKEN "glpat-cpgoT3stT0kenNeverPrinted7"
#define KEY "gitlab.example/grp/sub/app@main:default.pgo"
#define HEAD "cpgo/main/default.pgo"
#define PROJ "grp/sub/app"
#define ENC "grp%2Fsub%2Fapp"
#define API "/api/v4/projects/" ENC

static pid_t fake_pid;
static char fake_base[64], api_url[96];
static char tmpdir[] = "/tmp/cpgo-test-gl-XXXXXX";
static uv_loop_t loop;
static struct cpgo_scraper *scr;
static uv_timer_t watchdog;
static int timed_out;
static char *all_errors; /* every error and warning line, for the token check */
static size_t all_errors_len;

/* ---- the fake -------------------------------------------------------------------------- */

static int fake_start(void)
{
    char script[4096], pf[512];
    snprintf(script, sizeof script, "%s", __FILE__); /* absolute: CMake compiles absolute paths */
    char *slash = strrchr(script, '/');
    if (slash) *slash = 0;
    size_t n = strlen(script);
    snprintf(script + n, sizeof script - n, "/../support/fake_gitlab.py");
    if (!mkdtemp(tmpdir) || access(script, R_OK)) {
        fprintf(stderr, "FAIL: no temporary directory or no %s\n", script);
        return -1;
    }
    snprintf(pf, sizeof pf, "%s/port", tmpdir);
    fake_pid = fork();
    if (fake_pid < 0) return -1;
    if (fake_pid == 0) {
        setenv("FAKE_GITLAB_TOKEN", TOKEN, 1);
        execlp("python3", "python3", script, "--port-file", pf, "--lifetime", "240", "--project",
               PROJ, "--user", "alice", "--user", "bob", (char *)NULL);
        fprintf(stderr, "FAIL: cannot run python3 (a test dependency): %s\n", strerror(errno));
        _exit(127);
    }
    for (int i = 0; i < 500; i++) { /* up to 10 s */
        FILE *f = fopen(pf, "r");
        int port = 0;
        if (f) {
            int ok = fscanf(f, "%d", &port) == 1;
            fclose(f);
            if (ok) {
                snprintf(fake_base, sizeof fake_base, "http://127.0.0.1:%d", port);
                snprintf(api_url, sizeof api_url, "%s/api/v4", fake_base);
                return 0;
            }
        }
        if (waitpid(fake_pid, NULL, WNOHANG) == fake_pid) {
            fake_pid = 0;
            return -1;
        }
        usleep(20000);
    }
    return -1;
}

static void fake_stop(void)
{
    if (fake_pid > 0) {
        kill(fake_pid, SIGTERM);
        waitpid(fake_pid, NULL, 0);
    }
    char p[512];
    snprintf(p, sizeof p, "%s/port", tmpdir);
    unlink(p);
    rmdir(tmpdir);
}

struct mem {
    char *p;
    size_t n;
};

static size_t mem_write(char *d, size_t s, size_t n, void *u)
{
    struct mem *m = u;
    char *q = realloc(m->p, m->n + s * n + 1);
    if (!q) return 0;
    memcpy(q + m->n, d, s * n);
    m->n += s * n;
    q[m->n] = 0;
    m->p = q;
    return s * n;
}

/* A blocking request to the fake's control endpoints (the loop is idle meanwhile). */
static json_t *fake_http(const char *method, const char *path, const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", fake_base, path);
    CURL *e = curl_easy_init();
    struct mem m = {0};
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body) curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(e);
    long st = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup(e);
    CHECK_EQ_INT(rc, CURLE_OK);
    CHECK_EQ_INT(st, 200);
    json_t *j = m.p ? json_loads(m.p, 0, NULL) : NULL;
    free(m.p);
    return j;
}

/* POSTs a control document (a json_pack format) and returns the reply. */
static json_t *ctl(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *req = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    if (!req) {
        fprintf(stderr, "bad control format %s\n", fmt);
        abort();
    }
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *r = fake_http("POST", "/_control", s);
    free(s);
    return r;
}
#define CTL(...) json_decref(ctl(__VA_ARGS__))

static void reset(void)
{
    CTL("{s:s}", "action", "reset");
}

static json_t *reqlog(void)
{
    json_t *j = fake_http("GET", "/_log", NULL);
    json_t *r = json_incref(json_object_get(j, "requests"));
    json_decref(j);
    return r ? r : json_array();
}

static size_t log_n(void)
{
    json_t *l = reqlog();
    size_t n = json_array_size(l);
    json_decref(l);
    return n;
}

static const char *lstr(json_t *l, size_t i, const char *k)
{
    const char *s = json_string_value(json_object_get(json_array_get(l, i), k));
    return s ? s : "";
}

static long lnum(json_t *l, size_t i, const char *k)
{
    return (long)json_integer_value(json_object_get(json_array_get(l, i), k));
}

static json_t *mrs_of(const char *proj)
{
    char p[160];
    snprintf(p, sizeof p, "/_prs?project=%s", proj);
    return fake_http("GET", p, NULL);
}

/* A merge request made by a person (or by cpgo in an earlier life); returns its iid. */
static long seed_mr(const char *proj, const char *head, const char *body, const char *state)
{
    json_t *r =
        ctl("{s:s, s:s, s:s, s:s, s:s, s:s}", "action", "create_pr", "project", proj,
            "source_branch", head, "target_branch", "main", "description", body, "state", state);
    long n = (long)json_integer_value(json_object_get(r, "iid"));
    json_decref(r);
    return n;
}

/* ---- the loop -------------------------------------------------------------------------- */

struct done {
    int n;
    struct cpgo_prapi_result r;
};

static void keep_error(const char *e)
{
    size_t n = strlen(e);
    char *p = realloc(all_errors, all_errors_len + n + 2);
    if (!p) return;
    memcpy(p + all_errors_len, e, n);
    all_errors_len += n;
    p[all_errors_len++] = '\n';
    p[all_errors_len] = 0;
    all_errors = p;
}

static void on_done(struct cpgo_prapi_result *res, void *arg)
{
    struct done *d = arg;
    d->n++;
    uv_stop(&loop);
    cpgo_prapi_pr_free(&d->r.pr);
    d->r = *res;
    memset(&res->pr, 0, sizeof res->pr); /* keep the strings */
    if (res->error[0]) keep_error(res->error);
    if (res->warning[0]) keep_error(res->warning);
    if (res->cls == CPGO_CLASS_OK)
        CHECK(res->error[0] == 0);
    else
        CHECK_STR_CONTAINS(res->error, "gitlab ");
}

static void done_free(struct done *d)
{
    cpgo_prapi_pr_free(&d->r.pr);
    memset(d, 0, sizeof *d);
}

static void watchdog_cb(uv_timer_t *t)
{
    (void)t;
    timed_out = 1;
}

static void wait_for(int *counter, int want, int line)
{
    timed_out = 0;
    uv_timer_start(&watchdog, watchdog_cb, 30000, 0);
    while (*counter < want && !timed_out)
        if (!uv_run(&loop, UV_RUN_ONCE)) break;
    uv_timer_stop(&watchdog);
    if (*counter < want) {
        fprintf(stderr, "line %d: waited for %d callbacks, got %d%s\n", line, want, *counter,
                timed_out ? " (timed out)" : "");
        check_failures++;
    }
}
#define WAIT(counter, want) wait_for((counter), (want), __LINE__)

static struct cpgo_prapi_client *client_with(const struct cpgo_prapi_limits *l, const char *token)
{
    struct cpgo_prapi_pacing p;
    cpgo_prapi_pacing_default(&p);
    p.min_mutation_gap_ms = 20;
    p.secondary_wait_ms = 100;
    p.backoff_base_ms = 20;
    p.backoff_max_ms = 200;
    p.reset_margin_ms = 0;
    p.max_retries = 3;
    struct cpgo_prapi_opts o = {
        .forge = CPGO_PRAPI_GITLAB, .api_url = api_url, .token = token, .limits = l, .pacing = &p};
    struct cpgo_prapi_client *c = NULL;
    struct cpgo_err err;
    int rc = cpgo_prapi_client_new(&loop, scr, &o, &c, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s\n", err.text);
        exit(1);
    }
    return c;
}

static struct cpgo_prapi_client *client(void)
{
    return client_with(NULL, TOKEN);
}

static void set_flag(void *arg)
{
    (*(int *)arg)++;
    uv_stop(&loop);
}

static void close_client(struct cpgo_prapi_client *c)
{
    int closed = 0;
    cpgo_prapi_client_close(c, set_flag, &closed);
    WAIT(&closed, 1);
}

static char *managed_body(const char *text)
{
    char m[512];
    CHECK(cpgo_prapi_marker(KEY, m, sizeof m) > 0);
    size_t n = strlen(m) + strlen(text) + 2;
    char *b = malloc(n);
    snprintf(b, n, "%s\n%s", m, text);
    return b;
}

/* Runs one operation to its end. */
#define RUN_OP(d, call)                                                                            \
    do {                                                                                           \
        CHECK_EQ_INT((call), 0);                                                                   \
        WAIT(&(d).n, 1);                                                                           \
    } while (0)

static const char *const labels[] = {"pgo", "missing"};
static const char *const assignees[] = {"alice"};
static const char *const reviewers[] = {"bob", "ghost"};

/* ---- cases ------------------------------------------------------------------------------- */

/* find (none), create with every option, find again, update in place, get, merged. */
static void test_lifecycle(void)
{
    reset();
    CTL("{s:s, s:s, s:s}", "action", "label", "project", PROJ, "name", "pgo");
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0}, d5 = {0}, d6 = {0};
    RUN_OP(d1, cpgo_prapi_find_pr(c, "grp/sub", "app", NULL, HEAD, "main", on_done, &d1));
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.found, 0);

    char *body = managed_body("Profile refreshed: ünïcode | `ticks`.");
    struct cpgo_prapi_new_pr np = {.title = "chore(pgo): update default.pgo",
                                   .head_branch = HEAD,
                                   .base = "main",
                                   .body = body,
                                   .labels = {labels, 2},
                                   .assignees = {assignees, 1},
                                   .reviewers = {reviewers, 2},
                                   .auto_merge = 1};
    RUN_OP(d2, cpgo_prapi_create_pr(c, "grp/sub", "app", &np, on_done, &d2));
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d2.r.found, 1);
    CHECK_EQ_INT(d2.r.pr.number, 1);
    CHECK(d2.r.pr.open && !d2.r.pr.merged && !d2.r.pr.draft);
    CHECK(d2.r.pr.body && !strcmp(d2.r.pr.body, body));
    CHECK(d2.r.pr.head_ref && !strcmp(d2.r.pr.head_ref, HEAD));
    CHECK(d2.r.pr.base_ref && !strcmp(d2.r.pr.base_ref, "main"));
    CHECK(d2.r.pr.head_sha && strlen(d2.r.pr.head_sha) == 40);
    char web[160];
    snprintf(web, sizeof web, "%s/" PROJ "/-/merge_requests/1", fake_base);
    CHECK(d2.r.pr.html_url && !strcmp(d2.r.pr.html_url, web));
    /* the missing label and the unknown reviewer are warnings, the rest applied */
    CHECK_STR_CONTAINS(d2.r.warning, "label 'missing'");
    CHECK_STR_CONTAINS(d2.r.warning, "not created");
    CHECK_STR_CONTAINS(d2.r.warning, "reviewer 'ghost'");
    CHECK(!strstr(d2.r.warning, "'pgo'") && !strstr(d2.r.warning, "alice") &&
          !strstr(d2.r.warning, "'bob'") && !strstr(d2.r.warning, "auto-merge"));

    json_t *l = reqlog();
    static const char *const want[][2] = {
        {"GET", API "/merge_requests?source_branch=cpgo%2Fmain%2Fdefault.pgo&target_branch=main"
                    "&state=all&order_by=created_at&sort=desc&per_page=100"},
        {"POST", API "/merge_requests"},
        {"GET", API "/labels?search=pgo&per_page=100"},
        {"GET", API "/labels?search=missing&per_page=100"},
        {"GET", "/api/v4/users?username=alice"},
        {"GET", "/api/v4/users?username=bob"},
        {"GET", "/api/v4/users?username=ghost"},
        {"PUT", API "/merge_requests/1"},
        {"GET", API "/merge_requests/1"},
        {"PUT", API "/merge_requests/1/merge"},
    };
    size_t nw = sizeof want / sizeof *want;
    CHECK_EQ_INT(json_array_size(l), nw);
    for (size_t i = 0; i < nw && i < json_array_size(l); i++) {
        if (strcmp(lstr(l, i, "method"), want[i][0]) || strcmp(lstr(l, i, "path"), want[i][1]))
            fprintf(stderr, "request %zu: %s %s, want %s %s\n", i, lstr(l, i, "method"),
                    lstr(l, i, "path"), want[i][0], want[i][1]);
        CHECK(!strcmp(lstr(l, i, "method"), want[i][0]) && !strcmp(lstr(l, i, "path"), want[i][1]));
        CHECK(!strcmp(lstr(l, i, "auth"), "ok") && !strcmp(lstr(l, i, "auth_form"), "bearer"));
        CHECK(lnum(l, i, "status") / 100 == 2);
    }
    json_t *sent = json_loads(lstr(l, 1, "body"), 0, NULL);
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "source_branch")), HEAD));
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "target_branch")), "main"));
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "title")), np.title));
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "description")), body));
    CHECK(sent && !json_object_get(sent, "labels")); /* never in the POST: GitLab creates them */
    json_decref(sent);
    sent = json_loads(lstr(l, 9, "body"), 0, NULL);
    CHECK(sent && json_is_true(json_object_get(sent, "auto_merge")));
    CHECK(sent && json_is_true(json_object_get(sent, "merge_when_pipeline_succeeds")));
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "sha")), d2.r.pr.head_sha));
    json_decref(sent);
    json_decref(l);

    /* the fake's state: options applied, no label created */
    json_t *mrs = mrs_of(PROJ), *mr = json_array_get(mrs, 0);
    char *ls = json_dumps(json_object_get(mr, "labels"), JSON_COMPACT);
    char *as = json_dumps(json_object_get(mr, "assignee_usernames"), JSON_COMPACT);
    char *rs = json_dumps(json_object_get(mr, "reviewer_usernames"), JSON_COMPACT);
    CHECK(ls && !strcmp(ls, "[\"pgo\"]"));
    CHECK(as && !strcmp(as, "[\"alice\"]"));
    CHECK(rs && !strcmp(rs, "[\"bob\"]"));
    CHECK(json_is_true(json_object_get(mr, "merge_when_pipeline_succeeds")));
    free(ls);
    free(as);
    free(rs);
    json_decref(mrs);
    json_t *lab = fake_http("GET", "/_labels?project=" PROJ, NULL);
    CHECK_EQ_INT(json_array_size(lab), 1);
    json_decref(lab);

    /* found again; updated in place (same iid), labels added only if they exist */
    RUN_OP(d3, cpgo_prapi_find_pr(c, "grp/sub", "app", NULL, HEAD, "main", on_done, &d3));
    CHECK(d3.r.found && d3.r.pr.number == 1 && d3.r.pr.open);
    CHECK_EQ_INT(d3.r.nseen, 1);
    size_t before = log_n();
    struct cpgo_prapi_edit ed = {
        .title = "chore(pgo): update default.pgo (2)", .body = "new body", .labels = {labels, 2}};
    RUN_OP(d4, cpgo_prapi_update_pr(c, "grp/sub", "app", 1, &ed, on_done, &d4));
    CHECK_EQ_INT(d4.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d4.r.pr.number, 1);
    CHECK(d4.r.pr.title && !strcmp(d4.r.pr.title, ed.title));
    CHECK_STR_CONTAINS(d4.r.warning, "label 'missing'");
    l = reqlog();
    CHECK_EQ_INT(json_array_size(l), before + 4); /* PUT, 2 label lookups, PUT add_labels */
    CHECK(!strcmp(lstr(l, before, "method"), "PUT"));
    sent = json_loads(lstr(l, before, "body"), 0, NULL);
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "description")), "new body"));
    CHECK(sent && !json_object_get(sent, "labels") && !json_object_get(sent, "add_labels"));
    json_decref(sent);
    sent = json_loads(lstr(l, before + 3, "body"), 0, NULL);
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "add_labels")), "pgo"));
    CHECK(sent && !json_object_get(sent, "assignee_ids"));
    json_decref(sent);
    json_decref(l);

    /* read; then merged by GitLab: not open, merged, closed_at from merged_at */
    RUN_OP(d5, cpgo_prapi_get_pr(c, "grp/sub", "app", 1, on_done, &d5));
    CHECK(d5.r.found && d5.r.pr.body && !strcmp(d5.r.pr.body, "new body"));
    CTL("{s:s, s:s, s:i, s:s}", "action", "set_pr", "project", PROJ, "iid", 1, "pipeline",
        "success");
    RUN_OP(d6, cpgo_prapi_find_pr(c, "grp/sub", "app", NULL, HEAD, "main", on_done, &d6));
    CHECK(d6.r.found && d6.r.pr.number == 1 && !d6.r.pr.open && d6.r.pr.merged);
    CHECK(d6.r.pr.closed_at > 1700000000);
    free(body);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    done_free(&d4);
    done_free(&d5);
    done_free(&d6);
    close_client(c);
}

/* The open MR wins; else the latest closed; a person's edit is read as it is. */
static void test_find_closed_and_human(void)
{
    reset();
    long a = seed_mr(PROJ, HEAD, "first", "closed");
    long b = seed_mr(PROJ, HEAD, "second", "closed");
    seed_mr(PROJ, "other-branch", "x", "opened");
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0};
    RUN_OP(d1, cpgo_prapi_find_pr(c, "grp/sub", "app", NULL, HEAD, "main", on_done, &d1));
    CHECK(d1.r.found && (long)d1.r.pr.number == b && !d1.r.pr.open && !d1.r.pr.merged);
    CHECK(d1.r.pr.closed_at > 0);
    CHECK_EQ_INT(d1.r.nseen, 2);
    CTL("{s:s, s:s, s:i, s:s, s:s}", "action", "set_pr", "project", PROJ, "iid", (int)a, "state",
        "opened", "description", "taken over, no marker");
    RUN_OP(d2, cpgo_prapi_find_pr(c, "grp/sub", "app", NULL, HEAD, "main", on_done, &d2));
    CHECK(d2.r.found && (long)d2.r.pr.number == a && d2.r.pr.open);
    CHECK(!cpgo_prapi_body_has_marker(d2.r.pr.body, KEY));
    done_free(&d1);
    done_free(&d2);
    close_client(c);
}

/* A fork's merge request from a branch of the same name is listed in the project too
 * (GitLab lists by target project): it is not cpgo's, even with the marker copied into
 * it. The find skips it and the creation makes cpgo's own (GitLab's 409 is per source
 * project). */
static void test_fork_mr_not_ours(void)
{
    reset();
    char *body = managed_body("copied by a fork");
    json_t *r = ctl("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "action", "create_pr", "project", PROJ,
                    "source_project", "someone/app", "source_branch", HEAD, "target_branch", "main",
                    "description", body, "state", "opened");
    long fork_iid = (long)json_integer_value(json_object_get(r, "iid"));
    CHECK(fork_iid > 0);
    json_decref(r);
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0};
    RUN_OP(d1, cpgo_prapi_find_pr(c, "grp/sub", "app", NULL, HEAD, "main", on_done, &d1));
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK(!d1.r.found);
    struct cpgo_prapi_new_pr np = {.title = "t", .head_branch = HEAD, .base = "main", .body = body};
    RUN_OP(d2, cpgo_prapi_create_pr(c, "grp/sub", "app", &np, on_done, &d2));
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK(d2.r.found && (long)d2.r.pr.number != fork_iid && d2.r.pr.open);
    free(body);
    done_free(&d1);
    done_free(&d2);
    close_client(c);
}

/* A title longer than GitLab's 255 characters (a long target path, a commit prefix,
 * "Draft: ") is cut on a character boundary, on create and on update, instead of the
 * 400 that would fail every round. */
static void test_long_title(void)
{
    reset();
    char title[400];
    size_t o = (size_t)snprintf(title, sizeof title, "chore(pgo): update the PGO profile ");
    for (size_t i = 0; o + 2 < sizeof title && i < 280; i++) { /* 315 characters */
        if (i % 2) {
            title[o++] = (char)0xC3; /* "é": two bytes, one character */
            title[o++] = (char)0xA9;
        } else {
            title[o++] = 'x';
        }
    }
    title[o] = 0;
    struct cpgo_prapi_client *c = client();
    struct cpgo_prapi_new_pr np = {
        .title = title, .head_branch = HEAD, .base = "main", .body = "b", .draft = 1};
    struct done d1 = {0}, d2 = {0};
    RUN_OP(d1, cpgo_prapi_create_pr(c, "grp/sub", "app", &np, on_done, &d1));
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    json_t *mrs = mrs_of(PROJ);
    const char *t = json_string_value(json_object_get(json_array_get(mrs, 0), "title"));
    CHECK(t && !strncmp(t, "Draft: chore(pgo): ", 19));
    size_t chars = 0;
    for (const char *p = t ? t : ""; *p; p++)
        chars += ((unsigned char)*p & 0xC0) != 0x80;
    CHECK_EQ_INT(chars, 255);
    json_decref(mrs);
    struct cpgo_prapi_edit ed = {.title = title};
    if (d1.r.found)
        RUN_OP(d2, cpgo_prapi_update_pr(c, "grp/sub", "app", d1.r.pr.number, &ed, on_done, &d2));
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    done_free(&d1);
    done_free(&d2);
    close_client(c);
}

/* 409 "already exists" -> EXISTS; the find then gives the open one. */
static void test_exists(void)
{
    reset();
    long num = seed_mr(PROJ, HEAD, "b", "opened");
    struct cpgo_prapi_client *c = client();
    struct cpgo_prapi_new_pr np = {.title = "t", .head_branch = HEAD, .base = "main", .body = "b"};
    struct done d1 = {0}, d2 = {0};
    RUN_OP(d1, cpgo_prapi_create_pr(c, "grp/sub", "app", &np, on_done, &d1));
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_EXISTS);
    CHECK_EQ_INT(d1.r.http_status, 409);
    CHECK_EQ_INT(d1.r.attempts, 1);
    char want[160];
    snprintf(want, sizeof want,
             "HTTP 409: Another open merge request already exists for this source branch: !%ld",
             num);
    CHECK_STR_CONTAINS(d1.r.error, want);
    CHECK_STR_CONTAINS(d1.r.error, "gitlab grp/sub/app: create");
    RUN_OP(d2, cpgo_prapi_find_pr(c, "grp/sub", "app", NULL, HEAD, "main", on_done, &d2));
    CHECK(d2.r.found && (long)d2.r.pr.number == num && d2.r.pr.open);
    CHECK_EQ_INT(log_n(), 2);
    done_free(&d1);
    done_free(&d2);
    close_client(c);
}

/* Project paths: subgroups and dots encoded as one segment; bad owners refused. */
static void test_paths(void)
{
    reset();
    CTL("{s:s, s:s}", "action", "project", "path", "a.b/c-d/e_f/my.app");
    struct cpgo_prapi_client *c = client();
    struct done d = {0};
    RUN_OP(d, cpgo_prapi_find_pr(c, "a.b/c-d/e_f", "my.app", NULL, "feature/x", NULL, on_done, &d));
    CHECK_EQ_INT(d.r.cls, CPGO_CLASS_OK);
    json_t *l = reqlog();
    CHECK(!strcmp(lstr(l, 0, "path"),
                  "/api/v4/projects/a%2Eb%2Fc-d%2Fe_f%2Fmy%2Eapp/merge_requests?source_branch="
                  "feature%2Fx&state=all&order_by=created_at&sort=desc&per_page=100"));
    CHECK_EQ_INT(lnum(l, 0, "status"), 200);
    json_decref(l);
    static const char *const bad[] = {"",         "/grp",    "grp/",    "grp//sub",
                                      "grp/../x", "grp/./x", "grp sub", "grp?x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_EQ_INT(cpgo_prapi_find_pr(c, bad[i], "app", NULL, HEAD, NULL, on_done, &d),
                     CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "grp", "a/b", NULL, HEAD, NULL, on_done, &d), CPGO_E_USAGE);
    char deep[300];
    memset(deep, 'g', sizeof deep - 1);
    deep[sizeof deep - 1] = 0;
    for (size_t i = 50; i < sizeof deep - 1; i += 51)
        deep[i] = '/';
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, deep, "app", NULL, HEAD, NULL, on_done, &d), CPGO_E_USAGE);
    done_free(&d);
    close_client(c);
}

/* Pages followed by Link rel="next" as given, up to max_pages. */
static void test_pagination(void)
{
    reset();
    long open = seed_mr(PROJ, HEAD, "open one", "opened");
    for (int i = 0; i < 4; i++)
        seed_mr(PROJ, HEAD, "closed", "closed");
    struct cpgo_prapi_limits lim;
    cpgo_prapi_limits_default(&lim);
    lim.per_page = 2;
    struct cpgo_prapi_client *c = client_with(&lim, TOKEN);
    struct done d1 = {0}, d2 = {0};
    RUN_OP(d1, cpgo_prapi_find_pr(c, "grp/sub", "app", NULL, HEAD, "main", on_done, &d1));
    CHECK(d1.r.found && (long)d1.r.pr.number == open && d1.r.pr.open);
    CHECK_EQ_INT(d1.r.attempts, 3);
    CHECK_EQ_INT(d1.r.truncated, 0);
    json_t *l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 3);
    CHECK_STR_CONTAINS(lstr(l, 1, "path"), "page=2");
    CHECK_STR_CONTAINS(lstr(l, 2, "path"), "page=3");
    CHECK_STR_CONTAINS(lstr(l, 2, "path"), "source_branch=cpgo%2Fmain%2Fdefault.pgo");
    json_decref(l);
    close_client(c);
    lim.max_pages = 2;
    c = client_with(&lim, TOKEN);
    RUN_OP(d2, cpgo_prapi_find_pr(c, "grp/sub", "app", NULL, HEAD, "main", on_done, &d2));
    CHECK(d2.r.found && d2.r.pr.number == 5 && !d2.r.pr.open);
    CHECK_EQ_INT(d2.r.truncated, 1);
    done_free(&d1);
    done_free(&d2);
    close_client(c);
}

/* 403 (both shapes), 404, 422, 400 with a field message: each its class, one request. */
static void test_errors(void)
{
    reset();
    CTL("{s:s, s:s}", "action", "project", "path", "grp/locked");
    CTL("{s:s, s:s}", "action", "project", "path", "grp/scoped");
    CTL("{s:s, s:s}", "action", "forbidden", "project", "grp/locked");
    CTL("{s:s, s:s, s:s}", "action", "forbidden", "project", "grp/scoped", "shape", "scope");
    struct cpgo_prapi_client *c = client();
    struct cpgo_prapi_new_pr np = {.title = "t", .head_branch = HEAD, .base = "main", .body = "b"};
    struct done d[6] = {{0}};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "grp", "locked", &np, on_done, &d[0]), 0);
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "grp", "scoped", NULL, HEAD, NULL, on_done, &d[1]), 0);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "grp", "nothere", 1, on_done, &d[2]), 0);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "grp/sub", "app", 99, on_done, &d[3]), 0);
    struct cpgo_prapi_new_pr same = {.title = "t", .head_branch = "main", .base = "main"};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "grp/sub", "app", &same, on_done, &d[4]), 0);
    char longt[300];
    memset(longt, 'x', sizeof longt - 1);
    longt[sizeof longt - 1] = 0;
    struct cpgo_prapi_new_pr lt = {.title = longt, .head_branch = HEAD, .base = "main"};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "grp/sub", "app", &lt, on_done, &d[5]), 0);
    WAIT(&d[5].n, 1);
    CHECK_EQ_INT(d[0].r.cls, CPGO_CLASS_FORBIDDEN);
    CHECK_STR_CONTAINS(d[0].r.error, "gitlab grp/locked: create");
    CHECK_STR_CONTAINS(d[0].r.error, "HTTP 403: 403 Forbidden");
    CHECK_EQ_INT(d[1].r.cls, CPGO_CLASS_FORBIDDEN);
    CHECK_STR_CONTAINS(d[1].r.error, "HTTP 403: insufficient_scope: The request requires higher");
    CHECK_EQ_INT(d[2].r.cls, CPGO_CLASS_NOT_FOUND);
    CHECK_STR_CONTAINS(d[2].r.error, "HTTP 404: 404 Project Not Found");
    CHECK_EQ_INT(d[3].r.cls, CPGO_CLASS_NOT_FOUND);
    CHECK_STR_CONTAINS(d[3].r.error, "HTTP 404: 404 Not found");
    CHECK_EQ_INT(d[4].r.cls, CPGO_CLASS_INVALID);
    CHECK_EQ_INT(d[4].r.http_status, 422);
    CHECK_STR_CONTAINS(d[4].r.error, "You can't use same project/branch for source and target");
    CHECK_EQ_INT(d[5].r.cls, CPGO_CLASS_OK); /* cut to 255 characters (test_long_title) */
    for (int i = 0; i < 6; i++) {
        CHECK_EQ_INT(d[i].r.attempts, 1);
        done_free(&d[i]);
    }
    CHECK_EQ_INT(log_n(), 6);
    /* 400 with a field message, as GitLab's validations answer */
    CTL("{s:s, s:s, s:i, s:s, s:s, s:s}", "action", "fault", "kind", "status", "status", 400,
        "shape", "fields", "message", "is too long (maximum is 255 characters)", "method", "POST");
    struct cpgo_prapi_new_pr other = {.title = "t", .head_branch = "cpgo/other", .base = "main"};
    RUN_OP(d[0], cpgo_prapi_create_pr(c, "grp/sub", "app", &other, on_done, &d[0]));
    CHECK_EQ_INT(d[0].r.cls, CPGO_CLASS_INVALID);
    CHECK_EQ_INT(d[0].r.http_status, 400);
    CHECK_STR_CONTAINS(d[0].r.error, "HTTP 400: base: is too long (maximum is 255 characters)");
    done_free(&d[0]);
    struct cpgo_prapi_status st;
    cpgo_prapi_client_status(c, &st);
    CHECK(!st.stopped);
    close_client(c);
}

/* 401 stops the client: nothing more is sent. */
static void test_auth(void)
{
    reset();
    struct cpgo_prapi_client *c = client_with(NULL, "glpat-wrongwrongwrong00");
    struct done d1 = {0}, d2 = {0};
    RUN_OP(d1, cpgo_prapi_get_pr(c, "grp/sub", "app", 1, on_done, &d1));
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_AUTH);
    CHECK_STR_CONTAINS(d1.r.error, "HTTP 401: 401 Unauthorized");
    RUN_OP(d2, cpgo_prapi_find_pr(c, "grp/sub", "app", NULL, HEAD, NULL, on_done, &d2));
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_AUTH);
    CHECK_EQ_INT(d2.r.attempts, 0);
    json_t *l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 1);
    CHECK(!strcmp(lstr(l, 0, "auth"), "bad") && !strcmp(lstr(l, 0, "auth_form"), "bearer"));
    json_decref(l);
    struct cpgo_prapi_status st;
    cpgo_prapi_client_status(c, &st);
    CHECK(st.stopped);
    CHECK_STR_CONTAINS(st.stop_reason, "GitLab answered 401");
    keep_error(st.stop_reason);
    done_free(&d1);
    done_free(&d2);
    close_client(c);
}

/* 429 with Retry-After (and GitLab's plain-text body), then the quota's headers read. */
static void test_rate_limits(void)
{
    reset();
    long num = seed_mr(PROJ, HEAD, "b", "opened");
    struct cpgo_prapi_client *c = client();
    CTL("{s:s, s:s, s:i}", "action", "fault", "kind", "rate_limit", "reset_in", 1);
    struct done d1 = {0}, d2 = {0};
    uint64_t t0 = uv_hrtime();
    RUN_OP(d1, cpgo_prapi_get_pr(c, "grp/sub", "app", (uint64_t)num, on_done, &d1));
    double took = (double)(uv_hrtime() - t0) / 1e9;
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.attempts, 2);
    CHECK(took >= 0.9); /* Retry-After: 1 honoured */
    struct cpgo_prapi_status st;
    cpgo_prapi_client_status(c, &st);
    CHECK_EQ_INT(st.rate_limited, 1);
    CHECK(st.rate_remaining > 0 && st.rate_remaining < 2000); /* RateLimit-Remaining */
    CHECK(st.rate_reset > 1700000000);                        /* RateLimit-Reset */
    /* always limited: given up as RATE_LIMITED after max_retries */
    CTL("{s:s, s:s, s:i, s:i}", "action", "fault", "kind", "retry_after", "seconds", 0, "count",
        10);
    RUN_OP(d2, cpgo_prapi_get_pr(c, "grp/sub", "app", (uint64_t)num, on_done, &d2));
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_RATE_LIMITED);
    CHECK_EQ_INT(d2.r.attempts, 4);
    CHECK_STR_CONTAINS(d2.r.error, "HTTP 429: Retry later");
    done_free(&d1);
    done_free(&d2);
    close_client(c);
}

/* 5xx retried; an ambiguous POST looked up before it is sent again, never sent twice. */
static void test_5xx(void)
{
    reset();
    long num = seed_mr(PROJ, HEAD, "b", "opened");
    struct cpgo_prapi_client *c = client();
    CTL("{s:s, s:s, s:s, s:i, s:i}", "action", "fault", "kind", "status", "method", "GET", "status",
        502, "count", 2);
    struct done d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0};
    RUN_OP(d1, cpgo_prapi_get_pr(c, "grp/sub", "app", (uint64_t)num, on_done, &d1));
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.attempts, 3);
    CTL("{s:s, s:s, s:s, s:i}", "action", "fault", "kind", "status", "method", "PUT", "status",
        503);
    struct cpgo_prapi_edit ed = {.body = "nb"};
    RUN_OP(d2, cpgo_prapi_update_pr(c, "grp/sub", "app", (uint64_t)num, &ed, on_done, &d2));
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d2.r.attempts, 2);

    /* created, but the answer lost: the lookup finds it; one MR, one POST */
    reset();
    CTL("{s:s, s:s, s:s, s:i}", "action", "fault", "kind", "create_then_fail", "method", "POST",
        "status", 502);
    struct cpgo_prapi_new_pr np = {.title = "t", .head_branch = HEAD, .base = "main", .body = "b"};
    RUN_OP(d3, cpgo_prapi_create_pr(c, "grp/sub", "app", &np, on_done, &d3));
    CHECK_EQ_INT(d3.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d3.r.recovered, 1);
    CHECK_EQ_INT(d3.r.pr.number, 1);
    json_t *l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 2);
    CHECK(!strcmp(lstr(l, 0, "method"), "POST") && lnum(l, 0, "status") == 502);
    CHECK(!strcmp(lstr(l, 1, "method"), "GET"));
    CHECK_STR_CONTAINS(lstr(l, 1, "path"), "target_branch=main&state=opened");
    json_decref(l);
    json_t *mrs = mrs_of(PROJ);
    CHECK_EQ_INT(json_array_size(mrs), 1);
    json_decref(mrs);

    /* not created: the lookup finds none, then the POST again */
    reset();
    CTL("{s:s, s:s, s:s, s:i}", "action", "fault", "kind", "status", "method", "POST", "status",
        500);
    RUN_OP(d4, cpgo_prapi_create_pr(c, "grp/sub", "app", &np, on_done, &d4));
    CHECK_EQ_INT(d4.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d4.r.recovered, 0);
    CHECK_EQ_INT(d4.r.attempts, 3);
    mrs = mrs_of(PROJ);
    CHECK_EQ_INT(json_array_size(mrs), 1);
    json_decref(mrs);
    /* a 5xx on an optional step is that step's retry: not a lookup of the MR (which would
     * skip the step and flag the creation `recovered`) */
    reset();
    CTL("{s:s, s:s, s:s}", "action", "label", "project", PROJ, "name", "pgo");
    CTL("{s:s, s:s, s:s, s:i}", "action", "fault", "kind", "status", "path", "/labels", "status",
        502);
    struct cpgo_prapi_new_pr lp = {
        .title = "t", .head_branch = HEAD, .base = "main", .labels = {labels, 1}};
    struct done d5 = {0};
    RUN_OP(d5, cpgo_prapi_create_pr(c, "grp/sub", "app", &lp, on_done, &d5));
    CHECK_EQ_INT(d5.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d5.r.recovered, 0);
    CHECK(d5.r.warning[0] == 0);
    l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 4); /* POST, label 502, label again, PUT add_labels */
    CHECK_STR_CONTAINS(lstr(l, 2, "path"), "/labels?search=pgo");
    json_decref(l);
    mrs = mrs_of(PROJ);
    char *ls = json_dumps(json_object_get(json_array_get(mrs, 0), "labels"), JSON_COMPACT);
    CHECK(ls && !strcmp(ls, "[\"pgo\"]"));
    free(ls);
    json_decref(mrs);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    done_free(&d4);
    done_free(&d5);
    close_client(c);
}

/* A renamed project's 301 is followed inside the API; a redirect elsewhere is refused. */
static void test_redirects(void)
{
    reset();
    long num = seed_mr(PROJ, HEAD, "b", "opened");
    CTL("{s:s, s:s, s:s}", "action", "rename", "from", PROJ, "to", "grp/sub/renamed");
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0};
    RUN_OP(d1, cpgo_prapi_find_pr(c, "grp/sub", "app", NULL, HEAD, "main", on_done, &d1));
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK(d1.r.found && (long)d1.r.pr.number == num);
    json_t *l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 2);
    CHECK_EQ_INT(lnum(l, 0, "status"), 301);
    CHECK_STR_CONTAINS(lstr(l, 1, "path"), "/api/v4/projects/grp%2Fsub%2Frenamed/merge_requests?");
    CHECK(!strcmp(lstr(l, 1, "auth"), "ok"));
    json_decref(l);
    reset();
    CTL("{s:s, s:s, s:s}", "action", "fault", "kind", "redirect", "location",
        "http://127.0.0.2:1/api/v4/projects/x");
    RUN_OP(d2, cpgo_prapi_get_pr(c, "grp/sub", "app", 1, on_done, &d2));
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_REDIRECT);
    CHECK_STR_CONTAINS(d2.r.error, "refused");
    CHECK_EQ_INT(log_n(), 1);
    done_free(&d1);
    done_free(&d2);
    close_client(c);
}

/* Auto-merge: 405 while GitLab prepares a new MR is tried again; a token that may not
 * merge and a draft are warnings, and no merge is sent (a 401 there would stop the
 * client). */
static void test_auto_merge(void)
{
    reset();
    CTL("{s:s, s:i}", "action", "merge_race", "count", 1);
    struct cpgo_prapi_client *c = client();
    struct cpgo_prapi_new_pr np = {
        .title = "t", .head_branch = HEAD, .base = "main", .body = "b", .auto_merge = 1};
    struct done d1 = {0}, d2 = {0}, d3 = {0};
    RUN_OP(d1, cpgo_prapi_create_pr(c, "grp/sub", "app", &np, on_done, &d1));
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK(d1.r.warning[0] == 0);
    json_t *mrs = mrs_of(PROJ);
    CHECK(json_is_true(json_object_get(json_array_get(mrs, 0), "merge_when_pipeline_succeeds")));
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(mrs, 0), "merge_attempts")), 2);
    json_decref(mrs);

    reset();
    CTL("{s:s, s:b}", "action", "cannot_merge", "value", 1);
    RUN_OP(d2, cpgo_prapi_create_pr(c, "grp/sub", "app", &np, on_done, &d2));
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK_STR_CONTAINS(d2.r.warning, "auto-merge");
    CHECK_STR_CONTAINS(d2.r.warning, "may not merge");
    json_t *l = reqlog();
    for (size_t i = 0; i < json_array_size(l); i++)
        CHECK(!strstr(lstr(l, i, "path"), "/merge?") && strcmp(lstr(l, i, "method"), "PUT"));
    json_decref(l);
    struct cpgo_prapi_status st;
    cpgo_prapi_client_status(c, &st);
    CHECK(!st.stopped);

    reset();
    np.draft = 1;
    RUN_OP(d3, cpgo_prapi_create_pr(c, "grp/sub", "app", &np, on_done, &d3));
    CHECK_EQ_INT(d3.r.cls, CPGO_CLASS_OK);
    CHECK(d3.r.pr.draft);
    CHECK(d3.r.pr.title && !strcmp(d3.r.pr.title, "Draft: t"));
    CHECK_STR_CONTAINS(d3.r.warning, "draft");
    mrs = mrs_of(PROJ);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(mrs, 0), "merge_attempts")), 0);
    json_decref(mrs);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    close_client(c);
}

/* GitLab merges at once when asked while the head commit has no pipeline (one may not be
 * created yet right after the push): no merge then, a warning, and the next update asks
 * again; once set, updates leave it alone. */
static void test_auto_merge_waits_for_pipeline(void)
{
    reset();
    struct cpgo_prapi_client *c = client();
    struct cpgo_prapi_new_pr np = {.title = "t", .head_branch = HEAD, .base = "main", .body = "b"};
    struct done d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0};
    RUN_OP(d1, cpgo_prapi_create_pr(c, "grp/sub", "app", &np, on_done, &d1));
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    uint64_t iid = d1.r.pr.number;
    CTL("{s:s, s:s, s:i, s:s}", "action", "set_pr", "project", PROJ, "iid", (int)iid, "pipeline",
        "none");
    struct cpgo_prapi_edit ed = {.body = "b2", .auto_merge = 1};
    RUN_OP(d2, cpgo_prapi_update_pr(c, "grp/sub", "app", iid, &ed, on_done, &d2));
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK_STR_CONTAINS(d2.r.warning, "no pipeline");
    json_t *mrs = mrs_of(PROJ), *mr = json_array_get(mrs, 0);
    CHECK(json_is_false(json_object_get(mr, "merge_when_pipeline_succeeds")));
    CHECK(!strcmp(json_string_value(json_object_get(mr, "state")), "opened"));
    CHECK_EQ_INT(json_integer_value(json_object_get(mr, "merge_attempts")), 0);
    json_decref(mrs);

    /* the pipeline exists now: the next update sets it */
    CTL("{s:s, s:s, s:i, s:s}", "action", "set_pr", "project", PROJ, "iid", (int)iid, "pipeline",
        "running");
    ed.body = "b3";
    RUN_OP(d3, cpgo_prapi_update_pr(c, "grp/sub", "app", iid, &ed, on_done, &d3));
    CHECK_EQ_INT(d3.r.cls, CPGO_CLASS_OK);
    CHECK(d3.r.warning[0] == 0);
    mrs = mrs_of(PROJ);
    CHECK(json_is_true(json_object_get(json_array_get(mrs, 0), "merge_when_pipeline_succeeds")));
    json_decref(mrs);

    /* set: the next update reads it and sends no merge */
    json_t *l = reqlog();
    size_t before = json_array_size(l);
    json_decref(l);
    ed.body = "b4";
    RUN_OP(d4, cpgo_prapi_update_pr(c, "grp/sub", "app", iid, &ed, on_done, &d4));
    CHECK_EQ_INT(d4.r.cls, CPGO_CLASS_OK);
    l = reqlog();
    for (size_t i = before; i < json_array_size(l); i++) {
        const char *path = lstr(l, i, "path");
        size_t n = strlen(path);
        CHECK(n < 6 || strcmp(path + n - 6, "/merge")); /* a GET of the MR, no PUT .../merge */
    }
    json_decref(l);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    done_free(&d4);
    close_client(c);
}

/* A server that quotes the credential back, in every form: the error line is scrubbed. */
static void test_echoed_token(void)
{
    static const char *const forms[] = {"raw", "token", "percent", "base64", "basic", "all"};
    reset();
    struct cpgo_prapi_client *c = client();
    for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
        for (int pad = 0; pad <= 120; pad += 40) {
            CTL("{s:s, s:s, s:s, s:i}", "action", "fault", "kind", "echo_auth", "form", forms[f],
                "pad", pad);
            struct done d = {0};
            RUN_OP(d, cpgo_prapi_get_pr(c, "grp/sub", "app", 1, on_done, &d));
            CHECK_EQ_INT(d.r.cls, CPGO_CLASS_FORBIDDEN);
            CHECK(!strstr(d.r.error, TOKEN) && !strstr(d.r.error, "T3stT0ken"));
            done_free(&d);
        }
    }
    close_client(c);
}

static void scraper_closed(void *arg)
{
    *(int *)arg = 1;
}

int main(void)
{
    alarm(180); /* a hung test fails instead of blocking the suite */
    char logpath[] = "/tmp/cpgo-test-gl-log-XXXXXX";
    int logfd = mkstemp(logpath);
    CHECK(logfd >= 0);
    cpgo_log_setup(CPGO_LVL_DEBUG, 0, logfd);
    if (fake_start()) {
        fprintf(stderr, "FAIL: the fake GitLab API could not be started\n");
        fake_stop();
        return 1;
    }
    uv_loop_init(&loop);
    uv_timer_init(&loop, &watchdog);
    struct cpgo_scraper_opts so = {.user_agent = "cpgo-test"};
    CHECK_EQ_INT(cpgo_scraper_new(&loop, &so, &scr), 0);

    test_lifecycle();
    test_find_closed_and_human();
    test_exists();
    test_fork_mr_not_ours();
    test_long_title();
    test_paths();
    test_pagination();
    test_errors();
    test_auth();
    test_rate_limits();
    test_5xx();
    test_redirects();
    test_auto_merge_waits_for_pipeline();
    test_auto_merge();
    test_echoed_token();

    int closed = 0;
    cpgo_scraper_close(scr, scraper_closed, &closed);
    uv_close((uv_handle_t *)&watchdog, NULL);
    while (!closed && uv_run(&loop, UV_RUN_ONCE)) {
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(closed, 1);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fake_stop();

    CHECK(all_errors != NULL);
    if (all_errors) CHECK(!strstr(all_errors, TOKEN) && !strstr(all_errors, "T3stT0ken"));
    struct stat sb;
    CHECK(fstat(logfd, &sb) == 0 && sb.st_size > 0);
    char *logs = calloc(1, (size_t)sb.st_size + 1);
    CHECK(pread(logfd, logs, (size_t)sb.st_size, 0) == sb.st_size);
    CHECK(!strstr(logs, TOKEN) && !strstr(logs, "T3stT0ken"));
    CHECK_STR_CONTAINS(logs, "forge=GitLab");
    free(logs);
    close(logfd);
    unlink(logpath);
    free(all_errors);
    curl_global_cleanup();
    CHECK_DONE();
}
