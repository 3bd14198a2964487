/*
 * state.h - crash-safe pending profiles, one directory per target under state_dir.
 *
 * Layout of state_dir/targets/<target id>/:
 *   target            the target's key, for people reading the directory
 *   journal.log       every accepted scrape body, as received, appended as a checksummed
 *                     record (seq, length, CRC) and synced before it is merged
 *   pending-<seq>.pb  a snapshot of the pending merge of all journal entries <= seq
 *   published.json    {"upto_seq": S}: everything <= S is in the published output
 *   publishing.json   {"upto_seq", "path", "size", "hash"}: a publish in progress
 *   pushes.json       the pushed segments (forges): [{upto_seq, blobs, scrapes, ...}]
 *   seg-<upto>.pb     one segment's entries, merged
 *   forge.json        the forge's record: last publish, pull request, closed-PR gate
 *
 * Forges (git): a push does not publish. The pull request may be merged hours later, or
 * never, and scrapes keep arriving meanwhile. So a push closes the pending entries so far
 * into a *segment* (cpgo_state_push_begin, recorded durably before the push with the id
 * of the blob being pushed), and later scrapes start a new fresh part. When the target
 * branch's file becomes one of the blobs recorded for segment i (cpgo_state_settle),
 * segments 0..i are in the base branch: they are published and dropped; the rest stay
 * pending. Each round proposes base file + all segments + fresh, so nothing is counted
 * twice: a segment is either in the base file (settled) or in the proposal, never both. A
 * crash between recording and pushing leaves a recorded blob that was never pushed, which
 * is harmless: it can only match a base file with exactly those contents.
 *
 * The invariant: every accepted scrape is counted exactly once in what cpgo publishes.
 * A scrape is accepted when its journal record is synced; on start, pending =
 * newest snapshot + later journal entries, minus everything <= published upto_seq. A publish
 * first records its intent (the output's expected size and hash), then writes the output,
 * then records published.json. After a crash in between, the output file tells which
 * happened: if it has the recorded hash the publish completed, otherwise it did not and the
 * same entries are published again. kill -9 at any moment loses at most the scrape whose
 * journal record was not yet complete (a torn record fails its CRC and is cut off), and
 * counts nothing twice.
 *
 * Owns: the target's pending merger and its files. Thread: every function does file I/O and
 * CPU work: call them only from the target's work-queue lane (one at a time).
 */
#ifndef CPGO_STATE_STATE_H
#define CPGO_STATE_STATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "merge/merge.h"
#include "profile/codec.h"

struct cpgo_tstate;

/* Opens (creating it, mode 0700) and recovers the target's directory. `recover_path` is
 * the output file a publish in progress may have written (NULL if the publisher decides
 * itself, see publish_check). */
int cpgo_state_open(const char *state_dir, const char *target_id, const char *target_key,
                    const struct cpgo_merge_opts *mo, const struct cpgo_limits *lim,
                    struct cpgo_tstate **out, struct cpgo_err *err);
/* The same recovery, in memory only, for reading (cpgo state): no file is created, written,
 * moved or removed, and no lock is needed. CPGO_E_EMPTY when the target has no directory. */
int cpgo_state_open_ro(const char *state_dir, const char *target_id,
                       const struct cpgo_merge_opts *mo, const struct cpgo_limits *lim,
                       struct cpgo_tstate **out, struct cpgo_err *err);
void cpgo_state_close(struct cpgo_tstate *ts);

/* ---- the state directory (the loop thread at start, or a command) ----
 * Prepares state_dir: with `create`, creates it (mode 0700, missing parents too) and
 * targets/, and writes format.json (a directory without one, written by cpgo 0.1, is
 * upgraded in place: the files are the same). Refuses a directory that is not owned by
 * cpgo's user (or root), is world-writable, or group-writable by a group cpgo is not in (a
 * Kubernetes fsGroup volume is fine), and a format newer than this cpgo reads. */
int cpgo_state_dir_prepare(const char *state_dir, int create, struct cpgo_err *err);
/* --dry-run: copies what a state directory holds for its targets (format.json and the
 * regular files of every targets/<id>/, not the git caches) into `dst`, an empty private
 * directory, reading `src` only: no lock, nothing written there, no link followed. A file
 * the daemon is appending to is copied as far as it was written (recovery of the copy cuts
 * a torn tail). 0 when `src` does not exist. */
