/*
 * fakefleet.c - cpgo-fakefleet: many fake Go profile endpoints on loopback, each with a
 * behaviour, for cpgo's integration tests and benchmarks.
 *
 *   cpgo-fakefleet --profile FILE [--count N] [--base-port P] [--port-file FILE]
 *                  [--behaviour B | --mix B=W,...] [--delay-ms MS] [--stats FILE]
 *                  [--trickle-ms MS] [--huge-bytes SIZE] [--bomb-bytes SIZE] [--duration S]
 *
 * Each endpoint is one listener on 127.0.0.1 that answers GET /debug/pprof/profile?seconds=S
 * the way its behaviour says (a real profile after the window, or one of the failure modes
 * of reliability.md's S section: hang, reset, trickle, huge, gzip bomb, HTML, 404, busy,
 * 400, short body, slow headers, a chunked body that never ends). It exists so cpgo's scraper can
 * be tested against thousands of misbehaving backends without thousands of Go processes, and so
 * tests can check exactly-once accounting: --stats counts, per endpoint, the requests seen and the
 * responses whose whole body reached the socket.
 *
 * It uses the project's own stack (libuv, strict llhttp) in one thread. Nothing CPU-heavy
 * runs on the loop: the only expensive step, compressing the gzip bomb, happens once at
 * startup before the loop runs; bodies are sent from memory shared by all connections
 * (the profile file, the bomb, one zero chunk), never copied per response.
 *
 * Like Go's net/http/pprof, an endpoint runs one CPU profile at a time: while a profile
 * request is in progress (from its start to its last byte, or until its client goes away),
 * a second one gets 500 "cpu profiling already in use". A client that disconnects during
 * the window ends its profile, as the request context does in Go.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#define ZLIB_CONST
#include <jansson.h>
#include <llhttp.h>
#include <uv.h>
#include <zlib.h>

#include "base/buf.h"
#include "base/duration.h"
#include "base/err.h"

#define PROG "cpgo-fakefleet"

/* Request bounds: a URL longer than URL_MAX gets 414, more than HEADERS_MAX bytes of URL
 * and header lines get 431, a body beyond BODY_MAX gets 413; each then closes. */
#define URL_MAX 4096
#define HEADERS_MAX (16 * 1024)
#define HOST_MAX 255 /* a Host header kept for the stats (a DNS name and a port fit) */
#define BODY_MAX (16 * 1024)
/* Bytes a client may send (pipelined requests) while a response is in progress. */
#define PENDING_MAX (64 * 1024)
/* huge: chunk size and the most chunks queued on one connection (backpressure). */
#define CHUNK (64 * 1024)
#define MAX_QUEUED_CHUNKS 4
#define PROFILE_MAX (256u << 20)
#define STATS_EVERY_MS 100
#define MAX_ENDPOINTS 65535
#define PROFILE_PATH "/debug/pprof/profile"

enum behaviour {
    B_NORMAL,
    B_HANG,
    B_RESET,
    B_TRICKLE,
    B_HUGE,
    B_BOMB,
    B_HTML,
    B_NOTFOUND,
    B_BUSY,
    B_BADREQUEST,
    B_SHORT,
    B_SLOWHEADERS,
    B_ENDLESS,
    B_COUNT
};

static const char *const beh_names[B_COUNT] = {
    "normal",   "hang", "reset",      "trickle", "huge",        "bomb",    "html",
    "notfound", "busy", "badrequest", "short",   "slowheaders", "endless",
};

static const char BUSY_BODY[] = "Could not enable CPU profiling: cpu profiling already in use\n";
static const char BADREQ_BODY[] = "profile duration exceeds server's WriteTimeout\n";
static const char NOTFOUND_BODY[] = "404 page not found\n";
static const char HTML_BODY[] =
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
    "<body><h1>Sign in to continue</h1>\n"
    "<form method=\"post\" action=\"/login\"><input name=\"user\">"
    "<input name=\"password\" type=\"password\"><button>Sign in</button></form>\n"
    "</body></html>\n";
static const unsigned char ZERO_CHUNK[CHUNK];

/* --profile may be given this many times; endpoint i serves profile i mod n */
#define MAX_PROFILES 64

struct options {
    const char *profile[MAX_PROFILES];
    size_t nprofile;
    const char *port_file;
    const char *stats;
    unsigned long count;
    unsigned long base_port; /* 0: ephemeral ports */
    long long delay_ms;      /* < 0: the request's seconds */
    unsigned long long trickle_ms;
    uint64_t huge_bytes;
    uint64_t bomb_bytes;
    unsigned long long duration_s; /* 0: no bound */
    unsigned weights[B_COUNT];
};

struct fleet;

struct endpoint {
    uv_tcp_t tcp; /* the listener; tcp.data points here */
    struct fleet *fleet;
    unsigned port;
    enum behaviour beh;
    const struct cpgo_buf *profile; /* the body of a normal answer */
    int listening;
    int profiling; /* a profile request holds this endpoint's profiler */
    uint64_t requests, completed, ok, busy;
    char host[HOST_MAX + 1]; /* the Host header of the last request counted ("" = none) */
};

/* What a connection is doing with its current request. */
enum phase {
    PH_IDLE,    /* reading a request */
    PH_WINDOW,  /* timer: the profile window before the answer */
    PH_HANG,    /* never answers */
    PH_SEND,    /* writes queued; done when they complete */
    PH_HUGE,    /* streaming zero chunks, at most MAX_QUEUED_CHUNKS queued */
    PH_TRICKLE, /* timer: one body byte per tick */
};

