/*
 * pd_service.c - the Placement Driver's RPC service and scheduler
 * (pd_service.h).
 *
 * Threading: handlers on the RPC pool threads, the scheduler on its own
 * thread; s->mu guards the soft state (heartbeats) and the leadership
 * bookkeeping. Catalog reads are thread-safe; catalog changes go through
 * Raft (vxr_submit_wait).
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
#include "pd/pd_service.h"
#include "proto/vectron.pb-c.h"
#include "rpc/methods.h"
#include "rpc/rpc_proto.h"

#define LOG "pd"

typedef struct soft_report {
    uint64_t group;
    uint32_t role;
    uint64_t term, commit_index, applied_index, points, bytes, requests;
    uint64_t leader_id;
    uint32_t voters;
} soft_report;

typedef struct soft_node {
    uint64_t id;
    uint64_t last_ms; /* monotonic ms of the last heartbeat */
    soft_report *r;
    size_t nr;
} soft_node;

struct pd_service {
    pd_service_options o;
    pthread_mutex_t mu;
    soft_node *nodes;
    size_t nn, cap;
    int was_leader;
    uint64_t leader_since; /* monotonic ms */
    pthread_t sched;
    int have_sched;
    pthread_cond_t cv;
    int stop;
    /* The replica move being finished (shrink): its group, placement
     * epoch, and the leader's applied index the kept replicas must reach
     * (as first seen by this leader). */
    uint64_t move_group, move_epoch, move_target;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------ helpers */

/* Allocations for one answer, freed together. */
typedef struct bag {
    void **p;
    size_t n, cap;
    int failed;
} bag;

static void *bag_alloc(bag *b, size_t count, size_t size)
{
    if (b->failed)
        return NULL;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        void **np = vx_realloc(b->p, cap * sizeof *np);
        if (!np) {
            b->failed = 1;
            return NULL;
        }
        b->p = np;
        b->cap = cap;
    }
    void *x = vx_calloc(count ? count : 1, size);
    if (!x) {
        b->failed = 1;
        return NULL;
    }
    b->p[b->n++] = x;
    return x;
}

static void bag_free(bag *b)
{
    for (size_t i = 0; i < b->n; i++)
        vx_free(b->p[i]);
    vx_free(b->p);
}

/* 1 when this member leads the catalog group (and tracks since when). */
static int leading(pd_service *s)
{
    vxr_group_info gi;
    int lead = vxr_group_status(s->o.node, PD_GROUP_ID, &gi, NULL) == 0 &&
               gi.state == VXR_STATE_LEADER;
    pthread_mutex_lock(&s->mu);
    if (lead && !s->was_leader) {
        s->leader_since = now_ms();
        /* Heartbeats heard as a follower (none) or in an earlier term are
         * stale: start afresh. */
        for (size_t i = 0; i < s->nn; i++)
            vx_free(s->nodes[i].r);
        s->nn = 0;
        s->move_group = s->move_epoch = s->move_target = 0;
    }
    s->was_leader = lead;
    pthread_mutex_unlock(&s->mu);
    return lead;
}

static int require_leader(pd_service *s, rpc_request *rq)
{
    if (leading(s))
        return 0;
    rpc_reply_error(rq, VECTRON_NOT_LEADER, "not the PD leader");
    return -1;
}

/* Commits a catalog command; returns the apply outcome. */
static int propose(pd_service *s, uint8_t *buf, size_t len, vectron_error *err)
{
    vxr_request rq = {
        .type = VXR_OP_APPLY, .group_id = PD_GROUP_ID, .buf = buf, .len = len};
    vxr_result res;
    int rc = vxr_submit_wait(s->o.node, &rq, s->o.timeout_ms, &res, err);
    vx_free(buf);
    if (rc == VXR_NOT_LEADER)
        return vx_err(err, VECTRON_NOT_LEADER, "not the PD leader");
    if (rc == VXR_LEADERSHIP_LOST || rc == VXR_TIMEOUT)
        return vx_err(err, VECTRON_TIMEOUT,
                      "metadata change outcome unknown: %s", err->msg);
    if (rc < 0)
        return vx_err(err, VECTRON_UNAVAILABLE, "metadata: %s", err->msg);
    if (rc > 0)
        return rc;
    if (res.value)
        return vx_err(err, (int)res.value, "metadata change refused: %s",
                      vectron_error_default_message((int)res.value));
    return 0;
}

/* Answers a catalog change: the error of its proposal, or the catalog
 * epoch it brought (ChangeResponse). */
static void reply_change(pd_service *s, rpc_request *rq, int rc,
                         const vectron_error *err)
{
    if (rc) {
        rpc_reply_error(rq, rc, err->msg);
        return;
    }
    Vectron__ChangeResponse cr = VECTRON__CHANGE_RESPONSE__INIT;
    cr.epoch = pd_catalog_epoch(s->o.catalog);
    rpc_reply_msg(rq, &cr.base);
}

static soft_node *soft_find(pd_service *s, uint64_t id)
{
    for (size_t i = 0; i < s->nn; i++)
        if (s->nodes[i].id == id)
            return &s->nodes[i];
    return NULL;
}

/* 1 when node id counts as alive: heard within the grace period, or not
 * yet expected to be heard (this member has led for less than that). */
static int node_up_locked(pd_service *s, uint64_t id, uint64_t now)
{
    soft_node *n = soft_find(s, id);
    if (n && now - n->last_ms < s->o.grace_ms)
        return 1;
    return now - s->leader_since < s->o.grace_ms && (!n || !n->last_ms);
}

/* --------------------------------------------------------------- nodes */

