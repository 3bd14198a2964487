/*
 * pgograph.c - see pgograph.h. The Go code this follows, function by function:
 *   cmd/internal/pgo/pprof.go      FromPProf, createNamedEdgeMap, sortByWeight
 *   internal/profile/graph.go      NewGraph, CreateNodes, nodeInfo, selectNodesForGraph
 *   cmd/internal/pgo/serialize.go  WriteTo
 *   cmd/compile/internal/inline    hotNodesFromCDF
 *
 * Go keeps nodes and edges as pointers in maps; here they are flat arrays found by content
 * through cpgo_itab tables, and "seen in this sample" is a stamp (the sample's number) on
 * the node or edge instead of two maps cleared per sample. Go's per-sample seenEdge set
 * holds exactly the (callee, caller) pairs whose edge got this sample's weight, so a stamp
 * on the edge is the same set. Go's CreateNodes makes nodes for every location up front;
 * only nodes some sample reaches can have a weight, and the rest are dropped by
 * selectNodesForGraph, so nodes are made here when a sample first reaches their location.
 *
 * Every weight is summed in uint64_t: Go's int64 addition wraps, C's signed one is
 * undefined; the bits are the same and are read back as int64 (to_i64) where Go compares.
 */
#include "profile/pgograph.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/sort.h"

#define NONE UINT32_MAX

struct name {
    const unsigned char *data; /* into the profile's string table (borrowed while building) */
    size_t len;
};

struct node {
    uint32_t name;
    uint64_t addr;
    uint64_t line, start; /* int64 bits */
    uint64_t cum, flat;   /* int64 bits, wrapping as Go's */
    size_t stamp;         /* 1 + the sample that last reached this node */
};

struct gedge { /* an edge of Go's graph: node -> node */
    uint32_t src, dst;
    uint64_t w;
    size_t stamp; /* 1 + the sample that last added to it (Go's seenEdge) */
};

struct nedge { /* a named edge: Go's NamedCallEdge and its weight */
    uint32_t caller, callee;
    uint64_t off;
    uint64_t w;
};

struct bld {
    const cpgo_pb_profile *pb;
    int loc_dense, fn_dense;
    struct cpgo_idmap loc_ids, fn_ids;

    struct cpgo_itab name_tab;
    struct name *names;
    size_t nnames, names_cap;
    uint32_t *fn_name; /* function index -> name id, NONE until first use */
    uint32_t empty_name;

    struct cpgo_itab node_tab;
    struct node *nodes;
    size_t nnodes, nodes_cap;
    int64_t *loc_first; /* location index -> first entry in locnodes, -1 until reached */
    uint32_t *locnodes;
    size_t nlocnodes, locnodes_cap;

    struct cpgo_itab edge_tab;
    struct gedge *edges;
    size_t nedges, edges_cap;

    struct cpgo_itab named_tab;
    struct nedge *named;
    size_t nnamed, named_cap;
};

static int64_t to_i64(uint64_t u)
{
    /* Two's complement read-back without implementation-defined conversion. */
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(UINT64_MAX - u) - 1;
}

/* Go's string order: byte-wise, a prefix first. */
static int cmp_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

static int too_many(struct cpgo_err *err, const char *what)
{
    return cpgo_err_set(err, CPGO_E_LIMIT, "PGO graph: more than %" PRIu32 " %s", NONE - 1, what);
}

/* ---- ids ------------------------------------------------------------------------------ */

static int index_ids(const void *const *items, size_t n, size_t id_off, int *dense,
                     struct cpgo_idmap *map, const char *what, struct cpgo_err *err)
{
    *dense = 1;
    for (size_t i = 0; i < n && *dense; i++) {
        uint64_t id;
        memcpy(&id, (const char *)items[i] + id_off, sizeof id);
        if (id != i + 1) *dense = 0;
    }
    if (*dense) return 0;
    if (n >= NONE) return too_many(err, what);
    if (cpgo_idmap_reserve(map, n)) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        uint64_t id;
        memcpy(&id, (const char *)items[i] + id_off, sizeof id);
        int rc = id ? cpgo_idmap_put(map, id, (uint32_t)i) : 1;
        if (rc < 0) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
        if (rc)
            return cpgo_err_set(err, CPGO_E_INPUT, "%s id %" PRIu64 " is zero or repeated", what,
                                id);
    }
    return 0;
}

