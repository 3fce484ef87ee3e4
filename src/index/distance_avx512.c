/*
 * distance_avx512.c - the AVX-512 distance kernels (F, BW, VL, DQ, with
 * FMA). This file alone is compiled with those -m flags; its table must only
 * be used when the CPU has them all (distance_kernels_by_name checks).
 *
 * Float kernels keep four independent 16-lane accumulators, load
 * unaligned, and finish a dimension that is not a multiple of 16 with a
 * mask register: masked-out lanes are neither read nor faulted on and load
 * as zero, so they contribute exactly zero. They differ from the scalar
 * reference only by float rounding of the reassociated sum. l2sq_u8 is
 * integer arithmetic and equal to the reference bit for bit: |a - b| as
 * u8, widened to i16 and squared and pair-summed by vpmaddwd into i32 lanes
 * whose wrap-around addition is the reference's uint32 addition.
 *
 * Threading: pure functions over caller-owned memory; the table is const.
 */
#include <immintrin.h>

#include "index/distance.h"

/* A mask selecting the first n (0..16) of 16 lanes. */
static inline __mmask16 mask16(size_t n)
{
    return (__mmask16)((1u << n) - 1u);
}

/* A mask selecting the first n (0..63) of 64 byte lanes. */
static inline __mmask64 mask64(size_t n)
{
    return (__mmask64)((1ull << n) - 1ull);
}

/* Sums the sixteen i32 lanes with wrap-around, i.e. modulo 2^32 like the
 * reference's uint32 accumulator (the compiler's reduce intrinsic would end
 * in a signed scalar addition, which may not overflow). */
static inline uint32_t hsum_epi32(__m512i v)
{
    __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(v),
                                  _mm512_extracti64x4_epi64(v, 1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s8),
                              _mm256_extracti128_si256(s8, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(s);
}

/* Sixteen u8 codes converted to float. */
static inline __m512 load16_u8(const uint8_t *p)
{
    return _mm512_cvtepi32_ps(
        _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

/* The codes selected by m converted to float, the other lanes zero. */
static inline __m512 load16_u8_mask(const uint8_t *p, __mmask16 m)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, p)));
}

static inline __m512 l2_step(const float *a, const float *b, __m512 acc)
{
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(b));
    return _mm512_fmadd_ps(d, d, acc);
}

static float l2sq_f32(const float *a, const float *b, size_t dim)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        acc0 = l2_step(a + i, b + i, acc0);
        acc1 = l2_step(a + i + 16, b + i + 16, acc1);
        acc2 = l2_step(a + i + 32, b + i + 32, acc2);
        acc3 = l2_step(a + i + 48, b + i + 48, acc3);
    }
    /* At most three whole blocks of 16 remain; give each its own
     * accumulator. */
    if (i + 16 <= dim) {
        acc0 = l2_step(a + i, b + i, acc0);
        i += 16;
    }
    if (i + 16 <= dim) {
        acc1 = l2_step(a + i, b + i, acc1);
        i += 16;
    }
    if (i + 16 <= dim) {
        acc2 = l2_step(a + i, b + i, acc2);
        i += 16;
    }
    if (i < dim) {
        __mmask16 m = mask16(dim - i);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
                                 _mm512_maskz_loadu_ps(m, b + i));
        acc3 = _mm512_fmadd_ps(d, d, acc3);
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

static inline __m512 dot_step(const float *a, const float *b, __m512 acc)
{
    return _mm512_fmadd_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(b), acc);
}

static float dot_f32(const float *a, const float *b, size_t dim)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        acc0 = dot_step(a + i, b + i, acc0);
        acc1 = dot_step(a + i + 16, b + i + 16, acc1);
        acc2 = dot_step(a + i + 32, b + i + 32, acc2);
        acc3 = dot_step(a + i + 48, b + i + 48, acc3);
    }
    if (i + 16 <= dim) {
        acc0 = dot_step(a + i, b + i, acc0);
        i += 16;
    }
    if (i + 16 <= dim) {
        acc1 = dot_step(a + i, b + i, acc1);
        i += 16;
    }
    if (i + 16 <= dim) {
        acc2 = dot_step(a + i, b + i, acc2);
        i += 16;
    }
    if (i < dim) {
        __mmask16 m = mask16(dim - i);
        acc3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i),
                               _mm512_maskz_loadu_ps(m, b + i), acc3);
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

