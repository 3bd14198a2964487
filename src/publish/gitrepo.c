/*
 * gitrepo.c - see gitrepo.h for the cache, the round and the credential rules.
 *
 * Every public function is one "call": take the cache's flock, open the bare repository,
 * do the work, free every libgit2 object, unlock. Nothing of libgit2 outlives a call, so
 * a handle can move between pool threads (one at a time).
 *
 * Invariants:
 * - the URL given to libgit2 is struct cpgo_repo's, which never carries credentials; the
 *   token reaches libgit2 only through the credential callback, and only for the
 *   repository's own host (a redirect elsewhere gets nothing);
 * - the callback hands out credentials once per call: if libgit2 asks again, they were
 *   rejected, and the call ends as CPGO_GIT_AUTH instead of retrying;
 * - every error line (libgit2's messages and a server's push status quote the server) is
 *   made one line and scrubbed of the token in every form (url.h) before it is cut;
 * - objects of a regenerated commit are built in an in-memory object database (libgit2's
 *   mempack) and written to disk as one pack only when they are about to be pushed, so an
 *   unchanged round writes nothing and the cache does not collect a blob per round;
 * - every ref in the cache points at objects on disk (a ref created for the push is made
 *   after the pack is written and removed before the call returns).
 */
#include "publish/gitrepo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "base/hash.h"
#include "base/url.h"
#include "publish/gitsock.h"
#include "state/state.h"

#define TRACKING_PREFIX "refs/remotes/origin/"
#define PUSH_REF "refs/cpgo/push"
#define PATH_MAX_LEN 1024
#define PATH_MAX_SEGMENTS 64
#define AHEAD_MAX 1000
#define MATCHES_LISTED 8

struct cpgo_gitrepo {
    char *cache; /* state_dir/git/<hex>.git */
    char *lock;  /* state_dir/git/<hex>.lock */
    char *url;   /* what libgit2 connects to (no credentials) */
    char *host;  /* for the credential host check */
    enum cpgo_repo_kind kind;
    char *token; /* zeroed on close */
    char *token_user;
    struct cpgo_url_secrets *secrets; /* the token in every form, scrubbed from errors */
    char *ssh_key;
    char *ssh_pubkey;
    int timeout_s;
    enum cpgo_git_class last;
};

/* The state of one call: the open repository, the lock and what the callbacks saw. */
struct call {
    struct cpgo_gitrepo *g;
    struct cpgo_err *err;
    git_repository *repo;
    int lockfd;
    int cred_given;     /* credentials handed to libgit2 in this call */
    int auth_failed;    /* libgit2 asked again: they were rejected */
    int auth_missing;   /* asked for credentials that are not configured */
    int auth_wronghost; /* asked for the token on behalf of another host */
    int timed_out;
    struct timespec deadline;
    int push_rejected;
    char push_status[160];
    char key_problem[320]; /* git.ssh_key (or its .pub) is not a readable regular file */
};

const char *cpgo_git_class_name(enum cpgo_git_class c)
{
    switch (c) {
    case CPGO_GIT_OK:
        return "ok";
    case CPGO_GIT_NETWORK:
        return "network";
    case CPGO_GIT_CONFLICT:
        return "conflict";
    case CPGO_GIT_LOCAL:
        return "local";
    case CPGO_GIT_AUTH:
        return "auth";
    case CPGO_GIT_TLS:
        return "tls";
    case CPGO_GIT_NOT_FOUND:
        return "not_found";
    case CPGO_GIT_REJECTED:
        return "rejected";
    case CPGO_GIT_FOREIGN:
        return "foreign";
    case CPGO_GIT_CONTENT:
        return "content";
    case CPGO_GIT_LIMIT:
        return "limit";
    case CPGO_GIT_INTERNAL:
        return "internal";
    case CPGO_GIT_CLASS_COUNT:
        break;
    }
    return "unknown";
}

int cpgo_git_class_transient(enum cpgo_git_class c)
{
    return c == CPGO_GIT_NETWORK || c == CPGO_GIT_CONFLICT || c == CPGO_GIT_LOCAL ||
           c == CPGO_GIT_INTERNAL;
}

/* The cpgo code that goes with a class: permanent classes are "input" codes. */
static int class_code(enum cpgo_git_class c)
{
    switch (c) {
    case CPGO_GIT_AUTH:
    case CPGO_GIT_TLS:
    case CPGO_GIT_NOT_FOUND:
    case CPGO_GIT_REJECTED:
    case CPGO_GIT_FOREIGN:
        return CPGO_E_USAGE;
    case CPGO_GIT_CONTENT:
        return CPGO_E_INPUT;
    case CPGO_GIT_LIMIT:
        return CPGO_E_LIMIT;
    default:
        return CPGO_E_IO;
    }
}

/* Nested calls (cpgo demo runs the daemon twice) share one libgit2 initialisation: libgit2
 * 1.5 frees its user agent at shutdown without forgetting it, so setting it again after a
 * full shutdown would free it twice. Main thread only. */
static int git_users;

int cpgo_git_init(struct cpgo_err *err)
{
    int rc = git_libgit2_init();
    if (rc < 0) {
        const git_error *e = git_error_last();
        return cpgo_err_set(err, CPGO_E_IO, "cannot initialise libgit2: %s",
                            e && e->message ? e->message : "unknown error");
    }
    if (git_users++ == 0) {
        git_libgit2_opts(GIT_OPT_SET_USER_AGENT, "cpgo/" CPGO_VERSION);
        /* connect and inactivity deadlines for http(s), which libgit2 1.5 has none of */
        if (cpgo_gitsock_register()) {
            git_users--;
            git_libgit2_shutdown();
            return cpgo_err_set(err, CPGO_E_IO, "cannot register cpgo's socket stream with libgit2");
        }
    }
    return 0;
}

void cpgo_git_shutdown(void)
{
    if (git_users == 0) return;
    git_users--;
    git_libgit2_shutdown();
}

/* ---- error lines ---- */

/*
 * One error line: fmt, then ": detail" (libgit2's message, which may quote the server),
 * control characters made spaces, then scrubbed of the token in every form (url.h) and
 * only then cut to fit struct cpgo_err.
 */
static int vfail(struct cpgo_gitrepo *g, struct cpgo_err *err, enum cpgo_git_class cls,
                 const char *detail, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    size_t dl = detail && *detail ? strlen(detail) : 0;
    if (dl > 65536) dl = 65536; /* a window: the scrubber masks a secret cut at its end */
    size_t cap = (n > 0 ? (size_t)n : 0) + dl + 3;
    char *whole = malloc(cap);
    char line[CPGO_ERR_TEXT_MAX];
    if (!whole) {
        snprintf(line, sizeof line, "out of memory formatting an error");
    } else {
        vsnprintf(whole, cap, fmt, ap);
        size_t len = strlen(whole);
        if (dl) {
            memcpy(whole + len, ": ", 2);
            memcpy(whole + len + 2, detail, dl);
            len += 2 + dl;
            whole[len] = 0;
        }
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)whole[i] < 0x20 || whole[i] == 0x7f) whole[i] = ' ';
        while (len && whole[len - 1] == ' ') whole[--len] = 0;
        cpgo_url_scrub(g ? g->secrets : NULL, whole, len, line, sizeof line);
        explicit_bzero(whole, cap);
        free(whole);
    }
    if (g) g->last = cls;
    return cpgo_err_set(err, class_code(cls), "%s", line);
}

