/*
 * raft_transport.c - one listening TCP port per node for every Raft group:
 * the handshake codec, the node's listener (which reads the handshake of
 * each incoming connection and hands the stream to the right group's
 * libraft instance) and the raft_uv_transport that each group gives to its
 * raft_io (whose connect writes the handshake before handing the stream to
 * libraft). The wire format is in docs/formats/raft-transport.md.
 *
 * Ownership: the uv_tcp_t of a connection is allocated with raft_malloc,
 * because once it is handed to libraft (accept or connect callback),
 * libraft closes it and frees it with raft_free.
 *
 * Threading: everything here runs on the node's loop thread, except the
 * pure functions (handshake codec, address parsing), which are reentrant.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/net.h"
#include "raft/raft_int.h"

/* An incoming connection that has not completed its handshake. */
struct vxr_incoming {
    vxr_node *node;
    vxr_incoming *prev;
    vxr_incoming *next;
    uv_tcp_t *tcp; /* raft_malloc'd; NULL once handed to a group */
    uv_timer_t timer;
    uint8_t buf[VXR_HS_MAX];
    size_t got;
    size_t need;
    int open_handles; /* handles whose close callback is pending */
};

/* An outgoing connection request of one group's transport. */
struct vxr_outgoing {
    vxr_group *g;
    vxr_outgoing *prev;
    vxr_outgoing *next;
    struct raft_uv_connect *req;
    raft_uv_connect_cb cb;
    uv_tcp_t *tcp; /* raft_malloc'd; libraft's once connected */
    uv_connect_t connect;
    uv_write_t write;
    uint8_t hs[VXR_HS_MAX];
    int status; /* 0 while in progress, else the code for cb */
};

/* Handshake timeout: a peer that does not send its handshake in time is
 * dropped. */
#define HANDSHAKE_TIMEOUT_MS 10000

/* ------------------------------------------------------- the handshake */

