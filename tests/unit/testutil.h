/*
 * testutil.h - helpers shared by the index tests: deterministic data
 * (clustered synthetic vectors, a Fashion-MNIST slice), brute-force ground
 * truth, recall, and graph invariant checks.
 *
 * Threading: single-threaded helpers; each test owns its data.
 */
#ifndef VECTRON_TESTUTIL_H
#define VECTRON_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "vectron/index.h"

typedef struct tu_data {
    float *vecs; /* n * dim */
    size_t n;
    uint32_t dim;
} tu_data;

/* n points in `clusters` Gaussian-ish clusters; the centers depend on
 * center_seed only, the points on seed. */
void tu_clustered(tu_data *d, size_t n, uint32_t dim, uint32_t clusters,
                  uint64_t center_seed, uint64_t seed);
/* Uniform random in [-1, 1]. */
void tu_uniform(tu_data *d, size_t n, uint32_t dim, uint64_t seed);
/* The first n images of Fashion-MNIST (train or test set) as floats 0..255.
 * Returns -1 (and the test should fail) if the data set is missing. */
int tu_fashion(tu_data *d, size_t n, int test_set);
void tu_free(tu_data *d);

/* Exact top-k ids (ids are the row numbers of base + id_offset) for each
 * query, by brute force with the scalar formula for metric. */
uint64_t *tu_ground_truth(const tu_data *base, const tu_data *queries,
                          uint32_t k, vectron_metric metric,
                          const uint8_t *skip /* base rows to skip, or NULL */);

/* Mean recall@k of idx's search (params sp) against gt. */
double tu_recall(const vectron_index *idx, const tu_data *queries,
                 const uint64_t *gt, const vectron_search_params *sp);

/* Checks the graph invariants; returns 0 or -1 with a message in msg:
 * link degrees within bounds, links point to live slots of adequate level,
 * no self links or duplicates, every live node reachable from the entry
 * point on layer 0, entry point at the top level. */
int tu_check_graph(const vectron_index *idx, char *msg, size_t msg_size);

/* Adds rows [from, to) of d as ids row + id_offset; asserts success. */
void tu_add_rows(vectron_index *idx, const tu_data *d, size_t from, size_t to);

#endif
