/* Unit tests for profile/codec: gzip handling, limits, validation, deterministic encoding. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "pbuild.h"
#include "profile/codec.h"
#include "profile/gz.h"

static struct pbuild *small(void)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_period(b, "cpu", "nanoseconds", 10000000);
    pbuild_function(b, 1, "main.a", "a.go", 10);
    pbuild_function(b, 2, "main.b", "a.go", 20);
    pbuild_mapping(b, 1, 0x1000, 0x9000, 0, "/bin/x", "");
    uint64_t f1[] = {1}, f2[] = {2};
    int64_t l1[] = {12}, l2[] = {25};
    pbuild_location(b, 1, 1, 0x1100, 1, f1, l1);
    pbuild_location(b, 2, 1, 0x1200, 1, f2, l2);
    uint64_t st[] = {1, 2};
    int64_t v[] = {3, 30000000};
    pbuild_sample(b, 2, st, 2, v);
    return b;
}

static int decode_buf(const struct cpgo_buf *in, const struct cpgo_limits *lim,
                      struct cpgo_err *err)
{
    struct cpgo_profile *p = NULL;
    int rc = cpgo_profile_decode(in->data, in->len, lim, &p, err);
    cpgo_profile_free(p);
    return rc;
}

/* Encodes b raw, lets `tamper` edit the message first. Returns decode's code and text. */
static int decode_tampered(void (*tamper)(cpgo_pb_profile *), struct cpgo_err *err)
{
    struct pbuild *b = small();
    tamper(pbuild_pb(b));
    struct cpgo_buf out;
    struct cpgo_limits lim;
    cpgo_limits_default(&lim);
    pbuild_encode(b, 1, &out);
    int rc = decode_buf(&out, &lim, err);
    cpgo_buf_free(&out);
    pbuild_free(b);
    return rc;
}

static void t_str0(cpgo_pb_profile *pb)
{
    pb->string_table[0].len = 1, pb->string_table[0].data = (uint8_t *)"x";
}
static void t_stridx(cpgo_pb_profile *pb)
{
    pb->function[0]->name = 999;
}
static void t_dangling_loc(cpgo_pb_profile *pb)
{
    pb->sample[0]->location_id[1] = 99;
}
static void t_dangling_fn(cpgo_pb_profile *pb)
{
    pb->location[0]->line[0]->function_id = 77;
}
static void t_dangling_map(cpgo_pb_profile *pb)
{
    pb->location[1]->mapping_id = 5;
}
static void t_zero_id(cpgo_pb_profile *pb)
{
    pb->location[0]->id = 0;
}
static void t_dup_id(cpgo_pb_profile *pb)
{
    pb->function[1]->id = 1;
}
static void t_values(cpgo_pb_profile *pb)
{
    pb->sample[0]->n_value = 1;
}
static void t_neg_str(cpgo_pb_profile *pb)
{
    pb->sample_type[0]->unit = -1;
}

static void gz(const void *data, size_t len, int level, struct cpgo_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, level, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY);
    cpgo_buf_init(out, 0);
    cpgo_buf_reserve(out, deflateBound(&zs, (uLong)len) + 64);
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out->data;
    zs.avail_out = (uInt)out->cap;
    deflate(&zs, Z_FINISH);
    out->len = out->cap - zs.avail_out;
    deflateEnd(&zs);
}

/* Decodes a profile of several arena chunks again and again (each decode takes the chunks
 * the previous one released to the thread's cache, holding other objects' old bytes) and
 * checks every decode encodes back to the same bytes. */
struct reuse_arg {
    const struct cpgo_buf *a, *b;
    const struct cpgo_limits *lim;
    int bad;
};

static void *reuse_thread(void *arg)
{
    struct reuse_arg *r = arg;
    for (int i = 0; i < 12; i++) {
        const struct cpgo_buf *in = i % 3 ? r->a : r->b;
        struct cpgo_profile *p = NULL;
        struct cpgo_err e;
        struct cpgo_buf re = {0};
        if (cpgo_profile_decode(in->data, in->len, r->lim, &p, &e) ||
            cpgo_profile_encode(p->pb, 1, &re, &e) || re.len != in->len ||
            memcmp(re.data, in->data, in->len))
            r->bad++;
        cpgo_buf_free(&re);
        cpgo_profile_free(p);
    }
    return NULL; /* the thread's exit frees its cache (ASan/LSan: no leak) */
}

