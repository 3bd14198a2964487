/*
 * publish.c - publishing a target once its round is over: into a directory with --output
 * (publish/outdir.h: a directory-publish job on its lane, at once), or to forges (git
 * repositories, GitHub pull requests): the publish queue and its cadence on the loop, the
 * git round on a target's lane (publish/forge.h), the pull request on the loop
 * (publish/prapi.h). See daemon_int.h for the objects.
 *
 * Job kinds here: directory publish, forge round, note (saves the forge record). Every
 * publish ends in finished() (--once accounting, a publish asked for meanwhile); each
 * outcome is counted once: the round's in dir_done or forge_done, a round that cannot
 * start in pubq_drain, the pull-request step's in gh_end.
 *
 * Cadence: a target whose round of scrapes has finished asks to publish
 * (cpgo_publish_request). It publishes at most once per min_interval: earlier requests arm
 * the target's `due` timer. Due targets wait in one FIFO, the publish queue, of which at
 * most FORGE_RUNNING_MAX run at a time; a target already waiting is not queued again (its
 * turn publishes everything pending by then), so a thousand targets on a one-minute schedule
 * cost a thousand queue entries per min_interval at most, never one per tick. With --once
 * a target publishes as soon as its round is over.
 *
 * GitHub: after a round that pushed (or found its branch up to date), the open pull request
 * for the head branch is found, created, or its body updated when it changed. One client
 * per token paces every request (prapi.h). Pull requests without cpgo's marker are never
 * touched; one closed without merging is not recreated until pending has grown by
 * reopen_growth percent (the git round enforces it from the forge record).
 *
 * The token (token.c) is the daemon's; a forge job and the GitHub client get their own
 * copies, zeroed when freed. When it changes (SIGHUP), the GitHub client is replaced once
 * idle and each target's git handle at its next round.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/log.h"
#include "daemon/daemon_int.h"

/* Forge rounds on the pool at once: each holds a pool thread through a fetch and a push,
 * for as long as the git server takes. */
#define FORGE_RUNNING_MAX 4

static void finished(struct target *t);
static void gh_find(struct target *t);

/* ---- targets -------------------------------------------------------------------------- */

void cpgo_publish_target_cfg(struct target *t)
{
    struct daemon *d = t->d;
    const struct cpgo_target_cfg *tc = t->cfg;
    t->out_path[0] = 0;
    t->prforge = -1;
    t->owner[0] = t->repo[0] = 0;
    if (d->opts.output_dir) {
        struct cpgo_err e;
        if (cpgo_outdir_path(d->opts.output_dir, tc->repo.host, tc->repo.path, tc->target_branch,
                             tc->target_file, t->out_path, sizeof t->out_path, &e)) {
            t->out_path[0] = 0;
            cpgo_log(CPGO_LVL_ERROR, "cannot publish this target", "target", t->key, "error",
                     e.text, NULL);
        }
        return;
    }
    /* the head branch before any round (/status): the configured one, else the default
     * for the configured file; a round replaces it with the one it resolved (a profile
     * found elsewhere names another), and the state remembers that across restarts
     * (daemon.c, when the state is opened) */
    if (tc->head_branch)
        snprintf(t->head_branch, sizeof t->head_branch, "%s", tc->head_branch);
    else if (!t->head_branch[0] && cpgo_config_head_branch(tc->target_branch, tc->target_file,
                                                           t->head_branch, sizeof t->head_branch))
        t->head_branch[0] = 0;
    t->prforge = cpgo_token_target_forge(d->cfg, tc);
    if (t->prforge >= 0) {
        /* owner/repo: the last segment of the repository path is the repository; before it
         * exactly one segment (GitHub, Gitea), or a group path with subgroups (GitLab) */
        const char *p = tc->repo.path, *slash = strrchr(p, '/');
        int one = slash && strchr(p, '/') == slash;
        if (slash && slash > p && slash[1] && (one || t->prforge == CPGO_PRAPI_GITLAB) &&
            (size_t)(slash - p) < sizeof t->owner && strlen(slash + 1) < sizeof t->repo) {
            snprintf(t->owner, sizeof t->owner, "%.*s", (int)(slash - p), p);
            snprintf(t->repo, sizeof t->repo, "%s", slash + 1);
        }
    }
}

/* The forge API a target's pull requests go to (its prforge is >= 0). */
static struct forge_api *fapi(struct target *t)
{
    return t->app_fa ? t->app_fa : &t->d->fa[t->prforge];
}

/* github.app: GitHub targets publish with installation tokens instead of a token */
static int app_mode(const struct target *t)
{
    return t->prforge == CPGO_PRAPI_GITHUB && t->d->cfg && t->d->cfg->github.app.app_id > 0;
}

static const char *forge_name(const struct target *t)
{
    return cpgo_prapi_forge_name((enum cpgo_prapi_forge)t->prforge);
}

static void fail(struct target *t, const char *msg, const char *error)
{
    t->failed = 1;
    t->publish_failures++;
    snprintf(t->last_error, sizeof t->last_error, "%.500s", error);
    cpgo_log(CPGO_LVL_ERROR, msg, "target", t->key, "error", error, NULL);
}

/* The end of one publish (success or not): --once accounting, a publish asked for
 * meanwhile. */
static void finished(struct target *t)
{
    struct daemon *d = t->d;
    free(t->pr_title);
    free(t->pr_body);
    t->pr_title = t->pr_body = NULL;
    t->publishing = 0;
    if (d->opts.once && t->once_submitted && !t->once_done) {
        t->once_done = 1;
        assert(d->once_outstanding_publishes > 0);
        d->once_outstanding_publishes--;
    }
    if (t->publish_again && !d->stopping) {
        t->publish_again = 0;
        cpgo_publish_request(t);
    }
}

/* A publish that cannot start: the target fails (for --once: counted as done, so the run
 * ends instead of waiting for it). */
static void skipped(struct target *t, const char *why)
{
    t->failed = 1;
    if (why) snprintf(t->last_error, sizeof t->last_error, "%s", why);
    finished(t);
}

static void succeeded(struct target *t)
{
    t->published_once = 1;
    t->failed = 0;
    t->last_error[0] = 0;
}

/* ---- the target's `pgo:` policy, copied into a job ----------------------------------------- */

/* A job never reads the live configuration: the names are its own copies. */
struct pgo_copy {
    struct cpgo_pgo_policy p;
    char **names;
};

static int pgo_copy(const struct target *t, struct pgo_copy *c)
{
    const struct cpgo_pgo_cfg *pc = &t->cfg->pgo;
    memset(c, 0, sizeof *c);
    c->p.half_life_ms = pc->half_life_ms;
    c->p.min_change_ppm = pc->min_change_ppm;
    c->p.verify_with_go = pc->verify_with_go;
    if (pc->nno_inline) {
        c->names = calloc(pc->nno_inline, sizeof *c->names);
        if (!c->names) return -1;
        for (size_t i = 0; i < pc->nno_inline; i++)
            if (!(c->names[c->p.nno_inline++] = strdup(pc->no_inline[i]))) return -1;
    }
    c->p.no_inline = (const char *const *)c->names;
    return 0;
}

static void pgo_free(struct pgo_copy *c)
{
    for (size_t i = 0; i < c->p.nno_inline; i++)
        free(c->names[i]);
    free(c->names);
    memset(c, 0, sizeof *c);
}

/* --dry-run: what a publish would do, on standard output (the loop thread; a one-shot
 * command's report). */
