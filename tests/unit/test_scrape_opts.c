/* Unit tests for the scrape options of scrape/scrape (TLS, credentials, proxy, the pinned
 * address) against real peers on loopback: tests/support/scrape_peers.py runs Python's
 * http.server with its ssl module (a test CA, server and client certificates made by the
 * openssl command line at test time) and a CONNECT proxy; each answer says what the
 * server saw (Host header, Authorization, SNI, client certificate, its own address).
 * Every run ends with the loop closed with nothing open (uv_loop_close == 0). */
#include "scrape_peers.h"

/* ---- tests ------------------------------------------------------------------------------ */

/* The server's certificate names pprof.test only (no IP address). */
static void test_tls(void)
{
    struct peer p;
    const char *args[] = {"server", "127.0.0.1",     "0", "--cert", path("srv.crt"),
                          "--key",  path("srv.key"), NULL};
    if (peer_start(&p, args)) {
        CHECK(!"tls server");
        return;
    }
    char want_host[64];
    snprintf(want_host, sizeof want_host, "host=pprof.test:%d\n", p.port);
    struct outcome o;

    /* verified with ca_file, connected by the pinned address: Host and SNI keep the name */
    struct cpgo_scrape_req ok = {.url = url("https://pprof.test:%d/", p.port),
                                 .resolve_ip = "127.0.0.1",
                                 .tls.ca_file = path("ca.crt")};
    run_one(&ok, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_OK);
    CHECK_STR_CONTAINS(o.body, want_host);
    CHECK_STR_CONTAINS(o.body, "sni=pprof.test\n");

    /* without the CA: refused, class tls (permanent) */
    struct cpgo_scrape_req noca = {.url = ok.url, .resolve_ip = "127.0.0.1"};
    run_one(&noca, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_TLS);
    CHECK(!o.body[0]);

    /* insecure_skip_verify: accepted without the CA */
    struct cpgo_scrape_req insecure = {
        .url = ok.url, .resolve_ip = "127.0.0.1", .tls.insecure_skip_verify = 1};
    run_one(&insecure, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_OK);
    CHECK_STR_CONTAINS(o.body, want_host);

    /* by IP, the certificate does not name it */
    struct cpgo_scrape_req byip = {.url = url("https://127.0.0.1:%d/", p.port),
                                   .tls.ca_file = path("ca.crt")};
    run_one(&byip, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_TLS);

    /* by IP with server_name: SNI and verification for the name, Host the IP:port */
    byip.tls.server_name = "pprof.test";
    run_one(&byip, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_OK);
    char ip_host[64];
    snprintf(ip_host, sizeof ip_host, "host=127.0.0.1:%d\n", p.port);
    CHECK_STR_CONTAINS(o.body, ip_host);
    CHECK_STR_CONTAINS(o.body, "sni=pprof.test\n");

    /* server_name, a name the DNS does not know and the pinned address together */
    struct cpgo_scrape_req all = {.url = url("https://some-name.invalid:%d/", p.port),
                                  .resolve_ip = "127.0.0.1",
                                  .tls.ca_file = path("ca.crt"),
                                  .tls.server_name = "pprof.test"};
    run_one(&all, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_OK);
    char inv_host[64];
    snprintf(inv_host, sizeof inv_host, "host=some-name.invalid:%d\n", p.port);
    CHECK_STR_CONTAINS(o.body, inv_host);
    CHECK_STR_CONTAINS(o.body, "sni=pprof.test\n");

    /* a server_name the certificate does not name: refused */
    all.tls.server_name = "other.test";
    run_one(&all, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_TLS);
    peer_stop(&p);
}

