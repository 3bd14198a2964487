/*
 * prapi.h - the pull-request API client cpgo publishes through: find, create, update and
 * read one pull request (GitLab: merge request) per target, on the libuv loop, through the
 * scraper's curl multi handle. One client speaks one forge's dialect (GitHub, GitLab or
 * Gitea/Forgejo: prapi_github.c, prapi_gitlab.c, prapi_gitea.c build its URLs and JSON
 * and read its answers); the queue, pacing, rate limits, retries, redirects and the
 * token's protection below are shared by all three.
 *
 * A multi-request operation (a pull request created, then labelled, assigned, reviewers
 * requested and auto-merge enabled) runs as one operation: the follow-up requests are
 * *optional steps*, whose failure is reported in the result's `warning` and does not fail
 * the operation (a missing label is reported, not fatal).
 *
 * GitHub's rules are the client's rules (docs.github.com, "Best practices for using the
 * REST API" and "Rate limits for the REST API"), applied per client, that is per token:
 *   - one request at a time: operations wait in a FIFO and run in order;
 *   - at least `min_mutation_gap_ms` (1 s) between mutations (POST, PATCH), and at most
 *     `max_mutations_per_hour` of them in any hour (GitHub's secondary limit on
 *     content-creating requests is 500 an hour);
 *   - `x-ratelimit-remaining: 0` (on any response) pauses the queue until
 *     `x-ratelimit-reset`, measured against the response's own Date header so a skewed
 *     local clock does not matter; `retry-after` is honoured; a secondary limit without
 *     either header waits `secondary_wait_ms` (>= 60 s) and then backs off exponentially,
 *     with jitter; the request is given up after `max_retries` retries;
 *   - 401 stops the client: the request, everything queued and everything submitted later
 *     fails with CPGO_CLASS_AUTH without another request (no retry loop) and
 *     cpgo_prapi_client_status reports it;
 *   - 403 "Resource not accessible by integration" (or any 403 that is not a rate limit)
 *     fails that request only, class CPGO_CLASS_FORBIDDEN: the caller skips that repository;
 *   - 422 "A pull request already exists" is CPGO_CLASS_EXISTS: the caller looks it up;
 *   - 5xx, timeouts and connection failures are retried with backoff and jitter, but only
 *     when that is safe: GETs and the idempotent PATCH are sent again; a POST that may or
 *     may not have created the pull request is followed by a lookup of its head branch,
 *     and is sent again only if the lookup finds no open pull request (when it does, that
 *     one is the result, flagged `recovered`);
 *   - redirects (301, 302, 307, 308) are followed by the client itself, at most 3, and only
 *     to the API's own scheme, host, port and path prefix; anything else is refused, so
 *     the token is never sent to another host. `Link: rel="next"` pages are held to the
 *     same rule.
 *
 * The token is copied into memory the client owns, sent only in an Authorization header
 * whose bytes are zeroed after each transfer, zeroed with explicit_bzero when the client
 * is freed, and never logged or put into error text: what a server sends back is scrubbed
 * of it in every form (as sent, percent-encoded, base64; url.h) before it is cut to fit an
 * error line, in case the server echoes it. (libcurl keeps its own copy of the request headers
 * while sending; that copy is freed, not zeroed, by libcurl.)
 *
 * Owns: the client, its queue, its uv timer, the token, the easy handle in flight.
 * Borrows: the loop and the scraper, which must outlive the client (or be closed after
 * it: a scraper closed first hands the request in flight back as CPGO_CLASS_CANCELED).
 * Thread: the loop thread only. Callbacks run on the loop, never from inside a submit
 * function or a curl callback.
 */
#ifndef CPGO_PUBLISH_GITHUB_H
#define CPGO_PUBLISH_GITHUB_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/class.h"
#include "base/err.h"
#include "base/url.h"
#include "scrape/scrape.h"

#define CPGO_PRAPI_DEFAULT_API_URL "https://api.github.com"
#define CPGO_PRAPI_GITLAB_API_URL "https://gitlab.com/api/v4"
/* GitHub refuses bodies longer than 65536 characters; the client refuses more bytes. */
#define CPGO_PRAPI_MAX_BODY 65536
#define CPGO_PRAPI_MAX_TITLE 1024

