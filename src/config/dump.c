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

#include "base/duration.h"
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

/* Key k at base holds its default (or nothing): what a quiet key or section is not dumped
 * for. */
static int is_default(const struct key *k, const void *base)
{
    char v[600];
    switch (k->type) {
    case T_STR: {
        const char *s = *(char *const *)cfield(base, k->off);
        return !s || (k->def && !strcmp(s, k->def));
    }
    case T_HEADERS:
    case T_STRLIST:
    case T_LIST:
        return *(const size_t *)cfield(base, k->off2) == 0;
    case T_SECTION:
        return 1;
    case T_DURATION: {
        int64_t have, def = 0;
        struct cpgo_err e;
        memcpy(&have, cfield(base, k->off), sizeof have);
        if (k->def && cpgo_duration_parse(k->def, &def, &e)) return 0;
        return have == def;
    }
    default:
        cpgo_config_format_value(k, base, v, sizeof v);
        if (k->def) return !strcmp(v, k->def);
        return !strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "null");
    }
}

/* A quiet section (tls_config, dns...) is dumped when one of its keys is not the default. */
static int section_shown(const struct key *sec, const void *base)
{
    size_t n = strlen(sec->name);
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &cpgo_config_keys[i];
        if (k->scope == sec->scope && !strncmp(k->name, sec->name, n) && k->name[n] == '.' &&
            key_is_leaf(k) && !is_default(k, base))
            return 1;
    }
    return 0;
}

/* gitlab: and gitea: are dumped when a key is not its default, or when a target publishes
 * through that forge (its API and token are then in use, defaults or not); a configuration
 * without them dumps as before issue 13. */
static int forge_section_used(size_t i, const struct cpgo_config *c)
{
    enum cpgo_forge f = i == KI_GITLAB ? CPGO_FORGE_GITLAB : CPGO_FORGE_GITEA;
    for (size_t t = 0; t < c->ntargets; t++)
        if (c->targets[t].forge == f) return 1;
    return 0;
}

/* Which keys of a scope one call dumps. */
enum dump_part {
    D_ALL,         /* every key of the scope */
    D_SHARED,      /* a service's backend keys */
    D_SVC_VALUES,  /* a service's own keys but its lists */
    D_SVC_SOURCES, /* a service's lists of sources */
};

static int part_has(enum dump_part part, const struct key *k)
{
    switch (part) {
    case D_SHARED:
        return key_shared(k);
    case D_SVC_VALUES:
        return k->type != T_LIST;
    case D_SVC_SOURCES:
        return k->type == T_LIST;
    default:
        return 1;
    }
}

static void dump_scope(FILE *o, enum kscope scope, enum dump_part part, const void *base,
                       const char *indent, const char *first_indent, int *first);

