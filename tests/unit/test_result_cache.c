/*
 * test_result_cache.c - unit tests of the gateway's search result cache
 * (LRU order within a part, the byte cap, the per-entry cap, the time to
 * live on an injected clock, concurrent use that must never return another
 * key's value) and of the request log (the JSON line for hostile strings,
 * sampling, errors and slow requests always written, the file writer).
 * The stress test is bounded in iterations and time; run it under the
 * ASan build too (make test does).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "gateway/request_log.h"
#include "gateway/result_cache.h"

static vectron_error err;

static size_t part_of_key(const char *k)
{
    return (size_t)(gw_cache_hash(k, strlen(k)) >> 60 & (GW_CACHE_SHARDS - 1));
}

/* n keys of the same length that land in part `part`. */
static void keys_in_part(size_t part, char keys[][16], size_t n)
{
    size_t got = 0;
    for (unsigned i = 0; got < n && i < 1000000; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%06u", i);
        if (part_of_key(k) == part) {
            memcpy(keys[got++], k, sizeof k);
        }
    }
    cr_assert_eq(got, n);
}

static int has(gw_cache *c, const char *k, const char *want)
{
    char *v;
    size_t n;
    if (!gw_cache_get(c, k, strlen(k), &v, &n)) {
        cr_assert_null(v);
        return 0;
    }
    cr_assert_eq(n, strlen(want));
    cr_assert_str_eq(v, want);
    vx_free(v);
    return 1;
}

static void put(gw_cache *c, const char *k, const char *v)
{
    cr_assert_eq(gw_cache_put(c, k, strlen(k), v, strlen(v)), 1);
}

Test(result_cache, get_put_replace)
{
    gw_cache_options o = {.max_bytes = 1 << 20};
    gw_cache *c;
    gw_cache_stats st;
    cr_assert_eq(gw_cache_new(&o, &c, &err), 0);
    cr_assert_eq(has(c, "a", ""), 0);
    put(c, "a", "one");
    put(c, "b", "two");
    cr_assert(has(c, "a", "one"));
    cr_assert(has(c, "b", "two"));
    put(c, "a", "uno"); /* replaces */
    cr_assert(has(c, "a", "uno"));
    /* Keys are bytes: a prefix is another key. */
    cr_assert_eq(has(c, "", ""), 0);
    cr_assert_eq(gw_cache_put(c, "ab", 1, "x", 1), 1);
    cr_assert(has(c, "a", "x"));
    gw_cache_get_stats(c, &st);
    cr_assert_eq(st.entries, 2);
    cr_assert_eq(st.hits, 4);
    cr_assert_eq(st.misses, 2);
    cr_assert_eq(st.bytes, 2 * GW_CACHE_ENTRY_OVERHEAD + 2 + 4);
    gw_cache_free(c);
    gw_cache_free(NULL);
    o.max_bytes = 0;
    cr_assert_eq(gw_cache_new(&o, &c, &err), VECTRON_INVALID);
}

Test(result_cache, lru_eviction_order)
{
    char k[5][16];
    keys_in_part(3, k, 5);
    /* Each key is 9 bytes and each value 1: room for exactly 3 entries per
     * part. */
    size_t cost = GW_CACHE_ENTRY_OVERHEAD + 9 + 1;
    gw_cache_options o = {.max_bytes = GW_CACHE_SHARDS * 3 * cost};
    gw_cache *c;
    gw_cache_stats st;
    cr_assert_eq(gw_cache_new(&o, &c, &err), 0);
    put(c, k[0], "A");
    put(c, k[1], "B");
    put(c, k[2], "C");
    cr_assert(has(c, k[0], "A")); /* A is now the most recent */
    put(c, k[3], "D");            /* evicts B, the least recent */
    cr_assert_eq(has(c, k[1], "B"), 0);
    cr_assert(has(c, k[0], "A"));
    cr_assert(has(c, k[2], "C"));
    cr_assert(has(c, k[3], "D"));
    /* Order now (old to new): A C D after the gets above; a put of a new
     * key evicts A. */
    put(c, k[4], "E");
    cr_assert_eq(has(c, k[0], "A"), 0);
    cr_assert(has(c, k[2], "C"));
    gw_cache_get_stats(c, &st);
    cr_assert_eq(st.evictions, 2);
    cr_assert_eq(st.entries, 3);
    cr_assert_eq(st.bytes, 3 * cost);
    gw_cache_free(c);
}

