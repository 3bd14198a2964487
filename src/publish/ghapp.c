/*
 * ghapp.c - see ghapp.h. The key and the JWT (libcrypto: PEM_read_bio_PrivateKey,
 * EVP_DigestSign; jansson for the JSON; base64url from EVP_EncodeBlock), then the token
 * cache and its requests on the loop.
 *
 * A request for owner/repo is a waiter that moves through stages: LOOKUP (its repository's
 * installation is being looked up: one GET per repository at a time), MINT (its
 * installation's token is being minted: one POST per installation at a time), READY (its
 * answer is filled in and it waits for the delivery timer, so that a callback never runs
 * inside cpgo_ghapp_get_token). Invariants: every waiter is on exactly one of `waiting`
 * and `ready`; a waiter in LOOKUP has a repository entry with `looking` set, one in MINT
 * an installation entry with `minting` set; every waiter is delivered exactly once, and
 * after close only with CPGO_CLASS_CANCELED.
 */
#define _GNU_SOURCE /* explicit_bzero */
#include "publish/ghapp.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/file.h"
#include "base/list.h"
#include "base/log.h"
#include "base/url.h"

#define KEY_FIELD "github.app.private_key_file"
#define GHAPP_MAX_WAITING 10000
#define GHAPP_MAX_REPOS 100000 /* repositories whose installation is remembered */
#define GHAPP_JWT_RENEW_S 480  /* re-signed at 8 minutes: a minute's room before exp */
#define GHAPP_SKEW_S 30        /* a clock this far from GitHub's: the JWT is signed again */

/* ---- the key ----------------------------------------------------------------------------- */

/* PEM_read_bio_PrivateKey asks for a passphrase only for an encrypted key: refuse, and
 * remember that it asked (the error then says why). */
static int refuse_passphrase(char *buf, int size, int rwflag, void *u)
{
    *(int *)u = 1;
    return -1;
}

static EVP_PKEY *parse_key(const char *pem, size_t len, const char *what, struct cpgo_err *err)
{
    if (len > CPGO_GHAPP_KEY_MAX) {
        cpgo_err_set(err, CPGO_E_USAGE, "%s is too large for a private key", what);
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
        return NULL;
    }
    int asked = 0;
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, refuse_passphrase, &asked);
    BIO_free(bio);
    ERR_clear_error(); /* libcrypto's queue is per thread: leave nothing behind */
    if (!k) {
        if (asked)
            cpgo_err_set(err, CPGO_E_USAGE,
                         "%s: encrypted keys are not supported (store the key GitHub generated "
                         "as it is, mode 0600)",
                         what);
        else
            cpgo_err_set(err, CPGO_E_USAGE,
                         "%s: not a PEM private key (want the .pem file GitHub generated for the "
                         "app)",
                         what);
        return NULL;
    }
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
        cpgo_err_set(err, CPGO_E_USAGE,
                     "%s: not an RSA key (%s): GitHub Apps sign their JWTs with RS256", what,
                     OBJ_nid2sn(EVP_PKEY_get_base_id(k)));
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

int cpgo_ghapp_key_check(const char *pem, size_t len, const char *what, struct cpgo_err *err)
{
    EVP_PKEY *k = parse_key(pem, len, what, err);
    if (!k) return err->code;
    EVP_PKEY_free(k);
    return 0;
}

void cpgo_ghapp_key_free(char *pem, size_t len)
{
    if (!pem) return;
    explicit_bzero(pem, len);
    free(pem);
}

