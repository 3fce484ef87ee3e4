/*
 * host.c - hosting shard replicas: opening a shard with its Raft group
 * (one member, or a cluster's founding or joining member), the FSM adapter
 * (apply, snapshot manifest, restore, with catch-up from a store copy:
 * host_copy.c), replicated writes, reports, drop and garbage collection
 * of shard directories. The remote (gateway) variants of the public
 * functions are in host_remote.c.
 *
 * Threading: h->mu guards the list of hosted shards and their reference
 * counts; h->cv signals a count reaching zero (a drop waits for it). FSM
 * callbacks run on the Raft loop thread; host_write's completion callbacks
 * too, and they only signal a condition variable. A shard's swap lock
 * keeps readers off its shard while a copied store is swapped in; its
 * apply lock serialises apply with that swap.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "worker/host.h"
#include "worker/host_int.h"

#define LOG "host"

/* Shard snapshot manifest: docs/formats/shard-snapshot.md. */
#define MANIFEST_MAGIC 0x4d535856u /* "VXSM" */
#define MANIFEST_VERSION 2
#define MANIFEST_V1_SIZE 40
#define MANIFEST_FIXED 37 /* the v1 fields + the source address length */

/* Saves s's graph if it applied writes since its last checkpoint. */
static void checkpoint_one(host_shard *s)
{
    if (atomic_load(&s->stale))
        return; /* replaced by a store copy: the copier swaps it out under
                   the swap lock, which a checkpoint would hold up */
    pthread_rwlock_rdlock(&s->swap);
    uint64_t applied = shard_applied_index(s->sh);
    if (applied == s->checkpointed) {
        pthread_rwlock_unlock(&s->swap);
        return;
    }
    vectron_error err = {0};
    size_t n = 0;
    if (shard_checkpoint(s->sh, &n, &err) == 0) {
        s->checkpointed = applied;
        vx_log(VECTRON_LOG_DEBUG, LOG,
               "group=%" PRIu64 " checkpoint points=%zu applied=%" PRIu64,
               s->group, n, applied);
    } else {
        vx_log(VECTRON_LOG_WARN, LOG, "group=%" PRIu64 " %s", s->group,
               err.msg);
    }
    pthread_rwlock_unlock(&s->swap);
}

static void *checkpoint_main(void *arg)
{
    host *h = arg;
    pthread_setname_np(pthread_self(), "vx-checkpoint");
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        vx_timespec_add_ms(&deadline, h->o.checkpoint_interval_ms);
        while (!h->stop && pthread_cond_timedwait(&h->cv_stop, &h->mu,
                                                  &deadline) != ETIMEDOUT)
            ;
        if (h->stop)
            break;
        /* Pin the shards, then save them without holding the lock. */
        size_t n = 0;
        for (host_shard *s = h->list; s; s = s->next)
            n += !s->dropping;
        host_shard **pinned = n ? vx_calloc(n, sizeof(*pinned)) : NULL;
        size_t k = 0;
        for (host_shard *s = h->list; pinned && s; s = s->next)
            if (!s->dropping) {
                s->refs++;
                pinned[k++] = s;
            }
        pthread_mutex_unlock(&h->mu);
        for (size_t i = 0; i < k; i++) {
            checkpoint_one(pinned[i]);
            host_release(pinned[i]);
        }
        vx_free(pinned);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ------------------------------------------------------------- the fsm */

void host_apply_entry(host_shard *s, shard *sh, uint64_t index, const void *buf,
                      size_t len, int64_t *result)
{
    vectron_error err = {0};
    int rc = shard_apply(sh, index, buf, len, &err);
    if (rc == VECTRON_INVALID || rc == VECTRON_DIMENSION) {
        /* Deterministically rejected on every replica; the submitter gets
         * the code. The gateway validates first, so this is rare. */
        vx_log(VECTRON_LOG_WARN, LOG,
               "group=%" PRIu64 " index=%" PRIu64 " rejected: %s", s->group,
               index, err.msg);
        *result = rc;
    } else if (rc) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "shard group %" PRIu64 ": cannot apply entry %" PRIu64 ": %s",
                 s->group, index, err.msg);
        s->h->o.fatal(s->h->o.fatal_arg, msg);
        *result = rc;
    }
}

