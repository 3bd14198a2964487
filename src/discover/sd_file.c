/*
 * sd_file.c - `file_sd_configs[]`: Prometheus's file_sd. Files written by other tools hold
 * target groups, in JSON or YAML (by the file's extension):
 *
 *   [{"targets": ["10.0.0.1:6060", "app:6060"], "labels": {"env": "prod"}}]
 *
 * What Prometheus does, and so this does:
 *   - A pattern names files; `*` (and ?, [..]) only in its last segment. Every refresh lists
 *     each pattern's directory and re-reads every matching file.
 *   - Unknown keys, null items, non-string targets or label values are errors, and so (an
 *     addition: Prometheus checks addresses only when it scrapes) is a target that is not
 *     host:port. An error makes that FILE invalid: its last good targets stay, the refresh
 *     fails, and the error names the file and line ("/etc/t.json:3: targets[1]: '10.0.0.1'
 *     has no port (host:port)"). A file no longer matched drops its targets.
 *   - An empty YAML file is a valid empty list; an empty JSON file is an error.
 *   - Origins are "<path>:<group index>".
 *
 * When: at start, every refresh_interval (uv_timer), and on any change in the directory of
 * each pattern (uv_fs_event, inotify on the directory, so a file renamed into place is seen
 * as well as one edited in place). Events are debounced (DEBOUNCE_MS from the first one) so
 * that a write-then-rename burst is one refresh. A directory that does not exist (yet) is
 * no error: its nearest existing ancestor is watched instead, and every refresh first
 * re-arms every watch, so the directory is watched from the refresh after it appears (and
 * a directory replaced by another of the same name is watched again too). Arming before
 * listing means no change can fall between the two: what came before is read, what comes
 * after raises an event. The timer covers what a watch cannot see (a file that is a
 * symlink into another directory, a watch refused by the inotify limits).
 *
 * Where: listing, reading (at most FILE_MAX bytes a file) and parsing run on libuv's
 * thread pool (uv_queue_work), one job at a time per source; a refresh asked for while a
 * job runs runs when it ends. The job takes the per-file last good state with it and
 * brings back the new state and the source's whole target list, built on the pool, so the
 * loop thread only swaps pointers. At most CPGO_SD_MAX_TARGETS targets are stored per file
 * and per source; more fail the refresh with the first ones kept.
 *
 * Owns: its copies of the patterns, the per-file state, its handles and the job in flight.
 * Thread: the loop thread, except job_run (the pool), which touches only its job.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "base/url.h"
#include "discover/sd_file.h"
#include "discover/source.h"

#define FILE_MAX CPGO_SD_FILE_MAX
#define DEBOUNCE_MS 100
#define DEFAULT_REFRESH_MS (5 * 60 * 1000)
#define SHOW_MAX 80              /* bytes of a value quoted in an error */
#define ERR_MAX CPGO_SD_FILE_ERR /* = sizeof ((struct cpgo_sd_source *)0)->error */

/* A target as a file gave it. */
struct ftarget {
    char *host;
    int port;
    size_t group;
};

/* One file's last good answer. */
struct fstate {
    char *path;
    struct ftarget *t;
    size_t n;     /* stored, at most CPGO_SD_MAX_TARGETS */
    size_t total; /* found in the file */
    int moved;    /* (in a job's prev) handed on to cur: path and t are cur's now */
};

struct sd_file;

/* One refresh on the pool: inputs moved in, outputs moved out. */
struct job {
    uv_work_t req;
    struct sd_file *s;
    char **patterns; /* borrowed from s, which outlives the job */
    size_t npatterns;
    struct fstate *prev; /* moved in: the last good state, sorted by path */
    size_t nprev;
    struct fstate *cur; /* out: the new state, sorted by path */
    size_t ncur;
    struct cpgo_sd_target *targets; /* out: the source's answer */
    size_t ntargets;
    char error[ERR_MAX]; /* out: the first error ("" = none) */
    size_t nerrors;
    int nomem;
    uint64_t t0;
};

struct watch {
    uv_fs_event_t ev;
    struct sd_file *s;
    char *dir;  /* the directory of one or more patterns */
    int on;     /* started (on dir or on an ancestor) */
    int warned; /* a failure to watch was logged once */
};

struct sd_file {
    struct cpgo_sd_source base; /* first */
    char **patterns;            /* absolute */
    size_t npatterns;
    int64_t refresh_ms;
    struct fstate *files; /* the last good state of every matched file (NULL while a job has it) */
    size_t nfiles;
    uv_timer_t tick;     /* every refresh_ms */
    uv_timer_t debounce; /* DEBOUNCE_MS after the first event of a burst */
    struct watch *watches;
    size_t nwatches;
    struct job *job; /* in flight */
    int again;       /* a refresh was asked for while the job ran */
    int closing;
    size_t open_handles;
};

/* ---- the per-file state ----------------------------------------------------------------- */

static void ftargets_free(struct ftarget *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(t[i].host);
    free(t);
}

