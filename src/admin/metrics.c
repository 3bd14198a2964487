/*
 * metrics.c - see metrics.h.
 *
 * A family keeps its series in an array (insertion order) and finds them by label values
 * through a cpgo_itab keyed by a hash of the values. Sorting happens only when rendering, on
 * a copy of the series pointers, so updates stay O(1) and the rendered order does not depend
 * on the order events happened in. Each series is one allocation: the struct, its value
 * pointers, its histogram buckets and the copied value strings.
 */
#include "admin/metrics.h"
#include "base/err.h"
#include "base/hash.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

struct series {
    const char **values; /* nlabels entries, then NULL (points into the same allocation) */
    double v;            /* counter or gauge */
    double sum;          /* histogram */
    uint64_t count;      /* histogram */
    uint64_t *buckets;   /* histogram: nbounds + 1 non-cumulative counts (last is +Inf) */
};

struct cpgo_metric {
    struct cpgo_metrics *r;
    struct cpgo_metric *next; /* registration order */
    enum kind kind;
    char *name, *help;
    char *labels[CPGO_METRIC_MAX_LABELS];
    size_t nlabels;
    double *bounds;
    size_t nbounds;
    struct series **series;
    size_t nseries, cap;
    size_t max_series; /* SIZE_MAX for the registry's own dropped-series counter */
    struct cpgo_itab index;
};

struct collector {
    cpgo_metrics_collect_cb cb;
    void *arg;
};

struct cpgo_metrics {
    struct cpgo_metric *head, *tail;
    struct cpgo_metric *dropped; /* cpgo_metrics_dropped_series_total{metric}, rendered last */
    size_t max_series;
    struct collector collectors[CPGO_METRIC_MAX_COLLECTORS];
    size_t ncollectors;
    int has_error;
    struct cpgo_err err;
};

#define DROPPED_NAME "cpgo_metrics_dropped_series_total"

/* ---- names ------------------------------------------------------------------------- */

static int valid_metric_name(const char *s)
{
    if (!s || !*s) return 0;
    for (size_t i = 0; s[i]; i++) {
        char ch = s[i];
        int alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9')) return 0;
    }
    return 1;
}

static int valid_label_name(const char *s)
{
    if (!s || !*s || (s[0] == '_' && s[1] == '_')) return 0; /* "__" is Prometheus' own */
    for (size_t i = 0; s[i]; i++) {
        char ch = s[i];
        int alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9')) return 0;
    }
    return 1;
}

static void reg_error(struct cpgo_metrics *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void reg_error(struct cpgo_metrics *r, const char *fmt, ...)
{
    if (r->has_error) return; /* the first error is the one to fix */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err.text, sizeof r->err.text, fmt, ap);
    va_end(ap);
    r->err.code = CPGO_E_USAGE;
    r->has_error = 1;
}

/* The sample names a family writes: a histogram also owns name_bucket, _sum and _count, and
 * two families must never write the same sample name. */
static int sample_names(const char *name, enum kind kind, char out[4][256])
{
    int n = 0;
    snprintf(out[n++], 256, "%s", name);
    if (kind == K_HISTOGRAM) {
        snprintf(out[n++], 256, "%s_bucket", name);
        snprintf(out[n++], 256, "%s_sum", name);
        snprintf(out[n++], 256, "%s_count", name);
    }
    return n;
}

static int clashes(const struct cpgo_metric *f, char mine[4][256], int nm)
{
    char theirs[4][256];
    int nt = sample_names(f->name, f->kind, theirs);
    for (int i = 0; i < nm; i++)
        for (int j = 0; j < nt; j++)
            if (!strcmp(mine[i], theirs[j])) return 1;
    return 0;
}

static int name_taken(const struct cpgo_metrics *r, const char *name, enum kind kind)
{
    char mine[4][256];
    int nm = sample_names(name, kind, mine);
    for (const struct cpgo_metric *m = r->head; m; m = m->next)
        if (clashes(m, mine, nm)) return 1;
    /* the registry's own counter (absent while it is itself being registered) */
    return r->dropped && clashes(r->dropped, mine, nm);
}

