/*
 * Unit tests for the Gitea dialect of the pull-request API client (publish/prapi_gitea.c),
 * on a private uv loop and scraper, against tests/support/fake_gitea.py (a stateful fake of
 * Gitea's API v1, started here with python3, a test dependency). Each case drives the
 * fake's controls (faults, versions, renames, labels, people's pull requests) and then
 * reads its request log to prove what went over the wire: paths, methods, the token form,
 * label IDs, and that no failure turns into a second POST. All logging runs at debug level
 * into a file, and every error and warning line the client produced is kept: neither may
 * hold the token.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "check.h"
#include "publish/prapi.h"
#include "scrape/scrape.h"

#define TOKEN "gt_cpgoT3stT0kenThatMustNeverBePrinted42"
#define KEY "gitea.example.com/acme/svc@main:default.pgo"
#define HEAD "cpgo/main/default.pgo"
#define API "/api/v1"

static pid_t fake_pid;
static int fake_port;
static char fake_base[64], api_url[96];
static char tmpdir[] = "/tmp/cpgo-test-gt-XXXXXX";
static uv_loop_t loop;
static struct cpgo_scraper *scr;
static uv_timer_t watchdog;
static int timed_out;
static char *all_errors; /* every error and warning line, for the token check */
static size_t all_errors_len;

/* ---- the fake -------------------------------------------------------------------------- */

static const char *fake_script(void)
{
    static char path[4096];
    const char *env = getenv("CPGO_FAKE_GITEA");
    if (env) return env;
    /* __FILE__ is this file's absolute path (CMake compiles absolute paths) */
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    if (slash) *slash = 0;
    size_t n = strlen(path);
    snprintf(path + n, sizeof path - n, "/../support/fake_gitea.py");
    return path;
}

static int fake_start(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return -1;
    }
    char pf[512];
    snprintf(pf, sizeof pf, "%s/port", tmpdir);
    const char *script = fake_script();
    if (access(script, R_OK)) {
        fprintf(stderr, "FAIL: cannot read the fake Gitea %s\n", script);
        return -1;
    }
    fake_pid = fork();
    if (fake_pid < 0) return -1;
    if (fake_pid == 0) {
        setenv("FAKE_GITEA_TOKEN", TOKEN, 1);
        execlp("python3", "python3", script, "--port-file", pf, "--lifetime", "240", (char *)NULL);
        fprintf(stderr, "FAIL: cannot run python3 (a test dependency): %s\n", strerror(errno));
        _exit(127);
    }
    for (int i = 0; i < 500; i++) { /* up to 10 s */
        FILE *f = fopen(pf, "r");
        if (f) {
            int ok = fscanf(f, "%d", &fake_port) == 1;
            fclose(f);
            if (ok) {
                snprintf(fake_base, sizeof fake_base, "http://127.0.0.1:%d", fake_port);
                snprintf(api_url, sizeof api_url, "%s" API, fake_base);
                return 0;
            }
        }
        int st;
        if (waitpid(fake_pid, &st, WNOHANG) == fake_pid) {
            fprintf(stderr, "FAIL: the fake Gitea (python3 %s) exited with status %d\n", script,
                    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            fake_pid = 0;
            return -1;
        }
        usleep(20000);
    }
    fprintf(stderr, "FAIL: the fake Gitea did not start within 10 s\n");
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

static void ctl0(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *req = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_decref(fake_http("POST", "/_control", s));
    free(s);
}

/* The fake's request log (API requests only). */
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

static double lnum(json_t *l, size_t i, const char *k)
{
    return json_number_value(json_object_get(json_array_get(l, i), k));
}

static json_t *prs_of(const char *repo)
{
    char p[128];
    snprintf(p, sizeof p, "/_prs?repo=%s", repo);
    return fake_http("GET", p, NULL);
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
    uv_stop(&loop); /* a callback from a timer must not leave uv_run blocked in poll */
    cpgo_prapi_pr_free(&d->r.pr);
    d->r = *res;
    memset(&res->pr, 0, sizeof res->pr); /* keep the strings */
    if (res->error[0]) keep_error(res->error);
    if (res->warning[0]) keep_error(res->warning);
    if (res->cls == CPGO_CLASS_OK)
        CHECK(res->error[0] == 0);
    else
        CHECK_STR_CONTAINS(res->error, "gitea acme/");
}
static void done_free(struct done *d)
{
    cpgo_prapi_pr_free(&d->r.pr);
    memset(d, 0, sizeof *d);
}

static void watchdog_cb(uv_timer_t *t)
{
    timed_out = 1;
}

/* Runs the loop until *counter reaches want (at most 30 s). */
static void wait_for(int *counter, int want, int line)
{
    timed_out = 0;
    uint64_t t0 = uv_hrtime();
    uv_timer_start(&watchdog, watchdog_cb, 30000, 0);
    while (*counter < want && !timed_out)
        if (!uv_run(&loop, UV_RUN_ONCE)) break;
    uv_timer_stop(&watchdog);
    double took = (double)(uv_hrtime() - t0) / 1e9;
    if (took > 5) fprintf(stderr, "line %d: slow wait, %.1f s\n", line, took);
    if (*counter < want) {
        fprintf(stderr, "line %d: waited for %d callbacks, got %d%s\n", line, want, *counter,
                timed_out ? " (timed out)" : "");
        check_failures++;
    }
}
#define WAIT(counter, want) wait_for((counter), (want), __LINE__)

static void fast_pacing(struct cpgo_prapi_pacing *p)
{
    cpgo_prapi_pacing_default(p);
    p->min_mutation_gap_ms = 20;
    p->secondary_wait_ms = 100;
    p->backoff_base_ms = 20;
    p->backoff_max_ms = 200;
    p->reset_margin_ms = 0;
    p->max_retries = 3;
}

static struct cpgo_prapi_client *client_with(const struct cpgo_prapi_pacing *p,
                                             const struct cpgo_prapi_limits *l, const char *token)
{
    struct cpgo_prapi_pacing fp;
    if (!p) {
        fast_pacing(&fp);
        p = &fp;
    }
    struct cpgo_prapi_opts o = {
        .forge = CPGO_PRAPI_GITEA, .api_url = api_url, .token = token, .limits = l, .pacing = p};
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
    return client_with(NULL, NULL, TOKEN);
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

/* A pull request made outside the client (by cpgo earlier, or by a person). */
static long seed_pr(const char *head, const char *title, const char *body, const char *state)
{
    json_t *r =
        ctl("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "action", "create_pr", "repo", "acme/svc",
            "head", head, "base", "main", "title", title, "body", body, "state", state);
    long n = (long)json_integer_value(json_object_get(r, "number"));
    json_decref(r);
    return n;
}

static json_t *pr_of(long number)
{
    json_t *prs = prs_of("acme/svc");
    json_t *found = NULL;
    for (size_t i = 0; i < json_array_size(prs); i++)
        if (json_integer_value(json_object_get(json_array_get(prs, i), "number")) == number)
            found = json_incref(json_array_get(prs, i));
    json_decref(prs);
    return found ? found : json_object();
}

/* The logins (or names) of a list of objects, comma-separated. */
static void names_of(json_t *a, const char *key, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; json_is_array(a) && i < json_array_size(a); i++) {
        const char *s = json_string_value(json_object_get(json_array_get(a, i), key));
        int k = snprintf(out + o, cap - o, "%s%s", o ? "," : "", s ? s : "?");
        if (k > 0 && (size_t)k < cap - o) o += (size_t)k;
    }
}

static size_t count_method(json_t *l, const char *method)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(l); i++)
        n += !strcmp(lstr(l, i, "method"), method);
    return n;
}

