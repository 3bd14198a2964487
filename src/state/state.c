/* state.c - see state.h for the layout and the exactly-once protocol. */
#include "state/state.h"

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

struct cpgo_tstate {
    char *dir;
    struct cpgo_merge_opts mo;
    struct cpgo_limits lim;
    struct cpgo_merger *pending;
    uint64_t next_seq;      /* the seq the next journal entry gets */
    uint64_t published_seq; /* everything <= this is published */
    uint64_t snapshot_seq;  /* the newest snapshot covers entries <= this */
    uint64_t pending_scrapes;
    size_t journal_len;
    uint64_t publishing_seq; /* != 0 between publish_begin and commit/abort */
};

uint64_t cpgo_state_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
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

static int add_file(struct cpgo_tstate *ts, const char *path, struct cpgo_err *err)
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
    if (!rc) rc = cpgo_merge_add(ts->pending, p, err);
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
    ts->pending_scrapes = 0;
    return 0;
}

/* ---- the journal: one append-only file of records ------------------------------------
 * record = "CPGJ" | seq (u64 le) | len (u32 le) | crc32 of body (u32 le) | body.
 * Appending needs no new inode per scrape (creating and deleting thousands of small files
 * is what ext4 charges most for); a record torn by a crash fails its length or CRC check
 * and is cut off at recovery. */
#define JHDR 20

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
                          off_t *old_size, struct cpgo_err *err)
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
    memcpy(hdr, "CPGJ", 4);
    put_le(hdr + 4, seq, 8);
    put_le(hdr + 12, len, 4);
    put_le(hdr + 16, crc32(0L, body, (uInt)len), 4);
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
        uint64_t seq = get_le(hdr + 4, 8);
        size_t len = (size_t)get_le(hdr + 12, 4);
        uint32_t crc = (uint32_t)get_le(hdr + 16, 4);
        int good = n == JHDR && !memcmp(hdr, "CPGJ", 4) && len <= ts->lim.max_compressed;
        unsigned char *nb = good ? realloc(body, len ? len : 1) : NULL;
        if (nb) body = nb;
        good = good && nb && pread(fd, body, len, off + JHDR) == (ssize_t)len &&
               crc32(0L, body, (uInt)len) == crc;
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
                ts->pending_scrapes++;
                ts->journal_len++;
            }
            /* a record that does not merge was refused when it was written */
            cpgo_profile_free(prof);
        }
        off += JHDR + (off_t)len;
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
            snprintf(h, sizeof h, "%016" PRIx64, cpgo_state_hash(data, len));
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

    uint64_t *seqs;
    size_t ns;
    ts->next_seq = ts->published_seq + 1;
    /* newest snapshot newer than what was published */
    if (list_seqs(ts->dir, "pending-", ".pb", &seqs, &ns) == 0) {
        for (size_t i = ns; i-- > 0;) {
            if (seqs[i] <= ts->published_seq) break;
            path_of(ts, p, sizeof p, "pending-%" PRIu64 ".pb", seqs[i]);
            if (add_file(ts, p, err) == 0) {
                ts->snapshot_seq = seqs[i];
                break;
            }
            /* a damaged snapshot: fall back to an older one plus the journal */
            reset_pending(ts);
        }
        free(seqs);
    }
    /* The snapshot records how many scrapes it holds in a sidecar; absent -> count inputs. */
    ts->pending_scrapes = cpgo_merge_count(ts->pending);
    path_of(ts, p, sizeof p, "pending.json", 0);
    uint64_t counted;
    json_t *meta = NULL;
    if (ts->snapshot_seq && read_json_seq(p, "seq", &counted, &meta) == 0) {
        if (counted == ts->snapshot_seq)
            ts->pending_scrapes = (uint64_t)json_integer_value(json_object_get(meta, "scrapes"));
        json_decref(meta);
    }
    uint64_t base = ts->snapshot_seq > ts->published_seq ? ts->snapshot_seq : ts->published_seq;
    if (base + 1 > ts->next_seq) ts->next_seq = base + 1;
    journal_replay(ts, base);
    prune(ts, base, ts->snapshot_seq, 0);
    *out = ts;
    return 0;
fail:
    cpgo_state_close(ts);
    return rc;
}

void cpgo_state_close(struct cpgo_tstate *ts)
{
    if (!ts) return;
    cpgo_merge_free(ts->pending);
    free(ts->dir);
    free(ts);
}

int cpgo_state_ingest(struct cpgo_tstate *ts, const void *body, size_t len,
                      const struct cpgo_profile *p, struct cpgo_err *err)
{
    /* Journal first, merge second. If the merge refuses the profile (incompatible sample
     * types), the record is cut off again; if the process dies before that, recovery meets
     * the same refusal and skips the record. Either way it is never counted. */
    off_t before;
    int rc = journal_append(ts, ts->next_seq, body, len, &before, err);
    if (rc) return rc;
    if ((rc = cpgo_merge_add(ts->pending, p, err))) {
        journal_truncate(ts, before);
        return rc;
    }
    ts->next_seq++;
    ts->journal_len++;
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
    json_t *meta = json_pack("{s:I, s:I}", "seq", (json_int_t)seq, "scrapes",
                             (json_int_t)ts->pending_scrapes);
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
    snprintf(h, sizeof h, "%016" PRIx64, cpgo_state_hash(data, len));
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
    return reset_pending(ts) ? cpgo_err_set(err, CPGO_E_NOMEM, "out of memory") : 0;
}

void cpgo_state_publish_abort(struct cpgo_tstate *ts)
{
    char p[4300];
    path_of(ts, p, sizeof p, "publishing.json", 0);
    unlink(p);
    ts->publishing_seq = 0;
}
