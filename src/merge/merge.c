/*
 * merge.c - see merge.h for the semantics; this file is the mechanics.
 *
 * Layout: every entity kind lives in one flat array and is found by content through a
 * cpgo_itab (hash -> index, equality by callback). Strings are interned into one arena, so
 * string equality is id equality and keys compare small integers. Sample location lists
 * are stored as the output ids themselves (location index + 1) so that the result message
 * can point straight at them; values likewise.
 *
 * Adding an input uses per-input translation arrays (input string / function / mapping /
 * location index -> accumulator index), filled lazily, exactly like pprof's
 * *ByID memo tables: entities are only created when a non-zero sample reaches them.
 *
 * All or nothing: whether an input overflows is only known once its samples have found
 * their accumulated twins, which means creating the entities they use. So an add records a
 * mark (every array's length, the header) and an undo log of the accumulated samples it
 * added to; a refused input is rolled back to the mark: arrays cut, index tables truncated,
 * additions subtracted again (exact: an addition that would overflow is never made).
 */
#include "merge/merge.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/hash.h"
#include "profile/shape.h"

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

/* ---- strings -------------------------------------------------------------------------- */

struct str_probe {
    const struct cpgo_merger *m;
    const char *s;
    size_t len;
};

static int str_eq(const void *ctx, uint32_t idx)
{
    const struct str_probe *p = ctx;
    const struct str_ent *e = &p->m->strs[idx];
    return e->len == p->len && (p->len == 0 || memcmp(p->m->arena.data + e->off, p->s, p->len) == 0);
}

static inline const char *str_at(const struct cpgo_merger *m, uint32_t id, size_t *len)
{
    *len = m->strs[id].len;
    return (const char *)m->arena.data + m->strs[id].off;
}

/* Interns s; returns its id (>= 0) or a negative error. */
static int64_t intern(struct cpgo_merger *m, const char *s, size_t len)
{
    uint64_t h = cpgo_hash_bytes(s, len, 0x5f);
    struct str_probe p = {m, s, len};
    int64_t idx = cpgo_itab_find(&m->str_tab, h, str_eq, &p);
    if (idx >= 0) return idx;
    if (len > UINT32_MAX || m->arena.len > UINT32_MAX - len) return CPGO_E_LIMIT;
    if (CPGO_ARRAY_PUSH_ROOM(m->strs, m->nstrs, m->strs_cap)) return CPGO_E_NOMEM;
    uint32_t off = (uint32_t)m->arena.len;
    int rc = cpgo_buf_append(&m->arena, s, len);
    if (rc) return rc;
    m->strs[m->nstrs] = (struct str_ent){off, (uint32_t)len};
    if (cpgo_itab_insert(&m->str_tab, h, (uint32_t)m->nstrs)) return CPGO_E_NOMEM;
    return (int64_t)m->nstrs++;
}

static int str_cmp(const struct cpgo_merger *m, uint32_t a, uint32_t b)
{
    if (a == b) return 0;
    size_t la, lb;
    const char *sa = str_at(m, a, &la), *sb = str_at(m, b, &lb);
    int c = memcmp(sa, sb, la < lb ? la : lb);
    if (c) return c;
    return la < lb ? -1 : la > lb;
}

/* ---- per-input translation -------------------------------------------------------------- */

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
    int64_t *strx;     /* input string index -> accumulator id, -1 = not yet */
    uint32_t *fnx;     /* input function index -> accumulator index + 1 */
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
    int64_t ovf_acc;
    int ovf_duration;
};

static int64_t xl_str(struct add_ctx *c, int64_t i)
{
    if (c->strx[i] >= 0) return c->strx[i];
    size_t len;
    const char *s = cpgo_profile_str(c->pb, i, &len);
    int64_t id = intern(c->m, s, len);
    if (id >= 0) c->strx[i] = id;
    return id;
}

#define XS(var, c, i)                                                                          \
    do {                                                                                       \
        int64_t x_ = xl_str((c), (i));                                                         \
        if (x_ < 0) return (int)x_;                                                            \
        (var) = (uint32_t)x_;                                                                  \
    } while (0)

struct fn_probe {
    const struct cpgo_merger *m;
    struct fn_ent f;
};

static int fn_eq(const void *ctx, uint32_t idx)
{
    const struct fn_probe *p = ctx;
    const struct fn_ent *e = &p->m->fns[idx];
    return e->name == p->f.name && e->sys == p->f.sys && e->file == p->f.file &&
           e->start_line == p->f.start_line;
}

static uint64_t fn_hash(const struct fn_ent *f)
{
    uint64_t h = cpgo_hash_mix(0x11, f->name);
    h = cpgo_hash_mix(h, f->sys);
    h = cpgo_hash_mix(h, f->file);
    return cpgo_hash_mix(h, (uint64_t)f->start_line);
}

/* Returns the accumulator index of input function `i`, or a negative error. */
static int64_t xl_fn(struct add_ctx *c, size_t i)
{
    if (c->fnx[i]) return c->fnx[i] - 1;
    struct cpgo_merger *m = c->m;
    const Perftools__Profiles__Function *src = c->pb->function[i];
    struct fn_probe p = {m, {0, 0, 0, src->start_line}};
    XS(p.f.name, c, src->name);
    XS(p.f.sys, c, src->system_name);
    XS(p.f.file, c, src->filename);
    uint64_t h = fn_hash(&p.f);
    int64_t idx = cpgo_itab_find(&m->fn_tab, h, fn_eq, &p);
    if (idx < 0) {
        if (CPGO_ARRAY_PUSH_ROOM(m->fns, m->nfns, m->fns_cap)) return CPGO_E_NOMEM;
        m->fns[m->nfns] = p.f;
        if (cpgo_itab_insert(&m->fn_tab, h, (uint32_t)m->nfns)) return CPGO_E_NOMEM;
        idx = (int64_t)m->nfns++;
    }
    c->fnx[i] = (uint32_t)idx + 1;
    return idx;
}

struct map_probe {
    const struct cpgo_merger *m;
    uint64_t size, offset;
    uint32_t key;
};

static uint64_t map_size_key(uint64_t start, uint64_t limit)
{
    /* pprof rounds the size up to 4 KiB to absorb minor discrepancies (unsigned wrap as Go). */
    uint64_t size = limit - start;
    size = size + 0x1000 - 1;
    return size - (size % 0x1000);
}

static uint32_t map_key_str(const struct map_ent *e)
{
    /* build id when present, else file name, else "" (a fake mapping). */
    return e->build_id ? e->build_id : e->file;
}

static int map_eq(const void *ctx, uint32_t idx)
{
    const struct map_probe *p = ctx;
    const struct map_ent *e = &p->m->maps[idx];
    return map_size_key(e->start, e->limit) == p->size && e->offset == p->offset &&
           map_key_str(e) == p->key;
}

