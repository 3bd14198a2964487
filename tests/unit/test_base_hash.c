/* Unit tests for base/hash and base/buf. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/hash.h"
#include "check.h"
#include "pbuild.h"

static const uint32_t *g_vals;
static uint32_t g_probe;
static int eq_val(const void *ctx, uint32_t idx)
{
    (void)ctx;
    return g_vals[idx] == g_probe;
}

/* cpgo_strmap: put, get, a duplicate refused, values written in place, many keys (the
 * table grows), and an empty map answers without allocating. */
static void test_strmap(void)
{
    struct cpgo_strmap m = {0};
    CHECK(cpgo_strmap_get(&m, "a") == NULL);
    static char keys[5000][16];
    for (size_t i = 0; i < 5000; i++) {
        snprintf(keys[i], sizeof keys[i], "host:%zu", i);
        CHECK_EQ_INT(cpgo_strmap_put(&m, keys[i], i * 3), 0);
    }
    CHECK_EQ_INT(cpgo_strmap_put(&m, "host:17", 1), 1); /* another pointer, the same key */
    size_t *v = cpgo_strmap_get(&m, "host:17");
    CHECK(v != NULL);
    if (v) {
        CHECK_EQ_INT((int)*v, 51);
        (*v)++;
    }
    v = cpgo_strmap_get(&m, "host:17");
    if (v) CHECK_EQ_INT((int)*v, 52);
    int all = 1;
    for (size_t i = 0; i < 5000; i++) {
        v = cpgo_strmap_get(&m, keys[i]);
        if (!v || (i != 17 && *v != i * 3)) all = 0;
    }
    CHECK(all);
    CHECK(cpgo_strmap_get(&m, "host:5000") == NULL);
    CHECK(cpgo_strmap_get(&m, "") == NULL);
    CHECK_EQ_INT(cpgo_strmap_put(&m, "", 7), 0); /* the empty string is a key like another */
    v = cpgo_strmap_get(&m, "");
    if (v) CHECK_EQ_INT((int)*v, 7);
    CHECK_EQ_INT((int)m.n, 5001);
    cpgo_strmap_free(&m);
    CHECK(cpgo_strmap_get(&m, "host:1") == NULL);
}

/* cpgo_hash_bytes: it reads exactly len bytes (each buffer is its own allocation, so ASan
 * sees an over-read), every bit of the input and the seed reaches the result at every
 * length around its 4-, 16- and 48-byte paths, and the low 32 bits the tables use spread
 * stacks that differ in one frame evenly. cpgo_hash_stable: values pinned, because the
 * merge's rounding draws must repeat between releases. */
