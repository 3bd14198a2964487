/*
 * source.c - what every discovery source shares: replacing the last good answer whole,
 * recording a failed refresh without touching it, and the "host:port" grammar.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "discover/source.h"

void cpgo_sd_targets_free(struct cpgo_sd_target *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].host);
        free(t[i].origin);
    }
    free(t);
}

void cpgo_sd_dropped_free(struct cpgo_sd_dropped *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].what);
        free(d[i].why);
    }
    free(d);
}

static int64_t wall_ms(void)
{
    uv_timeval64_t tv;
    if (uv_gettimeofday(&tv)) return 0;
    return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void cpgo_sd_source_succeed(struct cpgo_sd_source *src, struct cpgo_sd_target *targets,
                            size_t ntargets, struct cpgo_sd_dropped *dropped, size_t ndropped,
                            double seconds)
{
    cpgo_sd_targets_free(src->targets, src->ntargets);
    cpgo_sd_dropped_free(src->dropped, src->ndropped);
    src->targets = targets;
    src->ntargets = ntargets;
    src->dropped = dropped;
    src->ndropped = ndropped;
    src->answered = 1;
    src->ok = 1;
    src->error[0] = 0;
    src->refreshes++;
    src->last_success_ms = wall_ms();
    src->last_seconds = seconds;
    if (src->changed) src->changed(src, src->arg);
}

void cpgo_sd_source_fail(struct cpgo_sd_source *src, double seconds, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(src->error, sizeof src->error, fmt, ap);
    va_end(ap);
    /* one line, whatever a server sent */
    for (char *p = src->error; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
    src->answered = 1;
    src->ok = 0;
    src->refreshes++;
    src->failures++;
    src->last_seconds = seconds;
    if (src->changed) src->changed(src, src->arg);
}

void cpgo_sd_source_free_base(struct cpgo_sd_source *src)
{
    cpgo_sd_targets_free(src->targets, src->ntargets);
    cpgo_sd_dropped_free(src->dropped, src->ndropped);
    src->targets = NULL;
    src->dropped = NULL;
    src->ntargets = src->ndropped = 0;
}

static int valid_hostname(const char *h, size_t n)
{
    if (n == 0 || n > 253) return 0;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch == '.') {
            if (label == 0) return 0;
            label = 0;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return 0;
        if (++label > 63) return 0;
    }
    return 1;
}

int cpgo_sd_parse_hostport(const char *s, char **host, int *port, char *why, size_t cap)
{
    *host = NULL;
    *port = 0;
    size_t n = strlen(s);
    const char *h = s, *colon;
    size_t hn;
    if (n == 0) {
        snprintf(why, cap, "is empty");
        return -1;
    }
    if (n > 300) {
        snprintf(why, cap, "is longer than 300 characters");
        return -1;
    }
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            snprintf(why, cap, "is not host:port ([IPv6]:port for IPv6)");
            return -1;
        }
        h = s + 1;
        hn = (size_t)(close - h);
        colon = close + 1;
        char tmp[64];
        unsigned char bin[16];
        if (hn == 0 || hn >= sizeof tmp) {
            snprintf(why, cap, "has no valid IPv6 address in brackets");
            return -1;
        }
        memcpy(tmp, h, hn);
        tmp[hn] = 0;
        if (inet_pton(AF_INET6, tmp, bin) != 1) {
            snprintf(why, cap, "has no valid IPv6 address in brackets");
            return -1;
        }
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            snprintf(why, cap, "has no port (host:port)");
            return -1;
        }
        hn = (size_t)(colon - s);
        if (memchr(s, ':', hn)) {
            snprintf(why, cap, "is not host:port (write an IPv6 address in brackets)");
            return -1;
        }
        if (!valid_hostname(h, hn)) {
            snprintf(why, cap, "has no valid host name or address");
            return -1;
        }
    }
    const char *p = colon + 1;
    long v = 0;
    if (!*p) {
        snprintf(why, cap, "has no port (host:port)");
        return -1;
    }
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > 65535) {
            snprintf(why, cap, "has no valid port (1-65535)");
            return -1;
        }
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 65535) {
        snprintf(why, cap, "has no valid port (1-65535)");
        return -1;
    }
    *host = malloc(hn + 1);
    if (!*host) {
        snprintf(why, cap, "(out of memory)");
        return -1;
    }
    memcpy(*host, h, hn);
    (*host)[hn] = 0;
    *port = (int)v;
    return 0;
}
