/* test_config_config.c - the configuration: the original format, every default, every
 * extension key, every rule with its message (file:line:column and key), defaults:,
 * target grouping, names, the dump (masking, round trip) and docs/CONFIG.md. */
#include <ctype.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config/config.h"

#define NAME "config.yaml"
#define BASE "/etc/cpgo"

/* A valid backend, to which tests add keys. */
#define URL30 "http://localhost:6060/debug/pprof/profile?seconds=30"
#define B_HEAD                                                                                     \
    "backends:\n"                                                                                  \
    "- url: " URL30 "\n"                                                                           \
    "  schedule: '* * * * *'\n"
#define OPR "  open_pull_request:\n    repository: https://github.com/org/app\n"
#define B_MIN B_HEAD OPR

static void print_errors(const struct cpgo_config_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "    | %s\n", e->lines[i]);
}

static struct cpgo_config *parse_ok_at(const char *y, int line)
{
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    int rc = cpgo_config_parse(y, strlen(y), NAME, BASE, &c, &e);
    check_count++;
    if (rc || !c) {
        check_failures++;
        fprintf(stderr, "%s:%d: expected a valid config, got %d:\n", __FILE__, line, rc);
        print_errors(&e);
    }
    cpgo_config_errors_free(&e);
    return c;
}
#define parse_ok(y) parse_ok_at(y, __LINE__)

/* Expects the config to be refused with a line containing `needle`; returns the number of
 * error lines. */
static size_t expect_error_at(const char *y, size_t len, const char *needle, int line)
{
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    int rc = cpgo_config_parse(y, len, NAME, BASE, &c, &e);
    check_count++;
    int found = 0;
    for (size_t i = 0; i < e.n; i++)
        found |= strstr(e.lines[i], needle) != NULL;
    if (rc != CPGO_E_INPUT || c || !found) {
        check_failures++;
        fprintf(stderr, "%s:%d: expected an error containing \"%s\", got rc %d and:\n", __FILE__,
                line, needle, rc);
        print_errors(&e);
    }
    size_t n = e.n;
    cpgo_config_free(c);
    cpgo_config_errors_free(&e);
    return n;
}
#define expect_error(y, needle) expect_error_at(y, strlen(y), needle, __LINE__)

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static char *dump(const struct cpgo_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(cpgo_config_dump(c, f) == 0);
    fclose(f);
    return buf;
}

static const char *src_root(void)
{
    static char root[4096];
    snprintf(root, sizeof root, "%s", __FILE__);
    char *p = strstr(root, "tests/unit/test_config_config.c");
    if (p) *p = 0;
    if (!root[0]) strcpy(root, "./");
    return root;
}

/* ---------------------------------------------------------------------------------------- */

static void check_defaults_top(const struct cpgo_config *c)
{
    struct cpgo_limits lim;
    cpgo_limits_default(&lim);
    CHECK(!memcmp(&c->limits.profile, &lim, sizeof lim));
    CHECK_EQ_INT(c->limits.max_concurrent_scrapes, 1024);
    CHECK_EQ_INT(c->limits.max_queued_bodies, 4096);
    CHECK_EQ_INT(c->limits.max_queued_bytes, 256u << 20);
    CHECK(c->listen == NULL);
    CHECK_EQ_INT(c->log_level, CPGO_LOG_INFO);
    CHECK_EQ_INT(c->log_format, CPGO_LOG_LOGFMT);
    CHECK_EQ_INT(c->shutdown_timeout_ms, 30000);
    CHECK(!strcmp(c->github.api_url, "https://api.github.com"));
    CHECK(!strcmp(c->github.token_env, "GITHUB_TOKEN"));
    CHECK(c->github.token_file == NULL);
    CHECK(c->state_dir && !strcmp(c->state_dir, "/tmp/xdg-state/cpgo"));
}

/* config.sample.yaml, byte for byte, loads with every default. */
static void test_sample(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%sconfig.sample.yaml", src_root());
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    int rc = cpgo_config_load(path, &c, &e);
    CHECK_EQ_INT(rc, 0);
    print_errors(&e);
    cpgo_config_errors_free(&e);
    if (!c) return;
    CHECK(!strcmp(c->path, path));
    check_defaults_top(c);
    CHECK_EQ_INT(c->nbackends, 1);
    const struct cpgo_backend_cfg *b = &c->backends[0];
    CHECK(!strcmp(b->name, "localhost:6060"));
    CHECK(!strcmp(b->url, URL30));
    CHECK(!strcmp(b->schedule_text, "* * * * *"));
    CHECK(b->schedule != NULL);
    CHECK_EQ_INT(b->seconds, 30);
    CHECK_EQ_INT(b->timeout_ms, 45000);
    CHECK_EQ_INT(b->connect_timeout_ms, 10000);
    CHECK_EQ_INT(b->retries, 2);
    CHECK_EQ_INT(b->nheaders, 0);
    CHECK_EQ_INT(b->trim.drop_labels, 1);
    CHECK_EQ_INT(b->trim.keep_frames, 0);
    CHECK_EQ_INT(b->trim.strip_addresses, 1);
    CHECK(!strcmp(b->repository, "http://github.com/my-org/my-repo"));
    /* forge github: GitHub's http URL is cloned over https (the token never goes in clear) */
    CHECK_EQ_INT(b->repo.kind, CPGO_REPO_HTTPS);
    CHECK(!strcmp(b->repo.url, "https://github.com/my-org/my-repo"));
    CHECK(!strcmp(b->repo.host, "github.com"));
    CHECK(!strcmp(b->repo.path, "my-org/my-repo"));
    CHECK(!strcmp(b->target_file, "default.pgo"));
    CHECK(!strcmp(b->target_branch, "main"));
    CHECK(b->head_branch == NULL);
    CHECK_EQ_INT(b->min_interval_ms, 3600000);
    CHECK_EQ_INT(b->forge, CPGO_FORGE_GITHUB);
    CHECK_EQ_INT(b->target, 0);
    CHECK_EQ_INT(b->line, 6);
    CHECK_EQ_INT(b->column, 3);
    CHECK_EQ_INT(c->ntargets, 1);
    const struct cpgo_target_cfg *t = &c->targets[0];
    CHECK(!strcmp(t->key, "github.com/my-org/my-repo@main:default.pgo"));
    char id[17];
    snprintf(id, sizeof id, "%016" PRIx64, fnv1a(t->key));
    CHECK(!strcmp(t->id, id));
    CHECK_EQ_INT(strlen(t->id), 16);
    CHECK_EQ_INT(t->nbackends, 1);
    CHECK_EQ_INT(t->backends[0], 0);
    CHECK(!strcmp(t->target_branch, "main") && !strcmp(t->target_file, "default.pgo"));
    CHECK(t->head_branch == NULL);
    CHECK_EQ_INT(t->forge, CPGO_FORGE_GITHUB);
    CHECK_EQ_INT(t->min_interval_ms, 3600000);
    CHECK(t->trim.drop_labels == 1 && t->trim.keep_frames == 0 && t->trim.strip_addresses == 1);
    CHECK(!strcmp(t->repo.path, "my-org/my-repo"));
    cpgo_config_free(c);
}

static void test_state_dir_default(void)
{
    unsetenv("XDG_STATE_HOME");
    setenv("HOME", "/home/someone", 1);
    struct cpgo_config *c = parse_ok(B_MIN);
    if (c)
        CHECK(!strcmp(c->state_dir,
                      geteuid() == 0 ? "/var/lib/cpgo" : "/home/someone/.local/state/cpgo"));
    cpgo_config_free(c);
    unsetenv("HOME");
    c = parse_ok(B_MIN);
    if (c) CHECK(!strcmp(c->state_dir, "/var/lib/cpgo"));
    cpgo_config_free(c);
    setenv("XDG_STATE_HOME", "/tmp/xdg-state", 1);
    c = parse_ok("state_dir: state\n" B_MIN);
    if (c) CHECK(!strcmp(c->state_dir, BASE "/state"));
    cpgo_config_free(c);
    c = parse_ok("state_dir: /srv/cpgo\n" B_MIN);
    if (c) CHECK(!strcmp(c->state_dir, "/srv/cpgo"));
    cpgo_config_free(c);
}

