/* test_config_repo.c - repository values: every accepted form, normalisation (spellings of
 * one repository give one host and path), and every refusal with its message. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config/repo.h"

struct ok_case {
    const char *text;
    enum cpgo_repo_kind kind;
    const char *host;
    int port;
    const char *user;
    const char *path;
    const char *url;
};

static const struct ok_case oks[] = {
    /* the original sample */
    {"http://github.com/my-org/my-repo", CPGO_REPO_HTTP, "github.com", 0, NULL, "my-org/my-repo",
     "http://github.com/my-org/my-repo"},
    {"https://github.com/my-org/my-repo", CPGO_REPO_HTTPS, "github.com", 0, NULL, "my-org/my-repo",
     "https://github.com/my-org/my-repo"},
    {"https://GitHub.COM/my-org/my-repo.git", CPGO_REPO_HTTPS, "github.com", 0, NULL,
     "my-org/my-repo", "https://github.com/my-org/my-repo.git"},
    {"https://github.com/my-org/my-repo/", CPGO_REPO_HTTPS, "github.com", 0, NULL, "my-org/my-repo",
     "https://github.com/my-org/my-repo"},
    {"https://github.com/my-org/my-repo.git/", CPGO_REPO_HTTPS, "github.com", 0, NULL,
     "my-org/my-repo", "https://github.com/my-org/my-repo.git"},
    {"HTTPS://git.example.com:8443/a/b/c", CPGO_REPO_HTTPS, "git.example.com", 8443, NULL, "a/b/c",
     "https://git.example.com:8443/a/b/c"},
    {"https://[2001:DB8::1]/org/repo", CPGO_REPO_HTTPS, "[2001:db8::1]", 0, NULL, "org/repo",
     "https://[2001:db8::1]/org/repo"},
    {"https://[::1]:3000/org/repo", CPGO_REPO_HTTPS, "[::1]", 3000, NULL, "org/repo",
     "https://[::1]:3000/org/repo"},
    {"ssh://git@github.com/my-org/my-repo.git", CPGO_REPO_SSH, "github.com", 0, "git",
     "my-org/my-repo", "ssh://git@github.com/my-org/my-repo.git"},
    {"ssh://github.com:2222/my-org/my-repo", CPGO_REPO_SSH, "github.com", 2222, NULL,
     "my-org/my-repo", "ssh://github.com:2222/my-org/my-repo"},
    {"git+ssh://git@Example.org/x/y", CPGO_REPO_SSH, "example.org", 0, "git", "x/y",
     "ssh://git@example.org/x/y"},
    {"git@github.com:my-org/my-repo.git", CPGO_REPO_SSH, "github.com", 0, "git", "my-org/my-repo",
     "git@github.com:my-org/my-repo.git"},
    {"git@GitHub.com:my-org/my-repo", CPGO_REPO_SSH, "github.com", 0, "git", "my-org/my-repo",
     "git@github.com:my-org/my-repo"},
    {"github.com:my-org/my-repo", CPGO_REPO_SSH, "github.com", 0, NULL, "my-org/my-repo",
     "github.com:my-org/my-repo"},
    {"deploy@git.internal:/srv/git/app.git", CPGO_REPO_SSH, "git.internal", 0, "deploy",
     "srv/git/app", "deploy@git.internal:/srv/git/app.git"},
    {"file:///srv/git/app.git", CPGO_REPO_FILE, "local", 0, NULL, "srv/git/app",
     "/srv/git/app.git"},
    {"file://localhost/srv/git/app", CPGO_REPO_FILE, "local", 0, NULL, "srv/git/app",
     "/srv/git/app"},
    {"/srv/git/app", CPGO_REPO_FILE, "local", 0, NULL, "srv/git/app", "/srv/git/app"},
    {"/srv/git/app/", CPGO_REPO_FILE, "local", 0, NULL, "srv/git/app", "/srv/git/app"},
    {"/srv//git/./app/../app.git", CPGO_REPO_FILE, "local", 0, NULL, "srv/git/app",
     "/srv/git/app.git"},
    /* relative paths resolve against base_dir (/etc/cpgo in this table) */
    {"repo", CPGO_REPO_FILE, "local", 0, NULL, "etc/cpgo/repo", "/etc/cpgo/repo"},
    {"./repos/app.git", CPGO_REPO_FILE, "local", 0, NULL, "etc/cpgo/repos/app",
     "/etc/cpgo/repos/app.git"},
    {"../srv/app", CPGO_REPO_FILE, "local", 0, NULL, "etc/srv/app", "/etc/srv/app"},
    {"./github.com/org/repo", CPGO_REPO_FILE, "local", 0, NULL, "etc/cpgo/github.com/org/repo",
     "/etc/cpgo/github.com/org/repo"},
};

struct bad_case {
    const char *text;
    const char *message;
};