/* What happens when the response's writes complete. */
enum finish {
    FIN_KEEP,  /* a complete response: next request, or close if the client asked */
    FIN_CLOSE, /* deliberately incomplete (short): shut down and close */
    FIN_RESET, /* deliberately incomplete (reset): RST */
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    llhttp_t parser;
    struct endpoint *ep;
    struct conn *prev, *next;
    int handles; /* open libuv handles; freed when it reaches 0 */
    int closing, shutting;
    /* the request being parsed */
    char url[URL_MAX + 1];
    size_t url_len;
    size_t header_bytes, body_bytes;
    /* the Host header: tests check which name a scraper sent (it may connect by address) */
    char field[8]; /* the header name being read, as far as "host" needs */
    size_t field_len;
    int in_host; /* the value being read is Host's */
    char host[HOST_MAX + 1];
    size_t host_len;
    int reject; /* 413, 414, 431: set by a parser callback, answered then close */
    int method, keep_alive, http_minor, upgrade;
    struct cpgo_buf pending; /* bytes read while a response is in progress */
    /* the response */
    enum phase phase;
    enum finish finish;
    int active;      /* a request is being answered (the parser is paused) */
    int counted;     /* the request is counted in the stats */
    int holds;       /* this connection holds ep->profiling */
    int close_after; /* close once this response is written */
    int status;
    unsigned seconds;
    int writes; /* outstanding uv_write requests */
    uint64_t stream_left, stream_off;
    int endless; /* stream_left is not counted down: chunks until the client goes */
    char head[512];
};

struct wreq {
    uv_write_t req;
    struct conn *c;
};

struct fleet {
    uv_loop_t loop;
    struct options opt;
    llhttp_settings_t settings;
    struct endpoint *eps;
    size_t neps;
    struct conn *conns; /* all open connections, for shutdown */
    struct cpgo_buf profile[MAX_PROFILES];
    struct cpgo_buf bomb;
    uv_signal_t sigterm, sigint;
    uv_timer_t stats_timer, duration_timer;
    int stopping;
    int stats_dirty;
    unsigned stats_failed;
    uint64_t requests, completed, ok, busy, accepted, accept_errors, connections;
    uint64_t peak_connections; /* the most open at once: the client's concurrency */
    int exit_code;
};

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- command line ------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: " PROG " --profile FILE... [--count N] [--base-port P] [--port-file FILE]\n"
            "       [--behaviour B | --mix B=W,B=W,...] [--delay-ms MS] [--stats FILE]\n"
            "       [--trickle-ms MS] [--huge-bytes SIZE] [--bomb-bytes SIZE] [--duration S]\n"
            "behaviours: normal hang reset trickle huge bomb html notfound busy badrequest\n"
            "            short slowheaders endless\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    usage();
    return 2;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return -1;
    *out = v;
    return 0;
}

static int beh_lookup(const char *name, size_t len)
{
    for (int b = 0; b < B_COUNT; b++)
        if (strlen(beh_names[b]) == len && !memcmp(beh_names[b], name, len)) return b;
    return -1;
}

static int parse_mix(const char *s, unsigned weights[B_COUNT])
{
    memset(weights, 0, B_COUNT * sizeof weights[0]);
    int seen[B_COUNT] = {0};
    unsigned long long total = 0;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        if (!eq) return usage_error("--mix: '%.*s' is not BEHAVIOUR=WEIGHT", (int)len, s);
        int b = beh_lookup(s, (size_t)(eq - s));
        if (b < 0) return usage_error("--mix: unknown behaviour '%.*s'", (int)(eq - s), s);
        if (seen[b]) return usage_error("--mix: behaviour %s given twice", beh_names[b]);
        char num[24];
        size_t nlen = len - (size_t)(eq + 1 - s);
        unsigned long long w;
        if (nlen == 0 || nlen >= sizeof num)
            return usage_error("--mix: bad weight for %s", beh_names[b]);
        memcpy(num, eq + 1, nlen);
        num[nlen] = 0;
        if (parse_uint(num, 1000000, &w)) return usage_error("--mix: bad weight '%s'", num);
        seen[b] = 1;
        weights[b] = (unsigned)w;
        total += w;
        s += len;
        if (*s == ',') s++;
    }
    if (total == 0) return usage_error("--mix: the weights add up to 0");
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->count = 1;
    o->delay_ms = -1;
    o->trickle_ms = 1000;
    o->huge_bytes = 512ull << 20;
    o->bomb_bytes = 1ull << 30;
    o->duration_s = 600;
    o->weights[B_NORMAL] = 1;
    int have_beh = 0, have_mix = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char name[32];
        const char *v;
        /* --opt VALUE and --opt=VALUE */
        const char *eq = strchr(a, '=');
        if (eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                usage();
                exit(0);
            }
            if (i + 1 >= argc) return usage_error("%s needs a value (or is unknown)", a);
            v = argv[++i];
        }
        unsigned long long n;
        struct cpgo_err err;
        if (!strcmp(name, "--profile")) {
            if (o->nprofile == MAX_PROFILES)
                return usage_error("--profile: at most %d files", MAX_PROFILES);
            o->profile[o->nprofile++] = v;
        } else if (!strcmp(name, "--port-file")) {
            o->port_file = v;
        } else if (!strcmp(name, "--stats")) {
            o->stats = v;
        } else if (!strcmp(name, "--count")) {
            if (parse_uint(v, MAX_ENDPOINTS, &n) || n == 0)
                return usage_error("--count: '%s' is not 1..%d", v, MAX_ENDPOINTS);
            o->count = (unsigned long)n;
        } else if (!strcmp(name, "--base-port")) {
            if (parse_uint(v, 65535, &n) || n == 0)
                return usage_error("--base-port: '%s' is not 1..65535", v);
            o->base_port = (unsigned long)n;
        } else if (!strcmp(name, "--behaviour") || !strcmp(name, "--behavior")) {
            int b = beh_lookup(v, strlen(v));
            if (b < 0) return usage_error("unknown behaviour '%s'", v);
            memset(o->weights, 0, sizeof o->weights);
            o->weights[b] = 1;
            have_beh = 1;
        } else if (!strcmp(name, "--mix")) {
            int rc = parse_mix(v, o->weights);
            if (rc) return rc;
            have_mix = 1;
        } else if (!strcmp(name, "--delay-ms")) {
            if (parse_uint(v, 86400000ull * 365, &n)) return usage_error("--delay-ms: bad '%s'", v);
            o->delay_ms = (long long)n;
        } else if (!strcmp(name, "--trickle-ms")) {
            if (parse_uint(v, 3600000, &n) || n == 0)
                return usage_error("--trickle-ms: '%s' is not 1..3600000", v);
            o->trickle_ms = n;
        } else if (!strcmp(name, "--huge-bytes")) {
            if (cpgo_size_parse(v, &o->huge_bytes, &err))
                return usage_error("--huge-bytes: %s", err.text);
        } else if (!strcmp(name, "--bomb-bytes")) {
            if (cpgo_size_parse(v, &o->bomb_bytes, &err))
                return usage_error("--bomb-bytes: %s", err.text);
            /* the compression runs once at startup, about 1 s per GiB */
            if (o->bomb_bytes > (16ull << 30)) return usage_error("--bomb-bytes: at most 16GiB");
        } else if (!strcmp(name, "--duration")) {
            if (parse_uint(v, 86400ull * 365, &n)) return usage_error("--duration: bad '%s'", v);
            o->duration_s = n;
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }
    if (have_beh && have_mix) return usage_error("--behaviour and --mix exclude each other");
    if (!o->nprofile) return usage_error("--profile FILE is required");
    if (!o->base_port && !o->port_file)
        return usage_error("give --base-port P or --port-file FILE");
    if (o->base_port && o->base_port + o->count - 1 > 65535)
        return usage_error("--base-port %lu + --count %lu goes past port 65535", o->base_port,
                           o->count);
    return 0;
}

