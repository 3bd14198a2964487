/*
 * test_publish_gocheck.c - cpgo_gocheck_preprofile with the real Go toolchain (skipped,
 * with a message, when go is not on PATH) and with fake `go` scripts this test writes.
 *
 * Real go: a fixture profile passes; a profile without start lines, one without a usable
 * sample type and garbage fail with Go's message; a profile without samples (Go accepts
 * it and ignores it) fails as "no call edge". Fake go: what the child gets (arguments,
 * GOTOOLCHAIN=local, GOFLAGS and GOENV, no other variable, stdin /dev/null, no descriptor
 * of ours, the private directory as cwd); a flood of output (read and dropped: no hang);
 * a child killed by a signal; a go that sleeps past the deadline, with a background job:
 * the whole group is killed within the deadline and nothing is left running. No go on
 * PATH gives the clear error. After every call: the same descriptors open as before, and
 * nothing left in TMPDIR.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "pbuild.h"
#include "publish/gocheck.h"

static char root[512], tmp[600], fake[600], empty[600], real_path[4200];

static const char *src_dir(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s", __FILE__); /* absolute: CMake compiles absolute paths */
    char *slash = strrchr(path, '/');
    if (slash) *slash = 0;
    return path;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return (size_t)-1;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* Open descriptors of this process (the count's own directory descriptor included, the
 * same every time). */
static size_t count_fds(void)
{
    return count_dir("/proc/self/fd");
}

/* One call, checking that it leaves no descriptor and no temporary file behind. */
static int check_call(const void *data, size_t len, int64_t timeout_ms, struct cpgo_err *err)
{
    size_t fds = count_fds();
    memset(err, 0, sizeof *err);
    int rc = cpgo_gocheck_preprofile(data, len, timeout_ms, err);
    CHECK_EQ_INT(count_fds(), fds);
    CHECK_EQ_INT(count_dir(tmp), 0);
    return rc;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    return chmod(path, mode);
}

/* Writes the fake go script (a shell script) into `fake`. */
static void fake_go(const char *body)
{
    char path[700], text[4096];
    snprintf(path, sizeof path, "%s/go", fake);
    snprintf(text, sizeof text, "#!/bin/sh\n%s\n", body);
    CHECK_EQ_INT(write_file(path, text, 0755), 0);
}

/* A small CPU profile: two functions, one call edge. */
static int build_profile(struct cpgo_buf *out, const char *type, const char *unit,
                         int64_t start_line, int with_sample)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, type, unit);
    pbuild_period(b, "cpu", "nanoseconds", 10000000);
    pbuild_mapping(b, 1, 0x400000, 0x800000, 0, "/app/server", "");
    pbuild_function(b, 1, "main.main", "/app/main.go", start_line);
    pbuild_function(b, 2, "main.work", "/app/work.go", start_line);
    uint64_t f1 = 1, f2 = 2;
    int64_t l1 = 20, l2 = 40;
    pbuild_location(b, 1, 1, 0x401000, 1, &f2, &l2);
    pbuild_location(b, 2, 1, 0x402000, 1, &f1, &l1);
    if (with_sample) {
        uint64_t stack[] = {1, 2};
        int64_t v = 7;
        pbuild_sample(b, 2, stack, 1, &v);
    }
    cpgo_buf_init(out, 0);
    int rc = pbuild_encode(b, 1, out);
    pbuild_free(b);
    return rc;
}

static int read_fixture(const char *rel, struct cpgo_buf *out)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/../%s", src_dir(), rel);
    cpgo_buf_init(out, 0);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        cpgo_buf_append(out, chunk, n);
    fclose(f);
    return 0;
}

/* ---- the real toolchain ---- */