static void dry_report(const struct target *t, const char *where, const char *path, size_t before,
                       size_t after, uint64_t scrapes, size_t instances, double decay,
                       int64_t age_s, const char *change, const char *verdict, const char *body)
{
    char age[32], hl[32];
    cpgo_duration_format(age_s * 1000, age, sizeof age);
    cpgo_duration_format(t->cfg ? t->cfg->pgo.half_life_ms : 0, hl, sizeof hl);
    printf("target %s\n", t->key);
    printf("  %s: %s\n", where, path);
    printf("  verdict: %s\n", verdict);
    if (after) {
        if (before)
            printf("  size: %zu -> %zu bytes\n", before, after);
        else
            printf("  size: new file, %zu bytes\n", after);
    }
    printf("  scrapes: %" PRIu64 " from %zu instance%s\n", scrapes, instances,
           instances == 1 ? "" : "s");
    if (decay < 1.0)
        printf("  decay: existing samples x%.4f (file age %s, half_life %s)\n", decay, age, hl);
    if (change && *change) printf("  edge change: %s\n", change);
    if (body) printf("  pull request body:\n%s\n", body);
    printf("\n");
    fflush(stdout);
}

/* ---- publishing into a directory (--output DIR) ------------------------------------------ */

/* existing ⊕ pending, written atomically into the target's file below DIR (outdir.h). */
struct dir_job {
    struct cpgo_job base;
    struct target *t;
    const char *out_dir; /* argv, fixed for the process (not the config) */
    char out_path[4096];
    struct cpgo_target_in in;
    struct pgo_copy pgo;
    int dry_run;
    /* outputs */
    int rc;
    struct cpgo_err err;
    struct cpgo_publish_info info;
    uint64_t pending_scrapes;
};

static void dir_job_free(struct dir_job *j)
{
    pgo_free(&j->pgo);
    cpgo_buf_free(&j->info.out);
    free(j);
}

static void dir_work(struct cpgo_job *job)
{
    struct dir_job *j = CPGO_JOB_DATA(job, struct dir_job, base);
    struct target *t = j->t;
    if (!t->ts) {
        j->rc = cpgo_err_set(&j->err, CPGO_E_IO, "target state is not available");
        return;
    }
    struct cpgo_outdir_req req = {
        .mo = j->in.mo, .lim = j->in.lim, .pgo = j->pgo.p, .dry_run = j->dry_run};
    j->rc = cpgo_outdir_publish(t->ts, j->out_dir, j->out_path, &req, &j->info, &j->err);
    j->pending_scrapes = cpgo_state_pending_scrapes(t->ts);
}

static void dir_done(struct cpgo_job *job, int canceled)
{
    struct dir_job *j = CPGO_JOB_DATA(job, struct dir_job, base);
    struct target *t = j->t;
    struct daemon *d = t->d;
    if (canceled)
        j->rc = cpgo_err_set(&j->err, CPGO_E_IO, "canceled at shutdown");
    else if (t->ts)
        t->pending_scrapes = j->pending_scrapes;
    cpgo_observe_publish(t, j->rc                  ? CPGO_OUTCOME_FAILED
                            : j->info.nothing      ? CPGO_OUTCOME_NOTHING
                            : j->info.small_change ? CPGO_OUTCOME_SMALL_CHANGE
                            : j->dry_run           ? CPGO_OUTCOME_DRY_RUN
                            : j->info.unchanged    ? CPGO_OUTCOME_UNCHANGED
                                                   : CPGO_OUTCOME_WRITTEN);
    if (!j->rc && !j->info.nothing)
        snprintf(t->last_change, sizeof t->last_change, "%s", j->info.change);
    if (j->info.go_note[0])
        cpgo_log(CPGO_LVL_WARN, "verify_with_go: go tool preprofile was not run", "target", t->key,
                 "why", j->info.go_note, NULL);
    if (j->rc) {
        fail(t, "publish failed", j->err.text);
        if (j->dry_run)
            dry_report(t, "would write", j->out_path, 0, 0, j->info.scrapes, j->info.instances, 1.0,
                       0, NULL, j->err.text, NULL);
    } else if (j->info.small_change) {
        /* nothing written, nothing lost: the scrapes stay pending for the next publish */
        succeeded(t);
        cpgo_log(CPGO_LVL_INFO, "not published: the change is below min_change", "target", t->key,
                 "path", j->out_path, "change", j->info.change, NULL);
        if (j->dry_run)
            dry_report(t, "would write", j->out_path, j->info.bytes_before, j->info.bytes_after,
                       j->info.scrapes, j->info.instances, j->info.decay, j->info.age_s,
                       j->info.change, "nothing: the change is below min_change", NULL);
    } else if (j->info.nothing) {
        if (j->dry_run)
            dry_report(t, "would write", j->out_path, 0, 0, 0, 0, 1.0, 0, NULL,
                       "nothing: no scrape pending", NULL);
        if (!t->published_once && d->opts.once) t->failed = 1;
        if (d->opts.once)
            snprintf(t->last_error, sizeof t->last_error,
                     "no scrape succeeded: nothing to publish");
    } else if (j->dry_run) {
        succeeded(t);
        dry_report(t, "would write", j->out_path, j->info.bytes_before, j->info.bytes_after,
                   j->info.scrapes, j->info.instances, j->info.decay, j->info.age_s, j->info.change,
                   "would publish", NULL);
    } else {
        t->publishes++;
        t->published_once = 1;
        t->failed = 0;
        char sc[24], before[24], after[24];
        snprintf(sc, sizeof sc, "%" PRIu64, j->info.scrapes);
        snprintf(before, sizeof before, "%zu", j->info.bytes_before);
        snprintf(after, sizeof after, "%zu", j->info.bytes_after);
        cpgo_log(CPGO_LVL_INFO, "published", "target", t->key, "path", j->out_path,
                 CPGO_LOG_INT("scrapes"), sc, CPGO_LOG_INT("bytes_before"), before,
                 CPGO_LOG_INT("bytes_after"), after, "change", j->info.change, NULL);
    }
    dir_job_free(j);
    finished(t);
    cpgo_daemon_progress(d);
}

/* With --output DIR a target publishes as soon as its round is over. */
static void dir_publish(struct target *t)
{
    struct daemon *d = t->d;
    if (t->publishing) {
        t->publish_again = 1;
        return;
    }
    if (!t->out_path[0]) {
        char why[sizeof t->last_error];
        snprintf(why, sizeof why, "output path would leave %s", d->opts.output_dir);
        skipped(t, why);
        return;
    }
    struct dir_job *j = calloc(1, sizeof *j);
    if (!j) {
        skipped(t, "out of memory");
        return;
    }
    j->base.work = dir_work;
    j->base.done = dir_done;
    j->t = t;
    j->out_dir = d->opts.output_dir;
    snprintf(j->out_path, sizeof j->out_path, "%s", t->out_path);
    cpgo_daemon_target_in(t, &j->in);
    j->dry_run = d->opts.dry_run;
    if (pgo_copy(t, &j->pgo)) {
        dir_job_free(j);
        skipped(t, "out of memory");
        return;
    }
    t->publishing = 1;
    t->next_publish_ms = 0;
    j->base.prio = 1; /* finishes the target's round and frees its pending merge */
    cpgo_workq_submit(d->q, &t->lane, &j->base);
}

/* ---- the forge record ------------------------------------------------------------------ */

/* Saves the loop's copy of the forge record (forge.json) on the target's lane. */
struct note_job {
    struct cpgo_job base;
    struct target *t;
    struct cpgo_state_forge note; /* the record to save */
    int rc;
    struct cpgo_err err;
    struct cpgo_state_forge fs; /* the record as stored */
};