/*
 * Smooth weighted round-robin (nginx's): each index adds every weight to its behaviour's
 * credit and picks the largest, which then pays the total. Deterministic, and spreads each
 * behaviour evenly over the indexes (N = sum of weights gives exactly W of each).
 */
static void free_profiles(struct fleet *f)
{
    for (size_t i = 0; i < MAX_PROFILES; i++)
        cpgo_buf_free(&f->profile[i]);
}

/* Behaviours by weight, and each endpoint's profile: i mod the number given. */
static void assign_behaviours(struct fleet *f)
{
    long long credit[B_COUNT] = {0}, total = 0;
    for (int b = 0; b < B_COUNT; b++)
        total += f->opt.weights[b];
    for (size_t i = 0; i < f->neps; i++) {
        int best = -1;
        for (int b = 0; b < B_COUNT; b++) {
            if (!f->opt.weights[b]) continue;
            credit[b] += f->opt.weights[b];
            if (best < 0 || credit[b] > credit[best]) best = b;
        }
        credit[best] -= total;
        f->eps[i].profile = &f->profile[i % f->opt.nprofile];
        f->eps[i].beh = (enum behaviour)best;
    }
}

/* ---- startup helpers ---------------------------------------------------------------- */

static int read_profile(const char *path, struct cpgo_buf *out)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        logmsg("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    cpgo_buf_init(out, PROFILE_MAX);
    int rc = 0;
    for (;;) {
        if (cpgo_buf_reserve(out, 64 * 1024)) {
            logmsg("%s: larger than %u bytes", path, PROFILE_MAX);
            rc = -1;
            break;
        }
        size_t n = fread(out->data + out->len, 1, out->cap - out->len, fp);
        out->len += n;
        if (n == 0) {
            if (ferror(fp)) {
                logmsg("%s: read error", path);
                rc = -1;
            }
            break;
        }
    }
    fclose(fp);
    if (!rc && out->len == 0) {
        logmsg("%s: empty profile file", path);
        rc = -1;
    }
    return rc;
}

/* Raw-deflates `zeros` zero bytes from a fresh stream, fed in CHUNK pieces (never
 * materialised), ending with `flush`, and appends the output to out. */
static int deflate_zeros(uint64_t zeros, int flush_at_end, struct cpgo_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* Z_RLE: distance-1 matches are all a run of zeros needs; same ratio as level 9, faster */
    if (deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 9, Z_RLE) != Z_OK) return -1;
    unsigned char tmp[CHUNK];
    uint64_t left = zeros;
    int flush, rc = 0;
    do {
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        left -= n;
        flush = left ? Z_NO_FLUSH : flush_at_end;
        zs.next_in = ZERO_CHUNK;
        zs.avail_in = (uInt)n;
        do {
            zs.next_out = tmp;
            zs.avail_out = sizeof tmp;
            if (deflate(&zs, flush) == Z_STREAM_ERROR) rc = -1;
            if (!rc && cpgo_buf_append(out, tmp, sizeof tmp - zs.avail_out)) rc = -1;
        } while (!rc && zs.avail_out == 0);
    } while (!rc && left);
    deflateEnd(&zs);
    return rc;
}

static int put_le32(struct cpgo_buf *out, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return cpgo_buf_append(out, b, 4);
}

/*
 * The gzip bomb: a gzip member of `zeros` zero bytes, about 1032:1 (deflate's limit), so
 * 1 GiB -> about 1 MiB, built once before the loop starts. Compressing 1 GiB outright
 * costs seconds (6 s at level 9), so zlib compresses one BOMB_SEG segment, ended by a full
 * flush (byte-aligned, no reference to earlier data), and the member repeats that segment:
 * a decoder sees an ordinary stream of non-final blocks. The remainder is compressed with
 * Z_FINISH (the final block); the CRC of the zeros comes from crc32_combine.
 */