static void fsm_apply(void *ctx, uint64_t index, const void *buf, size_t len,
                      int64_t *result)
{
    host_shard *s = ctx;
    *result = 0;
    pthread_mutex_lock(&s->apply_mu);
    if (s->behind)
        hc_defer(s, index, buf, len); /* a store copy is on its way */
    else
        host_apply_entry(s, s->sh, index, buf, len, result);
    pthread_mutex_unlock(&s->apply_mu);
}

static int fsm_snapshot(void *ctx, uint64_t index, void **buf, size_t *len,
                        vectron_error *err)
{
    host_shard *s = ctx;
    store *st;
    uint64_t applied, count;
    int rc;
    /* While catching up from a store copy, the committed entries since
     * the last snapshot live only in the log and in memory: no snapshot
     * (libraft would drop that log) until the copy is in. */
    pthread_mutex_lock(&s->apply_mu);
    uint64_t behind = s->behind;
    pthread_mutex_unlock(&s->apply_mu);
    if (behind)
        return vx_err(err, VECTRON_UNAVAILABLE,
                      "shard group %" PRIu64 ": no snapshot while catching up",
                      s->group);
    /* Only now: the copier swaps s->sh under apply_mu, and no other swap
     * can come before this returns (a restore runs on this thread). */
    st = shard_store(s->sh);
    /* libraft drops the log up to index once this returns: the store must
     * be durable first (DESIGN section 8). */
    if ((rc = store_sync(st, err)) ||
        (rc = store_applied_index(st, NULL, &applied, err)) ||
        (rc = store_count(st, NULL, &count, err)))
        return vx_err_wrap(err, rc, "shard group %" PRIu64 " snapshot",
                           s->group);
    const char *src = s->h->o.rpc_address ? s->h->o.rpc_address : "";
    size_t al = strlen(src);
    if (al >= PD_ADDR_MAX)
        al = 0;
    size_t mlen = MANIFEST_FIXED + al + 4;
    uint8_t *m = vx_calloc(1, mlen);
    if (!m)
        return vx_err(err, VECTRON_NOMEM, "snapshot manifest");
    vx_put_u32(m, MANIFEST_MAGIC);
    m[4] = MANIFEST_VERSION;
    vx_put_u64(m + 8, s->group);
    vx_put_u64(m + 16, index);
    vx_put_u64(m + 24, applied);
    vx_put_u32(m + 32, (uint32_t)(count > UINT32_MAX ? UINT32_MAX : count));
    m[36] = (uint8_t)al;
    memcpy(m + MANIFEST_FIXED, src, al);
    vx_put_u32(m + mlen - 4, vx_crc32c(0, m, mlen - 4));
    *buf = m;
    *len = mlen;
    return 0;
}

static int fsm_restore(void *ctx, uint64_t index, const void *buf, size_t len,
                       vectron_error *err)
{
    host_shard *s = ctx;
    const uint8_t *m = buf;
    char source[PD_ADDR_MAX] = "";
    (void)index;
    if (len < MANIFEST_V1_SIZE || vx_get_u32(m) != MANIFEST_MAGIC)
        return vx_err(err, VECTRON_CORRUPT,
                      "shard group %" PRIu64 ": bad snapshot manifest",
                      s->group);
    if (m[4] == 1) {
        if (len != MANIFEST_V1_SIZE ||
            vx_crc32c(0, m, 36) != vx_get_u32(m + 36))
            return vx_err(err, VECTRON_CORRUPT,
                          "shard group %" PRIu64 ": bad snapshot manifest",
                          s->group);
    } else if (m[4] == MANIFEST_VERSION) {
        size_t al = m[36];
        if (al >= PD_ADDR_MAX || len != MANIFEST_FIXED + al + 4 ||
            vx_crc32c(0, m, len - 4) != vx_get_u32(m + len - 4) ||
            memchr(m + MANIFEST_FIXED, 0, al))
            return vx_err(err, VECTRON_CORRUPT,
                          "shard group %" PRIu64 ": bad snapshot manifest",
                          s->group);
        memcpy(source, m + MANIFEST_FIXED, al);
        source[al] = '\0';
    } else {
        return vx_err(err, VECTRON_UNSUPPORTED,
                      "shard group %" PRIu64 ": manifest version %u", s->group,
                      m[4]);
    }
    uint64_t group = vx_get_u64(m + 8), applied = vx_get_u64(m + 24);
    if (group != s->group)
        return vx_err(err, VECTRON_CORRUPT,
                      "shard group %" PRIu64 ": manifest of group %" PRIu64,
                      s->group, group);
    uint64_t have = shard_applied_index(s->sh);
    if (have < applied)
        /* The data the snapshot stands for is not in the local store: it
         * is copied from the replica that took the snapshot. */
        return hc_restore_behind(s, applied, source, err);
    return 0;
}

