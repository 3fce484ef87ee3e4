/*
 * api_search.c - search routes: POST .../points/query (the endpoint
 * current Qdrant clients use), .../points/query/batch and the older
 * .../points/search and .../points/search/batch. Each search asks every
 * shard for limit + offset candidates, merges them by distance, skips the
 * offset, applies score_threshold and loads payloads and vectors for the
 * survivors. A search with the rerank extension fetches more candidates
 * and hands them to api_rerank.c.
 *
 * Threading: any HTTP thread; shards are searched one after the other on
 * the calling thread.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "gateway/api.h"

static int cmp_hit(const void *a, const void *b)
{
    const shard_hit *x = a, *y = b;
    if (x->distance != y->distance)
        return x->distance < y->distance ? -1 : 1;
    return point_id_cmp(&x->id, &y->id);
}

/* Collects up to `want` ids in id order (a query without a vector). */
typedef struct id_page {
    point_id *ids;
    size_t n, want;
} id_page;

static int collect(void *arg, const store_point_view *p, vectron_error *err)
{
    id_page *pg = arg;
    (void)err;
    if (pg->n == pg->want)
        return STORE_SCAN_STOP;
    pg->ids[pg->n++] = p->id;
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    return point_id_cmp(a, b);
}

/* A query without a vector lists the matching points in id order (as
 * Qdrant does), with score 0. */
static int list_by_id(const pd_collection *col, host_shard **s,
                      const gw_search *q, json_t **out, vectron_error *err)
{
    uint32_t ns = col->p.shard_number;
    size_t want = (size_t)q->limit + q->offset, total = 0, n = 0;
    point_id *ids = vx_calloc(want * ns + 1, sizeof(*ids));
    gw_point_out *pts = NULL;
    store_point *loaded = NULL;
    int rc = 0;
    if (!ids)
        return vx_err(err, VECTRON_NOMEM, "query");
    for (uint32_t i = 0; i < ns && !rc; i++) {
        id_page pg = {.ids = ids + total, .want = want};
        rc = host_shard_scan(s[i], q->filter, NULL, collect, &pg, err);
        total += pg.n;
    }
    if (rc)
        goto out;
    qsort(ids, total, sizeof(*ids), cmp_id);
    size_t first = q->offset < total ? q->offset : total;
    n = total - first < q->limit ? total - first : q->limit;
    pts = vx_calloc(n + 1, sizeof(*pts));
    loaded = vx_calloc(n + 1, sizeof(*loaded));
    if (!pts || !loaded) {
        rc = vx_err(err, VECTRON_NOMEM, "query");
        goto out;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        pts[i].id = ids[first + i];
        if (q->with_payload.mode == GW_PAYLOAD_NONE && !q->with_vector)
            continue;
        host_shard *hs = s[host_shard_of(&pts[i].id, ns)];
        if ((rc = store_get(shard_store(host_shard_shard(hs)), NULL, &pts[i].id,
                            &loaded[i], err)))
            break;
        if (q->with_vector) {
            pts[i].vector = loaded[i].vector;
            pts[i].dim = loaded[i].dim;
        }
        rc = api_payload(loaded[i].payload, loaded[i].payload_len,
                         &q->with_payload, &pts[i].payload, err);
    }
    if (!rc && !(*out = gw_json_scored_points(pts, n)))
        rc = vx_err(err, VECTRON_NOMEM, "query result");
out:
    for (size_t i = 0; pts && loaded && i < n; i++) {
        json_decref(pts[i].payload);
        store_point_clear(&loaded[i]);
    }
    vx_free(pts);
    vx_free(loaded);
    vx_free(ids);
    return rc;
}

int api_gather(gw_api *api, const pd_collection *col, host_shard **s,
               const gw_search *q, const float *vec, const point_id *exclude,
               uint32_t k, shard_hit **out, size_t *nout, vectron_error *err)
{
    uint32_t ns = col->p.shard_number;
    size_t nh = 0;
    int rc = 0;
    host_search hsq = {
        .vector = vec,
        .k = k,
        .ef = q->hnsw_ef ? q->hnsw_ef : api->o.default_hnsw_ef,
        .exact = q->exact,
        .filter = q->filter,
        .rescore = q->rescore,
        .oversampling = q->oversampling > 0 ? (float)q->oversampling
                                            : api->o.default_oversampling,
        .exact_selectivity = api->o.exact_selectivity,
        .exclude = exclude,
    };
    *out = NULL;
    *nout = 0;
    if (hsq.ef < k)
        hsq.ef = k;
    /* Room for the best k so far plus one shard's k: memory stays O(k)
     * whatever the shard count. */
    shard_hit *hits = vx_calloc((size_t)k * (ns > 1 ? 2 : 1), sizeof(*hits));
    if (!hits)
        return vx_err(err, VECTRON_NOMEM, "search");
    for (uint32_t i = 0; i < ns; i++) {
        size_t got = 0;
        if ((rc = host_shard_search(s[i], &hsq, hits + nh, &got, err))) {
            vx_free(hits);
            return rc;
        }
        nh += got;
        if (nh > k) {
            qsort(hits, nh, sizeof(*hits), cmp_hit);
            nh = k;
        }
    }
    qsort(hits, nh, sizeof(*hits), cmp_hit);
    *out = hits;
    *nout = nh;
    return 0;
}

