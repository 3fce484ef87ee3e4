/*
 * distance.h - distance kernels for the index: a scalar reference and SIMD
 * versions (AVX2+FMA, AVX-512), chosen once at start-up by CPU detection.
 *
 * All kernels take unaligned pointers and any dimension >= 1 (tails are
 * handled; no padding is assumed). Float kernels may differ from the scalar
 * reference only by floating-point reassociation.
 *
 * Threading: the table returned by distance_kernels() is immutable after
 * the first call (pthread_once); kernels are pure functions.
 */
#ifndef VECTRON_INDEX_DISTANCE_H
#define VECTRON_INDEX_DISTANCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct distance_kernels {
    const char *name; /* "scalar", "avx2", "avx512" */
    /* sum (a[i] - b[i])^2 */
    float (*l2sq_f32)(const float *a, const float *b, size_t dim);
    /* sum a[i] * b[i] */
    float (*dot_f32)(const float *a, const float *b, size_t dim);
    /* sum (a[i] - b[i])^2 over unsigned 8-bit codes, exact in uint32 for
     * dim <= 65536. */
    uint32_t (*l2sq_u8)(const uint8_t *a, const uint8_t *b, size_t dim);
    /* Asymmetric int8 kernels: q is a float query already mapped into code
     * space, w per-dimension weights.
     * l2_asym: sum w[i] * (q[i] - c[i])^2
     * dot_asym: sum q[i] * c[i]   (weights folded into q by the caller) */
    float (*l2_asym_u8)(const float *q, const float *w, const uint8_t *c,
                        size_t dim);
    float (*dot_asym_u8)(const float *q, const uint8_t *c, size_t dim);
} distance_kernels;

/* The best kernels this CPU supports (or those forced by the environment
 * variable VECTRON_KERNELS=scalar|avx2|avx512). Never NULL. */
const distance_kernels *distance_kernels_best(void);

/* A specific implementation by name, or NULL if unknown or not supported
 * by this CPU. Used by tests and benchmarks. */
const distance_kernels *distance_kernels_by_name(const char *name);

/* Per-ISA tables, defined in distance_scalar.c, distance_avx2.c and
 * distance_avx512.c. The SIMD ones must only be used when the CPU
 * supports them (distance_kernels_by_name checks). */
extern const distance_kernels distance_scalar;
extern const distance_kernels distance_avx2;
extern const distance_kernels distance_avx512;

#endif