/* Every extension key, with values that differ from the defaults. */
static void test_all_keys(void)
{
    const char *y = "state_dir: /srv/cpgo\n"
                    "listen: 0.0.0.0:9090\n"
                    "log:\n"
                    "  level: debug\n"
                    "  format: json\n"
                    "shutdown_timeout: 1m30s\n"
                    "limits:\n"
                    "  max_body_bytes: 32MiB\n"
                    "  max_decompressed_bytes: 1GB\n"
                    "  max_decode_memory_bytes: \"512 MiB\"\n"
                    "  max_samples: 100\n"
                    "  max_locations: 200\n"
                    "  max_functions: 300\n"
                    "  max_mappings: 400\n"
                    "  max_strings: 500\n"
                    "  max_concurrent_scrapes: 16\n"
                    "  max_queued_bodies: 8\n"
                    "  max_queued_bytes: 1048576\n"
                    "github:\n"
                    "  api_url: https://ghe.example.com/api/v3/\n"
                    "  token_env: GHE_TOKEN\n"
                    "  token_file: secrets/token\n"
                    "backends:\n"
                    "- name: checkout-1\n"
                    "  url: https://10.0.0.1:8443/debug/pprof/profile?debug=0&seconds=10\n"
                    "  schedule: '@every 5m'\n"
                    "  timeout: 20s\n"
                    "  connect_timeout: 2s\n"
                    "  retries: 0\n"
                    "  headers:\n"
                    "    Authorization: Bearer abc\n"
                    "    X-Env: prod\n"
                    "  drop_labels: false\n"
                    "  keep_frames: 5\n"
                    "  strip_addresses: false\n"
                    "  open_pull_request:\n"
                    "    repository: git@ghe.example.com:shop/checkout.git\n"
                    "    target_file: cmd/checkout/default.pgo\n"
                    "    target_branch: release/2024\n"
                    "    head_branch: bot/pgo\n"
                    "    min_interval: 24h\n"
                    "    forge: github\n";
    struct cpgo_config *c = parse_ok(y);
    if (!c) return;
    CHECK(!strcmp(c->state_dir, "/srv/cpgo"));
    CHECK(!strcmp(c->listen, "0.0.0.0:9090"));
    CHECK_EQ_INT(c->log_level, CPGO_LOG_DEBUG);
    CHECK_EQ_INT(c->log_format, CPGO_LOG_JSON);
    CHECK_EQ_INT(c->shutdown_timeout_ms, 90000);
    CHECK_EQ_INT(c->limits.profile.max_compressed, 32u << 20);
    CHECK_EQ_INT(c->limits.profile.max_decompressed, 1000000000);
    CHECK_EQ_INT(c->limits.profile.max_decode_memory, 512u << 20);
    CHECK_EQ_INT(c->limits.profile.max_samples, 100);
    CHECK_EQ_INT(c->limits.profile.max_locations, 200);
    CHECK_EQ_INT(c->limits.profile.max_functions, 300);
    CHECK_EQ_INT(c->limits.profile.max_mappings, 400);
    CHECK_EQ_INT(c->limits.profile.max_strings, 500);
    CHECK_EQ_INT(c->limits.max_concurrent_scrapes, 16);
    CHECK_EQ_INT(c->limits.max_queued_bodies, 8);
    CHECK_EQ_INT(c->limits.max_queued_bytes, 1048576);
    CHECK(!strcmp(c->github.api_url, "https://ghe.example.com/api/v3"));
    CHECK(!strcmp(c->github.token_env, "GHE_TOKEN"));
    CHECK(!strcmp(c->github.token_file, BASE "/secrets/token"));
    const struct cpgo_backend_cfg *b = &c->backends[0];
    CHECK(!strcmp(b->name, "checkout-1"));
    CHECK_EQ_INT(b->seconds, 10);
    CHECK_EQ_INT(b->timeout_ms, 20000);
    CHECK_EQ_INT(b->connect_timeout_ms, 2000);
    CHECK_EQ_INT(b->retries, 0);
    CHECK_EQ_INT(b->nheaders, 2);
    if (b->nheaders == 2) {
        CHECK(!strcmp(b->headers[0].name, "Authorization"));
        CHECK(!strcmp(b->headers[0].value, "Bearer abc"));
        CHECK(!strcmp(b->headers[1].name, "X-Env") && !strcmp(b->headers[1].value, "prod"));
    }
    CHECK(b->trim.drop_labels == 0 && b->trim.keep_frames == 5 && b->trim.strip_addresses == 0);
    CHECK_EQ_INT(b->repo.kind, CPGO_REPO_SSH);
    CHECK(!strcmp(b->repo.path, "shop/checkout"));
    CHECK(!strcmp(b->target_file, "cmd/checkout/default.pgo"));
    CHECK(!strcmp(b->target_branch, "release/2024"));
    CHECK(!strcmp(b->head_branch, "bot/pgo"));
    CHECK_EQ_INT(b->min_interval_ms, 24 * 3600000LL);
    CHECK_EQ_INT(b->forge, CPGO_FORGE_GITHUB);
    CHECK(!strcmp(c->targets[0].key, "ghe.example.com/shop/checkout@release/2024:"
                                     "cmd/checkout/default.pgo"));
    CHECK(!strcmp(c->targets[0].head_branch, "bot/pgo"));
    CHECK(c->targets[0].trim.keep_frames == 5 && c->targets[0].trim.drop_labels == 0);
    cpgo_config_free(c);

    /* small things: ":port" is every interface (kept as written), sizes as integers, enum case,
     * !!str, null listen */
    c = parse_ok("listen: ':8080'\nlog: {level: WARN}\nlimits: {max_body_bytes: 1000}\n" B_MIN);
    if (c) {
        CHECK(!strcmp(c->listen, ":8080"));
        CHECK_EQ_INT(c->log_level, CPGO_LOG_WARN);
        CHECK_EQ_INT(c->limits.profile.max_compressed, 1000);
    }
    cpgo_config_free(c);
    c = parse_ok("listen: null\nlog:\n" B_HEAD "  open_pull_request:\n"
                 "    repository: !!str https://github.com/org/app\n"
                 "    target_branch: !!str 2024\n");
    if (c) {
        CHECK(c->listen == NULL);
        CHECK(!strcmp(c->backends[0].target_branch, "2024"));
    }
    cpgo_config_free(c);
    c = parse_ok("listen: '[::1]:0'\n" B_MIN);
    if (c) CHECK(!strcmp(c->listen, "[::1]:0"));
    cpgo_config_free(c);
}

/* Local repositories default to forge local; relative paths resolve against base_dir. */
static void test_local_forge(void)
{
    struct cpgo_config *c = parse_ok(B_HEAD "  open_pull_request:\n    repository: ./repo\n");
    if (c) {
        CHECK_EQ_INT(c->backends[0].forge, CPGO_FORGE_LOCAL);
        CHECK_EQ_INT(c->backends[0].repo.kind, CPGO_REPO_FILE);
        CHECK(!strcmp(c->backends[0].repo.url, BASE "/repo"));
        /* no target_branch: the repository's default branch, resolved at run time */
        CHECK(!strcmp(c->targets[0].key, "local/etc/cpgo/repo@<default>:default.pgo"));
        CHECK(c->targets[0].target_branch == NULL && c->targets[0].branch_default);
        CHECK(c->backends[0].target_branch == NULL);
        CHECK_EQ_INT(cpgo_config_unresolved(c), 1);
        CHECK_EQ_INT(c->targets[0].forge, CPGO_FORGE_LOCAL);
    }
    cpgo_config_free(c);
    c = parse_ok(B_MIN "    forge: local\n");
    if (c) CHECK_EQ_INT(c->backends[0].forge, CPGO_FORGE_LOCAL);
    cpgo_config_free(c);
    expect_error(B_HEAD "  open_pull_request:\n    repository: /srv/repo\n    forge: github\n",
                 NAME ":6:12: backends[0].open_pull_request.forge: github needs a repository on "
                      "a server");
    /* the head branch is force-pushed: never the target branch, whatever the forge (run
     * refuses it when publishing; check-config and run's start refuse it up front) */
    expect_error(B_HEAD "  open_pull_request:\n    repository: /srv/repo\n    head_branch: main\n"
                        "    target_branch: main\n",
                 NAME ":6:18: backends[0].open_pull_request.head_branch: 'main' is the target "
                      "branch; cpgo force-pushes the head branch");
    expect_error(B_MIN "    head_branch: main\n    target_branch: main\n",
                 NAME ":6:18: backends[0].open_pull_request.head_branch: 'main' is the target "
                      "branch");
    expect_error(B_HEAD "  open_pull_request:\n    repository: /srv/repo\n    forge: local\n"
                        "    target_branch: dev\n    head_branch: dev\n",
                 NAME ":8:18: backends[0].open_pull_request.head_branch: 'dev' is the target "
                      "branch");
    /* through defaults: too, naming where it came from */
    expect_error("defaults:\n  open_pull_request:\n    head_branch: main\n" B_HEAD
                 "  open_pull_request:\n    repository: /srv/repo\n    target_branch: main\n",
                 "backends[0].open_pull_request.head_branch: 'main'");
}

/* ---------------------------------------------------------------------------------------- */