/* Translates input mapping `i`; fills *out. */
static int xl_map(struct add_ctx *c, size_t i, struct map_xl *out)
{
    if (c->mapx[i].idx1) {
        *out = c->mapx[i];
        return 0;
    }
    struct cpgo_merger *m = c->m;
    const Perftools__Profiles__Mapping *src = c->pb->mapping[i];
    struct map_ent e = {src->memory_start, src->memory_limit, src->file_offset, 0, 0,
                        (uint8_t)((src->has_functions ? 1 : 0) | (src->has_filenames ? 2 : 0) |
                                  (src->has_line_numbers ? 4 : 0) |
                                  (src->has_inline_frames ? 8 : 0))};
    XS(e.file, c, src->filename);
    XS(e.build_id, c, src->build_id);
    struct map_probe p = {m, map_size_key(e.start, e.limit), e.offset, map_key_str(&e)};
    uint64_t h = cpgo_hash_mix(cpgo_hash_mix(cpgo_hash_mix(0x22, p.size), p.offset), p.key);
    int64_t idx = cpgo_itab_find(&m->map_tab, h, map_eq, &p);
    struct map_xl xl;
    if (idx >= 0) {
        xl.idx1 = (uint32_t)idx + 1;
        xl.offset = (int64_t)(m->maps[idx].start - src->memory_start);
    } else {
        if (CPGO_ARRAY_PUSH_ROOM(m->maps, m->nmaps, m->maps_cap)) return CPGO_E_NOMEM;
        m->maps[m->nmaps] = e;
        if (cpgo_itab_insert(&m->map_tab, h, (uint32_t)m->nmaps)) return CPGO_E_NOMEM;
        xl.idx1 = (uint32_t)++m->nmaps;
        xl.offset = 0;
    }
    c->mapx[i] = xl;
    *out = xl;
    return 0;
}

struct loc_probe {
    const struct cpgo_merger *m;
    uint64_t key_addr;
    uint32_t mapping;
    uint8_t folded;
    const struct line_ent *lines;
    uint32_t nlines;
};

static uint64_t loc_key_addr(const struct cpgo_merger *m, const struct loc_ent *l)
{
    return l->mapping ? l->address - m->maps[l->mapping - 1].start : l->address;
}

static int loc_eq(const void *ctx, uint32_t idx)
{
    const struct loc_probe *p = ctx;
    const struct loc_ent *e = &p->m->locs[idx];
    if (e->mapping != p->mapping || e->folded != p->folded || e->nlines != p->nlines ||
        loc_key_addr(p->m, e) != p->key_addr)
        return 0;
    const struct line_ent *a = &p->m->lines[e->line_off];
    for (uint32_t i = 0; i < p->nlines; i++)
        if (a[i].fn != p->lines[i].fn || a[i].line != p->lines[i].line) return 0;
    /* pprof's locationKey overwrites each line's column slot with the next line's function,
     * so only the last line's column takes part in a location's identity. */
    return p->nlines == 0 || a[p->nlines - 1].column == p->lines[p->nlines - 1].column;
}

static int64_t xl_loc(struct add_ctx *c, size_t i)
{
    if (c->locx[i]) return c->locx[i] - 1;
    struct cpgo_merger *m = c->m;
    const Perftools__Profiles__Location *src = c->pb->location[i];
    int strip = m->opts.trim.strip_addresses;
    int zero_addr = strip && !c->keepaddr[i];
    struct map_xl mx = {0, 0};
    if (src->mapping_id && !strip) {
        int64_t mi = cpgo_id_lookup(&c->p->mapping_ids, src->mapping_id);
        int rc = xl_map(c, (size_t)mi, &mx);
        if (rc) return rc;
    }
    uint64_t address = zero_addr ? 0 : (uint64_t)((int64_t)src->address + mx.offset);
    if (cpgo_array_grow((void **)&m->tmp_lines, &m->tmp_lines_cap, src->n_line + 1,
                        sizeof *m->tmp_lines))
        return CPGO_E_NOMEM;
    for (size_t j = 0; j < src->n_line; j++) {
        const Perftools__Profiles__Line *ln = src->line[j];
        int64_t fi = cpgo_id_lookup(&c->p->function_ids, ln->function_id);
        int64_t f = xl_fn(c, (size_t)fi);
        if (f < 0) return f;
        m->tmp_lines[j] = (struct line_ent){(uint32_t)f, ln->line, strip ? 0 : ln->column};
    }
    struct loc_probe p = {m, address, mx.idx1, src->is_folded ? 1 : 0, m->tmp_lines,
                          (uint32_t)src->n_line};
    if (mx.idx1) p.key_addr = address - m->maps[mx.idx1 - 1].start;
    uint64_t h = cpgo_hash_mix(cpgo_hash_mix(cpgo_hash_mix(0x33, p.key_addr), p.mapping),
                               p.folded + ((uint64_t)p.nlines << 1));
    for (uint32_t j = 0; j < p.nlines; j++)
        h = cpgo_hash_mix(cpgo_hash_mix(h, p.lines[j].fn), (uint64_t)p.lines[j].line);
    if (p.nlines) h = cpgo_hash_mix(h, (uint64_t)p.lines[p.nlines - 1].column);
    int64_t idx = cpgo_itab_find(&m->loc_tab, h, loc_eq, &p);
    if (idx < 0) {
        if (m->nlines + p.nlines > UINT32_MAX) return CPGO_E_LIMIT;
        if (CPGO_ARRAY_PUSH_ROOM(m->locs, m->nlocs, m->locs_cap) ||
            cpgo_array_grow((void **)&m->lines, &m->lines_cap, m->nlines + p.nlines + 1,
                            sizeof *m->lines))
            return CPGO_E_NOMEM;
        if (p.nlines) memcpy(&m->lines[m->nlines], p.lines, p.nlines * sizeof *p.lines);
        m->locs[m->nlocs] = (struct loc_ent){address, p.mapping, (uint32_t)m->nlines, p.nlines,
                                             p.folded};
        m->nlines += p.nlines;
        if (cpgo_itab_insert(&m->loc_tab, h, (uint32_t)m->nlocs)) return CPGO_E_NOMEM;
        idx = (int64_t)m->nlocs++;
    }
    c->locx[i] = (uint32_t)idx + 1;
    return idx;
}

/* ---- samples ---------------------------------------------------------------------------- */

struct smp_probe {
    const struct cpgo_merger *m;
    const uint64_t *locs;
    uint32_t nloc;
    const struct lab_ent *labs;
    uint32_t nlab;
};

static int smp_eq(const void *ctx, uint32_t idx)
{
    const struct smp_probe *p = ctx;
    const struct smp_ent *e = &p->m->smps[idx];
    if (e->nloc != p->nloc || e->nlab != p->nlab) return 0;
    if (p->nloc && memcmp(&p->m->sloc[e->loc_off], p->locs, p->nloc * sizeof *p->locs)) return 0;
    const struct lab_ent *a = &p->m->labs[e->lab_off];
    for (uint32_t i = 0; i < p->nlab; i++)
        if (a[i].key != p->labs[i].key || a[i].is_num != p->labs[i].is_num ||
            a[i].str != p->labs[i].str || a[i].num != p->labs[i].num ||
            a[i].unit != p->labs[i].unit)
            return 0;
    return 1;
}

