/*
 * gz.h - gzip for profiles: bounded decompression and deterministic, optionally parallel
 * compression.
 *
 * Compression cuts the input into fixed 1 MiB chunks; each chunk is a raw deflate stream
 * primed with the previous 32 KiB of input as its dictionary and ended with a sync flush
 * (the last one with finish), as pigz does. Chunks are independent given the input, so
 * they can be compressed on several threads, and the bytes never depend on the number of
 * threads. Threads: reentrant; `threads` > 1 starts that many short-lived pthreads (the
 * CLI uses the machine's cores; the daemon's work items pass 1).
 */
#ifndef CPGO_PROFILE_GZ_H
#define CPGO_PROFILE_GZ_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

/* True when data starts with the gzip magic 1f 8b. */
int cpgo_gz_is_gzip(const void *data, size_t len);

/* One or more concatenated gzip members into out; more than max bytes -> CPGO_E_LIMIT
 * with err->cls CPGO_CLASS_DECOMPRESSED_LIMIT, stopping at the ceiling. Trailing bytes that are not
 * another member are an error. */
int cpgo_gz_decompress(const void *data, size_t len, size_t max, struct cpgo_buf *out,
                       struct cpgo_err *err);

/* gzip (level 1, mtime 0, no name) of data into out. */
int cpgo_gz_compress(const void *data, size_t len, int threads, struct cpgo_buf *out,
                     struct cpgo_err *err);

#endif
