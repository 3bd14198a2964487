/* candidate.c - see candidate.h: decay, merge, stamp, the checks Go's PGO makes, the edge
 * change and the min_change decision. */
#include "publish/candidate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/hash.h"
#include "profile/gz.h"
#include "publish/gocheck.h"

#define DECAY_BITS 40

int64_t cpgo_candidate_now(void)
{
    const char *t = getenv("CPGO_TEST_NOW");
    if (t && *t) {
        char *end;
        long long v = strtoll(t, &end, 10);
        if (!*end && v > 0) return (int64_t)v;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

/* "YYYY-MM-DDTHH:MM:SS" then "Z" or "+HH:MM"/"-HH:MM" (fractions ignored); -1 if not. */
static int64_t parse_rfc3339(const char *s, size_t n)
{
    char buf[64];
    if (n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    struct tm tm = {0};
    int used = 0;
    if (sscanf(buf, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
        used != 19 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *p = buf + used;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int h = atoi(p + 1), m = atoi(p + 4);
        off = (int64_t)(h * 3600 + m * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p) return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return -1;
    return (int64_t)t - off;
}

int64_t cpgo_candidate_stamp_time(const cpgo_pb_profile *pb)
{
    const size_t pl = strlen(CPGO_CANDIDATE_STAMP);
    int64_t best = -1;
    for (size_t i = 0; i < pb->n_comment; i++) {
        size_t n;
        const char *s = cpgo_profile_str(pb, pb->comment[i], &n);
        if (n <= pl || memcmp(s, CPGO_CANDIDATE_STAMP, pl)) continue;
        int64_t t = parse_rfc3339(s + pl, n - pl);
        if (t > best) best = t;
    }
    return best;
}

struct cpgo_scale cpgo_candidate_decay(int64_t age_s, int64_t half_life_ms, int64_t now_s,
                                       double *factor)
{
    if (factor) *factor = 1.0;
    if (half_life_ms <= 0 || age_s <= 0) return CPGO_SCALE_ONE;
    double f = exp2(-((double)age_s * 1000.0) / (double)half_life_ms);
    /* a fixed-point fraction: everything after this is integer arithmetic */
    uint64_t den = (uint64_t)1 << DECAY_BITS;
    double fx = ldexp(f, DECAY_BITS);
    uint64_t num = fx >= (double)den ? den : (uint64_t)llround(fx);
    if (factor) *factor = (double)num / (double)den;
    if (num == den) return CPGO_SCALE_ONE;
    /* the dither's seed: the clock, so the same inputs and clock give the same bytes */
    return (struct cpgo_scale){num, den, cpgo_hash_fmix64((uint64_t)now_s) | 1, 0};
}

void cpgo_candidate_window(int64_t half_life_ms, char *buf, size_t cap)
{
    /* 0.5^(t/H) = 0.1  <=>  t = H log2(10) */
    double t = (double)half_life_ms / 1000.0 * log2(10.0);
    if (t >= 2 * 86400.0)
        snprintf(buf, cap, "90%% of the weight is from the last %.0f days", t / 86400.0);
    else if (t >= 2 * 3600.0)
        snprintf(buf, cap, "90%% of the weight is from the last %.0f hours", t / 3600.0);
    else
        snprintf(buf, cap, "90%% of the weight is from the last %.0f minutes", t / 60.0);
}

static void fmt_stamp(int64_t now, char *buf, size_t cap)
{
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[40];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(buf, cap, "%s%s", CPGO_CANDIDATE_STAMP, ts);
}

void cpgo_candidate_free(struct cpgo_candidate *c)
{
    cpgo_buf_free(&c->out);
    cpgo_profile_free(c->neu);
    if (c->have_sb) cpgo_summary_free(&c->sb);
    if (c->have_sa) cpgo_summary_free(&c->sa);
    cpgo_pgograph_free(c->graph);
    cpgo_pgograph_free(c->ref);
    cpgo_pgograph_free(c->prop);
    free(c->added);
    free(c->removed);
    /* neu is a view of res, which borrows acc: freed after everything that reads them */
    cpgo_merged_free(c->res);
    cpgo_merge_free(c->acc);
    memset(c, 0, sizeof *c);
}

/* Go's PGO reads the candidate: the same needs the compiler has, stated as it would. */
static int check_pgo(struct cpgo_candidate *c, struct cpgo_err *err)
{
    const cpgo_pb_profile *pb = c->neu->pb;
    unsigned lacks = cpgo_summary_pgo_lacks(pb, CPGO_PGO_NO_TYPE | CPGO_PGO_NO_START_LINES, NULL);
    if (lacks & CPGO_PGO_NO_TYPE)
        return cpgo_err_set(err, CPGO_E_INPUT,
                            "Go's PGO would reject it: no samples/count or cpu/nanoseconds "
                            "sample type");
    if (lacks & CPGO_PGO_NO_START_LINES)
        return cpgo_err_set(err, CPGO_E_INPUT,
                            "Go's PGO would reject it: no function has a start line");
    int rc = cpgo_pgograph_build(pb, &c->graph, err);
    if (rc) {
        cpgo_err_prefix(err, "Go's PGO would reject it");
        return rc == CPGO_E_NOMEM ? rc : CPGO_E_INPUT;
    }
    if (c->graph->nedges == 0)
        return cpgo_err_set(err, CPGO_E_INPUT,
                            "Go's PGO would ignore it: no call edges (every sample has a single "
                            "frame, or no sample has weight)");
    return 0;
}

/* The edge change: against the existing file (what merging changes in the build: the pull
 * request's lists) and, for min_change, against the open proposal when there is one (an
 * update that barely moves the proposal is not worth a push). */
static int compare(const struct cpgo_candidate_in *in, struct cpgo_candidate *c,
                   struct cpgo_err *err)
{
    struct cpgo_err e;
    struct cpgo_pgograph empty = {0};
    c->tvd = 1.0;
    if (in->existing && cpgo_pgograph_build(in->existing->pb, &c->ref, &e))
        c->ref = NULL; /* unusable: everything is a change */
    if (c->ref) c->tvd = cpgo_pgograph_tvd(c->ref, c->graph);
    /* with no usable reference every hot edge of the candidate is new */
    int rc = cpgo_pgograph_hot_diff(c->ref ? c->ref : &empty, c->graph, &c->added, &c->nadded,
                                    &c->removed, &c->nremoved, err);
    if (rc) return rc;
    const struct cpgo_pgograph *judge = c->ref;
    c->tvd_judged = c->tvd;
    c->hot_changed_judged = c->nadded + c->nremoved;
    if (in->proposed && cpgo_pgograph_build(in->proposed->pb, &c->prop, &e) == 0) {
        struct cpgo_pgo_edge_change *ad, *rm;
        size_t na, nr;
        if ((rc = cpgo_pgograph_hot_diff(c->prop, c->graph, &ad, &na, &rm, &nr, err))) return rc;
        free(ad);
        free(rm);
        judge = c->prop;
        c->ref_is_proposal = 1;
        c->tvd_judged = cpgo_pgograph_tvd(c->prop, c->graph);
        c->hot_changed_judged = na + nr;
    }
    double min = (double)in->pgo->min_change_ppm / 1e6;
    const char *ename = in->existing_name ? in->existing_name : "the target branch's file";
    c->worth = 1;
    if (in->pgo->min_change_ppm && judge && c->hot_changed_judged == 0 && c->tvd_judged < min) {
        c->worth = 0;
        snprintf(c->why, sizeof c->why,
                 "edge weights moved %.2f%% (min_change %.2f%%) and no hot edge appeared or "
                 "disappeared, compared with %s",
                 c->tvd_judged * 100.0, min * 100.0,
                 c->ref_is_proposal ? "the open proposal" : ename);
    } else if (c->ref_is_proposal) {
        snprintf(c->why, sizeof c->why,
                 "edge weights moved %.2f%% from the open proposal (%zu hot edge change%s), "
                 "%.2f%% from %s (%zu hot edge%s added, %zu removed)",
                 c->tvd_judged * 100.0, c->hot_changed_judged,
                 c->hot_changed_judged == 1 ? "" : "s", c->tvd * 100.0, ename, c->nadded,
                 c->nadded == 1 ? "" : "s", c->nremoved);
    } else if (c->ref) {
        snprintf(c->why, sizeof c->why,
                 "edge weights moved %.2f%% from %s, %zu hot edge%s added, %zu removed",
                 c->tvd * 100.0, ename, c->nadded, c->nadded == 1 ? "" : "s", c->nremoved);
    } else {
        snprintf(c->why, sizeof c->why, "a new file: %zu call edges, %zu hot", c->graph->nedges,
                 c->nadded);
    }
    return 0;
}

int cpgo_candidate_build(const struct cpgo_candidate_in *in, struct cpgo_candidate *c,
                         struct cpgo_err *err)
{
    memset(c, 0, sizeof *c);
    c->decay = 1.0;
    size_t top = in->top_n ? in->top_n : 10;
    struct cpgo_merge_opts mo = in->mo;
    mo.no_inline = in->pgo->no_inline;
    mo.nno_inline = in->pgo->nno_inline;
    struct cpgo_merger *m = NULL;
    if (cpgo_merge_new(&m, &mo)) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    struct cpgo_scale decay = CPGO_SCALE_ONE;
    int rc;
    if (!in->want_top) top = 0;
    if (in->existing) {
        if (top && cpgo_summary_build(in->existing, top, &c->sb, err) == 0) c->have_sb = 1;
        int64_t stamp = cpgo_candidate_stamp_time(in->existing->pb);
        int64_t since = stamp >= 0 ? stamp : in->existing_changed_s;
        c->age_from = stamp >= 0                   ? CPGO_AGE_STAMP
                      : in->existing_changed_s > 0 ? CPGO_AGE_FALLBACK
                                                   : CPGO_AGE_NONE;
        if (c->age_from != CPGO_AGE_NONE && in->now_s > since) c->age_s = in->now_s - since;
        decay = cpgo_candidate_decay(c->age_s, in->pgo->half_life_ms, in->now_s, &c->decay);
        if ((rc = cpgo_merge_add_scaled(m, in->existing, decay, err))) {
            c->failed = CPGO_CAND_EXISTING;
            goto out;
        }
    }
    if (in->fold && (rc = in->fold(in->fold_arg, m, err))) {
        c->failed = CPGO_CAND_PENDING;
        goto out;
    }
    c->failed = CPGO_CAND_RESULT;
    char stamp[80];
    fmt_stamp(in->now_s, stamp, sizeof stamp);
    if ((rc = cpgo_merge_stamp(m, CPGO_CANDIDATE_STAMP, stamp, err))) goto out;
    /* The result (validated by the merger, M7) is what the summary, the graph and the last
     * checks read, through a view: decoding the bytes just packed from it would give the
     * same message at the cost of a decode of the whole target. What decoding would also
     * tell, whether the next round can read the file under its limits, is checked on the
     * packed bytes (size, counts, the decode memory bound). */
    struct cpgo_buf packed = {0};
    if ((rc = cpgo_merge_result_view(m, &c->res, &c->neu, err))) goto out;
    c->acc = m;
    m = NULL;
    rc = cpgo_profile_pack(&c->res->pb, &packed, err);
    if (!rc) rc = cpgo_profile_check_readable(packed.data, packed.len, in->lim, err);
    if (!rc) rc = cpgo_gz_compress(packed.data, packed.len, 1, &c->out, err);
    cpgo_buf_free(&packed);
    if (!rc && c->out.len > in->lim->max_compressed)
        rc = cpgo_err_set(err, CPGO_E_LIMIT, "profile is %zu bytes, more than the limit of %zu",
                          c->out.len, in->lim->max_compressed);
    if (rc || (rc = cpgo_summary_build(c->neu, top, &c->sa, err))) {
        cpgo_err_prefix(err, "the merged profile");
        goto out;
    }
    c->have_sa = 1;
    c->failed = CPGO_CAND_PGO;
    if ((rc = check_pgo(c, err))) goto out;
    c->failed = CPGO_CAND_RESULT;
    if ((rc = compare(in, c, err))) goto out;
    c->failed = CPGO_CAND_PGO;
    if (in->pgo->verify_with_go && c->worth) {
        struct cpgo_err ge = {0};
        rc = cpgo_gocheck_preprofile(c->out.data, c->out.len, CPGO_CANDIDATE_GO_TIMEOUT_MS, &ge);
        if (rc == CPGO_E_EMPTY) {
            /* no go on PATH: the check is made "with go on PATH"; the caller warns */
            c->go_skipped = 1;
            snprintf(c->go_why, sizeof c->go_why, "%.200s", ge.text);
        } else if (rc) {
            *err = ge;
            cpgo_err_prefix(err, "go tool preprofile refused the candidate");
            goto out;
        } else {
            c->go_verified = 1;
        }
    }
    c->failed = CPGO_CAND_OK;
    rc = 0;
out:
    cpgo_merge_free(m);
    return rc;
}
