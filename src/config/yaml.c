/*
 * yaml.c - the YAML tree reader (see config_int.h): libyaml's event API into a small tree of
 * mappings, sequences and scalars, each with its line and column.
 *
 * Why a tree and not the events: the walk (config.c) needs a key's value and its siblings
 * (duplicates, the position of the enclosing mapping) and reports every error, not only the
 * first. Why strict here: anchors and aliases (a shared or recursive node, and the "billion
 * laughs" expansion), non-standard tags, a second document, scalars with NUL bytes and
 * nesting deeper than MAX_DEPTH are refused before any value is looked at, so no later step
 * meets them; the tree's size is bounded by the file's (MAX_FILE, checked by the caller).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/config_int.h"

const char *cpgo_config_yaml_kind(const struct node *n)
{
    if (n->kind == N_MAP) return "a mapping";
    if (n->kind == N_SEQ) return "a list";
    return "a single value";
}

void cpgo_config_yaml_free(struct node *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++)
        cpgo_config_yaml_free(n->kid[i]); /* depth <= MAX_DEPTH */
    free(n->kid);
    free(n->s);
    free(n);
}

int cpgo_config_yaml_null(const struct node *n)
{
    if (n->kind != N_SCALAR || n->quoted) return 0;
    return !n->len || !strcmp(n->s, "~") || !strcmp(n->s, "null") || !strcmp(n->s, "Null") ||
           !strcmp(n->s, "NULL");
}

/* YAML 1.2 core booleans, as Go's yaml.v3 reads them. */
int cpgo_config_yaml_bool(const struct node *n, int *v)
{
    if (n->kind != N_SCALAR || n->quoted) return 0;
    if (!strcmp(n->s, "true") || !strcmp(n->s, "True") || !strcmp(n->s, "TRUE"))
        *v = 1;
    else if (!strcmp(n->s, "false") || !strcmp(n->s, "False") || !strcmp(n->s, "FALSE"))
        *v = 0;
    else
        return 0;
    return 1;
}

/* Appends a path element to buf: ".key" (or "key" at the start) or "[i]". */
void cpgo_config_path_add(char *buf, size_t cap, const char *key, long idx)
{
    size_t len = strlen(buf);
    if (len + 1 >= cap) return;
    if (key)
        snprintf(buf + len, cap - len, "%s%.*s", len ? "." : "", 64, key);
    else
        snprintf(buf + len, cap - len, "[%ld]", idx);
}

struct builder {
    struct ctx *c;
    struct node *root;
    struct node *stack[MAX_DEPTH];
    int depth;
};

/* The key path of the node about to be attached, for errors met while building. */
static void build_path(const struct builder *b, char *buf, size_t cap)
{
    buf[0] = 0;
    for (int i = 0; i < b->depth; i++) {
        const struct node *ct = b->stack[i];
        size_t k = i + 1 < b->depth ? ct->n - 1 : ct->n;
        if (ct->kind == N_SEQ) {
            cpgo_config_path_add(buf, cap, NULL, (long)k);
        } else {
            if (k % 2 == 0) return; /* at a key: the mapping's own path */
            const struct node *key = ct->kid[k - 1];
            cpgo_config_path_add(buf, cap, key->kind == N_SCALAR ? key->s : "?", 0);
        }
    }
}

static void build_error(struct builder *b, const char *path, int line, int col, const char *what,
                        const char *arg)
{
    char sh[SHOW_MAX + 8];
    cpgo_config_add_error(b->c, line, col, "%s%s%s%s%s%s", path, *path ? ": " : "", what,
                          arg ? " '" : "", arg ? cpgo_config_show(arg, sh, sizeof sh) : "",
                          arg ? "'" : "");
}

static int attach(struct builder *b, struct node *n)
{
    if (!b->depth) {
        b->root = n;
        return 0;
    }
    struct node *ct = b->stack[b->depth - 1];
    if (ct->n == ct->cap) {
        size_t ncap = ct->cap ? ct->cap * 2 : 4;
        struct node **k = realloc(ct->kid, ncap * sizeof *k);
        if (!k) return -1;
        ct->kid = k;
        ct->cap = ncap;
    }
    ct->kid[ct->n++] = n;
    return 0;
}

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

/* Only the standard tags; returns 0 when allowed. For scalars *quoted says "a string". */
static int check_tag(const char *tag, enum nkind kind, int *quoted)
{
    if (!tag) return 0;
    if (!strcmp(tag, "!")) {
        if (kind == N_SCALAR) *quoted = 1;
        return 0;
    }
    if (strncmp(tag, YAML_TAG_PREFIX, strlen(YAML_TAG_PREFIX))) return -1;
    const char *t = tag + strlen(YAML_TAG_PREFIX);
    if (kind == N_MAP) return strcmp(t, "map") ? -1 : 0;
    if (kind == N_SEQ) return strcmp(t, "seq") ? -1 : 0;
    if (!strcmp(t, "str")) {
        *quoted = 1;
        return 0;
    }
    if (!strcmp(t, "int") || !strcmp(t, "bool") || !strcmp(t, "null") || !strcmp(t, "float")) {
        *quoted = 0;
        return 0;
    }
    return -1;
}

