/*
 * hnsw_search.c - searching the graph: binary heaps, the greedy descent
 * through upper layers, the beam search on one layer (used by insert, with
 * float distances, and by queries, with float or int8 distances and an
 * optional filter), exact scans, rescoring, and vectron_index_search which
 * picks among them.
 *
 * Threading: see hnsw.h. Searches hold idx->lock shared and read link
 * lists through hnsw_copy_links (the node's stripe lock); they never write
 * shared state except through the visited-set pool.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw.h"

#define DEFAULT_EF_MIN 64
#define DEFAULT_EXACT_SELECTIVITY 0.05f
#define DEFAULT_OVERSAMPLING 2.0f
#define SELECTIVITY_SAMPLE 512

/* ---- heaps: cand is a min-heap, res a max-heap, on hnsw_cand.d ---- */

int hnsw_heap_init(hnsw_heap *h, uint32_t cap)
{
    h->n = 0;
    h->cap = cap < 16 ? 16 : cap;
    h->a = vx_malloc((size_t)h->cap * sizeof *h->a);
    return h->a ? 0 : VECTRON_NOMEM;
}

void hnsw_heap_close(hnsw_heap *h)
{
    vx_free(h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}

/* Returns 0, or -1 when the heap could not grow (the entry is dropped,
 * which only narrows the search). */
static inline int heap_push(hnsw_heap *h, float d, uint32_t s, int max_heap)
{
    uint32_t i;
    if (h->n == h->cap) {
        uint32_t cap = h->cap * 2;
        hnsw_cand *a = vx_realloc(h->a, (size_t)cap * sizeof *a);
        if (!a) {
            return -1;
        }
        h->a = a;
        h->cap = cap;
    }
    i = h->n++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (max_heap ? h->a[p].d >= d : h->a[p].d <= d) {
            break;
        }
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i].d = d;
    h->a[i].s = s;
    return 0;
}

static inline hnsw_cand heap_pop(hnsw_heap *h, int max_heap)
{
    hnsw_cand top = h->a[0], last = h->a[--h->n];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n) {
            break;
        }
        if (c + 1 < h->n && (max_heap ? h->a[c + 1].d > h->a[c].d
                                      : h->a[c + 1].d < h->a[c].d)) {
            c++;
        }
        if (max_heap ? last.d >= h->a[c].d : last.d <= h->a[c].d) {
            break;
        }
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0) {
        h->a[i] = last;
    }
    return top;
}

/* Drains a max-heap into out in ascending order; returns the count. */
static uint32_t heap_drain_sorted(hnsw_heap *h, hnsw_cand *out)
{
    uint32_t n = h->n;
    for (uint32_t i = n; i > 0; i--) {
        out[i - 1] = heap_pop(h, 1);
    }
    return n;
}

/* ---- scratch ---- */

int hnsw_scratch_init(vectron_index *idx, hnsw_scratch *sc, uint32_t ef)
{
    uint32_t n_slots;

    memset(sc, 0, sizeof *sc);
    sc->ef = ef;
    pthread_mutex_lock(&idx->map_lock);
    n_slots = idx->n_slots;
    pthread_mutex_unlock(&idx->map_lock);
    if (hnsw_heap_init(&sc->cand, ef * 2) != 0 ||
        hnsw_heap_init(&sc->res, ef + 1) != 0) {
        goto fail;
    }
    sc->w = vx_malloc((size_t)ef * sizeof *sc->w);
    sc->eps = vx_malloc((size_t)ef * sizeof *sc->eps);
    sc->links = vx_malloc((size_t)idx->m0 * sizeof *sc->links);
    sc->vis = hnsw_visited_get(idx, n_slots + 1);
    if (!sc->w || !sc->eps || !sc->links || !sc->vis) {
        goto fail;
    }
    return 0;
fail:
    hnsw_scratch_close(idx, sc);
    return VECTRON_NOMEM;
}

void hnsw_scratch_close(vectron_index *idx, hnsw_scratch *sc)
{
    hnsw_heap_close(&sc->cand);
    hnsw_heap_close(&sc->res);
    vx_free(sc->w);
    vx_free(sc->eps);
    vx_free(sc->links);
    if (sc->vis) {
        hnsw_visited_put(idx, sc->vis);
    }
    memset(sc, 0, sizeof *sc);
}

/* ---- float search used by insert ---- */

