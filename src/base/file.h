/*
 * file.h - opening files that cpgo writes or trusts, without following links and without
 * blocking on special files.
 *
 * cpgo writes into directories a person or another process may also write into (the state
 * directory, `--output DIR`) and reads secrets from files (tokens, keys). A symlink planted
 * there must not redirect a write, and a FIFO must not block a pool thread forever (a FIFO
 * opened for reading waits for a writer; SIGTERM cannot interrupt that). So every such
 * open goes through cpgo_file_open: O_NOFOLLOW (a symlink as last component fails with
 * ELOOP), O_NONBLOCK for the open itself (a FIFO returns at once), then fstat must say
 * regular file (or directory for cpgo_file_opendir), then O_NONBLOCK is cleared again.
 * Relative names are resolved against a directory fd (openat), so a directory that is
 * swapped for a symlink after it was checked is not followed either.
 *
 * Owns: nothing (file descriptors go to the caller). Thread: any.
 */
#ifndef CPGO_BASE_FILE_H
#define CPGO_BASE_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

/* openat(2), the one call every other function here uses. In the ThreadSanitizer build it
 * goes through open(2) on /proc/self/fd/DIRFD/NAME instead (the same directory, the same
 * flags): GCC 12's TSan does not intercept openat, and a descriptor it never saw created
 * looks, once its number is reused, like a race with the number's previous owner. */
int cpgo_file_openat(int dirfd, const char *name, int flags, mode_t mode);

/* Opens `name` relative to `dirfd` (AT_FDCWD for a path) with `flags` (O_RDONLY, O_WRONLY |
 * O_CREAT | ..., O_CLOEXEC and O_NOFOLLOW are added) and `mode` for a new file. Refuses a
 * symlink, a FIFO, socket or device ("is not a regular file"). Returns the fd, or a negative
 * CPGO_E_* code with the error naming `name` (CPGO_E_EMPTY when it does not exist and
 * O_CREAT was not given). */
int cpgo_file_open(int dirfd, const char *name, int flags, mode_t mode, struct cpgo_err *err);

/* Opens for reading a file a person named in the configuration (token file, key file).
 * Unlike cpgo_file_open, a symlink is followed: the path is that person's choice (and
 * Kubernetes mounts a secret as a symlink into ..data/). A FIFO, socket or device is still
 * refused without blocking. Returns the fd, or a negative CPGO_E_* code with the error
 * naming `path` (CPGO_E_EMPTY when it does not exist). */
int cpgo_file_open_named(const char *path, struct cpgo_err *err);

/* Opens directory `name` relative to `dirfd` without following a symlink as its last
 * component. Returns the fd or a negative CPGO_E_* code (CPGO_E_EMPTY when absent). */
int cpgo_file_opendir(int dirfd, const char *name, struct cpgo_err *err);

/* Opens (creating missing ones with `mode`) each component of the relative path `rel`
 * below `dirfd`, one component at a time, never following a symlink, refusing "..", and
 * returns an fd of the last directory. An absolute `rel` is resolved from "/" the same way
 * only if `dirfd` is AT_FDCWD. */
int cpgo_file_mkdirs_at(int dirfd, const char *rel, mode_t mode, struct cpgo_err *err);

/* Reads the whole regular file `name` (relative to dirfd) up to `max` bytes (more is
 * CPGO_E_LIMIT). *data is NUL-terminated, caller frees. CPGO_E_EMPTY when absent. */
int cpgo_file_read_at(int dirfd, const char *name, size_t max, unsigned char **data, size_t *len,
                      struct cpgo_err *err);

/* Reads fd (a regular file, a pipe or standard input; not closed) to its end, up to `max`
 * bytes (more is CPGO_E_LIMIT; a file of exactly max bytes fits). *data is NUL-terminated,
 * caller frees. `name` is only for the error message. The one reader under a ceiling that
 * every whole-file read in cpgo goes through. */
int cpgo_file_read_fd(int fd, const char *name, size_t max, unsigned char **data, size_t *len,
                      struct cpgo_err *err);

/* Atomic write of a regular file: "<name>.tmp-<pid>-<n>" in dirfd, write, fsync, renameat,
 * fsync the directory. Never follows a symlink at `name` (the rename replaces the link
 * itself). */
int cpgo_file_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                       struct cpgo_err *err);

/* Test hook for fault injection: when the environment variable CPGO_TEST_FAIL_WRITE is
 * "N:ERRNO" (e.g. "3:28" for ENOSPC), the Nth write-like step cpgo_file_fault() is asked
 * about fails with that errno (counting from 1 over the process). Returns 0 or the errno
 * to fail with. Reading the variable once, at first use. */
int cpgo_file_fault(void);
/* The same, set by a unit test: the nth step from now fails with errno e (n = 0: none). */
void cpgo_file_fault_set(int n, int e);

#endif
