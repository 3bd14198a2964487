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
