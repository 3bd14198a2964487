/*
 * defbranch.c - a target_branch not written is the repository's default branch: asked of
 * each repository once (config/branches.c groups them), through the same git handle,
 * credentials, deadlines and proxy a forge round uses (publish/gitrepo.h,
 * cpgo_gitrepo_default_branch), before the daemon builds its targets: at the start of
 * `cpgo run` (every mode) and in the reload job. The branch chosen is logged per
 * repository (info).
 *
 * The credential for a repository comes from a callback (cpgo_daemon_cred_fn), so that
 * which token a forge's git host gets is decided where tokens are (token.c), not here.
 *
 * Thread: the main thread before the loop starts, or a pool thread (reload); never the
 * loop: every repository is a network round trip.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/url.h"
#include "daemon/daemon_int.h"
#include "publish/gitrepo.h"

struct resolve_ctx {
    const char *state_dir;
    const char *ssh_key;
    int timeout_s;
    cpgo_daemon_cred_fn cred;
    void *cred_ctx;
};

static int resolve_one(void *vctx, const struct cpgo_target_cfg *t, char *branch, size_t cap,
                       char *why, size_t wcap)
{
    const struct resolve_ctx *r = vctx;
    const char *user = NULL;
    const char *token = r->cred ? r->cred(r->cred_ctx, t, &user) : NULL;
    struct cpgo_git_opts go = {
        .token = token,
        .token_user = user,
        .ssh_key = r->ssh_key,
        .timeout_s = r->timeout_s,
    };
    char pub[4200];
    if (r->ssh_key) { /* as the forge round finds it */
        snprintf(pub, sizeof pub, "%s.pub", r->ssh_key);
        if (access(pub, R_OK) == 0) go.ssh_pubkey = pub;
    }
    struct cpgo_gitrepo *g = NULL;
    struct cpgo_err e;
    int rc = cpgo_gitrepo_open(r->state_dir, &t->repo, &go, &g, &e);
    if (!rc) rc = cpgo_gitrepo_default_branch(g, branch, cap, &e);
    cpgo_gitrepo_close(g);
    char url[512];
    cpgo_url_mask(t->repo.url, url, sizeof url);
    if (rc) { /* gitrepo's lines name the repository and are scrubbed of the token */
        snprintf(why, wcap, "%s", e.text);
        return -1;
    }
    cpgo_log(CPGO_LVL_INFO, "default branch resolved", "repository", url, "branch", branch, NULL);
    return 0;
}

int cpgo_daemon_resolve_branches(struct cpgo_config **cfg, const char *state_dir,
                                 cpgo_daemon_cred_fn cred, void *cred_ctx,
                                 struct cpgo_config_errors *errs)
{
    if (errs) errs->lines = NULL, errs->n = 0;
    if (!cpgo_config_unresolved(*cfg)) return 0;
    struct resolve_ctx r = {
        .state_dir = state_dir,
        .ssh_key = (*cfg)->git.ssh_key,
        .timeout_s = (int)((*cfg)->git.timeout_ms / 1000),
        .cred = cred,
        .cred_ctx = cred_ctx,
    };
    return cpgo_config_resolve_branches(cfg, resolve_one, &r, errs);
}
