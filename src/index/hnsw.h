/*
 * hnsw.h - private header of the HNSW index (Malkov & Yashunin): the
 * in-memory layout and the internal functions shared by hnsw.c (lifecycle,
 * storage, levels), hnsw_insert.c (insert and neighbour selection),
 * hnsw_search.c (layer search, filtered and exact search, rescoring),
 * hnsw_delete.c (delete with repair, vacuum) and hnsw_io.c (save/load).
 *
 * Layout. Nodes live in slots 0..n_slots-1. Slot data is kept in blocks of
 * HNSW_BLOCK slots (vectors, int8 codes, layer-0 links, ids, levels, flags,
 * upper-layer link arrays) reached through a block table of fixed size, so
 * the index grows without moving memory and readers never see a block
 * move. A link list is [count, link_0 .. link_{max-1}] as uint32.
 *
 * Threading model.
 * - idx->lock (rwlock, writer-preferring): every public operation holds it
 *   shared; operations that touch all nodes at once (int8 training,
 *   vacuum) hold it exclusive. It is never taken recursively.
 * - Link lists of node s are written only under
 *   idx->stripes[s % HNSW_STRIPES] (hnsw_node_lock) and read either under
 *   it or optimistically through its sequence counter (hnsw_copy_links). A
 *   thread holds at most one stripe at a time, so stripes cannot deadlock.
 * - idx->map_lock guards the id map, the slot allocator (n_slots, free
 *   list) and the live count.
 * - idx->entry_lock guards the entry point and max level.
 * - A node's vector, code, id, level and upper arrays are written before
 *   the first link to it is published under a stripe lock, so any reader
 *   that reaches it through a link sees them complete. flags are read and
 *   written with atomics.
 */
#ifndef VECTRON_INDEX_HNSW_H
#define VECTRON_INDEX_HNSW_H

#include <pthread.h>
#include <stdint.h>

#include "common/common.h"
#include "index/distance.h"
#include "index/quant.h"
#include "vectron/index.h"

#define HNSW_BLOCK_SHIFT 14
#define HNSW_BLOCK (1u << HNSW_BLOCK_SHIFT)
#define HNSW_MAX_BLOCKS (1u << 18) /* 2^32 slots at most */
#define HNSW_MAX_LEVEL 16
#define HNSW_STRIPES 4096
#define HNSW_NONE UINT32_MAX
#ifndef HNSW_ABANDON_CHUNK
#define HNSW_ABANDON_CHUNK 128 /* floats between early-abandon checks */
#endif

/* Node flags. */
#define HNSW_F_USED 1u      /* slot holds a node (live or deleted) */
#define HNSW_F_DELETED 2u   /* tombstone: traversed, never returned */
#define HNSW_F_UNCOUNTED 4u /* tombstone whose links left the in-degrees */

typedef struct hnsw_block {
    float *vectors;   /* HNSW_BLOCK * dim */
    uint8_t *codes;   /* HNSW_BLOCK * dim, int8 indexes only */
    uint32_t *links0; /* HNSW_BLOCK * (1 + 2m) */
    uint32_t *indeg;  /* layer-0 in-degree (links from used slots) */
    uint64_t *ids;
    /* Upper-layer link arrays (level * (1 + m) uint32) exist for about one
     * node in m. A slot finds its array through a 2-byte 1-based index into
     * upper_list (0: none) instead of an 8-byte pointer per slot. A slot
     * keeps its list entry when freed and reused, so the append-only list
     * never exceeds HNSW_BLOCK entries. Written under map_lock (or
     * exclusively) before the node is published. */
    uint16_t *upper_idx;
    uint32_t **upper_list;
    uint32_t n_upper;
    uint8_t *levels;
    uint8_t *flags;
} hnsw_block;

/* Id -> slot map: open addressing, linear probing; keys are the slots'
 * ids. */
typedef struct hnsw_map {
    uint32_t *vals; /* slot; HNSW_NONE = empty, HNSW_NONE - 1 = removed */
    size_t cap;     /* power of two */
    size_t used;    /* live + removed entries */
    size_t live;
} hnsw_map;