static void test_messages(void)
{
    /* the example of the issue, to the column */
    expect_error("---\n"
                 "backends:\n"
                 "  - url: http://localhost:6060/debug/pprof/profile\n"
                 "    schedule: '*/5 * * * *'\n"
                 "    open_pull_request:\n"
                 "      repository: https://github.com/org/app\n"
                 "    timeout: 45\n",
                 "config.yaml:7:14: backends[0].timeout: '45' is not a duration (e.g. 45s)");
    expect_error(B_MIN "  timeout: soon\n",
                 NAME ":6:12: backends[0].timeout: 'soon' is not a duration (e.g. 45s)");
    expect_error(B_MIN "  timeout: -5s\n", "'-5s' is not a duration");
    expect_error(B_MIN "  connect_timeout: 5ms\n",
                 NAME ":6:20: backends[0].connect_timeout: '5ms' is out of range (10ms to 10m0s)");
    expect_error(B_MIN "  retries: 11\n",
                 NAME ":6:12: backends[0].retries: '11' is out of range (0 to 10)");
    expect_error(B_MIN "  retries: -1\n", "'-1' is out of range (0 to 10)");
    expect_error(B_MIN "  retries: '3'\n",
                 NAME ":6:12: backends[0].retries: '3' is quoted; write the integer without "
                      "quotes");
    expect_error(B_MIN "  retries: many\n", "backends[0].retries: 'many' is not an integer");
    expect_error(B_MIN "  retries: 2.5\n", "'2.5' is not an integer");
    expect_error(B_MIN "  drop_labels: yes\n",
                 NAME ":6:16: backends[0].drop_labels: 'yes' is not true or false");
    expect_error(B_MIN "  drop_labels: 'true'\n", "'true' is not true or false");
    expect_error("log:\n  level: verbose\n" B_MIN,
                 NAME ":2:10: log.level: 'verbose' is not one of debug, info, warn, error");
    expect_error("log:\n  format: xml\n" B_MIN, "log.format: 'xml' is not one of logfmt, json");
    /* forge github never sends the token to another host */
    expect_error(B_HEAD "  open_pull_request:\n    repository: https://git.example.com/org/app\n",
                 NAME ":5:17: backends[0].open_pull_request.repository: "
                      "'https://git.example.com/org/app' is not on github.com");
    expect_error("github: {api_url: 'https://ghe.example.com/api/v3'}\n" B_MIN,
                 "is not on ghe.example.com, the git host of github.api_url");
    cpgo_config_free(parse_ok("github: {api_url: 'https://ghe.example.com/api/v3'}\n" B_HEAD
                              "  open_pull_request:\n    repository: "
                              "https://ghe.example.com/org/app\n"));
    cpgo_config_free(parse_ok(B_HEAD "  open_pull_request:\n    repository: "
                                     "https://gitlab.com/org/app\n    forge: local\n"));
    expect_error(B_MIN "    forge: bitbucket\n",
                 "open_pull_request.forge: 'bitbucket' is not one of github, gitlab, gitea, local");
    expect_error("shutdown_timeout: 0s\n" B_MIN,
                 NAME ":1:19: shutdown_timeout: '0s' is out of range (100ms to 1h0m0s)");
    expect_error("limits:\n  max_body_bytes: lots\n" B_MIN,
                 NAME ":2:19: limits.max_body_bytes: 'lots' is not a size (e.g. 64MiB)");
    expect_error("limits:\n  max_body_bytes: 0\n" B_MIN,
                 "limits.max_body_bytes: '0' is out of range");
    expect_error("limits:\n  max_concurrent_scrapes: 0\n" B_MIN,
                 "limits.max_concurrent_scrapes: '0' is out of range (1 to 65536)");
    expect_error("limits:\n  max_samples: 10MiB\n" B_MIN,
                 "limits.max_samples: '10MiB' is not an integer");
    expect_error(B_MIN "    min_interval: 2y\n",
                 "open_pull_request.min_interval: '2y' is not a duration");
    expect_error(B_MIN "  keep_frames: 1\n",
                 NAME ":6:16: backends[0].keep_frames: 1 is not allowed: 0 keeps every frame, "
                      "otherwise keep at least 2");
    expect_error(B_MIN "  keep_frames: 2000\n", "'2000' is out of range (0, or 2 to 1024)");
    struct cpgo_config *c = parse_ok(B_MIN "  keep_frames: 2\n");
    if (c) CHECK_EQ_INT(c->backends[0].trim.keep_frames, 2);
    cpgo_config_free(c);
    expect_error(B_MIN "  name: two words\n",
                 NAME ":6:9: backends[0].name: 'two words' is not a valid name");
    expect_error("listen: localhost\n" B_MIN,
                 NAME ":1:9: listen: 'localhost' is not host:port (e.g. 127.0.0.1:8080 or :8080)");
    expect_error("listen: ':99999'\n" B_MIN, "is not host:port");
    /* names are not resolved: the error says so at load, not when the daemon starts */
    expect_error("listen: 'admin.example.com:9090'\n" B_MIN,
                 NAME ":1:9: listen: 'admin.example.com:9090': the host must be a numeric address "
                      "or localhost (':9090' for every interface, '127.0.0.1:9090' for loopback)");
    expect_error("listen: '[fe80::1::2]:9090'\n" B_MIN, "the host must be a numeric address");
    expect_error("github:\n  token_env: 'GITHUB-TOKEN'\n" B_MIN, NAME
                 ":2:14: github.token_env: 'GITHUB-TOKEN' is not an environment variable name");
    expect_error(
        "github:\n  api_url: https://x:y@ghe.example.com/api/v3\n" B_MIN,
        "github.api_url: 'https://x:xxxxx@ghe.example.com/api/v3' must be a plain base URL");
    expect_error("github:\n  api_url: api.github.com\n" B_MIN,
                 "github.api_url: 'api.github.com' is not an http or https URL");
}

static void test_keys(void)
{
    expect_error(B_MIN "  scheduel: '@hourly'\n",
                 NAME ":6:3: backends[0].scheduel: unknown key; did you mean 'schedule'?");
    expect_error(B_MIN "  timout: 45s\n",
                 "backends[0].timout: unknown key; did you mean 'timeout'?");
    expect_error(B_MIN "    target_fil: x.pgo\n",
                 NAME ":6:5: backends[0].open_pull_request.target_fil: unknown key; did you mean "
                      "'target_file'?");
    expect_error("lmits:\n  max_samples: 5\n" B_MIN,
                 NAME ":1:1: lmits: unknown key; did you mean 'limits'?");
    expect_error("limits:\n  max_sample: 5\n" B_MIN,
                 NAME ":2:3: limits.max_sample: unknown key; did you mean 'max_samples'?");
    expect_error(B_MIN "  frobnicate: 1\n", NAME ":6:3: backends[0].frobnicate: unknown key");
    CHECK(expect_error(B_MIN "  frobnicate: 1\n", "unknown key") == 1);
    /* a known key at the wrong level */
    expect_error(B_MIN "  target_file: x.pgo\n",
                 "backends[0].target_file: unknown key here; did you mean "
                 "'open_pull_request.target_file'?");
    expect_error("schedule: '@hourly'\n" B_MIN,
                 NAME ":1:1: schedule: unknown key here; 'schedule' is a backend setting");
    expect_error("defaults:\n  log: {level: info}\n" B_MIN, "defaults.log: unknown key");
    /* the original tool's flag as a key: a token */
    expect_error("githubToken: ghp_123\n" B_MIN, NAME ":1:1: githubToken: tokens must not be");
}

static void test_tokens(void)
{
    const char *y = "github:\n  token: ghp_SuperSecretValue123\n" B_MIN;
    size_t n =
        expect_error(y, NAME ":2:3: github.token: tokens must not be written in the "
                             "configuration; put the token in the environment "
                             "(github.token_env names the variable, default GITHUB_TOKEN) or "
                             "in a file (github.token_file)");
    CHECK_EQ_INT(n, 1);
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    cpgo_config_parse(y, strlen(y), NAME, BASE, &c, &e);
    for (size_t i = 0; i < e.n; i++)
        CHECK(!strstr(e.lines[i], "SuperSecret"));
    cpgo_config_errors_free(&e);
    expect_error(B_MIN "  token: abc\n", "backends[0].token: tokens must not be written");
    expect_error(B_MIN "    github_token: abc\n",
                 "backends[0].open_pull_request.github_token: tokens must not be written");
    expect_error("defaults:\n  api_token: x\n" B_MIN, "defaults.api_token: tokens must not be");
}

static void test_types(void)
{
    expect_error("backends: http://localhost:6060/\n",
                 NAME ":1:11: backends: expected a list, got a single value");
    expect_error("backends:\n  url: http://x/\n",
                 NAME ":2:3: backends: expected a list, got a mapping");
    expect_error("backends:\n- http://localhost:6060/\n",
                 NAME ":2:3: backends[0]: expected a mapping (url, schedule, open_pull_request), "
                      "got a single value");
    expect_error("backends:\n-\n", "backends[0]: expected a mapping (url, schedule, "
                                   "open_pull_request), got nothing");
    expect_error(B_HEAD "  open_pull_request: https://github.com/org/app\n", NAME
                 ":4:22: backends[0].open_pull_request: expected a mapping, got a single value");
    expect_error(B_MIN "  headers: [a, b]\n",
                 NAME ":6:12: backends[0].headers: expected a mapping (Name: value), got a list");
    expect_error("backends:\n- url: [http://x/]\n  schedule: '@hourly'\n" OPR,
                 NAME ":2:8: backends[0].url: expected a string, got a list");
    expect_error(B_MIN "  timeout: {s: 1}\n",
                 "backends[0].timeout: expected a duration (e.g. 45s), got a mapping");
    expect_error(B_MIN "  timeout:\n", NAME ":6:11: backends[0].timeout: needs a value");
    expect_error("log: debug\n" B_MIN, NAME ":1:6: log: expected a mapping, got a single value");
    expect_error("- a\n- b\n",
                 NAME ":1:1: the configuration must be a mapping (backends: ...), not a list");
    expect_error("? [a]\n: 1\n" B_MIN, NAME ":1:3: keys must be plain names, not a list");
}

