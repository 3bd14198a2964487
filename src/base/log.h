/*
 * log.h - structured log lines: logfmt by default, JSON lines (jansson) on request.
 *
 *   cpgo_log(CPGO_LOG_WARN, "scrape failed", "backend", b->name, "class", "timeout", NULL);
 *
 * Arguments after the message are key/value string pairs ending with NULL. Every line about
 * a backend or target carries it as a field. One write(2) per line under a mutex, so lines
 * from the loop and the work threads never interleave. Values are written as given: callers
 * pass URLs through cpgo_url_mask and text a server sent through cpgo_url_scrub (url.h),
 * and tokens never reach a log call at all.
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
void cpgo_log(int level, const char *msg, ...) __attribute__((sentinel));

/* A status line on a terminal (`cpgo run --once`'s progress): written without a newline
 * at the bottom, replaced in place by the next call, erased before each log line and drawn
 * again below it. NULL or "" erases it. The caller decides that the log fd is a terminal
 * and keeps the line shorter than its width (a wrapped line cannot be redrawn in place);
 * at most CPGO_LOG_STATUS_MAX - 1 bytes are kept. Any thread. */
#define CPGO_LOG_STATUS_MAX 512
void cpgo_log_status(const char *line);

#endif
