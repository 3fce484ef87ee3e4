/*
 * test_hnsw.c - behaviour of the index API: parameters and bad input,
 * insert/update/remove semantics, graph invariants, filtered search (never
 * fewer than k results when k matches exist), exact mode, allocation
 * failure injection (nothing half-applied).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static vectron_index *make(uint32_t dim, vectron_metric metric)
{
    vectron_index_params p;
    vectron_index *idx;
    vectron_error err;
    vectron_index_params_default(&p, dim);
    p.metric = metric;
    cr_assert_eq(vectron_index_new(&p, &idx, &err), 0, "%s", err.msg);
    return idx;
}

Test(params, rejected_with_message)
{
    vectron_index_params p;
    vectron_index *idx = (vectron_index *)1;
    vectron_error err;

    vectron_index_params_default(&p, 0);
    cr_assert_eq(vectron_index_new(&p, &idx, &err), VECTRON_INVALID);
    cr_assert_null(idx);
    cr_assert(strstr(err.msg, "dimension") != NULL, "%s", err.msg);
    vectron_index_params_default(&p, 8);
    p.m = 1;
    cr_assert_eq(vectron_index_new(&p, &idx, &err), VECTRON_INVALID);
    p.m = 16;
    p.ef_construction = 4;
    cr_assert_eq(vectron_index_new(&p, &idx, &err), VECTRON_INVALID);
    p.ef_construction = 100;
    p.metric = (vectron_metric)7;
    cr_assert_eq(vectron_index_new(&p, &idx, &err), VECTRON_INVALID);
    p.metric = VECTRON_METRIC_L2;
    p.quant = (vectron_quant)9;
    cr_assert_eq(vectron_index_new(&p, &idx, &err), VECTRON_INVALID);
}

Test(input, bad_vectors_and_queries_change_nothing)
{
    vectron_index *idx = make(4, VECTRON_METRIC_COSINE);
    vectron_error err;
    float ok[4] = {1, 2, 3, 4}, nan_v[4] = {1, NAN, 3, 4};
    float inf_v[4] = {1, 2, INFINITY, 4}, zero[4] = {0};
    float big[4] = {3e38f, 3e38f, 0, 0};
    vectron_search_params sp;
    vectron_hit hits[4];
    size_t n;

    cr_assert_eq(vectron_index_add(idx, 1, ok, &err), 0);
    cr_assert_eq(vectron_index_add(idx, 2, nan_v, &err), VECTRON_INVALID);
    cr_assert(strstr(err.msg, "not a finite") != NULL, "%s", err.msg);
    cr_assert_eq(vectron_index_add(idx, 2, inf_v, &err), VECTRON_INVALID);
    cr_assert_eq(vectron_index_add(idx, 2, zero, &err), VECTRON_INVALID);
    cr_assert_eq(vectron_index_add(idx, 2, big, &err), VECTRON_INVALID);
    cr_assert_eq(vectron_index_add(idx, 2, NULL, &err), VECTRON_INVALID);
    /* A failed update leaves the old vector in place. */
    cr_assert_eq(vectron_index_add(idx, 1, nan_v, &err), VECTRON_INVALID);
    cr_assert_eq(vectron_index_size(idx), 1);

    vectron_search_params_default(&sp, 0);
    cr_assert_eq(vectron_index_search(idx, ok, &sp, hits, &n, &err),
                 VECTRON_INVALID);
    cr_assert(strstr(err.msg, "k = 0") != NULL, "%s", err.msg);
    vectron_search_params_default(&sp, 4);
    sp.ef = 2;
    cr_assert_eq(vectron_index_search(idx, ok, &sp, hits, &n, &err),
                 VECTRON_INVALID);
    sp.ef = 0;
    sp.k = VECTRON_MAX_K + 1;
    cr_assert_eq(vectron_index_search(idx, ok, &sp, hits, &n, &err),
                 VECTRON_INVALID);
    sp.k = 4;
    cr_assert_eq(vectron_index_search(idx, nan_v, &sp, hits, &n, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vectron_index_search(idx, ok, &sp, hits, &n, &err), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(hits[0].id, 1);
    cr_assert_float_eq(hits[0].distance, 0.0f, 1e-6);
    cr_assert_eq(vectron_index_remove(idx, 99, &err), VECTRON_NOT_FOUND);
    vectron_index_free(idx);
}

Test(basic, empty_index_search)
{
    vectron_index *idx = make(3, VECTRON_METRIC_L2);
    float q[3] = {0};
    vectron_search_params sp;
    vectron_hit hits[5];
    size_t n = 99;
    vectron_search_params_default(&sp, 5);
    cr_assert_eq(vectron_index_search(idx, q, &sp, hits, &n, NULL), 0);
    cr_assert_eq(n, 0);
    vectron_index_free(idx);
}

Test(basic, metrics_give_expected_distances)
{
    float a[2] = {1, 0}, b[2] = {0, 2}, q[2] = {1, 1};
    vectron_metric metrics[3] = {VECTRON_METRIC_L2, VECTRON_METRIC_COSINE,
                                 VECTRON_METRIC_DOT};
    /* expected distance of a and b to q under each metric */
    float da[3] = {1.0f, 1.0f - 1.0f / sqrtf(2.0f), -1.0f};
    float db[3] = {2.0f, 1.0f - 1.0f / sqrtf(2.0f), -2.0f};
    for (int m = 0; m < 3; m++) {
        vectron_index *idx = make(2, metrics[m]);
        vectron_search_params sp;
        vectron_hit hits[2];
        size_t n;
        vectron_index_add(idx, 10, a, NULL);
        vectron_index_add(idx, 20, b, NULL);
        vectron_search_params_default(&sp, 2);
        cr_assert_eq(vectron_index_search(idx, q, &sp, hits, &n, NULL), 0);
        cr_assert_eq(n, 2);
        for (size_t i = 0; i < n; i++) {
            float want = hits[i].id == 10 ? da[m] : db[m];
            cr_assert_float_eq(hits[i].distance, want, 1e-5, "metric %d", m);
        }
        cr_assert(hits[0].distance <= hits[1].distance);
        vectron_index_free(idx);
    }
}

Test(basic, update_replaces_and_remove_hides)
{
    tu_data d;
    vectron_index *idx = make(16, VECTRON_METRIC_L2);
    vectron_search_params sp;
    vectron_hit hits[10];
    float got[16];
    size_t n;
    char msg[256];

    tu_clustered(&d, 2000, 16, 10, 1, 7);
    tu_add_rows(idx, &d, 0, 2000);
    cr_assert_eq(vectron_index_size(idx), 2000);
    /* Move point 5 onto point 1500's vector: searching there finds both. */
    cr_assert_eq(vectron_index_add(idx, 5, d.vecs + 1500 * 16, NULL), 0);
    cr_assert_eq(vectron_index_size(idx), 2000);
    cr_assert_eq(vectron_index_get(idx, 5, got, NULL), 0);
    cr_assert(memcmp(got, d.vecs + 1500 * 16, sizeof got) == 0);
    vectron_search_params_default(&sp, 2);
    cr_assert_eq(
        vectron_index_search(idx, d.vecs + 1500 * 16, &sp, hits, &n, NULL), 0);
    cr_assert_eq(n, 2);
    cr_assert((hits[0].id == 5 && hits[1].id == 1500) ||
              (hits[0].id == 1500 && hits[1].id == 5));
    /* Remove 1500: it never comes back, 5 still does. */
    cr_assert_eq(vectron_index_remove(idx, 1500, NULL), 0);
    cr_assert_eq(vectron_index_get(idx, 1500, got, NULL), VECTRON_NOT_FOUND);
    cr_assert_eq(
        vectron_index_search(idx, d.vecs + 1500 * 16, &sp, hits, &n, NULL), 0);
    cr_assert_eq(hits[0].id, 5);
    cr_assert_neq(hits[1].id, 1500);
    cr_assert_eq(vectron_index_size(idx), 1999);
    cr_assert_eq(tu_check_graph(idx, msg, sizeof msg), 0, "%s", msg);
    tu_free(&d);
    vectron_index_free(idx);
}

Test(graph, invariants_hold_after_build_and_deletes)
{
    tu_data d;
    vectron_index *idx = make(8, VECTRON_METRIC_L2);
    char msg[256];

    tu_uniform(&d, 5000, 8, 3);
    tu_add_rows(idx, &d, 0, 5000);
    cr_assert_eq(tu_check_graph(idx, msg, sizeof msg), 0, "%s", msg);
    /* Enough deletes to trigger vacuums; then reinsert into freed slots. */
    for (size_t i = 0; i < 5000; i += 2) {
        cr_assert_eq(vectron_index_remove(idx, i, NULL), 0);
    }
    tu_add_rows(idx, &d, 0, 1); /* an add runs the pending vacuum */
    cr_assert_eq(tu_check_graph(idx, msg, sizeof msg), 0, "%s", msg);
    for (size_t i = 2; i < 5000; i += 2) {
        cr_assert_eq(vectron_index_add(idx, i, d.vecs + i * 8, NULL), 0);
    }
    cr_assert_eq(vectron_index_size(idx), 5000);
    cr_assert_eq(tu_check_graph(idx, msg, sizeof msg), 0, "%s", msg);
    tu_free(&d);
    vectron_index_free(idx);
}

/* Filters: even ids, or ids below a bound. */
static int only_even(uint64_t id, void *arg)
{
    (void)arg;
    return id % 2 == 0;
}
static int below(uint64_t id, void *arg)
{
    return id < *(uint64_t *)arg;
}

Test(filter, predicate_and_allow_list_return_k_matches)
{
    tu_data d;
    vectron_index *idx = make(16, VECTRON_METRIC_L2);
    vectron_search_params sp;
    vectron_hit hits[10];
    size_t n;
    uint64_t bound;
    uint64_t allow[7] = {3, 900, 1800, 2700, 3600, 4500, 3};

    tu_clustered(&d, 5000, 16, 20, 1, 11);
    tu_add_rows(idx, &d, 0, 5000);
    for (int q = 0; q < 20; q++) {
        const float *qv = d.vecs + (size_t)(q * 97) * 16;
        vectron_search_params_default(&sp, 10);
        sp.filter = only_even;
        cr_assert_eq(vectron_index_search(idx, qv, &sp, hits, &n, NULL), 0);
        cr_assert_eq(n, 10);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(hits[i].id % 2, 0);
        }
        /* Very selective: 12 matches in 5000, graph walk would miss. Force
         * the graph path (threshold 0) to check the exact fallback too. */
        bound = 12;
        sp.filter = below;
        sp.filter_arg = &bound;
        for (int force = 0; force < 2; force++) {
            sp.exact_selectivity = force ? 0.0f : -1.0f;
            cr_assert_eq(vectron_index_search(idx, qv, &sp, hits, &n, NULL), 0);
            cr_assert_eq(n, 10, "force %d: %zu results", force, n);
            for (size_t i = 0; i < n; i++) {
                cr_assert_lt(hits[i].id, 12);
            }
        }
        /* Allow-list (with a duplicate) smaller than k: all of it. */
        vectron_search_params_default(&sp, 10);
        sp.allow = allow;
        sp.n_allow = 7;
        cr_assert_eq(vectron_index_search(idx, qv, &sp, hits, &n, NULL), 0);
        cr_assert_eq(n, 6);
        for (size_t i = 1; i < n; i++) {
            cr_assert(hits[i - 1].distance <= hits[i].distance);
        }
        /* Allow-list and predicate together: all but 3 are even. */
        sp.filter = only_even;
        cr_assert_eq(vectron_index_search(idx, qv, &sp, hits, &n, NULL), 0);
        cr_assert_eq(n, 5);
    }
    tu_free(&d);
    vectron_index_free(idx);
}

