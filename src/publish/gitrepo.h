/*
 * gitrepo.h - the git side of publishing, with libgit2: a cache of bare repositories under
 * state_dir, fetching only the branches a target needs, finding the profile on the target
 * branch, and regenerating one commit on its tip that is force-pushed to the head branch.
 *
 * The cache: state_dir/git/<16 hex digits>.git, one bare repository per repository (the
 * digits are a stable hash of the normal form "host[:port]/path" from struct cpgo_repo, so
 * spellings of one repository share a cache). It holds no remote and no configuration of
 * ours: the URL lives in memory only (an anonymous remote), and what was fetched is kept
 * as remote-tracking refs refs/remotes/origin/<branch>. Deleting the directory is always
 * safe; the next fetch rebuilds it. Each call that touches a cache takes an exclusive
 * flock on state_dir/git/<digits>.lock, so targets of one repository on different lanes,
 * and two cpgo processes, take turns.
 *
 * The round, as the caller drives it:
 *   cpgo_gitrepo_fetch        target_branch and the head branch (if it exists remotely)
 *   cpgo_gitrepo_is_merged    did target_branch's file become the blob cpgo pushed last?
 *   cpgo_gitrepo_inspect_head is the head branch still ours (one cpgo commit on the base)?
 *   cpgo_gitrepo_find_profile the existing profile on target_branch (or "absent")
 *   cpgo_gitrepo_last_change  when that file last changed (its age, for decay)
 *   cpgo_gitrepo_read_file    the file cpgo proposes now, on the head branch
 *   cpgo_gitrepo_publish      one commit = base tip's tree with only the profile changed,
 *                             force-pushed unless the head branch already has that tree
 * Only fetch and publish use the network; the others read the cache. Before any round,
 * cpgo_gitrepo_default_branch asks for the repository's HEAD (a target_branch not written).
 *
 * Credentials: https/http take a token as HTTP basic auth (user "x-access-token", password
 * the token) through libgit2's credential callback, only for the repository's own host;
 * ssh uses the ssh agent, or a key file (host keys are checked against ~/.ssh/known_hosts
 * by libgit2) that must be a regular file (a FIFO would block libssh2's open; refused by
 * cpgo_gitrepo_open and again before each use); local repositories need none. The token is held in
 * memory only (zeroed on close): it is never part of a URL, a configuration file, a ref or an error
 * text. The credential callback gives up after one rejected attempt, so a wrong token costs one
 * rejected request and ends as CPGO_CLASS_AUTH, "authentication failed for <url>".
 * url.<base>.insteadOf in git configuration is not applied: the configured URL is used.
 *
 * Local repositories (file:// and paths) are written directly, not pushed through a
 * transport (libgit2 cannot push to a non-bare repository): the objects of the new commit
 * that the repository lacks (the commit, the trees along the path, the blob) are written
 * into its object database, and refs/heads/<head branch> is moved with a compare-and-swap
 * on the value that was fetched. When the head branch is checked out in a working tree of
 * that repository (the main one, or a linked one from `git worktree add`; unborn too),
 * it is not moved under that working tree: the round is refused as `git push` refuses it
 * (CPGO_CLASS_REJECTED, naming the working tree), before anything is written there.
 *
 * Errors: every function returns 0 or a negative CPGO_E_* code and writes one line naming
 * the repository URL (never with credentials) and branch or path into struct cpgo_err.
 * libgit2 errors are translated at the boundary. The class of the last failure
 * (cpgo_gitrepo_last_class) says whether retrying can help; the codes agree with it:
 * permanent classes use codes for which cpgo_err_is_input() is true (CPGO_E_USAGE for
 * authentication, TLS, a missing repository or branch, a refused push and a foreign head
 * branch; CPGO_E_INPUT for
 * what is wrong in the tree or a bad branch name or path; CPGO_E_LIMIT), transient ones
 * CPGO_E_IO.
 *
 * Thread: a target's work-queue lane, never the loop: every call blocks (file system,
 * network, flock). libgit2 objects never leave the call; a struct cpgo_gitrepo is plain
 * data used by one thread at a time. cpgo_git_init() must have been called once.
 * Limits: libgit2 1.5 has no socket timeouts of its own; cpgo_git_init registers cpgo's
 * socket stream (gitsock.h) with a connect deadline and an inactivity deadline on every
 * read and write (http, https under mbedtls, and ssh's socket), so a peer that never
 * answers fails the call; opts.timeout_s additionally aborts a transfer that is still
 * running past its deadline when libgit2 next reports progress (a slow trickle).
 */
#ifndef CPGO_PUBLISH_GITREPO_H
#define CPGO_PUBLISH_GITREPO_H