static void fstates_free(struct fstate *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (f[i].moved) continue;
        free(f[i].path);
        ftargets_free(f[i].t, f[i].n);
    }
    free(f);
}

static void job_free(struct job *j)
{
    fstates_free(j->prev, j->nprev);
    fstates_free(j->cur, j->ncur);
    cpgo_sd_targets_free(j->targets, j->ntargets);
    free(j);
}

/* A value for messages: at most SHOW_MAX bytes, "..." when cut (source_fail makes control
 * bytes spaces). */
static const char *show(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = len < SHOW_MAX ? len : SHOW_MAX;
    if (n + 4 > cap) n = cap - 4;
    memcpy(buf, s, n);
    strcpy(buf + n, len > n ? "..." : "");
    return buf;
}

/* ---- parsing (pool thread) ---------------------------------------------------------------- */

/* One file being parsed. */
struct fparse {
    const char *path;
    struct fstate *out;
    size_t cap;
    char *err; /* ERR_MAX bytes; set once */
    int failed;
};

static int perr(struct fparse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(struct fparse *p, int line, const char *fmt, ...)
{
    if (p->failed) return -1;
    p->failed = 1;
    size_t n = line > 0 ? (size_t)snprintf(p->err, ERR_MAX, "%s:%d: ", p->path, line)
                        : (size_t)snprintf(p->err, ERR_MAX, "%s: ", p->path);
    if (n < ERR_MAX) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, ERR_MAX - n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Adds one target to the file's list. 0, -1 when out of memory (err set), or 1 when it is
 * not host:port, with why (no position: the caller knows the line). */
static int add_target(struct fparse *p, const char *text, size_t len, size_t group, size_t idx,
                      char *why, size_t cap)
{
    char reason[128], shown[SHOW_MAX + 4];
    char *host;
    int port;
    if (strlen(text) != len) {
        snprintf(why, cap, "targets[%zu]: contains a NUL byte", idx);
        return 1;
    }
    if (cpgo_url_parse_hostport(text, &host, &port, reason, sizeof reason)) {
        snprintf(why, cap, "targets[%zu]: '%s' %s", idx, show(text, len, shown, sizeof shown),
                 reason);
        return 1;
    }
    struct fstate *f = p->out;
    f->total++;
    if (f->n == CPGO_SD_MAX_TARGETS) {
        free(host); /* counted, not kept: the refresh says so */
        return 0;
    }
    if (f->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 16;
        if (nc > CPGO_SD_MAX_TARGETS) nc = CPGO_SD_MAX_TARGETS;
        struct ftarget *t = realloc(f->t, nc * sizeof *t);
        if (!t) {
            free(host);
            return perr(p, 0, "out of memory");
        }
        f->t = t;
        p->cap = nc;
    }
    f->t[f->n++] = (struct ftarget){host, port, group};
    return 0;
}

/* -- JSON -- */

/* jansson gives no position for values, only for syntax errors; the line of a value is
 * found by walking the text (already valid JSON) along its path. A step is an array index
 * (key NULL) or an object key; a key written with escapes is not recognised, and the line
 * is then that of the enclosing value. */
struct jstep {
    const char *key;
    size_t idx;
};

struct jscan {
    const char *p, *end;
    int line;
};

static void js_ws(struct jscan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')) {
        if (*s->p == '\n') s->line++;
        s->p++;
    }
}

static void js_string(struct jscan *s) /* at '"'; strings hold no raw newline */
{
    s->p++;
    while (s->p < s->end && *s->p != '"')
        s->p += *s->p == '\\' ? 2 : 1;
    if (s->p < s->end) s->p++;
}

static void js_skip(struct jscan *s)
{
    js_ws(s);
    if (s->p >= s->end) return;
    if (*s->p == '"') {
        js_string(s);
    } else if (*s->p == '[' || *s->p == '{') {
        long depth = 0;
        while (s->p < s->end) {
            char c = *s->p;
            if (c == '"') {
                js_string(s);
                continue;
            }
            if (c == '[' || c == '{') depth++;
            if (c == ']' || c == '}') depth--;
            if (c == '\n') s->line++;
            s->p++;
            if (depth == 0) break;
        }
    } else {
        while (s->p < s->end && !strchr(",]} \t\r\n", *s->p))
            s->p++;
    }
}

static int js_line(const char *text, size_t len, const struct jstep *steps, size_t nsteps)
{
    struct jscan s = {text, text + len, 1};
    js_ws(&s);
    for (size_t k = 0; k < nsteps; k++) {
        int at = s.line;
        if (s.p >= s.end) return at;
        if (!steps[k].key) {
            if (*s.p != '[') return at;
            s.p++;
            for (size_t i = 0; i < steps[k].idx; i++) {
                js_skip(&s);
                js_ws(&s);
                if (s.p >= s.end || *s.p != ',') return at;
                s.p++;
            }
        } else {
            if (*s.p != '{') return at;
            s.p++;
            size_t klen = strlen(steps[k].key);
            for (;;) {
                js_ws(&s);
                if (s.p >= s.end || *s.p != '"') return at;
                const char *kstart = s.p + 1;
                js_string(&s);
                int match =
                    (size_t)(s.p - kstart) == klen + 1 && !memcmp(kstart, steps[k].key, klen);
                js_ws(&s);
                if (s.p >= s.end || *s.p != ':') return at;
                s.p++;
                if (match) break;
                js_skip(&s);
                js_ws(&s);
                if (s.p >= s.end || *s.p != ',') return at;
                s.p++;
            }
        }
        js_ws(&s);
    }
    return s.line;
}

static int only_space(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", t[i])) return 0;
    return 1;
}

static int parse_json(struct fparse *p, const char *text, size_t len)
{
    if (only_space(text, len))
        return perr(p, 0,
                    "empty file (a JSON file_sd file holds a list of target groups; [] "
                    "for none)");
    json_error_t e;
    /* duplicate keys are refused as Go's strict decoding of a struct refuses unknown ones:
     * a file that says two things is wrong */
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    if (!root) return perr(p, e.line, "invalid JSON: %s (column %d)", e.text, e.column);
    int rc = 0;
    struct jstep path[4] = {{0}};
    if (!json_is_array(root)) {
        rc = perr(p, js_line(text, len, path, 0),
                  "not a list of target groups ([{\"targets\": [...], \"labels\": {...}}])");
        goto out;
    }
    size_t g;
    json_t *grp;
    json_array_foreach(root, g, grp)
    {
        path[0] = (struct jstep){NULL, g};
        if (json_is_null(grp)) {
            rc = perr(p, js_line(text, len, path, 1), "[%zu]: null target group", g);
            goto out;
        }
        if (!json_is_object(grp)) {
            rc = perr(p, js_line(text, len, path, 1),
                      "[%zu]: a target group is an object {\"targets\": [...], \"labels\": {...}}",
                      g);
            goto out;
        }
        const char *key;
        json_t *v;
        json_object_foreach(grp, key, v)
        {
            path[1] = (struct jstep){key, 0};
            char shown[SHOW_MAX + 4];
            if (!strcmp(key, "targets")) {
                if (json_is_null(v)) continue;
                if (!json_is_array(v)) {
                    rc = perr(p, js_line(text, len, path, 2), "targets: is not a list of strings");
                    goto out;
                }
                size_t i;
                json_t *t;
                json_array_foreach(v, i, t)
                {
                    path[2] = (struct jstep){NULL, i};
                    if (!json_is_string(t)) {
                        rc = perr(p, js_line(text, len, path, 3), "targets[%zu]: is not a string",
                                  i);
                        goto out;
                    }
                    char why[ERR_MAX];
                    rc = add_target(p, json_string_value(t), json_string_length(t), g, i, why,
                                    sizeof why);
                    if (rc > 0) /* the line is looked for only when there is an error */
                        rc = perr(p, js_line(text, len, path, 3), "%s", why);
                    if (rc) goto out;
                }
            } else if (!strcmp(key, "labels")) {
                if (json_is_null(v)) continue;
                if (!json_is_object(v)) {
                    rc = perr(p, js_line(text, len, path, 2),
                              "labels: is not a mapping of names to strings");
                    goto out;
                }
                const char *name;
                json_t *lv;
                json_object_foreach(v, name, lv)
                {
                    path[2] = (struct jstep){name, 0};
                    if (!*name) {
                        rc = perr(p, js_line(text, len, path, 2), "labels: a label name is empty");
                        goto out;
                    }
                    if (!json_is_string(lv) && !json_is_null(lv)) { /* null: "", as in Go */
                        rc = perr(p, js_line(text, len, path, 3), "labels.%s: is not a string",
                                  show(name, strlen(name), shown, sizeof shown));
                        goto out;
                    }
                }
            } else {
                rc = perr(p, js_line(text, len, path, 2),
                          "[%zu]: unknown key '%s' (a target group has targets and labels)", g,
                          show(key, strlen(key), shown, sizeof shown));
                goto out;
            }
        }
    }
out:
    json_decref(root);
    return rc;
}

/* -- YAML: libyaml's event API, walked against the one shape a file may have -- */

struct yp {
    struct fparse *f;
    yaml_parser_t parser;
    yaml_event_t ev;
    int have;
};

static int y_line(const struct yp *y)
{
    return (int)y->ev.start_mark.line + 1;
}

static int y_next(struct yp *y)
{
    if (y->have) yaml_event_delete(&y->ev);
    y->have = 0;
    if (!yaml_parser_parse(&y->parser, &y->ev)) {
        const yaml_parser_t *ps = &y->parser;
        char ctx[160] = "";
        if (ps->context)
            snprintf(ctx, sizeof ctx, " %s (begun on line %d)", ps->context,
                     (int)ps->context_mark.line + 1);
        return perr(y->f, (int)ps->problem_mark.line + 1, "invalid YAML: %s%s",
                    ps->problem ? ps->problem : "error", ctx);
    }
    y->have = 1;
    /* an alias is a node used twice; nothing here needs one, and refusing them leaves no
     * "billion laughs" to walk */
    if (y->ev.type == YAML_ALIAS_EVENT)
        return perr(y->f, y_line(y), "YAML aliases (*%s) are not allowed in file_sd files",
                    (const char *)y->ev.data.alias.anchor);
    return 0;
}

static int y_is(const struct yp *y, yaml_event_type_t t)
{
    return y->ev.type == t;
}

static const char *y_text(const struct yp *y)
{
    return (const char *)y->ev.data.scalar.value;
}

/* a plain null scalar: "", ~, null (YAML 1.2 core, as Go's yaml reads it) */
static int y_null(const struct yp *y)
{
    if (!y_is(y, YAML_SCALAR_EVENT) || y->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = y_text(y);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int y_labels(struct yp *y)
{
    int line = y_line(y);
    if (y_null(y)) return 0;
    if (!y_is(y, YAML_MAPPING_START_EVENT))
        return perr(y->f, line, "labels: is not a mapping of names to strings");
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    char shown[SHOW_MAX + 4];
    for (;;) {
        if ((rc = y_next(y))) goto out;
        if (y_is(y, YAML_MAPPING_END_EVENT)) break;
        if (!y_is(y, YAML_SCALAR_EVENT) || y_null(y)) {
            rc = perr(y->f, y_line(y), "labels: a label name is not a string");
            goto out;
        }
        const char *name = y_text(y);
        size_t nlen = y->ev.data.scalar.length;
        if (!nlen || strlen(name) != nlen) {
            rc = perr(y->f, y_line(y), "labels: a label name is empty or holds a NUL byte");
            goto out;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                rc = perr(y->f, 0, "out of memory");
                goto out;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(name))) {
            rc = perr(y->f, 0, "out of memory");
            goto out;
        }
        n++;
        if ((rc = y_next(y))) goto out;
        if (!y_is(y, YAML_SCALAR_EVENT)) {
            rc = perr(y->f, y_line(y), "labels.%s: is not a string",
                      show(names[n - 1], nlen, shown, sizeof shown));
            goto out;
        }
    }
    /* duplicates, as yaml.UnmarshalStrict refuses them (sorted: no quadratic search) */
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(names[i - 1], names[i])) {
            rc = perr(y->f, line, "labels: '%s' is given twice",
                      show(names[i], strlen(names[i]), shown, sizeof shown));
            goto out;
        }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int y_targets(struct yp *y, size_t g)
{
    if (y_null(y)) return 0;
    if (!y_is(y, YAML_SEQUENCE_START_EVENT))
        return perr(y->f, y_line(y), "targets: is not a list of strings");
    for (size_t i = 0;; i++) {
        if (y_next(y)) return -1;
        if (y_is(y, YAML_SEQUENCE_END_EVENT)) return 0;
        if (!y_is(y, YAML_SCALAR_EVENT))
            return perr(y->f, y_line(y), "targets[%zu]: is not a string", i);
        char why[ERR_MAX];
        int rc = add_target(y->f, y_text(y), y->ev.data.scalar.length, g, i, why, sizeof why);
        if (rc > 0) return perr(y->f, y_line(y), "%s", why);
        if (rc) return -1;
    }
}

static int y_group(struct yp *y, size_t g)
{
    int seen_targets = 0, seen_labels = 0;
    char shown[SHOW_MAX + 4];
    for (;;) {
        if (y_next(y)) return -1;
        if (y_is(y, YAML_MAPPING_END_EVENT)) return 0;
        if (!y_is(y, YAML_SCALAR_EVENT))
            return perr(y->f, y_line(y), "[%zu]: a key is not a string", g);
        const char *k = y_text(y);
        int *seen;
        if (!strcmp(k, "targets"))
            seen = &seen_targets;
        else if (!strcmp(k, "labels"))
            seen = &seen_labels;
        else
            return perr(y->f, y_line(y),
                        "[%zu]: unknown key '%s' (a target group has targets and labels)", g,
                        show(k, y->ev.data.scalar.length, shown, sizeof shown));
        if (*seen) return perr(y->f, y_line(y), "[%zu]: '%s' is given twice", g, k);
        *seen = 1;
        int is_targets = seen == &seen_targets;
        if (y_next(y)) return -1;
        if (is_targets ? y_targets(y, g) : y_labels(y)) return -1;
    }
}

static int parse_yaml(struct fparse *p, const char *text, size_t len)
{
    struct yp y = {.f = p};
    if (!yaml_parser_initialize(&y.parser)) return perr(p, 0, "out of memory");
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)text, len);
    int rc = -1;
    if (y_next(&y)) goto out; /* STREAM-START */
    if (y_next(&y)) goto out;
    if (y_is(&y, YAML_STREAM_END_EVENT)) { /* empty: a valid empty list (Prometheus) */
        rc = 0;
        goto out;
    }
    if (y_next(&y)) goto out; /* after DOCUMENT-START */
    if (y_null(&y)) {
        /* "---" or "null" alone: no groups, as Go's yaml decodes null into a list */
    } else if (!y_is(&y, YAML_SEQUENCE_START_EVENT)) {
        perr(p, y_line(&y), "not a list of target groups (- targets: [...])");
        goto out;
    } else {
        for (size_t g = 0;; g++) {
            if (y_next(&y)) goto out;
            if (y_is(&y, YAML_SEQUENCE_END_EVENT)) break;
            if (y_null(&y)) {
                perr(p, y_line(&y), "[%zu]: null target group", g);
                goto out;
            }
            if (!y_is(&y, YAML_MAPPING_START_EVENT)) {
                perr(p, y_line(&y), "[%zu]: a target group is a mapping (targets:, labels:)", g);
                goto out;
            }
            if (y_group(&y, g)) goto out;
        }
    }
    if (y_next(&y)) goto out; /* DOCUMENT-END */
    if (y_next(&y)) goto out;
    if (!y_is(&y, YAML_STREAM_END_EVENT)) {
        perr(p, y_line(&y), "a second YAML document (a file_sd file holds one)");
        goto out;
    }
    rc = 0;
out:
    if (y.have) yaml_event_delete(&y.ev);
    yaml_parser_delete(&y.parser);
    return rc;
}

