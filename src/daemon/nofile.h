/*
 * nofile.h - the open-file limit of `cpgo run` (and `cpgo demo`, which runs the daemon):
 * the soft RLIMIT_NOFILE raised to the hard one at start, and how many scrapes may run at
 * once under the limit that results.
 *
 * Every scrape in flight holds a socket (and, for a host name, curl's resolver holds a
 * socket pair while it resolves); the admin endpoint (up to 256 connections), git, the
 * journal, snapshots, c-ares and the log need fds of their own. A scrape that meets EMFILE
 * fails for a local reason, so when the hard limit cannot hold max_concurrent_scrapes the
 * daemon starts fewer at once and the rest wait their turn (the daemon's waiting FIFO),
 * never failing for want of an fd.
 *
 * Thread: main thread at start (raise); the cap is pure and may be computed anywhere.
 */
#ifndef CPGO_DAEMON_NOFILE_H
#define CPGO_DAEMON_NOFILE_H

#include <stddef.h>
#include <stdint.h>

/* fds kept for everything but scrapes in flight: the admin endpoint's 256 connections,
 * the forge API clients' connections, and 64 for the listening sockets,
 * git, journal and snapshot files, c-ares, pool threads' files, stdio */
#define CPGO_NOFILE_RESERVE 384

/* Raises the soft limit to the hard one (a hard "unlimited" to what the kernel allows) and
 * logs old -> new at info. Returns the soft limit now in force (SIZE_MAX: unlimited). */
size_t cpgo_nofile_raise(void);

/* How many scrapes may run at once with `limit` fds when `configured` are asked for: the
 * configured number when it fits beside the reserve (a socket a scrape), else what does, at
 * least 1. A limit below twice the reserve keeps half for the rest instead. The reserve also
 * covers curl's resolver, which holds a socket pair only while a host name resolves (scrapes
 * of IP addresses, and pinned ones, resolve nothing). */
size_t cpgo_nofile_scrape_cap(size_t limit, size_t configured);

/* Warns (once per configured value: the caller keeps *warned_for) when the cap is lower
 * than the configuration asks, naming the numbers and the key to lower. */
void cpgo_nofile_warn(size_t limit, size_t configured, size_t cap, size_t *warned_for);

#endif
