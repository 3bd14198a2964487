/*
 * pgograph.h - the call-edge graph the Go compiler reads from a profile for PGO, computed
 * exactly as cmd/compile does it (cmd/internal/pgo FromPProf over internal/profile
 * NewGraph), so that cpgo can print what `go tool preprofile` prints, tell which call sites
 * the compiler will find hot, and decide whether a new profile changes a PGO build at all.
 *
 * What is replicated (Go 1.21 .. 1.26 read profiles this way):
 *  - the value: the first sample type that is samples/count or cpu/nanoseconds;
 *  - per sample with a non-zero value, the two leaf-most locations, each with all its
 *    (inline) lines, outermost first; a node per (function name, address, line, function
 *    start line), a line without a function being the node of its address alone;
 *  - an edge caller -> callee counted once per sample per node pair, never from a node to
 *    itself; nodes whose cumulative and flat weights are both 0 are dropped with their
 *    outgoing edges (only negative values can do that);
 *  - edges keyed by (caller name, callee name, caller line - caller start line), summed;
 *    the order: weight descending, then caller, callee (byte-wise), offset;
 *  - int64 sums wrap as Go's do (computed in unsigned arithmetic, never C signed overflow);
 *  - the hot call sites: the ByWeight prefix up to and including the first edge at which
 *    the cumulative weight exceeds 99% of the total (hotNodesFromCDF in cmd/compile);
 *  - errors with Go's wording: no such sample type; "profile missing Function.start_line
 *    data" when no graph node has a start line (even when there is no edge: a profile whose
 *    samples are all 0 fails in Go too); a profile without samples, or whose edge weights
 *    sum to 0, gives no edges and is accepted.
 *
 * Owns: a struct cpgo_pgograph (edges, the copies of their names, a key-ordered index);
 * borrows the profile only during cpgo_pgograph_build. Memory is linear in the locations
 * and edges the profile's samples reach; time is one pass over the samples plus a sort of
 * the distinct edges.
 * Threads: CPU work: the work queue or the CLI, never the loop thread. Reentrant; a graph
 * is immutable once built and may be read from any thread.
 */
#ifndef CPGO_PROFILE_PGOGRAPH_H
#define CPGO_PROFILE_PGOGRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "profile/codec.h"

struct cpgo_pgo_edge {
    const char *caller, *callee; /* NUL-terminated copies owned by the graph */
    size_t caller_len, callee_len;
    int64_t offset; /* caller line - caller start line */
    int64_t weight;
    /* private: the names' places in byte order within this graph (finish's sorts compare
     * these instead of the strings; across graphs only the strings compare) */
    uint32_t caller_rank, callee_rank;
};

struct cpgo_pgograph {
    struct cpgo_pgo_edge *edges; /* the compiler's ByWeight order */
    size_t nedges;
    size_t nhot;   /* edges[0 .. nhot) are the hot call sites (99% CDF) */
    int64_t total; /* sum of all edge weights (Go's TotalWeight) */
    /* private */
    char *names_;      /* every name the edges point at, each NUL-terminated */
    uint32_t *by_key_; /* edge indexes ordered by (caller, callee, offset) */
};

/* The compiler's hot threshold: hot call sites make up this percentage of the weight. */
#define CPGO_PGO_HOT_CDF_PERCENT 99.0

/*
 * Builds the graph of a decoded, validated profile. *out is set on success (free with
 * cpgo_pgograph_free). Errors: CPGO_E_INCOMPAT when Go PGO would refuse the profile (no
 * samples/count or cpu/nanoseconds sample type; no start line: the text is Go's own),
 * CPGO_E_INPUT for references that do not resolve (never in a validated profile),
 * CPGO_E_LIMIT past 2^32 nodes or edges, CPGO_E_NOMEM.
 */
int cpgo_pgograph_build(const cpgo_pb_profile *p, struct cpgo_pgograph **out, struct cpgo_err *err);
/* An empty graph (what Go makes of an empty file). */
int cpgo_pgograph_empty(struct cpgo_pgograph **out, struct cpgo_err *err);
void cpgo_pgograph_free(struct cpgo_pgograph *g);

/* Appends the `go tool preprofile` serialization to out (initialised by the caller, whose
 * ceiling applies): "GO PREPROFILE V1\n", then per edge "caller\ncallee\noffset weight\n".
 * Errors: those of cpgo_buf_append (CPGO_E_LIMIT past out's ceiling, CPGO_E_NOMEM). */
int cpgo_pgograph_write(const struct cpgo_pgograph *g, struct cpgo_buf *out, struct cpgo_err *err);

/* Total variation distance between the normalised edge weights of a and b, in [0, 1]
 * (0.5 * sum over the union of edges of |wa/totala - wb/totalb|); an empty graph against a
 * non-empty one is 1, two empty ones 0. Edges are the same edge in both graphs when
 * caller, callee and offset are equal. Allocates nothing; deterministic. */
double cpgo_pgograph_tvd(const struct cpgo_pgograph *a, const struct cpgo_pgograph *b);

/* Hot edges of `to` that are not hot in `from` (added) and hot in `from` but not in `to`
 * (removed), each with its share of its own graph's total; arrays malloc'd (NULL when
 * empty), caller frees, ordered by share descending then by (caller, callee, offset).
 * `e` points into `to` (added) or `from` (removed). 0 or CPGO_E_NOMEM. */
struct cpgo_pgo_edge_change {
    const struct cpgo_pgo_edge *e;
    double share;
};
int cpgo_pgograph_hot_diff(const struct cpgo_pgograph *from, const struct cpgo_pgograph *to,
                           struct cpgo_pgo_edge_change **added, size_t *nadded,
                           struct cpgo_pgo_edge_change **removed, size_t *nremoved,
                           struct cpgo_err *err);

#endif
