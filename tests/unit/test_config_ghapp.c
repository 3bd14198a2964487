/* test_config_ghapp.c - the github.app keys: stored (the key file relative to the
 * configuration's directory), optional installation id, the section's required keys, the
 * bounds, exclusion with github.token_file, a key written inline refused without echoing
 * it, and the dump (absent section not dumped; present one dumped and loaded again). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config/config.h"

#define NAME "config.yaml"
#define BASE "/etc/cpgo"
#define B_MIN                                                                                      \
    "backends:\n"                                                                                  \
    "- url: http://localhost:6060/debug/pprof/profile?seconds=30\n"                                \
    "  schedule: '* * * * *'\n"                                                                    \
    "  open_pull_request:\n    repository: https://github.com/org/app\n"

static struct cpgo_config *parse(const char *y, struct cpgo_config_errors *e)
{
    struct cpgo_config *c = NULL;
    cpgo_config_parse(y, strlen(y), NAME, BASE, &c, e);
    return c;
}

/* The config is refused with a line containing each of the needles (NULL-terminated). */
static void refused_at(const char *y, int line, ...)
{
    struct cpgo_config_errors e;
    struct cpgo_config *c = parse(y, &e);
    check_count++;
    if (c) {
        check_failures++;
        fprintf(stderr, "line %d: accepted\n", line);
    }
    va_list ap;
    va_start(ap, line);
    for (const char *n; (n = va_arg(ap, const char *));) {
        int found = 0;
        for (size_t i = 0; i < e.n; i++)
            found |= strstr(e.lines[i], n) != NULL;
        check_count++;
        if (!found) {
            check_failures++;
            fprintf(stderr, "line %d: no error contains \"%s\":\n", line, n);
            for (size_t i = 0; i < e.n; i++)
                fprintf(stderr, "    | %s\n", e.lines[i]);
        }
    }
    va_end(ap);
    for (size_t i = 0; i < e.n; i++)
        CHECK(!strstr(e.lines[i], "MIIEow")); /* an inline key is never echoed */
    cpgo_config_free(c);
    cpgo_config_errors_free(&e);
}
#define refused(y, ...) refused_at(y, __LINE__, __VA_ARGS__, (const char *)NULL)

static char *dump(const struct cpgo_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(cpgo_config_dump(c, f) == 0);
    fclose(f);
    return buf;
}

int main(void)
{
    struct cpgo_config_errors e;
    /* absent: no app, and the dump does not show the section */
    struct cpgo_config *c = parse(B_MIN, &e);
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(c->github.app.app_id, 0);
        CHECK(c->github.app.private_key_file == NULL);
        char *d = dump(c);
        CHECK(!strstr(d, "app:"));
        free(d);
    }
    cpgo_config_free(c);
    cpgo_config_errors_free(&e);

    const char *ok = "github:\n  app:\n    app_id: 123456\n    private_key_file: keys/app.pem\n"
                     "    installation_id: 7890\n" B_MIN;
    c = parse(ok, &e);
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(c->github.app.app_id, 123456);
        CHECK(!strcmp(c->github.app.private_key_file, BASE "/keys/app.pem"));
        CHECK_EQ_INT(c->github.app.installation_id, 7890);
        char *d = dump(c);
        CHECK(strstr(d, "  app:\n    app_id: 123456\n    private_key_file: /etc/cpgo/keys/app.pem\n"
                        "    installation_id: 7890\n") != NULL);
        /* the dump loads again to the same values */
        struct cpgo_config *c2 = NULL;
        struct cpgo_config_errors e2;
        CHECK_EQ_INT(cpgo_config_parse(d, strlen(d), NAME, BASE, &c2, &e2), 0);
        if (c2) {
            CHECK_EQ_INT(c2->github.app.app_id, 123456);
            CHECK_EQ_INT(c2->github.app.installation_id, 7890);
        }
        cpgo_config_free(c2);
        cpgo_config_errors_free(&e2);
        free(d);
    }
    cpgo_config_free(c);
    cpgo_config_errors_free(&e);

    /* installation_id is optional */
    c = parse("github:\n  app:\n    app_id: 1\n    private_key_file: /k.pem\n" B_MIN, &e);
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(c->github.app.installation_id, 0);
        /* absent is not dumped as 0, which would not load again */
        char *d = dump(c);
        CHECK(strstr(d, "    private_key_file: /k.pem\ngit:\n") != NULL);
        free(d);
    }
    cpgo_config_free(c);
    cpgo_config_errors_free(&e);

    refused("github:\n  app:\n    private_key_file: k.pem\n" B_MIN,
            NAME ":3:5: github.app.app_id: required");
    refused("github:\n  app:\n    app_id: 5\n" B_MIN,
            NAME ":3:5: github.app.private_key_file: required");
    refused("github:\n  app: {}\n" B_MIN, "github.app.app_id: required",
            "github.app.private_key_file: required");
    refused("github:\n  app:\n    app_id: 0\n    private_key_file: k.pem\n" B_MIN,
            NAME ":3:13: github.app.app_id: '0' is out of range (a positive integer)");
    refused("github:\n  app:\n    app_id: -4\n    private_key_file: k.pem\n" B_MIN,
            "github.app.app_id: '-4' is out of range");
    refused("github:\n  app:\n    app_id: abc\n    private_key_file: k.pem\n" B_MIN,
            "github.app.app_id:");
    refused("github:\n  app:\n    app_id: 3\n    private_key_file: k.pem\n"
            "    installation_id: 0\n" B_MIN,
            "github.app.installation_id: '0' is out of range (a positive integer)");
    refused(
        "github:\n  token_file: tok\n  app:\n    app_id: 3\n    private_key_file: k.pem\n" B_MIN,
        NAME ":2:3: github.token_file: not with github.app (line 3)");
    refused("github:\n  app:\n    app_id: 3\n    private_key: \"-----BEGIN RSA PRIVATE KEY-----"
            "MIIEow\"\n" B_MIN,
            NAME ":4:5: github.app.private_key: secrets must not be written in the "
                 "configuration; put it in a file and set github.app.private_key_file");
    refused("github:\n  app:\n    app_id: 3\n    private_key_file: k.pem\n    client_id: x\n" B_MIN,
            "github.app.client_id: unknown key");
    CHECK_DONE();
}
