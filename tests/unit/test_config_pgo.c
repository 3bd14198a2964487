/* test_config_pgo.c - issue 12's `pgo:` section: every accepted and refused form of
 * half_life, weight, no_inline, min_change and verify_with_go (refusals with
 * file:line:column and the key path), the defaults, inheritance from defaults: key by key,
 * services, the target's values and the agreement of its backends and services (weight may
 * differ), the exactness of weights, the normalised dump (and its round trip) and the
 * generated reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config/config.h"

#define NAME "pgo.yaml"
#define BASE "/etc/cpgo"
#define OPR "  open_pull_request:\n    repository: https://github.com/org/app\n"
/* a backend at line 2, whose pgo: section opens at line 4 (its keys from line 5) */
#define B_HEAD                                                                                     \
    "backends:\n"                                                                                  \
    "- url: http://a:6060/debug/pprof/profile\n"                                                   \
    "  schedule: '@hourly'\n"
#define B2_HEAD                                                                                    \
    "- url: http://b:6060/debug/pprof/profile\n"                                                   \
    "  schedule: '@hourly'\n"
#define S_HEAD                                                                                     \
    "services:\n"                                                                                  \
    "- name: checkout\n"                                                                           \
    "  schedule: '@hourly'\n"                                                                      \
    "  static_configs: [{targets: ['10.0.0.7:6060']}]\n"

#define GOPARK "runtime.gopark"
#define LOOPY "google.golang.org/grpc/internal/transport.(*loopyWriter).processData"

static void print_errors(const struct cpgo_config_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "    | %s\n", e->lines[i]);
}

static struct cpgo_config *parse_ok_at(const char *y, int line)
{
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    int rc = cpgo_config_parse(y, strlen(y), NAME, BASE, &c, &e);
    check_count++;
    if (rc || !c) {
        check_failures++;
        fprintf(stderr, "%s:%d: expected a valid config, got %d:\n", __FILE__, line, rc);
        print_errors(&e);
    }
    cpgo_config_errors_free(&e);
    return c;
}
#define parse_ok(y) parse_ok_at(y, __LINE__)

/* Refused with exactly one error line, equal to `want`. */
static void expect_only_at(const char *y, const char *want, int line)
{
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    int rc = cpgo_config_parse(y, strlen(y), NAME, BASE, &c, &e);
    check_count++;
    if (rc != CPGO_E_INPUT || c || e.n != 1 || strcmp(e.lines[0], want)) {
        check_failures++;
        fprintf(stderr, "%s:%d: expected rc %d and the one error\n    > %s\ngot rc %d and:\n",
                __FILE__, line, CPGO_E_INPUT, want, rc);
        print_errors(&e);
    }
    cpgo_config_free(c);
    cpgo_config_errors_free(&e);
}
#define expect_only(y, want) expect_only_at(y, want, __LINE__)

/* Refused with a line containing `needle`. */
static void expect_error_at(const char *y, const char *needle, int line)
{
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    int rc = cpgo_config_parse(y, strlen(y), NAME, BASE, &c, &e);
    check_count++;
    int found = 0;
    for (size_t i = 0; i < e.n; i++)
        found |= strstr(e.lines[i], needle) != NULL;
    if (rc != CPGO_E_INPUT || c || !found) {
        check_failures++;
        fprintf(stderr, "%s:%d: expected an error containing \"%s\", got rc %d and:\n", __FILE__,
                line, needle, rc);
        print_errors(&e);
    }
    cpgo_config_free(c);
    cpgo_config_errors_free(&e);
}
#define expect_error(y, needle) expect_error_at(y, needle, __LINE__)

static char *dump(const struct cpgo_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(cpgo_config_dump(c, f) == 0);
    fclose(f);
    return buf;
}

/* One backend whose pgo: section holds the one line `kv`. */
static char *one(const char *kv)
{
    const char *fmt = B_HEAD "  pgo:\n    %s\n" OPR;
    size_t n = strlen(fmt) + strlen(kv) + 1;
    char *y = malloc(n);
    snprintf(y, n, fmt, kv);
    return y;
}

static void check_default_pgo(const struct cpgo_pgo_cfg *p)
{
    CHECK_EQ_INT(p->half_life_ms, 0);
    CHECK_EQ_INT(p->weight_ppm, 1000000);
    CHECK_EQ_INT(p->nno_inline, 2);
    if (p->nno_inline == 2) {
        CHECK(!strcmp(p->no_inline[0], GOPARK));
        CHECK(!strcmp(p->no_inline[1], LOOPY));
    }
    CHECK_EQ_INT(p->min_change_ppm, 0);
    CHECK_EQ_INT(p->verify_with_go, 0);
}

