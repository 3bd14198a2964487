/* Unit tests for state/state under faults and damage: a damaged journal record in the
 * middle (skipped, the rest kept, moved aside, reported), a damaged length field, limits
 * lowered between restarts, damaged record files (moved aside, never deleted; publishing
 * held where it could double), read-only inspection that changes nothing, acknowledging,
 * a failed write at every step of a publish (published or not, never both), the state
 * directory's lock, trust checks and format. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "check.h"
#include "pbuild.h"
#include "state/state.h"

#include "state_helpers.h"

static int ingest(struct cpgo_tstate *ts, const struct cpgo_buf *b)
{
    struct cpgo_profile *p;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_profile_decode(b->data, b->len, &lim, &p, &err), 0);
    int rc = cpgo_state_ingest(ts, b->data, b->len, p, "b1", 1700000000, &err);
    cpgo_profile_free(p);
    return rc;
}

static void tpath(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/targets/t1/%s", dir, name);
}

static void reset_dir(void)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {
    }
}

static int count_prefix(const char *prefix)
{
    char d[600];
    snprintf(d, sizeof d, "%s/targets/t1", dir);
    DIR *dd = opendir(d);
    int n = 0;
    struct dirent *e;
    while (dd && (e = readdir(dd)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    if (dd) closedir(dd);
    return n;
}

/* Flips one byte at offset off of the file. */
static void flip(const char *name, long off)
{
    char p[700];
    tpath(p, sizeof p, name);
    FILE *f = fopen(p, "r+b");
    if (!f) return;
    fseek(f, off, off < 0 ? SEEK_END : SEEK_SET);
    int c = fgetc(f);
    fseek(f, -1, SEEK_CUR);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void test_journal_damage(const struct cpgo_buf *b, const int64_t *s)
{
    reset_dir();
    struct cpgo_tstate *ts = open_ts();
    for (int i = 0; i < 3; i++)
        ingest(ts, &b[i]);
    cpgo_state_close(ts);
    /* a flipped byte in the middle record's body: that one skipped, the third kept */
    long rec1 = 36 + (long)b[0].len;
    flip("journal.log", rec1 + 36 + 100);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 2);
    CHECK_EQ_INT(samples(ts), s[0] + s[2]);
    CHECK_EQ_INT(cpgo_state_corrupt_records(ts), 1);
    CHECK(cpgo_state_problem_count(ts) >= 1);
    CHECK_STR_CONTAINS(cpgo_state_problem(ts, 0, NULL), "sequence 2");
    CHECK_STR_CONTAINS(cpgo_state_problem(ts, 0, NULL), "offset");
    CHECK(!cpgo_state_held(ts));
    CHECK_EQ_INT(count_prefix("journal.log.corrupt-"), 1); /* kept for a person */
    /* the next scrape continues after the highest sequence */
    ingest(ts, &b[1]);
    cpgo_state_close(ts);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 3);
    CHECK_EQ_INT(samples(ts), s[0] + s[1] + s[2]);
    /* problems stay until acknowledged, also across restarts */
    CHECK(cpgo_state_problem_count(ts) >= 1);
    cpgo_state_close(ts);

    /* a damaged length field in the middle: resynchronised on the next record */
    reset_dir();
    ts = open_ts();
    for (int i = 0; i < 3; i++)
        ingest(ts, &b[i]);
    cpgo_state_close(ts);
    flip("journal.log", rec1 + 14); /* the high bytes of record 2's length */
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 2);
    CHECK_EQ_INT(samples(ts), s[0] + s[2]);
    cpgo_state_close(ts);

    /* a damaged magic in the first record */
    reset_dir();
    ts = open_ts();
    for (int i = 0; i < 3; i++)
        ingest(ts, &b[i]);
    cpgo_state_close(ts);
    flip("journal.log", 1);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 2);
    CHECK_EQ_INT(samples(ts), s[1] + s[2]);
    cpgo_state_close(ts);
}

static void test_limits_lowered(const struct cpgo_buf *b, const int64_t *s)
{
    reset_dir();
    struct cpgo_tstate *ts = open_ts();
    ingest(ts, &b[0]);
    ingest(ts, &b[1]);
    CHECK_EQ_INT(cpgo_state_snapshot(ts, &(struct cpgo_err){0}), 0);
    ingest(ts, &b[2]);
    cpgo_state_close(ts);
    /* restart with limits far below what was accepted: nothing accepted is dropped */
    struct cpgo_limits saved = lim;
    lim.max_compressed = 64;
    lim.max_decompressed = 64;
    lim.max_samples = 1;
    lim.max_locations = 1;
    lim.max_functions = 1;
    lim.max_strings = 2;
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 3);
    CHECK_EQ_INT(samples(ts), s[0] + s[1] + s[2]);
    CHECK_EQ_INT(cpgo_state_problem_count(ts), 0);
    cpgo_state_close(ts);
    lim = saved;
    char p[700];
    struct stat st;
    tpath(p, sizeof p, "journal.log");
    CHECK_EQ_INT(stat(p, &st), 0);
    CHECK(st.st_size > 0); /* not truncated */
}

