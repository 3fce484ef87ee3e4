/*
 * rpc_client.c - the RPC client: one libuv loop thread, one connection
 * per peer address carrying every call to that peer, calls matched to
 * answers by id, deadlines kept in one min-heap under one timer,
 * reconnection on the next call after a lost connection and backoff
 * after a failed connect (rpc.h says what callers see).
 *
 * Flow: rpc_call_async (any thread) copies the request into a frame and
 * queues it; the loop (woken by an async handle) gives it an id, puts it
 * in the deadline heap and either writes it (connected) or parks it on
 * the peer until the connection is up. Answers are looked up in the
 * peer's in-flight table.
 *
 * Threading: c->mu guards the submission queue and the stopping flag;
 * everything else (peers, connections, the heap, ids) belongs to the loop
 * thread.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/common.h"
#include "common/net.h"
#include "rpc/rpc_int.h"

#define BUCKETS 64u
#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 2000u

typedef struct cli_peer cli_peer;
typedef struct cli_conn cli_conn;

typedef struct cli_pending {
    rpc_client *c;
    cli_peer *peer;
    char addr[VX_ADDRESS_MAX];
    uint16_t method;
    uint64_t id;
    uint8_t *frame; /* header + request; NULL once handed to a write */
    size_t len;
    uint64_t deadline; /* absolute, ms on uv_hrtime's clock; 0 = none */
    size_t heap_at;    /* index in the heap + 1; 0 = not in it */
    rpc_done_fn done;
    void *arg;
    struct cli_pending *prev, *next; /* submission queue, parked list or
                                        in-flight bucket */
} cli_pending;

typedef struct cli_list {
    cli_pending *head, *tail;
} cli_list;

struct cli_conn {
    cli_peer *peer; /* NULL once the peer has let it go */
    uv_tcp_t tcp;
    uv_timer_t timer; /* connect timeout */
    uv_connect_t connect;
    uv_write_t preamble_w;
    uint8_t preamble[RPC_PREAMBLE_SIZE];
    rpc_rbuf rb;
    int open_handles;
};

struct cli_peer {
    rpc_client *c;
    char addr[VX_ADDRESS_MAX];
    struct sockaddr_storage sa;
    cli_conn *conn; /* NULL: none */
    int ready;      /* conn is connected and the preamble queued */
    cli_list parked;
    cli_list inflight[BUCKETS];
    uint64_t retry_at; /* backoff: calls fail until then (ms) */
    unsigned backoff_ms;
    char last_error[128];
    cli_peer *next;
};

typedef struct cli_wreq {
    uv_write_t w;
    uint8_t *frame;
} cli_wreq;

struct rpc_client {
    rpc_client_options o;
    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t timer; /* the earliest deadline */
    uv_thread_t thread;
    cli_peer *peers;
    uint64_t next_id;
    cli_pending **heap;
    size_t heap_n, heap_cap;

    pthread_mutex_t mu;
    cli_list submitted;
    int stopping;
};

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* ------------------------------------------------------------- lists */

static void list_push(cli_list *l, cli_pending *p)
{
    p->next = NULL;
    p->prev = l->tail;
    if (l->tail) {
        l->tail->next = p;
    } else {
        l->head = p;
    }
    l->tail = p;
}

static void list_remove(cli_list *l, cli_pending *p)
{
    if (p->prev) {
        p->prev->next = p->next;
    } else {
        l->head = p->next;
    }
    if (p->next) {
        p->next->prev = p->prev;
    } else {
        l->tail = p->prev;
    }
    p->prev = p->next = NULL;
}

/* -------------------------------------------------------------- heap */

static void heap_set(rpc_client *c, size_t i, cli_pending *p)
{
    c->heap[i] = p;
    p->heap_at = i + 1;
}

static void heap_up(rpc_client *c, size_t i)
{
    cli_pending *p = c->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (c->heap[parent]->deadline <= p->deadline) {
            break;
        }
        heap_set(c, i, c->heap[parent]);
        i = parent;
    }
    heap_set(c, i, p);
}

