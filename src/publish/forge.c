/*
 * forge.c - see forge.h for what a round does and in which order.
 *
 * The round is a fixed sequence of named steps over one struct round, as curl's
 * lib/multi.c runs its transfer state machine as multistate_* functions: each step reads
 * what the steps before it left in the round and returns
 *   STEP_NEXT         go on with the next step,
 *   STEP_DONE         the outcome is decided (set in the result) and nothing failed,
 *   a CPGO_E_* code   the round failed (the result's gcls says whether retrying helps).
 * The driver (cpgo_forge_round) runs the steps in order and frees what they left; no step
 * jumps, and only the push step talks to the head branch's remote.
 *
 * The exactly-once invariants, asserted where they hold:
 *   - after settle, no blob recorded for a push is the base file's blob: a segment whose
 *     push is in the base branch is published and gone, so the proposal (base file +
 *     segments + fresh) cannot count it twice;
 *   - the record step runs only with something pending: nothing is pushed when nothing is
 *     pending;
 *   - the push step pushes only a blob that the state has recorded (cpgo_state_push_begin
 *     has returned), and git pushes exactly that blob: a crash after the push cannot count
 *     the scrapes it holds twice;
 *   - a round ends with exactly one outcome, CPGO_FORGE_OUT_FAILED if and only if it
 *     returns an error.
 */
#include "publish/forge.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/config.h"
#include "profile/summary.h"
#include "publish/candidate.h"
#include "publish/prbody.h"

#define STEP_NEXT 0
#define STEP_DONE 1

#define MAX_PUSHED_BLOBS (CPGO_STATE_MAX_SEGS * CPGO_STATE_MAX_BLOBS)

/* Everything one round carries from step to step. */
struct round {
    /* borrowed for the call */
    struct cpgo_tstate *ts;
    struct cpgo_gitrepo *g;
    const struct cpgo_forge_req *req;
    struct cpgo_forge_result *r;
    struct cpgo_err *err;
    /* the existing file and the result merge many scrapes: the per-scrape limits do not
     * bound them */
    struct cpgo_limits mlim;
    struct cpgo_git_tips tips;   /* fetch */
    struct cpgo_git_file f;      /* find: the existing profile (owned) */
    struct cpgo_state_meta meta; /* gate: what pending holds */
    struct cpgo_state_forge fs;  /* gate: the forge record */
    int ours;                    /* foreign check: the head branch's tip is this target's */
    /* validate, merge (owned) */
    struct cpgo_profile *old;  /* the target branch's file */
    int64_t old_changed_s;     /* its last commit's time (when it has no stamp) */
    struct cpgo_git_file prop; /* the head branch's file: what cpgo proposes now */
    struct cpgo_profile *proposed;
    struct cpgo_candidate c; /* the new file (c.out) and what changed */
    int recorded;            /* record: cpgo_state_push_begin returned for r->blob */
};

void cpgo_forge_result_free(struct cpgo_forge_result *r)
{
    free(r->body);
    r->body = NULL;
    cpgo_buf_free(&r->out);
}

static int git_failed(struct round *rd, int rc)
{
    rd->r->gcls = cpgo_gitrepo_last_class(rd->g);
    if (rd->r->gcls == CPGO_CLASS_OK) rd->r->gcls = CPGO_CLASS_INTERNAL_RETRY;
    return rc;
}

static int local_failed(struct round *rd, int rc)
{
    rd->r->gcls = CPGO_CLASS_LOCAL;
    return rc;
}

/* A profile that cannot be made is the content's fault, unless memory or the disk ran out. */
static int content_failed(struct round *rd, int rc)
{
    rd->r->gcls = rc == CPGO_E_NOMEM || rc == CPGO_E_IO ? CPGO_CLASS_LOCAL : CPGO_CLASS_CONTENT;
    return rc;
}

static int done(struct round *rd, enum cpgo_forge_outcome o)
{
    rd->r->outcome = o;
    return STEP_DONE;
}