int cpgo_ghapp_key_load(const char *path, char **pem, size_t *len, struct cpgo_err *err)
{
    *pem = NULL;
    *len = 0;
    /* a FIFO would block this (pool) thread until a writer came: refused at once */
    int fd = cpgo_file_open_named(path, err);
    if (fd < 0) {
        cpgo_err_prefix(err, KEY_FIELD);
        return err->code = fd == CPGO_E_NOMEM ? fd : CPGO_E_USAGE;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return cpgo_err_set(err, CPGO_E_USAGE, "cannot read " KEY_FIELD " %s: %s", path,
                            strerror(e));
    }
    /* Whoever reads the key can act as the app on every repository it is installed on;
     * whoever writes it can make cpgo sign as someone else's app. Group access is fine
     * only for cpgo's own group (Kubernetes' fsGroup, systemd's credentials). */
    const char *who = NULL;
    if (st.st_mode & (S_IROTH | S_IWOTH))
        who = "every user";
    else if ((st.st_mode & S_IWGRP) || ((st.st_mode & S_IRGRP) && st.st_gid != getegid()))
        who = "its group";
    if (who) {
        close(fd);
        return cpgo_err_set(err, CPGO_E_USAGE,
                            KEY_FIELD " %s is readable or writable by %s (mode %04o): refused "
                                      "(chmod 600 it)",
                            path, who, (unsigned)(st.st_mode & 07777));
    }
    unsigned char *data;
    size_t n;
    int rc = cpgo_file_read_fd(fd, path, CPGO_GHAPP_KEY_MAX, &data, &n, err);
    close(fd);
    if (rc == CPGO_E_LIMIT)
        return cpgo_err_set(err, CPGO_E_USAGE, KEY_FIELD " %s is larger than %d bytes: not a key",
                            path, CPGO_GHAPP_KEY_MAX);
    if (rc) {
        cpgo_err_prefix(err, KEY_FIELD);
        return err->code = rc == CPGO_E_NOMEM ? rc : CPGO_E_USAGE;
    }
    char what[300];
    snprintf(what, sizeof what, KEY_FIELD " %s", path);
    if ((rc = cpgo_ghapp_key_check((const char *)data, n, what, err))) {
        cpgo_ghapp_key_free((char *)data, n);
        return rc;
    }
    /* from now on a core dump (or a same-user ptrace) would hold the key */
    cpgo_url_secrets_nodump();
    *pem = (char *)data;
    *len = n;
    return 0;
}

/* ---- the JWT ----------------------------------------------------------------------------- */

/* base64url without padding (RFC 7515 section 2) of len bytes; malloc'd or NULL. */
static char *b64url(const unsigned char *in, size_t len)
{
    if (len > (size_t)1 << 20) return NULL;
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out) return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = 0;
    for (int i = 0; i < n; i++)
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    return out;
}

static char *b64url_json(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!s) return NULL;
    char *b = b64url((const unsigned char *)s, strlen(s));
    free(s);
    return b;
}

int cpgo_ghapp_jwt(const char *pem, size_t len, const char *iss, int64_t now, char **out,
                   struct cpgo_err *err)
{
    *out = NULL;
    if (!iss || !*iss) return cpgo_err_set(err, CPGO_E_USAGE, "github app: no issuer (app id)");
    EVP_PKEY *k = parse_key(pem, len, KEY_FIELD, err);
    if (!k) return err->code;
    char *h = b64url_json(json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT"));
    char *c = b64url_json(json_pack("{s:I, s:I, s:s}", "iat",
                                    (json_int_t)(now - CPGO_GHAPP_JWT_BACKDATE_S), "exp",
                                    (json_int_t)(now + CPGO_GHAPP_JWT_LIFE_S), "iss", iss));
    char *input = h && c ? malloc(strlen(h) + strlen(c) + 2) : NULL;
    unsigned char *sig = NULL;
    char *s64 = NULL;
    int rc = CPGO_E_NOMEM;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (input && md) {
        sprintf(input, "%s.%s", h, c);
        size_t sl = 0;
        if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
            EVP_DigestSign(md, NULL, &sl, (const unsigned char *)input, strlen(input)) != 1 ||
            !(sig = malloc(sl)) ||
            EVP_DigestSign(md, sig, &sl, (const unsigned char *)input, strlen(input)) != 1) {
            rc = sig ? CPGO_E_USAGE : CPGO_E_NOMEM;
        } else if ((s64 = b64url(sig, sl))) {
            size_t il = strlen(input), sn = strlen(s64);
            if ((*out = malloc(il + sn + 2))) {
                memcpy(*out, input, il);
                (*out)[il] = '.';
                memcpy(*out + il + 1, s64, sn + 1);
                rc = 0;
            }
        }
    }
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    free(h);
    free(c);
    free(input);
    free(sig);
    free(s64);
    if (rc == CPGO_E_USAGE)
        return cpgo_err_set(err, rc, "github app: libcrypto could not sign the JWT with the key");
    if (rc) return cpgo_err_set(err, rc, "out of memory");
    return 0;
}

