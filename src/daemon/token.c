/*
 * token.c - the forges' tokens, one per forge (GitHub, GitLab, Gitea): from -githubToken
 * (GitHub only, with a warning: other users can read a command line), <forge>.token_file,
 * or the environment variable <forge>.token_env; read again on SIGHUP (short-lived tokens
 * rotate). The daemon holds one copy per forge (d->fa[forge].token); forge jobs and the
 * forge's client take their own. Every copy is zeroed when freed, and the token
 * never reaches a log line or an error: messages name where it came from, never what it is.
 * Once cpgo holds one, the process is made not dumpable (base/url.h).
 *
 * Thread: cpgo_token_load on any thread (the reload job runs it on the pool: a token file
 * is read there, never on the loop); the others on the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/log.h"
#include "base/url.h"
#include "daemon/daemon_int.h"

#define TOKEN_FILE_MAX 4096

static int read_token_file(const char *key, const char *path, char **out, struct cpgo_err *err)
{
    *out = NULL;
    /* a FIFO there would block this thread (a pool thread on reload) until a writer
     * comes, and SIGTERM could not stop cpgo: refused at once, like a socket or device */
    int fd = cpgo_file_open_named(path, err);
    if (fd < 0) {
        cpgo_err_prefix(err, "%s", key);
        return err->code = CPGO_E_USAGE;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return cpgo_err_set(err, CPGO_E_USAGE, "cannot read %s %s: %s", key, path, strerror(e));
    }
    if (st.st_mode & (S_IWOTH | S_IWGRP)) {
        /* someone else could put their token there, or read ours as it is rotated */
        close(fd);
        return cpgo_err_set(err, CPGO_E_USAGE, "%s %s is writable by %s: refused (chmod 600 it)",
                            key, path, st.st_mode & S_IWOTH ? "every user" : "its group");
    }
    /* readable by every user: warn. Group-readable is how Kubernetes (defaultMode 0440 with
     * fsGroup) and systemd hand a secret to a service's own group: fine when that group is
     * ours. */
    if ((st.st_mode & S_IROTH) || ((st.st_mode & S_IRGRP) && st.st_gid != getegid()))
        cpgo_log(CPGO_LVL_WARN,
                 "a token file is readable by other users (chmod 600 it, or 440 with cpgo's "
                 "group)",
                 "key", key, "path", path, NULL);
    unsigned char *data;
    size_t n;
    int rc = cpgo_file_read_fd(fd, path, TOKEN_FILE_MAX - 1, &data, &n, err);
    close(fd);
    if (rc == CPGO_E_LIMIT)
        return cpgo_err_set(err, CPGO_E_USAGE, "%s %s is too large for a token", key, path);
    if (rc) {
        cpgo_err_prefix(err, "%s", key);
        return err->code = rc == CPGO_E_NOMEM ? rc : CPGO_E_USAGE;
    }
    char *buf = (char *)data;
    size_t size = n; /* the token is wiped from all of it before it is freed */
    /* a trailing newline (echo > file) is not part of the token */
    while (n &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = 0;
    size_t s = 0;
    if (n >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) s = 3; /* a BOM from a Windows editor */
    while (s < n && (buf[s] == ' ' || buf[s] == '\t'))
        s++;
    if (s == n) {
        rc = cpgo_err_set(err, CPGO_E_USAGE, "%s %s is empty", key, path);
    } else {
        for (size_t i = s; i < n && !rc; i++)
            if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
                rc =
                    cpgo_err_set(err, CPGO_E_USAGE,
                                 "%s %s holds more than one line or control characters", key, path);
    }
    if (!rc && !(*out = strdup(buf + s))) rc = cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    explicit_bzero(buf, size);
    free(buf);
    return rc;
}

/* Where a forge's token comes from in the configuration. */
struct token_cfg {
    const char *env, *file;
    const char *env_key, *file_key; /* "github.token_env", "github.token_file" */
};

static void token_cfg(const struct cpgo_config *cfg, enum cpgo_prapi_forge forge,
                      struct token_cfg *tc)
{
    switch (forge) {
    case CPGO_PRAPI_GITLAB:
        *tc = (struct token_cfg){cfg->gitlab.token_env, cfg->gitlab.token_file, "gitlab.token_env",
                                 "gitlab.token_file"};
        break;
    case CPGO_PRAPI_GITEA:
        *tc = (struct token_cfg){cfg->gitea.token_env, cfg->gitea.token_file, "gitea.token_env",
                                 "gitea.token_file"};
        break;
    default:
        *tc = (struct token_cfg){cfg->github.token_env, cfg->github.token_file, "github.token_env",
                                 "github.token_file"};
        break;
    }
}