static int fail(struct call *c, enum cpgo_git_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct call *c, enum cpgo_git_class cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c->g, c->err, cls, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

/* The HTTP status in libgit2's "unexpected http status code: 404", or 0. */
static int http_status(const char *msg)
{
    const char *p = msg ? strstr(msg, "status code: ") : NULL;
    return p ? atoi(p + 13) : 0;
}

/*
 * Translates the libgit2 failure `rc` of a call into a class and one line: "<what>:
 * <libgit2's message>". What the callbacks recorded wins over libgit2's wording (which is
 * "too many redirects or authentication replays" for a wrong token).
 */
static int gfail(struct call *c, enum cpgo_git_class cls, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int gfail(struct call *c, enum cpgo_git_class cls, int rc, const char *fmt, ...)
{
    const git_error *e = git_error_last();
    /* libgit2's message whole (vfail scrubs it before any cut), or cpgo's own words */
    char own[160];
    const char *detail = e && e->message && *e->message ? e->message : "unknown libgit2 error";
    int klass = e ? e->klass : GIT_ERROR_NONE;
    int status = http_status(detail);
    if (c->auth_wronghost) {
        cls = CPGO_GIT_AUTH;
        detail = "the server asked for credentials for another host; none were sent";
    } else if (c->key_problem[0]) {
        cls = CPGO_GIT_AUTH;
        detail = c->key_problem;
    } else if (c->auth_missing) {
        cls = CPGO_GIT_AUTH;
        snprintf(own, sizeof own, "authentication required, and no %s is configured",
                 c->g->kind == CPGO_REPO_SSH ? "ssh key or agent" : "token");
        detail = own;
    } else if (c->auth_failed || rc == GIT_EAUTH || status == 401) {
        return fail(c, CPGO_GIT_AUTH, "authentication failed for %s%s", c->g->url,
                    c->g->kind == CPGO_REPO_SSH ? " (ssh key rejected)"
                                                : " (the token was rejected)");
    } else if (c->timed_out) {
        cls = CPGO_GIT_NETWORK;
        snprintf(own, sizeof own, "timed out after %d s", c->g->timeout_s);
        detail = own;
    } else if (rc == GIT_ECERTIFICATE) {
        cls = CPGO_GIT_TLS;
    } else if (status == 403) {
        cls = CPGO_GIT_AUTH;
        detail = "access denied (HTTP 403)";
    } else if (status == 404) {
        cls = CPGO_GIT_NOT_FOUND;
        detail = "repository not found (HTTP 404)";
    } else if (status >= 500) {
        cls = CPGO_GIT_NETWORK;
    } else if (klass == GIT_ERROR_NET || klass == GIT_ERROR_SSH || klass == GIT_ERROR_HTTP ||
               klass == GIT_ERROR_SSL) {
        /* a TLS error other than an unverifiable certificate is a failed connection */
        if (cls == CPGO_GIT_LOCAL || cls == CPGO_GIT_INTERNAL) cls = CPGO_GIT_NETWORK;
    } else if (klass == GIT_ERROR_NOMEMORY) {
        cls = CPGO_GIT_INTERNAL;
    }
    va_list ap;
    va_start(ap, fmt);
    int r = vfail(c->g, c->err, cls, detail, fmt, ap);
    va_end(ap);
    return r;
}

/* ---- small helpers ---- */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}


static void oid_hex(char out[CPGO_GIT_ID_SIZE], const git_oid *id)
{
    if (id)
        git_oid_tostr(out, CPGO_GIT_ID_SIZE, id);
    else
        out[0] = 0;
}

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

static void arm_deadline(struct call *c)
{
    now(&c->deadline);
    c->deadline.tv_sec += c->g->timeout_s;
}

/* "refs/heads/<branch>" or a tracking ref name into buf; 0, or CPGO_GIT_CONTENT when
 * the branch name is not a valid ref name. */
static int ref_name(struct call *c, char *buf, size_t cap, const char *prefix, const char *branch)
{
    int valid = 0;
    if (!branch || !*branch || (size_t)snprintf(buf, cap, "%s%s", prefix, branch) >= cap ||
        git_reference_name_is_valid(&valid, buf) < 0 || !valid)
        return fail(c, CPGO_GIT_CONTENT, "'%s' is not a valid branch name", branch ? branch : "");
    return 0;
}

/* The head branch must never be the target branch: it is force-pushed. */
static int check_branches(struct call *c, const char *target_branch, const char *head_branch)
{
    if (head_branch && target_branch && !strcmp(head_branch, target_branch))
        return fail(c, CPGO_GIT_CONTENT,
                    "the head branch '%s' of %s is the target branch; cpgo force-pushes the "
                    "head branch, so it must be another one",
                    head_branch, c->g->url);
    return 0;
}

/*
 * A profile path must name a file inside the tree: relative, no empty, "." or ".."
 * segments, no ".git" (git refuses such trees), no control characters.
 */
static int check_path(struct call *c, const char *path)
{
    size_t n = path ? strlen(path) : 0;
    const char *why = NULL;
    if (!n)
        why = "is empty";
    else if (n > PATH_MAX_LEN)
        why = "is too long";
    else if (path[0] == '/')
        why = "must be relative to the repository root";
    else if (path[n - 1] == '/')
        why = "names a directory";
    int segs = 0;
    for (const char *p = path; !why && *p;) {
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (!l)
            why = "has an empty segment";
        else if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
            why = "must not contain '.' or '..'";
        else if (l == 4 && !strncasecmp(p, ".git", 4))
            why = "must not contain '.git'";
        else if (++segs > PATH_MAX_SEGMENTS)
            why = "is too deep";
        for (size_t i = 0; !why && i < l; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) why = "contains control characters";
        p = e ? e + 1 : p + l;
    }
    if (why) return fail(c, CPGO_GIT_CONTENT, "target file '%s' %s", path ? path : "", why);
    return 0;
}

/* The directory of a local repository: config/repo.c makes file:// URLs paths, and a
 * URL given directly is accepted too. */
static const char *local_path(const char *url)
{
    if (!strncmp(url, "file://localhost/", 17)) return url + 16;
    if (!strncmp(url, "file:///", 8)) return url + 7;
    return url;
}

/* ---- calls: lock + open ---- */

static int lock_cache(struct call *c)
{
    c->lockfd = open(c->g->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (c->lockfd < 0 && errno == ENOENT) { /* state_dir/git was removed */
        char dir[4200];
        snprintf(dir, sizeof dir, "%s", c->g->lock);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        if (!cpgo_state_mkdir_p(dir, 0700)) c->lockfd = open(c->g->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    }
    if (c->lockfd < 0)
        return fail(c, CPGO_GIT_LOCAL, "cannot open lock %s: %s", c->g->lock, strerror(errno));
    while (flock(c->lockfd, LOCK_EX)) {
        if (errno == EINTR) continue;
        int e = errno;
        close(c->lockfd);
        c->lockfd = -1;
        return fail(c, CPGO_GIT_LOCAL, "cannot lock %s: %s", c->g->lock, strerror(e));
    }
    return 0;
}

/*
 * Opens the cache into c->repo, creating it when it is missing (never made, or deleted
 * while cpgo runs: deleting it is always safe). A cache that is there but cannot be
 * opened (a crash while it was being created, damage) holds nothing that cannot be
 * fetched again: it is moved aside, kept for a person to look at, and created anew.
 */
static int open_cache(struct call *c)
{
    int rc = git_repository_open_ext(
        &c->repo, c->g->cache, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL);
    if (rc == 0) return 0;
    struct stat st;
    if (rc != GIT_ENOTFOUND && stat(c->g->cache, &st) == 0) {
        char aside[4200];
        snprintf(aside, sizeof aside, "%s.broken-%ld", c->g->cache, (long)time(NULL));
        if (rename(c->g->cache, aside))
            return fail(c, CPGO_GIT_LOCAL, "cannot move the damaged cache %s aside: %s",
                        c->g->cache, strerror(errno));
    }
    git_error_clear();
    /* an empty or half-created directory is completed in place */
    rc = git_repository_init(&c->repo, c->g->cache, 1);
    if (rc < 0) return gfail(c, CPGO_GIT_LOCAL, rc, "cannot create the cache %s", c->g->cache);
    /* for people listing state_dir/git: which repository this is */
    char desc[4200];
    snprintf(desc, sizeof desc, "%s/description", c->g->cache);
    FILE *f = fopen(desc, "w");
    if (f) {
        fprintf(f, "cpgo cache of %s\n", c->g->url);
        fclose(f);
    }
    return 0;
}

static int begin(struct call *c, struct cpgo_gitrepo *g, struct cpgo_err *err)
{
    memset(c, 0, sizeof *c);
    c->g = g;
    c->err = err;
    c->lockfd = -1;
    g->last = CPGO_GIT_OK;
    git_error_clear();
    int rc = lock_cache(c);
    return rc ? rc : open_cache(c);
}

static void end(struct call *c)
{
    git_repository_free(c->repo);
    c->repo = NULL;
    if (c->lockfd >= 0) close(c->lockfd); /* releases the flock */
    c->lockfd = -1;
}

static void maybe_repack(struct call *c);

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
static int key_file_ok(const char *path, const char *what, char *out, size_t cap)
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
            if (!key_file_ok(g->ssh_key, "git.ssh_key", kp, sizeof c->key_problem) ||
                (g->ssh_pubkey &&
                 !key_file_ok(g->ssh_pubkey, "git.ssh_key's .pub", kp, sizeof c->key_problem))) {
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

static void callbacks(struct call *c, git_remote_callbacks *cbs)
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

/* ---- open / close ---- */

int cpgo_gitrepo_open(const char *state_dir, const struct cpgo_repo *repo,
                      const struct cpgo_git_opts *opts, struct cpgo_gitrepo **out,
                      struct cpgo_err *err)
{
    *out = NULL;
    if (!state_dir || !repo || !repo->url || !repo->host || !repo->path)
        return cpgo_err_set(err, CPGO_E_USAGE, "git: no state directory or repository");
    struct cpgo_gitrepo *g = calloc(1, sizeof *g);
    if (!g) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    char norm[4200], dir[4200];
    if (repo->port)
        snprintf(norm, sizeof norm, "%s:%d/%s", repo->host, repo->port, repo->path);
    else
        snprintf(norm, sizeof norm, "%s/%s", repo->host, repo->path);
    uint64_t h = cpgo_hash_fnv1a(norm, strlen(norm), CPGO_FNV1A_INIT);
    snprintf(dir, sizeof dir, "%s/git", state_dir);
    size_t cap = strlen(dir) + 32;
    g->cache = malloc(cap);
    g->lock = malloc(cap);
    g->url = xstrdup(repo->url);
    g->host = xstrdup(repo->host);
    g->kind = repo->kind;
    g->timeout_s = opts ? opts->timeout_s : 0;
    const char *tu = opts && opts->token_user && *opts->token_user ? opts->token_user
                                                                   : CPGO_GIT_DEFAULT_TOKEN_USER;
    g->token_user = xstrdup(tu);
    int oom = !g->cache || !g->lock || !g->url || !g->host || !g->token_user;
    if (opts && opts->token && *opts->token) {
        oom |= !(g->token = xstrdup(opts->token));
        /* as sent (basic auth: base64 of user:token) and as a server may quote it */
        oom |= !(g->secrets = cpgo_url_secrets_new()) ||
               cpgo_url_secrets_add_basic(g->secrets, tu, opts->token);
    }
    if (opts && opts->ssh_key && *opts->ssh_key) oom |= !(g->ssh_key = xstrdup(opts->ssh_key));
    if (opts && opts->ssh_pubkey && *opts->ssh_pubkey)
        oom |= !(g->ssh_pubkey = xstrdup(opts->ssh_pubkey));
    if (oom) {
        cpgo_gitrepo_close(g);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    char kp[320];
    if (g->kind == CPGO_REPO_SSH && g->ssh_key &&
        (!key_file_ok(g->ssh_key, "git.ssh_key", kp, sizeof kp) ||
         (g->ssh_pubkey && !key_file_ok(g->ssh_pubkey, "git.ssh_key's .pub", kp, sizeof kp)))) {
        /* a person must fix it (class auth): said now, before any network call */
        int rc = cpgo_err_set(err, class_code(CPGO_GIT_AUTH), "%s", kp);
        cpgo_gitrepo_close(g);
        return rc;
    }
    snprintf(g->cache, cap, "%s/%016llx.git", dir, (unsigned long long)h);
    snprintf(g->lock, cap, "%s/%016llx.lock", dir, (unsigned long long)h);
    if (cpgo_state_mkdir_p(dir, 0700)) {
        int e = errno;
        cpgo_gitrepo_close(g);
        return cpgo_err_set(err, CPGO_E_IO, "cannot create %s: %s", dir, strerror(e));
    }
    struct call c;
    int rc = begin(&c, g, err);
    end(&c);
    if (rc) {
        cpgo_gitrepo_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

void cpgo_gitrepo_close(struct cpgo_gitrepo *g)
{
    if (!g) return;
    if (g->token) {
        explicit_bzero(g->token, strlen(g->token));
        free(g->token);
    }
    free(g->cache);
    free(g->lock);
    free(g->url);
    free(g->host);
    free(g->token_user);
    cpgo_url_secrets_unref(g->secrets);
    free(g->ssh_key);
    free(g->ssh_pubkey);
    free(g);
}

const char *cpgo_gitrepo_cache_dir(const struct cpgo_gitrepo *g)
{
    return g->cache;
}

enum cpgo_git_class cpgo_gitrepo_last_class(const struct cpgo_gitrepo *g)
{
    return g->last;
}

/* ---- fetch ---- */

/*
 * An in-memory remote for the URL. url.<base>.insteadOf is not applied: the URL in the
 * configuration is the one used (and libgit2 1.5 leaks pcre2 match data for every
 * configuration entry that its insteadOf lookup does not match).
 */
static int anon_remote(struct call *c, git_remote **out)
{
    git_remote_create_options o;
    git_remote_create_options_init(&o, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    o.repository = c->repo;
    o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    return git_remote_create_with_opts(out, c->g->url, &o);
}

static void proxy_opts(git_proxy_options *p)
{
    git_proxy_options_init(p, GIT_PROXY_OPTIONS_VERSION);
    p->type = GIT_PROXY_AUTO; /* http.proxy, or the https_proxy/http_proxy environment */
}

int cpgo_gitrepo_fetch(struct cpgo_gitrepo *g, const char *target_branch, const char *head_branch,
                       struct cpgo_git_tips *tips, struct cpgo_err *err)
{
    memset(tips, 0, sizeof *tips);
    struct call c;
    int rc = begin(&c, g, err);
    if (rc) goto out;
    char tref[512], tdst[512], href[512], hdst[512];
    if ((rc = ref_name(&c, tref, sizeof tref, "refs/heads/", target_branch)) ||
        (rc = ref_name(&c, tdst, sizeof tdst, TRACKING_PREFIX, target_branch)))
        goto out;
    if ((rc = check_branches(&c, target_branch, head_branch))) goto out;
    if (head_branch && ((rc = ref_name(&c, href, sizeof href, "refs/heads/", head_branch)) ||
                        (rc = ref_name(&c, hdst, sizeof hdst, TRACKING_PREFIX, head_branch))))
        goto out;

    git_remote *remote = NULL;
    git_remote_callbacks cbs;
    git_proxy_options proxy;
    callbacks(&c, &cbs);
    proxy_opts(&proxy);
    arm_deadline(&c);
    struct stat st;
    if (g->kind == CPGO_REPO_FILE && stat(local_path(g->url), &st) && errno == ENOENT) {
        /* libgit2 would call a missing path "unsupported URL protocol" */
        rc = fail(&c, CPGO_GIT_NOT_FOUND, "repository %s does not exist", g->url);
        goto out;
    }
    if ((rc = anon_remote(&c, &remote)) < 0) {
        rc = gfail(&c, CPGO_GIT_INTERNAL, rc, "cannot fetch from %s", g->url);
        goto out;
    }
    if ((rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &cbs, &proxy, NULL)) < 0) {
        rc = gfail(&c,
                   g->kind == CPGO_REPO_FILE && rc == GIT_ENOTFOUND ? CPGO_GIT_NOT_FOUND
                                                                    : CPGO_GIT_NETWORK,
                   rc, "cannot fetch from %s", g->url);
        goto out_remote;
    }
    const git_remote_head **heads = NULL;
    size_t nheads = 0;
    if ((rc = git_remote_ls(&heads, &nheads, remote)) < 0) {
        rc = gfail(&c, CPGO_GIT_NETWORK, rc, "cannot list the branches of %s", g->url);
        goto out_remote;
    }
    git_oid base, head;
    int have_base = 0, have_head = 0;
    for (size_t i = 0; i < nheads; i++) {
        if (!strcmp(heads[i]->name, tref)) {
            base = heads[i]->oid;
            have_base = 1;
        } else if (head_branch && !strcmp(heads[i]->name, href)) {
            head = heads[i]->oid;
            have_head = 1;
        }
    }
    if (!have_base) {
        rc =
            fail(&c, CPGO_GIT_NOT_FOUND, "branch '%s' does not exist in %s", target_branch, g->url);
        goto out_remote;
    }
    char spec_t[1100], spec_h[1100];
    char *specv[2] = {spec_t, spec_h};
    snprintf(spec_t, sizeof spec_t, "+%s:%s", tref, tdst);
    if (have_head) snprintf(spec_h, sizeof spec_h, "+%s:%s", href, hdst);
    git_strarray specs = {specv, have_head ? 2 : 1};
    git_fetch_options fo;
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    fo.callbacks = cbs;
    fo.proxy_opts = proxy;
    fo.prune = GIT_FETCH_NO_PRUNE;
    fo.update_fetchhead = 0;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    if ((rc = git_remote_download(remote, &specs, &fo)) < 0) {
        rc = gfail(&c, CPGO_GIT_NETWORK, rc, "cannot fetch branch '%s' from %s", target_branch,
                   g->url);
        goto out_remote;
    }
    git_remote_disconnect(remote);
    /* The refs are set from what was advertised rather than through update_tips: the
       outcome is then the same for every transport, and checked. */
    git_odb *odb = NULL;
    if ((rc = git_repository_odb(&odb, c.repo)) < 0) {
        rc = gfail(&c, CPGO_GIT_LOCAL, rc, "cannot open the cache %s", g->cache);
        goto out_remote;
    }
    int complete = git_odb_exists(odb, &base) && (!have_head || git_odb_exists(odb, &head));
    git_odb_free(odb);
    if (!complete) {
        rc = fail(&c, CPGO_GIT_NETWORK, "fetching from %s did not bring the branch tips", g->url);
        goto out_remote;
    }
    git_reference *ref = NULL;
    if ((rc = git_reference_create(&ref, c.repo, tdst, &base, 1, "cpgo: fetch")) < 0) {
        rc = gfail(&c, CPGO_GIT_LOCAL, rc, "cannot record branch '%s' in %s", target_branch,
                   g->cache);
        goto out_remote;
    }
    git_reference_free(ref);
    ref = NULL;
    if (head_branch) {
        if (have_head)
            rc = git_reference_create(&ref, c.repo, hdst, &head, 1, "cpgo: fetch");
        else if ((rc = git_reference_remove(c.repo, hdst)) == GIT_ENOTFOUND)
            rc = 0;
        if (rc < 0) {
            rc = gfail(&c, CPGO_GIT_LOCAL, rc, "cannot record branch '%s' in %s", head_branch,
                       g->cache);
            goto out_remote;
        }
        git_reference_free(ref);
    }
    oid_hex(tips->base, &base);
    tips->head_exists = have_head;
    oid_hex(tips->head, have_head ? &head : NULL);
    maybe_repack(&c); /* each incremental fetch adds a pack too */
    rc = 0;
out_remote:
    git_remote_free(remote);
out:
    end(&c);
    return rc;
}

/* ---- reading the fetched branches ---- */

/* The fetched tip of a branch (refs/remotes/origin/<branch>). With `found` NULL the branch
 * must have been fetched; otherwise *found says whether it was. */
static int tracking_tip(struct call *c, const char *branch, int *found, git_oid *out)
{
    char ref[512];
    int rc = ref_name(c, ref, sizeof ref, TRACKING_PREFIX, branch);
    if (rc) return rc;
    rc = git_reference_name_to_id(out, c->repo, ref);
    if (found) *found = rc == 0;
    if (rc == GIT_ENOTFOUND && found) return 0;
    if (rc == GIT_ENOTFOUND)
        return fail(c, CPGO_GIT_NOT_FOUND, "branch '%s' of %s has not been fetched", branch,
                    c->g->url);
    if (rc < 0)
        return gfail(c, CPGO_GIT_LOCAL, rc, "cannot read branch '%s' of %s", branch, c->g->url);
    return 0;
}

static int branch_tree(struct call *c, const char *branch, git_oid *tip, git_commit **commit,
                       git_tree **tree)
{
    int rc = tracking_tip(c, branch, NULL, tip);
    if (rc) return rc;
    if ((rc = git_commit_lookup(commit, c->repo, tip)) < 0 ||
        (rc = git_commit_tree(tree, *commit)) < 0)
        return gfail(c, CPGO_GIT_LOCAL, rc, "cannot read branch '%s' of %s", branch, c->g->url);
    return 0;
}

static const char *mode_noun(git_filemode_t m)
{
    switch (m) {
    case GIT_FILEMODE_TREE:
        return "a directory";
    case GIT_FILEMODE_LINK:
        return "a symbolic link";
    case GIT_FILEMODE_COMMIT:
        return "a submodule";
    default:
        return "not a regular file";
    }
}

static int is_file_mode(git_filemode_t m)
{
    return m == GIT_FILEMODE_BLOB || m == GIT_FILEMODE_BLOB_EXECUTABLE;
}

struct search {
    struct call *c;
    const char *name;
    size_t visited;
    size_t matches;
    char *first[MATCHES_LISTED];
    git_filemode_t first_mode;
    int over; /* 1: entries, 2: depth */
    char path[PATH_MAX_LEN + 1];
};

/* Depth-first over the tree; names are compared before subtrees are loaded. */
static int search_tree(struct search *s, git_tree *tree, size_t plen, int depth)
{
    size_t n = git_tree_entrycount(tree);
    for (size_t i = 0; i < n; i++) {
        if (++s->visited > CPGO_GIT_SEARCH_MAX_ENTRIES) {
            s->over = 1;
            return -1;
        }
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        const char *name = git_tree_entry_name(e);
        git_filemode_t m = git_tree_entry_filemode(e);
        size_t nl = strlen(name);
        if (plen + nl + 1 > PATH_MAX_LEN) continue; /* no such path can be configured */
        if (m != GIT_FILEMODE_TREE && !strcmp(name, s->name)) {
            if (s->matches < MATCHES_LISTED) {
                char *p = malloc(plen + nl + 1);
                if (!p) return -1;
                memcpy(p, s->path, plen);
                memcpy(p + plen, name, nl + 1);
                if (!s->matches) s->first_mode = m;
                s->first[s->matches] = p;
            }
            s->matches++;
            continue;
        }
        if (m != GIT_FILEMODE_TREE) continue;
        if (depth + 1 > CPGO_GIT_SEARCH_MAX_DEPTH) {
            s->over = 2;
            return -1;
        }
        git_tree *sub = NULL;
        int rc = git_tree_lookup(&sub, s->c->repo, git_tree_entry_id(e));
        if (rc < 0) return rc;
        memcpy(s->path + plen, name, nl);
        s->path[plen + nl] = '/';
        rc = search_tree(s, sub, plen + nl + 1, depth + 1);
        git_tree_free(sub);
        if (rc) return rc;
    }
    return 0;
}

/* Copies the blob `id` into out (bounded by max_bytes). */
static int read_blob(struct call *c, const git_oid *id, const char *branch, const char *path,
                     size_t max_bytes, struct cpgo_git_file *out)
{
    git_blob *blob = NULL;
    int rc = git_blob_lookup(&blob, c->repo, id);
    if (rc < 0)
        return gfail(c, CPGO_GIT_LOCAL, rc, "cannot read %s on branch '%s' of %s", path, branch,
                     c->g->url);
    git_object_size_t size = git_blob_rawsize(blob);
    if (size > max_bytes) {
        git_blob_free(blob);
        return fail(c, CPGO_GIT_LIMIT,
                    "%s on branch '%s' of %s is %llu bytes, more than the limit of %zu", path,
                    branch, c->g->url, (unsigned long long)size, max_bytes);
    }
    out->data = malloc(size ? (size_t)size : 1);
    if (!out->data) {
        git_blob_free(blob);
        return fail(c, CPGO_GIT_INTERNAL, "out of memory reading %s", path);
    }
    memcpy(out->data, git_blob_rawcontent(blob), (size_t)size);
    out->len = (size_t)size;
    oid_hex(out->blob, id);
    git_blob_free(blob);
    return 0;
}

void cpgo_git_file_free(struct cpgo_git_file *f)
{
    if (!f) return;
    free(f->path);
    free(f->data);
    memset(f, 0, sizeof *f);
}

int cpgo_gitrepo_find_profile(struct cpgo_gitrepo *g, const char *target_branch,
                              const char *target_file, size_t max_bytes, struct cpgo_git_file *out,
                              struct cpgo_err *err)
{
    memset(out, 0, sizeof *out);
    struct call c;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    git_tree_entry *entry = NULL;
    struct search s;
    memset(&s, 0, sizeof s);
    git_oid tip;
    int rc = begin(&c, g, err);
    if (rc || (rc = check_path(&c, target_file)) ||
        (rc = branch_tree(&c, target_branch, &tip, &commit, &tree)))
        goto out;
    oid_hex(out->base, &tip);
    rc = git_tree_entry_bypath(&entry, tree, target_file);
    if (rc == 0) {
        git_filemode_t m = git_tree_entry_filemode(entry);
        if (!is_file_mode(m)) {
            rc = fail(&c, CPGO_GIT_CONTENT, "%s on branch '%s' of %s is %s, not a profile",
                      target_file, target_branch, g->url, mode_noun(m));
            goto out;
        }
        if (!(out->path = strdup(target_file))) {
            rc = fail(&c, CPGO_GIT_INTERNAL, "out of memory");
            goto out;
        }
        if ((rc = read_blob(&c, git_tree_entry_id(entry), target_branch, target_file, max_bytes,
                            out)))
            goto out;
        out->found = 1;
        goto out;
    }
    if (rc != GIT_ENOTFOUND) {
        rc = gfail(&c, CPGO_GIT_LOCAL, rc, "cannot read %s on branch '%s' of %s", target_file,
                   target_branch, g->url);
        goto out;
    }
    rc = 0;
    if (strchr(target_file, '/')) goto absent; /* a path: the caller creates it there */
    s.c = &c;
    s.name = target_file;
    int src = search_tree(&s, tree, 0, 0);
    if (s.over == 1) {
        rc = fail(&c, CPGO_GIT_LIMIT,
                  "searching branch '%s' of %s for %s: more than %d entries; set target_file "
                  "to the profile's path",
                  target_branch, g->url, target_file, CPGO_GIT_SEARCH_MAX_ENTRIES);
        goto out;
    }
    if (s.over == 2) {
        rc = fail(&c, CPGO_GIT_LIMIT,
                  "searching branch '%s' of %s for %s: directories nested deeper than %d; set "
                  "target_file to the profile's path",
                  target_branch, g->url, target_file, CPGO_GIT_SEARCH_MAX_DEPTH);
        goto out;
    }
    if (src < 0) {
        rc = gfail(&c, CPGO_GIT_LOCAL, src, "cannot search branch '%s' of %s", target_branch,
                   g->url);
        goto out;
    }
    if (s.matches > 1) {
        char list[300] = "";
        size_t n = 0;
        for (size_t i = 0; i < s.matches && i < MATCHES_LISTED; i++) {
            int w = snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", s.first[i]);
            if (w < 0 || (size_t)w >= sizeof list - n) break;
            n += (size_t)w;
        }
        rc = fail(&c, CPGO_GIT_CONTENT,
                  "%zu files named %s on branch '%s' of %s: %s%s; set target_file to the path "
                  "of the one to update",
                  s.matches, target_file, target_branch, g->url, list,
                  s.matches > MATCHES_LISTED ? ", ..." : "");
        goto out;
    }
    if (s.matches == 1) {
        if (!is_file_mode(s.first_mode)) {
            rc = fail(&c, CPGO_GIT_CONTENT, "%s on branch '%s' of %s is %s, not a profile",
                      s.first[0], target_branch, g->url, mode_noun(s.first_mode));
            goto out;
        }
        git_tree_entry *found = NULL;
        if ((rc = git_tree_entry_bypath(&found, tree, s.first[0])) < 0) {
            rc = gfail(&c, CPGO_GIT_LOCAL, rc, "cannot read %s on branch '%s' of %s", s.first[0],
                       target_branch, g->url);
            goto out;
        }
        rc = read_blob(&c, git_tree_entry_id(found), target_branch, s.first[0], max_bytes, out);
        git_tree_entry_free(found);
        if (rc) goto out;
        out->path = s.first[0];
        s.first[0] = NULL;
        out->found = 1;
        out->searched = 1;
        goto out;
    }
absent:
    if (!(out->path = strdup(target_file))) rc = fail(&c, CPGO_GIT_INTERNAL, "out of memory");
out:
    for (size_t i = 0; i < MATCHES_LISTED; i++)
        free(s.first[i]);
    git_tree_entry_free(entry);
    git_tree_free(tree);
    git_commit_free(commit);
    end(&c);
    if (rc) {
        char base[CPGO_GIT_ID_SIZE];
        memcpy(base, out->base, sizeof base);
        cpgo_git_file_free(out);
        memcpy(out->base, base, sizeof base);
    }
    return rc;
}

/* ---- the head branch ---- */

static void ident_or_default(const struct cpgo_git_ident *in, const char **name, const char **email)
{
    *name = in && in->name && *in->name ? in->name : CPGO_GIT_DEFAULT_NAME;
    *email = in && in->email && *in->email ? in->email : CPGO_GIT_DEFAULT_EMAIL;
}

/* Fills out->ahead, foreign, why and on_base for head (fetched) over base. */
static int walk_head(struct call *c, const git_oid *base, const git_oid *head,
                     const char *target_branch, const char *head_branch,
                     const struct cpgo_git_ident *ident, struct cpgo_git_head *out)
{
    const char *name, *email;
    ident_or_default(ident, &name, &email);
    git_revwalk *walk = NULL;
    int rc;
    if ((rc = git_revwalk_new(&walk, c->repo)) < 0 || (rc = git_revwalk_push(walk, head)) < 0 ||
        (rc = git_revwalk_hide(walk, base)) < 0) {
        git_revwalk_free(walk);
        return gfail(c, CPGO_GIT_LOCAL, rc, "cannot walk branch '%s' of %s", head_branch,
                     c->g->url);
    }
    git_oid id;
    int first_parent_is_base = 0;
    while (out->ahead < AHEAD_MAX && (rc = git_revwalk_next(&id, walk)) == 0) {
        out->ahead++;
        git_commit *cm = NULL;
        if ((rc = git_commit_lookup(&cm, c->repo, &id)) < 0) break;
        const git_signature *who = git_commit_committer(cm);
        int ours = who && who->name && who->email && !strcmp(who->name, name) &&
                   !strcmp(who->email, email);
        if (!ours && !out->foreign) {
            char hex[CPGO_GIT_ID_SIZE];
            oid_hex(hex, &id);
            snprintf(out->why, sizeof out->why, "commit %.12s by %s <%s> is not cpgo's", hex,
                     who && who->name ? who->name : "?", who && who->email ? who->email : "?");
            out->foreign = 1;
        }
        if (git_oid_equal(&id, head))
            first_parent_is_base =
                git_commit_parentcount(cm) == 1 && git_oid_equal(git_commit_parent_id(cm, 0), base);
        git_commit_free(cm);
    }
    git_revwalk_free(walk);
    if (rc < 0 && rc != GIT_ITEROVER)
        return gfail(c, CPGO_GIT_LOCAL, rc, "cannot walk branch '%s' of %s", head_branch,
                     c->g->url);
    if (out->ahead > 1 && !out->foreign) {
        snprintf(out->why, sizeof out->why, "%s%llu commits on top of '%s' (cpgo makes one)",
                 out->ahead >= AHEAD_MAX ? "at least " : "", (unsigned long long)out->ahead,
                 target_branch);
        out->foreign = 1;
    }
    out->on_base = out->ahead == 1 && !out->foreign && first_parent_is_base;
    return 0;
}

int cpgo_gitrepo_inspect_head(struct cpgo_gitrepo *g, const char *target_branch,
                              const char *head_branch, const struct cpgo_git_ident *ident,
                              struct cpgo_git_head *out, struct cpgo_err *err)
{
    memset(out, 0, sizeof *out);
    struct call c;
    git_oid base, head;
    int found = 0;
    int rc = begin(&c, g, err);
    if (rc || (rc = check_branches(&c, target_branch, head_branch)) ||
        (rc = tracking_tip(&c, target_branch, NULL, &base)))
        goto out;
    oid_hex(out->base, &base);
    if ((rc = tracking_tip(&c, head_branch, &found, &head)) || !found) goto out;
    out->exists = 1;
    oid_hex(out->tip, &head);
    rc = walk_head(&c, &base, &head, target_branch, head_branch, ident, out);
    if (!rc) {
        /* who made the tip, and for which target: ownership follows the tip, not its parents
         * (a base branch rewritten under the branch must not make cpgo's commit foreign) */
        git_commit *cm = NULL;
        if (git_commit_lookup(&cm, c.repo, &head) >= 0) {
            const git_signature *who = git_commit_committer(cm);
            snprintf(out->tip_email, sizeof out->tip_email, "%s",
                     who && who->email ? who->email : "");
            git_message_trailer_array tr = {0};
            const char *msg = git_commit_message(cm);
            if (msg && git_message_trailers(&tr, msg) >= 0) {
                for (size_t i = 0; i < tr.count; i++)
                    if (!strcmp(tr.trailers[i].key, CPGO_GIT_TRAILER))
                        snprintf(out->tip_target, sizeof out->tip_target, "%s",
                                 tr.trailers[i].value);
                git_message_trailer_array_free(&tr);
            }
            git_commit_free(cm);
        }
        git_error_clear();
    }
out:
    end(&c);
    return rc;
}

int cpgo_gitrepo_path_history(struct cpgo_gitrepo *g, const char *target_branch, const char *path,
                              size_t max_commits, const char *const *blobs, size_t nblobs,
                              int *hit, struct cpgo_err *err)
{
    for (size_t i = 0; i < nblobs; i++) hit[i] = 0;
    if (!nblobs) return 0;
    struct call c;
    git_oid tip, id;
    git_oid *want = calloc(nblobs, sizeof *want);
    git_revwalk *walk = NULL;
    if (!want) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    for (size_t i = 0; i < nblobs; i++)
        if (git_oid_fromstr(&want[i], blobs[i]) < 0) memset(&want[i], 0, sizeof want[i]);
    int rc = begin(&c, g, err);
    if (rc || (rc = tracking_tip(&c, target_branch, NULL, &tip))) goto out;
    if ((rc = git_revwalk_new(&walk, c.repo)) < 0 ||
        (rc = git_revwalk_sorting(walk, GIT_SORT_TIME)) < 0 ||
        (rc = git_revwalk_push(walk, &tip)) < 0) {
        rc = gfail(&c, CPGO_GIT_LOCAL, rc, "cannot walk branch '%s' of %s", target_branch,
                   g->url);
        goto out;
    }
    size_t seen = 0, left = nblobs;
    while (seen++ < max_commits && left && git_revwalk_next(&id, walk) == 0) {
        git_commit *cm = NULL;
        git_tree *tree = NULL;
        git_tree_entry *e = NULL;
        if (git_commit_lookup(&cm, c.repo, &id) >= 0 && git_commit_tree(&tree, cm) >= 0 &&
            git_tree_entry_bypath(&e, tree, path) >= 0) {
            for (size_t i = 0; i < nblobs; i++)
                if (!hit[i] && git_oid_equal(git_tree_entry_id(e), &want[i])) {
                    hit[i] = 1;
                    left--;
                }
        }
        git_tree_entry_free(e);
        git_tree_free(tree);
        git_commit_free(cm);
    }
    git_error_clear();
    rc = 0;
out:
    git_revwalk_free(walk);
    free(want);
    end(&c);
    return rc;
}

/* ---- regenerating the commit ---- */

/*
 * Writes the tree `tree` (NULL: an empty directory) with `path` set to blob `id`, into
 * *out. Subtrees on the way are rewritten; every other entry is kept as it is.
 */
static int tree_with(struct call *c, git_tree *tree, const char *path, const char *full,
                     const git_oid *id, git_oid *out)
{
    git_treebuilder *b = NULL;
    git_tree *sub = NULL;
    char *name = NULL;
    int rc = git_treebuilder_new(&b, c->repo, tree);
    if (rc < 0) {
        rc = gfail(c, CPGO_GIT_INTERNAL, rc, "cannot build a tree for %s", full);
        goto out;
    }
    const char *slash = strchr(path, '/');
    if (!slash) {
        const git_tree_entry *e = tree ? git_tree_entry_byname(tree, path) : NULL;
        git_filemode_t mode = GIT_FILEMODE_BLOB;
        if (e) {
            mode = git_tree_entry_filemode(e);
            if (!is_file_mode(mode)) {
                rc = fail(c, CPGO_GIT_CONTENT, "%s in %s is %s, not a profile", full, c->g->url,
                          mode_noun(mode));
                goto out;
            }
        }
        if ((rc = git_treebuilder_insert(NULL, b, path, id, mode)) < 0) {
            rc = gfail(c, CPGO_GIT_CONTENT, rc, "cannot add %s to the tree", full);
            goto out;
        }
    } else {
        if (!(name = strndup(path, (size_t)(slash - path)))) {
            rc = fail(c, CPGO_GIT_INTERNAL, "out of memory");
            goto out;
        }
        const git_tree_entry *e = tree ? git_tree_entry_byname(tree, name) : NULL;
        if (e && git_tree_entry_filemode(e) != GIT_FILEMODE_TREE) {
            rc = fail(c, CPGO_GIT_CONTENT, "cannot create %s in %s: %.*s is %s", full, c->g->url,
                      (int)(slash - full), full, mode_noun(git_tree_entry_filemode(e)));
            goto out;
        }
        if (e && (rc = git_tree_lookup(&sub, c->repo, git_tree_entry_id(e))) < 0) {
            rc = gfail(c, CPGO_GIT_LOCAL, rc, "cannot read the tree of %s", full);
            goto out;
        }
        git_oid subid;
        if ((rc = tree_with(c, sub, slash + 1, full, id, &subid))) goto out;
        if ((rc = git_treebuilder_insert(NULL, b, name, &subid, GIT_FILEMODE_TREE)) < 0) {
            rc = gfail(c, CPGO_GIT_CONTENT, rc, "cannot add %s to the tree", full);
            goto out;
        }
    }
    if ((rc = git_treebuilder_write(out, b)) < 0)
        rc = gfail(c, CPGO_GIT_INTERNAL, rc, "cannot write the tree for %s", full);
out:
    free(name);
    git_tree_free(sub);
    git_treebuilder_free(b);
    return rc;
}

/* Writes a pack (as git_mempack_dump made it) into repo's object database. */
static int write_pack(git_repository *repo, const git_buf *pack)
{
    git_odb *odb = NULL;
    git_odb_writepack *wp = NULL;
    git_indexer_progress stats;
    memset(&stats, 0, sizeof stats);
    int rc = git_repository_odb(&odb, repo);
    if (rc >= 0) rc = git_odb_write_pack(&wp, odb, NULL, NULL);
    if (rc >= 0) rc = wp->append(wp, pack->ptr, pack->size, &stats);
    if (rc >= 0) rc = wp->commit(wp, &stats);
    if (wp) wp->free(wp);
    git_odb_free(odb);
    return rc;
}

/*
 * The cache gains a pack per fetch and per regenerated commit, and force-pushes leave the
 * old commits unreachable: without upkeep the packs pile up and every object lookup opens
 * them all (measured: a thousand packs after a ten-minute soak, publishing ever slower).
 * Past CACHE_MAX_PACKS, the objects reachable from the fetched branches are written into
 * one new pack (libgit2's packbuilder) and the packs that existed before are deleted --
 * what `git gc` does for a clone. The cache is locked for the whole call.
 */
#define CACHE_MAX_PACKS 24

static void pack_names(const char *dir, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    size_t cap = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strncmp(e->d_name, "pack-", 5) || strcmp(e->d_name + l - 5, ".pack")) continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nv = realloc(*out, nc * sizeof *nv);
            if (!nv) break;
            *out = nv;
            cap = nc;
        }
        if (((*out)[*n] = strndup(e->d_name, l - 5))) (*n)++;
    }
    closedir(d);
}

static void maybe_repack(struct call *c)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/objects/pack", c->g->cache);
    char **old;
    size_t n;
    pack_names(dir, &old, &n);
    if (n > CACHE_MAX_PACKS) {
        git_packbuilder *pb = NULL;
        git_revwalk *w = NULL;
        int rc = git_packbuilder_new(&pb, c->repo);
        if (rc >= 0) git_packbuilder_set_threads(pb, 1);
        if (rc >= 0) rc = git_revwalk_new(&w, c->repo);
        if (rc >= 0) rc = git_revwalk_push_glob(w, "refs/remotes/*");
        if (rc >= 0) rc = git_packbuilder_insert_walk(pb, w);
        if (rc >= 0) rc = git_packbuilder_write(pb, NULL, 0, NULL, NULL);
        if (rc >= 0) {
            const char *keep = git_packbuilder_name(pb);
            for (size_t i = 0; i < n; i++) {
                if (keep && !strcmp(old[i] + 5, keep)) continue;
                static const char *const ext[] = {".pack", ".idx", ".rev", ".keep"};
                for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++) {
                    char f[4500];
                    snprintf(f, sizeof f, "%s/%s%s", dir, old[i], ext[k]);
                    unlink(f);
                }
            }
            git_odb *odb = NULL;
            if (git_repository_odb(&odb, c->repo) >= 0) {
                git_odb_refresh(odb);
                git_odb_free(odb);
            }
        }
        /* a failed repack changes nothing: the old packs are all still there */
        git_revwalk_free(w);
        git_packbuilder_free(pb);
        git_error_clear();
    }
    for (size_t i = 0; i < n; i++) free(old[i]);
    free(old);
}

/*
 * Local repositories: the objects go straight into the repository's object database and
 * the branch moves only if it still has the value cpgo fetched (compare-and-swap).
 */
/*
 * Copies into dst the objects of a regenerated commit that dst lacks: the commit, the trees
 * along `path` and the blob; everything else is shared with the base, which came from dst.
 * (Not the mempack's content: libgit2 does not write an object the cache already has, and
 * dst may have pruned an old cpgo blob that the cache still keeps.)
 */
static int copy_objects(struct call *c, git_repository *dst, const git_oid *commit,
                        const git_oid *tree, const char *path)
{
    git_oid ids[PATH_MAX_SEGMENTS + 3];
    size_t n = 0;
    ids[n++] = *commit;
    ids[n++] = *tree;
    git_odb *from = NULL, *to = NULL;
    git_tree *root = NULL;
    int rc = git_tree_lookup(&root, c->repo, tree);
    char prefix[PATH_MAX_LEN + 1];
    for (const char *p = path; rc >= 0 && p && n < PATH_MAX_SEGMENTS + 3;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);
        memcpy(prefix, path, len);
        prefix[len] = 0;
        git_tree_entry *e = NULL;
        if ((rc = git_tree_entry_bypath(&e, root, prefix)) < 0) break;
        ids[n++] = *git_tree_entry_id(e);
        git_tree_entry_free(e);
        p = slash ? slash + 1 : NULL;
    }
    if (rc >= 0) rc = git_repository_odb(&from, c->repo);
    if (rc >= 0) rc = git_repository_odb(&to, dst);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        if (git_odb_exists(to, &ids[i])) continue;
        git_odb_object *o = NULL;
        git_oid written;
        if ((rc = git_odb_read(&o, from, &ids[i])) < 0) break;
        rc = git_odb_write(&written, to, git_odb_object_data(o), git_odb_object_size(o),
                           git_odb_object_type(o));
        git_odb_object_free(o);
    }
    git_odb_free(from);
    git_odb_free(to);
    git_tree_free(root);
    return rc < 0 ? rc : 0;
}

