/*
 * gocheck.c - `go tool preprofile` on a candidate profile (gocheck.h says what it owns).
 *
 * One call: a private directory, the candidate written into it, the child spawned in its
 * own process group with only 0/1/2, its output read under a ceiling until it exits or the
 * deadline passes, the group killed, the leader reaped, the directory removed, and only
 * then the verdict. Every descriptor opened here is O_CLOEXEC, so a child that another
 * thread spawns meanwhile inherits none of them.
 *
 * Why the group is killed after a normal exit too: go runs the preprofile tool as its own
 * child; if anything of the group were still alive (a go that exited early, a wrapper
 * script's background job), it must not outlive the check. The kill comes before waitpid:
 * while the leader is an unreaped zombie its pid, and so the group id, cannot be reused.
 * The wait uses waitid(WNOWAIT) to see the exit without reaping.
 *
 * Thread: a pool thread (blocking). No global state.
 */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np, _addfchdir_np, pipe2 */
#include "publish/gocheck.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if !defined(__GLIBC__) || __GLIBC__ < 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ < 34)
/* Without the closefrom action only O_CLOEXEC descriptors stay out of the child; every
 * target cpgo ships for (Debian 12: glibc 2.36) has it. */
#error "gocheck.c needs glibc 2.34 or later (posix_spawn_file_actions_addclosefrom_np)"
#endif

extern char **environ;

#define IN_NAME "candidate.pprof"
#define OUT_NAME "candidate.preprofile"
#define MESSAGE_LINES 3
#define MESSAGE_MAX 360
/* How often a silent child is checked for exit: an exit is seen at most this late. */
#define SLICE_MS 20
/* The rejection lines of cmd/preprofile (log.SetPrefix("preprofile: ")). */
#define TOOL_PREFIX "preprofile: "

/* What the child may see of cpgo's environment (see gocheck.h), and what it always gets. */
static const char *const env_kept[] = {"PATH",   "HOME",    "TMPDIR",          "GOROOT",
                                       "GOPATH", "GOCACHE", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"};
static const char *const env_forced[] = {"GOTOOLCHAIN=local", "GOFLAGS=", "GOENV=off"};
#define ENV_SLOTS (sizeof env_kept / sizeof *env_kept + sizeof env_forced / sizeof *env_forced + 1)

struct run {
    char dir[PATH_MAX]; /* the private directory, "" until made */
    int dirfd;
    char in[PATH_MAX + 32];
    char out_path[PATH_MAX + 32];
    pid_t pid; /* 0 until spawned */
    int pr;    /* the pipe's read end (non-blocking) */
    char out[CPGO_GOCHECK_OUTPUT_MAX];
    size_t outlen;
    int eof;
    int status;
    int timed_out;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int local_fail(struct cpgo_err *err, const char *what, int e)
{
    return cpgo_err_set_class(err, CPGO_CLASS_LOCAL, CPGO_E_IO, "go tool preprofile: %s: %s", what,
                              strerror(e));
}

/* ---- the private directory ---- */

static int make_dir(struct run *r, struct cpgo_err *err)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    int n = snprintf(r->dir, sizeof r->dir, "%s/cpgo-gocheck-XXXXXX", tmp);
    if (n < 0 || (size_t)n >= sizeof r->dir) {
        r->dir[0] = 0;
        return cpgo_err_set_class(err, CPGO_CLASS_LOCAL, CPGO_E_IO,
                                  "go tool preprofile: TMPDIR is too long");
    }
    if (!mkdtemp(r->dir)) {
        int e = errno;
        r->dir[0] = 0;
        return local_fail(err, "cannot create a temporary directory under TMPDIR", e);
    }
    r->dirfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (r->dirfd < 0) return local_fail(err, r->dir, errno);
    snprintf(r->in, sizeof r->in, "%s/" IN_NAME, r->dir);
    snprintf(r->out_path, sizeof r->out_path, "%s/" OUT_NAME, r->dir);
    return 0;
}

static int write_input(struct run *r, const void *data, size_t len, struct cpgo_err *err)
{
    int fd = openat(r->dirfd, IN_NAME, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return local_fail(err, r->in, errno);
    const unsigned char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            return local_fail(err, r->in, e);
        }
        p += w;
        len -= (size_t)w;
    }
    if (close(fd) != 0) return local_fail(err, r->in, errno);
    return 0;
}

/* Removes what the directory holds (files; empty directories) and the directory. Links are
 * removed, never followed. */
