/*
 * host.h - the shard replicas a node hosts: each an open shard (LMDB point
 * store + HNSW index, src/shard) driven by its own Raft group (src/raft),
 * plus the per-shard operations the gateway needs: replicated writes and
 * local reads (filtered search, scan, count, point lookup).
 *
 * In `vectron serve` the gateway calls these in-process on a local host
 * (one-member groups). A cluster worker's local host holds replicas of
 * multi-member groups (host_ensure_replica) and serves the same operations
 * over RPC (service.h); a cluster gateway opens a remote host
 * (host_open_remote, host_remote.c) whose host_* calls travel to the
 * workers. Scatter/gather across the shards of a collection is the
 * caller's job (host_search_all helps for searches).
 *
 * On disk: shard group g keeps its store in <data>/shards/<g>/ and its
 * Raft log and snapshots in <data>/raft/<g>/. A Raft snapshot of a shard is
 * a small manifest (docs/formats/shard-snapshot.md); the store is synced
 * before it is taken, since libraft then drops the log it covers. A
 * replica whose store is behind a snapshot it must install copies the
 * store from the snapshot's source (host_copy.c).
 *
 * Threading: every function may be called from any thread except the Raft
 * loop thread (they wait on it). Hosted shards are reference-counted:
 * host_acquire pins a shard so that a concurrent drop waits for the
 * readers and writers in flight before closing it.
 *
 * Prefix: host_.
 */
#ifndef VECTRON_WORKER_HOST_H
#define VECTRON_WORKER_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "filter/filter.h"
#include "pd/catalog.h"
#include "raft/raft_node.h"
#include "shard/shard.h"

typedef struct host host;
typedef struct host_shard host_shard;

typedef struct host_options {
    const char *data_dir; /* borrowed for host_open */
    vxr_node *node;       /* the node's Raft loop; must outlive the host */
    uint64_t member_id;   /* this node's Raft member id (> 0) */
    store_options store;  /* map size and sync mode of every shard store */
    /* Called (from the Raft loop thread) when a shard cannot apply a
     * committed entry because its store failed (disk full, I/O error):
     * the replica must stop rather than skip the entry. main exits. */
    void (*fatal)(void *arg, const char *msg);
    void *fatal_arg;
    /* Every this many ms, a background thread saves the HNSW graph of
     * each shard that applied writes since its last checkpoint
     * (shard_checkpoint), and host_close saves them once more; 0: never
     * (every restart rebuilds the graphs from the stores). */
    unsigned checkpoint_interval_ms;
    /* Every shard's indexer niceness (shard_params.indexer_nice), and the
     * most writes a shard lets wait for its indexer before host_write
     * holds new writes back (up to their timeout; 0: no bound). */
    int indexer_nice;
    size_t max_pending;
    /* Cluster (both NULL in `vectron serve`): the RPC client a replica
     * uses to copy a store from a peer when it must install a snapshot its
     * store is behind, and this node's RPC address, written into the
     * snapshot manifests it takes so that others copy from it. */
    struct rpc_client *rpc;
    const char *rpc_address;
} host_options;

/* Starts the checkpoint thread when o->checkpoint_interval_ms is set.
 * Errors: INVALID, NOMEM, INTERNAL (thread start). */
int host_open(const host_options *o, host **out, vectron_error *err);

/* Stops the checkpoint thread, closes every hosted shard's group, saves
 * each changed graph (when checkpoints are on) and closes the shard. NULL
 * is a no-op. Must not race with other calls. */
void host_close(host *h);

/* Opens the shards of collection c that are not yet hosted: opens each
 * store and index, starts its Raft group (a single member, this node) and
 * waits, up to timeout_ms, until the group leads and has applied its log.
 * Idempotent. Errors: IO, CORRUPT, NOMEM, TIMEOUT, ... with the shard
 * named. */
int host_ensure(host *h, const pd_collection *c, unsigned timeout_ms,
                vectron_error *err);

/* Closes the shards of collection c (waiting for operations in flight)
 * and deletes their data. Idempotent. */
int host_drop(host *h, const pd_collection *c, vectron_error *err);

