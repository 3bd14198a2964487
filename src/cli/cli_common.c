/* cli_common.c - see cli.h. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cpgo_cli_read_file(const char *path, size_t max, struct cpgo_buf *out, struct cpgo_err *err)
{
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
    if (fd < 0) return cpgo_err_set(err, CPGO_E_IO, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return cpgo_err_set(err, CPGO_E_IO, "is a directory");
    }
    cpgo_buf_init(out, max);
    int rc = 0;
    for (;;) {
        if ((rc = cpgo_buf_reserve(out, 1)) == CPGO_E_LIMIT) {
            /* at the ceiling: one more byte means the input is too large */
            char probe;
            ssize_t n = read(fd, &probe, 1);
            if (n == 0) {
                rc = 0;
                break;
            }
            rc = cpgo_err_set(err, CPGO_E_LIMIT, "input is larger than the limit of %zu bytes", max);
            break;
        }
        if (rc) {
            cpgo_err_set(err, rc, "out of memory reading input");
            break;
        }
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = cpgo_err_set(err, CPGO_E_IO, "read error: %s", strerror(errno));
            break;
        }
        if (n == 0) break;
        out->len += (size_t)n;
    }
    if (fd != STDIN_FILENO) close(fd);
    if (rc) cpgo_buf_free(out);
    return rc;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int cpgo_cli_write_file(const char *path, const void *data, size_t len, struct cpgo_err *err)
{
    if (!path || !strcmp(path, "-")) {
        if (write_all(STDOUT_FILENO, data, len))
            return cpgo_err_set(err, CPGO_E_IO, "cannot write to standard output: %s",
                                strerror(errno));
        return 0;
    }
    size_t n = strlen(path);
    char *tmp = malloc(n + 32);
    if (!tmp) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    snprintf(tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = cpgo_err_set(err, CPGO_E_IO, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    if (write_all(fd, data, len) || fsync(fd) || close(fd)) {
        int rc = cpgo_err_set(err, CPGO_E_IO, "cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return rc;
    }
    if (rename(tmp, path)) {
        int rc = cpgo_err_set(err, CPGO_E_IO, "cannot rename into %s: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    return 0;
}

int cpgo_cli_parse_limit(struct cpgo_limits *lim, const char *spec, struct cpgo_err *err)
{
    static const struct {
        const char *name;
        size_t off;
    } names[] = {
        {"compressed", offsetof(struct cpgo_limits, max_compressed)},
        {"decompressed", offsetof(struct cpgo_limits, max_decompressed)},
        {"decode-memory", offsetof(struct cpgo_limits, max_decode_memory)},
        {"samples", offsetof(struct cpgo_limits, max_samples)},
        {"locations", offsetof(struct cpgo_limits, max_locations)},
        {"functions", offsetof(struct cpgo_limits, max_functions)},
        {"mappings", offsetof(struct cpgo_limits, max_mappings)},
        {"strings", offsetof(struct cpgo_limits, max_strings)},
    };
    const char *eq = strchr(spec, '=');
    if (!eq) return cpgo_err_set(err, CPGO_E_USAGE, "--limit takes NAME=N, got '%s'", spec);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(eq + 1, &end, 10);
    if (errno || end == eq + 1 || *end || eq[1] == '-' || v == 0)
        return cpgo_err_set(err, CPGO_E_USAGE, "--limit %.*s: '%s' is not a positive integer",
                            (int)(eq - spec), spec, eq + 1);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) == (size_t)(eq - spec) && !strncmp(spec, names[i].name, eq - spec)) {
            size_t sv = (size_t)v;
            memcpy((char *)lim + names[i].off, &sv, sizeof sv);
            return 0;
        }
    }
    return cpgo_err_set(err, CPGO_E_USAGE,
                        "--limit: unknown limit '%.*s' (compressed, decompressed, decode-memory, "
                        "samples, locations, functions, mappings, strings)",
                        (int)(eq - spec), spec);
}

int cpgo_cli_fail(const char *cmd, const struct cpgo_err *err)
{
    fprintf(stderr, "cpgo %s: %s\n", cmd, err->text);
    if (err->code == CPGO_E_USAGE)
        fprintf(stderr, "Run 'cpgo help %s' for usage.\n", cmd);
    return cpgo_err_is_input(err->code) ? CPGO_EXIT_INVALID : CPGO_EXIT_FAIL;
}

int cpgo_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    struct cpgo_err e;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.text, sizeof e.text, fmt, ap);
    va_end(ap);
    e.code = CPGO_E_USAGE;
    return cpgo_cli_fail(cmd, &e);
}