static int64_t lookup(int dense, size_t n, const struct cpgo_idmap *map, uint64_t id)
{
    if (dense) return id - 1 < n ? (int64_t)(id - 1) : -1;
    return id ? cpgo_idmap_get(map, id) : -1;
}

/* ---- names ---------------------------------------------------------------------------- */

struct name_probe {
    const struct bld *b;
    const unsigned char *data;
    size_t len;
};

static int name_eq(const void *ctx, uint32_t idx)
{
    const struct name_probe *p = ctx;
    const struct name *n = &p->b->names[idx];
    return n->len == p->len && (p->len == 0 || !memcmp(n->data, p->data, p->len));
}

/* The id of a name, by its bytes: Go compares names as strings, so two string-table
 * entries with the same bytes are one name. */
static int intern_name(struct bld *b, const unsigned char *data, size_t len, uint32_t *id,
                       struct cpgo_err *err)
{
    uint64_t h = cpgo_hash_bytes(data, len, 0x6e616d65);
    struct name_probe pr = {b, data, len};
    int64_t at = cpgo_itab_find(&b->name_tab, h, name_eq, &pr);
    if (at >= 0) {
        *id = (uint32_t)at;
        return 0;
    }
    if (b->nnames >= NONE - 1) return too_many(err, "names");
    if (CPGO_ARRAY_PUSH_ROOM(b->names, b->nnames, b->names_cap) ||
        cpgo_itab_insert(&b->name_tab, h, (uint32_t)b->nnames))
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    b->names[b->nnames].data = data;
    b->names[b->nnames].len = len;
    *id = (uint32_t)b->nnames++;
    return 0;
}

static int function_name(struct bld *b, size_t fi, uint32_t *id, struct cpgo_err *err)
{
    if (b->fn_name[fi] != NONE) {
        *id = b->fn_name[fi];
        return 0;
    }
    const cpgo_pb_profile *pb = b->pb;
    int64_t s = pb->function[fi]->name;
    if (s < 0 || (uint64_t)s >= pb->n_string_table)
        return cpgo_err_set(err, CPGO_E_INPUT,
                            "function %" PRIu64 " name is string %" PRId64 ", out of range",
                            pb->function[fi]->id, s);
    int rc = intern_name(b, pb->string_table[s].data, pb->string_table[s].len, id, err);
    if (!rc) b->fn_name[fi] = *id;
    return rc;
}

/* ---- nodes (Go's NodeInfo: Name, Address, StartLine, Lineno) ---------------------------- */

struct node_probe {
    const struct bld *b;
    const struct node *key;
};

static int node_eq(const void *ctx, uint32_t idx)
{
    const struct node_probe *p = ctx;
    const struct node *n = &p->b->nodes[idx], *k = p->key;
    return n->name == k->name && n->addr == k->addr && n->line == k->line && n->start == k->start;
}

static int find_or_add_node(struct bld *b, const struct node *key, uint32_t *id,
                            struct cpgo_err *err)
{
    uint64_t h = cpgo_hash_mix(
        cpgo_hash_mix(cpgo_hash_mix(cpgo_hash_mix(cpgo_hash_keyed(0x6e), key->name), key->addr),
                      key->line),
        key->start);
    struct node_probe pr = {b, key};
    int64_t at = cpgo_itab_find(&b->node_tab, h, node_eq, &pr);
    if (at >= 0) {
        *id = (uint32_t)at;
        return 0;
    }
    if (b->nnodes >= NONE - 1) return too_many(err, "nodes");
    if (CPGO_ARRAY_PUSH_ROOM(b->nodes, b->nnodes, b->nodes_cap) ||
        cpgo_itab_insert(&b->node_tab, h, (uint32_t)b->nnodes))
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    b->nodes[b->nnodes] = *key;
    *id = (uint32_t)b->nnodes++;
    return 0;
}

/* The nodes of location li, one per line (a location without lines is one line without a
 * function), innermost first as the lines are. Go's CreateNodes + nodeInfo. */
