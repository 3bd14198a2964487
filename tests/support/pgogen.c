/*
 * cpgo-pgogen - writes random profiles that probe every corner of the Go compiler's PGO
 * graph, for tests/integration/pgograph_oracle.sh (go tool preprofile is the judge):
 *   cpgo-pgogen -dir DIR [-n N] [-seed S]   -> DIR/rand-NNNN.pb.gz (or .pb: raw), N profiles
 * Each profile draws its own shape: inline frames, recursion (a location repeated, one
 * function at several addresses), locations shared between leaf and caller positions,
 * repeated and zero addresses, locations without lines, sparse and shuffled ids, functions
 * that share a name (with the same or another start line), missing start lines (some or
 * all), names that tie byte-wise, zero, negative and huge (wrapping) weights, the sample
 * types in several orders or missing, no samples at all. Every profile is valid for pprof
 * and for cpgo's decoder (Go's own reader accepts more: a line with function id 0). The same
 * seed gives the same files.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbuild.h"

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return n ? rnd(s) % n : 0;
}

static int chance(uint64_t *s, unsigned pct)
{
    return below(s, 100) < pct;
}

static const char *const NAMES[] = {
    "main.main",
    "main.work",
    "main.(*Server).handle",
    "runtime.gopark",
    "google.golang.org/grpc/internal/transport.(*loopyWriter).processData",
    "slices.pdqsortOrdered[go.shape.int]",
    "a",
    "ab",
    "abc",
    "B",
    "Ab",
    "b",
    "",
    "h\xc3\xa9llo.\xe4\xb8\x96\xe7\x95\x8c",
    "with space",
    "main.func1",
    "main.func1.1",
    "sort.Ints",
    "crypto/sha256.block",
    "x",
};
#define NNAMES (sizeof NAMES / sizeof NAMES[0])

/* Weights: mostly small (ties), some zero, negative or huge, as the profile's mode says. */
static int64_t weight(uint64_t *s, int mode)
{
    if (chance(s, 5)) return 0;
    switch (mode) {
    case 1: /* negatives, as in diff profiles */
        return chance(s, 30) ? -(int64_t)below(s, 6) - 1 : (int64_t)below(s, 6) + 1;
    case 2: /* huge: sums wrap */
        return chance(s, 50) ? INT64_MAX - (int64_t)below(s, 1000)
                             : (int64_t)(below(s, (uint64_t)INT64_MAX / 3));
    default:
        return (int64_t)below(s, chance(s, 20) ? 1000 : 5) + 1;
    }
}