/* What the caller does next depends on the class only (base/class.h). GitHub produces
 * CPGO_CLASS_OK, AUTH (401: the client has stopped; fix the token), FORBIDDEN (403 not a
 * rate limit: skip this repository), NOT_FOUND (404: no such repository or pull request,
 * or no access), EXISTS (422 "A pull request already exists": look it up), INVALID (any
 * other 422, e.g. "No commits between", bad head), RATE_LIMITED (still rate limited after
 * max_retries retries), TRANSIENT (5xx, timeout, connection failure after max_retries
 * retries, or a POST that must not be retried blindly), BAD_RESPONSE (malformed,
 * wrong-typed or oversized JSON; bad Link header), REDIRECT (to another host or scheme, or
 * too many), HTTP (any other unexpected status), CONFIG (TLS or URL problem: will not go
 * away by itself), CANCELED (the client or the scraper was closed), INTERNAL_RETRY (out
 * of memory). */

enum cpgo_prapi_op {
    CPGO_PRAPI_OP_FIND,
    CPGO_PRAPI_OP_CREATE,
    CPGO_PRAPI_OP_UPDATE,
    CPGO_PRAPI_OP_GET,
    CPGO_PRAPI_OP_APP_INSTALLATION, /* GitHub App (prapi_app.c) */
    CPGO_PRAPI_OP_APP_TOKEN,
};

/* The forges the client speaks to. */
enum cpgo_prapi_forge { CPGO_PRAPI_GITHUB, CPGO_PRAPI_GITLAB, CPGO_PRAPI_GITEA };
#define CPGO_PRAPI_NFORGES 3
/* "GitHub", "GitLab", "Gitea" */
const char *cpgo_prapi_forge_name(enum cpgo_prapi_forge f);

/* A pull request as the REST API describes it (the fields cpgo needs). Every string is
 * non-NULL after a successful parse ("" when GitHub sent null or nothing). */
struct cpgo_prapi_pr {
    uint64_t number; /* GitLab: the merge request's iid (per project), not its global id */
    int open;        /* state "open" (else "closed") */
    int merged;      /* `merged`, or `merged_at` != null in lists (which lack `merged`) */
    int draft;
    int64_t closed_at; /* seconds since the epoch; 0 when not closed */
    char *title, *body, *html_url;
    char *head_ref, *head_label, *head_sha, *base_ref;
    char *node_id; /* GitHub's GraphQL id (auto-merge); "" elsewhere */
};
void cpgo_prapi_pr_free(struct cpgo_prapi_pr *pr);

/* The one result of an operation. It and the strings in `pr` belong to the client and are
 * freed when the callback returns; the callback keeps a string by copying its pointer and
 * setting the field to NULL. */
struct cpgo_prapi_result {
    enum cpgo_prapi_op op;
    enum cpgo_class cls;
    long http_status;  /* of the last response, 0 when none */
    int found;         /* `pr` is filled: FIND found one; other operations succeeded */
    int recovered;     /* CREATE: a POST that failed ambiguously had created it */
    int truncated;     /* FIND: the page cap was reached before an open pull request */
    size_t nseen;      /* FIND: pull requests listed for the head */
    unsigned attempts; /* HTTP requests made for this operation */
    struct cpgo_prapi_pr pr;
    /* APP_INSTALLATION: the installation id. APP_TOKEN: the installation token (a secret:
     * the callback takes it by setting the field to NULL, else it is zeroed and freed) and
     * its expires_at. Every operation: the last response's Date (epoch seconds; <= 0 when
     * absent or no response). */
    uint64_t installation_id;
    char *token;
    int64_t expires_at, server_date;
    char error[320]; /* one line naming the repository; "" when cls == CPGO_CLASS_OK */
    /* optional steps that failed ("label 'pgo' does not exist; auto-merge: HTTP 405 ..."),
     * "" when none did; set on success too */
    char warning[480];
};
typedef void (*cpgo_prapi_done_cb)(struct cpgo_prapi_result *res, void *arg);

struct cpgo_prapi_limits {
    size_t max_json_bytes;      /* response body cap, counted as it arrives; 4 MiB */
    int64_t timeout_ms;         /* per HTTP request; 30 s */
    int64_t connect_timeout_ms; /* 10 s */
    unsigned per_page;          /* list page size; 100 (GitHub's maximum) */
    unsigned max_pages;         /* pages followed by one FIND; 10 */
    size_t max_queued;          /* operations waiting per client; 10000 */
};
void cpgo_prapi_limits_default(struct cpgo_prapi_limits *l);

struct cpgo_prapi_pacing {
    uint64_t min_mutation_gap_ms;    /* 1000: from the end of a mutation to the next */
    unsigned max_mutations_per_hour; /* 400; 0 = no hourly budget */
    uint64_t secondary_wait_ms;      /* 60000: first wait on a secondary limit w/o headers */
    uint64_t backoff_base_ms;        /* 1000: first retry after a 5xx or timeout */
    uint64_t backoff_max_ms;         /* 600000 */
    uint64_t reset_margin_ms;        /* 1000: added to waits for x-ratelimit-reset (whole
                                        seconds) and retry-after */
    uint64_t max_pause_ms;           /* 3900000: the longest single wait honoured */
    unsigned max_retries;            /* 5 retries of one operation, of any kind */
};
void cpgo_prapi_pacing_default(struct cpgo_prapi_pacing *p);

