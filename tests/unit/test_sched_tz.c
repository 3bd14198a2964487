/*
 * Unit tests for sched/tz: offsets around transitions for real zones (from the table and,
 * past 2037, from the POSIX footer), footers with unusual rules in hand-made TZif files
 * (under a temporary $TZDIR), the 400-year fold for far-away times, and refusals: unsafe
 * names, unknown zones, and malformed files.
 *
 * Expected offsets were computed with Python's zoneinfo (and glibc where noted) and are
 * hard-coded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "check.h"
#include "sched/tz.h"

/* "YYYY-MM-DDTHH:MM:SSZ" -> Unix seconds (days-from-civil). */
static int64_t ts(const char *s)
{
    int y, mo, d, h, mi, se;
    if (sscanf(s, "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &se) != 6) abort();
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return days * 86400 + h * 3600 + mi * 60 + se;
}

struct off_case {
    const char *zone, *when;
    int32_t off;
};

static void check_offsets(const struct off_case *cases, size_t n)
{
    struct cpgo_tz *z = NULL;
    const char *loaded = "";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cases[i].zone, loaded)) {
            cpgo_tz_free(z);
            z = NULL;
            struct cpgo_err err = {0};
            int rc = cpgo_tz_load(cases[i].zone, &z, &err);
            CHECK_EQ_INT(rc, 0);
            if (rc) fprintf(stderr, "  loading %s: %s\n", cases[i].zone, err.text);
            loaded = cases[i].zone;
        }
        if (!z) continue;
        CHECK(!strcmp(cpgo_tz_name(z), cases[i].zone));
        int32_t got = cpgo_tz_offset(z, ts(cases[i].when));
        CHECK_EQ_INT(got, cases[i].off);
        if (got != cases[i].off) fprintf(stderr, "  %s at %s\n", cases[i].zone, cases[i].when);
    }
    cpgo_tz_free(z);
}