/* Parses one file's text into out (path not set). 0 or -1 with err; out is empty then. */
static int parse_text(const char *path, int yaml, const char *text, size_t len, struct fstate *out,
                      char *err)
{
    struct fparse p = {.path = path, .out = out, .err = err};
    memset(out, 0, sizeof *out);
    int rc = yaml ? parse_yaml(&p, text, len) : parse_json(&p, text, len);
    if (rc) {
        ftargets_free(out->t, out->n);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

int cpgo_sd_file_parse(const char *path, int yaml, const char *text, size_t len,
                       struct cpgo_sd_target **targets, size_t *n, size_t *total, char *err)
{
    struct fstate f;
    *targets = NULL;
    *n = *total = 0;
    err[0] = 0;
    if (parse_text(path, yaml, text, len, &f, err)) return -1;
    struct cpgo_sd_target *t = f.n ? calloc(f.n, sizeof *t) : NULL;
    if (f.n && !t) goto nomem;
    for (size_t i = 0; i < f.n; i++) {
        size_t on = strlen(path) + 24;
        t[i].origin = malloc(on);
        if (!t[i].origin) {
            cpgo_sd_targets_free(t, i + 1);
            goto nomem;
        }
        snprintf(t[i].origin, on, "%s:%zu", path, f.t[i].group);
        t[i].host = f.t[i].host; /* moved */
        f.t[i].host = NULL;
        t[i].port = f.t[i].port;
    }
    *targets = t;
    *n = f.n;
    *total = f.total;
    ftargets_free(f.t, f.n);
    return 0;
nomem:
    ftargets_free(f.t, f.n);
    snprintf(err, ERR_MAX, "%s: out of memory", path);
    return -1;
}

/* ---- a refresh (pool thread) ----------------------------------------------------------- */

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* Reads and parses one file into *out. 0; 1 when it no longer exists (renamed away since
 * it was listed); -1 with err. */
static int read_one(const char *path, struct fstate *out, char *err)
{
    struct cpgo_err e = {0};
    memset(out, 0, sizeof *out);
    int fd = cpgo_file_open_named(path, &e);
    if (fd == CPGO_E_EMPTY) return 1;
    if (fd < 0) {
        snprintf(err, ERR_MAX, "%s", e.text);
        return -1;
    }
    struct stat st;
    unsigned char *data = NULL;
    size_t len = 0;
    int rc;
    /* the size first, so a huge file costs no read; the read's own ceiling covers growth */
    if (!fstat(fd, &st) && st.st_size > (off_t)FILE_MAX) {
        close(fd);
        snprintf(err, ERR_MAX,
                 "%s: %lld bytes, more than a file_sd file may hold (16 MiB): refused", path,
                 (long long)st.st_size);
        return -1;
    }
    rc = cpgo_file_read_fd(fd, path, FILE_MAX, &data, &len, &e);
    close(fd);
    if (rc) {
        if (rc == CPGO_E_LIMIT)
            snprintf(err, ERR_MAX, "%s: more than a file_sd file may hold (16 MiB): refused", path);
        else
            snprintf(err, ERR_MAX, "%s", e.text);
        return -1;
    }
    rc = parse_text(path, !ends_with(path, ".json"), (const char *)data, len, out, err);
    free(data);
    if (rc) return -1;
    if (!(out->path = strdup(path))) {
        ftargets_free(out->t, out->n);
        snprintf(err, ERR_MAX, "%s: out of memory", path);
        return -1;
    }
    return 0;
}

struct names {
    char **v;
    size_t n, cap;
    int nomem;
};

static void names_add(struct names *l, const char *dir, const char *name)
{
    if (l->nomem) return;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, nc * sizeof *v);
        if (!v) {
            l->nomem = 1;
            return;
        }
        l->v = v;
        l->cap = nc;
    }
    size_t len = strlen(dir) + strlen(name) + 2;
    char *s = malloc(len);
    if (!s) {
        l->nomem = 1;
        return;
    }
    snprintf(s, len, "%s/%s", strcmp(dir, "/") ? dir : "", name);
    l->v[l->n++] = s;
}

