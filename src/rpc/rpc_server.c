/*
 * rpc_server.c - the RPC server: a libuv loop thread that accepts
 * connections, checks each one's preamble and cuts its byte stream into
 * request frames, and a pool of handler threads that run the requests.
 * Answers come back from any thread through a queue that the loop drains
 * (an async handle wakes it) and writes to the connection.
 *
 * Lifetimes: a connection is freed once its handle has closed and every
 * request it carried has been answered (refs, loop thread only). A
 * request's rpc_request is freed by the answer.
 *
 * Threading: the loop thread owns the listener, the connections and the
 * async handle; s->mu guards the work queue, the answer queue and the
 * counters shared with the pool and the repliers.
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/common.h"
#include "common/net.h"
#include "rpc/rpc_int.h"

typedef struct srv_conn srv_conn;

/* An answer on its way to the socket (inside its rpc_request, which lives
 * until the answer is written). frame NULL: the answer could not be
 * built (out of memory) and is dropped. */
typedef struct srv_out {
    rpc_request *call;
    srv_conn *conn;
    uint8_t *frame;
    size_t len;
    uv_write_t w;
    struct srv_out *next;
} srv_out;

struct rpc_request {
    rpc_server *s;
    srv_conn *conn;
    uint64_t id;
    uint16_t method;
    uint32_t deadline_ms; /* as sent: 0 = none */
    uint64_t received_ns; /* uv_hrtime() at receipt */
    uint8_t *req;
    size_t len;
    rpc_request *next; /* in the work queue */
    srv_out out;
};

struct srv_conn {
    rpc_server *s;
    uv_tcp_t tcp;
    uv_shutdown_t shutdown;
    rpc_rbuf rb;
    int preamble_ok;
    int closing;
    unsigned refs; /* 1 for the open handle + 1 per unanswered request */
    srv_conn *prev, *next;
};

struct rpc_server {
    rpc_server_options o;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t async;
    uv_thread_t loop_thread;
    pthread_t *pool;
    unsigned npool;
    uint16_t port;
    srv_conn *conns; /* loop thread only */

    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* work queued or the pool must exit */
    pthread_cond_t idle_cv; /* outstanding reached 0 */
    rpc_request *work_head, *work_tail;
    srv_out *out_head, *out_tail;
    size_t outstanding; /* requests handed out, not answered */
    int stopping;       /* no new requests */
    int closing;        /* the loop closes everything */
    int pool_exit;
};

/* ------------------------------------------------------- connections */

static void conn_unref(srv_conn *c)
{
    assert(c->refs > 0);
    if (--c->refs == 0) {
        rpc_rbuf_free(&c->rb);
        vx_free(c);
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    srv_conn *c = h->data;
    rpc_server *s = c->s;

    if (c->prev) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    conn_unref(c);
}

static void conn_close(srv_conn *c, const char *why)
{
    if (c->closing) {
        return;
    }
    if (why) {
        vx_log(VECTRON_LOG_WARN, "rpc", "closing a connection: %s", why);
    }
    c->closing = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    srv_conn *c = h->data;
    (void)hint;
    if (rpc_rbuf_reserve(&c->rb, 64u << 10, NULL) != 0) {
        *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)c->rb.buf + c->rb.end,
                       (unsigned)(c->rb.cap - c->rb.end));
}

/* Queues a request for the pool. Errors: NOMEM. */
static int dispatch(srv_conn *c, const rpc_header *h, const uint8_t *p)
{
    rpc_server *s = c->s;
    rpc_request *call = vx_calloc(1, sizeof *call);

    if (!call) {
        return VECTRON_NOMEM;
    }
    if (h->len) {
        call->req = vx_malloc(h->len);
        if (!call->req) {
            vx_free(call);
            return VECTRON_NOMEM;
        }
        memcpy(call->req, p, h->len);
    }
    call->s = s;
    call->conn = c;
    call->id = h->id;
    call->method = h->method;
    call->deadline_ms = h->arg;
    call->received_ns = uv_hrtime();
    call->len = h->len;
    c->refs++;
    pthread_mutex_lock(&s->mu);
    s->outstanding++;
    if (s->work_tail) {
        s->work_tail->next = call;
    } else {
        s->work_head = call;
    }
    s->work_tail = call;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    srv_conn *c = st->data;
    rpc_server *s = c->s;
    vectron_error err = {0};
    (void)buf;

    if (nread < 0) {
        conn_close(c, nread == UV_EOF ? NULL : uv_strerror((int)nread));
        return;
    }
    c->rb.end += (size_t)nread;
    if (!c->preamble_ok) {
        if (rpc_rbuf_used(&c->rb) < RPC_PREAMBLE_SIZE) {
            return;
        }
        if (rpc_preamble_check(rpc_rbuf_take(&c->rb, RPC_PREAMBLE_SIZE),
                               &err) != 0) {
            conn_close(c, err.msg);
            return;
        }
        c->preamble_ok = 1;
    }
    for (;;) {
        rpc_header h;
        const uint8_t *p = NULL;
        int got = 0;
        if (rpc_rbuf_next(&c->rb, s->o.max_payload, &h, &p, &got, &err) != 0) {
            conn_close(c, err.msg);
            return;
        }
        if (!got) {
            return;
        }
        if (h.kind != RPC_KIND_REQUEST) {
            conn_close(c, "a response frame sent to the server");
            return;
        }
        if (s->stopping) {
            continue; /* the client sees its deadline or the close */
        }
        if (dispatch(c, &h, p) != 0) {
            conn_close(c, "out of memory");
            return;
        }
    }
}

