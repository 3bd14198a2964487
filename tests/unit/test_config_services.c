/* test_config_services.c - issue 11's configuration: services[] with their discovery
 * sources (static, DNS, file, Kubernetes), dns:, and the scrape options of backends and
 * services (tls_config, basic_auth, authorization, proxy_url) with secrets read from files.
 * Every key, every default, every refusal with its message (file:line:column and key
 * path), defaults:, targets across backends and services, names, the dump (secrets never
 * in it, round trip), reloading, and that a backends-only configuration dumps as before. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config/config.h"

#define NAME "svc.yaml"
#define BASE "/etc/cpgo"
#define OPR "  open_pull_request:\n    repository: https://github.com/org/app\n"
/* a minimal valid service, to which tests add keys */
#define S_HEAD                                                                                     \
    "services:\n"                                                                                  \
    "- name: checkout\n"                                                                           \
    "  schedule: '*/10 * * * *'\n"
#define S_STATIC "  static_configs:\n  - targets: ['10.0.0.7:6060']\n"
#define S_MIN S_HEAD S_STATIC OPR

static char dir[256]; /* a temporary directory for files the configuration names */

static void print_errors(const struct cpgo_config_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "    | %s\n", e->lines[i]);
}

static struct cpgo_config *parse_at(const char *y, const char *base, int line)
{
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    int rc = cpgo_config_parse(y, strlen(y), NAME, base, &c, &e);
    check_count++;
    if (rc || !c) {
        check_failures++;
        fprintf(stderr, "%s:%d: expected a valid config, got %d:\n", __FILE__, line, rc);
        print_errors(&e);
    }
    cpgo_config_errors_free(&e);
    return c;
}
#define parse_ok(y) parse_at(y, BASE, __LINE__)

/* Refused with a line that contains needle; returns all error lines joined (caller frees). */
static char *error_at(const char *y, const char *needle, int line)
{
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    int rc = cpgo_config_parse(y, strlen(y), NAME, BASE, &c, &e);
    check_count++;
    int found = 0;
    size_t len = 1;
    for (size_t i = 0; i < e.n; i++) {
        found |= strstr(e.lines[i], needle) != NULL;
        len += strlen(e.lines[i]) + 1;
    }
    if (rc != CPGO_E_INPUT || c || !found) {
        check_failures++;
        fprintf(stderr, "%s:%d: expected an error containing \"%s\", got rc %d and:\n", __FILE__,
                line, needle, rc);
        print_errors(&e);
    }
    char *all = calloc(1, len);
    for (size_t i = 0; i < e.n; i++) {
        strcat(all, e.lines[i]);
        strcat(all, "\n");
    }
    cpgo_config_free(c);
    cpgo_config_errors_free(&e);
    return all;
}
#define expect_error(y, needle) free(error_at(y, needle, __LINE__))

static char *dump(const struct cpgo_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(cpgo_config_dump(c, f) == 0);
    fclose(f);
    return buf;
}

/* The dump loads again and gives the same text. */
static void check_round_trip(const struct cpgo_config *c, const char *base, int line)
{
    char *d = dump(c);
    struct cpgo_config *c2 = parse_at(d, base, line);
    if (c2) {
        char *d2 = dump(c2);
        check_count++;
        if (strcmp(d, d2)) {
            check_failures++;
            fprintf(stderr, "%s:%d: dump differs after a reload\n--- first\n%s--- second\n%s",
                    __FILE__, line, d, d2);
        }
        free(d2);
    }
    cpgo_config_free(c2);
    free(d);
}

static void write_file(const char *name, const char *content, mode_t mode)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd < 0) return;
    CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
    close(fd);
    CHECK(chmod(p, mode) == 0);
}

/* A configuration text made with printf, dir substituted for %1$s. */
static char *fmt(const char *f)
{
    size_t n = strlen(f) * 2 + 64 * 256;
    char *s = malloc(n);
    const char *p = f;
    size_t o = 0;
    while (*p) { /* "@D" stands for the temporary directory */
        if (p[0] == '@' && p[1] == 'D') {
            o += (size_t)snprintf(s + o, n - o, "%s", dir);
            p += 2;
        } else {
            s[o++] = *p++;
        }
    }
    s[o] = 0;
    return s;
}

/* ---------------------------------------------------------------------------------------- */

