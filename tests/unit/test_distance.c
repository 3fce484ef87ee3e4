/*
 * test_distance.c - unit tests of the distance kernels: kernel selection
 * (best, by_name, VECTRON_KERNELS), exact results on one-hot inputs for
 * every table including the scalar reference, and every SIMD table the CPU
 * supports against the scalar reference over every dimension 1..4096 with
 * random, zero, constant, huge, tiny, subnormal and mixed-magnitude data.
 *
 * Vectors are placed so that they end exactly at a PROT_NONE guard page, so
 * a kernel reading even one element past the end crashes the test (this
 * does not depend on AddressSanitizer, which does not see masked loads).
 *
 * Float tolerance: a kernel that sums n terms in float over L lanes is off
 * by at most about (n / L + log2(L) + 4) * 2^-24 * sum |term|; with L >= 32
 * and n <= 4096 that is below 1e-5 * sum |term|. Underflow adds at most a
 * few FLT_TRUE_MIN per term. The u8 L2 kernel must match bit for bit.
 *
 * Threading: single-threaded; Criterion runs each test in its own process,
 * which the VECTRON_KERNELS tests rely on (detection happens once per
 * process).
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "index/distance.h"

#define MAX_DIM 4096
#define MAX_DIM_U8 65536
#define REL_TOL 1e-5
#define ABS_TOL_PER_TERM (4.0 * FLT_TRUE_MIN)

/* ---- deterministic random numbers (splitmix64) ---- */

static uint64_t rng_state = 0x5eed5eed5eed5eedull;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static float rng_float(double lo, double hi)
{
    double u = (double)(rng_next() >> 11) * 0x1.0p-53;
    return (float)(lo + u * (hi - lo));
}

static uint8_t rng_u8(void)
{
    return (uint8_t)(rng_next() >> 56);
}

/* ---- buffers between guard pages ---- */

/* [guard page][data pages][guard page]: data starts right after the first
 * guard and ends right at the second. */
typedef struct guarded {
    unsigned char *map;
    size_t map_len;
    unsigned char *begin;
    unsigned char *end;
} guarded;

static guarded guarded_new(size_t bytes)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (bytes + page - 1) / page * page;
    guarded g;
    g.map_len = data + 2 * page;
    g.map = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(g.map != MAP_FAILED, "mmap failed");
    cr_assert(mprotect(g.map, page, PROT_NONE) == 0);
    cr_assert(mprotect(g.map + page + data, page, PROT_NONE) == 0);
    g.begin = g.map + page;
    g.end = g.begin + data;
    return g;
}

static void guarded_free(guarded *g)
{
    munmap(g->map, g->map_len);
}

/* n floats ending exactly at the guard page. */
static float *f32_at_end(const guarded *g, size_t n)
{
    return (float *)(void *)g->end - n;
}

static uint8_t *u8_at_end(const guarded *g, size_t n)
{
    return g->end - n;
}

/* The buffers every test uses. */
typedef struct bufs {
    guarded a, b, w, ca, cb;
} bufs;

static bufs bufs_new(void)
{
    bufs s;
    s.a = guarded_new(MAX_DIM * sizeof(float) + 64);
    s.b = guarded_new(MAX_DIM * sizeof(float) + 64);
    s.w = guarded_new(MAX_DIM * sizeof(float) + 64);
    s.ca = guarded_new(MAX_DIM_U8 + 64);
    s.cb = guarded_new(MAX_DIM_U8 + 64);
    return s;
}

static void bufs_free(bufs *s)
{
    guarded_free(&s->a);
    guarded_free(&s->b);
    guarded_free(&s->w);
    guarded_free(&s->ca);
    guarded_free(&s->cb);
}

/* ---- helpers ---- */

/* The table called name, or skips the test if this CPU cannot run it. */
static const distance_kernels *kernels_or_skip(const char *name)
{
    const distance_kernels *k = distance_kernels_by_name(name);
    if (k == NULL) {
        cr_skip_test("CPU does not support %s", name);
    }
    return k;
}

static void check_close(const char *kernel, const char *impl, size_t dim,
                        const char *pattern, float got, float ref,
                        double sum_abs)
{
    double tol = REL_TOL * sum_abs + ABS_TOL_PER_TERM * (double)dim;
    double err = fabs((double)got - (double)ref);
    if (!(err <= tol) || !isfinite(got)) {
        cr_assert_fail("%s %s dim %zu %s: got %.9g, scalar %.9g, "
                       "|diff| %.3g > tol %.3g",
                       impl, kernel, dim, pattern, (double)got, (double)ref,
                       err, tol);
    }
}

