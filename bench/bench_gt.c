/*
 * bench_gt.c - exact k-nearest-neighbour ground truth for the index
 * benchmark, by brute force.
 *
 *   bench_gt --base B.fvecs --query Q.fvecs [--n N] --metric l2|cosine
 *            [--k 100] [--threads T] --out PREFIX
 *
 * writes PREFIX.ivecs (ids, closest first) and PREFIX.fvecs (distances as
 * bench_exact_distance defines them). A float pass keeps the best k + 28
 * candidates per query; they are then re-ranked in double precision with
 * bench_exact_distance (ties broken by id), so the result is exact unless
 * float rounding moved more than 28 points across the k-th distance.
 *
 * Threading: T worker threads (default: online CPUs) take blocks of
 * queries from an atomic counter; each block's heaps and output rows
 * belong to the one thread that took it. Inputs are read-only.
 */
#include "bench.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QUERY_BLOCK 32
#define EXTRA_CANDIDATES 28

typedef struct cand {
    float d;
    int32_t id;
} cand;

typedef struct gt_job {
    const float *base;  /* raw */
    const float *query; /* raw */
    const float *fbase; /* float pass input (normalised under cosine) */
    const float *fquery;
    size_t n, nq;
    uint32_t dim, k, kc;
    size_t base_block;
    bench_metric metric;
    int32_t *out_ids;
    float *out_dist;
    atomic_size_t next;
} gt_job;

static float l2_float(const float *a, const float *b, uint32_t dim)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (uint32_t i = 0; i < dim; i++) {
        float t = a[i] - b[i];
        s += t * t;
    }
    return s;
}

static float neg_dot_float(const float *a, const float *b, uint32_t dim)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (uint32_t i = 0; i < dim; i++) {
        s += a[i] * b[i];
    }
    return -s;
}

/* Max-heap on d: heap[0] is the worst kept candidate. */
static void heap_replace_top(cand *h, uint32_t size, cand c)
{
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        float md = c.d;
        if (l < size && h[l].d > md) {
            m = l;
            md = h[l].d;
        }
        if (r < size && h[r].d > md) {
            m = r;
        }
        if (m == i) {
            break;
        }
        h[i] = h[m];
        i = m;
    }
    h[i] = c;
}

typedef struct exact_cand {
    double d;
    int32_t id;
} exact_cand;

static int cmp_exact(const void *pa, const void *pb)
{
    const exact_cand *a = pa, *b = pb;
    if (a->d != b->d) {
        return a->d < b->d ? -1 : 1;
    }
    return (a->id > b->id) - (a->id < b->id);
}

static void *gt_worker(void *arg)
{
    gt_job *job = arg;
    const uint32_t dim = job->dim, kc = job->kc;
    cand *heaps = malloc(sizeof(cand) * kc * QUERY_BLOCK);
    exact_cand *ex = malloc(sizeof(exact_cand) * kc);
    if (heaps == NULL || ex == NULL) {
        fprintf(stderr, "bench_gt: out of memory\n");
        exit(1);
    }
    for (;;) {
        size_t q0 = atomic_fetch_add(&job->next, QUERY_BLOCK);
        if (q0 >= job->nq) {
            break;
        }
        size_t nb = job->nq - q0 < QUERY_BLOCK ? job->nq - q0 : QUERY_BLOCK;
        for (size_t i = 0; i < nb * kc; i++) {
            heaps[i].d = INFINITY;
            heaps[i].id = -1;
        }
        for (size_t b0 = 0; b0 < job->n; b0 += job->base_block) {
            size_t b1 = b0 + job->base_block;
            if (b1 > job->n) {
                b1 = job->n;
            }
            for (size_t qi = 0; qi < nb; qi++) {
                const float *q = job->fquery + (q0 + qi) * dim;
                cand *h = heaps + qi * kc;
                for (size_t b = b0; b < b1; b++) {
                    const float *v = job->fbase + b * dim;
                    float d = job->metric == BENCH_METRIC_L2
                                  ? l2_float(q, v, dim)
                                  : neg_dot_float(q, v, dim);
                    if (d < h[0].d) {
                        cand c = {d, (int32_t)b};
                        heap_replace_top(h, kc, c);
                    }
                }
            }
        }
        for (size_t qi = 0; qi < nb; qi++) {
            size_t q = q0 + qi;
            cand *h = heaps + qi * kc;
            uint32_t m = 0;
            for (uint32_t j = 0; j < kc; j++) {
                if (h[j].id < 0) {
                    continue;
                }
                ex[m].id = h[j].id;
                ex[m].d = bench_exact_distance(
                    job->metric, job->query + q * dim,
                    job->base + (size_t)h[j].id * dim, dim);
                m++;
            }
            qsort(ex, m, sizeof(*ex), cmp_exact);
            for (uint32_t j = 0; j < job->k; j++) {
                job->out_ids[q * job->k + j] = j < m ? ex[j].id : -1;
                job->out_dist[q * job->k + j] =
                    j < m ? (float)ex[j].d : INFINITY;
            }
        }
    }
    free(ex);
    free(heaps);
    return NULL;
}