static bool printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x21 || p[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

int vxr_handshake_encode(uint64_t group_id, uint64_t sender_id,
                         const char *address, uint8_t *buf, size_t *len,
                         vectron_error *err)
{
    size_t n = address ? strlen(address) : 0;

    if (n == 0 || n > VXR_HS_ADDR_MAX) {
        return vx_err(err, VECTRON_INVALID,
                      "handshake: address length %zu not in 1..%d", n,
                      VXR_HS_ADDR_MAX);
    }
    if (group_id == 0 || sender_id == 0) {
        return vx_err(err, VECTRON_INVALID,
                      "handshake: group id and sender id must be > 0");
    }
    vx_put_u32(buf, VXR_HS_MAGIC);
    buf[4] = (uint8_t)VXR_HS_VERSION;
    buf[5] = 0;
    buf[6] = (uint8_t)n;
    buf[7] = (uint8_t)(n >> 8);
    vx_put_u64(buf + 8, group_id);
    vx_put_u64(buf + 16, sender_id);
    memcpy(buf + VXR_HS_FIXED, address, n);
    vx_put_u32(buf + VXR_HS_FIXED + n, vx_crc32c(0, buf, VXR_HS_FIXED + n));
    *len = VXR_HS_FIXED + n + 4;
    return 0;
}

int vxr_handshake_check_fixed(const uint8_t *buf, size_t *total,
                              vectron_error *err)
{
    unsigned version = (unsigned)buf[4] | (unsigned)buf[5] << 8;
    size_t n = (size_t)buf[6] | (size_t)buf[7] << 8;

    if (vx_get_u32(buf) != VXR_HS_MAGIC) {
        return vx_err(err, VECTRON_CORRUPT, "handshake: bad magic 0x%08x",
                      vx_get_u32(buf));
    }
    if (version != VXR_HS_VERSION) {
        return vx_err(err, VECTRON_UNSUPPORTED,
                      "handshake: version %u (this node speaks %d)", version,
                      VXR_HS_VERSION);
    }
    if (n == 0 || n > VXR_HS_ADDR_MAX) {
        return vx_err(err, VECTRON_CORRUPT,
                      "handshake: address length %zu not in 1..%d", n,
                      VXR_HS_ADDR_MAX);
    }
    if (vx_get_u64(buf + 8) == 0 || vx_get_u64(buf + 16) == 0) {
        return vx_err(err, VECTRON_CORRUPT, "handshake: zero group or id");
    }
    *total = VXR_HS_FIXED + n + 4;
    return 0;
}

int vxr_handshake_decode(const uint8_t *buf, size_t len, vxr_handshake *out,
                         vectron_error *err)
{
    size_t total = 0;
    size_t n;
    int rc;

    if (len < VXR_HS_FIXED) {
        return vx_err(err, VECTRON_CORRUPT, "handshake: %zu bytes, short", len);
    }
    rc = vxr_handshake_check_fixed(buf, &total, err);
    if (rc != 0) {
        return rc;
    }
    if (len != total) {
        return vx_err(err, VECTRON_CORRUPT,
                      "handshake: %zu bytes, expected %zu", len, total);
    }
    n = total - VXR_HS_FIXED - 4;
    if (vx_get_u32(buf + VXR_HS_FIXED + n) !=
        vx_crc32c(0, buf, VXR_HS_FIXED + n)) {
        return vx_err(err, VECTRON_CORRUPT, "handshake: CRC mismatch");
    }
    if (!printable(buf + VXR_HS_FIXED, n)) {
        return vx_err(err, VECTRON_CORRUPT,
                      "handshake: address is not printable ASCII");
    }
    out->group_id = vx_get_u64(buf + 8);
    out->sender_id = vx_get_u64(buf + 16);
    memcpy(out->address, buf + VXR_HS_FIXED, n);
    out->address[n] = '\0';
    return 0;
}

int vxr_parse_address(const char *address, struct sockaddr_storage *out,
                      vectron_error *err)
{
    return vx_parse_address(address, out, err);
}

/* ------------------------------------------------ incoming connections */

static void free_tcp_cb(uv_handle_t *h)
{
    raft_free(h);
}

static void incoming_handle_closed(uv_handle_t *h)
{
    vxr_incoming *in = h->data;
    vxr_node *node = in->node;

    if ((uv_handle_t *)in->tcp == h) {
        raft_free(in->tcp);
        in->tcp = NULL;
    }
    if (--in->open_handles == 0) {
        vx_free(in);
        vxr_node_poke(node);
    }
}

static void incoming_unlink(vxr_incoming *in)
{
    if (in->prev) {
        in->prev->next = in->next;
    } else {
        in->node->incoming = in->next;
    }
    if (in->next) {
        in->next->prev = in->prev;
    }
    in->prev = in->next = NULL;
}

/* Drops a connection that has not been handed over. */
static void incoming_reject(vxr_incoming *in, const char *why)
{
    vx_log(VECTRON_LOG_WARN, VXR_LOG, "node=%s incoming connection dropped: %s",
           in->node->address, why);
    incoming_unlink(in);
    uv_close((uv_handle_t *)&in->timer, incoming_handle_closed);
    uv_close((uv_handle_t *)in->tcp, incoming_handle_closed);
}

static void incoming_timeout(uv_timer_t *timer)
{
    incoming_reject(timer->data, "no handshake in time");
}

static void incoming_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    vxr_incoming *in = h->data;

    (void)suggested;
    /* Never read past the handshake: what follows belongs to libraft. */
    buf->base = (char *)in->buf + in->got;
    buf->len = in->need - in->got;
}

static void incoming_dispatch(vxr_incoming *in)
{
    vectron_error err;
    vxr_handshake hs;
    vxr_group *g;
    uv_tcp_t *tcp = in->tcp;
    char why[VECTRON_ERROR_MSG_SIZE + 64];

    if (vxr_handshake_decode(in->buf, in->got, &hs, &err) != 0) {
        incoming_reject(in, err.msg);
        return;
    }
    g = vxr_group_find(in->node, hs.group_id);
    if (!g || g->state != VXR_GROUP_RUNNING || !g->accept_cb ||
        g->transport_closing) {
        snprintf(why, sizeof why, "group %llu from member %llu (%s): %s",
                 (unsigned long long)hs.group_id,
                 (unsigned long long)hs.sender_id, hs.address,
                 g ? "group not accepting connections" : "unknown group");
        incoming_reject(in, why);
        return;
    }
    /* Hand the stream over: libraft starts reading it and owns it from
     * now on. The incoming record goes once its timer is closed. */
    uv_read_stop((uv_stream_t *)tcp);
    incoming_unlink(in);
    in->tcp = NULL;
    tcp->data = NULL;
    in->open_handles--;
    uv_close((uv_handle_t *)&in->timer, incoming_handle_closed);
    vx_log(VECTRON_LOG_DEBUG, VXR_LOG,
           "group=%llu accepted connection from member %llu (%s)",
           (unsigned long long)hs.group_id, (unsigned long long)hs.sender_id,
           hs.address);
    g->accept_cb(&g->transport, hs.sender_id, hs.address, (uv_stream_t *)tcp);
}