struct cpgo_prapi_opts {
    enum cpgo_prapi_forge forge; /* the dialect; 0 = GitHub */
    const char *api_url;         /* NULL = https://api.github.com; Enterprise https://HOST/api/v3.
                                    http:// only for loopback hosts (tests). */
    const char *token;           /* required; copied */
    const struct cpgo_prapi_limits *limits; /* NULL = defaults */
    const struct cpgo_prapi_pacing *pacing; /* NULL = defaults */
};

struct cpgo_prapi_client;

/* 0, or CPGO_E_USAGE (bad URL, empty token or one with CR/LF), CPGO_E_NOMEM. The error
 * text never contains the token. */
int cpgo_prapi_client_new(uv_loop_t *loop, struct cpgo_scraper *scraper,
                          const struct cpgo_prapi_opts *opts, struct cpgo_prapi_client **out,
                          struct cpgo_err *err);
/* Fails every queued operation with CPGO_CLASS_CANCELED (through its callback, later), aborts
 * the request in flight, and runs `closed` (may be NULL) once the client is freed. */
/* Replaces the token (a GitHub App installation token minted again, a token file
 * rotated): requests started from now on send the new one; a client stopped by a 401 is
 * started again. 0, or CPGO_E_USAGE (empty, control bytes) / CPGO_E_NOMEM, token unchanged. */
int cpgo_prapi_client_set_token(struct cpgo_prapi_client *c, const char *token);
void cpgo_prapi_client_close(struct cpgo_prapi_client *c, void (*closed)(void *arg), void *arg);

struct cpgo_prapi_status {
    int stopped;            /* a 401 stopped the client */
    size_t queued;          /* operations waiting, including the one in flight */
    uint64_t paused_ms;     /* how long the queue still waits (rate limit, backoff) */
    int64_t rate_remaining; /* last x-ratelimit-remaining, -1 when unknown */
    int64_t rate_reset;     /* last x-ratelimit-reset (epoch seconds), -1 when unknown */
    uint64_t requests;      /* HTTP requests sent */
    uint64_t retries;       /* of them, retries (rate limits, 5xx, timeouts) */
    uint64_t rate_limited;  /* responses that were rate limits */
    char stop_reason[160];  /* why it stopped (no secrets) */
};
void cpgo_prapi_client_status(const struct cpgo_prapi_client *c, struct cpgo_prapi_status *st);

/*
 * Operations. Each returns 0 and later calls `done` exactly once, or returns a negative
 * CPGO_E_* code and never calls it: CPGO_E_USAGE for an invalid owner, repository, branch
 * or number (owner and repository: [A-Za-z0-9._-], at most 100 bytes -- a GitLab owner is
 * a group path "group/sub/..." of such names, at most 255 bytes; branches: no control
 * bytes, at most 255), CPGO_E_INPUT for text that is not UTF-8, CPGO_E_LIMIT for a body
 * over CPGO_PRAPI_MAX_BODY or a full queue, CPGO_E_NOMEM.
 */

/* FIND: GET /repos/{owner}/{repo}/pulls?state=all&head={head_owner}:{head_branch}[&base=]
 * following Link rel="next" up to max_pages. The result is the first open pull request met
 * (the search stops there), else the most recent closed one (the highest number), else
 * found = 0 with class OK. head_owner NULL means owner; base NULL means any. */
int cpgo_prapi_find_pr(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                       const char *head_owner, const char *head_branch, const char *base,
                       cpgo_prapi_done_cb done, void *arg);

/* Names given to a pull request (labels, reviewers, assignees): at most
 * CPGO_PRAPI_MAX_NAMES of each, validated by the caller (config). */
#define CPGO_PRAPI_MAX_NAMES 50
struct cpgo_prapi_names {
    const char *const *v;
    size_t n;
};

