/*
 * class.h - the one vocabulary of failure classes, shared by scrapes (src/scrape/scrape.h),
 * profile decoding (src/daemon/ingest.c), git (src/publish/gitrepo.h) and GitHub
 * (src/publish/prapi.h).
 *
 * A class is what a caller decides on: retry soon or wait (cpgo_class_transient), and
 * what it counts and logs (cpgo_class_name, the `class` label of cpgo's metrics, the
 * `class=` field of log lines and /status). It is carried as data from the place that
 * knows why something failed (a curl code, an HTTP status, a libgit2 error, the decoder's
 * limit) to the caller; it is never read back from message text. The names are stable:
 * metric label values and log fields keep them across releases. Each class also has a
 * kind (network, tls, http, auth, ...), which groups the classes for the documentation
 * (docs/ARCHITECTURE.md, "Error classes") and for callers that only care about the kind.
 *
 * Two classes share the name "internal": CPGO_CLASS_INTERNAL (permanent: cpgo's own
 * processing failed for this input, retrying it will not help) and CPGO_CLASS_INTERNAL_RETRY
 * (transient: out of memory or a library failing in an unexpected way during a git or
 * GitHub call, which the next round retries). Logs and metrics never told them apart.
 *
 * Owns: nothing (constant tables). Thread: any.
 */
#ifndef CPGO_BASE_CLASS_H
#define CPGO_BASE_CLASS_H

/* Why something failed. Order carries no meaning; use cpgo_class_transient. */
enum cpgo_class {
    CPGO_CLASS_OK = 0,
    /* network: the peer could not be reached or the connection broke (transient) */
    CPGO_CLASS_DNS,
    CPGO_CLASS_CONNECT,
    CPGO_CLASS_TIMEOUT,
    CPGO_CLASS_RESET,
    CPGO_CLASS_PARTIAL,
    CPGO_CLASS_NETWORK,   /* git: connect, DNS, TLS handshake, reset, timeout, HTTP 5xx */
    CPGO_CLASS_TRANSIENT, /* GitHub: 5xx, timeout, connection failure after the retries */
    /* tls: the certificate or host key does not verify (permanent) */
    CPGO_CLASS_TLS,
    /* http: the server answered, but not with what was asked for */
    CPGO_CLASS_HTTP_5XX,     /* transient */
    CPGO_CLASS_BUSY,         /* transient: Go's "already in use" for a second CPU profile */
    CPGO_CLASS_HTTP_4XX,     /* permanent */
    CPGO_CLASS_BAD_RESPONSE, /* permanent: not valid HTTP, or malformed JSON from GitHub */
    CPGO_CLASS_REDIRECT,     /* permanent: GitHub redirected to another host or scheme */
    CPGO_CLASS_HTTP,         /* permanent: GitHub answered an unexpected status */
    CPGO_CLASS_NOT_FOUND,    /* permanent: no such repository, branch or pull request */
    CPGO_CLASS_FORBIDDEN,    /* permanent: GitHub 403 (not a rate limit) */
    CPGO_CLASS_EXISTS,       /* permanent: GitHub 422 "A pull request already exists" */
    CPGO_CLASS_INVALID,      /* permanent: any other GitHub 422 */
    CPGO_CLASS_REJECTED,     /* permanent: the git server refused the push */
    /* auth: credentials missing or rejected (permanent) */
    CPGO_CLASS_AUTH,
    /* rate limit: still limited after the retries (transient) */
    CPGO_CLASS_RATE_LIMITED,
    /* input: the content is wrong for its purpose (permanent) */
    CPGO_CLASS_BAD_PAYLOAD,
    CPGO_CLASS_INCOMPATIBLE,
    CPGO_CLASS_NOT_CPU,
    CPGO_CLASS_NO_DATA,
    CPGO_CLASS_CONTENT, /* git: the profile path is ambiguous, a directory, a symlink */
    CPGO_CLASS_FOREIGN, /* git: the head branch has commits cpgo did not make */
    /* limit: a ceiling was reached */
    CPGO_CLASS_INFLIGHT_LIMIT,     /* transient: the in-flight body budget went to other bodies */
    CPGO_CLASS_BODY_LIMIT,         /* permanent */
    CPGO_CLASS_DECOMPRESSED_LIMIT, /* permanent */
    CPGO_CLASS_LIMIT,              /* permanent: any other limit (counts, sizes, git blobs) */
    /* local I/O: the cache, lock or file system (transient) */
    CPGO_CLASS_LOCAL,
    /* conflict: the head branch moved between fetch and push (transient) */
    CPGO_CLASS_CONFLICT,
    /* memory: this process ran out of memory (transient) */
    CPGO_CLASS_OOM,
    /* config: a setting that cannot work (permanent) */
    CPGO_CLASS_CONFIG,
    /* internal: see above */
    CPGO_CLASS_INTERNAL,       /* permanent */
    CPGO_CLASS_INTERNAL_RETRY, /* transient */
    /* canceled: the work was abandoned (shutdown, reload) */
    CPGO_CLASS_CANCELED,
    CPGO_CLASS_COUNT
};

enum cpgo_class_kind {
    CPGO_KIND_NONE = 0, /* CPGO_CLASS_OK */
    CPGO_KIND_NETWORK,
    CPGO_KIND_TLS,
    CPGO_KIND_HTTP,
    CPGO_KIND_AUTH,
    CPGO_KIND_RATE_LIMIT,
    CPGO_KIND_INPUT,
    CPGO_KIND_LIMIT,
    CPGO_KIND_LOCAL_IO,
    CPGO_KIND_CONFLICT,
    CPGO_KIND_MEMORY,
    CPGO_KIND_CONFIG,
    CPGO_KIND_INTERNAL,
    CPGO_KIND_CANCELED,
};

/* Stable short name ("timeout", "http_4xx", "auth", ...); "unknown" out of range. */
const char *cpgo_class_name(enum cpgo_class c);
/* 1 when retrying soon can help; 0 for OK, permanent classes and out of range. */
int cpgo_class_transient(enum cpgo_class c);
enum cpgo_class_kind cpgo_class_kind(enum cpgo_class c);
/* Stable short name of a kind ("network", "local_io", ...). */
const char *cpgo_class_kind_name(enum cpgo_class_kind k);

#endif
