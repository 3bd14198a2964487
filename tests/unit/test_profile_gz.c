/* Unit tests for profile/gz: libdeflate fast path and zlib fallback in gunzip (ceiling, lying
 * ISIZE, several members, truncation, trailing data, checksums), and compression (the same
 * bytes every time, never larger than zlib level 1, readable by zlib). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "pbuild.h"
#include "profile/codec.h"
#include "profile/gz.h"

/* zlib gzip of data at `level` (the reference the old writer was), with an optional name. */
static void zgz(const void *data, size_t n, int level, const char *name, struct cpgo_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    gz_header h;
    memset(&h, 0, sizeof h);
    if (name) {
        h.name = (Bytef *)name;
        h.hcrc = 1;
        deflateSetHeader(&zs, &h);
    }
    size_t cap = deflateBound(&zs, (uLong)n) + 64 + (name ? strlen(name) + 8 : 0);
    cpgo_buf_init(out, 0);
    cpgo_buf_reserve(out, cap);
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)n;
    zs.next_out = out->data;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    out->len = cap - zs.avail_out;
    deflateEnd(&zs);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

/* Bytes that compress a little, like a profile's: mixed runs and noise. */
static unsigned char *pattern(size_t n, uint64_t seed)
{
    unsigned char *d = malloc(n ? n : 1);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        d[i] = (i & 256) ? (unsigned char)(s >> 59) : (unsigned char)(s >> 56);
    }
    return d;
}

static int gunzip(const struct cpgo_buf *in, size_t max, struct cpgo_buf *out, struct cpgo_err *err)
{
    memset(err, 0, sizeof *err);
    return cpgo_gz_decompress(in->data, in->len, max, out, err);
}

static void test_round_trip_and_size(void)
{
    struct cpgo_err err = {0};
    /* bench-like profiles, with and without labels: not larger than zlib level 1 */
    for (int labels = 0; labels <= 1; labels++) {
        struct pbuild *b = pbuild_golike(7, 4000, 3000, 1500, labels);
        struct cpgo_buf raw, ours, again, ref, back;
        CHECK_EQ_INT(pbuild_encode(b, 1, &raw), 0);
        CHECK_EQ_INT(cpgo_gz_compress(raw.data, raw.len, 1, &ours, &err), 0);
        CHECK_EQ_INT(cpgo_gz_compress(raw.data, raw.len, 1, &again, &err), 0);
        CHECK(ours.len == again.len && !memcmp(ours.data, again.data, ours.len));
        zgz(raw.data, raw.len, 1, NULL, &ref);
        CHECK(ours.len <= ref.len);
        /* fixed header: gzip magic, deflate, no flags, mtime 0 */
        static const unsigned char hdr[8] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0};
        CHECK(!memcmp(ours.data, hdr, sizeof hdr));
        CHECK_EQ_INT(gunzip(&ours, raw.len, &back, &err), 0);
        CHECK(back.len == raw.len && !memcmp(back.data, raw.data, raw.len));
        cpgo_buf_free(&back);
        /* zlib reads it too (the fallback, and every other gzip reader) */
        unsigned char *z = malloc(raw.len);
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        inflateInit2(&zs, 16 + MAX_WBITS);
        zs.next_in = ours.data;
        zs.avail_in = (uInt)ours.len;
        zs.next_out = z;
        zs.avail_out = (uInt)raw.len;
        CHECK_EQ_INT(inflate(&zs, Z_FINISH), Z_STREAM_END);
        CHECK(zs.total_out == raw.len && !memcmp(z, raw.data, raw.len));
        inflateEnd(&zs);
        free(z);
        cpgo_buf_free(&raw);
        cpgo_buf_free(&ours);
        cpgo_buf_free(&again);
        cpgo_buf_free(&ref);
        pbuild_free(b);
    }
    /* empty input: a valid, empty gzip */
    struct cpgo_buf e, back;
    CHECK_EQ_INT(cpgo_gz_compress("", 0, 1, &e, &err), 0);
    CHECK_EQ_INT(gunzip(&e, 10, &back, &err), 0);
    CHECK_EQ_INT(back.len, 0);
    cpgo_buf_free(&back);
    cpgo_buf_free(&e);
    /* zlib's own output with a name and a header CRC (what gzip(1) writes) */
    unsigned char *d = pattern(100000, 3);
    struct cpgo_buf named;
    zgz(d, 100000, 6, "profile.pb", &named);
    CHECK_EQ_INT(gunzip(&named, 100000, &back, &err), 0);
    CHECK(back.len == 100000 && !memcmp(back.data, d, 100000));
    CHECK(back.cap <= 100000);
    cpgo_buf_free(&back);
    cpgo_buf_free(&named);
    free(d);
}

