/*
 * summary.c - see summary.h. Functions are grouped by name, as `go tool pprof -top` does.
 * flat: the weight of samples whose leaf-most frame (first line of the first location, the
 * innermost inlined call) is the function; cum: of samples with the function anywhere on
 * the stack, each sample counted once per function.
 */
#include "profile/summary.h"

#include <stdlib.h>
#include <string.h>

struct name_probe {
    const cpgo_pb_profile *pb;
    const int64_t *group_name; /* group -> string index */
    const char *s;
    size_t len;
};

static int name_eq(const void *ctx, uint32_t idx)
{
    const struct name_probe *p = ctx;
    size_t len;
    const char *s = cpgo_profile_str(p->pb, p->group_name[idx], &len);
    return len == p->len && memcmp(s, p->s, len) == 0;
}

static int cmp_flat(const void *a, const void *b)
{
    const struct cpgo_summary_fn *x = a, *y = b;
    if (x->flat != y->flat) return x->flat > y->flat ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_cum(const void *a, const void *b)
{
    const struct cpgo_summary_fn *x = a, *y = b;
    if (x->cum != y->cum) return x->cum > y->cum ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A string-table entry is its bytes, not a C string: equal as bytes, not only up to a NUL. */
static int str_is(const cpgo_pb_profile *pb, int64_t idx, const char *want)
{
    size_t len;
    const char *s = cpgo_profile_str(pb, idx, &len);
    return len == strlen(want) && !memcmp(s, want, len);
}

unsigned cpgo_summary_pgo_lacks(const cpgo_pb_profile *pb, unsigned which, int *type_index)
{
    unsigned lacks = 0;
    int ti = -1;
    for (size_t i = 0; i < pb->n_sample_type && ti < 0; i++) {
        const Perftools__Profiles__ValueType *vt = pb->sample_type[i];
        if ((str_is(pb, vt->type, "samples") && str_is(pb, vt->unit, "count")) ||
            (str_is(pb, vt->type, "cpu") && str_is(pb, vt->unit, "nanoseconds")))
            ti = (int)i;
    }
    if (ti < 0) lacks |= CPGO_PGO_NO_TYPE;
    if (type_index) *type_index = ti;
    if (which & CPGO_PGO_NO_START_LINES) {
        size_t i = 0;
        while (i < pb->n_function && !pb->function[i]->start_line)
            i++;
        if (i == pb->n_function) lacks |= CPGO_PGO_NO_START_LINES;
    }
    if (which & CPGO_PGO_NEGATIVE)
        for (size_t i = 0; i < pb->n_sample && !(lacks & CPGO_PGO_NEGATIVE); i++)
            for (size_t j = 0; j < pb->sample[i]->n_value; j++)
                if (pb->sample[i]->value[j] < 0) lacks |= CPGO_PGO_NEGATIVE;
    return lacks & which;
}

/* *acc += v; sets *ovf instead of wrapping. */
static void add_checked(int64_t *acc, int64_t v, int *ovf)
{
    if (__builtin_add_overflow(*acc, v, acc)) *ovf = 1;
}

void cpgo_summary_free(struct cpgo_summary *s)
{
    for (size_t i = 0; i < s->ntypes; i++) {
        if (s->type_names) free(s->type_names[i]);
        if (s->type_units) free(s->type_units[i]);
    }
    free(s->type_names);
    free(s->type_units);
    free(s->totals);
    free(s->period_type);
    free(s->period_unit);
    for (size_t i = 0; i < s->ntop_flat; i++)
        free(s->by_flat[i].name);
    for (size_t i = 0; i < s->ntop_cum; i++)
        free(s->by_cum[i].name);
    free(s->by_flat);
    free(s->by_cum);
    memset(s, 0, sizeof *s);
}

int cpgo_summary_build(const struct cpgo_profile *p, size_t topn, struct cpgo_summary *s,
                       struct cpgo_err *err)
{
    const cpgo_pb_profile *pb = p->pb;
    memset(s, 0, sizeof *s);
    s->nsamples = pb->n_sample;
    s->nlocations = pb->n_location;
    s->nfunctions = pb->n_function;
    s->nmappings = pb->n_mapping;
    s->nstrings = pb->n_string_table;
    s->period = pb->period;
    s->time_nanos = pb->time_nanos;
    s->duration_nanos = pb->duration_nanos;
    size_t len;
    const char *str;
    str = cpgo_profile_str(pb, pb->period_type ? pb->period_type->type : 0, &len);
    s->period_type = strndup(str, len);
    str = cpgo_profile_str(pb, pb->period_type ? pb->period_type->unit : 0, &len);
    s->period_unit = strndup(str, len);
    s->ntypes = pb->n_sample_type;
    s->type_names = calloc(s->ntypes + 1, sizeof *s->type_names);
    s->type_units = calloc(s->ntypes + 1, sizeof *s->type_units);
    s->totals = calloc(s->ntypes + 1, sizeof *s->totals);
    if (!s->type_names || !s->type_units || !s->totals || !s->period_type || !s->period_unit)
        goto nomem;
    size_t dlen;
    const char *dflt = cpgo_profile_str(pb, pb->default_sample_type, &dlen);
    s->value_index = s->ntypes ? s->ntypes - 1 : 0;
    for (size_t i = 0; i < s->ntypes; i++) {
        size_t tl, ul;
        const char *t = cpgo_profile_str(pb, pb->sample_type[i]->type, &tl);
        const char *u = cpgo_profile_str(pb, pb->sample_type[i]->unit, &ul);
        if (!(s->type_names[i] = strndup(t, tl)) || !(s->type_units[i] = strndup(u, ul)))
            goto nomem;
        if (dlen && tl == dlen && !memcmp(t, dflt, tl)) s->value_index = i;
    }
    s->pgo_lacks = cpgo_summary_pgo_lacks(pb, CPGO_PGO_ALL, &s->pgo_index);
    s->has_start_lines = !(s->pgo_lacks & CPGO_PGO_NO_START_LINES);
    s->has_negative = !!(s->pgo_lacks & CPGO_PGO_NEGATIVE);
    int ovf = 0;
    for (size_t i = 0; i < pb->n_sample; i++)
        for (size_t j = 0; j < s->ntypes; j++) {
            int64_t v = pb->sample[i]->value[j];
            int o = 0;
            add_checked(&s->totals[j], v, &o);
            if (o) {
                cpgo_err_set(err, CPGO_E_INPUT, "the sum of its %s/%s values overflows int64",
                             s->type_names[j], s->type_units[j]);
                cpgo_summary_free(s);
                return CPGO_E_INPUT;
            }
        }
    if (!s->ntypes || !topn) return 0;

    /* Group functions by name. */
    struct cpgo_itab tab = {0};
    uint32_t *fgroup = calloc(pb->n_function + 1, sizeof *fgroup);
    int64_t *gname = calloc(pb->n_function + 1, sizeof *gname);
    int64_t *flat = calloc(pb->n_function + 1, sizeof *flat);
    int64_t *cum = calloc(pb->n_function + 1, sizeof *cum);
    size_t *stamp = calloc(pb->n_function + 1, sizeof *stamp);
    size_t ngroups = 0;
    int rc = 0;
    if (!fgroup || !gname || !flat || !cum || !stamp) goto fail;
    for (size_t i = 0; i < pb->n_function; i++) {
        struct name_probe np = {pb, gname, NULL, 0};
        np.s = cpgo_profile_str(pb, pb->function[i]->name, &np.len);
        uint64_t h = cpgo_hash_bytes(np.s, np.len, 7);
        int64_t g = cpgo_itab_find(&tab, h, name_eq, &np);
        if (g < 0) {
            g = (int64_t)ngroups;
            gname[ngroups++] = pb->function[i]->name;
            if (cpgo_itab_insert(&tab, h, (uint32_t)g)) goto fail;
        }
        fgroup[i] = (uint32_t)g;
    }
    for (size_t i = 0; i < pb->n_sample; i++) {
        const Perftools__Profiles__Sample *sm = pb->sample[i];
        int64_t v = sm->value[s->value_index];
        int leaf = 1;
        for (size_t j = 0; j < sm->n_location_id; j++) {
            int64_t li = cpgo_id_lookup(&p->location_ids, sm->location_id[j]);
            const Perftools__Profiles__Location *l = pb->location[li];
            for (size_t k = 0; k < l->n_line; k++) {
                int64_t fi = cpgo_id_lookup(&p->function_ids, l->line[k]->function_id);
                uint32_t g = fgroup[fi];
                if (leaf) add_checked(&flat[g], v, &ovf);
                leaf = 0;
                if (stamp[g] != i + 1) {
                    stamp[g] = i + 1;
                    add_checked(&cum[g], v, &ovf);
                }
            }
        }
    }
    if (ovf) {
        /* only with negative values: otherwise no function's sum exceeds a total */
        rc = cpgo_err_set(err, CPGO_E_INPUT, "a function's sum of %s/%s values overflows int64",
                          s->type_names[s->value_index], s->type_units[s->value_index]);
        goto done;
    }
    struct cpgo_summary_fn *all = calloc(ngroups + 1, sizeof *all);
    if (!all) goto fail;
    for (size_t g = 0; g < ngroups; g++) {
        const char *n = cpgo_profile_str(pb, gname[g], &len);
        all[g].flat = flat[g];
        all[g].cum = cum[g];
        all[g].name = strndup(n, len);
        if (!all[g].name) {
            for (size_t k = 0; k < g; k++)
                free(all[k].name);
            free(all);
            goto fail;
        }
    }
    size_t n = ngroups < topn ? ngroups : topn;
    s->by_flat = calloc(n + 1, sizeof *s->by_flat);
    s->by_cum = calloc(n + 1, sizeof *s->by_cum);
    if (!s->by_flat || !s->by_cum) {
        for (size_t k = 0; k < ngroups; k++)
            free(all[k].name);
        free(all);
        goto fail;
    }
    qsort(all, ngroups, sizeof *all, cmp_flat);
    for (size_t k = 0; k < n && all[k].flat; k++) {
        s->by_flat[k] = all[k];
        s->by_flat[k].name = strdup(all[k].name);
        s->ntop_flat++;
    }
    qsort(all, ngroups, sizeof *all, cmp_cum);
    for (size_t k = 0; k < n && all[k].cum; k++) {
        s->by_cum[k] = all[k];
        s->by_cum[k].name = strdup(all[k].name);
        s->ntop_cum++;
    }
    for (size_t k = 0; k < ngroups; k++)
        free(all[k].name);
    free(all);
    for (size_t k = 0; k < s->ntop_flat; k++)
        if (!s->by_flat[k].name) goto fail;
    for (size_t k = 0; k < s->ntop_cum; k++)
        if (!s->by_cum[k].name) goto fail;
    goto done;
fail:
    rc = cpgo_err_set(err, CPGO_E_NOMEM, "out of memory summarising the profile");
done:
    cpgo_itab_free(&tab);
    free(fgroup);
    free(gname);
    free(flat);
    free(cum);
    free(stamp);
    if (rc) cpgo_summary_free(s);
    return rc;
nomem:
    cpgo_summary_free(s);
    return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory summarising the profile");
}