static int location_nodes(struct bld *b, size_t li, const uint32_t **nodes, size_t *n,
                          struct cpgo_err *err)
{
    const Perftools__Profiles__Location *l = b->pb->location[li];
    size_t cnt = l->n_line ? l->n_line : 1;
    if (b->loc_first[li] < 0) {
        if (b->nlocnodes + cnt < b->nlocnodes || b->nlocnodes + cnt >= NONE)
            return too_many(err, "location lines");
        if (cpgo_array_grow((void **)&b->locnodes, &b->locnodes_cap, b->nlocnodes + cnt,
                            sizeof *b->locnodes))
            return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
        for (size_t j = 0; j < cnt; j++) {
            struct node key = {.name = b->empty_name, .addr = l->address};
            uint64_t fid = l->n_line ? l->line[j]->function_id : 0;
            if (fid) { /* Go: a line whose function id is 0 has no function */
                int64_t fi = lookup(b->fn_dense, b->pb->n_function, &b->fn_ids, fid);
                if (fi < 0)
                    return cpgo_err_set(err, CPGO_E_INPUT, "Function ID %" PRIu64 " not found",
                                        fid);
                int rc = function_name(b, (size_t)fi, &key.name, err);
                if (rc) return rc;
                key.line = (uint64_t)l->line[j]->line;
                key.start = (uint64_t)b->pb->function[fi]->start_line;
            }
            int rc = find_or_add_node(b, &key, &b->locnodes[b->nlocnodes + j], err);
            if (rc) return rc;
        }
        b->loc_first[li] = (int64_t)b->nlocnodes;
        b->nlocnodes += cnt;
    }
    *nodes = &b->locnodes[b->loc_first[li]];
    *n = cnt;
    return 0;
}

/* ---- edges ---------------------------------------------------------------------------- */

struct edge_probe {
    const struct bld *b;
    uint32_t src, dst;
};

static int edge_eq(const void *ctx, uint32_t idx)
{
    const struct edge_probe *p = ctx;
    const struct gedge *e = &p->b->edges[idx];
    return e->src == p->src && e->dst == p->dst;
}

/* Go's `parent.AddToEdgeDiv(n, ...)` guarded by seenEdge: once per sample per pair. */
static int add_to_edge(struct bld *b, uint32_t src, uint32_t dst, uint64_t w, size_t stamp,
                       struct cpgo_err *err)
{
    uint64_t h = cpgo_hash_mix(cpgo_hash_mix(cpgo_hash_keyed(0x65), src), dst);
    struct edge_probe pr = {b, src, dst};
    int64_t at = cpgo_itab_find(&b->edge_tab, h, edge_eq, &pr);
    if (at < 0) {
        if (b->nedges >= NONE - 1) return too_many(err, "graph edges");
        if (CPGO_ARRAY_PUSH_ROOM(b->edges, b->nedges, b->edges_cap) ||
            cpgo_itab_insert(&b->edge_tab, h, (uint32_t)b->nedges))
            return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
        b->edges[b->nedges] = (struct gedge){src, dst, 0, 0};
        at = (int64_t)b->nedges++;
    }
    struct gedge *e = &b->edges[at];
    if (e->stamp != stamp) {
        e->stamp = stamp;
        e->w += w;
    }
    return 0;
}

struct named_probe {
    const struct bld *b;
    const struct nedge *key;
};

static int named_eq(const void *ctx, uint32_t idx)
{
    const struct named_probe *p = ctx;
    const struct nedge *e = &p->b->named[idx];
    return e->caller == p->key->caller && e->callee == p->key->callee && e->off == p->key->off;
}

static int add_named(struct bld *b, const struct nedge *key, struct cpgo_err *err)
{
    uint64_t h = cpgo_hash_mix(
        cpgo_hash_mix(cpgo_hash_mix(cpgo_hash_keyed(0x63), key->caller), key->callee), key->off);
    struct named_probe pr = {b, key};
    int64_t at = cpgo_itab_find(&b->named_tab, h, named_eq, &pr);
    if (at < 0) {
        if (b->nnamed >= NONE - 1) return too_many(err, "call edges");
        if (CPGO_ARRAY_PUSH_ROOM(b->named, b->nnamed, b->named_cap) ||
            cpgo_itab_insert(&b->named_tab, h, (uint32_t)b->nnamed))
            return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
        b->named[b->nnamed] = *key;
        b->named[b->nnamed].w = 0;
        at = (int64_t)b->nnamed++;
    }
    b->named[at].w += key->w;
    return 0;
}

/* ---- the sample pass: Go's NewGraph ---------------------------------------------------- */