static void job_error(struct job *j, const char *text)
{
    if (!j->nerrors++) snprintf(j->error, sizeof j->error, "%s", text);
}

/* The files a pattern names: the directory listed, the last segment matched with fnmatch
 * (as Go's filepath.Glob: `*` also matches a leading dot; names sorted later). A directory
 * that does not exist names none. -1 when the directory cannot be listed. */
static int list_pattern(struct job *j, const char *pat, struct names *out)
{
    const char *slash = strrchr(pat, '/');
    const char *last = slash + 1;
    char dir[PATH_MAX];
    size_t dn = slash == pat ? 1 : (size_t)(slash - pat);
    if (dn >= sizeof dir) {
        char msg[ERR_MAX];
        snprintf(msg, sizeof msg, "%s: the directory's name is too long", pat);
        job_error(j, msg);
        return -1;
    }
    memcpy(dir, pat, dn);
    dir[dn] = 0;
    if (!strpbrk(last, "*?[")) { /* a plain name */
        names_add(out, dir, last);
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR) return 0;
        char msg[ERR_MAX];
        snprintf(msg, sizeof msg, "%s: cannot list its directory: %s", pat, strerror(errno));
        job_error(j, msg);
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && !fnmatch(last, de->d_name, 0))
            names_add(out, dir, de->d_name);
    closedir(d);
    return 0;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(((const struct fstate *)a)->path, ((const struct fstate *)b)->path);
}