static void heap_down(rpc_client *c, size_t i)
{
    cli_pending *p = c->heap[i];
    for (;;) {
        size_t l = 2 * i + 1;
        size_t m = l;
        if (l >= c->heap_n) {
            break;
        }
        if (l + 1 < c->heap_n &&
            c->heap[l + 1]->deadline < c->heap[l]->deadline) {
            m = l + 1;
        }
        if (c->heap[m]->deadline >= p->deadline) {
            break;
        }
        heap_set(c, i, c->heap[m]);
        i = m;
    }
    heap_set(c, i, p);
}

static int heap_push(rpc_client *c, cli_pending *p)
{
    if (c->heap_n == c->heap_cap) {
        size_t cap = c->heap_cap ? 2 * c->heap_cap : 64;
        cli_pending **h = vx_realloc(c->heap, cap * sizeof *h);
        if (!h) {
            return VECTRON_NOMEM;
        }
        c->heap = h;
        c->heap_cap = cap;
    }
    c->heap[c->heap_n++] = p;
    heap_up(c, c->heap_n - 1);
    return 0;
}

static void heap_remove(rpc_client *c, cli_pending *p)
{
    size_t i = p->heap_at - 1;
    cli_pending *last;

    assert(p->heap_at > 0);
    p->heap_at = 0;
    last = c->heap[--c->heap_n];
    if (i == c->heap_n) {
        return;
    }
    heap_set(c, i, last);
    heap_up(c, i);
    heap_down(c, last->heap_at - 1);
}

static void on_deadline(uv_timer_t *t);

static void arm_timer(rpc_client *c)
{
    if (c->heap_n == 0) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = now_ms();
    uint64_t d = c->heap[0]->deadline;
    uv_timer_start(&c->timer, on_deadline, d > now ? d - now : 0, 0);
}

/* ------------------------------------------------------------ ending */

/* Ends p: out of the heap, the callback, freed. p must already be off
 * every list. */
static void finish(cli_pending *p, int code, const uint8_t *data, size_t len)
{
    if (p->heap_at) {
        heap_remove(p->c, p);
    }
    p->done(p->arg, code, data, len);
    vx_free(p->frame);
    vx_free(p);
}

static void finish_msg(cli_pending *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finish_msg(cli_pending *p, int code, const char *fmt, ...)
{
    char msg[VECTRON_ERROR_MSG_SIZE];
    va_list ap;
    int n = snprintf(msg, sizeof msg, "rpc %s method %u: ", p->addr, p->method);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof msg) {
        vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    }
    va_end(ap);
    finish(p, code, (const uint8_t *)msg, strlen(msg));
}

static void on_deadline(uv_timer_t *t)
{
    rpc_client *c = t->data;
    uint64_t now = now_ms();

    while (c->heap_n > 0 && c->heap[0]->deadline <= now) {
        cli_pending *p = c->heap[0];
        /* Sent calls (their frame handed to a write) are in flight;
         * the others are parked waiting for the connection. */
        if (!p->frame) {
            list_remove(&p->peer->inflight[p->id % BUCKETS], p);
        } else {
            list_remove(&p->peer->parked, p);
        }
        finish_msg(p, VECTRON_TIMEOUT, "no answer within the deadline");
    }
    arm_timer(c);
}

/* ------------------------------------------------------- connections */

static void on_conn_closed(uv_handle_t *h)
{
    cli_conn *k = h->data;
    if (--k->open_handles == 0) {
        rpc_rbuf_free(&k->rb);
        vx_free(k);
    }
}

/* Drops the peer's connection and fails every call that was on it or
 * waiting for it. connect_failed: the peer goes into backoff. */