/* 1 when repository r (a working tree's) has HEAD naming `href`, even unborn. */
static int head_names(git_repository *r, const char *href)
{
    git_reference *h = NULL;
    if (git_reference_lookup(&h, r, "HEAD") < 0) {
        git_error_clear();
        return 0;
    }
    int yes = git_reference_type(h) == GIT_REFERENCE_SYMBOLIC &&
              !strcmp(git_reference_symbolic_target(h), href);
    git_reference_free(h);
    return yes;
}

/*
 * Is `href` the branch checked out in a working tree of dst: the main one (unless bare) or
 * a linked one (`git worktree add`, also of a bare repository)? Moving that branch would
 * leave the working tree's index and files describing the old commit, so the next commit
 * made there would silently revert cpgo's. git push refuses it (receive.denyCurrentBranch),
 * and so does cpgo. This is what git_branch_is_checked_out answers, plus an unborn branch
 * (`git checkout --orphan`, not a ref yet) and the working tree's path for the message.
 * Returns 1 with *where set, 0, or a negative libgit2 code.
 */
static int checked_out(git_repository *dst, const char *href, char *where, size_t cap)
{
    git_repository *common = dst, *wr = NULL;
    git_strarray names = {0};
    int rc = 0;
    if (git_repository_is_worktree(dst) &&
        (rc = git_repository_open_ext(&common, git_repository_commondir(dst),
                                      GIT_REPOSITORY_OPEN_NO_SEARCH, NULL)) < 0)
        return rc;
    if (!git_repository_is_bare(common) && head_names(common, href)) {
        snprintf(where, cap, "%s", git_repository_workdir(common));
        rc = 1;
        goto out;
    }
    if ((rc = git_worktree_list(&names, common)) < 0) goto out;
    for (size_t i = 0; i < names.count && rc == 0; i++) {
        git_worktree *wt = NULL;
        /* a linked tree's HEAD lives in the common directory (worktrees/<name>/HEAD), so
         * this works even while its files are on an unmounted disk */
        if (git_worktree_lookup(&wt, common, names.strings[i]) < 0 ||
            git_repository_open_from_worktree(&wr, wt) < 0) {
            git_error_clear();
            git_worktree_free(wt);
            continue;
        }
        if (head_names(wr, href)) {
            snprintf(where, cap, "%s", git_worktree_path(wt));
            rc = 1;
        }
        git_repository_free(wr);
        wr = NULL;
        git_worktree_free(wt);
    }
out:
    git_strarray_dispose(&names);
    if (common != dst) git_repository_free(common);
    return rc;
}

