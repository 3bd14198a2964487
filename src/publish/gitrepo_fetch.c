/*
 * gitrepo_fetch.c - cpgo_gitrepo_fetch: target_branch and the head branch into the cache's
 * remote-tracking refs, incrementally and without tags; cpgo_gitrepo_default_branch: the
 * branch the remote's HEAD names, from the same connection and listing (`git ls-remote
 * --symref`); and the cache's upkeep (every fetch and push adds a pack: past a few dozen
 * they are repacked into one).
 * Thread: the caller's (a target's lane), inside one call (gitrepo_int.h).
 */
#include "publish/gitrepo_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Connects to the repository for fetching (credentials, deadline and proxy from
 * gitrepo_remote.c) and lists what it advertises, as `git ls-remote` does: 0 with the
 * remote (free it) and its heads, or the failure ("cannot <what> <url>: ...") with *remote
 * still to be freed (NULL is fine).
 */
static int connect_ls(struct call *c, git_remote **remote, git_remote_callbacks *cbs,
                      git_proxy_options *proxy, const git_remote_head ***heads, size_t *nheads,
                      const char *what)
{
    struct cpgo_gitrepo *g = c->g;
    *remote = NULL;
    gitrepo_callbacks(c, cbs);
    gitrepo_proxy_opts(proxy);
    gitrepo_arm_deadline(c);
    struct stat st;
    if (g->kind == CPGO_REPO_FILE && stat(gitrepo_local_path(g->url), &st) && errno == ENOENT)
        /* libgit2 would call a missing path "unsupported URL protocol" */
        return gitrepo_fail(c, CPGO_CLASS_NOT_FOUND, "repository %s does not exist", g->url);
    int rc;
    if ((rc = gitrepo_anon_remote(c, remote)) < 0)
        return gitrepo_gfail(c, CPGO_CLASS_INTERNAL_RETRY, rc, "cannot %s %s", what, g->url);
    if ((rc = git_remote_connect(*remote, GIT_DIRECTION_FETCH, cbs, proxy, NULL)) < 0)
        return gitrepo_gfail(c,
                             g->kind == CPGO_REPO_FILE && rc == GIT_ENOTFOUND ? CPGO_CLASS_NOT_FOUND
                                                                              : CPGO_CLASS_NETWORK,
                             rc, "cannot %s %s", what, g->url);
    if ((rc = git_remote_ls(heads, nheads, *remote)) < 0)
        return gitrepo_gfail(c, CPGO_CLASS_NETWORK, rc, "cannot list the branches of %s", g->url);
    return 0;
}

int cpgo_gitrepo_default_branch(struct cpgo_gitrepo *g, char *out, size_t cap, struct cpgo_err *err)
{
    if (cap) out[0] = 0;
    struct call c;
    int rc = gitrepo_begin(&c, g, err);
    git_remote *remote = NULL;
    if (rc) goto out;
    git_remote_callbacks cbs;
    git_proxy_options proxy;
    const git_remote_head **heads = NULL;
    size_t nheads = 0;
    if ((rc = connect_ls(&c, &remote, &cbs, &proxy, &heads, &nheads, "ask for the HEAD of")))
        goto out;
    const git_remote_head *h = NULL;
    for (size_t i = 0; i < nheads && !h; i++)
        if (!strcmp(heads[i]->name, "HEAD")) h = heads[i];
    /* git and libgit2 advertise HEAD only when it names an existing commit; smart servers
     * add its symref (protocol v0's symref capability), local repositories their own */
    static const char prefix[] = "refs/heads/";
    if (!h) {
        rc = gitrepo_fail(&c, CPGO_CLASS_NOT_FOUND,
                          "%s has no HEAD (an empty repository, or HEAD names a branch that "
                          "does not exist yet)",
                          g->url);
    } else if (!h->symref_target || strncmp(h->symref_target, prefix, sizeof prefix - 1) ||
               !h->symref_target[sizeof prefix - 1]) {
        rc = gitrepo_fail(&c, CPGO_CLASS_NOT_FOUND, "the HEAD of %s is not a branch (%s)", g->url,
                          h->symref_target ? "it names a ref outside refs/heads/"
                                           : "detached, or the server does not say which");
    } else if (strlen(h->symref_target + sizeof prefix - 1) >= cap) {
        rc = gitrepo_fail(&c, CPGO_CLASS_CONTENT, "the HEAD of %s names a branch too long", g->url);
    } else {
        snprintf(out, cap, "%s", h->symref_target + sizeof prefix - 1);
        rc = 0;
    }
out:
    git_remote_free(remote);
    gitrepo_end(&c);
    return rc;
}

