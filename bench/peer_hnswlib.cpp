/*
 * peer_hnswlib.cpp - hnswlib (Debian libhnswlib-dev, header-only) behind
 * the benchmark's bench_lib interface.
 *
 * This translation unit is compiled with -O3 -march=native, as hnswlib's
 * own build does: hnswlib chooses its SIMD distance functions at compile
 * time (__AVX__ / __AVX512F__), so a baseline build would cripple it.
 *
 * Threading: build() starts `threads` std::threads that take point indexes
 * from an atomic counter and call HierarchicalNSW::addPoint, which hnswlib
 * documents as thread-safe; it joins them before returning. configure()
 * and search() are called from one thread.
 */
#include "bench.h"

#include <hnswlib/hnswlib.h>

#include <atomic>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct peer {
    std::unique_ptr<hnswlib::SpaceInterface<float>> space;
    std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;
    uint32_t dim = 0;
};

void *create(const bench_build_cfg *cfg, char *err, size_t errlen)
{
    try {
        auto p = std::make_unique<peer>();
        p->dim = cfg->dim;
        if (cfg->metric == BENCH_METRIC_L2) {
            p->space = std::make_unique<hnswlib::L2Space>(cfg->dim);
        } else {
            p->space = std::make_unique<hnswlib::InnerProductSpace>(cfg->dim);
        }
        p->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(
            p->space.get(), cfg->max_n, cfg->m, cfg->ef_construction,
            static_cast<size_t>(cfg->seed) + 100);
        return p.release();
    } catch (const std::exception &e) {
        std::snprintf(err, errlen, "hnswlib: create: %s", e.what());
        return nullptr;
    }
}

int build(void *h, const float *base, size_t n, int threads, char *err,
          size_t errlen)
{
    peer *p = static_cast<peer *>(h);
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::string what;
    std::mutex what_mu;
    auto work = [&]() {
        for (;;) {
            size_t i = next.fetch_add(1, std::memory_order_relaxed);
            if (i >= n || failed.load(std::memory_order_relaxed)) {
                return;
            }
            try {
                p->index->addPoint(base + i * p->dim, i);
            } catch (const std::exception &e) {
                std::lock_guard<std::mutex> g(what_mu);
                what = e.what();
                failed = true;
            }
        }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; t++) {
        pool.emplace_back(work);
    }
    work();
    for (auto &t : pool) {
        t.join();
    }
    if (failed) {
        std::snprintf(err, errlen, "hnswlib: addPoint: %s", what.c_str());
        return -1;
    }
    return 0;
}

int configure(void *h, const bench_search_cfg *sc, char *, size_t)
{
    static_cast<peer *>(h)->index->setEf(sc->ef);
    return 0;
}

int search(void *h, const float *query, uint32_t k, int64_t *ids)
{
    peer *p = static_cast<peer *>(h);
    auto top = p->index->searchKnn(query, k);
    /* searchKnn returns a max-heap: farthest first. */
    int count = static_cast<int>(top.size());
    for (int i = count - 1; i >= 0; i--) {
        ids[i] = static_cast<int64_t>(top.top().second);
        top.pop();
    }
    return count;
}

size_t memory(void *h)
{
    /* hnswlib's own structures: the layer-0 block (links + vector + label
     * per element, allocated for max_elements), the upper-layer link
     * lists, and the per-element level, pointer and lock arrays. The
     * label hash map is not counted. */
    const auto *ix = static_cast<peer *>(h)->index.get();
    size_t bytes = ix->max_elements_ * ix->size_data_per_element_;
    for (size_t i = 0; i < ix->cur_element_count; i++) {
        bytes += ix->size_links_per_element_ *
                 static_cast<size_t>(ix->element_levels_[i]);
    }
    bytes +=
        ix->max_elements_ * (sizeof(char *) + sizeof(int) + sizeof(std::mutex));
    return bytes;
}

void destroy(void *h)
{
    delete static_cast<peer *>(h);
}

} // namespace

extern "C" const bench_lib bench_lib_hnswlib = {
    "hnswlib", 1, create, build, configure, search, memory, destroy,
};
