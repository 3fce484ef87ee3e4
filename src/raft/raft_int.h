/*
 * raft_int.h - internals of the raft module shared by its files:
 * raft_node.c (the node, its loop thread, the request queue and the
 * synchronous helpers), raft_group.c (group lifecycle, requests executed on
 * the loop, the FSM adapter) and raft_transport.c (the shared listener,
 * the handshake and the per-group raft_uv_transport).
 *
 * Threading: every field of vxr_node below the "loop thread only" mark and
 * every vxr_group field is touched only by the loop thread. The request
 * queue and the stopping flag are guarded by vxr_node.mu.
 */
#ifndef VECTRON_RAFT_INT_H
#define VECTRON_RAFT_INT_H

#include <limits.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/common.h"
#include "raft/raft_node.h"

#define VXR_LOG "raft"

/* ----------------------------------------------------------- handshake */

/* See docs/formats/raft-transport.md. */
#define VXR_HS_MAGIC 0x54525856u /* bytes "VXRT" */
#define VXR_HS_VERSION 1
#define VXR_HS_FIXED 24     /* magic .. sender id */
#define VXR_HS_ADDR_MAX 255 /* address bytes */
#define VXR_HS_MAX (VXR_HS_FIXED + VXR_HS_ADDR_MAX + 4)

typedef struct vxr_handshake {
    uint64_t group_id;
    uint64_t sender_id;
    char address[VXR_HS_ADDR_MAX + 1];
} vxr_handshake;

/* Encodes a handshake into buf (at least VXR_HS_MAX bytes); *len gets its
 * size. Errors: VECTRON_INVALID (empty or too long address, zero id). */
int vxr_handshake_encode(uint64_t group_id, uint64_t sender_id,
                         const char *address, uint8_t *buf, size_t *len,
                         vectron_error *err);

/* Checks the first VXR_HS_FIXED bytes and sets *total to the full length
 * of the handshake. Errors: VECTRON_CORRUPT (bad magic, zero ids, bad
 * address length), VECTRON_UNSUPPORTED (version). */
int vxr_handshake_check_fixed(const uint8_t *buf, size_t *total,
                              vectron_error *err);

/* Decodes a whole handshake of len bytes. Errors as above, plus
 * VECTRON_CORRUPT for a CRC mismatch, a length that does not match or an
 * address with a NUL or non-printable byte. */
int vxr_handshake_decode(const uint8_t *buf, size_t len, vxr_handshake *out,
                         vectron_error *err);

/* Parses "a.b.c.d:port" or "[v6]:port". Errors: VECTRON_INVALID. */
int vxr_parse_address(const char *address, struct sockaddr_storage *out,
                      vectron_error *err);

/* ---------------------------------------------------------- snapshots */

/* The envelope the FSM adapter wraps around the caller's manifest. */
#define VXR_SNAP_MAGIC 0x53525856u /* bytes "VXRS" */
#define VXR_SNAP_VERSION 1
#define VXR_SNAP_HEADER 32

/* -------------------------------------------------------- log entries */

/* A command entry is framed as: the command, zero bytes up to a multiple
 * of 8, then an 8-byte trailer (u32 VXR_ENTRY_MAGIC, u32 command length),
 * little-endian. See docs/formats/raft-transport.md, "Log entries". */
#define VXR_ENTRY_MAGIC 0x45525856u /* bytes "VXRE" */

static inline size_t vxr_entry_framed_len(size_t len)
{
    return ((len + 7) & ~(size_t)7) + 8;
}

static inline void vxr_entry_frame(void *dst, const void *src, size_t len)
{
    uint8_t *d = dst;
    size_t framed = vxr_entry_framed_len(len);
    memcpy(d, src, len);
    memset(d + len, 0, framed - 8 - len);
    vx_put_u32(d + framed - 8, VXR_ENTRY_MAGIC);
    vx_put_u32(d + framed - 4, (uint32_t)len);
}

/* Checks the framing of an entry of *len bytes and sets *len to the
 * command's length. Returns -1 (len untouched) if it is not framed. */
static inline int vxr_entry_unframe(const void *buf, size_t *len)
{
    const uint8_t *b = buf;
    size_t n = *len;
    if (n < 8 || n % 8 || vx_get_u32(b + n - 8) != VXR_ENTRY_MAGIC)
        return -1;
    size_t inner = vx_get_u32(b + n - 4);
    if (vxr_entry_framed_len(inner) != n)
        return -1;
    *len = inner;
    return 0;
}

/* ------------------------------------------------------------- errors */

/* Maps a libraft code to a module status (a negative VXR_* outcome or a
 * vectron_error_code). */
int vxr_raft_status(int rv);

/* ------------------------------------------------------------- requests */

/* Request kinds beyond vxr_op_type, used internally. */
enum { VXR_OPI_CREATE = 100, VXR_OPI_STATUS = 101 };

typedef struct vxr_node vxr_node;
typedef struct vxr_group vxr_group;
typedef struct vxr_op vxr_op;
typedef struct vxr_transfer vxr_transfer;

/* A copy of vxr_group_params that the loop thread owns. */
typedef struct vxr_create {
    uint64_t group_id;
    uint64_t member_id;
    char address[VXR_ADDRESS_MAX];
    size_t n_members;
    uint64_t *member_ids;
    char (*member_addresses)[VXR_ADDRESS_MAX];
    vxr_fsm fsm;
} vxr_create;

