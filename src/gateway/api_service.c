/*
 * api_service.c - /metrics (Prometheus text: the HTTP server's counters
 * plus per-collection and per-shard gauges gathered at scrape time) and
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

/* ------------------------------------------------------------- metrics */

static void collect(void *arg, vx_metrics_out *o)
{
    gw_api *api = arg;
    pd_collection *cols = NULL;
    size_t n = 0;
    if (pd_catalog_list(api->catalog, &cols, &n, NULL))
        return;
    static const char *const lcol[] = {"collection"};
    static const char *const lshard[] = {"collection", "shard"};
    vx_metrics_out_family(o, VX_METRIC_GAUGE, "vectron_collections",
                          "Collections in the catalog.");
    vx_metrics_out_value(o, "vectron_collections", NULL, NULL, 0, (double)n);
    vx_metrics_out_family(o, VX_METRIC_GAUGE, "vectron_metadata_epoch",
                          "Raft index of the last catalog change.");
    vx_metrics_out_value(o, "vectron_metadata_epoch", NULL, NULL, 0,
                         (double)pd_catalog_epoch(api->catalog));
    struct {
        const char *name, *help;
    } fam[] = {
        {"vectron_shard_points", "Points stored in the shard."},
        {"vectron_shard_pending", "Applied writes not yet in the HNSW graph."},
        {"vectron_shard_applied_index", "Raft index the shard store applied."},
        {"vectron_raft_term", "Current Raft term of the shard group."},
        {"vectron_raft_commit_index", "Raft commit index of the shard group."},
        {"vectron_raft_is_leader", "1 if this member leads the shard group."},
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        vx_metrics_out_family(o, VX_METRIC_GAUGE, fam[f].name, fam[f].help);
        for (size_t i = 0; i < n; i++) {
            for (uint32_t k = 0; k < cols[i].p.shard_number; k++) {
                host_shard *s =
                    host_acquire(api->host, cols[i].first_group + k);
                if (!s)
                    continue;
                char kbuf[16];
                snprintf(kbuf, sizeof kbuf, "%u", k);
                const char *lv[] = {cols[i].name, kbuf};
                double v = 0;
                host_report hr;
                int have = host_report_of(api->host, host_shard_group(s), &hr,
                                          NULL) == 0;
                switch (f) {
                case 0:
                    v = have ? (double)hr.points : 0;
                    break;
                case 1:
                    v = have ? (double)hr.pending : 0;
                    break;
                case 2:
                    v = have ? (double)hr.applied_index : 0;
                    break;
                case 3:
                    v = have ? (double)hr.term : 0;
                    break;
                case 4:
                    v = have ? (double)hr.commit_index : 0;
                    break;
                default:
                    v = have && hr.role == VXR_STATE_LEADER;
                }
                vx_metrics_out_value(o, fam[f].name, lshard, lv, 2, v);
                host_release(s);
            }
        }
    }
    (void)lcol;
    vx_free(cols);
}

int gw_api_metrics_init(gw_api *api, vectron_error *err)
{
    if (!api->metrics)
        return 0;
    return vx_metrics_add_collector(api->metrics, collect, api, err);
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
