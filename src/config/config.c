/*
 * config.c - see config.h.
 *
 * Three steps. (1) libyaml's event API builds a small tree of mappings, sequences and
 * scalars; anchors, aliases, non-standard tags, a second document, scalars with NUL bytes
 * and nesting deeper than MAX_DEPTH are refused here, before any value is looked at, so no
 * later step meets a shared or recursive node. (2) The tree is walked against `keys`, the
 * one table of every key (name, type, default, bounds, offset, check, description): it
 * decides which keys exist (unknown ones get an edit-distance suggestion), converts and
 * bounds-checks values, stores them at their offsets, supplies defaults, frees, dumps and
 * renders docs/CONFIG.md. `defaults:` holds backend-scope keys and is walked with the same
 * table into a template backend. (3) Each backend is completed (inherited and computed
 * defaults) and the rules that span keys are checked: timeout against the profile's
 * seconds and the schedule's period, unique names, targets grouped by normalised
 * repository, branch and file, and agreement of the backends of one target.
 *
 * Every problem becomes one line "file:line:col: key.path: what is wrong" in a list (at most
 * MAX_ERRORS); a config is returned only when the list is empty. Messages never echo a
 * header value, a URL password or anything found under a "token" key.
 */
#include "config/config.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/url.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "base/duration.h"

#define MAX_FILE (4u << 20)
#define MAX_DEPTH 16
#define MAX_ERRORS 100
#define MAX_HEADERS 64
#define MAX_BACKENDS 10000
#define MAX_NAME 300 /* a default name, "host:port#N", always fits */
#define SHOW_MAX 80

#define SEC 1000LL
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)
#define KIB ((int64_t)1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)
#define TIB (1024 * GIB)

_Static_assert(sizeof(enum cpgo_log_level) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum cpgo_log_format) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum cpgo_forge) == sizeof(int), "enums are stored as int");

/* ---------------------------------------------------------------------------------------- */
/* errors                                                                                   */

struct pos {
    int line, col;
};

struct item {
    int line, col;
    char *text;
};

struct ctx {
    const char *name;
    const char *base_dir;
    struct item *errs;
    size_t nerr, cap;
    int full, nomem;
    const struct node *backends; /* the backends: value, found by the top-level walk */
    struct pos backends_at;
    struct bstate *defs; /* the defaults: template */
};

