/* state.c - see state.h for the layout and the exactly-once protocol. */
#include "state/state_int.h"

#include "base/file.h"
#include "base/hash.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void name_of(char *buf, size_t cap, const char *fmt, uint64_t seq)
{
    snprintf(buf, cap, fmt, seq);
}

/* ---- files in the target directory: relative to dirfd, never following a link ---------- */

#define JSON_MAX (4u << 20)

/* 0 with *out, CPGO_E_EMPTY when absent, CPGO_E_INPUT when damaged (not a JSON object),
 * another code when it cannot be read. */
static int load_json(const struct cpgo_tstate *ts, const char *name, json_t **out,
                     struct cpgo_err *err)
{
    *out = NULL;
    unsigned char *data;
    size_t len;
    int rc = cpgo_file_read_at(ts->dirfd, name, JSON_MAX, &data, &len, err);
    if (rc) return rc;
    json_error_t je;
    json_t *o = json_loadb((const char *)data, len, 0, &je);
    free(data);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return cpgo_err_set(err, CPGO_E_INPUT, "%s/%s is damaged: %s", ts->dir, name,
                            o ? "not a JSON object" : je.text);
    }
    *out = o;
    return 0;
}

/* Reads {key: N}; CPGO_E_INPUT when the file exists but has no such non-negative integer. */
static int read_json_seq(const struct cpgo_tstate *ts, const char *name, const char *key,
                         uint64_t *seq, json_t **out, struct cpgo_err *err)
{
    json_t *o;
    int rc = load_json(ts, name, &o, err);
    if (rc) return rc;
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        json_decref(o);
        return cpgo_err_set(err, CPGO_E_INPUT, "%s/%s is damaged: no \"%s\"", ts->dir, name, key);
    }
    *seq = (uint64_t)json_integer_value(v);
    if (out)
        *out = o;
    else
        json_decref(o);
    return 0;
}

static int write_json(struct cpgo_tstate *ts, const char *name, json_t *o, struct cpgo_err *err)
{
    if (ts->ro) return 0;
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    int rc = cpgo_file_write_at(ts->dirfd, name, s, strlen(s), 0600, err);
    free(s);
    if (rc) cpgo_err_prefix(err, "%s", ts->dir);
    return rc;
}

static int remove_file(struct cpgo_tstate *ts, const char *name)
{
    if (ts->ro) return 0;
    if (unlinkat(ts->dirfd, name, 0) && errno != ENOENT) return -1;
    return 0;
}

static void utc_stamp(char *buf, size_t cap, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y%m%dT%H%M%SZ", &tm);
}

static int save_problems(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    if (!ts->problems || json_array_size(ts->problems) == 0) {
        if (remove_file(ts, "problems.json"))
            return cpgo_err_set(err, CPGO_E_IO, "cannot remove %s/problems.json: %s", ts->dir,
                                strerror(errno));
        return 0;
    }
    json_t *o = json_pack("{s:O}", "problems", ts->problems);
    int rc = o ? write_json(ts, "problems.json", o, err)
               : cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    json_decref(o);
    return rc;
}

/* Records a problem a person must look at (cpgo state; cleared by cpgo state --ack). `hold`:
 * publishing this target could count something twice until a person has looked. */
void state_add_problem(struct cpgo_tstate *ts, const char *file, int hold, const char *what)
{
    char stamp[32];
    utc_stamp(stamp, sizeof stamp, time(NULL));
    if (!ts->problems) ts->problems = json_array();
    json_t *p = json_pack("{s:s, s:s, s:s, s:b}", "time", stamp, "file", file ? file : "", "what",
                          what, "hold", hold);
    if (p && json_array_size(ts->problems) < 64)
        json_array_append_new(ts->problems, p);
    else
        json_decref(p);
    cpgo_log(CPGO_LVL_ERROR, "target state problem: a person must look (cpgo state)", "state",
             ts->dir, "file", file ? file : "", "problem", what, NULL);
    struct cpgo_err e;
    if (save_problems(ts, &e))
        cpgo_log(CPGO_LVL_ERROR, "cannot record a state problem", "error", e.text, NULL);
}

/* Moves a damaged file aside as "<name>.corrupt-<time>" (never deletes it) and records the
 * problem. Writes the aside name into aside (may be NULL). */
static void quarantine(struct cpgo_tstate *ts, const char *name, int hold, const char *what,
                       char *aside_out, size_t cap)
{
    char stamp[32], aside[512];
    utc_stamp(stamp, sizeof stamp, time(NULL));
    snprintf(aside, sizeof aside, "%s.corrupt-%s", name, stamp);
    for (int k = 1;
         !ts->ro && faccessat(ts->dirfd, aside, F_OK, AT_SYMLINK_NOFOLLOW) == 0 && k < 100; k++)
        snprintf(aside, sizeof aside, "%s.corrupt-%s-%d", name, stamp, k);
    char text[768];
    if (!ts->ro && renameat(ts->dirfd, name, ts->dirfd, aside)) {
        snprintf(text, sizeof text, "%s (could not move it aside: %s)", what, strerror(errno));
        snprintf(aside, sizeof aside, "%s", name);
    } else {
        snprintf(text, sizeof text, "%s; moved aside to %s", what, ts->ro ? name : aside);
    }
    state_add_problem(ts, ts->ro ? name : aside, hold, text);
    if (aside_out) snprintf(aside_out, cap, "%s", aside);
}

/* Lists numbered files "<prefix><seq><suffix>" in the target directory, ascending. */
static int list_seqs(const struct cpgo_tstate *ts, const char *prefix, const char *suffix,
                     uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int fd =
        cpgo_file_openat(ts->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0); /* own offset */
    if (fd < 0) return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    size_t cap = 0;
    struct dirent *e;
    size_t pl = strlen(prefix), sl = strlen(suffix);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= pl + sl || strncmp(e->d_name, prefix, pl) || strcmp(e->d_name + l - sl, suffix))
            continue;
        char *end;
        uint64_t v = strtoull(e->d_name + pl, &end, 10);
        if (end != e->d_name + l - sl || v == 0) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *nv = realloc(*out, cap * sizeof *nv);
            if (!nv) {
                closedir(d);
                return -1;
            }
            *out = nv;
        }
        (*out)[(*n)++] = v;
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++) /* insertion sort: directories are small */
        for (size_t j = i; j > 0 && (*out)[j - 1] > (*out)[j]; j--) {
            uint64_t t = (*out)[j];
            (*out)[j] = (*out)[j - 1];
            (*out)[j - 1] = t;
        }
    return 0;
}

/* Folds the profile stored in the target directory (a snapshot or a segment) into m. */
static int add_file(struct cpgo_tstate *ts, const char *name, struct cpgo_merger *m,
                    struct cpgo_err *err)
{
    unsigned char *data;
    size_t len;
    int rc = cpgo_file_read_at(ts->dirfd, name, SNAPSHOT_MAX, &data, &len, err);
    if (rc) {
        cpgo_err_prefix(err, "%s", ts->dir);
        return rc;
    }
    struct cpgo_profile *p = NULL;
    struct cpgo_limits lim;
    state_recovery_limits(&lim);
    rc = cpgo_profile_decode(data, len, &lim, &p, err);
    free(data);
    if (!rc) rc = cpgo_merge_add(m, p, err);
    cpgo_profile_free(p);
    if (rc) cpgo_err_prefix(err, "%s/%s", ts->dir, name);
    return rc;
}

