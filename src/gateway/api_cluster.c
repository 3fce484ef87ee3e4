/*
 * api_cluster.c - GET /cluster and GET /collections/{name}/cluster: the
 * node's view of the cluster in Qdrant's shape, plus Vectron's own fields
 * (nodes, and per collection its shards with replica set, leader, role,
 * Raft and store figures). `vectron status` and the dashboard read them;
 * the shape is documented in docs/api.md ("Cluster state") and must stay
 * stable: fields may be added, never renamed or removed.
 *
 * Data comes from the catalog (collections, shard groups, placement and
 * nodes) and the host's reports (host_report_of: for a local replica its
 * Raft state, applied index, points, pending, bytes on disk and index
 * memory; in a cluster gateway, the shard leader's figures as the PD last
 * heard them). In `vectron serve` there is one node, member 1, which
 * hosts every shard.
 *
 * Threading: any HTTP thread; reads thread-safe state only.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "gateway/api.h"

static const char *role_name(int state)
{
    switch (state) {
    case VXR_STATE_LEADER:
        return "Leader";
    case VXR_STATE_FOLLOWER:
        return "Follower";
    case VXR_STATE_CANDIDATE:
        return "Candidate";
    default:
        return "Unavailable";
    }
}

/* One shard of col as Vectron's cluster entry; NULL when out of memory. */
static json_t *shard_entry(gw_api *api, const pd_collection *col, uint32_t k,
                           uint64_t self)
{
    uint64_t group = col->first_group + k;
    host_report hr = {0};
    pd_placement pl;
    int have = host_report_of(api->host, group, &hr, NULL) == 0;
    int hosted = have || hr.group == group;
    json_t *replicas = json_array();
    if (replicas && pd_catalog_placement(api->catalog, group, &pl, NULL) == 0)
        for (uint32_t j = 0; j < pl.n; j++)
            json_array_append_new(replicas,
                                  json_integer((json_int_t)pl.replicas[j]));
    else if (replicas && self)
        json_array_append_new(replicas, json_integer((json_int_t)self));
    int raft = hosted && hr.have_raft;
    return json_pack(
        "{s:I,s:I,s:o,s:o,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "shard_id",
        (json_int_t)k, "group", (json_int_t)group, "replicas", replicas,
        "leader",
        hosted && hr.leader_id ? json_integer((json_int_t)hr.leader_id)
                               : json_null(),
        "role", raft ? role_name(hr.role) : "Unavailable", "state",
        hosted ? "Active" : "Dead", "term", (json_int_t)(raft ? hr.term : 0),
        "commit_index", (json_int_t)(raft ? hr.commit_index : 0),
        "applied_index", (json_int_t)hr.applied_index, "points",
        (json_int_t)hr.points, "pending", (json_int_t)hr.pending, "disk_bytes",
        (json_int_t)hr.bytes, "index_memory_bytes", (json_int_t)hr.index_bytes);
}

static const char *node_state(uint8_t st)
{
    return st == PD_NODE_ACTIVE     ? "Up"
           : st == PD_NODE_DRAINING ? "Draining"
                                    : "Removed";
}

