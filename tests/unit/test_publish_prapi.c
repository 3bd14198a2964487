/*
 * Unit tests for publish/github: the REST client on a private uv loop and scraper, against
 * tests/support/fake_github.py (a stateful fake of GitHub's pull-request endpoints, started
 * here with python3, which the test dependencies include). Each case drives the fake's
 * controls (faults, flags, human-made pull requests) and then reads its request log to
 * prove what went over the wire: paths, methods, headers, pacing, and that no failure
 * turns into a retry storm. All logging runs at debug level into a file, and every error
 * line the client produced is kept: neither may contain the token.
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

#define TOKEN "ghp_cpgoT3stT0kenThatMustNeverBePrinted42"
#define KEY "github.com/acme/svc@main:default.pgo"
#define HEAD "cpgo/main/default.pgo"

static pid_t fake_pid;
static int fake_port;
static char fake_base[64];
static char tmpdir[] = "/tmp/cpgo-test-gh-XXXXXX";
static uv_loop_t loop;
static struct cpgo_scraper *scr;
static uv_timer_t watchdog;
static int timed_out;
static char *all_errors; /* every error line, for the token check */
static size_t all_errors_len;

/* ---- the fake -------------------------------------------------------------------------- */

static const char *fake_script(void)
{
    static char path[4096];
    const char *env = getenv("CPGO_FAKE_GITHUB");
    if (env) return env;
    /* __FILE__ is this file's absolute path (CMake compiles absolute paths) */
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    if (slash) *slash = 0;
    size_t n = strlen(path);
    snprintf(path + n, sizeof path - n, "/../support/fake_github.py");
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
        fprintf(stderr, "FAIL: cannot read the fake GitHub %s\n", script);
        return -1;
    }
    fake_pid = fork();
    if (fake_pid < 0) return -1;
    if (fake_pid == 0) {
        setenv("FAKE_GITHUB_TOKEN", TOKEN, 1);
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
                return 0;
            }
        }
        int st;
        if (waitpid(fake_pid, &st, WNOHANG) == fake_pid) {
            fprintf(stderr, "FAIL: the fake GitHub (python3 %s) exited with status %d\n", script,
                    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            fake_pid = 0;
            return -1;
        }
        usleep(20000);
    }
    fprintf(stderr, "FAIL: the fake GitHub did not start within 10 s\n");
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
    if (res->cls == CPGO_CLASS_OK)
        CHECK(res->error[0] == 0);
    else
        CHECK_STR_CONTAINS(res->error, "github acme/");
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
    struct cpgo_prapi_opts o = {.api_url = fake_base, .token = token, .limits = l, .pacing = p};
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

/* A pull request made outside the client (by cpgo earlier, or by a human). */
static long seed_pr(const char *repo, const char *head, const char *body, const char *state)
{
    json_t *r = ctl("{s:s, s:s, s:s, s:s, s:s, s:s}", "action", "create_pr", "repo", repo, "head",
                    head, "base", "main", "body", body, "state", state);
    long n = (long)json_integer_value(json_object_get(r, "number"));
    json_decref(r);
    return n;
}

/* ---- cases ------------------------------------------------------------------------------- */

static void test_create(void)
{
    ctl0("{s:s}", "action", "reset");
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d1), 0);
    CHECK_EQ_INT(d1.n, 0); /* never from inside the submit call */
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.op, CPGO_PRAPI_OP_FIND);
    CHECK_EQ_INT(d1.r.found, 0);
    CHECK_EQ_INT(d1.r.nseen, 0);
    CHECK_EQ_INT(d1.r.attempts, 1);

    char *body = managed_body("Profile refreshed: ünïcode | and `ticks`.");
    struct cpgo_prapi_new_pr np = {.title = "cpgo: add the PGO profile default.pgo",
                                   .head_branch = HEAD,
                                   .base = "main",
                                   .body = body};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &np, on_done, &d2), 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d2.r.found, 1);
    CHECK_EQ_INT(d2.r.recovered, 0);
    CHECK_EQ_INT(d2.r.pr.number, 1);
    CHECK(d2.r.pr.open && !d2.r.pr.merged && !d2.r.pr.draft);
    CHECK(d2.r.pr.body && !strcmp(d2.r.pr.body, body));
    CHECK(d2.r.pr.head_ref && !strcmp(d2.r.pr.head_ref, HEAD));
    CHECK(d2.r.pr.head_label && !strcmp(d2.r.pr.head_label, "acme:" HEAD));
    CHECK(d2.r.pr.base_ref && !strcmp(d2.r.pr.base_ref, "main"));
    CHECK(d2.r.pr.head_sha && strlen(d2.r.pr.head_sha) == 40);
    CHECK(d2.r.pr.html_url && !strcmp(d2.r.pr.html_url, "https://github.com/acme/svc/pull/1"));
    CHECK(cpgo_prapi_body_has_marker(d2.r.pr.body, KEY));

    json_t *l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 2);
    CHECK(!strcmp(lstr(l, 0, "method"), "GET"));
    CHECK(!strcmp(lstr(l, 0, "path"), "/repos/acme/svc/pulls?state=all&head=acme%3Acpgo%2Fmain%2F"
                                      "default.pgo&base=main&per_page=100"));
    CHECK(!strcmp(lstr(l, 1, "method"), "POST"));
    CHECK(!strcmp(lstr(l, 1, "path"), "/repos/acme/svc/pulls"));
    CHECK_EQ_INT(lnum(l, 1, "status"), 201);
    for (size_t i = 0; i < 2; i++) {
        CHECK(!strcmp(lstr(l, i, "auth"), "ok"));
        CHECK(!strcmp(lstr(l, i, "accept"), "application/vnd.github+json"));
        CHECK(!strcmp(lstr(l, i, "api_version"), "2022-11-28"));
        CHECK(!strncmp(lstr(l, i, "user_agent"), "cpgo/", 5));
    }
    CHECK(!strcmp(lstr(l, 1, "content_type"), "application/json"));
    json_t *sent = json_loads(lstr(l, 1, "body"), 0, NULL);
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "title")), np.title));
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "head")), HEAD));
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "base")), "main"));
    CHECK(sent && !strcmp(json_string_value(json_object_get(sent, "body")), body));
    CHECK(sent && !json_object_get(sent, "draft"));
    json_decref(sent);
    json_decref(l);
    free(body);
    done_free(&d1);
    done_free(&d2);
    close_client(c);
}