static void incoming_read(uv_stream_t *stream, ssize_t nread,
                          const uv_buf_t *buf)
{
    vxr_incoming *in = stream->data;
    vectron_error err;

    (void)buf;
    if (nread < 0) {
        incoming_reject(in, nread == UV_EOF ? "closed during handshake"
                                            : uv_strerror((int)nread));
        return;
    }
    in->got += (size_t)nread;
    if (in->got < in->need) {
        return;
    }
    if (in->need == VXR_HS_FIXED) {
        if (vxr_handshake_check_fixed(in->buf, &in->need, &err) != 0) {
            incoming_reject(in, err.msg);
        }
        return;
    }
    incoming_dispatch(in);
}

void vxr_on_connection(uv_stream_t *server, int status)
{
    vxr_node *node = server->data;
    vxr_incoming *in = NULL;
    int rc;

    if (status < 0) {
        vx_log(VECTRON_LOG_WARN, VXR_LOG, "node=%s accept: %s", node->address,
               uv_strerror(status));
        return;
    }
    in = vx_calloc(1, sizeof *in);
    if (!in) {
        goto nomem;
    }
    in->tcp = raft_malloc(sizeof *in->tcp);
    if (!in->tcp) {
        vx_free(in);
        goto nomem;
    }
    in->node = node;
    in->need = VXR_HS_FIXED;
    uv_tcp_init(&node->loop, in->tcp);
    uv_timer_init(&node->loop, &in->timer);
    in->tcp->data = in;
    in->timer.data = in;
    in->open_handles = 2;
    in->next = node->incoming;
    if (in->next) {
        in->next->prev = in;
    }
    node->incoming = in;
    rc = uv_accept(server, (uv_stream_t *)in->tcp);
    if (rc == 0) {
        uv_tcp_nodelay(in->tcp, 1);
        rc = uv_read_start((uv_stream_t *)in->tcp, incoming_alloc,
                           incoming_read);
    }
    if (rc == 0) {
        rc = uv_timer_start(&in->timer, incoming_timeout, HANDSHAKE_TIMEOUT_MS,
                            0);
    }
    if (rc != 0) {
        incoming_reject(in, uv_strerror(rc));
    }
    return;

nomem:
    /* Accept and drop, or the listener would keep waking up. */
    vx_log(VECTRON_LOG_ERROR, VXR_LOG,
           "node=%s accept: out of memory, connection dropped", node->address);
    {
        uv_tcp_t *t = raft_malloc(sizeof *t);
        if (t) {
            uv_tcp_init(&node->loop, t);
            uv_accept(server, (uv_stream_t *)t);
            uv_close((uv_handle_t *)t, free_tcp_cb);
        }
    }
}

void vxr_incoming_close_all(vxr_node *node)
{
    while (node->incoming) {
        incoming_reject(node->incoming, "node stopping");
    }
}

/* ---------------------------------------------- the group's transport */

static void outgoing_unlink(vxr_outgoing *o)
{
    if (o->prev) {
        o->prev->next = o->next;
    } else {
        o->g->connects = o->next;
    }
    if (o->next) {
        o->next->prev = o->prev;
    }
    o->prev = o->next = NULL;
}

static void transport_closed(void *arg)
{
    vxr_group *g = arg;
    raft_uv_transport_close_cb cb = g->transport_close_cb;

    g->transport_close_cb = NULL;
    if (cb) {
        cb(&g->transport);
    }
}

static void transport_maybe_closed(vxr_group *g)
{
    if (g->transport_closing && !g->connects && g->transport_close_cb) {
        /* Deferred: libraft's close path must not re-enter itself. */
        vxr_defer_call(g->node, &g->defer_transport_closed, transport_closed,
                       g);
    }
}

/* The TCP handle of a failed or canceled connect is closed: report. */
static void outgoing_closed(uv_handle_t *h)
{
    vxr_outgoing *o = h->data;
    vxr_group *g = o->g;

    raft_free(h);
    outgoing_unlink(o);
    o->cb(o->req, NULL, o->status);
    vx_free(o);
    transport_maybe_closed(g);
}

static void outgoing_fail(vxr_outgoing *o, int status, const char *why)
{
    vx_log(VECTRON_LOG_DEBUG, VXR_LOG, "group=%llu connect: %s",
           (unsigned long long)o->g->id, why);
    o->status = o->g->transport_closing ? RAFT_CANCELED : status;
    uv_close((uv_handle_t *)o->tcp, outgoing_closed);
}

