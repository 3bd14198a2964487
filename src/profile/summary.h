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
    unsigned pgo_lacks; /* what Go PGO needs and this profile lacks: CPGO_PGO_* */
    int pgo_index;      /* first samples/count or cpu/nanoseconds type, or -1 */
    int has_start_lines;
    int has_negative; /* some sample value is below zero (a diff profile, not a CPU one) */
    struct cpgo_summary_fn *by_flat, *by_cum; /* top N each, descending */
    size_t ntop_flat, ntop_cum;
};

/*
 * What Go PGO needs of a profile (cmd/compile reads it): a samples/count or cpu/nanoseconds
 * sample type, functions with start lines (Go 1.20+ writes them), and CPU weights: a
 * negative value (as `cpgo merge` may keep from diff profiles) would make the compiler's
 * edge weights meaningless. The one statement of that rule: `cpgo inspect`, pull request
 * bodies and the daemon's check of every scrape (src/daemon/daemon.c) ask it.
 */
#define CPGO_PGO_NO_TYPE 1u        /* no samples/count or cpu/nanoseconds sample type */
#define CPGO_PGO_NO_START_LINES 2u /* no function has a start line (or there is none) */
#define CPGO_PGO_NEGATIVE 4u       /* some sample value is below zero */
#define CPGO_PGO_ALL (CPGO_PGO_NO_TYPE | CPGO_PGO_NO_START_LINES | CPGO_PGO_NEGATIVE)

/* Which of the needs in `which` pb lacks: a mask of CPGO_PGO_*, 0 when it lacks none.
 * Checking CPGO_PGO_NEGATIVE is a pass over every value; a caller that checks values
 * another way leaves it out. *type_index (unless NULL): the sample type Go PGO reads, the
 * first samples/count or cpu/nanoseconds one, or -1. */
unsigned cpgo_summary_pgo_lacks(const cpgo_pb_profile *pb, unsigned which, int *type_index);

static inline int cpgo_summary_pgo_usable(const struct cpgo_summary *s)
{
    return s->pgo_lacks == 0;
}

/* Errors: CPGO_E_INPUT when a total (or a function's flat or cumulative sum) would overflow
 * int64 (a wrapped or saturated figure would be a wrong answer); CPGO_E_NOMEM. */
int cpgo_summary_build(const struct cpgo_profile *p, size_t topn, struct cpgo_summary *out,
                       struct cpgo_err *err);
void cpgo_summary_free(struct cpgo_summary *s);

#endif