static const struct off_case real_cases[] = {
    /* America/New_York: 2026 from the table, 2040 and 2099 from the footer EST5EDT,M3.2.0,M11.1.0
     */
    {"America/New_York", "2026-03-08T06:59:59Z", -18000},
    {"America/New_York", "2026-03-08T07:00:00Z", -14400},
    {"America/New_York", "2026-11-01T05:59:59Z", -14400},
    {"America/New_York", "2026-11-01T06:00:00Z", -18000},
    {"America/New_York", "1883-11-18T16:59:59Z", -17762}, /* local mean time */
    {"America/New_York", "1950-06-01T00:00:00Z", -14400},
    {"America/New_York", "2040-03-11T06:59:59Z", -18000},
    {"America/New_York", "2040-03-11T07:00:00Z", -14400},
    {"America/New_York", "2040-11-04T05:59:59Z", -14400},
    {"America/New_York", "2040-11-04T06:00:00Z", -18000},
    {"America/New_York", "2099-07-01T00:00:00Z", -14400},
    /* Europe/Berlin: CET-1CEST,M3.5.0,M10.5.0/3 */
    {"Europe/Berlin", "2026-03-29T00:59:59Z", 3600},
    {"Europe/Berlin", "2026-03-29T01:00:00Z", 7200},
    {"Europe/Berlin", "2026-10-25T00:59:59Z", 7200},
    {"Europe/Berlin", "2026-10-25T01:00:00Z", 3600},
    {"Europe/Berlin", "1945-06-01T00:00:00Z", 10800}, /* double summer time */
    {"Europe/Berlin", "2045-03-26T00:59:59Z", 3600},
    {"Europe/Berlin", "2045-03-26T01:00:00Z", 7200},
    {"Europe/Berlin", "2045-10-29T00:59:59Z", 7200},
    {"Europe/Berlin", "2045-10-29T01:00:00Z", 3600},
    /* Asia/Kolkata: IST-5:30 */
    {"Asia/Kolkata", "2026-01-01T00:00:00Z", 19800},
    {"Asia/Kolkata", "1943-01-01T00:00:00Z", 23400},
    {"Asia/Kolkata", "2050-06-01T00:00:00Z", 19800},
    /* Australia/Lord_Howe: <+1030>-10:30<+11>-11,M10.1.0,M4.1.0 (a 30-minute shift) */
    {"Australia/Lord_Howe", "2026-04-04T14:59:59Z", 39600},
    {"Australia/Lord_Howe", "2026-04-04T15:00:00Z", 37800},
    {"Australia/Lord_Howe", "2026-10-03T15:29:59Z", 37800},
    {"Australia/Lord_Howe", "2026-10-03T15:30:00Z", 39600},
    {"Australia/Lord_Howe", "2050-04-02T14:59:59Z", 39600},
    {"Australia/Lord_Howe", "2050-04-02T15:00:00Z", 37800},
    {"Australia/Lord_Howe", "2050-10-01T15:29:59Z", 37800},
    {"Australia/Lord_Howe", "2050-10-01T15:30:00Z", 39600},
    /* footers with unusual rules, in 2041 */
    {"America/Nuuk", "2041-03-31T00:59:59Z", -7200}, /* <-02>2<-01>,M3.5.0/-1,M10.5.0/0 */
    {"America/Nuuk", "2041-03-31T01:00:00Z", -3600},
    {"America/Nuuk", "2041-10-27T00:59:59Z", -3600},
    {"America/Nuuk", "2041-10-27T01:00:00Z", -7200},
    {"America/Santiago", "2041-04-07T02:59:59Z", -10800}, /* <-04>4<-03>,M9.1.6/24,M4.1.6/24 */
    {"America/Santiago", "2041-04-07T03:00:00Z", -14400},
    {"America/Santiago", "2041-09-08T03:59:59Z", -14400},
    {"America/Santiago", "2041-09-08T04:00:00Z", -10800},
    {"Pacific/Chatham", "2041-04-06T13:59:59Z", 49500}, /* +12:45 / +13:45 */
    {"Pacific/Chatham", "2041-04-06T14:00:00Z", 45900},
    {"Pacific/Chatham", "2041-09-28T13:59:59Z", 45900},
    {"Pacific/Chatham", "2041-09-28T14:00:00Z", 49500},
    {"Europe/Dublin", "2041-03-31T00:59:59Z", 0}, /* IST-1GMT0,M10.5.0,M3.5.0/1: negative DST */
    {"Europe/Dublin", "2041-03-31T01:00:00Z", 3600},
    {"Europe/Dublin", "2041-10-27T00:59:59Z", 3600},
    {"Europe/Dublin", "2041-10-27T01:00:00Z", 0},
    {"Antarctica/Troll", "2041-03-31T00:59:59Z", 0}, /* a two-hour shift */
    {"Antarctica/Troll", "2041-03-31T01:00:00Z", 7200},
    {"Antarctica/Troll", "2041-10-27T00:59:59Z", 7200},
    {"Antarctica/Troll", "2041-10-27T01:00:00Z", 0},
    /* no transitions at all */
    {"Etc/GMT+5", "2026-01-01T00:00:00Z", -18000},
    {"Etc/GMT+5", "1900-01-01T00:00:00Z", -18000},
    {"Etc/GMT+5", "2300-01-01T00:00:00Z", -18000},
    {"Asia/Tokyo", "2026-01-01T00:00:00Z", 32400},
    {"Asia/Tokyo", "2200-01-01T00:00:00Z", 32400},
};

static void test_real_zones(void)
{
    check_offsets(real_cases, sizeof real_cases / sizeof real_cases[0]);

    /* built in, no file needed */
    static const char *const utc[] = {"UTC", "Etc/UTC", "GMT", "Z"};
    for (size_t i = 0; i < 4; i++) {
        struct cpgo_tz *z = NULL;
        struct cpgo_err err;
        CHECK_EQ_INT(cpgo_tz_load(utc[i], &z, &err), 0);
        if (!z) continue;
        CHECK_EQ_INT(cpgo_tz_offset(z, 0), 0);
        CHECK_EQ_INT(cpgo_tz_offset(z, INT64_MAX), 0);
        CHECK(!strcmp(cpgo_tz_name(z), utc[i]));
        cpgo_tz_free(z);
    }
    CHECK_EQ_INT(cpgo_tz_offset(NULL, 12345), 0);
    CHECK(!strcmp(cpgo_tz_name(NULL), "UTC"));
}

/* Footer rules repeat every 400 years (146097 days, a whole number of weeks), which is how
 * times beyond any calendar are answered; the table's extremes must not crash either. */
