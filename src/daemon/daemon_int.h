/*
 * daemon_int.h - the daemon's runtime objects, shared by its three files: daemon.c
 * (schedules, scrapes, ingest, lifecycle, reload), publish.c (publishing: into a directory,
 * or the publish queue, forge rounds on the work queue and pull requests on the loop) and
 * observe.c (metrics, the admin endpoint's pages); by report.c (--once's progress line and
 * summary, which daemon.c, service.c and publish.c's outcomes feed); and by scrape_opts.c
 * (scrape options from the configuration: pure functions, any thread).
 *
 * Calls go one way: daemon.c calls publish.c and observe.c, publish.c calls observe.c, and
 * neither calls back into daemon.c; report.c calls none of them. What they may use of the
 * daemon's runtime is at the end of this file (the wall clock, a target's merge options,
 * the progress hook daemon.c installs), so the files do not call each other in a circle.
 *
 * One struct backend per configured backend, one struct target per target; both are heap
 * objects referenced by pointer from callbacks and jobs, so a configuration reload can swap
 * the config they point at without moving them. Each kind of job is its own struct, which
 * embeds struct cpgo_job (queue/workq.h) and sets its own work and done, beside the code of
 * that kind (daemon.c: load, ingest, snapshot; publish.c: directory, forge round, note).
 * Thread: the loop, except the fields a target's jobs touch on its lane (ts, git), which
 * the loop never reads while a job of that target is queued or running.
 */
#ifndef CPGO_DAEMON_INT_H
#define CPGO_DAEMON_INT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <uv.h>

#include "base/list.h"

#include "config/config.h"
#include "discover/discover.h"
#include "discover/resolver.h"
#include "discover/rotation.h"
#include "merge/merge.h"
#include "profile/shape.h"
#include "daemon/daemon.h"
#include "publish/forge.h"
#include "publish/ghapp.h"
#include "publish/prapi.h"
#include "publish/gitrepo.h"
#include "publish/outdir.h"
#include "queue/workq.h"
#include "scrape/scrape.h"
#include "state/state.h"

struct daemon;
struct cpgo_admin;
struct cpgo_metrics;
struct cpgo_metric;

/* How a publish, or its pull-request step, ended: cpgo_publishes_total{outcome}, /status. */
enum cpgo_outcome {
    CPGO_OUTCOME_NONE = 0, /* nothing to count (a lookup only, a step abandoned at shutdown) */
    CPGO_OUTCOME_FAILED,
    CPGO_OUTCOME_WRITTEN,      /* --output DIR: the file was replaced */
    CPGO_OUTCOME_UNCHANGED,    /* the file, or the head branch, already had the result */
    CPGO_OUTCOME_NOTHING,      /* no pending scrapes */
    CPGO_OUTCOME_PUSHED,       /* the head branch was regenerated and pushed */
    CPGO_OUTCOME_GATED,        /* a pull request closed without merging holds it */
    CPGO_OUTCOME_SAME_AS_BASE, /* the merged profile equals the target branch's */
    CPGO_OUTCOME_PR_OPENED,
    CPGO_OUTCOME_PR_UPDATED,
    CPGO_OUTCOME_PR_CURRENT,
    CPGO_OUTCOME_PR_CLOSED,
    CPGO_OUTCOME_SMALL_CHANGE, /* below `min_change`: nothing published, pending kept */
    CPGO_OUTCOME_DRY_RUN,      /* --dry-run: the candidate was built and shown */
    CPGO_OUTCOME_COUNT
};

/* observe.c: metrics, the admin endpoint, the loop-lag probe */
#define LAG_WINDOW 10
/* A backend's body size before its first scrape, for the work queue's byte budget
 * (has_capacity): a typical Go CPU profile of 30 s is 50 to 300 KB gzipped. */
