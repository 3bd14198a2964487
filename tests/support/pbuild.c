/* pbuild.c - see pbuild.h. Test support code: aborts on allocation failure. */
#include "pbuild.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pbuild {
    cpgo_pb_profile pb;
    /* every allocation, freed together */
    void **mem;
    size_t nmem, memcap;
};

static void *track(struct pbuild *b, void *p)
{
    if (!p) abort();
    if (b->nmem == b->memcap) {
        b->memcap = b->memcap ? b->memcap * 2 : 64;
        b->mem = realloc(b->mem, b->memcap * sizeof *b->mem);
        if (!b->mem) abort();
    }
    b->mem[b->nmem++] = p;
    return p;
}

static void *xcalloc(struct pbuild *b, size_t n, size_t size)
{
    return track(b, calloc(n ? n : 1, size));
}

#define PUSH(b, arr, n, item)                                                                      \
    do {                                                                                           \
        if (((n) & ((n)-1)) == 0) {                                                                \
            size_t c_ = (n) ? (n)*2 : 1;                                                           \
            void *p_ = realloc((arr), c_ * sizeof *(arr));                                         \
            if (!p_) abort();                                                                      \
            (arr) = p_;                                                                            \
        }                                                                                          \
        (arr)[(n)++] = (item);                                                                     \
    } while (0)

struct pbuild *pbuild_new(void)
{
    struct pbuild *b = calloc(1, sizeof *b);
    if (!b) abort();
    perftools__profiles__profile__init(&b->pb);
    pbuild_str(b, "");
    return b;
}

void pbuild_free(struct pbuild *b)
{
    if (!b) return;
    cpgo_pb_profile *pb = &b->pb;
    for (size_t i = 0; i < pb->n_sample; i++)
        free(pb->sample[i]->label);
    free(pb->sample_type);
    free(pb->sample);
    free(pb->mapping);
    free(pb->location);
    free(pb->function);
    free(pb->string_table);
    free(pb->comment);
    for (size_t i = 0; i < b->nmem; i++)
        free(b->mem[i]);
    free(b->mem);
    free(b);
}

int64_t pbuild_str(struct pbuild *b, const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < b->pb.n_string_table; i++)
        if (b->pb.string_table[i].len == len && !memcmp(b->pb.string_table[i].data, s, len))
            return (int64_t)i;
    char *copy = track(b, strdup(s));
    ProtobufCBinaryData d = {len, (uint8_t *)copy};
    PUSH(b, b->pb.string_table, b->pb.n_string_table, d);
    return (int64_t)b->pb.n_string_table - 1;
}

static Perftools__Profiles__ValueType *vtype(struct pbuild *b, const char *t, const char *u)
{
    Perftools__Profiles__ValueType *v = xcalloc(b, 1, sizeof *v);
    perftools__profiles__value_type__init(v);
    v->type = pbuild_str(b, t);
    v->unit = pbuild_str(b, u);
    return v;
}

void pbuild_sample_type(struct pbuild *b, const char *type, const char *unit)
{
    Perftools__Profiles__ValueType *v = vtype(b, type, unit);
    PUSH(b, b->pb.sample_type, b->pb.n_sample_type, v);
}

void pbuild_period(struct pbuild *b, const char *type, const char *unit, int64_t period)
{
    b->pb.period_type = vtype(b, type, unit);
    b->pb.period = period;
}

void pbuild_times(struct pbuild *b, int64_t time_nanos, int64_t duration_nanos)
{
    b->pb.time_nanos = time_nanos;
    b->pb.duration_nanos = duration_nanos;
}

void pbuild_comment(struct pbuild *b, const char *c)
{
    int64_t s = pbuild_str(b, c);
    PUSH(b, b->pb.comment, b->pb.n_comment, s);
}

void pbuild_default_type(struct pbuild *b, const char *t)
{
    b->pb.default_sample_type = pbuild_str(b, t);
}

void pbuild_function(struct pbuild *b, uint64_t id, const char *name, const char *file,
                     int64_t start_line)
{
    Perftools__Profiles__Function *f = xcalloc(b, 1, sizeof *f);
    perftools__profiles__function__init(f);
    f->id = id;
    f->name = pbuild_str(b, name);
    f->system_name = f->name;
    f->filename = pbuild_str(b, file);
    f->start_line = start_line;
    PUSH(b, b->pb.function, b->pb.n_function, f);
}

