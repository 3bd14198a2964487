/*
 * rotation.c - the cursor walk over instance keys (see rotation.h).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "discover/rotation.h"

/* The rotation's order: a hash of the address and port, the same on every machine. */
uint64_t cpgo_instance_key(const char *addr, int port)
{
    uint64_t h = cpgo_hash_fnv1a(addr, strlen(addr), 1469598103934665603ULL);
    return cpgo_hash_fmix64(cpgo_hash_mix(h, (uint64_t)port));
}

void cpgo_instance_format(const struct cpgo_instance *in, char *buf, size_t cap)
{
    if (strchr(in->addr, ':'))
        snprintf(buf, cap, "[%s]:%d", in->addr, in->port);
    else
        snprintf(buf, cap, "%s:%d", in->addr, in->port);
}

static size_t lower(const uint64_t *k, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int is_done(const struct cpgo_rotation *r, uint64_t key)
{
    size_t i = lower(r->done, r->ndone, key);
    return i < r->ndone && r->done[i] == key;
}

static int set_done(struct cpgo_rotation *r, uint64_t key)
{
    size_t i = lower(r->done, r->ndone, key);
    if (i < r->ndone && r->done[i] == key) return 0;
    if (r->ndone == r->capdone) {
        size_t nc = r->capdone ? r->capdone * 2 : 64;
        uint64_t *nd = realloc(r->done, nc * sizeof *nd);
        if (!nd) return -1; /* not remembered: at worst tried again early */
        r->done = nd;
        r->capdone = nc;
    }
    memmove(r->done + i + 1, r->done + i, (r->ndone - i) * sizeof *r->done);
    r->done[i] = key;
    r->ndone++;
    return 0;
}

static void unset_done(struct cpgo_rotation *r, uint64_t key)
{
    size_t i = lower(r->done, r->ndone, key);
    if (i < r->ndone && r->done[i] == key) {
        memmove(r->done + i, r->done + i + 1, (r->ndone - i - 1) * sizeof *r->done);
        r->ndone--;
    }
}

/* The index of the first instance with a key above the cursor (wrapping to 0). */
static size_t after_cursor(const struct cpgo_rotation *r, const struct cpgo_instance *inst,
                           size_t n)
{
    if (!r->has_cursor) return 0;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (inst[mid].key <= r->cursor)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == n ? 0 : lo;
}

static size_t find_key(const struct cpgo_instance *inst, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (inst[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && inst[lo].key == key ? lo : SIZE_MAX;
}

static void take(struct cpgo_rotation *r, const struct cpgo_instance *inst, size_t i,
                 unsigned char *taken)
{
    taken[i] = 1;
    set_done(r, inst[i].key);
}

size_t cpgo_rotation_next(struct cpgo_rotation *r, const struct cpgo_instance *inst, size_t n,
                          unsigned char *taken)
{
    if (n == 0) return SIZE_MAX;
    size_t start = after_cursor(r, inst, n);
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (taken[i] || is_done(r, inst[i].key)) continue;
        take(r, inst, i, taken);
        r->cursor = inst[i].key;
        r->has_cursor = 1;
        return i;
    }
    return SIZE_MAX;
}

/* Forgets done keys of instances no longer present: the set stays bounded by the fleet. */
static void prune(struct cpgo_rotation *r, const struct cpgo_instance *inst, size_t n)
{
    size_t k = 0;
    for (size_t j = 0; j < r->ndone; j++)
        if (find_key(inst, n, r->done[j]) != SIZE_MAX) r->done[k++] = r->done[j];
    r->ndone = k;
}

size_t cpgo_rotation_pick(struct cpgo_rotation *r, const struct cpgo_instance *inst, size_t n,
                          size_t max, size_t *out, unsigned char *taken)
{
    size_t want = (max == 0 || max > n) ? n : max, got = 0;
    prune(r, inst, n);
    /* the owed first: their turn came while they were busy */
    size_t keep = 0;
    for (size_t k = 0; k < r->nowed; k++) {
        size_t i = find_key(inst, n, r->owed[k]);
        if (i == SIZE_MAX) continue; /* gone */
        if (got < want && !taken[i]) {
            take(r, inst, i, taken);
            out[got++] = i;
        } else if (!taken[i]) {
            r->owed[keep++] = r->owed[k];
        }
    }
    r->nowed = keep;
    for (int pass = 0; pass < 2 && got < want; pass++) {
        while (got < want) {
            size_t i = cpgo_rotation_next(r, inst, n, taken);
            if (i == SIZE_MAX) break;
            out[got++] = i;
        }
        if (got < want) {
            /* every present instance had its turn: a new cycle, whose first turns go to
             * those not already picked in this round */
            r->ndone = 0;
            r->cycles++;
            for (size_t k = 0; k < got; k++)
                set_done(r, inst[out[k]].key);
        }
    }
    r->rounds++;
    return got;
}

void cpgo_rotation_owe(struct cpgo_rotation *r, uint64_t key)
{
    unset_done(r, key);
    for (size_t k = 0; k < r->nowed; k++)
        if (r->owed[k] == key) return;
    if (r->nowed < CPGO_ROTATION_MAX_OWED) r->owed[r->nowed++] = key;
}

int cpgo_rotation_done(struct cpgo_rotation *r, uint64_t key)
{
    int changed = !is_done(r, key);
    set_done(r, key);
    size_t k = 0;
    for (size_t j = 0; j < r->nowed; j++)
        if (r->owed[j] != key) r->owed[k++] = r->owed[j];
    changed |= k != r->nowed;
    r->nowed = k;
    return changed;
}

void cpgo_rotation_free(struct cpgo_rotation *r)
{
    free(r->done);
    memset(r, 0, sizeof *r);
}

/* Keys are 64-bit: JSON numbers are not safe beyond 2^53, so they are hex strings. */
char *cpgo_rotation_encode(const struct cpgo_rotation *r)
{
    json_t *o = json_object(), *owed = json_array();
    char hex[17];
    if (!o || !owed) goto fail;
    for (size_t k = 0; k < r->nowed; k++) {
        snprintf(hex, sizeof hex, "%016" PRIx64, r->owed[k]);
        if (json_array_append_new(owed, json_string(hex))) goto fail;
    }
    json_t *done = json_array();
    if (!done || json_object_set_new(o, "done", done)) goto fail;
    for (size_t k = 0; k < r->ndone; k++) {
        snprintf(hex, sizeof hex, "%016" PRIx64, r->done[k]);
        if (json_array_append_new(done, json_string(hex))) goto fail;
    }
    if (r->has_cursor) {
        snprintf(hex, sizeof hex, "%016" PRIx64, r->cursor);
        if (json_object_set_new(o, "cursor", json_string(hex))) goto fail;
    }
    if (json_object_set_new(o, "owed", owed)) {
        owed = NULL;
        goto fail;
    }
    owed = NULL;
    if (json_object_set_new(o, "rounds", json_integer((json_int_t)r->rounds)) ||
        json_object_set_new(o, "cycles", json_integer((json_int_t)r->cycles)))
        goto fail;
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
fail:
    json_decref(owed);
    json_decref(o);
    return NULL;
}

static int parse_hex(const char *s, uint64_t *v)
{
    if (!s || strlen(s) != 16) return -1;
    uint64_t x = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return 0;
}

int cpgo_rotation_decode(const char *text, size_t len, struct cpgo_rotation *r)
{
    memset(r, 0, sizeof *r);
    json_error_t e;
    json_t *o = json_loadb(text, len, 0, &e);
    if (!json_is_object(o)) goto bad;
    json_t *c = json_object_get(o, "cursor"), *owed = json_object_get(o, "owed"), *v;
    json_t *done = json_object_get(o, "done");
    if (c) {
        if (parse_hex(json_string_value(c), &r->cursor)) goto bad;
        r->has_cursor = 1;
    }
    if ((owed && !json_is_array(owed)) || (done && !json_is_array(done))) goto bad;
    size_t i;
    json_array_foreach(done, i, v)
    {
        uint64_t k;
        if (parse_hex(json_string_value(v), &k) || i >= CPGO_SD_MAX_TARGETS) goto bad;
        set_done(r, k);
    }
    json_array_foreach(owed, i, v)
    {
        uint64_t k;
        if (parse_hex(json_string_value(v), &k)) goto bad;
        cpgo_rotation_owe(r, k);
    }
    if (json_is_integer(v = json_object_get(o, "rounds")) && json_integer_value(v) >= 0)
        r->rounds = (uint64_t)json_integer_value(v);
    if (json_is_integer(v = json_object_get(o, "cycles")) && json_integer_value(v) >= 0)
        r->cycles = (uint64_t)json_integer_value(v);
    json_decref(o);
    return 0;
bad:
    json_decref(o);
    cpgo_rotation_free(r);
    return -1;
}
