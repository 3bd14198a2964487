/*
 * codec.c - see codec.h.
 *
 * Memory is bounded in three steps, each before the allocation it bounds:
 *   1. the compressed size is checked against max_compressed;
 *   2. gunzip writes into a buffer whose ceiling is max_decompressed, so a gzip bomb stops
 *      after at most that many bytes (and the time it takes to inflate them);
 *   3. a pre-scan walks the top-level protobuf fields and counts the repeated messages
 *      (samples, locations, ...) without allocating, so an over-limit profile is refused
 *      whole (Prometheus sample_limit semantics) before protobuf-c builds it; protobuf-c then
 *      allocates through a counting allocator whose budget stops amplification attacks
 *      (thousands of empty sub-messages cost 2 bytes on the wire but ~80 in memory).
 * protobuf-c offers no count-only pass, which is why step 3 reads tags itself; it decodes
 * nothing, and any input it does not understand is left to protobuf-c to reject.
 */
#include "profile/codec.h"
#include "profile/gz.h"

#include "base/par.h"

#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void cpgo_limits_default(struct cpgo_limits *l)
{
    l->max_compressed = 64u << 20;
    l->max_decompressed = 256u << 20;
    l->max_decode_memory = 1024u << 20;
    l->max_samples = 4000000;
    l->max_locations = 2000000;
    l->max_functions = 1000000;
    l->max_mappings = 100000;
    l->max_strings = 4000000;
}

#define MAXOF(f) out->f = configured->f > d.f ? configured->f : d.f
void cpgo_limits_merged(const struct cpgo_limits *configured, struct cpgo_limits *out)
{
    struct cpgo_limits d;
    cpgo_limits_default(&d);
    MAXOF(max_compressed);
    MAXOF(max_decompressed);
    MAXOF(max_decode_memory);
    MAXOF(max_samples);
    MAXOF(max_locations);
    MAXOF(max_functions);
    MAXOF(max_mappings);
    MAXOF(max_strings);
}
#undef MAXOF

/* ---- counting allocator ------------------------------------------------------------- */

struct cpgo_arena_chunk {
    struct cpgo_arena_chunk *next;
    size_t size;
    max_align_t data[]; /* keeps the first object aligned */
};

#define ARENA_CHUNK (1u << 20)

/*
 * Each thread keeps up to ARENA_CACHE_MAX released standard chunks for its next decode.
 * A 1 MiB block is above glibc's mmap threshold, so without the cache every decode maps
 * fresh pages and every free unmaps them: measured on 400 heavy scrapes, 40% of the
 * munmaps and most of the 18% of CPU spent in page faults. A pool thread decodes one
 * profile after another, so its chunks stay mapped and warm. The cache is per thread (no
 * lock); a chunk freed on another thread than it was taken on just moves. At most
 * ARENA_CACHE_MAX MiB per thread stays resident; a thread that exits frees its cache.
 */
#define ARENA_CACHE_MAX 4
#define RAW_KEEP_MAX (2u << 20)

struct arena_cache {
    struct cpgo_arena_chunk *free;
    unsigned n;
    /* the gunzip output of the thread's last decode, kept for the next one (its bytes die
     * once protobuf-c has copied them into the arena) unless it grew past RAW_KEEP_MAX */
    struct cpgo_buf raw;
};
static _Thread_local struct arena_cache tl_cache;
static pthread_key_t cache_key;
static int cache_key_ok;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_drop(void *arg)
{
    struct arena_cache *c = arg;
    while (c->free) {
        struct cpgo_arena_chunk *n = c->free->next;
        free(c->free);
        c->free = n;
    }
    c->n = 0;
    cpgo_buf_free(&c->raw);
}

static void cache_key_make(void)
{
    cache_key_ok = pthread_key_create(&cache_key, cache_drop) == 0;
}

static struct cpgo_arena_chunk *cache_take(void)
{
    struct cpgo_arena_chunk *c = tl_cache.free;
    if (c) {
        tl_cache.free = c->next;
        tl_cache.n--;
    }
    return c;
}

/* First use on this thread: have its exit free the cache. */
static void cache_register(void)
{
    pthread_once(&cache_once, cache_key_make);
    /* without a key the cache is still bounded; only a thread's exit does not free it */
    if (cache_key_ok) pthread_setspecific(cache_key, &tl_cache);
}