static void test_structure(void)
{
    expect_error(B_MIN "  timeout: 20s\n  timeout: 30s\n",
                 NAME ":7:3: backends[0].timeout: duplicate key (first at line 6)");
    expect_error("log:\n  level: info\nlog:\n  level: debug\n" B_MIN,
                 NAME ":3:1: log: duplicate key (first at line 1)");
    expect_error(B_MIN "    target_file: a.pgo\n    target_file: b.pgo\n",
                 NAME ":7:5: backends[0].open_pull_request.target_file: duplicate key");
    expect_error("x: &anchor 1\n" B_MIN,
                 NAME ":1:4: x: anchors and aliases are not allowed: anchor 'anchor'");
    expect_error("backends:\n- &b\n  url: " URL30 "\n  schedule: '@hourly'\n" OPR "- *b\n",
                 "backends[0]: anchors and aliases are not allowed: anchor 'b'");
    expect_error("backends:\n- &b\n  url: " URL30 "\n  schedule: '@hourly'\n" OPR "- *b\n",
                 NAME ":7:3: backends[1]: anchors and aliases are not allowed: alias 'b'");
    expect_error(B_HEAD "  <<: *base\n" OPR, "anchors and aliases are not allowed: alias 'base'");
    expect_error(B_MIN "  retries: !custom 3\n",
                 NAME ":6:12: backends[0].retries: only the standard tags");
    expect_error("%TAG !! tag:example.com,2000:\n---\n" B_MIN "  retries: !!int 3\n",
                 "only the standard tags");
    expect_error("backends: !!map\n  a: 1\n", "backends: expected a list, got a mapping");
    expect_error("backends: !!seq {a: 1}\n", "only the standard tags");
    struct cpgo_config *c = parse_ok(B_MIN "  retries: !!int 3\n");
    if (c) CHECK_EQ_INT(c->backends[0].retries, 3);
    cpgo_config_free(c);
    expect_error(B_MIN "---\n" B_MIN, NAME ":6:1: only one YAML document is allowed");
    expect_error(B_MIN "  timeout: [45s\n", NAME ":7:1: YAML syntax error");
    expect_error("backends:\n- url: 'unterminated\n", "YAML syntax error");
    expect_error("a: \"\\0\"\n" B_MIN, NAME ":1:4: a: a value must not contain a NUL character");
    expect_error("a: \xc3\x28\n" B_MIN,
                 NAME ":1:5: YAML syntax error: invalid trailing UTF-8 octet");

    /* nesting: 16 levels are parsed (the key is then unknown), 17 are refused */
    char y[512];
    snprintf(y, sizeof y, "%sx: %.15s1%.15s\n", B_MIN, "[[[[[[[[[[[[[[[[", "]]]]]]]]]]]]]]]]");
    expect_error(y, NAME ":6:1: x: unknown key");
    snprintf(y, sizeof y, "%sx: %.16s1%.16s\n", B_MIN, "[[[[[[[[[[[[[[[[", "]]]]]]]]]]]]]]]]");
    expect_error(y, NAME ":6:19: x[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nesting deeper "
                         "than 16 levels");

    /* size: over 4 MiB refused before parsing */
    size_t big = (4u << 20) + 1;
    char *text = malloc(big);
    if (text) {
        memset(text, '#', big);
        expect_error_at(text, big, NAME ": the file is 4194305 bytes; the limit is 4 MiB",
                        __LINE__);
        /* exactly 4 MiB of comments is parsed (and lacks backends) */
        memset(text, ' ', 4u << 20);
        memcpy(text, "# a", 3);
        expect_error_at(text, 4u << 20, NAME ":1:1: backends: required", __LINE__);
        free(text);
    }
}

static void test_backends_list(void)
{
    expect_error("", NAME ":1:1: backends: required (the list of backends to scrape)");
    expect_error("# nothing\n", "backends: required");
    expect_error("log:\n  level: info\n", NAME ":1:1: backends: required");
    expect_error("backends: []\n",
                 NAME ":1:11: backends: the list is empty; at least one backend is required");
    expect_error("backends:\n", "backends: the list is empty");
    expect_error("backends: ~\n", "backends: the list is empty");
    expect_error("backends:\n- schedule: '@hourly'\n" OPR, NAME ":2:3: backends[0].url: required");
    expect_error("backends:\n- url: " URL30 "\n" OPR, NAME ":2:3: backends[0].schedule: required");
    expect_error(B_HEAD, NAME ":2:3: backends[0].open_pull_request.repository: required");
    /* at most 10000 backends */
    static const char one[] = "- {url: 'http://a/x', schedule: '@hourly', open_pull_request: "
                              "{repository: /r}}\n";
    size_t cap = 16 + 10001 * (sizeof one - 1) + 1, len = 0;
    char *big = malloc(cap);
    len += (size_t)snprintf(big, cap, "backends:\n");
    for (int i = 0; i < 10000; i++)
        len += (size_t)snprintf(big + len, cap - len, "%s", one);
    struct cpgo_config *c = parse_ok(big);
    if (c) CHECK(c->nbackends == 10000 && !strcmp(c->backends[9999].name, "a:80#10000"));
    cpgo_config_free(c);
    snprintf(big + len, cap - len, "%s", one);
    expect_error(big, NAME ":2:1: backends: 10001 backends; at most 10000 are allowed");
    free(big);
    expect_error(B_HEAD "  open_pull_request:\n    target_file: a.pgo\n",
                 NAME ":5:5: backends[0].open_pull_request.repository: required");
}

static void test_urls(void)
{
    expect_error("backends:\n- url: ftp://localhost/x\n  schedule: '@hourly'\n" OPR,
                 NAME ":2:8: backends[0].url: 'ftp://localhost/x' is not an http or https URL");
    expect_error(
        "backends:\n- url: localhost:6060/debug/pprof/profile\n  schedule: '@hourly'\n" OPR,
        "is not an http or https URL");
    expect_error("backends:\n- url: http:///debug/pprof/profile\n  schedule: '@hourly'\n" OPR,
                 "backends[0].url: 'http:///debug/pprof/profile' has no host");
    expect_error("backends:\n- url: http://h:0/x\n  schedule: '@hourly'\n" OPR,
                 "has an invalid port");
    expect_error("backends:\n- url: http://h/x?seconds=abc\n  schedule: '@hourly'\n" OPR,
                 "has a seconds= parameter that is not a whole number from 1 to 3600");
    expect_error("backends:\n- url: http://h/x?seconds=0\n  schedule: '@hourly'\n" OPR,
                 "seconds= parameter");
    expect_error("backends:\n- url: http://h/x?seconds=5&seconds=6\n  schedule: '@hourly'\n" OPR,
                 "has seconds= twice");
    expect_error("backends:\n- url: \"http://h/x y\"\n  schedule: '@hourly'\n" OPR,
                 "contains spaces or control characters");
    /* The configuration reads a URL as libcurl, which fetches it, does: libcurl takes the
     * first '@' and refuses the host "ss@host", so the configuration refuses it too (it
     * used to take the last '@' and accept a URL no scrape could fetch), and the message
     * shows no piece of the password. */
    const char *at2 = "backends:\n- url: http://u:p@ssw0rd@host/x\n  schedule: '@hourly'\n" OPR;
    expect_error(at2, "backends[0].url: 'http://xxxxx@host/x' has an invalid host (a '@' or "
                      "':' in a user name or password must be written %40 or %3A)");
    static const char *const tricky[] = {
        "http://u:p@ssw0rd@host/x",
        "http://u:p%40ssw0rd@host/x",
        "http://u@x:pw@host/x",
        "http://u:p/ss@host/x",
        "http://h_x.example:99999/x",
        "http://[::1]:6060/x",
        "http://[::1/x",
        "http://%41b.example/x",
        "http://:pw@h.example/x",
    };
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
        char yt[256];
        snprintf(yt, sizeof yt, "backends:\n- url: '%s'\n  schedule: '@hourly'\n" OPR, tricky[i]);
        struct cpgo_config *ct = NULL;
        struct cpgo_config_errors et;
        int ours = cpgo_config_parse(yt, strlen(yt), NAME, BASE, &ct, &et);
        CURLU *h = curl_url();
        int theirs = curl_url_set(h, CURLUPART_URL, tricky[i], 0) == CURLUE_OK ? 0 : -1;
        if (!ours && ct) { /* accepted: libcurl parses it, to the same host and port */
            char *host = NULL, *port = NULL;
            CHECK_EQ_INT(theirs, 0);
            curl_url_get(h, CURLUPART_HOST, &host, 0);
            curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
            char want[300];
            snprintf(want, sizeof want, "%s:%s", host ? host : "?", port ? port : "?");
            for (char *p = want; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            CHECK(!strcmp(ct->backends[0].name, want));
            curl_free(host);
            curl_free(port);
        } else if (theirs) { /* libcurl refuses it: so does the configuration */
            CHECK(ours != 0);
        }
        for (size_t k = 0; k < et.n; k++)
            CHECK(!strstr(et.lines[k], "ssw0rd"));
        cpgo_config_errors_free(&et);
        cpgo_config_free(ct);
        curl_url_cleanup(h);
    }
    /* a password in the URL is allowed, and masked in messages */
    const char *y = "backends:\n- url: http://u:s3cretpw@h:6060/x?seconds=abc\n  schedule: "
                    "'@hourly'\n" OPR;
    expect_error(y, "'http://u:xxxxx@h:6060/x?seconds=abc' has a seconds=");
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    cpgo_config_parse(y, strlen(y), NAME, BASE, &c, &e);
    for (size_t i = 0; i < e.n; i++)
        CHECK(!strstr(e.lines[i], "s3cretpw"));
    cpgo_config_errors_free(&e);
    c = parse_ok(
        "backends:\n- url: https://u:s3cretpw@H.example:6060/x\n  schedule: '@hourly'\n" OPR);
    if (c) {
        CHECK(!strcmp(c->backends[0].name, "h.example:6060"));
        CHECK_EQ_INT(c->backends[0].seconds, 30);
    }
    cpgo_config_free(c);
    c = parse_ok("backends:\n- url: https://h.example/x?seconds=20\n  schedule: '@hourly'\n" OPR);
    if (c) {
        CHECK(!strcmp(c->backends[0].name, "h.example:443"));
        CHECK_EQ_INT(c->backends[0].seconds, 20);
        CHECK_EQ_INT(c->backends[0].timeout_ms, 35000);
    }
    cpgo_config_free(c);
}

