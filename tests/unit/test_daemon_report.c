/* Unit tests for daemon/report (`cpgo run --once`'s summary and progress line), on daemon
 * objects made by hand: the exit status (0, 0 with warnings, 1 with --strict, 1 for a target
 * not published), each scrape counted once, the RESULT column per outcome, the ceiling on
 * the records kept (counts stay exact, the summary says what it leaves out), the progress
 * line per target and in totals, never wider than the terminal. */
#include <stdlib.h>

#include "base/log.h"
#include "check.h"
#include "daemon/daemon_int.h"

static struct daemon *mk_daemon(int strict, int verbose)
{
    struct daemon *d = calloc(1, sizeof *d);
    uv_loop_init(&d->loop);
    d->opts.once = 1;
    d->opts.strict = strict;
    d->opts.verbose = verbose;
    return d;
}

static struct target *mk_target(struct daemon *d, const char *key)
{
    struct target *t = calloc(1, sizeof *t);
    t->d = d;
    t->prforge = -1;
    snprintf(t->key, sizeof t->key, "%s", key);
    t->next = d->targets;
    d->targets = t;
    return t;
}

/* a target whose git round pushed */
static void pushed(struct target *t)
{
    t->once_submitted = t->once_done = 1;
    t->published_once = 1;
    t->last_outcome = CPGO_OUTCOME_PUSHED;
    snprintf(t->head_branch, sizeof t->head_branch, "cpgo/main/default.pgo");
    snprintf(t->pub_commit, sizeof t->pub_commit, "0123456789abcdef0123456789abcdef01234567");
    snprintf(t->pub_path, sizeof t->pub_path, "cmd/app/default.pgo");
}

static void scrape(struct daemon *d, struct target *t, const char *name, int ok)
{
    struct backend *b = calloc(1, sizeof *b);
    b->d = d;
    b->t = t;
    snprintf(b->name, sizeof b->name, "%s", name);
    if (ok) {
        b->ok = 1;
        b->last_class = CPGO_CLASS_OK;
    } else {
        b->failed = 1;
        b->last_class = CPGO_CLASS_CONNECT;
        snprintf(b->last_error, sizeof b->last_error, "connection refused");
    }
    cpgo_report_scrape(b);
    cpgo_report_scrape(b); /* its end is counted once, whoever reports it again */
    free(b);
}

static void free_daemon(struct daemon *d)
{
    cpgo_report_free(d);
    for (struct target *t = d->targets, *n; t; t = n) {
        n = t->next;
        free(t);
    }
    uv_loop_close(&d->loop);
    free(d);
}

/* The summary into buf (at most cap - 1 bytes); the exit status. */
static int summary(struct daemon *d, char *buf, size_t cap)
{
    FILE *f = tmpfile();
    int code = cpgo_report_finish(d, f);
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
    return code;
}

static char out[1 << 20];

static void test_published_with_a_failed_backend(void)
{
    for (int strict = 0; strict <= 1; strict++) {
        struct daemon *d = mk_daemon(strict, 0);
        struct target *t = mk_target(d, "local/srv/app@main:cmd/app/default.pgo");
        CHECK_EQ_INT(cpgo_report_start(d), 0);
        scrape(d, t, "app-1", 1);
        scrape(d, t, "app-2", 1);
        scrape(d, t, "app-3", 0);
        pushed(t);
        CHECK_EQ_INT(t->run_ok, 2);
        CHECK_EQ_INT(t->run_failed, 1);
        /* a warning: exit 0, or 1 with --strict */
        CHECK_EQ_INT(summary(d, out, sizeof out), strict);
        CHECK_STR_CONTAINS(out, "cpgo run --once: 1 target, 1 published, 0 failed; 3 scrapes, 2 "
                                "ok, 1 failed; ");
        CHECK_STR_CONTAINS(out, "local/srv/app@main:cmd/app/default.pgo       2       1  "
                                "published: branch cpgo/main/default.pgo, commit 0123456789ab, "
                                "file cmd/app/default.pgo\n");
        CHECK_STR_CONTAINS(out, "\nwarnings (of published targets; --strict makes them fail the "
                                "run):\n  local/srv/app@main:cmd/app/default.pgo: app-3: "
                                "connect: connection refused\n");
        CHECK(!strstr(out, "errors"));
        CHECK(!strstr(out, "backend app-1")); /* -v only */
        CHECK_STR_CONTAINS(out, strict
                                    ? "\nexit status 1: --strict, and 1 target with warnings\n"
                                    : "\nexit status 0: every target published or had nothing to "
                                      "publish (with warnings)\n");
        /* no summary asked for: the same status */
        CHECK_EQ_INT(cpgo_report_finish(d, NULL), strict);
        free_daemon(d);
    }
}

