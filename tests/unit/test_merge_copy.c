/* Unit tests for merge/merge: a merger folded into a fresh merger with the same options is
 * copied (cpgo_merge_copyable) instead of exported and read back, and the copy encodes to
 * exactly the bytes the read-back gives: for generated profiles of both kinds under every
 * trim, a shape, values that cancel to zero (compaction), comments, several mappings and
 * recursion on one line (addresses kept under strip_addresses), with no_inline names the
 * source does not hold; also after more adds (which the names still rename) and a stamp on
 * both. Where a read-back would change something (a label the export writes as
 * nothing, renaming, a scale, other options, a non-empty destination) it is not copied,
 * and the result is still the read-back's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "merge/merge.h"
#include "pbuild.h"
#include "profile/shape.h"

static struct cpgo_limits lim;

static struct cpgo_profile *dec_pb(struct pbuild *b)
{
    struct cpgo_buf raw;
    pbuild_encode(b, 1, &raw);
    struct cpgo_profile *p = NULL;
    struct cpgo_err err;
    if (cpgo_profile_decode(raw.data, raw.len, &lim, &p, &err)) {
        fprintf(stderr, "decode: %s\n", err.text);
        abort();
    }
    cpgo_buf_free(&raw);
    return p;
}

static void add_pb(struct cpgo_merger *m, struct pbuild *b)
{
    struct cpgo_profile *p = dec_pb(b);
    struct cpgo_err err;
    int rc = cpgo_merge_add(m, p, &err);
    if (rc) fprintf(stderr, "add: %s\n", err.text);
    CHECK_EQ_INT(rc, 0);
    cpgo_profile_free(p);
}

/* The fold as it was before the copy: export src, decode, add. */
static void read_back(struct cpgo_merger *dst, struct cpgo_merger *src)
{
    struct cpgo_buf raw;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_merge_encode(src, 1, 1, &raw, &err), 0);
    struct cpgo_profile *p = NULL;
    CHECK_EQ_INT(cpgo_profile_decode(raw.data, raw.len, &lim, &p, &err), 0);
    int rc = cpgo_merge_add(dst, p, &err);
    if (rc) fprintf(stderr, "read back: %s\n", err.text);
    CHECK_EQ_INT(rc, 0);
    cpgo_profile_free(p);
    cpgo_buf_free(&raw);
}

static int same_bytes(struct cpgo_merger *a, struct cpgo_merger *b, const char *what)
{
    struct cpgo_buf x, y;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_merge_encode(a, 1, 1, &x, &err), 0);
    CHECK_EQ_INT(cpgo_merge_encode(b, 1, 1, &y, &err), 0);
    int eq = x.len == y.len && !memcmp(x.data, y.data, x.len);
    if (!eq)
        fprintf(stderr, "%s: copy %zu bytes, read-back %zu bytes, differ\n", what, x.len, y.len);
    cpgo_buf_free(&x);
    cpgo_buf_free(&y);
    return eq;
}

/* A profile with what the generators lack: comments, a value that cancels a previous
 * input's (negative, so no shape), recursion on one line at two addresses (strip keeps
 * them), numeric labels, two mappings. */
static struct pbuild *odd(int k)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_period(b, "cpu", "nanoseconds", 10000000);
    pbuild_times(b, 1700000000000000000LL + k, 1000 + k);
    pbuild_comment(b, k ? "second" : "first");
    pbuild_comment(b, "shared");
    pbuild_mapping(b, 1, 0x400000, 0x800000, 0, "/bin/app", "bid1");
    pbuild_mapping(b, 2, 0x7f0000, 0x7f8000, 0, "/lib/libc.so", "");
    pbuild_function(b, 1, "main.fib", "main.go", 10);
    pbuild_function(b, 2, "main.main", "main.go", 3);
    pbuild_function(b, 3, "libc.read", "", 0);
    pbuild_location(b, 1, 1, 0x401000 + (uint64_t)k, 1, (uint64_t[]){1}, (int64_t[]){12});
    pbuild_location(b, 2, 1, 0x401100, 1, (uint64_t[]){1}, (int64_t[]){12});
    pbuild_location(b, 3, 1, 0x402000, 1, (uint64_t[]){2}, (int64_t[]){5});
    pbuild_location(b, 4, 2, 0x7f1000, 1, (uint64_t[]){3}, (int64_t[]){0});
    pbuild_sample(b, 3, (uint64_t[]){1, 2, 3}, 2, (int64_t[]){3, 30000000});
    pbuild_sample(b, 2, (uint64_t[]){4, 3}, 2, (int64_t[]){k ? -2 : 2, k ? -20000000 : 20000000});
    pbuild_numlabel(b, "bytes", 4096, "bytes");
    pbuild_sample(b, 1, (uint64_t[]){3}, 2, (int64_t[]){1, 10000000});
    pbuild_label(b, "handler", k ? "/b" : "/a");
    return b;
}