/* timeout > seconds, timeout <= the schedule's period (a default clamped to it, as Prometheus
 * clamps scrape_timeout), connect_timeout <= timeout. */
static void test_timeouts(void)
{
    expect_error(B_MIN "  timeout: 30s\n",
                 NAME ":6:12: backends[0].timeout: 30s must be longer than the profile's 30 "
                      "seconds");
    expect_error(B_MIN "  timeout: 10s\n", "must be longer than the profile's 30 seconds");
    /* a written timeout that does not fit stays an error */
    expect_error(B_MIN "  timeout: 61s\n",
                 NAME ":6:12: backends[0].timeout: 1m1s must not be longer than the schedule's "
                      "shortest period (1m0s between '* * * * *' firings)");
    struct cpgo_config *c = parse_ok(B_MIN "  timeout: 59s\n");
    if (c) CHECK_EQ_INT(c->backends[0].timeout_ms, 59000);
    cpgo_config_free(c);
    c = parse_ok(B_MIN "  timeout: 60s\n"); /* equal fits, as in Prometheus */
    if (c) CHECK_EQ_INT(c->backends[0].timeout_ms, 60000);
    cpgo_config_free(c);
    /* the default timeout (seconds + 15 s) past an every-minute schedule: the period */
    c = parse_ok("backends:\n- url: http://h/x?seconds=50\n  schedule: '* * * * *'\n" OPR);
    if (c) CHECK_EQ_INT(c->backends[0].timeout_ms, 60000);
    cpgo_config_free(c);
    c = parse_ok("backends:\n- url: http://h/x?seconds=50\n  schedule: '*/2 * * * *'\n" OPR);
    if (c) CHECK_EQ_INT(c->backends[0].timeout_ms, 65000);
    cpgo_config_free(c);
    c = parse_ok("backends:\n- url: http://h/x\n  schedule: '@every 40s'\n" OPR);
    if (c) CHECK_EQ_INT(c->backends[0].timeout_ms, 40000);
    cpgo_config_free(c);
    /* a schedule not longer than the profile stays an error, said at the schedule */
    expect_error("backends:\n- url: http://h/x\n  schedule: '@every 30s'\n" OPR,
                 NAME ":3:13: backends[0].schedule: '@every 30s' fires 30s apart, not longer "
                      "than the profile's 30 seconds (seconds= in url)");
    expect_error("backends:\n- url: http://h/x?seconds=90\n  schedule: '* * * * *'\n" OPR,
                 "backends[0].schedule: '* * * * *' fires 1m0s apart, not longer than the "
                 "profile's 90 seconds");
    /* with a written timeout, the timeout is what is wrong */
    expect_error("backends:\n- url: http://h/x\n  schedule: '@every 30s'\n  timeout: 31s\n" OPR,
                 NAME ":4:12: backends[0].timeout: 31s must not be longer than the schedule's");
    expect_error(B_MIN "  timeout: 40s\n  connect_timeout: 50s\n",
                 NAME ":7:20: backends[0].connect_timeout: 50s must not be longer than timeout "
                      "(40s)");
    /* a default connect_timeout never conflicts */
    c = parse_ok(
        "backends:\n- url: http://h/x?seconds=1\n  schedule: '@hourly'\n  timeout: 5s\n" OPR);
    if (c) CHECK_EQ_INT(c->backends[0].connect_timeout_ms, 5000);
    cpgo_config_free(c);
    expect_error("backends:\n- url: " URL30 "\n  schedule: '61 * * * *'\n" OPR,
                 NAME ":3:13: backends[0].schedule: '61 * * * *': minute field");
    expect_error("backends:\n- url: " URL30 "\n  schedule: '0 0 30 2 *'\n" OPR,
                 "backends[0].schedule: '0 0 30 2 *'");
}

static void test_paths_and_branches(void)
{
    expect_error(B_MIN "    target_file: /default.pgo\n",
                 NAME ":6:18: backends[0].open_pull_request.target_file: '/default.pgo' must be "
                      "a relative path inside the repository");
    expect_error(B_MIN "    target_file: a/../../b.pgo\n", "'a/../../b.pgo' must not contain '..'");
    expect_error(B_MIN "    target_file: ../b.pgo\n", "must not contain '..'");
    expect_error(B_MIN "    target_file: .git/hooks/x\n", "must not be inside .git");
    expect_error(B_MIN "    target_file: a//b.pgo\n", "empty path segments");
    expect_error(B_MIN "    target_file: a/\n", "empty path segments");
    expect_error(B_MIN "    target_file: ./a.pgo\n", "must not contain '.' segments");
    expect_error(B_MIN "    target_file: ''\n", "target_file: '' is empty");
    struct cpgo_config *c = parse_ok(B_MIN "    target_file: cmd/app/default.pgo\n");
    if (c) CHECK(!strcmp(c->backends[0].target_file, "cmd/app/default.pgo"));
    cpgo_config_free(c);

    static const char *const bad[] = {"ma..in", "-x",   "/x",  "x/",   "x.",   "a b",     "a~b",
                                      "a^b",    "a:b",  "a?b", "a*b",  "a[b",  "a\\\\b",  "a.lock",
                                      "x/.hid", "a//b", "@",   "a@{b", "HEAD", "a/b.lock"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char y[512], needle[128];
        snprintf(y, sizeof y, "%s    target_branch: \"%s\"\n", B_MIN, bad[i]);
        snprintf(needle, sizeof needle, "backends[0].open_pull_request.target_branch: '");
        expect_error(y, needle);
        expect_error(y, "is not a valid branch name (");
    }
    expect_error(B_MIN "    target_branch: ma..in\n",
                 NAME ":6:20: backends[0].open_pull_request.target_branch: 'ma..in' is not a valid "
                      "branch name (must not contain '..')");
    expect_error(B_MIN "    head_branch: 'pgo bot'\n",
                 "backends[0].open_pull_request.head_branch: 'pgo bot' is not a valid branch name");
    /* a ref where a branch name goes: refs/heads/refs/heads/pgo would be pushed */
    expect_error(B_MIN "    head_branch: refs/heads/pgo\n",
                 NAME ":6:18: backends[0].open_pull_request.head_branch: 'refs/heads/pgo' is not "
                      "a valid branch name (must not start with 'refs/'");
    expect_error(B_MIN "    head_branch: refs/pgo\n", "must not start with 'refs/'");
    expect_error(B_MIN "    target_branch: refs/heads/main\n",
                 NAME ":6:20: backends[0].open_pull_request.target_branch: 'refs/heads/main' is "
                      "not a valid branch name (must not start with 'refs/'");
    c = parse_ok(B_MIN "    head_branch: pgo/refs/x\n"); /* only as a prefix */
    cpgo_config_free(c);
    c = parse_ok(B_MIN "    target_branch: release/v1.2\n    head_branch: bots/pgo-v1.2\n");
    if (c) CHECK(!strcmp(c->backends[0].head_branch, "bots/pgo-v1.2"));
    cpgo_config_free(c);
    /* the default head branch is cpgo/<branch>/<file>: it must be a valid name too */
    expect_error(B_MIN "    target_file: .profiles/app.pgo\n",
                 NAME ":6:18: backends[0].open_pull_request.head_branch: the default "
                      "'cpgo/<default>/.profiles/app.pgo' is not a valid branch name");
    expect_error(B_MIN "    target_file: .profiles/app.pgo\n    target_branch: main\n",
                 NAME ":6:18: backends[0].open_pull_request.head_branch: the default "
                      "'cpgo/main/.profiles/app.pgo' is not a valid branch name");
    c = parse_ok(B_MIN "    target_file: .profiles/app.pgo\n    head_branch: pgo/app\n");
    cpgo_config_free(c);
    /* an unparseable repository */
    expect_error(B_HEAD "  open_pull_request:\n    repository: ftp://example.com/org/app\n",
                 NAME ":5:17: backends[0].open_pull_request.repository: repository "
                      "'ftp://example.com/org/app': unsupported scheme ftp");
    expect_error(B_HEAD "  open_pull_request:\n    repository: https://u:pw12345@github.com/o/r\n",
                 "repository 'https://u:xxxxx@github.com/o/r': contains a password");
    expect_error(B_HEAD "  open_pull_request:\n    repository: github.com/org/app\n",
                 "looks like a host name without a scheme");
}