/* Deletes shard directories under <data>/shards and <data>/raft whose
 * group id is not one of the n collections' groups (left over from a drop
 * that a crash interrupted). Call before hosting anything. */
int host_gc(host *h, const pd_collection *cols, size_t n, vectron_error *err);

/* Waits until Raft group `group` on node leads and has applied its whole
 * log (a barrier, retried while a single member elects itself). Errors:
 * UNAVAILABLE after timeout_ms. */
int host_wait_group_ready(vxr_node *node, uint64_t group, unsigned timeout_ms,
                          vectron_error *err);

/* Closes Raft group `group` and waits until libraft no longer uses its
 * FSM. */
void host_close_group(vxr_node *node, uint64_t group);

/* Pins the hosted shard of group_id; NULL if not hosted (or being
 * dropped). Release with host_release. */
host_shard *host_acquire(host *h, uint64_t group_id);
void host_release(host_shard *s);

/* The replica's shard, for code that runs on the Raft loop thread (which
 * alone may replace it, after copying a store from a peer); other threads
 * use the host_shard_* functions, which hold it safely. NULL for a remote
 * shard. */
shard *host_shard_shard(host_shard *s);
uint64_t host_shard_group(const host_shard *s);
uint32_t host_shard_dim(const host_shard *s); /* the vectors' dimension */

/* The shard of a point: a stable hash of its id modulo shard_number. */
uint32_t host_shard_of(const point_id *id, uint32_t shard_number);

/* Cluster: opens replica `group` (a shard of c) in a Raft group of several
 * members, without waiting for a leader. members[0..n) are the group's
 * initial voters (this node among them) when the replica is one of those
 * the collection was created with: a new replica directory is then
 * bootstrapped with them, as on every founding member. members NULL: the
 * replica joins an existing group (the leader adds it). Already hosted:
 * 0. Errors: INVALID, NOMEM, IO, CORRUPT. */
int host_ensure_replica(host *h, const pd_collection *c, uint64_t group,
                        const vxr_member *members, size_t n,
                        vectron_error *err);

/* Closes hosted replica `group` (waiting for its readers and writers) and
 * deletes its store and Raft data. Not hosted: 0. */
int host_remove_replica(host *h, uint64_t group, vectron_error *err);

/* The hosted groups' ids (vx_malloc'd array, caller frees; *n may be 0).
 * Errors: NOMEM. */
int host_groups(host *h, uint64_t **out, size_t *n, vectron_error *err);

/* One hosted replica's figures (for heartbeats, status pages, metrics). */
typedef struct host_report {
    uint64_t group;
    int role; /* VXR_STATE_* */
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index; /* the shard store's */
    uint64_t leader_id;     /* 0: unknown */
    uint64_t points;
    uint64_t pending;      /* applied, not yet in the HNSW graph */
    uint64_t bytes;        /* allocated bytes of the shard's directory (store
                              files and index checkpoint) */
    uint64_t store_bytes;  /* bytes of the store in use */
    uint64_t index_points; /* points in the HNSW graph */
    uint64_t index_bytes;  /* memory the HNSW graph holds */
    uint64_t raft_applied; /* last Raft index applied (barriers too) */
    unsigned n_voters;     /* voters in the group's configuration */
    int have_raft;         /* the Raft fields are known */
} host_report;

/* Fills *out for hosted replica `group`. Errors: NOT_FOUND (not hosted),
 * or the Raft status errors (the group is closing). */
int host_report_of(host *h, uint64_t group, host_report *out,
                   vectron_error *err);

/* ---- writes ------------------------------------------------------------ */

/* Replicates n commands, command i to shard s[i], all in flight at once.
 * wait: return once every command is applied (then *completed is 1); else
 * return once they are handed to Raft (*completed 0: acknowledged, not yet
 * durable). *op_index gets the highest Raft index (wait) or 0. Errors:
 * INVALID (a command was rejected by the state machine), TIMEOUT (outcome
 * unknown), UNAVAILABLE (no leader / shutting down), NOMEM. */
int host_write(host *h, size_t n, host_shard *const *s,
               const uint8_t *const *bufs, const size_t *lens, int wait,
               unsigned timeout_ms, uint64_t *op_index, int *completed,
               vectron_error *err);