int cpgo_token_load(const struct cpgo_config *cfg, enum cpgo_prapi_forge forge, const char *flag,
                    char **out, char *source, size_t srccap, struct cpgo_err *err)
{
    *out = NULL;
    source[0] = 0;
    /* a GitHub App mints its own tokens: GITHUB_TOKEN (or -githubToken) is not held */
    if (forge == CPGO_PRAPI_GITHUB && cfg->github.app.app_id > 0) return 0;
    struct token_cfg tc;
    token_cfg(cfg, forge, &tc);
    if (forge == CPGO_PRAPI_GITHUB && flag && *flag) {
        *out = strdup(flag);
        snprintf(source, srccap, "-githubToken");
    } else if (tc.file) {
        int rc = read_token_file(tc.file_key, tc.file, out, err);
        if (rc) return rc;
        snprintf(source, srccap, "%s", tc.file_key);
    } else if (tc.env) {
        const char *v = getenv(tc.env);
        if (v && *v) {
            *out = strdup(v);
            snprintf(source, srccap, "$%.60s", tc.env);
            /* `export GITHUB_TOKEN=$(cat file)` keeps no newline, but a secret mounted into
             * the environment may: trailing whitespace is not part of a token */
            size_t n = *out ? strlen(*out) : 0;
            while (n && strchr(" \t\r\n", (*out)[n - 1]))
                (*out)[--n] = 0;
            if (*out && !n) {
                free(*out);
                *out = NULL;
            }
        }
    }
    if (*out && strpbrk(*out, "\r\n")) {
        explicit_bzero(*out, strlen(*out));
        free(*out);
        *out = NULL;
        return cpgo_err_set(err, CPGO_E_USAGE, "the %s token (%s) contains a line break",
                            cpgo_prapi_forge_name(forge), source);
    }
    /* from now on a core dump (or a same-user ptrace) would hold the token */
    if (*out) cpgo_url_secrets_nodump();
    return 0;
}

const char *cpgo_token_api_url(const struct cpgo_config *cfg, enum cpgo_prapi_forge forge)
{
    switch (forge) {
    case CPGO_PRAPI_GITLAB:
        return cfg->gitlab.api_url;
    case CPGO_PRAPI_GITEA:
        return cfg->gitea.api_url;
    default:
        return cfg->github.api_url;
    }
}

int cpgo_token_target_forge(const struct cpgo_config *cfg, const struct cpgo_target_cfg *tc)
{
    switch (cpgo_config_resolve_forge(cfg, tc->forge, &tc->repo)) {
    case CPGO_FORGE_GITHUB:
        return CPGO_PRAPI_GITHUB;
    case CPGO_FORGE_GITLAB:
        return CPGO_PRAPI_GITLAB;
    case CPGO_FORGE_GITEA:
        return CPGO_PRAPI_GITEA;
    default:
        return -1;
    }
}

const char *cpgo_token_git_user(enum cpgo_prapi_forge forge)
{
    return forge == CPGO_PRAPI_GITLAB  ? "oauth2"
           : forge == CPGO_PRAPI_GITEA ? "cpgo"
                                       : "x-access-token";
}

const char *cpgo_token_git_cred(void *set, const struct cpgo_target_cfg *t, const char **user)
{
    const struct cpgo_token_set *ts = set;
    int f = cpgo_token_target_forge(ts->cfg, t);
    *user = NULL;
    if (f < 0) return NULL; /* a local forge's server never sees a token */
    *user = cpgo_token_git_user((enum cpgo_prapi_forge)f);
    if (f == CPGO_PRAPI_GITHUB && ts->app) {
        for (size_t i = 0; i < ts->app->n; i++)
            if (!strcmp(ts->app->v[i].path, t->repo.path)) return ts->app->v[i].token;
        return NULL;
    }
    return ts->tok[f];
}

