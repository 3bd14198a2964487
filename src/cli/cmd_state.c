/*
 * cmd_state.c - `cpgo state`: what a state directory holds, per target (pending scrapes,
 * pushed segments, what is published, problems recovery found), read-only and without the
 * lock, so it runs beside the daemon. `--ack TARGET` clears a target's problems once a
 * person has looked: it takes the state directory's lock, so the daemon must be stopped.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "base/log.h"
#include "config/config.h"
#include "state/state.h"

#define CMD "state"

/* The unresolved target (target_branch not written) whose state directory this key names
 * once resolved: "<host>/<path>@<branch>:<file>" with its repository and file (a branch
 * has no ':'), or NULL. */
static const struct cpgo_target_cfg *default_of(const struct cpgo_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->ntargets; i++) {
        const struct cpgo_target_cfg *t = &cfg->targets[i];
        if (t->target_branch) continue;
        size_t hl = strlen(t->repo.host), pl = strlen(t->repo.path), fl = strlen(t->target_file);
        size_t kl = strlen(key);
        if (kl < hl + 1 + pl + 1 + 1 + 1 + fl || strncmp(key, t->repo.host, hl) || key[hl] != '/' ||
            strncmp(key + hl + 1, t->repo.path, pl) || key[hl + 1 + pl] != '@')
            continue;
        const char *branch = key + hl + 1 + pl + 1, *colon = strchr(branch, ':');
        if (colon && colon > branch && !strcmp(colon + 1, t->target_file)) return t;
    }
    return NULL;
}

static void print_target(const struct cpgo_config *cfg, const char *id, const char *key,
                         const struct cpgo_trim *trim, int *problems)
{
    struct cpgo_merge_opts mo;
    memset(&mo, 0, sizeof mo);
    if (trim) mo.trim = *trim;
    struct cpgo_tstate *ts;
    struct cpgo_err err;
    int rc = cpgo_state_open_ro(cfg->state_dir, id, &mo, &cfg->limits.profile, &ts, &err);
    printf("target %s\n  id: %s\n", key, id);
    if (rc == CPGO_E_EMPTY) {
        printf("  state: none yet (never scraped)\n");
        return;
    }
    if (rc) {
        printf("  state: unreadable: %s\n", err.text);
        (*problems)++;
        return;
    }
    struct cpgo_state_meta m;
    cpgo_state_pending_meta(ts, &m);
    printf("  pending scrapes: %" PRIu64 " (from %zu instances)\n", m.scrapes, m.instances);
    printf("  published up to sequence: %" PRIu64 "\n", cpgo_state_published_seq(ts));
    size_t ns = cpgo_state_segments(ts);
    printf("  pushed segments: %zu\n", ns);
    for (size_t i = 0; i < ns; i++) {
        uint64_t upto, scrapes;
        size_t nb;
        cpgo_state_segment(ts, i, &upto, &scrapes, &nb);
        printf("    up to sequence %" PRIu64 ": %" PRIu64 " scrapes, %zu pushed blob(s)%s\n", upto,
               scrapes, nb, nb ? "" : " (unknown: cannot settle by itself)");
    }
    size_t np = cpgo_state_problem_count(ts);
    if (cpgo_state_corrupt_records(ts))
        printf("  damaged journal records: %" PRIu64 "\n", cpgo_state_corrupt_records(ts));
    printf("  problems: %zu%s\n", np, cpgo_state_held(ts) ? " (publishing held)" : "");
    for (size_t i = 0; i < np; i++) {
        int hold;
        const char *w = cpgo_state_problem(ts, i, &hold);
        printf("    - %s%s\n", w, hold ? " [holds publishing]" : "");
    }
    if (np) {
        printf("  after looking: cpgo state -c %s --ack %s\n", cfg->path ? cfg->path : "FILE", id);
        (*problems)++;
    }
    cpgo_state_close(ts);
}

