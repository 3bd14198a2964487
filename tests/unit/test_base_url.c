/* test_base_url.c - URLs parsed as libcurl parses them, masks that never show a piece of a
 * password, and a scrubber that scrubs first and cuts after, in every form of a secret. */
#include "base/url.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "check.h"

/* 1 when out holds any k-byte piece of secret. */
static int leaks(const char *out, const char *secret, size_t k)
{
    size_t n = strlen(secret);
    for (size_t i = 0; i + k <= n; i++) {
        char piece[256];
        memcpy(piece, secret + i, k);
        piece[k] = 0;
        if (strstr(out, piece)) {
            fprintf(stderr, "  \"%s\" shows \"%s\" of \"%s\"\n", out, piece, secret);
            return 1;
        }
    }
    return 0;
}

static void b64(const char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n) v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)in[i + 2];
        out[o++] = a[(v >> 18) & 63];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = i + 1 < n ? a[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = 0;
}

/* cpgo and libcurl agree on every URL: both refuse it, or cpgo accepts what libcurl
 * parses, with the same host and port. */
static void test_agrees_with_curl(void)
{
    static const char *const urls[] = {
        "http://u:p@ss@host/",
        "http://u:p%40ss@host/x",
        "http://u@x:pw@host/",
        "http://u:p/ss@host/",
        "http://u:p#ss@host/",
        "http://u:p?ss@host/",
        "http://host:99999/",
        "http://host:6060/debug/pprof/profile?seconds=5",
        "https://[::1]:8443/x",
        "http://[::1/",
        "http://h_x.example/",
        "http://%41b/",
        "http://:pw@h/",
        "http://h:/x",
        "https://tok@github.com/o/r",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        struct cpgo_url u;
        const char *why = NULL;
        int ours = cpgo_url_parse(urls[i], &u, &why);
        CURLU *h = curl_url();
        int theirs = curl_url_set(h, CURLUPART_URL, urls[i], 0) == CURLUE_OK ? 0 : -1;
        if (ours == 0) {
            CHECK_EQ_INT(theirs, 0);
            char *host = NULL, *port = NULL;
            curl_url_get(h, CURLUPART_HOST, &host, 0);
            curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
            CHECK(host && !strcmp(host, u.host));
            CHECK(port && atoi(port) == u.port);
            if (!host || strcmp(host, u.host)) fprintf(stderr, "  %s: host differs\n", urls[i]);
            curl_free(host);
            curl_free(port);
            cpgo_url_free(&u);
        } else {
            CHECK(why && *why);
        }
        curl_url_cleanup(h);
    }
}

static void test_parse(void)
{
    struct cpgo_url u;
    const char *why = NULL;
    /* libcurl takes the first '@' and refuses the host "ss@host": so does cpgo, saying why */
    CHECK_EQ_INT(cpgo_url_parse("http://u:p@ss@host/", &u, &why), -1);
    CHECK(why && strstr(why, "invalid host") && strstr(why, "%40"));
    CHECK_EQ_INT(cpgo_url_parse("http://u:p%40ss@Host:6060/x?seconds=5&token=t0k3n", &u, &why), 0);
    CHECK(!strcmp(u.scheme, "http") && !strcmp(u.user, "u") && !strcmp(u.password, "p%40ss"));
    CHECK(!strcmp(u.host, "Host") && u.port == 6060 && !strcmp(u.path, "/x"));
    CHECK(!strcmp(u.query, "seconds=5&token=t0k3n"));
    cpgo_url_free(&u);
    CHECK_EQ_INT(cpgo_url_parse("HTTPS://h.example", &u, &why), 0);
    CHECK(u.port == 443 && !strcmp(u.path, "/") && !u.user && !u.password && !u.query);
    cpgo_url_free(&u);
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"ftp://h/x", "is not an http or https URL"},
        {"localhost:6060/x", "is not an http or https URL"},
        {"http:///x", "has no host"}, /* libcurl would read host "x" */
        {"http://h:0/x", "has an invalid port"},
        {"http://h:70000/x", "has an invalid port"},
        {"http://h/a b", "contains spaces or control characters"},
        {"http://ex ample/", "contains spaces or control characters"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        CHECK_EQ_INT(cpgo_url_parse(bad[i].url, &u, &why), -1);
        CHECK(why && !strcmp(why, bad[i].why));
        if (why && strcmp(why, bad[i].why)) fprintf(stderr, "  %s: %s\n", bad[i].url, why);
    }
}

