/* log.c - see log.h. The settings are the one piece of process-wide state: the fd is
 * written once before any thread starts; level and format are atomics, so a configuration
 * reload can change them while the work threads log. */
#include "base/log.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_min_level = CPGO_LVL_INFO;
static _Atomic int g_json;
static int g_fd = 2;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

void cpgo_log_setup(int min_level, int json, int fd)
{
    g_min_level = min_level;
    g_json = json;
    g_fd = fd;
}

void cpgo_log_set_level(int min_level, int json)
{
    g_min_level = min_level;
    g_json = json;
}

int cpgo_log_enabled(int level)
{
    return level >= g_min_level;
}

static const char *level_name(int level)
{
    switch (level) {
    case CPGO_LVL_DEBUG:
        return "debug";
    case CPGO_LVL_INFO:
        return "info";
    case CPGO_LVL_WARN:
        return "warn";
    default:
        return "error";
    }
}

/* logfmt: bare when the value has no space, quote, '=' or control byte; quoted otherwise */
static void put_value(char *buf, size_t cap, size_t *o, const char *v)
{
    int bare = *v != 0;
    for (const char *p = v; *p && bare; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '=' || *p == '\\') bare = 0;
    if (bare) {
        *o += (size_t)snprintf(buf + *o, *o < cap ? cap - *o : 0, "%s", v);
        return;
    }
    if (*o < cap) buf[(*o)++] = '"';
    for (const char *p = v; *p && *o + 6 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[(*o)++] = '\\';
            buf[(*o)++] = (char)c;
        } else if (c == '\n') {
            buf[(*o)++] = '\\';
            buf[(*o)++] = 'n';
        } else if (c < ' ') {
            *o += (size_t)snprintf(buf + *o, cap - *o, "\\x%02x", c);
        } else {
            buf[(*o)++] = (char)c;
        }
    }
    if (*o < cap) buf[(*o)++] = '"';
}

/* The status line (cpgo_log_status): drawn after the last log line, erased before the next
 * one and drawn again after it, under g_mu, so a log line never lands in the middle of it. */
static char g_status[CPGO_LOG_STATUS_MAX];
static size_t g_status_len;

static void write_all(const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(g_fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        p += n;
        len -= (size_t)n;
    }
}

/* "\r" to the line's start, ESC [ K erases to its end (every VT100 descendant) */
static const char erase_seq[] = "\r\033[K";

/* The length of a JSON number at the start of v (RFC 8259's grammar: no '+', no leading
 * zero, no "inf"), 0 when there is none; *integral says it has no fraction or exponent. */
static size_t json_number_len(const char *v, int *integral)
{
    const char *p = v;
    *integral = 1;
    if (*p == '-') p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return 0;
    if (*p == '.') {
        *integral = 0;
        if (!(*++p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        *integral = 0;
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return (size_t)(p - v);
}

/* A value for JSON: typed when the key's marker says so and the text is of that type,
 * else the text as a string (a caller's mistake shows, it is not dropped). */
static json_t *json_value(char type, const char *v)
{
    if (!v) return json_null();
    if (type == CPGO_LOG_BOOL("")[0]) {
        if (!strcmp(v, "true")) return json_true();
        if (!strcmp(v, "false")) return json_false();
    } else if (type == CPGO_LOG_INT("")[0] || type == CPGO_LOG_NUM("")[0]) {
        int integral;
        size_t n = json_number_len(v, &integral);
        if (n && !v[n] && integral) {
            errno = 0;
            long long x = strtoll(v, NULL, 10);
            if (!errno) return json_integer(x);
        } else if (n && !v[n] && type == CPGO_LOG_NUM("")[0]) {
            double x = strtod(v, NULL);
            if (isfinite(x)) return json_real(x);
        }
    }
    return json_string(v);
}

/* The key without its type marker, and the marker (0: a string). */
static const char *untyped(const char *k, char *type)
{
    *type = 0;
    if (k[0] >= 1 && k[0] <= 3) *type = *k++;
    return k;
}

static void write_line(const char *line, size_t len)
{
    pthread_mutex_lock(&g_mu);
    if (g_status_len) write_all(erase_seq, sizeof erase_seq - 1);
    write_all(line, len);
    if (g_status_len) write_all(g_status, g_status_len);
    pthread_mutex_unlock(&g_mu);
}

void cpgo_log(int level, const char *msg, ...)
{
    if (level < g_min_level) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[80];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, msg);
    if (g_json) {
        json_t *o = json_object();
        json_object_set_new(o, "time", json_string(when));
        json_object_set_new(o, "level", json_string(level_name(level)));
        json_object_set_new(o, "msg", json_string(msg));
        const char *k;
        while ((k = va_arg(ap, const char *)) != NULL) {
            const char *v = va_arg(ap, const char *);
            char type;
            k = untyped(k, &type);
            json_object_set_new(o, k, json_value(type, v));
        }
        /* 15 digits: a decimal the caller printed with up to 15 ("0.123") is written back
         * as given, not as the double's 17-digit expansion (0.12299999999999999) */
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        json_decref(o);
        if (s) {
            size_t n = strlen(s);
            s[n] = '\n'; /* json_dumps leaves room for the NUL: replace it, write n+1 */
            write_line(s, n + 1);
            free(s);
        }
    } else {
        char line[4096];
        size_t o = 0, cap = sizeof line - 1;
        o += (size_t)snprintf(line, cap, "time=%s level=%s msg=", when, level_name(level));
        put_value(line, cap, &o, msg);
        const char *k;
        while ((k = va_arg(ap, const char *)) != NULL) {
            const char *v = va_arg(ap, const char *);
            char type;
            k = untyped(k, &type); /* logfmt has no types: the text as given */
            if (o < cap) o += (size_t)snprintf(line + o, cap - o, " %s=", k);
            if (o < cap) put_value(line, cap, &o, v ? v : "");
        }
        if (o > cap) o = cap;
        line[o++] = '\n';
        write_line(line, o);
    }
    va_end(ap);
}

void cpgo_log_status(const char *line)
{
    pthread_mutex_lock(&g_mu);
    size_t n = 0;
    if (line) /* control bytes would move the cursor: each becomes a space */
        for (; line[n] && n < sizeof g_status - 1; n++)
            g_status[n] = (unsigned char)line[n] < ' ' || line[n] == 0x7f ? ' ' : line[n];
    if (n || g_status_len) {
        /* erase and redraw in one write: no flicker */
        char buf[sizeof erase_seq + sizeof g_status];
        memcpy(buf, erase_seq, sizeof erase_seq - 1);
        memcpy(buf + sizeof erase_seq - 1, g_status, n);
        write_all(buf, sizeof erase_seq - 1 + n);
    }
    g_status_len = n;
    pthread_mutex_unlock(&g_mu);
}
