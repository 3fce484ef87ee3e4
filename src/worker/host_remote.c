/*
 * host_remote.c - a gateway's remote view of a cluster's shards (host.h,
 * "a gateway's remote view"): the catalog mirror and routing table,
 * refreshed from the PD, and the host_* operations as RPC calls to the
 * workers' shard service.
 *
 * Threading: any number of caller threads; the refresh thread replaces
 * the routing table under r->lock (a rwlock: calls read it); in-flight
 * counters per node are atomics.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/json.h"
#include "pd/pd_proto.h"
#include "proto/vectron.pb-c.h"
#include "rpc/methods.h"
#include "rpc/rpc_proto.h"
#include "rpc/rpc.h"
#include "worker/host_int.h"

#define LOG "router"
#define MAX_PD 16
#define LOAD_SLOTS 256u
/* Writes are retried (leader changes, unreachable replicas) for this long
 * at most, within the request's own timeout: enough for an election. */
#define WRITE_RETRY_MS 10000u
#define SCAN_PAGE 256u

typedef struct node_load {
    _Atomic uint64_t id; /* 0: free slot */
    atomic_int inflight;
} node_load;

struct hr_state {
    host_remote_options o;
    char *pd_list;
    char *pd[MAX_PD];
    size_t npd;
    atomic_size_t pd_at;

    pthread_rwlock_t lock; /* routes, epoch */
    hr_route *routes;      /* sorted by group */
    size_t nroutes;
    uint64_t epoch;

    node_load load[LOAD_SLOTS];
    atomic_uint rr;

    pthread_mutex_t mu; /* refresh thread stop, and one refresh at a time */
    pthread_mutex_t refresh_mu;
    pthread_cond_t cv;
    int stop;
    pthread_t thread;
    int have_thread;
};

/* ------------------------------------------------------------- calls */

/* Calls the PD leader (any member; NOT_LEADER and failures move on). */
static int pd_call(host *h, uint16_t method, const ProtobufCMessage *msg,
                   rpc_result *out, vectron_error *err)
{
    hr_state *r = h->remote;
    size_t at = atomic_load(&r->pd_at);
    int rc = rpc_call_leader(r->o.rpc, r->pd, r->npd, at, &at, method, msg,
                             r->o.timeout_ms, out, err);
    if (rc == 0)
        atomic_store(&r->pd_at, at);
    return rc;
}

static node_load *load_of(hr_state *r, uint64_t id)
{
    size_t at = (size_t)(vx_mix64(id) % LOAD_SLOTS);
    for (size_t k = 0; k < LOAD_SLOTS; k++) {
        node_load *l = &r->load[(at + k) % LOAD_SLOTS];
        uint64_t cur = atomic_load(&l->id);
        if (cur == id)
            return l;
        if (cur == 0) {
            uint64_t zero = 0;
            if (atomic_compare_exchange_strong(&l->id, &zero, id) || zero == id)
                return l;
        }
    }
    return &r->load[at]; /* full: share a slot (only skews the choice) */
}

/* ------------------------------------------------------------ refresh */

static int route_cmp(const void *a, const void *b)
{
    const hr_route *x = a, *y = b;
    return x->group < y->group ? -1 : x->group > y->group;
}

static int coll_cmp(const void *a, const void *b)
{
    return strcmp(((const pd_collection *)a)->name,
                  ((const pd_collection *)b)->name);
}

static int node_cmp(const void *a, const void *b)
{
    const pd_node *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const pd_api_key *)a)->id, ((const pd_api_key *)b)->id);
}

static int pl_cmp(const void *a, const void *b)
{
    const pd_placement *x = a, *y = b;
    return x->group < y->group ? -1 : x->group > y->group;
}