/* The head branch: configured, or cpgo/<target_branch>/<the profile's path> (config's one
 * rule). A default name that does not fit is refused, never cut. */
static int name_head_branch(struct round *rd, const char *path)
{
    struct cpgo_forge_result *r = rd->r;
    if (rd->req->head_branch) {
        snprintf(r->head_branch, sizeof r->head_branch, "%s", rd->req->head_branch);
        return 0;
    }
    if (cpgo_config_head_branch(rd->req->target_branch, path, r->head_branch,
                                sizeof r->head_branch))
        return content_failed(rd, cpgo_err_set(rd->err, CPGO_E_INPUT,
                                               "the default head branch is too long for the "
                                               "profile's path (set head_branch): %s",
                                               path));
    return 0;
}

/* 1 when `blob` is among the blobs the state recorded for pushes. */
static inline int blob_recorded(const struct cpgo_tstate *ts, const char *blob)
{
    char blobs[MAX_PUSHED_BLOBS][CPGO_STATE_BLOB_SIZE];
    size_t nb = cpgo_state_pushed_blobs(ts, blobs, MAX_PUSHED_BLOBS);
    for (size_t i = 0; i < nb; i++)
        if (!strcmp(blobs[i], blob)) return 1;
    return 0;
}

/* ---- the steps, in order ---------------------------------------------------------------- */

/* 1. target_branch and the head branch into the cache. The default head branch names the
 * profile's path, known only after the search: the configured file is the first guess, and
 * a profile found elsewhere costs one more (incremental) fetch in step_find. */
static int step_fetch(struct round *rd)
{
    int rc = name_head_branch(rd, rd->req->target_file);
    if (rc) return rc;
    rc = cpgo_gitrepo_fetch(rd->g, rd->req->target_branch, rd->r->head_branch, &rd->tips, rd->err);
    return rc ? git_failed(rd, rc) : STEP_NEXT;
}

/* 2. the existing profile on target_branch (or where it will be created). */
static int step_find(struct round *rd)
{
    const struct cpgo_forge_req *req = rd->req;
    struct cpgo_forge_result *r = rd->r;
    int rc = cpgo_gitrepo_find_profile(rd->g, req->target_branch, req->target_file,
                                       rd->mlim.max_compressed, &rd->f, rd->err);
    if (rc) return git_failed(rd, rc);
    snprintf(r->path, sizeof r->path, "%s", rd->f.path);
    if (!req->head_branch && strcmp(rd->f.path, req->target_file)) {
        if ((rc = name_head_branch(rd, rd->f.path))) return rc;
        rc = cpgo_gitrepo_fetch(rd->g, req->target_branch, r->head_branch, &rd->tips, rd->err);
        if (rc) return git_failed(rd, rc);
    }
    snprintf(r->base, sizeof r->base, "%s", rd->f.base[0] ? rd->f.base : rd->tips.base);
    r->created = !rd->f.found;
    return STEP_NEXT;
}

/* 3. a merged pull request shows as the base branch having held a blob cpgo pushed: the
 * segments those pushes closed are published. */
static int step_settle(struct round *rd)
{
    char blobs[MAX_PUSHED_BLOBS][CPGO_STATE_BLOB_SIZE];
    const char *ids[MAX_PUSHED_BLOBS];
    int hit[MAX_PUSHED_BLOBS];
    size_t nb = cpgo_state_pushed_blobs(rd->ts, blobs, MAX_PUSHED_BLOBS);
    for (size_t i = 0; i < nb; i++)
        ids[i] = blobs[i];
    int rc;
    if (nb && (rc = cpgo_gitrepo_path_history(rd->g, rd->req->target_branch, rd->f.path,
                                              CPGO_FORGE_HISTORY, ids, nb, hit, rd->err)))
        return git_failed(rd, rc);
    /* the file read in step_find is the base too: the history walk starts at the tip it
     * fetched last, which is that file's commit unless target_branch moved in between */
    for (size_t i = 0; i < nb; i++)
        if (rd->f.found && !strcmp(blobs[i], rd->f.blob)) hit[i] = 1;
    /* newest first: settling a segment settles every older one */
    for (size_t i = nb; i-- > 0;) {
        if (!hit[i]) continue;
        uint64_t n = 0;
        if ((rc = cpgo_state_settle(rd->ts, blobs[i], &n, rd->err))) return local_failed(rd, rc);
        rd->r->settled += n;
    }
    /* what is in the base branch is no longer pending: the proposal cannot count it twice */
    assert(!rd->f.found || !blob_recorded(rd->ts, rd->f.blob));
    return STEP_NEXT;
}

