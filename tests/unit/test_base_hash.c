/* Unit tests for base/hash and base/buf. */
#include <stdint.h>
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

int main(void)
{
    /* idmap: sparse and dense ids, duplicates, misses */
    struct cpgo_idmap m = {0};
    for (uint64_t i = 1; i <= 10000; i++) CHECK_EQ_INT(cpgo_idmap_put(&m, i * 0x10001, (uint32_t)i), 0);
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
