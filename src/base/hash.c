/* hash.c - see hash.h. Linear probing; load factor kept at or below 1/2. */
#include "base/hash.h"
#include "base/err.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint64_t cpgo_hash_key_value_;
atomic_int cpgo_hash_key_ready_;
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void hash_key_draw(void)
{
    uint64_t k = 0;
    if (getrandom(&k, sizeof k, 0) != (ssize_t)sizeof k) {
        /* no entropy source (a sandbox without the syscall): still unknown to a profile's
         * author, if weaker */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k = cpgo_hash_mix(cpgo_hash_mix((uint64_t)ts.tv_nsec, (uint64_t)ts.tv_sec),
                          (uint64_t)getpid() ^ (uint64_t)(uintptr_t)&k);
    }
    cpgo_hash_key_value_ = k;
    atomic_store_explicit(&cpgo_hash_key_ready_, 1, memory_order_release);
}

void cpgo_hash_key_init(void)
{
    pthread_once(&hash_key_once, hash_key_draw);
}

uint64_t cpgo_hash_fnv1a(const void *data, size_t len, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t cpgo_hash_stable(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = cpgo_hash_mix(seed, len);
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = cpgo_hash_mix(h, v);
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t v = 0;
        memcpy(&v, p, len);
        h = cpgo_hash_mix(h, v);
    }
    return h;
}

/* The folded 128-bit product: the multiply carries every bit of both inputs into the
 * middle of the result, and the fold brings the high half down. The inputs are folded in
 * as well (wyhash's "condom" mode): a plain product is 0 whenever one factor is, so input
 * words that cancel a constant (8 bytes a hostile profile can choose) would erase the other
 * word and make every such string collide, whatever the seed: a flood of one table chain. */
static inline uint64_t hash_mum(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (a ^ (uint64_t)r) ^ (b ^ (uint64_t)(r >> 64));
}