static void test_failed_target(void)
{
    struct daemon *d = mk_daemon(0, 1);
    struct target *a = mk_target(d, "local/srv/a@main:default.pgo");
    struct target *b = mk_target(d, "local/srv/b@main:default.pgo");
    struct target *c = mk_target(d, "local/srv/c@main:default.pgo");
    CHECK_EQ_INT(cpgo_report_start(d), 0);
    scrape(d, a, "a-1", 1);
    pushed(a);
    /* b: scraped, but its push was refused */
    scrape(d, b, "b-1", 1);
    b->once_submitted = b->once_done = 1;
    b->failed = 1;
    b->last_outcome = CPGO_OUTCOME_FAILED;
    snprintf(b->last_error, sizeof b->last_error, "push refused: the branch moved");
    /* c: every scrape failed, nothing to publish */
    scrape(d, c, "c-1", 0);
    c->once_submitted = c->once_done = 1;
    c->failed = 1;
    c->last_outcome = CPGO_OUTCOME_NOTHING;
    snprintf(c->last_error, sizeof c->last_error, "nothing to publish: no scrape succeeded");
    CHECK_EQ_INT(summary(d, out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "3 targets, 1 published, 2 failed; 3 scrapes, 2 ok, 1 failed;");
    /* in the order of their keys */
    const char *pa = strstr(out, "\nlocal/srv/a@"), *pb = strstr(out, "\nlocal/srv/b@"),
               *pc = strstr(out, "\nlocal/srv/c@");
    CHECK(pa && pb && pc && pa < pb && pb < pc);
    CHECK_STR_CONTAINS(out, "local/srv/b@main:default.pgo       1       0  FAILED: push refused: "
                            "the branch moved\n");
    CHECK_STR_CONTAINS(out, "local/srv/c@main:default.pgo       0       1  FAILED: no scrape "
                            "succeeded, so nothing to publish\n");
    /* the failed scrape that explains c; b has none to list */
    CHECK_STR_CONTAINS(out, "\nerrors (of the targets not published):\n  "
                            "local/srv/c@main:default.pgo: c-1: connect: connection refused\n");
    CHECK(!strstr(out, "warnings ("));
    /* -v: each backend under its target, and what stays pending */
    CHECK_STR_CONTAINS(out, "\n    backend a-1: ok\n");
    CHECK_STR_CONTAINS(out, "\n    backend c-1: connect: connection refused\n");
    CHECK_STR_CONTAINS(out, "\n    pending after: 0 scrapes\n");
    CHECK_STR_CONTAINS(out, "\nexit status 1: 2 targets not published\n");
    free_daemon(d);
}

static void test_results(void)
{
    struct daemon *d = mk_daemon(0, 0);
    struct target *pr = mk_target(d, "github.com/acme/pr@main:default.pgo");
    struct target *dir = mk_target(d, "github.com/acme/dir@main:default.pgo");
    struct target *small = mk_target(d, "github.com/acme/small@main:default.pgo");
    struct target *same = mk_target(d, "github.com/acme/same@main:default.pgo");
    struct target *stopped = mk_target(d, "github.com/acme/stopped@main:default.pgo");
    CHECK_EQ_INT(cpgo_report_start(d), 0);
    pushed(pr);
    pr->last_outcome = CPGO_OUTCOME_PR_OPENED;
    pr->fs.pr_number = 42;
    snprintf(pr->fs.pr_url, sizeof pr->fs.pr_url, "https://github.com/acme/pr/pull/42");
    snprintf(pr->pr_warning, sizeof pr->pr_warning, "label 'pgo' does not exist");
    pushed(dir);
    dir->last_outcome = CPGO_OUTCOME_WRITTEN;
    snprintf(dir->out_path, sizeof dir->out_path, "/out/github.com/acme/dir/main/default.pgo");
    pushed(small);
    small->last_outcome = CPGO_OUTCOME_SMALL_CHANGE;
    snprintf(small->last_change, sizeof small->last_change, "edge weights moved 0.10%%");
    pushed(same);
    same->last_outcome = CPGO_OUTCOME_SAME_AS_BASE;
    snprintf(same->base_branch, sizeof same->base_branch, "main");
    /* stopped before its round ended */
    CHECK_EQ_INT(summary(d, out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "  published: pull request #42 opened, branch cpgo/main/default.pgo "
                            "(https://github.com/acme/pr/pull/42)\n");
    CHECK_STR_CONTAINS(out, "  published: wrote /out/github.com/acme/dir/main/default.pgo\n");
    CHECK_STR_CONTAINS(out, "  not published: the change is below min_change (edge weights moved "
                            "0.10%); scrapes kept\n");
    CHECK_STR_CONTAINS(out, "  nothing to publish: the result equals main's file\n");
    CHECK_STR_CONTAINS(out, "  FAILED: its round did not finish (cpgo was stopped)\n");
    /* the option the forge did not take is a warning */
    CHECK_STR_CONTAINS(out, "  github.com/acme/pr@main:default.pgo: pull request: label 'pgo' "
                            "does not exist\n");
    (void)stopped;
    free_daemon(d);

    /* only "nothing to publish" outcomes: exit 0 */
    d = mk_daemon(1, 0);
    small = mk_target(d, "local/srv/small@main:default.pgo");
    CHECK_EQ_INT(cpgo_report_start(d), 0);
    scrape(d, small, "s-1", 1);
    pushed(small);
    small->last_outcome = CPGO_OUTCOME_SMALL_CHANGE;
    CHECK_EQ_INT(summary(d, out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "\nexit status 0: every target published or had nothing to publish\n");
    free_daemon(d);
}

static void test_warning(void)
{
    struct daemon *d = mk_daemon(1, 0);
    struct target *t = mk_target(d, "local/srv/svc@main:default.pgo");
    CHECK_EQ_INT(cpgo_report_start(d), 0);
    scrape(d, t, "svc/10.0.0.1:6060", 1);
    pushed(t);
    cpgo_report_warn(t, "service svc", "discovery source dns_sd_configs[0] failed: timeout");
    CHECK_EQ_INT(t->run_warnings, 1);
    CHECK_EQ_INT(summary(d, out, sizeof out), 1); /* --strict */
    CHECK_STR_CONTAINS(out, "  local/srv/svc@main:default.pgo: service svc: discovery source "
                            "dns_sd_configs[0] failed: timeout\n");
    free_daemon(d);
}

/* More scrapes than records are kept: the counts stay exact, the lines say what is left out. */
static void test_ceiling(void)
{
    for (int verbose = 0; verbose <= 1; verbose++) {
        struct daemon *d = mk_daemon(0, verbose);
        struct target *t = mk_target(d, "local/srv/big@main:default.pgo");
        CHECK_EQ_INT(cpgo_report_start(d), 0);
        char name[32];
        for (int i = 0; i < 3000; i++) {
            snprintf(name, sizeof name, "i-%04d", i);
            scrape(d, t, name, i % 2);
        }
        pushed(t);
        CHECK_EQ_INT(t->run_ok, 1500);
        CHECK_EQ_INT(t->run_failed, 1500);
        CHECK_EQ_INT(summary(d, out, sizeof out), 0);
        CHECK_STR_CONTAINS(out, "3000 scrapes, 1500 ok, 1500 failed;");
        if (verbose) {
            /* 2,048 records kept: 1,024 of them failed scrapes, listed; the rest counted */
            CHECK_STR_CONTAINS(out, "big@main:default.pgo: 476 more not shown (see the log)\n");
        } else {
            /* five warning lines, then how many more */
            CHECK_STR_CONTAINS(out, "  local/srv/big@main:default.pgo: i-0000: connect: "
                                    "connection refused\n");
            CHECK_STR_CONTAINS(out, "big@main:default.pgo: 1495 more not shown (-v shows them)\n");
            CHECK(!strstr(out, "i-0010:"));
        }
        free_daemon(d);
    }
}

static void test_progress(void)
{
    struct daemon *d = mk_daemon(0, 0);
    struct target *a = mk_target(d, "local/srv/checkout@main:cmd/checkout/default.pgo");
    struct target *b = mk_target(d, "local/srv/search@main:default.pgo");
    CHECK_EQ_INT(cpgo_report_start(d), 0);
    a->round_outstanding = 2;
    scrape(d, a, "c-1", 1);
    scrape(d, b, "s-1", 0);
    b->once_submitted = 1;
    char line[CPGO_LOG_STATUS_MAX];
    /* a wide terminal: per target, named from the repository on */
    cpgo_report_progress(d, line, sizeof line, 200);
    CHECK_STR_CONTAINS(line, "--once 0.0s");
    CHECK_STR_CONTAINS(line, " | checkout@main:cmd/checkout/default.pgo: 1 ok, 2 in flight, 0 "
                             "failed");
    CHECK_STR_CONTAINS(line, " | search@main:default.pgo: 0 ok, 0 in flight, 1 failed; publishing");
    /* a narrow one: the totals, cut to its width */
    cpgo_report_progress(d, line, sizeof line, 60);
    CHECK_STR_CONTAINS(line, "--once 0.0s | scrapes: 1 ok, 2 in flight, 1 failed");
    CHECK(strlen(line) <= 59);
    CHECK(!strchr(line, '\n'));
    /* more than three targets: the totals */
    mk_target(d, "local/srv/x@main:default.pgo");
    mk_target(d, "local/srv/y@main:default.pgo");
    cpgo_report_progress(d, line, sizeof line, 300);
    CHECK_STR_CONTAINS(line, " | scrapes: 1 ok, 2 in flight, 1 failed | targets: 0 of 4 done, 1 "
                             "publishing, 0 failed");
    free_daemon(d);
}

int main(void)
{
    test_published_with_a_failed_backend();
    test_failed_target();
    test_results();
    test_warning();
    test_ceiling();
    test_progress();
    CHECK_DONE();
}
