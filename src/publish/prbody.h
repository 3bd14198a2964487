/*
 * prbody.h - the text of cpgo's pull requests and commits: the Markdown body a reviewer
 * reads (what was collected, over which window, how the file and its hottest functions
 * changed), a stable title, and a one-line summary for commit messages.
 *
 * The output is a pure function of the input (no clock, no locale): the same input gives
 * byte-identical text, so an update with nothing new does not churn the pull request, and
 * tests compare exact text. The body starts with the cpgo marker (github.h) and stays
 * below CPGO_PRAPI_MAX_BODY: function names are cut at CPGO_PRBODY_NAME_MAX bytes and the
 * table at CPGO_PRBODY_TOP_MAX rows per side.
 * Thread: any.
 */
#ifndef CPGO_PUBLISH_PRBODY_H
#define CPGO_PUBLISH_PRBODY_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "profile/pgograph.h"
#include "profile/summary.h"

#define CPGO_PRBODY_NAME_MAX 120
#define CPGO_PRBODY_TOP_MAX 50
#define CPGO_PRBODY_EDGES_MAX 20 /* hot edges listed per side */

struct cpgo_prbody_in {
    const char *target_key;    /* required: goes into the marker */
    const char *target_file;   /* required: the profile's path in the repository */
    const char *target_branch; /* required: the base branch */
    uint64_t scrapes;          /* profiles merged into this version */
    uint64_t instances;        /* distinct instances (backends) they came from */
    const char *discovery;     /* services: "checkout: 10 of 37 discovered instances" (the
                                  last round), or NULL */
    int64_t first_scrape;      /* seconds since the epoch; 0 = unknown (row left out) */
    int64_t last_scrape;
    int created;         /* the file does not exist on the base branch yet */
    int placed;          /* created in the directory of the repository's one package main */
    size_t bytes_before; /* size of the existing file (ignored when created) */
    size_t bytes_after;
    const struct cpgo_summary *before; /* the existing file; NULL when created */
    const struct cpgo_summary *after;  /* the new file; NULL leaves out samples and table */
    size_t top_n;                      /* functions per side; 0 = 10, at most 50 */
    /* `open_pull_request.commit_prefix` ("chore(pgo): "): begins the title and the commit
     * subject instead of "cpgo: "; NULL or "" = "cpgo: " */
    const char *commit_prefix;
    /* `pgo:` (issue 12) */
    int64_t half_life_ms; /* 0 = no decay (row left out) */
    double decay;         /* what the existing samples were scaled by (1 = none) */
    int edges_known;      /* the edge rows and the hot-edge lists below are given */
    double edge_change;   /* total variation distance vs the base branch's file, 0..1; < 0 =
                             a new file */
    const struct cpgo_pgo_edge_change *hot_added; /* hot in the new file, not before */
    size_t nhot_added;
    const struct cpgo_pgo_edge_change *hot_removed; /* hot before, not in the new file */
    size_t nhot_removed;
    const char *const *no_inline; /* names renamed "DO NOT INLINE: <name>" */
    size_t nno_inline;
};

/* Builds the Markdown body. *out is NUL-terminated and the caller frees it. 0,
 * CPGO_E_USAGE (a required field missing), CPGO_E_LIMIT (would exceed CPGO_PRAPI_MAX_BODY),
 * CPGO_E_NOMEM. */
int cpgo_prbody_build(const struct cpgo_prbody_in *in, char **out, size_t *len,
                      struct cpgo_err *err);

/* A title that does not change between updates (so updates do not rewrite it), beginning
 * with the commit prefix:
 * "cpgo: update the PGO profile <file>" or "cpgo: add the PGO profile <file>". Returns its
 * length, or -1 if it does not fit (buf is then "" or cut). */
int cpgo_prbody_title(const struct cpgo_prbody_in *in, char *buf, size_t cap);

/* One line for a commit message (ASCII, no newline):
 * "cpgo: update <file> (42 scrapes of 3 instances, 10.0 KiB -> 12.5 KiB)". Returns its
 * length, or -1 if it does not fit. */
int cpgo_prbody_summary_line(const struct cpgo_prbody_in *in, char *buf, size_t cap);

/* Escapes text for a Markdown table cell, inside a code span or not: '|' -> "\|", '`' ->
 * '\'' (a code span cannot escape it), CR, LF and TAB -> ' ', other control bytes -> '?'.
 * At most `maxin` input bytes are used (cut at a UTF-8 character boundary, "..." appended
 * when cut). Returns the output length; out is always NUL-terminated and never overflows,
 * and an escape is never cut in half. */
size_t cpgo_prbody_escape_cell(const char *in, size_t maxin, char *out, size_t cap);

#endif
