/*
 * sort.h - a merge sort whose comparison the compiler inlines, for the large sorts of hot
 * paths (a target's call-edge graph has thousands of edges, sorted three ways at every
 * publish): glibc's qsort calls its comparison through a pointer and, for elements over 32
 * bytes, sorts pointers and permutes after. Stable; O(n log n); one temporary array.
 *
 *   static int edge_less(const struct edge *a, const struct edge *b) { ... }
 *   CPGO_SORT_DEFINE(sort_edges, struct edge, edge_less)
 *   if (sort_edges(v, n)) ...out of memory...
 *
 * Owns nothing beyond the call. Thread: any (reentrant).
 */
#ifndef CPGO_BASE_SORT_H
#define CPGO_BASE_SORT_H

#include <stdlib.h>
#include <string.h>

#define CPGO_SORT_RUN 16

/* Defines `static int name(T *a, size_t n)`: sorts a by less(x, y) (x before y), 0 or -1
 * when the temporary array cannot be allocated (a is then unchanged). */
#define CPGO_SORT_DEFINE(name, T, less)                                                            \
    static int name(T *a, size_t n)                                                                \
    {                                                                                              \
        if (n < 2) return 0;                                                                       \
        T *tmp = malloc(n * sizeof *tmp);                                                          \
        if (!tmp) return -1;                                                                       \
        for (size_t lo = 0; lo < n; lo += CPGO_SORT_RUN) {                                         \
            size_t hi = lo + CPGO_SORT_RUN < n ? lo + CPGO_SORT_RUN : n;                           \
            for (size_t i = lo + 1; i < hi; i++) {                                                 \
                T x = a[i];                                                                        \
                size_t j = i;                                                                      \
                for (; j > lo && less(&x, &a[j - 1]); j--)                                         \
                    a[j] = a[j - 1];                                                               \
                a[j] = x;                                                                          \
            }                                                                                      \
        }                                                                                          \
        T *src = a, *dst = tmp;                                                                    \
        for (size_t w = CPGO_SORT_RUN; w < n; w *= 2) {                                            \
            for (size_t lo = 0; lo < n; lo += 2 * w) {                                             \
                size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;        \
                size_t i = lo, j = mid, k = lo;                                                    \
                while (i < mid && j < hi)                                                          \
                    dst[k++] = less(&src[j], &src[i]) ? src[j++] : src[i++];                       \
                while (i < mid)                                                                    \
                    dst[k++] = src[i++];                                                           \
                while (j < hi)                                                                     \
                    dst[k++] = src[j++];                                                           \
            }                                                                                      \
            T *t = src;                                                                            \
            src = dst;                                                                             \
            dst = t;                                                                               \
        }                                                                                          \
        if (src != a) memcpy(a, src, n * sizeof *a);                                               \
        free(tmp);                                                                                 \
        return 0;                                                                                  \
    }

#endif
