/*
 * prapi_parse.c - the GitHub response parsers (prapi.h, "Response parsers"): a pull
 * request and a list of them (jansson; wrong types are errors, strings copied), GitHub's
 * error document as one printable, scrubbed line, and Link rel="next". Pure functions of
 * their input, exported for the fuzzer (tests/fuzz) and the tests. Thread: any.
 */
#include "publish/prapi_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- parsing ----------------------------------------------------------------------------- */

void cpgo_prapi_pr_free(struct cpgo_prapi_pr *pr)
{
    if (!pr) return;
    free(pr->title);
    free(pr->body);
    free(pr->html_url);
    free(pr->head_ref);
    free(pr->head_label);
    free(pr->head_sha);
    free(pr->base_ref);
    free(pr->node_id);
    memset(pr, 0, sizeof *pr);
}

/* Optional string member: absent or null -> "", string -> copy, anything else -> error. */
static int get_str(json_t *o, const char *key, const char *where, char **out, char *err, size_t cap)
{
    json_t *v = json_object_get(o, key);
    const char *s = "";
    size_t n = 0;
    if (v && json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
    } else if (v && !json_is_null(v)) {
        snprintf(err, cap, "%s%s: expected a string", where, key);
        return CPGO_E_INPUT;
    }
    char *d = malloc(n + 1);
    if (!d) {
        snprintf(err, cap, "out of memory");
        return CPGO_E_NOMEM;
    }
    memcpy(d, s, n);
    d[n] = 0;
    *out = d;
    return 0;
}

static int get_bool(json_t *o, const char *key, int *out, int *present, char *err, size_t cap)
{
    json_t *v = json_object_get(o, key);
    if (present) *present = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        snprintf(err, cap, "%s: expected true or false", key);
        return CPGO_E_INPUT;
    }
    *out = json_is_true(v);
    if (present) *present = 1;
    return 0;
}

/* "2024-05-14T10:00:00Z" -> epoch seconds; -1 if it is not that form. */
static int64_t parse_iso8601(const char *s)
{
    int y, mo, d, h, mi, se;
    char z;
    if (strlen(s) != 20 ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) != 7 || z != 'Z')
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return (int64_t)timegm(&tm);
}

static int pr_from_json(json_t *o, struct cpgo_prapi_pr *pr, char *err, size_t cap)
{
    memset(pr, 0, sizeof *pr);
    if (!json_is_object(o)) {
        snprintf(err, cap, "pull request: expected an object");
        return CPGO_E_INPUT;
    }
    json_t *num = json_object_get(o, "number");
    if (!json_is_integer(num) || json_integer_value(num) <= 0) {
        snprintf(err, cap, "number: expected a positive integer");
        return CPGO_E_INPUT;
    }
    pr->number = (uint64_t)json_integer_value(num);
    json_t *state = json_object_get(o, "state");
    if (!json_is_string(state) ||
        (strcmp(json_string_value(state), "open") && strcmp(json_string_value(state), "closed"))) {
        snprintf(err, cap, "state: expected \"open\" or \"closed\"");
        return CPGO_E_INPUT;
    }
    pr->open = !strcmp(json_string_value(state), "open");
    int rc, merged_present = 0;
    char *merged_at = NULL, *closed_at = NULL;
    if ((rc = get_str(o, "title", "", &pr->title, err, cap)) ||
        (rc = get_str(o, "body", "", &pr->body, err, cap)) ||
        (rc = get_str(o, "html_url", "", &pr->html_url, err, cap)) ||
        (rc = get_str(o, "node_id", "", &pr->node_id, err, cap)) ||
        (rc = get_bool(o, "merged", &pr->merged, &merged_present, err, cap)) ||
        (rc = get_bool(o, "draft", &pr->draft, NULL, err, cap)) ||
        (rc = get_str(o, "merged_at", "", &merged_at, err, cap)) ||
        (rc = get_str(o, "closed_at", "", &closed_at, err, cap)))
        goto fail;
    if (!merged_present) pr->merged = merged_at[0] != 0;
    if (closed_at[0]) {
        pr->closed_at = parse_iso8601(closed_at);
        if (pr->closed_at < 0) {
            snprintf(err, cap, "closed_at: expected a time like 2024-05-14T10:00:00Z");
            rc = CPGO_E_INPUT;
            goto fail;
        }
    }
    static const char *const sides[2] = {"head", "base"};
    for (int i = 0; i < 2; i++) {
        json_t *side = json_object_get(o, sides[i]);
        json_t *empty = NULL;
        if (side && !json_is_null(side) && !json_is_object(side)) {
            snprintf(err, cap, "%s: expected an object", sides[i]);
            rc = CPGO_E_INPUT;
            goto fail;
        }
        if (!json_is_object(side)) side = empty = json_object();
        if (!side) {
            rc = CPGO_E_NOMEM;
            goto fail;
        }
        if (i == 0) rc = get_str(side, "ref", "head.", &pr->head_ref, err, cap);
        if (!rc && i == 0) rc = get_str(side, "label", "head.", &pr->head_label, err, cap);
        if (!rc && i == 0) rc = get_str(side, "sha", "head.", &pr->head_sha, err, cap);
        if (i == 1) rc = get_str(side, "ref", "base.", &pr->base_ref, err, cap);
        json_decref(empty);
        if (rc) goto fail;
    }
    free(merged_at);
    free(closed_at);
    return 0;
fail:
    free(merged_at);
    free(closed_at);
    cpgo_prapi_pr_free(pr);
    return rc;
}

