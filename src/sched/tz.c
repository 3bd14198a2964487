/*
 * tz.c - see tz.h.
 *
 * Why not localtime_r: it depends on the process's TZ and tzset(), which are global state
 * other threads use. So a zone is read here, once, into an immutable table:
 *
 *   - the TZif file (RFC 8536) under $TZDIR or /usr/share/zoneinfo: the 64-bit (v2+) data
 *     block when there is one, else the 32-bit v1 block. Only transition times, their type
 *     indexes and each type's UT offset are kept; abbreviations and the std/wall and UT/local
 *     indicators are of no use to a scheduler.
 *   - its footer, a POSIX TZ string ("EST5EDT,M3.2.0,M11.1.0"), which gives the offset for
 *     every time after the last transition. Debian ships "fat" files with transitions to
 *     2037, so the footer matters for later times, and for the whole life of zones that have
 *     no table at all (Etc/GMT+5).
 *
 * Invariants of a loaded zone: transition times strictly increase; every type index is
 * below the type count; every offset is within RFC 8536's range (-89999..93599), so callers
 * can add an offset to a time without overflow concerns for any sane time. Files are read
 * whole under a 1 MiB ceiling and every count is checked against the bytes actually there
 * before it is used. Zones with leap-second tables ("right/...") are refused: their
 * transition times are not Unix times.
 *
 * Calendar math is done here (days-from-civil, after H. Hinnant), never by libc.
 */
#include "sched/tz.h"

#include "base/file.h"
#include "sched/civil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_NAME_MAX 255
#define TZ_FILE_MAX (1u << 20)
#define TZ_FOOTER_MAX 256
#define TZ_OFF_MIN (-89999)
#define TZ_OFF_MAX 93599
#define DAY 86400
/* 400 Gregorian years are exactly 146097 days, a whole number of weeks: rule-based offsets
 * repeat with this period, which lets far-away times be folded into a computable range. */
#define CYCLE_SECS ((int64_t)146097 * DAY)
#define FOLD_LIMIT ((int64_t)1 << 40) /* about 34,800 years: year math stays far from overflow */

/* One date rule of a POSIX TZ string: Jn (1..365, no Feb 29), n (0..365), or Mm.w.d. */
struct tz_rule {
    char kind; /* 'J', 'N' or 'M' */
    int a, b, c;
    int32_t time; /* seconds after local midnight; RFC 8536 allows -167h..167h */
};

struct cpgo_tz {
    char name[TZ_NAME_MAX + 1];
    uint32_t n;      /* transitions */
    int64_t *at;     /* [n] transition times, strictly increasing */
    uint8_t *type;   /* [n] index into off */
    uint32_t ntypes; /* >= 1 */
    int32_t *off;    /* [ntypes] UT offsets, east positive */
    int has_footer;  /* the POSIX string below is in force after the last transition */
    int has_dst;
    int32_t std_off, dst_off;  /* east positive (the POSIX string is west positive) */
    struct tz_rule start, end; /* to DST, back to standard */
};

/* ---- calendar ------------------------------------------------------------------------ */

static int64_t year_of_days(int64_t z)
{
    int64_t y;
    unsigned m, d;
    cpgo_civil_from_days(z, &y, &m, &d);
    return y;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* ---- POSIX TZ footer ----------------------------------------------------------------- */

/* Reads up to `maxdig` digits as a number in [0, max]; -1 if none or out of range. */
static int read_num(const char **pp, int max)
{
    const char *p = *pp;
    int v = 0, n = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (++n > 3 || v > max) return -1;
    }
    if (!n) return -1;
    *pp = p;
    return v;
}

/* [+-]hh[:mm[:ss]] with hh in 0..maxh; the result in seconds, signed. 0 on success. */
static int read_hms(const char **pp, int maxh, int32_t *out)
{
    const char *p = *pp;
    int sign = 1;
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    int h = read_num(&p, maxh), m = 0, s = 0;
    if (h < 0) return -1;
    if (*p == ':') {
        p++;
        if ((m = read_num(&p, 59)) < 0) return -1;
        if (*p == ':') {
            p++;
            if ((s = read_num(&p, 59)) < 0) return -1;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    *pp = p;
    return 0;
}

/* A zone abbreviation: three or more letters, or "<...>" of letters, digits, '+' and '-'. */
static int read_abbr(const char **pp)
{
    const char *p = *pp;
    size_t n = 0;
    if (*p == '<') {
        p++;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
               *p == '+' || *p == '-') {
            p++;
            n++;
        }
        if (*p++ != '>') return -1;
    } else {
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
            p++;
            n++;
        }
    }
    if (n < 3) return -1;
    *pp = p;
    return 0;
}