static void remove_dir(struct run *r)
{
    if (!r->dir[0]) return;
    if (r->dirfd >= 0) {
        int fd = fcntl(r->dirfd, F_DUPFD_CLOEXEC, 0);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d && fd >= 0) close(fd);
        for (struct dirent *e; d && (e = readdir(d));) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            if (unlinkat(r->dirfd, e->d_name, 0) != 0 && errno == EISDIR)
                unlinkat(r->dirfd, e->d_name, AT_REMOVEDIR);
        }
        if (d) closedir(d);
        close(r->dirfd);
        r->dirfd = -1;
    }
    rmdir(r->dir);
    r->dir[0] = 0;
}

/* ---- the child ---- */

/* PATH..XDG_CACHE_HOME as cpgo has them (the first of duplicates), then the forced ones;
 * the strings are borrowed from environ. */
static void child_env(const char **envp)
{
    size_t n = 0;
    for (size_t k = 0; k < sizeof env_kept / sizeof *env_kept; k++) {
        size_t kl = strlen(env_kept[k]);
        for (char **e = environ; e && *e; e++)
            if (!strncmp(*e, env_kept[k], kl) && (*e)[kl] == '=') {
                envp[n++] = *e;
                break;
            }
    }
    for (size_t k = 0; k < sizeof env_forced / sizeof *env_forced; k++)
        envp[n++] = env_forced[k];
    envp[n] = NULL;
}

static int spawn(struct run *r, struct cpgo_err *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return local_fail(err, "pipe", errno);
    /* only our end is non-blocking: the child's stdout must block when the pipe is full */
    if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return local_fail(err, "pipe", e);
    }
    r->pr = p[0];

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc) {
        close(p[1]);
        return local_fail(err, "spawn", rc);
    }
    if ((rc = posix_spawnattr_init(&attr))) {
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        return local_fail(err, "spawn", rc);
    }
    /* In order: into the private directory (no go.mod of the caller's), stdin from
     * /dev/null, stdout and stderr into the pipe, every other descriptor closed. */
    if (!(rc = posix_spawn_file_actions_addfchdir_np(&fa, r->dirfd)) &&
        !(rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) &&
        !(rc = posix_spawn_file_actions_adddup2(&fa, p[1], 1)) &&
        !(rc = posix_spawn_file_actions_adddup2(&fa, p[1], 2)) &&
        !(rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) &&
        !(rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                   POSIX_SPAWN_SETSIGDEF)) &&
        !(rc = posix_spawnattr_setpgroup(&attr, 0)) &&
        !(rc = posix_spawnattr_setsigmask(&attr, &none)))
        rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (!rc) {
        char *argv[] = {"go", "tool", "preprofile", "-i", r->in, "-o", r->out_path, NULL};
        const char *envp[ENV_SLOTS];
        child_env(envp);
        /* the path search uses cpgo's PATH; the child gets the same PATH in envp */
        rc = posix_spawnp(&r->pid, "go", &fa, &attr, argv, (char *const *)envp);
        if (rc) r->pid = 0;
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(p[1]);
    if (rc == ENOENT)
        return cpgo_err_set_class(err, CPGO_CLASS_CONFIG, CPGO_E_EMPTY, "go not found on PATH");
    if (rc) return local_fail(err, "cannot run go", rc);
    return 0;
}

/* Reads what the pipe holds now: the first CPGO_GOCHECK_OUTPUT_MAX bytes are kept, the
 * rest is read and dropped so the child never blocks on a full pipe. */
static void drain(struct run *r)
{
    char scratch[4096];
    while (!r->eof) {
        size_t room = sizeof r->out - r->outlen;
        char *dst = room ? r->out + r->outlen : scratch;
        ssize_t n = read(r->pr, dst, room ? room : sizeof scratch);
        if (n > 0) {
            if (room) r->outlen += (size_t)n;
        } else if (n == 0) {
            r->eof = 1;
        } else if (errno != EINTR) {
            return; /* EAGAIN: nothing more now */
        }
    }
}

/* 1 when the child has exited (not reaped: WNOWAIT). */
static int has_exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int rc;
    do
        rc = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
    while (rc != 0 && errno == EINTR);
    return rc == 0 && si.si_pid == pid;
}

/* Reads output until the child exits or the deadline; then kills the group and reaps. */
static void wait_child(struct run *r, int64_t deadline)
{
    for (;;) {
        drain(r);
        if (has_exited(r->pid)) break;
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            r->timed_out = 1;
            break;
        }
        struct pollfd pf = {.fd = r->eof ? -1 : r->pr, .events = POLLIN};
        poll(&pf, 1, (int)(left < SLICE_MS ? left : SLICE_MS));
    }
    kill(-r->pid, SIGKILL); /* the leader is not reaped yet: the group id is still ours */
    int st = 0;
    while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR) {
    }
    r->status = st;
    r->pid = 0;
    drain(r); /* what was written before the end */
}

/* ---- the verdict ---- */