static void test_update_in_place(void)
{
    ctl0("{s:s}", "action", "reset");
    char *old = managed_body("old numbers");
    long num = seed_pr("acme/svc", "acme:" HEAD, old, "open");
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0}, d3 = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", "acme", HEAD, "main", on_done, &d1), 0);
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.found, 1);
    CHECK_EQ_INT(d1.r.pr.number, num);
    CHECK(d1.r.pr.open);
    CHECK(cpgo_prapi_body_has_marker(d1.r.pr.body, KEY)); /* ours: may be updated */

    char *neu = managed_body("new numbers");
    CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "svc", d1.r.pr.number,
                                      &(struct cpgo_prapi_edit){.title = NULL, .body = neu},
                                      on_done, &d2),
                 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK(d2.r.pr.body && !strcmp(d2.r.pr.body, neu));
    CHECK_EQ_INT(d2.r.pr.number, num);

    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d3), 0);
    WAIT(&d3.n, 1);
    CHECK(d3.r.pr.body && !strcmp(d3.r.pr.body, neu));

    json_t *prs = prs_of("acme/svc");
    CHECK_EQ_INT(json_array_size(prs), 1); /* updated in place: never a second one */
    json_decref(prs);
    json_t *l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 3);
    CHECK(!strcmp(lstr(l, 1, "method"), "PATCH"));
    CHECK(!strcmp(lstr(l, 1, "path"), "/repos/acme/svc/pulls/1"));
    json_t *sent = json_loads(lstr(l, 1, "body"), 0, NULL);
    CHECK(sent && json_object_size(sent) == 1 && json_object_get(sent, "body")); /* no title */
    json_decref(sent);
    json_decref(l);
    free(old);
    free(neu);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    close_client(c);
}

static void test_unmanaged(void)
{
    ctl0("{s:s}", "action", "reset");
    const char *human = "I made this branch by hand, please keep it.";
    long num = seed_pr("acme/svc", "acme:" HEAD, human, "open");
    struct cpgo_prapi_client *c = client();
    struct done d = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d), 0);
    WAIT(&d.n, 1);
    CHECK_EQ_INT(d.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d.r.found, 1);
    CHECK_EQ_INT(d.r.pr.number, num);
    /* no marker: the caller leaves it alone (and so nothing else is sent here) */
    CHECK(!cpgo_prapi_body_has_marker(d.r.pr.body, KEY));
    CHECK(!cpgo_prapi_body_has_marker(d.r.pr.body, NULL));
    json_t *prs = prs_of("acme/svc");
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(prs, 0), "body")), human));
    json_decref(prs);
    CHECK_EQ_INT(log_n(), 1);
    done_free(&d);
    close_client(c);

    /* the marker itself */
    char m[256];
    int n = cpgo_prapi_marker(KEY, m, sizeof m);
    CHECK(!strcmp(m, "<!-- cpgo:managed target=github.com/acme/svc@main:default.pgo -->"));
    CHECK_EQ_INT(n, (int)strlen(m));
    CHECK(cpgo_prapi_marker("a--b c>d%e-", m, sizeof m) > 0);
    CHECK(!strcmp(m, "<!-- cpgo:managed target=a-%2Db%20c%3Ed%25e%2D -->"));
    CHECK(cpgo_prapi_marker("x---y", m, sizeof m) > 0);
    CHECK(!strstr(m + 4, "--") || strstr(m + 4, "--") == m + strlen(m) - 3);
    CHECK_EQ_INT(cpgo_prapi_marker(KEY, m, 20), -1);
    CHECK(cpgo_prapi_body_has_marker("text\n<!-- cpgo:managed target=k -->\nmore", "k"));
    CHECK(
        !cpgo_prapi_body_has_marker("<!-- cpgo:managed target=kk -->", "k")); /* no prefix match */
    CHECK(!cpgo_prapi_body_has_marker("<!-- cpgo:managed target=k -->", "kk"));
    CHECK(cpgo_prapi_body_has_marker("<!-- cpgo:managed target=zz -->", NULL));
    CHECK(!cpgo_prapi_body_has_marker(NULL, "k"));
    CHECK(!cpgo_prapi_body_has_marker("", NULL));
}

static void test_closed(void)
{
    ctl0("{s:s}", "action", "reset");
    char *body = managed_body("x");
    long num = seed_pr("acme/svc", "acme:" HEAD, body, "closed");
    struct cpgo_prapi_client *c = client();
    struct done d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d1), 0);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d2), 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d1.n, 1); /* FIFO: the find finished first */
    CHECK_EQ_INT(d1.r.found, 1);
    CHECK(!d1.r.pr.open && !d1.r.pr.merged);
    CHECK(d1.r.pr.closed_at > 1600000000);
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK(!d2.r.pr.open && !d2.r.pr.merged);

    ctl0("{s:s, s:s, s:i, s:b}", "action", "set_pr", "repo", "acme/svc", "number", (int)num,
         "merged", 1);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d3), 0);
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d4), 0);
    WAIT(&d4.n, 1);
    CHECK(!d3.r.pr.open && d3.r.pr.merged); /* from "merged" */
    CHECK(!d4.r.pr.open && d4.r.pr.merged); /* from "merged_at" (lists lack "merged") */
    free(body);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    done_free(&d4);
    close_client(c);
}

static void test_rate_limits(void)
{
    ctl0("{s:s}", "action", "reset");
    long num = seed_pr("acme/svc", "acme:" HEAD, "b", "open");
    struct cpgo_prapi_client *c = client();

    /* primary: 403 with x-ratelimit-remaining 0 pauses the whole queue until the reset */
    ctl0("{s:s, s:s, s:s, s:i}", "action", "fault", "kind", "rate_limit", "method", "GET",
         "reset_in", 2);
    struct done d1 = {0}, d2 = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d1), 0);
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d2), 0);
    int polled = 0;
    while (d1.n == 0 && !polled) {
        uv_run(&loop, UV_RUN_ONCE);
        struct cpgo_prapi_status st;
        cpgo_prapi_client_status(c, &st);
        if (st.rate_limited) {
            polled = 1;
            CHECK(st.paused_ms > 500);
            CHECK_EQ_INT(st.rate_remaining, 0);
            CHECK_EQ_INT(st.queued, 2);
        }
    }
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.attempts, 2);
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d2.r.attempts, 1);
    json_t *l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 3);
    CHECK_EQ_INT(lnum(l, 0, "status"), 403);
    double reset = lnum(l, 0, "reset");
    CHECK(reset > 0);
    CHECK(lnum(l, 1, "t") >= reset); /* nothing before the reset */
    CHECK(lnum(l, 2, "t") >= reset);
    json_decref(l);
    done_free(&d1);
    done_free(&d2);

    /* 429 with retry-after: 1 s */
    ctl0("{s:s}", "action", "reset");
    num = seed_pr("acme/svc", "acme:" HEAD, "b", "open");
    ctl0("{s:s, s:s, s:i, s:i}", "action", "fault", "kind", "retry_after", "seconds", 1, "status",
         429);
    struct done d3 = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d3), 0);
    WAIT(&d3.n, 1);
    CHECK_EQ_INT(d3.r.cls, CPGO_CLASS_OK);
    l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 2);
    CHECK_EQ_INT(lnum(l, 0, "status"), 429);
    CHECK(lnum(l, 1, "t") - lnum(l, 0, "t") >= 1.0);
    json_decref(l);
    done_free(&d3);

    /* a secondary limit without headers: wait, back off, give up after max_retries (3) */
    ctl0("{s:s}", "action", "reset");
    num = seed_pr("acme/svc", "acme:" HEAD, "b", "open");
    ctl0("{s:s, s:s, s:i}", "action", "fault", "kind", "secondary", "count", 50);
    struct done d4 = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d4), 0);
    WAIT(&d4.n, 1);
    CHECK_EQ_INT(d4.r.cls, CPGO_CLASS_RATE_LIMITED);
    CHECK_EQ_INT(d4.r.attempts, 4);
    CHECK_STR_CONTAINS(d4.r.error, "secondary rate limit");
    CHECK_STR_CONTAINS(d4.r.error, "gave up after 3 retries");
    l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 4);             /* no storm */
    CHECK(lnum(l, 1, "t") - lnum(l, 0, "t") >= 0.1); /* >= secondary_wait */
    CHECK(lnum(l, 2, "t") - lnum(l, 1, "t") >= 0.2); /* doubled */
    CHECK(lnum(l, 3, "t") - lnum(l, 2, "t") >= 0.4);
    json_decref(l);
    done_free(&d4);
    struct cpgo_prapi_status st;
    cpgo_prapi_client_status(c, &st);
    CHECK(st.rate_limited >= 6);
    CHECK(!st.stopped);
    close_client(c);
}