Test(exact, matches_brute_force)
{
    tu_data d, q;
    vectron_index *idx = make(24, VECTRON_METRIC_DOT);
    vectron_search_params sp;
    uint64_t *gt;

    tu_uniform(&d, 3000, 24, 5);
    tu_uniform(&q, 50, 24, 6);
    tu_add_rows(idx, &d, 0, 3000);
    gt = tu_ground_truth(&d, &q, 10, VECTRON_METRIC_DOT, NULL);
    vectron_search_params_default(&sp, 10);
    sp.exact = 1;
    cr_assert_float_eq(tu_recall(idx, &q, gt, &sp), 1.0, 1e-9);
    free(gt);
    tu_free(&d);
    tu_free(&q);
    vectron_index_free(idx);
}

/* Allocation failure injection: fail the n-th allocation for every n
 * until an add succeeds; each failing add must leave the index unchanged. */
static long alloc_budget;
static void *f_malloc(size_t n, void *arg)
{
    (void)arg;
    return alloc_budget-- > 0 ? malloc(n) : NULL;
}
static void *f_realloc(void *p, size_t n, void *arg)
{
    (void)arg;
    return alloc_budget-- > 0 ? realloc(p, n) : NULL;
}
static void f_free(void *p, void *arg)
{
    (void)arg;
    free(p);
}

