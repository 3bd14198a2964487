/*
 * Unit tests for publish/ghapp: the app's key (PKCS#1 and PKCS#8 accepted; encrypted, EC,
 * garbage, a group/world-readable file, a FIFO refused with errors naming the key's field),
 * the JWT (exact header and claims, its RS256 signature verified by libcrypto with the
 * public key, and refused with another key), and the token cache against
 * tests/support/fake_github.py, which verifies every JWT with the app's public key: the
 * installation looked up once per repository, one mint for many concurrent requests,
 * answers from the cache, no caching of a token that expires within the refresh margin,
 * invalidation, a wrong key (a clear 401 error, then a reloaded key works), an app that is
 * not installed (a clear 404 error), a skewed server clock, close. Keys are generated here
 * with libcrypto. No error line or log line may hold a token, a JWT or the key.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "check.h"
#include "publish/ghapp.h"
#include "scrape/scrape.h"

#define APP_ID 12345
#define TOKEN "ghp_notTheAppsToken0000000000000000000"

static char tmpdir[] = "/tmp/cpgo-test-ghapp-XXXXXX";
static char path_rsa[512], path_rsa8[512], path_other[512], path_ec[512], path_enc[512],
    path_enc1[512], path_junk[512], path_pub[512];
static pid_t fake_pid;
static char fake_base[64];
static uv_loop_t loop;
static struct cpgo_scraper *scr;
static uv_timer_t watchdog;
static int timed_out;
static char *all_errors;
static size_t all_errors_len;

/* ---- keys ------------------------------------------------------------------------------ */

static void write_key(const char *path, EVP_PKEY *k, int form, const char *pass)
{
    BIO *b = BIO_new_file(path, "w");
    CHECK(b != NULL);
    int ok;
    if (form == 1) /* PKCS#1 "BEGIN RSA PRIVATE KEY", as GitHub downloads it */
        ok = PEM_write_bio_PrivateKey_traditional(b, k, pass ? EVP_aes_128_cbc() : NULL,
                                                  (unsigned char *)pass, pass ? 8 : 0, NULL, NULL);
    else if (form == 8)
        ok = PEM_write_bio_PKCS8PrivateKey(b, k, pass ? EVP_aes_256_cbc() : NULL, NULL, 0, NULL,
                                           (void *)pass);
    else
        ok = PEM_write_bio_PUBKEY(b, k);
    CHECK(ok == 1);
    BIO_free(b);
    chmod(path, 0600);
}

static void make_keys(void)
{
    CHECK(mkdtemp(tmpdir) != NULL);
#define P(v, n) snprintf(v, sizeof v, "%s/" n, tmpdir)
    P(path_rsa, "app.pem");
    P(path_rsa8, "app8.pem");
    P(path_other, "other.pem");
    P(path_ec, "ec.pem");
    P(path_enc, "enc.pem");
    P(path_enc1, "enc1.pem");
    P(path_junk, "junk.pem");
    P(path_pub, "pub.pem");
#undef P
    EVP_PKEY *rsa = EVP_RSA_gen(2048), *other = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256");
    CHECK(rsa && other && ec);
    write_key(path_rsa, rsa, 1, NULL);
    write_key(path_rsa8, rsa, 8, NULL);
    write_key(path_pub, rsa, 0, NULL);
    write_key(path_other, other, 1, NULL);
    write_key(path_ec, ec, 8, NULL);
    write_key(path_enc, rsa, 8, "s3cret-pass");
    write_key(path_enc1, rsa, 1, "s3cret-pass");
    FILE *f = fopen(path_junk, "w");
    fputs("-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END RSA PRIVATE "
          "KEY-----\n",
          f);
    fclose(f);
    chmod(path_junk, 0600);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(other);
    EVP_PKEY_free(ec);
}

static void keep_error(const char *e)
{
    size_t n = strlen(e);
    char *p = realloc(all_errors, all_errors_len + n + 2);
    if (!p) return;
    memcpy(p + all_errors_len, e, n);
    all_errors_len += n;
    p[all_errors_len++] = '\n';
    p[all_errors_len] = 0;
    all_errors = p;
}