static int sample_pass(struct bld *b, size_t vi, struct cpgo_err *err)
{
    const cpgo_pb_profile *pb = b->pb;
    for (size_t s = 0; s < pb->n_sample; s++) {
        const Perftools__Profiles__Sample *sm = pb->sample[s];
        if (sm->n_value <= vi)
            return cpgo_err_set(err, CPGO_E_INPUT, "sample %zu has %zu values, wants %zu", s,
                                sm->n_value, vi + 1);
        uint64_t w = (uint64_t)sm->value[vi];
        if (w == 0 || sm->n_location_id == 0) continue;
        size_t stamp = s + 1;
        uint32_t parent = NONE;
        /* the two leaf-most locations, the caller's first; in each, the outermost line first */
        for (size_t i = sm->n_location_id >= 2 ? 2 : 1; i-- > 0;) {
            uint64_t lid = sm->location_id[i];
            int64_t li = lookup(b->loc_dense, pb->n_location, &b->loc_ids, lid);
            if (li < 0)
                return cpgo_err_set(
                    err, CPGO_E_INPUT,
                    "sample %zu references location %" PRIu64 ", which does not exist", s, lid);
            const uint32_t *ln = NULL;
            size_t cnt = 0;
            int rc = location_nodes(b, (size_t)li, &ln, &cnt, err);
            if (rc) return rc;
            for (size_t ni = cnt; ni-- > 0;) {
                uint32_t n = ln[ni];
                struct node *nd = &b->nodes[n];
                if (nd->stamp != stamp) { /* cum once per sample per node */
                    nd->stamp = stamp;
                    nd->cum += w;
                }
                if (parent != NONE && n != parent &&
                    (rc = add_to_edge(b, parent, n, w, stamp, err)))
                    return rc;
                parent = n;
            }
        }
        b->nodes[parent].flat += w; /* the leaf */
    }
    return 0;
}

/* ---- the result ------------------------------------------------------------------------ */

/* Within one graph the names' ranks order edges exactly as their bytes do (a rank per
 * distinct name, given in byte order), at an integer compare instead of a memcmp: the two
 * sorts below were a third of building a big target's graph. */
static int cmp_ranked_key(const struct cpgo_pgo_edge *a, const struct cpgo_pgo_edge *b)
{
    if (a->caller_rank != b->caller_rank) return a->caller_rank < b->caller_rank ? -1 : 1;
    if (a->callee_rank != b->callee_rank) return a->callee_rank < b->callee_rank ? -1 : 1;
    return (a->offset > b->offset) - (a->offset < b->offset);
}

/* ByWeight: weight descending, then the key (a total order: keys are unique). */
static int weight_less(const struct cpgo_pgo_edge *a, const struct cpgo_pgo_edge *b)
{
    if (a->weight != b->weight) return a->weight > b->weight;
    return cmp_ranked_key(a, b) < 0;
}

CPGO_SORT_DEFINE(sort_by_weight, struct cpgo_pgo_edge, weight_less)

struct name_rank {
    const struct name *n;
    uint32_t id;
};

static int cmp_name_rank(const void *x, const void *y)
{
    const struct name *a = ((const struct name_rank *)x)->n, *b = ((const struct name_rank *)y)->n;
    return cmp_bytes(a->data, a->len, b->data, b->len);
}

static int cmp_key(const struct cpgo_pgo_edge *a, const struct cpgo_pgo_edge *b)
{
    int c = cmp_bytes(a->caller, a->caller_len, b->caller, b->caller_len);
    if (c) return c;
    c = cmp_bytes(a->callee, a->callee_len, b->callee, b->callee_len);
    if (c) return c;
    return (a->offset > b->offset) - (a->offset < b->offset);
}

/* The key order is sorted as (edge pointer, index) pairs. */
struct keyed {
    const struct cpgo_pgo_edge *e;
    uint32_t idx;
};

static int keyed_less(const struct keyed *a, const struct keyed *b)
{
    return cmp_ranked_key(a->e, b->e) < 0;
}

CPGO_SORT_DEFINE(sort_keyed, struct keyed, keyed_less)

int cpgo_pgograph_empty(struct cpgo_pgograph **out, struct cpgo_err *err)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
}

void cpgo_pgograph_free(struct cpgo_pgograph *g)
{
    if (!g) return;
    free(g->edges);
    free(g->names_);
    free(g->by_key_);
    free(g);
}