/* ---------------------------------------------------------------------------------------- */

/* Without pgo: every backend, service and target has the defaults of the issue. */
static void test_defaults(void)
{
    CHECK(!strcmp(cpgo_config_pgo_no_inline_default[0], GOPARK));
    CHECK(!strcmp(cpgo_config_pgo_no_inline_default[1], LOOPY));
    CHECK(cpgo_config_pgo_no_inline_default[2] == NULL);
    struct cpgo_config *c = parse_ok(B_HEAD OPR S_HEAD OPR);
    if (!c) return;
    check_default_pgo(&c->backends[0].pgo);
    check_default_pgo(&c->services[0].pgo);
    check_default_pgo(&c->services[0].tmpl.pgo);
    CHECK_EQ_INT(c->ntargets, 1);
    check_default_pgo(&c->targets[0].pgo);
    /* copies, not shared pointers: each is freed on its own */
    CHECK(c->services[0].pgo.no_inline != c->services[0].tmpl.pgo.no_inline);
    CHECK(c->targets[0].pgo.no_inline != c->backends[0].pgo.no_inline);
    cpgo_config_free(c);
    /* an empty section is all defaults */
    c = parse_ok(B_HEAD "  pgo: {}\n" OPR);
    if (c) check_default_pgo(&c->backends[0].pgo);
    cpgo_config_free(c);
    c = parse_ok(B_HEAD "  pgo:\n" OPR);
    if (c) check_default_pgo(&c->backends[0].pgo);
    cpgo_config_free(c);
}

struct wcase {
    const char *text;
    uint64_t ppm;
};

/* weight: exact millionths from the decimal text, never through a double. */
static void test_weight(void)
{
    static const struct wcase ok[] = {
        {"0.1", 100000},           {"0.000001", 1},      {"1000", 1000000000},
        {"2.5", 2500000},          {"1", 1000000},       {"1.0", 1000000},
        {"0.3", 300000},           {".5", 500000},       {"'0.7'", 700000},
        {"999.999999", 999999999}, {"0.123456", 123456}, {"1000.000000", 1000000000},
        {"007.25", 7250000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char kv[64];
        snprintf(kv, sizeof kv, "weight: %s", ok[i].text);
        char *y = one(kv);
        struct cpgo_config *c = parse_ok(y);
        if (c) {
            CHECK_EQ_INT(c->backends[0].pgo.weight_ppm, ok[i].ppm);
            if (c->backends[0].pgo.weight_ppm != ok[i].ppm) fprintf(stderr, "  (%s)\n", kv);
            /* the target's weight is not a member's */
            CHECK_EQ_INT(c->targets[0].pgo.weight_ppm, 1000000);
        }
        cpgo_config_free(c);
        free(y);
    }
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"-1", "'-1' is out of range (more than 0, at most 1000; at most 6 decimals)"},
        {"-0.1", "'-0.1' is out of range (more than 0, at most 1000; at most 6 decimals)"},
        {"0", "'0' is out of range (more than 0, at most 1000; at most 6 decimals)"},
        {"0.0", "'0.0' is out of range (more than 0, at most 1000; at most 6 decimals)"},
        {"0.0000001", "'0.0000001' has more than 6 decimals"},
        {"1.1234567", "'1.1234567' has more than 6 decimals"},
        {"1000.000001",
         "'1000.000001' is out of range (more than 0, at most 1000; at most 6 decimals)"},
        {"1001", "'1001' is out of range (more than 0, at most 1000; at most 6 decimals)"},
        {"99999999999999999999999",
         "'99999999999999999999999' is out of range (more than 0, at most 1000; at most 6 "
         "decimals)"},
        {"abc", "'abc' is not a decimal number (e.g. 0.1)"},
        {".nan", "'.nan' is not a decimal number (e.g. 0.1)"},
        {"NaN", "'NaN' is not a decimal number (e.g. 0.1)"},
        {".inf", "'.inf' is not a decimal number (e.g. 0.1)"},
        {"-.inf", "'-.inf' is not a decimal number (e.g. 0.1)"},
        {"inf", "'inf' is not a decimal number (e.g. 0.1)"},
        {"1e3", "'1e3' is not a decimal number (e.g. 0.1)"},
        {"0x10", "'0x10' is not a decimal number (e.g. 0.1)"},
        {"5.", "'5.' is not a decimal number (e.g. 0.1)"},
        {"'1 '", "'1 ' is not a decimal number (e.g. 0.1)"},
        {"+1", "'+1' is not a decimal number (e.g. 0.1)"},
        {"1/10", "'1/10' is not a decimal number (e.g. 0.1)"},
        {"'10%'", "'10%' is not a decimal number (e.g. 0.1)"},
        {"''", "'' is not a decimal number (e.g. 0.1)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char kv[64], want[256];
        snprintf(kv, sizeof kv, "weight: %s", bad[i].text);
        snprintf(want, sizeof want, NAME ":5:13: backends[0].pgo.weight: %s", bad[i].why);
        char *y = one(kv);
        expect_only(y, want);
        free(y);
    }
    char *y = one("weight: [1]");
    expect_only(y, NAME ":5:13: backends[0].pgo.weight: expected a decimal number (e.g. 0.1), "
                        "got a list");
    free(y);
    y = one("weight:");
    expect_only(y, NAME ":5:12: backends[0].pgo.weight: needs a value (a decimal number (e.g. "
                        "0.1))");
    free(y);
}

