/* outdir.c - see outdir.h. */
#include "publish/outdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"

static int bad_component(const char *s)
{
    if (!*s || !strcmp(s, ".") || !strcmp(s, "..") || s[0] == '/') return 1;
    /* no ".." path segment anywhere */
    for (const char *p = s; (p = strstr(p, "..")); p += 2)
        if ((p == s || p[-1] == '/') && (p[2] == 0 || p[2] == '/')) return 1;
    return 0;
}

int cpgo_outdir_path(const char *dir, const char *host, const char *repo_path, const char *branch,
                     const char *file, char *buf, size_t cap, struct cpgo_err *err)
{
    if (bad_component(host) || bad_component(repo_path) || bad_component(branch) ||
        bad_component(file))
        return cpgo_err_set(err, CPGO_E_INPUT, "output path for %s/%s@%s:%s would leave %s", host,
                            repo_path, branch, file, dir);
    int n = snprintf(buf, cap, "%s/%s/%s/%s/%s", dir, host, repo_path, branch, file);
    if (n < 0 || (size_t)n >= cap) return cpgo_err_set(err, CPGO_E_INPUT, "output path too long");
    return 0;
}

/* Opens DIR itself, creating it and its missing parents. DIR and its parents are the
 * user's path: links there are followed (only what is below DIR is untrusted). */
static int open_root(const char *dir, struct cpgo_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        char p[4096];
        int n = snprintf(p, sizeof p, "%s", dir);
        if (n < 0 || (size_t)n >= sizeof p)
            return cpgo_err_set(err, CPGO_E_USAGE, "--output %s: path too long", dir);
        for (char *q = p + 1; *q; q++) {
            if (*q != '/') continue;
            *q = '\0';
            if (mkdir(p, 0755) && errno != EEXIST) break;
            *q = '/';
        }
        if (mkdir(p, 0755) && errno != EEXIST)
            return cpgo_err_set(err, CPGO_E_IO, "cannot create --output %s: %s", dir,
                                strerror(errno));
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0)
        return cpgo_err_set(err, CPGO_E_IO, "cannot open --output %s: %s", dir, strerror(errno));
    return fd;
}

/* Removes "<base>.tmp-*" in dfd that a killed writer left behind (never renamed, so by the
 * state protocol never published). Only this target's lane writes this file. */
static void remove_stale_temps(int dfd, const char *base)
{
    int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return;
    }
    size_t bl = strlen(base);
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, base, bl) && !strncmp(e->d_name + bl, ".tmp-", 5))
            unlinkat(dfd, e->d_name, 0);
    closedir(d);
}

/* Opens the directory that holds the output file (creating what is missing below DIR,
 * never following a link there) and points *base at the file's name in `path`. */
static int open_parent(const char *dir, const char *path, const char **base, struct cpgo_err *err)
{
    size_t dl = strlen(dir);
    if (strncmp(path, dir, dl) || path[dl] != '/')
        return cpgo_err_set(err, CPGO_E_USAGE, "output path %s is not below %s", path, dir);
    const char *rel = path + dl;
    while (*rel == '/')
        rel++;
    const char *slash = strrchr(rel, '/');
    if (!slash || !slash[1])
        return cpgo_err_set(err, CPGO_E_USAGE, "output path %s has no file name", path);
    char parent[4096];
    size_t pl = (size_t)(slash - rel);
    if (pl >= sizeof parent)
        return cpgo_err_set(err, CPGO_E_USAGE, "output path %s is too long", path);
    memcpy(parent, rel, pl);
    parent[pl] = '\0';
    int root = open_root(dir, err);
    if (root < 0) return root;
    int fd = cpgo_file_mkdirs_at(root, parent, 0755, err);
    close(root);
    if (fd < 0) {
        cpgo_err_prefix(err, "--output %s", dir);
        return fd;
    }
    *base = slash + 1;
    return fd;
}

struct kp {
    const char *key, *path;
};