static void test_auth(void)
{
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:b}", "action", "unauthorized", "value", 1);
    struct cpgo_prapi_client *c = client();
    struct done d[5] = {{0}};
    struct cpgo_prapi_new_pr np = {.title = "t", .head_branch = HEAD, .base = "main", .body = "b"};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d[0]), 0);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &d[1]), 0);
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "other", &np, on_done, &d[2]), 0);
    CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "svc", 1,
                                      &(struct cpgo_prapi_edit){.title = "t", .body = NULL},
                                      on_done, &d[3]),
                 0);
    WAIT(&d[3].n, 1);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(d[i].n, 1);
        CHECK_EQ_INT(d[i].r.cls, CPGO_CLASS_AUTH);
    }
    CHECK_STR_CONTAINS(d[0].r.error, "401");
    CHECK_STR_CONTAINS(d[0].r.error, "Bad credentials");
    CHECK_EQ_INT(d[0].r.attempts, 1);
    CHECK_EQ_INT(d[1].r.attempts, 0);
    CHECK_STR_CONTAINS(d[2].r.error, "github acme/other: create pull request: not sent");
    struct cpgo_prapi_status st;
    cpgo_prapi_client_status(c, &st);
    CHECK(st.stopped);
    CHECK_STR_CONTAINS(st.stop_reason, "401");
    CHECK_EQ_INT(st.requests, 1);
    keep_error(st.stop_reason);
    /* later operations fail at once, without a request */
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &d[4]), 0);
    CHECK_EQ_INT(d[4].n, 0);
    WAIT(&d[4].n, 1);
    CHECK_EQ_INT(d[4].r.cls, CPGO_CLASS_AUTH);
    CHECK_EQ_INT(log_n(), 1);
    for (int i = 0; i < 5; i++)
        done_free(&d[i]);
    close_client(c);

    /* a wrong token: the fake sees a bad Authorization, the client stops the same way */
    ctl0("{s:s}", "action", "reset");
    c = client_with(NULL, NULL, "ghp_wrong");
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

static void test_5xx(void)
{
    ctl0("{s:s}", "action", "reset");
    long num = seed_pr("acme/svc", "acme:" HEAD, "b", "open");
    struct cpgo_prapi_client *c = client();

    /* GET: 502 twice, then the answer */
    ctl0("{s:s, s:s, s:s, s:i, s:i}", "action", "fault", "kind", "status", "method", "GET",
         "status", 502, "count", 2);
    struct done d1 = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d1), 0);
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.attempts, 3);
    CHECK_EQ_INT(log_n(), 3);
    done_free(&d1);

    /* PATCH is idempotent: sent again */
    ctl0("{s:s, s:s, s:s, s:i}", "action", "fault", "kind", "status", "method", "PATCH", "status",
         503);
    struct done d2 = {0};
    CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "svc", num,
                                      &(struct cpgo_prapi_edit){.title = NULL, .body = "nb"},
                                      on_done, &d2),
                 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d2.r.attempts, 2);

    /* POST failed without creating: lookup finds nothing, then the POST again */
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:s, s:s, s:i}", "action", "fault", "kind", "status", "method", "POST", "status",
         502);
    struct cpgo_prapi_new_pr np = {.title = "t", .head_branch = HEAD, .base = "main", .body = "b"};
    struct done d3 = {0};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &np, on_done, &d3), 0);
    WAIT(&d3.n, 1);
    CHECK_EQ_INT(d3.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d3.r.recovered, 0);
    CHECK_EQ_INT(d3.r.attempts, 3);
    json_t *l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 3);
    CHECK(!strcmp(lstr(l, 0, "method"), "POST") && lnum(l, 0, "status") == 502);
    CHECK(!strcmp(lstr(l, 1, "method"), "GET"));
    CHECK_STR_CONTAINS(lstr(l, 1, "path"), "state=open&head=acme%3Acpgo%2Fmain%2Fdefault.pgo");
    CHECK(!strcmp(lstr(l, 2, "method"), "POST") && lnum(l, 2, "status") == 201);
    json_decref(l);
    json_t *prs = prs_of("acme/svc");
    CHECK_EQ_INT(json_array_size(prs), 1);
    json_decref(prs);

    /* POST created it but the answer was lost: the lookup finds it, no second POST */
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:s, s:s, s:i}", "action", "fault", "kind", "create_then_fail", "method", "POST",
         "status", 504);
    struct done d4 = {0};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &np, on_done, &d4), 0);
    WAIT(&d4.n, 1);
    CHECK_EQ_INT(d4.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d4.r.recovered, 1);
    CHECK_EQ_INT(d4.r.found, 1);
    CHECK_EQ_INT(d4.r.pr.number, 1);
    CHECK_EQ_INT(log_n(), 2);
    prs = prs_of("acme/svc");
    CHECK_EQ_INT(json_array_size(prs), 1);
    json_decref(prs);

    /* always failing: given up after max_retries, as a transient error */
    ctl0("{s:s, s:s, s:s, s:i, s:i}", "action", "fault", "kind", "status", "method", "GET",
         "status", 500, "count", 50);
    struct done d5 = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &d5), 0);
    WAIT(&d5.n, 1);
    CHECK_EQ_INT(d5.r.cls, CPGO_CLASS_TRANSIENT);
    CHECK_EQ_INT(d5.r.attempts, 4);
    CHECK_STR_CONTAINS(d5.r.error, "HTTP 500: Server Error (gave up after 3 retries)");
    CHECK_EQ_INT(log_n(), 6);
    ctl0("{s:s}", "action", "reset");

    /* a timeout is retried too (GET) */
    struct cpgo_prapi_limits lim;
    cpgo_prapi_limits_default(&lim);
    lim.timeout_ms = 300;
    struct cpgo_prapi_client *c2 = client_with(NULL, &lim, TOKEN);
    num = seed_pr("acme/svc", "acme:" HEAD, "b", "open");
    ctl0("{s:s, s:s, s:s, s:f}", "action", "fault", "kind", "delay", "method", "GET", "seconds",
         0.8);
    struct done d6 = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c2, "acme", "svc", num, on_done, &d6), 0);
    WAIT(&d6.n, 1);
    CHECK_EQ_INT(d6.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d6.r.attempts, 2);
    done_free(&d2);
    done_free(&d3);
    done_free(&d4);
    done_free(&d5);
    done_free(&d6);
    close_client(c2);
    close_client(c);
}