static char *load(const char *path, size_t *len, int *rc, struct cpgo_err *err)
{
    char *pem = NULL;
    *rc = cpgo_ghapp_key_load(path, &pem, len, err);
    if (*rc) keep_error(err->text);
    return pem;
}

/* A line of the key's base64 body: no error may quote it. */
static void key_piece(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[256];
    out[0] = 0;
    while (f && fgets(line, sizeof line, f))
        if (line[0] != '-' && strlen(line) > 40) {
            snprintf(out, cap, "%.30s", line + 5);
            break;
        }
    if (f) fclose(f);
}

static void test_key_load(void)
{
    struct cpgo_err err;
    size_t len;
    int rc;
    char *pem = load(path_rsa, &len, &rc, &err);
    CHECK_EQ_INT(rc, 0);
    CHECK(pem && len > 1000 && strstr(pem, "BEGIN RSA PRIVATE KEY"));
    cpgo_ghapp_key_free(pem, len);
    pem = load(path_rsa8, &len, &rc, &err);
    CHECK_EQ_INT(rc, 0);
    CHECK(pem && strstr(pem, "BEGIN PRIVATE KEY"));
    cpgo_ghapp_key_free(pem, len);

    char piece[64];
    key_piece(path_enc, piece, sizeof piece);
    pem = load(path_enc, &len, &rc, &err);
    CHECK_EQ_INT(rc, CPGO_E_USAGE);
    CHECK(pem == NULL);
    CHECK_STR_CONTAINS(err.text, "github.app.private_key_file");
    CHECK_STR_CONTAINS(err.text, "encrypted keys are not supported");
    CHECK(piece[0] && !strstr(err.text, piece));
    pem = load(path_enc1, &len, &rc, &err);
    CHECK_EQ_INT(rc, CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "encrypted keys are not supported");

    pem = load(path_ec, &len, &rc, &err);
    CHECK_EQ_INT(rc, CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "not an RSA key");
    CHECK_STR_CONTAINS(err.text, path_ec);

    pem = load(path_junk, &len, &rc, &err);
    CHECK_EQ_INT(rc, CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "not a PEM private key");
    CHECK(!strstr(err.text, "bm90IGEga2V5"));

    chmod(path_rsa, 0644);
    pem = load(path_rsa, &len, &rc, &err);
    CHECK_EQ_INT(rc, CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "github.app.private_key_file");
    CHECK_STR_CONTAINS(err.text, "every user");
    CHECK_STR_CONTAINS(err.text, "chmod 600");
    chmod(path_rsa, 0620);
    pem = load(path_rsa, &len, &rc, &err);
    CHECK_EQ_INT(rc, CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "its group");
    chmod(path_rsa, 0600);

    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/fifo.pem", tmpdir);
    CHECK(mkfifo(fifo, 0600) == 0);
    pem = load(fifo, &len, &rc, &err); /* refused at once, not waited on */
    CHECK_EQ_INT(rc, CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "github.app.private_key_file");
    unlink(fifo);
    char big[600];
    snprintf(big, sizeof big, "%s/big.pem", tmpdir);
    FILE *bf = fopen(big, "w");
    for (int i = 0; i < 70 * 1024 / 64; i++)
        fputs("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", bf);
    fclose(bf);
    chmod(big, 0600);
    pem = load(big, &len, &rc, &err);
    CHECK_EQ_INT(rc, CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "is larger than 65536 bytes: not a key");
    unlink(big);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.pem", tmpdir);
    pem = load(missing, &len, &rc, &err);
    CHECK(rc != 0);
    CHECK_STR_CONTAINS(err.text, "github.app.private_key_file");
}

/* ---- the JWT ------------------------------------------------------------------------------ */

