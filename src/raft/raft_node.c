/*
 * raft_node.c - a node: one libuv loop on one thread, the shared listening
 * socket, the request queue through which other threads reach the loop,
 * deferred calls, shutdown, and the synchronous helpers (vxr_submit_wait,
 * vxr_apply_wait, vxr_group_create, vxr_group_status).
 *
 * Threading model. node->mu guards the request queue and node->stopping.
 * A submitting thread pushes a request and calls uv_async_send while
 * holding node->mu; the loop closes the async handle only after it has
 * seen `stopping` (set under the same mutex by vxr_node_stop) and drained
 * the queue, so no thread ever signals a closed handle. Everything else in
 * the node is touched by the loop thread only. A synchronous helper waits
 * on a reference-counted waiter (mutex + condition variable, monotonic
 * clock) that the completion callback signals; a waiter that times out
 * drops its reference and the late completion frees it.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "raft/raft_int.h"

/* ---------------------------------------------------------- names */

const char *vxr_status_name(int status)
{
    switch (status) {
    case 0:
        return "OK";
    case VXR_NOT_LEADER:
        return "NOT_LEADER";
    case VXR_LEADERSHIP_LOST:
        return "LEADERSHIP_LOST";
    case VXR_TIMEOUT:
        return "TIMEOUT";
    case VXR_SHUTDOWN:
        return "SHUTDOWN";
    case VXR_BUSY:
        return "BUSY";
    default:
        return vectron_error_name(status);
    }
}

void vxr_settings_default(vxr_settings *s)
{
    s->election_timeout_ms = 1000;
    s->heartbeat_timeout_ms = 100;
    s->snapshot_threshold = 1024;
    s->snapshot_trailing = 128;
    s->connect_retry_ms = 200;
    s->install_snapshot_timeout_ms = 30000;
    s->segment_size = 1024 * 1024;
}

static int check_settings(const vxr_settings *s, vectron_error *err)
{
    if (s->election_timeout_ms < 10 ||
        s->heartbeat_timeout_ms >= s->election_timeout_ms ||
        s->heartbeat_timeout_ms == 0) {
        return vx_err(err, VECTRON_INVALID,
                      "settings: need election timeout >= 10 ms and 0 < "
                      "heartbeat < election timeout (got %u and %u)",
                      s->election_timeout_ms, s->heartbeat_timeout_ms);
    }
    if (s->snapshot_threshold == 0 || s->connect_retry_ms == 0 ||
        s->install_snapshot_timeout_ms == 0) {
        return vx_err(err, VECTRON_INVALID,
                      "settings: snapshot threshold, connect retry and "
                      "install snapshot timeout must be > 0");
    }
    if (s->segment_size != 0 && s->segment_size < 64 * 1024) {
        return vx_err(err, VECTRON_INVALID,
                      "settings: segment size %zu below 64 KiB",
                      s->segment_size);
    }
    return 0;
}

bool vxr_on_loop(const vxr_node *node)
{
    return pthread_equal(pthread_self(), node->thread) != 0;
}

const char *vxr_node_address(const vxr_node *node)
{
    return node->address;
}

/* ------------------------------------------------------- requests */

static void op_free(vxr_op *op)
{
    if (op->buf.base) {
        raft_free(op->buf.base);
    }
    if (op->create) {
        vx_free(op->create->member_ids);
        vx_free(op->create->member_addresses);
        vx_free(op->create);
    }
    vx_free(op);
}

void vxr_op_finish(vxr_op *op)
{
    op->res.error.code = op->res.status;
    if (op->res.status == 0) {
        op->res.error.msg[0] = '\0';
    }
    if (op->done) {
        op->done(op->arg, &op->res);
    }
    op_free(op);
}

void vxr_op_fail(vxr_op *op, int status, const char *fmt, ...)
{
    va_list ap;

    op->res.status = status;
    va_start(ap, fmt);
    vsnprintf(op->res.error.msg, sizeof op->res.error.msg, fmt, ap);
    va_end(ap);
    vxr_op_finish(op);
}