static void test_exists(void)
{
    ctl0("{s:s}", "action", "reset");
    long num = seed_pr("acme/svc", "acme:" HEAD, "b", "open");
    struct cpgo_prapi_client *c = client();
    struct cpgo_prapi_new_pr np = {.title = "t", .head_branch = HEAD, .base = "main", .body = "b"};
    struct done d1 = {0}, d2 = {0};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &np, on_done, &d1), 0);
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_EXISTS);
    CHECK_EQ_INT(d1.r.http_status, 422);
    CHECK_EQ_INT(d1.r.attempts, 1);
    CHECK_STR_CONTAINS(d1.r.error, "A pull request already exists for acme:" HEAD);
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, "main", on_done, &d2), 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.found, 1);
    CHECK_EQ_INT(d2.r.pr.number, num);
    CHECK(d2.r.pr.open);
    CHECK_EQ_INT(log_n(), 2);
    done_free(&d1);
    done_free(&d2);
    close_client(c);
}

static void test_pagination(void)
{
    ctl0("{s:s}", "action", "reset");
    long open = seed_pr("acme/svc", "acme:" HEAD, "b", "open"); /* the oldest */
    seed_pr("acme/svc", "acme:" HEAD, "b", "closed");
    seed_pr("acme/svc", "acme:" HEAD, "b", "closed");
    long newest = seed_pr("acme/svc", "acme:" HEAD, "b", "closed");
    seed_pr("acme/svc", "acme:someone-else", "b", "open"); /* another head: filtered out */
    struct cpgo_prapi_limits lim;
    cpgo_prapi_limits_default(&lim);
    lim.per_page = 1;
    struct cpgo_prapi_client *c = client_with(NULL, &lim, TOKEN);
    struct done d1 = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d1), 0);
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.found, 1);
    CHECK_EQ_INT(d1.r.pr.number, open);
    CHECK(d1.r.pr.open);
    CHECK_EQ_INT(d1.r.nseen, 4);
    CHECK_EQ_INT(d1.r.truncated, 0);
    CHECK_EQ_INT(d1.r.attempts, 4);
    json_t *l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 4);
    CHECK_STR_CONTAINS(lstr(l, 1, "path"), "/repositories/");
    CHECK_STR_CONTAINS(lstr(l, 3, "path"), "page=4");
    json_decref(l);
    done_free(&d1);
    close_client(c);

    /* the page cap: the newest closed one, flagged truncated */
    ctl0("{s:s}", "action", "reset");
    open = seed_pr("acme/svc", "acme:" HEAD, "b", "open");
    seed_pr("acme/svc", "acme:" HEAD, "b", "closed");
    seed_pr("acme/svc", "acme:" HEAD, "b", "closed");
    newest = seed_pr("acme/svc", "acme:" HEAD, "b", "closed");
    lim.max_pages = 2;
    c = client_with(NULL, &lim, TOKEN);
    struct done d2 = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d2), 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d2.r.found, 1);
    CHECK_EQ_INT(d2.r.pr.number, newest);
    CHECK(!d2.r.pr.open);
    CHECK_EQ_INT(d2.r.truncated, 1);
    CHECK_EQ_INT(d2.r.nseen, 2);
    CHECK_EQ_INT(log_n(), 2);
    done_free(&d2);
    close_client(c);

    /* all closed, all pages read: the newest, not truncated */
    ctl0("{s:s, s:s, s:i, s:s}", "action", "set_pr", "repo", "acme/svc", "number", (int)open,
         "state", "closed");
    lim.max_pages = 10;
    c = client_with(NULL, &lim, TOKEN);
    struct done d3 = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d3), 0);
    WAIT(&d3.n, 1);
    CHECK_EQ_INT(d3.r.pr.number, newest);
    CHECK_EQ_INT(d3.r.truncated, 0);
    CHECK_EQ_INT(d3.r.nseen, 4);
    done_free(&d3);
    close_client(c);
}

static void expect_bad(struct cpgo_prapi_client *c, int find, const char *body, const char *want)
{
    ctl0("{s:s, s:s, s:s, s:s}", "action", "fault", "kind", "body", "method", "GET", "body", body);
    struct done d = {0};
    if (find)
        CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d), 0);
    else
        CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &d), 0);
    WAIT(&d.n, 1);
    CHECK_EQ_INT(d.r.cls, CPGO_CLASS_BAD_RESPONSE);
    CHECK_EQ_INT(d.r.attempts, 1);
    CHECK_EQ_INT(d.r.found, 0);
    CHECK_STR_CONTAINS(d.r.error, want);
    done_free(&d);
}