static void test_headers(void)
{
    struct cpgo_config *c =
        parse_ok(B_MIN "  headers:\n    X-Scope-OrgID: team-a\n    Accept: '*/*'\n    X-Num: 5\n");
    if (c) {
        CHECK_EQ_INT(c->backends[0].nheaders, 3);
        CHECK(!strcmp(c->backends[0].headers[2].value, "5"));
    }
    cpgo_config_free(c);
    c = parse_ok(B_MIN "  headers: {}\n");
    if (c) CHECK_EQ_INT(c->backends[0].nheaders, 0);
    cpgo_config_free(c);
    expect_error(B_MIN "  headers:\n    'X Bad': v\n", NAME
                 ":7:5: backends[0].headers: 'X Bad' is not a valid header name (an HTTP token)");
    expect_error(B_MIN "  headers:\n    'X:Bad': v\n", "'X:Bad' is not a valid header name");
    const char *y = B_MIN "  headers:\n    Authorization: \"Bearer abc\\r\\nX-Evil: 1\"\n";
    expect_error(y, NAME ":7:20: backends[0].headers.Authorization: the value contains a line "
                         "break or control character");
    struct cpgo_config_errors e;
    cpgo_config_parse(y, strlen(y), NAME, BASE, &c, &e);
    for (size_t i = 0; i < e.n; i++)
        CHECK(!strstr(e.lines[i], "Bearer"));
    cpgo_config_errors_free(&e);
    expect_error(B_MIN "  headers:\n    X-A: |\n      line1\n      line2\n",
                 "the value contains a line break");
    expect_error(B_MIN "  headers:\n    X-A: 1\n    x-a: 2\n",
                 NAME ":8:5: backends[0].headers.x-a: duplicate header");
    expect_error(B_MIN "  headers:\n    X-A: [1]\n",
                 "backends[0].headers.X-A: expected a string value, got a list");
    expect_error(B_MIN "  headers:\n    X-A:\n",
                 "backends[0].headers.X-A: expected a string value, got nothing");
    char y2[8192];
    int n = snprintf(y2, sizeof y2, "%s  headers:\n", B_MIN);
    for (int i = 0; i < 65; i++)
        n += snprintf(y2 + n, sizeof y2 - (size_t)n, "    X-%d: v\n", i);
    expect_error(y2, "backends[0].headers: more than 64 headers");
}

static void test_names(void)
{
    const char *y = "backends:\n"
                    "- url: http://10.0.0.1:6060/debug/pprof/profile\n  schedule: '@hourly'\n" OPR
                    "- url: http://10.0.0.1:6060/debug/pprof/profile\n  schedule: '@hourly'\n" OPR
                    "- url: http://10.0.0.1:6060/debug/pprof/profile\n  schedule: '@hourly'\n" OPR
                    "- name: 10.0.0.1:6060#4\n"
                    "  url: http://10.0.0.2:6060/debug/pprof/profile\n  schedule: '@hourly'\n" OPR
                    "- url: http://10.0.0.1:6060/debug/pprof/profile\n  schedule: '@hourly'\n" OPR;
    struct cpgo_config *c = parse_ok(y);
    if (c && c->nbackends == 5) {
        CHECK(!strcmp(c->backends[0].name, "10.0.0.1:6060"));
        CHECK(!strcmp(c->backends[1].name, "10.0.0.1:6060#2"));
        CHECK(!strcmp(c->backends[2].name, "10.0.0.1:6060#3"));
        CHECK(!strcmp(c->backends[3].name, "10.0.0.1:6060#4"));
        CHECK(!strcmp(c->backends[4].name, "10.0.0.1:6060#5"));
    }
    cpgo_config_free(c);
    expect_error("backends:\n"
                 "- name: app\n  url: http://a/x\n  schedule: '@hourly'\n" OPR
                 "- name: app\n  url: http://b/x\n  schedule: '@hourly'\n" OPR,
                 NAME ":7:9: backends[1].name: 'app' is also the name of backends[0]");
    /* the longest host gives a default name that is valid (and loads again from a dump) */
    char host[300], y2[1024];
    memset(host, 'h', 253);
    host[253] = 0;
    snprintf(y2, sizeof y2,
             "backends:\n- url: http://%s:65535/x\n  schedule: '@hourly'\n" OPR
             "- url: http://%s:65535/x\n  schedule: '@hourly'\n" OPR,
             host, host);
    c = parse_ok(y2);
    if (c) {
        CHECK_EQ_INT(strlen(c->backends[1].name), 253 + 6 + 2);
        char *d = dump(c);
        struct cpgo_config *c2 = parse_ok(d);
        cpgo_config_free(c2);
        free(d);
    }
    cpgo_config_free(c);
    snprintf(y2, sizeof y2, "backends:\n- url: http://h%s/x\n  schedule: '@hourly'\n" OPR, host);
    expect_error(y2, "has an invalid host");
    expect_error("defaults:\n  name: app\n"
                 "backends:\n"
                 "- url: http://a/x\n  schedule: '@hourly'\n" OPR
                 "- url: http://b/x\n  schedule: '@hourly'\n" OPR,
                 NAME ":2:9: backends[1].name: 'app' (from defaults) is also the name of "
                      "backends[0]");
}

static void test_defaults(void)
{
    const char *y = "defaults:\n"
                    "  schedule: '*/5 * * * *'\n"
                    "  timeout: 50s\n"
                    "  headers:\n"
                    "    X-Team: a\n"
                    "  keep_frames: 5\n"
                    "  open_pull_request:\n"
                    "    repository: https://github.com/org/app\n"
                    "    target_branch: develop\n"
                    "backends:\n"
                    "- url: http://a:6060/debug/pprof/profile\n"
                    "- url: http://b:6060/debug/pprof/profile\n"
                    "  schedule: '@hourly'\n"
                    "  headers: {X-Other: b}\n"
                    "  open_pull_request:\n"
                    "    target_file: b.pgo\n"
                    "- url: http://c:6060/debug/pprof/profile?seconds=10\n"
                    "  timeout: 20s\n"
                    "  open_pull_request:\n"
                    "    repository: https://github.com/org/other\n"
                    "    target_branch: main\n";
    struct cpgo_config *c = parse_ok(y);
    if (c && c->nbackends == 3) {
        const struct cpgo_backend_cfg *a = &c->backends[0], *b = &c->backends[1],
                                      *d = &c->backends[2];
        CHECK(!strcmp(a->schedule_text, "*/5 * * * *") && !strcmp(b->schedule_text, "@hourly"));
        CHECK(a->timeout_ms == 50000 && b->timeout_ms == 50000 && d->timeout_ms == 20000);
        CHECK(a->nheaders == 1 && !strcmp(a->headers[0].name, "X-Team"));
        CHECK(b->nheaders == 1 && !strcmp(b->headers[0].name, "X-Other"));
        CHECK(a->trim.keep_frames == 5 && b->trim.keep_frames == 5 && d->trim.keep_frames == 5);
        CHECK(!strcmp(a->target_branch, "develop") && !strcmp(b->target_branch, "develop"));
        CHECK(!strcmp(d->target_branch, "main"));
        CHECK(!strcmp(a->target_file, "default.pgo") && !strcmp(b->target_file, "b.pgo"));
        CHECK(!strcmp(d->repo.path, "org/other"));
        CHECK_EQ_INT(c->ntargets, 3);
        /* values are copies, not shared */
        CHECK(a->headers != NULL && a->headers != c->backends[0].headers + 1);
    }
    cpgo_config_free(c);
    /* a bad default is reported once, at defaults */
    CHECK_EQ_INT(expect_error("defaults:\n  retries: 99\nbackends:\n"
                              "- url: http://a/x\n  schedule: '@hourly'\n" OPR
                              "- url: http://b/x\n  schedule: '@hourly'\n" OPR,
                              NAME ":2:12: defaults.retries: '99' is out of range (0 to 10)"),
                 1);
    /* an inherited value that conflicts says where it came from */
    expect_error("defaults:\n  timeout: 2m\n" B_MIN,
                 NAME ":2:12: backends[0].timeout: 2m0s (from defaults) must not be longer than "
                      "the schedule's shortest period");
    expect_error("defaults:\n  bogus: 1\n" B_MIN, NAME ":2:3: defaults.bogus: unknown key");
    expect_error("defaults: [1]\n" B_MIN, NAME ":1:11: defaults: expected a mapping, got a list");
}

