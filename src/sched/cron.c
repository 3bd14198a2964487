/*
 * cron.c - see cron.h.
 *
 * A parsed schedule is a set of bitmasks (minute 0-59, hour 0-23, day-of-month 1-31, month
 * 1-12, day-of-week 0-6 with 7 folded onto 0), two flags saying whether day-of-month and
 * day-of-week were written starting with '*' (which decides AND or OR between them), an
 * optional zone, or instead an @every period in whole seconds.
 *
 * Finding the next fire time walks *local wall-clock time*, minute-aligned, skipping whole
 * months, days and hours whose bit is clear, so even "0 0 29 2 *" costs a few hundred
 * steps. Each matching wall time L is then mapped back to Unix time: the instants u with
 * u + offset(u) == L. None means L falls in a DST gap (skipped); two mean the hour repeats
 * (the first is the fire time, the second never fires). The walk starts at the earliest
 * wall time that could still map after `after` (the offset may drop within the next day),
 * and every candidate is checked against `after`, so the repeated hour cannot fire twice
 * even when `after` lies between its two occurrences.
 *
 * Limits: an expression is at most CRON_MAX bytes and a field at most CRON_LIST_MAX list
 * items; `after` must lie within +-2^40 s of the epoch (about 34,000 years); the search
 * stops after 5 years. Nothing is global; a schedule is immutable once parsed.
 */
#include "sched/cron.h"
#include "sched/civil.h"
#include "base/duration.h"
#include "sched/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRON_MAX 256
#define CRON_LIST_MAX 64
#define DAY 86400
/* "within 5 years": 5 * 365 days and the (at most two) leap days in between */
#define FIVE_YEARS ((int64_t)(5 * 365 + 2) * DAY)
#define T_LIMIT ((int64_t)1 << 40)
/* a candidate wall time maps to an instant within this of itself (RFC 8536 offset range) */
#define OFF_SPAN (26 * 3600)

struct cpgo_cron {
    uint64_t minute; /* bit n: minute n */
    uint32_t hour;
    uint32_t dom;               /* bits 1..31 */
    uint16_t month;             /* bits 1..12 */
    uint8_t dow;                /* bits 0..6, Sunday = 0 */
    uint8_t dom_star, dow_star; /* the field starts with '*' or '?': not a restriction */
    int64_t every;              /* @every, in seconds; 0 for a field schedule */
    struct cpgo_tz *tz;         /* NULL: UTC */
    char text[CRON_MAX + 1];
};

/* ---- parsing ------------------------------------------------------------------------- */

