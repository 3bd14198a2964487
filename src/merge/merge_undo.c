/*
 * merge_undo.c - all or nothing for cpgo_merge_add. Whether an input overflows is only
 * known once its samples have found their accumulated twins, which means creating the
 * entities they use. So an add records a mark (every array's length, the header) and an
 * undo log of the accumulated samples it added to; a refused input is rolled back to the
 * mark: arrays cut, index tables truncated, additions subtracted again (exact: an addition
 * that would overflow is never made). Also the error line of an overflow.
 *
 * Thread: as merge.h.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "merge/merge_int.h"

void merge_set_mark(struct add_ctx *c)
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
void merge_rollback(struct add_ctx *c)
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
            /* the values as they were added: scaling is a function of the input value, and
             * it succeeded for this sample when it was added */
            (void)merge_sample_values(c, c->undo[u].in);
            for (size_t i = 0; i < m->nst; i++)
                v[i] -= c->sv[i];
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

void merge_overflow_error(const struct add_ctx *c, struct cpgo_err *err)
{
    if (c->ovf_duration && c->ovf_scale) {
        cpgo_err_set(err, CPGO_E_INPUT,
                     "its duration (%" PRId64 " ns) scaled by %" PRIu64 "/%" PRIu64
                     " overflows int64; input refused",
                     c->pb->duration_nanos, c->scale.num, c->scale.den);
        return;
    }
    if (c->ovf_duration) {
        cpgo_err_set(err, CPGO_E_INPUT,
                     "its duration (%" PRId64 " ns%s) added to the %" PRId64
                     " ns merged so far overflows int64; input refused",
                     c->ovf_val, c->scaled ? ", scaled" : "", c->m->duration_nanos);
        return;
    }
    size_t lt, lu;
    const char *t = str_at(c->m, c->m->st[c->ovf_type].type, &lt);
    const char *u = str_at(c->m, c->m->st[c->ovf_type].unit, &lu);
    if (c->ovf_scale) {
        cpgo_err_set(err, CPGO_E_INPUT,
                     "sample %zu's %.*s/%.*s value (%" PRId64 ") scaled by %" PRIu64 "/%" PRIu64
                     " overflows int64; input refused",
                     c->ovf_sample + 1, (int)(lt > 64 ? 64 : lt), t, (int)(lu > 64 ? 64 : lu), u,
                     c->ovf_val, c->scale.num, c->scale.den);
        return;
    }
    cpgo_err_set(err, CPGO_E_INPUT,
                 "sample %zu's %.*s/%.*s value (%" PRId64 "%s) added to the %" PRId64
                 " merged so far overflows int64; input refused",
                 c->ovf_sample + 1, (int)(lt > 64 ? 64 : lt), t, (int)(lu > 64 ? 64 : lu), u,
                 c->ovf_val, c->scaled ? ", scaled" : "", c->ovf_acc);
}