int cpgo_gitrepo_fetch(struct cpgo_gitrepo *g, const char *target_branch, const char *head_branch,
                       struct cpgo_git_tips *tips, struct cpgo_err *err)
{
    memset(tips, 0, sizeof *tips);
    struct call c;
    int rc = gitrepo_begin(&c, g, err);
    if (rc) goto out;
    char tref[512], tdst[512], href[512], hdst[512];
    if ((rc = gitrepo_ref_name(&c, tref, sizeof tref, "refs/heads/", target_branch)) ||
        (rc = gitrepo_ref_name(&c, tdst, sizeof tdst, TRACKING_PREFIX, target_branch)))
        goto out;
    if ((rc = gitrepo_check_branches(&c, target_branch, head_branch))) goto out;
    if (head_branch &&
        ((rc = gitrepo_ref_name(&c, href, sizeof href, "refs/heads/", head_branch)) ||
         (rc = gitrepo_ref_name(&c, hdst, sizeof hdst, TRACKING_PREFIX, head_branch))))
        goto out;

    git_remote *remote = NULL;
    git_remote_callbacks cbs;
    git_proxy_options proxy;
    const git_remote_head **heads = NULL;
    size_t nheads = 0;
    if ((rc = connect_ls(&c, &remote, &cbs, &proxy, &heads, &nheads, "fetch from")))
        goto out_remote;
    git_oid base, head;
    int have_base = 0, have_head = 0;
    for (size_t i = 0; i < nheads; i++) {
        if (!strcmp(heads[i]->name, tref)) {
            base = heads[i]->oid;
            have_base = 1;
        } else if (head_branch && !strcmp(heads[i]->name, href)) {
            head = heads[i]->oid;
            have_head = 1;
        }
    }
    if (!have_base) {
        rc = gitrepo_fail(&c, CPGO_CLASS_NOT_FOUND, "branch '%s' does not exist in %s",
                          target_branch, g->url);
        goto out_remote;
    }
    char spec_t[1100], spec_h[1100];
    char *specv[2] = {spec_t, spec_h};
    snprintf(spec_t, sizeof spec_t, "+%s:%s", tref, tdst);
    if (have_head) snprintf(spec_h, sizeof spec_h, "+%s:%s", href, hdst);
    git_strarray specs = {specv, have_head ? 2 : 1};
    git_fetch_options fo;
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    fo.callbacks = cbs;
    fo.proxy_opts = proxy;
    fo.prune = GIT_FETCH_NO_PRUNE;
    fo.update_fetchhead = 0;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    if ((rc = git_remote_download(remote, &specs, &fo)) < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_NETWORK, rc, "cannot fetch branch '%s' from %s",
                           target_branch, g->url);
        goto out_remote;
    }
    git_remote_disconnect(remote);
    /* The refs are set from what was advertised rather than through update_tips: the
       outcome is then the same for every transport, and checked. */
    git_odb *odb = NULL;
    if ((rc = git_repository_odb(&odb, c.repo)) < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_LOCAL, rc, "cannot open the cache %s", g->cache);
        goto out_remote;
    }
    int complete = git_odb_exists(odb, &base) && (!have_head || git_odb_exists(odb, &head));
    git_odb_free(odb);
    if (!complete) {
        rc = gitrepo_fail(&c, CPGO_CLASS_NETWORK, "fetching from %s did not bring the branch tips",
                          g->url);
        goto out_remote;
    }
    git_reference *ref = NULL;
    if ((rc = git_reference_create(&ref, c.repo, tdst, &base, 1, "cpgo: fetch")) < 0) {
        rc = gitrepo_gfail(&c, CPGO_CLASS_LOCAL, rc, "cannot record branch '%s' in %s",
                           target_branch, g->cache);
        goto out_remote;
    }
    git_reference_free(ref);
    ref = NULL;
    if (head_branch) {
        if (have_head)
            rc = git_reference_create(&ref, c.repo, hdst, &head, 1, "cpgo: fetch");
        else if ((rc = git_reference_remove(c.repo, hdst)) == GIT_ENOTFOUND)
            rc = 0;
        if (rc < 0) {
            rc = gitrepo_gfail(&c, CPGO_CLASS_LOCAL, rc, "cannot record branch '%s' in %s",
                               head_branch, g->cache);
            goto out_remote;
        }
        git_reference_free(ref);
    }
    gitrepo_oid_hex(tips->base, &base);
    tips->head_exists = have_head;
    gitrepo_oid_hex(tips->head, have_head ? &head : NULL);
    gitrepo_maybe_repack(&c); /* each incremental fetch adds a pack too */
    rc = 0;