static void test_hash_bytes(void)
{
    int bad = 0;
    for (size_t len = 0; len <= 150; len++) {
        unsigned char *b = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            b[i] = (unsigned char)(i * 37 + len);
        uint64_t h = cpgo_hash_bytes(b, len, 11);
        if (cpgo_hash_bytes(b, len, 11) != h) bad++;
        if (cpgo_hash_bytes(b, len, 12) == h) bad++;
        for (size_t bit = 0; bit < len * 8; bit++) {
            b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            if (cpgo_hash_bytes(b, len, 11) == h) bad++;
            b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        }
        free(b);
    }
    CHECK_EQ_INT(bad, 0);

    /* the lengths themselves: zero-filled buffers of every length hash apart */
    static unsigned char zeros[200];
    uint64_t seen[200];
    for (size_t len = 0; len < 200; len++) {
        seen[len] = cpgo_hash_bytes(zeros, len, 0);
        for (size_t j = 0; j < len; j++)
            if (seen[j] == seen[len]) bad++;
    }
    CHECK_EQ_INT(bad, 0);

    /* 2^16 stacks of 20 frames, each differing from a base in one frame, into 2^16 buckets
     * by the low bits: a uniform hash fills about 63% of them, none with more than ~10 */
    enum { N = 1 << 16 };
    uint16_t *load = calloc(N, sizeof *load);
    uint64_t st[20];
    for (size_t i = 0; i < 20; i++)
        st[i] = 1000 + i;
    for (uint32_t i = 0; i < N; i++) {
        uint64_t keep = st[i % 20];
        st[i % 20] = (uint64_t)i + 1;
        load[(uint32_t)cpgo_hash_bytes(st, sizeof st, 0x44) & (N - 1)]++;
        st[i % 20] = keep;
    }
    unsigned used = 0, most = 0;
    for (uint32_t i = 0; i < N; i++) {
        used += load[i] != 0;
        if (load[i] > most) most = load[i];
    }
    free(load);
    CHECK(used > N * 6 / 10 && used < N * 2 / 3);
    CHECK(most <= 12);

    /* A word that cancels one of the constants it is xored with must not erase its
     * partner word: 2,000 strings whose first word is each constant in turn (the 16-byte
     * step uses the second, the 48-byte lanes the second to fourth: wyhash's) and whose
     * second word varies hash apart, at lengths on each path. */
    static const uint64_t hk[] = {0xa0761d6478bd642fULL, 0xe7037ed1a0b428dbULL,
                                  0x8ebc6af09c88c6e3ULL, 0x589965cc75374cc3ULL};
    size_t lens[] = {24, 40, 64, 100};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (size_t k = 0; k < 4; k++)
            for (size_t at = 0; at + 16 <= lens[li]; at += 16) {
                unsigned char buf[100] = {0};
                memcpy(buf + at, &hk[k], 8);
                uint64_t *hs = malloc(2000 * sizeof *hs);
                size_t dup = 0;
                for (uint64_t v = 0; v < 2000; v++) {
                    uint64_t w = v * 0x9e3779b97f4a7c15ULL;
                    memcpy(buf + at + 8, &w, 8);
                    hs[v] = cpgo_hash_bytes(buf, lens[li], 0x5f);
                }
                for (size_t x = 0; x < 2000; x++)
                    for (size_t y = x + 1; y < 2000; y++)
                        dup += hs[x] == hs[y];
                free(hs);
                bad += dup != 0;
            }
    CHECK_EQ_INT(bad, 0);

    uint64_t a[3] = {1, 2, 3};
    CHECK(cpgo_hash_stable("runtime.mallocgc", 16, 0x5f) == 0x8e20cb9d97327287ULL);
    CHECK(cpgo_hash_stable(a, sizeof a, 7) == 0xc52990efaea53a9eULL);
    CHECK(cpgo_hash_stable("", 0, 1) == 0x8c741196acc47e35ULL);
}

static void test_idmap_flood(void)
{
    /* ids whose unkeyed slot hash (cpgo_hash_mix(0, id)) has its low 24 bits zero: without
     * the process key they all share one probe chain */
    CHECK(cpgo_hash_mix(0, pbuild_flood_id(5)) == (uint64_t)6 << 24); /* the inverse is right */
    struct cpgo_idmap m = {0};
    size_t n = 20000;
    for (uint64_t i = 0; i < n; i++)
        if (pbuild_flood_id(i))
            CHECK_EQ_INT(cpgo_idmap_put(&m, pbuild_flood_id(i), (uint32_t)i), 0);
    size_t most = cpgo_idmap_longest_probe(&m);
    CHECK(most < 200);
    if (most >= 200) fprintf(stderr, "longest probe %zu of %zu entries\n", most, m.n);
    CHECK_EQ_INT(cpgo_idmap_get(&m, pbuild_flood_id(1234)), 1234);
    cpgo_idmap_free(&m);
    /* the key is one per process: the same on every call and every thread's table */
    CHECK(cpgo_hash_key() == cpgo_hash_key());
}