static vxr_op *op_new(vxr_node *node, int kind, uint64_t group_id,
                      vxr_done_fn done, void *arg)
{
    vxr_op *op = vx_calloc(1, sizeof *op);

    if (op) {
        op->node = node;
        op->kind = kind;
        op->group_id = group_id;
        op->done = done;
        op->arg = arg;
    }
    return op;
}

/* Queues op for the loop. On error op is freed and its callback is not
 * called. */
static int op_push(vxr_node *node, vxr_op *op, vectron_error *err)
{
    pthread_mutex_lock(&node->mu);
    if (node->stopping) {
        pthread_mutex_unlock(&node->mu);
        op_free(op);
        return vx_err(err, VXR_SHUTDOWN, "raft node %s is stopping",
                      node->address);
    }
    if (node->queue_tail) {
        node->queue_tail->next = op;
    } else {
        node->queue_head = op;
    }
    node->queue_tail = op;
    uv_async_send(&node->async);
    pthread_mutex_unlock(&node->mu);
    return 0;
}

/* ---------------------------------------------------------- defer */

void vxr_defer_call(vxr_node *node, vxr_defer *d, void (*fn)(void *), void *arg)
{
    if (d->queued) {
        return;
    }
    d->fn = fn;
    d->arg = arg;
    d->queued = true;
    d->next = node->deferred;
    node->deferred = d;
    vxr_node_poke(node);
}

void vxr_node_poke(vxr_node *node)
{
    if (!node->async_closing) {
        uv_async_send(&node->async);
    }
}

static void run_deferred(vxr_node *node)
{
    while (node->deferred) {
        vxr_defer *d = node->deferred;
        node->deferred = d->next;
        d->next = NULL;
        d->queued = false;
        d->fn(d->arg);
    }
}

/* ------------------------------------------------------- the loop */

static void listener_closed(uv_handle_t *h)
{
    vxr_node *node = h->data;

    node->listener_closed = true;
    vxr_node_poke(node);
}

static void async_closed(uv_handle_t *h)
{
    (void)h;
}

/* Runs on every wake-up: requests, deferred calls, shutdown progress. */
static void on_async(uv_async_t *async)
{
    vxr_node *node = async->data;
    vxr_op *op;
    bool stopping;

    pthread_mutex_lock(&node->mu);
    op = node->queue_head;
    node->queue_head = node->queue_tail = NULL;
    stopping = node->stopping;
    pthread_mutex_unlock(&node->mu);

    while (op) {
        vxr_op *next = op->next;
        op->next = NULL;
        if (node->shutting_down) {
            vxr_op_fail(op, VXR_SHUTDOWN, "raft node %s is stopping",
                        node->address);
        } else {
            vxr_group_execute(node, op);
        }
        op = next;
    }
    run_deferred(node);

    if (stopping && !node->shutting_down) {
        node->shutting_down = true;
        vx_log(VECTRON_LOG_INFO, VXR_LOG, "node=%s stopping", node->address);
        uv_close((uv_handle_t *)&node->listener, listener_closed);
        vxr_incoming_close_all(node);
        vxr_group_close_all(node);
        run_deferred(node);
    }
    if (node->shutting_down && !node->async_closing && !node->groups &&
        !node->incoming && node->listener_closed && !node->deferred) {
        /* `stopping` is set, so no thread can queue anything now. */
        pthread_mutex_lock(&node->mu);
        op = node->queue_head;
        node->queue_head = node->queue_tail = NULL;
        node->async_closing = true;
        pthread_mutex_unlock(&node->mu);
        while (op) {
            vxr_op *next = op->next;
            op->next = NULL;
            vxr_op_fail(op, VXR_SHUTDOWN, "raft node %s is stopping",
                        node->address);
            op = next;
        }
        uv_close((uv_handle_t *)&node->async, async_closed);
    }
}

static void *loop_main(void *arg)
{
    vxr_node *node = arg;

    uv_run(&node->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void walk_report(uv_handle_t *h, void *arg)
{
    (void)arg;
    vx_log(VECTRON_LOG_ERROR, VXR_LOG, "handle left open at stop: %s",
           uv_handle_type_name(uv_handle_get_type(h)));
}

static int ensure_dir(const char *path, vectron_error *err)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return vx_err(err, VECTRON_IO, "mkdir %s: %s", path, strerror(errno));
    }
    return 0;
}

