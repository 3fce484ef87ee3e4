/*
 * replica.c - two inspection verbs for operators and the fault tests.
 *
 * `vectron pd-catalog PD-ADDRESSES` prints the PD leader's catalog as one
 * JSON object: the epoch, the nodes (id, addresses, state, up, ms since
 * the last heartbeat) and every collection's shards with their replicas,
 * leader and conf_epoch.
 *
 * `vectron node drain PD-ADDRESSES NODE-ID` marks a worker draining: the
 * PD's scheduler moves its replicas to the other workers while it still
 * serves (docs/cluster.md).
 *
 * `vectron replica-write WORKER-RPC-ADDRESS GROUP ID DIM [EPOCH]` writes one
 * point (id ID, every component equal to ID) straight to one replica with
 * wait=true (naming placement epoch EPOCH, default none) and exits 0 only
 * if that replica acknowledged it: the fault tests check that a
 * partitioned minority acknowledges nothing, the cluster tests that a
 * stale epoch is refused.
 *
 * `vectron replica-dump WORKER-RPC-ADDRESS GROUP`: lists the
 * points that one replica of a shard group holds, read from that replica
 * alone (eventual consistency, no routing), one JSON object per line:
 *     {"id": 7, "vector_crc": 1234567, "payload": {...}}
 * then a last line {"applied_index": N, "points": M}. For operators
 * checking that replicas agree, and for the cluster's fault tests, which
 * compare every replica's point set and vector bytes.
 *
 * `vectron replica-status WORKER-RPC-ADDRESS`: one JSON line per replica
 * the worker hosts, as that worker sees it now:
 *     {"group": 2, "role": 3, "term": 4, "commit_index": 90,
 *      "applied_index": 90, "points": 10000, "pending": 0}
 * (role: 1 follower, 2 candidate, 3 leader; pending: applied writes not
 * yet in the HNSW graph). The cluster benchmark polls it until every
 * replica has indexed what it applied.
 *
 * Threading: main thread (plus the RPC client's loop thread).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "shard/shard.h"
#include "proto/vectron.pb-c.h"
#include "rpc/methods.h"
#include "rpc/rpc.h"
#include "rpc/rpc_proto.h"

int vx_replica_dump_main(int argc, char **argv);
int vx_pd_catalog_main(int argc, char **argv);
int vx_replica_write_main(int argc, char **argv);
int vx_node_main(int argc, char **argv);
int vx_replica_status_main(int argc, char **argv);

/* Calls the PD leader among the comma-separated members in list. */
static int call_pd(rpc_client *c, const char *list, uint16_t method,
                   const ProtobufCMessage *msg, unsigned deadline_ms,
                   rpc_result *out, vectron_error *err)
{
    char *copy = strdup(list), *addrs[16];
    if (!copy)
        return vx_err(err, VECTRON_NOMEM, "out of memory");
    size_t n = rpc_split_members(copy, addrs, 16);
    int rc = rpc_call_leader(c, addrs, n, 0, NULL, method, msg, deadline_ms,
                             out, err);
    free(copy);
    return rc;
}

