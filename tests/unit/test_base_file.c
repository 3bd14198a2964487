/* Unit tests for base/file: no symlink followed, no special file opened or blocked on,
 * whole-file reads under a ceiling, atomic writes, and the fault hook. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/file.h"
#include "check.h"

static char dir[64];

static void test_refusals(int dfd)
{
    struct cpgo_err err;
    /* a regular file: fine */
    CHECK_EQ_INT(cpgo_file_write_at(dfd, "f", "hello", 5, 0600, &err), 0);
    int fd = cpgo_file_open(dfd, "f", O_RDONLY, 0, &err);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK_EQ_INT(fcntl(fd, F_GETFL) & O_NONBLOCK, 0); /* cleared again */
        close(fd);
    }
    /* a symlink to it: refused, not followed */
    CHECK_EQ_INT(symlinkat("f", dfd, "link"), 0);
    CHECK(cpgo_file_open(dfd, "link", O_RDONLY, 0, &err) < 0);
    CHECK_STR_CONTAINS(err.text, "symlink");
    CHECK(cpgo_file_open(dfd, "link", O_WRONLY | O_CREAT, 0600, &err) < 0);
    /* a FIFO, for reading and writing: refused at once, never blocking */
    CHECK_EQ_INT(mkfifoat(dfd, "fifo", 0600), 0);
    CHECK(cpgo_file_open(dfd, "fifo", O_RDONLY, 0, &err) < 0);
    CHECK_STR_CONTAINS(err.text, "FIFO");
    CHECK(cpgo_file_open(dfd, "fifo", O_WRONLY, 0, &err) < 0);
    CHECK_STR_CONTAINS(err.text, "FIFO");
    unsigned char *d;
    size_t n;
    CHECK(cpgo_file_read_at(dfd, "fifo", 100, &d, &n, &err) < 0);
    /* a device */
    CHECK(cpgo_file_open(AT_FDCWD, "/dev/null", O_RDONLY, 0, &err) < 0);
    CHECK_STR_CONTAINS(err.text, "device");
    /* a socket */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/sock", dir);
    CHECK_EQ_INT(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK(cpgo_file_open(dfd, "sock", O_RDONLY, 0, &err) < 0);
    close(s);
    /* absent */
    CHECK_EQ_INT(cpgo_file_open(dfd, "absent", O_RDONLY, 0, &err), CPGO_E_EMPTY);
    /* writing over a symlink replaces the link, the target is untouched */
    CHECK_EQ_INT(cpgo_file_write_at(dfd, "link", "other", 5, 0600, &err), 0);
    CHECK_EQ_INT(cpgo_file_read_at(dfd, "f", 100, &d, &n, &err), 0);
    CHECK_EQ_INT(n, 5);
    CHECK(!memcmp(d, "hello", 5));
    free(d);
    struct stat st;
    CHECK_EQ_INT(fstatat(dfd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
    CHECK(S_ISREG(st.st_mode));
    /* the ceiling */
    CHECK_EQ_INT(cpgo_file_read_at(dfd, "f", 4, &d, &n, &err), CPGO_E_LIMIT);
}

static void test_mkdirs(int dfd)
{
    struct cpgo_err err;
    int fd = cpgo_file_mkdirs_at(dfd, "a/b/c", 0700, &err);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    /* a symlinked component is refused */
    CHECK_EQ_INT(mkdirat(dfd, "victim", 0700), 0);
    CHECK_EQ_INT(symlinkat("victim", dfd, "a/ln"), 0);
    CHECK(cpgo_file_mkdirs_at(dfd, "a/ln/x", 0700, &err) < 0);
    CHECK_STR_CONTAINS(err.text, "symlink");
    CHECK_EQ_INT(faccessat(dfd, "victim/x", F_OK, 0), -1);
    CHECK(cpgo_file_mkdirs_at(dfd, "a/../b", 0700, &err) < 0);
}

/* cpgo_file_read_fd: a pipe (standard input for `cpgo merge -`) and a file are read to
 * their end; exactly `max` bytes fit, one more is refused, for a file and a pipe alike. */
static void test_read_fd(int dfd)
{
    struct cpgo_err err;
    unsigned char *d = NULL;
    size_t n = 0;
    CHECK_EQ_INT(cpgo_file_write_at(dfd, "exact", "0123456789", 10, 0600, &err), 0);
    CHECK_EQ_INT(cpgo_file_read_at(dfd, "exact", 10, &d, &n, &err), 0);
    CHECK_EQ_INT((int)n, 10);
    if (d) CHECK_STR_CONTAINS((char *)d, "0123456789");
    free(d);
    CHECK_EQ_INT(cpgo_file_read_at(dfd, "exact", 9, &d, &n, &err), CPGO_E_LIMIT);
    CHECK_STR_CONTAINS(err.text, "exact");

    for (int over = 0; over <= 1; over++) {
        int p[2];
        CHECK_EQ_INT(pipe(p), 0);
        /* more than one read's worth, so the buffer grows from its first guess */
        size_t want = 10000 + (size_t)over;
        char *src = malloc(want);
        memset(src, 'x', want);
        CHECK_EQ_INT((int)write(p[1], src, want), (int)want);
        close(p[1]);
        int rc = cpgo_file_read_fd(p[0], "<pipe>", 10000, &d, &n, &err);
        close(p[0]);
        free(src);
        if (over) {
            CHECK_EQ_INT(rc, CPGO_E_LIMIT);
            CHECK_STR_CONTAINS(err.text, "<pipe> is over the limit of 10000 bytes");
        } else {
            CHECK_EQ_INT(rc, 0);
            CHECK_EQ_INT((int)n, 10000);
            if (d) CHECK_EQ_INT(d[n], 0);
            free(d);
        }
    }
}

/* A name with a directory part (`cpgo merge -o out/merged.pprof`) is written atomically
 * there, and no temp file is left beside it. */
static void test_write_subdir(int dfd)
{
    struct cpgo_err err;
    CHECK_EQ_INT(mkdirat(dfd, "sub", 0700), 0);
    char path[200];
    snprintf(path, sizeof path, "%s/sub/out", dir);
    CHECK_EQ_INT(cpgo_file_write_at(AT_FDCWD, path, "abc", 3, 0644, &err), 0);
    unsigned char *d = NULL;
    size_t n = 0;
    CHECK_EQ_INT(cpgo_file_read_at(dfd, "sub/out", 100, &d, &n, &err), 0);
    CHECK_EQ_INT((int)n, 3);
    free(d);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cpgo-test-file-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    test_refusals(dfd);
    test_mkdirs(dfd);
    test_read_fd(dfd);
    test_write_subdir(dfd);
    close(dfd);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return 1;
    CHECK_DONE();
}
