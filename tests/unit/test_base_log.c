/* Unit tests for base/log: logfmt and JSON lines; typed keys (CPGO_LOG_INT, _NUM, _BOOL) are
 * numbers and booleans in JSON, never guessed from a string's text, and change nothing in
 * logfmt. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "check.h"

static char path[] = "/tmp/cpgo-test-log-XXXXXX";
static int fd = -1;

/* What was logged since the last call (the file is emptied). */
static char *take(void)
{
    static char buf[8192];
    off_t n = lseek(fd, 0, SEEK_CUR);
    if (n < 0 || (size_t)n >= sizeof buf) n = sizeof buf - 1;
    ssize_t r = pread(fd, buf, (size_t)n, 0);
    buf[r > 0 ? r : 0] = 0;
    if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET)) buf[0] = 0;
    return buf;
}

/* The line without its "time=..." field, which differs from call to call. */
static const char *after_time(const char *line)
{
    const char *p = strstr(line, " level=");
    return p ? p : line;
}

static void test_logfmt_unchanged(void)
{
    cpgo_log_setup(CPGO_LVL_DEBUG, 0, fd);
    cpgo_log(CPGO_LVL_INFO, "scrape merged", "backend", "123", "pending_scrapes", "7", "transient",
             "true", "loop_cpu_seconds", "0.125", NULL);
    char plain[1024];
    snprintf(plain, sizeof plain, "%s", after_time(take()));
    cpgo_log(CPGO_LVL_INFO, "scrape merged", "backend", "123", CPGO_LOG_INT("pending_scrapes"), "7",
             CPGO_LOG_BOOL("transient"), "true", CPGO_LOG_NUM("loop_cpu_seconds"), "0.125", NULL);
    const char *typed = after_time(take());
    CHECK(!strcmp(plain, typed));
    CHECK(!strcmp(typed, " level=info msg=\"scrape merged\" backend=123 pending_scrapes=7 "
                         "transient=true loop_cpu_seconds=0.125\n"));
}

static json_t *json_line(void)
{
    json_error_t je;
    json_t *o = json_loads(take(), 0, &je);
    if (!o) fprintf(stderr, "not JSON: %s\n", je.text);
    return o;
}

static void test_json_types(void)
{
    cpgo_log_setup(CPGO_LVL_DEBUG, 1, fd);
    cpgo_log(CPGO_LVL_WARN, "scrape failed", "backend", "123", CPGO_LOG_INT("status"), "503",
             CPGO_LOG_BOOL("transient"), "false", CPGO_LOG_NUM("loop_lag_max_seconds"), "0.0125",
             CPGO_LOG_INT("bytes_after"), "-42", CPGO_LOG_NUM("ratio"), "3", "plain", "17",
             CPGO_LOG_INT("big"), "9223372036854775807", NULL);
    json_t *o = json_line();
    CHECK(o != NULL);
    if (!o) return;
    CHECK(json_is_string(json_object_get(o, "backend"))); /* a name "123" is not a number */
    CHECK(!strcmp(json_string_value(json_object_get(o, "backend")), "123"));
    CHECK(json_is_string(json_object_get(o, "plain"))); /* untyped: never guessed */
    CHECK(json_is_integer(json_object_get(o, "status")));
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "status")), 503);
    CHECK(json_is_false(json_object_get(o, "transient")));
    CHECK(json_is_real(json_object_get(o, "loop_lag_max_seconds")));
    CHECK(json_real_value(json_object_get(o, "loop_lag_max_seconds")) == 0.0125);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "bytes_after")), -42);
    CHECK(json_is_integer(json_object_get(o, "ratio")));
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "big")), 9223372036854775807LL);
    CHECK(json_object_get(o, "\001status") == NULL); /* the marker never reaches the output */
    json_decref(o);

    /* the text as written, not the double's expansion */
    cpgo_log(CPGO_LVL_INFO, "x", CPGO_LOG_NUM("s"), "0.123", NULL);
    CHECK_STR_CONTAINS(take(), "\"s\":0.123}");

    /* a typed value whose text is not of its type is kept as a string, never dropped */
    static const char *bad_int[] = {"",     "12a", "+1",  "01",  "1.5", "1e3",
                                    "0x10", " 1",  "inf", "nan", "-",   "9223372036854775808"};
    for (size_t i = 0; i < sizeof bad_int / sizeof *bad_int; i++) {
        cpgo_log(CPGO_LVL_INFO, "x", CPGO_LOG_INT("v"), bad_int[i], CPGO_LOG_BOOL("b"), "yes",
                 CPGO_LOG_NUM("n"), bad_int[i][0] == '1' ? "1." : "1e", NULL);
        o = json_line();
        CHECK(o != NULL);
        if (!o) continue;
        CHECK(json_is_string(json_object_get(o, "v")));
        CHECK(!strcmp(json_string_value(json_object_get(o, "v")), bad_int[i]));
        CHECK(json_is_string(json_object_get(o, "b")));
        CHECK(json_is_string(json_object_get(o, "n")));
        json_decref(o);
    }
    /* a NULL value is null in JSON whatever its type */
    cpgo_log(CPGO_LVL_INFO, "x", CPGO_LOG_INT("v"), (const char *)NULL, "w", "1", NULL);
    o = json_line();
    CHECK(o && json_is_null(json_object_get(o, "v")));
    json_decref(o);
}

int main(void)
{
    fd = mkstemp(path);
    if (fd < 0) return 2;
    unlink(path);
    test_logfmt_unchanged();
    test_json_types();
    close(fd);
    CHECK_DONE();
}
