/*
 * repo.h - what a `repository` value names. Accepted: https:// and http:// URLs, ssh URLs
 * (ssh://[user@]host[:port]/path) and scp-like "user@host:path", file:// URLs and local
 * paths (absolute, or relative to the config file's directory). The ".git" suffix and a
 * trailing "/" are optional and do not make a different repository.
 * Thread: any.
 */
#ifndef CPGO_CONFIG_REPO_H
#define CPGO_CONFIG_REPO_H

#include "base/err.h"

enum cpgo_repo_kind { CPGO_REPO_HTTPS, CPGO_REPO_HTTP, CPGO_REPO_SSH, CPGO_REPO_FILE };

struct cpgo_repo {
    enum cpgo_repo_kind kind;
    char *host; /* lowercased host ("local" for file:// and paths) */
    int port;   /* 0 = default */
    char *user; /* ssh user or NULL; never a password (credentials in URLs are refused) */
    char *path; /* without leading "/", without ".git" and trailing "/"; for local
                   repositories the absolute filesystem path without its leading "/" */
    char *url;  /* the value as a clone URL (https/http/ssh URL, or an absolute path) */
};

/* base_dir resolves relative local paths (the config file's directory). Errors name the
 * problem: "repository 'x': unsupported scheme ftp". URLs with a password are refused. */
int cpgo_repo_parse(const char *text, const char *base_dir, struct cpgo_repo *out,
                    struct cpgo_err *err);
void cpgo_repo_free(struct cpgo_repo *r);

#endif