static unsigned char *unb64url(const char *s, size_t n, size_t *outlen)
{
    char *b = calloc(1, n + 4);
    size_t i;
    for (i = 0; i < n; i++)
        b[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (i % 4)
        b[i++] = '=';
    unsigned char *out = calloc(1, i + 1);
    int len = EVP_DecodeBlock(out, (unsigned char *)b, (int)i);
    free(b);
    size_t pad = 0;
    for (size_t k = n; k < i; k++)
        pad++;
    *outlen = len < 0 ? 0 : (size_t)len - pad;
    out[*outlen] = 0;
    return out;
}

static int verify_with(const char *pubpath, const char *jwt)
{
    const char *dot2 = strrchr(jwt, '.');
    size_t siglen;
    unsigned char *sig = unb64url(dot2 + 1, strlen(dot2 + 1), &siglen);
    BIO *b = BIO_new_file(pubpath, "r");
    EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    if (!k) { /* a private key file: its public half */
        BIO_free(b);
        b = BIO_new_file(pubpath, "r");
        k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    }
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok =
        k && EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, k) == 1 &&
        EVP_DigestVerify(m, sig, siglen, (const unsigned char *)jwt, (size_t)(dot2 - jwt)) == 1;
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(k);
    BIO_free(b);
    free(sig);
    return ok;
}

