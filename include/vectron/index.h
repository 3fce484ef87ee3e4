/*
 * vectron/index.h - the Vectron index engine: an HNSW graph for approximate
 * nearest-neighbour search over float32 vectors, usable on its own as an
 * embedded C library (no I/O except save/load, no threads of its own).
 *
 * Model. An index holds points: a caller-chosen 64-bit id and a float32
 * vector of the index's dimension. Adding an id that exists replaces its
 * vector (delete + insert). Distances are "lower is closer":
 *   VECTRON_METRIC_L2      squared Euclidean distance
 *   VECTRON_METRIC_COSINE  1 - cos(a, b)   (vectors are normalised on add)
 *   VECTRON_METRIC_DOT     -(a . b)
 *
 * Threading. Every function taking a const vectron_index * may run
 * concurrently with any other call on the same index, including adds and
 * removes, from any number of threads (fine-grained locks inside; see
 * docs/index.md). vectron_index_free must not race with anything.
 *
 * Errors. Functions returning int return 0 or a vectron_error_code and fill
 * *err (when not NULL). A failed call changes nothing.
 */
#ifndef VECTRON_INDEX_H
#define VECTRON_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "vectron/common.h"
#include "vectron/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vectron_metric {
    VECTRON_METRIC_L2 = 0,
    VECTRON_METRIC_COSINE = 1,
    VECTRON_METRIC_DOT = 2
} vectron_metric;

typedef enum vectron_quant {
    VECTRON_QUANT_NONE = 0,
    VECTRON_QUANT_INT8 = 1 /* int8 scalar codes for traversal + rescoring */
} vectron_quant;

/* Limits enforced on input. */
#define VECTRON_MAX_DIM 65536u
#define VECTRON_MAX_M 128u
#define VECTRON_MAX_EF 100000u
#define VECTRON_MAX_K 100000u

typedef struct vectron_index_params {
    uint32_t dim; /* 1..VECTRON_MAX_DIM */
    vectron_metric metric;
    uint32_t m;                /* max links per node on upper layers (2m on
                                  layer 0); 2..VECTRON_MAX_M, default 16 */
    uint32_t ef_construction;  /* candidate list size while building;
                                  >= m, default 200 */
    vectron_quant quant;       /* default VECTRON_QUANT_NONE */
    int quant_per_dim;         /* int8 ranges: 1 per dimension, 0 one range
                                  for all dimensions (default 0) */
    uint32_t quant_train_size; /* points seen before int8 ranges are fixed
                                  (default 1000) */
    uint64_t seed;             /* mixed into per-id level draws (default 0) */
} vectron_index_params;

/* Fills *p with defaults for the given dimension. */
void vectron_index_params_default(vectron_index_params *p, uint32_t dim);

typedef struct vectron_index vectron_index;

/* Creates an empty index. On success *out owns a new index; free it with
 * vectron_index_free. */
int vectron_index_new(const vectron_index_params *params, vectron_index **out,
                      vectron_error *err);

/* Frees the index and everything it owns. NULL is a no-op. */
void vectron_index_free(vectron_index *idx);

/* Inserts (or replaces) point id with vector vec (dim floats, borrowed for
 * the call). Errors: INVALID for NaN/Inf components or a zero vector under
 * cosine, NOMEM. */
int vectron_index_add(vectron_index *idx, uint64_t id, const float *vec,
                      vectron_error *err);

/* Removes point id; the graph around it is repaired. NOT_FOUND if absent. */
int vectron_index_remove(vectron_index *idx, uint64_t id, vectron_error *err);

/* Makes every live point reachable again from the entry point on the
 * bottom layer. Relinking after inserts, updates and removes keeps each
 * node's last incoming link, but a few nodes can still end up linking
 * only to each other (an island no search enters); this pass finds them
 * with one breadth-first walk (O(points)) and links each to its nearest
 * reachable node. Runs concurrently with searches and writes (nodes
 * written meanwhile are caught by the next pass); with no writer running,
 * every live point is reachable when it returns. *attached (may be NULL)
 * gets the number of nodes linked. Errors: NOMEM. */