static const struct bad_case bads[] = {
    {"", "repository '': empty"},
    {"ftp://example.com/org/repo",
     "repository 'ftp://example.com/org/repo': unsupported scheme ftp"},
    {"git://example.com/org/repo", "unsupported scheme git"},
    {"https://github.com", "has no path"},
    {"https://github.com/", "has no path"},
    {"https://github.com/.git", "has no path"},
    {"https:///org/repo", "has no host"},
    {"https://github.com:0/org/repo", "invalid port"},
    {"https://github.com:99999/org/repo", "invalid port"},
    {"https://github.com:/org/repo", "invalid port"},
    {"https://git hub.com/org/repo", "spaces or control characters"},
    {"https://gi$hub.com/org/repo", "invalid host"},
    {"https://user:hunter2@github.com/org/repo", "contains a password"},
    {"https://ghp_abcdef@github.com/org/repo", "contains credentials"},
    {"ssh://git:hunter2@github.com/org/repo", "contains a password"},
    {"git:hunter2@github.com:org/repo", "contains a password"},
    {"https://github.com/org/repo?ref=x", "query or fragment"},
    {"https://github.com/org/../repo", "'..' segments"},
    {"git@github.com:", "has no path"},
    {"@github.com:org/repo", "empty user name"},
    {"file://host/srv/repo", "a file:// URL names a local path"},
    {"file:///", "names the root directory"},
    {"/", "names the root directory"},
    {"/..", "names the root directory"},
    {"github.com/my-org/my-repo", "looks like a host name without a scheme; write "
                                  "https://github.com/my-org/my-repo"},
};

static void test_ok(void)
{
    for (size_t i = 0; i < sizeof oks / sizeof oks[0]; i++) {
        const struct ok_case *t = &oks[i];
        struct cpgo_repo r;
        struct cpgo_err err = {0};
        int rc = cpgo_repo_parse(t->text, "/etc/cpgo", &r, &err);
        if (rc) {
            fprintf(stderr, "'%s': unexpected error: %s\n", t->text, err.text);
            CHECK(rc == 0);
            continue;
        }
        int good = r.kind == t->kind && !strcmp(r.host, t->host) && r.port == t->port &&
                   ((!r.user && !t->user) || (r.user && t->user && !strcmp(r.user, t->user))) &&
                   !strcmp(r.path, t->path) && !strcmp(r.url, t->url);
        if (!good)
            fprintf(stderr, "'%s': got kind %d host '%s' port %d user '%s' path '%s' url '%s'\n",
                    t->text, r.kind, r.host, r.port, r.user ? r.user : "(null)", r.path, r.url);
        CHECK(good);
        cpgo_repo_free(&r);
        CHECK(r.host == NULL && r.path == NULL && r.url == NULL);
    }
}

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        const struct bad_case *t = &bads[i];
        struct cpgo_repo r;
        struct cpgo_err err = {0};
        int rc = cpgo_repo_parse(t->text, "/etc/cpgo", &r, &err);
        CHECK_EQ_INT(rc, CPGO_E_INPUT);
        if (rc) {
            CHECK_STR_CONTAINS(err.text, t->message);
            CHECK(!strncmp(err.text, "repository '", 12));
            /* a password is never repeated */
            CHECK(!strstr(err.text, "hunter2"));
        } else {
            fprintf(stderr, "'%s' was accepted\n", t->text);
            cpgo_repo_free(&r);
        }
    }
    /* the user is kept in the echo, the password masked */
    struct cpgo_repo r;
    struct cpgo_err err = {0};
    CHECK(cpgo_repo_parse("https://bob:hunter2@github.com/o/r", NULL, &r, &err) == CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "'https://bob:xxxxx@github.com/o/r'");
    CHECK(cpgo_repo_parse(NULL, NULL, &r, &err) == CPGO_E_INPUT);
    /* hosts are at most 253 bytes, as in DNS */
    char url[400];
    snprintf(url, sizeof url, "https://%0253d/o/r", 0);
    CHECK(cpgo_repo_parse(url, NULL, &r, &err) == 0);
    cpgo_repo_free(&r);
    snprintf(url, sizeof url, "https://%0254d/o/r", 0);
    CHECK(cpgo_repo_parse(url, NULL, &r, &err) == CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "has an invalid host");
}

/* Spellings of one repository normalise to one (host, path): the target key. */
static void test_same_repository(void)
{
    static const char *const same[] = {
        "https://github.com/org/app",     "https://github.com/org/app.git",
        "http://GitHub.com/org/app/",     "ssh://git@github.com/org/app.git",
        "git@github.com:org/app.git",     "ssh://git@github.com:22/org/app",
        "https://github.com//org//app//",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        struct cpgo_repo r;
        struct cpgo_err err = {0};
        CHECK(cpgo_repo_parse(same[i], NULL, &r, &err) == 0);
        if (r.host) {
            CHECK(!strcmp(r.host, "github.com"));
            CHECK(!strcmp(r.path, "org/app"));
        }
        cpgo_repo_free(&r);
    }
    struct cpgo_repo a, b;
    struct cpgo_err err = {0};
    CHECK(cpgo_repo_parse("./app.git", "/srv/repos", &a, &err) == 0);
    CHECK(cpgo_repo_parse("file:///srv/repos/app", NULL, &b, &err) == 0);
    CHECK(a.path && b.path && !strcmp(a.path, b.path) && !strcmp(a.host, b.host));
    cpgo_repo_free(&a);
    cpgo_repo_free(&b);
    /* a relative base_dir is made absolute with the working directory */
    CHECK(cpgo_repo_parse("app", "conf", &a, &err) == 0);
    CHECK(a.url && a.url[0] == '/' && strstr(a.url, "/conf/app"));
    cpgo_repo_free(&a);
    CHECK(cpgo_repo_parse("app", NULL, &a, &err) == 0);
    CHECK(a.url && a.url[0] == '/');
    cpgo_repo_free(&a);
}

int main(void)
{
    test_ok();
    test_bad();
    test_same_repository();
    CHECK_DONE();
}
