/* test_config_forges.c - issue 13's configuration: the gitlab: and gitea: sections (defaults,
 * checks: https or loopback http, no credentials), open_pull_request.forge github | gitlab |
 * gitea | local and its default by the repository's host, each forge's token only to its own
 * host, the pull request's options (labels, reviewers, assignees, draft, auto_merge,
 * commit_prefix: every refusal with file:line:column and the key path), their agreement
 * across a target's members, the target's copies, the warnings of forge local, services and
 * defaults:, the dump (and its round trip). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config/config.h"

#define NAME "forges.yaml"
#define BASE "/etc/cpgo"
/* a backend at line 2 (line 1 when nothing precedes it), its open_pull_request at line 4,
 * its repository at line 5 and the keys tests add from line 6 */
#define B_HEAD                                                                                     \
    "backends:\n"                                                                                  \
    "- url: http://a:6060/debug/pprof/profile\n"                                                   \
    "  schedule: '@hourly'\n"
#define B2_HEAD                                                                                    \
    "- url: http://b:6060/debug/pprof/profile\n"                                                   \
    "  schedule: '@hourly'\n"
#define GH "  open_pull_request:\n    repository: https://github.com/org/app\n"
#define GL "  open_pull_request:\n    repository: https://gitlab.com/org/app\n"
#define S_HEAD                                                                                     \
    "services:\n"                                                                                  \
    "- name: checkout\n"                                                                           \
    "  schedule: '@hourly'\n"                                                                      \
    "  static_configs: [{targets: ['10.0.0.7:6060']}]\n"

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

/* Refused with exactly one error line, equal to `want`. */
static void expect_only_at(const char *y, const char *want, int line)
{
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    int rc = cpgo_config_parse(y, strlen(y), NAME, BASE, &c, &e);
    check_count++;
    if (rc != CPGO_E_INPUT || c || e.n != 1 || strcmp(e.lines[0], want)) {
        check_failures++;
        fprintf(stderr, "%s:%d: expected rc %d and the one error\n    > %s\ngot rc %d and:\n",
                __FILE__, line, CPGO_E_INPUT, want, rc);
        print_errors(&e);
    }
    cpgo_config_free(c);
    cpgo_config_errors_free(&e);
}
#define expect_only(y, want) expect_only_at(y, want, __LINE__)

/* Refused with a line containing `needle`. */
static void expect_error_at(const char *y, const char *needle, int line)
{
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    int rc = cpgo_config_parse(y, strlen(y), NAME, BASE, &c, &e);
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
    cpgo_config_free(c);
    cpgo_config_errors_free(&e);
}
#define expect_error(y, needle) expect_error_at(y, needle, __LINE__)

static char *dump(const struct cpgo_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(cpgo_config_dump(c, f) == 0);
    fclose(f);
    return buf;
}

/* The dump loads again and gives itself. */
static void round_trip(const struct cpgo_config *c)
{
    char *d = dump(c);
    struct cpgo_config *c2 = parse_ok(d);
    if (c2) {
        char *d2 = dump(c2);
        CHECK(!strcmp(d, d2));
        if (strcmp(d, d2)) fprintf(stderr, "--- first\n%s--- second\n%s", d, d2);
        free(d2);
    }
    cpgo_config_free(c2);
    free(d);
}

/* ---------------------------------------------------------------------------------------- */

/* Without the new keys: the forge sections' defaults, the options' defaults on backends and
 * targets, no warning. */
