/*
 * codec.h - pprof profiles in and out: gunzip under a ceiling, a limit pre-scan, protobuf-c
 * decoding with a counting allocator, validation as google/pprof does it, and
 * deterministic encoding.
 *
 * Owns: a decoded struct cpgo_profile (the protobuf-c message, the allocator that made it
 * and the id -> index maps built while validating). Borrows nothing after decode returns:
 * the input bytes may be freed.
 * Threads: CPU work. Call it from the work queue (or the CLI), never from the loop thread.
 * Everything here is reentrant; nothing is global.
 */
#ifndef CPGO_PROFILE_CODEC_H
#define CPGO_PROFILE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/hash.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile cpgo_pb_profile;

/* Ceilings applied to every decoded profile. All are checked before the allocation they bound. */
struct cpgo_limits {
    size_t max_compressed;    /* bytes as received (gzip or raw) */
    size_t max_decompressed;  /* bytes of protobuf after gunzip */
    size_t max_decode_memory; /* bytes protobuf-c may allocate for one message */
    size_t max_samples;
    size_t max_locations;
    size_t max_functions;
    size_t max_mappings;
    size_t max_strings;
};

/* Safe defaults: generous for real Go profiles (the largest seen in the wild is 60 MB raw). */
void cpgo_limits_default(struct cpgo_limits *l);
/* Limits for a profile that merges many scrapes (the existing published file, cpgo's own
 * output): each limit is the larger of the configured one and the default. Scrape limits
 * bound one instance's body; lowering them must not make the merged file unreadable. */
void cpgo_limits_merged(const struct cpgo_limits *configured, struct cpgo_limits *out);

/*
 * The allocator protobuf-c decodes with: a bump arena with a byte budget. A decoded profile
 * is tens of thousands of small objects that all die together, so an arena is both the
 * fastest allocator and the simplest to bound; freeing the profile releases the chunks to
 * the freeing thread's small cache (4 MiB, and a gunzip buffer of up to 2 MiB), which that thread's
 * next decode takes them from instead of mapping fresh pages.
 */
struct cpgo_arena_chunk;
struct cpgo_counting_alloc {
    ProtobufCAllocator base; /* handed to protobuf-c; allocator_data points back here */
    size_t used;             /* bytes of chunks taken, counted against budget */
    size_t budget;
    int exceeded;
    struct cpgo_arena_chunk *chunks;
    unsigned char *cur;
    size_t left;
};

/* id -> index for one kind of entity. Most writers (Go's runtime, pprof) number ids 1..n
 * in order; then the index is id - 1 and no map is built. */
struct cpgo_id_index {
    int dense;
    size_t n;
    struct cpgo_idmap map; /* only when !dense */
};

/* Frees the calling thread's cache of arena chunks and gunzip buffer (a thread that exits
 * does it itself; libuv's pool threads never exit, so each keeps at most 6 MiB). */
void cpgo_profile_cache_drop(void);

struct cpgo_profile {
    cpgo_pb_profile *pb;
    struct cpgo_counting_alloc alloc;
    /* id -> index into pb->mapping / pb->location / pb->function */
    struct cpgo_id_index mapping_ids;
    struct cpgo_id_index location_ids;
    struct cpgo_id_index function_ids;
};

/* Index of the entity with this id, or -1. */
static inline int64_t cpgo_id_lookup(const struct cpgo_id_index *x, uint64_t id)
{
    if (x->dense) return (id - 1 < x->n) ? (int64_t)(id - 1) : -1;
    return cpgo_idmap_get(&x->map, id);
}

/*
 * Decodes gzip or raw protobuf and validates it. On success *out owns a profile to be freed
 * with cpgo_profile_free. Errors: CPGO_E_EMPTY (no bytes), CPGO_E_LIMIT, CPGO_E_INPUT; a
 * gzip that inflates past max_decompressed also names CPGO_CLASS_DECOMPRESSED_LIMIT in
 * err->cls (cpgo_err_to_class gives the class of any failure).
 */
int cpgo_profile_decode(const void *data, size_t len, const struct cpgo_limits *lim,
                        struct cpgo_profile **out, struct cpgo_err *err);

/* Validates a protobuf-c message as google/pprof's parser + CheckValid do, building the id
 * maps of p. Used by decode and, on our own output, before anything is written (M7). */
int cpgo_profile_validate(struct cpgo_profile *p, struct cpgo_err *err);

void cpgo_profile_free(struct cpgo_profile *p);

/* A profile over a message someone else owns (a merge result): validated as decode
 * validates, with its id maps; cpgo_profile_free frees the view, never the message, which
 * must outlive it. */
int cpgo_profile_view(cpgo_pb_profile *pb, struct cpgo_profile **out, struct cpgo_err *err);

/*
 * Whether raw protobuf bytes would decode under lim: the size, the pre-scan's counts, and
 * the decode memory budget, the last one without decoding when the size alone proves it:
 * protobuf-c's memory per wire byte is bounded (CPGO_DECODE_MEMORY_PER_BYTE, the worst
 * case being empty sub-messages; checked by the unit test), so only bytes of more than
 * budget / that factor are decoded to find out. For a publisher that must never write a
 * file its next round cannot read, at a fraction of a decode's cost.
 */
#define CPGO_DECODE_MEMORY_PER_BYTE 96
int cpgo_profile_check_readable(const void *raw, size_t len, const struct cpgo_limits *lim,
                                struct cpgo_err *err);

/* The string at index i of the string table (validated to exist); never NULL: protobuf-c
 * leaves an empty string's data NULL, and callers pass it to strndup and memcmp. */
static inline const char *cpgo_profile_str(const cpgo_pb_profile *pb, int64_t i, size_t *len)
{
    *len = pb->string_table[i].len;
    return pb->string_table[i].data ? (const char *)pb->string_table[i].data : "";
}

/*
 * Encodes a message as protobuf, gzip-compressed unless raw. The same message always gives
 * the same bytes (libdeflate level 2 gzip members, no name, mtime 0: profile/gz.h).
 */
int cpgo_profile_encode(const cpgo_pb_profile *pb, int raw, struct cpgo_buf *out,
                        struct cpgo_err *err);
/* Raw protobuf only (the caller may free what the message points into, then compress). */
int cpgo_profile_pack(const cpgo_pb_profile *pb, struct cpgo_buf *out, struct cpgo_err *err);
/* The same on `threads` threads (< 2: this one): the message is cut into parts, slices of its
 * repeated fields in field order, each sized and packed by protobuf-c at its own offset; the
 * bytes are those of cpgo_profile_pack. For the CLI's big merges: the daemon passes 1. */
int cpgo_profile_pack_mt(const cpgo_pb_profile *pb, int threads, struct cpgo_buf *out,
                         struct cpgo_err *err);
/* Encodes packing and compressing on `threads` threads; the bytes do not depend on them. */
int cpgo_profile_encode_mt(const cpgo_pb_profile *pb, int raw, int threads, struct cpgo_buf *out,
                           struct cpgo_err *err);

#endif