#define CPGO_DAEMON_BODY_GUESS ((size_t)128 << 10)
struct cpgo_observe {
    struct cpgo_metrics *reg;
    struct cpgo_admin *admin; /* NULL without `listen:` */
    struct cpgo_metric *scrapes, *scrape_seconds, *bytes, *missed, *merged, *merge_seconds,
        *publishes, *settled, *pending, *last_success, *gh_remaining, *gh_stopped, *queue_depth,
        *publish_queue, *scrapes_in_flight, *inflight_bytes, *inflight_peak, *inflight_budget,
        *loop_lag, *loop_lag_max, *loop_lag_hist, *state_problems, *corrupt_records, *pending_mem,
        *pending_budget, *spills, *attempts, *build_info, *reload_ok, *reload_at, *last_publish;
    /* the standard process_* families (admin/process.h) */
    struct cpgo_metric *proc_cpu, *proc_rss, *proc_vms, *proc_fds, *proc_max_fds, *proc_start;
    /* services */
    struct cpgo_metric *sd_instances, *sd_failures, *sd_refresh_seconds, *sd_last_success, *sd_up,
        *svc_discovered, *svc_scraped, *svc_busy, *svc_skipped;
    uv_timer_t lag_timer;
    int lag_open;
    uint64_t lag_due; /* uv_hrtime() when the probe is due */
    double last_lag_s;
    double lag_max_ever;         /* the largest lag since the start (logged at the stop) */
    double lag_ring[LAG_WINDOW]; /* the last probes, for the rolling maximum */
    size_t lag_next;
    int cfg_ok;        /* the last load or reload of the configuration succeeded */
    int64_t cfg_ok_ms; /* when the configuration was last loaded successfully */
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
    /* its pending memory, kept current by its lane (atomics: the loop reads them any time;
     * acct.total points at daemon.pending_mem) */
    struct cpgo_state_acct acct;
    int spill_queued;        /* a spill job is queued or running (spill.c) */
    uint64_t spill_retry_at; /* uv_now: a failed spill is not tried again before this */
    int loaded, load_failed;
    int loading; /* a load job is queued or running */
    /* problems its state recovery found (cpgo state; cleared by cpgo state --ack) */
    size_t problems;
    int held; /* publishing held until a person acknowledges */
    uint64_t corrupt_records;
    char problem[512]; /* the first one */
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
    /* --once's summary (report.c): this run's scrapes that ended for good, and where its
     * publish went (set where the outcome is counted, publish.c) */
    uint64_t run_ok, run_failed;
    size_t run_warnings;
    char pub_commit[CPGO_GIT_ID_SIZE]; /* the head branch's commit (a git round) */
    char pub_path[1024];               /* the profile's path in the repository */
    /* forges */
    int prforge;                     /* enum cpgo_prapi_forge; -1: no pull requests (local) */
    char owner[256], repo[128];      /* from the repository path (GitLab: group/sub/project) */
    char head_branch[512];           /* resolved by the last git round (the PR step uses it) */
    char base_branch[256];           /* target_branch of that round */
    int in_pubq;                     /* waiting in the publish queue */
    struct cpgo_list_node pubq_link; /* in daemon.pubq */
    uv_timer_t due;                  /* min_interval: when the next publish may start */
    int due_open;
    int64_t last_publish_ms;
    int64_t next_publish_ms;    /* when the publish waiting (min_interval, its turn) may start; 0:
                                   none waiting (/status next_publish) */
    int64_t published_ok_ms;    /* when a publish last ended without failing since the start
                                   (cpgo_target_last_publish_timestamp_seconds); 0: none */
    struct cpgo_state_forge fs; /* loop's copy of the forge record */
    int gh_steps;               /* pull-request operations of this publish still running */
    /* github.app: the installation's API this publish uses (NULL: the forge's own), the
     * token asked for and not answered yet, answered, and a 401 retried once */
    struct forge_api *app_fa;
    int app_wait, app_ready, app_retried;
    char *pr_title, *pr_body; /* what the pull-request step proposes */
    char pr_warning[480];     /* options the forge did not take at the last step ("" none) */
    uint64_t pr_scrapes;
    int find_retried;
    int probe_only;  /* the GitHub lookup only checks: 1 a closed PR reopened, 2 a taken-over
                        PR given back or closed */
    int forge_job;   /* a git round of this target is queued or running on its lane */
    size_t ingests;  /* its scraped bodies queued for ingest */
    size_t scraping; /* its scrapes in flight */
    int retry_soon;  /* the last publish failed transiently: due again within 5 minutes */
    char discovery_note[512];       /* services: the last round, "checkout: 10 of 37
                                       discovered instances scraped" (PR body, /status) */
    char last_change[256];          /* the last candidate's edge change, or why it was not published
                                       (min_change) (status page) */
    enum cpgo_outcome last_outcome; /* of the last publish (status page) */
    int64_t last_outcome_ms;
    struct target *next;
};

