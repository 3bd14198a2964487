/*
 * gocheck.h - the Go toolchain as the last judge of a candidate profile
 * (`pgo.verify_with_go: true`): `go tool preprofile`, the step `go build -pgo` runs on a
 * default.pgo, is run on the candidate before it is published, so a profile Go would
 * reject or ignore is never proposed.
 *
 * Owns, for one call: a private temporary directory under $TMPDIR (or /tmp), mode 0700,
 * holding the candidate and Go's output, removed before the call returns; and one child
 * process group (go and the preprofile tool it runs), which never outlives the call: on
 * the deadline, and after a normal exit, the whole group is killed with SIGKILL before the
 * leader is reaped (so the group id cannot have been reused).
 *
 * The child: found by posix_spawnp on cpgo's PATH (no shell: nothing is parsed or
 * expanded, and the profile only ever travels as a file), run in the temporary directory
 * (no go.mod there can select a toolchain), stdin /dev/null, stdout and stderr into one
 * pipe (the first 4 KiB kept, the rest read and dropped, so a chatty child never blocks),
 * no other descriptor (closefrom 3 in the child: the daemon's sockets and files never
 * reach it), default signal dispositions and an empty signal mask. Its environment is
 * small on purpose: PATH, HOME, TMPDIR, GOROOT, GOPATH, GOCACHE, XDG_CONFIG_HOME and
 * XDG_CACHE_HOME when cpgo has them, and GOTOOLCHAIN=local (never download a toolchain),
 * GOFLAGS= and GOENV=off (the user's `go env -w` file cannot set GOFLAGS or GOTOOLCHAIN
 * back); nothing else, so no token cpgo reads from its environment reaches the child.
 *
 * Thread: blocking (a child process, file writes, up to timeout_ms): a pool thread only,
 * never the loop. Reentrant: no global state; calls on several threads run side by side.
 */
#ifndef CPGO_PUBLISH_GOCHECK_H
#define CPGO_PUBLISH_GOCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* What is kept of the child's stdout + stderr. */
#define CPGO_GOCHECK_OUTPUT_MAX 4096

/*
 * Runs `go tool preprofile -i <tmp> -o <tmp2>` on the profile data[0..len) (pprof, gzipped
 * or not). Returns:
 *   0 when it exits 0 and its output holds at least one call edge;
 *   CPGO_E_INPUT (class CPGO_CLASS_CONTENT) when preprofile rejects the profile, with Go's
 *     message ("go tool preprofile rejects the profile: preprofile: profile missing
 *     Function.start_line data ..."; its first lines, trimmed, control bytes replaced),
 *     and when it accepts it but finds no call edge (no samples, all weights zero: Go's
 *     PGO would ignore the file);
 *   CPGO_E_EMPTY (class CPGO_CLASS_CONFIG) "go not found on PATH" when there is no go (the
 *     one case a caller may treat as "not checked");
 *   CPGO_E_USAGE (class CPGO_CLASS_CONFIG) when go itself fails without running preprofile
 *     (too old: "no such tool", a broken GOROOT, a crash), with go's message: the candidate
 *     was not shown to pass, so it must not be published;
 *   CPGO_E_IO with class CPGO_CLASS_TIMEOUT when it has not finished after timeout_ms
 *     (the group is killed: "go tool preprofile did not finish within 5000 ms: killed"),
 *     CPGO_CLASS_LOCAL when the temporary directory, the pipe or the spawn fails or a
 *     signal killed the child;
 *   CPGO_E_USAGE when timeout_ms <= 0.
 */
int cpgo_gocheck_preprofile(const void *data, size_t len, int64_t timeout_ms, struct cpgo_err *err);

#endif
