/*
 * test_churn.c - deletes and updates keep recall: build, delete 30 % and
 * re-insert them, and recall@10 stays within 1 point of a fresh build;
 * then move 30 % of the points to new vectors (updates) and check recall
 * against the new ground truth.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define K 10
#define EF 32

static vectron_index *fresh(uint32_t dim)
{
    vectron_index_params p;
    vectron_index *idx;
    vectron_index_params_default(&p, dim);
    cr_assert_eq(vectron_index_new(&p, &idx, NULL), 0);
    return idx;
}

static double recall(const vectron_index *idx, const tu_data *q,
                     const uint64_t *gt)
{
    vectron_search_params sp;
    vectron_search_params_default(&sp, K);
    sp.ef = EF;
    return tu_recall(idx, q, gt, &sp);
}

Test(churn, delete_30pct_and_reinsert, .timeout = 600)
{
    tu_data base, q;
    vectron_index *a, *b;
    uint64_t *gt;
    double r_fresh, r_churn, r_deleted;
    uint8_t *gone;
    char msg[256];
    uint64_t s = 99;

    cr_assert_eq(tu_fashion(&base, 6000, 0), 0);
    cr_assert_eq(tu_fashion(&q, 200, 1), 0);
    gt = tu_ground_truth(&base, &q, K, VECTRON_METRIC_L2, NULL);
    a = fresh(base.dim);
    tu_add_rows(a, &base, 0, base.n);
    r_fresh = recall(a, &q, gt);

    b = fresh(base.dim);
    tu_add_rows(b, &base, 0, base.n);
    gone = calloc(base.n, 1);
    for (size_t i = 0; i < base.n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        if ((s >> 33) % 10 < 3) {
            gone[i] = 1;
            cr_assert_eq(vectron_index_remove(b, i, NULL), 0);
        }
    }
    /* While deleted: results never include them and recall against the
     * remaining points holds. */
    {
        uint64_t *gt2 = tu_ground_truth(&base, &q, K, VECTRON_METRIC_L2, gone);
        r_deleted = recall(b, &q, gt2);
        free(gt2);
    }
    for (size_t i = 0; i < base.n; i++) {
        if (gone[i]) {
            cr_assert_eq(
                vectron_index_add(b, i, base.vecs + i * base.dim, NULL), 0);
        }
    }
    cr_assert_eq(vectron_index_size(b), base.n);
    cr_assert_eq(tu_check_graph(b, msg, sizeof msg), 0, "%s", msg);
    r_churn = recall(b, &q, gt);
    printf("churn: fresh %.4f, after deleting 30%% %.4f, after re-insert "
           "%.4f (ef %d)\n",
           r_fresh, r_deleted, r_churn, EF);
    cr_assert_geq(r_churn, r_fresh - 0.01, "churn %.4f vs fresh %.4f", r_churn,
                  r_fresh);
    cr_assert_geq(r_deleted, r_fresh - 0.01);
    free(gone);
    free(gt);
    vectron_index_free(a);
    vectron_index_free(b);
    tu_free(&base);
    tu_free(&q);
}

Test(churn, updates_move_points, .timeout = 600)
{
    tu_data base, moved, q;
    vectron_index *idx;
    uint64_t *gt;
    double r;
    char msg[256];

    tu_clustered(&base, 6000, 32, 30, 1, 1);
    tu_clustered(&moved, 6000, 32, 30, 1, 2);
    tu_clustered(&q, 200, 32, 30, 1, 3);
    idx = fresh(32);
    tu_add_rows(idx, &base, 0, base.n);
    /* Every third point gets the vector of another distribution. */
    for (size_t i = 0; i < base.n; i += 3) {
        memcpy(base.vecs + i * 32, moved.vecs + i * 32, 32 * sizeof(float));
        cr_assert_eq(vectron_index_add(idx, i, base.vecs + i * 32, NULL), 0);
    }
    cr_assert_eq(vectron_index_size(idx), base.n);
    cr_assert_eq(tu_check_graph(idx, msg, sizeof msg), 0, "%s", msg);
    gt = tu_ground_truth(&base, &q, K, VECTRON_METRIC_L2, NULL);
    r = recall(idx, &q, gt);
    printf("updates: recall@10 %.4f\n", r);
    cr_assert_geq(r, 0.95);
    free(gt);
    vectron_index_free(idx);
    tu_free(&base);
    tu_free(&moved);
    tu_free(&q);
}