#include <stddef.h>
#include <stdint.h>

#include "base/class.h"
#include "base/err.h"
#include "config/repo.h"

/* A git object id as 40 lowercase hex digits and a NUL; "" means none. */
#define CPGO_GIT_ID_SIZE 41

/* Limits of cpgo_gitrepo_find_profile's search of the tree for a bare file name. */
#define CPGO_GIT_SEARCH_MAX_DEPTH 32
#define CPGO_GIT_SEARCH_MAX_ENTRIES 200000

#define CPGO_GIT_DEFAULT_NAME "cpgo"
#define CPGO_GIT_DEFAULT_EMAIL "cpgo@localhost"
#define CPGO_GIT_DEFAULT_TOKEN_USER "x-access-token"

/* Why the last call failed: a class of the shared vocabulary (base/class.h). git produces
 * CPGO_CLASS_OK and, transient (the next round may succeed): NETWORK (connect, DNS, TLS
 * handshake, reset, timeout, HTTP 5xx), CONFLICT (the head branch changed between fetch
 * and push: not overwritten), LOCAL (the cache or the local file system: I/O, lock,
 * corrupt cache), INTERNAL_RETRY (out of memory, or libgit2 failed in an unexpected way);
 * permanent (a person must act): AUTH (credentials missing or rejected, or access denied),
 * TLS (the certificate or host key does not verify), NOT_FOUND (the repository or
 * target_branch does not exist), REJECTED (the server refused the push: protected branch,
 * hook), FOREIGN (the head branch has commits cpgo did not make: left alone), CONTENT (the
 * profile path is ambiguous, a directory, a symlink, invalid), LIMIT (a blob or the tree
 * search is over its limit). */

/* Process-wide libgit2 setup (git_libgit2_init, the user agent "cpgo/<version>"): call
 * once from the main thread before any other function here, and cpgo_git_shutdown once
 * after the last call has returned. */
int cpgo_git_init(struct cpgo_err *err);
void cpgo_git_shutdown(void);

/* How to reach a repository. Strings are copied by cpgo_gitrepo_open. */
struct cpgo_git_opts {
    const char *token;      /* https/http: the token (basic-auth password); NULL = none */
    const char *token_user; /* basic-auth user; NULL = CPGO_GIT_DEFAULT_TOKEN_USER */
    const char *ssh_key;    /* ssh: private key file; NULL = the ssh agent (SSH_AUTH_SOCK) */
    const char *ssh_pubkey; /* ssh: its public key file, or NULL */
    int timeout_s;          /* per network call, see "Limits" above; 0 = none */
};

/* Author and committer of cpgo's commits. NULL or "" fields take the defaults
 * (CPGO_GIT_DEFAULT_NAME, CPGO_GIT_DEFAULT_EMAIL). */
struct cpgo_git_ident {
    const char *name;
    const char *email;
};

struct cpgo_gitrepo;

/*
 * Opens (creating it if needed) the cache for `repo` under state_dir/git and returns a
 * handle that owns copies of the URL and the credentials. The handle holds no libgit2
 * object and no file descriptor. A cache that libgit2 cannot open (a crash while it was
 * being created) is moved aside to <digits>.git.broken-<time> and created anew.
 */
int cpgo_gitrepo_open(const char *state_dir, const struct cpgo_repo *repo,
                      const struct cpgo_git_opts *opts, struct cpgo_gitrepo **out,
                      struct cpgo_err *err);
/* Zeroes the token and frees the handle. NULL is fine. */
void cpgo_gitrepo_close(struct cpgo_gitrepo *g);
/* The bare cache repository's directory (for people and tests). */
const char *cpgo_gitrepo_cache_dir(const struct cpgo_gitrepo *g);
/* The class of the last failed call on g (CPGO_CLASS_OK after a success). */
enum cpgo_class cpgo_gitrepo_last_class(const struct cpgo_gitrepo *g);

/* What a fetch found. */
struct cpgo_git_tips {
    char base[CPGO_GIT_ID_SIZE]; /* tip of target_branch */
    int head_exists;             /* head_branch exists remotely */
    char head[CPGO_GIT_ID_SIZE]; /* its tip, or "" */
};

/*
 * The repository's default branch, as `git ls-remote --symref <url> HEAD` names it: the
 * branch its HEAD points to ("master" for refs/heads/master), with the handle's credentials,
 * deadline and proxy; nothing is fetched (the cache is only locked). Local repositories
 * too. A repository without HEAD (empty, or HEAD on a branch not created yet) and a
 * detached HEAD are CPGO_CLASS_NOT_FOUND; other failures as for cpgo_gitrepo_fetch.
 */
