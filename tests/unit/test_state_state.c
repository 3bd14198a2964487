/* Unit tests for state/state: journal recovery (torn tails), snapshots, the publish intent
 * protocol after a crash at each step, stale temp files. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "pbuild.h"
#include "base/file.h"
#include "base/hash.h"
#include "state/state.h"

#include "state_helpers.h"

static void ingest(struct cpgo_tstate *ts, const struct cpgo_buf *b)
{
    struct cpgo_profile *p;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_profile_decode(b->data, b->len, &lim, &p, &err), 0);
    CHECK_EQ_INT(cpgo_state_ingest(ts, b->data, b->len, p, "b1", 1700000000, &err), 0);
    cpgo_profile_free(p);
}

/* The samples/count a weighted ingest of b may add: each value scaled by w_ppm / 10^6 and
 * rounded down or up (the unbiased rounding of the compiler's value); *lo and *hi. */
static void weighted_of(const struct cpgo_buf *b, uint64_t w_ppm, int64_t *lo, int64_t *hi)
{
    struct cpgo_profile *p;
    struct cpgo_err err;
    *lo = *hi = 0;
    if (cpgo_profile_decode(b->data, b->len, &lim, &p, &err)) return;
    for (size_t i = 0; i < p->pb->n_sample; i++) {
        uint64_t x = (uint64_t)p->pb->sample[i]->value[0] * w_ppm;
        *lo += (int64_t)(x / 1000000);
        *hi += (int64_t)((x + 999999) / 1000000);
    }
    cpgo_profile_free(p);
}

static void ingest_w(struct cpgo_tstate *ts, const struct cpgo_buf *b, uint64_t w_ppm)
{
    struct cpgo_profile *p;
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_profile_decode(b->data, b->len, &lim, &p, &err), 0);
    CHECK_EQ_INT(
        cpgo_state_ingest_weighted(ts, b->data, b->len, p, "canary", 1700000000, w_ppm, &err), 0);
    cpgo_profile_free(p);
}

/* `pgo: weight`: a weighted scrape merges scaled, and recovery from the journal scales it
 * exactly alike even though nothing but the record knows the weight. */
static void test_weights(void)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {
    }
    struct cpgo_buf b1 = body(11), b2 = body(12), b3 = body(13);
    int64_t lo1, hi1, lo2, hi2;
    weighted_of(&b1, 100000, &lo1, &hi1);
    weighted_of(&b2, 2500000, &lo2, &hi2);
    int64_t lo = lo1 + lo2 + samples_of(&b3), hi = hi1 + hi2 + samples_of(&b3);
    CHECK(lo > samples_of(&b1) + samples_of(&b2) + samples_of(&b3)); /* 2.5 outweighs 0.1 */
    struct cpgo_tstate *ts = open_ts();
    ingest_w(ts, &b1, 100000);  /* 0.1 */
    ingest_w(ts, &b2, 2500000); /* 2.5 */
    ingest_w(ts, &b3, 1000000); /* 1: an ordinary record */
    int64_t want = samples(ts);
    CHECK(want >= lo && want <= hi);
    /* unbiased: a tenth of b1's counts, give or take the rounding of its samples */
    int64_t exact = (samples_of(&b1) + 5) / 10 + samples_of(&b2) * 5 / 2 + samples_of(&b3);
    CHECK(want > exact - (hi - lo) / 2 - 1 && want < exact + (hi - lo) / 2 + 1);
    cpgo_state_close(ts); /* as after kill -9: the journal only */
    char jp[700];
    snprintf(jp, sizeof jp, "%s/targets/t1/journal.log", dir);
    FILE *f = fopen(jp, "rb");
    CHECK(f != NULL);
    char magic[5] = {0};
    CHECK_EQ_INT(fread(magic, 1, 4, f), 4);
    fclose(f);
    CHECK(!strcmp(magic, "CPGW"));
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 3);
    CHECK_EQ_INT(samples(ts), want);
    /* a snapshot holds the weighted values too */
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_state_snapshot(ts, &err), 0);
    cpgo_state_close(ts);
    ts = open_ts();
    CHECK_EQ_INT(samples(ts), want);
    /* a zero weight is a caller's error, never a silent drop */
    struct cpgo_profile *p;
    CHECK_EQ_INT(cpgo_profile_decode(b1.data, b1.len, &lim, &p, &err), 0);
    CHECK(cpgo_state_ingest_weighted(ts, b1.data, b1.len, p, "x", 1, 0, &err) != 0);
    cpgo_profile_free(p);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 3);
    cpgo_state_close(ts);
    if (system(cmd)) {
    }
    cpgo_buf_free(&b1);
    cpgo_buf_free(&b2);
    cpgo_buf_free(&b3);
}