uint32_t hnsw_descend(vectron_index *idx, const float *q, uint32_t ep, int top,
                      int stop)
{
    uint32_t links[VECTRON_MAX_M];
    float best = hnsw_dist_q(idx, q, hnsw_vec(idx, ep));

    for (int l = top; l > stop; l--) {
        int changed = 1;
        while (changed) {
            uint32_t n = hnsw_copy_links(idx, ep, l, links);
            changed = 0;
            for (uint32_t i = 0; i < n; i++) {
                float d = hnsw_dist_q(idx, q, hnsw_vec(idx, links[i]));
                if (d < best) {
                    best = d;
                    ep = links[i];
                    changed = 1;
                }
            }
        }
    }
    return ep;
}

uint32_t hnsw_search_level(vectron_index *idx, hnsw_scratch *sc, const float *q,
                           uint32_t n_eps, int level)
{
    hnsw_heap *cand = &sc->cand, *res = &sc->res;
    hnsw_visited *vis = sc->vis;
    uint32_t ef = sc->ef;

    hnsw_visited_clear(vis); /* each level's search starts afresh */
    cand->n = res->n = 0;
    for (uint32_t i = 0; i < n_eps; i++) {
        uint32_t s = sc->eps[i].s;
        hnsw_visit(vis, s);
        heap_push(cand, sc->eps[i].d, s, 0);
        heap_push(res, sc->eps[i].d, s, 1);
        if (res->n > ef) {
            heap_pop(res, 1);
        }
    }
    while (cand->n > 0) {
        hnsw_cand c = heap_pop(cand, 0);
        uint32_t n, n_todo;
        if (res->n >= ef && c.d > res->a[0].d) {
            break;
        }
        n = hnsw_copy_links(idx, c.s, level, sc->links);
        n_todo = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t t = sc->links[i];
            if (!hnsw_visit(vis, t)) {
                sc->links[n_todo++] = t;
                hnsw_prefetch(hnsw_vec(idx, t), idx->p.dim * sizeof(float));
            }
        }
        for (uint32_t i = 0; i < n_todo; i++) {
            uint32_t t = sc->links[i];
            float d = hnsw_dist_bounded(idx, q, hnsw_vec(idx, t),
                                        res->n < ef ? INFINITY : res->a[0].d);
            if (res->n < ef || d < res->a[0].d) {
                heap_push(cand, d, t, 0);
                heap_push(res, d, t, 1);
                if (res->n > ef) {
                    heap_pop(res, 1);
                }
            }
        }
    }
    return heap_drain_sorted(res, sc->w);
}

/* ---- query search ---- */

typedef struct query_ctx {
    vectron_index *idx;
    const float *q;        /* prepared float query */
    const quant_query *qq; /* non-NULL: traverse with int8 codes */
    const vectron_search_params *sp;
    const uint64_t *allow; /* sorted copy of sp->allow, or NULL */
    size_t n_allow;
    int check; /* filter or tombstones present: test each node */
} query_ctx;

static inline float node_dist_bounded(const query_ctx *c, uint32_t s,
                                      float bound)
{
    if (c->qq) {
        return quant_distance(c->qq, c->idx->k, hnsw_code(c->idx, s),
                              c->idx->p.dim);
    }
    return hnsw_dist_bounded(c->idx, c->q, hnsw_vec(c->idx, s), bound);
}

static inline float node_dist(const query_ctx *c, uint32_t s)
{
    if (c->qq) {
        return quant_distance(c->qq, c->idx->k, hnsw_code(c->idx, s),
                              c->idx->p.dim);
    }
    return hnsw_dist_q(c->idx, c->q, hnsw_vec(c->idx, s));
}

static int in_sorted(const uint64_t *a, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && a[lo] == id;
}

/* May s appear in results? Live and passing the filter. */
static inline int node_ok(const query_ctx *c, uint32_t s)
{
    uint64_t id;
    if (!c->check) {
        /* No filter and no tombstones when the search began: every linked
         * node is live. Deletes racing with the search are dropped by the
         * final check in vectron_index_search. */
        return 1;
    }
    if (hnsw_flags(c->idx, s) != HNSW_F_USED) {
        return 0;
    }
    if (!c->sp->filter && !c->allow) {
        return 1;
    }
    id = hnsw_id(c->idx, s);
    if (c->allow && !in_sorted(c->allow, c->n_allow, id)) {
        return 0;
    }
    return !c->sp->filter || c->sp->filter(id, c->sp->filter_arg);
}