int cpgo_gitrepo_default_branch(struct cpgo_gitrepo *g, char *out, size_t cap,
                                struct cpgo_err *err);

/*
 * Fetches refs/heads/<target_branch> and, when the remote has it, refs/heads/<head_branch>
 * into refs/remotes/origin/..., incrementally (only objects the cache lacks), without tags.
 * When the head branch no longer exists remotely, its remote-tracking ref is deleted.
 * head_branch may be NULL. A missing target_branch is CPGO_CLASS_NOT_FOUND.
 */
int cpgo_gitrepo_fetch(struct cpgo_gitrepo *g, const char *target_branch, const char *head_branch,
                       struct cpgo_git_tips *tips, struct cpgo_err *err);

/* The profile on the fetched target_branch. Owns path and data (cpgo_git_file_free). */
struct cpgo_git_file {
    int found;           /* 0: absent; path is target_file, data NULL */
    int searched;        /* found by searching the tree for a bare file name */
    int placed;          /* absent, and path is in the directory of the one package main */
    char *path;          /* the path in the tree */
    unsigned char *data; /* the blob's bytes */
    size_t len;
    char blob[CPGO_GIT_ID_SIZE]; /* the blob id, or "" */
    char base[CPGO_GIT_ID_SIZE]; /* the commit it was read from */
};
void cpgo_git_file_free(struct cpgo_git_file *f);

/*
 * Finds the profile on the fetched target_branch: target_file itself if it exists; else,
 * when target_file is a bare name (no '/'), the one file of that name anywhere in the tree
 * (depth <= CPGO_GIT_SEARCH_MAX_DEPTH, <= CPGO_GIT_SEARCH_MAX_ENTRIES entries visited, or
 * CPGO_CLASS_LIMIT). Several matches are CPGO_CLASS_CONTENT, listing them. None is "absent"
 * (found = 0) with path where the file is to be created: target_file itself when it has a
 * '/'; a bare name goes into the directory of the tree's one `package main` (placed = 1;
 * Go files but _test.go, outside testdata, vendor and directories starting with '.' or
 * '_', by their package clause; `//go:build ignore` files do not count), at the root when
 * no directory holds one, and several are CPGO_CLASS_CONTENT listing them (the same search
 * limits). A directory, symlink or submodule at the path is
 * CPGO_CLASS_CONTENT; a blob larger than max_bytes is CPGO_CLASS_LIMIT. target_file must be a
 * relative path without "." or ".." segments.
 */
int cpgo_gitrepo_find_profile(struct cpgo_gitrepo *g, const char *target_branch,
                              const char *target_file, size_t max_bytes, struct cpgo_git_file *out,
                              struct cpgo_err *err);

/*
 * The file at exactly `path` on a fetched branch (the target branch, or the head branch
 * that cpgo_gitrepo_fetch fetched when it exists remotely): what cpgo proposes now. No
 * search: found = 0 (path = `path`, data NULL) when the path is absent there, and also when
 * the branch was not fetched or no longer exists remotely (then base is ""). A directory,
 * symlink or submodule at the path is CPGO_CLASS_CONTENT; a blob larger than max_bytes is
 * CPGO_CLASS_LIMIT. `searched` is always 0. Owns path and data (cpgo_git_file_free).
 */
int cpgo_gitrepo_read_file(struct cpgo_gitrepo *g, const char *branch, const char *path,
                           size_t max_bytes, struct cpgo_git_file *out, struct cpgo_err *err);

/*
 * The committer time (seconds since the epoch) of the newest commit on `branch` (as
 * fetched) that changed `path`: a commit changes the path when its blob (or absence) there
 * differs from every parent's (a merge that took one side's file unchanged is not a change,
 * as `git log -- path` simplifies history: from such a merge only that side is followed).
 * A root commit changes the path when it has the file. Walks at most max_commits commits
 * (newest first by committer time, as git log); *found = 0 when the path never changed
 * within them, when it does not exist at the branch's tip, or when the branch was not
 * fetched. The answer is `git log -1 --format=%ct <branch> -- <path>` whenever that commit
 * is within the walk. A directory, symlink or submodule at the path is CPGO_CLASS_CONTENT.
 */
int cpgo_gitrepo_last_change(struct cpgo_gitrepo *g, const char *branch, const char *path,
                             size_t max_commits, int *found, int64_t *when_s, struct cpgo_err *err);

