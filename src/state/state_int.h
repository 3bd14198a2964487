/*
 * state_int.h - what the files of src/state share: the target state's layout in memory and
 * the helpers that more than one of them calls. Not for other modules: state.h is the
 * interface. Thread: a target's lane, as state.h.
 */
#ifndef CPGO_STATE_INT_H
#define CPGO_STATE_INT_H

#include <jansson.h>
#include <sys/types.h>

#include "base/hash.h"
#include "state/state.h"

#define JOURNAL "journal.log"

#define SNAPSHOT_MAX (1024u << 20)

/* Where pending scrapes came from: the window and the distinct instances (64-bit hashes of
 * backend names, sorted; at most CPGO_STATE_MAX_INSTANCES are told apart). */
struct meta {
    uint64_t scrapes;
    int64_t first, last;
    uint64_t *inst;
    size_t ninst, capinst;
};

/* A pushed segment: the entries in (previous segment's upto, upto], stored merged in
 * seg-<upto>.pb, and the blob ids of every push that contained everything <= upto. */
struct seg {
    uint64_t upto;
    struct meta m;
    char blobs[CPGO_STATE_MAX_BLOBS][CPGO_STATE_BLOB_SIZE];
    int nblobs;
};

struct cpgo_tstate {
    char *dir; /* for messages: every file is opened relative to dirfd */
    int dirfd; /* the target's directory, opened without following links */
    int ro;    /* read-only inspection (cpgo state): nothing is written, moved or removed */
    struct cpgo_merge_opts mo;
    struct cpgo_limits lim;
    /* the fresh part: entries after the last segment. NULL while spilled (state.h,
     * "pending memory"): then the snapshot at snapshot_seq holds it all (journal_len == 0),
     * and spilled_inputs is what cpgo_merge_count said when it was freed */
    struct cpgo_merger *pending;
    uint64_t spilled_inputs;
    struct cpgo_state_acct *acct; /* the caller's record of its memory, or NULL */
    struct meta fresh;
    uint64_t next_seq;        /* the seq the next journal entry gets */
    uint64_t published_seq;   /* everything <= this is published */
    uint64_t snapshot_seq;    /* the newest snapshot covers entries <= this */
    uint64_t pending_scrapes; /* fresh + segments */
    size_t journal_len;
    uint64_t publishing_seq; /* != 0 between publish_begin and commit/abort */
    struct seg segs[CPGO_STATE_MAX_SEGS + 1];
    size_t nsegs;
    struct cpgo_state_forge forge;
    /* published.json is behind published_seq: a publish replaced the output but its
     * record could not be written (disk full). publishing.json (the intent, whose hash the
     * output matches) is kept as the proof until published.json is written. */
    int published_dirty;
    char pub_path[4096]; /* the publish in progress: its output, size and hash */
    uint64_t pub_size;
    char pub_hash[32];
    off_t journal_end;        /* the end of the last complete journal record */
    uint64_t journal_syncs;   /* fdatasyncs of the journal since open (group commit) */
    uint64_t corrupt_records; /* journal records skipped as damaged when this state opened */
    json_t *problems;         /* problems.json: [{time, file, what, hold}] until acknowledged */
};

/* meta.c: what pending holds (scrapes, window, instances) */
void state_meta_free(struct meta *m);
void state_meta_add(struct meta *m, uint64_t scrapes, int64_t first, int64_t last);
void state_meta_add_inst(struct meta *m, uint64_t h);
void state_meta_union(struct meta *dst, const struct meta *src);
json_t *state_meta_json(const struct meta *m);
void state_meta_from_json(struct meta *m, json_t *o);
/* Limits for reading back what cpgo itself accepted: none but the hardware's. */
void state_recovery_limits(struct cpgo_limits *l);

/* state.c */
/* Records a problem a person must look at (see state.h). */
void state_add_problem(struct cpgo_tstate *ts, const char *file, int hold, const char *what);

/* journal.c: the append-only journal of accepted scrapes */
uint64_t state_inst_hash(const char *name);
/* The seed of a weighted scrape's unbiased rounding (merge.h, weight_seed): a hash of its
 * body, so recovery rounds the record exactly as ingest did, and the same scrape rounds the
 * same whatever order it arrived in. */
static inline uint64_t state_weight_seed(const void *body, size_t len)
{
    /* stable, not the keyed table hash: a journal replayed by another process (a restart,
     * a new release) must round each record exactly as the process that merged it did */
    return cpgo_hash_stable(body, len, 0x9e3779b97f4a7c15ULL) | 1;
}
/* Group commit: open (cutting a failed write's leftovers), write records unsynced, one sync
 * that accepts them all (or cuts them all off). */
int state_journal_open_append(struct cpgo_tstate *ts, struct cpgo_err *err);
int state_journal_write(struct cpgo_tstate *ts, int fd, uint64_t seq, const void *body, size_t len,
                        int64_t when, uint64_t inst, uint64_t weight_ppm, struct cpgo_err *err);
int state_journal_sync(struct cpgo_tstate *ts, int fd, off_t synced, struct cpgo_err *err);
void state_journal_truncate(struct cpgo_tstate *ts, off_t size);
/* Replays records with seq > base into pending; cuts a torn tail; skips damage
 * (*damaged stretches, the first described in `first`). */
void state_journal_replay(struct cpgo_tstate *ts, uint64_t base, int *damaged, char *first,
                          size_t first_cap);
/* (a journal that exists but cannot be opened, e.g. a FIFO, is reported as damaged: *damaged
 * is -1 and `first` says why) */

#endif