/* service.c: one per configured service (one target), its discovery, schedule and
 * rotation. Each scrape of one of its instances is a struct backend of its own (below,
 * `svc` set) made for that scrape by daemon.c's instance hook and freed when it ends. */
struct service {
    struct daemon *d;
    const struct cpgo_service_cfg *cfg;
    struct target *t;
    char name[256];
    struct cpgo_discovery *dsc;
    uv_timer_t tick;
    int64_t next_fire_ms, offset_ms;
    struct cpgo_rotation rot;
    int rot_state;  /* 0 not read, 1 being read (a job on the target's lane), 2 read */
    int rot_saving; /* a save job is queued: the next save waits for it */
    int rot_dirty;  /* changed since the last save was queued */
    int refs;       /* the tick handle + jobs that point here: freed at 0 */
    int removed;    /* no longer in the configuration */
    int once_state; /* --once: 0 waiting for discovery, 1 round started, 2 nothing to do */
    int once_hold;  /* --once: holds its target's round open until its own round began */
    /* the round running: a snapshot of the instances at its start */
    int in_round;
    struct cpgo_instance *rinst;
    size_t nrinst;
    unsigned char *taken;
    size_t round_outstanding, round_ok, round_failed, round_busy;
    /* what /status and the metrics show */
    uint64_t rounds, skipped_rounds, missed_ticks;
    size_t last_scraped, last_discovered, last_busy;
    int64_t last_round_ms;
    char last_skip[256];
    struct service *next;
};

struct backend {
    struct daemon *d;
    const struct cpgo_backend_cfg *cfg;
    struct target *t;
    struct service *svc;              /* an instance of this service (cfg is then inst_cfg) */
    struct cpgo_backend_cfg inst_cfg; /* an instance's: the service's template, its URL */
    uint64_t inst_key;                /* the instance's rotation key */
    char *inst_host;                  /* the name it was found as (Host header), or NULL */
    char inst_addr[CPGO_DNS_ADDR_MAX];
    int busy_replaced; /* busy, and another instance took its place in the round */
    int released;      /* an instance's scrape ended: closed and unlinked */
    char name[256];
    char url_masked[1024];
    uv_timer_t tick;      /* schedule */
    uv_timer_t retry;     /* backoff */
    int refs;             /* open uv handles + jobs that point here: freed at 0 */
    int64_t next_fire_ms; /* wall-clock ms of the next tick */
    int64_t offset_ms;
    struct cpgo_scrape *scrape;
    int busy;               /* scraping, waiting to scrape, retrying or being ingested */
    int in_round;           /* counted in t->round_outstanding */
    int waiting;            /* in the waiting list for queue room / concurrency */
    size_t expect_bytes;    /* while scraping: its share of daemon.expect_bytes */
    size_t last_body_bytes; /* its last scraped body's size (0: none yet) */
    int attempt;
    char **headers;
    struct cpgo_url_secrets *secrets; /* scrubbed from text it echoes (build_secrets) */
    /* status */
    enum cpgo_class last_class;
    char last_error[512];
    int64_t last_success_ms;
    uint64_t ok, failed, missed_ticks;
    int reported; /* --once: its scrape's end is in the report (report.c) */
    int removed;
    struct cpgo_list_node wait_link; /* in daemon.waiting, while waiting */
    struct backend *next;
    struct backend **pprev; /* what points at it in daemon.backends (NULL once unlinked) */
};

/* One forge's pull-request API (GitHub, GitLab, Gitea): its token and its client, one per
 * token, made when a target first needs it. */
struct forge_api {
    char *token;           /* or NULL; zeroed when freed */
    char token_source[64]; /* where it came from (never the token) */
    struct cpgo_prapi_client *client;
    int closing;
    int stale;          /* the token or api_url changed: replace the client when busy is 0 */
    size_t busy;        /* targets with an operation in flight on it */
    char api_url[1024]; /* the client's API URL */
};