static void note_work(struct cpgo_job *job)
{
    struct note_job *j = CPGO_JOB_DATA(job, struct note_job, base);
    struct target *t = j->t;
    if (!t->ts) {
        j->rc = cpgo_err_set(&j->err, CPGO_E_IO, "target state is not available");
        return;
    }
    j->rc = cpgo_state_forge_put(t->ts, &j->note, &j->err);
    cpgo_state_forge_get(t->ts, &j->fs);
}

static void note_done(struct cpgo_job *job, int canceled)
{
    struct note_job *j = CPGO_JOB_DATA(job, struct note_job, base);
    struct target *t = j->t;
    struct daemon *d = t->d;
    if (canceled)
        j->rc = cpgo_err_set(&j->err, CPGO_E_IO, "canceled at shutdown");
    else if (t->ts)
        t->fs = j->fs;
    if (j->rc)
        cpgo_log(CPGO_LVL_WARN, "cannot save the forge record", "target", t->key, "error",
                 j->err.text, NULL);
    free(j);
    cpgo_daemon_progress(d);
}

static void save_note(struct target *t)
{
    if (!t->ts || t->retired) return;
    struct note_job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->base.work = note_work;
    j->base.done = note_done;
    j->t = t;
    j->note = t->fs;
    cpgo_workq_submit(t->d->q, &t->lane, &j->base);
}

/* ---- the git round (pool) -------------------------------------------------------------- */

/* One publishing round to the target's repository (publish/forge.h). Its inputs are
 * copied: a job never reads the live configuration. */
struct forge_job {
    struct cpgo_job base;
    struct target *t;
    struct cpgo_target_in in;
    struct cpgo_repo repo; /* copied strings */
    char target_branch[256], target_file[1024], head_branch[512];
    char author_name[256], author_email[256], ssh_key[4096];
    char *token;            /* a copy, zeroed when the job is freed */
    const char *token_user; /* the forge's basic-auth user for git over https */
    unsigned token_gen;
    int git_timeout_s;
    unsigned reopen_growth;
    char discovery[512]; /* the services' last round, for the body */
    char commit_prefix[256];
    struct pgo_copy pgo;
    int dry_run;
    /* outputs */
    int rc;
    struct cpgo_err err;
    struct cpgo_forge_result fr;
    uint64_t pending_scrapes;
    struct cpgo_state_forge fs; /* the record as stored */
};

static void forge_job_free(struct forge_job *j)
{
    if (j->token) {
        explicit_bzero(j->token, strlen(j->token));
        free(j->token);
    }
    cpgo_repo_free(&j->repo);
    cpgo_forge_result_free(&j->fr);
    pgo_free(&j->pgo);
    free(j);
}

/* Opens the target's git handle (again when the token changed: SIGHUP), then runs the
 * round. */
static int forge_round(struct forge_job *j)
{
    struct target *t = j->t;
    if (t->git && t->git_gen != j->token_gen) {
        /* the token changed (SIGHUP): the handle holds the old one */
        cpgo_gitrepo_close(t->git);
        t->git = NULL;
    }
    if (!t->git) {
        t->git_gen = j->token_gen;
        struct cpgo_git_opts go = {
            .token = j->token,
            .token_user = j->token_user,
            .ssh_key = j->ssh_key[0] ? j->ssh_key : NULL,
            .timeout_s = j->git_timeout_s,
        };
        char pub[4200];
        if (j->ssh_key[0]) {
            snprintf(pub, sizeof pub, "%s.pub", j->ssh_key);
            if (access(pub, R_OK) == 0) go.ssh_pubkey = pub;
        }
        int rc = cpgo_gitrepo_open(j->in.state_dir, &j->repo, &go, &t->git, &j->err);
        if (rc) {
            j->fr.gcls = CPGO_CLASS_LOCAL;
            return rc;
        }
    }
    struct cpgo_forge_req req = {
        .target_key = j->in.key,
        .target_id = j->in.id,
        .target_branch = j->target_branch,
        .target_file = j->target_file,
        .head_branch = j->head_branch[0] ? j->head_branch : NULL,
        .mo = j->in.mo,
        .lim = j->in.lim,
        .ident = {j->author_name, j->author_email},
        .reopen_growth_pct = j->reopen_growth,
        .discovery = j->discovery[0] ? j->discovery : NULL,
        .pgo = j->pgo.p,
        .dry_run = j->dry_run,
        .commit_prefix = j->commit_prefix,
    };
    int rc = cpgo_forge_round(t->ts, t->git, &req, &j->fr, &j->err);
    /* every attempt counts for the cadence (min_interval), not only pushes: a failing or
     * gated target must not fetch on every tick */
    struct cpgo_state_forge fs;
    cpgo_state_forge_get(t->ts, &fs);
    fs.last_publish = cpgo_daemon_wall_ms();
    /* only a commit this target pushed itself: an "unchanged" head may be another's */
    if (!rc && j->fr.outcome == CPGO_FORGE_OUT_PUSHED && j->fr.commit[0])
        snprintf(fs.last_commit, sizeof fs.last_commit, "%s", j->fr.commit);
    /* the head branch this round resolved, so /status names it after a restart */
    if (j->fr.head_branch[0])
        snprintf(fs.head_branch, sizeof fs.head_branch, "%s", j->fr.head_branch);
    struct cpgo_err e;
    cpgo_state_forge_put(t->ts, &fs, &e); /* best effort: the cadence and ownership hint */
    return rc;
}

static void forge_work(struct cpgo_job *job)
{
    struct forge_job *j = CPGO_JOB_DATA(job, struct forge_job, base);
    struct target *t = j->t;
    if (!t->ts) {
        j->rc = cpgo_err_set(&j->err, CPGO_E_IO, "target state is not available");
        return;
    }
    j->rc = forge_round(j);
    j->pending_scrapes = cpgo_state_pending_scrapes(t->ts);
    cpgo_state_forge_get(t->ts, &j->fs);
}

static void forge_done(struct cpgo_job *job, int canceled);

/* A forge with pull requests: what the round and its pull-request step need on the loop (a
 * repository path, a token, a client that is not stopped). 0, or -1 with why naming what is
 * missing. */
static int forge_ready(struct target *t, char *why, size_t cap)
{
    struct daemon *d = t->d;
    struct forge_api *fa = fapi(t);
    const char *name = forge_name(t);
    if (!t->owner[0]) {
        snprintf(why, cap, "forge %s needs a repository path of the form %s", name,
                 t->prforge == CPGO_PRAPI_GITLAB ? "group[/subgroup...]/project" : "owner/repo");
        return -1;
    }
    if (!fa->token) {
        if (app_mode(t))
            snprintf(why, cap, "no installation token for %s/%s", t->owner, t->repo);
        else if (t->prforge == CPGO_PRAPI_GITHUB)
            snprintf(why, cap,
                     "no GitHub token: set %s, github.token_file or -githubToken (forge: local "
                     "needs none)",
                     d->cfg->github.token_env);
        else
            snprintf(why, cap, "no %s token: set %s or %s", name,
                     t->prforge == CPGO_PRAPI_GITLAB ? "GITLAB_TOKEN (gitlab.token_env)"
                                                     : "GITEA_TOKEN (gitea.token_env)",
                     t->prforge == CPGO_PRAPI_GITLAB ? "gitlab.token_file" : "gitea.token_file");
        return -1;
    }
    if (fa->client && fa->stale && fa->busy == 0) {
        cpgo_prapi_client_close(fa->client, NULL, NULL);
        fa->client = NULL;
        fa->stale = 0;
    }
    if (!fa->client && !fa->closing) {
        const char *api = cpgo_token_api_url(d->cfg, (enum cpgo_prapi_forge)t->prforge);
        struct cpgo_prapi_opts go = {
            .forge = (enum cpgo_prapi_forge)t->prforge, .api_url = api, .token = fa->token};
        struct cpgo_err e;
        snprintf(fa->api_url, sizeof fa->api_url, "%s", api ? api : "");
        if (cpgo_prapi_client_new(&d->loop, d->scraper, &go, &fa->client, &e)) {
            snprintf(why, cap, "%s", e.text);
            return -1;
        }
    }
    struct cpgo_prapi_status st;
    if (fa->client) cpgo_prapi_client_status(fa->client, &st);
    if (!fa->client || st.stopped) {
        if (fa->client)
            snprintf(why, cap,
                     "%s work is stopped: the token was rejected (401); fix it and restart", name);
        else
            snprintf(why, cap, "%s is shutting down", name);
        return -1;
    }
    return 0;
}