/* Our own output past one member: several members, the same bytes on any number of threads,
 * read back whole, and still no larger than zlib level 1 of the same bytes. */
static void test_own_members(void)
{
    struct cpgo_err err = {0};
    struct cpgo_buf raw;
    cpgo_buf_init(&raw, 0);
    for (uint64_t seed = 1; seed <= 3; seed++) { /* ~6 MB of bench-like profile bytes */
        struct pbuild *b = pbuild_golike(seed, 20000, 16000, 8000, (int)(seed & 1));
        struct cpgo_buf one;
        CHECK_EQ_INT(pbuild_encode(b, 1, &one), 0);
        cpgo_buf_append(&raw, one.data, one.len);
        cpgo_buf_free(&one);
        pbuild_free(b);
    }
    CHECK(raw.len > (4u << 20));
    struct cpgo_buf c1, c3, back, ref;
    CHECK_EQ_INT(cpgo_gz_compress(raw.data, raw.len, 1, &c1, &err), 0);
    CHECK_EQ_INT(cpgo_gz_compress(raw.data, raw.len, 3, &c3, &err), 0);
    CHECK(c1.len == c3.len && !memcmp(c1.data, c3.data, c1.len));
    zgz(raw.data, raw.len, 1, NULL, &ref);
    CHECK(c1.len <= ref.len);
    /* more than one member: a second gzip header follows the first member */
    int members = 0;
    for (size_t i = 0; i + 10 <= c1.len; i++)
        members += !memcmp(c1.data + i, "\x1f\x8b\x08\x00\x00\x00\x00\x00", 8);
    CHECK(members >= 3);
    CHECK_EQ_INT(gunzip(&c1, raw.len, &back, &err), 0);
    CHECK(back.len == raw.len && !memcmp(back.data, raw.data, raw.len));
    CHECK(back.cap <= raw.len);
    cpgo_buf_free(&back);
    CHECK_EQ_INT(gunzip(&c1, raw.len - 1, &back, &err), CPGO_E_LIMIT);
    CHECK_EQ_INT(err.cls, CPGO_CLASS_DECOMPRESSED_LIMIT);
    cpgo_buf_free(&c1);
    cpgo_buf_free(&c3);
    cpgo_buf_free(&ref);
    cpgo_buf_free(&raw);
}