int vxr_node_start(const vxr_node_config *cfg, vxr_node **out,
                   vectron_error *err)
{
    struct sockaddr_storage sa, bound;
    int namelen = sizeof bound;
    char host[INET6_ADDRSTRLEN];
    vxr_node *node = NULL;
    bool loop_ok = false, mu_ok = false;
    int rc, uvrc;

    *out = NULL;
    if (!cfg || !cfg->data_dir || !*cfg->data_dir || !cfg->listen_address) {
        return vx_err(err, VECTRON_INVALID,
                      "raft node: data_dir and listen_address are required");
    }
    node = vx_calloc(1, sizeof *node);
    if (!node) {
        return vx_err(err, VECTRON_NOMEM, "raft node: out of memory");
    }
    if (cfg->settings) {
        node->settings = *cfg->settings;
    } else {
        vxr_settings_default(&node->settings);
    }
    rc = check_settings(&node->settings, err);
    if (rc != 0) {
        goto fail;
    }
    if (strlen(cfg->data_dir) + 32 >= sizeof node->data_dir) {
        rc = vx_err(err, VECTRON_INVALID, "raft node: data_dir too long");
        goto fail;
    }
    snprintf(node->data_dir, sizeof node->data_dir, "%s", cfg->data_dir);
    rc = ensure_dir(node->data_dir, err);
    if (rc != 0) {
        goto fail;
    }
    rc = vxr_parse_address(cfg->listen_address, &sa, err);
    if (rc != 0) {
        vx_err_wrap(err, rc, "raft node: listen address");
        goto fail;
    }
    if (pthread_mutex_init(&node->mu, NULL) != 0) {
        rc = vx_err(err, VECTRON_INTERNAL, "raft node: mutex init failed");
        goto fail;
    }
    mu_ok = true;
    uvrc = uv_loop_init(&node->loop);
    if (uvrc != 0) {
        rc = vx_err(err, VECTRON_IO, "raft node: uv_loop_init: %s",
                    uv_strerror(uvrc));
        goto fail;
    }
    loop_ok = true;
    uv_async_init(&node->loop, &node->async, on_async);
    node->async.data = node;
    uv_tcp_init(&node->loop, &node->listener);
    node->listener.data = node;
    uvrc = uv_tcp_bind(&node->listener, (struct sockaddr *)&sa, 0);
    if (uvrc == 0) {
        uvrc =
            uv_listen((uv_stream_t *)&node->listener, 128, vxr_on_connection);
    }
    if (uvrc == 0) {
        uvrc = uv_tcp_getsockname(&node->listener, (struct sockaddr *)&bound,
                                  &namelen);
    }
    if (uvrc != 0) {
        rc = vx_err(err, VECTRON_IO, "raft node: listen on %s: %s",
                    cfg->listen_address, uv_strerror(uvrc));
        goto fail;
    }
    if (bound.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&bound;
        uv_ip6_name(a, host, sizeof host);
        snprintf(node->address, sizeof node->address, "[%s]:%u", host,
                 (unsigned)ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&bound;
        uv_ip4_name(a, host, sizeof host);
        snprintf(node->address, sizeof node->address, "%s:%u", host,
                 (unsigned)ntohs(a->sin_port));
    }
    if (pthread_create(&node->thread, NULL, loop_main, node) != 0) {
        rc = vx_err(err, VECTRON_IO, "raft node: cannot start loop thread");
        goto fail;
    }
    vx_log(VECTRON_LOG_INFO, VXR_LOG, "node=%s started data=%s", node->address,
           node->data_dir);
    *out = node;
    return 0;

fail:
    if (loop_ok) {
        uv_close((uv_handle_t *)&node->listener, NULL);
        uv_close((uv_handle_t *)&node->async, NULL);
        uv_run(&node->loop, UV_RUN_DEFAULT);
        uv_loop_close(&node->loop);
    }
    if (mu_ok) {
        pthread_mutex_destroy(&node->mu);
    }
    vx_free(node);
    return rc;
}

void vxr_node_stop(vxr_node *node)
{
    int uvrc;

    if (!node) {
        return;
    }
    assert(!vxr_on_loop(node));
    pthread_mutex_lock(&node->mu);
    node->stopping = true;
    uv_async_send(&node->async);
    pthread_mutex_unlock(&node->mu);
    pthread_join(node->thread, NULL);
    uvrc = uv_loop_close(&node->loop);
    if (uvrc != 0) {
        /* A leak, not a crash: report what is left. */
        vx_log(VECTRON_LOG_ERROR, VXR_LOG, "node=%s uv_loop_close: %s",
               node->address, uv_strerror(uvrc));
        uv_walk(&node->loop, walk_report, NULL);
        return;
    }
    vx_log(VECTRON_LOG_INFO, VXR_LOG, "node=%s stopped", node->address);
    pthread_mutex_destroy(&node->mu);
    vx_free(node);
}

/* --------------------------------------------------------- submit */

int vxr_submit(vxr_node *node, const vxr_request *req, vxr_done_fn done,
               void *arg, vectron_error *err)
{
    vxr_op *op;

    if (!node || !req || req->group_id == 0) {
        return vx_err(err, VECTRON_INVALID,
                      "submit: missing node, request "
                      "or group id");
    }
    switch (req->type) {
    case VXR_OP_APPLY:
        if (!req->buf || req->len == 0) {
            return vx_err(err, VECTRON_INVALID,
                          "submit: apply needs a non-empty command");
        }
        break;
    case VXR_OP_ADD:
        if (req->member_id == 0 || !req->address || !*req->address ||
            strlen(req->address) >= VXR_ADDRESS_MAX) {
            return vx_err(err, VECTRON_INVALID,
                          "submit: add needs a member id and an address");
        }
        break;
    case VXR_OP_ASSIGN:
        if (req->role != VXR_ROLE_VOTER && req->role != VXR_ROLE_STANDBY &&
            req->role != VXR_ROLE_SPARE) {
            return vx_err(err, VECTRON_INVALID, "submit: bad role %d",
                          req->role);
        }
        /* fall through */
    case VXR_OP_REMOVE:
        if (req->member_id == 0) {
            return vx_err(err, VECTRON_INVALID, "submit: member id is 0");
        }
        break;
    case VXR_OP_BARRIER:
    case VXR_OP_TRANSFER:
    case VXR_OP_CLOSE:
        break;
    default:
        return vx_err(err, VECTRON_INVALID, "submit: unknown type %d",
                      (int)req->type);
    }
    op = op_new(node, (int)req->type, req->group_id, done, arg);
    if (!op) {
        return vx_err(err, VECTRON_NOMEM, "submit: out of memory");
    }
    op->member_id = req->member_id;
    op->role = req->role;
    if (req->type == VXR_OP_ADD) {
        snprintf(op->address, sizeof op->address, "%s", req->address);
    }
    if (req->type == VXR_OP_APPLY) {
        /* raft_apply takes ownership of raft_malloc'd memory. The entry
         * is framed to a multiple of 8 bytes (raft_int.h, VXR_ENTRY_*):
         * libraft 0.15 pads entries when it writes a segment but its
         * closed-segment loader does not skip the padding, so an entry of
         * another length makes the log unreadable after a restart. */
        if (req->len > UINT32_MAX - 16) {
            op_free(op);
            return vx_err(err, VECTRON_LIMIT, "submit: %zu-byte command",
                          req->len);
        }
        size_t framed = vxr_entry_framed_len(req->len);
        op->buf.base = raft_malloc(framed);
        if (!op->buf.base) {
            op_free(op);
            return vx_err(err, VECTRON_NOMEM,
                          "submit: out of memory for a %zu-byte command",
                          req->len);
        }
        vxr_entry_frame(op->buf.base, req->buf, req->len);
        op->buf.len = framed;
    }
    return op_push(node, op, err);
}

int vxr_group_close(vxr_node *node, uint64_t group_id, vxr_done_fn done,
                    void *arg, vectron_error *err)
{
    vxr_request req;

    memset(&req, 0, sizeof req);
    req.type = VXR_OP_CLOSE;
    req.group_id = group_id;
    return vxr_submit(node, &req, done, arg, err);
}

/* ------------------------------------------------------ waiting */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done;
    vxr_result res;
    vxr_group_info info;
} waiter;

