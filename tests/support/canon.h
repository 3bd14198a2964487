/*
 * canon.h - a canonical text form of a profile that does not depend on ids or order:
 * header lines, then one line per distinct (stack, labels) with summed values, sorted.
 * Stacks are written by content (function name, system name, file, start line, line,
 * column per inline frame; address relative to its mapping; mapping file / build id).
 * Two profiles are semantically equal iff their canonical forms are equal.
 */
#ifndef CPGO_TEST_CANON_H
#define CPGO_TEST_CANON_H

#include "profile/codec.h"

/* Returns a malloc'd NUL-terminated string. with_addresses=0 leaves addresses out. */
char *canon_dump(const struct cpgo_profile *p, int with_addresses);

/* When set, comments starting "cpgo-written: " (the publish time cpgo stamps into what it
 * publishes) are left out, so a published file compares equal to the `cpgo merge` of the
 * same scrapes. The cpgo-canon tool sets it; unit tests see every comment. */
extern int canon_ignore_stamp;

#endif
