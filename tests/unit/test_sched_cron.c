/*
 * Unit tests for sched/cron: next fire times (UTC, names, steps, the DOM/DOW rule, Feb 29,
 * macros, @every, and zones across DST changes and past 2037), every parse error class,
 * text normalisation, the minimum period, and speed.
 *
 * Expected times were computed independently with Python's zoneinfo (a brute-force walk
 * over local days, fold=0 for repeated times, round-trip check for missing ones) and are
 * hard-coded here; the test needs nothing but the system's zoneinfo.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "check.h"
#include "sched/cron.h"

/* "YYYY-MM-DDTHH:MM:SSZ" -> Unix seconds (days-from-civil; no libc time zone use). */
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

struct next_case {
    const char *expr, *after, *want; /* want NULL: nothing within 5 years (CPGO_E_INPUT) */
};

static const struct next_case next_cases[] = {
    /* plain UTC: steps, ranges, lists, names */
    {"* * * * *", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"},
    {"* * * * *", "2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z"},
    {"* * * * *", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z"},
    {"*/5 * * * *", "2026-01-01T00:03:00Z", "2026-01-01T00:05:00Z"},
    {"*/5 * * * *", "2026-01-01T00:55:00Z", "2026-01-01T01:00:00Z"},
    {"0 * * * *", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"},
    {"30 9 * * *", "2026-06-15T09:30:00Z", "2026-06-16T09:30:00Z"},
    {"30 9 * * *", "2026-06-15T09:29:59Z", "2026-06-15T09:30:00Z"},
    {"0 0 1 1 *", "2026-05-05T12:00:00Z", "2027-01-01T00:00:00Z"},
    {"59 23 31 12 *", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"},
    {"15 14 1 * *", "2026-01-31T00:00:00Z", "2026-02-01T14:15:00Z"},
    {"0 22 * * 1-5", "2026-01-02T22:00:00Z", "2026-01-05T22:00:00Z"},
    {"0 0 * * SUN", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"},
    {"0 0 * * 7", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"},
    {"0 0 * * 0", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"},
    {"0 12 * JAN,JUL *", "2026-01-31T12:00:00Z", "2026-07-01T12:00:00Z"},
    {"0 12 1 jan-may/2 *", "2026-01-01T12:00:00Z", "2026-03-01T12:00:00Z"},
    {"0 12 1 Mar-May/2 *", "2026-03-01T12:00:00Z", "2026-05-01T12:00:00Z"},
    {"0-10/5,30 */6 * * *", "2026-01-01T00:10:00Z", "2026-01-01T00:30:00Z"},
    {"0-10/5,30 */6 * * *", "2026-01-01T00:30:00Z", "2026-01-01T06:00:00Z"},
    {"5/15 * * * *", "2026-01-01T00:50:00Z", "2026-01-01T01:05:00Z"},
    {"5/15 * * * *", "2026-01-01T00:06:00Z", "2026-01-01T00:20:00Z"},
    {"0 8-18/4 * * *", "2026-01-01T16:00:00Z", "2026-01-02T08:00:00Z"},
    {"0 0 ? * MON", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z"},
    {"0 0 1 * ?", "2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z"},
    {"0 0 * * sat,sun", "2026-01-05T00:00:00Z", "2026-01-10T00:00:00Z"},
    {"0 0 * * MON-WED/2", "2026-01-05T00:00:00Z", "2026-01-07T00:00:00Z"},
    {"0 0 * * 5-7", "2026-01-05T00:00:00Z", "2026-01-09T00:00:00Z"},
    {"0 0 * * 6/1", "2026-01-05T00:00:00Z", "2026-01-10T00:00:00Z"},
    {"0 12 10-12 * *", "2026-02-10T12:00:00Z", "2026-02-11T12:00:00Z"},
    /* day-of-month OR day-of-week when both are restricted; AND when either starts with '*' */
    {"0 0 13 * 5", "2026-04-01T00:00:00Z", "2026-04-03T00:00:00Z"},
    {"0 0 13 * 5", "2026-04-10T01:00:00Z", "2026-04-13T00:00:00Z"},
    {"0 0 1,15 * 1", "2026-06-02T00:00:00Z", "2026-06-08T00:00:00Z"},
    {"0 0 13 * *", "2026-04-01T00:00:00Z", "2026-04-13T00:00:00Z"},
    {"0 0 * * 5", "2026-04-10T01:00:00Z", "2026-04-17T00:00:00Z"},
    {"0 0 */2 * 5", "2026-04-01T00:00:00Z", "2026-04-03T00:00:00Z"},
    {"0 0 1 * */1", "2026-04-02T00:00:00Z", "2026-05-01T00:00:00Z"},
    {"0 0 ? * 5", "2026-04-10T01:00:00Z", "2026-04-17T00:00:00Z"},
    /* Feb 29 and month ends; NULL: nothing within 5 years */
    {"0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
    {"0 0 29 2 *", "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"},
    {"0 0 29 2 *", "2096-03-01T00:00:00Z", NULL},
    {"0 0 29 2 1", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"},
    {"0 0 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z"},
    {"0 0 31 * *", "2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z"},
    {"0 0 30 2 *", "2026-01-01T00:00:00Z", NULL},
    {"0 0 31 4,6,9,11 *", "2026-01-01T00:00:00Z", NULL},
    {"0 0 30,31 2 1", "2026-01-01T00:00:00Z", "2026-02-02T00:00:00Z"},
    {"59 23 28-31 2 *", "2027-02-28T23:59:00Z", "2028-02-28T23:59:00Z"},
    {"0 0 1 3 *", "2028-02-28T12:00:00Z", "2028-03-01T00:00:00Z"},
    /* macros */
    {"@yearly", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z"},
    {"@annually", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z"},
    {"@monthly", "2026-01-31T10:00:00Z", "2026-02-01T00:00:00Z"},
    {"@weekly", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"},
    {"@daily", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
    {"@midnight", "2026-01-01T23:59:59Z", "2026-01-02T00:00:00Z"},
    {"@hourly", "2026-01-01T00:59:59Z", "2026-01-01T01:00:00Z"},
    {"@HOURLY", "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"},
    /* before the epoch */
    {"0 0 1 1 *", "1960-06-01T00:00:00Z", "1961-01-01T00:00:00Z"},
    {"*/7 * * * *", "1969-12-31T23:58:00Z", "1970-01-01T00:00:00Z"},
    /* America/New_York, 2026-03-08: 02:00 EST -> 03:00 EDT at 07:00Z; 02:xx does not exist */
    /* fires at 2026-03-09 02:30 -0400 */
    {"CRON_TZ=America/New_York 30 2 * * *", "2026-03-07T12:00:00Z", "2026-03-09T06:30:00Z"},
    /* fires at 2026-03-09 02:30 -0400 */
    {"CRON_TZ=America/New_York 30 2 * * *", "2026-03-08T06:00:00Z", "2026-03-09T06:30:00Z"},
    /* fires at 2026-03-08 03:00 -0400 */
    {"CRON_TZ=America/New_York 0 3 * * *", "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z"},
    /* fires at 2026-03-09 02:00 -0400 */
    {"CRON_TZ=America/New_York 0 2 * * *", "2026-03-07T12:00:00Z", "2026-03-09T06:00:00Z"},
    /* fires at 2026-03-08 01:59 -0500 */
    {"CRON_TZ=America/New_York 59 1 * * *", "2026-03-07T12:00:00Z", "2026-03-08T06:59:00Z"},
    /* fires at 2026-03-08 03:00 -0400 */
    {"CRON_TZ=America/New_York */30 * * * *", "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z"},
    /* fires at 2026-03-08 03:00 -0400 */
    {"CRON_TZ=America/New_York * * * * *", "2026-03-08T06:59:00Z", "2026-03-08T07:00:00Z"},
    /* fires at 2027-03-08 02:30 -0500 */
    {"CRON_TZ=America/New_York 30 2 8 3 *", "2026-01-01T00:00:00Z", "2027-03-08T07:30:00Z"},
    /* America/New_York, 2026-11-01: 02:00 EDT -> 01:00 EST at 06:00Z; 01:xx fires once */
    /* fires at 2026-11-01 01:30 -0400 */
    {"CRON_TZ=America/New_York 30 1 * * *", "2026-11-01T04:00:00Z", "2026-11-01T05:30:00Z"},
    /* fires at 2026-11-02 01:30 -0500 */
    {"CRON_TZ=America/New_York 30 1 * * *", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
    /* fires at 2026-11-02 01:30 -0500 */
    {"CRON_TZ=America/New_York 30 1 * * *", "2026-11-01T06:00:00Z", "2026-11-02T06:30:00Z"},
    /* fires at 2026-11-02 01:30 -0500 */
    {"CRON_TZ=America/New_York 30 1 * * *", "2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z"},
    /* fires at 2026-11-01 02:00 -0500 */
    {"CRON_TZ=America/New_York */20 * * * *", "2026-11-01T05:40:00Z", "2026-11-01T07:00:00Z"},
    /* fires at 2026-11-01 02:00 -0500 */
    {"CRON_TZ=America/New_York * * * * *", "2026-11-01T05:59:00Z", "2026-11-01T07:00:00Z"},
    /* fires at 2026-11-01 02:00 -0500 */
    {"CRON_TZ=America/New_York 0 2 * * *", "2026-11-01T04:00:00Z", "2026-11-01T07:00:00Z"},
    /* fires at 2026-11-01 01:00 -0400 */
    {"CRON_TZ=America/New_York 0 1 * * *", "2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z"},
    /* fires at 2026-11-01 00:00 -0400 */
    {"CRON_TZ=America/New_York 0 0 * * *", "2026-10-31T12:00:00Z", "2026-11-01T04:00:00Z"},
    /* fires at 2026-03-09 09:00 -0400 */
    {"TZ=America/New_York 0 9 * * 1-5", "2026-03-06T15:00:00Z", "2026-03-09T13:00:00Z"},
    /* Europe/Berlin: 2026-03-29 and 2026-10-25 at 01:00Z */
    /* fires at 2026-03-30 02:30 +0200 */
    {"CRON_TZ=Europe/Berlin 30 2 * * *", "2026-03-28T12:00:00Z", "2026-03-30T00:30:00Z"},
    /* fires at 2026-10-25 02:30 +0200 */
    {"CRON_TZ=Europe/Berlin 30 2 * * *", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
    /* fires at 2026-10-26 02:30 +0100 */
    {"CRON_TZ=Europe/Berlin 30 2 * * *", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
    /* fires at 2026-07-01 12:00 +0200 */
    {"CRON_TZ=Europe/Berlin 0 12 * * *", "2026-07-01T00:00:00Z", "2026-07-01T10:00:00Z"},
    /* fires at 2027-01-01 00:00 +0100 */
    {"CRON_TZ=Europe/Berlin 0 0 1 1 *", "2026-06-01T00:00:00Z", "2026-12-31T23:00:00Z"},
    /* Asia/Kolkata, +05:30 */
    /* fires at 2026-01-01 09:00 +0530 */
    {"CRON_TZ=Asia/Kolkata 0 9 * * *", "2026-01-01T00:00:00Z", "2026-01-01T03:30:00Z"},
    /* fires at 2026-01-02 00:30 +0530 */
    {"CRON_TZ=Asia/Kolkata 30 0 * * *", "2026-01-01T00:00:00Z", "2026-01-01T19:00:00Z"},
    /* fires at 2026-02-01 00:00 +0530 */
    {"CRON_TZ=Asia/Kolkata 0 0 1 * *", "2026-01-31T12:00:00Z", "2026-01-31T18:30:00Z"},
    /* Australia/Lord_Howe, 30-minute DST: on 2026-04-05 02:00 +11 becomes 01:30 +1030; on
     * 2026-10-04 02:00 +1030 becomes 02:30 +11 */
    /* fires at 2026-10-05 02:15 +1100 */
    {"CRON_TZ=Australia/Lord_Howe 15 2 * * *", "2026-10-03T00:00:00Z", "2026-10-04T15:15:00Z"},
    /* fires at 2026-10-04 02:45 +1100 */
    {"CRON_TZ=Australia/Lord_Howe 45 2 * * *", "2026-10-03T00:00:00Z", "2026-10-03T15:45:00Z"},
    /* fires at 2026-04-05 01:45 +1100 */
    {"CRON_TZ=Australia/Lord_Howe 45 1 * * *", "2026-04-04T00:00:00Z", "2026-04-04T14:45:00Z"},
    /* fires at 2026-04-06 01:45 +1030 */
    {"CRON_TZ=Australia/Lord_Howe 45 1 * * *", "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"},
    /* fires at 2026-04-05 02:00 +1030 */
    {"CRON_TZ=Australia/Lord_Howe */15 * * * *", "2026-04-04T15:00:00Z", "2026-04-04T15:30:00Z"},
    /* fires at 2026-10-04 02:30 +1100 */
    {"CRON_TZ=Australia/Lord_Howe */15 * * * *", "2026-10-03T15:15:00Z", "2026-10-03T15:30:00Z"},
    /* past 2037: offsets from the POSIX TZ footer */
    /* fires at 2040-03-12 02:30 -0400 */
    {"CRON_TZ=America/New_York 30 2 * * *", "2040-03-10T12:00:00Z", "2040-03-12T06:30:00Z"},
    /* fires at 2040-11-05 01:30 -0500 */
    {"CRON_TZ=America/New_York 30 1 * * *", "2040-11-04T05:30:00Z", "2040-11-05T06:30:00Z"},
    /* fires at 2040-07-04 09:00 -0400 */
    {"CRON_TZ=America/New_York 0 9 * * *", "2040-07-04T00:00:00Z", "2040-07-04T13:00:00Z"},
    /* fires at 2045-07-01 12:00 +0200 */
    {"CRON_TZ=Europe/Berlin 0 12 * * *", "2045-07-01T00:00:00Z", "2045-07-01T10:00:00Z"},
    /* fires at 2045-03-27 02:30 +0200 */
    {"CRON_TZ=Europe/Berlin 30 2 * * *", "2045-03-25T12:00:00Z", "2045-03-27T00:30:00Z"},
    /* fires at 2050-10-03 02:15 +1100 */
    {"CRON_TZ=Australia/Lord_Howe 15 2 * * *", "2050-10-01T00:00:00Z", "2050-10-02T15:15:00Z"},
    /* fires at 2041-07-01 12:00 +0100 */
    {"CRON_TZ=Europe/Dublin 0 12 * * *", "2041-07-01T00:00:00Z", "2041-07-01T11:00:00Z"},
    /* fires at 2041-07-01 12:00 +0000 */
    {"CRON_TZ=UTC 0 12 * * *", "2041-07-01T00:00:00Z", "2041-07-01T12:00:00Z"},
    /* fires at 2041-07-01 12:00 -0500 */
    {"CRON_TZ=Etc/GMT+5 0 12 * * *", "2041-07-01T00:00:00Z", "2041-07-01T17:00:00Z"},
    /* @every: multiples of the period since the epoch, whatever the zone */
    {"@every 1h30m", "2026-01-01T00:00:00Z", "2026-01-01T01:30:00Z"},
    {"@every 1.5h", "2026-01-01T01:29:59Z", "2026-01-01T01:30:00Z"},
    {"@every 45s", "2026-01-01T00:00:00Z", "2026-01-01T00:00:45Z"},
    {"@every 7h", "2026-01-01T00:00:00Z", "2026-01-01T07:00:00Z"},
    {"@every 24h", "2026-03-08T12:34:56Z", "2026-03-09T00:00:00Z"},
    {"@every 13s", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z"},
    {"@every 13s", "1969-12-31T23:59:46Z", "1969-12-31T23:59:47Z"},
    {"@every 1000h", "2026-01-01T00:00:00Z", "2026-01-05T08:00:00Z"},
    {"CRON_TZ=America/New_York @every 1h", "2026-03-08T06:59:59Z", "2026-03-08T07:00:00Z"},
};

static void test_next(void)
{
    for (size_t i = 0; i < sizeof next_cases / sizeof next_cases[0]; i++) {
        const struct next_case *k = &next_cases[i];
        struct cpgo_cron *c = NULL;
        struct cpgo_err err = {0};
        int rc = cpgo_cron_parse(k->expr, &c, &err);
        CHECK_EQ_INT(rc, 0);
        if (rc) {
            fprintf(stderr, "  parsing '%s': %s\n", k->expr, err.text);
            continue;
        }
        int64_t next = 0;
        rc = cpgo_cron_next(c, ts(k->after), &next);
        if (!k->want) {
            CHECK_EQ_INT(rc, CPGO_E_INPUT);
        } else {
            CHECK_EQ_INT(rc, 0);
            CHECK_EQ_INT(next, ts(k->want));
            if (rc || next != ts(k->want))
                fprintf(stderr, "  '%s' after %s: want %s\n", k->expr, k->after, k->want);
        }
        cpgo_cron_free(c);
    }
}

/* Chained calls walk every fire time in order: the fall-back hour fires once, the
 * spring-forward hour not at all. */
static void test_chains(void)
{
    static const struct {
        const char *expr, *start;
        const char *want[8];
    } chains[] = {
        /* 01:00 and 01:30 EDT fire; their EST repeats (06:00Z, 06:30Z) do not */
        {"CRON_TZ=America/New_York */30 1-2 * * *",
         "2026-11-01T04:00:00Z",
         {"2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T07:00:00Z",
          "2026-11-01T07:30:00Z", "2026-11-02T06:00:00Z", "2026-11-02T06:30:00Z",
          "2026-11-02T07:00:00Z", "2026-11-02T07:30:00Z"}},
        /* 02:00 and 02:30 do not exist on 2026-03-08 */
        {"CRON_TZ=America/New_York */30 1-3 * * *",
         "2026-03-08T05:00:00Z",
         {"2026-03-08T06:00:00Z", "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z",
          "2026-03-08T07:30:00Z", "2026-03-09T05:00:00Z", "2026-03-09T05:30:00Z",
          "2026-03-09T06:00:00Z", "2026-03-09T06:30:00Z"}},
        /* 01:30-01:59 repeat for half an hour: the second 01:40 is skipped */
        {"CRON_TZ=Australia/Lord_Howe */20 1-2 * * *",
         "2026-04-04T14:00:00Z",
         {"2026-04-04T14:20:00Z", "2026-04-04T14:40:00Z", "2026-04-04T15:30:00Z",
          "2026-04-04T15:50:00Z", "2026-04-04T16:10:00Z", "2026-04-05T14:30:00Z",
          "2026-04-05T14:50:00Z", "2026-04-05T15:10:00Z"}},
        /* 02:00 and 02:20 do not exist on 2026-10-04 */
        {"CRON_TZ=Australia/Lord_Howe */20 1-2 * * *",
         "2026-10-03T14:00:00Z",
         {"2026-10-03T14:30:00Z", "2026-10-03T14:50:00Z", "2026-10-03T15:10:00Z",
          "2026-10-03T15:40:00Z", "2026-10-04T14:00:00Z", "2026-10-04T14:20:00Z",
          "2026-10-04T14:40:00Z", "2026-10-04T15:00:00Z"}},
        /* the same rule from the footer in 2040 */
        {"CRON_TZ=America/New_York 0,30 1 * * *",
         "2040-11-04T04:00:00Z",
         {"2040-11-04T05:00:00Z", "2040-11-04T05:30:00Z", "2040-11-05T06:00:00Z",
          "2040-11-05T06:30:00Z", "2040-11-06T06:00:00Z", "2040-11-06T06:30:00Z",
          "2040-11-07T06:00:00Z", "2040-11-07T06:30:00Z"}},
    };
    for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++) {
        struct cpgo_cron *c = NULL;
        struct cpgo_err err;
        CHECK_EQ_INT(cpgo_cron_parse(chains[i].expr, &c, &err), 0);
        if (!c) continue;
        int64_t t = ts(chains[i].start);
        for (int k = 0; k < 8; k++) {
            CHECK_EQ_INT(cpgo_cron_next(c, t, &t), 0);
            CHECK_EQ_INT(t, ts(chains[i].want[k]));
        }
        cpgo_cron_free(c);
    }
}

/* For any time between two fire times the answer is the later one (UTC and a zone). */
static void test_consistency(void)
{
    static const char *const exprs[] = {"7,23 */3 * * *", "CRON_TZ=Europe/Berlin 0-59/7 2 * * *",
                                        "CRON_TZ=America/New_York 15 1 * * *"};
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        struct cpgo_cron *c = NULL;
        struct cpgo_err err;
        CHECK_EQ_INT(cpgo_cron_parse(exprs[i], &c, &err), 0);
        if (!c) continue;
        int64_t prev = ts("2026-10-24T00:00:00Z"), next;
        int bad = 0;
        for (int k = 0; k < 20 && !bad; k++) {
            if (cpgo_cron_next(c, prev, &next)) bad = 1;
            for (int64_t t = prev; t < next && !bad; t += 317) {
                int64_t n2 = 0;
                if (cpgo_cron_next(c, t, &n2) || n2 != next) bad = 1;
            }
            prev = next;
        }
        CHECK(!bad);
        cpgo_cron_free(c);
    }
}

static void test_errors(void)
{
    static const struct {
        const char *expr, *msg;
    } cases[] = {
        {"", "empty schedule"},
        {" \t ", "empty schedule"},
        {"* * * *", "expected 5 fields, got 4"},
        {"* * * * * *", "expected 5 fields, got 6"},
        {"0 0 * * * 2026", "expected 5 fields, got 6"},
        {"CRON_TZ=UTC", "expected 5 fields, got 0"},
        {"61 * * * *", "minute field: 61 is out of range 0-59"},
        {"99999999999 * * * *", "minute field: 99999999999 is out of range 0-59"},
        {"* 24 * * *", "hour field: 24 is out of range 0-23"},
        {"* * 0 * *", "day-of-month field: 0 is out of range 1-31"},
        {"* * 32 * *", "day-of-month field: 32 is out of range 1-31"},
        {"* * * 13 *", "month field: 13 is out of range 1-12"},
        {"* * * 0 *", "month field: 0 is out of range 1-12"},
        {"* * * * 8", "day-of-week field: 8 is out of range 0-7"},
        {"* * * * FUNDAY", "day-of-week field: 'FUNDAY' is not a day name"},
        {"* * * * MONDAY", "day-of-week field: 'MONDAY' is not a day name"},
        {"* * * FOO *", "month field: 'FOO' is not a month name"},
        {"* * * 1x *", "month field: '1x' is not a number"},
        {"x * * * *", "minute field: 'x' is not a number"},
        {"* MON * * *", "hour field: 'MON' is not a number"},
        {"* * L * *", "day-of-month field: 'L' is not a number"},
        {"5-1 * * * *", "minute field: range '5-1' ends before it starts"},
        {"* * * DEC-JAN *", "month field: range 'DEC-JAN' ends before it starts"},
        {"*/0 * * * *", "minute field: step 0 is out of range 1-60"},
        {"*/61 * * * *", "minute field: step 61 is out of range 1-60"},
        {"* */25 * * *", "hour field: step 25 is out of range 1-24"},
        {"*/x * * * *", "minute field: step 'x' is not a number"},
        {"*/ * * * *", "minute field: missing step after '/' in '*/'"},
        {"5- * * * *", "minute field: missing end of range in '5-'"},
        {"1,,2 * * * *", "minute field: empty list item in '1,,2'"},
        {",1 * * * *", "minute field: empty list item in ',1'"},
        {"1, * * * *", "minute field: empty list item in '1,'"},
        {"? * * * *", "minute field: '?' is only allowed in day-of-month and day-of-week"},
        {"5% * * * *", "minute field: unexpected '%' in '5%'"},
        {"*5 * * * *", "minute field: unexpected '5' in '*5'"},
        {"1-2-3 * * * *", "minute field: unexpected '-' in '1-2-3'"},
        {"1/2/3 * * * *", "minute field: unexpected '/' in '1/2/3'"},
        {"6\x01 * * * *", "minute field: unexpected '?' in '6?'"},
        {"@fortnightly", "unknown macro '@fortnightly'"},
        {"@daily 5", "@daily takes no fields, got 1 more"},
        {"@every", "@every takes one duration (e.g. @every 5m), got 0 words"},
        {"@every 1m 2m", "@every takes one duration (e.g. @every 5m), got 2 words"},
        {"@every 500ms", "@every: 500ms is shorter than 1s"},
        {"@every 0", "@every: 0 is shorter than 1s"},
        {"@every 1.5s", "@every: 1.5s is not a whole number of seconds"},
        {"@every 5x", "@every: '5x' is not a duration: unknown unit 'x'"},
        {"@every -1s", "@every: '-1s' is not a duration: no sign allowed"},
        {"@every 50000h", "@every: 50000h is longer than 5 years"},
        {"CRON_TZ=Mars/Olympus * * * * *", "CRON_TZ: unknown time zone 'Mars/Olympus'"},
        {"TZ=Mars/Olympus * * * * *", "TZ: unknown time zone 'Mars/Olympus'"},
        {"CRON_TZ=../etc/passwd * * * * *", "'../etc/passwd' is not a time zone name"},
        {"CRON_TZ=/etc/passwd * * * * *", "'/etc/passwd' is not a time zone name"},
        {"CRON_TZ= * * * * *", "CRON_TZ= needs a zone name"},
        {"CRON_TZ=America/New_York 61 * * * *", "minute field: 61 is out of range 0-59"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cpgo_cron *c = (struct cpgo_cron *)&c; /* must be reset to NULL */
        struct cpgo_err err = {0};
        int rc = cpgo_cron_parse(cases[i].expr, &c, &err);
        CHECK_EQ_INT(rc, CPGO_E_INPUT);
        CHECK(c == NULL);
        CHECK_STR_CONTAINS(err.text, cases[i].msg);
        CHECK(strchr(err.text, '\n') == NULL && strchr(err.text, '\x01') == NULL);
    }

    /* bounds: 256 bytes and 64 list items are accepted, one more is not */
    char big[400], list[400];
    struct cpgo_cron *c = NULL;
    struct cpgo_err err;
    memset(big, ' ', sizeof big);
    memcpy(big, "* * * * *", 9);
    big[256] = 0;
    CHECK_EQ_INT(cpgo_cron_parse(big, &c, &err), 0);
    CHECK(c && !strcmp(cpgo_cron_text(c), "* * * * *"));
    cpgo_cron_free(c);
    big[256] = ' ';
    big[257] = 0;
    CHECK_EQ_INT(cpgo_cron_parse(big, &c, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "schedule is longer than 256 bytes");
    size_t n = 0;
    for (int k = 0; k < 64; k++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%d", k ? "," : "", k % 60);
    snprintf(list + n, sizeof list - n, " * * * *");
    CHECK_EQ_INT(cpgo_cron_parse(list, &c, &err), 0);
    cpgo_cron_free(c);
    memmove(list + 2, list, strlen(list) + 1);
    memcpy(list, "0,", 2);
    CHECK_EQ_INT(cpgo_cron_parse(list, &c, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "minute field: 65 list items, more than the limit of 64");
    CHECK_EQ_INT(cpgo_cron_parse(NULL, &c, &err), CPGO_E_INPUT);
}

static void test_text(void)
{
    static const struct {
        const char *expr, *text;
    } cases[] = {
        {"  */5   *\t* * *  ", "*/5 * * * *"},
        {"CRON_TZ=Europe/Berlin\t0 9 * * MON-FRI", "CRON_TZ=Europe/Berlin 0 9 * * MON-FRI"},
        {"@every   90s", "@every 90s"},
        {"@Daily", "@Daily"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cpgo_cron *c = NULL;
        struct cpgo_err err;
        CHECK_EQ_INT(cpgo_cron_parse(cases[i].expr, &c, &err), 0);
        if (!c) continue;
        CHECK(!strcmp(cpgo_cron_text(c), cases[i].text));
        cpgo_cron_free(c);
    }
}

static void test_min_period(void)
{
    static const struct {
        const char *expr;
        int64_t want;
    } cases[] = {
        {"* * * * *", 60},
        {"*/5 * * * *", 300},
        {"0 * * * *", 3600},
        {"@hourly", 3600},
        {"@daily", 86400},
        {"0,50 */2 * * *", 3000}, /* 50 -> 0 only across a skipped hour */
        {"0 9 * * 1-5", 86400},
        {"0 12 * * 1,3", 172800},
        {"0 0 1 1 *", 366 * 86400}, /* the reference year, 2028, is a leap year */
        {"0 0 28,29 2 *", 86400},
        {"0 0 29 2 *", 1461 * 86400}, /* fewer than two fires a year: the first gap */
        {"0 0 30 2 *", INT64_MAX},    /* never fires */
        {"@every 90s", 90},
        {"@every 36h", 129600},
        {"CRON_TZ=America/New_York 30 1 * * *", 82800},     /* the spring-forward day */
        {"CRON_TZ=America/New_York 0,59 1,2 * * *", 60},    /* 01:59 EST -> 03:00 EDT */
        {"CRON_TZ=Australia/Lord_Howe 30,50 * * * *", 600}, /* 01:50 -> 02:30, 30-min jump */
        {"CRON_TZ=Australia/Lord_Howe */5 * * * *", 300},
        {"CRON_TZ=Asia/Kolkata 0 */6 * * *", 21600},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cpgo_cron *c = NULL;
        struct cpgo_err err;
        CHECK_EQ_INT(cpgo_cron_parse(cases[i].expr, &c, &err), 0);
        if (!c) continue;
        int64_t got = cpgo_cron_min_period(c);
        CHECK_EQ_INT(got, cases[i].want);
        if (got != cases[i].want) fprintf(stderr, "  min period of '%s'\n", cases[i].expr);
        cpgo_cron_free(c);
    }
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Sparse schedules skip whole months and days: far below a millisecond per call even
 * under sanitizers. Out-of-range times are refused rather than overflowing. */
static void test_speed_and_range(void)
{
    static const char *const exprs[] = {"0 0 29 2 *", "0 0 30 2 *",
                                        "CRON_TZ=America/New_York 0 0 29 2 *",
                                        "CRON_TZ=America/New_York 59 23 31 12 *"};
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        struct cpgo_cron *c = NULL;
        struct cpgo_err err;
        CHECK_EQ_INT(cpgo_cron_parse(exprs[i], &c, &err), 0);
        if (!c) continue;
        int64_t next;
        double t0 = now_s();
        for (int k = 0; k < 200; k++)
            cpgo_cron_next(c, ts("2026-01-01T00:00:00Z") + k * 86400 * 7, &next);
        double per_call = (now_s() - t0) / 200;
        CHECK(per_call < 1e-3);
        if (per_call >= 1e-3)
            fprintf(stderr, "  '%s': %.3f ms per call\n", exprs[i], per_call * 1e3);
        CHECK_EQ_INT(cpgo_cron_next(c, INT64_MAX, &next), CPGO_E_INPUT);
        CHECK_EQ_INT(cpgo_cron_next(c, INT64_MIN, &next), CPGO_E_INPUT);
        cpgo_cron_free(c);
    }
    struct cpgo_cron *c = NULL;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_cron_parse("@every 1s", &c, &err), 0);
    int64_t next = 0;
    CHECK_EQ_INT(cpgo_cron_next(c, INT64_MAX, &next), CPGO_E_INPUT);
    CHECK_EQ_INT(cpgo_cron_next(c, (int64_t)1 << 40, &next), 0);
    CHECK_EQ_INT(next, ((int64_t)1 << 40) + 1);
    cpgo_cron_free(c);
    cpgo_cron_free(NULL);
}

int main(void)
{
    test_next();
    test_chains();
    test_consistency();
    test_errors();
    test_text();
    test_min_period();
    test_speed_and_range();
    CHECK_DONE();
}