static void test_lying_isize(void)
{
    struct cpgo_err err = {0};
    size_t n = 300000;
    unsigned char *d = pattern(n, 5);
    struct cpgo_buf g, out;
    CHECK_EQ_INT(cpgo_gz_compress(d, n, 1, &g, &err), 0);
    uint32_t lies[] = {0, 1, (uint32_t)n - 1, (uint32_t)n + 1, (uint32_t)n * 2, 0xffffffffu};
    for (size_t k = 0; k < sizeof lies / sizeof lies[0]; k++) {
        put32(g.data + g.len - 4, lies[k]);
        /* a ceiling far above: the hint sizes the first try, the length check refuses */
        CHECK_EQ_INT(gunzip(&g, 1u << 30, &out, &err), CPGO_E_INPUT);
        CHECK_STR_CONTAINS(err.text, "incorrect length check");
        CHECK(out.data == NULL && out.len == 0);
    }
    /* a lie above the ceiling that deflate could produce: refused before inflating */
    put32(g.data + g.len - 4, (uint32_t)n * 2);
    CHECK_EQ_INT(gunzip(&g, n, &out, &err), CPGO_E_LIMIT);
    CHECK_EQ_INT(err.cls, CPGO_CLASS_DECOMPRESSED_LIMIT);
    CHECK_STR_CONTAINS(err.text, "trailer says");
    put32(g.data + g.len - 4, (uint32_t)n);
    CHECK_EQ_INT(gunzip(&g, n, &out, &err), 0);
    CHECK(out.len == n && !memcmp(out.data, d, n));
    cpgo_buf_free(&out);
    /* a bad CRC is refused whichever path reads it */
    g.data[g.len - 8] ^= 1;
    CHECK_EQ_INT(gunzip(&g, n, &out, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "incorrect data check");
    cpgo_buf_free(&g);
    free(d);
}

static void test_members(void)
{
    struct cpgo_err err = {0};
    /* big first, small last (the trailer's hint is short for the first), then the reverse */
    size_t sizes[2][3] = {{400000, 70000, 5000}, {3000, 90000, 500000}};
    for (int o = 0; o < 2; o++) {
        struct cpgo_buf all, want, out;
        cpgo_buf_init(&all, 0);
        cpgo_buf_init(&want, 0);
        for (int i = 0; i < 3; i++) {
            unsigned char *d = pattern(sizes[o][i], (uint64_t)(10 * o + i));
            struct cpgo_buf g;
            if (i == 1)
                zgz(d, sizes[o][i], 1, NULL, &g); /* one member from zlib, for variety */
            else
                CHECK_EQ_INT(cpgo_gz_compress(d, sizes[o][i], 1, &g, &err), 0);
            cpgo_buf_append(&all, g.data, g.len);
            cpgo_buf_append(&want, d, sizes[o][i]);
            cpgo_buf_free(&g);
            free(d);
        }
        CHECK_EQ_INT(gunzip(&all, want.len, &out, &err), 0);
        CHECK(out.len == want.len && !memcmp(out.data, want.data, want.len));
        CHECK(out.cap <= want.len);
        cpgo_buf_free(&out);
        /* an empty member after the data, at exactly the ceiling: still fine */
        struct cpgo_buf e;
        CHECK_EQ_INT(cpgo_gz_compress("", 0, 1, &e, &err), 0);
        size_t before = all.len;
        cpgo_buf_append(&all, e.data, e.len);
        cpgo_buf_free(&e);
        CHECK_EQ_INT(gunzip(&all, want.len, &out, &err), 0);
        CHECK(out.len == want.len && !memcmp(out.data, want.data, want.len));
        cpgo_buf_free(&out);
        all.len = before;
        /* the ceiling counts every member */
        CHECK_EQ_INT(gunzip(&all, want.len - 1, &out, &err), CPGO_E_LIMIT);
        CHECK_EQ_INT(err.cls, CPGO_CLASS_DECOMPRESSED_LIMIT);
        CHECK(out.data == NULL);
        /* trailing bytes after the last member: refused, one stray byte too (a ceiling far
         * above, so the junk read as a trailer cannot trip the pre-check) */
        cpgo_buf_append(&all, "junk", 4);
        CHECK_EQ_INT(gunzip(&all, 1u << 30, &out, &err), CPGO_E_INPUT);
        CHECK_STR_CONTAINS(err.text, "4 bytes of trailing data");
        all.len -= 3;
        all.data[all.len - 1] = 0x1f;
        CHECK_EQ_INT(gunzip(&all, 1u << 30, &out, &err), CPGO_E_INPUT);
        CHECK_STR_CONTAINS(err.text, "1 bytes of trailing data");
        cpgo_buf_free(&all);
        cpgo_buf_free(&want);
    }
}

static void test_truncated(void)
{
    struct cpgo_err err = {0};
    size_t n = 200000;
    unsigned char *d = pattern(n, 9);
    struct cpgo_buf g, out;
    CHECK_EQ_INT(cpgo_gz_compress(d, n, 1, &g, &err), 0);
    size_t full = g.len;
    /* The ceiling (1 GiB) is above anything these few bytes could expand to, so the
     * trailer's pre-check never fires: each cut is a plain truncation. */
    size_t cuts[] = {1, 4, 7, 8, 9, full / 2, 30, 10, 3};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        g.len = full - cuts[k];
        CHECK_EQ_INT(gunzip(&g, 1u << 30, &out, &err), CPGO_E_INPUT);
        CHECK_STR_CONTAINS(err.text, "truncated");
        CHECK(out.data == NULL);
    }
    /* a second member cut short */
    g.len = full;
    struct cpgo_buf two;
    cpgo_buf_init(&two, 0);
    cpgo_buf_append(&two, g.data, g.len);
    cpgo_buf_append(&two, g.data, g.len - 5);
    CHECK_EQ_INT(gunzip(&two, 1u << 30, &out, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "truncated");
    cpgo_buf_free(&two);
    cpgo_buf_free(&g);
    free(d);
}

static void test_bomb_at_ceiling(void)
{
    struct cpgo_err err = {0};
    size_t n = 8u << 20;
    unsigned char *zeros = calloc(n, 1);
    struct cpgo_buf bomb, out;
    CHECK_EQ_INT(cpgo_gz_compress(zeros, n, 2, &bomb, &err), 0);
    free(zeros);
    CHECK(bomb.len < n / 500);
    /* true trailer: exactly the ceiling is fine, one byte less is refused before inflating */
    CHECK_EQ_INT(gunzip(&bomb, n, &out, &err), 0);
    CHECK_EQ_INT(out.len, n);
    CHECK(out.cap <= n);
    cpgo_buf_free(&out);
    CHECK_EQ_INT(gunzip(&bomb, n - 1, &out, &err), CPGO_E_LIMIT);
    CHECK_EQ_INT(err.cls, CPGO_CLASS_DECOMPRESSED_LIMIT);
    /* Lying trailers (the length check then fails, but the ceiling is met first): 0 -> no
     * hint; max -> the hint is the whole ceiling; max / 2 -> short: each grows to the ceiling
     * and is refused there. (Our bomb is 4 members: the last trailer is one member's.) */
    uint32_t lies[] = {0, (uint32_t)(n - 1), (uint32_t)(n / 2)};
    for (size_t k = 0; k < sizeof lies / sizeof lies[0]; k++) {
        put32(bomb.data + bomb.len - 4, lies[k]);
        CHECK_EQ_INT(gunzip(&bomb, n - 1, &out, &err), CPGO_E_LIMIT);
        CHECK_EQ_INT(err.cls, CPGO_CLASS_DECOMPRESSED_LIMIT);
        CHECK_STR_CONTAINS(err.text, "exceeds the limit of");
        CHECK(out.data == NULL);
    }
    /* and at exactly the ceiling with a lying trailer, the data is all read, then the
     * length check refuses it */
    put32(bomb.data + bomb.len - 4, 0);
    CHECK_EQ_INT(gunzip(&bomb, n, &out, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "incorrect length check");
    cpgo_buf_free(&bomb);
}

/* cpgo_gz_decompress_into reuses a buffer: the bytes are replaced, and a buffer left big by
 * a decode with a higher limit never lets a later one pass its own ceiling. */
static void test_into_reuse(void)
{
    unsigned char *big = pattern(300000, 9), *small = pattern(5000, 10);
    struct cpgo_buf gbig, gsmall, out;
    struct cpgo_err err;
    zgz(big, 300000, 6, NULL, &gbig);
    zgz(small, 5000, 6, NULL, &gsmall);
    cpgo_buf_init(&out, 0);
    CHECK_EQ_INT(cpgo_gz_decompress_into(gbig.data, gbig.len, 1 << 20, &out, &err), 0);
    CHECK(out.len == 300000 && !memcmp(out.data, big, 300000));
    unsigned char *kept = out.data;
    CHECK_EQ_INT(cpgo_gz_decompress_into(gsmall.data, gsmall.len, 1 << 20, &out, &err), 0);
    CHECK(out.len == 5000 && !memcmp(out.data, small, 5000));
    CHECK(out.data == kept); /* the same memory, not a fresh buffer */
    /* a lower ceiling than the buffer's capacity: the big one is over it */
    CHECK_EQ_INT(cpgo_gz_decompress_into(gbig.data, gbig.len, 200000, &out, &err), CPGO_E_LIMIT);
    CHECK_EQ_INT(cpgo_gz_decompress_into(gbig.data, gbig.len, 1 << 20, &out, &err), 0);
    CHECK_EQ_INT(cpgo_gz_decompress_into(gsmall.data, gsmall.len, 4999, &out, &err), CPGO_E_LIMIT);
    CHECK_EQ_INT(cpgo_gz_decompress_into(gsmall.data, gsmall.len, 5000, &out, &err), 0);
    CHECK(out.len == 5000 && !memcmp(out.data, small, 5000));
    cpgo_buf_free(&out);
    cpgo_buf_free(&gbig);
    cpgo_buf_free(&gsmall);
    free(big);
    free(small);
}

int main(void)
{
    test_into_reuse();
    test_round_trip_and_size();
    test_own_members();
    test_lying_isize();
    test_members();
    test_truncated();
    test_bomb_at_ceiling();
    CHECK_DONE();
}
