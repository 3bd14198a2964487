/*
 * log.h - structured log lines: logfmt by default, JSON lines (jansson) on request.
 *
 *   cpgo_log(CPGO_LOG_WARN, "scrape failed", "backend", b->name, "class", "timeout", NULL);
 *
 * Arguments after the message are key/value string pairs ending with NULL. Every line about
 * a backend or target carries it as a field. A value is text; the call site that knows it
 * is a number or a boolean says so by wrapping the key (a literal) in CPGO_LOG_INT,
 * CPGO_LOG_NUM or CPGO_LOG_BOOL:
 *
 *   cpgo_log(CPGO_LVL_INFO, "scrape merged", CPGO_LOG_INT("pending_scrapes"), n, NULL);
 *
 * logfmt writes the text as given either way; JSON writes a typed key's value as a JSON
 * number or boolean, as Go's slog JSONHandler does for ints, floats and bools. The type is
 * never guessed from the text (a backend named "123" stays a string), and a typed value
 * whose text is not of its type (a caller's bug) is written as a string, never lost.
 *
 * One write(2) per line under a mutex, so lines from the loop and the work threads never
 * interleave. Values are written as given: callers pass URLs through cpgo_url_mask and text
 * a server sent through cpgo_url_scrub (url.h), and tokens never reach a log call at all.
 * Thread: any.
 */
#ifndef CPGO_BASE_LOG_H
#define CPGO_BASE_LOG_H

#include <stddef.h>

enum { CPGO_LVL_DEBUG = 0, CPGO_LVL_INFO = 1, CPGO_LVL_WARN = 2, CPGO_LVL_ERROR = 3 };

/* Process-wide settings (set once at start, before threads): minimum level, json or not,
 * and the fd to write to (default 2). */
void cpgo_log_setup(int min_level, int json, int fd);
int cpgo_log_enabled(int level);
/* Changes level and format at run time (any thread; a reload uses it). */
void cpgo_log_set_level(int min_level, int json);
/* A typed key: a marker byte the writer strips, then the key itself (a string literal). */
#define CPGO_LOG_INT(key) "\001" key  /* a decimal integer in int64's range */
#define CPGO_LOG_NUM(key) "\002" key  /* a decimal number ("0.25", "3", "1e-3") */
#define CPGO_LOG_BOOL(key) "\003" key /* "true" or "false" */

void cpgo_log(int level, const char *msg, ...) __attribute__((sentinel));

/* A status line on a terminal (`cpgo run --once`'s progress): written without a newline
 * at the bottom, replaced in place by the next call, erased before each log line and drawn
 * again below it. NULL or "" erases it. The caller decides that the log fd is a terminal
 * and keeps the line shorter than its width (a wrapped line cannot be redrawn in place);
 * at most CPGO_LOG_STATUS_MAX - 1 bytes are kept. Any thread. */
#define CPGO_LOG_STATUS_MAX 512
void cpgo_log_status(const char *line);

#endif
