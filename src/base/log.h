/*
 * log.h - structured log lines: logfmt by default, JSON lines (jansson) on request.
 *
 *   cpgo_log(CPGO_LOG_WARN, "scrape failed", "backend", b->name, "class", "timeout", NULL);
 *
 * Arguments after the message are key/value string pairs ending with NULL. Every line about
 * a backend or target carries it as a field. One write(2) per line under a mutex, so lines
 * from the loop and the work threads never interleave. Values are written as given: callers
 * pass URLs through cpgo_log_mask_url, and tokens never reach a log call at all.
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

/* Copies url into buf with any password in its userinfo replaced by "xxxxx" and the query
 * values of keys that look secret (token, key, secret, password, sig) replaced too. */
void cpgo_log_mask_url(const char *url, char *buf, size_t cap);

/* Replaces every occurrence of each secret (NULL-terminated list; ones shorter than 4 bytes
 * are skipped) in text with "****", in place: for error lines and bodies a server echoes. */
void cpgo_log_scrub(char *text, const char *const *secrets);
/* The secrets in a URL (userinfo password or lone user, values of secret-looking query
 * keys), malloc'd into out[0..cap); returns how many. */
size_t cpgo_log_url_secrets(const char *url, char **out, size_t cap);

#endif
