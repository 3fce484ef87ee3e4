/*
 * hnsw.c - lifecycle and storage of the HNSW index: creation and freeing,
 * blocks of slot data, the id map, visited-set pool, level draws, vector
 * validation, point lookup, int8 training, and memory accounting.
 *
 * Threading: see the model in hnsw.h. Functions here take the locks they
 * document; the map helpers expect map_lock held by the caller.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw.h"

#define MAP_EMPTY HNSW_NONE
#define MAP_REMOVED (HNSW_NONE - 1)

void vectron_index_params_default(vectron_index_params *p, uint32_t dim)
{
    memset(p, 0, sizeof *p);
    p->dim = dim;
    p->metric = VECTRON_METRIC_L2;
    p->m = 16;
    p->ef_construction = 200;
    p->quant = VECTRON_QUANT_NONE;
    p->quant_per_dim = 0;
    p->quant_train_size = 1000;
    p->seed = 0;
}

void vectron_search_params_default(vectron_search_params *sp, uint32_t k)
{
    memset(sp, 0, sizeof *sp);
    sp->k = k;
    sp->exact_selectivity = -1.0f;
    sp->rescore = 1;
    sp->oversampling = 0.0f;
}

/* ---- id map ----
 * The map stores only slot numbers; a slot's key is its id in the block
 * (hnsw_id), which saves 8 bytes per entry. An entry is written only after
 * the slot's id is. */

static size_t map_slot(uint64_t key, size_t cap)
{
    return (size_t)vx_mix64(key) & (cap - 1);
}

int hnsw_map_init(hnsw_map *m, size_t cap)
{
    memset(m, 0, sizeof *m);
    m->vals = vx_malloc(cap * sizeof *m->vals);
    if (!m->vals) {
        return VECTRON_NOMEM;
    }
    memset(m->vals, 0xff, cap * sizeof *m->vals);
    m->cap = cap;
    return 0;
}

void hnsw_map_close(hnsw_map *m)
{
    vx_free(m->vals);
    memset(m, 0, sizeof *m);
}

/* Index of key's entry, or of the empty entry ending its probe run. */
static size_t map_find(const vectron_index *idx, const hnsw_map *m,
                       uint64_t key)
{
    for (size_t i = map_slot(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        uint32_t v = m->vals[i];
        if (v == MAP_EMPTY || (v != MAP_REMOVED && hnsw_id(idx, v) == key)) {
            return i;
        }
    }
}

uint32_t hnsw_map_get(const vectron_index *idx, uint64_t key)
{
    return idx->map.vals[map_find(idx, &idx->map, key)];
}

static void map_insert_raw(const vectron_index *idx, hnsw_map *m, uint32_t val)
{
    size_t i = map_slot(hnsw_id(idx, val), m->cap);
    while (m->vals[i] != MAP_EMPTY && m->vals[i] != MAP_REMOVED) {
        i = (i + 1) & (m->cap - 1);
    }
    if (m->vals[i] == MAP_EMPTY) {
        m->used++;
    }
    m->vals[i] = val;
    m->live++;
}

int hnsw_map_reserve(vectron_index *idx, size_t extra)
{
    hnsw_map *m = &idx->map, bigger;
    size_t cap = m->cap;

    if ((m->used + extra) * 10 <= m->cap * 7) {
        return 0;
    }
    /* Rehash, dropping removed entries; grow only as live entries need. */
    while ((m->live + extra) * 10 > cap * 5) {
        cap *= 2;
    }
    if (hnsw_map_init(&bigger, cap) != 0) {
        return VECTRON_NOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i] != MAP_EMPTY && m->vals[i] != MAP_REMOVED) {
            map_insert_raw(idx, &bigger, m->vals[i]);
        }
    }
    hnsw_map_close(m);
    *m = bigger;
    return 0;
}

