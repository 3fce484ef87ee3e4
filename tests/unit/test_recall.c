/*
 * test_recall.c - recall@10 against brute force with a threshold: a slice
 * of Fashion-MNIST (real data, L2), clustered synthetic data (L2, cosine,
 * dot), and int8 quantization with rescoring.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define K 10

static vectron_index *build(const tu_data *d, vectron_metric metric,
                            vectron_quant quant, int per_dim)
{
    vectron_index_params p;
    vectron_index *idx;
    vectron_error err;
    vectron_index_params_default(&p, d->dim);
    p.metric = metric;
    p.quant = quant;
    p.quant_per_dim = per_dim;
    cr_assert_eq(vectron_index_new(&p, &idx, &err), 0, "%s", err.msg);
    tu_add_rows(idx, d, 0, d->n);
    return idx;
}

static double recall_at(const vectron_index *idx, const tu_data *q,
                        const uint64_t *gt, uint32_t ef)
{
    vectron_search_params sp;
    vectron_search_params_default(&sp, K);
    sp.ef = ef;
    return tu_recall(idx, q, gt, &sp);
}

Test(recall, fashion_mnist_slice, .timeout = 300)
{
    tu_data base, q;
    vectron_index *idx;
    uint64_t *gt;
    double r;
    char msg[256];

    cr_assert_eq(tu_fashion(&base, 8000, 0), 0,
                 "Fashion-MNIST missing: install dataset-fashion-mnist");
    cr_assert_eq(tu_fashion(&q, 200, 1), 0);
    idx = build(&base, VECTRON_METRIC_L2, VECTRON_QUANT_NONE, 0);
    cr_assert_eq(tu_check_graph(idx, msg, sizeof msg), 0, "%s", msg);
    gt = tu_ground_truth(&base, &q, K, VECTRON_METRIC_L2, NULL);
    r = recall_at(idx, &q, gt, 64);
    printf("fashion-mnist 8000: recall@10 %.4f at ef 64\n", r);
    cr_assert_geq(r, 0.95, "recall@10 %.4f < 0.95", r);
    /* A larger ef never hurts much. */
    cr_assert_geq(recall_at(idx, &q, gt, 200), r - 0.005);
    free(gt);
    vectron_index_free(idx);
    tu_free(&base);
    tu_free(&q);
}

Test(recall, clustered_all_metrics, .timeout = 300)
{
    vectron_metric metrics[3] = {VECTRON_METRIC_L2, VECTRON_METRIC_COSINE,
                                 VECTRON_METRIC_DOT};
    tu_data base, q;

    tu_clustered(&base, 10000, 48, 50, 1, 21);
    tu_clustered(&q, 200, 48, 50, 1, 22); /* same centers, other points */
    for (int m = 0; m < 3; m++) {
        vectron_index *idx = build(&base, metrics[m], VECTRON_QUANT_NONE, 0);
        uint64_t *gt = tu_ground_truth(&base, &q, K, metrics[m], NULL);
        double r = recall_at(idx, &q, gt, 64);
        printf("clustered metric %d: recall@10 %.4f at ef 64\n", m, r);
        cr_assert_geq(r, 0.95, "metric %d: recall@10 %.4f < 0.95", m, r);
        free(gt);
        vectron_index_free(idx);
    }
    tu_free(&base);
    tu_free(&q);
}

Test(recall, int8_with_rescoring, .timeout = 300)
{
    tu_data base, q;
    uint64_t *gt;

    cr_assert_eq(tu_fashion(&base, 8000, 0), 0);
    cr_assert_eq(tu_fashion(&q, 200, 1), 0);
    gt = tu_ground_truth(&base, &q, K, VECTRON_METRIC_L2, NULL);
    for (int per_dim = 0; per_dim < 2; per_dim++) {
        vectron_index *idx =
            build(&base, VECTRON_METRIC_L2, VECTRON_QUANT_INT8, per_dim);
        vectron_search_params sp;
        double r, r_norescore;
        vectron_search_params_default(&sp, K);
        sp.ef = 64;
        sp.oversampling = 3.0f;
        r = tu_recall(idx, &q, gt, &sp);
        sp.rescore = 0;
        r_norescore = tu_recall(idx, &q, gt, &sp);
        printf("int8 per_dim=%d: recall@10 %.4f rescored, %.4f not\n", per_dim,
               r, r_norescore);
        cr_assert_geq(r, 0.95, "int8 recall %.4f < 0.95", r);
        cr_assert_geq(r, r_norescore - 0.002);
        vectron_index_free(idx);
    }
    free(gt);
    tu_free(&base);
    tu_free(&q);
}

Test(recall, int8_cosine_and_dot, .timeout = 300)
{
    vectron_metric metrics[2] = {VECTRON_METRIC_COSINE, VECTRON_METRIC_DOT};
    tu_data base, q;

    tu_clustered(&base, 8000, 32, 40, 1, 5);
    tu_clustered(&q, 100, 32, 40, 1, 6);
    for (int m = 0; m < 2; m++) {
        for (int per_dim = 0; per_dim < 2; per_dim++) {
            vectron_index *idx =
                build(&base, metrics[m], VECTRON_QUANT_INT8, per_dim);
            uint64_t *gt = tu_ground_truth(&base, &q, K, metrics[m], NULL);
            vectron_search_params sp;
            double r;
            vectron_search_params_default(&sp, K);
            sp.ef = 100;
            sp.oversampling = 4.0f;
            r = tu_recall(idx, &q, gt, &sp);
            printf("int8 metric %d per_dim %d: recall@10 %.4f\n", m, per_dim,
                   r);
            cr_assert_geq(r, 0.95, "metric %d per_dim %d: %.4f", m, per_dim, r);
            free(gt);
            vectron_index_free(idx);
        }
    }
    tu_free(&base);
    tu_free(&q);
}