static struct fstate *prev_find(struct job *j, const char *path)
{
    struct fstate key = {.path = (char *)path};
    return j->nprev ? bsearch(&key, j->prev, j->nprev, sizeof key, cmp_path) : NULL;
}

/* Hands a previous state on to cur (its path stays readable in prev for bsearch). */
static void keep_prev(struct job *j, struct fstate *f)
{
    j->cur[j->ncur++] = *f;
    f->moved = 1;
}

static void build_targets(struct job *j)
{
    size_t total = 0;
    for (size_t i = 0; i < j->ncur; i++)
        total += j->cur[i].total;
    size_t n = 0, want = total < CPGO_SD_MAX_TARGETS ? total : CPGO_SD_MAX_TARGETS;
    struct cpgo_sd_target *t = want ? calloc(want, sizeof *t) : NULL;
    if (want && !t) {
        j->nomem = 1;
        return;
    }
    for (size_t i = 0; i < j->ncur && n < want; i++) {
        const struct fstate *f = &j->cur[i];
        for (size_t k = 0; k < f->n && n < want; k++) {
            char origin[PATH_MAX + 32];
            snprintf(origin, sizeof origin, "%s:%zu", f->path, f->t[k].group);
            t[n].host = strdup(f->t[k].host);
            t[n].port = f->t[k].port;
            t[n].origin = strdup(origin);
            n++;
            if (!t[n - 1].host || !t[n - 1].origin) {
                cpgo_sd_targets_free(t, n);
                j->nomem = 1;
                return;
            }
        }
    }
    j->targets = t;
    j->ntargets = n;
    if (total > n) {
        char msg[ERR_MAX];
        snprintf(msg, sizeof msg,
                 "%zu targets, more than a source may have (%d): the first %zu are kept", total,
                 CPGO_SD_MAX_TARGETS, n);
        job_error(j, msg);
    }
}