/* ---- cases ------------------------------------------------------------------------------- */

/* find (none), create with every option, find again, get: the requests Gitea's API wants. */
static void test_create(void)
{
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:s, s:[s,s,s], s:[s]}", "action", "repo", "repo", "acme/svc", "labels", "perf",
         "bot", "pgo", "org_labels", "team");
    ctl0("{s:s, s:[s,s]}", "action", "users", "names", "alice", "bob");
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d1), 0);
    CHECK_EQ_INT(d1.n, 0); /* never from inside the submit call */
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.found, 0);
    CHECK_EQ_INT(d1.r.attempts, 2); /* 404 by base/head, then the list */
    json_t *l = reqlog();
    CHECK(!strcmp(lstr(l, 0, "path"), API "/repos/acme/svc/pulls/main/cpgo/main/default.pgo"));
    CHECK(!strcmp(lstr(l, 1, "path"),
                  API "/repos/acme/svc/pulls?state=all&base_branch=main&page=1&limit=50"));
    CHECK(!strcmp(lstr(l, 0, "auth_form"), "token") && !strcmp(lstr(l, 0, "auth"), "ok"));
    json_decref(l);

    char *body = managed_body("Profile refreshed: ünïcode | and `ticks`.");
    const char *labels[] = {"pgo", "team", "missing"}, *rev[] = {"bob"}, *asg[] = {"alice"};
    struct cpgo_prapi_new_pr np = {.title = "cpgo: add the PGO profile default.pgo",
                                   .head_branch = HEAD,
                                   .base = "main",
                                   .body = body,
                                   .draft = 1,
                                   .labels = {labels, 3},
                                   .reviewers = {rev, 1},
                                   .assignees = {asg, 1},
                                   .auto_merge = 1};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &np, on_done, &d2), 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d2.r.found, 1);
    CHECK_EQ_INT(d2.r.recovered, 0);
    CHECK_EQ_INT(d2.r.pr.number, 1);
    CHECK(d2.r.pr.open && !d2.r.pr.merged && d2.r.pr.draft);
    CHECK(d2.r.pr.title && !strcmp(d2.r.pr.title, "WIP: cpgo: add the PGO profile default.pgo"));
    CHECK(d2.r.pr.body && !strcmp(d2.r.pr.body, body));
    CHECK(d2.r.pr.head_ref && !strcmp(d2.r.pr.head_ref, HEAD));
    CHECK(d2.r.pr.base_ref && !strcmp(d2.r.pr.base_ref, "main"));
    CHECK(d2.r.pr.head_sha && strlen(d2.r.pr.head_sha) == 40);
    char want_url[160];
    snprintf(want_url, sizeof want_url, "%s/acme/svc/pulls/1", fake_base);
    CHECK(d2.r.pr.html_url && !strcmp(d2.r.pr.html_url, want_url));
    /* the missing label is reported, not fatal; auto-merge of a draft: Gitea says 405 */
    CHECK_STR_CONTAINS(d2.r.warning,
                       "label 'missing': does not exist in the repository or its organisation");
    CHECK_STR_CONTAINS(d2.r.warning, "auto-merge: HTTP 405: Work in progress PRs cannot be merged");
    CHECK(!strstr(d2.r.warning, "'pgo'") && !strstr(d2.r.warning, "'team'"));

    l = reqlog();
    static const char *const want[][2] = {
        {"POST", API "/repos/acme/svc/pulls"},
        {"GET", API "/repos/acme/svc/labels?page=1&limit=50"},
        {"GET", API "/orgs/acme/labels?page=1&limit=50"},
        {"POST", API "/repos/acme/svc/issues/1/labels"},
        {"PATCH", API "/repos/acme/svc/pulls/1"},
        {"POST", API "/repos/acme/svc/pulls/1/requested_reviewers"},
        {"GET", API "/repos/acme/svc"},
        {"POST", API "/repos/acme/svc/pulls/1/merge"},
    };
    CHECK_EQ_INT(json_array_size(l), 2 + 8);
    for (size_t i = 0; i < 8; i++) {
        CHECK(!strcmp(lstr(l, 2 + i, "method"), want[i][0]));
        if (strcmp(lstr(l, 2 + i, "path"), want[i][1]))
            fprintf(stderr, "request %zu: %s, want %s\n", i, lstr(l, 2 + i, "path"), want[i][1]);
        CHECK(!strcmp(lstr(l, 2 + i, "path"), want[i][1]));
        CHECK(!strcmp(lstr(l, 2 + i, "auth_form"), "token"));
    }
    json_t *sent = json_loads(lstr(l, 2, "body"), 0, NULL);
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "title")),
                          "WIP: cpgo: add the PGO profile default.pgo"));
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "head")), HEAD));
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "base")), "main"));
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "body")), body));
    CHECK(sent && !json_object_get(sent, "labels") && !json_object_get(sent, "assignees"));
    json_decref(sent);
    CHECK(!strcmp(lstr(l, 5, "body"), "{\"labels\":[3,4]}")); /* IDs: pgo (repo), team (org) */
    CHECK(!strcmp(lstr(l, 6, "body"), "{\"assignees\":[\"alice\"]}"));
    CHECK(!strcmp(lstr(l, 7, "body"), "{\"reviewers\":[\"bob\"]}"));
    sent = json_loads(lstr(l, 9, "body"), 0, NULL);
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "Do")), "merge"));
    CHECK(sent && json_is_true(json_object_get(sent, "merge_when_checks_succeed")));
    CHECK(sent &&
          !strcmp(json_string_value(json_object_get(sent, "head_commit_id")), d2.r.pr.head_sha));
    json_decref(sent);
    json_decref(l);

    /* what the fake now holds */
    json_t *pr = pr_of(1);
    char s[256];
    names_of(json_object_get(pr, "labels"), "name", s, sizeof s);
    CHECK(!strcmp(s, "pgo,team"));
    names_of(json_object_get(pr, "assignees"), "login", s, sizeof s);
    CHECK(!strcmp(s, "alice"));
    names_of(json_object_get(pr, "requested_reviewers"), "login", s, sizeof s);
    CHECK(!strcmp(s, "bob"));
    CHECK(json_is_true(json_object_get(pr, "draft")));
    json_decref(pr);

    /* found directly now (open), and read back */
    size_t before = log_n();
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d3), 0);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &d4), 0);
    WAIT(&d4.n, 1);
    CHECK_EQ_INT(d3.r.found, 1);
    CHECK_EQ_INT(d3.r.pr.number, 1);
    CHECK_EQ_INT(d3.r.attempts, 1);
    CHECK(cpgo_prapi_body_has_marker(d3.r.pr.body, KEY));
    CHECK_EQ_INT(d4.r.cls, CPGO_CLASS_OK);
    CHECK(d4.r.pr.draft && d4.r.pr.open);
    CHECK_EQ_INT(log_n(), before + 2);

    /* auto-merge on a pull request that is no draft, in a repository that squashes:
     * scheduled (201) with its default merge style; a title longer than Gitea's 255
     * characters is cut on a character boundary, not refused */
    ctl0("{s:s, s:s, s:[s], s:s}", "action", "repo", "repo", "acme/svc", "merge_styles", "squash",
         "default_merge_style", "squash");
    char longt[700] = "";
    for (int i = 0; i < 300; i++)
        strcat(longt, "\xc3\xa9"); /* é: 2 bytes, 1 character */
    struct done d5 = {0};
    struct cpgo_prapi_new_pr np2 = {
        .title = longt, .head_branch = "cpgo/other", .base = "main", .body = "b", .auto_merge = 1};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &np2, on_done, &d5), 0);
    WAIT(&d5.n, 1);
    CHECK_EQ_INT(d5.r.cls, CPGO_CLASS_OK);
    CHECK(!d5.r.warning[0]);
    CHECK(d5.r.pr.title && strlen(d5.r.pr.title) == 2 * 255 && !strncmp(d5.r.pr.title, longt, 510));
    pr = pr_of((long)d5.r.pr.number);
    json_t *am = json_object_get(json_object_get(pr, "_fake"), "auto_merge");
    CHECK(json_is_object(am) &&
          !strcmp(json_string_value(json_object_get(am, "head_commit_id")), d5.r.pr.head_sha));
    CHECK(json_is_object(am) && !strcmp(json_string_value(json_object_get(am, "Do")), "squash"));
    json_decref(pr);
    free(body);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    done_free(&d4);
    done_free(&d5);
    close_client(c);
}