/* ------------------------------------------------------------ lifecycle */

int host_open(const host_options *o, host **out, vectron_error *err)
{
    if (!o || !o->data_dir || !o->node || !o->member_id || !o->fatal)
        return vx_err(err, VECTRON_INVALID, "host: bad options");
    if (strlen(o->data_dir) >= sizeof(((host *)0)->data_dir))
        return vx_err(err, VECTRON_INVALID, "host: data path too long");
    host *h = vx_calloc(1, sizeof(*h));
    if (!h)
        return vx_err(err, VECTRON_NOMEM, "host");
    h->o = *o;
    snprintf(h->data_dir, sizeof h->data_dir, "%s", o->data_dir);
    h->o.data_dir = h->data_dir;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    pthread_cond_init(&h->cv_stop, NULL);
    pthread_mutex_init(&h->copies_mu, NULL);
    if (o->checkpoint_interval_ms) {
        int rc = pthread_create(&h->checkpointer, NULL, checkpoint_main, h);
        if (rc) {
            pthread_mutex_destroy(&h->mu);
            pthread_cond_destroy(&h->cv);
            pthread_cond_destroy(&h->cv_stop);
            vx_free(h);
            return vx_err(err, VECTRON_INTERNAL, "checkpoint thread: %s",
                          strerror(rc));
        }
        h->have_checkpointer = 1;
    }
    hc_gc(h);
    *out = h;
    return 0;
}

/* Closes group g and waits for libraft to let go of its FSM. */
typedef struct closer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} closer;

static void on_closed(void *arg, const vxr_result *res)
{
    closer *c = arg;
    (void)res;
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void host_close_group(vxr_node *node, uint64_t group)
{
    closer c = {.done = 0};
    vectron_error err = {0};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    if (vxr_group_close(node, group, on_closed, &c, &err) == 0) {
        pthread_mutex_lock(&c.mu);
        while (!c.done)
            pthread_cond_wait(&c.cv, &c.mu);
        pthread_mutex_unlock(&c.mu);
    }
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
}

static void free_shard(host_shard *s)
{
    hc_shard_close(s);
    shard_close(s->sh);
    pthread_rwlock_destroy(&s->swap);
    pthread_mutex_destroy(&s->apply_mu);
    vx_free(s);
}

void host_close(host *h)
{
    if (h && h->remote) {
        hr_close(h->remote);
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
        pthread_cond_destroy(&h->cv_stop);
        vx_free(h);
        return;
    }
    if (!h)
        return;
    if (h->have_checkpointer) {
        pthread_mutex_lock(&h->mu);
        h->stop = 1;
        pthread_cond_signal(&h->cv_stop);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->checkpointer, NULL);
    }
    host_shard *s = h->list;
    while (s) {
        host_shard *next = s->next;
        host_close_group(h->o.node, s->group);
        if (h->o.checkpoint_interval_ms)
            checkpoint_one(s); /* the next start loads instead of building */
        free_shard(s);
        s = next;
    }
    hc_close(h);
    pthread_mutex_destroy(&h->copies_mu);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    pthread_cond_destroy(&h->cv_stop);
    vx_free(h);
}

static host_shard *find_locked(host *h, uint64_t group)
{
    for (host_shard *s = h->list; s; s = s->next)
        if (s->group == group)
            return s;
    return NULL;
}

