/*
 * report.c - what `cpgo run --once` says about itself: a progress line while it runs (only
 * when the caller saw a terminal: opts.progress), and at the end a summary table on standard
 * output (opts.summary, terminal or not), which also decides the exit status.
 *
 * Everything here is read from the daemon's own accounting on the loop thread: a target's
 * round (round_outstanding: its members not finished yet), its scrapes of this run (run_ok,
 * run_failed: counted here, once per backend, by cpgo_report_scrape), its publish
 * (once_submitted, once_done, failed, published_once, last_outcome, last_error, and where it
 * went: pub_commit, pub_path, head_branch, the pull request in fs, out_path). Each scrape's
 * end is also kept as a record (which backend, how it ended) for the warnings and -v's
 * detail, at most REC_MAX in all: counts stay exact past it and the summary says how many
 * lines it leaves out.
 *
 * The exit status: 1 when a target was not published (it failed, or its round never
 * finished); a published target with a failed scrape, a discovery source that failed or a
 * pull-request option the forge did not take is a warning, which fails the run only with
 * --strict. "Published" includes having nothing to publish: the result equals what is
 * there, the change is below min_change, a pull request closed without merging holds it.
 *
 * Thread: the loop. The progress line goes through cpgo_log_status, under the log's mutex,
 * so log lines from the pool threads never land inside it.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/log.h"
#include "daemon/daemon_int.h"

/* the records kept in all: a service of thousands of instances must not grow this without
 * bound (about 450 bytes each) */
#define REC_MAX 2048
/* warning lines per target without -v (a fleet where every instance failed the same way
 * would otherwise print a page of identical lines); -v prints every record kept */
#define WARN_LINES 5
/* how often the progress line is redrawn */
#define PROGRESS_MS 250
/* up to this many targets, the progress line names each */
#define PROGRESS_TARGETS 3

enum rec_kind { REC_OK, REC_FAILED, REC_REPLACED, REC_WARNING };

struct rec {
    const struct target *t;
    enum rec_kind kind;
    char who[128];
    char text[320];
};

struct cpgo_report {
    struct daemon *d;
    uint64_t started; /* uv_now at the start */
    uv_timer_t timer;
    int timer_open;
    struct rec *recs;
    size_t nrecs, cap;
};

static struct rec *rec_add(struct cpgo_report *r, const struct target *t, enum rec_kind kind,
                           const char *who)
{
    if (r->nrecs == r->cap) {
        if (r->cap >= REC_MAX) return NULL; /* counted, not listed */
        size_t cap = r->cap ? r->cap * 2 : 64;
        if (cap > REC_MAX) cap = REC_MAX;
        struct rec *n = realloc(r->recs, cap * sizeof *n);
        if (!n) return NULL;
        r->recs = n;
        r->cap = cap;
    }
    struct rec *x = &r->recs[r->nrecs++];
    x->t = t;
    x->kind = kind;
    /* cut to fit (a backend name is at most 255 bytes; the table shows 127 of them) */
    snprintf(x->who, sizeof x->who, "%.*s", (int)sizeof x->who - 1, who);
    x->text[0] = 0;
    return x;
}

/* ---- the progress line ---------------------------------------------------------------- */

static size_t term_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

/* A target's name in the progress line: its key ("<host>/<repository path>@<branch>:<file>")
 * from the repository's last segment on, so that a few targets fit one line (the summary
 * names them whole). */
static const char *short_key(const struct target *t)
{
    const char *k = t->key, *at = strrchr(k, '@');
    for (const char *p = at; p && p > k; p--)
        if (p[-1] == '/') {
            k = p;
            break;
        }
    size_t n = strlen(k);
    return n > 48 ? k + n - 48 : k;
}

static const char *target_state(const struct target *t)
{
    if (t->once_done) return !t->failed && t->published_once ? "done" : "not published";
    if (t->once_submitted) return "publishing";
    return NULL;
}

static size_t append(char *buf, size_t cap, size_t o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t append(char *buf, size_t cap, size_t o, const char *fmt, ...)
{
    if (o >= cap) return o;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + o, cap - o, fmt, ap);
    va_end(ap);
    return n < 0 ? o : o + (size_t)n;
}

