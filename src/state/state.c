/* state.c - see state.h for the layout and the exactly-once protocol. */
#include "state/state.h"

#include "base/hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

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
    char *dir;
    struct cpgo_merge_opts mo;
    struct cpgo_limits lim;
    struct cpgo_merger *pending; /* the fresh part: entries after the last segment */
    struct meta fresh;
    uint64_t next_seq;      /* the seq the next journal entry gets */
    uint64_t published_seq; /* everything <= this is published */
    uint64_t snapshot_seq;  /* the newest snapshot covers entries <= this */
    uint64_t pending_scrapes; /* fresh + segments */
    size_t journal_len;
    uint64_t publishing_seq; /* != 0 between publish_begin and commit/abort */
    struct seg segs[CPGO_STATE_MAX_SEGS + 1];
    size_t nsegs;
    struct cpgo_state_forge forge;
};

static void meta_free(struct meta *m)
{
    free(m->inst);
    memset(m, 0, sizeof *m);
}

static void meta_add_inst(struct meta *m, uint64_t h)
{
    size_t lo = 0, hi = m->ninst;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->inst[mid] < h) lo = mid + 1;
        else hi = mid;
    }
    if (lo < m->ninst && m->inst[lo] == h) return;
    if (m->ninst >= CPGO_STATE_MAX_INSTANCES) return;
    if (m->ninst == m->capinst) {
        size_t nc = m->capinst ? m->capinst * 2 : 8;
        uint64_t *n = realloc(m->inst, nc * sizeof *n);
        if (!n) return; /* a count that stops growing, not a failure */
        m->inst = n;
        m->capinst = nc;
    }
    memmove(m->inst + lo + 1, m->inst + lo, (m->ninst - lo) * sizeof *m->inst);
    m->inst[lo] = h;
    m->ninst++;
}

static void meta_add(struct meta *m, uint64_t scrapes, int64_t first, int64_t last)
{
    if (first && (!m->first || first < m->first)) m->first = first;
    if (last > m->last) m->last = last;
    m->scrapes += scrapes;
}

static void meta_union(struct meta *dst, const struct meta *src)
{
    meta_add(dst, src->scrapes, src->first, src->last);
    for (size_t i = 0; i < src->ninst; i++) meta_add_inst(dst, src->inst[i]);
}

int cpgo_state_mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, mode) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) && errno != EEXIST) return -1;
    return 0;
}

static int fsync_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int cpgo_state_write_file(const char *path, const void *data, size_t len, struct cpgo_err *err)
{
    char tmp[4200], dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (cpgo_state_mkdir_p(dir, 0755))
            return cpgo_err_set(err, CPGO_E_IO, "cannot create directory %s: %s", dir,
                                strerror(errno));
    }
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return cpgo_err_set(err, CPGO_E_IO, "cannot create %s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return cpgo_err_set(err, CPGO_E_IO, "cannot write %s: %s", tmp, strerror(e));
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) || close(fd)) {
        int e = errno;
        unlink(tmp);
        return cpgo_err_set(err, CPGO_E_IO, "cannot sync %s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return cpgo_err_set(err, CPGO_E_IO, "cannot rename %s: %s", path, strerror(e));
    }
    fsync_dir(path);
    return 0;
}

int cpgo_state_read_file(const char *path, size_t max, unsigned char **data, size_t *len,
                         struct cpgo_err *err)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return cpgo_err_set(err, CPGO_E_EMPTY, "%s does not exist", path);
        return cpgo_err_set(err, CPGO_E_IO, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return cpgo_err_set(err, CPGO_E_INPUT, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return cpgo_err_set(err, CPGO_E_LIMIT, "%s is %lld bytes, more than the limit of %zu",
                            path, (long long)st.st_size, max);
    }
    size_t cap = (size_t)st.st_size, n = 0;
    unsigned char *b = malloc(cap + 1);
    if (!b) {
        close(fd);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory reading %s", path);
    }
    while (n < cap) {
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    *data = b;
    *len = n;
    return 0;
}

static void path_of(const struct cpgo_tstate *ts, char *buf, size_t cap, const char *fmt,
                    uint64_t seq)
{
    int n = snprintf(buf, cap, "%s/", ts->dir);
    snprintf(buf + n, cap - (size_t)n, fmt, seq);
}

static int read_json_seq(const char *path, const char *key, uint64_t *seq, json_t **out)
{
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (!o) return -1;
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        json_decref(o);
        return -1;
    }
    *seq = (uint64_t)json_integer_value(v);
    if (out) *out = o;
    else json_decref(o);
    return 0;
}

