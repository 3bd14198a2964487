/* dns_helpers.h - what the DNS unit tests share (test_discover_resolver.c,
 * test_discover_dns.c): a real dnsmasq on 127.0.0.1 at a port found free (bind 0, close,
 * pass it; again with another port when dnsmasq cannot bind it), restarted on the same port
 * or re-reading its hosts file on SIGHUP; a raw DNS probe that waits until dnsmasq answers
 * what the test wrote; two servers dnsmasq cannot be: one that never answers and one that
 * answers with a malformed packet; and a loop runner with a safety bound.
 * Header-only: each test is one translation unit. */
#ifndef CPGO_TEST_DNS_HELPERS_H
#define CPGO_TEST_DNS_HELPERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define DM_MAX_ARGS 200

struct dnsmasq {
    pid_t pid;
    int port;
    char dir[256];
    char hosts[320];                  /* --addn-hosts file, re-read on SIGHUP */
    const char *records[DM_MAX_ARGS]; /* --srv-host=..., --host-record=... (static strings) */
    size_t nrecords;
};

static inline const char *dnsmasq_path(void)
{
    static const char *paths[] = {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (access(paths[i], X_OK) == 0) return paths[i];
    return NULL;
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A port free for both UDP and TCP on 127.0.0.1 right now (dnsmasq binds both). */
static inline int free_port(void)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (u < 0) return -1;
        if (bind(u, (struct sockaddr *)&a, sizeof a) ||
            getsockname(u, (struct sockaddr *)&a, &len)) {
            close(u);
            continue;
        }
        int t = socket(AF_INET, SOCK_STREAM, 0);
        int ok = t >= 0 && bind(t, (struct sockaddr *)&a, sizeof a) == 0;
        if (t >= 0) close(t);
        close(u);
        if (ok) return ntohs(a.sin_port);
    }
    return -1;
}

/* ---- a raw DNS query (the test's own eyes, independent of the code under test) --------- */

static inline size_t dns_build_query(unsigned char *p, size_t cap, uint16_t id, const char *name,
                                     int type)
{
    size_t n = 12;
    memset(p, 0, 12);
    p[0] = (unsigned char)(id >> 8), p[1] = (unsigned char)id;
    p[2] = 0x01; /* RD */
    p[5] = 1;    /* one question */
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);
        if (n + l + 2 + 4 > cap || l > 63) return 0;
        p[n++] = (unsigned char)l;
        memcpy(p + n, s, l);
        n += l;
        s += l + (dot ? 1 : 0);
    }
    p[n++] = 0;
    p[n++] = 0, p[n++] = (unsigned char)type;
    p[n++] = 0, p[n++] = 1;
    return n;
}

/* Asks 127.0.0.1:port once; the reply's rcode and answer count, or -1 (no reply in ms). */
static inline int dns_probe(int port, const char *name, int type, int ms, int *ancount)
{
    unsigned char q[512], r[4096];
    static uint16_t id = 0x4242;
    id++;
    size_t qn = dns_build_query(q, sizeof q, id, name, type);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || !qn) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = -1;
    if (sendto(fd, q, qn, 0, (struct sockaddr *)&a, sizeof a) == (ssize_t)qn) {
        double end = now_s() + ms / 1000.0;
        for (;;) {
            int left = (int)((end - now_s()) * 1000);
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            if (left <= 0 || poll(&pf, 1, left) <= 0) break;
            ssize_t got = recv(fd, r, sizeof r, 0);
            if (got >= 12 && r[0] == (id >> 8) && r[1] == (id & 0xff)) {
                rc = r[3] & 0x0f;
                if (ancount) *ancount = (r[6] << 8) | r[7];
                break;
            }
            if (got < 0 && errno != EINTR) break;
        }
    }
    close(fd);
    return rc;
}

/* ---- dnsmasq ---------------------------------------------------------------------------- */

static inline void dnsmasq_init(struct dnsmasq *d)
{
    memset(d, 0, sizeof *d);
    const char *t = getenv("TMPDIR");
    snprintf(d->dir, sizeof d->dir, "%s/cpgo-dns-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(d->dir)) {
        perror("mkdtemp");
        exit(1);
    }
    chmod(d->dir, 0755); /* dnsmasq may read it as another user */
    snprintf(d->hosts, sizeof d->hosts, "%s/hosts", d->dir);
}