void cpgo_report_progress(struct daemon *d, char *line, size_t cap, size_t width)
{
    struct cpgo_report *r = d->report;
    size_t ntargets = 0, o = 0;
    uint64_t ok = 0, failed = 0, inflight = 0;
    size_t publishing = 0, done = 0, tfailed = 0;
    for (const struct target *t = d->targets; t; t = t->next) {
        if (t->retired) continue;
        ntargets++;
        ok += t->run_ok;
        failed += t->run_failed;
        inflight += t->round_outstanding;
        const char *st = target_state(t);
        if (st && !strcmp(st, "publishing")) publishing++;
        if (st && !strcmp(st, "done")) done++;
        if (st && !strcmp(st, "not published")) tfailed++;
    }
    double secs = (double)(uv_now(&d->loop) - r->started) / 1000.0;
    size_t w = width - 1;
    o = append(line, cap, o, "--once %.1fs", secs);
    size_t head = o;
    if (ntargets <= PROGRESS_TARGETS) {
        /* scrapes done / in flight / failed, per target, when that fits the terminal */
        for (const struct target *t = d->targets; t; t = t->next) {
            if (t->retired) continue;
            o = append(line, cap, o, " | %s: %" PRIu64 " ok, %zu in flight, %" PRIu64 " failed",
                       short_key(t), t->run_ok, t->round_outstanding, t->run_failed);
            const char *st = target_state(t);
            if (st) o = append(line, cap, o, "; %s", st);
        }
    }
    if (ntargets > PROGRESS_TARGETS || o > w) {
        o = append(line, cap, head,
                   " | scrapes: %" PRIu64 " ok, %" PRIu64 " in flight, %" PRIu64 " failed"
                   " | targets: %zu of %zu done, %zu publishing, %zu failed",
                   ok, inflight, failed, done + tfailed, ntargets, publishing, tfailed);
    }
    /* never wider than the terminal: a wrapped line cannot be redrawn in place */
    if (o >= cap) o = cap - 1;
    if (o > w) o = w;
    line[o] = 0;
}

static void progress_cb(uv_timer_t *h)
{
    struct cpgo_report *r = h->data;
    char line[CPGO_LOG_STATUS_MAX];
    cpgo_report_progress(r->d, line, sizeof line, term_width());
    cpgo_log_status(line);
}

int cpgo_report_start(struct daemon *d)
{
    struct cpgo_report *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->d = d;
    r->started = uv_now(&d->loop);
    d->report = r;
    if (d->opts.progress) {
        uv_timer_init(&d->loop, &r->timer);
        r->timer.data = r;
        r->timer_open = 1;
        uv_timer_start(&r->timer, progress_cb, 0, PROGRESS_MS);
    }
    return 0;
}

void cpgo_report_stop(struct daemon *d)
{
    struct cpgo_report *r = d->report;
    if (!r || !r->timer_open) return;
    r->timer_open = 0;
    uv_close((uv_handle_t *)&r->timer, NULL);
    cpgo_log_status(NULL);
}

/* ---- what happened ------------------------------------------------------------------- */

void cpgo_report_scrape(struct backend *b)
{
    struct cpgo_report *r = b->d->report;
    if (b->reported || !r) return;
    b->reported = 1;
    struct target *t = b->t;
    struct rec *x;
    if (b->busy_replaced) {
        if ((x = rec_add(r, t, REC_REPLACED, b->name)))
            snprintf(x->text, sizeof x->text,
                     "busy (another profiler): another instance took "
                     "its place");
    } else if (b->ok && b->last_class == CPGO_CLASS_OK) {
        t->run_ok++;
        rec_add(r, t, REC_OK, b->name);
    } else {
        t->run_failed++;
        if ((x = rec_add(r, t, REC_FAILED, b->name))) {
            if (b->last_error[0])
                snprintf(x->text, sizeof x->text, "%s: %.300s", cpgo_class_name(b->last_class),
                         b->last_error);
            else
                snprintf(x->text, sizeof x->text, "not scraped: cpgo was stopping");
        }
    }
}

void cpgo_report_warn(struct target *t, const char *who, const char *text)
{
    struct cpgo_report *r = t->d->report;
    if (!r) return;
    t->run_warnings++;
    struct rec *x = rec_add(r, t, REC_WARNING, who);
    if (x) snprintf(x->text, sizeof x->text, "%s", text);
}

/* ---- the summary ------------------------------------------------------------------------ */

static int published(const struct target *t)
{
    return !t->failed && t->published_once;
}

