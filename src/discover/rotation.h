/*
 * rotation.h - which instances of a service a round scrapes: at most max_instances, and,
 * while the instance set is stable, every instance once before any instance twice.
 *
 * The order is the instances' keys (a hash of "addr:port", discover.h): spread over the
 * fleet, the same on every restart and every replica. A cycle is the set of instances
 * already tried since it began (`done`); a cursor (the key of the last instance picked)
 * walks the key order, taking only instances not done, wrapping; when every present
 * instance is done, a new cycle begins. So a new instance is tried within the current
 * cycle, before any instance's second turn, wherever its key falls, and a gone one leaves
 * the set. An instance that was busy when its turn came (another profiler was running on
 * it) is owed: not done, and tried first in the next round. Cursor, done and owed are the
 * whole state, kept in the target's state directory (rotation.json), so a restart
 * continues the cycle where it stopped.
 *
 * Owns: nothing beyond the struct. Thread: any (the daemon uses it on the loop).
 */
#ifndef CPGO_DISCOVER_ROTATION_H
#define CPGO_DISCOVER_ROTATION_H

#include <stddef.h>
#include <stdint.h>

#include "discover/discover.h"

#define CPGO_ROTATION_MAX_OWED 1024

struct cpgo_rotation {
    int has_cursor;
    uint64_t cursor; /* the key of the last instance picked */
    uint64_t *done;  /* sorted keys tried in this cycle (malloc'd; at most the instances) */
    size_t ndone, capdone;
    uint64_t owed[CPGO_ROTATION_MAX_OWED];
    size_t nowed;
    uint64_t rounds; /* rounds picked, for /status */
    uint64_t cycles; /* times the cursor wrapped */
};

/* Picks the round's instances from inst (sorted by key, as discover.c leaves them): the owed
 * ones still present first, then those not done in key order after the cursor, then (a new
 * cycle) the rest. max 0 = all. Writes up to min(n, max) indexes into out and marks them in
 * taken (n bytes, zeroed by the caller); returns how many. Picked instances are done. */
size_t cpgo_rotation_pick(struct cpgo_rotation *r, const struct cpgo_instance *inst, size_t n,
                          size_t max, size_t *out, unsigned char *taken);
/* The next instance not done and not taken, for one that was busy (marked taken and done,
 * the cursor advanced); SIZE_MAX when none is left in this cycle (a substitute never starts
 * a new cycle: that would scrape an instance twice before another's turn). */
size_t cpgo_rotation_next(struct cpgo_rotation *r, const struct cpgo_instance *inst, size_t n,
                          unsigned char *taken);
/* The instance with this key was busy: not done, tried first next round. */
void cpgo_rotation_owe(struct cpgo_rotation *r, uint64_t key);
/* The instance with this key was scraped: done, no longer owed (a busy one retried).
 * Returns 1 when that changed the rotation. */
int cpgo_rotation_done(struct cpgo_rotation *r, uint64_t key);
void cpgo_rotation_free(struct cpgo_rotation *r);
/* The rotation as JSON text (malloc'd; NULL when out of memory), and back: -1 when the
 * text is not a rotation (then *r is the empty rotation). *r is overwritten (free it
 * first). */
char *cpgo_rotation_encode(const struct cpgo_rotation *r);
int cpgo_rotation_decode(const char *text, size_t len, struct cpgo_rotation *r);

#endif
