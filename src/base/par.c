/* par.c - see par.h. */
#include "base/par.h"

#include <pthread.h>
#include <stdlib.h>

struct par_worker {
    pthread_t tid;
    size_t n, first, stride;
    void (*fn)(void *arg, size_t i);
    void *arg;
};

static void *par_worker_main(void *p)
{
    struct par_worker *w = p;
    for (size_t i = w->first; i < w->n; i += w->stride)
        w->fn(w->arg, i);
    return NULL;
}

void cpgo_par_for(size_t n, int threads, void (*fn)(void *arg, size_t i), void *arg)
{
    if (threads < 1) threads = 1;
    if ((size_t)threads > n) threads = n ? (int)n : 1;
    struct par_worker *ws = threads > 1 ? calloc((size_t)threads, sizeof *ws) : NULL;
    int started = 0;
    for (int t = 1; ws && t < threads; t++) {
        ws[t] = (struct par_worker){0, n, (size_t)t, (size_t)threads, fn, arg};
        if (pthread_create(&ws[t].tid, NULL, par_worker_main, &ws[t])) break;
        started = t;
    }
    size_t stride = ws ? (size_t)threads : 1;
    for (size_t i = 0; i < n; i++) {
        size_t owner = i % stride;
        if (owner == 0 || owner > (size_t)started) fn(arg, i);
    }
    for (int t = 1; t <= started; t++)
        pthread_join(ws[t].tid, NULL);
    free(ws);
}
