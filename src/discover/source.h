/*
 * source.h - one discovery source of a service (a `static_configs[]`, `dns_sd_configs[]`,
 * `file_sd_configs[]` or `kubernetes_sd_configs[]` entry): what every kind shares.
 *
 * A source keeps the last good list of targets it found ("host:port" as found: a host name
 * or an IP literal; names are resolved later, by discover.c, through the same resolver) and
 * replaces that list only with a complete new answer. A refresh that fails keeps the last
 * good list (as Prometheus does) and records the error; `answered` is set by the first
 * refresh that ended, good or bad, so `--once` knows when to stop waiting.
 *
 * Each kind has a constructor (below) and shares the base struct: the kind's own struct
 * embeds struct cpgo_sd_source as its first member. Sources never call each other; they
 * call the `changed` hook of their owner after every refresh that ended (good or bad).
 *
 * Owns: its targets and dropped lists (replaced whole, never edited in place). Thread: the
 * loop thread; parsing of large answers (file_sd files, Kubernetes lists) runs on libuv's
 * thread pool and comes back to the loop before anything here changes.
 */
#ifndef CPGO_DISCOVER_SOURCE_H
#define CPGO_DISCOVER_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"

struct cpgo_resolver;
struct cpgo_scraper;

/* Ceilings: a source with more targets than this keeps the first ones and says so. */
#define CPGO_SD_MAX_TARGETS 100000
#define CPGO_SD_MAX_DROPPED 1000 /* dropped entries kept for `cpgo discover --all` */

enum cpgo_sd_kind { CPGO_SD_STATIC, CPGO_SD_DNS, CPGO_SD_FILE, CPGO_SD_K8S };

/* A target as a source found it. */
struct cpgo_sd_target {
    char *host;   /* a host name, an IPv4 literal or an IPv6 literal (no brackets) */
    int port;     /* 1-65535 */
    char *origin; /* where it came from: "static_configs[0]", "_pprof._tcp.x (SRV)",
                     "/etc/cpgo/a.json:3", "pod prod/checkout-7d9f" */
};

/* Something a source saw and did not take, and why ("pod prod/x: not Ready"). */
struct cpgo_sd_dropped {
    char *what;
    char *why;
};

struct cpgo_sd_source;
typedef void (*cpgo_sd_changed_cb)(struct cpgo_sd_source *src, void *arg);

struct cpgo_sd_source_ops {
    /* Starts refreshing (first refresh now). 0, or -1 with src->error set. */
    int (*start)(struct cpgo_sd_source *src);
    /* Closes every handle, cancels what is in flight; frees src once the last handle is
     * closed. `changed` is never called after close has begun. */
    void (*close)(struct cpgo_sd_source *src);
};

struct cpgo_sd_source {
    const struct cpgo_sd_source_ops *ops;
    enum cpgo_sd_kind kind;
    char name[128]; /* "dns_sd_configs[0]" for logs, metrics (`source` label) and /status */
    uv_loop_t *loop;
    cpgo_sd_changed_cb changed;
    void *arg;
    /* the last good answer */
    struct cpgo_sd_target *targets;
    size_t ntargets;
    struct cpgo_sd_dropped *dropped;
    size_t ndropped;
    /* the last refresh */
    int answered;    /* a first refresh has ended */
    int ok;          /* the last refresh succeeded */
    char error[512]; /* the last refresh's error ("" when ok); never holds a secret */
    uint64_t refreshes, failures;
    int64_t last_success_ms; /* wall clock (ms) of the last good refresh, 0 = never */
    double last_seconds;     /* how long the last refresh took */
};

/* What sources need from their owner: the loop, the resolver (dns_sd), the curl multi
 * (kubernetes), and the directory relative paths are resolved against. */
struct cpgo_sd_env {
    uv_loop_t *loop;
    struct cpgo_resolver *resolver;
    struct cpgo_scraper *scraper;
    const char *base_dir;
};

/* ---- the kinds (each in its own file) ------------------------------------------------- */

/* sd_static.c: the configured list, answered at start. */
int cpgo_sd_static_new(const struct cpgo_sd_env *env, const struct cpgo_sd_static_cfg *cfg,
                       size_t index, struct cpgo_sd_source **out);
/* sd_dns.c: SRV, A or AAAA lookups every refresh_interval, through env->resolver. */
int cpgo_sd_dns_new(const struct cpgo_sd_env *env, const struct cpgo_sd_dns_cfg *cfg, size_t index,
                    struct cpgo_sd_source **out);
/* sd_file.c: Prometheus file_sd files (JSON or YAML), watched and re-read every
 * refresh_interval. */
int cpgo_sd_file_new(const struct cpgo_sd_env *env, const struct cpgo_sd_file_cfg *cfg,
                     size_t index, struct cpgo_sd_source **out);
/* sd_k8s.c: Kubernetes list + watch of pods or endpointslices over env->scraper's multi. */
int cpgo_sd_k8s_new(const struct cpgo_sd_env *env, const struct cpgo_sd_k8s_cfg *cfg, size_t index,
                    struct cpgo_sd_source **out);

/* ---- helpers for the kinds (source.c) ------------------------------------------------- */

/* Replaces src's last good answer with targets/dropped (moved in; the arrays and their
 * strings are then src's), marks the refresh good and calls `changed`. */
void cpgo_sd_source_succeed(struct cpgo_sd_source *src, struct cpgo_sd_target *targets,
                            size_t ntargets, struct cpgo_sd_dropped *dropped, size_t ndropped,
                            double seconds);
/* Records a failed refresh (the last good answer stays) and calls `changed`. */
void cpgo_sd_source_fail(struct cpgo_sd_source *src, double seconds, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Frees what the base owns (not src itself). */
void cpgo_sd_source_free_base(struct cpgo_sd_source *src);
void cpgo_sd_targets_free(struct cpgo_sd_target *t, size_t n);
void cpgo_sd_dropped_free(struct cpgo_sd_dropped *d, size_t n);

#endif