int vx_replica_status_main(int argc, char **argv)
{
    rpc_client *c = NULL;
    vectron_error err = {0};
    if (argc != 2) {
        fprintf(stderr, "usage: vectron replica-status WORKER-RPC-ADDRESS\n");
        return 2;
    }
    if (rpc_client_start(NULL, &c, &err)) {
        fprintf(stderr, "vectron replica-status: %s\n", err.msg);
        return 1;
    }
    Vectron__ShardStatusRequest rq = VECTRON__SHARD_STATUS_REQUEST__INIT;
    uint8_t buf[8];
    size_t n = vectron__shard_status_request__pack(&rq, buf);
    rpc_result res;
    int rc = rpc_call(c, argv[1], RPC_SHARD_STATUS, buf, n, 10000, &res, &err);
    rpc_client_stop(c);
    if (rc) {
        fprintf(stderr, "vectron replica-status: %s\n", err.msg);
        return 1;
    }
    Vectron__ShardStatusResponse *a =
        vectron__shard_status_response__unpack(NULL, res.len, res.data);
    rpc_result_free(&res);
    if (!a) {
        fprintf(stderr, "vectron replica-status: answer does not decode\n");
        return 1;
    }
    for (size_t i = 0; i < a->n_shards; i++) {
        const Vectron__ShardReport *r = a->shards[i];
        printf("{\"group\":%" PRIu64 ",\"role\":%" PRIu32
               ",\"term\":%" PRIu64 ",\"commit_index\":%" PRIu64
               ",\"applied_index\":%" PRIu64 ",\"points\":%" PRIu64
               ",\"pending\":%" PRIu64 "}\n",
               r->group, r->role, r->term, r->commit_index, r->applied_index,
               r->points, r->pending);
    }
    vectron__shard_status_response__free_unpacked(a, NULL);
    return 0;
}

int vx_node_main(int argc, char **argv)
{
    rpc_client *c = NULL;
    vectron_error err = {0};
    char *end = NULL;
    if (argc != 4 || strcmp(argv[1], "drain") != 0) {
        fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
                "usage: vectron node drain PD-RPC-ADDRESS[,ADDRESS...] "
                "NODE-ID\n"
                "Marks a worker draining: the PD moves its replicas to the "
                "other workers.\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    uint64_t id = strtoull(argv[3], &end, 10);
    if (*end || !id) {
        fprintf(stderr, "vectron node: bad node id '%s'\n", argv[3]);
        return 2;
    }
    if (rpc_client_start(NULL, &c, &err)) {
        fprintf(stderr, "vectron node: %s\n", err.msg);
        return 1;
    }
    Vectron__DrainNodeRequest rq = VECTRON__DRAIN_NODE_REQUEST__INIT;
    rq.node_id = id;
    rpc_result res;
    int rc = call_pd(c, argv[2], RPC_PD_DRAIN, &rq.base, 10000, &res, &err);
    if (!rc)
        rpc_result_free(&res);
    rpc_client_stop(c);
    if (rc) {
        fprintf(stderr, "vectron node: %s\n", err.msg);
        return 1;
    }
    printf("node %" PRIu64 " draining\n", id);
    return 0;
}

int vx_replica_write_main(int argc, char **argv)
{
    rpc_client *c = NULL;
    vectron_error err = {0};
    char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: vectron replica-write WORKER-RPC-ADDRESS "
                        "GROUP ID DIM [PLACEMENT-EPOCH]\n");
        return 2;
    }
    uint64_t group = strtoull(argv[2], &e1, 10);
    uint64_t id = strtoull(argv[3], &e2, 10);
    unsigned long dim = strtoul(argv[4], &e3, 10);
    uint64_t epoch = argc == 6 ? strtoull(argv[5], &e4, 10) : 0;
    if (*e1 || *e2 || *e3 || (e4 && *e4) || !group || !dim || dim > 65536) {
        fprintf(stderr, "vectron replica-write: bad arguments\n");
        return 2;
    }
    float *v = calloc(dim, sizeof *v);
    shard_cmd cmd;
    const uint8_t *b;
    size_t bl;
    point_id pid = {.num = id};
    shard_cmd_init(&cmd);
    for (unsigned long i = 0; v && i < dim; i++)
        v[i] = (float)id;
    if (v)
        shard_cmd_upsert(&cmd, &pid, v, (uint32_t)dim, NULL, 0);
    int rc = !v ? vx_err(&err, VECTRON_NOMEM, "out of memory")
                : shard_cmd_finish(&cmd, &b, &bl, &err);
    if (!rc)
        rc = rpc_client_start(NULL, &c, &err);
    if (!rc) {
        Vectron__ShardWriteRequest rq = VECTRON__SHARD_WRITE_REQUEST__INIT;
        rq.group = group;
        rq.command.data = (uint8_t *)b;
        rq.command.len = bl;
        rq.wait = 1;
        rq.conf_epoch = epoch;
        size_t n = vectron__shard_write_request__get_packed_size(&rq);
        uint8_t *buf = malloc(n);
        rpc_result res;
        if (!buf) {
            rc = vx_err(&err, VECTRON_NOMEM, "out of memory");
        } else {
            vectron__shard_write_request__pack(&rq, buf);
            rc =
                rpc_call(c, argv[1], RPC_SHARD_WRITE, buf, n, 5000, &res, &err);
            if (!rc)
                rpc_result_free(&res);
            free(buf);
        }
        rpc_client_stop(c);
    }
    shard_cmd_close(&cmd);
    free(v);
    if (rc) {
        fprintf(stderr, "vectron replica-write: %s\n", err.msg);
        return 1;
    }
    printf("acknowledged\n");
    return 0;
}