/* A body with another sample type (wall/nanoseconds): the merger refuses it after a Go CPU
 * profile. */
static struct cpgo_buf odd_body(int seed)
{
    struct pbuild *b = pbuild_golike((uint64_t)seed, 50, 40, 20, 0);
    pbuild_pb(b)->sample_type[1]->type = pbuild_str(b, "wall");
    struct cpgo_buf out;
    pbuild_encode(b, 0, &out);
    pbuild_free(b);
    return out;
}

/* Runs one batch of bodies; how many were accepted (rc 0). */
static size_t batch(struct cpgo_tstate *ts, struct cpgo_buf *b, size_t n, int *rcs)
{
    struct cpgo_state_rec rec[16];
    struct cpgo_profile *p[16] = {0};
    struct cpgo_err err;
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(cpgo_profile_decode(b[i].data, b[i].len, &lim, &p[i], &err), 0);
        rec[i] = (struct cpgo_state_rec){.body = b[i].data,
                                         .len = b[i].len,
                                         .p = p[i],
                                         .instance = "b1",
                                         .when = 1700000000,
                                         .weight_ppm = CPGO_STATE_WEIGHT_ONE};
    }
    cpgo_state_ingest_batch(ts, rec, n);
    for (size_t i = 0; i < n; i++) {
        if (rcs) rcs[i] = rec[i].rc;
        ok += rec[i].rc == 0;
        cpgo_profile_free(p[i]);
    }
    return ok;
}

/* Group commit: a batch is synced once; a refusal in the middle costs one more sync and
 * keeps the records after it; a failed sync accepts none; kill -9 at any moment keeps a
 * prefix of the batch (only what was synced), all of it once acknowledged, nothing twice. */
static void test_group_commit(void)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {
    }
    struct cpgo_buf b[8];
    int64_t sum = 0;
    for (int i = 0; i < 8; i++)
        b[i] = body(40 + i);
    struct cpgo_tstate *ts = open_ts();
    uint64_t s0 = cpgo_state_journal_syncs(ts);
    CHECK_EQ_INT(batch(ts, b, 4, NULL), 4);
    CHECK_EQ_INT(cpgo_state_journal_syncs(ts) - s0, 1);
    for (int i = 0; i < 4; i++)
        sum += samples_of(&b[i]);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 4);
    CHECK_EQ_INT(samples(ts), sum);

    /* a refusal in the middle: good, odd, good, good */
    struct cpgo_buf mix[4] = {b[4], odd_body(50), b[5], b[6]};
    int rcs[4];
    s0 = cpgo_state_journal_syncs(ts);
    CHECK_EQ_INT(batch(ts, mix, 4, rcs), 3);
    CHECK(rcs[0] == 0 && rcs[1] != 0 && rcs[2] == 0 && rcs[3] == 0);
    CHECK_EQ_INT(cpgo_state_journal_syncs(ts) - s0, 2);
    sum += samples_of(&b[4]) + samples_of(&b[5]) + samples_of(&b[6]);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 7);
    CHECK_EQ_INT(samples(ts), sum);
    cpgo_state_close(ts); /* as after kill -9: the journal only */
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 7);
    CHECK_EQ_INT(samples(ts), sum);

    /* a failed sync (the 4th write-like step: three writes, then the sync) accepts none and
     * leaves the journal as it was */
    char jp[700];
    snprintf(jp, sizeof jp, "%s/targets/t1/journal.log", dir);
    struct stat st, st2;
    CHECK_EQ_INT(stat(jp, &st), 0);
    cpgo_file_fault_set(4, EIO);
    CHECK_EQ_INT(batch(ts, b, 3, rcs), 0);
    cpgo_file_fault_set(0, 0);
    CHECK(rcs[0] != 0 && rcs[1] != 0 && rcs[2] != 0);
    CHECK_EQ_INT(stat(jp, &st2), 0);
    CHECK_EQ_INT(st2.st_size, st.st_size);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 7);
    /* a failed second write: the first record is accepted, the rest fail */
    cpgo_file_fault_set(2, ENOSPC);
    CHECK_EQ_INT(batch(ts, b, 3, rcs), 1);
    cpgo_file_fault_set(0, 0);
    CHECK(rcs[0] == 0 && rcs[1] != 0 && rcs[2] != 0);
    sum += samples_of(&b[0]);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 8);
    cpgo_state_close(ts);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 8);
    CHECK_EQ_INT(samples(ts), sum);
    cpgo_state_close(ts);

    /* kill -9 during a batch of 8, at a random moment: after recovery pending holds the
     * earlier scrapes plus a prefix of the batch, all 8 when the child had acknowledged */
    int64_t pre[9] = {0};
    for (int i = 0; i < 8; i++)
        pre[i + 1] = pre[i] + samples_of(&b[i]);
    uint64_t have = 8;
    int64_t have_sum = sum;
    srand((unsigned)time(NULL));
    for (int round = 0; round < 12; round++) {
        int fds[2];
        CHECK_EQ_INT(pipe(fds), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            struct cpgo_tstate *c = open_ts();
            if (write(fds[1], "o", 1) != 1) _exit(1);
            size_t ok = c ? batch(c, b, 8, NULL) : 0;
            if (ok == 8 && write(fds[1], "a", 1) != 1) _exit(1); /* acknowledged */
            pause();
            _exit(0);
        }
        close(fds[1]);
        char ch = 0;
        CHECK_EQ_INT(read(fds[0], &ch, 1), 1); /* opened */
        struct timespec d = {0, (long)(rand() % 3000) * 1000};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        int acked = read(fds[0], &ch, 1) == 1 && ch == 'a';
        close(fds[0]);
        ts = open_ts();
        uint64_t got = cpgo_state_pending_scrapes(ts);
        CHECK(got >= have && got <= have + 8);
        uint64_t k = got - have;
        if (acked) CHECK_EQ_INT(k, 8);
        CHECK_EQ_INT(samples(ts), have_sum + pre[k < 8 ? k : 8]);
        have = got;
        have_sum += pre[k < 8 ? k : 8];
        cpgo_state_close(ts);
    }
    if (system(cmd)) {
    }
    cpgo_buf_free(&mix[1]);
    for (int i = 0; i < 8; i++)
        cpgo_buf_free(&b[i]);
}