static void dump_value(FILE *o, size_t i, const void *base, const char *indent)
{
    const struct key *k = &cpgo_config_keys[i];
    char v[600];
    int d = 2 * depth_of(k->name);
    if (k->type == T_STR) {
        const char *s = *(char *const *)cfield(base, k->off);
        if ((k->flags & F_MASK_URL) && s) {
            cpgo_url_mask(s, v, sizeof v);
            put_str(o, v);
        } else if (i == KI_REPOSITORY && ((const struct cpgo_backend_cfg *)base)->repo.url &&
                   ((const struct cpgo_backend_cfg *)base)->repo.kind == CPGO_REPO_FILE) {
            /* resolved, so the dump means the same wherever it is read */
            put_str(o, ((const struct cpgo_backend_cfg *)base)->repo.url);
        } else if (i == KI_HEAD_BRANCH && !s) {
            const struct cpgo_backend_cfg *b = base;
            char hb[CPGO_CONFIG_HEAD_MAX];
            cpgo_config_head_branch(b->target_branch ? b->target_branch
                                                     : CPGO_CONFIG_DEFAULT_BRANCH,
                                    b->target_file, hb, sizeof hb);
            put_str(o, hb);
        } else if (i == KI_TARGET_BRANCH && !s) {
            /* no network here: `cpgo run` asks the repository */
            fputs("null  # the repository's default branch: resolved at run time", o);
        } else {
            put_str(o, s);
        }
    } else if (k->type == T_HEADERS) {
        const struct cpgo_header *h = *(struct cpgo_header *const *)cfield(base, k->off);
        size_t n = *(const size_t *)cfield(base, k->off2);
        if (!n) fputs("{}", o);
        for (size_t j = 0; j < n; j++) {
            fprintf(o, "\n%s%*s", indent, d + 2, "");
            put_str(o, h[j].name);
            fputs(": ", o);
            put_str(o, cpgo_url_secret_header(h[j].name) ? "****" : h[j].value);
        }
    } else if (k->type == T_STRLIST) {
        char *const *items = *(char **const *)cfield(base, k->off);
        size_t n = *(const size_t *)cfield(base, k->off2);
        if (!n) fputs("[]", o);
        for (size_t j = 0; j < n; j++) {
            fprintf(o, "\n%s%*s- ", indent, d, "");
            put_str(o, items[j]);
        }
    } else if (k->type == T_LIST) {
        const char *elems = *(const char *const *)cfield(base, k->off);
        size_t n = *(const size_t *)cfield(base, k->off2);
        if (!n) fputs("[]\n", o);
        char in2[256], first2[256];
        snprintf(in2, sizeof in2, "%s%*s  ", indent, d, "");
        snprintf(first2, sizeof first2, "%s%*s- ", indent, d, "");
        if (n) fputc('\n', o); /* ends "key:"; each element ends its own lines */
        for (size_t j = 0; j < n; j++) {
            int f = 1;
            dump_scope(o, k->sub, D_ALL, elems + j * k->esize, in2, first2, &f);
        }
        return;
    } else {
        cpgo_config_format_value(k, base, v, sizeof v);
        fputs(v, o);
    }
    fputc('\n', o);
}

static void dump_scope(FILE *o, enum kscope scope, enum dump_part part, const void *base,
                       const char *indent, const char *first_indent, int *first)
{
    const char *hidden = NULL; /* a quiet section not shown: its keys are skipped too */
    size_t hlen = 0;
    enum kscope ks = part == D_SHARED ? S_BACKEND : scope;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &cpgo_config_keys[i];
        if (k->scope != ks || !part_has(part, k) || i == KI_DEFAULTS) continue;
        if (k->type == T_LIST && k->sub == S_TOP) continue; /* backends, services: below */
        if (hidden && !strncmp(k->name, hidden, hlen) && k->name[hlen] == '.') continue;
        if (k->flags & F_QUIET) {
            int shown = k->type == T_SECTION ? section_shown(k, base) : !is_default(k, base);
            if (scope == S_TOP && (i == KI_GITLAB || i == KI_GITEA))
                shown |= forge_section_used(i, base);
            if (!shown) {
                if (k->type == T_SECTION) hidden = k->name, hlen = strlen(k->name);
                continue;
            }
        }
        const char *dot = strrchr(k->name, '.');
        const char *leaf = dot ? dot + 1 : k->name;
        fprintf(o, "%s%*s%s:", *first ? first_indent : indent, 2 * depth_of(k->name), "", leaf);
        *first = 0;
        if (k->type == T_SECTION) {
            fputc('\n', o);
            continue;
        }
        int block = (k->type == T_HEADERS || k->type == T_STRLIST || k->type == T_LIST) &&
                    *(const size_t *)cfield(base, k->off2);
        if (!block) fputc(' ', o);
        dump_value(o, i, base, indent);
    }
}

