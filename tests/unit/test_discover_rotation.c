/* The rotation: every instance once before any twice while the set is stable, across
 * restarts (encode/decode), with instances joining and leaving, and busy ones owed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "discover/rotation.h"

static int cmp(const void *a, const void *b)
{
    const struct cpgo_instance *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* n instances 10.0.0.i:6060, sorted by key as discover.c leaves them */
static struct cpgo_instance *fleet(size_t n, size_t first)
{
    struct cpgo_instance *in = calloc(n, sizeof *in);
    for (size_t i = 0; i < n; i++) {
        snprintf(in[i].addr, sizeof in[i].addr, "10.0.%zu.%zu", (first + i) / 250,
                 (first + i) % 250);
        in[i].port = 6060;
        in[i].key = cpgo_instance_key(in[i].addr, in[i].port);
    }
    qsort(in, n, sizeof *in, cmp);
    return in;
}

static size_t round_of(struct cpgo_rotation *r, struct cpgo_instance *in, size_t n, size_t max,
                       size_t *out)
{
    unsigned char *taken = calloc(n ? n : 1, 1);
    size_t got = cpgo_rotation_pick(r, in, n, max, out, taken);
    free(taken);
    return got;
}

/* Over `rounds` rounds, counts per instance never differ by more than one at any time:
 * "every instance once before any twice". With a restart every `restart_every` rounds. */
static void stable(size_t n, size_t max, size_t rounds, size_t restart_every)
{
    struct cpgo_instance *in = fleet(n, 0);
    struct cpgo_rotation r = {0};
    size_t *count = calloc(n, sizeof *count), *out = calloc(n, sizeof *out);
    for (size_t k = 0; k < rounds; k++) {
        size_t got = round_of(&r, in, n, max, out);
        CHECK_EQ_INT((long)got, (long)(max == 0 || max > n ? n : max));
        for (size_t i = 0; i < got; i++)
            count[out[i]]++;
        size_t lo = (size_t)-1, hi = 0;
        for (size_t i = 0; i < n; i++) {
            if (count[i] < lo) lo = count[i];
            if (count[i] > hi) hi = count[i];
        }
        CHECK(hi - lo <= 1);
        if (restart_every && (k + 1) % restart_every == 0) {
            char *s = cpgo_rotation_encode(&r);
            CHECK(s != NULL);
            struct cpgo_rotation back;
            CHECK_EQ_INT(cpgo_rotation_decode(s, strlen(s), &back), 0);
            CHECK(back.cursor == r.cursor && back.has_cursor == r.has_cursor);
            CHECK(back.ndone == r.ndone);
            cpgo_rotation_free(&r);
            r = back;
            free(s);
        }
    }
    /* whole cycles: everyone the same */
    if ((rounds * (max ? max : n)) % n == 0)
        for (size_t i = 1; i < n; i++)
            CHECK_EQ_INT((long)count[i], (long)count[0]);
    cpgo_rotation_free(&r);
    free(count);
    free(out);
    free(in);
}

static void spread(void)
{
    /* the order is the keys', not the addresses': the first round of 10 out of 100 is not
     * 10.0.0.0-9 */
    struct cpgo_instance *in = fleet(100, 0);
    struct cpgo_rotation r = {0};
    size_t out[10];
    size_t got = round_of(&r, in, 100, 10, out);
    CHECK_EQ_INT((long)got, 10);
    int consecutive = 1;
    for (size_t i = 0; i < got; i++) {
        int last;
        sscanf(in[out[i]].addr, "10.0.0.%d", &last);
        if (last != (int)i) consecutive = 0;
    }
    CHECK(!consecutive);
    /* deterministic: a fresh rotation picks the same */
    struct cpgo_rotation r2 = {0};
    size_t out2[10];
    round_of(&r2, in, 100, 10, out2);
    CHECK(!memcmp(out, out2, sizeof out));
    cpgo_rotation_free(&r);
    cpgo_rotation_free(&r2);
    free(in);
}