static void test_jwt(void)
{
    struct cpgo_err err;
    size_t len;
    int rc;
    char *pem = load(path_rsa, &len, &rc, &err);
    CHECK_EQ_INT(rc, 0);
    char *jwt = NULL;
    int64_t now = 1700000000;
    CHECK_EQ_INT(cpgo_ghapp_jwt(pem, len, "12345", now, &jwt, &err), 0);
    CHECK(jwt != NULL);
    if (!jwt) return;
    CHECK(!strpbrk(jwt, "=+/ \n"));
    const char *d1 = strchr(jwt, '.'), *d2 = strrchr(jwt, '.');
    CHECK(d1 && d2 && d1 < d2);
    size_t hl, cl;
    unsigned char *h = unb64url(jwt, (size_t)(d1 - jwt), &hl);
    unsigned char *c = unb64url(d1 + 1, (size_t)(d2 - d1 - 1), &cl);
    CHECK(!strcmp((char *)h, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"));
    json_t *claims = json_loads((char *)c, 0, NULL);
    CHECK(claims != NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(claims, "iat")), now - 60);
    CHECK_EQ_INT(json_integer_value(json_object_get(claims, "exp")), now + 540);
    CHECK(json_is_string(json_object_get(claims, "iss")));
    CHECK(!strcmp(json_string_value(json_object_get(claims, "iss")) ?: "", "12345"));
    CHECK_EQ_INT(json_object_size(claims), 3);
    json_decref(claims);
    free(h);
    free(c);
    CHECK(verify_with(path_pub, jwt));
    CHECK(!verify_with(path_other, jwt));
    /* one flipped byte of the claims breaks it */
    char *bad = strdup(jwt);
    bad[d1 - jwt + 5] ^= 1;
    CHECK(!verify_with(path_pub, bad));
    free(bad);
    free(jwt);
    /* the PKCS#8 form of the same key signs the same way (RSA PKCS#1 v1.5 is deterministic) */
    size_t len8;
    char *pem8 = load(path_rsa8, &len8, &rc, &err);
    char *jwt8 = NULL;
    CHECK_EQ_INT(cpgo_ghapp_jwt(pem8, len8, "12345", now, &jwt8, &err), 0);
    CHECK(jwt8 && verify_with(path_pub, jwt8));
    free(jwt8);
    cpgo_ghapp_key_free(pem8, len8);
    CHECK_EQ_INT(cpgo_ghapp_jwt(pem, len, "", now, &jwt, &err), CPGO_E_USAGE);
    cpgo_ghapp_key_free(pem, len);
}

/* ---- the fake GitHub ---------------------------------------------------------------------- */

static const char *fake_script(void)
{
    static char path[4096];
    const char *env = getenv("CPGO_FAKE_GITHUB");
    if (env) return env;
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    if (slash) *slash = 0;
    size_t n = strlen(path);
    snprintf(path + n, sizeof path - n, "/../support/fake_github.py");
    return path;
}

static int fake_start(void)
{
    char pf[600];
    snprintf(pf, sizeof pf, "%s/port", tmpdir);
    const char *script = fake_script();
    fake_pid = fork();
    if (fake_pid < 0) return -1;
    if (fake_pid == 0) {
        execlp("python3", "python3", script, "--port-file", pf, "--lifetime", "240", "--token",
               TOKEN, "--app-id", "12345", "--app-public-key", path_pub, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(pf, "r");
        int port;
        if (f) {
            int ok = fscanf(f, "%d", &port) == 1;
            fclose(f);
            if (ok) {
                snprintf(fake_base, sizeof fake_base, "http://127.0.0.1:%d", port);
                unlink(pf);
                return 0;
            }
        }
        if (waitpid(fake_pid, NULL, WNOHANG) == fake_pid) {
            fake_pid = 0;
            return -1;
        }
        usleep(20000);
    }
    return -1;
}

struct mem {
    char *p;
    size_t n;
};

static size_t mem_write(char *d, size_t s, size_t n, void *u)
{
    struct mem *m = u;
    char *q = realloc(m->p, m->n + s * n + 1);
    if (!q) return 0;
    memcpy(q + m->n, d, s * n);
    m->n += s * n;
    q[m->n] = 0;
    m->p = q;
    return s * n;
}

static json_t *fake_http(const char *method, const char *path, const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", fake_base, path);
    CURL *e = curl_easy_init();
    struct mem m = {0};
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body) curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    CHECK_EQ_INT(curl_easy_perform(e), CURLE_OK);
    curl_easy_cleanup(e);
    json_t *j = m.p ? json_loads(m.p, 0, NULL) : NULL;
    free(m.p);
    return j;
}

static void ctl(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *req = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_decref(fake_http("POST", "/_control", s));
    free(s);
}

static int mints(void)
{
    json_t *j = fake_http("GET", "/_log", NULL);
    int n = (int)json_integer_value(json_object_get(j, "mints"));
    json_decref(j);
    return n;
}

/* Requests to paths containing `sub`, and how many of them used `kind` credentials. */
static int count_log(const char *sub, const char *kind, int *of_kind)
{
    json_t *j = fake_http("GET", "/_log", NULL);
    json_t *l = json_object_get(j, "requests");
    int n = 0, k = 0;
    for (size_t i = 0; i < json_array_size(l); i++) {
        json_t *e = json_array_get(l, i);
        const char *p = json_string_value(json_object_get(e, "path"));
        const char *ak = json_string_value(json_object_get(e, "auth_kind"));
        if (p && strstr(p, sub)) {
            n++;
            k += ak && !strcmp(ak, kind);
        }
    }
    json_decref(j);
    if (of_kind) *of_kind = k;
    return n;
}

/* ---- the loop ------------------------------------------------------------------------------ */

struct answer {
    int n;
    enum cpgo_class cls;
    char token[128];
    int64_t expires_at, inst;
    char error[512];
};

static void on_token(const struct cpgo_ghapp_token *t, void *arg)
{
    struct answer *a = arg;
    a->n++;
    uv_stop(&loop);
    a->cls = t->cls;
    snprintf(a->token, sizeof a->token, "%s", t->token ? t->token : "");
    a->expires_at = t->expires_at;
    a->inst = t->installation_id;
    snprintf(a->error, sizeof a->error, "%s", t->error);
    if (t->cls != CPGO_CLASS_OK) {
        keep_error(t->error);
        CHECK(t->token == NULL);
    } else {
        CHECK(t->token && !strncmp(t->token, "ghs_", 4));
    }
}

static void watchdog_cb(uv_timer_t *t)
{
    timed_out = 1;
}

static void wait_for(int *counter, int want, int line)
{
    timed_out = 0;
    uv_timer_start(&watchdog, watchdog_cb, 30000, 0);
    while (*counter < want && !timed_out)
        if (!uv_run(&loop, UV_RUN_ONCE)) break;
    uv_timer_stop(&watchdog);
    if (*counter != want) {
        fprintf(stderr, "line %d: waited for %d answers, got %d\n", line, want, *counter);
        check_failures++;
    }
}
#define WAIT(counter, want) wait_for((counter), (want), __LINE__)

static struct cpgo_ghapp *app_with(const char *keypath, int64_t inst)
{
    struct cpgo_err err;
    size_t len;
    int rc;
    char *pem = load(keypath, &len, &rc, &err);
    struct cpgo_prapi_pacing p;
    cpgo_prapi_pacing_default(&p);
    p.min_mutation_gap_ms = 10;
    p.backoff_base_ms = 20;
    p.backoff_max_ms = 200;
    p.max_retries = 2;
    struct cpgo_ghapp_opts o = {.api_url = fake_base,
                                .app_id = APP_ID,
                                .installation_id = inst,
                                .pem = pem,
                                .pem_len = len,
                                .pacing = &p};
    struct cpgo_ghapp *app = NULL;
    rc = cpgo_ghapp_new(&loop, scr, &o, &app, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "%s\n", err.text);
    cpgo_ghapp_key_free(pem, len);
    return app;
}

static void set_int(void *arg)
{
    (*(int *)arg)++;
    uv_stop(&loop);
}

static void close_app(struct cpgo_ghapp *app)
{
    int closed = 0;
    cpgo_ghapp_close(app, set_int, &closed);
    WAIT(&closed, 1);
}

static void test_not_installed(void)
{
    ctl("{s:s}", "action", "reset");
    struct cpgo_ghapp *app = app_with(path_rsa, 0);
    struct answer a = {0};
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &a), 0);
    CHECK_EQ_INT(a.n, 0); /* never from inside the call */
    WAIT(&a.n, 1);
    CHECK_EQ_INT(a.cls, CPGO_CLASS_NOT_FOUND);
    CHECK_STR_CONTAINS(a.error, "github app 12345 is not installed on acme/svc");
    CHECK_STR_CONTAINS(a.error, "github.app.installation_id");
    CHECK_EQ_INT(mints(), 0);
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "no/slash", on_token, &a), CPGO_E_USAGE);
    close_app(app);
}