/* The RESULT column: published where, why not, or why nothing was. */
static void result_text(const struct target *t, char *buf, size_t cap)
{
    const struct daemon *d = t->d;
    if (!published(t)) {
        const char *why = t->last_outcome == CPGO_OUTCOME_NOTHING && !t->run_ok
                              ? "no scrape succeeded, so nothing to publish"
                          : t->last_error[0]   ? t->last_error
                          : !t->once_submitted ? "its round did not finish (cpgo was stopped)"
                          : !t->once_done      ? "its publish did not finish (cpgo was stopped)"
                                               : "no successful scrape";
        snprintf(buf, cap, "FAILED: %s", why);
        return;
    }
    const char *br = t->head_branch[0] ? t->head_branch : "?";
    char commit[16];
    snprintf(commit, sizeof commit, "%.12s", t->pub_commit);
    switch (t->last_outcome) {
    case CPGO_OUTCOME_WRITTEN:
        snprintf(buf, cap, "published: wrote %s", t->out_path);
        break;
    case CPGO_OUTCOME_UNCHANGED:
        if (t->out_path[0])
            snprintf(buf, cap, "up to date: %s already holds it", t->out_path);
        else
            snprintf(buf, cap, "up to date: branch %s (commit %s) already holds it", br, commit);
        break;
    case CPGO_OUTCOME_PUSHED:
        snprintf(buf, cap, "published: branch %s, commit %s, file %s", br, commit, t->pub_path);
        break;
    case CPGO_OUTCOME_PR_OPENED:
    case CPGO_OUTCOME_PR_UPDATED:
    case CPGO_OUTCOME_PR_CURRENT:
        snprintf(buf, cap, "%s: pull request #%" PRIu64 " %s, branch %s (%s)",
                 t->last_outcome == CPGO_OUTCOME_PR_CURRENT ? "up to date" : "published",
                 t->fs.pr_number,
                 t->last_outcome == CPGO_OUTCOME_PR_OPENED    ? "opened"
                 : t->last_outcome == CPGO_OUTCOME_PR_UPDATED ? "updated"
                                                              : "unchanged",
                 br, t->fs.pr_url[0] ? t->fs.pr_url : "no URL");
        break;
    case CPGO_OUTCOME_PR_CLOSED:
        snprintf(buf, cap,
                 "not proposed: the pull request was closed without merging; a new one waits "
                 "until pending scrapes grow by reopen_growth");
        break;
    case CPGO_OUTCOME_GATED:
        snprintf(buf, cap,
                 "not proposed: a pull request closed without merging holds it until pending "
                 "scrapes grow by reopen_growth");
        break;
    case CPGO_OUTCOME_SAME_AS_BASE:
        snprintf(buf, cap, "nothing to publish: the result equals %s's file",
                 t->base_branch[0] ? t->base_branch : "the target branch");
        break;
    case CPGO_OUTCOME_SMALL_CHANGE:
        snprintf(buf, cap, "not published: the change is below min_change (%s); scrapes kept",
                 t->last_change[0] ? t->last_change : "?");
        break;
    case CPGO_OUTCOME_DRY_RUN:
        snprintf(buf, cap, "dry run: would publish (the report above)");
        break;
    case CPGO_OUTCOME_NOTHING:
        snprintf(buf, cap, "nothing to publish: no scrape pending");
        break;
    default:
        snprintf(buf, cap, "%s", d->opts.dry_run ? "dry run: nothing to publish" : "published");
        break;
    }
}

/* The warning lines of t (scrapes that failed in a published target, warnings, a pull
 * request's options) or, for a target that failed, the failed scrapes that explain it:
 * at most `max` record lines, then how many more. */
static void print_problems(FILE *out, const struct cpgo_report *r, const struct target *t,
                           size_t max)
{
    size_t shown = 0, listed = 0;
    for (size_t i = 0; i < r->nrecs; i++) {
        const struct rec *x = &r->recs[i];
        if (x->t != t || (x->kind != REC_FAILED && x->kind != REC_WARNING)) continue;
        listed++;
        if (shown < max) {
            fprintf(out, "  %s: %s: %s\n", t->key, x->who, x->text);
            shown++;
        }
    }
    uint64_t total = t->run_failed + t->run_warnings;
    if (total > shown)
        fprintf(out, "  %s: %" PRIu64 " more not shown (%s)\n", t->key, total - shown,
                listed > shown ? "-v shows them" : "see the log");
    if (t->pr_warning[0]) fprintf(out, "  %s: pull request: %s\n", t->key, t->pr_warning);
}

static size_t warnings_of(const struct target *t)
{
    return (size_t)t->run_failed + t->run_warnings + (t->pr_warning[0] ? 1 : 0);
}

static int by_who(const void *a, const void *b)
{
    return strcmp(((const struct rec *)a)->who, ((const struct rec *)b)->who);
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const struct target *const *)a)->key, (*(const struct target *const *)b)->key);
}

