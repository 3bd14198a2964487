/*
 * config.h - cpgo's configuration: the original tool's YAML (backends[] with url, schedule
 * and open_pull_request) loads unchanged; everything else is an optional extension with a
 * documented default.
 *
 * One declarative table of keys (schema.c) drives parsing, defaults, bounds, the
 * unknown-key errors and the reference in docs/CONFIG.md. Parsing is strict (libyaml event
 * API): unknown keys, wrong types, duplicate keys, anchors and aliases, nesting deeper than
 * 16, files over 4 MiB, out-of-range values and impossible combinations are errors that
 * name file, line, column and key ("config.yaml:7:5: backends[0].timeout: 45 is not a
 * duration (e.g. 45s)"). All errors are collected, not only the first.
 *
 * Backends whose (repository, target_branch, target_file) are equal -- repository compared
 * after normalisation, see repo.h -- form one target: their profiles are merged into one
 * file. A target_branch not written is the repository's default branch (its remote HEAD):
 * a load leaves it unresolved (NULL; the target key says "@<default>"), and
 * cpgo_config_resolve_branches, which `cpgo run` calls before it uses the targets, asks each
 * repository once and loads the file again as if the branch had been written there, so
 * target identity, head branch, shard and every check follow from the resolved name. Backends of
 * one target must agree on trimming. A service (`services:`, issue 11) is one target too, whose
 * instances its discovery sources find; it groups with backends and other services exactly as
 * backends do. Scrape options (tls_config, basic_auth, authorization, proxy_url) take secrets only
 * from files, read at load: a loaded configuration holds them (basic_password, authz_credentials),
 * zeroed when freed.
 *
 * `pgo:` (issue 12) is a backend key section like open_pull_request: per backend, per
 * service and under `defaults:`, key by key. `weight` is the member's own; half_life,
 * no_inline, min_change and verify_with_go are its target's, so the members of one target
 * must agree on them (as on trimming), and the target holds them.
 *
 * Forges (issue 13): `gitlab:` and `gitea:` beside `github:` (API URL, token variable or
 * file; tokens are never in the file), `open_pull_request.forge` github | gitlab | gitea |
 * local, by default decided from the repository's host (cpgo_config_resolve_forge), and the
 * pull request's options (labels, reviewers, assignees, draft, auto_merge, commit_prefix),
 * which are the target's like min_interval: its members agree, the target holds them.
 * What is accepted without effect (a pull-request option of a forge local target) is in
 * `warnings`, for check-config and the daemon to say.
 *
 * Owns: everything reachable from struct cpgo_config. Thread: load on any thread; a loaded
 * config is immutable and may be shared read-only.
 */
#ifndef CPGO_CONFIG_CONFIG_H
#define CPGO_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "config/repo.h"
#include "merge/merge.h"
#include "profile/codec.h"
#include "sched/cron.h"

/* The longest target_branch and target_file a configuration accepts, and so the longest
 * default head branch ("cpgo/<target_branch>/<target_file>", NUL included). */
#define CPGO_CONFIG_BRANCH_MAX 200
#define CPGO_CONFIG_FILE_MAX 1024
#define CPGO_CONFIG_HEAD_MAX (sizeof "cpgo/" + CPGO_CONFIG_BRANCH_MAX + 1 + CPGO_CONFIG_FILE_MAX)

enum cpgo_log_level { CPGO_LOG_DEBUG, CPGO_LOG_INFO, CPGO_LOG_WARN, CPGO_LOG_ERROR };
enum cpgo_log_format { CPGO_LOG_LOGFMT, CPGO_LOG_JSON };
/* The values keep their meaning across versions (AUTO 0, GITHUB 1, LOCAL 2); new forges are
 * appended. */
enum cpgo_forge {
    CPGO_FORGE_AUTO,
    CPGO_FORGE_GITHUB,
    CPGO_FORGE_LOCAL,
    CPGO_FORGE_GITLAB, /* merge requests through GitLab's REST v4 (gitlab.com or self-managed) */
    CPGO_FORGE_GITEA,  /* pull requests through Gitea's (or Forgejo's) /api/v1 */
};

