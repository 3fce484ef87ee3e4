/*
 * api_search.c - search routes: POST .../points/query (the endpoint
 * current Qdrant clients use), .../points/query/batch and the older
 * .../points/search and .../points/search/batch. Each search asks every
 * shard for limit + offset candidates, merges them by distance, skips the
 * offset, applies score_threshold and loads payloads and vectors for the
 * survivors. A search with the rerank extension fetches more candidates
 * and hands them to api_rerank.c.
 *
 * Results are cached (result_cache.h, docs/cache.md) under a key made of
 * the route, the collection, the read consistency, every shard's applied
 * Raft index (read after the consistency barrier) and the request body:
 * any write to a shard changes the key of every search over it.
 *
 * Threading: any HTTP thread; shards are searched one after the other on
 * the calling thread.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "gateway/api.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds spent in each phase of one request. */
typedef struct phases {
    double t[GW_PHASE_COUNT];
} phases;

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
        if ((rc = host_shard_get(hs, &pts[i].id, &loaded[i], err)))
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
    if (host_is_remote(api->host)) {
        /* A cluster gateway: up to SCATTER shards at once (their latencies
         * overlap), merged into the best k after each wave: memory stays
         * O(k * SCATTER) whatever the shard count. The waves share the
         * request's timeout; a shard that misses it is left out (partial)
         * or fails the search naming every shard missed. */
        enum { SCATTER = 16 };
        uint32_t wave = ns < SCATTER ? ns : SCATTER;
        unsigned timeout =
            q->timeout_ms ? q->timeout_ms : api->o.request_timeout_ms;
        double deadline = now_s() + timeout / 1000.0;
        shard_hit *all = vx_calloc((size_t)k * (wave + 1), sizeof(*all));
        size_t *counts = vx_calloc(wave, sizeof(*counts));
        unsigned char *missed = vx_calloc(ns, 1);
        uint32_t nmissed = 0;
        if (!all || !counts || !missed) {
            vx_free(all);
            vx_free(counts);
            vx_free(missed);
            return vx_err(err, VECTRON_NOMEM, "search");
        }
        for (uint32_t i0 = 0; i0 < ns && !rc; i0 += wave) {
            uint32_t w = ns - i0 < wave ? ns - i0 : wave;
            shard_hit *buf = all + k; /* the best k so far stay in all[0..) */
            double left = (deadline - now_s()) * 1000.0;
            hsq.timeout_ms = left >= 1 ? (unsigned)left : 1;
            hsq.missed = missed + i0;
            if ((rc = host_search_all(s + i0, w, &hsq, buf, counts, err)))
                break;
            for (uint32_t i = 0; i < w; i++) {
                nmissed += missed[i0 + i];
                memmove(all + nh, buf + (size_t)i * k,
                        counts[i] * sizeof(*all));
                nh += counts[i];
            }
            qsort(all, nh, sizeof(*all), cmp_hit);
            if (nh > k)
                nh = k;
        }
        vx_free(counts);
        if (!rc && nmissed && (!q->partial || !q->missed || nmissed == ns)) {
            char list[160];
            size_t at = 0;
            list[0] = '\0';
            for (uint32_t i = 0; i < ns && at < sizeof list - 16; i++)
                if (missed[i])
                    at += (size_t)snprintf(list + at, sizeof list - at, "%s%u",
                                           at ? ", " : "", i);
            rc = vx_err(err, VECTRON_UNAVAILABLE,
                        "Service unavailable: %u of %u shards of collection "
                        "`%.200s` did not answer within %u ms (shards %s%s)",
                        nmissed, ns, col->name, timeout, list,
                        at >= sizeof list - 16 ? ", ..." : "");
        } else if (!rc && nmissed) {
            for (uint32_t i = 0; i < ns; i++)
                q->missed[i] |= missed[i];
        }
        vx_free(missed);
        if (rc) {
            vx_free(all);
            return rc;
        }
        *out = all;
        *nout = nh;
        return 0;
    }
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
                      const gw_search *q, json_t **out, phases *ph,
                      int *fallback, vectron_error *err)
{
    double t0 = now_s(), t1 = 0;
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

    if (q->kind == GW_QUERY_NONE) {
        rc = list_by_id(col, s, q, out, err);
        ph->t[GW_PHASE_SHARDS] += now_s() - t0;
        return rc;
    }
    if (q->offset >= k) {
        if (!(*out = json_array()))
            return vx_err(err, VECTRON_NOMEM, "search result");
        return 0;
    }
    if (q->kind == GW_QUERY_ID) {
        host_shard *hs = s[host_shard_of(&q->id, ns)];
        if ((rc = host_shard_get(hs, &q->id, &qp, err)))
            return vx_err_wrap(err, rc, "query: point");
        vec = qp.vector;
        exclude = &q->id;
    }
    if (q->rerank.strategy != RERANK_NONE) {
        rc =
            api_rerank_search(api, col, s, q, vec, exclude, out, fallback, err);
        store_point_clear(&qp);
        ph->t[GW_PHASE_RERANK] += now_s() - t0; /* candidates included */
        return rc;
    }
    if ((rc = api_gather(api, col, s, q, vec, exclude, k, &hits, &nh, err)))
        goto out;
    t1 = now_s();
    ph->t[GW_PHASE_SHARDS] += t1 - t0;
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
            rc = host_shard_get(hs, &h->id, &loaded[m], err);
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
    if (t1 > 0)
        ph->t[GW_PHASE_MERGE] += now_s() - t1;
    return rc;
}

