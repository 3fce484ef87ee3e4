/*
 * test_cluster.c - the cluster's control and data planes in one process:
 * a Placement Driver member (catalog group + PD service + scheduler) and
 * four workers (each its own Raft node, host, shard service and agent),
 * all talking over loopback RPC and Raft exactly as separate processes do.
 * Covered: registration and heartbeats, collection create with placement
 * (replication factor 3 on distinct workers), founding replicas electing
 * leaders, writes through the leader reaching every replica, reads at each
 * consistency, NOT_LEADER answers with a hint, bad requests refused, and
 * re-replication: a worker stopped for good is replaced by the spare,
 * which receives the shard's data, and the dead one leaves the placement;
 * replica balancing: an empty worker that joins gets a replica moved onto
 * it (the old copy is removed, the group keeps taking writes); a moved
 * replica catching up by store copy with its deferred entries spilled to
 * a file (host_copy.c).
 * The multi-process fault tests are in tests/integration (issue 4).
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "pd/pd_proto.h"
#include "pd/pd_service.h"
#include "proto/vectron.pb-c.h"
#include "rpc/methods.h"
#include "rpc/rpc.h"
#include "rpc/rpc_proto.h"
#include "shard/shard.h"
#include "worker/agent.h"
#include "worker/host.h"
#include "worker/host_int.h"
#include "worker/service.h"

static char dir[64];

static int rm_entry(const char *p, const struct stat *s, int f, struct FTW *w)
{
    (void)s;
    (void)f;
    (void)w;
    return remove(p);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    vectron_log_set(vectron_log_stderr, NULL,
                    getenv("VECTRON_TEST_LOG") ? VECTRON_LOG_DEBUG
                                               : VECTRON_LOG_ERROR);
    snprintf(dir, sizeof dir, "/tmp/vectron-cluster-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(cluster, .init = setup, .fini = teardown, .timeout = 120);

static unsigned snap_threshold; /* 0: the default */

static vxr_settings fast_raft(void)
{
    vxr_settings s;
    vxr_settings_default(&s);
    s.election_timeout_ms = 400;
    s.heartbeat_timeout_ms = 40;
    s.connect_retry_ms = 50;
    if (snap_threshold) {
        s.snapshot_threshold = snap_threshold;
        s.snapshot_trailing = 2;
    }
    return s;
}

static vxr_node *start_node(const char *name)
{
    char path[128];
    vxr_settings s = fast_raft();
    vxr_node_config cfg = {.listen_address = "127.0.0.1:0", .settings = &s};
    vxr_node *node = NULL;
    vectron_error err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cfg.data_dir = path;
    cr_assert_eq(vxr_node_start(&cfg, &node, &err), 0, "%s", err.msg);
    return node;
}

/* ---- the PD member ----------------------------------------------------- */

static void pd_apply(void *ctx, uint64_t index, const void *buf, size_t len,
                     int64_t *result)
{
    *result = pd_catalog_apply(ctx, index, buf, len);
}

static int pd_snap(void *ctx, uint64_t index, void **buf, size_t *len,
                   vectron_error *err)
{
    (void)index;
    return pd_catalog_snapshot(ctx, buf, len, err);
}

static int pd_rest(void *ctx, uint64_t index, const void *buf, size_t len,
                   vectron_error *err)
{
    (void)index;
    return pd_catalog_restore(ctx, buf, len, err);
}

typedef struct pd_member {
    vxr_node *node;
    pd_catalog *catalog;
    rpc_client *rpc;
    pd_service *svc;
    rpc_server *server;
    char addr[64];
} pd_member;