static void test_defaults(void)
{
    struct cpgo_config *c = parse_ok(B_HEAD GH);
    if (!c) return;
    CHECK(!strcmp(c->gitlab.api_url, "https://gitlab.com/api/v4"));
    CHECK(!strcmp(c->gitlab.token_env, "GITLAB_TOKEN"));
    CHECK(c->gitlab.token_file == NULL);
    CHECK(c->gitea.api_url == NULL);
    CHECK(!strcmp(c->gitea.token_env, "GITEA_TOKEN"));
    CHECK(c->gitea.token_file == NULL);
    const struct cpgo_backend_cfg *b = &c->backends[0];
    CHECK(b->nlabels == 0 && b->labels == NULL);
    CHECK(b->nreviewers == 0 && b->nassignees == 0);
    CHECK(b->draft == 0 && b->auto_merge == 0);
    CHECK(b->commit_prefix && !strcmp(b->commit_prefix, ""));
    const struct cpgo_target_cfg *t = &c->targets[0];
    CHECK_EQ_INT(t->forge, CPGO_FORGE_GITHUB);
    CHECK(t->nlabels == 0 && t->nreviewers == 0 && t->nassignees == 0);
    CHECK(t->draft == 0 && t->auto_merge == 0);
    CHECK(t->commit_prefix && !strcmp(t->commit_prefix, ""));
    CHECK_EQ_INT(c->nwarnings, 0);
    char *d = dump(c);
    CHECK_STR_CONTAINS(d, "    reopen_growth: 100\n"
                          "    labels: []\n"
                          "    reviewers: []\n"
                          "    assignees: []\n"
                          "    draft: false\n"
                          "    auto_merge: false\n"
                          "    commit_prefix: \"\"\n"
                          "  pgo:\n");
    /* not used, not set: not shown (a GitHub configuration dumps as before) */
    CHECK(!strstr(d, "gitlab:") && !strstr(d, "gitea:"));
    free(d);
    round_trip(c);
    cpgo_config_free(c);
}

/* Every new key with a value other than its default. */
static void test_all_keys(void)
{
    const char *y = "gitlab:\n"
                    "  api_url: https://gitlab.example.com/api/v4/\n"
                    "  token_env: GL_TOKEN\n"
                    "  token_file: secrets/gitlab\n"
                    "gitea:\n"
                    "  api_url: https://gitea.example.com/api/v1\n"
                    "  token_env: GT_TOKEN\n"
                    "  token_file: /run/secrets/gitea\n" B_HEAD "  open_pull_request:\n"
                    "    repository: https://gitlab.example.com/group/sub/app\n"
                    "    labels: [pgo, 'kind/perf', 'größer 🚀']\n"
                    "    reviewers: [alice, bob.smith]\n"
                    "    assignees: [carol_x-1]\n"
                    "    draft: true\n"
                    "    auto_merge: true\n"
                    "    commit_prefix: 'chore(pgo): '\n";
    struct cpgo_config *c = parse_ok(y);
    if (!c) return;
    CHECK(!strcmp(c->gitlab.api_url, "https://gitlab.example.com/api/v4"));
    CHECK(!strcmp(c->gitlab.token_env, "GL_TOKEN"));
    CHECK(!strcmp(c->gitlab.token_file, BASE "/secrets/gitlab"));
    CHECK(!strcmp(c->gitea.api_url, "https://gitea.example.com/api/v1"));
    CHECK(!strcmp(c->gitea.token_env, "GT_TOKEN"));
    CHECK(!strcmp(c->gitea.token_file, "/run/secrets/gitea"));
    const struct cpgo_backend_cfg *b = &c->backends[0];
    CHECK_EQ_INT(b->forge, CPGO_FORGE_GITLAB); /* gitlab.api_url's host */
    const struct cpgo_target_cfg *t = &c->targets[0];
    CHECK_EQ_INT(t->forge, CPGO_FORGE_GITLAB);
    CHECK_EQ_INT(t->nlabels, 3);
    if (t->nlabels == 3) {
        CHECK(!strcmp(t->labels[0], "pgo"));
        CHECK(!strcmp(t->labels[1], "kind/perf"));
        CHECK(!strcmp(t->labels[2], "größer 🚀"));
        CHECK(t->labels != b->labels && t->labels[0] != b->labels[0]); /* the target's own */
    }
    CHECK_EQ_INT(t->nreviewers, 2);
    if (t->nreviewers == 2) CHECK(!strcmp(t->reviewers[1], "bob.smith"));
    CHECK_EQ_INT(t->nassignees, 1);
    if (t->nassignees == 1) CHECK(!strcmp(t->assignees[0], "carol_x-1"));
    CHECK(t->draft == 1 && t->auto_merge == 1);
    CHECK(!strcmp(t->commit_prefix, "chore(pgo): "));
    CHECK(t->commit_prefix != b->commit_prefix);
    CHECK_EQ_INT(c->nwarnings, 0);
    char *d = dump(c);
    CHECK_STR_CONTAINS(d, "gitlab:\n  api_url: https://gitlab.example.com/api/v4\n"
                          "  token_env: GL_TOKEN\n  token_file: " BASE "/secrets/gitlab\n");
    CHECK_STR_CONTAINS(d, "gitea:\n  api_url: https://gitea.example.com/api/v1\n");
    CHECK_STR_CONTAINS(d, "    forge: gitlab\n"
                          "    reopen_growth: 100\n"
                          "    labels:\n"
                          "    - pgo\n"
                          "    - kind/perf\n"
                          "    - \"größer 🚀\"\n"
                          "    reviewers:\n"
                          "    - alice\n"
                          "    - bob.smith\n"
                          "    assignees:\n"
                          "    - carol_x-1\n"
                          "    draft: true\n"
                          "    auto_merge: true\n"
                          "    commit_prefix: \"chore(pgo): \"\n");
    CHECK_STR_CONTAINS(d, "gitlab.example.com/group/sub/app@<default>:default.pgo -> "
                          "cpgo/<default>/default.pgo (gitlab)\n");
    free(d);
    round_trip(c);
    cpgo_config_free(c);

    /* used with its defaults: gitlab: is shown, so the dump says where the token comes from */
    c = parse_ok(B_HEAD GL);
    if (c) {
        d = dump(c);
        CHECK_STR_CONTAINS(d, "gitlab:\n  api_url: https://gitlab.com/api/v4\n"
                              "  token_env: GITLAB_TOKEN\n  token_file: null\n");
        CHECK(!strstr(d, "gitea:"));
        CHECK_STR_CONTAINS(d, "(gitlab)\n");
        free(d);
        round_trip(c);
    }
    cpgo_config_free(c);
}