static void test_targets(void)
{
    const char *y = "backends:\n"
                    "- url: http://a:6060/x\n  schedule: '@hourly'\n"
                    "  open_pull_request:\n    repository: https://github.com/Org/app\n"
                    "- url: http://b:6060/x\n  schedule: '@hourly'\n"
                    "  open_pull_request:\n    repository: git@GitHub.com:Org/app.git\n"
                    "- url: http://c:6060/x\n  schedule: '@hourly'\n"
                    "  open_pull_request:\n    repository: https://github.com/Org/app\n"
                    "    target_file: cmd/b/default.pgo\n"
                    "- url: http://d:6060/x\n  schedule: '@hourly'\n"
                    "  open_pull_request:\n    repository: ssh://git@github.com/Org/app/\n";
    struct cpgo_config *c = parse_ok(y);
    if (c && c->ntargets == 2) {
        const struct cpgo_target_cfg *t0 = &c->targets[0], *t1 = &c->targets[1];
        CHECK(!strcmp(t0->key, "github.com/Org/app@<default>:default.pgo"));
        CHECK(!strcmp(t1->key, "github.com/Org/app@<default>:cmd/b/default.pgo"));
        CHECK(t0->nbackends == 3 && t0->backends[0] == 0 && t0->backends[1] == 1 &&
              t0->backends[2] == 3);
        CHECK(t1->nbackends == 1 && t1->backends[0] == 2);
        CHECK(c->backends[0].target == 0 && c->backends[1].target == 0 &&
              c->backends[2].target == 1 && c->backends[3].target == 0);
        CHECK(!strcmp(t0->repository, "https://github.com/Org/app"));
        CHECK(strcmp(t0->id, t1->id) != 0);
        char id[17];
        snprintf(id, sizeof id, "%016" PRIx64, fnv1a(t1->key));
        CHECK(!strcmp(t1->id, id));
    } else {
        CHECK(c && c->ntargets == 2);
    }
    cpgo_config_free(c);
    /* a target id is stable: the same key gives the same id in another file */
    c = parse_ok("backends:\n- url: http://z/x\n  schedule: '@daily'\n"
                 "  open_pull_request:\n    repository: https://github.com/Org/app.git\n"
                 "    target_branch: main\n");
    if (c) {
        char id[17];
        snprintf(id, sizeof id, "%016" PRIx64, fnv1a("github.com/Org/app@main:default.pgo"));
        CHECK(!strcmp(c->targets[0].id, id));
    }
    cpgo_config_free(c);

    /* backends of one target must trim alike, and agree on the pull request */
    const char *two = "backends:\n"
                      "- url: http://a:6060/x\n  schedule: '@hourly'\n" OPR
                      "- url: http://b:6060/x\n  schedule: '@hourly'\n"
                      "  keep_frames: 5\n"
                      "  drop_labels: false\n" OPR "    min_interval: 2h\n";
    size_t n = expect_error(two, NAME ":8:16: backends[1].keep_frames: 5 differs from backends[0] "
                                      "(0), which writes the same target "
                                      "github.com/org/app@<default>:default.pgo; backends of one "
                                      "target "
                                      "must trim alike");
    expect_error(two, NAME ":9:16: backends[1].drop_labels: false differs from backends[0] (true)");
    expect_error(two, NAME ":12:19: backends[1].open_pull_request.min_interval: 2h0m0s differs "
                           "from backends[0] (1h0m0s)");
    CHECK_EQ_INT(n, 3);
    expect_error("backends:\n"
                 "- url: http://a:6060/x\n  schedule: '@hourly'\n" OPR
                 "- url: http://b:6060/x\n  schedule: '@hourly'\n" OPR "    head_branch: pgo\n",
                 "backends[1].open_pull_request.head_branch: pgo differs from backends[0] "
                 "(cpgo/<default>/default.pgo)");
    /* the default spelled out is the default */
    c = parse_ok("backends:\n"
                 "- url: http://a:6060/x\n  schedule: '@hourly'\n" OPR
                 "- url: http://b:6060/x\n  schedule: '@hourly'\n" OPR
                 "    head_branch: cpgo/main/default.pgo\n");
    if (c) CHECK_EQ_INT(c->ntargets, 1);
    cpgo_config_free(c);
    expect_error(B_HEAD "  open_pull_request: [x]\n",
                 NAME ":4:22: backends[0].open_pull_request: expected a mapping, got a list");
    CHECK_EQ_INT(expect_error(B_HEAD "  open_pull_request: [x]\n", "expected a mapping"), 1);
    /* two targets may not share a head branch, nor use another's base branch */
    expect_error("backends:\n"
                 "- url: http://a:6060/x\n  schedule: '@hourly'\n" OPR "    head_branch: pgo\n"
                 "- url: http://b:6060/x\n  schedule: '@hourly'\n" OPR
                 "    target_file: b.pgo\n    head_branch: pgo\n",
                 NAME ":12:18: backends[1].open_pull_request.head_branch: 'pgo' is also the head "
                      "branch of backends[0], a different target in the same repository");
    expect_error("backends:\n"
                 "- url: http://a:6060/x\n  schedule: '@hourly'\n" OPR "    target_branch: main\n"
                 "- url: http://b:6060/x\n  schedule: '@hourly'\n" OPR
                 "    target_branch: dev\n    head_branch: main\n",
                 "backends[1].open_pull_request.head_branch: 'main' is the target branch of "
                 "backends[0] in the same repository");
    /* the same head branch in different repositories is fine */
    c = parse_ok("backends:\n"
                 "- url: http://a:6060/x\n  schedule: '@hourly'\n" OPR "    head_branch: pgo\n"
                 "- url: http://b:6060/x\n  schedule: '@hourly'\n"
                 "  open_pull_request:\n    repository: https://github.com/org/other\n"
                 "    head_branch: pgo\n");
    if (c) CHECK_EQ_INT(c->ntargets, 2);
    cpgo_config_free(c);
    /* head branches are compared whole, however long: two that differ only in their last
     * byte are two head branches for one target */
    char longhead[151], two_heads[1024];
    memset(longhead, 'h', sizeof longhead - 1);
    longhead[sizeof longhead - 1] = 0;
    snprintf(two_heads, sizeof two_heads,
             "backends:\n"
             "- url: http://a:6060/x\n  schedule: '@hourly'\n" OPR "    head_branch: %s1\n"
             "- url: http://b:6060/x\n  schedule: '@hourly'\n" OPR "    head_branch: %s2\n",
             longhead, longhead);
    expect_error(two_heads, NAME ":11:18: backends[1].open_pull_request.head_branch: hhhh");
    expect_error(two_heads, "differs from backends[0]");
}

/* The default head branch and the `auto` forge: one function each (config.h), which
 * publishing and the daemon call too. */
static void test_head_and_forge(void)
{
    char b[64];
    CHECK_EQ_INT(cpgo_config_head_branch("main", "cmd/app/default.pgo", b, sizeof b), 0);
    CHECK(!strcmp(b, "cpgo/main/cmd/app/default.pgo"));
    CHECK_EQ_INT(cpgo_config_head_branch("dev", "x.pgo", b, sizeof "cpgo/dev/x.pgo"), 0);
    CHECK(!strcmp(b, "cpgo/dev/x.pgo"));
    /* a name that does not fit is refused, never cut (a cut one would be pushed to) */
    CHECK_EQ_INT(cpgo_config_head_branch("dev", "x.pgo", b, sizeof "cpgo/dev/x.pgo" - 1), -1);
    CHECK(b[0] == 0);
    CHECK_EQ_INT(cpgo_config_head_branch("dev", "x.pgo", b, 0), -1);
    /* the longest branch and file a configuration accepts fit CPGO_CONFIG_HEAD_MAX */
    static char branch[CPGO_CONFIG_BRANCH_MAX + 1], file[CPGO_CONFIG_FILE_MAX + 1],
        head[CPGO_CONFIG_HEAD_MAX];
    memset(branch, 'b', CPGO_CONFIG_BRANCH_MAX);
    memset(file, 'f', CPGO_CONFIG_FILE_MAX);
    CHECK_EQ_INT(cpgo_config_head_branch(branch, file, head, sizeof head), 0);
    CHECK_EQ_INT(strlen(head), sizeof head - 1);

    struct cpgo_repo local, https;
    struct cpgo_err e;
    CHECK_EQ_INT(cpgo_repo_parse("../repos/app", BASE, &local, &e), 0);
    CHECK_EQ_INT(cpgo_repo_parse("https://github.com/org/app", BASE, &https, &e), 0);
    CHECK_EQ_INT(cpgo_config_resolve_forge(NULL, CPGO_FORGE_AUTO, &local), CPGO_FORGE_LOCAL);
    CHECK_EQ_INT(cpgo_config_resolve_forge(NULL, CPGO_FORGE_AUTO, &https), CPGO_FORGE_GITHUB);
    CHECK_EQ_INT(cpgo_config_resolve_forge(NULL, CPGO_FORGE_AUTO, NULL), CPGO_FORGE_GITHUB);
    CHECK_EQ_INT(cpgo_config_resolve_forge(NULL, CPGO_FORGE_GITHUB, &local), CPGO_FORGE_GITHUB);
    CHECK_EQ_INT(cpgo_config_resolve_forge(NULL, CPGO_FORGE_LOCAL, &https), CPGO_FORGE_LOCAL);
    cpgo_repo_free(&local);
    cpgo_repo_free(&https);
}

/* All errors are collected (and sorted by position), at most 100. */
static void test_collect(void)
{
    const char *y = "log:\n  level: loud\n"
                    "backends:\n"
                    "- url: ftp://x/\n  schedule: '@hourly'\n  retries: 99\n" OPR
                    "- url: http://a/x\n  schedule: '@never'\n  timeout: 5\n" OPR;
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    int rc = cpgo_config_parse(y, strlen(y), NAME, BASE, &c, &e);
    CHECK_EQ_INT(rc, CPGO_E_INPUT);
    CHECK(c == NULL);
    CHECK_EQ_INT(e.n, 5);
    if (e.n == 5) {
        CHECK(!strncmp(e.lines[0], NAME ":2:10: log.level", 20));
        CHECK(!strncmp(e.lines[1], NAME ":4:8: backends[0].url", 24));
        CHECK(!strncmp(e.lines[2], NAME ":6:12: backends[0].retries", 29));
        CHECK(!strncmp(e.lines[3], NAME ":10:13: backends[1].schedule", 31));
        CHECK(!strncmp(e.lines[4], NAME ":11:12: backends[1].timeout", 30));
    } else {
        print_errors(&e);
    }
    cpgo_config_errors_free(&e);

    char *big = malloc(1 << 16);
    size_t len = (size_t)snprintf(big, 1 << 16, "%s", B_MIN);
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(big + len, (1 << 16) - len, "  k%d: 1\n", i);
    rc = cpgo_config_parse(big, len, NAME, BASE, &c, &e);
    CHECK_EQ_INT(rc, CPGO_E_INPUT);
    CHECK_EQ_INT(e.n, 100);
    if (e.n == 100) CHECK_STR_CONTAINS(e.lines[99], "too many errors; only the first 99 are shown");
    cpgo_config_errors_free(&e);
    free(big);
    /* errs may be NULL */
    CHECK(cpgo_config_parse("x: 1\n", 5, NAME, BASE, &c, NULL) == CPGO_E_INPUT);
}