static void pd_start(pd_member *p)
{
    vectron_error err = {0};
    p->node = start_node("pd");
    cr_assert_eq(pd_catalog_new(&p->catalog, &err), 0);
    char self[64];
    snprintf(self, sizeof self, "%s", vxr_node_address(p->node));
    vxr_member m = {.id = 1, .address = self};
    vxr_fsm f = {.ctx = p->catalog,
                 .apply = pd_apply,
                 .snapshot = pd_snap,
                 .restore = pd_rest};
    vxr_group_params gp = {.group_id = PD_GROUP_ID,
                           .member_id = 1,
                           .members = &m,
                           .n_members = 1,
                           .fsm = &f};
    cr_assert_eq(vxr_group_create(p->node, &gp, &err), 0, "%s", err.msg);
    cr_assert_eq(host_wait_group_ready(p->node, PD_GROUP_ID, 10000, &err), 0);
    cr_assert_eq(rpc_client_start(NULL, &p->rpc, &err), 0);
    pd_service_options so = {.node = p->node,
                             .catalog = p->catalog,
                             .rpc = p->rpc,
                             .timeout_ms = 5000,
                             .grace_ms = 1500,
                             .schedule_ms = 200};
    cr_assert_eq(pd_service_start(&so, &p->svc, &err), 0);
    rpc_server_options ro = {.listen = "127.0.0.1:0",
                             .threads = 4,
                             .handler = pd_service_handle,
                             .ctx = p->svc};
    cr_assert_eq(rpc_server_start(&ro, &p->server, &err), 0, "%s", err.msg);
    snprintf(p->addr, sizeof p->addr, "127.0.0.1:%u",
             rpc_server_port(p->server));
}

static void pd_stop(pd_member *p)
{
    rpc_server_stop(p->server);
    pd_service_stop(p->svc);
    rpc_client_stop(p->rpc);
    host_close_group(p->node, PD_GROUP_ID);
    vxr_node_stop(p->node);
    pd_catalog_free(p->catalog);
}

/* ---- workers ----------------------------------------------------------- */

typedef struct worker {
    uint64_t id;
    vxr_node *node;
    host *host;
    wk_service svc;
    rpc_server *server;
    rpc_client *rpc;
    wk_agent *agent;
    char addr[64];
    int running;
} worker;

static void fatal(void *arg, const char *msg)
{
    (void)arg;
    cr_assert_fail("fatal apply: %s", msg);
}

static void worker_start(worker *w, uint64_t id, const char *pd)
{
    vectron_error err = {0};
    char name[32], data[128];
    memset(w, 0, sizeof *w);
    w->id = id;
    snprintf(name, sizeof name, "w%" PRIu64, id);
    snprintf(data, sizeof data, "%s/%s", dir, name);
    w->node = start_node(name);
    /* The RPC client and address (filled in below, before any snapshot)
     * let a replica copy the store from a peer (host_copy.c). */
    cr_assert_eq(rpc_client_start(NULL, &w->rpc, &err), 0);
    host_options ho = {.data_dir = data,
                       .node = w->node,
                       .member_id = id,
                       .fatal = fatal,
                       .rpc = w->rpc,
                       .rpc_address = w->addr};
    store_options_default(&ho.store);
    ho.store.map_size = 64u << 20;
    cr_assert_eq(host_open(&ho, &w->host, &err), 0, "%s", err.msg);
    w->svc.host = w->host;
    w->svc.node = w->node;
    w->svc.timeout_ms = 5000;
    w->svc.max_filter_depth = 16;
    w->svc.max_k = 1000;
    rpc_server_options ro = {.listen = "127.0.0.1:0",
                             .threads = 4,
                             .handler = wk_service_handle,
                             .ctx = &w->svc};
    cr_assert_eq(rpc_server_start(&ro, &w->server, &err), 0);
    snprintf(w->addr, sizeof w->addr, "127.0.0.1:%u",
             rpc_server_port(w->server));
    wk_agent_options ao = {.host = w->host,
                           .service = &w->svc,
                           .rpc = w->rpc,
                           .pd = pd,
                           .node_id = id,
                           .raft_address = vxr_node_address(w->node),
                           .rpc_address = w->addr,
                           .heartbeat_ms = 150,
                           .timeout_ms = 3000};
    cr_assert_eq(wk_agent_start(&ao, &w->agent, &err), 0, "%s", err.msg);
    w->running = 1;
}