static float *normalised_copy(const float *v, size_t n, uint32_t dim)
{
    float *out = malloc(sizeof(float) * n * dim);
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (uint32_t j = 0; j < dim; j++) {
            s += (double)v[i * dim + j] * v[i * dim + j];
        }
        double inv = s > 0 ? 1.0 / sqrt(s) : 0.0;
        for (uint32_t j = 0; j < dim; j++) {
            out[i * dim + j] = (float)(v[i * dim + j] * inv);
        }
    }
    return out;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_gt --base B.fvecs --query Q.fvecs [--n N] "
                    "--metric l2|cosine [--k 100] [--threads T] "
                    "--out PREFIX\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *base_path = NULL, *query_path = NULL, *out = NULL;
    const char *metric_name = NULL;
    size_t max_n = 0;
    uint32_t k = 100;
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            usage();
        }
        const char *v = argv[++i];
        if (strcmp(a, "--base") == 0) {
            base_path = v;
        } else if (strcmp(a, "--query") == 0) {
            query_path = v;
        } else if (strcmp(a, "--n") == 0) {
            max_n = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--metric") == 0) {
            metric_name = v;
        } else if (strcmp(a, "--k") == 0) {
            k = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--threads") == 0) {
            threads = strtol(v, NULL, 10);
        } else if (strcmp(a, "--out") == 0) {
            out = v;
        } else {
            usage();
        }
    }
    if (base_path == NULL || query_path == NULL || out == NULL ||
        metric_name == NULL || k == 0 || threads < 1) {
        usage();
    }
    bench_metric metric;
    if (strcmp(metric_name, "l2") == 0) {
        metric = BENCH_METRIC_L2;
    } else if (strcmp(metric_name, "cosine") == 0) {
        metric = BENCH_METRIC_COSINE;
    } else {
        usage();
    }

    char err[BENCH_ERR_SIZE];
    bench_matrix base, query;
    if (bench_read_vecs(base_path, max_n, &base, err, sizeof(err)) != 0 ||
        bench_read_vecs(query_path, 0, &query, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_gt: %s\n", err);
        return 1;
    }
    if (base.dim != query.dim || base.n < k) {
        fprintf(stderr, "bench_gt: dimension mismatch or fewer than k "
                        "points\n");
        return 1;
    }

    gt_job job;
    memset(&job, 0, sizeof(job));
    job.base = base.data;
    job.query = query.data;
    job.n = base.n;
    job.nq = query.n;
    job.dim = base.dim;
    job.k = k;
    job.kc = k + EXTRA_CANDIDATES;
    job.metric = metric;
    /* About 256 KiB of base vectors per block, to stay in L2. */
    job.base_block = (256 * 1024) / (4 * (size_t)base.dim);
    if (job.base_block < 16) {
        job.base_block = 16;
    }
    float *nbase = NULL, *nquery = NULL;
    if (metric == BENCH_METRIC_COSINE) {
        nbase = normalised_copy(base.data, base.n, base.dim);
        nquery = normalised_copy(query.data, query.n, query.dim);
        if (nbase == NULL || nquery == NULL) {
            fprintf(stderr, "bench_gt: out of memory\n");
            return 1;
        }
        job.fbase = nbase;
        job.fquery = nquery;
    } else {
        job.fbase = base.data;
        job.fquery = query.data;
    }
    job.out_ids = malloc(sizeof(int32_t) * query.n * k);
    job.out_dist = malloc(sizeof(float) * query.n * k);
    pthread_t *tids = malloc(sizeof(pthread_t) * (size_t)threads);
    if (job.out_ids == NULL || job.out_dist == NULL || tids == NULL) {
        fprintf(stderr, "bench_gt: out of memory\n");
        return 1;
    }
    atomic_init(&job.next, 0);

    double t0 = bench_now();
    for (long t = 0; t < threads; t++) {
        if (pthread_create(&tids[t], NULL, gt_worker, &job) != 0) {
            fprintf(stderr, "bench_gt: pthread_create failed\n");
            return 1;
        }
    }
    for (long t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
    }
    double secs = bench_now() - t0;

    char path[4096];
    snprintf(path, sizeof(path), "%s.ivecs", out);
    if (bench_write_vecs(path, job.out_ids, query.n, k, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "bench_gt: %s\n", err);
        return 1;
    }
    snprintf(path, sizeof(path), "%s.fvecs", out);
    if (bench_write_vecs(path, job.out_dist, query.n, k, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "bench_gt: %s\n", err);
        return 1;
    }
    printf("bench_gt: %zu queries x %zu points (dim %u, %s), top %u in "
           "%.1f s with %ld threads -> %s.{ivecs,fvecs}\n",
           query.n, base.n, base.dim, metric_name, k, secs, threads, out);
    free(tids);
    free(job.out_ids);
    free(job.out_dist);
    free(nbase);
    free(nquery);
    bench_matrix_free(&base);
    bench_matrix_free(&query);
    return 0;
}
