/*
 * bench_index.c - the index benchmark driver: builds one library's HNSW
 * index over one data set, measures build time and memory, then sweeps
 * single-thread search settings measuring recall@k and QPS, and appends
 * the results to a CSV file.
 *
 *   bench_index --lib vectron|vectron-int8|hnswlib|faiss
 *               --data fashion|glove [--data-dir DIR] [--n N]
 *               [--threads T] [--m 16] [--efc 200] [--k 10]
 *               [--efs 10,16,...] [--oversampling 1,2,4]
 *               [--stop-recall 0.995] [--no-search] [--quant-per-dim 0|1]
 *               [--gt PREFIX] --out CSV
 *
 * Data files (see scripts/bench-data.sh): DIR/<data>.base.fvecs,
 * DIR/<data>.query.fvecs and the ground truth PREFIX.{ivecs,fvecs} from
 * bench_gt (default PREFIX: DIR/<data>.gt, or DIR/<data>-n<N>.gt with
 * --n). fashion is searched under L2, glove under cosine.
 *
 * Memory is the growth of this process's RSS across create + build, so run
 * one library per process. A returned neighbour counts as correct when it
 * is one of the true k nearest or ties with the k-th (its exact distance is
 * within 1e-6 relative of the k-th true distance).
 *
 * Threading: the build uses T threads inside the library under test;
 * everything else, the search sweep included, runs on the main thread.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SWEEP 64

static const char *default_efs =
    "10,12,14,16,20,24,32,40,48,64,80,96,128,160,192,256,320,384,512,768,"
    "1024";
/* Oversampling 1 rescores exactly the k int8 candidates: the cheapest
 * setting, which reaches the 0.95-0.97 recall region on Fashion-MNIST. */
static const char *default_os = "1,2,4";

typedef struct options {
    const char *lib;
    const char *data;
    const char *data_dir;
    const char *gt;
    const char *out;
    size_t n;
    int threads;
    uint32_t m, efc, k;
    const char *efs;
    const char *os;
    double stop_recall;
    int search;
    int quant_per_dim;
    uint64_t seed;
} options;

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_index --lib vectron|vectron-int8|hnswlib|faiss\n"
            "         --data fashion|glove [--data-dir DIR] [--n N]\n"
            "         [--threads T] [--m M] [--efc EF] [--k K]\n"
            "         [--efs LIST] [--oversampling LIST]\n"
            "         [--stop-recall R] [--no-search] [--quant-per-dim 0|1]\n"
            "         [--gt PREFIX] --out CSV\n");
    exit(2);
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_index: %s: %s\n", what, msg);
    exit(1);
}

/* Parses a comma-separated list of positive numbers into out[]. */
static size_t parse_list(const char *s, double *out, size_t cap)
{
    size_t n = 0;
    while (*s != '\0' && n < cap) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno != 0 || !(v > 0)) {
            die("bad list", s);
        }
        out[n++] = v;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof(*o));
    o->data_dir = "bench/data";
    o->threads = 1;
    o->m = 16;
    o->efc = 200;
    o->k = 10;
    o->efs = default_efs;
    o->os = default_os;
    o->stop_recall = 0.995;
    o->search = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--no-search") == 0) {
            o->search = 0;
            continue;
        }
        if (i + 1 >= argc) {
            usage();
        }
        const char *v = argv[++i];
        if (strcmp(a, "--lib") == 0) {
            o->lib = v;
        } else if (strcmp(a, "--data") == 0) {
            o->data = v;
        } else if (strcmp(a, "--data-dir") == 0) {
            o->data_dir = v;
        } else if (strcmp(a, "--gt") == 0) {
            o->gt = v;
        } else if (strcmp(a, "--out") == 0) {
            o->out = v;
        } else if (strcmp(a, "--n") == 0) {
            o->n = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--threads") == 0) {
            o->threads = atoi(v);
        } else if (strcmp(a, "--m") == 0) {
            o->m = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--efc") == 0) {
            o->efc = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--k") == 0) {
            o->k = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--efs") == 0) {
            o->efs = v;
        } else if (strcmp(a, "--oversampling") == 0) {
            o->os = v;
        } else if (strcmp(a, "--stop-recall") == 0) {
            o->stop_recall = strtod(v, NULL);
        } else if (strcmp(a, "--quant-per-dim") == 0) {
            o->quant_per_dim = atoi(v);
        } else if (strcmp(a, "--seed") == 0) {
            o->seed = strtoull(v, NULL, 10);
        } else {
            usage();
        }
    }
    if (o->lib == NULL || o->data == NULL || o->out == NULL || o->threads < 1 ||
        o->m < 2 || o->efc < 1 || o->k < 1) {
        usage();
    }
}