static void test_damaged_records(const struct cpgo_buf *b, const int64_t *s)
{
    struct cpgo_err err;
    char p[700];
    /* pushes.json damaged: moved aside, its segment kept pending, publishing held */
    reset_dir();
    struct cpgo_tstate *ts = open_ts();
    ingest(ts, &b[0]);
    CHECK_EQ_INT(cpgo_state_push_begin(ts, "aaaa", &err), 0);
    ingest(ts, &b[1]);
    cpgo_state_close(ts);
    tpath(p, sizeof p, "pushes.json");
    FILE *f = fopen(p, "w");
    fputs("{\"segments\": [tru", f);
    fclose(f);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_segments(ts), 1);
    CHECK_EQ_INT(folded(ts), s[0] + s[1]);
    CHECK(cpgo_state_held(ts));
    CHECK_EQ_INT(count_prefix("pushes.json.corrupt-"), 1);
    cpgo_state_close(ts);
    /* still held after a restart, until acknowledged */
    ts = open_ts();
    CHECK(cpgo_state_held(ts));
    CHECK_EQ_INT(folded(ts), s[0] + s[1]);
    cpgo_state_close(ts);
    size_t cleared = 0;
    CHECK_EQ_INT(cpgo_state_ack(dir, "t1", &cleared, &err), 0);
    CHECK_EQ_INT(cleared, 1);
    ts = open_ts();
    CHECK(!cpgo_state_held(ts));
    CHECK_EQ_INT(cpgo_state_problem_count(ts), 0);
    CHECK_EQ_INT(folded(ts), s[0] + s[1]);
    CHECK_EQ_INT(count_prefix("pushes.json.corrupt-"), 1); /* never deleted */
    cpgo_state_close(ts);

    /* published.json damaged: held */
    reset_dir();
    ts = open_ts();
    ingest(ts, &b[0]);
    cpgo_state_close(ts);
    tpath(p, sizeof p, "published.json");
    f = fopen(p, "w");
    fputs("{\"upto", f);
    fclose(f);
    ts = open_ts();
    CHECK(cpgo_state_held(ts));
    CHECK_EQ_INT(count_prefix("published.json.corrupt-"), 1);
    cpgo_state_close(ts);

    /* a damaged snapshot: moved aside and reported, never silently dropped */
    reset_dir();
    ts = open_ts();
    ingest(ts, &b[0]);
    CHECK_EQ_INT(cpgo_state_snapshot(ts, &err), 0);
    ingest(ts, &b[1]);
    cpgo_state_close(ts);
    flip("pending-1.pb", 30);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_problem_count(ts), 1);
    CHECK_STR_CONTAINS(cpgo_state_problem(ts, 0, NULL), "pending-1.pb");
    CHECK_EQ_INT(count_prefix("pending-1.pb.corrupt-"), 1);
    CHECK_EQ_INT(samples(ts), s[1]);
    cpgo_state_close(ts);

    /* forge.json damaged: moved aside, reported, not held (the forge is asked again) */
    reset_dir();
    ts = open_ts();
    struct cpgo_state_forge fg = {.pr_number = 3};
    CHECK_EQ_INT(cpgo_state_forge_put(ts, &fg, &err), 0);
    cpgo_state_close(ts);
    tpath(p, sizeof p, "forge.json");
    f = fopen(p, "w");
    fputs("[1,", f);
    fclose(f);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_problem_count(ts), 1);
    CHECK(!cpgo_state_held(ts));
    cpgo_state_close(ts);
}

/* A listing of the target directory with sizes and contents' first bytes. */
static void snapshot_dir(char *out, size_t cap)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && find . -printf '%%p %%s %%m\\n' | sort && cat targets/t1/* 2>/dev/null | "
             "md5sum",
             dir);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, cap - 1, p) : 0;
    out[n] = 0;
    if (p) pclose(p);
}

static void test_read_only(const struct cpgo_buf *b, const int64_t *s)
{
    reset_dir();
    struct cpgo_tstate *ts = open_ts();
    for (int i = 0; i < 3; i++)
        ingest(ts, &b[i]);
    cpgo_state_close(ts);
    flip("journal.log", 36 + (long)b[0].len + 36 + 100);
    char p[700];
    tpath(p, sizeof p, "journal.log.tmp-1234"); /* a stale temp a write would remove */
    FILE *f = fopen(p, "w");
    fclose(f);
    static char before[8192], after[8192];
    snapshot_dir(before, sizeof before);
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_state_open_ro(dir, "t1", &mo, &lim, &ts, &err), 0);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 2);
    CHECK_EQ_INT(samples(ts), s[0] + s[2]);
    CHECK(cpgo_state_problem_count(ts) >= 1);
    CHECK(cpgo_state_ingest(ts, b[0].data, b[0].len, NULL, NULL, 0, &err) != 0);
    cpgo_state_close(ts);
    snapshot_dir(after, sizeof after);
    CHECK(!strcmp(before, after));
    CHECK_EQ_INT(cpgo_state_open_ro(dir, "nope", &mo, &lim, &ts, &err), CPGO_E_EMPTY);
}