/* ---- series ------------------------------------------------------------------------ */

static size_t count_values(const char *const *values)
{
    size_t n = 0;
    while (values && values[n])
        n++;
    return n;
}

static uint64_t hash_values(const char *const *values, size_t n)
{
    uint64_t h = 0x6a09e667f3bcc908ULL;
    for (size_t i = 0; i < n; i++) {
        /* the length is mixed in so ("ab","c") and ("a","bc") differ */
        size_t len = strlen(values[i]);
        h = cpgo_hash_mix(h, cpgo_hash_bytes(values[i], len, len));
    }
    return h;
}

struct probe {
    const struct cpgo_metric *m;
    const char *const *values;
};

static int series_eq(const void *ctx, uint32_t idx)
{
    const struct probe *p = ctx;
    const struct series *s = p->m->series[idx];
    for (size_t i = 0; i < p->m->nlabels; i++)
        if (strcmp(s->values[i], p->values[i])) return 0;
    return 1;
}

static struct series *series_alloc(const struct cpgo_metric *m, const char *const *values)
{
    size_t strbytes = 0;
    for (size_t i = 0; i < m->nlabels; i++)
        strbytes += strlen(values[i]) + 1;
    size_t nb = m->kind == K_HISTOGRAM ? m->nbounds + 1 : 0;
    /* one block: struct | values[nlabels + 1] | buckets[nb] | strings (sizes are small:
     * nlabels <= 8, nb <= 65, strings <= 8 * 257 bytes, so no overflow is possible) */
    size_t size = sizeof(struct series) + (m->nlabels + 1) * sizeof(char *) +
                  nb * sizeof(uint64_t) + strbytes;
    struct series *s = calloc(1, size);
    if (!s) return NULL;
    unsigned char *p = (unsigned char *)(s + 1);
    s->values = (const char **)p;
    p += (m->nlabels + 1) * sizeof(char *);
    if (nb) {
        s->buckets = (uint64_t *)p;
        p += nb * sizeof(uint64_t);
    }
    for (size_t i = 0; i < m->nlabels; i++) {
        size_t len = strlen(values[i]) + 1;
        memcpy(p, values[i], len);
        s->values[i] = (const char *)p;
        p += len;
    }
    s->values[m->nlabels] = NULL;
    return s;
}

static int count_dropped(struct cpgo_metrics *r, const struct cpgo_metric *m);

/* Finds or creates the series for values. *out is NULL with CPGO_E_LIMIT when dropped. */
static int series_get(struct cpgo_metric *m, const char *const *values, int create,
                      struct series **out)
{
    *out = NULL;
    if (!m) return CPGO_E_USAGE;
    if (count_values(values) != m->nlabels) return CPGO_E_USAGE;
    if (!m->nlabels) {
        if (!m->nseries) {
            /* made at registration; absent after cpgo_metric_remove until the next update */
            if (!create) return CPGO_E_EMPTY;
            if (CPGO_ARRAY_PUSH_ROOM(m->series, m->nseries, m->cap)) return CPGO_E_NOMEM;
            if (!(m->series[0] = series_alloc(m, NULL))) return CPGO_E_NOMEM;
            m->nseries = 1;
        }
        *out = m->series[0];
        return 0;
    }
    uint64_t h = hash_values(values, m->nlabels);
    struct probe p = {m, values};
    int64_t idx = cpgo_itab_find(&m->index, h, series_eq, &p);
    if (idx >= 0) {
        *out = m->series[idx];
        return 0;
    }
    if (!create) return CPGO_E_EMPTY;
    int too_long = 0;
    for (size_t i = 0; i < m->nlabels; i++)
        if (strlen(values[i]) > CPGO_METRIC_VALUE_MAX) too_long = 1;
    if (too_long || m->nseries >= m->max_series) {
        count_dropped(m->r, m);
        return CPGO_E_LIMIT;
    }
    if (CPGO_ARRAY_PUSH_ROOM(m->series, m->nseries, m->cap)) return CPGO_E_NOMEM;
    struct series *s = series_alloc(m, values);
    if (!s) return CPGO_E_NOMEM;
    if (cpgo_itab_insert(&m->index, h, (uint32_t)m->nseries)) {
        free(s);
        return CPGO_E_NOMEM;
    }
    m->series[m->nseries++] = s;
    *out = s;
    return 0;
}