int cpgo_state_dir_copy(const char *src, const char *dst, struct cpgo_err *err);
/* One owner per state directory: an exclusive flock on state_dir/lock (the holder's pid
 * written inside, for the refusal's message). The lock lives as long as *lock_fd is open
 * (until exit or cpgo_state_unlock); a file a killed daemon left does not block. */
int cpgo_state_lock(const char *state_dir, int *lock_fd, struct cpgo_err *err);
void cpgo_state_unlock(int lock_fd);

/* ---- problems: damaged files found at recovery ----
 * A damaged record file is moved aside ("<name>.corrupt-<time>"), never deleted, and a
 * problem is recorded in problems.json until a person acknowledges it (cpgo state --ack).
 * `hold`: publishing the target could count something twice, so it is held meanwhile. */
size_t cpgo_state_problem_count(const struct cpgo_tstate *ts);
const char *cpgo_state_problem(const struct cpgo_tstate *ts, size_t i, int *hold);
int cpgo_state_held(const struct cpgo_tstate *ts);
/* Damaged journal records skipped when the state was opened. */
uint64_t cpgo_state_corrupt_records(const struct cpgo_tstate *ts);
uint64_t cpgo_state_published_seq(const struct cpgo_tstate *ts);
/* Segment i (oldest first): its last seq, scrapes and how many pushed blobs identify it. */
int cpgo_state_segment(const struct cpgo_tstate *ts, size_t i, uint64_t *upto, uint64_t *scrapes,
                       size_t *nblobs);
/* Clears a target's problems (the caller holds the state directory's lock): problems.json
 * is renamed to problems.json.acked-<time>. *cleared = how many there were. */
int cpgo_state_ack(const char *state_dir, const char *target_id, size_t *cleared,
                   struct cpgo_err *err);

/* Accepts one decoded scrape: journals the body, then merges the profile into pending.
 * `instance` (the backend's name, may be NULL) and `when` (seconds since the epoch) are
 * kept for the pull request's account of what it contains. */
int cpgo_state_ingest(struct cpgo_tstate *ts, const void *body, size_t len,
                      const struct cpgo_profile *p, const char *instance, int64_t when,
                      struct cpgo_err *err);
/* As cpgo_state_ingest, every value of p multiplied by weight_ppm / 1,000,000 (`pgo:
 * weight`; rounded as cpgo_merge_add_scaled rounds) as it is merged. The weight is
 * journaled with the body, so recovery merges the record exactly as it was accepted. */
#define CPGO_STATE_WEIGHT_ONE 1000000u
int cpgo_state_ingest_weighted(struct cpgo_tstate *ts, const void *body, size_t len,
                               const struct cpgo_profile *p, const char *instance, int64_t when,
                               uint64_t weight_ppm, struct cpgo_err *err);

/* Group commit: several scrapes accepted with one fdatasync. Each record is written (not
 * synced), then one sync accepts them all, then each is merged in order; nothing is merged
 * before its record is synced, and the caller acknowledges after the call returns. A merge
 * refusal cuts that record and the (unmerged) ones after it, which are written and synced
 * again; a failed write or sync fails that record and the rest of the batch, cut off, none
 * accepted. A crash at any point leaves synced records that recovery merges once (the
 * caller acknowledged none of a batch it did not finish) and cuts a torn tail. Each record's
 * rc and err say how it ended; one with p == NULL is refused. At most CPGO_STATE_BATCH_MAX
 * share a sync (larger batches are split). */
#define CPGO_STATE_BATCH_MAX 64
struct cpgo_state_rec {
    const void *body; /* the scrape as received: journaled */
    size_t len;
    const struct cpgo_profile *p; /* body decoded: merged */
    const char *instance;
    int64_t when;
    uint64_t weight_ppm;
    int rc; /* out */
    struct cpgo_err err;
};
void cpgo_state_ingest_batch(struct cpgo_tstate *ts, struct cpgo_state_rec *recs, size_t n);
/* fdatasyncs of the journal since the state was opened. */
uint64_t cpgo_state_journal_syncs(const struct cpgo_tstate *ts);

