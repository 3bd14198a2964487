/*
 * outdir.h - the directory publisher (`cpgo run --output DIR`): each target's file is
 * DIR/<repository host>/<repository path>/<target_branch>/<target_file>; the file already
 * there is the existing profile, and the new one is existing + pending, trimmed, written
 * atomically. Pending is cleared only once the file is safely written (state.h protocol).
 *
 * DIR is a trust boundary: other people or processes may write below it. DIR itself is
 * opened as given (a symlink there is the user's choice), but every component below it is
 * opened relative to its parent's descriptor without following a symlink (base/file.h),
 * and the file must be a regular file. A planted `DIR/github.com -> /victim` or a FIFO as
 * the output file fails the publish with an error naming the path and the component;
 * nothing is written outside DIR and no thread blocks.
 *
 * Owns: nothing beyond the call (descriptors are closed before it returns).
 * Thread: a target's work-queue lane.
 */
#ifndef CPGO_PUBLISH_OUTDIR_H
#define CPGO_PUBLISH_OUTDIR_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "merge/merge.h"
#include "publish/candidate.h"
#include "state/state.h"

struct cpgo_publish_info {
    size_t bytes_before; /* 0 when there was no file */
    size_t bytes_after;
    uint64_t scrapes; /* scrapes folded in by this publish */
    size_t instances; /* distinct instances they came from */
    int unchanged;    /* the result equals the existing file: nothing written */
    int nothing;      /* no pending scrapes: nothing to publish */
    int small_change; /* below `min_change`: nothing written, pending kept (change says why) */
    double decay;     /* what the existing samples were scaled by */
    int64_t age_s;    /* the existing file's age (its stamp, else its mtime) */
    double tvd;       /* the edge change, 0..1 */
    size_t hot_added, hot_removed;
    char change[256];
    char go_note[256];   /* verify_with_go could not run go: why ("" = ran or off) */
    struct cpgo_buf out; /* dry run: what would be written (caller frees) */
};

/* What a directory publish does with a target (copied by the job). */
struct cpgo_outdir_req {
    struct cpgo_merge_opts mo;
    struct cpgo_limits lim;
    struct cpgo_pgo_policy pgo; /* strings borrowed for the call */
    int64_t now_s;              /* 0 = cpgo_candidate_now() */
    int dry_run;                /* build and report; create, write and record nothing */
};

/* Builds the output path; CPGO_E_INPUT if a component would escape DIR. */
int cpgo_outdir_path(const char *dir, const char *host, const char *repo_path, const char *branch,
                     const char *file, char *buf, size_t cap, struct cpgo_err *err);

/* The layout must be injective: refuses two targets whose output paths are the same file,
 * or whose paths make one target's file a directory of another's (repository acme/svc with
 * branch x/y and repository acme/svc/x with branch y land on the same file). paths[i] is
 * target keys[i]'s path (cpgo_outdir_path). Returns 0 or CPGO_E_INPUT, the error naming
 * both targets and the path. */
int cpgo_outdir_check_layout(size_t n, const char *const *keys, const char *const *paths,
                             struct cpgo_err *err);

/* Publishes pending into `path`, which cpgo_outdir_path built from `dir`: the part below
 * `dir` is resolved without following links (see above). The file is the candidate
 * (candidate.h) of the existing file there and pending: decayed by the existing file's age
 * (its stamp, else its mtime), `no_inline` renamed, stamped, checked as Go's PGO reads it,
 * and not written when below `min_change` against the existing file. */
int cpgo_outdir_publish(struct cpgo_tstate *ts, const char *dir, const char *path,
                        const struct cpgo_outdir_req *req, struct cpgo_publish_info *info,
                        struct cpgo_err *err);

#endif
