/*
 * merge_table.c - the accumulator's tables: strings interned into one arena, functions,
 * mappings, locations and samples, each found by content with pprof's identity rules.
 *
 * Adding an input uses per-input translation arrays (input string / function / mapping /
 * location index -> accumulator index), filled lazily, exactly like pprof's *ByID memo
 * tables: entities are only created when a non-zero sample reaches them. Trimming
 * (merge.h) rewrites here, as each location and sample is translated: columns and
 * addresses (merge_trim.c decides which addresses stay), frames beyond keep_frames, labels;
 * and so do no_inline renaming (a function's name) and scaling (a sample's values, before
 * the all-zero test, so a sample that rounds to zero creates nothing).
 *
 * Thread: as merge.h.
 */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

#include "merge/merge_int.h"

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
    return e->len == p->len &&
           (p->len == 0 || memcmp(p->m->arena.data + e->off, p->s, p->len) == 0);
}

/* Interns s; returns its id (>= 0) or a negative error. */
int64_t merge_intern(struct cpgo_merger *m, const char *s, size_t len)
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

int64_t merge_find_str(const struct cpgo_merger *m, const char *s, size_t len)
{
    struct str_probe p = {m, s, len};
    return cpgo_itab_find(&m->str_tab, cpgo_hash_bytes(s, len, 0x5f), str_eq, &p);
}

/* ---- no_inline renaming ---------------------------------------------------------------- */

#define NOINL_PREFIX_LEN (sizeof CPGO_MERGE_NO_INLINE_PREFIX - 1)

static int has_noinl_prefix(const char *s, size_t len)
{
    return len >= NOINL_PREFIX_LEN && !memcmp(s, CPGO_MERGE_NO_INLINE_PREFIX, NOINL_PREFIX_LEN);
}

int merge_no_inline_add(struct cpgo_merger *m, const char *s, size_t len)
{
    int64_t id = merge_intern(m, s, len);
    if (id < 0) return (int)id;
    if (CPGO_ARRAY_PUSH_ROOM(m->noinl, m->nnoinl, m->noinl_cap)) return CPGO_E_NOMEM;
    m->noinl[m->nnoinl++] = (uint32_t)id;
    /* a name that carries the prefix already is left alone: renaming is idempotent */
    if (has_noinl_prefix(s, len) || cpgo_idmap_get(&m->noinl_map, (uint64_t)id + 1) >= 0) return 0;
    if (len > SIZE_MAX - NOINL_PREFIX_LEN - 1) return CPGO_E_LIMIT;
    char *r = malloc(NOINL_PREFIX_LEN + len + 1);
    if (!r) return CPGO_E_NOMEM;
    memcpy(r, CPGO_MERGE_NO_INLINE_PREFIX, NOINL_PREFIX_LEN);
    memcpy(r + NOINL_PREFIX_LEN, s, len);
    int64_t rid = merge_intern(m, r, NOINL_PREFIX_LEN + len);
    free(r);
    if (rid < 0) return (int)rid;
    int rc = cpgo_idmap_put(&m->noinl_map, (uint64_t)id + 1, (uint32_t)rid);
    return rc < 0 ? rc : 0;
}

/* The accumulator id of a function named `name` (an accumulator id) once renamed. */
static uint32_t renamed(const struct cpgo_merger *m, uint32_t name)
{
    int64_t r = cpgo_idmap_get(&m->noinl_map, (uint64_t)name + 1);
    return r >= 0 ? (uint32_t)r : name;
}

int merge_renamed_key(const struct cpgo_merger *m, const char *s, size_t len, const char **base,
                      size_t *blen)
{
    if (has_noinl_prefix(s, len)) {
        *base = s + NOINL_PREFIX_LEN;
        *blen = len - NOINL_PREFIX_LEN;
        return 1;
    }
    *base = s;
    *blen = len;
    if (m->noinl_map.n == 0) return 0;
    int64_t id = merge_find_str(m, s, len);
    return id >= 0 && cpgo_idmap_get(&m->noinl_map, (uint64_t)id + 1) >= 0;
}

