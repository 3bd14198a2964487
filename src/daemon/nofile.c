/* nofile.c - see nofile.h. */
#include "daemon/nofile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "base/log.h"

static void show(rlim_t v, char *out, size_t cap)
{
    if (v == RLIM_INFINITY)
        snprintf(out, cap, "unlimited");
    else
        snprintf(out, cap, "%llu", (unsigned long long)v);
}

/* Linux refuses a soft limit above fs.nr_open, which a hard "unlimited" may exceed. */
static rlim_t nr_open(void)
{
    FILE *f = fopen("/proc/sys/fs/nr_open", "r");
    unsigned long long v = 0;
    if (f) {
        if (fscanf(f, "%llu", &v) != 1) v = 0;
        fclose(f);
    }
    return v ? (rlim_t)v : (rlim_t)1 << 20;
}

size_t cpgo_nofile_raise(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return SIZE_MAX;
    rlim_t old = rl.rlim_cur;
    if (rl.rlim_cur != rl.rlim_max) {
        struct rlimit want = rl;
        want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? nr_open() : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
            rl.rlim_cur = want.rlim_cur;
        } else {
            char h[32], o[32];
            show(rl.rlim_max, h, sizeof h);
            show(old, o, sizeof o);
            cpgo_log(CPGO_LVL_WARN, "cannot raise the open-file limit", "soft", o, "hard", h,
                     "error", strerror(errno), NULL);
        }
    }
    char o[32], n[32], h[32];
    show(old, o, sizeof o);
    show(rl.rlim_cur, n, sizeof n);
    show(rl.rlim_max, h, sizeof h);
    cpgo_log(CPGO_LVL_INFO, "open-file limit", "old", o, "new", n, "hard", h, NULL);
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > SIZE_MAX ? SIZE_MAX : (size_t)rl.rlim_cur;
}

size_t cpgo_nofile_scrape_cap(size_t limit, size_t configured)
{
    /* a low limit keeps half for the rest, so the reserve never eats it all */
    size_t reserve = limit == SIZE_MAX                 ? 0
                     : CPGO_NOFILE_RESERVE < limit / 2 ? CPGO_NOFILE_RESERVE
                                                       : limit / 2;
    if (limit == SIZE_MAX || configured <= limit - reserve) return configured;
    size_t cap = limit - reserve;
    return cap < 1 ? 1 : cap;
}

void cpgo_nofile_warn(size_t limit, size_t configured, size_t cap, size_t *warned_for)
{
    if (cap >= configured || *warned_for == configured) return;
    *warned_for = configured;
    char l[32], c[32], e[32], need[32], msg[320];
    snprintf(l, sizeof l, "%zu", limit);
    snprintf(c, sizeof c, "%zu", configured);
    snprintf(e, sizeof e, "%zu", cap);
    snprintf(need, sizeof need, "%zu", configured + CPGO_NOFILE_RESERVE);
    snprintf(msg, sizeof msg,
             "open-file limit too low for limits.max_concurrent_scrapes: at most %zu scrapes "
             "run at once, the others wait (raise the hard limit, ulimit -Hn / LimitNOFILE=, "
             "to %s, or lower limits.max_concurrent_scrapes to %zu)",
             cap, need, cap);
    cpgo_log(CPGO_LVL_WARN, msg, CPGO_LOG_INT("nofile"), l, CPGO_LOG_INT("max_concurrent_scrapes"),
             c, CPGO_LOG_INT("effective"), e, NULL);
}