/* Keeps a standard chunk for this thread's next decode; 0 when the cache is full. */
static int cache_put(struct cpgo_arena_chunk *c)
{
    if (c->size != ARENA_CHUNK || tl_cache.n >= ARENA_CACHE_MAX) return 0;
    if (!tl_cache.free && !tl_cache.raw.data) cache_register();
    c->next = tl_cache.free;
    tl_cache.free = c;
    tl_cache.n++;
    return 1;
}

/* The decode is over with the thread's gunzip buffer: keep it unless it is big. */
static void raw_done(struct cpgo_buf *raw)
{
    raw->len = 0;
    if (raw->cap > RAW_KEEP_MAX) cpgo_buf_free(raw);
}

void cpgo_profile_cache_drop(void)
{
    cache_drop(&tl_cache);
}

static void *ca_alloc(void *data, size_t size)
{
    struct cpgo_counting_alloc *a = data;
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    if (size > a->left) {
        size_t csize = size > ARENA_CHUNK / 4 ? size : ARENA_CHUNK;
        if (csize > a->budget - a->used || a->used > a->budget) {
            a->exceeded = 1;
            return NULL;
        }
        struct cpgo_arena_chunk *c = csize == ARENA_CHUNK ? cache_take() : NULL;
        if (!c && !(c = malloc(sizeof *c + csize))) return NULL;
        c->size = csize;
        c->next = a->chunks;
        a->chunks = c;
        a->used += csize;
        if (csize != ARENA_CHUNK) return c->data; /* an oversize block: its own chunk */
        a->cur = (unsigned char *)c->data;
        a->left = csize;
    }
    void *p = a->cur;
    a->cur += size;
    a->left -= size;
    return p;
}

static void ca_free(void *data, void *ptr)
{
    /* Objects die with the arena (cpgo_profile_free). */
    (void)data;
    (void)ptr;
}

static void arena_release(struct cpgo_counting_alloc *a)
{
    while (a->chunks) {
        struct cpgo_arena_chunk *n = a->chunks->next;
        if (!cache_put(a->chunks)) free(a->chunks);
        a->chunks = n;
    }
    a->cur = NULL;
    a->left = 0;
    a->used = 0;
}

/* ---- pre-scan ----------------------------------------------------------------------- */

static int read_varint(const unsigned char **pp, const unsigned char *end, uint64_t *v)
{
    const unsigned char *p = *pp;
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end) return -1;
        unsigned char b = *p++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Counts the top-level repeated messages. Malformed framing is left to protobuf-c. */
static int prescan(const unsigned char *data, size_t len, const struct cpgo_limits *lim,
                   struct cpgo_err *err)
{
    size_t counts[7] = {0};
    const unsigned char *p = data, *end = data + len;
    while (p < end) {
        uint64_t tag, v;
        if (read_varint(&p, end, &tag)) return 0;
        uint64_t field = tag >> 3;
        switch (tag & 7) {
        case 0:
            if (read_varint(&p, end, &v)) return 0;
            break;
        case 1:
            if (end - p < 8) return 0;
            p += 8;
            break;
        case 2:
            if (read_varint(&p, end, &v) || v > (uint64_t)(end - p)) return 0;
            p += v;
            break;
        case 5:
            if (end - p < 4) return 0;
            p += 4;
            break;
        default:
            return 0;
        }
        if (field >= 1 && field <= 6) counts[field]++;
    }
    static const struct {
        int field;
        const char *what;
        size_t off;
    } checks[] = {
        {2, "samples", offsetof(struct cpgo_limits, max_samples)},
        {3, "mappings", offsetof(struct cpgo_limits, max_mappings)},
        {4, "locations", offsetof(struct cpgo_limits, max_locations)},
        {5, "functions", offsetof(struct cpgo_limits, max_functions)},
        {6, "strings", offsetof(struct cpgo_limits, max_strings)},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        size_t max;
        memcpy(&max, (const char *)lim + checks[i].off, sizeof max);
        if (counts[checks[i].field] > max)
            return cpgo_err_set(err, CPGO_E_LIMIT, "profile has %zu %s, more than the limit of %zu",
                                counts[checks[i].field], checks[i].what, max);
    }
    return 0;
}

/* ---- validation --------------------------------------------------------------------- */

#define STR_OK(pb, i) ((i) >= 0 && (uint64_t)(i) < (pb)->n_string_table)

static int bad_str(struct cpgo_err *err, const cpgo_pb_profile *pb, const char *where, int64_t i)
{
    return cpgo_err_set(err, CPGO_E_INPUT,
                        "%s references string %" PRId64 ", but the string table has %zu entries",
                        where, i, pb->n_string_table);
}

