/*
 * daemon_int.h - the daemon's runtime objects, shared by its two files: daemon.c
 * (schedules, scrapes, ingest, lifecycle, reload) and publish.c (the publish queue, forge
 * rounds on the work queue, pull requests on the loop).
 *
 * One struct backend per configured backend, one struct target per target; both are heap
 * objects referenced by pointer from callbacks and jobs, so a configuration reload can swap
 * the config they point at without moving them. Thread: the loop, except the fields a
 * target's jobs touch on its lane (ts, git), which the loop never reads while a job of
 * that target is queued or running.
 */
#ifndef CPGO_DAEMON_INT_H
#define CPGO_DAEMON_INT_H

#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "daemon/daemon.h"
#include "publish/forge.h"
#include "publish/github.h"
#include "publish/gitrepo.h"
#include "publish/outdir.h"
#include "queue/workq.h"
#include "scrape/scrape.h"
#include "state/state.h"

struct daemon;
struct cpgo_admin;
struct cpgo_metrics;
struct cpgo_metric;

/* observe.c: metrics, the admin endpoint, the loop-lag probe */
#define LAG_WINDOW 10
struct cpgo_observe {
    struct cpgo_metrics *reg;
    struct cpgo_admin *admin; /* NULL without `listen:` */
    struct cpgo_metric *scrapes, *scrape_seconds, *bytes, *missed, *merged, *merge_seconds,
        *publishes, *settled, *pending, *last_success, *gh_remaining, *gh_stopped, *queue_depth,
        *publish_queue, *scrapes_in_flight, *inflight_bytes, *inflight_peak, *inflight_budget,
        *loop_lag, *loop_lag_max, *loop_lag_hist, *state_problems, *corrupt_records;
    uv_timer_t lag_timer;
    int lag_open;
    uint64_t lag_due; /* uv_hrtime() when the probe is due */
    double last_lag_s;
    double lag_ring[LAG_WINDOW]; /* the last probes, for the rolling maximum */
    size_t lag_next;
    size_t pubq_len;
    char *status_page; /* the last /status rendering and when (uv_now) */
    uint64_t status_at;
};

struct target {
    struct daemon *d;
    const struct cpgo_target_cfg *cfg; /* NULL once retired */
    char key[512];
    char id[32];
    char out_path[4096]; /* "" when not publishing to a directory */
    struct cpgo_trim trim;
    struct cpgo_lane lane;
    struct cpgo_tstate *ts;   /* touched only by this target's jobs */
    struct cpgo_gitrepo *git; /* the same: opened by the first forge job */
    unsigned git_gen;         /* the token generation git was opened with (lane only) */
    int loaded, load_failed;
    int loading;             /* a JOB_LOAD is queued or running */
    /* problems its state recovery found (cpgo state; cleared by cpgo state --ack) */
    size_t problems;
    int held;                /* publishing held until a person acknowledges */
    uint64_t corrupt_records;
    char problem[512];       /* the first one */
    size_t round_outstanding;
    int round_active;
    int publishing;
    int publish_again;
    int retired; /* no longer in the configuration */
    uint64_t pending_scrapes;
    uint64_t publishes, publish_failures;
    int failed; /* for --once: this target could not be published */
    int published_once;
    int once_submitted;
    int once_done; /* forge: its --once publish has finished */
    char last_error[512];
    /* forges */
    int github;                 /* forge github (else local) */
    char owner[128], repo[128]; /* github: from the repository path */
    char head_branch[512]; /* resolved by the last git round (the GitHub step uses it) */
    char base_branch[256]; /* target_branch of that round */
    int in_pubq;            /* waiting in the publish queue */
    struct target *pubq_next;
    uv_timer_t due;         /* min_interval: when the next publish may start */
    int due_open;
    int64_t last_publish_ms;
    struct cpgo_state_forge fs; /* loop's copy of the forge record */
    int gh_steps;               /* GitHub operations of this publish still running */
    char *pr_title, *pr_body;   /* what the GitHub step proposes */
    uint64_t pr_scrapes;
    int find_retried;
    int probe_only; /* the GitHub lookup only checks: 1 a closed PR reopened, 2 a taken-over
                       PR given back or closed */
    int forge_job;   /* a git round of this target is queued or running on its lane */
    size_t ingests;  /* its scraped bodies queued for ingest */
    size_t scraping; /* its scrapes in flight */
    int retry_soon; /* the last publish failed transiently: due again within 5 minutes */
    char last_outcome[32]; /* of the last publish (status page) */
    int64_t last_outcome_ms;
    struct target *next;
};

struct backend {
    struct daemon *d;
    const struct cpgo_backend_cfg *cfg;
    struct target *t;
    char name[256];
    char url_masked[1024];
    uv_timer_t tick;  /* schedule */
    uv_timer_t retry; /* backoff */
    int refs; /* open uv handles + jobs that point here: freed at 0 */
    int64_t next_fire_ms; /* wall-clock ms of the next tick */
    int64_t offset_ms;
    struct cpgo_scrape *scrape;
    int busy;      /* scraping, waiting to scrape, retrying or being ingested */
    int in_round;  /* counted in t->round_outstanding */
    int waiting;   /* in the waiting list for queue room / concurrency */
    int attempt;
    char **headers;
    struct cpgo_url_secrets *secrets; /* scrubbed from text it echoes (build_secrets) */
    /* status */
    enum cpgo_class last_class;
    char last_error[512];
    int64_t last_success_ms;
    uint64_t ok, failed, missed_ticks;
    int failed_in_once;
    int removed;
    struct backend *next, *wait_next;
};