static int start_forge(struct target *t, char *why, size_t cap);
static void pubq_drain(struct daemon *d);

/* The API of installation inst (made on first use, at most APP_MAX_INSTALLATIONS), its
 * token replaced by token when that changed. NULL when full or out of memory. */
static struct forge_api *app_api(struct daemon *d, uint64_t inst, const char *token,
                                 int64_t expires)
{
    struct daemon_app *a = &d->app;
    size_t i = 0;
    while (i < a->n && a->inst[i] != inst)
        i++;
    if (i == a->n) {
        if (a->n == APP_MAX_INSTALLATIONS) return NULL;
        memset(&a->fa[i], 0, sizeof a->fa[i]);
        a->inst[i] = inst;
        a->n++;
    }
    struct forge_api *fa = &a->fa[i];
    a->expires[i] = expires;
    if (fa->token && !strcmp(fa->token, token)) return fa;
    char *copy = strdup(token);
    if (!copy) return NULL;
    if (fa->token) {
        explicit_bzero(fa->token, strlen(fa->token));
        free(fa->token);
    }
    fa->token = copy;
    snprintf(fa->token_source, sizeof fa->token_source, "installation %llu",
             (unsigned long long)inst);
    /* requests started from now on carry it; a client a 401 stopped goes again */
    if (fa->client) cpgo_prapi_client_set_token(fa->client, copy);
    d->token_gen++; /* git handles hold the old token: opened again at their next round */
    return fa;
}

/* The installation token for a publish, minted before the round (never during a push). */
static void app_token_cb(const struct cpgo_ghapp_token *tok, void *arg)
{
    struct target *t = arg;
    struct daemon *d = t->d;
    assert(d->forge_running > 0);
    d->forge_running--;
    t->app_wait = 0;
    char why[600];
    if (tok->cls == CPGO_CLASS_OK && !d->stopping && !t->retired) {
        t->app_fa = app_api(d, (uint64_t)tok->installation_id, tok->token, tok->expires_at);
        if (!t->app_fa) {
            snprintf(why, sizeof why, "more than %d GitHub App installations, or out of memory",
                     APP_MAX_INSTALLATIONS);
        } else {
            t->app_ready = 1;
            if (!start_forge(t, why, sizeof why)) goto out;
        }
    } else {
        snprintf(why, sizeof why, "%s", tok->cls == CPGO_CLASS_OK ? "shutting down" : tok->error);
    }
    t->app_ready = 0;
    if (d->stopping || t->retired) {
        finished(t);
    } else {
        cpgo_observe_publish(t, CPGO_OUTCOME_FAILED);
        t->retry_soon = cpgo_class_transient(tok->cls);
        fail(t, "cannot publish", why);
        finished(t);
    }
out:
    pubq_drain(d);
    cpgo_daemon_progress(d);
}

/* github.app: asks for the installation token; the round starts when it comes. */
static int app_begin(struct target *t, char *why, size_t cap)
{
    struct daemon *d = t->d;
    if (!t->owner[0]) {
        snprintf(why, cap, "forge github needs a repository path of the form owner/repo");
        return -1;
    }
    if (!d->app.app) {
        if (!d->app.pem) {
            snprintf(why, cap, "the GitHub App key (github.app.private_key_file) is not loaded");
            return -1;
        }
        const struct cpgo_github_app_cfg *ac = &d->cfg->github.app;
        struct cpgo_ghapp_opts o = {.api_url = d->cfg->github.api_url,
                                    .app_id = ac->app_id,
                                    .installation_id = ac->installation_id,
                                    .pem = d->app.pem,
                                    .pem_len = d->app.pem_len};
        struct cpgo_err e;
        if (cpgo_ghapp_new(&d->loop, d->scraper, &o, &d->app.app, &e)) {
            snprintf(why, cap, "%s", e.text);
            return -1;
        }
    }
    t->app_retried = 0;
    t->app_fa = NULL;
    if (cpgo_ghapp_get_token(d->app.app, t->owner, t->repo, app_token_cb, t)) {
        snprintf(why, cap, "cannot ask for a GitHub App installation token");
        return -1;
    }
    t->app_wait = 1;
    t->publishing = 1;
    d->forge_running++; /* counted like the round it leads to: shutdown waits for it */
    return 0;
}

/* Queues the target's round on its lane: 0, or -1 with why naming what is missing. */
static int start_forge(struct target *t, char *why, size_t cap)
{
    struct daemon *d = t->d;
    if (app_mode(t) && !d->opts.dry_run && !t->app_ready) return app_begin(t, why, cap);
    t->app_ready = 0;
    /* a dry run stops before the pull request: it needs no forge client */
    if (t->prforge >= 0 && !d->opts.dry_run && forge_ready(t, why, cap)) return -1;
    struct forge_job *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    j->base.work = forge_work;
    j->base.done = forge_done;
    j->t = t;
    const struct cpgo_target_cfg *tc = t->cfg;
    const struct cpgo_config *cfg = d->cfg;
    cpgo_daemon_target_in(t, &j->in);
    j->repo.kind = tc->repo.kind;
    j->repo.port = tc->repo.port;
    j->repo.host = strdup(tc->repo.host);
    j->repo.path = strdup(tc->repo.path);
    j->repo.url = strdup(tc->repo.url);
    j->repo.user = tc->repo.user ? strdup(tc->repo.user) : NULL;
    snprintf(j->target_branch, sizeof j->target_branch, "%s", tc->target_branch);
    snprintf(j->target_file, sizeof j->target_file, "%s", tc->target_file);
    /* the configured head branch, or "" for the default, which the round resolves from the
     * profile's path (t->head_branch keeps the resolved one for the GitHub step) */
    snprintf(j->head_branch, sizeof j->head_branch, "%s", tc->head_branch ? tc->head_branch : "");
    snprintf(j->author_name, sizeof j->author_name, "%s", cfg->git.author_name);
    snprintf(j->author_email, sizeof j->author_email, "%s", cfg->git.author_email);
    snprintf(j->ssh_key, sizeof j->ssh_key, "%s", cfg->git.ssh_key ? cfg->git.ssh_key : "");
    /* the job's own copy, zeroed when freed; only for the forge's git host (config checks
     * it): a local forge's server never sees a token */
    const char *tok = t->prforge >= 0 ? fapi(t)->token : NULL;
    j->token = tok ? strdup(tok) : NULL;
    /* git over https: GitHub x-access-token:<token>, GitLab oauth2:<token>, Gitea the
     * token as the password (any user name) */
    j->token_user = t->prforge >= 0 ? cpgo_token_git_user((enum cpgo_prapi_forge)t->prforge) : NULL;
    j->token_gen = d->token_gen;
    j->git_timeout_s = (int)(cfg->git.timeout_ms / 1000);
    j->reopen_growth = (unsigned)tc->reopen_growth;
    snprintf(j->discovery, sizeof j->discovery, "%s", t->discovery_note);
    snprintf(j->commit_prefix, sizeof j->commit_prefix, "%s",
             tc->commit_prefix ? tc->commit_prefix : "");
    j->dry_run = d->opts.dry_run;
    if (!j->repo.host || !j->repo.path || !j->repo.url || (tok && !j->token) ||
        pgo_copy(t, &j->pgo)) {
        forge_job_free(j);
        snprintf(why, cap, "out of memory");
        return -1;
    }
    t->publishing = 1;
    t->next_publish_ms = 0;
    t->forge_job = 1;
    d->forge_running++;
    j->base.prio = 1; /* finishes the target's round */
    cpgo_workq_submit(d->q, &t->lane, &j->base);
    return 0;
}

