/*
 * agent.c - the worker's PD link (agent.h): register, heartbeat,
 * reconcile hosted replicas with the catalog's placement.
 *
 * Threading: the agent's own thread does everything; wk_agent_stop and
 * wk_agent_epoch take a->mu.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "pd/pd_proto.h"
#include "proto/vectron.pb-c.h"
#include "rpc/methods.h"
#include "rpc/rpc_proto.h"
#include "worker/agent.h"

#define LOG "agent"
#define MAX_PD 16

struct wk_agent {
    wk_agent_options o;
    char *pd_list;
    char *pd[MAX_PD];
    size_t npd;
    size_t pd_at; /* the PD member tried first (the last that answered) */
    char *raft_address;
    char *rpc_address;
    int registered;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    uint64_t epoch; /* reconciled; under mu */
};

/* Calls the PD leader: tries each member from the last good one. */
static int pd_call(wk_agent *a, uint16_t method, const ProtobufCMessage *req,
                   rpc_result *out, vectron_error *err)
{
    return rpc_call_leader(a->o.rpc, a->pd, a->npd, a->pd_at, &a->pd_at,
                           method, req, a->o.timeout_ms, out, err);
}

static int do_register(wk_agent *a, vectron_error *err)
{
    Vectron__NodeInfo ni = VECTRON__NODE_INFO__INIT;
    Vectron__RegisterNodeRequest rq = VECTRON__REGISTER_NODE_REQUEST__INIT;
    rpc_result res;
    ni.id = a->o.node_id;
    ni.raft_address = a->raft_address;
    ni.rpc_address = a->rpc_address;
    rq.node = &ni;
    int rc = pd_call(a, RPC_PD_REGISTER, &rq.base, &res, err);
    if (rc == 0) {
        rpc_result_free(&res);
        vx_log(VECTRON_LOG_INFO, LOG, "node=%" PRIu64 " registered",
               a->o.node_id);
    }
    return rc;
}

/* Heartbeat; *epoch gets the PD's catalog epoch. */
static int do_heartbeat(wk_agent *a, uint64_t *epoch, vectron_error *err)
{
    uint64_t *groups = NULL;
    size_t n = 0;
    Vectron__ShardReport *rs = NULL;
    Vectron__ShardReport **rp = NULL;
    Vectron__HeartbeatRequest rq = VECTRON__HEARTBEAT_REQUEST__INIT;
    rpc_result res = {0};
    int rc = host_groups(a->o.host, &groups, &n, err);
    if (rc)
        return rc;
    rs = vx_calloc(n ? n : 1, sizeof *rs);
    rp = vx_calloc(n ? n : 1, sizeof *rp);
    if (!rs || !rp) {
        rc = vx_err(err, VECTRON_NOMEM, "heartbeat");
        goto out;
    }
    size_t k = 0;
    uint64_t load = atomic_load(&a->o.service->requests);
    for (size_t i = 0; i < n; i++) {
        host_report hr;
        if (host_report_of(a->o.host, groups[i], &hr, NULL))
            continue;
        wk_report_to(&hr, load, &rs[k]);
        rp[k] = &rs[k];
        k++;
    }
    rq.node_id = a->o.node_id;
    rq.n_shards = k;
    rq.shards = rp;
    rc = pd_call(a, RPC_PD_HEARTBEAT, &rq.base, &res, err);
    if (rc)
        goto out;
    Vectron__HeartbeatResponse *hb =
        vectron__heartbeat_response__unpack(NULL, res.len, res.data);
    if (!hb) {
        rc = vx_err(err, VECTRON_CORRUPT, "heartbeat answer does not decode");
        goto out;
    }
    *epoch = hb->epoch;
    vectron__heartbeat_response__free_unpacked(hb, NULL);
out:
    rpc_result_free(&res);
    vx_free(groups);
    vx_free(rs);
    vx_free(rp);
    return rc;
}

static const Vectron__NodeInfo *node_of(const Vectron__GetCatalogResponse *c,
                                        uint64_t id)
{
    for (size_t i = 0; i < c->n_nodes; i++)
        if (c->nodes[i]->id == id)
            return c->nodes[i];
    return NULL;
}

static int placed_here(const Vectron__ShardPlacement *p, uint64_t self)
{
    for (size_t i = 0; i < p->n_replicas; i++)
        if (p->replicas[i] == self)
            return 1;
    return 0;
}

/* Opens every replica placed here; deletes hosted ones placed elsewhere.
 * Returns 0 when everything placed here is open. */