static int count_dropped(struct cpgo_metrics *r, const struct cpgo_metric *m)
{
    struct series *s;
    int rc = series_get(r->dropped, CPGO_LABELS(m->name), 1, &s);
    if (!rc) s->v += 1;
    return rc;
}

/* Rebuilds a family's index after series were removed (rare: reloads), as the index stores
 * array positions and cannot delete. */
static int reindex(struct cpgo_metric *m)
{
    cpgo_itab_free(&m->index);
    for (size_t i = 0; i < m->nseries; i++) {
        uint64_t h = hash_values(m->series[i]->values, m->nlabels);
        if (cpgo_itab_insert(&m->index, h, (uint32_t)i)) return CPGO_E_NOMEM;
    }
    return 0;
}

/* ---- registry ---------------------------------------------------------------------- */

static void family_free(struct cpgo_metric *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->nseries; i++)
        free(m->series[i]);
    free(m->series);
    cpgo_itab_free(&m->index);
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->bounds);
    free(m->name);
    free(m->help);
    free(m);
}

static struct cpgo_metric *family_new(struct cpgo_metrics *r, const char *name, const char *help,
                                      const char *const *labels, enum kind kind,
                                      const double *bounds, size_t nbounds)
{
    if (!valid_metric_name(name)) {
        reg_error(r, "metric name '%s' is invalid", name ? name : "(null)");
        return NULL;
    }
    size_t nlabels = count_values(labels);
    if (nlabels > CPGO_METRIC_MAX_LABELS) {
        reg_error(r, "metric %s: %zu labels, at most %d", name, nlabels, CPGO_METRIC_MAX_LABELS);
        return NULL;
    }
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_label_name(labels[i])) {
            reg_error(r, "metric %s: label name '%s' is invalid", name, labels[i]);
            return NULL;
        }
        if (kind == K_HISTOGRAM && !strcmp(labels[i], "le")) {
            reg_error(r, "metric %s: a histogram cannot have a label 'le'", name);
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(labels[i], labels[j])) {
                reg_error(r, "metric %s: label '%s' appears twice", name, labels[i]);
                return NULL;
            }
    }
    if (kind == K_HISTOGRAM) {
        if (nbounds && isinf(bounds[nbounds - 1]) && bounds[nbounds - 1] > 0) nbounds--;
        if (nbounds > CPGO_METRIC_MAX_BUCKETS) {
            reg_error(r, "metric %s: %zu buckets, at most %d", name, nbounds,
                      CPGO_METRIC_MAX_BUCKETS);
            return NULL;
        }
        for (size_t i = 0; i < nbounds; i++)
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
                reg_error(r, "metric %s: buckets must be finite and strictly increasing", name);
                return NULL;
            }
    }
    if (strlen(name) > 200) { /* sample_names() works in 256-byte buffers */
        reg_error(r, "metric name '%.40s...' is too long", name);
        return NULL;
    }
    if (name_taken(r, name, kind)) {
        reg_error(r, "metric %s: the name is already registered", name);
        return NULL;
    }
    struct cpgo_metric *m = calloc(1, sizeof *m);
    if (!m) goto nomem;
    m->r = r;
    m->kind = kind;
    m->max_series = r->max_series;
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    if (!m->name || !m->help) goto nomem;
    for (size_t i = 0; i < nlabels; i++) {
        if (!(m->labels[i] = strdup(labels[i]))) goto nomem;
        m->nlabels++;
    }
    if (kind == K_HISTOGRAM && nbounds) {
        if (!(m->bounds = malloc(nbounds * sizeof *m->bounds))) goto nomem;
        memcpy(m->bounds, bounds, nbounds * sizeof *m->bounds);
    }
    m->nbounds = kind == K_HISTOGRAM ? nbounds : 0;
    if (!nlabels) {
        /* the single series exists from the start, so it renders 0 before any event */
        if (CPGO_ARRAY_PUSH_ROOM(m->series, m->nseries, m->cap)) goto nomem;
        if (!(m->series[0] = series_alloc(m, NULL))) goto nomem;
        m->nseries = 1;
    }
    return m;