static void peer_fail(cli_peer *peer, int connect_failed, const char *why)
{
    rpc_client *c = peer->c;
    cli_conn *k = peer->conn;

    snprintf(peer->last_error, sizeof peer->last_error, "%s", why);
    if (k) {
        k->peer = NULL;
        peer->conn = NULL;
        peer->ready = 0;
        uv_close((uv_handle_t *)&k->tcp, on_conn_closed);
        uv_close((uv_handle_t *)&k->timer, on_conn_closed);
    }
    if (connect_failed) {
        peer->backoff_ms =
            peer->backoff_ms
                ? (peer->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                         : peer->backoff_ms * 2)
                : BACKOFF_MIN_MS;
        peer->retry_at = now_ms() + peer->backoff_ms;
    }
    while (peer->parked.head) {
        cli_pending *p = peer->parked.head;
        list_remove(&peer->parked, p);
        finish_msg(p, VECTRON_UNAVAILABLE, "%s", why);
    }
    for (unsigned b = 0; b < BUCKETS; b++) {
        while (peer->inflight[b].head) {
            cli_pending *p = peer->inflight[b].head;
            list_remove(&peer->inflight[b], p);
            finish_msg(p, VECTRON_UNAVAILABLE, "connection lost: %s", why);
        }
    }
    arm_timer(c);
}

static void on_wreq_done(uv_write_t *w, int status)
{
    cli_wreq *r = w->data;
    (void)status; /* a failed write shows up as a read error too */
    vx_free(r->frame);
    vx_free(r);
}

/* Writes p on the peer's connection and moves it in flight. */
static void send_pending(cli_peer *peer, cli_pending *p)
{
    cli_wreq *r = vx_malloc(sizeof *r);
    uint64_t now = now_ms();
    uint32_t left = 0;
    rpc_header h;

    if (!r) {
        finish_msg(p, VECTRON_NOMEM, "out of memory");
        return;
    }
    if (p->deadline) {
        left = p->deadline > now ? (uint32_t)(p->deadline - now) : 1;
    }
    h = (rpc_header){.len = (uint32_t)(p->len - RPC_HEADER_SIZE),
                     .kind = RPC_KIND_REQUEST,
                     .method = p->method,
                     .arg = left,
                     .id = p->id};
    rpc_header_encode(&h, p->frame + RPC_HEADER_SIZE, h.len, p->frame);
    r->frame = p->frame;
    p->frame = NULL;
    r->w.data = r;
    uv_buf_t b = uv_buf_init((char *)r->frame, (unsigned)p->len);
    list_push(&peer->inflight[p->id % BUCKETS], p);
    if (uv_write(&r->w, (uv_stream_t *)&peer->conn->tcp, &b, 1, on_wreq_done) !=
        0) {
        vx_free(r->frame);
        vx_free(r);
        peer_fail(peer, 0, "write failed");
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    cli_conn *k = h->data;
    (void)hint;
    if (rpc_rbuf_reserve(&k->rb, 64u << 10, NULL) != 0) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init((char *)k->rb.buf + k->rb.end,
                       (unsigned)(k->rb.cap - k->rb.end));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    cli_conn *k = st->data;
    cli_peer *peer = k->peer;
    vectron_error err = {0};
    (void)buf;

    if (!peer) {
        return;
    }
    if (nread < 0) {
        peer_fail(peer, 0,
                  nread == UV_EOF ? "closed by the peer"
                                  : uv_strerror((int)nread));
        return;
    }
    k->rb.end += (size_t)nread;
    for (;;) {
        rpc_header h;
        const uint8_t *data = NULL;
        int got = 0;
        int rc = rpc_rbuf_next(&k->rb, peer->c->o.max_payload, &h, &data, &got,
                               &err);
        if (rc == 0 && !got) {
            break;
        }
        if (rc != 0 || h.kind != RPC_KIND_RESPONSE) {
            peer_fail(peer, 0,
                      rc != 0 ? err.msg : "a request frame from the server");
            return;
        }
        cli_list *l = &peer->inflight[h.id % BUCKETS];
        cli_pending *p = l->head;
        while (p && p->id != h.id) {
            p = p->next;
        }
        if (!p) {
            continue; /* timed out already */
        }
        list_remove(l, p);
        finish(p, (int)h.arg, data, h.len);
    }
    arm_timer(peer->c);
}

static void on_connect_timeout(uv_timer_t *t)
{
    cli_conn *k = t->data;
    if (k->peer) {
        peer_fail(k->peer, 1, "connect timed out");
    }
}

static void on_preamble_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status;
}

