/*
 * api_cluster.c - GET /cluster and GET /collections/{name}/cluster: the
 * node's view of the cluster in Qdrant's shape, plus Vectron's own fields
 * (nodes, and per collection its shards with replica set, leader, role,
 * Raft and store figures). `vectron status` and the dashboard read them;
 * the shape is documented in docs/api.md ("Cluster state") and must stay
 * stable: fields may be added, never renamed or removed.
 *
 * Data comes from the catalog (collections, shard groups), the host (open
 * shards: applied index, points, pending, bytes on disk, index memory) and
 * the Raft node (term, commit index, leader, role per group). In `vectron
 * serve` there is one node, member 1, which hosts every shard.
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

/* Bytes allocated on disk by the regular files directly under dir (the
 * shard's LMDB files and its HNSW checkpoint; LMDB's map is sparse, so
 * the allocated size, not the file size). */
static uint64_t dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    uint64_t total = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            total += (uint64_t)st.st_blocks * 512u;
    }
    closedir(d);
    return total;
}

/* One shard of col as Vectron's cluster entry; NULL when out of memory. */
static json_t *shard_entry(gw_api *api, const pd_collection *col, uint32_t k)
{
    uint64_t group = col->first_group + k;
    vxr_group_info gi;
    int have_gi = vxr_group_status(api->node, group, &gi, NULL) == 0;
    host_shard *s = host_acquire(api->host, group);
    uint64_t points = 0, applied = 0, pending = 0, bytes = 0, mem = 0;
    if (s) {
        shard *sh = host_shard_shard(s);
        store_count(shard_store(sh), NULL, &points, NULL);
        applied = shard_applied_index(sh);
        pending = shard_pending(sh);
        bytes = dir_bytes(store_dir(shard_store(sh)));
        mem = shard_index_memory(sh);
        host_release(s);
    }
    uint64_t self = have_gi ? gi.member_id : 0;
    json_t *replicas = json_array();
    if (replicas && self)
        json_array_append_new(replicas, json_integer((json_int_t)self));
    return json_pack(
        "{s:I,s:I,s:o,s:o,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "shard_id",
        (json_int_t)k, "group", (json_int_t)group, "replicas", replicas,
        "leader",
        have_gi && gi.leader_id ? json_integer((json_int_t)gi.leader_id)
                                : json_null(),
        "role", have_gi ? role_name(gi.state) : "Unavailable", "state",
        s ? "Active" : "Dead", "term", (json_int_t)(have_gi ? gi.term : 0),
        "commit_index", (json_int_t)(have_gi ? gi.commit_index : 0),
        "applied_index", (json_int_t)applied, "points", (json_int_t)points,
        "pending", (json_int_t)pending, "disk_bytes", (json_int_t)bytes,
        "index_memory_bytes", (json_int_t)mem);
}

void gw_api_cluster(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    gw_api *api = c.api;
    vectron_error err = {0};
    pd_collection *cols = NULL;
    size_t n = 0;
    int rc = pd_catalog_list(api->catalog, &cols, &n, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    vxr_group_info pd;
    int have_pd = vxr_group_status(api->node, PD_GROUP_ID, &pd, NULL) == 0;
    uint64_t self = have_pd ? pd.member_id : 1;
    const char *addr = vxr_node_address(api->node);
    char self_key[24];
    snprintf(self_key, sizeof self_key, "%" PRIu64, self);

    json_t *colls = json_array();
    for (size_t i = 0; colls && i < n; i++) {
        json_t *shards = json_array();
        for (uint32_t k = 0; shards && k < cols[i].p.shard_number; k++)
            if (json_array_append_new(shards, shard_entry(api, &cols[i], k)))
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
    json_t *res = json_pack(
        "{s:s,s:I,s:{s:{s:s}},s:{s:I,s:I,s:i,s:o,s:s,s:b},s:{s:s},s:{},"
        "s:[{s:I,s:s,s:s}],s:I,s:o}",
        "status", "enabled", "peer_id", (json_int_t)self, "peers", self_key,
        "uri", addr, "raft_info", "term",
        (json_int_t)(have_pd ? pd.term : 0), "commit",
        (json_int_t)(have_pd ? pd.commit_index : 0), "pending_operations",
        have_pd && pd.commit_index > pd.last_applied
            ? (int)(pd.commit_index - pd.last_applied)
            : 0,
        "leader",
        have_pd && pd.leader_id ? json_integer((json_int_t)pd.leader_id)
                                : json_null(),
        "role", have_pd ? role_name(pd.state) : "Unavailable", "is_voter", 1,
        "consensus_thread_status", "consensus_thread_status",
        have_pd ? "working" : "stopped", "message_send_failures", "nodes",
        "id", (json_int_t)self, "address", addr, "state", "Up",
        "metadata_epoch", (json_int_t)pd_catalog_epoch(api->catalog),
        "collections", colls);
    vx_free(cols);
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
    uint64_t self = vxr_group_status(c.api->node, PD_GROUP_ID, &pd, NULL) == 0
                        ? pd.member_id
                        : 1;
    json_t *local = json_array();
    for (uint32_t k = 0; local && k < col.p.shard_number; k++) {
        host_shard *s = host_acquire(c.api->host, col.first_group + k);
        uint64_t points = 0;
        if (s) {
            store_count(shard_store(host_shard_shard(s)), NULL, &points, NULL);
            host_release(s);
        }
        if (json_array_append_new(
                local, json_pack("{s:I,s:I,s:s}", "shard_id", (json_int_t)k,
                                 "points_count", (json_int_t)points, "state",
                                 s ? "Active" : "Dead")))
            json_decref(local), local = NULL;
    }
    json_t *res = json_pack("{s:I,s:I,s:o,s:[],s:[]}", "peer_id",
                            (json_int_t)self, "shard_count",
                            (json_int_t)col.p.shard_number, "local_shards",
                            local, "remote_shards", "shard_transfers");
    if (!res) {
        api_fail(&c, VECTRON_NOMEM, "out of memory");
        return;
    }
    api_ok(&c, res);
}
