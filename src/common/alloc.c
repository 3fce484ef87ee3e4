/*
 * alloc.c - allocation through replaceable hooks, so that tests can make
 * the n-th allocation fail and check that nothing leaks or half-applies.
 *
 * vx_aligned_alloc uses posix_memalign when no hooks are installed, so its
 * blocks are released by the same vx_free as every other block.
 *
 * Threading: allocation functions are thread-safe if the hooks are.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>

#include "common/common.h"

static vectron_alloc_hooks hooks;

void vectron_alloc_set_hooks(const vectron_alloc_hooks *h)
{
    if (h && h->malloc_fn && h->realloc_fn && h->free_fn) {
        hooks = *h;
    } else {
        memset(&hooks, 0, sizeof hooks);
    }
}

void *vx_malloc(size_t n)
{
    if (n == 0) {
        n = 1;
    }
    return hooks.malloc_fn ? hooks.malloc_fn(n, hooks.arg) : malloc(n);
}

void *vx_calloc(size_t count, size_t size)
{
    void *p;

    if (size != 0 && count > SIZE_MAX / size) {
        return NULL;
    }
    p = vx_malloc(count * size);
    if (p) {
        memset(p, 0, count * size);
    }
    return p;
}

void *vx_realloc(void *p, size_t n)
{
    if (n == 0) {
        n = 1;
    }
    return hooks.realloc_fn ? hooks.realloc_fn(p, n, hooks.arg) : realloc(p, n);
}

void vx_free(void *p)
{
    if (!p) {
        return;
    }
    if (hooks.free_fn) {
        hooks.free_fn(p, hooks.arg);
    } else {
        free(p);
    }
}

void *vx_aligned_alloc(size_t alignment, size_t n)
{
    /* Only the C library's allocator can give aligned blocks that free()
     * accepts; with hooks installed, alignment is best effort (the hooks
     * exist for failure injection in tests). */
    void *p = NULL;

    if (hooks.malloc_fn) {
        return hooks.malloc_fn(n ? n : 1, hooks.arg);
    }
    if (posix_memalign(&p, alignment, n ? n : 1) != 0) {
        return NULL;
    }
    return p;
}

void *vx_huge_alloc(size_t n)
{
    /* 2 MiB alignment lets the kernel back the block with transparent huge
     * pages (in "madvise" mode it needs the hint): far fewer TLB misses on
     * the random vector reads of a graph search. */
    const size_t huge = (size_t)2 << 20;
    void *p = vx_aligned_alloc(huge, n);
    if (p && !hooks.malloc_fn && ((uintptr_t)p % huge) == 0 && n >= huge) {
        (void)madvise(p, n, MADV_HUGEPAGE);
    }
    return p;
}
