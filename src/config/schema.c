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
#include <ctype.h>
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
_Static_assert(sizeof(enum cpgo_dns_type) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum cpgo_k8s_role) == sizeof(int), "enums are stored as int");

/* Functions the Go compiler must not inline from a CPU profile (issue 12): the scheduler's
 * park, whose hot edges say nothing about the caller, and gRPC's loopy writer, which
 * inlining makes larger without making faster. */
const char *const cpgo_config_pgo_no_inline_default[] = {
    "runtime.gopark", "google.golang.org/grpc/internal/transport.(*loopyWriter).processData", NULL};

static char **copy_strlist(struct ctx *c, const char *const *v, size_t n, int *ok);

const char *const cpgo_config_scope_prefix[NSCOPES] = {
    [S_TOP] = "",
    [S_BACKEND] = "backends[].",
    [S_SERVICE] = "services[].",
    [S_STATIC] = "services[].static_configs[].",
    [S_DNSSD] = "services[].dns_sd_configs[].",
    [S_FILESD] = "services[].file_sd_configs[].",
    [S_K8S] = "services[].kubernetes_sd_configs[].",
    [S_K8S_SEL] = "services[].kubernetes_sd_configs[].selectors[].",
};

static const struct choice log_levels[] = {{"debug", CPGO_LOG_DEBUG},
                                           {"info", CPGO_LOG_INFO},
                                           {"warn", CPGO_LOG_WARN},
                                           {"error", CPGO_LOG_ERROR},
                                           {NULL, 0}};
static const struct choice log_formats[] = {
    {"logfmt", CPGO_LOG_LOGFMT}, {"json", CPGO_LOG_JSON}, {NULL, 0}};
static const struct choice forges[] = {{"github", CPGO_FORGE_GITHUB},
                                       {"gitlab", CPGO_FORGE_GITLAB},
                                       {"gitea", CPGO_FORGE_GITEA},
                                       {"local", CPGO_FORGE_LOCAL},
                                       {NULL, 0}};
static const struct choice schemes[] = {{"http", 0}, {"https", 1}, {NULL, 0}};
static const struct choice dns_types[] = {
    {"SRV", CPGO_DNS_SRV}, {"A", CPGO_DNS_A}, {"AAAA", CPGO_DNS_AAAA}, {NULL, 0}};
static const struct choice k8s_roles[] = {
    {"pod", CPGO_K8S_POD}, {"endpointslice", CPGO_K8S_ENDPOINTSLICE}, {NULL, 0}};
static const struct choice k8s_sel_roles[] = {{"pod", CPGO_K8S_POD},
                                              {"endpointslice", CPGO_K8S_ENDPOINTSLICE},
                                              {"service", CPGO_K8S_SERVICE},
                                              {NULL, 0}};