static void pubq_drain(struct daemon *d)
{
    while (!d->stopping && d->forge_running < FORGE_RUNNING_MAX && !cpgo_list_empty(&d->pubq)) {
        struct target *t = CPGO_LIST_DATA(cpgo_list_pop_head(&d->pubq), struct target, pubq_link);
        t->in_pubq = 0;
        t->next_publish_ms = 0; /* its turn: publishing, or not at all */
        if (t->retired || !t->loaded) {
            finished(t);
            continue;
        }
        char why[600];
        if (start_forge(t, why, sizeof why)) {
            cpgo_observe_publish(t, CPGO_OUTCOME_FAILED);
            fail(t, "cannot publish", why);
            finished(t);
        }
    }
}

static void enqueue(struct target *t)
{
    struct daemon *d = t->d;
    if (t->in_pubq) return; /* coalesced: its turn publishes everything pending by then */
    if (t->publishing) {
        t->publish_again = 1;
        return;
    }
    t->in_pubq = 1;
    /* waiting for its turn: due now (or since its min_interval ended) */
    if (!t->next_publish_ms) t->next_publish_ms = cpgo_daemon_wall_ms();
    cpgo_list_push_tail(&d->pubq, &t->pubq_link);
    pubq_drain(d);
}

static void due_cb(uv_timer_t *h)
{
    struct target *t = h->data;
    if (t->d->stopping || t->retired) return;
    enqueue(t);
}

void cpgo_publish_request(struct target *t)
{
    struct daemon *d = t->d;
    if (d->stopping) return;
    if (!t->loaded || t->retired) {
        if (t->load_failed) skipped(t, NULL); /* last_error names why */
        return;
    }
    if (t->held) {
        /* a damaged state file: publishing could count something twice */
        cpgo_log(CPGO_LVL_WARN,
                 "publishing held: the target's state has a problem a person "
                 "must look at (cpgo state; then cpgo state --ack)",
                 "target", t->key, "problem", t->problem, NULL);
        skipped(t, "publishing held: state problem (see cpgo state)");
        return;
    }
    if (d->opts.output_dir) {
        dir_publish(t);
        return;
    }
    if (d->opts.once) {
        enqueue(t);
        return;
    }
    int64_t now = cpgo_daemon_wall_ms();
    int64_t interval = t->cfg ? t->cfg->min_interval_ms : 0;
    if (t->retry_soon && interval > 300000) interval = 300000; /* a transient failure */
    int64_t due = t->last_publish_ms + interval;
    if (t->last_publish_ms == 0 || now >= due || now < t->last_publish_ms) {
        enqueue(t);
        return;
    }
    if (!t->due_open) {
        uv_timer_init(&d->loop, &t->due);
        t->due.data = t;
        t->due_open = 1;
    }
    if (!uv_is_active((uv_handle_t *)&t->due)) {
        uv_timer_start(&t->due, due_cb, (uint64_t)(due - now), 0);
        t->next_publish_ms = due;
        /* info, once per deferral (not per round): why nothing is published yet, and when
         * it will be */
        char in[32], at[40];
        cpgo_duration_format(due - now, in, sizeof in);
        cpgo_observe_rfc3339(due, at, sizeof at);
        cpgo_log(CPGO_LVL_INFO, "publish deferred by min_interval", "target", t->key, "at", at,
                 "in", in, NULL);
    }
}

int cpgo_publish_idle(const struct daemon *d)
{
    return d->forge_running == 0;
}

/* ---- the git round's result (loop) ----------------------------------------------------- */

static void log_round(struct target *t, const struct cpgo_forge_result *r, const char *msg)
{
    char sc[24], inst[24], before[24], after[24];
    snprintf(sc, sizeof sc, "%" PRIu64, r->scrapes);
    snprintf(inst, sizeof inst, "%zu", r->instances);
    snprintf(before, sizeof before, "%zu", r->bytes_before);
    snprintf(after, sizeof after, "%zu", r->bytes_after);
    cpgo_log(CPGO_LVL_INFO, msg, "target", t->key, "branch", r->head_branch, "commit", r->commit,
             "path", r->path, CPGO_LOG_INT("scrapes"), sc, CPGO_LOG_INT("instances"), inst,
             CPGO_LOG_INT("bytes_before"), before, CPGO_LOG_INT("bytes_after"), after, "summary",
             r->summary, NULL);
}

/* What follows a round on the loop. */
enum after_round {
    ROUND_ENDS,      /* the publish ends with the round */
    ROUND_PR,        /* GitHub: find, create or update the pull request */
    ROUND_PROBE,     /* GitHub: look the pull request up only (probe_only says why) */
    ROUND_PR_FAILED, /* the pull-request step could not start */
};

/* Applies a round's result: the cadence, the log, the target's status; the outcome it
 * counts; what follows. */
