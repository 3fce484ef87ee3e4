/*
 * api.h - the REST API's route handlers (Qdrant-compatible endpoints plus
 * Vectron's extensions; docs/api.md) over the node's catalog and hosted
 * shards. The handlers validate every request fully (dimension, finite
 * numbers, ids, limits) before anything is submitted to Raft, split
 * writes by shard, scatter reads to every shard of a collection and merge
 * the results.
 *
 * Files: api.c (shared helpers, service routes, the route table),
 * api_collections.c, api_points.c (writes, retrieve, scroll, count),
 * api_search.c (query and search, single and batch), api_keys.c (API
 * keys). Authentication and access control run before the handlers, in
 * the HTTP server's guard (auth.h), from each route's access and
 * collection_param.
 *
 * Threading: handlers run on the HTTP server's threads, any number at
 * once. Collection creation and deletion are serialised by api->ctl_mu;
 * everything else runs concurrently (the catalog, the host and the shards
 * are thread-safe).
 *
 * Prefix: gw_api_ (cross-file), api_ (this module's internals).
 */
#ifndef VECTRON_GW_API_H
#define VECTRON_GW_API_H

#include <pthread.h>
#include <stdint.h>

#include "common/metrics.h"
#include "gateway/http.h"
#include "gateway/qdrant_json.h"
#include "gateway/result_cache.h"
#include "gateway/session_token.h"
#include "pd/catalog.h"
#include "raft/raft_node.h"
#include "rerank/rerank.h"
#include "worker/host.h"

#define VECTRON_VERSION "0.1.0"

typedef struct gw_api_options {
    gw_limits limits;
    unsigned request_timeout_ms; /* how long a write waits for Raft */
    uint32_t default_m, default_ef_construction;
    uint32_t default_hnsw_ef;     /* queries without hnsw_ef */
    float exact_selectivity;      /* filter planner knob */
    float default_oversampling;   /* int8 rescoring */
    int search_partial;           /* searches without ?partial=: answer
                                     with the shards that answered */
    uint64_t max_collections;     /* creating one more is refused */
    const char *reranker_url;     /* rerank service endpoint; NULL:
                                     rerank in-process (borrowed) */
    unsigned reranker_timeout_ms; /* default timeout of a service call */
} gw_api_options;

/* The phases of a search, the label values of
 * vectron_search_phase_seconds{phase} (docs/metrics.md). */
enum gw_search_phase {
    GW_PHASE_ROUTE = 0, /* shards pinned, read barrier, cache lookup */
    GW_PHASE_SHARDS,    /* the per-shard searches (graph and pending) */
    GW_PHASE_MERGE,     /* merge by distance, payloads, response body */
    GW_PHASE_RERANK,    /* the reranker */
    GW_PHASE_COUNT
};

/* Idle HTTP clients kept for the rerank service (api_rerank_remote.c). */
#define GW_RERANK_POOL 16

struct vx_http_client;

typedef struct gw_api {
    gw_api_options o;
    vxr_node *node;
    pd_catalog *catalog;
    host *host;
    vx_metrics *metrics;      /* may be NULL */
    gw_cache *cache;          /* search result cache; NULL: off (borrowed) */
    struct gw_reqlog *reqlog; /* for its /metrics counters; may be NULL */
    /* vectron_search_phase_seconds series (NULL without metrics), set by
     * gw_api_metrics_init. */
    vx_histogram *phase[GW_PHASE_COUNT];
    /* vectron_search_partial_total, vectron_search_partial_shards_total
     * (NULL without metrics). */
    vx_counter *partial_total, *partial_shards_total;
    pthread_mutex_t ctl_mu;
    volatile int ready; /* all shards open: /readyz answers 200 */
    /* Rerank metrics (NULL handles when metrics are off) and the service
     * clients' pool; rerank_mu must be initialised by whoever sets up
     * the struct, and gw_api_rerank_close frees the pool. */
    struct {
        vx_counter *in_process, *service;
        vx_counter *fallback_timeout, *fallback_error;
    } rerank_m;
    pthread_mutex_t rerank_mu;
    struct vx_http_client *rerank_pool[GW_RERANK_POOL];
    size_t rerank_npool;
} gw_api;

