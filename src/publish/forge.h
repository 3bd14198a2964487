/*
 * forge.h - one publishing round of a target to its git repository: the part of a forge
 * publish that runs on the work queue. The GitHub pull request (github.h) is the loop's
 * part, after this.
 *
 * A round is nine named steps, in order (forge.c has one function per step):
 *   fetch     target_branch and the head branch (cpgo_gitrepo_fetch);
 *   find      the existing profile on target_branch (path, or the unique match of a bare
 *             name; several matches, a directory or a symlink are permanent errors);
 *   settle    if the file has been a blob cpgo pushed, at any of the target branch's newest
 *             CPGO_FORGE_HISTORY commits, the pending scrapes that push held are published
 *             (state.h, segments) -- this is how a merged pull request is noticed, with any
 *             merge method (the file's bytes are what was pushed), even if the file changed
 *             since;
 *   gate      nothing pending -> done (nothing); a person took the open pull request over ->
 *             done (unmanaged); a pull request closed without merging and pending not yet
 *             grown by `reopen_growth_pct` -> done (gated);
 *   foreign check  the head branch must be cpgo's: its tip is the commit cpgo pushed last,
 *             or a commit by cpgo's committer carrying this target's Cpgo-Target trailer
 *             (then it is rewritten whatever base it sits on), or one cpgo commit on the
 *             base; a tip of another target is a configuration error; anything else is left
 *             alone and reported (CPGO_CLASS_FOREIGN);
 *   validate  decode the existing file: not a profile is a permanent error for the target
 *             (CPGO_CLASS_CONTENT): nothing is pushed; without cpgo's stamp, its age is the
 *             time of the last commit that changed it (for decay);
 *   merge     the candidate (candidate.h): decay(existing) + every pending segment + fresh
 *             scrapes, trimmed, `no_inline` renamed, stamped, checked as Go's PGO reads it
 *             (a candidate Go would reject or ignore is a permanent error); its edge change
 *             against the head branch's file (or the target branch's): below `min_change`
 *             -> done (small change; pending stays); the summary line and the Markdown body
 *             (prbody.h); a dry run ends here (dry run: nothing recorded or pushed);
 *   record    the push, durably, before it happens (cpgo_state_push_begin);
 *   push      one commit on the tip of target_branch whose only change is the file
 *             (cpgo_gitrepo_publish). Nothing is pushed when the head branch already is
 *             that commit's tree on that base.
 * The outcome is one enum value (struct cpgo_forge_result); forge.c asserts the
 * exactly-once invariants between the steps.
 *
 * Thread: a target's work-queue lane (blocking: network, files, CPU). Owns nothing beyond
 * the call; the result's body is malloc'd for the caller.
 */
#ifndef CPGO_PUBLISH_FORGE_H
#define CPGO_PUBLISH_FORGE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "merge/merge.h"
#include "profile/codec.h"
#include "base/buf.h"
#include "publish/candidate.h"
#include "publish/gitrepo.h"
#include "state/state.h"

#define CPGO_FORGE_HISTORY 1000 /* target-branch commits searched for a landed push */

struct cpgo_forge_req {
    const char *target_key;
    const char *target_id; /* written as the commits' Cpgo-Target trailer */
    const char *target_branch;
    const char *target_file;
    const char *head_branch; /* NULL: cpgo/<target_branch>/<the profile's path> */
    struct cpgo_merge_opts mo;
    struct cpgo_limits lim;      /* for the existing file too */
    struct cpgo_git_ident ident; /* author and committer */
    unsigned reopen_growth_pct;  /* closed-PR gate, see the gate step */
    const char *discovery;       /* services' last round, for the body (NULL = none) */
    struct cpgo_pgo_policy pgo;  /* the target's `pgo:` (its strings borrowed for the call) */
    int64_t now_s;               /* the publish clock; 0 = cpgo_candidate_now() */
    int dry_run;                 /* stop after the body: nothing recorded, nothing pushed */
    const char *commit_prefix;   /* begins the commit subject and title; NULL = "cpgo: " */
};

/* How a round ended: exactly one, CPGO_FORGE_OUT_FAILED if and only if it returned an error. */
enum cpgo_forge_outcome {
    CPGO_FORGE_OUT_FAILED = 0,   /* see the error, `gcls` and `step` */
    CPGO_FORGE_OUT_NOTHING,      /* nothing pending (after settling) */
    CPGO_FORGE_OUT_GATED,        /* waiting after a pull request closed without merging */
    CPGO_FORGE_OUT_UNMANAGED,    /* a person took the open pull request over: branch left alone */
    CPGO_FORGE_OUT_PUSHED,       /* a commit was pushed */
    CPGO_FORGE_OUT_UNCHANGED,    /* the head branch already had this content */
    CPGO_FORGE_OUT_SAME_AS_BASE, /* the new file equals target_branch's: nothing to propose */
    CPGO_FORGE_OUT_SMALL_CHANGE, /* below `min_change`: nothing pushed, pending kept */
    CPGO_FORGE_OUT_DRY_RUN,      /* a dry run built the candidate (out, body): nothing else */
};

struct cpgo_forge_result {
    enum cpgo_forge_outcome outcome;
    const char *step; /* the step that failed ("fetch", "find", "settle", "gate", "foreign
                         check", "validate", "merge", "record", "push"); NULL otherwise */
    int created;      /* the file does not exist on target_branch yet */
    uint64_t settled; /* scrapes published because the base now has a pushed blob (also
                         when a later step failed) */
    uint64_t scrapes; /* scrapes in this proposal (pending) */
    size_t instances;
    size_t bytes_before, bytes_after;
    char path[1024]; /* the profile's path in the repository */
    char head_branch[512];
    char commit[CPGO_GIT_ID_SIZE];
    char blob[CPGO_GIT_ID_SIZE];
    char base[CPGO_GIT_ID_SIZE];
    char summary[256];    /* one line (the commit's subject) */
    char title[256];      /* the pull request's title */
    char *body;           /* the pull request's Markdown body (malloc'd), or NULL */
    enum cpgo_class gcls; /* of a failure; CPGO_CLASS_OK otherwise */
    /* the candidate (merge step on) */
    double decay;  /* what the existing samples were scaled by (1 = none) */
    int64_t age_s; /* the existing file's age */
    double tvd;    /* edge change, 0..1 */
    size_t hot_added, hot_removed;
    char change[256];    /* the edge change in words (and why a small one was not pushed) */
    char go_note[256];   /* verify_with_go could not run go (no usable go): why; "" = ran or off */
    struct cpgo_buf out; /* dry run: the file that would be pushed */
};
void cpgo_forge_result_free(struct cpgo_forge_result *r);

/* 0, or a CPGO_E_* code with err naming the repository and branch or file; r->gcls tells
 * whether retrying can help (cpgo_class_transient). */
int cpgo_forge_round(struct cpgo_tstate *ts, struct cpgo_gitrepo *g,
                     const struct cpgo_forge_req *req, struct cpgo_forge_result *r,
                     struct cpgo_err *err);

#endif