Test(result_cache, byte_cap_holds_and_large_values_are_refused)
{
    gw_cache_options o = {.max_bytes = 64 * 1024};
    gw_cache *c;
    gw_cache_stats st;
    char val[2048];
    cr_assert_eq(gw_cache_new(&o, &c, &err), 0);
    memset(val, 'v', sizeof val);
    uint64_t seed = 42;
    for (int i = 0; i < 5000; i++) {
        char k[32];
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        snprintf(k, sizeof k, "k%d", i);
        size_t vl = (size_t)(seed >> 33) % 1000;
        gw_cache_put(c, k, strlen(k), val, vl);
        gw_cache_get_stats(c, &st);
        cr_assert_leq(st.bytes, o.max_bytes);
    }
    cr_assert_gt(st.evictions, 0);
    cr_assert_gt(st.entries, 10);
    /* The per-entry cap is half of a part: max_bytes / 32. */
    size_t limit = o.max_bytes / 32 - GW_CACHE_ENTRY_OVERHEAD - 3;
    cr_assert_eq(gw_cache_put(c, "big", 3, val, limit), 1);
    cr_assert_eq(gw_cache_put(c, "big", 3, val, limit + 1), 0);
    gw_cache_get_stats(c, &st);
    cr_assert_eq(st.too_large, 1);
    gw_cache_free(c);
}

static uint64_t fake_now;
static uint64_t fake_clock(void *arg)
{
    (void)arg;
    return fake_now;
}

Test(result_cache, ttl)
{
    gw_cache_options o = {
        .max_bytes = 1 << 20, .ttl_ms = 100, .now_ms = fake_clock};
    gw_cache *c;
    gw_cache_stats st;
    fake_now = 1000;
    cr_assert_eq(gw_cache_new(&o, &c, &err), 0);
    put(c, "a", "1");
    fake_now = 1050;
    put(c, "b", "2");
    fake_now = 1099;
    cr_assert(has(c, "a", "1"));
    fake_now = 1100; /* a is 100 ms old: expired; b is 50 */
    cr_assert_eq(has(c, "a", "1"), 0);
    cr_assert(has(c, "b", "2"));
    put(c, "a", "3"); /* stored again, fresh */
    fake_now = 1150;
    cr_assert(has(c, "a", "3"));
    cr_assert_eq(has(c, "b", "2"), 0);
    gw_cache_get_stats(c, &st);
    cr_assert_eq(st.expired, 2);
    cr_assert_eq(st.entries, 1);
    gw_cache_free(c);
}

/* ---- concurrency ------------------------------------------------------- */

#define STRESS_KEYS 512
#define STRESS_THREADS 4

typedef struct stress {
    gw_cache *c;
    unsigned seed;
    double deadline;
    uint64_t gets, bad;
} stress;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The value of key i: its own text repeated to a length that depends on
 * i, so a value returned for the wrong key is detected. */
static size_t value_of(unsigned i, char *out)
{
    size_t n = 1 + (i * 37u) % 700u;
    int kl;
    char k[16];
    kl = snprintf(k, sizeof k, "<%u>", i);
    for (size_t j = 0; j < n; j++) {
        out[j] = k[j % (size_t)kl];
    }
    return n;
}

static void *stress_main(void *arg)
{
    stress *s = arg;
    char want[800], key[32];
    for (unsigned it = 0; it < 200000 && mono() < s->deadline; it++) {
        s->seed = s->seed * 1103515245u + 12345u;
        unsigned i = (s->seed >> 8) % STRESS_KEYS;
        int kl = snprintf(key, sizeof key, "stress-key-%u", i);
        size_t wl = value_of(i, want);
        if ((s->seed >> 4) % 3 == 0) {
            gw_cache_put(s->c, key, (size_t)kl, want, wl);
        } else {
            char *v;
            size_t n;
            s->gets++;
            if (gw_cache_get(s->c, key, (size_t)kl, &v, &n)) {
                if (n != wl || memcmp(v, want, wl) != 0 || v[n] != '\0') {
                    s->bad++;
                }
                vx_free(v);
            }
        }
    }
    return NULL;
}