nomem:
    family_free(m);
    reg_error(r, "metric %s: out of memory", name);
    return NULL;
}

static struct cpgo_metric *family_register(struct cpgo_metrics *r, struct cpgo_metric *m)
{
    if (!m) return NULL;
    if (r->tail)
        r->tail->next = m;
    else
        r->head = m;
    r->tail = m;
    return m;
}

struct cpgo_metrics *cpgo_metrics_new(size_t max_series)
{
    struct cpgo_metrics *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->max_series = max_series ? max_series : CPGO_METRICS_DEFAULT_SERIES;
    r->dropped = family_new(r, DROPPED_NAME,
                            "Series not created because their family reached its series cap "
                            "or a label value was too long.",
                            CPGO_LABELS("metric"), K_COUNTER, NULL, 0);
    if (!r->dropped) {
        free(r);
        return NULL;
    }
    /* one series per family at most, and families are few: no cap needed */
    r->dropped->max_series = SIZE_MAX;
    return r;
}

void cpgo_metrics_free(struct cpgo_metrics *r)
{
    if (!r) return;
    struct cpgo_metric *m = r->head;
    while (m) {
        struct cpgo_metric *next = m->next;
        family_free(m);
        m = next;
    }
    family_free(r->dropped);
    free(r);
}

const char *cpgo_metrics_error(const struct cpgo_metrics *r)
{
    return r->has_error ? r->err.text : NULL;
}

struct cpgo_metric *cpgo_metric_counter(struct cpgo_metrics *r, const char *name, const char *help,
                                        const char *const *labels)
{
    return family_register(r, family_new(r, name, help, labels, K_COUNTER, NULL, 0));
}

struct cpgo_metric *cpgo_metric_gauge(struct cpgo_metrics *r, const char *name, const char *help,
                                      const char *const *labels)
{
    return family_register(r, family_new(r, name, help, labels, K_GAUGE, NULL, 0));
}

struct cpgo_metric *cpgo_metric_histogram(struct cpgo_metrics *r, const char *name,
                                          const char *help, const char *const *labels,
                                          const double *buckets, size_t nbuckets)
{
    return family_register(
        r, family_new(r, name, help, labels, K_HISTOGRAM, buckets, buckets ? nbuckets : 0));
}

/* ---- updates ----------------------------------------------------------------------- */

int cpgo_metric_add(struct cpgo_metric *m, double v, const char *const *values)
{
    if (!m || m->kind == K_HISTOGRAM) return CPGO_E_USAGE;
    if (m->kind == K_COUNTER && !(v >= 0)) return CPGO_E_USAGE; /* also NaN */
    struct series *s;
    int rc = series_get(m, values, 1, &s);
    if (rc) return rc;
    s->v += v;
    return 0;
}

int cpgo_metric_inc(struct cpgo_metric *m, const char *const *values)
{
    return cpgo_metric_add(m, 1, values);
}

int cpgo_metric_set(struct cpgo_metric *m, double v, const char *const *values)
{
    if (!m || m->kind == K_HISTOGRAM) return CPGO_E_USAGE;
    struct series *s;
    int rc = series_get(m, values, 1, &s);
    if (rc) return rc;
    s->v = v;
    return 0;
}

