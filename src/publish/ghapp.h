/*
 * ghapp.h - GitHub App authentication: the app's private key, the JWT it signs (RS256), and
 * the installation tokens GitHub exchanges it for, cached per installation.
 *
 * A GitHub App authenticates in two steps (docs.github.com, "Generating a JSON Web Token
 * (JWT) for a GitHub App" and "Generating an installation access token"): a JWT signed
 * with the app's RSA key (iat backdated 60 s for clock drift, exp at most 10 minutes
 * ahead, iss the app id) is sent as a Bearer token to
 *   GET  /repos/{owner}/{repo}/installation         -> the installation's "id"
 *   POST /app/installations/{id}/access_tokens      -> 201 {"token", "expires_at"}
 * and the installation token (an hour's life) is then used for REST and for git
 * (`x-access-token:<token>`). This module does both steps through the pull-request REST
 * client (prapi.h: paced, redirect-safe, scrubbing its token from every error) whose
 * token is the current JWT, re-signed before it is 8 minutes old.
 *
 * The cache: an installation id per "owner/repo" (when the configuration gives none) and
 * one token per installation, used until 5 minutes before its expires_at. expires_at is
 * GitHub's clock; the response's Date header says how far the local clock is off, and
 * both the cache and the next JWT's iat/exp are corrected by that offset. Requests for an
 * installation whose token is being minted wait for that one mint (one POST for many).
 *
 * Secrets: the key (PEM bytes), the JWT and every installation token live only in memory
 * this module owns, are zeroed (explicit_bzero) when freed or replaced, are never logged
 * and never put into error text (the REST client scrubs both its current and previous
 * JWT from what a server sends back). Holding a key makes the process not dumpable
 * (url.h).
 *
 * Owns: the app, its REST client, its cache, the key copy, a uv timer. Borrows: the loop
 * and the scraper (their curl multi), which must outlive the app.
 * Thread: cpgo_ghapp_key_load and cpgo_ghapp_jwt on any thread (the daemon loads the key
 * on the pool); everything else on the loop thread. Signing a JWT (one RSA-2048
 * signature, about a millisecond) runs on the loop once per 8 minutes at most.
 */
#ifndef CPGO_PUBLISH_GHAPP_H
#define CPGO_PUBLISH_GHAPP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/class.h"
#include "base/err.h"
#include "publish/prapi.h"
#include "scrape/scrape.h"

#define CPGO_GHAPP_KEY_MAX (64 * 1024)  /* a 4096-bit RSA PEM is about 3.3 KiB */
#define CPGO_GHAPP_JWT_LIFE_S 540       /* exp = now + 9 min (GitHub allows 10) */
#define CPGO_GHAPP_JWT_BACKDATE_S 60    /* iat = now - 60 s, as GitHub recommends */
#define CPGO_GHAPP_REFRESH_MARGIN_S 300 /* a token is renewed 5 min before expires_at */

/* Reads the private key file `path` as token files are read: a regular file (a FIFO,
 * socket or device refused at once; a symlink followed, as Kubernetes mounts secrets),
 * at most CPGO_GHAPP_KEY_MAX bytes, not group- or world-writable, not readable by other
 * users (group-readable only when the group is cpgo's own, as Kubernetes' fsGroup and
 * systemd's credentials hand it over), then checks it is an unencrypted RSA private key
 * in PEM (PKCS#1 "BEGIN RSA PRIVATE KEY" as GitHub downloads it, or PKCS#8). On success
 * *pem (NUL-terminated, *len bytes) is the caller's: zero it before freeing
 * (cpgo_ghapp_key_free). Every error names github.app.private_key_file and the path, and
 * never quotes the file. Thread: any. */
int cpgo_ghapp_key_load(const char *path, char **pem, size_t *len, struct cpgo_err *err);
/* The same checks on bytes already in memory; `what` names them in errors. */
int cpgo_ghapp_key_check(const char *pem, size_t len, const char *what, struct cpgo_err *err);
/* Zeroes and frees a key from cpgo_ghapp_key_load (NULL is fine). */
void cpgo_ghapp_key_free(char *pem, size_t len);