static inline void dnsmasq_record(struct dnsmasq *d, const char *arg)
{
    if (d->nrecords < DM_MAX_ARGS) d->records[d->nrecords++] = arg;
}

static inline void write_file(const char *path, const char *text)
{
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) || chmod(tmp, 0644) || rename(tmp, path)) {
        perror(path);
        exit(1);
    }
}

static inline pid_t dnsmasq_spawn(struct dnsmasq *d, int port)
{
    static char a_port[32], a_hosts[400], a_pid[400], a_user[64];
    snprintf(a_port, sizeof a_port, "--port=%d", port);
    snprintf(a_hosts, sizeof a_hosts, "--addn-hosts=%s", d->hosts);
    snprintf(a_pid, sizeof a_pid, "--pid-file=%s/pid", d->dir);
    const char *argv[DM_MAX_ARGS + 20];
    size_t n = 0;
    argv[n++] = dnsmasq_path();
    argv[n++] = "--keep-in-foreground";
    argv[n++] = "--conf-file=/dev/null"; /* not the machine's /etc/dnsmasq.conf */
    argv[n++] = a_port;
    argv[n++] = "--listen-address=127.0.0.1";
    argv[n++] = "--bind-interfaces";
    argv[n++] = "--no-resolv";
    argv[n++] = "--no-hosts";
    argv[n++] = "--local=/test/";
    argv[n++] = a_hosts;
    argv[n++] = a_pid;
    argv[n++] = "--log-facility=/dev/null";
    if (getuid() == 0) { /* as root dnsmasq drops to nobody; stay ourselves */
        struct passwd *pw = getpwuid(0);
        snprintf(a_user, sizeof a_user, "--user=%s", pw ? pw->pw_name : "root");
        argv[n++] = a_user;
    }
    for (size_t i = 0; i < d->nrecords; i++)
        argv[n++] = d->records[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Waits until dnsmasq answers on its port: 0, or -1 when it exited or never answered. */
static inline int dnsmasq_wait_up(struct dnsmasq *d)
{
    double end = now_s() + 15;
    while (now_s() < end) {
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            d->pid = 0;
            return -1;
        }
        if (dns_probe(d->port, "probe.test", 1, 200, NULL) >= 0) return 0;
    }
    return -1;
}

/* Starts dnsmasq with d's records: at port (restart on the same port), or at a free one. */
static inline int dnsmasq_start_at(struct dnsmasq *d, int port)
{
    if (access(d->hosts, F_OK)) write_file(d->hosts, "");
    for (int attempt = 0; attempt < 8; attempt++) {
        d->port = port ? port : free_port();
        d->pid = dnsmasq_spawn(d, d->port);
        if (d->pid > 0 && dnsmasq_wait_up(d) == 0) return 0;
        if (d->pid > 0) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, NULL, 0);
            d->pid = 0;
        }
        if (port) usleep(200 * 1000); /* the same port: give the old one time to go */
    }
    fprintf(stderr, "dnsmasq did not start\n");
    return -1;
}

static inline int dnsmasq_start(struct dnsmasq *d)
{
    return dnsmasq_start_at(d, 0);
}

static inline void dnsmasq_stop(struct dnsmasq *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        waitpid(d->pid, NULL, 0);
    }
    d->pid = 0;
}

/* New records need a restart (SIGHUP re-reads only the hosts files): same port. */
static inline int dnsmasq_restart(struct dnsmasq *d)
{
    int port = d->port;
    dnsmasq_stop(d);
    return dnsmasq_start_at(d, port);
}

/* Writes the hosts file, sends SIGHUP and waits until dnsmasq answers `sentinel` (a name
 * the new file has and the old one did not), so the next query sees the new file. */
static inline int dnsmasq_hosts(struct dnsmasq *d, const char *text, const char *sentinel)
{
    write_file(d->hosts, text);
    if (!d->pid) return 0;
    double end = now_s() + 15;
    while (now_s() < end) {
        kill(d->pid, SIGHUP);
        int an = 0;
        if (dns_probe(d->port, sentinel, 1, 200, &an) == 0 && an > 0) return 0;
        usleep(50 * 1000);
    }
    fprintf(stderr, "dnsmasq did not read %s again\n", d->hosts);
    return -1;
}

static inline void dnsmasq_cleanup(struct dnsmasq *d)
{
    dnsmasq_stop(d);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", d->dir);
}

