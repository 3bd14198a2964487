/*
 * par.h - a fixed split of n independent jobs over a few short-lived threads, for the CLI's
 * whole-buffer work on all cores (cpgo merge's pack and gzip members). Job i runs on worker
 * i % threads; worker 0 is the caller, which also runs the share of any worker whose thread
 * could not be started, so every job runs exactly once whatever the system allows. The
 * split is fixed so that a job's result never depends on which thread ran it.
 *
 * Owns nothing beyond the call (every thread is joined before it returns). Thread: any; the
 * daemon's work items pass threads = 1 and run everything on the caller.
 */
#ifndef CPGO_BASE_PAR_H
#define CPGO_BASE_PAR_H

#include <stddef.h>

/* Runs fn(arg, i) for every i in [0, n) on up to `threads` threads (< 2, or n < 2: the
 * caller alone); returns when all have run. */
void cpgo_par_for(size_t n, int threads, void (*fn)(void *arg, size_t i), void *arg);

#endif
