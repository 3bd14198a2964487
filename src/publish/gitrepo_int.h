/*
 * gitrepo_int.h - what the files of the gitrepo module share: the handle's layout, one
 * call's state, and the helpers more than one of them uses. Not for other modules:
 * gitrepo.h is the interface.
 *
 * A call (gitrepo_begin .. gitrepo_end) holds the cache's flock and the open bare
 * repository; every libgit2 object a file makes is freed before its public function
 * returns. Failures go through gitrepo_fail / gitrepo_gfail, which set the handle's last
 * class, write one scrubbed line and return the matching CPGO_E_* code.
 *
 * Thread: a target's work-queue lane, as gitrepo.h.
 */
#ifndef CPGO_PUBLISH_GITREPO_INT_H
#define CPGO_PUBLISH_GITREPO_INT_H

#include <git2.h>
#include <time.h>

#include "publish/gitrepo.h"

#define TRACKING_PREFIX "refs/remotes/origin/"
#define PUSH_REF "refs/cpgo/push"
#define PATH_MAX_LEN 1024
#define PATH_MAX_SEGMENTS 64
#define AHEAD_MAX 1000
#define MATCHES_LISTED 8

struct cpgo_gitrepo {
    char *cache; /* state_dir/git/<hex>.git */
    char *lock;  /* state_dir/git/<hex>.lock */
    char *url;   /* what libgit2 connects to (no credentials) */
    char *host;  /* for the credential host check */
    enum cpgo_repo_kind kind;
    char *token; /* zeroed on close */
    char *token_user;
    struct cpgo_url_secrets *secrets; /* the token in every form, scrubbed from errors */
    char *ssh_key;
    char *ssh_pubkey;
    int timeout_s;
    enum cpgo_class last;
    /* place_profile's last search: the tree it searched and the directory it chose ("" for
     * the root; placed: the one package main's). The search reads a Go file of every
     * directory, and while a pull request waits the target branch's tree, and so the
     * answer, stays the same round after round. */
    git_oid placed_tree;
    char *placed_dir;
    int placed;
};

/* The state of one call: the open repository, the lock and what the callbacks saw. */
struct call {
    struct cpgo_gitrepo *g;
    struct cpgo_err *err;
    git_repository *repo;
    int lockfd;
    int cred_given;     /* credentials handed to libgit2 in this call */
    int auth_failed;    /* libgit2 asked again: they were rejected */
    int auth_missing;   /* asked for credentials that are not configured */
    int auth_wronghost; /* asked for the token on behalf of another host */
    int timed_out;
    struct timespec deadline;
    int push_rejected;
    char push_status[160];
    char key_problem[320]; /* git.ssh_key (or its .pub) is not a readable regular file */
};

/* gitrepo.c: calls, error lines, names and paths */
int gitrepo_begin(struct call *c, struct cpgo_gitrepo *g, struct cpgo_err *err);
void gitrepo_end(struct call *c);
/* One line (fmt), scrubbed of the token; sets g->last; returns the class's CPGO_E_* code. */
int gitrepo_fail(struct call *c, enum cpgo_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same for the libgit2 failure rc: "<fmt>: <libgit2's message>", the class refined by
 * what the callbacks saw (authentication, deadline) and by the message (HTTP status). */
int gitrepo_gfail(struct call *c, enum cpgo_class cls, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gitrepo_oid_hex(char out[CPGO_GIT_ID_SIZE], const git_oid *id);
/* "<prefix><branch>" into buf; CPGO_CLASS_CONTENT when it is not a valid ref name. */
int gitrepo_ref_name(struct call *c, char *buf, size_t cap, const char *prefix, const char *branch);
/* The head branch must never be the target branch: it is force-pushed. */
int gitrepo_check_branches(struct call *c, const char *target_branch, const char *head_branch);
/* A profile path must name a file inside the tree (relative, no "."/".."/".git"). */
int gitrepo_check_path(struct call *c, const char *path);
/* The directory of a local repository's URL. */
const char *gitrepo_local_path(const char *url);

/* gitrepo_remote.c: what network calls share */
void gitrepo_callbacks(struct call *c, git_remote_callbacks *cbs);
void gitrepo_arm_deadline(struct call *c);
int gitrepo_anon_remote(struct call *c, git_remote **out);
void gitrepo_proxy_opts(git_proxy_options *p);
/* 1 when path opens as a regular file without blocking; else 0 with the reason in out. */
int gitrepo_key_file_ok(const char *path, const char *what, char *out, size_t cap);

/* gitrepo_fetch.c: repacks the cache when its packs pile up (the cache is locked). */
void gitrepo_maybe_repack(struct call *c);

/* gitrepo_find.c: the fetched branches */
int gitrepo_tracking_tip(struct call *c, const char *branch, int *found, git_oid *out);
int gitrepo_branch_tree(struct call *c, const char *branch, git_oid *tip, git_commit **commit,
                        git_tree **tree);
const char *gitrepo_mode_noun(git_filemode_t m);
int gitrepo_is_file_mode(git_filemode_t m);

/* gitrepo_head.c: who "ours" is, and whether the head branch is foreign */
void gitrepo_ident_or_default(const struct cpgo_git_ident *in, const char **name,
                              const char **email);
int gitrepo_walk_head(struct call *c, const git_oid *base, const git_oid *head,
                      const char *target_branch, const char *head_branch,
                      const struct cpgo_git_ident *ident, struct cpgo_git_head *out);

#endif