static void test_mask(void)
{
    char m[512];
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"http://u:pw0rd@h:8080/p?token=abc123&seconds=30&x=1",
         "http://u:xxxxx@h:8080/p?token=xxxxx&seconds=30&x=1"},
        {"https://ghp_abcdef0123@github.com/o/r", "https://xxxxx@github.com/o/r"},
        {"ssh://git@github.com/o/r", "ssh://git@github.com/o/r"},
        {"http://h/x?to%6Ben=v4lue&a=b", "http://h/x?to%6Ben=xxxxx&a=b"},
        {"http:///debug/pprof/profile", "http:///debug/pprof/profile"}, /* as written */
        {"http://h/x?Signature=abc&X-Api-Key=k3y&page=2",
         "http://h/x?Signature=xxxxx&X-Api-Key=xxxxx&page=2"},
        /* refused by libcurl: masked from "://" to the last '@' */
        {"http://u:p@ss@host/x?secret=v#f", "http://xxxxx@host/x?secret=xxxxx#f"},
        {"http://u:p/ss@host/x", "http://xxxxx@host/x"},
        {"git@github.com:o/r.git", "git@github.com:o/r.git"},
        {"git:hunter2@github.com:o/r", "git:xxxxx@github.com:o/r"},
        {"/srv/repos/app", "/srv/repos/app"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cpgo_url_mask(cases[i].in, m, sizeof m);
        CHECK(!strcmp(m, cases[i].out));
        if (strcmp(m, cases[i].out)) fprintf(stderr, "  %s -> %s\n", cases[i].in, m);
    }
    /* never a piece of the password, however the userinfo is written */
    static const char *const pw[] = {"S3cr@tPassw0rd", "S3cr/tPassw0rd", "S3cr:tPassw0rd",
                                     "S3cr%40tPassw0rd"};
    for (size_t i = 0; i < sizeof pw / sizeof pw[0]; i++) {
        char url[128];
        snprintf(url, sizeof url, "http://user:%s@host:6060/x", pw[i]);
        cpgo_url_mask(url, m, sizeof m);
        CHECK(!leaks(m, pw[i], 3));
        for (size_t cap = 1; cap < 40; cap++) { /* masked first, cut after */
            char small[40];
            cpgo_url_mask(url, small, cap);
            CHECK(strlen(small) < cap && !leaks(small, pw[i], 3));
        }
    }
}

static void test_scrub_straddling_the_cut(void)
{
    struct cpgo_url_secrets *s = cpgo_url_secrets_new();
    const char *secret = "BEARERSECRET0123456789abcdef";
    CHECK_EQ_INT(
        cpgo_url_secrets_add_header(s, "Authorization", "Bearer BEARERSECRET0123456789abcdef"), 0);
    for (size_t at = 90; at < 125; at++) { /* the echo straddles a 120-character cut */
        char text[400], out[121];
        memset(text, '.', at);
        snprintf(text + at, sizeof text - at, "%s trailing words", secret);
        cpgo_url_scrub(s, text, strlen(text), out, sizeof out);
        CHECK(strlen(out) <= 120 && !leaks(out, secret, 2));
        /* the old order, cut then scrub, would have shown the token's first characters */
    }
    /* a window that ends inside a secret (the caller bounded it) keeps no piece either */
    char text[64], out[64];
    snprintf(text, sizeof text, "denied: %.*s", 10, secret);
    cpgo_url_scrub(s, text, strlen(text), out, sizeof out);
    CHECK(!strcmp(out, "denied: ****"));
    /* in place */
    char inplace[128];
    snprintf(inplace, sizeof inplace, "a %s b %s c", secret, secret);
    cpgo_url_scrub(s, inplace, strlen(inplace), inplace, strlen(inplace) + 1);
    CHECK(!strcmp(inplace, "a **** b **** c"));
    /* NULL: a plain bounded copy */
    cpgo_url_scrub(NULL, "abcdef", 6, out, 4);
    CHECK(!strcmp(out, "abc"));
    cpgo_url_secrets_unref(s);
}

static void scrubbed(const struct cpgo_url_secrets *s, const char *text, const char *secret)
{
    char out[512];
    cpgo_url_scrub(s, text, strlen(text), out, sizeof out);
    CHECK(strstr(out, "****") != NULL);
    CHECK(!leaks(out, secret, 5));
    if (!strstr(out, "****")) fprintf(stderr, "  not scrubbed: %s\n", out);
}