/* Publish as the --output publisher does (existing output + pending); returns the rc. */
static int publish(struct cpgo_tstate *ts, const char *out, struct cpgo_buf *enc)
{
    struct cpgo_err err;
    struct cpgo_merger *m;
    cpgo_merge_new(&m, &mo);
    unsigned char *d;
    size_t n;
    if (cpgo_state_read_file(out, 1 << 26, &d, &n, &err) == 0) {
        struct cpgo_profile *p;
        if (cpgo_profile_decode(d, n, &lim, &p, &err) == 0) {
            cpgo_merge_add(m, p, &err);
            cpgo_profile_free(p);
        }
        free(d);
    }
    int rc = cpgo_state_fold_pending(ts, m, &err);
    if (!rc) rc = cpgo_merge_encode(m, 0, 1, enc, &err);
    cpgo_merge_free(m);
    if (rc) return rc;
    rc = cpgo_state_publish_begin(ts, out, enc->data, enc->len, &err);
    if (rc) return rc;
    rc = cpgo_state_write_file(out, enc->data, enc->len, &err);
    if (rc) {
        cpgo_state_publish_abort(ts);
        return rc;
    }
    return cpgo_state_publish_commit(ts, &err);
}

static int64_t file_samples(const char *path)
{
    unsigned char *d;
    size_t n;
    struct cpgo_err err;
    if (cpgo_state_read_file(path, 1 << 26, &d, &n, &err)) return 0;
    struct cpgo_buf b = {.data = d, .len = n};
    int64_t t = samples_of(&b);
    free(d);
    return t;
}

/* A failed write at each step of ingest, publish and recovery: at the end, the output plus
 * what is pending equals every accepted scrape, exactly once. */
static void test_fault_every_step(const struct cpgo_buf *b, const int64_t *s)
{
    char out[700];
    snprintf(out, sizeof out, "%s/out/default.pgo", dir);
    int hit_any = 0;
    for (int n = 1; n <= 40; n++) {
        for (int e = 0; e < 2; e++) {
            int eno = e ? EIO : ENOSPC;
            reset_dir();
            struct cpgo_tstate *ts = open_ts();
            int64_t accepted = 0;
            cpgo_file_fault_set(n, eno);
            /* round 1: two scrapes, publish; round 2: one more, publish */
            for (int i = 0; i < 2; i++)
                if (ingest(ts, &b[i]) == 0) accepted += s[i];
            struct cpgo_buf enc = {0};
            publish(ts, out, &enc);
            cpgo_buf_free(&enc);
            if (ingest(ts, &b[2]) == 0) accepted += s[2];
            publish(ts, out, &enc);
            cpgo_buf_free(&enc);
            int fired = cpgo_file_fault() == 0; /* still counting: the fault was reached? */
            cpgo_file_fault_set(0, 0);
            hit_any |= fired;
            /* the invariant, in this process and after a restart */
            int64_t now = file_samples(out) + samples(ts);
            if (now != accepted)
                fprintf(stderr, "fault at step %d (errno %d): output+pending %lld, accepted %lld\n",
                        n, eno, (long long)now, (long long)accepted);
            CHECK_EQ_INT(now, accepted);
            cpgo_state_close(ts);
            ts = open_ts();
            int64_t later = file_samples(out) + samples(ts);
            if (later != accepted)
                fprintf(stderr, "fault at step %d (errno %d), restarted: %lld, accepted %lld\n", n,
                        eno, (long long)later, (long long)accepted);
            CHECK_EQ_INT(later, accepted);
            /* and a clean publish after it gets everything into the output exactly once */
            if (cpgo_state_pending_scrapes(ts)) {
                publish(ts, out, &enc);
                cpgo_buf_free(&enc);
            }
            CHECK_EQ_INT(file_samples(out), accepted);
            CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 0);
            cpgo_state_close(ts);
        }
    }
    CHECK(hit_any);
}