/* GitHub App mode (github.app): the key, the token minter (publish/ghapp.h) and one
 * pull-request API per installation, whose token is that installation's. */
#define APP_MAX_INSTALLATIONS 64
struct daemon_app {
    char *pem; /* the key as read (token.c; SIGHUP reads it again), zeroed when freed */
    size_t pem_len;
    struct cpgo_ghapp *app; /* made when a target first needs it; NULL once closed */
    size_t n;
    uint64_t inst[APP_MAX_INSTALLATIONS];
    struct forge_api fa[APP_MAX_INSTALLATIONS];
    int64_t expires[APP_MAX_INSTALLATIONS]; /* of fa[i].token, epoch s (for /status) */
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
    struct cpgo_list waiting; /* of backend.wait_link: FIFO of scrapes waiting for room */
    size_t scrapes_in_flight;
    size_t expect_bytes;      /* the bodies scrapes in flight will bring, as start_scrape guessed */
    size_t nofile;            /* the soft open-file limit after raising it (nofile.h) */
    size_t nofile_warned_for; /* the max_concurrent_scrapes the too-low limit was told for */
    size_t busy_backends;
    int reloading; /* a config load is running on the pool */
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t shutdown_timer;
    int stopping;
    int shutdown_timer_open;
    int snapshots_outstanding;
    int snapshot_phase; /* 0 not started, 1 running, 2 done */
    int closing;
    /* --once */
    struct cpgo_report *report; /* progress and summary (report.c) */
    int once_publishing;
    size_t once_outstanding_publishes;
    /* publishing to forges */
    struct cpgo_list pubq;                   /* of target.pubq_link: FIFO waiting to publish */
    size_t forge_running;                    /* forge jobs on the pool */
    struct forge_api fa[CPGO_PRAPI_NFORGES]; /* by enum cpgo_prapi_forge */
    struct daemon_app app;                   /* github.app */
    unsigned token_gen;                      /* bumped when a token or the configuration changes */
    struct cpgo_observe obs;
    /* limits.max_pending_memory (spill.c): the sum of the targets' acct.mem, and the spill
     * jobs of the batch running */
    _Atomic(int64_t) pending_mem;
    size_t spills_running;
    /* the idle trim (daemon.c): work has ended since the last trim; a trim job is queued */
    int trim_owed, trimming;
    struct cpgo_lane trim_lane;
    /* Set by daemon.c: called after anything that may let a waiting scrape start, end a
     * --once run or advance the shutdown (a job's end, a pull-request step's end). */
    void (*progress)(struct daemon *d);
    /* services (service.c) */
    struct service *services;
    int once_services_started, once_sd_timed_out, once_sd_open;
    uv_timer_t once_sd_timer;       /* --once: the wait for discovery's first answers */
    struct cpgo_resolver *resolver; /* NULL without services */
    /* Set by daemon.c: scrapes one instance of s in its running round (a backend of its
     * own, in the target's round). 0, or -1 when it could not start. */
    int (*instance_start)(struct service *s, const struct cpgo_instance *in);
    /* Set by daemon.c: opens (recovers) the target's state again after it failed, on its
     * lane (a service's tick, as a backend's tick does). */
    void (*target_load)(struct target *t);
};

/* observe.c (loop thread): daemon.c and publish.c report each event through one of these,
 * from one place per event; observe.c keeps the registry and the pages. */
int cpgo_observe_init(struct daemon *d, struct cpgo_err *err);  /* the registry */
int cpgo_observe_start(struct daemon *d, struct cpgo_err *err); /* lag probe, admin endpoint */
void cpgo_observe_close(struct daemon *d);
void cpgo_observe_free(struct daemon *d);
/* One HTTP attempt of a scrape ended (every retry counts): cpgo_scrape_attempts_total, the
 * transfer's duration and bytes. */
void cpgo_observe_attempt(struct backend *b, enum cpgo_class cls, double seconds, size_t bytes);
/* A scheduled scrape ended, once, with its final outcome after its retries (ok: merged):
 * cpgo_scrapes_total, as /status counts scrapes_ok and scrapes_failed. */
