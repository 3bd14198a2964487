/* Unit tests for scrape/scrape: the scraper on a private libuv loop against real HTTP
 * servers on 127.0.0.1 (port 0), one thread per connection, speaking raw HTTP/1.1 so they
 * can send what no sane server sends. Covered: the in-flight body budget (endless bodies
 * from many backends cost at most the budget; the largest give way, a normal profile still
 * arrives), invalid answers classed bad_response instead of connect, and a real allocation
 * failure (an address-space limit in a child process) classed oom. Every run ends with the
 * loop closed with nothing open (uv_loop_close == 0). */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "scrape/scrape.h"

/* sanitizers reserve address space of their own: an address-space limit cannot be used */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

/* ---- servers ---------------------------------------------------------------------- */

enum mode {
    M_NORMAL,    /* 200, Content-Length body_len, body_len bytes */
    M_TOGETHER,  /* as M_NORMAL, the first 16 KiB sent, then the rest once every such server
                    has sent its first (*streamed counts them up to wait_streamed, or 10 s) */
    M_ENDLESS,   /* 200, chunked, 64 KiB chunks until the client goes */
    M_BAD_CL,    /* Content-Length: abc */
    M_NEG_CL,    /* Content-Length: -5 */
    M_BIG_HDR,   /* one 200 KB header line (curl 7.88: "Out of memory") */
    M_MANY_HDRS, /* 400 KB of header lines in all */
    M_HTTP09,    /* no status line at all */
    M_BAD_CHUNK, /* chunked with a chunk size that is not hex */
    M_HUGE,      /* 200, Content-Length 512 MiB, zeros */
};

struct srv {
    int lfd, port;
    enum mode mode;
    size_t body_len;
    atomic_size_t *streamed; /* shared by the endless servers: bytes sent */
    size_t wait_streamed;    /* M_NORMAL: answer once this much was streamed (or 10 s) */
    pthread_t th;
};

static const char ZEROS[64 * 1024];

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_str(int fd, const char *s)
{
    return send_all(fd, s, strlen(s));
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    char req[8192];
    size_t got = 0;
    while (got < sizeof req - 1) { /* the request's header section */
        ssize_t r = recv(fd, req + got, sizeof req - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
        req[got] = 0;
        if (strstr(req, "\r\n\r\n")) break;
    }
    char head[256];
    switch (s->mode) {
    case M_TOGETHER: {
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", s->body_len);
        size_t first = s->body_len < 16384 ? s->body_len : 16384;
        if (send_str(fd, head) || send_all(fd, ZEROS, first)) break;
        atomic_fetch_add(s->streamed, 1);
        for (int i = 0; i < 1000 && atomic_load(s->streamed) < s->wait_streamed; i++)
            usleep(10000);
        for (size_t left = s->body_len - first; left;) {
            size_t n = left < sizeof ZEROS ? left : sizeof ZEROS;
            if (send_all(fd, ZEROS, n)) break;
            left -= n;
        }
        break;
    }
    case M_NORMAL:
        for (int i = 0; i < 1000 && atomic_load(s->streamed) < s->wait_streamed; i++)
            usleep(10000);
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", s->body_len);
        if (send_str(fd, head)) break;
        for (size_t left = s->body_len; left;) {
            size_t n = left < sizeof ZEROS ? left : sizeof ZEROS;
            if (send_all(fd, ZEROS, n)) break;
            left -= n;
        }
        break;
    case M_ENDLESS:
        if (send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) break;
        for (;;) {
            if (send_str(fd, "10000\r\n") || send_all(fd, ZEROS, sizeof ZEROS) ||
                send_str(fd, "\r\n"))
                break;
            atomic_fetch_add(s->streamed, sizeof ZEROS);
        }
        break;
    case M_BAD_CL:
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello");
        break;
    case M_NEG_CL:
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello");
        break;
    case M_BIG_HDR: {
        static char line[200 * 1024];
        memset(line, 'a', sizeof line - 1);
        if (send_str(fd, "HTTP/1.1 200 OK\r\nX-Big: ") || send_str(fd, line)) break;
        send_str(fd, "\r\nContent-Length: 5\r\n\r\nhello");
        break;
    }
    case M_MANY_HDRS:
        if (send_str(fd, "HTTP/1.1 200 OK\r\n")) break;
        for (int i = 0; i < 8000; i++)
            if (send_str(fd, "X-Some-Header: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n")) break;
        send_str(fd, "Content-Length: 5\r\n\r\nhello");
        break;
    case M_HTTP09:
        send_str(fd, "hello world, no status line here\n");
        break;
    case M_BAD_CHUNK:
        send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n");
        break;
    case M_HUGE:
        if (send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 536870912\r\n\r\n")) break;
        for (size_t left = 512u << 20; left; left -= sizeof ZEROS)
            if (send_all(fd, ZEROS, sizeof ZEROS)) break;
        break;
    }
    /* a lingering close: let the client read what was sent before our FIN */
    shutdown(fd, SHUT_WR);
    struct pollfd p = {fd, POLLIN, 0};
    char sink[4096];
    while (poll(&p, 1, 2000) > 0 && recv(fd, sink, sizeof sink, 0) > 0) {
    }
    close(fd);
    return NULL;
}

static int srv_start(struct srv *s)
{
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) || listen(s->lfd, 4) ||
        getsockname(s->lfd, (struct sockaddr *)&a, &len))
        return -1;
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->th, NULL, srv_main, s);
}

