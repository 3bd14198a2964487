/*
 * merge.h - the merge engine: folds decoded profiles, one at a time, into one accumulated
 * profile with exactly the semantics of google/pprof's profile.Merge, optionally trimming
 * for PGO on the way in.
 *
 * Semantics (see docs/ARCHITECTURE.md and shared pprof reference):
 *   - compatibility: equal period type and equal sample types in order; with `compat`, only
 *     the sample types common to all inputs are kept (matched by type name, in the first
 *     input's order), as `go tool pprof` does;
 *   - header: sample/period types and drop/keep frames from the first input; period = max;
 *     duration = sum; time = pprof's "earliest" rule; comments = de-duplicated union;
 *     default_sample_type and doc_url = first non-empty;
 *   - identity of functions, mappings, locations and samples as profile.Merge keys them,
 *     quirks included (a location's key ignores the columns of all but its last line);
 *   - all-zero input samples are skipped; samples that sum to zero are garbage-collected at
 *     the end; ids are dense, in order of first use;
 *   - values add exactly: an input that would overflow int64 anywhere (a sample value, the
 *     duration) is refused as a whole (CPGO_E_INPUT), where pprof wraps silently (a hot
 *     path would turn cold) and saturating would misweigh it just as silently.
 * With a shape (cpgo_merge_opts.shape, see profile/shape.h), compatibility is decided
 * against it instead of against the first input: every input's sample types are put in the
 * shape's order (values move with their types: lossless), an input with another set or
 * period type is refused (CPGO_E_INCOMPAT), and so is one with a negative value when the
 * shape forbids them (CPGO_E_INPUT). So no input can become a reference that refuses the
 * others. `compat` is ignored when a shape is given.
 * Trimming (struct cpgo_trim) rewrites each sample as it is added: labels dropped, stack cut
 * to the leaf-most keep_frames locations, addresses zeroed and mappings and columns dropped.
 * Every rewrite is a function of the location's content, applied to every use of it alike,
 * so a location shared by a leaf and a caller position is never changed for one of them
 * only; newly identical samples fold by the normal identity rule.
 *
 * Memory: the accumulator holds each distinct entity once; an input is only read. So memory
 * follows the size of the result, not the sum of the inputs: the daemon folds hundreds of
 * scrapes into one merger.
 * Thread: CPU work for the work queue (or the CLI). A merger has one owner at a time.
 */
#ifndef CPGO_MERGE_MERGE_H
#define CPGO_MERGE_MERGE_H

#include "base/err.h"
#include "profile/codec.h"

struct cpgo_trim {
    int drop_labels;
    int keep_frames; /* 0 = keep every frame; otherwise >= 2 */
    int strip_addresses;
};

struct cpgo_shape;

struct cpgo_merge_opts {
    int compat; /* keep the sample types common to all inputs (go tool pprof's behaviour) */
    struct cpgo_trim trim;
    const struct cpgo_shape *shape; /* NULL: pprof's rule (the first input decides); else
                                       borrowed, immutable, outlives the merger */
};

struct cpgo_merger;

/* The merged profile as a protobuf-c message that borrows the merger's memory. */
struct cpgo_merged {
    cpgo_pb_profile pb;
    void *mem[16]; /* arrays owned by this result */
    int nmem;
};

int cpgo_merge_new(struct cpgo_merger **out, const struct cpgo_merge_opts *opts);
void cpgo_merge_free(struct cpgo_merger *m);

/*
 * Folds one validated profile in. All or nothing: on any error (incompatible, overflow,
 * negative values under a shape, out of memory, too large) the merger is left exactly as
 * it was before the call, so the caller may go on with other inputs.
 */
int cpgo_merge_add(struct cpgo_merger *m, const struct cpgo_profile *p, struct cpgo_err *err);

/* Number of profiles folded in so far. */
size_t cpgo_merge_count(const struct cpgo_merger *m);
/* Number of distinct samples accumulated (0 = nothing to publish). */
size_t cpgo_merge_nsamples(const struct cpgo_merger *m);

/* Folds everything src has accumulated into dst, as if src's result were one more input.
 * src may be compacted but is otherwise unchanged. */
int cpgo_merge_add_merger(struct cpgo_merger *dst, struct cpgo_merger *src, struct cpgo_err *err);

/*
 * Finishes: garbage-collects zero samples and entities no sample uses (a merge of the
 * result with itself, as pprof's Compact), then exposes the result. *out borrows the merger:
 * free it with cpgo_merged_free before the merger. The result is validated before it is
 * returned, so a profile with dangling ids can never be written.
 */
int cpgo_merge_result(struct cpgo_merger *m, struct cpgo_merged **out, struct cpgo_err *err);
void cpgo_merged_free(struct cpgo_merged *r);

/* Convenience: result + encode in one go (used by the CLI and the work queue); `threads`
 * compress in parallel (the bytes do not depend on it). */
int cpgo_merge_encode(struct cpgo_merger *m, int raw, int threads, struct cpgo_buf *out,
                      struct cpgo_err *err);

#endif
