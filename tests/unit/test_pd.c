/*
 * test_pd.c - the Placement Driver's catalog state machine: commands,
 * deterministic apply, snapshot round trip, and rejection of damaged
 * commands and snapshots (every truncation and every bit flip).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "pd/catalog.h"

static pd_collection_params params(uint32_t dim, uint32_t shards)
{
    pd_collection_params p = {.dim = dim,
                              .metric = VECTRON_METRIC_COSINE,
                              .quant = VECTRON_QUANT_NONE,
                              .m = 16,
                              .ef_construction = 100,
                              .shard_number = shards,
                              .replication_factor = 1,
                              .read_consistency = PD_READ_EVENTUAL};
    return p;
}

static int apply_create(pd_catalog *c, uint64_t index, const char *name,
                        uint32_t shards)
{
    uint8_t *buf;
    size_t len;
    vectron_error err;
    pd_collection_params p = params(8, shards);
    cr_assert_eq(pd_cmd_create(name, &p, &buf, &len, &err), 0, "%s", err.msg);
    int rc = pd_catalog_apply(c, index, buf, len);
    vx_free(buf);
    return rc;
}

static int apply_drop(pd_catalog *c, uint64_t index, const char *name)
{
    uint8_t *buf;
    size_t len;
    vectron_error err;
    cr_assert_eq(pd_cmd_drop(name, &buf, &len, &err), 0, "%s", err.msg);
    int rc = pd_catalog_apply(c, index, buf, len);
    vx_free(buf);
    return rc;
}

Test(pd, names)
{
    vectron_error err;
    cr_assert_eq(pd_check_name("a-b_c.1", 7, &err), 0);
    cr_assert_eq(pd_check_name("", 0, &err), VECTRON_INVALID);
    cr_assert_eq(pd_check_name("a/b", 3, &err), VECTRON_INVALID);
    cr_assert_eq(pd_check_name("..", 2, &err), VECTRON_INVALID);
    cr_assert_eq(pd_check_name("a b", 3, &err), VECTRON_INVALID);
    char big[300];
    memset(big, 'x', sizeof big);
    cr_assert_eq(pd_check_name(big, 256, &err), VECTRON_INVALID);
    cr_assert_eq(pd_check_name(big, 255, &err), 0);
}

Test(pd, create_drop_and_ids_are_deterministic)
{
    pd_catalog *a, *b;
    vectron_error err;
    cr_assert_eq(pd_catalog_new(&a, &err), 0);
    cr_assert_eq(pd_catalog_new(&b, &err), 0);
    pd_catalog *both[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        pd_catalog *c = both[k];
        cr_assert_eq(apply_create(c, 3, "zeta", 2), 0);
        cr_assert_eq(apply_create(c, 5, "alpha", 3), 0);
        cr_assert_eq(apply_create(c, 6, "alpha", 1), VECTRON_EXISTS);
        cr_assert_eq(apply_drop(c, 7, "nope"), VECTRON_NOT_FOUND);
        cr_assert_eq(apply_drop(c, 8, "zeta"), 0);
        cr_assert_eq(apply_create(c, 9, "zeta", 1), 0);
    }
    pd_collection x, y;
    cr_assert_eq(pd_catalog_get(a, "alpha", &x, &err), 0);
    cr_assert_eq(pd_catalog_get(b, "alpha", &y, &err), 0);
    cr_assert_eq(memcmp(&x, &y, sizeof x), 0, "replicas agree");
    cr_assert_eq(x.id, 2);
    cr_assert_eq(x.first_group, PD_FIRST_SHARD_GROUP + 2);
    cr_assert_eq(x.created_index, 5);
    cr_assert_eq(x.p.shard_number, 3);
    /* A re-created collection gets new ids and groups, never reused. */
    cr_assert_eq(pd_catalog_get(a, "zeta", &x, &err), 0);
    cr_assert_eq(x.id, 3);
    cr_assert_eq(x.first_group, PD_FIRST_SHARD_GROUP + 5);
    cr_assert_eq(pd_catalog_epoch(a), 9);
    pd_collection *list;
    size_t n;
    cr_assert_eq(pd_catalog_list(a, &list, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(list[0].name, "alpha");
    cr_assert_str_eq(list[1].name, "zeta");
    vx_free(list);
    cr_assert_eq(pd_catalog_get(a, "gone", &x, &err), VECTRON_NOT_FOUND);
    pd_catalog_free(a);
    pd_catalog_free(b);
}

Test(pd, bad_commands_are_rejected_without_change)
{
    pd_catalog *c;
    vectron_error err;
    uint8_t *buf;
    size_t len;
    cr_assert_eq(pd_catalog_new(&c, &err), 0);
    pd_collection_params p = params(8, 1);
    cr_assert_eq(pd_cmd_create("ok", &p, &buf, &len, &err), 0);
    for (size_t cut = 0; cut < len; cut++)
        cr_assert_eq(pd_catalog_apply(c, 1, buf, cut), VECTRON_CORRUPT,
                     "truncated to %zu", cut);
    for (size_t bit = 0; bit < len * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_eq(pd_catalog_apply(c, 1, buf, len), VECTRON_CORRUPT,
                     "bit %zu", bit);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cr_assert_eq(pd_catalog_epoch(c), 0);
    cr_assert_eq(pd_catalog_apply(c, 1, buf, len), 0);
    vx_free(buf);
    p.dim = 0;
    cr_assert_eq(pd_cmd_create("x", &p, &buf, &len, &err), VECTRON_INVALID);
    p = params(8, 0);
    cr_assert_eq(pd_cmd_create("x", &p, &buf, &len, &err), VECTRON_INVALID);
    p = params(8, 1);
    cr_assert_eq(pd_cmd_create("a/b", &p, &buf, &len, &err), VECTRON_INVALID);
    pd_catalog_free(c);
}

Test(pd, snapshot_round_trip_and_damage)
{
    pd_catalog *c, *r;
    vectron_error err;
    cr_assert_eq(pd_catalog_new(&c, &err), 0);
    cr_assert_eq(pd_catalog_new(&r, &err), 0);
    cr_assert_eq(apply_create(c, 2, "one", 1), 0);
    cr_assert_eq(apply_create(c, 4, "two", 4), 0);
    void *snap;
    size_t len;
    cr_assert_eq(pd_catalog_snapshot(c, &snap, &len, &err), 0);
    uint8_t *b = snap;
    for (size_t cut = 0; cut < len; cut++)
        cr_assert_neq(pd_catalog_restore(r, b, cut, &err), 0, "cut %zu", cut);
    for (size_t bit = 0; bit < len * 8; bit++) {
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_neq(pd_catalog_restore(r, b, len, &err), 0, "bit %zu", bit);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cr_assert_eq(pd_catalog_epoch(r), 0, "failed restores change nothing");
    cr_assert_eq(pd_catalog_restore(r, b, len, &err), 0, "%s", err.msg);
    vx_free(snap);
    pd_collection x, y;
    cr_assert_eq(pd_catalog_get(c, "two", &x, &err), 0);
    cr_assert_eq(pd_catalog_get(r, "two", &y, &err), 0);
    cr_assert_eq(memcmp(&x, &y, sizeof x), 0);
    cr_assert_eq(pd_catalog_epoch(r), 4);
    /* Counters carry over: the next create gets the same ids on both. */
    cr_assert_eq(apply_create(c, 6, "three", 1), 0);
    cr_assert_eq(apply_create(r, 6, "three", 1), 0);
    cr_assert_eq(pd_catalog_get(c, "three", &x, &err), 0);
    cr_assert_eq(pd_catalog_get(r, "three", &y, &err), 0);
    cr_assert_eq(memcmp(&x, &y, sizeof x), 0);
    pd_catalog_free(c);
    pd_catalog_free(r);
}

/* ---- nodes and placement (the cluster) -------------------------------- */

static int apply_buf(pd_catalog *c, uint64_t index, uint8_t *buf, size_t len)
{
    int rc = pd_catalog_apply(c, index, buf, len);
    vx_free(buf);
    return rc;
}

static int apply_node(pd_catalog *c, uint64_t index, uint64_t id, uint8_t state)
{
    pd_node n = {.id = id, .state = state};
    uint8_t *buf;
    size_t len;
    vectron_error err;
    snprintf(n.raft_addr, sizeof n.raft_addr, "127.0.0.1:%llu",
             (unsigned long long)(7000 + id));
    snprintf(n.rpc_addr, sizeof n.rpc_addr, "127.0.0.1:%llu",
             (unsigned long long)(8000 + id));
    cr_assert_eq(pd_cmd_node_set(&n, &buf, &len, &err), 0, "%s", err.msg);
    return apply_buf(c, index, buf, len);
}

static int apply_create_placed(pd_catalog *c, uint64_t index, const char *name,
                               uint32_t shards, uint32_t rf,
                               const uint64_t *replicas)
{
    pd_collection_params p = params(4, shards);
    uint8_t *buf;
    size_t len;
    vectron_error err;
    p.replication_factor = rf;
    cr_assert_eq(pd_cmd_create_placed(name, &p, replicas, &buf, &len, &err), 0,
                 "%s", err.msg);
    return apply_buf(c, index, buf, len);
}

static int apply_place(pd_catalog *c, uint64_t index, uint64_t group,
                       uint64_t expect, const uint64_t *r, uint32_t n)
{
    uint8_t *buf;
    size_t len;
    vectron_error err;
    cr_assert_eq(pd_cmd_place(group, expect, r, n, &buf, &len, &err), 0, "%s",
                 err.msg);
    return apply_buf(c, index, buf, len);
}

Test(pd, nodes_register_and_update)
{
    pd_catalog *c;
    vectron_error err;
    pd_node *nodes;
    size_t n;
    cr_assert_eq(pd_catalog_new(&c, &err), 0);
    cr_assert_eq(apply_node(c, 2, 3, PD_NODE_ACTIVE), 0);
    cr_assert_eq(apply_node(c, 3, 1, PD_NODE_ACTIVE), 0);
    cr_assert_eq(apply_node(c, 4, 3, PD_NODE_DRAINING), 0);
    cr_assert_eq(pd_catalog_nodes(c, &nodes, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(nodes[0].id, 1);
    cr_assert_eq(nodes[1].id, 3);
    cr_assert_eq(nodes[1].state, PD_NODE_DRAINING);
    cr_assert_str_eq(nodes[1].rpc_addr, "127.0.0.1:8003");
    vx_free(nodes);
    cr_assert_eq(pd_catalog_epoch(c), 4);

    pd_node bad = {.id = 9};
    uint8_t *buf;
    size_t len;
    strcpy(bad.raft_addr, "localhost:1");
    strcpy(bad.rpc_addr, "127.0.0.1:2");
    cr_assert_eq(pd_cmd_node_set(&bad, &buf, &len, &err), VECTRON_INVALID);
    bad.id = 0;
    strcpy(bad.raft_addr, "127.0.0.1:1");
    cr_assert_eq(pd_cmd_node_set(&bad, &buf, &len, &err), VECTRON_INVALID);
    pd_catalog_free(c);
}

Test(pd, placement_at_create_change_and_drop)
{
    pd_catalog *c;
    vectron_error err;
    pd_placement pl;
    cr_assert_eq(pd_catalog_new(&c, &err), 0);
    for (uint64_t id = 1; id <= 4; id++)
        cr_assert_eq(apply_node(c, id, id, PD_NODE_ACTIVE), 0);
    uint64_t r[6] = {1, 2, 3, 2, 3, 4};
    uint64_t unknown[6] = {1, 2, 9, 2, 3, 4};
    cr_assert_eq(apply_create_placed(c, 10, "x", 2, 3, unknown),
                 VECTRON_NOT_FOUND);
    cr_assert_eq(apply_node(c, 11, 4, PD_NODE_DRAINING), 0);
    cr_assert_eq(apply_create_placed(c, 12, "x", 2, 3, r), VECTRON_INVALID,
                 "no new replicas on a draining node");
    cr_assert_eq(apply_node(c, 13, 4, PD_NODE_ACTIVE), 0);
    cr_assert_eq(apply_create_placed(c, 14, "x", 2, 3, r), 0);
    pd_collection col;
    cr_assert_eq(pd_catalog_get(c, "x", &col, &err), 0);
    cr_assert_eq(pd_catalog_placement(c, col.first_group + 1, &pl, &err), 0);
    cr_assert_eq(pl.n, 3);
    cr_assert_eq(pl.replicas[0], 2);
    cr_assert_eq(pl.replicas[2], 4);
    cr_assert_eq(pl.conf_epoch, 14);

    /* Compare-and-set: a stale epoch loses, the current one wins. */
    uint64_t moved[3] = {2, 3, 1};
    cr_assert_eq(apply_place(c, 15, col.first_group + 1, 13, moved, 3),
                 VECTRON_EXISTS);
    cr_assert_eq(apply_place(c, 16, col.first_group + 1, 14, moved, 3), 0);
    cr_assert_eq(pd_catalog_placement(c, col.first_group + 1, &pl, &err), 0);
    cr_assert_eq(pl.replicas[2], 1);
    cr_assert_eq(pl.conf_epoch, 16);
    uint64_t four[4] = {2, 3, 1, 4}; /* growing (a new member) is allowed */
    cr_assert_eq(apply_place(c, 17, col.first_group + 1, 16, four, 4), 0);
    cr_assert_eq(apply_place(c, 18, 999, 0, four, 4), VECTRON_NOT_FOUND);
    uint64_t ghost[2] = {2, 77};
    cr_assert_eq(apply_place(c, 19, col.first_group + 1, 17, ghost, 2),
                 VECTRON_NOT_FOUND);

    /* Unplaced collections (serve) and drops. */
    cr_assert_eq(apply_create(c, 20, "plain", 1), 0);
    pd_placement *all;
    size_t n;
    cr_assert_eq(pd_catalog_placements(c, &all, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert(all[0].group < all[1].group);
    vx_free(all);
    cr_assert_eq(apply_drop(c, 21, "x"), 0);
    cr_assert_eq(pd_catalog_placements(c, &all, &n, &err), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(pd_catalog_placement(c, col.first_group, &pl, &err),
                 VECTRON_NOT_FOUND);
    pd_catalog_free(c);
}

Test(pd, cluster_commands_damaged_are_corrupt)
{
    pd_catalog *c;
    vectron_error err;
    cr_assert_eq(pd_catalog_new(&c, &err), 0);
    cr_assert_eq(apply_node(c, 1, 1, PD_NODE_ACTIVE), 0);
    cr_assert_eq(apply_node(c, 2, 2, PD_NODE_ACTIVE), 0);
    uint64_t r[2] = {1, 2};
    cr_assert_eq(apply_create_placed(c, 3, "x", 1, 2, r), 0);
    pd_node nd = {.id = 5};
    strcpy(nd.raft_addr, "127.0.0.1:1");
    strcpy(nd.rpc_addr, "[::1]:2");
    uint8_t *cmds[2];
    size_t lens[2];
    cr_assert_eq(pd_cmd_node_set(&nd, &cmds[0], &lens[0], &err), 0);
    cr_assert_eq(
        pd_cmd_place(PD_FIRST_SHARD_GROUP, 3, r, 2, &cmds[1], &lens[1], &err),
        0);
    for (int k = 0; k < 2; k++) {
        uint8_t *buf = cmds[k];
        size_t len = lens[k];
        for (size_t cut = 0; cut < len; cut++)
            cr_assert_eq(pd_catalog_apply(c, 9, buf, cut), VECTRON_CORRUPT);
        for (size_t bit = 0; bit < len * 8; bit++) {
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            cr_assert_eq(pd_catalog_apply(c, 9, buf, len), VECTRON_CORRUPT,
                         "cmd %d bit %zu", k, bit);
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        cr_assert_eq(pd_catalog_epoch(c), k == 0 ? 3 : 10);
        cr_assert_eq(pd_catalog_apply(c, 10 + (uint64_t)k, buf, len), 0);
        vx_free(buf);
    }
    pd_catalog_free(c);
}

Test(pd, snapshot_carries_nodes_and_placements_and_reads_version_1)
{
    pd_catalog *c, *r;
    vectron_error err;
    void *snap;
    size_t len;
    cr_assert_eq(pd_catalog_new(&c, &err), 0);
    cr_assert_eq(pd_catalog_new(&r, &err), 0);
    cr_assert_eq(apply_node(c, 1, 1, PD_NODE_ACTIVE), 0);
    cr_assert_eq(apply_node(c, 2, 2, PD_NODE_DRAINING), 0);
    uint64_t one[1] = {1};
    cr_assert_eq(apply_create_placed(c, 3, "x", 1, 1, one), 0);
    cr_assert_eq(pd_catalog_snapshot(c, &snap, &len, &err), 0);
    uint8_t *b = snap;
    for (size_t bit = 0; bit < len * 8; bit++) {
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_neq(pd_catalog_restore(r, b, len, &err), 0, "bit %zu", bit);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cr_assert_eq(pd_catalog_restore(r, snap, len, &err), 0, "%s", err.msg);
    vx_free(snap);
    pd_node *nodes;
    size_t n;
    pd_placement pl;
    cr_assert_eq(pd_catalog_nodes(r, &nodes, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(nodes[1].state, PD_NODE_DRAINING);
    vx_free(nodes);
    cr_assert_eq(pd_catalog_placement(r, PD_FIRST_SHARD_GROUP, &pl, &err), 0);
    cr_assert_eq(pl.replicas[0], 1);
    cr_assert_eq(pl.conf_epoch, 3);

    /* A version 1 snapshot (collections only) from an older release. */
    pd_catalog *old, *r1;
    cr_assert_eq(pd_catalog_new(&old, &err), 0);
    cr_assert_eq(pd_catalog_new(&r1, &err), 0);
    cr_assert_eq(apply_create(old, 5, "legacy", 2), 0);
    cr_assert_eq(pd_catalog_snapshot(old, &snap, &len, &err), 0);
    b = snap;
    /* Strip the three empty counts (keys, nodes, placements: 12 bytes
     * before the CRC), mark it v1. */
    len -= 12;
    b[4] = 1;
    vx_put_u32(b + len - 4, vx_crc32c(0, b, len - 4));
    cr_assert_eq(pd_catalog_restore(r1, b, len, &err), 0, "%s", err.msg);
    pd_collection col;
    cr_assert_eq(pd_catalog_get(r1, "legacy", &col, &err), 0);
    cr_assert_eq(col.p.shard_number, 2);
    vx_free(snap);
    pd_catalog_free(old);
    pd_catalog_free(r1);
    pd_catalog_free(c);
    pd_catalog_free(r);
}
