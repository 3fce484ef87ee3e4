/*
 * peer_faiss.cpp - faiss IndexHNSWFlat (Debian libfaiss-dev, a static
 * library built with GCC OpenMP) behind the benchmark's bench_lib
 * interface.
 *
 * Threading: faiss parallelises IndexHNSW::add internally with OpenMP;
 * build() sets the OpenMP team size to `threads` for the add and back to 1
 * afterwards, so the single-thread search sweep really runs on one thread.
 * configure() and search() are called from one thread.
 */
#include "bench.h"

#include <faiss/IndexFlatCodes.h>
#include <faiss/IndexHNSW.h>

#include <omp.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <vector>

namespace {

struct peer {
    std::unique_ptr<faiss::IndexHNSWFlat> index;
    std::vector<float> dist; /* scratch for search results */
};

void *create(const bench_build_cfg *cfg, char *err, size_t errlen)
{
    try {
        auto p = std::make_unique<peer>();
        p->index = std::make_unique<faiss::IndexHNSWFlat>(
            static_cast<int>(cfg->dim), static_cast<int>(cfg->m),
            cfg->metric == BENCH_METRIC_L2 ? faiss::METRIC_L2
                                           : faiss::METRIC_INNER_PRODUCT);
        p->index->hnsw.efConstruction = static_cast<int>(cfg->ef_construction);
        return p.release();
    } catch (const std::exception &e) {
        std::snprintf(err, errlen, "faiss: create: %s", e.what());
        return nullptr;
    }
}

int build(void *h, const float *base, size_t n, int threads, char *err,
          size_t errlen)
{
    peer *p = static_cast<peer *>(h);
    try {
        omp_set_num_threads(threads);
        p->index->add(static_cast<faiss::Index::idx_t>(n), base);
        omp_set_num_threads(1);
        return 0;
    } catch (const std::exception &e) {
        omp_set_num_threads(1);
        std::snprintf(err, errlen, "faiss: add: %s", e.what());
        return -1;
    }
}

int configure(void *h, const bench_search_cfg *sc, char *, size_t)
{
    peer *p = static_cast<peer *>(h);
    p->index->hnsw.efSearch = static_cast<int>(sc->ef);
    p->dist.resize(sc->k);
    omp_set_num_threads(1);
    return 0;
}

int search(void *h, const float *query, uint32_t k, int64_t *ids)
{
    peer *p = static_cast<peer *>(h);
    static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "idx_t");
    if (p->dist.size() < k) {
        p->dist.resize(k);
    }
    try {
        p->index->search(1, query, k, p->dist.data(),
                         reinterpret_cast<faiss::Index::idx_t *>(ids));
    } catch (const std::exception &) {
        return -1;
    }
    int count = 0;
    while (count < static_cast<int>(k) && ids[count] >= 0) {
        count++;
    }
    return count;
}

size_t memory(void *h)
{
    /* Vectors (the flat storage's codes) plus the HNSW arrays. */
    const auto *ix = static_cast<peer *>(h)->index.get();
    const auto &g = ix->hnsw;
    size_t bytes = g.neighbors.size() * sizeof(g.neighbors[0]) +
                   g.offsets.size() * sizeof(g.offsets[0]) +
                   g.levels.size() * sizeof(g.levels[0]);
    const auto *flat = dynamic_cast<const faiss::IndexFlatCodes *>(ix->storage);
    if (flat != nullptr) {
        bytes += flat->codes.size();
    }
    return bytes;
}

void destroy(void *h)
{
    delete static_cast<peer *>(h);
}

} // namespace

extern "C" const bench_lib bench_lib_faiss = {
    "faiss", 1, create, build, configure, search, memory, destroy,
};
