/* meta.c - what pending scrapes are (count, window, distinct instances), kept beside the
 * merged profiles, and the limits recovery reads accepted data with. The lowest file of
 * src/state: journal.c and state.c call it, it calls neither. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_int.h"

void state_meta_free(struct meta *m)
{
    free(m->inst);
    memset(m, 0, sizeof *m);
}

void state_meta_add_inst(struct meta *m, uint64_t h)
{
    size_t lo = 0, hi = m->ninst;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->inst[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->ninst && m->inst[lo] == h) return;
    if (m->ninst >= CPGO_STATE_MAX_INSTANCES) return;
    if (m->ninst == m->capinst) {
        size_t nc = m->capinst ? m->capinst * 2 : 8;
        uint64_t *n = realloc(m->inst, nc * sizeof *n);
        if (!n) return; /* a count that stops growing, not a failure */
        m->inst = n;
        m->capinst = nc;
    }
    memmove(m->inst + lo + 1, m->inst + lo, (m->ninst - lo) * sizeof *m->inst);
    m->inst[lo] = h;
    m->ninst++;
}

void state_meta_add(struct meta *m, uint64_t scrapes, int64_t first, int64_t last)
{
    if (first && (!m->first || first < m->first)) m->first = first;
    if (last > m->last) m->last = last;
    m->scrapes += scrapes;
}

void state_meta_union(struct meta *dst, const struct meta *src)
{
    state_meta_add(dst, src->scrapes, src->first, src->last);
    for (size_t i = 0; i < src->ninst; i++)
        state_meta_add_inst(dst, src->inst[i]);
}

/* Limits for reading back what cpgo itself accepted: none but the hardware's. A scrape
 * accepted under yesterday's limits stays accepted when today's are lower. */
void state_recovery_limits(struct cpgo_limits *l)
{
    l->max_compressed = l->max_decompressed = l->max_decode_memory = SIZE_MAX / 4;
    l->max_samples = l->max_locations = l->max_functions = l->max_mappings = l->max_strings =
        SIZE_MAX / 4;
}

json_t *state_meta_json(const struct meta *m)
{
    json_t *inst = json_array();
    for (size_t i = 0; i < m->ninst; i++) {
        char h[20];
        snprintf(h, sizeof h, "%016" PRIx64, m->inst[i]);
        json_array_append_new(inst, json_string(h));
    }
    return json_pack("{s:I, s:I, s:I, s:o}", "scrapes", (json_int_t)m->scrapes, "first",
                     (json_int_t)m->first, "last", (json_int_t)m->last, "instances", inst);
}

void state_meta_from_json(struct meta *m, json_t *o)
{
    state_meta_free(m);
    json_t *v;
    if (json_is_integer(v = json_object_get(o, "scrapes")) && json_integer_value(v) >= 0)
        m->scrapes = (uint64_t)json_integer_value(v);
    if (json_is_integer(v = json_object_get(o, "first"))) m->first = json_integer_value(v);
    if (json_is_integer(v = json_object_get(o, "last"))) m->last = json_integer_value(v);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "instances"), i, e)
    {
        const char *h = json_string_value(e);
        if (h) state_meta_add_inst(m, strtoull(h, NULL, 16));
    }
}
