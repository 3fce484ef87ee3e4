/*
 * distance_scalar.c - the scalar distance kernels: plain C loops that run on
 * any CPU and serve as the correctness reference for the SIMD versions.
 *
 * Float kernels work and accumulate in double, in index order. A product
 * of two floats is exact in double, and the double sum's rounding error
 * (about dim * 2^-53 * sum |term| at most) is negligible next to a float
 * rounding, so the result is in effect the exact sum rounded once to float.
 * The SIMD kernels, which accumulate in float across several lanes, are
 * tested against it with a tolerance proportional to sum |term|. The
 * u8 kernel accumulates in uint32 (exact for dim <= 65536, and congruent
 * modulo 2^32 to any other uint32 accumulation beyond that).
 *
 * Threading: pure functions over caller-owned memory; the table is const.
 */
#include "index/distance.h"

static float l2sq_f32(const float *a, const float *b, size_t dim)
{
    double sum = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double d = (double)a[i] - (double)b[i];
        sum += d * d;
    }
    return (float)sum;
}

static float dot_f32(const float *a, const float *b, size_t dim)
{
    double sum = 0.0;
    for (size_t i = 0; i < dim; i++) {
        sum += (double)a[i] * (double)b[i];
    }
    return (float)sum;
}

static uint32_t l2sq_u8(const uint8_t *a, const uint8_t *b, size_t dim)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < dim; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        sum += (uint32_t)(d * d);
    }
    return sum;
}

static float l2_asym_u8(const float *q, const float *w, const uint8_t *c,
                        size_t dim)
{
    double sum = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double d = (double)q[i] - (double)c[i];
        sum += (double)w[i] * (d * d);
    }
    return (float)sum;
}

static float dot_asym_u8(const float *q, const uint8_t *c, size_t dim)
{
    double sum = 0.0;
    for (size_t i = 0; i < dim; i++) {
        sum += (double)q[i] * (double)c[i];
    }
    return (float)sum;
}

const distance_kernels distance_scalar = {
    .name = "scalar",
    .l2sq_f32 = l2sq_f32,
    .dot_f32 = dot_f32,
    .l2sq_u8 = l2sq_u8,
    .l2_asym_u8 = l2_asym_u8,
    .dot_asym_u8 = dot_asym_u8,
};