/*
 * Parses text into a tree. Returns 0 with *root (NULL for an empty stream) when the tree is
 * sound; otherwise errors are recorded and the tree is discarded.
 */
int cpgo_config_yaml_read(struct ctx *c, const char *text, size_t len, struct node **root)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct builder b = {.c = c};
    int bad = 0, done = 0, docs = 0;
    *root = NULL;
    if (!yaml_parser_initialize(&p)) {
        c->nomem = 1;
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            if (p.error == YAML_MEMORY_ERROR) {
                c->nomem = 1;
            } else {
                char ctxt[200] = "";
                if (p.context)
                    snprintf(ctxt, sizeof ctxt, " (%s at line %d)", p.context,
                             (int)p.context_mark.line + 1);
                int el = (int)p.problem_mark.line + 1, ec = (int)p.problem_mark.column + 1;
                if (p.error == YAML_READER_ERROR) { /* reader errors give a byte offset */
                    el = ec = 1;
                    for (size_t i = 0; i < p.problem_offset && i < len; i++, ec++)
                        if (text[i] == '\n') el++, ec = 0;
                }
                cpgo_config_add_error(c, el, ec, "YAML syntax error: %s%s",
                                      p.problem ? p.problem : "invalid YAML", ctxt);
            }
            bad = 1;
            break;
        }
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        struct node *n = NULL;
        char path[256] = ""; /* of the node this event adds, for its errors */
        if (ev.type == YAML_ALIAS_EVENT || ev.type == YAML_SCALAR_EVENT ||
            ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
            build_path(&b, path, sizeof path);
        const char *anchor = NULL, *tag = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                cpgo_config_add_error(c, line, col, "only one YAML document is allowed");
                bad = done = 1;
            }
            break;
        case YAML_ALIAS_EVENT:
            build_error(&b, path, line, col, "anchors and aliases are not allowed: alias",
                        (const char *)ev.data.alias.anchor);
            bad = 1;
            /* a placeholder keeps keys and values paired for the errors that follow */
            n = calloc(1, sizeof *n);
            if (n) n->s = strdup("");
            if (!n || !n->s || attach(&b, n)) {
                cpgo_config_yaml_free(n);
                c->nomem = bad = done = 1;
            }
            break;
        case YAML_SCALAR_EVENT:
            anchor = (const char *)ev.data.scalar.anchor;
            tag = (const char *)ev.data.scalar.tag;
            n = calloc(1, sizeof *n);
            if (!n || !(n->s = malloc(ev.data.scalar.length + 1)) || attach(&b, n)) {
                if (n) free(n->s);
                free(n);
                c->nomem = bad = done = 1;
                break;
            }
            n->kind = N_SCALAR;
            n->line = line;
            n->col = col;
            n->len = ev.data.scalar.length;
            memcpy(n->s, ev.data.scalar.value, n->len);
            n->s[n->len] = 0;
            n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
            if (strlen(n->s) != n->len) {
                build_error(&b, path, line, col, "a value must not contain a NUL character", NULL);
                bad = 1;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            int is_map = ev.type == YAML_MAPPING_START_EVENT;
            anchor = (const char *)(is_map ? ev.data.mapping_start.anchor
                                           : ev.data.sequence_start.anchor);
            tag = (const char *)(is_map ? ev.data.mapping_start.tag : ev.data.sequence_start.tag);
            if (b.depth == MAX_DEPTH) {
                cpgo_config_add_error(c, line, col, "%s%snesting deeper than %d levels", path,
                                      *path ? ": " : "", MAX_DEPTH);
                bad = done = 1;
                break;
            }
            n = calloc(1, sizeof *n);
            if (!n || attach(&b, n)) {
                free(n);
                c->nomem = bad = done = 1;
                break;
            }
            n->kind = is_map ? N_MAP : N_SEQ;
            n->line = line;
            n->col = col;
            b.stack[b.depth++] = n;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (b.depth) b.depth--;
            break;
        default:
            break;
        }
        if (n && anchor) {
            build_error(&b, path, line, col, "anchors and aliases are not allowed: anchor", anchor);
            bad = 1;
        }
        if (n && tag) {
            int q = n->quoted;
            if (check_tag(tag, n->kind, &q)) {
                build_error(&b, path, line, col,
                            "only the standard tags (!!str, !!int, !!bool, !!null, !!float, "
                            "!!map, !!seq) are allowed, not",
                            tag);
                bad = 1;
            }
            n->quoted = q;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (bad) {
        cpgo_config_yaml_free(b.root);
        return -1;
    }
    *root = b.root;
    return 0;
}
