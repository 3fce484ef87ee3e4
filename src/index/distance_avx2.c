/*
 * distance_avx2.c - the AVX2+FMA distance kernels. This file alone is
 * compiled with -mavx2 -mfma; its table must only be used when the CPU has
 * both (distance_kernels_by_name checks).
 *
 * Float kernels keep four independent 8-lane accumulators so that the FMA
 * latency is hidden, load unaligned, and finish a dimension that is not a
 * multiple of 8 with a masked load (masked-out lanes are neither read nor
 * faulted on, and contribute exactly zero). They differ from the scalar
 * reference only by float rounding of the reassociated sum. l2sq_u8 is
 * integer arithmetic and equal to the reference bit for bit: |a - b| as
 * u8, widened to i16 and squared and pair-summed by vpmaddwd into i32 lanes
 * whose wrap-around addition is the reference's uint32 addition.
 *
 * Threading: pure functions over caller-owned memory; the table is const.
 */
#include <immintrin.h>
#include <string.h>

#include "index/distance.h"

/* Eight all-ones lanes followed by eight zero lanes: the 8 lanes starting
 * at tail_bits + 8 - n select the first n elements. */
static const int32_t tail_bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                      0,  0,  0,  0,  0,  0,  0,  0};

/* A mask selecting the first n (1..7) of 8 float lanes. */
static inline __m256i tail_mask(size_t n)
{
    return _mm256_loadu_si256((const __m256i *)(tail_bits + 8 - n));
}

static inline float hsum_ps(__m256 v)
{
    __m128 s =
        _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Sums the eight i32 lanes with wrap-around, i.e. modulo 2^32 like the
 * reference's uint32 accumulator. */
static inline uint32_t hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v),
                              _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(s);
}

/* Eight u8 codes converted to float. */
static inline __m256 load8_u8(const uint8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadu_si64(p)));
}

/* The first n (1..7) u8 codes converted to float, the other lanes zero. */
static inline __m256 load8_u8_tail(const uint8_t *p, size_t n)
{
    uint64_t bytes = 0;
    memcpy(&bytes, p, n);
    return _mm256_cvtepi32_ps(
        _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)bytes)));
}

static inline __m256 l2_step(const float *a, const float *b, __m256 acc)
{
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(b));
    return _mm256_fmadd_ps(d, d, acc);
}

static float l2sq_f32(const float *a, const float *b, size_t dim)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        acc0 = l2_step(a + i, b + i, acc0);
        acc1 = l2_step(a + i + 8, b + i + 8, acc1);
        acc2 = l2_step(a + i + 16, b + i + 16, acc2);
        acc3 = l2_step(a + i + 24, b + i + 24, acc3);
    }
    /* At most three whole blocks of 8 remain; give each its own
     * accumulator. */
    if (i + 8 <= dim) {
        acc0 = l2_step(a + i, b + i, acc0);
        i += 8;
    }
    if (i + 8 <= dim) {
        acc1 = l2_step(a + i, b + i, acc1);
        i += 8;
    }
    if (i + 8 <= dim) {
        acc2 = l2_step(a + i, b + i, acc2);
        i += 8;
    }
    if (i < dim) {
        __m256i m = tail_mask(dim - i);
        __m256 d = _mm256_sub_ps(_mm256_maskload_ps(a + i, m),
                                 _mm256_maskload_ps(b + i, m));
        acc3 = _mm256_fmadd_ps(d, d, acc3);
    }
    return hsum_ps(
        _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

static inline __m256 dot_step(const float *a, const float *b, __m256 acc)
{
    return _mm256_fmadd_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(b), acc);
}