struct vxr_op {
    vxr_op *next;
    int kind; /* vxr_op_type or VXR_OPI_* */
    uint64_t group_id;
    vxr_node *node;
    vxr_done_fn done;
    void *arg;
    struct raft_buffer buf; /* APPLY: raft_malloc'd until raft owns it */
    uint64_t member_id;
    int role;
    char address[VXR_ADDRESS_MAX];
    vxr_create *create;   /* VXR_OPI_CREATE */
    vxr_group_info *info; /* VXR_OPI_STATUS: filled before done */
    vxr_result res;
    union {
        struct raft_apply apply;
        struct raft_barrier barrier;
        struct raft_change change;
    } rq;
};

/* Completes op: calls its done callback with op->res, then frees op. Loop
 * thread only. */
void vxr_op_finish(vxr_op *op);

/* Sets op->res to status with a message and completes op. */
void vxr_op_fail(vxr_op *op, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --------------------------------------------------------------- defer */

/* A call postponed to the next turn of the loop (run from the node's async
 * callback), to step out of libraft's and libuv's call stacks before
 * freeing memory they may still be using. Embedded in its owner; never
 * allocated. */
typedef struct vxr_defer {
    struct vxr_defer *next;
    void (*fn)(void *arg);
    void *arg;
    bool queued;
} vxr_defer;

void vxr_defer_call(vxr_node *node, vxr_defer *d, void (*fn)(void *),
                    void *arg);

/* ---------------------------------------------------------- transport */

typedef struct vxr_incoming vxr_incoming;
typedef struct vxr_outgoing vxr_outgoing;

/* --------------------------------------------------------------- group */

enum { VXR_GROUP_RUNNING = 1, VXR_GROUP_CLOSING = 2 };

/* A leadership transfer request (vxr_group.transfers). */
struct vxr_transfer {
    struct raft_transfer rq; /* first: the callback gets &rq */
    vxr_transfer *next;
    vxr_op *op; /* NULL once the transfer's callback ran */
};

struct vxr_group {
    vxr_node *node;
    vxr_group *next; /* node->groups */
    uint64_t id;
    uint64_t member_id;
    char address[VXR_ADDRESS_MAX];
    char dir[PATH_MAX];
    int state;
    vxr_fsm user;
    uint64_t fsm_index; /* last index passed to apply or restore */

    struct raft raft;
    struct raft_io io;
    struct raft_fsm fsm;
    bool raft_initialized;

    /* The group's raft_uv_transport; transport.impl is the group (libraft
     * uses transport.data itself). */
    struct raft_uv_transport transport;
    raft_id transport_id;
    char transport_address[VXR_ADDRESS_MAX];
    raft_uv_accept_cb accept_cb;
    bool transport_closing;
    raft_uv_transport_close_cb transport_close_cb;
    vxr_outgoing *connects; /* pending connect requests */
    vxr_defer defer_transport_closed;
    vxr_defer defer_free;

    vxr_op *close_ops; /* CLOSE requests completed once freed */

    /* Leadership transfer requests, kept until the group is freed: libraft
     * 0.15 sends TimeoutNow through the raft_io_send embedded in the
     * request and may still hold that send in a connection's queue after
     * the transfer's callback (canonical/raft#396), so the request must
     * outlive it. One per transfer; transfers are rare. */
    vxr_transfer *transfers;
};

/* Finds a group by id, NULL if none (closing groups included). */
vxr_group *vxr_group_find(vxr_node *node, uint64_t id);

/* Executes a request on the loop thread (raft_group.c). */
void vxr_group_execute(vxr_node *node, vxr_op *op);

/* Starts closing every group (node shutdown). */
void vxr_group_close_all(vxr_node *node);

/* Fills info from a group's libraft state. */
void vxr_group_fill_info(vxr_group *g, vxr_group_info *info);

/* Sets up g->transport's callbacks (raft_transport.c). */
void vxr_transport_setup(vxr_group *g);

/* ---------------------------------------------------------------- node */

struct vxr_node {
    uv_loop_t loop;
    uv_async_t async;
    uv_tcp_t listener;
    pthread_t thread;
    char data_dir[PATH_MAX];
    char address[VXR_ADDRESS_MAX];
    vxr_settings settings;

    pthread_mutex_t mu; /* guards the three fields below */
    vxr_op *queue_head;
    vxr_op *queue_tail;
    bool stopping;

    /* Loop thread only. */
    vxr_group *groups;
    vxr_incoming *incoming; /* connections still in their handshake */
    vxr_defer *deferred;
    bool shutting_down;
    bool listener_closed;
    bool async_closing;
};

/* Wakes the loop (from the loop thread) so that deferred calls and the
 * shutdown progress run; a no-op once the async handle is closing. */
void vxr_node_poke(vxr_node *node);

/* Listener callback and shutdown of half-open connections
 * (raft_transport.c). */
void vxr_on_connection(uv_stream_t *server, int status);
void vxr_incoming_close_all(vxr_node *node);

/* True on the node's loop thread. */
bool vxr_on_loop(const vxr_node *node);

#endif
