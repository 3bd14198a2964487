/*
 * ingest.c - one scraped body into its target's state, on the target's lane: decode under
 * the limits, require the Go CPU shape (its sample types in any order; a profile of
 * another kind, or with negative values, is refused alone and never becomes the reference
 * that refuses the others), journal it (synced: the moment a scrape is accepted), merge it
 * into pending (its values multiplied by the backend's `pgo: weight`, journaled with it);
 * every 32 journal entries a snapshot replaces the journal. The bodies of a target queued
 * together (up to CPGO_INGEST_BATCH) are ingested as one batch: decoded and checked one by
 * one, then journaled with one fdatasync (state's group commit), then merged.
 *
 * A refusal carries its class (base/class.h: the retry policy and the metrics label; the
 * decoder names it as data in the error, cpgo_err_to_class, never read from the text) and a
 * message scrubbed of the backend's secrets; for a body that is not a profile at all, the
 * message quotes its first bytes (printable only), scrubbed before they are cut.
 *
 * Thread: the target's lane (a pool thread); touches only the target's state.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/url.h"
#include "daemon/daemon_int.h"
#include "profile/codec.h"
#include "profile/shape.h"
#include "profile/summary.h"
#include "state/state.h"

/* A scrape is checked against the target's shape before it is journaled, so that a bad
 * instance is refused alone (and named in the log) instead of becoming the reference that
 * refuses the others. The check is cheap: header strings and one pass over the values. */
static int check_cpu_profile(const struct cpgo_profile *p, enum cpgo_class *cls,
                             struct cpgo_err *err)
{
    const cpgo_pb_profile *pb = p->pb;
    /* the values are checked by the shape, with a message that names the first negative */
    unsigned lacks = cpgo_summary_pgo_lacks(pb, CPGO_PGO_NO_TYPE | CPGO_PGO_NO_START_LINES, NULL);
    *cls = CPGO_CLASS_NOT_CPU;
    if (lacks & CPGO_PGO_NO_TYPE)
        return cpgo_err_set(err, CPGO_E_INPUT,
                            "not a CPU profile: no samples/count or cpu/nanoseconds sample type");
    size_t perm[CPGO_SHAPE_MAX_TYPES];
    int rc = cpgo_shape_match(&cpgo_shape_go_cpu, pb, perm, err);
    if (rc) {
        *cls = CPGO_CLASS_INCOMPATIBLE;
        return rc;
    }
    /* one without functions is not refused here, so that an idle program's empty profile is
     * reported below as having no samples */
    if ((lacks & CPGO_PGO_NO_START_LINES) && pb->n_function)
        return cpgo_err_set(err, CPGO_E_INPUT,
                            "profile has no function start lines (Go 1.20+ writes them); Go PGO "
                            "cannot use it");
    if ((rc = cpgo_shape_check_values(&cpgo_shape_go_cpu, pb, err))) {
        *cls = CPGO_CLASS_BAD_PAYLOAD;
        return rc;
    }
    if (pb->n_sample == 0) {
        *cls = CPGO_CLASS_NO_DATA;
        return cpgo_err_set(err, CPGO_E_EMPTY, "profile has no samples");
    }
    return 0;
}

/* A refusal's message: scrubbed of the backend's secrets (a decoder message may quote the
 * profile's strings); for a body that is not a profile at all, what came instead. */
static void explain(struct cpgo_ingest_item *it, int decoded)
{
    struct cpgo_err *err = &it->err;
    size_t l = strlen(err->text);
    cpgo_url_scrub(it->secrets, err->text, l, err->text, l + 1);
    if (!decoded && it->rc == CPGO_E_INPUT && it->cls == CPGO_CLASS_BAD_PAYLOAD && it->len) {
        /* the first 64 bytes, printable only, scrubbed of the backend's secrets before they
         * are cut */
        char pre[80];
        size_t o = cpgo_url_scrub(it->secrets, (const char *)it->body,
                                  it->len < 4096 ? it->len : 4096, pre, 65);
        for (size_t i = 0; i < o; i++)
            if ((unsigned char)pre[i] < ' ' || (unsigned char)pre[i] >= 127) pre[i] = '.';
        l = strlen(err->text);
        snprintf(err->text + l, sizeof err->text - l, " (body starts: \"%s\")", pre);
    }
}