out_remote:
    git_remote_free(remote);
out:
    gitrepo_end(&c);
    return rc;
}

/*
 * The cache gains a pack per fetch and per regenerated commit, and force-pushes leave the
 * old commits unreachable: without upkeep the packs pile up and every object lookup opens
 * them all (measured: a thousand packs after a ten-minute soak, publishing ever slower).
 * Past CACHE_MAX_PACKS, the objects reachable from the fetched branches are written into
 * one new pack (libgit2's packbuilder) and the packs that existed before are deleted --
 * what `git gc` does for a clone. The cache is locked for the whole call.
 */
#define CACHE_MAX_PACKS 24

static void pack_names(const char *dir, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    size_t cap = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strncmp(e->d_name, "pack-", 5) || strcmp(e->d_name + l - 5, ".pack")) continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nv = realloc(*out, nc * sizeof *nv);
            if (!nv) break;
            *out = nv;
            cap = nc;
        }
        if (((*out)[*n] = strndup(e->d_name, l - 5))) (*n)++;
    }
    closedir(d);
}

void gitrepo_maybe_repack(struct call *c)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/objects/pack", c->g->cache);
    char **old;
    size_t n;
    pack_names(dir, &old, &n);
    if (n > CACHE_MAX_PACKS) {
        git_packbuilder *pb = NULL;
        git_revwalk *w = NULL;
        int rc = git_packbuilder_new(&pb, c->repo);
        if (rc >= 0) git_packbuilder_set_threads(pb, 1);
        if (rc >= 0) rc = git_revwalk_new(&w, c->repo);
        if (rc >= 0) rc = git_revwalk_push_glob(w, "refs/remotes/*");
        if (rc >= 0) rc = git_packbuilder_insert_walk(pb, w);
        if (rc >= 0) rc = git_packbuilder_write(pb, NULL, 0, NULL, NULL);
        if (rc >= 0) {
            const char *keep = git_packbuilder_name(pb);
            for (size_t i = 0; i < n; i++) {
                if (keep && !strcmp(old[i] + 5, keep)) continue;
                static const char *const ext[] = {".pack", ".idx", ".rev", ".keep"};
                for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++) {
                    char f[4500];
                    snprintf(f, sizeof f, "%s/%s%s", dir, old[i], ext[k]);
                    unlink(f);
                }
            }
            git_odb *odb = NULL;
            if (git_repository_odb(&odb, c->repo) >= 0) {
                git_odb_refresh(odb);
                git_odb_free(odb);
            }
        }
        /* a failed repack changes nothing: the old packs are all still there */
        git_revwalk_free(w);
        git_packbuilder_free(pb);
        git_error_clear();
    }
    for (size_t i = 0; i < n; i++)
        free(old[i]);
    free(old);
}