static void job_run(uv_work_t *req)
{
    struct job *j = req->data;
    struct names l = {0};
    char *failed = calloc(j->npatterns ? j->npatterns : 1, 1);
    if (!failed) {
        j->nomem = 1;
        return;
    }
    for (size_t i = 0; i < j->npatterns; i++)
        failed[i] = list_pattern(j, j->patterns[i], &l) != 0;
    if (l.nomem) goto out;
    if (l.n) qsort(l.v, l.n, sizeof *l.v, cmp_str);
    /* at most every matched file, plus every previous one kept for an unlistable pattern */
    j->cur = calloc(l.n + j->nprev + 1, sizeof *j->cur);
    if (!j->cur) {
        l.nomem = 1;
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        if (i && !strcmp(l.v[i], l.v[i - 1])) continue; /* named by two patterns */
        char err[ERR_MAX];
        struct fstate *prev = prev_find(j, l.v[i]);
        int rc = read_one(l.v[i], &j->cur[j->ncur], err);
        if (rc == 0) {
            j->ncur++;
        } else if (rc < 0) {
            job_error(j, err);
            if (prev && !prev->moved) keep_prev(j, prev); /* the last good targets stay */
        }
    }
    /* a directory that could not be listed: its files' last good targets stay */
    for (size_t k = 0; k < j->npatterns; k++) {
        if (!failed[k]) continue;
        for (size_t i = 0; i < j->nprev; i++) {
            const char *path = j->prev[i].path;
            if (j->prev[i].moved || fnmatch(j->patterns[k], path, FNM_PATHNAME)) continue;
            if (l.n && bsearch(&path, l.v, l.n, sizeof *l.v, cmp_str)) continue; /* read */
            keep_prev(j, &j->prev[i]);
        }
    }
    qsort(j->cur, j->ncur, sizeof *j->cur, cmp_path);
    build_targets(j);
out:
    if (l.nomem) j->nomem = 1;
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i]);
    free(l.v);
    free(failed);
    /* what was not kept is gone (no longer matched, or replaced by a new read) */
    fstates_free(j->prev, j->nprev);
    j->prev = NULL;
    j->nprev = 0;
}