static int update_local(struct call *c, const char *head_branch, const git_oid *commit,
                        const git_oid *tree, const char *path, const git_oid *expect)
{
    git_repository *dst = NULL;
    git_reference *ref = NULL;
    char href[512];
    int rc = ref_name(c, href, sizeof href, "refs/heads/", head_branch);
    if (rc) return rc;
    rc = git_repository_open_ext(&dst, local_path(c->g->url), GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
    if (rc < 0) {
        rc = gfail(c, rc == GIT_ENOTFOUND ? CPGO_GIT_NOT_FOUND : CPGO_GIT_LOCAL, rc,
                   "cannot open %s", c->g->url);
        goto out;
    }
    char where[1024];
    if ((rc = checked_out(dst, href, where, sizeof where)) < 0) {
        rc = gfail(c, CPGO_GIT_LOCAL, rc, "cannot list the working trees of %s", c->g->url);
        goto out;
    }
    if (rc == 1) {
        rc = fail(c, CPGO_GIT_REJECTED,
                  "refusing to update branch '%s' of %s: it is checked out in the working tree "
                  "%s (as git push refuses; check out another branch there, or use a bare "
                  "repository)",
                  head_branch, c->g->url, where);
        goto out;
    }
    if ((rc = copy_objects(c, dst, commit, tree, path)) < 0) {
        rc = gfail(c, CPGO_GIT_LOCAL, rc, "cannot write objects into %s", c->g->url);
        goto out;
    }
    if (expect)
        rc = git_reference_create_matching(&ref, dst, href, commit, 1, expect, "cpgo: regenerate");
    else
        rc = git_reference_create(&ref, dst, href, commit, 0, "cpgo: regenerate");
    if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS || (rc == GIT_ENOTFOUND && expect)) {
        rc = fail(c, CPGO_GIT_CONFLICT,
                  "branch '%s' of %s changed since it was fetched; not overwritten", head_branch,
                  c->g->url);
        goto out;
    }
    if (rc < 0)
        rc =
            gfail(c, CPGO_GIT_LOCAL, rc, "cannot update branch '%s' of %s", head_branch, c->g->url);
out:
    git_reference_free(ref);
    git_repository_free(dst);
    return rc;
}