static void test_far_times(void)
{
    static const char *const zones[] = {"America/New_York", "Australia/Lord_Howe", "Europe/Dublin",
                                        "America/Santiago"};
    const int64_t cycle = (int64_t)146097 * 86400;
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        struct cpgo_tz *z = NULL;
        struct cpgo_err err;
        CHECK_EQ_INT(cpgo_tz_load(zones[i], &z, &err), 0);
        if (!z) continue;
        int mismatches = 0;
        for (int64_t t = ts("2040-01-01T00:00:00Z"); t < ts("2041-01-01T00:00:00Z"); t += 3607) {
            int32_t o = cpgo_tz_offset(z, t);
            if (cpgo_tz_offset(z, t + 400 * cycle) != o) mismatches++;    /* folded */
            if (cpgo_tz_offset(z, t + 100000 * cycle) != o) mismatches++; /* folded */
            if (cpgo_tz_offset(z, t + 2 * cycle) != o) mismatches++;      /* computed */
        }
        CHECK_EQ_INT(mismatches, 0);
        int32_t o = cpgo_tz_offset(z, INT64_MAX);
        CHECK(o > -86400 && o < 86400);
        o = cpgo_tz_offset(z, INT64_MIN);
        CHECK(o > -86400 && o < 86400);
        cpgo_tz_free(z);
    }
}

/* ---- hand-made TZif files ------------------------------------------------------------ */

static void put32(unsigned char **p, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        *(*p)++ = (unsigned char)(v >> (8 * i));
}

/* A TZif file: version '\0' (v1 only) or '2'/'3' (v1 block, v2 block, footer). Each type is
 * (offset, isdst=0, abbreviation index 0) and the abbreviations are "XXX". */
static size_t tzif(unsigned char *buf, char version, const int64_t *at, const uint8_t *idx,
                   uint32_t n, const int32_t *offs, uint32_t ntypes, const char *footer,
                   uint32_t leaps)
{
    unsigned char *p = buf;
    for (int pass = 0; pass < (version ? 2 : 1); pass++) {
        unsigned tsize = pass ? 8 : 4;
        memcpy(p, "TZif", 4);
        p[4] = (unsigned char)version;
        memset(p + 5, 0, 15);
        p += 20;
        put32(&p, 0);
        put32(&p, 0);
        put32(&p, leaps);
        put32(&p, n);
        put32(&p, ntypes);
        put32(&p, 4);
        for (uint32_t i = 0; i < n; i++) {
            if (tsize == 8) put32(&p, (uint32_t)((uint64_t)at[i] >> 32));
            put32(&p, (uint32_t)at[i]);
        }
        for (uint32_t i = 0; i < n; i++)
            *p++ = idx[i];
        for (uint32_t i = 0; i < ntypes; i++) {
            put32(&p, (uint32_t)offs[i]);
            *p++ = 0;
            *p++ = 0;
        }
        memcpy(p, "XXX", 4);
        p += 4;
        for (uint32_t i = 0; i < leaps; i++) {
            if (tsize == 8) put32(&p, 0);
            put32(&p, 78796800);
            put32(&p, 1);
        }
    }
    if (version) p += sprintf((char *)p, "\n%s\n", footer);
    return (size_t)(p - buf);
}

static char tzdir[64];

static void write_zone(const char *name, const unsigned char *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tzdir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_EQ_INT(fwrite(data, 1, len, f), len);
    fclose(f);
}

