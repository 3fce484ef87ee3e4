/*
 * host_int.h - the host module's internals shared by its files: the host
 * and hosted-shard structs, and the remote (gateway) side implemented in
 * host_remote.c, which the public host_* functions dispatch to when the
 * host was opened with host_open_remote.
 *
 * Threading: as host.h.
 */
#ifndef VECTRON_WORKER_HOST_INT_H
#define VECTRON_WORKER_HOST_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "pd/catalog.h"
#include "worker/host.h"

/* Where a group's replicas are, as the gateway last learned it. */
typedef struct hr_route {
    uint64_t group;
    uint32_t dim;
    uint64_t leader; /* node id; 0 unknown */
    uint64_t conf_epoch; /* the placement's epoch (writes carry it) */
    uint32_t n;
    uint64_t ids[PD_MAX_REPLICAS];
    char addr[PD_MAX_REPLICAS][PD_ADDR_MAX]; /* RPC addresses */
    uint64_t acked; /* highest index this gateway's writes were acked at */
    /* The PD's latest figures of each replica (heartbeats); have: 0 when
     * the replica has not reported. */
    struct {
        int have, role;
        uint64_t term, commit_index, applied_index, points, bytes;
    } rep[PD_MAX_REPLICAS];
} hr_route;

typedef struct hr_state hr_state;

struct host_shard {
    host *h;
    host_shard *next;
    uint64_t group;
    uint32_t dim; /* the collection's vector dimension */
    shard *sh;
    int refs;              /* guarded by h->mu */
    int dropping;          /* guarded by h->mu */
    uint64_t checkpointed; /* applied index at the last checkpoint; only
                              the checkpoint thread (then host_close) */
    char dir[PATH_MAX];
    /* The shard's parameters, to open a copied store (host_copy.c). */
    shard_params params;
    /* Readers of sh (other threads) hold it shared; restoring a store
     * copied from a peer swaps sh under it exclusively. */
    pthread_rwlock_t swap;
    /* Catching up from a store copy (host_copy.c). A snapshot restore
     * whose store index is ahead of the local store sets `behind` to that
     * index and starts the copier thread; until the copy is swapped in,
     * committed entries are kept in `deferred` (they are in the Raft log
     * too) and reads answer UNAVAILABLE (`stale`). apply_mu serialises
     * the FSM's apply (loop thread) with the copier's swap. */
    pthread_mutex_t apply_mu;
    uint64_t behind;                           /* under apply_mu; 0: current */
    atomic_int stale;                          /* readers: behind != 0 */
    struct hc_entry *deferred, *deferred_tail; /* under apply_mu */
    size_t deferred_bytes;                     /* memory and spill file */
    size_t deferred_n;                         /* entries, the same */
    /* Beyond hc_defer_mem_max bytes in memory, the next entries go to an
     * append-only file, <dir>.deferred (docs/formats/deferred-spill.md),
     * replayed after the list; under apply_mu. */
    size_t deferred_mem;
    int spilling; /* spill_fd is open */
    int spill_fd;
    uint64_t spill_n; /* entries in the file */
    pthread_t copier;
    int have_copier;        /* under apply_mu */
    atomic_int copying;     /* the copier thread runs */
    atomic_int copy_cancel; /* closing: the copier stops */
    uint64_t copy_started;  /* monotonic s of the last start (retries) */
    char copy_source[PD_ADDR_MAX];
    _Atomic uint64_t conf_epoch; /* host_set_conf_epoch; 0: unknown */
    /* A remote replica set (a gateway's view: host_remote.c). */
    int remote;
    hr_route rt;          /* the group's route when acquired */
    uint32_t consistency; /* reads: PD_READ_STRONG after host_barrier,
                             PD_READ_BOUNDED after host_shard_set_min_applied,
                             else 0 (eventual) */
    uint64_t min_applied; /* bounded reads: the session token's index */
    unsigned timeout_ms;  /* this handle's read calls; 0: the host's */
    /* The highest Raft index this handle's writes were acknowledged at and
     * its reads' replicas had applied (host_shard_seen). */
    _Atomic uint64_t seen;
};