/*
 * Remote repositories: a push of refs/cpgo/push to refs/heads/<head_branch>, forced,
 * after checking on the same connection that the branch still has the value fetched.
 */
static int push_remote(struct call *c, const char *head_branch, const git_oid *commit,
                       const git_oid *expect)
{
    git_remote *remote = NULL;
    git_reference *ref = NULL;
    char href[512], spec[1100];
    int pushref = 0;
    int rc = ref_name(c, href, sizeof href, "refs/heads/", head_branch);
    if (rc) return rc;
    if ((rc = git_reference_create(&ref, c->repo, PUSH_REF, commit, 1, "cpgo: push")) < 0) {
        rc = gfail(c, CPGO_GIT_LOCAL, rc, "cannot prepare the push to %s", c->g->url);
        goto out;
    }
    pushref = 1;
    git_remote_callbacks cbs;
    git_proxy_options proxy;
    callbacks(c, &cbs);
    proxy_opts(&proxy);
    arm_deadline(c);
    if ((rc = anon_remote(c, &remote)) < 0) {
        rc = gfail(c, CPGO_GIT_INTERNAL, rc, "cannot push to %s", c->g->url);
        goto out;
    }
    if ((rc = git_remote_connect(remote, GIT_DIRECTION_PUSH, &cbs, &proxy, NULL)) < 0) {
        rc = gfail(c, CPGO_GIT_NETWORK, rc, "cannot push to %s", c->g->url);
        goto out;
    }
    const git_remote_head **heads = NULL;
    size_t n = 0;
    if ((rc = git_remote_ls(&heads, &n, remote)) < 0) {
        rc = gfail(c, CPGO_GIT_NETWORK, rc, "cannot list the branches of %s", c->g->url);
        goto out;
    }
    const git_oid *now_at = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(heads[i]->name, href)) now_at = &heads[i]->oid;
    if ((now_at == NULL) != (expect == NULL) || (now_at && !git_oid_equal(now_at, expect))) {
        rc = fail(c, CPGO_GIT_CONFLICT,
                  "branch '%s' of %s changed since it was fetched; not overwritten", head_branch,
                  c->g->url);
        goto out;
    }
    snprintf(spec, sizeof spec, "+%s:%s", PUSH_REF, href);
    char *specv[1] = {spec};
    git_strarray specs = {specv, 1};
    git_push_options po;
    git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
    po.callbacks = cbs;
    po.proxy_opts = proxy;
    if ((rc = git_remote_upload(remote, &specs, &po)) < 0) {
        rc =
            gfail(c, CPGO_GIT_NETWORK, rc, "cannot push branch '%s' to %s", head_branch, c->g->url);
        goto out;
    }
    if (c->push_rejected) {
        rc = fail(c, CPGO_GIT_REJECTED, "%s refused the push of branch '%s': %s", c->g->url,
                  head_branch, c->push_status);
        goto out;
    }
    rc = 0;