void cpgo_observe_scrape(struct backend *b, enum cpgo_class cls);
/* The configuration was loaded (at the start, ok) or a reload ended (ok, or refused). */
void cpgo_observe_config_loaded(struct daemon *d, int ok);
void cpgo_observe_missed(struct backend *b);
void cpgo_observe_merged(struct target *t, double seconds);
void cpgo_observe_publish(struct target *t, enum cpgo_outcome outcome); /* NONE: no-op */
void cpgo_observe_settled(struct target *t, uint64_t scrapes);
void cpgo_observe_state_problems(struct target *t); /* after its state was opened */
void cpgo_observe_spilled(struct daemon *d);        /* a target's pending merge left memory */
/* A reload removed the backend (removed) or moves it to another target (its series under
 * the target it leaves go): called while b->t is still the old target. */
void cpgo_observe_backend_left(struct backend *b, int removed);
/* A reload removed the service or moves it to another target (t is the one it leaves):
 * its scrape series under t go. */
void cpgo_observe_service_left(const struct service *s, const struct target *t);
void cpgo_observe_target_retired(struct target *t); /* a reload removed the target */
/* ms since the epoch as RFC 3339 in UTC ("2026-12-02T14:00:00Z"), as /status shows times */
void cpgo_observe_rfc3339(int64_t ms, char *buf, size_t cap);

/* report.c (loop thread): --once's progress line on a terminal and its summary. daemon.c
 * reports each scrape's end and asks for the summary at the end; service.c and publish.c
 * add warnings. */
struct cpgo_report;
int cpgo_report_start(struct daemon *d); /* after the targets exist; 0, or -1 out of memory */
/* b's scrape of this run ended for good (merged, failed after its retries, replaced by
 * another instance because busy, or never started before the stop): counted in its target
 * once, whichever of these calls comes first. */
void cpgo_report_scrape(struct backend *b);
/* Something the summary lists as a warning of t (a discovery source that failed): who is
 * what it is about (a service, a source). */
void cpgo_report_warn(struct target *t, const char *who, const char *text);
void cpgo_report_stop(struct daemon *d); /* the progress line's timer closed, the line erased */
/* The progress line as it is drawn now, cut to a terminal of `width` columns (cap bytes at
 * most, NUL included). */
void cpgo_report_progress(struct daemon *d, char *line, size_t cap, size_t width);
/* Prints the summary on out (NULL: none) and returns --once's exit status: 1 when a target
 * was not published or, with opts.strict, when there is a warning; else 0. */
int cpgo_report_finish(struct daemon *d, FILE *out);
void cpgo_report_free(struct daemon *d);

/* spill.c (loop thread): when the targets' pending merges hold more than
 * limits.max_pending_memory, queues spill jobs for the least recently used idle ones (one
 * batch at a time). daemon.c calls it after every job's end (progress). */
void cpgo_spill_check(struct daemon *d);

/* service.c (loop thread): services, their discovery, schedule and rotation */
struct service *cpgo_service_new(struct daemon *d, const struct cpgo_service_cfg *cfg,
                                 struct target *t);
/* A reload: the service keeps its rotation and round; discovery starts again on the new
 * configuration (its sources point into it). */
void cpgo_service_update(struct service *s, const struct cpgo_service_cfg *cfg, struct target *t);
void cpgo_service_schedule(struct service *s);       /* daemon mode: arm the cron tick */
void cpgo_service_stop(struct service *s);           /* shutdown: no more ticks */
void cpgo_service_stop_discovery(struct service *s); /* before its resolver is replaced */
void cpgo_service_ref(struct service *s);            /* an instance's backend holds its service */
void cpgo_service_unref(struct service *s);
void cpgo_service_close(struct service *s); /* removed or finishing: frees once idle */
/* An instance's scrape ended: result 1 merged, 0 failed for good, -1 busy and replaced by
 * another instance (cpgo_service_busy). */
void cpgo_service_instance_done(struct service *s, uint64_t key, int result);
/* The instance was busy (another profiler): 1 when another instance was started in its
 * place, 0 when none is left (the caller retries it after the profile's duration). */
int cpgo_service_busy(struct service *s, uint64_t key);
/* --once: 1 once the round has started or was skipped (nothing to scrape); starts it when
 * discovery has settled or `timeout_ms` since the start has passed. */