host_shard *host_acquire(host *h, uint64_t group_id)
{
    if (h->remote)
        return hr_acquire(h, group_id);
    pthread_mutex_lock(&h->mu);
    host_shard *s = find_locked(h, group_id);
    if (s && s->dropping)
        s = NULL;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&h->mu);
    return s;
}

void host_release(host_shard *s)
{
    if (s->remote) {
        hr_release(s);
        return;
    }
    if (!s)
        return;
    host *h = s->h;
    pthread_mutex_lock(&h->mu);
    if (--s->refs == 0 && s->dropping)
        pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

shard *host_shard_shard(host_shard *s)
{
    return s->sh;
}

uint32_t host_shard_dim(const host_shard *s)
{
    return s->dim;
}

uint64_t host_shard_group(const host_shard *s)
{
    return s->group;
}

uint32_t host_shard_of(const point_id *id, uint32_t shard_number)
{
    if (shard_number <= 1)
        return 0;
    uint8_t key[POINT_KEY_MAX];
    size_t n = point_id_key(id, key);
    return vx_crc32c(0, key, n) % shard_number;
}

static void shard_dir(const host *h, uint64_t group, char *out, size_t cap)
{
    snprintf(out, cap, "%s/shards/%" PRIu64, h->data_dir, group);
}

static void raft_dir(const host *h, uint64_t group, char *out, size_t cap)
{
    snprintf(out, cap, "%s/raft/%" PRIu64, h->data_dir, group);
}

/* Waits until the group leads and has applied its whole log: a barrier,
 * retried while the single member elects itself. */
int host_wait_group_ready(vxr_node *node, uint64_t group, unsigned timeout_ms,
                          vectron_error *err)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        vxr_request rq = {.type = VXR_OP_BARRIER, .group_id = group};
        vxr_result res;
        int rc = vxr_submit_wait(node, &rq, timeout_ms, &res, err);
        if (rc == 0)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - start.tv_sec) * 1000 +
                  (now.tv_nsec - start.tv_nsec) / 1000000;
        if ((rc != VXR_NOT_LEADER && rc != VXR_LEADERSHIP_LOST) ||
            ms >= (long)timeout_ms)
            return vx_err_wrap(err, VECTRON_UNAVAILABLE,
                               "group %" PRIu64 " not ready", group);
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

/* Opens shard replica `group` of c and its Raft group: members[0..n) are
 * the initial voters (NULL: this node alone, as in `vectron serve`; n 0
 * with members non-NULL: a replica joining an existing group). wait: until
 * the group has a leader and this replica applied its log (timeout_ms). */
