/* log.c - see log.h. The settings are the one piece of process-wide state: the fd is
 * written once before any thread starts; level and format are atomics, so a configuration
 * reload can change them while the work threads log. */
#include "base/log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
    case CPGO_LVL_DEBUG: return "debug";
    case CPGO_LVL_INFO: return "info";
    case CPGO_LVL_WARN: return "warn";
    default: return "error";
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

static void write_line(const char *line, size_t len)
{
    pthread_mutex_lock(&g_mu);
    while (len) {
        ssize_t n = write(g_fd, line, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        line += n;
        len -= (size_t)n;
    }
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
            json_object_set_new(o, k, v ? json_string(v) : json_null());
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
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
            if (o < cap) o += (size_t)snprintf(line + o, cap - o, " %s=", k);
            if (o < cap) put_value(line, cap, &o, v ? v : "");
        }
        if (o > cap) o = cap;
        line[o++] = '\n';
        write_line(line, o);
    }
    va_end(ap);
}

static int secret_key(const char *k, size_t n)
{
    static const char *words[] = {"token", "key", "secret", "password", "passwd", "sig", "auth"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t w = strlen(words[i]);
        for (size_t j = 0; j + w <= n; j++)
            if (!strncasecmp(k + j, words[i], w)) return 1;
    }
    return 0;
}

void cpgo_log_mask_url(const char *url, char *buf, size_t cap)
{
    size_t o = 0;
    if (!cap) return;
    const char *p = url;
    const char *scheme = strstr(url, "://");
    const char *auth_start = scheme ? scheme + 3 : url;
    const char *auth_end = auth_start + strcspn(auth_start, "/?#");
    const char *at = memchr(auth_start, '@', (size_t)(auth_end - auth_start));
    while (*p && o + 1 < cap) {
        if (at && p == auth_start) {
            /* user:password -> user:xxxxx; a lone user is usually a token -> xxxxx */
            const char *colon = memchr(auth_start, ':', (size_t)(at - auth_start));
            size_t ulen = (size_t)((colon ? colon : at) - auth_start);
            if (colon)
                o += (size_t)snprintf(buf + o, cap - o, "%.*s:xxxxx@", (int)ulen, auth_start);
            else
                o += (size_t)snprintf(buf + o, cap - o, "xxxxx@");
            p = at + 1;
            continue;
        }
        if ((*p == '?' || *p == '&') && p > auth_end) {
            buf[o++] = *p++;
            size_t klen = strcspn(p, "=&#");
            if (p[klen] == '=' && secret_key(p, klen)) {
                o += (size_t)snprintf(buf + o, cap - o, "%.*s=xxxxx", (int)klen, p);
                p += klen + 1;
                p += strcspn(p, "&#");
            }
            continue;
        }
        buf[o++] = *p++;
    }
    buf[o < cap ? o : cap - 1] = 0;
}

void cpgo_log_scrub(char *text, const char *const *secrets)
{
    for (const char *const *sp = secrets; sp && *sp; sp++) {
        size_t sl = strlen(*sp);
        if (sl < 4) continue; /* too short to tell from ordinary text */
        for (char *p = text; (p = strstr(p, *sp));) {
            memcpy(p, "****", 4);
            memmove(p + 4, p + sl, strlen(p + sl) + 1);
            p += 4;
        }
    }
}

size_t cpgo_log_url_secrets(const char *url, char **out, size_t cap)
{
    size_t n = 0;
    const char *scheme = strstr(url, "://");
    const char *a = scheme ? scheme + 3 : url;
    const char *end = a + strcspn(a, "/?#");
    const char *at = memchr(a, '@', (size_t)(end - a));
    if (at && n < cap) {
        const char *colon = memchr(a, ':', (size_t)(at - a));
        const char *s = colon ? colon + 1 : a;
        if ((out[n] = strndup(s, (size_t)(at - s)))) n++;
    }
    for (const char *q = strchr(end, '?'); q && *q && n < cap;) {
        q++;
        size_t klen = strcspn(q, "=&#");
        if (q[klen] == '=' && secret_key(q, klen)) {
            const char *v = q + klen + 1;
            if ((out[n] = strndup(v, strcspn(v, "&#")))) n++;
        }
        q += strcspn(q, "&#");
        if (*q != '&') break;
    }
    return n;
}