/* The most labels, reviewers and assignees one `open_pull_request` names (each list), and
 * the longest label, user name and commit_prefix. */
#define CPGO_CONFIG_PR_LIST_MAX 50
#define CPGO_CONFIG_LABEL_MAX 255
#define CPGO_CONFIG_USER_MAX 255
#define CPGO_CONFIG_PREFIX_MAX 100

struct cpgo_header {
    char *name;
    char *value;
};

/* How a scrape reaches and authenticates to an instance: Prometheus's names, for backends
 * and services alike. Secrets come only from files; the file is read when the configuration
 * is loaded (and again at each reload), its content held in memory and never shown. */
struct cpgo_tls_cfg {
    char *ca_file;            /* PEM CA bundle to verify the server with; NULL = system */
    char *cert_file;          /* client certificate (PEM), with key_file */
    char *key_file;           /* client key (PEM) */
    char *server_name;        /* SNI and the name verified; NULL = the URL's host */
    int insecure_skip_verify; /* no verification at all (warned at load) */
};

struct cpgo_scrape_auth_cfg {
    struct cpgo_tls_cfg tls;      /* `tls_config` */
    char *basic_username;         /* `basic_auth.username` */
    char *basic_password_file;    /* `basic_auth.password_file` */
    char *basic_password;         /* its content (secret; trailing newline removed) */
    char *authz_type;             /* `authorization.type`, default "Bearer" when set */
    char *authz_credentials_file; /* `authorization.credentials_file` */
    char *authz_credentials;      /* its content (secret) */
    char *proxy_url;              /* `proxy_url`: http(s) proxy; credentials masked */
};

/* `pgo:` (issue 12): how a backend's or a service's scrapes count, and how its target publishes.
 * Numbers are held exactly as written (fixed point, never a double), so that the same
 * configuration gives the same bytes everywhere. */
struct cpgo_pgo_cfg {
    int64_t half_life_ms; /* `half_life`, Go duration; default 0 = no decay; else >= 1m */
    uint64_t weight_ppm;  /* `weight` x 1,000,000, exact from the decimal text (at most 6
                             decimals; "0.1" = 100000, "1" = 1000000); default 1000000;
                             must be > 0 and <= 1000 */
    char **no_inline;     /* `no_inline`, function names; default the two of the issue,
                             in that order; an explicit [] = none */
    size_t nno_inline;
    uint32_t min_change_ppm; /* `min_change`, percent x 10,000 ("5%" = 50000, "0.5%" = 5000,
                                a bare number is percent too); default 0; 0..100% */
    int verify_with_go;      /* `verify_with_go`, default false */
};

/* The default `pgo.no_inline`, in this order (NULL-terminated). */
extern const char *const cpgo_config_pgo_no_inline_default[];