static void test_lookup_mint_cache(void)
{
    ctl("{s:s}", "action", "reset");
    ctl("{s:s, s:s, s:i}", "action", "app_install", "repo", "acme/svc", "installation_id", 77);
    ctl("{s:s, s:s, s:i}", "action", "app_install", "repo", "acme/two", "installation_id", 77);
    ctl("{s:s, s:s, s:i}", "action", "app_install", "repo", "beta/one", "installation_id", 88);
    struct cpgo_ghapp *app = app_with(path_rsa, 0);
    struct answer a[8];
    memset(a, 0, sizeof a);
    int total = 0;
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &a[i]), 0);
    for (int i = 0; i < 6; i++) {
        WAIT(&a[i].n, 1);
        total += a[i].n;
        CHECK_EQ_INT(a[i].cls, CPGO_CLASS_OK);
        CHECK_EQ_INT(a[i].inst, 77);
        CHECK(!strcmp(a[i].token, a[0].token));
        CHECK(a[i].expires_at > time(NULL) + 3000 && a[i].expires_at < time(NULL) + 3700);
    }
    CHECK_EQ_INT(total, 6);
    int kind;
    CHECK_EQ_INT(count_log("svc/installation", "app_jwt", &kind), 1); /* one lookup for six */
    CHECK_EQ_INT(kind, 1);
    CHECK_EQ_INT(count_log("/access_tokens", "app_jwt", &kind), 1); /* one mint for six */
    CHECK_EQ_INT(kind, 1);
    CHECK_EQ_INT(mints(), 1);

    /* the cache: same repository, another repository of the same installation */
    struct answer b = {0}, c = {0}, d = {0};
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &b), 0);
    CHECK_EQ_INT(b.n, 0); /* even a cached answer comes later */
    WAIT(&b.n, 1);
    CHECK(!strcmp(b.token, a[0].token));
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "two", on_token, &c), 0);
    WAIT(&c.n, 1);
    CHECK(!strcmp(c.token, a[0].token));
    CHECK_EQ_INT(count_log("svc/installation", "app_jwt", NULL), 1);
    CHECK_EQ_INT(count_log("two/installation", "app_jwt", NULL), 1);
    CHECK_EQ_INT(mints(), 1);
    /* another installation: its own token */
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "beta", "one", on_token, &d), 0);
    WAIT(&d.n, 1);
    CHECK_EQ_INT(d.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(d.inst, 88);
    CHECK(strcmp(d.token, a[0].token) != 0);
    CHECK_EQ_INT(mints(), 2);
    struct cpgo_ghapp_status st;
    cpgo_ghapp_status(app, &st);
    CHECK_EQ_INT(st.mints, 2);
    CHECK_EQ_INT(st.lookups, 3);
    CHECK_EQ_INT(st.cached, 2);
    CHECK_EQ_INT(st.jwts, 1);

    /* the token works for the pulls API; the JWT does not (the fake says so) */
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", a[0].token);
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "User-Agent: t");
    char url[256];
    snprintf(url, sizeof url, "%s/repos/acme/svc/pulls", fake_base);
    struct mem m = {0};
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &m);
    CHECK_EQ_INT(curl_easy_perform(e), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    CHECK_EQ_INT(status, 200);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    free(m.p);

    /* invalidated (a 401 on it): the next request mints a new one */
    cpgo_ghapp_invalidate(app, "acme", "two");
    struct answer f = {0};
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &f), 0);
    WAIT(&f.n, 1);
    CHECK_EQ_INT(f.cls, CPGO_CLASS_OK);
    CHECK(strcmp(f.token, a[0].token) != 0);
    CHECK_EQ_INT(mints(), 3);

    /* a token that expires within the refresh margin is not kept: each request mints */
    ctl("{s:s, s:i}", "action", "app_token_ttl", "seconds", 299);
    cpgo_ghapp_invalidate(app, "acme", "svc");
    struct answer g = {0}, k = {0};
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &g), 0);
    WAIT(&g.n, 1);
    CHECK_EQ_INT(g.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &k), 0);
    WAIT(&k.n, 1);
    CHECK_EQ_INT(k.cls, CPGO_CLASS_OK);
    CHECK(strcmp(g.token, k.token) != 0);
    CHECK_EQ_INT(mints(), 5);
    close_app(app);
}

