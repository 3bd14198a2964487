/* Unit tests for daemon/scrape_opts: a backend's scrape options (struct
 * cpgo_scrape_auth_cfg, as the configuration loads them) turned into a scrape request and
 * into the secrets its errors are scrubbed of, then used against real peers on loopback
 * (tests/support/scrape_peers.py: TLS with a client certificate and server_name, Basic
 * auth, an authorization value, a proxy with credentials), as start_scrape and
 * build_secrets use them. */
#include "daemon/daemon_int.h"
#include "scrape_peers.h"

#define PASSWORD "basic-pw-5e1d0c"
#define CRED "cred-0a9b8c7d6e"
#define PROXY_PASS "proxy-pw-3f2e"

/* Configuration to request: every field, the default type, a value that does not fit. */
static void test_fields(void)
{
    struct cpgo_scrape_auth_cfg a = {
        .tls = {.ca_file = "/ca",
                .cert_file = "/c",
                .key_file = "/k",
                .server_name = "sn",
                .insecure_skip_verify = 1},
        .basic_username = "u",
        .basic_password = PASSWORD,
        .authz_credentials = CRED,
        .proxy_url = "http://p:" PROXY_PASS "@127.0.0.1:3128",
    };
    struct cpgo_scrape_req req = {.url = "http://x/"};
    char buf[64];
    CHECK_EQ_INT(cpgo_daemon_scrape_auth(&a, &req, buf, sizeof buf), 0);
    CHECK(!strcmp(req.tls.ca_file, "/ca") && !strcmp(req.tls.cert_file, "/c") &&
          !strcmp(req.tls.key_file, "/k") && !strcmp(req.tls.server_name, "sn") &&
          req.tls.insecure_skip_verify == 1);
    CHECK(!strcmp(req.basic_user, "u") && !strcmp(req.basic_password, PASSWORD));
    CHECK(!strcmp(req.proxy_url, a.proxy_url));
    CHECK(req.authorization && !strcmp(req.authorization, "Bearer " CRED));
    a.authz_type = "Token";
    CHECK_EQ_INT(cpgo_daemon_scrape_auth(&a, &req, buf, sizeof buf), 0);
    CHECK(!strcmp(req.authorization, "Token " CRED));
    /* too long for the buffer: an empty value (the scraper refuses it), never a cut one */
    CHECK_EQ_INT(cpgo_daemon_scrape_auth(&a, &req, buf, 8), -1);
    CHECK(req.authorization && !req.authorization[0]);
    /* nothing configured: nothing set */
    struct cpgo_scrape_auth_cfg none = {0};
    CHECK_EQ_INT(cpgo_daemon_scrape_auth(&none, &req, buf, sizeof buf), 0);
    CHECK(!req.authorization && !req.basic_user && !req.proxy_url && !req.tls.ca_file);

    /* the secrets, in the forms a server echoes */
    struct cpgo_url_secrets *s = cpgo_url_secrets_new();
    CHECK_EQ_INT(cpgo_daemon_scrape_auth_secrets(&a, s), 0);
    const char *text =
        "pw=" PASSWORD " basic=dTpiYXNpYy1wdy01ZTFkMGM= cred=" CRED " proxy=" PROXY_PASS " user=u";
    char out[256];
    cpgo_url_scrub(s, text, strlen(text), out, sizeof out);
    CHECK(!strstr(out, PASSWORD) && !strstr(out, CRED) && !strstr(out, PROXY_PASS));
    CHECK(!strstr(out, "dTpiYXNpYy1wdy01ZTFkMGM=")); /* base64("u:basic-pw-5e1d0c") */
    CHECK_STR_CONTAINS(out, "user=u");
    cpgo_url_secrets_unref(s);
}