/* 4. whether to propose anything: something pending, no person in charge of the pull
 * request, and no closed pull request still gating. */
static int step_gate(struct round *rd)
{
    struct cpgo_forge_result *r = rd->r;
    if (!cpgo_state_has_pending(rd->ts)) return done(rd, CPGO_FORGE_OUT_NOTHING);
    cpgo_state_pending_meta(rd->ts, &rd->meta);
    r->scrapes = rd->meta.scrapes;
    r->instances = rd->meta.instances;
    cpgo_state_forge_get(rd->ts, &rd->fs);
    /* a person's now: the GitHub step looks whether that changed */
    if (rd->fs.unmanaged_pr) return done(rd, CPGO_FORGE_OUT_UNMANAGED);
    if (rd->fs.closed_pr && !rd->fs.released) {
        uint64_t need =
            rd->fs.closed_scrapes + rd->fs.closed_scrapes * rd->req->reopen_growth_pct / 100;
        if (rd->meta.scrapes < need || rd->meta.scrapes == 0) return done(rd, CPGO_FORGE_OUT_GATED);
        rd->fs.released = 1;
        int rc = cpgo_state_forge_put(rd->ts, &rd->fs, rd->err);
        if (rc) return local_failed(rd, rc);
    }
    return STEP_NEXT;
}

/* 5. never rewrite what a person pushed: ownership follows the head branch's tip. */
static int step_foreign_check(struct round *rd)
{
    const struct cpgo_forge_req *req = rd->req;
    struct cpgo_forge_result *r = rd->r;
    struct cpgo_git_head head;
    int rc = cpgo_gitrepo_inspect_head(rd->g, req->target_branch, r->head_branch, &req->ident,
                                       &head, rd->err);
    if (rc) return git_failed(rd, rc);
    const char *email =
        req->ident.email && *req->ident.email ? req->ident.email : CPGO_GIT_DEFAULT_EMAIL;
    rd->ours = head.exists && ((rd->fs.last_commit[0] && !strcmp(head.tip, rd->fs.last_commit)) ||
                               (req->target_id && !strcmp(head.tip_target, req->target_id) &&
                                !strcmp(head.tip_email, email)));
    if (head.exists && !rd->ours && head.tip_target[0] && req->target_id &&
        strcmp(head.tip_target, req->target_id)) {
        r->gcls = CPGO_CLASS_CONTENT;
        return cpgo_err_set(rd->err, CPGO_E_INPUT,
                            "branch '%s' belongs to another cpgo target (id %s): two targets "
                            "resolve to the same file; give one of them another target_file "
                            "or head_branch",
                            r->head_branch, head.tip_target);
    }
    if (head.foreign && !rd->ours) {
        r->gcls = CPGO_CLASS_FOREIGN;
        return cpgo_err_set(rd->err, CPGO_E_USAGE,
                            "branch '%s' has commits cpgo did not make; left alone (delete the "
                            "branch to let cpgo recreate it): %s",
                            r->head_branch, head.why);
    }
    return STEP_NEXT;
}

/* 6. the existing file must be a profile the pending scrapes merge with: else nothing is
 * pushed, and a person must look (CPGO_CLASS_CONTENT). Its age (for decay) is its stamp's;
 * without one, the time of the last commit that changed it. */