static inline void prefetch_node(const query_ctx *c, uint32_t s)
{
    if (c->qq) {
        hnsw_prefetch(hnsw_code(c->idx, s), c->idx->p.dim);
    } else {
        hnsw_prefetch(hnsw_vec(c->idx, s), c->idx->p.dim * sizeof(float));
    }
}

/* Greedy descent with the query's distance (float or int8). */
static uint32_t query_descend(const query_ctx *c, hnsw_scratch *sc, uint32_t ep,
                              int top)
{
    float best = node_dist(c, ep);
    for (int l = top; l > 0; l--) {
        int changed = 1;
        while (changed) {
            uint32_t n = hnsw_copy_links(c->idx, ep, l, sc->links);
            changed = 0;
            for (uint32_t i = 0; i < n; i++) {
                float d = node_dist(c, sc->links[i]);
                if (d < best) {
                    best = d;
                    ep = sc->links[i];
                    changed = 1;
                }
            }
        }
    }
    return ep;
}

/* Beam search on layer 0 from ep keeping ef filtered results; returns
 * their count in sc->w, ascending. */
static uint32_t query_layer0(const query_ctx *c, hnsw_scratch *sc, uint32_t ep)
{
    hnsw_heap *cand = &sc->cand, *res = &sc->res;
    hnsw_visited *vis = sc->vis;
    uint32_t ef = sc->ef;
    float d = node_dist(c, ep);
    uint32_t todo[2 * VECTRON_MAX_M];

    cand->n = res->n = 0;
    hnsw_visit(vis, ep);
    heap_push(cand, d, ep, 0);
    if (node_ok(c, ep)) {
        heap_push(res, d, ep, 1);
    }
    while (cand->n > 0) {
        hnsw_cand cur = heap_pop(cand, 0);
        uint32_t n, n_todo = 0;
        if (res->n >= ef && cur.d > res->a[0].d) {
            break;
        }
        n = hnsw_copy_links(c->idx, cur.s, 0, sc->links);
        if (cand->n > 0) {
            /* The likely next expansion: fetch its links meanwhile. */
            hnsw_prefetch(hnsw_links(c->idx, cand->a[0].s, 0),
                          c->idx->link0_stride * sizeof(uint32_t));
        }
        for (uint32_t i = 0; i < n; i++) {
            uint32_t t = sc->links[i];
            if (!hnsw_visit(vis, t)) {
                todo[n_todo++] = t;
                prefetch_node(c, t);
            }
        }
        for (uint32_t i = 0; i < n_todo; i++) {
            uint32_t t = todo[i];
            d = node_dist_bounded(c, t, res->n < ef ? INFINITY : res->a[0].d);
            if (res->n < ef || d < res->a[0].d) {
                heap_push(cand, d, t, 0);
                if (node_ok(c, t)) {
                    heap_push(res, d, t, 1);
                    if (res->n > ef) {
                        heap_pop(res, 1);
                    }
                }
            }
        }
    }
    return heap_drain_sorted(res, sc->w);
}

/* Exact scan: the best `want` allowed points by float distance, into
 * sc->w (capacity sc->ef >= want), ascending. */
static uint32_t exact_scan(const query_ctx *c, hnsw_scratch *sc, uint32_t want,
                           uint32_t n_slots)
{
    hnsw_heap *res = &sc->res;
    vectron_index *idx = c->idx;

    res->n = 0;
    if (c->allow) {
        /* Visit only the listed ids. */
        for (size_t i = 0; i < c->n_allow; i++) {
            uint32_t s;
            if (i > 0 && c->allow[i] == c->allow[i - 1]) {
                continue;
            }
            pthread_mutex_lock(&idx->map_lock);
            s = hnsw_map_get(idx, c->allow[i]);
            pthread_mutex_unlock(&idx->map_lock);
            if (s == HNSW_NONE || s >= n_slots || !hnsw_live(idx, s) ||
                !node_ok(c, s)) {
                continue;
            }
            float d = hnsw_dist_q(idx, c->q, hnsw_vec(idx, s));
            if (res->n < want || d < res->a[0].d) {
                heap_push(res, d, s, 1);
                if (res->n > want) {
                    heap_pop(res, 1);
                }
            }
        }
    } else {
        for (uint32_t s = 0; s < n_slots; s++) {
            if (!hnsw_live(idx, s) || !node_ok(c, s)) {
                continue;
            }
            float d = hnsw_dist_q(idx, c->q, hnsw_vec(idx, s));
            if (res->n < want || d < res->a[0].d) {
                heap_push(res, d, s, 1);
                if (res->n > want) {
                    heap_pop(res, 1);
                }
            }
        }
    }
    return heap_drain_sorted(res, sc->w);
}