/* Canonical label order: string labels, then numeric ones, each group stably sorted by key
 * text. This is the order of pprof's sample key and of its encoder. Insertion sort: stable,
 * and label lists are short. */
static void sort_labels(const struct cpgo_merger *m, struct lab_ent *l, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct lab_ent x = l[i];
        size_t j = i;
        while (j > 0) {
            const struct lab_ent *y = &l[j - 1];
            int c = (int)y->is_num - (int)x.is_num;
            if (!c) c = str_cmp(m, y->key, x.key);
            if (c <= 0) break;
            l[j] = l[j - 1];
            j--;
        }
        l[j] = x;
    }
}

static int add_sample(struct add_ctx *c, size_t si)
{
    const Perftools__Profiles__Sample *src = c->pb->sample[si];
    struct cpgo_merger *m = c->m;
    /* values, as the accumulator's sample types select them; all-zero samples are skipped */
    int zero = 1;
    for (size_t i = 0; i < m->nst; i++)
        if (src->value[c->vsel[i]]) zero = 0;
    if (zero) return 0;

    size_t nloc = src->n_location_id;
    if (m->opts.trim.keep_frames && nloc > (size_t)m->opts.trim.keep_frames)
        nloc = (size_t)m->opts.trim.keep_frames;
    if (cpgo_array_grow((void **)&m->tmp_locs, &m->tmp_locs_cap, nloc + 1, sizeof *m->tmp_locs))
        return CPGO_E_NOMEM;
    for (size_t j = 0; j < nloc; j++) {
        uint64_t id = src->location_id[j];
        int64_t li = cpgo_id_lookup(&c->p->location_ids, id);
        int64_t l = xl_loc(c, (size_t)li);
        if (l < 0) return (int)l;
        m->tmp_locs[j] = (uint64_t)l + 1;
    }

    size_t nlab = 0;
    if (!m->opts.trim.drop_labels && src->n_label) {
        if (cpgo_array_grow((void **)&m->tmp_labs, &m->tmp_labs_cap, src->n_label,
                            sizeof *m->tmp_labs))
            return CPGO_E_NOMEM;
        for (size_t j = 0; j < src->n_label; j++) {
            const Perftools__Profiles__Label *lb = src->label[j];
            struct lab_ent e = {0, 0, 0, 0, 0};
            /* pprof's decoder: a label with a string is a string label; otherwise one with a
             * number or a unit is numeric; a label with neither is dropped. */
            if (lb->str) {
                XS(e.str, c, lb->str);
            } else if (lb->num || lb->num_unit) {
                e.is_num = 1;
                e.num = lb->num;
                XS(e.unit, c, lb->num_unit);
            } else {
                continue;
            }
            XS(e.key, c, lb->key);
            m->tmp_labs[nlab++] = e;
        }
        sort_labels(m, m->tmp_labs, nlab);
    }

    struct smp_probe p = {m, m->tmp_locs, (uint32_t)nloc, m->tmp_labs, (uint32_t)nlab};
    uint64_t h = cpgo_hash_mix(0x44, nloc);
    for (size_t j = 0; j < nloc; j++) h = cpgo_hash_mix(h, p.locs[j]);
    for (size_t j = 0; j < nlab; j++) {
        const struct lab_ent *e = &p.labs[j];
        h = cpgo_hash_mix(h, e->key);
        h = cpgo_hash_mix(h, e->is_num ? (uint64_t)e->num : e->str);
        h = cpgo_hash_mix(h, e->unit);
    }
    int64_t idx = cpgo_itab_find(&m->smp_tab, h, smp_eq, &p);
    int64_t *v;
    if (idx >= 0) {
        v = &m->vals[(size_t)idx * m->nst];
        /* every column is checked before any is changed: a refused add leaves no trace */
        for (size_t i = 0; i < m->nst; i++) {
            int64_t r;
            if (__builtin_add_overflow(v[i], src->value[c->vsel[i]], &r)) {
                c->ovf_sample = si;
                c->ovf_type = i;
                c->ovf_acc = v[i];
                return CPGO_E_INPUT;
            }
        }
        if ((size_t)idx < c->mark.nsmps) {
            if (CPGO_ARRAY_PUSH_ROOM(c->undo, c->nundo, c->undo_cap)) return CPGO_E_NOMEM;
            c->undo[c->nundo++] = (struct undo){(size_t)idx, si};
        }
        for (size_t i = 0; i < m->nst; i++) {
            v[i] += src->value[c->vsel[i]];
            if (!v[i]) m->dirty = 1; /* may have become all-zero: checked at the end */
        }
        return 0;
    }
    if (m->nsloc + nloc > UINT32_MAX || m->nlabs + nlab > UINT32_MAX || m->nsmps >= UINT32_MAX)
        return CPGO_E_LIMIT;
    if (CPGO_ARRAY_PUSH_ROOM(m->smps, m->nsmps, m->smps_cap) ||
        cpgo_array_grow((void **)&m->sloc, &m->sloc_cap, m->nsloc + nloc + 1, sizeof *m->sloc) ||
        cpgo_array_grow((void **)&m->labs, &m->labs_cap, m->nlabs + nlab + 1, sizeof *m->labs) ||
        cpgo_array_grow((void **)&m->vals, &m->vals_cap, (m->nsmps + 1) * m->nst + 1,
                        sizeof *m->vals))
        return CPGO_E_NOMEM;
    if (nloc) memcpy(&m->sloc[m->nsloc], p.locs, nloc * sizeof *p.locs);
    if (nlab) memcpy(&m->labs[m->nlabs], p.labs, nlab * sizeof *p.labs);
    m->smps[m->nsmps] = (struct smp_ent){(uint32_t)m->nsloc, (uint32_t)nloc, (uint32_t)m->nlabs,
                                         (uint32_t)nlab};
    v = &m->vals[m->nsmps * m->nst];
    for (size_t i = 0; i < m->nst; i++) v[i] = src->value[c->vsel[i]];
    if (cpgo_itab_insert(&m->smp_tab, h, (uint32_t)m->nsmps)) return CPGO_E_NOMEM;
    m->nsloc += nloc;
    m->nlabs += nlab;
    m->nsmps++;
    return 0;
}

/* ---- header and compatibility ------------------------------------------------------------- */