/* The head branch as fetched, compared with the target branch. */
struct cpgo_git_head {
    int exists;
    char tip[CPGO_GIT_ID_SIZE];
    char base[CPGO_GIT_ID_SIZE]; /* tip of target_branch */
    uint64_t ahead;              /* commits on the head branch that target_branch lacks
                                    (counting stops at 1000) */
    int on_base;                 /* exactly one commit, whose parent is the current base tip */
    int foreign;                 /* not cpgo's to rewrite: more than one commit on top of
                                    target_branch, or one whose committer is not `ident` */
    char why[160];               /* for foreign: one line, e.g. "commit 1a2b3c4d by Jane
                                    <jane@example.com> is not cpgo's" */
    char tip_email[256];         /* the tip commit's committer email */
    char tip_target[64];         /* its "Cpgo-Target:" trailer (the target id), or "" */
};

/*
 * Inspects the fetched head branch before regenerating it. A head branch that does not
 * exist, or whose commits are all on target_branch (merged, ahead = 0), is not foreign.
 * The caller leaves a foreign branch alone and reports it.
 */
int cpgo_gitrepo_inspect_head(struct cpgo_gitrepo *g, const char *target_branch,
                              const char *head_branch, const struct cpgo_git_ident *ident,
                              struct cpgo_git_head *out, struct cpgo_err *err);

/* One regeneration. All strings are borrowed for the call. */
struct cpgo_git_commit_req {
    const char *target_branch;
    const char *head_branch;
    const char *path; /* where the profile goes (cpgo_git_file.path) */
    const void *data; /* the new profile */
    size_t len;
    const char *message; /* commit message (summary line, blank line, body) */
    struct cpgo_git_ident author;
    struct cpgo_git_ident committer; /* also who "ours" is when checking the head branch */
    int overwrite_foreign;           /* 1: rewrite a head branch with commits of others
                                        (an explicit opt-in); 0: CPGO_CLASS_FOREIGN */
};

struct cpgo_git_publish {
    int pushed;                    /* a commit was pushed */
    int unchanged;                 /* the head branch already is this tree on this base */
    int same_as_base;              /* the file equals target_branch's: nothing to propose */
    char commit[CPGO_GIT_ID_SIZE]; /* the head branch's commit after the call ("" when
                                      same_as_base and there is no head branch) */
    char blob[CPGO_GIT_ID_SIZE];   /* the profile's blob id (for cpgo_gitrepo_is_merged) */
    char base[CPGO_GIT_ID_SIZE];   /* the parent: the fetched tip of target_branch */
};

/*
 * Builds one commit whose parent is the fetched tip of target_branch and whose tree is
 * that tip's tree with only req->path added or replaced (an executable bit is kept;
 * missing directories are created), and force-pushes it to refs/heads/<head_branch>.
 * Nothing is pushed, and nothing is written to the cache, when the fetched head branch
 * is already one commit on this base with this tree (unchanged) or the tree equals the
 * base's (same_as_base). A head branch that cpgo_gitrepo_inspect_head calls foreign (with
 * req->committer as cpgo's identity) is refused with CPGO_CLASS_FOREIGN unless
 * req->overwrite_foreign, and head_branch equal to target_branch is refused always. The push is
 * refused with CPGO_CLASS_CONFLICT when the remote head branch is no longer what cpgo_gitrepo_fetch
 * saw (a lease: someone else pushed). Call cpgo_gitrepo_fetch (and, for the policy,
 * cpgo_gitrepo_inspect_head) first.
 */
int cpgo_gitrepo_publish(struct cpgo_gitrepo *g, const struct cpgo_git_commit_req *req,
                         struct cpgo_git_publish *out, struct cpgo_err *err);

/*
 * Which of `blobs` (hex ids) the file at `path` has been on the fetched target_branch, in its
 * newest max_commits commits (all parents, newest first): hit[i] = 1 for each. A pushed
 * profile that landed -- by merge, squash or rebase -- appears there even if the file
 * changed again since.
 */
int cpgo_gitrepo_path_history(struct cpgo_gitrepo *g, const char *target_branch, const char *path,
                              size_t max_commits, const char *const *blobs, size_t nblobs, int *hit,
                              struct cpgo_err *err);

/* The trailer cpgo writes into its commits: "Cpgo-Target: <target id>". */
#define CPGO_GIT_TRAILER "Cpgo-Target"

/* The id git gives a blob with these bytes (what cpgo_gitrepo_publish will push). */
int cpgo_gitrepo_blob_id(const void *data, size_t len, char out[CPGO_GIT_ID_SIZE],
                         struct cpgo_err *err);

/*
 * Sets *merged = 1 when the blob at `path` on the fetched target_branch has id `blob`
 * (the one cpgo pushed last): the pull request was merged, or its content landed.
 * *merged = 0 when the path is absent or holds another blob.
 */
int cpgo_gitrepo_is_merged(struct cpgo_gitrepo *g, const char *target_branch, const char *path,
                           const char *blob, int *merged, struct cpgo_err *err);

#endif