#define BOMB_SEG (8u << 20)
static int make_bomb(uint64_t zeros, struct cpgo_buf *out)
{
    static const unsigned char gzip_head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3};
    struct cpgo_buf seg;
    cpgo_buf_init(out, 0);
    cpgo_buf_init(&seg, 0);
    uint64_t nseg = zeros / BOMB_SEG, rest = zeros % BOMB_SEG;
    int rc = cpgo_buf_append(out, gzip_head, sizeof gzip_head);
    if (!rc && nseg) rc = deflate_zeros(BOMB_SEG, Z_FULL_FLUSH, &seg);
    uLong crc = crc32(0, NULL, 0);
    if (!rc && nseg) {
        uLong seg_crc = crc32(0, NULL, 0);
        for (size_t i = 0; i < BOMB_SEG / CHUNK; i++)
            seg_crc = crc32(seg_crc, ZERO_CHUNK, CHUNK);
        for (uint64_t i = 0; !rc && i < nseg; i++) {
            rc = cpgo_buf_append(out, seg.data, seg.len);
            crc = crc32_combine(crc, seg_crc, BOMB_SEG);
        }
    }
    if (!rc) rc = deflate_zeros(rest, Z_FINISH, out);
    if (!rc) {
        uLong rest_crc = crc32(0, NULL, 0);
        for (uint64_t left = rest; left;) {
            size_t n = left < CHUNK ? (size_t)left : CHUNK;
            rest_crc = crc32(rest_crc, ZERO_CHUNK, (uInt)n);
            left -= n;
        }
        crc = crc32_combine(crc, rest_crc, (z_off_t)rest);
        rc = put_le32(out, (uint32_t)crc);
    }
    if (!rc) rc = put_le32(out, (uint32_t)zeros); /* ISIZE: the size modulo 2^32 */
    cpgo_buf_free(&seg);
    return rc;
}

/* Writes path atomically: the content goes to a temporary file beside it, then rename().
 * Failures are reported on stderr when `report` is set. */
static int write_atomic(const char *path, int (*fill)(FILE *, void *), void *arg, int report)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        if (report) logmsg("%s: path too long", path);
        return -1;
    }
    FILE *fp = fopen(tmp, "w");
    if (!fp) {
        if (report) logmsg("%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    int rc = fill(fp, arg);
    if (fclose(fp)) rc = -1;
    if (!rc && rename(tmp, path)) rc = -1;
    if (rc) {
        if (report) logmsg("%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

static int fill_ports(FILE *fp, void *arg)
{
    struct fleet *f = arg;
    for (size_t i = 0; i < f->neps; i++)
        if (fprintf(fp, "%u %s\n", f->eps[i].port, beh_names[f->eps[i].beh]) < 0) return -1;
    return 0;
}

static int fill_stats(FILE *fp, void *arg)
{
    struct fleet *f = arg;
    json_t *eps = json_array();
    for (size_t i = 0; i < f->neps; i++) {
        struct endpoint *e = &f->eps[i];
        json_array_append_new(eps, json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:s}", "port",
                                             (int)e->port, "behaviour", beh_names[e->beh],
                                             "requests", (json_int_t)e->requests, "completed",
                                             (json_int_t)e->completed, "ok", (json_int_t)e->ok,
                                             "busy", (json_int_t)e->busy, "host", e->host));
    }
    json_t *root = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "requests",
                             (json_int_t)f->requests, "completed", (json_int_t)f->completed, "ok",
                             (json_int_t)f->ok, "busy", (json_int_t)f->busy, "accepted",
                             (json_int_t)f->accepted, "connections", (json_int_t)f->connections,
                             "peak_connections", (json_int_t)f->peak_connections, "accept_errors",
                             (json_int_t)f->accept_errors, "endpoints", eps);
    int rc = root ? json_dumpf(root, fp, JSON_COMPACT) : -1;
    if (!rc && fputc('\n', fp) == EOF) rc = -1;
    json_decref(root);
    return rc;
}

static void write_stats(struct fleet *f)
{
    if (!f->opt.stats) return;
    f->stats_dirty = 0;
    /* retried at the next change; the reason is reported once, not every 100 ms */
    if (write_atomic(f->opt.stats, fill_stats, f, !f->stats_failed)) f->stats_failed = 1;
}

/*
 * Each endpoint is a listening socket and each scrape a connection, so the fd limit must
 * exceed the fleet: raise the soft limit to the hard one. A hard limit of "unlimited"
 * cannot be the soft one on Linux (nr_open caps it), so fall back to a large finite value.
 */
static rlim_t raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return 0;
    if (rl.rlim_cur != rl.rlim_max) {
        struct rlimit want = rl;
        want.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) return want.rlim_cur;
        want.rlim_cur = rl.rlim_max < (1u << 20) ? rl.rlim_max : (1u << 20);
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) return want.rlim_cur;
    }
    return rl.rlim_cur;
}

/* ---- connections -------------------------------------------------------------------- */

static void mark(struct fleet *f)
{
    f->stats_dirty = 1;
}

static void release_profiler(struct conn *c)
{
    if (c->holds) {
        c->holds = 0;
        c->ep->profiling = 0;
    }
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles > 0) return;
    struct fleet *f = c->ep->fleet;
    if (c->prev)
        c->prev->next = c->next;
    else
        f->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    f->connections--;
    mark(f);
    cpgo_buf_free(&c->pending);
    free(c);
}

/* Closes now (pending writes are cancelled); reset sends RST instead of FIN. */
static void conn_close(struct conn *c, int reset)
{
    if (c->closing) return;
    c->closing = 1;
    release_profiler(c);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    if (!reset || c->shutting || uv_tcp_close_reset(&c->tcp, on_conn_handle_closed) != 0)
        uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn_close(req->data, 0);
}

/* Closes after what was written has left (FIN after the last byte). */
static void conn_close_gracefully(struct conn *c)
{
    if (c->closing || c->shutting) return;
    c->shutting = 1;
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown)) conn_close(c, 0);
}

static void on_write(uv_write_t *req, int status);