static const struct off_case crafted_cases[] = {
    /* "<+0530>-5:30": a quoted name and a minutes offset, no table */
    {"Test/Kolkata", "1900-01-01T00:00:00Z", 19800},
    {"Test/Kolkata", "2026-01-01T00:00:00Z", 19800},
    /* "AAA3BBB,M3.2.0/26,M11.1.6/-25:30": rule times past 24h and negative */
    {"Test/Late", "2026-01-01T00:00:00Z", -10800},
    {"Test/Late", "2026-03-09T04:59:59Z", -10800},
    {"Test/Late", "2026-03-09T05:00:00Z", -7200},
    {"Test/Late", "2026-11-06T00:29:59Z", -7200},
    {"Test/Late", "2026-11-06T00:30:00Z", -10800},
    {"Test/Late", "2028-03-13T04:59:59Z", -10800},
    {"Test/Late", "2028-03-13T05:00:00Z", -7200},
    {"Test/Late", "2028-11-03T00:29:59Z", -7200},
    {"Test/Late", "2028-11-03T00:30:00Z", -10800},
    /* "CCC-2DDD-3,J60/2,300/167": Jn skips Feb 29, n counts it (zero-based). CPython's
     * zoneinfo puts the n-form one day early; these values agree with glibc. */
    {"Test/Jrule", "2026-01-01T00:00:00Z", 7200},
    {"Test/Jrule", "2026-02-28T23:59:59Z", 7200},
    {"Test/Jrule", "2026-03-01T00:00:00Z", 10800},
    {"Test/Jrule", "2026-11-03T19:59:59Z", 10800},
    {"Test/Jrule", "2026-11-03T20:00:00Z", 7200},
    {"Test/Jrule", "2028-02-29T23:59:59Z", 7200},
    {"Test/Jrule", "2028-03-01T00:00:00Z", 10800},
    {"Test/Jrule", "2028-11-02T19:59:59Z", 10800},
    {"Test/Jrule", "2028-11-02T20:00:00Z", 7200},
    /* "EST5EDT,0/0,J365/25": DST all year */
    {"Test/Allyear", "1990-01-01T00:00:00Z", -14400},
    {"Test/Allyear", "2026-01-01T00:00:00Z", -14400},
    {"Test/Allyear", "2026-12-31T23:59:59Z", -14400},
    {"Test/Allyear", "2027-01-01T04:59:59Z", -14400},
    {"Test/Allyear", "2027-01-01T05:00:00Z", -14400},
    /* a table (type 0 before it, then +02 from 1906 and +01 from 2001) and then the footer
     * "<+0330>-3:30<+0430>,J80/0,J264/0" */
    {"Test/Table", "1900-01-01T00:00:00Z", 3600},
    {"Test/Table", "1990-01-01T00:00:00Z", 7200},
    {"Test/Table", "2001-09-09T01:46:39Z", 7200},
    {"Test/Table", "2001-09-09T01:46:40Z", 3600},
    {"Test/Table", "2001-09-09T01:46:41Z", 16200}, /* the footer, in its DST */
    {"Test/Table", "2026-01-01T00:00:00Z", 12600},
    {"Test/Table", "2026-03-20T20:29:59Z", 12600},
    {"Test/Table", "2026-03-20T20:30:00Z", 16200},
    {"Test/Table", "2026-09-20T19:29:59Z", 16200},
    {"Test/Table", "2026-09-20T19:30:00Z", 12600},
    /* version 1: 32-bit times, no footer; the last type holds after the table */
    {"Test/V1", "1990-01-01T00:00:00Z", 0},
    {"Test/V1", "2001-09-09T01:46:40Z", 3600},
    {"Test/V1", "2033-05-18T03:33:19Z", 3600},
    {"Test/V1", "2033-05-18T03:33:20Z", 0},
    {"Test/V1", "2100-01-01T00:00:00Z", 0},
};

