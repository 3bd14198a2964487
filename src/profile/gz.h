/*
 * gz.h - gzip for profiles: bounded decompression and deterministic compression.
 * Owns no state; every call is reentrant and runs on the caller's thread (a work-queue job
 * in the daemon, the main or reader thread in the CLI). No CPU work on the loop thread.
 *
 * Both directions go through libdeflate first (whole-buffer: 4-5x faster than zlib at level 1
 * on profiles and smaller output, see the commit "gz: libdeflate ..."), with zlib streaming
 * as the decompressor of last resort: libdeflate needs the output size up front, which a
 * gzip stream only hints at (ISIZE, attacker-controlled).
 *
 * Compression: ONE gzip member, whole buffer, libdeflate level 1 (mtime 0, no name). No
 * chunking, no threads: one libdeflate pass over a 10 MB merged profile (~0.17 s) is faster
 * than today's zlib level 1 on two cores, its output is smaller than zlib level 1's, and a
 * single member keeps ISIZE exact, so reading our own files back is one libdeflate pass too
 * (fixed-size members would make every member but the last miss the size hint). The bytes
 * depend only on the input (and the libdeflate version).
 */
#ifndef CPGO_PROFILE_GZ_H
#define CPGO_PROFILE_GZ_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

/* True when data starts with the gzip magic 1f 8b. */
int cpgo_gz_is_gzip(const void *data, size_t len);

/* One or more concatenated gzip members into out; more than max bytes -> CPGO_E_LIMIT
 * with err->cls CPGO_CLASS_DECOMPRESSED_LIMIT, stopping at the ceiling: nothing beyond max
 * bytes is ever allocated for the output. Trailing bytes that are not another member are an
 * error; every member's CRC-32 and ISIZE are checked. The trailer's ISIZE only sizes the
 * first attempt (capped by max): a member that does not fit it, or is not accepted by
 * libdeflate, is inflated again by zlib, whose errors and limits are the reference. */
int cpgo_gz_decompress(const void *data, size_t len, size_t max, struct cpgo_buf *out,
                       struct cpgo_err *err);

/* gzip (one member, libdeflate level 1, mtime 0, no name) of data into out. */
int cpgo_gz_compress(const void *data, size_t len, struct cpgo_buf *out, struct cpgo_err *err);

#endif