/* L2-normalised copy (normalised in double, stored as float). */
static float *normalised_copy(const float *v, size_t n, uint32_t dim)
{
    float *out = malloc(sizeof(float) * n * dim);
    if (out == NULL) {
        die("normalise", "out of memory");
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

typedef struct dataset {
    bench_dataset d;
} dataset;

static void load_dataset(const options *o, dataset *ds)
{
    char err[BENCH_ERR_SIZE];
    if (bench_load_dataset(o->data, o->data_dir, o->n, o->gt, o->k, &ds->d, err,
                           sizeof(err)) != 0) {
        die("data set", err);
    }
}

/* Recall@k of results (one row of k ids per query) against the truth. */
static double recall_at_k(const dataset *ds, const int64_t *res, uint32_t k)
{
    return bench_recall_at_k(&ds->d, ds->d.query.n, res, k);
}

static FILE *open_csv(const char *path)
{
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        die(path, strerror(errno));
    }
    if (ftell(f) == 0) {
        fprintf(f, "kind,dataset,lib,n,dim,m,efc,threads,build_s,build_pps,"
                   "rss_mb,self_mb,theory_mb,k,ef,oversampling,recall,qps,"
                   "mean_us,cpu_util\n");
    }
    return f;
}

int main(int argc, char **argv)
{
    options o;
    parse_args(argc, argv, &o);

    const bench_lib *lib;
    int int8 = 0;
    if (strcmp(o.lib, "vectron") == 0) {
        lib = &bench_lib_vectron;
    } else if (strcmp(o.lib, "vectron-int8") == 0) {
        lib = &bench_lib_vectron;
        int8 = 1;
    } else if (strcmp(o.lib, "hnswlib") == 0) {
        lib = &bench_lib_hnswlib;
    } else if (strcmp(o.lib, "faiss") == 0) {
        lib = &bench_lib_faiss;
    } else {
        die("unknown library", o.lib);
    }

    dataset ds;
    memset(&ds, 0, sizeof(ds));
    load_dataset(&o, &ds);
    const size_t n = ds.d.base.n, nq = ds.d.query.n;
    const uint32_t dim = ds.d.base.dim;

    /* The peers index L2-normalised vectors under inner product. */
    const float *base = ds.d.base.data, *query = ds.d.query.data;
    float *nbase = NULL, *nquery = NULL;
    if (ds.d.metric == BENCH_METRIC_COSINE && lib->needs_normalised) {
        nbase = normalised_copy(base, n, dim);
        nquery = normalised_copy(query, nq, dim);
        base = nbase;
        query = nquery;
    }

    bench_build_cfg cfg = {
        .dim = dim,
        .max_n = n,
        .metric = ds.d.metric,
        .m = o.m,
        .ef_construction = o.efc,
        .int8 = int8,
        .quant_per_dim = o.quant_per_dim,
        .seed = o.seed,
    };
    char err[BENCH_ERR_SIZE];
    FILE *csv = open_csv(o.out);

    size_t rss0 = bench_rss_bytes();
    void *h = lib->create(&cfg, err, sizeof(err));
    if (h == NULL) {
        die("create", err);
    }
    double t0 = bench_now(), c0 = bench_cpu_seconds();
    if (lib->build(h, base, n, o.threads, err, sizeof(err)) != 0) {
        die("build", err);
    }
    double build_s = bench_now() - t0;
    /* CPU time over (wall time x threads): well below 1 means other
     * processes took CPU from the build (or it waited on locks). */
    double build_util = (bench_cpu_seconds() - c0) / (build_s * o.threads);
    size_t rss1 = bench_rss_bytes();
    double rss_mb = (double)(rss1 - rss0) / 1048576.0;
    double self_mb = (double)lib->memory(h) / 1048576.0;
    double theory_mb = (double)n * (dim * 4.0 + 2.0 * o.m * 4.0) / 1048576.0;
    printf("%s %s n=%zu dim=%u M=%u efc=%u threads=%d: build %.2f s "
           "(%.0f points/s), RSS +%.1f MB, self-reported %.1f MB, "
           "vectors+links %.1f MB, CPU utilisation %.2f\n",
           o.lib, o.data, n, dim, o.m, o.efc, o.threads, build_s,
           (double)n / build_s, rss_mb, self_mb, theory_mb, build_util);
    fprintf(csv,
            "build,%s,%s,%zu,%u,%u,%u,%d,%.4f,%.1f,%.2f,%.2f,%.2f,,,,,,,%.3f\n",
            o.data, o.lib, n, dim, o.m, o.efc, o.threads, build_s,
            (double)n / build_s, rss_mb, self_mb, theory_mb, build_util);
    fflush(csv);

    if (o.search) {
        double efs[MAX_SWEEP], oss[MAX_SWEEP];
        size_t n_ef = parse_list(o.efs, efs, MAX_SWEEP);
        size_t n_os = 1;
        oss[0] = 0;
        if (int8) {
            n_os = parse_list(o.os, oss, MAX_SWEEP);
        }
        int64_t *res = malloc(sizeof(int64_t) * nq * o.k);
        if (res == NULL || n_ef == 0) {
            die("search", "out of memory or empty sweep");
        }
        /* Warm up caches and lazy allocations before the first timing. */
        bench_search_cfg sc = {o.k, (uint32_t)efs[0], (float)oss[0]};
        if (lib->configure(h, &sc, err, sizeof(err)) != 0) {
            die("configure", err);
        }
        for (size_t q = 0; q < nq && q < 1000; q++) {
            lib->search(h, query + q * dim, o.k, res);
        }
        for (size_t oi = 0; oi < n_os; oi++) {
            for (size_t ei = 0; ei < n_ef; ei++) {
                sc.ef = (uint32_t)efs[ei];
                sc.oversampling = (float)oss[oi];
                if (sc.ef < o.k) {
                    continue;
                }
                if (lib->configure(h, &sc, err, sizeof(err)) != 0) {
                    die("configure", err);
                }
                for (size_t i = 0; i < nq * o.k; i++) {
                    res[i] = -1;
                }
                double s0 = bench_now(), sc0 = bench_cpu_seconds();
                for (size_t q = 0; q < nq; q++) {
                    if (lib->search(h, query + q * dim, o.k, res + q * o.k) <
                        0) {
                        die("search", "library returned an error");
                    }
                }
                double secs = bench_now() - s0;
                double util = (bench_cpu_seconds() - sc0) / secs;
                double recall = recall_at_k(&ds, res, o.k);
                double qps = (double)nq / secs;
                printf("  ef=%-4u os=%-4.2g recall@%u=%.4f  QPS=%.0f  "
                       "(%.1f us/query, CPU utilisation %.2f)\n",
                       sc.ef, sc.oversampling, o.k, recall, qps,
                       1e6 * secs / (double)nq, util);
                fprintf(csv,
                        "search,%s,%s,%zu,%u,%u,%u,%d,,,,,,%u,%u,%.2f,%.5f,"
                        "%.1f,%.2f,%.3f\n",
                        o.data, o.lib, n, dim, o.m, o.efc, o.threads, o.k,
                        sc.ef, sc.oversampling, recall, qps,
                        1e6 * secs / (double)nq, util);
                fflush(csv);
                if (o.stop_recall > 0 && recall >= o.stop_recall) {
                    break;
                }
            }
        }
        free(res);
    }

    fclose(csv);
    lib->destroy(h);
    free(nbase);
    free(nquery);
    bench_dataset_free(&ds.d);
    return 0;
}