Test(result_cache, concurrent_stress, .timeout = 60)
{
    /* Small enough that evictions happen all the time. */
    gw_cache_options o = {.max_bytes = 96 * 1024, .ttl_ms = 5};
    gw_cache *c;
    gw_cache_stats st;
    stress s[STRESS_THREADS];
    pthread_t t[STRESS_THREADS];
    cr_assert_eq(gw_cache_new(&o, &c, &err), 0);
    double deadline = mono() + 1.5;
    for (int i = 0; i < STRESS_THREADS; i++) {
        s[i] = (stress){.c = c, .seed = (unsigned)i + 1, .deadline = deadline};
        cr_assert_eq(pthread_create(&t[i], NULL, stress_main, &s[i]), 0);
    }
    uint64_t gets = 0;
    for (int i = 0; i < STRESS_THREADS; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(s[i].bad, 0, "thread %d got a wrong value", i);
        gets += s[i].gets;
    }
    gw_cache_get_stats(c, &st);
    cr_assert_eq(st.hits + st.misses, gets);
    cr_assert_leq(st.bytes, o.max_bytes);
    cr_assert_gt(st.hits, 0);
    cr_assert_gt(st.evictions + st.expired, 0);
    gw_cache_free(c);
}

/* ---- request log ------------------------------------------------------- */

static const http_route route = {"POST", "/collections/{collection_name}/x",
                                 NULL, "points_query", HTTP_ACCESS_PUBLIC,
                                 NULL};

static http_log_record record(int status, double seconds)
{
    static const char *params[] = {"my\"coll"};
    http_log_record r = {.unix_time = 1764118800.25,
                         .seconds = seconds,
                         .method = "POST",
                         .path = "/collections/my%22coll/x",
                         .route = &route,
                         .params = params,
                         .nparams = 1,
                         .status = status,
                         .request_bytes = 12,
                         .response_bytes = 34,
                         .key_id = NULL,
                         .client = "127.0.0.1:5",
                         .shards = 3,
                         .extra = "\"cache\":\"hit\""};
    return r;
}

Test(request_log, format_is_one_json_object)
{
    char line[4096];
    http_log_record r = record(200, 0.0125);
    size_t n = gw_reqlog_format(&r, 0, line, sizeof line);
    cr_assert_eq(n, strlen(line));
    cr_assert_eq(line[n - 1], '\n');
    cr_assert_eq(strchr(line, '\n'), line + n - 1);
    json_error_t je;
    json_t *j = json_loads(line, 0, &je);
    cr_assert_not_null(j, "%s: %s", je.text, line);
    cr_assert_str_eq(json_string_value(json_object_get(j, "time")),
                     "2025-11-26T01:00:00.250Z");
    cr_assert(json_is_null(json_object_get(j, "key_id")));
    cr_assert_str_eq(json_string_value(json_object_get(j, "collection")),
                     "my\"coll");
    cr_assert_str_eq(json_string_value(json_object_get(j, "route")),
                     "points_query");
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "shards")), 3);
    cr_assert_eq(json_integer_value(json_object_get(j, "request_bytes")), 12);
    cr_assert_eq(json_integer_value(json_object_get(j, "response_bytes")), 34);
    cr_assert_float_eq(json_number_value(json_object_get(j, "latency_ms")),
                       12.5, 1e-9);
    cr_assert(json_is_false(json_object_get(j, "slow")));
    cr_assert_str_eq(json_string_value(json_object_get(j, "cache")), "hit");
    json_decref(j);

    /* Hostile bytes, a key id, an over-long path, no route. */
    char path[3000];
    memset(path, '\x01', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    path[5] = '\xff';
    r.path = path;
    r.key_id = "key-\"7\"";
    r.route = NULL;
    r.extra = "";
    n = gw_reqlog_format(&r, 1, line, sizeof line);
    j = json_loads(line, 0, &je);
    cr_assert_not_null(j, "%s: %s", je.text, line);
    cr_assert_str_eq(json_string_value(json_object_get(j, "key_id")),
                     "key-\"7\"");
    cr_assert(json_is_null(json_object_get(j, "collection")));
    cr_assert_str_eq(json_string_value(json_object_get(j, "route")), "none");
    cr_assert(json_is_true(json_object_get(j, "slow")));
    json_decref(j);

    /* A buffer too small for the whole record still yields valid JSON. */
    r.path = "/p";
    char small[200];
    n = gw_reqlog_format(&r, 0, small, sizeof small);
    cr_assert_lt(n, sizeof small);
    j = json_loads(small, 0, &je);
    cr_assert_not_null(j, "%s: %s", je.text, small);
    json_decref(j);
}

