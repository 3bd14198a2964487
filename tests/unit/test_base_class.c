/* test_base_class.c - the shared failure classes: names (metric labels), retry policy,
 * and the class carried in struct cpgo_err as data. */
#include <string.h>

#include "base/class.h"
#include "base/err.h"
#include "check.h"

int main(void)
{
    /* every class has a name and a kind; names are the labels metrics and logs used before
     * the classes were shared, so they must not change */
    for (int c = 0; c < CPGO_CLASS_COUNT; c++) {
        CHECK(cpgo_class_name(c) && *cpgo_class_name(c));
        CHECK(strcmp(cpgo_class_name(c), "unknown"));
        CHECK(strcmp(cpgo_class_kind_name(cpgo_class_kind(c)), "unknown"));
        CHECK_EQ_INT(cpgo_class_kind(c) == CPGO_KIND_NONE, c == CPGO_CLASS_OK);
        /* one name, one class: except "internal", named the same for both policies */
        for (int d = c + 1; d < CPGO_CLASS_COUNT; d++)
            if (!strcmp(cpgo_class_name(c), cpgo_class_name(d)))
                CHECK(c == CPGO_CLASS_INTERNAL && d == CPGO_CLASS_INTERNAL_RETRY);
    }
    CHECK(!strcmp(cpgo_class_name(CPGO_CLASS_COUNT), "unknown"));
    CHECK(!strcmp(cpgo_class_name((enum cpgo_class) - 1), "unknown"));
    CHECK(!strcmp(cpgo_class_name(CPGO_CLASS_BODY_LIMIT), "body_size_limit"));
    CHECK(!strcmp(cpgo_class_name(CPGO_CLASS_NOT_CPU), "not_cpu_profile"));
    CHECK(!strcmp(cpgo_class_name(CPGO_CLASS_HTTP_4XX), "http_4xx"));
    CHECK(!strcmp(cpgo_class_name(CPGO_CLASS_RATE_LIMITED), "rate_limited"));
    CHECK(!strcmp(cpgo_class_name(CPGO_CLASS_INTERNAL_RETRY), "internal"));
    CHECK(!strcmp(cpgo_class_kind_name(cpgo_class_kind(CPGO_CLASS_LOCAL)), "local_io"));

    /* the retry policy each producer had before: scrape (dns .. oom), git (network,
     * conflict, local, internal), GitHub (transient, rate_limited) */
    static const enum cpgo_class transient[] = {
        CPGO_CLASS_DNS,
        CPGO_CLASS_CONNECT,
        CPGO_CLASS_TIMEOUT,
        CPGO_CLASS_RESET,
        CPGO_CLASS_PARTIAL,
        CPGO_CLASS_HTTP_5XX,
        CPGO_CLASS_BUSY,
        CPGO_CLASS_INFLIGHT_LIMIT,
        CPGO_CLASS_OOM,
        CPGO_CLASS_NETWORK,
        CPGO_CLASS_CONFLICT,
        CPGO_CLASS_LOCAL,
        CPGO_CLASS_INTERNAL_RETRY,
        CPGO_CLASS_TRANSIENT,
        CPGO_CLASS_RATE_LIMITED,
    };
    size_t nt = sizeof transient / sizeof *transient;
    for (int c = 0; c < CPGO_CLASS_COUNT; c++) {
        int want = 0;
        for (size_t i = 0; i < nt; i++)
            want |= transient[i] == (enum cpgo_class)c;
        if (cpgo_class_transient(c) != want)
            fprintf(stderr, "class %s: transient should be %d\n", cpgo_class_name(c), want);
        CHECK_EQ_INT(cpgo_class_transient(c), want);
    }
    CHECK(!cpgo_class_transient(CPGO_CLASS_COUNT));

    /* the class travels as data: the text never decides it */
    struct cpgo_err e;
    cpgo_err_set(&e, CPGO_E_LIMIT, "decompressed profile exceeds the limit");
    CHECK_EQ_INT(cpgo_err_to_class(&e), CPGO_CLASS_LIMIT);
    cpgo_err_set_class(&e, CPGO_CLASS_DECOMPRESSED_LIMIT, CPGO_E_LIMIT, "too big");
    CHECK_EQ_INT(cpgo_err_to_class(&e), CPGO_CLASS_DECOMPRESSED_LIMIT);
    cpgo_err_prefix(&e, "backend a");
    CHECK_EQ_INT(cpgo_err_to_class(&e), CPGO_CLASS_DECOMPRESSED_LIMIT); /* context kept */
    cpgo_err_set(&e, CPGO_E_LIMIT, "another limit"); /* a new failure forgets it */
    CHECK_EQ_INT(cpgo_err_to_class(&e), CPGO_CLASS_LIMIT);
    cpgo_err_set(&e, CPGO_E_INPUT, "x");
    CHECK_EQ_INT(cpgo_err_to_class(&e), CPGO_CLASS_BAD_PAYLOAD);
    cpgo_err_set(&e, CPGO_E_EMPTY, "x");
    CHECK_EQ_INT(cpgo_err_to_class(&e), CPGO_CLASS_NO_DATA);
    cpgo_err_set(&e, CPGO_E_INCOMPAT, "x");
    CHECK_EQ_INT(cpgo_err_to_class(&e), CPGO_CLASS_INCOMPATIBLE);
    cpgo_err_set(&e, CPGO_E_NOMEM, "x");
    CHECK_EQ_INT(cpgo_err_to_class(&e), CPGO_CLASS_OOM);
    cpgo_err_set(&e, CPGO_E_IO, "x");
    CHECK_EQ_INT(cpgo_err_to_class(&e), CPGO_CLASS_INTERNAL);
    CHECK_DONE();
}
