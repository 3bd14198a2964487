/*
 * merge_int.h - what the files of the merge module share: the accumulator's layout, one
 * add's state (translation tables, the rollback mark, the undo log) and the steps
 * cpgo_merge_add runs. Not for other modules: merge.h is the interface.
 *
 * Layout: every entity kind lives in one flat array and is found by content through a
 * cpgo_itab (hash -> index, equality by callback). Strings are interned into one arena, so
 * string equality is id equality and keys compare small integers. Sample location lists
 * are stored as the output ids themselves (location index + 1) so that the result message
 * can point straight at them; values likewise.
 *
 * The files, each one concern, none calling back into a file that calls it:
 *   merge.c         the merger's life and cpgo_merge_add, which runs the steps below;
 *   merge_table.c   strings and the entity tables: each input entity translated to its
 *                   accumulated twin, samples added (trims, no_inline renaming and
 *                   scaling applied as they are added);
 *   merge_header.c  header folding and sample-type compatibility (pprof, compat, shape),
 *                   the comment stamp;
 *   merge_trim.c    which locations keep their address when addresses are stripped;
 *   merge_undo.c    the mark, the rollback of a refused input and its overflow error;
 *   merge_export.c  the result message, compaction, encode, merger into merger.
 *
 * Thread: as merge.h (CPU work; a merger has one owner at a time).
 */
#ifndef CPGO_MERGE_MERGE_INT_H
#define CPGO_MERGE_MERGE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/hash.h"
#include "merge/merge.h"

struct str_ent {
    uint32_t off, len;
};
struct fn_ent {
    uint32_t name, sys, file;
    int64_t start_line;
};
struct map_ent {
    uint64_t start, limit, offset;
    uint32_t file, build_id;
    uint8_t flags; /* bit 0 functions, 1 filenames, 2 line numbers, 3 inline frames */
};
struct loc_ent {
    uint64_t address;
    uint32_t mapping; /* mapping index + 1, or 0 */
    uint32_t line_off, nlines;
    uint8_t folded;
};
struct line_ent {
    uint32_t fn; /* function index */
    int64_t line, column;
};
struct smp_ent {
    uint32_t loc_off, nloc, lab_off, nlab;
};
struct lab_ent {
    uint32_t key, str, unit;
    int64_t num;
    uint8_t is_num;
};
struct vtype {
    uint32_t type, unit;
};
/* What compat mode must remember of each input to settle default_sample_type at the end. */
struct input_meta {
    uint32_t default_st;
    uint32_t ntypes, types_off; /* type-name string ids, in input_types */
};

struct cpgo_merger {
    struct cpgo_merge_opts opts;
    size_t ninputs;

    /* header */
    struct vtype *st;
    size_t nst;
    struct vtype period_type;
    uint32_t drop_frames, keep_frames, default_st, doc_url;
    int64_t time_nanos, duration_nanos, period;
    uint32_t *comments;
    size_t ncomments, comments_cap;

    /* strings */
    struct cpgo_buf arena;
    struct str_ent *strs;
    size_t nstrs, strs_cap;
    struct cpgo_itab str_tab;

    struct fn_ent *fns;
    size_t nfns, fns_cap;
    struct cpgo_itab fn_tab;
    struct map_ent *maps;
    size_t nmaps, maps_cap;
    struct cpgo_itab map_tab;
    struct loc_ent *locs;
    size_t nlocs, locs_cap;
    struct cpgo_itab loc_tab;
    struct line_ent *lines;
    size_t nlines, lines_cap;
    struct smp_ent *smps;
    size_t nsmps, smps_cap;
    struct cpgo_itab smp_tab;
    uint64_t *sloc; /* sample location ids (location index + 1) */
    size_t nsloc, sloc_cap;
    struct lab_ent *labs;
    size_t nlabs, labs_cap;
    int64_t *vals; /* nsmps * nst */
    size_t vals_cap;

    int dirty; /* zero samples or unreferenced entities may exist: compact at the end */

    /* no_inline: the listed names (string ids, in the caller's order) and, for each one
     * not already carrying the prefix, name id + 1 -> the renamed name's id. Set up by
     * cpgo_merge_new before any input, so no rollback ever cuts them. */
    uint32_t *noinl;
    size_t nnoinl, noinl_cap;
    struct cpgo_idmap noinl_map;

    /* the stamp (cpgo_merge_stamp): comments starting with stamp_prefix are the merger's;
     * `stamp` (a string id, when has_stamp) is exported after every other comment. Kept
     * out of `comments` so that a rollback, which cuts comments by count, never cuts it. */
    char *stamp_prefix; /* NULL: no stamp */
    size_t stamp_prefix_len;
    uint32_t stamp;
    int has_stamp;

    struct input_meta *meta;
    size_t nmeta, meta_cap;
    uint32_t *meta_types;
    size_t nmeta_types, meta_types_cap;

    /* scratch for probes */
    struct line_ent *tmp_lines;
    size_t tmp_lines_cap;
    uint64_t *tmp_locs;
    size_t tmp_locs_cap;
    struct lab_ent *tmp_labs;
    size_t tmp_labs_cap;
};

/* ---- per-input translation ---------------------------------------------------------- */

struct map_xl {
    uint32_t idx1; /* accumulator mapping index + 1; 0 = not yet translated */
    int64_t offset;
};

