/* Unit tests for base/par: cpgo_par_for runs every job exactly once, on the split it
 * promises (job i on worker i % threads), for every job count around the thread count,
 * and with no jobs at all. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/par.h"
#include "check.h"

struct runs {
    atomic_int *count; /* how often each job ran */
    pthread_t *by;     /* the thread that ran it */
};

static void job(void *arg, size_t i)
{
    struct runs *r = arg;
    atomic_fetch_add(&r->count[i], 1);
    r->by[i] = pthread_self();
}

int main(void)
{
    static const int threads[] = {-1, 0, 1, 2, 3, 8};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        for (size_t n = 0; n <= 20; n++) {
            struct runs r = {calloc(n + 1, sizeof *r.count), calloc(n + 1, sizeof *r.by)};
            CHECK(r.count && r.by);
            if (!r.count || !r.by) break;
            cpgo_par_for(n, threads[t], job, &r);
            int once = 1, split = 1;
            int w = threads[t] < 1 ? 1 : threads[t];
            if ((size_t)w > n) w = n ? (int)n : 1;
            for (size_t i = 0; i < n; i++) {
                once &= atomic_load(&r.count[i]) == 1;
                /* jobs of one worker ran on one thread; the caller's on the caller */
                split &= pthread_equal(r.by[i], r.by[i % (size_t)w]) != 0;
                if (i % (size_t)w == 0) split &= pthread_equal(r.by[i], pthread_self()) != 0;
            }
            CHECK(once);
            CHECK(split);
            free(r.count);
            free(r.by);
        }
    }
    CHECK_DONE();
}