/* The table: one row per target, -v's lines below each. */
static void print_table(FILE *out, const struct cpgo_report *r, const struct target *const *v,
                        size_t n, size_t width)
{
    const struct daemon *d = r->d;
    fprintf(out, "%-*s  %6s  %6s  %s\n", (int)width, "TARGET", "OK", "FAILED", "RESULT");
    for (size_t k = 0; k < n; k++) {
        const struct target *t = v[k];
        char res[8192]; /* an --output path may be as long as PATH_MAX */
        result_text(t, res, sizeof res);
        fprintf(out, "%-*s  %6" PRIu64 "  %6" PRIu64 "  %s\n", (int)width, t->key, t->run_ok,
                t->run_failed, res);
        if (!d->opts.verbose) continue;
        /* -v: each scrape, and what the publish saw */
        for (size_t i = 0; i < r->nrecs; i++) {
            const struct rec *x = &r->recs[i];
            if (x->t != t) continue;
            fprintf(out, "    %s %s: %s\n", x->kind == REC_WARNING ? "warning:" : "backend", x->who,
                    x->kind == REC_OK ? "ok" : x->text);
        }
        if (t->last_change[0]) fprintf(out, "    edge change: %s\n", t->last_change);
        fprintf(out, "    pending after: %" PRIu64 " scrape%s\n", t->pending_scrapes,
                t->pending_scrapes == 1 ? "" : "s");
        if (t->discovery_note[0]) fprintf(out, "    discovery: %s\n", t->discovery_note);
    }
}

int cpgo_report_finish(struct daemon *d, FILE *out)
{
    struct cpgo_report *r = d->report;
    if (!r) return 1;
    size_t ntargets = 0, npub = 0, nfailed = 0, nwarn_targets = 0, nexplained = 0, width = 6;
    uint64_t ok = 0, failed = 0;
    for (const struct target *t = d->targets; t; t = t->next) {
        if (t->retired) continue;
        ntargets++;
        ok += t->run_ok;
        failed += t->run_failed;
        if (published(t)) {
            npub++;
            if (warnings_of(t)) nwarn_targets++;
        } else {
            nfailed++;
            if (warnings_of(t)) nexplained++;
            cpgo_log(CPGO_LVL_ERROR, "target not published", "target", t->key, "error",
                     t->last_error[0] ? t->last_error : "no successful scrape", NULL);
        }
        size_t kl = strlen(t->key);
        if (kl > width) width = kl > 60 ? 60 : kl;
    }
    int code = nfailed ? 1 : d->opts.strict && nwarn_targets ? 1 : 0;
    if (!out) return code;

    /* in the order of their keys: the list is in no order a reader could follow */
    const struct target **v = malloc((ntargets ? ntargets : 1) * sizeof *v);
    if (!v) {
        fprintf(stderr, "cpgo run: out of memory: no summary\n");
        return code;
    }
    size_t n = 0;
    for (const struct target *t = d->targets; t; t = t->next)
        if (!t->retired) v[n++] = t;
    qsort(v, n, sizeof *v, by_key);
    /* a target's lines by backend name, not in the order the scrapes happened to end */
    if (r->nrecs) qsort(r->recs, r->nrecs, sizeof *r->recs, by_who);

    double secs = (double)(uv_now(&d->loop) - r->started) / 1000.0;
    fprintf(out,
            "cpgo run --once%s: %zu target%s, %zu published, %zu failed; %" PRIu64
            " scrape%s, %" PRIu64 " ok, %" PRIu64 " failed; %.1fs\n\n",
            d->opts.dry_run ? " --dry-run" : "", ntargets, ntargets == 1 ? "" : "s", npub, nfailed,
            ok + failed, ok + failed == 1 ? "" : "s", ok, failed, secs);
    print_table(out, r, v, n, width);
    size_t max = d->opts.verbose ? SIZE_MAX : WARN_LINES;
    if (nexplained) {
        fprintf(out, "\nerrors (of the targets not published):\n");
        for (size_t k = 0; k < n; k++)
            if (!published(v[k]) && warnings_of(v[k])) print_problems(out, r, v[k], max);
    }
    if (nwarn_targets) {
        fprintf(out, "\nwarnings (of published targets; --strict makes them fail the run):\n");
        for (size_t k = 0; k < n; k++)
            if (published(v[k]) && warnings_of(v[k])) print_problems(out, r, v[k], max);
    }
    free(v);
    if (code == 0)
        fprintf(out, "\nexit status 0: every target published or had nothing to publish%s\n",
                nwarn_targets ? " (with warnings)" : "");
    else if (nfailed)
        fprintf(out, "\nexit status 1: %zu target%s not published\n", nfailed,
                nfailed == 1 ? "" : "s");
    else
        fprintf(out, "\nexit status 1: --strict, and %zu target%s with warnings\n", nwarn_targets,
                nwarn_targets == 1 ? "" : "s");
    fflush(out);
    return code;
}

void cpgo_report_free(struct daemon *d)
{
    struct cpgo_report *r = d->report;
    if (!r) return;
    free(r->recs);
    free(r);
    d->report = NULL;
}