static int reconcile(wk_agent *a, const Vectron__GetCatalogResponse *cat)
{
    uint64_t self = a->o.node_id;
    int rc = 0;
    vectron_error err = {0};

    for (size_t i = 0; i < cat->n_collections; i++) {
        const Vectron__CatalogCollection *cm = cat->collections[i];
        pd_collection col;
        if (pd_collection_from_proto(cm, &col, &err)) {
            vx_log(VECTRON_LOG_WARN, LOG, "catalog entry skipped: %s", err.msg);
            continue;
        }
        for (size_t s = 0; s < cm->n_shards; s++) {
            const Vectron__ShardPlacement *p = cm->shards[s];
            if (!placed_here(p, self))
                continue;
            vxr_member members[PD_MAX_REPLICAS];
            size_t nm = 0;
            int founding = p->conf_epoch == cm->created_index;
            for (size_t r = 0;
                 founding && r < p->n_replicas && nm < PD_MAX_REPLICAS; r++) {
                const Vectron__NodeInfo *ni = node_of(cat, p->replicas[r]);
                if (!ni) {
                    founding = 0; /* cannot bootstrap: join instead */
                    break;
                }
                members[nm].id = ni->id;
                members[nm].address = ni->raft_address;
                nm++;
            }
            int e = host_ensure_replica(a->o.host, &col, p->group,
                                        founding ? members : NULL,
                                        founding ? nm : 0, &err);
            if (e) {
                vx_log(VECTRON_LOG_WARN, LOG,
                       "group=%" PRIu64 " cannot open: %s", p->group, err.msg);
                rc = e;
            } else {
                host_set_conf_epoch(a->o.host, p->group, p->conf_epoch);
            }
        }
    }

    /* Hosted replicas that the placement no longer puts here. */
    uint64_t *groups = NULL;
    size_t n = 0;
    if (host_groups(a->o.host, &groups, &n, &err))
        return VECTRON_NOMEM;
    for (size_t g = 0; g < n; g++) {
        int wanted = 0;
        for (size_t i = 0; i < cat->n_collections && !wanted; i++)
            for (size_t s = 0; s < cat->collections[i]->n_shards; s++) {
                const Vectron__ShardPlacement *p =
                    cat->collections[i]->shards[s];
                if (p->group == groups[g]) {
                    wanted = placed_here(p, self);
                    break;
                }
            }
        if (!wanted) {
            vx_log(VECTRON_LOG_INFO, LOG,
                   "group=%" PRIu64 " no longer placed here: removing",
                   groups[g]);
            host_remove_replica(a->o.host, groups[g], NULL);
        }
    }
    vx_free(groups);
    return rc;
}

static int fetch_and_reconcile(wk_agent *a, uint64_t *epoch, vectron_error *err)
{
    Vectron__GetCatalogRequest rq = VECTRON__GET_CATALOG_REQUEST__INIT;
    rpc_result res;
    int rc = pd_call(a, RPC_PD_CATALOG, &rq.base, &res, err);
    if (rc)
        return rc;
    Vectron__GetCatalogResponse *cat =
        vectron__get_catalog_response__unpack(NULL, res.len, res.data);
    rpc_result_free(&res);
    if (!cat)
        return vx_err(err, VECTRON_CORRUPT, "catalog does not decode");
    rc = reconcile(a, cat);
    *epoch = cat->epoch;
    vectron__get_catalog_response__free_unpacked(cat, NULL);
    return rc;
}

static void *agent_main(void *arg)
{
    wk_agent *a = arg;
    uint64_t last_err_logged = 0;

    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        pthread_mutex_unlock(&a->mu);
        vectron_error err = {0};
        int rc = 0;
        uint64_t pd_epoch = 0;
        if (!a->registered) {
            rc = do_register(a, &err);
            a->registered = rc == 0;
        }
        if (!rc)
            rc = do_heartbeat(a, &pd_epoch, &err);
        pthread_mutex_lock(&a->mu);
        uint64_t mine = a->epoch;
        pthread_mutex_unlock(&a->mu);
        if (!rc && pd_epoch != mine) {
            uint64_t e = 0;
            rc = fetch_and_reconcile(a, &e, &err);
            if (!rc) {
                pthread_mutex_lock(&a->mu);
                a->epoch = e;
                pthread_mutex_unlock(&a->mu);
            }
        }
        if (rc && rc != VECTRON_NOT_FOUND) {
            uint64_t now = (uint64_t)time(NULL);
            if (now - last_err_logged >= 10) { /* not every beat */
                vx_log(VECTRON_LOG_WARN, LOG, "PD: %s", err.msg);
                last_err_logged = now;
            }
        }
        if (rc == VECTRON_NOT_FOUND)
            a->registered = 0; /* the PD does not know us (new PD state) */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        vx_timespec_add_ms(&until, a->o.heartbeat_ms);
        pthread_mutex_lock(&a->mu);
        while (!a->stop &&
               pthread_cond_timedwait(&a->cv, &a->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

int wk_agent_start(const wk_agent_options *o, wk_agent **out,
                   vectron_error *err)
{
    wk_agent *a = vx_calloc(1, sizeof *a);
    if (!a)
        return vx_err(err, VECTRON_NOMEM, "agent");
    a->o = *o;
    a->pd_list = strdup(o->pd ? o->pd : "");
    a->raft_address = strdup(o->raft_address);
    a->rpc_address = strdup(o->rpc_address);
    if (!a->pd_list || !a->raft_address || !a->rpc_address) {
        wk_agent_stop(a);
        return vx_err(err, VECTRON_NOMEM, "agent");
    }
    a->npd = rpc_split_members(a->pd_list, a->pd, MAX_PD);
    if (a->npd == 0) {
        free(a->pd_list);
        free(a->raft_address);
        free(a->rpc_address);
        vx_free(a);
        return vx_err(err, VECTRON_INVALID,
                      "no Placement Driver address (--pd)");
    }
    if (!a->o.heartbeat_ms)
        a->o.heartbeat_ms = 1000;
    if (!a->o.timeout_ms)
        a->o.timeout_ms = 5000;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->thread, NULL, agent_main, a) != 0) {
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->cv);
        free(a->pd_list);
        free(a->raft_address);
        free(a->rpc_address);
        vx_free(a);
        return vx_err(err, VECTRON_INTERNAL, "agent thread");
    }
    *out = a;
    return 0;
}

void wk_agent_stop(wk_agent *a)
{
    if (!a)
        return;
    if (a->thread) {
        pthread_mutex_lock(&a->mu);
        a->stop = 1;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->cv);
    }
    free(a->pd_list);
    free(a->raft_address);
    free(a->rpc_address);
    vx_free(a);
}