static void add_error(struct ctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_error(struct ctx *c, int line, int col, const char *fmt, ...)
{
    if (c->full || c->nomem) return;
    if (c->nerr == MAX_ERRORS - 1) {
        c->full = 1; /* the last line says so (see export_errors) */
        return;
    }
    if (c->nerr == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        struct item *n = realloc(c->errs, ncap * sizeof *n);
        if (!n) {
            c->nomem = 1;
            return;
        }
        c->errs = n;
        c->cap = ncap;
    }
    char msg[1024], line_text[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++) /* one line each, whatever a value or a foreign message held */
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    if (line > 0)
        snprintf(line_text, sizeof line_text, "%s:%d:%d: %s", c->name, line, col, msg);
    else
        snprintf(line_text, sizeof line_text, "%s: %s", c->name, msg);
    char *t = strdup(line_text);
    if (!t) {
        c->nomem = 1;
        return;
    }
    c->errs[c->nerr++] = (struct item){line, col, t};
}

static char *xstrdup(struct ctx *c, const char *s)
{
    char *d = strdup(s);
    if (!d) c->nomem = 1;
    return d;
}

/* A value for messages: bounded, one line, control bytes shown as '?'. */
static const char *show(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; s[n] && n + 4 < cap && n < SHOW_MAX; n++)
        buf[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' : s[n];
    if (s[n]) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = 0;
    return buf;
}

/* A URL for messages: masked (url.h), bounded, one line. */
static const char *show_url(const char *u, char *buf, size_t cap)
{
    char m[4096];
    cpgo_url_mask(u, m, sizeof m);
    return show(m, buf, cap);
}

void cpgo_config_errors_free(struct cpgo_config_errors *e)
{
    if (!e) return;
    for (size_t i = 0; i < e->n; i++)
        free(e->lines[i]);
    free(e->lines);
    e->lines = NULL;
    e->n = 0;
}

/* Hands the collected errors over, sorted by position (stable), plus the overflow line. */
static void export_errors(struct ctx *c, struct cpgo_config_errors *out)
{
    for (size_t i = 1; i < c->nerr; i++) {
        struct item t = c->errs[i];
        size_t j = i;
        while (j > 0 && (c->errs[j - 1].line > t.line ||
                         (c->errs[j - 1].line == t.line && c->errs[j - 1].col > t.col))) {
            c->errs[j] = c->errs[j - 1];
            j--;
        }
        c->errs[j] = t;
    }
    char **lines = NULL;
    size_t n = c->nerr + (c->full ? 1 : 0) + (c->nomem ? 1 : 0);
    if (out && n) lines = calloc(n, sizeof *lines);
    size_t k = 0;
    for (size_t i = 0; i < c->nerr; i++) {
        if (lines)
            lines[k++] = c->errs[i].text;
        else
            free(c->errs[i].text);
    }
    if (lines && c->full) {
        char t[512];
        snprintf(t, sizeof t, "%s: too many errors; only the first %d are shown", c->name,
                 MAX_ERRORS - 1);
        lines[k] = strdup(t);
        if (lines[k]) k++;
    }
    if (lines && c->nomem) {
        char t[512];
        snprintf(t, sizeof t, "%s: out of memory", c->name);
        lines[k] = strdup(t);
        if (lines[k]) k++;
    }
    free(c->errs);
    c->errs = NULL;
    c->nerr = c->cap = 0;
    if (out) {
        out->lines = lines;
        out->n = k;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* the YAML tree                                                                            */

enum nkind { N_SCALAR, N_MAP, N_SEQ };

struct node {
    enum nkind kind;
    int line, col;
    int quoted; /* scalar written quoted, as a block scalar, or tagged !!str: a string */
    char *s;
    size_t len;
    struct node **kid; /* mapping: key, value, key, value...; sequence: items */
    size_t n, cap;
};

static const char *kind_name(const struct node *n)
{
    if (n->kind == N_MAP) return "a mapping";
    if (n->kind == N_SEQ) return "a list";
    return "a single value";
}

static void node_free(struct node *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->kid[i]); /* depth <= MAX_DEPTH */
    free(n->kid);
    free(n->s);
    free(n);
}

static int plain_null(const struct node *n)
{
    if (n->kind != N_SCALAR || n->quoted) return 0;
    return !n->len || !strcmp(n->s, "~") || !strcmp(n->s, "null") || !strcmp(n->s, "Null") ||
           !strcmp(n->s, "NULL");
}

/* YAML 1.2 core booleans, as Go's yaml.v3 reads them. */
static int plain_bool(const struct node *n, int *v)
{
    if (n->kind != N_SCALAR || n->quoted) return 0;
    if (!strcmp(n->s, "true") || !strcmp(n->s, "True") || !strcmp(n->s, "TRUE"))
        *v = 1;
    else if (!strcmp(n->s, "false") || !strcmp(n->s, "False") || !strcmp(n->s, "FALSE"))
        *v = 0;
    else
        return 0;
    return 1;
}

static int text_int(const char *s, int64_t *v)
{
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    if (!isdigit((unsigned char)*p)) return 0;
    int64_t x = 0;
    for (; isdigit((unsigned char)*p); p++) {
        if (x > (INT64_MAX - (*p - '0')) / 10) return 0;
        x = x * 10 + (*p - '0');
    }
    if (*p) return 0;
    *v = neg ? -x : x;
    return 1;
}

/* Appends a path element to buf: ".key" (or "key" at the start) or "[i]". */
static void path_add(char *buf, size_t cap, const char *key, long idx)
{
    size_t len = strlen(buf);
    if (len + 1 >= cap) return;
    if (key)
        snprintf(buf + len, cap - len, "%s%.*s", len ? "." : "", 64, key);
    else
        snprintf(buf + len, cap - len, "[%ld]", idx);
}

struct builder {
    struct ctx *c;
    struct node *root;
    struct node *stack[MAX_DEPTH];
    int depth;
};

/* The key path of the node about to be attached, for errors met while building. */
static void build_path(const struct builder *b, char *buf, size_t cap)
{
    buf[0] = 0;
    for (int i = 0; i < b->depth; i++) {
        const struct node *ct = b->stack[i];
        size_t k = i + 1 < b->depth ? ct->n - 1 : ct->n;
        if (ct->kind == N_SEQ) {
            path_add(buf, cap, NULL, (long)k);
        } else {
            if (k % 2 == 0) return; /* at a key: the mapping's own path */
            const struct node *key = ct->kid[k - 1];
            path_add(buf, cap, key->kind == N_SCALAR ? key->s : "?", 0);
        }
    }
}

static void build_error(struct builder *b, const char *path, int line, int col, const char *what,
                        const char *arg)
{
    char sh[SHOW_MAX + 8];
    add_error(b->c, line, col, "%s%s%s%s%s%s", path, *path ? ": " : "", what, arg ? " '" : "",
              arg ? show(arg, sh, sizeof sh) : "", arg ? "'" : "");
}

static int attach(struct builder *b, struct node *n)
{
    if (!b->depth) {
        b->root = n;
        return 0;
    }
    struct node *ct = b->stack[b->depth - 1];
    if (ct->n == ct->cap) {
        size_t ncap = ct->cap ? ct->cap * 2 : 4;
        struct node **k = realloc(ct->kid, ncap * sizeof *k);
        if (!k) return -1;
        ct->kid = k;
        ct->cap = ncap;
    }
    ct->kid[ct->n++] = n;
    return 0;
}

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

/* Only the standard tags; returns 0 when allowed. For scalars *quoted says "a string". */
static int check_tag(const char *tag, enum nkind kind, int *quoted)
{
    if (!tag) return 0;
    if (!strcmp(tag, "!")) {
        if (kind == N_SCALAR) *quoted = 1;
        return 0;
    }
    if (strncmp(tag, YAML_TAG_PREFIX, strlen(YAML_TAG_PREFIX))) return -1;
    const char *t = tag + strlen(YAML_TAG_PREFIX);
    if (kind == N_MAP) return strcmp(t, "map") ? -1 : 0;
    if (kind == N_SEQ) return strcmp(t, "seq") ? -1 : 0;
    if (!strcmp(t, "str")) {
        *quoted = 1;
        return 0;
    }
    if (!strcmp(t, "int") || !strcmp(t, "bool") || !strcmp(t, "null") || !strcmp(t, "float")) {
        *quoted = 0;
        return 0;
    }
    return -1;
}

/*
 * Parses text into a tree. Returns 0 with *root (NULL for an empty stream) when the tree is
 * sound; otherwise errors are recorded and the tree is discarded.
 */
static int build_tree(struct ctx *c, const char *text, size_t len, struct node **root)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct builder b = {.c = c};
    int bad = 0, done = 0, docs = 0;
    *root = NULL;
    if (!yaml_parser_initialize(&p)) {
        c->nomem = 1;
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            if (p.error == YAML_MEMORY_ERROR) {
                c->nomem = 1;
            } else {
                char ctxt[200] = "";
                if (p.context)
                    snprintf(ctxt, sizeof ctxt, " (%s at line %d)", p.context,
                             (int)p.context_mark.line + 1);
                int el = (int)p.problem_mark.line + 1, ec = (int)p.problem_mark.column + 1;
                if (p.error == YAML_READER_ERROR) { /* reader errors give a byte offset */
                    el = ec = 1;
                    for (size_t i = 0; i < p.problem_offset && i < len; i++, ec++)
                        if (text[i] == '\n') el++, ec = 0;
                }
                add_error(c, el, ec, "YAML syntax error: %s%s",
                          p.problem ? p.problem : "invalid YAML", ctxt);
            }
            bad = 1;
            break;
        }
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        struct node *n = NULL;
        char path[256] = ""; /* of the node this event adds, for its errors */
        if (ev.type == YAML_ALIAS_EVENT || ev.type == YAML_SCALAR_EVENT ||
            ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
            build_path(&b, path, sizeof path);
        const char *anchor = NULL, *tag = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                add_error(c, line, col, "only one YAML document is allowed");
                bad = done = 1;
            }
            break;
        case YAML_ALIAS_EVENT:
            build_error(&b, path, line, col, "anchors and aliases are not allowed: alias",
                        (const char *)ev.data.alias.anchor);
            bad = 1;
            /* a placeholder keeps keys and values paired for the errors that follow */
            n = calloc(1, sizeof *n);
            if (n) n->s = strdup("");
            if (!n || !n->s || attach(&b, n)) {
                node_free(n);
                c->nomem = bad = done = 1;
            }
            break;
        case YAML_SCALAR_EVENT:
            anchor = (const char *)ev.data.scalar.anchor;
            tag = (const char *)ev.data.scalar.tag;
            n = calloc(1, sizeof *n);
            if (!n || !(n->s = malloc(ev.data.scalar.length + 1)) || attach(&b, n)) {
                if (n) free(n->s);
                free(n);
                c->nomem = bad = done = 1;
                break;
            }
            n->kind = N_SCALAR;
            n->line = line;
            n->col = col;
            n->len = ev.data.scalar.length;
            memcpy(n->s, ev.data.scalar.value, n->len);
            n->s[n->len] = 0;
            n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
            if (strlen(n->s) != n->len) {
                build_error(&b, path, line, col, "a value must not contain a NUL character", NULL);
                bad = 1;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            int is_map = ev.type == YAML_MAPPING_START_EVENT;
            anchor = (const char *)(is_map ? ev.data.mapping_start.anchor
                                           : ev.data.sequence_start.anchor);
            tag = (const char *)(is_map ? ev.data.mapping_start.tag : ev.data.sequence_start.tag);
            if (b.depth == MAX_DEPTH) {
                add_error(c, line, col, "%s%snesting deeper than %d levels", path,
                          *path ? ": " : "", MAX_DEPTH);
                bad = done = 1;
                break;
            }
            n = calloc(1, sizeof *n);
            if (!n || attach(&b, n)) {
                free(n);
                c->nomem = bad = done = 1;
                break;
            }
            n->kind = is_map ? N_MAP : N_SEQ;
            n->line = line;
            n->col = col;
            b.stack[b.depth++] = n;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (b.depth) b.depth--;
            break;
        default:
            break;
        }
        if (n && anchor) {
            build_error(&b, path, line, col, "anchors and aliases are not allowed: anchor", anchor);
            bad = 1;
        }
        if (n && tag) {
            int q = n->quoted;
            if (check_tag(tag, n->kind, &q)) {
                build_error(&b, path, line, col,
                            "only the standard tags (!!str, !!int, !!bool, !!null, !!float, "
                            "!!map, !!seq) are allowed, not",
                            tag);
                bad = 1;
            }
            n->quoted = q;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (bad) {
        node_free(b.root);
        return -1;
    }
    *root = b.root;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* the key table                                                                            */

enum ktype {
    T_SECTION, /* a mapping of further keys */
    T_LIST,    /* backends: a list of backend mappings */
    T_STR,
    T_DURATION, /* int64_t milliseconds */
    T_SIZE,     /* size_t bytes; an integer or "64MiB" */
    T_COUNT,    /* size_t */
    T_INT,      /* int */
    T_BOOL,     /* int */
    T_ENUM,     /* an enum, stored as int */
    T_HEADERS,  /* struct cpgo_header * at off, size_t count at off2 */
};

enum kscope { S_TOP, S_BACKEND };

#define F_REQUIRED 1u
#define F_NULLABLE 2u /* null (or absence) means "none" */
#define F_PRESET 4u   /* the default comes from cpgo_limits_default */

struct choice {
    const char *name;
    int value;
};

struct key;
/* A check after a value is stored: validates (and may normalise) it; records its own error
 * and returns -1 when the value is refused. */
typedef int (*check_fn)(struct ctx *c, const struct key *k, void *base, const char *path,
                        struct pos at);

struct key {
    const char *name; /* dotted within its scope: "log.level", "open_pull_request.forge" */
    enum kscope scope;
    enum ktype type;
    size_t off, off2;
    const char *def;        /* default, converted like a value from the file */
    const char *def_doc;    /* the default as documented, when computed */
    int64_t min, max;       /* bounds of numbers (durations in ms, sizes in bytes) */
    const char *bounds_doc; /* bounds as documented, when not simply min..max */
    const struct choice *choices;
    check_fn check;
    unsigned flags;
    const char *desc;
};

static int check_path(struct ctx *, const struct key *, void *, const char *, struct pos);
static int check_listen(struct ctx *, const struct key *, void *, const char *, struct pos);
static int check_api_url(struct ctx *, const struct key *, void *, const char *, struct pos);
static int check_env(struct ctx *, const struct key *, void *, const char *, struct pos);
static int check_name(struct ctx *, const struct key *, void *, const char *, struct pos);
static int check_url(struct ctx *, const struct key *, void *, const char *, struct pos);
static int check_schedule(struct ctx *, const struct key *, void *, const char *, struct pos);
static int check_keep_frames(struct ctx *, const struct key *, void *, const char *, struct pos);
static int check_repository(struct ctx *, const struct key *, void *, const char *, struct pos);
static int check_target_file(struct ctx *, const struct key *, void *, const char *, struct pos);
static int check_branch(struct ctx *, const struct key *, void *, const char *, struct pos);
static int check_ident(struct ctx *, const struct key *, void *, const char *, struct pos);

static const struct choice log_levels[] = {{"debug", CPGO_LOG_DEBUG},
                                           {"info", CPGO_LOG_INFO},
                                           {"warn", CPGO_LOG_WARN},
                                           {"error", CPGO_LOG_ERROR},
                                           {NULL, 0}};
static const struct choice log_formats[] = {
    {"logfmt", CPGO_LOG_LOGFMT}, {"json", CPGO_LOG_JSON}, {NULL, 0}};
static const struct choice forges[] = {
    {"github", CPGO_FORGE_GITHUB}, {"local", CPGO_FORGE_LOCAL}, {NULL, 0}};

enum {
    KI_STATE_DIR,
    KI_LISTEN,
    KI_LOG,
    KI_LOG_LEVEL,
    KI_LOG_FORMAT,
    KI_SHUTDOWN_TIMEOUT,
    KI_LIMITS,
    KI_MAX_BODY,
    KI_MAX_DECOMPRESSED,
    KI_MAX_DECODE_MEMORY,
    KI_MAX_SAMPLES,
    KI_MAX_LOCATIONS,
    KI_MAX_FUNCTIONS,
    KI_MAX_MAPPINGS,
    KI_MAX_STRINGS,
    KI_MAX_CONCURRENT,
    KI_MAX_QUEUED_BODIES,
    KI_MAX_QUEUED_BYTES,
    KI_MAX_INFLIGHT_BYTES,
    KI_GITHUB,
    KI_API_URL,
    KI_TOKEN_ENV,
    KI_TOKEN_FILE,
    KI_GIT,
    KI_GIT_NAME,
    KI_GIT_EMAIL,
    KI_GIT_SSH_KEY,
    KI_GIT_TIMEOUT,
    KI_DEFAULTS,
    KI_BACKENDS,
    KI_NAME,
    KI_URL,
    KI_SCHEDULE,
    KI_TIMEOUT,
    KI_CONNECT_TIMEOUT,
    KI_RETRIES,
    KI_HEADERS,
    KI_DROP_LABELS,
    KI_KEEP_FRAMES,
    KI_STRIP_ADDRESSES,
    KI_OPR,
    KI_REPOSITORY,
    KI_TARGET_FILE,
    KI_TARGET_BRANCH,
    KI_HEAD_BRANCH,
    KI_MIN_INTERVAL,
    KI_FORGE,
    KI_REOPEN_GROWTH,
    NKEYS
};

#define TOP(field) .scope = S_TOP, .off = offsetof(struct cpgo_config, field)
#define BK(field) .scope = S_BACKEND, .off = offsetof(struct cpgo_backend_cfg, field)
#define LIMIT(field) TOP(limits.profile.field)

static const struct key keys[NKEYS] = {
    [KI_STATE_DIR] = {"state_dir", TOP(state_dir), .type = T_STR,
                      .def_doc = "`$XDG_STATE_HOME/cpgo`, else `~/.local/state/cpgo`; "
                                 "`/var/lib/cpgo` for root",
                      .check = check_path,
                      .desc = "Directory for cpgo's state (pending profiles, publication "
                              "records). A relative path is relative to the configuration "
                              "file's directory. One daemon owns it (a lock; a second one "
                              "exits 1), so each replica and each shard needs its own. "
                              "Created 0700; refused when another user owns it or others "
                              "can write to it (its group may, when cpgo is in that group). "
                              "Inspect it with `cpgo state`."},
    [KI_LISTEN] = {"listen", TOP(listen), .type = T_STR, .def_doc = "off", .check = check_listen,
                   .flags = F_NULLABLE,
                   .desc = "Address of the admin HTTP endpoint (health, status, metrics), "
                           "`host:port`. A bare `:port` binds 127.0.0.1 only; `null` or "
                           "absent: no endpoint."},
    [KI_LOG] = {"log", .scope = S_TOP, .type = T_SECTION, .desc = "Logging."},
    [KI_LOG_LEVEL] = {"log.level", TOP(log_level), .type = T_ENUM, .def = "info",
                      .choices = log_levels, .desc = "Least severity logged."},
    [KI_LOG_FORMAT] = {"log.format", TOP(log_format), .type = T_ENUM, .def = "logfmt",
                       .choices = log_formats,
                       .desc = "Log lines as logfmt (`key=value`) or as JSON objects."},
    [KI_SHUTDOWN_TIMEOUT] = {"shutdown_timeout", TOP(shutdown_timeout_ms), .type = T_DURATION,
                             .def = "30s", .min = 100, .max = HOUR,
                             .desc = "On SIGTERM or SIGINT: how long running work may take to "
                                     "finish before cpgo exits anyway."},
    [KI_LIMITS] = {"limits", .scope = S_TOP, .type = T_SECTION,
                   .desc = "Ceilings on what one scrape may cost, and on the work queue. "
                           "Sizes are integers (bytes) or strings such as `64MiB`, `500KB`."},
    [KI_MAX_BODY] = {"limits.max_body_bytes", LIMIT(max_compressed), .type = T_SIZE, .min = 1,
                     .max = TIB, .flags = F_PRESET,
                     .desc = "Largest response body accepted from a backend (gzip or raw), "
                             "as received. A scrape is aborted when it passes this."},
    [KI_MAX_DECOMPRESSED] = {"limits.max_decompressed_bytes", LIMIT(max_decompressed),
                             .type = T_SIZE, .min = 1, .max = TIB, .flags = F_PRESET,
                             .desc = "Largest profile after gunzip (a gzip bomb stops here)."},
    [KI_MAX_DECODE_MEMORY] = {"limits.max_decode_memory_bytes", LIMIT(max_decode_memory),
                              .type = T_SIZE, .min = 1, .max = TIB, .flags = F_PRESET,
                              .desc = "Memory one profile may take while being decoded."},
    [KI_MAX_SAMPLES] = {"limits.max_samples", LIMIT(max_samples), .type = T_COUNT, .min = 1,
                        .max = 1000000000, .flags = F_PRESET,
                        .desc = "A profile with more samples is refused whole, never "
                                "truncated."},
    [KI_MAX_LOCATIONS] = {"limits.max_locations", LIMIT(max_locations), .type = T_COUNT, .min = 1,
                          .max = 1000000000, .flags = F_PRESET, .desc = "The same for locations."},
    [KI_MAX_FUNCTIONS] = {"limits.max_functions", LIMIT(max_functions), .type = T_COUNT, .min = 1,
                          .max = 1000000000, .flags = F_PRESET, .desc = "The same for functions."},
    [KI_MAX_MAPPINGS] = {"limits.max_mappings", LIMIT(max_mappings), .type = T_COUNT, .min = 1,
                         .max = 1000000000, .flags = F_PRESET, .desc = "The same for mappings."},
    [KI_MAX_STRINGS] = {"limits.max_strings", LIMIT(max_strings), .type = T_COUNT, .min = 1,
                        .max = 1000000000, .flags = F_PRESET,
                        .desc = "The same for string-table entries."},
    [KI_MAX_CONCURRENT] = {"limits.max_concurrent_scrapes", TOP(limits.max_concurrent_scrapes),
                           .type = T_COUNT, .def = "1024", .min = 1, .max = 65536,
                           .desc = "Scrapes in flight at once, over all backends (one backend "
                                   "never has two)."},
    [KI_MAX_QUEUED_BODIES] = {"limits.max_queued_bodies", TOP(limits.max_queued_bodies),
                              .type = T_COUNT, .def = "64", .min = 1, .max = 1000000,
                              .desc = "Scraped bodies waiting to be decoded and merged (the "
                                      "work queue's length)."},
    [KI_MAX_QUEUED_BYTES] = {"limits.max_queued_bytes", TOP(limits.max_queued_bytes),
                             .type = T_SIZE, .def = "256MiB", .min = 1, .max = TIB,
                             .desc = "Bytes of those waiting bodies."},
    [KI_MAX_INFLIGHT_BYTES] = {"limits.max_inflight_bytes", TOP(limits.max_inflight_bytes),
                               .type = T_SIZE, .def = "256MiB", .min = 1024 * 1024, .max = TIB,
                               .desc = "Bytes of response bodies still being received, over "
                                       "all scrapes together (each is also under "
                                       "`max_body_bytes`). When a body needs more, the "
                                       "largest body in flight is dropped for it; that "
                                       "scrape fails with class `inflight_limit` and is "
                                       "retried. Bounds the memory that endless or huge "
                                       "answers from many backends can take."},
    [KI_GITHUB] = {"github", .scope = S_TOP, .type = T_SECTION,
                   .desc = "The GitHub API, for `forge: github` targets. The token is never "
                           "written in this file."},
    [KI_API_URL] = {"github.api_url", TOP(github.api_url), .type = T_STR,
                    .def = "https://api.github.com", .check = check_api_url,
                    .desc = "API base URL; for GitHub Enterprise Server "
                            "`https://HOST/api/v3`."},
    [KI_TOKEN_ENV] = {"github.token_env", TOP(github.token_env), .type = T_STR,
                      .def = "GITHUB_TOKEN", .check = check_env,
                      .desc = "Environment variable that holds the token."},
    [KI_TOKEN_FILE] = {"github.token_file", TOP(github.token_file), .type = T_STR,
                       .def_doc = "none", .check = check_path, .flags = F_NULLABLE,
                       .desc = "File that holds the token, used instead of `token_env` when "
                               "set. Relative to the configuration file's directory. It must "
                               "be a regular file (a FIFO, socket or device is refused at "
                               "once) that neither its group nor other users can write."},
    [KI_GIT] = {"git", .scope = S_TOP, .type = T_SECTION,
                .desc = "How cpgo commits and reaches repositories."},
    [KI_GIT_NAME] = {"git.author_name", TOP(git.author_name), .type = T_STR, .def = "cpgo",
                     .check = check_ident,
                     .desc = "Author and committer name of cpgo's commits. cpgo rewrites only "
                             "head branches whose commit has this committer."},
    [KI_GIT_EMAIL] = {"git.author_email", TOP(git.author_email), .type = T_STR,
                      .def = "cpgo@localhost", .check = check_ident,
                      .desc = "Author and committer email of cpgo's commits."},
    [KI_GIT_SSH_KEY] = {"git.ssh_key", TOP(git.ssh_key), .type = T_STR, .def_doc = "the ssh agent",
                        .check = check_path, .flags = F_NULLABLE,
                        .desc = "Private key file for ssh repositories (its public key is "
                                "`<file>.pub` when present); both must be regular files (a "
                                "FIFO, socket or device is refused). Relative to the "
                                "configuration file's directory. Host keys are checked "
                                "against `~/.ssh/known_hosts`."},
    [KI_GIT_TIMEOUT] = {"git.timeout", TOP(git.timeout_ms), .type = T_DURATION, .def = "10m",
                        .min = SEC, .max = 24 * HOUR,
                        .desc = "Longest fetch or push; a transfer still running then is "
                                "aborted (checked as data moves)."},
    [KI_DEFAULTS] = {"defaults", .scope = S_TOP, .type = T_SECTION,
                     .desc = "Any `backends[]` key, `open_pull_request.*` included: the value "
                             "for every backend that does not set that key itself. A key is "
                             "replaced whole (a backend's `headers` replace the default "
                             "`headers`)."},
    [KI_BACKENDS] = {"backends", .scope = S_TOP, .type = T_LIST, .flags = F_REQUIRED,
                     .bounds_doc = "1 to 10000 entries",
                     .desc = "The backends to scrape; at least one. Backends whose "
                             "repository, target branch and target file are the same form "
                             "one target: their profiles are merged into that one file."},
    [KI_NAME] = {"name", BK(name), .type = T_STR,
                 .def_doc = "`host:port` of `url`, made unique with `#2`, `#3`...",
                 .check = check_name,
                 .desc = "Names the backend in logs, metrics and pull requests. 1 to 300 "
                         "printable characters without spaces; unique."},
    [KI_URL] = {"url", BK(url), .type = T_STR, .check = check_url, .flags = F_REQUIRED,
                .desc = "The CPU profile endpoint, http or https, e.g. "
                        "`http://host:6060/debug/pprof/profile?seconds=30`, read as libcurl "
                        "reads it (a `@`, `:` or `/` in a user name or password is written "
                        "`%40`, `%3A`, `%2F`). Its `seconds` "
                        "(1 to 3600, default 30) is the profile's duration. Credentials in "
                        "the URL are allowed and masked in output."},
    [KI_SCHEDULE] = {"schedule", BK(schedule_text), .type = T_STR, .check = check_schedule,
                     .flags = F_REQUIRED,
                     .desc = "When to scrape: five-field cron (`*/5 * * * *`), `@hourly` and "
                             "the other macros, `@every 10m`; UTC unless prefixed "
                             "`CRON_TZ=Zone/Name `."},
    [KI_TIMEOUT] = {"timeout", BK(timeout_ms), .type = T_DURATION, .def_doc = "seconds + 15s",
                    .min = SEC, .max = 24 * HOUR,
                    .desc = "Whole-scrape deadline. Must be longer than the profile's "
                            "`seconds` and shorter than the schedule's shortest period."},
    [KI_CONNECT_TIMEOUT] = {"connect_timeout", BK(connect_timeout_ms), .type = T_DURATION,
                            .def = "10s", .min = 10, .max = 10 * MINUTE,
                            .desc = "Deadline for the TCP (and TLS) connection; at most "
                                    "`timeout`."},
    [KI_RETRIES] = {"retries", BK(retries), .type = T_INT, .def = "2", .min = 0, .max = 10,
                    .desc = "How often a scrape that failed for a transient reason is "
                            "retried before the schedule's next time."},
    [KI_HEADERS] = {"headers", .scope = S_BACKEND, .type = T_HEADERS,
                    .off = offsetof(struct cpgo_backend_cfg, headers),
                    .off2 = offsetof(struct cpgo_backend_cfg, nheaders), .def_doc = "none",
                    .max = MAX_HEADERS,
                    .desc = "Extra request headers, `Name: value`. Names are HTTP tokens; "
                            "values must not contain line breaks. Values of Authorization, "
                            "Cookie and other secret-looking headers are masked in output."},
    [KI_DROP_LABELS] = {"drop_labels", BK(trim.drop_labels), .type = T_BOOL, .def = "true",
                        .desc = "Drop sample labels before merging (Go PGO does not read "
                                "them)."},
    [KI_KEEP_FRAMES] = {"keep_frames", BK(trim.keep_frames), .type = T_INT, .def = "0", .min = 0,
                        .max = 1024, .bounds_doc = "0, or 2 to 1024", .check = check_keep_frames,
                        .desc = "Keep only the N leaf-most frames of each stack; 0 keeps all. "
                                "Go PGO reads the two leaf-most."},
    [KI_STRIP_ADDRESSES] = {"strip_addresses", BK(trim.strip_addresses), .type = T_BOOL,
                            .def = "true",
                            .desc = "Zero addresses and columns and drop mappings (PGO does "
                                    "not need them; the result is smaller and steadier)."},
    [KI_OPR] = {"open_pull_request", .scope = S_BACKEND, .type = T_SECTION,
                .desc = "Where the merged profile goes."},
    [KI_REPOSITORY] = {"open_pull_request.repository", BK(repository), .type = T_STR,
                       .check = check_repository, .flags = F_REQUIRED,
                       .desc = "The repository: `https://host/org/repo`, `http://...`, "
                               "`ssh://[user@]host[:port]/org/repo`, `git@host:org/repo`, "
                               "`file:///path` or a local path (relative to the "
                               "configuration file's directory). `.git` and a trailing `/` "
                               "do not matter; credentials are refused."},
    [KI_TARGET_FILE] = {"open_pull_request.target_file", BK(target_file), .type = T_STR,
                        .def = "default.pgo", .check = check_target_file,
                        .desc = "The profile's path in the repository: relative, without "
                                "`.` or `..` segments, not inside `.git`."},
    [KI_TARGET_BRANCH] = {"open_pull_request.target_branch", BK(target_branch), .type = T_STR,
                          .def = "main", .check = check_branch,
                          .desc = "The branch the pull request targets (a valid git branch "
                                  "name, such as `main`: not `refs/heads/main`)."},
    [KI_HEAD_BRANCH] = {"open_pull_request.head_branch", BK(head_branch), .type = T_STR,
                        .def_doc = "`cpgo/<target_branch>/<target_file>`", .check = check_branch,
                        .flags = F_NULLABLE,
                        .desc = "The branch cpgo pushes to and opens the pull request from; "
                                "owned by cpgo (force-pushed), so never the target branch, and "
                                "a branch name, not `refs/...`. Two targets must not share one."},
    [KI_MIN_INTERVAL] = {"open_pull_request.min_interval", BK(min_interval_ms), .type = T_DURATION,
                         .def = "1h", .min = 0, .max = 8760 * HOUR,
                         .desc = "Least time between two updates of the pull request of one "
                                 "target; profiles merged meanwhile wait."},
    [KI_FORGE] = {"open_pull_request.forge", BK(forge), .type = T_ENUM,
                  .def_doc = "`local` for local repositories, else `github`", .choices = forges,
                  .desc = "`github`: push the head branch and open or update a pull request "
                          "through the GitHub API. `local`: commit to the head branch of the "
                          "repository only, no pull request."},
    [KI_REOPEN_GROWTH] = {"open_pull_request.reopen_growth", BK(reopen_growth), .type = T_INT,
                          .def = "100", .min = 0, .max = 100000,
                          .desc = "After a pull request was closed without merging, cpgo opens "
                                  "no new one until the pending scrapes have grown by this many "
                                  "percent since (100: doubled)."},
};

static int is_leaf(const struct key *k)
{
    return k->type != T_SECTION && k->type != T_LIST;
}

static const struct key *find_key(enum kscope scope, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].scope == scope && !strcmp(keys[i].name, name)) return &keys[i];
    return NULL;
}

static void *field(void *base, size_t off)
{
    return (char *)base + off;
}

static const void *cfield(const void *base, size_t off)
{
    return (const char *)base + off;
}

static void free_headers(struct cpgo_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

/* Frees the values of one scope's keys (strings, headers) at base. */
static void free_scope(enum kscope scope, void *base)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (k->scope != scope) continue;
        if (k->type == T_STR) {
            char **p = field(base, k->off);
            free(*p);
            *p = NULL;
        } else if (k->type == T_HEADERS) {
            struct cpgo_header **h = field(base, k->off);
            size_t *n = field(base, k->off2);
            free_headers(*h, *n);
            *h = NULL;
            *n = 0;
        }
    }
}

