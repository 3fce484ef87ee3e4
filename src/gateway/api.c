/*
 * api.c - shared helpers of the REST handlers, the service routes (/,
 * /healthz, /readyz) and the route table. See api.h.
 *
 * Threading: as api.h; nothing here keeps state between requests.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "gateway/api.h"
#include "gateway/dashboard.h"

static double api_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void api_begin(api_call *c, void *ctx, const http_request *req,
               http_response *resp)
{
    c->api = ctx;
    c->req = req;
    c->resp = resp;
    c->t0 = api_now();
    memset(&c->sess, 0, sizeof c->sess);
}

static void send_text(http_response *w, int status, const char *type,
                      const char *text)
{
    size_t n = strlen(text);
    w->body = vx_malloc(n + 1);
    if (!w->body) {
        w->status = 503;
        return;
    }
    memcpy(w->body, text, n + 1);
    w->len = n;
    w->status = status;
    w->content_type = type;
}

void api_ok(api_call *c, json_t *result)
{
    vectron_error err = {0};
    if (gw_respond_ok(result, api_now() - c->t0, 0, &c->resp->body,
                      &c->resp->len, &err)) {
        api_fail(c, VECTRON_NOMEM, "out of memory building the response");
        return;
    }
    c->resp->status = 200;
    c->resp->content_type = "application/json";
}

void api_fail(api_call *c, int code, const char *msg)
{
    vectron_error err = {0};
    vx_free(c->resp->body);
    c->resp->body = NULL;
    c->resp->status = gw_http_status(code);
    c->resp->content_type = "application/json";
    if (gw_respond_error(msg, api_now() - c->t0, &c->resp->body, &c->resp->len,
                         &err))
        c->resp->status = 503;
}

void api_fail_err(api_call *c, int code, const vectron_error *err)
{
    api_fail(c, code, err->msg[0] ? err->msg : vectron_error_name(code));
}

int api_collection(api_call *c, pd_collection *out)
{
    vectron_error err = {0};
    const char *name = c->req->nparams ? c->req->params[0] : "";
    int rc = pd_catalog_get(c->api->catalog, name, out, &err);
    if (rc) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "Not found: Collection `%.255s` doesn't exist!", name);
        api_fail(c, rc, msg);
    }
    return rc;
}

int api_wait(api_call *c)
{
    const char *v = http_query_arg(c->req, "wait");
    if (!v || strcmp(v, "true") == 0 || strcmp(v, "") == 0)
        return 1;
    if (strcmp(v, "false") == 0)
        return 0;
    api_fail(c, VECTRON_INVALID, "wait: expected true or false");
    return -1;
}

/* Parses the request's vectron-session header into c->sess. A token of
 * another collection, or a malformed one, is a 400; one too long, 431. */
static int session_in(api_call *c, const pd_collection *col)
{
    const char *v = http_header(c->req, GW_SESSION_HEADER);
    if (!v)
        return 0;
    vectron_error err = {0};
    char msg[VECTRON_ERROR_MSG_SIZE + 400];
    size_t len = strlen(v);
    if (len > GW_SESSION_MAX_TEXT) {
        api_fail(c, VECTRON_INVALID,
                 "Request header too large: " GW_SESSION_HEADER
                 " is longer than 16384 bytes");
        c->resp->status = 431;
        return VECTRON_INVALID;
    }
    if (gw_session_parse(v, len, &c->sess, &err)) {
        snprintf(msg, sizeof msg, "Bad request: " GW_SESSION_HEADER ": %s",
                 err.msg);
        api_fail(c, VECTRON_INVALID, msg);
        return VECTRON_INVALID;
    }
    if (c->sess.first_group != col->first_group ||
        c->sess.n != col->p.shard_number) {
        gw_session_clear(&c->sess);
        snprintf(msg, sizeof msg,
                 "Bad request: " GW_SESSION_HEADER
                 ": the token is for another collection than `%.255s` (or "
                 "one dropped and created again)",
                 col->name);
        api_fail(c, VECTRON_INVALID, msg);
        return VECTRON_INVALID;
    }
    return 0;
}