int vectron_index_reconnect(vectron_index *idx, size_t *attached,
                            vectron_error *err);

/* Copies the stored vector of id into out (dim floats; normalised under
 * cosine). NOT_FOUND if absent. */
int vectron_index_get(const vectron_index *idx, uint64_t id, float *out,
                      vectron_error *err);

/* Number of live points. */
size_t vectron_index_size(const vectron_index *idx);
uint32_t vectron_index_dim(const vectron_index *idx);

/* A filter predicate: return non-zero to allow id. Called from the
 * searching thread; must be thread-safe if searches run concurrently. */
typedef int (*vectron_filter_fn)(uint64_t id, void *arg);

typedef struct vectron_search_params {
    uint32_t k;  /* results wanted, 1..VECTRON_MAX_K */
    uint32_t ef; /* candidate list size, >= k; 0 = max(k, 64) */
    int exact;   /* non-zero: brute force over every point */
    /* Filtering: predicate and/or allow-list (ids, any order). A point must
     * pass both when both are given. */
    vectron_filter_fn filter;
    void *filter_arg;
    const uint64_t *allow;
    size_t n_allow;
    /* Estimated fraction of points passing the filter below which the
     * search scans the allowed points exactly instead of walking the graph.
     * < 0 means the default (0.05). */
    float exact_selectivity;
    /* int8 indexes: traverse with int8 codes, then rescore the best
     * k * oversampling candidates with float32 vectors. rescore = 0 returns
     * the int8 order and distances. oversampling < 1 means the default
     * (2.0). Ignored for VECTRON_QUANT_NONE. */
    int rescore;
    float oversampling;
} vectron_search_params;

/* Fills *sp with defaults for k (ef 0, rescore on, defaults elsewhere). */
void vectron_search_params_default(vectron_search_params *sp, uint32_t k);

typedef struct vectron_hit {
    uint64_t id;
    float distance;
} vectron_hit;

/* Finds up to sp->k nearest points to query (dim floats). Writes them to
 * out (capacity sp->k), closest first, and their count to *n_out (fewer
 * than k only when fewer than k points pass the filter). */
int vectron_index_search(const vectron_index *idx, const float *query,
                         const vectron_search_params *sp, vectron_hit *out,
                         size_t *n_out, vectron_error *err);

/* Persistence; format in docs/formats/index.md. save writes path.tmp,
 * fsyncs it and renames it over path. load verifies magic, version, sizes
 * and CRC32C and rejects any inconsistency with CORRUPT. */
int vectron_index_save(const vectron_index *idx, const char *path,
                       vectron_error *err);
int vectron_index_load(const char *path, vectron_index **out,
                       vectron_error *err);
/* Same as load, from a caller-owned buffer (borrowed for the call). */
int vectron_index_load_buffer(const void *buf, size_t len, vectron_index **out,
                              vectron_error *err);

/* Validates vec (dim floats) by vectron_index_add's rules (finite
 * components, a squared norm that cannot overflow distances, non-zero
 * under cosine) and writes its stored form to out (dim floats; normalised
 * under cosine; out may equal vec). Errors: INVALID with the reason. */
int vectron_index_prepare(const vectron_index *idx, const float *vec,
                          float *out, vectron_error *err);

/* The same rules without an index, for callers that validate before they
 * reach one (the gateway): dim finite components, a squared norm that
 * cannot overflow distances, non-zero under cosine. Errors: INVALID with
 * the reason. */
int vectron_vector_check(vectron_metric metric, const float *vec,
                         uint32_t dim, vectron_error *err);

/* The index's distance (lower is closer) between two vectors already in
 * stored form (from vectron_index_prepare), as a search reports it. For
 * callers that score points not (yet) in the index. Cannot fail and does
 * not allocate. */
float vectron_index_distance(const vectron_index *idx, const float *a,
                             const float *b);

/* Memory the index holds (vectors, codes, links, maps), in bytes. O(1). */
size_t vectron_index_memory(const vectron_index *idx);

#ifdef __cplusplus
}
#endif

#endif
