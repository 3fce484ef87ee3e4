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

#include "pd/catalog.h"
#include "worker/host.h"

/* Where a group's replicas are, as the gateway last learned it. */
typedef struct hr_route {
    uint64_t group;
    uint32_t dim;
    uint64_t leader; /* node id; 0 unknown */
    uint32_t n;
    uint64_t ids[PD_MAX_REPLICAS];
    char addr[PD_MAX_REPLICAS][PD_ADDR_MAX]; /* RPC addresses */
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
    /* A remote replica set (a gateway's view: host_remote.c). */
    int remote;
    hr_route rt;          /* the group's route when acquired */
    uint32_t consistency; /* reads: PD_READ_*, 0 = eventual */
    uint64_t min_applied; /* bounded reads */
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
};

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

#endif