static void test_bad_json(void)
{
    ctl0("{s:s}", "action", "reset");
    char big[4200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    seed_pr("acme/svc", "acme:" HEAD, big, "open");
    struct cpgo_prapi_limits lim;
    cpgo_prapi_limits_default(&lim);
    lim.max_json_bytes = 2048;
    struct cpgo_prapi_client *c = client_with(NULL, &lim, TOKEN);
    struct done d = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &d), 0);
    WAIT(&d.n, 1);
    CHECK_EQ_INT(d.r.cls, CPGO_CLASS_BAD_RESPONSE);
    CHECK_STR_CONTAINS(d.r.error, "larger than the limit of 2048 bytes");
    CHECK_EQ_INT(d.r.attempts, 1);
    done_free(&d);
    close_client(c);

    c = client();
    expect_bad(c, 0, "{\"number\":\"7\",\"state\":\"open\"}",
               "number: expected a positive integer");
    expect_bad(c, 0, "{\"number\":7,\"state\":\"merged\"}", "state: expected");
    expect_bad(c, 0, "{\"number\":7,\"state\":\"open\",\"merged\":\"yes\"}", "merged: expected");
    expect_bad(c, 0, "{\"number\":7,\"state\":\"open\",\"body\":5}", "body: expected a string");
    expect_bad(c, 0, "{\"number\":7,\"state\":\"open\",\"head\":{\"ref\":[]}}", "head.ref");
    expect_bad(c, 0, "{\"number\":7,\"state\":\"open\",\"closed_at\":\"yesterday\"}", "closed_at");
    expect_bad(c, 0, "{\"number\":1,", "invalid JSON at line 1");
    expect_bad(c, 0, "", "empty response");
    expect_bad(c, 0, "<html>proxy login</html>", "invalid JSON");
    expect_bad(c, 1, "{\"message\":\"hi\"}", "expected an array");
    expect_bad(c, 1, "[{\"number\":1,\"state\":\"open\",\"head\":\"x\"}]",
               "[0].head: expected an object");
    expect_bad(c, 1, "[1,2]", "[0].pull request: expected an object");
    CHECK_EQ_INT(log_n(), 13);
    close_client(c);
}

static void test_redirects(void)
{
    ctl0("{s:s}", "action", "reset");
    long num = seed_pr("acme/svc", "acme:" HEAD, "b", "open");
    struct cpgo_prapi_client *c = client();
    /* same API: followed (a renamed repository answers 301) */
    ctl0("{s:s, s:s, s:i, s:s}", "action", "fault", "kind", "redirect", "status", 301, "location",
         "{base}{path}");
    struct done d1 = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d1), 0);
    WAIT(&d1.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d1.r.attempts, 2);
    CHECK_EQ_INT(log_n(), 2);

    /* another host (same address, other name), another scheme: refused, nothing sent there */
    char loc[128];
    snprintf(loc, sizeof loc, "http://localhost:%d{path}", fake_port);
    ctl0("{s:s, s:s, s:i, s:s}", "action", "fault", "kind", "redirect", "status", 307, "location",
         loc);
    struct done d2 = {0};
    CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "svc", num,
                                      &(struct cpgo_prapi_edit){.title = NULL, .body = "x"},
                                      on_done, &d2),
                 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_REDIRECT);
    CHECK_STR_CONTAINS(d2.r.error, "refused");
    snprintf(loc, sizeof loc, "https://127.0.0.1:%d{path}", fake_port);
    ctl0("{s:s, s:s, s:i, s:s}", "action", "fault", "kind", "redirect", "status", 302, "location",
         loc);
    struct done d3 = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d3), 0);
    WAIT(&d3.n, 1);
    CHECK_EQ_INT(d3.r.cls, CPGO_CLASS_REDIRECT);
    json_t *l = reqlog();
    CHECK_EQ_INT(json_array_size(l), 4);
    for (size_t i = 0; i < json_array_size(l); i++) {
        char host[64];
        snprintf(host, sizeof host, "127.0.0.1:%d", fake_port);
        CHECK(!strcmp(lstr(l, i, "host"), host));
    }
    json_decref(l);

    /* a redirect loop ends */
    ctl0("{s:s, s:s, s:i, s:s, s:i}", "action", "fault", "kind", "redirect", "status", 301,
         "location", "{base}{path}", "count", 20);
    struct done d4 = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d4), 0);
    WAIT(&d4.n, 1);
    CHECK_EQ_INT(d4.r.cls, CPGO_CLASS_REDIRECT);
    CHECK_EQ_INT(d4.r.attempts, 4);
    CHECK_STR_CONTAINS(d4.r.error, "more than 3 redirects");
    ctl0("{s:s}", "action", "reset");

    /* a Link rel="next" to another host is not followed; a malformed Link is an error */
    char link[160];
    snprintf(link, sizeof link, "<http://localhost:%d/repos/acme/svc/pulls?page=2>; rel=\"next\"",
             fake_port);
    ctl0("{s:s, s:s, s:s, s:{s:s}}", "action", "fault", "kind", "body", "body", "[]", "headers",
         "Link", link);
    struct done d5 = {0}, d6 = {0};
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d5), 0);
    WAIT(&d5.n, 1);
    CHECK_EQ_INT(d5.r.cls, CPGO_CLASS_BAD_RESPONSE);
    CHECK_STR_CONTAINS(d5.r.error, "Link rel=\"next\" leaves the API");
    ctl0("{s:s, s:s, s:s, s:{s:s}}", "action", "fault", "kind", "body", "body", "[]", "headers",
         "Link", "http://x/; rel=next");
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, HEAD, NULL, on_done, &d6), 0);
    WAIT(&d6.n, 1);
    CHECK_EQ_INT(d6.r.cls, CPGO_CLASS_BAD_RESPONSE);
    CHECK_STR_CONTAINS(d6.r.error, "malformed Link header");
    CHECK_EQ_INT(log_n(), 2);
    done_free(&d5);
    done_free(&d6);
    done_free(&d1);
    done_free(&d2);
    done_free(&d3);
    done_free(&d4);
    close_client(c);
}

static void test_forbidden_and_secrets(void)
{
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:s}", "action", "forbidden", "repo", "acme/locked");
    long num = seed_pr("acme/svc", "acme:" HEAD, "b", "open");
    struct cpgo_prapi_client *c = client();
    struct cpgo_prapi_new_pr np = {.title = "t", .head_branch = HEAD, .base = "main", .body = "b"};
    struct done d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "locked", &np, on_done, &d1), 0);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d2), 0); /* other repos go on */
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 99, on_done, &d3), 0);
    WAIT(&d3.n, 1);
    CHECK_EQ_INT(d1.r.cls, CPGO_CLASS_FORBIDDEN);
    CHECK_EQ_INT(d1.r.attempts, 1);
    CHECK_STR_CONTAINS(d1.r.error, "github acme/locked: create pull request: HTTP 403: Resource "
                                   "not accessible by integration");
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d3.r.cls, CPGO_CLASS_NOT_FOUND);
    CHECK_STR_CONTAINS(d3.r.error, "HTTP 404: Not Found");
    /* a server that quotes the Authorization header back: the error line is scrubbed */
    ctl0("{s:s, s:s}", "action", "fault", "kind", "echo_auth");
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", num, on_done, &d4), 0);
    WAIT(&d4.n, 1);
    CHECK_EQ_INT(d4.r.cls, CPGO_CLASS_FORBIDDEN);
    CHECK_STR_CONTAINS(d4.r.error, "Bearer ****");
    CHECK(!strstr(d4.r.error, TOKEN));
    CHECK_EQ_INT(log_n(), 4);
    struct cpgo_prapi_status st;
    cpgo_prapi_client_status(c, &st);
    CHECK(!st.stopped);
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

