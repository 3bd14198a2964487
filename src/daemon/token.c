/*
 * token.c - the GitHub token: from -githubToken (with a warning: other users can read a
 * command line), github.token_file, or the environment variable github.token_env; read
 * again on SIGHUP (short-lived tokens rotate). The daemon holds one copy (d->token); forge
 * jobs and the GitHub client take their own. Every copy is zeroed when freed, and the token
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

static int read_token_file(const char *path, char **out, struct cpgo_err *err)
{
    *out = NULL;
    /* a FIFO there would block this thread (a pool thread on reload) until a writer
     * comes, and SIGTERM could not stop cpgo: refused at once, like a socket or device */
    int fd = cpgo_file_open_named(path, err);
    if (fd < 0) {
        cpgo_err_prefix(err, "github.token_file");
        return err->code = CPGO_E_USAGE;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return cpgo_err_set(err, CPGO_E_USAGE, "cannot read github.token_file %s: %s", path,
                            strerror(e));
    }
    if (st.st_mode & (S_IWOTH | S_IWGRP)) {
        /* someone else could put their token there, or read ours as it is rotated */
        close(fd);
        return cpgo_err_set(err, CPGO_E_USAGE,
                            "github.token_file %s is writable by %s: refused (chmod 600 it)", path,
                            st.st_mode & S_IWOTH ? "every user" : "its group");
    }
    /* readable by every user: warn. Group-readable is how Kubernetes (defaultMode 0440 with
     * fsGroup) and systemd hand a secret to a service's own group: fine when that group is
     * ours. */
    if ((st.st_mode & S_IROTH) || ((st.st_mode & S_IRGRP) && st.st_gid != getegid()))
        cpgo_log(CPGO_LVL_WARN,
                 "github.token_file is readable by other users (chmod 600 it, or 440 with "
                 "cpgo's group)",
                 "path", path, NULL);
    unsigned char *data;
    size_t n;
    int rc = cpgo_file_read_fd(fd, path, TOKEN_FILE_MAX - 1, &data, &n, err);
    close(fd);
    if (rc == CPGO_E_LIMIT)
        return cpgo_err_set(err, CPGO_E_USAGE, "github.token_file %s is too large for a token",
                            path);
    if (rc) {
        cpgo_err_prefix(err, "github.token_file");
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
        rc = cpgo_err_set(err, CPGO_E_USAGE, "github.token_file %s is empty", path);
    } else {
        for (size_t i = s; i < n && !rc; i++)
            if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
                rc = cpgo_err_set(err, CPGO_E_USAGE,
                                  "github.token_file %s holds more than one line or control "
                                  "characters",
                                  path);
    }
    if (!rc && !(*out = strdup(buf + s))) rc = cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    explicit_bzero(buf, size);
    free(buf);
    return rc;
}

int cpgo_token_load(const struct cpgo_config *cfg, const char *flag, char **out, char *source,
                    size_t srccap, struct cpgo_err *err)
{
    *out = NULL;
    source[0] = 0;
    if (flag && *flag) {
        *out = strdup(flag);
        snprintf(source, srccap, "-githubToken");
    } else if (cfg->github.token_file) {
        int rc = read_token_file(cfg->github.token_file, out, err);
        if (rc) return rc;
        snprintf(source, srccap, "github.token_file");
    } else {
        const char *v = getenv(cfg->github.token_env);
        if (v && *v) {
            *out = strdup(v);
            snprintf(source, srccap, "$%.60s", cfg->github.token_env);
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
        return cpgo_err_set(err, CPGO_E_USAGE, "the GitHub token (%s) contains a line break",
                            source);
    }
    /* from now on a core dump (or a same-user ptrace) would hold the token */
    if (*out) cpgo_url_secrets_nodump();
    return 0;
}

int cpgo_token_setup(struct daemon *d, struct cpgo_err *err)
{
    if (d->opts.github_token && *d->opts.github_token)
        cpgo_log(CPGO_LVL_WARN,
                 "-githubToken puts the token on the command line, where other users of this "
                 "machine can read it; set GITHUB_TOKEN or github.token_file instead",
                 NULL);
    int rc = cpgo_token_load(d->cfg, d->opts.github_token, &d->token, d->token_source,
                             sizeof d->token_source, err);
    if (rc) {
        /* fatal only when a target needs it: forge local runs without a token */
        int needed = 0;
        for (size_t i = 0; i < d->cfg->ntargets; i++) {
            const struct cpgo_target_cfg *tc = &d->cfg->targets[i];
            needed |= cpgo_config_resolve_forge(d->cfg, tc->forge, &tc->repo) == CPGO_FORGE_GITHUB;
        }
        /* a dry run reads the repository and never calls the API: without a token it can
         * still show what it would propose for public repositories */
        if (needed && !d->opts.dry_run) return rc;
        cpgo_log(CPGO_LVL_WARN,
                 needed ? "no GitHub token: the dry run fetches without one (public "
                          "repositories only)"
                        : "GitHub token ignored (no target uses GitHub)",
                 "error", err->text, NULL);
    }
    if (d->token) cpgo_log(CPGO_LVL_INFO, "GitHub token loaded", "source", d->token_source, NULL);
    return 0;
}

void cpgo_token_update(struct daemon *d, char *token, const char *source)
{
    int same = (!token && !d->token) || (token && d->token && !strcmp(token, d->token));
    if (same) {
        if (token) {
            explicit_bzero(token, strlen(token));
            free(token);
        }
        return;
    }
    if (d->token) {
        explicit_bzero(d->token, strlen(d->token));
        free(d->token);
    }
    d->token = token;
    snprintf(d->token_source, sizeof d->token_source, "%s", source);
    d->token_gen++;
    /* the GitHub client holds the old token: replaced once nothing is in flight on it */
    if (d->gh) d->gh_stale = 1;
    cpgo_log(CPGO_LVL_INFO, token ? "GitHub token replaced" : "GitHub token removed", "source",
             source[0] ? source : "none", NULL);
}

void cpgo_token_free(struct daemon *d)
{
    if (d->token) {
        explicit_bzero(d->token, strlen(d->token));
        free(d->token);
        d->token = NULL;
    }
}