/* Installs a fetched catalog: the mirror and the routing table. */
static int install(host *h, const Vectron__GetCatalogResponse *cat,
                   vectron_error *err)
{
    hr_state *r = h->remote;
    size_t nroutes = 0, npl = 0;
    for (size_t i = 0; i < cat->n_collections; i++)
        nroutes += cat->collections[i]->n_shards;
    pd_collection *cols = vx_calloc(cat->n_collections + 1, sizeof *cols);
    pd_node *nodes = vx_calloc(cat->n_nodes + 1, sizeof *nodes);
    pd_placement *pls = vx_calloc(nroutes + 1, sizeof *pls);
    hr_route *routes = vx_calloc(nroutes + 1, sizeof *routes);
    pd_api_key *keys = NULL;
    size_t ncols = 0, nkeys = 0;
    int rc = 0;
    if (!cols || !nodes || !pls || !routes) {
        rc = vx_err(err, VECTRON_NOMEM, "catalog mirror");
        goto out;
    }
    for (size_t i = 0; i < cat->n_nodes; i++) {
        const Vectron__NodeInfo *ni = cat->nodes[i];
        nodes[i].id = ni->id;
        nodes[i].state = (uint8_t)ni->state;
        snprintf(nodes[i].raft_addr, PD_ADDR_MAX, "%s",
                 ni->raft_address ? ni->raft_address : "");
        snprintf(nodes[i].rpc_addr, PD_ADDR_MAX, "%s",
                 ni->rpc_address ? ni->rpc_address : "");
    }
    qsort(nodes, cat->n_nodes, sizeof *nodes, node_cmp);
    nroutes = 0;
    for (size_t i = 0; i < cat->n_collections; i++) {
        const Vectron__CatalogCollection *cm = cat->collections[i];
        if (pd_collection_from_proto(cm, &cols[ncols], NULL))
            continue;
        for (size_t k = 0; k < cm->n_shards; k++) {
            const Vectron__ShardPlacement *sp = cm->shards[k];
            if (sp->n_replicas == 0 || sp->n_replicas > PD_MAX_REPLICAS)
                continue;
            pd_placement *pl = &pls[npl++];
            hr_route *rt = &routes[nroutes++];
            pl->group = rt->group = sp->group;
            pl->conf_epoch = sp->conf_epoch;
            pl->n = rt->n = (uint32_t)sp->n_replicas;
            rt->dim = cols[ncols].p.dim;
            rt->leader = sp->leader;
            rt->conf_epoch = sp->conf_epoch;
            for (size_t j = 0; j < sp->n_replicas; j++) {
                pl->replicas[j] = rt->ids[j] = sp->replicas[j];
                for (size_t x = 0; x < sp->n_reports; x++) {
                    const Vectron__ShardReport *rp = sp->reports[x];
                    if (rp->node_id != sp->replicas[j])
                        continue;
                    rt->rep[j].have = 1;
                    rt->rep[j].role = (int)rp->role;
                    rt->rep[j].term = rp->term;
                    rt->rep[j].commit_index = rp->commit_index;
                    rt->rep[j].applied_index = rp->applied_index;
                    rt->rep[j].points = rp->points;
                    rt->rep[j].bytes = rp->bytes;
                }
                for (size_t x = 0; x < cat->n_nodes; x++)
                    if (cat->nodes[x]->id == sp->replicas[j])
                        snprintf(rt->addr[j], PD_ADDR_MAX, "%s",
                                 cat->nodes[x]->rpc_address
                                     ? cat->nodes[x]->rpc_address
                                     : "");
            }
        }
        ncols++;
    }
    qsort(cols, ncols, sizeof *cols, coll_cmp);
    qsort(pls, npl, sizeof *pls, pl_cmp);
    qsort(routes, nroutes, sizeof *routes, route_cmp);
    /* Stored API keys (their hashes), for this gateway's authenticator. */
    keys = vx_calloc(cat->n_keys + 1, sizeof *keys);
    if (!keys) {
        rc = vx_err(err, VECTRON_NOMEM, "catalog mirror");
        goto out;
    }
    for (size_t i = 0; i < cat->n_keys; i++) {
        const Vectron__ApiKey *km = cat->keys[i];
        pd_api_key *k = &keys[nkeys];
        if (!km->id || km->hash.len != PD_KEY_HASH_SIZE)
            continue;
        snprintf(k->id, sizeof k->id, "%s", km->id);
        snprintf(k->name, sizeof k->name, "%s", km->name ? km->name : "");
        snprintf(k->scopes, sizeof k->scopes, "%s",
                 km->scopes ? km->scopes : "");
        k->level = (uint8_t)km->level;
        memcpy(k->hash, km->hash.data, PD_KEY_HASH_SIZE);
        k->created_at = km->created_at;
        k->expires_at = km->expires_at;
        k->created_index = km->created_index;
        nkeys++;
    }
    qsort(keys, nkeys, sizeof *keys, key_cmp);
    rc = pd_catalog_replace(r->o.mirror, cat->epoch, cols, ncols, nodes,
                            cat->n_nodes, pls, npl, keys, nkeys, err);
    if (rc)
        goto out;
    pthread_rwlock_wrlock(&r->lock);
    /* Keep what this gateway learned of its own writes. */
    for (size_t i = 0, j = 0; i < nroutes && j < r->nroutes;) {
        if (routes[i].group < r->routes[j].group) {
            i++;
        } else if (routes[i].group > r->routes[j].group) {
            j++;
        } else {
            routes[i++].acked = r->routes[j++].acked;
        }
    }
    hr_route *old = r->routes;
    r->routes = routes;
    r->nroutes = nroutes;
    r->epoch = cat->epoch;
    pthread_rwlock_unlock(&r->lock);
    routes = old;
out:
    vx_free(cols);
    vx_free(nodes);
    vx_free(pls);
    vx_free(routes);
    vx_free(keys);
    return rc;
}

int host_remote_refresh(host *h, vectron_error *err)
{
    hr_state *r = h->remote;
    Vectron__GetCatalogRequest rq = VECTRON__GET_CATALOG_REQUEST__INIT;
    rpc_result res;
    pthread_mutex_lock(&r->refresh_mu);
    int rc = pd_call(h, RPC_PD_CATALOG, &rq.base, &res, err);
    if (rc == 0) {
        Vectron__GetCatalogResponse *cat =
            vectron__get_catalog_response__unpack(NULL, res.len, res.data);
        rpc_result_free(&res);
        if (!cat) {
            rc = vx_err(err, VECTRON_CORRUPT, "catalog does not decode");
        } else {
            rc = install(h, cat, err);
            vectron__get_catalog_response__free_unpacked(cat, NULL);
        }
    }
    pthread_mutex_unlock(&r->refresh_mu);
    return rc;
}