static void worker_stop(worker *w)
{
    if (!w->running)
        return;
    wk_agent_stop(w->agent);
    rpc_server_stop(w->server);
    host_close(w->host);
    rpc_client_stop(w->rpc);
    vxr_node_stop(w->node);
    w->running = 0;
}

/* ---- helpers ----------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static Vectron__GetCatalogResponse *catalog(rpc_client *c, const char *pd)
{
    Vectron__GetCatalogRequest rq = VECTRON__GET_CATALOG_REQUEST__INIT;
    uint8_t buf[16];
    size_t n = vectron__get_catalog_request__pack(&rq, buf);
    rpc_result r;
    vectron_error err = {0};
    cr_assert_eq(rpc_call(c, pd, RPC_PD_CATALOG, buf, n, 5000, &r, &err), 0,
                 "%s", err.msg);
    Vectron__GetCatalogResponse *m =
        vectron__get_catalog_response__unpack(NULL, r.len, r.data);
    rpc_result_free(&r);
    cr_assert_not_null(m);
    return m;
}

static int call_msg(rpc_client *c, const char *addr, uint16_t method,
                    const ProtobufCMessage *msg, rpc_result *out,
                    vectron_error *err)
{
    return rpc_call_msg(c, addr, method, msg, 5000, out, err);
}

static const char *addr_of(worker *ws, size_t nw, uint64_t id)
{
    for (size_t i = 0; i < nw; i++)
        if (ws[i].id == id && ws[i].running)
            return ws[i].addr;
    return NULL;
}

/* Waits until every shard of the collection has a leader reported;
 * returns the catalog (caller frees). */
static Vectron__GetCatalogResponse *wait_leaders(rpc_client *c, const char *pd,
                                                 double limit_s)
{
    double t0 = now_s();
    for (;;) {
        Vectron__GetCatalogResponse *cat = catalog(c, pd);
        int ok = cat->n_collections > 0;
        for (size_t i = 0; ok && i < cat->n_collections; i++)
            for (size_t k = 0; k < cat->collections[i]->n_shards; k++)
                ok &= cat->collections[i]->shards[k]->leader != 0;
        if (ok)
            return cat;
        vectron__get_catalog_response__free_unpacked(cat, NULL);
        cr_assert(now_s() - t0 < limit_s, "no leaders after %.0f s", limit_s);
        usleep(100 * 1000);
    }
}

static int write_point(rpc_client *c, const char *addr, uint64_t group,
                       uint64_t id, const float *v, vectron_error *err)
{
    shard_cmd cmd;
    const uint8_t *b;
    size_t bl;
    point_id pid = {.num = id};
    shard_cmd_init(&cmd);
    shard_cmd_upsert(&cmd, &pid, v, 4, "{\"k\":1}", 7);
    cr_assert_eq(shard_cmd_finish(&cmd, &b, &bl, err), 0);
    Vectron__ShardWriteRequest rq = VECTRON__SHARD_WRITE_REQUEST__INIT;
    rq.group = group;
    rq.command.data = (uint8_t *)b;
    rq.command.len = bl;
    rq.wait = 1;
    rpc_result r;
    int rc = call_msg(c, addr, RPC_SHARD_WRITE, &rq.base, &r, err);
    if (!rc)
        rpc_result_free(&r);
    shard_cmd_close(&cmd);
    return rc;
}

static uint64_t count_on(rpc_client *c, const char *addr, uint64_t group,
                         uint32_t consistency, int *rc_out)
{
    Vectron__ShardCountRequest rq = VECTRON__SHARD_COUNT_REQUEST__INIT;
    rq.group = group;
    rq.consistency = consistency;
    rpc_result r;
    vectron_error err = {0};
    int rc = call_msg(c, addr, RPC_SHARD_COUNT, &rq.base, &r, &err);
    *rc_out = rc;
    if (rc)
        return 0;
    Vectron__ShardCountResponse *m =
        vectron__shard_count_response__unpack(NULL, r.len, r.data);
    rpc_result_free(&r);
    uint64_t n = m->count;
    vectron__shard_count_response__free_unpacked(m, NULL);
    return n;
}