static json_t *load(const char *data, size_t len, char *err, size_t cap)
{
    if (!data || !len) {
        snprintf(err, cap, "empty response");
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        snprintf(err, cap, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    return root;
}

int cpgo_prapi_parse_pr(const char *data, size_t len, struct cpgo_prapi_pr *out, char *err,
                        size_t errcap)
{
    memset(out, 0, sizeof *out);
    json_t *root = load(data, len, err, errcap);
    if (!root) return CPGO_E_INPUT;
    int rc = pr_from_json(root, out, err, errcap);
    json_decref(root);
    return rc;
}

int cpgo_prapi_parse_pr_list(const char *data, size_t len, size_t max_items,
                             struct cpgo_prapi_pr **out, size_t *n, char *err, size_t errcap)
{
    *out = NULL;
    *n = 0;
    json_t *root = load(data, len, err, errcap);
    if (!root) return CPGO_E_INPUT;
    int rc = 0;
    if (!json_is_array(root)) {
        snprintf(err, errcap, "expected an array of pull requests");
        rc = CPGO_E_INPUT;
        goto out;
    }
    size_t count = json_array_size(root);
    if (count > max_items) {
        snprintf(err, errcap, "%zu pull requests in one page, more than %zu", count, max_items);
        rc = CPGO_E_INPUT;
        goto out;
    }
    if (!count) goto out;
    struct cpgo_prapi_pr *prs = calloc(count, sizeof *prs);
    if (!prs) {
        snprintf(err, errcap, "out of memory");
        rc = CPGO_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        char e[200];
        rc = pr_from_json(json_array_get(root, i), &prs[i], e, sizeof e);
        if (rc) {
            snprintf(err, errcap, "[%zu].%s", i, e);
            for (size_t j = 0; j < i; j++)
                cpgo_prapi_pr_free(&prs[j]);
            free(prs);
            goto out;
        }
    }
    *out = prs;
    *n = count;
out:
    json_decref(root);
    return rc;
}

/* Appends printable ASCII of s (bounded by n) to out, other bytes as '?', no newlines. */
void prapi_append_clean(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
        out[(*o)++] = (ch >= ' ' && ch < 127) ? (char)ch : '?';
    }
    out[*o < cap ? *o : cap - 1] = 0;
}

void cpgo_prapi_parse_message(const char *data, size_t len, const struct cpgo_url_secrets *secrets,
                              char *out, size_t cap)
{
    if (!cap) return;
    out[0] = 0;
    /* the whole line first (bounded: a cut there is masked by the scrubber), scrubbed,
     * and only then cut to cap and made printable */
    struct cpgo_buf line;
    cpgo_buf_init(&line, 16384);
    json_t *root = json_loadb(data, len, 0, NULL);
    json_t *msg = root ? json_object_get(root, "message") : NULL;
    if (json_is_string(msg)) {
        cpgo_buf_append(&line, json_string_value(msg), json_string_length(msg));
        json_t *errs = json_object_get(root, "errors");
        size_t shown = 0;
        for (size_t i = 0; json_is_array(errs) && i < json_array_size(errs) && shown < 3; i++) {
            json_t *e = json_array_get(errs, i), *m = NULL;
            if (json_is_object(e)) {
                m = json_object_get(e, "message");
                if (!json_is_string(m)) m = json_object_get(e, "code");
            } else if (json_is_string(e)) {
                m = e;
            }
            if (!json_is_string(m)) continue;
            cpgo_buf_append(&line, shown ? "; " : ": ", 2);
            cpgo_buf_append(&line, json_string_value(m), json_string_length(m));
            shown++;
        }
    } else if (data) {
        /* not GitHub's error document (a proxy page?): its first line */
        size_t n = 0;
        while (n < len && data[n] != '\n' && data[n] != '\r')
            n++;
        cpgo_buf_append(&line, data, n < 16384 ? n : 16384);
    }
    json_decref(root);
    size_t o =
        cpgo_url_scrub(secrets, line.data ? (const char *)line.data : "", line.len, out, cap);
    for (size_t i = 0; i < o; i++) {
        unsigned char ch = (unsigned char)out[i];
        if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
        out[i] = (ch >= ' ' && ch < 127) ? (char)ch : '?';
    }
    cpgo_buf_free(&line);
}

int cpgo_prapi_link_next(const char *link, char *out, size_t cap)
{
    const char *p = link;
    if (cap) out[0] = 0;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p) break;
        if (*p != '<') return -1;
        const char *u = p + 1, *ue = strchr(u, '>');
        if (!ue) return -1;
        p = ue + 1;
        int is_next = 0;
        /* parameters: ; name=value or ; name="value", up to the next ',' */
        for (;;) {
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p != ';') break;
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            const char *k = p;
            while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ')
                p++;
            size_t kl = (size_t)(p - k);
            while (*p == ' ')
                p++;
            if (*p != '=') continue;
            p++;
            while (*p == ' ')
                p++;
            const char *v, *ve;
            if (*p == '"') {
                v = ++p;
                ve = strchr(v, '"');
                if (!ve) return -1;
                p = ve + 1;
            } else {
                v = p;
                while (*p && *p != ';' && *p != ',' && *p != ' ')
                    p++;
                ve = p;
            }
            if (kl == 3 && !strncasecmp(k, "rel", 3)) {
                /* rel may hold several space-separated relation types */
                const char *w = v;
                while (w < ve) {
                    while (w < ve && *w == ' ')
                        w++;
                    const char *we = w;
                    while (we < ve && *we != ' ')
                        we++;
                    if (we - w == 4 && !strncasecmp(w, "next", 4)) is_next = 1;
                    w = we;
                }
            }
        }
        if (*p && *p != ',') return -1;
        if (is_next) {
            size_t n = (size_t)(ue - u);
            if (n == 0 || n + 1 > cap) return -1;
            for (size_t i = 0; i < n; i++)
                if ((unsigned char)u[i] <= ' ' || u[i] == 127) return -1;
            memcpy(out, u, n);
            out[n] = 0;
            return 1;
        }
    }
    return 0;
}
