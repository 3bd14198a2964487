/*
 * tz.h - time zones without touching the process's TZ: reads a TZif file (v1/v2/v3) from
 * $TZDIR or /usr/share/zoneinfo, and its POSIX TZ footer for times past the last
 * transition (the "M.m.w.d/time" rules real zones use). Never calls setenv/tzset, so it is
 * safe while other threads use localtime. Thread: load anywhere; a loaded zone is
 * immutable and may be shared.
 */
#ifndef CPGO_SCHED_TZ_H
#define CPGO_SCHED_TZ_H

#include <stdint.h>

#include "base/err.h"

struct cpgo_tz;

/* "UTC" (and "Etc/UTC", "GMT", "Z") need no file. Names with ".." or a leading "/" are
 * refused. */
int cpgo_tz_load(const char *name, struct cpgo_tz **out, struct cpgo_err *err);
void cpgo_tz_free(struct cpgo_tz *z);
/* UTC offset in seconds (east positive) in effect at Unix time t. */
int32_t cpgo_tz_offset(const struct cpgo_tz *z, int64_t t);
const char *cpgo_tz_name(const struct cpgo_tz *z);

#endif