/* A later input with a function that no_inline renames. */
static struct pbuild *gopark(void)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_period(b, "cpu", "nanoseconds", 10000000);
    pbuild_function(b, 1, "runtime.gopark", "proc.go", 380);
    pbuild_function(b, 2, "main.main", "main.go", 3);
    pbuild_location(b, 1, 0, 0x1000, 1, (uint64_t[]){1}, (int64_t[]){402});
    pbuild_location(b, 2, 0, 0x2000, 1, (uint64_t[]){2}, (int64_t[]){5});
    pbuild_sample(b, 2, (uint64_t[]){1, 2}, 2, (int64_t[]){2, 20000000});
    return b;
}

static struct pbuild *input(int kind, uint64_t seed)
{
    switch (kind) {
    case 0:
        return pbuild_golike(seed, 400, 300, 120, 1);
    case 1:
        return pbuild_heavy(seed, 300, 200, 80);
    default:
        return odd((int)seed % 2);
    }
}

/* Pending-like src from n inputs; folds it into a copy and a read-back; compares. */
static void one(const struct cpgo_merge_opts *o, int kinds, uint64_t seed, int n, const char *what)
{
    struct cpgo_merger *src, *a, *b;
    /* as in the daemon: pending merges without renaming, the candidate renames */
    struct cpgo_merge_opts so = *o;
    so.no_inline = NULL;
    so.nno_inline = 0;
    CHECK_EQ_INT(cpgo_merge_new(&src, &so), 0);
    for (int i = 0; i < n; i++) {
        int kind = kinds == 3 ? i % 3 : kinds;
        if (o->shape && kind == 2) kind = 0; /* odd() has negative values */
        struct pbuild *pb = input(kind, seed + (uint64_t)i);
        add_pb(src, pb);
        pbuild_free(pb);
    }
    CHECK_EQ_INT(cpgo_merge_new(&a, o), 0);
    CHECK_EQ_INT(cpgo_merge_new(&b, o), 0);
    CHECK(cpgo_merge_copyable(a, src, CPGO_SCALE_ONE));
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_merge_add_merger(a, src, &err), 0);
    read_back(b, src);
    CHECK(same_bytes(a, b, what));
    /* both go on alike: another input, then a stamp */
    struct pbuild *more = input(kinds == 1 ? 1 : 0, seed + 100);
    add_pb(a, more);
    add_pb(b, more);
    pbuild_free(more);
    CHECK(same_bytes(a, b, what));
    more = gopark();
    add_pb(a, more);
    add_pb(b, more);
    pbuild_free(more);
    CHECK(same_bytes(a, b, what));
    CHECK_EQ_INT(cpgo_merge_stamp(a, "cpgo-written: ", "cpgo-written: 2026-12-02T00:00:00Z", &err),
                 0);
    CHECK_EQ_INT(cpgo_merge_stamp(b, "cpgo-written: ", "cpgo-written: 2026-12-02T00:00:00Z", &err),
                 0);
    CHECK(same_bytes(a, b, what));
    cpgo_merge_free(a);
    cpgo_merge_free(b);
    cpgo_merge_free(src);
}

static void test_copy_equals_read_back(void)
{
    /* the default no_inline names, which the generated profiles do not hold */
    static const char *const names[] = {
        "runtime.gopark", "google.golang.org/grpc/internal/transport.(*loopyWriter).processData"};
    struct cpgo_merge_opts opts[8] = {{0}};
    opts[1].trim.strip_addresses = 1;
    opts[2].trim.keep_frames = 3;
    opts[3].trim.drop_labels = 1;
    opts[4].shape = &cpgo_shape_go_cpu;
    opts[5].trim.strip_addresses = 1;
    opts[5].trim.keep_frames = 2;
    opts[5].trim.drop_labels = 1;
    opts[6].no_inline = names;
    opts[6].nno_inline = 2;
    opts[7] = opts[6];
    opts[7].shape = &cpgo_shape_go_cpu;
    opts[7].trim.strip_addresses = 1;
    char what[64];
    for (int oi = 0; oi < 8; oi++)
        for (int kinds = 0; kinds < 4; kinds++)
            for (uint64_t seed = 1; seed <= 3; seed++) {
                snprintf(what, sizeof what, "opts %d kinds %d seed %llu", oi, kinds,
                         (unsigned long long)seed);
                one(&opts[oi], kinds, seed, kinds == 2 ? 2 : 4, what);
            }
}