/* ---- the cache and its requests ------------------------------------------------------------ */

#define FULL_MAX 202 /* "owner/repo": 100 + 1 + 100 + NUL */

enum stage { ST_LOOKUP, ST_MINT, ST_READY };

struct gh_repo { /* an installation id per repository (when the config gives none) */
    struct cpgo_list_node link;
    char full[FULL_MAX];
    uint64_t inst;
    int looking;
};

struct gh_inst { /* a token per installation */
    struct cpgo_list_node link;
    uint64_t id;
    char *token;
    int64_t expires_local; /* expires_at by the local clock */
    int minting;
};

struct gh_wait {
    struct cpgo_list_node link;
    char full[FULL_MAX];
    uint64_t inst;
    enum stage stage;
    cpgo_ghapp_token_cb cb;
    void *arg;
    char *token; /* a copy for the callback, zeroed after it */
    struct cpgo_ghapp_token t;
};

/* One REST operation in flight: what its callback needs to find its waiters. */
struct gh_op {
    struct cpgo_ghapp *app;
    int mint; /* 0: lookup of `full`; 1: mint for `inst` */
    char full[FULL_MAX];
    uint64_t inst;
    int64_t jwt_exp; /* of the JWT it was sent with (corrected clock) */
    int retried;
};

struct cpgo_ghapp {
    uv_loop_t *loop;
    struct cpgo_prapi_client *client;
    char *pem;
    size_t pem_len;
    int64_t app_id;
    uint64_t fixed_inst;
    char iss[24];
    char *jwt;
    int64_t jwt_at, jwt_exp; /* corrected clock; jwt_at 0 = none or the key changed */
    int64_t offset;          /* server - local, seconds */
    struct cpgo_list repos, insts, waiting, ready;
    uv_timer_t timer; /* delivers `ready` */
    int closing, client_closed;
    void (*closed)(void *);
    void *closed_arg;
    struct cpgo_ghapp_status st;
};

static int64_t local_now(void)
{
    return (int64_t)time(NULL);
}

static int valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 100 || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-') return 0;
    return 1;
}