static int cmp_path(const void *a, const void *b)
{
    return strcmp(((const struct kp *)a)->path, ((const struct kp *)b)->path);
}

int cpgo_outdir_check_layout(size_t n, const char *const *keys, const char *const *paths,
                             struct cpgo_err *err)
{
    if (n < 2) return 0;
    struct kp *v = malloc(n * sizeof *v);
    if (!v) return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        v[i] = (struct kp){keys[i], paths[i]};
    qsort(v, n, sizeof *v, cmp_path);
    /* sorted, a path that is another's directory sorts before the paths below it
     * ("a/b" < "a/b/c"), with possibly other "a/b..." names in between ("a/b.x") */
    int rc = 0;
    for (size_t k = 0; k + 1 < n && !rc; k++) {
        size_t pl = strlen(v[k].path);
        for (size_t m = k + 1; m < n && !rc; m++) {
            const char *q = v[m].path;
            if (strncmp(v[k].path, q, pl)) break;
            if (q[pl] == 0)
                rc = cpgo_err_set(err, CPGO_E_INPUT,
                                  "targets %s and %s would write the same output file %s", v[k].key,
                                  v[m].key, q);
            else if (q[pl] == '/')
                rc = cpgo_err_set(err, CPGO_E_INPUT,
                                  "target %s's output file %s would be a directory of target "
                                  "%s's output %s",
                                  v[k].key, v[k].path, v[m].key, q);
        }
    }
    free(v);
    return rc;
}

/* Dry run: the directory holding the output file, opened without creating anything and
 * without following a link below DIR; CPGO_E_EMPTY when a component does not exist yet. */
