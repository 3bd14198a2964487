/*
 * metrics.h - a small Prometheus metrics registry: counters, gauges and histograms, rendered
 * in the text exposition format 0.0.4 for the admin endpoint's /metrics.
 *
 *   struct cpgo_metrics *r = cpgo_metrics_new(0);
 *   struct cpgo_metric *scrapes = cpgo_metric_counter(r, "cpgo_scrapes_total",
 *       "Scrapes finished, by target and result class.", CPGO_LABELS("target", "class"));
 *   struct cpgo_metric *dur = cpgo_metric_histogram(r, "cpgo_scrape_duration_seconds",
 *       "Wall time of a scrape.", CPGO_LABELS("target"), (const double[]){0.1, 1, 10, 60}, 4);
 *   if (cpgo_metrics_error(r)) ... a programming error: report it and stop
 *   cpgo_metric_inc(scrapes, CPGO_LABELS(t->name, cpgo_class_name(cls)));
 *   cpgo_metric_observe(dur, res->seconds, CPGO_LABELS(t->name));
 *   cpgo_metrics_render(r, &body);
 *
 * A family has a fixed list of label names given at registration; a series (one set of
 * label values) is created the first time it is touched. Label names and values are passed
 * as NULL-terminated arrays (CPGO_LABELS builds one), so a call with the wrong number of
 * values is detected instead of reading past the array. A family without labels passes
 * NULL and has its one series from the start (so it renders 0 before the first event),
 * unless cpgo_metric_remove takes it away.
 *
 * Bounded: a family holds at most max_series series (a label taken from a runaway set,
 * such as one value per URL, cannot grow the registry without end); a new series past the
 * cap, or one with a label value longer than CPGO_METRIC_VALUE_MAX bytes, is dropped and
 * counted in cpgo_metrics_dropped_series_total{metric="<family>"}, which is rendered after
 * every registered family.
 *
 * Registration errors (a name outside [a-zA-Z_:][a-zA-Z0-9_:]*, a label name outside
 * [a-zA-Z_][a-zA-Z0-9_]* or starting with "__", a duplicate family or label, "le" on a
 * histogram, bad buckets) are programming errors: the call returns NULL, the registry keeps
 * the first such error for cpgo_metrics_error, and every update through a NULL family is a
 * no-op. So a caller registers everything, checks once, and need not test each handle.
 * (No assert(): release builds define NDEBUG, and a wrong name must not pass silently.)
 *
 * Render output is deterministic: families in registration order, series sorted by their
 * label values (bytewise, first label first), histogram buckets cumulative with +Inf, then
 * _sum and _count. Numbers: integral values below 1e17 print as integers (no exponent),
 * others in the shortest %g form that reads back to the same double; "+Inf", "-Inf", "NaN".
 *
 * Owns: families, series and their copied strings. Borrows nothing after a call returns.
 * Thread: the loop thread only (no locks: updates and rendering happen there; work threads
 * report through their done callbacks, which run on the loop).
 */
#ifndef CPGO_ADMIN_METRICS_H
#define CPGO_ADMIN_METRICS_H

#include <stddef.h>

#include "base/buf.h"

struct cpgo_metrics;
struct cpgo_metric; /* one family */

/* A NULL-terminated array of label names or values, as a compound literal. */
#define CPGO_LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

enum {
    CPGO_METRIC_MAX_LABELS = 8,          /* label names per family */
    CPGO_METRIC_MAX_BUCKETS = 64,        /* histogram upper bounds, +Inf not counted */
    CPGO_METRIC_VALUE_MAX = 256,         /* bytes in one label value */
    CPGO_METRIC_MAX_COLLECTORS = 16,     /* collect callbacks per registry */
    CPGO_METRICS_DEFAULT_SERIES = 10000, /* series per family when max_series is 0 */
};