int main(void)
{
    cpgo_limits_default(&lim);
    memset(&mo, 0, sizeof mo);
    snprintf(dir, sizeof dir, "%s/cpgo-state-test-%ld",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    struct cpgo_err err;
    struct cpgo_buf b1 = body(1), b2 = body(2), b3 = body(3);
    int64_t s1 = samples_of(&b1), s2 = samples_of(&b2), s3 = samples_of(&b3);
    test_group_commit();

    /* journal survives a restart */
    struct cpgo_tstate *ts = open_ts();
    CHECK(ts != NULL);
    ingest(ts, &b1);
    ingest(ts, &b2);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 2);
    cpgo_state_close(ts); /* as after kill -9: no snapshot */
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 2);
    CHECK_EQ_INT(samples(ts), s1 + s2);

    /* a torn record at the end (a crash mid-append) is cut off, the rest kept */
    cpgo_state_close(ts);
    char jp[700];
    snprintf(jp, sizeof jp, "%s/targets/t1/journal.log", dir);
    struct stat st;
    CHECK_EQ_INT(stat(jp, &st), 0);
    FILE *f = fopen(jp, "ab");
    fwrite("CPGJ\x03\0\0\0\0\0\0\0\xff\xff\0\0garbage", 1, 23, f);
    fclose(f);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 2);
    struct stat st2;
    stat(jp, &st2);
    CHECK_EQ_INT(st2.st_size, st.st_size); /* the tail was truncated */
    /* a flipped byte inside the last, complete record: damage to an accepted record (a
     * crash tears a tail, it does not flip bytes): skipped and reported, the rest kept
     * (test_state_trust.c covers the reporting) */
    cpgo_state_close(ts);
    f = fopen(jp, "r+b");
    fseek(f, -10, SEEK_END);
    fputc('X', f);
    fclose(f);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 1);
    CHECK_EQ_INT(samples(ts), s1);
    CHECK_EQ_INT(cpgo_state_problem_count(ts), 1);
    CHECK_EQ_INT(cpgo_state_corrupt_records(ts), 1);
    ingest(ts, &b2);

    /* snapshot: the journal is emptied, pending survives */
    CHECK_EQ_INT(cpgo_state_snapshot(ts, &err), 0);
    stat(jp, &st);
    CHECK_EQ_INT(st.st_size, 0);
    ingest(ts, &b3);
    cpgo_state_close(ts);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 3);
    CHECK_EQ_INT(samples(ts), s1 + s2 + s3);

    /* publish, crash after the intent but before the output: not published */
    char out[700];
    snprintf(out, sizeof out, "%s/out/default.pgo", dir);
    struct cpgo_buf enc;
    CHECK_EQ_INT(cpgo_merge_encode(cpgo_state_pending(ts), 0, 1, &enc, &err), 0);
    CHECK_EQ_INT(cpgo_state_publish_begin(ts, out, enc.data, enc.len, &err), 0);
    cpgo_state_close(ts);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 3); /* still pending */
    /* crash after the output was written, before the commit: published */
    CHECK_EQ_INT(cpgo_state_publish_begin(ts, out, enc.data, enc.len, &err), 0);
    CHECK_EQ_INT(cpgo_state_write_file(out, enc.data, enc.len, &err), 0);
    cpgo_state_close(ts);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 0);
    CHECK_EQ_INT(samples(ts), 0);
    /* an output changed by someone else is not mistaken for ours */
    ingest(ts, &b1);
    cpgo_buf_free(&enc);
    CHECK_EQ_INT(cpgo_merge_encode(cpgo_state_pending(ts), 0, 1, &enc, &err), 0);
    CHECK_EQ_INT(cpgo_state_publish_begin(ts, out, enc.data, enc.len, &err), 0);
    CHECK_EQ_INT(cpgo_state_write_file(out, "other", 5, &err), 0);
    cpgo_state_close(ts);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 1);
    /* the intent records the output's CRC-32; one written by an earlier version records
     * the FNV-1a of 16 hex digits, and a crash after its output was written still means
     * published */
    CHECK_EQ_INT(cpgo_state_publish_begin(ts, out, enc.data, enc.len, &err), 0);
    CHECK_EQ_INT(cpgo_state_write_file(out, enc.data, enc.len, &err), 0);
    cpgo_state_close(ts);
    {
        char ip[800];
        snprintf(ip, sizeof ip, "%s/targets/t1/publishing.json", dir);
        FILE *jf = fopen(ip, "rb");
        CHECK(jf != NULL);
        char js[2048] = {0};
        size_t jn = jf ? fread(js, 1, sizeof js - 1, jf) : 0;
        if (jf) fclose(jf);
        char *at = strstr(js, "\"crc32:");
        CHECK(at != NULL);
        CHECK(jn > 0 && at && strlen(at) > 15 && at[15] == '"');
        if (at && strlen(at) > 15) {
            char old[2048];
            snprintf(old, sizeof old, "%.*s\"%016llx%s", (int)(at - js), js,
                     (unsigned long long)cpgo_hash_fnv1a(enc.data, enc.len, CPGO_FNV1A_INIT),
                     at + 15);
            CHECK_EQ_INT(cpgo_state_write_file(ip, old, strlen(old), &err), 0);
        }
    }
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 0);
    ingest(ts, &b1);
    /* a normal commit clears pending and the journal */
    CHECK_EQ_INT(cpgo_state_publish_begin(ts, out, enc.data, enc.len, &err), 0);
    CHECK_EQ_INT(cpgo_state_write_file(out, enc.data, enc.len, &err), 0);
    CHECK_EQ_INT(cpgo_state_publish_commit(ts, &err), 0);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 0);
    cpgo_buf_free(&enc);
    /* new scrapes after a publish continue the sequence and survive a restart */
    ingest(ts, &b2);
    cpgo_state_close(ts);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 1);
    CHECK_EQ_INT(samples(ts), s2);

    /* stale temp files from a killed writer are removed at open and before a publish */
    cpgo_state_close(ts);
    char tmp[800];
    snprintf(tmp, sizeof tmp, "%s/targets/t1/published.json.tmp-99999", dir);
    f = fopen(tmp, "w");
    fclose(f);
    ts = open_ts();
    CHECK(access(tmp, F_OK) != 0);
    snprintf(tmp, sizeof tmp, "%s.tmp-12345", out);
    f = fopen(tmp, "w");
    fclose(f);
    cpgo_state_remove_stale_temps(out);
    CHECK(access(tmp, F_OK) != 0);
    CHECK(access(out, F_OK) == 0);

    cpgo_state_close(ts);

    /* forge segments: a push closes pending into a segment; settling by the blob the base
     * branch now has publishes exactly what that push contained */
    snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s", "");
    if (system(cmd)) {
    }
    ts = open_ts();
    ingest(ts, &b1);
    ingest(ts, &b2);
    CHECK_EQ_INT(cpgo_state_push_begin(ts, "aaaa", &err), 0);
    CHECK_EQ_INT(cpgo_state_segments(ts), 1);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 2);
    CHECK_EQ_INT(samples(ts), 0); /* the fresh part is empty */
    ingest(ts, &b3);
    cpgo_state_close(ts); /* crash: no snapshot */
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_segments(ts), 1);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 3);
    CHECK_EQ_INT(samples(ts), s3);
    CHECK_EQ_INT(folded(ts), s1 + s2 + s3);
    struct cpgo_state_meta meta;
    cpgo_state_pending_meta(ts, &meta);
    CHECK_EQ_INT(meta.scrapes, 3);
    CHECK_EQ_INT(meta.instances, 1);
    CHECK_EQ_INT(meta.first, 1700000000);
    uint64_t settled = 0;
    CHECK_EQ_INT(cpgo_state_settle(ts, "bbbb", &settled, &err), 0);
    CHECK_EQ_INT(settled, 0);
    /* a second push with nothing new adds its blob to the same segment... */
    CHECK_EQ_INT(cpgo_state_push_begin(ts, "cccc", &err), 0);
    CHECK_EQ_INT(cpgo_state_segments(ts), 2);
    CHECK_EQ_INT(cpgo_state_push_begin(ts, "dddd", &err), 0);
    CHECK_EQ_INT(cpgo_state_segments(ts), 2);
    ingest(ts, &b1);
    cpgo_state_close(ts);
    ts = open_ts();
    /* ...and the older push landing (a race with the newer push) settles only its part */
    CHECK_EQ_INT(cpgo_state_settle(ts, "aaaa", &settled, &err), 0);
    CHECK_EQ_INT(settled, 2);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 2);
    CHECK_EQ_INT(folded(ts), s3 + s1);
    cpgo_state_close(ts);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 2);
    CHECK_EQ_INT(cpgo_state_settle(ts, "dddd", &settled, &err), 0);
    CHECK_EQ_INT(settled, 1);
    CHECK_EQ_INT(cpgo_state_segments(ts), 0);
    CHECK_EQ_INT(folded(ts), s1);
    /* a crash after published.json and before pushes.json was rewritten: the settled
     * segment is not counted again */
    CHECK_EQ_INT(cpgo_state_push_begin(ts, "eeee", &err), 0);
    cpgo_state_close(ts);
    char pj[700];
    snprintf(pj, sizeof pj, "%s/targets/t1/published.json", dir);
    f = fopen(pj, "w");
    fprintf(f, "{\"upto_seq\": 6}");
    fclose(f);
    ts = open_ts();
    CHECK_EQ_INT(cpgo_state_segments(ts), 0);
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 0);
    /* many pushes keep a bounded number of segments, and nothing is lost */
    for (int i = 0; i < 6; i++) {
        char id[8];
        snprintf(id, sizeof id, "f%d", i);
        ingest(ts, &b1);
        CHECK_EQ_INT(cpgo_state_push_begin(ts, id, &err), 0);
        CHECK(cpgo_state_segments(ts) < CPGO_STATE_MAX_SEGS);
    }
    CHECK_EQ_INT(cpgo_state_pending_scrapes(ts), 6);
    CHECK_EQ_INT(folded(ts), 6 * s1);
    CHECK_EQ_INT(cpgo_state_settle(ts, "f4", &settled, &err), 0);
    CHECK_EQ_INT(settled, 5);
    CHECK_EQ_INT(folded(ts), s1);
    /* the forge record survives a restart */
    struct cpgo_state_forge fg;
    cpgo_state_forge_get(ts, &fg);
    CHECK_EQ_INT(fg.pr_number, 0);
    fg.pr_number = 7;
    fg.closed_pr = 5;
    fg.closed_scrapes = 3;
    snprintf(fg.pr_url, sizeof fg.pr_url, "https://example.com/pr/7");
    /* the head branch the last round resolved: /status names it after a restart */
    snprintf(fg.head_branch, sizeof fg.head_branch, "cpgo/main/cmd/app/default.pgo");
    CHECK_EQ_INT(cpgo_state_forge_put(ts, &fg, &err), 0);
    cpgo_state_close(ts);
    ts = open_ts();
    struct cpgo_state_forge fg2;
    cpgo_state_forge_get(ts, &fg2);
    CHECK_EQ_INT(fg2.pr_number, 7);
    CHECK_EQ_INT(fg2.closed_scrapes, 3);
    CHECK(!strcmp(fg2.pr_url, fg.pr_url));
    CHECK(!strcmp(fg2.head_branch, "cpgo/main/cmd/app/default.pgo"));
    cpgo_state_close(ts);

    cpgo_buf_free(&b1);
    cpgo_buf_free(&b2);
    cpgo_buf_free(&b3);
    if (system(cmd)) {
    }
    test_weights();
    CHECK_DONE();
}