struct daemon {
    uv_loop_t loop;
    int lock_fd; /* flock on state_dir/lock: one daemon per state directory */
    struct cpgo_config *cfg;
    struct cpgo_run_opts opts;
    struct cpgo_scraper *scraper;
    struct cpgo_workq *q;
    struct backend *backends;
    struct target *targets;
    struct backend *wait_head, *wait_tail;
    size_t scrapes_in_flight;
    size_t busy_backends;
    int reloading; /* a config load is running on the pool */
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t shutdown_timer;
    int stopping;
    int shutdown_timer_open;
    int snapshots_outstanding;
    int snapshot_phase; /* 0 not started, 1 running, 2 done */
    int closing;
    int exit_code;
    /* --once */
    int once_publishing;
    size_t once_outstanding_publishes;
    /* publishing to forges */
    struct target *pubq_head, *pubq_tail; /* targets waiting for their publish */
    size_t forge_running;                 /* forge jobs on the pool */
    size_t forge_max;                     /* at most this many at once */
    char *token;                          /* GitHub token, or NULL; zeroed when freed */
    char token_source[64];                /* where it came from (never the token) */
    struct cpgo_gh_client *gh;            /* one per token; NULL without github targets */
    int gh_closing;
    int gh_stale;      /* the token changed: replace the client when gh_busy is 0 */
    size_t gh_busy;    /* targets with a GitHub operation in flight */
    unsigned token_gen; /* bumped when the token or the configuration changes */
    char gh_api_url[1024]; /* the client's API URL */
    struct cpgo_observe obs;
};

enum job_kind { JOB_LOAD, JOB_INGEST, JOB_PUBLISH, JOB_SNAPSHOT, JOB_FORGE, JOB_NOTE };

struct job {
    struct cpgo_job base;
    enum job_kind kind;
    struct target *t;
    struct backend *b;
    /* inputs (copied: a job never reads the live config) */
    char state_dir[1024];
    char target_id[32];
    char key[512];
    char out_path[4096];
    const char *out_dir; /* --output DIR: argv, fixed for the process (not the config) */
    struct cpgo_merge_opts mo;
    struct cpgo_limits lim;
    unsigned char *body;
    size_t len;
    struct cpgo_url_secrets *secrets; /* JOB_INGEST: the backend's (a reference) */
    /* forge inputs */
    struct cpgo_repo repo; /* copied strings */
    char target_branch[256], target_file[1024], head_branch[512];
    char author_name[256], author_email[256], ssh_key[4096];
    char *token; /* a copy, zeroed when the job is freed */
    unsigned token_gen;
    int git_timeout_s;
    unsigned reopen_growth;
    struct cpgo_state_forge note; /* JOB_NOTE: the record to save */
    /* outputs */
    int rc;
    enum cpgo_class cls;
    struct cpgo_err err;
    uint64_t pending_scrapes;
    struct cpgo_publish_info info;
    struct cpgo_forge_result fr;
    struct cpgo_state_forge fs_out; /* JOB_LOAD and JOB_FORGE: the record as stored */
    size_t problems;                /* JOB_LOAD: what recovery found */
    int held;
    uint64_t corrupt_records;
    char problem[512];
    double scrape_seconds;          /* JOB_INGEST: the transfer, for metrics */
    size_t scrape_bytes;
    double work_seconds;            /* time spent in the work function */
};

/* daemon.c */
int64_t cpgo_daemon_wall_ms(void);
struct job *cpgo_daemon_job_new(struct target *t, enum job_kind kind);
void cpgo_daemon_after_job(struct daemon *d); /* drain waiting, once check, shutdown */

/* observe.c (loop thread) */
int cpgo_observe_init(struct daemon *d, struct cpgo_err *err);  /* the registry */
int cpgo_observe_start(struct daemon *d, struct cpgo_err *err); /* lag probe, admin endpoint */
void cpgo_observe_close(struct daemon *d);
void cpgo_observe_free(struct daemon *d);
void cpgo_observe_scrape(struct backend *b, enum cpgo_class cls, double seconds, size_t bytes);
void cpgo_observe_missed(struct backend *b);
void cpgo_observe_merged(struct target *t, double seconds);
void cpgo_observe_publish(struct target *t, const char *outcome);
void cpgo_observe_settled(struct target *t, uint64_t scrapes);
void cpgo_observe_state_problems(struct target *t); /* after its state was opened */

/* publish.c: forge publishing */
int cpgo_publish_setup(struct daemon *d, struct cpgo_err *err); /* the token */
/* Reads the token as configured (any thread: the reload job calls it). */
int cpgo_publish_load_token(const struct cpgo_config *cfg, const char *flag, char **out,
                            char *source, size_t srccap, struct cpgo_err *err);
/* Takes ownership of token (may be NULL): the reloaded configuration's token. */
void cpgo_publish_token_update(struct daemon *d, char *token, const char *source);
void cpgo_publish_target_cfg(struct target *t);   /* derive forge fields from t->cfg */
void cpgo_publish_request(struct target *t);      /* a round finished: publish when due */
void cpgo_publish_job_work(struct job *j);        /* JOB_FORGE, JOB_NOTE (pool) */
void cpgo_publish_job_done(struct job *j);        /* JOB_FORGE, JOB_NOTE (loop) */
void cpgo_publish_job_free(struct job *j);
void cpgo_publish_close(struct daemon *d);        /* timers, the GitHub client */
void cpgo_publish_free(struct daemon *d);         /* after the loop ended */
int cpgo_publish_idle(const struct daemon *d);    /* no forge work running or queued */

#endif