int cpgo_metric_observe(struct cpgo_metric *m, double v, const char *const *values)
{
    if (!m || m->kind != K_HISTOGRAM) return CPGO_E_USAGE;
    struct series *s;
    int rc = series_get(m, values, 1, &s);
    if (rc) return rc;
    /* first bound >= v (binary search); NaN compares false everywhere and lands in +Inf,
     * as in client_golang */
    size_t lo = 0, hi = m->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= m->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    if (isnan(v)) lo = m->nbounds;
    s->buckets[lo]++;
    s->count++;
    s->sum += v;
    return 0;
}

int cpgo_metric_get(const struct cpgo_metric *m, const char *const *values, double *v)
{
    struct series *s;
    /* series_get only writes through m when creating */
    int rc = series_get((struct cpgo_metric *)m, values, 0, &s);
    if (rc) return rc;
    *v = m->kind == K_HISTOGRAM ? (double)s->count : s->v;
    return 0;
}

int cpgo_metric_remove(struct cpgo_metric *m, const char *const *values)
{
    if (!m) return CPGO_E_USAGE;
    if (!m->nlabels) {
        if (values || !m->nseries) return values ? CPGO_E_USAGE : CPGO_E_EMPTY;
        free(m->series[0]);
        m->nseries = 0;
        return 0;
    }
    struct series *s;
    int rc = series_get(m, values, 0, &s);
    if (rc) return rc;
    for (size_t i = 0; i < m->nseries; i++) {
        if (m->series[i] != s) continue;
        m->series[i] = m->series[--m->nseries];
        break;
    }
    free(s);
    return reindex(m);
}

void cpgo_metric_clear(struct cpgo_metric *m)
{
    if (!m) return;
    if (!m->nlabels) {
        if (!m->nseries) return;
        struct series *s = m->series[0];
        s->v = s->sum = 0;
        s->count = 0;
        if (s->buckets) memset(s->buckets, 0, (m->nbounds + 1) * sizeof *s->buckets);
        return;
    }
    for (size_t i = 0; i < m->nseries; i++)
        free(m->series[i]);
    m->nseries = 0;
    cpgo_itab_free(&m->index);
}

size_t cpgo_metric_series(const struct cpgo_metric *m)
{
    return m ? m->nseries : 0;
}

int cpgo_metrics_add_collector(struct cpgo_metrics *r, cpgo_metrics_collect_cb cb, void *arg)
{
    if (r->ncollectors >= CPGO_METRIC_MAX_COLLECTORS) return CPGO_E_LIMIT;
    r->collectors[r->ncollectors].cb = cb;
    r->collectors[r->ncollectors].arg = arg;
    r->ncollectors++;
    return 0;
}

void cpgo_metrics_remove_collector(struct cpgo_metrics *r, cpgo_metrics_collect_cb cb, void *arg)
{
    for (size_t i = 0; i < r->ncollectors; i++) {
        if (r->collectors[i].cb != cb || r->collectors[i].arg != arg) continue;
        memmove(&r->collectors[i], &r->collectors[i + 1],
                (r->ncollectors - i - 1) * sizeof r->collectors[0]);
        r->ncollectors--;
        return;
    }
}

/* ---- rendering --------------------------------------------------------------------- */

void cpgo_metrics_format_value(double v, char *buf, size_t cap)
{
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        snprintf(buf, cap, "0"); /* also -0 */
    } else if (v == floor(v) && fabs(v) < 1e17) {
        /* an integral double below 1e17 prints exactly, without exponent */
        snprintf(buf, cap, "%.0f", v);
    } else {
        /* the shortest of 15..17 significant digits that reads back to v exactly */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, cap, "%.*g", prec, v);
            if (prec == 17 || strtod(buf, NULL) == v) break;
        }
    }
}

static int put(struct cpgo_buf *b, const char *s)
{
    return cpgo_buf_append(b, s, strlen(s));
}

/* Escapes \ and newline (HELP) and also " (label values), per the 0.0.4 format. */
static int put_escaped(struct cpgo_buf *b, const char *s, int quote)
{
    const char *run = s;
    for (;; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (quote && *s == '"')
            esc = "\\\"";
        else if (*s)
            continue;
        int rc = cpgo_buf_append(b, run, (size_t)(s - run));
        if (rc) return rc;
        if (!*s) return 0;
        if ((rc = put(b, esc))) return rc;
        run = s + 1;
    }
}

