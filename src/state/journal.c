/* journal.c - the journal of accepted scrapes: append (synced), truncate, replay with
 * damage told apart from a torn tail. See state.h for the protocol. */
#include "state/state_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <libdeflate.h>

#include "base/file.h"
#include "base/hash.h"
#include "base/log.h"

/* ---- the journal: one append-only file of records ------------------------------------
 * record = "CPGK" | seq (u64 le) | len (u32 le) | crc32 (u32 le) | when (i64 le, seconds)
 *          | instance (u64 le, hash of the backend name) | body,
 * the CRC covering when, instance and body. A scrape with a weight other than 1 (`pgo:
 * weight`) is a "CPGW" record: the same with its weight (u64 le, parts per million) after
 * the instance, covered by the CRC too, so recovery merges it exactly as ingest did even
 * when the configuration changed since. ("CPGJ" records, without when and instance, are
 * still read; a weight of 1 is written as "CPGK", the format older versions read.) Appending needs
 * no new inode per scrape (creating and deleting thousands of small files is what ext4 charges most
 * for).
 *
 * Recovery tells two kinds of damage apart. A crash while appending leaves a *torn tail*:
 * the last record is incomplete (the file ends inside it). It was never synced, so never
 * accepted: it is cut off. Anything else (a record whose CRC fails with a valid record
 * after it, a damaged header in the middle, a complete last record that fails its CRC)
 * is damage to data that was accepted: the damaged bytes are skipped, the records after
 * them are kept, the journal is moved aside for a person, and the target reports the
 * problem until acknowledged. */
#define JHDR_OLD 20
#define JHDR 36
#define JHDR_W 44

uint64_t state_inst_hash(const char *name)
{
    return name ? cpgo_hash_fnv1a(name, strlen(name), CPGO_FNV1A_INIT) : 0;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

/* Opens the journal for appending. If an earlier write failed and could not be cut off,
 * the file is first cut back to the last complete record, so a partial record never ends
 * up between two good ones. The fd, or a negative error code. */
int state_journal_open_append(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    int fd = cpgo_file_open(ts->dirfd, JOURNAL, O_WRONLY | O_APPEND | O_CREAT, 0600, err);
    if (fd < 0) {
        cpgo_err_prefix(err, "%s", ts->dir);
        return fd;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return cpgo_err_set(err, CPGO_E_IO, "cannot stat %s/" JOURNAL ": %s", ts->dir, strerror(e));
    }
    /* shorter than we know (someone cut or replaced it): trust the file, never pad it */
    if (st.st_size < ts->journal_end) ts->journal_end = st.st_size;
    if (st.st_size > ts->journal_end && ftruncate(fd, ts->journal_end)) {
        int e = errno;
        close(fd);
        return cpgo_err_set(err, CPGO_E_IO,
                            "cannot cut %s/" JOURNAL " back after a failed write: %s", ts->dir,
                            strerror(e));
    }
    return fd;
}

/* A record's CRC-32 (zlib's polynomial and values, so journals written before read the same):
 * over the header after the CRC, then the body. libdeflate's folding runs at about 8x
 * zlib 1.2.13's speed here (8 against 65 us for a 130 KB body), and every accepted body
 * passes through it once on the way in. */
static uint32_t journal_crc(const unsigned char *hdr, size_t hl, const void *body, size_t len)
{
    return libdeflate_crc32(libdeflate_crc32(0, hdr + 20, hl - 20), body, len);
}

/* Writes one record at the end, not synced: nothing is accepted until state_journal_sync
 * returns. A failed write is cut off again (journal_end stays before it either way, so if
 * the cut fails the next open cuts). */
int state_journal_write(struct cpgo_tstate *ts, int fd, uint64_t seq, const void *body, size_t len,
                        int64_t when, uint64_t inst, uint64_t weight_ppm, struct cpgo_err *err)
{
    if (len > UINT32_MAX) return cpgo_err_set(err, CPGO_E_LIMIT, "scrape too large to journal");
    unsigned char hdr[JHDR_W];
    int weighted = weight_ppm != CPGO_STATE_WEIGHT_ONE;
    size_t hl = weighted ? JHDR_W : JHDR;
    memcpy(hdr, weighted ? "CPGW" : "CPGK", 4);
    put_le(hdr + 4, seq, 8);
    put_le(hdr + 12, len, 4);
    put_le(hdr + 20, (uint64_t)when, 8);
    put_le(hdr + 28, inst, 8);
    if (weighted) put_le(hdr + 36, weight_ppm, 8);
    put_le(hdr + 16, journal_crc(hdr, hl, body, len), 4);
    struct iovec iov[2] = {{hdr, hl}, {(void *)body, len}};
    size_t want = hl + len, done = 0;
    int e = cpgo_file_fault();
    while (!e && done < want) {
        ssize_t n = writev(fd, iov, 2);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            e = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t)n;
        /* advance the iovecs past what was written */
        size_t k = (size_t)n;
        for (int i = 0; i < 2; i++) {
            size_t take = k < iov[i].iov_len ? k : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            k -= take;
        }
    }
    if (e) {
        if (ftruncate(fd, ts->journal_end)) { /* journal_end stays: the next open cuts */
        }
        return cpgo_err_set(err, CPGO_E_IO, "cannot append to %s/" JOURNAL ": %s", ts->dir,
                            strerror(e));
    }
    ts->journal_end += (off_t)want;
    return 0;
}

