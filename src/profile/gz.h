/*
 * gz.h - gzip for profiles: bounded decompression and deterministic compression.
 * Owns no state; every call is reentrant and runs on the caller's thread (a work-queue job
 * in the daemon, the main or reader thread in the CLI; compression with `threads` > 1 adds
 * short-lived helper threads it joins before returning). Never on the loop thread.
 *
 * Both directions go through libdeflate (whole-buffer: on profiles about 3x faster than zlib
 * at level 1, and 2-5% smaller output; numbers in the commits "gz: libdeflate ..." and
 * "gz: libdeflate level 2 ..."), with zlib
 * streaming as the judge of members libdeflate refuses (its error texts are the reference).
 *
 * Compression: the input is cut into fixed 2 MiB pieces, each its own gzip member (libdeflate
 * level 2, mtime 0, no name), concatenated; Go's gzip reader (multistream), gzip(1) and
 * zlib read that as one stream. libdeflate has no streaming or preset dictionary, so a
 * member cannot continue the previous one's deflate stream as the former zlib chunks did;
 * independent members cost +0.02% on bench profiles and the result is still smaller than
 * zlib level 1 (cpgo's writer before libdeflate: the published file must not grow; level 1
 * of libdeflate did grow it by up to 1% on some profiles, level 2 never did). Members are
 * independent, so `threads` > 1 compresses them on that many short-lived pthreads (the CLI: the
 * machine's cores; the daemon's work items pass 1) and the bytes never depend on the number of
 * threads. A scraped profile (< 2 MiB raw) stays one member, whose ISIZE gives gunzip the exact
 * size.
 *
 * Decompression: member by member, libdeflate into a buffer sized first by the trailer's
 * ISIZE (attacker-controlled, mod 2^32: a hint capped by the ceiling and by what the input
 * could expand to); a member that does not fit grows the buffer (at least doubling, within
 * the ceiling) and is inflated again.
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
 * first attempt (capped by max). */
int cpgo_gz_decompress(const void *data, size_t len, size_t max, struct cpgo_buf *out,
                       struct cpgo_err *err);
/* The same into out's existing memory (its bytes replaced, its capacity kept and grown as
 * needed; out->max set to max): a decoder that gunzips profile after profile reuses one
 * buffer instead of mapping fresh pages for each. out must be initialised (cpgo_buf_init). */
int cpgo_gz_decompress_into(const void *data, size_t len, size_t max, struct cpgo_buf *out,
                            struct cpgo_err *err);

/* gzip (2 MiB members, libdeflate level 2, mtime 0, no name) of data into out, on `threads`
 * threads (< 1 is 1); the bytes do not depend on `threads`. */
int cpgo_gz_compress(const void *data, size_t len, int threads, struct cpgo_buf *out,
                     struct cpgo_err *err);

#endif