int cpgo_token_setup(struct daemon *d, struct cpgo_err *err)
{
    if (d->opts.github_token && *d->opts.github_token)
        cpgo_log(CPGO_LVL_WARN,
                 "-githubToken puts the token on the command line, where other users of this "
                 "machine can read it; set GITHUB_TOKEN or github.token_file instead",
                 NULL);
    for (int f = 0; f < CPGO_PRAPI_NFORGES; f++) {
        struct forge_api *fa = &d->fa[f];
        int needed = 0;
        for (size_t i = 0; i < d->cfg->ntargets; i++)
            needed |= cpgo_token_target_forge(d->cfg, &d->cfg->targets[i]) == f;
        if (f == CPGO_PRAPI_GITHUB && d->cfg->github.app.app_id > 0) {
            /* a GitHub App: its key, not a token (github.token_env is not read) */
            int rc = cpgo_token_app_key(d->cfg, &d->app.pem, &d->app.pem_len, err);
            if (rc && needed && !d->opts.dry_run) return rc;
            char id[24];
            snprintf(id, sizeof id, "%lld", (long long)d->cfg->github.app.app_id);
            if (rc)
                cpgo_log(CPGO_LVL_WARN, "GitHub App key not loaded", "error", err->text, NULL);
            else
                cpgo_log(CPGO_LVL_INFO, "GitHub App key loaded", CPGO_LOG_INT("app_id"), id, "path",
                         d->cfg->github.app.private_key_file, NULL);
            continue;
        }
        int rc = cpgo_token_load(d->cfg, (enum cpgo_prapi_forge)f, d->opts.github_token, &fa->token,
                                 fa->token_source, sizeof fa->token_source, err);
        const char *name = cpgo_prapi_forge_name((enum cpgo_prapi_forge)f);
        if (rc) {
            /* fatal only when a target needs it: forge local runs without a token. A dry run
             * reads the repository and never calls the API: without a token it can still
             * show what it would propose for public repositories */
            if (needed && !d->opts.dry_run) return rc;
            if (needed || f == CPGO_PRAPI_GITHUB) {
                char msg[96];
                snprintf(msg, sizeof msg,
                         needed ? "no %s token: the dry run fetches without one (public "
                                  "repositories only)"
                                : "%s token ignored (no target uses it)",
                         name);
                cpgo_log(CPGO_LVL_WARN, msg, "error", err->text, NULL);
            }
        }
        if (fa->token && !needed && f != CPGO_PRAPI_GITHUB) {
            /* GITLAB_TOKEN in the environment of a GitHub-only fleet: not ours to hold */
            explicit_bzero(fa->token, strlen(fa->token));
            free(fa->token);
            fa->token = NULL;
            fa->token_source[0] = 0;
        }
        if (fa->token) {
            char msg[64];
            snprintf(msg, sizeof msg, "%s token loaded", name);
            cpgo_log(CPGO_LVL_INFO, msg, "source", fa->token_source, NULL);
        }
    }
    return 0;
}

void cpgo_token_update(struct daemon *d, enum cpgo_prapi_forge forge, char *token,
                       const char *source)
{
    struct forge_api *fa = &d->fa[forge];
    int same = (!token && !fa->token) || (token && fa->token && !strcmp(token, fa->token));
    if (same) {
        if (token) {
            explicit_bzero(token, strlen(token));
            free(token);
        }
        return;
    }
    if (fa->token) {
        explicit_bzero(fa->token, strlen(fa->token));
        free(fa->token);
    }
    fa->token = token;
    snprintf(fa->token_source, sizeof fa->token_source, "%s", source);
    d->token_gen++;
    /* the client holds the old token: replaced once nothing is in flight on it */
    if (fa->client) fa->stale = 1;
    char msg[64];
    snprintf(msg, sizeof msg, "%s token %s", cpgo_prapi_forge_name(forge),
             token ? "replaced" : "removed");
    cpgo_log(CPGO_LVL_INFO, msg, "source", source[0] ? source : "none", NULL);
}

int cpgo_token_app_key(const struct cpgo_config *cfg, char **pem, size_t *len, struct cpgo_err *err)
{
    *pem = NULL;
    *len = 0;
    if (cfg->github.app.app_id <= 0 || !cfg->github.app.private_key_file) return 0;
    return cpgo_ghapp_key_load(cfg->github.app.private_key_file, pem, len, err);
}

void cpgo_token_free(struct daemon *d)
{
    cpgo_ghapp_key_free(d->app.pem, d->app.pem_len);
    d->app.pem = NULL;
    d->app.pem_len = 0;
    for (int f = 0; f < CPGO_PRAPI_NFORGES; f++)
        if (d->fa[f].token) {
            explicit_bzero(d->fa[f].token, strlen(d->fa[f].token));
            free(d->fa[f].token);
            d->fa[f].token = NULL;
        }
}