void pbuild_mapping(struct pbuild *b, uint64_t id, uint64_t start, uint64_t limit, uint64_t offset,
                    const char *file, const char *build_id)
{
    Perftools__Profiles__Mapping *m = xcalloc(b, 1, sizeof *m);
    perftools__profiles__mapping__init(m);
    m->id = id;
    m->memory_start = start;
    m->memory_limit = limit;
    m->file_offset = offset;
    m->filename = pbuild_str(b, file);
    m->build_id = pbuild_str(b, build_id);
    m->has_functions = 1;
    PUSH(b, b->pb.mapping, b->pb.n_mapping, m);
}

void pbuild_location(struct pbuild *b, uint64_t id, uint64_t mapping_id, uint64_t address, size_t n,
                     const uint64_t *fids, const int64_t *lines)
{
    Perftools__Profiles__Location *l = xcalloc(b, 1, sizeof *l);
    perftools__profiles__location__init(l);
    l->id = id;
    l->mapping_id = mapping_id;
    l->address = address;
    l->n_line = n;
    l->line = xcalloc(b, n, sizeof *l->line);
    for (size_t i = 0; i < n; i++) {
        Perftools__Profiles__Line *ln = xcalloc(b, 1, sizeof *ln);
        perftools__profiles__line__init(ln);
        ln->function_id = fids[i];
        ln->line = lines[i];
        l->line[i] = ln;
    }
    PUSH(b, b->pb.location, b->pb.n_location, l);
}

void pbuild_sample(struct pbuild *b, size_t nlocs, const uint64_t *locs, size_t nvals,
                   const int64_t *vals)
{
    Perftools__Profiles__Sample *s = xcalloc(b, 1, sizeof *s);
    perftools__profiles__sample__init(s);
    s->n_location_id = nlocs;
    s->location_id = xcalloc(b, nlocs, sizeof *s->location_id);
    memcpy(s->location_id, locs, nlocs * sizeof *locs);
    s->n_value = nvals;
    s->value = xcalloc(b, nvals, sizeof *s->value);
    memcpy(s->value, vals, nvals * sizeof *vals);
    PUSH(b, b->pb.sample, b->pb.n_sample, s);
}

static void add_label(struct pbuild *b, Perftools__Profiles__Label *l)
{
    Perftools__Profiles__Sample *s = b->pb.sample[b->pb.n_sample - 1];
    PUSH(b, s->label, s->n_label, l);
}

void pbuild_label(struct pbuild *b, const char *key, const char *str)
{
    Perftools__Profiles__Label *l = xcalloc(b, 1, sizeof *l);
    perftools__profiles__label__init(l);
    l->key = pbuild_str(b, key);
    l->str = pbuild_str(b, str);
    add_label(b, l);
}

void pbuild_numlabel(struct pbuild *b, const char *key, int64_t num, const char *unit)
{
    Perftools__Profiles__Label *l = xcalloc(b, 1, sizeof *l);
    perftools__profiles__label__init(l);
    l->key = pbuild_str(b, key);
    l->num = num;
    l->num_unit = unit ? pbuild_str(b, unit) : 0;
    add_label(b, l);
}

cpgo_pb_profile *pbuild_pb(struct pbuild *b)
{
    return &b->pb;
}

int pbuild_encode(struct pbuild *b, int raw, struct cpgo_buf *out)
{
    struct cpgo_err err;
    return cpgo_profile_encode(&b->pb, raw, out, &err);
}