/* min_change: percent x 10,000; "5%" and "5" alike. */
static void test_min_change(void)
{
    static const struct {
        const char *text;
        uint32_t ppm;
    } ok[] = {
        {"5%", 50000},
        {"0.5%", 5000},
        {"5", 50000},
        {"0", 0},
        {"0%", 0},
        {"100%", 1000000},
        {"100", 1000000},
        {"0.0001%", 1},
        {"'12.25%'", 122500},
        {"100.0000%", 1000000},
        {"99.9999", 999999},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char kv[64];
        snprintf(kv, sizeof kv, "min_change: %s", ok[i].text);
        char *y = one(kv);
        struct cpgo_config *c = parse_ok(y);
        if (c) {
            CHECK_EQ_INT(c->backends[0].pgo.min_change_ppm, ok[i].ppm);
            CHECK_EQ_INT(c->targets[0].pgo.min_change_ppm, ok[i].ppm);
        }
        cpgo_config_free(c);
        free(y);
    }
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"100.0001%", "'100.0001%' is out of range (0% to 100%; at most 4 decimals)"},
        {"101", "'101' is out of range (0% to 100%; at most 4 decimals)"},
        {"-5%", "'-5%' is out of range (0% to 100%; at most 4 decimals)"},
        {"-0.1", "'-0.1' is out of range (0% to 100%; at most 4 decimals)"},
        {"'5%%'", "'5%%' is not a percentage (e.g. 5% or 0.5%)"},
        {"'%'", "'%' is not a percentage (e.g. 5% or 0.5%)"},
        {"five", "'five' is not a percentage (e.g. 5% or 0.5%)"},
        {"'5 %'", "'5 %' is not a percentage (e.g. 5% or 0.5%)"},
        {"'%5'", "'%5' is not a percentage (e.g. 5% or 0.5%)"},
        {".nan", "'.nan' is not a percentage (e.g. 5% or 0.5%)"},
        {"5e1", "'5e1' is not a percentage (e.g. 5% or 0.5%)"},
        {"0.00001%", "'0.00001%' has more than 4 decimals"},
        {"99999999999999999999%",
         "'99999999999999999999%' is out of range (0% to 100%; at most 4 decimals)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char kv[64], want[256];
        snprintf(kv, sizeof kv, "min_change: %s", bad[i].text);
        snprintf(want, sizeof want, NAME ":5:17: backends[0].pgo.min_change: %s", bad[i].why);
        char *y = one(kv);
        expect_only(y, want);
        free(y);
    }
}

/* half_life: a Go duration, 0 (off) or at least a minute. */
static void test_half_life(void)
{
    static const struct {
        const char *text;
        int64_t ms;
    } ok[] = {{"168h", 168 * 3600000LL},
              {"1m", 60000},
              {"0", 0},
              {"0s", 0},
              {"1h30m", 5400000},
              {"87600h", 87600 * 3600000LL},
              {"60s", 60000},
              {"'72h'", 72 * 3600000LL}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char kv[64];
        snprintf(kv, sizeof kv, "half_life: %s", ok[i].text);
        char *y = one(kv);
        struct cpgo_config *c = parse_ok(y);
        if (c) {
            CHECK_EQ_INT(c->backends[0].pgo.half_life_ms, ok[i].ms);
            CHECK_EQ_INT(c->targets[0].pgo.half_life_ms, ok[i].ms);
        }
        cpgo_config_free(c);
        free(y);
    }
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"-1h", "'-1h' is not a duration: durations are never negative"},
        {"-168h", "'-168h' is not a duration: durations are never negative"},
        {"30s", "30s is below 1m; give 0 (no decay) or at least 1m (e.g. 168h)"},
        {"59.999s", "59.999s is below 1m; give 0 (no decay) or at least 1m (e.g. 168h)"},
        {"1ms", "1ms is below 1m; give 0 (no decay) or at least 1m (e.g. 168h)"},
        {"168", "'168' is not a duration (e.g. 45s)"},
        {"a week", "'a week' is not a duration (e.g. 45s)"},
        {"7d", "'7d' is not a duration (e.g. 45s)"},
        {"87601h", "'87601h' is out of range (0, or 1m to 87600h)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char kv[64], want[256];
        snprintf(kv, sizeof kv, "half_life: %s", bad[i].text);
        snprintf(want, sizeof want, NAME ":5:16: backends[0].pgo.half_life: %s", bad[i].why);
        char *y = one(kv);
        expect_only(y, want);
        free(y);
    }
}

