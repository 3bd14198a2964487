/* Unit tests for merge/merge: the comment stamp ("cpgo-written: <RFC 3339>", issue 12). It
 * replaces older stamps, keeps the other comments in their order, stays the last comment
 * through later adds, a refused add, compaction and a merger folded into another. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "check.h"
#include "merge/merge.h"
#include "pbuild.h"

#define PFX "cpgo-written: "

static struct cpgo_limits lim;

static struct cpgo_profile *dec(const struct cpgo_buf *b)
{
    struct cpgo_profile *p = NULL;
    struct cpgo_err err;
    if (cpgo_profile_decode(b->data, b->len, &lim, &p, &err)) {
        fprintf(stderr, "decode: %s\n", err.text);
        abort();
    }
    return p;
}

/* A one-sample CPU profile with the given comments (NULL-terminated). */
static struct cpgo_profile *prof(int64_t count, const char *const *comments)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_period(b, "cpu", "nanoseconds", 10000000);
    pbuild_times(b, 1700000000000000000LL, 1000);
    for (size_t i = 0; comments && comments[i]; i++)
        pbuild_comment(b, comments[i]);
    pbuild_function(b, 1, "main.f", "main.go", 3);
    pbuild_location(b, 1, 0, 0, 1, (uint64_t[]){1}, (int64_t[]){4});
    pbuild_sample(b, 1, (uint64_t[]){1}, 2, (int64_t[]){count, count * 10});
    struct cpgo_buf raw;
    pbuild_encode(b, 1, &raw);
    pbuild_free(b);
    struct cpgo_profile *p = dec(&raw);
    cpgo_buf_free(&raw);
    return p;
}

/* The comments line of the merger's result ("comments: [a] [b]"), malloc'd. */
static char *comments_of(struct cpgo_merger *m)
{
    struct cpgo_err err;
    struct cpgo_buf out;
    if (cpgo_merge_encode(m, 1, 1, &out, &err)) {
        fprintf(stderr, "encode: %s\n", err.text);
        return strdup("(encode failed)");
    }
    struct cpgo_profile *p = dec(&out);
    char *c = canon_dump(p, 0);
    cpgo_profile_free(p);
    cpgo_buf_free(&out);
    char *line = strstr(c, "comments:");
    char *end = line ? strchr(line, '\n') : NULL;
    char *r = line && end ? strndup(line, (size_t)(end - line)) : strdup("(none)");
    free(c);
    return r;
}

#define CHECK_COMMENTS(m, want)                                                                    \
    do {                                                                                           \
        char *got_ = comments_of(m);                                                               \
        check_count++;                                                                             \
        if (strcmp(got_, (want))) {                                                                \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: %s, expected %s\n", __FILE__, __LINE__, got_, (want));         \
        }                                                                                          \
        free(got_);                                                                                \
    } while (0)

static void test_replace_and_keep_order(void)
{
    struct cpgo_err err;
    const char *c1[] = {"c1", PFX "2026-11-01T00:00:00Z", "c2", NULL};
    const char *c2[] = {"c3", PFX "2025-01-01T00:00:00Z", "c1", NULL};
    struct cpgo_profile *p1 = prof(1, c1), *p2 = prof(2, c2);
    struct cpgo_merger *m;
    cpgo_merge_new(&m, NULL);
    CHECK_EQ_INT(cpgo_merge_add(m, p1, &err), 0);
    CHECK_COMMENTS(m, "comments: [c1] [" PFX "2026-11-01T00:00:00Z] [c2]");
    CHECK_EQ_INT(cpgo_merge_stamp(m, PFX, PFX "2026-12-01T10:00:00Z", &err), 0);
    CHECK_COMMENTS(m, "comments: [c1] [c2] [" PFX "2026-12-01T10:00:00Z]");
    /* a later add: its comments join before the stamp, its own stamp is dropped */
    CHECK_EQ_INT(cpgo_merge_add(m, p2, &err), 0);
    CHECK_COMMENTS(m, "comments: [c1] [c2] [c3] [" PFX "2026-12-01T10:00:00Z]");
    /* a new stamp replaces the old one */
    CHECK_EQ_INT(cpgo_merge_stamp(m, PFX, PFX "2026-12-02T10:00:00Z", &err), 0);
    CHECK_COMMENTS(m, "comments: [c1] [c2] [c3] [" PFX "2026-12-02T10:00:00Z]");
    /* a stamp that is exactly the prefix is a stamp too */
    CHECK_EQ_INT(cpgo_merge_stamp(m, PFX, PFX, &err), 0);
    CHECK_COMMENTS(m, "comments: [c1] [c2] [c3] [" PFX "]");
    /* NULL text: none, and later inputs' stamps are still dropped */
    CHECK_EQ_INT(cpgo_merge_stamp(m, PFX, NULL, &err), 0);
    CHECK_COMMENTS(m, "comments: [c1] [c2] [c3]");
    CHECK_EQ_INT(cpgo_merge_add(m, p1, &err), 0);
    CHECK_COMMENTS(m, "comments: [c1] [c2] [c3]");
    /* another prefix: the stamp moves, a former stamp that does not match it stays as an
     * ordinary comment */
    CHECK_EQ_INT(cpgo_merge_stamp(m, PFX, PFX "2026-12-03T00:00:00Z", &err), 0);
    CHECK_EQ_INT(cpgo_merge_stamp(m, "other: ", "other: x", &err), 0);
    CHECK_COMMENTS(m, "comments: [c1] [c2] [c3] [" PFX "2026-12-03T00:00:00Z] [other: x]");
    /* the result message itself carries the stamp last */
    struct cpgo_merged *r;
    CHECK_EQ_INT(cpgo_merge_result(m, &r, &err), 0);
    CHECK_EQ_INT(r->pb.n_comment, 5);
    size_t len;
    const char *last = cpgo_profile_str(&r->pb, r->pb.comment[r->pb.n_comment - 1], &len);
    CHECK(len == 8 && !memcmp(last, "other: x", 8));
    cpgo_merged_free(r);
    cpgo_merge_free(m);

    /* stamped before any input; an existing file (with its old stamp) then fresh scrapes */
    cpgo_merge_new(&m, NULL);
    CHECK_EQ_INT(cpgo_merge_stamp(m, PFX, PFX "2026-12-01T10:00:00Z", &err), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, p1, &err), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, p2, &err), 0);
    CHECK_COMMENTS(m, "comments: [c1] [c2] [c3] [" PFX "2026-12-01T10:00:00Z]");
    cpgo_merge_free(m);

    /* bad arguments change nothing */
    cpgo_merge_new(&m, NULL);
    CHECK_EQ_INT(cpgo_merge_add(m, p1, &err), 0);
    CHECK_EQ_INT(cpgo_merge_stamp(m, "", "x", &err), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_merge_stamp(m, NULL, NULL, &err), CPGO_E_USAGE);
    CHECK_EQ_INT(cpgo_merge_stamp(m, PFX, "written: 2026", &err), CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "comment stamp");
    char *big = malloc(CPGO_MERGE_MAX_NAME + 2);
    memset(big, 'x', CPGO_MERGE_MAX_NAME + 1);
    big[CPGO_MERGE_MAX_NAME + 1] = 0;
    memcpy(big, PFX, strlen(PFX));
    CHECK_EQ_INT(cpgo_merge_stamp(m, PFX, big, &err), CPGO_E_USAGE);
    free(big);
    CHECK_COMMENTS(m, "comments: [c1] [" PFX "2026-11-01T00:00:00Z] [c2]");
    cpgo_merge_free(m);
    cpgo_profile_free(p1);
    cpgo_profile_free(p2);
}