static size_t count_lines(const char *path, int *bad)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    size_t n = 0;
    *bad = 0;
    cr_assert_not_null(f);
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) {
            (*bad)++;
        }
        json_decref(j);
        n++;
    }
    fclose(f);
    return n;
}

Test(request_log, sampling_errors_and_slow_always_written)
{
    char dir[] = "/tmp/vx-reqlog-XXXXXX", path[64];
    int bad;
    gw_reqlog *l;
    gw_reqlog_stats st;
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/req.log", dir);

    /* sample 0: only errors and slow requests. */
    gw_reqlog_options o = {.target = path, .sample = 0, .slow_ms = 100};
    cr_assert_eq(gw_reqlog_open(&o, &l, &err), 0, "%s", err.msg);
    for (int i = 0; i < 300; i++) {
        http_log_record r =
            record(i % 3 == 0 ? 404 : 200, i % 10 == 1 ? 0.2 : 0.001);
        gw_reqlog_hook(l, &r);
    }
    gw_reqlog_get_stats(l, &st);
    gw_reqlog_close(l);
    /* 100 errors (i % 3 == 0) + the slow ones among the rest: i % 10 == 1
     * and i % 3 != 0 (20 of 30). */
    cr_assert_eq(st.lines, 120);
    cr_assert_eq(st.slow, 30);
    cr_assert_eq(count_lines(path, &bad), 120);
    cr_assert_eq(bad, 0);

    /* sample 1: everything, appended. */
    o.sample = 1;
    cr_assert_eq(gw_reqlog_open(&o, &l, &err), 0);
    for (int i = 0; i < 1000; i++) {
        http_log_record r = record(200, 0.001);
        gw_reqlog_hook(l, &r);
    }
    gw_reqlog_close(l);
    cr_assert_eq(count_lines(path, &bad), 1120);
    cr_assert_eq(bad, 0);

    /* sample 0.5: roughly half (bounds far outside chance). */
    unlink(path);
    o.sample = 0.5;
    cr_assert_eq(gw_reqlog_open(&o, &l, &err), 0);
    for (int i = 0; i < 4000; i++) {
        http_log_record r = record(200, 0.001);
        gw_reqlog_hook(l, &r);
    }
    gw_reqlog_close(l);
    size_t got = count_lines(path, &bad);
    cr_assert(got > 1600 && got < 2400, "%zu of 4000 sampled at 0.5", got);
    unlink(path);
    rmdir(dir);

    o.sample = 1.5;
    cr_assert_eq(gw_reqlog_open(&o, &l, &err), VECTRON_INVALID);
    o.sample = 1;
    o.target = "/nonexistent-dir/x/req.log";
    cr_assert_eq(gw_reqlog_open(&o, &l, &err), VECTRON_IO);
    o.target = "off";
    cr_assert_eq(gw_reqlog_open(&o, &l, &err), 0);
    http_log_record r = record(500, 1);
    gw_reqlog_hook(l, &r);
    gw_reqlog_get_stats(l, &st);
    cr_assert_eq(st.lines, 0);
    cr_assert_eq(st.slow, 1);
    gw_reqlog_close(l);
}
