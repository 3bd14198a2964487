/*
 * merge_export.c - the accumulator as a pprof message (borrowing the merger's arrays),
 * pprof's Compact (a merge of the result with itself) when samples summed to zero, the
 * validated result, its encoding, and one merger folded into another.
 *
 * Thread: as merge.h.
 */
#include <stdlib.h>
#include <string.h>

#include "merge/merge_int.h"

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
    for (int i = 0; i < r->nmem; i++)
        free(r->mem[i]);
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
int merge_export_pb(const struct cpgo_merger *m, struct cpgo_merged **out)
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
    int64_t *cm = own(r, m->ncomments + 1, sizeof *cm);
    /* the translation table is only needed while building */
    x.sx = malloc((m->nstrs + 1) * sizeof *x.sx);
    if (r->nmem != 16 || !x.sx) {
        free(x.sx);
        cpgo_merged_free(r);
        return CPGO_E_NOMEM;
    }
    for (size_t i = 0; i < m->nstrs; i++)
        x.sx[i] = -1;

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
    for (size_t i = 0; i < m->ncomments; i++)
        cm[i] = out_str(&x, m->comments[i]);
    pb->n_comment = m->ncomments;
    if (m->has_stamp) cm[pb->n_comment++] = out_str(&x, m->stamp); /* always the last */
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
    int rc = merge_export_pb(m, &r);
    if (rc) return cpgo_err_set(err, rc, "out of memory");
    /* Header is carried over as is; the fresh merger re-derives ids by first use. */
    struct cpgo_merge_opts o = m->opts;
    o.compat = 0;
    if ((rc = cpgo_merge_new(&fresh, &o))) {
        cpgo_merged_free(r);
        return cpgo_err_set(err, rc, "out of memory");
    }
    /* The fresh merger takes over the no_inline names (every accumulated function carries
     * its final name already: they rename nothing here, but later adds need them) and the
     * stamp (set before the add, so the stamp exported last is not read back as an
     * ordinary comment). */
    for (size_t i = 0; i < m->nnoinl && !rc; i++) {
        size_t len;
        const char *s = str_at(m, m->noinl[i], &len);
        rc = merge_no_inline_add(fresh, s, len);
    }
    if (rc) {
        cpgo_err_set(err, rc, "out of memory");
    } else if (m->stamp_prefix) {
        size_t len = 0;
        const char *s = m->has_stamp ? str_at(m, m->stamp, &len) : NULL;
        rc = merge_stamp_copy(fresh, m->stamp_prefix, s, len, err);
    }
    if (!rc && (rc = wrap_validate(&r->pb, &wp, err)) == 0) rc = cpgo_merge_add(fresh, &wp, err);
    unwrap(&wp);
    cpgo_merged_free(r);
    if (rc) {
        cpgo_merge_free(fresh);
        return rc;
    }
    /* Swap the contents: the caller's pointer stays valid. */
    fresh->ninputs = m->ninputs;
    fresh->opts.compat = m->opts.compat; /* the rest of opts is the same already */
    struct cpgo_merger tmp = *m;
    *m = *fresh;
    *fresh = tmp;
    cpgo_merge_free(fresh);
    m->dirty = 0;
    return 0;
}

/* As pprof: only when some sample summed to zero is the result merged again to
 * garbage-collect it (and whatever only it referenced). What every reader of the tables
 * (the result, a copy) does first. */
static int settle_zero_samples(struct cpgo_merger *m, struct cpgo_err *err)
{
    int rc;
    if (m->dirty && has_zero_sample(m) && (rc = compact(m, err))) return rc;
    m->dirty = 0;
    return 0;
}

