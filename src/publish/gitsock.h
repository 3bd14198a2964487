/*
 * gitsock.h - the plain TCP stream libgit2 uses for http:// and, under its TLS layer
 * (mbedtls in Debian's libgit2 1.5), for https://, registered as GIT_STREAM_STANDARD: the
 * same as libgit2's own socket stream plus what 1.5 lacks, a connect deadline and an
 * inactivity deadline on every read and write. Without them a git server that accepts and
 * then never answers holds a work-queue thread, and the target's lane, forever.
 *
 * libgit2's ssh transport casts the stream to its internal git_socket_stream to reach the
 * file descriptor; the stream keeps that struct's layout as its first fields (parent, host,
 * port, fd) so the cast stays valid. (The inactivity deadline then also applies to
 * libssh2's reads, as SO_RCVTIMEO on the socket.)
 *
 * Thread: any (each stream has one user); the deadlines are set once, before any transfer.
 */
#ifndef CPGO_PUBLISH_GITSOCK_H
#define CPGO_PUBLISH_GITSOCK_H

#include <stdint.h>

/* Registers the stream with libgit2 (after git_libgit2_init). 0 or -1. */
int cpgo_gitsock_register(void);
/* Deadlines in ms (0 = the defaults: connect 30 s, inactivity 60 s). */
void cpgo_gitsock_set_timeouts(int64_t connect_ms, int64_t io_ms);

#endif
