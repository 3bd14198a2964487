/*
 * cpgo-testgen - writes deterministic Go-like CPU profiles for tests and benchmarks.
 *   cpgo-testgen -o FILE [-seed N] [-samples N] [-locations N] [-functions N] [-labels] [-raw]
 *                [-heavy]
 * -heavy: the heavy kind of bench/ (several mappings, poorly compressing generic names, deep
 * inlining, labels on every sample); its defaults give ~300 KB raw / ~175 KB gzip.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbuild.h"

int main(int argc, char **argv)
{
    const char *out = NULL;
    unsigned long long seed = 1, samples = 20000, locations = 16000, functions = 8000;
    int labels = 0, raw = 0, heavy = 0;
    int given_counts = 0;
    const char *corrupt = NULL, *kind = "cpu";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-o") && v)
            out = argv[++i];
        else if (!strcmp(a, "-seed") && v)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "-samples") && v)
            samples = strtoull(argv[++i], NULL, 10), given_counts = 1;
        else if (!strcmp(a, "-locations") && v)
            locations = strtoull(argv[++i], NULL, 10), given_counts = 1;
        else if (!strcmp(a, "-functions") && v)
            functions = strtoull(argv[++i], NULL, 10), given_counts = 1;
        else if (!strcmp(a, "-labels"))
            labels = 1;
        else if (!strcmp(a, "-heavy"))
            heavy = 1;
        else if (!strcmp(a, "-raw"))
            raw = 1;
        else if (!strcmp(a, "-corrupt") && v)
            corrupt = argv[++i];
        else if (!strcmp(a, "-kind") && v)
            kind = argv[++i];
        else {
            fprintf(stderr,
                    "usage: cpgo-testgen -o FILE [-seed N] [-samples N] [-locations N] "
                    "[-functions N] [-labels] [-raw] [-heavy]\n"
                    "       [-kind cpu|heap|wall|reversed|negative|bigvalues]\n"
                    "       [-corrupt dangling-location|string-index|value-count|zero-id]\n");
            return 2;
        }
    }
    if (!out || !locations || !functions) {
        fprintf(stderr, "cpgo-testgen: -o FILE is required\n");
        return 2;
    }
    if (heavy && !given_counts) samples = 1800, locations = 1200, functions = 350;
    struct pbuild *b = heavy ? pbuild_heavy(seed, samples, locations, functions)
                             : pbuild_golike(seed, samples, locations, functions, labels);
    cpgo_pb_profile *pb = pbuild_pb(b);
    if (!strcmp(kind, "heap")) {
        /* a heap profile: other sample and period types, same stacks */
        pb->sample_type[0]->type = pbuild_str(b, "alloc_objects");
        pb->sample_type[1]->type = pbuild_str(b, "alloc_space");
        pb->sample_type[1]->unit = pbuild_str(b, "bytes");
        pbuild_period(b, "space", "bytes", 524288);
    } else if (!strcmp(kind, "wall")) {
        /* a third sample type besides the CPU ones (for --compat) */
        pbuild_sample_type(b, "wall", "nanoseconds");
        for (size_t i = 0; i < pb->n_sample; i++) {
            int64_t *v = realloc(NULL, 3 * sizeof *v);
            v[0] = pb->sample[i]->value[0];
            v[1] = pb->sample[i]->value[1];
            v[2] = 3 * v[1];
            pb->sample[i]->value = v; /* leaked on purpose: a test tool */
            pb->sample[i]->n_value = 3;
        }
    } else if (!strcmp(kind, "reversed")) {
        /* the same profile with its two sample types (and values) in the other order */
        Perftools__Profiles__ValueType *t0 = pb->sample_type[0];
        pb->sample_type[0] = pb->sample_type[1];
        pb->sample_type[1] = t0;
        for (size_t i = 0; i < pb->n_sample; i++) {
            int64_t v0 = pb->sample[i]->value[0];
            pb->sample[i]->value[0] = pb->sample[i]->value[1];
            pb->sample[i]->value[1] = v0;
        }
    } else if (!strcmp(kind, "negative")) {
        /* one negative CPU time, as a diff profile has */
        if (pb->n_sample) pb->sample[pb->n_sample / 2]->value[1] = -pb->sample[0]->value[1] - 1;
    } else if (!strcmp(kind, "bigvalues")) {
        /* the first sample weighs more than half of int64: two copies overflow it */
        if (pb->n_sample) pb->sample[0]->value[1] = INT64_MAX / 2 + 1;
    } else if (strcmp(kind, "cpu")) {
        fprintf(stderr, "cpgo-testgen: unknown -kind %s\n", kind);
        return 2;
    }
    if (corrupt && pb->n_sample > 17) {
        if (!strcmp(corrupt, "dangling-location"))
            pb->sample[17]->location_id[0] = locations + 99;
        else if (!strcmp(corrupt, "string-index"))
            pb->function[3]->name = (int64_t)pb->n_string_table + 5;
        else if (!strcmp(corrupt, "value-count"))
            pb->sample[17]->n_value = 1;
        else if (!strcmp(corrupt, "zero-id"))
            pb->location[2]->id = 0;
        else {
            fprintf(stderr, "cpgo-testgen: unknown -corrupt %s\n", corrupt);
            return 2;
        }
    }
    struct cpgo_buf buf;
    if (pbuild_encode(b, raw, &buf)) return 1;
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(buf.data, 1, buf.len, f) != buf.len || fclose(f)) {
        perror(out);
        return 1;
    }
    cpgo_buf_free(&buf);
    pbuild_free(b);
    return 0;
}
