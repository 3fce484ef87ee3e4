/*
 * raft_node.h - Vectron's glue to canonical libraft 0.15: many Raft groups
 * (one per shard replica, one for the Placement Driver) in one process, all
 * driven by ONE libuv loop on ONE thread, all reachable through ONE
 * listening TCP port per process.
 *
 * A vxr_node owns the loop, its thread and the listening socket. Groups are
 * created on a node with vxr_group_create; each has its own libraft
 * instance, its own raft_io (libraft's libuv I/O) with its own data
 * directory <data>/raft/<group-id>/, and its own transport object; every
 * transport shares the node's listener. An outgoing connection starts with
 * a small handshake (group id, sender member id and address, CRC32C) that
 * the receiving node reads to hand the stream to the right group. The wire
 * format is in docs/formats/raft-transport.md.
 *
 * Threading model.
 * - libraft is single-threaded: every libraft call and every libraft
 *   callback happens on the node's loop thread. No other thread ever
 *   touches a group directly.
 * - Other threads submit work (apply a command, barrier, membership
 *   changes, leadership transfer, group close) with vxr_submit or the
 *   synchronous helpers below. A submission is copied into a request,
 *   pushed on a mutex-protected queue and the loop is woken with
 *   uv_async_send.
 * - Completion is reported through a vxr_done_fn that runs ON THE LOOP
 *   THREAD. It must be quick and must never block (no disk I/O, no waiting
 *   on locks held for long, no synchronous vxr_* helper): it typically
 *   signals a condition variable or posts to another queue.
 * - The FSM callbacks (vxr_fsm) also run on the loop thread, with the same
 *   rules: apply must be quick and deterministic.
 * - The synchronous helpers (vxr_group_create, vxr_submit_wait,
 *   vxr_apply_wait, vxr_group_status) block the calling thread; calling
 *   them from the loop thread is refused with VECTRON_INVALID (it would
 *   deadlock), except vxr_group_status, which then reads the state
 *   directly.
 *
 * Signals: writing to a socket whose peer has gone raises SIGPIPE, which
 * kills the process by default. Every process that runs a vxr_node must
 * ignore SIGPIPE: the daemon's main must call `signal(SIGPIPE, SIG_IGN)`
 * before starting anything (the unit tests do the same). This library does not
 * change signal dispositions itself.
 *
 * Errors: functions return 0 or a code and fill a vectron_error. Codes are
 * either a positive vectron_error_code or one of the negative VXR_* Raft
 * outcomes below. libraft's and libuv's codes never leave this module.
 *
 * Prefix: vxr_ (public to the other modules), VXR_ for constants.
 */
#ifndef VECTRON_RAFT_NODE_H
#define VECTRON_RAFT_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "vectron/error.h"

/* ------------------------------------------------------------ statuses */

/* Raft outcomes, reported as a negative status next to the positive
 * vectron_error_codes (0 is success). */

/* This member is not the group's leader (or not yet): retry on the leader
 * named by the hint in vxr_result (leader_id, leader_address), which may
 * be empty while an election runs. The command was NOT appended. */
#define VXR_NOT_LEADER (-2)
/* The leader lost its leadership before the entry was known committed.
 * The outcome is UNKNOWN: the entry may still be committed by the next
 * leader. Retry only idempotent commands (the shard's commands are: they
 * carry point ids and full replacements). */
#define VXR_LEADERSHIP_LOST (-3)
/* A synchronous helper stopped waiting. The outcome is UNKNOWN: the
 * request stays in flight and may still complete. */
#define VXR_TIMEOUT (-4)
/* The group or the node is closing. For an apply the outcome is UNKNOWN. */
#define VXR_SHUTDOWN (-5)
/* A membership change is already in progress; retry later. */
#define VXR_BUSY (-6)

/* Returns a constant name for a status: "OK", "NOT_LEADER", ... or the
 * vectron_error_name of a positive code. Valid forever. */
const char *vxr_status_name(int status);

/* ------------------------------------------------------------ settings */

/* Longest address string, terminating NUL included. */
#define VXR_ADDRESS_MAX 256

