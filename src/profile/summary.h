/*
 * summary.h - what a person (and later the PR body) wants to know about a profile: its
 * header, sizes, totals, whether Go PGO can use it, and its hottest functions.
 *
 * Owns: the struct cpgo_summary it fills (free with cpgo_summary_free); borrows the
 * profile only during cpgo_summary_build. Thread: CPU work, any thread but the loop.
 */
#ifndef CPGO_PROFILE_SUMMARY_H
#define CPGO_PROFILE_SUMMARY_H

#include "profile/codec.h"

struct cpgo_summary_fn {
    char *name;
    int64_t flat, cum;
};

struct cpgo_summary {
    size_t nsamples, nlocations, nfunctions, nmappings, nstrings;
    size_t ntypes;
    char **type_names, **type_units; /* sample types */
    int64_t *totals;                 /* per sample type (exact: overflow is an error) */
    char *period_type, *period_unit;
    int64_t period, time_nanos, duration_nanos;
    size_t value_index; /* sample type the top lists use: default_sample_type, else the last */
    int pgo_index;      /* first samples/count or cpu/nanoseconds type, or -1 */
    int has_start_lines;
    int has_negative; /* some sample value is below zero (a diff profile, not a CPU one) */
    struct cpgo_summary_fn *by_flat, *by_cum; /* top N each, descending */
    size_t ntop_flat, ntop_cum;
};

/* PGO needs a samples/count or cpu/nanoseconds sample type, functions with start lines, and
 * CPU weights: a negative one (as `cpgo merge` may keep from diff profiles) would make the
 * compiler's edge weights meaningless. */
static inline int cpgo_summary_pgo_usable(const struct cpgo_summary *s)
{
    return s->pgo_index >= 0 && s->has_start_lines && !s->has_negative;
}

/* Errors: CPGO_E_INPUT when a total (or a function's flat or cumulative sum) would overflow
 * int64 (a wrapped or saturated figure would be a wrong answer); CPGO_E_NOMEM. */
int cpgo_summary_build(const struct cpgo_profile *p, size_t topn, struct cpgo_summary *out,
                       struct cpgo_err *err);
void cpgo_summary_free(struct cpgo_summary *s);

#endif