struct cpgo_prapi_new_pr {
    const char *title;       /* required */
    const char *head_owner;  /* NULL or == owner: a branch of the same repository */
    const char *head_branch; /* required */
    const char *base;        /* required */
    const char *body;        /* may be NULL */
    int draft;               /* GitHub: draft; GitLab: "Draft: " title; Gitea: "WIP: " title */
    /* optional steps after the creation (failures are warnings) */
    struct cpgo_prapi_names labels, reviewers, assignees;
    int auto_merge; /* merge when checks pass, where the forge offers it */
};
/* CREATE: POST /repos/{owner}/{repo}/pulls {"title","head","base","body"[,"draft"]}. */
int cpgo_prapi_create_pr(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                         const struct cpgo_prapi_new_pr *pr, cpgo_prapi_done_cb done, void *arg);
/* An update in place. A NULL title or body is left as it is (at least one is required);
 * labels are added where the forge adds them in the same request (GitLab's add_labels),
 * never removed (a person may have removed one on purpose: GitHub and Gitea leave labels
 * as they are on update). */
struct cpgo_prapi_edit {
    const char *title, *body;
    struct cpgo_prapi_names labels;
    /* GitLab: auto-merge asked again when it is not set yet (a merge request created
     * before its pipeline existed); the other forges keep it across pushes */
    int auto_merge;
};
/* UPDATE: GitHub PATCH /repos/{owner}/{repo}/pulls/{number} {"title","body"}. */
int cpgo_prapi_update_pr(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                         uint64_t number, const struct cpgo_prapi_edit *ed, cpgo_prapi_done_cb done,
                         void *arg);
/* GET: GET /repos/{owner}/{repo}/pulls/{number}: state, merged, body and the rest. */
int cpgo_prapi_get_pr(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                      uint64_t number, cpgo_prapi_done_cb done, void *arg);

/*
 * GitHub App operations (prapi_app.c), for a client whose token is the app's JWT.
 * APP_INSTALLATION: GET /repos/{owner}/{repo}/installation -> res.installation_id (404:
 * the app is not installed there). APP_TOKEN: POST /app/installations/{id}/access_tokens
 * -> 201 res.token, res.expires_at, res.server_date. A mint is safe to send again.
 */
int cpgo_prapi_app_installation(struct cpgo_prapi_client *c, const char *owner, const char *repo,
                                cpgo_prapi_done_cb done, void *arg);
int cpgo_prapi_app_token(struct cpgo_prapi_client *c, uint64_t installation_id,
                         cpgo_prapi_done_cb done, void *arg);

/*
 * The marker that makes a pull request cpgo's: an HTML comment (invisible when rendered)
 * on the first line of the body. A pull request whose body lacks it is never touched.
 * The target key is written with '%', '<', '>', spaces, control and non-ASCII bytes
 * percent-encoded and with no "--", so the comment stays one well-formed comment.
 */
#define CPGO_PRAPI_MARKER_PREFIX "<!-- cpgo:managed target="
#define CPGO_PRAPI_MARKER_SUFFIX " -->"
/* Writes the marker for `target_key`; returns its length, or -1 if it does not fit. A
 * buffer of cpgo_prapi_marker_size(target_key) bytes always suffices. */
size_t cpgo_prapi_marker_size(const char *target_key);
int cpgo_prapi_marker(const char *target_key, char *buf, size_t cap);
/* 1 when body contains the marker of target_key (any cpgo marker when target_key is NULL). */
int cpgo_prapi_body_has_marker(const char *body, const char *target_key);

/*
 * Response parsers (exported for the fuzzer and tests). Wrong types are errors: each
 * returns 0 or CPGO_E_INPUT with one line in err (jansson's line and column for malformed
 * JSON), and never reads beyond len.
 */
int cpgo_prapi_parse_pr(const char *data, size_t len, struct cpgo_prapi_pr *out, char *err,
                        size_t errcap);
/* A JSON array of pull requests, at most max_items (more is an error). *out is an array of
 * *n (free each with cpgo_prapi_pr_free, then the array). */
int cpgo_prapi_parse_pr_list(const char *data, size_t len, size_t max_items,
                             struct cpgo_prapi_pr **out, size_t *n, char *err, size_t errcap);
/* GitHub's error document {"message", "errors": [{"message"|"code"}]} as one printable
 * line ("Validation Failed: A pull request already exists for o:b."), and GitLab's other
 * shapes: {"message": [...]} joined by "; ", {"message": {"field": [...]}} as "field: a,
 * b", {"error", "error_description"} as "error: description"; the first line of the body
 * when it is none of these. Every form of the secrets (NULL: none) is scrubbed from the
 * whole line before it is cut to cap. Always writes a NUL-terminated string. */
void cpgo_prapi_parse_message(const char *data, size_t len, const struct cpgo_url_secrets *secrets,
                              char *out, size_t cap);
/* The URL of rel="next" in a Link header: 1 (written to out), 0 (none), -1 (malformed or
 * does not fit). */
int cpgo_prapi_link_next(const char *link, char *out, size_t cap);

#endif