/* ---- pending memory: accounting, spill, load back (state.h) ------------------------- */

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

size_t cpgo_state_pending_mem(const struct cpgo_tstate *ts)
{
    if (!ts->pending) return 0;
    return cpgo_merge_mem(ts->pending) + ts->fresh.capinst * sizeof *ts->fresh.inst;
}

/* Brings the caller's record up to date after pending changed. */
static void account(struct cpgo_tstate *ts)
{
    struct cpgo_state_acct *a = ts->acct;
    if (!a) return;
    int64_t now = (int64_t)cpgo_state_pending_mem(ts);
    int64_t was = atomic_exchange(&a->mem, now);
    if (a->total && now != was) atomic_fetch_add(a->total, now - was);
    atomic_store(&a->resident, ts->pending != NULL);
}

static void touch(struct cpgo_tstate *ts)
{
    if (ts->acct) atomic_store(&ts->acct->used, mono_ns());
}

void cpgo_state_set_acct(struct cpgo_tstate *ts, struct cpgo_state_acct *acct)
{
    if (ts->acct && ts->acct != acct) { /* the old record gives up what it counted */
        int64_t was = atomic_exchange(&ts->acct->mem, 0);
        if (ts->acct->total) atomic_fetch_sub(ts->acct->total, was);
    }
    ts->acct = acct;
    touch(ts);
    account(ts);
}

int cpgo_state_resident(const struct cpgo_tstate *ts)
{
    return ts->pending != NULL;
}

static void recount(struct cpgo_tstate *ts);

int cpgo_state_spill(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    if (!ts->pending || ts->ro) return 0;
    /* the snapshot first: once it covers every journal entry the merger is only a copy */
    int rc = cpgo_state_snapshot(ts, err);
    if (rc) {
        cpgo_err_prefix(err, "spilling pending");
        return rc;
    }
    /* only a merger the snapshot at snapshot_seq holds whole may go (never otherwise: the
     * protocol makes one whenever the journal is empty and pending is not) */
    if (ts->journal_len || (cpgo_merge_count(ts->pending) && !ts->snapshot_seq)) return 0;
    ts->spilled_inputs = cpgo_merge_count(ts->pending);
    cpgo_merge_free(ts->pending);
    ts->pending = NULL;
    if (ts->acct) atomic_fetch_add(&ts->acct->spills, 1);
    account(ts);
    return 0;
}

/* The merger back in memory (state.h): empty when nothing was pending (no snapshot since
 * the last publish or push), else the snapshot at snapshot_seq, which covers it all. */
static int need_pending(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    touch(ts);
    if (ts->pending) return 0;
    struct cpgo_merger *m;
    if (cpgo_merge_new(&m, &ts->mo)) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    int rc = 0;
    if (ts->snapshot_seq && ts->spilled_inputs) {
        char p[128];
        name_of(p, sizeof p, "pending-%" PRIu64 ".pb", ts->snapshot_seq);
        rc = add_file(ts, p, m, err);
        if (rc == CPGO_E_NOMEM || rc == CPGO_E_IO) {
            /* the file may be fine: stay spilled, the caller fails and tries again later */
            cpgo_merge_free(m);
            cpgo_err_prefix(err, "loading the spilled pending merge back");
            return rc;
        }
        if (rc) {
            /* damaged or gone: what recovery does at start, never silently */
            char what[1024];
            snprintf(what, sizeof what,
                     "snapshot %s (pending scrapes up to sequence %" PRIu64
                     ", spilled from memory) cannot be loaded back: %s; the %" PRIu64
                     " scrape(s) only it held are missing",
                     p, ts->snapshot_seq, err->text, ts->fresh.scrapes);
            quarantine(ts, p, 0, what, NULL, 0);
            cpgo_merge_free(m);
            if (cpgo_merge_new(&m, &ts->mo))
                return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
            state_meta_free(&ts->fresh);
            ts->snapshot_seq = 0;
            remove_file(ts, "pending.json");
            recount(ts);
        }
    }
    ts->pending = m;
    ts->spilled_inputs = 0;
    if (ts->acct) atomic_fetch_add(&ts->acct->loads, 1);
    account(ts);
    return 0;
}

static int reset_pending(struct cpgo_tstate *ts)
{
    struct cpgo_merger *m;
    if (cpgo_merge_new(&m, &ts->mo)) return CPGO_E_NOMEM;
    cpgo_merge_free(ts->pending);
    ts->pending = m;
    ts->spilled_inputs = 0;
    state_meta_free(&ts->fresh);
    account(ts);
    return 0;
}

/* Profiles folded into the fresh part, spilled or not. */
static uint64_t pending_inputs(const struct cpgo_tstate *ts)
{
    return ts->pending ? cpgo_merge_count(ts->pending) : ts->spilled_inputs;
}

static void recount(struct cpgo_tstate *ts)
{
    uint64_t n = ts->fresh.scrapes;
    for (size_t i = 0; i < ts->nsegs; i++)
        n += ts->segs[i].m.scrapes;
    ts->pending_scrapes = n;
}

/* Deletes snapshots that are covered (<= upto) except keep_snapshot; with truncate_journal,
 * empties the journal too (the caller has made everything in it durable elsewhere). */
static void prune(struct cpgo_tstate *ts, uint64_t upto, uint64_t keep_snapshot,
                  int truncate_journal)
{
    if (ts->ro) return;
    char p[128];
    uint64_t *seqs;
    size_t n;
    if (truncate_journal) state_journal_truncate(ts, 0);
    if (list_seqs(ts, "pending-", ".pb", &seqs, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (seqs[i] == keep_snapshot) continue;
            if (seqs[i] <= upto || seqs[i] < keep_snapshot) {
                name_of(p, sizeof p, "pending-%" PRIu64 ".pb", seqs[i]);
                remove_file(ts, p);
            }
        }
        free(seqs);
    }
}

/* Removes temp files a killed process left behind (a write that never reached its rename:
 * by the protocol, never accepted). Only this target's lane writes in the directory. */
static void remove_stale_temps(struct cpgo_tstate *ts)
{
    if (ts->ro) return;
    int fd =
        cpgo_file_openat(ts->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0); /* own offset */
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-") && !strstr(e->d_name, ".corrupt-"))
            unlinkat(ts->dirfd, e->d_name, 0);
    closedir(d);
}

void cpgo_state_remove_stale_temps(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    DIR *d = opendir(dir);
    if (!d) return;
    size_t bl = strlen(base);
    struct dirent *e;
    char p[8400];
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, base, bl) && !strncmp(e->d_name + bl, ".tmp-", 5)) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
}

/* The recorded check of a published output's bytes: "crc32:" and 8 hex digits. It only
 * tells whether a write completed (with the size), nobody chooses the bytes against it, and
 * libdeflate's CRC-32 reads a 650 KB target in about 40 us where the byte-serial FNV-1a
 * written before took about 1 ms. */