/* ---- the loop thread ------------------------------------------------------------------- */

static void refresh(struct sd_file *s);
static void maybe_free(struct sd_file *s);

static void job_done(uv_work_t *req, int status)
{
    struct job *j = req->data;
    struct sd_file *s = j->s;
    s->job = NULL;
    if (s->closing) {
        job_free(j);
        maybe_free(s);
        return;
    }
    double secs = (double)(uv_hrtime() - j->t0) / 1e9;
    if (status || j->nomem) {
        /* the state went with the job: what it kept is all there is now */
        s->files = status ? j->prev : j->cur;
        s->nfiles = status ? j->nprev : j->ncur;
        if (status)
            j->prev = NULL, j->nprev = 0;
        else
            j->cur = NULL, j->ncur = 0;
        job_free(j);
        cpgo_sd_source_fail(&s->base, secs, "%s", status ? uv_strerror(status) : "out of memory");
    } else {
        s->files = j->cur;
        s->nfiles = j->ncur;
        if (!j->error[0]) {
            cpgo_sd_source_succeed(&s->base, j->targets, j->ntargets, NULL, 0, secs);
        } else {
            /* the new list (with the invalid files' last good targets) and the error */
            cpgo_sd_targets_free(s->base.targets, s->base.ntargets);
            s->base.targets = j->targets;
            s->base.ntargets = j->ntargets;
            if (j->nerrors > 1)
                cpgo_sd_source_fail(&s->base, secs, "%s (and %zu more)", j->error, j->nerrors - 1);
            else
                cpgo_sd_source_fail(&s->base, secs, "%s", j->error);
        }
        j->cur = NULL;
        j->ncur = 0;
        j->targets = NULL;
        j->ntargets = 0;
        job_free(j);
    }
    if (s->again && !s->closing) { /* `changed` may have closed the source */
        s->again = 0;
        refresh(s);
    }
}

static void on_event(uv_fs_event_t *h, const char *name, int events, int status);

/* (Re)starts a watch on its directory, or on the nearest ancestor that exists. */
static void watch_arm(struct watch *w)
{
    if (w->on) uv_fs_event_stop(&w->ev);
    w->on = 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", w->dir);
    for (;;) {
        int r = uv_fs_event_start(&w->ev, on_event, path, 0);
        if (!r) {
            w->on = 1;
            return;
        }
        char *slash = strrchr(path, '/');
        if ((r != UV_ENOENT && r != UV_ENOTDIR) || !slash || slash == path) {
            /* the refresh timer still picks changes up */
            if (!w->warned)
                cpgo_log(CPGO_LVL_WARN,
                         "file_sd: cannot watch a directory; files are re-read "
                         "every refresh_interval only",
                         "source", w->s->base.name, "dir", path, "error", uv_strerror(r), NULL);
            w->warned = 1;
            return;
        }
        *slash = 0;
    }
}

static void refresh(struct sd_file *s)
{
    if (s->closing) return;
    if (s->job) {
        s->again = 1;
        return;
    }
    for (size_t i = 0; i < s->nwatches; i++)
        watch_arm(&s->watches[i]);
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        cpgo_sd_source_fail(&s->base, 0, "out of memory");
        return;
    }
    j->s = s;
    j->req.data = j;
    j->patterns = s->patterns;
    j->npatterns = s->npatterns;
    j->prev = s->files;
    j->nprev = s->nfiles;
    j->t0 = uv_hrtime();
    s->files = NULL;
    s->nfiles = 0;
    int r = uv_queue_work(s->base.loop, &j->req, job_run, job_done);
    if (r) {
        s->files = j->prev;
        s->nfiles = j->nprev;
        j->prev = NULL;
        j->nprev = 0;
        job_free(j);
        cpgo_sd_source_fail(&s->base, 0, "cannot queue the refresh: %s", uv_strerror(r));
        return;
    }
    s->job = j;
}

static void on_tick(uv_timer_t *t)
{
    refresh(t->data);
}

static void on_debounce(uv_timer_t *t)
{
    refresh(t->data);
}