static void fmt_size(uint64_t v, char *buf, size_t cap)
{
    if (v && v % GIB == 0)
        snprintf(buf, cap, "%" PRIu64 "GiB", v / (uint64_t)GIB);
    else if (v && v % MIB == 0)
        snprintf(buf, cap, "%" PRIu64 "MiB", v / (uint64_t)MIB);
    else if (v && v % KIB == 0)
        snprintf(buf, cap, "%" PRIu64 "KiB", v / (uint64_t)KIB);
    else
        snprintf(buf, cap, "%" PRIu64, v);
}

static void fmt_num(const struct key *k, int64_t v, char *buf, size_t cap)
{
    if (k->type == T_DURATION)
        cpgo_duration_format(v, buf, cap);
    else if (k->type == T_SIZE)
        fmt_size((uint64_t)v, buf, cap);
    else
        snprintf(buf, cap, "%" PRId64, v);
}

static void fmt_bounds(const struct key *k, char *buf, size_t cap)
{
    char lo[32], hi[32];
    buf[0] = 0;
    if (k->bounds_doc) {
        snprintf(buf, cap, "%s", k->bounds_doc);
        return;
    }
    if (k->type == T_HEADERS) {
        snprintf(buf, cap, "at most %" PRId64, k->max);
        return;
    }
    if (k->type != T_DURATION && k->type != T_SIZE && k->type != T_COUNT && k->type != T_INT)
        return;
    fmt_num(k, k->min, lo, sizeof lo);
    fmt_num(k, k->max, hi, sizeof hi);
    snprintf(buf, cap, "%s to %s", lo, hi);
}

