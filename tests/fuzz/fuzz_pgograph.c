/* fuzz_pgograph.c - libFuzzer target: the PGO edge graph of whatever the decoder accepts.
 * Checks what must hold for any profile: the edges are in Go's ByWeight order and sum to
 * the total (wrapping), the hot prefix is within them, a graph is at distance 0 from itself
 * and has no hot difference with itself, and trimming for PGO (keep 2 frames, strip
 * addresses, drop labels) leaves the edge list byte-identical (merge_trim's promise) when
 * no value is negative (merging folds +w and -w samples into nothing, where Go keeps an
 * edge of weight 0). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "merge/merge.h"
#include "profile/codec.h"
#include "profile/pgograph.h"
#include "profile/summary.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int edges_text(const cpgo_pb_profile *pb, struct cpgo_buf *out, int *code)
{
    struct cpgo_err err;
    struct cpgo_pgograph *g = NULL;
    cpgo_buf_init(out, 256u << 20);
    *code = cpgo_pgograph_build(pb, &g, &err);
    if (*code) return 0;
    if (cpgo_pgograph_write(g, out, &err)) abort();
    if (g->nhot > g->nedges || (g->nedges && !g->nhot)) abort();
    uint64_t sum = 0;
    for (size_t i = 0; i < g->nedges; i++) {
        sum += (uint64_t)g->edges[i].weight;
        if (i && g->edges[i].weight > g->edges[i - 1].weight) abort();
    }
    if (sum != (uint64_t)g->total) abort();
    if (cpgo_pgograph_tvd(g, g) != 0.0) abort();
    struct cpgo_pgo_edge_change *a, *r;
    size_t na, nr;
    if (cpgo_pgograph_hot_diff(g, g, &a, &na, &r, &nr, &err) || na || nr) abort();
    cpgo_pgograph_free(g);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cpgo_limits lim;
    cpgo_limits_default(&lim);
    lim.max_decompressed = 4u << 20;
    lim.max_decode_memory = 64u << 20;
    struct cpgo_profile *p = NULL;
    struct cpgo_err err;
    if (cpgo_profile_decode(data, size, &lim, &p, &err)) return 0;
    struct cpgo_buf full;
    int code;
    edges_text(p->pb, &full, &code);

    struct cpgo_merge_opts o = {.trim = {1, 2, 1}};
    struct cpgo_merger *m;
    struct cpgo_merged *r = NULL;
    if (cpgo_merge_new(&m, &o)) abort();
    if (!cpgo_summary_pgo_lacks(p->pb, CPGO_PGO_NEGATIVE, NULL) &&
        cpgo_merge_add(m, p, &err) == 0 && cpgo_merge_result(m, &r, &err) == 0) {
        struct cpgo_buf trimmed;
        int tcode;
        edges_text(&r->pb, &trimmed, &tcode);
        /* an empty result (every sample zero) is refused by Go for want of start lines */
        if (tcode != code && !(r->pb.n_sample == 0 && code == CPGO_E_INCOMPAT)) abort();
        if (!code && !tcode &&
            (trimmed.len != full.len || memcmp(trimmed.data, full.data, full.len)))
            abort();
        cpgo_buf_free(&trimmed);
        cpgo_merged_free(r);
    }
    cpgo_merge_free(m);
    cpgo_buf_free(&full);
    cpgo_profile_free(p);
    return 0;
}
