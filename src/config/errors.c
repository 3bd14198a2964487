/*
 * errors.c - the error list of a configuration load, and how values are shown in it.
 *
 * Every problem becomes one line "file:line:col: key.path: what is wrong" in a list (at most
 * MAX_ERRORS). Messages never echo a header value, a URL password or anything found under a
 * "token" key. The lowest file of src/config: every other one calls it, it calls none.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/url.h"
#include "config/config_int.h"

/* ---- errors ---------------------------------------------------------------------------- */

/* "name:line:col: <message>" (line 0: "name: <message>"), one line whatever the message
 * held; NULL when out of memory. */
static char *format_line(struct ctx *c, int line, int col, const char *fmt, va_list ap)
{
    char msg[1024], line_text[1400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (char *p = msg; *p; p++) /* one line each, whatever a value or a foreign message held */
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    if (line > 0)
        snprintf(line_text, sizeof line_text, "%s:%d:%d: %s", c->name, line, col, msg);
    else
        snprintf(line_text, sizeof line_text, "%s: %s", c->name, msg);
    char *t = strdup(line_text);
    if (!t) c->nomem = 1;
    return t;
}

void cpgo_config_add_error(struct ctx *c, int line, int col, const char *fmt, ...)
{
    if (c->full || c->nomem) return;
    if (c->nerr == MAX_ERRORS - 1) {
        c->full = 1; /* the last line says so (see cpgo_config_export_errors) */
        return;
    }
    if (c->nerr == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        struct item *n = realloc(c->errs, ncap * sizeof *n);
        if (!n) {
            c->nomem = 1;
            return;
        }
        c->errs = n;
        c->cap = ncap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *t = format_line(c, line, col, fmt, ap);
    va_end(ap);
    if (t) c->errs[c->nerr++] = (struct item){line, col, t};
}

void cpgo_config_add_warning(struct ctx *c, int line, int col, const char *fmt, ...)
{
    if (c->nomem || c->nwarn == MAX_ERRORS) return; /* a ceiling, as for errors */
    char **n = realloc(c->warns, (c->nwarn + 1) * sizeof *n);
    if (!n) {
        c->nomem = 1;
        return;
    }
    c->warns = n;
    va_list ap;
    va_start(ap, fmt);
    char *t = format_line(c, line, col, fmt, ap);
    va_end(ap);
    if (t) c->warns[c->nwarn++] = t;
}

char *cpgo_config_strdup(struct ctx *c, const char *s)
{
    char *d = strdup(s);
    if (!d) c->nomem = 1;
    return d;
}

/* A value for messages: bounded, one line, control bytes shown as '?'. */
const char *cpgo_config_show(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; s[n] && n + 4 < cap && n < SHOW_MAX; n++)
        buf[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' : s[n];
    if (s[n]) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = 0;
    return buf;
}

/* A URL for messages: masked (url.h), bounded, one line. */
const char *cpgo_config_show_url(const char *u, char *buf, size_t cap)
{
    char m[4096];
    cpgo_url_mask(u, m, sizeof m);
    return cpgo_config_show(m, buf, cap);
}

void cpgo_config_errors_free(struct cpgo_config_errors *e)
{
    if (!e) return;
    for (size_t i = 0; i < e->n; i++)
        free(e->lines[i]);
    free(e->lines);
    e->lines = NULL;
    e->n = 0;
}

/* Hands the collected errors over, sorted by position (stable), plus the overflow line. */
void cpgo_config_export_errors(struct ctx *c, struct cpgo_config_errors *out)
{
    for (size_t i = 1; i < c->nerr; i++) {
        struct item t = c->errs[i];
        size_t j = i;
        while (j > 0 && (c->errs[j - 1].line > t.line ||
                         (c->errs[j - 1].line == t.line && c->errs[j - 1].col > t.col))) {
            c->errs[j] = c->errs[j - 1];
            j--;
        }
        c->errs[j] = t;
    }
    char **lines = NULL;
    size_t n = c->nerr + (c->full ? 1 : 0) + (c->nomem ? 1 : 0);
    if (out && n) lines = calloc(n, sizeof *lines);
    size_t k = 0;
    for (size_t i = 0; i < c->nerr; i++) {
        if (lines)
            lines[k++] = c->errs[i].text;
        else
            free(c->errs[i].text);
    }
    if (lines && c->full) {
        char t[512];
        snprintf(t, sizeof t, "%s: too many errors; only the first %d are shown", c->name,
                 MAX_ERRORS - 1);
        lines[k] = strdup(t);
        if (lines[k]) k++;
    }
    if (lines && c->nomem) {
        char t[512];
        snprintf(t, sizeof t, "%s: out of memory", c->name);
        lines[k] = strdup(t);
        if (lines[k]) k++;
    }
    free(c->errs);
    c->errs = NULL;
    c->nerr = c->cap = 0;
    if (out) {
        out->lines = lines;
        out->n = k;
    }
}