/* Builds the id index of one kind: ids non-zero and unique. Dense 1..n needs no map. */
static int index_ids(struct cpgo_id_index *x, const void *const *items, size_t n, size_t id_off,
                     const char *what, struct cpgo_err *err)
{
    x->n = n;
    x->dense = 1;
    for (size_t i = 0; i < n && x->dense; i++) {
        uint64_t id;
        memcpy(&id, (const char *)items[i] + id_off, sizeof id);
        if (id != i + 1) x->dense = 0;
    }
    if (x->dense) return 0;
    if (cpgo_idmap_reserve(&x->map, n))
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory building id maps");
    for (size_t i = 0; i < n; i++) {
        uint64_t id;
        memcpy(&id, (const char *)items[i] + id_off, sizeof id);
        if (id == 0)
            return cpgo_err_set(err, CPGO_E_INPUT, "%s %zu has the reserved id 0", what, i);
        int r = cpgo_idmap_put(&x->map, id, (uint32_t)i);
        if (r < 0) return cpgo_err_set(err, r, "out of memory");
        if (r) return cpgo_err_set(err, CPGO_E_INPUT, "two %ss have the id %" PRIu64, what, id);
    }
    return 0;
}

int cpgo_profile_validate(struct cpgo_profile *p, struct cpgo_err *err)
{
    cpgo_pb_profile *pb = p->pb;
    char where[96];
    if (pb->n_string_table == 0)
        return cpgo_err_set(err, CPGO_E_INPUT, "not a pprof profile: the string table is empty");
    if (pb->string_table[0].len != 0)
        return cpgo_err_set(err, CPGO_E_INPUT, "string_table[0] must be \"\"");
    for (size_t i = 0; i < pb->n_sample_type; i++) {
        snprintf(where, sizeof where, "sample_type %zu", i);
        if (!STR_OK(pb, pb->sample_type[i]->type))
            return bad_str(err, pb, where, pb->sample_type[i]->type);
        if (!STR_OK(pb, pb->sample_type[i]->unit))
            return bad_str(err, pb, where, pb->sample_type[i]->unit);
    }
    if (pb->period_type) {
        if (!STR_OK(pb, pb->period_type->type))
            return bad_str(err, pb, "period_type", pb->period_type->type);
        if (!STR_OK(pb, pb->period_type->unit))
            return bad_str(err, pb, "period_type", pb->period_type->unit);
    }
    if (!STR_OK(pb, pb->drop_frames)) return bad_str(err, pb, "drop_frames", pb->drop_frames);
    if (!STR_OK(pb, pb->keep_frames)) return bad_str(err, pb, "keep_frames", pb->keep_frames);
    if (!STR_OK(pb, pb->default_sample_type))
        return bad_str(err, pb, "default_sample_type", pb->default_sample_type);
    if (!STR_OK(pb, pb->doc_url)) return bad_str(err, pb, "doc_url", pb->doc_url);
    for (size_t i = 0; i < pb->n_comment; i++) {
        snprintf(where, sizeof where, "comment %zu", i);
        if (!STR_OK(pb, pb->comment[i])) return bad_str(err, pb, where, pb->comment[i]);
    }

    int rc;
    if ((rc = index_ids(&p->mapping_ids, (const void *const *)pb->mapping, pb->n_mapping,
                        offsetof(Perftools__Profiles__Mapping, id), "mapping", err)) ||
        (rc = index_ids(&p->function_ids, (const void *const *)pb->function, pb->n_function,
                        offsetof(Perftools__Profiles__Function, id), "function", err)) ||
        (rc = index_ids(&p->location_ids, (const void *const *)pb->location, pb->n_location,
                        offsetof(Perftools__Profiles__Location, id), "location", err)))
        return rc;

    for (size_t i = 0; i < pb->n_mapping; i++) {
        const Perftools__Profiles__Mapping *m = pb->mapping[i];
        if (!STR_OK(pb, m->filename) || !STR_OK(pb, m->build_id)) {
            snprintf(where, sizeof where, "mapping %" PRIu64, m->id);
            return bad_str(err, pb, where, STR_OK(pb, m->filename) ? m->build_id : m->filename);
        }
    }
    for (size_t i = 0; i < pb->n_function; i++) {
        const Perftools__Profiles__Function *f = pb->function[i];
        if (!STR_OK(pb, f->name) || !STR_OK(pb, f->system_name) || !STR_OK(pb, f->filename)) {
            snprintf(where, sizeof where, "function %" PRIu64, f->id);
            return bad_str(err, pb, where,
                           !STR_OK(pb, f->name)          ? f->name
                           : !STR_OK(pb, f->system_name) ? f->system_name
                                                         : f->filename);
        }
    }
    for (size_t i = 0; i < pb->n_location; i++) {
        const Perftools__Profiles__Location *l = pb->location[i];
        if (l->mapping_id && cpgo_id_lookup(&p->mapping_ids, l->mapping_id) < 0)
            return cpgo_err_set(err, CPGO_E_INPUT,
                                "location %" PRIu64 " references mapping %" PRIu64
                                ", which does not exist",
                                l->id, l->mapping_id);
        for (size_t j = 0; j < l->n_line; j++) {
            uint64_t fid = l->line[j]->function_id;
            if (fid == 0)
                return cpgo_err_set(err, CPGO_E_INPUT,
                                    "location %" PRIu64 " line %zu has no function", l->id, j);
            if (cpgo_id_lookup(&p->function_ids, fid) < 0)
                return cpgo_err_set(err, CPGO_E_INPUT,
                                    "location %" PRIu64 " references function %" PRIu64
                                    ", which does not exist",
                                    l->id, fid);
        }
    }
    if (pb->n_sample && pb->n_sample_type == 0)
        return cpgo_err_set(err, CPGO_E_INPUT, "profile has samples but no sample types");
    for (size_t i = 0; i < pb->n_sample; i++) {
        const Perftools__Profiles__Sample *s = pb->sample[i];
        if (s->n_value != pb->n_sample_type)
            return cpgo_err_set(err, CPGO_E_INPUT,
                                "sample %zu has %zu values, but the profile has %zu sample types",
                                i, s->n_value, pb->n_sample_type);
        for (size_t j = 0; j < s->n_location_id; j++)
            if (cpgo_id_lookup(&p->location_ids, s->location_id[j]) < 0)
                return cpgo_err_set(err, CPGO_E_INPUT,
                                    "sample %zu references location %" PRIu64
                                    ", which does not exist",
                                    i, s->location_id[j]);
        for (size_t j = 0; j < s->n_label; j++) {
            const Perftools__Profiles__Label *lb = s->label[j];
            if (!STR_OK(pb, lb->key) || !STR_OK(pb, lb->str) || !STR_OK(pb, lb->num_unit)) {
                snprintf(where, sizeof where, "sample %zu label %zu", i, j);
                return bad_str(err, pb, where,
                               !STR_OK(pb, lb->key)   ? lb->key
                               : !STR_OK(pb, lb->str) ? lb->str
                                                      : lb->num_unit);
            }
        }
    }
    return 0;
}