static void do_register(pd_service *s, rpc_request *rq, const uint8_t *req,
                        size_t len)
{
    vectron_error err = {0};
    Vectron__RegisterNodeRequest *m =
        vectron__register_node_request__unpack(NULL, len, req);
    if (!m || !m->node) {
        rpc_reply_error(rq, VECTRON_INVALID, "request does not decode");
        goto out;
    }
    if (require_leader(s, rq))
        goto out;
    pd_node want = {.id = m->node->id, .state = PD_NODE_ACTIVE};
    snprintf(want.raft_addr, sizeof want.raft_addr, "%s",
             m->node->raft_address ? m->node->raft_address : "");
    snprintf(want.rpc_addr, sizeof want.rpc_addr, "%s",
             m->node->rpc_address ? m->node->rpc_address : "");
    pd_node *nodes = NULL;
    size_t n = 0;
    if (pd_catalog_nodes(s->o.catalog, &nodes, &n, &err)) {
        rpc_reply_error(rq, VECTRON_NOMEM, err.msg);
        goto out;
    }
    int same = 0;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].id != want.id)
            continue;
        if (nodes[i].state == PD_NODE_REMOVED) {
            vx_free(nodes);
            rpc_reply_error(rq, VECTRON_INVALID,
                            "this node id was removed from the cluster");
            goto out;
        }
        want.state = nodes[i].state; /* a draining node stays draining */
        same = strcmp(nodes[i].raft_addr, want.raft_addr) == 0 &&
               strcmp(nodes[i].rpc_addr, want.rpc_addr) == 0;
    }
    vx_free(nodes);
    if (!same) {
        uint8_t *buf;
        size_t blen;
        int rc = pd_cmd_node_set(&want, &buf, &blen, &err);
        if (!rc)
            rc = propose(s, buf, blen, &err);
        if (rc) {
            rpc_reply_error(rq, rc, err.msg);
            goto out;
        }
        vx_log(VECTRON_LOG_INFO, LOG,
               "node=%" PRIu64 " registered raft=%s rpc=%s", want.id,
               want.raft_addr, want.rpc_addr);
    }
    Vectron__RegisterNodeResponse r = VECTRON__REGISTER_NODE_RESPONSE__INIT;
    r.epoch = pd_catalog_epoch(s->o.catalog);
    rpc_reply_msg(rq, &r.base);
out:
    if (m)
        vectron__register_node_request__free_unpacked(m, NULL);
}

static void do_heartbeat(pd_service *s, rpc_request *rq, const uint8_t *req,
                         size_t len)
{
    Vectron__HeartbeatRequest *m =
        vectron__heartbeat_request__unpack(NULL, len, req);
    pd_node *nodes = NULL;
    size_t n = 0;
    if (!m) {
        rpc_reply_error(rq, VECTRON_INVALID, "request does not decode");
        return;
    }
    if (require_leader(s, rq))
        goto out;
    int known = 0;
    if (pd_catalog_nodes(s->o.catalog, &nodes, &n, NULL) == 0)
        for (size_t i = 0; i < n; i++)
            known |=
                nodes[i].id == m->node_id && nodes[i].state != PD_NODE_REMOVED;
    if (!known) {
        rpc_reply_error(rq, VECTRON_NOT_FOUND, "unknown node: register");
        goto out;
    }
    soft_report *r = vx_calloc(m->n_shards ? m->n_shards : 1, sizeof *r);
    if (!r) {
        rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < m->n_shards; i++) {
        const Vectron__ShardReport *x = m->shards[i];
        r[i] = (soft_report){
            x->group,  x->role,  x->term,     x->commit_index, x->applied_index,
            x->points, x->bytes, x->requests, x->leader_id,    x->voters};
    }
    pthread_mutex_lock(&s->mu);
    soft_node *sn = soft_find(s, m->node_id);
    if (!sn) {
        if (s->nn == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8;
            soft_node *nn = vx_realloc(s->nodes, cap * sizeof *nn);
            if (!nn) {
                pthread_mutex_unlock(&s->mu);
                vx_free(r);
                rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
                goto out;
            }
            s->nodes = nn;
            s->cap = cap;
        }
        sn = &s->nodes[s->nn++];
        memset(sn, 0, sizeof *sn);
        sn->id = m->node_id;
    }
    vx_free(sn->r);
    sn->r = r;
    sn->nr = m->n_shards;
    sn->last_ms = now_ms();
    pthread_mutex_unlock(&s->mu);
    Vectron__HeartbeatResponse hr = VECTRON__HEARTBEAT_RESPONSE__INIT;
    hr.epoch = pd_catalog_epoch(s->o.catalog);
    rpc_reply_msg(rq, &hr.base);
out:
    vx_free(nodes);
    vectron__heartbeat_request__free_unpacked(m, NULL);
}

/* ------------------------------------------------------------- catalog */

/* The latest report of `group` from node id (copied), 0 when none. */
static int report_of_locked(pd_service *s, uint64_t id, uint64_t group,
                            soft_report *out)
{
    soft_node *n = soft_find(s, id);
    for (size_t i = 0; n && i < n->nr; i++)
        if (n->r[i].group == group) {
            *out = n->r[i];
            return 1;
        }
    return 0;
}