/* Raft timing and log compaction, applied to every group of a node. */
typedef struct vxr_settings {
    /* Base election timeout; libraft randomises it between 1x and 2x.
     * Default 1000 ms, min 10. */
    unsigned election_timeout_ms;
    /* Leader heartbeat period; must be below the election timeout.
     * Default 100 ms. */
    unsigned heartbeat_timeout_ms;
    /* Entries applied since the last snapshot that trigger a new one.
     * Default 1024. Snapshots are small manifests (see vxr_fsm), so this
     * mostly bounds the log on disk and the replay after a restart. */
    unsigned snapshot_threshold;
    /* Entries kept in the log behind a snapshot, so that a follower a
     * little behind catches up from the log rather than a snapshot.
     * Default 128. */
    unsigned snapshot_trailing;
    /* Delay between connection attempts to an unreachable peer.
     * Default 200 ms (libraft's own default is 1000 ms). */
    unsigned connect_retry_ms;
    /* How long a leader waits for an InstallSnapshot to complete before
     * retrying. Default 30000 ms. */
    unsigned install_snapshot_timeout_ms;
    /* Size of each preallocated open log segment, in bytes (rounded down
     * to the file system's block size by libraft). Every group keeps one
     * or two open, so with hundreds of groups per node keep it small.
     * Default 1 MiB (libraft's own default is 8 MiB). */
    size_t segment_size;
} vxr_settings;

/* Fills s with the defaults above. */
void vxr_settings_default(vxr_settings *s);

/* ---------------------------------------------------------------- node */

typedef struct vxr_node vxr_node;

typedef struct vxr_node_config {
    /* The node's data directory; group g keeps its libraft log and
     * snapshots in <data_dir>/raft/<g>/ (g in decimal). Created if
     * missing. Borrowed for the call. */
    const char *data_dir;
    /* Where to listen: "ip:port" (IPv4) or "[ip6]:port". Port 0 picks an
     * ephemeral port; vxr_node_address tells which. Borrowed. */
    const char *listen_address;
    /* Raft settings of every group; NULL for the defaults. Copied. */
    const vxr_settings *settings;
} vxr_node_config;

/* Creates a node: binds and listens on cfg->listen_address, starts the
 * loop thread. On success *out owns the node until vxr_node_stop.
 * Errors: VECTRON_INVALID (bad config or address), VECTRON_IO (bind,
 * listen, directory creation, thread start), VECTRON_NOMEM. */
int vxr_node_start(const vxr_node_config *cfg, vxr_node **out,
                   vectron_error *err);

/* Closes every group (pending requests complete with VXR_SHUTDOWN or
 * VXR_LEADERSHIP_LOST, on the loop thread), closes the listener and every
 * connection, joins the loop thread and frees the node. Blocks until
 * done. Must not be called from the loop thread, nor while another thread
 * may still call into this node. NULL is a no-op. */
void vxr_node_stop(vxr_node *node);

/* The address the node listens on, as "ip:port" with the real port (use
 * it as this node's member address). Valid until vxr_node_stop. */
const char *vxr_node_address(const vxr_node *node);

/* ----------------------------------------------------------------- fsm */

/* The state machine of one group, implemented by the caller (the shard,
 * the PD). Every callback runs on the loop thread, one at a time.
 *
 * The Raft log index passed to apply is what makes replay idempotent:
 * the shard stores the index atomically with the data it covers, and on
 * apply skips entries at or below its stored index (libraft re-applies
 * every entry after the last snapshot on restart). Indexes increase
 * strictly but are not contiguous: configuration changes and barriers
 * take log entries without reaching apply.
 *
 * How the index is obtained (libraft 0.15 does not pass it): libraft
 * applies committed entries in order, calling fsm->apply for the entry at
 * r->last_applied + 1 and only then setting r->last_applied to that index
 * (src/replication.c, applyCommand/replicationApply; a restored snapshot
 * sets last_applied to the snapshot's index). So during apply the index is
 * raft_last_applied() + 1; the adapter checks that it increases strictly
 * and the unit test checks it against the index libraft assigned to each
 * request. */