/* Queues up to two buffers as one write. On failure the connection is closed: -1. */
static int conn_write(struct conn *c, const void *a, size_t alen, const void *b, size_t blen)
{
    struct wreq *w = malloc(sizeof *w);
    if (!w) {
        conn_close(c, 0);
        return -1;
    }
    w->c = c;
    uv_buf_t bufs[2] = {uv_buf_init((char *)a, (unsigned)alen),
                        uv_buf_init((char *)b, (unsigned)blen)};
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, blen ? 2 : 1, on_write);
    if (rc) {
        free(w);
        conn_close(c, 0);
        return -1;
    }
    c->writes++;
    return 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Request Entity Too Large";
    case 414:
        return "Request URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    default:
        return "Unknown";
    }
}

/* Formats the status line and headers into c->head (which lives until the writes finish). */
static size_t format_head(struct conn *c, int status, const char *ctype, const char *extra,
                          uint64_t content_length)
{
    const char *conn_hdr = "";
    if (c->close_after)
        conn_hdr = "Connection: close\r\n";
    else if (c->http_minor == 0)
        conn_hdr = "Connection: keep-alive\r\n";
    c->status = status;
    int n =
        snprintf(c->head, sizeof c->head,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sContent-Length: %" PRIu64 "\r\n%s\r\n",
                 status, reason(status), ctype, extra ? extra : "", content_length, conn_hdr);
    return n > 0 && (size_t)n < sizeof c->head ? (size_t)n : 0;
}

/* A complete response in one write: headers and a body from static or shared memory. */
static void send_whole(struct conn *c, int status, const char *ctype, const char *extra,
                       const void *body, size_t len)
{
    size_t hl = format_head(c, status, ctype, extra, len);
    c->phase = PH_SEND;
    c->finish = FIN_KEEP;
    c->stream_left = 0;
    conn_write(c, c->head, hl, body, len);
}

static void send_text(struct conn *c, int status, const char *extra, const char *body)
{
    send_whole(c, status, "text/plain; charset=utf-8",
               extra ? extra : "X-Content-Type-Options: nosniff\r\n", body, strlen(body));
}

#define PPROF_ERR_HDRS "X-Content-Type-Options: nosniff\r\nX-Go-Pprof: 1\r\n"
#define PROFILE_HDRS "Content-Disposition: attachment; filename=\"profile\"\r\n"

static void send_busy(struct conn *c)
{
    struct fleet *f = c->ep->fleet;
    c->ep->busy++;
    f->busy++;
    mark(f);
    send_text(c, 500, PPROF_ERR_HDRS, BUSY_BODY);
}

/* Rejected before a request was complete (parse error or a bound): answer, then close. */
static void send_reject(struct conn *c, int status)
{
    c->active = 1;
    c->close_after = 1;
    /* the body is the reason phrase: static, so it outlives the write */
    size_t hl = format_head(c, status, "text/plain; charset=utf-8", NULL, strlen(reason(status)));
    c->phase = PH_SEND;
    c->finish = FIN_KEEP;
    conn_write(c, c->head, hl, reason(status), strlen(reason(status)));
}

static void on_timer(uv_timer_t *t);

/* endless: one chunk of the chunked encoding, "10000\r\n" + 64 KiB of zeros + "\r\n" */
static unsigned char endless_chunk[7 + CHUNK + 2];

static void pump_huge(struct conn *c)
{
    while (!c->closing && c->endless && c->writes < MAX_QUEUED_CHUNKS) {
        if (!endless_chunk[0]) {
            memcpy(endless_chunk, "10000\r\n", 7);
            memcpy(endless_chunk + 7 + CHUNK, "\r\n", 2);
        }
        if (conn_write(c, endless_chunk, sizeof endless_chunk, NULL, 0)) return;
    }
    while (!c->closing && c->stream_left && c->writes < MAX_QUEUED_CHUNKS) {
        size_t n = c->stream_left < CHUNK ? (size_t)c->stream_left : CHUNK;
        c->stream_left -= n;
        if (conn_write(c, ZERO_CHUNK, n, NULL, 0)) return;
    }
}

static void trickle_tick(struct conn *c)
{
    if (c->writes || !c->stream_left) return; /* the client is not reading: wait */
    const unsigned char *p = c->ep->profile->data + c->stream_off;
    c->stream_off++;
    if (--c->stream_left == 0) uv_timer_stop(&c->timer);
    conn_write(c, p, 1, NULL, 0);
}

/* The profile window is over: send the behaviour's answer. */
static void answer(struct conn *c)
{
    struct fleet *f = c->ep->fleet;
    const unsigned char *prof = c->ep->profile->data;
    size_t plen = c->ep->profile->len;
    size_t hl;
    c->stream_left = 0;
    c->endless = 0;
    c->finish = FIN_KEEP;
    switch (c->ep->beh) {
    case B_RESET:
        /* the full length is announced, half the body sent, then RST */
        hl = format_head(c, 200, "application/octet-stream", PROFILE_HDRS, plen);
        c->phase = PH_SEND;
        c->finish = FIN_RESET;
        conn_write(c, c->head, hl, prof, plen / 2);
        break;
    case B_SHORT:
        /* announces 1000 bytes more than it sends, then closes */
        hl = format_head(c, 200, "application/octet-stream", PROFILE_HDRS, plen + 1000);
        c->phase = PH_SEND;
        c->finish = FIN_CLOSE;
        conn_write(c, c->head, hl, prof, plen);
        break;
    case B_TRICKLE:
        hl = format_head(c, 200, "application/octet-stream", PROFILE_HDRS, plen);
        c->phase = PH_TRICKLE;
        c->stream_left = plen;
        c->stream_off = 0;
        if (conn_write(c, c->head, hl, NULL, 0)) return;
        uv_timer_start(&c->timer, on_timer, f->opt.trickle_ms, f->opt.trickle_ms);
        break;
    case B_HUGE:
        hl = format_head(c, 200, "application/octet-stream", PROFILE_HDRS, f->opt.huge_bytes);
        c->phase = PH_HUGE;
        c->stream_left = f->opt.huge_bytes;
        if (conn_write(c, c->head, hl, NULL, 0)) return;
        pump_huge(c);
        break;
    case B_ENDLESS: {
        int n =
            snprintf(c->head, sizeof c->head,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n" PROFILE_HDRS
                     "Transfer-Encoding: chunked\r\n%s\r\n",
                     c->close_after ? "Connection: close\r\n" : "");
        c->status = 200;
        c->phase = PH_HUGE;
        c->stream_left = 1; /* never reaches 0: the response is never done */
        c->endless = 1;
        if (conn_write(c, c->head, (size_t)n, NULL, 0)) return;
        pump_huge(c);
        break;
    }
    case B_BOMB:
        send_whole(c, 200, "application/octet-stream", PROFILE_HDRS, f->bomb.data, f->bomb.len);
        break;
    default: /* normal, slowheaders */
        send_whole(c, 200, "application/octet-stream", PROFILE_HDRS, prof, plen);
        break;
    }
}