/* update in place: same number, a draft stays a draft, labels untouched; and a person's
 * pull request (no marker) is visible as such */
static void test_update_in_place(void)
{
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:s, s:[s,s]}", "action", "repo", "repo", "acme/svc", "labels", "pgo", "perf");
    char *old = managed_body("old numbers");
    long num = seed_pr(HEAD, "WIP: cpgo: profile", old, "open");
    json_decref(ctl("{s:s, s:s, s:i, s:s}", "action", "set_pr", "repo", "acme/svc", "number",
                    (int)num, "checks", "pending"));
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0}, d3 = {0};
    char *neu = managed_body("new numbers");
    const char *labels[] = {"perf"};
    CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "svc", num,
                                      &(struct cpgo_prapi_edit){.title = "cpgo: profile v2",
                                                                .body = neu,
                                                                .labels = {labels, 1}},
                                      on_done, &d1),
                 0);
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.pr.number, num);
    CHECK(d1.r.pr.body && !strcmp(d1.r.pr.body, neu));
    CHECK(d1.r.pr.title && !strcmp(d1.r.pr.title, "WIP: cpgo: profile v2"));
    CHECK(d1.r.pr.draft);
    json_t *l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 2);
    CHECK(!strcmp(lstr(l, 0, "method"), "GET"));
    CHECK(!strcmp(lstr(l, 1, "method"), "PATCH"));
    CHECK(!strcmp(lstr(l, 1, "path"), API "/repos/acme/svc/pulls/1"));
    CHECK_EQ_INT(lnum(l, 1, "status"), 201); /* Gitea's answer to an edit */
    json_t *sent = json_loads(lstr(l, 1, "body"), 0, NULL);
    CHECK(sent && json_object_size(sent) == 2 && !json_object_get(sent, "labels"));
    json_decref(sent);
    json_decref(l);

    /* the body alone: one PATCH */
    CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "svc", num,
                                      &(struct cpgo_prapi_edit){.title = NULL, .body = old},
                                      on_done, &d2),
                 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d2.r.attempts, 1);
    json_t *prs = prs_of("acme/svc");
    CHECK_EQ_INT(json_array_size(prs), 1); /* updated in place: never a second one */
    CHECK(json_array_size(json_object_get(json_array_get(prs, 0), "labels")) == 0);
    json_decref(prs);

    /* a person took it over: their body has no marker, the caller sees it */
    json_decref(ctl("{s:s, s:s, s:i, s:s, s:s}", "action", "set_pr", "repo", "acme/svc", "number",
                    (int)num, "body", "mine now", "title", "human title"));
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d3), 0);
    WAIT(&d3.n, 1);
    CHECK_EQ_INT(d3.r.found, 1);
    CHECK(!cpgo_prapi_body_has_marker(d3.r.pr.body, KEY));
    CHECK(!d3.r.pr.draft);
    free(old);
    free(neu);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    close_client(c);
}