static void check_exact_f(const char *kernel, const char *impl, size_t dim,
                          const char *pattern, float got, float want)
{
    if (got != want) {
        cr_assert_fail("%s %s dim %zu %s: got %.9g, want exactly %.9g", impl,
                       kernel, dim, pattern, (double)got, (double)want);
    }
}

static void check_exact_u(const char *impl, size_t dim, const char *pattern,
                          uint32_t got, uint32_t want)
{
    if (got != want) {
        cr_assert_fail("%s l2sq_u8 dim %zu %s: got %u, want exactly %u", impl,
                       dim, pattern, got, want);
    }
}

static double sum_abs_l2(const float *a, const float *b, size_t dim)
{
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return s;
}

static double sum_abs_dot(const float *a, const float *b, size_t dim)
{
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        s += fabs((double)a[i] * (double)b[i]);
    }
    return s;
}

static double sum_abs_l2_asym(const float *q, const float *w, const uint8_t *c,
                              size_t dim)
{
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double d = (double)q[i] - (double)c[i];
        s += fabs((double)w[i]) * d * d;
    }
    return s;
}

static double sum_abs_dot_asym(const float *q, const uint8_t *c, size_t dim)
{
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        s += fabs((double)q[i]) * (double)c[i];
    }
    return s;
}

/* ---- float kernels against the reference ---- */

enum f32_pattern {
    F_RANDOM,
    F_ZERO,
    F_CONST,
    F_HUGE,
    F_TINY,
    F_SUBNORMAL,
    F_MIXED,
    F_PATTERNS
};

static const char *const f32_pattern_names[F_PATTERNS] = {
    "random", "zero", "const", "huge", "tiny", "subnormal", "mixed"};

/* A random float whose magnitude spans 2^-40 .. 2^40, either sign. */
static float rng_mixed(void)
{
    int e = (int)(rng_next() % 81) - 40;
    return ldexpf(rng_float(-1.0, 1.0), e);
}

static void fill_f32(float *v, size_t dim, enum f32_pattern p, float cval)
{
    for (size_t i = 0; i < dim; i++) {
        switch (p) {
        case F_RANDOM:
            v[i] = rng_float(-1.0, 1.0);
            break;
        case F_ZERO:
            v[i] = 0.0f;
            break;
        case F_CONST:
            v[i] = cval;
            break;
        case F_HUGE:
            /* |a - b| <= 2e15, so 4096 squares stay below 2e34. */
            v[i] = rng_float(-1e15, 1e15);
            break;
        case F_TINY:
            /* Products are about 1e-40: float subnormals. */
            v[i] = rng_float(-1e-20, 1e-20);
            break;
        case F_SUBNORMAL:
            v[i] = rng_float(-1e-38, 1e-38);
            break;
        case F_MIXED:
            v[i] = rng_mixed();
            break;
        default:
            break;
        }
    }
}

static void run_f32_all_dims(const char *impl)
{
    const distance_kernels *k = kernels_or_skip(impl);
    const distance_kernels *ref = &distance_scalar;
    bufs s = bufs_new();
    for (int p = 0; p < F_PATTERNS; p++) {
        const char *pn = f32_pattern_names[p];
        for (size_t dim = 1; dim <= MAX_DIM; dim++) {
            float *a = f32_at_end(&s.a, dim);
            float *b = f32_at_end(&s.b, dim);
            fill_f32(a, dim, (enum f32_pattern)p, 2.0f);
            fill_f32(b, dim, (enum f32_pattern)p, 3.0f);

            float l2 = k->l2sq_f32(a, b, dim);
            float dot = k->dot_f32(a, b, dim);
            if (p == F_ZERO || p == F_CONST) {
                /* Small integers: every order of summation is exact. */
                float l2_want = p == F_ZERO ? 0.0f : (float)dim;
                float dot_want = p == F_ZERO ? 0.0f : 6.0f * (float)dim;
                check_exact_f("l2sq_f32", impl, dim, pn, l2, l2_want);
                check_exact_f("dot_f32", impl, dim, pn, dot, dot_want);
                check_exact_f("l2sq_f32", "scalar", dim, pn,
                              ref->l2sq_f32(a, b, dim), l2_want);
                check_exact_f("dot_f32", "scalar", dim, pn,
                              ref->dot_f32(a, b, dim), dot_want);
                continue;
            }
            check_close("l2sq_f32", impl, dim, pn, l2, ref->l2sq_f32(a, b, dim),
                        sum_abs_l2(a, b, dim));
            check_close("dot_f32", impl, dim, pn, dot, ref->dot_f32(a, b, dim),
                        sum_abs_dot(a, b, dim));
            /* Symmetry of the operands is not promised bit for bit, but
             * both orders must be within tolerance too. */
            check_close("l2sq_f32(b,a)", impl, dim, pn, k->l2sq_f32(b, a, dim),
                        ref->l2sq_f32(a, b, dim), sum_abs_l2(a, b, dim));
        }
    }
    bufs_free(&s);
}