static void test_load(void)
{
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    CHECK_EQ_INT(cpgo_config_load("/nonexistent/cpgo.yaml", &c, &e), CPGO_E_IO);
    CHECK_EQ_INT(e.n, 1);
    if (e.n) CHECK_STR_CONTAINS(e.lines[0], "/nonexistent/cpgo.yaml: cannot open: No such file");
    cpgo_config_errors_free(&e);
    CHECK_EQ_INT(cpgo_config_load("/tmp", &c, &e), CPGO_E_IO);
    if (e.n) CHECK_STR_CONTAINS(e.lines[0], "/tmp: cannot read: is a directory");
    cpgo_config_errors_free(&e);

    char dir[] = "/tmp/cpgo-config-test-XXXXXX";
    if (!mkdtemp(dir)) return;
    char path[128];
    snprintf(path, sizeof path, "%s/big.yaml", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < (4 << 20) / 64 + 1; i++)
        fprintf(f, "# %61s\n", "padding padding padding");
    fclose(f);
    CHECK_EQ_INT(cpgo_config_load(path, &c, &e), CPGO_E_INPUT);
    if (e.n) CHECK_STR_CONTAINS(e.lines[0], "big.yaml: the file is larger than the limit of 4 MiB");
    cpgo_config_errors_free(&e);
    unlink(path);
    /* relative repository paths resolve against the file's directory */
    snprintf(path, sizeof path, "%s/cpgo.yaml", dir);
    f = fopen(path, "w");
    fputs(B_HEAD "  open_pull_request:\n    repository: ../repo.git\n    target_file: x.pgo\n"
                 "state_dir: st\n",
          f);
    fclose(f);
    CHECK_EQ_INT(cpgo_config_load(path, &c, &e), 0);
    print_errors(&e);
    cpgo_config_errors_free(&e);
    if (c) {
        char want[256];
        snprintf(want, sizeof want, "%s", dir);
        *strrchr(want, '/') = 0;
        strcat(want, "/repo.git");
        CHECK(!strcmp(c->backends[0].repo.url, want));
        snprintf(want, sizeof want, "%s/st", dir);
        CHECK(!strcmp(c->state_dir, want));
    }
    cpgo_config_free(c);
    unlink(path);
    rmdir(dir);
}

static void test_dump(void)
{
    const char *y = "listen: ':9090'\n"
                    "backends:\n"
                    "- url: http://ops:hunter2pw@localhost:6060/debug/pprof/profile?seconds=20\n"
                    "  schedule: '*/10 * * * *'\n"
                    "  headers:\n"
                    "    Authorization: Bearer ghp_TOPSECRETTOKEN0123\n"
                    "    Cookie: session=SECRETCOOKIE\n"
                    "    X-Api-Token: SECRETAPITOKEN\n"
                    "    X-Scope-OrgID: team-a\n"
                    "  open_pull_request:\n"
                    "    repository: git@github.com:org/app.git\n"
                    "    target_branch: '2024'\n";
    struct cpgo_config *c = parse_ok(y);
    if (!c) return;
    char *d = dump(c);
    CHECK(!strstr(d, "hunter2pw"));
    CHECK(!strstr(d, "TOPSECRET"));
    CHECK(!strstr(d, "SECRETCOOKIE"));
    CHECK(!strstr(d, "SECRETAPITOKEN"));
    CHECK_STR_CONTAINS(d, "url: http://ops:xxxxx@localhost:6060/debug/pprof/profile?seconds=20\n");
    CHECK_STR_CONTAINS(d, "    Authorization: \"****\"\n");
    CHECK_STR_CONTAINS(d, "    X-Scope-OrgID: team-a\n");
    CHECK_STR_CONTAINS(d, "listen: \":9090\"\n");
    CHECK_STR_CONTAINS(d, "  headers:\n    Authorization: \"****\"\n");
    CHECK_STR_CONTAINS(d, "  timeout: 35s\n");
    CHECK_STR_CONTAINS(d, "  connect_timeout: 10s\n");
    CHECK_STR_CONTAINS(d, "  retries: 2\n");
    CHECK_STR_CONTAINS(d, "  schedule: \"*/10 * * * *\"\n");
    CHECK_STR_CONTAINS(d, "    target_branch: \"2024\"\n");
    CHECK_STR_CONTAINS(d, "    head_branch: cpgo/2024/default.pgo\n");
    CHECK_STR_CONTAINS(d, "    min_interval: 1h0m0s\n");
    CHECK_STR_CONTAINS(d, "    forge: github\n");
    CHECK_STR_CONTAINS(d, "  max_body_bytes: 64MiB\n");
    CHECK_STR_CONTAINS(d, "  max_samples: 4000000\n");
    CHECK_STR_CONTAINS(d, "  token_file: null\n");
    CHECK_STR_CONTAINS(d, "- name: localhost:6060\n");
    CHECK_STR_CONTAINS(d, "# 1 target ");
    CHECK_STR_CONTAINS(d, "github.com/org/app@2024:default.pgo -> cpgo/2024/default.pgo (github)");
    /* the dump loads, and gives itself again */
    struct cpgo_config *c2 = parse_ok(d);
    if (c2) {
        char *d2 = dump(c2);
        CHECK(!strcmp(d, d2));
        if (strcmp(d, d2)) fprintf(stderr, "--- first\n%s--- second\n%s", d, d2);
        free(d2);
        CHECK_EQ_INT(c2->backends[0].timeout_ms, 35000);
        CHECK(!strcmp(c2->backends[0].target_branch, "2024"));
    }
    cpgo_config_free(c2);
    free(d);
    cpgo_config_free(c);

    /* quoting: values that YAML would read as something else are quoted */
    c = parse_ok("state_dir: '/srv/my state'\n" B_HEAD "  name: 'yes'\n" OPR
                 "    target_file: 'a:b.pgo'\n    head_branch: 'x'\n");
    if (c) {
        d = dump(c);
        CHECK_STR_CONTAINS(d, "state_dir: \"/srv/my state\"\n");
        CHECK_STR_CONTAINS(d, "- name: \"yes\"\n");
        struct cpgo_config *c3 = parse_ok(d);
        if (c3) CHECK(!strcmp(c3->backends[0].name, "yes"));
        cpgo_config_free(c3);
        free(d);
    }
    cpgo_config_free(c);
}

/* docs/CONFIG.md is cpgo_config_write_reference's output, byte for byte. */
static void test_reference(void)
{
    char *fresh = NULL;
    size_t flen = 0;
    FILE *f = open_memstream(&fresh, &flen);
    cpgo_config_write_reference(f);
    fclose(f);
    CHECK_STR_CONTAINS(
        fresh, "| `backends[].timeout` | duration | seconds + 15s, at most the schedule's shortest "
               "period | 1s to 24h0m0s |");
    CHECK_STR_CONTAINS(fresh, "| `limits.max_body_bytes` | size | `64MiB` |");
    CHECK_STR_CONTAINS(fresh, "| `log.level` | one of `debug`, `info`, `warn`, `error` | `info` |");
    CHECK_STR_CONTAINS(fresh, "| `backends[].keep_frames` | integer | `0` | 0, or 2 to 1024 |");
    char path[4200];
    snprintf(path, sizeof path, "%sdocs/CONFIG.md", src_root());
    f = fopen(path, "r");
    char *have = NULL;
    size_t hlen = 0;
    if (f) {
        have = calloc(1, flen + 2);
        hlen = fread(have, 1, flen + 1, f);
        fclose(f);
    }
    int same = have && hlen == flen && !memcmp(have, fresh, flen);
    if (!same)
        fprintf(stderr, "docs/CONFIG.md is stale (or missing): regenerate it with\n"
                        "    cpgo check-config --reference > docs/CONFIG.md\n");
    CHECK(same);
    free(have);
    free(fresh);
}

int main(void)
{
    setenv("XDG_STATE_HOME", "/tmp/xdg-state", 1);
    test_sample();
    test_state_dir_default();
    test_all_keys();
    test_local_forge();
    test_messages();
    test_keys();
    test_tokens();
    test_types();
    test_structure();
    test_backends_list();
    test_urls();
    test_timeouts();
    test_paths_and_branches();
    test_headers();
    test_names();
    test_defaults();
    test_targets();
    test_head_and_forge();
    test_collect();
    test_load();
    test_dump();
    test_reference();
    CHECK_DONE();
}
