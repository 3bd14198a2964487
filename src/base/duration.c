/* duration.c - see duration.h. */
#include "base/duration.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/*
 * Exact integer arithmetic in nanoseconds, with Go's limits: a value must fit a Go
 * time.Duration (2^63-1 ns, about 292 years), so every string accepted here is accepted by
 * time.ParseDuration too. (Floating point made "0.035s" 34 ms and "1.001s" 1000 ms, and
 * reported long digit runs as "missing unit".) A unit is the run of characters up to
 * the next digit or '.', and must be one of Go's unit names exactly.
 */
int cpgo_duration_parse(const char *text, int64_t *ms, struct cpgo_err *err)
{
    static const struct {
        const char *unit;
        uint64_t ns;
    } units[] = {
        {"ns", 1},           {"us", 1000},      {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000},                                         /* U+03BC Greek mu */
        {"ms", 1000000},     {"s", 1000000000}, {"m", 60000000000},  {"h", 3600000000000}};
    const uint64_t max = INT64_MAX; /* ns */
    const char *p = text;
    if (!p || !*p) return cpgo_err_set(err, CPGO_E_INPUT, "empty duration");
    if (!strcmp(p, "0")) {
        *ms = 0;
        return 0;
    }
    if (*p == '-' || *p == '+')
        return cpgo_err_set(err, CPGO_E_INPUT, "'%.64s' is not a duration: no sign allowed", text);
    uint64_t total = 0;
    while (*p) {
        uint64_t whole = 0, frac = 0, scale = 1;
        int digits = 0, over = 0;
        for (; isdigit((unsigned char)*p); p++, digits++) {
            unsigned d = (unsigned)(*p - '0');
            if (whole > (max - d) / 10)
                over = 1;
            else
                whole = whole * 10 + d;
        }
        if (*p == '.') {
            /* digits past 10^-18 cannot change a nanosecond count below 2^63 */
            for (p++; isdigit((unsigned char)*p); p++, digits++) {
                if (scale < 1000000000000000000u) {
                    frac = frac * 10 + (unsigned)(*p - '0');
                    scale *= 10;
                }
            }
        }
        if (!digits)
            return cpgo_err_set(err, CPGO_E_INPUT, "'%.64s' is not a duration (e.g. 45s, 1h30m)",
                                text);
        const char *u = p;
        while (*p && *p != '.' && !isdigit((unsigned char)*p))
            p++;
        if (u == p)
            return cpgo_err_set(err, CPGO_E_INPUT,
                                "'%.64s' is not a duration: missing unit (ns, us, ms, s, m, h)",
                                text);
        uint64_t unit = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].unit) == (size_t)(p - u) &&
                !strncmp(u, units[i].unit, (size_t)(p - u)))
                unit = units[i].ns;
        if (!unit)
            return cpgo_err_set(
                err, CPGO_E_INPUT,
                "'%.64s' is not a duration: unknown unit '%.*s' (ns, us, ms, s, m, h)", text,
                (int)(p - u > 16 ? 16 : p - u), u);
        if (over || whole > max / unit)
            return cpgo_err_set(err, CPGO_E_INPUT, "duration '%.64s' is too large", text);
        /* frac < scale <= 10^18 and unit < 2^42: the product fits 128 bits */
        uint64_t v = whole * unit + (uint64_t)((unsigned __int128)frac * unit / scale);
        if (v > max || total > max - v)
            return cpgo_err_set(err, CPGO_E_INPUT, "duration '%.64s' is too large", text);
        total += v;
    }
    *ms = (int64_t)(total / 1000000); /* sub-millisecond remainders round down */
    return 0;
}