int api_acquire_shards(api_call *c, const pd_collection *col, host_shard ***out)
{
    if (session_in(c, col))
        return VECTRON_INVALID;
    host_shard **s = vx_calloc(col->p.shard_number, sizeof(*s));
    if (!s) {
        api_fail(c, VECTRON_NOMEM, "out of memory");
        return VECTRON_NOMEM;
    }
    for (uint32_t i = 0; i < col->p.shard_number; i++) {
        s[i] = host_acquire(c->api->host, col->first_group + i);
        if (!s[i]) {
            api_release_shards(c, col, s);
            char msg[400];
            snprintf(msg, sizeof msg,
                     "Service unavailable: shard %u of collection `%s` is "
                     "not open on this node",
                     i, col->name);
            api_fail(c, VECTRON_UNAVAILABLE, msg);
            return VECTRON_UNAVAILABLE;
        }
    }
    *out = s;
    c->resp->shards = col->p.shard_number; /* for the request log */
    return 0;
}

/* Adds the vectron-session response header (see api_release_shards). */
static void session_out(api_call *c, const pd_collection *col, host_shard **s)
{
    uint32_t n = col->p.shard_number;
    gw_session t = {.first_group = col->first_group, .n = n};
    int any = c->sess.n != 0;
    t.index = vx_calloc(n ? n : 1, sizeof *t.index);
    if (!t.index)
        return; /* no token: the client keeps its last one */
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v = s[i] ? host_shard_seen(s[i]) : 0;
        if (c->sess.n == n && c->sess.index[i] > v)
            v = c->sess.index[i];
        t.index[i] = v;
        any |= v != 0;
    }
    char buf[HTTP_HEADER_SIZE];
    if (any && gw_session_format(&t, buf, sizeof buf, NULL) == 0)
        (void)http_response_header(c->resp, GW_SESSION_HEADER, buf);
    gw_session_clear(&t);
}

void api_release_shards(api_call *c, const pd_collection *col, host_shard **s)
{
    if (s && c->resp->status == 200 && c->resp->body)
        session_out(c, col, s);
    gw_session_clear(&c->sess);
    if (!s)
        return;
    for (uint32_t i = 0; i < col->p.shard_number; i++)
        host_release(s[i]);
    vx_free(s);
}

/* Qdrant's ?consistency= query parameter: a replica count or "majority",
 * "quorum", "all"; Vectron's own names are accepted too. Anything above
 * one replica reads like strong here (the leader after a barrier). */
static int url_consistency(api_call *c, gw_consistency *out)
{
    const char *v = http_query_arg(c->req, "consistency");
    vectron_error err = {0};
    *out = GW_CONSISTENCY_DEFAULT;
    if (!v)
        return 0;
    if (strcmp(v, "majority") == 0 || strcmp(v, "quorum") == 0 ||
        strcmp(v, "all") == 0) {
        *out = GW_CONSISTENCY_STRONG;
        return 0;
    }
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*v >= '0' && *v <= '9' && *end == '\0' && n >= 1) {
        *out = n == 1 ? GW_CONSISTENCY_EVENTUAL : GW_CONSISTENCY_STRONG;
        return 0;
    }
    if (gw_consistency_parse(v, strlen(v), out, &err)) {
        api_fail(c, VECTRON_INVALID,
                 "consistency: expected a replica count, majority, quorum, "
                 "all, strong, bounded or eventual");
        return VECTRON_INVALID;
    }
    return 0;
}

int api_resolve_consistency(api_call *c, const pd_collection *col,
                            gw_consistency want, gw_consistency *out)
{
    if (want == GW_CONSISTENCY_DEFAULT) {
        int rc = url_consistency(c, &want);
        if (rc)
            return rc;
    }
    if (want == GW_CONSISTENCY_DEFAULT)
        want = col->p.read_consistency == PD_READ_STRONG ? GW_CONSISTENCY_STRONG
               : col->p.read_consistency == PD_READ_BOUNDED
                   ? GW_CONSISTENCY_BOUNDED
                   : GW_CONSISTENCY_EVENTUAL;
    *out = want;
    return 0;
}

/* Bounded reads: each shard read at or after the session token's index
 * for it. A local shard behind it (a wait=false write not applied yet)
 * gets a barrier; still behind after it, the token is from elsewhere
 * (another server that reused the group ids): 503. */
static int bounded(api_call *c, const pd_collection *col, host_shard **s)
{
    for (uint32_t i = 0; i < col->p.shard_number; i++) {
        uint64_t want = c->sess.index[i];
        if (want == 0)
            continue;
        if (host_is_remote(c->api->host)) {
            host_shard_set_min_applied(s[i], want);
            continue;
        }
        if (host_shard_applied(s[i]) >= want)
            continue;
        vectron_error err = {0};
        int rc = host_barrier(c->api->host, s[i], c->api->o.request_timeout_ms,
                              &err);
        if (rc) {
            api_fail_err(c, rc, &err);
            return rc;
        }
        uint64_t have = host_shard_applied(s[i]);
        if (have < want) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "Service unavailable: shard %u has applied index %llu, "
                     "below the session token's %llu",
                     i, (unsigned long long)have, (unsigned long long)want);
            api_fail(c, VECTRON_UNAVAILABLE, msg);
            return VECTRON_UNAVAILABLE;
        }
    }
    return 0;
}

