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

#include "base/err.h"
#include "merge/merge.h"
#include "state/state.h"

struct cpgo_publish_info {
    size_t bytes_before; /* 0 when there was no file */
    size_t bytes_after;
    uint64_t scrapes; /* scrapes folded in by this publish */
    int unchanged;    /* the result equals the existing file: nothing written */
    int nothing;      /* no pending scrapes: nothing to publish */
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
 * `dir` is resolved without following links (see above). */
int cpgo_outdir_publish(struct cpgo_tstate *ts, const char *dir, const char *path,
                        const struct cpgo_merge_opts *mo, const struct cpgo_limits *lim,
                        struct cpgo_publish_info *info, struct cpgo_err *err);

#endif
