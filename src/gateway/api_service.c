/*
 * api_service.c - /metrics (Prometheus text: the HTTP server's counters,
 * the search phase histograms, and gauges gathered at scrape time: per
 * shard, the placement view, the result cache, the request log; every
 * metric is listed in docs/metrics.md) and
 * /openapi.json (built from the live route table, so the document lists
 * exactly the routes the server serves; request schemas come from
 * api_openapi.c).
 *
 * Threading: any HTTP thread; the collector reads thread-safe state only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "gateway/api.h"
#include "gateway/request_log.h"

/* ------------------------------------------------------------- metrics */

/* One hosted shard's numbers, read once per scrape. */
typedef struct shard_row {
    const char *collection;
    char shard[16];
    int hosted;
    host_report hr; /* local replicas: every field; a cluster gateway:
                       none (the workers export their own) */
} shard_row;

static void family(vx_metrics_out *o, vx_metric_type t, const char *name,
                   const char *help, double v)
{
    vx_metrics_out_family(o, t, name, help);
    vx_metrics_out_value(o, name, NULL, NULL, 0, v);
}

/* The placement view: nodes up and shards whose replica set is smaller
 * than the collection's replication factor, or without a leader. In
 * `vectron serve` from the local groups; in a cluster gateway from the
 * PD's catalog (registered, not removed nodes; placements). */
static void collect_pd(gw_api *api, const pd_collection *cols, size_t n,
                       const shard_row *rows, vx_metrics_out *o)
{
    double up = 0, under = 0, shards = 0;
    if (host_is_remote(api->host)) {
        pd_node *nodes = NULL;
        size_t nn = 0;
        if (pd_catalog_nodes(api->catalog, &nodes, &nn, NULL) == 0)
            for (size_t i = 0; i < nn; i++)
                up += nodes[i].state != PD_NODE_REMOVED;
        vx_free(nodes);
        for (size_t i = 0; i < n; i++)
            for (uint32_t k = 0; k < cols[i].p.shard_number; k++) {
                pd_placement pl;
                shards++;
                if (pd_catalog_placement(api->catalog, cols[i].first_group + k,
                                         &pl, NULL) ||
                    pl.n < cols[i].p.replication_factor)
                    under++;
            }
    } else {
        vxr_group_info pd;
        if (api->node &&
            vxr_group_status(api->node, PD_GROUP_ID, &pd, NULL) == 0 &&
            pd.leader_id != 0)
            up = pd.n_voters;
        size_t r = 0;
        for (size_t i = 0; i < n; i++) {
            for (uint32_t k = 0; k < cols[i].p.shard_number; k++, r++) {
                const host_report *h = &rows[r].hr;
                shards++;
                if (!rows[r].hosted || !h->have_raft ||
                    h->n_voters < cols[i].p.replication_factor ||
                    h->leader_id == 0)
                    under++;
            }
        }
    }
    family(o, VX_METRIC_GAUGE, "vectron_pd_nodes_up",
           "Nodes the placement driver counts as up (the PD group's voters "
           "while it has a leader).",
           up);
    family(o, VX_METRIC_GAUGE, "vectron_pd_shards",
           "Shards of all collections in the catalog.", shards);
    family(o, VX_METRIC_GAUGE, "vectron_pd_under_replicated_shards",
           "Shards with fewer voting replicas than their collection's "
           "replication factor, or without a leader or a replica here.",
           under);
}

static void collect_cache(gw_api *api, vx_metrics_out *o)
{
    gw_cache_stats cs = {0};
    if (api->cache)
        gw_cache_get_stats(api->cache, &cs);
    family(o, VX_METRIC_COUNTER, "vectron_search_cache_hits_total",
           "Searches answered from the result cache.", (double)cs.hits);
    family(o, VX_METRIC_COUNTER, "vectron_search_cache_misses_total",
           "Searches looked up in the result cache and not found.",
           (double)cs.misses);
    family(o, VX_METRIC_COUNTER, "vectron_search_cache_inserts_total",
           "Results stored in the cache.", (double)cs.inserts);
    family(o, VX_METRIC_COUNTER, "vectron_search_cache_evictions_total",
           "Cached results dropped to make room (least recently used).",
           (double)cs.evictions);
    family(o, VX_METRIC_COUNTER, "vectron_search_cache_expired_total",
           "Cached results dropped because their time to live ran out.",
           (double)cs.expired);
    family(o, VX_METRIC_COUNTER, "vectron_search_cache_too_large_total",
           "Results not cached because they exceed the per-entry cap.",
           (double)cs.too_large);
    family(o, VX_METRIC_GAUGE, "vectron_search_cache_bytes",
           "Bytes the result cache holds (keys, values, entry headers).",
           (double)cs.bytes);
    family(o, VX_METRIC_GAUGE, "vectron_search_cache_entries",
           "Results the cache holds.", (double)cs.entries);
    family(o, VX_METRIC_GAUGE, "vectron_search_cache_max_bytes",
           "The cache's byte cap (0: the cache is off).", (double)cs.max_bytes);
}

