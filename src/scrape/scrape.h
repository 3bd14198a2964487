/*
 * scrape.h - HTTP scrapes of profile endpoints: one curl multi handle driven by one libuv
 * loop (curl's socket and timer callbacks mapped onto uv_poll and uv_timer), so thousands of
 * scrapes run concurrently without threads.
 *
 * Owns: the multi handle, its timer, one poll context per socket curl watches, and every
 * scrape in flight (its easy handle, header list and body buffer). A finished scrape's
 * body is handed to the done callback, which owns it from then on.
 * Thread: the loop thread only. The done callback runs on the loop thread and never from
 * inside cpgo_scrape_start or a curl callback (curl is never re-entered).
 *
 * Per scrape: http/https only, no redirects, a total timeout and a connect timeout, a body
 * ceiling counted in the write callback, no Accept-Encoding (the gzip is the file format
 * and its decompression limit is the decoder's job), at most one connection per host:port
 * (Go answers a second CPU profile request with 500 "already in use").
 *
 * Scrape options (Prometheus's, see struct cpgo_scrape_req), all done by curl:
 *   - resolve_ip pins the address: the transfer connects to resolve_ip and the URL's port
 *     (CURLOPT_CONNECT_TO, an option of this easy handle alone) while the Host header, SNI
 *     and certificate verification keep the URL's host. Not CURLOPT_RESOLVE: its entries
 *     go into the DNS cache the multi handle shares with every other transfer, so one
 *     instance's address would answer the name for every scrape after it.
 *   - tls.server_name: the name sent as SNI and verified in the certificate, while the
 *     transfer still connects where the URL (or resolve_ip) says and the Host header keeps
 *     the URL's host:port: the URL given to curl names server_name, CONNECT_TO sends it to
 *     the real address, and the Host header is set to the original one.
 *   - proxy_url: always a CONNECT tunnel, for http targets too. Through a plain
 *     (absolute-URI) proxy curl would count every scrape as a connection to the proxy, so
 *     the one-connection-per-host rule would let a single scrape through the proxy at a
 *     time; a tunnel is counted per target (and carries the pinned address to the proxy).
 *     Headers, Authorization included, go to the target only (CURLHEADER_SEPARATE).
 *   - an authorization value, basic auth, client certificates: curl options and headers.
 * A request whose options cannot be used (resolve_ip not an IP literal, a server_name that
 * is no host name, an authorization value that is empty or holds CR/LF) fails through
 * `done` with class config, never reaching the network.
 * Failures: a certificate the options do not verify, a client certificate the server
 * refuses (its TLS alert) or a bad certificate/key file is class tls (permanent); a proxy
 * that cannot be reached, resolved, or refuses the tunnel is class connect.
 * The caller puts every secret it gives here (password, credentials, proxy credentials)
 * into `secrets`, so a server's echo of them is scrubbed from the error text.
 *
 * All scrapes together: the body buffers of transfers in flight share one byte budget
 * (cpgo_scraper_set_inflight_budget; `limits.max_inflight_bytes`). What counts is what is
 * allocated: a buffer's capacity, from its first byte until it is handed to the done
 * callback or freed. A body that needs more than the budget has left makes room by
 * dropping the largest body in flight (its buffer is freed at once, its transfer fails
 * with class inflight_limit, transient); when it is itself the largest, it fails instead.
 * Nothing waits for budget, so every scrape keeps its own timeout, and endless or huge
 * bodies cost at most the budget, however many backends send them. A body handed to the
 * done callback leaves the budget (the work queue counts it from then on).
 */
#ifndef CPGO_SCRAPE_SCRAPE_H
#define CPGO_SCRAPE_SCRAPE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/class.h"
#include "base/url.h"

/* Why a scrape failed: a class of the shared vocabulary (base/class.h), set where the
 * curl code or HTTP status is read. The class decides the retry policy. */
struct cpgo_scrape_result {
    enum cpgo_class cls;
    long http_status;    /* 0 when no response */
    unsigned char *body; /* NULL unless 2xx; the done callback takes it by setting
                            body to NULL, else it is freed when the callback returns */
    size_t len;          /* bytes of body received (also for failures) */
    double seconds;      /* wall time of the transfer */
    char error[256];     /* one line: what went wrong, scrubbed of the request's
                            secrets before it was cut (a server may echo them) */
};

struct cpgo_scrape;
typedef void (*cpgo_scrape_done_cb)(struct cpgo_scrape_result *res, void *arg);

/* tls_config, for https URLs (NULL = curl's default: the system CAs, the URL's host). */
struct cpgo_scrape_tls {
    const char *ca_file;      /* PEM bundle the server is verified with */
    const char *cert_file;    /* client certificate (PEM), with key_file */
    const char *key_file;     /* client key (PEM) */
    const char *server_name;  /* SNI and the name verified, instead of the URL's host */
    int insecure_skip_verify; /* no verification of the server at all */
};

