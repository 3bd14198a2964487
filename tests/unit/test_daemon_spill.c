/* Unit tests for daemon/spill's choice (cpgo_spill_pick): least recently used first, only
 * over the budget, down to 7/8 of it, every candidate for a budget of 0 or one too small. */
#include "check.h"
#include "daemon/spill.h"

#define MIB (1024 * 1024)

static void test_lru(void)
{
    /* five targets of 10 MiB, used at 50, 10, 40, 20, 30 */
    struct cpgo_spill_cand c[5] = {
        {50, 10 * MIB, 0}, {10, 10 * MIB, 1}, {40, 10 * MIB, 2},
        {20, 10 * MIB, 3}, {30, 10 * MIB, 4},
    };
    /* within the budget: nothing */
    CHECK_EQ_INT(cpgo_spill_pick(c, 5, 50 * MIB, 64 * MIB), 0);
    CHECK_EQ_INT(cpgo_spill_pick(c, 5, 50 * MIB, 50 * MIB), 0);
    /* 50 MiB over a 40 MiB budget: down to 35 MiB, so two go: the least recently used */
    CHECK_EQ_INT(cpgo_spill_pick(c, 5, 50 * MIB, 40 * MIB), 2);
    CHECK_EQ_INT(c[0].index, 1);
    CHECK_EQ_INT(c[1].index, 3);
    CHECK_EQ_INT(c[2].index, 4); /* next in line */
    CHECK_EQ_INT(c[4].index, 0); /* the most recent last */
    /* memory the candidates do not hold (busy targets) counts in the total: all go */
    CHECK_EQ_INT(cpgo_spill_pick(c, 5, 500 * MIB, 40 * MIB), 5);
    /* a tiny budget: every candidate */
    CHECK_EQ_INT(cpgo_spill_pick(c, 5, 50 * MIB, 1), 5);
    /* a budget of 0: every candidate, even with nothing counted */
    CHECK_EQ_INT(cpgo_spill_pick(c, 5, 0, 0), 5);
    CHECK_EQ_INT(cpgo_spill_pick(c, 0, 50 * MIB, 0), 0);
    /* ties in use: by index, so the order is stable */
    struct cpgo_spill_cand t[3] = {{5, MIB, 2}, {5, MIB, 0}, {5, MIB, 1}};
    CHECK_EQ_INT(cpgo_spill_pick(t, 3, 3 * MIB, 2 * MIB), 2);
    CHECK_EQ_INT(t[0].index, 0);
    CHECK_EQ_INT(t[1].index, 1);
}

int main(void)
{
    test_lru();
    CHECK_DONE();
}