/* ---- servers dnsmasq cannot be ---------------------------------------------------------- */

enum bad_mode {
    BAD_SILENT,    /* reads nothing, answers nothing */
    BAD_MALFORMED, /* SRV: an answer whose RDATA is 3 bytes; other types: ANCOUNT 2, one RR */
};

struct bad_server {
    int fd, port;
    enum bad_mode mode;
    int stop_pipe[2];
    pthread_t th;
    int running;
};

static inline void *bad_server_main(void *arg)
{
    struct bad_server *b = arg;
    unsigned char q[1500], r[1600];
    for (;;) {
        struct pollfd pf[2] = {{.fd = b->fd, .events = POLLIN},
                               {.fd = b->stop_pipe[0], .events = POLLIN}};
        if (poll(pf, 2, -1) < 0 && errno != EINTR) break;
        if (pf[1].revents) break;
        if (!(pf[0].revents & POLLIN)) continue;
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(b->fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
        if (n < 12) continue;
        /* the question ends after its name's zero label, type and class */
        size_t i = 12;
        while (i < (size_t)n && q[i])
            i += (size_t)q[i] + 1;
        if (i + 5 > (size_t)n) continue;
        size_t qend = i + 5;
        int qtype = (q[i + 1] << 8) | q[i + 2];
        memcpy(r, q, qend);
        r[2] = 0x81; /* QR, RD */
        r[3] = 0x80; /* RA, NOERROR */
        r[8] = r[9] = r[10] = r[11] = 0;
        size_t o = qend;
        static const unsigned char rr_head[] = {0xc0, 0x0c}; /* the question's name */
        memcpy(r + o, rr_head, 2), o += 2;
        r[o++] = 0, r[o++] = (unsigned char)qtype;
        r[o++] = 0, r[o++] = 1;                         /* IN */
        r[o++] = 0, r[o++] = 0, r[o++] = 0, r[o++] = 5; /* TTL */
        if (qtype == 33) {
            r[6] = 0, r[7] = 1;
            r[o++] = 0, r[o++] = 3; /* RDLENGTH 3: no room for priority, weight, port */
            r[o++] = 0, r[o++] = 1, r[o++] = 0;
        } else {
            r[6] = 0, r[7] = 2; /* two answers announced, one sent */
            r[o++] = 0, r[o++] = qtype == 28 ? 16 : 4;
            memset(r + o, 1, qtype == 28 ? 16 : 4);
            o += qtype == 28 ? 16 : 4;
        }
        sendto(b->fd, r, o, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}

/* At port (0: one the kernel picks). */
static inline int bad_server_start(struct bad_server *b, enum bad_mode mode, int port)
{
    memset(b, 0, sizeof *b);
    b->mode = mode;
    b->fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (b->fd < 0 || bind(b->fd, (struct sockaddr *)&a, sizeof a) ||
        getsockname(b->fd, (struct sockaddr *)&a, &len))
        return -1;
    b->port = ntohs(a.sin_port);
    if (mode == BAD_SILENT) return 0; /* the kernel queues the queries; nobody reads them */
    if (pipe(b->stop_pipe) || pthread_create(&b->th, NULL, bad_server_main, b)) return -1;
    b->running = 1;
    return 0;
}

static inline void bad_server_stop(struct bad_server *b)
{
    if (b->running) {
        if (write(b->stop_pipe[1], "x", 1) != 1) perror("write");
        pthread_join(b->th, NULL);
        close(b->stop_pipe[0]);
        close(b->stop_pipe[1]);
        b->running = 0;
    }
    if (b->fd >= 0) close(b->fd);
    b->fd = -1;
}

/* ---- the loop --------------------------------------------------------------------------- */

static inline void guard_fired(uv_timer_t *t)
{
    *(int *)t->data = 1;
    uv_stop(t->loop);
}

/* Runs loop until *flag is set by a callback (which also calls uv_stop) or max_s passes.
 * 0 when the flag was set, -1 on the bound. */
static inline int run_until(uv_loop_t *loop, const int *flag, double max_s)
{
    uv_timer_t guard;
    int fired = 0;
    uv_timer_init(loop, &guard);
    guard.data = &fired;
    uv_timer_start(&guard, guard_fired, (uint64_t)(max_s * 1000), 0);
    while (!*flag && !fired)
        uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag ? 0 : -1;
}

#endif