static void fmt_types(const struct add_ctx *c, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (size_t i = 0; i < c->pb->n_sample_type && o < cap; i++) {
        size_t lt, lu;
        const char *t = cpgo_profile_str(c->pb, c->pb->sample_type[i]->type, &lt);
        const char *u = cpgo_profile_str(c->pb, c->pb->sample_type[i]->unit, &lu);
        o += (size_t)snprintf(buf + o, cap - o, "%s%.*s/%.*s", i ? " " : "", (int)(lt > 64 ? 64 : lt),
                              t, (int)(lu > 64 ? 64 : lu), u);
    }
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static void fmt_acc_types(const struct cpgo_merger *m, char *buf, size_t cap)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (size_t i = 0; i < m->nst && o < cap; i++) {
        size_t lt, lu;
        const char *t = str_at(m, m->st[i].type, &lt), *u = str_at(m, m->st[i].unit, &lu);
        o += (size_t)snprintf(buf + o, cap - o, "%s%.*s/%.*s", i ? " " : "", (int)(lt > 64 ? 64 : lt),
                              t, (int)(lu > 64 ? 64 : lu), u);
    }
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* Decides which input value feeds each accumulator sample type (c->vsel), narrowing the
 * accumulator's types in compat mode. Nothing is modified on error. */
static int reconcile_types(struct add_ctx *c, struct cpgo_err *err)
{
    struct cpgo_merger *m = c->m;
    const cpgo_pb_profile *pb = c->pb;
    struct vtype pt = {0, 0};
    if (pb->period_type) {
        XS(pt.type, c, pb->period_type->type);
        XS(pt.unit, c, pb->period_type->unit);
    }
    char a[256], b[256];
    if (m->opts.shape) {
        /* The shape is the reference, never an input: each input's types are mapped onto
         * the shape's order; another set or period type refuses this input only. */
        const struct cpgo_shape *sh = m->opts.shape;
        size_t perm[CPGO_SHAPE_MAX_TYPES];
        int rc = cpgo_shape_match(sh, pb, perm, err);
        if (rc) return rc;
        if (m->ninputs == 0) {
            m->st = calloc(sh->ntypes + 1, sizeof *m->st);
            if (!m->st) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
            m->nst = sh->ntypes;
            for (size_t i = 0; i < sh->ntypes; i++) {
                int64_t t = intern(m, sh->types[i].type, strlen(sh->types[i].type));
                int64_t u = intern(m, sh->types[i].unit, strlen(sh->types[i].unit));
                if (t < 0 || u < 0) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
                m->st[i] = (struct vtype){(uint32_t)t, (uint32_t)u};
            }
            m->period_type = pt;
            XS(m->drop_frames, c, pb->drop_frames);
            XS(m->keep_frames, c, pb->keep_frames);
        }
        for (size_t i = 0; i < sh->ntypes; i++) c->vsel[i] = perm[i];
        return 0;
    }
    if (m->ninputs == 0) {
        m->nst = pb->n_sample_type;
        m->st = calloc(m->nst + 1, sizeof *m->st);
        if (!m->st) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
        for (size_t i = 0; i < m->nst; i++) {
            XS(m->st[i].type, c, pb->sample_type[i]->type);
            XS(m->st[i].unit, c, pb->sample_type[i]->unit);
            c->vsel[i] = i;
        }
        m->period_type = pt;
        XS(m->drop_frames, c, pb->drop_frames);
        XS(m->keep_frames, c, pb->keep_frames);
        return 0;
    }
    if (pt.type != m->period_type.type || pt.unit != m->period_type.unit) {
        size_t l1, l2, l3, l4;
        const char *t1 = str_at(m, m->period_type.type, &l1), *u1 = str_at(m, m->period_type.unit, &l2);
        const char *t2 = str_at(m, pt.type, &l3), *u2 = str_at(m, pt.unit, &l4);
        return cpgo_err_set(err, CPGO_E_INCOMPAT, "incompatible period types %.*s/%.*s and %.*s/%.*s",
                            (int)(l1 > 64 ? 64 : l1), t1, (int)(l2 > 64 ? 64 : l2), u1,
                            (int)(l3 > 64 ? 64 : l3), t2, (int)(l4 > 64 ? 64 : l4), u2);
    }
    if (!m->opts.compat) {
        int ok = pb->n_sample_type == m->nst;
        for (size_t i = 0; ok && i < m->nst; i++) {
            uint32_t t, u;
            XS(t, c, pb->sample_type[i]->type);
            XS(u, c, pb->sample_type[i]->unit);
            ok = t == m->st[i].type && u == m->st[i].unit;
            c->vsel[i] = i;
        }
        if (!ok) {
            fmt_acc_types(m, a, sizeof a);
            fmt_types(c, b, sizeof b);
            return cpgo_err_set(err, CPGO_E_INCOMPAT, "incompatible sample types %s and %s", a, b);
        }
        return 0;
    }
    /* compat: keep the accumulator's types that this input also has (first match by name). */
    size_t keep = 0;
    size_t *sel = calloc(m->nst + 1, sizeof *sel);
    int *kept = calloc(m->nst + 1, sizeof *kept);
    int rc = 0;
    if (!sel || !kept) {
        rc = cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < m->nst; i++) {
        for (size_t j = 0; j < pb->n_sample_type; j++) {
            int64_t t = xl_str(c, pb->sample_type[j]->type);
            if (t < 0) {
                rc = cpgo_err_set(err, (int)t, "out of memory");
                goto out;
            }
            if ((uint32_t)t != m->st[i].type) continue;
            int64_t u = xl_str(c, pb->sample_type[j]->unit);
            if (u < 0) {
                rc = cpgo_err_set(err, (int)u, "out of memory");
                goto out;
            }
            if ((uint32_t)u != m->st[i].unit) {
                size_t lt, l1, l2;
                const char *tn = str_at(m, m->st[i].type, &lt);
                const char *u1 = str_at(m, m->st[i].unit, &l1), *u2 = str_at(m, (uint32_t)u, &l2);
                rc = cpgo_err_set(err, CPGO_E_INCOMPAT,
                                  "sample type %.*s has unit %.*s in one profile and %.*s in "
                                  "another (cpgo does not rescale values)",
                                  (int)(lt > 64 ? 64 : lt), tn, (int)(l1 > 64 ? 64 : l1), u1,
                                  (int)(l2 > 64 ? 64 : l2), u2);
                goto out;
            }
            sel[i] = j;
            kept[i] = 1;
            keep++;
            break;
        }
    }
    if (keep == 0) {
        fmt_acc_types(m, a, sizeof a);
        fmt_types(c, b, sizeof b);
        rc = cpgo_err_set(err, CPGO_E_INCOMPAT, "profiles have no sample type in common: %s and %s",
                          a, b);
        goto out;
    }
    if (keep < m->nst) {
        /* Drop the columns this input lacks from everything accumulated so far (kept aside
         * first: the rest of this input may still be refused). */
        c->saved_st = malloc((m->nst + 1) * sizeof *m->st);
        c->saved_vals = malloc((m->nsmps * m->nst + 1) * sizeof *m->vals);
        if (!c->saved_st || !c->saved_vals) {
            rc = cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
            goto out;
        }
        memcpy(c->saved_st, m->st, m->nst * sizeof *m->st);
        if (m->nsmps) memcpy(c->saved_vals, m->vals, m->nsmps * m->nst * sizeof *m->vals);
        for (size_t s = 0; s < m->nsmps; s++) {
            size_t o = 0;
            for (size_t i = 0; i < m->nst; i++)
                if (kept[i]) m->vals[s * keep + o++] = m->vals[s * m->nst + i];
        }
        size_t o = 0;
        for (size_t i = 0; i < m->nst; i++)
            if (kept[i]) m->st[o++] = m->st[i];
        m->nst = keep;
        m->dirty = 1;
    }
    for (size_t i = 0, n = 0; n < keep; i++)
        if (kept[i]) c->vsel[n++] = sel[i];
out:
    free(sel);
    free(kept);
    return rc;
}

static int fold_header(struct add_ctx *c)
{
    struct cpgo_merger *m = c->m;
    const cpgo_pb_profile *pb = c->pb;
    /* pprof's combineHeaders loop, step by step, so that it can run incrementally. */
    int64_t duration;
    if (__builtin_add_overflow(m->duration_nanos, pb->duration_nanos, &duration)) {
        c->ovf_duration = 1;
        return CPGO_E_INPUT;
    }
    m->duration_nanos = duration;
    if (m->time_nanos == 0 || pb->time_nanos < m->time_nanos) m->time_nanos = pb->time_nanos;
    if (m->period == 0 || m->period < pb->period) m->period = pb->period;
    for (size_t i = 0; i < pb->n_comment; i++) {
        uint32_t s;
        XS(s, c, pb->comment[i]);
        size_t j = 0;
        while (j < m->ncomments && m->comments[j] != s) j++;
        if (j < m->ncomments) continue;
        if (CPGO_ARRAY_PUSH_ROOM(m->comments, m->ncomments, m->comments_cap)) return CPGO_E_NOMEM;
        m->comments[m->ncomments++] = s;
    }
    uint32_t dst;
    XS(dst, c, pb->default_sample_type);
    if (m->opts.compat) {
        /* Settled at the end, once the common sample types are known. */
        if (CPGO_ARRAY_PUSH_ROOM(m->meta, m->nmeta, m->meta_cap) ||
            cpgo_array_grow((void **)&m->meta_types, &m->meta_types_cap,
                            m->nmeta_types + pb->n_sample_type + 1, sizeof *m->meta_types))
            return CPGO_E_NOMEM;
        struct input_meta *im = &m->meta[m->nmeta++];
        im->default_st = dst;
        im->ntypes = (uint32_t)pb->n_sample_type;
        im->types_off = (uint32_t)m->nmeta_types;
        for (size_t i = 0; i < pb->n_sample_type; i++)
            XS(m->meta_types[m->nmeta_types++], c, pb->sample_type[i]->type);
    } else if (m->default_st == 0) {
        m->default_st = dst;
    }
    if (m->doc_url == 0) XS(m->doc_url, c, pb->doc_url);
    return 0;
}

/* compat mode: pprof's compatibilizeSampleTypes rewrites each input's default sample type
 * when it had to drop or reorder that input's types; then the first non-empty one wins. */
static void settle_compat_default(struct cpgo_merger *m)
{
    if (m->default_st) return; /* settled already (or carried over by a compaction) */
    for (size_t k = 0; k < m->nmeta; k++) {
        const struct input_meta *im = &m->meta[k];
        const uint32_t *types = &m->meta_types[im->types_off];
        int needs_mod = im->ntypes != m->nst;
        int in_list = 0;
        for (size_t i = 0; i < m->nst; i++) {
            size_t j = 0;
            while (j < im->ntypes && types[j] != m->st[i].type) j++;
            if (j != i) needs_mod = 1;
            if (m->st[i].type == im->default_st && im->default_st) in_list = 1;
        }
        uint32_t d = im->default_st;
        if (needs_mod) d = in_list ? im->default_st : m->st[0].type;
        if (d) {
            m->default_st = d;
            return;
        }
    }
}

/*
 * Which locations may lose their address without changing what Go PGO reads.
 *
 * The compiler's graph (internal/profile.NewGraph) walks only the two leaf-most locations
 * of each sample and keys a node by (function name, start line, line, address). Zeroing
 * addresses merges nodes; that is harmless except where a sample's leaf and caller
 * locations then share a node they did not share before: the compiler drops an edge from a
 * node to itself and counts an edge once per sample, so a recursive call on one line
 * (fib -> fib) would lose weight. Such pairs keep their raw addresses (mappings and columns
 * still go). Everything else is stripped. The decision is per location of this input and
 * applies to all its uses alike.
 */
static int line_node_eq(const struct add_ctx *c, const Perftools__Profiles__Line *a,
                        const Perftools__Profiles__Line *b)
{
    if (!a || !b) {
        /* a location without lines is one node with an empty name, line 0 and start 0 */
        const Perftools__Profiles__Line *l = a ? a : b;
        if (!l) return 1;
        const Perftools__Profiles__Function *f =
            c->pb->function[cpgo_id_lookup(&c->p->function_ids, l->function_id)];
        return l->line == 0 && f->start_line == 0 && c->pb->string_table[f->name].len == 0;
    }
    if (a->line != b->line) return 0;
    const Perftools__Profiles__Function *fa =
        c->pb->function[cpgo_id_lookup(&c->p->function_ids, a->function_id)];
    const Perftools__Profiles__Function *fb =
        c->pb->function[cpgo_id_lookup(&c->p->function_ids, b->function_id)];
    if (fa->start_line != fb->start_line) return 0;
    const ProtobufCBinaryData *na = &c->pb->string_table[fa->name];
    const ProtobufCBinaryData *nb = &c->pb->string_table[fb->name];
    return na->len == nb->len && !memcmp(na->data, nb->data, na->len);
}

static int locs_share_node(const struct add_ctx *c, const Perftools__Profiles__Location *x,
                           const Perftools__Profiles__Location *y)
{
    size_t nx = x->n_line ? x->n_line : 1, ny = y->n_line ? y->n_line : 1;
    for (size_t i = 0; i < nx; i++)
        for (size_t j = 0; j < ny; j++)
            if (line_node_eq(c, x->n_line ? x->line[i] : NULL, y->n_line ? y->line[j] : NULL))
                return 1;
    return 0;
}

static void mark_kept_addresses(struct add_ctx *c)
{
    const cpgo_pb_profile *pb = c->pb;
    for (size_t i = 0; i < pb->n_sample; i++) {
        const Perftools__Profiles__Sample *s = pb->sample[i];
        if (s->n_location_id < 2) continue;
        int64_t a = cpgo_id_lookup(&c->p->location_ids, s->location_id[0]);
        int64_t b = cpgo_id_lookup(&c->p->location_ids, s->location_id[1]);
        const Perftools__Profiles__Location *la = pb->location[a], *lb = pb->location[b];
        if (la->address == lb->address || (c->keepaddr[a] && c->keepaddr[b])) continue;
        if (locs_share_node(c, la, lb)) c->keepaddr[a] = c->keepaddr[b] = 1;
    }
}

static void set_mark(struct add_ctx *c)
{
    const struct cpgo_merger *m = c->m;
    c->mark = (struct mark){
        .ninputs = m->ninputs,
        .nst = m->nst,
        .nstrs = m->nstrs,
        .arena_len = m->arena.len,
        .nfns = m->nfns,
        .nmaps = m->nmaps,
        .nlocs = m->nlocs,
        .nlines = m->nlines,
        .nsmps = m->nsmps,
        .nsloc = m->nsloc,
        .nlabs = m->nlabs,
        .ncomments = m->ncomments,
        .nmeta = m->nmeta,
        .nmeta_types = m->nmeta_types,
        .period_type = m->period_type,
        .drop_frames = m->drop_frames,
        .keep_frames = m->keep_frames,
        .default_st = m->default_st,
        .doc_url = m->doc_url,
        .time_nanos = m->time_nanos,
        .duration_nanos = m->duration_nanos,
        .period = m->period,
        .dirty = m->dirty,
    };
}

/* Puts the merger back exactly as it was at the mark. Never allocates. */
static void rollback(struct add_ctx *c)
{
    struct cpgo_merger *m = c->m;
    const struct mark *k = &c->mark;
    if (c->saved_vals) {
        /* compat narrowed this call: the old columns come back whole */
        memcpy(m->st, c->saved_st, k->nst * sizeof *m->st);
        if (k->nsmps) memcpy(m->vals, c->saved_vals, k->nsmps * k->nst * sizeof *m->vals);
    } else {
        for (size_t u = c->nundo; u-- > 0;) {
            int64_t *v = &m->vals[c->undo[u].smp * m->nst];
            const int64_t *in = c->pb->sample[c->undo[u].in]->value;
            for (size_t i = 0; i < m->nst; i++) v[i] -= in[c->vsel[i]];
        }
    }
    if (k->ninputs == 0) {
        free(m->st);
        m->st = NULL;
    }
    m->ninputs = k->ninputs;
    m->nst = k->nst;
    m->nstrs = k->nstrs;
    m->arena.len = k->arena_len;
    m->nfns = k->nfns;
    m->nmaps = k->nmaps;
    m->nlocs = k->nlocs;
    m->nlines = k->nlines;
    m->nsmps = k->nsmps;
    m->nsloc = k->nsloc;
    m->nlabs = k->nlabs;
    m->ncomments = k->ncomments;
    m->nmeta = k->nmeta;
    m->nmeta_types = k->nmeta_types;
    m->period_type = k->period_type;
    m->drop_frames = k->drop_frames;
    m->keep_frames = k->keep_frames;
    m->default_st = k->default_st;
    m->doc_url = k->doc_url;
    m->time_nanos = k->time_nanos;
    m->duration_nanos = k->duration_nanos;
    m->period = k->period;
    m->dirty = k->dirty;
    cpgo_itab_truncate(&m->str_tab, k->nstrs);
    cpgo_itab_truncate(&m->fn_tab, k->nfns);
    cpgo_itab_truncate(&m->map_tab, k->nmaps);
    cpgo_itab_truncate(&m->loc_tab, k->nlocs);
    cpgo_itab_truncate(&m->smp_tab, k->nsmps);
}

static void overflow_error(const struct add_ctx *c, struct cpgo_err *err)
{
    if (c->ovf_duration) {
        cpgo_err_set(err, CPGO_E_INPUT,
                     "its duration (%" PRId64 " ns) added to the %" PRId64
                     " ns merged so far overflows int64; input refused",
                     c->pb->duration_nanos, c->m->duration_nanos);
        return;
    }
    size_t lt, lu;
    const char *t = str_at(c->m, c->m->st[c->ovf_type].type, &lt);
    const char *u = str_at(c->m, c->m->st[c->ovf_type].unit, &lu);
    cpgo_err_set(err, CPGO_E_INPUT,
                 "sample %zu's %.*s/%.*s value (%" PRId64 ") added to the %" PRId64
                 " merged so far overflows int64; input refused",
                 c->ovf_sample + 1, (int)(lt > 64 ? 64 : lt), t, (int)(lu > 64 ? 64 : lu), u,
                 c->pb->sample[c->ovf_sample]->value[c->vsel[c->ovf_type]], c->ovf_acc);
}

int cpgo_merge_add(struct cpgo_merger *m, const struct cpgo_profile *p, struct cpgo_err *err)
{
    const cpgo_pb_profile *pb = p->pb;
    struct add_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.p = p;
    c.pb = pb;
    err->code = 0;
    set_mark(&c);
    int rc = 0;
    c.strx = malloc((pb->n_string_table + 1) * sizeof *c.strx);
    c.fnx = calloc(pb->n_function + 1, sizeof *c.fnx);
    c.mapx = calloc(pb->n_mapping + 1, sizeof *c.mapx);
    c.locx = calloc(pb->n_location + 1, sizeof *c.locx);
    c.vsel = calloc(pb->n_sample_type + m->nst + 1, sizeof *c.vsel);
    c.keepaddr = calloc(pb->n_location + 1, 1);
    if (!c.strx || !c.fnx || !c.mapx || !c.locx || !c.vsel || !c.keepaddr) {
        rc = CPGO_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < pb->n_string_table; i++) c.strx[i] = -1;
    if ((rc = reconcile_types(&c, err))) goto out;
    if (m->opts.shape && (rc = cpgo_shape_check_values(m->opts.shape, pb, err))) goto out;
    if (m->opts.trim.strip_addresses) mark_kept_addresses(&c);
    if ((rc = fold_header(&c))) goto out;
    m->ninputs++;
    /* The first mapping of the first input that has any becomes mapping 1 (the main binary). */
    if (m->nmaps == 0 && pb->n_mapping > 0 && !m->opts.trim.strip_addresses) {
        struct map_xl mx;
        if ((rc = xl_map(&c, 0, &mx))) goto out;
    }
    for (size_t i = 0; i < pb->n_sample && !rc; i++) rc = add_sample(&c, i);
out:
    if (rc) {
        if (c.ovf_duration || (rc == CPGO_E_INPUT && err->code == 0)) overflow_error(&c, err);
        else if (err->code != rc)
            cpgo_err_set(err, rc, rc == CPGO_E_LIMIT ? "merged profile too large" : "out of memory");
        rollback(&c);
    }
    free(c.strx);
    free(c.fnx);
    free(c.mapx);
    free(c.locx);
    free(c.vsel);
    free(c.keepaddr);
    free(c.undo);
    free(c.saved_st);
    free(c.saved_vals);
    return rc;
}

size_t cpgo_merge_count(const struct cpgo_merger *m)
{
    return m->ninputs;
}

size_t cpgo_merge_nsamples(const struct cpgo_merger *m)
{
    return m->nsmps;
}

int cpgo_merge_new(struct cpgo_merger **out, const struct cpgo_merge_opts *opts)
{
    struct cpgo_merger *m = calloc(1, sizeof *m);
    if (!m) return CPGO_E_NOMEM;
    if (opts) m->opts = *opts;
    cpgo_buf_init(&m->arena, UINT32_MAX);
    /* a non-NULL arena from the start: string pointers are always arena.data + offset */
    if (cpgo_buf_reserve(&m->arena, 4096) || intern(m, "", 0) != 0) {
        cpgo_merge_free(m);
        return CPGO_E_NOMEM;
    }
    *out = m;
    return 0;
}

void cpgo_merge_free(struct cpgo_merger *m)
{
    if (!m) return;
    free(m->st);
    free(m->comments);
    cpgo_buf_free(&m->arena);
    free(m->strs);
    cpgo_itab_free(&m->str_tab);
    free(m->fns);
    cpgo_itab_free(&m->fn_tab);
    free(m->maps);
    cpgo_itab_free(&m->map_tab);
    free(m->locs);
    cpgo_itab_free(&m->loc_tab);
    free(m->lines);
    free(m->smps);
    cpgo_itab_free(&m->smp_tab);
    free(m->sloc);
    free(m->labs);
    free(m->vals);
    free(m->meta);
    free(m->meta_types);
    free(m->tmp_lines);
    free(m->tmp_locs);
    free(m->tmp_labs);
    free(m);
}

/* ---- export ------------------------------------------------------------------------------- */

struct export_ctx {
    const struct cpgo_merger *m;
    int64_t *sx; /* accumulator string id -> output index, -1 = not yet */
    ProtobufCBinaryData *strings;
    size_t nstrings;
};

static int64_t out_str(struct export_ctx *x, uint32_t id)
{
    if (x->sx[id] >= 0) return x->sx[id];
    size_t len;
    const char *s = str_at(x->m, id, &len);
    x->strings[x->nstrings].data = (uint8_t *)s;
    x->strings[x->nstrings].len = len;
    x->sx[id] = (int64_t)x->nstrings;
    return (int64_t)x->nstrings++;
}

void cpgo_merged_free(struct cpgo_merged *r)
{
    if (!r) return;
    for (int i = 0; i < r->nmem; i++) free(r->mem[i]);
    free(r);
}

static void *own(struct cpgo_merged *r, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p) r->mem[r->nmem++] = p;
    return p;
}