struct cpgo_backend_cfg {
    char *name; /* `name`, default "host:port" of the URL (made unique with "#2", ...) */
    char *url;  /* http or https only; credentials in the URL are allowed but masked */
    char *schedule_text;
    struct cpgo_cron *schedule;
    int64_t seconds;             /* the profile's `seconds` query parameter, 30 when absent */
    int64_t timeout_ms;          /* `timeout`; default seconds + 15 s; must exceed seconds and be
                                    below the schedule's minimum period */
    int64_t connect_timeout_ms;  /* `connect_timeout`, default 10s */
    int64_t period_s;            /* the schedule's shortest gap between fires (derived) */
    int retries;                 /* `retries`, default 2, range 0-10 */
    struct cpgo_header *headers; /* `headers` map; names are tokens, values without CR/LF */
    size_t nheaders;
    struct cpgo_trim trim; /* `drop_labels` (default true), `keep_frames` (0 = all, else
                              >= 2), `strip_addresses` (default true) */
    /* open_pull_request */
    char *repository; /* as written */
    struct cpgo_repo repo;
    char *target_file;       /* default "default.pgo"; relative, no "..", no leading "/" */
    char *target_branch;     /* a valid git branch name; NULL (not written) = the
                                repository's default branch, until resolved */
    char *head_branch;       /* `open_pull_request.head_branch`, NULL = cpgo/<branch>/<file> */
    int64_t min_interval_ms; /* `open_pull_request.min_interval`, default 1h */
    enum cpgo_forge forge;   /* `open_pull_request.forge`: github | gitlab | gitea | local,
                                default by the repository's host (cpgo_config_resolve_forge) */
    int reopen_growth;       /* `open_pull_request.reopen_growth`, percent, default 100 */
    /* The pull request's options (issue 13), the target's: its members agree on them. */
    char **labels; /* `open_pull_request.labels`, default none */
    size_t nlabels;
    char **reviewers; /* `open_pull_request.reviewers`, user names, default none */
    size_t nreviewers;
    char **assignees; /* `open_pull_request.assignees`, user names, default none */
    size_t nassignees;
    int draft;           /* `open_pull_request.draft`, default false */
    int auto_merge;      /* `open_pull_request.auto_merge`, default false */
    char *commit_prefix; /* `open_pull_request.commit_prefix`, default "" (never NULL once
                            loaded): before the commit subject and the PR title */
    size_t target;       /* index into cpgo_config.targets */
    int line, column;    /* where the backend starts in the file */
    struct cpgo_scrape_auth_cfg auth; /* tls_config, basic_auth, authorization, proxy_url */
    struct cpgo_pgo_cfg pgo;          /* `pgo:`; weight is this backend's, the rest its
                                         target's (they agree) */
};

/* ---- services: one target whose instances are discovered (src/discover) ---------------- */

/* `static_configs[]` */
struct cpgo_sd_static_cfg {
    char **targets; /* "host:port" as written (host a name, an IPv4 or a [IPv6]) */
    size_t ntargets;
    int line;
};

enum cpgo_dns_type { CPGO_DNS_SRV, CPGO_DNS_A, CPGO_DNS_AAAA };

/* `dns_sd_configs[]` */
struct cpgo_sd_dns_cfg {
    char **names;
    size_t nnames;
    enum cpgo_dns_type type; /* default SRV */
    int port;                /* required for A/AAAA (1-65535), 0 = unset (SRV) */
    int64_t refresh_ms;      /* `refresh_interval`, default 30s */
    int line;
};

/* `file_sd_configs[]` */
struct cpgo_sd_file_cfg {
    char **files; /* patterns ending .json, .yml or .yaml; `*` only in the last segment;
                     made absolute against the configuration file's directory */
    size_t nfiles;
    int64_t refresh_ms; /* `refresh_interval`, default 5m */
    int line;
};

/* CPGO_K8S_SERVICE only in selectors (an endpointslice source may select its services) */
enum cpgo_k8s_role { CPGO_K8S_POD, CPGO_K8S_ENDPOINTSLICE, CPGO_K8S_SERVICE };

struct cpgo_k8s_selector {
    enum cpgo_k8s_role role; /* which objects it applies to (Prometheus: the role's objects);
                                a pod source takes pod, an endpointslice source endpointslice,
                                service or pod: stored as given */
    char *label;             /* labelSelector, verbatim; NULL = none */
    char *field;             /* fieldSelector, verbatim; NULL = none */
};

/* `kubernetes_sd_configs[]` */
struct cpgo_sd_k8s_cfg {
    enum cpgo_k8s_role role;
    char *api_server;  /* NULL = in-cluster (KUBERNETES_SERVICE_HOST/PORT) */
    char **namespaces; /* `namespaces.names`; none = the pod's own namespace (in-cluster) */
    size_t nnamespaces;
    int own_namespace; /* `namespaces.own_namespace` */
    struct cpgo_k8s_selector *selectors;
    size_t nselectors;
    char *port;              /* container port name or number; NULL = the only declared one */
    char *bearer_token_file; /* NULL = in-cluster service-account token (when in-cluster) */
    struct cpgo_tls_cfg tls; /* `tls_config`; in-cluster default ca_file: the SA's ca.crt */
    int line;
};