/* A stripe of node locks: writers of a link list hold mu and make seq odd
 * while they write; readers copy lists without locking and retry when seq
 * was odd or changed (a seqlock), so searches never block on each other. */
typedef struct hnsw_stripe_lock {
    pthread_mutex_t mu;
    uint32_t seq;
} hnsw_stripe_lock;

/* Visited set of one search: a bitset (one bit per slot, so it stays in
 * cache: 41 KB for 331k points, against 660 KB of 16-bit tags) plus the
 * list of words made non-zero, so clearing costs what the search touched.
 * Reused across searches through a pool. */
typedef struct hnsw_visited {
    uint64_t *bits;
    uint32_t *dirty;   /* indexes of non-zero words */
    uint32_t n_dirty;
    uint32_t size;     /* slots covered (a multiple of 64) */
    struct hnsw_visited *next;
} hnsw_visited;

/* Marks s visited; returns 1 if it already was, or if s is beyond the set
 * (a node newer than the search, which the search then skips). */
static inline int hnsw_visit(hnsw_visited *v, uint32_t s)
{
    uint64_t *w, bit;
    if (s >= v->size) {
        return 1;
    }
    w = &v->bits[s >> 6];
    bit = (uint64_t)1 << (s & 63);
    if (*w & bit) {
        return 1;
    }
    if (*w == 0) {
        v->dirty[v->n_dirty++] = s >> 6;
    }
    *w |= bit;
    return 0;
}

static inline void hnsw_visited_clear(hnsw_visited *v)
{
    for (uint32_t i = 0; i < v->n_dirty; i++) {
        v->bits[v->dirty[i]] = 0;
    }
    v->n_dirty = 0;
}

struct vectron_index {
    vectron_index_params p;
    const distance_kernels *k;
    uint32_t m0;           /* 2m: layer-0 degree */
    uint32_t link0_stride; /* 1 + m0 */
    uint32_t upper_stride; /* 1 + m */
    double ml;             /* level multiplier 1 / ln(m) */

    pthread_rwlock_t lock;
    hnsw_stripe_lock stripes[HNSW_STRIPES];

    pthread_mutex_t map_lock;
    hnsw_map map;
    uint32_t n_slots; /* slots handed out (used or freed) */
    uint32_t *free_slots;
    uint32_t n_free, cap_free;
    size_t n_deleted; /* tombstones not yet vacuumed */
    size_t upper_bytes; /* upper-layer link lists allocated (atomic) */

    pthread_mutex_t grow_lock;
    hnsw_block **blocks; /* HNSW_MAX_BLOCKS entries, lazily filled */
    uint32_t n_blocks;

    pthread_mutex_t entry_lock;
    uint32_t entry;
    int max_level;

    quant qz; /* int8 quantizer (p.quant == INT8) */

    pthread_mutex_t pool_lock;
    hnsw_visited *pool;
};

/* A (distance, slot) pair for heaps and candidate lists. */
typedef struct hnsw_cand {
    float d;
    uint32_t s;
} hnsw_cand;