static int open_one(host *h, const pd_collection *c, uint64_t group,
                    const vxr_member *members, size_t n, int wait,
                    unsigned timeout_ms, vectron_error *err)
{
    host_shard *s = vx_calloc(1, sizeof(*s));
    int rc;
    if (!s)
        return vx_err(err, VECTRON_NOMEM, "host shard");
    s->h = h;
    s->group = group;
    s->dim = c->p.dim;
    shard_dir(h, group, s->dir, sizeof s->dir);
    hc_shard_gc(s);

    shard_params sp;
    memset(&sp, 0, sizeof sp);
    vectron_index_params_default(&sp.index, c->p.dim);
    sp.index.metric = c->p.metric;
    sp.index.quant = c->p.quant;
    if (c->p.m)
        sp.index.m = c->p.m;
    if (c->p.ef_construction)
        sp.index.ef_construction = c->p.ef_construction;
    sp.index.seed = group;
    sp.store = h->o.store;
    sp.indexer_nice = h->o.indexer_nice;
    s->params = sp;
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((rc = shard_open(s->dir, &sp, &s->sh, err))) {
        vx_free(s);
        return rc;
    }
    pthread_rwlock_init(&s->swap, NULL);
    pthread_mutex_init(&s->apply_mu, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    char addr[VXR_ADDRESS_MAX];
    snprintf(addr, sizeof addr, "%s", vxr_node_address(h->o.node));
    vxr_member self = {.id = h->o.member_id, .address = addr};
    vxr_fsm fsm = {.ctx = s,
                   .apply = fsm_apply,
                   .snapshot = fsm_snapshot,
                   .restore = fsm_restore};
    vxr_group_params gp = {.group_id = group,
                           .member_id = h->o.member_id,
                           .members = members ? members : &self,
                           .n_members = members ? n : 1,
                           .fsm = &fsm};
    if (members && n == 0)
        gp.members = NULL;
    if ((rc = vxr_group_create(h->o.node, &gp, err))) {
        free_shard(s);
        return rc;
    }
    pthread_mutex_lock(&h->mu);
    s->next = h->list;
    h->list = s;
    pthread_mutex_unlock(&h->mu);
    if (wait)
        rc = host_wait_group_ready(h->o.node, group, timeout_ms, err);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    vx_log(VECTRON_LOG_INFO, LOG,
           "group=%" PRIu64 " open: store+index %.2f s, raft log %.2f s", group,
           (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9,
           (double)(t2.tv_sec - t1.tv_sec) +
               (double)(t2.tv_nsec - t1.tv_nsec) * 1e-9);
    return rc;
}

int host_ensure(host *h, const pd_collection *c, unsigned timeout_ms,
                vectron_error *err)
{
    if (h->remote)
        return 0; /* the PD places replicas; the workers open them */
    for (uint32_t i = 0; i < c->p.shard_number; i++) {
        uint64_t group = c->first_group + i;
        host_shard *s = host_acquire(h, group);
        if (s) {
            host_release(s);
            continue;
        }
        int rc = open_one(h, c, group, NULL, 0, 1, timeout_ms, err);
        if (rc)
            return vx_err_wrap(err, rc, "collection %s shard %u", c->name, i);
    }
    return 0;
}

int host_ensure_replica(host *h, const pd_collection *c, uint64_t group,
                        const vxr_member *members, size_t n, vectron_error *err)
{
    host_shard *s = host_acquire(h, group);
    if (s) {
        host_release(s);
        return 0;
    }
    if (group < c->first_group || group >= c->first_group + c->p.shard_number)
        return vx_err(err, VECTRON_INVALID,
                      "group %" PRIu64 " is not a shard of %s", group, c->name);
    static const vxr_member none;
    int rc = open_one(h, c, group, members ? members : &none, members ? n : 0,
                      0, 0, err);
    if (rc)
        return vx_err_wrap(err, rc, "collection %s group %" PRIu64, c->name,
                           group);
    return 0;
}

int host_report_of(host *h, uint64_t group, host_report *out,
                   vectron_error *err)
{
    if (h->remote)
        return hr_report(h, group, out, err);
    host_shard *s = host_acquire(h, group);
    vxr_group_info gi;
    char path[PATH_MAX + 300];
    struct stat st;
    if (!s)
        return vx_err(err, VECTRON_NOT_FOUND,
                      "group %" PRIu64 " is not hosted here", group);
    memset(out, 0, sizeof *out);
    out->group = group;
    int rc = vxr_group_status(h->o.node, group, &gi, err);
    if (rc == 0) {
        out->role = gi.state;
        out->term = gi.term;
        out->commit_index = gi.commit_index;
        out->leader_id = gi.leader_id;
        out->raft_applied = gi.last_applied;
        out->n_voters = gi.n_voters;
        out->have_raft = 1;
    }
    pthread_rwlock_rdlock(&s->swap);
    out->applied_index = shard_applied_index(s->sh);
    out->pending = shard_pending(s->sh);
    store_count(shard_store(s->sh), NULL, &out->points, NULL);
    out->index_points = shard_index_points(s->sh);
    out->index_bytes = shard_index_memory(s->sh);
    out->store_bytes = store_used_bytes(shard_store(s->sh));
    pthread_rwlock_unlock(&s->swap);
    /* Allocated bytes of the files in the shard's directory (LMDB's map
     * is sparse: the allocation, not the file size). */
    DIR *d = opendir(s->dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            out->bytes += (uint64_t)st.st_blocks * 512u;
    }
    if (d)
        closedir(d);
    host_release(s);
    return rc;
}

int host_groups(host *h, uint64_t **out, size_t *n, vectron_error *err)
{
    if (h->remote)
        return hr_groups(h, out, n, err);
    pthread_mutex_lock(&h->mu);
    size_t k = 0;
    for (host_shard *s = h->list; s; s = s->next)
        k += !s->dropping;
    *out = vx_malloc((k ? k : 1) * sizeof **out);
    if (!*out) {
        pthread_mutex_unlock(&h->mu);
        return vx_err(err, VECTRON_NOMEM, "host groups");
    }
    k = 0;
    for (host_shard *s = h->list; s; s = s->next)
        if (!s->dropping)
            (*out)[k++] = s->group;
    pthread_mutex_unlock(&h->mu);
    *n = k;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        vx_log(VECTRON_LOG_WARN, LOG, "remove %s: %s", path, strerror(errno));
    return 0;
}

void host_remove_tree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int host_drop(host *h, const pd_collection *c, vectron_error *err)
{
    if (h->remote)
        return 0; /* the workers drop their replicas */
    for (uint32_t i = 0; i < c->p.shard_number; i++)
        host_remove_replica(h, c->first_group + i, err);
    return 0;
}

int host_remove_replica(host *h, uint64_t group, vectron_error *err)
{
    (void)err;
    pthread_mutex_lock(&h->mu);
    host_shard *s = find_locked(h, group);
    if (s) {
        s->dropping = 1;
        while (s->refs > 0)
            pthread_cond_wait(&h->cv, &h->mu);
        host_shard **pp = &h->list;
        while (*pp != s)
            pp = &(*pp)->next;
        *pp = s->next;
    }
    pthread_mutex_unlock(&h->mu);
    if (s) {
        host_close_group(h->o.node, group);
        free_shard(s);
    }
    char dir[PATH_MAX];
    shard_dir(h, group, dir, sizeof dir);
    host_remove_tree(dir);
    raft_dir(h, group, dir, sizeof dir);
    host_remove_tree(dir);
    return 0;
}

static int group_wanted(uint64_t g, const pd_collection *cols, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (g >= cols[i].first_group &&
            g < cols[i].first_group + cols[i].p.shard_number)
            return 1;
    return 0;
}

static void gc_dir(host *h, const char *sub, const pd_collection *cols,
                   size_t n)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", h->data_dir, sub);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        errno = 0;
        unsigned long long g = strtoull(e->d_name, &end, 10);
        if (*end || errno || end == e->d_name || g < PD_FIRST_SHARD_GROUP ||
            group_wanted(g, cols, n))
            continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        vx_log(VECTRON_LOG_INFO, LOG, "removing leftover shard data %s", path);
        host_remove_tree(path);
    }
    closedir(d);
}