static void one(uint64_t seed, const char *path, int raw)
{
    uint64_t s = seed;
    struct pbuild *b = pbuild_new();

    /* sample types; idx is where samples/count or cpu/nanoseconds first is (-1: none) */
    int types = (int)below(&s, 20), ntypes;
    switch (types) {
    case 0:
        pbuild_sample_type(b, "cpu", "nanoseconds");
        pbuild_sample_type(b, "samples", "count");
        ntypes = 2;
        break;
    case 1:
        pbuild_sample_type(b, "alloc_objects", "count");
        pbuild_sample_type(b, "samples", "count");
        ntypes = 2;
        break;
    case 2:
        pbuild_sample_type(b, "wall", "nanoseconds");
        ntypes = 1;
        break;
    case 3:
        pbuild_sample_type(b, "samples", "count");
        ntypes = 1;
        break;
    default:
        pbuild_sample_type(b, "samples", "count");
        pbuild_sample_type(b, "cpu", "nanoseconds");
        ntypes = 2;
    }
    pbuild_period(b, "cpu", "nanoseconds", 10000000);
    int mapped = chance(&s, 30);
    if (mapped) pbuild_mapping(b, 1, 0x400000, 0x800000, 0, "/bin/app", "");

    int big = chance(&s, 10);
    size_t nfn = 1 + below(&s, big ? 300 : 30);
    size_t nloc = 1 + below(&s, big ? 2000 : 60);
    size_t nsamp = chance(&s, 3) ? 0 : below(&s, big ? 20000 : 300);
    int start_mode = (int)below(&s, 20); /* 0: no start line at all; 1-4: some missing */
    int wmode = chance(&s, 12) ? 1 : chance(&s, 8) ? 2 : 0;
    int sparse = chance(&s, 30);

    uint64_t *fid = malloc(nfn * sizeof *fid), *lid = malloc(nloc * sizeof *lid);
    for (size_t i = 0; i < nfn; i++)
        fid[i] = sparse ? 1000 + i * 7 + below(&s, 7) : i + 1;
    for (size_t i = 0; i < nloc; i++)
        lid[i] = sparse ? 50000 + i * 13 + below(&s, 13) : i + 1;
    if (sparse) /* shuffled: id order is not table order */
        for (size_t i = nloc; i > 1; i--) {
            size_t j = below(&s, i);
            uint64_t t = lid[i - 1];
            lid[i - 1] = lid[j];
            lid[j] = t;
        }
    int64_t *start = malloc(nfn * sizeof *start);
    for (size_t i = 0; i < nfn; i++) {
        char name[96];
        if (big && i >= NNAMES)
            snprintf(name, sizeof name, "pkg%" PRIu64 ".F%zu", below(&s, 5), i);
        else
            snprintf(name, sizeof name, "%s", NAMES[below(&s, NNAMES)]);
        start[i] = start_mode == 0 || (start_mode < 5 && chance(&s, 40))
                       ? 0
                       : (int64_t)(1 + below(&s, 4) * 10);
        pbuild_function(b, fid[i], name, chance(&s, 50) ? "a.go" : "b.go", start[i]);
    }

    static const uint64_t addrs[] = {0, 0x1000, 0x1010, 0x2000, 0x401000};
    for (size_t i = 0; i < nloc; i++) {
        size_t n = chance(&s, 8) ? 0 : chance(&s, 70) ? 1 : 2 + below(&s, 3);
        uint64_t f[4];
        int64_t ln[4];
        for (size_t j = 0; j < n; j++) {
            size_t fi = below(&s, nfn);
            f[j] = fid[fi];
            ln[j] = chance(&s, 10) ? (int64_t)below(&s, 3) : start[fi] + (int64_t)below(&s, 6);
        }
        uint64_t addr = chance(&s, 60) ? addrs[below(&s, 5)] : 0x400000 + i * 16;
        pbuild_location(b, lid[i], mapped && addr >= 0x400000 && chance(&s, 50) ? 1 : 0, addr, n, f,
                        ln);
        /* a recursive twin: the same frames at another address */
        if (i + 1 < nloc && chance(&s, 10)) {
            i++;
            pbuild_location(b, lid[i], 0, addr + 0x40, n, f, ln);
        }
    }

    for (size_t i = 0; i < nsamp; i++) {
        size_t n = chance(&s, 3) ? 0 : 1 + below(&s, 5);
        uint64_t locs[6];
        for (size_t j = 0; j < n; j++)
            locs[j] = j && chance(&s, 15) ? locs[j - 1] : lid[below(&s, nloc)];
        int64_t v[2];
        for (int k = 0; k < ntypes; k++)
            v[k] = weight(&s, wmode);
        pbuild_sample(b, n, locs, (size_t)ntypes, v);
        if (chance(&s, 5)) pbuild_label(b, "k", "v");
    }
    free(fid);
    free(lid);
    free(start);

    struct cpgo_buf out;
    if (pbuild_encode(b, raw, &out)) {
        fprintf(stderr, "cpgo-pgogen: cannot encode %s\n", path);
        exit(1);
    }
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(out.data, 1, out.len, fp) != out.len || fclose(fp)) {
        perror(path);
        exit(1);
    }
    cpgo_buf_free(&out);
    pbuild_free(b);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    unsigned long long n = 200, seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: cpgo-pgogen -dir DIR [-n N] [-seed S]\n");
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "cpgo-pgogen: -dir DIR is required\n");
        return 2;
    }
    for (unsigned long long i = 0; i < n; i++) {
        char path[4096];
        int raw = (i % 7) == 3;
        snprintf(path, sizeof path, "%s/rand-%04llu.%s", dir, i, raw ? "pb" : "pb.gz");
        one(seed * 1000003ULL + i, path, raw);
    }
    return 0;
}