/* Syncs what was written since `synced` (the end before the first unsynced write): the
 * moment those records are accepted. On failure they are cut off again, none accepted. */
int state_journal_sync(struct cpgo_tstate *ts, int fd, off_t synced, struct cpgo_err *err)
{
    int e = cpgo_file_fault();
    if (!e && fdatasync(fd)) e = errno;
    ts->journal_syncs++;
    if (!e) return 0;
    ts->journal_end = synced; /* whatever the cut below does: the next open cuts */
    if (ftruncate(fd, synced)) {
    }
    return cpgo_err_set(err, CPGO_E_IO, "cannot append to %s/" JOURNAL ": %s", ts->dir,
                        strerror(e));
}

void state_journal_truncate(struct cpgo_tstate *ts, off_t size)
{
    if (ts->ro) return;
    int fd = cpgo_file_open(ts->dirfd, JOURNAL, O_WRONLY, 0, &(struct cpgo_err){0});
    if (fd < 0) {
        /* the next append's open cuts the file to journal_end: to `size`, never to 0,
         * which would drop the synced records before it */
        ts->journal_end = size;
        return;
    }
    if (ftruncate(fd, size) == 0) ts->journal_end = size;
    /* else: recovery skips records <= the recorded seqs, and the next append cuts */
    close(fd);
}

/* Reads the record at off. 1 = a complete record whose CRC holds; 0 = not one. *torn = the
 * file ends inside what the header announces. */
static int read_record(int fd, off_t off, off_t size, unsigned char *hdr, unsigned char **body,
                       size_t *cap, size_t *hl_out, size_t *len_out, int *torn)
{
    *torn = 0;
    if (size - off < JHDR_OLD) {
        *torn = 1;
        return 0;
    }
    ssize_t n = pread(fd, hdr, JHDR_W, off);
    if (n < JHDR_OLD) return 0;
    int old = !memcmp(hdr, "CPGJ", 4), weighted = !memcmp(hdr, "CPGW", 4);
    if (!old && !weighted && memcmp(hdr, "CPGK", 4)) return 0;
    size_t hl = old ? JHDR_OLD : weighted ? JHDR_W : JHDR;
    if (n < (ssize_t)hl) {
        *torn = size - off < (off_t)hl;
        return 0;
    }
    size_t len = (size_t)get_le(hdr + 12, 4);
    if ((off_t)(hl + len) > size - off) {
        *torn = 1;
        return 0;
    }
    if (len + 1 > *cap) {
        unsigned char *nb = realloc(*body, len + 1);
        if (!nb) return 0;
        *body = nb;
        *cap = len + 1;
    }
    if (pread(fd, *body, len, off + (off_t)hl) != (ssize_t)len) return 0;
    uint32_t crc = (uint32_t)get_le(hdr + 16, 4);
    if ((old ? libdeflate_crc32(0, *body, len) : journal_crc(hdr, hl, *body, len)) != crc) return 0;
    *hl_out = hl;
    *len_out = len;
    return 1;
}

/* The next offset after `from` where a complete, valid record starts; -1 if none. */
static off_t resync(int fd, off_t from, off_t size, unsigned char **body, size_t *cap)
{
    unsigned char buf[65536 + 3], hdr[JHDR_W];
    for (off_t base = from; base < size; base += 65536) {
        ssize_t n = pread(fd, buf, sizeof buf, base);
        if (n < 4) break;
        for (ssize_t i = 0; i + 4 <= n; i++) {
            if (buf[i] != 'C' || buf[i + 1] != 'P' || buf[i + 2] != 'G' ||
                (buf[i + 3] != 'K' && buf[i + 3] != 'J' && buf[i + 3] != 'W'))
                continue;
            size_t hl, len;
            int torn;
            if (read_record(fd, base + i, size, hdr, body, cap, &hl, &len, &torn)) return base + i;
        }
    }
    return -1;
}

