/*
 * schema.c - the key table: every key of the configuration once, with its type, offset,
 * default, bounds, check and description. It decides which keys exist, converts and
 * bounds-checks values and stores them at their offsets, supplies defaults, frees, and
 * drives the dump and the reference (dump.c), so that what is parsed, what is documented in
 * docs/CONFIG.md and what check-config prints cannot drift apart.
 *
 * `defaults:` holds backend-scope keys and is walked with the same table into a template
 * backend. The checks a key names are in checks.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/duration.h"
#include "config/config_int.h"

_Static_assert(sizeof(enum cpgo_log_level) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum cpgo_log_format) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum cpgo_forge) == sizeof(int), "enums are stored as int");

static const struct choice log_levels[] = {{"debug", CPGO_LOG_DEBUG},
                                           {"info", CPGO_LOG_INFO},
                                           {"warn", CPGO_LOG_WARN},
                                           {"error", CPGO_LOG_ERROR},
                                           {NULL, 0}};
static const struct choice log_formats[] = {
    {"logfmt", CPGO_LOG_LOGFMT}, {"json", CPGO_LOG_JSON}, {NULL, 0}};
static const struct choice forges[] = {
    {"github", CPGO_FORGE_GITHUB}, {"local", CPGO_FORGE_LOCAL}, {NULL, 0}};

#define TOP(field) .scope = S_TOP, .off = offsetof(struct cpgo_config, field)
#define BK(field) .scope = S_BACKEND, .off = offsetof(struct cpgo_backend_cfg, field)
#define LIMIT(field) TOP(limits.profile.field)

const struct key cpgo_config_keys[NKEYS] = {
    [KI_STATE_DIR] = {"state_dir", TOP(state_dir), .type = T_STR,
                      .def_doc = "`$XDG_STATE_HOME/cpgo`, else `~/.local/state/cpgo`; "
                                 "`/var/lib/cpgo` for root",
                      .check = cpgo_config_check_path,
                      .desc = "Directory for cpgo's state (pending profiles, publication "
                              "records). A relative path is relative to the configuration "
                              "file's directory. One daemon owns it (a lock; a second one "
                              "exits 1), so each replica and each shard needs its own. "
                              "Created 0700; refused when another user owns it or others "
                              "can write to it (its group may, when cpgo is in that group). "
                              "Inspect it with `cpgo state`."},
    [KI_LISTEN] = {"listen", TOP(listen), .type = T_STR, .def_doc = "off",
                   .check = cpgo_config_check_listen, .flags = F_NULLABLE,
                   .desc = "Address of the admin HTTP endpoint (health, status, metrics), "
                           "`host:port`. A bare `:port` binds 127.0.0.1 only; `null` or "
                           "absent: no endpoint."},
    [KI_LOG] = {"log", .scope = S_TOP, .type = T_SECTION, .desc = "Logging."},
    [KI_LOG_LEVEL] = {"log.level", TOP(log_level), .type = T_ENUM, .def = "info",
                      .choices = log_levels, .desc = "Least severity logged."},
    [KI_LOG_FORMAT] = {"log.format", TOP(log_format), .type = T_ENUM, .def = "logfmt",
                       .choices = log_formats,
                       .desc = "Log lines as logfmt (`key=value`) or as JSON objects."},
    [KI_SHUTDOWN_TIMEOUT] = {"shutdown_timeout", TOP(shutdown_timeout_ms), .type = T_DURATION,
                             .def = "30s", .min = 100, .max = HOUR,
                             .desc = "On SIGTERM or SIGINT: how long running work may take to "
                                     "finish before cpgo exits anyway."},
    [KI_LIMITS] = {"limits", .scope = S_TOP, .type = T_SECTION,
                   .desc = "Ceilings on what one scrape may cost, and on the work queue. "
                           "Sizes are integers (bytes) or strings such as `64MiB`, `500KB`."},
    [KI_MAX_BODY] = {"limits.max_body_bytes", LIMIT(max_compressed), .type = T_SIZE, .min = 1,
                     .max = TIB, .flags = F_PRESET,
                     .desc = "Largest response body accepted from a backend (gzip or raw), "
                             "as received. A scrape is aborted when it passes this."},
    [KI_MAX_DECOMPRESSED] = {"limits.max_decompressed_bytes", LIMIT(max_decompressed),
                             .type = T_SIZE, .min = 1, .max = TIB, .flags = F_PRESET,
                             .desc = "Largest profile after gunzip (a gzip bomb stops here)."},
    [KI_MAX_DECODE_MEMORY] = {"limits.max_decode_memory_bytes", LIMIT(max_decode_memory),
                              .type = T_SIZE, .min = 1, .max = TIB, .flags = F_PRESET,
                              .desc = "Memory one profile may take while being decoded."},
    [KI_MAX_SAMPLES] = {"limits.max_samples", LIMIT(max_samples), .type = T_COUNT, .min = 1,
                        .max = 1000000000, .flags = F_PRESET,
                        .desc = "A profile with more samples is refused whole, never "
                                "truncated."},
    [KI_MAX_LOCATIONS] = {"limits.max_locations", LIMIT(max_locations), .type = T_COUNT, .min = 1,
                          .max = 1000000000, .flags = F_PRESET, .desc = "The same for locations."},
    [KI_MAX_FUNCTIONS] = {"limits.max_functions", LIMIT(max_functions), .type = T_COUNT, .min = 1,
                          .max = 1000000000, .flags = F_PRESET, .desc = "The same for functions."},
    [KI_MAX_MAPPINGS] = {"limits.max_mappings", LIMIT(max_mappings), .type = T_COUNT, .min = 1,
                         .max = 1000000000, .flags = F_PRESET, .desc = "The same for mappings."},
    [KI_MAX_STRINGS] = {"limits.max_strings", LIMIT(max_strings), .type = T_COUNT, .min = 1,
                        .max = 1000000000, .flags = F_PRESET,
                        .desc = "The same for string-table entries."},
    [KI_MAX_CONCURRENT] = {"limits.max_concurrent_scrapes", TOP(limits.max_concurrent_scrapes),
                           .type = T_COUNT, .def = "1024", .min = 1, .max = 65536,
                           .desc = "Scrapes in flight at once, over all backends (one backend "
                                   "never has two)."},
    [KI_MAX_QUEUED_BODIES] = {"limits.max_queued_bodies", TOP(limits.max_queued_bodies),
                              .type = T_COUNT, .def = "64", .min = 1, .max = 1000000,
                              .desc = "Scraped bodies waiting to be decoded and merged (the "
                                      "work queue's length)."},
    [KI_MAX_QUEUED_BYTES] = {"limits.max_queued_bytes", TOP(limits.max_queued_bytes),
                             .type = T_SIZE, .def = "256MiB", .min = 1, .max = TIB,
                             .desc = "Bytes of those waiting bodies."},
    [KI_MAX_INFLIGHT_BYTES] = {"limits.max_inflight_bytes", TOP(limits.max_inflight_bytes),
                               .type = T_SIZE, .def = "256MiB", .min = 1024 * 1024, .max = TIB,
                               .desc = "Bytes of response bodies still being received, over "
                                       "all scrapes together (each is also under "
                                       "`max_body_bytes`). When a body needs more, the "
                                       "largest body in flight is dropped for it; that "
                                       "scrape fails with class `inflight_limit` and is "
                                       "retried. Bounds the memory that endless or huge "
                                       "answers from many backends can take."},
    [KI_GITHUB] = {"github", .scope = S_TOP, .type = T_SECTION,
                   .desc = "The GitHub API, for `forge: github` targets. The token is never "
                           "written in this file."},
    [KI_API_URL] = {"github.api_url", TOP(github.api_url), .type = T_STR,
                    .def = "https://api.github.com", .check = cpgo_config_check_api_url,
                    .desc = "API base URL; for GitHub Enterprise Server "
                            "`https://HOST/api/v3`."},
    [KI_TOKEN_ENV] = {"github.token_env", TOP(github.token_env), .type = T_STR,
                      .def = "GITHUB_TOKEN", .check = cpgo_config_check_env,
                      .desc = "Environment variable that holds the token."},
    [KI_TOKEN_FILE] = {"github.token_file", TOP(github.token_file), .type = T_STR,
                       .def_doc = "none", .check = cpgo_config_check_path, .flags = F_NULLABLE,
                       .desc = "File that holds the token, used instead of `token_env` when "
                               "set. Relative to the configuration file's directory. It must "
                               "be a regular file (a FIFO, socket or device is refused at "
                               "once) that neither its group nor other users can write."},
    [KI_GIT] = {"git", .scope = S_TOP, .type = T_SECTION,
                .desc = "How cpgo commits and reaches repositories."},
    [KI_GIT_NAME] = {"git.author_name", TOP(git.author_name), .type = T_STR, .def = "cpgo",
                     .check = cpgo_config_check_ident,
                     .desc = "Author and committer name of cpgo's commits. cpgo rewrites only "
                             "head branches whose commit has this committer."},
    [KI_GIT_EMAIL] = {"git.author_email", TOP(git.author_email), .type = T_STR,
                      .def = "cpgo@localhost", .check = cpgo_config_check_ident,
                      .desc = "Author and committer email of cpgo's commits."},
    [KI_GIT_SSH_KEY] = {"git.ssh_key", TOP(git.ssh_key), .type = T_STR, .def_doc = "the ssh agent",
                        .check = cpgo_config_check_path, .flags = F_NULLABLE,
                        .desc = "Private key file for ssh repositories (its public key is "
                                "`<file>.pub` when present); both must be regular files (a "
                                "FIFO, socket or device is refused). Relative to the "
                                "configuration file's directory. Host keys are checked "
                                "against `~/.ssh/known_hosts`."},
    [KI_GIT_TIMEOUT] = {"git.timeout", TOP(git.timeout_ms), .type = T_DURATION, .def = "10m",
                        .min = SEC, .max = 24 * HOUR,
                        .desc = "Longest fetch or push; a transfer still running then is "
                                "aborted (checked as data moves)."},
    [KI_DEFAULTS] = {"defaults", .scope = S_TOP, .type = T_SECTION,
                     .desc = "Any `backends[]` key, `open_pull_request.*` included: the value "
                             "for every backend that does not set that key itself. A key is "
                             "replaced whole (a backend's `headers` replace the default "
                             "`headers`)."},
    [KI_BACKENDS] = {"backends", .scope = S_TOP, .type = T_LIST, .flags = F_REQUIRED,
                     .bounds_doc = "1 to 10000 entries",
                     .desc = "The backends to scrape; at least one. Backends whose "
                             "repository, target branch and target file are the same form "
                             "one target: their profiles are merged into that one file."},
    [KI_NAME] = {"name", BK(name), .type = T_STR,
                 .def_doc = "`host:port` of `url`, made unique with `#2`, `#3`...",
                 .check = cpgo_config_check_name,
                 .desc = "Names the backend in logs, metrics and pull requests. 1 to 300 "
                         "printable characters without spaces; unique."},
    [KI_URL] = {"url", BK(url), .type = T_STR, .check = cpgo_config_check_url, .flags = F_REQUIRED,
                .desc = "The CPU profile endpoint, http or https, e.g. "
                        "`http://host:6060/debug/pprof/profile?seconds=30`, read as libcurl "
                        "reads it (a `@`, `:` or `/` in a user name or password is written "
                        "`%40`, `%3A`, `%2F`). Its `seconds` "
                        "(1 to 3600, default 30) is the profile's duration. Credentials in "
                        "the URL are allowed and masked in output."},
    [KI_SCHEDULE] = {"schedule", BK(schedule_text), .type = T_STR,
                     .check = cpgo_config_check_schedule, .flags = F_REQUIRED,
                     .desc = "When to scrape: five-field cron (`*/5 * * * *`), `@hourly` and "
                             "the other macros, `@every 10m`; UTC unless prefixed "
                             "`CRON_TZ=Zone/Name `."},
    [KI_TIMEOUT] = {"timeout", BK(timeout_ms), .type = T_DURATION, .def_doc = "seconds + 15s",
                    .min = SEC, .max = 24 * HOUR,
                    .desc = "Whole-scrape deadline. Must be longer than the profile's "
                            "`seconds` and shorter than the schedule's shortest period."},
    [KI_CONNECT_TIMEOUT] = {"connect_timeout", BK(connect_timeout_ms), .type = T_DURATION,
                            .def = "10s", .min = 10, .max = 10 * MINUTE,
                            .desc = "Deadline for the TCP (and TLS) connection; at most "
                                    "`timeout`."},
    [KI_RETRIES] = {"retries", BK(retries), .type = T_INT, .def = "2", .min = 0, .max = 10,
                    .desc = "How often a scrape that failed for a transient reason is "
                            "retried before the schedule's next time."},
    [KI_HEADERS] = {"headers", .scope = S_BACKEND, .type = T_HEADERS,
                    .off = offsetof(struct cpgo_backend_cfg, headers),
                    .off2 = offsetof(struct cpgo_backend_cfg, nheaders), .def_doc = "none",
                    .max = MAX_HEADERS,
                    .desc = "Extra request headers, `Name: value`. Names are HTTP tokens; "
                            "values must not contain line breaks. Values of Authorization, "
                            "Cookie and other secret-looking headers are masked in output."},
    [KI_DROP_LABELS] = {"drop_labels", BK(trim.drop_labels), .type = T_BOOL, .def = "true",
                        .desc = "Drop sample labels before merging (Go PGO does not read "
                                "them)."},
    [KI_KEEP_FRAMES] = {"keep_frames", BK(trim.keep_frames), .type = T_INT, .def = "0", .min = 0,
                        .max = 1024, .bounds_doc = "0, or 2 to 1024",
                        .check = cpgo_config_check_keep_frames,
                        .desc = "Keep only the N leaf-most frames of each stack; 0 keeps all. "
                                "Go PGO reads the two leaf-most."},
    [KI_STRIP_ADDRESSES] = {"strip_addresses", BK(trim.strip_addresses), .type = T_BOOL,
                            .def = "true",
                            .desc = "Zero addresses and columns and drop mappings (PGO does "
                                    "not need them; the result is smaller and steadier)."},
    [KI_OPR] = {"open_pull_request", .scope = S_BACKEND, .type = T_SECTION,
                .desc = "Where the merged profile goes."},
    [KI_REPOSITORY] = {"open_pull_request.repository", BK(repository), .type = T_STR,
                       .check = cpgo_config_check_repository, .flags = F_REQUIRED,
                       .desc = "The repository: `https://host/org/repo`, `http://...`, "
                               "`ssh://[user@]host[:port]/org/repo`, `git@host:org/repo`, "
                               "`file:///path` or a local path (relative to the "
                               "configuration file's directory). `.git` and a trailing `/` "
                               "do not matter; credentials are refused."},
    [KI_TARGET_FILE] = {"open_pull_request.target_file", BK(target_file), .type = T_STR,
                        .def = "default.pgo", .check = cpgo_config_check_target_file,
                        .desc = "The profile's path in the repository: relative, without "
                                "`.` or `..` segments, not inside `.git`."},
    [KI_TARGET_BRANCH] = {"open_pull_request.target_branch", BK(target_branch), .type = T_STR,
                          .def = "main", .check = cpgo_config_check_branch,
                          .desc = "The branch the pull request targets (a valid git branch "
                                  "name, such as `main`: not `refs/heads/main`)."},
    [KI_HEAD_BRANCH] = {"open_pull_request.head_branch", BK(head_branch), .type = T_STR,
                        .def_doc = "`cpgo/<target_branch>/<target_file>`",
                        .check = cpgo_config_check_branch, .flags = F_NULLABLE,
                        .desc = "The branch cpgo pushes to and opens the pull request from; "
                                "owned by cpgo (force-pushed), so never the target branch, and "
                                "a branch name, not `refs/...`. Two targets must not share one."},
    [KI_MIN_INTERVAL] = {"open_pull_request.min_interval", BK(min_interval_ms), .type = T_DURATION,
                         .def = "1h", .min = 0, .max = 8760 * HOUR,
                         .desc = "Least time between two updates of the pull request of one "
                                 "target; profiles merged meanwhile wait."},
    [KI_FORGE] = {"open_pull_request.forge", BK(forge), .type = T_ENUM,
                  .def_doc = "`local` for local repositories, else `github`", .choices = forges,
                  .desc = "`github`: push the head branch and open or update a pull request "
                          "through the GitHub API. `local`: commit to the head branch of the "
                          "repository only, no pull request."},
    [KI_REOPEN_GROWTH] = {"open_pull_request.reopen_growth", BK(reopen_growth), .type = T_INT,
                          .def = "100", .min = 0, .max = 100000,
                          .desc = "After a pull request was closed without merging, cpgo opens "
                                  "no new one until the pending scrapes have grown by this many "
                                  "percent since (100: doubled)."},
};

