/*
 * test_shard.c - the shard state machine: applied writes are searchable at
 * once (pending) and after indexing, updates and deletes win over the
 * graph's stale copies, replays are skipped, invalid commands advance the
 * applied index without changing points, and a reopened shard has
 * everything back.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "shard/shard.h"

#define DIM 8

static char dir[128];
static shard *sh;

static void open_shard(void)
{
    shard_params p;
    vectron_error err;
    vectron_index_params_default(&p.index, DIM);
    store_options_default(&p.store);
    p.store.map_size = (size_t)64 << 20;
    cr_assert_eq(shard_open(dir, &p, &sh, &err), 0, "%s", err.msg);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/vectron-shard-%d", (int)getpid());
    open_shard();
}

static void teardown(void)
{
    char cmd[256];
    shard_close(sh);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static void vec_for(uint64_t i, float *v)
{
    for (int d = 0; d < DIM; d++) {
        v[d] = (float)((i * 31 + (uint64_t)d * 7) % 97);
    }
    v[0] = (float)i; /* unique */
}

static int apply_upserts(uint64_t index, uint64_t from, uint64_t to)
{
    shard_cmd c;
    const uint8_t *buf;
    size_t len;
    vectron_error err;
    float v[DIM];
    char payload[64];
    int rc;

    shard_cmd_init(&c);
    for (uint64_t i = from; i < to; i++) {
        point_id id = {0, i, {0}};
        vec_for(i, v);
        snprintf(payload, sizeof payload, "{\"n\":%llu}",
                 (unsigned long long)i);
        shard_cmd_upsert(&c, &id, v, DIM, payload, strlen(payload));
    }
    cr_assert_eq(shard_cmd_finish(&c, &buf, &len, &err), 0);
    rc = shard_apply(sh, index, buf, len, &err);
    shard_cmd_close(&c);
    return rc;
}

static uint64_t top1(const float *q)
{
    vectron_search_params sp;
    shard_hit hits[1];
    size_t n;
    vectron_error err;
    vectron_search_params_default(&sp, 1);
    cr_assert_eq(shard_search(sh, q, &sp, hits, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 1);
    return hits[0].id.num;
}

TestSuite(shard, .init = setup, .fini = teardown, .timeout = 60);

Test(shard, writes_are_searchable_at_once_and_after_indexing)
{
    float v[DIM];
    cr_assert_eq(apply_upserts(1, 0, 500), 0);
    for (uint64_t i = 0; i < 500; i += 37) {
        vec_for(i, v);
        cr_assert_eq(top1(v), i); /* from graph or pending */
    }
    cr_assert_eq(shard_wait_indexed(sh, 10000, NULL), 0);
    cr_assert_eq(shard_pending(sh), 0);
    for (uint64_t i = 0; i < 500; i += 37) {
        vec_for(i, v);
        cr_assert_eq(top1(v), i);
    }
    cr_assert_eq(shard_applied_index(sh), 1);
}

Test(shard, update_and_delete_win_over_the_graph)
{
    shard_cmd c;
    const uint8_t *buf;
    size_t len;
    float v[DIM], far[DIM];
    point_id id5 = {0, 5, {0}}, id9 = {0, 9, {0}};

    cr_assert_eq(apply_upserts(1, 0, 100), 0);
    cr_assert_eq(shard_wait_indexed(sh, 10000, NULL), 0);
    /* Move 5 far away and delete 9 in one batch. */
    for (int d = 0; d < DIM; d++) {
        far[d] = 1000.0f + (float)d;
    }
    shard_cmd_init(&c);
    shard_cmd_upsert(&c, &id5, far, DIM, NULL, 0);
    shard_cmd_delete(&c, &id9);
    cr_assert_eq(shard_cmd_finish(&c, &buf, &len, NULL), 0);
    cr_assert_eq(shard_apply(sh, 2, buf, len, NULL), 0);
    shard_cmd_close(&c);
    for (int pass = 0; pass < 2; pass++) {
        vec_for(5, v);
        cr_assert_neq(top1(v), 5, "pass %d", pass);
        cr_assert_eq(top1(far), 5, "pass %d", pass);
        vec_for(9, v);
        cr_assert_neq(top1(v), 9, "pass %d", pass);
        cr_assert_eq(shard_wait_indexed(sh, 10000, NULL), 0);
    }
}

Test(shard, replay_is_skipped_and_reopen_restores)
{
    float v[DIM];
    uint64_t count;
    cr_assert_eq(apply_upserts(7, 0, 50), 0);
    /* Replaying index 7 (even with other content) changes nothing. */
    cr_assert_eq(apply_upserts(7, 50, 60), 0);
    cr_assert_eq(store_count(shard_store(sh), NULL, &count, NULL), 0);
    cr_assert_eq(count, 50);
    shard_close(sh);
    open_shard();
    cr_assert_eq(shard_applied_index(sh), 7);
    cr_assert_eq(store_count(shard_store(sh), NULL, &count, NULL), 0);
    cr_assert_eq(count, 50);
    vec_for(42, v);
    cr_assert_eq(top1(v), 42); /* rebuilt from the store */
}

Test(shard, invalid_commands_advance_but_change_nothing)
{
    shard_cmd c;
    const uint8_t *buf;
    size_t len;
    uint8_t *copy;
    float v[3] = {1, 2, 3};
    point_id id = {0, 1, {0}};
    vectron_error err;
    uint64_t count;

    /* Wrong dimension. */
    shard_cmd_init(&c);
    shard_cmd_upsert(&c, &id, v, 3, NULL, 0);
    cr_assert_eq(shard_cmd_finish(&c, &buf, &len, NULL), 0);
    cr_assert_eq(shard_apply(sh, 3, buf, len, &err), VECTRON_DIMENSION);
    cr_assert(strstr(err.msg, "dimension") != NULL, "%s", err.msg);
    shard_cmd_close(&c);
    cr_assert_eq(shard_applied_index(sh), 3);
    /* Damaged: every truncation and a flipped byte. */
    cr_assert_eq(apply_upserts(4, 0, 3), 0);
    shard_cmd_init(&c);
    {
        float w[DIM];
        vec_for(1, w);
        shard_cmd_upsert(&c, &id, w, DIM, "{}", 2);
    }
    cr_assert_eq(shard_cmd_finish(&c, &buf, &len, NULL), 0);
    copy = malloc(len);
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(copy, buf, len);
        cr_assert_eq(shard_apply(sh, 10 + cut, copy, cut, NULL),
                     VECTRON_INVALID, "cut %zu", cut);
    }
    memcpy(copy, buf, len);
    copy[len / 2] ^= 0x40;
    cr_assert_eq(shard_apply(sh, 10 + len, copy, len, NULL), VECTRON_INVALID);
    free(copy);
    shard_cmd_close(&c);
    cr_assert_eq(shard_applied_index(sh), 10 + len);
    cr_assert_eq(store_count(shard_store(sh), NULL, &count, NULL), 0);
    cr_assert_eq(count, 3);
}