static void zfree(char *s)
{
    if (!s) return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static struct gh_repo *find_repo(struct cpgo_ghapp *app, const char *full, int create)
{
    for (struct cpgo_list_node *n = cpgo_list_head(&app->repos); n; n = n->next) {
        struct gh_repo *r = CPGO_LIST_DATA(n, struct gh_repo, link);
        if (!strcmp(r->full, full)) return r;
    }
    if (!create) return NULL;
    struct gh_repo *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    snprintf(r->full, sizeof r->full, "%s", full);
    cpgo_list_push_tail(&app->repos, &r->link);
    return r;
}

static struct gh_inst *find_inst(struct cpgo_ghapp *app, uint64_t id, int create)
{
    for (struct cpgo_list_node *n = cpgo_list_head(&app->insts); n; n = n->next) {
        struct gh_inst *i = CPGO_LIST_DATA(n, struct gh_inst, link);
        if (i->id == id) return i;
    }
    if (!create) return NULL;
    struct gh_inst *i = calloc(1, sizeof *i);
    if (!i) return NULL;
    i->id = id;
    cpgo_list_push_tail(&app->insts, &i->link);
    return i;
}

static void deliver_cb(uv_timer_t *h);

/* Moves w (on no list) to `ready` with its answer filled in, and arms the delivery. */
static void ready(struct cpgo_ghapp *app, struct gh_wait *w)
{
    w->stage = ST_READY;
    w->t.installation_id = (int64_t)w->inst;
    w->t.token = w->token;
    cpgo_list_push_tail(&app->ready, &w->link);
    if (!uv_is_closing((uv_handle_t *)&app->timer)) uv_timer_start(&app->timer, deliver_cb, 0, 0);
}

static void fail(struct cpgo_ghapp *app, struct gh_wait *w, enum cpgo_class cls, const char *line)
{
    w->t.cls = cls;
    size_t n = strnlen(line, sizeof w->t.error - 1); /* cut to the line's size */
    memcpy(w->t.error, line, n);
    w->t.error[n] = 0;
    zfree(w->token);
    w->token = NULL;
    ready(app, w);
}

/* Signs a JWT when there is none, the key changed, or it is 8 minutes old; hands it to the
 * client. 0, or an error line in err. */
static int fresh_jwt(struct cpgo_ghapp *app, int force, struct cpgo_err *err)
{
    int64_t now = local_now() + app->offset;
    if (app->jwt && app->jwt_at && !force && now - app->jwt_at < GHAPP_JWT_RENEW_S &&
        now >= app->jwt_at - 60)
        return 0;
    char *jwt;
    int rc = cpgo_ghapp_jwt(app->pem, app->pem_len, app->iss, now, &jwt, err);
    if (rc) return rc;
    if (app->client && (rc = cpgo_prapi_client_set_token(app->client, jwt))) {
        zfree(jwt);
        return cpgo_err_set(err, rc, "github app: cannot hand the JWT to the client");
    }
    zfree(app->jwt);
    app->jwt = jwt;
    app->jwt_at = now;
    app->jwt_exp = now + CPGO_GHAPP_JWT_LIFE_S;
    app->st.jwts++;
    return 0;
}

static void op_done(struct cpgo_prapi_result *res, void *arg);

/* Sends op (a lookup or a mint); on failure `op` is freed and the error line is in err. */
static int send_op(struct cpgo_ghapp *app, struct gh_op *op, int force_jwt, struct cpgo_err *err)
{
    int rc = fresh_jwt(app, force_jwt, err);
    if (!rc) {
        op->jwt_exp = app->jwt_exp;
        if (op->mint) {
            rc = cpgo_prapi_app_token(app->client, op->inst, op_done, op);
            app->st.mints += !rc;
        } else {
            char owner[FULL_MAX];
            snprintf(owner, sizeof owner, "%s", op->full);
            char *slash = strchr(owner, '/');
            *slash = 0;
            rc = cpgo_prapi_app_installation(app->client, owner, slash + 1, op_done, op);
            app->st.lookups += !rc;
        }
        if (rc)
            cpgo_err_set(err, rc, "github app: cannot queue the request (%s)", cpgo_err_class(rc));
    }
    if (rc) free(op);
    return rc;
}

static void start_mint(struct cpgo_ghapp *app, struct gh_inst *i);
static void start_lookup(struct cpgo_ghapp *app, struct gh_repo *r);

/* w (on no list) knows its installation: the cached token, or it waits for a mint. */
static void to_mint(struct cpgo_ghapp *app, struct gh_wait *w)
{
    struct gh_inst *i = find_inst(app, w->inst, 1);
    if (!i) {
        fail(app, w, CPGO_CLASS_INTERNAL_RETRY, "github app: out of memory");
        return;
    }
    if (i->token && local_now() < i->expires_local - CPGO_GHAPP_REFRESH_MARGIN_S) {
        w->token = strdup(i->token);
        if (!w->token) {
            fail(app, w, CPGO_CLASS_INTERNAL_RETRY, "github app: out of memory");
            return;
        }
        w->t.cls = CPGO_CLASS_OK;
        w->t.expires_at = i->expires_local;
        app->st.cached++;
        ready(app, w);
        return;
    }
    w->stage = ST_MINT;
    cpgo_list_push_tail(&app->waiting, &w->link);
    if (!i->minting) start_mint(app, i);
}

/* Ends every waiter of stage `stage` for `full` (lookups) or `inst` (mints): each is
 * taken off `waiting` and handed to `next` (NULL: failed with cls and line). */
static void settle(struct cpgo_ghapp *app, enum stage stage, const char *full, uint64_t inst,
                   enum cpgo_class cls, const char *line)
{
    struct cpgo_list mine = {0};
    struct cpgo_list_node *n = cpgo_list_head(&app->waiting);
    while (n) {
        struct cpgo_list_node *next = n->next;
        struct gh_wait *w = CPGO_LIST_DATA(n, struct gh_wait, link);
        if (w->stage == stage && (stage == ST_LOOKUP ? !strcmp(w->full, full) : w->inst == inst)) {
            cpgo_list_remove(&app->waiting, n);
            cpgo_list_push_tail(&mine, n);
        }
        n = next;
    }
    struct cpgo_list_node *m;
    while ((m = cpgo_list_pop_head(&mine))) {
        struct gh_wait *w = CPGO_LIST_DATA(m, struct gh_wait, link);
        if (cls != CPGO_CLASS_OK) {
            fail(app, w, cls, line);
        } else if (stage == ST_LOOKUP) {
            w->inst = inst;
            to_mint(app, w);
        } else {
            struct gh_inst *i = find_inst(app, inst, 0);
            w->token = i && i->token ? strdup(i->token) : NULL;
            if (!w->token) {
                fail(app, w, CPGO_CLASS_INTERNAL_RETRY, "github app: out of memory");
                continue;
            }
            w->t.cls = CPGO_CLASS_OK;
            w->t.expires_at = i->expires_local;
            ready(app, w);
        }
    }
}

static void start_mint(struct cpgo_ghapp *app, struct gh_inst *i)
{
    struct cpgo_err err = {0};
    struct gh_op *op = calloc(1, sizeof *op);
    if (!op) {
        settle(app, ST_MINT, NULL, i->id, CPGO_CLASS_INTERNAL_RETRY, "github app: out of memory");
        return;
    }
    op->app = app;
    op->mint = 1;
    op->inst = i->id;
    if (send_op(app, op, 0, &err)) {
        settle(app, ST_MINT, NULL, i->id,
               err.code == CPGO_E_NOMEM ? CPGO_CLASS_INTERNAL_RETRY : CPGO_CLASS_CONFIG, err.text);
        return;
    }
    i->minting = 1;
}

static void start_lookup(struct cpgo_ghapp *app, struct gh_repo *r)
{
    struct cpgo_err err = {0};
    struct gh_op *op = calloc(1, sizeof *op);
    if (!op) {
        settle(app, ST_LOOKUP, r->full, 0, CPGO_CLASS_INTERNAL_RETRY, "github app: out of memory");
        return;
    }
    op->app = app;
    snprintf(op->full, sizeof op->full, "%s", r->full);
    if (send_op(app, op, 0, &err)) {
        settle(app, ST_LOOKUP, r->full, 0,
               err.code == CPGO_E_NOMEM ? CPGO_CLASS_INTERNAL_RETRY : CPGO_CLASS_CONFIG, err.text);
        return;
    }
    r->looking = 1;
}

/* The client's error line without its advice about "the token" (here it is the JWT). */
static void client_reason(const struct cpgo_prapi_result *res, char *out, size_t cap)
{
    const char *e = res->error, *h = strstr(e, "HTTP ");
    if (h) e = h;
    const char *cut = strstr(e, ": all GitHub requests stopped");
    size_t n = cut ? (size_t)(cut - e) : strlen(e);
    snprintf(out, cap, "%.*s", (int)n, e);
}

static void op_done(struct cpgo_prapi_result *res, void *arg)
{
    struct gh_op *op = arg;
    struct cpgo_ghapp *app = op->app;
    if (app->closing) { /* every waiter was already answered CANCELED */
        free(op);
        return;
    }
    struct gh_repo *r = op->mint ? NULL : find_repo(app, op->full, 0);
    struct gh_inst *i = op->mint ? find_inst(app, op->inst, 0) : NULL;
    /* server - local, by the answer's Date (whole seconds) */
    int64_t off = res->server_date > 0 ? res->server_date - local_now() : app->offset;
    if (res->cls == CPGO_CLASS_OK) app->st.clock_offset_s = app->offset = off;
    /* A 401 to a JWT that was signed by a clock far from GitHub's (the Date says so), or
     * that expired while its request waited (a long rate-limit pause): sign a new one by
     * GitHub's clock and ask once more. */
    if (res->cls == CPGO_CLASS_AUTH && !op->retried &&
        (llabs(off - app->offset) > GHAPP_SKEW_S || local_now() + off >= op->jwt_exp - 30)) {
        struct cpgo_err err = {0};
        if (llabs(off - app->offset) > GHAPP_SKEW_S)
            cpgo_log(CPGO_LVL_WARN,
                     "github app: this machine's clock is off; the JWT is signed "
                     "by GitHub's (its Date header)",
                     NULL);
        app->st.clock_offset_s = app->offset = off;
        op->retried = 1;
        if (!send_op(app, op, 1, &err)) return;
        /* op is freed: fall through with the original answer */
        op = NULL;
    }
    char line[1024], why[300];
    client_reason(res, why, sizeof why);
    if (r) {
        r->looking = 0;
        if (res->cls == CPGO_CLASS_OK) {
            r->inst = res->installation_id;
            settle(app, ST_LOOKUP, r->full, r->inst, CPGO_CLASS_OK, NULL);
        } else {
            if (res->cls == CPGO_CLASS_NOT_FOUND)
                snprintf(line, sizeof line,
                         "github app %lld is not installed on %s (GitHub answered 404 to GET "
                         "/repos/%s/installation): install the app on that repository, or set "
                         "github.app.installation_id",
                         (long long)app->app_id, r->full, r->full);
            else if (res->cls == CPGO_CLASS_AUTH)
                snprintf(line, sizeof line,
                         "github app %lld: GitHub refused the app's JWT looking up %s (%s): check "
                         "github.app.app_id, github.app.private_key_file and this machine's clock",
                         (long long)app->app_id, r->full, why);
            else
                snprintf(line, sizeof line, "github app %lld: %s", (long long)app->app_id,
                         res->error);
            settle(app, ST_LOOKUP, r->full, 0, res->cls, line);
        }
    } else if (i) {
        i->minting = 0;
        if (res->cls == CPGO_CLASS_OK && res->token) {
            zfree(i->token);
            i->token = res->token;
            res->token = NULL;
            i->expires_local = res->expires_at - app->offset;
            settle(app, ST_MINT, NULL, i->id, CPGO_CLASS_OK, NULL);
        } else {
            if (res->cls == CPGO_CLASS_NOT_FOUND) {
                snprintf(line, sizeof line,
                         "github app %lld: installation %llu not found (GitHub answered 404 to "
                         "POST /app/installations/%llu/access_tokens): the app was uninstalled, "
                         "or github.app.installation_id is wrong",
                         (long long)app->app_id, (unsigned long long)i->id,
                         (unsigned long long)i->id);
                /* a looked-up installation that is gone is looked up again next time */
                for (struct cpgo_list_node *n = cpgo_list_head(&app->repos); n; n = n->next) {
                    struct gh_repo *gr = CPGO_LIST_DATA(n, struct gh_repo, link);
                    if (gr->inst == i->id) gr->inst = 0;
                }
            } else if (res->cls == CPGO_CLASS_AUTH) {
                snprintf(line, sizeof line,
                         "github app %lld: GitHub refused the app's JWT minting a token for "
                         "installation %llu (%s): check github.app.app_id, "
                         "github.app.private_key_file and this machine's clock",
                         (long long)app->app_id, (unsigned long long)i->id, why);
            } else {
                snprintf(line, sizeof line, "github app %lld: %s", (long long)app->app_id,
                         res->error);
            }
            settle(app, ST_MINT, NULL, i->id,
                   res->cls == CPGO_CLASS_OK ? CPGO_CLASS_BAD_RESPONSE : res->cls, line);
        }
    }
    free(op);
}

static void close_cb(uv_handle_t *h)
{
    struct cpgo_ghapp *app = h->data;
    struct cpgo_list_node *n;
    while ((n = cpgo_list_pop_head(&app->repos)))
        free(CPGO_LIST_DATA(n, struct gh_repo, link));
    while ((n = cpgo_list_pop_head(&app->insts))) {
        struct gh_inst *i = CPGO_LIST_DATA(n, struct gh_inst, link);
        zfree(i->token);
        free(i);
    }
    zfree(app->jwt);
    cpgo_ghapp_key_free(app->pem, app->pem_len);
    void (*cb)(void *) = app->closed;
    void *arg = app->closed_arg;
    free(app);
    if (cb) cb(arg);
}

static void deliver_cb(uv_timer_t *h)
{
    struct cpgo_ghapp *app = h->data;
    /* only those ready now: a callback that asks again is answered on a later turn */
    struct cpgo_list now = app->ready;
    app->ready = (struct cpgo_list){0};
    struct cpgo_list_node *n;
    while ((n = cpgo_list_pop_head(&now))) {
        struct gh_wait *w = CPGO_LIST_DATA(n, struct gh_wait, link);
        w->t.token = w->token;
        w->cb(&w->t, w->arg);
        zfree(w->token);
        free(w);
    }
    if (app->closing && app->client_closed && cpgo_list_empty(&app->ready) &&
        !uv_is_closing((uv_handle_t *)&app->timer))
        uv_close((uv_handle_t *)&app->timer, close_cb);
}

/* ---- public ------------------------------------------------------------------------------ */

int cpgo_ghapp_new(uv_loop_t *loop, struct cpgo_scraper *scraper,
                   const struct cpgo_ghapp_opts *opts, struct cpgo_ghapp **out,
                   struct cpgo_err *err)
{
    *out = NULL;
    if (opts->app_id <= 0)
        return cpgo_err_set(err, CPGO_E_USAGE, "github.app.app_id must be a positive integer");
    if (opts->installation_id < 0)
        return cpgo_err_set(err, CPGO_E_USAGE,
                            "github.app.installation_id must be a positive integer");
    int rc = cpgo_ghapp_key_check(opts->pem, opts->pem_len, KEY_FIELD, err);
    if (rc) return rc;
    struct cpgo_ghapp *app = calloc(1, sizeof *app);
    if (!app || !(app->pem = malloc(opts->pem_len + 1))) {
        free(app);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    memcpy(app->pem, opts->pem, opts->pem_len);
    app->pem[opts->pem_len] = 0;
    app->pem_len = opts->pem_len;
    cpgo_url_secrets_nodump();
    app->loop = loop;
    app->app_id = opts->app_id;
    app->fixed_inst = (uint64_t)opts->installation_id;
    snprintf(app->iss, sizeof app->iss, "%lld", (long long)opts->app_id);
    /* the client needs a token to exist: the first JWT */
    if ((rc = fresh_jwt(app, 1, err))) {
        cpgo_ghapp_key_free(app->pem, app->pem_len);
        free(app);
        return rc;
    }
    struct cpgo_prapi_opts po = {.api_url = opts->api_url,
                                 .token = app->jwt,
                                 .limits = opts->limits,
                                 .pacing = opts->pacing};
    if ((rc = cpgo_prapi_client_new(loop, scraper, &po, &app->client, err))) {
        zfree(app->jwt);
        cpgo_ghapp_key_free(app->pem, app->pem_len);
        free(app);
        return rc;
    }
    uv_timer_init(loop, &app->timer);
    app->timer.data = app;
    *out = app;
    return 0;
}

int cpgo_ghapp_set_key(struct cpgo_ghapp *app, const char *pem, size_t len, struct cpgo_err *err)
{
    int rc = cpgo_ghapp_key_check(pem, len, KEY_FIELD, err);
    if (rc) return rc;
    char *copy = malloc(len + 1);
    if (!copy) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    memcpy(copy, pem, len);
    copy[len] = 0;
    cpgo_ghapp_key_free(app->pem, app->pem_len);
    app->pem = copy;
    app->pem_len = len;
    app->jwt_at = 0; /* the next request signs with the new key */
    return 0;
}

int cpgo_ghapp_get_token(struct cpgo_ghapp *app, const char *owner, const char *repo,
                         cpgo_ghapp_token_cb cb, void *arg)
{
    if (!app || app->closing || !cb || !valid_name(owner) || !valid_name(repo)) return CPGO_E_USAGE;
    if (app->waiting.len + app->ready.len >= GHAPP_MAX_WAITING) return CPGO_E_LIMIT;
    struct gh_wait *w = calloc(1, sizeof *w);
    if (!w) return CPGO_E_NOMEM;
    snprintf(w->full, sizeof w->full, "%s/%s", owner, repo);
    w->cb = cb;
    w->arg = arg;
    if (app->fixed_inst) {
        w->inst = app->fixed_inst;
        to_mint(app, w);
        return 0;
    }
    struct gh_repo *r = find_repo(app, w->full, 0);
    if (!r && app->repos.len >= GHAPP_MAX_REPOS) {
        free(w);
        return CPGO_E_LIMIT;
    }
    if (!r && !(r = find_repo(app, w->full, 1))) {
        free(w);
        return CPGO_E_NOMEM;
    }
    if (r->inst) {
        w->inst = r->inst;
        to_mint(app, w);
        return 0;
    }
    w->stage = ST_LOOKUP;
    cpgo_list_push_tail(&app->waiting, &w->link);
    if (!r->looking) start_lookup(app, r);
    return 0;
}

void cpgo_ghapp_invalidate(struct cpgo_ghapp *app, const char *owner, const char *repo)
{
    char full[FULL_MAX];
    snprintf(full, sizeof full, "%s/%s", owner ? owner : "", repo ? repo : "");
    uint64_t id = app->fixed_inst;
    if (!id) {
        struct gh_repo *r = find_repo(app, full, 0);
        id = r ? r->inst : 0;
    }
    struct gh_inst *i = id ? find_inst(app, id, 0) : NULL;
    if (!i) return;
    zfree(i->token);
    i->token = NULL;
    i->expires_local = 0;
}

void cpgo_ghapp_status(const struct cpgo_ghapp *app, struct cpgo_ghapp_status *st)
{
    *st = app->st;
}

static void client_closed_cb(void *arg)
{
    struct cpgo_ghapp *app = arg;
    app->client_closed = 1;
    app->client = NULL;
    uv_timer_start(&app->timer, deliver_cb, 0, 0);
}

void cpgo_ghapp_close(struct cpgo_ghapp *app, void (*closed)(void *arg), void *arg)
{
    if (!app || app->closing) return;
    app->closing = 1;
    app->closed = closed;
    app->closed_arg = arg;
    struct cpgo_list_node *n;
    while ((n = cpgo_list_pop_head(&app->waiting)))
        fail(app, CPGO_LIST_DATA(n, struct gh_wait, link), CPGO_CLASS_CANCELED,
             "github app: canceled (closing)");
    cpgo_prapi_client_close(app->client, client_closed_cb, app);
}
