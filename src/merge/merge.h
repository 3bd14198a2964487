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
 * Scaling (struct cpgo_scale, cpgo_merge_add_scaled): every value an input contributes,
 * and its duration, is multiplied by num/den before it is added, exactly: v' = v * num / den
 * computed in 128-bit integers and rounded to the nearest integer, halves away from zero
 * (2.5 -> 3, -2.5 -> -3, 0.5 -> 1, 0.4999 -> 0). No floating point, so every machine gives
 * the same bytes. Each value of each input sample is rounded on its own (samples/count and
 * cpu/nanoseconds alike), before it is added to its accumulated twin: so an input's
 * duplicate samples are rounded one by one, and scaling a merge of two profiles may differ
 * by rounding from merging them scaled. A sample whose scaled values are all zero is
 * skipped as an all-zero input sample is (decay lets small samples disappear); a scaled
 * value or sum beyond int64 refuses the input whole. The identity (num == den, or den == 0)
 * does no arithmetic at all: cpgo_merge_add is that case.
 * No-inline renaming (cpgo_merge_opts.no_inline): a function whose name is one of the
 * listed ones enters the accumulator as "DO NOT INLINE: <name>" (system name, file and
 * start line unchanged), a rewrite of the function's content like trimming, applied to
 * every use alike; so an already renamed file and fresh scrapes fold into one function.
 * The comment stamp (cpgo_merge_stamp): the merger's own comment, always the last one.
 *
 * Memory: the accumulator holds each distinct entity once; an input is only read. So memory
 * follows the size of the result, not the sum of the inputs: the daemon folds hundreds of
 * scrapes into one merger.
 * Thread: CPU work for the work queue (or the CLI). A merger has one owner at a time.
 */
#ifndef CPGO_MERGE_MERGE_H
#define CPGO_MERGE_MERGE_H

#include <stdint.h>

#include "base/err.h"
#include "profile/codec.h"

/* The prefix no_inline renaming puts before a function's name: the Go team's advice for a
 * function PGO must not inline (the compiler then sees no edge to or from that name, while
 * the edge weights, and so the 99% hot cut, stay as they were). */
#define CPGO_MERGE_NO_INLINE_PREFIX "DO NOT INLINE: "
/* Ceilings of what a merger copies from its options and stamps. */
#define CPGO_MERGE_MAX_NO_INLINE 1024
#define CPGO_MERGE_MAX_NAME 4096

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
    /* Function names to rename "DO NOT INLINE: <name>" on the way in (issue 12, the Go
     * team's advice for known-bad PGO inlining). Borrowed only during cpgo_merge_new: the
     * merger copies them. A function whose name is exactly one of them is renamed (its
     * system_name is left as is); a name that already carries the prefix is left alone.
     * At most CPGO_MERGE_MAX_NO_INLINE names of at most CPGO_MERGE_MAX_NAME bytes, none
     * empty (cpgo_merge_new: CPGO_E_USAGE); duplicates are harmless. */
    const char *const *no_inline;
    size_t nno_inline;
};

/* A factor applied exactly to every value an input contributes: v' = v * num / den,
 * rounded to the nearest integer, halves away from zero, computed in 128-bit integers (no
 * floating point, so the result is the same on every machine). num == den (or den == 0)
 * is the identity (the fast path: no arithmetic). num == 0 scales everything to zero: the
 * input then adds nothing but its header. */
struct cpgo_scale {
    uint64_t num, den;
    /* Decay (nonzero: the rules below, and the seed of their dither). Two rules make a
     * decayed file stop growing. (1) A scaled sample whose value the Go compiler reads (the
     * accumulator's first samples/count or cpu/nanoseconds value) rounds to zero is dropped
     * whole, though its other values may not have: the compiler gives it no weight, and a
     * CPU sample's nanoseconds (count x 10^7) would keep it ~24 more half-lives. (2) A value
     * the nearest integer would leave unchanged (v x f >= v - 1/2: with f > 1/2, every small
     * count -- a count of 1 would never decay) is rounded down instead with probability
     * v x (1 - f), decided by a hash of the sample and this seed: unbiased, deterministic
     * (the same inputs and seed give the same bytes), and every sample fades. Applied to
     * the compiler's value; the others are rounded to the nearest integer. */
    uint64_t decay_seed;
    /* Weights (nonzero: the seed): the compiler's value of each sample is rounded without
     * bias instead of to the nearest integer: down to floor(v x f), up with probability
     * frac(v x f), from a hash of the sample and this seed. A real CPU profile is mostly
     * counts of 1: to the nearest integer, a weight of 0.1 would delete them all and 0.5
     * would double them. The other values are rounded to the nearest integer; a sample is
     * dropped only when every value is zero. */
    uint64_t weight_seed;
};
#define CPGO_SCALE_ONE ((struct cpgo_scale){1, 1, 0, 0})

struct cpgo_merger;

/* The merged profile as a protobuf-c message that borrows the merger's memory. */
struct cpgo_merged {
    cpgo_pb_profile pb;
    void *mem[16]; /* arrays owned by this result */
    int nmem;
};