static void test_statedir(void)
{
    struct cpgo_err err;
    reset_dir();
    char sub[700];
    snprintf(sub, sizeof sub, "%s/a/b/state", dir);
    CHECK_EQ_INT(cpgo_state_dir_prepare(sub, 1, &err), 0);
    struct stat st;
    CHECK_EQ_INT(stat(sub, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0700);
    /* the lock: a second holder is refused with the first one's pid */
    int l1, l2;
    CHECK_EQ_INT(cpgo_state_lock(sub, &l1, &err), 0);
    CHECK(cpgo_state_lock(sub, &l2, &err) != 0);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    CHECK_STR_CONTAINS(err.text, pid);
    CHECK_STR_CONTAINS(err.text, sub);
    cpgo_state_unlock(l1);
    CHECK_EQ_INT(cpgo_state_lock(sub, &l2, &err), 0); /* the file stays; the lock does not */
    cpgo_state_unlock(l2);
    /* world-writable, foreign-group-writable: refused */
    chmod(sub, 0707);
    CHECK(cpgo_state_dir_prepare(sub, 1, &err) != 0);
    CHECK_STR_CONTAINS(err.text, "world-writable");
    if (getegid() != 12345) {
        if (chown(sub, (uid_t)-1, 12345) == 0) {
            chmod(sub, 0770);
            CHECK(cpgo_state_dir_prepare(sub, 1, &err) != 0);
            CHECK_STR_CONTAINS(err.text, "group");
            chmod(sub, 0750); /* group-readable is fine */
            CHECK_EQ_INT(cpgo_state_dir_prepare(sub, 1, &err), 0);
            if (chown(sub, (uid_t)-1, getegid())) {
            }
        }
    }
    /* owned by another user: refused (root may own it, as a volume's root) */
    if (geteuid() == 0 && chown(sub, 12345, (gid_t)-1) == 0) {
        CHECK(cpgo_state_dir_prepare(sub, 1, &err) != 0);
        CHECK_STR_CONTAINS(err.text, "owned by uid 12345");
        if (chown(sub, 0, (gid_t)-1)) {
        }
    }
    chmod(sub, 02770); /* writable by our own group (a Kubernetes fsGroup volume): fine */
    CHECK_EQ_INT(cpgo_state_dir_prepare(sub, 1, &err), 0);
    chmod(sub, 0700);
    /* a newer format is refused; a damaged one too */
    char fp[800];
    snprintf(fp, sizeof fp, "%s/format.json", sub);
    FILE *f = fopen(fp, "w");
    fputs("{\"format\": 99}", f);
    fclose(f);
    CHECK(cpgo_state_dir_prepare(sub, 1, &err) != 0);
    CHECK_STR_CONTAINS(err.text, "newer");
    f = fopen(fp, "w");
    fputs("{\"form", f);
    fclose(f);
    CHECK(cpgo_state_dir_prepare(sub, 1, &err) != 0);
    /* format 1 (no format.json, a targets/ directory): upgraded in place */
    unlink(fp);
    CHECK_EQ_INT(cpgo_state_dir_prepare(sub, 1, &err), 0);
    CHECK(access(fp, F_OK) == 0);
    /* a symlink planted inside a target's directory is not followed */
    reset_dir();
    struct cpgo_tstate *ts = open_ts();
    cpgo_state_close(ts);
    char victim[700], link[700];
    snprintf(victim, sizeof victim, "%s/victim", dir);
    f = fopen(victim, "w");
    fputs("victim", f);
    fclose(f);
    tpath(link, sizeof link, "published.json");
    CHECK_EQ_INT(symlink(victim, link), 0);
    ts = open_ts();
    struct cpgo_buf b = {0}, enc = {0};
    (void)b;
    cpgo_state_close(ts);
    f = fopen(victim, "r");
    char got[16] = "";
    if (f) {
        if (!fgets(got, sizeof got, f)) got[0] = 0;
        fclose(f);
    }
    CHECK(!strcmp(got, "victim"));
    cpgo_buf_free(&enc);
    /* a FIFO as the journal: refused at once, never blocking */
    reset_dir();
    ts = open_ts();
    cpgo_state_close(ts);
    tpath(link, sizeof link, "journal.log");
    CHECK_EQ_INT(mkfifo(link, 0600), 0);
    ts = open_ts();
    CHECK(ts != NULL);
    if (ts) {
        CHECK(cpgo_state_problem_count(ts) >= 1);
        cpgo_state_close(ts);
    }
}

int main(void)
{
    cpgo_limits_default(&lim);
    memset(&mo, 0, sizeof mo);
    snprintf(dir, sizeof dir, "%s/cpgo-state-trust-%ld",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    struct cpgo_buf b[3] = {body(1), body(2), body(3)};
    int64_t s[3] = {samples_of(&b[0]), samples_of(&b[1]), samples_of(&b[2])};
    test_journal_damage(b, s);
    test_limits_lowered(b, s);
    test_damaged_records(b, s);
    test_read_only(b, s);
    test_fault_every_step(b, s);
    test_statedir();
    for (int i = 0; i < 3; i++)
        cpgo_buf_free(&b[i]);
    reset_dir();
    CHECK_DONE();
}