static void test_fixed_installation(void)
{
    ctl("{s:s}", "action", "reset");
    ctl("{s:s, s:s, s:i}", "action", "app_install", "repo", "acme/svc", "installation_id", 91);
    struct cpgo_ghapp *app = app_with(path_rsa8, 91);
    struct answer a = {0};
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "anything", on_token, &a), 0);
    WAIT(&a.n, 1);
    CHECK_EQ_INT(a.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(count_log("/installation", "app_jwt", NULL), 1); /* /installations/91/... */
    CHECK_EQ_INT(count_log("/repos/", "app_jwt", NULL), 0);       /* no lookup */
    close_app(app);
    /* an installation that does not exist */
    app = app_with(path_rsa8, 4242);
    struct answer b = {0};
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &b), 0);
    WAIT(&b.n, 1);
    CHECK_EQ_INT(b.cls, CPGO_CLASS_NOT_FOUND);
    CHECK_STR_CONTAINS(b.error, "installation 4242 not found");
    close_app(app);
}

static void test_wrong_key_then_reload(void)
{
    ctl("{s:s}", "action", "reset");
    ctl("{s:s, s:s, s:i}", "action", "app_install", "repo", "acme/svc", "installation_id", 77);
    struct cpgo_ghapp *app = app_with(path_other, 0);
    struct answer a = {0}, b = {0};
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &a), 0);
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &b), 0);
    WAIT(&a.n, 1);
    WAIT(&b.n, 1);
    CHECK_EQ_INT(a.cls, CPGO_CLASS_AUTH);
    CHECK_EQ_INT(b.cls, CPGO_CLASS_AUTH);
    CHECK_STR_CONTAINS(a.error, "GitHub refused the app's JWT");
    CHECK_STR_CONTAINS(a.error, "401");
    CHECK_STR_CONTAINS(a.error, "A JSON web token could not be decoded");
    CHECK_STR_CONTAINS(a.error, "github.app.private_key_file");
    CHECK_EQ_INT(count_log("svc/installation", "app_jwt", NULL), 1); /* no retry storm */
    /* an invalid replacement is refused and the old key kept */
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_ghapp_set_key(app, "junk", 4, &err), CPGO_E_USAGE);
    CHECK_STR_CONTAINS(err.text, "not a PEM private key");
    /* the right key (a SIGHUP reload): the next request is signed with it */
    size_t len;
    int rc;
    char *pem = load(path_rsa, &len, &rc, &err);
    CHECK_EQ_INT(cpgo_ghapp_set_key(app, pem, len, &err), 0);
    cpgo_ghapp_key_free(pem, len);
    struct answer c = {0};
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &c), 0);
    WAIT(&c.n, 1);
    CHECK_EQ_INT(c.cls, CPGO_CLASS_OK);
    CHECK_EQ_INT(mints(), 1);
    close_app(app);
}