int cpgo_config_dump(const struct cpgo_config *c, FILE *out)
{
    int first = 1;
    fprintf(out, "# %s, normalised: every default filled in, secrets masked\n", c->path);
    dump_scope(out, S_TOP, D_ALL, c, "", "", &first);
    fputs(c->nbackends ? "backends:\n" : "backends: []\n", out);
    for (size_t i = 0; i < c->nbackends; i++) {
        first = 1;
        dump_scope(out, S_BACKEND, D_ALL, &c->backends[i], "  ", "- ", &first);
    }
    if (c->nservices) fputs("services:\n", out);
    for (size_t i = 0; i < c->nservices; i++) {
        const struct cpgo_service_cfg *s = &c->services[i];
        first = 1;
        dump_scope(out, S_SERVICE, D_SVC_VALUES, s, "  ", "- ", &first);
        dump_scope(out, S_BACKEND, D_SHARED, &s->tmpl, "  ", "- ", &first);
        dump_scope(out, S_SERVICE, D_SVC_SOURCES, s, "  ", "- ", &first);
    }
    fprintf(out,
            "# %zu target%s (backends with the same repository, target_branch and "
            "target_file; their profiles are merged into one file):\n",
            c->ntargets, c->ntargets == 1 ? "" : "s");
    for (size_t t = 0; t < c->ntargets; t++) {
        const struct cpgo_target_cfg *tg = &c->targets[t];
        char hb[CPGO_CONFIG_HEAD_MAX];
        const char *branch = tg->target_branch ? tg->target_branch : CPGO_CONFIG_DEFAULT_BRANCH;
        if (tg->head_branch)
            snprintf(hb, sizeof hb, "%s", tg->head_branch);
        else
            cpgo_config_head_branch(branch, tg->target_file, hb, sizeof hb);
        if (!tg->target_branch) {
            /* the id is the hash of the resolved key: unknown until then */
            fprintf(out, "#   %s -> %s (%s)\n", tg->key, hb, cpgo_config_forge_name(tg->forge));
            fputs("#     target_branch: will be resolved at run time (the repository's default "
                  "branch); the id, the state directory and the head branch follow from it\n",
                  out);
        } else {
            fprintf(out, "#   %s %s -> %s (%s)\n", tg->id, tg->key, hb,
                    cpgo_config_forge_name(tg->forge));
            char oid[20];
            cpgo_config_output_state_id(tg->id, oid, sizeof oid);
            fprintf(out, "#     state: targets/%s (with --output: targets/%s)\n", tg->id, oid);
        }
        if (tg->nbackends || !tg->nservices) {
            fputs("#     backends:", out);
            for (size_t j = 0; j < tg->nbackends; j++)
                fprintf(out, " %s", c->backends[tg->backends[j]].name);
            fputc('\n', out);
        }
        if (tg->nservices) {
            fputs("#     services:", out);
            for (size_t j = 0; j < tg->nservices; j++)
                fprintf(out, " %s", c->services[tg->services[j]].name);
            fputc('\n', out);
        }
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
    case T_STRLIST:
        return "list of strings";
    case T_STR:
        return "string";
    case T_DURATION:
        return "duration";
    case T_SIZE:
        return "size";
    case T_COUNT:
    case T_INT:
    case T_INT64:
        return "integer";
    case T_BOOL:
        return "boolean";
    case T_HEADERS:
        return "map of strings";
    case T_DECIMAL:
        return "decimal";
    case T_PERCENT:
        return "percentage";
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
    "    target_branch: main   # optional: default the repository's default branch\n"
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
    "  30 when absent) and not longer than the shortest period of its `schedule`, so one\n"
    "  scrape ends before the next begins. Not written, it is `seconds` + 15s, clamped to\n"
    "  that period when the period is shorter (as Prometheus clamps a defaulted\n"
    "  `scrape_timeout` to `scrape_interval`); only a written `timeout` that does not fit is\n"
    "  an error. A schedule whose shortest period is not longer than `seconds` is one.\n"
    "- Backends with the same repository (compared after normalisation: host lowercased,\n"
    "  `.git` and trailing `/` ignored, https, ssh and scp-like forms alike), `target_branch`\n"
    "  and `target_file` form one *target*: their profiles are merged into one file. They\n"
    "  must agree on trimming (`drop_labels`, `keep_frames`, `strip_addresses`), on\n"
    "  `head_branch`, `min_interval`, `forge` and the pull request's options (`labels`,\n"
    "  `reviewers` and `assignees` as sets, `draft`, `auto_merge`, `commit_prefix`),\n"
    "  and on `pgo` but its `weight`\n"
    "  (`half_life`, `no_inline` as a set of names, `min_change`, `verify_with_go`). Each\n"
    "  target has an id: 16 hex digits of the FNV-1a hash of `host/path@branch:file`.\n"
    "- A `target_branch` not written is the repository's default branch (its remote HEAD).\n"
    "  `cpgo run` (`--once`, `--dry-run`, `--output` alike) asks each repository once when it\n"
    "  starts and again at each reload, as `git ls-remote --symref URL HEAD` does, with the\n"
    "  credentials publishing uses, logs the branch it chose and uses it exactly as if it\n"
    "  were written (a target written `master` and one resolved to `master` are one). A\n"
    "  repository that cannot be asked, or has no HEAD (empty), stops the start (exit 2)\n"
    "  or the reload (the running configuration stays), naming the backend or service.\n"
    "  `check-config` does not ask: such a target shows as `host/path@<default>:file`.\n"
    "- `pgo:` (per backend, per service or under `defaults:`, inherited key by key) says\n"
    "  how a member's profiles count and when its target's file is published: `weight`\n"
    "  multiplies every sample the member contributes (a canary at `0.1`), `half_life`\n"
    "  decays what the file already holds at each publish, `no_inline` keeps functions out\n"
    "  of the compiler's inlining decisions, `min_change` skips a publish that would not\n"
    "  change the call edges the compiler reads by that much. Numbers are decimals held\n"
    "  exactly (a weight in millionths, a percentage in ten-thousandths of a percent): the\n"
    "  same file gives the same profile on every machine.\n"
    "- Names are unique; a backend without `name` is named after its URL's `host:port`,\n"
    "  made unique with `#2`, `#3`...\n"
    "- `services:` may stand beside `backends:` or replace it (one of the two is required).\n"
    "  A service is one target whose instances its discovery sources find\n"
    "  (`static_configs`, `dns_sd_configs`, `file_sd_configs`, `kubernetes_sd_configs`: at\n"
    "  least one entry in all), scraped at `scheme://address:port/path?seconds=N`. Its\n"
    "  `name` is required and unique among services and backends (a backend named after its\n"
    "  URL steps aside with `#2`). It groups into targets with backends exactly as backends\n"
    "  do, under the same agreement rules.\n"
    "- Scrape options, for backends and services, have Prometheus's names: `tls_config`,\n"
    "  `basic_auth`, `authorization`, `proxy_url`. Their secrets come only from files\n"
    "  (`password_file`, `credentials_file`), read when the configuration is loaded and at\n"
    "  each reload; a `password` or `credentials` key is refused. Output shows the file's\n"
    "  path, never its content. `basic_auth`, `authorization` and an `Authorization` header\n"
    "  exclude each other.\n"

    "- Forges: `open_pull_request.forge` is `github`, `gitlab`, `gitea` (Gitea and Forgejo)\n"
    "  or `local`. By default it follows the repository: a local path is `local`; github.com\n"
    "  and the git host of `github.api_url` (github.com for `https://api.github.com`, else\n"
    "  the API's host) are `github`; gitlab.com and the host of `gitlab.api_url` are\n"
    "  `gitlab`; the host of `gitea.api_url` is `gitea`; any other server is `github`. A\n"
    "  forge sends its token only to its own host: a repository elsewhere is refused. The\n"
    "  pull request's options of a `local` target are accepted with a warning, but\n"
    "  `commit_prefix`, which its commits use too.\n"
    "- Secrets: a `token` key anywhere (e.g. `github.token`) is refused. The GitHub token\n"
    "  comes from the environment variable named by `github.token_env` or from\n"
    "  `github.token_file`, GitLab's and Gitea's likewise from `gitlab.*` and `gitea.*`.\n"
    "  Output (logs, `/status`, errors, `check-config`) never shows header values of\n"
    "  Authorization, Cookie or any header whose name suggests a secret\n"
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

/* ---- what is left to run time (check-config's warnings) ------------------------------- */

/* Each line starts so: a script can tell these from the configuration's own warnings. */
#define RUNTIME "warning: resolved at run time: "

static const char *k8s_role(enum cpgo_k8s_role r)
{
    return r == CPGO_K8S_POD ? "pods" : r == CPGO_K8S_SERVICE ? "services" : "endpointslices";
}

/* One forge's credential, when a target publishes through it. */
static size_t forge_runtime(const struct cpgo_config *c, enum cpgo_forge f, const char *name,
                            const struct cpgo_forge_api_cfg *api, FILE *out)
{
    int used = 0;
    for (size_t i = 0; i < c->ntargets; i++)
        used |= c->targets[i].forge == f;
    if (!used) return 0;
    char sh[SHOW_MAX + 8];
    if (f == CPGO_FORGE_GITHUB && c->github.app.app_id > 0) {
        fprintf(out,
                RUNTIME "github.app.private_key_file %s: the GitHub App's key is read at start "
                        "and on reload; installation tokens are asked from GitHub at run time\n",
                cpgo_config_show(c->github.app.private_key_file, sh, sizeof sh));
        return 1;
    }
    if (api->token_file) {
        fprintf(out,
                RUNTIME "%s.token_file %s: the token is read at start and on reload (by the "
                        "daemon's user)\n",
                name, cpgo_config_show(api->token_file, sh, sizeof sh));
        return 1;
    }
    const char *env = api->token_env ? api->token_env : "";
    fprintf(out,
            RUNTIME "%s.token_env: the token is read from the environment variable %s at "
                    "start and on reload (%s in this environment)\n",
            name, cpgo_config_show(env, sh, sizeof sh), *env && getenv(env) ? "set" : "not set");
    return 1;
}

size_t cpgo_config_write_runtime(const struct cpgo_config *c, FILE *out)
{
    size_t n = 0;
    char sh[SHOW_MAX + 8];
    if (c->state_dir_default) {
        fprintf(out,
                RUNTIME "state_dir not written: %s comes from this environment "
                        "($XDG_STATE_HOME, $HOME, the user); the daemon's environment decides "
                        "where its state is\n",
                cpgo_config_show(c->state_dir, sh, sizeof sh));
        n++;
    }
    int ssh = 0;
    for (size_t i = 0; i < c->ntargets; i++) {
        const struct cpgo_target_cfg *t = &c->targets[i];
        ssh |= t->repo.kind == CPGO_REPO_SSH;
        if (t->branch_default) {
            fprintf(out,
                    RUNTIME "target %s: target_branch not written: the repository's default "
                            "branch is asked from the repository at start (and on reload); the "
                            "target's id, state and head branch follow from it\n",
                    cpgo_config_show(t->key, sh, sizeof sh));
            n++;
        }
        if (!strchr(t->target_file, '/')) {
            char f[SHOW_MAX + 8];
            cpgo_config_show(t->target_file, f, sizeof f);
            fprintf(out,
                    RUNTIME
                    "target %s: target_file %s has no directory: where it goes is "
                    "found in the repository at publish time (an existing %s anywhere in it, "
                    "else the directory of its one package main; with --output, as written)\n",
                    cpgo_config_show(t->key, sh, sizeof sh), f, f);
            n++;
        }
    }
    n += forge_runtime(c, CPGO_FORGE_GITHUB, "github",
                       &(struct cpgo_forge_api_cfg){.token_env = c->github.token_env,
                                                    .token_file = c->github.token_file},
                       out);
    n += forge_runtime(c, CPGO_FORGE_GITLAB, "gitlab", &c->gitlab, out);
    n += forge_runtime(c, CPGO_FORGE_GITEA, "gitea", &c->gitea, out);
    if (ssh && !c->git.ssh_key) {
        fputs(RUNTIME "git.ssh_key not written: ssh repositories authenticate with the ssh "
                      "agent of the daemon's environment ($SSH_AUTH_SOCK) at run time\n",
              out);
        n++;
    }
    for (size_t i = 0; i < c->nservices; i++) {
        const struct cpgo_service_cfg *s = &c->services[i];
        char what[512] = "";
        size_t o = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (o < sizeof what)                                                                       \
            o += (size_t)snprintf(what + o, sizeof what - o, "%s", o ? "; " : "");                 \
        if (o < sizeof what) o += (size_t)snprintf(what + o, sizeof what - o, __VA_ARGS__);        \
    } while (0)
        if (s->nstatics) ADD("static_configs: host names resolved at each round");
        for (size_t k = 0; k < s->ndns; k++) {
            char iv[32];
            cpgo_duration_format(s->dns[k].refresh_ms, iv, sizeof iv);
            ADD("dns_sd_configs[%zu]: %zu name%s asked every %s", k, s->dns[k].nnames,
                s->dns[k].nnames == 1 ? "" : "s", iv);
        }
        for (size_t k = 0; k < s->nfiles; k++)
            ADD("file_sd_configs[%zu]: %zu file pattern%s read when they change", k,
                s->files[k].nfiles, s->files[k].nfiles == 1 ? "" : "s");
        for (size_t k = 0; k < s->nk8s; k++)
            ADD("kubernetes_sd_configs[%zu]: %s listed and watched at %s", k,
                k8s_role(s->k8s[k].role),
                s->k8s[k].api_server ? "the API server" : "the in-cluster API server");
#undef ADD
        fprintf(out, RUNTIME "services[%zu] %s: instances are discovered (%s)\n", i,
                cpgo_config_show(s->name, sh, sizeof sh), what);
        n++;
    }
    return n;
}

void cpgo_config_write_reference(FILE *out)
{
    struct cpgo_config *preset = calloc(1, sizeof *preset);
    if (preset) cpgo_limits_default(&preset->limits.profile);
    fputs(reference_head, out);
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &cpgo_config_keys[i];
        char tb[128], def[256], bounds[96];
        if (k->def_doc)
            snprintf(def, sizeof def, "%s", k->def_doc);
        else if (k->defs) {
            size_t len = 0;
            for (size_t j = 0; k->defs[j] && len < sizeof def; j++)
                len += (size_t)snprintf(def + len, sizeof def - len, "%s`%s`", j ? ", " : "",
                                        k->defs[j]);
        } else if (k->def)
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
        fprintf(out, "| `%s%s` | %s | %s | %s | %s |\n", cpgo_config_scope_prefix[k->scope],
                k->name, type_doc(k, tb, sizeof tb), def, bounds, k->desc);
    }
    fputs("\nEvery `backends[].KEY` may also be written as `defaults.KEY`.\n", out);
    /* the shared keys, from the table: what a service takes of a backend's */
    fputs("\nA service (`services[]`) also takes these `backends[]` keys, with the same meaning "
          "and default, and inherits them from `defaults`:",
          out);
    int n = 0;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &cpgo_config_keys[i];
        /* a section (open_pull_request) stands for its keys */
        if (!key_shared(k) || strchr(k->name, '.')) continue;
        fprintf(out, "%s `%s`", n++ ? "," : "", k->name);
    }
    fputs(". The profile's duration is the service's `seconds`; its `timeout` (default "
          "`seconds` + 15s, at most the schedule's shortest period) follows the same rules as a "
          "backend's.\n",
          out);
    free(preset);
}