/* ---- u8 L2 against the reference (bit for bit) ---- */

enum u8_pattern { U_RANDOM, U_ZERO_255, U_255_255, U_ZERO_ZERO, U_PATTERNS };

static const char *const u8_pattern_names[U_PATTERNS] = {
    "random", "0 vs 255", "255 vs 255", "0 vs 0"};

static void fill_u8_pair(uint8_t *a, uint8_t *b, size_t dim, enum u8_pattern p)
{
    switch (p) {
    case U_RANDOM:
        for (size_t i = 0; i < dim; i++) {
            a[i] = rng_u8();
            b[i] = rng_u8();
        }
        break;
    case U_ZERO_255:
        memset(a, 0, dim);
        memset(b, 255, dim);
        break;
    case U_255_255:
        memset(a, 255, dim);
        memset(b, 255, dim);
        break;
    case U_ZERO_ZERO:
        memset(a, 0, dim);
        memset(b, 0, dim);
        break;
    default:
        break;
    }
}

static void run_u8_all_dims(const char *impl)
{
    const distance_kernels *k = kernels_or_skip(impl);
    const distance_kernels *ref = &distance_scalar;
    bufs s = bufs_new();
    for (int p = 0; p < U_PATTERNS; p++) {
        const char *pn = u8_pattern_names[p];
        for (size_t dim = 1; dim <= MAX_DIM; dim++) {
            uint8_t *a = u8_at_end(&s.ca, dim);
            uint8_t *b = u8_at_end(&s.cb, dim);
            fill_u8_pair(a, b, dim, (enum u8_pattern)p);
            uint32_t want = ref->l2sq_u8(a, b, dim);
            if (p == U_ZERO_255) {
                check_exact_u("scalar", dim, pn, want, 65025u * (uint32_t)dim);
            } else if (p != U_RANDOM) {
                check_exact_u("scalar", dim, pn, want, 0);
            }
            check_exact_u(impl, dim, pn, k->l2sq_u8(a, b, dim), want);
            check_exact_u(impl, dim, pn, k->l2sq_u8(b, a, dim), want);
        }
    }
    bufs_free(&s);
}

/* The largest dimension the header promises exact: 65025 * 65536 is just
 * below 2^32, and each SIMD i32 lane must not lose anything on the way. */
static void run_u8_max_dim(const char *impl)
{
    const distance_kernels *k = kernels_or_skip(impl);
    bufs s = bufs_new();
    const size_t dims[] = {65535, 65536};
    for (size_t j = 0; j < sizeof dims / sizeof dims[0]; j++) {
        size_t dim = dims[j];
        uint8_t *a = u8_at_end(&s.ca, dim);
        uint8_t *b = u8_at_end(&s.cb, dim);
        fill_u8_pair(a, b, dim, U_ZERO_255);
        uint32_t want = 65025u * (uint32_t)dim;
        check_exact_u(impl, dim, "0 vs 255", k->l2sq_u8(a, b, dim), want);
        fill_u8_pair(a, b, dim, U_RANDOM);
        check_exact_u(impl, dim, "random", k->l2sq_u8(a, b, dim),
                      distance_scalar.l2sq_u8(a, b, dim));
    }
    bufs_free(&s);
}

/* ---- asymmetric kernels against the reference ---- */

enum asym_pattern {
    A_RANDOM,
    A_CODES_0,
    A_CODES_255,
    A_CONST,
    A_HUGE,
    A_TINY,
    A_PATTERNS
};