static void on_connection(uv_stream_t *l, int status)
{
    rpc_server *s = l->data;
    srv_conn *c;

    if (status < 0) {
        vx_log(VECTRON_LOG_WARN, "rpc", "accept: %s", uv_strerror(status));
        return;
    }
    c = vx_calloc(1, sizeof *c);
    if (!c) {
        return; /* the pending connection stays in the backlog */
    }
    c->s = s;
    c->refs = 1;
    uv_tcp_init(&s->loop, &c->tcp);
    c->tcp.data = c;
    c->next = s->conns;
    if (s->conns) {
        s->conns->prev = c;
    }
    s->conns = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c, "accept failed");
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (s->stopping) {
        conn_close(c, NULL);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ----------------------------------------------------------- answers */

/* Releases an answer and what it holds (loop thread). */
static void out_done(srv_out *o)
{
    vx_free(o->frame);
    conn_unref(o->conn);
    vx_free(o->call);
}

static void on_written(uv_write_t *w, int status)
{
    srv_out *o = w->data;
    (void)status; /* a failed write shows up as a read error too */
    out_done(o);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    srv_conn *c = req->data;
    (void)status;
    conn_close(c, NULL);
}

static void on_async(uv_async_t *a)
{
    rpc_server *s = a->data;
    srv_out *o;
    int closing;

    pthread_mutex_lock(&s->mu);
    o = s->out_head;
    s->out_head = s->out_tail = NULL;
    closing = s->closing;
    pthread_mutex_unlock(&s->mu);

    while (o) {
        srv_out *next = o->next;
        if (!o->frame || o->conn->closing) {
            out_done(o);
        } else {
            uv_buf_t b = uv_buf_init((char *)o->frame, (unsigned)o->len);
            o->w.data = o;
            if (uv_write(&o->w, (uv_stream_t *)&o->conn->tcp, &b, 1,
                         on_written) != 0) {
                conn_close(o->conn, "write failed");
                out_done(o);
            }
        }
        o = next;
    }
    if (s->stopping && !uv_is_closing((uv_handle_t *)&s->listener)) {
        uv_close((uv_handle_t *)&s->listener, NULL);
    }
    if (closing) {
        /* Every answer is queued for writing: flush, then close. */
        for (srv_conn *c = s->conns; c; c = c->next) {
            if (c->closing) {
                continue;
            }
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->shutdown.data = c;
            if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp,
                            on_shutdown) != 0) {
                conn_close(c, NULL);
            }
        }
        uv_close((uv_handle_t *)&s->async, NULL);
    }
}

static void answer(rpc_request *call, uint32_t code, const uint8_t *p,
                   size_t len)
{
    rpc_server *s = call->s;
    rpc_header h = {.kind = RPC_KIND_RESPONSE,
                    .method = call->method,
                    .arg = code,
                    .id = call->id,
                    .len = (uint32_t)len};
    srv_out *o = &call->out;

    o->call = call;
    o->conn = call->conn;
    o->frame = rpc_frame_new(&h, p, len); /* NULL: dropped (no memory) */
    o->len = RPC_HEADER_SIZE + len;
    vx_free(call->req);
    call->req = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->out_tail) {
        s->out_tail->next = o;
    } else {
        s->out_head = o;
    }
    s->out_tail = o;
    /* Woken under the lock: once outstanding is 0 rpc_server_stop may
     * close the async handle, so nothing touches s after the unlock. */
    uv_async_send(&s->async);
    if (--s->outstanding == 0) {
        pthread_cond_broadcast(&s->idle_cv);
    }
    pthread_mutex_unlock(&s->mu);
}

void rpc_reply(rpc_request *call, const uint8_t *resp, size_t len)
{
    if (len > call->s->o.max_payload) {
        rpc_reply_error(call, VECTRON_LIMIT, "rpc: the answer is too large");
        return;
    }
    answer(call, VECTRON_OK, resp, len);
}

void rpc_reply_error(rpc_request *call, int code, const char *msg)
{
    if (code == VECTRON_OK) {
        code = VECTRON_INTERNAL;
    }
    if (!msg) {
        msg = vectron_error_default_message(code);
    }
    answer(call, (uint32_t)code, (const uint8_t *)msg, strlen(msg));
}