const struct key *cpgo_config_find_key(enum kscope scope, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (cpgo_config_keys[i].scope == scope && !strcmp(cpgo_config_keys[i].name, name))
            return &cpgo_config_keys[i];
    return NULL;
}

void cpgo_config_free_headers(struct cpgo_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

/* Frees the values of one scope's keys (strings, headers) at base. */
void cpgo_config_free_scope(enum kscope scope, void *base)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &cpgo_config_keys[i];
        if (k->scope != scope) continue;
        if (k->type == T_STR) {
            char **p = field(base, k->off);
            free(*p);
            *p = NULL;
        } else if (k->type == T_HEADERS) {
            struct cpgo_header **h = field(base, k->off);
            size_t *n = field(base, k->off2);
            cpgo_config_free_headers(*h, *n);
            *h = NULL;
            *n = 0;
        }
    }
}

static void fmt_size(uint64_t v, char *buf, size_t cap)
{
    if (v && v % GIB == 0)
        snprintf(buf, cap, "%" PRIu64 "GiB", v / (uint64_t)GIB);
    else if (v && v % MIB == 0)
        snprintf(buf, cap, "%" PRIu64 "MiB", v / (uint64_t)MIB);
    else if (v && v % KIB == 0)
        snprintf(buf, cap, "%" PRIu64 "KiB", v / (uint64_t)KIB);
    else
        snprintf(buf, cap, "%" PRIu64, v);
}