static void outgoing_written(uv_write_t *w, int status)
{
    vxr_outgoing *o = w->data;
    uv_tcp_t *tcp = o->tcp;

    if (o->status != 0) {
        return; /* canceled: the close callback reports */
    }
    if (status < 0) {
        outgoing_fail(o, RAFT_NOCONNECTION, uv_strerror(status));
        return;
    }
    outgoing_unlink(o);
    tcp->data = NULL;
    o->cb(o->req, (uv_stream_t *)tcp, 0);
    vx_free(o);
}

static void outgoing_connected(uv_connect_t *c, int status)
{
    vxr_outgoing *o = c->data;
    vectron_error err;
    size_t len = 0;
    uv_buf_t b;
    int rc;

    if (o->status != 0) {
        return;
    }
    if (status < 0) {
        outgoing_fail(o, RAFT_NOCONNECTION, uv_strerror(status));
        return;
    }
    if (vxr_handshake_encode(o->g->id, o->g->transport_id,
                             o->g->transport_address, o->hs, &len, &err) != 0) {
        outgoing_fail(o, RAFT_INVALID, err.msg);
        return;
    }
    uv_tcp_nodelay(o->tcp, 1);
    b = uv_buf_init((char *)o->hs, (unsigned)len);
    o->write.data = o;
    rc = uv_write(&o->write, (uv_stream_t *)o->tcp, &b, 1, outgoing_written);
    if (rc != 0) {
        outgoing_fail(o, RAFT_NOCONNECTION, uv_strerror(rc));
    }
}

static int t_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    vxr_group *g = t->impl;

    if (strlen(address) >= sizeof g->transport_address) {
        snprintf(t->errmsg, sizeof t->errmsg, "address too long");
        return RAFT_NAMETOOLONG;
    }
    g->transport_id = id;
    snprintf(g->transport_address, sizeof g->transport_address, "%s", address);
    return 0;
}

static int t_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    vxr_group *g = t->impl;

    /* The node's listener is shared: just start dispatching to us. */
    g->accept_cb = cb;
    return 0;
}

static int t_connect(struct raft_uv_transport *t, struct raft_uv_connect *req,
                     raft_id id, const char *address, raft_uv_connect_cb cb)
{
    vxr_group *g = t->impl;
    struct sockaddr_storage sa;
    vectron_error err;
    vxr_outgoing *o;
    int rc;

    (void)id;
    if (g->transport_closing) {
        return RAFT_CANCELED;
    }
    if (vxr_parse_address(address, &sa, &err) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "%s", err.msg);
        return RAFT_NOCONNECTION;
    }
    o = vx_calloc(1, sizeof *o);
    if (!o) {
        return RAFT_NOMEM;
    }
    o->tcp = raft_malloc(sizeof *o->tcp);
    if (!o->tcp) {
        vx_free(o);
        return RAFT_NOMEM;
    }
    o->g = g;
    o->req = req;
    o->cb = cb;
    uv_tcp_init(&g->node->loop, o->tcp);
    o->tcp->data = o;
    o->connect.data = o;
    rc = uv_tcp_connect(&o->connect, o->tcp, (struct sockaddr *)&sa,
                        outgoing_connected);
    if (rc != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "connect %s: %s", address,
                 uv_strerror(rc));
        uv_close((uv_handle_t *)o->tcp, free_tcp_cb);
        vx_free(o);
        return RAFT_NOCONNECTION;
    }
    o->next = g->connects;
    if (o->next) {
        o->next->prev = o;
    }
    g->connects = o;
    return 0;
}

/* Stops dispatching incoming streams to the group, cancels its pending
 * connects (their callbacks get RAFT_CANCELED) and reports on a later turn
 * of the loop, once none is left. */
static void t_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    vxr_group *g = t->impl;

    g->transport_closing = true;
    g->accept_cb = NULL;
    g->transport_close_cb = cb;
    for (vxr_outgoing *o = g->connects; o; o = o->next) {
        if (o->status == 0) {
            o->status = RAFT_CANCELED;
            uv_close((uv_handle_t *)o->tcp, outgoing_closed);
        } else {
            o->status = RAFT_CANCELED; /* its close is already pending */
        }
    }
    transport_maybe_closed(g);
}

void vxr_transport_setup(vxr_group *g)
{
    memset(&g->transport, 0, sizeof g->transport);
    g->transport.impl = g;
    g->transport.init = t_init;
    g->transport.listen = t_listen;
    g->transport.connect = t_connect;
    g->transport.close = t_close;
}
