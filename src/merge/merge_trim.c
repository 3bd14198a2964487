/*
 * merge_trim.c - with strip_addresses (merge.h's trimming), which locations of an input
 * must keep their raw address so that Go PGO still reads the same graph.
 *
 * Thread: as merge.h.
 */
#include <string.h>

#include "merge/merge_int.h"

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
    /* an empty name may have no bytes at all (data NULL): memcmp must not see it */
    if (c->m->noinl_map.n == 0)
        return na->len == nb->len && (na->len == 0 || !memcmp(na->data, nb->data, na->len));
    /* the compiler reads the names as renamed (no_inline): X and "DO NOT INLINE: X" are one
     * node in the published file */
    const char *ba, *bb;
    size_t la, lb;
    int pa = merge_renamed_key(c->m, (const char *)na->data, na->len, &ba, &la);
    int pb = merge_renamed_key(c->m, (const char *)nb->data, nb->len, &bb, &lb);
    return pa == pb && la == lb && (la == 0 || !memcmp(ba, bb, la));
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

void merge_mark_kept_addresses(struct add_ctx *c)
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