static int read_rule(const char **pp, struct tz_rule *r)
{
    const char *p = *pp;
    if (*p == 'J') {
        p++;
        r->kind = 'J';
        if ((r->a = read_num(&p, 365)) < 1) return -1;
    } else if (*p == 'M') {
        p++;
        r->kind = 'M';
        if ((r->a = read_num(&p, 12)) < 1 || *p++ != '.') return -1;
        if ((r->b = read_num(&p, 5)) < 1 || *p++ != '.') return -1;
        if ((r->c = read_num(&p, 6)) < 0) return -1;
    } else {
        r->kind = 'N';
        if ((r->a = read_num(&p, 365)) < 0) return -1;
    }
    r->time = 7200; /* POSIX default: 02:00 */
    if (*p == '/' && (p++, read_hms(&p, 167, &r->time))) return -1;
    *pp = p;
    return 0;
}

/* Parses "std offset [dst [offset] [,start[/time],end[/time]]]" into z. */
static int parse_posix(struct cpgo_tz *z, const char *s)
{
    const char *p = s;
    int32_t v;
    if (read_abbr(&p) || read_hms(&p, 24, &v)) return -1;
    z->std_off = -v;
    z->has_dst = 0;
    if (*p) {
        if (read_abbr(&p)) return -1;
        z->dst_off = z->std_off + 3600;
        if (*p && *p != ',') {
            if (read_hms(&p, 24, &v)) return -1;
            z->dst_off = -v;
        }
        if (*p == ',') {
            p++;
            if (read_rule(&p, &z->start) || *p++ != ',' || read_rule(&p, &z->end)) return -1;
        } else {
            /* no rule: the US rule, as glibc assumes */
            z->start = (struct tz_rule){'M', 3, 2, 0, 7200};
            z->end = (struct tz_rule){'M', 11, 1, 0, 7200};
        }
        z->has_dst = 1;
    }
    return *p ? -1 : 0;
}

/* Seconds since the epoch, as a local wall time, at which rule r takes effect in year y. */
static int64_t rule_local(int64_t y, const struct tz_rule *r)
{
    int64_t jan1 = cpgo_days_from_civil(y, 1, 1), yday;
    if (r->kind == 'J') {
        yday = r->a - 1 + (is_leap(y) && r->a >= 60);
    } else if (r->kind == 'N') {
        yday = r->a;
    } else {
        static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int64_t first = cpgo_days_from_civil(y, (unsigned)r->a, 1);
        int wd = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
        int dim = mdays[r->a - 1] + (r->a == 2 && is_leap(y));
        int day = 1 + (r->c - wd + 7) % 7 + (r->b - 1) * 7;
        while (day > dim)
            day -= 7; /* week 5 means "the last" */
        yday = first - jan1 + day - 1;
    }
    return (jan1 + yday) * DAY + r->time;
}

static int32_t footer_offset(const struct cpgo_tz *z, int64_t t)
{
    if (!z->has_dst) return z->std_off;
    if (t > FOLD_LIMIT || t < -FOLD_LIMIT) t -= cpgo_floor_div(t, CYCLE_SECS) * CYCLE_SECS;
    /* The transitions of the years around t, in time order; the last one at or before t
     * decides. Looking at three years copes with rules whose /time pushes a change across
     * New Year, and with DST all year round ("0/0,J365/25"). */
    int64_t y = year_of_days(cpgo_floor_div(t, DAY));
    int64_t when[6];
    int isdst[6] = {0};
    const int n = 6;
    for (int k = 0; k < 3; k++) {
        int64_t s = rule_local(y - 1 + k, &z->start) - z->std_off;
        int64_t e = rule_local(y - 1 + k, &z->end) - z->dst_off;
        int first_dst = s <= e; /* which change comes first within the year */
        when[2 * k] = first_dst ? s : e;
        isdst[2 * k] = first_dst;
        when[2 * k + 1] = first_dst ? e : s;
        isdst[2 * k + 1] = !first_dst;
    }
    /* Years are already in order except where a rule's time spills into the next year;
     * a stable insertion sort keeps ties in generation order (a later year's start wins). */
    for (int i = 1; i < n; i++) {
        for (int j = i; j > 0 && when[j - 1] > when[j]; j--) {
            int64_t tw = when[j];
            int td = isdst[j];
            when[j] = when[j - 1], isdst[j] = isdst[j - 1];
            when[j - 1] = tw, isdst[j - 1] = td;
        }
    }
    int dst = !isdst[0];
    for (int i = 0; i < n && when[i] <= t; i++)
        dst = isdst[i];
    return dst ? z->dst_off : z->std_off;
}

