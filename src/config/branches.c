/*
 * branches.c - the repository's default branch for targets that do not write
 * target_branch (config.h, cpgo_config_resolve_branches).
 *
 * A load cannot resolve it: that is network I/O, and it needs the credentials the loaded
 * configuration names (github.token_env...). So a load leaves such branches NULL (the
 * target key says "@<default>", which check-config shows), keeps the text, and this step
 * asks the caller's resolver once per repository and loads the same text again with the
 * answers. The second load is the ordinary one: the answers go where a written
 * target_branch goes, before targets are grouped, so identity, head branches, collisions
 * and every rule that spans keys are decided by the one code path that decides them for
 * written branches.
 *
 * Thread: any but the loop's (the resolver blocks); one call owns its configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

/* Where a target's first member starts, and its path and name for a message. */
static struct pos first_member(const struct cpgo_config *cfg, const struct cpgo_target_cfg *t,
                               char *who, size_t cap)
{
    char sh[SHOW_MAX + 8];
    if (t->nbackends) {
        const struct cpgo_backend_cfg *b = &cfg->backends[t->backends[0]];
        snprintf(who, cap, "backends[%zu] (%s)", t->backends[0],
                 cpgo_config_show(b->name ? b->name : "", sh, sizeof sh));
        return (struct pos){b->line, b->column};
    }
    const struct cpgo_service_cfg *s = &cfg->services[t->services[0]];
    snprintf(who, cap, "services[%zu] (%s)", t->services[0],
             cpgo_config_show(s->name ? s->name : "", sh, sizeof sh));
    return (struct pos){s->line, s->column};
}

static void branches_free(struct branches *br)
{
    for (size_t i = 0; i < br->n; i++) {
        free(br->keys[i]);
        free(br->names[i]);
    }
    free(br->keys);
    free(br->names);
    cpgo_strmap_free(&br->map);
}

int cpgo_config_resolve_branches(struct cpgo_config **cfgp, cpgo_config_branch_fn fn, void *fctx,
                                 struct cpgo_config_errors *errs)
{
    struct cpgo_config *cfg = *cfgp;
    if (errs) errs->lines = NULL, errs->n = 0;
    size_t want = cpgo_config_unresolved(cfg);
    if (!want) return 0;
    if (!cfg->source) return CPGO_E_NOMEM; /* a load keeps it whenever one is unresolved */
    struct ctx c = {.name = cfg->source->name};
    struct branches br = {0};
    char **whys = NULL;
    if (!(br.names = calloc(want, sizeof *br.names)) ||
        !(br.keys = calloc(want, sizeof *br.keys)) || !(whys = calloc(want, sizeof *whys)))
        c.nomem = 1;
    for (size_t ti = 0; ti < cfg->ntargets && !c.nomem; ti++) {
        const struct cpgo_target_cfg *t = &cfg->targets[ti];
        if (t->target_branch) continue;
        char *k = cpgo_config_repo_key(&t->repo);
        if (!k) {
            c.nomem = 1;
            break;
        }
        size_t *known = cpgo_strmap_get(&br.map, k);
        size_t i = known ? *known : br.n;
        if (!known) { /* the first target of this repository asks; the others share it */
            char branch[CPGO_CONFIG_BRANCH_MAX + 2], why[512] = "";
            size_t idx = br.n++;
            br.keys[idx] = k; /* the map borrows it */
            if (cpgo_strmap_put(&br.map, k, idx)) c.nomem = 1;
            branch[0] = 0;
            const char *bad = NULL;
            if (fn(fctx, t, branch, sizeof branch, why, sizeof why)) {
                if (!why[0]) snprintf(why, sizeof why, "unknown failure");
            } else if (!strncmp(branch, "cpgo/", 5)) {
                /* a local repository's HEAD is what its working tree has checked out: a
                 * person looking at cpgo's proposal, not the branch to propose to */
                char sh[SHOW_MAX + 8];
                snprintf(why, sizeof why,
                         "its HEAD is '%s', a cpgo head branch (checked out in its working "
                         "tree?), not a branch to propose to",
                         cpgo_config_show(branch, sh, sizeof sh));
            } else if ((bad = cpgo_config_branch_problem(branch))) {
                char sh[SHOW_MAX + 8];
                snprintf(why, sizeof why,
                         "its HEAD names '%s', which is not a valid branch name (%s)",
                         cpgo_config_show(branch, sh, sizeof sh), bad);
            } else if (!(br.names[idx] = strdup(branch))) {
                c.nomem = 1;
            }
            if (why[0] && !(whys[idx] = strdup(why))) c.nomem = 1;
        }
        if (known) free(k);
        if (c.nomem || br.names[i]) continue;
        char who[160], url[SHOW_MAX + 8];
        struct pos p = first_member(cfg, t, who, sizeof who);
        cpgo_config_add_error(&c, p.line, p.col,
                              "%s: open_pull_request.target_branch is not set, and the default "
                              "branch of %s (its HEAD) could not be resolved: %s; set "
                              "target_branch",
                              who, cpgo_config_show_url(t->repo.url, url, sizeof url),
                              whys[i] ? whys[i] : "unknown failure");
    }
    int rc = c.nomem ? CPGO_E_NOMEM : c.nerr ? CPGO_E_INPUT : 0;
    struct cpgo_config *nc = NULL;
    if (!rc) {
        /* the second load: its errors (what the resolved branches make invalid) are the
         * answer; c has none */
        const struct cpgo_config_source *s = cfg->source;
        rc = cpgo_config_parse_with(s->text, s->len, s->name, s->base_dir, &br, &nc, errs);
        if (!rc && cpgo_config_unresolved(nc)) { /* every repository was answered above */
            cpgo_config_free(nc);
            nc = NULL;
            cpgo_config_add_error(&c, 0, 0, "a default branch stayed unresolved (internal error)");
            rc = CPGO_E_INPUT;
        }
    }
    if (rc && !(errs && errs->n))
        cpgo_config_export_errors(&c, errs);
    else
        cpgo_config_export_errors(&c, NULL); /* frees what c holds */
    for (size_t i = 0; whys && i < br.n; i++)
        free(whys[i]);
    free(whys);
    branches_free(&br);
    if (rc) return rc;
    cpgo_config_free(cfg);
    *cfgp = nc;
    return 0;
}
