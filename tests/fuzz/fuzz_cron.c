/* fuzz_cron.c - libFuzzer target: the cron parser, and for every schedule it accepts, a few
 * next fire times (from the epoch's neighbourhood, today, past 2037 and the far edges of the
 * accepted range) and the minimum period. Checks the contract, not just the absence of
 * crashes: a fire time is strictly later than `after` and at most 5 years (plus leap days)
 * away, the normalised text is no longer than the input, and the period is positive. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sched/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a little past the parser's 256-byte limit, so the limit itself is exercised */
    char expr[300];
    if (size >= sizeof expr) size = sizeof expr - 1;
    memcpy(expr, data, size);
    expr[size] = 0;

    struct cpgo_cron *c = NULL;
    struct cpgo_err err;
    if (cpgo_cron_parse(expr, &c, &err)) {
        if (c || !err.text[0] || strchr(err.text, '\n')) abort();
        return 0;
    }
    if (strlen(cpgo_cron_text(c)) > strlen(expr)) abort();
    static const int64_t starts[] = {
        -1,
        0,
        1767225599 /* 2025-12-31 */,
        1793595600 /* 2026-11-01 */,
        2208988800 /* 2040 */,
        -2208988800 /* 1900 */,
        (int64_t)1 << 40,
        -((int64_t)1 << 40),
        INT64_MAX,
        INT64_MIN,
    };
    const int64_t max_gap = (int64_t)(5 * 365 + 2) * 86400;
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        int64_t t = starts[i];
        for (int k = 0; k < 3; k++) {
            int64_t next;
            int rc = cpgo_cron_next(c, t, &next);
            if (rc) {
                if (rc != CPGO_E_INPUT) abort();
                break;
            }
            if (next <= t || next - t > max_gap) abort();
            t = next;
        }
    }
    if (cpgo_cron_min_period(c) <= 0) abort();
    cpgo_cron_free(c);
    return 0;
}