int64_t merge_xl_str(struct add_ctx *c, int64_t i)
{
    if (c->strx[i] >= 0) return c->strx[i];
    size_t len;
    const char *s = cpgo_profile_str(c->pb, i, &len);
    int64_t id = merge_intern(c->m, s, len);
    if (id >= 0) c->strx[i] = id;
    return id;
}

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
    uint64_t h = cpgo_hash_mix(cpgo_hash_keyed(0x11), f->name);
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
    /* no_inline: the renamed function is the one identity every use of it shares, so
     * renamed and not yet renamed copies of it fold together (pprof's key, after renaming) */
    if (m->noinl_map.n) p.f.name = renamed(m, p.f.name);
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
int merge_xl_map(struct add_ctx *c, size_t i, struct map_xl *out)
{
    if (c->mapx[i].idx1) {
        *out = c->mapx[i];
        return 0;
    }
    struct cpgo_merger *m = c->m;
    const Perftools__Profiles__Mapping *src = c->pb->mapping[i];
    struct map_ent e = {src->memory_start,
                        src->memory_limit,
                        src->file_offset,
                        0,
                        0,
                        (uint8_t)((src->has_functions ? 1 : 0) | (src->has_filenames ? 2 : 0) |
                                  (src->has_line_numbers ? 4 : 0) |
                                  (src->has_inline_frames ? 8 : 0))};
    XS(e.file, c, src->filename);
    XS(e.build_id, c, src->build_id);
    struct map_probe p = {m, map_size_key(e.start, e.limit), e.offset, map_key_str(&e)};
    uint64_t h =
        cpgo_hash_mix(cpgo_hash_mix(cpgo_hash_mix(cpgo_hash_keyed(0x22), p.size), p.offset), p.key);
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
        int rc = merge_xl_map(c, (size_t)mi, &mx);
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
    struct loc_probe p = {
        m, address, mx.idx1, src->is_folded ? 1 : 0, m->tmp_lines, (uint32_t)src->n_line};
    if (mx.idx1) p.key_addr = address - m->maps[mx.idx1 - 1].start;
    uint64_t h =
        cpgo_hash_mix(cpgo_hash_mix(cpgo_hash_mix(cpgo_hash_keyed(0x33), p.key_addr), p.mapping),
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
        m->locs[m->nlocs] =
            (struct loc_ent){address, p.mapping, (uint32_t)m->nlines, p.nlines, p.folded};
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

/* ---- scaling ---------------------------------------------------------------------------- */

int cpgo_merge_scale_value(int64_t v, struct cpgo_scale s, int64_t *out)
{
    if (s.den == 0 || s.num == s.den || v == 0) {
        *out = v;
        return 0;
    }
    /* |v| <= 2^63 and num < 2^64: the product fits in 127 bits */
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    unsigned __int128 prod = (unsigned __int128)mag * s.num;
    unsigned __int128 q = prod / s.den, r = prod % s.den;
    if (r >= s.den - r) q++; /* the nearest integer; a half (2r == den) goes away from zero */
    if (v > 0 ? q > (unsigned __int128)INT64_MAX : q > (unsigned __int128)INT64_MAX + 1)
        return CPGO_E_INPUT;
    *out = v > 0 ? (int64_t)q : (q ? (int64_t)(0 - (uint64_t)q) : 0);
    return 0;
}

int merge_sample_values(struct add_ctx *c, size_t si)
{
    const int64_t *in = c->pb->sample[si]->value;
    size_t nst = c->m->nst;
    if (!c->scaled) {
        for (size_t i = 0; i < nst; i++)
            c->sv[i] = in[c->vsel[i]];
        return 0;
    }
    for (size_t i = 0; i < nst; i++) {
        if (cpgo_merge_scale_value(in[c->vsel[i]], c->scale, &c->sv[i])) {
            c->ovf_scale = 1;
            c->ovf_sample = si;
            c->ovf_type = i;
            c->ovf_val = in[c->vsel[i]];
            return CPGO_E_INPUT;
        }
    }
    return 0;
}

/* The accumulator's value the Go compiler reads: its first samples/count or cpu/nanoseconds
 * type; -1 when it has none. */
int merge_pgo_value_index(const struct cpgo_merger *m)
{
    for (size_t i = 0; i < m->nst; i++) {
        size_t lt, lu;
        const char *t = str_at(m, m->st[i].type, &lt), *u = str_at(m, m->st[i].unit, &lu);
        if ((lt == 7 && !memcmp(t, "samples", 7) && lu == 5 && !memcmp(u, "count", 5)) ||
            (lt == 3 && !memcmp(t, "cpu", 3) && lu == 11 && !memcmp(u, "nanoseconds", 11)))
            return (int)i;
    }
    return -1;
}

/* A uniform 32-bit draw for one input sample under a seed: a hash of its stack and values,
 * so the same input and seed always draw the same (determinism), different samples not. */
static uint64_t sample_draw(const struct add_ctx *c, size_t si, uint64_t seed)
{
    const Perftools__Profiles__Sample *src = c->pb->sample[si];
    uint64_t h =
        cpgo_hash_stable(src->location_id, src->n_location_id * sizeof *src->location_id, seed);
    return cpgo_hash_stable(src->value, src->n_value * sizeof *src->value, h) >> 32;
}

/* The seeded rounding of the compiler's value c->sv[k] (merge.h): weights round it down or
 * up without bias; decay takes one from a count the nearest integer would keep unchanged,
 * with probability v x (1 - f). Both in units of 2^-32. */
static void seeded_round(struct add_ctx *c, size_t si, size_t k)
{
    int64_t v = c->pb->sample[si]->value[c->vsel[k]];
    struct cpgo_scale s = c->scale;
    if (v <= 0) return; /* the shape forbids negatives; nothing to round at 0 */
    if (s.weight_seed) {
        unsigned __int128 prod = (unsigned __int128)(uint64_t)v * s.num;
        unsigned __int128 q = prod / s.den, r = prod % s.den;
        if (q > (unsigned __int128)INT64_MAX - 1) return; /* the nearest value stands */
        uint64_t r32 = (uint64_t)(((unsigned __int128)r << 32) / s.den);
        c->sv[k] = (int64_t)q + (sample_draw(c, si, s.weight_seed) < r32 ? 1 : 0);
    } else if (s.num < s.den && c->sv[k] == v) {
        /* the exact value is v - d, d = v (den - num) / den in (0, 1/2] */
        unsigned __int128 dnum = (unsigned __int128)(uint64_t)v * (s.den - s.num);
        uint64_t d32 = (uint64_t)((dnum << 32) / s.den);
        if (sample_draw(c, si, s.decay_seed) < d32) c->sv[k] = v - 1;
    }
}

int merge_add_sample(struct add_ctx *c, size_t si)
{
    const Perftools__Profiles__Sample *src = c->pb->sample[si];
    struct cpgo_merger *m = c->m;
    /* values, as the accumulator's sample types select them (scaled); all-zero samples,
     * those a scale rounds to zero included, are skipped before they create anything */
    int rc = merge_sample_values(c, si);
    if (rc) return rc;
    const int64_t *sv = c->sv;
    if (c->pgo_k >= 0) seeded_round(c, si, (size_t)c->pgo_k);
    int zero = 1;
    for (size_t i = 0; i < m->nst; i++)
        if (sv[i]) zero = 0;
    if (zero) return 0;
    /* decay: the compiler gives a zero count no weight (merge.h) */
    if (c->pgo_k >= 0 && c->scale.decay_seed && sv[c->pgo_k] == 0) return 0;

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
    /* the stack as one run of bytes: deep stacks are the common case, and a serial mix per
     * frame was a fifth of the merge */
    uint64_t h = cpgo_hash_bytes(p.locs, nloc * sizeof *p.locs, 0x44);
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
            if (__builtin_add_overflow(v[i], sv[i], &r)) {
                c->ovf_sample = si;
                c->ovf_type = i;
                c->ovf_acc = v[i];
                c->ovf_val = sv[i];
                return CPGO_E_INPUT;
            }
        }
        if ((size_t)idx < c->mark.nsmps) {
            if (CPGO_ARRAY_PUSH_ROOM(c->undo, c->nundo, c->undo_cap)) return CPGO_E_NOMEM;
            c->undo[c->nundo++] = (struct undo){(size_t)idx, si};
        }
        for (size_t i = 0; i < m->nst; i++) {
            v[i] += sv[i];
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
    m->smps[m->nsmps] =
        (struct smp_ent){(uint32_t)m->nsloc, (uint32_t)nloc, (uint32_t)m->nlabs, (uint32_t)nlab};
    v = &m->vals[m->nsmps * m->nst];
    for (size_t i = 0; i < m->nst; i++)
        v[i] = sv[i];
    if (cpgo_itab_insert(&m->smp_tab, h, (uint32_t)m->nsmps)) return CPGO_E_NOMEM;
    m->nsloc += nloc;
    m->nlabs += nlab;
    m->nsmps++;
    return 0;
}