static waiter *waiter_new(void)
{
    waiter *w = vx_calloc(1, sizeof *w);
    pthread_condattr_t ca;

    if (!w) {
        return NULL;
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&w->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        vx_free(w);
        return NULL;
    }
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    w->refs = 2; /* the waiting thread and the request */
    return w;
}

static void waiter_unref(waiter *w)
{
    int refs;

    pthread_mutex_lock(&w->mu);
    refs = --w->refs;
    pthread_mutex_unlock(&w->mu);
    if (refs == 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        vx_free(w);
    }
}

/* The completion callback of synchronous requests (loop thread). */
static void waiter_done(void *arg, const vxr_result *res)
{
    waiter *w = arg;

    pthread_mutex_lock(&w->mu);
    w->res = *res;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    waiter_unref(w);
}

/* Waits for w (timeout_ms 0: forever), copies the result, drops the
 * caller's reference. Returns the status. */
static int waiter_wait(waiter *w, unsigned timeout_ms, vxr_result *out,
                       vxr_group_info *info, vectron_error *err)
{
    struct timespec deadline;
    int status;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    vx_timespec_add_ms(&deadline, timeout_ms);
    pthread_mutex_lock(&w->mu);
    while (!w->done) {
        if (timeout_ms == 0) {
            pthread_cond_wait(&w->cv, &w->mu);
        } else if (pthread_cond_timedwait(&w->cv, &w->mu, &deadline) ==
                   ETIMEDOUT) {
            break;
        }
    }
    if (w->done) {
        status = w->res.status;
        if (out) {
            *out = w->res;
        }
        if (info && status == 0) {
            *info = w->info;
        }
        if (status != 0 && err) {
            *err = w->res.error;
        }
    } else {
        status = VXR_TIMEOUT;
        if (out) {
            memset(out, 0, sizeof *out);
            out->status = status;
        }
        vx_err(err, VXR_TIMEOUT, "no outcome after %u ms (still in flight)",
               timeout_ms);
        if (out) {
            out->error = err ? *err : out->error;
        }
    }
    pthread_mutex_unlock(&w->mu);
    waiter_unref(w);
    return status;
}

