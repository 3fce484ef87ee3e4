/*
 * stress_result_cache.c - a ThreadSanitizer driver for the gateway's result
 * cache and request log (Criterion cannot run under TSan here): 4 threads
 * mix lookups, inserts (evicting and expiring all the time) and request
 * log lines, bounded in iterations; a wrong value prints BAD and exits 1.
 * Run with scripts/tsan-cache.sh.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/common.h"
#include "gateway/result_cache.h"
#include "gateway/request_log.h"
static gw_cache *c;
static gw_reqlog *l;
static const http_route route = {"POST", "/collections/{c}/x", NULL, "q"};
static void *run(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    char key[32], val[700];
    const char *params[] = {"col"};
    for (int it = 0; it < 200000; it++) {
        seed = seed * 1103515245u + 12345u;
        unsigned i = (seed >> 8) % 512;
        int kl = snprintf(key, sizeof key, "k%u", i);
        size_t vl = 1 + i % 600;
        memset(val, (int)('a' + i % 26), vl);
        if (seed % 3 == 0)
            gw_cache_put(c, key, (size_t)kl, val, vl);
        else {
            char *v;
            size_t n;
            if (gw_cache_get(c, key, (size_t)kl, &v, &n)) {
                if (n != vl || v[0] != val[0]) {
                    fprintf(stderr, "BAD\n");
                    exit(1);
                }
                vx_free(v);
            }
        }
        if (it % 16 == 0) {
            http_log_record r = {.unix_time = 1e9,
                                 .seconds = 0.001,
                                 .method = "POST",
                                 .path = "/p",
                                 .route = &route,
                                 .params = params,
                                 .nparams = 1,
                                 .status = 200,
                                 .client = "x",
                                 .extra = ""};
            gw_reqlog_hook(l, &r);
        }
    }
    return NULL;
}
int main(void)
{
    gw_cache_options o = {.max_bytes = 96 * 1024, .ttl_ms = 5};
    gw_reqlog_options lo = {.target = "/dev/null", .sample = 0.5, .slow_ms = 0};
    if (gw_cache_new(&o, &c, NULL) || gw_reqlog_open(&lo, &l, NULL))
        return 1;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, run, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    gw_cache_stats st;
    gw_cache_get_stats(c, &st);
    gw_reqlog_stats ls;
    gw_reqlog_get_stats(l, &ls);
    printf("hits %llu misses %llu evictions %llu expired %llu bytes %llu lines "
           "%llu dropped %llu\n",
           (unsigned long long)st.hits, (unsigned long long)st.misses,
           (unsigned long long)st.evictions, (unsigned long long)st.expired,
           (unsigned long long)st.bytes, (unsigned long long)ls.lines,
           (unsigned long long)ls.dropped);
    gw_reqlog_close(l);
    gw_cache_free(c);
    return 0;
}