Test(faults, failed_allocations_change_nothing)
{
    tu_data d;
    vectron_index *idx = make(8, VECTRON_METRIC_L2);
    vectron_alloc_hooks hooks = {f_malloc, f_realloc, f_free, NULL};
    vectron_search_params sp;
    vectron_hit hits[5];
    size_t n;
    char msg[256];

    tu_uniform(&d, 1200, 8, 9);
    tu_add_rows(idx, &d, 0, 1000);
    vectron_alloc_set_hooks(&hooks);
    for (size_t i = 1000; i < 1200; i++) {
        for (long budget = 0;; budget++) {
            size_t before = vectron_index_size(idx);
            vectron_error err;
            int rc;
            alloc_budget = budget;
            rc = vectron_index_add(idx, i, d.vecs + i * 8, &err);
            if (rc == 0) {
                break;
            }
            cr_assert_eq(rc, VECTRON_NOMEM, "%s", err.msg);
            cr_assert_eq(vectron_index_size(idx), before);
            cr_assert_lt(budget, 100);
        }
        for (long budget = 0;; budget++) {
            vectron_error err;
            int rc;
            alloc_budget = budget;
            vectron_search_params_default(&sp, 5);
            rc = vectron_index_search(idx, d.vecs + i * 8, &sp, hits, &n, &err);
            if (rc == 0) {
                break;
            }
            cr_assert_eq(rc, VECTRON_NOMEM, "%s", err.msg);
        }
    }
    vectron_alloc_set_hooks(NULL);
    cr_assert_eq(vectron_index_size(idx), 1200);
    cr_assert_eq(tu_check_graph(idx, msg, sizeof msg), 0, "%s", msg);
    tu_free(&d);
    vectron_index_free(idx);
}