static const char *const asym_pattern_names[A_PATTERNS] = {
    "random", "codes 0", "codes 255", "const", "huge", "tiny"};

static void fill_asym(float *q, float *w, uint8_t *c, size_t dim,
                      enum asym_pattern p)
{
    for (size_t i = 0; i < dim; i++) {
        switch (p) {
        case A_RANDOM:
            /* A query a little outside the code range, as after mapping. */
            q[i] = rng_float(-8.0, 263.0);
            w[i] = rng_float(0.0, 2.0);
            c[i] = rng_u8();
            break;
        case A_CODES_0:
        case A_CODES_255:
            q[i] = rng_float(-8.0, 263.0);
            w[i] = rng_float(0.0, 2.0);
            c[i] = p == A_CODES_0 ? 0 : 255;
            break;
        case A_CONST:
            q[i] = 3.0f;
            w[i] = 2.0f;
            c[i] = 1;
            break;
        case A_HUGE:
            q[i] = rng_float(-1e15, 1e15);
            w[i] = rng_float(0.0, 1.0);
            c[i] = rng_u8();
            break;
        case A_TINY:
            /* w * q^2 is about 1e-40 when the code is 0; odd codes make
             * the dot product terms about 1e-18. */
            q[i] = rng_float(-1e-20, 1e-20);
            w[i] = rng_float(0.0, 2.0);
            c[i] = (i & 1) ? rng_u8() : 0;
            break;
        default:
            break;
        }
    }
}

static void run_asym_all_dims(const char *impl)
{
    const distance_kernels *k = kernels_or_skip(impl);
    const distance_kernels *ref = &distance_scalar;
    bufs s = bufs_new();
    for (int p = 0; p < A_PATTERNS; p++) {
        const char *pn = asym_pattern_names[p];
        for (size_t dim = 1; dim <= MAX_DIM; dim++) {
            float *q = f32_at_end(&s.a, dim);
            float *w = f32_at_end(&s.w, dim);
            uint8_t *c = u8_at_end(&s.ca, dim);
            fill_asym(q, w, c, dim, (enum asym_pattern)p);

            float l2 = k->l2_asym_u8(q, w, c, dim);
            float dot = k->dot_asym_u8(q, c, dim);
            if (p == A_CONST) {
                float l2_want = 8.0f * (float)dim;
                float dot_want = 3.0f * (float)dim;
                check_exact_f("l2_asym_u8", impl, dim, pn, l2, l2_want);
                check_exact_f("dot_asym_u8", impl, dim, pn, dot, dot_want);
                check_exact_f("l2_asym_u8", "scalar", dim, pn,
                              ref->l2_asym_u8(q, w, c, dim), l2_want);
                check_exact_f("dot_asym_u8", "scalar", dim, pn,
                              ref->dot_asym_u8(q, c, dim), dot_want);
                continue;
            }
            check_close("l2_asym_u8", impl, dim, pn, l2,
                        ref->l2_asym_u8(q, w, c, dim),
                        sum_abs_l2_asym(q, w, c, dim));
            check_close("dot_asym_u8", impl, dim, pn, dot,
                        ref->dot_asym_u8(q, c, dim),
                        sum_abs_dot_asym(q, c, dim));
        }
    }
    bufs_free(&s);
}

/* ---- one-hot inputs: exact results, for every table ---- */

/* Dimensions and positions covering every lane, block and tail case. */
static int one_hot_position_used(size_t dim, size_t pos)
{
    return dim <= 140 || pos < 70 || pos >= dim - 70;
}