/* The graph from the named edges: names copied, ByWeight order, hot prefix, key order. */
static int finish(struct bld *b, uint64_t total, struct cpgo_pgograph *g, struct cpgo_err *err)
{
    size_t *name_at = malloc((b->nnames ? b->nnames : 1) * sizeof *name_at);
    if (!name_at) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    for (size_t i = 0; i < b->nnames; i++)
        name_at[i] = SIZE_MAX;
    size_t bytes = 0;
    for (size_t i = 0; i < b->nnamed; i++) {
        uint32_t ids[2] = {b->named[i].caller, b->named[i].callee};
        for (int k = 0; k < 2; k++)
            if (name_at[ids[k]] == SIZE_MAX) {
                name_at[ids[k]] = bytes;
                bytes += b->names[ids[k]].len + 1;
            }
    }
    /* each used name's rank in byte order (names are interned: one id per distinct name) */
    size_t nused = 0;
    struct name_rank *nr = malloc((b->nnames ? b->nnames : 1) * sizeof *nr);
    uint32_t *rank = malloc((b->nnames ? b->nnames : 1) * sizeof *rank);
    if (!nr || !rank) {
        free(nr);
        free(rank);
        free(name_at);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < b->nnames; i++)
        if (name_at[i] != SIZE_MAX) nr[nused++] = (struct name_rank){&b->names[i], (uint32_t)i};
    if (nused) qsort(nr, nused, sizeof *nr, cmp_name_rank);
    for (size_t i = 0; i < nused; i++)
        rank[nr[i].id] = (uint32_t)i;
    free(nr);
    g->names_ = malloc(bytes ? bytes : 1);
    g->edges = malloc(b->nnamed * sizeof *g->edges);
    g->by_key_ = malloc(b->nnamed * sizeof *g->by_key_);
    struct keyed *ko = malloc(b->nnamed * sizeof *ko);
    if (!g->names_ || !g->edges || !g->by_key_ || !ko) {
        free(name_at);
        free(rank);
        free(ko);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < b->nnames; i++)
        if (name_at[i] != SIZE_MAX) {
            if (b->names[i].len) memcpy(g->names_ + name_at[i], b->names[i].data, b->names[i].len);
            g->names_[name_at[i] + b->names[i].len] = '\0';
        }
    for (size_t i = 0; i < b->nnamed; i++) {
        const struct nedge *ne = &b->named[i];
        g->edges[i] = (struct cpgo_pgo_edge){
            .caller = g->names_ + name_at[ne->caller],
            .callee = g->names_ + name_at[ne->callee],
            .caller_len = b->names[ne->caller].len,
            .callee_len = b->names[ne->callee].len,
            .offset = to_i64(ne->off),
            .weight = to_i64(ne->w),
            .caller_rank = rank[ne->caller],
            .callee_rank = rank[ne->callee],
        };
    }
    free(name_at);
    free(rank);
    g->nedges = b->nnamed;
    g->total = to_i64(total);
    if (sort_by_weight(g->edges, g->nedges)) {
        free(ko);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }

    /* hotNodesFromCDF: float64(cum)/float64(total)*100 > 99, cum an int64 that wraps */
    g->nhot = g->nedges;
    uint64_t cum = 0;
    for (size_t i = 0; i < g->nedges; i++) {
        cum += (uint64_t)g->edges[i].weight;
        if ((double)to_i64(cum) / (double)g->total * 100.0 > CPGO_PGO_HOT_CDF_PERCENT) {
            g->nhot = i + 1;
            break;
        }
    }

    for (size_t i = 0; i < g->nedges; i++)
        ko[i] = (struct keyed){&g->edges[i], (uint32_t)i};
    if (sort_keyed(ko, g->nedges)) {
        free(ko);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < g->nedges; i++)
        g->by_key_[i] = ko[i].idx;
    free(ko);
    return 0;
}

static void bld_free(struct bld *b)
{
    cpgo_idmap_free(&b->loc_ids);
    cpgo_idmap_free(&b->fn_ids);
    cpgo_itab_free(&b->name_tab);
    free(b->names);
    free(b->fn_name);
    cpgo_itab_free(&b->node_tab);
    free(b->nodes);
    free(b->loc_first);
    free(b->locnodes);
    cpgo_itab_free(&b->edge_tab);
    free(b->edges);
    cpgo_itab_free(&b->named_tab);
    free(b->named);
}

static int str_is(const cpgo_pb_profile *pb, int64_t i, const char *want)
{
    if (i < 0 || (uint64_t)i >= pb->n_string_table) return 0;
    size_t n = strlen(want);
    return pb->string_table[i].len == n && !memcmp(pb->string_table[i].data, want, n);
}

