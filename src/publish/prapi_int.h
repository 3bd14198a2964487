/*
 * prapi_int.h - what the files of the pull-request API client share: the layouts of the
 * client, an operation (struct prapi_req), a response once its easy handle is gone (struct
 * prapi_resp), a forge's dialect (struct prapi_dialect), and the helpers more than one file
 * calls. Not for other modules: prapi.h is the interface. Thread: the loop, as prapi.h.
 */
#ifndef CPGO_PUBLISH_PRAPI_INT_H
#define CPGO_PUBLISH_PRAPI_INT_H

#include <curl/curl.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/list.h"
#include "base/url.h"
#include "publish/prapi.h"

#define PRAPI_MAX_REDIRECTS 3
#define PRAPI_MAX_NAME 100
#define PRAPI_MAX_BRANCH 255
#define PRAPI_MAX_LIST_ITEMS 1000 /* per page: per_page is at most 100 */
#define PRAPI_MAX_OWNER 255       /* a GitLab group path with subgroups */

/* What a 2xx answer to the current request holds, and so who reads it. */
enum prapi_expect {
    PRAPI_X_LIST,  /* a page of pull requests: the first open one, else the latest closed */
    PRAPI_X_PR,    /* one pull request: the operation's result */
    PRAPI_X_OTHER, /* anything else: the dialect's step_done reads it */
};

struct prapi_resp;
struct prapi_req {
    struct cpgo_list_node link; /* in the client's waiting queue */
    struct cpgo_prapi_client *c;
    const char *method; /* "GET", "POST", "PATCH" or "PUT" (static strings) */
    char *url;          /* absolute URL of the next HTTP request */
    char *payload;      /* JSON for POST, PATCH and PUT */
    char owner[PRAPI_MAX_OWNER + 1], name[PRAPI_MAX_NAME + 1];
    char repo[PRAPI_MAX_OWNER + PRAPI_MAX_NAME + 2]; /* "owner/name", for error lines */
    enum prapi_expect expect;
    /* FIND (and a lookup): a pull request listed counts only when its head branch is
     * this one and, when base is set, its base is base (Gitea's list is not filtered) */
    char *want_head, *want_base;
    /* A multi-request operation: the dialect's own progress (stage, index, state) and,
     * for the request in flight, whether it is an optional step (its failure is a
     * warning) and its name for that warning. */
    int stage;
    size_t idx;
    void *dstate;
    /* CREATE and UPDATE: the options, copied (NULL-terminated arrays of n names) */
    char **labels, **reviewers, **assignees;
    size_t nlabels, nreviewers, nassignees;
    int draft, auto_merge;
    uint64_t label_ok; /* bit i: labels[i] exists (found by a step); CPGO_PRAPI_MAX_NAMES <= 64 */
    int optional;
    char step[64];
    /* CREATE: after an ambiguous failure the POST is replaced by a lookup (GET) of what
     * it may have made, which answers lookup_expect (a list, or one pull request: 404
     * then means none) */
    char *create_url, *lookup_url;
    enum prapi_expect lookup_expect;
    int in_lookup;
    unsigned pages, redirects, retries;
    /* the transfer in flight */
    CURL *easy;
    struct curl_slist *hdrs;
    struct cpgo_buf body;
    int over_limit;
    int abort; /* set by close: the progress callback aborts the transfer */
    int sent_mutation;
    char errbuf[CURL_ERROR_SIZE];
    struct cpgo_prapi_result res;
    /* a 2xx response of an operation that is not about pull requests (prapi_app.c):
     * parses it into res and finishes r */
    void (*on_2xx)(struct prapi_req *r, const struct prapi_resp *rs);
    cpgo_prapi_done_cb done;
    void *arg;
};

/* What is kept of a response once its easy handle is gone. */
struct prapi_resp {
    int curlcode;
    long status;
    int64_t remaining, reset, retry_after_s, date; /* -1 when absent */
    char *location, *link;
    unsigned char *body;
    size_t len;
    int over_limit;
    char curl_err[CURL_ERROR_SIZE];
};

/*
 * A forge's dialect: everything that differs between GitHub, GitLab and Gitea. The
 * builders set the first request of an operation (method, url, payload, expect; CREATE
 * also create_url, lookup_url and lookup_expect), returning 0 or a CPGO_E_* code; the
 * shared code then runs it: pacing, retries, redirects, pages, 401, rate limits. After
 * every successful request (and after an optional one failed), `next` is asked for the
 * next request of the operation: it points r at it and returns 1, or returns 0 when the
 * operation is complete (-1: out of memory).
 */