struct cpgo_service_cfg {
    char *name;           /* required, unique among services and backends */
    char *path;           /* `path`, default /debug/pprof/profile */
    int https;            /* `scheme`: 0 http (default), 1 https */
    size_t max_instances; /* `max_instances`, default 10; 0 = all */
    /* schedule, seconds, timeouts, retries, headers, trim, open_pull_request, auth: as a
     * backend's (`url` unset); `tmpl.name` is the service's name */
    struct cpgo_backend_cfg tmpl;
    struct cpgo_sd_static_cfg *statics;
    size_t nstatics;
    struct cpgo_sd_dns_cfg *dns;
    size_t ndns;
    struct cpgo_sd_file_cfg *files;
    size_t nfiles;
    struct cpgo_sd_k8s_cfg *k8s;
    size_t nk8s;
    size_t target; /* index into cpgo_config.targets (the same as tmpl.target) */
    int line, column;
    struct cpgo_pgo_cfg pgo; /* `pgo:`, a copy of tmpl.pgo (its own strings), so that a
                                service reads like a backend: weight is the service's */
};

/* `dns:` the resolver for dns_sd_configs and for every host name of a service */
struct cpgo_dns_cfg {
    char **servers; /* "ip:port" or "ip" (port 53); none = /etc/resolv.conf */
    size_t nservers;
    int64_t timeout_ms; /* `dns.timeout`, per query, default 5s */
};

struct cpgo_target_cfg {
    char *key; /* "<host>/<path>@<branch>:<file>", unique; "@<default>" while unresolved */
    char *id;  /* 16 hex digits of a stable hash of key: file names, shards */
    struct cpgo_repo repo;
    char *repository, *target_branch, *target_file, *head_branch;
    int branch_default; /* target_branch was not written: the repository's default branch
                           (target_branch NULL until cpgo_config_resolve_branches) */
    int64_t min_interval_ms;
    enum cpgo_forge forge; /* resolved: never AUTO */
    int reopen_growth;
    /* the pull request's options, copied from the first member (the others agree) and
     * owned by the target; forge local uses only commit_prefix */
    char **labels;
    size_t nlabels;
    char **reviewers;
    size_t nreviewers;
    char **assignees;
    size_t nassignees;
    int draft, auto_merge;
    char *commit_prefix; /* "" when none */
    struct cpgo_trim trim;
    struct cpgo_pgo_cfg pgo; /* half_life, no_inline (its own copy, in the first member's
                                order), min_change and verify_with_go, on which its members
                                agree; weight_ppm is unused (1000000): weights are per member */
    size_t *backends;        /* indexes into cpgo_config.backends */
    size_t nbackends;
    size_t *services; /* indexes into cpgo_config.services (a target may hold both) */
    size_t nservices;
};

struct cpgo_limits_cfg {
    struct cpgo_limits profile;    /* `limits.max_body_bytes` is profile.max_compressed;
                                      max_decompressed_bytes, max_decode_memory_bytes,
                                      max_samples, max_locations, max_functions, max_mappings,
                                      max_strings */
    size_t max_concurrent_scrapes; /* default 1024 */
    size_t max_queued_bodies;      /* scraped bodies waiting for the work queue, default 64 */
    size_t max_queued_bytes;       /* their bytes, default 256 MiB */
    size_t max_inflight_bytes;     /* bodies still being received, all scrapes, 256 MiB */
    size_t max_pending_memory;     /* pending merges kept in memory, all targets, 256 MiB;
                                      beyond it the least recently used are spilled */
};

/* `github.app`: authenticate as a GitHub App (publish/ghapp.h) instead of with a token.
 * app_id 0 = no app (the section absent). */
struct cpgo_github_app_cfg {
    int64_t app_id;          /* > 0 when the section is present */
    char *private_key_file;  /* absolute; required with app_id */
    int64_t installation_id; /* 0 = looked up per repository */
};

struct cpgo_github_cfg {
    char *api_url;    /* default https://api.github.com */
    char *token_env;  /* default GITHUB_TOKEN; not used when app.app_id is set */
    char *token_file; /* default NULL; excludes app */
    struct cpgo_github_app_cfg app;
};

