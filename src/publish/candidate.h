/*
 * candidate.h - what one publish makes of a target's file and its pending scrapes (issue
 * 12), shared by the forge round, the directory publisher and the dry run:
 *
 *   1. decay: the existing file's samples scaled by 0.5^(age / half_life), age = now - the
 *      time cpgo last wrote the file (its "cpgo-written: <RFC 3339>" comment; without one,
 *      the caller's fallback: the committer time of the last commit that changed it, or the
 *      file's mtime), never negative (a clock that went back means age 0);
 *   2. existing ⊕ pending (the caller's fold: weights were applied at ingest), through the
 *      target's merger (trimming, shape, the `no_inline` renames);
 *   3. the stamp: every older "cpgo-written:" comment replaced by one with now;
 *   4. the checks Go's PGO makes: a samples/count or cpu/nanoseconds type, start lines, at
 *      least one call edge; with `verify_with_go`, `go tool preprofile` itself;
 *   5. the edge change against the file cpgo currently proposes (or the target branch's):
 *      the total variation distance of the normalised edge weights, the hot edges added and
 *      removed, and whether `min_change` says it is worth publishing.
 * Deterministic: the same inputs and the same clock give the same bytes (the decay factor is
 * a fixed-point fraction computed once; scaling is integer arithmetic).
 *
 * Owns: the candidate's buffers (cpgo_candidate_free). Thread: a target's lane (CPU work;
 * `verify_with_go` runs a process and waits for it).
 */
#ifndef CPGO_PUBLISH_CANDIDATE_H
#define CPGO_PUBLISH_CANDIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "merge/merge.h"
#include "profile/codec.h"
#include "profile/pgograph.h"
#include "profile/summary.h"

#define CPGO_CANDIDATE_STAMP "cpgo-written: "
#define CPGO_CANDIDATE_GO_TIMEOUT_MS 120000

/* A target's `pgo:` policy, as a publish job carries it (the strings are the job's). */
struct cpgo_pgo_policy {
    int64_t half_life_ms;    /* 0 = no decay */
    uint32_t min_change_ppm; /* percent x 10,000; 0 = publish every update */
    int verify_with_go;
    const char *const *no_inline;
    size_t nno_inline;
};

struct cpgo_candidate_in {
    struct cpgo_merge_opts mo; /* the target's trimming and shape (no_inline set from pgo) */
    const struct cpgo_pgo_policy *pgo;
    const struct cpgo_limits *lim;       /* for reading back the result (merged limits) */
    int64_t now_s;                       /* the publish clock (cpgo_candidate_now) */
    const struct cpgo_profile *existing; /* the target branch's file; NULL = none */
    const char *existing_name;           /* how messages call it (NULL: "the target branch's
                                            file") */
    int64_t existing_changed_s; /* without a stamp: when the file last changed (0 = unknown:
                                   no decay) */
    /* folds everything pending into m (the state's segments and fresh part) */
    int (*fold)(void *arg, struct cpgo_merger *m, struct cpgo_err *err);
    void *fold_arg;
    /* what cpgo currently proposes (the head branch's file); NULL = compare with existing */
    const struct cpgo_profile *proposed;
    size_t top_n; /* functions per side in the summaries (0 = 10) */
    /* build the top-function lists of sb and sa (a pull request's body shows them); without
     * it sa holds only the totals (whose overflow is still an error) and sb is not built:
     * --output shows neither, and they cost as much as a decode on a big target */
    int want_top;
};

enum cpgo_candidate_age { CPGO_AGE_NONE = 0, CPGO_AGE_STAMP, CPGO_AGE_FALLBACK };

/* Where a build failed, so the caller names the right file in its error. */
enum cpgo_candidate_stage {
    CPGO_CAND_OK = 0,
    CPGO_CAND_EXISTING, /* the existing file does not merge (another set, overflow) */
    CPGO_CAND_PENDING,  /* pending does not merge with it */
    CPGO_CAND_RESULT,   /* encoding or reading back the result */
    CPGO_CAND_PGO,      /* Go's PGO would reject or ignore it (or go tool preprofile did) */
};

struct cpgo_candidate {
    struct cpgo_buf out;      /* the file to publish (gzip pprof) */
    struct cpgo_profile *neu; /* what out holds: a view of res */
    struct cpgo_merged *res;  /* the merge result, borrowing acc */
    struct cpgo_merger *acc;
    struct cpgo_summary sb, sa;
    int have_sb, have_sa;
    enum cpgo_candidate_age age_from;
    int64_t age_s;               /* of the existing file (0 when none or unknown) */
    double decay;                /* the factor the existing samples were scaled by (1 = none) */
    struct cpgo_pgograph *graph; /* the candidate's compiler graph */
    /* what merging it changes in the build: against the target branch's file */
    struct cpgo_pgograph *ref; /* the existing file's graph; NULL: none or unreadable */
    double tvd;                /* edge change vs the existing file, 0..1 (1 without one) */
    struct cpgo_pgo_edge_change *added, *removed; /* hot edges vs the existing file */
    size_t nadded, nremoved;
    /* what min_change judges: against the open proposal when there is one */
    struct cpgo_pgograph *prop; /* the proposal's graph; NULL: none or unreadable */
    int ref_is_proposal;        /* min_change compared with the proposal */
    double tvd_judged;          /* edge change vs what min_change compares with */
    size_t hot_changed_judged;  /* hot edges added + removed vs the same */
    int worth;                  /* min_change: 1 = publish; 0 = too small a change (why says so) */
    enum cpgo_candidate_stage failed; /* of a failed build */
    int go_verified;                  /* verify_with_go: go tool preprofile accepted it */
    int go_skipped; /* verify_with_go, but no go on PATH: not checked (go_why says why) */
    char go_why[256];
    char why[256];
};

/* Builds the candidate. 0 (see c->worth), or an error naming why Go's PGO would reject or
 * ignore it (CPGO_E_INPUT), a merge failure (CPGO_E_INPUT/INCOMPAT/NOMEM: the caller names
 * the file), or what `go tool preprofile` said. c is always safe to free. */
int cpgo_candidate_build(const struct cpgo_candidate_in *in, struct cpgo_candidate *c,
                         struct cpgo_err *err);
void cpgo_candidate_free(struct cpgo_candidate *c);

/* The publish clock: the wall clock in seconds; tests set CPGO_TEST_NOW (seconds since the
 * epoch) to publish "at" a given time. */
int64_t cpgo_candidate_now(void);
/* The newest "cpgo-written:" time in p's comments; -1 when it has none. */
int64_t cpgo_candidate_stamp_time(const cpgo_pb_profile *pb);
/* The decay factor as the exact fraction scaling uses (num / 2^40, with decay's rules seeded
 * by the clock: merge.h); identity at age 0 or without a half-life. *factor gets its value
 * as a double. */
struct cpgo_scale cpgo_candidate_decay(int64_t age_s, int64_t half_life_ms, int64_t now_s,
                                       double *factor);
/* "90% of the weight is from the last 23 days" for a half-life (steady traffic: the weight
 * older than t is 0.5^(t/H)). */
void cpgo_candidate_window(int64_t half_life_ms, char *buf, size_t cap);

#endif