static int build(struct bld *b, struct cpgo_pgograph *g, struct cpgo_err *err)
{
    const cpgo_pb_profile *pb = b->pb;
    /* FromPProf: a profile without samples is accepted and gives nothing, whatever its types */
    if (pb->n_sample == 0) return 0;
    size_t vi = SIZE_MAX;
    for (size_t i = 0; i < pb->n_sample_type && vi == SIZE_MAX; i++) {
        const Perftools__Profiles__ValueType *t = pb->sample_type[i];
        if ((str_is(pb, t->type, "samples") && str_is(pb, t->unit, "count")) ||
            (str_is(pb, t->type, "cpu") && str_is(pb, t->unit, "nanoseconds")))
            vi = i;
    }
    if (vi == SIZE_MAX) /* Go's text, quotes and all */
        return cpgo_err_set(err, CPGO_E_INCOMPAT,
                            "profile does not contain a sample index with value/type "
                            "\"samples/count\" or cpu/nanoseconds\"");

    int rc;
    if ((rc = index_ids((const void *const *)pb->location, pb->n_location,
                        offsetof(Perftools__Profiles__Location, id), &b->loc_dense, &b->loc_ids,
                        "location", err)) ||
        (rc = index_ids((const void *const *)pb->function, pb->n_function,
                        offsetof(Perftools__Profiles__Function, id), &b->fn_dense, &b->fn_ids,
                        "function", err)))
        return rc;
    b->fn_name = malloc((pb->n_function ? pb->n_function : 1) * sizeof *b->fn_name);
    b->loc_first = malloc((pb->n_location ? pb->n_location : 1) * sizeof *b->loc_first);
    if (!b->fn_name || !b->loc_first) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    for (size_t i = 0; i < pb->n_function; i++)
        b->fn_name[i] = NONE;
    for (size_t i = 0; i < pb->n_location; i++)
        b->loc_first[i] = -1;
    if ((rc = intern_name(b, (const unsigned char *)"", 0, &b->empty_name, err))) return rc;

    if ((rc = sample_pass(b, vi, err))) return rc;

    /* createNamedEdgeMap over selectNodesForGraph's nodes: a node with cum and flat both 0
     * is not in the graph, so neither are its outgoing edges; an edge into it still counts. */
    int seen_start = 0;
    for (size_t i = 0; i < b->nnodes; i++)
        if ((b->nodes[i].cum || b->nodes[i].flat) && b->nodes[i].start) seen_start = 1;
    uint64_t total = 0;
    for (size_t i = 0; i < b->nedges; i++) {
        const struct gedge *e = &b->edges[i];
        const struct node *src = &b->nodes[e->src];
        if (!src->cum && !src->flat) continue;
        struct nedge key = {src->name, b->nodes[e->dst].name, src->line - src->start, e->w};
        total += e->w;
        if ((rc = add_named(b, &key, err))) return rc;
    }
    if (!seen_start)
        return cpgo_err_set(err, CPGO_E_INCOMPAT,
                            "profile missing Function.start_line data (Go version of profiled "
                            "application too old? Go 1.20+ automatically adds this to profiles)");
    if (total == 0) return 0; /* accepted, ignored: no edges */
    return finish(b, total, g, err);
}