/* A server that echoes the token in another form (base64, as Basic, percent-encoded), or
 * where the error line's cut falls: no piece of it reaches the error line. */
static void test_echoed_token_forms(void)
{
    static const char *const forms[] = {"raw", "token", "percent", "base64", "basic", "all"};
    char bearer_b64[128], basic_b64[128];
    b64("Bearer " TOKEN, bearer_b64);
    b64("x-access-token:" TOKEN, basic_b64);
    ctl0("{s:s}", "action", "reset");
    struct cpgo_prapi_client *c = client();
    unsigned runs = 0;
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        for (int html = 0; html < 2; html++) {
            for (int pad = 0; pad <= 160; pad += 20) {
                ctl0("{s:s, s:s, s:s, s:i, s:b}", "action", "fault", "kind", "echo_auth", "form",
                     forms[f], "pad", pad, "html", html);
                struct done d = {0};
                CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &d), 0);
                WAIT(&d.n, 1);
                CHECK_EQ_INT(d.r.cls, CPGO_CLASS_FORBIDDEN);
                /* the token, and the base64 characters that come from it alone */
                CHECK(!shows_piece(d.r.error, TOKEN, 0));
                CHECK(!shows_piece(d.r.error, bearer_b64, 10)); /* "Bearer " is 9.3 chars */
                CHECK(!shows_piece(d.r.error, basic_b64, 21));  /* "x-access-token:" 20 */
                if (pad == 0 && !html) CHECK_STR_CONTAINS(d.r.error, "****");
                done_free(&d);
                runs++;
            }
        }
    }
    CHECK(runs == 6 * 2 * 9);
    close_client(c);
}

static void test_pacing(void)
{
    ctl0("{s:s}", "action", "reset");
    ctl0("{s:s, s:f}", "action", "min_mutation_gap", "seconds", 1.0); /* the fake enforces it too */
    long n1 = seed_pr("acme/paced", "acme:a", "b", "open");
    long n2 = seed_pr("acme/paced", "acme:b", "b", "open");
    struct cpgo_prapi_pacing p;
    fast_pacing(&p);
    p.min_mutation_gap_ms = 1000; /* GitHub's rule */
    struct cpgo_prapi_client *c = client_with(&p, NULL, TOKEN);
    struct done d[5] = {{0}};
    struct cpgo_prapi_new_pr np = {.title = "t", .head_branch = "c", .base = "main", .body = "b"};
    CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "paced", n1,
                                      &(struct cpgo_prapi_edit){.title = "t1", .body = "b1"},
                                      on_done, &d[0]),
                 0);
    CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "paced", n2,
                                      &(struct cpgo_prapi_edit){.title = "t2", .body = "b2"},
                                      on_done, &d[1]),
                 0);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "paced", n1, on_done, &d[2]), 0);
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "paced", &np, on_done, &d[3]), 0);
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "paced", NULL, "c", NULL, on_done, &d[4]), 0);
    WAIT(&d[4].n, 1);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(d[i].n, 1);
        CHECK_EQ_INT(d[i].r.cls, CPGO_CLASS_OK);
        CHECK_EQ_INT(d[i].r.attempts, 1);
    }
    CHECK_EQ_INT(d[4].r.pr.number, d[3].r.pr.number);
    json_t *all = fake_http("GET", "/_log", NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(all, "violations")), 0);
    json_t *l = json_object_get(all, "requests");
    CHECK_EQ_INT(json_array_size(l), 5); /* FIFO, one at a time, no retries */
    const char *order[] = {"PATCH", "PATCH", "GET", "POST", "GET"};
    double last = -1;
    for (size_t i = 0; i < json_array_size(l) && i < 5; i++) {
        CHECK(!strcmp(lstr(l, i, "method"), order[i]));
        if (strcmp(order[i], "GET")) {
            double t = lnum(l, i, "t");
            if (last >= 0) CHECK(t - last >= 1.0);
            last = t;
        }
    }
    /* reads are not held back by the mutation gap */
    CHECK(lnum(l, 2, "t") - lnum(l, 1, "t") < 0.5);
    json_decref(all);
    for (int i = 0; i < 5; i++)
        done_free(&d[i]);
    close_client(c);

    /* the hourly budget: with 2 per hour, a third mutation waits (here: is still queued) */
    ctl0("{s:s}", "action", "reset");
    n1 = seed_pr("acme/paced", "acme:a", "b", "open");
    fast_pacing(&p);
    p.max_mutations_per_hour = 2;
    c = client_with(&p, NULL, TOKEN);
    struct done e[4] = {{0}};
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "paced", n1,
                                          &(struct cpgo_prapi_edit){.title = NULL, .body = "x"},
                                          on_done, &e[i]),
                     0);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "paced", n1, on_done, &e[3]), 0);
    WAIT(&e[1].n, 1);
    struct cpgo_prapi_status st;
    cpgo_prapi_client_status(c, &st);
    CHECK_EQ_INT(st.requests, 2);
    CHECK_EQ_INT(st.queued, 2); /* the third PATCH waits for the hour; the GET behind it */
    close_client(c);            /* cancels both */
    CHECK_EQ_INT(e[2].r.cls, CPGO_CLASS_CANCELED);
    CHECK_EQ_INT(e[3].r.cls, CPGO_CLASS_CANCELED);
    CHECK_EQ_INT(log_n(), 2);
    for (int i = 0; i < 4; i++)
        done_free(&e[i]);
}

