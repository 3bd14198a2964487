/* fuzz_admin.c - libFuzzer target: the admin endpoint's request parsing and dispatch. The
 * input is the raw byte stream of one client connection, fed through a fake connection
 * (cpgo_admin_feed_for_fuzz: the server's own code with the socket calls replaced), with
 * small limits so that every limit and the output backpressure are reached often.
 *
 * Checks the contract, not just the absence of crashes:
 * - the output is a sequence of well-formed responses, each with a status line, Server,
 *   Content-Type, Content-Length and Cache-Control: no-store, a body of exactly
 *   Content-Length bytes (or none, after HEAD), and as many responses as reported;
 * - a response that closes the connection is the last one;
 * - the output does not depend on how the input was split into reads, nor on how small
 *   the per-connection output ceiling is (parsing pauses and resumes in between). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/http.h"
#include "admin/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int h_text(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    return cpgo_buf_append(r->body, "ok\n", 3);
}

static int h_echo(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    /* a body that can never look like a status line: it starts with "q=" */
    if (cpgo_buf_append(r->body, "q=", 2)) return -1;
    return cpgo_buf_append(r->body, query, strlen(query));
}

static int h_fail(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    return -1;
}

static int h_big(const char *path, const char *query, struct cpgo_admin_resp *r, void *arg)
{
    /* past max_response_bytes: the handler fails with CPGO_E_LIMIT, the client gets 500 */
    static const char chunk[64] = "0123456789012345678901234567890123456789012345678901234567890";
    for (int i = 0; i < 100; i++) {
        int rc = cpgo_buf_append(r->body, chunk, sizeof chunk);
        if (rc) return rc;
    }
    return 0;
}

static struct cpgo_metrics *registry(void)
{
    static struct cpgo_metrics *r; /* built once: the fuzzer runs millions of inputs */
    if (!r) {
        r = cpgo_metrics_new(4);
        struct cpgo_metric *c = cpgo_metric_counter(r, "x_total", "X.", CPGO_LABELS("k"));
        cpgo_metric_inc(c, CPGO_LABELS("a\"b"));
        cpgo_metric_observe(cpgo_metric_histogram(r, "h", "H.", NULL, (const double[]){1}, 1), 2,
                            NULL);
    }
    return r;
}

static char *run(const uint8_t *data, size_t size, size_t chunk, size_t conn_out, int *count,
                 size_t *len)
{
    struct cpgo_admin_route routes[] = {
        {"/", h_text, NULL},
        {"/q", h_echo, NULL},
        {"/fail", h_fail, NULL},
        {"/big", h_big, NULL},
        {"/metrics", cpgo_admin_metrics_handler, registry()},
    };
    struct cpgo_admin_opts o = {
        .routes = routes,
        .nroutes = sizeof routes / sizeof routes[0],
        .max_url_bytes = 96,
        .max_header_bytes = 512,
        .max_headers = 8,
        .max_response_bytes = 4096,
        .max_conn_output = conn_out,
    };
    struct cpgo_buf out;
    cpgo_buf_init(&out, 0);
    *count = cpgo_admin_feed_for_fuzz(&o, data, size, chunk, &out);
    if (*count < 0) abort();
    *len = out.len;
    return (char *)cpgo_buf_steal(&out, len);
}

static const char *find(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(hay + i, needle, k)) return hay + i;
    return NULL;
}

/* The header named name (with ": ") in head[0..n), or NULL. */
static const char *header(const char *head, size_t n, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\r\n%s: ", name);
    const char *p = find(head, n, pat);
    return p ? p + strlen(pat) : NULL;
}

static int is_status_line(const char *p, const char *end)
{
    return end - p >= 13 && !memcmp(p, "HTTP/1.1 ", 9) && p[9] >= '1' && p[9] <= '5' &&
           p[10] >= '0' && p[10] <= '9' && p[11] >= '0' && p[11] <= '9' && p[12] == ' ';
}

/* Walks the responses; returns how many, or aborts on a malformed one. */
static int check_responses(const char *out, size_t len)
{
    if (!len) return 0; /* out may be NULL */
    const char *p = out, *end = out + len;
    int n = 0, closed = 0;
    while (p < end) {
        if (closed || !is_status_line(p, end)) abort();
        const char *hend = find(p, (size_t)(end - p), "\r\n\r\n");
        if (!hend) abort();
        size_t hl = (size_t)(hend - p) + 4;
        const char *cl = header(p, hl, "Content-Length");
        const char *cc = header(p, hl, "Cache-Control");
        const char *sv = header(p, hl, "Server");
        if (!cl || !header(p, hl, "Content-Type") || !cc || memcmp(cc, "no-store\r\n", 10) || !sv ||
            memcmp(sv, "cpgo\r\n", 6))
            abort();
        size_t body = strtoul(cl, NULL, 10);
        const char *conn = header(p, hl, "Connection");
        closed = conn && !memcmp(conn, "close\r\n", 7);
        const char *with = p + hl + body, *without = p + hl;
        /* a body is there unless this answered a HEAD, which leaves none */
        if (body <= (size_t)(end - without) && (with == end || is_status_line(with, end)))
            p = with;
        else if (without == end || is_status_line(without, end))
            p = without;
        else
            abort();
        n++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) return 0; /* more is the same story */
    int n1, n2, n3;
    size_t l1, l2, l3;
    char *o1 = run(data, size, 0, 0, &n1, &l1);
    if (check_responses(o1, l1) != n1) abort();
    /* split into small reads, with an output ceiling that pauses after every response */
    char *o2 = run(data, size, 1 + size % 7, 1, &n2, &l2);
    if (n2 != n1 || l2 != l1 || (l1 && memcmp(o1, o2, l1))) abort();
    if (size <= 4096) {
        char *o3 = run(data, size, 1, 300, &n3, &l3);
        if (n3 != n1 || l3 != l1 || (l1 && memcmp(o1, o3, l1))) abort();
        free(o3);
    }
    free(o1);
    free(o2);
    return 0;
}
