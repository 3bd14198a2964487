/*
 * dump.c - the normalised configuration (`cpgo check-config`) and the key reference
 * (docs/CONFIG.md), both written from the key table (schema.c).
 *
 * The dump is itself valid configuration: every default spelled out, local repositories
 * resolved, secrets masked (URL passwords and secret query values, secret header values),
 * so that loading it again gives the same dump (the config fuzzer checks this).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/url.h"
#include "config/config_int.h"

/* YAML 1.1 and 1.2 words and numbers that a plain scalar would turn into something else. */
static int plain_safe(const char *s)
{
    static const char *const words[] = {"y",   "n",    "yes",   "no",   "on",
                                        "off", "true", "false", "null", "~"};
    if (!*s || !isalpha((unsigned char)s[0])) {
        if (s[0] != '/' && s[0] != '.' && s[0] != '_') return 0;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcasecmp(s, words[i])) return 0;
    if (s[0] == '.' && (isdigit((unsigned char)s[1]) || isalpha((unsigned char)s[1]))) return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._/:@+-=?&%~,", *p)) return 0;
    return s[strlen(s) - 1] != ':';
}

static void put_str(FILE *o, const char *s)
{
    if (!s) {
        fputs("null", o);
        return;
    }
    if (plain_safe(s)) {
        fputs(s, o);
        return;
    }
    fputc('"', o);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(o, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(o, "\\x%02x", *p);
        else
            fputc(*p, o);
    }
    fputc('"', o);
}

static int depth_of(const char *name)
{
    int d = 0;
    for (; *name; name++)
        d += *name == '.';
    return d;
}

static void dump_scope(FILE *o, enum kscope scope, const void *base, const char *indent,
                       const char *first_indent)
{
    int first = 1;
    char v[600];
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &cpgo_config_keys[i];
        if (k->scope != scope || k->type == T_LIST || i == KI_DEFAULTS) continue;
        const char *dot = strrchr(k->name, '.');
        const char *leaf = dot ? dot + 1 : k->name;
        fprintf(o, "%s%*s%s:", first ? first_indent : indent, 2 * depth_of(k->name), "", leaf);
        first = 0;
        if (k->type == T_SECTION) {
            fputc('\n', o);
            continue;
        }
        if (k->type != T_HEADERS || !*(const size_t *)cfield(base, k->off2)) fputc(' ', o);
        if (k->type == T_STR) {
            const char *s = *(char *const *)cfield(base, k->off);
            if (i == KI_URL && s) {
                cpgo_url_mask(s, v, sizeof v);
                put_str(o, v);
            } else if (i == KI_REPOSITORY && ((const struct cpgo_backend_cfg *)base)->repo.url &&
                       ((const struct cpgo_backend_cfg *)base)->repo.kind == CPGO_REPO_FILE) {
                /* resolved, so the dump means the same wherever it is read */
                put_str(o, ((const struct cpgo_backend_cfg *)base)->repo.url);
            } else if (i == KI_HEAD_BRANCH && !s) {
                const struct cpgo_backend_cfg *b = base;
                char hb[CPGO_CONFIG_HEAD_MAX];
                cpgo_config_head_branch(b->target_branch, b->target_file, hb, sizeof hb);
                put_str(o, hb);
            } else {
                put_str(o, s);
            }
        } else if (k->type == T_HEADERS) {
            const struct cpgo_header *h = *(struct cpgo_header *const *)cfield(base, k->off);
            size_t n = *(const size_t *)cfield(base, k->off2);
            if (!n) fputs("{}", o);
            for (size_t j = 0; j < n; j++) {
                fprintf(o, "\n%s%*s", indent, 2 * depth_of(k->name) + 2, "");
                put_str(o, h[j].name);
                fputs(": ", o);
                put_str(o, cpgo_url_secret_header(h[j].name) ? "****" : h[j].value);
            }
        } else {
            cpgo_config_format_value(k, base, v, sizeof v);
            fputs(v, o);
        }
        fputc('\n', o);
    }
}

int cpgo_config_dump(const struct cpgo_config *c, FILE *out)
{
    fprintf(out, "# %s, normalised: every default filled in, secrets masked\n", c->path);
    dump_scope(out, S_TOP, c, "", "");
    fputs("backends:\n", out);
    for (size_t i = 0; i < c->nbackends; i++)
        dump_scope(out, S_BACKEND, &c->backends[i], "  ", "- ");
    fprintf(out,
            "# %zu target%s (backends with the same repository, target_branch and "
            "target_file; their profiles are merged into one file):\n",
            c->ntargets, c->ntargets == 1 ? "" : "s");
    for (size_t t = 0; t < c->ntargets; t++) {
        const struct cpgo_target_cfg *tg = &c->targets[t];
        char hb[CPGO_CONFIG_HEAD_MAX];
        if (tg->head_branch)
            snprintf(hb, sizeof hb, "%s", tg->head_branch);
        else
            cpgo_config_head_branch(tg->target_branch, tg->target_file, hb, sizeof hb);
        fprintf(out, "#   %s %s -> %s (%s)\n#     backends:", tg->id, tg->key, hb,
                tg->forge == CPGO_FORGE_LOCAL ? "local" : "github");
        for (size_t j = 0; j < tg->nbackends; j++)
            fprintf(out, " %s", c->backends[tg->backends[j]].name);
        fputc('\n', out);
    }
    return fflush(out) || ferror(out) ? CPGO_E_IO : 0;
}

