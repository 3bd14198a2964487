/*
 * shape.h - the shape a target's profiles must have: a period type and a set of sample
 * types in a fixed order, and whether values may be negative.
 *
 * Why: pprof's merge takes its sample types from the first input and refuses every later
 * input that lists them differently. In the daemon the first input is whichever scrape
 * happens to reach an empty pending merge, so one instance serving the types in another
 * order (or another set) would become the reference and make every honest scrape
 * "incompatible", even across restarts. With a shape, compatibility is decided against
 * what the target expects instead: an input whose sample types are the shape's set in
 * another order is reordered (values move with their types: lossless); any other set, or
 * another period type, is refused on its own.
 *
 * Owns nothing: shapes are immutable constants. Thread: any.
 */
#ifndef CPGO_PROFILE_SHAPE_H
#define CPGO_PROFILE_SHAPE_H

#include <stddef.h>

#include "base/err.h"
#include "profile/codec.h"

#define CPGO_SHAPE_MAX_TYPES 4

struct cpgo_shape_vt {
    const char *type, *unit;
};

struct cpgo_shape {
    struct cpgo_shape_vt period;
    size_t ntypes;
    struct cpgo_shape_vt types[CPGO_SHAPE_MAX_TYPES]; /* in the order merged profiles keep */
    int nonnegative; /* values below 0 are refused (CPU time and sample counts) */
};

/* What the Go runtime writes for /debug/pprof/profile, and what Go PGO reads:
 * [samples/count, cpu/nanoseconds], period type cpu/nanoseconds, no negative value. */
extern const struct cpgo_shape cpgo_shape_go_cpu;

/*
 * Matches pb's header against the shape. On success perm[i] is the index in pb of the
 * shape's sample type i (perm has room for CPGO_SHAPE_MAX_TYPES). CPGO_E_INCOMPAT, naming
 * what was found and what was expected, when the period type differs or the sample types
 * are not exactly the shape's set (each once).
 */
int cpgo_shape_match(const struct cpgo_shape *s, const cpgo_pb_profile *pb, size_t *perm,
                     struct cpgo_err *err);

/* Checks the values a shape constrains: CPGO_E_INPUT naming the first negative value (its
 * sample and type) when the shape is nonnegative. */
int cpgo_shape_check_values(const struct cpgo_shape *s, const cpgo_pb_profile *pb,
                            struct cpgo_err *err);

/* "[t1/u1 t2/u2]" of pb's sample types into buf (each name cut at 64 bytes). */
void cpgo_shape_format_types(const cpgo_pb_profile *pb, char *buf, size_t cap);

#endif