static void process_pending(struct conn *c);

/* All writes of a response have completed: count it, then the next request or close. */
static void response_done(struct conn *c)
{
    struct fleet *f = c->ep->fleet;
    if (c->finish == FIN_KEEP && c->counted) {
        c->ep->completed++;
        f->completed++;
        if (c->status == 200) {
            c->ep->ok++;
            f->ok++;
        }
        mark(f);
    }
    release_profiler(c);
    c->phase = PH_IDLE;
    if (c->finish == FIN_RESET) {
        conn_close(c, 1);
        return;
    }
    if (c->finish == FIN_CLOSE || c->close_after) {
        conn_close_gracefully(c);
        return;
    }
    c->active = 0;
    c->counted = 0;
    llhttp_resume(&c->parser);
    process_pending(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = w->c;
    free(w);
    c->writes--;
    if (c->closing) return; /* cancelled by a close (status UV_ECANCELED) */
    if (status < 0) {
        conn_close(c, 0);
        return;
    }
    if (c->phase == PH_HUGE) pump_huge(c);
    if (c->closing) return;
    if ((c->phase == PH_SEND || c->phase == PH_HUGE || c->phase == PH_TRICKLE) && !c->stream_left &&
        !c->writes)
        response_done(c);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->closing) return;
    if (c->phase == PH_WINDOW)
        answer(c);
    else if (c->phase == PH_TRICKLE)
        trickle_tick(c);
}

/* Go's pprof handler: strconv.ParseInt(r.FormValue("seconds")); an error or <= 0 means 30.
 * Only the first "seconds" counts, as FormValue returns the first value. */
static unsigned parse_seconds(const char *q)
{
    while (q && *q) {
        size_t len = strcspn(q, "&");
        if (len >= 7 && !memcmp(q, "seconds", 7) && (len == 7 || q[7] == '=')) {
            const char *v = len > 7 ? q + 8 : q + len;
            const char *end = q + len;
            int neg = 0;
            if (v < end && (*v == '+' || *v == '-')) neg = *v++ == '-';
            if (v == end) return 30;
            unsigned long long s = 0;
            for (; v < end; v++) {
                if (*v < '0' || *v > '9') return 30;
                if (s < 1000000000ull) s = s * 10 + (unsigned)(*v - '0');
            }
            if (neg || s == 0) return 30;
            /* a bound that keeps s * 1000 ms far from overflow (about 31 years) */
            return s > 1000000000ull ? 1000000000u : (unsigned)s;
        }
        q += len;
        if (*q == '&') q++;
    }
    return 30;
}

/* A whole request has been parsed (the parser is paused on it): answer it. */
static void dispatch(struct conn *c)
{
    struct endpoint *ep = c->ep;
    struct fleet *f = ep->fleet;
    c->active = 1;
    c->counted = 1;
    ep->requests++;
    f->requests++;
    c->host[c->host_len] = 0;
    memcpy(ep->host, c->host, c->host_len + 1);
    mark(f);
    c->close_after = !c->keep_alive || c->upgrade;
    c->url[c->url_len] = 0;
    size_t plen = strcspn(c->url, "?");
    if (plen != strlen(PROFILE_PATH) || memcmp(c->url, PROFILE_PATH, plen)) {
        send_text(c, 404, NULL, NOTFOUND_BODY);
        return;
    }
    if (c->method != HTTP_GET) {
        send_text(c, 405, "Allow: GET\r\nX-Content-Type-Options: nosniff\r\n",
                  "Method Not Allowed\n");
        return;
    }
    c->seconds = parse_seconds(c->url[plen] ? c->url + plen + 1 : NULL);
    switch (ep->beh) {
    case B_HTML:
        send_whole(c, 200, "text/html; charset=utf-8", NULL, HTML_BODY, strlen(HTML_BODY));
        return;
    case B_NOTFOUND:
        send_text(c, 404, NULL, NOTFOUND_BODY);
        return;
    case B_BUSY:
        send_busy(c);
        return;
    case B_BADREQUEST:
        send_text(c, 400, PPROF_ERR_HDRS, BADREQ_BODY);
        return;
    default:
        break;
    }
    /* The other behaviours stand for a CPU profile in progress, and so hold the endpoint's
     * profiler: a concurrent request gets "already in use", as from Go. */
    if (ep->profiling) {
        send_busy(c);
        return;
    }
    ep->profiling = 1;
    c->holds = 1;
    if (ep->beh == B_HANG) {
        c->phase = PH_HANG;
        return;
    }
    /* the profile window: Go sends nothing, not even headers, until it ends */
    uint64_t ms = (uint64_t)c->seconds * 1000;
    if (ep->beh == B_SLOWHEADERS)
        ms += 5000;
    else if (f->opt.delay_ms >= 0)
        ms = (uint64_t)f->opt.delay_ms;
    c->phase = PH_WINDOW;
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Parses data; a complete request pauses the parser and is dispatched, the bytes after it
 * wait in c->pending until the response is done. */
static void feed(struct conn *c, const char *data, size_t len)
{
    int from_pending = c->pending.data && data == (const char *)c->pending.data;
    llhttp_errno_t e = llhttp_execute(&c->parser, data, len);
    if (e == HPE_OK) {
        if (from_pending) c->pending.len = 0;
        return;
    }
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
        const char *pos = llhttp_get_error_pos(&c->parser);
        size_t used = pos && pos >= data && pos <= data + len ? (size_t)(pos - data) : len;
        size_t rest = len - used;
        if (from_pending) {
            memmove(c->pending.data, data + used, rest);
            c->pending.len = rest;
        } else if (rest && cpgo_buf_append(&c->pending, data + used, rest)) {
            conn_close(c, 0);
            return;
        }
        if (e == HPE_PAUSED_UPGRADE) c->upgrade = 1;
        dispatch(c);
        return;
    }
    if (from_pending) c->pending.len = 0;
    send_reject(c, c->reject ? c->reject : 400);
}