int vx_pd_catalog_main(int argc, char **argv)
{
    rpc_client *c = NULL;
    vectron_error err = {0};
    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: vectron pd-catalog PD-RPC-ADDRESS[,ADDRESS...]\n"
                "Prints the Placement Driver's catalog (JSON).\n");
        return argc == 2 ? 0 : 2;
    }
    if (rpc_client_start(NULL, &c, &err)) {
        fprintf(stderr, "vectron pd-catalog: %s\n", err.msg);
        return 1;
    }
    Vectron__GetCatalogRequest rq = VECTRON__GET_CATALOG_REQUEST__INIT;
    Vectron__GetCatalogResponse *cat = NULL;
    rpc_result res;
    if (call_pd(c, argv[1], RPC_PD_CATALOG, &rq.base, 5000, &res, &err) == 0) {
        cat = vectron__get_catalog_response__unpack(NULL, res.len, res.data);
        rpc_result_free(&res);
        if (!cat)
            vx_err(&err, VECTRON_CORRUPT, "catalog does not decode");
    }
    rpc_client_stop(c);
    if (!cat) {
        fprintf(stderr, "vectron pd-catalog: %s\n", err.msg);
        return 1;
    }
    printf("{\"epoch\":%" PRIu64 ",\"nodes\":[", cat->epoch);
    for (size_t i = 0; i < cat->n_nodes; i++) {
        const Vectron__NodeInfo *n = cat->nodes[i];
        printf("%s{\"id\":%" PRIu64 ",\"raft\":\"%s\",\"rpc\":\"%s\","
               "\"state\":%d,\"up\":%s,\"last_heartbeat_ms\":%" PRIu64 "}",
               i ? "," : "", n->id, n->raft_address, n->rpc_address,
               (int)n->state, n->up ? "true" : "false", n->last_heartbeat_ms);
    }
    printf("],\"collections\":[");
    for (size_t i = 0; i < cat->n_collections; i++) {
        const Vectron__CatalogCollection *col = cat->collections[i];
        printf("%s{\"name\":\"%s\",\"shards\":[", i ? "," : "", col->name);
        for (size_t k = 0; k < col->n_shards; k++) {
            const Vectron__ShardPlacement *sp = col->shards[k];
            printf("%s{\"group\":%" PRIu64 ",\"leader\":%" PRIu64
                   ",\"conf_epoch\":%" PRIu64 ",\"replicas\":[",
                   k ? "," : "", sp->group, sp->leader, sp->conf_epoch);
            for (size_t j = 0; j < sp->n_replicas; j++)
                printf("%s%" PRIu64, j ? "," : "", sp->replicas[j]);
            printf("],\"reports\":[");
            for (size_t j = 0; j < sp->n_reports; j++) {
                const Vectron__ShardReport *r = sp->reports[j];
                printf("%s{\"node\":%" PRIu64 ",\"role\":%u,\"term\":%" PRIu64
                       ",\"applied_index\":%" PRIu64 ",\"points\":%" PRIu64 "}",
                       j ? "," : "", r->node_id, r->role, r->term,
                       r->applied_index, r->points);
            }
            printf("]}");
        }
        printf("]}");
    }
    printf("]}\n");
    vectron__get_catalog_response__free_unpacked(cat, NULL);
    return 0;
}

