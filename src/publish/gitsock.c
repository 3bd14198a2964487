/* gitsock.c - see gitsock.h. */
#include "publish/gitsock.h"

#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int64_t connect_ms = 30000, io_ms = 60000;

void cpgo_gitsock_set_timeouts(int64_t c, int64_t io)
{
    connect_ms = c > 0 ? c : 30000;
    io_ms = io > 0 ? io : 60000;
}

/* The first four fields are libgit2 1.5's git_socket_stream (see gitsock.h). */
struct sock {
    git_stream parent;
    char *host;
    char *port;
    int s;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int net_error(const char *fmt, const char *host, const char *port, const char *why)
{
    git_error_set_str(GIT_ERROR_NET, "");
    char msg[512];
    snprintf(msg, sizeof msg, fmt, host, port, why);
    git_error_set_str(GIT_ERROR_NET, msg);
    return -1;
}

/* Non-blocking connect with a deadline over every address of the host. */
static int sock_connect(git_stream *stream)
{
    struct sock *st = (struct sock *)stream;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    int gai = getaddrinfo(st->host, st->port, &hints, &res);
    if (gai) return net_error("cannot resolve %s:%s: %s", st->host, st->port, gai_strerror(gai));
    int64_t deadline = mono_ms() + connect_ms;
    int fd = -1, err = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int64_t left = deadline - mono_ms();
            int n;
            do
                n = poll(&p, 1, left > 0 ? (int)left : 0);
            while (n < 0 && errno == EINTR);
            socklen_t el = sizeof err;
            if (n == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0) break;
            if (n == 0) err = ETIMEDOUT;
        } else {
            err = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return net_error("cannot connect to %s:%s: %s", st->host, st->port,
                         err == ETIMEDOUT ? "timed out" : strerror(err ? err : ECONNREFUSED));
    /* back to blocking, with an inactivity deadline on every read and write */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = {(time_t)(io_ms / 1000), (suseconds_t)(io_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    st->s = fd;
    return 0;
}

static ssize_t sock_read(git_stream *stream, void *data, size_t len)
{
    struct sock *st = (struct sock *)stream;
    ssize_t n;
    do
        n = recv(st->s, data, len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        net_error("reading from %s:%s: %s", st->host, st->port,
                  errno == EAGAIN || errno == EWOULDBLOCK ? "no data within the timeout"
                                                          : strerror(errno));
        return -1;
    }
    return n;
}

static ssize_t sock_write(git_stream *stream, const char *data, size_t len, int flags)
{
    (void)flags;
    struct sock *st = (struct sock *)stream;
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(st->s, data + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            net_error("writing to %s:%s: %s", st->host, st->port,
                      errno == EAGAIN || errno == EWOULDBLOCK ? "no progress within the timeout"
                                                              : strerror(errno));
            return -1;
        }
        off += (size_t)n;
    }
    return (ssize_t)off;
}

static int sock_close(git_stream *stream)
{
    struct sock *st = (struct sock *)stream;
    if (st->s >= 0) close(st->s);
    st->s = -1;
    return 0;
}

static void sock_free(git_stream *stream)
{
    struct sock *st = (struct sock *)stream;
    free(st->host);
    free(st->port);
    free(st);
}

static int sock_new(git_stream **out, const char *host, const char *port)
{
    struct sock *st = calloc(1, sizeof *st);
    if (!st) return -1;
    st->host = strdup(host);
    st->port = strdup(port);
    st->s = -1;
    if (!st->host || !st->port) {
        sock_free(&st->parent);
        return -1;
    }
    st->parent.version = GIT_STREAM_VERSION;
    st->parent.connect = sock_connect;
    st->parent.read = sock_read;
    st->parent.write = sock_write;
    st->parent.close = sock_close;
    st->parent.free = sock_free;
    *out = &st->parent;
    return 0;
}

int cpgo_gitsock_register(void)
{
    git_stream_registration r;
    memset(&r, 0, sizeof r);
    r.version = GIT_STREAM_VERSION;
    r.init = sock_new;
    return git_stream_register(GIT_STREAM_STANDARD, &r) < 0 ? -1 : 0;
}