static void run_one_hot(const char *impl)
{
    const distance_kernels *k = kernels_or_skip(impl);
    static const size_t big_dims[] = {255,  256,  257,  511,  784,
                                      1000, 1023, 1025, 4095, 4096};
    const size_t n_big = sizeof big_dims / sizeof big_dims[0];
    bufs s = bufs_new();
    for (size_t j = 0; j < 140 + n_big; j++) {
        size_t dim = j < 140 ? j + 1 : big_dims[j - 140];
        float *a = f32_at_end(&s.a, dim);
        float *b = f32_at_end(&s.b, dim);
        float *w = f32_at_end(&s.w, dim);
        uint8_t *ca = u8_at_end(&s.ca, dim);
        uint8_t *cb = u8_at_end(&s.cb, dim);
        for (size_t pos = 0; pos < dim; pos++) {
            if (!one_hot_position_used(dim, pos)) {
                continue;
            }
            /* L2: a == b except at pos, so every other term is exactly 0
             * while a misplaced index would pick up a random value. */
            fill_f32(a, dim, F_RANDOM, 0.0f);
            memcpy(b, a, dim * sizeof(float));
            a[pos] = 3.0f;
            b[pos] = 1.0f;
            check_exact_f("l2sq_f32 one-hot", impl, dim, "",
                          k->l2sq_f32(a, b, dim), 4.0f);
            /* Dot: b is zero except at pos. */
            memset(b, 0, dim * sizeof(float));
            a[pos] = 3.0f;
            b[pos] = 5.0f;
            check_exact_f("dot_f32 one-hot", impl, dim, "",
                          k->dot_f32(a, b, dim), 15.0f);

            for (size_t i = 0; i < dim; i++) {
                ca[i] = cb[i] = rng_u8();
            }
            ca[pos] = 200;
            cb[pos] = 17;
            check_exact_u(impl, dim, "one-hot", k->l2sq_u8(ca, cb, dim),
                          183u * 183u);

            /* Asymmetric L2: q equals the code except at pos. */
            for (size_t i = 0; i < dim; i++) {
                a[i] = (float)ca[i];
                w[i] = rng_float(0.0, 2.0);
            }
            a[pos] = (float)ca[pos] + 2.0f;
            w[pos] = 0.5f;
            check_exact_f("l2_asym_u8 one-hot", impl, dim, "",
                          k->l2_asym_u8(a, w, ca, dim), 2.0f);
            /* Asymmetric dot: codes are zero except at pos. */
            fill_f32(a, dim, F_RANDOM, 0.0f);
            memset(ca, 0, dim);
            a[pos] = 3.0f;
            ca[pos] = 7;
            check_exact_f("dot_asym_u8 one-hot", impl, dim, "",
                          k->dot_asym_u8(a, ca, dim), 21.0f);
        }
    }
    bufs_free(&s);
}

/* ---- unaligned pointers ---- */

static void run_unaligned(const char *impl)
{
    const distance_kernels *k = kernels_or_skip(impl);
    const distance_kernels *ref = &distance_scalar;
    static const size_t dims[] = {1,   2,   3,   7,   8,    9,    15,
                                  16,  17,  31,  33,  63,   64,   65,
                                  100, 127, 129, 784, 1000, 4095, 4096 - 64};
    bufs s = bufs_new();
    for (size_t j = 0; j < sizeof dims / sizeof dims[0]; j++) {
        size_t dim = dims[j];
        /* Float pointers at every offset within a 64-byte line, with a and
         * b misaligned differently; byte pointers at every byte offset. */
        for (size_t off = 0; off < 64; off++) {
            size_t fa = off % 16, fb = (off * 7 + 3) % 16;
            float *a = (float *)(void *)s.a.begin + fa;
            float *b = (float *)(void *)s.b.begin + fb;
            float *w = (float *)(void *)s.w.begin + (fa + 5) % 16;
            uint8_t *ca = s.ca.begin + off;
            uint8_t *cb = s.cb.begin + (off * 13 + 1) % 64;
            fill_f32(a, dim, F_RANDOM, 0.0f);
            fill_f32(b, dim, F_RANDOM, 0.0f);
            fill_u8_pair(ca, cb, dim, U_RANDOM);
            fill_asym(a, w, ca, dim, A_RANDOM);

            check_close("l2sq_f32 unaligned", impl, dim, "random",
                        k->l2sq_f32(a, b, dim), ref->l2sq_f32(a, b, dim),
                        sum_abs_l2(a, b, dim));
            check_close("dot_f32 unaligned", impl, dim, "random",
                        k->dot_f32(a, b, dim), ref->dot_f32(a, b, dim),
                        sum_abs_dot(a, b, dim));
            check_exact_u(impl, dim, "unaligned", k->l2sq_u8(ca, cb, dim),
                          ref->l2sq_u8(ca, cb, dim));
            check_close("l2_asym_u8 unaligned", impl, dim, "random",
                        k->l2_asym_u8(a, w, ca, dim),
                        ref->l2_asym_u8(a, w, ca, dim),
                        sum_abs_l2_asym(a, w, ca, dim));
            check_close("dot_asym_u8 unaligned", impl, dim, "random",
                        k->dot_asym_u8(a, ca, dim),
                        ref->dot_asym_u8(a, ca, dim),
                        sum_abs_dot_asym(a, ca, dim));
        }
    }
    bufs_free(&s);
}