/* Gitea answers the oldest pull request of a base/head pair in any state: a closed one
 * sends the find to the list, which finds the newer open one; closed and merged ones
 * with times in the server's zone */
static void test_closed_and_fallback(void)
{
    ctl0("{s:s}", "action", "reset");
    long n1 = seed_pr(HEAD, "t", "b", "closed");
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d1), 0);
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.found, 1);
    CHECK_EQ_INT(d1.r.pr.number, n1);
    CHECK(!d1.r.pr.open && !d1.r.pr.merged);
    /* "+02:00" read as such: within minutes of now */
    int64_t now = (int64_t)time(NULL);
    CHECK(d1.r.pr.closed_at > now - 300 && d1.r.pr.closed_at < now + 60);

    seed_pr("cpgo/other", "t", "b", "open");
    long n3 = seed_pr(HEAD, "t", "b", "open");
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d2), 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.found, 1);
    CHECK_EQ_INT(d2.r.pr.number, n3);
    CHECK(d2.r.pr.open);
    CHECK_EQ_INT(d2.r.attempts, 2);
    CHECK_EQ_INT(d2.r.nseen, 1); /* the other branch's is not counted */

    /* merged: from "merged" */
    json_decref(ctl("{s:s, s:s, s:i, s:b}", "action", "set_pr", "repo", "acme/svc", "number",
                    (int)n3, "merged", 1));
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d3), 0);
    WAIT(&d3.n, 1);
    CHECK_EQ_INT(d3.r.pr.number, n3); /* the most recent closed one */
    CHECK(!d3.r.pr.open && d3.r.pr.merged);

    /* an older Gitea (no pulls/{base}/{head}): the list, every time */
    ctl0("{s:s, s:s}", "action", "version", "version", "1.21.11");
    long n4 = seed_pr(HEAD, "t", "b", "open");
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d4), 0);
    WAIT(&d4.n, 1);
    CHECK_EQ_INT(d4.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d4.r.pr.number, n4);
    CHECK(d4.r.pr.open);
    CHECK_EQ_INT(d4.r.attempts, 2);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    done_free(&d4);
    close_client(c);
}

/* A person closes cpgo's pull request and deletes its branch (Gitea's "Delete branch"
 * button, or delete_branch_after_merge): Gitea then writes head.ref as refs/pull/N/head
 * and keeps the branch's name in head.label only. The closed pull request is still found
 * (the closed-PR gate), through the by-base-head route's fallback and on an older Gitea's
 * list alike. */
static void test_closed_branch_deleted(void)
{
    ctl0("{s:s}", "action", "reset");
    long n1 = seed_pr(HEAD, "t", "b", "closed");
    json_decref(ctl("{s:s, s:s, s:i, s:b}", "action", "set_pr", "repo", "acme/svc", "number",
                    (int)n1, "branch_deleted", 1));
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d1), 0);
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.found, 1);
    CHECK_EQ_INT(d1.r.pr.number, n1);
    CHECK(!d1.r.pr.open);
    CHECK(d1.r.pr.head_ref && !strcmp(d1.r.pr.head_ref, HEAD));
    ctl0("{s:s, s:s}", "action", "version", "version", "1.21.11");
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d2), 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.found, 1);
    CHECK_EQ_INT(d2.r.pr.number, n1);
    done_free(&d1);
    done_free(&d2);
    close_client(c);
}