static void churn(void)
{
    /* 20 instances, 5 a round; after two rounds, 10 new ones join and 3 unscraped ones
     * leave: the cycle still reaches every present instance before repeating one */
    struct cpgo_instance *a = fleet(20, 0);
    struct cpgo_rotation r = {0};
    size_t out[40];
    char seen[64][CPGO_DNS_ADDR_MAX];
    size_t nseen = 0;
    for (int k = 0; k < 2; k++) {
        size_t got = round_of(&r, a, 20, 5, out);
        for (size_t i = 0; i < got; i++)
            snprintf(seen[nseen++], CPGO_DNS_ADDR_MAX, "%s", a[out[i]].addr);
    }
    /* the new set: the 20 minus three not yet scraped, plus 10 new */
    struct cpgo_instance *b = calloc(27, sizeof *b);
    size_t nb = 0, removed = 0;
    for (size_t i = 0; i < 20; i++) {
        int was = 0;
        for (size_t s = 0; s < nseen; s++)
            if (!strcmp(seen[s], a[i].addr)) was = 1;
        if (!was && removed < 3) {
            removed++;
            continue;
        }
        b[nb++] = a[i];
    }
    struct cpgo_instance *c = fleet(10, 100);
    for (size_t i = 0; i < 10; i++)
        b[nb++] = c[i];
    qsort(b, nb, sizeof *b, cmp);
    CHECK_EQ_INT((long)nb, 27);
    /* until every one of the 27 has been scraped once, nothing is scraped twice */
    size_t cnt[27] = {0};
    for (size_t s = 0; s < nseen; s++)
        for (size_t i = 0; i < nb; i++)
            if (!strcmp(seen[s], b[i].addr)) cnt[i]++;
    for (int k = 0; k < 10; k++) {
        size_t got = round_of(&r, b, nb, 5, out);
        for (size_t i = 0; i < got; i++)
            cnt[out[i]]++;
        size_t zero = 0, two = 0;
        for (size_t i = 0; i < nb; i++) {
            if (cnt[i] == 0) zero++;
            if (cnt[i] >= 2) two++;
        }
        CHECK(!(zero > 0 && two > 0));
    }
    cpgo_rotation_free(&r);
    free(a);
    free(b);
    free(c);
}

static void busy(void)
{
    struct cpgo_instance *in = fleet(10, 0);
    struct cpgo_rotation r = {0};
    size_t out[10];
    unsigned char taken[10] = {0};
    size_t got = cpgo_rotation_pick(&r, in, 10, 3, out, taken);
    CHECK_EQ_INT((long)got, 3);
    /* out[1] is busy: a substitute not taken yet, and the busy one is owed */
    size_t sub = cpgo_rotation_next(&r, in, 10, taken);
    CHECK(sub != SIZE_MAX && sub != out[0] && sub != out[1] && sub != out[2]);
    cpgo_rotation_owe(&r, in[out[1]].key);
    size_t out2[10];
    got = round_of(&r, in, 10, 3, out2);
    CHECK_EQ_INT((long)got, 3);
    CHECK(out2[0] == out[1]); /* the owed one first */
    CHECK_EQ_INT((long)r.nowed, 0);
    /* every instance taken: no substitute */
    unsigned char all[10];
    memset(all, 1, sizeof all);
    CHECK(cpgo_rotation_next(&r, in, 10, all) == SIZE_MAX);
    /* a single instance: max 10 picks it once */
    struct cpgo_rotation r1 = {0};
    unsigned char t1[1] = {0};
    CHECK_EQ_INT((long)cpgo_rotation_pick(&r1, in, 1, 10, out, t1), 1);
    /* none */
    CHECK_EQ_INT((long)cpgo_rotation_pick(&r1, in, 0, 10, out, t1), 0);
    cpgo_rotation_free(&r);
    cpgo_rotation_free(&r1);
    free(in);
}

static void decode_bad(void)
{
    struct cpgo_rotation r;
    const char *bad[] = {"",
                         "[]",
                         "{\"cursor\":12}",
                         "{\"cursor\":\"xyz\"}",
                         "{\"owed\":{}}",
                         "{\"owed\":[\"0123\"]}",
                         "{\"cursor\":\"0123456789abcdeg\"}",
                         "nul"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ_INT(cpgo_rotation_decode(bad[i], strlen(bad[i]), &r), -1);
        CHECK_EQ_INT(r.has_cursor, 0);
    }
    const char *ok =
        "{\"cursor\":\"00000000000000ff\",\"owed\":[\"0000000000000001\"],\"rounds\":3}";
    CHECK_EQ_INT(cpgo_rotation_decode(ok, strlen(ok), &r), 0);
    CHECK(r.cursor == 255 && r.nowed == 1 && r.owed[0] == 1 && r.rounds == 3);
    cpgo_rotation_free(&r);
}

int main(void)
{
    stable(7, 3, 50, 0);
    stable(100, 10, 60, 0);
    stable(100, 10, 60, 7); /* restarts mid-cycle */
    stable(5, 0, 10, 3);    /* 0 = all */
    stable(5, 10, 10, 0);   /* more allowed than there are */
    stable(1, 10, 5, 0);
    spread();
    churn();
    busy();
    decode_bad();
    CHECK_DONE();
}