static void output_hash(const void *data, size_t len, char *h, size_t cap)
{
    snprintf(h, cap, "crc32:%08" PRIx32, (uint32_t)libdeflate_crc32(0, data, len));
}

/* Does the output at path hold exactly the recorded bytes (size and hash)? A hash of 16 hex
 * digits is the FNV-1a of an intent written before the CRC (read, never written). */
static int output_matches(const char *path, uint64_t size, const char *hash)
{
    unsigned char *data;
    size_t len;
    struct cpgo_err e;
    if (cpgo_state_read_file(path, (size_t)size + 1, &data, &len, &e)) return 0;
    char h[32];
    if (strncmp(hash, "crc32:", 6) == 0)
        output_hash(data, len, h, sizeof h);
    else
        snprintf(h, sizeof h, "%016" PRIx64, cpgo_hash_fnv1a(data, len, CPGO_FNV1A_INIT));
    free(data);
    return (uint64_t)len == size && !strcmp(h, hash);
}

/* Records published_seq in published.json, then drops the intent it proves. */
static int write_published(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    json_t *o = json_pack("{s:I}", "upto_seq", (json_int_t)ts->published_seq);
    int rc = o ? write_json(ts, "published.json", o, err)
               : cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    json_decref(o);
    if (rc) return rc;
    ts->published_dirty = 0;
    remove_file(ts, "publishing.json");
    return 0;
}

/* Settles a publish that was in progress when the process died (or whose record could not
 * be written): the output tells whether it happened. Returns the seq it published, or 0. */
static uint64_t recover_publishing(struct cpgo_tstate *ts)
{
    uint64_t seq;
    json_t *o = NULL;
    struct cpgo_err e;
    int rc = read_json_seq(ts, "publishing.json", "upto_seq", &seq, &o, &e);
    if (rc == CPGO_E_EMPTY) return 0;
    if (rc) {
        /* unknown whether the output was replaced: a person decides */
        quarantine(ts, "publishing.json", 1,
                   "publishing.json (a publish in progress) is damaged: whether the output "
                   "holds the pending scrapes is unknown; publishing is held",
                   NULL, 0);
        return 0;
    }
    const char *out = json_string_value(json_object_get(o, "path"));
    const char *hash = json_string_value(json_object_get(o, "hash"));
    json_int_t size = json_integer_value(json_object_get(o, "size"));
    int done = out && hash && size >= 0 && output_matches(out, (uint64_t)size, hash);
    json_decref(o);
    if (!done) {
        remove_file(ts, "publishing.json");
        return 0;
    }
    return seq;
}
/* ---- pushed segments (pushes.json, seg-<upto>.pb) and the forge record (forge.json) ---- */

static int save_segments(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    if (ts->nsegs == 0) {
        if (remove_file(ts, "pushes.json"))
            return cpgo_err_set(err, CPGO_E_IO, "cannot remove %s/pushes.json: %s", ts->dir,
                                strerror(errno));
        return 0;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < ts->nsegs; i++) {
        const struct seg *g = &ts->segs[i];
        json_t *o = state_meta_json(&g->m);
        json_t *b = json_array();
        for (int k = 0; k < g->nblobs; k++)
            json_array_append_new(b, json_string(g->blobs[k]));
        json_object_set_new(o, "upto_seq", json_integer((json_int_t)g->upto));
        json_object_set_new(o, "blobs", b);
        json_array_append_new(arr, o);
    }
    json_t *o = json_pack("{s:o}", "segments", arr);
    int rc = o ? write_json(ts, "pushes.json", o, err)
               : cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    json_decref(o);
    return rc;
}

/* Segments at or below published_seq are settled (a crash after published.json was written
 * and before pushes.json was): they are dropped here. A damaged pushes.json is moved aside;
 * its segment files are kept as segments without blobs (nothing is lost), and publishing is
 * held: whether a push of them was merged is unknown until a person looks. */
static void load_segments(struct cpgo_tstate *ts)
{
    json_t *o;
    struct cpgo_err err;
    int rc = load_json(ts, "pushes.json", &o, &err);
    if (rc == CPGO_E_EMPTY) return;
    if (rc == 0 && !json_is_array(json_object_get(o, "segments"))) {
        json_decref(o);
        rc =
            cpgo_err_set(&err, CPGO_E_INPUT, "%s/pushes.json is damaged: no segment list", ts->dir);
    }
    if (rc) {
        char what[700];
        snprintf(what, sizeof what,
                 "%s; its segment files are kept pending without their blob ids: if a pull "
                 "request holding them was merged, they would be counted again, so "
                 "publishing is held",
                 err.text);
        quarantine(ts, "pushes.json", 1, what, NULL, 0);
        uint64_t *seqs;
        size_t ns;
        if (list_seqs(ts, "seg-", ".pb", &seqs, &ns) == 0) {
            for (size_t i = 0; i < ns && ts->nsegs < CPGO_STATE_MAX_SEGS; i++) {
                if (seqs[i] <= ts->published_seq) continue;
                struct seg *g = &ts->segs[ts->nsegs++];
                memset(g, 0, sizeof *g);
                g->upto = seqs[i];
                g->m.scrapes = 1; /* the count was in the damaged file: at least one */
            }
            free(seqs);
        }
        if (!ts->ro) {
            struct cpgo_err e;
            save_segments(ts, &e);
        }
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "segments"), i, e)
    {
        json_t *u = json_object_get(e, "upto_seq");
        if (!json_is_integer(u) || json_integer_value(u) <= 0) continue;
        uint64_t upto = (uint64_t)json_integer_value(u);
        if (upto <= ts->published_seq) continue;
        if (ts->nsegs && upto <= ts->segs[ts->nsegs - 1].upto) continue;
        if (ts->nsegs == CPGO_STATE_MAX_SEGS) break;
        struct seg *g = &ts->segs[ts->nsegs];
        memset(g, 0, sizeof *g);
        g->upto = upto;
        state_meta_from_json(&g->m, e);
        size_t k;
        json_t *b;
        json_array_foreach(json_object_get(e, "blobs"), k, b)
        {
            const char *id = json_string_value(b);
            if (id && strlen(id) < CPGO_STATE_BLOB_SIZE && g->nblobs < CPGO_STATE_MAX_BLOBS)
                snprintf(g->blobs[g->nblobs++], CPGO_STATE_BLOB_SIZE, "%s", id);
        }
        ts->nsegs++;
    }
    json_decref(o);
}

/* Forgets segments [0, n) and their files. */
static void drop_segments(struct cpgo_tstate *ts, size_t n)
{
    if (n == 0) return;
    char p[128];
    for (size_t i = 0; i < n; i++) {
        name_of(p, sizeof p, "seg-%" PRIu64 ".pb", ts->segs[i].upto);
        remove_file(ts, p);
        state_meta_free(&ts->segs[i].m);
    }
    memmove(ts->segs, ts->segs + n, (ts->nsegs - n) * sizeof *ts->segs);
    ts->nsegs -= n;
    struct cpgo_err e;
    save_segments(ts, &e); /* best effort: load_segments skips settled ones anyway */
    recount(ts);
}