int cpgo_cmd_state(int argc, char **argv)
{
    const char *path = "config.yaml", *ack = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (CPGO_CLI_IS_HELP(a)) return cpgo_cli_help_flag(CMD);
        int copt = cpgo_cli_config_option(CMD, argc, argv, &i, &path);
        if (copt < 0) return CPGO_EXIT_INVALID;
        if (copt > 0) {
            continue;
        } else if (!strcmp(a, "--ack")) {
            if (i + 1 >= argc) return cpgo_cli_usage_error(CMD, "--ack needs a target id or key");
            ack = argv[++i];
        } else {
            return cpgo_cli_usage_error(CMD, "unknown option %.64s", a);
        }
    }
    /* log lines recovery writes (damage found) go to stderr; the report to stdout */
    cpgo_log_setup(CPGO_LVL_ERROR, 0, 2);
    struct cpgo_config *cfg = NULL;
    struct cpgo_config_errors errs = {0};
    int rc = cpgo_config_load(path, &cfg, &errs);
    if (rc) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "cpgo state: %s\n", errs.lines[i]);
        cpgo_config_errors_free(&errs);
        return CPGO_EXIT_INVALID;
    }
    cpgo_config_errors_free(&errs);
    struct cpgo_err err;
    if (ack) {
        const char *id = NULL;
        for (size_t i = 0; i < cfg->ntargets && !id; i++)
            if (!strcmp(cfg->targets[i].id, ack) || !strcmp(cfg->targets[i].key, ack))
                id = cfg->targets[i].id;
        if (!id) {
            int hex = strlen(ack) == 16 && strspn(ack, "0123456789abcdef") == 16;
            if (!hex) {
                fprintf(stderr, "cpgo state: no target %s in %s (give its id or key)\n", ack, path);
                cpgo_config_free(cfg);
                return CPGO_EXIT_INVALID;
            }
            id = ack; /* a target no longer configured */
        }
        int lock = -1;
        size_t cleared = 0;
        if (cpgo_state_dir_prepare(cfg->state_dir, 0, &err) ||
            cpgo_state_lock(cfg->state_dir, &lock, &err) ||
            cpgo_state_ack(cfg->state_dir, id, &cleared, &err)) {
            fprintf(stderr, "cpgo state: %s\n", err.text);
            cpgo_state_unlock(lock);
            cpgo_config_free(cfg);
            return CPGO_EXIT_FAIL;
        }
        cpgo_state_unlock(lock);
        printf("%zu problem(s) of target %s acknowledged; the moved-aside files stay in "
               "%s/targets/%s\n",
               cleared, id, cfg->state_dir, id);
        cpgo_config_free(cfg);
        return CPGO_EXIT_OK;
    }
    if ((rc = cpgo_state_dir_prepare(cfg->state_dir, 0, &err))) {
        if (rc == CPGO_E_EMPTY) {
            printf("state directory %s does not exist yet: nothing scraped\n", cfg->state_dir);
            cpgo_config_free(cfg);
            return CPGO_EXIT_OK;
        }
        fprintf(stderr, "cpgo state: %s\n", err.text);
        cpgo_config_free(cfg);
        return CPGO_EXIT_FAIL;
    }
    printf("state directory %s\n", cfg->state_dir);
    int problems = 0;
    char tdir[4200];
    snprintf(tdir, sizeof tdir, "%s/targets", cfg->state_dir);
    for (size_t i = 0; i < cfg->ntargets; i++) {
        const struct cpgo_target_cfg *tc = &cfg->targets[i];
        if (!tc->target_branch) { /* its id is known once `cpgo run` asked the repository */
            printf("target %s\n  id: decided at run time (the repository's default branch); "
                   "its state is listed below under the branch it was resolved to\n",
                   tc->key);
            continue;
        }
        print_target(cfg, tc->id, tc->key, &tc->trim, &problems);
        /* what `cpgo run --output DIR` keeps apart for the same target, when it ran */
        char oid[20], od[4300], label[700];
        cpgo_config_output_state_id(tc->id, oid, sizeof oid);
        snprintf(od, sizeof od, "%s/%s", tdir, oid);
        struct stat st;
        if (lstat(od, &st) == 0) {
            snprintf(label, sizeof label, "%s (--output runs)", tc->key);
            print_target(cfg, oid, label, &tc->trim, &problems);
        }
    }
    /* directories of targets no longer configured: what they still hold */
    DIR *d = opendir(tdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        int known = 0;
        for (size_t i = 0; i < cfg->ntargets && !known; i++) {
            char oid[20];
            cpgo_config_output_state_id(cfg->targets[i].id, oid, sizeof oid);
            known = !strcmp(cfg->targets[i].id, e->d_name) || !strcmp(oid, e->d_name);
        }
        if (known) continue;
        char kp[8400], key[600] = "(unknown)";
        snprintf(kp, sizeof kp, "%s/%s/target", tdir, e->d_name);
        unsigned char *data;
        size_t n;
        struct cpgo_err ignored; /* unreadable: listed as "(unknown)" */
        if (cpgo_file_read_at(AT_FDCWD, kp, sizeof key - 1, &data, &n, &ignored) == 0) {
            memcpy(key, data, n + 1);
            free(data);
        }
        char label[700];
        const struct cpgo_target_cfg *dt = default_of(cfg, key);
        if (dt)
            snprintf(label, sizeof label, "%s (%s: the default branch when it ran)", key, dt->key);
        else
            snprintf(label, sizeof label, "%s (no longer configured)", key);
        print_target(cfg, e->d_name, label, dt ? &dt->trim : NULL, &problems);
    }
    if (d) closedir(d);
    cpgo_config_free(cfg);
    return problems ? CPGO_EXIT_FAIL : CPGO_EXIT_OK;
}
