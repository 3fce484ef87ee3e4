/*
 * test_quant.c - the int8 quantizer: training picks ranges that cover the
 * data, encoding clamps, and each distance estimate (symmetric L2,
 * asymmetric L2, asymmetric dot; one range or per dimension) stays close
 * to the exact float distance.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "common/common.h"
#include "index/quant.h"

#define DIM 37
#define N 500

static float data[N][DIM];

static void fill(uint64_t seed, float spread_per_dim)
{
    for (int i = 0; i < N; i++) {
        for (int d = 0; d < DIM; d++) {
            seed = vx_mix64(seed);
            /* Dimension d spans [-(1 + d * spread), 1 + d * spread]. */
            double u = (double)(seed >> 11) / 9007199254740992.0;
            data[i][d] = (float)((u * 2 - 1) * (1 + d * spread_per_dim));
        }
    }
}

static double exact(vectron_metric m, const float *a, const float *b)
{
    double s = 0;
    for (int d = 0; d < DIM; d++) {
        s += m == VECTRON_METRIC_L2 ? ((double)a[d] - b[d]) * (a[d] - b[d])
                                    : (double)a[d] * b[d];
    }
    return m == VECTRON_METRIC_L2 ? s : -s;
}

static void check(vectron_metric metric, int per_dim, double tol)
{
    quant qz;
    quant_query qq;
    const float *vecs[N];
    uint8_t code[DIM];
    const distance_kernels *k = distance_kernels_best();
    double worst = 0, scale = 0;

    for (int i = 0; i < N; i++) {
        vecs[i] = data[i];
    }
    cr_assert_eq(quant_init(&qz, DIM, metric, per_dim, NULL), 0);
    cr_assert_eq(quant_train(&qz, vecs, N, NULL), 0);
    cr_assert_eq(quant_query_init(&qq, DIM), 0);
    quant_prepare(&qz, data[0], &qq);
    for (int i = 1; i < N; i++) {
        double e = exact(metric, data[0], data[i]);
        quant_encode(&qz, data[i], code);
        double a = quant_distance(&qq, k, code, DIM);
        if (fabs(a - e) > worst) {
            worst = fabs(a - e);
        }
        if (fabs(e) > scale) {
            scale = fabs(e);
        }
    }
    cr_assert_lt(worst / scale, tol, "metric %d per_dim %d: error %.4f", metric,
                 per_dim, worst / scale);
    quant_query_close(&qq);
    quant_close(&qz);
}

Test(quant, estimates_track_exact_distances)
{
    fill(1, 0.0f);
    check(VECTRON_METRIC_L2, 0, 0.02);
    check(VECTRON_METRIC_L2, 1, 0.02);
    check(VECTRON_METRIC_DOT, 0, 0.05);
    check(VECTRON_METRIC_DOT, 1, 0.05);
}

Test(quant, per_dimension_ranges_help_uneven_data)
{
    quant one, per;
    const float *vecs[N];
    uint8_t c1[DIM], c2[DIM];
    double e1 = 0, e2 = 0;

    fill(2, 3.0f); /* dimension ranges differ by up to 100x */
    for (int i = 0; i < N; i++) {
        vecs[i] = data[i];
    }
    quant_init(&one, DIM, VECTRON_METRIC_L2, 0, NULL);
    quant_init(&per, DIM, VECTRON_METRIC_L2, 1, NULL);
    quant_train(&one, vecs, N, NULL);
    quant_train(&per, vecs, N, NULL);
    for (int i = 0; i < N; i++) {
        quant_encode(&one, data[i], c1);
        quant_encode(&per, data[i], c2);
        for (int d = 0; d < 3; d++) { /* the narrow dimensions */
            e1 += fabs(one.lo[d] + one.scale[d] * c1[d] - data[i][d]);
            e2 += fabs(per.lo[d] + per.scale[d] * c2[d] - data[i][d]);
        }
    }
    cr_assert_lt(e2 * 10, e1, "per-dim error %g vs one-range %g", e2, e1);
    quant_close(&one);
    quant_close(&per);
}

Test(quant, clamps_and_rejects_bad_ranges)
{
    quant qz;
    float lo[DIM], scale[DIM], x[DIM];
    uint8_t code[DIM];
    for (int d = 0; d < DIM; d++) {
        lo[d] = 0;
        scale[d] = 1;
        x[d] = d % 2 ? 1e9f : -1e9f;
    }
    quant_init(&qz, DIM, VECTRON_METRIC_L2, 1, NULL);
    cr_assert_eq(quant_set(&qz, lo, scale, NULL), 0);
    quant_encode(&qz, x, code);
    for (int d = 0; d < DIM; d++) {
        cr_assert_eq(code[d], d % 2 ? 255 : 0);
    }
    scale[3] = 0;
    cr_assert_eq(quant_set(&qz, lo, scale, NULL), VECTRON_CORRUPT);
    scale[3] = NAN;
    cr_assert_eq(quant_set(&qz, lo, scale, NULL), VECTRON_CORRUPT);
    quant_close(&qz);
}

Test(quant, constant_data_trains)
{
    quant qz;
    const float *vecs[N];
    uint8_t code[DIM];
    for (int i = 0; i < N; i++) {
        for (int d = 0; d < DIM; d++) {
            data[i][d] = 3.5f;
        }
        vecs[i] = data[i];
    }
    quant_init(&qz, DIM, VECTRON_METRIC_L2, 1, NULL);
    cr_assert_eq(quant_train(&qz, vecs, N, NULL), 0);
    quant_encode(&qz, data[0], code);
    cr_assert_float_eq(qz.lo[0] + qz.scale[0] * code[0], 3.5f, 1e-6);
    quant_close(&qz);
}