/* ---- selection ---- */

static int cpu_has_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int cpu_has_avx512(void)
{
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
}

static const char *expected_best_name(void)
{
    return cpu_has_avx512() ? "avx512" : cpu_has_avx2() ? "avx2" : "scalar";
}

Test(select, best_is_never_null_and_is_the_best_supported)
{
    unsetenv("VECTRON_KERNELS");
    const distance_kernels *k = distance_kernels_best();
    cr_assert_not_null(k);
    cr_assert_str_eq(k->name, expected_best_name());
    cr_assert_eq(k, distance_kernels_best(), "best() must be stable");
    cr_assert_not_null(k->l2sq_f32);
    cr_assert_not_null(k->dot_f32);
    cr_assert_not_null(k->l2sq_u8);
    cr_assert_not_null(k->l2_asym_u8);
    cr_assert_not_null(k->dot_asym_u8);
}

Test(select, by_name)
{
    cr_assert_null(distance_kernels_by_name("nonexistent"));
    cr_assert_null(distance_kernels_by_name(""));
    cr_assert_null(distance_kernels_by_name("AVX2"));
    cr_assert_eq(distance_kernels_by_name("scalar"), &distance_scalar);
    const distance_kernels *k2 = distance_kernels_by_name("avx2");
    const distance_kernels *k5 = distance_kernels_by_name("avx512");
    cr_assert_eq(k2, cpu_has_avx2() ? &distance_avx2 : NULL);
    cr_assert_eq(k5, cpu_has_avx512() ? &distance_avx512 : NULL);
    cr_assert_str_eq(distance_scalar.name, "scalar");
    cr_assert_str_eq(distance_avx2.name, "avx2");
    cr_assert_str_eq(distance_avx512.name, "avx512");
}

Test(select, env_forces_scalar)
{
    setenv("VECTRON_KERNELS", "scalar", 1);
    cr_assert_eq(distance_kernels_best(), &distance_scalar);
}

Test(select, env_forces_avx2_if_supported)
{
    setenv("VECTRON_KERNELS", "avx2", 1);
    cr_assert_str_eq(distance_kernels_best()->name,
                     cpu_has_avx2() ? "avx2" : expected_best_name());
}

Test(select, env_forces_avx512_if_supported)
{
    setenv("VECTRON_KERNELS", "avx512", 1);
    cr_assert_str_eq(distance_kernels_best()->name,
                     cpu_has_avx512() ? "avx512" : expected_best_name());
}

Test(select, env_unknown_falls_back_to_best)
{
    setenv("VECTRON_KERNELS", "sse9", 1);
    cr_assert_str_eq(distance_kernels_best()->name, expected_best_name());
}

Test(select, env_empty_falls_back_to_best)
{
    setenv("VECTRON_KERNELS", "", 1);
    cr_assert_str_eq(distance_kernels_best()->name, expected_best_name());
}

/* ---- per-table tests ---- */

Test(scalar, one_hot_exact)
{
    run_one_hot("scalar");
}

Test(scalar, u8_max_dim)
{
    run_u8_max_dim("scalar");
}

Test(avx2, one_hot_exact)
{
    run_one_hot("avx2");
}

Test(avx2, f32_every_dim, .timeout = 120)
{
    run_f32_all_dims("avx2");
}

Test(avx2, u8_every_dim, .timeout = 120)
{
    run_u8_all_dims("avx2");
}

Test(avx2, asym_every_dim, .timeout = 120)
{
    run_asym_all_dims("avx2");
}

Test(avx2, u8_max_dim)
{
    run_u8_max_dim("avx2");
}

Test(avx2, unaligned)
{
    run_unaligned("avx2");
}

Test(avx512, one_hot_exact)
{
    run_one_hot("avx512");
}

Test(avx512, f32_every_dim, .timeout = 120)
{
    run_f32_all_dims("avx512");
}

Test(avx512, u8_every_dim, .timeout = 120)
{
    run_u8_all_dims("avx512");
}

Test(avx512, asym_every_dim, .timeout = 120)
{
    run_asym_all_dims("avx512");
}

Test(avx512, u8_max_dim)
{
    run_u8_max_dim("avx512");
}

Test(avx512, unaligned)
{
    run_unaligned("avx512");
}
