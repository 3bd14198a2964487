/*
 * merge_header.c - the header of the merged profile and the compatibility of inputs: which
 * input value feeds each accumulated sample type (pprof's rule, compat narrowing, or the
 * target's shape), pprof's combineHeaders step by step (the duration scaled as the values
 * are), compat's default sample type, and the comment stamp (cpgo_merge_stamp).
 *
 * Thread: as merge.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merge/merge_int.h"
#include "profile/shape.h"

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
        o += (size_t)snprintf(buf + o, cap - o, "%s%.*s/%.*s", i ? " " : "",
                              (int)(lt > 64 ? 64 : lt), t, (int)(lu > 64 ? 64 : lu), u);
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
        o += (size_t)snprintf(buf + o, cap - o, "%s%.*s/%.*s", i ? " " : "",
                              (int)(lt > 64 ? 64 : lt), t, (int)(lu > 64 ? 64 : lu), u);
    }
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* Decides which input value feeds each accumulator sample type (c->vsel), narrowing the
 * accumulator's types in compat mode. Nothing is modified on error. */
int merge_reconcile_types(struct add_ctx *c, struct cpgo_err *err)
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
                int64_t t = merge_intern(m, sh->types[i].type, strlen(sh->types[i].type));
                int64_t u = merge_intern(m, sh->types[i].unit, strlen(sh->types[i].unit));
                if (t < 0 || u < 0) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
                m->st[i] = (struct vtype){(uint32_t)t, (uint32_t)u};
            }
            m->period_type = pt;
            XS(m->drop_frames, c, pb->drop_frames);
            XS(m->keep_frames, c, pb->keep_frames);
        }
        for (size_t i = 0; i < sh->ntypes; i++)
            c->vsel[i] = perm[i];
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
        const char *t1 = str_at(m, m->period_type.type, &l1),
                   *u1 = str_at(m, m->period_type.unit, &l2);
        const char *t2 = str_at(m, pt.type, &l3), *u2 = str_at(m, pt.unit, &l4);
        return cpgo_err_set(err, CPGO_E_INCOMPAT,
                            "incompatible period types %.*s/%.*s and %.*s/%.*s",
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
            int64_t t = merge_xl_str(c, pb->sample_type[j]->type);
            if (t < 0) {
                rc = cpgo_err_set(err, (int)t, "out of memory");
                goto out;
            }
            if ((uint32_t)t != m->st[i].type) continue;
            int64_t u = merge_xl_str(c, pb->sample_type[j]->unit);
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

int merge_fold_header(struct add_ctx *c)
{
    struct cpgo_merger *m = c->m;
    const cpgo_pb_profile *pb = c->pb;
    /* pprof's combineHeaders loop, step by step, so that it can run incrementally. */
    int64_t duration, in_duration = pb->duration_nanos;
    if (c->scaled && cpgo_merge_scale_value(pb->duration_nanos, c->scale, &in_duration)) {
        c->ovf_duration = c->ovf_scale = 1;
        return CPGO_E_INPUT;
    }
    if (__builtin_add_overflow(m->duration_nanos, in_duration, &duration)) {
        c->ovf_duration = 1;
        c->ovf_val = in_duration;
        return CPGO_E_INPUT;
    }
    m->duration_nanos = duration;
    if (m->time_nanos == 0 || pb->time_nanos < m->time_nanos) m->time_nanos = pb->time_nanos;
    if (m->period == 0 || m->period < pb->period) m->period = pb->period;
    for (size_t i = 0; i < pb->n_comment; i++) {
        if (m->stamp_prefix) {
            /* the stamp's prefix is the merger's own: an input's such comment is dropped */
            size_t len;
            const char *t = cpgo_profile_str(pb, pb->comment[i], &len);
            if (len >= m->stamp_prefix_len && !memcmp(t, m->stamp_prefix, m->stamp_prefix_len))
                continue;
        }
        uint32_t s;
        XS(s, c, pb->comment[i]);
        size_t j = 0;
        while (j < m->ncomments && m->comments[j] != s)
            j++;
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
void merge_settle_compat_default(struct cpgo_merger *m)
{
    if (m->default_st) return; /* settled already (or carried over by a compaction) */
    for (size_t k = 0; k < m->nmeta; k++) {
        const struct input_meta *im = &m->meta[k];
        const uint32_t *types = &m->meta_types[im->types_off];
        int needs_mod = im->ntypes != m->nst;
        int in_list = 0;
        for (size_t i = 0; i < m->nst; i++) {
            size_t j = 0;
            while (j < im->ntypes && types[j] != m->st[i].type)
                j++;
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

/* ---- the stamp ------------------------------------------------------------------------------ */

int cpgo_merge_stamp(struct cpgo_merger *m, const char *prefix, const char *text,
                     struct cpgo_err *err)
{
    size_t plen = prefix ? strlen(prefix) : 0, tlen = text ? strlen(text) : 0;
    if (plen == 0 || plen > CPGO_MERGE_MAX_NAME || tlen > CPGO_MERGE_MAX_NAME ||
        (text && (tlen < plen || memcmp(text, prefix, plen))))
        return cpgo_err_set(err, CPGO_E_USAGE,
                            "comment stamp: the prefix must be 1 to %d bytes and the text "
                            "must start with it",
                            CPGO_MERGE_MAX_NAME);
    return merge_stamp_copy(m, prefix, text, tlen, err);
}

int merge_stamp_copy(struct cpgo_merger *m, const char *prefix, const char *text, size_t tlen,
                     struct cpgo_err *err)
{
    size_t plen = strlen(prefix);
    /* everything that can fail first, so that a failure changes nothing that shows */
    char *p = malloc(plen + 1);
    if (!p) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    memcpy(p, prefix, plen + 1);
    int64_t id = 0;
    if (text && (id = merge_intern(m, text, tlen)) < 0) {
        free(p);
        return cpgo_err_set(err, (int)id, "out of memory");
    }
    /* the former stamp, unless the new prefix claims it, becomes an ordinary comment */
    size_t olen = 0;
    const char *old = m->has_stamp ? str_at(m, m->stamp, &olen) : NULL;
    int keep_old = old && !(olen >= plen && !memcmp(old, prefix, plen));
    if (keep_old && CPGO_ARRAY_PUSH_ROOM(m->comments, m->ncomments, m->comments_cap)) {
        free(p);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    size_t o = 0;
    for (size_t i = 0; i < m->ncomments; i++) {
        size_t len;
        const char *t = str_at(m, m->comments[i], &len);
        if (len >= plen && !memcmp(t, prefix, plen)) continue;
        m->comments[o++] = m->comments[i];
    }
    m->ncomments = o;
    if (keep_old) {
        size_t j = 0;
        while (j < m->ncomments && m->comments[j] != m->stamp)
            j++;
        if (j == m->ncomments) m->comments[m->ncomments++] = m->stamp;
    }
    free(m->stamp_prefix);
    m->stamp_prefix = p;
    m->stamp_prefix_len = plen;
    m->stamp = (uint32_t)id;
    m->has_stamp = text != NULL;
    return 0;
}
