/*
 * common.h - internal helpers shared by every module: error reporting with
 * context, logging through a caller-installed callback, allocation through
 * replaceable hooks (so tests can inject failures), CRC32C, and a
 * deterministic PRNG.
 *
 * Internal prefix: vx_. Public counterparts live in include/vectron/.
 *
 * Threading: everything here is thread-safe. The log callback and the
 * allocation hooks are process-wide and must be installed before other
 * threads start using Vectron.
 */
#ifndef VECTRON_COMMON_H
#define VECTRON_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "vectron/common.h"
#include "vectron/error.h"

/* Sets err (if not NULL) to code with a printf-style message and returns
 * code, so that `return vx_err(err, VECTRON_INVALID, "k = %u", k);` works. */
int vx_err(vectron_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes err's message with context ("load: " + old message) and returns
 * err->code (or code when err is NULL). Use as errors travel up. */
int vx_err_wrap(vectron_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logging. Libraries never print; they call this, which forwards to the
 * installed callback (default: none). */
void vx_log(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Allocation through the hooks. All return NULL on failure. */
void *vx_malloc(size_t n);
void *vx_calloc(size_t count, size_t size);
void *vx_realloc(void *p, size_t n);
void *vx_aligned_alloc(size_t alignment, size_t n); /* free with vx_free */
void vx_free(void *p);
/* A large block (free with vx_free) that the kernel may back with huge
 * pages. */
void *vx_huge_alloc(size_t n);

/* CRC32C (Castagnoli), incremental: start with crc = 0. */
uint32_t vx_crc32c(uint32_t crc, const void *buf, size_t len);

/* Advances ts by ms milliseconds (for condition-variable deadlines). */
static inline void vx_timespec_add_ms(struct timespec *ts, unsigned ms)
{
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* splitmix64: a deterministic 64-bit mixer / PRNG step. */
static inline uint64_t vx_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Little-endian load/store (the project is little-endian on disk). */
static inline void vx_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t vx_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline void vx_put_u64(uint8_t *p, uint64_t v)
{
    vx_put_u32(p, (uint32_t)v);
    vx_put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t vx_get_u64(const uint8_t *p)
{
    return (uint64_t)vx_get_u32(p) | (uint64_t)vx_get_u32(p + 4) << 32;
}

#endif