/* Adds the squared differences of the 64 byte pairs to acc0 and acc1. */
static inline void l2_u8_block(__m512i va, __m512i vb, __m512i *acc0,
                               __m512i *acc1)
{
    /* |a - b| fits in u8; interleaving with zero widens it to i16 (the
     * lane order does not matter for a sum). Each vpmaddwd lane is at most
     * 2 * 255^2. */
    const __m512i zero = _mm512_setzero_si512();
    __m512i d =
        _mm512_sub_epi8(_mm512_max_epu8(va, vb), _mm512_min_epu8(va, vb));
    __m512i lo = _mm512_unpacklo_epi8(d, zero);
    __m512i hi = _mm512_unpackhi_epi8(d, zero);
    *acc0 = _mm512_add_epi32(*acc0, _mm512_madd_epi16(lo, lo));
    *acc1 = _mm512_add_epi32(*acc1, _mm512_madd_epi16(hi, hi));
}

static uint32_t l2sq_u8(const uint8_t *a, const uint8_t *b, size_t dim)
{
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        l2_u8_block(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i), &acc0,
                    &acc1);
    }
    if (i < dim) {
        __mmask64 m = mask64(dim - i);
        l2_u8_block(_mm512_maskz_loadu_epi8(m, a + i),
                    _mm512_maskz_loadu_epi8(m, b + i), &acc0, &acc1);
    }
    return hsum_epi32(_mm512_add_epi32(acc0, acc1));
}

static inline __m512 l2_asym_term(__m512 q, __m512 w, __m512 c, __m512 acc)
{
    __m512 d = _mm512_sub_ps(q, c);
    return _mm512_fmadd_ps(w, _mm512_mul_ps(d, d), acc);
}

static inline __m512 l2_asym_step(const float *q, const float *w,
                                  const uint8_t *c, __m512 acc)
{
    return l2_asym_term(_mm512_loadu_ps(q), _mm512_loadu_ps(w), load16_u8(c),
                        acc);
}

static float l2_asym_u8(const float *q, const float *w, const uint8_t *c,
                        size_t dim)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        acc0 = l2_asym_step(q + i, w + i, c + i, acc0);
        acc1 = l2_asym_step(q + i + 16, w + i + 16, c + i + 16, acc1);
        acc2 = l2_asym_step(q + i + 32, w + i + 32, c + i + 32, acc2);
        acc3 = l2_asym_step(q + i + 48, w + i + 48, c + i + 48, acc3);
    }
    if (i + 16 <= dim) {
        acc0 = l2_asym_step(q + i, w + i, c + i, acc0);
        i += 16;
    }
    if (i + 16 <= dim) {
        acc1 = l2_asym_step(q + i, w + i, c + i, acc1);
        i += 16;
    }
    if (i + 16 <= dim) {
        acc2 = l2_asym_step(q + i, w + i, c + i, acc2);
        i += 16;
    }
    if (i < dim) {
        /* Masked-out lanes have q = w = c = 0 and add 0. */
        __mmask16 m = mask16(dim - i);
        acc3 = l2_asym_term(_mm512_maskz_loadu_ps(m, q + i),
                            _mm512_maskz_loadu_ps(m, w + i),
                            load16_u8_mask(c + i, m), acc3);
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

static inline __m512 dot_asym_step(const float *q, const uint8_t *c, __m512 acc)
{
    return _mm512_fmadd_ps(_mm512_loadu_ps(q), load16_u8(c), acc);
}

static float dot_asym_u8(const float *q, const uint8_t *c, size_t dim)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        acc0 = dot_asym_step(q + i, c + i, acc0);
        acc1 = dot_asym_step(q + i + 16, c + i + 16, acc1);
        acc2 = dot_asym_step(q + i + 32, c + i + 32, acc2);
        acc3 = dot_asym_step(q + i + 48, c + i + 48, acc3);
    }
    if (i + 16 <= dim) {
        acc0 = dot_asym_step(q + i, c + i, acc0);
        i += 16;
    }
    if (i + 16 <= dim) {
        acc1 = dot_asym_step(q + i, c + i, acc1);
        i += 16;
    }
    if (i + 16 <= dim) {
        acc2 = dot_asym_step(q + i, c + i, acc2);
        i += 16;
    }
    if (i < dim) {
        __mmask16 m = mask16(dim - i);
        acc3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i),
                               load16_u8_mask(c + i, m), acc3);
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

const distance_kernels distance_avx512 = {
    .name = "avx512",
    .l2sq_f32 = l2sq_f32,
    .dot_f32 = dot_f32,
    .l2sq_u8 = l2sq_u8,
    .l2_asym_u8 = l2_asym_u8,
    .dot_asym_u8 = dot_asym_u8,
};