/* Writes a snapshot of pending and drops the journal entries it covers. Called every few
 * ingests, at shutdown and before a spill, so that recovery stays fast. Snapshots are raw
 * protobuf, not gzip: only cpgo reads them back, and spills write them often. Measured on a
 * merge of four 6000-sample profiles (1.5 MB raw): gzip level 1 cost ~30 ms of CPU per
 * write and ~6 ms per read to save a third of the bytes. The reader still takes the gzip
 * snapshots older versions wrote (the codec goes by the magic). */
int cpgo_state_snapshot(struct cpgo_tstate *ts, struct cpgo_err *err);
/* Journal entries since the last snapshot. */
size_t cpgo_state_journal_len(const struct cpgo_tstate *ts);

/* The fresh part of pending (entries after the last pushed segment), loaded back first if it
 * was spilled; NULL when that failed (the failure is logged). */
struct cpgo_merger *cpgo_state_pending(struct cpgo_tstate *ts);

/* ---- pending memory (`limits.max_pending_memory`) ----
 * A daemon with many targets cannot keep every pending merge in memory between publishes.
 * A spill makes sure the snapshot covers everything (it writes one if the journal has newer
 * entries: the ordinary snapshot, so kill -9 during a spill is a crash during a snapshot)
 * and frees the merger; what pending holds (cpgo_state_pending_meta, the scrape count, the
 * segments) stays in memory, so nothing that only reads it loads anything. The next call
 * that needs the merger (ingest, fold_pending, push_begin, cpgo_state_pending) loads it
 * back from that snapshot -- the same decode and merge recovery does at start, which gives
 * the same merger (its encoding is byte for byte the one before the spill). A snapshot that
 * cannot be read back as a profile is handled as at recovery: moved aside and reported as a
 * problem (the scrapes only it held are missing); an I/O or memory failure leaves pending
 * spilled and fails the call, so a scrape is then refused, never half accepted.
 *
 * The caller's record of one target (`acct`, owned by the caller and outliving the state):
 * the lane keeps it current after every change (ingest, publish, push, spill, load back,
 * close); any thread may read it. `total` (may be NULL) is the sum over every state that
 * shares it. */
struct cpgo_state_acct {
    _Atomic(int64_t) *total;
    _Atomic(int64_t) mem;     /* bytes the pending merge holds in memory (an estimate from
                                 the merger's tables, cpgo_merge_mem, plus the meta) */
    _Atomic(int) resident;    /* 1: in memory; 0: spilled */
    _Atomic(uint64_t) used;   /* CLOCK_MONOTONIC ns of the last call that needed the merger */
    _Atomic(uint64_t) spills; /* spills that freed a merger */
    _Atomic(uint64_t) loads;  /* merges loaded back */
};
void cpgo_state_set_acct(struct cpgo_tstate *ts, struct cpgo_state_acct *acct);
/* Spills pending (see above). 0 when it is spilled (or already was), or an error with
 * pending left in memory, untouched. Read-only states never spill. */
int cpgo_state_spill(struct cpgo_tstate *ts, struct cpgo_err *err);
/* 1 while the merger is in memory. */
int cpgo_state_resident(const struct cpgo_tstate *ts);
/* What the pending merge holds in memory now (0 while spilled). */
size_t cpgo_state_pending_mem(const struct cpgo_tstate *ts);
/* Scrapes in pending (accepted and not yet published): segments and fresh part. */
uint64_t cpgo_state_pending_scrapes(const struct cpgo_tstate *ts);
/* 1 when anything is pending (a segment or a fresh scrape). */
int cpgo_state_has_pending(const struct cpgo_tstate *ts);
/* Folds all of pending (the segments, read from disk, then the fresh part) into dst. */
int cpgo_state_fold_pending(struct cpgo_tstate *ts, struct cpgo_merger *dst, struct cpgo_err *err);

#define CPGO_STATE_MAX_SEGS 4
#define CPGO_STATE_MAX_BLOBS 4
#define CPGO_STATE_BLOB_SIZE 72 /* a git object id in hex (SHA-1 or SHA-256) and a NUL */
#define CPGO_STATE_MAX_INSTANCES 100000