/* ---- decode / free / encode ----------------------------------------------------------- */

void cpgo_profile_free(struct cpgo_profile *p)
{
    if (!p) return;
    /* Every object of the message lives in the arena: releasing it frees them all. */
    arena_release(&p->alloc);
    cpgo_idmap_free(&p->mapping_ids.map);
    cpgo_idmap_free(&p->location_ids.map);
    cpgo_idmap_free(&p->function_ids.map);
    free(p);
}

int cpgo_profile_decode(const void *data, size_t len, const struct cpgo_limits *lim,
                        struct cpgo_profile **out, struct cpgo_err *err)
{
    *out = NULL;
    if (len == 0) return cpgo_err_set(err, CPGO_E_EMPTY, "empty profile (no data)");
    if (len > lim->max_compressed)
        return cpgo_err_set(err, CPGO_E_LIMIT, "profile is %zu bytes, more than the limit of %zu",
                            len, lim->max_compressed);
    struct cpgo_buf *raw = &tl_cache.raw;
    const unsigned char *bytes = data;
    size_t nbytes = len;
    int rc;
    if (cpgo_gz_is_gzip(data, len)) {
        if (!tl_cache.free && !raw->data) cache_register();
        rc = cpgo_gz_decompress_into(data, len, lim->max_decompressed, raw, err);
        bytes = raw->data;
        nbytes = raw->len;
        if (!rc && nbytes == 0)
            rc = cpgo_err_set(err, CPGO_E_EMPTY, "empty profile (gzip holds no data)");
        if (rc) {
            raw_done(raw);
            return rc;
        }
    } else if (len > lim->max_decompressed) {
        return cpgo_err_set(err, CPGO_E_LIMIT, "profile is %zu bytes, more than the limit of %zu",
                            len, lim->max_decompressed);
    }
    if ((rc = prescan(bytes, nbytes, lim, err))) {
        raw_done(raw);
        return rc;
    }
    struct cpgo_profile *p = calloc(1, sizeof *p);
    if (!p) {
        raw_done(raw);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    p->alloc.base.alloc = ca_alloc;
    p->alloc.base.free = ca_free;
    p->alloc.base.allocator_data = &p->alloc;
    p->alloc.budget = lim->max_decode_memory;
    p->pb = perftools__profiles__profile__unpack(&p->alloc.base, nbytes, bytes);
    raw_done(raw);
    if (!p->pb) {
        rc = p->alloc.exceeded
                 ? cpgo_err_set(err, CPGO_E_LIMIT,
                                "decoding the profile needs more than the limit of %zu bytes "
                                "of memory",
                                lim->max_decode_memory)
                 : cpgo_err_set(err, CPGO_E_INPUT,
                                "not a pprof profile: the protobuf message is malformed");
        cpgo_profile_free(p);
        return rc;
    }
    /* Unpacking succeeded; the detailed counts are now exact (pre-scan bounded them). */
    if ((rc = cpgo_profile_validate(p, err))) {
        cpgo_profile_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int cpgo_profile_view(cpgo_pb_profile *pb, struct cpgo_profile **out, struct cpgo_err *err)
{
    *out = NULL;
    struct cpgo_profile *p = calloc(1, sizeof *p);
    if (!p) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    p->pb = pb; /* no arena: cpgo_profile_free releases no chunk */
    int rc = cpgo_profile_validate(p, err);
    if (rc) {
        cpgo_profile_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int cpgo_profile_check_readable(const void *raw, size_t len, const struct cpgo_limits *lim,
                                struct cpgo_err *err)
{
    if (len == 0) return cpgo_err_set(err, CPGO_E_EMPTY, "empty profile (no data)");
    if (len > lim->max_decompressed)
        return cpgo_err_set(err, CPGO_E_LIMIT, "profile is %zu bytes, more than the limit of %zu",
                            len, lim->max_decompressed);
    int rc = prescan(raw, len, lim, err);
    if (rc) return rc;
    /* the arena's last chunk may be partly used and a large array takes a chunk of its own */
    if (len <= (lim->max_decode_memory - 2 * (size_t)ARENA_CHUNK) / CPGO_DECODE_MEMORY_PER_BYTE &&
        lim->max_decode_memory > 2 * (size_t)ARENA_CHUNK)
        return 0;
    /* raw bytes: max_compressed bounds the gzip (the caller checks it on that), not them */
    struct cpgo_limits rl = *lim;
    rl.max_compressed = SIZE_MAX;
    struct cpgo_profile *p = NULL;
    rc = cpgo_profile_decode(raw, len, &rl, &p, err);
    cpgo_profile_free(p);
    return rc;
}

int cpgo_profile_encode(const cpgo_pb_profile *pb, int raw, struct cpgo_buf *out,
                        struct cpgo_err *err)
{
    return cpgo_profile_encode_mt(pb, raw, 1, out, err);
}

int cpgo_profile_pack(const cpgo_pb_profile *pb, struct cpgo_buf *out, struct cpgo_err *err)
{
    size_t n = perftools__profiles__profile__get_packed_size(pb);
    unsigned char *bytes = malloc(n ? n : 1);
    if (!bytes) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory encoding %zu bytes", n);
    size_t got = perftools__profiles__profile__pack(pb, bytes);
    if (got != n) {
        free(bytes);
        return cpgo_err_set(err, CPGO_E_INPUT, "protobuf encoder size mismatch");
    }
    cpgo_buf_init(out, 0);
    out->data = bytes;
    out->len = out->cap = n;
    return 0;
}

/* ---- packing on several threads ------------------------------------------------------ */

/* A message's encoding is its fields' encodings in the descriptor's order (protobuf-c packs
 * fields by number, then any unknown fields), and a repeated message or bytes field is one
 * record per element. So the top-level message cut into parts packs part by part to the
 * bytes of the whole: a part per slice of each leading repeated message or bytes field
 * (Profile's fields 1-6), in field order, then one tail part holding every later field and
 * the unknown fields (each written once, as in the whole). The parts are found through the
 * descriptor, so a field added to profile.proto is sliced or kept in the tail by the same
 * rule. */
#define PACK_SLICES_PER_THREAD 4
#define PACK_THREADS_MAX 16

struct pack_part {
    cpgo_pb_profile msg;
    size_t size, at; /* from the sizing pass */
    size_t got;      /* what the packing pass wrote (== size) */
};

struct pack_job {
    struct pack_part *parts;
    unsigned char *out; /* NULL: the sizing pass */
};

static void pack_part_run(void *arg, size_t i)
{
    struct pack_job *j = arg;
    struct pack_part *p = &j->parts[i];
    if (!j->out)
        p->size = perftools__profiles__profile__get_packed_size(&p->msg);
    else
        p->got = perftools__profiles__profile__pack(&p->msg, j->out + p->at);
}

/* A field's element count and array, through the descriptor's offsets. */
static size_t *field_count(cpgo_pb_profile *m, const ProtobufCFieldDescriptor *f)
{
    return (size_t *)((char *)m + f->quantifier_offset);
}
static char **field_array(cpgo_pb_profile *m, const ProtobufCFieldDescriptor *f)
{
    return (char **)((char *)m + f->offset);
}

/* The leading fields that are cut into slices: repeated messages or bytes. */
static size_t pack_sliced_fields(const ProtobufCMessageDescriptor *d)
{
    size_t k = 0;
    while (k < d->n_fields && d->fields[k].label == PROTOBUF_C_LABEL_REPEATED &&
           (d->fields[k].type == PROTOBUF_C_TYPE_MESSAGE ||
            d->fields[k].type == PROTOBUF_C_TYPE_BYTES))
        k++;
    return k;
}

int cpgo_profile_pack_mt(const cpgo_pb_profile *pb, int threads, struct cpgo_buf *out,
                         struct cpgo_err *err)
{
    if (threads < 2) return cpgo_profile_pack(pb, out, err);
    if (threads > PACK_THREADS_MAX) threads = PACK_THREADS_MAX;
    const ProtobufCMessageDescriptor *d = &perftools__profiles__profile__descriptor;
    size_t nsliced = pack_sliced_fields(d);
    size_t slices = (size_t)threads * PACK_SLICES_PER_THREAD;
    struct pack_part *parts = calloc(nsliced * slices + 1, sizeof *parts);
    if (!parts) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory encoding");
    cpgo_pb_profile tail = *pb;
    size_t np = 0;
    for (size_t k = 0; k < nsliced; k++) {
        const ProtobufCFieldDescriptor *f = &d->fields[k];
        size_t esize = f->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData)
                                                        : sizeof(ProtobufCMessage *);
        size_t n = *field_count(&tail, f);
        char *elems = *field_array(&tail, f);
        size_t per = n / slices + (n % slices != 0);
        for (size_t from = 0; from < n; from += per) {
            cpgo_pb_profile m = PERFTOOLS__PROFILES__PROFILE__INIT;
            *field_count(&m, f) = n - from < per ? n - from : per;
            *field_array(&m, f) = elems + from * esize;
            parts[np++].msg = m;
        }
        *field_count(&tail, f) = 0;
        *field_array(&tail, f) = NULL;
    }
    parts[np++].msg = tail;

    struct pack_job job = {parts, NULL};
    cpgo_par_for(np, threads, pack_part_run, &job);
    size_t n = 0;
    for (size_t i = 0; i < np; i++) {
        parts[i].at = n;
        n += parts[i].size;
    }
    if (!(job.out = malloc(n ? n : 1))) {
        free(parts);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory encoding %zu bytes", n);
    }
    cpgo_par_for(np, threads, pack_part_run, &job);
    int bad = 0;
    for (size_t i = 0; i < np; i++)
        bad |= parts[i].got != parts[i].size;
    free(parts);
    if (bad) {
        free(job.out);
        return cpgo_err_set(err, CPGO_E_INPUT, "protobuf encoder size mismatch");
    }
    cpgo_buf_init(out, 0);
    out->data = job.out;
    out->len = out->cap = n;
    return 0;
}

int cpgo_profile_encode_mt(const cpgo_pb_profile *pb, int raw, int threads, struct cpgo_buf *out,
                           struct cpgo_err *err)
{
    struct cpgo_buf packed;
    int rc = cpgo_profile_pack_mt(pb, threads, &packed, err);
    if (rc || raw) {
        *out = packed;
        return rc;
    }
    rc = cpgo_gz_compress(packed.data, packed.len, threads, out, err);
    cpgo_buf_free(&packed);
    return rc;
}
