/*
 * ingest.c - one scraped body into its target's state, on the target's lane: decode under
 * the limits, require the Go CPU shape (its sample types in any order; a profile of
 * another kind, or with negative values, is refused alone and never becomes the reference
 * that refuses the others), journal it (synced: the moment a scrape is accepted), merge it
 * into pending (its values multiplied by the backend's `pgo: weight`, journaled with it);
 * every 32 journal entries a snapshot replaces the journal.
 *
 * A refusal carries its class (base/class.h: the retry policy and the metrics label; the
 * decoder names it as data in the error, cpgo_err_to_class, never read from the text) and a
 * message scrubbed of the backend's secrets; for a body that is not a profile at all, the
 * message quotes its first bytes (printable only), scrubbed before they are cut.
 *
 * Thread: the target's lane (a pool thread); touches only the target's state.
 */
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

int cpgo_ingest_body(struct cpgo_tstate *ts, const unsigned char *body, size_t len,
                     const struct cpgo_limits *lim, const char *backend, uint64_t weight_ppm,
                     const struct cpgo_url_secrets *secrets, enum cpgo_class *cls,
                     struct cpgo_err *err)
{
    struct cpgo_profile *p = NULL;
    err->cls = CPGO_CLASS_OK; /* a producer below may name a finer class than its code */
    int rc = cpgo_profile_decode(body, len, lim, &p, err);
    int decoded = rc == 0;
    if (decoded)
        rc = check_cpu_profile(p, cls, err);
    else
        *cls = cpgo_err_to_class(err);
    if (!rc) {
        rc = cpgo_state_ingest_weighted(ts, body, len, p, backend, (int64_t)time(NULL), weight_ppm,
                                        err);
        if (rc) *cls = cpgo_err_to_class(err);
    }
    if (rc) { /* a decoder message may quote the profile's strings */
        size_t l = strlen(err->text);
        cpgo_url_scrub(secrets, err->text, l, err->text, l + 1);
    }
    if (!decoded && rc == CPGO_E_INPUT && *cls == CPGO_CLASS_BAD_PAYLOAD && len) {
        /* say what came instead of a profile: the first 64 bytes, printable only,
         * scrubbed of the backend's secrets before they are cut */
        char pre[80];
        size_t o = cpgo_url_scrub(secrets, (const char *)body, len < 4096 ? len : 4096, pre, 65);
        for (size_t i = 0; i < o; i++)
            if ((unsigned char)pre[i] < ' ' || (unsigned char)pre[i] >= 127) pre[i] = '.';
        size_t l = strlen(err->text);
        snprintf(err->text + l, sizeof err->text - l, " (body starts: \"%s\")", pre);
    }
    cpgo_profile_free(p);
    if (rc) return rc;
    if (cpgo_state_journal_len(ts) >= 32) {
        struct cpgo_err e;
        cpgo_state_snapshot(ts, &e); /* best effort: the journal still holds it all */
    }
    *cls = CPGO_CLASS_OK;
    return 0;
}
