/* Unit tests for merge/merge with profile/gz: the published file, a merged target encoded
 * as cpgo_merge_encode gzips it, is never larger than zlib level 1 of the same bytes (what
 * cpgo wrote before libdeflate: issue 14 asks for "no larger than today"). The merged
 * targets are those the scrape benchmark publishes: five heavy profiles (poorly compressing
 * names, several mappings, labels on every sample), on which libdeflate's level 1 came out
 * 0.33% larger than zlib's; five light ones; and one of each kind alone. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "merge/merge.h"
#include "pbuild.h"

static struct cpgo_limits lim;

/* Size of zlib's gzip of data at level 1 (mtime 0, no name: an 18-byte frame as ours). */
static size_t zlib1_size(const void *data, size_t n)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    CHECK_EQ_INT(deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)n);
    unsigned char *o = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)n;
    zs.next_out = o;
    zs.avail_out = (uInt)cap;
    CHECK_EQ_INT(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t r = zs.total_out;
    deflateEnd(&zs);
    free(o);
    return r;
}

static void add_pb(struct cpgo_merger *m, struct pbuild *b)
{
    struct cpgo_buf raw;
    CHECK_EQ_INT(pbuild_encode(b, 1, &raw), 0);
    struct cpgo_profile *p = NULL;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_profile_decode(raw.data, raw.len, &lim, &p, &err), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, p, &err), 0);
    cpgo_profile_free(p);
    cpgo_buf_free(&raw);
    pbuild_free(b);
}

/* Merges `n` generated profiles from seed `seed` on, then compares the gzip sizes. */
static void check_target(const char *what, int heavy, uint64_t seed, int n)
{
    struct cpgo_merge_opts o;
    memset(&o, 0, sizeof o);
    struct cpgo_merger *m;
    CHECK_EQ_INT(cpgo_merge_new(&m, &o), 0);
    for (int i = 0; i < n; i++)
        add_pb(m, heavy ? pbuild_heavy(seed + (uint64_t)i, 1800, 1200, 350)
                        : pbuild_golike(seed + (uint64_t)i, 2600, 2200, 1100, 0));
    struct cpgo_buf raw, gz;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_merge_encode(m, 1, 1, &raw, &err), 0);
    CHECK_EQ_INT(cpgo_merge_encode(m, 0, 1, &gz, &err), 0);
    size_t ref = zlib1_size(raw.data, raw.len);
    printf("%s: %zu raw, gzip %zu, zlib level 1 %zu (%+.2f%%)\n", what, raw.len, gz.len, ref,
           100.0 * ((double)gz.len - (double)ref) / (double)ref);
    CHECK(gz.len <= ref);
    cpgo_buf_free(&raw);
    cpgo_buf_free(&gz);
    cpgo_merge_free(m);
}

int main(void)
{
    cpgo_limits_default(&lim);
    check_target("five heavy profiles", 1, 1, 5);
    check_target("one heavy profile", 1, 1, 1);
    check_target("five light profiles", 0, 7, 5);
    check_target("one light profile", 0, 7, 1);
    CHECK_DONE();
}