static void test_arena_reuse(const struct cpgo_limits *lim)
{
    struct pbuild *ba = pbuild_golike(3, 9000, 6000, 3000, 1);
    struct pbuild *bb = pbuild_heavy(4, 1800, 1200, 350);
    struct cpgo_buf a, b;
    CHECK_EQ_INT(pbuild_encode(ba, 1, &a), 0);
    CHECK_EQ_INT(pbuild_encode(bb, 1, &b), 0);
    struct reuse_arg r = {&a, &b, lim, 0};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ_INT(pthread_create(&t[i], NULL, reuse_thread, &r), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    reuse_thread(&r); /* and on this thread, whose cache is dropped explicitly */
    cpgo_profile_cache_drop();
    reuse_thread(&r);
    cpgo_profile_cache_drop();
    CHECK_EQ_INT(r.bad, 0);
    cpgo_buf_free(&a);
    cpgo_buf_free(&b);
    pbuild_free(ba);
    pbuild_free(bb);
}

/* Degenerate wire bytes: n copies of one field (tag, then a body of blen bytes). */
static void repeat_field(struct cpgo_buf *b, unsigned field, const unsigned char *body, size_t blen,
                         size_t n)
{
    unsigned char hdr[2] = {(unsigned char)(field << 3 | 2), (unsigned char)blen};
    for (size_t i = 0; i < n; i++) {
        cpgo_buf_append(b, hdr, 2);
        if (blen) cpgo_buf_append(b, body, blen);
    }
}

/* The bound cpgo_profile_check_readable relies on: whatever the bytes, decoding them never
 * takes more than CPGO_DECODE_MEMORY_PER_BYTE per byte plus two arena chunks. Each
 * degenerate shape is decoded with exactly that budget: it may fail validation (ids of 0),
 * never the memory budget. */
static void test_decode_memory_bound(void)
{
    static const unsigned char empty_line[] = {(4 << 3) | 2, 0}; /* Location.line {} */
    static const unsigned char label[] = {(3 << 3) | 2, 0};      /* Sample.label {} */
    static const unsigned char locid[] = {(1 << 3) | 0, 1};      /* Sample.location_id 1 */
    unsigned char many_lines[200], many_labels[200], many_ids[200];
    for (size_t i = 0; i < 100; i++) {
        memcpy(many_lines + 2 * i, empty_line, 2);
        memcpy(many_labels + 2 * i, label, 2);
        memcpy(many_ids + 2 * i, locid, 2);
    }
    struct {
        unsigned field;
        const unsigned char *body;
        size_t blen;
    } shapes[] = {
        {2, NULL, 0},          /* empty samples */
        {3, NULL, 0},          /* empty mappings */
        {4, NULL, 0},          /* empty locations */
        {5, NULL, 0},          /* empty functions */
        {6, NULL, 0},          /* empty strings */
        {1, NULL, 0},          /* empty sample types */
        {4, many_lines, 200},  /* locations of 100 empty lines */
        {2, many_labels, 200}, /* samples of 100 empty labels */
        {2, many_ids, 200},    /* samples of 100 unpacked location ids */
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        for (size_t n = 1000; n <= 400000; n *= 20) {
            struct cpgo_buf b;
            cpgo_buf_init(&b, 0);
            size_t count = shapes[k].blen ? n / 50 : n;
            repeat_field(&b, shapes[k].field, shapes[k].body, shapes[k].blen, count);
            struct cpgo_limits lim;
            cpgo_limits_default(&lim);
            lim.max_samples = lim.max_locations = lim.max_functions = lim.max_mappings =
                lim.max_strings = SIZE_MAX / 4;
            lim.max_decode_memory = b.len * CPGO_DECODE_MEMORY_PER_BYTE + (2u << 20);
            struct cpgo_profile *p = NULL;
            struct cpgo_err e = {0};
            int rc = cpgo_profile_decode(b.data, b.len, &lim, &p, &e);
            if (rc == CPGO_E_LIMIT) fprintf(stderr, "shape %zu, %zu bytes: %s\n", k, b.len, e.text);
            CHECK(rc != CPGO_E_LIMIT);
            cpgo_profile_free(p);
            /* and below the bound's threshold, check_readable decides without decoding:
             * the same verdict on memory */
            rc = cpgo_profile_check_readable(b.data, b.len, &lim, &e);
            CHECK(rc != CPGO_E_LIMIT);
            cpgo_buf_free(&b);
        }
    }
}

/* cpgo_profile_pack_mt cuts the message into parts packed on several threads: its bytes must
 * be the single-threaded pack's for every thread count, with the tail fields (scalars,
 * period_type, comments, default type, unknown fields) written once, in their place. */
static void check_pack_mt(const cpgo_pb_profile *pb, const char *what)
{
    struct cpgo_err e = {0};
    struct cpgo_buf one = {0};
    CHECK_EQ_INT(cpgo_profile_pack(pb, &one, &e), 0);
    static const int threads[] = {0, 1, 2, 3, 5, 16, 64};
    for (size_t i = 0; i < sizeof threads / sizeof *threads; i++) {
        struct cpgo_buf mt = {0};
        CHECK_EQ_INT(cpgo_profile_pack_mt(pb, threads[i], &mt, &e), 0);
        if (mt.len != one.len || memcmp(mt.data, one.data, one.len)) {
            fprintf(stderr, "pack_mt(%s, %d threads): %zu bytes differ from pack's %zu\n", what,
                    threads[i], mt.len, one.len);
            CHECK(0);
        }
        cpgo_buf_free(&mt);
    }
    cpgo_buf_free(&one);
}

static void test_pack_mt(const struct cpgo_limits *lim)
{
    cpgo_pb_profile empty = PERFTOOLS__PROFILES__PROFILE__INIT;
    check_pack_mt(&empty, "empty");
    struct pbuild *b = small();
    pbuild_times(b, 1700000000000000000, 30000000000);
    pbuild_comment(b, "one");
    pbuild_comment(b, "two");
    pbuild_default_type(b, "cpu");
    cpgo_pb_profile *pb = pbuild_pb(b);
    pb->drop_frames = pbuild_str(b, "runtime\\..*");
    pb->keep_frames = pbuild_str(b, "main\\..*");
    pb->doc_url = pbuild_str(b, "https://example.com/doc");
    check_pack_mt(pb, "small with every tail field");
    pbuild_free(b);
    /* sizes around the slice counts: fewer elements than slices, exactly as many, more */
    for (size_t n = 1; n <= 70; n += 23) {
        b = pbuild_golike(n, n, n, n, (int)(n % 2));
        check_pack_mt(pbuild_pb(b), "golike");
        pbuild_free(b);
    }
    b = pbuild_heavy(3, 2000, 1500, 400);
    check_pack_mt(pbuild_pb(b), "heavy");
    /* unknown fields (field 99 appended to the bytes) come back from the decoder and are
     * written after the known ones, as protobuf-c does for the whole message */
    struct cpgo_buf raw;
    CHECK_EQ_INT(pbuild_encode(b, 1, &raw), 0);
    unsigned char extra[] = {0x9a, 0x06, 0x03, 'x', 'y', 'z'}; /* field 99, bytes "xyz" */
    unsigned char *with = malloc(raw.len + sizeof extra);
    CHECK(with != NULL);
    memcpy(with, raw.data, raw.len);
    memcpy(with + raw.len, extra, sizeof extra);
    struct cpgo_profile *p = NULL;
    struct cpgo_err e = {0};
    CHECK_EQ_INT(cpgo_profile_decode(with, raw.len + sizeof extra, lim, &p, &e), 0);
    CHECK(p && p->pb->base.n_unknown_fields == 1);
    if (p) check_pack_mt(p->pb, "heavy with an unknown field");
    cpgo_profile_free(p);
    free(with);
    cpgo_buf_free(&raw);
    pbuild_free(b);
}

/* A profile whose location ids are a hash flood (pbuild_flood_id): decoded, its id map has no
 * long chain, and every sample still finds its location. */
static void test_id_flood(const struct cpgo_limits *lim)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_function(b, 1, "main.f", "f.go", 1);
    uint64_t f[] = {1};
    int64_t ln[] = {2};
    size_t n = 0;
    for (uint64_t i = 0; i < 20000; i++) {
        uint64_t id = pbuild_flood_id(i);
        if (!id) continue;
        pbuild_location(b, id, 0, 0x1000 + i, 1, f, ln);
        int64_t v[] = {1};
        pbuild_sample(b, 1, &id, 1, v);
        n++;
    }
    struct cpgo_buf raw;
    CHECK_EQ_INT(pbuild_encode(b, 1, &raw), 0);
    struct cpgo_profile *p = NULL;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_profile_decode(raw.data, raw.len, lim, &p, &err), 0);
    if (p) {
        CHECK(!p->location_ids.dense);
        CHECK_EQ_INT(p->location_ids.map.n, n);
        size_t most = cpgo_idmap_longest_probe(&p->location_ids.map);
        CHECK(most < 200);
        if (most >= 200) fprintf(stderr, "longest probe %zu of %zu ids\n", most, n);
        CHECK_EQ_INT(cpgo_id_lookup(&p->location_ids, pbuild_flood_id(777)), 777);
    }
    cpgo_profile_free(p);
    cpgo_buf_free(&raw);
    pbuild_free(b);
}