/* ---- storage accessors (hnsw.c) ---- */
static inline hnsw_block *hnsw_blk(const vectron_index *idx, uint32_t s)
{
    return __atomic_load_n(&idx->blocks[s >> HNSW_BLOCK_SHIFT],
                           __ATOMIC_ACQUIRE);
}
static inline float *hnsw_vec(const vectron_index *idx, uint32_t s)
{
    return hnsw_blk(idx, s)->vectors +
           (size_t)(s & (HNSW_BLOCK - 1)) * idx->p.dim;
}
static inline uint8_t *hnsw_code(const vectron_index *idx, uint32_t s)
{
    return hnsw_blk(idx, s)->codes +
           (size_t)(s & (HNSW_BLOCK - 1)) * idx->p.dim;
}
static inline uint32_t *hnsw_links(const vectron_index *idx, uint32_t s,
                                   int level)
{
    hnsw_block *b = hnsw_blk(idx, s);
    uint32_t i = s & (HNSW_BLOCK - 1);
    if (level == 0) {
        return b->links0 + (size_t)i * idx->link0_stride;
    }
    return b->upper_list[b->upper_idx[i] - 1] +
           (size_t)(level - 1) * idx->upper_stride;
}
static inline uint64_t hnsw_id(const vectron_index *idx, uint32_t s)
{
    return hnsw_blk(idx, s)->ids[s & (HNSW_BLOCK - 1)];
}
static inline int hnsw_level(const vectron_index *idx, uint32_t s)
{
    return hnsw_blk(idx, s)->levels[s & (HNSW_BLOCK - 1)];
}
static inline unsigned hnsw_flags(const vectron_index *idx, uint32_t s)
{
    return __atomic_load_n(&hnsw_blk(idx, s)->flags[s & (HNSW_BLOCK - 1)],
                           __ATOMIC_ACQUIRE);
}
static inline void hnsw_set_flags(const vectron_index *idx, uint32_t s,
                                  unsigned f)
{
    __atomic_store_n(&hnsw_blk(idx, s)->flags[s & (HNSW_BLOCK - 1)], (uint8_t)f,
                     __ATOMIC_RELEASE);
}
/* Layer-0 in-degree: the number of live nodes linking to s, kept so that
 * relinking never silently drops a node's last incoming link (which would
 * make it unreachable). Links of tombstones stop counting when
 * hnsw_tombstone runs (HNSW_F_UNCOUNTED, set under the stripe lock). */
static inline uint32_t hnsw_indeg(const vectron_index *idx, uint32_t s)
{
    return __atomic_load_n(&hnsw_blk(idx, s)->indeg[s & (HNSW_BLOCK - 1)],
                           __ATOMIC_RELAXED);
}
static inline void hnsw_indeg_add(const vectron_index *idx, uint32_t s,
                                  int delta)
{
    __atomic_fetch_add(&hnsw_blk(idx, s)->indeg[s & (HNSW_BLOCK - 1)],
                       (uint32_t)delta, __ATOMIC_RELAXED);
}
/* Takes one from s's in-degree only if another incoming link remains,
 * atomically: two nodes relinked at once (each under its own stripe lock)
 * may both be dropping a link to s, and only one of them may drop the
 * last but one. Returns 1 when it took one. */