/* What cpgo_merge_add rolls back to when it refuses an input. */
struct mark {
    size_t ninputs, nst, nstrs, arena_len, nfns, nmaps, nlocs, nlines, nsmps, nsloc, nlabs;
    size_t ncomments, nmeta, nmeta_types;
    struct vtype period_type;
    uint32_t drop_frames, keep_frames, default_st, doc_url;
    int64_t time_nanos, duration_nanos, period;
    int dirty;
};

/* An accumulated sample (index < mark.nsmps) that input sample `in` was added to. */
struct undo {
    size_t smp, in;
};

struct add_ctx {
    struct cpgo_merger *m;
    const struct cpgo_profile *p;
    const cpgo_pb_profile *pb;
    struct cpgo_scale scale;
    int scaled;    /* 0: the identity, values are taken as they are */
    int pgo_k;     /* seeded rounding (decay or weight seed): the accumulator's value the
                      compiler reads, found once per input; -1 = none */
    int64_t *sv;   /* one input sample's values, scaled, in the accumulator's type order */
    int64_t *strx; /* input string index -> accumulator id, -1 = not yet */
    uint32_t *fnx; /* input function index -> accumulator index + 1 */
    struct map_xl *mapx;
    uint32_t *locx;    /* input location index -> accumulator index + 1 */
    size_t *vsel;      /* accumulator sample type i takes input value vsel[i] */
    uint8_t *keepaddr; /* strip_addresses: 1 = this location must keep its address */
    struct mark mark;
    struct undo *undo;
    size_t nundo, undo_cap;
    /* compat narrowing rewrites st and vals in place: their old contents, to roll back */
    struct vtype *saved_st;
    int64_t *saved_vals;
    /* what overflowed (for the error line) */
    size_t ovf_sample, ovf_type;
    int64_t ovf_acc, ovf_val;
    int ovf_duration;
    int ovf_scale; /* the scaled value itself (of ovf_sample/ovf_type or the duration) */
};

#define XS(var, c, i)                                                                              \
    do {                                                                                           \
        int64_t x_ = merge_xl_str((c), (i));                                                       \
        if (x_ < 0) return (int)x_;                                                                \
        (var) = (uint32_t)x_;                                                                      \
    } while (0)

static inline const char *str_at(const struct cpgo_merger *m, uint32_t id, size_t *len)
{
    *len = m->strs[id].len;
    return (const char *)m->arena.data + m->strs[id].off;
}

/* merge_table.c */
/* Interns s; returns its id (>= 0) or a negative error. */
int64_t merge_intern(struct cpgo_merger *m, const char *s, size_t len);
/* Input string `i` as an accumulator id (interned on first use), or a negative error. */
int64_t merge_xl_str(struct add_ctx *c, int64_t i);
/* Translates input mapping `i`; fills *out. */
int merge_xl_map(struct add_ctx *c, size_t i, struct map_xl *out);
/* Folds input sample `si` in (skipped when all its selected values are zero). */
int merge_add_sample(struct add_ctx *c, size_t si);
/* The accumulator's value the Go compiler reads (its first samples/count or cpu/nanoseconds
 * type), -1 when none. */
int merge_pgo_value_index(const struct cpgo_merger *m);
/* Input sample `si`'s values as they are added: in accumulator type order, scaled. Fills
 * c->sv; CPGO_E_INPUT (and the ovf_ fields) when a scaled value leaves int64. */
int merge_sample_values(struct add_ctx *c, size_t si);
/* Adds one no_inline name (len > 0): interned with its renamed form, unless it carries
 * the prefix already. 0 or CPGO_E_NOMEM / CPGO_E_LIMIT. Only before the first input. */
int merge_no_inline_add(struct cpgo_merger *m, const char *s, size_t len);
/* The id of s when it is interned already, else -1. Never allocates. */
int64_t merge_find_str(const struct cpgo_merger *m, const char *s, size_t len);
/* Function name s (an input's) as no_inline renaming leaves it, reduced to a comparable
 * pair: (*base, *blen) and the return value (1: it carries the prefix). Two names are equal
 * after renaming exactly when their pairs are equal. Never allocates. */
int merge_renamed_key(const struct cpgo_merger *m, const char *s, size_t len, const char **base,
                      size_t *blen);

/* merge_header.c */
int merge_reconcile_types(struct add_ctx *c, struct cpgo_err *err);
int merge_fold_header(struct add_ctx *c);
void merge_settle_compat_default(struct cpgo_merger *m);
/* cpgo_merge_stamp once its arguments are checked; text (tlen bytes, no NUL needed) may be
 * NULL. Also how a compaction hands the stamp to its fresh merger. */
int merge_stamp_copy(struct cpgo_merger *m, const char *prefix, const char *text, size_t tlen,
                     struct cpgo_err *err);

/* merge_trim.c */
void merge_mark_kept_addresses(struct add_ctx *c);

/* merge_undo.c */
void merge_set_mark(struct add_ctx *c);
void merge_rollback(struct add_ctx *c);
void merge_overflow_error(const struct add_ctx *c, struct cpgo_err *err);

/* merge_export.c */
int merge_export_pb(const struct cpgo_merger *m, struct cpgo_merged **out);

#endif
