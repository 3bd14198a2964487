/* fuzz_gitea_json.c - libFuzzer target: the Gitea dialect's answer parsers (one pull
 * request, a list of them: times in the server's zone made UTC, `draft` from a "WIP:"
 * title, then the shared parser) on arbitrary bytes. None may crash, leak or read past the
 * input; a parse either succeeds with every string set, a positive number and a
 * non-negative closed_at, or fails with a one-line error and nothing allocated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publish/prapi_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pr(const struct cpgo_prapi_pr *pr)
{
    if (!pr->number || !pr->title || !pr->body || !pr->html_url || !pr->head_ref ||
        !pr->head_label || !pr->head_sha || !pr->base_ref)
        abort();
    if (pr->closed_at < 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char err[256];
    struct cpgo_prapi_pr pr;
    err[0] = 0;
    if (prapi_gitea.parse_pr(text, size, &pr, err, sizeof err) == 0) {
        check_pr(&pr);
        cpgo_prapi_pr_free(&pr);
    } else if (!err[0] || pr.title || strchr(err, '\n')) {
        abort();
    }
    struct cpgo_prapi_pr *list = NULL;
    size_t n = 0;
    err[0] = 0;
    if (prapi_gitea.parse_list(text, size, 50, &list, &n, err, sizeof err) == 0) {
        if (n > 50 || (n && !list)) abort();
        for (size_t i = 0; i < n; i++) {
            check_pr(&list[i]);
            cpgo_prapi_pr_free(&list[i]);
        }
        free(list);
    } else if (!err[0] || list || n) {
        abort();
    }
    return 0;
}