int32_t cpgo_tz_offset(const struct cpgo_tz *z, int64_t t)
{
    if (!z) return 0;
    if (z->n == 0) return z->has_footer ? footer_offset(z, t) : z->off[0];
    /* before the first transition: type 0 (RFC 8536 section 3.2) */
    if (t < z->at[0]) return z->off[0];
    if (t > z->at[z->n - 1] && z->has_footer) return footer_offset(z, t);
    uint32_t lo = 0, hi = z->n; /* the last i with at[i] <= t */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->off[z->type[lo]];
}

const char *cpgo_tz_name(const struct cpgo_tz *z)
{
    return z ? z->name : "UTC";
}

void cpgo_tz_free(struct cpgo_tz *z)
{
    free(z); /* one block: the arrays live behind the struct */
}

/* ---- TZif ---------------------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_hdr {
    char version;
    uint32_t isut, isstd, leap, time, type, chars;
};

static int read_hdr(const unsigned char *p, size_t len, struct tzif_hdr *h)
{
    if (len < 44 || memcmp(p, "TZif", 4)) return -1;
    h->version = (char)p[4];
    h->isut = be32(p + 20);
    h->isstd = be32(p + 24);
    h->leap = be32(p + 28);
    h->time = be32(p + 32);
    h->type = be32(p + 36);
    h->chars = be32(p + 40);
    /* RFC 8536 3.1: the indicator counts are zero or typecnt, and typecnt is 1..256 */
    if (h->type == 0 || h->type > 256) return -1;
    if ((h->isut && h->isut != h->type) || (h->isstd && h->isstd != h->type)) return -1;
    return 0;
}

/* Size of the data block that follows a header; tsize is 4 (v1) or 8 (v2+). Counts are at
 * most 2^32 and tsize at most 12 per entry, so 64-bit arithmetic cannot overflow. */
static uint64_t block_size(const struct tzif_hdr *h, unsigned tsize)
{
    return (uint64_t)h->time * (tsize + 1) + (uint64_t)h->type * 6 + h->chars +
           (uint64_t)h->leap * (tsize + 4) + h->isstd + h->isut;
}

static int bad_file(struct cpgo_err *err, const char *name, const char *why)
{
    return cpgo_err_set(err, CPGO_E_INPUT, "time zone '%s': not a valid TZif file (%s)", name, why);
}

static int parse_tzif(const char *name, const unsigned char *data, size_t len, struct cpgo_tz **out,
                      struct cpgo_err *err)
{
    struct tzif_hdr h;
    if (read_hdr(data, len, &h)) return bad_file(err, name, "bad header");
    unsigned tsize = 4;
    const unsigned char *p = data + 44, *end = data + len;
    uint64_t bs = block_size(&h, 4);
    if (bs > (uint64_t)(end - p)) return bad_file(err, name, "truncated");
    if (h.version >= '2') {
        p += bs;
        if (read_hdr(p, (size_t)(end - p), &h)) return bad_file(err, name, "bad v2 header");
        p += 44;
        tsize = 8;
        bs = block_size(&h, 8);
        if (bs > (uint64_t)(end - p)) return bad_file(err, name, "truncated");
    }
    if (h.leap)
        return cpgo_err_set(err, CPGO_E_INPUT,
                            "time zone '%s' counts leap seconds, which is not supported", name);

    struct cpgo_tz *z = calloc(1, sizeof *z + (size_t)h.time * 9 + (size_t)h.type * 4);
    if (!z) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory loading time zone '%s'", name);
    z->at = (int64_t *)(z + 1);
    z->off = (int32_t *)(z->at + h.time);
    z->type = (uint8_t *)(z->off + h.type);
    z->n = h.time;
    z->ntypes = h.type;
    snprintf(z->name, sizeof z->name, "%s", name);

