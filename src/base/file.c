/*
 * file.c - link-safe, block-safe opens; see file.h for why.
 */
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_of(mode_t m)
{
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISLNK(m)) return "a symlink";
    return "not a regular file";
}

#if defined(__SANITIZE_THREAD__)
#define CPGO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CPGO_TSAN 1
#endif
#endif

int cpgo_file_openat(int dirfd, const char *name, int flags, mode_t mode)
{
#ifdef CPGO_TSAN
    char p[4200];
    if (dirfd != AT_FDCWD && name[0] != '/') {
        int n = snprintf(p, sizeof p, "/proc/self/fd/%d/%s", dirfd, name);
        if (n < 0 || (size_t)n >= sizeof p) {
            errno = ENAMETOOLONG;
            return -1;
        }
        name = p;
    }
    return open(name, flags, mode);
#else
    return openat(dirfd, name, flags, mode);
#endif
}

int cpgo_file_open(int dirfd, const char *name, int flags, mode_t mode, struct cpgo_err *err)
{
    int fd =
        cpgo_file_openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && !(flags & O_CREAT))
            return cpgo_err_set(err, CPGO_E_EMPTY, "%s does not exist", name);
        if (e == ELOOP)
            return cpgo_err_set(err, CPGO_E_IO, "%s is a symlink: refused (not followed)", name);
        if (e == ENXIO) /* O_WRONLY|O_NONBLOCK on a FIFO without a reader */
            return cpgo_err_set(err, CPGO_E_IO, "%s is a FIFO: refused, not a regular file", name);
        return cpgo_err_set(err, CPGO_E_IO, "cannot open %s: %s", name, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return cpgo_err_set(err, CPGO_E_IO, "cannot stat %s: %s", name, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cpgo_err_set(err, CPGO_E_IO, "%s is %s: refused, not a regular file", name,
                            kind_of(st.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int cpgo_file_open_named(const char *path, struct cpgo_err *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) return cpgo_err_set(err, CPGO_E_EMPTY, "%s does not exist", path);
        return cpgo_err_set(err, CPGO_E_IO, "cannot open %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return cpgo_err_set(err, CPGO_E_IO, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cpgo_err_set(err, CPGO_E_IO, "%s is %s: refused, not a regular file", path,
                            kind_of(st.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int cpgo_file_opendir(int dirfd, const char *name, struct cpgo_err *err)
{
    int fd = cpgo_file_openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) return cpgo_err_set(err, CPGO_E_EMPTY, "%s does not exist", name);
        struct stat st;
        if (e == ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
            e = ELOOP; /* O_DIRECTORY is checked first: a symlink reports ENOTDIR */
        if (e == ELOOP)
            return cpgo_err_set(err, CPGO_E_IO, "%s is a symlink: refused (not followed)", name);
        if (e == ENOTDIR) return cpgo_err_set(err, CPGO_E_IO, "%s is not a directory", name);
        return cpgo_err_set(err, CPGO_E_IO, "cannot open directory %s: %s", name, strerror(e));
    }
    return fd;
}

int cpgo_file_mkdirs_at(int dirfd, const char *rel, mode_t mode, struct cpgo_err *err)
{
    size_t n = strlen(rel);
    char *p = malloc(n + 1);
    if (!p) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    memcpy(p, rel, n + 1);
    int cur;
    char *s = p;
    if (*s == '/') {
        if (dirfd != AT_FDCWD) {
            free(p);
            return cpgo_err_set(err, CPGO_E_USAGE, "%s: absolute path below a directory", rel);
        }
        cur = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        while (*s == '/')
            s++;
    } else {
        cur = dirfd == AT_FDCWD ? open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                                : fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    }
    if (cur < 0) {
        int e = errno;
        free(p);
        return cpgo_err_set(err, CPGO_E_IO, "cannot open a directory: %s", strerror(e));
    }
    while (*s) {
        char *slash = strchr(s, '/');
        if (slash) *slash = '\0';
        if (*s && strcmp(s, ".")) {
            if (!strcmp(s, "..")) {
                close(cur);
                int rc = cpgo_err_set(err, CPGO_E_USAGE, "%s: \"..\" is not allowed", rel);
                free(p);
                return rc;
            }
            if (mkdirat(cur, s, mode) && errno != EEXIST) {
                int e = errno;
                close(cur);
                int rc =
                    cpgo_err_set(err, CPGO_E_IO, "cannot create %s in %s: %s", s, rel, strerror(e));
                free(p);
                return rc;
            }
            int next = cpgo_file_opendir(cur, s, err);
            close(cur);
            if (next < 0) {
                cpgo_err_prefix(err, "%s", rel);
                free(p);
                return next;
            }
            cur = next;
        }
        if (!slash) break;
        s = slash + 1;
    }
    free(p);
    return cur;
}

int cpgo_file_read_fd(int fd, const char *name, size_t max, unsigned char **data, size_t *len,
                      struct cpgo_err *err)
{
    *data = NULL;
    *len = 0;
    struct stat st;
    size_t cap = 4096;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > max)
            return cpgo_err_set(err, CPGO_E_LIMIT, "%s is %lld bytes, over the limit of %zu", name,
                                (long long)st.st_size, max);
        cap = (size_t)st.st_size + 1; /* one read, one allocation, in the common case */
    } else if (max < cap) {
        cap = max + 1;
    }
    /* room for max bytes and one more: reading that one is how a pipe shows it is too long,
     * and a file of exactly max bytes must still fit */
    size_t hard = max < SIZE_MAX - 2 ? max + 2 : SIZE_MAX;
    size_t n = 0;
    unsigned char *b = malloc(cap);
    if (!b) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory reading %s", name);
    for (;;) {
        if (n + 1 >= cap) { /* a pipe, or the file grew while we read it */
            if (cap >= hard) {
                free(b);
                return cpgo_err_set(err, CPGO_E_LIMIT, "%s is over the limit of %zu bytes", name,
                                    max);
            }
            size_t nc = cap > hard / 2 ? hard : cap * 2;
            unsigned char *nb = realloc(b, nc);
            if (!nb) {
                free(b);
                return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory reading %s", name);
            }
            b = nb;
            cap = nc;
        }
        ssize_t r = read(fd, b + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(b);
            return cpgo_err_set(err, CPGO_E_IO, "cannot read %s: %s", name, strerror(e));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if (n > max) {
        free(b);
        return cpgo_err_set(err, CPGO_E_LIMIT, "%s is over the limit of %zu bytes", name, max);
    }
    b[n] = '\0';
    *data = b;
    *len = n;
    return 0;
}

int cpgo_file_read_at(int dirfd, const char *name, size_t max, unsigned char **data, size_t *len,
                      struct cpgo_err *err)
{
    *data = NULL;
    *len = 0;
    int fd = cpgo_file_open(dirfd, name, O_RDONLY, 0, err);
    if (fd < 0) return fd;
    int rc = cpgo_file_read_fd(fd, name, max, data, len, err);
    close(fd);
    return rc;
}

static atomic_uint tmp_seq;

int cpgo_file_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                       struct cpgo_err *err)
{
    char tmp[4096];
    int k = snprintf(tmp, sizeof tmp, "%s.tmp-%ld-%u", name, (long)getpid(),
                     atomic_fetch_add(&tmp_seq, 1));
    if (k < 0 || (size_t)k >= sizeof tmp)
        return cpgo_err_set(err, CPGO_E_USAGE, "path too long: %s", name);
    int fd = cpgo_file_open(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, mode, err);
    if (fd < 0) return fd;
    const unsigned char *p = data;
    size_t left = len;
    int fe = 0;
    while (left > 0) {
        if ((fe = cpgo_file_fault())) break;
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            fe = errno;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!fe && (fe = cpgo_file_fault()) == 0 && fsync(fd)) fe = errno;
    if (close(fd) && !fe) fe = errno;
    if (!fe && (fe = cpgo_file_fault()) == 0 && renameat(dirfd, tmp, dirfd, name)) fe = errno;
    if (fe) {
        unlinkat(dirfd, tmp, 0);
        return cpgo_err_set(err, CPGO_E_IO, "cannot write %s: %s", name, strerror(fe));
    }
    /* The rename is durable only once the directory that holds `name` is synced: dirfd
     * itself, or the directory part of name ("out/a.pprof" relative to dirfd or the cwd). */
    const char *slash = strrchr(name, '/');
    int dfd = dirfd;
    if (slash) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", slash == name ? 1 : (int)(slash - name), name);
        dfd = cpgo_file_openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    } else if (dirfd == AT_FDCWD) {
        dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (dfd >= 0) {
        int se = (fe = cpgo_file_fault()) ? fe : (fsync(dfd) ? errno : 0);
        if (dfd != dirfd) close(dfd);
        if (se)
            return cpgo_err_set(err, CPGO_E_IO, "cannot sync the directory of %s: %s", name,
                                strerror(se));
    }
    return 0;
}

/* The fault hook: "N:ERRNO" in CPGO_TEST_FAIL_WRITE fails the Nth asked step. One counter
 * per process, so a test can walk N = 1, 2, ... over a whole run and hit every step. */
static atomic_int fault_n = -1, fault_errno, fault_count;

int cpgo_file_fault(void)
{
    int n = atomic_load(&fault_n);
    if (n < 0) {
        const char *v = getenv("CPGO_TEST_FAIL_WRITE");
        int nn = 0, ee = 0;
        if (!v || sscanf(v, "%d:%d", &nn, &ee) != 2 || nn <= 0 || ee <= 0) nn = 0;
        atomic_store(&fault_errno, ee);
        atomic_store(&fault_n, nn);
        n = nn;
    }
    if (n == 0) return 0;
    int c = atomic_fetch_add(&fault_count, 1) + 1;
    return c == n ? atomic_load(&fault_errno) : 0;
}

void cpgo_file_fault_set(int n, int e)
{
    atomic_store(&fault_errno, e);
    atomic_store(&fault_count, 0);
    atomic_store(&fault_n, n > 0 ? n : 0);
}