/* A fork's pull request from a branch with cpgo's name is in the repository's list too
 * (Gitea lists by base repository): it is not cpgo's, even with the marker copied into it.
 * The find (by-base-head answers 404, the list follows) skips it; a find for the fork's
 * head (head_owner) still finds it. */
static void test_fork_pr_not_ours(void)
{
    ctl0("{s:s}", "action", "reset");
    char *body = managed_body("copied by a fork");
    long nf = seed_pr("fork:" HEAD, "t", body, "open");
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0}, d3 = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d1), 0);
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.found, 0);
    ctl0("{s:s, s:s}", "action", "version", "version", "1.21.11"); /* the list only */
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d2), 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.found, 0);
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", "fork", HEAD, "main", on_done, &d3), 0);
    WAIT(&d3.n, 1);
    CHECK_EQ_INT(d3.r.found, 1);
    CHECK_EQ_INT(d3.r.pr.number, nf);
    free(body);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    close_client(c);
}

/* "already exists" (409): CPGO_CLASS_EXISTS, then found again; a head in another owner's
 * repository as owner:branch */
static void test_exists_and_owner_branch(void)
{
    ctl0("{s:s}", "action", "reset");
    long num = seed_pr(HEAD, "t", "b", "open");
    struct cpgo_prapi_client *c = client();
    struct cpgo_prapi_new_pr np = {.title = "t", .head_branch = HEAD, .base = "main", .body = "b"};
    struct done d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &np, on_done, &d1), 0);
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_EXISTS);
    CHECK_EQ_INT(d1.r.http_status, 409);
    CHECK_EQ_INT(d1.r.attempts, 1);
    CHECK_STR_CONTAINS(d1.r.error, "gitea acme/svc: create pull request: HTTP 409: pull request "
                                   "already exists for these targets");
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d2), 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.found, 1);
    CHECK_EQ_INT(d2.r.pr.number, num);
    CHECK_EQ_INT(log_n(), 2);

    /* owner:branch */
    json_decref(ctl("{s:s, s:s, s:s, s:s}", "action", "create_pr", "repo", "acme/svc", "head",
                    "fork:" HEAD, "base", "main"));
    ctl0("{s:s}", "action", "reset");
    long nf = seed_pr("fork:" HEAD, "t", "b", "open");
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", "fork", HEAD, "main", on_done, &d3), 0);
    WAIT(&d3.n, 1);
    CHECK_EQ_INT(d3.r.found, 1);
    CHECK_EQ_INT(d3.r.pr.number, nf);
    json_t *l = reqlog();
    CHECK(
        !strcmp(lstr(l, 0, "path"), API "/repos/acme/svc/pulls/main/fork%3Acpgo/main/default.pgo"));
    json_decref(l);
    struct cpgo_prapi_new_pr npf = {
        .title = "t", .head_owner = "fork", .head_branch = "cpgo/x", .base = "main", .body = "b"};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &npf, on_done, &d4), 0);
    WAIT(&d4.n, 1);
    CHECK_EQ_INT(d4.r.cls, CPGO_CLASS_OK);
    l = reqlog();
    json_t *sent = json_loads(lstr(l, 1, "body"), 0, NULL);
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "head")), "fork:cpgo/x"));
    json_decref(sent);
    json_decref(l);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    done_free(&d4);
    close_client(c);
}

/* pages: pull requests and labels, Link rel="next" followed as Gitea writes it */
static void test_pagination(void)
{
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:i}", "action", "max_items", "value", 2);
    long ours = seed_pr(HEAD, "t", "b", "closed");
    char head[32];
    for (int i = 0; i < 5; i++) {
        snprintf(head, sizeof head, "other/%d", i);
        seed_pr(head, "t", "b", "open");
    }
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d1), 0);
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.found, 1);
    CHECK_EQ_INT(d1.r.pr.number, ours);
    CHECK_EQ_INT(d1.r.attempts, 3); /* 6 pull requests, 2 a page, newest first */
    CHECK_EQ_INT(d1.r.truncated, 0);
    json_t *l = reqlog();
    CHECK_STR_CONTAINS(lstr(l, 2, "path"), "page=3");
    json_decref(l);

    /* the label asked for is on the third page of labels */
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:i}", "action", "max_items", "value", 2);
    ctl0("{s:s, s:s, s:[s,s,s,s,s]}", "action", "repo", "repo", "acme/svc", "labels", "a", "b", "c",
         "d", "pgo");
    const char *labels[] = {"pgo"};
    struct cpgo_prapi_new_pr np = {
        .title = "t", .head_branch = HEAD, .base = "main", .body = "b", .labels = {labels, 1}};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &np, on_done, &d2), 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK(!d2.r.warning[0]);
    json_t *pr = pr_of(1);
    char s[64];
    names_of(json_object_get(pr, "labels"), "name", s, sizeof s);
    CHECK(!strcmp(s, "pgo"));
    json_decref(pr);
    l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 1 + 3 + 1); /* POST, three label pages, add */
    CHECK(!strcmp(lstr(l, 4, "body"), "{\"labels\":[5]}"));
    json_decref(l);
    ctl0("{s:s, s:i}", "action", "max_items", "value", 50);
    done_free(&d1);
    done_free(&d2);
    close_client(c);
}