struct field_spec {
    const char *name;
    int min, max;             /* accepted values (day-of-week: 0-7) */
    int star_max;             /* the top of '*' and of "a/n" (day-of-week: 6, Saturday) */
    const char *const *names; /* three-letter names for min.., or NULL */
    const char *what;         /* "month" or "day" for "is not a ... name" */
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

enum { F_MIN, F_HOUR, F_DOM, F_MON, F_DOW };
/* clang-format off */
static const struct field_spec fields[5] = {
    {"minute", 0, 59, 59, NULL, NULL},
    {"hour", 0, 23, 23, NULL, NULL},
    {"day-of-month", 1, 31, 31, NULL, NULL},
    {"month", 1, 12, 12, month_names, "month"},
    {"day-of-week", 0, 7, 6, day_names, "day"},
};
/* clang-format on */

/* Copies s[0..n) for an error message: at most 64 bytes, anything unprintable as '?', so
 * the message stays one readable line whatever the input was. */
static const char *show(const char *s, size_t n, char *buf, size_t cap)
{
    size_t k = 0;
    for (; k < n && k + 4 < cap; k++) {
        unsigned char ch = (unsigned char)s[k];
        buf[k] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
    }
    if (k < n) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = 0;
    return buf;
}

static int is_alnum(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int upper(char ch)
{
    return ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch;
}

/* A value: a number or, in month/day-of-week, a name. s[0..n) is a run of letters/digits. */
static int parse_value(const struct field_spec *f, const char *s, size_t n, int *v,
                       struct cpgo_err *err)
{
    char shown[72];
    int digits = 1;
    for (size_t i = 0; i < n; i++)
        digits &= s[i] >= '0' && s[i] <= '9';
    if (digits) {
        long long x = 0;
        for (size_t i = 0; i < n && x <= 1000; i++)
            x = x * 10 + (s[i] - '0');
        if (x < f->min || x > f->max)
            return cpgo_err_set(err, CPGO_E_INPUT, "%s field: %s is out of range %d-%d", f->name,
                                show(s, n, shown, sizeof shown), f->min, f->max);
        *v = (int)x;
        return 0;
    }
    if (f->names && n == 3 && !(s[0] >= '0' && s[0] <= '9')) {
        int count = f == &fields[F_MON] ? 12 : 7;
        for (int i = 0; i < count; i++) {
            const char *nm = f->names[i];
            if (upper(s[0]) == nm[0] && upper(s[1]) == nm[1] && upper(s[2]) == nm[2]) {
                *v = f->min + i;
                return 0;
            }
        }
    }
    if (f->names && !(s[0] >= '0' && s[0] <= '9'))
        return cpgo_err_set(err, CPGO_E_INPUT, "%s field: '%s' is not a %s name", f->name,
                            show(s, n, shown, sizeof shown), f->what);
    return cpgo_err_set(err, CPGO_E_INPUT, "%s field: '%s' is not a number", f->name,
                        show(s, n, shown, sizeof shown));
}

/* One list item: ('*' | '?' | value ['-' value]) ['/' step]. */
static int parse_item(const struct field_spec *f, const char *s, size_t n, uint64_t *bits,
                      struct cpgo_err *err)
{
    char shown[72];
    const char *p = s, *end = s + n;
    int lo, hi, step = 1, rc;
    if (p == end) return cpgo_err_set(err, CPGO_E_INPUT, "%s field: empty list item", f->name);
    if (*p == '*' || *p == '?') {
        if (*p == '?' && f != &fields[F_DOM] && f != &fields[F_DOW])
            return cpgo_err_set(err, CPGO_E_INPUT,
                                "%s field: '?' is only allowed in day-of-month and day-of-week",
                                f->name);
        p++;
        lo = f->min;
        hi = f->star_max;
    } else {
        const char *v = p;
        while (p < end && is_alnum(*p))
            p++;
        if (p == v)
            return cpgo_err_set(err, CPGO_E_INPUT, "%s field: unexpected '%s' in '%s'", f->name,
                                show(p, 1, shown, sizeof shown),
                                show(s, n, shown + 8, sizeof shown - 8));
        if ((rc = parse_value(f, v, (size_t)(p - v), &lo, err))) return rc;
        hi = lo;
        if (p < end && *p == '-') {
            const char *w = ++p;
            while (p < end && is_alnum(*p))
                p++;
            if (p == w)
                return cpgo_err_set(err, CPGO_E_INPUT, "%s field: missing end of range in '%s'",
                                    f->name, show(s, n, shown, sizeof shown));
            if ((rc = parse_value(f, w, (size_t)(p - w), &hi, err))) return rc;
            if (hi < lo)
                return cpgo_err_set(err, CPGO_E_INPUT, "%s field: range '%s' ends before it starts",
                                    f->name, show(s, n, shown, sizeof shown));
        } else if (p < end && *p == '/') {
            hi = lo > f->star_max ? lo : f->star_max; /* "a/n" = "a-max/n" */
        }
    }
    if (p < end && *p == '/') {
        const char *w = ++p;
        while (p < end && is_alnum(*p))
            p++;
        if (p == w)
            return cpgo_err_set(err, CPGO_E_INPUT, "%s field: missing step after '/' in '%s'",
                                f->name, show(s, n, shown, sizeof shown));
        int limit = f->star_max - f->min + 1;
        long long x = 0;
        for (const char *q = w; q < p; q++) {
            if (*q < '0' || *q > '9')
                return cpgo_err_set(err, CPGO_E_INPUT, "%s field: step '%s' is not a number",
                                    f->name, show(w, (size_t)(p - w), shown, sizeof shown));
            if (x <= 1000) x = x * 10 + (*q - '0');
        }
        if (x < 1 || x > limit)
            return cpgo_err_set(err, CPGO_E_INPUT, "%s field: step %s is out of range 1-%d",
                                f->name, show(w, (size_t)(p - w), shown, sizeof shown), limit);
        step = (int)x;
    }
    if (p < end)
        return cpgo_err_set(err, CPGO_E_INPUT, "%s field: unexpected '%s' in '%s'", f->name,
                            show(p, 1, shown, sizeof shown),
                            show(s, n, shown + 8, sizeof shown - 8));
    for (int v = lo; v <= hi; v += step)
        *bits |= (uint64_t)1 << (f == &fields[F_DOW] ? v % 7 : v);
    return 0;
}

static int parse_field(const struct field_spec *f, const char *text, uint64_t *bits,
                       struct cpgo_err *err)
{
    size_t items = 1;
    for (const char *p = text; *p; p++)
        items += *p == ',';
    if (items > CRON_LIST_MAX)
        return cpgo_err_set(err, CPGO_E_INPUT,
                            "%s field: %zu list items, more than the limit of %d", f->name, items,
                            CRON_LIST_MAX);
    *bits = 0;
    const char *p = text;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 0) {
            char shown[72];
            return cpgo_err_set(err, CPGO_E_INPUT, "%s field: empty list item in '%s'", f->name,
                                show(text, strlen(text), shown, sizeof shown));
        }
        int rc = parse_item(f, p, n, bits, err);
        if (rc) return rc;
        if (!comma) return 0;
        p = comma + 1;
    }
}