static void fmt_num(const struct key *k, int64_t v, char *buf, size_t cap)
{
    if (k->type == T_DURATION)
        cpgo_duration_format(v, buf, cap);
    else if (k->type == T_SIZE)
        fmt_size((uint64_t)v, buf, cap);
    else
        snprintf(buf, cap, "%" PRId64, v);
}

void cpgo_config_format_bounds(const struct key *k, char *buf, size_t cap)
{
    char lo[32], hi[32];
    buf[0] = 0;
    if (k->bounds_doc) {
        snprintf(buf, cap, "%s", k->bounds_doc);
        return;
    }
    if (k->type == T_HEADERS) {
        snprintf(buf, cap, "at most %" PRId64, k->max);
        return;
    }
    if (k->type != T_DURATION && k->type != T_SIZE && k->type != T_COUNT && k->type != T_INT)
        return;
    fmt_num(k, k->min, lo, sizeof lo);
    fmt_num(k, k->max, hi, sizeof hi);
    snprintf(buf, cap, "%s to %s", lo, hi);
}

static void fmt_choices(const struct key *k, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (const struct choice *ch = k->choices; ch->name && len < cap; ch++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", ch->name);
}

/* The value at base formatted for the dump and the reference ("45s", "64MiB", "true"). */
void cpgo_config_format_value(const struct key *k, const void *base, char *buf, size_t cap)
{
    const void *p = cfield(base, k->off);
    int iv;
    int64_t lv;
    size_t zv;
    switch (k->type) {
    case T_DURATION:
        memcpy(&lv, p, sizeof lv);
        fmt_num(k, lv, buf, cap);
        break;
    case T_SIZE:
    case T_COUNT:
        memcpy(&zv, p, sizeof zv);
        fmt_num(k, (int64_t)zv, buf, cap);
        break;
    case T_INT:
        memcpy(&iv, p, sizeof iv);
        snprintf(buf, cap, "%d", iv);
        break;
    case T_BOOL:
        memcpy(&iv, p, sizeof iv);
        snprintf(buf, cap, "%s", iv ? "true" : "false");
        break;
    case T_ENUM:
        memcpy(&iv, p, sizeof iv);
        snprintf(buf, cap, "?");
        for (const struct choice *ch = k->choices; ch->name; ch++)
            if (ch->value == iv) snprintf(buf, cap, "%s", ch->name);
        break;
    default:
        buf[0] = 0;
    }
}

/*
 * Converts text for key k and stores it at base (strings are copied). Returns NULL, or why
 * the text was refused (to follow "'<text>' ").
 */
const char *cpgo_config_store(struct ctx *c, const struct key *k, void *base, const char *text,
                              char *why, size_t cap)
{
    void *p = field(base, k->off);
    struct cpgo_err e;
    int64_t v = 0;
    switch (k->type) {
    case T_STR: {
        char *d = text ? cpgo_config_strdup(c, text) : NULL;
        if (text && !d) return "(out of memory)";
        free(*(char **)p);
        *(char **)p = d;
        return NULL;
    }
    case T_DURATION:
        if (cpgo_duration_parse(text, &v, &e)) return "is not a duration (e.g. 45s)";
        break;
    case T_SIZE: {
        uint64_t u;
        if (cpgo_size_parse(text, &u, &e) || u > INT64_MAX) return "is not a size (e.g. 64MiB)";
        v = (int64_t)u;
        break;
    }
    case T_COUNT:
    case T_INT:
        if (!cpgo_config_parse_int(text, &v)) return "is not an integer";
        break;
    case T_BOOL:
        if (!strcmp(text, "true"))
            v = 1;
        else if (!strcmp(text, "false"))
            v = 0;
        else
            return "is not true or false";
        memcpy(p, &(int){(int)v}, sizeof(int));
        return NULL;
    case T_ENUM: {
        for (const struct choice *ch = k->choices; ch->name; ch++) {
            if (!strcasecmp(ch->name, text)) {
                memcpy(p, &ch->value, sizeof(int));
                return NULL;
            }
        }
        char list[128];
        fmt_choices(k, list, sizeof list);
        snprintf(why, cap, "is not one of %s", list);
        return why;
    }
    default:
        return "cannot be set here";
    }
    if (v < k->min || v > k->max) {
        char b[96];
        cpgo_config_format_bounds(k, b, sizeof b);
        snprintf(why, cap, "is out of range (%s)", b);
        return why;
    }
    if (k->type == T_DURATION)
        memcpy(p, &v, sizeof v);
    else if (k->type == T_INT)
        memcpy(p, &(int){(int)v}, sizeof(int));
    else
        memcpy(p, &(size_t){(size_t)v}, sizeof(size_t));
    return NULL;
}

/* Copies key k's value from one struct to another (deeply). */
void cpgo_config_copy_value(struct ctx *c, const struct key *k, void *dst, const void *src)
{
    const void *s = cfield(src, k->off);
    void *d = field(dst, k->off);
    switch (k->type) {
    case T_STR: {
        const char *v = *(char *const *)s;
        char *n = v ? cpgo_config_strdup(c, v) : NULL;
        free(*(char **)d);
        *(char **)d = n;
        break;
    }
    case T_HEADERS: {
        const struct cpgo_header *h = *(struct cpgo_header *const *)s;
        size_t n = *(const size_t *)cfield(src, k->off2);
        struct cpgo_header *nh = n ? calloc(n, sizeof *nh) : NULL;
        if (n && !nh) {
            c->nomem = 1;
            n = 0;
        }
        for (size_t i = 0; i < n; i++) {
            nh[i].name = cpgo_config_strdup(c, h[i].name);
            nh[i].value = cpgo_config_strdup(c, h[i].value);
        }
        cpgo_config_free_headers(*(struct cpgo_header **)d, *(size_t *)field(dst, k->off2));
        *(struct cpgo_header **)d = nh;
        *(size_t *)field(dst, k->off2) = n;
        break;
    }
    case T_DURATION:
        memcpy(d, s, sizeof(int64_t));
        break;
    case T_SIZE:
    case T_COUNT:
        memcpy(d, s, sizeof(size_t));
        break;
    case T_INT:
    case T_BOOL:
    case T_ENUM:
        memcpy(d, s, sizeof(int));
        break;
    default:
        break;
    }
}