static void load_forge(struct cpgo_tstate *ts)
{
    json_t *o;
    struct cpgo_err err;
    int rc = load_json(ts, "forge.json", &o, &err);
    if (rc == CPGO_E_EMPTY) return;
    if (rc) {
        char what[700];
        snprintf(what, sizeof what,
                 "%s; the pull request and the closed-PR gate are found again from the forge",
                 err.text);
        quarantine(ts, "forge.json", 0, what, NULL, 0);
        return;
    }
    struct cpgo_state_forge *f = &ts->forge;
    json_t *v;
    if (json_is_integer(v = json_object_get(o, "last_publish")))
        f->last_publish = json_integer_value(v);
    if (json_is_integer(v = json_object_get(o, "pr_number")) && json_integer_value(v) > 0)
        f->pr_number = (uint64_t)json_integer_value(v);
    if (json_is_string(v = json_object_get(o, "pr_url")))
        snprintf(f->pr_url, sizeof f->pr_url, "%s", json_string_value(v));
    if (json_is_integer(v = json_object_get(o, "closed_pr")) && json_integer_value(v) > 0)
        f->closed_pr = (uint64_t)json_integer_value(v);
    if (json_is_integer(v = json_object_get(o, "closed_scrapes")) && json_integer_value(v) >= 0)
        f->closed_scrapes = (uint64_t)json_integer_value(v);
    f->released = json_is_true(json_object_get(o, "released"));
    if (json_is_integer(v = json_object_get(o, "unmanaged_pr")) && json_integer_value(v) > 0)
        f->unmanaged_pr = (uint64_t)json_integer_value(v);
    if (json_is_string(v = json_object_get(o, "last_commit")))
        snprintf(f->last_commit, sizeof f->last_commit, "%s", json_string_value(v));
    if (json_is_string(v = json_object_get(o, "head_branch")))
        snprintf(f->head_branch, sizeof f->head_branch, "%s", json_string_value(v));
    json_decref(o);
}

void cpgo_state_forge_get(const struct cpgo_tstate *ts, struct cpgo_state_forge *out)
{
    *out = ts->forge;
}

int cpgo_state_forge_put(struct cpgo_tstate *ts, const struct cpgo_state_forge *f,
                         struct cpgo_err *err)
{
    if (!memcmp(&ts->forge, f, sizeof *f)) return 0;
    json_t *o = json_pack("{s:I, s:I, s:s, s:I, s:I, s:b, s:I, s:s, s:s}", "last_publish",
                          (json_int_t)f->last_publish, "pr_number", (json_int_t)f->pr_number,
                          "pr_url", f->pr_url, "closed_pr", (json_int_t)f->closed_pr,
                          "closed_scrapes", (json_int_t)f->closed_scrapes, "released", f->released,
                          "unmanaged_pr", (json_int_t)f->unmanaged_pr, "last_commit",
                          f->last_commit, "head_branch", f->head_branch);
    int rc =
        o ? write_json(ts, "forge.json", o, err) : cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    json_decref(o);
    if (!rc) ts->forge = *f;
    return rc;
}

static void rotation_name(const char *service, char *buf, size_t cap)
{
    uint64_t h = cpgo_hash_fnv1a(service, strlen(service), 1469598103934665603ULL);
    snprintf(buf, cap, "rotation-%016" PRIx64 ".json", h);
}

int cpgo_state_rotation_read(struct cpgo_tstate *ts, const char *service, char **text,
                             struct cpgo_err *err)
{
    char name[64];
    unsigned char *data;
    size_t len;
    *text = NULL;
    rotation_name(service, name, sizeof name);
    int rc = cpgo_file_read_at(ts->dirfd, name, 8u << 20, &data, &len, err);
    if (rc == CPGO_E_EMPTY) return 0;
    if (rc) {
        cpgo_err_prefix(err, "%s/%s", ts->dir, name);
        return -1;
    }
    char *t = realloc(data, len + 1);
    if (!t) {
        free(data);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    t[len] = 0;
    *text = t;
    return 0;
}

int cpgo_state_rotation_write(struct cpgo_tstate *ts, const char *service, const char *text,
                              struct cpgo_err *err)
{
    if (ts->ro) return 0;
    char name[64];
    rotation_name(service, name, sizeof name);
    int rc = cpgo_file_write_at(ts->dirfd, name, text, strlen(text), 0600, err);
    if (rc) cpgo_err_prefix(err, "%s", ts->dir);
    return rc;
}

size_t cpgo_state_pushed_blobs(const struct cpgo_tstate *ts, char (*out)[CPGO_STATE_BLOB_SIZE],
                               size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < ts->nsegs; i++)
        for (int k = 0; k < ts->segs[i].nblobs && n < cap; k++)
            memcpy(out[n++], ts->segs[i].blobs[k], CPGO_STATE_BLOB_SIZE);
    return n;
}

int cpgo_state_has_pending(const struct cpgo_tstate *ts)
{
    return ts->nsegs > 0 || pending_inputs(ts) > 0;
}

void cpgo_state_pending_meta(const struct cpgo_tstate *ts, struct cpgo_state_meta *out)
{
    struct meta m = {0};
    for (size_t i = 0; i < ts->nsegs; i++)
        state_meta_union(&m, &ts->segs[i].m);
    state_meta_union(&m, &ts->fresh);
    out->scrapes = m.scrapes;
    out->first = m.first;
    out->last = m.last;
    out->instances = m.ninst;
    state_meta_free(&m);
}

size_t cpgo_state_segments(const struct cpgo_tstate *ts)
{
    return ts->nsegs;
}

int cpgo_state_segment(const struct cpgo_tstate *ts, size_t i, uint64_t *upto, uint64_t *scrapes,
                       size_t *nblobs)
{
    if (i >= ts->nsegs) return -1;
    *upto = ts->segs[i].upto;
    *scrapes = ts->segs[i].m.scrapes;
    *nblobs = (size_t)ts->segs[i].nblobs;
    return 0;
}

int cpgo_state_fold_pending(struct cpgo_tstate *ts, struct cpgo_merger *dst, struct cpgo_err *err)
{
    char p[128];
    for (size_t i = 0; i < ts->nsegs; i++) {
        name_of(p, sizeof p, "seg-%" PRIu64 ".pb", ts->segs[i].upto);
        int rc = add_file(ts, p, dst, err);
        if (rc) return rc;
    }
    if (pending_inputs(ts) == 0) return 0;
    int rc = need_pending(ts, err);
    if (rc) return rc;
    return cpgo_merge_add_merger(dst, ts->pending, err);
}

/* Merges segments 0 and 1 into one (the boundary between them is forgotten, and with it
 * the blobs of segment 0: landing one of those could no longer be settled exactly). */
