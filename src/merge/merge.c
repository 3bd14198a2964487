/*
 * merge.c - see merge.h for the semantics; merge_int.h for the layout and how the files of
 * this module divide the mechanics. This file owns a merger's life (the no_inline names
 * copied in at the start) and cpgo_merge_add_scaled (cpgo_merge_add is its identity case),
 * which runs the steps of one input in order: mark (merge_undo.c), types and header
 * (merge_header.c), kept addresses (merge_trim.c), samples (merge_table.c), and on any
 * error the rollback to the mark.
 *
 * Thread: as merge.h.
 */
#include "merge/merge.h"

#include <stdlib.h>
#include <string.h>

#include "merge/merge_int.h"
#include "profile/shape.h"

int cpgo_merge_add_scaled(struct cpgo_merger *m, const struct cpgo_profile *p, struct cpgo_scale s,
                          struct cpgo_err *err)
{
    const cpgo_pb_profile *pb = p->pb;
    struct add_ctx c;
    memset(&c, 0, sizeof c);
    c.pgo_k = -1;
    c.m = m;
    c.p = p;
    c.pb = pb;
    c.scale = s;
    c.scaled = s.den != 0 && s.num != s.den;
    err->code = 0;
    merge_set_mark(&c);
    int rc = 0;
    c.strx = malloc((pb->n_string_table + 1) * sizeof *c.strx);
    c.fnx = calloc(pb->n_function + 1, sizeof *c.fnx);
    c.mapx = calloc(pb->n_mapping + 1, sizeof *c.mapx);
    c.locx = calloc(pb->n_location + 1, sizeof *c.locx);
    c.vsel = calloc(pb->n_sample_type + m->nst + 1, sizeof *c.vsel);
    c.sv = calloc(pb->n_sample_type + m->nst + 1, sizeof *c.sv);
    c.keepaddr = calloc(pb->n_location + 1, 1);
    if (!c.strx || !c.fnx || !c.mapx || !c.locx || !c.vsel || !c.sv || !c.keepaddr) {
        rc = CPGO_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < pb->n_string_table; i++)
        c.strx[i] = -1;
    if ((rc = merge_reconcile_types(&c, err))) goto out;
    /* the sample types are settled: the seeded rounding's value is found once, not per sample */
    c.pgo_k = c.scaled && (s.decay_seed || s.weight_seed) ? merge_pgo_value_index(m) : -1;
    if (m->opts.shape && (rc = cpgo_shape_check_values(m->opts.shape, pb, err))) goto out;
    if (m->opts.trim.strip_addresses) merge_mark_kept_addresses(&c);
    if ((rc = merge_fold_header(&c))) goto out;
    m->ninputs++;
    /* The first mapping of the first input that has any becomes mapping 1 (the main binary). */
    if (m->nmaps == 0 && pb->n_mapping > 0 && !m->opts.trim.strip_addresses) {
        struct map_xl mx;
        if ((rc = merge_xl_map(&c, 0, &mx))) goto out;
    }
    for (size_t i = 0; i < pb->n_sample && !rc; i++)
        rc = merge_add_sample(&c, i);
out:
    if (rc) {
        if (c.ovf_duration || c.ovf_scale || (rc == CPGO_E_INPUT && err->code == 0))
            merge_overflow_error(&c, err);
        else if (err->code != rc)
            cpgo_err_set(err, rc,
                         rc == CPGO_E_LIMIT ? "merged profile too large" : "out of memory");
        merge_rollback(&c);
    }
    free(c.strx);
    free(c.fnx);
    free(c.mapx);
    free(c.locx);
    free(c.vsel);
    free(c.sv);
    free(c.keepaddr);
    free(c.undo);
    free(c.saved_st);
    free(c.saved_vals);
    return rc;
}

int cpgo_merge_add(struct cpgo_merger *m, const struct cpgo_profile *p, struct cpgo_err *err)
{
    return cpgo_merge_add_scaled(m, p, CPGO_SCALE_ONE, err);
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
    *out = NULL;
    if (opts && opts->nno_inline > CPGO_MERGE_MAX_NO_INLINE) return CPGO_E_USAGE;
    for (size_t i = 0; opts && i < opts->nno_inline; i++) {
        size_t len = opts->no_inline[i] ? strlen(opts->no_inline[i]) : 0;
        if (len == 0 || len > CPGO_MERGE_MAX_NAME) return CPGO_E_USAGE;
    }
    struct cpgo_merger *m = calloc(1, sizeof *m);
    if (!m) return CPGO_E_NOMEM;
    if (opts) m->opts = *opts;
    /* the names are the caller's: only the merger's copies (interned) outlive this call */
    m->opts.no_inline = NULL;
    m->opts.nno_inline = 0;
    cpgo_buf_init(&m->arena, UINT32_MAX);
    /* a non-NULL arena from the start: string pointers are always arena.data + offset */
    int rc = CPGO_E_NOMEM;
    if (cpgo_buf_reserve(&m->arena, 4096) || merge_intern(m, "", 0) != 0) goto fail;
    for (size_t i = 0; opts && i < opts->nno_inline; i++)
        if ((rc = merge_no_inline_add(m, opts->no_inline[i], strlen(opts->no_inline[i]))))
            goto fail;
    *out = m;
    return 0;
fail:
    cpgo_merge_free(m);
    return rc;
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
    free(m->noinl);
    cpgo_idmap_free(&m->noinl_map);
    free(m->stamp_prefix);
    free(m);
}

/* What the merger's tables hold, counted at their capacity (what malloc gave them): the
 * daemon's pending-memory budget adds these up. malloc's own overhead per block is left out
 * (each table is one block, so it is small beside them). */
size_t cpgo_merge_mem(const struct cpgo_merger *m)
{
    if (!m) return 0;
    size_t slot = sizeof(struct cpgo_itab_slot);
    return sizeof *m + m->nst * sizeof *m->st + m->comments_cap * sizeof *m->comments +
           m->arena.cap + m->strs_cap * sizeof *m->strs + m->str_tab.cap * slot +
           m->fns_cap * sizeof *m->fns + m->fn_tab.cap * slot + m->maps_cap * sizeof *m->maps +
           m->map_tab.cap * slot + m->locs_cap * sizeof *m->locs + m->loc_tab.cap * slot +
           m->lines_cap * sizeof *m->lines + m->smps_cap * sizeof *m->smps + m->smp_tab.cap * slot +
           m->sloc_cap * sizeof *m->sloc + m->labs_cap * sizeof *m->labs +
           m->vals_cap * sizeof *m->vals + m->meta_cap * sizeof *m->meta +
           m->meta_types_cap * sizeof *m->meta_types + m->tmp_lines_cap * sizeof *m->tmp_lines +
           m->tmp_locs_cap * sizeof *m->tmp_locs + m->tmp_labs_cap * sizeof *m->tmp_labs +
           m->noinl_cap * sizeof *m->noinl +
           m->noinl_map.cap * (sizeof *m->noinl_map.keys + sizeof *m->noinl_map.vals);
}