/* no_inline: names as written, in order; [] and null are none; limits on entries. */
static void test_no_inline(void)
{
    char *y = one("no_inline: ['main.(*T).hot', runtime.mallocgc, 'pkg.F[go.shape.int]']");
    struct cpgo_config *c = parse_ok(y);
    free(y);
    if (c) {
        const struct cpgo_pgo_cfg *p = &c->backends[0].pgo;
        CHECK_EQ_INT(p->nno_inline, 3);
        if (p->nno_inline == 3) {
            CHECK(!strcmp(p->no_inline[0], "main.(*T).hot"));
            CHECK(!strcmp(p->no_inline[1], "runtime.mallocgc"));
            CHECK(!strcmp(p->no_inline[2], "pkg.F[go.shape.int]"));
        }
        CHECK_EQ_INT(c->targets[0].pgo.nno_inline, 3);
    }
    cpgo_config_free(c);
    y = one("no_inline: []");
    c = parse_ok(y);
    free(y);
    if (c) CHECK_EQ_INT(c->backends[0].pgo.nno_inline, 0);
    if (c) CHECK_EQ_INT(c->targets[0].pgo.nno_inline, 0);
    cpgo_config_free(c);
    y = one("no_inline: null");
    c = parse_ok(y);
    free(y);
    if (c) CHECK_EQ_INT(c->backends[0].pgo.nno_inline, 0);
    cpgo_config_free(c);
    /* block style, and a name of exactly 1024 bytes */
    char big[1100], kv[1200];
    memset(big, 'f', 1024);
    big[1024] = 0;
    snprintf(kv, sizeof kv, "no_inline:\n    - %s\n    - b.c", big);
    y = one(kv);
    c = parse_ok(y);
    free(y);
    if (c) CHECK_EQ_INT(c->backends[0].pgo.nno_inline, 2);
    if (c && c->backends[0].pgo.nno_inline == 2)
        CHECK_EQ_INT(strlen(c->backends[0].pgo.no_inline[0]), 1024);
    cpgo_config_free(c);
    /* 1025 bytes */
    big[1024] = 'f';
    big[1025] = 0;
    snprintf(kv, sizeof kv, "no_inline: [a.b, %s]", big);
    y = one(kv);
    expect_error(y, NAME ":5:22: backends[0].pgo.no_inline[1]: 'ffff");
    expect_error(y, "' is 1025 bytes long; a function name has at most 1024");
    free(y);
    /* 256 entries, then 257 */
    size_t cap = 300 * 8 + 64;
    char *list = malloc(cap);
    size_t len = (size_t)snprintf(list, cap, "no_inline: [");
    for (int i = 0; i < 256; i++)
        len += (size_t)snprintf(list + len, cap - len, "%sf.n%d", i ? ", " : "", i);
    snprintf(list + len, cap - len, "]");
    y = one(list);
    c = parse_ok(y);
    free(y);
    if (c) CHECK_EQ_INT(c->backends[0].pgo.nno_inline, 256);
    if (c && c->backends[0].pgo.nno_inline == 256)
        CHECK(!strcmp(c->backends[0].pgo.no_inline[255], "f.n255"));
    cpgo_config_free(c);
    snprintf(list + len, cap - len, ", f.n256]");
    y = one(list);
    expect_only(y, NAME ":5:16: backends[0].pgo.no_inline: 257 entries; at most 256 are allowed");
    free(y);
    free(list);
    /* empty, a line break, a control character, NUL, not a string, not a list */
    y = one("no_inline: [a.b, '']");
    expect_only(y, NAME ":5:22: backends[0].pgo.no_inline[1]: expected a string, got an empty one");
    free(y);
    y = one("no_inline:\n    - a.b\n    -\n");
    expect_only(y, NAME ":7:6: backends[0].pgo.no_inline[1]: expected a string, got nothing");
    free(y);
    y = one("no_inline: [\"main.f\\nmain.g\"]");
    expect_only(y, NAME ":5:17: backends[0].pgo.no_inline[0]: 'main.f?main.g' contains a line "
                        "break or control character; a function name is one line");
    free(y);
    y = one("no_inline: [\"main.f\\tx\"]");
    expect_only(y, NAME ":5:17: backends[0].pgo.no_inline[0]: 'main.f?x' contains a line "
                        "break or control character; a function name is one line");
    free(y);
    y = one("no_inline: [\"main.f\\0\"]");
    expect_only(y, NAME ":5:17: backends[0].pgo.no_inline[0]: a value must not contain a NUL "
                        "character");
    free(y);
    y = one("no_inline: [[a]]");
    expect_only(y, NAME ":5:17: backends[0].pgo.no_inline[0]: expected a string, got a list");
    free(y);
    y = one("no_inline: runtime.gopark");
    expect_only(y, NAME ":5:16: backends[0].pgo.no_inline: expected a list of strings, got a "
                        "single value");
    free(y);
}