static int write_json(const char *path, json_t *o, struct cpgo_err *err)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    int rc = cpgo_state_write_file(path, s, strlen(s), err);
    free(s);
    return rc;
}

/* Lists numbered files "<prefix><seq><suffix>" in dir, ascending. */
static int list_seqs(const char *dir, const char *prefix, const char *suffix, uint64_t **out,
                     size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -1;
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

/* Folds the profile stored at path (a snapshot or a segment) into m. */
static int add_file(struct cpgo_tstate *ts, const char *path, struct cpgo_merger *m,
                    struct cpgo_err *err)
{
    unsigned char *data;
    size_t len;
    int rc = cpgo_state_read_file(path, SNAPSHOT_MAX, &data, &len, err);
    if (rc) return rc;
    struct cpgo_profile *p = NULL;
    struct cpgo_limits lim = ts->lim;
    lim.max_compressed = lim.max_decompressed = SNAPSHOT_MAX;
    rc = cpgo_profile_decode(data, len, &lim, &p, err);
    free(data);
    if (!rc) rc = cpgo_merge_add(m, p, err);
    cpgo_profile_free(p);
    if (rc) cpgo_err_prefix(err, "%s", path);
    return rc;
}

static int reset_pending(struct cpgo_tstate *ts)
{
    struct cpgo_merger *m;
    if (cpgo_merge_new(&m, &ts->mo)) return CPGO_E_NOMEM;
    cpgo_merge_free(ts->pending);
    ts->pending = m;
    meta_free(&ts->fresh);
    return 0;
}

static void recount(struct cpgo_tstate *ts)
{
    uint64_t n = ts->fresh.scrapes;
    for (size_t i = 0; i < ts->nsegs; i++) n += ts->segs[i].m.scrapes;
    ts->pending_scrapes = n;
}

static json_t *meta_json(const struct meta *m)
{
    json_t *inst = json_array();
    for (size_t i = 0; i < m->ninst; i++) {
        char h[20];
        snprintf(h, sizeof h, "%016" PRIx64, m->inst[i]);
        json_array_append_new(inst, json_string(h));
    }
    return json_pack("{s:I, s:I, s:I, s:o}", "scrapes", (json_int_t)m->scrapes, "first",
                     (json_int_t)m->first, "last", (json_int_t)m->last, "instances", inst);
}

static void meta_from_json(struct meta *m, json_t *o)
{
    meta_free(m);
    json_t *v;
    if (json_is_integer(v = json_object_get(o, "scrapes")) && json_integer_value(v) >= 0)
        m->scrapes = (uint64_t)json_integer_value(v);
    if (json_is_integer(v = json_object_get(o, "first"))) m->first = json_integer_value(v);
    if (json_is_integer(v = json_object_get(o, "last"))) m->last = json_integer_value(v);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "instances"), i, e)
    {
        const char *h = json_string_value(e);
        if (h) meta_add_inst(m, strtoull(h, NULL, 16));
    }
}

/* ---- the journal: one append-only file of records ------------------------------------
 * record = "CPGK" | seq (u64 le) | len (u32 le) | crc32 (u32 le) | when (i64 le, seconds)
 *          | instance (u64 le, hash of the backend name) | body,
 * the CRC covering when, instance and body. ("CPGJ" records, without when and instance,
 * are still read.) Appending needs no new inode per scrape (creating and deleting
 * thousands of small files is what ext4 charges most for); a record torn by a crash fails
 * its length or CRC check and is cut off at recovery. */
