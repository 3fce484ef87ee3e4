/*
 * bench_rerank.c - what exact rescoring (src/rerank, strategy "exact")
 * buys on top of int8 candidates: builds an int8 HNSW index of
 * Fashion-MNIST (L2; --data glove: GloVe, cosine), then for several
 * candidate counts C searches each
 * query for C candidates with the int8 distances only (no built-in
 * rescoring) and measures recall@10 of
 *   - int8 only: the first 10 of those candidates, in int8 order;
 *   - int8 + exact: the C candidates rescored with their float32 vectors
 *     by rerank_exact, first 10;
 * with the time per query of the search and of the rescoring (the best of
 * --repeat passes over the queries, default 3, as other processes on the
 * machine add noise). Writes a table on stdout and, with --out, a CSV
 * (scripts/bench.sh, docs/bench.md). --index FILE keeps the built index
 * there and loads it on the next run (it must match the data and
 * parameters: the file is only checked for integrity).
 *
 * Threading: the index is built with --threads threads; queries run one
 * after the other on the main thread (latencies are single-thread).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "rerank/rerank.h"
#include "vectron/index.h"

typedef struct build_job {
    vectron_index *idx;
    const float *base;
    uint32_t dim;
    size_t n;
    atomic_size_t next;
    atomic_int failed;
} build_job;

static void *build_worker(void *arg)
{
    build_job *job = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->n || atomic_load(&job->failed))
            break;
        if (vectron_index_add(job->idx, (uint64_t)i, job->base + i * job->dim,
                              NULL) != 0) {
            atomic_store(&job->failed, 1);
            break;
        }
    }
    return NULL;
}

static int parse_list(const char *s, uint32_t *out, int max)
{
    int n = 0;
    while (*s && n < max) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v == 0 || v > VECTRON_MAX_K)
            return -1;
        out[n++] = (uint32_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_rerank [--data fashion|glove] [--data-dir DIR]\n"
            "                    [--n N] [--gt PREFIX]\n"
            "                    [--queries Q] [--m M] [--efc EFC]\n"
            "                    [--ef EF] [--cands C1,C2,..]\n"
            "                    [--threads T] [--repeat R]\n"
            "                    [--index FILE] [--out CSV]\n");
}

int main(int argc, char **argv)
{
    const char *data = "fashion", *data_dir = "bench/data", *gt = NULL,
               *out_path = NULL, *index_path = NULL;
    int repeat = 3;
    size_t n = 0, nq = 1000;
    uint32_t m = 16, efc = 200, ef = 64, cands[16] = {10, 20, 40, 80, 160};
    int ncands = 5, threads = 2;
    char err[BENCH_ERR_SIZE];

    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        const char *a = argv[i], *v = argv[++i];
        if (strcmp(a, "--data-dir") == 0)
            data_dir = v;
        else if (strcmp(a, "--data") == 0)
            data = v;
        else if (strcmp(a, "--n") == 0)
            n = strtoul(v, NULL, 10);
        else if (strcmp(a, "--gt") == 0)
            gt = v;
        else if (strcmp(a, "--queries") == 0)
            nq = strtoul(v, NULL, 10);
        else if (strcmp(a, "--m") == 0)
            m = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--efc") == 0)
            efc = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--ef") == 0)
            ef = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(a, "--out") == 0)
            out_path = v;
        else if (strcmp(a, "--index") == 0)
            index_path = v;
        else if (strcmp(a, "--repeat") == 0)
            repeat = atoi(v);
        else if (strcmp(a, "--cands") == 0) {
            if ((ncands = parse_list(v, cands, 16)) <= 0) {
                usage();
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || nq == 0 || repeat < 1) {
        usage();
        return 2;
    }

    bench_dataset ds;
    if (bench_load_dataset(data, data_dir, n, gt, 10, &ds, err, sizeof err) !=
        0) {
        fprintf(stderr, "bench_rerank: %s\n", err);
        bench_dataset_free(&ds);
        return 1;
    }
    if (nq > ds.query.n)
        nq = ds.query.n;
    uint32_t dim = ds.base.dim;
    const float *base = ds.base.data, *queries = ds.query.data;

    vectron_index_params p;
    vectron_index_params_default(&p, dim);
    vectron_metric metric = ds.metric == BENCH_METRIC_L2
                                ? VECTRON_METRIC_L2
                                : VECTRON_METRIC_COSINE;
    p.metric = metric;
    p.m = m;
    p.ef_construction = efc;
    p.quant = VECTRON_QUANT_INT8;
    vectron_index *idx = NULL;
    vectron_error e;
    if (index_path && vectron_index_load(index_path, &idx, &e) == 0) {
        fprintf(stderr, "bench_rerank: loaded the index from %s\n", index_path);
    } else {
        if (vectron_index_new(&p, &idx, &e) != 0) {
            fprintf(stderr, "bench_rerank: %s\n", e.msg);
            return 1;
        }
        build_job job = {.idx = idx, .base = base, .dim = dim, .n = ds.base.n};
        atomic_init(&job.next, 0);
        atomic_init(&job.failed, 0);
        pthread_t tids[64];
        double t0 = bench_now();
        int started = 0;
        for (int t = 1; t < threads; t++)
            if (pthread_create(&tids[t], NULL, build_worker, &job) == 0)
                started++;
        build_worker(&job);
        for (int t = 1; t <= started; t++)
            pthread_join(tids[t], NULL);
        if (atomic_load(&job.failed)) {
            fprintf(stderr, "bench_rerank: index build failed\n");
            return 1;
        }
        fprintf(stderr,
                "bench_rerank: built int8 HNSW (m %u, ef_construction %u) "
                "of %s, %zu x %u, in %.1f s with %d threads\n",
                m, efc, data, ds.base.n, dim, bench_now() - t0, started + 1);
        if (index_path && vectron_index_save(idx, index_path, &e) != 0)
            fprintf(stderr, "bench_rerank: save %s: %s\n", index_path, e.msg);
    }

    FILE *csv = out_path ? fopen(out_path, "w") : NULL;
    if (out_path && !csv) {
        fprintf(stderr, "bench_rerank: cannot write %s\n", out_path);
        return 1;
    }
    if (csv)
        fprintf(csv, "data,candidates,ef,queries,recall_int8,recall_exact,"
                     "search_us,rerank_us\n");
    printf("%s %zu x %u, %s, int8 HNSW m=%u efc=%u, %zu queries, "
           "recall@10\n\n",
           data, ds.base.n, dim, metric == VECTRON_METRIC_L2 ? "L2" : "cosine",
           m, efc, nq);
    printf("| candidates | ef | recall int8 only | recall int8 + exact | "
           "gain | search us/query | exact rescoring us/query |\n"
           "|---:|---:|---:|---:|---:|---:|---:|\n");

    int64_t *res_int8 = malloc(nq * 10 * sizeof(int64_t));
    int64_t *res_exact = malloc(nq * 10 * sizeof(int64_t));
    vectron_hit *hits = malloc(VECTRON_MAX_K * sizeof(*hits));
    rerank_cand *rc = malloc(VECTRON_MAX_K * sizeof(*rc));
    if (!res_int8 || !res_exact || !hits || !rc) {
        fprintf(stderr, "bench_rerank: out of memory\n");
        return 1;
    }
    for (int ci = 0; ci < ncands; ci++) {
        uint32_t c = cands[ci];
        vectron_search_params sp;
        vectron_search_params_default(&sp, c);
        sp.ef = c > ef ? c : ef;
        sp.rescore = 0;
        double best_search = 0, best_rerank = 0;
        for (int pass = 0; pass < repeat; pass++) {
            double t_search = 0, t_rerank = 0;
            for (size_t q = 0; q < nq; q++) {
                const float *qv = queries + q * dim;
                size_t got = 0;
                double a = bench_now();
                if (vectron_index_search(idx, qv, &sp, hits, &got, &e) != 0) {
                    fprintf(stderr, "bench_rerank: search: %s\n", e.msg);
                    return 1;
                }
                double b = bench_now();
                for (size_t i = 0; i < got; i++) {
                    memset(&rc[i].id, 0, sizeof rc[i].id);
                    rc[i].id.num = hits[i].id;
                    rc[i].score = hits[i].distance;
                    rc[i].vector = base + hits[i].id * dim;
                    rc[i].payload = NULL;
                }
                if (rerank_exact(qv, dim, metric, rc, got, NULL) != 0) {
                    fprintf(stderr, "bench_rerank: rerank failed\n");
                    return 1;
                }
                double d = bench_now();
                t_search += b - a;
                t_rerank += d - b;
                for (size_t i = 0; i < 10; i++) {
                    res_int8[q * 10 + i] = i < got ? (int64_t)hits[i].id : -1;
                    res_exact[q * 10 + i] =
                        i < got ? (int64_t)rc[i].id.num : -1;
                }
            }
            if (pass == 0 || t_search < best_search)
                best_search = t_search;
            if (pass == 0 || t_rerank < best_rerank)
                best_rerank = t_rerank;
        }
        double r8 = bench_recall_at_k(&ds, nq, res_int8, 10);
        double rx = bench_recall_at_k(&ds, nq, res_exact, 10);
        double us_s = best_search / (double)nq * 1e6;
        double us_r = best_rerank / (double)nq * 1e6;
        printf("| %u | %u | %.4f | %.4f | %+.4f | %.0f | %.0f |\n", c, sp.ef,
               r8, rx, rx - r8, us_s, us_r);
        fflush(stdout);
        if (csv)
            fprintf(csv, "%s,%u,%u,%zu,%.5f,%.5f,%.1f,%.1f\n", data, c, sp.ef,
                    nq, r8, rx, us_s, us_r);
    }
    if (csv)
        fclose(csv);
    free(res_int8);
    free(res_exact);
    free(hits);
    free(rc);
    vectron_index_free(idx);
    bench_dataset_free(&ds);
    return 0;
}