static int coalesce_first_two(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    struct cpgo_merger *m;
    if (cpgo_merge_new(&m, &ts->mo)) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    char p[128];
    int rc = 0;
    for (size_t i = 0; i < 2 && !rc; i++) {
        name_of(p, sizeof p, "seg-%" PRIu64 ".pb", ts->segs[i].upto);
        rc = add_file(ts, p, m, err);
    }
    struct cpgo_buf b = {0};
    if (!rc) rc = cpgo_merge_encode(m, 0, 1, &b, err);
    cpgo_merge_free(m);
    if (!rc) {
        name_of(p, sizeof p, "seg-%" PRIu64 ".pb", ts->segs[1].upto);
        rc = cpgo_file_write_at(ts->dirfd, p, b.data, b.len, 0600, err);
    }
    cpgo_buf_free(&b);
    if (rc) return rc;
    state_meta_union(&ts->segs[1].m, &ts->segs[0].m);
    name_of(p, sizeof p, "seg-%" PRIu64 ".pb", ts->segs[0].upto);
    state_meta_free(&ts->segs[0].m);
    memmove(ts->segs, ts->segs + 1, (ts->nsegs - 1) * sizeof *ts->segs);
    ts->nsegs--;
    rc = save_segments(ts, err);
    if (!rc) remove_file(ts, p);
    return rc;
}

int cpgo_state_push_begin(struct cpgo_tstate *ts, const char *blob, struct cpgo_err *err)
{
    if (ts->ro) return cpgo_err_set(err, CPGO_E_USAGE, "state opened read-only");
    if (strlen(blob) >= CPGO_STATE_BLOB_SIZE)
        return cpgo_err_set(err, CPGO_E_USAGE, "blob id too long");
    int rc0 = need_pending(ts, err);
    if (rc0) return rc0;
    if (cpgo_merge_count(ts->pending) == 0) {
        /* nothing new: this push holds the same entries as the last segment's pushes */
        if (ts->nsegs == 0) return 0;
        struct seg *g = &ts->segs[ts->nsegs - 1];
        for (int k = 0; k < g->nblobs; k++)
            if (!strcmp(g->blobs[k], blob)) return 0;
        char saved[CPGO_STATE_MAX_BLOBS][CPGO_STATE_BLOB_SIZE];
        int nsaved = g->nblobs;
        memcpy(saved, g->blobs, sizeof saved);
        if (g->nblobs == CPGO_STATE_MAX_BLOBS) {
            memmove(g->blobs, g->blobs + 1, sizeof g->blobs[0] * (CPGO_STATE_MAX_BLOBS - 1));
            g->nblobs--;
        }
        snprintf(g->blobs[g->nblobs++], CPGO_STATE_BLOB_SIZE, "%s", blob);
        int rc = save_segments(ts, err);
        if (rc) { /* not recorded: the push must not happen, and memory says so too */
            memcpy(g->blobs, saved, sizeof saved);
            g->nblobs = nsaved;
        }
        return rc;
    }
    /* close the fresh part into a new segment: its file first, then the record (the
     * commit point), then the journal and snapshots it replaces */
    uint64_t upto = ts->next_seq - 1;
    struct cpgo_buf b;
    int rc;
    /* only the newest boundaries matter (a push replaces the pull request's content, so an
     * older blob can land only in a race with the push after it): keep a few */
    if (ts->nsegs >= CPGO_STATE_MAX_SEGS - 1 && (rc = coalesce_first_two(ts, err))) {
        cpgo_err_prefix(err, "merging old segments");
        return rc;
    }
    if ((rc = cpgo_merge_encode(ts->pending, 0, 1, &b, err))) return rc;
    char p[128];
    name_of(p, sizeof p, "seg-%" PRIu64 ".pb", upto);
    rc = cpgo_file_write_at(ts->dirfd, p, b.data, b.len, 0600, err);
    cpgo_buf_free(&b);
    if (rc) return rc;
    struct seg *g = &ts->segs[ts->nsegs];
    memset(g, 0, sizeof *g);
    g->upto = upto;
    g->m = ts->fresh;
    memset(&ts->fresh, 0, sizeof ts->fresh);
    snprintf(g->blobs[0], CPGO_STATE_BLOB_SIZE, "%s", blob);
    g->nblobs = 1;
    ts->nsegs++;
    if ((rc = save_segments(ts, err))) {
        /* not recorded: the fresh part stays what it was */
        ts->nsegs--;
        ts->fresh = g->m;
        remove_file(ts, p);
        return rc;
    }
    state_journal_truncate(ts, 0);
    ts->journal_len = 0;
    ts->snapshot_seq = 0;
    prune(ts, upto, 0, 0);
    remove_file(ts, "pending.json");
    if (reset_pending(ts)) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    recount(ts);
    return 0;
}

int cpgo_state_settle(struct cpgo_tstate *ts, const char *blob, uint64_t *settled,
                      struct cpgo_err *err)
{
    *settled = 0;
    if (!blob || !*blob || ts->ro) return 0;
    size_t hit = 0;
    for (size_t i = 0; i < ts->nsegs; i++)
        for (int k = 0; k < ts->segs[i].nblobs; k++)
            if (!strcmp(ts->segs[i].blobs[k], blob)) hit = i + 1;
    if (!hit) return 0;
    uint64_t upto = ts->segs[hit - 1].upto, before = ts->published_seq;
    /* published.json first: segments at or below it are dropped when loaded, so a crash
     * before pushes.json is rewritten cannot count them again */
    ts->published_seq = upto;
    int rc = write_published(ts, err);
    if (rc) {
        ts->published_seq = before;
        return rc;
    }
    for (size_t i = 0; i < hit; i++)
        *settled += ts->segs[i].m.scrapes;
    drop_segments(ts, hit);
    return 0;
}

/* ---- a target's state: open, recover, ingest, snapshot, publish ---------------------- */