/* `gitlab:` and `gitea:`, the APIs of forge gitlab and forge gitea targets. */
struct cpgo_forge_api_cfg {
    char *api_url;    /* gitlab: default https://gitlab.com/api/v4; gitea: no default (NULL),
                         required when a target uses forge gitea */
    char *token_env;  /* default GITLAB_TOKEN / GITEA_TOKEN */
    char *token_file; /* default NULL */
};

struct cpgo_git_cfg {
    char *author_name;  /* default "cpgo" */
    char *author_email; /* default "cpgo@localhost" */
    char *ssh_key;      /* default NULL: the ssh agent */
    int64_t timeout_ms; /* `git.timeout`, default 10m */
};

struct cpgo_config {
    char *path;      /* the file loaded */
    char *state_dir; /* default $XDG_STATE_HOME/cpgo, else ~/.local/state/cpgo, else
                        /var/lib/cpgo for root */
    char *listen;    /* admin address "host:port"; NULL = off; ":port" = every interface */
    enum cpgo_log_level log_level;   /* `log.level`, default info */
    enum cpgo_log_format log_format; /* `log.format`, default logfmt */
    int64_t shutdown_timeout_ms;     /* `shutdown_timeout`, default 30s */
    struct cpgo_limits_cfg limits;
    struct cpgo_github_cfg github;
    struct cpgo_forge_api_cfg gitlab; /* `gitlab:` */
    struct cpgo_forge_api_cfg gitea;  /* `gitea:` */
    struct cpgo_git_cfg git;
    struct cpgo_dns_cfg dns;
    struct cpgo_backend_cfg *backends; /* `backends:` (may be empty when services are set) */
    size_t nbackends;
    struct cpgo_service_cfg *services; /* `services:` */
    size_t nservices;
    struct cpgo_target_cfg *targets;
    size_t ntargets;
    /* What is accepted but has no effect ("file:line:col: key: ignored: why"), one line
     * each, for check-config to print and the daemon to log; at most 100. */
    char **warnings;
    size_t nwarnings;
    int state_dir_default;             /* state_dir not written: derived from this environment */
    struct cpgo_config_source *source; /* private to src/config: the text, kept while a
                                          default branch is unresolved (loaded again then) */
};

/* Collected errors; each line names file:line:column and the key. */
struct cpgo_config_errors {
    char **lines;
    size_t n;
};
void cpgo_config_errors_free(struct cpgo_config_errors *e);

/* Loads and validates a file. 0, or CPGO_E_INPUT with every error in *errs (CPGO_E_IO when
 * the file cannot be read, with one line). */
int cpgo_config_load(const char *path, struct cpgo_config **out, struct cpgo_config_errors *errs);
/* The same for a reload (SIGHUP, on a pool thread): the file must be a regular file. A
 * FIFO, socket or device is refused at once (CPGO_E_IO) instead of blocking the thread until
 * a writer comes, which SIGTERM could not interrupt. The first load still reads a pipe
 * (`cpgo run -c /dev/stdin`), on the main thread, as any command-line tool does. */
int cpgo_config_reload(const char *path, struct cpgo_config **out, struct cpgo_config_errors *errs);
/* The same from memory (tests, fuzzing); `name` is used in messages and base_dir resolves
 * relative repository paths. */
int cpgo_config_parse(const char *text, size_t len, const char *name, const char *base_dir,
                      struct cpgo_config **out, struct cpgo_config_errors *errs);
void cpgo_config_free(struct cpgo_config *c);

/* How a target's branch is shown while it is unresolved (check-config: no network). */
#define CPGO_CONFIG_DEFAULT_BRANCH "<default>"

/* The number of targets whose target_branch is unresolved (not written: the repository's
 * default branch). */
size_t cpgo_config_unresolved(const struct cpgo_config *c);

/* Asks for the default branch of t's repository (t->repo, t->forge): 0 with the branch name
 * ("master", not "refs/heads/master") in branch, or -1 with one line in why (never a
 * secret). Does network I/O: never on the loop thread. */