static void test_verify_and_keys(void)
{
    char *y = one("verify_with_go: true");
    struct cpgo_config *c = parse_ok(y);
    free(y);
    if (c) CHECK_EQ_INT(c->backends[0].pgo.verify_with_go, 1);
    if (c) CHECK_EQ_INT(c->targets[0].pgo.verify_with_go, 1);
    cpgo_config_free(c);
    y = one("verify_with_go: 'true'");
    expect_only(y, NAME ":5:21: backends[0].pgo.verify_with_go: 'true' is not true or false");
    free(y);
    y = one("verify_with_go: yes");
    expect_only(y, NAME ":5:21: backends[0].pgo.verify_with_go: 'yes' is not true or false");
    free(y);
    y = one("halflife: 1h");
    expect_only(y, NAME ":5:5: backends[0].pgo.halflife: unknown key; did you mean 'half_life'?");
    free(y);
    y = one("weight: 1\n    weight: 2");
    expect_only(y, NAME ":6:5: backends[0].pgo.weight: duplicate key (first at line 5)");
    free(y);
    expect_only(B_HEAD "  pgo: [weight]\n" OPR,
                NAME ":4:8: backends[0].pgo: expected a mapping, got a list");
    /* pgo is a backend key: not at the top level */
    expect_only("pgo: {weight: 1}\n" B_HEAD OPR,
                NAME ":1:1: pgo: unknown key here; 'pgo' is a backend setting (under backends[] "
                     "or defaults)");
    /* every error is reported, not only the first */
    struct cpgo_config *c2 = NULL;
    struct cpgo_config_errors e;
    const char *many = B_HEAD "  pgo:\n    weight: 0\n    min_change: 200%\n    half_life: 1s\n"
                              "    no_inline: ['']\n" OPR;
    CHECK_EQ_INT(cpgo_config_parse(many, strlen(many), NAME, BASE, &c2, &e), CPGO_E_INPUT);
    CHECK_EQ_INT(e.n, 4);
    cpgo_config_errors_free(&e);
    cpgo_config_free(c2);
}

/* defaults: pgo keys are inherited one by one; a backend's key replaces that key only. */
static void test_inheritance(void)
{
    const char *y =
        "defaults:\n"
        "  pgo:\n"
        "    half_life: 168h\n"
        "    weight: 0.5\n"
        "    no_inline: [x.hot, y.hot]\n"
        "    min_change: 5%\n" B_HEAD "  pgo:\n"
        "    weight: 0.1\n" OPR "- url: http://b:6060/\n"
        "  schedule: '@hourly'\n" OPR S_HEAD "  pgo: {weight: 2.5}\n" OPR "- name: payments\n"
        "  schedule: '@hourly'\n"
        "  static_configs: [{targets: ['10.0.0.8:6060']}]\n"
        "  open_pull_request: {repository: https://github.com/org/pay}\n";
    struct cpgo_config *c = parse_ok(y);
    if (!c) return;
    const struct cpgo_pgo_cfg *a = &c->backends[0].pgo, *b = &c->backends[1].pgo,
                              *s = &c->services[0].pgo, *p = &c->services[1].pgo;
    CHECK_EQ_INT(a->weight_ppm, 100000);
    CHECK_EQ_INT(b->weight_ppm, 500000);
    CHECK_EQ_INT(s->weight_ppm, 2500000);
    CHECK_EQ_INT(c->services[0].tmpl.pgo.weight_ppm, 2500000);
    CHECK_EQ_INT(p->weight_ppm, 500000);
    const struct cpgo_pgo_cfg *all[] = {a, b, s, p, &c->targets[0].pgo, &c->targets[1].pgo};
    for (size_t i = 0; i < 6; i++) {
        CHECK_EQ_INT(all[i]->half_life_ms, 168 * 3600000LL);
        CHECK_EQ_INT(all[i]->min_change_ppm, 50000);
        CHECK_EQ_INT(all[i]->verify_with_go, 0);
        CHECK_EQ_INT(all[i]->nno_inline, 2);
        if (all[i]->nno_inline == 2)
            CHECK(!strcmp(all[i]->no_inline[0], "x.hot") && !strcmp(all[i]->no_inline[1], "y.hot"));
    }
    CHECK(a->no_inline != b->no_inline); /* each its own copy */
    CHECK_EQ_INT(c->ntargets, 2);
    CHECK_EQ_INT(c->targets[0].nbackends, 2);
    CHECK_EQ_INT(c->targets[0].nservices, 1);
    CHECK_EQ_INT(c->targets[0].pgo.weight_ppm, 1000000);
    cpgo_config_free(c);

    /* a backend's [] replaces the default list (and so must every member of the target) */
    c = parse_ok("defaults:\n  pgo: {no_inline: [x.hot]}\n" B_HEAD "  pgo: {no_inline: []}\n" OPR);
    if (c) CHECK_EQ_INT(c->backends[0].pgo.nno_inline, 0);
    cpgo_config_free(c);
    /* an error in defaults is reported there, once */
    expect_only("defaults:\n  pgo: {weight: 0}\n" B_HEAD OPR B2_HEAD OPR,
                NAME ":2:17: defaults.pgo.weight: '0' is out of range (more than 0, at most 1000; "
                     "at most 6 decimals)");
}