/* The default forge by the repository's host, through the configuration and directly. */
static void test_resolve(void)
{
    static const struct {
        const char *top, *repo;
        enum cpgo_forge want;
    } cases[] = {
        {"", "https://github.com/org/app", CPGO_FORGE_GITHUB},
        {"", "git@github.com:org/app.git", CPGO_FORGE_GITHUB},
        {"", "https://gitlab.com/group/sub/app", CPGO_FORGE_GITLAB},
        {"", "https://GitLab.com/org/app", CPGO_FORGE_GITLAB},
        {"", "git@gitlab.com:org/app.git", CPGO_FORGE_GITLAB},
        {"", "ssh://git@git.example.com/org/app", CPGO_FORGE_GITHUB}, /* any other: as before */
        {"", "./repo", CPGO_FORGE_LOCAL},
        {"", "file:///srv/git/app", CPGO_FORGE_LOCAL},
        {"github: {api_url: 'https://ghe.example.com/api/v3'}\n", "https://ghe.example.com/org/app",
         CPGO_FORGE_GITHUB},
        {"gitlab: {api_url: 'https://gitlab.example.com/api/v4'}\n",
         "https://gitlab.example.com/org/app", CPGO_FORGE_GITLAB},
        /* gitlab.com stays gitlab's when gitlab.api_url is self-managed */
        {"gitlab: {api_url: 'https://gitlab.example.com/api/v4'}\n", "git@gitlab.com:org/app",
         CPGO_FORGE_GITLAB},
        {"gitea: {api_url: 'https://gitea.example.com/api/v1'}\n",
         "https://gitea.example.com/org/app", CPGO_FORGE_GITEA},
        {"gitea: {api_url: 'https://codeberg.org/api/v1'}\n", "git@codeberg.org:org/app",
         CPGO_FORGE_GITEA},
        {"gitea: {api_url: 'http://127.0.0.1:3000/api/v1'}\n", "http://127.0.0.1:3001/org/app",
         CPGO_FORGE_GITEA},
        {"gitea: {api_url: 'http://[::1]:3000/api/v1'}\n", "ssh://git@[::1]:2222/org/app",
         CPGO_FORGE_GITEA},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char y[512];
        snprintf(y, sizeof y, "%s" B_HEAD "  open_pull_request:\n    repository: %s\n",
                 cases[i].top, cases[i].repo);
        struct cpgo_config *c = parse_ok(y);
        if (!c) continue;
        CHECK_EQ_INT(c->backends[0].forge, cases[i].want);
        CHECK_EQ_INT(c->targets[0].forge, cases[i].want);
        /* the daemon asks again with the target's repository: the same answer */
        CHECK_EQ_INT(cpgo_config_resolve_forge(c, CPGO_FORGE_AUTO, &c->targets[0].repo),
                     cases[i].want);
        /* an explicit forge is kept as it is */
        CHECK_EQ_INT(cpgo_config_resolve_forge(c, CPGO_FORGE_GITEA, &c->targets[0].repo),
                     CPGO_FORGE_GITEA);
        cpgo_config_free(c);
    }
    /* without a configuration: the default API URLs */
    struct cpgo_repo gl, other;
    struct cpgo_err e;
    CHECK_EQ_INT(cpgo_repo_parse("https://gitlab.com/org/app", BASE, &gl, &e), 0);
    CHECK_EQ_INT(cpgo_repo_parse("https://gitea.example.com/org/app", BASE, &other, &e), 0);
    CHECK_EQ_INT(cpgo_config_resolve_forge(NULL, CPGO_FORGE_AUTO, &gl), CPGO_FORGE_GITLAB);
    CHECK_EQ_INT(cpgo_config_resolve_forge(NULL, CPGO_FORGE_AUTO, &other), CPGO_FORGE_GITHUB);
    CHECK_EQ_INT(cpgo_config_resolve_forge(NULL, CPGO_FORGE_AUTO, NULL), CPGO_FORGE_GITHUB);
    cpgo_repo_free(&gl);
    cpgo_repo_free(&other);

    /* the git host of an API URL */
    char h[64];
    CHECK_EQ_INT(cpgo_config_api_git_host("https://api.github.com", h, sizeof h), 0);
    CHECK(!strcmp(h, "github.com"));
    CHECK_EQ_INT(cpgo_config_api_git_host("https://GHE.example.com/api/v3", h, sizeof h), 0);
    CHECK(!strcmp(h, "ghe.example.com"));
    CHECK_EQ_INT(cpgo_config_api_git_host("https://gitlab.example.com:8443/api/v4", h, sizeof h),
                 0);
    CHECK(!strcmp(h, "gitlab.example.com"));
    CHECK_EQ_INT(cpgo_config_api_git_host("not a url", h, sizeof h), -1);
    CHECK(!strcmp(h, ""));
    CHECK_EQ_INT(cpgo_config_api_git_host(NULL, h, sizeof h), -1);

    CHECK(!strcmp(cpgo_config_forge_name(CPGO_FORGE_GITLAB), "gitlab"));
    CHECK(!strcmp(cpgo_config_forge_name(CPGO_FORGE_GITEA), "gitea"));
    CHECK(!strcmp(cpgo_config_forge_name(CPGO_FORGE_GITHUB), "github"));
    CHECK(!strcmp(cpgo_config_forge_name(CPGO_FORGE_LOCAL), "local"));
    /* the old values keep their numbers (state and callers compare them) */
    CHECK_EQ_INT(CPGO_FORGE_AUTO, 0);
    CHECK_EQ_INT(CPGO_FORGE_GITHUB, 1);
    CHECK_EQ_INT(CPGO_FORGE_LOCAL, 2);
}