int vxr_submit_wait(vxr_node *node, const vxr_request *req, unsigned timeout_ms,
                    vxr_result *out, vectron_error *err)
{
    waiter *w;
    int rc;

    if (out) {
        memset(out, 0, sizeof *out);
    }
    if (node && vxr_on_loop(node)) {
        rc = vx_err(err, VECTRON_INVALID,
                    "synchronous raft request on the loop thread");
        goto fail;
    }
    w = waiter_new();
    if (!w) {
        rc = vx_err(err, VECTRON_NOMEM, "submit: out of memory");
        goto fail;
    }
    rc = vxr_submit(node, req, waiter_done, w, err);
    if (rc != 0) {
        w->refs = 1;
        waiter_unref(w);
        goto fail;
    }
    return waiter_wait(w, timeout_ms, out, NULL, err);

fail:
    if (out) {
        out->status = rc;
        if (err) {
            out->error = *err;
        }
    }
    return rc;
}

int vxr_apply_wait(vxr_node *node, uint64_t group_id, const void *buf,
                   size_t len, unsigned timeout_ms, vxr_result *out,
                   vectron_error *err)
{
    vxr_request req;

    memset(&req, 0, sizeof req);
    req.type = VXR_OP_APPLY;
    req.group_id = group_id;
    req.buf = buf;
    req.len = len;
    return vxr_submit_wait(node, &req, timeout_ms, out, err);
}

/* ------------------------------------------------- group helpers */