/* What pending holds: scrapes, their window, distinct instances. */
struct cpgo_state_meta {
    uint64_t scrapes;
    int64_t first, last; /* seconds since the epoch; 0 = unknown */
    size_t instances;
};
void cpgo_state_pending_meta(const struct cpgo_tstate *ts, struct cpgo_state_meta *out);
/* Pushed segments not yet settled. */
size_t cpgo_state_segments(const struct cpgo_tstate *ts);

/* Every blob id recorded for a push (newest segment last); returns how many were written. */
size_t cpgo_state_pushed_blobs(const struct cpgo_tstate *ts, char (*out)[CPGO_STATE_BLOB_SIZE],
                               size_t cap);
/* Forges: before pushing `blob` (which contains all of pending), record it. */
int cpgo_state_push_begin(struct cpgo_tstate *ts, const char *blob, struct cpgo_err *err);
/* The target branch's file is `blob`: settles every segment up to the newest one a push of
 * that blob contained. *settled = the scrapes published by this (0 if none). */
int cpgo_state_settle(struct cpgo_tstate *ts, const char *blob, uint64_t *settled,
                      struct cpgo_err *err);

/* What the forge publisher remembers between rounds and restarts. */
struct cpgo_state_forge {
    int64_t last_publish; /* ms since the epoch of the last round that pushed */
    uint64_t pr_number;   /* the open pull request, 0 = none known */
    char pr_url[512];
    uint64_t closed_pr;      /* a pull request closed without merging, 0 = none */
    uint64_t closed_scrapes; /* pending scrapes when it was seen closed */
    int released;            /* pending grew enough since: a new one may be opened */
    uint64_t unmanaged_pr;   /* an open pull request a person took over (marker removed):
                                its branch is left alone while it is open */
    char last_commit[CPGO_STATE_BLOB_SIZE]; /* the head branch commit cpgo pushed last */
    char head_branch[512]; /* the head branch the last round resolved ("" before one) */
};
void cpgo_state_forge_get(const struct cpgo_tstate *ts, struct cpgo_state_forge *out);
int cpgo_state_forge_put(struct cpgo_tstate *ts, const struct cpgo_state_forge *f,
                         struct cpgo_err *err);

/* The scrape rotation of one of the target's services (discover/rotation: opaque JSON
 * text here), in rotation-<hash of the service name>.json. Nothing accepted lives in it: a
 * damaged file is reported and ignored (the rotation starts over). read: 0 with *text
 * (malloc'd, NUL-terminated) or NULL when there is none; -1 with err when damaged. */
int cpgo_state_rotation_read(struct cpgo_tstate *ts, const char *service, char **text,
                             struct cpgo_err *err);
int cpgo_state_rotation_write(struct cpgo_tstate *ts, const char *service, const char *text,
                              struct cpgo_err *err);

/* Publishing, in three steps around writing the output. Every failure point ends as
 * "published" or "not published", never both: a failed begin publishes nothing; abort
 * (the output write failed) asks the output itself whether it was replaced; a failed
 * commit (the output was replaced) is published all the same, the intent proving it until
 * published.json can be written (before the next begin, or at the next start). */
int cpgo_state_publish_begin(struct cpgo_tstate *ts, const char *path, const void *data, size_t len,
                             struct cpgo_err *err);
int cpgo_state_publish_commit(struct cpgo_tstate *ts, struct cpgo_err *err);
void cpgo_state_publish_abort(struct cpgo_tstate *ts);

/* Atomic file write: temp file in the same directory, fsync, rename, fsync the directory.
 * Creates missing parent directories (mode 0755). */
int cpgo_state_write_file(const char *path, const void *data, size_t len, struct cpgo_err *err);
/* Reads a whole file up to max bytes; CPGO_E_EMPTY when it does not exist. */
int cpgo_state_read_file(const char *path, size_t max, unsigned char **data, size_t *len,
                         struct cpgo_err *err);
/* mkdir -p: creates path and its missing parents with mode. 0 or -1 (errno set). */
int cpgo_state_mkdir_p(const char *path, mode_t mode);
/* Removes "<path>.tmp-*" files that a killed writer of path left behind. */
void cpgo_state_remove_stale_temps(const char *path);

#endif