int api_consistency(api_call *c, const pd_collection *col, host_shard **s,
                    gw_consistency want)
{
    int rc = api_resolve_consistency(c, col, want, &want);
    if (rc)
        return rc;
    if (want == GW_CONSISTENCY_BOUNDED && c->sess.n == col->p.shard_number)
        return bounded(c, col, s);
    if (want != GW_CONSISTENCY_STRONG)
        return 0; /* one replica: bounded and eventual read it as is */
    for (uint32_t i = 0; i < col->p.shard_number; i++) {
        vectron_error err = {0};
        rc = host_barrier(c->api->host, s[i], c->api->o.request_timeout_ms,
                          &err);
        if (rc) {
            api_fail_err(c, rc, &err);
            return rc;
        }
    }
    return 0;
}

void api_replicate(api_call *c, size_t n, host_shard *const *s,
                   const uint8_t *const *bufs, const size_t *lens, int wait)
{
    vectron_error err = {0};
    uint64_t op = 0;
    int completed = 0;
    c->resp->shards = (unsigned)n; /* for the request log */
    int rc = host_write(c->api->host, n, s, bufs, lens, wait,
                        c->api->o.request_timeout_ms, &op, &completed, &err);
    if (rc)
        api_fail_err(c, rc, &err);
    else
        api_ok(c, gw_json_update_result(op, completed));
}

int api_payload(const char *text, size_t len, const gw_payload_select *sel,
                json_t **out, vectron_error *err)
{
    *out = NULL;
    if (sel->mode == GW_PAYLOAD_NONE)
        return 0;
    json_t *j = NULL;
    int rc;
    if (len) {
        if ((rc = gw_json_load(text, len, &j, err)))
            return rc;
    } else if (!(j = json_object())) {
        return vx_err(err, VECTRON_NOMEM, "payload");
    }
    rc = gw_payload_project(j, sel, out, err);
    json_decref(j);
    return rc;
}

float api_score(vectron_metric m, float distance)
{
    switch (m) {
    case VECTRON_METRIC_L2:
        return sqrtf(distance > 0 ? distance : 0);
    case VECTRON_METRIC_COSINE:
        return 1.0f - distance;
    case VECTRON_METRIC_DOT:
        return -distance;
    }
    return distance;
}

/* ---------------------------------------------------------- service */

static void root(void *ctx, const http_request *r, http_response *w)
{
    (void)ctx;
    (void)r;
    send_text(w, 200, "application/json",
              "{\"title\":\"vectron - vector "
              "database\",\"version\":\"" VECTRON_VERSION "\"}");
}

static void healthz(void *ctx, const http_request *r, http_response *w)
{
    (void)ctx;
    (void)r;
    send_text(w, 200, "text/plain", "healthz check passed");
}

static void readyz(void *ctx, const http_request *r, http_response *w)
{
    gw_api *api = ctx;
    (void)r;
    if (api->ready)
        send_text(w, 200, "text/plain", "all shards are ready");
    else
        send_text(w, 503, "text/plain", "some shards are not ready");
}

/* Qdrant endpoints Vectron does not offer: a clear 400 rather than the
 * router's 404/405 (which would also mis-match some of them, e.g.
 * POST .../points/batch against GET .../points/{id}). */
static void unsupported(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    char msg[256];
    snprintf(msg, sizeof msg, "%s %s is not supported by Vectron", r->method,
             r->route ? r->route->pattern : r->path);
    api_fail(&c, VECTRON_UNSUPPORTED, msg);
}

/* ---------------------------------------------------------- routes */

#define C "/collections/{collection_name}"
/* Access per route (docs/auth.md): the level a credential needs and the
 * capture naming the collection it must be allowed on. */
#define PUBLIC HTTP_ACCESS_PUBLIC, NULL
#define ANY_READ HTTP_ACCESS_READ | HTTP_ACCESS_ANY_SCOPE, NULL
#define GLOBAL_READ HTTP_ACCESS_READ, NULL
#define GLOBAL_WRITE HTTP_ACCESS_WRITE, NULL
#define READ HTTP_ACCESS_READ, "collection_name"
#define WRITE HTTP_ACCESS_WRITE, "collection_name"
#define ADMIN HTTP_ACCESS_ADMIN, NULL

