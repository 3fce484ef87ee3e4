/*
 * test_pd.c - the Placement Driver's catalog state machine: commands,
 * deterministic apply, snapshot round trip, and rejection of damaged
 * commands and snapshots (every truncation and every bit flip).
 */
#include <criterion/criterion.h>
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