static void srv_stop(struct srv *s)
{
    shutdown(s->lfd, SHUT_RDWR); /* wakes an accept that never got its client */
    pthread_join(s->th, NULL);
    close(s->lfd);
}

/* ---- scraping --------------------------------------------------------------------- */

struct outcome {
    int done;
    enum cpgo_class cls;
    long status;
    size_t len;
    int has_body;
    char error[256];
};

static int remaining;

static void on_done(struct cpgo_scrape_result *r, void *arg)
{
    struct outcome *o = arg;
    o->done = 1;
    o->cls = r->cls;
    o->status = r->http_status;
    o->len = r->len;
    o->has_body = r->body != NULL;
    snprintf(o->error, sizeof o->error, "%s", r->error);
    remaining--;
}

static void on_scraper_closed(void *arg)
{
    *(int *)arg = 1;
}

/* Scrapes every server once, concurrently, with the given budget; fills out[]. Returns the
 * budget's peak. */
static size_t scrape_all(struct srv *srv, size_t n, struct outcome *out, size_t budget,
                         size_t max_body)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct cpgo_scraper *s;
    struct cpgo_scraper_opts so = {.user_agent = "test", .max_inflight_bytes = budget};
    CHECK_EQ_INT(cpgo_scraper_new(&loop, &so, &s), 0);
    char url[64];
    remaining = (int)n;
    for (size_t i = 0; i < n; i++) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d/debug/pprof/profile", srv[i].port);
        struct cpgo_scrape_req req = {.url = url,
                                      .timeout_ms = 60000,
                                      .connect_timeout_ms = 5000,
                                      .max_body_bytes = max_body,
                                      .done = on_done,
                                      .arg = &out[i]};
        CHECK(cpgo_scrape_start(s, &req) != NULL);
    }
    while (remaining > 0)
        uv_run(&loop, UV_RUN_ONCE);
    size_t peak = cpgo_scraper_inflight_peak(s);
    CHECK_EQ_INT(cpgo_scraper_inflight_bytes(s), 0); /* every buffer refunded */
    int closed = 0;
    cpgo_scraper_close(s, on_scraper_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(closed);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    return peak;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_classes(void)
{
    CHECK(!strcmp(cpgo_class_name(CPGO_CLASS_INFLIGHT_LIMIT), "inflight_limit"));
    CHECK(!strcmp(cpgo_class_name(CPGO_CLASS_OOM), "oom"));
    CHECK(!strcmp(cpgo_class_name(CPGO_CLASS_BAD_RESPONSE), "bad_response"));
    /* the budget frees up and memory may come back: retried; a broken server is not */
    CHECK(cpgo_class_transient(CPGO_CLASS_INFLIGHT_LIMIT));
    CHECK(cpgo_class_transient(CPGO_CLASS_OOM));
    CHECK(!cpgo_class_transient(CPGO_CLASS_BAD_RESPONSE));
    CHECK(cpgo_class_transient(CPGO_CLASS_BUSY));
    CHECK(!cpgo_class_transient(CPGO_CLASS_TLS));
    for (int c = 0; c < CPGO_CLASS_COUNT; c++)
        CHECK(cpgo_class_name((enum cpgo_class)c) != NULL &&
              strcmp(cpgo_class_name((enum cpgo_class)c), "unknown"));
}

/* Invalid HTTP from a backend: bad_response (permanent), not a connect error. */
static void test_bad_responses(void)
{
    static const struct {
        enum mode mode;
        const char *says;
    } cases[] = {
        {M_BAD_CL, "Invalid Content-Length"},
        {M_NEG_CL, "Invalid Content-Length"},
        {M_BIG_HDR, "header line over curl's 100 KB limit"},
        {M_MANY_HDRS, "header"},
        {M_HTTP09, "HTTP/0.9"},
        {M_BAD_CHUNK, "chunked-encoding"},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    struct srv srv[N];
    struct outcome out[N];
    atomic_size_t streamed = 0;
    memset(out, 0, sizeof out);
    for (size_t i = 0; i < N; i++) {
        srv[i] = (struct srv){.mode = cases[i].mode, .streamed = &streamed};
        CHECK_EQ_INT(srv_start(&srv[i]), 0);
    }
    scrape_all(srv, N, out, 0, 64u << 20);
    for (size_t i = 0; i < N; i++) {
        srv_stop(&srv[i]);
        if (out[i].cls != CPGO_CLASS_BAD_RESPONSE)
            fprintf(stderr, "case %zu: class %s: %s\n", i, cpgo_class_name(out[i].cls),
                    out[i].error);
        CHECK_EQ_INT(out[i].cls, CPGO_CLASS_BAD_RESPONSE);
        CHECK_STR_CONTAINS(out[i].error, cases[i].says);
        CHECK(!out[i].has_body);
    }
}

/* Endless bodies from many backends cost at most the budget: the largest bodies give way
 * (inflight_limit), and a normal profile arriving meanwhile is received whole. */
static void test_budget(void)
{
    enum { ENDLESS = 6, N = ENDLESS + 1 };
    const size_t budget = 4u << 20, max_body = 64u << 20, normal = 300 * 1024;
    struct srv srv[N];
    struct outcome out[N];
    atomic_size_t streamed = 0;
    memset(out, 0, sizeof out);
    for (size_t i = 0; i < N; i++) {
        srv[i] = (struct srv){.mode = i < ENDLESS ? M_ENDLESS : M_NORMAL,
                              .body_len = normal,
                              .streamed = &streamed,
                              .wait_streamed = 1u << 20};
        CHECK_EQ_INT(srv_start(&srv[i]), 0);
    }
    size_t peak = scrape_all(srv, N, out, budget, max_body);
    for (size_t i = 0; i < N; i++)
        srv_stop(&srv[i]);
    CHECK(peak <= budget);
    CHECK(peak > budget / 2); /* the bodies did fill it */
    for (size_t i = 0; i < ENDLESS; i++) {
        CHECK_EQ_INT(out[i].cls, CPGO_CLASS_INFLIGHT_LIMIT);
        CHECK_STR_CONTAINS(out[i].error, "limits.max_inflight_bytes");
        CHECK(out[i].len <= budget + 64 * 1024);
    }
    CHECK_EQ_INT(out[ENDLESS].cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(out[ENDLESS].len, normal);
    CHECK(out[ENDLESS].has_body);
}

/* Bodies of the same size arriving together, more than the budget holds: those beyond it
 * wait at their first bytes for room instead of failing, and every one is received whole
 * with the budget never exceeded. */
static void test_budget_waits(void)
{
    enum { N = 12 };
    const size_t budget = 1u << 20, size = 300 * 1024;
    struct srv srv[N];
    struct outcome out[N];
    atomic_size_t streamed = 0;
    memset(out, 0, sizeof out);
    for (size_t i = 0; i < N; i++) {
        srv[i] = (struct srv){
            .mode = M_TOGETHER, .body_len = size, .streamed = &streamed, .wait_streamed = N};
        CHECK_EQ_INT(srv_start(&srv[i]), 0);
    }
    size_t peak = scrape_all(srv, N, out, budget, 64u << 20);
    for (size_t i = 0; i < N; i++)
        srv_stop(&srv[i]);
    CHECK(peak <= budget);
    for (size_t i = 0; i < N; i++) {
        if (out[i].cls != CPGO_CLASS_OK) printf("body %zu: %s\n", i, out[i].error);
        CHECK_EQ_INT(out[i].cls, CPGO_CLASS_OK);
        CHECK_EQ_INT(out[i].len, size);
    }
}

/* A real allocation failure (an address-space limit, in a child process) while a body
 * grows: class oom, transient. Skipped under ASan, whose shadow memory needs address space
 * far beyond any such limit. */
static void test_oom(void)
{
#ifdef HAVE_ASAN
    printf("test_oom: skipped under a sanitizer\n");
#else
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct srv srv = {.mode = M_HUGE};
        struct outcome out = {0};
        if (srv_start(&srv)) _exit(3);
        /* room for the loop and curl, not for the body */
        size_t vm_kb = 0;
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "VmSize: %zu kB", &vm_kb) == 1) break;
        if (f) fclose(f);
        struct rlimit rl = {(vm_kb << 10) + (96u << 20), (vm_kb << 10) + (96u << 20)};
        if (!vm_kb || setrlimit(RLIMIT_AS, &rl)) _exit(4);
        scrape_all(&srv, 1, &out, (size_t)1 << 30, (size_t)1 << 30);
        srv_stop(&srv);
        printf("test_oom: class %s: %s\n", cpgo_class_name(out.cls), out.error);
        fflush(stdout);
        _exit(out.cls == CPGO_CLASS_OOM && strstr(out.error, "out of memory") && !out.has_body ? 0
                                                                                               : 1);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
#endif
}

int main(void)
{
    test_classes();
    test_bad_responses();
    test_budget();
    test_budget_waits();
    test_oom();
    CHECK_DONE();
}