static void process_pending(struct conn *c)
{
    if (c->pending.len) feed(c, (const char *)c->pending.data, c->pending.len);
}

/* ---- llhttp callbacks (strict parser: no lenient flag is enabled) ------------------- */

static int on_message_begin(llhttp_t *p)
{
    struct conn *c = p->data;
    c->url_len = 0;
    c->header_bytes = 0;
    c->body_bytes = 0;
    c->reject = 0;
    c->upgrade = 0;
    c->field_len = 0;
    c->in_host = 0;
    c->host_len = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    c->header_bytes += len;
    if (c->url_len + len > URL_MAX) {
        c->reject = 414;
        return -1;
    }
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    return 0;
}

static int on_header_bytes(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    c->header_bytes += len;
    if (c->header_bytes > HEADERS_MAX) {
        c->reject = 431;
        return -1;
    }
    return 0;
}

/* A header name may come in pieces: kept up to sizeof field, compared when complete. */
static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    for (size_t i = 0; i < len && c->field_len < sizeof c->field; i++)
        c->field[c->field_len++] = at[i]; /* a longer name stays longer than "host" */
    return on_header_bytes(p, at, len);
}

static int on_header_field_complete(llhttp_t *p)
{
    struct conn *c = p->data;
    c->in_host = c->field_len == 4 && !strncasecmp(c->field, "host", 4);
    c->field_len = 0;
    if (c->in_host) c->host_len = 0; /* the last Host header wins */
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (c->in_host) {
        size_t room = HOST_MAX - c->host_len;
        size_t n = len < room ? len : room;
        for (size_t i = 0; i < n; i++) /* printable ASCII only: the stats are JSON */
            c->host[c->host_len++] = at[i] > 0x20 && at[i] < 0x7f ? at[i] : '?';
    }
    return on_header_bytes(p, at, len);
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    c->body_bytes += len;
    if (c->body_bytes > BODY_MAX) {
        c->reject = 413;
        return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct conn *c = p->data;
    c->method = llhttp_get_method(p);
    c->keep_alive = llhttp_should_keep_alive(p);
    c->http_minor = llhttp_get_http_major(p) == 1 ? llhttp_get_http_minor(p) : 0;
    c->upgrade = llhttp_get_upgrade(p);
    return HPE_PAUSED; /* one request at a time: resumed when its response is done */
}

/* ---- libuv callbacks ---------------------------------------------------------------- */

/* Reads are consumed before the next one starts (one thread), so one buffer serves all. */
static char read_buf[CHUNK];

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (c->closing) return;
    if (n < 0) {
        /* EOF or error: the client is gone, which ends its profile as in Go */
        conn_close(c, 0);
        return;
    }
    if (n == 0 || c->shutting) return;
    if (c->active) {
        /* hang reads and ignores, so a close is still seen; so does a connection that ends
         * with this response, whose later requests would never be parsed */
        if (c->phase == PH_HANG || c->close_after) return;
        if (cpgo_buf_append(&c->pending, buf->base, (size_t)n)) conn_close(c, 0);
        return;
    }
    feed(c, buf->base, (size_t)n);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct endpoint *ep = server->data;
    struct fleet *f = ep->fleet;
    if (status < 0) {
        if (f->accept_errors++ == 0) logmsg("accept on port %u: %s", ep->port, uv_strerror(status));
        mark(f);
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        f->accept_errors++;
        return;
    }
    c->ep = ep;
    cpgo_buf_init(&c->pending, PENDING_MAX);
    uv_tcp_init(&f->loop, &c->tcp);
    uv_timer_init(&f->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    c->next = f->conns;
    if (f->conns) f->conns->prev = c;
    f->conns = c;
    f->connections++;
    if (f->connections > f->peak_connections) f->peak_connections = f->connections;
    mark(f);
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc) {
        if (f->accept_errors++ == 0) logmsg("accept on port %u: %s", ep->port, uv_strerror(rc));
        conn_close(c, 0);
        return;
    }
    f->accepted++;
    uv_tcp_nodelay(&c->tcp, 1); /* as Go does */
    llhttp_init(&c->parser, HTTP_REQUEST, &f->settings);
    c->parser.data = c;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) conn_close(c, 0);
}