static int step_validate(struct round *rd)
{
    const struct cpgo_git_file *f = &rd->f;
    if (!f->found) return STEP_NEXT;
    rd->r->bytes_before = f->len;
    int rc = cpgo_profile_decode(f->data, f->len, &rd->mlim, &rd->old, rd->err);
    if (rc) {
        cpgo_err_prefix(rd->err, "the existing %s on branch '%s' is not a valid profile", f->path,
                        rd->req->target_branch);
        return content_failed(rd, rc == CPGO_E_NOMEM ? rc : CPGO_E_INPUT);
    }
    if (rd->req->pgo.half_life_ms > 0 && cpgo_candidate_stamp_time(rd->old->pb) < 0) {
        int found = 0;
        int64_t when = 0;
        rc = cpgo_gitrepo_last_change(rd->g, rd->req->target_branch, f->path, CPGO_FORGE_HISTORY,
                                      &found, &when, rd->err);
        if (rc) return git_failed(rd, rc);
        if (found) rd->old_changed_s = when;
    }
    return STEP_NEXT;
}

/* What cpgo proposes now (min_change compares with it): the head branch's file, when the
 * branch is this target's. Unreadable or absent: the target branch's file is compared. */
static void read_proposal(struct round *rd)
{
    if (!rd->ours || !rd->req->pgo.min_change_ppm) return; /* only min_change reads it */
    struct cpgo_err e;
    if (cpgo_gitrepo_read_file(rd->g, rd->r->head_branch, rd->f.path, rd->mlim.max_compressed,
                               &rd->prop, &e) ||
        !rd->prop.found)
        return;
    if (cpgo_profile_decode(rd->prop.data, rd->prop.len, &rd->mlim, &rd->proposed, &e))
        rd->proposed = NULL;
}

static int fold_pending(void *arg, struct cpgo_merger *m, struct cpgo_err *err)
{
    return cpgo_state_fold_pending(arg, m, err);
}

/* 7. new file = decay(existing) + every pending segment + fresh, trimmed, `no_inline`
 * renamed, stamped; checked as Go's PGO reads it; its edge change against what cpgo
 * proposes now. */