static int open_target(const char *state_dir, const char *target_id, const char *target_key,
                       const struct cpgo_merge_opts *mo, const struct cpgo_limits *lim, int ro,
                       struct cpgo_tstate **out, struct cpgo_err *err)
{
    *out = NULL;
    struct cpgo_tstate *ts = calloc(1, sizeof *ts);
    if (!ts) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    ts->dirfd = -1;
    ts->ro = ro;
    size_t n = strlen(state_dir) + strlen(target_id) + 32;
    ts->dir = malloc(n);
    if (!ts->dir) {
        free(ts);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    snprintf(ts->dir, n, "%s/targets/%s", state_dir, target_id);
    ts->mo = *mo;
    ts->lim = *lim;
    int rc = 0;
    char rel[256];
    snprintf(rel, sizeof rel, "targets/%s", target_id);
    if (!ro && cpgo_state_mkdir_p(state_dir, 0700) && errno != EEXIST) {
        rc = cpgo_err_set(err, CPGO_E_IO, "cannot create state directory %s: %s", state_dir,
                          strerror(errno));
        goto fail;
    }
    int sfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0) {
        rc = cpgo_err_set(err, errno == ENOENT ? CPGO_E_EMPTY : CPGO_E_IO,
                          "cannot open state directory %s: %s", state_dir, strerror(errno));
        goto fail;
    }
    if (ro) {
        int tfd = cpgo_file_opendir(sfd, "targets", err);
        ts->dirfd = tfd < 0 ? tfd : cpgo_file_opendir(tfd, target_id, err);
        if (tfd >= 0) close(tfd);
    } else {
        ts->dirfd = cpgo_file_mkdirs_at(sfd, rel, 0700, err);
    }
    close(sfd);
    if (ts->dirfd < 0) {
        rc = ts->dirfd;
        ts->dirfd = -1;
        cpgo_err_prefix(err, "target state %s", ts->dir);
        goto fail;
    }
    if (!ro && target_key) {
        unsigned char *known = NULL;
        size_t known_len = 0;
        struct cpgo_err ignore;
        cpgo_file_read_at(ts->dirfd, "target", 65536, &known, &known_len, &ignore);
        /* written once: a start with a thousand targets should not cost a thousand fsyncs */
        if (!known || known_len != strlen(target_key) || memcmp(known, target_key, known_len)) {
            rc = cpgo_file_write_at(ts->dirfd, "target", target_key, strlen(target_key), 0600, err);
            if (rc) cpgo_err_prefix(err, "%s", ts->dir);
        }
        free(known);
        if (rc) goto fail;
    }
    if ((rc = reset_pending(ts))) {
        cpgo_err_set(err, rc, "out of memory");
        goto fail;
    }
    /* problems found before and not yet acknowledged stay */
    json_t *pj;
    struct cpgo_err pe;
    if (load_json(ts, "problems.json", &pj, &pe) == 0) {
        json_t *arr = json_object_get(pj, "problems");
        if (json_is_array(arr)) ts->problems = json_incref(arr);
        json_decref(pj);
    }
    remove_stale_temps(ts);
    uint64_t recovered = recover_publishing(ts);
    {
        uint64_t seq;
        struct cpgo_err e;
        int r = read_json_seq(ts, "published.json", "upto_seq", &seq, NULL, &e);
        if (r == 0)
            ts->published_seq = seq;
        else if (r != CPGO_E_EMPTY)
            quarantine(ts, "published.json", 1,
                       "published.json (what the output already holds) is damaged: entries "
                       "that were published may be counted again; publishing is held",
                       NULL, 0);
    }
    if (recovered > ts->published_seq) {
        /* the output holds them: published, whether or not the record can be written now */
        ts->published_seq = recovered;
        struct cpgo_err e;
        if (ts->ro || write_published(ts, &e)) ts->published_dirty = !ts->ro;
    }
    load_segments(ts);
    load_forge(ts);
    /* the fresh part starts after what was published and what was pushed */
    uint64_t floor = ts->published_seq;
    if (ts->nsegs && ts->segs[ts->nsegs - 1].upto > floor) floor = ts->segs[ts->nsegs - 1].upto;

    uint64_t *seqs;
    size_t ns;
    char p[128];
    ts->next_seq = floor + 1;
    /* newest snapshot newer than that */
    if (list_seqs(ts, "pending-", ".pb", &seqs, &ns) == 0) {
        for (size_t i = ns; i-- > 0;) {
            if (seqs[i] <= floor) break;
            name_of(p, sizeof p, "pending-%" PRIu64 ".pb", seqs[i]);
            struct cpgo_err e;
            if (add_file(ts, p, ts->pending, &e) == 0) {
                ts->snapshot_seq = seqs[i];
                break;
            }
            /* a damaged snapshot: the scrapes it held are gone from the journal (it was
             * cut when the snapshot was written). Never silently: moved aside, reported;
             * the older snapshot and the journal give what can still be had. */
            char what[1024];
            snprintf(what, sizeof what,
                     "snapshot %s (pending scrapes up to sequence %" PRIu64
                     ") is damaged: %s; the scrapes only it held are missing",
                     p, seqs[i], e.text);
            quarantine(ts, p, 0, what, NULL, 0);
            reset_pending(ts);
        }
        free(seqs);
    }
    /* The snapshot records how many scrapes it holds (and their window and instances) in a
     * sidecar; absent -> count inputs. */
    ts->fresh.scrapes = cpgo_merge_count(ts->pending);
    uint64_t counted;
    json_t *meta = NULL;
    struct cpgo_err me;
    if (ts->snapshot_seq && read_json_seq(ts, "pending.json", "seq", &counted, &meta, &me) == 0) {
        if (counted == ts->snapshot_seq) state_meta_from_json(&ts->fresh, meta);
        json_decref(meta);
    }
    uint64_t base = ts->snapshot_seq > floor ? ts->snapshot_seq : floor;
    if (base + 1 > ts->next_seq) ts->next_seq = base + 1;
    int damaged = 0;
    char first[300] = "";
    state_journal_replay(ts, base, &damaged, first, sizeof first);
    if (damaged < 0) { /* not even opened (a FIFO, no permission): reported, left alone */
        state_add_problem(ts, JOURNAL, 0, first);
        damaged = 0;
    }
    if (damaged && ts->ro) {
        char what[700];
        snprintf(what, sizeof what,
                 "%s (%d damaged stretch(es) in all; the records around them are kept)", first,
                 damaged);
        state_add_problem(ts, JOURNAL, 0, what);
    }
    if (damaged && !ts->ro) {
        /* keep the damaged journal for a person and continue from a snapshot of what was
         * read: the journal is moved aside first, so a failed snapshot moves it back */
        char aside[512], stamp[32];
        utc_stamp(stamp, sizeof stamp, time(NULL));
        snprintf(aside, sizeof aside, JOURNAL ".corrupt-%s", stamp);
        if (renameat(ts->dirfd, JOURNAL, ts->dirfd, aside) == 0) {
            ts->journal_end = 0;
            struct cpgo_err e;
            if (ts->journal_len == 0 || cpgo_state_snapshot(ts, &e) == 0) {
                char what[1024];
                snprintf(what, sizeof what,
                         "%s (%d damaged stretch(es) in all; the records around them are "
                         "kept); the journal was moved aside to %s",
                         first, damaged, aside);
                state_add_problem(ts, aside, 0, what);
                first[0] = 0;
            } else if (renameat(ts->dirfd, aside, ts->dirfd, JOURNAL) == 0) {
                struct stat st;
                ts->journal_end = fstatat(ts->dirfd, JOURNAL, &st, 0) == 0 ? st.st_size : 0;
            }
        }
        if (first[0]) { /* not moved aside: reported all the same */
            char what[700];
            snprintf(what, sizeof what,
                     "%s (%d damaged stretch(es) in all; the journal could not be moved aside)",
                     first, damaged);
            state_add_problem(ts, JOURNAL, 0, what);
        }
    }
    prune(ts, base, ts->snapshot_seq, 0);
    /* segment files no record names (a crash before pushes.json was written) */
    if (!ts->ro && list_seqs(ts, "seg-", ".pb", &seqs, &ns) == 0) {
        for (size_t i = 0; i < ns; i++) {
            int named = 0;
            for (size_t k = 0; k < ts->nsegs; k++)
                named |= ts->segs[k].upto == seqs[i];
            if (named) continue;
            name_of(p, sizeof p, "seg-%" PRIu64 ".pb", seqs[i]);
            remove_file(ts, p);
        }
        free(seqs);
    }
    recount(ts);
    *out = ts;
    return 0;
fail:
    cpgo_state_close(ts);
    return rc;
}

int cpgo_state_open(const char *state_dir, const char *target_id, const char *target_key,
                    const struct cpgo_merge_opts *mo, const struct cpgo_limits *lim,
                    struct cpgo_tstate **out, struct cpgo_err *err)
{
    return open_target(state_dir, target_id, target_key, mo, lim, 0, out, err);
}