/* The members of one target agree on all of pgo but weight. */
static void test_agreement(void)
{
    const char *tail = "differs from backends[0] (%s), which writes the same target "
                       "github.com/org/app@main:default.pgo; backends of one target must agree "
                       "on pgo settings (all but weight, which is each backend's own)";
    char want[600], t[400];
    /* half_life: backends[1] is at line 6, its pgo key at line 9 */
    snprintf(t, sizeof t, tail, "168h0m0s");
    snprintf(want, sizeof want, NAME ":12:16: backends[1].pgo.half_life: 24h0m0s %s", t);
    expect_only(B_HEAD "  pgo: {half_life: 168h}\n" OPR B2_HEAD OPR "  pgo:\n    half_life: 24h\n",
                want);
    /* half_life set on one only: the other's default differs */
    snprintf(t, sizeof t, tail, "168h0m0s");
    snprintf(want, sizeof want, NAME ":7:3: backends[1].pgo.half_life: 0s %s", t);
    expect_only(B_HEAD "  pgo: {half_life: 168h}\n" OPR B2_HEAD OPR, want);
    /* min_change */
    snprintf(t, sizeof t, tail, "5%");
    snprintf(want, sizeof want, NAME ":12:17: backends[1].pgo.min_change: 0.5%% %s", t);
    expect_only(B_HEAD "  pgo: {min_change: 5%}\n" OPR B2_HEAD OPR "  pgo:\n    min_change: 0.5\n",
                want);
    /* verify_with_go */
    snprintf(t, sizeof t, tail, "false");
    snprintf(want, sizeof want, NAME ":11:21: backends[1].pgo.verify_with_go: true %s", t);
    expect_only(B_HEAD OPR B2_HEAD OPR "  pgo:\n    verify_with_go: true\n", want);
    /* no_inline: another set of names */
    snprintf(t, sizeof t, tail, "[a.f, b.g]");
    snprintf(want, sizeof want, NAME ":12:16: backends[1].pgo.no_inline: [a.f] %s", t);
    expect_only(B_HEAD "  pgo: {no_inline: [a.f, b.g]}\n" OPR B2_HEAD OPR
                       "  pgo:\n    no_inline: [a.f]\n",
                want);
    snprintf(want, sizeof want, NAME ":12:16: backends[1].pgo.no_inline: [] %s", t);
    expect_only(B_HEAD "  pgo: {no_inline: [a.f, b.g]}\n" OPR B2_HEAD OPR
                       "  pgo:\n    no_inline: []\n",
                want);
    snprintf(want, sizeof want, NAME ":12:16: backends[1].pgo.no_inline: [a.f, c.h] %s", t);
    expect_only(B_HEAD "  pgo: {no_inline: [a.f, b.g]}\n" OPR B2_HEAD OPR
                       "  pgo:\n    no_inline: [a.f, c.h]\n",
                want);
    /* ... the same names in another order agree; weights may differ */
    struct cpgo_config *c = parse_ok(
        B_HEAD "  pgo: {no_inline: [a.f, b.g], weight: 0.1, half_life: 1h}\n" OPR B2_HEAD OPR
               "  pgo:\n    no_inline: [b.g, a.f]\n    weight: 3\n    half_life: 60m\n");
    if (c) {
        CHECK_EQ_INT(c->ntargets, 1);
        CHECK_EQ_INT(c->backends[0].pgo.weight_ppm, 100000);
        CHECK_EQ_INT(c->backends[1].pgo.weight_ppm, 3000000);
        /* the target's list is its first member's, in its order */
        CHECK_EQ_INT(c->targets[0].pgo.nno_inline, 2);
        if (c->targets[0].pgo.nno_inline == 2)
            CHECK(!strcmp(c->targets[0].pgo.no_inline[0], "a.f"));
        CHECK_EQ_INT(c->targets[0].pgo.half_life_ms, 3600000);
    }
    cpgo_config_free(c);
    /* the default list written out agrees with the default */
    c = parse_ok(B_HEAD OPR B2_HEAD OPR "  pgo:\n    no_inline: ['" LOOPY "', " GOPARK "]\n");
    if (c) CHECK_EQ_INT(c->ntargets, 1);
    cpgo_config_free(c);
    /* other targets need not agree */
    c = parse_ok(B_HEAD "  pgo: {half_life: 168h, min_change: 5%}\n" OPR B2_HEAD OPR
                        "    target_file: other.pgo\n");
    if (c) {
        CHECK_EQ_INT(c->ntargets, 2);
        CHECK_EQ_INT(c->targets[0].pgo.half_life_ms, 168 * 3600000LL);
        CHECK_EQ_INT(c->targets[1].pgo.half_life_ms, 0);
        CHECK_EQ_INT(c->targets[1].pgo.min_change_ppm, 0);
    }
    cpgo_config_free(c);
    /* a target mixing a backend and a service: both named, with the key */
    snprintf(t, sizeof t, tail, "5%");
    snprintf(want, sizeof want, NAME ":11:21: services[0].pgo.min_change: 10%% %s", t);
    expect_only(B_HEAD "  pgo: {min_change: 5%}\n" OPR S_HEAD "  pgo: {min_change: 10%}\n" OPR,
                want);
    /* the default list, shown cut to 80 bytes */
    expect_error(
        B_HEAD OPR S_HEAD "  pgo: {no_inline: [main.f]}\n" OPR, NAME
        ":10:20: services[0].pgo.no_inline: [main.f] differs from backends[0] ([runtime.gopark, "
        "google.golang.org/grpc/internal/transport.(*loopyWriter).proces...)");
    /* two services; an inherited value says so */
    snprintf(want, sizeof want,
             NAME ":2:25: services[1].pgo.verify_with_go: true (from defaults) differs from "
                  "services[0] (false), which writes the same target "
                  "github.com/org/app@main:default.pgo; backends of one target must agree on pgo "
                  "settings (all but weight, which is each backend's own)");
    expect_only("defaults:\n  pgo: {verify_with_go: true}\n" S_HEAD
                "  pgo: {verify_with_go: false}\n" OPR "- name: b\n  schedule: '@hourly'\n"
                "  static_configs: [{targets: ['10.0.0.9:6060']}]\n" OPR,
                want);
    /* a weight that differs is no error, in a mixed target too */
    c = parse_ok(B_HEAD "  pgo: {weight: 0.25}\n" OPR S_HEAD "  pgo: {weight: 4}\n" OPR);
    if (c) {
        CHECK_EQ_INT(c->ntargets, 1);
        CHECK_EQ_INT(c->backends[0].pgo.weight_ppm, 250000);
        CHECK_EQ_INT(c->services[0].pgo.weight_ppm, 4000000);
    }
    cpgo_config_free(c);
}

