/*
 * log.c - logging through a process-wide callback. A record is formatted
 * into a stack buffer and handed to the callback in one call.
 *
 * Threading: vx_log may be called from any thread; the callback must be
 * thread-safe. vectron_log_set is meant to be called once at start-up.
 */
#include <stdio.h>
#include <time.h>

#include "common/common.h"

static vectron_log_fn log_fn;
static void *log_arg;
static int log_min_level = VECTRON_LOG_INFO;

void vectron_log_set(vectron_log_fn fn, void *arg, int min_level)
{
    log_fn = fn;
    log_arg = arg;
    log_min_level = min_level;
}

void vx_log(int level, const char *module, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!log_fn || level < log_min_level) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(level, module, msg, log_arg);
}

void vectron_log_stderr(int level, const char *module, const char *msg,
                        void *arg)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    struct timespec ts;
    struct tm tm;
    char when[32];

    (void)arg;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ level=%s module=%s %s\n", when,
            ts.tv_nsec / 1000000L,
            level >= 0 && level <= 3 ? names[level] : "?", module, msg);
}
