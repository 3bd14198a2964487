/*
 * gitrepo.c - see gitrepo.h for the cache, the round and the credential rules. This file
 * holds what every call shares: the failure classes and their error lines, name and path
 * checks, the call itself (lock + open the cache) and the handle's life. The rest of the
 * module, one concern a file (gitrepo_int.h lists what they share):
 *   gitrepo_remote.c  talking to the remote: credentials, deadlines, push status
 *   gitrepo_fetch.c   fetching the branches, and the cache's pack upkeep
 *   gitrepo_find.c    reading the fetched branches: tips, trees, the profile
 *   gitrepo_head.c    ownership of the head branch and merge detection
 *   gitrepo_push.c    regenerating the commit and pushing it
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
 *   rejected, and the call ends as CPGO_CLASS_AUTH instead of retrying;
 * - every error line (libgit2's messages and a server's push status quote the server) is
 *   made one line and scrubbed of the token in every form (url.h) before it is cut;
 * - objects of a regenerated commit are built in an in-memory object database (libgit2's
 *   mempack) and written to disk as one pack only when they are about to be pushed, so an
 *   unchanged round writes nothing and the cache does not collect a blob per round;
 * - every ref in the cache points at objects on disk (a ref created for the push is made
 *   after the pack is written and removed before the call returns).
 */
#include "publish/gitrepo_int.h"

#include <errno.h>
#include <fcntl.h>
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