static void test_close_and_validation(void)
{
    ctl0("{s:s}", "action", "reset");
    struct cpgo_prapi_client *c = client();
    struct done d[3] = {{0}};
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &d[i]), 0);
    int closed = 0;
    cpgo_prapi_client_close(c, set_flag, &closed);
    WAIT(&closed, 1);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(d[i].n, 1);
        CHECK_EQ_INT(d[i].r.cls, CPGO_CLASS_CANCELED);
        done_free(&d[i]);
    }
    CHECK_EQ_INT(log_n(), 0);

    /* closing with a request in flight */
    ctl0("{s:s, s:s, s:f}", "action", "fault", "kind", "delay", "seconds", 0.3);
    c = client();
    struct done e = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &e), 0);
    struct cpgo_prapi_status st = {0};
    while (!st.requests) {
        uv_run(&loop, UV_RUN_ONCE);
        cpgo_prapi_client_status(c, &st);
    }
    closed = 0;
    cpgo_prapi_client_close(c, set_flag, &closed);
    WAIT(&closed, 1);
    CHECK_EQ_INT(e.n, 1);
    CHECK(e.r.cls == CPGO_CLASS_CANCELED || e.r.cls == CPGO_CLASS_NOT_FOUND);
    done_free(&e);

    /* arguments */
    struct cpgo_prapi_limits lim;
    cpgo_prapi_limits_default(&lim);
    lim.max_queued = 2;
    c = client_with(NULL, &lim, TOKEN);
    struct done z = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "ac me", "svc", 1, on_done, &z), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "..", 1, on_done, &z), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "a/b", 1, on_done, &z), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 0, on_done, &z), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_prapi_find_pr(c, "acme", "svc", NULL, "a\nb", NULL, on_done, &z),
                 CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "svc", 1,
                                      &(struct cpgo_prapi_edit){.title = NULL, .body = NULL},
                                      on_done, &z),
                 CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "svc", 1,
                                      &(struct cpgo_prapi_edit){.title = NULL, .body = "\xff\xfe"},
                                      on_done, &z),
                 CPGO_E_INPUT);
    char *huge = malloc(CPGO_PRAPI_MAX_BODY + 2);
    memset(huge, 'a', CPGO_PRAPI_MAX_BODY + 1);
    huge[CPGO_PRAPI_MAX_BODY + 1] = 0;
    CHECK_EQ_INT(cpgo_prapi_update_pr(c, "acme", "svc", 1,
                                      &(struct cpgo_prapi_edit){.title = NULL, .body = huge},
                                      on_done, &z),
                 CPGO_E_LIMIT);
    free(huge);
    struct cpgo_prapi_new_pr np = {.title = "", .head_branch = "h", .base = "main"};
    CHECK_EQ_INT(cpgo_prapi_create_pr(c, "acme", "svc", &np, on_done, &z), CPGO_E_USAGE);
    struct done q[2] = {{0}};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &q[0]), 0);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &q[1]), 0);
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &z), CPGO_E_LIMIT); /* full */
    close_client(c);
    CHECK_EQ_INT(z.n, 0);
    CHECK_EQ_INT(q[0].n + q[1].n, 2);
    done_free(&q[0]);
    done_free(&q[1]);

    /* client options */
    struct cpgo_prapi_client *x = NULL;
    struct cpgo_err err;
    struct cpgo_prapi_opts o = {.api_url = "http://api.example.com", .token = TOKEN};
    CHECK_EQ_INT(cpgo_prapi_client_new(&loop, scr, &o, &x, &err), CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "https");
    keep_error(err.text);
    o.api_url = "https://user:" TOKEN "@ghe.example.com/api/v3";
    CHECK_EQ_INT(cpgo_prapi_client_new(&loop, scr, &o, &x, &err), CPGO_E_USAGE);
    CHECK(!strstr(err.text, TOKEN));
    keep_error(err.text);
    o.api_url = "https://ghe.example.com/api/v3/";
    o.token = "abc\ndef";
    CHECK_EQ_INT(cpgo_prapi_client_new(&loop, scr, &o, &x, &err), CPGO_E_USAGE);
    o.token = "";
    CHECK_EQ_INT(cpgo_prapi_client_new(&loop, scr, &o, &x, &err), CPGO_E_USAGE);
    o.token = TOKEN;
    CHECK_EQ_INT(cpgo_prapi_client_new(&loop, scr, &o, &x, &err), 0);
    if (x) close_client(x);
    o.api_url = NULL; /* the default, https://api.github.com */
    CHECK_EQ_INT(cpgo_prapi_client_new(&loop, scr, &o, &x, &err), 0);
    if (x) close_client(x);
}

/* Enterprise-style API path prefix: requests go under it; Links and redirects must stay. */
static void test_api_prefix(void)
{
    ctl0("{s:s}", "action", "reset");
    char api[96];
    snprintf(api, sizeof api, "%s/api/v3/", fake_base);
    struct cpgo_prapi_pacing p;
    fast_pacing(&p);
    struct cpgo_prapi_opts o = {.api_url = api, .token = TOKEN, .pacing = &p};
    struct cpgo_prapi_client *c = NULL;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_prapi_client_new(&loop, scr, &o, &c, &err), 0);
    if (!c) return;
    struct done d = {0}, d2 = {0};
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &d), 0);
    WAIT(&d.n, 1);
    CHECK_EQ_INT(d.r.cls, CPGO_CLASS_NOT_FOUND); /* the fake has no /api/v3 */
    json_t *l = reqlog();
    CHECK(!strcmp(lstr(l, 0, "path"), "/api/v3/repos/acme/svc/pulls/1"));
    json_decref(l);
    /* a redirect out of the prefix (same host) is refused as well */
    ctl0("{s:s, s:s, s:i, s:s}", "action", "fault", "kind", "redirect", "status", 301, "location",
         "{base}/login");
    CHECK_EQ_INT(cpgo_prapi_get_pr(c, "acme", "svc", 1, on_done, &d2), 0);
    WAIT(&d2.n, 1);
    CHECK_EQ_INT(d2.r.cls, CPGO_CLASS_REDIRECT);
    CHECK_EQ_INT(log_n(), 2);
    done_free(&d);
    done_free(&d2);
    close_client(c);
}

/* ---- the pure parts ------------------------------------------------------------------------- */