static void on_connected(uv_connect_t *req, int status)
{
    cli_conn *k = req->data;
    cli_peer *peer = k->peer;
    char why[128];

    if (!peer) {
        return; /* given up already (timeout or stop) */
    }
    uv_timer_stop(&k->timer);
    if (status < 0) {
        snprintf(why, sizeof why, "connect: %s", uv_strerror(status));
        peer_fail(peer, 1, why);
        return;
    }
    uv_tcp_nodelay(&k->tcp, 1);
    rpc_preamble_encode(k->preamble);
    uv_buf_t b = uv_buf_init((char *)k->preamble, RPC_PREAMBLE_SIZE);
    if (uv_write(&k->preamble_w, (uv_stream_t *)&k->tcp, &b, 1,
                 on_preamble_written) != 0 ||
        uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read) != 0) {
        peer_fail(peer, 1, "connect: cannot start the connection");
        return;
    }
    peer->ready = 1;
    peer->backoff_ms = 0;
    peer->retry_at = 0;
    while (peer->parked.head && peer->conn == k) {
        cli_pending *p = peer->parked.head;
        list_remove(&peer->parked, p);
        send_pending(peer, p);
    }
}

static void peer_connect(cli_peer *peer)
{
    rpc_client *c = peer->c;
    cli_conn *k = vx_calloc(1, sizeof *k);
    int rc;

    if (!k) {
        peer_fail(peer, 1, "out of memory");
        return;
    }
    k->peer = peer;
    uv_tcp_init(&c->loop, &k->tcp);
    uv_timer_init(&c->loop, &k->timer);
    k->tcp.data = k->timer.data = k->connect.data = k;
    k->open_handles = 2;
    peer->conn = k;
    rc = uv_tcp_connect(&k->connect, &k->tcp, (struct sockaddr *)&peer->sa,
                        on_connected);
    if (rc != 0) {
        char why[128];
        snprintf(why, sizeof why, "connect: %s", uv_strerror(rc));
        peer_fail(peer, 1, why);
        return;
    }
    uv_timer_start(&k->timer, on_connect_timeout, c->o.connect_timeout_ms, 0);
}

static cli_peer *peer_get(rpc_client *c, const char *addr)
{
    cli_peer *peer;
    for (peer = c->peers; peer; peer = peer->next) {
        if (strcmp(peer->addr, addr) == 0) {
            return peer;
        }
    }
    peer = vx_calloc(1, sizeof *peer);
    if (!peer) {
        return NULL;
    }
    if (vx_parse_address(addr, &peer->sa, NULL) != 0) {
        vx_free(peer); /* checked at submission: cannot happen */
        return NULL;
    }
    peer->c = c;
    snprintf(peer->addr, sizeof peer->addr, "%s", addr);
    peer->next = c->peers;
    c->peers = peer;
    return peer;
}

/* ------------------------------------------------------- submissions */

static void start_pending(rpc_client *c, cli_pending *p)
{
    cli_peer *peer = peer_get(c, p->addr);

    if (!peer) {
        finish_msg(p, VECTRON_NOMEM, "out of memory");
        return;
    }
    if (!peer->conn && peer->retry_at > now_ms()) {
        finish_msg(
            p, VECTRON_UNAVAILABLE, "unreachable (%s); next attempt in %llu ms",
            peer->last_error, (unsigned long long)(peer->retry_at - now_ms()));
        return;
    }
    p->id = ++c->next_id;
    if (p->deadline && heap_push(c, p) != 0) {
        finish_msg(p, VECTRON_NOMEM, "out of memory");
        return;
    }
    p->peer = peer;
    if (peer->ready) {
        send_pending(peer, p);
        return;
    }
    list_push(&peer->parked, p);
    if (!peer->conn) {
        peer_connect(peer);
    }
}