/* Builds the message. String table order follows pprof's encoder: "", sample types, labels,
 * mappings, functions, drop/keep frames, period type, comments, default type, doc url. */
static int export_pb(const struct cpgo_merger *m, struct cpgo_merged **out)
{
    struct cpgo_merged *r = calloc(1, sizeof *r);
    if (!r) return CPGO_E_NOMEM;
    cpgo_pb_profile *pb = &r->pb;
    perftools__profiles__profile__init(pb);
    struct export_ctx x = {m, NULL, NULL, 0};
    x.strings = own(r, m->nstrs, sizeof *x.strings);
    Perftools__Profiles__ValueType *vt = own(r, m->nst + 1, sizeof *vt);
    Perftools__Profiles__ValueType **vtp = own(r, m->nst + 1, sizeof *vtp);
    Perftools__Profiles__Sample *sm = own(r, m->nsmps, sizeof *sm);
    Perftools__Profiles__Sample **smp = own(r, m->nsmps, sizeof *smp);
    Perftools__Profiles__Label *lb = own(r, m->nlabs, sizeof *lb);
    Perftools__Profiles__Label **lbp = own(r, m->nlabs, sizeof *lbp);
    Perftools__Profiles__Mapping *mp = own(r, m->nmaps, sizeof *mp);
    Perftools__Profiles__Mapping **mpp = own(r, m->nmaps, sizeof *mpp);
    Perftools__Profiles__Location *lc = own(r, m->nlocs, sizeof *lc);
    Perftools__Profiles__Location **lcp = own(r, m->nlocs, sizeof *lcp);
    Perftools__Profiles__Line *ln = own(r, m->nlines, sizeof *ln);
    Perftools__Profiles__Line **lnp = own(r, m->nlines, sizeof *lnp);
    Perftools__Profiles__Function *fn = own(r, m->nfns, sizeof *fn);
    Perftools__Profiles__Function **fnp = own(r, m->nfns, sizeof *fnp);
    int64_t *cm = own(r, m->ncomments, sizeof *cm);
    /* the translation table is only needed while building */
    x.sx = malloc((m->nstrs + 1) * sizeof *x.sx);
    if (r->nmem != 16 || !x.sx) {
        free(x.sx);
        cpgo_merged_free(r);
        return CPGO_E_NOMEM;
    }
    for (size_t i = 0; i < m->nstrs; i++) x.sx[i] = -1;

    out_str(&x, 0);
    for (size_t i = 0; i < m->nst; i++) {
        perftools__profiles__value_type__init(&vt[i]);
        vt[i].type = out_str(&x, m->st[i].type);
        vt[i].unit = out_str(&x, m->st[i].unit);
        vtp[i] = &vt[i];
    }
    pb->n_sample_type = m->nst;
    pb->sample_type = vtp;

    for (size_t i = 0; i < m->nsmps; i++) {
        const struct smp_ent *s = &m->smps[i];
        perftools__profiles__sample__init(&sm[i]);
        sm[i].n_location_id = s->nloc;
        sm[i].location_id = &m->sloc[s->loc_off];
        sm[i].n_value = m->nst;
        sm[i].value = &m->vals[i * m->nst];
        sm[i].n_label = s->nlab;
        sm[i].label = &lbp[s->lab_off];
        for (uint32_t j = 0; j < s->nlab; j++) {
            const struct lab_ent *e = &m->labs[s->lab_off + j];
            Perftools__Profiles__Label *l = &lb[s->lab_off + j];
            perftools__profiles__label__init(l);
            l->key = out_str(&x, e->key);
            if (e->is_num) {
                l->num = e->num;
                l->num_unit = e->unit ? out_str(&x, e->unit) : 0;
            } else {
                l->str = out_str(&x, e->str);
            }
            lbp[s->lab_off + j] = l;
        }
        smp[i] = &sm[i];
    }
    pb->n_sample = m->nsmps;
    pb->sample = smp;

    for (size_t i = 0; i < m->nmaps; i++) {
        const struct map_ent *e = &m->maps[i];
        Perftools__Profiles__Mapping *o = &mp[i];
        perftools__profiles__mapping__init(o);
        o->id = i + 1;
        o->memory_start = e->start;
        o->memory_limit = e->limit;
        o->file_offset = e->offset;
        o->filename = out_str(&x, e->file);
        o->build_id = out_str(&x, e->build_id);
        o->has_functions = e->flags & 1;
        o->has_filenames = (e->flags >> 1) & 1;
        o->has_line_numbers = (e->flags >> 2) & 1;
        o->has_inline_frames = (e->flags >> 3) & 1;
        mpp[i] = o;
    }
    pb->n_mapping = m->nmaps;
    pb->mapping = mpp;

    for (size_t i = 0; i < m->nlocs; i++) {
        const struct loc_ent *e = &m->locs[i];
        Perftools__Profiles__Location *o = &lc[i];
        perftools__profiles__location__init(o);
        o->id = i + 1;
        o->mapping_id = e->mapping;
        o->address = e->address;
        o->is_folded = e->folded;
        o->n_line = e->nlines;
        o->line = &lnp[e->line_off];
        for (uint32_t j = 0; j < e->nlines; j++) {
            const struct line_ent *le = &m->lines[e->line_off + j];
            Perftools__Profiles__Line *l = &ln[e->line_off + j];
            perftools__profiles__line__init(l);
            l->function_id = le->fn + 1;
            l->line = le->line;
            l->column = le->column;
            lnp[e->line_off + j] = l;
        }
        lcp[i] = o;
    }
    pb->n_location = m->nlocs;
    pb->location = lcp;

    for (size_t i = 0; i < m->nfns; i++) {
        const struct fn_ent *e = &m->fns[i];
        Perftools__Profiles__Function *o = &fn[i];
        perftools__profiles__function__init(o);
        o->id = i + 1;
        o->name = out_str(&x, e->name);
        o->system_name = out_str(&x, e->sys);
        o->filename = out_str(&x, e->file);
        o->start_line = e->start_line;
        fnp[i] = o;
    }
    pb->n_function = m->nfns;
    pb->function = fnp;

    pb->drop_frames = out_str(&x, m->drop_frames);
    pb->keep_frames = out_str(&x, m->keep_frames);
    /* Like pprof, always write a period type (empty strings when the inputs had none). */
    Perftools__Profiles__ValueType *pt = &vt[m->nst];
    perftools__profiles__value_type__init(pt);
    pt->type = out_str(&x, m->period_type.type);
    pt->unit = out_str(&x, m->period_type.unit);
    pb->period_type = pt;
    for (size_t i = 0; i < m->ncomments; i++) cm[i] = out_str(&x, m->comments[i]);
    pb->n_comment = m->ncomments;
    pb->comment = cm;
    pb->default_sample_type = out_str(&x, m->default_st);
    pb->doc_url = out_str(&x, m->doc_url);
    pb->time_nanos = m->time_nanos;
    pb->duration_nanos = m->duration_nanos;
    pb->period = m->period;
    pb->n_string_table = x.nstrings;
    pb->string_table = x.strings;
    free(x.sx);
    *out = r;
    return 0;
}