int main(void)
{
    test_hash_bytes();
    test_idmap_flood();
    test_strmap();
    /* idmap: sparse and dense ids, duplicates, misses */
    struct cpgo_idmap m = {0};
    for (uint64_t i = 1; i <= 10000; i++)
        CHECK_EQ_INT(cpgo_idmap_put(&m, i * 0x10001, (uint32_t)i), 0);
    CHECK_EQ_INT(cpgo_idmap_put(&m, 5 * 0x10001, 99), 1);
    CHECK_EQ_INT(cpgo_idmap_get(&m, 5 * 0x10001), 5);
    CHECK_EQ_INT(cpgo_idmap_get(&m, 7), -1);
    CHECK_EQ_INT(cpgo_idmap_get(&m, 0), -1);
    CHECK_EQ_INT(m.n, 10000);
    cpgo_idmap_free(&m);

    /* itab: values with colliding low hash bits still resolve by equality */
    uint32_t *vals = malloc(5000 * sizeof *vals);
    g_vals = vals;
    struct cpgo_itab t = {0};
    for (uint32_t i = 0; i < 5000; i++) {
        vals[i] = i * 3;
        CHECK_EQ_INT(cpgo_itab_insert(&t, (uint64_t)(i % 7), i), 0);
    }
    g_probe = 3 * 4321;
    CHECK_EQ_INT(cpgo_itab_find(&t, 4321 % 7, eq_val, NULL), 4321);
    g_probe = 1;
    CHECK_EQ_INT(cpgo_itab_find(&t, 1, eq_val, NULL), -1);
    cpgo_itab_free(&t);

    /* itab truncate: entries >= n vanish, every other one is still found, for clustered
     * hashes (long probe chains), hashes near the top of the table (clusters that wrap) and
     * spread ones; the table keeps working for inserts afterwards. */
    for (int shape = 0; shape < 3; shape++) {
        struct cpgo_itab tt = {0};
        uint64_t hs[5000];
        for (uint32_t i = 0; i < 5000; i++) {
            vals[i] = i * 3;
            hs[i] = shape == 0   ? (uint64_t)(i % 7)
                    : shape == 1 ? (uint64_t)(0xffffffffu - i % 13)
                                 : cpgo_hash_mix(i, 99);
            CHECK_EQ_INT(cpgo_itab_insert(&tt, hs[i], i), 0);
        }
        size_t cut[] = {4999, 3000, 1234, 1, 0};
        for (size_t c = 0; c < sizeof cut / sizeof cut[0]; c++) {
            cpgo_itab_truncate(&tt, cut[c]);
            CHECK_EQ_INT(tt.n, cut[c]);
            int bad = 0;
            for (uint32_t i = 0; i < 5000; i += (i < 40 ? 1 : 7)) {
                g_probe = vals[i];
                int64_t want = i < cut[c] ? (int64_t)i : -1;
                if (cpgo_itab_find(&tt, hs[i], eq_val, NULL) != want) bad++;
            }
            CHECK_EQ_INT(bad, 0);
        }
        for (uint32_t i = 0; i < 100; i++)
            CHECK_EQ_INT(cpgo_itab_insert(&tt, hs[i], i), 0);
        g_probe = vals[77];
        CHECK_EQ_INT(cpgo_itab_find(&tt, hs[77], eq_val, NULL), 77);
        cpgo_itab_free(&tt);
    }
    free(vals);

    /* buf: the ceiling holds */
    struct cpgo_buf b;
    cpgo_buf_init(&b, 10);
    CHECK_EQ_INT(cpgo_buf_append(&b, "0123456789", 10), 0);
    CHECK_EQ_INT(cpgo_buf_append(&b, "x", 1), CPGO_E_LIMIT);
    CHECK_EQ_INT(b.len, 10);
    cpgo_buf_free(&b);

    /* error prefixing stays bounded */
    struct cpgo_err e;
    cpgo_err_set(&e, CPGO_E_INPUT, "inner");
    cpgo_err_prefix(&e, "file.pprof");
    CHECK(!strcmp(e.text, "file.pprof: inner"));
    char big[1000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cpgo_err_prefix(&e, "%s", big);
    CHECK(strlen(e.text) < CPGO_ERR_TEXT_MAX);
    CHECK_DONE();
}