/* 0, CPGO_E_NOMEM, or CPGO_E_USAGE (a no_inline list beyond its ceilings). */
int cpgo_merge_new(struct cpgo_merger **out, const struct cpgo_merge_opts *opts);
void cpgo_merge_free(struct cpgo_merger *m);

/*
 * Folds one validated profile in. All or nothing: on any error (incompatible, overflow,
 * negative values under a shape, out of memory, too large) the merger is left exactly as
 * it was before the call, so the caller may go on with other inputs.
 */
int cpgo_merge_add(struct cpgo_merger *m, const struct cpgo_profile *p, struct cpgo_err *err);

/* As cpgo_merge_add, with every sample value of p (and its duration_nanos) scaled by s
 * before it is added. A sample whose scaled values are all zero is skipped (as an all-zero
 * input sample is: entities only it would reference are not created), so decaying a file
 * lets samples that round to zero disappear. Overflow of the scaled value or of the sum is
 * refused whole, as today (all or nothing). Time and period are not values: unchanged. */
int cpgo_merge_add_scaled(struct cpgo_merger *m, const struct cpgo_profile *p, struct cpgo_scale s,
                          struct cpgo_err *err);

/* The scaling rule on one value, as the merger applies it: 0, or CPGO_E_INPUT when the
 * result does not fit in int64 (*out untouched). */
int cpgo_merge_scale_value(int64_t v, struct cpgo_scale s, int64_t *out);

/* Number of profiles folded in so far. */
size_t cpgo_merge_count(const struct cpgo_merger *m);
/* Number of distinct samples accumulated (0 = nothing to publish). */
size_t cpgo_merge_nsamples(const struct cpgo_merger *m);
/* Bytes the merger's tables hold (their capacities; an estimate of its heap use, for the
 * daemon's limits.max_pending_memory). 0 for NULL. */
size_t cpgo_merge_mem(const struct cpgo_merger *m);

/* Folds everything src has accumulated into dst, as if src's result were one more input.
 * src may be compacted but is otherwise unchanged. */
int cpgo_merge_add_merger(struct cpgo_merger *dst, struct cpgo_merger *src, struct cpgo_err *err);

/* Whether cpgo_merge_add_merger_scaled(dst, src, s) copies src's tables instead of
 * exporting and reading src back (dst fresh, the same options, no renaming, stamp or scale:
 * the bytes are the same either way, the copy is a few memcpy). */
int cpgo_merge_copyable(const struct cpgo_merger *dst, const struct cpgo_merger *src,
                        struct cpgo_scale s);

/* Folds src into dst as cpgo_merge_add_merger does, scaled. dst's no_inline applies to
 * src's functions; src's comments (its stamp included) enter as an input's would. */
int cpgo_merge_add_merger_scaled(struct cpgo_merger *dst, struct cpgo_merger *src,
                                 struct cpgo_scale s, struct cpgo_err *err);

/* Removes every accumulated comment that starts with `prefix` and, when text is not NULL,
 * appends `text` as the last comment (the published file's "cpgo-written: <RFC 3339>").
 * Comments are otherwise pprof's de-duplicated union in first-seen order.
 * The stamp belongs to the merger from then on: comments of later inputs that start with
 * `prefix` are dropped, the stamp stays the last comment through later adds, compaction,
 * cpgo_merge_result and cpgo_merge_encode, so the result holds exactly one comment with
 * that prefix (none when text is NULL). A second call replaces the first (the former
 * stamp is dropped if it starts with the new prefix, else it becomes an ordinary comment).
 * `prefix` must be non-empty, `text` must start with it, each at most CPGO_MERGE_MAX_NAME
 * bytes (else CPGO_E_USAGE). All or nothing (CPGO_E_NOMEM leaves the merger as it was). */
int cpgo_merge_stamp(struct cpgo_merger *m, const char *prefix, const char *text,
                     struct cpgo_err *err);

/*
 * Finishes: garbage-collects zero samples and entities no sample uses (a merge of the
 * result with itself, as pprof's Compact), then exposes the result. *out borrows the merger:
 * free it with cpgo_merged_free before the merger. The result is validated before it is
 * returned, so a profile with dangling ids can never be written.
 */
int cpgo_merge_result(struct cpgo_merger *m, struct cpgo_merged **out, struct cpgo_err *err);
/* As cpgo_merge_result, also handing out the validation it makes: *view is the validated
 * profile over (*out)->pb (cpgo_profile_view's result, without validating twice); free it
 * with cpgo_profile_free before *out. */
int cpgo_merge_result_view(struct cpgo_merger *m, struct cpgo_merged **out,
                           struct cpgo_profile **view, struct cpgo_err *err);
void cpgo_merged_free(struct cpgo_merged *r);

/* Convenience: result + encode in one go (used by the CLI and the work queue); `threads`
 * compress 2 MiB gzip members in parallel (the bytes do not depend on it: profile/gz.h). */
int cpgo_merge_encode(struct cpgo_merger *m, int raw, int threads, struct cpgo_buf *out,
                      struct cpgo_err *err);

#endif
