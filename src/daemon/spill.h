/*
 * spill.h - which targets' pending merges leave memory (limits.max_pending_memory): the
 * choice, as a pure function of what the loop knows, so it is tested on its own.
 *
 * Owns: nothing (the caller's array). Thread: any (pure).
 */
#ifndef CPGO_DAEMON_SPILL_H
#define CPGO_DAEMON_SPILL_H

#include <stddef.h>
#include <stdint.h>

/* A target whose pending merge is in memory and whose lane is idle. */
struct cpgo_spill_cand {
    uint64_t used; /* when it last needed its merger (any clock, larger = later) */
    int64_t mem;   /* what it holds */
    size_t index;  /* the caller's */
};

/* With `total` bytes held over all targets and a budget: sorts c least recently used first
 * and returns how many of the first to spill. Nothing when total is within the budget;
 * otherwise down to 7/8 of it (a margin, so that the next scrape does not spill again at
 * once), or every candidate if that is not enough. A budget of 0 spills every candidate. */
size_t cpgo_spill_pick(struct cpgo_spill_cand *c, size_t n, int64_t total, int64_t budget);

#endif
