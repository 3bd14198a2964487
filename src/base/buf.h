/*
 * buf.h - growable byte buffer with a ceiling, and array growth with overflow checks.
 *
 * Every buffer that holds outside input has a maximum: appending past it fails with
 * CPGO_E_LIMIT instead of growing. Thread: any; a buffer has one owner.
 */
#ifndef CPGO_BASE_BUF_H
#define CPGO_BASE_BUF_H

#include <stddef.h>

struct cpgo_buf {
    unsigned char *data;
    size_t len;
    size_t cap;
    size_t max; /* ceiling on len; 0 means SIZE_MAX */
};

void cpgo_buf_init(struct cpgo_buf *b, size_t max);
void cpgo_buf_free(struct cpgo_buf *b);
/* Ensures room for `extra` more bytes. 0, CPGO_E_LIMIT (past max) or CPGO_E_NOMEM. */
int cpgo_buf_reserve(struct cpgo_buf *b, size_t extra);
int cpgo_buf_append(struct cpgo_buf *b, const void *data, size_t len);
/* Hands the bytes to the caller (who frees them) and resets the buffer. */
unsigned char *cpgo_buf_steal(struct cpgo_buf *b, size_t *len);

/*
 * Grows *arr (elements of `size` bytes, capacity *cap) to hold at least `need` elements,
 * doubling. 0 or CPGO_E_NOMEM (also on size overflow).
 */
int cpgo_array_grow(void **arr, size_t *cap, size_t need, size_t size);

#define CPGO_ARRAY_PUSH_ROOM(arr, n, cap)                                                          \
    (((n) < (cap)) ? 0 : cpgo_array_grow((void **)&(arr), &(cap), (n) + 1, sizeof *(arr)))

#endif