static void test_forms(void)
{
    struct cpgo_url_secrets *s = cpgo_url_secrets_new();
    CHECK_EQ_INT(cpgo_url_secrets_add_url(
                     s, "http://scraper:p%40ss%2Fw0rd@h:6060/x?seconds=1&token=QUERY%2FSECRET99"),
                 0);
    /* the URL password: as written, decoded, re-encoded (both cases) */
    scrubbed(s, "echo p%40ss%2Fw0rd", "p%40ss%2Fw0rd");
    scrubbed(s, "echo p@ss/w0rd!", "p@ss/w0rd");
    scrubbed(s, "echo p%40ss%2fw0rd", "p%40ss%2fw0rd");
    /* the Basic credential libcurl sends, and the password inside any base64 text */
    char b[128], text[256];
    b64("scraper:p@ss/w0rd", 17, b);
    snprintf(text, sizeof text, "<html>Basic %s</html>", b);
    scrubbed(s, text, b);
    for (int pad = 0; pad < 3; pad++) {
        char raw[64];
        snprintf(raw, sizeof raw, "%.*sp@ss/w0rd and more", pad, "ab");
        b64(raw, strlen(raw), b);
        snprintf(text, sizeof text, "seen: %s", b);
        char out[256];
        cpgo_url_scrub(s, text, strlen(text), out, sizeof out);
        CHECK(strstr(out, "****") != NULL);
        /* what is left of the base64 decodes to at most 2 bytes of the password */
    }
    /* the secret query value, every form */
    scrubbed(s, "GET /x?seconds=1&token=QUERY%2FSECRET99", "QUERY%2FSECRET99");
    scrubbed(s, "query QUERY/SECRET99", "QUERY/SECRET99");
    b64("QUERY/SECRET99", 14, b);
    scrubbed(s, b, b);
    /* ordinary words are left alone */
    char out[128];
    cpgo_url_scrub(s, "HTTP 403: forbidden", 19, out, sizeof out);
    CHECK(!strcmp(out, "HTTP 403: forbidden"));
    cpgo_url_secrets_unref(s);

    /* headers: the value, the credential after the scheme, a Basic pair, cookie values */
    s = cpgo_url_secrets_new();
    b64("alice:Op3nSesame", 16, b);
    char hv[160];
    snprintf(hv, sizeof hv, "Basic %s", b);
    CHECK_EQ_INT(cpgo_url_secrets_add_header(s, "Authorization", hv), 0);
    CHECK_EQ_INT(cpgo_url_secrets_add_header(s, "Cookie", "session=C00KIEVALUE; theme=dark"), 0);
    CHECK_EQ_INT(cpgo_url_secrets_add_header(s, "X-Trace", "not-a-secret-value"), 0);
    scrubbed(s, "you sent alice:Op3nSesame", "Op3nSesame");
    scrubbed(s, "password Op3nSesame", "Op3nSesame");
    scrubbed(s, hv, b);
    scrubbed(s, "cookie C00KIEVALUE", "C00KIEVALUE");
    cpgo_url_scrub(s, "not-a-secret-value", 18, out, sizeof out);
    CHECK(!strcmp(out, "not-a-secret-value"));
    /* too short to tell from text */
    size_t before = cpgo_url_secrets_count(s);
    CHECK_EQ_INT(cpgo_url_secrets_add(s, "abc"), 0);
    CHECK_EQ_INT(cpgo_url_secrets_count(s), before);
    /* a reference outlives the owner's */
    struct cpgo_url_secrets *r = cpgo_url_secrets_ref(s);
    cpgo_url_secrets_unref(s);
    scrubbed(r, "Op3nSesame", "Op3nSesame");
    cpgo_url_secrets_unref(r);

    /* a lone user is the secret (https://TOKEN@host/) */
    s = cpgo_url_secrets_new();
    CHECK_EQ_INT(cpgo_url_secrets_add_url(s, "https://ghp_T0KENVALUE42@h/x"), 0);
    scrubbed(s, "token ghp_T0KENVALUE42 rejected", "ghp_T0KENVALUE42");
    b64("ghp_T0KENVALUE42:", 17, b);
    scrubbed(s, b, b);
    cpgo_url_secrets_unref(s);
}

static void test_nodump(void)
{
#ifdef __linux__
    CHECK_EQ_INT(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
    CHECK_EQ_INT(cpgo_url_secrets_nodump(), 0);
    CHECK_EQ_INT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
#endif
}

int main(void)
{
    test_agrees_with_curl();
    test_parse();
    test_mask();
    test_scrub_straddling_the_cut();
    test_forms();
    test_nodump();
    CHECK_DONE();
}
