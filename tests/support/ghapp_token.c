/*
 * ghapp_token.c - cpgo-ghapp-token, a test driver of publish/ghapp: loads the app's key as
 * the daemon does (cpgo_ghapp_key_load), asks for the installation token of each
 * OWNER/REPO given, all at once, for --rounds rounds on one app (so the second round shows
 * the cache), and prints one line per answer. It never prints a token: only the first 12
 * hex digits of its SHA-256, so a test can tell tokens apart. With --use, each token is
 * tried on GET /repos/{o}/{r}/pulls and the status printed. With --key2 FILE, the key is
 * replaced (a SIGHUP reload) between the first round and the second.
 *
 *   cpgo-ghapp-token --api URL --app-id N --key FILE [--installation N] [--rounds K]
 *                    [--key2 FILE] [--use] OWNER/REPO...
 *
 * Exit status: 0 every answer a token, 1 some failed, 2 usage or key refused.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "base/log.h"
#include "publish/ghapp.h"
#include "scrape/scrape.h"

#define MAX_REPOS 64

static uv_loop_t loop;
static const char *api;
static int use, answered, failed;

struct ask {
    char owner[101], repo[101];
};

static size_t sink(char *d, size_t s, size_t n, void *u)
{
    return s * n;
}

/* GET /repos/o/r/pulls with the token: the HTTP status (a blocking call: a test driver). */
static long try_token(const struct ask *a, const char *token)
{
    char url[512], auth[1200];
    snprintf(url, sizeof url, "%s/repos/%s/%s/pulls", api, a->owner, a->repo);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "User-Agent: cpgo-ghapp-token");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    long st = 0;
    if (curl_easy_perform(e) == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    return st;
}

static void on_token(const struct cpgo_ghapp_token *t, void *arg)
{
    struct ask *a = arg;
    answered++;
    if (t->cls != CPGO_CLASS_OK) {
        failed++;
        printf("error repo=%s/%s class=%s: %s\n", a->owner, a->repo, cpgo_class_name(t->cls),
               t->error);
        return;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_Digest(t->token, strlen(t->token), md, &mdlen, EVP_sha256(), NULL);
    char hex[13];
    for (int i = 0; i < 6; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    printf("ok repo=%s/%s installation=%lld expires_in=%lld token_sha=%s", a->owner, a->repo,
           (long long)t->installation_id, (long long)(t->expires_at - time(NULL)), hex);
    if (use) printf(" use=%ld", try_token(a, t->token));
    printf("\n");
}

static void closed_cb(void *arg)
{
    (*(int *)arg)++;
}

static int usage(void)
{
    fprintf(stderr, "usage: cpgo-ghapp-token --api URL --app-id N --key FILE [--installation N] "
                    "[--rounds K] [--key2 FILE] [--use] OWNER/REPO...\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *key = NULL, *key2 = NULL;
    long long app_id = 0, inst = 0;
    int rounds = 1;
    static struct ask asks[MAX_REPOS];
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--api") && v)
            api = argv[++i];
        else if (!strcmp(a, "--app-id") && v)
            app_id = atoll(argv[++i]);
        else if (!strcmp(a, "--key") && v)
            key = argv[++i];
        else if (!strcmp(a, "--key2") && v)
            key2 = argv[++i];
        else if (!strcmp(a, "--installation") && v)
            inst = atoll(argv[++i]);
        else if (!strcmp(a, "--rounds") && v)
            rounds = atoi(argv[++i]);
        else if (!strcmp(a, "--use"))
            use = 1;
        else if (a[0] != '-' && n < MAX_REPOS && strchr(a, '/')) {
            const char *s = strchr(a, '/');
            snprintf(asks[n].owner, sizeof asks[n].owner, "%.*s", (int)(s - a), a);
            snprintf(asks[n].repo, sizeof asks[n].repo, "%s", s + 1);
            n++;
        } else
            return usage();
    }
    if (!api || !key || !n || rounds < 1) return usage();
    cpgo_log_setup(CPGO_LVL_DEBUG, 0, 2); /* every log line on stderr: the test reads it */
    struct cpgo_err err;
    char *pem;
    size_t len;
    if (cpgo_ghapp_key_load(key, &pem, &len, &err)) {
        fprintf(stderr, "cpgo-ghapp-token: %s\n", err.text);
        return 2;
    }
    uv_loop_init(&loop);
    struct cpgo_scraper *scr;
    struct cpgo_scraper_opts so = {.user_agent = "cpgo-ghapp-token"};
    if (cpgo_scraper_new(&loop, &so, &scr)) return 2;
    struct cpgo_prapi_pacing pace;
    cpgo_prapi_pacing_default(&pace);
    pace.backoff_base_ms = 50;
    pace.max_retries = 2;
    struct cpgo_ghapp_opts o = {.api_url = api,
                                .app_id = app_id,
                                .installation_id = inst,
                                .pem = pem,
                                .pem_len = len,
                                .pacing = &pace};
    struct cpgo_ghapp *app;
    int rc = cpgo_ghapp_new(&loop, scr, &o, &app, &err);
    cpgo_ghapp_key_free(pem, len);
    if (rc) {
        fprintf(stderr, "cpgo-ghapp-token: %s\n", err.text);
        return 2;
    }
    for (int r = 0; r < rounds; r++) {
        if (r == 1 && key2) {
            if (cpgo_ghapp_key_load(key2, &pem, &len, &err) ||
                cpgo_ghapp_set_key(app, pem, len, &err)) {
                fprintf(stderr, "cpgo-ghapp-token: %s\n", err.text);
                return 2;
            }
            cpgo_ghapp_key_free(pem, len);
            printf("key replaced\n");
        }
        printf("round %d\n", r + 1);
        int want = answered + (int)n;
        for (size_t i = 0; i < n; i++)
            if (cpgo_ghapp_get_token(app, asks[i].owner, asks[i].repo, on_token, &asks[i])) {
                printf("error repo=%s/%s: refused by cpgo_ghapp_get_token\n", asks[i].owner,
                       asks[i].repo);
                failed++;
                want--;
            }
        while (answered < want && uv_run(&loop, UV_RUN_ONCE)) {
        }
        fflush(stdout);
    }
    struct cpgo_ghapp_status st;
    cpgo_ghapp_status(app, &st);
    printf("status jwts=%llu lookups=%llu mints=%llu cached=%llu\n", (unsigned long long)st.jwts,
           (unsigned long long)st.lookups, (unsigned long long)st.mints,
           (unsigned long long)st.cached);
    int closed = 0;
    cpgo_ghapp_close(app, closed_cb, &closed);
    while (!closed && uv_run(&loop, UV_RUN_ONCE)) {
    }
    closed = 0;
    cpgo_scraper_close(scr, closed_cb, &closed);
    while (!closed && uv_run(&loop, UV_RUN_ONCE)) {
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop)) fprintf(stderr, "cpgo-ghapp-token: the loop did not close\n");
    curl_global_cleanup();
    return failed ? 1 : 0;
}
