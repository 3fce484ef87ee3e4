/*
 * distance.c - chooses the distance kernels: detects once which SIMD
 * tables the CPU can run and honours VECTRON_KERNELS=scalar|avx2|avx512.
 *
 * __builtin_cpu_supports also checks that the OS saves the wide registers
 * (XGETBV), so a feature reported here is usable. An unknown or unsupported
 * VECTRON_KERNELS value is ignored: the best supported table is used.
 *
 * Threading: detection runs once under pthread_once; afterwards the state
 * is read-only and both functions are safe from any thread.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "index/distance.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool have_avx2;
static bool have_avx512;
static const distance_kernels *best;

/* The table called name if this CPU supports it, else NULL. Needs
 * detect() to have run. */
static const distance_kernels *lookup(const char *name)
{
    if (strcmp(name, "scalar") == 0) {
        return &distance_scalar;
    }
    if (strcmp(name, "avx2") == 0) {
        return have_avx2 ? &distance_avx2 : NULL;
    }
    if (strcmp(name, "avx512") == 0) {
        return have_avx512 ? &distance_avx512 : NULL;
    }
    return NULL;
}

static void detect(void)
{
    /* Needed if we run before libgcc's constructor has filled the CPU
     * model (e.g. from another constructor); harmless otherwise. */
    __builtin_cpu_init();
    have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    have_avx512 = have_avx2 && __builtin_cpu_supports("avx512f") &&
                  __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") &&
                  __builtin_cpu_supports("avx512dq");

    best = have_avx512 ? &distance_avx512
           : have_avx2 ? &distance_avx2
                       : &distance_scalar;
    const char *forced = getenv("VECTRON_KERNELS");
    if (forced != NULL) {
        const distance_kernels *k = lookup(forced);
        if (k != NULL) {
            best = k;
        }
    }
}

const distance_kernels *distance_kernels_best(void)
{
    pthread_once(&once, detect);
    return best;
}

const distance_kernels *distance_kernels_by_name(const char *name)
{
    pthread_once(&once, detect);
    if (name == NULL) {
        return NULL;
    }
    return lookup(name);
}