typedef struct vxr_fsm {
    void *ctx; /* passed to every callback; must outlive the group */

    /* Applies one committed command. Deterministic (no clocks, no
     * randomness, no dependence on local state other than the FSM's),
     * and it cannot fail halfway: a command that is invalid must be
     * detected the same way on every replica and reported through
     * *result. buf is borrowed for the call. *result (initially 0) is
     * returned to the submitter on the leader (vxr_result.value). */
    void (*apply)(void *ctx, uint64_t index, const void *buf, size_t len,
                  int64_t *result);

    /* Produces a SMALL manifest of the state as of index (the last
     * applied index; everything at or below it must be durable in the
     * FSM's own store before this returns, since libraft then drops the
     * log before it). The real data moves out of band (DESIGN section 8).
     * On success *buf is allocated with vx_malloc and becomes the
     * adapter's. Returns 0 or a vectron_error_code. */
    int (*snapshot)(void *ctx, uint64_t index, void **buf, size_t *len,
                    vectron_error *err);

    /* Replaces the state with the snapshot whose manifest is buf (borrowed
     * for the call), taken at index. Called when the group starts from a
     * local snapshot and when a follower receives one from the leader. An
     * FSM whose own durable state is already at or past index may keep
     * it. Returns 0 or a vectron_error_code (the group then cannot start,
     * or the install fails and the leader retries). */
    int (*restore)(void *ctx, uint64_t index, const void *buf, size_t len,
                   vectron_error *err);
} vxr_fsm;

/* ---------------------------------------------------------------- group */

typedef struct vxr_member {
    uint64_t id;         /* > 0, unique in the group */
    const char *address; /* the member's node address ("ip:port") */
} vxr_member;

typedef struct vxr_group_params {
    uint64_t group_id;  /* unique in the process */
    uint64_t member_id; /* this replica's Raft id, > 0 */
    /* This replica's address as the other members know it; NULL for
     * vxr_node_address(node). */
    const char *address;
    /* The initial configuration, all voters. Used only when the group's
     * data directory is new, i.e. libraft never wrote a term there (then
     * the group is bootstrapped with it); on a restart libraft's
     * RAFT_CANTBOOTSTRAP is ignored, so passing the same list again is
     * harmless. NULL/0 for a replica that joins an existing group (the
     * leader adds it). Never pass it for a replica whose data was lost:
     * it would come back as a fresh founding member. */
    const vxr_member *members;
    size_t n_members;
    const vxr_fsm *fsm; /* copied; fsm->ctx must outlive the group */
} vxr_group_params;

/* Creates and starts a group on the node's loop and waits for it. Loading
 * the log and restoring a local snapshot happen before this returns (on the
 * loop thread: libraft 0.15 loads synchronously). Copies everything in p.
 * Errors: VECTRON_EXISTS (the group id is in use on this node, possibly
 * still closing), VECTRON_INVALID, VECTRON_IO / VECTRON_CORRUPT (the data
 * directory), VECTRON_NOMEM, VXR_SHUTDOWN. Must not be called from the
 * loop thread. */
int vxr_group_create(vxr_node *node, const vxr_group_params *p,
                     vectron_error *err);

/* State of a group, for status pages and routing hints. */
enum {
    VXR_STATE_UNAVAILABLE = 0,
    VXR_STATE_FOLLOWER = 1,
    VXR_STATE_CANDIDATE = 2,
    VXR_STATE_LEADER = 3
};

typedef struct vxr_group_info {
    uint64_t group_id;
    uint64_t member_id;
    int state; /* VXR_STATE_* */
    uint64_t term;
    uint64_t commit_index;
    uint64_t last_applied;
    uint64_t last_index; /* last entry in the local log */
    uint64_t leader_id;  /* 0 if unknown */
    char leader_address[VXR_ADDRESS_MAX];
    unsigned n_voters; /* voters in the current configuration */
    unsigned n_members;
} vxr_group_info;

/* Reads a group's state. From another thread it is a request to the loop
 * (waits at most 10 s: VXR_TIMEOUT); from the loop thread (an FSM or
 * completion callback) it reads directly. Errors: VECTRON_NOT_FOUND
 * (unknown group), VXR_SHUTDOWN (closing), VXR_TIMEOUT. */
int vxr_group_status(vxr_node *node, uint64_t group_id, vxr_group_info *out,
                     vectron_error *err);

/* ------------------------------------------------------------- requests */