void hnsw_map_put(vectron_index *idx, uint64_t key, uint32_t val)
{
    size_t i = map_find(idx, &idx->map, key);
    if (idx->map.vals[i] != MAP_EMPTY) {
        idx->map.vals[i] = val; /* replace: same key */
        return;
    }
    map_insert_raw(idx, &idx->map, val);
}

void hnsw_map_del(vectron_index *idx, uint64_t key)
{
    size_t i = map_find(idx, &idx->map, key);
    if (idx->map.vals[i] != MAP_EMPTY) {
        idx->map.vals[i] = MAP_REMOVED;
        idx->map.live--;
    }
}

/* ---- blocks ---- */

static void block_free(hnsw_block *b)
{
    if (!b) {
        return;
    }
    if (b->upper_list) {
        for (uint32_t i = 0; i < b->n_upper; i++) {
            vx_free(b->upper_list[i]);
        }
    }
    vx_free(b->vectors);
    vx_free(b->codes);
    vx_free(b->links0);
    vx_free(b->indeg);
    vx_free(b->ids);
    vx_free(b->upper_idx);
    vx_free(b->upper_list);
    vx_free(b->levels);
    vx_free(b->flags);
    vx_free(b);
}

int hnsw_ensure_block(vectron_index *idx, uint32_t s, vectron_error *err)
{
    uint32_t bi = s >> HNSW_BLOCK_SHIFT;
    hnsw_block *b;
    int rc = 0;

    if (__atomic_load_n(&idx->blocks[bi], __ATOMIC_ACQUIRE)) {
        return 0;
    }
    pthread_mutex_lock(&idx->grow_lock);
    if (idx->blocks[bi]) {
        goto out;
    }
    b = vx_calloc(1, sizeof *b);
    if (!b) {
        rc = VECTRON_NOMEM;
        goto out;
    }
    b->vectors = vx_huge_alloc((size_t)HNSW_BLOCK * idx->p.dim * sizeof(float));
    b->links0 = vx_huge_alloc((size_t)HNSW_BLOCK * idx->link0_stride *
                              sizeof(uint32_t));
    if (b->links0) {
        memset(b->links0, 0,
               (size_t)HNSW_BLOCK * idx->link0_stride * sizeof(uint32_t));
    }
    b->indeg = vx_calloc(HNSW_BLOCK, sizeof(uint32_t));
    b->ids = vx_calloc(HNSW_BLOCK, sizeof(uint64_t));
    b->upper_idx = vx_calloc(HNSW_BLOCK, sizeof(uint16_t));
    /* Large enough to be mmap'ed: only the entries used become resident. */
    b->upper_list = vx_calloc(HNSW_BLOCK, sizeof(uint32_t *));
    b->levels = vx_calloc(HNSW_BLOCK, 1);
    b->flags = vx_calloc(HNSW_BLOCK, 1);
    if (idx->p.quant == VECTRON_QUANT_INT8) {
        b->codes = vx_huge_alloc((size_t)HNSW_BLOCK * idx->p.dim);
    }
    if (!b->vectors || !b->links0 || !b->indeg || !b->ids || !b->upper_idx ||
        !b->upper_list || !b->levels || !b->flags ||
        (idx->p.quant == VECTRON_QUANT_INT8 && !b->codes)) {
        block_free(b);
        rc = VECTRON_NOMEM;
        goto out;
    }
    __atomic_store_n(&idx->blocks[bi], b, __ATOMIC_RELEASE);
    if (bi + 1 > idx->n_blocks) {
        idx->n_blocks = bi + 1;
    }
out:
    pthread_mutex_unlock(&idx->grow_lock);
    if (rc) {
        return vx_err(err, rc, "index: allocate block %u: out of memory", bi);
    }
    return 0;
}

/* Bytes of slot s's upper-layer lists (its level must be set). */
static size_t upper_size(const vectron_index *idx, uint32_t s)
{
    return (size_t)hnsw_level(idx, s) * idx->upper_stride * sizeof(uint32_t);
}