/* Estimated fraction of live points passing the filter. */
static float estimate_selectivity(const query_ctx *c, uint32_t n_slots,
                                  size_t live)
{
    float sel = 1.0f;
    if (live == 0) {
        return 0.0f;
    }
    if (c->allow) {
        sel = (float)c->n_allow / (float)live;
    }
    if (c->sp->filter && n_slots > 0) {
        /* A deterministic spread sample of slots. */
        uint32_t seen = 0, pass = 0;
        uint64_t step =
            n_slots > SELECTIVITY_SAMPLE ? n_slots / SELECTIVITY_SAMPLE : 1;
        for (uint64_t s = 0; s < n_slots && seen < SELECTIVITY_SAMPLE;
             s += step) {
            if (hnsw_flags(c->idx, (uint32_t)s) != HNSW_F_USED) {
                continue;
            }
            seen++;
            pass += node_ok(c, (uint32_t)s) ? 1 : 0;
        }
        if (seen > 0 && (float)pass / (float)seen < sel) {
            sel = (float)pass / (float)seen;
        }
    }
    return sel;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int check_search(const vectron_index *idx, const float *query,
                        const vectron_search_params *sp, vectron_hit *out,
                        size_t *n_out, vectron_error *err)
{
    if (!sp || !query || !out || !n_out) {
        return vx_err(err, VECTRON_INVALID, "search: NULL argument");
    }
    if (sp->k < 1 || sp->k > VECTRON_MAX_K) {
        return vx_err(err, VECTRON_INVALID, "search: k = %u out of range 1..%u",
                      sp->k, VECTRON_MAX_K);
    }
    if (sp->ef != 0 && (sp->ef < sp->k || sp->ef > VECTRON_MAX_EF)) {
        return vx_err(err, VECTRON_INVALID,
                      "search: ef = %u out of range k (%u)..%u", sp->ef, sp->k,
                      VECTRON_MAX_EF);
    }
    if (sp->n_allow > 0 && !sp->allow) {
        return vx_err(err, VECTRON_INVALID, "search: allow-list is NULL");
    }
    if (!(sp->oversampling <= 1000.0f) || isnan(sp->exact_selectivity)) {
        return vx_err(err, VECTRON_INVALID,
                      "search: oversampling or exact_selectivity out of range");
    }
    (void)idx;
    return 0;
}

int vectron_index_search(const vectron_index *cidx, const float *query,
                         const vectron_search_params *sp, vectron_hit *out,
                         size_t *n_out, vectron_error *err)
{
    vectron_index *idx = (vectron_index *)cidx;
    query_ctx c;
    hnsw_scratch sc;
    quant_query qq;
    float *q = NULL;
    uint64_t *allow = NULL;
    uint32_t k, ef, want, n = 0, n_slots, entry;
    int rc, top, have_sc = 0, have_qq = 0, int8 = 0;
    size_t live;
    float oversampling, exact_sel;

    if ((rc = check_search(cidx, query, sp, out, n_out, err)) != 0) {
        return rc;
    }
    *n_out = 0;
    k = sp->k;
    ef = sp->ef ? sp->ef : (k > DEFAULT_EF_MIN ? k : DEFAULT_EF_MIN);
    oversampling =
        sp->oversampling >= 1.0f ? sp->oversampling : DEFAULT_OVERSAMPLING;
    exact_sel = sp->exact_selectivity >= 0.0f ? sp->exact_selectivity
                                              : DEFAULT_EXACT_SELECTIVITY;
    q = vx_malloc(idx->p.dim * sizeof(float));
    if (!q) {
        rc = vx_err(err, VECTRON_NOMEM, "search: out of memory");
        goto out;
    }
    if ((rc = hnsw_prepare_vector(idx, query, q, err)) != 0) {
        vx_err_wrap(err, rc, "search: query");
        goto out;
    }
    if (sp->n_allow > 0) {
        allow = vx_malloc(sp->n_allow * sizeof *allow);
        if (!allow) {
            rc = vx_err(err, VECTRON_NOMEM, "search: out of memory");
            goto out;
        }
        memcpy(allow, sp->allow, sp->n_allow * sizeof *allow);
        qsort(allow, sp->n_allow, sizeof *allow, cmp_u64);
    }

    pthread_rwlock_rdlock(&idx->lock);
    int8 = idx->p.quant == VECTRON_QUANT_INT8 && idx->qz.trained && !sp->exact;
    want = k;
    if (int8 && sp->rescore) {
        double w = ceil((double)k * oversampling);
        want = w > VECTRON_MAX_EF ? VECTRON_MAX_EF : (uint32_t)w;
    }
    if (ef < want) {
        ef = want;
    }
    if ((rc = hnsw_scratch_init(idx, &sc, ef)) != 0) {
        pthread_rwlock_unlock(&idx->lock);
        rc = vx_err(err, rc, "search: out of memory");
        goto out;
    }
    have_sc = 1;
    if (int8) {
        if (quant_query_init(&qq, idx->p.dim) != 0) {
            pthread_rwlock_unlock(&idx->lock);
            rc = vx_err(err, VECTRON_NOMEM, "search: out of memory");
            goto out;
        }
        have_qq = 1;
        quant_prepare(&idx->qz, q, &qq);
    }
    c.idx = idx;
    c.q = q;
    c.qq = int8 ? &qq : NULL;
    c.sp = sp;
    c.allow = sp->n_allow > 0 || sp->allow ? allow : NULL;
    c.n_allow = sp->n_allow;
    if (sp->allow && sp->n_allow == 0) {
        /* An empty allow-list allows nothing. */
        pthread_rwlock_unlock(&idx->lock);
        goto out;
    }

    pthread_mutex_lock(&idx->map_lock);
    n_slots = idx->n_slots;
    live = idx->map.live;
    c.check = sp->filter || c.allow || idx->n_deleted > 0;
    pthread_mutex_unlock(&idx->map_lock);
    pthread_mutex_lock(&idx->entry_lock);
    entry = idx->entry;
    top = idx->max_level;
    pthread_mutex_unlock(&idx->entry_lock);
    if (n_slots > sc.vis->size) {
        n_slots = sc.vis->size;
    }

    if (sp->exact || entry == HNSW_NONE ||
        ((sp->filter || c.allow) &&
         estimate_selectivity(&c, n_slots, live) < exact_sel)) {
        n = exact_scan(&c, &sc, k, n_slots);
        int8 = 0;
    } else {
        uint32_t ep = query_descend(&c, &sc, entry, top);
        n = query_layer0(&c, &sc, ep);
        if (n < k && n < live) {
            /* The walk found fewer results than exist (a restrictive
             * filter, or tombstones): fall back to an exact scan, so a
             * filter never silently returns fewer than k. */
            n = exact_scan(&c, &sc, k, n_slots);
            int8 = 0;
        }
    }
    if (int8 && sp->rescore) {
        /* Rescore the int8 candidates with float vectors, fetched all at
         * once so their memory latencies overlap. */
        for (uint32_t i = 0; i < n; i++) {
            hnsw_prefetch(hnsw_vec(idx, sc.w[i].s), idx->p.dim * sizeof(float));
        }
        for (uint32_t i = 0; i < n; i++) {
            sc.w[i].d = hnsw_dist_q(idx, q, hnsw_vec(idx, sc.w[i].s));
        }
        qsort(sc.w, n, sizeof *sc.w, hnsw_cmp_cand);
    }
    {
        /* Drop points deleted or replaced while the search ran (see the
         * flag ordering in vectron_index_add): no id appears twice. */
        uint32_t kept = 0;
        for (uint32_t i = 0; i < n && kept < k; i++) {
            if (hnsw_flags(idx, sc.w[i].s) == HNSW_F_USED) {
                out[kept].id = hnsw_id(idx, sc.w[i].s);
                out[kept].distance = sc.w[i].d;
                kept++;
            }
        }
        *n_out = kept;
    }
    pthread_rwlock_unlock(&idx->lock);
out:
    if (have_qq) {
        quant_query_close(&qq);
    }
    if (have_sc) {
        hnsw_scratch_close(idx, &sc);
    }
    vx_free(allow);
    vx_free(q);
    return rc;
}