static void real_go(void)
{
    setenv("PATH", real_path, 1);
    struct cpgo_err err;
    struct cpgo_buf p;

    /* a real Go CPU profile (gzipped, as Go writes it) passes */
    CHECK_EQ_INT(read_fixture("fixtures/state-v1/p.pb.gz", &p), 0);
    int rc = check_call(p.data, p.len, 60000, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "fixture: %s\n", err.text);
    cpgo_buf_free(&p);
    /* and the built one, with start lines */
    CHECK_EQ_INT(build_profile(&p, "samples", "count", 10, 1), 0);
    rc = check_call(p.data, p.len, 60000, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "built: %s\n", err.text);
    cpgo_buf_free(&p);

    /* no start lines: Go's message */
    CHECK_EQ_INT(build_profile(&p, "samples", "count", 0, 1), 0);
    rc = check_call(p.data, p.len, 60000, &err);
    CHECK_EQ_INT(rc, CPGO_E_INPUT);
    CHECK_EQ_INT(err.cls, CPGO_CLASS_CONTENT);
    CHECK_STR_CONTAINS(err.text, "go tool preprofile rejects the profile: preprofile: ");
    CHECK_STR_CONTAINS(err.text, "profile missing Function.start_line data");
    CHECK(!strchr(err.text, '\n'));
    cpgo_buf_free(&p);

    /* no samples/count nor cpu/nanoseconds */
    CHECK_EQ_INT(build_profile(&p, "alloc_space", "bytes", 10, 1), 0);
    rc = check_call(p.data, p.len, 60000, &err);
    CHECK_EQ_INT(rc, CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "rejects the profile");
    CHECK_STR_CONTAINS(err.text, "samples/count");
    cpgo_buf_free(&p);

    /* garbage */
    rc = check_call("this is not a profile", 21, 60000, &err);
    CHECK_EQ_INT(rc, CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "rejects the profile: preprofile: error parsing profile");

    /* well-formed, no sample: Go accepts it and ignores it */
    CHECK_EQ_INT(build_profile(&p, "samples", "count", 10, 0), 0);
    rc = check_call(p.data, p.len, 60000, &err);
    CHECK_EQ_INT(rc, CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "finds no call edge");
    cpgo_buf_free(&p);
    /* an empty file too */
    rc = check_call("", 0, 60000, &err);
    CHECK_EQ_INT(rc, CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "finds no call edge");
}

/* ---- fake go ---- */

static void no_go(void)
{
    setenv("PATH", empty, 1);
    struct cpgo_err err;
    int rc = check_call("x", 1, 10000, &err);
    CHECK_EQ_INT(rc, CPGO_E_EMPTY); /* no go: the one case a caller may skip the check */
    CHECK_EQ_INT(err.cls, CPGO_CLASS_CONFIG);
    CHECK(!strcmp(err.text, "go not found on PATH"));
    rc = check_call("x", 1, 0, &err);
    CHECK_EQ_INT(rc, CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "timeout must be positive");
}