static void close_all(rpc_client *c)
{
    cli_peer *peer = c->peers;
    while (peer) {
        cli_peer *next = peer->next;
        peer_fail(peer, 0, "the client is stopping");
        vx_free(peer);
        peer = next;
    }
    c->peers = NULL;
    uv_close((uv_handle_t *)&c->timer, NULL);
    uv_close((uv_handle_t *)&c->async, NULL);
}

static void on_async(uv_async_t *a)
{
    rpc_client *c = a->data;
    cli_list l;
    int stopping;

    pthread_mutex_lock(&c->mu);
    l = c->submitted;
    c->submitted.head = c->submitted.tail = NULL;
    stopping = c->stopping;
    pthread_mutex_unlock(&c->mu);

    while (l.head) {
        cli_pending *p = l.head;
        list_remove(&l, p);
        if (stopping) {
            finish_msg(p, VECTRON_UNAVAILABLE, "the client is stopping");
        } else {
            start_pending(c, p);
        }
    }
    if (stopping) {
        close_all(c);
        return;
    }
    arm_timer(c);
}

int rpc_call_async(rpc_client *c, const char *addr, uint16_t method,
                   const uint8_t *req, size_t len, unsigned deadline_ms,
                   rpc_done_fn done, void *arg, vectron_error *err)
{
    struct sockaddr_storage sa;
    cli_pending *p;

    if (len > c->o.max_payload) {
        return vx_err(err, VECTRON_INVALID,
                      "rpc %s: request of %zu bytes (the limit is %zu)",
                      addr ? addr : "?", len, c->o.max_payload);
    }
    if (vx_parse_address(addr, &sa, err) != 0 ||
        strlen(addr) >= VX_ADDRESS_MAX) {
        return vx_err_wrap(err, VECTRON_INVALID, "rpc");
    }
    p = vx_calloc(1, sizeof *p);
    if (!p || !(p->frame = vx_malloc(RPC_HEADER_SIZE + len))) {
        vx_free(p);
        return vx_err(err, VECTRON_NOMEM, "rpc %s", addr);
    }
    if (len) {
        memcpy(p->frame + RPC_HEADER_SIZE, req, len);
    }
    p->len = RPC_HEADER_SIZE + len;
    p->c = c;
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    p->method = method;
    p->deadline = deadline_ms ? now_ms() + deadline_ms : 0;
    p->done = done;
    p->arg = arg;

    pthread_mutex_lock(&c->mu);
    if (c->stopping) {
        pthread_mutex_unlock(&c->mu);
        vx_free(p->frame);
        vx_free(p);
        return vx_err(err, VECTRON_UNAVAILABLE, "rpc: the client is stopping");
    }
    list_push(&c->submitted, p);
    uv_async_send(&c->async);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* --------------------------------------------------------- lifecycle */

static void loop_main(void *arg)
{
    rpc_block_sigpipe();
    rpc_client *c = arg;
    uv_run(&c->loop, UV_RUN_DEFAULT);
}

int rpc_client_start(const rpc_client_options *o, rpc_client **out,
                     vectron_error *err)
{
    rpc_client *c = vx_calloc(1, sizeof *c);

    *out = NULL;
    if (!c) {
        return vx_err(err, VECTRON_NOMEM, "rpc client");
    }
    if (o) {
        c->o = *o;
    }
    if (!c->o.max_payload) {
        c->o.max_payload = RPC_DEFAULT_MAX_PAYLOAD;
    }
    if (!c->o.connect_timeout_ms) {
        c->o.connect_timeout_ms = 2000;
    }
    if (uv_loop_init(&c->loop) != 0) {
        vx_free(c);
        return vx_err(err, VECTRON_IO, "rpc client: loop");
    }
    pthread_mutex_init(&c->mu, NULL);
    uv_async_init(&c->loop, &c->async, on_async);
    uv_timer_init(&c->loop, &c->timer);
    c->async.data = c->timer.data = c;
    if (uv_thread_create(&c->thread, loop_main, c) != 0) {
        uv_close((uv_handle_t *)&c->async, NULL);
        uv_close((uv_handle_t *)&c->timer, NULL);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        uv_loop_close(&c->loop);
        pthread_mutex_destroy(&c->mu);
        vx_free(c);
        return vx_err(err, VECTRON_IO, "rpc client: start the loop thread");
    }
    *out = c;
    return 0;
}

void rpc_client_stop(rpc_client *c)
{
    if (!c) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    uv_async_send(&c->async);
    pthread_mutex_unlock(&c->mu);
    uv_thread_join(&c->thread);
    uv_loop_close(&c->loop);
    pthread_mutex_destroy(&c->mu);
    vx_free(c->heap);
    vx_free(c);
}

/* ---------------------------------------------------- waiting callers */

typedef struct waiter {
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    size_t *remaining;
    const char *addr;
    uint16_t method;
    int *code;
    rpc_result *result;
    vectron_error *error;
} waiter;

static void on_wait_done(void *arg, int code, const uint8_t *data, size_t len)
{
    waiter *w = arg;
    rpc_result r = {0};

    if (code == VECTRON_OK) {
        r.data = vx_malloc(len ? len : 1);
        if (r.data) {
            memcpy(r.data, data, len);
            r.len = len;
        } else {
            code = VECTRON_NOMEM;
            data = (const uint8_t *)"out of memory";
            len = strlen("out of memory");
        }
    }
    pthread_mutex_lock(w->mu);
    *w->code = code;
    if (code == VECTRON_OK) {
        *w->result = r;
    } else {
        /* The loop's own messages already name the peer; a peer's
         * message gets the prefix here. */
        int own = len >= 4 && memcmp(data, "rpc ", 4) == 0;
        if (own) {
            vx_err(w->error, code, "%.*s", (int)len, (const char *)data);
        } else {
            vx_err(w->error, code, "rpc %s method %u: %.*s", w->addr, w->method,
                   (int)len, (const char *)data);
        }
    }
    if (--*w->remaining == 0) {
        pthread_cond_broadcast(w->cv);
    }
    pthread_mutex_unlock(w->mu);
}

void rpc_result_free(rpc_result *r)
{
    if (r) {
        vx_free(r->data);
        r->data = NULL;
        r->len = 0;
    }
}

size_t rpc_call_all(rpc_client *c, rpc_multi *calls, size_t n,
                    unsigned deadline_ms)
{
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    size_t remaining = n;
    size_t failed = 0;
    waiter *w = vx_calloc(n ? n : 1, sizeof *w);

    for (size_t i = 0; i < n; i++) {
        calls[i].code = VECTRON_OK;
        calls[i].result = (rpc_result){0};
        vectron_error_clear(&calls[i].error);
    }
    if (!w) {
        for (size_t i = 0; i < n; i++) {
            calls[i].code =
                vx_err(&calls[i].error, VECTRON_NOMEM, "rpc: out of memory");
        }
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        w[i] = (waiter){&mu,
                        &cv,
                        &remaining,
                        calls[i].addr,
                        calls[i].method,
                        &calls[i].code,
                        &calls[i].result,
                        &calls[i].error};
        if (rpc_call_async(c, calls[i].addr, calls[i].method, calls[i].req,
                           calls[i].len, deadline_ms, on_wait_done, &w[i],
                           &calls[i].error) != 0) {
            calls[i].code = calls[i].error.code;
            pthread_mutex_lock(&mu);
            remaining--;
            pthread_mutex_unlock(&mu);
        }
    }
    pthread_mutex_lock(&mu);
    while (remaining > 0) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    for (size_t i = 0; i < n; i++) {
        failed += calls[i].code != VECTRON_OK;
    }
    vx_free(w);
    return failed;
}

int rpc_call(rpc_client *c, const char *addr, uint16_t method,
             const uint8_t *req, size_t len, unsigned deadline_ms,
             rpc_result *out, vectron_error *err)
{
    rpc_multi m = {.addr = addr, .method = method, .req = req, .len = len};

    *out = (rpc_result){0};
    if (rpc_call_all(c, &m, 1, deadline_ms) != 0) {
        if (err) {
            *err = m.error;
        }
        return m.code;
    }
    *out = m.result;
    return 0;
}