    const char *why = NULL;
    const unsigned char *tt = p, *ti = p + (size_t)h.time * tsize, *ty = ti + h.time;
    for (uint32_t i = 0; i < h.time && !why; i++) {
        z->at[i] = tsize == 8 ? be64(tt + (size_t)i * 8) : (int32_t)be32(tt + (size_t)i * 4);
        z->type[i] = ti[i];
        if (ti[i] >= h.type)
            why = "transition type out of range";
        else if (i && z->at[i] <= z->at[i - 1])
            why = "transitions out of order";
    }
    for (uint32_t i = 0; i < h.type && !why; i++) {
        int32_t o = (int32_t)be32(ty + (size_t)i * 6);
        if (o < TZ_OFF_MIN || o > TZ_OFF_MAX) why = "UT offset out of range";
        z->off[i] = o;
    }
    p += bs;
    if (!why && tsize == 8) {
        /* footer: "\n" POSIX-TZ "\n"; an empty string means "no rule" */
        size_t rest = (size_t)(end - p);
        const unsigned char *nl = rest > 1 ? memchr(p + 1, '\n', rest - 1) : NULL;
        if (rest < 2 || p[0] != '\n' || !nl) {
            why = "missing footer";
        } else if (nl - p - 1 > TZ_FOOTER_MAX) {
            why = "footer too long";
        } else if (nl > p + 1) {
            char tzs[TZ_FOOTER_MAX + 1];
            memcpy(tzs, p + 1, (size_t)(nl - p - 1));
            tzs[nl - p - 1] = 0;
            if (memchr(tzs, 0, (size_t)(nl - p - 1)) || parse_posix(z, tzs))
                why = "footer is not a POSIX TZ string this reader understands";
            else
                z->has_footer = 1;
        }
    }
    if (why) {
        free(z);
        return bad_file(err, name, why);
    }
    *out = z;
    return 0;
}

/* IANA names are letters, digits and "/_+-." in non-empty components; a component may not
 * start with '.', which refuses "..", "." and hidden files alike. */
static int name_ok(const char *name)
{
    if (name[0] == '/') return 0;
    int start = 1;
    for (const char *p = name; *p; p++) {
        char ch = *p;
        if (ch == '/') {
            if (start) return 0; /* empty component */
            start = 1;
            continue;
        }
        if (start && ch == '.') return 0;
        start = 0;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '+' || ch == '-' || ch == '.'))
            return 0;
    }
    return !start;
}

static int read_file(const char *path, const char *name, unsigned char **data, size_t *len,
                     struct cpgo_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return cpgo_err_set(err, CPGO_E_INPUT, "unknown time zone '%s'", name);
        return cpgo_err_set(err, CPGO_E_IO, "time zone '%s': cannot open %s: %s", name, path,
                            strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return cpgo_err_set(err, CPGO_E_INPUT, "unknown time zone '%s'", name);
    }
    struct cpgo_err e;
    int rc = cpgo_file_read_fd(fd, path, TZ_FILE_MAX, data, len, &e);
    close(fd);
    if (rc == CPGO_E_LIMIT)
        return cpgo_err_set(err, CPGO_E_INPUT, "time zone '%s': file is larger than %u bytes", name,
                            TZ_FILE_MAX);
    if (rc == CPGO_E_NOMEM)
        return cpgo_err_set(err, rc, "out of memory loading time zone '%s'", name);
    if (rc) return cpgo_err_set(err, rc, "time zone '%s': %s", name, e.text);
    return 0;
}

int cpgo_tz_load(const char *name, struct cpgo_tz **out, struct cpgo_err *err)
{
    *out = NULL;
    if (!name || !*name) return cpgo_err_set(err, CPGO_E_INPUT, "empty time zone name");
    if (strnlen(name, TZ_NAME_MAX + 1) > TZ_NAME_MAX)
        return cpgo_err_set(err, CPGO_E_INPUT, "time zone name is longer than %d bytes",
                            TZ_NAME_MAX);
    if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC") || !strcmp(name, "GMT") ||
        !strcmp(name, "Z")) {
        struct cpgo_tz *z = calloc(1, sizeof *z + sizeof(int32_t));
        if (!z) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
        z->off = (int32_t *)(z + 1);
        z->ntypes = 1;
        snprintf(z->name, sizeof z->name, "%s", name);
        *out = z;
        return 0;
    }
    if (!name_ok(name))
        return cpgo_err_set(err, CPGO_E_INPUT,
                            "'%.64s' is not a time zone name (like Europe/Berlin; no '..', no "
                            "leading '/', letters, digits and /_+-. only)",
                            name);
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir) dir = "/usr/share/zoneinfo";
    char path[4096];
    int pl = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (pl < 0 || (size_t)pl >= sizeof path)
        return cpgo_err_set(err, CPGO_E_INPUT, "time zone '%s': path is too long", name);
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = read_file(path, name, &data, &len, err);
    if (rc) return rc;
    if (len > TZ_FILE_MAX) {
        free(data);
        return cpgo_err_set(err, CPGO_E_INPUT, "time zone '%s': file is larger than %u bytes", name,
                            TZ_FILE_MAX);
    }
    rc = parse_tzif(name, data, len, out, err);
    free(data);
    return rc;
}