static void collect(void *arg, vx_metrics_out *o)
{
    gw_api *api = arg;
    pd_collection *cols = NULL;
    shard_row *rows = NULL;
    size_t n = 0, nrows = 0;
    if (pd_catalog_list(api->catalog, &cols, &n, NULL))
        return;
    for (size_t i = 0; i < n; i++)
        nrows += cols[i].p.shard_number;
    if (!(rows = vx_calloc(nrows + 1, sizeof *rows))) {
        vx_free(cols);
        return;
    }
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < cols[i].p.shard_number; k++, r++) {
            shard_row *w = &rows[r];
            w->collection = cols[i].name;
            snprintf(w->shard, sizeof w->shard, "%u", k);
            if (host_is_remote(api->host))
                continue; /* the workers hold the figures */
            w->hosted = host_report_of(api->host, cols[i].first_group + k,
                                       &w->hr, NULL) == 0 ||
                        w->hr.group != 0;
        }
    }

    family(o, VX_METRIC_GAUGE, "vectron_collections",
           "Collections in the catalog.", (double)n);
    family(o, VX_METRIC_GAUGE, "vectron_metadata_epoch",
           "Raft index of the last catalog change.",
           (double)pd_catalog_epoch(api->catalog));
    collect_pd(api, cols, n, rows, o);
    collect_cache(api, o);

    static const char *const lshard[] = {"collection", "shard"};
    enum {
        F_POINTS,
        F_PENDING,
        F_APPLIED,
        F_INDEX_POINTS,
        F_INDEX_BYTES,
        F_STORE_BYTES,
        F_TERM,
        F_COMMIT,
        F_LAST_APPLIED,
        F_LAG,
        F_LEADER,
        F_COUNT
    };
    static const struct {
        const char *name, *help;
        int raft; /* needs the group's status */
    } fam[F_COUNT] = {
        [F_POINTS] = {"vectron_shard_points", "Points stored in the shard.", 0},
        [F_PENDING] = {"vectron_shard_pending",
                       "Applied writes not yet in the HNSW graph.", 0},
        [F_APPLIED] = {"vectron_shard_applied_index",
                       "Raft index the shard store applied (the result "
                       "cache keys on it).",
                       0},
        [F_INDEX_POINTS] = {"vectron_shard_index_points",
                            "Points in the shard's HNSW graph.", 0},
        [F_INDEX_BYTES] = {"vectron_shard_index_memory_bytes",
                           "Memory the shard's HNSW graph holds (vectors, "
                           "links, maps).",
                           0},
        [F_STORE_BYTES] = {"vectron_shard_store_bytes",
                           "Bytes of the shard's LMDB store in use on disk.",
                           0},
        [F_TERM] = {"vectron_raft_term",
                    "Current Raft term of the shard group.", 1},
        [F_COMMIT] = {"vectron_raft_commit_index",
                      "Raft commit index of the shard group.", 1},
        [F_LAST_APPLIED] = {"vectron_raft_applied_index",
                            "Last Raft index this member applied (barriers "
                            "and configuration entries included).",
                            1},
        [F_LAG] = {"vectron_raft_apply_lag",
                   "Committed Raft entries this member has not applied yet "
                   "(commit index - applied index).",
                   1},
        [F_LEADER] = {"vectron_raft_is_leader",
                      "1 if this member leads the shard group.", 1},
    };
    for (int f = 0; f < F_COUNT; f++) {
        vx_metrics_out_family(o, VX_METRIC_GAUGE, fam[f].name, fam[f].help);
        for (size_t i = 0; i < nrows; i++) {
            const shard_row *w = &rows[i];
            const char *lv[] = {w->collection, w->shard};
            double v = 0;
            const host_report *h = &w->hr;
            if (!w->hosted || (fam[f].raft && !h->have_raft))
                continue;
            switch (f) {
            case F_POINTS:
                v = (double)h->points;
                break;
            case F_PENDING:
                v = (double)h->pending;
                break;
            case F_APPLIED:
                v = (double)h->applied_index;
                break;
            case F_INDEX_POINTS:
                v = (double)h->index_points;
                break;
            case F_INDEX_BYTES:
                v = (double)h->index_bytes;
                break;
            case F_STORE_BYTES:
                v = (double)h->store_bytes;
                break;
            case F_TERM:
                v = (double)h->term;
                break;
            case F_COMMIT:
                v = (double)h->commit_index;
                break;
            case F_LAST_APPLIED:
                v = (double)h->raft_applied;
                break;
            case F_LAG:
                v = h->commit_index > h->raft_applied
                        ? (double)(h->commit_index - h->raft_applied)
                        : 0;
                break;
            default:
                v = h->role == VXR_STATE_LEADER;
            }
            vx_metrics_out_value(o, fam[f].name, lshard, lv, 2, v);
        }
    }
    if (api->reqlog) {
        gw_reqlog_stats ls;
        gw_reqlog_get_stats(api->reqlog, &ls);
        family(o, VX_METRIC_COUNTER, "vectron_request_log_lines_total",
               "Request log lines written.", (double)ls.lines);
        family(o, VX_METRIC_COUNTER, "vectron_request_log_dropped_total",
               "Request log lines lost because the writer fell behind.",
               (double)ls.dropped);
        family(o, VX_METRIC_COUNTER, "vectron_slow_requests_total",
               "Requests at least slow-query-ms slow.", (double)ls.slow);
    }
    vx_free(rows);
    vx_free(cols);
}

