/*
 * bench.h - shared pieces of the index benchmark (bench_index, bench_gt):
 * fvecs/ivecs files, clocks, RSS, exact distances, and the small C
 * interface every benchmarked library implements (Vectron in C, hnswlib
 * and faiss in C++ behind extern "C").
 *
 * Threading: the helpers are reentrant. A bench_lib handle is used by one
 * thread at a time, except inside its own build function, which starts and
 * joins its own worker threads.
 */
#ifndef VECTRON_BENCH_H
#define VECTRON_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_ERR_SIZE 256

/* A row-major matrix read from an fvecs or ivecs file; data is malloc'd
 * and owned by the matrix (free with bench_matrix_free). */
typedef struct bench_matrix {
    void *data; /* float * for fvecs, int32_t * for ivecs */
    size_t n;
    uint32_t dim;
} bench_matrix;

/* Reads at most max_n rows (0 = all) of an fvecs/ivecs file (both are:
 * per row an int32 dimension, then dim 4-byte values). Returns 0, or -1
 * with a message in err. */
int bench_read_vecs(const char *path, size_t max_n, bench_matrix *out,
                    char *err, size_t errlen);
/* Writes n rows of dim 4-byte values as an fvecs/ivecs file, through
 * path.tmp and a rename. Returns 0 or -1 with a message in err. */
int bench_write_vecs(const char *path, const void *data, size_t n, uint32_t dim,
                     char *err, size_t errlen);
void bench_matrix_free(bench_matrix *m);

/* Monotonic wall clock in seconds. */
double bench_now(void);
/* CPU time (user + system) this process has used, in seconds. */
double bench_cpu_seconds(void);
/* Resident set size of this process in bytes (VmRSS), or 0 if unknown. */
size_t bench_rss_bytes(void);

typedef enum bench_metric {
    BENCH_METRIC_L2 = 0,    /* squared Euclidean */
    BENCH_METRIC_COSINE = 1 /* 1 - cos(a, b) */
} bench_metric;

/* A data set prepared by scripts/bench-data.sh: base and query vectors and
 * the exact top neighbours (ids and distances) from bench_gt. */
typedef struct bench_dataset {
    bench_metric metric; /* fashion: L2, glove: cosine */
    bench_matrix base, query, gt_ids, gt_dist;
} bench_dataset;

/* Loads data set name ("fashion" or "glove") from data_dir: the first n
 * base vectors (0: all), every query, and the ground truth at gt_prefix
 * (NULL: data_dir/name[-n<n>].gt), checking that its shape fits and, on
 * 50 queries, that its first k neighbours have the stored distances (a
 * stale cache fails). Returns 0, or -1 with a message in err. Free with
 * bench_dataset_free (also after a failure). */
int bench_load_dataset(const char *name, const char *data_dir, size_t n,
                       const char *gt_prefix, uint32_t k, bench_dataset *ds,
                       char *err, size_t errlen);
void bench_dataset_free(bench_dataset *ds);

/* Recall@k of res (nq rows of k ids, -1 = none) against the first nq
 * queries' ground truth: a returned id counts when it is one of the true k
 * or ties with the k-th (within 1e-6 relative); duplicates count once. */
double bench_recall_at_k(const bench_dataset *ds, size_t nq, const int64_t *res,
                         uint32_t k);

/* Exact distance in double precision, the one definition used both for
 * the ground truth and for judging returned neighbours. */
double bench_exact_distance(bench_metric metric, const float *a, const float *b,
                            uint32_t dim);

/* What a library is built with. */
typedef struct bench_build_cfg {
    uint32_t dim;
    size_t max_n;
    bench_metric metric; /* peers get L2-normalised vectors under cosine and
                            search them with inner product */
    uint32_t m;
    uint32_t ef_construction;
    int int8;          /* Vectron only: int8 codes + rescoring */
    int quant_per_dim; /* Vectron int8: one range per dimension */
    uint64_t seed;
} bench_build_cfg;

/* One search setting of the sweep. */
typedef struct bench_search_cfg {
    uint32_t k;
    uint32_t ef;
    float oversampling; /* Vectron int8 only; 0 elsewhere */
} bench_search_cfg;

/* A benchmarked library. Functions returning int return 0 or -1 with a
 * message in err. create returns NULL on failure. */
typedef struct bench_lib {
    const char *name;
    int needs_normalised; /* 1: give it L2-normalised vectors under cosine */
    void *(*create)(const bench_build_cfg *cfg, char *err, size_t errlen);
    /* Adds base[0..n) with ids 0..n-1 from `threads` threads. */
    int (*build)(void *h, const float *base, size_t n, int threads, char *err,
                 size_t errlen);
    /* Applies a search setting for the following single-thread searches. */
    int (*configure)(void *h, const bench_search_cfg *sc, char *err,
                     size_t errlen);
    /* One query; writes up to k ids (closest first) and returns how many,
     * or -1 on error. */
    int (*search)(void *h, const float *query, uint32_t k, int64_t *ids);
    /* Bytes the library says it holds (its own accounting), 0 if unknown. */
    size_t (*memory)(void *h);
    void (*destroy)(void *h);
} bench_lib;

extern const bench_lib bench_lib_vectron;
extern const bench_lib bench_lib_hnswlib;
extern const bench_lib bench_lib_faiss;

#ifdef __cplusplus
}
#endif

#endif