#define TOP(field) .scope = S_TOP, .off = offsetof(struct cpgo_config, field)
#define BK(field) .scope = S_BACKEND, .off = offsetof(struct cpgo_backend_cfg, field)
#define LIMIT(field) TOP(limits.profile.field)
#define SV(field) .scope = S_SERVICE, .off = offsetof(struct cpgo_service_cfg, field)
#define STC(field) .scope = S_STATIC, .off = offsetof(struct cpgo_sd_static_cfg, field)
#define DNS(field) .scope = S_DNSSD, .off = offsetof(struct cpgo_sd_dns_cfg, field)
#define FSD(field) .scope = S_FILESD, .off = offsetof(struct cpgo_sd_file_cfg, field)
#define K8S(field) .scope = S_K8S, .off = offsetof(struct cpgo_sd_k8s_cfg, field)
#define SEL(field) .scope = S_K8S_SEL, .off = offsetof(struct cpgo_k8s_selector, field)
/* a list at field (count at nfield) of elements of type T walked against scope SC */
#define ELEMS(T, field, nfield, SC) .type = T_LIST, .off2 = offsetof(T, nfield), .sub = SC
#define STRS(T, nfield) .type = T_STRLIST, .off2 = offsetof(T, nfield)

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
                           "`host:port` as in Go and Prometheus: `:9090` or `[::]:9090` "
                           "binds every interface (IPv4 and IPv6; inside a container, "
                           "where a probe or Prometheus must reach it), `0.0.0.0:9090` every "
                           "IPv4 interface, `127.0.0.1:9090` loopback only. `null` or absent: "
                           "no endpoint (the safe default)."},
    [KI_LOG] = {"log", .scope = S_TOP, .type = T_SECTION, .desc = "Logging."},
    [KI_LOG_LEVEL] = {"log.level", TOP(log_level), .type = T_ENUM, .def = "info",
                      .choices = log_levels, .desc = "Least severity logged."},
    [KI_LOG_FORMAT] = {"log.format", TOP(log_format), .type = T_ENUM, .def = "logfmt",
                       .choices = log_formats,
                       .desc = "Log lines as logfmt (`key=value`) or as JSON objects, "
                               "whose counts, sizes and seconds are numbers and flags "
                               "booleans, as Go's slog writes them."},
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
                              .type = T_COUNT, .def = "4096", .min = 1, .max = 1000000,
                              .desc = "Scraped bodies waiting to be decoded and merged (the "
                                      "work queue's length), counting the bodies that scrapes "
                                      "in flight will bring: a scrape starts only when its "
                                      "body fits beside them (one scrape always may start "
                                      "when none is in flight). It also caps the scrapes in "
                                      "flight; `max_queued_bytes` usually binds first."},
    [KI_MAX_QUEUED_BYTES] = {"limits.max_queued_bytes", TOP(limits.max_queued_bytes),
                             .type = T_SIZE, .def = "256MiB", .min = 1, .max = TIB,
                             .desc = "Bytes of those waiting bodies, counting the bodies that "
                                     "scrapes in flight will bring: a scrape starts only when "
                                     "its expected body (its backend's last one, 128 KiB before "
                                     "the first) fits beside them, so a large round's bodies, "
                                     "which all arrive about `seconds` after they started, "
                                     "cannot pile up beyond it (one scrape always may start "
                                     "when none is in flight)."},
    [KI_MAX_INFLIGHT_BYTES] = {"limits.max_inflight_bytes", TOP(limits.max_inflight_bytes),
                               .type = T_SIZE, .def = "256MiB", .min = 1024 * 1024, .max = TIB,
                               .desc = "Bytes of response bodies still being received, over "
                                       "all scrapes together (each is also under "
                                       "`max_body_bytes`). When a body needs more, the "
                                       "largest body in flight is dropped for it; that "
                                       "scrape fails with class `inflight_limit` and is "
                                       "retried. Bounds the memory that endless or huge "
                                       "answers from many backends can take."},
    [KI_MAX_PENDING_MEMORY] = {"limits.max_pending_memory", TOP(limits.max_pending_memory),
                               .type = T_SIZE, .def = "256MiB", .min = 0, .max = TIB,
                               .desc = "Memory the targets' pending merges may hold together "
                                       "between publishes (estimated from the mergers' "
                                       "tables). Beyond it the least recently used targets' "
                                       "pending merges are spilled: their snapshot is brought "
                                       "up to date in the state directory and the memory is "
                                       "freed; the next scrape or publish of the target loads "
                                       "it back. `0` keeps none in memory between uses."},
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
    [KI_GH_APP] = {"github.app", .scope = S_TOP, .type = T_SECTION, .flags = F_QUIET,
                   .desc = "Authenticate as a GitHub App instead of with a token: cpgo signs "
                           "a JWT with the app's key and exchanges it for installation tokens "
                           "(kept until 5 minutes before they expire), used for the API and "
                           "for git (`x-access-token`). `token_env` is then not read; "
                           "`token_file` may not be set."},
    [KI_GH_APP_ID] = {"github.app.app_id", TOP(github.app.app_id), .type = T_INT64,
                      .def_doc = "none; required in `github.app`", .min = 1, .max = INT64_MAX,
                      .bounds_doc = "a positive integer",
                      .desc = "The app's ID (its settings page, \"App ID\"): the JWT's "
                              "issuer."},
    [KI_GH_APP_KEY] = {"github.app.private_key_file", TOP(github.app.private_key_file),
                       .type = T_STR, .def_doc = "none; required in `github.app`",
                       .check = cpgo_config_check_path, .flags = F_NULLABLE,
                       .desc = "The app's private key as GitHub generated it (PEM, RSA, not "
                               "encrypted). Relative to the configuration file's directory. "
                               "Read at start and on SIGHUP like `token_file`, but refused "
                               "when other users (or a group other than cpgo's) can read it. "
                               "Never logged."},
    [KI_GH_APP_INST] = {"github.app.installation_id", TOP(github.app.installation_id),
                        .type = T_INT64, .def_doc = "looked up per repository", .min = 1,
                        .max = INT64_MAX, .bounds_doc = "a positive integer", .flags = F_QUIET,
                        .desc = "The installation to mint tokens for. Absent: found per "
                                "repository with `GET /repos/{owner}/{repo}/installation`."},
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
    [KI_GITLAB] = {"gitlab", .scope = S_TOP, .type = T_SECTION, .flags = F_QUIET,
                   .desc = "The GitLab API (gitlab.com or self-managed), for `forge: gitlab` "
                           "targets: merge requests. The token is never written in this file; "
                           "git over https sends it as `oauth2:<token>`, to the API's host "
                           "only."},
    [KI_GITLAB_API_URL] = {"gitlab.api_url", TOP(gitlab.api_url), .type = T_STR,
                           .def = "https://gitlab.com/api/v4", .check = cpgo_config_check_api_url,
                           .desc = "API base URL (REST v4); self-managed: "
                                   "`https://HOST/api/v4`. https, or http on loopback only. "
                                   "Its host is the git host of its repositories."},
    [KI_GITLAB_TOKEN_ENV] = {"gitlab.token_env", TOP(gitlab.token_env), .type = T_STR,
                             .def = "GITLAB_TOKEN", .check = cpgo_config_check_env,
                             .desc = "Environment variable that holds the token."},
    [KI_GITLAB_TOKEN_FILE] = {"gitlab.token_file", TOP(gitlab.token_file), .type = T_STR,
                              .def_doc = "none", .check = cpgo_config_check_path,
                              .flags = F_NULLABLE,
                              .desc = "File that holds the token, used instead of `token_env` "
                                      "when set; read as `github.token_file`."},
    [KI_GITEA] = {"gitea", .scope = S_TOP, .type = T_SECTION, .flags = F_QUIET,
                  .desc = "The Gitea or Forgejo API, for `forge: gitea` targets: pull requests. "
                          "The token is never written in this file; git over https sends it as "
                          "the password, to the API's host only."},
    [KI_GITEA_API_URL] = {"gitea.api_url", TOP(gitea.api_url), .type = T_STR,
                          .def_doc = "none (required by `forge: gitea` targets)",
                          .check = cpgo_config_check_api_url, .flags = F_NULLABLE,
                          .desc = "API base URL, `https://HOST/api/v1` (Gitea has no public "
                                  "default host). https, or http on loopback only. Its host is "
                                  "the git host of its repositories, and `forge` defaults to "
                                  "`gitea` for them."},
    [KI_GITEA_TOKEN_ENV] = {"gitea.token_env", TOP(gitea.token_env), .type = T_STR,
                            .def = "GITEA_TOKEN", .check = cpgo_config_check_env,
                            .desc = "Environment variable that holds the token."},
    [KI_GITEA_TOKEN_FILE] = {"gitea.token_file", TOP(gitea.token_file), .type = T_STR,
                             .def_doc = "none", .check = cpgo_config_check_path,
                             .flags = F_NULLABLE,
                             .desc = "File that holds the token, used instead of `token_env` "
                                     "when set; read as `github.token_file`."},
    [KI_DNS] = {"dns", .scope = S_TOP, .type = T_SECTION, .flags = F_QUIET,
                .desc = "The resolver for `dns_sd_configs` and for every host name of a "
                        "service's instances (cpgo resolves them itself and scrapes by "
                        "address, keeping the name in the Host header)."},
    [KI_DNS_SERVERS] = {"dns.servers", TOP(dns.servers), STRS(struct cpgo_config, dns.nservers),
                        .def_doc = "the servers of `/etc/resolv.conf`", .max = 16,
                        .icheck = cpgo_config_item_dns_server,
                        .desc = "DNS servers to ask, in order: IP addresses with an optional "
                                "port (`127.0.0.1:5353`, `[::1]:53`; port 53 when absent). "
                                "Host names are refused (nothing could resolve them)."},
    [KI_DNS_TIMEOUT] = {"dns.timeout", TOP(dns.timeout_ms), .type = T_DURATION, .def = "5s",
                        .min = 100, .max = MINUTE,
                        .desc = "How long one query waits for an answer before it fails."},
    [KI_DEFAULTS] = {"defaults", .scope = S_TOP, .type = T_SECTION,
                     .desc = "Any `backends[]` key, `open_pull_request.*` included: the value "
                             "for every backend that does not set that key itself. A key is "
                             "replaced whole (a backend's `headers` replace the default "
                             "`headers`). Services take from it the keys they share with "
                             "backends (all but `name` and `url`)."},
    [KI_BACKENDS] = {"backends", .scope = S_TOP, .type = T_LIST,
                     .def_doc = "required unless `services` is given",
                     .bounds_doc = "1 to 10000 entries",
                     .desc = "The backends to scrape; at least one (none when `services` is "
                             "given). Backends whose "
                             "repository, target branch and target file are the same form "
                             "one target: their profiles are merged into that one file."},
    [KI_NAME] = {"name", BK(name), .type = T_STR, .flags = F_BACKEND_ONLY,
                 .def_doc = "`host:port` of `url`, made unique with `#2`, `#3`...",
                 .check = cpgo_config_check_name,
                 .desc = "Names the backend in logs, metrics and pull requests. 1 to 300 "
                         "printable characters without spaces; unique."},
    [KI_URL] = {"url", BK(url), .type = T_STR, .check = cpgo_config_check_url,
                .flags = F_REQUIRED | F_BACKEND_ONLY | F_MASK_URL,
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
    [KI_TIMEOUT] = {"timeout", BK(timeout_ms), .type = T_DURATION,
                    .def_doc = "seconds + 15s, at most the schedule's shortest period", .min = SEC,
                    .max = 24 * HOUR,
                    .desc = "Whole-scrape deadline. Must be longer than the profile's "
                            "`seconds` and not longer than the schedule's shortest period. "
                            "Not written, it is `seconds` + 15s, or that period when shorter "
                            "(as Prometheus clamps a defaulted `scrape_timeout` to "
                            "`scrape_interval`)."},
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
    [KI_TLS] = {"tls_config", .scope = S_BACKEND, .type = T_SECTION, .flags = F_QUIET | F_WHOLE,
                .desc = "TLS of an https scrape (Prometheus's `tls_config`). The files are "
                        "PEM, relative to the configuration file's directory, and must be "
                        "regular files when the configuration is loaded. Like `basic_auth` "
                        "and `authorization`, a section written here replaces the one of "
                        "`defaults` whole (`null` turns it off)."},
    [KI_TLS_CA] = {"tls_config.ca_file", BK(auth.tls.ca_file), .type = T_STR,
                   .def_doc = "the "
                              "system's CAs",
                   .check = cpgo_config_check_file, .flags = F_NULLABLE,
                   .desc = "CA certificates to verify the instance's certificate with."},
    [KI_TLS_CERT] = {"tls_config.cert_file", BK(auth.tls.cert_file), .type = T_STR,
                     .def_doc = "none", .check = cpgo_config_check_file, .flags = F_NULLABLE,
                     .desc = "Client certificate; needs `key_file`."},
    [KI_TLS_KEY] = {"tls_config.key_file", BK(auth.tls.key_file), .type = T_STR, .def_doc = "none",
                    .check = cpgo_config_check_file, .flags = F_NULLABLE,
                    .desc = "The client certificate's private key; needs `cert_file`."},
    [KI_TLS_SERVER_NAME] = {"tls_config.server_name", BK(auth.tls.server_name), .type = T_STR,
                            .def_doc = "the host scraped", .check = cpgo_config_check_hostname,
                            .flags = F_NULLABLE,
                            .desc = "Name sent in SNI and verified in the certificate."},
    [KI_TLS_INSECURE] = {"tls_config.insecure_skip_verify", BK(auth.tls.insecure_skip_verify),
                         .type = T_BOOL, .def = "false",
                         .desc = "Do not verify the instance's certificate at all."},
    [KI_BASIC] = {"basic_auth", .scope = S_BACKEND, .type = T_SECTION, .flags = F_QUIET | F_WHOLE,
                  .desc = "HTTP Basic authentication; not with `authorization` or an "
                          "`Authorization` header."},
    [KI_BASIC_USER] = {"basic_auth.username", BK(auth.basic_username), .type = T_STR,
                       .def_doc = "required with `basic_auth`", .check = cpgo_config_check_username,
                       .flags = F_NULLABLE, .desc = "User name (no `:`, no control characters)."},
    [KI_BASIC_PASSWORD_FILE] = {"basic_auth.password_file", BK(auth.basic_password_file),
                                .off2 = offsetof(struct cpgo_backend_cfg, auth.basic_password),
                                .type = T_STR, .def_doc = "none", .check = cpgo_config_check_secret,
                                .flags = F_NULLABLE | F_SECRET,
                                .desc = "File that holds the password (a `password` key is "
                                        "refused: secrets are never written in this file). "
                                        "Read at load and at each reload: a regular file of "
                                        "at most 64 KiB that neither its group nor other "
                                        "users can write, one line (trailing line breaks "
                                        "are dropped), not empty."},
    [KI_AUTHZ] = {"authorization", .scope = S_BACKEND, .type = T_SECTION,
                  .flags = F_QUIET | F_WHOLE,
                  .desc = "An `Authorization: <type> <credentials>` header; not with "
                          "`basic_auth` or an `Authorization` header."},
    [KI_AUTHZ_TYPE] = {"authorization.type", BK(auth.authz_type), .type = T_STR,
                       .def_doc = "`Bearer`", .check = cpgo_config_check_authz_type,
                       .flags = F_NULLABLE,
                       .desc = "The scheme word (an HTTP token; `Basic` is `basic_auth`)."},
    [KI_AUTHZ_CREDENTIALS_FILE] = {"authorization.credentials_file",
                                   BK(auth.authz_credentials_file),
                                   .off2 =
                                       offsetof(struct cpgo_backend_cfg, auth.authz_credentials),
                                   .type = T_STR, .def_doc = "required with `authorization`",
                                   .check = cpgo_config_check_secret,
                                   .flags = F_NULLABLE | F_SECRET,
                                   .desc = "File that holds the credentials (a `credentials` "
                                           "key is refused), read as `password_file`."},
    [KI_PROXY_URL] = {"proxy_url", BK(auth.proxy_url), .type = T_STR, .def_doc = "none",
                      .check = cpgo_config_check_http_url,
                      .flags = F_NULLABLE | F_QUIET | F_MASK_URL,
                      .desc = "HTTP proxy for the scrapes, `http://` or `https://`; "
                              "credentials in it are masked in output."},
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
                                "`.` or `..` segments, not inside `.git`. A bare name (no "
                                "`/`) is looked for anywhere in the repository: the one file "
                                "of that name is updated where it is (several are an error). "
                                "When there is none, it is created in the directory of the "
                                "repository's one `package main` (where `go build "
                                "-pgo=auto` reads `default.pgo`), at the root when no "
                                "directory holds one; several main packages are an error "
                                "that lists them: write the path."},
    [KI_TARGET_BRANCH] = {"open_pull_request.target_branch", BK(target_branch), .type = T_STR,
                          .def_doc = "the repository's default branch",
                          .check = cpgo_config_check_branch, .flags = F_NULLABLE,
                          .desc = "The branch the pull request targets (a valid git branch "
                                  "name, such as `main`: not `refs/heads/main`). Not set: the "
                                  "repository's default branch (its remote HEAD, as `git "
                                  "ls-remote --symref URL HEAD` shows it), resolved when "
                                  "`cpgo run` starts and at each reload, once per repository, "
                                  "and then used as if written here (target, head branch, "
                                  "`--output` path, shard); `check-config` does not resolve it."},
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
                  .def_doc = "by the repository's host: `local` for local repositories; "
                             "`github` for github.com and the host of `github.api_url`; "
                             "`gitlab` for gitlab.com and the host of `gitlab.api_url`; "
                             "`gitea` for the host of `gitea.api_url`; else `github`",
                  .choices = forges,
                  .desc = "`github`: push the head branch and open or update a pull request "
                          "through the GitHub API. `gitlab`: the same with a merge request "
                          "through the GitLab API (`gitlab:`). `gitea`: a pull request through "
                          "the Gitea or Forgejo API (`gitea:`, whose `api_url` it needs). "
                          "`local`: commit to the head branch of the repository only, no pull "
                          "request. A forge's token goes only to its API's host: the "
                          "repository must be there (or on github.com for api.github.com)."},
    [KI_REOPEN_GROWTH] = {"open_pull_request.reopen_growth", BK(reopen_growth), .type = T_INT,
                          .def = "100", .min = 0, .max = 100000,
                          .desc = "After a pull request was closed without merging, cpgo opens "
                                  "no new one until the pending scrapes have grown by this many "
                                  "percent since (100: doubled)."},
    [KI_PR_LABELS] = {"open_pull_request.labels", BK(labels),
                      STRS(struct cpgo_backend_cfg, nlabels), .def_doc = "none",
                      .max = CPGO_CONFIG_PR_LIST_MAX, .icheck = cpgo_config_item_label,
                      .flags = F_UNIQUE, .bounds_doc = "at most 50 labels of at most 255 bytes",
                      .desc = "Labels of the pull request, set when cpgo opens or updates it. "
                              "Printable UTF-8 without `,` (GitLab separates labels with "
                              "commas) and without leading or trailing spaces. A label the "
                              "repository lacks is reported, not created. Ignored by `forge: "
                              "local` (with a warning)."},
    [KI_PR_REVIEWERS] = {"open_pull_request.reviewers", BK(reviewers),
                         STRS(struct cpgo_backend_cfg, nreviewers), .def_doc = "none",
                         .max = CPGO_CONFIG_PR_LIST_MAX, .icheck = cpgo_config_item_user,
                         .flags = F_UNIQUE,
                         .bounds_doc = "at most 50 user names of at most 255 bytes",
                         .desc = "User names asked to review the pull request (`A-Z a-z 0-9 . "
                                 "_ -`, without `@`). Ignored by `forge: local`."},
    [KI_PR_ASSIGNEES] = {"open_pull_request.assignees", BK(assignees),
                         STRS(struct cpgo_backend_cfg, nassignees), .def_doc = "none",
                         .max = CPGO_CONFIG_PR_LIST_MAX, .icheck = cpgo_config_item_user,
                         .flags = F_UNIQUE,
                         .bounds_doc = "at most 50 user names of at most 255 bytes",
                         .desc = "User names the pull request is assigned to, as `reviewers`. "
                                 "Ignored by `forge: local`."},
    [KI_PR_DRAFT] = {"open_pull_request.draft", BK(draft), .type = T_BOOL, .def = "false",
                     .desc = "Open the pull request as a draft. Ignored by `forge: local`."},
    [KI_PR_AUTO_MERGE] = {"open_pull_request.auto_merge", BK(auto_merge), .type = T_BOOL,
                          .def = "false",
                          .desc = "Ask the forge to merge the pull request once its checks "
                                  "pass (GitHub auto-merge, GitLab merge when the pipeline "
                                  "succeeds), where the forge offers it. Ignored by `forge: "
                                  "local`."},
    [KI_PR_COMMIT_PREFIX] = {"open_pull_request.commit_prefix", BK(commit_prefix), .type = T_STR,
                             .def = "", .def_doc = "`''` (none)",
                             .check = cpgo_config_check_commit_prefix,
                             .bounds_doc = "at most 100 bytes",
                             .desc = "Written before the commit subject and the pull request's "
                                     "title, e.g. `'chore(pgo): '` for conventional commits "
                                     "(quote it to keep a trailing space). Printable UTF-8 on "
                                     "one line. `forge: local` uses it on its commits too."},
    [KI_PGO] = {"pgo", .scope = S_BACKEND, .type = T_SECTION,
                .desc = "How this backend's (or service's) profiles count and how its target's "
                        "file is published. `weight` is each member's own; the other keys are "
                        "the target's, so the backends and services of one target must agree "
                        "on them. Each key is inherited from `defaults` on its own."},
    [KI_PGO_HALF_LIFE] = {"pgo.half_life", BK(pgo.half_life_ms), .type = T_DURATION, .def = "0",
                          .min = 0, .max = 87600 * HOUR, .bounds_doc = "0, or 1m to 87600h",
                          .check = cpgo_config_check_half_life,
                          .desc = "Decay: at each publish the samples already in the file are "
                                  "scaled by 0.5^(age/half_life), all values of a sample alike, "
                                  "rounded to the nearest integer (halves away from zero), "
                                  "before the new scrapes are added; a sample whose "
                                  "`samples/count` rounds to zero is dropped, and a count the "
                                  "rounding would leave unchanged goes down by one with "
                                  "probability count x (1 - factor), from a hash of the sample "
                                  "and the clock (so small counts fade too, deterministically). "
                                  "The age is the time since cpgo last wrote the file (a "
                                  "`cpgo-written:` comment in the profile), else since the last "
                                  "commit that changed it on the target branch (`--output`: "
                                  "the file's mtime); never negative. 0: no decay."},
    [KI_PGO_WEIGHT] = {"pgo.weight", BK(pgo.weight_ppm), .type = T_DECIMAL, .def = "1", .min = 1,
                       .max = 1000 * 1000000LL,
                       .bounds_doc = "more than 0, at most 1000; at most 6 decimals",
                       .desc = "Multiplies every sample value this backend or service "
                               "contributes (`0.1` for a canary) as it is accepted, in integer "
                               "arithmetic (the same result on every machine): the "
                               "`samples/count` the compiler reads is rounded down or up "
                               "without bias (up with probability equal to the fraction, from "
                               "a hash of the sample and the scrape), the other values to the "
                               "nearest integer; a sample whose values are all zero is "
                               "dropped. Written as a decimal number (no exponent) and held "
                               "exactly, in millionths; journaled with each scrape. May differ "
                               "between the members of one target."},
    [KI_PGO_NO_INLINE] = {"pgo.no_inline", BK(pgo.no_inline),
                          STRS(struct cpgo_backend_cfg, pgo.nno_inline), .max = 256,
                          .defs = cpgo_config_pgo_no_inline_default,
                          .icheck = cpgo_config_item_func_name,
                          .bounds_doc = "at most 256 names of at most 1024 bytes",
                          .desc = "Functions the compiler must not inline because of the "
                                  "profile: each is renamed `DO NOT INLINE: <name>` in the "
                                  "published file, so `go tool preprofile` shows no edge to or "
                                  "from it and every other edge is unchanged. Names as pprof "
                                  "shows them (`pkg/path.(*Type).Method`). `[]`: none."},
    [KI_PGO_MIN_CHANGE] = {"pgo.min_change", BK(pgo.min_change_ppm), .type = T_PERCENT, .def = "0%",
                           .min = 0, .max = 100 * 10000,
                           .bounds_doc = "0% to 100%; at most 4 decimals",
                           .desc = "Publish only when the call-edge weights the compiler reads "
                                   "(normalised) differ by at least this much (total variation "
                                   "distance) from the file cpgo proposes now (the head "
                                   "branch's; without one, the target branch's), or when a hot "
                                   "edge appears or disappears; otherwise the scrapes stay "
                                   "pending. `5%` or `5`. 0: every update."},
    [KI_PGO_VERIFY] = {"pgo.verify_with_go", BK(pgo.verify_with_go), .type = T_BOOL, .def = "false",
                       .desc = "Run `go tool preprofile` on each candidate file before it is "
                               "published, when `go` is on PATH (a last check; cpgo checks what "
                               "Go's PGO needs itself)."},
    [KI_SERVICES] = {"services", .scope = S_TOP, .type = T_LIST, .def_doc = "none",
                     .bounds_doc = "at most 10000 entries",
                     .desc = "Services whose instances are discovered: each is one target "
                             "(grouped with backends and services that name the same "
                             "repository, branch and file). Each round scrapes up to "
                             "`max_instances` of the instances its sources found together, "
                             "deduplicated by address and port. A service also takes every "
                             "`backends[]` key but `name` and `url`, with the same meaning "
                             "and default, and inherits them from `defaults`."},
    [KI_SVC_NAME] = {"name", SV(name), .type = T_STR, .check = cpgo_config_check_name,
                     .flags = F_REQUIRED,
                     .desc = "Names the service in logs, metrics and pull requests. 1 to 300 "
                             "printable characters without spaces; unique among services "
                             "and backends."},
    [KI_SVC_SECONDS] = {"seconds", SV(tmpl.seconds), .type = T_INT64, .def = "30", .min = 1,
                        .max = 3600,
                        .desc = "The profile's duration (the `seconds` query parameter cpgo "
                                "adds)."},
    [KI_SVC_PATH] = {"path", SV(path), .type = T_STR, .def = "/debug/pprof/profile",
                     .check = cpgo_config_check_svc_path,
                     .desc = "The profile endpoint's path on each instance: starts with `/`, "
                             "no spaces; a query string is allowed, without `seconds=`."},
    [KI_SVC_SCHEME] = {"scheme", SV(https), .type = T_ENUM, .def = "http", .choices = schemes,
                       .desc = "How instances are scraped."},
    [KI_SVC_MAX_INSTANCES] = {"max_instances", SV(max_instances), .type = T_COUNT, .def = "10",
                              .min = 0, .max = 100000,
                              .desc = "Instances scraped per round, in rotation; 0 scrapes "
                                      "all of them every round."},
    [KI_SVC_STATIC] = {"static_configs", SV(statics),
                       ELEMS(struct cpgo_service_cfg, statics, nstatics, S_STATIC),
                       .esize = sizeof(struct cpgo_sd_static_cfg),
                       .eline = offsetof(struct cpgo_sd_static_cfg, line), .flags = F_LINE,
                       .def_doc = "none", .max = 1000, .bounds_doc = "at most 1000 entries",
                       .desc = "Fixed lists of instances. A service needs at least one entry "
                               "in `static_configs`, `dns_sd_configs`, `file_sd_configs` or "
                               "`kubernetes_sd_configs`."},
    [KI_STATIC_TARGETS] = {"targets", STC(targets), STRS(struct cpgo_sd_static_cfg, ntargets),
                           .flags = F_REQUIRED, .max = 10000, .icheck = cpgo_config_item_hostport,
                           .bounds_doc = "1 to 10000 entries",
                           .desc = "`host:port` of each instance: a DNS name, an IPv4 address "
                                   "or an IPv6 address in brackets (`[::1]:6060`)."},
    [KI_SVC_DNS] = {"dns_sd_configs", SV(dns), ELEMS(struct cpgo_service_cfg, dns, ndns, S_DNSSD),
                    .esize = sizeof(struct cpgo_sd_dns_cfg),
                    .eline = offsetof(struct cpgo_sd_dns_cfg, line), .flags = F_LINE,
                    .def_doc = "none", .max = 100, .bounds_doc = "at most 100 entries",
                    .echeck = cpgo_config_elem_dns_sd,
                    .desc = "Instances from DNS records, asked through `dns.servers`."},
    [KI_DNSSD_NAMES] = {"names", DNS(names), STRS(struct cpgo_sd_dns_cfg, nnames),
                        .flags = F_REQUIRED, .max = 100, .icheck = cpgo_config_item_dns_name,
                        .bounds_doc = "1 to 100 entries",
                        .desc = "DNS names to look up (`_pprof._tcp.checkout.internal` for "
                                "SRV)."},
    [KI_DNSSD_TYPE] = {"type", DNS(type), .type = T_ENUM, .def = "SRV", .choices = dns_types,
                       .desc = "SRV: host and port from each record. A or AAAA: each address "
                               "with `port`."},
    [KI_DNSSD_PORT] = {"port", DNS(port), .type = T_INT, .min = 1, .max = 65535,
                       .def_doc = "required for `A` and `AAAA`", .flags = F_NULLABLE,
                       .desc = "The port scraped on each address (ignored for SRV, whose "
                               "records carry it)."},
    [KI_DNSSD_REFRESH] = {"refresh_interval", DNS(refresh_ms), .type = T_DURATION, .def = "30s",
                          .min = SEC, .max = 24 * HOUR,
                          .desc = "How often the names are looked up again."},
    [KI_SVC_FILE] = {"file_sd_configs", SV(files),
                     ELEMS(struct cpgo_service_cfg, files, nfiles, S_FILESD),
                     .esize = sizeof(struct cpgo_sd_file_cfg),
                     .eline = offsetof(struct cpgo_sd_file_cfg, line), .flags = F_LINE,
                     .def_doc = "none", .max = 100, .bounds_doc = "at most 100 entries",
                     .desc = "Instances from files in Prometheus's file_sd format (JSON or "
                             "YAML: `[{targets: [host:port, ...]}]`), watched for changes."},
    [KI_FILESD_FILES] = {"files", FSD(files), STRS(struct cpgo_sd_file_cfg, nfiles),
                         .flags = F_REQUIRED, .max = 100, .icheck = cpgo_config_item_sd_file,
                         .bounds_doc = "1 to 100 entries",
                         .desc = "File patterns ending `.json`, `.yml` or `.yaml`; `*` only in "
                                 "the last path segment. Relative to the configuration "
                                 "file's directory."},
    [KI_FILESD_REFRESH] = {"refresh_interval", FSD(refresh_ms), .type = T_DURATION, .def = "5m",
                           .min = SEC, .max = 24 * HOUR,
                           .desc = "How often the files are read again, besides when they "
                                   "change."},
    [KI_SVC_K8S] = {"kubernetes_sd_configs", SV(k8s),
                    ELEMS(struct cpgo_service_cfg, k8s, nk8s, S_K8S),
                    .esize = sizeof(struct cpgo_sd_k8s_cfg),
                    .eline = offsetof(struct cpgo_sd_k8s_cfg, line), .flags = F_LINE,
                    .def_doc = "none", .max = 100, .bounds_doc = "at most 100 entries",
                    .echeck = cpgo_config_elem_k8s_sd,
                    .desc = "Instances from the Kubernetes API (list, then watch): Running "
                            "and Ready pods, or ready endpoints."},
    [KI_K8S_ROLE] = {"role", K8S(role), .type = T_ENUM, .choices = k8s_roles, .flags = F_REQUIRED,
                     .desc = "What to list and watch."},
    [KI_K8S_API_SERVER] = {"api_server", K8S(api_server), .type = T_STR,
                           .def_doc = "in-cluster (`KUBERNETES_SERVICE_HOST` and `_PORT`)",
                           .check = cpgo_config_check_http_url, .flags = F_NULLABLE | F_MASK_URL,
                           .desc = "The API server's URL, `https://` (or `http://`)."},
    [KI_K8S_NAMESPACES] = {"namespaces", .scope = S_K8S, .type = T_SECTION,
                           .desc = "Which namespaces to watch."},
    [KI_K8S_NS_NAMES] = {"namespaces.names", K8S(namespaces),
                         STRS(struct cpgo_sd_k8s_cfg, nnamespaces), .max = 100,
                         .def_doc = "the pod's own namespace (in-cluster)",
                         .icheck = cpgo_config_item_namespace, .bounds_doc = "at most 100 entries",
                         .desc = "Namespace names."},
    [KI_K8S_NS_OWN] = {"namespaces.own_namespace", K8S(own_namespace), .type = T_BOOL,
                       .def = "false",
                       .desc = "Also the namespace cpgo's pod runs in (read from the "
                               "service account)."},
    [KI_K8S_SELECTORS] = {"selectors", K8S(selectors),
                          ELEMS(struct cpgo_sd_k8s_cfg, selectors, nselectors, S_K8S_SEL),
                          .esize = sizeof(struct cpgo_k8s_selector), .def_doc = "none", .max = 10,
                          .bounds_doc = "at most 10 entries",
                          .desc = "Label and field selectors passed to the API as written."},
    [KI_K8S_SEL_ROLE] = {"role", SEL(role), .type = T_ENUM, .choices = k8s_sel_roles,
                         .flags = F_REQUIRED,
                         .desc = "The objects it selects: `pod` for a pod source; "
                                 "`endpointslice`, `service` or `pod` for an endpointslice "
                                 "source."},
    [KI_K8S_SEL_LABEL] = {"label", SEL(label), .type = T_STR, .def_doc = "none",
                          .flags = F_NULLABLE, .desc = "A label selector (`app=checkout`)."},
    [KI_K8S_SEL_FIELD] = {"field", SEL(field), .type = T_STR, .def_doc = "none",
                          .flags = F_NULLABLE,
                          .desc = "A field selector (`status.phase=Running`)."},
    [KI_K8S_PORT] = {"port", K8S(port), .type = T_STR, .def_doc = "the one port declared",
                     .check = cpgo_config_check_k8s_port, .flags = F_NULLABLE,
                     .desc = "The port to scrape: a container port's name or a number."},
    [KI_K8S_TOKEN_FILE] = {"bearer_token_file", K8S(bearer_token_file), .type = T_STR,
                           .def_doc = "in-cluster: the service account's token",
                           .check = cpgo_config_check_path, .flags = F_NULLABLE,
                           .desc = "File holding the bearer token (re-read when it changes: "
                                   "tokens rotate). Relative to the configuration file's "
                                   "directory."},
    [KI_K8S_TLS] = {"tls_config", .scope = S_K8S, .type = T_SECTION,
                    .desc = "TLS to the API server, as a backend's `tls_config`."},
    [KI_K8S_TLS_CA] = {"tls_config.ca_file", K8S(tls.ca_file), .type = T_STR,
                       .def_doc = "in-cluster: the service account's `ca.crt`",
                       .check = cpgo_config_check_file, .flags = F_NULLABLE,
                       .desc = "CA certificates to verify the API server with."},
    [KI_K8S_TLS_CERT] = {"tls_config.cert_file", K8S(tls.cert_file), .type = T_STR,
                         .def_doc = "none", .check = cpgo_config_check_file, .flags = F_NULLABLE,
                         .desc = "Client certificate; needs `key_file`."},
    [KI_K8S_TLS_KEY] = {"tls_config.key_file", K8S(tls.key_file), .type = T_STR, .def_doc = "none",
                        .check = cpgo_config_check_file, .flags = F_NULLABLE,
                        .desc = "Its private key; needs `cert_file`."},
    [KI_K8S_TLS_SERVER_NAME] = {"tls_config.server_name", K8S(tls.server_name), .type = T_STR,
                                .def_doc = "the API server's host",
                                .check = cpgo_config_check_hostname, .flags = F_NULLABLE,
                                .desc = "Name verified in the certificate."},
    [KI_K8S_TLS_INSECURE] = {"tls_config.insecure_skip_verify", K8S(tls.insecure_skip_verify),
                             .type = T_BOOL, .def = "false",
                             .desc = "Do not verify the API server's certificate."},
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

