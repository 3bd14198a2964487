/* Unit tests for base/duration: Go-style durations (parse and format) and byte sizes. */
#include <stdint.h>
#include <string.h>

#include "base/duration.h"
#include "base/err.h"
#include "check.h"

static void test_parse(void)
{
    static const struct {
        const char *text;
        int64_t ms;
    } ok[] = {
        {"0", 0},
        {"0s", 0},
        {"45s", 45000},
        {"1h30m", 5400000},
        {"1.5h", 5400000},
        {"500ms", 500},
        {"2m0.5s", 120500},
        {"1h0m0s", 3600000},
        {"90m", 5400000},
        {".5s", 500},
        {"5.s", 5000},
        {"0.035s", 35},   /* exact: floating point made this 34 */
        {"1.001s", 1001}, /* and this 1000 */
        {"0.1h", 360000},
        {"1.0000009ms", 1}, /* sub-millisecond remainders round down */
        {"999us", 0},
        {"1500us", 1},
        {"1500\xc2\xb5s", 1}, /* micro sign */
        {"1500\xce\xbcs", 1}, /* Greek mu */
        {"2000000ns", 2},
        {"1h1m1s1ms", 3661001},
        {"3m3m", 360000},
        {"9223372036854775807ns", 9223372036854},    /* Go's maximum */
        {"2562047h47m16.854775807s", 9223372036854}, /* the same */
        {"0.00000000000000000000000001h", 0},        /* long fractions are fine */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        struct cpgo_err err = {0};
        int rc = cpgo_duration_parse(ok[i].text, &ms, &err);
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(ms, ok[i].ms);
        if (rc || ms != ok[i].ms) fprintf(stderr, "  parsing '%s': %s\n", ok[i].text, err.text);
    }
    /* every millisecond value written with three decimals parses exactly */
    int inexact = 0;
    for (int v = 0; v < 20000; v++) {
        char buf[32];
        int64_t ms;
        struct cpgo_err err;
        snprintf(buf, sizeof buf, "%d.%03ds", v / 1000, v % 1000);
        if (cpgo_duration_parse(buf, &ms, &err) || ms != v) inexact++;
    }
    CHECK_EQ_INT(inexact, 0);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"", "empty duration"},
        {"5", "missing unit"},
        {"1h5", "missing unit"},
        {"-1s", "no sign allowed"},
        {"+1s", "no sign allowed"},
        {"1x", "unknown unit 'x'"},
        {"1mss", "unknown unit 'mss'"},
        {"1S", "unknown unit 'S'"},
        {"1 s", "unknown unit ' s'"},
        {"s", "is not a duration"},
        {".s", "is not a duration"},
        {"1.2.3s", "is not a duration"},
        {"00", "missing unit"},
        {"2562047h47m16.854775808s", "too large"}, /* one nanosecond past Go's maximum */
        {"9223372036854775808ns", "too large"},
        {"99999999999999999999s", "too large"},
        {"3000000h", "too large"},
        {"2000000h2000000h", "too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 0;
        struct cpgo_err err = {0};
        CHECK_EQ_INT(cpgo_duration_parse(bad[i].text, &ms, &err), CPGO_E_INPUT);
        CHECK_STR_CONTAINS(err.text, bad[i].msg);
    }
    int64_t ms;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_duration_parse(NULL, &ms, &err), CPGO_E_INPUT);
}

static void test_format(void)
{
    static const struct {
        int64_t ms;
        const char *text;
    } cases[] = {
        {0, "0s"},
        {-5, "0s"},
        {1, "1ms"},
        {250, "250ms"},
        {999, "999ms"},
        {1000, "1s"},
        {1500, "1.5s"},
        {1001, "1.001s"},
        {45000, "45s"},
        {60000, "1m0s"},
        {90000, "1m30s"},
        {120500, "2m0.5s"},
        {3600000, "1h0m0s"},
        {5400000, "1h30m0s"},
        {3661001, "1h1m1.001s"},
        {9223372036854, "2562047h47m16.854s"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        cpgo_duration_format(cases[i].ms, buf, sizeof buf);
        CHECK(!strcmp(buf, cases[i].text));
        if (strcmp(buf, cases[i].text))
            fprintf(stderr, "  %lld -> '%s', want '%s'\n", (long long)cases[i].ms, buf,
                    cases[i].text);
        /* what is printed parses back to the same value */
        int64_t back = -1;
        struct cpgo_err err;
        if (cases[i].ms >= 0) {
            CHECK_EQ_INT(cpgo_duration_parse(buf, &back, &err), 0);
            CHECK_EQ_INT(back, cases[i].ms);
        }
    }
    char small[4];
    cpgo_duration_format(5400000, small, sizeof small); /* truncated, still terminated */
    CHECK(!strcmp(small, "1h3"));
}

static void test_size(void)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } ok[] = {
        {"0", 0},
        {"123", 123},
        {"5B", 5},
        {"64MiB", 64ull << 20},
        {"512KiB", 512ull << 10},
        {"1GB", 1000000000ull},
        {"2GiB", 2ull << 30},
        {"3KB", 3000},
        {"7MB", 7000000},
        {"64 MiB", 64ull << 20},
        {"18446744073709551615", UINT64_MAX},
        {"17179869183GiB", 17179869183ull << 30},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t b = 1;
        struct cpgo_err err = {0};
        CHECK_EQ_INT(cpgo_size_parse(ok[i].text, &b, &err), 0);
        CHECK(b == ok[i].bytes);
    }
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"", "is not a size"},
        {"MiB", "is not a size"},
        {"-1", "is not a size"},
        {" 5", "is not a size"},
        {"1.5GiB", "unknown unit"},
        {"5mib", "unknown unit"},
        {"5 TB", "unknown unit"},
        {"5MiBs", "unknown unit"},
        {"18446744073709551616", "too large"},
        {"17179869184GiB", "too large"},
        {"99999999999999999999999", "too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t b = 0;
        struct cpgo_err err = {0};
        CHECK_EQ_INT(cpgo_size_parse(bad[i].text, &b, &err), CPGO_E_INPUT);
        CHECK_STR_CONTAINS(err.text, bad[i].msg);
    }
    uint64_t b;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_size_parse(NULL, &b, &err), CPGO_E_INPUT);
}

/* Go's own table for time.Duration.String (time_test.go's durationTests) */
static void test_format_ns(void)
{
    static const struct {
        const char *text;
        int64_t ns;
    } t[] = {
        {"0s", 0},
        {"1ns", 1},
        {"1.1\xc2\xb5s", 1100},
        {"2.2ms", 2200000},
        {"3.3s", 3300000000},
        {"4m5s", 245000000000},
        {"4m5.001s", 245001000000},
        {"5h6m7.001s", 18367001000000},
        {"8m0.000000001s", 480000000001},
        {"2562047h47m16.854775807s", INT64_MAX},
        {"-2562047h47m16.854775808s", INT64_MIN},
        {"-1.5s", -1500000000},
        {"250ms", 250000000},
        {"1m30s", 90000000000},
        {"1h0m0s", 3600000000000},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        char buf[32];
        cpgo_duration_format_ns(t[i].ns, buf, sizeof buf);
        if (strcmp(buf, t[i].text)) fprintf(stderr, "%lld: %s\n", (long long)t[i].ns, buf);
        CHECK(!strcmp(buf, t[i].text));
    }
    char small[4];
    cpgo_duration_format_ns(90000000000, small, sizeof small); /* cut, still terminated */
    CHECK(!strcmp(small, "1m3"));
}

int main(void)
{
    test_format_ns();
    test_parse();
    test_format();
    test_size();
    CHECK_DONE();
}