static void fmt_choices(const struct key *k, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (const struct choice *ch = k->choices; ch->name && len < cap; ch++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", ch->name);
}

/* The value at base formatted for the dump and the reference ("45s", "64MiB", "true"). */
static void fmt_value(const struct key *k, const void *base, char *buf, size_t cap)
{
    const void *p = cfield(base, k->off);
    int iv;
    int64_t lv;
    size_t zv;
    switch (k->type) {
    case T_DURATION:
        memcpy(&lv, p, sizeof lv);
        fmt_num(k, lv, buf, cap);
        break;
    case T_SIZE:
    case T_COUNT:
        memcpy(&zv, p, sizeof zv);
        fmt_num(k, (int64_t)zv, buf, cap);
        break;
    case T_INT:
        memcpy(&iv, p, sizeof iv);
        snprintf(buf, cap, "%d", iv);
        break;
    case T_BOOL:
        memcpy(&iv, p, sizeof iv);
        snprintf(buf, cap, "%s", iv ? "true" : "false");
        break;
    case T_ENUM:
        memcpy(&iv, p, sizeof iv);
        snprintf(buf, cap, "?");
        for (const struct choice *ch = k->choices; ch->name; ch++)
            if (ch->value == iv) snprintf(buf, cap, "%s", ch->name);
        break;
    default:
        buf[0] = 0;
    }
}

/*
 * Converts text for key k and stores it at base (strings are copied). Returns NULL, or why
 * the text was refused (to follow "'<text>' ").
 */
static const char *store(struct ctx *c, const struct key *k, void *base, const char *text,
                         char *why, size_t cap)
{
    void *p = field(base, k->off);
    struct cpgo_err e;
    int64_t v = 0;
    switch (k->type) {
    case T_STR: {
        char *d = text ? xstrdup(c, text) : NULL;
        if (text && !d) return "(out of memory)";
        free(*(char **)p);
        *(char **)p = d;
        return NULL;
    }
    case T_DURATION:
        if (cpgo_duration_parse(text, &v, &e)) return "is not a duration (e.g. 45s)";
        break;
    case T_SIZE: {
        uint64_t u;
        if (cpgo_size_parse(text, &u, &e) || u > INT64_MAX) return "is not a size (e.g. 64MiB)";
        v = (int64_t)u;
        break;
    }
    case T_COUNT:
    case T_INT:
        if (!text_int(text, &v)) return "is not an integer";
        break;
    case T_BOOL:
        if (!strcmp(text, "true"))
            v = 1;
        else if (!strcmp(text, "false"))
            v = 0;
        else
            return "is not true or false";
        memcpy(p, &(int){(int)v}, sizeof(int));
        return NULL;
    case T_ENUM: {
        for (const struct choice *ch = k->choices; ch->name; ch++) {
            if (!strcasecmp(ch->name, text)) {
                memcpy(p, &ch->value, sizeof(int));
                return NULL;
            }
        }
        char list[128];
        fmt_choices(k, list, sizeof list);
        snprintf(why, cap, "is not one of %s", list);
        return why;
    }
    default:
        return "cannot be set here";
    }
    if (v < k->min || v > k->max) {
        char b[96];
        fmt_bounds(k, b, sizeof b);
        snprintf(why, cap, "is out of range (%s)", b);
        return why;
    }
    if (k->type == T_DURATION)
        memcpy(p, &v, sizeof v);
    else if (k->type == T_INT)
        memcpy(p, &(int){(int)v}, sizeof(int));
    else
        memcpy(p, &(size_t){(size_t)v}, sizeof(size_t));
    return NULL;
}

/* Copies key k's value from one struct to another (deeply). */
static void copy_value(struct ctx *c, const struct key *k, void *dst, const void *src)
{
    const void *s = cfield(src, k->off);
    void *d = field(dst, k->off);
    switch (k->type) {
    case T_STR: {
        const char *v = *(char *const *)s;
        char *n = v ? xstrdup(c, v) : NULL;
        free(*(char **)d);
        *(char **)d = n;
        break;
    }
    case T_HEADERS: {
        const struct cpgo_header *h = *(struct cpgo_header *const *)s;
        size_t n = *(const size_t *)cfield(src, k->off2);
        struct cpgo_header *nh = n ? calloc(n, sizeof *nh) : NULL;
        if (n && !nh) {
            c->nomem = 1;
            n = 0;
        }
        for (size_t i = 0; i < n; i++) {
            nh[i].name = xstrdup(c, h[i].name);
            nh[i].value = xstrdup(c, h[i].value);
        }
        free_headers(*(struct cpgo_header **)d, *(size_t *)field(dst, k->off2));
        *(struct cpgo_header **)d = nh;
        *(size_t *)field(dst, k->off2) = n;
        break;
    }
    case T_DURATION:
        memcpy(d, s, sizeof(int64_t));
        break;
    case T_SIZE:
    case T_COUNT:
        memcpy(d, s, sizeof(size_t));
        break;
    case T_INT:
    case T_BOOL:
    case T_ENUM:
        memcpy(d, s, sizeof(int));
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* checks of single values                                                                  */

static char *join_path(struct ctx *c, const char *rel)
{
    if (rel[0] == '/') return xstrdup(c, rel);
    char cwd[4096] = "";
    const char *base = c->base_dir && *c->base_dir ? c->base_dir : ".";
    if (base[0] != '/' && !getcwd(cwd, sizeof cwd)) cwd[0] = 0;
    size_t n = strlen(cwd) + strlen(base) + strlen(rel) + 3;
    char *out = malloc(n);
    if (!out) {
        c->nomem = 1;
        return NULL;
    }
    if (!strcmp(base, ".") && *cwd)
        snprintf(out, n, "%s/%s", cwd, rel);
    else
        snprintf(out, n, "%s%s%s/%s", cwd, *cwd ? "/" : "", base, rel);
    return out;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

/* state_dir and token_file: a path, made absolute against the configuration's directory. */
static int check_path(struct ctx *c, const struct key *k, void *base, const char *path,
                      struct pos at)
{
    char **p = field(base, k->off);
    if (!*p) return 0;
    char sh[SHOW_MAX + 8];
    if (!**p || has_ctl(*p)) {
        add_error(c, at.line, at.col, "%s: '%s' is not a path", path, show(*p, sh, sizeof sh));
        return -1;
    }
    char *abs = join_path(c, *p);
    if (!abs) return -1;
    free(*p);
    *p = abs;
    return 0;
}

static int valid_host(const char *s, size_t n)
{
    if (!n || n > 253) return 0; /* the longest DNS name */
    if (s[0] == '[') {
        if (n < 3 || s[n - 1] != ']') return 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.') return 0;
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_') return 0;
    return 1;
}

static int parse_port(const char *s, size_t n, int min)
{
    if (!n || n > 5) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= min && v <= 65535 ? v : -1;
}

static int check_listen(struct ctx *c, const struct key *k, void *base, const char *path,
                        struct pos at)
{
    char **p = field(base, k->off);
    if (!*p) return 0;
    const char *s = *p, *port = NULL;
    size_t hl = 0;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb && rb[1] == ':') hl = (size_t)(rb + 1 - s), port = rb + 2;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && !strchr(colon + 1, ':')) hl = (size_t)(colon - s), port = colon + 1;
    }
    if (!port || parse_port(port, strlen(port), 0) < 0 || (hl && !valid_host(s, hl))) {
        char sh[SHOW_MAX + 8];
        add_error(c, at.line, at.col, "%s: '%s' is not host:port (e.g. 127.0.0.1:8080 or :8080)",
                  path, show(s, sh, sizeof sh));
        return -1;
    }
    if (!hl) { /* ":port": loopback only, never all interfaces by accident */
        size_t n = strlen(s) + 10;
        char *full = malloc(n);
        if (!full) {
            c->nomem = 1;
            return -1;
        }
        snprintf(full, n, "127.0.0.1%s", s);
        free(*p);
        *p = full;
    }
    return 0;
}

/* Splits an http(s) URL as libcurl, which will fetch it, parses it (url.h): 0, or -1 with
 * *why. host_port gets "host:port" (default port filled in), seconds the `seconds` query
 * parameter (30 when absent). */
static int split_url(const char *u, char *host_port, size_t cap, int64_t *seconds, int *has_user,
                     const char **why)
{
    struct cpgo_url p;
    if (cpgo_url_parse(u, &p, why)) return -1;
    *has_user = p.user || p.password;
    if (host_port) {
        snprintf(host_port, cap, "%s:%d", p.host, p.port);
        for (char *c = host_port; *c; c++) /* the port is digits: only the host changes */
            *c = (char)tolower((unsigned char)*c);
    }
    *seconds = 30;
    int rc = 0, seen = 0;
    for (const char *q = p.query; q && *q && !rc;) {
        size_t n = strcspn(q, "&");
        if (n > 8 && !strncmp(q, "seconds=", 8)) {
            int64_t v;
            char num[24];
            size_t vl = n - 8;
            if (seen) {
                *why = "has seconds= twice";
                rc = -1;
                break;
            }
            seen = 1;
            if (vl >= sizeof num) vl = sizeof num - 1;
            memcpy(num, q + 8, vl);
            num[vl] = 0;
            if (!isdigit((unsigned char)num[0]) || !text_int(num, &v) || v < 1 || v > 3600) {
                *why = "has a seconds= parameter that is not a whole number from 1 to 3600";
                rc = -1;
                break;
            }
            *seconds = v;
        } else if (n == 7 && !strncmp(q, "seconds", 7)) {
            *why = "has a seconds= parameter that is not a whole number from 1 to 3600";
            rc = -1;
        }
        q += n;
        if (*q == '&') q++;
    }
    cpgo_url_free(&p);
    return rc;
}

static int check_url(struct ctx *c, const struct key *k, void *base, const char *path,
                     struct pos at)
{
    const char *u = *(char **)field(base, k->off), *why = NULL;
    int64_t seconds;
    int user;
    if (split_url(u, NULL, 0, &seconds, &user, &why)) {
        char sh[SHOW_MAX + 8];
        add_error(c, at.line, at.col, "%s: '%s' %s", path, show_url(u, sh, sizeof sh), why);
        return -1;
    }
    return 0;
}

static int check_api_url(struct ctx *c, const struct key *k, void *base, const char *path,
                         struct pos at)
{
    char **p = field(base, k->off);
    const char *why = NULL;
    int64_t seconds;
    int user;
    char sh[SHOW_MAX + 8];
    if (split_url(*p, NULL, 0, &seconds, &user, &why)) {
        add_error(c, at.line, at.col, "%s: '%s' %s", path, show_url(*p, sh, sizeof sh), why);
        return -1;
    }
    if (user || strpbrk(*p, "?#")) {
        add_error(c, at.line, at.col,
                  "%s: '%s' must be a plain base URL, without credentials "
                  "(set github.token_env or github.token_file), query or fragment",
                  path, show_url(*p, sh, sizeof sh));
        return -1;
    }
    size_t n = strlen(*p);
    while (n > 8 && (*p)[n - 1] == '/')
        (*p)[--n] = 0;
    return 0;
}

static int check_env(struct ctx *c, const struct key *k, void *base, const char *path,
                     struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    int ok = (isalpha((unsigned char)s[0]) || s[0] == '_') && strlen(s) <= 128;
    for (const char *q = s; ok && *q; q++)
        ok = isalnum((unsigned char)*q) || *q == '_';
    if (!ok) {
        char sh[SHOW_MAX + 8];
        add_error(c, at.line, at.col,
                  "%s: '%s' is not an environment variable name (letters, digits, '_')", path,
                  show(s, sh, sizeof sh));
        return -1;
    }
    return 0;
}

/* git refuses '<', '>' and line breaks in names and emails */
static int check_ident(struct ctx *c, const struct key *k, void *base, const char *path,
                       struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    size_t n = strlen(s);
    int ok = n >= 1 && n <= 200 && !has_ctl(s) && !strpbrk(s, "<>");
    if (!ok) {
        char sh[SHOW_MAX + 8];
        add_error(c, at.line, at.col,
                  "%s: '%s' must be 1 to 200 characters without '<', '>' or control characters",
                  path, show(s, sh, sizeof sh));
        return -1;
    }
    return 0;
}

static int check_name(struct ctx *c, const struct key *k, void *base, const char *path,
                      struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    size_t n = strlen(s);
    int ok = n >= 1 && n <= MAX_NAME;
    for (const char *q = s; ok && *q; q++)
        ok = (unsigned char)*q > 0x20 && *q != 0x7f;
    if (!ok) {
        char sh[SHOW_MAX + 8];
        add_error(c, at.line, at.col,
                  "%s: '%s' is not a valid name (1 to %d printable characters, no spaces)", path,
                  show(s, sh, sizeof sh), MAX_NAME);
        return -1;
    }
    return 0;
}

static int check_schedule(struct ctx *c, const struct key *k, void *base, const char *path,
                          struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    struct cpgo_cron *cr = NULL;
    struct cpgo_err e = {0};
    char sh[SHOW_MAX + 8];
    if (cpgo_cron_parse(s, &cr, &e)) {
        add_error(c, at.line, at.col, "%s: '%s': %s", path, show(s, sh, sizeof sh), e.text);
        return -1;
    }
    int64_t period = cpgo_cron_min_period(cr);
    cpgo_cron_free(cr);
    if (period <= 0 || period == INT64_MAX) {
        add_error(c, at.line, at.col, "%s: '%s' never fires", path, show(s, sh, sizeof sh));
        return -1;
    }
    return 0;
}

static int check_keep_frames(struct ctx *c, const struct key *k, void *base, const char *path,
                             struct pos at)
{
    int v;
    memcpy(&v, field(base, k->off), sizeof v);
    if (v == 1) {
        add_error(c, at.line, at.col,
                  "%s: 1 is not allowed: 0 keeps every frame, otherwise keep at least 2 (Go PGO "
                  "reads the two leaf-most)",
                  path);
        return -1;
    }
    return 0;
}

static int check_repository(struct ctx *c, const struct key *k, void *base, const char *path,
                            struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    struct cpgo_repo r;
    struct cpgo_err e = {0};
    int rc = cpgo_repo_parse(s, c->base_dir, &r, &e);
    if (rc == CPGO_E_NOMEM) c->nomem = 1;
    if (rc) {
        add_error(c, at.line, at.col, "%s: %s", path, e.text);
        return -1;
    }
    cpgo_repo_free(&r);
    return 0;
}

static int check_target_file(struct ctx *c, const struct key *k, void *base, const char *path,
                             struct pos at)
{
    const char *s = *(char **)field(base, k->off), *why = NULL;
    if (!*s)
        why = "is empty";
    else if (s[0] == '/')
        why = "must be a relative path inside the repository";
    else if (strlen(s) > 1024)
        why = "is too long";
    else if (has_ctl(s) || strchr(s, '\\'))
        why = "must not contain control characters or '\\'";
    for (const char *q = s; !why && *q;) {
        size_t n = strcspn(q, "/");
        if (!n)
            why = "must not contain empty path segments ('//' or a trailing '/')";
        else if (n == 2 && q[0] == '.' && q[1] == '.')
            why = "must not contain '..'";
        else if (n == 1 && q[0] == '.')
            why = "must not contain '.' segments";
        else if (n == 4 && !strncasecmp(q, ".git", 4))
            why = "must not be inside .git";
        q += n;
        if (*q == '/' && !*++q)
            why = "must not contain empty path segments ('//' or a trailing '/')";
    }
    if (why) {
        char sh[SHOW_MAX + 8];
        add_error(c, at.line, at.col, "%s: '%s' %s", path, show(s, sh, sizeof sh), why);
        return -1;
    }
    return 0;
}

/* git check-ref-format for refs/heads/<name>, simplified. NULL when valid. */
static const char *branch_problem(const char *s)
{
    size_t n = strlen(s);
    if (!n) return "is empty";
    if (n > 200) return "is too long";
    if (s[0] == '-') return "must not start with '-'";
    if (s[0] == '/' || s[n - 1] == '/') return "must not start or end with '/'";
    if (s[n - 1] == '.') return "must not end with '.'";
    if (!strcmp(s, "@")) return "must not be '@'";
    if (!strcmp(s, "HEAD")) return "must not be HEAD";
    /* a ref, not a branch name: cpgo would push refs/heads/refs/heads/... */
    if (!strncmp(s, "refs/", 5)) return "must not start with 'refs/': give the branch name alone";
    for (const char *q = s; *q; q++) {
        unsigned char ch = (unsigned char)*q;
        if (ch < 0x20 || ch == 0x7f || ch == ' ')
            return "must not contain spaces or control characters";
        if (strchr("~^:?*[\\", ch)) return "must not contain any of ~ ^ : ? * [ \\";
    }
    if (strstr(s, "..")) return "must not contain '..'";
    if (strstr(s, "@{")) return "must not contain '@{'";
    if (strstr(s, "//")) return "must not contain '//'";
    for (const char *q = s; *q;) {
        size_t len = strcspn(q, "/");
        if (q[0] == '.') return "must not have a component that starts with '.'";
        if (len >= 5 && !strncmp(q + len - 5, ".lock", 5))
            return "must not have a component that ends with '.lock'";
        q += len;
        if (*q) q++;
    }
    return NULL;
}

static int check_branch(struct ctx *c, const struct key *k, void *base, const char *path,
                        struct pos at)
{
    const char *s = *(char **)field(base, k->off);
    if (!s) return 0;
    const char *why = branch_problem(s);
    if (why) {
        char sh[SHOW_MAX + 8];
        add_error(c, at.line, at.col, "%s: '%s' is not a valid branch name (%s)", path,
                  show(s, sh, sizeof sh), why);
        return -1;
    }
    return 0;
}

/* HTTP header name: an RFC 9110 token. */
static int is_token(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s)) return 0;
    return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* the walk                                                                                 */

/* Per scope instance: which keys were seen, and where. */
struct sstate {
    unsigned char set[NKEYS]; /* 0 absent, 1 set, 2 present but refused, 3 inherited */
    struct pos at[NKEYS];     /* the value's position */
    struct pos kat[NKEYS];    /* the key's position */
};

struct bstate {
    struct cpgo_backend_cfg cfg;
    struct sstate s;
    char path[32];
    int valid_url;
    int64_t seconds;
    int64_t period; /* seconds, 0 unknown */
};

static int osa_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) return 99;
    int d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* The last component of a dotted name, and whether its parent is `prefix`. */
