/*
 * discover.h - a service's instances: the union of its discovery sources (source.h), each
 * host name resolved through the one resolver (resolver.h, `dns.servers` when set: libcurl
 * would ask the system resolver, which does not know them), deduplicated by resolved
 * address and port.
 *
 * A source that fails keeps its last good targets (source.h), so the union never loses
 * instances because one refresh failed. The failure is logged (a warning naming the
 * service, the source and the error; again only when the error changes), and so is the
 * recovery. A name that does not resolve at one refresh keeps the address it had (the same
 * rule, per name); a name never resolved is dropped with why. A name is one instance (its
 * first address, IPv4 preferred), as Prometheus scrapes a name as one target.
 *
 * Owns: its sources, their queries, the instance list (replaced whole after every change,
 * so a caller may keep a pointer to it until its next `changed` callback). Thread: the loop
 * thread.
 */
#ifndef CPGO_DISCOVER_DISCOVER_H
#define CPGO_DISCOVER_DISCOVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "discover/resolver.h"
#include "discover/source.h"

/* One instance to scrape. */
struct cpgo_instance {
    char addr[CPGO_DNS_ADDR_MAX]; /* the IP it is scraped at */
    int port;
    char *host;   /* the name it was found as (the Host header, TLS), or NULL for an IP */
    char *origin; /* "<source name>: <where>", the first source that found it */
    uint64_t key; /* a stable hash of "addr:port": the rotation's order */
};

/* Something left out of the instance list, and why (for `cpgo discover --all`). */
struct cpgo_instance_dropped {
    char *what;
    char *why;
    char source[128];
};

struct cpgo_discovery;
/* Called on the loop thread after the instance list changed or a source's state changed
 * (a failure, a first answer). */
typedef void (*cpgo_discovery_cb)(struct cpgo_discovery *dsc, void *arg);

int cpgo_discovery_new(const struct cpgo_sd_env *env, const struct cpgo_service_cfg *svc,
                       cpgo_discovery_cb changed, void *arg, struct cpgo_discovery **out,
                       struct cpgo_err *err);
/* Starts every source. */
int cpgo_discovery_start(struct cpgo_discovery *dsc, struct cpgo_err *err);
/* Closes sources and queries; frees dsc once every handle is closed (`changed` is not
 * called again). */
void cpgo_discovery_close(struct cpgo_discovery *dsc);

/* The instances now, sorted by key (then address): valid until the next `changed`. */
const struct cpgo_instance *cpgo_discovery_instances(const struct cpgo_discovery *dsc, size_t *n);
const struct cpgo_instance_dropped *cpgo_discovery_dropped(const struct cpgo_discovery *dsc,
                                                           size_t *n);
/* Every source has answered once and no name resolution is pending: `--once` may start. */
int cpgo_discovery_settled(const struct cpgo_discovery *dsc);
/* The sources, for metrics and /status. */
size_t cpgo_discovery_nsources(const struct cpgo_discovery *dsc);
const struct cpgo_sd_source *cpgo_discovery_source(const struct cpgo_discovery *dsc, size_t i);
/* Instances that came from source i (after dedup: the first source that found one). */
size_t cpgo_discovery_source_instances(const struct cpgo_discovery *dsc, size_t i);
/* How many sources failed at their last refresh. */
size_t cpgo_discovery_failing(const struct cpgo_discovery *dsc);

/* "addr:port" with IPv6 in brackets, into buf. */
void cpgo_instance_format(const struct cpgo_instance *in, char *buf, size_t cap);
uint64_t cpgo_instance_key(const char *addr, int port);

#endif
