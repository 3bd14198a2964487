/* Unit tests for base/hash and base/buf. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/hash.h"
#include "check.h"

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

int main(void)
{
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