/* Stops accepting and closes every handle; uv_run then returns once the closes are done. */
static void fleet_stop(struct fleet *f)
{
    if (f->stopping) return;
    f->stopping = 1;
    for (size_t i = 0; i < f->neps; i++)
        if (f->eps[i].listening) uv_close((uv_handle_t *)&f->eps[i].tcp, NULL);
    for (struct conn *c = f->conns; c; c = c->next)
        conn_close(c, 0);
    uv_close((uv_handle_t *)&f->sigterm, NULL);
    uv_close((uv_handle_t *)&f->sigint, NULL);
    uv_close((uv_handle_t *)&f->stats_timer, NULL);
    uv_close((uv_handle_t *)&f->duration_timer, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct fleet *f = s->data;
    logmsg("signal %d: stopping", signum);
    fleet_stop(f);
}

static void on_duration(uv_timer_t *t)
{
    struct fleet *f = t->data;
    logmsg("--duration %llu s reached: stopping", f->opt.duration_s);
    fleet_stop(f);
}

static void on_stats_timer(uv_timer_t *t)
{
    struct fleet *f = t->data;
    if (f->stats_dirty) write_stats(f);
}

/* ---- main --------------------------------------------------------------------------- */

static int start_listeners(struct fleet *f)
{
    for (size_t i = 0; i < f->neps; i++) {
        struct endpoint *ep = &f->eps[i];
        ep->fleet = f;
        unsigned port = f->opt.base_port ? (unsigned)(f->opt.base_port + i) : 0;
        struct sockaddr_in sa;
        int rc = uv_tcp_init(&f->loop, &ep->tcp);
        if (rc) {
            logmsg("endpoint %zu: %s", i, uv_strerror(rc));
            return -1;
        }
        ep->tcp.data = ep;
        ep->listening = 1; /* initialised: closed by fleet_stop */
        /* loopback only, whatever the port */
        uv_ip4_addr("127.0.0.1", (int)port, &sa);
        rc = uv_tcp_bind(&ep->tcp, (const struct sockaddr *)&sa, 0);
        if (!rc) rc = uv_listen((uv_stream_t *)&ep->tcp, 511, on_connection);
        if (rc) {
            logmsg("listen on 127.0.0.1:%u (endpoint %zu): %s", port, i, uv_strerror(rc));
            return -1;
        }
        struct sockaddr_storage ss;
        int len = sizeof ss;
        rc = uv_tcp_getsockname(&ep->tcp, (struct sockaddr *)&ss, &len);
        if (rc) {
            logmsg("getsockname (endpoint %zu): %s", i, uv_strerror(rc));
            return -1;
        }
        ep->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    return 0;
}

static int fleet_run(struct fleet *f)
{
    int rc = uv_loop_init(&f->loop);
    if (rc) {
        logmsg("uv_loop_init: %s", uv_strerror(rc));
        return 1;
    }
    llhttp_settings_init(&f->settings);
    f->settings.on_message_begin = on_message_begin;
    f->settings.on_url = on_url;
    f->settings.on_header_field = on_header_field;
    f->settings.on_header_field_complete = on_header_field_complete;
    f->settings.on_header_value = on_header_value;
    f->settings.on_body = on_body;
    f->settings.on_message_complete = on_message_complete;

    uv_signal_init(&f->loop, &f->sigterm);
    uv_signal_init(&f->loop, &f->sigint);
    f->sigterm.data = f->sigint.data = f;
    uv_signal_start(&f->sigterm, on_signal, SIGTERM);
    uv_signal_start(&f->sigint, on_signal, SIGINT);
    uv_timer_init(&f->loop, &f->stats_timer);
    uv_timer_init(&f->loop, &f->duration_timer);
    f->stats_timer.data = f->duration_timer.data = f;
    if (f->opt.duration_s)
        uv_timer_start(&f->duration_timer, on_duration, f->opt.duration_s * 1000, 0);
    if (f->opt.stats)
        uv_timer_start(&f->stats_timer, on_stats_timer, STATS_EVERY_MS, STATS_EVERY_MS);

    if (start_listeners(f) ||
        (f->opt.port_file && write_atomic(f->opt.port_file, fill_ports, f, 1))) {
        f->exit_code = 1;
        fleet_stop(f);
    } else {
        if (f->opt.base_port)
            logmsg("%zu endpoints on 127.0.0.1:%u..%u", f->neps, f->eps[0].port,
                   f->eps[f->neps - 1].port);
        else
            logmsg("%zu endpoints on 127.0.0.1, ports in %s", f->neps, f->opt.port_file);
        write_stats(f);
    }
    uv_run(&f->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&f->loop);
    if (rc) {
        logmsg("uv_loop_close: %s (a handle was left open)", uv_strerror(rc));
        f->exit_code = 1;
    }
    write_stats(f); /* final counts, after every write callback has run */
    return f->exit_code;
}

int main(int argc, char **argv)
{
    static struct fleet fleet; /* large (the loop, the settings); one per process */
    struct fleet *f = &fleet;
    int rc = parse_args(argc, argv, &f->opt);
    if (rc) return rc;
    /* a peer that closed mid-write must give EPIPE, not kill the fleet */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    for (size_t i = 0; i < f->opt.nprofile; i++) {
        if (read_profile(f->opt.profile[i], &f->profile[i])) {
            free_profiles(f);
            return 1;
        }
    }
    f->neps = f->opt.count;
    f->eps = calloc(f->neps, sizeof *f->eps);
    if (!f->eps) {
        logmsg("out of memory");
        free_profiles(f);
        return 1;
    }
    assign_behaviours(f);
    rlim_t nofile = raise_nofile();
    if (nofile < f->neps + 64) {
        logmsg("%zu endpoints need more than the %llu file descriptors allowed (ulimit -n)",
               f->neps, (unsigned long long)nofile);
        rc = 1;
    }
    int need_bomb = 0;
    for (size_t i = 0; i < f->neps; i++)
        need_bomb |= f->eps[i].beh == B_BOMB;
    if (!rc && need_bomb) {
        uint64_t t0 = uv_hrtime();
        if (make_bomb(f->opt.bomb_bytes, &f->bomb)) {
            logmsg("cannot build the gzip bomb (out of memory?)");
            rc = 1;
        } else {
            logmsg("gzip bomb: %" PRIu64 " zero bytes -> %zu bytes (%.1f s)", f->opt.bomb_bytes,
                   f->bomb.len, (double)(uv_hrtime() - t0) / 1e9);
        }
    }
    if (!rc) rc = fleet_run(f);
    cpgo_buf_free(&f->bomb);
    free_profiles(f);
    free(f->eps);
    return rc;
}
