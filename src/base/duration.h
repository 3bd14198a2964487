/*
 * duration.h - Go-style durations ("45s", "1h30m", "500ms", "2m0.5s") and byte sizes
 * ("64MiB", "512KiB", "1GB", plain integers), as config values and flags.
 * Thread: any.
 */
#ifndef CPGO_BASE_DURATION_H
#define CPGO_BASE_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/*
 * Parses a Go time.ParseDuration string into milliseconds. Units: ns, us (µs), ms, s, m, h;
 * decimal fractions allowed ("1.5h"); a sign is refused (durations here are never
 * negative); "0" alone is 0. Sub-millisecond remainders are rounded down. Overflow, an
 * empty string, a missing unit or garbage -> CPGO_E_INPUT with a message naming the text.
 */
int cpgo_duration_parse(const char *text, int64_t *ms, struct cpgo_err *err);

/* Formats ms the way Go prints a time.Duration ("1h30m0s", "45s", "1.5s", "250ms", "0s"). */
void cpgo_duration_format(int64_t ms, char *buf, size_t cap);

/* Formats ns exactly as Go's time.Duration.String: "1.5s", "1m30.000000001s", "1.234ms",
 * "12µs" (the micro sign, U+00B5), "7ns", "0s", "-2s"; cap of 32 always holds it. */
void cpgo_duration_format_ns(int64_t ns, char *buf, size_t cap);

/*
 * Parses a size: a non-negative integer (bytes) optionally followed by a unit: B, KB, MB,
 * GB (powers of 1000) or KiB, MiB, GiB (powers of 1024); spaces between number and unit
 * allowed. Overflow or garbage -> CPGO_E_INPUT.
 */
int cpgo_size_parse(const char *text, uint64_t *bytes, struct cpgo_err *err);

#endif
