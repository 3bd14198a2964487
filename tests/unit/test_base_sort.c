/* Unit tests for base/sort: CPGO_SORT_DEFINE sorts like qsort under a total order, keeps
 * equal elements in their order (stable), at every size around its run length and beyond,
 * with many ties. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/sort.h"
#include "check.h"

struct item {
    int64_t key;
    uint32_t pos; /* the input position: ties must keep it ascending */
    char pad[20]; /* a larger element, as the graph's edges are */
};

static int item_less(const struct item *a, const struct item *b)
{
    return a->key < b->key;
}

CPGO_SORT_DEFINE(sort_items, struct item, item_less)

static int cmp_total(const void *x, const void *y)
{
    const struct item *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(void)
{
    static const size_t sizes[] = {0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 100, 1000, 4097, 20000};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        for (int spread = 0; spread < 3; spread++) {
            size_t n = sizes[si];
            struct item *a = calloc(n + 1, sizeof *a), *b = calloc(n + 1, sizeof *b);
            uint64_t range = spread == 0 ? 3 : spread == 1 ? n + 1 : UINT64_MAX;
            for (size_t i = 0; i < n; i++) {
                uint64_t r = next();
                /* a full-range key is the bits as they are (no subtraction: it would
                 * overflow), a narrow one is centred on 0 */
                a[i].key = range == UINT64_MAX
                               ? (int64_t)(r >> 1) - (int64_t)(r & 1 ? INT64_MAX : 0)
                               : (int64_t)(r % range) - (int64_t)(range / 2);
                a[i].pos = (uint32_t)i;
            }
            memcpy(b, a, n * sizeof *a);
            CHECK_EQ_INT(sort_items(a, n), 0);
            if (n) qsort(b, n, sizeof *b, cmp_total); /* stable by construction: pos decides */
            int same = 1;
            for (size_t i = 0; i < n; i++)
                if (a[i].key != b[i].key || a[i].pos != b[i].pos) same = 0;
            CHECK(same);
            free(a);
            free(b);
        }
    }
    CHECK_DONE();
}