/* The dump shows the normalised values and loads again into the same dump. */
static void test_dump(void)
{
    const char *y = B_HEAD
        "  pgo:\n    half_life: 10080m\n    weight: 0.10\n    min_change: 0.50\n"
        "    verify_with_go: true\n    no_inline: ['main.(*T).f', \"a: b\", 'y', \"q'\\\"\"]\n" OPR
            S_HEAD "  pgo:\n    half_life: 168h\n    weight: '1000'\n    min_change: 0.5%\n"
        "    verify_with_go: true\n    no_inline: ['main.(*T).f', \"a: b\", 'y', \"q'\\\"\"]\n" OPR;
    struct cpgo_config *c = parse_ok(y);
    if (!c) return;
    char *d = dump(c);
    CHECK_STR_CONTAINS(d, "  pgo:\n"
                          "    half_life: 168h0m0s\n"
                          "    weight: 0.1\n"
                          "    no_inline:\n"
                          "    - \"main.(*T).f\"\n"
                          "    - \"a: b\"\n"
                          "    - \"y\"\n"
                          "    - \"q'\\\"\"\n"
                          "    min_change: 0.5%\n"
                          "    verify_with_go: true\n");
    CHECK_STR_CONTAINS(d, "    weight: 1000\n");
    struct cpgo_config *c2 = parse_ok(d);
    if (c2) {
        char *d2 = dump(c2);
        CHECK(!strcmp(d, d2));
        if (strcmp(d, d2)) fprintf(stderr, "--- first\n%s--- second\n%s", d, d2);
        free(d2);
        CHECK_EQ_INT(c2->backends[0].pgo.weight_ppm, 100000);
        CHECK_EQ_INT(c2->services[0].pgo.weight_ppm, 1000000000);
        CHECK_EQ_INT(c2->backends[0].pgo.nno_inline, 4);
        if (c2->backends[0].pgo.nno_inline == 4) {
            CHECK(!strcmp(c2->backends[0].pgo.no_inline[2], "y"));
            CHECK(!strcmp(c2->backends[0].pgo.no_inline[3], "q'\""));
        }
    }
    cpgo_config_free(c2);
    free(d);
    cpgo_config_free(c);

    /* without pgo: the defaults, after open_pull_request, the list in its order */
    c = parse_ok(B_HEAD OPR);
    if (!c) return;
    d = dump(c);
    CHECK_STR_CONTAINS(d, "    reopen_growth: 100\n"
                          "    labels: []\n"
                          "    reviewers: []\n"
                          "    assignees: []\n"
                          "    draft: false\n"
                          "    auto_merge: false\n"
                          "    commit_prefix: \"\"\n"
                          "  pgo:\n"
                          "    half_life: 0s\n"
                          "    weight: 1\n"
                          "    no_inline:\n"
                          "    - runtime.gopark\n"
                          "    - \"" LOOPY "\"\n"
                          "    min_change: 0%\n"
                          "    verify_with_go: false\n"
                          "# 1 target");
    free(d);
    cpgo_config_free(c);
    /* small and odd values */
    char *y1 = one("weight: 0.000001");
    c = parse_ok(y1);
    free(y1);
    if (c) {
        d = dump(c);
        CHECK_STR_CONTAINS(d, "    weight: 0.000001\n");
        CHECK_STR_CONTAINS(d, "    no_inline:\n    - runtime.gopark\n");
        free(d);
    }
    cpgo_config_free(c);
    y1 = one("no_inline: []\n    min_change: 0.0001%\n    weight: 2.5");
    c = parse_ok(y1);
    free(y1);
    if (c) {
        d = dump(c);
        CHECK_STR_CONTAINS(d, "    weight: 2.5\n    no_inline: []\n    min_change: 0.0001%\n");
        struct cpgo_config *c3 = parse_ok(d);
        if (c3) CHECK_EQ_INT(c3->backends[0].pgo.nno_inline, 0);
        cpgo_config_free(c3);
        free(d);
    }
    cpgo_config_free(c);
}