/* The forge sections' values and what a forge needs. */
static void test_forge_refusals(void)
{
    expect_only(B_HEAD GH "    forge: gitlba\n",
                NAME ":6:12: backends[0].open_pull_request.forge: 'gitlba' is not one of github, "
                     "gitlab, gitea, local");
    /* plain http only on loopback, for every forge's API (the token goes with each request) */
    expect_only("gitlab: {api_url: 'http://gitlab.example.com/api/v4'}\n" B_HEAD GH,
                NAME ":1:19: gitlab.api_url: 'http://gitlab.example.com/api/v4' is plain http; "
                     "the token goes with every request, so use https (http only on loopback: "
                     "127.0.0.1, [::1], localhost)");
    expect_error("gitea:\n  api_url: http://10.0.0.1:3000/api/v1\n" B_HEAD GH,
                 NAME ":2:12: gitea.api_url: 'http://10.0.0.1:3000/api/v1' is plain http");
    expect_error("github: {api_url: 'http://ghe.example.com/api/v3'}\n" B_HEAD GH,
                 NAME ":1:19: github.api_url: 'http://ghe.example.com/api/v3' is plain http");
    struct cpgo_config *c =
        parse_ok("gitlab: {api_url: 'http://localhost:8080/api/v4'}\n"
                 "gitea: {api_url: 'http://127.0.0.1:3000/api/v1/'}\n" B_HEAD GH);
    if (c) CHECK(!strcmp(c->gitea.api_url, "http://127.0.0.1:3000/api/v1"));
    cpgo_config_free(c);
    expect_only(
        "gitlab:\n  api_url: https://oauth2:glpat-SECRET@gitlab.example.com/api/v4\n" B_HEAD GH,
        NAME ":2:12: gitlab.api_url: 'https://oauth2:xxxxx@gitlab.example.com/api/v4' must "
             "be a plain base URL, without credentials (set gitlab.token_env or "
             "gitlab.token_file), query or fragment");
    expect_error("gitea: {api_url: 'ftp://gitea.example.com/'}\n" B_HEAD GH,
                 NAME ":1:18: gitea.api_url: 'ftp://gitea.example.com/' is not an http or https "
                      "URL");
    expect_error("gitlab: {token_env: 'GL-TOKEN'}\n" B_HEAD GH,
                 NAME ":1:21: gitlab.token_env: 'GL-TOKEN' is not an environment variable name");
    expect_error("gitlab: {api_url: null}\n" B_HEAD GH,
                 NAME ":1:19: gitlab.api_url: needs a value");
    /* a token is never written in the file: the message names this forge's keys */
    expect_only("gitlab:\n  token: glpat-abc\n" B_HEAD GH,
                NAME ":2:3: gitlab.token: tokens must not be written in the configuration; put "
                     "the token in the environment (gitlab.token_env names the variable, default "
                     "GITLAB_TOKEN) or in a file (gitlab.token_file)");
    expect_error("gitea:\n  token: abc\n" B_HEAD GH, "gitea.token_env names the variable, default "
                                                     "GITEA_TOKEN");
    expect_error("gitea: {api_url: 'https://g.example.com/api/v1', tokn_env: X}\n" B_HEAD GH,
                 "gitea.tokn_env: unknown key; did you mean 'token_env'?");

    /* forge gitea needs gitea.api_url: named at the member's forge key */
    expect_only(B_HEAD "  open_pull_request:\n    repository: https://gitea.example.com/org/app\n"
                       "    forge: gitea\n",
                NAME ":6:12: backends[0].open_pull_request.forge: gitea needs gitea.api_url (the "
                     "Gitea or Forgejo API, https://HOST/api/v1); Gitea has no default host");
    expect_only("defaults:\n  open_pull_request: {forge: gitea}\n" S_HEAD
                "  open_pull_request: {repository: 'https://gitea.example.com/org/app'}\n",
                NAME ":2:30: services[0].open_pull_request.forge: gitea (from defaults) needs "
                     "gitea.api_url (the Gitea or Forgejo API, https://HOST/api/v1); Gitea has no "
                     "default host");
    /* a refused gitea.api_url is reported once, not again at each target */
    expect_only("gitea: {api_url: 'http://gitea.example.com/api/v1'}\n" B_HEAD
                "  open_pull_request:\n    repository: https://gitea.example.com/org/app\n"
                "    forge: gitea\n",
                NAME ":1:18: gitea.api_url: 'http://gitea.example.com/api/v1' is plain http; the "
                     "token goes with every request, so use https (http only on loopback: "
                     "127.0.0.1, [::1], localhost)");

    /* each forge's token only to its own host */
    expect_only(B_HEAD "  open_pull_request:\n    repository: https://github.com/org/app\n"
                       "    forge: gitlab\n",
                NAME ":5:17: backends[0].open_pull_request.repository: "
                     "'https://github.com/org/app' is not on gitlab.com, the host of "
                     "gitlab.api_url (https://gitlab.com/api/v4): forge gitlab would send the "
                     "GitLab token there; set gitlab.api_url to that server's API, or another "
                     "forge");
    expect_error("gitea: {api_url: 'https://gitea.example.com/api/v1'}\n" B_HEAD
                 "  open_pull_request:\n    repository: https://gitlab.com/org/app\n"
                 "    forge: gitea\n",
                 "'https://gitlab.com/org/app' is not on gitea.example.com, the host of "
                 "gitea.api_url");
    expect_only(B_HEAD "  open_pull_request:\n    repository: ./repo\n    forge: gitlab\n",
                NAME ":6:12: backends[0].open_pull_request.forge: gitlab needs a repository on a "
                     "server (https, http or ssh), not the local path '/etc/cpgo/repo'");
    /* http to the forge's host is upgraded, loopback excepted */
    c = parse_ok(B_HEAD "  open_pull_request:\n    repository: http://gitlab.com/org/app\n");
    if (c) CHECK(!strcmp(c->targets[0].repo.url, "https://gitlab.com/org/app"));
    cpgo_config_free(c);
    c = parse_ok("gitea: {api_url: 'http://127.0.0.1:3000/api/v1'}\n" B_HEAD
                 "  open_pull_request:\n    repository: http://127.0.0.1:3000/org/app\n");
    if (c) {
        CHECK_EQ_INT(c->targets[0].forge, CPGO_FORGE_GITEA);
        CHECK(!strncmp(c->targets[0].repo.url, "http://127.0.0.1:3000/", 22));
    }
    cpgo_config_free(c);
}