int host_gc(host *h, const pd_collection *cols, size_t n, vectron_error *err)
{
    if (h->remote)
        return 0;
    (void)err;
    gc_dir(h, "shards", cols, n);
    gc_dir(h, "raft", cols, n);
    return 0;
}

/* --------------------------------------------------------------- writes */

typedef struct write_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t left;
    int refs; /* the waiter + callbacks outstanding */
    int status;
    int64_t value;
    uint64_t index;
    vectron_error err;
} write_wait;

static void wait_unref(write_wait *w)
{
    /* Called with w->mu held; frees w when nobody needs it any more. */
    if (--w->refs == 0) {
        pthread_mutex_unlock(&w->mu);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        vx_free(w);
        return;
    }
    pthread_mutex_unlock(&w->mu);
}

static void on_written(void *arg, const vxr_result *res)
{
    write_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    if (res->status && !w->status) {
        w->status = res->status;
        w->err = res->error;
    }
    if (!res->status && res->value && !w->value) {
        w->value = res->value;
    }
    if (res->index > w->index)
        w->index = res->index;
    if (--w->left == 0)
        pthread_cond_broadcast(&w->cv);
    wait_unref(w);
}

/* Maps a Raft status (VXR_*, negative) to a Vectron code. err may carry
 * the status as its code (the op's message): it is replaced, since
 * vx_err_wrap keeps a code already set and a VXR_* code means nothing to
 * callers (a gateway would answer it as an internal error, 500, instead
 * of retrying a NOT_LEADER refusal elsewhere). */