/* The server requires a client certificate from the test CA. */
static void test_mtls(void)
{
    struct peer p;
    const char *args[] = {"server", "127.0.0.1",     "0",           "--cert",       path("srv.crt"),
                          "--key",  path("srv.key"), "--client-ca", path("ca.crt"), NULL};
    if (peer_start(&p, args)) {
        CHECK(!"mtls server");
        return;
    }
    struct outcome o;
    struct cpgo_scrape_req req = {.url = url("https://pprof.test:%d/", p.port),
                                  .resolve_ip = "127.0.0.1",
                                  .tls = {.ca_file = path("ca.crt"),
                                          .cert_file = path("cli.crt"),
                                          .key_file = path("cli.key")}};
    run_one(&req, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_OK);
    CHECK_STR_CONTAINS(o.body, "peer=cpgo-client\n");

    /* no client certificate: the server's alert, class tls (not a reset) */
    req.tls.cert_file = req.tls.key_file = NULL;
    run_one(&req, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_TLS);
    CHECK(!o.body[0]);

    /* a key file that does not exist: tls too */
    req.tls.cert_file = path("cli.crt");
    req.tls.key_file = path("missing.key");
    run_one(&req, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_TLS);
    peer_stop(&p);
}

/* Basic auth and an authorization value reach the server; a server that quotes them back
 * leaves no trace of them in the error text. */
static void test_auth(void)
{
    struct peer p;
    const char *args[] = {"server", "127.0.0.1", "0", NULL};
    if (peer_start(&p, args)) {
        CHECK(!"server");
        return;
    }
    const char *pw = "s3cret-basic-pw", *cred = "tok-7f3a9c2e51";
    struct outcome o;
    struct cpgo_scrape_req basic = {
        .url = url("http://127.0.0.1:%d/", p.port), .basic_user = "scraper", .basic_password = pw};
    run_one(&basic, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_OK);
    /* base64("scraper:s3cret-basic-pw") */
    CHECK_STR_CONTAINS(o.body, "authz=Basic c2NyYXBlcjpzM2NyZXQtYmFzaWMtcHc=\n");

    char authz[64];
    snprintf(authz, sizeof authz, "Bearer %s", cred);
    struct cpgo_scrape_req bearer = {.url = basic.url, .authorization = authz};
    run_one(&bearer, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_OK);
    CHECK_STR_CONTAINS(o.body, "authz=Bearer tok-7f3a9c2e51\n");

    /* echoed back in a 401: scrubbed (the caller's secrets set, as the daemon builds it) */
    struct cpgo_url_secrets *sec = cpgo_url_secrets_new();
    cpgo_url_secrets_add_basic(sec, "scraper", pw);
    cpgo_url_secrets_add(sec, cred);
    basic.url = bearer.url = url("http://127.0.0.1:%d/echo", p.port);
    basic.secrets = bearer.secrets = sec;
    run_one(&basic, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_HTTP_4XX);
    CHECK_STR_CONTAINS(o.error, "denied: Authorization=Basic ");
    CHECK(!strstr(o.error, "c2NyYXBlcjpzM2NyZXQtYmFzaWMtcHc"));
    CHECK_STR_CONTAINS(o.error, CPGO_URL_SCRUBBED);
    run_one(&bearer, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_HTTP_4XX);
    CHECK_STR_CONTAINS(o.error, "denied: Authorization=Bearer " CPGO_URL_SCRUBBED);
    CHECK(!strstr(o.error, cred));
    cpgo_url_secrets_unref(sec);

    /* values that cannot go on the wire: class config, nothing sent */
    struct cpgo_scrape_req bad = {.url = basic.url, .authorization = "Bearer a\r\nX-Evil: 1"};
    run_one(&bad, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_CONFIG);
    CHECK_STR_CONTAINS(o.error, "authorization");
    CHECK_EQ_INT(o.status, 0);
    peer_stop(&p);
}