int cpgo_service_once_poll(struct service *s, int timed_out);
/* /status and /metrics */
struct json_t;
struct json_t *cpgo_service_status(const struct service *s);
void cpgo_service_collect(const struct service *s);
/* Resolver and discovery environment (creates d->resolver on first use). */
int cpgo_service_env(struct daemon *d, struct cpgo_err *err);

/* ingest.c (a target's lane): decode, check the Go CPU shape, journal, merge one scraped
 * body with the backend's `pgo: weight` (parts per million); 0, or an error with its class
 * in cls (the message names what is wrong, scrubbed of secrets). */
int cpgo_ingest_body(struct cpgo_tstate *ts, const unsigned char *body, size_t len,
                     const struct cpgo_limits *lim, const char *backend, uint64_t weight_ppm,
                     const struct cpgo_url_secrets *secrets, enum cpgo_class *cls,
                     struct cpgo_err *err);
/* Several bodies of one target at once, in order: each decoded and checked alone, the
 * accepted ones journaled with one sync (cpgo_state_ingest_batch: group commit), then
 * merged. Each item's rc, cls and err say how it ended, as cpgo_ingest_body's would. */
#define CPGO_INGEST_BATCH 8
struct cpgo_ingest_item {
    const unsigned char *body;
    size_t len;
    const struct cpgo_limits *lim;
    const char *backend;
    uint64_t weight_ppm;
    const struct cpgo_url_secrets *secrets;
    int rc; /* out */
    enum cpgo_class cls;
    struct cpgo_err err;
};
void cpgo_ingest_bodies(struct cpgo_tstate *ts, struct cpgo_ingest_item *it, size_t n);

/* token.c: the forges' tokens */
/* Loads every forge's token at the start: an error only when a target needs it. */
int cpgo_token_setup(struct daemon *d, struct cpgo_err *err);
/* Reads a forge's token as configured (any thread: the reload job calls it); flag is
 * -githubToken (GitHub only). */
int cpgo_token_load(const struct cpgo_config *cfg, enum cpgo_prapi_forge forge, const char *flag,
                    char **out, char *source, size_t srccap, struct cpgo_err *err);
/* Takes ownership of token (may be NULL): the reloaded configuration's token. */
void cpgo_token_update(struct daemon *d, enum cpgo_prapi_forge forge, char *token,
                       const char *source);
void cpgo_token_free(struct daemon *d); /* zeroes them (and the GitHub App's key) */
/* github.app: the key file read for cfg (any thread): 0 with *pem, or an error. */
int cpgo_token_app_key(const struct cpgo_config *cfg, char **pem, size_t *len,
                       struct cpgo_err *err);
/* Each forge's token for git: the credential callback of cpgo_daemon_resolve_branches (ctx
 * is a struct cpgo_token_set) gives a target the token of its forge and the forge's git
 * user, as the forge job does; a local target gets none. */
struct cpgo_token_set {
    const struct cpgo_config *cfg;
    const char *tok[CPGO_PRAPI_NFORGES];
    /* github.app: installation tokens by repository (GitHub targets get theirs, not tok[]) */
    const struct cpgo_app_tokens *app;
};
/* Installation tokens minted for the default-branch resolution (defbranch.c), by
 * repository path ("owner/repo"); a NULL token: none could be minted (the error logged). */
struct cpgo_app_tokens {
    size_t n;
    struct cpgo_app_token {
        char path[400];
        char *token; /* zeroed when freed */
    } * v;
};
const char *cpgo_token_git_cred(void *set, const struct cpgo_target_cfg *t, const char **user);
/* The basic-auth user a forge's git server takes with its token: x-access-token (GitHub),
 * oauth2 (GitLab), "cpgo" (Gitea: the token is the password, the user is not checked). */
const char *cpgo_token_git_user(enum cpgo_prapi_forge forge);
/* A forge's configured API URL (NULL: the client's default). */
const char *cpgo_token_api_url(const struct cpgo_config *cfg, enum cpgo_prapi_forge forge);
/* The forge a target's pull requests go to, or -1 (local, or --output). */
int cpgo_token_target_forge(const struct cpgo_config *cfg, const struct cpgo_target_cfg *tc);