/* Every refusal of the pull request's options, with its position and key path. */
static void test_option_refusals(void)
{
    expect_only(B_HEAD GH "    labels: [pgo, 'perf,cpu']\n",
                NAME ":6:19: backends[0].open_pull_request.labels[1]: label 'perf,cpu' contains "
                     "','; GitLab separates labels with commas");
    expect_only(B_HEAD GH "    labels: ['']\n",
                NAME ":6:14: backends[0].open_pull_request.labels[0]: expected a string, got an "
                     "empty one");
    expect_only(B_HEAD GH "    labels: [' pgo']\n",
                NAME ":6:14: backends[0].open_pull_request.labels[0]: label ' pgo' starts or ends "
                     "with a space; forges trim labels");
    expect_only(B_HEAD GH "    labels: [\"a\\tb\"]\n",
                NAME ":6:14: backends[0].open_pull_request.labels[0]: label 'a?b' contains a line "
                     "break or control character");
    /* bytes that are not UTF-8 never reach a label: the YAML reader refuses them */
    expect_error(B_HEAD GH "    labels: [caf\xe9]\n", NAME ":");
    char big[600];
    snprintf(big, sizeof big, B_HEAD GH "    labels: ['%0256d']\n", 0);
    expect_error(big, NAME ":6:14: backends[0].open_pull_request.labels[0]: label '0000");
    expect_error(big, "is longer than 255 bytes");
    snprintf(big, sizeof big, B_HEAD GH "    labels: ['%0255d']\n", 0); /* 255: accepted */
    cpgo_config_free(parse_ok(big));
    expect_only(B_HEAD GH "    labels: [pgo, perf, PGO]\n",
                NAME ":6:25: backends[0].open_pull_request.labels[2]: 'PGO' is listed twice");
    /* 51 labels: the list is refused at its start */
    char many[1024];
    size_t n = (size_t)snprintf(many, sizeof many, B_HEAD GH "    labels: [");
    for (int i = 0; i < 51; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%sl%d", i ? ", " : "", i);
    snprintf(many + n, sizeof many - n, "]\n");
    expect_only(many, NAME ":6:13: backends[0].open_pull_request.labels: 51 entries; at most 50 "
                           "are allowed");
    many[n - 5] = 0; /* 50 labels (l0..l49): drop ", l50" */
    strcat(many, "]\n");
    struct cpgo_config *c = parse_ok(many);
    if (c) CHECK_EQ_INT(c->targets[0].nlabels, 50);
    cpgo_config_free(c);
    expect_only(B_HEAD GH "    labels: pgo\n",
                NAME ":6:13: backends[0].open_pull_request.labels: expected a list of strings, "
                     "got a single value");

    expect_only(B_HEAD GH "    reviewers: [alice, 'bob smith']\n",
                NAME ":6:24: backends[0].open_pull_request.reviewers[1]: 'bob smith' is not a "
                     "user name (1 to 255 of A-Z a-z 0-9 . _ -)");
    expect_only(B_HEAD GH "    assignees: ['@alice']\n",
                NAME ":6:17: backends[0].open_pull_request.assignees[0]: '@alice' is not a user "
                     "name (1 to 255 of A-Z a-z 0-9 . _ -; write it without '@')");
    expect_error(B_HEAD GH "    reviewers: [org/team]\n", "'org/team' is not a user name");
    expect_only(B_HEAD GH "    assignees: [alice, Alice]\n",
                NAME ":6:24: backends[0].open_pull_request.assignees[1]: 'Alice' is listed twice");
    snprintf(big, sizeof big, B_HEAD GH "    reviewers: [a%0255d]\n", 0);
    expect_error(big, "is not a user name");

    expect_only(B_HEAD GH "    commit_prefix: \"chore:\\nfix \"\n",
                NAME ":6:20: backends[0].open_pull_request.commit_prefix: 'chore:?fix ' contains "
                     "a line break or control character; the prefix goes before the commit "
                     "subject and the pull request's title, one line of printable UTF-8");
    snprintf(big, sizeof big, B_HEAD GH "    commit_prefix: '%0101d'\n", 0);
    expect_error(big, NAME ":6:20: backends[0].open_pull_request.commit_prefix: '0000");
    expect_error(big, "is longer than 100 bytes");
    snprintf(big, sizeof big, B_HEAD GH "    commit_prefix: '%0100d'\n", 0);
    cpgo_config_free(parse_ok(big));
    expect_only(B_HEAD GH "    draft: yes\n",
                NAME ":6:12: backends[0].open_pull_request.draft: 'yes' is not true or false");
    expect_only(B_HEAD GH "    auto_merge: 1\n",
                NAME ":6:17: backends[0].open_pull_request.auto_merge: '1' is not true or false");
    expect_error(B_HEAD GH "    lables: [pgo]\n", "did you mean 'labels'?");
}

/* A target's members agree on the options, as on min_interval; the error names both. */
static void test_agreement(void)
{
    expect_only(B_HEAD GH "    labels: [pgo]\n" B2_HEAD GH "    labels: [pgo, perf]\n", NAME
                ":11:13: backends[1].open_pull_request.labels: [pgo, perf] differs from "
                "backends[0] ([pgo]), which writes the same target "
                "github.com/org/app@<default>:default.pgo; backends of one target must agree on "
                "open_pull_request settings");
    expect_only(B_HEAD GH B2_HEAD GH "    draft: true\n", NAME
                ":10:12: backends[1].open_pull_request.draft: true differs from backends[0] "
                "(false), which writes the same target github.com/org/app@<default>:default.pgo; "
                "backends of one target must agree on open_pull_request settings");
    expect_error(B_HEAD GH "    auto_merge: true\n" B2_HEAD GH,
                 "backends[1].open_pull_request.auto_merge: false differs from backends[0] "
                 "(true)");
    expect_error(B_HEAD GH "    reviewers: [alice]\n" B2_HEAD GH "    reviewers: [bob]\n",
                 "backends[1].open_pull_request.reviewers: [bob] differs from backends[0] "
                 "([alice])");
    expect_error(B_HEAD GH B2_HEAD GH "    assignees: [bob]\n",
                 "backends[1].open_pull_request.assignees: [bob] differs from backends[0] ([])");
    expect_error(B_HEAD GH "    commit_prefix: 'pgo: '\n" B2_HEAD GH,
                 "backends[1].open_pull_request.commit_prefix: '' differs from backends[0] "
                 "('pgo: ')");
    /* a service and a backend of one target */
    expect_error(B_HEAD GH S_HEAD GH "    draft: true\n",
                 "services[0].open_pull_request.draft: true differs from backends[0] (false)");
    /* lists as sets: the order does not matter; the target keeps its first member's */
    struct cpgo_config *c =
        parse_ok(B_HEAD GH "    labels: [a, b]\n" B2_HEAD GH "    labels: [b, a]\n");
    if (c) {
        CHECK_EQ_INT(c->ntargets, 1);
        CHECK(c->targets[0].nlabels == 2 && !strcmp(c->targets[0].labels[0], "a"));
    }
    cpgo_config_free(c);
    /* the same values from defaults: they agree */
    c = parse_ok("defaults:\n  open_pull_request:\n    labels: [pgo]\n    draft: true\n"
                 "    commit_prefix: 'perf: '\n" B_HEAD GH B2_HEAD GH S_HEAD GH);
    if (c) {
        CHECK_EQ_INT(c->ntargets, 1);
        const struct cpgo_target_cfg *t = &c->targets[0];
        CHECK(t->nlabels == 1 && !strcmp(t->labels[0], "pgo"));
        CHECK(t->draft == 1 && !strcmp(t->commit_prefix, "perf: "));
        CHECK_EQ_INT(c->services[0].tmpl.nlabels, 1);
        CHECK(c->services[0].tmpl.draft == 1);
        round_trip(c);
    }
    cpgo_config_free(c);
    /* different targets may differ */
    c = parse_ok(B_HEAD GH "    labels: [a]\n" B2_HEAD GH "    target_file: b.pgo\n"
                           "    labels: [b]\n    draft: true\n");
    if (c) {
        CHECK_EQ_INT(c->ntargets, 2);
        CHECK(c->targets[1].draft == 1 && !strcmp(c->targets[1].labels[0], "b"));
    }
    cpgo_config_free(c);
}

/* forge local opens no pull request: the options but commit_prefix are accepted with a
 * warning, which names the key; commit_prefix is kept for its commits. */
static void test_local_warnings(void)
{
    struct cpgo_config *c = parse_ok(B_HEAD "  open_pull_request:\n    repository: ./repo\n"
                                            "    labels: [pgo]\n    reviewers: [alice]\n"
                                            "    draft: true\n    auto_merge: false\n"
                                            "    commit_prefix: 'pgo: '\n");
    if (!c) return;
    CHECK_EQ_INT(c->targets[0].forge, CPGO_FORGE_LOCAL);
    CHECK_EQ_INT(c->nwarnings, 3);
    if (c->nwarnings == 3) {
        CHECK(!strcmp(c->warnings[0], NAME ":6:13: backends[0].open_pull_request.labels: ignored: "
                                           "forge local opens no pull request (of the pull "
                                           "request's options it uses commit_prefix only)"));
        CHECK_STR_CONTAINS(c->warnings[1], NAME ":7:16: backends[0].open_pull_request.reviewers: "
                                                "ignored");
        CHECK_STR_CONTAINS(c->warnings[2], NAME ":8:12: backends[0].open_pull_request.draft: "
                                                "ignored");
    }
    CHECK(!strcmp(c->targets[0].commit_prefix, "pgo: "));
    cpgo_config_free(c);
    /* from defaults: said per member, pointing at defaults */
    c = parse_ok("defaults:\n  open_pull_request: {auto_merge: true}\n" B_HEAD
                 "  open_pull_request:\n    repository: ./repo\n" B2_HEAD GH);
    if (c) {
        CHECK_EQ_INT(c->nwarnings, 1);
        if (c->nwarnings == 1)
            CHECK_STR_CONTAINS(c->warnings[0], NAME ":2:35: backends[0].open_pull_request."
                                                    "auto_merge (from defaults): ignored");
        CHECK(c->targets[1].auto_merge == 1);
    }
    cpgo_config_free(c);
    /* a forge with pull requests: no warning */
    c = parse_ok(B_HEAD GH "    labels: [pgo]\n    draft: true\n");
    if (c) CHECK_EQ_INT(c->nwarnings, 0);
    cpgo_config_free(c);
}

int main(void)
{
    setenv("XDG_STATE_HOME", "/tmp/xdg-state", 1);
    test_defaults();
    test_all_keys();
    test_resolve();
    test_forge_refusals();
    test_option_refusals();
    test_agreement();
    test_local_warnings();
    CHECK_DONE();
}