static float dot_f32(const float *a, const float *b, size_t dim)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        acc0 = dot_step(a + i, b + i, acc0);
        acc1 = dot_step(a + i + 8, b + i + 8, acc1);
        acc2 = dot_step(a + i + 16, b + i + 16, acc2);
        acc3 = dot_step(a + i + 24, b + i + 24, acc3);
    }
    if (i + 8 <= dim) {
        acc0 = dot_step(a + i, b + i, acc0);
        i += 8;
    }
    if (i + 8 <= dim) {
        acc1 = dot_step(a + i, b + i, acc1);
        i += 8;
    }
    if (i + 8 <= dim) {
        acc2 = dot_step(a + i, b + i, acc2);
        i += 8;
    }
    if (i < dim) {
        __m256i m = tail_mask(dim - i);
        acc3 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m),
                               _mm256_maskload_ps(b + i, m), acc3);
    }
    return hsum_ps(
        _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

static uint32_t l2sq_u8(const uint8_t *a, const uint8_t *b, size_t dim)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i acc0 = zero, acc1 = zero;
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i vb = _mm256_loadu_si256((const __m256i *)(b + i));
        /* |a - b| fits in u8; interleaving with zero widens it to i16 (the
         * lane order does not matter for a sum). Each vpmaddwd lane is at
         * most 2 * 255^2. */
        __m256i d =
            _mm256_sub_epi8(_mm256_max_epu8(va, vb), _mm256_min_epu8(va, vb));
        __m256i lo = _mm256_unpacklo_epi8(d, zero);
        __m256i hi = _mm256_unpackhi_epi8(d, zero);
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(lo, lo));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(hi, hi));
    }
    if (i + 16 <= dim) {
        __m256i va =
            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i vb =
            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        __m256i d = _mm256_sub_epi16(va, vb);
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(d, d));
        i += 16;
    }
    uint32_t sum = hsum_epi32(_mm256_add_epi32(acc0, acc1));
    for (; i < dim; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        sum += (uint32_t)(d * d);
    }
    return sum;
}

static inline __m256 l2_asym_term(__m256 q, __m256 w, __m256 c, __m256 acc)
{
    __m256 d = _mm256_sub_ps(q, c);
    return _mm256_fmadd_ps(w, _mm256_mul_ps(d, d), acc);
}

static inline __m256 l2_asym_step(const float *q, const float *w,
                                  const uint8_t *c, __m256 acc)
{
    return l2_asym_term(_mm256_loadu_ps(q), _mm256_loadu_ps(w), load8_u8(c),
                        acc);
}

static float l2_asym_u8(const float *q, const float *w, const uint8_t *c,
                        size_t dim)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        acc0 = l2_asym_step(q + i, w + i, c + i, acc0);
        acc1 = l2_asym_step(q + i + 8, w + i + 8, c + i + 8, acc1);
        acc2 = l2_asym_step(q + i + 16, w + i + 16, c + i + 16, acc2);
        acc3 = l2_asym_step(q + i + 24, w + i + 24, c + i + 24, acc3);
    }
    if (i + 8 <= dim) {
        acc0 = l2_asym_step(q + i, w + i, c + i, acc0);
        i += 8;
    }
    if (i + 8 <= dim) {
        acc1 = l2_asym_step(q + i, w + i, c + i, acc1);
        i += 8;
    }
    if (i + 8 <= dim) {
        acc2 = l2_asym_step(q + i, w + i, c + i, acc2);
        i += 8;
    }
    if (i < dim) {
        /* Masked-out lanes have q = w = c = 0 and add 0. */
        __m256i m = tail_mask(dim - i);
        acc3 = l2_asym_term(_mm256_maskload_ps(q + i, m),
                            _mm256_maskload_ps(w + i, m),
                            load8_u8_tail(c + i, dim - i), acc3);
    }
    return hsum_ps(
        _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

static inline __m256 dot_asym_step(const float *q, const uint8_t *c, __m256 acc)
{
    return _mm256_fmadd_ps(_mm256_loadu_ps(q), load8_u8(c), acc);
}

static float dot_asym_u8(const float *q, const uint8_t *c, size_t dim)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        acc0 = dot_asym_step(q + i, c + i, acc0);
        acc1 = dot_asym_step(q + i + 8, c + i + 8, acc1);
        acc2 = dot_asym_step(q + i + 16, c + i + 16, acc2);
        acc3 = dot_asym_step(q + i + 24, c + i + 24, acc3);
    }
    if (i + 8 <= dim) {
        acc0 = dot_asym_step(q + i, c + i, acc0);
        i += 8;
    }
    if (i + 8 <= dim) {
        acc1 = dot_asym_step(q + i, c + i, acc1);
        i += 8;
    }
    if (i + 8 <= dim) {
        acc2 = dot_asym_step(q + i, c + i, acc2);
        i += 8;
    }
    if (i < dim) {
        __m256i m = tail_mask(dim - i);
        acc3 = _mm256_fmadd_ps(_mm256_maskload_ps(q + i, m),
                               load8_u8_tail(c + i, dim - i), acc3);
    }
    return hsum_ps(
        _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

const distance_kernels distance_avx2 = {
    .name = "avx2",
    .l2sq_f32 = l2sq_f32,
    .dot_f32 = dot_f32,
    .l2sq_u8 = l2sq_u8,
    .l2_asym_u8 = l2_asym_u8,
    .dot_asym_u8 = dot_asym_u8,
};
