/*
 * gitrepo_remote.c - what every network call of gitrepo shares (see gitrepo.h,
 * "Credentials" and "Limits"): the anonymous remote and its proxy, and libgit2's remote
 * callbacks -- the credential callback (the token only for the repository's own host, once
 * per call; ssh keys only as regular files), the deadline checked on every progress report,
 * and the server's per-ref push status, scrubbed of the token before it is kept.
 * Thread: the caller's (a target's lane), inside one call (gitrepo_int.h).
 */
#include "publish/gitrepo_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "base/url.h"

static void now(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
}

static int past_deadline(struct call *c)
{
    if (c->g->timeout_s <= 0) return 0;
    struct timespec t;
    now(&t);
    if (t.tv_sec > c->deadline.tv_sec ||
        (t.tv_sec == c->deadline.tv_sec && t.tv_nsec >= c->deadline.tv_nsec)) {
        c->timed_out = 1;
        git_error_set_str(GIT_ERROR_NET, "timed out");
        return 1;
    }
    return 0;
}

void gitrepo_arm_deadline(struct call *c)
{
    now(&c->deadline);
    c->deadline.tv_sec += c->g->timeout_s;
}

/* ---- libgit2 callbacks ---- */

/* The host of a URL libgit2 asks credentials for ("https://user@Host:443/x" -> "host"). */
static int same_host(const char *url, const char *host)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p || !host) return 0;
    p += 3;
    size_t n = strcspn(p, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '@') at = p + i;
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    size_t hl;
    if (*p == '[') {
        const char *rb = memchr(p, ']', n);
        hl = rb ? (size_t)(rb + 1 - p) : n;
    } else {
        const char *colon = memchr(p, ':', n);
        hl = colon ? (size_t)(colon - p) : n;
    }
    return hl == strlen(host) && !strncasecmp(p, host, hl);
}

/* 1 when `path` opens as a regular file without blocking; else the reason in out. libssh2
 * reads key files itself, with a blocking open: a FIFO there would hold a pool thread
 * until a writer came. */
int gitrepo_key_file_ok(const char *path, const char *what, char *out, size_t cap)
{
    struct cpgo_err e;
    int fd = cpgo_file_open_named(path, &e);
    if (fd < 0) {
        snprintf(out, cap, "%s: %.280s", what, e.text);
        return 0;
    }
    close(fd);
    return 1;
}

static int cb_credentials(git_credential **out, const char *url, const char *username_from_url,
                          unsigned int allowed, void *payload)
{
    struct call *c = payload;
    struct cpgo_gitrepo *g = c->g;
    const char *ssh_user = username_from_url && *username_from_url ? username_from_url : "git";
    if (allowed == GIT_CREDENTIAL_USERNAME) /* ssh without a user in the URL asks first */
        return git_credential_username_new(out, ssh_user);
    if (c->cred_given) { /* asked again: the server rejected what it got */
        c->auth_failed = 1;
        git_error_set_str(GIT_ERROR_NET, "authentication failed");
        return GIT_EAUTH;
    }
    if (g->kind == CPGO_REPO_SSH && (allowed & GIT_CREDENTIAL_SSH_KEY)) {
        c->cred_given = 1;
        if (g->ssh_key) {
            /* checked at open too; again here, as the file may have been replaced since */
            char *kp = c->key_problem;
            if (!gitrepo_key_file_ok(g->ssh_key, "git.ssh_key", kp, sizeof c->key_problem) ||
                (g->ssh_pubkey && !gitrepo_key_file_ok(g->ssh_pubkey, "git.ssh_key's .pub", kp,
                                                       sizeof c->key_problem))) {
                git_error_set_str(GIT_ERROR_NET, c->key_problem);
                return GIT_EAUTH;
            }
            return git_credential_ssh_key_new(out, ssh_user, g->ssh_pubkey, g->ssh_key, NULL);
        }
        if (!getenv("SSH_AUTH_SOCK")) {
            c->auth_missing = 1;
            git_error_set_str(GIT_ERROR_NET, "no ssh agent");
            return GIT_EAUTH;
        }
        return git_credential_ssh_key_from_agent(out, ssh_user);
    }
    if ((g->kind == CPGO_REPO_HTTPS || g->kind == CPGO_REPO_HTTP) &&
        (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT)) {
        if (!g->token) {
            c->auth_missing = 1;
            git_error_set_str(GIT_ERROR_NET, "no token");
            return GIT_EAUTH;
        }
        if (!same_host(url, g->host)) {
            c->auth_wronghost = 1;
            git_error_set_str(GIT_ERROR_NET, "credentials requested for another host");
            return GIT_EAUTH;
        }
        c->cred_given = 1;
        return git_credential_userpass_plaintext_new(out, g->token_user, g->token);
    }
    c->auth_missing = 1;
    git_error_set_str(GIT_ERROR_NET, "no usable credential type");
    return GIT_EAUTH;
}

static int cb_transfer(const git_indexer_progress *stats, void *payload)
{
    (void)stats;
    return past_deadline(payload) ? -1 : 0;
}

static int cb_sideband(const char *str, int len, void *payload)
{
    (void)str, (void)len;
    return past_deadline(payload) ? -1 : 0;
}

static int cb_pack(int stage, uint32_t current, uint32_t total, void *payload)
{
    (void)stage, (void)current, (void)total;
    return past_deadline(payload) ? -1 : 0;
}

static int cb_push_transfer(unsigned int current, unsigned int total, size_t bytes, void *payload)
{
    (void)current, (void)total, (void)bytes;
    return past_deadline(payload) ? -1 : 0;
}

static int cb_push_ref(const char *refname, const char *status, void *payload)
{
    struct call *c = payload;
    if (status) { /* the server's words: scrubbed before they are cut */
        c->push_rejected = 1;
        cpgo_url_scrub(c->g->secrets, status, strlen(status), c->push_status,
                       sizeof c->push_status);
    }
    (void)refname;
    return 0;
}

void gitrepo_callbacks(struct call *c, git_remote_callbacks *cbs)
{
    git_remote_init_callbacks(cbs, GIT_REMOTE_CALLBACKS_VERSION);
    cbs->credentials = cb_credentials;
    cbs->transfer_progress = cb_transfer;
    cbs->sideband_progress = cb_sideband;
    cbs->pack_progress = cb_pack;
    cbs->push_transfer_progress = cb_push_transfer;
    cbs->push_update_reference = cb_push_ref;
    /* no certificate_check: libgit2 verifies TLS certificates and ssh host keys
       (~/.ssh/known_hosts) itself, and refuses what does not verify */
    cbs->payload = c;
}

/* ---- fetch ---- */

/*
 * An in-memory remote for the URL. url.<base>.insteadOf is not applied: the URL in the
 * configuration is the one used (and libgit2 1.5 leaks pcre2 match data for every
 * configuration entry that its insteadOf lookup does not match).
 */
int gitrepo_anon_remote(struct call *c, git_remote **out)
{
    git_remote_create_options o;
    git_remote_create_options_init(&o, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    o.repository = c->repo;
    o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    return git_remote_create_with_opts(out, c->g->url, &o);
}

void gitrepo_proxy_opts(git_proxy_options *p)
{
    git_proxy_options_init(p, GIT_PROXY_OPTIONS_VERSION);
    p->type = GIT_PROXY_AUTO; /* http.proxy, or the https_proxy/http_proxy environment */
}