/* The longest authorization value a scrape sends ("<type> <credentials>"). */
#define CPGO_SCRAPE_AUTHZ_MAX 16384

/* A scrape. Every string is copied by cpgo_scrape_start: the caller's may go after it. */
struct cpgo_scrape_req {
    const char *url;
    const char *const *headers; /* "Name: value" strings, NULL-terminated, or NULL */
    struct cpgo_scrape_tls tls;
    const char *basic_user;     /* HTTP Basic when not NULL, with basic_password (NULL = "") */
    const char *basic_password; /* secret */
    const char *authorization;  /* "<type> <credentials>": the Authorization header (secret) */
    const char *proxy_url;      /* http(s)://[user:password@]host:port; NULL = curl's default
                                   (the http_proxy/https_proxy/no_proxy environment) */
    const char *resolve_ip;     /* IPv4 or IPv6 literal to connect to instead of resolving
                                   the URL's host; NULL = resolve it */
    struct cpgo_url_secrets *secrets; /* scrubbed from the error text (NULL = none); the
                                         scrape holds a reference until it ends */
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    size_t max_body_bytes;
    cpgo_scrape_done_cb done;
    void *arg;
};

struct cpgo_scraper_opts {
    const char *user_agent;    /* NULL = "cpgo/<version>"; concurrency is the caller's to gate */
    size_t max_inflight_bytes; /* the budget above; 0 = CPGO_SCRAPE_DEFAULT_INFLIGHT */
    /* Connections per host:port (CURLMOPT_MAX_HOST_CONNECTIONS): 0 = 1, the rule for
     * profiles (above); < 0 = no limit, for a multi whose transfers are long-lived streams
     * to one server (Kubernetes watches: one per namespace, each holding its connection
     * for minutes, would otherwise queue behind each other). */
    long max_host_connections;
};

#define CPGO_SCRAPE_DEFAULT_INFLIGHT ((size_t)256 << 20)

/* A scrape's connection is closed when it ends (CURLOPT_FORBID_REUSE): a backend is scraped
 * once a period, and curl reuses no connection idle for more than 118 s (CURLOPT_MAXAGE_CONN),
 * so keeping it mostly held an fd per backend (10,000 backends: 10,000 fds beside the scrapes
 * in flight) in a cache that curl walks whole when it is full. The forge API clients'
 * transfers (cpgo_scraper_run_easy) keep theirs for reuse. */

struct cpgo_scraper;

int cpgo_scraper_new(uv_loop_t *loop, const struct cpgo_scraper_opts *opts,
                     struct cpgo_scraper **out);
/* Starts a scrape. Returns NULL only when out of memory or closing (then `done` is not
 * called). */
struct cpgo_scrape *cpgo_scrape_start(struct cpgo_scraper *s, const struct cpgo_scrape_req *req);
/* Abandons a scrape in flight: its handle is removed, its buffers freed, `done` is not
 * called. */
void cpgo_scrape_cancel(struct cpgo_scrape *t);
/*
 * Drives any prepared easy handle on the same multi and loop (REST calls to forges use
 * it). The scraper sets CURLOPT_PRIVATE and CURLOPT_NOSIGNAL; everything else is the
 * caller's. `done` runs on the loop thread after curl has finished with the handle (it has
 * been removed from the multi; the caller cleans it up). At cpgo_scraper_close, handles
 * still running are returned through `done` with CURLE_ABORTED_BY_CALLBACK. Returns -1 if
 * it cannot be added (then `done` is not called).
 */
typedef void (*cpgo_easy_done_cb)(void *easy, int curlcode, void *arg);
int cpgo_scraper_run_easy(struct cpgo_scraper *s, void *easy, cpgo_easy_done_cb done, void *arg);
/* Changes the in-flight body budget (a reload). Bodies already over a lower budget are
 * dropped, largest first, as soon as one of them needs more. 0 = the default. */
void cpgo_scraper_set_inflight_budget(struct cpgo_scraper *s, size_t bytes);
/* Bytes of body buffers the budget holds now, and the most it has held since the start. */
size_t cpgo_scraper_inflight_bytes(const struct cpgo_scraper *s);
size_t cpgo_scraper_inflight_peak(const struct cpgo_scraper *s);
/* Cancels everything, cleans up curl, closes the uv handles; `closed` runs once the last
 * uv handle is closed (then the loop may be closed). */
void cpgo_scraper_close(struct cpgo_scraper *s, void (*closed)(void *arg), void *arg);

#endif
