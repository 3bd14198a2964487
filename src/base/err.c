/* err.c - see err.h. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void err_vset(struct cpgo_err *err, enum cpgo_class cls, int code, const char *fmt,
                     va_list ap)
{
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    err->code = code;
    err->cls = cls;
}

int cpgo_err_set(struct cpgo_err *err, int code, const char *fmt, ...)
{
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, CPGO_CLASS_OK, code, fmt, ap); /* a new failure forgets an older class */
    va_end(ap);
    return code;
}

int cpgo_err_set_class(struct cpgo_err *err, enum cpgo_class cls, int code, const char *fmt, ...)
{
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, cls, code, fmt, ap);
    va_end(ap);
    return code;
}

enum cpgo_class cpgo_err_to_class(const struct cpgo_err *err)
{
    if (err->cls != CPGO_CLASS_OK) return err->cls;
    switch (err->code) {
    case CPGO_OK:
        return CPGO_CLASS_OK;
    case CPGO_E_EMPTY:
        return CPGO_CLASS_NO_DATA;
    case CPGO_E_LIMIT:
        return CPGO_CLASS_LIMIT;
    case CPGO_E_INCOMPAT:
        return CPGO_CLASS_INCOMPATIBLE;
    case CPGO_E_NOMEM:
        return CPGO_CLASS_OOM;
    case CPGO_E_IO:
        return CPGO_CLASS_INTERNAL;
    }
    return CPGO_CLASS_BAD_PAYLOAD;
}

void cpgo_err_prefix(struct cpgo_err *err, const char *fmt, ...)
{
    if (!err) return;
    char pre[CPGO_ERR_TEXT_MAX], old[CPGO_ERR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->text, sizeof old);
    /* Truncation is acceptable: the message stays one bounded line. */
    size_t n = strlen(pre);
    if (n > sizeof err->text - 3) n = sizeof err->text - 3;
    memcpy(err->text, pre, n);
    memcpy(err->text + n, ": ", 2);
    size_t rest = sizeof err->text - n - 3;
    size_t ol = strlen(old);
    if (ol > rest) ol = rest;
    memcpy(err->text + n + 2, old, ol);
    err->text[n + 2 + ol] = 0;
}

const char *cpgo_err_class(int code)
{
    switch (code) {
    case CPGO_OK:
        return "ok";
    case CPGO_E_INPUT:
        return "bad_payload";
    case CPGO_E_LIMIT:
        return "limit";
    case CPGO_E_INCOMPAT:
        return "incompatible";
    case CPGO_E_EMPTY:
        return "no_data";
    case CPGO_E_NOMEM:
        return "nomem";
    case CPGO_E_IO:
        return "io";
    case CPGO_E_USAGE:
        return "usage";
    }
    return "unknown";
}

int cpgo_err_is_input(int code)
{
    return code == CPGO_E_INPUT || code == CPGO_E_LIMIT || code == CPGO_E_INCOMPAT ||
           code == CPGO_E_EMPTY || code == CPGO_E_USAGE;
}
