/*
 * quant.h - int8 scalar quantization of float vectors for fast graph
 * traversal. Each dimension d maps [lo_d, lo_d + 255 * scale_d] onto codes
 * 0..255 (values outside are clamped). With one range for all dimensions
 * (per_dim = 0) and metric L2 or cosine, query and point are both coded and
 * compared with an exact integer kernel; otherwise the float query is
 * compared with the codes asymmetrically. Either way the result estimates
 * the index's distance ("lower is closer"), and callers rescore the best
 * candidates with float vectors.
 *
 * Threading: a trained quantizer is immutable; prepare/distance are
 * reentrant with caller-owned quant_query buffers.
 */
#ifndef VECTRON_INDEX_QUANT_H
#define VECTRON_INDEX_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "index/distance.h"
#include "vectron/index.h"

typedef struct quant {
    uint32_t dim;
    vectron_metric metric;
    int per_dim;
    int trained;
    float *lo;    /* dim entries (all equal when !per_dim) */
    float *scale; /* dim entries, > 0 */
} quant;

/* Query prepared for distance evaluation against codes. */
typedef struct quant_query {
    int mode;      /* QUANT_SYM_L2, QUANT_ASYM_L2 or QUANT_ASYM_DOT */
    uint8_t *code; /* dim bytes: the coded query (symmetric mode) */
    float *q;      /* dim floats: query in code space, or folded weights */
    float *w;      /* dim floats: per-dimension weights (asym L2) */
    float mult;    /* result = offset + mult * kernel(...) */
    float offset;
} quant_query;

enum { QUANT_SYM_L2 = 0, QUANT_ASYM_L2 = 1, QUANT_ASYM_DOT = 2 };

int quant_init(quant *qz, uint32_t dim, vectron_metric metric, int per_dim,
               vectron_error *err);
void quant_close(quant *qz);

/* Learns ranges from n training vectors (vecs[i] points at dim floats).
 * Uses the 0.1 % and 99.9 % quantiles so that rare outliers do not waste
 * the code range. n >= 1. */
int quant_train(quant *qz, const float *const *vecs, size_t n,
                vectron_error *err);

/* Sets ranges directly (used by load); lo and scale have dim entries. */
int quant_set(quant *qz, const float *lo, const float *scale,
              vectron_error *err);

void quant_encode(const quant *qz, const float *x, uint8_t *code);

/* Allocates the buffers of qq for qz->dim; free with quant_query_close. */
int quant_query_init(quant_query *qq, uint32_t dim);
void quant_query_close(quant_query *qq);

/* Prepares qq for query vector x (already normalised under cosine). */
void quant_prepare(const quant *qz, const float *x, quant_query *qq);

static inline float quant_distance(const quant_query *qq,
                                   const distance_kernels *k,
                                   const uint8_t *code, size_t dim)
{
    switch (qq->mode) {
    case QUANT_SYM_L2:
        return qq->offset + qq->mult * (float)k->l2sq_u8(qq->code, code, dim);
    case QUANT_ASYM_L2:
        return qq->offset + qq->mult * k->l2_asym_u8(qq->q, qq->w, code, dim);
    default:
        return qq->offset + qq->mult * k->dot_asym_u8(qq->q, code, dim);
    }
}

#endif