static void on_event(uv_fs_event_t *h, const char *name, int events, int status)
{
    (void)name;
    (void)events;
    (void)status; /* an error too is a reason to look again */
    struct watch *w = h->data;
    struct sd_file *s = w->s;
    /* from the first event of a burst, not the last: a directory written to without pause
     * is still re-read every DEBOUNCE_MS */
    if (!s->closing && !uv_is_active((uv_handle_t *)&s->debounce))
        uv_timer_start(&s->debounce, on_debounce, DEBOUNCE_MS, 0);
}

static int start(struct cpgo_sd_source *src)
{
    struct sd_file *s = (struct sd_file *)src;
    uv_timer_start(&s->tick, on_tick, (uint64_t)s->refresh_ms, (uint64_t)s->refresh_ms);
    refresh(s);
    return 0;
}

static void free_all(struct sd_file *s)
{
    for (size_t i = 0; i < s->npatterns; i++)
        free(s->patterns[i]);
    free(s->patterns);
    for (size_t i = 0; i < s->nwatches; i++)
        free(s->watches[i].dir);
    free(s->watches);
    fstates_free(s->files, s->nfiles);
    cpgo_sd_source_free_base(&s->base);
    free(s);
}

static void maybe_free(struct sd_file *s)
{
    if (!s->open_handles && !s->job) free_all(s);
}

static void closed(uv_handle_t *h)
{
    struct sd_file *s = h->data;
    if (h->type == UV_FS_EVENT) s = ((struct watch *)h->data)->s;
    s->open_handles--;
    maybe_free(s);
}

static void close_src(struct cpgo_sd_source *src)
{
    struct sd_file *s = (struct sd_file *)src;
    if (s->closing) return;
    s->closing = 1;
    s->base.changed = NULL;
    /* a job not yet started is dropped; one running finishes, then job_done frees it */
    if (s->job) uv_cancel((uv_req_t *)&s->job->req);
    uv_close((uv_handle_t *)&s->tick, closed);
    uv_close((uv_handle_t *)&s->debounce, closed);
    for (size_t i = 0; i < s->nwatches; i++)
        uv_close((uv_handle_t *)&s->watches[i].ev, closed);
}

static const struct cpgo_sd_source_ops ops = {start, close_src};

/* The directory part of an absolute pattern ("/" for "/x.json"). */
static char *dir_of(const char *pat)
{
    const char *slash = strrchr(pat, '/');
    size_t n = slash == pat ? 1 : (size_t)(slash - pat);
    return strndup(pat, n);
}

int cpgo_sd_file_new(const struct cpgo_sd_env *env, const struct cpgo_sd_file_cfg *cfg,
                     size_t index, struct cpgo_sd_source **out)
{
    *out = NULL;
    struct sd_file *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->base.ops = &ops;
    s->base.kind = CPGO_SD_FILE;
    s->base.loop = env->loop;
    snprintf(s->base.name, sizeof s->base.name, "file_sd_configs[%zu]", index);
    s->refresh_ms = cfg->refresh_ms > 0 ? cfg->refresh_ms : DEFAULT_REFRESH_MS;
    s->patterns = calloc(cfg->nfiles ? cfg->nfiles : 1, sizeof *s->patterns);
    s->watches = calloc(cfg->nfiles ? cfg->nfiles : 1, sizeof *s->watches);
    if (!s->patterns || !s->watches) goto nomem;
    for (size_t i = 0; i < cfg->nfiles; i++) {
        const char *f = cfg->files[i];
        /* the configuration makes them absolute; a relative one (a test, a caller that did
         * not) is taken against base_dir, else the working directory */
        char cwd[PATH_MAX];
        const char *base = env->base_dir;
        if (f[0] != '/' && !base) base = getcwd(cwd, sizeof cwd);
        if (f[0] == '/' || !base) {
            s->patterns[i] = strdup(f);
        } else {
            size_t n = strlen(base) + strlen(f) + 2;
            if ((s->patterns[i] = malloc(n))) snprintf(s->patterns[i], n, "%s/%s", base, f);
        }
        if (!s->patterns[i]) goto nomem;
        if (s->patterns[i][0] != '/') { /* no working directory to resolve it against */
            free(s->patterns[i]);
            goto nomem;
        }
        s->npatterns++;
        /* one watch per distinct directory */
        char *dir = dir_of(s->patterns[i]);
        if (!dir) goto nomem;
        size_t k;
        for (k = 0; k < s->nwatches && strcmp(s->watches[k].dir, dir); k++) {
        }
        if (k < s->nwatches) {
            free(dir);
            continue;
        }
        s->watches[s->nwatches].dir = dir;
        s->watches[s->nwatches].s = s;
        s->nwatches++;
    }
    uv_timer_init(env->loop, &s->tick);
    uv_timer_init(env->loop, &s->debounce);
    s->tick.data = s->debounce.data = s;
    s->open_handles = 2;
    for (size_t i = 0; i < s->nwatches; i++) {
        uv_fs_event_init(env->loop, &s->watches[i].ev);
        s->watches[i].ev.data = &s->watches[i];
        s->open_handles++;
    }
    *out = &s->base;
    return 0;
nomem:
    free_all(s);
    return -1;
}