void cpgo_duration_format(int64_t ms, char *buf, size_t cap)
{
    if (ms <= 0) {
        snprintf(buf, cap, "0s");
        return;
    }
    if (ms < 1000) {
        snprintf(buf, cap, "%lldms", (long long)ms);
        return;
    }
    long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, r = ms % 1000;
    char sec[32];
    if (r) {
        snprintf(sec, sizeof sec, "%lld.%03lld", s, r);
        size_t n = strlen(sec);
        while (sec[n - 1] == '0')
            sec[--n] = 0; /* Go prints 1.5s, not 1.500s */
    } else {
        snprintf(sec, sizeof sec, "%lld", s);
    }
    if (h)
        snprintf(buf, cap, "%lldh%lldm%ss", h, m, sec);
    else if (m)
        snprintf(buf, cap, "%lldm%ss", m, sec);
    else
        snprintf(buf, cap, "%ss", sec);
}

/* Go's fmtFrac: the prec low digits of v as a fraction, trailing zeros (and a bare '.')
 * dropped, written right to left ending before w; returns the new w, *v the integer part. */
static size_t frac_go(char *b, size_t w, uint64_t *v, int prec)
{
    int print = 0;
    for (int i = 0; i < prec; i++) {
        unsigned digit = (unsigned)(*v % 10);
        print = print || digit != 0;
        if (print) b[--w] = (char)('0' + digit);
        *v /= 10;
    }
    if (print) b[--w] = '.';
    return w;
}

static size_t int_go(char *b, size_t w, uint64_t v)
{
    do {
        b[--w] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return w;
}

void cpgo_duration_format_ns(int64_t ns, char *buf, size_t cap)
{
    /* right to left as Go's time.Duration.format, so the bytes are Go's: 32 hold the
     * longest ("-2562047h47m16.854775808s") */
    char b[32];
    size_t w = sizeof b;
    int neg = ns < 0;
    uint64_t u = neg ? -(uint64_t)ns : (uint64_t)ns;
    if (u < 1000000000u) {
        int prec;
        b[--w] = 's';
        if (u == 0) {
            b[--w] = '0';
            snprintf(buf, cap, "%.*s", (int)(sizeof b - w), b + w);
            return;
        } else if (u < 1000u) {
            prec = 0;
            b[--w] = 'n';
        } else if (u < 1000000u) {
            prec = 3;
            b[--w] = '\xb5'; /* U+00B5 in UTF-8, as Go writes it */
            b[--w] = '\xc2';
        } else {
            prec = 6;
            b[--w] = 'm';
        }
        w = frac_go(b, w, &u, prec);
        w = int_go(b, w, u);
    } else {
        b[--w] = 's';
        w = frac_go(b, w, &u, 9);
        w = int_go(b, w, u % 60);
        u /= 60;
        if (u > 0) {
            b[--w] = 'm';
            w = int_go(b, w, u % 60);
            u /= 60;
            if (u > 0) {
                b[--w] = 'h';
                w = int_go(b, w, u);
            }
        }
    }
    if (neg) b[--w] = '-';
    snprintf(buf, cap, "%.*s", (int)(sizeof b - w), b + w);
}

int cpgo_size_parse(const char *text, uint64_t *bytes, struct cpgo_err *err)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"B", 1},      {"KB", 1000},     {"MB", 1000000},     {"GB", 1000000000},
                 {"KiB", 1024}, {"MiB", 1048576}, {"GiB", 1073741824}, {"", 1}};
    const char *p = text;
    if (!p || !isdigit((unsigned char)*p))
        return cpgo_err_set(err, CPGO_E_INPUT, "'%.64s' is not a size (e.g. 64MiB)",
                            text ? text : "");
    uint64_t v = 0;
    while (isdigit((unsigned char)*p)) {
        unsigned d = (unsigned)(*p++ - '0');
        if (v > (UINT64_MAX - d) / 10)
            return cpgo_err_set(err, CPGO_E_INPUT, "size '%.64s' is too large", text);
        v = v * 10 + d;
    }
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (!strcmp(p, units[i].unit)) {
            if (units[i].mult > 1 && v > UINT64_MAX / units[i].mult)
                return cpgo_err_set(err, CPGO_E_INPUT, "size '%.64s' is too large", text);
            *bytes = v * units[i].mult;
            return 0;
        }
    }
    return cpgo_err_set(err, CPGO_E_INPUT,
                        "'%.64s' is not a size: unknown unit (B, KB, MB, GB, KiB, MiB, GiB)", text);
}