/* Waits until shard s has applied every entry committed before the call
 * (a Raft barrier on the leader): a linearizable read point. */
int host_barrier(host *h, host_shard *s, unsigned timeout_ms,
                 vectron_error *err);

/* ---- reads ------------------------------------------------------------- */

typedef struct host_search {
    const float *vector; /* dim floats */
    uint32_t k;          /* results wanted */
    uint32_t ef;         /* 0: max(k, default) */
    int exact;
    const gw_filter *filter; /* NULL: none */
    int rescore;             /* -1: default (on) */
    float oversampling;      /* 0: default */
    float exact_selectivity; /* < 0: default */
    const point_id *exclude; /* NULL, or a point to leave out */
    /* host_search_all on remote shards: the time the whole scatter may
     * take (0: the host's RPC timeout), and where to record the shards
     * that could not answer in it (missed[i] = 1, counts[i] = 0; the
     * others' hits are kept). missed NULL: the first shard that fails
     * fails the search. Local shards always answer. */
    unsigned timeout_ms;
    unsigned char *missed;
} host_search;

/* Searches one shard (graph ∪ pending), planning the filter with the
 * shard's payload indexes. out has room for rq->k hits. */
int host_shard_search(host_shard *s, const host_search *rq, shard_hit *out,
                      size_t *n_out, vectron_error *err);

/* Searches the n shards s[0..n) with the same request: shard i's hits go
 * to out[i * rq->k ..] and their number to counts[i]. Local shards are
 * searched one after the other; remote ones all at once (one RPC each, in
 * flight together; a failed one is retried with fail-over). */
int host_search_all(host_shard *const *s, size_t n, const host_search *rq,
                    shard_hit *out, size_t *counts, vectron_error *err);

/* Calls fn for the points of shard s matching filter (NULL: all), in id
 * order from `from` (NULL: the start), until fn returns STORE_SCAN_STOP or
 * an error (see store_scan). The point view includes the payload text. */
int host_shard_scan(host_shard *s, const gw_filter *filter,
                    const point_id *from, store_point_fn fn, void *arg,
                    vectron_error *err);

/* Counts the points of shard s matching filter (NULL: all). */
int host_shard_count(host_shard *s, const gw_filter *filter, uint64_t *out,
                     vectron_error *err);

/* Serving a store copy to a peer (the control service's store-copy
 * method): host_copy_begin makes a consistent copy of replica group's
 * store (blocking: an RPC pool thread) and returns its id, size and
 * applied index; host_copy_read reads up to max bytes at offset into buf
 * (*total: the copy's size; *last when it reaches the end, which also
 * deletes the copy). Copies
 * not read for 10 minutes are deleted. Errors: NOT_FOUND (no such replica
 * or copy), IO, NOMEM. */
int host_copy_begin(host *h, uint64_t group, uint64_t *id, uint64_t *size,
                    uint64_t *applied, vectron_error *err);
int host_copy_read(host *h, uint64_t id, uint64_t offset, uint8_t *buf,
                   size_t max, size_t *n, uint64_t *total, int *last,
                   vectron_error *err);

/* The applied Raft index of a local replica's store. For a remote shard,
 * the best this gateway knows without asking: the highest of the leader's
 * applied index in the PD's last report and the index of this gateway's
 * own last acknowledged write to it (a lower bound, up to one heartbeat
 * old for writes through other gateways). */
uint64_t host_shard_applied(host_shard *s);

/* The placement epoch (conf_epoch) of a hosted replica's group, as this
 * worker last learned it from the PD's catalog (0: not yet known). The
 * setter keeps the highest it is given; no-op for a group not hosted. A
 * write naming an older epoch is refused as stale (docs/cluster.md), so
 * the gateway refreshes its routes. */
uint64_t host_shard_conf_epoch(host_shard *s);
void host_set_conf_epoch(host *h, uint64_t group, uint64_t epoch);

/* Bounded-staleness reads (docs/cluster.md): the reads through handle s
 * (remote) go only to a replica that applied at least index min (the
 * session token's); a replica behind answers UNAVAILABLE and the next
 * is asked, the leader last, retried within the RPC timeout. The handle
 * must be this caller's own (from host_acquire on a remote host). On a
 * local shard: a no-op (the caller compares host_shard_applied). */