/* each error class; 5xx retried; a POST that failed ambiguously is never sent twice */
static void test_errors(void)
{
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:s}", "action", "forbidden", "repo", "acme/locked");
    long num = seed_pr(HEAD, "t", "b", "open");
    struct cpgo_prapi_client *c = client();
    struct done d[10] = {{0}};
    struct cpgo_prapi_new_pr np = {.title = "t", .head_branch = HEAD, .base = "main", .body = "b"};
    /* 403 */
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "locked", &np, on_done, &d[0]), 0);
    /* 404 */
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 99, on_done, &d[1]), 0);
    /* 422: head == base */
    struct cpgo_prapi_new_pr same = {.title = "t", .head_branch = "main", .base = "main"};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &same, on_done, &d[2]), 0);
    WAIT(&d[2].n, 1);
    CHECK_EQ_INT(d[0].r.cls, CPGO_CLASS_FORBIDDEN);
    CHECK_STR_CONTAINS(d[0].r.error, "gitea acme/locked: create pull request: HTTP 403: user "
                                     "should have a permission to write to a repo");
    CHECK_EQ_INT(d[1].r.cls, CPGO_CLASS_NOT_FOUND);
    CHECK_STR_CONTAINS(d[1].r.error, "HTTP 404: not found");
    CHECK_EQ_INT(d[2].r.cls, CPGO_CLASS_INVALID);
    CHECK_STR_CONTAINS(d[2].r.error, "There are no changes between the head and the base");

    /* 429 with Retry-After: waited, then the answer */
    ctl0("{s:s, s:s, s:i}", "action", "fault", "kind", "rate_limit", "seconds", 1);
    uint64_t t0 = uv_hrtime();
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d[3]), 0);
    WAIT(&d[3].n, 1);
    CHECK_EQ_INT(d[3].r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d[3].r.attempts, 2);
    CHECK((uv_hrtime() - t0) / 1000000 >= 900); /* a property: at least the second asked */
    struct cpgo_prapi_status st;
    cpgo_prapi_client_status(c, &st);
    CHECK(st.rate_limited >= 1);

    /* 5xx: a GET retried */
    ctl0("{s:s, s:s, s:s, s:i, s:i}", "action", "fault", "kind", "status", "method", "GET",
         "status", 502, "count", 2);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d[4]), 0);
    WAIT(&d[4].n, 1);
    CHECK_EQ_INT(d[4].r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d[4].r.attempts, 3);

    /* a POST that created the pull request but whose answer was lost: found by the
     * lookup, never sent twice */
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:s, s:s, s:i}", "action", "fault", "kind", "create_then_fail", "method", "POST",
         "status", 504);
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &np, on_done, &d[5]), 0);
    WAIT(&d[5].n, 1);
    CHECK_EQ_INT(d[5].r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d[5].r.recovered, 1);
    CHECK_EQ_INT(d[5].r.pr.number, 1);
    json_t *l = reqlog();
    CHECK_EQ_INT(count_method(l, "POST"), 1);
    CHECK_STR_CONTAINS(lstr(l, 1, "path"), "/pulls?state=open&base_branch=main");
    json_decref(l);
    json_t *prs = prs_of("acme/svc");
    CHECK_EQ_INT(json_array_size(prs), 1);
    json_decref(prs);

    /* a POST that failed without creating: looked up, then sent again, once */
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:s, s:s, s:i}", "action", "fault", "kind", "status", "method", "POST", "status",
         502);
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &np, on_done, &d[6]), 0);
    WAIT(&d[6].n, 1);
    CHECK_EQ_INT(d[6].r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d[6].r.recovered, 0);
    l = reqlog();
    CHECK_EQ_INT(count_method(l, "POST"), 2);
    json_decref(l);
    prs = prs_of("acme/svc");
    CHECK_EQ_INT(json_array_size(prs), 1);
    json_decref(prs);

    /* an optional step's 5xx is retried as it is: the reviewers are requested */
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:[s]}", "action", "users", "names", "bob");
    ctl0("{s:s, s:s, s:s, s:i}", "action", "fault", "kind", "status", "path", "requested_reviewers",
         "status", 500);
    const char *rev[] = {"bob"};
    struct cpgo_prapi_new_pr npr = {
        .title = "t", .head_branch = HEAD, .base = "main", .body = "b", .reviewers = {rev, 1}};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &npr, on_done, &d[7]), 0);
    WAIT(&d[7].n, 1);
    CHECK_EQ_INT(d[7].r.cls, CPGO_CLASS_OK);
    CHECK(!d[7].r.warning[0]);
    CHECK_EQ_INT(d[7].r.recovered, 0);
    json_t *pr = pr_of(1);
    char s[64];
    names_of(json_object_get(pr, "requested_reviewers"), "login", s, sizeof s);
    CHECK(!strcmp(s, "bob"));
    json_decref(pr);
    l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 3); /* POST, reviewers 500, reviewers 201 */
    json_decref(l);

    /* an unknown reviewer: 422 on the step is a warning, the pull request stands */
    const char *bad[] = {"mallory"};
    struct cpgo_prapi_new_pr npb = {.title = "t",
                                    .head_branch = "cpgo/b",
                                    .base = "main",
                                    .body = "b",
                                    .reviewers = {bad, 1},
                                    .assignees = {bad, 1}};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &npb, on_done, &d[8]), 0);
    WAIT(&d[8].n, 1);
    CHECK_EQ_INT(d[8].r.cls, CPGO_CLASS_OK);
    CHECK_STR_CONTAINS(d[8].r.warning, "assignees: HTTP 422: Assignee does not exist");
    CHECK_STR_CONTAINS(d[8].r.warning, "reviewers: HTTP 422");
    for (int i = 0; i < 9; i++)
        done_free(&d[i]);
    close_client(c);
}