/* defbranch.c: the repository's default branch (a target_branch not written) */
/* The credential git sends to t's repository (NULL: none), and its basic-auth user in *user
 * (NULL: gitrepo's default). */
typedef const char *(*cpgo_daemon_cred_fn)(void *ctx, const struct cpgo_target_cfg *t,
                                           const char **user);
/* Resolves every unresolved target_branch of *cfg (config.h, cpgo_config_resolve_branches)
 * through git, with the git cache under state_dir and the credentials of cred; logs the
 * branch chosen per repository. Main thread before the loop, or a pool thread: never the
 * loop. */
/* github.app: installation tokens for the GitHub repositories whose default branch is to be
 * resolved, minted with the app's key on a private loop (the caller has none running: the
 * main thread before the daemon's loop, or the reload job's pool thread). NULL when none is
 * needed (no app, nothing unresolved on GitHub) or out of memory. */
struct cpgo_app_tokens *cpgo_daemon_app_tokens(const struct cpgo_config *cfg, const char *pem,
                                               size_t pem_len);
void cpgo_daemon_app_tokens_free(struct cpgo_app_tokens *at);
int cpgo_daemon_resolve_branches(struct cpgo_config **cfg, const char *state_dir,
                                 cpgo_daemon_cred_fn cred, void *cred_ctx,
                                 struct cpgo_config_errors *errs);

/* scrape_opts.c: a backend's (or service's) scrape options, configuration -> request */
/* Points req's TLS, basic-auth and proxy fields at a's strings (they live as long as the
 * configuration) and builds the authorization value "<type> <credentials>" (type "Bearer"
 * when unset) into authz_buf. -1 when it does not fit in cap: then req->authorization is
 * "", which the scraper refuses with class config instead of scraping unauthenticated. */
int cpgo_daemon_scrape_auth(const struct cpgo_scrape_auth_cfg *a, struct cpgo_scrape_req *req,
                            char *authz_buf, size_t cap);
/* Adds a's secrets to s: the basic-auth password (and its Basic form), the authorization
 * credentials, the proxy URL's credentials. 0, or -1 when out of memory. */
int cpgo_daemon_scrape_auth_secrets(const struct cpgo_scrape_auth_cfg *a,
                                    struct cpgo_url_secrets *s);

/* publish.c: publishing into a directory (--output) or to forges */
void cpgo_publish_target_cfg(struct target *t); /* derive output path, forge from t->cfg */
void cpgo_publish_request(struct target *t);    /* a round finished: publish when due */
void cpgo_publish_close(struct daemon *d);      /* timers, the GitHub client */
int cpgo_publish_idle(const struct daemon *d);  /* no forge work running */
/* A reload read the GitHub App's key again (pem owned, may be NULL: none or unreadable);
 * changed: app_id, installation_id or github.api_url differ, so the app is made again. */
void cpgo_publish_app_reload(struct daemon *d, char *pem, size_t len, int changed);

/* ---- the runtime interface: what publish.c and observe.c may use of daemon.c's runtime --- */

static inline int64_t cpgo_daemon_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What a job needs to open or use its target's state, copied when it is submitted: a job
 * never reads the live configuration. */
struct cpgo_target_in {
    char state_dir[1024];
    char id[32];
    char key[512];
    struct cpgo_merge_opts mo;
    struct cpgo_limits lim;
};

static inline void cpgo_daemon_target_in(const struct target *t, struct cpgo_target_in *in)
{
    snprintf(in->state_dir, sizeof in->state_dir, "%s", t->d->cfg->state_dir);
    snprintf(in->id, sizeof in->id, "%s", t->id);
    snprintf(in->key, sizeof in->key, "%s", t->key);
    /* every merger of the target (pending, recovery, existing file + pending) merges with
     * its trimming and decides compatibility against the Go CPU shape, never against
     * whichever profile came first */
    in->mo = (struct cpgo_merge_opts){.trim = t->trim, .shape = &cpgo_shape_go_cpu};
    in->lim = t->d->cfg->limits.profile;
}

/* After a job's done or a pull-request step's end: lets daemon.c start waiting scrapes,
 * end a --once run, advance the shutdown. */
static inline void cpgo_daemon_progress(struct daemon *d)
{
    d->progress(d);
}

#endif