void gw_api_cluster(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    gw_api *api = c.api;
    vectron_error err = {0};
    pd_collection *cols = NULL;
    pd_node *nodes = NULL;
    size_t n = 0, nn = 0;
    int rc = pd_catalog_list(api->catalog, &cols, &n, &err);
    if (!rc)
        rc = pd_catalog_nodes(api->catalog, &nodes, &nn, &err);
    if (rc) {
        vx_free(cols);
        api_fail_err(&c, rc, &err);
        return;
    }
    /* `vectron serve`: this process is node 1 and runs the PD group; a
     * cluster gateway has no Raft node of its own. */
    vxr_group_info pd;
    int have_pd =
        api->node && vxr_group_status(api->node, PD_GROUP_ID, &pd, NULL) == 0;
    uint64_t self = have_pd ? pd.member_id : 0;
    const char *addr = api->node ? vxr_node_address(api->node) : "";
    char self_key[24];
    snprintf(self_key, sizeof self_key, "%" PRIu64, self);

    json_t *colls = json_array();
    for (size_t i = 0; colls && i < n; i++) {
        json_t *shards = json_array();
        for (uint32_t k = 0; shards && k < cols[i].p.shard_number; k++)
            if (json_array_append_new(shards,
                                      shard_entry(api, &cols[i], k, self)))
                json_decref(shards), shards = NULL;
        if (json_array_append_new(
                colls,
                json_pack("{s:s,s:I,s:I,s:o}", "name", cols[i].name,
                          "shard_count", (json_int_t)cols[i].p.shard_number,
                          "replication_factor",
                          (json_int_t)cols[i].p.replication_factor, "shards",
                          shards)))
            json_decref(colls), colls = NULL;
    }
    json_t *nodes_j = json_array();
    if (nodes_j && nn == 0 && api->node)
        json_array_append_new(nodes_j,
                              json_pack("{s:I,s:s,s:s}", "id",
                                        (json_int_t)(self ? self : 1),
                                        "address", addr, "state", "Up"));
    for (size_t i = 0; nodes_j && i < nn; i++)
        json_array_append_new(
            nodes_j,
            json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)nodes[i].id,
                      "address", nodes[i].rpc_addr, "raft_address",
                      nodes[i].raft_addr, "state", node_state(nodes[i].state)));
    json_t *peers = json_object();
    if (peers && api->node)
        json_object_set_new(peers, self_key, json_pack("{s:s}", "uri", addr));
    json_t *res = json_pack(
        "{s:s,s:I,s:o,s:{s:I,s:I,s:i,s:o,s:s,s:b},s:{s:s},s:{},"
        "s:o,s:I,s:o}",
        "status", "enabled", "peer_id", (json_int_t)self, "peers", peers,
        "raft_info", "term", (json_int_t)(have_pd ? pd.term : 0), "commit",
        (json_int_t)(have_pd ? pd.commit_index : 0), "pending_operations",
        have_pd && pd.commit_index > pd.last_applied
            ? (int)(pd.commit_index - pd.last_applied)
            : 0,
        "leader",
        have_pd && pd.leader_id ? json_integer((json_int_t)pd.leader_id)
                                : json_null(),
        "role", have_pd ? role_name(pd.state) : "Unavailable", "is_voter",
        have_pd, "consensus_thread_status", "consensus_thread_status",
        have_pd || !api->node ? "working" : "stopped", "message_send_failures",
        "nodes", nodes_j, "metadata_epoch",
        (json_int_t)pd_catalog_epoch(api->catalog), "collections", colls);
    vx_free(cols);
    vx_free(nodes);
    if (!res) {
        api_fail(&c, VECTRON_NOMEM, "out of memory");
        return;
    }
    api_ok(&c, res);
}

void gw_api_collection_cluster(void *ctx, const http_request *r,
                               http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    pd_collection col;
    if (api_collection(&c, &col))
        return;
    vxr_group_info pd;
    uint64_t self = c.api->node && vxr_group_status(c.api->node, PD_GROUP_ID,
                                                    &pd, NULL) == 0
                        ? pd.member_id
                        : 0;
    json_t *local = json_array();
    for (uint32_t k = 0; local && k < col.p.shard_number; k++) {
        host_report hr = {0};
        int have =
            host_report_of(c.api->host, col.first_group + k, &hr, NULL) == 0 ||
            hr.group == col.first_group + k;
        if (json_array_append_new(local,
                                  json_pack("{s:I,s:I,s:s}", "shard_id",
                                            (json_int_t)k, "points_count",
                                            (json_int_t)(have ? hr.points : 0),
                                            "state", have ? "Active" : "Dead")))
            json_decref(local), local = NULL;
    }
    json_t *res =
        json_pack("{s:I,s:I,s:o,s:[],s:[]}", "peer_id", (json_int_t)self,
                  "shard_count", (json_int_t)col.p.shard_number, "local_shards",
                  local, "remote_shards", "shard_transfers");
    if (!res) {
        api_fail(&c, VECTRON_NOMEM, "out of memory");
        return;
    }
    api_ok(&c, res);
}
