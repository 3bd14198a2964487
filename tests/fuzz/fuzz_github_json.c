/* fuzz_github_json.c - libFuzzer target: the GitHub response parsers (one pull request, a
 * list of them, the error document, the Link header) and the marker on arbitrary bytes.
 * None may crash, leak or read past the input; a parse either succeeds with every string set
 * and a positive number, or fails with a one-line error; error and message lines are
 * printable, bounded and single-line; the marker of any key is one well-formed HTML comment
 * that the marker test finds again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publish/prapi.h"
#include "publish/prbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pr(const struct cpgo_prapi_pr *pr)
{
    if (!pr->number || !pr->title || !pr->body || !pr->html_url || !pr->head_ref ||
        !pr->head_label || !pr->head_sha || !pr->base_ref)
        abort();
    if (pr->closed_at < 0) abort();
}

static void check_line(const char *s, size_t cap)
{
    size_t n = strlen(s);
    if (n >= cap || strchr(s, '\n')) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char err[256];

    struct cpgo_prapi_pr pr;
    err[0] = 0;
    if (cpgo_prapi_parse_pr(text, size, &pr, err, sizeof err) == 0) {
        check_pr(&pr);
        cpgo_prapi_pr_free(&pr);
    } else if (!err[0] || pr.title) {
        abort(); /* a failure says why and leaves nothing allocated */
    }

    struct cpgo_prapi_pr *list = NULL;
    size_t n = 0;
    err[0] = 0;
    if (cpgo_prapi_parse_pr_list(text, size, 100, &list, &n, err, sizeof err) == 0) {
        if (n > 100 || (n && !list)) abort();
        for (size_t i = 0; i < n; i++) {
            check_pr(&list[i]);
            cpgo_prapi_pr_free(&list[i]);
        }
        free(list);
    } else if (!err[0] || list || n) {
        abort();
    }

    char msg[160];
    cpgo_prapi_parse_message(text, size, NULL, msg, sizeof msg);
    check_line(msg, sizeof msg);
    for (const char *p = msg; *p; p++)
        if ((unsigned char)*p < ' ' || (unsigned char)*p > 126) abort();

    /* string inputs: a NUL-terminated copy, as curl hands header values over */
    size_t cl = size < 8192 ? size : 8192;
    char *s = malloc(cl + 1);
    if (!s) return 0;
    memcpy(s, data, cl);
    s[cl] = 0;
    char url[512];
    int ln = cpgo_prapi_link_next(s, url, sizeof url);
    if (ln < -1 || ln > 1) abort();
    if (ln == 1 && (!url[0] || strlen(url) >= sizeof url || strchr(url, ' ') || strchr(url, '>')))
        abort();

    char marker[2048];
    if (strlen(s) < 400) {
        int m = cpgo_prapi_marker(s, marker, sizeof marker);
        if (m < 0) abort(); /* a 400-byte key always fits: at most 3 bytes per byte */
        size_t pl = strlen(CPGO_PRAPI_MARKER_PREFIX), sl = strlen(CPGO_PRAPI_MARKER_SUFFIX);
        if ((size_t)m != strlen(marker) || (size_t)m < pl + sl) abort();
        /* between "<!--" and "-->": no "--", no '>', no '<', no line break */
        const char *in = marker + 4, *end = marker + m - 3;
        for (const char *p = in; p < end; p++)
            if (*p == '>' || *p == '<' || *p == '\n' || *p == '\r' ||
                (p + 1 < end && p[0] == '-' && p[1] == '-'))
                abort();
        if (end[-2] == '-') abort(); /* the key never ends in '-' before " -->" */
        if (!cpgo_prapi_body_has_marker(marker, s) || !cpgo_prapi_body_has_marker(marker, NULL))
            abort();
    }

    char cell[300];
    size_t cn = cpgo_prbody_escape_cell(s, 120, cell, sizeof cell);
    if (cn != strlen(cell) || cn >= sizeof cell || strchr(cell, '\n')) abort();
    free(s);
    return 0;
}