void hnsw_free_node_links(vectron_index *idx, uint32_t s)
{
    /* Only tombstones are freed, and their links no longer count. */
    hnsw_block *b = hnsw_blk(idx, s);
    uint32_t i = s & (HNSW_BLOCK - 1);
    hnsw_links(idx, s, 0)[0] = 0;
    if (b->upper_idx[i] && b->upper_list[b->upper_idx[i] - 1]) {
        vx_free(b->upper_list[b->upper_idx[i] - 1]);
        b->upper_list[b->upper_idx[i] - 1] = NULL;
        __atomic_fetch_sub(&idx->upper_bytes, upper_size(idx, s),
                           __ATOMIC_RELAXED);
    }
}

void hnsw_set_upper(vectron_index *idx, uint32_t s, uint32_t *upper)
{
    hnsw_block *b = hnsw_blk(idx, s);
    uint32_t i = s & (HNSW_BLOCK - 1);
    if (!upper && !b->upper_idx[i]) {
        return;
    }
    if (upper) {
        __atomic_fetch_add(&idx->upper_bytes, upper_size(idx, s),
                           __ATOMIC_RELAXED);
    }
    if (!b->upper_idx[i]) {
        b->upper_idx[i] = (uint16_t)++b->n_upper;
    }
    b->upper_list[b->upper_idx[i] - 1] = upper;
}