/* docs/CONFIG.md's keys come from the table: the section with its defaults and bounds. */
static void test_reference(void)
{
    char *ref = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&ref, &len);
    cpgo_config_write_reference(f);
    fclose(f);
    CHECK_STR_CONTAINS(ref, "| `backends[].pgo` | mapping |");
    CHECK_STR_CONTAINS(ref, "| `backends[].pgo.half_life` | duration | `0` | 0, or 1m to 87600h |");
    CHECK_STR_CONTAINS(ref, "| `backends[].pgo.weight` | decimal | `1` | more than 0, at most "
                            "1000; at most 6 decimals |");
    CHECK_STR_CONTAINS(ref, "| `backends[].pgo.no_inline` | list of strings | `runtime.gopark`, "
                            "`" LOOPY "` | at most 256 names of at most 1024 bytes |");
    CHECK_STR_CONTAINS(ref, "| `backends[].pgo.min_change` | percentage | `0%` | 0% to 100%; "
                            "at most 4 decimals |");
    CHECK_STR_CONTAINS(ref, "| `backends[].pgo.verify_with_go` | boolean | `false` |");
    CHECK_STR_CONTAINS(ref, "and on `pgo` but its `weight`");
    /* services take the section too */
    CHECK_STR_CONTAINS(ref, "`open_pull_request`, `pgo`.");
    free(ref);
}

int main(void)
{
    setenv("XDG_STATE_HOME", "/tmp/xdg-state", 1);
    test_defaults();
    test_weight();
    test_min_change();
    test_half_life();
    test_no_inline();
    test_verify_and_keys();
    test_inheritance();
    test_agreement();
    test_dump();
    test_reference();
    CHECK_DONE();
}
