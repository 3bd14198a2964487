/* statedir.c - the state directory as a whole: trust checks, format, the owner's lock,
 * and path-level file helpers other modules use. See state.h. */
#include "state/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/log.h"

int cpgo_state_mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, mode) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) && errno != EEXIST) return -1;
    return 0;
}

int cpgo_state_write_file(const char *path, const void *data, size_t len, struct cpgo_err *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *name = path;
    int dfd = AT_FDCWD;
    if (slash) {
        name = path + (slash - dir) + 1;
        if (slash == dir)
            slash[1] = 0;
        else
            *slash = 0;
        if (cpgo_state_mkdir_p(dir, 0755))
            return cpgo_err_set(err, CPGO_E_IO, "cannot create directory %s: %s", dir,
                                strerror(errno));
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return cpgo_err_set(err, CPGO_E_IO, "cannot open directory %s: %s", dir,
                                strerror(errno));
    }
    int rc = cpgo_file_write_at(dfd, name, data, len, 0644, err);
    if (dfd != AT_FDCWD) close(dfd);
    if (rc) {
        /* name the whole path, not only the file name */
        struct cpgo_err e = *err;
        cpgo_err_set(err, rc, "%s: %s", path, e.text);
    }
    return rc;
}

int cpgo_state_read_file(const char *path, size_t max, unsigned char **data, size_t *len,
                         struct cpgo_err *err)
{
    return cpgo_file_read_at(AT_FDCWD, path, max, data, len, err);
}

/* ---- the state directory: trust, format, lock --------------------------------------- */

#define STATE_FORMAT 2

/* Is the directory safe to keep accepted data in? Owned by us (or root), writable by nobody
 * else:
 * not by others, and by its group only when that is one of ours (a Kubernetes fsGroup
 * volume is group-writable by the pod's group, and the pod runs in that group). */
static int check_trust(const char *path, const struct stat *st, struct cpgo_err *err)
{
    /* root may own it (a volume's root, as Kubernetes mounts it; ssh accepts root-owned
     * key directories for the same reason): root can change anything anyway */
    if (st->st_uid != geteuid() && st->st_uid != 0)
        return cpgo_err_set(err, CPGO_E_USAGE,
                            "state directory %s is owned by uid %u, not by cpgo's user (uid %u) "
                            "or root: refused (another user could change what cpgo publishes)",
                            path, (unsigned)st->st_uid, (unsigned)geteuid());
    if (st->st_mode & S_IWOTH)
        return cpgo_err_set(err, CPGO_E_USAGE,
                            "state directory %s is world-writable (mode %03o): refused; "
                            "chmod o-w it",
                            path, (unsigned)(st->st_mode & 0777));
    if (st->st_mode & S_IWGRP) {
        int ours = st->st_gid == getegid();
        gid_t groups[256];
        int n = getgroups(256, groups);
        for (int i = 0; i < n && !ours; i++)
            ours = groups[i] == st->st_gid;
        if (!ours)
            return cpgo_err_set(err, CPGO_E_USAGE,
                                "state directory %s is writable by group %u, which cpgo is not "
                                "in (mode %03o): refused; chmod g-w it",
                                path, (unsigned)st->st_gid, (unsigned)(st->st_mode & 0777));
    }
    return 0;
}