/* A refused add, a compaction and a merger folded into another keep the stamp last. */
static void test_survives(void)
{
    struct cpgo_err err;
    const char *c1[] = {"c1", PFX "old", NULL};
    const char *c2[] = {"c2", NULL};
    struct cpgo_profile *p1 = prof(5, c1), *p2 = prof(7, c2);
    struct cpgo_merger *m;
    cpgo_merge_new(&m, NULL);
    CHECK_EQ_INT(cpgo_merge_add(m, p1, &err), 0);
    CHECK_EQ_INT(cpgo_merge_stamp(m, PFX, PFX "new", &err), 0);
    /* refused (its value overflows): comments as they were */
    struct cpgo_profile *huge = prof(INT64_MAX / 10, c2);
    CHECK_EQ_INT(cpgo_merge_add(m, huge, &err), CPGO_E_INPUT);
    CHECK_COMMENTS(m, "comments: [c1] [" PFX "new]");
    cpgo_profile_free(huge);
    /* compaction: a sample that sums to zero (no shape: negative values are pprof's) */
    struct cpgo_profile *neg = prof(-5, c2);
    CHECK_EQ_INT(cpgo_merge_add(m, neg, &err), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, p1, &err), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, neg, &err), 0);
    struct cpgo_merged *r;
    CHECK_EQ_INT(cpgo_merge_result(m, &r, &err), 0); /* compacts */
    CHECK_EQ_INT(r->pb.n_sample, 0);
    CHECK_EQ_INT(r->pb.n_comment, 3);
    cpgo_merged_free(r);
    CHECK_COMMENTS(m, "comments: [c1] [c2] [" PFX "new]");
    /* after the compaction the stamp still filters and stays last */
    CHECK_EQ_INT(cpgo_merge_add(m, p1, &err), 0);
    struct cpgo_profile *p4 = prof(1, (const char *[]){"c4", PFX "x", NULL});
    CHECK_EQ_INT(cpgo_merge_add(m, p4, &err), 0);
    cpgo_profile_free(p4);
    CHECK_COMMENTS(m, "comments: [c1] [c2] [c4] [" PFX "new]");

    /* a later merge: the stamped merger into a plain one (its stamp is an input's comment)
     * and into a stamped one (its stamp gives way to dst's) */
    struct cpgo_merger *plain, *stamped;
    cpgo_merge_new(&plain, NULL);
    CHECK_EQ_INT(cpgo_merge_add(plain, p2, &err), 0);
    CHECK_EQ_INT(cpgo_merge_add_merger(plain, m, &err), 0);
    CHECK_COMMENTS(plain, "comments: [c2] [c1] [c4] [" PFX "new]");
    cpgo_merge_new(&stamped, NULL);
    CHECK_EQ_INT(cpgo_merge_stamp(stamped, PFX, PFX "dst", &err), 0);
    CHECK_EQ_INT(cpgo_merge_add(stamped, p2, &err), 0);
    CHECK_EQ_INT(cpgo_merge_add_merger_scaled(stamped, m, (struct cpgo_scale){1, 2, 0, 0}, &err),
                 0);
    CHECK_COMMENTS(stamped, "comments: [c2] [c1] [c4] [" PFX "dst]");
    CHECK_COMMENTS(m, "comments: [c1] [c2] [c4] [" PFX "new]"); /* src unchanged */
    cpgo_merge_free(plain);
    cpgo_merge_free(stamped);
    cpgo_merge_free(m);
    cpgo_profile_free(neg);
    cpgo_profile_free(p1);
    cpgo_profile_free(p2);
}

int main(void)
{
    cpgo_limits_default(&lim);
    test_replace_and_keep_order();
    test_survives();
    CHECK_DONE();
}