/* What the child sees. */
static void child_view(void)
{
    char path[1400];
    snprintf(path, sizeof path, "%s:/usr/bin:/bin", fake);
    setenv("PATH", path, 1);
    setenv("CPGO_TEST_SECRET", "hunter2", 1);
    setenv("GOFLAGS", "-mod=vendor", 1);
    setenv("GOTOOLCHAIN", "go1.99.0", 1);
    /* a descriptor of ours without O_CLOEXEC: it must not reach the child */
    int fd = open("/dev/null", O_RDONLY);
    CHECK(fd >= 0 && dup2(fd, 50) == 50);
    close(fd);
    fake_go("echo \"tc=$GOTOOLCHAIN flags=[$GOFLAGS] goenv=$GOENV secret=[$CPGO_TEST_SECRET] "
            "stdin=$(readlink /proc/$$/fd/0) leak=$([ -e /proc/$$/fd/50 ] && echo yes || echo "
            "no) pgrp=$(read a b c d e f </proc/$$/stat; [ \"$e\" = $$ ] && echo 1 || echo 0) "
            "cwd=$(pwd)\"\n"
            "echo \"args=[$*]\"\n"
            "exit 3");
    struct cpgo_err err;
    int rc = check_call("profile", 7, 10000, &err);
    close(50);
    unsetenv("CPGO_TEST_SECRET");
    unsetenv("GOFLAGS");
    unsetenv("GOTOOLCHAIN");
    CHECK_EQ_INT(rc, CPGO_E_USAGE); /* go itself failed: not the profile's fault */
    CHECK_STR_CONTAINS(err.text, "go tool preprofile failed (exit status 3): ");
    CHECK_STR_CONTAINS(err.text, "tc=local flags=[] goenv=off secret=[] ");
    CHECK_STR_CONTAINS(err.text, "stdin=/dev/null leak=no pgrp=1 ");
    char want[800];
    snprintf(want, sizeof want, "cwd=%s/cpgo-gocheck-", tmp);
    CHECK_STR_CONTAINS(err.text, want);
    CHECK_STR_CONTAINS(err.text, "; args=[tool preprofile -i ");
    CHECK_STR_CONTAINS(err.text, "/candidate.pprof -o ");
    fprintf(stderr, "child view: %s\n", err.text);

    /* a line of the tool's: the profile is rejected */
    fake_go("echo 'go: note'; echo 'preprofile: bad profile' >&2; exit 1");
    rc = check_call("profile", 7, 10000, &err);
    CHECK_EQ_INT(rc, CPGO_E_INPUT);
    CHECK(!strcmp(err.text, "go tool preprofile rejects the profile: go: note; preprofile: bad "
                            "profile"));

    /* exit 0: the output decides */
    fake_go("printf 'GO PREPROFILE V1\\na\\nb\\n0 1\\n' >\"$6\"");
    CHECK_EQ_INT(check_call("profile", 7, 10000, &err), 0);
    fake_go("printf 'GO PREPROFILE V1\\n' >\"$6\"");
    CHECK_EQ_INT(check_call("profile", 7, 10000, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "no call edge");
    fake_go("exit 0");
    CHECK_EQ_INT(check_call("profile", 7, 10000, &err), CPGO_E_IO);
    CHECK_STR_CONTAINS(err.text, "wrote no output");
    /* the child leaves files of its own in the directory: removed too */
    fake_go("touch junk1 junk2; mkdir d; printf 'GO PREPROFILE V1\\na\\nb\\n0 1\\n' >\"$6\"");
    CHECK_EQ_INT(check_call("profile", 7, 10000, &err), 0);

    /* a flood of output: kept up to the ceiling, the rest drained, no hang */
    fake_go("head -c 3000000 /dev/zero | tr '\\0' 'x'; echo; exit 1");
    int64_t t0 = now_ms();
    rc = check_call("profile", 7, 60000, &err);
    CHECK_EQ_INT(rc, CPGO_E_USAGE);
    CHECK(now_ms() - t0 < 30000);
    CHECK_STR_CONTAINS(err.text, "failed (exit status 1): xxxxxxxx");
    CHECK_STR_CONTAINS(err.text, "...");
    CHECK(strlen(err.text) < 420); /* the prefix and at most 360 bytes of output */

    /* killed by a signal */
    fake_go("kill -9 $$");
    rc = check_call("profile", 7, 10000, &err);
    CHECK_EQ_INT(rc, CPGO_E_IO);
    CHECK_STR_CONTAINS(err.text, "killed by signal 9");

    /* control bytes in the message */
    fake_go("printf 'preprofile: a\\033[31mb\\tc\\n'; exit 1");
    rc = check_call("profile", 7, 10000, &err);
    CHECK_STR_CONTAINS(err.text, "preprofile: a?[31mb?c");
}

/* 1 while pid is a live process (a zombie, waiting for its reaper, is not). */
static int alive(long pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = 0;
    const char *rp = strrchr(stat, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

/* A go that never finishes, with a background job: the group dies at the deadline. */
static void timeout(void)
{
    char path[1400], pids[700], body[1600];
    snprintf(path, sizeof path, "%s:/usr/bin:/bin", fake);
    setenv("PATH", path, 1);
    snprintf(pids, sizeof pids, "%s/pids", root);
    snprintf(body, sizeof body,
             "sleep 120 &\n"
             "echo \"$$ $!\" >'%s'\n"
             "echo started\n"
             "wait",
             pids);
    fake_go(body);
    struct cpgo_err err;
    int64_t t0 = now_ms();
    int rc = check_call("profile", 7, 700, &err);
    int64_t took = now_ms() - t0;
    CHECK_EQ_INT(rc, CPGO_E_IO);
    CHECK_EQ_INT(err.cls, CPGO_CLASS_TIMEOUT);
    CHECK(!strcmp(err.text, "go tool preprofile did not finish within 700 ms: killed"));
    CHECK(took >= 690);
    CHECK(took < 700 + 5000);
    long leader = 0, job = 0;
    FILE *f = fopen(pids, "r");
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ_INT(fscanf(f, "%ld %ld", &leader, &job), 2);
        fclose(f);
    }
    CHECK(leader > 0 && job > 0);
    /* SIGKILL is immediate; the background job is reaped by init: allow it time */
    for (int i = 0; i < 500 && (alive(leader) || alive(job)); i++)
        usleep(10000);
    CHECK(!alive(leader));
    CHECK(!alive(job));
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/cpgo-gocheck-test-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(tmp, sizeof tmp, "%s/tmp", root);
    snprintf(fake, sizeof fake, "%s/fake", root);
    snprintf(empty, sizeof empty, "%s/empty", root);
    if (mkdir(tmp, 0700) || mkdir(fake, 0700) || mkdir(empty, 0700)) {
        perror("mkdir");
        return 1;
    }
    /* where the real go is, before PATH is changed */
    FILE *p = popen("command -v go 2>/dev/null", "r");
    char go[4096] = "";
    if (p) {
        if (!fgets(go, sizeof go, p)) go[0] = 0;
        pclose(p);
    }
    go[strcspn(go, "\n")] = 0;
    char *slash = strrchr(go, '/');
    if (slash) *slash = 0;
    snprintf(real_path, sizeof real_path, "%s:/usr/bin:/bin", go);
    setenv("TMPDIR", tmp, 1);
    setenv("HOME", root, 1); /* Go's telemetry counters go here, not into the user's home */

    if (go[0])
        real_go();
    else
        printf("SKIP: go is not on PATH: the real `go tool preprofile` cases are skipped\n");
    no_go();
    child_view();
    timeout();

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (!check_failures && system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", root);
    CHECK_DONE();
}