static int has_zero_sample(const struct cpgo_merger *m)
{
    for (size_t i = 0; i < m->nsmps; i++) {
        int zero = 1;
        for (size_t j = 0; j < m->nst && zero; j++)
            if (m->vals[i * m->nst + j]) zero = 0;
        if (zero) return 1;
    }
    return 0;
}

/* Wraps a borrowed message as a validated profile (builds the id maps). */
static int wrap_validate(cpgo_pb_profile *pb, struct cpgo_profile *p, struct cpgo_err *err)
{
    memset(p, 0, sizeof *p);
    p->pb = pb;
    return cpgo_profile_validate(p, err);
}

static void unwrap(struct cpgo_profile *p)
{
    cpgo_idmap_free(&p->mapping_ids.map);
    cpgo_idmap_free(&p->location_ids.map);
    cpgo_idmap_free(&p->function_ids.map);
}

/* pprof's Compact: a merge of the profile with itself, into a fresh accumulator. */
static int compact(struct cpgo_merger *m, struct cpgo_err *err)
{
    struct cpgo_merged *r = NULL;
    struct cpgo_merger *fresh = NULL;
    struct cpgo_profile wp;
    int rc = export_pb(m, &r);
    if (rc) return cpgo_err_set(err, rc, "out of memory");
    /* Header is carried over as is; the fresh merger re-derives ids by first use. */
    struct cpgo_merge_opts o = m->opts;
    o.compat = 0;
    if ((rc = cpgo_merge_new(&fresh, &o))) {
        cpgo_merged_free(r);
        return cpgo_err_set(err, rc, "out of memory");
    }
    if ((rc = wrap_validate(&r->pb, &wp, err)) == 0) rc = cpgo_merge_add(fresh, &wp, err);
    unwrap(&wp);
    cpgo_merged_free(r);
    if (rc) {
        cpgo_merge_free(fresh);
        return rc;
    }
    /* Swap the contents: the caller's pointer stays valid. */
    fresh->ninputs = m->ninputs;
    fresh->opts = m->opts;
    struct cpgo_merger tmp = *m;
    *m = *fresh;
    *fresh = tmp;
    cpgo_merge_free(fresh);
    m->dirty = 0;
    return 0;
}