static int result(struct cpgo_merger *m, struct cpgo_merged **out, struct cpgo_profile **view,
                  struct cpgo_err *err)
{
    *out = NULL;
    if (view) *view = NULL;
    if (m->ninputs == 0) return cpgo_err_set(err, CPGO_E_USAGE, "no profiles to merge");
    if (m->opts.compat) merge_settle_compat_default(m);
    int rc = settle_zero_samples(m, err);
    if (rc) return rc;
    if ((rc = merge_export_pb(m, out))) return cpgo_err_set(err, rc, "out of memory");
    /* M7: never hand out a profile our own validator would refuse. */
    struct cpgo_profile wp;
    rc = wrap_validate(&(*out)->pb, &wp, err);
    if (!rc && view) {
        /* as cpgo_profile_view: no arena, so cpgo_profile_free frees only the id maps */
        if ((*view = malloc(sizeof **view))) {
            **view = wp;
            return 0;
        }
        rc = cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    } else if (rc) {
        cpgo_err_prefix(err, "internal error: merged profile failed validation");
    }
    unwrap(&wp);
    if (rc) {
        cpgo_merged_free(*out);
        *out = NULL;
    }
    return rc;
}

int cpgo_merge_result(struct cpgo_merger *m, struct cpgo_merged **out, struct cpgo_err *err)
{
    return result(m, out, NULL, err);
}