static int odd_only(uint64_t internal, void *arg)
{
    (void)arg;
    return internal % 2 == 1;
}

Test(shard, filters_apply_to_pending_and_graph)
{
    vectron_search_params sp;
    shard_hit hits[10];
    size_t n;
    float v[DIM];
    cr_assert_eq(apply_upserts(1, 0, 200), 0);
    cr_assert_eq(shard_wait_indexed(sh, 10000, NULL), 0);
    cr_assert_eq(apply_upserts(2, 200, 300), 0); /* some stay pending */
    vectron_search_params_default(&sp, 10);
    sp.filter = odd_only;
    vec_for(250, v);
    cr_assert_eq(shard_search(sh, v, &sp, hits, &n, NULL), 0);
    cr_assert_eq(n, 10);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(hits[i].internal_id % 2, 1);
        cr_assert(i == 0 || hits[i - 1].distance <= hits[i].distance);
    }
}

/* Exact top-1 over the graph: the checkpoint must hold the same points and
 * vectors as the store, so an exact search agrees with the store. */
static uint64_t exact_top1(const float *q, size_t *n_out)
{
    vectron_search_params sp;
    shard_hit hits[1];
    vectron_error err;
    vectron_search_params_default(&sp, 1);
    sp.exact = 1;
    cr_assert_eq(shard_search(sh, q, &sp, hits, n_out, &err), 0, "%s", err.msg);
    return *n_out ? hits[0].id.num : UINT64_MAX;
}