#define JHDR_OLD 20
#define JHDR 36

static uint64_t inst_hash(const char *name)
{
    return name ? cpgo_hash_fnv1a(name, strlen(name), CPGO_FNV1A_INIT) : 0;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

static void journal_path(const struct cpgo_tstate *ts, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/journal.log", ts->dir);
}

/* Appends one record and syncs its data. *old_size gets the size before (to undo). */
static int journal_append(struct cpgo_tstate *ts, uint64_t seq, const void *body, size_t len,
                          int64_t when, uint64_t inst, off_t *old_size, struct cpgo_err *err)
{
    char p[4300];
    journal_path(ts, p, sizeof p);
    if (len > UINT32_MAX) return cpgo_err_set(err, CPGO_E_LIMIT, "scrape too large to journal");
    int fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return cpgo_err_set(err, CPGO_E_IO, "cannot open %s: %s", p, strerror(errno));
    struct stat st;
    if (fstat(fd, &st)) {
        close(fd);
        return cpgo_err_set(err, CPGO_E_IO, "cannot stat %s: %s", p, strerror(errno));
    }
    *old_size = st.st_size;
    unsigned char hdr[JHDR];
    memcpy(hdr, "CPGK", 4);
    put_le(hdr + 4, seq, 8);
    put_le(hdr + 12, len, 4);
    put_le(hdr + 20, (uint64_t)when, 8);
    put_le(hdr + 28, inst, 8);
    put_le(hdr + 16, crc32(crc32(0L, hdr + 20, 16), body, (uInt)len), 4);
    struct iovec iov[2] = {{hdr, JHDR}, {(void *)body, len}};
    size_t want = JHDR + len, done = 0;
    while (done < want) {
        ssize_t n = writev(fd, iov, 2);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
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
    if (done < want || fdatasync(fd)) {
        int e = errno;
        if (ftruncate(fd, *old_size)) { /* best effort: recovery cuts a torn tail anyway */
        }
        close(fd);
        return cpgo_err_set(err, CPGO_E_IO, "cannot append to %s: %s", p, strerror(e));
    }
    close(fd);
    return 0;
}

static void journal_truncate(struct cpgo_tstate *ts, off_t size)
{
    char p[4300];
    journal_path(ts, p, sizeof p);
    if (truncate(p, size) && errno != ENOENT) {
        /* nothing sensible to do: recovery skips records <= the recorded seqs */
    }
}

/* Replays records with seq > base into pending; cuts a torn or corrupt tail. */
static void journal_replay(struct cpgo_tstate *ts, uint64_t base)
{
    char p[4300];
    journal_path(ts, p, sizeof p);
    int fd = open(p, O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    off_t off = 0;
    unsigned char hdr[JHDR];
    unsigned char *body = NULL;
    for (;;) {
        ssize_t n = pread(fd, hdr, JHDR, off);
        if (n == 0) break;
        int old = n >= 4 && !memcmp(hdr, "CPGJ", 4);
        size_t hl = old ? JHDR_OLD : JHDR;
        uint64_t seq = get_le(hdr + 4, 8);
        size_t len = (size_t)get_le(hdr + 12, 4);
        uint32_t crc = (uint32_t)get_le(hdr + 16, 4);
        int64_t when = old ? 0 : (int64_t)get_le(hdr + 20, 8);
        uint64_t inst = old ? 0 : get_le(hdr + 28, 8);
        int good = n >= (ssize_t)hl && (old || !memcmp(hdr, "CPGK", 4)) &&
                   len <= ts->lim.max_compressed;
        unsigned char *nb = good ? realloc(body, len ? len : 1) : NULL;
        if (nb) body = nb;
        good = good && nb && pread(fd, body, len, off + (off_t)hl) == (ssize_t)len &&
               crc32(old ? 0L : crc32(0L, hdr + 20, 16), body, (uInt)len) == crc;
        if (!good) {
            /* a record torn by a crash (or damage): everything from here was never synced
             * as a whole, so it was never accepted */
            if (ftruncate(fd, off)) {
            }
            break;
        }
        if (seq >= ts->next_seq) ts->next_seq = seq + 1;
        if (seq > base) {
            struct cpgo_profile *prof = NULL;
            struct cpgo_err e;
            if (cpgo_profile_decode(body, len, &ts->lim, &prof, &e) == 0 &&
                cpgo_merge_add(ts->pending, prof, &e) == 0) {
                ts->journal_len++;
                meta_add(&ts->fresh, 1, when, when);
                if (inst) meta_add_inst(&ts->fresh, inst);
            }
            /* a record that does not merge was refused when it was written */
            cpgo_profile_free(prof);
        }
        off += (off_t)hl + (off_t)len;
    }
    free(body);
    close(fd);
}

/* Deletes snapshots that are covered (<= upto) except keep_snapshot; with truncate_journal,
 * empties the journal too (the caller has made everything in it durable elsewhere). */
static void prune(struct cpgo_tstate *ts, uint64_t upto, uint64_t keep_snapshot,
                  int truncate_journal)
{
    char p[4300];
    uint64_t *seqs;
    size_t n;
    if (truncate_journal) journal_truncate(ts, 0);
    if (list_seqs(ts->dir, "pending-", ".pb", &seqs, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (seqs[i] == keep_snapshot) continue;
            if (seqs[i] <= upto || seqs[i] < keep_snapshot) {
                snprintf(p, sizeof p, "%s/pending-%" PRIu64 ".pb", ts->dir, seqs[i]);
                unlink(p);
            }
        }
        free(seqs);
    }
}

/* Removes temp files a killed process left behind (a write that never reached its rename:
 * by the protocol, never accepted). Only this target's lane writes in dir. */
static void remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[4400];
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
}

void cpgo_state_remove_stale_temps(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
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

/* Settles a publish that was in progress when the process died. */
static void recover_publishing(struct cpgo_tstate *ts)
{
    char p[4300];
    path_of(ts, p, sizeof p, "publishing.json", 0);
    uint64_t seq;
    json_t *o = NULL;
    if (read_json_seq(p, "upto_seq", &seq, &o)) {
        unlink(p);
        return;
    }
    const char *out = json_string_value(json_object_get(o, "path"));
    const char *hash = json_string_value(json_object_get(o, "hash"));
    json_int_t size = json_integer_value(json_object_get(o, "size"));
    int done = 0;
    if (out && hash) {
        unsigned char *data;
        size_t len;
        struct cpgo_err e;
        if (cpgo_state_read_file(out, (size_t)size + 1, &data, &len, &e) == 0) {
            char h[32];
            snprintf(h, sizeof h, "%016" PRIx64, cpgo_hash_fnv1a(data, len, CPGO_FNV1A_INIT));
            done = (json_int_t)len == size && !strcmp(h, hash);
            free(data);
        }
    }
    if (done) {
        /* the output was written: record it as published */
        json_t *pub = json_pack("{s:I}", "upto_seq", (json_int_t)seq);
        char pp[4300];
        struct cpgo_err e;
        path_of(ts, pp, sizeof pp, "published.json", 0);
        if (write_json(pp, pub, &e) == 0) unlink(p);
        json_decref(pub);
    } else {
        unlink(p);
    }
    json_decref(o);
}

/* ---- pushed segments (pushes.json, seg-<upto>.pb) and the forge record (forge.json) ---- */

static int save_segments(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    char p[4300];
    path_of(ts, p, sizeof p, "pushes.json", 0);
    if (ts->nsegs == 0) {
        if (unlink(p) && errno != ENOENT)
            return cpgo_err_set(err, CPGO_E_IO, "cannot remove %s: %s", p, strerror(errno));
        return 0;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < ts->nsegs; i++) {
        const struct seg *g = &ts->segs[i];
        json_t *o = meta_json(&g->m);
        json_t *b = json_array();
        for (int k = 0; k < g->nblobs; k++) json_array_append_new(b, json_string(g->blobs[k]));
        json_object_set_new(o, "upto_seq", json_integer((json_int_t)g->upto));
        json_object_set_new(o, "blobs", b);
        json_array_append_new(arr, o);
    }
    json_t *o = json_pack("{s:o}", "segments", arr);
    int rc = o ? write_json(p, o, err) : cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    json_decref(o);
    return rc;
}

/* Segments at or below published_seq are settled (a crash after published.json was written
 * and before pushes.json was): they are dropped here. */
static void load_segments(struct cpgo_tstate *ts)
{
    char p[4300];
    path_of(ts, p, sizeof p, "pushes.json", 0);
    json_error_t je;
    json_t *o = json_load_file(p, 0, &je);
    if (!o) return;
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
        meta_from_json(&g->m, e);
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
    char p[4300];
    for (size_t i = 0; i < n; i++) {
        path_of(ts, p, sizeof p, "seg-%" PRIu64 ".pb", ts->segs[i].upto);
        unlink(p);
        meta_free(&ts->segs[i].m);
    }
    memmove(ts->segs, ts->segs + n, (ts->nsegs - n) * sizeof *ts->segs);
    ts->nsegs -= n;
    struct cpgo_err e;
    save_segments(ts, &e); /* best effort: load_segments skips settled ones anyway */
    recount(ts);
}

static void load_forge(struct cpgo_tstate *ts)
{
    char p[4300];
    path_of(ts, p, sizeof p, "forge.json", 0);
    json_error_t je;
    json_t *o = json_load_file(p, 0, &je);
    if (!o) return;
    struct cpgo_state_forge *f = &ts->forge;
    json_t *v;
    if (json_is_integer(v = json_object_get(o, "last_publish"))) f->last_publish = json_integer_value(v);
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
    char p[4300];
    path_of(ts, p, sizeof p, "forge.json", 0);
    json_t *o = json_pack("{s:I, s:I, s:s, s:I, s:I, s:b, s:I, s:s}", "last_publish",
                          (json_int_t)f->last_publish, "pr_number", (json_int_t)f->pr_number,
                          "pr_url", f->pr_url, "closed_pr", (json_int_t)f->closed_pr,
                          "closed_scrapes", (json_int_t)f->closed_scrapes, "released",
                          f->released, "unmanaged_pr", (json_int_t)f->unmanaged_pr,
                          "last_commit", f->last_commit);
    int rc = o ? write_json(p, o, err) : cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    json_decref(o);
    if (!rc) ts->forge = *f;
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
    return ts->nsegs > 0 || cpgo_merge_count(ts->pending) > 0;
}

void cpgo_state_pending_meta(const struct cpgo_tstate *ts, struct cpgo_state_meta *out)
{
    struct meta m = {0};
    for (size_t i = 0; i < ts->nsegs; i++) meta_union(&m, &ts->segs[i].m);
    meta_union(&m, &ts->fresh);
    out->scrapes = m.scrapes;
    out->first = m.first;
    out->last = m.last;
    out->instances = m.ninst;
    meta_free(&m);
}

size_t cpgo_state_segments(const struct cpgo_tstate *ts)
{
    return ts->nsegs;
}

int cpgo_state_fold_pending(struct cpgo_tstate *ts, struct cpgo_merger *dst, struct cpgo_err *err)
{
    char p[4300];
    for (size_t i = 0; i < ts->nsegs; i++) {
        path_of(ts, p, sizeof p, "seg-%" PRIu64 ".pb", ts->segs[i].upto);
        int rc = add_file(ts, p, dst, err);
        if (rc) return rc;
    }
    if (cpgo_merge_count(ts->pending) == 0) return 0;
    return cpgo_merge_add_merger(dst, ts->pending, err);
}

/* Merges segments 0 and 1 into one (the boundary between them is forgotten, and with it
 * the blobs of segment 0: landing one of those could no longer be settled exactly). */
static int coalesce_first_two(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    struct cpgo_merger *m;
    if (cpgo_merge_new(&m, &ts->mo)) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    char p[4300];
    int rc = 0;
    for (size_t i = 0; i < 2 && !rc; i++) {
        path_of(ts, p, sizeof p, "seg-%" PRIu64 ".pb", ts->segs[i].upto);
        rc = add_file(ts, p, m, err);
    }
    struct cpgo_buf b = {0};
    if (!rc) rc = cpgo_merge_encode(m, 0, 1, &b, err);
    cpgo_merge_free(m);
    if (!rc) {
        path_of(ts, p, sizeof p, "seg-%" PRIu64 ".pb", ts->segs[1].upto);
        rc = cpgo_state_write_file(p, b.data, b.len, err);
    }
    cpgo_buf_free(&b);
    if (rc) return rc;
    meta_union(&ts->segs[1].m, &ts->segs[0].m);
    path_of(ts, p, sizeof p, "seg-%" PRIu64 ".pb", ts->segs[0].upto);
    meta_free(&ts->segs[0].m);
    memmove(ts->segs, ts->segs + 1, (ts->nsegs - 1) * sizeof *ts->segs);
    ts->nsegs--;
    rc = save_segments(ts, err);
    if (!rc) unlink(p);
    return rc;
}

int cpgo_state_push_begin(struct cpgo_tstate *ts, const char *blob, struct cpgo_err *err)
{
    if (strlen(blob) >= CPGO_STATE_BLOB_SIZE)
        return cpgo_err_set(err, CPGO_E_USAGE, "blob id too long");
    if (cpgo_merge_count(ts->pending) == 0) {
        /* nothing new: this push holds the same entries as the last segment's pushes */
        if (ts->nsegs == 0) return 0;
        struct seg *g = &ts->segs[ts->nsegs - 1];
        for (int k = 0; k < g->nblobs; k++)
            if (!strcmp(g->blobs[k], blob)) return 0;
        if (g->nblobs == CPGO_STATE_MAX_BLOBS) {
            memmove(g->blobs, g->blobs + 1, sizeof g->blobs[0] * (CPGO_STATE_MAX_BLOBS - 1));
            g->nblobs--;
        }
        snprintf(g->blobs[g->nblobs++], CPGO_STATE_BLOB_SIZE, "%s", blob);
        return save_segments(ts, err);
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
    char p[4300];
    path_of(ts, p, sizeof p, "seg-%" PRIu64 ".pb", upto);
    rc = cpgo_state_write_file(p, b.data, b.len, err);
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
        unlink(p);
        return rc;
    }
    journal_truncate(ts, 0);
    ts->journal_len = 0;
    ts->snapshot_seq = 0;
    prune(ts, upto, 0, 0);
    path_of(ts, p, sizeof p, "pending.json", 0);
    unlink(p);
    if (reset_pending(ts)) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    recount(ts);
    return 0;
}

int cpgo_state_settle(struct cpgo_tstate *ts, const char *blob, uint64_t *settled,
                      struct cpgo_err *err)
{
    *settled = 0;
    if (!blob || !*blob) return 0;
    size_t hit = 0;
    for (size_t i = 0; i < ts->nsegs; i++)
        for (int k = 0; k < ts->segs[i].nblobs; k++)
            if (!strcmp(ts->segs[i].blobs[k], blob)) hit = i + 1;
    if (!hit) return 0;
    uint64_t upto = ts->segs[hit - 1].upto;
    for (size_t i = 0; i < hit; i++) *settled += ts->segs[i].m.scrapes;
    /* published.json first: segments at or below it are dropped when loaded, so a crash
     * before pushes.json is rewritten cannot count them again */
    char p[4300];
    json_t *o = json_pack("{s:I}", "upto_seq", (json_int_t)upto);
    path_of(ts, p, sizeof p, "published.json", 0);
    int rc = o ? write_json(p, o, err) : cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    json_decref(o);
    if (rc) {
        *settled = 0;
        return rc;
    }
    ts->published_seq = upto;
    drop_segments(ts, hit);
    return 0;
}

int cpgo_state_open(const char *state_dir, const char *target_id, const char *target_key,
                    const struct cpgo_merge_opts *mo, const struct cpgo_limits *lim,
                    struct cpgo_tstate **out, struct cpgo_err *err)
{
    *out = NULL;
    struct cpgo_tstate *ts = calloc(1, sizeof *ts);
    if (!ts) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    size_t n = strlen(state_dir) + strlen(target_id) + 32;
    ts->dir = malloc(n);
    if (!ts->dir) {
        free(ts);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    snprintf(ts->dir, n, "%s/targets/%s", state_dir, target_id);
    ts->mo = *mo;
    ts->lim = *lim;
    char p[4300];
    int rc = 0;
    snprintf(p, sizeof p, "%s", ts->dir);
    if (cpgo_state_mkdir_p(p, 0700)) {
        rc = cpgo_err_set(err, CPGO_E_IO, "cannot create state directory %s: %s", p,
                          strerror(errno));
        goto fail;
    }
    path_of(ts, p, sizeof p, "target", 0);
    unsigned char *known = NULL;
    size_t known_len = 0;
    struct cpgo_err ignore;
    cpgo_state_read_file(p, 65536, &known, &known_len, &ignore);
    /* written once: a start with a thousand targets should not cost a thousand fsyncs */
    if (!known || known_len != strlen(target_key) || memcmp(known, target_key, known_len))
        rc = cpgo_state_write_file(p, target_key, strlen(target_key), err);
    free(known);
    if (rc) goto fail;
    if ((rc = reset_pending(ts))) {
        cpgo_err_set(err, rc, "out of memory");
        goto fail;
    }
    remove_stale_temps(ts->dir);
    recover_publishing(ts);
    path_of(ts, p, sizeof p, "published.json", 0);
    if (read_json_seq(p, "upto_seq", &ts->published_seq, NULL)) ts->published_seq = 0;
    load_segments(ts);
    load_forge(ts);
    /* the fresh part starts after what was published and what was pushed */
    uint64_t floor = ts->published_seq;
    if (ts->nsegs && ts->segs[ts->nsegs - 1].upto > floor) floor = ts->segs[ts->nsegs - 1].upto;

    uint64_t *seqs;
    size_t ns;
    ts->next_seq = floor + 1;
    /* newest snapshot newer than that */
    if (list_seqs(ts->dir, "pending-", ".pb", &seqs, &ns) == 0) {
        for (size_t i = ns; i-- > 0;) {
            if (seqs[i] <= floor) break;
            path_of(ts, p, sizeof p, "pending-%" PRIu64 ".pb", seqs[i]);
            if (add_file(ts, p, ts->pending, err) == 0) {
                ts->snapshot_seq = seqs[i];
                break;
            }
            /* a damaged snapshot: fall back to an older one plus the journal */
            reset_pending(ts);
        }
        free(seqs);
    }
    /* The snapshot records how many scrapes it holds (and their window and instances) in a
     * sidecar; absent -> count inputs. */
    ts->fresh.scrapes = cpgo_merge_count(ts->pending);
    path_of(ts, p, sizeof p, "pending.json", 0);
    uint64_t counted;
    json_t *meta = NULL;
    if (ts->snapshot_seq && read_json_seq(p, "seq", &counted, &meta) == 0) {
        if (counted == ts->snapshot_seq) meta_from_json(&ts->fresh, meta);
        json_decref(meta);
    }
    uint64_t base = ts->snapshot_seq > floor ? ts->snapshot_seq : floor;
    if (base + 1 > ts->next_seq) ts->next_seq = base + 1;
    journal_replay(ts, base);
    prune(ts, base, ts->snapshot_seq, 0);
    /* segment files no record names (a crash before pushes.json was written) */
    if (list_seqs(ts->dir, "seg-", ".pb", &seqs, &ns) == 0) {
        for (size_t i = 0; i < ns; i++) {
            int named = 0;
            for (size_t k = 0; k < ts->nsegs; k++) named |= ts->segs[k].upto == seqs[i];
            if (named) continue;
            path_of(ts, p, sizeof p, "seg-%" PRIu64 ".pb", seqs[i]);
            unlink(p);
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

void cpgo_state_close(struct cpgo_tstate *ts)
{
    if (!ts) return;
    meta_free(&ts->fresh);
    for (size_t i = 0; i < ts->nsegs; i++) meta_free(&ts->segs[i].m);
    cpgo_merge_free(ts->pending);
    free(ts->dir);
    free(ts);
}

int cpgo_state_ingest(struct cpgo_tstate *ts, const void *body, size_t len,
                      const struct cpgo_profile *p, const char *instance, int64_t when,
                      struct cpgo_err *err)
{
    /* Journal first, merge second. If the merge refuses the profile (incompatible sample
     * types), the record is cut off again; if the process dies before that, recovery meets
     * the same refusal and skips the record. Either way it is never counted. */
    off_t before;
    uint64_t inst = inst_hash(instance);
    int rc = journal_append(ts, ts->next_seq, body, len, when, inst, &before, err);
    if (rc) return rc;
    if ((rc = cpgo_merge_add(ts->pending, p, err))) {
        journal_truncate(ts, before);
        return rc;
    }
    ts->next_seq++;
    ts->journal_len++;
    meta_add(&ts->fresh, 1, when, when);
    if (inst) meta_add_inst(&ts->fresh, inst);
    ts->pending_scrapes++;
    return 0;
}

int cpgo_state_snapshot(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    if (ts->journal_len == 0) return 0;
    uint64_t seq = ts->next_seq - 1;
    struct cpgo_buf b;
    int rc = cpgo_merge_encode(ts->pending, 0, 1, &b, err);
    if (rc) return rc;
    char p[4300];
    path_of(ts, p, sizeof p, "pending-%" PRIu64 ".pb", seq);
    rc = cpgo_state_write_file(p, b.data, b.len, err);
    cpgo_buf_free(&b);
    if (rc) return rc;
    json_t *meta = meta_json(&ts->fresh);
    if (meta) json_object_set_new(meta, "seq", json_integer((json_int_t)seq));
    path_of(ts, p, sizeof p, "pending.json", 0);
    if (meta) write_json(p, meta, err);
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
    return ts->pending;
}

uint64_t cpgo_state_pending_scrapes(const struct cpgo_tstate *ts)
{
    return ts->pending_scrapes;
}

int cpgo_state_publish_begin(struct cpgo_tstate *ts, const char *path, const void *data,
                             size_t len, struct cpgo_err *err)
{
    uint64_t seq = ts->next_seq - 1;
    char h[32], p[4300];
    snprintf(h, sizeof h, "%016" PRIx64, cpgo_hash_fnv1a(data, len, CPGO_FNV1A_INIT));
    json_t *o = json_pack("{s:I, s:s, s:I, s:s}", "upto_seq", (json_int_t)seq, "path", path,
                          "size", (json_int_t)len, "hash", h);
    if (!o) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    path_of(ts, p, sizeof p, "publishing.json", 0);
    int rc = write_json(p, o, err);
    json_decref(o);
    if (!rc) ts->publishing_seq = seq;
    return rc;
}

int cpgo_state_publish_commit(struct cpgo_tstate *ts, struct cpgo_err *err)
{
    uint64_t seq = ts->publishing_seq;
    char p[4300];
    json_t *o = json_pack("{s:I}", "upto_seq", (json_int_t)seq);
    path_of(ts, p, sizeof p, "published.json", 0);
    int rc = write_json(p, o, err);
    json_decref(o);
    if (rc) return rc;
    path_of(ts, p, sizeof p, "publishing.json", 0);
    unlink(p);
    ts->published_seq = seq;
    ts->publishing_seq = 0;
    ts->journal_len = 0;
    ts->snapshot_seq = 0;
    prune(ts, seq, 0, 1);
    path_of(ts, p, sizeof p, "pending.json", 0);
    unlink(p);
    drop_segments(ts, ts->nsegs);
    if (reset_pending(ts)) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    recount(ts);
    return 0;
}

void cpgo_state_publish_abort(struct cpgo_tstate *ts)
{
    char p[4300];
    path_of(ts, p, sizeof p, "publishing.json", 0);
    unlink(p);
    ts->publishing_seq = 0;
}
