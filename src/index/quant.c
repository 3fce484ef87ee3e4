/*
 * quant.c - int8 scalar quantizer: training of ranges, encoding, and query
 * preparation for the symmetric and asymmetric distance estimates declared
 * in quant.h.
 *
 * Threading: training mutates the quantizer and must be exclusive; the
 * rest only reads it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "index/quant.h"

int quant_init(quant *qz, uint32_t dim, vectron_metric metric, int per_dim,
               vectron_error *err)
{
    memset(qz, 0, sizeof *qz);
    qz->dim = dim;
    qz->metric = metric;
    qz->per_dim = per_dim ? 1 : 0;
    qz->lo = vx_calloc(dim, sizeof(float));
    qz->scale = vx_calloc(dim, sizeof(float));
    if (!qz->lo || !qz->scale) {
        quant_close(qz);
        return vx_err(err, VECTRON_NOMEM, "quantizer: out of memory");
    }
    return 0;
}

void quant_close(quant *qz)
{
    vx_free(qz->lo);
    vx_free(qz->scale);
    qz->lo = qz->scale = NULL;
    qz->trained = 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Range [lo, hi] of vals from the 0.1 % and 99.9 % quantiles. Sorts vals. */
static void range_of(float *vals, size_t n, float *lo, float *scale)
{
    size_t a, b;
    qsort(vals, n, sizeof *vals, cmp_float);
    a = (size_t)((double)(n - 1) * 0.001);
    b = (size_t)((double)(n - 1) * 0.999 + 0.5);
    *lo = vals[a];
    *scale = (vals[b] - vals[a]) / 255.0f;
    if (!(*scale > 0.0f) || !isfinite(*scale)) {
        *scale = 1.0f; /* constant data: every code decodes to lo */
    }
}

int quant_train(quant *qz, const float *const *vecs, size_t n,
                vectron_error *err)
{
    size_t count = qz->per_dim ? n : n * qz->dim;
    float *vals = vx_malloc(count * sizeof(float));

    if (!vals) {
        return vx_err(err, VECTRON_NOMEM, "quantizer: out of memory");
    }
    if (qz->per_dim) {
        for (uint32_t d = 0; d < qz->dim; d++) {
            for (size_t i = 0; i < n; i++) {
                vals[i] = vecs[i][d];
            }
            range_of(vals, n, &qz->lo[d], &qz->scale[d]);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            memcpy(vals + i * qz->dim, vecs[i], qz->dim * sizeof(float));
        }
        range_of(vals, count, &qz->lo[0], &qz->scale[0]);
        for (uint32_t d = 1; d < qz->dim; d++) {
            qz->lo[d] = qz->lo[0];
            qz->scale[d] = qz->scale[0];
        }
    }
    vx_free(vals);
    __atomic_store_n(&qz->trained, 1, __ATOMIC_RELEASE);
    return 0;
}

int quant_set(quant *qz, const float *lo, const float *scale,
              vectron_error *err)
{
    for (uint32_t d = 0; d < qz->dim; d++) {
        if (!isfinite(lo[d]) || !isfinite(scale[d]) || !(scale[d] > 0.0f)) {
            return vx_err(err, VECTRON_CORRUPT,
                          "quantizer: bad range in dimension %u", d);
        }
        if (!qz->per_dim && (lo[d] != lo[0] || scale[d] != scale[0])) {
            return vx_err(err, VECTRON_CORRUPT,
                          "quantizer: ranges differ in one-range mode");
        }
    }
    memcpy(qz->lo, lo, qz->dim * sizeof(float));
    memcpy(qz->scale, scale, qz->dim * sizeof(float));
    __atomic_store_n(&qz->trained, 1, __ATOMIC_RELEASE);
    return 0;
}

static inline uint8_t code_of(float x, float lo, float scale)
{
    float c = (x - lo) / scale;
    if (!(c > 0.0f)) {
        return 0;
    }
    if (c >= 255.0f) {
        return 255;
    }
    return (uint8_t)(c + 0.5f);
}

void quant_encode(const quant *qz, const float *x, uint8_t *code)
{
    for (uint32_t d = 0; d < qz->dim; d++) {
        code[d] = code_of(x[d], qz->lo[d], qz->scale[d]);
    }
}

int quant_query_init(quant_query *qq, uint32_t dim)
{
    memset(qq, 0, sizeof *qq);
    qq->code = vx_malloc(dim);
    qq->q = vx_malloc(dim * sizeof(float));
    qq->w = vx_malloc(dim * sizeof(float));
    if (!qq->code || !qq->q || !qq->w) {
        quant_query_close(qq);
        return VECTRON_NOMEM;
    }
    return 0;
}

void quant_query_close(quant_query *qq)
{
    vx_free(qq->code);
    vx_free(qq->q);
    vx_free(qq->w);
    memset(qq, 0, sizeof *qq);
}

void quant_prepare(const quant *qz, const float *x, quant_query *qq)
{
    uint32_t dim = qz->dim;

    if (!qz->per_dim && qz->metric != VECTRON_METRIC_DOT) {
        /* Symmetric: |a - b|^2 ~ scale^2 * |ca - cb|^2; for normalised
         * vectors 1 - cos = |a - b|^2 / 2. */
        float s2 = qz->scale[0] * qz->scale[0];
        qq->mode = QUANT_SYM_L2;
        quant_encode(qz, x, qq->code);
        qq->offset = 0.0f;
        qq->mult = qz->metric == VECTRON_METRIC_COSINE ? s2 * 0.5f : s2;
        return;
    }
    if (qz->metric == VECTRON_METRIC_L2) {
        /* sum (x - lo - s c)^2 = sum s^2 ((x - lo) / s - c)^2 */
        qq->mode = QUANT_ASYM_L2;
        for (uint32_t d = 0; d < dim; d++) {
            qq->q[d] = (x[d] - qz->lo[d]) / qz->scale[d];
            qq->w[d] = qz->scale[d] * qz->scale[d];
        }
        qq->offset = 0.0f;
        qq->mult = 1.0f;
        return;
    }
    /* x . (lo + s c) = sum x lo + sum (x s) c; distance is -dot (dot) or
     * 1 - dot (cosine, normalised vectors). */
    {
        double base = 0.0;
        qq->mode = QUANT_ASYM_DOT;
        for (uint32_t d = 0; d < dim; d++) {
            base += (double)x[d] * qz->lo[d];
            qq->q[d] = x[d] * qz->scale[d];
        }
        qq->offset =
            (qz->metric == VECTRON_METRIC_COSINE ? 1.0f : 0.0f) - (float)base;
        qq->mult = -1.0f;
    }
}