static int step_merge(struct round *rd)
{
    const struct cpgo_forge_req *req = rd->req;
    struct cpgo_forge_result *r = rd->r;
    read_proposal(rd);
    struct cpgo_candidate_in in = {
        .mo = req->mo,
        .pgo = &req->pgo,
        .lim = &rd->mlim,
        .now_s = req->now_s ? req->now_s : cpgo_candidate_now(),
        .existing = rd->old,
        .existing_changed_s = rd->old_changed_s,
        .fold = fold_pending,
        .want_top = 1,
        .fold_arg = rd->ts,
        .proposed = rd->proposed,
    };
    int rc = cpgo_candidate_build(&in, &rd->c, rd->err);
    r->decay = rd->c.decay;
    r->age_s = rd->c.age_s;
    if (rc) {
        if (rd->c.failed == CPGO_CAND_EXISTING)
            cpgo_err_prefix(rd->err, "the existing %s on branch '%s'", rd->f.path,
                            req->target_branch);
        else if (rd->c.failed == CPGO_CAND_PENDING)
            cpgo_err_prefix(rd->err,
                            "pending profiles cannot be merged with the existing %s on branch "
                            "'%s'",
                            rd->f.path, req->target_branch);
        else
            cpgo_err_prefix(rd->err, "%s on branch '%s'", rd->f.path, req->target_branch);
        return content_failed(rd, rc);
    }
    r->bytes_after = rd->c.out.len;
    r->tvd = rd->c.tvd;
    r->hot_added = rd->c.nadded;
    r->hot_removed = rd->c.nremoved;
    snprintf(r->change, sizeof r->change, "%s", rd->c.why);
    if (rd->c.go_skipped) snprintf(r->go_note, sizeof r->go_note, "%s", rd->c.go_why);
    /* min_change: nothing pushed, pending stays pending */
    if (!rd->c.worth) return done(rd, CPGO_FORGE_OUT_SMALL_CHANGE);
    struct cpgo_prbody_in bin = {
        .commit_prefix = req->commit_prefix,
        .target_key = req->target_key,
        .target_file = rd->f.path,
        .target_branch = req->target_branch,
        .scrapes = rd->meta.scrapes,
        .instances = rd->meta.instances,
        .discovery = req->discovery,
        .first_scrape = rd->meta.first,
        .last_scrape = rd->meta.last,
        .created = r->created,
        .placed = rd->f.placed,
        .bytes_before = rd->f.len,
        .bytes_after = rd->c.out.len,
        .before = rd->c.have_sb ? &rd->c.sb : NULL,
        .after = &rd->c.sa,
        .half_life_ms = req->pgo.half_life_ms,
        .decay = rd->c.decay,
        .edges_known = 1,
        .edge_change = rd->c.ref ? rd->c.tvd : -1,
        .hot_added = rd->c.added,
        .nhot_added = rd->c.nadded,
        .hot_removed = rd->c.removed,
        .nhot_removed = rd->c.nremoved,
        .no_inline = req->pgo.no_inline,
        .nno_inline = req->pgo.nno_inline,
    };
    size_t blen;
    if ((rc = cpgo_prbody_build(&bin, &r->body, &blen, rd->err))) {
        r->gcls = CPGO_CLASS_INTERNAL_RETRY;
        return rc;
    }
    if (cpgo_prbody_summary_line(&bin, r->summary, sizeof r->summary) < 0)
        snprintf(r->summary, sizeof r->summary, "%.100s%.140s",
                 req->commit_prefix && req->commit_prefix[0] ? req->commit_prefix : "cpgo: ",
                 "update the PGO profile");
    if (cpgo_prbody_title(&bin, r->title, sizeof r->title) < 0)
        snprintf(r->title, sizeof r->title, "%.100s%s",
                 req->commit_prefix && req->commit_prefix[0] ? req->commit_prefix : "cpgo: ",
                 "update the PGO profile");
    /* a dry run stops here: nothing recorded, nothing pushed */
    if (req->dry_run) {
        r->out = rd->c.out;
        memset(&rd->c.out, 0, sizeof rd->c.out);
        return done(rd, CPGO_FORGE_OUT_DRY_RUN);
    }
    return STEP_NEXT;
}

/* 8. the record before the push: a crash after the push must not count these scrapes
 * twice (state.h, segments). */
static int step_record(struct round *rd)
{
    /* step_gate stopped the round when nothing was pending */
    assert(cpgo_state_has_pending(rd->ts));
    int rc = cpgo_gitrepo_blob_id(rd->c.out.data, rd->c.out.len, rd->r->blob, rd->err);
    if (!rc) rc = cpgo_state_push_begin(rd->ts, rd->r->blob, rd->err);
    if (rc) return local_failed(rd, rc);
    rd->recorded = 1;
    return STEP_NEXT;
}

/* The commit message: the summary line, the body without its marker line and without its
 * footer about the pull request (after its "---" rule: git's trailer parsers take a "---"
 * line as the start of a patch), then the trailer naming the target (ownership,
 * collisions). NULL when out of memory. */
static char *commit_message(const struct round *rd)
{
    const struct cpgo_forge_result *r = rd->r;
    const char *b = r->body, *nl = strchr(b, '\n');
    if (nl && !strncmp(b, "<!--", 4)) b = nl + 1;
    while (*b == '\n')
        b++;
    const char *id = rd->req->target_id ? rd->req->target_id : "";
    size_t ml = strlen(r->summary) + strlen(b) + strlen(CPGO_GIT_TRAILER) + strlen(id) + 8;
    char *msg = malloc(ml);
    if (!msg) return NULL;
    const char *foot = strstr(b, "\n---\n");
    size_t bl = foot ? (size_t)(foot - b) : strlen(b);
    while (bl && b[bl - 1] == '\n')
        bl--;
    snprintf(msg, ml, "%s\n\n%.*s\n\n%s: %s\n", r->summary, (int)bl, b, CPGO_GIT_TRAILER, id);
    return msg;
}