static const http_route routes[] = {
    {"GET", "/", root, "root", ANY_READ},
    {"GET", "/healthz", healthz, "healthz", PUBLIC},
    {"GET", "/livez", healthz, "livez", PUBLIC},
    {"GET", "/readyz", readyz, "readyz", PUBLIC},
    {"GET", "/metrics", gw_api_metrics, "metrics", GLOBAL_READ},
    {"GET", "/openapi.json", gw_api_openapi, "openapi", ANY_READ},
    /* Static files only (no data): the page's API calls carry the key. */
    {"GET", "/dashboard", gw_dashboard_index, "dashboard", PUBLIC},
    {"GET", "/dashboard/{asset}", gw_dashboard_asset_get, "dashboard_asset",
     PUBLIC},
    {"GET", "/collections", gw_api_list_collections, "collections_list",
     ANY_READ},
    {"GET", C, gw_api_get_collection, "collection_get", READ},
    {"PUT", C, gw_api_create_collection, "collection_create", WRITE},
    {"DELETE", C, gw_api_delete_collection, "collection_delete", WRITE},
    {"GET", C "/exists", gw_api_collection_exists, "collection_exists", READ},
    {"PUT", C "/index", gw_api_create_index, "index_create", WRITE},
    {"DELETE", C "/index/{field_name}", gw_api_delete_index, "index_delete",
     WRITE},
    {"PUT", C "/points", gw_api_upsert, "points_upsert", WRITE},
    {"POST", C "/points", gw_api_retrieve, "points_retrieve", READ},
    {"GET", C "/points/{id}", gw_api_get_point, "point_get", READ},
    {"POST", C "/points/delete", gw_api_delete_points, "points_delete", WRITE},
    {"POST", C "/points/payload", gw_api_set_payload, "payload_set", WRITE},
    {"PUT", C "/points/payload", gw_api_overwrite_payload, "payload_overwrite",
     WRITE},
    {"POST", C "/points/payload/delete", gw_api_delete_payload,
     "payload_delete", WRITE},
    {"POST", C "/points/payload/clear", gw_api_clear_payload, "payload_clear",
     WRITE},
    {"POST", C "/points/scroll", gw_api_scroll, "points_scroll", READ},
    {"POST", C "/points/count", gw_api_count, "points_count", READ},
    {"POST", C "/points/query", gw_api_query, "points_query", READ},
    {"POST", C "/points/query/batch", gw_api_query_batch, "points_query_batch",
     READ},
    {"POST", C "/points/search", gw_api_search, "points_search", READ},
    {"POST", C "/points/search/batch", gw_api_search_batch,
     "points_search_batch", READ},
    {"GET", "/cluster", gw_api_cluster, "cluster", GLOBAL_READ},
    {"GET", C "/cluster", gw_api_collection_cluster, "collection_cluster",
     READ},
    /* API keys (Vectron's extension, docs/auth.md). */
    {"POST", "/keys", gw_api_create_key, "keys_create", ADMIN},
    {"GET", "/keys", gw_api_list_keys, "keys_list", ADMIN},
    {"DELETE", "/keys/{key_id}", gw_api_revoke_key, "keys_revoke", ADMIN},
    /* Not offered (see docs/api.md, "Differences from Qdrant"); access as
     * the operation would need, so that they answer the same 401/403. */
    {"PATCH", C, unsupported, "collection_update", WRITE},
    {"POST", C "/points/batch", unsupported, "points_batch_update", WRITE},
    {"PUT", C "/points/vectors", unsupported, "vectors_update", WRITE},
    {"POST", C "/points/vectors/delete", unsupported, "vectors_delete", WRITE},
    {"POST", C "/points/recommend", unsupported, "points_recommend", READ},
    {"POST", C "/points/discover", unsupported, "points_discover", READ},
    {"POST", C "/points/query/groups", unsupported, "points_query_groups",
     READ},
    {"GET", "/aliases", unsupported, "aliases", GLOBAL_READ},
    {"POST", "/collections/aliases", unsupported, "aliases_update",
     GLOBAL_WRITE},
    {"GET", C "/aliases", unsupported, "collection_aliases", READ},
    {"GET", C "/snapshots", unsupported, "snapshots_list", READ},
    {"POST", C "/snapshots", unsupported, "snapshot_create", WRITE},
};

const http_route *gw_api_routes(size_t *n)
{
    *n = sizeof routes / sizeof routes[0];
    return routes;
}