/* 401 stops the client: nothing more is sent */
static void test_auth(void)
{
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:b}", "action", "unauthorized", "value", 1);
    struct cpgo_prapi_client *c = client();
    struct done d[3] = {{0}};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d[0]), 0);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &d[1]), 0);
    WAIT(&d[1].n, 1);
    CHECK_EQ_INT(d[0].r.cls, CPGO_CLASS_AUTH);
    CHECK_STR_CONTAINS(d[0].r.error, "HTTP 401");
    CHECK_EQ_INT(d[1].r.cls, CPGO_CLASS_AUTH);
    CHECK_EQ_INT(d[1].r.attempts, 0);
    struct cpgo_prapi_status st;
    cpgo_prapi_client_status(c, &st);
    CHECK(st.stopped);
    CHECK_STR_CONTAINS(st.stop_reason, "Gitea answered 401");
    keep_error(st.stop_reason);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &d[2]), 0);
    WAIT(&d[2].n, 1);
    CHECK_EQ_INT(d[2].r.cls, CPGO_CLASS_AUTH);
    CHECK_EQ_INT(log_n(), 1);
    for (int i = 0; i < 3; i++)
        done_free(&d[i]);
    close_client(c);

    /* a wrong token: the fake sees a bad credential, the client stops the same way */
    ctl0("{s:s}", "action", "reset");
    c = client_with(NULL, NULL, "gt_wrong_token_value");
    struct done dw = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &dw), 0);
    WAIT(&dw.n, 1);
    CHECK_EQ_INT(dw.r.cls, CPGO_CLASS_AUTH);
    json_t *l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 1);
    CHECK(!strcmp(lstr(l, 0, "auth"), "bad"));
    json_decref(l);
    done_free(&dw);
    close_client(c);
}

/* a renamed repository (Gitea: 307, relative Location; or 301) is followed inside the API
 * only */
static void test_redirects(void)
{
    ctl0("{s:s}", "action", "reset");
    long num = seed_pr(HEAD, "t", "b", "open");
    ctl0("{s:s, s:s, s:s}", "action", "rename", "repo", "acme/svc", "to", "acme/svc2");
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d1), 0);
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.attempts, 2);
    CHECK_EQ_INT(d1.r.pr.number, num);
    /* a PATCH follows the 307 too (method and body kept) */
    CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "svc", num,
                                      &(struct cpgo_prapi_edit){.title = NULL, .body = "moved"},
                                      on_done, &d2),
                 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    json_t *l = reqlog();
    CHECK(!strcmp(lstr(l, 3, "method"), "PATCH"));
    CHECK(!strcmp(lstr(l, 3, "path"), API "/repos/acme/svc2/pulls/1"));
    CHECK(!strcmp(lstr(l, 3, "body"), "{\"body\":\"moved\"}"));
    json_decref(l);
    ctl0("{s:s, s:s, s:s, s:i, s:b}", "action", "rename", "repo", "acme/svc2", "to", "acme/svc3",
         "status", 301, "absolute", 1);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc2", num, on_done, &d3), 0);
    WAIT(&d3.n, 1);
    CHECK_EQ_INT(d3.r.cls, CPGO_CLASS_OK);

    /* another host (same address, another name): refused, nothing sent there */
    char loc[128];
    snprintf(loc, sizeof loc, "http://localhost:%d{path}", fake_port);
    ctl0("{s:s, s:s, s:i, s:s}", "action", "fault", "kind", "redirect", "status", 301, "location",
         loc);
    size_t before = log_n();
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc3", num, on_done, &d4), 0);
    WAIT(&d4.n, 1);
    CHECK_EQ_INT(d4.r.cls, CPGO_CLASS_REDIRECT);
    CHECK_STR_CONTAINS(d4.r.error, "refused");
    CHECK_EQ_INT(log_n(), before + 1);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    done_free(&d4);
    close_client(c);
}

/* 1 when text holds any 6-byte piece of secret[from, ...). */
static int shows_piece(const char *text, const char *secret, size_t from)
{
    for (size_t i = from; i + 6 <= strlen(secret); i++) {
        char piece[7];
        memcpy(piece, secret + i, 6);
        piece[6] = 0;
        if (strstr(text, piece)) {
            fprintf(stderr, "  \"%s\" shows \"%s\"\n", text, piece);
            return 1;
        }
    }
    return 0;
}

static void b64(const char *in, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n) v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)in[i + 2];
        out[o++] = a[(v >> 18) & 63];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = i + 1 < n ? a[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = 0;
}

/* A server that echoes the token (as sent, alone, percent-encoded, base64, as Basic with
 * the git user): no piece of it reaches an error line, in a main request or a step. */