static enum after_round round_result(struct target *t, struct forge_job *j,
                                     enum cpgo_outcome *outcome)
{
    struct daemon *d = t->d;
    struct cpgo_forge_result *r = &j->fr;
    /* the cadence counts every attempt; a transient failure retries sooner */
    t->last_publish_ms = cpgo_daemon_wall_ms();
    t->retry_soon = j->rc && cpgo_class_transient(r->gcls);
    if (r->head_branch[0]) snprintf(t->head_branch, sizeof t->head_branch, "%s", r->head_branch);
    snprintf(t->base_branch, sizeof t->base_branch, "%s", j->target_branch);
    if (r->settled) {
        cpgo_observe_settled(t, r->settled);
        char n[24];
        snprintf(n, sizeof n, "%" PRIu64, r->settled);
        cpgo_log(CPGO_LVL_INFO,
                 t->prforge >= 0 ? "pull request merged: its scrapes are published"
                                 : "branch merged: its scrapes are published",
                 "target", t->key, CPGO_LOG_INT("scrapes"), n, NULL);
    }
    if (j->rc) {
        *outcome = CPGO_OUTCOME_FAILED;
        if (d->opts.dry_run)
            dry_report(t, "would propose", r->path[0] ? r->path : j->target_file, 0, 0, r->scrapes,
                       r->instances, 1.0, 0, NULL, j->err.text, NULL);
        fail(t,
             cpgo_class_transient(r->gcls) ? "publish failed; the next round retries"
                                           : "publish failed; a person must act",
             j->err.text);
        cpgo_log(CPGO_LVL_DEBUG, "publish failure class", "target", t->key, "class",
                 cpgo_class_name(r->gcls), NULL);
        return ROUND_ENDS;
    }
    /* where it went, for --once's summary (report.c) */
    snprintf(t->pub_commit, sizeof t->pub_commit, "%s", r->commit);
    snprintf(t->pub_path, sizeof t->pub_path, "%s", r->path);
    if (d->opts.dry_run &&
        (r->outcome == CPGO_FORGE_OUT_NOTHING || r->outcome == CPGO_FORGE_OUT_UNMANAGED ||
         r->outcome == CPGO_FORGE_OUT_GATED || r->outcome == CPGO_FORGE_OUT_SAME_AS_BASE))
        dry_report(t, "would propose", r->path[0] ? r->path : j->target_file, r->bytes_before,
                   r->bytes_after, r->scrapes, r->instances, 1.0, 0, NULL,
                   r->outcome == CPGO_FORGE_OUT_NOTHING ? "nothing: no scrape pending"
                   : r->outcome == CPGO_FORGE_OUT_UNMANAGED
                       ? "nothing: a person took the open pull request over"
                   : r->outcome == CPGO_FORGE_OUT_GATED
                       ? "nothing: a pull request closed without merging still gates it"
                       : "nothing: the result equals the target branch's file",
                   NULL);
    if (r->outcome == CPGO_FORGE_OUT_NOTHING) {
        *outcome = CPGO_OUTCOME_NOTHING;
        if (r->settled || t->published_once) {
            succeeded(t);
        } else if (d->opts.once) {
            t->failed = 1;
            snprintf(t->last_error, sizeof t->last_error,
                     "nothing to publish: no scrape succeeded");
        }
        cpgo_log(CPGO_LVL_DEBUG, "nothing to publish", "target", t->key, NULL);
        return ROUND_ENDS;
    }
    if (r->outcome == CPGO_FORGE_OUT_UNMANAGED) {
        *outcome = CPGO_OUTCOME_FAILED;
        char e[900];
        snprintf(e, sizeof e,
                 "pull request #%" PRIu64 " was taken over by a person (the cpgo marker was "
                 "removed): its branch %s is left alone while it is open",
                 t->fs.unmanaged_pr, t->head_branch);
        fail(t, "publish skipped", e);
        if (t->prforge < 0 || !fapi(t)->client) return ROUND_ENDS;
        t->probe_only = 2; /* given back or closed? */
        return ROUND_PROBE;
    }
    if (r->outcome == CPGO_FORGE_OUT_GATED) {
        *outcome = CPGO_OUTCOME_GATED;
        succeeded(t);
        char n[24], need[24], pr[24];
        snprintf(n, sizeof n, "%" PRIu64, r->scrapes);
        snprintf(need, sizeof need, "%" PRIu64,
                 t->fs.closed_scrapes + t->fs.closed_scrapes * (uint64_t)j->reopen_growth / 100);
        snprintf(pr, sizeof pr, "%" PRIu64, t->fs.closed_pr);
        cpgo_log(CPGO_LVL_INFO,
                 "the last pull request was closed without merging: no new one until pending "
                 "scrapes reach the threshold",
                 "target", t->key, CPGO_LOG_INT("closed_pr"), pr, CPGO_LOG_INT("pending_scrapes"),
                 n, CPGO_LOG_INT("threshold"), need, NULL);
        if (t->prforge < 0 || !fapi(t)->client) return ROUND_ENDS;
        t->probe_only = 1; /* a person may have reopened it: one lookup tells, and lifts the gate */
        return ROUND_PROBE;
    }
    if (r->outcome >= CPGO_FORGE_OUT_SMALL_CHANGE || r->bytes_after)
        snprintf(t->last_change, sizeof t->last_change, "%s", r->change);
    if (r->go_note[0])
        cpgo_log(CPGO_LVL_WARN, "verify_with_go: go tool preprofile was not run", "target", t->key,
                 "why", r->go_note, NULL);
    if (r->outcome == CPGO_FORGE_OUT_SMALL_CHANGE) {
        /* nothing pushed, nothing lost: the scrapes stay pending for the next publish */
        *outcome = CPGO_OUTCOME_SMALL_CHANGE;
        succeeded(t);
        cpgo_log(CPGO_LVL_INFO, "not published: the change is below min_change", "target", t->key,
                 "path", r->path, "change", r->change, NULL);
        if (d->opts.dry_run)
            dry_report(t, "would propose", r->path, r->bytes_before, r->bytes_after, r->scrapes,
                       r->instances, r->decay, r->age_s, r->change,
                       "nothing: the change is below min_change", NULL);
        return ROUND_ENDS;
    }
    if (r->outcome == CPGO_FORGE_OUT_DRY_RUN) {
        *outcome = CPGO_OUTCOME_DRY_RUN;
        succeeded(t);
        char where[2400];
        snprintf(where, sizeof where, "%s on branch %s (base %s)", r->path, r->head_branch,
                 j->target_branch);
        dry_report(t, "would propose", where, r->bytes_before, r->bytes_after, r->scrapes,
                   r->instances, r->decay, r->age_s, r->change,
                   t->prforge >= 0 ? "would push and open or update the pull request"
                                   : "would push",
                   r->body);
        return ROUND_ENDS;
    }
    if (r->outcome == CPGO_FORGE_OUT_SAME_AS_BASE) {
        *outcome = CPGO_OUTCOME_SAME_AS_BASE;
        succeeded(t);
        cpgo_log(CPGO_LVL_INFO, "the merged profile equals the target branch's: nothing to propose",
                 "target", t->key, NULL);
        return ROUND_ENDS;
    }
    int pushed = r->outcome == CPGO_FORGE_OUT_PUSHED; /* else unchanged */
    *outcome = pushed ? CPGO_OUTCOME_PUSHED : CPGO_OUTCOME_UNCHANGED;
    if (pushed) t->publishes++;
    if (t->prforge < 0) {
        succeeded(t);
        log_round(t, r, pushed ? "published: branch updated" : "published: branch up to date");
        return ROUND_ENDS;
    }
    log_round(t, r, pushed ? "pushed" : "branch up to date");
    t->pr_title = strdup(r->title);
    t->pr_body = r->body;
    r->body = NULL;
    t->pr_scrapes = r->scrapes;
    t->find_retried = 0;
    if (!t->pr_title || !t->pr_body) {
        fail(t, "cannot publish", "out of memory");
        return ROUND_PR_FAILED;
    }
    return ROUND_PR;
}

static void gh_end(struct target *t, enum cpgo_outcome outcome);

static void forge_done(struct cpgo_job *job, int canceled)
{
    struct forge_job *j = CPGO_JOB_DATA(job, struct forge_job, base);
    struct target *t = j->t;
    struct daemon *d = t->d;
    if (canceled) {
        j->rc = cpgo_err_set(&j->err, CPGO_E_IO, "canceled at shutdown");
    } else if (t->ts) {
        t->fs = j->fs;
        t->pending_scrapes = j->pending_scrapes;
    }
    assert(d->forge_running > 0);
    d->forge_running--;
    t->forge_job = 0;
    if (j->rc && j->fr.gcls == CPGO_CLASS_AUTH && app_mode(t) && d->app.app)
        cpgo_ghapp_invalidate(d->app.app, t->owner, t->repo); /* git refused it: a new one next */
    enum cpgo_outcome outcome = CPGO_OUTCOME_NONE;
    enum after_round next = round_result(t, j, &outcome);
    cpgo_observe_publish(t, outcome);
    forge_job_free(j);
    switch (next) {
    case ROUND_ENDS:
        finished(t);
        break;
    case ROUND_PR_FAILED:
        gh_end(t, CPGO_OUTCOME_FAILED);
        break;
    case ROUND_PR:
    case ROUND_PROBE:
        t->publishing = 1; /* the GitHub step is part of this publish */
        gh_find(t);
        break;
    }
    pubq_drain(d);
    cpgo_daemon_progress(d);
}