int cpgo_merge_result_view(struct cpgo_merger *m, struct cpgo_merged **out,
                           struct cpgo_profile **view, struct cpgo_err *err)
{
    return result(m, out, view, err);
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

/* ---- one merger into another ------------------------------------------------------------ */

/* Folding a merger into a fresh one with the same options makes a copy of it: the exported
 * result is read back in its own order, so every sample, location, function and mapping is
 * created in the order it has already (each was first used, when it was made, by a sample
 * after every sample that was there before), the header comes over as it is and the string
 * ids, which differ, do not reach the encoding (merge_export_pb numbers strings by first
 * use). Renaming (no_inline, on by default) changes nothing when none of its names is in
 * the source; the copy then takes the names over for later inputs. A publish does exactly
 * this when there is no existing file (a new target, or every first round): copying the
 * tables costs a few memcpy instead of an export, a validation and a merge of the whole
 * target. What a read-back would change is excluded: a label that the export writes as
 * nothing (a string label whose value is the empty string id, a numeric label with neither
 * number nor unit: the decoder drops them), a name to rename, a stamp, compat's per-input
 * bookkeeping, a scale, and any difference of options. tests/unit/test_merge_copy.c
 * compares the two ways byte for byte. */
static int same_opts(const struct cpgo_merge_opts *a, const struct cpgo_merge_opts *b)
{
    return a->compat == b->compat && a->trim.drop_labels == b->trim.drop_labels &&
           a->trim.keep_frames == b->trim.keep_frames &&
           a->trim.strip_addresses == b->trim.strip_addresses && a->shape == b->shape;
}

int cpgo_merge_copyable(const struct cpgo_merger *dst, const struct cpgo_merger *src,
                        struct cpgo_scale s)
{
    if (!(s.den == 0 || s.num == s.den) || s.decay_seed || s.weight_seed) return 0;
    /* fresh: no input (a refused one leaves nothing); its strings are its no_inline names */
    if (dst->ninputs || dst->stamp_prefix || dst->opts.compat) return 0;
    if (!src->ninputs || src->nnoinl || src->stamp_prefix || !same_opts(&dst->opts, &src->opts))
        return 0;
    /* renaming: none of dst's names may be in src at all (as a function's name it would be
     * renamed; anywhere else it is harmless, but rare enough not to tell apart) */
    for (size_t i = 0; i < dst->nnoinl; i++) {
        size_t len;
        const char *n = str_at(dst, dst->noinl[i], &len);
        if (merge_find_str(src, n, len) >= 0) return 0;
    }
    for (size_t i = 0; i < src->nlabs; i++) {
        const struct lab_ent *e = &src->labs[i];
        if (e->is_num ? (e->num == 0 && e->unit == 0) : e->str == 0) return 0;
    }
    return 1;
}

static int dup_arr(void **out, size_t *cap, const void *src, size_t n, size_t size)
{
    free(*out);
    *out = NULL;
    if (cap) *cap = 0;
    if (!n) return 0;
    if (!(*out = malloc(n * size))) return CPGO_E_NOMEM;
    memcpy(*out, src, n * size);
    if (cap) *cap = n;
    return 0;
}

#define DUP(d, s, f, n, capf) dup_arr((void **)&(d)->f, (capf), (s)->f, (n), sizeof *(s)->f)

static int copy_tables(struct cpgo_merger *d, const struct cpgo_merger *s)
{
    d->period_type = s->period_type;
    d->drop_frames = s->drop_frames;
    d->keep_frames = s->keep_frames;
    d->default_st = s->default_st;
    d->doc_url = s->doc_url;
    d->time_nanos = s->time_nanos;
    d->duration_nanos = s->duration_nanos;
    d->period = s->period;
    d->nst = s->nst;
    d->ncomments = s->ncomments;
    d->nstrs = s->nstrs;
    d->nfns = s->nfns;
    d->nmaps = s->nmaps;
    d->nlocs = s->nlocs;
    d->nlines = s->nlines;
    d->nsmps = s->nsmps;
    d->nsloc = s->nsloc;
    d->nlabs = s->nlabs;
    d->arena.len = 0;
    cpgo_itab_free(&d->str_tab);
    if (DUP(d, s, st, s->nst, NULL) || DUP(d, s, comments, s->ncomments, &d->comments_cap) ||
        cpgo_buf_append(&d->arena, s->arena.data, s->arena.len) ||
        DUP(d, s, strs, s->nstrs, &d->strs_cap) || cpgo_itab_copy(&d->str_tab, &s->str_tab) ||
        DUP(d, s, fns, s->nfns, &d->fns_cap) || cpgo_itab_copy(&d->fn_tab, &s->fn_tab) ||
        DUP(d, s, maps, s->nmaps, &d->maps_cap) || cpgo_itab_copy(&d->map_tab, &s->map_tab) ||
        DUP(d, s, locs, s->nlocs, &d->locs_cap) || cpgo_itab_copy(&d->loc_tab, &s->loc_tab) ||
        DUP(d, s, lines, s->nlines, &d->lines_cap) || DUP(d, s, smps, s->nsmps, &d->smps_cap) ||
        cpgo_itab_copy(&d->smp_tab, &s->smp_tab) || DUP(d, s, sloc, s->nsloc, &d->sloc_cap) ||
        DUP(d, s, labs, s->nlabs, &d->labs_cap) || DUP(d, s, vals, s->nsmps * s->nst, &d->vals_cap))
        return CPGO_E_NOMEM;
    d->ninputs = 1; /* as a read-back counts one input */
    d->dirty = 0;
    return 0;
}

/* dst (fresh, copyable) becomes a copy of src, all or nothing. */
static int copy_into(struct cpgo_merger *dst, struct cpgo_merger *src, struct cpgo_err *err)
{
    int rc = settle_zero_samples(src, err);
    if (rc) return rc;
    struct cpgo_merger *t;
    if ((rc = cpgo_merge_new(&t, &dst->opts))) return cpgo_err_set(err, rc, "out of memory");
    rc = copy_tables(t, src);
    /* dst's no_inline names (and their renamed forms), for the inputs after this one */
    for (size_t i = 0; i < dst->nnoinl && !rc; i++) {
        size_t len;
        const char *n = str_at(dst, dst->noinl[i], &len);
        rc = merge_no_inline_add(t, n, len);
    }
    if (rc) {
        cpgo_merge_free(t);
        return cpgo_err_set(err, rc, "out of memory");
    }
    struct cpgo_merger tmp = *dst;
    *dst = *t;
    *t = tmp;
    cpgo_merge_free(t);
    return 0;
}

int cpgo_merge_add_merger_scaled(struct cpgo_merger *dst, struct cpgo_merger *src,
                                 struct cpgo_scale s, struct cpgo_err *err)
{
    if (cpgo_merge_copyable(dst, src, s)) return copy_into(dst, src, err);
    struct cpgo_merged *r;
    int rc = cpgo_merge_result(src, &r, err);
    if (rc) return rc;
    struct cpgo_profile wp;
    rc = wrap_validate(&r->pb, &wp, err);
    if (!rc) rc = cpgo_merge_add_scaled(dst, &wp, s, err);
    unwrap(&wp);
    cpgo_merged_free(r);
    return rc;
}

int cpgo_merge_add_merger(struct cpgo_merger *dst, struct cpgo_merger *src, struct cpgo_err *err)
{
    return cpgo_merge_add_merger_scaled(dst, src, CPGO_SCALE_ONE, err);
}