uint32_t rpc_request_remaining_ms(const rpc_request *call)
{
    if (call->deadline_ms == 0) {
        return UINT32_MAX;
    }
    uint64_t spent = (uv_hrtime() - call->received_ns) / 1000000u;
    return spent >= call->deadline_ms ? 0 : call->deadline_ms - (uint32_t)spent;
}

/* -------------------------------------------------------------- pool */

static void *pool_main(void *arg)
{
    rpc_server *s = arg;

    rpc_block_sigpipe();
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->work_head && !s->pool_exit) {
            pthread_cond_wait(&s->work_cv, &s->mu);
        }
        if (!s->work_head) {
            break;
        }
        rpc_request *call = s->work_head;
        s->work_head = call->next;
        if (!s->work_head) {
            s->work_tail = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        if (rpc_request_remaining_ms(call) == 0) {
            rpc_reply_error(call, VECTRON_TIMEOUT,
                            "rpc: the deadline passed before the request "
                            "was handled");
        } else {
            s->o.handler(s->o.ctx, call, call->method, call->req, call->len);
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void loop_main(void *arg)
{
    rpc_block_sigpipe();
    rpc_server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
}

/* --------------------------------------------------------- lifecycle */

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Closes whatever handles an unfinished start left and frees s. */
static void abandon(rpc_server *s)
{
    uv_walk(&s->loop, close_walk, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->idle_cv);
    vx_free(s->pool);
    vx_free(s);
}

int rpc_server_start(const rpc_server_options *o, rpc_server **out,
                     vectron_error *err)
{
    struct sockaddr_storage sa;
    struct sockaddr_storage bound;
    int namelen = sizeof bound;
    rpc_server *s;
    int rc;

    *out = NULL;
    if (!o || !o->handler) {
        return vx_err(err, VECTRON_INVALID, "rpc server: no handler");
    }
    if (vx_parse_address(o->listen, &sa, err) != 0) {
        return vx_err_wrap(err, VECTRON_INVALID, "rpc server");
    }
    s = vx_calloc(1, sizeof *s);
    if (!s) {
        return vx_err(err, VECTRON_NOMEM, "rpc server");
    }
    s->o = *o;
    if (!s->o.threads) {
        s->o.threads = 8;
    }
    if (!s->o.max_payload) {
        s->o.max_payload = RPC_DEFAULT_MAX_PAYLOAD;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    s->pool = vx_calloc(s->o.threads, sizeof *s->pool);
    if (!s->pool || uv_loop_init(&s->loop) != 0) {
        vx_free(s->pool);
        vx_free(s);
        return vx_err(err, VECTRON_NOMEM, "rpc server");
    }
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    uv_async_init(&s->loop, &s->async, on_async);
    s->async.data = s;
    rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&sa, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    }
    if (rc != 0) {
        vx_err(err, VECTRON_IO, "rpc server: listen on %s: %s", o->listen,
               uv_strerror(rc));
        abandon(s);
        return VECTRON_IO;
    }
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &namelen);
    s->port = ntohs(bound.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *)&bound)->sin6_port
                        : ((struct sockaddr_in *)&bound)->sin_port);
    for (unsigned i = 0; i < s->o.threads; i++) {
        if (pthread_create(&s->pool[i], NULL, pool_main, s) != 0) {
            pthread_mutex_lock(&s->mu);
            s->pool_exit = 1;
            pthread_cond_broadcast(&s->work_cv);
            pthread_mutex_unlock(&s->mu);
            for (unsigned j = 0; j < i; j++) {
                pthread_join(s->pool[j], NULL);
            }
            abandon(s);
            return vx_err(err, VECTRON_IO, "rpc server: start threads");
        }
        s->npool++;
    }
    if (uv_thread_create(&s->loop_thread, loop_main, s) != 0) {
        pthread_mutex_lock(&s->mu);
        s->pool_exit = 1;
        pthread_cond_broadcast(&s->work_cv);
        pthread_mutex_unlock(&s->mu);
        for (unsigned j = 0; j < s->npool; j++) {
            pthread_join(s->pool[j], NULL);
        }
        abandon(s);
        return vx_err(err, VECTRON_IO, "rpc server: start the loop thread");
    }
    *out = s;
    return 0;
}

uint16_t rpc_server_port(const rpc_server *s)
{
    return s->port;
}

void rpc_server_stop(rpc_server *s)
{
    if (!s) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_mutex_unlock(&s->mu);
    uv_async_send(&s->async);

    /* Every request handed out is answered before anything closes. */
    pthread_mutex_lock(&s->mu);
    while (s->outstanding > 0) {
        pthread_cond_wait(&s->idle_cv, &s->mu);
    }
    s->pool_exit = 1;
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    for (unsigned i = 0; i < s->npool; i++) {
        pthread_join(s->pool[i], NULL);
    }

    pthread_mutex_lock(&s->mu);
    s->closing = 1;
    pthread_mutex_unlock(&s->mu);
    uv_async_send(&s->async);
    uv_thread_join(&s->loop_thread);
    uv_loop_close(&s->loop);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->idle_cv);
    vx_free(s->pool);
    vx_free(s);
}
