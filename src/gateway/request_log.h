/*
 * request_log.h - the gateway's request log and slow-query log: one JSON
 * object per line per answered request (docs/request-log.md), written by
 * the HTTP server's completion hook (http_config.on_complete).
 *
 * Which requests are written: every error (status >= 400) and every slow
 * request (at least slow_ms), plus a sample of the rest (each with
 * probability `sample`). Slow requests are also reported in the server
 * log at warn level, whether the request log is on or not (the slow-query
 * log of earlier versions).
 *
 * Cost on the request threads: formatting the line and a memcpy into a
 * shared buffer under a mutex; a writer thread does the write() calls.
 * When the buffer is full (the disk cannot keep up), lines are dropped
 * and counted rather than making requests wait.
 *
 * Threading: gw_reqlog_hook may be called from any number of threads at
 * once. gw_reqlog_open and gw_reqlog_close must not race with each other
 * or with the hook.
 *
 * Prefix: gw_reqlog_.
 */
#ifndef VECTRON_GW_REQUEST_LOG_H
#define VECTRON_GW_REQUEST_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/http.h"

typedef struct gw_reqlog gw_reqlog;

typedef struct gw_reqlog_options {
    /* NULL or "" or "off": no request log (the slow-query warnings
     * remain); "stderr"; else a file path, opened for appending (created
     * 0640). Read during gw_reqlog_open only. */
    const char *target;
    double sample;       /* 0..1: fraction of ordinary requests written */
    uint64_t slow_ms;    /* requests at least this slow; 0: none is slow */
    size_t buffer_bytes; /* lines waiting for the writer; 0: 1 MiB */
    unsigned flush_ms;   /* the writer's longest wait; 0: 200 */
} gw_reqlog_options;

/* Opens the target and starts the writer thread (when there is a target).
 * Errors: IO (the file), INVALID (sample outside 0..1), NOMEM, INTERNAL
 * (thread). */
int gw_reqlog_open(const gw_reqlog_options *o, gw_reqlog **out,
                   vectron_error *err);

/* Writes what is buffered, stops the writer and closes the file. NULL is
 * a no-op. */
void gw_reqlog_close(gw_reqlog *l);

/* The completion hook: arg is the gw_reqlog. */
void gw_reqlog_hook(void *arg, const http_log_record *rec);

/* Formats rec as one JSON line (with the trailing newline) into buf;
 * returns its length (at most size - 1; fields that do not fit are
 * truncated, keeping the JSON valid). slow marks the "slow" member. */
size_t gw_reqlog_format(const http_log_record *rec, int slow, char *buf,
                        size_t size);

typedef struct gw_reqlog_stats {
    uint64_t lines;   /* written to the buffer */
    uint64_t dropped; /* lost because the buffer was full */
    uint64_t slow;    /* slow requests seen */
} gw_reqlog_stats;

void gw_reqlog_get_stats(gw_reqlog *l, gw_reqlog_stats *out);

#endif