/* ---- result cache ------------------------------------------------------ */

static const char result_prefix[] = "{\"result\":";
static const char result_suffix[] = ",\"status\":\"ok\",\"time\":";

/* The cache key of a search over the pinned shards s of col at read
 * consistency level (see the top of this file). *key is vx_malloc'd.
 * Returns 0, or NOMEM (then the request simply bypasses the cache). */
static int cache_key(const api_call *c, const pd_collection *col,
                     host_shard **s, gw_consistency level, char **key,
                     size_t *len)
{
    const char *route = c->req->route ? c->req->route->name : "?";
    size_t rl = strlen(route) + 1, cl = strlen(col->name) + 1;
    uint32_t ns = col->p.shard_number;
    size_t n =
        4 + rl + cl + 8 + 8 + 1 + 4 + 8 * (size_t)ns + 8 + c->req->body_len;
    char *k = vx_malloc(n), *p = k;
    if (!k)
        return VECTRON_NOMEM;
    uint64_t u;
    uint8_t lv = (uint8_t)level;
    memcpy(p, "vxc1", 4), p += 4;
    memcpy(p, route, rl), p += rl;
    memcpy(p, col->name, cl), p += cl;
    memcpy(p, &col->id, 8), p += 8;
    memcpy(p, &col->first_group, 8), p += 8;
    memcpy(p, &lv, 1), p += 1;
    memcpy(p, &ns, 4), p += 4;
    for (uint32_t i = 0; i < ns; i++) {
        u = host_shard_applied(s[i]);
        memcpy(p, &u, 8), p += 8;
    }
    u = c->req->body_len;
    memcpy(p, &u, 8), p += 8;
    memcpy(p, c->req->body, c->req->body_len);
    *key = k;
    *len = n;
    return 0;
}

/* Answers from a cached result text: the envelope api_ok would build, with
 * this request's time. Returns 0, or NOMEM. */
static int respond_cached(api_call *c, const char *text, size_t len)
{
    char tail[64];
    int tl =
        snprintf(tail, sizeof tail, "%s%.9g}", result_suffix, now_s() - c->t0);
    size_t pl = sizeof result_prefix - 1;
    size_t n = pl + len + (size_t)tl;
    char *b = vx_malloc(n + 1);
    if (!b)
        return VECTRON_NOMEM;
    memcpy(b, result_prefix, pl);
    memcpy(b + pl, text, len);
    memcpy(b + pl + len, tail, (size_t)tl + 1);
    vx_free(c->resp->body);
    c->resp->body = b;
    c->resp->len = n;
    c->resp->status = 200;
    c->resp->content_type = "application/json";
    return 0;
}

/* Stores the result part of the response api_ok just built. */
static void cache_store(api_call *c, const char *key, size_t klen)
{
    const char *b = c->resp->body;
    size_t n = c->resp->len, pl = sizeof result_prefix - 1,
           sl = sizeof result_suffix - 1;
    if (c->resp->status != 200 || !b || n < pl + sl ||
        memcmp(b, result_prefix, pl) != 0)
        return;
    /* The envelope ends with the suffix, then the time and "}". */
    for (size_t i = n - sl; i > pl; i--) {
        if (memcmp(b + i, result_suffix, sl) == 0) {
            gw_cache_put(c->api->cache, key, klen, b + pl, i - pl);
            return;
        }
    }
}

static void set_cache_header(api_call *c, const char *outcome)
{
    http_response_header(c->resp, "X-Vectron-Cache", outcome);
}