struct host {
    host_options o;
    char data_dir[PATH_MAX - 64]; /* room for "/shards/<group>" */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    host_shard *list;
    /* The checkpoint thread; stop and cv_stop under mu. */
    pthread_t checkpointer;
    int have_checkpointer;
    int stop;
    pthread_cond_t cv_stop;
    hr_state *remote; /* non-NULL: a gateway's remote view */
    /* Store copies this node serves to peers (host_copy.c). */
    pthread_mutex_t copies_mu;
    struct hc_copy *copies;
    uint64_t next_copy;
};

/* ---- store copies between replicas (host_copy.c) ------------------------ */

/* Restore of a snapshot whose store index `need` is ahead of the local
 * store (loop thread): enters catch-up (see host_shard.behind) and starts
 * copying the store from `source` (an RPC address). Errors: UNSUPPORTED
 * (no source known, or no RPC client: `vectron serve`). */
int hc_restore_behind(host_shard *s, uint64_t need, const char *source,
                      vectron_error *err);

/* Keeps a committed entry for after the swap (apply_mu held); restarts a
 * failed copy (at most once a second). */
void hc_defer(host_shard *s, uint64_t index, const void *buf, size_t len);

/* Applies one committed entry to sh: s->sh (apply_mu held), or the
 * copier's not yet swapped-in copy of it. */
void host_apply_entry(host_shard *s, shard *sh, uint64_t index, const void *buf,
                      size_t len, int64_t *result);

/* Memory the entries deferred during a store copy may take per shard
 * before the next ones spill to a file (tests lower it), and the number
 * of entries spilled since start (tests). */
#define HC_DEFER_MEM_MAX ((size_t)64 << 20)
extern size_t hc_defer_mem_max;
extern _Atomic uint64_t hc_spilled;
/* The copier catches up off apply_mu while more than this many entries or
 * bytes are deferred (tests lower them). */
#define HC_TAIL_ENTRIES 32
#define HC_TAIL_BYTES ((size_t)256 << 10)
extern size_t hc_tail_entries, hc_tail_bytes;
/* Tests: the copier waits this long before catching up (0: not at all). */
extern unsigned hc_test_swap_delay_ms;

/* Removes what a previous run may have left beside the shard's directory
 * (an incoming copy, a spill file) (opening the shard). */
void hc_shard_gc(host_shard *s);

/* Joins a copier thread and removes a leftover incoming copy (closing). */
void hc_shard_close(host_shard *s);

/* Removes every copy a previous run left in <data>/copies (open). */
void hc_gc(host *h);

/* Frees the served copies (close). */
void hc_close(host *h);

void host_remove_tree(const char *dir);

/* ---- remote side (host_remote.c) ---------------------------------------- */

void hr_close(hr_state *r);
host_shard *hr_acquire(host *h, uint64_t group);
void hr_release(host_shard *s);
int hr_write(host *h, size_t n, host_shard *const *s,
             const uint8_t *const *bufs, const size_t *lens, int wait,
             unsigned timeout_ms, uint64_t *op_index, int *completed,
             vectron_error *err);
int hr_search(host_shard *s, const host_search *rq, shard_hit *out,
              size_t *n_out, vectron_error *err);
int hr_scan(host_shard *s, const gw_filter *filter, const point_id *from,
            store_point_fn fn, void *arg, vectron_error *err);
int hr_count(host_shard *s, const gw_filter *filter, uint64_t *out,
             vectron_error *err);
int hr_get(host_shard *s, const point_id *id, store_point *out,
           vectron_error *err);
int hr_info(host_shard *s, int index_points, host_shard_info *out,
            vectron_error *err);
int hr_report(host *h, uint64_t group, host_report *out, vectron_error *err);
int hr_groups(host *h, uint64_t **out, size_t *n, vectron_error *err);
uint64_t hr_applied(host_shard *s);

#endif