static void test_token_never_shown(void)
{
    static const char *const forms[] = {"raw", "token", "percent", "base64", "basic", "all"};
    char tok_b64[128], basic_b64[128];
    b64("token " TOKEN, tok_b64);
    b64("cpgo:" TOKEN, basic_b64);
    ctl0("{s:s}", "action", "reset");
    long num = seed_pr(HEAD, "t", "b", "open");
    struct cpgo_prapi_client *c = client();
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        for (int pad = 0; pad <= 120; pad += 40) {
            ctl0("{s:s, s:s, s:s, s:i, s:b}", "action", "fault", "kind", "echo_auth", "form",
                 forms[f], "pad", pad, "html", pad == 40);
            struct done d = {0};
            CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d), 0);
            WAIT(&d.n, 1);
            CHECK_EQ_INT(d.r.cls, CPGO_CLASS_FORBIDDEN);
            CHECK(!shows_piece(d.r.error, TOKEN, 0));
            CHECK(!shows_piece(d.r.error, tok_b64, 9));   /* "token " is 8 characters */
            CHECK(!shows_piece(d.r.error, basic_b64, 8)); /* "cpgo:" is 6.7 */
            if (pad == 0) CHECK_STR_CONTAINS(d.r.error, "****");
            done_free(&d);
        }
    }
    /* in a step's warning too */
    ctl0("{s:s, s:[s]}", "action", "users", "names", "bob");
    ctl0("{s:s, s:s, s:s}", "action", "fault", "kind", "echo_auth", "path", "requested_reviewers");
    const char *rev[] = {"bob"};
    struct cpgo_prapi_new_pr np = {
        .title = "t", .head_branch = "cpgo/w", .base = "main", .body = "b", .reviewers = {rev, 1}};
    struct done dw = {0};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &np, on_done, &dw), 0);
    WAIT(&dw.n, 1);
    CHECK_EQ_INT(dw.r.cls, CPGO_CLASS_OK);
    CHECK_STR_CONTAINS(dw.r.warning, "reviewers: HTTP 403");
    CHECK(!shows_piece(dw.r.warning, TOKEN, 0));
    done_free(&dw);
    close_client(c);
}

/* the time and draft normalisation, without a server */
static void test_parsers(void)
{
    struct cpgo_prapi_client *c = client();
    struct done d = {0};
    /* a raw answer: Z, +05:30, fractional seconds; no "draft" (an older Gitea) */
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:s, s:s}", "action", "fault", "kind", "body", "body",
         "{\"number\": 7, \"state\": \"closed\", \"title\": \"[WIP] x\", \"body\": \"b\", "
         "\"merged\": false, \"closed_at\": \"2024-05-14T15:30:00.123+05:30\", "
         "\"head\": {\"ref\": \"h\", \"sha\": \"s\"}, \"base\": {\"ref\": \"main\"}}");
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 7, on_done, &d), 0);
    WAIT(&d.n, 1);
    CHECK_EQ_INT(d.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d.r.pr.closed_at, 1715680800); /* 2024-05-14T10:00:00Z */
    CHECK(d.r.pr.draft);
    done_free(&d);
    ctl0("{s:s, s:s, s:s}", "action", "fault", "kind", "body", "body",
         "{\"number\": 7, \"state\": \"closed\", \"closed_at\": \"yesterday\"}");
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 7, on_done, &d), 0);
    WAIT(&d.n, 1);
    CHECK_EQ_INT(d.r.cls, CPGO_CLASS_BAD_RESPONSE);
    CHECK_STR_CONTAINS(d.r.error, "closed_at");
    done_free(&d);
    ctl0("{s:s, s:s, s:s}", "action", "fault", "kind", "body", "body", "[{\"number\": tru");
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d), 0);
    WAIT(&d.n, 1);
    CHECK_EQ_INT(d.r.cls, CPGO_CLASS_BAD_RESPONSE);
    CHECK_STR_CONTAINS(d.r.error, "invalid JSON");
    done_free(&d);
    close_client(c);
}

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        uint64_t t0_ = uv_hrtime();                                                                \
        fn();                                                                                      \
        printf("%-28s %6.2f s\n", #fn, (double)(uv_hrtime() - t0_) / 1e9);                         \
    } while (0)

static void scraper_closed(void *arg)
{
    (*(int *)arg)++;
}

int main(void)
{
    alarm(180); /* a hung test fails instead of blocking the suite */
    char logpath[] = "/tmp/cpgo-test-gt-log-XXXXXX";
    int logfd = mkstemp(logpath);
    CHECK(logfd >= 0);
    cpgo_log_setup(CPGO_LVL_DEBUG, 0, logfd);

    if (fake_start()) {
        fprintf(stderr, "FAIL: the fake Gitea API could not be started\n");
        fake_stop();
        return 1;
    }
    uv_loop_init(&loop);
    uv_timer_init(&loop, &watchdog);
    struct cpgo_scraper_opts so = {.user_agent = "cpgo-test"};
    CHECK_EQ_INT(cpgo_scraper_new(&loop, &so, &scr), 0);

    RUN(test_create);
    RUN(test_update_in_place);
    RUN(test_closed_and_fallback);
    RUN(test_closed_branch_deleted);
    RUN(test_fork_pr_not_ours);
    RUN(test_exists_and_owner_branch);
    RUN(test_pagination);
    RUN(test_errors);
    RUN(test_auth);
    RUN(test_redirects);
    RUN(test_token_never_shown);
    RUN(test_parsers);

    int closed = 0;
    cpgo_scraper_close(scr, scraper_closed, &closed);
    uv_close((uv_handle_t *)&watchdog, NULL);
    while (!closed && uv_run(&loop, UV_RUN_ONCE)) {
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(closed, 1);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fake_stop();

    /* the token never reached an error line, a warning or a log line (all at debug level) */
    CHECK(all_errors != NULL);
    if (all_errors) CHECK(!strstr(all_errors, TOKEN));
    struct stat sb;
    CHECK(fstat(logfd, &sb) == 0 && sb.st_size > 0);
    char *logs = calloc(1, (size_t)sb.st_size + 1);
    CHECK(pread(logfd, logs, (size_t)sb.st_size, 0) == sb.st_size);
    CHECK(!strstr(logs, TOKEN));
    CHECK(!strstr(logs, "gt_cpgoT3st")); /* not even a piece of it */
    CHECK_STR_CONTAINS(logs, "rate limited: pausing");
    CHECK_STR_CONTAINS(logs, "forge authentication failed");
    free(logs);
    close(logfd);
    unlink(logpath);
    free(all_errors);
    curl_global_cleanup();
    CHECK_DONE();
}
