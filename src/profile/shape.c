/* shape.c - see shape.h. */
#include "profile/shape.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const struct cpgo_shape cpgo_shape_go_cpu = {
    .period = {"cpu", "nanoseconds"},
    .ntypes = 2,
    .types = {{"samples", "count"}, {"cpu", "nanoseconds"}},
    .nonnegative = 1,
};

static int str_is(const cpgo_pb_profile *pb, int64_t i, const char *want)
{
    size_t len;
    const char *s = cpgo_profile_str(pb, i, &len);
    return len == strlen(want) && !memcmp(s, want, len);
}

/* Appends "t/u" (each cut at 64 bytes) at *o; keeps the buffer terminated. */
static void put_vt(char *buf, size_t cap, size_t *o, const char *t, size_t lt, const char *u,
                   size_t lu)
{
    if (*o >= cap) return;
    int n = snprintf(buf + *o, cap - *o, "%.*s/%.*s", (int)(lt > 64 ? 64 : lt), t,
                     (int)(lu > 64 ? 64 : lu), u);
    if (n > 0) *o += (size_t)n;
}

void cpgo_shape_format_types(const cpgo_pb_profile *pb, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    o += (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < pb->n_sample_type && o < cap; i++) {
        size_t lt, lu;
        const char *t = cpgo_profile_str(pb, pb->sample_type[i]->type, &lt);
        const char *u = cpgo_profile_str(pb, pb->sample_type[i]->unit, &lu);
        if (i && o < cap) o += (size_t)snprintf(buf + o, cap - o, " ");
        put_vt(buf, cap, &o, t, lt, u, lu);
    }
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static void format_shape(const struct cpgo_shape *s, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < s->ntypes && o < cap; i++) {
        if (i && o < cap) o += (size_t)snprintf(buf + o, cap - o, " ");
        put_vt(buf, cap, &o, s->types[i].type, strlen(s->types[i].type), s->types[i].unit,
               strlen(s->types[i].unit));
    }
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

int cpgo_shape_match(const struct cpgo_shape *s, const cpgo_pb_profile *pb, size_t *perm,
                     struct cpgo_err *err)
{
    const Perftools__Profiles__ValueType *pt = pb->period_type;
    if (!pt || !str_is(pb, pt->type, s->period.type) || !str_is(pb, pt->unit, s->period.unit)) {
        size_t lt = 0, lu = 0;
        const char *t = "", *u = "";
        if (pt) {
            t = cpgo_profile_str(pb, pt->type, &lt);
            u = cpgo_profile_str(pb, pt->unit, &lu);
        }
        char have[160];
        size_t o = 0;
        put_vt(have, sizeof have, &o, t, lt, u, lu);
        return cpgo_err_set(err, CPGO_E_INCOMPAT, "period type %s, expected %s/%s", have,
                            s->period.type, s->period.unit);
    }
    int ok = pb->n_sample_type == s->ntypes;
    for (size_t i = 0; ok && i < s->ntypes; i++) {
        size_t found = 0, at = 0;
        for (size_t j = 0; j < pb->n_sample_type; j++)
            if (str_is(pb, pb->sample_type[j]->type, s->types[i].type) &&
                str_is(pb, pb->sample_type[j]->unit, s->types[i].unit)) {
                found++;
                at = j;
            }
        ok = found == 1;
        perm[i] = at;
    }
    if (!ok) {
        char have[300], want[160];
        cpgo_shape_format_types(pb, have, sizeof have);
        format_shape(s, want, sizeof want);
        return cpgo_err_set(err, CPGO_E_INCOMPAT, "sample types %s, expected %s (in any order)",
                            have, want);
    }
    return 0;
}

int cpgo_shape_check_values(const struct cpgo_shape *s, const cpgo_pb_profile *pb,
                            struct cpgo_err *err)
{
    if (!s->nonnegative) return 0;
    for (size_t i = 0; i < pb->n_sample; i++) {
        const Perftools__Profiles__Sample *sm = pb->sample[i];
        for (size_t j = 0; j < sm->n_value; j++) {
            if (sm->value[j] >= 0) continue;
            size_t lt = 0;
            const char *t = "";
            if (j < pb->n_sample_type) t = cpgo_profile_str(pb, pb->sample_type[j]->type, &lt);
            return cpgo_err_set(err, CPGO_E_INPUT,
                                "sample %zu has a negative %.*s value (%" PRId64
                                "): a CPU profile cannot have one",
                                i + 1, (int)(lt > 64 ? 64 : lt), t, sm->value[j]);
        }
    }
    return 0;
}