static inline int hnsw_indeg_drop_shared(const vectron_index *idx, uint32_t s)
{
    uint32_t *p = &hnsw_blk(idx, s)->indeg[s & (HNSW_BLOCK - 1)];
    uint32_t v = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v > 1) {
        if (__atomic_compare_exchange_n(p, &v, v - 1, 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
            return 1;
        }
    }
    return 0;
}
static inline void hnsw_or_flags(const vectron_index *idx, uint32_t s,
                                 unsigned f)
{
    __atomic_fetch_or(&hnsw_blk(idx, s)->flags[s & (HNSW_BLOCK - 1)],
                      (uint8_t)f, __ATOMIC_RELEASE);
}
/* Is s a live node (used, not deleted)? */
static inline int hnsw_live(const vectron_index *idx, uint32_t s)
{
    return hnsw_flags(idx, s) == HNSW_F_USED;
}
/* Takes the write side of node s's stripe. */
static inline void hnsw_node_lock(vectron_index *idx, uint32_t s)
{
    hnsw_stripe_lock *st = &idx->stripes[s % HNSW_STRIPES];
    pthread_mutex_lock(&st->mu);
    __atomic_store_n(&st->seq, st->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}
static inline void hnsw_node_unlock(vectron_index *idx, uint32_t s)
{
    hnsw_stripe_lock *st = &idx->stripes[s % HNSW_STRIPES];
    __atomic_store_n(&st->seq, st->seq + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&st->mu);
}
/* Link-list element stores that optimistic readers may race with. */
static inline void hnsw_store_link(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline uint32_t hnsw_max_links(const vectron_index *idx, int level)
{
    return level == 0 ? idx->m0 : idx->p.m;
}
/* Copies the link list of s at level into out (capacity max links) and
 * returns the count: a consistent snapshot, read optimistically (see
 * hnsw_stripe_lock). */
uint32_t hnsw_copy_links(vectron_index *idx, uint32_t s, int level,
                         uint32_t *out);

/* Prefetches bytes at p into the L2 cache. A search prefetches all new
 * neighbours of a node at once so their memory latencies overlap; a whole
 * neighbour batch (16-32 vectors) exceeds L1, hence the L2 hint. */
static inline void hnsw_prefetch(const void *p, size_t bytes)
{
    const char *c = p;
    for (size_t o = 0; o < bytes; o += 64) {
        __builtin_prefetch(c + o, 0, 2);
    }
}

/* Float distance between a prepared query (normalised under cosine) and
 * node s. */
static inline float hnsw_dist_q(const vectron_index *idx, const float *q,
                                const float *v)
{
    switch (idx->p.metric) {
    case VECTRON_METRIC_L2:
        return idx->k->l2sq_f32(q, v, idx->p.dim);
    case VECTRON_METRIC_COSINE:
        /* Unit vectors: 1 - cos = |q - v|^2 / 2, which unlike 1 - dot has
         * no cancellation for near-duplicates and allows early abandon. */
        return 0.5f * idx->k->l2sq_f32(q, v, idx->p.dim);
    default:
        return -idx->k->dot_f32(q, v, idx->p.dim);
    }
}

/* As hnsw_dist_q, but may stop early and return any value > bound once
 * the distance is known to exceed bound (L2 and cosine: partial sums of
 * squares only grow). */
static inline float hnsw_dist_bounded(const vectron_index *idx, const float *q,
                                      const float *v, float bound)
{
    const uint32_t chunk = HNSW_ABANDON_CHUNK;
    uint32_t dim = idx->p.dim;
    float s = 0.0f, scale;

    if (idx->p.metric == VECTRON_METRIC_DOT || dim <= 2 * chunk) {
        return hnsw_dist_q(idx, q, v);
    }
    scale = idx->p.metric == VECTRON_METRIC_COSINE ? 0.5f : 1.0f;
    for (uint32_t i = 0; i < dim; i += chunk) {
        uint32_t n = dim - i < chunk ? dim - i : chunk;
        s += idx->k->l2sq_f32(q + i, v + i, n);
        if (s * scale > bound) {
            break;
        }
    }
    return s * scale;
}

int hnsw_level_of(const vectron_index *idx, uint64_t id);
/* Makes sure the block holding slot s exists. Takes grow_lock. */
int hnsw_ensure_block(vectron_index *idx, uint32_t s, vectron_error *err);
void hnsw_free_node_links(vectron_index *idx, uint32_t s);
/* Gives slot s the upper-layer array upper (owned from then on; NULL for a
 * level-0 node). Caller holds map_lock or exclusive access. */
void hnsw_set_upper(vectron_index *idx, uint32_t s, uint32_t *upper);
/* Validates and copies vec into out (normalising under cosine). */
int hnsw_prepare_vector(const vectron_index *idx, const float *vec, float *out,
                        vectron_error *err);

/* ---- id map (hnsw.c); callers hold map_lock ---- */
int hnsw_map_init(hnsw_map *m, size_t cap);
void hnsw_map_close(hnsw_map *m);
/* The slot of key, or HNSW_NONE. */
uint32_t hnsw_map_get(const vectron_index *idx, uint64_t key);
/* Makes room for extra more keys (may rehash); NOMEM on failure. */
int hnsw_map_reserve(vectron_index *idx, size_t extra);
/* Maps key to val (whose id must already be key); room must have been
 * reserved. */
void hnsw_map_put(vectron_index *idx, uint64_t key, uint32_t val);
void hnsw_map_del(vectron_index *idx, uint64_t key);

/* ---- visited sets (hnsw.c) ---- */
hnsw_visited *hnsw_visited_get(vectron_index *idx, uint32_t n_slots);
void hnsw_visited_put(vectron_index *idx, hnsw_visited *v);

/* ---- heaps (hnsw_search.c) ---- */
typedef struct hnsw_heap {
    hnsw_cand *a;
    uint32_t n, cap;
} hnsw_heap;
int hnsw_heap_init(hnsw_heap *h, uint32_t cap);
void hnsw_heap_close(hnsw_heap *h);

/* Per-operation search state, allocated before anything is published so
 * that linking and searching cannot fail halfway. */
typedef struct hnsw_scratch {
    hnsw_heap cand; /* min-heap of candidates to expand */
    hnsw_heap res;  /* max-heap of the best results so far */
    hnsw_visited *vis;
    hnsw_cand *w;    /* ef entries: results of one level */
    hnsw_cand *eps;  /* ef entries: entry points of the next level */
    uint32_t *links; /* 2m entries: a copied link list */
    uint32_t ef;
} hnsw_scratch;
int hnsw_scratch_init(vectron_index *idx, hnsw_scratch *sc, uint32_t ef);
void hnsw_scratch_close(vectron_index *idx, hnsw_scratch *sc);

/* ---- search (hnsw_search.c) ---- */
/* Greedy walk towards q from ep down to level stop+1; returns the closest
 * node found. */
uint32_t hnsw_descend(vectron_index *idx, const float *q, uint32_t ep, int top,
                      int stop);
/* Beam search at one level with float distances from sc->eps (n_eps of
 * them), keeping sc->ef results, deleted nodes included; writes them to
 * sc->w sorted ascending and returns their count. Cannot fail. Used by
 * insert. */
uint32_t hnsw_search_level(vectron_index *idx, hnsw_scratch *sc, const float *q,
                           uint32_t n_eps, int level);

/* ---- neighbour selection (hnsw_insert.c) ---- */
/* Malkov & Yashunin's heuristic: from cands (sorted ascending by distance
 * to the base node), keeps up to max entries that are closer to the base
 * than to any already kept entry, then tops up to min_keep with the
 * closest pruned ones. Rewrites cands in place; returns the count. */
uint32_t hnsw_select_neighbors(vectron_index *idx, hnsw_cand *cands, uint32_t n,
                               uint32_t max, uint32_t min_keep);
/* Re-selects node s's links at level from its current links plus extra
 * candidates; caller holds s's stripe lock. Skips deleted nodes and s. */
void hnsw_relink(vectron_index *idx, uint32_t s, int level,
                 const uint32_t *extra, uint32_t n_extra);
/* Makes live node y link to z on layer 0 whatever the heuristic says, so
 * that z (which nothing else links to) stays reachable: appends when y
 * has room, else replaces y's farthest link whose target keeps another
 * incoming link. Caller holds y's stripe lock (or the index exclusive).
 * Returns 0 when every link of y is some node's last one. */
int hnsw_force_link0(vectron_index *idx, uint32_t y, uint32_t z);

/* ---- delete (hnsw_delete.c) ---- */
/* Marks slot s deleted and repairs its neighbours; map already updated. */
void hnsw_tombstone(vectron_index *idx, uint32_t s);
/* Makes every live node reachable on layer 0 from the entry point (links
 * orphans to their nearest reachable node). Exclusive access required. */
void hnsw_reconnect(vectron_index *idx);
/* Runs a vacuum if tombstones exceed the threshold. Takes the lock
 * exclusive; call with no lock held. */
int hnsw_maybe_vacuum(vectron_index *idx, vectron_error *err);

/* ---- int8 (hnsw.c) ---- */
/* Trains the quantizer from the first points if due. Call with no lock
 * held; takes the lock exclusive when it trains. */
int hnsw_maybe_train(vectron_index *idx, vectron_error *err);

/* qsort comparator: ascending distance, then slot. */
int hnsw_cmp_cand(const void *a, const void *b);

#endif