/* splitmix64: a small deterministic generator */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct pbuild *pbuild_golike(uint64_t seed, size_t nsamples, size_t nlocations, size_t nfunctions,
                             int with_labels)
{
    uint64_t rs = seed * 7919 + 17;
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_period(b, "cpu", "nanoseconds", 10000000);
    pbuild_times(b, 1700000000000000000LL + (int64_t)seed * 1000000000LL, 30000000000LL);
    pbuild_mapping(b, 1, 0x400000, 0x400000 + 0x4000000, 0, "/app/server",
                   "f3a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3");
    char name[160], file[96];
    /* Functions are the same set in every seed (one binary, many instances); the samples'
     * stacks and weights differ. */
    for (size_t i = 1; i <= nfunctions; i++) {
        snprintf(name, sizeof name,
                 "github.com/example/service/internal/pkg%zu.(*Handler%zu).Method%zu", i % 97,
                 i % 13, i);
        snprintf(file, sizeof file, "/src/github.com/example/service/internal/pkg%zu/file%zu.go",
                 i % 97, i % 7);
        pbuild_function(b, i, name, file, (int64_t)(10 + (i * 37) % 2000));
    }
    for (size_t i = 1; i <= nlocations; i++) {
        uint64_t f1 = 1 + (i * 2654435761u) % nfunctions;
        size_t nl = (i % 5 == 0) ? 2 : 1; /* some inlined frames */
        uint64_t fids[2] = {f1, 1 + (f1 * 31) % nfunctions};
        int64_t lines[2] = {(int64_t)(20 + (i * 13) % 3000), (int64_t)(15 + (i * 7) % 3000)};
        pbuild_location(b, i, 1, 0x401000 + i * 0x40, nl, fids, lines);
    }
    uint64_t locs[64];
    for (size_t s = 0; s < nsamples; s++) {
        size_t depth = 4 + next_rand(&rs) % 28;
        /* leaves skew towards hot locations; callers come from a shared "spine" so stacks
         * share prefixes as real ones do */
        for (size_t d = 0; d < depth; d++) {
            uint64_t r = next_rand(&rs);
            if (d == 0)
                locs[d] = 1 + (r % 8 == 0 ? r % nlocations : r % (nlocations / 8 + 1));
            else
                locs[d] = 1 + ((locs[d - 1] * 40503u + d * 977 + (r % 3)) % nlocations);
        }
        int64_t cnt = 1 + (int64_t)(next_rand(&rs) % 4);
        int64_t vals[2] = {cnt, cnt * 10000000};
        pbuild_sample(b, depth, locs, 2, vals);
        if (with_labels && s % 3 == 0) {
            char v[32];
            snprintf(v, sizeof v, "%zu", s % 5);
            pbuild_label(b, "worker", v);
        }
    }
    return b;
}

/* A heavier Go-like CPU profile, as a big service sends (issue 14's "heavy" kind): several
 * mappings (the binary, libc, the vdso, cgo libraries), generic instantiations whose
 * names carry shape hashes (they compress poorly), deep inlining (1-4 lines per location),
 * and labels on every sample (a handler, a tenant and a request class, as
 * pprof.Do sets them). The function set and mappings depend only on `nfunctions` (one
 * binary, many instances); stacks, weights and label values depend on the seed. */
