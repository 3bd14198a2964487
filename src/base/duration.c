/* duration.c - see duration.h. */
#include "base/duration.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int cpgo_duration_parse(const char *text, int64_t *ms, struct cpgo_err *err)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1.0},
                 {"s", 1e3},   {"m", 6e4},   {"h", 3.6e6}};
    const char *p = text;
    if (!p || !*p) return cpgo_err_set(err, CPGO_E_INPUT, "empty duration");
    if (!strcmp(p, "0")) {
        *ms = 0;
        return 0;
    }
    if (*p == '-' || *p == '+')
        return cpgo_err_set(err, CPGO_E_INPUT, "'%.64s' is not a duration: no sign allowed", text);
    double total = 0;
    while (*p) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return cpgo_err_set(err, CPGO_E_INPUT, "'%.64s' is not a duration (e.g. 45s, 1h30m)",
                                text);
        double whole = 0, frac = 0, scale = 1;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            whole = whole * 10 + (*p++ - '0');
            digits++;
            if (whole > 1e15) break;
        }
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p)) {
                scale /= 10;
                frac += (*p++ - '0') * scale;
                digits++;
            }
        }
        if (!digits)
            return cpgo_err_set(err, CPGO_E_INPUT, "'%.64s' is not a duration (e.g. 45s, 1h30m)",
                                text);
        size_t best = 0;
        double mult = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t l = strlen(units[i].unit);
            /* longest match: "ms" before "m" */
            if (!strncmp(p, units[i].unit, l) && l > best) {
                best = l;
                mult = units[i].ms;
            }
        }
        if (!best)
            return cpgo_err_set(err, CPGO_E_INPUT,
                                "'%.64s' is not a duration: missing unit (ns, us, ms, s, m, h)", text);
        p += best;
        total += (whole + frac) * mult;
        if (total > 9.2e15) return cpgo_err_set(err, CPGO_E_INPUT, "duration '%.64s' is too large", text);
    }
    *ms = (int64_t)total;
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
        while (sec[n - 1] == '0') sec[--n] = 0; /* Go prints 1.5s, not 1.500s */
    } else {
        snprintf(sec, sizeof sec, "%lld", s);
    }
    if (h) snprintf(buf, cap, "%lldh%lldm%ss", h, m, sec);
    else if (m) snprintf(buf, cap, "%lldm%ss", m, sec);
    else snprintf(buf, cap, "%ss", sec);
}

int cpgo_size_parse(const char *text, uint64_t *bytes, struct cpgo_err *err)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"B", 1},           {"KB", 1000},          {"MB", 1000000},
                 {"GB", 1000000000}, {"KiB", 1024},         {"MiB", 1048576},
                 {"GiB", 1073741824}, {"", 1}};
    const char *p = text;
    if (!p || !isdigit((unsigned char)*p))
        return cpgo_err_set(err, CPGO_E_INPUT, "'%.64s' is not a size (e.g. 64MiB)", text ? text : "");
    uint64_t v = 0;
    while (isdigit((unsigned char)*p)) {
        unsigned d = (unsigned)(*p++ - '0');
        if (v > (UINT64_MAX - d) / 10)
            return cpgo_err_set(err, CPGO_E_INPUT, "size '%.64s' is too large", text);
        v = v * 10 + d;
    }
    while (*p == ' ') p++;
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