/* Member roles for VXR_OP_ASSIGN (as libraft's). */
enum { VXR_ROLE_STANDBY = 0, VXR_ROLE_VOTER = 1, VXR_ROLE_SPARE = 2 };

typedef enum vxr_op_type {
    VXR_OP_APPLY = 1, /* append buf as a command; done once applied */
    VXR_OP_BARRIER,   /* done once every earlier entry is applied here
                         (a linearizable read point on the leader) */
    VXR_OP_ADD,       /* add member_id at address, as a spare */
    VXR_OP_ASSIGN,    /* give member_id the role (a voter or standby is
                         first caught up by the leader) */
    VXR_OP_REMOVE,    /* remove member_id */
    VXR_OP_TRANSFER,  /* hand leadership to member_id (0: any voter) */
    VXR_OP_CLOSE      /* close the group; done after libraft's close
                         callback, once the group's memory is freed and the
                         FSM is no longer referenced */
} vxr_op_type;

typedef struct vxr_request {
    vxr_op_type type;
    uint64_t group_id;
    const void *buf;     /* APPLY: the command; copied at submission */
    size_t len;          /* APPLY: > 0 */
    uint64_t member_id;  /* ADD, ASSIGN, REMOVE, TRANSFER */
    const char *address; /* ADD: copied */
    int role;            /* ASSIGN: VXR_ROLE_* */
} vxr_request;

typedef struct vxr_result {
    int status;         /* 0, a VXR_* outcome or a vectron_error_code */
    uint64_t index;     /* APPLY, BARRIER: the entry's log index */
    int64_t value;      /* APPLY: what vxr_fsm.apply returned */
    uint64_t leader_id; /* VXR_NOT_LEADER: the leader hint, 0 unknown */
    char leader_address[VXR_ADDRESS_MAX]; /* VXR_NOT_LEADER: or "" */
    vectron_error error; /* status and a message when status != 0 */
} vxr_result;

/* Completion callback: runs on the loop thread; quick, never blocks (see
 * the threading model above). res is valid for the call only. */
typedef void (*vxr_done_fn)(void *arg, const vxr_result *res);

/* Submits a request to the loop. If this returns 0, done is called exactly
 * once, on the loop thread, with the outcome (an unknown group is
 * VECTRON_NOT_FOUND there). If it returns an error, done is never called.
 * Errors: VECTRON_INVALID (bad request), VECTRON_NOMEM, VXR_SHUTDOWN (the
 * node is stopping). Callable from any thread, including the loop thread
 * (the request is then processed on the next loop iteration). */
int vxr_submit(vxr_node *node, const vxr_request *req, vxr_done_fn done,
               void *arg, vectron_error *err);

/* Submits req and blocks the calling (non-loop) thread until it completes
 * or timeout_ms passes (0: no limit). Returns the outcome's status, also
 * in out->status when out is not NULL; err gets the message. VXR_TIMEOUT
 * leaves the request in flight (outcome unknown). */
int vxr_submit_wait(vxr_node *node, const vxr_request *req, unsigned timeout_ms,
                    vxr_result *out, vectron_error *err);

/* Closes a group: a VXR_OP_CLOSE request. done (may be NULL) runs on the
 * loop thread once libraft's close callback has fired and the group is
 * freed; from then on the FSM's ctx is no longer referenced and the group
 * id may be created again. Requests in flight complete first (with
 * VXR_SHUTDOWN or VXR_LEADERSHIP_LOST). Errors as vxr_submit. */
int vxr_group_close(vxr_node *node, uint64_t group_id, vxr_done_fn done,
                    void *arg, vectron_error *err);

/* vxr_submit_wait for an APPLY: returns 0 once buf is committed and
 * applied on this member (out->index, out->value), or VXR_NOT_LEADER
 * (out->leader_id / leader_address hint), VXR_LEADERSHIP_LOST,
 * VXR_TIMEOUT, VXR_SHUTDOWN, VECTRON_NOT_FOUND (unknown group), ... */
int vxr_apply_wait(vxr_node *node, uint64_t group_id, const void *buf,
                   size_t len, unsigned timeout_ms, vxr_result *out,
                   vectron_error *err);

#endif