out:
    if (remote) git_remote_disconnect(remote);
    git_remote_free(remote);
    git_reference_free(ref);
    if (pushref) git_reference_remove(c->repo, PUSH_REF);
    return rc;
}

int cpgo_gitrepo_publish(struct cpgo_gitrepo *g, const struct cpgo_git_commit_req *req,
                         struct cpgo_git_publish *out, struct cpgo_err *err)
{
    memset(out, 0, sizeof *out);
    struct call c;
    git_commit *base = NULL, *headc = NULL;
    git_tree *base_tree = NULL, *tree = NULL;
    git_odb *odb = NULL;
    git_odb_backend *mem = NULL;
    git_signature *author = NULL, *committer = NULL;
    git_buf msg = {0}, pack = {0};
    git_oid base_id, head_id, blob_id, tree_id, commit_id;
    int have_head = 0;
    int rc = begin(&c, g, err);
    if (rc || (rc = check_branches(&c, req->target_branch, req->head_branch)) ||
        (rc = check_path(&c, req->path)) ||
        (rc = branch_tree(&c, req->target_branch, &base_id, &base, &base_tree)))
        goto out;
    oid_hex(out->base, &base_id);
    if ((rc = tracking_tip(&c, req->head_branch, &have_head, &head_id))) goto out;
    if (have_head && !req->overwrite_foreign) {
        /* the caller inspects first; this makes sure a human's work is never overwritten */
        struct cpgo_git_head h;
        memset(&h, 0, sizeof h);
        if ((rc = walk_head(&c, &base_id, &head_id, req->target_branch, req->head_branch,
                            &req->committer, &h)))
            goto out;
        if (h.foreign) {
            rc = fail(&c, CPGO_GIT_FOREIGN, "branch '%s' of %s is not cpgo's to rewrite: %s",
                      req->head_branch, g->url, h.why);
            goto out;
        }
    }
    /* New objects go to memory first: most rounds end as "unchanged" and write nothing. */
    if ((rc = git_repository_odb(&odb, c.repo)) < 0 || (rc = git_mempack_new(&mem)) < 0) {
        rc = gfail(&c, CPGO_GIT_INTERNAL, rc, "cannot prepare a commit for %s", g->url);
        goto out;
    }
    if ((rc = git_odb_add_backend(odb, mem, 1000)) < 0) {
        git_error_clear();
        mem->free(mem);
        mem = NULL;
        rc = fail(&c, CPGO_GIT_INTERNAL, "cannot prepare a commit for %s", g->url);
        goto out;
    }
    if ((rc = git_blob_create_from_buffer(&blob_id, c.repo, req->data, req->len)) < 0) {
        rc = gfail(&c, CPGO_GIT_INTERNAL, rc, "cannot store the profile for %s", g->url);
        goto out;
    }
    if ((rc = tree_with(&c, base_tree, req->path, req->path, &blob_id, &tree_id))) goto out;
    oid_hex(out->blob, &blob_id);
    if (git_oid_equal(&tree_id, git_tree_id(base_tree))) {
        out->same_as_base = 1;
        oid_hex(out->commit, have_head ? &head_id : NULL);
        goto out;
    }
    if (have_head) {
        if ((rc = git_commit_lookup(&headc, c.repo, &head_id)) < 0) {
            rc = gfail(&c, CPGO_GIT_LOCAL, rc, "cannot read branch '%s' of %s", req->head_branch,
                       g->url);
            goto out;
        }
        if (git_commit_parentcount(headc) == 1 &&
            git_oid_equal(git_commit_parent_id(headc, 0), &base_id) &&
            git_oid_equal(git_commit_tree_id(headc), &tree_id)) {
            out->unchanged = 1;
            oid_hex(out->commit, &head_id);
            goto out;
        }
    }
    const char *an, *ae, *cn, *ce;
    ident_or_default(&req->author, &an, &ae);
    ident_or_default(&req->committer, &cn, &ce);
    if ((rc = git_signature_now(&author, an, ae)) < 0 ||
        (rc = git_signature_now(&committer, cn, ce)) < 0) {
        rc = gfail(&c, CPGO_GIT_CONTENT, rc, "invalid author or committer");
        goto out;
    }
    if ((rc = git_message_prettify(&msg, req->message && *req->message ? req->message : "cpgo", 0,
                                   '#')) < 0 ||
        (rc = git_tree_lookup(&tree, c.repo, &tree_id)) < 0) {
        rc = gfail(&c, CPGO_GIT_INTERNAL, rc, "cannot prepare a commit for %s", g->url);
        goto out;
    }
    const git_commit *parents[1] = {base};
    if ((rc = git_commit_create(&commit_id, c.repo, NULL, author, committer, NULL, msg.ptr, tree, 1,
                                parents)) < 0) {
        rc = gfail(&c, CPGO_GIT_INTERNAL, rc, "cannot create a commit for %s", g->url);
        goto out;
    }
    /* The new objects, as one pack, into the cache before any ref points at them; the
       repository gets them from the push (or copy_objects for a local one). */
    if ((rc = git_mempack_dump(&pack, c.repo, mem)) < 0 || (rc = write_pack(c.repo, &pack)) < 0) {
        rc = gfail(&c, CPGO_GIT_LOCAL, rc, "cannot write the commit into %s", g->cache);
        goto out;
    }
    if (g->kind == CPGO_REPO_FILE)
        rc = update_local(&c, req->head_branch, &commit_id, &tree_id, req->path,
                          have_head ? &head_id : NULL);
    else
        rc = push_remote(&c, req->head_branch, &commit_id, have_head ? &head_id : NULL);
    if (rc) goto out;
    out->pushed = 1;
    oid_hex(out->commit, &commit_id);
    /* What cpgo_gitrepo_fetch would now find: the next round sees the branch as pushed even
       if it does not fetch first. */
    char tdst[512];
    git_reference *ref = NULL;
    if (!ref_name(&c, tdst, sizeof tdst, TRACKING_PREFIX, req->head_branch) &&
        git_reference_create(&ref, c.repo, tdst, &commit_id, 1, "cpgo: pushed") >= 0)
        git_reference_free(ref);
    git_error_clear();
    maybe_repack(&c); /* after the ref moved: the new commit is reachable */
    rc = 0;
out:
    git_buf_dispose(&pack);
    git_buf_dispose(&msg);
    git_signature_free(author);
    git_signature_free(committer);
    git_tree_free(tree);
    git_tree_free(base_tree);
    git_commit_free(headc);
    git_commit_free(base);
    git_odb_free(odb); /* frees the mempack with it */
    end(&c);
    return rc;
}