static void test_crafted(void)
{
    snprintf(tzdir, sizeof tzdir, "/tmp/cpgo-tz-XXXXXX");
    CHECK(mkdtemp(tzdir) != NULL);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/Test", tzdir);
    CHECK_EQ_INT(mkdir(sub, 0700), 0);

    unsigned char buf[4096];
    static const int64_t at2[] = {-2000000000, 1000000000};
    static const int64_t at_v1[] = {1000000000, 2000000000};
    static const uint8_t idx10[] = {1, 0};
    static const int32_t o19800[] = {19800}, o_10800[] = {-10800}, o7200[] = {7200},
                         o_18000[] = {-18000}, o3600_7200[] = {3600, 7200}, o0_3600[] = {0, 3600};
    write_zone("Test/Kolkata", buf, tzif(buf, '2', NULL, NULL, 0, o19800, 1, "<+0530>-5:30", 0));
    write_zone("Test/Late", buf,
               tzif(buf, '2', NULL, NULL, 0, o_10800, 1, "AAA3BBB,M3.2.0/26,M11.1.6/-25:30", 0));
    write_zone("Test/Jrule", buf,
               tzif(buf, '2', NULL, NULL, 0, o7200, 1, "CCC-2DDD-3,J60/2,300/167", 0));
    write_zone("Test/Allyear", buf,
               tzif(buf, '3', NULL, NULL, 0, o_18000, 1, "EST5EDT,0/0,J365/25", 0));
    write_zone("Test/Table", buf,
               tzif(buf, '2', at2, idx10, 2, o3600_7200, 2, "<+0330>-3:30<+0430>,J80/0,J264/0", 0));
    write_zone("Test/V1", buf, tzif(buf, 0, at_v1, idx10, 2, o0_3600, 2, "", 0));

    /* malformed files, each refused with CPGO_E_INPUT and a reason */
    size_t len = tzif(buf, '2', at2, idx10, 2, o3600_7200, 2, "EST5", 0);
    write_zone("Test/Truncated", buf, len - 20);
    write_zone("Test/NoFooter", buf, len - 6);
    memcpy(buf, "TZxf", 4);
    write_zone("Test/Magic", buf, len);
    static const uint8_t bad_idx[] = {1, 2};
    write_zone("Test/BadType", buf, tzif(buf, '2', at2, bad_idx, 2, o3600_7200, 2, "EST5", 0));
    static const int64_t backwards[] = {1000000000, -2000000000};
    write_zone("Test/Order", buf, tzif(buf, '2', backwards, idx10, 2, o3600_7200, 2, "EST5", 0));
    static const int32_t huge[] = {100000};
    write_zone("Test/BigOffset", buf, tzif(buf, '2', NULL, NULL, 0, huge, 1, "EST5", 0));
    write_zone("Test/Leap", buf, tzif(buf, '2', NULL, NULL, 0, o7200, 1, "EST5", 1));
    write_zone("Test/BadFooter", buf, tzif(buf, '2', NULL, NULL, 0, o7200, 1, "EST", 0));
    write_zone("Test/BadRule", buf,
               tzif(buf, '2', NULL, NULL, 0, o7200, 1, "EST5EDT,M13.1.0,M11.1.0", 0));
    write_zone("Test/BadTime", buf,
               tzif(buf, '2', NULL, NULL, 0, o7200, 1, "EST5EDT,M3.2.0/168,M11.1.0", 0));
    write_zone("Test/Empty", buf, 0);

    setenv("TZDIR", tzdir, 1); /* single-threaded test: the library itself never does this */
    check_offsets(crafted_cases, sizeof crafted_cases / sizeof crafted_cases[0]);

    static const struct {
        const char *zone, *msg;
    } bad[] = {
        {"Test/Truncated", "not a valid TZif file (truncated)"},
        {"Test/NoFooter", "not a valid TZif file (missing footer)"},
        {"Test/Magic", "not a valid TZif file (bad header)"},
        {"Test/BadType", "not a valid TZif file (transition type out of range)"},
        {"Test/Order", "not a valid TZif file (transitions out of order)"},
        {"Test/BigOffset", "not a valid TZif file (UT offset out of range)"},
        {"Test/Leap", "counts leap seconds"},
        {"Test/BadFooter", "footer is not a POSIX TZ string"},
        {"Test/BadRule", "footer is not a POSIX TZ string"},
        {"Test/BadTime", "footer is not a POSIX TZ string"},
        {"Test/Empty", "not a valid TZif file (bad header)"},
        {"Test", "unknown time zone 'Test'"}, /* a directory */
        {"Test/Missing", "unknown time zone 'Test/Missing'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cpgo_tz *z = (struct cpgo_tz *)&z;
        struct cpgo_err err = {0};
        CHECK_EQ_INT(cpgo_tz_load(bad[i].zone, &z, &err), CPGO_E_INPUT);
        CHECK(z == NULL);
        CHECK_STR_CONTAINS(err.text, bad[i].msg);
    }
    unsetenv("TZDIR");

    static const char *const files[] = {"Kolkata", "Late",      "Jrule",    "Allyear",   "Table",
                                        "V1",      "Truncated", "NoFooter", "Magic",     "BadType",
                                        "Order",   "BigOffset", "Leap",     "BadFooter", "BadRule",
                                        "BadTime", "Empty"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", sub, files[i]);
        unlink(path);
    }
    rmdir(sub);
    rmdir(tzdir);
}

static void test_refusals(void)
{
    static const struct {
        const char *zone, *msg;
    } cases[] = {
        {"../etc/passwd", "is not a time zone name"},
        {"/etc/passwd", "is not a time zone name"},
        {"America/../../etc/passwd", "is not a time zone name"},
        {"America/.hidden", "is not a time zone name"},
        {"America//New_York", "is not a time zone name"},
        {"America/", "is not a time zone name"},
        {"Europe/Berlin ", "is not a time zone name"},
        {"Europe\\Berlin", "is not a time zone name"},
        {"", "empty time zone name"},
        {"Mars/Olympus", "unknown time zone 'Mars/Olympus'"},
        {"America", "unknown time zone 'America'"},
        {"America/New_York/x", "unknown time zone 'America/New_York/x'"},
        {"zone.tab", "not a valid TZif file"},
        {"utc", "unknown time zone 'utc'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cpgo_tz *z = (struct cpgo_tz *)&z;
        struct cpgo_err err = {0};
        CHECK_EQ_INT(cpgo_tz_load(cases[i].zone, &z, &err), CPGO_E_INPUT);
        CHECK(z == NULL);
        CHECK_STR_CONTAINS(err.text, cases[i].msg);
    }
    char longname[400];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    struct cpgo_tz *z = NULL;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_tz_load(longname, &z, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "longer than 255 bytes");
    CHECK_EQ_INT(cpgo_tz_load(NULL, &z, &err), CPGO_E_INPUT);
}

int main(void)
{
    test_real_zones();
    test_far_times();
    test_crafted();
    test_refusals();
    CHECK_DONE();
}