static const char *leaf_of(const struct key *k, const char *prefix)
{
    const char *dot = strrchr(k->name, '.');
    size_t pl = prefix ? strlen(prefix) : 0;
    if (!dot) return pl ? NULL : k->name;
    if (!pl || (size_t)(dot - k->name) != pl || strncmp(k->name, prefix, pl)) return NULL;
    return dot + 1;
}

static int token_key(const char *name)
{
    if (!strcmp(name, "token_env") || !strcmp(name, "token_file")) return 0;
    char low[64];
    size_t n = 0;
    for (; name[n] && n + 1 < sizeof low; n++)
        low[n] = (char)tolower((unsigned char)name[n]);
    low[n] = 0;
    return strstr(low, "token") != NULL;
}

static void unknown_key(struct ctx *c, const struct node *key, enum kscope scope,
                        const char *prefix, const char *dpath)
{
    const char *best = NULL;
    int bestd = 3;
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].scope != scope) continue;
        const char *leaf = leaf_of(&keys[i], prefix);
        if (!leaf) continue;
        int d = osa_distance(key->s, leaf);
        if (d < bestd && d < (int)strlen(leaf)) {
            bestd = d;
            best = leaf;
        }
    }
    if (best) {
        add_error(c, key->line, key->col, "%s: unknown key; did you mean '%s'?", dpath, best);
        return;
    }
    /* a known key at the wrong level */
    for (size_t i = 0; i < NKEYS; i++) {
        const char *dot = strrchr(keys[i].name, '.');
        const char *leaf = dot ? dot + 1 : keys[i].name;
        if (strcmp(leaf, key->s)) continue;
        if (keys[i].scope == S_BACKEND && scope == S_TOP && !prefix) {
            add_error(c, key->line, key->col,
                      "%s: unknown key here; '%s' is a backend setting (under backends[] or "
                      "defaults)",
                      dpath, keys[i].name);
            return;
        }
        if (keys[i].scope == scope) {
            add_error(c, key->line, key->col, "%s: unknown key here; did you mean '%s'?", dpath,
                      keys[i].name);
            return;
        }
    }
    add_error(c, key->line, key->col, "%s: unknown key", dpath);
}

static const char *type_want(const struct key *k)
{
    switch (k->type) {
    case T_SECTION:
    case T_HEADERS:
        return "a mapping";
    case T_LIST:
        return "a list";
    case T_DURATION:
        return "a duration (e.g. 45s)";
    case T_SIZE:
        return "a size (e.g. 64MiB)";
    case T_COUNT:
    case T_INT:
        return "an integer";
    case T_BOOL:
        return "true or false";
    case T_ENUM:
        return "one of its choices";
    default:
        return "a string";
    }
}

static int set_headers(struct ctx *c, const struct key *k, void *base, const struct node *v,
                       const char *path)
{
    if (plain_null(v)) return 0;
    if (v->kind != N_MAP) {
        add_error(c, v->line, v->col, "%s: expected a mapping (Name: value), got %s", path,
                  kind_name(v));
        return -1;
    }
    size_t n = v->n / 2;
    if (n > MAX_HEADERS) {
        add_error(c, v->line, v->col, "%s: more than %d headers", path, MAX_HEADERS);
        return -1;
    }
    struct cpgo_header *h = n ? calloc(n, sizeof *h) : NULL;
    if (n && !h) {
        c->nomem = 1;
        return -1;
    }
    int bad = 0;
    size_t m = 0;
    char sh[SHOW_MAX + 8], hp[320];
    for (size_t i = 0; i < n; i++) {
        const struct node *kn = v->kid[2 * i], *vn = v->kid[2 * i + 1];
        if (kn->kind != N_SCALAR || !is_token(kn->s)) {
            snprintf(hp, sizeof hp, "%s", path);
            add_error(c, kn->line, kn->col, "%s: '%s' is not a valid header name (an HTTP token)",
                      hp, kn->kind == N_SCALAR ? show(kn->s, sh, sizeof sh) : "?");
            bad = 1;
            continue;
        }
        snprintf(hp, sizeof hp, "%s", path);
        path_add(hp, sizeof hp, kn->s, 0);
        int dup = 0;
        for (size_t j = 0; j < m; j++)
            dup |= !strcasecmp(h[j].name, kn->s);
        if (dup) {
            add_error(c, kn->line, kn->col, "%s: duplicate header", hp);
            bad = 1;
            continue;
        }
        if (vn->kind != N_SCALAR || plain_null(vn)) {
            add_error(c, vn->line, vn->col, "%s: expected a string value, got %s", hp,
                      plain_null(vn) ? "nothing" : kind_name(vn));
            bad = 1;
            continue;
        }
        if (strpbrk(vn->s, "\r\n") || has_ctl(vn->s)) { /* never echo a header value */
            add_error(c, vn->line, vn->col,
                      "%s: the value contains a line break or control character", hp);
            bad = 1;
            continue;
        }
        h[m].name = xstrdup(c, kn->s);
        h[m].value = xstrdup(c, vn->s);
        m++;
    }
    struct cpgo_header **hp_ = field(base, k->off);
    size_t *np = field(base, k->off2);
    free_headers(*hp_, *np);
    *hp_ = h;
    *np = m;
    return bad ? -1 : 0;
}

/* Converts, stores and checks one value; 0 or -1 (error recorded). */
static int set_node(struct ctx *c, const struct key *k, void *base, const struct node *v,
                    const char *path)
{
    if (k->type == T_HEADERS) return set_headers(c, k, base, v, path);
    char sh[SHOW_MAX + 8], why[160];
    if (plain_null(v)) {
        if (k->flags & F_NULLABLE) {
            store(c, k, base, NULL, why, sizeof why);
            return 0;
        }
        add_error(c, v->line, v->col, "%s: needs a value (%s)", path, type_want(k));
        return -1;
    }
    if (v->kind != N_SCALAR) {
        add_error(c, v->line, v->col, "%s: expected %s, got %s", path, type_want(k), kind_name(v));
        return -1;
    }
    int64_t iv;
    int bv;
    if ((k->type == T_INT || k->type == T_COUNT) && v->quoted && text_int(v->s, &iv)) {
        add_error(c, v->line, v->col, "%s: '%s' is quoted; write the integer without quotes", path,
                  show(v->s, sh, sizeof sh));
        return -1;
    }
    if (k->type == T_BOOL && (v->quoted || !plain_bool(v, &bv))) {
        add_error(c, v->line, v->col, "%s: '%s' is not true or false", path,
                  show(v->s, sh, sizeof sh));
        return -1;
    }
    const char *text = v->s;
    if (k->type == T_BOOL) text = bv ? "true" : "false";
    const char *err = store(c, k, base, text, why, sizeof why);
    if (err) {
        add_error(c, v->line, v->col, "%s: '%s' %s", path, show(v->s, sh, sizeof sh), err);
        return -1;
    }
    if (k->check && k->check(c, k, base, path, (struct pos){v->line, v->col})) return -1;
    return 0;
}

