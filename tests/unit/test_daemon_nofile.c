/* Unit tests for daemon/nofile: how many scrapes run at once under an open-file limit, and
 * the raise (soft to hard) seen through getrlimit. */
#include <stdint.h>
#include <sys/resource.h>

#include "check.h"
#include "daemon/nofile.h"

static void test_cap(void)
{
    /* fits beside the reserve: as configured */
    CHECK_EQ_INT(cpgo_nofile_scrape_cap(SIZE_MAX, 10016), 10016);
    CHECK_EQ_INT(cpgo_nofile_scrape_cap(20000, 10016), 10016);
    CHECK_EQ_INT(cpgo_nofile_scrape_cap(1024 + CPGO_NOFILE_RESERVE, 1024), 1024);
    /* one short: what fits */
    CHECK_EQ_INT(cpgo_nofile_scrape_cap(1023 + CPGO_NOFILE_RESERVE, 1024), 1023);
    CHECK_EQ_INT(cpgo_nofile_scrape_cap(10000, 10016), 10000 - CPGO_NOFILE_RESERVE);
    /* below twice the reserve: half kept for the rest */
    CHECK_EQ_INT(cpgo_nofile_scrape_cap(256, 1024), 128);
    CHECK_EQ_INT(cpgo_nofile_scrape_cap(256, 100), 100);
    CHECK_EQ_INT(cpgo_nofile_scrape_cap(3, 1024), 2);
    CHECK_EQ_INT(cpgo_nofile_scrape_cap(1, 1024), 1);
    CHECK_EQ_INT(cpgo_nofile_scrape_cap(0, 1024), 1);
}

static void test_raise(void)
{
    struct rlimit before, after;
    CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, &before), 0);
    if (before.rlim_max != RLIM_INFINITY && before.rlim_max > 64) {
        struct rlimit low = {before.rlim_max / 2, before.rlim_max};
        CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
    }
    size_t got = cpgo_nofile_raise();
    CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, &after), 0);
    CHECK(after.rlim_max == before.rlim_max);
    if (after.rlim_max != RLIM_INFINITY) {
        CHECK(after.rlim_cur == after.rlim_max);
        CHECK(got == (size_t)after.rlim_max);
    }
}

static void test_warn_once(void)
{
    size_t warned = 0;
    cpgo_nofile_warn(256, 1024, 128, &warned);
    CHECK_EQ_INT(warned, 1024);
    cpgo_nofile_warn(256, 1024, 128, &warned); /* told already: no second line */
    CHECK_EQ_INT(warned, 1024);
    size_t none = 0;
    cpgo_nofile_warn(20000, 1024, 1024, &none); /* fits: nothing */
    CHECK_EQ_INT(none, 0);
}

int main(void)
{
    test_cap();
    test_raise();
    test_warn_once();
    CHECK_DONE();
}
