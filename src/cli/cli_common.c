/* cli_common.c - see cli.h. */
#include "cli/cli.h"

#include "base/file.h"

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
    /* A path named on the command line is the user's choice: links are followed and a pipe
     * (`cpgo merge <(...)`, "-") is read like a file, unlike cpgo_file_open. */
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
    if (fd < 0) return cpgo_err_set(err, CPGO_E_IO, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return cpgo_err_set(err, CPGO_E_IO, "is a directory");
    }
    cpgo_buf_init(out, max);
    int rc = cpgo_file_read_fd(fd, "input", max, &out->data, &out->len, err);
    if (fd != STDIN_FILENO) close(fd);
    out->cap = out->len;
    return rc;
}

int cpgo_cli_write_file(const char *path, const void *data, size_t len, struct cpgo_err *err)
{
    if (!path || !strcmp(path, "-")) {
        const char *p = data;
        while (len) {
            ssize_t n = write(STDOUT_FILENO, p, len);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0)
                return cpgo_err_set(err, CPGO_E_IO, "cannot write to standard output: %s",
                                    strerror(errno));
            p += n;
            len -= (size_t)n;
        }
        return 0;
    }
    return cpgo_file_write_at(AT_FDCWD, path, data, len, 0644, err);
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
        if (strlen(names[i].name) == (size_t)(eq - spec) &&
            !strncmp(spec, names[i].name, eq - spec)) {
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
    if (err->code == CPGO_E_USAGE) fprintf(stderr, "Run 'cpgo help %s' for usage.\n", cmd);
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

int cpgo_cli_config_option(const char *cmd, int argc, char **argv, int *i, const char **path)
{
    const char *a = argv[*i];
    if (!strncmp(a, "--config=", 9)) {
        *path = a + 9;
        return 1;
    }
    if (strcmp(a, "-c") && strcmp(a, "--config") && strcmp(a, "-configPath") &&
        strcmp(a, "--configPath"))
        return 0;
    if (*i + 1 >= argc) {
        cpgo_cli_usage_error(cmd, "%s needs a file", a);
        return -1;
    }
    *path = argv[++*i];
    return 1;
}