/* Search phase buckets, seconds: 10us .. 10s. */
static const double phase_bounds[] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
    0.0025,  0.005,    0.01,    0.025,  0.05,    0.1,    0.25,
    0.5,     1,        2.5,     5,      10};

int gw_api_metrics_init(gw_api *api, vectron_error *err)
{
    static const char *const lphase[] = {"phase"};
    static const char *const phase_names[GW_PHASE_COUNT] = {
        [GW_PHASE_ROUTE] = "route",
        [GW_PHASE_SHARDS] = "shards",
        [GW_PHASE_MERGE] = "merge",
        [GW_PHASE_RERANK] = "rerank"};
    vx_metric_family *f;
    if (!api->metrics)
        return 0;
    int rc = vx_metrics_family(
        api->metrics, VX_METRIC_HISTOGRAM, "vectron_search_phase_seconds",
        "Time a search request spent in each phase: route (pin shards, read "
        "barrier, cache lookup), shards (per-shard searches), merge (merge, "
        "payloads, response), rerank.",
        lphase, 1, phase_bounds, sizeof phase_bounds / sizeof phase_bounds[0],
        &f, err);
    for (int i = 0; !rc && i < GW_PHASE_COUNT; i++) {
        const char *v[] = {phase_names[i]};
        rc = vx_metrics_histogram(f, v, &api->phase[i], err);
    }
    if (!rc)
        rc = vx_metrics_family(
            api->metrics, VX_METRIC_COUNTER, "vectron_search_partial_total",
            "Search requests answered without some shards (partial results: "
            "those shards did not answer within the request's timeout).",
            NULL, 0, NULL, 0, &f, err);
    if (!rc)
        rc = vx_metrics_counter(f, NULL, &api->partial_total, err);
    if (!rc)
        rc = vx_metrics_family(
            api->metrics, VX_METRIC_COUNTER,
            "vectron_search_partial_shards_total",
            "Shards left out of partial search answers (summed over the "
            "requests).",
            NULL, 0, NULL, 0, &f, err);
    if (!rc)
        rc = vx_metrics_counter(f, NULL, &api->partial_shards_total, err);
    if (!rc)
        rc = vx_metrics_add_collector(api->metrics, collect, api, err);
    return rc;
}

void gw_api_metrics(void *ctx, const http_request *r, http_response *w)
{
    gw_api *api = ctx;
    api_call c;
    api_begin(&c, ctx, r, w);
    vectron_error err = {0};
    if (!api->metrics) {
        api_fail(&c, VECTRON_UNAVAILABLE, "metrics are disabled");
        return;
    }
    int rc = vx_metrics_render(api->metrics, &w->body, &w->len, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    w->status = 200;
    w->content_type = VX_METRICS_CONTENT_TYPE;
}

/* ------------------------------------------------------------- openapi */

void gw_api_openapi(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    vectron_error err = {0};
    size_t n;
    const http_route *rt = gw_api_routes(&n);
    json_t *doc = gw_api_openapi_doc(rt, n);
    if (!doc) {
        api_fail(&c, VECTRON_NOMEM, "out of memory");
        return;
    }
    int rc = gw_json_dump(doc, &w->body, &w->len, &err);
    json_decref(doc);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    w->status = 200;
    w->content_type = "application/json";
}
