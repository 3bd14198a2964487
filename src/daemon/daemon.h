/*
 * daemon.h - `cpgo run`: the loop that ties configuration, schedules, scrapes, the work
 * queue, state and publishing together.
 *
 * Threads: one libuv loop thread runs timers, signals, curl (through the scraper) and every
 * callback; CPU work and file I/O run as jobs on libuv's thread pool, one lane per target.
 * Data flow: tick -> scrape (loop) -> ingest job (decode, validate, journal, merge) ->
 * round accounting (loop) -> publish job (existing + pending -> output).
 */
#ifndef CPGO_DAEMON_DAEMON_H
#define CPGO_DAEMON_DAEMON_H

struct cpgo_run_opts {
    const char *config_path;
    int verbose;
    int once;
    int dry_run;                       /* with once: build and print, write nothing (a private
                                          temporary state directory, removed at exit) */
    const char *output_dir;            /* publish into a directory instead of a forge */
    const char *github_token;          /* the original's -githubToken flag (discouraged), or NULL */
    int log_fd;                        /* where logs go; 0 = standard error */
    unsigned shard_index, shard_count; /* own the targets whose id % count == index;
                                          count 0 = all (see cpgo_daemon_parse_shard) */
    /* with once (report.c): */
    int summary;  /* print the summary table on standard output at the end */
    int progress; /* draw the progress line on the log fd (the caller saw a terminal) */
    int strict;   /* a warning (a failed scrape in a published target) fails the run */
};

/* Runs until SIGINT/SIGTERM (or, with once, one round). Returns the exit status:
 * 0 ok (with once: every target published or had nothing to publish); 1 a runtime failure,
 * or with once a target that failed (or, with strict, a warning); 2 invalid usage or
 * configuration, the configuration file missing or unreadable included. */
int cpgo_daemon_run(const struct cpgo_run_opts *o);

/* --output DIR: every target's path must be valid and no two may share a file (or make
 * one's file the other's directory). 0, or CPGO_E_INPUT naming the targets. */
struct cpgo_config;
struct cpgo_err;
int cpgo_daemon_check_output(const char *dir, const struct cpgo_config *cfg, struct cpgo_err *err);

/* Parses "I/N" (0 <= I < N <= 65536) for --shard and CPGO_SHARD. 0 or -1. */
int cpgo_daemon_parse_shard(const char *s, unsigned *index, unsigned *count);
/* 1 when the target with this id (16 hex digits) belongs to the shard. */
int cpgo_daemon_owns(const struct cpgo_run_opts *o, const char *target_id);

#endif