static void test_every_key(void)
{
    char *y = fmt("dns:\n"
                  "  servers: ['127.0.0.1:5353', '[::1]:53', '10.0.0.2', '::1']\n"
                  "  timeout: 2s\n"
                  "services:\n"
                  "- name: checkout\n"
                  "  schedule: '*/10 * * * *'\n"
                  "  seconds: 20\n"
                  "  path: /debug/pprof/profile?gc=1\n"
                  "  scheme: https\n"
                  "  timeout: 40s\n"
                  "  connect_timeout: 3s\n"
                  "  retries: 4\n"
                  "  headers: {X-Team: shop}\n"
                  "  drop_labels: false\n"
                  "  keep_frames: 8\n"
                  "  strip_addresses: false\n"
                  "  max_instances: 3\n"
                  "  tls_config:\n"
                  "    ca_file: @D/ca.pem\n"
                  "    cert_file: @D/cert.pem\n"
                  "    key_file: @D/key.pem\n"
                  "    server_name: checkout.internal\n"
                  "    insecure_skip_verify: true\n"
                  "  authorization:\n"
                  "    type: Token\n"
                  "    credentials_file: @D/cred\n"
                  "  proxy_url: http://proxy:3128\n"
                  "  static_configs:\n"
                  "  - targets: ['10.0.0.7:6060', 'checkout-1.internal:6060', '[::1]:6060']\n"
                  "  - targets: ['10.0.0.8:6060']\n"
                  "  dns_sd_configs:\n"
                  "  - names: ['_pprof._tcp.checkout.prod.internal']\n"
                  "  - names: [checkout.internal, checkout2.internal.]\n"
                  "    type: A\n"
                  "    port: 6060\n"
                  "    refresh_interval: 1m\n"
                  "  - names: [checkout.internal]\n"
                  "    type: aaaa\n"
                  "    port: 6061\n"
                  "  - names: [_x._tcp.internal]\n"
                  "    port: 99\n"
                  "  file_sd_configs:\n"
                  "  - files: ['/etc/cpgo/targets/*.json', 'more.yaml', 'sub/x*.YML']\n"
                  "    refresh_interval: 10m\n"
                  "  - files: [one.json]\n"
                  "  kubernetes_sd_configs:\n"
                  "  - role: pod\n"
                  "    api_server: https://kubernetes.default.svc\n"
                  "    namespaces: {names: [prod, prod-2]}\n"
                  "    selectors: [{role: pod, label: 'app=checkout', field: "
                  "'status.phase=Running'}]\n"
                  "    port: pprof\n"
                  "    bearer_token_file: token\n"
                  "    tls_config: {ca_file: @D/ca.pem, server_name: kube.internal}\n"
                  "  - role: endpointslice\n"
                  "    namespaces: {own_namespace: true}\n"
                  "    selectors:\n"
                  "    - role: service\n"
                  "      label: app=checkout\n"
                  "    - {role: endpointslice, field: metadata.name=x}\n"
                  "    - {role: pod}\n"
                  "    port: 6060\n"
                  "  open_pull_request:\n"
                  "    repository: https://github.com/org/app\n"
                  "    target_file: cmd/checkout/default.pgo\n");
    write_file("ca.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
    write_file("cert.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
    write_file("key.pem", "-----BEGIN PRIVATE KEY-----\n", 0600);
    write_file("cred", "s3cr3t-credential\n\n", 0600);
    struct cpgo_config *c = parse_ok(y);
    if (!c) {
        free(y);
        return;
    }
    CHECK_EQ_INT(c->nbackends, 0);
    CHECK_EQ_INT(c->nservices, 1);
    CHECK_EQ_INT(c->dns.nservers, 4);
    CHECK(!strcmp(c->dns.servers[0], "127.0.0.1:5353"));
    CHECK(!strcmp(c->dns.servers[1], "[::1]:53"));
    CHECK_EQ_INT(c->dns.timeout_ms, 2000);
    const struct cpgo_service_cfg *s = &c->services[0];
    CHECK(!strcmp(s->name, "checkout"));
    CHECK(!strcmp(s->tmpl.name, "checkout"));
    CHECK(s->tmpl.url == NULL);
    CHECK(!strcmp(s->tmpl.schedule_text, "*/10 * * * *"));
    CHECK(s->tmpl.schedule != NULL);
    CHECK_EQ_INT(s->tmpl.period_s, 600);
    CHECK_EQ_INT(s->tmpl.seconds, 20);
    CHECK(!strcmp(s->path, "/debug/pprof/profile?gc=1"));
    CHECK_EQ_INT(s->https, 1);
    CHECK_EQ_INT(s->tmpl.timeout_ms, 40000);
    CHECK_EQ_INT(s->tmpl.connect_timeout_ms, 3000);
    CHECK_EQ_INT(s->tmpl.retries, 4);
    CHECK_EQ_INT(s->tmpl.nheaders, 1);
    CHECK(!strcmp(s->tmpl.headers[0].name, "X-Team"));
    CHECK_EQ_INT(s->tmpl.trim.drop_labels, 0);
    CHECK_EQ_INT(s->tmpl.trim.keep_frames, 8);
    CHECK_EQ_INT(s->tmpl.trim.strip_addresses, 0);
    CHECK_EQ_INT(s->max_instances, 3);
    const struct cpgo_scrape_auth_cfg *a = &s->tmpl.auth;
    char p[512];
    snprintf(p, sizeof p, "%s/ca.pem", dir);
    CHECK(a->tls.ca_file && !strcmp(a->tls.ca_file, p));
    CHECK(a->tls.cert_file && strstr(a->tls.cert_file, "/cert.pem"));
    CHECK(a->tls.key_file && strstr(a->tls.key_file, "/key.pem"));
    CHECK(!strcmp(a->tls.server_name, "checkout.internal"));
    CHECK_EQ_INT(a->tls.insecure_skip_verify, 1);
    CHECK(!strcmp(a->authz_type, "Token"));
    CHECK(a->authz_credentials_file && strstr(a->authz_credentials_file, "/cred"));
    CHECK(a->authz_credentials && !strcmp(a->authz_credentials, "s3cr3t-credential"));
    CHECK(a->basic_username == NULL && a->basic_password == NULL);
    CHECK(!strcmp(a->proxy_url, "http://proxy:3128"));
    /* sources */
    CHECK_EQ_INT(s->nstatics, 2);
    CHECK_EQ_INT(s->statics[0].ntargets, 3);
    CHECK(!strcmp(s->statics[0].targets[1], "checkout-1.internal:6060"));
    CHECK(!strcmp(s->statics[0].targets[2], "[::1]:6060"));
    CHECK_EQ_INT(s->statics[0].line, 29);
    CHECK_EQ_INT(s->statics[1].ntargets, 1);
    CHECK_EQ_INT(s->ndns, 4);
    CHECK_EQ_INT(s->dns[0].type, CPGO_DNS_SRV);
    CHECK_EQ_INT(s->dns[0].port, 0);
    CHECK_EQ_INT(s->dns[0].refresh_ms, 30000);
    CHECK(!strcmp(s->dns[0].names[0], "_pprof._tcp.checkout.prod.internal"));
    CHECK_EQ_INT(s->dns[1].type, CPGO_DNS_A);
    CHECK_EQ_INT(s->dns[1].nnames, 2);
    CHECK_EQ_INT(s->dns[1].port, 6060);
    CHECK_EQ_INT(s->dns[1].refresh_ms, 60000);
    CHECK_EQ_INT(s->dns[2].type, CPGO_DNS_AAAA);
    CHECK_EQ_INT(s->dns[3].type, CPGO_DNS_SRV);
    CHECK_EQ_INT(s->dns[3].port, 99); /* accepted, ignored for SRV */
    CHECK_EQ_INT(s->nfiles, 2);
    CHECK_EQ_INT(s->files[0].nfiles, 3);
    CHECK(!strcmp(s->files[0].files[0], "/etc/cpgo/targets/*.json"));
    CHECK(!strcmp(s->files[0].files[1], BASE "/more.yaml"));
    CHECK(!strcmp(s->files[0].files[2], BASE "/sub/x*.YML"));
    CHECK_EQ_INT(s->files[0].refresh_ms, 600000);
    CHECK_EQ_INT(s->files[1].refresh_ms, 300000);
    CHECK_EQ_INT(s->nk8s, 2);
    const struct cpgo_sd_k8s_cfg *k = &s->k8s[0];
    CHECK_EQ_INT(k->role, CPGO_K8S_POD);
    CHECK(!strcmp(k->api_server, "https://kubernetes.default.svc"));
    CHECK_EQ_INT(k->nnamespaces, 2);
    CHECK(!strcmp(k->namespaces[1], "prod-2"));
    CHECK_EQ_INT(k->own_namespace, 0);
    CHECK_EQ_INT(k->nselectors, 1);
    CHECK_EQ_INT(k->selectors[0].role, CPGO_K8S_POD);
    CHECK(!strcmp(k->selectors[0].label, "app=checkout"));
    CHECK(!strcmp(k->selectors[0].field, "status.phase=Running"));
    CHECK(!strcmp(k->port, "pprof"));
    CHECK(!strcmp(k->bearer_token_file, BASE "/token"));
    CHECK(k->tls.ca_file && !strcmp(k->tls.ca_file, p));
    CHECK(!strcmp(k->tls.server_name, "kube.internal"));
    k = &s->k8s[1];
    CHECK_EQ_INT(k->role, CPGO_K8S_ENDPOINTSLICE);
    CHECK(k->api_server == NULL && k->bearer_token_file == NULL && k->tls.ca_file == NULL);
    CHECK_EQ_INT(k->nnamespaces, 0);
    CHECK_EQ_INT(k->own_namespace, 1);
    CHECK_EQ_INT(k->nselectors, 3);
    CHECK_EQ_INT(k->selectors[0].role, CPGO_K8S_SERVICE);
    CHECK_EQ_INT(k->selectors[1].role, CPGO_K8S_ENDPOINTSLICE);
    CHECK(k->selectors[1].label == NULL);
    CHECK_EQ_INT(k->selectors[2].role, CPGO_K8S_POD);
    CHECK(!strcmp(k->port, "6060"));
    /* one target, the service's */
    CHECK_EQ_INT(c->ntargets, 1);
    CHECK_EQ_INT(s->target, 0);
    CHECK_EQ_INT(s->tmpl.target, 0);
    CHECK_EQ_INT(c->targets[0].nbackends, 0);
    CHECK_EQ_INT(c->targets[0].nservices, 1);
    CHECK_EQ_INT(c->targets[0].services[0], 0);
    CHECK(!strcmp(c->targets[0].key, "github.com/org/app@<default>:cmd/checkout/default.pgo"));
    /* the dump: every key, the credential's file but never its content */
    char *d = dump(c);
    CHECK(!strstr(d, "s3cr3t"));
    CHECK_STR_CONTAINS(d, "dns:\n  servers:\n  - \"127.0.0.1:5353\"\n  - \"[::1]:53\"\n");
    CHECK_STR_CONTAINS(d, "  timeout: 2s\n");
    CHECK_STR_CONTAINS(d, "backends: []\nservices:\n- name: checkout\n  seconds: 20\n"
                          "  path: /debug/pprof/profile?gc=1\n  scheme: https\n"
                          "  max_instances: 3\n  schedule: \"*/10 * * * *\"\n");
    CHECK_STR_CONTAINS(d, "  authorization:\n    type: Token\n    credentials_file: ");
    CHECK_STR_CONTAINS(d, "  proxy_url: http://proxy:3128\n");
    CHECK_STR_CONTAINS(d, "  static_configs:\n  - targets:\n    - \"10.0.0.7:6060\"\n");
    CHECK_STR_CONTAINS(d,
                       "  dns_sd_configs:\n  - names:\n    - _pprof._tcp.checkout.prod.internal\n"
                       "    type: SRV\n    port: null\n    refresh_interval: 30s\n");
    CHECK_STR_CONTAINS(d, "  kubernetes_sd_configs:\n  - role: pod\n");
    CHECK_STR_CONTAINS(d, "    selectors:\n    - role: pod\n      label: app=checkout\n");
    CHECK_STR_CONTAINS(d, "    namespaces:\n      names: []\n      own_namespace: true\n");
    CHECK_STR_CONTAINS(d, "#     services: checkout\n");
    CHECK(!strstr(d, "#     backends:"));
    free(d);
    check_round_trip(c, BASE, __LINE__);
    cpgo_config_free(c);
    free(y);
}

static void test_defaults(void)
{
    struct cpgo_config *c = parse_ok(S_MIN);
    if (!c) return;
    const struct cpgo_service_cfg *s = &c->services[0];
    CHECK_EQ_INT(s->tmpl.seconds, 30);
    CHECK(!strcmp(s->path, "/debug/pprof/profile"));
    CHECK_EQ_INT(s->https, 0);
    CHECK_EQ_INT(s->max_instances, 10);
    CHECK_EQ_INT(s->tmpl.timeout_ms, 45000);
    CHECK_EQ_INT(s->tmpl.connect_timeout_ms, 10000);
    CHECK_EQ_INT(s->tmpl.retries, 2);
    CHECK_EQ_INT(s->tmpl.nheaders, 0);
    CHECK_EQ_INT(s->tmpl.trim.drop_labels, 1);
    CHECK_EQ_INT(s->tmpl.trim.keep_frames, 0);
    CHECK_EQ_INT(s->tmpl.trim.strip_addresses, 1);
    CHECK(!strcmp(s->tmpl.target_file, "default.pgo"));
    CHECK(s->tmpl.target_branch == NULL); /* the repository's default, resolved at run time */
    CHECK_EQ_INT(s->tmpl.min_interval_ms, 3600000);
    CHECK_EQ_INT(s->tmpl.forge, CPGO_FORGE_GITHUB);
    CHECK_EQ_INT(s->tmpl.reopen_growth, 100);
    const struct cpgo_scrape_auth_cfg *a = &s->tmpl.auth;
    CHECK(!a->tls.ca_file && !a->tls.cert_file && !a->tls.key_file && !a->tls.server_name);
    CHECK_EQ_INT(a->tls.insecure_skip_verify, 0);
    CHECK(!a->basic_username && !a->basic_password_file && !a->basic_password);
    CHECK(!a->authz_type && !a->authz_credentials_file && !a->authz_credentials);
    CHECK(!a->proxy_url);
    CHECK(c->dns.nservers == 0 && c->dns.servers == NULL);
    CHECK_EQ_INT(c->dns.timeout_ms, 5000);
    CHECK_EQ_INT(s->line, 2);
    CHECK_EQ_INT(s->column, 3);
    char *d = dump(c);
    CHECK(!strstr(d, "dns:")); /* nothing set: quiet sections stay out */
    CHECK(!strstr(d, "tls_config"));
    CHECK(!strstr(d, "basic_auth"));
    CHECK(!strstr(d, "proxy_url"));
    CHECK_STR_CONTAINS(d, "  dns_sd_configs: []\n  file_sd_configs: []\n"
                          "  kubernetes_sd_configs: []\n");
    free(d);
    check_round_trip(c, BASE, __LINE__);
    cpgo_config_free(c);

    /* k8s and file defaults */
    c = parse_ok(S_HEAD OPR "  kubernetes_sd_configs:\n  - role: endpointslice\n"
                            "  file_sd_configs:\n  - files: [a.json]\n");
    if (c) {
        const struct cpgo_sd_k8s_cfg *k = &c->services[0].k8s[0];
        CHECK(!k->api_server && !k->namespaces && !k->own_namespace && !k->selectors && !k->port);
        CHECK(!k->bearer_token_file && !k->tls.ca_file && !k->tls.insecure_skip_verify);
        CHECK_EQ_INT(c->services[0].files[0].refresh_ms, 300000);
        check_round_trip(c, BASE, __LINE__);
    }
    cpgo_config_free(c);
}

/* backends: optional beside services; one of the two */
static void test_lists(void)
{
    struct cpgo_config *c = parse_ok("backends: []\n" S_MIN);
    if (c) CHECK_EQ_INT(c->nbackends, 0);
    cpgo_config_free(c);
    cpgo_config_free(parse_ok("backends:\n" S_MIN));
    expect_error("services: []\n", NAME ":1:11: services: the list is empty; at least one "
                                        "service (or backend) is required");
    expect_error("backends: []\nservices: []\n", NAME ":1:11: backends: the list is empty");
    expect_error("log: {level: info}\n", NAME ":1:1: backends: required");
    expect_error("services: {name: x}\n", NAME ":1:11: services: expected a list, got a mapping");
    expect_error("services:\n- x\n", NAME ":2:3: services[0]: expected a mapping (name, "
                                          "schedule, static_configs..., open_pull_request), got a "
                                          "single value");
    /* many services are fine, each one target when their files differ */
    c = parse_ok(S_MIN "- name: cart\n  schedule: '@hourly'\n" S_STATIC OPR
                       "    target_file: cart.pgo\n");
    if (c) {
        CHECK_EQ_INT(c->nservices, 2);
        CHECK_EQ_INT(c->ntargets, 2);
        CHECK_EQ_INT(c->services[1].target, 1);
        CHECK(!strcmp(c->targets[1].key, "github.com/org/app@<default>:cart.pgo"));
    }
    cpgo_config_free(c);
}

static void test_service_keys(void)
{
    /* required keys */
    expect_error("services:\n- schedule: '@hourly'\n" S_STATIC OPR,
                 NAME ":2:3: services[0].name: required");
    expect_error("services:\n- name: a\n" S_STATIC OPR,
                 NAME ":2:3: services[0].schedule: required");
    expect_error(S_HEAD S_STATIC, NAME ":2:3: services[0].open_pull_request.repository: required");
    expect_error(S_HEAD OPR, NAME ":2:3: services[0]: no discovery source; give at least one of "
                                  "static_configs, dns_sd_configs, file_sd_configs or "
                                  "kubernetes_sd_configs");
    expect_error(S_HEAD OPR "  static_configs: []\n", "services[0]: no discovery source");
    /* values */
    expect_error(S_MIN "  name: x\n", NAME ":8:3: services[0].name: duplicate key");
    expect_error("services:\n- name: 'a b'\n  schedule: '@hourly'\n" S_STATIC OPR,
                 NAME ":2:9: services[0].name: 'a b' is not a valid name");
    expect_error(S_MIN "  seconds: 0\n",
                 NAME ":8:12: services[0].seconds: '0' is out of range (1 to 3600)");
    expect_error(S_MIN "  seconds: 3601\n", "services[0].seconds: '3601' is out of range");
    expect_error(S_MIN "  seconds: '30'\n", "services[0].seconds: '30' is quoted");
    expect_error(S_MIN "  path: debug/pprof\n",
                 NAME ":8:9: services[0].path: 'debug/pprof' must start with '/'");
    expect_error(S_MIN "  path: '/a b'\n",
                 "services[0].path: '/a b' must not contain spaces or control characters");
    expect_error(S_MIN "  path: /p?seconds=5\n",
                 "services[0].path: '/p?seconds=5' must not set seconds= (cpgo adds it from the "
                 "service's seconds)");
    expect_error(S_MIN "  path: /p#x\n", "services[0].path: '/p#x' must not contain a fragment");
    expect_error(S_MIN "  scheme: ftp\n",
                 NAME ":8:11: services[0].scheme: 'ftp' is not one of http, https");
    expect_error(S_MIN "  max_instances: -1\n",
                 "services[0].max_instances: '-1' is out of range (0 to 100000)");
    struct cpgo_config *c = parse_ok(S_MIN "  max_instances: 0\n  scheme: HTTPS\n");
    if (c) CHECK_EQ_INT(c->services[0].max_instances, 0);
    if (c) CHECK_EQ_INT(c->services[0].https, 1);
    cpgo_config_free(c);
    /* backend-only keys and mistakes get a pointed message */
    expect_error(S_MIN "  url: http://x:1/\n",
                 NAME ":8:3: services[0].url: unknown key here; 'url' is for backends only");
    expect_error(S_MIN "  max_instance: 3\n",
                 "services[0].max_instance: unknown key; did you mean 'max_instances'?");
    expect_error(S_MIN "  schedul: '@daily'\n",
                 "services[0].schedul: unknown key; did you mean 'schedule'?");
    expect_error(S_MIN "  static_config: []\n",
                 "services[0].static_config: unknown key; did you mean 'static_configs'?");
    expect_error("max_instances: 3\n" S_MIN, NAME ":1:1: max_instances: unknown key");
    /* the timeout follows the backend rules with the service's seconds */
    expect_error(S_MIN "  seconds: 60\n  timeout: 30s\n",
                 NAME ":9:12: services[0].timeout: 30s must be longer than the profile's 60 "
                      "seconds (seconds), or the scrape ends before the profile does");
    /* a default past the schedule's period is clamped to it (Prometheus' scrape_timeout) */
    c = parse_ok("services:\n- name: a\n  schedule: '* * * * *'\n  seconds: 50\n" S_STATIC OPR);
    if (c) CHECK_EQ_INT(c->services[0].tmpl.timeout_ms, 60000);
    cpgo_config_free(c);
    expect_error("services:\n- name: a\n  schedule: '* * * * *'\n  seconds: 60\n" S_STATIC OPR,
                 NAME ":3:13: services[0].schedule: '* * * * *' fires 1m0s apart, not longer "
                      "than the profile's 60 seconds (seconds)");
    c = parse_ok("services:\n- name: a\n  schedule: '* * * * *'\n  seconds: 10\n" S_STATIC OPR);
    if (c) CHECK_EQ_INT(c->services[0].tmpl.timeout_ms, 25000);
    cpgo_config_free(c);
    expect_error(S_MIN "  connect_timeout: 50s\n",
                 "services[0].connect_timeout: 50s must not be longer than timeout (45s)");
    expect_error(S_MIN "  keep_frames: 1\n", "services[0].keep_frames: 1 is not allowed");
    expect_error(S_MIN "  headers: {'a b': c}\n", "services[0].headers: 'a b' is not a valid "
                                                  "header name");
    expect_error(S_HEAD S_STATIC OPR "    target_branch: 'a..b'\n",
                 "services[0].open_pull_request.target_branch: 'a..b' is not a valid branch");
}

static void test_static(void)
{
    expect_error(S_HEAD OPR "  static_configs:\n  - targets: ['10.0.0.7']\n",
                 NAME ":7:15: services[0].static_configs[0].targets[0]: '10.0.0.7' has no port");
    expect_error(S_HEAD OPR "  static_configs:\n  - targets: [a:1, 'a b:2']\n",
                 "services[0].static_configs[0].targets[1]: 'a b:2'");
    expect_error(S_HEAD OPR "  static_configs:\n  - targets: ['a:0']\n",
                 "services[0].static_configs[0].targets[0]: 'a:0'");
    expect_error(S_HEAD OPR "  static_configs:\n  - {}\n",
                 NAME ":7:5: services[0].static_configs[0].targets: required");
    expect_error(S_HEAD OPR "  static_configs:\n  - targets: []\n",
                 NAME ":7:14: services[0].static_configs[0].targets: the list is empty; at "
                      "least one entry is required");
    expect_error(S_HEAD OPR "  static_configs:\n  - targets: x:1\n",
                 "services[0].static_configs[0].targets: expected a list of strings, got a "
                 "single value");
    expect_error(S_HEAD OPR "  static_configs:\n  - targets: [[a]]\n",
                 "services[0].static_configs[0].targets[0]: expected a string, got a list");
    expect_error(S_HEAD OPR "  static_configs:\n  - targets: [a:1]\n    labels: {a: b}\n",
                 NAME ":8:5: services[0].static_configs[0].labels: unknown key");
    expect_error(S_HEAD OPR "  static_configs: [x]\n",
                 "services[0].static_configs[0]: expected a mapping, got a single value");
    expect_error(S_HEAD OPR "  static_configs: {targets: [a:1]}\n",
                 "services[0].static_configs: expected a list, got a mapping");
    /* ceilings */
    char *y = malloc(200000);
    strcpy(y, S_HEAD OPR "  static_configs:\n  - targets: [");
    for (int i = 0; i < 10001; i++)
        strcat(y, i ? ",a:1" : "a:1");
    strcat(y, "]\n");
    expect_error(y, "services[0].static_configs[0].targets: 10001 entries; at most 10000 are "
                    "allowed");
    strcpy(y, S_HEAD OPR "  static_configs:\n");
    for (int i = 0; i < 1001; i++)
        strcat(y, "  - targets: [a:1]\n");
    expect_error(y, "services[0].static_configs: 1001 entries; at most 1000 are allowed");
    free(y);
}

static void test_dns_sd(void)
{
    expect_error(S_HEAD OPR "  dns_sd_configs:\n  - names: [a.internal]\n    type: SRV\n"
                            "  - names: [b.internal]\n    type: A\n",
                 NAME ":9:5: services[0].dns_sd_configs[1].port: required for type A");
    expect_error(S_HEAD OPR "  dns_sd_configs:\n  - names: [b.internal]\n    type: AAAA\n"
                            "    port: null\n",
                 NAME ":9:11: services[0].dns_sd_configs[0].port: required for type AAAA");
    expect_error(S_HEAD OPR "  dns_sd_configs:\n  - names: [b.internal]\n    type: MX\n",
                 "services[0].dns_sd_configs[0].type: 'MX' is not one of SRV, A, AAAA");
    expect_error(S_HEAD OPR "  dns_sd_configs:\n  - names: [b.internal]\n    type: A\n"
                            "    port: 70000\n",
                 "services[0].dns_sd_configs[0].port: '70000' is out of range (1 to 65535)");
    expect_error(S_HEAD OPR "  dns_sd_configs:\n  - type: SRV\n",
                 NAME ":7:5: services[0].dns_sd_configs[0].names: required");
    expect_error(S_HEAD OPR "  dns_sd_configs:\n  - names: ['bad name']\n",
                 NAME ":7:13: services[0].dns_sd_configs[0].names[0]: 'bad name' is not a DNS "
                      "name");
    expect_error(S_HEAD OPR "  dns_sd_configs:\n  - names: ['a..b']\n", "'a..b' is not a DNS name");
    expect_error(S_HEAD OPR "  dns_sd_configs:\n  - names: [a]\n    refresh_interval: 0s\n",
                 "services[0].dns_sd_configs[0].refresh_interval: '0s' is out of range");
    /* the top-level resolver */
    expect_error("dns:\n  servers: [ns1.example.com]\n" S_MIN, NAME
                 ":2:13: dns.servers[0]: 'ns1.example.com' is not an IP address with an "
                 "optional port (e.g. 127.0.0.1:5353 or [::1]:53); host names are not allowed");
    expect_error("dns:\n  servers: ['127.0.0.1:0']\n" S_MIN, "dns.servers[0]: '127.0.0.1:0'");
    expect_error("dns:\n  servers: ['127.0.0.1:x']\n" S_MIN, "dns.servers[0]: '127.0.0.1:x'");
    expect_error("dns:\n  servers: ['[::1]:']\n" S_MIN, "dns.servers[0]: '[::1]:'");
    expect_error("dns:\n  servers: ['[127.0.0.1]']\n" S_MIN, "dns.servers[0]: '[127.0.0.1]'");
    expect_error("dns:\n  servers: ['1.2.3']\n" S_MIN, "dns.servers[0]: '1.2.3'");
    expect_error("dns:\n  timeout: 10m\n" S_MIN,
                 "dns.timeout: '10m' is out of range (100ms to 1m0s)");
    expect_error("dns:\n  server: []\n" S_MIN, "dns.server: unknown key; did you mean 'servers'?");
    struct cpgo_config *c = parse_ok("dns:\n  servers: []\n" S_MIN);
    if (c) CHECK_EQ_INT(c->dns.nservers, 0);
    cpgo_config_free(c);
    /* dns: also with backends alone */
    c = parse_ok("dns: {servers: ['127.0.0.1']}\nbackends:\n- url: http://h:1/\n"
                 "  schedule: '@hourly'\n" OPR);
    if (c) CHECK_EQ_INT(c->dns.nservers, 1);
    cpgo_config_free(c);
}

static void test_file_sd(void)
{
    expect_error(S_HEAD OPR "  file_sd_configs:\n  - files: [targets.txt]\n",
                 NAME ":7:13: services[0].file_sd_configs[0].files[0]: 'targets.txt' must end in "
                      ".json, .yml or .yaml");
    expect_error(S_HEAD OPR "  file_sd_configs:\n  - files: ['*/a.json']\n",
                 "files[0]: '*/a.json' may have one '*', in its last path segment only");
    expect_error(S_HEAD OPR "  file_sd_configs:\n  - files: ['a*b*.json']\n",
                 "files[0]: 'a*b*.json' may have one '*', in its last path segment only");
    expect_error(S_HEAD OPR "  file_sd_configs:\n  - files: ['a.json/b']\n",
                 "'a.json/b' must end in .json, .yml or .yaml");
    expect_error(S_HEAD OPR "  file_sd_configs:\n  - refresh_interval: 1m\n",
                 "services[0].file_sd_configs[0].files: required");
    expect_error(S_HEAD OPR "  file_sd_configs:\n  - files: [a.json]\n    refresh_interval: 5\n",
                 "services[0].file_sd_configs[0].refresh_interval: '5' is not a duration");
    /* relative patterns: against the configuration file's directory */
    struct cpgo_config *c =
        parse_at(S_HEAD OPR "  file_sd_configs:\n  - files: ['t/*.json']\n", "/srv/cfg", __LINE__);
    if (c) CHECK(!strcmp(c->services[0].files[0].files[0], "/srv/cfg/t/*.json"));
    cpgo_config_free(c);
}

static void test_k8s_sd(void)
{
#define K8S S_HEAD OPR "  kubernetes_sd_configs:\n"
    expect_error(K8S "  - api_server: https://k\n",
                 NAME ":7:5: services[0].kubernetes_sd_configs[0].role: required");
    expect_error(K8S "  - role: node\n", NAME ":7:11: services[0].kubernetes_sd_configs[0].role: "
                                              "'node' is not one of pod, endpointslice");
    expect_error(K8S "  - role: pod\n    api_server: ftp://k\n",
                 "services[0].kubernetes_sd_configs[0].api_server: 'ftp://k'");
    expect_error(K8S "  - role: pod\n    api_server: https://u:pw@k\n",
                 "services[0].kubernetes_sd_configs[0].api_server: 'https://u:xxxxx@k' must not "
                 "hold credentials; set bearer_token_file");
    expect_error(K8S "  - role: pod\n    namespaces: {names: [Prod]}\n",
                 "services[0].kubernetes_sd_configs[0].namespaces.names[0]: 'Prod' is not a "
                 "namespace name");
    expect_error(K8S "  - role: pod\n    namespaces: {name: [prod]}\n",
                 "namespaces.name: unknown key; did you mean 'names'?");
    expect_error(K8S "  - role: pod\n    namespaces: [prod]\n",
                 "services[0].kubernetes_sd_configs[0].namespaces: expected a mapping, got a "
                 "list");
    expect_error(K8S "  - role: pod\n    selectors: [{role: endpointslice, label: a=b}]\n",
                 NAME ":8:16: services[0].kubernetes_sd_configs[0].selectors[0].role: "
                      "endpointslice does not apply to role pod (only pod selectors do)");
    expect_error(K8S "  - role: pod\n    selectors: [{role: service}]\n",
                 "selectors[0].role: service does not apply to role pod");
    expect_error(K8S "  - role: pod\n    selectors: [{label: a=b}]\n",
                 NAME ":8:17: services[0].kubernetes_sd_configs[0].selectors[0].role: required");
    expect_error(K8S "  - role: pod\n    selectors: [{role: node}]\n",
                 "selectors[0].role: 'node' is not one of pod, endpointslice, service");
    expect_error(K8S "  - role: pod\n    port: 0\n",
                 "services[0].kubernetes_sd_configs[0].port: '0' is neither a port number");
    expect_error(K8S "  - role: pod\n    port: Pprof\n", "port: 'Pprof' is neither");
    expect_error(K8S "  - role: pod\n    port: a-very-long-port-name\n", "is neither");
    expect_error(K8S "  - role: pod\n    port: '-x'\n", "is neither");
    expect_error(K8S "  - role: pod\n    bearer_token: abc\n", NAME
                 ":8:5: services[0].kubernetes_sd_configs[0].bearer_token: secrets must not "
                 "be written in the configuration; put it in a file and set bearer_token_file");
    char *y = fmt(K8S "  - role: pod\n    tls_config: {cert_file: @D/cert.pem}\n");
    expect_error(y, "services[0].kubernetes_sd_configs[0].tls_config.cert_file: needs "
                    "tls_config.key_file");
    free(y);
    y = fmt(K8S "  - role: pod\n    tls_config: {ca_file: @D/nope.pem}\n");
    char *e = error_at(y, "services[0].kubernetes_sd_configs[0].tls_config.ca_file: ", __LINE__);
    CHECK_STR_CONTAINS(e, "/nope.pem does not exist");
    free(e);
    free(y);
    expect_error(K8S "  - role: pod\n    api_server: https://k\n    namespaces: {own_namespace: "
                     "true}\n",
                 "services[0].kubernetes_sd_configs[0].namespaces.own_namespace: needs the "
                 "in-cluster API server");
    struct cpgo_config *c = parse_ok(K8S "  - role: endpointslice\n    port: 8080\n"
                                         "    selectors: [{role: pod, field: spec.nodeName=n}]\n");
    if (c) CHECK(!strcmp(c->services[0].k8s[0].port, "8080"));
    cpgo_config_free(c);
#undef K8S
}

/* tls_config, basic_auth, authorization, proxy_url on backends, services and defaults */
static void test_scrape_options(void)
{
    write_file("pw", "hunter2-password\n", 0600);
    write_file("pw-crlf", "hunter3\r\n\n", 0400);
    write_file("empty", "\n\n", 0600);
    write_file("two-lines", "a\nb\n", 0600);
    write_file("group-writable", "x-secret\n", 0620);
    write_file("world-writable", "x-secret\n", 0602);
    char *big = malloc(70000);
    memset(big, 'a', 69999);
    big[69999] = 0;
    write_file("big", big, 0600);
    free(big);
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0);

#define B_HEAD "backends:\n- url: https://h:6060/debug/pprof/profile\n  schedule: '@hourly'\n" OPR
    char *y = fmt(B_HEAD "  basic_auth: {username: scraper, password_file: @D/pw}\n");
    struct cpgo_config *c = parse_ok(y);
    free(y);
    if (c) {
        const struct cpgo_scrape_auth_cfg *a = &c->backends[0].auth;
        CHECK(!strcmp(a->basic_username, "scraper"));
        CHECK(!strcmp(a->basic_password, "hunter2-password"));
        CHECK(strstr(a->basic_password_file, "/pw") != NULL);
        char *d = dump(c);
        CHECK(!strstr(d, "hunter2"));
        CHECK_STR_CONTAINS(d, "  basic_auth:\n    username: scraper\n    password_file: ");
        free(d);
        check_round_trip(c, BASE, __LINE__);
    }
    cpgo_config_free(c);
    /* CRLF endings, several trailing line breaks; a 0400 file */
    y = fmt(B_HEAD "  basic_auth: {username: u, password_file: @D/pw-crlf}\n");
    c = parse_ok(y);
    free(y);
    if (c) CHECK(!strcmp(c->backends[0].auth.basic_password, "hunter3"));
    cpgo_config_free(c);
    /* relative to the configuration file's directory */
    c = parse_at(B_HEAD "  basic_auth: {username: u, password_file: pw}\n", dir, __LINE__);
    if (c) CHECK(!strcmp(c->backends[0].auth.basic_password, "hunter2-password"));
    cpgo_config_free(c);

    /* every refusal names the key and the file, never the content */
    static const struct {
        const char *file, *needle;
    } bad[] = {
        {"empty", "/empty is empty"},
        {"two-lines", "/two-lines holds more than one line or control characters"},
        {"group-writable", "/group-writable is writable by its group: refused (chmod 600 it)"},
        {"world-writable", "/world-writable is writable by every user: refused"},
        {"big", "/big is larger than 64 KiB"},
        {"fifo", "/fifo is a FIFO"},
        {"missing", "/missing does not exist"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char t[600];
        snprintf(t, sizeof t, B_HEAD "  basic_auth:\n    username: u\n    password_file: @D/%s\n",
                 bad[i].file);
        y = fmt(t);
        char *e = error_at(y, NAME ":8:20: backends[0].basic_auth.password_file: ", __LINE__);
        CHECK_STR_CONTAINS(e, bad[i].needle);
        CHECK(!strstr(e, "x-secret") && !strstr(e, "aaaaaaaa"));
        free(e);
        free(y);
    }
    /* the same for authorization, on a service */
    y = fmt(S_MIN "  authorization:\n    credentials_file: @D/world-writable\n");
    expect_error(y, NAME ":9:23: services[0].authorization.credentials_file: ");
    free(y);
    y = fmt(S_MIN "  authorization: {credentials_file: @D/pw}\n");
    c = parse_ok(y);
    free(y);
    if (c) {
        const struct cpgo_scrape_auth_cfg *a = &c->services[0].tmpl.auth;
        CHECK(!strcmp(a->authz_type, "Bearer")); /* the default */
        CHECK(!strcmp(a->authz_credentials, "hunter2-password"));
        char *d = dump(c);
        CHECK(!strstr(d, "hunter2"));
        CHECK_STR_CONTAINS(d, "  authorization:\n    type: Bearer\n    credentials_file: ");
        free(d);
        check_round_trip(c, BASE, __LINE__);
    }
    cpgo_config_free(c);

    /* secrets only from files */
    expect_error(B_HEAD "  basic_auth: {username: u, password: hunter2}\n",
                 NAME ":6:29: backends[0].basic_auth.password: secrets must not be written in "
                      "the configuration; put it in a file and set basic_auth.password_file");
    expect_error(S_MIN "  authorization: {credentials: abc}\n",
                 "services[0].authorization.credentials: secrets must not be written in the "
                 "configuration; put it in a file and set authorization.credentials_file");
    expect_error("defaults:\n  basic_auth: {password: x}\n" B_HEAD,
                 "defaults.basic_auth.password: secrets must not be written");
    /* the rules across keys */
    y = fmt(B_HEAD "  basic_auth: {username: u, password_file: @D/pw}\n"
                   "  authorization: {credentials_file: @D/pw}\n");
    expect_error(y, NAME ":7:37: backends[0].authorization: not together with basic_auth");
    free(y);
    y = fmt(B_HEAD "  headers: {authorization: x}\n  authorization: {credentials_file: @D/pw}\n");
    expect_error(y, NAME ":6:12: backends[0].headers.authorization: not together with "
                         "authorization (both set the Authorization header)");
    free(y);
    y = fmt(S_MIN "  headers: {Authorization: x}\n  basic_auth: {username: u}\n");
    expect_error(y, "services[0].headers.Authorization: not together with basic_auth");
    free(y);
    y = fmt(B_HEAD "  basic_auth: {password_file: @D/pw}\n");
    expect_error(y, NAME ":6:15: backends[0].basic_auth.username: required with basic_auth");
    free(y);
    expect_error(B_HEAD "  authorization: {type: Bearer}\n",
                 NAME ":6:18: backends[0].authorization.credentials_file: required with "
                      "authorization");
    y = fmt(B_HEAD "  authorization: {type: basic, credentials_file: @D/pw}\n");
    expect_error(y, "backends[0].authorization.type: 'basic': use basic_auth for Basic");
    free(y);
    y = fmt(B_HEAD "  authorization: {type: 'a b', credentials_file: @D/pw}\n");
    expect_error(y, "backends[0].authorization.type: 'a b' is not an authorization scheme");
    free(y);
    expect_error(B_HEAD "  basic_auth: {username: 'a:b'}\n",
                 "backends[0].basic_auth.username: 'a:b' must be 1 to 256 characters without ':'");
    /* tls */
    y = fmt(B_HEAD "  tls_config: {key_file: @D/key.pem}\n");
    expect_error(y, NAME ":6:26: backends[0].tls_config.key_file: needs tls_config.cert_file");
    free(y);
    y = fmt(B_HEAD "  tls_config:\n    ca_file: @D/nope.pem\n");
    char *e = error_at(y, NAME ":7:14: backends[0].tls_config.ca_file: ", __LINE__);
    CHECK_STR_CONTAINS(e, "/nope.pem does not exist");
    free(e);
    free(y);
    y = fmt(B_HEAD "  tls_config:\n    ca_file: @D/fifo\n");
    expect_error(y, "backends[0].tls_config.ca_file: ");
    free(y);
    y = fmt(B_HEAD "  tls_config:\n    ca_file: @D\n");
    expect_error(y, "is a directory");
    free(y);
    expect_error(B_HEAD "  tls_config: {server_name: 'a b'}\n",
                 "backends[0].tls_config.server_name: 'a b' is not a host name");
    expect_error(B_HEAD "  tls_config: {insecure_skip_verify: yes}\n",
                 "backends[0].tls_config.insecure_skip_verify: 'yes' is not true or false");
    expect_error(B_HEAD "  tls_config: {cafile: x}\n",
                 "backends[0].tls_config.cafile: unknown key; did you mean 'ca_file'?");
    /* proxy_url: http(s), its credentials masked */
    expect_error(B_HEAD "  proxy_url: socks5://p:1080\n",
                 "backends[0].proxy_url: 'socks5://p:1080'");
    c = parse_ok(B_HEAD "  proxy_url: http://user:proxy-pass-9@proxy:3128\n");
    if (c) {
        CHECK(!strcmp(c->backends[0].auth.proxy_url, "http://user:proxy-pass-9@proxy:3128"));
        char *d = dump(c);
        CHECK(!strstr(d, "proxy-pass-9"));
        CHECK_STR_CONTAINS(d, "  proxy_url: http://user:xxxxx@proxy:3128\n");
        free(d);
    }
    cpgo_config_free(c);

    /* defaults: apply to backends and services alike; the file is read once, there */
    y = fmt("defaults:\n"
            "  basic_auth: {username: u, password_file: @D/pw}\n"
            "  tls_config: {ca_file: @D/ca.pem}\n"
            "  timeout: 50s\n"
            "  headers: {X-A: b}\n"
            "  open_pull_request: {repository: 'https://github.com/org/app', target_file: x.pgo}\n"
            "  url: http://ignored-by-services:1/\n"
            "backends:\n- url: http://h:1/\n  schedule: '@hourly'\n"
            "services:\n- name: s\n  schedule: '@hourly'\n" S_STATIC);
    c = parse_ok(y);
    free(y);
    if (c) {
        const struct cpgo_backend_cfg *t = &c->services[0].tmpl;
        CHECK(!strcmp(t->auth.basic_password, "hunter2-password"));
        CHECK(!strcmp(c->backends[0].auth.basic_password, "hunter2-password"));
        CHECK(t->auth.tls.ca_file && strstr(t->auth.tls.ca_file, "/ca.pem"));
        CHECK_EQ_INT(t->timeout_ms, 50000);
        CHECK_EQ_INT(t->nheaders, 1);
        CHECK(!strcmp(t->target_file, "x.pgo"));
        CHECK(t->url == NULL);
        CHECK(!strcmp(t->name, "s"));
        /* backend and service write the same file: one target with both */
        CHECK_EQ_INT(c->ntargets, 1);
        CHECK_EQ_INT(c->targets[0].nbackends, 1);
        CHECK_EQ_INT(c->targets[0].nservices, 1);
        char *d = dump(c);
        CHECK_STR_CONTAINS(d, "#     backends: h:1\n#     services: s\n");
        free(d);
        check_round_trip(c, BASE, __LINE__);
    }
    cpgo_config_free(c);
    y = fmt("defaults:\n  basic_auth: {username: u, password_file: @D/empty}\n" B_HEAD S_MIN);
    e = error_at(y, NAME ":2:44: defaults.basic_auth.password_file: ", __LINE__);
    CHECK_STR_CONTAINS(e, "/empty is empty");
    free(e);
    free(y);
    /* tls_config, basic_auth and authorization written replace defaults' whole */
    y = fmt("defaults:\n  basic_auth: {username: u, password_file: @D/pw}\n"
            "  tls_config: {ca_file: @D/ca.pem, insecure_skip_verify: true}\n" S_MIN
            "  basic_auth: null\n  tls_config: {server_name: x.internal}\n"
            "- name: s2\n  schedule: '@hourly'\n" S_STATIC OPR "    target_file: b.pgo\n"
            "  basic_auth: {username: v}\n");
    c = parse_ok(y);
    free(y);
    if (c) {
        const struct cpgo_scrape_auth_cfg *a = &c->services[0].tmpl.auth;
        CHECK(!a->basic_username && !a->basic_password_file && !a->basic_password);
        CHECK(!a->tls.ca_file && !a->tls.insecure_skip_verify);
        CHECK(!strcmp(a->tls.server_name, "x.internal"));
        a = &c->services[1].tmpl.auth;
        CHECK(!strcmp(a->basic_username, "v"));
        CHECK(!a->basic_password_file && !a->basic_password);
        CHECK(a->tls.ca_file && a->tls.insecure_skip_verify); /* inherited whole */
        char *d = dump(c);
        CHECK_STR_CONTAINS(d, "  tls_config:\n    ca_file: null\n    cert_file: null\n"
                              "    key_file: null\n    server_name: x.internal\n"
                              "    insecure_skip_verify: false\n");
        free(d);
        check_round_trip(c, BASE, __LINE__);
    }
    cpgo_config_free(c);
    /* the inherited key is named as inherited */
    y = fmt("defaults:\n  authorization: {credentials_file: @D/pw}\n" S_MIN
            "  basic_auth: {username: u}\n");
    expect_error(y, NAME ":2:37: services[0].authorization (from defaults): not together with "
                         "basic_auth");
    free(y);
#undef B_HEAD
}

/* names: required and unique among services and backends */
static void test_names(void)
{
    expect_error(S_MIN "- name: checkout\n  schedule: '@hourly'\n" S_STATIC OPR,
                 NAME ":8:9: services[1].name: 'checkout' is also the name of services[0]");
    expect_error(
        "backends:\n- name: checkout\n  url: http://h:1/\n  schedule: '@hourly'\n" OPR S_MIN,
        NAME ":8:9: services[0].name: 'checkout' is also the name of backends[0]");
    /* a backend named after its URL steps aside */
    struct cpgo_config *c =
        parse_ok("backends:\n- url: http://h:1/\n  schedule: '@hourly'\n" OPR
                 "services:\n- name: 'h:1'\n  schedule: '@hourly'\n" S_STATIC OPR);
    if (c) CHECK(!strcmp(c->backends[0].name, "h:1#2"));
    if (c) CHECK(!strcmp(c->services[0].name, "h:1"));
    cpgo_config_free(c);
}

/* targets: a service groups with backends as backends do, under the same rules */
static void test_targets(void)
{
    expect_error(
        "backends:\n- url: http://h:1/\n  schedule: '@hourly'\n" OPR S_MIN "  keep_frames: 4\n",
        NAME ":13:16: services[0].keep_frames: 4 differs from backends[0] (0), which "
             "writes the same target github.com/org/app@<default>:default.pgo; backends of one "
             "target must trim alike");
    expect_error(S_MIN "- name: b\n  schedule: '@hourly'\n" S_STATIC OPR "    min_interval: 2h\n",
                 "services[1].open_pull_request.min_interval: 2h0m0s differs from services[0]");
    expect_error(S_MIN "- name: b\n  schedule: '@hourly'\n" S_STATIC OPR
                       "    target_file: b.pgo\n    head_branch: cpgo/<default>/default.pgo\n",
                 "services[1].open_pull_request.head_branch: 'cpgo/<default>/default.pgo' is also "
                 "the head branch of services[0]");
    /* the target of a service alone is the target a backend would make */
    struct cpgo_config *c = parse_ok(S_MIN);
    struct cpgo_config *b = parse_ok("backends:\n- url: http://h:1/\n  schedule: '@hourly'\n" OPR);
    if (c && b) CHECK(!strcmp(c->targets[0].id, b->targets[0].id));
    cpgo_config_free(c);
    cpgo_config_free(b);
}

/* A backends-only configuration dumps exactly as before services existed (with the pgo
 * section's defaults since issue 12, and the pull request's options since issue 13). */
static void test_backends_dump_unchanged(void)
{
    struct cpgo_config *c = parse_ok("backends:\n- url: http://localhost:6060/debug/pprof/"
                                     "profile?seconds=30\n  schedule: '* * * * *'\n" OPR);
    if (!c) return;
    char *d = dump(c);
    const char *want_tail = "  strip_addresses: true\n"
                            "  open_pull_request:\n"
                            "    repository: https://github.com/org/app\n";
    CHECK_STR_CONTAINS(d, want_tail);
    CHECK_STR_CONTAINS(d, "git:\n  author_name: cpgo\n  author_email: cpgo@localhost\n"
                          "  ssh_key: null\n  timeout: 10m0s\nbackends:\n- name: localhost:6060\n");
    CHECK(!strstr(d, "services"));
    CHECK(!strstr(d, "dns"));
    CHECK(!strstr(d, "tls_config") && !strstr(d, "proxy_url") && !strstr(d, "authorization"));
    CHECK_STR_CONTAINS(d, "#     backends: localhost:6060\n");
    /* ... but for issue 12's pgo section, every key at its default, after open_pull_request */
    CHECK_STR_CONTAINS(d, "    reopen_growth: 100\n    labels: []\n    reviewers: []\n"
                          "    assignees: []\n    draft: false\n    auto_merge: false\n"
                          "    commit_prefix: \"\"\n  pgo:\n    half_life: 0s\n    weight: 1\n"
                          "    no_inline:\n    - runtime.gopark\n");
    CHECK_STR_CONTAINS(d, "    min_change: 0%\n    verify_with_go: false\n# 1 target");
    free(d);
    cpgo_config_free(c);
}

/* A reload is a load: the secret file is read again. */
static void test_reload(void)
{
    char cfgp[512];
    snprintf(cfgp, sizeof cfgp, "%s/cpgo.yaml", dir);
    write_file("rl-pw", "first-password\n", 0600);
    char *y = fmt(S_MIN "  basic_auth: {username: u, password_file: rl-pw}\n");
    write_file("cpgo.yaml", y, 0644);
    free(y);
    struct cpgo_config *c = NULL;
    struct cpgo_config_errors e;
    CHECK(cpgo_config_load(cfgp, &c, &e) == 0);
    print_errors(&e);
    cpgo_config_errors_free(&e);
    if (c) CHECK(!strcmp(c->services[0].tmpl.auth.basic_password, "first-password"));
    cpgo_config_free(c);
    write_file("rl-pw", "second-password\n", 0600);
    c = NULL;
    CHECK(cpgo_config_reload(cfgp, &c, &e) == 0);
    print_errors(&e);
    cpgo_config_errors_free(&e);
    if (c) CHECK(!strcmp(c->services[0].tmpl.auth.basic_password, "second-password"));
    cpgo_config_free(c);
    /* a reload that finds the file broken is refused whole */
    write_file("rl-pw", "", 0600);
    c = NULL;
    CHECK(cpgo_config_reload(cfgp, &c, &e) == CPGO_E_INPUT);
    CHECK(c == NULL);
    CHECK(e.n == 1 && strstr(e.lines[0], "services[0].basic_auth.password_file: ") &&
          strstr(e.lines[0], "/rl-pw is empty"));
    cpgo_config_errors_free(&e);
}

int main(void)
{
    setenv("XDG_STATE_HOME", "/tmp/xdg-state", 1);
    snprintf(dir, sizeof dir, "%s/cpgo-cfgsvc-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    write_file("ca.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
    write_file("cert.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
    write_file("key.pem", "-----BEGIN PRIVATE KEY-----\n", 0600);
    test_every_key();
    test_defaults();
    test_lists();
    test_service_keys();
    test_static();
    test_dns_sd();
    test_file_sd();
    test_k8s_sd();
    test_scrape_options();
    test_names();
    test_targets();
    test_backends_dump_unchanged();
    test_reload();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    CHECK_DONE();
}