/* The second odd() input cancels a sample of the first: the source compacts first. */
static void test_compaction(void)
{
    struct cpgo_merge_opts o = {0};
    struct cpgo_merger *src, *a, *b;
    CHECK_EQ_INT(cpgo_merge_new(&src, &o), 0);
    struct pbuild *p0 = odd(0), *p1 = odd(1);
    add_pb(src, p0);
    add_pb(src, p1);
    size_t before = cpgo_merge_count(src);
    CHECK_EQ_INT(cpgo_merge_new(&a, &o), 0);
    CHECK_EQ_INT(cpgo_merge_new(&b, &o), 0);
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_merge_add_merger(a, src, &err), 0);
    read_back(b, src);
    CHECK(same_bytes(a, b, "compaction"));
    CHECK(cpgo_merge_count(src) == before); /* inputs are counted, not samples */
    pbuild_free(p0);
    pbuild_free(p1);
    cpgo_merge_free(a);
    cpgo_merge_free(b);
    cpgo_merge_free(src);
}

/* Not copied where a read-back differs or may: the result is the read-back's anyway. */
static void test_not_copied(void)
{
    struct cpgo_merge_opts o = {0}, strip = {0};
    strip.trim.strip_addresses = 1;
    const char *names[] = {"main.fib"};
    struct cpgo_merge_opts noinl = {0};
    noinl.no_inline = names;
    noinl.nno_inline = 1;
    struct cpgo_merger *src, *d;
    CHECK_EQ_INT(cpgo_merge_new(&src, &o), 0);
    struct pbuild *p = odd(0);
    add_pb(src, p);
    /* other options, renaming, a scale, a destination with an input */
    CHECK_EQ_INT(cpgo_merge_new(&d, &strip), 0);
    CHECK(!cpgo_merge_copyable(d, src, CPGO_SCALE_ONE));
    cpgo_merge_free(d);
    CHECK_EQ_INT(cpgo_merge_new(&d, &noinl), 0);
    CHECK(!cpgo_merge_copyable(d, src, CPGO_SCALE_ONE));
    cpgo_merge_free(d);
    CHECK_EQ_INT(cpgo_merge_new(&d, &o), 0);
    CHECK(!cpgo_merge_copyable(d, src, (struct cpgo_scale){1, 2, 0, 0}));
    CHECK(!cpgo_merge_copyable(d, src, (struct cpgo_scale){1, 1, 7, 0}));
    add_pb(d, p);
    CHECK(!cpgo_merge_copyable(d, src, CPGO_SCALE_ONE));
    cpgo_merge_free(d);
    pbuild_free(p);
    /* a string label whose value is the empty string at another index than 0: merged as
     * the empty string (id 0), exported as "no string", dropped by the read-back */
    struct cpgo_merger *src2, *a, *b;
    CHECK_EQ_INT(cpgo_merge_new(&src2, &o), 0);
    p = odd(1);
    cpgo_pb_profile *pb = pbuild_pb(p);
    int64_t idx = pbuild_str(p, "/b");
    pb->string_table[idx].len = 0;
    add_pb(src2, p);
    CHECK_EQ_INT(cpgo_merge_new(&a, &o), 0);
    CHECK_EQ_INT(cpgo_merge_new(&b, &o), 0);
    CHECK(!cpgo_merge_copyable(a, src2, CPGO_SCALE_ONE));
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_merge_add_merger(a, src2, &err), 0);
    read_back(b, src2);
    CHECK(same_bytes(a, b, "empty label value"));
    pbuild_free(p);
    cpgo_merge_free(a);
    cpgo_merge_free(b);
    cpgo_merge_free(src);
    cpgo_merge_free(src2);
}

int main(void)
{
    cpgo_limits_default(&lim);
    test_copy_equals_read_back();
    test_compaction();
    test_not_copied();
    CHECK_DONE();
}
