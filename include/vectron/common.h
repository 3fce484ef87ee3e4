/*
 * vectron/common.h - process-wide hooks of the Vectron library: the log
 * callback and the allocator.
 *
 * Threading: install hooks before any other thread calls into Vectron; the
 * setters themselves are not synchronised with running calls.
 */
#ifndef VECTRON_COMMON_PUBLIC_H
#define VECTRON_COMMON_PUBLIC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vectron_log_level {
    VECTRON_LOG_DEBUG = 0,
    VECTRON_LOG_INFO = 1,
    VECTRON_LOG_WARN = 2,
    VECTRON_LOG_ERROR = 3
};

/* Receives one complete log record. module and msg are borrowed for the
 * call only. Called from whichever thread logs; must be thread-safe. */
typedef void (*vectron_log_fn)(int level, const char *module, const char *msg,
                               void *arg);

/* Installs the log callback (NULL: logging off, the default) and the least
 * level passed to it. */
void vectron_log_set(vectron_log_fn fn, void *arg, int min_level);

/* A log callback that writes "time level module msg" lines to stderr. */
void vectron_log_stderr(int level, const char *module, const char *msg,
                        void *arg);

/* Allocation hooks: every allocation Vectron makes goes through these.
 * Passing NULL for all three restores the C library's. A hook returning
 * NULL makes the calling operation fail with VECTRON_NOMEM. */
typedef struct vectron_alloc_hooks {
    void *(*malloc_fn)(size_t n, void *arg);
    void *(*realloc_fn)(void *p, size_t n, void *arg);
    void (*free_fn)(void *p, void *arg);
    void *arg;
} vectron_alloc_hooks;

void vectron_alloc_set_hooks(const vectron_alloc_hooks *hooks);

#ifdef __cplusplus
}
#endif

#endif