/* max_series: series per family (0 = CPGO_METRICS_DEFAULT_SERIES). NULL when out of memory. */
struct cpgo_metrics *cpgo_metrics_new(size_t max_series);
void cpgo_metrics_free(struct cpgo_metrics *r);
/* The first registration error ("metric name 'x-y' is invalid"), or NULL. */
const char *cpgo_metrics_error(const struct cpgo_metrics *r);

/*
 * Registration. name and help are copied; labels is NULL (no labels) or CPGO_LABELS(...).
 * Histogram buckets are the finite upper bounds, strictly increasing (a trailing +Inf is
 * accepted and ignored: +Inf is always added). Returns NULL on error (see above).
 */
struct cpgo_metric *cpgo_metric_counter(struct cpgo_metrics *r, const char *name, const char *help,
                                        const char *const *labels);
struct cpgo_metric *cpgo_metric_gauge(struct cpgo_metrics *r, const char *name, const char *help,
                                      const char *const *labels);
struct cpgo_metric *cpgo_metric_histogram(struct cpgo_metrics *r, const char *name,
                                          const char *help, const char *const *labels,
                                          const double *buckets, size_t nbuckets);

/*
 * Updates. values is NULL for a family without labels, else CPGO_LABELS(...) with exactly
 * one value per label name (values are copied when a series is created). Return 0;
 * CPGO_E_USAGE for a NULL family, the wrong kind (observe on a counter, inc on a histogram),
 * the wrong number of values, or a negative or NaN add to a counter; CPGO_E_LIMIT when the
 * series was dropped (cap, or a value too long); CPGO_E_NOMEM.
 *
 * set works on counters too, for mirroring a count kept elsewhere (the caller keeps it
 * monotonic), typically from a collect callback.
 */
int cpgo_metric_inc(struct cpgo_metric *m, const char *const *values);
int cpgo_metric_add(struct cpgo_metric *m, double v, const char *const *values);
int cpgo_metric_set(struct cpgo_metric *m, double v, const char *const *values);
int cpgo_metric_observe(struct cpgo_metric *m, double v, const char *const *values);

/* Reads a counter's or gauge's value: 0, or CPGO_E_EMPTY when the series does not exist
 * (CPGO_E_USAGE as above). Histograms report their count. */
int cpgo_metric_get(const struct cpgo_metric *m, const char *const *values, double *v);
/* Forgets one series (a backend removed on reload): 0 or CPGO_E_EMPTY. A family without
 * labels (values NULL) then renders no sample until its next update: a value not known
 * (yet) is absent, never a placeholder such as -1. */
int cpgo_metric_remove(struct cpgo_metric *m, const char *const *values);
/* Forgets every series of a labelled family (a family without labels is reset to 0). */
void cpgo_metric_clear(struct cpgo_metric *m);
size_t cpgo_metric_series(const struct cpgo_metric *m);

/*
 * Collect callbacks run at the start of every render, in the order added, so values kept
 * elsewhere (queue depth, the admin server's counters) are copied in only when someone
 * asks. A collector must not register families. 0, or CPGO_E_LIMIT past
 * CPGO_METRIC_MAX_COLLECTORS. Removing is by (cb, arg); removing an absent one is a no-op.
 */
typedef void (*cpgo_metrics_collect_cb)(struct cpgo_metrics *r, void *arg);
int cpgo_metrics_add_collector(struct cpgo_metrics *r, cpgo_metrics_collect_cb cb, void *arg);
void cpgo_metrics_remove_collector(struct cpgo_metrics *r, cpgo_metrics_collect_cb cb, void *arg);

/*
 * Appends the exposition text to out (its ceiling applies). 0, CPGO_E_LIMIT (the text did
 * not fit: out then holds a truncated prefix the caller must discard) or CPGO_E_NOMEM.
 * The content type to serve it with is CPGO_METRICS_CONTENT_TYPE.
 */
int cpgo_metrics_render(struct cpgo_metrics *r, struct cpgo_buf *out);
#define CPGO_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Formats v as the exposition format wants it (see above) into buf (>= 32 bytes). */
void cpgo_metrics_format_value(double v, char *buf, size_t cap);

#endif
