/* outdir.c - see outdir.h. */
#include "publish/outdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad_component(const char *s)
{
    if (!*s || !strcmp(s, ".") || !strcmp(s, "..") || s[0] == '/') return 1;
    /* no ".." path segment anywhere */
    for (const char *p = s; (p = strstr(p, "..")); p += 2)
        if ((p == s || p[-1] == '/') && (p[2] == 0 || p[2] == '/')) return 1;
    return 0;
}

int cpgo_outdir_path(const char *dir, const char *host, const char *repo_path,
                     const char *branch, const char *file, char *buf, size_t cap,
                     struct cpgo_err *err)
{
    if (bad_component(host) || bad_component(repo_path) || bad_component(branch) ||
        bad_component(file))
        return cpgo_err_set(err, CPGO_E_INPUT, "output path for %s/%s@%s:%s would leave %s",
                            host, repo_path, branch, file, dir);
    int n = snprintf(buf, cap, "%s/%s/%s/%s/%s", dir, host, repo_path, branch, file);
    if (n < 0 || (size_t)n >= cap) return cpgo_err_set(err, CPGO_E_INPUT, "output path too long");
    return 0;
}

int cpgo_outdir_publish(struct cpgo_tstate *ts, const char *path, const struct cpgo_merge_opts *mo,
                        const struct cpgo_limits *lim, struct cpgo_publish_info *info,
                        struct cpgo_err *err)
{
    memset(info, 0, sizeof *info);
    struct cpgo_merger *pending = cpgo_state_pending(ts);
    info->scrapes = cpgo_state_pending_scrapes(ts);
    if (!cpgo_state_has_pending(ts)) {
        info->nothing = 1;
        return 0;
    }
    cpgo_state_remove_stale_temps(path);
    unsigned char *old = NULL;
    size_t oldlen = 0;
    int rc = cpgo_state_read_file(path, lim->max_compressed, &old, &oldlen, err);
    if (rc && rc != CPGO_E_EMPTY) return rc;
    struct cpgo_merger *m = NULL;
    if (!old && cpgo_state_segments(ts) == 0) {
        /* Nothing to merge with: pending, built with the same trimming, is the result
         * (merging it into an empty merger would compact it to the same bytes). */
        m = pending;
    } else if (cpgo_merge_new(&m, mo)) {
        free(old);
        return cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    }
    rc = 0;
    if (old) {
        info->bytes_before = oldlen;
        struct cpgo_profile *p = NULL;
        rc = cpgo_profile_decode(old, oldlen, lim, &p, err);
        if (!rc) rc = cpgo_merge_add(m, p, err);
        cpgo_profile_free(p);
        if (rc) cpgo_err_prefix(err, "existing profile %s", path);
    }
    if (!rc && m != pending) {
        rc = cpgo_state_fold_pending(ts, m, err);
        if (rc) cpgo_err_prefix(err, "merging pending samples into %s", path);
    }
    struct cpgo_buf out = {0};
    if (!rc) rc = cpgo_merge_encode(m, 0, 1, &out, err);
    if (m != pending) cpgo_merge_free(m);
    if (!rc) {
        info->bytes_after = out.len;
        if (old && out.len == oldlen && !memcmp(out.data, old, oldlen)) {
            info->unchanged = 1; /* nothing to write; the pending scrapes are in it */
            rc = cpgo_state_publish_begin(ts, path, out.data, out.len, err);
            if (!rc) rc = cpgo_state_publish_commit(ts, err);
        } else {
            rc = cpgo_state_publish_begin(ts, path, out.data, out.len, err);
            if (!rc) {
                rc = cpgo_state_write_file(path, out.data, out.len, err);
                if (rc) cpgo_state_publish_abort(ts);
                else rc = cpgo_state_publish_commit(ts, err);
            }
        }
    }
    cpgo_buf_free(&out);
    free(old);
    return rc;
}