/* The fake's clock 50 s behind ours, tokens for 340 s: by the local clock alone the token
 * would expire 290 s from now, inside the 300 s margin, and every request would mint; the
 * Date header shows the token really has 340 s, so it is kept. */
static void test_clock_offset(void)
{
    ctl("{s:s}", "action", "reset");
    ctl("{s:s, s:s, s:i}", "action", "app_install", "repo", "acme/svc", "installation_id", 77);
    ctl("{s:s, s:i}", "action", "clock_offset", "seconds", -50);
    ctl("{s:s, s:i}", "action", "app_token_ttl", "seconds", 340);
    struct cpgo_ghapp *app = app_with(path_rsa, 0);
    struct answer a = {0}, b = {0};
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &a), 0);
    WAIT(&a.n, 1);
    CHECK_EQ_INT(a.cls, CPGO_CLASS_OK);
    CHECK(a.expires_at >= time(NULL) + 330 && a.expires_at <= time(NULL) + 345);
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &b), 0);
    WAIT(&b.n, 1);
    CHECK(!strcmp(a.token, b.token));
    CHECK_EQ_INT(mints(), 1);
    struct cpgo_ghapp_status st;
    cpgo_ghapp_status(app, &st);
    CHECK(st.clock_offset_s >= -52 && st.clock_offset_s <= -48);
    close_app(app);
    ctl("{s:s, s:i}", "action", "clock_offset", "seconds", 0);
}

/* This machine's clock 15 minutes off GitHub's, either way: the first JWT is refused
 * (expired, or issued in the future, by GitHub's clock); the 401's Date header tells the
 * offset, and one JWT signed by GitHub's clock gets the token. */
static void test_clock_skew(void)
{
    int offsets[] = {900, -900};
    for (int k = 0; k < 2; k++) {
        ctl("{s:s}", "action", "reset");
        ctl("{s:s, s:s, s:i}", "action", "app_install", "repo", "acme/svc", "installation_id", 77);
        ctl("{s:s, s:i}", "action", "clock_offset", "seconds", offsets[k]);
        struct cpgo_ghapp *app = app_with(path_rsa, 0);
        struct answer a = {0}, b = {0};
        CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &a), 0);
        WAIT(&a.n, 1);
        CHECK_EQ_INT(a.cls, CPGO_CLASS_OK);
        if (a.cls) fprintf(stderr, "offset %d: %s\n", offsets[k], a.error);
        /* expires_at is GitHub's clock: by ours, an hour from now */
        CHECK(a.expires_at >= time(NULL) + 3590 && a.expires_at <= time(NULL) + 3605);
        CHECK_EQ_INT(cpgo_ghapp_get_token(app, "beta", "none", on_token, &b), 0);
        WAIT(&b.n, 1);
        CHECK_EQ_INT(b.cls, CPGO_CLASS_NOT_FOUND); /* the learnt offset holds: no 401 */
        struct cpgo_ghapp_status st;
        cpgo_ghapp_status(app, &st);
        CHECK(st.clock_offset_s >= offsets[k] - 2 && st.clock_offset_s <= offsets[k] + 2);
        CHECK_EQ_INT(st.jwts, 2);
        CHECK_EQ_INT(st.lookups, 3); /* the refused one, its retry, beta/none */
        CHECK_EQ_INT(mints(), 1);
        close_app(app);
    }
    ctl("{s:s, s:i}", "action", "clock_offset", "seconds", 0);
}

/* GitHub (or a proxy) quoting the Authorization header back, in every form: the JWT is
 * scrubbed from the error line like a token. */
