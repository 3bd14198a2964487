/*
 * http_conn.c - the admin server's connection table (see http_int.h): a connection's
 * creation, its handles and their close, the eviction choice at the connection cap, the
 * deadlines, and freeing the server once its last handle has closed. It calls no other
 * file of the server.
 *
 * Deadlines are one timer per connection, re-armed after every event to the nearest of:
 * the header deadline (accept or a request's first byte + header_timeout; not while
 * paused), the idle deadline (the last response written + idle_timeout, when nothing is
 * in progress), the write deadline (the last write progress + write_timeout, while writes
 * are queued) and the linger deadline.
 *
 * Thread: the loop thread only.
 */
#include "admin/http_int.h"

#include <assert.h>
#include <stdlib.h>

enum deadline_kind { D_NONE, D_HEADER, D_IDLE, D_WRITE, D_LINGER };

struct conn *cpgo_admin_conn_new(struct cpgo_admin *a)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->url = malloc(a->lim.max_url + 1);
    if (!c->url) {
        free(c);
        return NULL;
    }
    c->a = a;
    c->reject = R_NONE;
    cpgo_buf_init(&c->pending, READ_BUF);
    llhttp_init(&c->parser, HTTP_REQUEST, &a->settings);
    c->parser.data = c;
    cpgo_list_push_tail(&a->conns, &c->link);
    /* the first request's header deadline runs from the accept */
    c->in_request = 1;
    c->req_start = c->idle_start = cpgo_admin_now(a);
    return c;
}

void cpgo_admin_conn_free(struct conn *c)
{
    struct cpgo_admin *a = c->a;
    cpgo_list_remove(&a->conns, &c->link);
    if (c->phase == P_CLOSING) {
        assert(a->nclosing > 0);
        a->nclosing--;
    }
    cpgo_buf_free(&c->pending);
    free(c->url);
    free(c);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct cpgo_admin *a = c->a;
    a->handles--;
    if (--c->handles == 0) cpgo_admin_conn_free(c);
    cpgo_admin_maybe_finish(a);
}

void cpgo_admin_conn_abort(struct conn *c)
{
    if (c->phase == P_CLOSING) return;
    c->phase = P_CLOSING;
    c->a->nclosing++;
    c->reading = 0;
    if (c->a->fake) return; /* the driver frees it */
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static uint64_t conn_deadline(const struct conn *c, enum deadline_kind *kind)
{
    const struct limits *l = &c->a->lim;
    uint64_t d = UINT64_MAX;
    *kind = D_NONE;
    switch (c->phase) {
    case P_LINGER:
        *kind = D_LINGER;
        return c->linger_start + CPGO_ADMIN_LINGER_MS;
    case P_DRAIN:
        *kind = D_WRITE;
        return c->write_progress + l->write_to;
    case P_OPEN:
        if (c->nwrites) {
            d = c->write_progress + l->write_to;
            *kind = D_WRITE;
        }
        /* while paused the client is not to blame for an unfinished request: we stopped
         * reading it */
        if (c->paused) return d;
        if (c->in_request) {
            if (c->req_start + l->header_to < d) {
                d = c->req_start + l->header_to;
                *kind = D_HEADER;
            }
        } else if (!c->nwrites) {
            d = c->idle_start + l->idle_to;
            *kind = D_IDLE;
        }
        return d;
    case P_CLOSING:
        break;
    }
    return d;
}

static void on_timer(uv_timer_t *t);

void cpgo_admin_conn_arm_timer(struct conn *c)
{
    if (c->a->fake || c->phase == P_CLOSING) return;
    enum deadline_kind kind;
    uint64_t d = conn_deadline(c, &kind), now = cpgo_admin_now(c->a);
    if (kind == D_NONE)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, d > now ? d - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->phase == P_CLOSING) return;
    enum deadline_kind kind;
    uint64_t d = conn_deadline(c, &kind);
    if (kind == D_NONE) return;
    if (cpgo_admin_now(c->a) < d) {
        cpgo_admin_conn_arm_timer(c);
        return;
    }
    struct cpgo_admin_stats *st = &c->a->st;
    if (kind == D_HEADER)
        st->rejected[CPGO_ADMIN_R_HEADER_TIMEOUT]++;
    else if (kind == D_WRITE)
        st->rejected[CPGO_ADMIN_R_WRITE_TIMEOUT]++;
    else if (kind == D_IDLE)
        st->idle_closed++;
    cpgo_admin_conn_abort(c);
}

/*
 * At the cap: closes the oldest connection that is not being answered (open with no
 * response queued: idle, fresh, or part of a request received; or lingering after an
 * error), so the new one can be served. Oldest first because a client that holds
 * connections holds its oldest ones longest, and a prober's connection is fresh. A
 * connection whose response is being written keeps its place. 0 when one was closed.
 */
int cpgo_admin_evict_one(struct cpgo_admin *a)
{
    for (struct cpgo_list_node *n = cpgo_list_head(&a->conns); n; n = n->next) {
        struct conn *c = CPGO_LIST_DATA(n, struct conn, link);
        if (!((c->phase == P_OPEN && !c->nwrites) || c->phase == P_LINGER)) continue;
        a->st.rejected[CPGO_ADMIN_R_EVICTED]++;
        cpgo_admin_conn_abort(c);
        return 0;
    }
    return -1;
}

void cpgo_admin_free(struct cpgo_admin *a)
{
    for (size_t i = 0; i < a->nroutes; i++)
        free(a->routes[i].path);
    free(a->routes);
    free(a);
}

void cpgo_admin_maybe_finish(struct cpgo_admin *a)
{
    if (!a->closing || a->handles) return;
    cpgo_admin_closed_cb cb = a->closed_cb;
    void *arg = a->closed_arg;
    cpgo_admin_free(a);
    if (cb) cb(arg);
}