static int map_status(int st, vectron_error *err)
{
    int code = st > 0 ? st : VECTRON_INTERNAL;
    const char *what = NULL;
    switch (st) {
    case VXR_NOT_LEADER:
    case VXR_SHUTDOWN:
        code = VECTRON_UNAVAILABLE;
        what = "write";
        break;
    case VXR_LEADERSHIP_LOST:
    case VXR_TIMEOUT:
        code = VECTRON_TIMEOUT;
        what = "write outcome unknown (it may still be applied)";
        break;
    default:
        break;
    }
    if (err && err->code != VECTRON_OK)
        err->code = code;
    return what ? vx_err_wrap(err, code, "%s", what) : code;
}

/* Backpressure: waits (up to timeout_ms) while max_pending writes of s
 * wait for its indexer, so that brute-force search over the pending
 * buffer stays bounded when writes outrun graph inserts. Applied where
 * writes enter (the leader); followers apply what is committed. */
static int hold_back(host *h, host_shard *s, unsigned timeout_ms,
                     vectron_error *err)
{
    pthread_rwlock_rdlock(&s->swap);
    int rc = shard_wait_pending_below(s->sh, h->o.max_pending, timeout_ms, err);
    pthread_rwlock_unlock(&s->swap);
    if (rc)
        rc = vx_err_wrap(err, VECTRON_UNAVAILABLE,
                         "group %" PRIu64 ": the index is behind by "
                         "index-max-pending writes; retry later",
                         s->group);
    return rc;
}

int host_write(host *h, size_t n, host_shard *const *s,
               const uint8_t *const *bufs, const size_t *lens, int wait,
               unsigned timeout_ms, uint64_t *op_index, int *completed,
               vectron_error *err)
{
    if (h->remote)
        return hr_write(h, n, s, bufs, lens, wait, timeout_ms, op_index,
                        completed, err);
    *op_index = 0;
    *completed = 0;
    if (n == 0) {
        *completed = 1;
        return 0;
    }
    int rc = 0;
    for (size_t i = 0; i < n && h->o.max_pending && !rc; i++)
        rc = hold_back(h, s[i], timeout_ms, err);
    if (rc)
        return rc;
    write_wait *w = vx_calloc(1, sizeof(*w));
    if (!w)
        return vx_err(err, VECTRON_NOMEM, "write");
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->refs = 1;
    for (size_t i = 0; i < n; i++) {
        vxr_request rq = {.type = VXR_OP_APPLY,
                          .group_id = s[i]->group,
                          .buf = bufs[i],
                          .len = lens[i]};
        pthread_mutex_lock(&w->mu);
        w->refs++;
        w->left++;
        pthread_mutex_unlock(&w->mu);
        if ((rc = vxr_submit(h->o.node, &rq, on_written, w, err))) {
            pthread_mutex_lock(&w->mu);
            w->refs--;
            w->left--;
            pthread_mutex_unlock(&w->mu);
            rc = map_status(rc, err);
            break;
        }
    }
    if (rc || !wait) {
        pthread_mutex_lock(&w->mu);
        wait_unref(w);
        return rc;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    vx_timespec_add_ms(&deadline, timeout_ms);
    pthread_mutex_lock(&w->mu);
    while (w->left > 0) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &deadline) == ETIMEDOUT)
            break;
    }
    if (w->left > 0) {
        rc = vx_err(err, VECTRON_TIMEOUT,
                    "write not applied within %u ms (it may still be)",
                    timeout_ms);
    } else if (w->status) {
        *err = w->err;
        rc = map_status(w->status, err);
    } else if (w->value) {
        rc = vx_err(err, (int)w->value, "the shard rejected the write");
    } else {
        *op_index = w->index;
        *completed = 1;
    }
    wait_unref(w);
    return rc;
}

int host_barrier(host *h, host_shard *s, unsigned timeout_ms,
                 vectron_error *err)
{
    if (s->remote) {
        /* The strong read goes to the leader, which runs the barrier
         * itself before reading (shard service). */
        (void)h;
        (void)timeout_ms;
        (void)err;
        s->consistency = PD_READ_STRONG;
        return 0;
    }
    vxr_request rq = {.type = VXR_OP_BARRIER, .group_id = s->group};
    vxr_result res;
    int rc = vxr_submit_wait(h->o.node, &rq, timeout_ms, &res, err);
    return rc ? map_status(rc, err) : 0;
}