static void create(rpc_client *c, const char *pd, uint32_t shards, uint32_t rf)
{
    pd_collection_params p = {.dim = 4,
                              .metric = VECTRON_METRIC_L2,
                              .m = 8,
                              .ef_construction = 32,
                              .shard_number = shards,
                              .replication_factor = rf,
                              .read_consistency = PD_READ_EVENTUAL};
    Vectron__CollectionParams pm;
    pd_params_to_proto(&p, &pm);
    Vectron__CreateCollectionRequest rq =
        VECTRON__CREATE_COLLECTION_REQUEST__INIT;
    rq.name = "c";
    rq.params = &pm;
    rpc_result r;
    vectron_error err = {0};
    int rc = call_msg(c, pd, RPC_PD_CREATE, &rq.base, &r, &err);
    cr_assert_eq(rc, 0, "create: %s", err.msg);
    rpc_result_free(&r);
}

/* Waits until every running worker has registered. */
static void wait_nodes(rpc_client *c, const char *pd, size_t n)
{
    double t0 = now_s();
    for (;;) {
        Vectron__GetCatalogResponse *cat = catalog(c, pd);
        size_t up = 0;
        for (size_t i = 0; i < cat->n_nodes; i++)
            up += cat->nodes[i]->up;
        vectron__get_catalog_response__free_unpacked(cat, NULL);
        if (up >= n)
            return;
        cr_assert(now_s() - t0 < 20, "workers did not register");
        usleep(100 * 1000);
    }
}

/* Writes point id to shard k of the collection through its leader,
 * retrying (following elections) for up to 20 s. */
static void write_via_leader(rpc_client *c, const char *pd, worker *ws,
                             size_t nw, size_t k, uint64_t id, const float *v)
{
    vectron_error err = {0};
    double t0 = now_s();
    for (;;) {
        Vectron__GetCatalogResponse *cat = wait_leaders(c, pd, 30);
        const Vectron__ShardPlacement *sp = cat->collections[0]->shards[k];
        const char *addr = addr_of(ws, nw, sp->leader);
        int rc = addr ? write_point(c, addr, sp->group, id, v, &err)
                      : VECTRON_UNAVAILABLE;
        vectron__get_catalog_response__free_unpacked(cat, NULL);
        if (rc == 0)
            return;
        cr_assert(now_s() - t0 < 20, "no write to shard %zu: %s", k, err.msg);
        usleep(200 * 1000);
    }
}

/* Starts the PD member, a client and workers 1..3, and waits for them. */
static void cluster_start(pd_member *pd, worker *ws, rpc_client **c)
{
    vectron_error err = {0};
    pd_start(pd);
    cr_assert_eq(rpc_client_start(NULL, c, &err), 0);
    for (uint64_t i = 0; i < 3; i++)
        worker_start(&ws[i], i + 1, pd->addr);
    wait_nodes(*c, pd->addr, 3);
}

static void cluster_stop(pd_member *pd, worker *ws, size_t nw, rpc_client *c)
{
    for (size_t i = 0; i < nw; i++)
        worker_stop(&ws[i]);
    rpc_client_stop(c);
    pd_stop(pd);
}

/* ---- tests ------------------------------------------------------------- */