/* ---- the pull request (loop) ----------------------------------------------------------- */

/* The end of the pull-request step: the one place that counts its outcome. */
static void gh_end(struct target *t, enum cpgo_outcome outcome)
{
    struct daemon *d = t->d;
    cpgo_observe_publish(t, outcome);
    if (t->gh_steps) {
        assert(fapi(t)->busy > 0);
        fapi(t)->busy--;
        t->gh_steps = 0;
    }
    finished(t);
    pubq_drain(d);
    cpgo_daemon_progress(d);
}

static void gh_find(struct target *t);
static void app_retry_cb(const struct cpgo_ghapp_token *tok, void *arg);

static void gh_fail(struct target *t, struct cpgo_prapi_result *res)
{
    t->probe_only = 0;
    /* a pushed branch without its pull request should not wait a whole min_interval */
    t->retry_soon = res->cls == CPGO_CLASS_TRANSIENT || res->cls == CPGO_CLASS_RATE_LIMITED ||
                    res->cls == CPGO_CLASS_CANCELED || res->cls == CPGO_CLASS_INTERNAL_RETRY;
    if (res->cls == CPGO_CLASS_CANCELED && t->d->stopping) {
        cpgo_log(CPGO_LVL_INFO,
                 "pull request step abandoned at shutdown; the next start resumes it", "target",
                 t->key, NULL);
        gh_end(t, CPGO_OUTCOME_NONE);
        return;
    }
    if (res->cls == CPGO_CLASS_AUTH && app_mode(t) && t->d->app.app)
        /* the installation token was revoked or expired early: never used again */
        cpgo_ghapp_invalidate(t->d->app.app, t->owner, t->repo);
    if (res->cls == CPGO_CLASS_AUTH && app_mode(t) && t->d->app.app && !t->app_retried) {
        /* a new one, once in this publish */
        t->app_retried = 1;
        cpgo_log(CPGO_LVL_WARN, "GitHub refused the installation token: minting a new one",
                 "target", t->key, NULL);
        if (!cpgo_ghapp_get_token(t->d->app.app, t->owner, t->repo, app_retry_cb, t)) return;
    }
    if (res->cls == CPGO_CLASS_AUTH && app_mode(t)) {
        fail(t, "GitHub refused a new installation token too: the next round mints another",
             res->error);
    } else if (res->cls == CPGO_CLASS_AUTH) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "%s rejected the token: all %s work stopped until the token is replaced "
                 "(SIGHUP reads it again) or cpgo restarts",
                 forge_name(t), forge_name(t));
        fail(t, msg, res->error);
    } else
        fail(t, "pull request failed", res->error);
    gh_end(t, CPGO_OUTCOME_FAILED);
}

static void set_pr(struct target *t, const struct cpgo_prapi_pr *pr)
{
    t->fs.pr_number = pr->number;
    snprintf(t->fs.pr_url, sizeof t->fs.pr_url, "%s", pr->html_url ? pr->html_url : "");
}

static void log_pr(struct target *t, const char *msg, const struct cpgo_prapi_pr *pr)
{
    char n[24];
    snprintf(n, sizeof n, "%" PRIu64, pr->number);
    cpgo_log(CPGO_LVL_INFO, msg, "target", t->key, CPGO_LOG_INT("pr"), n, "url",
             pr->html_url ? pr->html_url : "", NULL);
}

/* Options the forge did not take (a missing label, a reviewer who cannot review, auto-merge
 * not allowed): reported, not fatal. */
static void note_warning(struct target *t, const struct cpgo_prapi_result *res)
{
    snprintf(t->pr_warning, sizeof t->pr_warning, "%s", res->warning);
    if (res->warning[0])
        cpgo_log(CPGO_LVL_WARN, "pull request options not all applied", "target", t->key, "warning",
                 res->warning, NULL);
}

static void on_update(struct cpgo_prapi_result *res, void *arg)
{
    struct target *t = arg;
    if (res->cls != CPGO_CLASS_OK) {
        gh_fail(t, res);
        return;
    }
    note_warning(t, res);
    set_pr(t, &res->pr);
    log_pr(t, "pull request updated", &res->pr);
    succeeded(t);
    save_note(t);
    gh_end(t, CPGO_OUTCOME_PR_UPDATED);
}

static void on_create(struct cpgo_prapi_result *res, void *arg)
{
    struct target *t = arg;
    if (res->cls == CPGO_CLASS_EXISTS && !t->find_retried) {
        /* opened meanwhile (by an earlier attempt or a person): look it up */
        t->find_retried = 1;
        gh_find(t);
        return;
    }
    if (res->cls != CPGO_CLASS_OK) {
        gh_fail(t, res);
        return;
    }
    note_warning(t, res);
    set_pr(t, &res->pr);
    t->fs.closed_pr = 0;
    t->fs.closed_scrapes = 0;
    t->fs.released = 0;
    log_pr(t,
           res->recovered ? "pull request opened (found after an ambiguous failure)"
                          : "pull request opened",
           &res->pr);
    succeeded(t);
    save_note(t);
    gh_end(t, CPGO_OUTCOME_PR_OPENED);
}

static void gh_create(struct target *t)
{
    const struct cpgo_target_cfg *tc = t->cfg;
    struct cpgo_prapi_new_pr np = {
        .title = t->pr_title,
        .head_branch = t->head_branch,
        .base = t->base_branch,
        .body = t->pr_body,
    };
    if (tc) {
        /* the options, each an optional step of the creation: a missing label is reported,
         * not fatal */
        np.draft = tc->draft;
        np.auto_merge = tc->auto_merge;
        np.labels = (struct cpgo_prapi_names){(const char *const *)tc->labels, tc->nlabels};
        np.reviewers =
            (struct cpgo_prapi_names){(const char *const *)tc->reviewers, tc->nreviewers};
        np.assignees =
            (struct cpgo_prapi_names){(const char *const *)tc->assignees, tc->nassignees};
    }
    if (!fapi(t)->client ||
        cpgo_prapi_create_pr(fapi(t)->client, t->owner, t->repo, &np, on_create, t)) {
        fail(t, "pull request failed", "cannot start the request");
        gh_end(t, CPGO_OUTCOME_FAILED);
    }
}