/* The first lines of the child's output, trimmed, control bytes replaced, joined by "; ". */
static void message(const struct run *r, char *buf, size_t cap)
{
    size_t n = 0, lines = 0;
    buf[0] = 0;
    for (size_t i = 0; i < r->outlen && lines < MESSAGE_LINES;) {
        size_t e = i;
        while (e < r->outlen && r->out[e] != '\n')
            e++;
        size_t a = i, b = e;
        while (a < b && (r->out[a] == ' ' || r->out[a] == '\t' || r->out[a] == '\r'))
            a++;
        while (b > a && (r->out[b - 1] == ' ' || r->out[b - 1] == '\t' || r->out[b - 1] == '\r'))
            b--;
        i = e + 1;
        if (a == b) continue;
        if (lines++ && n + 6 < cap) {
            memcpy(buf + n, "; ", 2);
            n += 2;
        }
        for (size_t k = a; k < b; k++) {
            if (n + 4 >= cap) { /* cut: room for "..." and the NUL */
                memcpy(buf + n, "...", 3);
                buf[n + 3] = 0;
                return;
            }
            unsigned char ch = (unsigned char)r->out[k];
            buf[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
        }
    }
    buf[n] = 0;
}

/* 1 when a line of the output starts with the tool's prefix: preprofile ran and refused. */
static int tool_spoke(const struct run *r)
{
    size_t pl = strlen(TOOL_PREFIX);
    for (size_t i = 0; i < r->outlen; i++)
        if ((i == 0 || r->out[i - 1] == '\n') && r->outlen - i >= pl &&
            !memcmp(r->out + i, TOOL_PREFIX, pl))
            return 1;
    return 0;
}

/* After exit 0: the output is "GO PREPROFILE V1\n" and one entry (three lines) per call
 * edge; a header alone means Go found no edge and would ignore the profile. */
static int check_output(struct run *r, struct cpgo_err *err)
{
    int fd = openat(r->dirfd, OUT_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return cpgo_err_set_class(err, CPGO_CLASS_LOCAL, CPGO_E_IO,
                                  "go tool preprofile exited 0 but wrote no output: %s",
                                  strerror(errno));
    char head[256];
    size_t n = 0;
    while (n < sizeof head) {
        ssize_t got = read(fd, head + n, sizeof head - n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        n += (size_t)got;
    }
    close(fd);
    const char *nl = memchr(head, '\n', n);
    if (!nl || (size_t)(nl - head) + 1 == n)
        return cpgo_err_set_class(err, CPGO_CLASS_CONTENT, CPGO_E_INPUT,
                                  "go tool preprofile finds no call edge in the profile: Go's "
                                  "PGO would ignore it");
    return 0;
}

static int verdict(struct run *r, int64_t timeout_ms, struct cpgo_err *err)
{
    char msg[MESSAGE_MAX];
    message(r, msg, sizeof msg);
    if (r->timed_out)
        return cpgo_err_set_class(err, CPGO_CLASS_TIMEOUT, CPGO_E_IO,
                                  "go tool preprofile did not finish within %lld ms: killed",
                                  (long long)timeout_ms);
    if (WIFSIGNALED(r->status))
        return cpgo_err_set_class(err, CPGO_CLASS_LOCAL, CPGO_E_IO,
                                  "go tool preprofile was killed by signal %d%s%s",
                                  WTERMSIG(r->status), msg[0] ? ": " : "", msg);
    int code = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
    if (code == 0) return check_output(r, err);
    if (tool_spoke(r))
        return cpgo_err_set_class(err, CPGO_CLASS_CONTENT, CPGO_E_INPUT,
                                  "go tool preprofile rejects the profile: %s", msg);
    return cpgo_err_set_class(err, CPGO_CLASS_CONFIG, CPGO_E_USAGE,
                              "go tool preprofile failed (exit status %d)%s%s", code,
                              msg[0] ? ": " : "", msg);
}

int cpgo_gocheck_preprofile(const void *data, size_t len, int64_t timeout_ms, struct cpgo_err *err)
{
    if (timeout_ms <= 0)
        return cpgo_err_set(err, CPGO_E_USAGE, "go tool preprofile: the timeout must be positive");
    if (!data && len) return cpgo_err_set(err, CPGO_E_USAGE, "go tool preprofile: no profile");
    int64_t deadline = now_ms() + timeout_ms;
    struct run *r = calloc(1, sizeof *r); /* ~8 KiB: off a pool thread's stack */
    if (!r) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    r->dirfd = -1;
    r->pr = -1;
    int rc = make_dir(r, err);
    if (!rc) rc = write_input(r, data ? data : "", len, err);
    if (!rc) rc = spawn(r, err);
    if (!rc) {
        wait_child(r, deadline);
        rc = verdict(r, timeout_ms, err);
    }
    if (r->pr >= 0) close(r->pr);
    remove_dir(r);
    free(r);
    return rc;
}