static int parse_fields(struct cpgo_cron *c, char *const *tok, struct cpgo_err *err)
{
    uint64_t b[5];
    for (int i = 0; i < 5; i++) {
        int rc = parse_field(&fields[i], tok[i], &b[i], err);
        if (rc) return rc;
    }
    c->minute = b[F_MIN];
    c->hour = (uint32_t)b[F_HOUR];
    c->dom = (uint32_t)b[F_DOM];
    c->month = (uint16_t)b[F_MON];
    c->dow = (uint8_t)b[F_DOW];
    c->dom_star = tok[F_DOM][0] == '*' || tok[F_DOM][0] == '?';
    c->dow_star = tok[F_DOW][0] == '*' || tok[F_DOW][0] == '?';
    return 0;
}

static int ci_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (upper(*a) != upper(*b)) return 0;
    return *a == *b;
}

static int parse_macro(struct cpgo_cron *c, char *const *tok, int ntok, struct cpgo_err *err)
{
    static const struct {
        const char *name, *fields;
    } macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    char shown[72];
    if (ci_equal(tok[0], "@every")) {
        if (ntok != 2)
            return cpgo_err_set(err, CPGO_E_INPUT,
                                "@every takes one duration (e.g. @every 5m), got %d words",
                                ntok - 1);
        int64_t ms;
        int rc = cpgo_duration_parse(tok[1], &ms, err);
        if (rc) {
            cpgo_err_prefix(err, "@every");
            return rc;
        }
        show(tok[1], strlen(tok[1]), shown, sizeof shown);
        if (ms < 1000)
            return cpgo_err_set(err, CPGO_E_INPUT, "@every: %s is shorter than 1s", shown);
        if (ms % 1000)
            return cpgo_err_set(err, CPGO_E_INPUT, "@every: %s is not a whole number of seconds",
                                shown);
        if (ms / 1000 > FIVE_YEARS)
            return cpgo_err_set(err, CPGO_E_INPUT, "@every: %s is longer than 5 years", shown);
        c->every = ms / 1000;
        return 0;
    }
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
        if (!ci_equal(tok[0], macros[i].name)) continue;
        if (ntok != 1)
            return cpgo_err_set(err, CPGO_E_INPUT, "%s takes no fields, got %d more",
                                macros[i].name, ntok - 1);
        char buf[16], *ft[5], *save = NULL;
        snprintf(buf, sizeof buf, "%s", macros[i].fields);
        for (int k = 0; k < 5; k++)
            ft[k] = strtok_r(k ? NULL : buf, " ", &save);
        return parse_fields(c, ft, err);
    }
    return cpgo_err_set(err, CPGO_E_INPUT,
                        "unknown macro '%s' (expected @yearly, @annually, @monthly, @weekly, "
                        "@daily, @midnight, @hourly or @every <duration>)",
                        show(tok[0], strlen(tok[0]), shown, sizeof shown));
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