/* The route table (static storage). */
const http_route *gw_api_routes(size_t *n);

/* ---- shared by the api_*.c files ---------------------------------------- */

/* A request in progress: its start time for the envelope's "time". */
typedef struct api_call {
    gw_api *api;
    const http_request *req;
    http_response *resp;
    double t0;
    /* The request's session token (vectron-session), parsed by
     * api_acquire_shards; sess.n 0 when none was sent. */
    gw_session sess;
} api_call;

void api_begin(api_call *c, void *ctx, const http_request *req,
               http_response *resp);
/* Sends {"result": result, ...} (result stolen). */
void api_ok(api_call *c, json_t *result);
/* Sends the error envelope with the status for code. */
void api_fail(api_call *c, int code, const char *msg);
void api_fail_err(api_call *c, int code, const vectron_error *err);

/* Looks up the collection named by the first path parameter; on failure
 * the 404 is already sent and it returns non-zero. */
int api_collection(api_call *c, pd_collection *out);

/* The wait query parameter (default true: DESIGN section 4). -1 on a bad
 * value (400 sent). */
int api_wait(api_call *c);

/* Pins every shard of col into s[0..shard_number) (allocated; free with
 * api_release_shards) and parses the request's session token
 * (vectron-session, docs/formats/session-token.md). On failure sends the
 * error (503; 400 for a malformed token or one of another collection;
 * 431 for one over GW_SESSION_MAX_TEXT bytes) and returns non-zero. */
int api_acquire_shards(api_call *c, const pd_collection *col, host_shard ***s);

/* Releases the shards. When the response is a 200, first adds the
 * vectron-session header: per shard, the larger of the request token's
 * index and host_shard_seen (what this request's reads and writes
 * reflect). s NULL: only frees the token. */
void api_release_shards(api_call *c, const pd_collection *col, host_shard **s);

/* The consistency a read runs at: want when given, else the request's
 * ?consistency= parameter, else the collection's default. A bad parameter
 * sends 400 and returns non-zero. */
int api_resolve_consistency(api_call *c, const pd_collection *col,
                            gw_consistency want, gw_consistency *out);

/* Applies the read consistency (resolved as above): a barrier on every
 * shard for strong; for bounded, the session token's index per shard
 * (remote: host_shard_set_min_applied; local: the shard must have
 * applied it, after a barrier if needed, else 503). */
int api_consistency(api_call *c, const pd_collection *col, host_shard **s,
                    gw_consistency want);

/* Replicates command i to shard s[i] (host_write, all in flight at once)
 * and sends the update result or the error. */
void api_replicate(api_call *c, size_t n, host_shard *const *s,
                   const uint8_t *const *bufs, const size_t *lens, int wait);

/* Commits a Placement Driver command and returns the state machine's
 * outcome (api_collections.c): 0, a catalog apply code, or TIMEOUT /
 * UNAVAILABLE when the metadata group did not confirm it. */
int api_pd_submit(api_call *c, const uint8_t *buf, size_t len,
                  vectron_error *err);

/* Loads a point's payload (text) as JSON projected through sel; *out NULL
 * when sel is NONE. */
int api_payload(const char *text, size_t len, const gw_payload_select *sel,
                json_t **out, vectron_error *err);

/* Searches every shard of col for the best k hits to vec (q gives ef,
 * filter, exact and rescoring; exclude, when not NULL, is left out) and
 * merges them: *out (vx_malloc'd, free with vx_free) holds *nout <= k
 * hits, closest first (api_search.c). */
int api_gather(gw_api *api, const pd_collection *col, host_shard **s,
               const gw_search *q, const float *vec, const point_id *exclude,
               uint32_t k, shard_hit **out, size_t *nout, vectron_error *err);

/* A search with a rerank strategy (api_rerank.c, docs/rerank.md): fetches
 * q->rerank.candidates candidates to vec, reranks them in-process or with
 * the configured service, skips the offset and cuts to the limit; *out
 * gets the JSON array of scored points. When the service fails or times
 * out, the search order is kept and *fallback is set. */
