/*
 * cron.h - cron schedules: five fields, macros, @every, and CRON_TZ.
 *
 * Syntax: "MIN HOUR DOM MONTH DOW" with "*", numbers, ranges "a-b", lists "a,b", steps
 * "*\/n" and "a-b/n" (and "a/n" = "a-max/n"), month names JAN..DEC and weekday names
 * SUN..SAT (case-insensitive; 7 is also Sunday); "?" is accepted as "*" in DOM/DOW. The
 * usual rule: when both day-of-month and day-of-week are restricted (neither starts with
 * "*"), a day matches if either does (OR); otherwise both must. Macros: @yearly
 * (@annually), @monthly, @weekly, @daily (@midnight), @hourly; "@every <duration>" fires at
 * every multiple of the duration since the Unix epoch (stable across restarts). Times are
 * UTC unless the expression starts with "CRON_TZ=<zone> " (or "TZ=<zone> "), an IANA
 * zone read from the system's zoneinfo (see tz.h). Across DST changes: a wall-clock time
 * that does not exist that day is skipped; one that occurs twice fires once (the first).
 * Thread: parse anywhere; a parsed schedule is immutable and may be shared.
 */
#ifndef CPGO_SCHED_CRON_H
#define CPGO_SCHED_CRON_H

#include <stdint.h>

#include "base/err.h"

struct cpgo_cron;

/* Parses expr. Errors (CPGO_E_INPUT) name the field and the offending text, e.g.
 * "minute field: 61 is out of range 0-59". */
int cpgo_cron_parse(const char *expr, struct cpgo_cron **out, struct cpgo_err *err);
void cpgo_cron_free(struct cpgo_cron *c);

/* The next fire time strictly after `after` (Unix seconds). Returns 0, or CPGO_E_INPUT when
 * the schedule never fires within the next 5 years (e.g. "0 0 30 2 *"). */
int cpgo_cron_next(const struct cpgo_cron *c, int64_t after, int64_t *next);

/* The shortest gap between two consecutive fire times, in seconds (for "timeout must be
 * below the schedule's period"): @every -> its duration; otherwise measured over the fire
 * times of the coming year. */
int64_t cpgo_cron_min_period(const struct cpgo_cron *c);

/* The expression as given, normalised (single spaces), for display. */
const char *cpgo_cron_text(const struct cpgo_cron *c);

#endif