static void walk_map(struct ctx *c, const struct node *m, enum kscope scope, const char *prefix,
                     const char *disp, void *base, struct sstate *st)
{
    for (size_t i = 0; i + 1 < m->n && !c->full && !c->nomem; i += 2) {
        const struct node *kn = m->kid[i], *v = m->kid[i + 1];
        if (kn->kind != N_SCALAR) {
            add_error(c, kn->line, kn->col, "%s%skeys must be plain names, not %s", disp,
                      *disp ? ": " : "", kind_name(kn));
            continue;
        }
        char full[128], dpath[320];
        snprintf(full, sizeof full, "%s%s%.64s", prefix ? prefix : "", prefix ? "." : "", kn->s);
        snprintf(dpath, sizeof dpath, "%s", disp);
        path_add(dpath, sizeof dpath, kn->s, 0);
        const struct key *k = strlen(kn->s) < 64 ? find_key(scope, full) : NULL;
        if (!k) {
            if (token_key(kn->s))
                add_error(c, kn->line, kn->col,
                          "%s: tokens must not be written in the configuration; put the token "
                          "in the environment (github.token_env names the variable, default "
                          "GITHUB_TOKEN) or in a file (github.token_file)",
                          dpath);
            else
                unknown_key(c, kn, scope, prefix, dpath);
            continue;
        }
        size_t idx = (size_t)(k - keys);
        if (st->set[idx]) {
            add_error(c, kn->line, kn->col, "%s: duplicate key (first at line %d)", dpath,
                      st->kat[idx].line);
            continue;
        }
        st->set[idx] = 1;
        st->at[idx] = (struct pos){v->line, v->col};
        st->kat[idx] = (struct pos){kn->line, kn->col};
        if (k->type == T_SECTION) {
            if (plain_null(v)) continue;
            if (v->kind != N_MAP) {
                add_error(c, v->line, v->col, "%s: expected a mapping, got %s", dpath,
                          kind_name(v));
                st->set[idx] = 2;
            } else if (idx == KI_DEFAULTS) {
                walk_map(c, v, S_BACKEND, NULL, "defaults", &c->defs->cfg, &c->defs->s);
            } else {
                walk_map(c, v, scope, k->name, dpath, base, st);
            }
        } else if (k->type == T_LIST) {
            if (!plain_null(v) && v->kind != N_SEQ) {
                add_error(c, v->line, v->col, "%s: expected a list, got %s", dpath, kind_name(v));
                st->set[idx] = 2;
            }
            c->backends = v;
            c->backends_at = st->at[idx];
        } else if (set_node(c, k, base, v, dpath)) {
            st->set[idx] = 2;
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* completing backends, targets                                                             */

static void default_state_dir(struct ctx *c, struct cpgo_config *cfg)
{
    const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char buf[4096];
    if (x && x[0] == '/')
        snprintf(buf, sizeof buf, "%s/cpgo", x);
    else if (geteuid() != 0 && home && home[0] == '/')
        snprintf(buf, sizeof buf, "%s/.local/state/cpgo", home);
    else
        snprintf(buf, sizeof buf, "/var/lib/cpgo");
    cfg->state_dir = xstrdup(c, buf);
}

static void init_top(struct ctx *c, struct cpgo_config *cfg)
{
    char why[160];
    cpgo_limits_default(&cfg->limits.profile);
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].scope == S_TOP && keys[i].def)
            store(c, &keys[i], cfg, keys[i].def, why, sizeof why);
    default_state_dir(c, cfg);
}

/* Key k of a backend has a usable value: set, inherited, or an optional key's default. */
static int valid(const struct bstate *b, size_t k)
{
    unsigned char st = b->s.set[k];
    return st == 1 || st == 3 || (st == 0 && !(keys[k].flags & F_REQUIRED));
}

static int given(const struct bstate *b, size_t k)
{
    return b->s.set[k] == 1 || b->s.set[k] == 3;
}

/* Where to point for key k of a backend: its value, else the backend. */
static struct pos where(const struct bstate *b, size_t k)
{
    if (b->s.set[k]) return b->s.at[k];
    if (k >= KI_REPOSITORY && b->s.set[KI_OPR]) return b->s.at[KI_OPR];
    return (struct pos){b->cfg.line, b->cfg.column};
}

static const char *inherited(const struct bstate *b, size_t k)
{
    return b->s.set[k] == 3 ? " (from defaults)" : "";
}

static void backend_path(const struct bstate *b, size_t k, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.%s", b->path, keys[k].name);
}

static char *default_head(struct ctx *c, const struct cpgo_backend_cfg *cfg)
{
    size_t n = strlen(cfg->target_branch) + strlen(cfg->target_file) + 8;
    char *s = malloc(n);
    if (!s) {
        c->nomem = 1;
        return NULL;
    }
    snprintf(s, n, "cpgo/%s/%s", cfg->target_branch, cfg->target_file);
    return s;
}

/* Fills in inherited and default values, then checks what spans keys. */
static void complete_backend(struct ctx *c, struct bstate *b)
{
    struct cpgo_backend_cfg *cfg = &b->cfg;
    struct bstate *d = c->defs;
    char why[160], path[96], t1[32], t2[32], sh[SHOW_MAX + 8];
    for (size_t k = 0; k < NKEYS; k++) {
        if (keys[k].scope != S_BACKEND || !is_leaf(&keys[k]) || b->s.set[k]) continue;
        if (d->s.set[k] == 1) {
            copy_value(c, &keys[k], cfg, &d->cfg);
            b->s.set[k] = 3;
            b->s.at[k] = d->s.at[k];
        } else if (d->s.set[k] == 2) {
            b->s.set[k] = 2; /* already reported at defaults */
        } else if (keys[k].def) {
            store(c, &keys[k], cfg, keys[k].def, why, sizeof why);
        }
    }
    static const size_t required[] = {KI_URL, KI_SCHEDULE, KI_REPOSITORY};
    for (size_t i = 0; i < 3; i++) {
        size_t k = required[i];
        if (b->s.set[k] || (k == KI_REPOSITORY && b->s.set[KI_OPR] == 2)) continue;
        struct pos p = where(b, k);
        backend_path(b, k, path, sizeof path);
        add_error(c, p.line, p.col, "%s: required", path);
    }

    b->seconds = 30;
    if (valid(b, KI_URL)) {
        const char *w;
        int user;
        b->valid_url = !split_url(cfg->url, NULL, 0, &b->seconds, &user, &w);
    }
    cfg->seconds = b->seconds;
    if (valid(b, KI_SCHEDULE)) {
        struct cpgo_err e;
        if (cpgo_cron_parse(cfg->schedule_text, &cfg->schedule, &e) == 0)
            cfg->period_s = b->period = cpgo_cron_min_period(cfg->schedule);
        else if (e.code == CPGO_E_NOMEM)
            c->nomem = 1;
    }

    /* timeout: longer than the profile, shorter than the schedule's period */
    int timeout_ok = given(b, KI_TIMEOUT) || (!b->s.set[KI_TIMEOUT] && b->valid_url);
    if (!b->s.set[KI_TIMEOUT]) cfg->timeout_ms = b->seconds * SEC + 15 * SEC;
    if (!b->s.set[KI_CONNECT_TIMEOUT] && cfg->connect_timeout_ms > cfg->timeout_ms)
        cfg->connect_timeout_ms = cfg->timeout_ms; /* a default never conflicts */
    backend_path(b, KI_TIMEOUT, path, sizeof path);
    if (timeout_ok && b->valid_url && cfg->timeout_ms <= b->seconds * SEC) {
        struct pos p = where(b, KI_TIMEOUT);
        cpgo_duration_format(cfg->timeout_ms, t1, sizeof t1);
        add_error(c, p.line, p.col,
                  "%s: %s%s must be longer than the profile's %" PRId64
                  " seconds (seconds= in url), or the scrape ends before the profile does",
                  path, t1, inherited(b, KI_TIMEOUT), b->seconds);
        timeout_ok = 0;
    } else if (timeout_ok && b->period > 0 && cfg->timeout_ms >= b->period * SEC) {
        struct pos p = b->s.set[KI_TIMEOUT] ? where(b, KI_TIMEOUT) : where(b, KI_SCHEDULE);
        cpgo_duration_format(cfg->timeout_ms, t1, sizeof t1);
        cpgo_duration_format(b->period * SEC, t2, sizeof t2);
        add_error(c, p.line, p.col,
                  "%s: %s%s must be shorter than the schedule's shortest period (%s between "
                  "'%s' firings), or scrapes would overlap",
                  path, t1,
                  b->s.set[KI_TIMEOUT] ? inherited(b, KI_TIMEOUT) : " (the default, seconds + 15s)",
                  t2, show(cfg->schedule_text, sh, sizeof sh));
        timeout_ok = 0;
    }
    if (timeout_ok && given(b, KI_CONNECT_TIMEOUT) && cfg->connect_timeout_ms > cfg->timeout_ms) {
        struct pos p = where(b, KI_CONNECT_TIMEOUT);
        backend_path(b, KI_CONNECT_TIMEOUT, path, sizeof path);
        cpgo_duration_format(cfg->connect_timeout_ms, t1, sizeof t1);
        cpgo_duration_format(cfg->timeout_ms, t2, sizeof t2);
        add_error(c, p.line, p.col, "%s: %s%s must not be longer than timeout (%s)", path, t1,
                  inherited(b, KI_CONNECT_TIMEOUT), t2);
    }

    int repo_ok = 0;
    if (valid(b, KI_REPOSITORY)) {
        struct cpgo_err e;
        int rc = cpgo_repo_parse(cfg->repository, c->base_dir, &cfg->repo, &e);
        if (rc == CPGO_E_NOMEM) c->nomem = 1;
        repo_ok = rc == 0;
    }
    if (!b->s.set[KI_FORGE])
        cfg->forge =
            repo_ok && cfg->repo.kind == CPGO_REPO_FILE ? CPGO_FORGE_LOCAL : CPGO_FORGE_GITHUB;
    else if (valid(b, KI_FORGE) && repo_ok && cfg->forge == CPGO_FORGE_GITHUB &&
             cfg->repo.kind == CPGO_REPO_FILE) {
        struct pos p = where(b, KI_FORGE);
        backend_path(b, KI_FORGE, path, sizeof path);
        add_error(c, p.line, p.col,
                  "%s: github%s needs a repository on a server (https, http or ssh), not the "
                  "local path '%s'",
                  path, inherited(b, KI_FORGE), show(cfg->repo.url, sh, sizeof sh));
    }

    if (valid(b, KI_TARGET_BRANCH) && valid(b, KI_TARGET_FILE) && !cfg->head_branch &&
        (valid(b, KI_HEAD_BRANCH) || !b->s.set[KI_HEAD_BRANCH])) {
        char *hb = default_head(c, cfg);
        const char *w = hb ? branch_problem(hb) : NULL;
        if (w) {
            struct pos p = where(b, KI_TARGET_FILE);
            backend_path(b, KI_HEAD_BRANCH, path, sizeof path);
            add_error(c, p.line, p.col,
                      "%s: the default '%s' is not a valid branch name (%s); set head_branch", path,
                      show(hb, sh, sizeof sh), w);
        }
        free(hb);
    }
    /* Every forge: publishing refuses it too (gitrepo), but only at the first round, after
     * the scrapes; check-config and the start of `run` must say so at once. */
    if (valid(b, KI_HEAD_BRANCH) && cfg->head_branch && valid(b, KI_TARGET_BRANCH) &&
        !strcmp(cfg->head_branch, cfg->target_branch)) {
        struct pos p = where(b, KI_HEAD_BRANCH);
        backend_path(b, KI_HEAD_BRANCH, path, sizeof path);
        add_error(c, p.line, p.col,
                  "%s: '%s'%s is the target branch; cpgo force-pushes the head branch, so it must "
                  "be another one",
                  path, show(cfg->head_branch, sh, sizeof sh), inherited(b, KI_HEAD_BRANCH));
    }
}

/* A string -> index map (open addressing, FNV-1a), for names and target keys. */
struct strmap {
    const char **key;
    size_t *val;
    size_t cap, n;
};

static uint64_t fnv1a(const char *s)
{
    return cpgo_hash_fnv1a(s, strlen(s), CPGO_FNV1A_INIT);
}

static int strmap_init(struct strmap *m, size_t n)
{
    m->cap = 16;
    while (m->cap < 2 * n + 2)
        m->cap *= 2;
    m->n = 0;
    m->key = calloc(m->cap, sizeof *m->key);
    m->val = calloc(m->cap, sizeof *m->val);
    return m->key && m->val ? 0 : -1;
}

static void strmap_free(struct strmap *m)
{
    free(m->key);
    free(m->val);
}

/* Returns the slot of s: found (key set) or where it would go. The map never fills: it is
 * sized for every insertion up front. */
static size_t strmap_slot(const struct strmap *m, const char *s)
{
    size_t i = (size_t)fnv1a(s) & (m->cap - 1);
    while (m->key[i] && strcmp(m->key[i], s))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void assign_names(struct ctx *c, struct bstate *bs, size_t n)
{
    /* zeroed: when the first map's allocation fails the second is freed uninitialised */
    struct strmap m = {0}, next = {0}; /* names taken; per URL host:port, the next suffix */
    char **bases = calloc(n ? n : 1, sizeof *bases);
    size_t nbases = 0;
    if (strmap_init(&m, 2 * n) || strmap_init(&next, n) || !bases) {
        c->nomem = 1;
        strmap_free(&m);
        strmap_free(&next);
        free(bases);
        return;
    }
    char path[96], sh[SHOW_MAX + 8];
    for (size_t i = 0; i < n; i++) {
        if (!given(&bs[i], KI_NAME)) continue;
        size_t s = strmap_slot(&m, bs[i].cfg.name);
        if (m.key[s]) {
            struct pos p = where(&bs[i], KI_NAME);
            backend_path(&bs[i], KI_NAME, path, sizeof path);
            add_error(c, p.line, p.col, "%s: '%s'%s is also the name of %s", path,
                      show(bs[i].cfg.name, sh, sizeof sh), inherited(&bs[i], KI_NAME),
                      bs[m.val[s]].path);
            continue;
        }
        m.key[s] = bs[i].cfg.name;
        m.val[s] = i;
    }
    for (size_t i = 0; i < n && !c->nomem; i++) {
        if (bs[i].s.set[KI_NAME] || !bs[i].valid_url) continue;
        char hp[300], cand[340];
        const char *w;
        int64_t sec;
        int user;
        split_url(bs[i].cfg.url, hp, sizeof hp, &sec, &user, &w);
        size_t ns = strmap_slot(&next, hp);
        if (!next.key[ns]) {
            if (!(bases[nbases] = xstrdup(c, hp))) break;
            next.key[ns] = bases[nbases++];
            next.val[ns] = 1;
        }
        size_t s;
        for (;;) { /* "host:port", then "host:port#2", "#3"... skipping names taken */
            size_t k = next.val[ns]++;
            if (k == 1)
                snprintf(cand, sizeof cand, "%s", hp);
            else
                snprintf(cand, sizeof cand, "%s#%zu", hp, k);
            s = strmap_slot(&m, cand);
            if (!m.key[s]) break;
        }
        bs[i].cfg.name = xstrdup(c, cand);
        if (!bs[i].cfg.name) break;
        m.key[s] = bs[i].cfg.name;
        m.val[s] = i;
    }
    for (size_t i = 0; i < nbases; i++)
        free(bases[i]);
    free(bases);
    strmap_free(&m);
    strmap_free(&next);
}

static const char *head_of(const struct cpgo_target_cfg *t, char *buf, size_t cap)
{
    if (t->head_branch) return t->head_branch;
    snprintf(buf, cap, "cpgo/%s/%s", t->target_branch, t->target_file);
    return buf;
}

/* A backend that writes target t must configure it as t's first backend does. */
static void check_agreement(struct ctx *c, const struct cpgo_target_cfg *t,
                            const struct bstate *first, const struct bstate *b)
{
    const struct cpgo_backend_cfg *x = &first->cfg, *y = &b->cfg;
    static const size_t ks[] = {KI_DROP_LABELS, KI_KEEP_FRAMES,  KI_STRIP_ADDRESSES,
                                KI_HEAD_BRANCH, KI_MIN_INTERVAL, KI_FORGE,
                                KI_REOPEN_GROWTH};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        size_t k = ks[i];
        if (!valid(b, k) && b->s.set[k]) continue;
        int differ;
        char v1[128], v2[128];
        if (k == KI_HEAD_BRANCH) { /* compared as pushed to: the default spelled out */
            if (!valid(first, KI_TARGET_BRANCH) || !valid(first, KI_TARGET_FILE)) continue;
            snprintf(v1, sizeof v1, "%s", x->head_branch ? x->head_branch : "");
            snprintf(v2, sizeof v2, "%s", y->head_branch ? y->head_branch : "");
            if (!x->head_branch)
                snprintf(v1, sizeof v1, "cpgo/%s/%s", x->target_branch, x->target_file);
            if (!y->head_branch)
                snprintf(v2, sizeof v2, "cpgo/%s/%s", y->target_branch, y->target_file);
            differ = strcmp(v1, v2) != 0;
        } else {
            fmt_value(&keys[k], x, v1, sizeof v1);
            fmt_value(&keys[k], y, v2, sizeof v2);
            differ = strcmp(v1, v2) != 0;
        }
        if (!differ) continue;
        char path[96], sh1[SHOW_MAX + 8], sh2[SHOW_MAX + 8];
        struct pos p = where(b, k);
        backend_path(b, k, path, sizeof path);
        int trim = k == KI_DROP_LABELS || k == KI_KEEP_FRAMES || k == KI_STRIP_ADDRESSES;
        add_error(c, p.line, p.col,
                  "%s: %s%s differs from %s (%s), which writes the same target %s; backends of "
                  "one target must %s",
                  path, show(v2, sh2, sizeof sh2), inherited(b, k), first->path,
                  show(v1, sh1, sizeof sh1), t->key,
                  trim ? "trim alike" : "agree on open_pull_request settings");
    }
}

static int copy_repo(struct cpgo_repo *d, const struct cpgo_repo *s)
{
    memset(d, 0, sizeof *d);
    d->kind = s->kind;
    d->port = s->port;
    d->host = strdup(s->host);
    d->path = strdup(s->path);
    d->url = strdup(s->url);
    d->user = s->user ? strdup(s->user) : NULL;
    if (!d->host || !d->path || !d->url || (s->user && !d->user)) {
        cpgo_repo_free(d);
        return -1;
    }
    return 0;
}

static char *repo_branch_key(struct ctx *c, const struct cpgo_repo *r, const char *branch)
{
    size_t n = strlen(r->host) + strlen(r->path) + strlen(branch) + 4;
    char *k = malloc(n);
    if (!k) {
        c->nomem = 1;
        return NULL;
    }
    snprintf(k, n, "%s/%s@%s", r->host, r->path, branch);
    return k;
}

/* forge github sends the GitHub token to the repository's host (git over https): only to
 * GitHub's own git host -- github.com for api.github.com, the API's host for Enterprise --
 * and never over plain http except on loopback (http URLs of the GitHub host are upgraded). */
static void check_github_host(struct ctx *c, const struct cpgo_config *cfg, struct bstate *b)
{
    struct cpgo_backend_cfg *bc = &b->cfg;
    if (bc->forge != CPGO_FORGE_GITHUB || !bc->repo.host || !cfg->github.api_url) return;
    if (strpbrk(cfg->github.api_url, "@?#")) return; /* refused by its own check already */
    if (bc->repo.kind != CPGO_REPO_HTTPS && bc->repo.kind != CPGO_REPO_HTTP) return;
    struct cpgo_url api;
    const char *why;
    if (cpgo_url_parse(cfg->github.api_url, &api, &why)) return; /* refused by its check */
    char host[256];
    snprintf(host, sizeof host, "%s", api.host);
    cpgo_url_free(&api);
    const char *want = !strcasecmp(host, "api.github.com") ? "github.com" : host;
    int loop = !strcmp(bc->repo.host, "127.0.0.1") || !strcmp(bc->repo.host, "localhost") ||
               !strcmp(bc->repo.host, "[::1]") || !strcmp(bc->repo.host, "::1");
    char path[96], sh[SHOW_MAX + 8];
    struct pos p = where(b, KI_REPOSITORY);
    backend_path(b, KI_REPOSITORY, path, sizeof path);
    if (strcasecmp(bc->repo.host, want))
        add_error(c, p.line, p.col,
                  "%s: '%s' is not on %s, the git host of github.api_url (%s): forge github "
                  "would send the GitHub token there; set forge: local, or github.api_url for "
                  "GitHub Enterprise",
                  path, show(bc->repository, sh, sizeof sh), want, cfg->github.api_url);
    else if (bc->repo.kind == CPGO_REPO_HTTP && !loop && !strncasecmp(bc->repo.url, "http://", 7)) {
        /* The original tool's sample says http://github.com/...: GitHub serves git over
         * https only (http redirects), and the token must not cross the network in the
         * clear, so the clone URL is upgraded. */
        size_t n = strlen(bc->repo.url) + 2;
        char *u = malloc(n);
        if (!u) {
            c->nomem = 1;
            return;
        }
        snprintf(u, n, "https://%s", bc->repo.url + strlen("http://"));
        free(bc->repo.url);
        bc->repo.url = u;
        bc->repo.kind = CPGO_REPO_HTTPS;
    }
}

static void build_targets(struct ctx *c, struct cpgo_config *cfg, struct bstate *bs, size_t n)
{
    struct strmap m = {0}, heads = {0}; /* zeroed: freed when an allocation fails */
    if (strmap_init(&m, n) || strmap_init(&heads, 2 * n) ||
        !(cfg->targets = calloc(n ? n : 1, sizeof *cfg->targets))) {
        c->nomem = 1;
        strmap_free(&m);
        strmap_free(&heads);
        return;
    }
    size_t *first = calloc(n ? n : 1, sizeof *first);
    size_t *counts = calloc(n ? n : 1, sizeof *counts);
    if (!first || !counts) c->nomem = 1;
    for (size_t i = 0; i < n && !c->nomem; i++) {
        struct bstate *b = &bs[i];
        struct cpgo_backend_cfg *bc = &b->cfg;
        if (!valid(b, KI_REPOSITORY) || !bc->repo.host || !valid(b, KI_TARGET_BRANCH) ||
            !valid(b, KI_TARGET_FILE))
            continue;
        size_t kl = strlen(bc->repo.host) + strlen(bc->repo.path) + strlen(bc->target_branch) +
                    strlen(bc->target_file) + 4;
        char *key = malloc(kl);
        if (!key) {
            c->nomem = 1;
            break;
        }
        snprintf(key, kl, "%s/%s@%s:%s", bc->repo.host, bc->repo.path, bc->target_branch,
                 bc->target_file);
        size_t s = strmap_slot(&m, key);
        if (m.key[s]) {
            free(key);
            size_t ti = m.val[s];
            bc->target = ti;
            counts[ti]++;
            check_agreement(c, &cfg->targets[ti], &bs[first[ti]], b);
            continue;
        }
        check_github_host(c, cfg, b);
        size_t ti = cfg->ntargets++;
        struct cpgo_target_cfg *t = &cfg->targets[ti];
        m.key[s] = t->key = key;
        m.val[s] = ti;
        first[ti] = i;
        counts[ti] = 1;
        bc->target = ti;
        char id[17];
        snprintf(id, sizeof id, "%016" PRIx64, fnv1a(key));
        t->id = xstrdup(c, id);
        t->repository = xstrdup(c, bc->repository);
        t->target_branch = xstrdup(c, bc->target_branch);
        t->target_file = xstrdup(c, bc->target_file);
        t->head_branch = bc->head_branch ? xstrdup(c, bc->head_branch) : NULL;
        t->min_interval_ms = bc->min_interval_ms;
        t->forge = bc->forge;
        t->reopen_growth = bc->reopen_growth;
        t->trim = bc->trim;
        if (copy_repo(&t->repo, &bc->repo)) c->nomem = 1;
    }
    /* backend index lists */
    for (size_t ti = 0; ti < cfg->ntargets && !c->nomem; ti++) {
        cfg->targets[ti].backends = malloc(counts[ti] * sizeof(size_t));
        if (!cfg->targets[ti].backends) c->nomem = 1;
    }
    for (size_t i = 0; i < n && !c->nomem; i++) {
        struct bstate *b = &bs[i];
        if (!b->cfg.repo.host || !valid(b, KI_TARGET_BRANCH) || !valid(b, KI_TARGET_FILE) ||
            !valid(b, KI_REPOSITORY))
            continue;
        struct cpgo_target_cfg *t = &cfg->targets[b->cfg.target];
        t->backends[t->nbackends++] = i;
    }
    /* head branches: one target each, and never another target's base branch */
    char **hkeys = NULL;
    size_t nh = 0;
    if (!c->nomem && cfg->ntargets && !(hkeys = calloc(2 * cfg->ntargets, sizeof *hkeys)))
        c->nomem = 1;
    for (size_t ti = 0; ti < cfg->ntargets && !c->nomem; ti++) {
        const struct cpgo_target_cfg *t = &cfg->targets[ti];
        if (!(hkeys[nh] = repo_branch_key(c, &t->repo, t->target_branch))) break;
        size_t s = strmap_slot(&heads, hkeys[nh]);
        if (!heads.key[s]) {
            heads.key[s] = hkeys[nh];
            heads.val[s] = SIZE_MAX - ti; /* marks a base branch */
        }
        nh++;
    }
    for (size_t ti = 0; ti < cfg->ntargets && !c->nomem; ti++) {
        const struct cpgo_target_cfg *t = &cfg->targets[ti];
        char path[96], sh[SHOW_MAX + 8];
        char *h = t->head_branch ? xstrdup(c, t->head_branch) : default_head(c, &bs[first[ti]].cfg);
        if (!h) break;
        if (!strcmp(h, t->target_branch)) { /* refused above, per backend */
            free(h);
            continue;
        }
        char *hk = repo_branch_key(c, &t->repo, h);
        if (!hk) {
            free(h);
            break;
        }
        hkeys[nh++] = hk;
        size_t s = strmap_slot(&heads, hk);
        const struct bstate *b = &bs[first[ti]];
        if (!heads.key[s]) {
            heads.key[s] = hk;
            heads.val[s] = ti;
            free(h);
            continue;
        }
        size_t other = heads.val[s];
        struct pos p = where(b, KI_HEAD_BRANCH);
        backend_path(b, KI_HEAD_BRANCH, path, sizeof path);
        if (other >= SIZE_MAX - cfg->ntargets)
            add_error(c, p.line, p.col,
                      "%s: '%s' is the target branch of %s in the same repository; cpgo would "
                      "overwrite it",
                      path, show(h, sh, sizeof sh), bs[first[SIZE_MAX - other]].path);
        else
            add_error(c, p.line, p.col,
                      "%s: '%s' is also the head branch of %s, a different target in the same "
                      "repository",
                      path, show(h, sh, sizeof sh), bs[first[other]].path);
        free(h);
    }
    for (size_t i = 0; i < nh; i++)
        free(hkeys[i]);
    free(hkeys);
    free(first);
    free(counts);
    strmap_free(&m);
    strmap_free(&heads);
}

/* ---------------------------------------------------------------------------------------- */
/* entry points                                                                             */

static void free_backend(struct cpgo_backend_cfg *b)
{
    free_scope(S_BACKEND, b);
    if (b->schedule) cpgo_cron_free(b->schedule);
    b->schedule = NULL;
    cpgo_repo_free(&b->repo);
}

void cpgo_config_free(struct cpgo_config *c)
{
    if (!c) return;
    free_scope(S_TOP, c);
    free(c->path);
    for (size_t i = 0; i < c->nbackends; i++)
        free_backend(&c->backends[i]);
    free(c->backends);
    for (size_t i = 0; i < c->ntargets; i++) {
        struct cpgo_target_cfg *t = &c->targets[i];
        free(t->key);
        free(t->id);
        cpgo_repo_free(&t->repo);
        free(t->repository);
        free(t->target_branch);
        free(t->target_file);
        free(t->head_branch);
        free(t->backends);
    }
    free(c->targets);
    free(c);
}

int cpgo_config_parse(const char *text, size_t len, const char *name, const char *base_dir,
                      struct cpgo_config **out, struct cpgo_config_errors *errs)
{
    struct ctx c = {.name = name ? name : "config", .base_dir = base_dir};
    struct node *root = NULL;
    struct cpgo_config *cfg = NULL;
    struct bstate defs;
    struct bstate *bs = NULL;
    size_t nb = 0;
    memset(&defs, 0, sizeof defs);
    c.defs = &defs;
    *out = NULL;
    if (errs) errs->lines = NULL, errs->n = 0;

    if (len > MAX_FILE) {
        add_error(&c, 0, 0, "the file is %zu bytes; the limit is 4 MiB", len);
        goto done;
    }
    if (build_tree(&c, text, len, &root)) goto done;
    if (!(cfg = calloc(1, sizeof *cfg)) || !(cfg->path = strdup(c.name))) {
        c.nomem = 1;
        goto done;
    }
    init_top(&c, cfg);
    struct sstate *top = calloc(1, sizeof *top);
    if (!top) {
        c.nomem = 1;
        goto done;
    }
    if (root && root->kind != N_MAP && !plain_null(root)) {
        add_error(&c, root->line, root->col,
                  "the configuration must be a mapping (backends: ...), not %s", kind_name(root));
    } else if (root && root->kind == N_MAP) {
        walk_map(&c, root, S_TOP, NULL, "", cfg, top);
    }
    if (!top->set[KI_BACKENDS]) {
        add_error(&c, root ? root->line : 1, root ? root->col : 1,
                  "backends: required (the list of backends to scrape)");
    } else if (top->set[KI_BACKENDS] == 1 && (plain_null(c.backends) || !c.backends->n)) {
        add_error(&c, c.backends_at.line, c.backends_at.col,
                  "backends: the list is empty; at least one backend is required");
    } else if (top->set[KI_BACKENDS] == 1 && c.backends->n > MAX_BACKENDS) {
        add_error(&c, c.backends_at.line, c.backends_at.col,
                  "backends: %zu backends; at most %d are allowed", c.backends->n, MAX_BACKENDS);
    } else if (top->set[KI_BACKENDS] == 1) {
        const struct node *list = c.backends;
        if (!(bs = calloc(list->n, sizeof *bs))) {
            c.nomem = 1;
            free(top);
            goto done;
        }
        for (size_t i = 0; i < list->n && !c.full && !c.nomem; i++, nb++) {
            const struct node *e = list->kid[i];
            struct bstate *b = &bs[i];
            snprintf(b->path, sizeof b->path, "backends[%zu]", i);
            b->cfg.line = e->line;
            b->cfg.column = e->col;
            if (e->kind != N_MAP) {
                add_error(&c, e->line, e->col,
                          "%s: expected a mapping (url, schedule, open_pull_request), got %s",
                          b->path, plain_null(e) ? "nothing" : kind_name(e));
                continue;
            }
            walk_map(&c, e, S_BACKEND, NULL, b->path, &b->cfg, &b->s);
        }
        for (size_t i = 0; i < nb && !c.full && !c.nomem; i++)
            if (list->kid[i]->kind == N_MAP) complete_backend(&c, &bs[i]);
        if (!c.full && !c.nomem) assign_names(&c, bs, nb);
        if (!c.full && !c.nomem) build_targets(&c, cfg, bs, nb);
    }
    free(top);

done:
    node_free(root);
    free_backend(&defs.cfg);
    int rc = c.nomem ? CPGO_E_NOMEM : c.nerr || c.full ? CPGO_E_INPUT : 0;
    if (!rc && cfg) {
        cfg->backends = calloc(nb, sizeof *cfg->backends);
        if (!cfg->backends) {
            c.nomem = 1;
            rc = CPGO_E_NOMEM;
        } else {
            for (size_t i = 0; i < nb; i++)
                cfg->backends[i] = bs[i].cfg;
            cfg->nbackends = nb;
            nb = 0;
        }
    }
    for (size_t i = 0; i < nb; i++)
        free_backend(&bs[i].cfg);
    free(bs);
    export_errors(&c, errs);
    if (rc) {
        cpgo_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

static int load(const char *path, int regular_only, struct cpgo_config **out,
                struct cpgo_config_errors *errs)
{
    struct ctx c = {.name = path};
    *out = NULL;
    if (errs) errs->lines = NULL, errs->n = 0;
    /* O_NONBLOCK for a reload: a FIFO must not block the pool thread (see config.h) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int rc = 0;
    if (fd < 0) {
        add_error(&c, 0, 0, "cannot open: %s", strerror(errno));
        rc = CPGO_E_IO;
    } else if (fstat(fd, &st)) {
        add_error(&c, 0, 0, "cannot read: %s", strerror(errno));
        rc = CPGO_E_IO;
    } else if (S_ISDIR(st.st_mode)) {
        add_error(&c, 0, 0, "cannot read: is a directory");
        rc = CPGO_E_IO;
    } else if (regular_only && !S_ISREG(st.st_mode)) {
        add_error(&c, 0, 0,
                  "cannot read again: it is %s, not a regular file (a configuration read "
                  "from a pipe cannot be reloaded)",
                  S_ISFIFO(st.st_mode) ? "a FIFO or pipe"
                  : S_ISSOCK(st.st_mode) ? "a socket"
                                         : "a device");
        rc = CPGO_E_IO;
    } else if (regular_only && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)) {
        add_error(&c, 0, 0, "cannot read: %s", strerror(errno));
        rc = CPGO_E_IO;
    } else if (!(buf = malloc(MAX_FILE + 1))) {
        c.nomem = 1;
        rc = CPGO_E_NOMEM;
    } else {
        for (;;) {
            ssize_t n = read(fd, buf + len, MAX_FILE + 1 - len);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                add_error(&c, 0, 0, "cannot read: %s", strerror(errno));
                rc = CPGO_E_IO;
                break;
            }
            if (n == 0) break;
            len += (size_t)n;
            if (len > MAX_FILE) {
                add_error(&c, 0, 0, "the file is larger than the limit of 4 MiB");
                rc = CPGO_E_INPUT;
                break;
            }
        }
    }
    if (fd >= 0) close(fd);
    if (rc) {
        free(buf);
        export_errors(&c, errs);
        return rc;
    }
    char *dir = strdup(path);
    if (!dir) {
        free(buf);
        return CPGO_E_NOMEM;
    }
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    rc = cpgo_config_parse(buf, len, path, dir, out, errs);
    free(dir);
    free(buf);
    return rc;
}

int cpgo_config_load(const char *path, struct cpgo_config **out, struct cpgo_config_errors *errs)
{
    return load(path, 0, out, errs);
}

int cpgo_config_reload(const char *path, struct cpgo_config **out,
                       struct cpgo_config_errors *errs)
{
    return load(path, 1, out, errs);
}

/* ---------------------------------------------------------------------------------------- */
/* dump and reference                                                                       */

/* YAML 1.1 and 1.2 words and numbers that a plain scalar would turn into something else. */
static int plain_safe(const char *s)
{
    static const char *const words[] = {"y",   "n",    "yes",   "no",   "on",
                                        "off", "true", "false", "null", "~"};
    if (!*s || !isalpha((unsigned char)s[0])) {
        if (s[0] != '/' && s[0] != '.' && s[0] != '_') return 0;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcasecmp(s, words[i])) return 0;
    if (s[0] == '.' && (isdigit((unsigned char)s[1]) || isalpha((unsigned char)s[1]))) return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._/:@+-=?&%~,", *p)) return 0;
    return s[strlen(s) - 1] != ':';
}

static void put_str(FILE *o, const char *s)
{
    if (!s) {
        fputs("null", o);
        return;
    }
    if (plain_safe(s)) {
        fputs(s, o);
        return;
    }
    fputc('"', o);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(o, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(o, "\\x%02x", *p);
        else
            fputc(*p, o);
    }
    fputc('"', o);
}

static int depth_of(const char *name)
{
    int d = 0;
    for (; *name; name++)
        d += *name == '.';
    return d;
}

static void dump_scope(FILE *o, enum kscope scope, const void *base, const char *indent,
                       const char *first_indent)
{
    int first = 1;
    char v[600];
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (k->scope != scope || k->type == T_LIST || i == KI_DEFAULTS) continue;
        const char *dot = strrchr(k->name, '.');
        const char *leaf = dot ? dot + 1 : k->name;
        fprintf(o, "%s%*s%s:", first ? first_indent : indent, 2 * depth_of(k->name), "", leaf);
        first = 0;
        if (k->type == T_SECTION) {
            fputc('\n', o);
            continue;
        }
        if (k->type != T_HEADERS || !*(const size_t *)cfield(base, k->off2)) fputc(' ', o);
        if (k->type == T_STR) {
            const char *s = *(char *const *)cfield(base, k->off);
            if (i == KI_URL && s) {
                cpgo_url_mask(s, v, sizeof v);
                put_str(o, v);
            } else if (i == KI_REPOSITORY && ((const struct cpgo_backend_cfg *)base)->repo.url &&
                       ((const struct cpgo_backend_cfg *)base)->repo.kind == CPGO_REPO_FILE) {
                /* resolved, so the dump means the same wherever it is read */
                put_str(o, ((const struct cpgo_backend_cfg *)base)->repo.url);
            } else if (i == KI_HEAD_BRANCH && !s) {
                const struct cpgo_backend_cfg *b = base;
                snprintf(v, sizeof v, "cpgo/%s/%s", b->target_branch, b->target_file);
                put_str(o, v);
            } else {
                put_str(o, s);
            }
        } else if (k->type == T_HEADERS) {
            const struct cpgo_header *h = *(struct cpgo_header *const *)cfield(base, k->off);
            size_t n = *(const size_t *)cfield(base, k->off2);
            if (!n) fputs("{}", o);
            for (size_t j = 0; j < n; j++) {
                fprintf(o, "\n%s%*s", indent, 2 * depth_of(k->name) + 2, "");
                put_str(o, h[j].name);
                fputs(": ", o);
                put_str(o, cpgo_url_secret_header(h[j].name) ? "****" : h[j].value);
            }
        } else {
            fmt_value(k, base, v, sizeof v);
            fputs(v, o);
        }
        fputc('\n', o);
    }
}

int cpgo_config_dump(const struct cpgo_config *c, FILE *out)
{
    fprintf(out, "# %s, normalised: every default filled in, secrets masked\n", c->path);
    dump_scope(out, S_TOP, c, "", "");
    fputs("backends:\n", out);
    for (size_t i = 0; i < c->nbackends; i++)
        dump_scope(out, S_BACKEND, &c->backends[i], "  ", "- ");
    fprintf(out,
            "# %zu target%s (backends with the same repository, target_branch and "
            "target_file; their profiles are merged into one file):\n",
            c->ntargets, c->ntargets == 1 ? "" : "s");
    for (size_t t = 0; t < c->ntargets; t++) {
        const struct cpgo_target_cfg *tg = &c->targets[t];
        char hb[600];
        fprintf(out, "#   %s %s -> %s (%s)\n#     backends:", tg->id, tg->key,
                head_of(tg, hb, sizeof hb), tg->forge == CPGO_FORGE_LOCAL ? "local" : "github");
        for (size_t j = 0; j < tg->nbackends; j++)
            fprintf(out, " %s", c->backends[tg->backends[j]].name);
        fputc('\n', out);
    }
    return fflush(out) || ferror(out) ? CPGO_E_IO : 0;
}

static const char *type_doc(const struct key *k, char *buf, size_t cap)
{
    switch (k->type) {
    case T_SECTION:
        return "mapping";
    case T_LIST:
        return "list of mappings";
    case T_STR:
        return "string";
    case T_DURATION:
        return "duration";
    case T_SIZE:
        return "size";
    case T_COUNT:
    case T_INT:
        return "integer";
    case T_BOOL:
        return "boolean";
    case T_HEADERS:
        return "map of strings";
    case T_ENUM: {
        size_t len = (size_t)snprintf(buf, cap, "one of");
        for (const struct choice *ch = k->choices; ch->name && len < cap; ch++)
            len += (size_t)snprintf(buf + len, cap - len, "%s `%s`", ch == k->choices ? "" : ",",
                                    ch->name);
        return buf;
    }
    }
    return "";
}

static const char reference_head[] =
    "# cpgo configuration reference\n"
    "\n"
    "<!-- Generated by `cpgo check-config --reference` from the key table in\n"
    "     src/config/config.c. Do not edit: regenerate with\n"
    "     `cpgo check-config --reference > docs/CONFIG.md`\n"
    "     (tests/unit/test_config_config.c fails when this file is stale). -->\n"
    "\n"
    "cpgo reads one YAML file (`cpgo check-config -c FILE` validates it and prints it with\n"
    "every default filled in). The original tool's format loads unchanged:\n"
    "\n"
    "```yaml\n"
    "backends:\n"
    "- url: http://localhost:6060/debug/pprof/profile?seconds=30\n"
    "  schedule: '* * * * *'\n"
    "  open_pull_request:\n"
    "    repository: http://github.com/my-org/my-repo\n"
    "    target_file: default.pgo\n"
    "    target_branch: main\n"
    "```\n"
    "\n"
    "Everything else is optional and has the default shown below.\n"
    "\n"
    "## Rules\n"
    "\n"
    "- Strict: unknown keys (with a suggestion when a known key is close), wrong types,\n"
    "  duplicate keys, anchors and aliases, tags other than the standard ones, more than one\n"
    "  document, nesting deeper than 16 levels and files over 4 MiB are errors. Every error\n"
    "  is reported, as `file:line:column: key: problem` (at most 100).\n"
    "- Durations are Go durations (`45s`, `1m30s`, `500ms`, `2h`). Sizes are integers\n"
    "  (bytes) or strings with a unit: `KB`, `MB`, `GB` (powers of 1000), `KiB`, `MiB`,\n"
    "  `GiB` (powers of 1024).\n"
    "- `defaults:` takes any `backends[]` key and applies it to every backend that does not\n"
    "  set the key itself.\n"
    "- A backend's `timeout` must be longer than the profile's `seconds` (from the `url`,\n"
    "  30 when absent) and shorter than the shortest period of its `schedule`, so one\n"
    "  scrape ends before the next begins.\n"
    "- Backends with the same repository (compared after normalisation: host lowercased,\n"
    "  `.git` and trailing `/` ignored, https, ssh and scp-like forms alike), `target_branch`\n"
    "  and `target_file` form one *target*: their profiles are merged into one file. They\n"
    "  must agree on trimming (`drop_labels`, `keep_frames`, `strip_addresses`) and on\n"
    "  `head_branch`, `min_interval` and `forge`. Each target has an id: 16 hex digits of\n"
    "  the FNV-1a hash of `host/path@branch:file`.\n"
    "- Names are unique; a backend without `name` is named after its URL's `host:port`,\n"
    "  made unique with `#2`, `#3`...\n"
    "- Secrets: a `token` key anywhere (e.g. `github.token`) is refused. The GitHub token\n"
    "  comes from the environment variable named by `github.token_env` or from\n"
    "  `github.token_file`. Output (logs, `/status`, errors, `check-config`) never shows\n"
    "  header values of Authorization, Cookie or any header whose name suggests a secret\n"
    "  (contains `auth`, `cookie`, `token`, `secret`, `passw`, `api-key`, `apikey`,\n"
    "  `api_key`), nor a URL's password (or lone user, usually a token) or the values of\n"
    "  query keys containing `token`, `key`, `secret`, `password`, `passwd`, `sig` or\n"
    "  `auth`: they read `xxxxx` in URLs and `****` elsewhere. Text a backend or GitHub\n"
    "  sends back is scrubbed of every such secret and the GitHub token, as sent,\n"
    "  percent-decoded, percent-encoded and base64 (HTTP Basic), before it is cut to fit\n"
    "  a message.\n"
    "\n"
    "## Keys\n"
    "\n"
    "| key | type | default | bounds | description |\n"
    "|---|---|---|---|---|\n";

void cpgo_config_write_reference(FILE *out)
{
    struct cpgo_config *preset = calloc(1, sizeof *preset);
    if (preset) cpgo_limits_default(&preset->limits.profile);
    fputs(reference_head, out);
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        char tb[128], def[160], bounds[96];
        if (k->def_doc)
            snprintf(def, sizeof def, "%s", k->def_doc);
        else if (k->def)
            snprintf(def, sizeof def, "`%s`", k->def);
        else if ((k->flags & F_PRESET) && preset) {
            char v[64];
            fmt_value(k, preset, v, sizeof v);
            snprintf(def, sizeof def, "`%s`", v);
        } else if (k->flags & F_REQUIRED)
            snprintf(def, sizeof def, "required");
        else
            def[0] = 0;
        fmt_bounds(k, bounds, sizeof bounds);
        fprintf(out, "| `%s%s` | %s | %s | %s | %s |\n", k->scope == S_BACKEND ? "backends[]." : "",
                k->name, type_doc(k, tb, sizeof tb), def, bounds, k->desc);
    }
    fputs("\nEvery `backends[].KEY` may also be written as `defaults.KEY`.\n", out);
    free(preset);
}
