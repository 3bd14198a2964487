/*
 * prapi_int.h - what the files of the GitHub client share: the layouts of the client, an
 * operation (struct prapi_req) and a response once its easy handle is gone (struct prapi_resp),
 * and the helpers more than one file calls. Not for other modules: prapi.h is the
 * interface. Thread: the loop, as prapi.h.
 */
#ifndef CPGO_PUBLISH_GITHUB_INT_H
#define CPGO_PUBLISH_GITHUB_INT_H

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

struct prapi_resp;
struct prapi_req {
    struct cpgo_list_node link; /* in the client's waiting queue */
    struct cpgo_prapi_client *c;
    const char *method;             /* "GET", "POST" or "PATCH" (static strings) */
    char *url;                      /* absolute URL of the next HTTP request */
    char *payload;                  /* JSON for POST and PATCH */
    char repo[2 * PRAPI_MAX_NAME + 2]; /* "owner/name", for error lines */
    /* CREATE: after an ambiguous failure the POST is replaced by a lookup (GET) */
    char *create_url, *lookup_url;
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

struct cpgo_prapi_client {
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
    struct prapi_req *active;    /* in flight */
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
