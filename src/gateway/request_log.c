/*
 * request_log.c - the request log (request_log.h): line formatting,
 * sampling, the shared buffer and its writer thread.
 *
 * Threading: request threads format a line on their own stack, then take
 * `mu` only to copy it into `buf` (or count it dropped). The writer thread
 * swaps `buf` with its spare buffer under `mu` and writes the spare
 * without the lock, so a slow disk never holds the request threads. The
 * counters are atomics; the sampler's state is thread-local.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "gateway/request_log.h"

#define DEFAULT_BUFFER ((size_t)1 << 20)
#define DEFAULT_FLUSH_MS 200u
#define LINE_MAX_BYTES 4096u

struct gw_reqlog {
    gw_reqlog_options o;
    int fd; /* -1: no request log */
    int own_fd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf, *spare; /* o.buffer_bytes each */
    size_t len;
    int stop;
    int running;
    pthread_t writer;
    uint64_t sample_below; /* a draw below this is sampled */
    atomic_uint_fast64_t lines, dropped, slow;
};

/* ---- formatting -------------------------------------------------------- */

typedef struct lbuf {
    char *p;
    size_t len, size; /* size - 1 usable: room for the NUL */
    int full;         /* a member did not fit: later ones are left out */
} lbuf;

/* Appends what fits (for building one member in a scratch buffer). */
static void put(lbuf *o, const char *s, size_t n)
{
    if (o->len + n >= o->size)
        n = o->size - 1 - o->len;
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* A JSON string of s (at most max bytes of it; NULL: null). Bytes >= 0x80
 * are written as \u00XX (each byte as one code point) so that the line is
 * valid UTF-8 JSON whatever the client sent. Stops early rather than cut
 * an escape, keeping room for the closing quote. */
static void put_str(lbuf *o, const char *s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    if (!s) {
        put(o, "null", 4);
        return;
    }
    put(o, "\"", 1);
    for (size_t i = 0; s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        size_t n;
        if (c == '"' || c == '\\') {
            e[0] = '\\';
            e[1] = (char)c;
            n = 2;
        } else if (c < 0x20 || c >= 0x7f) {
            memcpy(e, "\\u00", 4);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            n = 6;
        } else {
            e[0] = (char)c;
            n = 1;
        }
        if (o->len + n + 2 >= o->size)
            break;
        put(o, e, n);
    }
    put(o, "\"", 1);
}

/* Appends a whole member (or any text that must stay whole) to the
 * record, keeping room for the closing "}\n"; once one does not fit, the
 * record is closed without it and the later ones. */
static void unit(lbuf *o, const char *s, size_t n)
{
    if (o->full || o->len + n + 3 > o->size) {
        o->full = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* ,"name":"value" with value escaped (NULL: null). */
static void member_str(lbuf *o, const char *name, const char *v, size_t max)
{
    char tmp[LINE_MAX_BYTES];
    lbuf t = {.p = tmp, .size = sizeof tmp};
    put(&t, ",\"", 2);
    put(&t, name, strlen(name));
    put(&t, "\":", 2);
    put_str(&t, v, max);
    unit(o, tmp, t.len);
}

static void member_fmt(lbuf *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void member_fmt(lbuf *o, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof tmp)
        unit(o, tmp, (size_t)n);
}

/* The collection a route names: its first capture when the pattern starts
 * with "/collections/{". */
static const char *collection_of(const http_log_record *r)
{
    if (!r->route || r->nparams == 0 ||
        strncmp(r->route->pattern, "/collections/{", 14) != 0)
        return NULL;
    return r->params[0];
}

size_t gw_reqlog_format(const http_log_record *r, int slow, char *buf,
                        size_t size)
{
    lbuf o = {.p = buf, .len = 0, .size = size};
    time_t secs = (time_t)r->unix_time;
    struct tm tm;
    char ts[64];
    gmtime_r(&secs, &tm);
    int ms = (int)((r->unix_time - (double)secs) * 1000.0);
    if (ms < 0 || ms > 999)
        ms = 0;
    int tl = snprintf(ts, sizeof ts,
                      "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                      tm.tm_min, tm.tm_sec, ms);
    if (size < 4)
        return 0;
    unit(&o, ts, (size_t)tl);
    if (o.full) { /* a tiny buffer: an empty object */
        o.full = 0;
        unit(&o, "{", 1);
        o.full = 1;
    }
    member_str(&o, "key_id", r->key_id, 64);
    member_str(&o, "client", r->client ? r->client : "unknown", 64);
    member_str(&o, "method", r->method, 16);
    member_str(&o, "route", r->route ? r->route->name : "none", 64);
    member_str(&o, "path", r->path, 512);
    member_str(&o, "collection", collection_of(r), 300);
    member_fmt(&o, ",\"status\":%d", r->status);
    member_fmt(&o, ",\"latency_ms\":%.3f", r->seconds * 1e3);
    member_fmt(&o, ",\"request_bytes\":%llu",
               (unsigned long long)r->request_bytes);
    member_fmt(&o, ",\"response_bytes\":%llu",
               (unsigned long long)r->response_bytes);
    member_fmt(&o, ",\"shards\":%u", r->shards);
    member_fmt(&o, ",\"slow\":%s", slow ? "true" : "false");
    /* The handler's members: whole or not at all. */
    if (r->extra && r->extra[0]) {
        unit(&o, ",", 1);
        if (!o.full)
            unit(&o, r->extra, strlen(r->extra));
        if (o.full && o.p[o.len - 1] == ',')
            o.len--;
    }
    memcpy(o.p + o.len, "}\n", 2);
    o.len += 2;
    buf[o.len] = '\0';
    return o.len;
}

/* ---- writer ------------------------------------------------------------ */

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a full disk loses lines; requests go on */
        p += w;
        n -= (size_t)w;
    }
}

static void *writer_main(void *arg)
{
    gw_reqlog *l = arg;
    pthread_setname_np(pthread_self(), "vx-reqlog");
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (l->len == 0 && !l->stop) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            vx_timespec_add_ms(&dl, l->o.flush_ms);
            pthread_cond_timedwait(&l->cv, &l->mu, &dl);
        }
        if (l->len == 0 && l->stop)
            break;
        if (l->len == 0)
            continue;
        char *full = l->buf;
        size_t n = l->len;
        l->buf = l->spare;
        l->spare = full;
        l->len = 0;
        pthread_mutex_unlock(&l->mu);
        write_all(l->fd, full, n);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int gw_reqlog_open(const gw_reqlog_options *o, gw_reqlog **out,
                   vectron_error *err)
{
    *out = NULL;
    if (!(o->sample >= 0 && o->sample <= 1))
        return vx_err(err, VECTRON_INVALID,
                      "request log: sample must lie in 0..1");
    gw_reqlog *l = vx_calloc(1, sizeof *l);
    if (!l)
        return vx_err(err, VECTRON_NOMEM, "request log: out of memory");
    l->o = *o;
    l->o.target = NULL;
    if (!l->o.buffer_bytes)
        l->o.buffer_bytes = DEFAULT_BUFFER;
    if (l->o.buffer_bytes < 2 * LINE_MAX_BYTES)
        l->o.buffer_bytes = 2 * LINE_MAX_BYTES;
    if (!l->o.flush_ms)
        l->o.flush_ms = DEFAULT_FLUSH_MS;
    l->sample_below = o->sample >= 1
                          ? UINT64_MAX
                          : (uint64_t)(o->sample * 18446744073709551615.0);
    l->fd = -1;
    atomic_init(&l->lines, 0);
    atomic_init(&l->dropped, 0);
    atomic_init(&l->slow, 0);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    const char *t = o->target;
    if (!t || !t[0] || strcmp(t, "off") == 0) {
        *out = l;
        return 0;
    }
    int rc = 0;
    if (strcmp(t, "stderr") == 0) {
        l->fd = STDERR_FILENO;
    } else {
        l->fd = open(t, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (l->fd < 0) {
            rc = vx_err(err, VECTRON_IO, "request log: open %s: %s", t,
                        strerror(errno));
            goto fail;
        }
        l->own_fd = 1;
    }
    l->buf = vx_malloc(l->o.buffer_bytes);
    l->spare = vx_malloc(l->o.buffer_bytes);
    if (!l->buf || !l->spare) {
        rc = vx_err(err, VECTRON_NOMEM, "request log: out of memory");
        goto fail;
    }
    if (pthread_create(&l->writer, NULL, writer_main, l) != 0) {
        rc = vx_err(err, VECTRON_INTERNAL,
                    "request log: cannot start the writer thread");
        goto fail;
    }
    l->running = 1;
    *out = l;
    return 0;
fail:
    gw_reqlog_close(l);
    return rc;
}

void gw_reqlog_close(gw_reqlog *l)
{
    if (!l)
        return;
    if (l->running) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->writer, NULL);
    }
    if (l->own_fd)
        close(l->fd);
    vx_free(l->buf);
    vx_free(l->spare);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    vx_free(l);
}

/* ---- the hook ---------------------------------------------------------- */

static uint64_t draw(void)
{
    static _Thread_local uint64_t s;
    if (!s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&s ^
            (uint64_t)ts.tv_sec;
        s |= 1;
    }
    /* xorshift64* */
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1DULL;
}

void gw_reqlog_hook(void *arg, const http_log_record *r)
{
    gw_reqlog *l = arg;
    int slow = l->o.slow_ms && r->seconds * 1e3 >= (double)l->o.slow_ms;
    char line[LINE_MAX_BYTES];
    size_t n = 0;

    if (slow) {
        const char *col = collection_of(r);
        atomic_fetch_add_explicit(&l->slow, 1, memory_order_relaxed);
        vx_log(VECTRON_LOG_WARN, "slow-query",
               "route=%s collection=%s status=%d ms=%.1f shards=%u %s",
               r->route ? r->route->name : "none", col ? col : "-", r->status,
               r->seconds * 1e3, r->shards, r->extra ? r->extra : "");
    }
    if (l->fd < 0)
        return;
    if (!slow && r->status < 400 && draw() > l->sample_below)
        return;
    if (l->sample_below == 0 && !slow && r->status < 400)
        return;
    n = gw_reqlog_format(r, slow, line, sizeof line);
    pthread_mutex_lock(&l->mu);
    if (l->len + n > l->o.buffer_bytes) {
        pthread_mutex_unlock(&l->mu);
        atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
        return;
    }
    memcpy(l->buf + l->len, line, n);
    l->len += n;
    if (l->len >= l->o.buffer_bytes / 2)
        pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    atomic_fetch_add_explicit(&l->lines, 1, memory_order_relaxed);
}

void gw_reqlog_get_stats(gw_reqlog *l, gw_reqlog_stats *out)
{
    out->lines = atomic_load(&l->lines);
    out->dropped = atomic_load(&l->dropped);
    out->slow = atomic_load(&l->slow);
}
