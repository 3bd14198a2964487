/*
 * config_int.h - what the files of src/config share. Not for other modules: config.h is the
 * interface (the config fuzzer, tests/fuzz/fuzz_config.c, also drives the YAML reader
 * through it).
 *
 * A load runs in three steps, each in its own file:
 *   yaml.c     libyaml's event API into a small tree of mappings, sequences and scalars
 *              with positions; anchors, aliases, non-standard tags, a second document,
 *              NUL bytes and nesting deeper than MAX_DEPTH are refused there.
 *   config.c   the walk of that tree against the key table (unknown keys, types,
 *              duplicates), the error list, load, parse and free.
 *   targets.c  each backend and service completed (defaults:, computed defaults, rules
 *              that span keys), names made unique, backends and services grouped into
 *              targets.
 * and beside them:
 *   schema.c   `cpgo_config_keys`, the one table of every key (name, type, default, bounds,
 *              offset, check, description), and what is done by type: store, copy, format,
 *              free.
 *   checks.c   the checks of single values the table names (paths, URLs, branches...).
 *   scrape.c   the scrape options (tls_config, basic_auth, authorization, proxy_url), their
 *              files (secrets read at load), and the checks of discovery sources.
 *   dump.c     the normalised dump and the reference (docs/CONFIG.md).
 *
 * Thread: any; one struct ctx belongs to one parse.
 */
#ifndef CPGO_CONFIG_INT_H
#define CPGO_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/hash.h"
#include "config/config.h"

#define MAX_FILE (4u << 20)
#define MAX_DEPTH 16
#define MAX_ERRORS 100
#define MAX_HEADERS 64
#define MAX_BACKENDS 10000
#define MAX_SERVICES 10000
#define MAX_SECRET (64 * 1024) /* a password_file or credentials_file */
#define MAX_NAME 300           /* a default name, "host:port#N", always fits */
#define SHOW_MAX 80            /* of a value quoted in a message */

#define SEC 1000LL
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)
#define KIB ((int64_t)1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)
#define TIB (1024 * GIB)

/* ---- errors (config.c) ------------------------------------------------------------------ */

struct pos {
    int line, col;
};

struct item {
    int line, col;
    char *text;
};

/* Default branches resolved at run time (branches.c): the repository's normal form
 * (cpgo_config_repo_key) -> index into names. */
struct branches {
    struct cpgo_strmap map; /* borrows keys */
    char **keys;
    char **names; /* NULL where the repository could not be resolved */
    size_t n;
};

/* The text of a configuration whose default branches are unresolved, kept to load it again
 * with them (cpgo_config_resolve_branches). */
struct cpgo_config_source {
    char *text;
    size_t len;
    char *name;
    char *base_dir;
};

/* One parse: its name and directory, the errors found so far, and what the top-level walk
 * hands to the later steps. */
struct ctx {
    const struct branches *branches; /* resolved default branches, or NULL: leave them */
    const char *name;
    const char *base_dir;
    struct item *errs;
    size_t nerr, cap;
    int full, nomem;
    const struct node *backends; /* the backends: value, found by the top-level walk */
    struct pos backends_at;
    const struct node *services; /* the services: value */
    struct pos services_at;
    struct bstate *defs; /* the defaults: template */
    /* the top level, walked before backends and services: the forges' API URLs decide the
     * `auto` forge (cpgo_config_resolve_forge); top says which of its keys were refused */
    const struct cpgo_config *cfg;
    const struct sstate *top;
    char **warns; /* accepted without effect: cpgo_config.warnings once loaded */
    size_t nwarn;
};

/* Records "name:line:col: <message>" (line 0: "name: <message>"); control bytes in the
 * message become '?', so one error is always one line. At most MAX_ERRORS. */