int main(void)
{
    struct cpgo_limits lim;
    cpgo_limits_default(&lim);
    struct cpgo_err err;
    test_arena_reuse(&lim);
    test_pack_mt(&lim);
    test_decode_memory_bound();
    test_id_flood(&lim);
    {
        /* check_readable's decode (the size alone does not prove the memory bound): raw
         * bytes are held to max_decompressed, not to max_compressed, which is the gzip's */
        struct pbuild *hb = pbuild_heavy(2, 1800, 1200, 350);
        struct cpgo_buf hr;
        CHECK_EQ_INT(pbuild_encode(hb, 1, &hr), 0);
        struct cpgo_limits sl = lim;
        sl.max_compressed = 1000;
        sl.max_decode_memory = 3u << 20; /* under 96 bytes per byte + 2 chunks: decoded */
        struct cpgo_err ce = {0};
        CHECK_EQ_INT(cpgo_profile_check_readable(hr.data, hr.len, &sl, &ce), 0);
        sl.max_decompressed = hr.len - 1;
        CHECK_EQ_INT(cpgo_profile_check_readable(hr.data, hr.len, &sl, &ce), CPGO_E_LIMIT);
        sl.max_decompressed = lim.max_decompressed;
        sl.max_decode_memory = 1u << 20; /* too little to decode it: refused on memory */
        CHECK_EQ_INT(cpgo_profile_check_readable(hr.data, hr.len, &sl, &ce), CPGO_E_LIMIT);
        cpgo_buf_free(&hr);
        pbuild_free(hb);
    }

    /* round trip, raw and gzip; deterministic bytes */
    struct pbuild *b = small();
    struct cpgo_buf raw, gzb, gzb2;
    CHECK_EQ_INT(pbuild_encode(b, 1, &raw), 0);
    CHECK_EQ_INT(pbuild_encode(b, 0, &gzb), 0);
    CHECK_EQ_INT(pbuild_encode(b, 0, &gzb2), 0);
    CHECK(gzb.len == gzb2.len && !memcmp(gzb.data, gzb2.data, gzb.len));
    CHECK(cpgo_gz_is_gzip(gzb.data, gzb.len));
    CHECK(!cpgo_gz_is_gzip(raw.data, raw.len));
    struct cpgo_profile *p = NULL;
    CHECK_EQ_INT(cpgo_profile_decode(raw.data, raw.len, &lim, &p, &err), 0);
    CHECK_EQ_INT(p->pb->n_sample, 1);
    CHECK_EQ_INT(p->pb->n_location, 2);
    struct cpgo_buf re;
    CHECK_EQ_INT(cpgo_profile_encode(p->pb, 1, &re, &err), 0);
    CHECK(re.len == raw.len && !memcmp(re.data, raw.data, raw.len));
    cpgo_buf_free(&re);
    cpgo_profile_free(p);
    CHECK_EQ_INT(decode_buf(&gzb, &lim, &err), 0);

    /* two concatenated gzip members decode as one stream (Go's reader is multistream) */
    struct cpgo_buf half1, half2, cat;
    gz(raw.data, raw.len / 2, 6, &half1);
    gz(raw.data + raw.len / 2, raw.len - raw.len / 2, 6, &half2);
    cpgo_buf_init(&cat, 0);
    cpgo_buf_append(&cat, half1.data, half1.len);
    cpgo_buf_append(&cat, half2.data, half2.len);
    CHECK_EQ_INT(decode_buf(&cat, &lim, &err), 0);
    /* trailing garbage after the stream is refused */
    cpgo_buf_append(&cat, "\0\0junk", 6);
    CHECK_EQ_INT(decode_buf(&cat, &lim, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "trailing");
    cpgo_buf_free(&cat);
    cpgo_buf_free(&half1);
    cpgo_buf_free(&half2);

    /* truncated gzip, corrupt CRC, corrupt ISIZE */
    struct cpgo_buf t;
    cpgo_buf_init(&t, 0);
    cpgo_buf_append(&t, gzb.data, gzb.len - 5);
    CHECK_EQ_INT(decode_buf(&t, &lim, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "gunzip");
    t.len = 0;
    cpgo_buf_append(&t, gzb.data, gzb.len);
    t.data[t.len - 6] ^= 0xff; /* CRC32 */
    CHECK_EQ_INT(decode_buf(&t, &lim, &err), CPGO_E_INPUT);
    t.len = 0;
    cpgo_buf_append(&t, gzb.data, gzb.len);
    t.data[t.len - 1] ^= 0x01; /* ISIZE */
    CHECK_EQ_INT(decode_buf(&t, &lim, &err), CPGO_E_INPUT);
    t.len = 0;
    cpgo_buf_append(&t, gzb.data, gzb.len);
    t.data[3] = 0xe0; /* reserved header flags */
    CHECK_EQ_INT(decode_buf(&t, &lim, &err), CPGO_E_INPUT);
    cpgo_buf_free(&t);

    /* gzip bomb under a small ceiling: refused with the limit, not a partial profile */
    size_t zlen = 64u << 20;
    unsigned char *zeros = calloc(zlen, 1);
    struct cpgo_buf bomb;
    gz(zeros, zlen, 9, &bomb);
    free(zeros);
    struct cpgo_limits small_lim = lim;
    small_lim.max_decompressed = 1u << 20;
    CHECK_EQ_INT(decode_buf(&bomb, &small_lim, &err), CPGO_E_LIMIT);
    CHECK_STR_CONTAINS(err.text, "decompressed");
    /* the class is data from the decompressor, not something a caller reads in the text */
    CHECK_EQ_INT(err.cls, CPGO_CLASS_DECOMPRESSED_LIMIT);
    CHECK_EQ_INT(cpgo_err_to_class(&err), CPGO_CLASS_DECOMPRESSED_LIMIT);
    {
        /* a trailer that claims nothing: stopped while inflating, with the same class */
        struct cpgo_buf lie, o;
        cpgo_buf_init(&lie, bomb.len);
        CHECK_EQ_INT(cpgo_buf_append(&lie, bomb.data, bomb.len), 0);
        memset(lie.data + lie.len - 4, 0, 4);
        err.cls = CPGO_CLASS_OK;
        CHECK_EQ_INT(cpgo_gz_decompress(lie.data, lie.len, 1u << 20, &o, &err), CPGO_E_LIMIT);
        CHECK_EQ_INT(cpgo_err_to_class(&err), CPGO_CLASS_DECOMPRESSED_LIMIT);
        cpgo_buf_free(&o);
        cpgo_buf_free(&lie);
    }
    /* a gzip of exactly the ceiling is fine as gzip (then fails as protobuf: zeros) */
    struct cpgo_buf out;
    CHECK_EQ_INT(cpgo_gz_decompress(bomb.data, bomb.len, zlen, &out, &err), 0);
    CHECK_EQ_INT(out.len, zlen);
    cpgo_buf_free(&out);
    CHECK_EQ_INT(cpgo_gz_decompress(bomb.data, bomb.len, zlen - 1, &out, &err), CPGO_E_LIMIT);
    cpgo_buf_free(&bomb);

    /* compressed size limit */
    small_lim = lim;
    small_lim.max_compressed = 10;
    CHECK_EQ_INT(decode_buf(&gzb, &small_lim, &err), CPGO_E_LIMIT);

    /* count limits: refused whole */
    struct pbuild *big = pbuild_golike(1, 500, 200, 100, 0);
    struct cpgo_buf bigb;
    pbuild_encode(big, 0, &bigb);
    small_lim = lim;
    small_lim.max_samples = 499;
    CHECK_EQ_INT(decode_buf(&bigb, &small_lim, &err), CPGO_E_LIMIT);
    CHECK_STR_CONTAINS(err.text, "500 samples");
    CHECK_EQ_INT(cpgo_err_to_class(&err), CPGO_CLASS_LIMIT);
    small_lim = lim;
    small_lim.max_locations = 10;
    CHECK_EQ_INT(decode_buf(&bigb, &small_lim, &err), CPGO_E_LIMIT);
    small_lim = lim;
    small_lim.max_functions = 10;
    CHECK_EQ_INT(decode_buf(&bigb, &small_lim, &err), CPGO_E_LIMIT);
    small_lim = lim;
    small_lim.max_strings = 10;
    CHECK_EQ_INT(decode_buf(&bigb, &small_lim, &err), CPGO_E_LIMIT);
    /* decode memory budget */
    small_lim = lim;
    small_lim.max_decode_memory = 4096;
    CHECK_EQ_INT(decode_buf(&bigb, &small_lim, &err), CPGO_E_LIMIT);
    CHECK_STR_CONTAINS(err.text, "memory");
    CHECK_EQ_INT(decode_buf(&bigb, &lim, &err), 0);
    cpgo_buf_free(&bigb);
    pbuild_free(big);

    /* allocation amplification: 1M empty samples (2 bytes each on the wire) */
    size_t nempty = 1000000;
    unsigned char *amp = malloc(nempty * 2 + 4);
    for (size_t i = 0; i < nempty; i++) {
        amp[2 * i] = 0x12; /* field 2, length-delimited */
        amp[2 * i + 1] = 0;
    }
    small_lim = lim;
    small_lim.max_samples = 100000;
    struct cpgo_buf ab = {amp, nempty * 2, nempty * 2, 0};
    CHECK_EQ_INT(decode_buf(&ab, &small_lim, &err), CPGO_E_LIMIT);
    small_lim = lim;
    small_lim.max_decode_memory = 8u << 20;
    CHECK_EQ_INT(decode_buf(&ab, &small_lim, &err), CPGO_E_LIMIT);
    free(amp);

    /* not a profile */
    CHECK_EQ_INT(cpgo_profile_decode("", 0, &lim, &p, &err), CPGO_E_EMPTY);
    const char *html = "<html><body>Please log in</body></html>";
    CHECK_EQ_INT(cpgo_profile_decode(html, strlen(html), &lim, &p, &err), CPGO_E_INPUT);
    unsigned char rnd[4096];
    uint64_t s = 42;
    for (size_t i = 0; i < sizeof rnd; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        rnd[i] = (unsigned char)(s >> 56);
    }
    CHECK(cpgo_profile_decode(rnd, sizeof rnd, &lim, &p, &err) != 0);
    CHECK(p == NULL);
    /* gzip holding nothing */
    struct cpgo_buf e0;
    gz("", 0, 6, &e0);
    CHECK_EQ_INT(decode_buf(&e0, &lim, &err), CPGO_E_EMPTY);
    cpgo_buf_free(&e0);

    /* validation, with messages that say what is wrong */
    CHECK_EQ_INT(decode_tampered(t_str0, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "string_table[0]");
    CHECK_EQ_INT(decode_tampered(t_stridx, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "function 1 references string 999");
    CHECK_EQ_INT(decode_tampered(t_dangling_loc, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "sample 0 references location 99, which does not exist");
    CHECK_EQ_INT(decode_tampered(t_dangling_fn, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "references function 77");
    CHECK_EQ_INT(decode_tampered(t_dangling_map, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "references mapping 5");
    CHECK_EQ_INT(decode_tampered(t_zero_id, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "reserved id 0");
    CHECK_EQ_INT(decode_tampered(t_dup_id, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "two functions have the id 1");
    CHECK_EQ_INT(decode_tampered(t_values, &err), CPGO_E_INPUT);
    CHECK_STR_CONTAINS(err.text, "sample 0 has 1 values, but the profile has 2 sample types");
    CHECK_EQ_INT(decode_tampered(t_neg_str, &err), CPGO_E_INPUT);

    /* chunked gzip: bytes independent of the thread count; round trips at chunk edges */
    size_t sizes[] = {0, 1, 1u << 20, (1u << 20) + 1, (7u << 19) + 12345};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        unsigned char *d = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            d[i] = (unsigned char)((i * 2654435761u) >> 13) & (i & 64 ? 0xff : 0x0f);
        struct cpgo_buf c1, c4, back;
        CHECK_EQ_INT(cpgo_gz_compress(d, n, 1, &c1, &err), 0);
        CHECK_EQ_INT(cpgo_gz_compress(d, n, 4, &c4, &err), 0);
        CHECK(c1.len == c4.len && !memcmp(c1.data, c4.data, c1.len));
        CHECK_EQ_INT(cpgo_gz_decompress(c1.data, c1.len, n + 1, &back, &err), 0);
        CHECK(back.len == n && (n == 0 || !memcmp(back.data, d, n)));
        cpgo_buf_free(&back);
        cpgo_buf_free(&c1);
        cpgo_buf_free(&c4);
        free(d);
    }

    cpgo_buf_free(&raw);
    cpgo_buf_free(&gzb);
    cpgo_buf_free(&gzb2);
    pbuild_free(b);
    CHECK_DONE();
}