static void *refresh_main(void *arg)
{
    host *h = arg;
    hr_state *r = h->remote;
    time_t last_log = 0;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        vectron_error err = {0};
        if (host_remote_refresh(h, &err) && time(NULL) - last_log >= 10) {
            vx_log(VECTRON_LOG_WARN, LOG, "catalog refresh: %s", err.msg);
            last_log = time(NULL);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        vx_timespec_add_ms(&until, r->o.refresh_ms);
        pthread_mutex_lock(&r->mu);
        while (!r->stop &&
               pthread_cond_timedwait(&r->cv, &r->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---------------------------------------------------------- lifecycle */

static void state_free(hr_state *r)
{
    free(r->pd_list);
    vx_free(r->routes);
    pthread_rwlock_destroy(&r->lock);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->refresh_mu);
    pthread_cond_destroy(&r->cv);
    vx_free(r);
}

int host_open_remote(const host_remote_options *o, host **out,
                     vectron_error *err)
{
    host *h = vx_calloc(1, sizeof *h);
    hr_state *r = vx_calloc(1, sizeof *r);
    if (!h || !r) {
        vx_free(h);
        vx_free(r);
        return vx_err(err, VECTRON_NOMEM, "remote host");
    }
    r->o = *o;
    if (!r->o.refresh_ms)
        r->o.refresh_ms = 1000;
    if (!r->o.timeout_ms)
        r->o.timeout_ms = 5000;
    pthread_rwlock_init(&r->lock, NULL);
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->refresh_mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->pd_list = strdup(o->pd ? o->pd : "");
    r->npd = rpc_split_members(r->pd_list, r->pd, MAX_PD);
    if (!r->pd_list || r->npd == 0 || !o->rpc || !o->mirror) {
        state_free(r);
        vx_free(h);
        return vx_err(err, VECTRON_INVALID,
                      "remote host: PD addresses (--pd) are needed");
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    pthread_cond_init(&h->cv_stop, NULL);
    h->remote = r;
    vectron_error ferr = {0};
    if (host_remote_refresh(h, &ferr))
        vx_log(VECTRON_LOG_WARN, LOG, "first catalog fetch: %s (will retry)",
               ferr.msg);
    if (pthread_create(&r->thread, NULL, refresh_main, h) != 0) {
        host_close(h);
        return vx_err(err, VECTRON_INTERNAL, "remote host: refresh thread");
    }
    r->have_thread = 1;
    *out = h;
    return 0;
}

void hr_close(hr_state *r)
{
    if (r->have_thread) {
        pthread_mutex_lock(&r->mu);
        r->stop = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    state_free(r);
}

int host_is_remote(const host *h)
{
    return h->remote != NULL;
}

/* ------------------------------------------------------------ routing */

static int find_route(hr_state *r, uint64_t group, hr_route *out)
{
    int found = 0;
    pthread_rwlock_rdlock(&r->lock);
    size_t lo = 0, hi = r->nroutes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->routes[mid].group == group) {
            *out = r->routes[mid];
            found = 1;
            break;
        }
        if (r->routes[mid].group < group)
            lo = mid + 1;
        else
            hi = mid;
    }
    pthread_rwlock_unlock(&r->lock);
    return found;
}

static int index_of(const hr_route *rt, uint64_t id)
{
    for (uint32_t j = 0; j < rt->n; j++)
        if (rt->ids[j] == id)
            return (int)j;
    return -1;
}

/* Records that a write to group was acknowledged at Raft index `index`. */
static void set_acked(hr_state *r, uint64_t group, uint64_t index)
{
    pthread_rwlock_wrlock(&r->lock);
    for (size_t i = 0; i < r->nroutes; i++)
        if (r->routes[i].group == group && r->routes[i].acked < index)
            r->routes[i].acked = index;
    pthread_rwlock_unlock(&r->lock);
}

uint64_t hr_applied(host_shard *s)
{
    hr_route rt;
    if (!find_route(s->h->remote, s->group, &rt))
        return 0;
    int j = index_of(&rt, rt.leader);
    uint64_t a = j >= 0 && rt.rep[j].have ? rt.rep[j].applied_index : 0;
    return a > rt.acked ? a : rt.acked;
}

/* Records a leader hint for group (from a NOT_LEADER answer). */
static void set_leader(hr_state *r, uint64_t group, uint64_t leader)
{
    pthread_rwlock_wrlock(&r->lock);
    for (size_t i = 0; i < r->nroutes; i++)
        if (r->routes[i].group == group)
            r->routes[i].leader = leader;
    pthread_rwlock_unlock(&r->lock);
}

host_shard *hr_acquire(host *h, uint64_t group)
{
    hr_route rt;
    if (!find_route(h->remote, group, &rt)) {
        /* Maybe created a moment ago: look again once. */
        if (host_remote_refresh(h, NULL) || !find_route(h->remote, group, &rt))
            return NULL;
    }
    host_shard *s = vx_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->h = h;
    s->group = group;
    s->dim = rt.dim;
    s->remote = 1;
    s->rt = rt;
    return s;
}

void hr_release(host_shard *s)
{
    vx_free(s);
}

/* Records that handle s reflects Raft index `index` (atomic max). */
static void see(host_shard *s, uint64_t index)
{
    uint64_t cur = atomic_load(&s->seen);
    while (cur < index && !atomic_compare_exchange_weak(&s->seen, &cur, index))
        ;
}

/* The replica for a read: the leader for strong reads, else the one with
 * the fewest calls in flight (round-robin among equals). min > 0 (a
 * bounded read's session index): first among the replicas the PD last
 * heard apply at least min, else the leader (which applied every write
 * it acknowledged), else any. skip: replicas already tried (bitmask). -1
 * when none is left. */
static int pick_replica(hr_state *r, const hr_route *rt, int strong,
                        uint64_t min, unsigned skip)
{
    if (strong || min) {
        unsigned start = atomic_fetch_add(&r->rr, 1);
        int best = -1, best_load = 0;
        for (uint32_t k = 0; min && !strong && k < rt->n; k++) {
            uint32_t j = (start + k) % rt->n;
            if ((skip & (1u << j)) || !rt->addr[j][0] || !rt->rep[j].have ||
                rt->rep[j].applied_index < min)
                continue;
            int ld = atomic_load(&load_of(r, rt->ids[j])->inflight);
            if (best < 0 || ld < best_load) {
                best = (int)j;
                best_load = ld;
            }
        }
        if (best >= 0)
            return best;
        int l = index_of(rt, rt->leader);
        if (l >= 0 && !(skip & (1u << l)))
            return l;
        /* Unknown leader: any replica (it answers with a hint, or as far
         * as it applied). */
    }
    unsigned start = atomic_fetch_add(&r->rr, 1);
    int best = -1, best_load = 0;
    for (uint32_t k = 0; k < rt->n; k++) {
        uint32_t j = (start + k) % rt->n;
        if ((skip & (1u << j)) || !rt->addr[j][0])
            continue;
        int ld = atomic_load(&load_of(r, rt->ids[j])->inflight);
        if (best < 0 || ld < best_load) {
            best = (int)j;
            best_load = ld;
        }
    }
    return best;
}

/* Parses "leader=<id>" from a NOT_LEADER message; 0 when absent. */
static uint64_t leader_hint(const char *msg)
{
    const char *p = strstr(msg, "leader=");
    return p ? strtoull(p + 7, NULL, 10) : 0;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* "replica behind" (the shard service's bounded-read refusal). */
static int is_behind(int rc, const vectron_error *err)
{
    return rc == VECTRON_UNAVAILABLE && err &&
           strstr(err->msg, "replica behind") != NULL;
}

/* One read call with replica fail-over: tries replicas until one answers
 * (or every one failed). On NOT_LEADER for a strong read, follows the
 * hint. A bounded read that every replica refused as behind is tried
 * again (after 20 ms) until the handle's timeout: a new leader may not
 * have applied the last acknowledged write yet. */
static int read_call(host_shard *s, uint16_t method,
                     const ProtobufCMessage *msg, rpc_result *out,
                     vectron_error *err)
{
    hr_state *r = s->h->remote;
    int strong = s->consistency == PD_READ_STRONG;
    uint64_t min = s->consistency == PD_READ_BOUNDED ? s->min_applied : 0;
    unsigned timeout = s->timeout_ms ? s->timeout_ms : r->o.timeout_ms;
    double deadline = mono_ms() + timeout;
    unsigned skip = 0;
    int behind = 0, ever_behind = 0;
    int rc = vx_err(err, VECTRON_UNAVAILABLE,
                    "group %" PRIu64 " has no reachable replica", s->group);
    for (uint32_t tries = 0;; tries++) {
        int j = pick_replica(r, &s->rt, strong, min, skip);
        if (j < 0 || tries > s->rt.n) {
            if (!behind || mono_ms() + 20 >= deadline)
                break;
            /* Every replica that answered was behind: again shortly. */
            usleep(20 * 1000);
            skip = 0;
            tries = 0;
            behind = 0;
            continue;
        }
        skip |= 1u << j;
        double left = deadline - mono_ms();
        if (left < 1)
            break;
        /* Not the last replica to try: leave it half the time for the
         * others (a stopped replica never answers). */
        if (pick_replica(r, &s->rt, 0, 0, skip) >= 0)
            left /= 2;
        node_load *ld = load_of(r, s->rt.ids[j]);
        atomic_fetch_add(&ld->inflight, 1);
        rc = rpc_call_msg(r->o.rpc, s->rt.addr[j], method, msg, (unsigned)left,
                          out, err);
        atomic_fetch_sub(&ld->inflight, 1);
        if (rc == 0)
            return 0;
        if (min && is_behind(rc, err))
            behind = ever_behind = 1;
        if (rc == VECTRON_NOT_LEADER) {
            uint64_t l = leader_hint(err->msg);
            if (l && index_of(&s->rt, l) >= 0) {
                s->rt.leader = l;
                set_leader(r, s->group, l);
                skip &= ~(1u << index_of(&s->rt, l));
            }
            continue;
        }
        if (rc != VECTRON_UNAVAILABLE && rc != VECTRON_TIMEOUT)
            return rc; /* the replica answered: a real error */
    }
    if (ever_behind)
        return vx_err(err, VECTRON_UNAVAILABLE,
                      "group %" PRIu64 ": no replica reached applied index "
                      "%" PRIu64 " (the session token's) within %u ms",
                      s->group, min, timeout);
    host_remote_refresh(s->h, NULL); /* the routing may be stale */
    /* Never NOT_FOUND here: for a point lookup it would read as "no such
     * point". */
    if (rc == VECTRON_NOT_FOUND || rc == VECTRON_NOT_LEADER) {
        char last[VECTRON_ERROR_MSG_SIZE];
        snprintf(last, sizeof last, "%s", err ? err->msg : "");
        rc = vx_err(err, VECTRON_UNAVAILABLE,
                    "group %" PRIu64 ": no replica could answer (%.180s)",
                    s->group, last);
    }
    return rc;
}

/* -------------------------------------------------------------- writes */

typedef struct write_one {
    Vectron__ShardWriteRequest rq;
    uint8_t *buf;
    size_t len;
    int done;
    uint64_t index;
    int completed;
} write_one;

/* Packs x->rq into x->buf, sized to fit (replacing the old one). */
static int pack_write(write_one *x)
{
    size_t len = vectron__shard_write_request__get_packed_size(&x->rq);
    uint8_t *b = vx_malloc(len ? len : 1);
    if (!b)
        return VECTRON_NOMEM;
    vectron__shard_write_request__pack(&x->rq, b);
    vx_free(x->buf);
    x->buf = b;
    x->len = len;
    return 0;
}

int hr_write(host *h, size_t n, host_shard *const *s,
             const uint8_t *const *bufs, const size_t *lens, int wait,
             unsigned timeout_ms, uint64_t *op_index, int *completed,
             vectron_error *err)
{
    hr_state *r = h->remote;
    write_one *w = vx_calloc(n ? n : 1, sizeof *w);
    rpc_multi *m = vx_calloc(n ? n : 1, sizeof *m);
    int rc = 0;
    *op_index = 0;
    *completed = 0;
    if (!w || !m) {
        rc = vx_err(err, VECTRON_NOMEM, "write");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        vectron__shard_write_request__init(&w[i].rq);
        w[i].rq.group = s[i]->group;
        w[i].rq.command.data = (uint8_t *)bufs[i];
        w[i].rq.command.len = lens[i];
        w[i].rq.wait = wait;
        hr_route rt;
        if (find_route(r, s[i]->group, &rt))
            w[i].rq.conf_epoch = rt.conf_epoch;
        if (pack_write(&w[i])) {
            rc = vx_err(err, VECTRON_NOMEM, "write");
            goto out;
        }
    }
    unsigned budget =
        timeout_ms && timeout_ms < WRITE_RETRY_MS ? timeout_ms : WRITE_RETRY_MS;
    struct timespec t_start;
    clock_gettime(CLOCK_MONOTONIC, &t_start);
    int attempt;
    for (attempt = 0;; attempt++) {
        size_t k = 0;
        int refresh = 0;
        for (size_t i = 0; i < n; i++) {
            if (w[i].done)
                continue;
            hr_route rt;
            if (!find_route(r, s[i]->group, &rt)) {
                refresh = 1;
                continue;
            }
            int l = index_of(&rt, rt.leader);
            if (l < 0) {
                /* No leader known: any replica answers with a hint. */
                l = (int)(atomic_fetch_add(&r->rr, 1) % rt.n);
            }
            if (rt.conf_epoch != w[i].rq.conf_epoch) {
                /* The routes changed (a refresh): name the epoch they
                 * are from, so a replica that knows a newer placement
                 * refuses the write as stale and the routes refresh. */
                w[i].rq.conf_epoch = rt.conf_epoch;
                if (pack_write(&w[i])) {
                    rc = vx_err(err, VECTRON_NOMEM, "write");
                    goto out;
                }
            }
            m[k] = (rpc_multi){.addr = NULL,
                               .method = RPC_SHARD_WRITE,
                               .req = w[i].buf,
                               .len = w[i].len};
            /* rpc_multi borrows addr: keep it in the route copy's slot
             * of s[i] for the life of the call. */
            s[i]->rt = rt;
            m[k].addr = s[i]->rt.addr[l];
            m[k].code = (int)i; /* the write's index until the call */
            k++;
        }
        size_t *which = vx_calloc(k ? k : 1, sizeof *which);
        if (!which) {
            rc = vx_err(err, VECTRON_NOMEM, "write");
            goto out;
        }
        for (size_t j = 0; j < k; j++)
            which[j] = (size_t)m[j].code;
        rpc_call_all(r->o.rpc, m, k, r->o.timeout_ms);
        rc = 0;
        for (size_t j = 0; j < k; j++) {
            write_one *x = &w[which[j]];
            if (m[j].code == 0) {
                Vectron__ShardWriteResponse *a =
                    vectron__shard_write_response__unpack(NULL, m[j].result.len,
                                                          m[j].result.data);
                rpc_result_free(&m[j].result);
                if (!a) {
                    rc = vx_err(err, VECTRON_CORRUPT,
                                "write answer does not decode");
                    continue;
                }
                x->done = 1;
                x->index = a->index;
                see(s[which[j]], a->index);
                x->completed = a->completed;
                set_acked(r, s[which[j]]->group, a->index);
                vectron__shard_write_response__free_unpacked(a, NULL);
                continue;
            }
            int code = m[j].code;
            if (code == VECTRON_NOT_LEADER) {
                uint64_t l = leader_hint(m[j].error.msg);
                if (l)
                    set_leader(r, s[which[j]]->group, l);
                else
                    refresh = 1;
            } else if (code == VECTRON_UNAVAILABLE ||
                       code == VECTRON_NOT_FOUND) {
                refresh = 1;
            } else {
                /* INVALID (rejected), TIMEOUT (outcome unknown), ...:
                 * not retried. */
                *err = m[j].error;
                rc = code;
            }
            if (!rc) {
                *err = m[j].error;
            }
        }
        vx_free(which);
        if (rc)
            goto out;
        int left = 0;
        for (size_t i = 0; i < n; i++)
            left |= !w[i].done;
        if (!left)
            break;
        if (refresh)
            host_remote_refresh(h, NULL);
        struct timespec t_now;
        clock_gettime(CLOCK_MONOTONIC, &t_now);
        double spent = (double)(t_now.tv_sec - t_start.tv_sec) * 1e3 +
                       (double)(t_now.tv_nsec - t_start.tv_nsec) / 1e6;
        unsigned pause = attempt < 4 ? 50u << attempt : 500u; /* ms */
        if (spent + pause > budget)
            break;
        usleep(pause * 1000u);
    }
    *completed = 1;
    for (size_t i = 0; i < n; i++) {
        if (!w[i].done) {
            rc = vx_err_wrap(err, VECTRON_UNAVAILABLE,
                             "group %" PRIu64 ": no leader took the write "
                             "in %u ms (%d tries)",
                             s[i]->group, budget, attempt + 1);
            goto out;
        }
        if (w[i].index > *op_index)
            *op_index = w[i].index;
        *completed &= w[i].completed;
    }
    if (!wait)
        *op_index = 0;
out:
    for (size_t i = 0; w && i < n; i++)
        vx_free(w[i].buf);
    vx_free(w);
    vx_free(m);
    return rc;
}

/* --------------------------------------------------------------- reads */

/* The filter as JSON text for the wire (NULL filter: empty). */
static int filter_text(const gw_filter *f, char **text, size_t *len,
                       vectron_error *err)
{
    *text = NULL;
    *len = 0;
    if (!f)
        return 0;
    json_t *j = gw_filter_to_json(f);
    if (!j)
        return vx_err(err, VECTRON_NOMEM, "filter");
    int rc = vx_json_dump(j, text, len, err);
    json_decref(j);
    return rc;
}

/* The search request for shard s (borrows q, the filter text and ex). */
static void search_request(const host_shard *s, const host_search *q,
                           const char *ftext, size_t flen, Vectron__PointId *ex,
                           Vectron__ShardSearchRequest *rq)
{
    vectron__shard_search_request__init(rq);
    rq->group = s->group;
    rq->vector = (float *)q->vector;
    rq->n_vector = s->dim;
    rq->k = q->k;
    rq->ef = q->ef;
    rq->exact = q->exact;
    rq->filter.data = (uint8_t *)ftext;
    rq->filter.len = flen;
    rq->rescore = q->rescore;
    rq->oversampling = q->oversampling;
    rq->exact_selectivity = q->exact_selectivity;
    if (q->exclude) {
        rpc_point_id_to(q->exclude, ex);
        rq->exclude = ex;
    }
    rq->consistency = s->consistency;
    if (s->consistency != PD_READ_STRONG) {
        /* Eventual reads still see this gateway's own acknowledged writes
         * (and what the PD last heard the leader apply): a replica behind
         * that answers UNAVAILABLE and the next one is asked. The result
         * cache relies on it: a result is computed at least at the
         * indexes its key holds. */
        rq->consistency = PD_READ_BOUNDED;
        rq->min_applied = hr_applied((host_shard *)s);
        if (s->min_applied > rq->min_applied)
            rq->min_applied = s->min_applied; /* the session token's */
    }
}

/* The minimum applied index a scan, count or lookup asks for: bounded
 * reads only (eventual ones read any replica as is). */
static uint64_t read_min(host_shard *s)
{
    if (s->consistency != PD_READ_BOUNDED)
        return 0;
    uint64_t a = hr_applied(s);
    return s->min_applied > a ? s->min_applied : a;
}

/* Decodes a shard's search answer into dst (up to q->k hits). */
static int take_hits(host_shard *s, const host_search *q, const rpc_result *res,
                     shard_hit *dst, size_t *count, vectron_error *err)
{
    Vectron__ShardSearchResponse *a =
        vectron__shard_search_response__unpack(NULL, res->len, res->data);
    *count = 0;
    if (!a)
        return vx_err(err, VECTRON_CORRUPT, "search answer does not decode");
    see(s, a->applied_index);
    for (size_t j = 0; j < a->n_hits && j < q->k; j++) {
        if (rpc_point_id_from(a->hits[j]->id, &dst[*count].id, NULL))
            continue;
        dst[*count].internal_id = 0;
        dst[*count].distance = a->hits[j]->distance;
        (*count)++;
    }
    vectron__shard_search_response__free_unpacked(a, NULL);
    return 0;
}

int hr_search(host_shard *s, const host_search *q, shard_hit *out,
              size_t *n_out, vectron_error *err)
{
    char *ftext = NULL;
    size_t flen = 0;
    Vectron__PointId ex;
    rpc_result res = {0};
    *n_out = 0;
    int rc = filter_text(q->filter, &ftext, &flen, err);
    if (rc)
        return rc;
    Vectron__ShardSearchRequest rq;
    search_request(s, q, ftext, flen, &ex, &rq);
    rc = read_call(s, RPC_SHARD_SEARCH, &rq.base, &res, err);
    vx_free(ftext);
    if (rc)
        return rc;
    rc = take_hits(s, q, &res, out, n_out, err);
    rpc_result_free(&res);
    return rc;
}

/* A shard that did not answer in time or had no replica to answer: what
 * a partial search may leave out (a real error, e.g. a bad filter, still
 * fails the search). */
static int missable(int rc)
{
    return rc == VECTRON_UNAVAILABLE || rc == VECTRON_TIMEOUT ||
           rc == VECTRON_NOT_LEADER;
}

int host_search_all(host_shard *const *s, size_t n, const host_search *q,
                    shard_hit *out, size_t *counts, vectron_error *err)
{
    if (n == 0)
        return 0;
    if (!s[0]->remote) {
        for (size_t i = 0; i < n; i++) {
            if (q->missed)
                q->missed[i] = 0;
            int rc =
                host_shard_search(s[i], q, out + i * q->k, &counts[i], err);
            if (rc)
                return rc;
        }
        return 0;
    }
    /* Remote: one request per shard, all in flight at once, each to the
     * replica read_call would pick first; a shard whose call fails is
     * retried alone with read_call's fail-over, in the time left. */
    hr_state *r = s[0]->h->remote;
    unsigned timeout = q->timeout_ms ? q->timeout_ms : r->o.timeout_ms;
    double deadline = mono_ms() + timeout;
    char *ftext = NULL;
    size_t flen = 0;
    int rc = filter_text(q->filter, &ftext, &flen, err);
    if (rc)
        return rc;
    rpc_multi *m = vx_calloc(n, sizeof *m);
    uint8_t **bufs = vx_calloc(n, sizeof *bufs);
    int *pick = vx_calloc(n, sizeof *pick);
    Vectron__PointId ex;
    if (!m || !bufs || !pick) {
        rc = vx_err(err, VECTRON_NOMEM, "search");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        Vectron__ShardSearchRequest rq;
        search_request(s[i], q, ftext, flen, &ex, &rq);
        size_t len = vectron__shard_search_request__get_packed_size(&rq);
        bufs[i] = vx_malloc(len ? len : 1);
        if (!bufs[i]) {
            rc = vx_err(err, VECTRON_NOMEM, "search");
            goto out;
        }
        vectron__shard_search_request__pack(&rq, bufs[i]);
        uint64_t min =
            s[i]->consistency == PD_READ_BOUNDED ? s[i]->min_applied : 0;
        pick[i] = pick_replica(r, &s[i]->rt,
                               s[i]->consistency == PD_READ_STRONG, min, 0);
        m[i] = (rpc_multi){.addr = pick[i] >= 0 ? s[i]->rt.addr[pick[i]] : "",
                           .method = RPC_SHARD_SEARCH,
                           .req = bufs[i],
                           .len = len};
    }
    for (size_t i = 0; i < n; i++)
        if (pick[i] >= 0)
            atomic_fetch_add(&load_of(r, s[i]->rt.ids[pick[i]])->inflight, 1);
    /* A shard with other replicas keeps half the time for them. */
    unsigned first = timeout;
    for (size_t i = 0; i < n; i++)
        if (s[i]->rt.n > 1)
            first = timeout / 2 ? timeout / 2 : 1;
    rpc_call_all(r->o.rpc, m, n, first);
    for (size_t i = 0; i < n; i++)
        if (pick[i] >= 0)
            atomic_fetch_sub(&load_of(r, s[i]->rt.ids[pick[i]])->inflight, 1);
    for (size_t i = 0; i < n && !rc; i++) {
        shard_hit *dst = out + i * q->k;
        counts[i] = 0;
        if (q->missed)
            q->missed[i] = 0;
        if (m[i].code == 0) {
            rc = take_hits(s[i], q, &m[i].result, dst, &counts[i], err);
            continue;
        }
        /* This shard again, alone, with fail-over, in the time left. */
        double left = deadline - mono_ms();
        vectron_error e2 = {0};
        int r2 = VECTRON_TIMEOUT;
        if (left >= 1) {
            s[i]->timeout_ms = (unsigned)left;
            r2 = hr_search(s[i], q, dst, &counts[i], &e2);
            s[i]->timeout_ms = 0;
        } else {
            vx_err(&e2, VECTRON_TIMEOUT,
                   "group %" PRIu64 ": no answer within %u ms", s[i]->group,
                   timeout);
        }
        if (r2 && q->missed && missable(r2)) {
            q->missed[i] = 1;
            counts[i] = 0;
        } else if (r2) {
            *err = e2;
            rc = r2;
        }
    }
out:
    for (size_t i = 0; m && i < n; i++)
        rpc_result_free(&m[i].result);
    for (size_t i = 0; bufs && i < n; i++)
        vx_free(bufs[i]);
    vx_free(m);
    vx_free(bufs);
    vx_free(pick);
    vx_free(ftext);
    return rc;
}

int hr_scan(host_shard *s, const gw_filter *filter, const point_id *from,
            store_point_fn fn, void *arg, vectron_error *err)
{
    char *ftext = NULL;
    size_t flen = 0;
    point_id next;
    int has_from = from != NULL;
    int rc = filter_text(filter, &ftext, &flen, err);
    if (rc)
        return rc;
    if (from)
        next = *from;
    for (;;) {
        Vectron__PointId fm;
        rpc_result res = {0};
        Vectron__ShardScanRequest rq = VECTRON__SHARD_SCAN_REQUEST__INIT;
        rq.group = s->group;
        rq.filter.data = (uint8_t *)ftext;
        rq.filter.len = flen;
        if (has_from) {
            rpc_point_id_to(&next, &fm);
            rq.from = &fm;
            rq.has_from = 1;
        }
        rq.limit = SCAN_PAGE;
        rq.with_vector = 1;
        rq.with_payload = 1;
        rq.consistency = s->consistency;
        rq.min_applied = read_min(s);
        if ((rc = read_call(s, RPC_SHARD_SCAN, &rq.base, &res, err)))
            break;
        Vectron__ShardScanResponse *a =
            vectron__shard_scan_response__unpack(NULL, res.len, res.data);
        rpc_result_free(&res);
        if (!a) {
            rc = vx_err(err, VECTRON_CORRUPT, "scan answer does not decode");
            break;
        }
        see(s, a->applied_index);
        int stop = 0;
        for (size_t i = 0; i < a->n_points && !stop && !rc; i++) {
            const Vectron__Point *p = a->points[i];
            store_point_view v = {.dim = (uint32_t)p->n_vector,
                                  .vector = p->vector,
                                  .payload = (const char *)p->payload.data,
                                  .payload_len = p->payload.len};
            if (rpc_point_id_from(p->id, &v.id, NULL)) {
                rc = vx_err(err, VECTRON_CORRUPT, "scan: bad point id");
                break;
            }
            int r2 = fn(arg, &v, err);
            if (r2 == STORE_SCAN_STOP)
                stop = 1;
            else if (r2)
                rc = r2;
        }
        int more = a->has_next && !stop && !rc;
        if (more && rpc_point_id_from(a->next, &next, NULL) == 0)
            has_from = 1;
        else
            more = 0;
        vectron__shard_scan_response__free_unpacked(a, NULL);
        if (!more)
            break;
        /* Further pages from the same kind of replica; a strong scan
         * already ran its barrier on the first page. */
    }
    vx_free(ftext);
    return rc;
}

int hr_count(host_shard *s, const gw_filter *filter, uint64_t *out,
             vectron_error *err)
{
    char *ftext = NULL;
    size_t flen = 0;
    rpc_result res = {0};
    int rc = filter_text(filter, &ftext, &flen, err);
    if (rc)
        return rc;
    Vectron__ShardCountRequest rq = VECTRON__SHARD_COUNT_REQUEST__INIT;
    rq.group = s->group;
    rq.filter.data = (uint8_t *)ftext;
    rq.filter.len = flen;
    rq.consistency = s->consistency;
    rq.min_applied = read_min(s);
    rc = read_call(s, RPC_SHARD_COUNT, &rq.base, &res, err);
    vx_free(ftext);
    if (rc)
        return rc;
    Vectron__ShardCountResponse *a =
        vectron__shard_count_response__unpack(NULL, res.len, res.data);
    rpc_result_free(&res);
    if (!a)
        return vx_err(err, VECTRON_CORRUPT, "count answer does not decode");
    see(s, a->applied_index);
    *out = a->count;
    vectron__shard_count_response__free_unpacked(a, NULL);
    return 0;
}

int hr_get(host_shard *s, const point_id *id, store_point *out,
           vectron_error *err)
{
    Vectron__PointId pm;
    Vectron__PointId *ids[1] = {&pm};
    rpc_result res = {0};
    memset(out, 0, sizeof *out);
    rpc_point_id_to(id, &pm);
    Vectron__ShardGetRequest rq = VECTRON__SHARD_GET_REQUEST__INIT;
    rq.group = s->group;
    rq.n_ids = 1;
    rq.ids = ids;
    rq.with_vector = 1;
    rq.with_payload = 1;
    rq.consistency = s->consistency;
    rq.min_applied = read_min(s);
    int rc = read_call(s, RPC_SHARD_GET, &rq.base, &res, err);
    if (rc)
        return rc;
    Vectron__ShardGetResponse *a =
        vectron__shard_get_response__unpack(NULL, res.len, res.data);
    rpc_result_free(&res);
    if (!a)
        return vx_err(err, VECTRON_CORRUPT, "get answer does not decode");
    see(s, a->applied_index);
    if (a->n_points == 0) {
        vectron__shard_get_response__free_unpacked(a, NULL);
        return vx_err(err, VECTRON_NOT_FOUND, "point not found");
    }
    const Vectron__Point *p = a->points[0];
    out->id = *id;
    out->dim = (uint32_t)p->n_vector;
    out->vector = vx_malloc((p->n_vector ? p->n_vector : 1) * sizeof(float));
    out->payload = vx_malloc(p->payload.len + 1);
    if (!out->vector || !out->payload) {
        store_point_clear(out);
        vectron__shard_get_response__free_unpacked(a, NULL);
        return vx_err(err, VECTRON_NOMEM, "get");
    }
    if (p->n_vector)
        memcpy(out->vector, p->vector, p->n_vector * sizeof(float));
    if (p->payload.len)
        memcpy(out->payload, p->payload.data, p->payload.len);
    out->payload[p->payload.len] = '\0';
    out->payload_len = p->payload.len;
    vectron__shard_get_response__free_unpacked(a, NULL);
    return 0;
}

int hr_info(host_shard *s, int index_points, host_shard_info *out,
            vectron_error *err)
{
    rpc_result res = {0};
    memset(out, 0, sizeof *out);
    Vectron__ShardInfoRequest rq = VECTRON__SHARD_INFO_REQUEST__INIT;
    rq.group = s->group;
    rq.index_points = index_points;
    int rc = read_call(s, RPC_SHARD_INFO, &rq.base, &res, err);
    if (rc)
        return rc;
    Vectron__ShardInfoResponse *a =
        vectron__shard_info_response__unpack(NULL, res.len, res.data);
    rpc_result_free(&res);
    if (!a)
        return vx_err(err, VECTRON_CORRUPT, "info answer does not decode");
    out->points = a->points;
    out->pending = a->pending;
    out->applied_index = a->applied_index;
    if (a->n_indexes) {
        out->indexes = vx_calloc(a->n_indexes, sizeof *out->indexes);
        if (!out->indexes) {
            vectron__shard_info_response__free_unpacked(a, NULL);
            return vx_err(err, VECTRON_NOMEM, "info");
        }
    }
    for (size_t i = 0; i < a->n_indexes; i++) {
        const Vectron__IndexInfo *x = a->indexes[i];
        out->indexes[i].field = strdup(x->field ? x->field : "");
        out->indexes[i].type = (store_index_type)x->type;
        out->indexes[i].points = x->points;
        out->n_indexes++;
    }
    vectron__shard_info_response__free_unpacked(a, NULL);
    return 0;
}

/* ---------------------------------------------------- status, metadata */

int hr_report(host *h, uint64_t group, host_report *out, vectron_error *err)
{
    hr_route rt;
    memset(out, 0, sizeof *out);
    if (!find_route(h->remote, group, &rt))
        return vx_err(err, VECTRON_NOT_FOUND, "group %" PRIu64 " unknown",
                      group);
    out->group = group;
    out->leader_id = rt.leader;
    /* The leader's figures, as the PD last heard them. */
    int j = index_of(&rt, rt.leader);
    if (j >= 0 && rt.rep[j].have) {
        out->role = rt.rep[j].role;
        out->term = rt.rep[j].term;
        out->commit_index = rt.rep[j].commit_index;
        out->applied_index = rt.rep[j].applied_index;
        out->points = rt.rep[j].points;
        out->bytes = rt.rep[j].bytes;
        out->have_raft = 1;
    }
    return 0;
}

int hr_groups(host *h, uint64_t **out, size_t *n, vectron_error *err)
{
    hr_state *r = h->remote;
    pthread_rwlock_rdlock(&r->lock);
    *out = vx_malloc((r->nroutes ? r->nroutes : 1) * sizeof **out);
    if (!*out) {
        pthread_rwlock_unlock(&r->lock);
        return vx_err(err, VECTRON_NOMEM, "groups");
    }
    for (size_t i = 0; i < r->nroutes; i++)
        (*out)[i] = r->routes[i].group;
    *n = r->nroutes;
    pthread_rwlock_unlock(&r->lock);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int host_remote_create(host *h, const char *name, const pd_collection_params *p,
                       unsigned timeout_ms, vectron_error *err)
{
    Vectron__CollectionParams pm;
    rpc_result res;
    pd_params_to_proto(p, &pm);
    Vectron__CreateCollectionRequest rq =
        VECTRON__CREATE_COLLECTION_REQUEST__INIT;
    rq.name = (char *)name;
    rq.params = &pm;
    int rc = pd_call(h, RPC_PD_CREATE, &rq.base, &res, err);
    if (rc)
        return rc;
    rpc_result_free(&res);
    /* Ready once every shard reports a leader. */
    double t0 = now_s();
    for (;;) {
        pd_collection col;
        int ready = 0;
        if (host_remote_refresh(h, NULL) == 0 &&
            pd_catalog_get(h->remote->o.mirror, name, &col, NULL) == 0) {
            ready = 1;
            for (uint32_t k = 0; k < col.p.shard_number && ready; k++) {
                hr_route rt;
                ready = find_route(h->remote, col.first_group + k, &rt) &&
                        rt.leader != 0;
            }
        }
        if (ready)
            return 0;
        if (now_s() - t0 > timeout_ms / 1000.0)
            return vx_err(err, VECTRON_TIMEOUT,
                          "collection %s created, but its shards have no "
                          "leader yet after %u ms",
                          name, timeout_ms);
        usleep(50 * 1000);
    }
}

int host_remote_drop(host *h, const char *name, unsigned timeout_ms,
                     vectron_error *err)
{
    Vectron__DropCollectionRequest rq = VECTRON__DROP_COLLECTION_REQUEST__INIT;
    rpc_result res;
    (void)timeout_ms;
    rq.name = (char *)name;
    int rc = pd_call(h, RPC_PD_DROP, &rq.base, &res, err);
    if (rc)
        return rc;
    rpc_result_free(&res);
    return host_remote_refresh(h, err);
}

int host_remote_submit(host *h, const uint8_t *cmd, size_t len,
                       vectron_error *err)
{
    Vectron__PdSubmitRequest rq = VECTRON__PD_SUBMIT_REQUEST__INIT;
    rpc_result res;
    rq.command.data = (uint8_t *)cmd;
    rq.command.len = len;
    int rc = pd_call(h, RPC_PD_SUBMIT, &rq.base, &res, err);
    if (rc)
        return rc;
    rpc_result_free(&res);
    /* The change is committed: show it here at once. */
    host_remote_refresh(h, NULL);
    return 0;
}
