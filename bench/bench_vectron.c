/*
 * bench_vectron.c - the Vectron index (include/vectron/index.h) behind the
 * benchmark's bench_lib interface, float32 or int8 with rescoring.
 *
 * Vectron gets the raw vectors and its own metric (VECTRON_METRIC_COSINE
 * normalises on add), unlike the peers, which get normalised vectors.
 *
 * Threading: build() starts `threads` pthreads (the calling thread is one
 * of them) that take point indexes from an atomic counter and call
 * vectron_index_add, which the API allows concurrently; the first error
 * wins under a mutex. configure() and search() run on one thread.
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectron/index.h"

typedef struct vx_handle {
    vectron_index *idx;
    uint32_t dim;
    vectron_search_params sp;
    vectron_hit *hits;
    uint32_t hits_cap;
} vx_handle;

static void *vx_create(const bench_build_cfg *cfg, char *err, size_t errlen)
{
    vx_handle *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        snprintf(err, errlen, "vectron: out of memory");
        return NULL;
    }
    vectron_index_params p;
    vectron_index_params_default(&p, cfg->dim);
    p.metric = cfg->metric == BENCH_METRIC_L2 ? VECTRON_METRIC_L2
                                              : VECTRON_METRIC_COSINE;
    p.m = cfg->m;
    p.ef_construction = cfg->ef_construction;
    p.seed = cfg->seed;
    if (cfg->int8) {
        p.quant = VECTRON_QUANT_INT8;
        p.quant_per_dim = cfg->quant_per_dim;
    }
    vectron_error e;
    if (vectron_index_new(&p, &h->idx, &e) != 0) {
        snprintf(err, errlen, "vectron: new: %s", e.msg);
        free(h);
        return NULL;
    }
    h->dim = cfg->dim;
    vectron_search_params_default(&h->sp, 10);
    return h;
}

typedef struct build_job {
    vx_handle *h;
    const float *base;
    size_t n;
    atomic_size_t next;
    atomic_int failed;
    pthread_mutex_t mu;
    char msg[BENCH_ERR_SIZE + 64];
} build_job;

static void *build_worker(void *arg)
{
    build_job *job = arg;
    vectron_error e;
    for (;;) {
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->n || atomic_load(&job->failed)) {
            break;
        }
        if (vectron_index_add(job->h->idx, (uint64_t)i,
                              job->base + i * job->h->dim, &e) != 0) {
            pthread_mutex_lock(&job->mu);
            if (!atomic_load(&job->failed)) {
                snprintf(job->msg, sizeof(job->msg), "add %zu: %s", i, e.msg);
                atomic_store(&job->failed, 1);
            }
            pthread_mutex_unlock(&job->mu);
            break;
        }
    }
    return NULL;
}

static int vx_build(void *hv, const float *base, size_t n, int threads,
                    char *err, size_t errlen)
{
    build_job job;
    memset(&job, 0, sizeof(job));
    job.h = hv;
    job.base = base;
    job.n = n;
    atomic_init(&job.next, 0);
    atomic_init(&job.failed, 0);
    pthread_mutex_init(&job.mu, NULL);
    pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
    int started = 0, rc = 0;
    if (tids == NULL) {
        snprintf(err, errlen, "vectron: out of memory");
        rc = -1;
        goto out;
    }
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tids[t], NULL, build_worker, &job) != 0) {
            break;
        }
        started++;
    }
    build_worker(&job);
    for (int t = 1; t <= started; t++) {
        pthread_join(tids[t], NULL);
    }
    if (started != threads - 1) {
        snprintf(err, errlen, "vectron: could not start %d threads", threads);
        rc = -1;
    } else if (atomic_load(&job.failed)) {
        snprintf(err, errlen, "vectron: %s", job.msg);
        rc = -1;
    }
out:
    free(tids);
    pthread_mutex_destroy(&job.mu);
    return rc;
}

static int vx_configure(void *hv, const bench_search_cfg *sc, char *err,
                        size_t errlen)
{
    vx_handle *h = hv;
    vectron_search_params_default(&h->sp, sc->k);
    h->sp.ef = sc->ef;
    h->sp.rescore = 1;
    h->sp.oversampling = sc->oversampling;
    if (h->hits_cap < sc->k) {
        vectron_hit *hits = realloc(h->hits, sizeof(*hits) * sc->k);
        if (hits == NULL) {
            snprintf(err, errlen, "vectron: out of memory");
            return -1;
        }
        h->hits = hits;
        h->hits_cap = sc->k;
    }
    return 0;
}

static int vx_search(void *hv, const float *query, uint32_t k, int64_t *ids)
{
    vx_handle *h = hv;
    size_t n = 0;
    h->sp.k = k;
    if (k > h->hits_cap ||
        vectron_index_search(h->idx, query, &h->sp, h->hits, &n, NULL) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = (int64_t)h->hits[i].id;
    }
    return (int)n;
}

static size_t vx_memory(void *hv)
{
    return vectron_index_memory(((vx_handle *)hv)->idx);
}

static void vx_destroy(void *hv)
{
    vx_handle *h = hv;
    if (h != NULL) {
        vectron_index_free(h->idx);
        free(h->hits);
        free(h);
    }
}

const bench_lib bench_lib_vectron = {
    "vectron",    0,         vx_create, vx_build,
    vx_configure, vx_search, vx_memory, vx_destroy,
};