int cpgo_state_open_ro(const char *state_dir, const char *target_id,
                       const struct cpgo_merge_opts *mo, const struct cpgo_limits *lim,
                       struct cpgo_tstate **out, struct cpgo_err *err)
{
    return open_target(state_dir, target_id, NULL, mo, lim, 1, out, err);
}

void cpgo_state_close(struct cpgo_tstate *ts)
{
    if (!ts) return;
    cpgo_merge_free(ts->pending);
    ts->pending = NULL;
    state_meta_free(&ts->fresh);
    account(ts); /* gives back what it counted */
    for (size_t i = 0; i < ts->nsegs; i++)
        state_meta_free(&ts->segs[i].m);
    json_decref(ts->problems);
    if (ts->dirfd >= 0) close(ts->dirfd);
    free(ts->dir);
    free(ts);
}

size_t cpgo_state_problem_count(const struct cpgo_tstate *ts)
{
    return ts->problems ? json_array_size(ts->problems) : 0;
}

const char *cpgo_state_problem(const struct cpgo_tstate *ts, size_t i, int *hold)
{
    json_t *p = ts->problems ? json_array_get(ts->problems, i) : NULL;
    if (hold) *hold = json_is_true(json_object_get(p, "hold"));
    const char *w = json_string_value(json_object_get(p, "what"));
    return w ? w : "";
}

int cpgo_state_held(const struct cpgo_tstate *ts)
{
    for (size_t i = 0; i < cpgo_state_problem_count(ts); i++) {
        int hold;
        cpgo_state_problem(ts, i, &hold);
        if (hold) return 1;
    }
    return 0;
}

uint64_t cpgo_state_corrupt_records(const struct cpgo_tstate *ts)
{
    return ts->corrupt_records;
}

uint64_t cpgo_state_published_seq(const struct cpgo_tstate *ts)
{
    return ts->published_seq;
}

int cpgo_state_ack(const char *state_dir, const char *target_id, size_t *cleared,
                   struct cpgo_err *err)
{
    *cleared = 0;
    char rel[256];
    snprintf(rel, sizeof rel, "%s/targets/%s", state_dir, target_id);
    int sfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0)
        return cpgo_err_set(err, CPGO_E_IO, "cannot open state directory %s: %s", state_dir,
                            strerror(errno));
    int tfd = cpgo_file_opendir(sfd, "targets", err);
    int dfd = tfd < 0 ? tfd : cpgo_file_opendir(tfd, target_id, err);
    if (tfd >= 0) close(tfd);
    close(sfd);
    if (dfd < 0) {
        cpgo_err_prefix(err, "%s", rel);
        return dfd;
    }
    struct cpgo_tstate ts = {.dir = rel, .dirfd = dfd};
    json_t *pj;
    int rc = load_json(&ts, "problems.json", &pj, err);
    if (rc == CPGO_E_EMPTY) {
        close(dfd);
        return 0;
    }
    if (rc == 0) {
        *cleared = json_array_size(json_object_get(pj, "problems"));
        json_decref(pj);
    }
    /* the record of what was acknowledged is kept beside the moved-aside files */
    char stamp[32], done[64];
    utc_stamp(stamp, sizeof stamp, time(NULL));
    snprintf(done, sizeof done, "problems.json.acked-%s", stamp);
    if (renameat(dfd, "problems.json", dfd, done)) {
        rc = cpgo_err_set(err, CPGO_E_IO, "cannot move %s/problems.json: %s", rel, strerror(errno));
    } else {
        rc = 0;
        fsync(dfd);
    }
    close(dfd);
    return rc;
}

int cpgo_state_ingest(struct cpgo_tstate *ts, const void *body, size_t len,
                      const struct cpgo_profile *p, const char *instance, int64_t when,
                      struct cpgo_err *err)
{
    return cpgo_state_ingest_weighted(ts, body, len, p, instance, when, CPGO_STATE_WEIGHT_ONE, err);
}

int cpgo_state_ingest_weighted(struct cpgo_tstate *ts, const void *body, size_t len,
                               const struct cpgo_profile *p, const char *instance, int64_t when,
                               uint64_t weight_ppm, struct cpgo_err *err)
{
    struct cpgo_state_rec r = {.body = body,
                               .len = len,
                               .p = p,
                               .instance = instance,
                               .when = when,
                               .weight_ppm = weight_ppm};
    cpgo_state_ingest_batch(ts, &r, 1);
    if (r.rc) *err = r.err;
    return r.rc;
}

static void fail_rec(struct cpgo_state_rec *r, unsigned char *todo, const struct cpgo_err *err,
                     int rc)
{
    *todo = 0;
    r->rc = rc;
    r->err = *err;
}

/* One pass of group commit over recs[0..n) (n <= CPGO_STATE_BATCH_MAX) whose rc is still
 * unset (todo[i]): write each record unsynced, one fdatasync, then merge in order. Returns
 * how many leading records are settled (accepted or failed); a merge refusal settles the
 * refused one and cuts the journal back to its start, so the records after it (synced,
 * never merged nor acknowledged) are cut too and written again by the next pass. */
static size_t ingest_pass(struct cpgo_tstate *ts, struct cpgo_state_rec *r, size_t n,
                          unsigned char *todo)
{
    struct cpgo_err err;
    off_t off[CPGO_STATE_BATCH_MAX];
    int fd = state_journal_open_append(ts, &err);
    if (fd < 0) {
        for (size_t i = 0; i < n; i++)
            if (todo[i]) fail_rec(&r[i], &todo[i], &err, fd);
        return n;
    }
    off_t synced = ts->journal_end;
    uint64_t seq = ts->next_seq;
    size_t end = n, written = 0;
    int wrc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!todo[i]) continue;
        off[i] = ts->journal_end;
        wrc = state_journal_write(ts, fd, seq, r[i].body, r[i].len, r[i].when,
                                  state_inst_hash(r[i].instance), r[i].weight_ppm, &err);
        if (wrc) {
            end = i; /* this one and the rest fail with the write's error */
            break;
        }
        seq++;
        written++;
    }
    struct cpgo_err serr;
    int src = written ? state_journal_sync(ts, fd, synced, &serr) : 0;
    close(fd);
    for (size_t i = end; i < n; i++)
        if (todo[i]) fail_rec(&r[i], &todo[i], &err, wrc);
    if (src) {
        for (size_t i = 0; i < end; i++)
            if (todo[i]) fail_rec(&r[i], &todo[i], &serr, src);
        return n;
    }
    /* synced: every record before `end` is in the journal; merge them in journal order */
    for (size_t i = 0; i < end; i++) {
        if (!todo[i]) continue;
        const struct cpgo_state_rec *c = &r[i];
        int rc = cpgo_merge_add_scaled(
            ts->pending, c->p,
            (struct cpgo_scale){
                c->weight_ppm, CPGO_STATE_WEIGHT_ONE, 0,
                c->weight_ppm == CPGO_STATE_WEIGHT_ONE ? 0 : state_weight_seed(c->body, c->len)},
            &err);
        if (rc) {
            /* refused (the merger is as it was): cut its record and the unmerged ones after
             * it; if the cut fails, journal_end makes the next open cut, and recovery meets
             * the same refusal and skips the record meanwhile */
            fail_rec(&r[i], &todo[i], &err, rc);
            ts->journal_end = off[i];
            state_journal_truncate(ts, off[i]);
            return i + 1;
        }
        todo[i] = 0;
        r[i].rc = 0;
        uint64_t inst = state_inst_hash(c->instance);
        ts->next_seq++;
        ts->journal_len++;
        state_meta_add(&ts->fresh, 1, c->when, c->when);
        if (inst) state_meta_add_inst(&ts->fresh, inst);
        ts->pending_scrapes++;
    }
    return n;
}