/* Replays records with seq > base into pending; cuts a torn tail; skips and reports
 * damage. *damaged = how many damaged stretches were met. */
void state_journal_replay(struct cpgo_tstate *ts, uint64_t base, int *damaged, char *first,
                          size_t first_cap)
{
    *damaged = 0;
    struct cpgo_err err;
    int fd = cpgo_file_open(ts->dirfd, JOURNAL, ts->ro ? O_RDONLY : O_RDWR, 0, &err);
    if (fd < 0) {
        if (fd != CPGO_E_EMPTY) {
            cpgo_err_prefix(&err, "%s", ts->dir);
            *damaged = -1; /* the caller records the problem */
            snprintf(first, first_cap, "%s", err.text);
        }
        return;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        close(fd);
        return;
    }
    off_t off = 0, size = st.st_size;
    unsigned char hdr[JHDR_W];
    unsigned char *body = NULL;
    size_t cap = 0;
    uint64_t last_seq = base;
    struct cpgo_limits lim;
    state_recovery_limits(&lim);
    while (off < size) {
        size_t hl = 0, len = 0;
        int torn;
        if (!read_record(fd, off, size, hdr, &body, &cap, &hl, &len, &torn)) {
            off_t next = resync(fd, off + 1, size, &body, &cap);
            if (next < 0 && torn) {
                /* the one crash case: an append that never completed, never accepted */
                char o[24], n[24];
                snprintf(o, sizeof o, "%lld", (long long)off);
                snprintf(n, sizeof n, "%lld", (long long)(size - off));
                cpgo_log(CPGO_LVL_WARN, "cut a torn journal tail (an append a crash interrupted)",
                         "state", ts->dir, "offset", o, "bytes", n, NULL);
                if (!ts->ro && ftruncate(fd, off)) {
                }
                size = off;
                break;
            }
            /* damage to accepted data: skip exactly the damaged bytes */
            (*damaged)++;
            ts->corrupt_records++;
            char o[24], sq[48];
            int hdr_ok =
                !memcmp(hdr, "CPGK", 4) || !memcmp(hdr, "CPGJ", 4) || !memcmp(hdr, "CPGW", 4);
            if (hdr_ok)
                snprintf(sq, sizeof sq, "%" PRIu64, get_le(hdr + 4, 8));
            else
                snprintf(sq, sizeof sq, "after %" PRIu64, last_seq);
            snprintf(o, sizeof o, "%lld", (long long)off);
            cpgo_log(CPGO_LVL_ERROR, "damaged journal record skipped", "state", ts->dir, "seq", sq,
                     "offset", o, NULL);
            if (*damaged == 1)
                snprintf(first, first_cap,
                         "damaged journal record (sequence %s) at byte offset %lld of " JOURNAL
                         ": %lld bytes skipped",
                         sq, (long long)off, (long long)((next < 0 ? size : next) - off));
            if (next < 0) break;
            off = next;
            continue;
        }
        uint64_t seq = get_le(hdr + 4, 8);
        int old = hl == JHDR_OLD;
        int64_t when = old ? 0 : (int64_t)get_le(hdr + 20, 8);
        uint64_t inst = old ? 0 : get_le(hdr + 28, 8);
        uint64_t weight = hl == JHDR_W ? get_le(hdr + 36, 8) : CPGO_STATE_WEIGHT_ONE;
        if (seq >= ts->next_seq) ts->next_seq = seq + 1;
        if (seq > last_seq) last_seq = seq;
        if (seq > base) {
            struct cpgo_profile *prof = NULL;
            struct cpgo_err e;
            if (cpgo_profile_decode(body, len, &lim, &prof, &e) == 0 &&
                cpgo_merge_add_scaled(ts->pending, prof,
                                      (struct cpgo_scale){weight, CPGO_STATE_WEIGHT_ONE, 0,
                                                          weight == CPGO_STATE_WEIGHT_ONE
                                                              ? 0
                                                              : state_weight_seed(body, len)},
                                      &e) == 0) {
                ts->journal_len++;
                state_meta_add(&ts->fresh, 1, when, when);
                if (inst) state_meta_add_inst(&ts->fresh, inst);
            } else {
                /* written by a cpgo that journaled before it merged (a refused profile
                 * whose record a crash left behind): it was never accepted */
                char sq[24];
                snprintf(sq, sizeof sq, "%" PRIu64, seq);
                cpgo_log(CPGO_LVL_WARN, "journal record not merged (refused when written)", "state",
                         ts->dir, "seq", sq, "error", e.text, NULL);
            }
            cpgo_profile_free(prof);
        }
        off += (off_t)(hl + len);
    }
    ts->journal_end = size;
    free(body);
    close(fd);
}