int cpgo_state_dir_prepare(const char *state_dir, int create, struct cpgo_err *err)
{
    struct stat st;
    if (stat(state_dir, &st)) {
        if (errno != ENOENT || !create)
            return cpgo_err_set(err, errno == ENOENT ? CPGO_E_EMPTY : CPGO_E_IO,
                                "state directory %s: %s", state_dir, strerror(errno));
        /* created private: the parents cpgo creates too */
        if (cpgo_state_mkdir_p(state_dir, 0700))
            return cpgo_err_set(err, CPGO_E_IO, "cannot create state directory %s: %s", state_dir,
                                strerror(errno));
        if (stat(state_dir, &st))
            return cpgo_err_set(err, CPGO_E_IO, "state directory %s: %s", state_dir,
                                strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return cpgo_err_set(err, CPGO_E_USAGE, "state directory %s is not a directory", state_dir);
    int rc = check_trust(state_dir, &st, err);
    if (rc) return rc;
    int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return cpgo_err_set(err, CPGO_E_IO, "cannot open state directory %s: %s", state_dir,
                            strerror(errno));
    /* the format: absent = the first layout (cpgo up to 0.1: targets/ only), upgraded in
     * place (format 2 reads every file format 1 wrote; it adds problems.json and the lock) */
    unsigned char *data = NULL;
    size_t len;
    int format = 0;
    rc = cpgo_file_read_at(dfd, "format.json", 4096, &data, &len, err);
    if (rc == 0) {
        json_error_t je;
        json_t *o = json_loadb((const char *)data, len, 0, &je);
        json_t *v = json_object_get(o, "format");
        format = json_is_integer(v) ? (int)json_integer_value(v) : -1;
        json_decref(o);
        free(data);
        if (format <= 0) {
            close(dfd);
            return cpgo_err_set(err, CPGO_E_USAGE,
                                "%s/format.json is damaged: cannot tell the state format; "
                                "refusing to guess",
                                state_dir);
        }
        if (format > STATE_FORMAT) {
            close(dfd);
            return cpgo_err_set(err, CPGO_E_USAGE,
                                "state directory %s has format %d, written by a newer cpgo "
                                "(this one reads up to %d): refused",
                                state_dir, format, STATE_FORMAT);
        }
    } else if (rc != CPGO_E_EMPTY) {
        close(dfd);
        return rc;
    }
    rc = 0;
    if (create && format < STATE_FORMAT) {
        struct stat ts;
        int had = fstatat(dfd, "targets", &ts, AT_SYMLINK_NOFOLLOW) == 0;
        char buf[64];
        snprintf(buf, sizeof buf, "{\"format\":%d}\n", STATE_FORMAT);
        rc = cpgo_file_write_at(dfd, "format.json", buf, strlen(buf), 0600, err);
        if (rc)
            cpgo_err_prefix(err, "%s", state_dir);
        else if (had) {
            char f[8];
            snprintf(f, sizeof f, "%d", format ? format : 1);
            cpgo_log(CPGO_LVL_INFO, "state directory upgraded in place", "state_dir", state_dir,
                     CPGO_LOG_INT("from_format"), f, CPGO_LOG_INT("to_format"), "2", NULL);
        }
    }
    if (!rc && create && mkdirat(dfd, "targets", 0700) && errno != EEXIST)
        rc = cpgo_err_set(err, CPGO_E_IO, "cannot create %s/targets: %s", state_dir,
                          strerror(errno));
    close(dfd);
    return rc;
}

int cpgo_state_lock(const char *state_dir, int *lock_fd, struct cpgo_err *err)
{
    *lock_fd = -1;
    int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return cpgo_err_set(err, CPGO_E_IO, "cannot open state directory %s: %s", state_dir,
                            strerror(errno));
    int fd = cpgo_file_open(dfd, "lock", O_RDWR | O_CREAT, 0600, err);
    close(dfd);
    if (fd < 0) {
        cpgo_err_prefix(err, "%s", state_dir);
        return fd;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        close(fd);
        if (n > 0) pid[n] = 0;
        pid[strcspn(pid, "\n")] = 0;
        if (e == EWOULDBLOCK)
            return cpgo_err_set(err, CPGO_E_USAGE,
                                "state directory %s is in use by another cpgo (pid %s): one "
                                "daemon per state directory (each replica and each shard needs "
                                "a state_dir of its own)",
                                state_dir, pid[0] ? pid : "unknown");
        return cpgo_err_set(err, CPGO_E_IO, "cannot lock %s/lock: %s", state_dir, strerror(e));
    }
    /* the holder's pid, for the next one's message; a file left by kill -9 is harmless:
     * the lock died with its process */
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n) {
    }
    *lock_fd = fd;
    return 0;
}

void cpgo_state_unlock(int lock_fd)
{
    if (lock_fd >= 0) close(lock_fd);
}

/* ---- the dry run's copy ----------------------------------------------------------------- */

/* Copies the regular file `name` of sfd into dfd (created 0600, never replacing). */
static int copy_file(int sfd, int dfd, const char *name, struct cpgo_err *err)
{
    struct cpgo_err e;
    int in = cpgo_file_open(sfd, name, O_RDONLY, 0, &e);
    if (in < 0) return 0; /* a link, FIFO or what vanished meanwhile: not state to copy */
    int out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
        int en = errno;
        close(in);
        return cpgo_err_set(err, CPGO_E_IO, "--dry-run: cannot create the copy of %s: %s", name,
                            strerror(en));
    }
    char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t o = 0; o < n;) {
            ssize_t w = write(out, buf + o, (size_t)(n - o));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                rc = cpgo_err_set(err, CPGO_E_IO, "--dry-run: cannot copy %s: %s", name,
                                  strerror(errno));
                break;
            }
            o += w;
        }
        if (rc) break;
    }
    close(in);
    close(out);
    return rc;
}

int cpgo_state_dir_copy(const char *src, const char *dst, struct cpgo_err *err)
{
    int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0)
        return errno == ENOENT
                   ? 0
                   : cpgo_err_set(err, CPGO_E_IO, "cannot open %s: %s", src, strerror(errno));
    int dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        close(sfd);
        return cpgo_err_set(err, CPGO_E_IO, "cannot open %s: %s", dst, strerror(errno));
    }
    int rc = copy_file(sfd, dfd, "format.json", err);
    int st = rc ? -1 : cpgo_file_opendir(sfd, "targets", &(struct cpgo_err){0});
    if (st >= 0 && mkdirat(dfd, "targets", 0700) && errno != EEXIST)
        rc = cpgo_err_set(err, CPGO_E_IO, "cannot create %s/targets: %s", dst, strerror(errno));
    int dt = st >= 0 && !rc ? cpgo_file_opendir(dfd, "targets", err) : -1;
    DIR *d = dt >= 0 ? fdopendir(dup(st)) : NULL;
    struct dirent *e;
    while (!rc && d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        int s1 = cpgo_file_opendir(st, e->d_name, &(struct cpgo_err){0});
        if (s1 < 0) continue; /* not a directory (or a link): not a target's state */
        int d1 = -1;
        if (mkdirat(dt, e->d_name, 0700) == 0) d1 = cpgo_file_opendir(dt, e->d_name, err);
        if (d1 < 0) {
            if (!rc)
                rc = cpgo_err_set(err, CPGO_E_IO, "cannot create %s/targets/%s: %s", dst, e->d_name,
                                  strerror(errno));
            close(s1);
            break;
        }
        DIR *d2 = fdopendir(dup(s1));
        struct dirent *f;
        while (!rc && d2 && (f = readdir(d2)))
            if (f->d_name[0] != '.') rc = copy_file(s1, d1, f->d_name, err);
        if (d2) closedir(d2);
        close(s1);
        close(d1);
    }
    if (d) closedir(d);
    if (dt >= 0) close(dt);
    if (st >= 0) close(st);
    close(sfd);
    close(dfd);
    return rc;
}
