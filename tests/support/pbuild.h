/*
 * pbuild.h - builds pprof profiles programmatically for tests, fuzz seeds and benchmarks.
 * Ids are whatever the caller passes (so tests can also build invalid profiles). Strings are
 * interned by value. Single-threaded; everything is freed by pbuild_free.
 */
#ifndef CPGO_TEST_PBUILD_H
#define CPGO_TEST_PBUILD_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "profile/codec.h"

struct pbuild;

struct pbuild *pbuild_new(void);
void pbuild_free(struct pbuild *b);
int64_t pbuild_str(struct pbuild *b, const char *s);
void pbuild_sample_type(struct pbuild *b, const char *type, const char *unit);
void pbuild_period(struct pbuild *b, const char *type, const char *unit, int64_t period);
void pbuild_times(struct pbuild *b, int64_t time_nanos, int64_t duration_nanos);
void pbuild_comment(struct pbuild *b, const char *c);
void pbuild_default_type(struct pbuild *b, const char *t);
void pbuild_function(struct pbuild *b, uint64_t id, const char *name, const char *file,
                     int64_t start_line);
void pbuild_mapping(struct pbuild *b, uint64_t id, uint64_t start, uint64_t limit, uint64_t offset,
                    const char *file, const char *build_id);
/* A location with n lines: fids[i] / lines[i], innermost first. */
void pbuild_location(struct pbuild *b, uint64_t id, uint64_t mapping_id, uint64_t address, size_t n,
                     const uint64_t *fids, const int64_t *lines);
/* A sample; nvals values. Labels added to the last sample with pbuild_label / pbuild_numlabel. */
void pbuild_sample(struct pbuild *b, size_t nlocs, const uint64_t *locs, size_t nvals,
                   const int64_t *vals);
void pbuild_label(struct pbuild *b, const char *key, const char *str);
void pbuild_numlabel(struct pbuild *b, const char *key, int64_t num, const char *unit);
/* The message itself (valid until pbuild_free); tests may tamper with it. */
cpgo_pb_profile *pbuild_pb(struct pbuild *b);
int pbuild_encode(struct pbuild *b, int raw, struct cpgo_buf *out);

/* A Go-like CPU profile: samples/count + cpu/nanoseconds, period 10ms, one mapping,
 * deterministic from seed. Used for generated large profiles. */
struct pbuild *pbuild_golike(uint64_t seed, size_t nsamples, size_t nlocations, size_t nfunctions,
                             int with_labels);
/* A heavy one: six mappings, generic names that compress poorly, 1-4 inlined frames per
 * location, three labels on every sample (see pbuild.c). */
struct pbuild *pbuild_heavy(uint64_t seed, size_t nsamples, size_t nlocations, size_t nfunctions);

/* The i-th id of a hash flood against an unkeyed id map: cpgo_hash_mix(0, id) has its low 24
 * bits zero, so without the process key (base/hash.h) every such id shares one probe chain
 * (100,000 of them as location ids took 17 s to decode). May be 0 for some i: skip those. */
uint64_t pbuild_flood_id(uint64_t i);

#endif