/* The options of one configuration reach the servers as configured. */
static void test_live(void)
{
    struct peer mtls, plain, px;
    const char *margs[] = {
        "server", "127.0.0.1",     "0",           "--cert",       path("srv.crt"),
        "--key",  path("srv.key"), "--client-ca", path("ca.crt"), NULL};
    const char *sargs[] = {"server", "127.0.0.1", "0", NULL};
    const char *pargs[] = {"proxy", "127.0.0.1", "--auth", "p:" PROXY_PASS, NULL};
    if (peer_start(&mtls, margs) || peer_start(&plain, sargs) || peer_start(&px, pargs)) {
        CHECK(!"peers");
        return;
    }
    char proxy[128];
    snprintf(proxy, sizeof proxy, "http://p:%s@127.0.0.1:%d", PROXY_PASS, px.port);
    /* by IP, verified as pprof.test, with a client certificate, through the proxy */
    struct cpgo_scrape_auth_cfg tls = {
        .tls = {.ca_file = path("ca.crt"),
                .cert_file = path("cli.crt"),
                .key_file = path("cli.key"),
                .server_name = "pprof.test"},
        .proxy_url = proxy,
    };
    struct cpgo_scrape_auth_cfg basic = {.basic_username = "u", .basic_password = PASSWORD};
    struct cpgo_scrape_auth_cfg bearer = {.authz_credentials = CRED};
    struct cpgo_scrape_auth_cfg huge = {.authz_credentials = malloc(CPGO_SCRAPE_AUTHZ_MAX)};
    memset(huge.authz_credentials, 'x', CPGO_SCRAPE_AUTHZ_MAX - 1);
    huge.authz_credentials[CPGO_SCRAPE_AUTHZ_MAX - 1] = 0;
    const struct cpgo_scrape_auth_cfg *cfgs[] = {&tls, &basic, &bearer, &huge};
    enum { N = 4 };
    struct cpgo_url_secrets *sec[N];
    struct cpgo_scrape_req reqs[N];
    static char authz[N][CPGO_SCRAPE_AUTHZ_MAX];
    for (int i = 0; i < N; i++) {
        reqs[i] = (struct cpgo_scrape_req){.url = url("http://127.0.0.1:%d/echo", plain.port)};
        sec[i] = cpgo_url_secrets_new();
        CHECK_EQ_INT(cpgo_daemon_scrape_auth_secrets(cfgs[i], sec[i]), 0);
        reqs[i].secrets = sec[i];
        CHECK_EQ_INT(cpgo_daemon_scrape_auth(cfgs[i], &reqs[i], authz[i], sizeof authz[i]),
                     i == 3 ? -1 : 0);
    }
    reqs[0].url = url("https://127.0.0.1:%d/", mtls.port);
    struct outcome out[N];
    struct rig g;
    rig_open(&g);
    rig_run(&g, reqs, out, N);
    rig_close(&g);
    CHECK_EQ_INT(out[0].cls, CPGO_CLASS_OK);
    CHECK_STR_CONTAINS(out[0].body, "sni=pprof.test\n");
    CHECK_STR_CONTAINS(out[0].body, "peer=cpgo-client\n");
    /* the server quotes the credentials back: scrubbed from the error */
    CHECK_EQ_INT(out[1].cls, CPGO_CLASS_HTTP_4XX);
    CHECK_STR_CONTAINS(out[1].error, "Authorization=Basic " CPGO_URL_SCRUBBED);
    CHECK(!strstr(out[1].error, "dTpiYXNpYy1wdy01ZTFkMGM"));
    CHECK_EQ_INT(out[2].cls, CPGO_CLASS_HTTP_4XX);
    CHECK_STR_CONTAINS(out[2].error, "Authorization=Bearer " CPGO_URL_SCRUBBED);
    CHECK(!strstr(out[2].error, CRED));
    /* credentials too long to send: class config, not an unauthenticated scrape */
    CHECK_EQ_INT(out[3].cls, CPGO_CLASS_CONFIG);
    CHECK_STR_CONTAINS(out[3].error, "authorization");
    CHECK_EQ_INT(out[3].status, 0);
    for (int i = 0; i < N; i++)
        cpgo_url_secrets_unref(sec[i]);
    free(huge.authz_credentials);
    peer_stop(&px);
    peer_stop(&plain);
    peer_stop(&mtls);
}

int main(void)
{
    test_fields();
    CHECK_EQ_INT(peers_setup(), 0);
    if (check_failures) CHECK_DONE();
    test_live();
    peers_teardown();
    CHECK_DONE();
}