Test(cluster, replicated_writes_reads_and_repair)
{
    pd_member pd;
    worker ws[4];
    rpc_client *c;
    vectron_error err = {0};
    cluster_start(&pd, ws, &c);

    /* Too few workers for the factor: refused with a reason. */
    pd_collection_params p5 = {.dim = 4,
                               .shard_number = 1,
                               .replication_factor = 5,
                               .m = 8,
                               .ef_construction = 32};
    Vectron__CollectionParams pm5;
    pd_params_to_proto(&p5, &pm5);
    Vectron__CreateCollectionRequest bad =
        VECTRON__CREATE_COLLECTION_REQUEST__INIT;
    bad.name = "big";
    bad.params = &pm5;
    rpc_result r;
    cr_assert_eq(call_msg(c, pd.addr, RPC_PD_CREATE, &bad.base, &r, &err),
                 VECTRON_UNAVAILABLE, "%s", err.msg);

    create(c, pd.addr, 2, 3);
    Vectron__GetCatalogResponse *cat = wait_leaders(c, pd.addr, 30);
    cr_assert_eq(cat->n_collections, 1);
    Vectron__CatalogCollection *col = cat->collections[0];
    cr_assert_eq(col->n_shards, 2);
    uint64_t group[2], leader[2];
    for (int k = 0; k < 2; k++) {
        Vectron__ShardPlacement *sp = col->shards[k];
        cr_assert_eq(sp->n_replicas, 3, "on three distinct workers");
        group[k] = sp->group;
        leader[k] = sp->leader;
    }
    vectron__get_catalog_response__free_unpacked(cat, NULL);

    /* Writes through the leader; a follower answers NOT_LEADER. */
    for (uint64_t i = 1; i <= 40; i++) {
        float v[4] = {(float)i, 1, 2, 3};
        int k = (int)(i % 2);
        cr_assert_eq(
            write_point(c, addr_of(ws, 3, leader[k]), group[k], i, v, &err), 0,
            "write %" PRIu64 ": %s", i, err.msg);
    }
    uint64_t follower = leader[0] == 1 ? 2 : 1;
    float v0[4] = {0, 0, 0, 0};
    cr_assert_eq(
        write_point(c, addr_of(ws, 3, follower), group[0], 99, v0, &err),
        VECTRON_NOT_LEADER);
    cr_assert(strstr(err.msg, "leader="), "%s", err.msg);

    /* Strong reads on the leader see everything; a strong read on a
     * follower is refused; eventual reads on every replica converge. */
    int rc;
    cr_assert_eq(count_on(c, addr_of(ws, 3, leader[0]), group[0], 1, &rc), 20);
    cr_assert_eq(rc, 0);
    count_on(c, addr_of(ws, 3, follower), group[0], 1, &rc);
    cr_assert_eq(rc, VECTRON_NOT_LEADER);
    for (uint64_t w = 1; w <= 3; w++) {
        double t0 = now_s();
        while (count_on(c, addr_of(ws, 3, w), group[0], 3, &rc) != 20) {
            cr_assert(now_s() - t0 < 10, "replica %" PRIu64 " behind", w);
            usleep(50 * 1000);
        }
    }

    /* A search on a replica, and a search with the wrong dimension. */
    Vectron__ShardSearchRequest sq = VECTRON__SHARD_SEARCH_REQUEST__INIT;
    float q[4] = {4, 1, 2, 3};
    sq.group = group[0];
    sq.vector = q;
    sq.n_vector = 4;
    sq.k = 3;
    sq.rescore = -1;
    sq.exact_selectivity = -1;
    sq.consistency = 3;
    cr_assert_eq(call_msg(c, addr_of(ws, 3, follower), RPC_SHARD_SEARCH,
                          &sq.base, &r, &err),
                 0, "%s", err.msg);
    Vectron__ShardSearchResponse *sr =
        vectron__shard_search_response__unpack(NULL, r.len, r.data);
    rpc_result_free(&r);
    cr_assert_eq(sr->n_hits, 3);
    cr_assert_eq(sr->hits[0]->id->num, 4, "the nearest is point 4");
    vectron__shard_search_response__free_unpacked(sr, NULL);
    sq.n_vector = 3;
    cr_assert_eq(call_msg(c, addr_of(ws, 3, follower), RPC_SHARD_SEARCH,
                          &sq.base, &r, &err),
                 VECTRON_DIMENSION);
    uint8_t junk[5] = {0xff, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(rpc_call(c, addr_of(ws, 3, follower), RPC_SHARD_SEARCH, junk,
                          5, 5000, &r, &err),
                 VECTRON_INVALID);

    /* Re-replication: a spare joins, then worker `victim` stops for good.
     * The PD places a new replica on the spare, adds it to each group,
     * removes the dead one. */
    worker_start(&ws[3], 4, pd.addr);
    wait_nodes(c, pd.addr, 4);
    uint64_t victim = follower;
    worker_stop(&ws[victim - 1]);
    double t0 = now_s();
    for (;;) {
        cat = catalog(c, pd.addr);
        int done = 1;
        for (size_t k = 0; k < cat->collections[0]->n_shards; k++) {
            Vectron__ShardPlacement *sp = cat->collections[0]->shards[k];
            int has_victim = 0, has_spare = 0;
            for (size_t j = 0; j < sp->n_replicas; j++) {
                has_victim |= sp->replicas[j] == victim;
                has_spare |= sp->replicas[j] == 4;
            }
            done &= !has_victim && has_spare && sp->n_replicas == 3;
        }
        vectron__get_catalog_response__free_unpacked(cat, NULL);
        if (done)
            break;
        cr_assert(now_s() - t0 < 60, "the PD did not repair the placement");
        usleep(200 * 1000);
    }
    /* The spare holds every point of both shards. */
    for (int k = 0; k < 2; k++) {
        t0 = now_s();
        while (count_on(c, ws[3].addr, group[k], 3, &rc) != 20) {
            cr_assert(now_s() - t0 < 20,
                      "spare missing data of group %" PRIu64 " (rc %d)",
                      group[k], rc);
            usleep(100 * 1000);
        }
    }
    /* And the group still takes writes (with a leader among the live). */
    float v[4] = {7, 7, 7, 7};
    write_via_leader(c, pd.addr, ws, 4, 0, 1000, v);
    cluster_stop(&pd, ws, 4, c);
}

/* Replica counts per worker id (1..4) over the collection's placement. */
static void replica_counts(rpc_client *c, const char *pd, uint32_t counts[5],
                           int *all_rf2)
{
    Vectron__GetCatalogResponse *cat = catalog(c, pd);
    memset(counts, 0, 5 * sizeof *counts);
    *all_rf2 = cat->n_collections == 1;
    for (size_t k = 0; *all_rf2 && k < cat->collections[0]->n_shards; k++) {
        Vectron__ShardPlacement *sp = cat->collections[0]->shards[k];
        *all_rf2 &= sp->n_replicas == 2;
        for (size_t j = 0; j < sp->n_replicas; j++)
            if (sp->replicas[j] >= 1 && sp->replicas[j] <= 4)
                counts[sp->replicas[j]]++;
    }
    vectron__get_catalog_response__free_unpacked(cat, NULL);
}

Test(cluster, replicas_move_to_a_new_worker)
{
    pd_member pd;
    worker ws[4];
    rpc_client *c;
    vectron_error err = {0};
    cluster_start(&pd, ws, &c);
    create(c, pd.addr, 3, 2); /* six replicas: two per worker */
    Vectron__GetCatalogResponse *cat = wait_leaders(c, pd.addr, 30);
    uint64_t group[3];
    for (int k = 0; k < 3; k++) {
        Vectron__ShardPlacement *sp = cat->collections[0]->shards[k];
        group[k] = sp->group;
        for (uint64_t i = 1; i <= 10; i++) {
            float v[4] = {(float)i, 0, 0, 0};
            cr_assert_eq(write_point(c, addr_of(ws, 3, sp->leader), group[k],
                                     i + 100 * (uint64_t)k, v, &err),
                         0, "%s", err.msg);
        }
    }
    vectron__get_catalog_response__free_unpacked(cat, NULL);
    uint32_t counts[5];
    int rf2;
    replica_counts(c, pd.addr, counts, &rf2);
    cr_assert(rf2 && counts[1] == 2 && counts[2] == 2 && counts[3] == 2);

    /* An empty worker joins: 2,2,2,0 differ by two, so one replica moves
     * onto it (then 1,2,2,1 or the like: balanced, nothing more moves). */
    worker_start(&ws[3], 4, pd.addr);
    double t0 = now_s();
    for (;;) {
        replica_counts(c, pd.addr, counts, &rf2);
        uint32_t lo = counts[1], hi = counts[1];
        for (int i = 2; i <= 4; i++) {
            lo = counts[i] < lo ? counts[i] : lo;
            hi = counts[i] > hi ? counts[i] : hi;
        }
        if (rf2 && counts[4] >= 1 && hi - lo <= 1)
            break;
        cr_assert(now_s() - t0 < 60, "no replica moved to the new worker");
        usleep(200 * 1000);
    }
    cr_assert_eq(counts[4], 1, "exactly one move: %u", counts[4]);
    /* The new worker holds the moved group's points; the worker it moved
     * from no longer hosts that group. */
    cat = catalog(c, pd.addr);
    uint64_t moved = 0;
    int at = -1;
    for (int k = 0; k < 3; k++) {
        Vectron__ShardPlacement *sp = cat->collections[0]->shards[k];
        for (size_t j = 0; j < sp->n_replicas; j++)
            if (sp->replicas[j] == 4) {
                moved = sp->group;
                at = k;
            }
    }
    vectron__get_catalog_response__free_unpacked(cat, NULL);
    cr_assert(moved && at >= 0);
    int rc;
    t0 = now_s();
    while (count_on(c, ws[3].addr, moved, 3, &rc) != 10) {
        cr_assert(now_s() - t0 < 20, "new replica missing data (rc %d)", rc);
        usleep(100 * 1000);
    }
    t0 = now_s();
    for (;;) {
        int hosted = 0;
        for (int i = 0; i < 3; i++) {
            host_report hr;
            hosted += host_report_of(ws[i].host, moved, &hr, NULL) == 0;
        }
        if (hosted == 1)
            break; /* two copies: the new one and one old one */
        cr_assert(now_s() - t0 < 20, "the old copy stays (%d hosted)", hosted);
        usleep(100 * 1000);
    }
    /* The group takes writes with its new membership. */
    float v[4] = {9, 9, 9, 9};
    write_via_leader(c, pd.addr, ws, 4, (size_t)at, 999, v);
    t0 = now_s();
    while (count_on(c, ws[3].addr, moved, 3, &rc) != 11) {
        cr_assert(now_s() - t0 < 20, "new replica misses the write");
        usleep(100 * 1000);
    }

    cluster_stop(&pd, ws, 4, c);
}

/* Writes ids start, start+1, ... round robin to the collection's shards
 * (id % 3 picks the group), each retried on every worker until one (the
 * leader) takes it, until told to stop; counts the ids of each group. */
typedef struct writer_arg {
    worker *ws;
    uint64_t group[3];
    uint64_t next;
    uint64_t written[3];
    atomic_int stop;
    int failed;
} writer_arg;

static void *writer_main(void *arg)
{
    writer_arg *w = arg;
    rpc_client *c = NULL;
    vectron_error err = {0};
    if (rpc_client_start(NULL, &c, &err)) {
        w->failed = 1;
        return NULL;
    }
    while (!atomic_load(&w->stop)) {
        uint64_t id = w->next++;
        int k = (int)(id % 3);
        float v[4] = {(float)id, 1, 0, 0};
        double t0 = now_s();
        int ok = 0;
        while (!ok && now_s() - t0 < 20) {
            for (int i = 0; i < 4 && !ok; i++)
                if (w->ws[i].running && w->ws[i].addr[0])
                    ok = write_point(c, w->ws[i].addr, w->group[k], id, v,
                                     &err) == 0;
            if (!ok)
                usleep(50 * 1000);
        }
        if (!ok) {
            w->failed = 1;
            break;
        }
        w->written[k]++;
    }
    rpc_client_stop(c);
    return NULL;
}

Test(cluster, store_copy_spills_deferred_entries)
{
    pd_member pd;
    worker ws[4];
    rpc_client *c;
    vectron_error err = {0};
    /* Snapshots every few entries, so that a moved replica must install
     * one and copy the store; nothing deferred stays in memory; the
     * copier waits a while, so entries are deferred, and then replays
     * them off apply_mu in rounds. */
    snap_threshold = 16;
    hc_defer_mem_max = 0;
    hc_tail_entries = hc_tail_bytes = 0; /* off the lock all it can */
    hc_test_swap_delay_ms = 1500;
    cluster_start(&pd, ws, &c);
    create(c, pd.addr, 3, 2);
    Vectron__GetCatalogResponse *cat = wait_leaders(c, pd.addr, 30);
    writer_arg wa = {.ws = ws, .next = 1};
    for (int k = 0; k < 3; k++)
        wa.group[k] = cat->collections[0]->shards[k]->group;
    vectron__get_catalog_response__free_unpacked(cat, NULL);
    for (uint64_t id = 1; id <= 120; id++) { /* 40 a group: compacted */
        float v[4] = {(float)id, 1, 0, 0};
        write_via_leader(c, pd.addr, ws, 3, id % 3, id, v);
        wa.written[id % 3]++;
    }
    wa.next = 121;
    pthread_t wt;
    cr_assert_eq(pthread_create(&wt, NULL, writer_main, &wa), 0);
    uint64_t spilled0 = atomic_load(&hc_spilled);

    /* An empty worker joins: a replica moves onto it, by store copy, while
     * the writer goes on. */
    worker_start(&ws[3], 4, pd.addr);
    uint32_t counts[5];
    int rf2;
    double t0 = now_s();
    for (;;) {
        replica_counts(c, pd.addr, counts, &rf2);
        if (rf2 && counts[4] >= 1)
            break;
        cr_assert(now_s() - t0 < 60, "no replica moved to the new worker");
        usleep(200 * 1000);
    }
    cat = catalog(c, pd.addr);
    int at = -1;
    for (int k = 0; k < 3; k++) {
        Vectron__ShardPlacement *sp = cat->collections[0]->shards[k];
        for (size_t j = 0; j < sp->n_replicas; j++)
            if (sp->replicas[j] == 4)
                at = k;
    }
    vectron__get_catalog_response__free_unpacked(cat, NULL);
    cr_assert(at >= 0);
    /* Until the copy is in: the new replica answers UNAVAILABLE (or not
     * at all) while it catches up, and entries keep spilling. */
    int rc;
    t0 = now_s();
    while (atomic_load(&hc_spilled) == spilled0 ||
           count_on(c, ws[3].addr, wa.group[at], 3, &rc) == 0 || rc) {
        cr_assert(now_s() - t0 < 60,
                  "no store copy with spilled entries "
                  "(spilled %" PRIu64 ", rc %d)",
                  atomic_load(&hc_spilled) - spilled0, rc);
        usleep(100 * 1000);
    }
    atomic_store(&wa.stop, 1);
    pthread_join(wt, NULL);
    cr_assert(!wa.failed, "a write failed");
    /* Every write of the moved group, those spilled during the copy among
     * them, is on the new replica, at the leader's applied index. */
    uint64_t want = wa.written[at];
    t0 = now_s();
    while (count_on(c, ws[3].addr, wa.group[at], 3, &rc) != want || rc) {
        cr_assert(now_s() - t0 < 20,
                  "new replica holds %" PRIu64 " points of %" PRIu64 " (rc %d)",
                  count_on(c, ws[3].addr, wa.group[at], 3, &rc), want, rc);
        usleep(100 * 1000);
    }
    host_report mine, other;
    t0 = now_s();
    for (;;) {
        cr_assert_eq(host_report_of(ws[3].host, wa.group[at], &mine, &err), 0,
                     "%s", err.msg);
        uint64_t top = 0;
        for (int i = 0; i < 3; i++)
            if (host_report_of(ws[i].host, wa.group[at], &other, NULL) == 0 &&
                other.applied_index > top)
                top = other.applied_index;
        if (mine.applied_index == top && mine.points == want)
            break;
        cr_assert(now_s() - t0 < 20, "applied %" PRIu64 " of %" PRIu64,
                  mine.applied_index, top);
        usleep(100 * 1000);
    }
    /* The spill file is gone once replayed. */
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/w4/shards/%" PRIu64 ".deferred", dir,
             wa.group[at]);
    cr_assert_neq(stat(path, &st), 0, "%s left behind", path);
    cluster_stop(&pd, ws, 4, c);
}
