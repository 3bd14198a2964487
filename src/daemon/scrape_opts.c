/*
 * scrape_opts.c - a backend's (or a service's) scrape options, from the configuration
 * (struct cpgo_scrape_auth_cfg: tls_config, basic_auth, authorization, proxy_url) into a
 * scrape request, and its secrets into the set the scrape scrubs its error text with.
 *
 * Kept apart from daemon.c so the backends' scrapes and the services' instances build
 * their requests and secrets the same way. The configuration already read the secret
 * files (at load and at each reload), so nothing here touches the disk: the request only
 * points at the configuration's strings, except the authorization value, which is built
 * into the caller's buffer (curl copies it when the scrape starts).
 *
 * Thread: any; owns nothing.
 */
#include <stdio.h>
#include <string.h>

#include "daemon/daemon_int.h"

int cpgo_daemon_scrape_auth(const struct cpgo_scrape_auth_cfg *a, struct cpgo_scrape_req *req,
                            char *authz_buf, size_t cap)
{
    req->tls.ca_file = a->tls.ca_file;
    req->tls.cert_file = a->tls.cert_file;
    req->tls.key_file = a->tls.key_file;
    req->tls.server_name = a->tls.server_name;
    req->tls.insecure_skip_verify = a->tls.insecure_skip_verify;
    req->basic_user = a->basic_username;
    req->basic_password = a->basic_password;
    req->proxy_url = a->proxy_url;
    req->authorization = NULL;
    if (!a->authz_credentials) return 0;
    const char *type = a->authz_type && a->authz_type[0] ? a->authz_type : "Bearer";
    int n = cap ? snprintf(authz_buf, cap, "%s %s", type, a->authz_credentials) : -1;
    if (n < 0 || (size_t)n >= cap) {
        /* never a cut credential on the wire, and never no credential at all */
        if (cap) {
            memset(authz_buf, 0, cap);
            req->authorization = authz_buf;
        } else {
            req->authorization = "";
        }
        return -1;
    }
    req->authorization = authz_buf;
    return 0;
}

int cpgo_daemon_scrape_auth_secrets(const struct cpgo_scrape_auth_cfg *a,
                                    struct cpgo_url_secrets *s)
{
    int rc = 0;
    if (a->basic_password)
        rc |= cpgo_url_secrets_add_basic(s, a->basic_username ? a->basic_username : "",
                                         a->basic_password);
    if (a->authz_credentials) rc |= cpgo_url_secrets_add(s, a->authz_credentials);
    if (a->proxy_url) rc |= cpgo_url_secrets_add_url(s, a->proxy_url);
    return rc ? -1 : 0;
}
