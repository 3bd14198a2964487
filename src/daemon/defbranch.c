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
 * With github.app there is no GitHub token: the installation tokens of the GitHub
 * repositories to ask are minted first, with the app's key, on a private loop that lives
 * for this step only (publish/ghapp.h), and used as the forge job would use them.
 *
 * Thread: the main thread before the loop starts, or a pool thread (reload); never the
 * loop: every repository is a network round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/url.h"
#include "daemon/daemon_int.h"
#include "publish/ghapp.h"
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

/* ---- github.app: installation tokens for the resolution ------------------------------- */

struct mint {
    struct cpgo_app_tokens *at;
    size_t pending;
};

struct mint_one {
    struct mint *m;
    size_t i;
};

static void minted(const struct cpgo_ghapp_token *tk, void *arg)
{
    struct mint_one *o = arg;
    struct cpgo_app_token *v = &o->m->at->v[o->i];
    if (tk->cls == CPGO_CLASS_OK && tk->token)
        v->token = strdup(tk->token);
    else
        cpgo_log(CPGO_LVL_ERROR, "no installation token to ask the default branch with",
                 "repository", v->path, "error", tk->error, NULL);
    o->m->pending--;
}

static void scraper_closed(void *arg)
{
    *(int *)arg = 1;
}

void cpgo_daemon_app_tokens_free(struct cpgo_app_tokens *at)
{
    if (!at) return;
    for (size_t i = 0; i < at->n; i++)
        if (at->v[i].token) {
            explicit_bzero(at->v[i].token, strlen(at->v[i].token));
            free(at->v[i].token);
        }
    free(at->v);
    free(at);
}

struct cpgo_app_tokens *cpgo_daemon_app_tokens(const struct cpgo_config *cfg, const char *pem,
                                               size_t pem_len)
{
    if (!pem || cfg->github.app.app_id <= 0) return NULL;
    struct cpgo_app_tokens *at = calloc(1, sizeof *at);
    if (!at || !(at->v = calloc(cfg->ntargets ? cfg->ntargets : 1, sizeof *at->v))) {
        free(at);
        return NULL;
    }
    /* the distinct GitHub repositories (owner/repo) whose branch is not written */
    for (size_t i = 0; i < cfg->ntargets; i++) {
        const struct cpgo_target_cfg *t = &cfg->targets[i];
        const char *p = t->repo.path, *slash = p ? strchr(p, '/') : NULL;
        if (t->target_branch || !slash || strchr(slash + 1, '/') ||
            strlen(p) >= sizeof at->v[0].path ||
            cpgo_token_target_forge(cfg, t) != CPGO_PRAPI_GITHUB)
            continue;
        size_t j = 0;
        while (j < at->n && strcmp(at->v[j].path, p))
            j++;
        if (j == at->n) snprintf(at->v[at->n++].path, sizeof at->v[0].path, "%s", p);
    }
    if (!at->n) {
        cpgo_daemon_app_tokens_free(at);
        return NULL;
    }
    uv_loop_t loop;
    struct cpgo_scraper *scr = NULL;
    struct cpgo_ghapp *app = NULL;
    struct mint m = {at, 0};
    struct mint_one *ones = calloc(at->n, sizeof *ones);
    struct cpgo_scraper_opts so = {.user_agent = "cpgo/" CPGO_VERSION};
    const struct cpgo_github_app_cfg *ac = &cfg->github.app;
    struct cpgo_ghapp_opts o = {.api_url = cfg->github.api_url,
                                .app_id = ac->app_id,
                                .installation_id = ac->installation_id,
                                .pem = pem,
                                .pem_len = pem_len};
    struct cpgo_err e;
    if (uv_loop_init(&loop)) {
        free(ones);
        return at; /* no tokens: each repository is asked without one */
    }
    if (ones && !cpgo_scraper_new(&loop, &so, &scr) && !cpgo_ghapp_new(&loop, scr, &o, &app, &e)) {
        for (size_t i = 0; i < at->n; i++) {
            char owner[400];
            const char *slash = strchr(at->v[i].path, '/');
            snprintf(owner, sizeof owner, "%.*s", (int)(slash - at->v[i].path), at->v[i].path);
            ones[i] = (struct mint_one){&m, i};
            if (!cpgo_ghapp_get_token(app, owner, slash + 1, minted, &ones[i])) m.pending++;
        }
        /* every answer comes, at the latest after the REST client's timeouts and retries */
        while (m.pending && uv_run(&loop, UV_RUN_ONCE))
            ;
    } else if (ones && scr) {
        cpgo_log(CPGO_LVL_ERROR, "GitHub App: cannot ask for installation tokens", "error", e.text,
                 NULL);
    }
    int scr_closed = !scr;
    if (app) cpgo_ghapp_close(app, NULL, NULL);
    if (scr) cpgo_scraper_close(scr, scraper_closed, &scr_closed);
    while (uv_run(&loop, UV_RUN_DEFAULT))
        ;
    uv_loop_close(&loop);
    free(ones);
    return at;
}
