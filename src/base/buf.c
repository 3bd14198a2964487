/* buf.c - see buf.h. */
#include "base/buf.h"
#include "base/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void cpgo_buf_init(struct cpgo_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max ? max : SIZE_MAX;
}

void cpgo_buf_free(struct cpgo_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int cpgo_buf_reserve(struct cpgo_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) return CPGO_E_LIMIT;
    size_t need = b->len + extra;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max) cap = b->max;
    unsigned char *d = realloc(b->data, cap);
    if (!d) return CPGO_E_NOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int cpgo_buf_append(struct cpgo_buf *b, const void *data, size_t len)
{
    int rc = cpgo_buf_reserve(b, len);
    if (rc) return rc;
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

unsigned char *cpgo_buf_steal(struct cpgo_buf *b, size_t *len)
{
    unsigned char *d = b->data;
    if (len) *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

int cpgo_array_grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 8;
    while (c < need) {
        if (c > SIZE_MAX / 2) return CPGO_E_NOMEM;
        c *= 2;
    }
    if (c > SIZE_MAX / size) return CPGO_E_NOMEM;
    void *p = realloc(*arr, c * size);
    if (!p) return CPGO_E_NOMEM;
    *arr = p;
    *cap = c;
    return 0;
}