int cpgo_cron_parse(const char *expr, struct cpgo_cron **out, struct cpgo_err *err)
{
    *out = NULL;
    if (!expr) return cpgo_err_set(err, CPGO_E_INPUT, "empty schedule");
    size_t len = strnlen(expr, CRON_MAX + 1);
    if (len > CRON_MAX)
        return cpgo_err_set(err, CPGO_E_INPUT, "schedule is longer than %d bytes", CRON_MAX);

    /* split on white space; at most one token per two bytes */
    char buf[CRON_MAX + 1], *tok[CRON_MAX / 2 + 1];
    int ntok = 0;
    memcpy(buf, expr, len + 1);
    for (char *p = buf; *p;) {
        while (is_space(*p))
            *p++ = 0;
        if (!*p) break;
        tok[ntok++] = p;
        while (*p && !is_space(*p))
            p++;
    }
    if (!ntok) return cpgo_err_set(err, CPGO_E_INPUT, "empty schedule");

    struct cpgo_cron *c = calloc(1, sizeof *c);
    if (!c) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    size_t tl = 0;
    for (int i = 0; i < ntok; i++) {
        size_t n = strlen(tok[i]);
        if (i) c->text[tl++] = ' ';
        memcpy(c->text + tl, tok[i], n); /* the joined text is never longer than expr */
        tl += n;
    }
    c->text[tl] = 0;

    int first = 0, rc;
    const char *zone = NULL;
    if (!strncmp(tok[0], "CRON_TZ=", 8))
        zone = tok[0] + 8;
    else if (!strncmp(tok[0], "TZ=", 3))
        zone = tok[0] + 3;
    if (zone) {
        first = 1;
        if (!*zone) {
            rc = cpgo_err_set(err, CPGO_E_INPUT, "%.*s needs a zone name (e.g. %.*sEurope/Berlin)",
                              (int)(zone - tok[0]), tok[0], (int)(zone - tok[0]), tok[0]);
            goto fail;
        }
        if ((rc = cpgo_tz_load(zone, &c->tz, err))) {
            cpgo_err_prefix(err, "%.*s", (int)(zone - tok[0] - 1), tok[0]);
            goto fail;
        }
    }
    if (ntok > first && tok[first][0] == '@') {
        rc = parse_macro(c, tok + first, ntok - first, err);
    } else if (ntok - first != 5) {
        rc = cpgo_err_set(err, CPGO_E_INPUT, "expected 5 fields, got %d", ntok - first);
    } else {
        rc = parse_fields(c, tok + first, err);
    }
    if (rc) goto fail;
    *out = c;
    return 0;
fail:
    cpgo_cron_free(c);
    return rc;
}

void cpgo_cron_free(struct cpgo_cron *c)
{
    if (!c) return;
    cpgo_tz_free(c->tz);
    free(c);
}

const char *cpgo_cron_text(const struct cpgo_cron *c)
{
    return c->text;
}

/* ---- next ---------------------------------------------------------------------------- */

static int day_matches(const struct cpgo_cron *c, int64_t days, unsigned mday)
{
    unsigned wday = (unsigned)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    int dm = (c->dom >> mday) & 1, wm = (c->dow >> wday) & 1;
    if (c->dom_star || c->dow_star) return dm && wm;
    return dm || wm;
}

/* The first wall time >= t (a multiple of 60, as seconds since the epoch read as if UTC)
 * that matches the fields, if it is <= limit. Skips whole months, days and hours. */
static int match_from(const struct cpgo_cron *c, int64_t t, int64_t limit, int64_t *out)
{
    while (t <= limit) {
        int64_t days = cpgo_floor_div(t, DAY), y;
        unsigned mon, mday, secs = (unsigned)(t - days * DAY);
        unsigned h = secs / 3600, mi = secs / 60 % 60;
        cpgo_civil_from_days(days, &y, &mon, &mday);
        if (!((c->month >> mon) & 1)) {
            unsigned m = mon + 1;
            while (m <= 12 && !((c->month >> m) & 1))
                m++;
            if (m > 12) {
                y++;
                m = (unsigned)__builtin_ctz(c->month); /* month is never empty */
            }
            t = cpgo_days_from_civil(y, m, 1) * DAY;
            continue;
        }
        if (!day_matches(c, days, mday)) {
            t = (days + 1) * DAY;
            continue;
        }
        uint32_t hrest = c->hour >> h;
        if (!hrest) {
            t = (days + 1) * DAY;
            continue;
        }
        if (!(hrest & 1)) {
            t = days * DAY + (int64_t)(h + (unsigned)__builtin_ctz(hrest)) * 3600;
            continue;
        }
        uint64_t mrest = c->minute >> mi;
        if (!mrest) {
            t = days * DAY + (int64_t)(h + 1) * 3600;
            continue;
        }
        t += (int64_t)__builtin_ctzll(mrest) * 60;
        *out = t;
        return 0;
    }
    return -1;
}

/* The first instant u with u + offset(u) == wall, or -1 when wall falls in a gap. The
 * offsets that can apply are those in force within a day either side; each one tried that
 * does not hold reveals the offset at that instant, which is tried in turn. */
static int first_instant(const struct cpgo_tz *z, int64_t wall, int64_t *u)
{
    int32_t offs[8];
    int n = 0, found = 0;
    int64_t best = 0;
    offs[n++] = cpgo_tz_offset(z, wall - DAY);
    int32_t o = cpgo_tz_offset(z, wall + DAY);
    if (o != offs[0]) offs[n++] = o;
    for (int i = 0; i < n; i++) {
        int64_t cand = wall - offs[i];
        o = cpgo_tz_offset(z, cand);
        if (o == offs[i]) {
            if (!found || cand < best) best = cand;
            found = 1;
            continue;
        }
        int seen = 0;
        for (int k = 0; k < n; k++)
            seen |= offs[k] == o;
        if (!seen && n < 8) offs[n++] = o;
    }
    *u = best;
    return found ? 0 : -1;
}