int vxr_group_create(vxr_node *node, const vxr_group_params *p,
                     vectron_error *err)
{
    vxr_create *c = NULL;
    vxr_op *op = NULL;
    waiter *w = NULL;
    const char *address;
    int rc;

    if (!node || !p || p->group_id == 0 || p->member_id == 0 || !p->fsm ||
        !p->fsm->apply || !p->fsm->snapshot || !p->fsm->restore ||
        (p->n_members > 0 && !p->members)) {
        return vx_err(err, VECTRON_INVALID,
                      "group create: need group id, member id and a "
                      "complete fsm");
    }
    if (vxr_on_loop(node)) {
        return vx_err(err, VECTRON_INVALID,
                      "group create: called on the loop thread");
    }
    address = p->address ? p->address : node->address;
    if (!*address || strlen(address) >= VXR_ADDRESS_MAX) {
        return vx_err(err, VECTRON_INVALID, "group %llu: bad address",
                      (unsigned long long)p->group_id);
    }
    c = vx_calloc(1, sizeof *c);
    if (!c) {
        return vx_err(err, VECTRON_NOMEM, "group create: out of memory");
    }
    c->group_id = p->group_id;
    c->member_id = p->member_id;
    snprintf(c->address, sizeof c->address, "%s", address);
    c->fsm = *p->fsm;
    c->n_members = p->n_members;
    if (p->n_members > 0) {
        c->member_ids = vx_calloc(p->n_members, sizeof *c->member_ids);
        c->member_addresses =
            vx_calloc(p->n_members, sizeof *c->member_addresses);
        if (!c->member_ids || !c->member_addresses) {
            rc = vx_err(err, VECTRON_NOMEM, "group create: out of memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < p->n_members; i++) {
        const char *a = p->members[i].address;
        if (p->members[i].id == 0 || !a || !*a ||
            strlen(a) >= VXR_ADDRESS_MAX) {
            rc = vx_err(err, VECTRON_INVALID,
                        "group %llu: member %zu needs an id and an address",
                        (unsigned long long)p->group_id, i);
            goto fail;
        }
        c->member_ids[i] = p->members[i].id;
        snprintf(c->member_addresses[i], VXR_ADDRESS_MAX, "%s", a);
    }
    w = waiter_new();
    op = w ? op_new(node, VXR_OPI_CREATE, p->group_id, waiter_done, w) : NULL;
    if (!op) {
        rc = vx_err(err, VECTRON_NOMEM, "group create: out of memory");
        goto fail;
    }
    op->create = c;
    c = NULL;
    rc = op_push(node, op, err);
    if (rc != 0) {
        w->refs = 1;
        waiter_unref(w);
        return rc;
    }
    /* Creation always completes promptly on the loop: no timeout. */
    return waiter_wait(w, 0, NULL, NULL, err);

fail:
    if (c) {
        vx_free(c->member_ids);
        vx_free(c->member_addresses);
        vx_free(c);
    }
    if (w) {
        w->refs = 1;
        waiter_unref(w);
    }
    return rc;
}

int vxr_group_status(vxr_node *node, uint64_t group_id, vxr_group_info *out,
                     vectron_error *err)
{
    vxr_op *op;
    waiter *w;
    int rc;

    if (!node || !out) {
        return vx_err(err, VECTRON_INVALID, "group status: missing node");
    }
    memset(out, 0, sizeof *out);
    if (vxr_on_loop(node)) {
        vxr_group *g = vxr_group_find(node, group_id);
        if (!g) {
            return vx_err(err, VECTRON_NOT_FOUND,
                          "group %llu: not on this node",
                          (unsigned long long)group_id);
        }
        if (g->state != VXR_GROUP_RUNNING) {
            return vx_err(err, VXR_SHUTDOWN, "group %llu: closing",
                          (unsigned long long)group_id);
        }
        vxr_group_fill_info(g, out);
        return 0;
    }
    w = waiter_new();
    op = w ? op_new(node, VXR_OPI_STATUS, group_id, waiter_done, w) : NULL;
    if (!op) {
        if (w) {
            w->refs = 1;
            waiter_unref(w);
        }
        return vx_err(err, VECTRON_NOMEM, "group status: out of memory");
    }
    op->info = &w->info;
    rc = op_push(node, op, err);
    if (rc != 0) {
        w->refs = 1;
        waiter_unref(w);
        return rc;
    }
    return waiter_wait(w, 10000, NULL, out, err);
}