static void on_find(struct cpgo_prapi_result *res, void *arg)
{
    struct target *t = arg;
    if (res->cls != CPGO_CLASS_OK) {
        gh_fail(t, res);
        return;
    }
    const struct cpgo_prapi_pr *pr = &res->pr;
    char n[24];
    snprintf(n, sizeof n, "%" PRIu64, pr->number);
    if (t->probe_only == 2) {
        /* the taken-over pull request: still open without the marker? */
        t->probe_only = 0;
        int mine = res->found && pr->open && cpgo_prapi_body_has_marker(pr->body, t->key);
        if (!res->found || !pr->open || mine) {
            t->fs.unmanaged_pr = 0;
            if (res->found && !pr->open && !pr->merged) {
                /* closed by the person who had it: as any closed one, no new pull request
                 * until pending has grown */
                t->fs.closed_pr = pr->number;
                t->fs.closed_scrapes = t->pending_scrapes;
                t->fs.released = 0;
            }
            save_note(t);
            cpgo_log(CPGO_LVL_INFO, "the taken-over pull request is no longer a person's", "target",
                     t->key, CPGO_LOG_INT("pr"), n, "state",
                     !res->found  ? "gone"
                     : mine       ? "marker back"
                     : pr->merged ? "merged"
                                  : "closed",
                     NULL);
            t->publish_again = 1;
        }
        gh_end(t, CPGO_OUTCOME_NONE);
        return;
    }
    if (t->probe_only) {
        t->probe_only = 0;
        if (res->found && pr->open && cpgo_prapi_body_has_marker(pr->body, t->key)) {
            set_pr(t, pr);
            t->fs.closed_pr = 0;
            t->fs.closed_scrapes = 0;
            t->fs.released = 0;
            save_note(t);
            cpgo_log(CPGO_LVL_INFO,
                     "the closed pull request was reopened: it is updated from the next round",
                     "target", t->key, CPGO_LOG_INT("pr"), n, NULL);
            t->publish_again = 1; /* the next due time publishes into it */
        }
        gh_end(t, CPGO_OUTCOME_NONE);
        return;
    }
    if (res->found && pr->open) {
        if (!cpgo_prapi_body_has_marker(pr->body, t->key)) {
            /* a person's pull request from cpgo's branch name: theirs, not ours */
            char e[800];
            snprintf(e, sizeof e,
                     "pull request #%s from branch %s is not cpgo's (its body lacks the cpgo "
                     "marker): left alone",
                     n, t->head_branch);
            /* no more pushes to its branch while it stays open and unmarked */
            t->fs.unmanaged_pr = pr->number;
            save_note(t);
            fail(t, "pull request not managed by cpgo", e);
            gh_end(t, CPGO_OUTCOME_FAILED);
            return;
        }
        set_pr(t, pr);
        if (pr->body && !strcmp(pr->body, t->pr_body)) {
            log_pr(t, "pull request up to date", pr);
            succeeded(t);
            save_note(t);
            gh_end(t, CPGO_OUTCOME_PR_CURRENT);
            return;
        }
        /* labels ride along where the forge adds them in the same request (GitLab) */
        struct cpgo_prapi_edit ed = {.body = t->pr_body};
        if (t->cfg) ed.auto_merge = t->cfg->auto_merge;
        if (t->cfg)
            ed.labels =
                (struct cpgo_prapi_names){(const char *const *)t->cfg->labels, t->cfg->nlabels};
        if (cpgo_prapi_update_pr(fapi(t)->client, t->owner, t->repo, pr->number, &ed, on_update,
                                 t)) {
            fail(t, "pull request failed", "cannot start the update");
            gh_end(t, CPGO_OUTCOME_FAILED);
        }
        return;
    }
    if (res->found && !pr->open && !pr->merged && cpgo_prapi_body_has_marker(pr->body, t->key)) {
        if (t->fs.closed_pr != pr->number) {
            /* closed by a person: respect it until pending has grown materially */
            t->fs.closed_pr = pr->number;
            t->fs.closed_scrapes = t->pr_scrapes;
            t->fs.released = 0;
            t->fs.pr_number = 0;
            t->fs.pr_url[0] = 0;
            char g[24];
            snprintf(g, sizeof g, "%d", t->cfg ? t->cfg->reopen_growth : 100);
            cpgo_log(CPGO_LVL_WARN,
                     "pull request was closed without merging: not reopened; a new one waits "
                     "until pending scrapes grow by reopen_growth percent",
                     "target", t->key, CPGO_LOG_INT("pr"), n, CPGO_LOG_INT("reopen_growth"), g,
                     NULL);
            succeeded(t);
            save_note(t);
            gh_end(t, CPGO_OUTCOME_PR_CLOSED);
            return;
        }
        if (!t->fs.released) {
            succeeded(t);
            gh_end(t, CPGO_OUTCOME_NONE);
            return;
        }
    }
    gh_create(t);
}

static void gh_find(struct target *t)
{
    if (!t->gh_steps) fapi(t)->busy++;
    t->gh_steps = 1;
    struct cpgo_prapi_client *c = fapi(t)->client;
    if (!c || cpgo_prapi_find_pr(c, t->owner, t->repo, NULL, t->head_branch, t->base_branch,
                                 on_find, t)) {
        fail(t, "pull request failed", "cannot start the lookup");
        gh_end(t, CPGO_OUTCOME_FAILED);
    }
}

/* The token minted again after a 401 on the pull-request step: the step starts over. */
static void app_retry_cb(const struct cpgo_ghapp_token *tok, void *arg)
{
    struct target *t = arg;
    struct daemon *d = t->d;
    struct forge_api *fa = NULL;
    if (tok->cls == CPGO_CLASS_OK && !d->stopping)
        fa = app_api(d, (uint64_t)tok->installation_id, tok->token, tok->expires_at);
    if (!fa || fa != t->app_fa) {
        fail(t, "pull request failed",
             tok->cls != CPGO_CLASS_OK ? tok->error
                                       : "the GitHub App installation changed: the next round "
                                         "publishes");
        gh_end(t, d->stopping ? CPGO_OUTCOME_NONE : CPGO_OUTCOME_FAILED);
        return;
    }
    gh_find(t);
}

void cpgo_publish_app_reload(struct daemon *d, char *pem, size_t len, int changed)
{
    struct daemon_app *a = &d->app;
    if (pem) {
        if (a->app && !changed) {
            struct cpgo_err e;
            if (cpgo_ghapp_set_key(a->app, pem, len, &e))
                cpgo_log(CPGO_LVL_ERROR,
                         "the reloaded GitHub App key is refused; keeping the "
                         "one in use",
                         "error", e.text, NULL);
        }
        cpgo_ghapp_key_free(a->pem, a->pem_len);
        a->pem = pem;
        a->pem_len = len;
    }
    if (changed && a->app) {
        /* another app, installation or API: made again when a target next needs it; its
         * waiting requests end canceled and their targets retry */
        cpgo_ghapp_close(a->app, NULL, NULL);
        a->app = NULL;
        for (size_t i = 0; i < a->n; i++)
            if (a->fa[i].client) a->fa[i].stale = 1;
    }
}

/* ---- lifecycle ------------------------------------------------------------------------- */

void cpgo_publish_close(struct daemon *d)
{
    for (struct target *t = d->targets; t; t = t->next)
        if (t->due_open) {
            t->due_open = 0;
            uv_close((uv_handle_t *)&t->due, NULL);
        }
    for (struct cpgo_list_node *n; (n = cpgo_list_pop_head(&d->pubq));)
        CPGO_LIST_DATA(n, struct target, pubq_link)->in_pubq = 0;
    for (int f = 0; f < CPGO_PRAPI_NFORGES; f++)
        if (d->fa[f].client) {
            d->fa[f].closing = 1;
            cpgo_prapi_client_close(d->fa[f].client, NULL, NULL);
            d->fa[f].client = NULL;
        }
    struct daemon_app *a = &d->app;
    if (a->app) {
        cpgo_ghapp_close(a->app, NULL, NULL); /* waiting targets are answered CANCELED */
        a->app = NULL;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->fa[i].client) {
            a->fa[i].closing = 1;
            cpgo_prapi_client_close(a->fa[i].client, NULL, NULL);
            a->fa[i].client = NULL;
        }
        if (a->fa[i].token) {
            explicit_bzero(a->fa[i].token, strlen(a->fa[i].token));
            free(a->fa[i].token);
            a->fa[i].token = NULL;
        }
    }
}