static void test_echoed_jwt(void)
{
    ctl("{s:s}", "action", "reset");
    ctl("{s:s, s:s, s:i}", "action", "app_install", "repo", "acme/svc", "installation_id", 77);
    const char *forms[] = {"raw", "token", "percent", "base64", "all"};
    for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
        ctl("{s:s, s:s, s:s, s:s, s:i}", "action", "fault", "kind", "echo_auth", "path",
            "/installation", "form", forms[f], "status", 403);
        struct cpgo_ghapp *app = app_with(path_rsa, 0);
        struct answer a = {0};
        CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &a), 0);
        WAIT(&a.n, 1);
        CHECK_EQ_INT(a.cls, CPGO_CLASS_FORBIDDEN);
        CHECK_STR_CONTAINS(a.error, "is not allowed here");
        CHECK(!strstr(a.error, "eyJ"));      /* no JWT part, in any form */
        CHECK(!strstr(a.error, "ZXlKaGJH")); /* base64 of "eyJhbG" */
        close_app(app);
    }
}

static void test_close(void)
{
    ctl("{s:s}", "action", "reset");
    ctl("{s:s, s:s, s:i}", "action", "app_install", "repo", "acme/svc", "installation_id", 77);
    struct cpgo_ghapp *app = app_with(path_rsa, 0);
    struct answer a = {0}, b = {0};
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "svc", on_token, &a), 0);
    CHECK_EQ_INT(cpgo_ghapp_get_token(app, "acme", "other", on_token, &b), 0);
    int closed = 0;
    cpgo_ghapp_close(app, set_int, &closed);
    WAIT(&closed, 1);
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_INT(b.n, 1);
    CHECK_EQ_INT(a.cls, CPGO_CLASS_CANCELED);
    CHECK_EQ_INT(b.cls, CPGO_CLASS_CANCELED);
}

static void scraper_closed(void *arg)
{
    *(int *)arg = 1;
}

int main(void)
{
    alarm(180);
    char logpath[] = "/tmp/cpgo-test-ghapp-log-XXXXXX";
    int logfd = mkstemp(logpath);
    CHECK(logfd >= 0);
    cpgo_log_setup(CPGO_LVL_DEBUG, 0, logfd);
    make_keys();
    test_key_load();
    test_jwt();
    if (fake_start()) {
        fprintf(stderr, "FAIL: the fake GitHub API could not be started\n");
        return 1;
    }
    uv_loop_init(&loop);
    uv_timer_init(&loop, &watchdog);
    struct cpgo_scraper_opts so = {.user_agent = "cpgo-test"};
    CHECK_EQ_INT(cpgo_scraper_new(&loop, &so, &scr), 0);

    test_not_installed();
    test_lookup_mint_cache();
    test_fixed_installation();
    test_wrong_key_then_reload();
    test_clock_offset();
    test_clock_skew();
    test_echoed_jwt();
    test_close();

    int closed = 0;
    cpgo_scraper_close(scr, scraper_closed, &closed);
    uv_close((uv_handle_t *)&watchdog, NULL);
    while (!closed && uv_run(&loop, UV_RUN_ONCE)) {
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    kill(fake_pid, SIGTERM);
    waitpid(fake_pid, NULL, 0);

    /* no token, JWT or key piece in an error line or a log line (all at debug level) */
    struct stat sb;
    CHECK(fstat(logfd, &sb) == 0);
    char *logs = calloc(1, (size_t)sb.st_size + 1);
    CHECK(pread(logfd, logs, (size_t)sb.st_size, 0) == sb.st_size);
    CHECK_STR_CONTAINS(logs, "pull request API request");
    char piece[64];
    key_piece(path_rsa, piece, sizeof piece);
    const char *texts[] = {logs, all_errors ? all_errors : ""};
    for (int i = 0; i < 2; i++) {
        CHECK(!strstr(texts[i], "ghs_"));
        CHECK(!strstr(texts[i], "eyJhbGciOiJSUzI1NiIs")); /* the JWT's header */
        CHECK(!strstr(texts[i], piece));
    }
    CHECK(all_errors && strstr(all_errors, "not installed"));
    free(logs);
    close(logfd);
    unlink(logpath);
    free(all_errors);
    const char *files[] = {path_rsa, path_rsa8, path_other, path_ec,
                           path_enc, path_enc1, path_junk,  path_pub};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        unlink(files[i]);
    rmdir(tmpdir);
    curl_global_cleanup();
    CHECK_DONE();
}
