/*
 * hash.h - hashing and an open-addressing index table.
 *
 * The merge engine keeps its entities (strings, functions, mappings, locations, samples) in
 * flat arrays and finds them by content through a cpgo_itab: a table of (hash, index)
 * slots. The table never stores keys; equality is decided by a caller-supplied callback that
 * compares the candidate index with the probe, so an entity's content lives in one place.
 * A cpgo_idmap maps 64-bit ids to indexes (for a decoded profile's id references).
 * A cpgo_strmap maps strings to values on top of a cpgo_itab (backend names, target keys).
 * Not thread-safe; each table belongs to one owner on one thread.
 */
#ifndef CPGO_BASE_HASH_H
#define CPGO_BASE_HASH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The process's secret key for table hashes, drawn once from getrandom(2) at first use.
 * Profiles come from backends cpgo does not trust: with a fixed hash, one could be built
 * offline whose ids, addresses or strings all land in one probe chain of a table, and its
 * decode or merge would take quadratic time (100,000 crafted location ids: 17 s instead of
 * 0.1 s). Keyed: cpgo_hash_bytes, cpgo_hash_keyed chains, cpgo_idmap, cpgo_strmap. Never
 * keyed, because their values are stored, shown or must repeat: cpgo_hash_stable,
 * cpgo_hash_fnv1a, and cpgo_hash_mix / cpgo_hash_fmix64 themselves. */
extern uint64_t cpgo_hash_key_value_; /* private: written once, before the flag is set */
extern atomic_int cpgo_hash_key_ready_;
void cpgo_hash_key_init(void);
static inline uint64_t cpgo_hash_key(void)
{
    if (!atomic_load_explicit(&cpgo_hash_key_ready_, memory_order_acquire)) cpgo_hash_key_init();
    return cpgo_hash_key_value_;
}

/* splitmix64's finaliser: every input bit reaches every output bit. */
static inline uint64_t cpgo_hash_fmix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static inline uint64_t cpgo_hash_mix(uint64_t h, uint64_t v)
{
    /* A strong 64-bit mixer (splitmix64 finaliser over h ^ v): cheap and well spread. */
    return cpgo_hash_fmix64(h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

/* The start of a table hash chain: a per-use constant under the process key, then
 * cpgo_hash_mix of each field. A chain's values differ between processes. */
static inline uint64_t cpgo_hash_keyed(uint64_t seed)
{
    return seed ^ cpgo_hash_key();
}

/* A hash of len bytes for in-memory tables (strings, stacks): 16 bytes per 64x64->128-bit
 * multiply, three independent lanes past 48 bytes, so a long symbol name or a deep stack
 * costs a few cycles per word rather than a serial mixer's dozen. Keyed by the process key:
 * its values differ between processes, so nothing stored or shown may depend on them
 * (cpgo_hash_stable, cpgo_hash_fnv1a). */
uint64_t cpgo_hash_bytes(const void *data, size_t len, uint64_t seed);

/* A hash whose values never change between releases, for decisions that must repeat
 * exactly on the same input: the merge's seeded rounding draws (merge.h). One serial
 * cpgo_hash_mix per 8 bytes: slower than cpgo_hash_bytes; use that one for tables. */
uint64_t cpgo_hash_stable(const void *data, size_t len, uint64_t seed);

/* FNV-1a, for values that are stored or shown and so must never change between releases:
 * target ids, git cache names, the hash of a published file. h = CPGO_FNV1A_INIT to start
 * (or a previous result, to continue). Its low bits are weak: mix before a modulo. */
#define CPGO_FNV1A_INIT 0xcbf29ce484222325ULL
uint64_t cpgo_hash_fnv1a(const void *data, size_t len, uint64_t h);

struct cpgo_itab_slot {
    uint32_t hash; /* low 32 bits of the entity hash; 0 is allowed */
    uint32_t idx1; /* entity index + 1; 0 = empty slot */
};

struct cpgo_itab {
    struct cpgo_itab_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;
};

/* Returns 1 when entity `idx` equals the probe described by `ctx`. */
typedef int (*cpgo_itab_eq_fn)(const void *ctx, uint32_t idx);

void cpgo_itab_free(struct cpgo_itab *t);
/* Finds an entity with this hash for which eq() holds; returns its index or -1. */
int64_t cpgo_itab_find(const struct cpgo_itab *t, uint64_t hash, cpgo_itab_eq_fn eq,
                       const void *ctx);
/* Inserts index idx under hash (the caller has checked it is absent). 0 or CPGO_E_NOMEM. */
int cpgo_itab_insert(struct cpgo_itab *t, uint64_t hash, uint32_t idx);
/* Makes dst (empty, all-zero) a copy of src: the same slots, so the same lookups. 0 or
 * CPGO_E_NOMEM (dst left empty). */
int cpgo_itab_copy(struct cpgo_itab *dst, const struct cpgo_itab *src);
/* Removes every entry whose index is >= n (the entities appended after a point the owner
 * rolls back to). In place, O(capacity), never allocates: it runs on error paths. */
void cpgo_itab_truncate(struct cpgo_itab *t, size_t n);

struct cpgo_idmap {
    uint64_t *keys; /* 0 = empty (ids are never 0) */
    uint32_t *vals;
    size_t cap;
    size_t n;
};

void cpgo_idmap_free(struct cpgo_idmap *m);
int cpgo_idmap_reserve(struct cpgo_idmap *m, size_t n);
/* Inserts id -> val; returns 1 when id was already present (val untouched), 0, or NOMEM. */
int cpgo_idmap_put(struct cpgo_idmap *m, uint64_t id, uint32_t val);
/* Returns the value for id, or -1. */
int64_t cpgo_idmap_get(const struct cpgo_idmap *m, uint64_t id);
/* The longest distance of an entry from its home slot: what one lookup can cost at worst.
 * For tests and diagnostics (a flood shows as a chain as long as the map). */
size_t cpgo_idmap_longest_probe(const struct cpgo_idmap *m);

/* A string -> size_t map: the keys in an array, found through a cpgo_itab. Keys are
 * borrowed (the caller keeps them alive and unchanged while they are in the map); an
 * all-zero map is empty. Used where config and daemon index backends by name. */
struct cpgo_strmap {
    struct cpgo_itab tab;
    const char **keys;
    size_t *vals;
    size_t n, cap;
};

void cpgo_strmap_free(struct cpgo_strmap *m);
/* The value stored for key (writable in place), or NULL. */
size_t *cpgo_strmap_get(const struct cpgo_strmap *m, const char *key);
/* Adds key -> val. 1 when key is already there (its value untouched), 0, or CPGO_E_NOMEM. */
int cpgo_strmap_put(struct cpgo_strmap *m, const char *key, size_t val);

#endif