struct pbuild *pbuild_heavy(uint64_t seed, size_t nsamples, size_t nlocations, size_t nfunctions)
{
    uint64_t rs = seed * 7919 + 17, fs = 0x9e3779b97f4a7c15ull;
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_period(b, "cpu", "nanoseconds", 10000000);
    pbuild_times(b, 1700000000000000000LL + (int64_t)seed * 1000000000LL, 30000000000LL);
    static const char *const maps[][2] = {
        {"/app/server", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"},
        {"/usr/lib/x86_64-linux-gnu/libc.so.6", "5c1f3b5e3f4e8c3d2a1b0e9f8d7c6b5a49382716"},
        {"/usr/lib/x86_64-linux-gnu/libzstd.so.1", "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"},
        {"/usr/lib/x86_64-linux-gnu/libssl.so.3", "1122334455667788990011223344556677889900"},
        {"/usr/lib/x86_64-linux-gnu/libm.so.6", "abcdefabcdefabcdefabcdefabcdefabcdefabcd"},
        {"[vdso]", ""},
    };
    const size_t nmaps = sizeof maps / sizeof maps[0];
    for (size_t m = 0; m < nmaps; m++) {
        uint64_t start = m == 0 ? 0x400000 : 0x7f0000000000ull + m * 0x10000000ull;
        pbuild_mapping(b, m + 1, start, start + 0x8000000, m == 0 ? 0 : 0x1000, maps[m][0],
                       maps[m][1]);
    }
    char name[256], file[160];
    for (size_t i = 1; i <= nfunctions; i++) {
        uint64_t h1 = next_rand(&fs), h2 = next_rand(&fs);
        if (i % 4 == 0)
            snprintf(name, sizeof name,
                     "github.com/acme/platform/internal/%s%04llx.(*Cache[go.shape.struct { "
                     "Key string; V%llx int64 }]).lookup%llx",
                     i % 3 ? "store" : "codec", (unsigned long long)(h1 & 0xffff),
                     (unsigned long long)(h2 >> 40), (unsigned long long)(h1 >> 36));
        else
            snprintf(name, sizeof name,
                     "github.com/acme/platform/internal/svc%llx.(*H%llx).M%llx.func%zu",
                     (unsigned long long)(h1 & 0xfffff), (unsigned long long)(h2 & 0xffff),
                     (unsigned long long)(h1 >> 44), i % 9);
        snprintf(file, sizeof file,
                 "/home/build/go/pkg/mod/github.com/acme/platform@v1.%llu.%llu/internal/f%llx.go",
                 (unsigned long long)(h2 % 40), (unsigned long long)(h1 % 17),
                 (unsigned long long)(h2 >> 32));
        pbuild_function(b, i, name, file, (int64_t)(10 + (h1 >> 20) % 4000));
    }
    for (size_t i = 1; i <= nlocations; i++) {
        uint64_t r = next_rand(&fs);
        size_t nl = 1 + (size_t)((r >> 8) % 4); /* 1-4 frames: deep inlining */
        uint64_t fids[4];
        int64_t lines[4];
        for (size_t k = 0; k < nl; k++) {
            fids[k] = 1 + (next_rand(&fs) % nfunctions);
            lines[k] = (int64_t)(20 + next_rand(&fs) % 4000);
        }
        /* 85% in the binary, the rest spread over the shared libraries */
        uint64_t m = r % 100 < 85 ? 1 : 2 + (r >> 16) % (nmaps - 1);
        uint64_t base = m == 1 ? 0x400000 : 0x7f0000000000ull + (m - 1) * 0x10000000ull;
        pbuild_location(b, i, m, base + 0x1000 + ((r >> 24) % 0x7f0000), nl, fids, lines);
    }
    static const char *const handlers[] = {"/api/v1/orders",  "/api/v1/users/{id}",
                                           "/api/v2/search",  "/grpc.health.v1.Health/Check",
                                           "/internal/batch", "/api/v1/carts/{id}/items"};
    uint64_t locs[64];
    char v[48];
    for (size_t s = 0; s < nsamples; s++) {
        size_t depth = 8 + next_rand(&rs) % 40;
        for (size_t d = 0; d < depth; d++) {
            uint64_t r = next_rand(&rs);
            if (d == 0)
                locs[d] = 1 + (r % 8 == 0 ? r % nlocations : r % (nlocations / 6 + 1));
            else
                locs[d] = 1 + ((locs[d - 1] * 40503u + d * 977 + (r % 61)) % nlocations);
        }
        int64_t cnt = 1 + (int64_t)(next_rand(&rs) % 6);
        int64_t vals[2] = {cnt, cnt * 10000000};
        pbuild_sample(b, depth, locs, 2, vals);
        uint64_t r = next_rand(&rs);
        pbuild_label(b, "handler", handlers[r % 6]);
        snprintf(v, sizeof v, "t-%05llx", (unsigned long long)((r >> 8) % 3000));
        pbuild_label(b, "tenant", v);
        /* a trace id, as tracing middleware sets: 4096 values, incompressible */
        uint64_t span = ((r >> 40) % 4096 + 1) * 0x9e3779b97f4a7c15ull;
        snprintf(v, sizeof v, "%016llx", (unsigned long long)(span ^ (span >> 29)));
        pbuild_label(b, "span", v);
        pbuild_label(b, "class", (r >> 30) % 3 == 0 ? "batch" : "interactive");
    }
    return b;
}

/* The inverse of cpgo_hash_fmix64: each step of the finaliser is invertible (xorshifts and
 * odd multipliers). */
static uint64_t unxorshift(uint64_t x, int s)
{
    uint64_t r = x;
    for (int i = 0; i < 64 / s + 1; i++)
        r = x ^ (r >> s);
    return r;
}

static uint64_t fmix64_inverse(uint64_t x)
{
    x = unxorshift(x, 31);
    x *= 0x319642b2d24d8ec3ULL; /* the inverse of 0x94d049bb133111eb mod 2^64 */
    x = unxorshift(x, 27);
    x *= 0x96de1b173f119089ULL; /* the inverse of 0xbf58476d1ce4e5b9 */
    return unxorshift(x, 30);
}

uint64_t pbuild_flood_id(uint64_t i)
{
    /* cpgo_hash_mix(0, v) = fmix64(v + 0x9e3779b97f4a7c15) */
    return fmix64_inverse((i + 1) << 24) - 0x9e3779b97f4a7c15ULL;
}