struct prapi_dialect {
    enum cpgo_prapi_forge forge;
    const char *name; /* "GitHub": in log lines and errors ("GitHub answered 401") */
    const char *tag;  /* "github": the first word of an error line */
    /* owner (GitHub/Gitea: a user or organisation; GitLab: a group path) and name */
    int (*valid_owner)(const char *s);
    /* the Authorization (or PRIVATE-TOKEN) line and the forge's Accept headers */
    int (*headers)(const struct cpgo_prapi_client *c, struct curl_slist **l);
    int (*find)(struct prapi_req *r, const char *head_owner, const char *head_branch,
                const char *base);
    int (*create)(struct prapi_req *r, const struct cpgo_prapi_new_pr *np);
    int (*update)(struct prapi_req *r, uint64_t number, const struct cpgo_prapi_edit *ed);
    int (*get)(struct prapi_req *r, uint64_t number);
    int (*parse_pr)(const char *data, size_t len, struct cpgo_prapi_pr *out, char *err,
                    size_t errcap);
    int (*parse_list)(const char *data, size_t len, size_t max_items, struct cpgo_prapi_pr **out,
                      size_t *n, char *err, size_t errcap);
    /* NULL: the operation is one request */
    int (*next)(struct prapi_req *r);
    /* a 2xx answer to a PRAPI_X_OTHER request: CPGO_CLASS_OK, or a class with `why` (for
     * an optional step: its warning) */
    enum cpgo_class (*step_done)(struct prapi_req *r, const struct prapi_resp *rs, char *why,
                                 size_t cap);
    /* a 4xx answer that is not a redirect, 401 or rate limit: 1 when the dialect pointed r
     * at another request instead (Gitea's find falls back to the list), else 0 and *cls
     * is the class (prapi_judge_default is GitHub's) */
    int (*judge)(struct prapi_req *r, long status, const char *msg, enum cpgo_class *cls);
    void (*free_state)(struct prapi_req *r);
};
extern const struct prapi_dialect prapi_github, prapi_gitlab, prapi_gitea;
/* By enum cpgo_prapi_forge (prapi.c); NULL for a forge without its dialect. */
#define PRAPI_NFORGES CPGO_PRAPI_NFORGES
extern const struct prapi_dialect *const prapi_dialects[PRAPI_NFORGES];

struct cpgo_prapi_client {
    const struct prapi_dialect *d;
    uv_loop_t *loop;
    struct cpgo_scraper *scraper;
    char *api_url; /* no trailing '/' */
    char *api_scheme, *api_host, *api_path;
    int api_port;
    char *token;
    size_t token_len;
    struct cpgo_url_secrets *secrets; /* the token in every form (url.h), for error text */
    struct cpgo_prapi_limits lim;
    struct cpgo_prapi_pacing pace;
    uv_timer_t timer;
    struct cpgo_list waiting; /* of prapi_req, by link; its len is what is queued */
    struct prapi_req *active; /* in flight */
    uint64_t not_before_ms;   /* the queue is paused until then (monotonic ms) */
    uint64_t last_mutation_ms;
    int have_mutation;
    uint64_t *mut_ring; /* start times of the last max_mutations_per_hour mutations */
    unsigned mut_n, mut_pos;
    unsigned secondary_streak; /* consecutive secondary limits: the backoff exponent */
    uint64_t rng;
    int stopped, closing;
    void (*closed)(void *);
    void *closed_arg;
    struct cpgo_prapi_status st;
};

/* prapi_req.c: an operation's life and the shared helpers (calls only prapi_parse.c) */
uint64_t prapi_now_ms(void); /* monotonic */
/* A malloc'd formatted string, or NULL. */
char *prapi_xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *prapi_xstrdup(const char *s);
/* Scrubs the token, in every form, from s (NUL-terminated, in place). */
void prapi_scrub(const struct cpgo_prapi_client *c, char *s);
void prapi_free_req(struct prapi_req *r);
/* The queue: new operations at the tail; a retry, a redirect or the next page at the head. */
void prapi_push_back(struct cpgo_prapi_client *c, struct prapi_req *r);
void prapi_push_front(struct cpgo_prapi_client *c, struct prapi_req *r);
struct prapi_req *prapi_pop(struct cpgo_prapi_client *c);
/* The next to start (NULL when none waits), left in the queue. */
struct prapi_req *prapi_peek(const struct cpgo_prapi_client *c);
/* Ends an operation: the one callback (the error line built from fmt, naming the
 * repository and the operation, scrubbed), then the request is freed. */
void prapi_finish(struct prapi_req *r, enum cpgo_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Asks the dialect for the next request of r's operation and queues it at the head, or
 * finishes r (CPGO_CLASS_OK) when there is none. */
void prapi_advance(struct prapi_req *r);

/* prapi_req.c (continued): the helpers the dialects share */
/* 403 FORBIDDEN, 404 NOT_FOUND, 422 "already exists" EXISTS else INVALID, other HTTP. */
int prapi_judge_default(struct prapi_req *r, long status, const char *msg, enum cpgo_class *cls);
/* Names and branches as every dialect checks them. */
int prapi_valid_name(const char *s);
int prapi_valid_branch(const char *s);
/* A path segment or query value escaped by libcurl ('/' too); NULL when out of memory. */
char *prapi_escape(const char *s);
/* Points r at method url (owned: freed on failure) with payload (owned, may be NULL; a
 * mutation needs one) and resets its page, redirect and retry counts: 0 or CPGO_E_NOMEM. */
int prapi_set_request(struct prapi_req *r, const char *method, char *url, char *payload,
                      enum prapi_expect expect);
/* Appends "what: why" to the result's warning line ("; "-separated, cut to fit). */
void prapi_warn(struct prapi_req *r, const char *what, const char *why);

/* prapi.c: the client and its transfers */
/* Queues a new operation and arms the pump; CPGO_E_NOMEM (r freed) when r has no URL. */
int prapi_submit(struct cpgo_prapi_client *c, struct prapi_req *r);

/* prapi_pace.c: pacing and judging responses */
/* When the head of the queue may start (monotonic ms). */
uint64_t prapi_earliest_start(const struct cpgo_prapi_client *c, const struct prapi_req *r);
/* Judges the response to r: finishes it or queues it again (the caller then pumps). */
void prapi_handle(struct prapi_req *r, struct prapi_resp *rs);

/* prapi_parse.c */
/* Appends printable ASCII of s (bounded by n) to out, other bytes as '?', no newlines. */
void prapi_append_clean(char *out, size_t cap, size_t *o, const char *s, size_t n);

#endif
