/*
 * sd_k8s.h - the timings and paths of the `kubernetes_sd_configs[]` source
 * (cpgo_sd_k8s_new in source.h) that a test needs to change: the defaults are the real
 * ones (client-go's), which a test cannot wait for (a watch lasts 5 to 10 minutes) and
 * whose service-account directory it cannot write.
 *
 * Owns: nothing. Thread: the loop thread, between cpgo_sd_k8s_new and start.
 */
#ifndef CPGO_DISCOVER_SD_K8S_H
#define CPGO_DISCOVER_SD_K8S_H

#include <stdint.h>

#include "discover/source.h"

#define CPGO_K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct cpgo_sd_k8s_tuning {
    int watch_min_s, watch_max_s; /* timeoutSeconds of a watch: random in [min, max] (300-600) */
    int64_t watch_margin_ms;      /* a watch's total timeout is timeoutSeconds + this (30 s):
                                     one that neither ends nor is ended by then stalled */
    int64_t list_timeout_ms;      /* one list page, whole (60 s) */
    int64_t backoff_min_ms, backoff_max_ms; /* 800 ms doubling to 30 s, with jitter */
    int64_t healthy_reset_ms;               /* the backoff starts over after 2 min healthy */
    int64_t debounce_ms;                    /* watch events gathered before a rebuild (200) */
    int64_t token_max_age_ms;               /* the token file is read again at least this
                                               often (60 s), and at every (re)connect */
    int page_limit;                         /* `limit` of a list page (500) */
    const char *sa_dir; /* the service-account directory (CPGO_K8S_SA_DIR), borrowed */
};

/* The defaults above. */
void cpgo_sd_k8s_tuning_default(struct cpgo_sd_k8s_tuning *t);
/* Replaces the source's timings (src made by cpgo_sd_k8s_new, not started yet). */
void cpgo_sd_k8s_tune(struct cpgo_sd_source *src, const struct cpgo_sd_k8s_tuning *t);

#endif