static void observe(gw_api *api, const phases *ph, int searched)
{
    vx_histogram_observe(api->phase[GW_PHASE_ROUTE], ph->t[GW_PHASE_ROUTE]);
    if (!searched)
        return;
    vx_histogram_observe(api->phase[GW_PHASE_SHARDS], ph->t[GW_PHASE_SHARDS]);
    vx_histogram_observe(api->phase[GW_PHASE_MERGE], ph->t[GW_PHASE_MERGE]);
}

/* The request log's extra members for a search request. */
static void log_extra(api_call *c, const gw_search *q, size_t nsearches,
                      const char *cache)
{
    snprintf(c->resp->log_extra, sizeof c->resp->log_extra,
             "\"cache\":\"%s\",\"searches\":%zu,\"limit\":%u,"
             "\"offset\":%u,\"hnsw_ef\":%u,\"exact\":%s,\"filter\":%s",
             cache, nsearches, q ? q->limit : 0, q ? q->offset : 0,
             q ? q->hnsw_ef : 0, q && q->exact ? "true" : "false",
             q && q->filter ? "true" : "false");
}

/* The cache outcome for the request log. */
static const char *outcome(const api_call *c, int hit, const char *key)
{
    if (hit)
        return "hit";
    if (key)
        return "miss";
    return c->api->cache ? "bypass" : "off";
}

/* Looks the request up in the cache once the shards are pinned and the
 * read point is established. 1: answered from the cache. Otherwise *key
 * (NULL when the cache is off) is for cache_store after the search. */
