/* fuzz_config.c - libFuzzer target: the configuration parser on arbitrary bytes. It must never
 * crash or leak; a refusal must come with error lines that name the file; an accepted config
 * must dump, and its dump must load again and dump to the same text (the dump is valid
 * configuration, defaults and masks included).
 *
 * The YAML tree reader the parser starts with (src/config/yaml.c) is driven on its own too:
 * a tree it hands over is sound (every node placed, mappings in key/value pairs, scalars
 * without NUL bytes, no deeper than MAX_DEPTH), a refusal comes with errors and no tree, and
 * what it refuses the parser refuses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/config_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dump(const struct cpgo_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) abort();
    if (cpgo_config_dump(c, f)) abort();
    fclose(f);
    return buf;
}

/* depth: of n, the root's is 1; a scalar sits one level below the deepest collection */
static void check_tree(const struct node *n, int depth)
{
    if (n->line < 1 || n->col < 1 || n->n > n->cap) abort();
    if (n->kind == N_SCALAR) {
        if (depth > MAX_DEPTH + 1 || n->n || !n->s || strlen(n->s) != n->len) abort();
        return;
    }
    if (depth > MAX_DEPTH || (n->kind == N_MAP && n->n % 2)) abort();
    for (size_t i = 0; i < n->n; i++)
        check_tree(n->kid[i], depth + 1);
}

/* The reader alone: 1 when it refused the text. */
static int read_tree(const uint8_t *data, size_t size)
{
    struct ctx c = {.name = "fuzz.yaml"};
    struct node *root = NULL;
    int rc = cpgo_config_yaml_read(&c, (const char *)data, size, &root);
    struct cpgo_config_errors e;
    cpgo_config_export_errors(&c, &e);
    if (rc ? root || !e.n : e.n != 0) abort();
    for (size_t i = 0; i < e.n; i++)
        if (strncmp(e.lines[i], "fuzz.yaml", 9) || strchr(e.lines[i], '\n')) abort();
    cpgo_config_errors_free(&e);
    if (root) check_tree(root, 1);
    cpgo_config_yaml_free(root);
    return rc != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int env_set;
    if (!env_set) { /* the state_dir default must not depend on who runs the fuzzer */
        setenv("XDG_STATE_HOME", "/nonexistent/state", 1);
        env_set = 1;
    }
    int refused = size <= MAX_FILE && read_tree(data, size);
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    int rc = cpgo_config_parse((const char *)data, size, "fuzz.yaml", "/nonexistent/dir", &c, &e);
    if (refused && !rc) abort();
    if (rc) {
        if (c) abort();
        if (rc == CPGO_E_INPUT && e.n == 0) abort();
        for (size_t i = 0; i < e.n; i++)
            if (strncmp(e.lines[i], "fuzz.yaml", 9) || strchr(e.lines[i], '\n')) abort();
        cpgo_config_errors_free(&e);
        return 0;
    }
    /* services alone are a configuration too (issue 11) */
    if (!c || e.n || (!c->nbackends && !c->nservices) || !c->ntargets) abort();
    for (size_t i = 0; i < c->nbackends; i++)
        if (c->backends[i].target >= c->ntargets || !c->backends[i].name) abort();
    for (size_t i = 0; i < c->nservices; i++)
        if (c->services[i].target >= c->ntargets || !c->services[i].name) abort();
    char *d1 = dump(c);
    struct cpgo_config *c2 = NULL;
    if (cpgo_config_parse(d1, strlen(d1), "fuzz.yaml", "/nonexistent/dir", &c2, &e)) {
        for (size_t i = 0; i < e.n; i++)
            fprintf(stderr, "%s\n", e.lines[i]);
        fprintf(stderr, "the dump does not load:\n%s", d1);
        abort();
    }
    char *d2 = dump(c2);
    if (strcmp(d1, d2)) {
        fprintf(stderr, "the dump changes when loaded again:\n%s---\n%s", d1, d2);
        abort();
    }
    free(d1);
    free(d2);
    cpgo_config_free(c2);
    cpgo_config_free(c);
    return 0;
}