/* Signs the app's JWT: header {"alg":"RS256","typ":"JWT"}, claims {"iat": now - 60,
 * "exp": now + 540, "iss": iss}, RS256 (libcrypto EVP_DigestSign), base64url without
 * padding. *out is malloc'd (zero it before freeing). Thread: any. */
int cpgo_ghapp_jwt(const char *pem, size_t len, const char *iss, int64_t now, char **out,
                   struct cpgo_err *err);

struct cpgo_ghapp_opts {
    const char *api_url;     /* NULL = https://api.github.com (Enterprise: https://H/api/v3) */
    int64_t app_id;          /* > 0: the JWT's iss */
    int64_t installation_id; /* 0 = looked up per repository */
    const char *pem;         /* the key, as cpgo_ghapp_key_load returned it; copied */
    size_t pem_len;
    const struct cpgo_prapi_limits *limits; /* NULL = defaults */
    const struct cpgo_prapi_pacing *pacing; /* NULL = defaults */
};

/* One answer of cpgo_ghapp_get_token. Everything is borrowed for the callback's duration:
 * copy the token to keep it (and zero the copy when done with it). */
struct cpgo_ghapp_token {
    enum cpgo_class cls;     /* CPGO_CLASS_OK, or the failure's class (prapi.h's list) */
    const char *token;       /* the installation token; NULL on failure */
    int64_t expires_at;      /* by the local clock (corrected for the server's), epoch s */
    int64_t installation_id; /* the installation it belongs to (0 when not known) */
    char error[512];         /* one line when cls != OK, no secret in it */
};
typedef void (*cpgo_ghapp_token_cb)(const struct cpgo_ghapp_token *t, void *arg);

struct cpgo_ghapp_status {
    uint64_t jwts;          /* JWTs signed */
    uint64_t lookups;       /* GET /repos/{o}/{r}/installation sent */
    uint64_t mints;         /* POST /app/installations/{id}/access_tokens sent */
    uint64_t cached;        /* answers from the cache */
    int64_t clock_offset_s; /* server - local, from the last Date header */
};

struct cpgo_ghapp;

/* 0, or CPGO_E_USAGE (app_id <= 0, negative installation id, bad key or API URL),
 * CPGO_E_NOMEM. */
int cpgo_ghapp_new(uv_loop_t *loop, struct cpgo_scraper *scraper,
                   const struct cpgo_ghapp_opts *opts, struct cpgo_ghapp **out,
                   struct cpgo_err *err);
/* A new key (a SIGHUP reload read the file again): the next JWT is signed with it and a
 * client stopped by a 401 may try again; cached installation tokens stay valid until they
 * expire. 0, CPGO_E_USAGE (not a usable key: the old one is kept) or CPGO_E_NOMEM. */
int cpgo_ghapp_set_key(struct cpgo_ghapp *app, const char *pem, size_t len, struct cpgo_err *err);
/* The installation token for owner/repo: `cb` runs exactly once, later, on the loop (even
 * when the answer is cached). 0, or CPGO_E_USAGE (bad name, closing) / CPGO_E_NOMEM /
 * CPGO_E_LIMIT (10000 waiting, or 100000 repositories remembered) and cb is never called.
 * A 401 to the JWT (wrong key or app id) stops the REST client as for a token: requests
 * fail at once with CPGO_CLASS_AUTH until a new JWT is signed -- at once after
 * cpgo_ghapp_set_key, else when the current one is 8 minutes old. */
int cpgo_ghapp_get_token(struct cpgo_ghapp *app, const char *owner, const char *repo,
                         cpgo_ghapp_token_cb cb, void *arg);
/* Forgets the cached token of owner/repo's installation (GitHub answered 401 to it); the
 * next cpgo_ghapp_get_token mints a new one. */
void cpgo_ghapp_invalidate(struct cpgo_ghapp *app, const char *owner, const char *repo);
void cpgo_ghapp_status(const struct cpgo_ghapp *app, struct cpgo_ghapp_status *st);
/* Fails waiting requests with CPGO_CLASS_CANCELED (their callbacks run), zeroes every
 * secret, frees the app and then runs `closed` (may be NULL). */
void cpgo_ghapp_close(struct cpgo_ghapp *app, void (*closed)(void *arg), void *arg);

#endif