typedef int (*cpgo_config_branch_fn)(void *ctx, const struct cpgo_target_cfg *t, char *branch,
                                     size_t cap, char *why, size_t wcap);

/* Resolves every unresolved target_branch: fn once per distinct repository (host, port and
 * path: spellings of one repository are asked once), each answer checked as a written
 * branch name, then the configuration is loaded again from the same text with those
 * branches, exactly as if they had been written (targets grouped again: a target written
 * `master` and one resolved to master are one; head branches, ids and every rule that spans
 * keys follow), and *cfg is replaced. 0 (also when nothing was unresolved), or CPGO_E_INPUT
 * with one error per target that could not be resolved (file:line:col, the backend or
 * service, the repository masked, why) or what the resolved branches make invalid;
 * CPGO_E_NOMEM. *cfg is unchanged on failure. Any thread but the loop's (fn does I/O). */
int cpgo_config_resolve_branches(struct cpgo_config **cfg, cpgo_config_branch_fn fn, void *ctx,
                                 struct cpgo_config_errors *errs);

/* Writes the normalised configuration as YAML, every default filled in, secrets masked
 * (values of secret headers, cpgo_url_secret_header; URLs, proxy_url included, through
 * cpgo_url_mask); secret files are shown by path, never their content. */
int cpgo_config_dump(const struct cpgo_config *c, FILE *out);

/* Writes one "warning: " line per value the configuration leaves to run time, so that
 * check-config says what it could not check: a target_branch not written (the repository's
 * default branch, asked at start), a forge token or key read at start (from the environment
 * or a file; whether the variable is set here, never its value), a service's discovered
 * instances, a target_file without a directory (placed in the repository at publish
 * time), a state_dir derived from this environment, ssh repositories without git.ssh_key
 * (the agent). Returns how many. */
size_t cpgo_config_write_runtime(const struct cpgo_config *c, FILE *out);

/* The id under which `cpgo run --output DIR` keeps a target's state (state_dir/targets/<id>):
 * a hash of the target's id and "output", so directory runs never consume the pending
 * scrapes the forge target (its own id) will propose. 16 hex digits. */
void cpgo_config_output_state_id(const char *target_id, char *out, size_t cap);

/* The default head branch of a target, "cpgo/<target_branch>/<file>", where file is the
 * profile's path in the repository (the configured target_file, or where an existing profile
 * was found). The one place that spells it: configuration, publishing and the demo call it.
 * 0, or -1 with buf "" when it does not fit in cap (cap 0: nothing written). */
int cpgo_config_head_branch(const char *target_branch, const char *file, char *buf, size_t cap);

/* The forge a target publishes through: `forge` when it is set, else (CPGO_FORGE_AUTO) by
 * the repository: local for a local one (a path or file://); github for github.com and the
 * git host of github.api_url (github.com for api.github.com, else the API's host, as for
 * Enterprise's https://HOST/api/v3); gitlab for gitlab.com and gitlab.api_url's host;
 * gitea for gitea.api_url's host; github for any other host (as before issue 13). github
 * when repo is NULL (not parsed); cfg NULL: the default API URLs. A loaded configuration
 * already holds the decision (never AUTO); the daemon asks too, so that any target is
 * decided alike. */
enum cpgo_forge cpgo_config_resolve_forge(const struct cpgo_config *cfg, enum cpgo_forge forge,
                                          const struct cpgo_repo *repo);
/* The forge's name as written in the configuration ("github", "gitlab"...; "auto"). */
const char *cpgo_config_forge_name(enum cpgo_forge forge);
/* The git host a forge's API serves repositories on: api.github.com -> github.com, else
 * the API URL's host, lowercased ("ghe.example.com" for https://ghe.example.com/api/v3).
 * 0, or -1 when api_url is not a URL (buf ""). */
int cpgo_config_api_git_host(const char *api_url, char *buf, size_t cap);

/* Writes the key reference (Markdown table: key, type, default, bounds, description) from
 * the same table that drives parsing: docs/CONFIG.md is generated with it. */
void cpgo_config_write_reference(FILE *out);

#endif