/* 9. one commit on the tip of target_branch whose only change is the file, force-pushed
 * with a lease; nothing is pushed when the head branch already has it. */
static int step_push(struct round *rd)
{
    struct cpgo_forge_result *r = rd->r;
    /* only what the state recorded may leave: step_record ran and succeeded */
    assert(rd->recorded && blob_recorded(rd->ts, r->blob));
    char *msg = commit_message(rd);
    if (!msg) return content_failed(rd, cpgo_err_set(rd->err, CPGO_E_NOMEM, "out of memory"));
    struct cpgo_git_commit_req creq = {
        .target_branch = rd->req->target_branch,
        .head_branch = r->head_branch,
        .path = rd->f.path,
        .data = rd->c.out.data,
        .len = rd->c.out.len,
        .message = msg,
        .author = rd->req->ident,
        .committer = rd->req->ident,
        .overwrite_foreign = rd->ours, /* decided from the tip in step_foreign_check */
    };
    struct cpgo_git_publish pub;
    int rc = cpgo_gitrepo_publish(rd->g, &creq, &pub, rd->err);
    free(msg);
    if (rc) return git_failed(rd, rc);
    /* the git layer hashed the same bytes: what the branch holds is the recorded blob */
    assert(!strcmp(pub.blob, r->blob));
    assert(pub.pushed + pub.unchanged + pub.same_as_base == 1);
    snprintf(r->commit, sizeof r->commit, "%s", pub.commit);
    snprintf(r->base, sizeof r->base, "%s", pub.base);
    return done(rd, pub.pushed      ? CPGO_FORGE_OUT_PUSHED
                    : pub.unchanged ? CPGO_FORGE_OUT_UNCHANGED
                                    : CPGO_FORGE_OUT_SAME_AS_BASE);
}

static const struct {
    const char *name;
    int (*run)(struct round *rd);
} steps[] = {
    {"fetch", step_fetch},
    {"find", step_find},
    {"settle", step_settle},
    {"gate", step_gate},
    {"foreign check", step_foreign_check},
    {"validate", step_validate},
    {"merge", step_merge},
    {"record", step_record},
    {"push", step_push},
};

int cpgo_forge_round(struct cpgo_tstate *ts, struct cpgo_gitrepo *g,
                     const struct cpgo_forge_req *req, struct cpgo_forge_result *r,
                     struct cpgo_err *err)
{
    memset(r, 0, sizeof *r);
    struct round rd = {.ts = ts, .g = g, .req = req, .r = r, .err = err};
    cpgo_limits_merged(&req->lim, &rd.mlim);
    int rc = STEP_NEXT;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0] && rc == STEP_NEXT; i++) {
        r->step = steps[i].name;
        rc = steps[i].run(&rd);
    }
    /* the push step decides the outcome of a round that runs to its end */
    assert(rc != STEP_NEXT);
    if (rc < 0) {
        r->outcome = CPGO_FORGE_OUT_FAILED;
        if (r->gcls == CPGO_CLASS_OK) r->gcls = CPGO_CLASS_INTERNAL_RETRY;
    } else {
        rc = 0;
        r->step = NULL;
    }
    assert((rc != 0) == (r->outcome == CPGO_FORGE_OUT_FAILED));
    cpgo_candidate_free(&rd.c);
    cpgo_profile_free(rd.old);
    cpgo_profile_free(rd.proposed);
    cpgo_git_file_free(&rd.prop);
    cpgo_git_file_free(&rd.f);
    return rc;
}