int cpgo_pgograph_build(const cpgo_pb_profile *p, struct cpgo_pgograph **out, struct cpgo_err *err)
{
    *out = NULL;
    struct cpgo_pgograph *g = calloc(1, sizeof *g);
    if (!g) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    struct bld b = {.pb = p};
    int rc = build(&b, g, err);
    bld_free(&b);
    if (rc) {
        cpgo_pgograph_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* ---- output and comparisons ------------------------------------------------------------ */

int cpgo_pgograph_write(const struct cpgo_pgograph *g, struct cpgo_buf *out, struct cpgo_err *err)
{
    static const char header[] = "GO PREPROFILE V1\n";
    int rc = cpgo_buf_append(out, header, sizeof header - 1);
    for (size_t i = 0; i < g->nedges && !rc; i++) {
        const struct cpgo_pgo_edge *e = &g->edges[i];
        char num[48];
        int n = snprintf(num, sizeof num, "%" PRId64 " %" PRId64 "\n", e->offset, e->weight);
        if ((rc = cpgo_buf_append(out, e->caller, e->caller_len)) ||
            (rc = cpgo_buf_append(out, "\n", 1)) ||
            (rc = cpgo_buf_append(out, e->callee, e->callee_len)) ||
            (rc = cpgo_buf_append(out, "\n", 1)))
            break;
        rc = cpgo_buf_append(out, num, (size_t)n);
    }
    if (rc == CPGO_E_LIMIT)
        return cpgo_err_set(err, rc, "PGO edge list larger than its limit of %zu bytes", out->max);
    if (rc) return cpgo_err_set(err, rc, "out of memory writing the PGO edge list");
    return 0;
}

static double share(const struct cpgo_pgograph *g, const struct cpgo_pgo_edge *e)
{
    return (double)e->weight / (double)g->total;
}

double cpgo_pgograph_tvd(const struct cpgo_pgograph *a, const struct cpgo_pgograph *b)
{
    if (!a->nedges || !b->nedges) return (a->nedges || b->nedges) ? 1.0 : 0.0;
    /* a merge of the two key orders: each edge of the union met once, in a fixed order */
    double sum = 0;
    size_t i = 0, j = 0;
    while (i < a->nedges || j < b->nedges) {
        const struct cpgo_pgo_edge *ea = i < a->nedges ? &a->edges[a->by_key_[i]] : NULL;
        const struct cpgo_pgo_edge *eb = j < b->nedges ? &b->edges[b->by_key_[j]] : NULL;
        int c = !ea ? 1 : !eb ? -1 : cmp_key(ea, eb);
        double d = c < 0 ? share(a, ea) : c > 0 ? -share(b, eb) : share(a, ea) - share(b, eb);
        sum += d < 0 ? -d : d;
        i += c <= 0;
        j += c >= 0;
    }
    double t = 0.5 * sum;
    return t < 0 ? 0 : t > 1 ? 1 : t;
}

/* Share descending, then the key. The changes of one list are edges of one graph, whose
 * name ranks order them as their bytes do. */
static int change_less(const struct cpgo_pgo_edge_change *a, const struct cpgo_pgo_edge_change *b)
{
    if (a->share != b->share) return a->share > b->share;
    return cmp_ranked_key(a->e, b->e) < 0;
}

CPGO_SORT_DEFINE(sort_changes, struct cpgo_pgo_edge_change, change_less)

int cpgo_pgograph_hot_diff(const struct cpgo_pgograph *from, const struct cpgo_pgograph *to,
                           struct cpgo_pgo_edge_change **added, size_t *nadded,
                           struct cpgo_pgo_edge_change **removed, size_t *nremoved,
                           struct cpgo_err *err)
{
    *added = *removed = NULL;
    *nadded = *nremoved = 0;
    struct cpgo_pgo_edge_change *ad = to->nhot ? malloc(to->nhot * sizeof *ad) : NULL;
    struct cpgo_pgo_edge_change *rm = from->nhot ? malloc(from->nhot * sizeof *rm) : NULL;
    if ((to->nhot && !ad) || (from->nhot && !rm)) {
        free(ad);
        free(rm);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    size_t na = 0, nr = 0, i = 0, j = 0;
    while (i < from->nedges || j < to->nedges) {
        uint32_t fi = i < from->nedges ? from->by_key_[i] : NONE;
        uint32_t ti = j < to->nedges ? to->by_key_[j] : NONE;
        int c = fi == NONE ? 1 : ti == NONE ? -1 : cmp_key(&from->edges[fi], &to->edges[ti]);
        int hot_from = c <= 0 && fi < from->nhot, hot_to = c >= 0 && ti < to->nhot;
        if (hot_to && !hot_from)
            ad[na++] = (struct cpgo_pgo_edge_change){&to->edges[ti], share(to, &to->edges[ti])};
        if (hot_from && !hot_to)
            rm[nr++] =
                (struct cpgo_pgo_edge_change){&from->edges[fi], share(from, &from->edges[fi])};
        i += c <= 0;
        j += c >= 0;
    }
    if (sort_changes(ad, na) || sort_changes(rm, nr)) {
        free(ad);
        free(rm);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    if (!na) {
        free(ad);
        ad = NULL;
    }
    if (!nr) {
        free(rm);
        rm = NULL;
    }
    *added = ad;
    *nadded = na;
    *removed = rm;
    *nremoved = nr;
    return 0;
}