/* Runs search q over the shards s of col; *out gets a JSON array of
 * scored points. A search with a rerank strategy goes to api_rerank.c,
 * which sets *fallback when the reranker failed and the search order was
 * kept. */
static int run_search(gw_api *api, const pd_collection *col, host_shard **s,
                      const gw_search *q, json_t **out, int *fallback,
                      vectron_error *err)
{
    uint32_t ns = col->p.shard_number;
    /* The index ranks at most VECTRON_MAX_K points per search; ranks past
     * that (a large offset) are empty. */
    uint32_t k = q->limit + q->offset;
    if (k > VECTRON_MAX_K)
        k = VECTRON_MAX_K;
    store_point qp = {0};
    const float *vec = q->vector;
    const point_id *exclude = NULL;
    shard_hit *hits = NULL;
    gw_point_out *pts = NULL;
    store_point *loaded = NULL;
    size_t nh = 0, n = 0;
    int rc = 0;
    *out = NULL;

    if (q->kind == GW_QUERY_NONE)
        return list_by_id(col, s, q, out, err);
    if (q->offset >= k) {
        if (!(*out = json_array()))
            return vx_err(err, VECTRON_NOMEM, "search result");
        return 0;
    }
    if (q->kind == GW_QUERY_ID) {
        host_shard *hs = s[host_shard_of(&q->id, ns)];
        if ((rc = store_get(shard_store(host_shard_shard(hs)), NULL, &q->id,
                            &qp, err)))
            return vx_err_wrap(err, rc, "query: point");
        vec = qp.vector;
        exclude = &q->id;
    }
    if (q->rerank.strategy != RERANK_NONE) {
        rc =
            api_rerank_search(api, col, s, q, vec, exclude, out, fallback, err);
        store_point_clear(&qp);
        return rc;
    }
    if ((rc = api_gather(api, col, s, q, vec, exclude, k, &hits, &nh, err)))
        goto out;
    size_t first = q->offset < nh ? q->offset : nh;
    size_t avail = nh - first;
    n = avail < q->limit ? avail : q->limit;
    pts = vx_calloc(n ? n : 1, sizeof(*pts));
    loaded = vx_calloc(n ? n : 1, sizeof(*loaded));
    if (!pts || !loaded) {
        rc = vx_err(err, VECTRON_NOMEM, "search");
        goto out;
    }
    size_t m = 0;
    int euclid = col->p.metric == VECTRON_METRIC_L2;
    for (size_t i = 0; i < n; i++) {
        const shard_hit *h = &hits[first + i];
        float score = api_score(col->p.metric, h->distance);
        if (q->has_score_threshold &&
            (euclid ? score > q->score_threshold : score < q->score_threshold))
            break; /* hits are sorted: the rest are worse */
        gw_point_out *p = &pts[m];
        p->id = h->id;
        p->score = score;
        if (q->with_payload.mode != GW_PAYLOAD_NONE || q->with_vector) {
            host_shard *hs = s[host_shard_of(&h->id, ns)];
            rc = store_get(shard_store(host_shard_shard(hs)), NULL, &h->id,
                           &loaded[m], err);
            if (rc == VECTRON_NOT_FOUND) { /* deleted since: leave it out */
                rc = 0;
                continue;
            }
            if (rc)
                goto out;
            if (q->with_vector) {
                p->vector = loaded[m].vector;
                p->dim = loaded[m].dim;
            }
            if ((rc = api_payload(loaded[m].payload, loaded[m].payload_len,
                                  &q->with_payload, &p->payload, err)))
                goto out;
        }
        m++;
    }
    n = m;
    if (!(*out = gw_json_scored_points(pts, n)))
        rc = vx_err(err, VECTRON_NOMEM, "search result");
out:
    for (size_t i = 0; pts && loaded && i < n; i++) {
        json_decref(pts[i].payload);
        store_point_clear(&loaded[i]);
    }
    vx_free(pts);
    vx_free(loaded);
    vx_free(hits);
    store_point_clear(&qp);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The slow-query log (knob slow-query-ms). */
static void log_if_slow(const api_call *c, const pd_collection *col,
                        const gw_search *q, size_t nsearches)
{
    double ms = (now_s() - c->t0) * 1e3;
    if (!c->api->o.slow_query_ms || ms < (double)c->api->o.slow_query_ms)
        return;
    vx_log(VECTRON_LOG_WARN, "slow-query",
           "route=%s collection=%s ms=%.1f searches=%zu limit=%u offset=%u "
           "hnsw_ef=%u exact=%d filter=%s",
           c->req->route ? c->req->route->name : "?", col->name, ms, nsearches,
           q ? q->limit : 0, q ? q->offset : 0, q ? q->hnsw_ef : 0,
           q ? q->exact : 0, q && q->filter ? "yes" : "no");
}

typedef int (*decode_one_fn)(const char *body, size_t len, uint32_t dim,
                             const gw_limits *lim, gw_search *out,
                             vectron_error *err);
typedef int (*decode_batch_fn)(const char *body, size_t len, uint32_t dim,
                               const gw_limits *lim, gw_search_batch *out,
                               vectron_error *err);

/* query: wrap each result as {"points": [...]} (plus "rerank_fallback":
 * true when the reranker failed and the search order was kept); search:
 * the bare list. */
static json_t *wrap(json_t *points, int query, int fallback)
{
    if (!query || !points)
        return points;
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "points", points) ||
        (fallback && json_object_set_new(o, "rerank_fallback", json_true()))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The response header that flags a rerank fallback (any endpoint). */
static void flag_fallback(api_call *c, int fallback)
{
    if (fallback)
        (void)http_response_header(c->resp, "Vectron-Rerank", "fallback");
}

static void single(void *ctx, const http_request *r, http_response *w,
                   decode_one_fn decode, int query)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    pd_collection col;
    host_shard **s = NULL;
    vectron_error err = {0};
    gw_search q;
    if (api_collection(&c, &col))
        return;
    int rc =
        decode(r->body, r->body_len, col.p.dim, &c.api->o.limits, &q, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    json_t *res = NULL;
    if (api_acquire_shards(&c, &col, &s) == 0 &&
        api_consistency(&c, &col, s, q.consistency) == 0) {
        int fallback = 0;
        if ((rc = run_search(c.api, &col, s, &q, &res, &fallback, &err))) {
            api_fail_err(&c, rc, &err);
        } else {
            flag_fallback(&c, fallback);
            api_ok(&c, wrap(res, query, fallback));
        }
        log_if_slow(&c, &col, &q, 1);
    }
    api_release_shards(&col, s);
    gw_search_close(&q);
}

/* One read point for the whole batch: the strongest consistency any
 * search runs at, each resolved on its own (its field, else the URL
 * parameter, else the collection's default). Non-zero: 400 sent. */
static int strongest(api_call *c, const pd_collection *col,
                     const gw_search_batch *b, gw_consistency *out)
{
    static const int rank[] = {[GW_CONSISTENCY_DEFAULT] = 0,
                               [GW_CONSISTENCY_EVENTUAL] = 1,
                               [GW_CONSISTENCY_BOUNDED] = 2,
                               [GW_CONSISTENCY_STRONG] = 3};
    *out = GW_CONSISTENCY_EVENTUAL;
    for (size_t i = 0; i < b->count; i++) {
        gw_consistency r;
        int rc =
            api_resolve_consistency(c, col, b->searches[i].consistency, &r);
        if (rc)
            return rc;
        if (rank[r] > rank[*out])
            *out = r;
    }
    return 0;
}

static void batch(void *ctx, const http_request *r, http_response *w,
                  decode_batch_fn decode, int query)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    pd_collection col;
    host_shard **s = NULL;
    vectron_error err = {0};
    gw_search_batch b;
    gw_consistency level;
    if (api_collection(&c, &col))
        return;
    int rc =
        decode(r->body, r->body_len, col.p.dim, &c.api->o.limits, &b, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    json_t *all = json_array();
    if (!all) {
        api_fail(&c, VECTRON_NOMEM, "out of memory");
    } else if (strongest(&c, &col, &b, &level) == 0 &&
               api_acquire_shards(&c, &col, &s) == 0 &&
               api_consistency(&c, &col, s, level) == 0) {
        int any_fallback = 0;
        for (size_t i = 0; i < b.count && !rc; i++) {
            json_t *res = NULL;
            int fallback = 0;
            rc = run_search(c.api, &col, s, &b.searches[i], &res, &fallback,
                            &err);
            if (rc)
                vx_err_wrap(&err, rc, "searches[%zu]", i);
            if (!rc && json_array_append_new(all, wrap(res, query, fallback)))
                rc = vx_err(&err, VECTRON_NOMEM, "batch result");
            any_fallback |= fallback;
        }
        if (rc) {
            api_fail_err(&c, rc, &err);
        } else {
            flag_fallback(&c, any_fallback);
            api_ok(&c, all);
            all = NULL;
        }
        log_if_slow(&c, &col, b.count ? &b.searches[0] : NULL, b.count);
    }
    json_decref(all);
    api_release_shards(&col, s);
    gw_search_batch_close(&b);
}

void gw_api_query(void *ctx, const http_request *r, http_response *w)
{
    single(ctx, r, w, gw_decode_query, 1);
}

void gw_api_search(void *ctx, const http_request *r, http_response *w)
{
    single(ctx, r, w, gw_decode_search, 0);
}

void gw_api_query_batch(void *ctx, const http_request *r, http_response *w)
{
    batch(ctx, r, w, gw_decode_query_batch, 1);
}

void gw_api_search_batch(void *ctx, const http_request *r, http_response *w)
{
    batch(ctx, r, w, gw_decode_search_batch, 0);
}