static int file_has(const char *file, const char *needle)
{
    char buf[4096] = "";
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

/* A CONNECT proxy with credentials carries http and https scrapes, to the pinned address,
 * two at a time through one proxy; refusals are class connect. */
static void test_proxy(void)
{
    struct peer px, a, b, tls;
    const char *pargs[] = {"proxy", "127.0.0.1",       "--auth", "px:px-pass-91c",
                           "--log", path("proxy.log"), NULL};
    const char *sargs[] = {"server", "127.0.0.1", "0", NULL};
    const char *targs[] = {"server", "127.0.0.1",     "0", "--cert", path("srv.crt"),
                           "--key",  path("srv.key"), NULL};
    if (peer_start(&px, pargs) || peer_start(&a, sargs) || peer_start(&b, sargs) ||
        peer_start(&tls, targs)) {
        CHECK(!"proxy peers");
        return;
    }
    char proxy[128], bad_proxy[128];
    snprintf(proxy, sizeof proxy, "http://px:px-pass-91c@127.0.0.1:%d", px.port);
    snprintf(bad_proxy, sizeof bad_proxy, "http://px:wrong-pass-77@127.0.0.1:%d", px.port);
    struct outcome out[3];

    /* an http target by a name only the pinned address answers, and an https one */
    struct cpgo_scrape_req r[2] = {
        {.url = url("http://some-name.invalid:%d/", a.port),
         .resolve_ip = "127.0.0.1",
         .proxy_url = proxy},
        {.url = url("https://pprof.test:%d/", tls.port),
         .resolve_ip = "127.0.0.1",
         .tls.ca_file = path("ca.crt"),
         .proxy_url = proxy},
    };
    struct rig g;
    rig_open(&g);
    rig_run(&g, r, out, 2);
    CHECK_EQ_INT(out[0].cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(out[1].cls, CPGO_CLASS_OK);
    char want[64];
    snprintf(want, sizeof want, "host=some-name.invalid:%d\n", a.port);
    CHECK_STR_CONTAINS(out[0].body, want);
    CHECK_STR_CONTAINS(out[0].body, "authz=\n"); /* the proxy's credentials stay with it */
    CHECK_STR_CONTAINS(out[1].body, "sni=pprof.test\n");
    snprintf(want, sizeof want, "CONNECT 127.0.0.1:%d\n", a.port);
    CHECK(file_has(path("proxy.log"), want));
    snprintf(want, sizeof want, "CONNECT 127.0.0.1:%d\n", tls.port);
    CHECK(file_has(path("proxy.log"), want));

    /* Two scrapes through one proxy run at the same time: the first is answered only once
     * the second has reached its server (each waits 20 s at most). Through a plain proxy
     * curl would count both as connections to the proxy host and hold the second back. */
    char wait_url[512], touch_url[512];
    snprintf(wait_url, sizeof wait_url, "http://127.0.0.1:%d/wait?f=%s", a.port,
             path("both-arrived"));
    snprintf(touch_url, sizeof touch_url, "http://127.0.0.1:%d/touch?f=%s", b.port,
             path("both-arrived"));
    struct cpgo_scrape_req two[2] = {{.url = wait_url, .proxy_url = proxy},
                                     {.url = touch_url, .proxy_url = proxy}};
    rig_run(&g, two, out, 2);
    CHECK_EQ_INT(out[0].cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(out[1].cls, CPGO_CLASS_OK);
    CHECK_STR_CONTAINS(out[0].body, "waited=yes\n");

    /* refused by the proxy (407), and a proxy that is not there: connect, no password */
    struct cpgo_url_secrets *sec = cpgo_url_secrets_new();
    cpgo_url_secrets_add_url(sec, bad_proxy);
    struct peer gone;
    CHECK_EQ_INT(peer_start(&gone, sargs), 0);
    peer_stop(&gone); /* its port is closed now */
    char gone_proxy[64];
    snprintf(gone_proxy, sizeof gone_proxy, "http://127.0.0.1:%d", gone.port);
    struct cpgo_scrape_req bad[2] = {
        {.url = r[0].url, .resolve_ip = "127.0.0.1", .proxy_url = bad_proxy, .secrets = sec},
        {.url = r[0].url, .resolve_ip = "127.0.0.1", .proxy_url = gone_proxy},
    };
    rig_run(&g, bad, out, 2);
    CHECK_EQ_INT(out[0].cls, CPGO_CLASS_CONNECT);
    CHECK_STR_CONTAINS(out[0].error, "407");
    CHECK(!strstr(out[0].error, "wrong-pass-77"));
    CHECK_EQ_INT(out[1].cls, CPGO_CLASS_CONNECT);
    cpgo_url_secrets_unref(sec);
    rig_close(&g);
    peer_stop(&tls);
    peer_stop(&b);
    peer_stop(&a);
    peer_stop(&px);
}

/* One name, pinned to different addresses by concurrent scrapes on one scraper: each
 * reaches its own, again when the pins swap (reused connections are matched by where they
 * go), and none of it leaks into curl's DNS cache: the name alone does not resolve. */
static void test_pinning(void)
{
    struct peer a, b, c, v6 = {0};
    const char *aargs[] = {"server", "127.0.0.1", "0", NULL};
    if (peer_start(&a, aargs)) {
        CHECK(!"server a");
        return;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", a.port);
    const char *bargs[] = {"server", "127.0.0.2", port, NULL}; /* the same port, another IP */
    if (peer_start(&b, bargs) || peer_start(&c, aargs)) {
        CHECK(!"servers b, c");
        return;
    }
    const char *v6args[] = {"server", "::1", port, NULL};
    int have_v6 = peer_start(&v6, v6args) == 0;
    if (!have_v6) printf("test_pinning: no IPv6 loopback, ::1 not tested\n");

    char url_ab[64], url_c[64], want_a[64], want_b[64], want_c[64];
    snprintf(url_ab, sizeof url_ab, "http://some-name.invalid:%d/", a.port);
    snprintf(url_c, sizeof url_c, "http://some-name.invalid:%d/", c.port);
    snprintf(want_a, sizeof want_a, "addr=127.0.0.1:%d\n", a.port);
    snprintf(want_b, sizeof want_b, "addr=127.0.0.2:%d\n", a.port);
    snprintf(want_c, sizeof want_c, "addr=127.0.0.1:%d\n", c.port);
    struct rig g;
    rig_open(&g);
    for (int round = 0; round < 2; round++) {
        struct cpgo_scrape_req r[4] = {
            {.url = url_ab, .resolve_ip = round ? "127.0.0.2" : "127.0.0.1"},
            {.url = url_ab, .resolve_ip = round ? "127.0.0.1" : "127.0.0.2"},
            {.url = url_c, .resolve_ip = "127.0.0.1"},
            {.url = url_ab, .resolve_ip = "::1"},
        };
        struct outcome out[4];
        rig_run(&g, r, out, have_v6 ? 4 : 3);
        for (int i = 0; i < (have_v6 ? 4 : 3); i++)
            CHECK_EQ_INT(out[i].cls, CPGO_CLASS_OK);
        CHECK_STR_CONTAINS(out[round ? 1 : 0].body, want_a);
        CHECK_STR_CONTAINS(out[round ? 0 : 1].body, want_b);
        CHECK_STR_CONTAINS(out[2].body, want_c);
        char host[64];
        snprintf(host, sizeof host, "host=some-name.invalid:%d\n", a.port);
        CHECK_STR_CONTAINS(out[0].body, host);
        CHECK_STR_CONTAINS(out[1].body, host);
        if (have_v6) {
            char want6[64];
            snprintf(want6, sizeof want6, "addr=::1:%d\n", a.port);
            CHECK_STR_CONTAINS(out[3].body, want6);
            CHECK_STR_CONTAINS(out[3].body, host);
        }
    }
    /* unpinned, the name is the DNS's: it does not exist */
    struct cpgo_scrape_req plain = {.url = url_ab};
    struct outcome o;
    rig_run(&g, &plain, &o, 1);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_DNS);
    rig_close(&g);

    /* an address that is not an IP literal: class config, nothing resolved or sent */
    struct cpgo_scrape_req name = {.url = url_ab, .resolve_ip = "localhost"};
    run_one(&name, &o);
    CHECK_EQ_INT(o.cls, CPGO_CLASS_CONFIG);
    CHECK_STR_CONTAINS(o.error, "resolve_ip localhost is not an IP address");
    if (have_v6) peer_stop(&v6);
    peer_stop(&c);
    peer_stop(&b);
    peer_stop(&a);
}

int main(void)
{
    CHECK_EQ_INT(peers_setup(), 0);
    if (check_failures) CHECK_DONE();
    test_tls();
    test_mtls();
    test_auth();
    test_proxy();
    test_pinning();
    peers_teardown();
    CHECK_DONE();
}