static void print_id(const Vectron__PointId *id)
{
    if (id && id->uuid.len == 16) {
        const uint8_t *u = id->uuid.data;
        printf("\"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x"
               "%02x%02x\"",
               u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
               u[10], u[11], u[12], u[13], u[14], u[15]);
    } else {
        printf("%" PRIu64, id ? id->num : 0);
    }
}

int vx_replica_dump_main(int argc, char **argv)
{
    rpc_client *c = NULL;
    vectron_error err = {0};
    char *end = NULL;
    if (argc != 3 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: vectron replica-dump WORKER-RPC-ADDRESS GROUP\n"
                "Lists the points of one replica of a shard group (JSON "
                "lines), read from that replica only.\n");
        return argc == 2 ? 0 : 2;
    }
    uint64_t group = strtoull(argv[2], &end, 10);
    if (*end || !group) {
        fprintf(stderr, "vectron replica-dump: bad group '%s'\n", argv[2]);
        return 2;
    }
    if (rpc_client_start(NULL, &c, &err)) {
        fprintf(stderr, "vectron replica-dump: %s\n", err.msg);
        return 1;
    }
    Vectron__PointId from = VECTRON__POINT_ID__INIT;
    int has_from = 0, rc = 0;
    uint64_t total = 0, applied = 0;
    for (;;) {
        Vectron__ShardScanRequest rq = VECTRON__SHARD_SCAN_REQUEST__INIT;
        rq.group = group;
        rq.limit = 512;
        rq.with_vector = 1;
        rq.with_payload = 1;
        rq.consistency = 3;
        if (has_from) {
            rq.from = &from;
            rq.has_from = 1;
        }
        size_t n = vectron__shard_scan_request__get_packed_size(&rq);
        uint8_t *buf = malloc(n ? n : 1);
        rpc_result res;
        if (!buf) {
            rc = vx_err(&err, VECTRON_NOMEM, "out of memory");
            break;
        }
        vectron__shard_scan_request__pack(&rq, buf);
        rc = rpc_call(c, argv[1], RPC_SHARD_SCAN, buf, n, 10000, &res, &err);
        free(buf);
        if (rc)
            break;
        Vectron__ShardScanResponse *a =
            vectron__shard_scan_response__unpack(NULL, res.len, res.data);
        rpc_result_free(&res);
        if (!a) {
            rc = vx_err(&err, VECTRON_CORRUPT, "answer does not decode");
            break;
        }
        for (size_t i = 0; i < a->n_points; i++) {
            const Vectron__Point *p = a->points[i];
            printf("{\"id\":");
            print_id(p->id);
            printf(",\"vector_crc\":%" PRIu32 ",\"payload\":",
                   vx_crc32c(0, p->vector, p->n_vector * sizeof(float)));
            if (p->payload.len)
                fwrite(p->payload.data, 1, p->payload.len, stdout);
            else
                printf("{}");
            printf("}\n");
        }
        total += a->n_points;
        applied = a->applied_index;
        int more = a->has_next && a->next;
        if (more) {
            from.num = a->next->num;
            from.uuid.len = 0;
            static uint8_t u[16];
            if (a->next->uuid.len == 16) {
                memcpy(u, a->next->uuid.data, 16);
                from.uuid.data = u;
                from.uuid.len = 16;
            }
            has_from = 1;
        }
        vectron__shard_scan_response__free_unpacked(a, NULL);
        if (!more)
            break;
    }
    rpc_client_stop(c);
    if (rc) {
        fprintf(stderr, "vectron replica-dump: %s\n", err.msg);
        return 1;
    }
    printf("{\"applied_index\":%" PRIu64 ",\"points\":%" PRIu64 "}\n", applied,
           total);
    return 0;
}