void cpgo_config_free_strlist(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

char **cpgo_config_copy_strlist(struct ctx *c, char *const *v, size_t n)
{
    int ok;
    return copy_strlist(c, (const char *const *)v, n, &ok);
}

/* A copy of n strings (NULL when n is 0 or out of memory: *ok says which). */
static char **copy_strlist(struct ctx *c, const char *const *v, size_t n, int *ok)
{
    *ok = 1;
    if (!n) return NULL;
    char **d = calloc(n, sizeof *d);
    for (size_t i = 0; d && i < n; i++) {
        if (!(d[i] = strdup(v[i]))) {
            cpgo_config_free_strlist(d, i);
            d = NULL;
        }
    }
    if (!d) {
        c->nomem = 1;
        *ok = 0;
    }
    return d;
}

int cpgo_config_pgo_copy(struct ctx *c, struct cpgo_pgo_cfg *dst, const struct cpgo_pgo_cfg *src)
{
    int ok;
    *dst = *src;
    dst->no_inline = copy_strlist(c, (const char *const *)src->no_inline, src->nno_inline, &ok);
    if (!ok) dst->nno_inline = 0;
    return ok ? 0 : -1;
}

void cpgo_config_pgo_free(struct cpgo_pgo_cfg *p)
{
    cpgo_config_free_strlist(p->no_inline, p->nno_inline);
    p->no_inline = NULL;
    p->nno_inline = 0;
}

/* Frees the values of one scope's keys at base (lists with their elements' values). */
void cpgo_config_free_scope(enum kscope scope, void *base)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &cpgo_config_keys[i];
        if (k->scope != scope) continue;
        if (k->type == T_STR) {
            char **p = field(base, k->off);
            free(*p);
            *p = NULL;
            if (k->flags & F_SECRET) {
                char **sp = field(base, k->off2);
                cpgo_config_free_secret(*sp);
                *sp = NULL;
            }
        } else if (k->type == T_HEADERS) {
            struct cpgo_header **h = field(base, k->off);
            size_t *n = field(base, k->off2);
            cpgo_config_free_headers(*h, *n);
            *h = NULL;
            *n = 0;
        } else if (k->type == T_STRLIST) {
            char ***v = field(base, k->off);
            size_t *n = field(base, k->off2);
            cpgo_config_free_strlist(*v, *n);
            *v = NULL;
            *n = 0;
        } else if (k->type == T_LIST && k->sub != S_TOP) {
            char **v = field(base, k->off);
            size_t *n = field(base, k->off2);
            for (size_t j = 0; *v && j < *n; j++)
                cpgo_config_free_scope(k->sub, *v + j * k->esize);
            free(*v);
            *v = NULL;
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
    if (k->type == T_HEADERS || ((k->type == T_STRLIST || k->type == T_LIST) && k->max)) {
        snprintf(buf, cap, "at most %" PRId64, k->max);
        return;
    }
    if (k->type != T_DURATION && k->type != T_SIZE && k->type != T_COUNT && k->type != T_INT &&
        k->type != T_INT64)
        return;
    fmt_num(k, k->min, lo, sizeof lo);
    fmt_num(k, k->max, hi, sizeof hi);
    snprintf(buf, cap, "%s to %s", lo, hi);
}

/* v / 10^places as the shortest decimal that reads back as v ("0.1", "2.5", "1000"). */
static void fmt_fixed(int64_t v, unsigned places, const char *suffix, char *buf, size_t cap)
{
    int64_t scale = 1;
    for (unsigned i = 0; i < places; i++)
        scale *= 10;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t whole = u / (uint64_t)scale, frac = u % (uint64_t)scale;
    unsigned nf = places;
    while (nf && frac % 10 == 0) {
        frac /= 10;
        nf--;
    }
    if (nf)
        snprintf(buf, cap, "%s%" PRIu64 ".%0*" PRIu64 "%s", v < 0 ? "-" : "", whole, (int)nf, frac,
                 suffix);
    else
        snprintf(buf, cap, "%s%" PRIu64 "%s", v < 0 ? "-" : "", whole, suffix);
}

/*
 * A decimal "D", "D.F" or ".F" (an optional '-' first) between s and end, with at most
 * `places` decimals, as an integer in units of 10^-places: exact, without floating point
 * (a weight of 0.1 is 100000 millionths, not 0.1000000000000000055). No exponent, no
 * "nan" or "inf": those are not decimals. 0 with *v; -1 malformed; -2 more decimals than
 * places; -3 too large (*v is then INT64_MAX or INT64_MIN, out of any key's range).
 */
static int parse_fixed(const char *s, const char *end, unsigned places, int64_t *v)
{
    const char *p = s;
    int neg = p < end && *p == '-';
    if (neg) p++;
    int64_t whole = 0, frac = 0, scale = 1;
    int nd = 0, nf = 0, over = 0;
    for (unsigned i = 0; i < places; i++)
        scale *= 10;
    for (; p < end && isdigit((unsigned char)*p); p++, nd++) {
        if (whole > (INT64_MAX / scale) / 10) /* whole * scale must fit */
            over = 1;
        else
            whole = whole * 10 + (*p - '0');
    }
    if (p < end && *p == '.') {
        for (p++; p < end && isdigit((unsigned char)*p); p++, nf++)
            if ((unsigned)nf < places) frac = frac * 10 + (*p - '0');
        if (!nf) return -1; /* "5." */
    }
    if (p != end || (!nd && !nf)) return -1;
    if ((unsigned)nf > places) return -2;
    for (unsigned i = (unsigned)nf; i < places; i++)
        frac *= 10;
    if (over || whole > (INT64_MAX - frac) / scale) {
        *v = neg ? INT64_MIN : INT64_MAX;
        return -3;
    }
    *v = (whole * scale + frac) * (neg ? -1 : 1);
    return 0;
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
        if (!iv && (k->flags & F_NULLABLE)) /* 0: not set (a nullable number's bounds exclude 0) */
            snprintf(buf, cap, "null");
        else
            snprintf(buf, cap, "%d", iv);
        break;
    case T_INT64:
        memcpy(&lv, p, sizeof lv);
        snprintf(buf, cap, "%" PRId64, lv);
        break;
    case T_DECIMAL: {
        uint64_t u;
        memcpy(&u, p, sizeof u);
        fmt_fixed(u > INT64_MAX ? INT64_MAX : (int64_t)u, 6, "", buf, cap);
        break;
    }
    case T_PERCENT: {
        uint32_t u;
        memcpy(&u, p, sizeof u);
        fmt_fixed(u, 4, "%", buf, cap);
        break;
    }
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
    if (!text && k->type != T_STR) { /* a nullable number, null: unset */
        if (k->type == T_INT || k->type == T_BOOL || k->type == T_ENUM)
            memset(p, 0, sizeof(int));
        else if (k->type == T_DURATION || k->type == T_INT64)
            memset(p, 0, sizeof(int64_t));
        else if (k->type == T_SIZE || k->type == T_COUNT)
            memset(p, 0, sizeof(size_t));
        return NULL;
    }
    switch (k->type) {
    case T_STR: {
        char *d = text ? cpgo_config_strdup(c, text) : NULL;
        if (text && !d) return "(out of memory)";
        free(*(char **)p);
        *(char **)p = d;
        return NULL;
    }
    case T_DURATION:
        if (cpgo_duration_parse(text, &v, &e))
            return text[0] == '-' ? "is not a duration: durations are never negative"
                                  : "is not a duration (e.g. 45s)";
        break;
    case T_DECIMAL:
    case T_PERCENT: {
        int pct = k->type == T_PERCENT;
        unsigned places = pct ? 4 : 6;
        size_t len = strlen(text);
        if (pct && len && text[len - 1] == '%') len--; /* "5%" and "5" alike */
        int rc = parse_fixed(text, text + len, places, &v);
        if (rc == -1)
            return pct ? "is not a percentage (e.g. 5% or 0.5%)"
                       : "is not a decimal number (e.g. 0.1)";
        if (rc == -2) {
            snprintf(why, cap, "has more than %u decimals", places);
            return why;
        }
        break;
    }
    case T_SIZE: {
        uint64_t u;
        if (cpgo_size_parse(text, &u, &e) || u > INT64_MAX) return "is not a size (e.g. 64MiB)";
        v = (int64_t)u;
        break;
    }
    case T_COUNT:
    case T_INT:
    case T_INT64:
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
    if (k->type == T_DURATION || k->type == T_INT64)
        memcpy(p, &v, sizeof v);
    else if (k->type == T_DECIMAL)
        memcpy(p, &(uint64_t){(uint64_t)v}, sizeof(uint64_t));
    else if (k->type == T_PERCENT)
        memcpy(p, &(uint32_t){(uint32_t)v}, sizeof(uint32_t));
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
        if (k->flags & F_SECRET) { /* the file's content, read once where it was given */
            const char *sv = *(char *const *)cfield(src, k->off2);
            char *sn = sv ? cpgo_config_strdup(c, sv) : NULL;
            cpgo_config_free_secret(*(char **)field(dst, k->off2));
            *(char **)field(dst, k->off2) = sn;
        }
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
    case T_STRLIST: {
        int ok;
        size_t n = *(const size_t *)cfield(src, k->off2);
        char **nv = copy_strlist(c, *(const char *const *const *)s, n, &ok);
        cpgo_config_free_strlist(*(char ***)d, *(size_t *)field(dst, k->off2));
        *(char ***)d = nv;
        *(size_t *)field(dst, k->off2) = ok ? n : 0;
        break;
    }
    case T_DURATION:
    case T_INT64:
    case T_DECIMAL:
        memcpy(d, s, sizeof(int64_t));
        break;
    case T_PERCENT:
        memcpy(d, s, sizeof(uint32_t));
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

void cpgo_config_store_default(struct ctx *c, const struct key *k, void *base)
{
    char why[160];
    if (k->type == T_STRLIST && k->defs) {
        size_t n = 0;
        while (k->defs[n])
            n++;
        int ok;
        char **v = copy_strlist(c, k->defs, n, &ok);
        cpgo_config_free_strlist(*(char ***)field(base, k->off), *(size_t *)field(base, k->off2));
        *(char ***)field(base, k->off) = v;
        *(size_t *)field(base, k->off2) = ok ? n : 0;
    } else if (k->def) {
        cpgo_config_store(c, k, base, k->def, why, sizeof why);
    }
}