static const char *type_doc(const struct key *k, char *buf, size_t cap)
{
    switch (k->type) {
    case T_SECTION:
        return "mapping";
    case T_LIST:
        return "list of mappings";
    case T_STR:
        return "string";
    case T_DURATION:
        return "duration";
    case T_SIZE:
        return "size";
    case T_COUNT:
    case T_INT:
        return "integer";
    case T_BOOL:
        return "boolean";
    case T_HEADERS:
        return "map of strings";
    case T_ENUM: {
        size_t len = (size_t)snprintf(buf, cap, "one of");
        for (const struct choice *ch = k->choices; ch->name && len < cap; ch++)
            len += (size_t)snprintf(buf + len, cap - len, "%s `%s`", ch == k->choices ? "" : ",",
                                    ch->name);
        return buf;
    }
    }
    return "";
}

static const char reference_head[] =
    "# cpgo configuration reference\n"
    "\n"
    "<!-- Generated by `cpgo check-config --reference` from the key table in\n"
    "     src/config/schema.c. Do not edit: regenerate with\n"
    "     `cpgo check-config --reference > docs/CONFIG.md`\n"
    "     (tests/unit/test_config_config.c fails when this file is stale). -->\n"
    "\n"
    "cpgo reads one YAML file (`cpgo check-config -c FILE` validates it and prints it with\n"
    "every default filled in). The original tool's format loads unchanged:\n"
    "\n"
    "```yaml\n"
    "backends:\n"
    "- url: http://localhost:6060/debug/pprof/profile?seconds=30\n"
    "  schedule: '* * * * *'\n"
    "  open_pull_request:\n"
    "    repository: http://github.com/my-org/my-repo\n"
    "    target_file: default.pgo\n"
    "    target_branch: main\n"
    "```\n"
    "\n"
    "Everything else is optional and has the default shown below.\n"
    "\n"
    "## Rules\n"
    "\n"
    "- Strict: unknown keys (with a suggestion when a known key is close), wrong types,\n"
    "  duplicate keys, anchors and aliases, tags other than the standard ones, more than one\n"
    "  document, nesting deeper than 16 levels and files over 4 MiB are errors. Every error\n"
    "  is reported, as `file:line:column: key: problem` (at most 100).\n"
    "- Durations are Go durations (`45s`, `1m30s`, `500ms`, `2h`). Sizes are integers\n"
    "  (bytes) or strings with a unit: `KB`, `MB`, `GB` (powers of 1000), `KiB`, `MiB`,\n"
    "  `GiB` (powers of 1024).\n"
    "- `defaults:` takes any `backends[]` key and applies it to every backend that does not\n"
    "  set the key itself.\n"
    "- A backend's `timeout` must be longer than the profile's `seconds` (from the `url`,\n"
    "  30 when absent) and shorter than the shortest period of its `schedule`, so one\n"
    "  scrape ends before the next begins.\n"
    "- Backends with the same repository (compared after normalisation: host lowercased,\n"
    "  `.git` and trailing `/` ignored, https, ssh and scp-like forms alike), `target_branch`\n"
    "  and `target_file` form one *target*: their profiles are merged into one file. They\n"
    "  must agree on trimming (`drop_labels`, `keep_frames`, `strip_addresses`) and on\n"
    "  `head_branch`, `min_interval` and `forge`. Each target has an id: 16 hex digits of\n"
    "  the FNV-1a hash of `host/path@branch:file`.\n"
    "- Names are unique; a backend without `name` is named after its URL's `host:port`,\n"
    "  made unique with `#2`, `#3`...\n"
    "- Secrets: a `token` key anywhere (e.g. `github.token`) is refused. The GitHub token\n"
    "  comes from the environment variable named by `github.token_env` or from\n"
    "  `github.token_file`. Output (logs, `/status`, errors, `check-config`) never shows\n"
    "  header values of Authorization, Cookie or any header whose name suggests a secret\n"
    "  (contains `auth`, `cookie`, `token`, `secret`, `passw`, `api-key`, `apikey`,\n"
    "  `api_key`), nor a URL's password (or lone user, usually a token) or the values of\n"
    "  query keys containing `token`, `key`, `secret`, `password`, `passwd`, `sig` or\n"
    "  `auth`: they read `xxxxx` in URLs and `****` elsewhere. Text a backend or GitHub\n"
    "  sends back is scrubbed of every such secret and the GitHub token, as sent,\n"
    "  percent-decoded, percent-encoded and base64 (HTTP Basic), before it is cut to fit\n"
    "  a message.\n"
    "\n"
    "## Keys\n"
    "\n"
    "| key | type | default | bounds | description |\n"
    "|---|---|---|---|---|\n";

void cpgo_config_write_reference(FILE *out)
{
    struct cpgo_config *preset = calloc(1, sizeof *preset);
    if (preset) cpgo_limits_default(&preset->limits.profile);
    fputs(reference_head, out);
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &cpgo_config_keys[i];
        char tb[128], def[160], bounds[96];
        if (k->def_doc)
            snprintf(def, sizeof def, "%s", k->def_doc);
        else if (k->def)
            snprintf(def, sizeof def, "`%s`", k->def);
        else if ((k->flags & F_PRESET) && preset) {
            char v[64];
            cpgo_config_format_value(k, preset, v, sizeof v);
            snprintf(def, sizeof def, "`%s`", v);
        } else if (k->flags & F_REQUIRED)
            snprintf(def, sizeof def, "required");
        else
            def[0] = 0;
        cpgo_config_format_bounds(k, bounds, sizeof bounds);
        fprintf(out, "| `%s%s` | %s | %s | %s | %s |\n", k->scope == S_BACKEND ? "backends[]." : "",
                k->name, type_doc(k, tb, sizeof tb), def, bounds, k->desc);
    }
    fputs("\nEvery `backends[].KEY` may also be written as `defaults.KEY`.\n", out);
    free(preset);
}