int api_rerank_search(gw_api *api, const pd_collection *col, host_shard **s,
                      const gw_search *q, const float *vec,
                      const point_id *exclude, json_t **out, int *fallback,
                      vectron_error *err);

/* Calls the rerank service at api->o.reranker_url with rq (timeout_ms
 * for the whole exchange): *out (vx_free) gets its ranking, at most
 * rq->limit entries. Errors: TIMEOUT, UNAVAILABLE (unreachable, or an
 * HTTP status other than 200), INVALID (a malformed answer), NOMEM. */
int api_rerank_remote(gw_api *api, const rerank_request *rq,
                      unsigned timeout_ms, rerank_fused **out, size_t *nout,
                      vectron_error *err);

/* Registers the rerank metrics (vectron_rerank_total{mode},
 * vectron_rerank_fallbacks_total{reason}) when api->metrics is set.
 * Errors: NOMEM, EXISTS. */
int gw_api_rerank_init(gw_api *api, vectron_error *err);

/* Frees the rerank service clients' pool. */
void gw_api_rerank_close(gw_api *api);

/* Converts an index distance to Qdrant's score for the metric. */
float api_score(vectron_metric m, float distance);

/* Registers the search metrics and the gauges gathered at scrape time
 * (per shard, PD view, cache; api_service.c). Errors: NOMEM. */
int gw_api_metrics_init(gw_api *api, vectron_error *err);

/* The OpenAPI 3 document for the routes rt[0..n) (api_openapi.c): a new
 * reference, NULL when out of memory. */
json_t *gw_api_openapi_doc(const http_route *rt, size_t n);

/* 1 if the OpenAPI table documents the route with this metric name. */
int gw_api_route_documented(const char *name);

/* Handlers (api_collections.c, api_points.c, api_search.c). */
void gw_api_list_collections(void *ctx, const http_request *r,
                             http_response *w);
void gw_api_get_collection(void *ctx, const http_request *r, http_response *w);
void gw_api_create_collection(void *ctx, const http_request *r,
                              http_response *w);
void gw_api_delete_collection(void *ctx, const http_request *r,
                              http_response *w);
void gw_api_collection_exists(void *ctx, const http_request *r,
                              http_response *w);
void gw_api_create_index(void *ctx, const http_request *r, http_response *w);
void gw_api_delete_index(void *ctx, const http_request *r, http_response *w);
void gw_api_upsert(void *ctx, const http_request *r, http_response *w);
void gw_api_retrieve(void *ctx, const http_request *r, http_response *w);
void gw_api_get_point(void *ctx, const http_request *r, http_response *w);
void gw_api_delete_points(void *ctx, const http_request *r, http_response *w);
void gw_api_set_payload(void *ctx, const http_request *r, http_response *w);
void gw_api_overwrite_payload(void *ctx, const http_request *r,
                              http_response *w);
void gw_api_delete_payload(void *ctx, const http_request *r, http_response *w);
void gw_api_clear_payload(void *ctx, const http_request *r, http_response *w);
void gw_api_scroll(void *ctx, const http_request *r, http_response *w);
void gw_api_count(void *ctx, const http_request *r, http_response *w);
void gw_api_query(void *ctx, const http_request *r, http_response *w);
void gw_api_query_batch(void *ctx, const http_request *r, http_response *w);
void gw_api_search(void *ctx, const http_request *r, http_response *w);
void gw_api_search_batch(void *ctx, const http_request *r, http_response *w);
void gw_api_metrics(void *ctx, const http_request *r, http_response *w);
/* API keys (api_keys.c). */
void gw_api_create_key(void *ctx, const http_request *r, http_response *w);
void gw_api_list_keys(void *ctx, const http_request *r, http_response *w);
void gw_api_revoke_key(void *ctx, const http_request *r, http_response *w);
void gw_api_openapi(void *ctx, const http_request *r, http_response *w);
/* GET /cluster and GET /collections/{name}/cluster (api_cluster.c). */
void gw_api_cluster(void *ctx, const http_request *r, http_response *w);
void gw_api_collection_cluster(void *ctx, const http_request *r,
                               http_response *w);

#endif