/* Decoded profiles held at once by one batch: what a pool thread's decode cache keeps
 * (codec.c). Holding all of a batch's profiles until one sync (8 heavy ones: ~28 MiB of
 * fresh pages a batch) cost more in page faults than the syncs it saved (measured, 400
 * heavy backends: 18% more CPU per scrape); bodies are accepted in groups as large as fit
 * this, so small profiles still share a sync and big ones cost no extra memory. */
#define INGEST_DECODED_MAX (4u << 20)

/* Accepts the decoded bodies of `idx` (one journal sync for all, then merged), frees them. */
static void ingest_flush(struct cpgo_tstate *ts, struct cpgo_ingest_item *it,
                         struct cpgo_profile **p, struct cpgo_state_rec *rec, size_t *idx, size_t m)
{
    cpgo_state_ingest_batch(ts, rec, m);
    for (size_t k = 0; k < m; k++) {
        struct cpgo_ingest_item *c = &it[idx[k]];
        c->rc = rec[k].rc;
        if (c->rc) {
            c->err = rec[k].err;
            c->cls = cpgo_err_to_class(&c->err);
            explain(c, 1);
        } else {
            c->cls = CPGO_CLASS_OK;
        }
        cpgo_profile_free(p[idx[k]]);
        p[idx[k]] = NULL;
    }
}

void cpgo_ingest_bodies(struct cpgo_tstate *ts, struct cpgo_ingest_item *it, size_t n)
{
    struct cpgo_profile *p[CPGO_INGEST_BATCH] = {0};
    struct cpgo_state_rec rec[CPGO_INGEST_BATCH];
    size_t idx[CPGO_INGEST_BATCH], m = 0, held = 0;
    int64_t now = (int64_t)time(NULL);
    assert(n <= CPGO_INGEST_BATCH);
    for (size_t i = 0; i < n; i++) {
        struct cpgo_ingest_item *c = &it[i];
        c->err.cls = CPGO_CLASS_OK; /* a producer below may name a finer class than its code */
        c->rc = cpgo_profile_decode(c->body, c->len, c->lim, &p[i], &c->err);
        if (c->rc) {
            c->cls = cpgo_err_to_class(&c->err);
            explain(c, 0);
            continue;
        }
        if ((c->rc = check_cpu_profile(p[i], &c->cls, &c->err))) {
            explain(c, 1);
            cpgo_profile_free(p[i]);
            p[i] = NULL;
            continue;
        }
        /* the group so far is accepted first when this one would hold too much at once */
        if (m && held + p[i]->alloc.used > INGEST_DECODED_MAX) {
            ingest_flush(ts, it, p, rec, idx, m);
            m = held = 0;
        }
        rec[m] = (struct cpgo_state_rec){.body = c->body,
                                         .len = c->len,
                                         .p = p[i],
                                         .instance = c->backend,
                                         .when = now,
                                         .weight_ppm = c->weight_ppm};
        idx[m++] = i;
        held += p[i]->alloc.used;
    }
    /* one journal sync for every accepted body of a group (the moment they are accepted),
     * then merged */
    if (m) ingest_flush(ts, it, p, rec, idx, m);
    for (size_t i = 0; i < n; i++)
        cpgo_profile_free(p[i]);
    if (cpgo_state_journal_len(ts) >= 32) {
        struct cpgo_err e;
        cpgo_state_snapshot(ts, &e); /* best effort: the journal still holds it all */
    }
}

int cpgo_ingest_body(struct cpgo_tstate *ts, const unsigned char *body, size_t len,
                     const struct cpgo_limits *lim, const char *backend, uint64_t weight_ppm,
                     const struct cpgo_url_secrets *secrets, enum cpgo_class *cls,
                     struct cpgo_err *err)
{
    struct cpgo_ingest_item it = {.body = body,
                                  .len = len,
                                  .lim = lim,
                                  .backend = backend,
                                  .weight_ppm = weight_ppm,
                                  .secrets = secrets};
    cpgo_ingest_bodies(ts, &it, 1);
    *cls = it.cls;
    *err = it.err;
    return it.rc;
}