static int put_value(struct cpgo_buf *b, double v)
{
    char num[64];
    cpgo_metrics_format_value(v, num, sizeof num);
    return put(b, num);
}

/* name{l1="v1",...[,le="x"]} value\n */
static int put_sample(struct cpgo_buf *b, const struct cpgo_metric *m, const char *suffix,
                      const struct series *s, const char *le, double v)
{
    int rc;
    if ((rc = put(b, m->name)) || (rc = put(b, suffix))) return rc;
    if (m->nlabels || le) {
        if ((rc = put(b, "{"))) return rc;
        for (size_t i = 0; i < m->nlabels; i++) {
            if ((i && (rc = put(b, ","))) || (rc = put(b, m->labels[i])) || (rc = put(b, "=\"")) ||
                (rc = put_escaped(b, s->values[i], 1)) || (rc = put(b, "\"")))
                return rc;
        }
        if (le && ((m->nlabels && (rc = put(b, ","))) || (rc = put(b, "le=\"")) ||
                   (rc = put(b, le)) || (rc = put(b, "\""))))
            return rc;
        if ((rc = put(b, "}"))) return rc;
    }
    if ((rc = put(b, " ")) || (rc = put_value(b, v)) || (rc = put(b, "\n"))) return rc;
    return 0;
}

static int series_cmp(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a;
    const struct series *y = *(const struct series *const *)b;
    for (size_t i = 0; x->values[i] && y->values[i]; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c) return c;
    }
    return 0;
}

static int render_family(const struct cpgo_metric *m, struct cpgo_buf *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    int rc;
    if ((rc = put(out, "# HELP ")) || (rc = put(out, m->name)) || (rc = put(out, " ")) ||
        (rc = put_escaped(out, m->help, 0)) || (rc = put(out, "\n# TYPE ")) ||
        (rc = put(out, m->name)) || (rc = put(out, " ")) || (rc = put(out, types[m->kind])) ||
        (rc = put(out, "\n")))
        return rc;
    if (!m->nseries) return 0;
    struct series **sorted = malloc(m->nseries * sizeof *sorted);
    if (!sorted) return CPGO_E_NOMEM;
    memcpy(sorted, m->series, m->nseries * sizeof *sorted);
    qsort(sorted, m->nseries, sizeof *sorted, series_cmp);
    for (size_t i = 0; i < m->nseries && !rc; i++) {
        const struct series *s = sorted[i];
        if (m->kind != K_HISTOGRAM) {
            rc = put_sample(out, m, "", s, NULL, s->v);
            continue;
        }
        uint64_t cum = 0;
        for (size_t j = 0; j <= m->nbounds && !rc; j++) {
            char le[64];
            if (j < m->nbounds)
                cpgo_metrics_format_value(m->bounds[j], le, sizeof le);
            else
                snprintf(le, sizeof le, "+Inf");
            cum += s->buckets[j];
            rc = put_sample(out, m, "_bucket", s, le, (double)cum);
        }
        if (!rc) rc = put_sample(out, m, "_sum", s, NULL, s->sum);
        if (!rc) rc = put_sample(out, m, "_count", s, NULL, (double)s->count);
    }
    free(sorted);
    return rc;
}

int cpgo_metrics_render(struct cpgo_metrics *r, struct cpgo_buf *out)
{
    /* collectors may add or remove collectors only through the API, which shifts the
     * array: iterate over a copy */
    struct collector cs[CPGO_METRIC_MAX_COLLECTORS];
    size_t n = r->ncollectors;
    memcpy(cs, r->collectors, n * sizeof cs[0]);
    for (size_t i = 0; i < n; i++)
        cs[i].cb(r, cs[i].arg);
    for (const struct cpgo_metric *m = r->head; m; m = m->next) {
        int rc = render_family(m, out);
        if (rc) return rc;
    }
    return render_family(r->dropped, out);
}