static int cache_lookup(api_call *c, const pd_collection *col, host_shard **s,
                        gw_consistency level, char **key, size_t *klen)
{
    char *val = NULL;
    size_t vlen = 0;
    *key = NULL;
    /* A body that could not be stored with any result is not worth
     * copying into a key. A cluster gateway keys on the applied indexes it
     * knows (host_shard_applied: its own writes exactly, others' up to a
     * heartbeat late), which is eventual consistency: strong and bounded
     * reads there bypass the cache. */
    if (!c->api->cache ||
        (host_is_remote(c->api->host) && level != GW_CONSISTENCY_EVENTUAL) ||
        c->req->body_len + GW_CACHE_ENTRY_OVERHEAD + 256 >
            gw_cache_max_entry(c->api->cache) ||
        cache_key(c, col, s, level, key, klen))
        return 0;
    if (!gw_cache_get(c->api->cache, *key, *klen, &val, &vlen))
        return 0;
    int rc = respond_cached(c, val, vlen);
    vx_free(val);
    if (rc)
        return 0;
    vx_free(*key);
    *key = NULL;
    return 1;
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

/* The partial-results policy of a search request: ?partial=true|false
 * (default: the search-partial knob) and ?timeout=<seconds> (Qdrant's
 * search timeout; default: the request timeout). *missed gets a zeroed
 * array of the collection's shard count for api_gather to mark. Non-zero:
 * 400 (or 503 out of memory) sent. */
static int read_policy(api_call *c, const pd_collection *col, int *partial,
                       unsigned *timeout_ms, unsigned char **missed)
{
    const char *v = http_query_arg(c->req, "partial");
    *partial = c->api->o.search_partial;
    *timeout_ms = 0;
    *missed = NULL;
    if (v) {
        if (strcmp(v, "true") == 0 || strcmp(v, "") == 0) {
            *partial = 1;
        } else if (strcmp(v, "false") == 0) {
            *partial = 0;
        } else {
            api_fail(c, VECTRON_INVALID, "partial: expected true or false");
            return VECTRON_INVALID;
        }
    }
    if ((v = http_query_arg(c->req, "timeout"))) {
        char *end;
        unsigned long t = strtoul(v, &end, 10);
        if (*v < '0' || *v > '9' || *end || t == 0 || t > 3600) {
            api_fail(c, VECTRON_INVALID,
                     "timeout: expected a whole number of seconds, 1..3600");
            return VECTRON_INVALID;
        }
        *timeout_ms = (unsigned)t * 1000u;
    }
    if (!(*missed = vx_calloc(col->p.shard_number, 1))) {
        api_fail(c, VECTRON_NOMEM, "out of memory");
        return VECTRON_NOMEM;
    }
    return 0;
}

/* After a search answered: the vectron-partial headers when shards were
 * left out (docs/api.md), counted in the metrics. 1 when partial. */
static int flag_partial(api_call *c, const pd_collection *col,
                        const unsigned char *missed)
{
    uint32_t ns = col->p.shard_number, n = 0;
    char list[HTTP_HEADER_SIZE];
    size_t at = 0;
    list[0] = '\0';
    for (uint32_t i = 0; i < ns; i++) {
        if (!missed[i])
            continue;
        n++;
        if (at < sizeof list - 16)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%u",
                                   at ? "," : "", i);
    }
    if (n == 0)
        return 0;
    char text[64];
    snprintf(text, sizeof text, "%u/%u shards missing", n, ns);
    (void)http_response_header(c->resp, "vectron-partial", text);
    (void)http_response_header(c->resp, "vectron-partial-shards", list);
    vx_counter_add(c->api->partial_total, 1);
    vx_counter_add(c->api->partial_shards_total, n);
    return 1;
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
    phases ph = {{0}};
    gw_consistency level;
    char *key = NULL;
    size_t klen = 0;
    unsigned char *missed = NULL;
    double t0 = now_s();
    if (read_policy(&c, &col, &q.partial, &q.timeout_ms, &missed) == 0 &&
        (q.missed = missed) != NULL &&
        api_resolve_consistency(&c, &col, q.consistency, &level) == 0 &&
        api_acquire_shards(&c, &col, &s) == 0 &&
        api_consistency(&c, &col, s, level) == 0) {
        int hit = cache_lookup(&c, &col, s, level, &key, &klen);
        int fallback = 0;
        ph.t[GW_PHASE_ROUTE] = now_s() - t0;
        if (hit) {
            set_cache_header(&c, "hit");
        } else if ((rc = run_search(c.api, &col, s, &q, &res, &ph, &fallback,
                                    &err))) {
            api_fail_err(&c, rc, &err);
        } else {
            double t1 = now_s();
            flag_fallback(&c, fallback);
            api_ok(&c, wrap(res, query, fallback));
            int partial = flag_partial(&c, &col, missed);
            /* A degraded answer (rerank fallback, shards missing) is not
             * kept. */
            if (key && !fallback && !partial) {
                cache_store(&c, key, klen);
                set_cache_header(&c, "miss");
            }
            ph.t[GW_PHASE_MERGE] += now_s() - t1;
        }
        observe(c.api, &ph, !hit);
        log_extra(&c, &q, 1, outcome(&c, hit, key));
    }
    vx_free(key);
    vx_free(missed);
    api_release_shards(&c, &col, s);
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
    phases ph = {{0}};
    char *key = NULL;
    size_t klen = 0;
    unsigned char *missed = NULL;
    int partial = 0;
    unsigned timeout_ms = 0;
    double t0 = now_s();
    if (!all) {
        api_fail(&c, VECTRON_NOMEM, "out of memory");
    } else if (read_policy(&c, &col, &partial, &timeout_ms, &missed) == 0 &&
               strongest(&c, &col, &b, &level) == 0 &&
               api_acquire_shards(&c, &col, &s) == 0 &&
               api_consistency(&c, &col, s, level) == 0) {
        int hit = cache_lookup(&c, &col, s, level, &key, &klen);
        int any_fallback = 0;
        ph.t[GW_PHASE_ROUTE] = now_s() - t0;
        for (size_t i = 0; i < b.count && !rc && !hit; i++) {
            json_t *res = NULL;
            int fallback = 0;
            b.searches[i].partial = partial;
            b.searches[i].timeout_ms = timeout_ms;
            b.searches[i].missed = missed;
            rc = run_search(c.api, &col, s, &b.searches[i], &res, &ph,
                            &fallback, &err);
            if (rc)
                vx_err_wrap(&err, rc, "searches[%zu]", i);
            if (!rc && json_array_append_new(all, wrap(res, query, fallback)))
                rc = vx_err(&err, VECTRON_NOMEM, "batch result");
            any_fallback |= fallback;
        }
        if (hit) {
            set_cache_header(&c, "hit");
        } else if (rc) {
            api_fail_err(&c, rc, &err);
        } else {
            double t1 = now_s();
            flag_fallback(&c, any_fallback);
            api_ok(&c, all);
            all = NULL;
            int was_partial = flag_partial(&c, &col, missed);
            if (key && !any_fallback && !was_partial) {
                cache_store(&c, key, klen);
                set_cache_header(&c, "miss");
            }
            ph.t[GW_PHASE_MERGE] += now_s() - t1;
        }
        observe(c.api, &ph, !hit);
        log_extra(&c, b.count ? &b.searches[0] : NULL, b.count,
                  outcome(&c, hit, key));
    }
    vx_free(key);
    vx_free(missed);
    json_decref(all);
    api_release_shards(&c, &col, s);
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