void cpgo_state_ingest_batch(struct cpgo_tstate *ts, struct cpgo_state_rec *recs, size_t n)
{
    while (n) {
        size_t m = n < CPGO_STATE_BATCH_MAX ? n : CPGO_STATE_BATCH_MAX;
        unsigned char todo[CPGO_STATE_BATCH_MAX];
        for (size_t i = 0; i < m; i++) {
            struct cpgo_state_rec *r = &recs[i];
            todo[i] = 0;
            r->rc = 0;
            r->err.text[0] = 0;
            if (r->weight_ppm == 0)
                r->rc = cpgo_err_set(&r->err, CPGO_E_USAGE,
                                     "a scrape's weight must be greater than zero");
            else if (ts->ro)
                r->rc = cpgo_err_set(&r->err, CPGO_E_USAGE, "state opened read-only");
            else if (!r->p)
                r->rc = cpgo_err_set(&r->err, CPGO_E_USAGE, "no profile to ingest");
            else
                todo[i] = 1;
        }
        /* A spilled merger comes back first (limits.max_pending_memory): if it cannot, no
         * record is written, so none is half accepted. */
        struct cpgo_err perr;
        int prc = 0;
        for (size_t i = 0; i < m && !prc; i++)
            if (todo[i]) prc = need_pending(ts, &perr);
        if (prc)
            for (size_t i = 0; i < m; i++)
                if (todo[i]) fail_rec(&recs[i], &todo[i], &perr, prc);
        /* Journal first, merge second, as for one scrape: a record is merged only once it
         * is synced, and a synced record is merged before anything else can see pending (the
         * lane runs one job at a time). */
        size_t from = 0;
        while (from < m)
            from += ingest_pass(ts, recs + from, m - from, todo + from);
        account(ts);
        recs += m;
        n -= m;
    }
}

uint64_t cpgo_state_journal_syncs(const struct cpgo_tstate *ts)
{
    return ts->journal_syncs;
}

int cpgo_state_snapshot(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    if (ts->journal_len == 0 || ts->ro || !ts->pending) return 0;
    uint64_t seq = ts->next_seq - 1;
    struct cpgo_buf b;
    int rc = cpgo_merge_encode(ts->pending, 1, 1, &b, err); /* raw: state.h */
    if (rc) return rc;
    char p[128];
    name_of(p, sizeof p, "pending-%" PRIu64 ".pb", seq);
    rc = cpgo_file_write_at(ts->dirfd, p, b.data, b.len, 0600, err);
    cpgo_buf_free(&b);
    if (rc) return rc;
    json_t *meta = state_meta_json(&ts->fresh);
    if (meta) json_object_set_new(meta, "seq", json_integer((json_int_t)seq));
    struct cpgo_err e;
    if (meta) write_json(ts, "pending.json", meta, &e); /* a sidecar: counts only */
    json_decref(meta);
    ts->snapshot_seq = seq;
    ts->journal_len = 0;
    prune(ts, seq, seq, 1);
    return 0;
}

size_t cpgo_state_journal_len(const struct cpgo_tstate *ts)
{
    return ts->journal_len;
}

struct cpgo_merger *cpgo_state_pending(struct cpgo_tstate *ts)
{
    struct cpgo_err e;
    if (need_pending(ts, &e)) {
        cpgo_log(CPGO_LVL_ERROR, "cannot load the pending merge back", "state", ts->dir, "error",
                 e.text, NULL);
        return NULL;
    }
    return ts->pending;
}

uint64_t cpgo_state_pending_scrapes(const struct cpgo_tstate *ts)
{
    return ts->pending_scrapes;
}

/* Publishing (--output). Every failure point ends as "published" or "not published":
 *   publish_begin   publishing.json = {upto, path, size, hash}   fails -> not published
 *   (caller)        the output is replaced atomically            fails -> abort: the output
 *                                                                 tells which (its hash)
 *   publish_commit  published.json = upto                        fails -> published: the
 *                   output has it; publishing.json stays as the proof, and published.json is
 *                   written again before the next publish may begin (or at the next start)
 */
int cpgo_state_publish_begin(struct cpgo_tstate *ts, const char *path, const void *data, size_t len,
                             struct cpgo_err *err)
{
    if (ts->ro) return cpgo_err_set(err, CPGO_E_USAGE, "state opened read-only");
    int rc;
    /* an earlier publish's record first: its intent must not be overwritten before */
    if (ts->published_dirty && (rc = write_published(ts, err))) {
        cpgo_err_prefix(err, "recording the last publish");
        return rc;
    }
    uint64_t seq = ts->next_seq - 1;
    char h[32];
    output_hash(data, len, h, sizeof h);
    json_t *o = json_pack("{s:I, s:s, s:I, s:s}", "upto_seq", (json_int_t)seq, "path", path, "size",
                          (json_int_t)len, "hash", h);
    if (!o) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    rc = write_json(ts, "publishing.json", o, err);
    json_decref(o);
    if (rc) return rc;
    ts->publishing_seq = seq;
    snprintf(ts->pub_path, sizeof ts->pub_path, "%s", path);
    snprintf(ts->pub_hash, sizeof ts->pub_hash, "%s", h);
    ts->pub_size = len;
    return 0;
}

/* The output holds everything <= publishing_seq: pending is published, in memory now and
 * on disk as soon as published.json can be written. */
static void mark_published(struct cpgo_tstate *ts)
{
    uint64_t seq = ts->publishing_seq;
    ts->published_seq = seq;
    ts->publishing_seq = 0;
    ts->journal_len = 0;
    ts->snapshot_seq = 0;
    drop_segments(ts, ts->nsegs);
    reset_pending(ts);
    recount(ts);
}

int cpgo_state_publish_commit(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    uint64_t seq = ts->publishing_seq;
    ts->published_seq = seq;
    int rc = write_published(ts, err);
    if (rc) {
        /* the output was replaced: published all the same. The intent (publishing.json)
         * proves it to the next start; the record is written before the next publish. */
        ts->published_dirty = 1;
        cpgo_err_prefix(err, "published, but not yet recorded (retried before the next "
                             "publish; the output proves it meanwhile)");
    }
    mark_published(ts);
    if (!rc) {
        prune(ts, seq, 0, 1);
        remove_file(ts, "pending.json");
    }
    return rc;
}

void cpgo_state_publish_abort(struct cpgo_tstate *ts)
{
    if (!ts->publishing_seq) return;
    /* the write failed, but perhaps after its rename (a failed directory sync): the output
     * tells which */
    if (output_matches(ts->pub_path, ts->pub_size, ts->pub_hash)) {
        struct cpgo_err e;
        cpgo_state_publish_commit(ts, &e);
        return;
    }
    remove_file(ts, "publishing.json");
    ts->publishing_seq = 0;
}