static void do_catalog(pd_service *s, rpc_request *rq)
{
    bag b = {0};
    vectron_error err = {0};
    pd_collection *cols = NULL;
    pd_node *nodes = NULL;
    pd_placement *pls = NULL;
    pd_api_key *keys = NULL;
    size_t ncol = 0, nn = 0, npl = 0, nk = 0;
    if (require_leader(s, rq))
        return;
    if (pd_catalog_list(s->o.catalog, &cols, &ncol, &err) ||
        pd_catalog_nodes(s->o.catalog, &nodes, &nn, &err) ||
        pd_catalog_placements(s->o.catalog, &pls, &npl, &err) ||
        pd_catalog_key_list(s->o.catalog, &keys, &nk, &err)) {
        rpc_reply_error(rq, VECTRON_NOMEM, err.msg);
        goto out;
    }
    Vectron__GetCatalogResponse r = VECTRON__GET_CATALOG_RESPONSE__INIT;
    r.epoch = pd_catalog_epoch(s->o.catalog);
    uint64_t now = now_ms();
    pthread_mutex_lock(&s->mu);
    Vectron__NodeInfo *ni = bag_alloc(&b, nn, sizeof *ni);
    r.nodes = bag_alloc(&b, nn, sizeof *r.nodes);
    for (size_t i = 0; ni && r.nodes && i < nn; i++) {
        vectron__node_info__init(&ni[i]);
        ni[i].id = nodes[i].id;
        ni[i].raft_address = nodes[i].raft_addr;
        ni[i].rpc_address = nodes[i].rpc_addr;
        ni[i].state = (Vectron__NodeState)nodes[i].state;
        ni[i].up = node_up_locked(s, nodes[i].id, now);
        soft_node *sn = soft_find(s, nodes[i].id);
        ni[i].last_heartbeat_ms = sn ? now - sn->last_ms : 0;
        r.nodes[r.n_nodes++] = &ni[i];
    }
    Vectron__CatalogCollection *cc = bag_alloc(&b, ncol, sizeof *cc);
    Vectron__CollectionParams *cp = bag_alloc(&b, ncol, sizeof *cp);
    r.collections = bag_alloc(&b, ncol, sizeof *r.collections);
    for (size_t i = 0; cc && cp && r.collections && i < ncol; i++) {
        vectron__catalog_collection__init(&cc[i]);
        cc[i].name = cols[i].name;
        cc[i].id = cols[i].id;
        cc[i].first_group = cols[i].first_group;
        cc[i].created_index = cols[i].created_index;
        pd_params_to_proto(&cols[i].p, &cp[i]);
        cc[i].params = &cp[i];
        uint32_t ns = cols[i].p.shard_number;
        Vectron__ShardPlacement *sp = bag_alloc(&b, ns, sizeof *sp);
        cc[i].shards = bag_alloc(&b, ns, sizeof *cc[i].shards);
        for (uint32_t k = 0; sp && cc[i].shards && k < ns; k++) {
            uint64_t g = cols[i].first_group + k;
            const pd_placement *pl = NULL;
            for (size_t j = 0; j < npl && !pl; j++)
                if (pls[j].group == g)
                    pl = &pls[j];
            if (!pl)
                continue; /* not placed (a `serve` catalog) */
            vectron__shard_placement__init(&sp[k]);
            sp[k].group = g;
            sp[k].conf_epoch = pl->conf_epoch;
            sp[k].n_replicas = pl->n;
            sp[k].replicas = bag_alloc(&b, pl->n, sizeof(uint64_t));
            Vectron__ShardReport *rs = bag_alloc(&b, pl->n, sizeof *rs);
            sp[k].reports = bag_alloc(&b, pl->n, sizeof *sp[k].reports);
            if (!sp[k].replicas || !rs || !sp[k].reports)
                break;
            uint64_t best_term = 0;
            for (uint32_t j = 0; j < pl->n; j++) {
                sp[k].replicas[j] = pl->replicas[j];
                soft_report x;
                if (!report_of_locked(s, pl->replicas[j], g, &x))
                    continue;
                vectron__shard_report__init(&rs[sp[k].n_reports]);
                Vectron__ShardReport *m = &rs[sp[k].n_reports];
                m->group = g;
                m->role = x.role;
                m->term = x.term;
                m->commit_index = x.commit_index;
                m->applied_index = x.applied_index;
                m->points = x.points;
                m->bytes = x.bytes;
                m->requests = x.requests;
                m->leader_id = x.leader_id;
                m->voters = x.voters;
                m->node_id = pl->replicas[j];
                sp[k].reports[sp[k].n_reports++] = m;
                if (x.role == VXR_STATE_LEADER && x.term >= best_term) {
                    best_term = x.term;
                    sp[k].leader = pl->replicas[j];
                }
            }
            cc[i].shards[cc[i].n_shards++] = &sp[k];
        }
        r.collections[r.n_collections++] = &cc[i];
    }
    pthread_mutex_unlock(&s->mu);
    Vectron__ApiKey *km = bag_alloc(&b, nk, sizeof *km);
    r.keys = bag_alloc(&b, nk, sizeof *r.keys);
    for (size_t i = 0; km && r.keys && i < nk; i++) {
        vectron__api_key__init(&km[i]);
        km[i].id = keys[i].id;
        km[i].name = keys[i].name;
        km[i].scopes = keys[i].scopes;
        km[i].level = keys[i].level;
        km[i].hash.data = keys[i].hash;
        km[i].hash.len = PD_KEY_HASH_SIZE;
        km[i].created_at = keys[i].created_at;
        km[i].expires_at = keys[i].expires_at;
        km[i].created_index = keys[i].created_index;
        r.keys[r.n_keys++] = &km[i];
    }
    if (b.failed)
        rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
    else
        rpc_reply_msg(rq, &r.base);
out:
    bag_free(&b);
    vx_free(cols);
    vx_free(nodes);
    vx_free(pls);
    vx_free(keys);
}

/* A key command encoded by a gateway: committed as it is (apply checks
 * it like any other). */