static int fields_next(const struct cpgo_cron *c, int64_t after, int64_t *next)
{
    int64_t limit = after + FIVE_YEARS, wall;
    if (!c->tz) {
        if (match_from(c, cpgo_floor_div(after, 60) * 60 + 60, limit, &wall)) return CPGO_E_INPUT;
        *next = wall;
        return 0;
    }
    /* Start at the earliest wall time that can map to an instant after `after`: if the
     * offset drops within the next day, wall times just before the current one come again. */
    int32_t o1 = cpgo_tz_offset(c->tz, after), o2 = cpgo_tz_offset(c->tz, after + OFF_SPAN);
    int64_t t = cpgo_floor_div(after + (o1 < o2 ? o1 : o2), 60) * 60;
    for (;;) {
        if (match_from(c, t, limit + OFF_SPAN, &wall)) return CPGO_E_INPUT;
        int64_t u = 0;
        if (!first_instant(c->tz, wall, &u) && u > after) {
            if (u > limit) return CPGO_E_INPUT;
            *next = u;
            return 0;
        }
        t = wall + 60;
    }
}

int cpgo_cron_next(const struct cpgo_cron *c, int64_t after, int64_t *next)
{
    if (!c || !next) return CPGO_E_USAGE;
    if (after > T_LIMIT || after < -T_LIMIT) return CPGO_E_INPUT;
    if (c->every) {
        *next = (cpgo_floor_div(after, c->every) + 1) * c->every;
        return 0;
    }
    return fields_next(c, after, next);
}

/* ---- min period ---------------------------------------------------------------------- */

/* The step in which the zone's offset changes over [from, to]: the gcd of 3600 and every
 * offset's difference from the first (3600 for UTC and whole-hour DST, 1800 for
 * Australia/Lord_Howe). Sampled hourly; zones do not change twice within an hour. */
static int64_t offset_grain(const struct cpgo_tz *z, int64_t from, int64_t to)
{
    int64_t g = 3600, first = cpgo_tz_offset(z, from);
    for (int64_t t = from; t <= to && g > 60; t += 3600) {
        int64_t d = cpgo_tz_offset(z, t) - first, r;
        if (d < 0) d = -d;
        while (d)
            r = g % d, g = d, d = r;
    }
    return g;
}

/* A lower bound for the real gap between two fire times. The wall-clock gap from minute m1
 * to minute m2 is (m2 - m1) mod 60 minutes plus whole hours; an offset change moves the
 * real gap by a multiple of the grain g (which divides 3600), so the real gap is the
 * smallest positive value congruent to that distance mod g, or more. */
static int64_t gap_floor(uint64_t mask, int64_t g)
{
    int64_t best = INT64_MAX;
    for (int m1 = 0; m1 < 60; m1++) {
        if (!((mask >> m1) & 1)) continue;
        for (int m2 = 0; m2 < 60; m2++) {
            if (!((mask >> m2) & 1)) continue;
            int64_t r = (int64_t)((m2 - m1 + 60) % 60) * 60 % g;
            if ((r ? r : g) < best) best = r ? r : g;
        }
    }
    return best;
}

int64_t cpgo_cron_min_period(const struct cpgo_cron *c)
{
    if (c->every) return c->every;
    /* A fixed reference makes the answer the same whenever it is asked. 2028 is a leap
     * year, so schedules that fire on Feb 29 are measured with it. */
    const int64_t ref = cpgo_days_from_civil(2028, 1, 1) * DAY, end = ref + 366 * DAY;
    /* Walking a year of "*\/5" fire times costs ~100k steps; stopping as soon as a gap
     * reaches the lower bound makes the common cases immediate. */
    int64_t floor_gap =
        gap_floor(c->minute, c->tz ? offset_grain(c->tz, ref - DAY, end + DAY) : 3600);
    int64_t prev, cur, best = INT64_MAX;
    if (cpgo_cron_next(c, ref - 1, &prev)) return INT64_MAX; /* never fires */
    /* gaps that start within the year; or, for a schedule that fires less than twice a
     * year, the first gap whatever its length */
    while ((prev < end || best == INT64_MAX) && cpgo_cron_next(c, prev, &cur) == 0) {
        if (cur - prev < best) best = cur - prev;
        if (best <= floor_gap) break;
        prev = cur;
    }
    return best;
}