uint32_t hnsw_copy_links(vectron_index *idx, uint32_t s, int level,
                         uint32_t *out)
{
    hnsw_stripe_lock *st = &idx->stripes[s % HNSW_STRIPES];
    const uint32_t *l = hnsw_links(idx, s, level);
    uint32_t max = hnsw_max_links(idx, level), n;

    for (int attempt = 0; attempt < 4; attempt++) {
        uint32_t v1 = __atomic_load_n(&st->seq, __ATOMIC_ACQUIRE), v2;
        if (v1 & 1) {
            continue; /* a writer is active */
        }
        n = __atomic_load_n(&l[0], __ATOMIC_RELAXED);
        if (n > max) {
            continue; /* torn read; the counter check would reject it */
        }
        for (uint32_t i = 0; i < n; i++) {
            out[i] = __atomic_load_n(&l[1 + i], __ATOMIC_RELAXED);
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        v2 = __atomic_load_n(&st->seq, __ATOMIC_RELAXED);
        if (v1 == v2) {
            return n;
        }
    }
    /* Contended: wait for the writer. */
    pthread_mutex_lock(&st->mu);
    n = l[0];
    memcpy(out, l + 1, n * sizeof(uint32_t));
    pthread_mutex_unlock(&st->mu);
    return n;
}

/* ---- lifecycle ---- */

static int check_params(const vectron_index_params *p, vectron_error *err)
{
    if (p->dim < 1 || p->dim > VECTRON_MAX_DIM) {
        return vx_err(err, VECTRON_INVALID, "dimension %u out of range 1..%u",
                      p->dim, VECTRON_MAX_DIM);
    }
    if (p->metric != VECTRON_METRIC_L2 && p->metric != VECTRON_METRIC_COSINE &&
        p->metric != VECTRON_METRIC_DOT) {
        return vx_err(err, VECTRON_INVALID, "unknown metric %d",
                      (int)p->metric);
    }
    if (p->m < 2 || p->m > VECTRON_MAX_M) {
        return vx_err(err, VECTRON_INVALID, "m = %u out of range 2..%u", p->m,
                      VECTRON_MAX_M);
    }
    if (p->ef_construction < p->m || p->ef_construction > VECTRON_MAX_EF) {
        return vx_err(err, VECTRON_INVALID,
                      "ef_construction = %u out of range %u..%u",
                      p->ef_construction, p->m, VECTRON_MAX_EF);
    }
    if (p->quant != VECTRON_QUANT_NONE && p->quant != VECTRON_QUANT_INT8) {
        return vx_err(err, VECTRON_INVALID, "unknown quantization %d",
                      (int)p->quant);
    }
    if (p->quant == VECTRON_QUANT_INT8 && p->quant_train_size < 1) {
        return vx_err(err, VECTRON_INVALID, "quant_train_size must be >= 1");
    }
    return 0;
}

int vectron_index_new(const vectron_index_params *params, vectron_index **out,
                      vectron_error *err)
{
    vectron_index *idx;
    pthread_rwlockattr_t attr;
    int rc;

    *out = NULL;
    if ((rc = check_params(params, err)) != 0) {
        return vx_err_wrap(err, rc, "create index");
    }
    idx = vx_calloc(1, sizeof *idx);
    if (!idx) {
        return vx_err(err, VECTRON_NOMEM, "create index: out of memory");
    }
    idx->p = *params;
    idx->k = distance_kernels_best();
    idx->m0 = 2 * params->m;
    idx->link0_stride = 1 + idx->m0;
    idx->upper_stride = 1 + params->m;
    idx->ml = 1.0 / log((double)params->m);
    idx->entry = HNSW_NONE;
    idx->max_level = -1;
    idx->blocks = vx_calloc(HNSW_MAX_BLOCKS, sizeof(hnsw_block *));
    if (!idx->blocks || hnsw_map_init(&idx->map, 1024) != 0) {
        rc = VECTRON_NOMEM;
        goto fail;
    }
    if (params->quant == VECTRON_QUANT_INT8 &&
        (rc = quant_init(&idx->qz, params->dim, params->metric,
                         params->quant_per_dim, err)) != 0) {
        goto fail;
    }
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&idx->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    for (int i = 0; i < HNSW_STRIPES; i++) {
        pthread_mutex_init(&idx->stripes[i].mu, NULL);
    }
    pthread_mutex_init(&idx->map_lock, NULL);
    pthread_mutex_init(&idx->grow_lock, NULL);
    pthread_mutex_init(&idx->entry_lock, NULL);
    pthread_mutex_init(&idx->pool_lock, NULL);
    *out = idx;
    return 0;
fail:
    hnsw_map_close(&idx->map);
    vx_free(idx->blocks);
    vx_free(idx);
    if (rc == VECTRON_NOMEM) {
        return vx_err(err, rc, "create index: out of memory");
    }
    return vx_err_wrap(err, rc, "create index");
}

void vectron_index_free(vectron_index *idx)
{
    if (!idx) {
        return;
    }
    for (uint32_t i = 0; i < idx->n_blocks; i++) {
        block_free(idx->blocks[i]);
    }
    while (idx->pool) {
        hnsw_visited *v = idx->pool;
        idx->pool = v->next;
        vx_free(v->bits);
        vx_free(v->dirty);
        vx_free(v);
    }
    if (idx->p.quant == VECTRON_QUANT_INT8) {
        quant_close(&idx->qz);
    }
    hnsw_map_close(&idx->map);
    vx_free(idx->free_slots);
    vx_free(idx->blocks);
    pthread_rwlock_destroy(&idx->lock);
    for (int i = 0; i < HNSW_STRIPES; i++) {
        pthread_mutex_destroy(&idx->stripes[i].mu);
    }
    pthread_mutex_destroy(&idx->map_lock);
    pthread_mutex_destroy(&idx->grow_lock);
    pthread_mutex_destroy(&idx->entry_lock);
    pthread_mutex_destroy(&idx->pool_lock);
    vx_free(idx);
}

/* ---- levels and vectors ---- */

int hnsw_level_of(const vectron_index *idx, uint64_t id)
{
    /* u uniform in (0, 1] from the id, so the level of a point is the same
     * on every replica and across restarts. */
    uint64_t h = vx_mix64(id ^ vx_mix64(idx->p.seed ^ 0x5eed));
    double u = (double)((h >> 11) + 1) * (1.0 / 9007199254740992.0);
    double l = -log(u) * idx->ml;
    return l >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : (int)l;
}

/* Sum of squares after checking every component; -1 with err filled. */
static double checked_norm(vectron_metric metric, const float *vec,
                           uint32_t dim, vectron_error *err)
{
    double norm = 0.0;

    if (!vec) {
        vx_err(err, VECTRON_INVALID, "vector is NULL");
        return -1.0;
    }
    for (uint32_t d = 0; d < dim; d++) {
        if (!isfinite(vec[d])) {
            vx_err(err, VECTRON_INVALID,
                   "vector component %u is not a finite number", d);
            return -1.0;
        }
        norm += (double)vec[d] * vec[d];
    }
    if (norm > (double)FLT_MAX / 4) {
        /* Distances between such vectors would overflow float. */
        vx_err(err, VECTRON_INVALID,
               "vector too large: squared norm %g exceeds %g", norm,
               (double)FLT_MAX / 4);
        return -1.0;
    }
    if (metric == VECTRON_METRIC_COSINE && norm == 0.0) {
        vx_err(err, VECTRON_INVALID, "zero vector has no cosine direction");
        return -1.0;
    }
    if (metric == VECTRON_METRIC_COSINE && !(1.0 / sqrt(norm) <= FLT_MAX)) {
        /* Normalising would overflow float. */
        vx_err(err, VECTRON_INVALID,
               "vector too small to normalise: squared norm %g", norm);
        return -1.0;
    }
    return norm;
}

int vectron_vector_check(vectron_metric metric, const float *vec, uint32_t dim,
                         vectron_error *err)
{
    return checked_norm(metric, vec, dim, err) < 0 ? VECTRON_INVALID : 0;
}

int hnsw_prepare_vector(const vectron_index *idx, const float *vec, float *out,
                        vectron_error *err)
{
    uint32_t dim = idx->p.dim;
    double norm = checked_norm(idx->p.metric, vec, dim, err);

    if (norm < 0) {
        return VECTRON_INVALID;
    }
    if (idx->p.metric == VECTRON_METRIC_COSINE) {
        float inv = (float)(1.0 / sqrt(norm));
        for (uint32_t d = 0; d < dim; d++) {
            out[d] = vec[d] * inv;
        }
    } else if (out != vec) {
        memcpy(out, vec, dim * sizeof(float));
    }
    return 0;
}

int vectron_index_prepare(const vectron_index *idx, const float *vec,
                          float *out, vectron_error *err)
{
    return hnsw_prepare_vector(idx, vec, out, err);
}

float vectron_index_distance(const vectron_index *idx, const float *a,
                             const float *b)
{
    return hnsw_dist_q(idx, a, b);
}

/* ---- visited pool ---- */

hnsw_visited *hnsw_visited_get(vectron_index *idx, uint32_t n_slots)
{
    hnsw_visited *v;

    pthread_mutex_lock(&idx->pool_lock);
    v = idx->pool;
    if (v) {
        idx->pool = v->next;
    }
    pthread_mutex_unlock(&idx->pool_lock);
    if (!v) {
        v = vx_calloc(1, sizeof *v);
        if (!v) {
            return NULL;
        }
    }
    if (v->size < n_slots) {
        /* Grow with slack so a growing index does not realloc each time. */
        uint32_t words = (n_slots + n_slots / 4 + 1024) / 64 + 1;
        uint64_t *bits = vx_calloc(words, sizeof *bits);
        uint32_t *dirty = vx_malloc((size_t)words * sizeof *dirty);
        if (!bits || !dirty) {
            vx_free(bits);
            vx_free(dirty);
            hnsw_visited_put(idx, v);
            return NULL;
        }
        vx_free(v->bits);
        vx_free(v->dirty);
        v->bits = bits;
        v->dirty = dirty;
        v->n_dirty = 0;
        v->size = words * 64;
    }
    return v;
}

void hnsw_visited_put(vectron_index *idx, hnsw_visited *v)
{
    hnsw_visited_clear(v);
    pthread_mutex_lock(&idx->pool_lock);
    v->next = idx->pool;
    idx->pool = v;
    pthread_mutex_unlock(&idx->pool_lock);
}

/* ---- lookups ---- */

size_t vectron_index_size(const vectron_index *idx)
{
    vectron_index *w = (vectron_index *)idx;
    size_t n;
    pthread_mutex_lock(&w->map_lock);
    n = w->map.live;
    pthread_mutex_unlock(&w->map_lock);
    return n;
}

uint32_t vectron_index_dim(const vectron_index *idx)
{
    return idx->p.dim;
}

int vectron_index_get(const vectron_index *idx, uint64_t id, float *out,
                      vectron_error *err)
{
    vectron_index *w = (vectron_index *)idx;
    uint32_t s;
    int rc = 0;

    pthread_rwlock_rdlock(&w->lock);
    pthread_mutex_lock(&w->map_lock);
    s = hnsw_map_get(w, id);
    if (s == HNSW_NONE) {
        rc = vx_err(err, VECTRON_NOT_FOUND, "point %llu not found",
                    (unsigned long long)id);
    } else {
        memcpy(out, hnsw_vec(w, s), w->p.dim * sizeof(float));
    }
    pthread_mutex_unlock(&w->map_lock);
    pthread_rwlock_unlock(&w->lock);
    return rc;
}

size_t vectron_index_memory(const vectron_index *idx)
{
    vectron_index *w = (vectron_index *)idx;
    size_t per_block, total;

    per_block = (size_t)HNSW_BLOCK *
                (w->p.dim * sizeof(float) + w->link0_stride * 4 + 4 + 8 +
                 sizeof(uint16_t) + 2 +
                 (w->p.quant == VECTRON_QUANT_INT8 ? w->p.dim : 0));
    pthread_rwlock_rdlock(&w->lock);
    total = sizeof *w + w->n_blocks * per_block +
            HNSW_MAX_BLOCKS * sizeof(hnsw_block *) / 64 +
            w->map.cap * sizeof(uint32_t) + w->cap_free * sizeof(uint32_t) +
            __atomic_load_n(&w->upper_bytes, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&w->lock);
    return total;
}

/* ---- int8 training ---- */

int hnsw_maybe_train(vectron_index *idx, vectron_error *err)
{
    const float **vecs = NULL;
    size_t n = 0;
    int rc = 0;

    if (idx->p.quant != VECTRON_QUANT_INT8 ||
        __atomic_load_n(&idx->qz.trained, __ATOMIC_ACQUIRE)) {
        return 0;
    }
    /* Not due yet: do not stall every add on the exclusive lock. */
    pthread_mutex_lock(&idx->map_lock);
    n = idx->map.live;
    pthread_mutex_unlock(&idx->map_lock);
    if (n < idx->p.quant_train_size) {
        return 0;
    }
    n = 0;
    pthread_rwlock_wrlock(&idx->lock);
    if (idx->qz.trained || idx->map.live < idx->p.quant_train_size) {
        goto out;
    }
    vecs = vx_malloc(idx->n_slots * sizeof *vecs);
    if (!vecs) {
        rc = vx_err(err, VECTRON_NOMEM, "train int8 ranges: out of memory");
        goto out;
    }
    for (uint32_t s = 0; s < idx->n_slots; s++) {
        if (hnsw_flags(idx, s) == HNSW_F_USED) {
            vecs[n++] = hnsw_vec(idx, s);
        }
    }
    if (n == 0) {
        goto out;
    }
    if ((rc = quant_train(&idx->qz, vecs, n, err)) != 0) {
        vx_err_wrap(err, rc, "train int8 ranges");
        goto out;
    }
    for (uint32_t s = 0; s < idx->n_slots; s++) {
        if (hnsw_flags(idx, s) & HNSW_F_USED) {
            quant_encode(&idx->qz, hnsw_vec(idx, s), hnsw_code(idx, s));
        }
    }
    __atomic_store_n(&idx->qz.trained, 1, __ATOMIC_RELEASE);
    vx_log(VECTRON_LOG_INFO, "index", "int8 ranges trained on %zu points", n);
out:
    pthread_rwlock_unlock(&idx->lock);
    vx_free(vecs);
    return rc;
}
