/*
 * url.h - URLs and the secrets cpgo holds: the one place that parses a URL, masks it for
 * display and scrubs secrets from text a server sends back.
 *
 *   cpgo_url_parse        is this a valid http(s) URL, and its parts: libcurl's URL API
 *                         (curl_url), so cpgo reads a URL exactly as the transfer will
 *   cpgo_url_mask         the form for logs, /status, errors and check-config: a password
 *                         becomes "xxxxx" (the user is kept), a lone user too (it is
 *                         usually a token), and so do the values of secret query keys
 *   cpgo_url_secrets_*    a set of secrets in every form a server may echo them: as given,
 *                         percent-decoded, percent-encoded, base64 (HTTP Basic)
 *   cpgo_url_scrub        text with every form of every secret replaced by "****": it
 *                         scrubs first and cuts after, so no cut can leave a piece behind
 *
 * Secret names (one rule for logs, /status, check-config and the scrubber): a query key is
 * secret when it contains token, key, secret, password, passwd, sig or auth; a header when
 * its name contains auth, cookie, token, secret, passw, api-key, apikey or api_key (any
 * case). Secrets shorter than CPGO_URL_SECRET_MIN bytes are not scrubbed (they cannot be
 * told from ordinary text), and neither are forms shorter than that.
 *
 * Why base64 "cores": a Basic credential is base64("user:password"), and a secret inside
 * any base64 text sits at one of three alignments; the characters that depend on the
 * secret's bits alone are the same whatever surrounds it, so the set holds those three
 * strings and finds the secret in any base64 text.
 *
 * Owns: the parts of a struct cpgo_url (freed by cpgo_url_free) and the strings of a
 * secrets set (zeroed when the last reference goes).
 * Thread: any. A secrets set is filled by one owner, then only read; its reference count
 * is atomic, so a job on the work queue can hold the set while a reload replaces it.
 */
#ifndef CPGO_BASE_URL_H
#define CPGO_BASE_URL_H

#include <stddef.h>

#define CPGO_URL_MASK "xxxxx"    /* a password or secret value in a displayed URL */
#define CPGO_URL_SCRUBBED "****" /* a secret found in text */
#define CPGO_URL_SECRET_MIN 4

/* An http(s) URL as libcurl parses it. Strings are NULL when absent. */
struct cpgo_url {
    char *scheme;   /* "http" or "https" */
    char *user;     /* as written (percent-encoded); "" for "http://:pw@h/" */
    char *password; /* as written; zeroed when freed */
    char *host;     /* as libcurl gives it ("[::1]" for IPv6, percent-decoded) */
    int port;       /* the given port, else 80 or 443 */
    char *path;     /* "/" at least */
    char *query;    /* without the '?' */
};

/*
 * Parses an http or https URL. 0, or -1 with *why naming the problem ("is not an http or
 * https URL", "has an invalid host", ...; a phrase to put after the masked URL). Stricter
 * than libcurl in three ways only, never laxer: "http:///x" (libcurl reads host "x"), port
 * 0 and hosts longer than a DNS name (253 bytes) are refused.
 */
int cpgo_url_parse(const char *text, struct cpgo_url *out, const char **why);
void cpgo_url_free(struct cpgo_url *u);

/* Writes the display form of any URL (or repository string) into buf, NUL-terminated and
 * cut at cap - 1 after masking: the text as written, with the password (or lone user) and
 * secret query values libcurl finds in it replaced. A URL libcurl cannot parse is masked
 * conservatively: all of it from "://" to its last '@' (so no split of the userinfo can
 * show a piece of the password), and the secret query values after its first '?'. */
void cpgo_url_mask(const char *text, char *buf, size_t cap);

int cpgo_url_secret_query_key(const char *key, size_t len);
int cpgo_url_secret_header(const char *name);

struct cpgo_url_secrets;
/* An empty set (reference count 1), or NULL when out of memory. */
struct cpgo_url_secrets *cpgo_url_secrets_new(void);
/* The add functions return 0, or -1 when out of memory (the set keeps what it had). */
/* A secret value in every form: as given, percent-decoded, percent-encoded (upper- and
 * lower-case hex), base64 (whole and the three alignment cores). */
int cpgo_url_secrets_add(struct cpgo_url_secrets *s, const char *value);
/* The credentials of a URL: the password (or a lone user), the Basic credential libcurl
 * builds from them, and the values of secret query keys. */
int cpgo_url_secrets_add_url(struct cpgo_url_secrets *s, const char *url);
/* A header, when its name is secret: the value, the credential after a scheme word
 * ("Bearer x", "token x"), the user:password of a Basic credential, each cookie value. */
int cpgo_url_secrets_add_header(struct cpgo_url_secrets *s, const char *name, const char *value);
/* HTTP Basic: password, and base64("user:password") as it goes on the wire. */
int cpgo_url_secrets_add_basic(struct cpgo_url_secrets *s, const char *user, const char *password);
/* Number of forms held (0 for NULL). */
size_t cpgo_url_secrets_count(const struct cpgo_url_secrets *s);
struct cpgo_url_secrets *cpgo_url_secrets_ref(struct cpgo_url_secrets *s);
void cpgo_url_secrets_unref(struct cpgo_url_secrets *s);

/*
 * Copies text[0, len) into out (cap bytes, always NUL-terminated when cap > 0) with every
 * form of every secret in s replaced by "****" (s may be NULL: a plain copy), and only then
 * cuts it at cap - 1 bytes. A secret that text itself ends in the middle of (a prefix of at
 * least CPGO_URL_SECRET_MIN bytes at its very end) is replaced too, so a caller that passes
 * a bounded window of a larger text leaves no piece behind either. out may be text (in
 * place: the result is never longer). Returns the length written.
 */
size_t cpgo_url_scrub(const struct cpgo_url_secrets *s, const char *text, size_t len, char *out,
                      size_t cap);

/*
 * The process holds a secret from now on: it is made not dumpable (prctl PR_SET_DUMPABLE 0),
 * so a crash writes no core file and other processes of the same user cannot ptrace it or
 * read its memory through /proc. Idempotent. 0, or -1 where that is not possible.
 */
int cpgo_url_secrets_nodump(void);

/* Parses "host:port" as Prometheus accepts a target (a DNS name, an IPv4 literal, or an
 * IPv6 literal in brackets; port 1-65535; at most 300 characters). 0 with *host (malloc'd,
 * brackets removed) and *port, or -1 with why ("has no port (host:port)"). */
int cpgo_url_parse_hostport(const char *s, char **host, int *port, char *why, size_t cap);

#endif