static inline uint64_t hash_r8(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t hash_r4(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The construction of wyhash (public domain, Wang Yi): odd 64-bit constants with balanced
 * bits, the input xored into them and multiplied in pairs. */
#define HK0 0xa0761d6478bd642fULL
#define HK1 0xe7037ed1a0b428dbULL
#define HK2 0x8ebc6af09c88c6e3ULL
#define HK3 0x589965cc75374cc3ULL

uint64_t cpgo_hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t a, b;
    seed ^= cpgo_hash_key();
    seed ^= hash_mum(seed ^ HK0, HK1);
    if (len <= 16) {
        if (len >= 4) {
            /* two overlapping 4-byte reads from each end cover 4..16 bytes */
            size_t q = (len >> 3) << 2;
            a = (hash_r4(p) << 32) | hash_r4(p + q);
            b = (hash_r4(p + len - 4) << 32) | hash_r4(p + len - 4 - q);
        } else if (len) {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = len;
        if (i > 48) {
            uint64_t s1 = seed, s2 = seed;
            do {
                seed = hash_mum(hash_r8(p) ^ HK1, hash_r8(p + 8) ^ seed);
                s1 = hash_mum(hash_r8(p + 16) ^ HK2, hash_r8(p + 24) ^ s1);
                s2 = hash_mum(hash_r8(p + 32) ^ HK3, hash_r8(p + 40) ^ s2);
                p += 48;
                i -= 48;
            } while (i > 48);
            seed ^= s1 ^ s2;
        }
        while (i > 16) {
            seed = hash_mum(hash_r8(p) ^ HK1, hash_r8(p + 8) ^ seed);
            p += 16;
            i -= 16;
        }
        /* the last 16 bytes, overlapping what came before when len is not a multiple */
        a = hash_r8(p + i - 16);
        b = hash_r8(p + i - 8);
    }
    a ^= HK1;
    b ^= seed;
    unsigned __int128 r = (unsigned __int128)a * b;
    a ^= (uint64_t)r;
    b ^= (uint64_t)(r >> 64);
    return hash_mum(a ^ HK0 ^ len, b ^ HK1);
}

void cpgo_itab_free(struct cpgo_itab *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static int itab_grow(struct cpgo_itab *t, size_t want)
{
    size_t cap = 16;
    while (cap < want * 2)
        cap <<= 1;
    if (cap <= t->cap) return 0;
    struct cpgo_itab_slot *s = calloc(cap, sizeof *s);
    if (!s) return CPGO_E_NOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].idx1) continue;
        size_t j = t->slots[i].hash & (cap - 1);
        while (s[j].idx1)
            j = (j + 1) & (cap - 1);
        s[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = s;
    t->cap = cap;
    return 0;
}

int64_t cpgo_itab_find(const struct cpgo_itab *t, uint64_t hash, cpgo_itab_eq_fn eq,
                       const void *ctx)
{
    if (!t->cap) return -1;
    uint32_t h = (uint32_t)hash;
    size_t j = h & (t->cap - 1);
    for (;;) {
        const struct cpgo_itab_slot *s = &t->slots[j];
        if (!s->idx1) return -1;
        if (s->hash == h && eq(ctx, s->idx1 - 1)) return s->idx1 - 1;
        j = (j + 1) & (t->cap - 1);
    }
}

int cpgo_itab_insert(struct cpgo_itab *t, uint64_t hash, uint32_t idx)
{
    if ((t->n + 1) * 2 > t->cap && itab_grow(t, t->n + 1 > 8 ? (t->n + 1) * 2 : 8))
        return CPGO_E_NOMEM;
    uint32_t h = (uint32_t)hash;
    size_t j = h & (t->cap - 1);
    while (t->slots[j].idx1)
        j = (j + 1) & (t->cap - 1);
    t->slots[j].hash = h;
    t->slots[j].idx1 = idx + 1;
    t->n++;
    return 0;
}

int cpgo_itab_copy(struct cpgo_itab *dst, const struct cpgo_itab *src)
{
    memset(dst, 0, sizeof *dst);
    if (!src->cap) return 0;
    dst->slots = malloc(src->cap * sizeof *dst->slots);
    if (!dst->slots) return CPGO_E_NOMEM;
    memcpy(dst->slots, src->slots, src->cap * sizeof *dst->slots);
    dst->cap = src->cap;
    dst->n = src->n;
    return 0;
}

void cpgo_itab_truncate(struct cpgo_itab *t, size_t n)
{
    if (!t->cap || t->n == 0) return;
    size_t mask = t->cap - 1, start = 0;
    /* Scan from just after an empty slot (the table is at most half full): no cluster then
     * spans the scan's start, so every entry a deletion moves lands at or after the slot
     * being scanned and is looked at again. */
    while (t->slots[start].idx1)
        start++;
    for (size_t k = 1; k <= t->cap; k++) {
        size_t i = (start + k) & mask;
        while (t->slots[i].idx1 > n) {
            /* Backward-shift deletion (no tombstones): later members of the cluster that
             * may live in the hole move into it, so every probe chain stays unbroken. */
            t->slots[i].idx1 = 0;
            t->n--;
            size_t hole = i, j = i;
            for (;;) {
                j = (j + 1) & mask;
                if (!t->slots[j].idx1) break;
                size_t home = t->slots[j].hash & mask;
                int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
                if (stays) continue;
                t->slots[hole] = t->slots[j];
                t->slots[j].idx1 = 0;
                hole = j;
            }
        }
    }
}

void cpgo_idmap_free(struct cpgo_idmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* An id's home slot in a table of cap slots (a power of two), under the process key. */
static inline size_t idmap_home(uint64_t id, size_t cap)
{
    return cpgo_hash_mix(cpgo_hash_key(), id) & (cap - 1);
}

static int idmap_grow(struct cpgo_idmap *m, size_t want)
{
    size_t cap = 16;
    while (cap < want * 2)
        cap <<= 1;
    if (cap <= m->cap) return 0;
    uint64_t *k = calloc(cap, sizeof *k);
    uint32_t *v = malloc(cap * sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return CPGO_E_NOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = idmap_home(m->keys[i], cap);
        while (k[j])
            j = (j + 1) & (cap - 1);
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = cap;
    return 0;
}

int cpgo_idmap_reserve(struct cpgo_idmap *m, size_t n)
{
    return idmap_grow(m, n);
}

int cpgo_idmap_put(struct cpgo_idmap *m, uint64_t id, uint32_t val)
{
    if ((m->n + 1) * 2 > m->cap && idmap_grow(m, (m->n + 1) * 2)) return CPGO_E_NOMEM;
    size_t j = idmap_home(id, m->cap);
    while (m->keys[j]) {
        if (m->keys[j] == id) return 1;
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = id;
    m->vals[j] = val;
    m->n++;
    return 0;
}

int64_t cpgo_idmap_get(const struct cpgo_idmap *m, uint64_t id)
{
    if (!m->cap || !id) return -1;
    size_t j = idmap_home(id, m->cap);
    while (m->keys[j]) {
        if (m->keys[j] == id) return m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

size_t cpgo_idmap_longest_probe(const struct cpgo_idmap *m)
{
    size_t most = 0;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t home = idmap_home(m->keys[i], m->cap);
        size_t d = (i - home) & (m->cap - 1);
        if (d > most) most = d;
    }
    return most;
}

/* ---- string map ------------------------------------------------------------------------ */

struct strmap_probe {
    const struct cpgo_strmap *m;
    const char *key;
};

static int strmap_eq(const void *ctx, uint32_t idx)
{
    const struct strmap_probe *p = ctx;
    return strcmp(p->m->keys[idx], p->key) == 0;
}

static uint64_t strmap_hash(const char *key)
{
    return cpgo_hash_bytes(key, strlen(key), 0x73);
}

void cpgo_strmap_free(struct cpgo_strmap *m)
{
    cpgo_itab_free(&m->tab);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

size_t *cpgo_strmap_get(const struct cpgo_strmap *m, const char *key)
{
    struct strmap_probe p = {m, key};
    int64_t i = cpgo_itab_find(&m->tab, strmap_hash(key), strmap_eq, &p);
    return i < 0 ? NULL : &m->vals[i];
}

int cpgo_strmap_put(struct cpgo_strmap *m, const char *key, size_t val)
{
    uint64_t h = strmap_hash(key);
    struct strmap_probe p = {m, key};
    if (cpgo_itab_find(&m->tab, h, strmap_eq, &p) >= 0) return 1;
    if (m->n == UINT32_MAX) return CPGO_E_NOMEM; /* the itab's indexes are 32-bit */
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 16;
        const char **nk = realloc(m->keys, nc * sizeof *nk);
        if (!nk) return CPGO_E_NOMEM;
        m->keys = nk;
        size_t *nv = realloc(m->vals, nc * sizeof *nv);
        if (!nv) return CPGO_E_NOMEM;
        m->vals = nv;
        m->cap = nc;
    }
    if (cpgo_itab_insert(&m->tab, h, (uint32_t)m->n)) return CPGO_E_NOMEM;
    m->keys[m->n] = key;
    m->vals[m->n] = val;
    m->n++;
    return 0;
}