void cpgo_config_add_error(struct ctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Records a warning line, formatted as an error: what is accepted but has no effect. At
 * most MAX_ERRORS. */
void cpgo_config_add_warning(struct ctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Hands the errors over (sorted by position, stable) and empties c's list. */
void cpgo_config_export_errors(struct ctx *c, struct cpgo_config_errors *out);
/* strdup that records running out of memory in c. */
char *cpgo_config_strdup(struct ctx *c, const char *s);
/* A value for messages: bounded (SHOW_MAX), one line, control bytes shown as '?'. */
const char *cpgo_config_show(const char *s, char *buf, size_t cap);
/* A URL for messages: masked (url.h), bounded, one line. */
const char *cpgo_config_show_url(const char *u, char *buf, size_t cap);

/* ---- the YAML tree (yaml.c) ------------------------------------------------------------- */

enum nkind { N_SCALAR, N_MAP, N_SEQ };

struct node {
    enum nkind kind;
    int line, col;
    int quoted; /* scalar written quoted, as a block scalar, or tagged !!str: a string */
    char *s;    /* a scalar's text, NUL-terminated, without NUL bytes inside */
    size_t len;
    struct node **kid; /* mapping: key, value, key, value...; sequence: items */
    size_t n, cap;
};

/* Parses text into a tree. 0 with *root (NULL for an empty stream) when the tree is sound
 * (no anchor, alias, foreign tag, second document or NUL byte; depth <= MAX_DEPTH); otherwise
 * -1, the errors recorded in c, and no tree. */
int cpgo_config_yaml_read(struct ctx *c, const char *text, size_t len, struct node **root);
void cpgo_config_yaml_free(struct node *n);
const char *cpgo_config_yaml_kind(const struct node *n); /* "a mapping", "a list"... */
int cpgo_config_yaml_null(const struct node *n);         /* a plain null: "", ~, null */
int cpgo_config_yaml_bool(const struct node *n, int *v); /* a plain YAML 1.2 boolean */
/* Appends a path element to buf: ".key" (or "key" at the start) or "[idx]" when key is
 * NULL. */
void cpgo_config_path_add(char *buf, size_t cap, const char *key, long idx);

/* ---- the key table (schema.c) ----------------------------------------------------------- */

enum ktype {
    T_SECTION, /* a mapping of further keys */
    T_LIST,    /* a list of mappings: backends and services (walked by config.c), or, with
                  `sub`, any list whose elements are walked against scope `sub` into an
                  array at off (element size esize) with its count at off2 */
    T_STRLIST, /* a list of strings: char ** at off, size_t count at off2 */
    T_STR,
    T_DURATION, /* int64_t milliseconds */
    T_SIZE,     /* size_t bytes; an integer or "64MiB" */
    T_COUNT,    /* size_t */
    T_INT,      /* int */
    T_INT64,    /* int64_t */
    T_BOOL,     /* int */
    T_ENUM,     /* an enum, stored as int */
    T_HEADERS,  /* struct cpgo_header * at off, size_t count at off2 */
    T_DECIMAL,  /* uint64_t millionths of a decimal written with at most 6 decimals ("0.1" =
                   100000): exact, no floating point, so a weight is the same everywhere */
    T_PERCENT,  /* uint32_t percent x 10,000 ("5%" = 50000; "5" is percent too), at most 4
                   decimals */
};

/* Where a key may be written. Backend keys are also service keys unless F_BACKEND_ONLY;
 * the others are the elements of the lists of a service. */
enum kscope {
    S_TOP,
    S_BACKEND, /* backends[], defaults and (shared keys) services[] */
    S_SERVICE, /* services[] only */
    S_STATIC,  /* services[].static_configs[] */
    S_DNSSD,   /* services[].dns_sd_configs[] */
    S_FILESD,  /* services[].file_sd_configs[] */
    S_K8S,     /* services[].kubernetes_sd_configs[] */
    S_K8S_SEL, /* services[].kubernetes_sd_configs[].selectors[] */
    NSCOPES
};
/* The path the reference writes before a scope's keys ("services[].static_configs[]."). */
extern const char *const cpgo_config_scope_prefix[NSCOPES];

#define F_REQUIRED 1u
#define F_NULLABLE 2u     /* null (or absence) means "none" */
#define F_PRESET 4u       /* the default comes from cpgo_limits_default */
#define F_BACKEND_ONLY 8u /* a backend key that services do not take (name, url) */
#define F_QUIET 16u       /* a section dumped only when one of its keys is not the default */
#define F_MASK_URL 32u    /* a URL shown through cpgo_url_mask */
#define F_SECRET 64u      /* a T_STR file name whose content (read by the check) is at off2 */
#define F_LINE 128u       /* T_LIST with sub: the element's int line is at eline */
#define F_WHOLE 256u      /* a section that, written (even null), replaces defaults' whole */
#define F_UNIQUE 512u     /* T_STRLIST: an item repeated (ASCII case ignored) is refused */

struct choice {
    const char *name;
    int value;
};

struct key;
struct sstate;
/* A check after a value is stored: validates (and may normalise) it; records its own error
 * and returns -1 when the value is refused. */
typedef int (*check_fn)(struct ctx *c, const struct key *k, void *base, const char *path,
                        struct pos at);
/* The check of one item of a T_STRLIST (may replace *item); as check_fn. */
typedef int (*item_fn)(struct ctx *c, char **item, const char *path, struct pos at);
/* The check of one element of a T_LIST with sub, after its keys were stored and its
 * defaults filled in: the rules that span its keys. st says which keys were given. */
typedef void (*elem_fn)(struct ctx *c, void *elem, const struct sstate *st, const char *path,
                        struct pos at);

struct key {
    const char *name; /* dotted within its scope: "log.level", "open_pull_request.forge" */
    enum kscope scope;
    enum ktype type;
    size_t off, off2;
    const char *def;        /* default, converted like a value from the file */
    const char *def_doc;    /* the default as documented, when computed */
    int64_t min, max;       /* bounds of numbers (durations in ms, sizes in bytes) */
    const char *bounds_doc; /* bounds as documented, when not simply min..max */
    const struct choice *choices;
    check_fn check;
    unsigned flags;
    const char *desc;
    /* lists */
    enum kscope sub;         /* T_LIST: the scope of its elements (S_TOP: walked by config.c) */
    size_t esize;            /* T_LIST: the size of one element */
    size_t eline;            /* T_LIST with F_LINE: offset of the element's `int line` */
    elem_fn echeck;          /* T_LIST: the rules of one element */
    item_fn icheck;          /* T_STRLIST: the check of one item */
    const char *const *defs; /* T_STRLIST: the default items (NULL-terminated); NULL = none */
};

/* The index of each key in cpgo_config_keys (the order of the reference and the dump). */
enum {
    KI_STATE_DIR,
    KI_LISTEN,
    KI_LOG,
    KI_LOG_LEVEL,
    KI_LOG_FORMAT,
    KI_SHUTDOWN_TIMEOUT,
    KI_LIMITS,
    KI_MAX_BODY,
    KI_MAX_DECOMPRESSED,
    KI_MAX_DECODE_MEMORY,
    KI_MAX_SAMPLES,
    KI_MAX_LOCATIONS,
    KI_MAX_FUNCTIONS,
    KI_MAX_MAPPINGS,
    KI_MAX_STRINGS,
    KI_MAX_CONCURRENT,
    KI_MAX_QUEUED_BODIES,
    KI_MAX_QUEUED_BYTES,
    KI_MAX_INFLIGHT_BYTES,
    KI_MAX_PENDING_MEMORY,
    KI_GITHUB,
    KI_API_URL,
    KI_TOKEN_ENV,
    KI_TOKEN_FILE,
    KI_GH_APP,
    KI_GH_APP_ID,
    KI_GH_APP_KEY,
    KI_GH_APP_INST,
    KI_GIT,
    KI_GIT_NAME,
    KI_GIT_EMAIL,
    KI_GIT_SSH_KEY,
    KI_GIT_TIMEOUT,
    KI_GITLAB,
    KI_GITLAB_API_URL,
    KI_GITLAB_TOKEN_ENV,
    KI_GITLAB_TOKEN_FILE,
    KI_GITEA,
    KI_GITEA_API_URL,
    KI_GITEA_TOKEN_ENV,
    KI_GITEA_TOKEN_FILE,
    KI_DNS,
    KI_DNS_SERVERS,
    KI_DNS_TIMEOUT,
    KI_DEFAULTS,
    KI_BACKENDS,
    KI_NAME,
    KI_URL,
    KI_SCHEDULE,
    KI_TIMEOUT,
    KI_CONNECT_TIMEOUT,
    KI_RETRIES,
    KI_HEADERS,
    KI_DROP_LABELS,
    KI_KEEP_FRAMES,
    KI_STRIP_ADDRESSES,
    KI_TLS,
    KI_TLS_CA,
    KI_TLS_CERT,
    KI_TLS_KEY,
    KI_TLS_SERVER_NAME,
    KI_TLS_INSECURE,
    KI_BASIC,
    KI_BASIC_USER,
    KI_BASIC_PASSWORD_FILE,
    KI_AUTHZ,
    KI_AUTHZ_TYPE,
    KI_AUTHZ_CREDENTIALS_FILE,
    KI_PROXY_URL,
    KI_OPR,
    KI_REPOSITORY,
    KI_TARGET_FILE,
    KI_TARGET_BRANCH,
    KI_HEAD_BRANCH,
    KI_MIN_INTERVAL,
    KI_FORGE,
    KI_REOPEN_GROWTH,
    KI_PR_LABELS,
    KI_PR_REVIEWERS,
    KI_PR_ASSIGNEES,
    KI_PR_DRAFT,
    KI_PR_AUTO_MERGE,
    KI_PR_COMMIT_PREFIX,
    KI_PGO,
    KI_PGO_HALF_LIFE,
    KI_PGO_WEIGHT,
    KI_PGO_NO_INLINE,
    KI_PGO_MIN_CHANGE,
    KI_PGO_VERIFY,
    KI_SERVICES,
    KI_SVC_NAME,
    KI_SVC_SECONDS,
    KI_SVC_PATH,
    KI_SVC_SCHEME,
    KI_SVC_MAX_INSTANCES,
    KI_SVC_STATIC,
    KI_STATIC_TARGETS,
    KI_SVC_DNS,
    KI_DNSSD_NAMES,
    KI_DNSSD_TYPE,
    KI_DNSSD_PORT,
    KI_DNSSD_REFRESH,
    KI_SVC_FILE,
    KI_FILESD_FILES,
    KI_FILESD_REFRESH,
    KI_SVC_K8S,
    KI_K8S_ROLE,
    KI_K8S_API_SERVER,
    KI_K8S_NAMESPACES,
    KI_K8S_NS_NAMES,
    KI_K8S_NS_OWN,
    KI_K8S_SELECTORS,
    KI_K8S_SEL_ROLE,
    KI_K8S_SEL_LABEL,
    KI_K8S_SEL_FIELD,
    KI_K8S_PORT,
    KI_K8S_TOKEN_FILE,
    KI_K8S_TLS,
    KI_K8S_TLS_CA,
    KI_K8S_TLS_CERT,
    KI_K8S_TLS_KEY,
    KI_K8S_TLS_SERVER_NAME,
    KI_K8S_TLS_INSECURE,
    NKEYS
};

extern const struct key cpgo_config_keys[NKEYS];

static inline int key_is_leaf(const struct key *k)
{
    return k->type != T_SECTION && k->type != T_LIST;
}

/* A backend key a service takes too. */
static inline int key_shared(const struct key *k)
{
    return k->scope == S_BACKEND && !(k->flags & F_BACKEND_ONLY);
}

static inline void *field(void *base, size_t off)
{
    return (char *)base + off;
}

static inline const void *cfield(const void *base, size_t off)
{
    return (const char *)base + off;
}

const struct key *cpgo_config_find_key(enum kscope scope, const char *name);
/* Converts text for key k and stores it at base (strings are copied). NULL, or why the text
 * was refused (to follow "'<text>' "), in why or a constant. */
const char *cpgo_config_store(struct ctx *c, const struct key *k, void *base, const char *text,
                              char *why, size_t cap);
/* Stores key k's default at base: its `def` converted as a value from the file, or its list
 * of default items; nothing when it has neither. */
void cpgo_config_store_default(struct ctx *c, const struct key *k, void *base);
/* Copies key k's value from one struct to another (deeply). */
void cpgo_config_copy_value(struct ctx *c, const struct key *k, void *dst, const void *src);
/* A deep copy of a `pgo:` (its own no_inline strings): 0, or -1 with c->nomem set and dst
 * holding nothing to free. */
int cpgo_config_pgo_copy(struct ctx *c, struct cpgo_pgo_cfg *dst, const struct cpgo_pgo_cfg *src);
/* Frees a copy made by cpgo_config_pgo_copy (a backend's own pgo is freed with its scope). */
void cpgo_config_pgo_free(struct cpgo_pgo_cfg *p);
void cpgo_config_free_headers(struct cpgo_header *h, size_t n);
void cpgo_config_free_strlist(char **v, size_t n);
/* A deep copy of n strings: NULL when n is 0, or when out of memory (c->nomem set). */
char **cpgo_config_copy_strlist(struct ctx *c, char *const *v, size_t n);
/* Frees the values of one scope's keys (strings, headers, string lists, lists of elements
 * with theirs; secrets zeroed first) at base. */
void cpgo_config_free_scope(enum kscope scope, void *base);
/* Frees a secret: zeroed, then freed. */
void cpgo_config_free_secret(char *s);
/* The value at base formatted for the dump and the reference ("45s", "64MiB", "true"). */
void cpgo_config_format_value(const struct key *k, const void *base, char *buf, size_t cap);
/* A key's bounds as documented ("1s to 24h"), "" for keys without bounds. */
void cpgo_config_format_bounds(const struct key *k, char *buf, size_t cap);

/* ---- checks of single values (checks.c) ------------------------------------------------- */

int cpgo_config_check_path(struct ctx *, const struct key *, void *, const char *, struct pos);
/* github.app: the rules across its keys and github.token_file (top: what was given). */
void cpgo_config_check_github_app(struct ctx *c, const struct cpgo_config *cfg,
                                  const struct sstate *top);
int cpgo_config_check_listen(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_api_url(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_env(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_name(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_url(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_schedule(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_keep_frames(struct ctx *, const struct key *, void *, const char *,
                                  struct pos);
int cpgo_config_check_repository(struct ctx *, const struct key *, void *, const char *,
                                 struct pos);
int cpgo_config_check_target_file(struct ctx *, const struct key *, void *, const char *,
                                  struct pos);
int cpgo_config_check_branch(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_ident(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_http_url(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_svc_path(struct ctx *, const struct key *, void *, const char *, struct pos);
/* A path made absolute (as check_path) and that must name an existing regular file. */
int cpgo_config_check_file(struct ctx *, const struct key *, void *, const char *, struct pos);
/* The same, and the file holds a secret: read now (see scrape.c) into off2. */
int cpgo_config_check_secret(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_hostname(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_authz_type(struct ctx *, const struct key *, void *, const char *,
                                 struct pos);
int cpgo_config_check_username(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_k8s_port(struct ctx *, const struct key *, void *, const char *, struct pos);
int cpgo_config_check_half_life(struct ctx *, const struct key *, void *, const char *, struct pos);
/* open_pull_request.commit_prefix: printable UTF-8, one line, at most 100 bytes */
int cpgo_config_check_commit_prefix(struct ctx *, const struct key *, void *, const char *,
                                    struct pos);

/* an item of pgo.no_inline: a function name as pprof writes it (checks.c) */
int cpgo_config_item_func_name(struct ctx *, char **, const char *, struct pos);
/* an item of open_pull_request.labels: printable UTF-8, no ',', no leading or trailing
 * space, at most 255 bytes (checks.c) */
int cpgo_config_item_label(struct ctx *, char **, const char *, struct pos);
/* an item of open_pull_request.reviewers and assignees: a user name, [A-Za-z0-9._-], 1 to
 * 255 bytes (checks.c) */
int cpgo_config_item_user(struct ctx *, char **, const char *, struct pos);
/* s is valid UTF-8 (no overlong form, no surrogate, at most U+10FFFF) */
int cpgo_config_utf8_ok(const char *s);

/* items of string lists (scrape.c) */
int cpgo_config_item_hostport(struct ctx *, char **, const char *, struct pos);
int cpgo_config_item_dns_name(struct ctx *, char **, const char *, struct pos);
int cpgo_config_item_dns_server(struct ctx *, char **, const char *, struct pos);
int cpgo_config_item_sd_file(struct ctx *, char **, const char *, struct pos);
int cpgo_config_item_namespace(struct ctx *, char **, const char *, struct pos);

/* elements of lists (scrape.c) */
void cpgo_config_elem_dns_sd(struct ctx *, void *, const struct sstate *, const char *, struct pos);
void cpgo_config_elem_k8s_sd(struct ctx *, void *, const struct sstate *, const char *, struct pos);
/* A path joined to the configuration file's directory (malloc'd; NULL when out of memory). */
char *cpgo_config_join_path(struct ctx *c, const char *rel);

/* A decimal integer, the whole of s, without overflow: 1 with *v, else 0. */
int cpgo_config_parse_int(const char *s, int64_t *v);
int cpgo_config_has_ctl(const char *s); /* a control byte (< 0x20 or DEL) */
/* Why s is not a branch name (git check-ref-format for refs/heads/<s>, simplified), or
 * NULL. */
const char *cpgo_config_branch_problem(const char *s);
/* Splits an http(s) URL as libcurl, which will fetch it, parses it (url.h): 0, or -1 with
 * *why. host_port gets "host:port" (default port filled in, host lowercased), seconds the
 * `seconds` query parameter (30 when absent). */
int cpgo_config_split_url(const char *u, char *host_port, size_t cap, int64_t *seconds,
                          int *has_user, const char **why);

/* ---- completing backends, targets (targets.c) ------------------------------------------- */

/* Per scope instance: which keys were seen, and where. */
struct sstate {
    unsigned char set[NKEYS]; /* 0 absent, 1 set, 2 present but refused, 3 inherited */
    struct pos at[NKEYS];     /* the value's position */
    struct pos kat[NKEYS];    /* the key's position */
};

/* A backend or a service while it is parsed: its configuration and what the walk saw. A
 * service's backend keys go to cfg (its `tmpl` once complete), its own keys to svc. */
struct bstate {
    struct cpgo_backend_cfg cfg;
    struct sstate s;
    char path[32]; /* "backends[i]", "services[i]" */
    int valid_url; /* backends: url parsed; services: always (seconds is a key) */
    int64_t seconds;
    int64_t period;               /* seconds, 0 unknown */
    struct cpgo_service_cfg *svc; /* NULL for a backend */
    int branch_default;           /* target_branch not written: the repository's default */
};

/* Fills in inherited (defaults:) and default values, then checks what spans keys. A
 * service: its own defaults too, and at least one discovery source. */
void cpgo_config_complete_backend(struct ctx *c, struct bstate *b);
/* The rules of the scrape options that span keys (after inheritance; targets.c), and the
 * cert/key pair rule they share with a Kubernetes source's tls_config (scrape.c). */
void cpgo_config_check_scrape(struct ctx *c, struct bstate *b);
void cpgo_config_check_tls_pair(struct ctx *c, const struct cpgo_tls_cfg *t, const char *path,
                                struct pos cert_at, struct pos key_at, const char *from_cert,
                                const char *from_key);
/* Checks that given names are unique (services' among backends' too) and names the other
 * backends after their URL's host:port. bs: n backends, then ns services. */
void cpgo_config_assign_names(struct ctx *c, struct bstate *bs, size_t n, struct bstate *ss,
                              size_t ns);
/* Groups backends and services into cfg->targets, checks that the members of one target
 * agree and that head branches are not shared. */
void cpgo_config_build_targets(struct ctx *c, struct cpgo_config *cfg, struct bstate *bs, size_t n,
                               struct bstate *ss, size_t ns);
/* The repository's normal form for the default-branch cache, "host[:port]/path"
 * (malloc'd; NULL when out of memory). */
char *cpgo_config_repo_key(const struct cpgo_repo *r);
/* cpgo_config_parse with resolved default branches (NULL: leave them unresolved). */
int cpgo_config_parse_with(const char *text, size_t len, const char *name, const char *base_dir,
                           const struct branches *br, struct cpgo_config **out,
                           struct cpgo_config_errors *errs);

/* Where to point for key k of a backend or service, its path ("services[0].timeout") and
 * " (from defaults)" when inherited (targets.c). */
struct pos cpgo_config_where(const struct bstate *b, size_t k);
void cpgo_config_key_path(const struct bstate *b, size_t k, char *buf, size_t cap);
const char *cpgo_config_inherited(const struct bstate *b, size_t k);

#endif