int cpgo_gitrepo_blob_id(const void *data, size_t len, char out[CPGO_GIT_ID_SIZE],
                         struct cpgo_err *err)
{
    git_oid id;
    if (git_odb_hash(&id, data, len, GIT_OBJECT_BLOB) < 0) {
        git_error_clear();
        out[0] = 0;
        return cpgo_err_set(err, CPGO_E_NOMEM, "cannot hash the profile");
    }
    oid_hex(out, &id);
    return 0;
}

/* ---- merged? ---- */

int cpgo_gitrepo_is_merged(struct cpgo_gitrepo *g, const char *target_branch, const char *path,
                           const char *blob, int *merged, struct cpgo_err *err)
{
    *merged = 0;
    struct call c;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    git_tree_entry *entry = NULL;
    git_oid tip, want;
    int rc = begin(&c, g, err);
    if (rc || (rc = check_path(&c, path))) goto out;
    if (!blob || git_oid_fromstr(&want, blob) < 0) {
        rc = fail(&c, CPGO_GIT_INTERNAL, "'%s' is not a blob id", blob ? blob : "");
        goto out;
    }
    if ((rc = branch_tree(&c, target_branch, &tip, &commit, &tree))) goto out;
    rc = git_tree_entry_bypath(&entry, tree, path);
    if (rc == GIT_ENOTFOUND) {
        rc = 0;
        goto out;
    }
    if (rc < 0) {
        rc = gfail(&c, CPGO_GIT_LOCAL, rc, "cannot read %s on branch '%s' of %s", path,
                   target_branch, g->url);
        goto out;
    }
    *merged = is_file_mode(git_tree_entry_filemode(entry)) &&
              git_oid_equal(git_tree_entry_id(entry), &want);
out:
    git_tree_entry_free(entry);
    git_tree_free(tree);
    git_commit_free(commit);
    end(&c);
    return rc;
}
