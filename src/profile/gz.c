/* gz.c - see gz.h. */
#include "profile/gz.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>
#include <zlib.h>

int cpgo_gz_is_gzip(const void *data, size_t len)
{
    const unsigned char *p = data;
    return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

int cpgo_gz_decompress(const void *data, size_t len, size_t max, struct cpgo_buf *out,
                       struct cpgo_err *err)
{
    /* gzip's trailer ends with ISIZE, the last member's size mod 2^32. One larger than the
     * limit, and no more than deflate can expand the input (1032:1), is either true or a lie
     * that fails the trailer check: the profile is refused before inflating anything, so a
     * plain gzip bomb costs nothing. (Truncated input has no trailer: its last bytes rarely
     * pass the ratio test, and anything else is still stopped at the limit below.) */
    if (len >= 18) {
        const unsigned char *t = (const unsigned char *)data + len - 4;
        uint32_t isize =
            (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
        if (isize > max && (uint64_t)isize <= (uint64_t)len * 1032)
            return cpgo_err_set_class(
                err, CPGO_CLASS_DECOMPRESSED_LIMIT, CPGO_E_LIMIT,
                "decompressed profile exceeds the limit of %zu bytes (the gzip "
                "trailer says %" PRIu32 ")",
                max, isize);
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return cpgo_err_set(err, CPGO_E_NOMEM, "gunzip: cannot initialise zlib");
    cpgo_buf_init(out, max);
    zs.next_in = (Bytef *)data;
    int rc = 0;
    size_t left = len; /* input not yet handed to zlib (avail_in is 32-bit) */
    for (;;) {
        if (zs.avail_in < 2 && left) {
            size_t take = left > (1u << 30) ? (1u << 30) : left;
            zs.avail_in += (uInt)take;
            left -= take;
        }
        /* At the ceiling, inflate into a one-byte probe: any output means "over the limit",
         * so a bomb is refused after max bytes and never allocates beyond them. */
        unsigned char probe;
        int at_ceiling = 0;
        if (out->len == out->cap) {
            size_t room = out->cap ? out->cap : 64 * 1024;
            if (out->max - out->len < room) room = out->max - out->len;
            if (room == 0)
                at_ceiling = 1;
            else if ((rc = cpgo_buf_reserve(out, room))) {
                cpgo_err_set(err, rc, "gunzip: cannot allocate %zu bytes", room);
                break;
            }
        }
        if (at_ceiling) {
            zs.next_out = &probe;
            zs.avail_out = 1;
        } else {
            size_t room = out->cap - out->len;
            zs.next_out = out->data + out->len;
            zs.avail_out = (uInt)(room > (1u << 30) ? (1u << 30) : room);
        }
        uInt out_before = zs.avail_out, in_before = zs.avail_in;
        int z = inflate(&zs, Z_NO_FLUSH);
        size_t produced = out_before - zs.avail_out;
        if (at_ceiling && produced) {
            rc = cpgo_err_set_class(err, CPGO_CLASS_DECOMPRESSED_LIMIT, CPGO_E_LIMIT,
                                    "decompressed profile exceeds the limit of %zu bytes", max);
            break;
        }
        if (!at_ceiling) out->len += produced;
        if (z == Z_STREAM_END) {
            /* Another gzip member may follow (Go's reader is multistream); anything else is
             * trailing garbage and rejected, as Go does ("gzip: invalid header"). */
            if (zs.avail_in < 2 && left) {
                size_t take = left > (1u << 30) ? (1u << 30) : left;
                zs.avail_in += (uInt)take;
                left -= take;
            }
            if (zs.avail_in == 0) break;
            if (!cpgo_gz_is_gzip(zs.next_in, zs.avail_in)) {
                rc = cpgo_err_set(err, CPGO_E_INPUT,
                                  "gunzip: %zu bytes of trailing data after the gzip stream",
                                  (size_t)zs.avail_in + left);
                break;
            }
            inflateReset(&zs);
            continue;
        }
        if (z == Z_OK) continue;
        if (z == Z_BUF_ERROR && zs.avail_in == 0 && left == 0) {
            rc = cpgo_err_set(err, CPGO_E_INPUT, "gunzip: truncated gzip data");
            break;
        }
        if (z == Z_BUF_ERROR && (produced || in_before != zs.avail_in)) continue;
        if (z == Z_MEM_ERROR) {
            rc = cpgo_err_set(err, CPGO_E_NOMEM, "gunzip: out of memory");
            break;
        }
        rc = cpgo_err_set(err, CPGO_E_INPUT, "gunzip: %s", zs.msg ? zs.msg : "corrupt gzip data");
        break;
    }
    inflateEnd(&zs);
    if (rc) cpgo_buf_free(out);
    return rc;
}

#define GZ_CHUNK (1u << 20)
#define GZ_DICT 32768u

struct gz_job {
    const unsigned char *in;
    size_t len;
    size_t dictlen; /* the dictionary is the dictlen bytes before `in` */
    int last;
    unsigned char *out;
    size_t outlen;
    uLong crc;
    int rc;
};

static void gz_job_run(struct gz_job *j)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    j->rc = CPGO_E_NOMEM;
    if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return;
    if (j->dictlen && deflateSetDictionary(&zs, j->in - j->dictlen, (uInt)j->dictlen) != Z_OK) {
        deflateEnd(&zs);
        return;
    }
    size_t cap = deflateBound(&zs, (uLong)j->len) + 64;
    j->out = malloc(cap);
    if (!j->out) {
        deflateEnd(&zs);
        return;
    }
    zs.next_in = (Bytef *)j->in;
    zs.avail_in = (uInt)j->len;
    zs.next_out = j->out;
    zs.avail_out = (uInt)cap;
    int z = deflate(&zs, j->last ? Z_FINISH : Z_SYNC_FLUSH);
    j->outlen = cap - zs.avail_out;
    deflateEnd(&zs);
    if ((j->last && z != Z_STREAM_END) || (!j->last && (z != Z_OK || zs.avail_in))) return;
    j->crc = crc32(0L, j->in, (uInt)j->len);
    j->rc = 0;
}

struct gz_worker {
    pthread_t tid;
    struct gz_job *jobs;
    size_t njobs, first, stride;
};

static void *gz_worker_main(void *arg)
{
    struct gz_worker *w = arg;
    for (size_t i = w->first; i < w->njobs; i += w->stride)
        gz_job_run(&w->jobs[i]);
    return NULL;
}

int cpgo_gz_compress(const void *data, size_t len, int threads, struct cpgo_buf *out,
                     struct cpgo_err *err)
{
    const unsigned char *in = data;
    size_t njobs = len ? (len + GZ_CHUNK - 1) / GZ_CHUNK : 1;
    struct gz_job *jobs = calloc(njobs, sizeof *jobs);
    if (!jobs) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory compressing");
    for (size_t i = 0; i < njobs; i++) {
        size_t off = i * GZ_CHUNK;
        jobs[i].in = in + off;
        jobs[i].len = len - off < GZ_CHUNK ? len - off : GZ_CHUNK;
        jobs[i].dictlen = off < GZ_DICT ? off : GZ_DICT;
        jobs[i].last = i == njobs - 1;
    }
    if (threads < 1) threads = 1;
    if ((size_t)threads > njobs) threads = (int)njobs;
    /* Job i belongs to worker i % threads; worker 0 is this thread, which also takes the
     * share of any worker that could not be started. */
    struct gz_worker *ws = threads > 1 ? calloc((size_t)threads, sizeof *ws) : NULL;
    int started = 0;
    for (int t = 1; ws && t < threads; t++) {
        ws[t] = (struct gz_worker){0, jobs, njobs, (size_t)t, (size_t)threads};
        if (pthread_create(&ws[t].tid, NULL, gz_worker_main, &ws[t])) break;
        started = t;
    }
    size_t stride = ws ? (size_t)threads : 1;
    for (size_t i = 0; i < njobs; i++) {
        size_t owner = i % stride;
        if (owner == 0 || owner > (size_t)started) gz_job_run(&jobs[i]);
    }
    for (int t = 1; t <= started; t++)
        pthread_join(ws[t].tid, NULL);
    free(ws);

    int rc = 0;
    size_t total = 18;
    for (size_t i = 0; i < njobs; i++) {
        if (jobs[i].rc) rc = jobs[i].rc;
        total += jobs[i].outlen;
    }
    cpgo_buf_init(out, 0);
    if (!rc) rc = cpgo_buf_reserve(out, total);
    if (!rc) {
        /* gzip header: deflate, no flags, mtime 0, xfl 4 (fastest), OS 3 (Unix) */
        static const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3};
        cpgo_buf_append(out, hdr, sizeof hdr);
        uLong crc = crc32(0L, Z_NULL, 0);
        for (size_t i = 0; i < njobs; i++) {
            cpgo_buf_append(out, jobs[i].out, jobs[i].outlen);
            crc = crc32_combine(crc, jobs[i].crc, (z_off_t)jobs[i].len);
        }
        unsigned char tr[8];
        uint32_t isize = (uint32_t)len;
        for (int k = 0; k < 4; k++) {
            tr[k] = (unsigned char)(crc >> (8 * k));
            tr[4 + k] = (unsigned char)(isize >> (8 * k));
        }
        cpgo_buf_append(out, tr, sizeof tr);
    } else {
        cpgo_err_set(err, rc, "out of memory compressing %zu bytes", len);
        cpgo_buf_free(out);
    }
    for (size_t i = 0; i < njobs; i++)
        free(jobs[i].out);
    free(jobs);
    return rc;
}
