/*
 * options.c - what `cpgo run`'s options mean beyond their parsing (daemon.h): which targets a
 * replica owns with --shard I/N (or CPGO_SHARD), and whether --output DIR can hold every
 * target (each path valid, no two sharing a file). `cpgo check-config --output` runs the
 * same check, so a layout it accepts is one `cpgo run` accepts.
 *
 * Thread: any (pure functions of their arguments).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "base/err.h"
#include "base/hash.h"
#include "config/config.h"
#include "daemon/daemon.h"
#include "publish/outdir.h"

int cpgo_daemon_parse_shard(const char *s, unsigned *index, unsigned *count)
{
    char *end;
    if (!s || !isdigit((unsigned char)s[0])) return -1;
    errno = 0;
    unsigned long i = strtoul(s, &end, 10);
    if (errno || *end != '/' || !isdigit((unsigned char)end[1])) return -1;
    unsigned long n = strtoul(end + 1, &end, 10);
    if (errno || *end || n == 0 || n > 65536 || i >= n) return -1;
    *index = (unsigned)i;
    *count = (unsigned)n;
    return 0;
}

int cpgo_daemon_owns(const struct cpgo_run_opts *o, const char *target_id)
{
    if (o->shard_count <= 1) return 1;
    /* the id is the FNV-1a hash of the target key, stable across replicas and releases;
     * FNV's low bits depend on the key's low bits only, so it is mixed (splitmix64's
     * finalizer) before the modulo, or N = 2^k would group similar names */
    return cpgo_hash_fmix64(strtoull(target_id, NULL, 16)) % o->shard_count == o->shard_index;
}

int cpgo_daemon_check_output(const char *dir, const struct cpgo_config *cfg, struct cpgo_err *err)
{
    size_t n = cfg->ntargets;
    if (n == 0) return 0;
    char **paths = calloc(n, sizeof *paths);
    const char **keys = calloc(n, sizeof *keys);
    int rc = paths && keys ? 0 : cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        const struct cpgo_target_cfg *tc = &cfg->targets[i];
        keys[i] = tc->key;
        if (!(paths[i] = malloc(4096))) {
            rc = cpgo_err_set(err, CPGO_E_NOMEM, "out of memory");
            break;
        }
        /* an unresolved default branch (check-config) is shown as "<default>"; `cpgo run`
         * checks again once it is resolved */
        rc = cpgo_outdir_path(dir, tc->repo.host, tc->repo.path,
                              tc->target_branch ? tc->target_branch : CPGO_CONFIG_DEFAULT_BRANCH,
                              tc->target_file, paths[i], 4096, err);
        if (rc) cpgo_err_prefix(err, "target %s", tc->key);
    }
    if (!rc) rc = cpgo_outdir_check_layout(n, keys, (const char *const *)paths, err);
    for (size_t i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
    free(keys);
    if (rc) cpgo_err_prefix(err, "--output %s", dir);
    return rc;
}