void host_shard_set_min_applied(host_shard *s, uint64_t min);

/* The highest Raft index the reads and writes through handle s are known
 * to reflect: for a remote shard, the index its writes were acknowledged
 * at and the applied index of the replicas that answered its reads (0:
 * none yet); for a local shard, host_shard_applied. */
uint64_t host_shard_seen(host_shard *s);

/* ---- a gateway's remote view (host_remote.c) ---------------------------
 *
 * host_open_remote gives a host whose shards live on a cluster's workers:
 * the same host_acquire / host_write / host_shard_* calls then travel over
 * RPC. The host keeps `mirror` (a pd_catalog the caller owns) a copy of
 * the PD's catalog, refreshed every refresh_ms and whenever a call finds
 * its routing stale, and routes each call: writes to the group's leader
 * (following NOT_LEADER hints, retrying for up to 10 s: shard commands
 * are idempotent), strong reads to the leader (which runs the Raft
 * barrier), bounded reads (host_shard_set_min_applied) to a replica the PD
 * last heard reach the session index, else the leader, other reads to the
 * replica with the fewest calls in flight (searches: among those that
 * applied the gateway's own acknowledged writes, host_shard_applied). host_shard_shard returns NULL for a remote shard: use the
 * host_shard_* functions. */
typedef struct host_remote_options {
    struct rpc_client *rpc; /* borrowed */
    const char *pd;         /* PD members' RPC addresses, comma-separated */
    pd_catalog *mirror;     /* borrowed: replaced at each refresh */
    unsigned refresh_ms;    /* 0: 1000 */
    unsigned timeout_ms;    /* each RPC's deadline; 0: 5000 */
} host_remote_options;

/* Starts the refresh thread after a first catalog fetch (which may fail:
 * the thread keeps trying). Errors: INVALID (no PD), NOMEM, INTERNAL. */
int host_open_remote(const host_remote_options *o, host **out,
                     vectron_error *err);

/* 1 for a host from host_open_remote. */
int host_is_remote(const host *h);

/* Cluster: asks the PD to create the collection (it places the replicas)
 * and waits until every shard has a leader, at most timeout_ms. Errors:
 * the PD's (EXISTS, INVALID, UNAVAILABLE: too few workers), TIMEOUT. */
int host_remote_create(host *h, const char *name, const pd_collection_params *p,
                       unsigned timeout_ms, vectron_error *err);

/* Cluster: asks the PD to drop the collection. NOT_FOUND when unknown. */
int host_remote_drop(host *h, const char *name, unsigned timeout_ms,
                     vectron_error *err);

/* Cluster: forwards an API-key command (pd_cmd_key_create/revoke) to the
 * PD, then refreshes the mirror. Returns the apply outcome (EXISTS,
 * NOT_FOUND, ...) like a local commit. */
int host_remote_submit(host *h, const uint8_t *cmd, size_t len,
                       vectron_error *err);

/* Refetches the catalog now. */
int host_remote_refresh(host *h, vectron_error *err);

/* Reads point id of shard s into *out (owned by the caller:
 * store_point_clear). Errors: NOT_FOUND, and the store's. */
int host_shard_get(host_shard *s, const point_id *id, store_point *out,
                   vectron_error *err);

/* A payload index of a shard and the points it holds. */
typedef struct host_index_info {
    char *field; /* owned */
    store_index_type type;
    uint64_t points; /* 0 unless asked for */
} host_index_info;

/* What the collection-info endpoint shows of one shard. */
typedef struct host_shard_info {
    uint64_t points;
    uint64_t pending; /* applied, not yet in the HNSW graph */
    uint64_t applied_index;
    host_index_info *indexes; /* ordered by field; owned */
    size_t n_indexes;
} host_shard_info;

/* Fills *out (free with host_shard_info_clear); index_points: also count
 * the points under each index (a range scan per index). */
int host_shard_info_of(host_shard *s, int index_points, host_shard_info *out,
                       vectron_error *err);
void host_shard_info_clear(host_shard_info *info);

#endif