static int open_parent_ro(const char *dir, const char *path, const char **base,
                          struct cpgo_err *err)
{
    size_t dl = strlen(dir);
    if (strncmp(path, dir, dl) || path[dl] != '/')
        return cpgo_err_set(err, CPGO_E_USAGE, "output path %s is not below %s", path, dir);
    const char *rel = path + dl;
    while (*rel == '/')
        rel++;
    const char *slash = strrchr(rel, '/');
    if (!slash || !slash[1])
        return cpgo_err_set(err, CPGO_E_USAGE, "output path %s has no file name", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CPGO_E_EMPTY
                               : cpgo_err_set(err, CPGO_E_IO, "cannot open --output %s: %s", dir,
                                              strerror(errno));
    for (const char *c = rel; c < slash;) {
        const char *e = memchr(c, '/', (size_t)(slash - c));
        if (!e) e = slash;
        char name[1024];
        if ((size_t)(e - c) >= sizeof name) {
            close(fd);
            return cpgo_err_set(err, CPGO_E_USAGE, "output path %s is too long", path);
        }
        memcpy(name, c, (size_t)(e - c));
        name[e - c] = 0;
        int nfd = name[0] ? cpgo_file_opendir(fd, name, err) : fd;
        if (nfd != fd) close(fd);
        if (nfd < 0) return nfd;
        fd = nfd;
        c = e + 1;
    }
    *base = slash + 1;
    return fd;
}

static int fold_pending(void *ts, struct cpgo_merger *m, struct cpgo_err *err)
{
    return cpgo_state_fold_pending(ts, m, err);
}

int cpgo_outdir_publish(struct cpgo_tstate *ts, const char *dir, const char *path,
                        const struct cpgo_outdir_req *req, struct cpgo_publish_info *info,
                        struct cpgo_err *err)
{
    memset(info, 0, sizeof *info);
    /* the existing file merges many scrapes: the per-scrape limits do not bound it */
    struct cpgo_limits mlim;
    cpgo_limits_merged(&req->lim, &mlim);
    info->scrapes = cpgo_state_pending_scrapes(ts);
    if (!cpgo_state_has_pending(ts)) {
        info->nothing = 1;
        return 0;
    }
    struct cpgo_state_meta meta;
    cpgo_state_pending_meta(ts, &meta);
    info->instances = meta.instances;
    const char *base = NULL;
    int pfd =
        req->dry_run ? open_parent_ro(dir, path, &base, err) : open_parent(dir, path, &base, err);
    if (pfd < 0 && !(req->dry_run && pfd == CPGO_E_EMPTY)) return pfd;
    if (!req->dry_run) remove_stale_temps(pfd, base);
    unsigned char *old = NULL;
    size_t oldlen = 0;
    int64_t mtime = 0;
    int rc = 0;
    if (pfd >= 0) {
        /* a symlink, FIFO, socket or device there is refused at once (base/file.h) */
        rc = cpgo_file_read_at(pfd, base, mlim.max_compressed, &old, &oldlen, err);
        if (rc && rc != CPGO_E_EMPTY) {
            cpgo_err_prefix(err, "--output %s", path);
            close(pfd);
            return rc;
        }
        struct stat st;
        if (old && fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) mtime = (int64_t)st.st_mtime;
    }
    struct cpgo_profile *p = NULL;
    struct cpgo_candidate c = {0};
    rc = 0;
    if (old) {
        info->bytes_before = oldlen;
        rc = cpgo_profile_decode(old, oldlen, &mlim, &p, err);
        if (rc) cpgo_err_prefix(err, "existing profile %s", path);
    }
    if (!rc) {
        struct cpgo_candidate_in in = {
            .mo = req->mo,
            .pgo = &req->pgo,
            .lim = &mlim,
            .now_s = req->now_s ? req->now_s : cpgo_candidate_now(),
            .existing = p,
            .existing_name = "the existing file",
            .existing_changed_s = mtime, /* no git history here: the file's own time */
            .fold = fold_pending,
            .fold_arg = ts,
        };
        rc = cpgo_candidate_build(&in, &c, err);
        if (rc && c.failed == CPGO_CAND_EXISTING)
            cpgo_err_prefix(err, "existing profile %s", path);
        else if (rc && c.failed == CPGO_CAND_PENDING)
            cpgo_err_prefix(err, "merging pending samples into %s", path);
        else if (rc)
            cpgo_err_prefix(err, "%s", path);
        info->decay = c.decay;
        info->age_s = c.age_s;
        info->tvd = c.tvd;
        info->hot_added = c.nadded;
        info->hot_removed = c.nremoved;
        snprintf(info->change, sizeof info->change, "%s", c.why);
        if (c.go_skipped) snprintf(info->go_note, sizeof info->go_note, "%s", c.go_why);
    }
    cpgo_profile_free(p);
    if (!rc) {
        info->bytes_after = c.out.len;
        if (!c.worth) {
            info->small_change = 1; /* nothing written; pending stays pending */
        } else if (req->dry_run) {
            info->out = c.out; /* the caller shows it; nothing is written */
            memset(&c.out, 0, sizeof c.out);
        } else if (old && c.out.len == oldlen && !memcmp(c.out.data, old, oldlen)) {
            info->unchanged = 1; /* nothing to write; the pending scrapes are in it */
            rc = cpgo_state_publish_begin(ts, path, c.out.data, c.out.len, err);
            if (!rc) rc = cpgo_state_publish_commit(ts, err);
        } else {
            rc = cpgo_state_publish_begin(ts, path, c.out.data, c.out.len, err);
            if (!rc) {
                /* relative to the directory opened above: a link planted since is not
                 * followed, and the rename replaces whatever is at the name */
                rc = cpgo_file_write_at(pfd, base, c.out.data, c.out.len, 0644, err);
                if (rc) {
                    cpgo_err_prefix(err, "--output %s", dir);
                    cpgo_state_publish_abort(ts);
                } else {
                    rc = cpgo_state_publish_commit(ts, err);
                }
            }
        }
    }
    cpgo_candidate_free(&c);
    free(old);
    if (pfd >= 0) close(pfd);
    return rc;
}