int cpgo_merge_result(struct cpgo_merger *m, struct cpgo_merged **out, struct cpgo_err *err)
{
    *out = NULL;
    if (m->ninputs == 0) return cpgo_err_set(err, CPGO_E_USAGE, "no profiles to merge");
    if (m->opts.compat) settle_compat_default(m);
    int rc;
    /* As pprof: only when some sample summed to zero is the result merged again to
     * garbage-collect it (and whatever only it referenced). */
    if (m->dirty && has_zero_sample(m) && (rc = compact(m, err))) return rc;
    m->dirty = 0;
    if ((rc = export_pb(m, out))) return cpgo_err_set(err, rc, "out of memory");
    /* M7: never hand out a profile our own validator would refuse. */
    struct cpgo_profile wp;
    rc = wrap_validate(&(*out)->pb, &wp, err);
    unwrap(&wp);
    if (rc) {
        cpgo_err_prefix(err, "internal error: merged profile failed validation");
        cpgo_merged_free(*out);
        *out = NULL;
    }
    return rc;
}

int cpgo_merge_encode(struct cpgo_merger *m, int raw, int threads, struct cpgo_buf *out,
                      struct cpgo_err *err)
{
    struct cpgo_merged *r;
    int rc = cpgo_merge_result(m, &r, err);
    if (rc) return rc;
    rc = cpgo_profile_encode_mt(&r->pb, raw, threads, out, err);
    cpgo_merged_free(r);
    return rc;
}

int cpgo_merge_add_merger(struct cpgo_merger *dst, struct cpgo_merger *src, struct cpgo_err *err)
{
    struct cpgo_merged *r;
    int rc = cpgo_merge_result(src, &r, err);
    if (rc) return rc;
    struct cpgo_profile wp;
    rc = wrap_validate(&r->pb, &wp, err);
    if (!rc) rc = cpgo_merge_add(dst, &wp, err);
    unwrap(&wp);
    cpgo_merged_free(r);
    return rc;
}
