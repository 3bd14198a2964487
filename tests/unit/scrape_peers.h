/* scrape_peers.h - what the scrape-option unit tests share (test_scrape_opts.c,
 * test_daemon_scrape_opts.c): real peers on loopback run by tests/support/scrape_peers.py
 * (Python's http.server with ssl, a CONNECT proxy), a test CA and certificates made by the
 * openssl command line, and a rig that runs scrapes concurrently on a private loop.
 * Header-only: each test is one translation unit. */
#ifndef CPGO_TEST_SCRAPE_PEERS_H
#define CPGO_TEST_SCRAPE_PEERS_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "scrape/scrape.h"

static char dir[256]; /* the test's own temporary directory */
static char peers_py[1024];

/* ---- peers: Python processes that live until their stdin closes ------------------------ */

struct peer {
    pid_t pid;
    int in; /* its stdin: closing it ends the peer */
    int port;
};

/* Starts scrape_peers.py with argv (NULL-terminated, after the script); 0 with the port. */
static int peer_start(struct peer *p, const char *const *args)
{
    const char *argv[16] = {"python3", peers_py};
    size_t n = 2;
    for (; args[n - 2] && n < 15; n++)
        argv[n] = args[n - 2];
    argv[n] = NULL;
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return -1;
    fflush(NULL);
    p->pid = fork();
    if (p->pid < 0) return -1;
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    fcntl(in[1], F_SETFD, FD_CLOEXEC);
    p->in = in[1];
    char line[32] = "";
    size_t got = 0;
    while (got < sizeof line - 1) {
        ssize_t r = read(out[0], line + got, 1);
        if (r <= 0 || line[got] == '\n') break;
        got++;
    }
    line[got] = 0;
    close(out[0]);
    p->port = atoi(line);
    if (p->port <= 0) {
        fprintf(stderr, "peer %s %s did not start\n", args[0], args[1]);
        return -1;
    }
    return 0;
}

static void peer_stop(struct peer *p)
{
    if (p->pid <= 0) return;
    close(p->in);
    int st;
    waitpid(p->pid, &st, 0);
    p->pid = 0;
}

/* ---- scraping --------------------------------------------------------------------------- */

struct outcome {
    int done;
    enum cpgo_class cls;
    long status;
    char body[1024]; /* what the server saw, on 200 */
    char error[256];
};

struct rig {
    uv_loop_t loop;
    struct cpgo_scraper *s;
    int remaining;
};

struct job {
    struct rig *rig;
    struct outcome *out;
};

static void on_done(struct cpgo_scrape_result *r, void *arg)
{
    struct job *j = arg;
    struct outcome *o = j->out;
    o->done = 1;
    o->cls = r->cls;
    o->status = r->http_status;
    size_t n = r->body && r->len < sizeof o->body ? r->len : 0;
    if (n) memcpy(o->body, r->body, n);
    o->body[n] = 0;
    snprintf(o->error, sizeof o->error, "%s", r->error);
    j->rig->remaining--;
}

static void rig_open(struct rig *g)
{
    uv_loop_init(&g->loop);
    struct cpgo_scraper_opts so = {.user_agent = "test"};
    CHECK_EQ_INT(cpgo_scraper_new(&g->loop, &so, &g->s), 0);
}

/* Runs the requests concurrently on the rig's scraper; fills out[]. */
static void rig_run(struct rig *g, struct cpgo_scrape_req *reqs, struct outcome *out, size_t n)
{
    struct job jobs[16];
    CHECK(n <= 16);
    g->remaining = 0;
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        jobs[i] = (struct job){g, &out[i]};
        reqs[i].timeout_ms = reqs[i].timeout_ms ? reqs[i].timeout_ms : 30000;
        reqs[i].connect_timeout_ms = 5000;
        reqs[i].done = on_done;
        reqs[i].arg = &jobs[i];
        if (cpgo_scrape_start(g->s, &reqs[i]))
            g->remaining++;
        else
            CHECK(!"cpgo_scrape_start");
    }
    while (g->remaining > 0)
        uv_run(&g->loop, UV_RUN_ONCE);
    for (size_t i = 0; i < n; i++)
        if (out[i].cls != CPGO_CLASS_OK)
            printf("  %s -> %s: %s\n", reqs[i].url, cpgo_class_name(out[i].cls), out[i].error);
}

static void on_scraper_closed(void *arg)
{
    *(int *)arg = 1;
}

static void rig_close(struct rig *g)
{
    int closed = 0;
    cpgo_scraper_close(g->s, on_scraper_closed, &closed);
    uv_run(&g->loop, UV_RUN_DEFAULT);
    CHECK(closed);
    CHECK_EQ_INT(uv_loop_close(&g->loop), 0);
}

__attribute__((unused)) static void run_one(struct cpgo_scrape_req *req, struct outcome *out)
{
    struct rig g;
    rig_open(&g);
    rig_run(&g, req, out, 1);
    rig_close(&g);
}

static char *path(const char *name)
{
    static char buf[8][512];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static char *url(const char *fmt, int port)
{
    static char buf[8][256];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], fmt, port);
    return b;
}

/* A test CA, a server certificate for pprof.test only, a client certificate. */
static int make_certs(void)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "set -e; cd '%s'; exec 2>openssl.log\n"
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout ca.key -out ca.crt -days 2 -subj /CN=cpgo-test-ca\n"
             "for n in srv cli; do\n"
             "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key "
             "-out $n.csr -subj /CN=$n\n"
             "done\n"
             "printf 'subjectAltName=DNS:pprof.test\\n' >srv.ext\n"
             "printf 'subjectAltName=DNS:cpgo-client\\nextendedKeyUsage=clientAuth\\n' "
             ">cli.ext\n"
             "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
             "-out srv.crt -days 2 -extfile srv.ext\n"
             "openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
             "-subj /CN=cpgo-client -out cli.crt -days 2 -extfile cli.ext\n",
             dir);
    return system(cmd);
}

/* The temporary directory with the certificates, and the peers' script; 0 when ready. */
static int peers_setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* tests/unit/scrape_peers.h -> tests/support/scrape_peers.py */
    snprintf(peers_py, sizeof peers_py, "%s", __FILE__);
    char *slash = strrchr(peers_py, '/');
    if (!slash) return -1;
    *slash = 0;
    slash = strrchr(peers_py, '/');
    if (!slash) return -1;
    snprintf(slash + 1, sizeof peers_py - (size_t)(slash + 1 - peers_py),
             "support/scrape_peers.py");
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/cpgo-scrape-peers-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return -1;
    if (make_certs()) {
        fprintf(stderr, "openssl could not make the test certificates (see %s/openssl.log)\n", dir);
        return -1;
    }
    return 0;
}

/* Removes the temporary directory unless a check failed (then it is kept to look at). */
static void peers_teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!check_failures && system(cmd)) printf("could not remove %s\n", dir);
}

#endif