static void do_submit(pd_service *s, rpc_request *rq, const uint8_t *req,
                      size_t len)
{
    vectron_error err = {0};
    Vectron__PdSubmitRequest *m =
        vectron__pd_submit_request__unpack(NULL, len, req);
    if (!m || !pd_cmd_is_key(m->command.data, m->command.len)) {
        rpc_reply_error(rq, VECTRON_INVALID,
                        "only API-key commands may be submitted");
        goto out;
    }
    if (require_leader(s, rq))
        goto out;
    uint8_t *buf = vx_malloc(m->command.len);
    if (!buf) {
        rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    memcpy(buf, m->command.data, m->command.len);
    reply_change(s, rq, propose(s, buf, m->command.len, &err), &err);
out:
    if (m)
        vectron__pd_submit_request__free_unpacked(m, NULL);
}

/* Replica counts per node over every placement. */
static uint32_t replicas_on(const pd_placement *pls, size_t npl, uint64_t id)
{
    uint32_t k = 0;
    for (size_t i = 0; i < npl; i++)
        for (uint32_t j = 0; j < pls[i].n; j++)
            k += pls[i].replicas[j] == id;
    return k;
}

/* Picks the candidate (ACTIVE, up, not in exclude) with the fewest
 * replicas (counts[]), lowest id on ties; 0 when none. */
static uint64_t pick_node_locked(pd_service *s, const pd_node *nodes, size_t nn,
                                 const uint32_t *counts,
                                 const uint64_t *exclude, size_t nx,
                                 uint64_t now, size_t *at)
{
    uint64_t best = 0;
    for (size_t i = 0; i < nn; i++) {
        if (nodes[i].state != PD_NODE_ACTIVE ||
            !node_up_locked(s, nodes[i].id, now))
            continue;
        int skip = 0;
        for (size_t x = 0; x < nx; x++)
            skip |= exclude[x] == nodes[i].id;
        if (skip)
            continue;
        if (!best || counts[i] < counts[*at]) {
            best = nodes[i].id;
            *at = i;
        }
    }
    return best;
}

static void do_create(pd_service *s, rpc_request *rq, const uint8_t *req,
                      size_t len)
{
    vectron_error err = {0};
    pd_node *nodes = NULL;
    pd_placement *pls = NULL;
    uint32_t *counts = NULL;
    uint64_t *rep = NULL;
    size_t nn = 0, npl = 0;
    Vectron__CreateCollectionRequest *m =
        vectron__create_collection_request__unpack(NULL, len, req);
    pd_collection_params p;
    if (!m) {
        rpc_reply_error(rq, VECTRON_INVALID, "request does not decode");
        return;
    }
    if (require_leader(s, rq))
        goto out;
    if (pd_params_from_proto(m->params, &p, &err) ||
        pd_check_name(m->name ? m->name : "", m->name ? strlen(m->name) : 0,
                      &err)) {
        rpc_reply_error(rq, VECTRON_INVALID, err.msg);
        goto out;
    }
    if (p.shard_number == 0 || p.shard_number > PD_MAX_SHARDS ||
        p.replication_factor == 0 || p.replication_factor > PD_MAX_REPLICAS) {
        rpc_reply_error(rq, VECTRON_INVALID,
                        "shard_number or replication_factor out of range");
        goto out;
    }
    if (pd_catalog_nodes(s->o.catalog, &nodes, &nn, &err) ||
        pd_catalog_placements(s->o.catalog, &pls, &npl, &err) ||
        !(counts = vx_calloc(nn ? nn : 1, sizeof *counts)) ||
        !(rep = vx_calloc((size_t)p.shard_number * p.replication_factor,
                          sizeof *rep))) {
        rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nn; i++)
        counts[i] = replicas_on(pls, npl, nodes[i].id);
    uint64_t now = now_ms();
    pthread_mutex_lock(&s->mu);
    int short_of_nodes = 0;
    for (uint32_t k = 0; k < p.shard_number && !short_of_nodes; k++) {
        uint64_t *row = rep + (size_t)k * p.replication_factor;
        for (uint32_t j = 0; j < p.replication_factor; j++) {
            size_t at = 0;
            uint64_t id =
                pick_node_locked(s, nodes, nn, counts, row, j, now, &at);
            if (!id) {
                short_of_nodes = 1;
                break;
            }
            row[j] = id;
            counts[at]++;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (short_of_nodes) {
        snprintf(err.msg, sizeof err.msg,
                 "replication_factor %u needs as many live active workers",
                 p.replication_factor);
        rpc_reply_error(rq, VECTRON_UNAVAILABLE, err.msg);
        goto out;
    }
    uint8_t *buf;
    size_t blen;
    int rc = pd_cmd_create_placed(m->name, &p, rep, &buf, &blen, &err);
    if (!rc)
        rc = propose(s, buf, blen, &err);
    if (!rc)
        vx_log(VECTRON_LOG_INFO, LOG, "collection %s created: %u shards x %u",
               m->name, p.shard_number, p.replication_factor);
    reply_change(s, rq, rc, &err);
out:
    vx_free(nodes);
    vx_free(pls);
    vx_free(counts);
    vx_free(rep);
    vectron__create_collection_request__free_unpacked(m, NULL);
}

static void do_drop(pd_service *s, rpc_request *rq, const uint8_t *req,
                    size_t len)
{
    vectron_error err = {0};
    Vectron__DropCollectionRequest *m =
        vectron__drop_collection_request__unpack(NULL, len, req);
    if (!m) {
        rpc_reply_error(rq, VECTRON_INVALID, "request does not decode");
        return;
    }
    if (!require_leader(s, rq)) {
        uint8_t *buf;
        size_t blen;
        int rc = pd_cmd_drop(m->name ? m->name : "", &buf, &blen, &err);
        if (!rc)
            rc = propose(s, buf, blen, &err);
        reply_change(s, rq, rc, &err);
    }
    vectron__drop_collection_request__free_unpacked(m, NULL);
}

static void do_drain(pd_service *s, rpc_request *rq, const uint8_t *req,
                     size_t len)
{
    vectron_error err = {0};
    pd_node *nodes = NULL;
    size_t nn = 0;
    Vectron__DrainNodeRequest *m =
        vectron__drain_node_request__unpack(NULL, len, req);
    if (!m) {
        rpc_reply_error(rq, VECTRON_INVALID, "request does not decode");
        return;
    }
    if (require_leader(s, rq))
        goto out;
    if (pd_catalog_nodes(s->o.catalog, &nodes, &nn, &err)) {
        rpc_reply_error(rq, VECTRON_NOMEM, err.msg);
        goto out;
    }
    pd_node *target = NULL;
    for (size_t i = 0; i < nn; i++)
        if (nodes[i].id == m->node_id)
            target = &nodes[i];
    if (!target) {
        rpc_reply_error(rq, VECTRON_NOT_FOUND, "no such node");
        goto out;
    }
    int rc = 0;
    if (target->state != PD_NODE_DRAINING) {
        target->state = PD_NODE_DRAINING;
        uint8_t *buf;
        size_t blen;
        rc = pd_cmd_node_set(target, &buf, &blen, &err);
        if (!rc)
            rc = propose(s, buf, blen, &err);
    }
    reply_change(s, rq, rc, &err);
out:
    vx_free(nodes);
    vectron__drain_node_request__free_unpacked(m, NULL);
}

void pd_service_handle(void *ctx, rpc_request *rq, uint16_t method,
                       const uint8_t *req, size_t len)
{
    pd_service *s = ctx;
    switch (method) {
    case RPC_PD_REGISTER:
        do_register(s, rq, req, len);
        return;
    case RPC_PD_HEARTBEAT:
        do_heartbeat(s, rq, req, len);
        return;
    case RPC_PD_CATALOG:
        do_catalog(s, rq);
        return;
    case RPC_PD_CREATE:
        do_create(s, rq, req, len);
        return;
    case RPC_PD_DROP:
        do_drop(s, rq, req, len);
        return;
    case RPC_PD_DRAIN:
        do_drain(s, rq, req, len);
        return;
    case RPC_PD_SUBMIT:
        do_submit(s, rq, req, len);
        return;
    default:
        rpc_reply_error(rq, VECTRON_UNSUPPORTED, "unknown method");
    }
}

/* ----------------------------------------------------------- scheduler */

static const pd_node *node_by_id(const pd_node *nodes, size_t nn, uint64_t id)
{
    for (size_t i = 0; i < nn; i++)
        if (nodes[i].id == id)
            return &nodes[i];
    return NULL;
}

/* Sends a control order for group to its leader among the replicas
 * (the reported leader first, then every replica, following NOT_LEADER
 * hints). */
static int order(pd_service *s, const pd_placement *pl, const pd_node *nodes,
                 size_t nn, uint16_t method, const ProtobufCMessage *msg,
                 vectron_error *err)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = vx_malloc(len ? len : 1);
    int rc = VECTRON_UNAVAILABLE;
    if (!buf)
        return vx_err(err, VECTRON_NOMEM, "order");
    protobuf_c_message_pack(msg, buf);
    for (uint32_t j = 0; j < pl->n; j++) {
        const pd_node *nd = node_by_id(nodes, nn, pl->replicas[j]);
        if (!nd)
            continue;
        rpc_result res;
        rc = rpc_call(s->o.rpc, nd->rpc_addr, method, buf, len, s->o.timeout_ms,
                      &res, err);
        if (rc == 0) {
            rpc_result_free(&res);
            break;
        }
    }
    vx_free(buf);
    return rc;
}

/* 1 when node id may hold replicas now: ACTIVE and alive. */
static int good_locked(pd_service *s, const pd_node *nodes, size_t nn,
                       uint64_t id, uint64_t now)
{
    const pd_node *nd = node_by_id(nodes, nn, id);
    return nd && nd->state == PD_NODE_ACTIVE && node_up_locked(s, id, now);
}

/* The group's leader by the reports of its replicas (the latest term
 * wins), its report in *lr; 0 when none reports leading. */
static uint64_t leader_of_locked(pd_service *s, const pd_placement *pl,
                                 soft_report *lr)
{
    uint64_t leader = 0, best_term = 0;
    for (uint32_t j = 0; j < pl->n; j++) {
        soft_report x;
        if (report_of_locked(s, pl->replicas[j], pl->group, &x) &&
            x.role == VXR_STATE_LEADER && x.term >= best_term) {
            best_term = x.term;
            leader = pl->replicas[j];
            if (lr)
                *lr = x;
        }
    }
    return leader;
}

/* Commits the placement of pl's group as r[0..n) (compare-and-set on its
 * conf_epoch, so a stale decision is refused) and logs why. */
static int commit_placement(pd_service *s, const pd_placement *pl,
                            const uint64_t *r, uint32_t n, const char *why)
{
    vectron_error err = {0};
    char list[PD_MAX_REPLICAS * 24] = "";
    size_t at = 0;
    for (uint32_t j = 0; j < n && at < sizeof list; j++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%" PRIu64,
                               j ? "," : "", r[j]);
    uint8_t *buf;
    size_t blen;
    int rc = pd_cmd_place(pl->group, pl->conf_epoch, r, n, &buf, &blen, &err);
    if (!rc)
        rc = propose(s, buf, blen, &err);
    vx_log(rc ? VECTRON_LOG_WARN : VECTRON_LOG_INFO, LOG,
           "group=%" PRIu64 " placement [%s] (%s): %s", pl->group, list, why,
           rc ? err.msg : "committed");
    return rc;
}

/* Orders the group's leader to add node id as a voter (add + promote,
 * which catches it up first; an existing voter answers success). */
static int order_add(pd_service *s, const pd_placement *pl,
                     const pd_node *nodes, size_t nn, uint64_t id)
{
    vectron_error err = {0};
    const pd_node *nd = node_by_id(nodes, nn, id);
    if (!nd)
        return VECTRON_NOT_FOUND;
    Vectron__ChangeReplicasRequest cr = VECTRON__CHANGE_REPLICAS_REQUEST__INIT;
    cr.group = pl->group;
    cr.add_node = id;
    cr.add_raft_address = (char *)nd->raft_addr;
    int rc = order(s, pl, nodes, nn, RPC_CTL_CHANGE_REPLICAS, &cr.base, &err);
    vx_log(rc ? VECTRON_LOG_WARN : VECTRON_LOG_INFO, LOG,
           "group=%" PRIu64 " add node %" PRIu64 " to the group: %s", pl->group,
           id, rc ? err.msg : "done");
    return rc;
}

/* 1 when every one of members[0..nm) has received the group's log (its
 * report shows an applied index). Else orders the first that has not to
 * be added (once its worker has opened it) and returns 0: its report
 * shows the log on a later pass. */
static int joined(pd_service *s, const pd_placement *pl, const pd_node *nodes,
                  size_t nn, const uint64_t *members, size_t nm)
{
    for (size_t g = 0; g < nm; g++) {
        soft_report rep;
        pthread_mutex_lock(&s->mu);
        int have = report_of_locked(s, members[g], pl->group, &rep);
        pthread_mutex_unlock(&s->mu);
        if (have && rep.applied_index > 0)
            continue;
        if (have) /* else its worker has not opened it yet */
            order_add(s, pl, nodes, nn, members[g]);
        return 0;
    }
    return 1;
}

/* Removes drop[0..nd) from the Raft group (orders sent to the members in
 * keep), then commits the placement keep[0..nk). */
static void remove_members(pd_service *s, const pd_placement *pl,
                           const pd_node *nodes, size_t nn,
                           const uint64_t *keep, size_t nk,
                           const uint64_t *drop, size_t nd, const char *why)
{
    pd_placement kept = *pl;
    kept.n = (uint32_t)nk;
    memcpy(kept.replicas, keep, nk * sizeof *keep);
    for (size_t b = 0; b < nd; b++) {
        vectron_error err = {0};
        Vectron__ChangeReplicasRequest cr =
            VECTRON__CHANGE_REPLICAS_REQUEST__INIT;
        cr.group = pl->group;
        cr.remove_node = drop[b];
        int rc =
            order(s, &kept, nodes, nn, RPC_CTL_CHANGE_REPLICAS, &cr.base, &err);
        /* A member already gone answers an error too: the placement
         * change below is what matters once the group has moved on. */
        vx_log(VECTRON_LOG_INFO, LOG,
               "group=%" PRIu64 " remove node %" PRIu64 " from the group: %s",
               pl->group, drop[b], rc ? err.msg : "done");
    }
    commit_placement(s, pl, keep, (uint32_t)nk, why);
}

/* One scheduling step for a placement with bad replicas (see the header).
 * Returns 1 when it had bad replicas (a repair is in progress). */
static int repair(pd_service *s, const pd_placement *pl, const pd_node *nodes,
                  size_t nn, uint32_t *counts, uint32_t rf, uint64_t now)
{
    uint64_t good[PD_MAX_REPLICAS];
    uint64_t bad[PD_MAX_REPLICAS];
    size_t ng = 0, nb = 0;
    pthread_mutex_lock(&s->mu);
    for (uint32_t j = 0; j < pl->n; j++) {
        uint64_t id = pl->replicas[j];
        if (good_locked(s, nodes, nn, id, now))
            good[ng++] = id;
        else
            bad[nb++] = id;
    }
    pthread_mutex_unlock(&s->mu);
    if (nb == 0)
        return 0;

    if (ng < rf && pl->n < PD_MAX_REPLICAS) {
        /* Step 1: place a new replica. */
        size_t at = 0;
        pthread_mutex_lock(&s->mu);
        uint64_t t = pick_node_locked(s, nodes, nn, counts, pl->replicas, pl->n,
                                      now, &at);
        pthread_mutex_unlock(&s->mu);
        if (!t)
            return 1; /* no spare node: stay degraded */
        counts[at]++;
        uint64_t r[PD_MAX_REPLICAS];
        memcpy(r, pl->replicas, pl->n * sizeof *r);
        r[pl->n] = t;
        commit_placement(s, pl, r, pl->n + 1, "repair: new replica");
        return 1;
    }
    /* Step 2: every good replica must have joined the Raft group. */
    if (!joined(s, pl, nodes, nn, good, ng))
        return 1;
    /* Step 3: remove the bad replicas from the group, then the placement. */
    remove_members(s, pl, nodes, nn, good, ng, bad, nb,
                   "repair: without the bad replicas");
    return 1;
}

/* Replica balancing, step by step for one group with more replicas than
 * its factor, every one on a live active node (a move in progress, or a
 * repair whose lost node came back). Everything is derived from the
 * committed placement and the heartbeats, so a new PD leader carries on:
 * the replica to drop is the one on the node holding the most replicas
 * (lowest id on ties), never the last placed; the others must have
 * joined, caught up with the leader's applied index as first seen here,
 * and be voters; a leader to drop hands its leadership over first. */
static void shrink(pd_service *s, const pd_placement *pl, const pd_node *nodes,
                   size_t nn, const uint32_t *counts)
{
    uint64_t keep[PD_MAX_REPLICAS];
    size_t nk = 0, victim = 0;
    uint32_t worst = 0;
    for (uint32_t j = 0; j + 1 < pl->n; j++) {
        uint64_t id = pl->replicas[j];
        const pd_node *nd = node_by_id(nodes, nn, id);
        if (!nd)
            return; /* not a good replica: repair's business */
        size_t at = (size_t)(nd - nodes);
        if (j == 0 || counts[at] > worst ||
            (counts[at] == worst && id < pl->replicas[victim])) {
            worst = counts[at];
            victim = j;
        }
    }
    uint64_t drop = pl->replicas[victim];
    for (uint32_t j = 0; j < pl->n; j++)
        if (j != victim)
            keep[nk++] = pl->replicas[j];

    soft_report lr;
    pthread_mutex_lock(&s->mu);
    uint64_t leader = leader_of_locked(s, pl, &lr);
    pthread_mutex_unlock(&s->mu);
    if (!leader)
        return; /* an election runs */
    if (!joined(s, pl, nodes, nn, keep, nk))
        return;

    /* Caught up: every kept replica has applied what the leader had
     * applied when this PD leader first saw them all joined. */
    pthread_mutex_lock(&s->mu);
    if (s->move_group != pl->group || s->move_epoch != pl->conf_epoch) {
        s->move_group = pl->group;
        s->move_epoch = pl->conf_epoch;
        s->move_target = lr.applied_index;
        vx_log(VECTRON_LOG_INFO, LOG,
               "group=%" PRIu64
               " move: waiting for node(s) to reach index %" PRIu64
               " before dropping node %" PRIu64,
               pl->group, lr.applied_index, drop);
    }
    uint64_t target = s->move_target, best = 0, best_applied = 0;
    int caught_up = 1;
    for (size_t k = 0; k < nk; k++) {
        soft_report x;
        if (!report_of_locked(s, keep[k], pl->group, &x) ||
            x.applied_index < target)
            caught_up = 0;
        else if (x.applied_index >= best_applied) {
            best_applied = x.applied_index;
            best = keep[k];
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (!caught_up)
        return;

    if (leader == drop) {
        vectron_error err = {0};
        Vectron__TransferLeaderRequest tr =
            VECTRON__TRANSFER_LEADER_REQUEST__INIT;
        tr.group = pl->group;
        tr.to_node = best;
        int rc =
            order(s, pl, nodes, nn, RPC_CTL_TRANSFER_LEADER, &tr.base, &err);
        vx_log(rc ? VECTRON_LOG_WARN : VECTRON_LOG_INFO, LOG,
               "group=%" PRIu64 " move: leadership %" PRIu64 " -> %" PRIu64
               " before dropping it: %s",
               pl->group, drop, best, rc ? err.msg : "transferred");
        return; /* the next pass sees the new leader */
    }

    /* Every kept replica must be a voter before one leaves: when the
     * leader counts fewer voters than replicas, re-order the adds (an
     * existing voter answers success). */
    if (lr.voters < pl->n)
        for (size_t k = 0; k < nk; k++)
            if (order_add(s, pl, nodes, nn, keep[k]))
                return;
    remove_members(s, pl, nodes, nn, keep, nk, &drop, 1,
                   "balance: replica moved");
}

/* Starts a replica move when the node holding the most replicas holds at
 * least the threshold more than the least-loaded node that does not hold
 * one of its groups (live active nodes only; the cluster is settled: see
 * schedule_pass). Step 1 of a move: the placement gets the new replica.
 * Returns 1 when it committed one. */
static int start_move(pd_service *s, const pd_placement *pls, size_t npl,
                      const pd_node *nodes, size_t nn, const uint32_t *counts,
                      uint64_t now)
{
    uint32_t thr = s->o.balance_threshold < 2 ? 2 : s->o.balance_threshold;
    size_t hi = nn;
    pthread_mutex_lock(&s->mu);
    for (size_t k = 0; k < nn; k++)
        if (good_locked(s, nodes, nn, nodes[k].id, now) &&
            (hi == nn || counts[k] > counts[hi]))
            hi = k;
    if (hi == nn) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    /* The group of hi's whose best target holds the fewest replicas;
     * on ties one hi does not lead (no leadership transfer needed). */
    const pd_placement *pick = NULL;
    size_t to = 0;
    int pick_leads = 0;
    for (size_t i = 0; i < npl; i++) {
        int holds = 0;
        for (uint32_t j = 0; j < pls[i].n; j++)
            holds |= pls[i].replicas[j] == nodes[hi].id;
        if (!holds || pls[i].n >= PD_MAX_REPLICAS)
            continue;
        size_t at = 0;
        if (!pick_node_locked(s, nodes, nn, counts, pls[i].replicas, pls[i].n,
                              now, &at) ||
            counts[hi] < counts[at] + thr)
            continue;
        int leads = leader_of_locked(s, &pls[i], NULL) == nodes[hi].id;
        if (!pick || counts[at] < counts[to] ||
            (counts[at] == counts[to] && pick_leads && !leads)) {
            pick = &pls[i];
            to = at;
            pick_leads = leads;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (!pick)
        return 0;
    vx_log(VECTRON_LOG_INFO, LOG,
           "group=%" PRIu64 " move: a replica from node %" PRIu64
           " (%u replicas) to node %" PRIu64 " (%u)",
           pick->group, nodes[hi].id, counts[hi], nodes[to].id, counts[to]);
    uint64_t r[PD_MAX_REPLICAS];
    memcpy(r, pick->replicas, pick->n * sizeof *r);
    r[pick->n] = nodes[to].id;
    return commit_placement(s, pick, r, pick->n + 1, "balance: new replica") ==
           0;
}

/* Leader balancing: when the node leading the most shards leads at least
 * two more than the node leading the fewest (among live active nodes
 * holding replicas), hand one of its groups' leadership to a replica on a
 * node with fewer (one transfer per pass, so the figures settle between
 * moves). leader_of[i]: the leader of pls[i] (every group has one). */
static void balance_leaders(pd_service *s, const pd_placement *pls, size_t npl,
                            const uint64_t *leader_of, const pd_node *nodes,
                            size_t nn)
{
    uint32_t *lead = vx_calloc(nn ? nn : 1, sizeof *lead);
    if (!lead)
        return;
    for (size_t i = 0; i < npl; i++)
        for (size_t k = 0; k < nn; k++)
            lead[k] += nodes[k].id == leader_of[i];
    size_t hi = 0;
    for (size_t k = 0; k < nn; k++)
        if (lead[k] > lead[hi])
            hi = k;
    for (size_t i = 0; nn && i < npl; i++) {
        if (leader_of[i] != nodes[hi].id)
            continue;
        /* The replica on the node with the fewest leaderships. */
        size_t to = hi;
        for (uint32_t j = 0; j < pls[i].n; j++)
            for (size_t k = 0; k < nn; k++)
                if (nodes[k].id == pls[i].replicas[j] &&
                    nodes[k].state == PD_NODE_ACTIVE && lead[k] < lead[to])
                    to = k;
        if (to == hi || lead[hi] < lead[to] + 2)
            continue;
        vectron_error err = {0};
        Vectron__TransferLeaderRequest tr =
            VECTRON__TRANSFER_LEADER_REQUEST__INIT;
        tr.group = pls[i].group;
        tr.to_node = nodes[to].id;
        int rc = order(s, &pls[i], nodes, nn, RPC_CTL_TRANSFER_LEADER, &tr.base,
                       &err);
        vx_log(rc ? VECTRON_LOG_WARN : VECTRON_LOG_INFO, LOG,
               "group=%" PRIu64 " leadership %" PRIu64 " -> %" PRIu64
               " (leads %u against %u): %s",
               pls[i].group, nodes[hi].id, nodes[to].id, lead[hi], lead[to],
               rc ? err.msg : "transferred");
        break;
    }
    vx_free(lead);
}

/* One pass: repair first; then, only when no repair runs, carry on the
 * replica move in progress (at most one cluster-wide is started); then,
 * when every placement has exactly its factor of replicas, every active
 * node is alive and every replica reports with a leader in each group,
 * start a replica move or else balance leaders. */
static void schedule_pass(pd_service *s)
{
    pd_collection *cols = NULL;
    pd_node *nodes = NULL;
    pd_placement *pls = NULL;
    uint32_t *counts = NULL, *rf = NULL;
    uint64_t *leader_of = NULL;
    size_t ncol = 0, nn = 0, npl = 0;
    if (!leading(s))
        return;
    uint64_t now = now_ms();
    pthread_mutex_lock(&s->mu);
    int settled = now - s->leader_since >= s->o.grace_ms;
    pthread_mutex_unlock(&s->mu);
    if (!settled)
        return;
    if (pd_catalog_list(s->o.catalog, &cols, &ncol, NULL) ||
        pd_catalog_nodes(s->o.catalog, &nodes, &nn, NULL) ||
        pd_catalog_placements(s->o.catalog, &pls, &npl, NULL) ||
        !(counts = vx_calloc(nn ? nn : 1, sizeof *counts)) ||
        !(rf = vx_calloc(npl ? npl : 1, sizeof *rf)) ||
        !(leader_of = vx_calloc(npl ? npl : 1, sizeof *leader_of)))
        goto out;
    for (size_t i = 0; i < nn; i++)
        counts[i] = replicas_on(pls, npl, nodes[i].id);
    int repairing = 0;
    for (size_t i = 0; i < npl; i++) {
        for (size_t c = 0; c < ncol; c++)
            if (pls[i].group >= cols[c].first_group &&
                pls[i].group < cols[c].first_group + cols[c].p.shard_number)
                rf[i] = cols[c].p.replication_factor;
        if (rf[i])
            repairing |= repair(s, &pls[i], nodes, nn, counts, rf[i], now);
    }
    if (repairing)
        goto out;
    /* A move in progress is finished even with balancing turned off (or
     * an active node down): it only drops a replica once the others are
     * caught-up voters. */
    for (size_t i = 0; i < npl; i++)
        if (rf[i] && pls[i].n > rf[i]) {
            shrink(s, &pls[i], nodes, nn, counts);
            goto out; /* one move at a time; leaders wait for it */
        }
    /* Settled? Leader balancing needs every replica reporting and a
     * leader in every group; a replica move, also every active node
     * alive and no group short of its factor. */
    int full = 1;
    pthread_mutex_lock(&s->mu);
    for (size_t k = 0; k < nn; k++)
        if (nodes[k].state == PD_NODE_ACTIVE &&
            !node_up_locked(s, nodes[k].id, now))
            full = 0; /* a node is down */
    for (size_t i = 0; settled && i < npl; i++) {
        if (rf[i] && pls[i].n < rf[i])
            full = 0; /* under-replicated, no node to repair it */
        for (uint32_t j = 0; j < pls[i].n; j++) {
            soft_report x;
            if (!node_up_locked(s, pls[i].replicas[j], now) ||
                !report_of_locked(s, pls[i].replicas[j], pls[i].group, &x))
                settled = 0;
        }
        if (!(leader_of[i] = leader_of_locked(s, &pls[i], NULL)))
            settled = 0; /* an election runs */
    }
    pthread_mutex_unlock(&s->mu);
    if (!settled)
        goto out;
    if (!(!s->o.no_replica_balance && full &&
          start_move(s, pls, npl, nodes, nn, counts, now)))
        balance_leaders(s, pls, npl, leader_of, nodes, nn);
out:
    vx_free(cols);
    vx_free(nodes);
    vx_free(pls);
    vx_free(counts);
    vx_free(rf);
    vx_free(leader_of);
}

static void *sched_main(void *arg)
{
    pd_service *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        vx_timespec_add_ms(&until, s->o.schedule_ms);
        while (!s->stop &&
               pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT)
            ;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->mu);
        schedule_pass(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int pd_service_start(const pd_service_options *o, pd_service **out,
                     vectron_error *err)
{
    pd_service *s = vx_calloc(1, sizeof *s);
    if (!s)
        return vx_err(err, VECTRON_NOMEM, "pd service");
    s->o = *o;
    if (!s->o.grace_ms)
        s->o.grace_ms = 5000;
    if (!s->o.timeout_ms)
        s->o.timeout_ms = 5000;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (s->o.schedule_ms) {
        if (pthread_create(&s->sched, NULL, sched_main, s) != 0) {
            pthread_mutex_destroy(&s->mu);
            pthread_cond_destroy(&s->cv);
            vx_free(s);
            return vx_err(err, VECTRON_INTERNAL, "pd scheduler thread");
        }
        s->have_sched = 1;
    }
    *out = s;
    return 0;
}

void pd_service_stop(pd_service *s)
{
    if (!s)
        return;
    if (s->have_sched) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->sched, NULL);
    }
    for (size_t i = 0; i < s->nn; i++)
        vx_free(s->nodes[i].r);
    vx_free(s->nodes);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    vx_free(s);
}