/* The cpgo code that goes with a class: permanent classes are "input" codes. */
static int class_code(enum cpgo_class c)
{
    switch (c) {
    case CPGO_CLASS_AUTH:
    case CPGO_CLASS_TLS:
    case CPGO_CLASS_NOT_FOUND:
    case CPGO_CLASS_REJECTED:
    case CPGO_CLASS_FOREIGN:
        return CPGO_E_USAGE;
    case CPGO_CLASS_CONTENT:
        return CPGO_E_INPUT;
    case CPGO_CLASS_LIMIT:
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
            return cpgo_err_set(err, CPGO_E_IO,
                                "cannot register cpgo's socket stream with libgit2");
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
static int vfail(struct cpgo_gitrepo *g, struct cpgo_err *err, enum cpgo_class cls,
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
        while (len && whole[len - 1] == ' ')
            whole[--len] = 0;
        cpgo_url_scrub(g ? g->secrets : NULL, whole, len, line, sizeof line);
        explicit_bzero(whole, cap);
        free(whole);
    }
    if (g) g->last = cls;
    return cpgo_err_set(err, class_code(cls), "%s", line);
}

int gitrepo_fail(struct call *c, enum cpgo_class cls, const char *fmt, ...)
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
int gitrepo_gfail(struct call *c, enum cpgo_class cls, int rc, const char *fmt, ...)
{
    const git_error *e = git_error_last();
    /* libgit2's message whole (vfail scrubs it before any cut), or cpgo's own words */
    char own[160];
    const char *detail = e && e->message && *e->message ? e->message : "unknown libgit2 error";
    int klass = e ? e->klass : GIT_ERROR_NONE;
    int status = http_status(detail);
    if (c->auth_wronghost) {
        cls = CPGO_CLASS_AUTH;
        detail = "the server asked for credentials for another host; none were sent";
    } else if (c->key_problem[0]) {
        cls = CPGO_CLASS_AUTH;
        detail = c->key_problem;
    } else if (c->auth_missing) {
        cls = CPGO_CLASS_AUTH;
        snprintf(own, sizeof own, "authentication required, and no %s is configured",
                 c->g->kind == CPGO_REPO_SSH ? "ssh key or agent" : "token");
        detail = own;
    } else if (c->auth_failed || rc == GIT_EAUTH || status == 401) {
        return gitrepo_fail(c, CPGO_CLASS_AUTH, "authentication failed for %s%s", c->g->url,
                            c->g->kind == CPGO_REPO_SSH ? " (ssh key rejected)"
                                                        : " (the token was rejected)");
    } else if (c->timed_out) {
        cls = CPGO_CLASS_NETWORK;
        snprintf(own, sizeof own, "timed out after %d s", c->g->timeout_s);
        detail = own;
    } else if (rc == GIT_ECERTIFICATE) {
        cls = CPGO_CLASS_TLS;
    } else if (status == 403) {
        cls = CPGO_CLASS_AUTH;
        detail = "access denied (HTTP 403)";
    } else if (status == 404) {
        cls = CPGO_CLASS_NOT_FOUND;
        detail = "repository not found (HTTP 404)";
    } else if (status >= 500) {
        cls = CPGO_CLASS_NETWORK;
    } else if (klass == GIT_ERROR_NET || klass == GIT_ERROR_SSH || klass == GIT_ERROR_HTTP ||
               klass == GIT_ERROR_SSL) {
        /* a TLS error other than an unverifiable certificate is a failed connection */
        if (cls == CPGO_CLASS_LOCAL || cls == CPGO_CLASS_INTERNAL_RETRY) cls = CPGO_CLASS_NETWORK;
    } else if (klass == GIT_ERROR_NOMEMORY) {
        cls = CPGO_CLASS_INTERNAL_RETRY;
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

void gitrepo_oid_hex(char out[CPGO_GIT_ID_SIZE], const git_oid *id)
{
    if (id)
        git_oid_tostr(out, CPGO_GIT_ID_SIZE, id);
    else
        out[0] = 0;
}

/* "refs/heads/<branch>" or a tracking ref name into buf; 0, or CPGO_CLASS_CONTENT when
 * the branch name is not a valid ref name. */
int gitrepo_ref_name(struct call *c, char *buf, size_t cap, const char *prefix, const char *branch)
{
    int valid = 0;
    if (!branch || !*branch || (size_t)snprintf(buf, cap, "%s%s", prefix, branch) >= cap ||
        git_reference_name_is_valid(&valid, buf) < 0 || !valid)
        return gitrepo_fail(c, CPGO_CLASS_CONTENT, "'%s' is not a valid branch name",
                            branch ? branch : "");
    return 0;
}

/* The head branch must never be the target branch: it is force-pushed. */
int gitrepo_check_branches(struct call *c, const char *target_branch, const char *head_branch)
{
    if (head_branch && target_branch && !strcmp(head_branch, target_branch))
        return gitrepo_fail(
            c, CPGO_CLASS_CONTENT,
            "the head branch '%s' of %s is the target branch; cpgo force-pushes the "
            "head branch, so it must be another one",
            head_branch, c->g->url);
    return 0;
}

/*
 * A profile path must name a file inside the tree: relative, no empty, "." or ".."
 * segments, no ".git" (git refuses such trees), no control characters.
 */
int gitrepo_check_path(struct call *c, const char *path)
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
    if (why)
        return gitrepo_fail(c, CPGO_CLASS_CONTENT, "target file '%s' %s", path ? path : "", why);
    return 0;
}

/* The directory of a local repository: config/repo.c makes file:// URLs paths, and a
 * URL given directly is accepted too. */
const char *gitrepo_local_path(const char *url)
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
        if (!cpgo_state_mkdir_p(dir, 0700))
            c->lockfd = open(c->g->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    }
    if (c->lockfd < 0)
        return gitrepo_fail(c, CPGO_CLASS_LOCAL, "cannot open lock %s: %s", c->g->lock,
                            strerror(errno));
    while (flock(c->lockfd, LOCK_EX)) {
        if (errno == EINTR) continue;
        int e = errno;
        close(c->lockfd);
        c->lockfd = -1;
        return gitrepo_fail(c, CPGO_CLASS_LOCAL, "cannot lock %s: %s", c->g->lock, strerror(e));
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
            return gitrepo_fail(c, CPGO_CLASS_LOCAL, "cannot move the damaged cache %s aside: %s",
                                c->g->cache, strerror(errno));
    }
    git_error_clear();
    /* an empty or half-created directory is completed in place */
    rc = git_repository_init(&c->repo, c->g->cache, 1);
    if (rc < 0)
        return gitrepo_gfail(c, CPGO_CLASS_LOCAL, rc, "cannot create the cache %s", c->g->cache);
    /* for people listing state_dir/git: which repository this is */
    char desc[4200];
    snprintf(desc, sizeof desc, "%s/description", c->g->cache);
    char text[4200];
    int n = snprintf(text, sizeof text, "cpgo cache of %s\n", c->g->url);
    struct cpgo_err ignored; /* a courtesy for people: the cache works without it */
    if (n > 0 && (size_t)n < sizeof text)
        cpgo_file_write_at(AT_FDCWD, desc, text, (size_t)n, 0644, &ignored);
    return 0;
}

int gitrepo_begin(struct call *c, struct cpgo_gitrepo *g, struct cpgo_err *err)
{
    memset(c, 0, sizeof *c);
    c->g = g;
    c->err = err;
    c->lockfd = -1;
    g->last = CPGO_CLASS_OK;
    git_error_clear();
    int rc = lock_cache(c);
    return rc ? rc : open_cache(c);
}

void gitrepo_end(struct call *c)
{
    git_repository_free(c->repo);
    c->repo = NULL;
    if (c->lockfd >= 0) close(c->lockfd); /* releases the flock */
    c->lockfd = -1;
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
        (!gitrepo_key_file_ok(g->ssh_key, "git.ssh_key", kp, sizeof kp) ||
         (g->ssh_pubkey &&
          !gitrepo_key_file_ok(g->ssh_pubkey, "git.ssh_key's .pub", kp, sizeof kp)))) {
        /* a person must fix it (class auth): said now, before any network call */
        int rc = cpgo_err_set(err, class_code(CPGO_CLASS_AUTH), "%s", kp);
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
    int rc = gitrepo_begin(&c, g, err);
    gitrepo_end(&c);
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
    free(g->placed_dir);
    free(g);
}

const char *cpgo_gitrepo_cache_dir(const struct cpgo_gitrepo *g)
{
    return g->cache;
}

enum cpgo_class cpgo_gitrepo_last_class(const struct cpgo_gitrepo *g)
{
    return g->last;
}