Test(shard, checkpoint_is_reconciled_with_later_writes)
{
    shard_cmd c;
    const uint8_t *buf;
    size_t len, n, saved;
    float v[DIM], far[DIM];
    vectron_error err;
    char path[256];

    cr_assert_eq(apply_upserts(1, 0, 300), 0);
    cr_assert_eq(shard_wait_indexed(sh, 10000, NULL), 0);
    cr_assert_eq(shard_checkpoint(sh, &saved, &err), 0, "%s", err.msg);
    cr_assert_eq(saved, 300);
    snprintf(path, sizeof path, "%s/index.vxi", dir);
    cr_assert_eq(access(path, F_OK), 0, "checkpoint file");

    /* After the checkpoint: 50 new points, point 5 moved, 9 deleted, and
     * 12 deleted then inserted again (a new internal id). */
    cr_assert_eq(apply_upserts(2, 300, 350), 0);
    point_id id5 = {0, 5, {0}}, id9 = {0, 9, {0}}, id12 = {0, 12, {0}};
    for (int d = 0; d < DIM; d++)
        far[d] = 5000.0f + (float)d;
    shard_cmd_init(&c);
    shard_cmd_upsert(&c, &id5, far, DIM, NULL, 0);
    shard_cmd_delete(&c, &id9);
    shard_cmd_delete(&c, &id12);
    cr_assert_eq(shard_cmd_finish(&c, &buf, &len, NULL), 0);
    cr_assert_eq(shard_apply(sh, 3, buf, len, NULL), 0);
    shard_cmd_close(&c);
    cr_assert_eq(apply_upserts(4, 12, 13), 0);
    shard_close(sh);
    open_shard();

    cr_assert_eq(shard_pending(sh), 0);
    vec_for(320, v);
    cr_assert_eq(exact_top1(v, &n), 320, "added after the checkpoint");
    cr_assert_eq(exact_top1(far, &n), 5, "moved after the checkpoint");
    vec_for(5, v);
    cr_assert_neq(exact_top1(v, &n), 5, "old vector of 5 is gone");
    vec_for(9, v);
    cr_assert_neq(exact_top1(v, &n), 9, "deleted after the checkpoint");
    vec_for(12, v);
    cr_assert_eq(exact_top1(v, &n), 12, "re-inserted under a new id");
    /* 349 points: 350 - 9 (deleted); 12 counted once. */
    vectron_search_params sp;
    vectron_search_params_default(&sp, 400);
    sp.exact = 1;
    static shard_hit all[400];
    vec_for(0, v);
    cr_assert_eq(shard_search(sh, v, &sp, all, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 349);

    /* A damaged checkpoint is ignored: the shard rebuilds from the store. */
    shard_close(sh);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    fseek(f, 100, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    open_shard();
    cr_assert_eq(shard_search(sh, v, &sp, all, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 349);
    cr_assert_eq(exact_top1(far, &n), 5);
}

/* An index of another type on an indexed field is refused the same way on
 * every replica (INVALID, nothing changes, the applied index moves): a
 * committed entry must never stop a replica for good. */
Test(shard, index_type_conflict_is_a_deterministic_rejection)
{
    shard_cmd c;
    const uint8_t *buf;
    size_t len;
    vectron_error err;

    cr_assert_eq(apply_upserts(1, 0, 10), 0);
    shard_cmd_init(&c);
    shard_cmd_create_index(&c, "n", STORE_KEYWORD);
    cr_assert_eq(shard_cmd_finish(&c, &buf, &len, NULL), 0);
    cr_assert_eq(shard_apply(sh, 2, buf, len, &err), 0, "%s", err.msg);
    shard_cmd_close(&c);

    shard_cmd_init(&c);
    shard_cmd_create_index(&c, "n", STORE_INTEGER);
    point_id id = {0, 99, {0}};
    shard_cmd_delete(&c, &id);
    cr_assert_eq(shard_cmd_finish(&c, &buf, &len, NULL), 0);
    cr_assert_eq(shard_apply(sh, 3, buf, len, &err), VECTRON_INVALID);
    shard_cmd_close(&c);
    cr_assert_eq(shard_applied_index(sh), 3);

    /* Dropping it (twice: the second is a no-op) and re-creating with the
     * other type works. */
    for (uint64_t i = 4; i <= 5; i++) {
        shard_cmd_init(&c);
        shard_cmd_drop_index(&c, "n");
        cr_assert_eq(shard_cmd_finish(&c, &buf, &len, NULL), 0);
        cr_assert_eq(shard_apply(sh, i, buf, len, &err), 0, "%s", err.msg);
        shard_cmd_close(&c);
    }
    shard_cmd_init(&c);
    shard_cmd_create_index(&c, "n", STORE_INTEGER);
    cr_assert_eq(shard_cmd_finish(&c, &buf, &len, NULL), 0);
    cr_assert_eq(shard_apply(sh, 6, buf, len, &err), 0, "%s", err.msg);
    shard_cmd_close(&c);
    uint64_t *ids;
    size_t n;
    store_value v = {.type = STORE_INTEGER, .i = 7};
    cr_assert_eq(store_index_eq(shard_store(sh), NULL, "n", &v, &ids, &n, &err),
                 0, "%s", err.msg);
    cr_assert_eq(n, 1);
    vx_free(ids);
}
