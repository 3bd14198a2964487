/* class.c - see class.h. One row per class, so a class cannot lack a name or a policy. */
#include "base/class.h"

struct row {
    const char *name;
    enum cpgo_class_kind kind;
    int transient;
};

#define T 1
#define P 0
static const struct row rows[CPGO_CLASS_COUNT] = {
    [CPGO_CLASS_OK] = {"ok", CPGO_KIND_NONE, P},
    [CPGO_CLASS_DNS] = {"dns", CPGO_KIND_NETWORK, T},
    [CPGO_CLASS_CONNECT] = {"connect", CPGO_KIND_NETWORK, T},
    [CPGO_CLASS_TIMEOUT] = {"timeout", CPGO_KIND_NETWORK, T},
    [CPGO_CLASS_RESET] = {"reset", CPGO_KIND_NETWORK, T},
    [CPGO_CLASS_PARTIAL] = {"partial", CPGO_KIND_NETWORK, T},
    [CPGO_CLASS_NETWORK] = {"network", CPGO_KIND_NETWORK, T},
    [CPGO_CLASS_TRANSIENT] = {"transient", CPGO_KIND_NETWORK, T},
    [CPGO_CLASS_TLS] = {"tls", CPGO_KIND_TLS, P},
    [CPGO_CLASS_HTTP_5XX] = {"http_5xx", CPGO_KIND_HTTP, T},
    [CPGO_CLASS_BUSY] = {"busy", CPGO_KIND_HTTP, T},
    [CPGO_CLASS_HTTP_4XX] = {"http_4xx", CPGO_KIND_HTTP, P},
    [CPGO_CLASS_BAD_RESPONSE] = {"bad_response", CPGO_KIND_HTTP, P},
    [CPGO_CLASS_REDIRECT] = {"redirect", CPGO_KIND_HTTP, P},
    [CPGO_CLASS_HTTP] = {"http", CPGO_KIND_HTTP, P},
    [CPGO_CLASS_NOT_FOUND] = {"not_found", CPGO_KIND_HTTP, P},
    [CPGO_CLASS_FORBIDDEN] = {"forbidden", CPGO_KIND_HTTP, P},
    [CPGO_CLASS_EXISTS] = {"exists", CPGO_KIND_HTTP, P},
    [CPGO_CLASS_INVALID] = {"invalid", CPGO_KIND_HTTP, P},
    [CPGO_CLASS_REJECTED] = {"rejected", CPGO_KIND_HTTP, P},
    [CPGO_CLASS_AUTH] = {"auth", CPGO_KIND_AUTH, P},
    [CPGO_CLASS_RATE_LIMITED] = {"rate_limited", CPGO_KIND_RATE_LIMIT, T},
    [CPGO_CLASS_BAD_PAYLOAD] = {"bad_payload", CPGO_KIND_INPUT, P},
    [CPGO_CLASS_INCOMPATIBLE] = {"incompatible", CPGO_KIND_INPUT, P},
    [CPGO_CLASS_NOT_CPU] = {"not_cpu_profile", CPGO_KIND_INPUT, P},
    [CPGO_CLASS_NO_DATA] = {"no_data", CPGO_KIND_INPUT, P},
    [CPGO_CLASS_CONTENT] = {"content", CPGO_KIND_INPUT, P},
    [CPGO_CLASS_FOREIGN] = {"foreign", CPGO_KIND_INPUT, P},
    [CPGO_CLASS_INFLIGHT_LIMIT] = {"inflight_limit", CPGO_KIND_LIMIT, T},
    [CPGO_CLASS_BODY_LIMIT] = {"body_size_limit", CPGO_KIND_LIMIT, P},
    [CPGO_CLASS_DECOMPRESSED_LIMIT] = {"decompressed_limit", CPGO_KIND_LIMIT, P},
    [CPGO_CLASS_LIMIT] = {"limit", CPGO_KIND_LIMIT, P},
    [CPGO_CLASS_LOCAL] = {"local", CPGO_KIND_LOCAL_IO, T},
    [CPGO_CLASS_CONFLICT] = {"conflict", CPGO_KIND_CONFLICT, T},
    [CPGO_CLASS_OOM] = {"oom", CPGO_KIND_MEMORY, T},
    [CPGO_CLASS_CONFIG] = {"config", CPGO_KIND_CONFIG, P},
    [CPGO_CLASS_INTERNAL] = {"internal", CPGO_KIND_INTERNAL, P},
    [CPGO_CLASS_INTERNAL_RETRY] = {"internal", CPGO_KIND_INTERNAL, T},
    [CPGO_CLASS_CANCELED] = {"canceled", CPGO_KIND_CANCELED, P},
};
#undef T
#undef P

const char *cpgo_class_name(enum cpgo_class c)
{
    return (unsigned)c < CPGO_CLASS_COUNT ? rows[c].name : "unknown";
}

int cpgo_class_transient(enum cpgo_class c)
{
    return (unsigned)c < CPGO_CLASS_COUNT && rows[c].transient;
}

enum cpgo_class_kind cpgo_class_kind(enum cpgo_class c)
{
    return (unsigned)c < CPGO_CLASS_COUNT ? rows[c].kind : CPGO_KIND_INTERNAL;
}

const char *cpgo_class_kind_name(enum cpgo_class_kind k)
{
    static const char *const names[] = {
        [CPGO_KIND_NONE] = "none",         [CPGO_KIND_NETWORK] = "network",
        [CPGO_KIND_TLS] = "tls",           [CPGO_KIND_HTTP] = "http",
        [CPGO_KIND_AUTH] = "auth",         [CPGO_KIND_RATE_LIMIT] = "rate_limit",
        [CPGO_KIND_INPUT] = "input",       [CPGO_KIND_LIMIT] = "limit",
        [CPGO_KIND_LOCAL_IO] = "local_io", [CPGO_KIND_CONFLICT] = "conflict",
        [CPGO_KIND_MEMORY] = "memory",     [CPGO_KIND_CONFIG] = "config",
        [CPGO_KIND_INTERNAL] = "internal", [CPGO_KIND_CANCELED] = "canceled",
    };
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "unknown";
}
