/* gz.c - see gz.h. */
#include "profile/gz.h"

#include "base/par.h"

#include <inttypes.h>
#include <libdeflate.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* deflate cannot expand more than this (258-byte matches in 2-bit codes, rounded up) */
#define GZ_MAX_RATIO 1032u

int cpgo_gz_is_gzip(const void *data, size_t len)
{
    const unsigned char *p = data;
    return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

static int gz_over_limit(struct cpgo_err *err, size_t max)
{
    return cpgo_err_set_class(err, CPGO_CLASS_DECOMPRESSED_LIMIT, CPGO_E_LIMIT,
                              "decompressed profile exceeds the limit of %zu bytes", max);
}

/* Inflates the one gzip member at `in` with zlib, appending to out (whose ceiling is out->max,
 * the caller's limit); *used is the member's compressed size. The reference for every error
 * text and for the ceiling: at the ceiling it inflates into a one-byte probe, so any further
 * output means "over the limit" and a bomb never allocates beyond the ceiling. */
static int gz_member_zlib(z_stream *zs, const unsigned char *in, size_t len, struct cpgo_buf *out,
                          size_t *used, struct cpgo_err *err)
{
    if (inflateReset(zs) != Z_OK) return cpgo_err_set(err, CPGO_E_NOMEM, "gunzip: zlib reset");
    zs->next_in = (Bytef *)in;
    zs->avail_in = 0;
    size_t left = len; /* input not yet handed to zlib (avail_in is 32-bit) */
    for (;;) {
        if (zs->avail_in < 2 && left) {
            size_t take = left > (1u << 30) ? (1u << 30) : left;
            zs->avail_in += (uInt)take;
            left -= take;
        }
        unsigned char probe;
        int at_ceiling = 0, rc;
        if (out->len == out->cap) {
            size_t room = out->cap ? out->cap : 64 * 1024;
            if (out->max - out->len < room) room = out->max - out->len;
            if (room == 0)
                at_ceiling = 1;
            else if ((rc = cpgo_buf_reserve(out, room)))
                return cpgo_err_set(err, rc, "gunzip: cannot allocate %zu bytes", room);
        }
        if (at_ceiling) {
            zs->next_out = &probe;
            zs->avail_out = 1;
        } else {
            size_t room = out->cap - out->len;
            zs->next_out = out->data + out->len;
            zs->avail_out = (uInt)(room > (1u << 30) ? (1u << 30) : room);
        }
        uInt out_before = zs->avail_out, in_before = zs->avail_in;
        int z = inflate(zs, Z_NO_FLUSH);
        size_t produced = out_before - zs->avail_out;
        if (at_ceiling && produced) return gz_over_limit(err, out->max);
        if (!at_ceiling) out->len += produced;
        if (z == Z_STREAM_END) {
            *used = (size_t)(zs->next_in - in);
            return 0;
        }
        if (z == Z_OK) continue;
        if (z == Z_BUF_ERROR && zs->avail_in == 0 && left == 0)
            return cpgo_err_set(err, CPGO_E_INPUT, "gunzip: truncated gzip data");
        if (z == Z_BUF_ERROR && (produced || in_before != zs->avail_in)) continue;
        if (z == Z_MEM_ERROR) return cpgo_err_set(err, CPGO_E_NOMEM, "gunzip: out of memory");
        return cpgo_err_set(err, CPGO_E_INPUT, "gunzip: %s",
                            zs->msg ? zs->msg : "corrupt gzip data");
    }
}

int cpgo_gz_decompress(const void *data, size_t len, size_t max, struct cpgo_buf *out,
                       struct cpgo_err *err)
{
    cpgo_buf_init(out, max);
    return cpgo_gz_decompress_into(data, len, max, out, err);
}

int cpgo_gz_decompress_into(const void *data, size_t len, size_t max, struct cpgo_buf *out,
                            struct cpgo_err *err)
{
    const unsigned char *in = data;
    /* gzip's trailer ends with ISIZE, the last member's size mod 2^32. One larger than the
     * limit, and no more than deflate can expand the input, is either true or a lie that
     * fails the trailer check: the profile is refused before inflating anything, so a plain
     * gzip bomb costs nothing. (Truncated input has no trailer: its last bytes rarely pass
     * the ratio test, and anything else is still stopped at the limit below.) */
    /* a buffer reused from a decode with a higher limit must not offer room past this one */
    if (out->cap > (max ? max : SIZE_MAX)) cpgo_buf_free(out);
    out->len = 0;
    out->max = max ? max : SIZE_MAX;
    size_t hint = 0;
    if (len >= 18) {
        const unsigned char *t = in + len - 4;
        uint32_t isize =
            (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
        if (isize > max && (uint64_t)isize <= (uint64_t)len * GZ_MAX_RATIO)
            return cpgo_err_set_class(
                err, CPGO_CLASS_DECOMPRESSED_LIMIT, CPGO_E_LIMIT,
                "decompressed profile exceeds the limit of %zu bytes (the gzip "
                "trailer says %" PRIu32 ")",
                max, isize);
        /* Only a hint: what is allocated for it stays under the ceiling and under what the
         * input could expand to, so a lie costs address space, never more than the limit. */
        hint = isize;
        if (hint > out->max) hint = out->max;
        if ((uint64_t)hint > (uint64_t)len * GZ_MAX_RATIO) hint = len * GZ_MAX_RATIO;
    }
    /* Exactly the hint, not cpgo_buf_reserve's power of two: the common single member fits
     * it to the byte and the output buffer is the decoded profile's peak memory. */
    if (hint && out->cap < hint) {
        unsigned char *d = realloc(out->data, hint);
        if (d) out->data = d, out->cap = hint;
    }
    struct libdeflate_decompressor *ld = libdeflate_alloc_decompressor();
    z_stream zs;
    int zs_ready = 0, rc = 0;
    size_t off = 0;
    for (;;) {
        size_t used = 0, room = out->cap - out->len, outn = 0;
        enum libdeflate_result r = LIBDEFLATE_INSUFFICIENT_SPACE;
        if (ld && room)
            r = libdeflate_gzip_decompress_ex(ld, in + off, len - off, out->data + out->len, room,
                                              &used, &outn);
        size_t ceiling = out->max - out->len;
        /* (at the ceiling, zlib's probe judges: an empty member is still fine there) */
        if (ld && ceiling && r == LIBDEFLATE_INSUFFICIENT_SPACE) {
            /* The member did not fit (no hint, a short hint, or a member before the last one,
             * whose size no trailer tells). Room up to the ceiling and wanting more is exactly
             * what zlib's probe would find: the limit. Otherwise grow the room to at least
             * twice itself, the buffer to at least twice its size (so the retries are few, as
             * a vector's) and to 4x the compressed bytes left (typical of profiles), never
             * past the ceiling, and inflate the member again: the retries of a bomb cost at
             * most about twice the ceiling's worth of inflate. */
            if (room >= ceiling) {
                rc = gz_over_limit(err, max);
                break;
            }
            size_t want = room > ceiling / 2 ? ceiling : 2 * room;
            if (want < out->cap) want = out->cap;
            size_t est = (len - off) > ceiling / 4 ? ceiling : 4 * (len - off);
            if (want < est) want = est;
            if (want < 64 * 1024) want = 64 * 1024;
            if (want > ceiling) want = ceiling;
            unsigned char *d = realloc(out->data, out->len + want);
            if (!d) {
                rc = cpgo_err_set(err, CPGO_E_NOMEM, "gunzip: cannot allocate %zu bytes",
                                  out->len + want);
                break;
            }
            out->data = d;
            out->cap = out->len + want;
            continue;
        }
        if (r == LIBDEFLATE_SUCCESS) {
            out->len += outn;
        } else {
            /* libdeflate refused the member (or could not be set up): zlib decides, and its
             * errors name the fault; the buffer grows within the ceiling */
            if (!zs_ready) {
                memset(&zs, 0, sizeof zs);
                if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
                    rc = cpgo_err_set(err, CPGO_E_NOMEM, "gunzip: cannot initialise zlib");
                    break;
                }
                zs_ready = 1;
            }
            if ((rc = gz_member_zlib(&zs, in + off, len - off, out, &used, err))) break;
        }
        off += used;
        /* Another gzip member may follow (Go's reader is multistream); anything else is
         * trailing garbage and rejected, as Go does ("gzip: invalid header"). */
        if (off == len) break;
        if (!cpgo_gz_is_gzip(in + off, len - off)) {
            rc =
                cpgo_err_set(err, CPGO_E_INPUT,
                             "gunzip: %zu bytes of trailing data after the gzip stream", len - off);
            break;
        }
    }
    if (zs_ready) inflateEnd(&zs);
    libdeflate_free_decompressor(ld);
    if (rc) cpgo_buf_free(out);
    return rc;
}

/* Input bytes per gzip member: 2 MiB keeps a typical scraped profile in one member and cuts
 * a 10 MB merge into 5-6 members for the threads, at +0.02% size (no dictionary across
 * members) on bench profiles. Fixed, so the bytes never depend on the thread count. */
#define GZ_MEMBER (2u << 20)

/* libdeflate's compression level: gz_job_run says why 2. */
#define CPGO_GZ_LEVEL 2

struct gz_job {
    const unsigned char *in;
    size_t len;
    unsigned char *out; /* its slot in the shared output buffer */
    size_t cap, outlen;
};

static void gz_job_run(void *arg, size_t i)
{
    struct gz_job *j = (struct gz_job *)arg + i;
    /* Level 2: the published file must not grow past what zlib's level 1 (cpgo's writer
     * before libdeflate) made of it, and libdeflate's level 1 did on some profiles (merged
     * light targets +0.3%, one light input +0.6%, the bench's heavy target +0.3%); level 2
     * is 1-5% smaller than zlib's level 1 on every one (unit.test_merge_gzsize), at about
     * 1.5x the time of libdeflate's level 1 and still a third of zlib's. A compressor per
     * member: its tables are small next to 2 MiB. */
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(CPGO_GZ_LEVEL);
    j->outlen = c ? libdeflate_gzip_compress(c, j->in, j->len, j->out, j->cap) : 0;
    libdeflate_free_compressor(c);
}

int cpgo_gz_compress(const void *data, size_t len, int threads, struct cpgo_buf *out,
                     struct cpgo_err *err)
{
    const unsigned char *in = data;
    cpgo_buf_init(out, 0);
    size_t njobs = len ? (len + GZ_MEMBER - 1) / GZ_MEMBER : 1;
    struct gz_job *jobs = calloc(njobs, sizeof *jobs);
    /* libdeflate's bound does not depend on the level: a throwaway compressor asks it */
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(1);
    int ok = jobs && c;
    size_t total = 0;
    for (size_t i = 0; ok && i < njobs; i++) {
        jobs[i].in = in + i * GZ_MEMBER;
        jobs[i].len = len - i * GZ_MEMBER < GZ_MEMBER ? len - i * GZ_MEMBER : GZ_MEMBER;
        jobs[i].cap = libdeflate_gzip_compress_bound(c, jobs[i].len);
        total += jobs[i].cap;
    }
    libdeflate_free_compressor(c);
    /* Every member compresses into its slot of one buffer, then the slots are closed up in
     * order: no second copy of the output, and the untouched ends of the slots (the bound
     * is above what profiles compress to) are never faulted in. */
    if (!ok || !(out->data = malloc(total))) {
        free(jobs);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory compressing %zu bytes", len);
    }
    for (size_t i = 0, at = 0; i < njobs; at += jobs[i].cap, i++)
        jobs[i].out = out->data + at;
    cpgo_par_for(njobs, threads, gz_job_run, jobs);
    int rc = 0;
    for (size_t i = 0; i < njobs; i++) {
        if (!jobs[i].outlen) rc = CPGO_E_NOMEM; /* the bound always fits: only memory fails */
        if (!rc && jobs[i].out != out->data + out->len)
            memmove(out->data + out->len, jobs[i].out, jobs[i].outlen);
        out->len += jobs[i].outlen;
    }
    free(jobs);
    if (rc) {
        cpgo_buf_free(out);
        return cpgo_err_set(err, rc, "out of memory compressing %zu bytes", len);
    }
    unsigned char *shrunk = realloc(out->data, out->len);
    if (shrunk) out->data = shrunk;
    out->cap = shrunk ? out->len : total;
    return 0;
}