static void test_parsers(void)
{
    char out[256];
    const char *gh = "<https://api.github.com/repositories/1300192/pulls?state=all&page=2>; "
                     "rel=\"next\", <https://api.github.com/repositories/1300192/pulls?state=all"
                     "&page=5>; rel=\"last\"";
    CHECK_EQ_INT(cpgo_prapi_link_next(gh, out, sizeof out), 1);
    CHECK(!strcmp(out, "https://api.github.com/repositories/1300192/pulls?state=all&page=2"));
    CHECK_EQ_INT(cpgo_prapi_link_next("<https://x/a?page=1>; rel=\"prev\", <https://x/a?page=1>; "
                                      "rel=\"first\"",
                                      out, sizeof out),
                 0);
    CHECK_EQ_INT(cpgo_prapi_link_next("<https://x/b>; rel=next", out, sizeof out), 1);
    CHECK(!strcmp(out, "https://x/b"));
    CHECK_EQ_INT(
        cpgo_prapi_link_next("<https://x/c>; title=\"a, b\"; rel=\"last next\"", out, sizeof out),
        1);
    CHECK(!strcmp(out, "https://x/c"));
    CHECK_EQ_INT(cpgo_prapi_link_next("", out, sizeof out), 0);
    CHECK_EQ_INT(cpgo_prapi_link_next("garbage", out, sizeof out), -1);
    CHECK_EQ_INT(cpgo_prapi_link_next("<https://x/unterminated; rel=\"next\"", out, sizeof out),
                 -1);
    CHECK_EQ_INT(cpgo_prapi_link_next("<https://x/d>; rel=\"next", out, sizeof out), -1);
    CHECK_EQ_INT(cpgo_prapi_link_next("<https://x/a b>; rel=\"next\"", out, sizeof out), -1);
    CHECK_EQ_INT(cpgo_prapi_link_next("<https://x/long>; rel=\"next\"", out, 8), -1);

    const char *ve = "{\"message\":\"Validation Failed\",\"errors\":[{\"resource\":"
                     "\"PullRequest\",\"code\":\"custom\",\"message\":\"No commits between "
                     "main and x\"},{\"code\":\"invalid\",\"field\":\"head\"}]}";
    cpgo_prapi_parse_message(ve, strlen(ve), NULL, out, sizeof out);
    CHECK(!strcmp(out, "Validation Failed: No commits between main and x; invalid"));
    const char *html = "<html>\n<body>Bad gateway</body>";
    cpgo_prapi_parse_message(html, strlen(html), NULL, out, sizeof out);
    CHECK(!strcmp(out, "<html>"));
    const char *ctl_chars = "{\"message\":\"a\\nb\\u0007\"}";
    cpgo_prapi_parse_message(ctl_chars, strlen(ctl_chars), NULL, out, 4);
    CHECK(!strcmp(out, "a b"));
    cpgo_prapi_parse_message(NULL, 0, NULL, out, sizeof out);
    CHECK(!strcmp(out, ""));
    /* scrubbed whole, then cut: a token straddling the cut leaves nothing */
    struct cpgo_url_secrets *sec = cpgo_url_secrets_new();
    cpgo_url_secrets_add(sec, TOKEN);
    char doc[400];
    snprintf(doc, sizeof doc, "{\"message\":\"%.*sBearer %s\"}", 140,
             "................................................................................"
             "................................................................................",
             TOKEN);
    cpgo_prapi_parse_message(doc, strlen(doc), sec, out, 150);
    CHECK(!strstr(out, "ghp_") && !strcmp(out + 140, "Bearer **"));
    cpgo_url_secrets_unref(sec);

    struct cpgo_prapi_pr pr;
    char err[200];
    const char *j = "{\"number\":42,\"state\":\"closed\",\"title\":\"T\",\"body\":null,"
                    "\"merged_at\":\"2024-05-14T10:00:00Z\",\"closed_at\":\"2024-05-14T10:00:00Z\","
                    "\"draft\":false,\"head\":{\"ref\":\"r\",\"label\":\"o:r\",\"sha\":\"s\"},"
                    "\"base\":{\"ref\":\"main\"},\"user\":{\"login\":\"u\"}}";
    CHECK_EQ_INT(cpgo_prapi_parse_pr(j, strlen(j), &pr, err, sizeof err), 0);
    CHECK_EQ_INT(pr.number, 42);
    CHECK(!pr.open && pr.merged);
    CHECK_EQ_INT(pr.closed_at, 1715680800);
    CHECK(!strcmp(pr.body, "") && !strcmp(pr.title, "T") && !strcmp(pr.base_ref, "main"));
    CHECK(!strcmp(pr.html_url, ""));
    cpgo_prapi_pr_free(&pr);
    CHECK_EQ_INT(cpgo_prapi_parse_pr("{\"number\":1,\"number\":2,\"state\":\"open\"}", 39, &pr, err,
                                     sizeof err),
                 CPGO_E_INPUT); /* duplicate keys are refused */
    CHECK_EQ_INT(
        cpgo_prapi_parse_pr("{\"number\":-1,\"state\":\"open\"}", 28, &pr, err, sizeof err),
        CPGO_E_INPUT);
    struct cpgo_prapi_pr *list;
    size_t n;
    CHECK_EQ_INT(cpgo_prapi_parse_pr_list("[]", 2, 10, &list, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 0);
    const char *two = "[{\"number\":1,\"state\":\"open\"},{\"number\":2,\"state\":\"open\"}]";
    CHECK_EQ_INT(cpgo_prapi_parse_pr_list(two, strlen(two), 1, &list, &n, err, sizeof err),
                 CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err, "more than 1");
    CHECK(!strcmp(cpgo_class_name(CPGO_CLASS_EXISTS), "exists"));
    CHECK(!strcmp(cpgo_class_name((enum cpgo_class)99), "unknown"));
}

/* Runs a case and says how long it took (the suite must stay fast). */
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
    char logpath[] = "/tmp/cpgo-test-gh-log-XXXXXX";
    int logfd = mkstemp(logpath);
    CHECK(logfd >= 0);
    cpgo_log_setup(CPGO_LVL_DEBUG, 0, logfd);

    test_parsers();
    if (fake_start()) {
        fprintf(stderr, "FAIL: the fake GitHub API could not be started\n");
        fake_stop();
        return 1;
    }
    uv_loop_init(&loop);
    uv_timer_init(&loop, &watchdog);
    struct cpgo_scraper_opts so = {.user_agent = "cpgo-test"};
    CHECK_EQ_INT(cpgo_scraper_new(&loop, &so, &scr), 0);

    RUN(test_create);
    RUN(test_update_in_place);
    RUN(test_unmanaged);
    RUN(test_closed);
    RUN(test_exists);
    RUN(test_5xx);
    RUN(test_bad_json);
    RUN(test_redirects);
    RUN(test_forbidden_and_secrets);
    RUN(test_auth);
    RUN(test_pagination);
    RUN(test_api_prefix);
    RUN(test_rate_limits);
    RUN(test_echoed_token_forms);
    RUN(test_pacing);
    RUN(test_close_and_validation);

    int closed = 0;
    cpgo_scraper_close(scr, scraper_closed, &closed);
    uv_close((uv_handle_t *)&watchdog, NULL);
    while (!closed && uv_run(&loop, UV_RUN_ONCE)) {
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(closed, 1);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fake_stop();

    /* the token never reached an error line or a log line (all written at debug level) */
    CHECK(all_errors != NULL);
    if (all_errors) CHECK(!strstr(all_errors, TOKEN));
    struct stat sb;
    CHECK(fstat(logfd, &sb) == 0 && sb.st_size > 0);
    char *logs = calloc(1, (size_t)sb.st_size + 1);
    CHECK(pread(logfd, logs, (size_t)sb.st_size, 0) == sb.st_size);
    CHECK(!strstr(logs, TOKEN));
    CHECK(!strstr(logs, "ghp_cpgoT3st")); /* not even a piece of it */
    CHECK_STR_CONTAINS(logs, "pull request API request");
    CHECK_STR_CONTAINS(logs, "rate limited: pausing");
    CHECK_STR_CONTAINS(logs, "forge authentication failed");
    free(logs);
    close(logfd);
    unlink(logpath);
    free(all_errors);
    curl_global_cleanup();
    CHECK_DONE();
}
