/*
 * api_openapi.c - the OpenAPI 3.0 document served at /openapi.json. Paths
 * and methods come from the live route table; each route's summary,
 * query parameters and request schema come from the table below, keyed by
 * the route's metric name. A route missing from this table still appears
 * (with a generic body), and tests/unit/test_api.c checks that every
 * route has an entry, so the document cannot drift from the router.
 *
 * Threading: pure; builds a new document per call.
 */
#include <string.h>

#include "common/common.h"
#include "gateway/api.h"

/* Schemas shared by several routes (JSON text, parsed at build time). */
static const char *const components =
    "{"
    "\"PointId\":{\"oneOf\":[{\"type\":\"integer\",\"minimum\":0},"
    "{\"type\":\"string\",\"format\":\"uuid\"}]},"
    "\"Vector\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}},"
    "\"Filter\":{\"type\":\"object\",\"properties\":{"
    "\"must\":{},\"should\":{},\"must_not\":{},\"min_should\":{}}},"
    "\"WithPayload\":{\"oneOf\":[{\"type\":\"boolean\"},{\"type\":\"array\","
    "\"items\":{\"type\":\"string\"}},{\"type\":\"object\"}]},"
    "\"SearchParams\":{\"type\":\"object\",\"properties\":{"
    "\"hnsw_ef\":{\"type\":\"integer\"},\"exact\":{\"type\":\"boolean\"},"
    "\"quantization\":{\"type\":\"object\",\"properties\":{"
    "\"ignore\":{\"type\":\"boolean\"},\"rescore\":{\"type\":\"boolean\"},"
    "\"oversampling\":{\"type\":\"number\"}}}}},"
    "\"Consistency\":{\"type\":\"string\",\"enum\":[\"strong\",\"bounded\","
    "\"eventual\"]},"
    "\"Query\":{\"type\":\"object\",\"properties\":{"
    "\"query\":{\"oneOf\":[{\"$ref\":\"#/components/schemas/Vector\"},"
    "{\"$ref\":\"#/components/schemas/PointId\"},{\"type\":\"object\","
    "\"properties\":{\"nearest\":{}}}]},"
    "\"filter\":{\"$ref\":\"#/components/schemas/Filter\"},"
    "\"params\":{\"$ref\":\"#/components/schemas/SearchParams\"},"
    "\"limit\":{\"type\":\"integer\"},\"offset\":{\"type\":\"integer\"},"
    "\"with_payload\":{\"$ref\":\"#/components/schemas/WithPayload\"},"
    "\"with_vector\":{\"type\":\"boolean\"},"
    "\"with_vectors\":{\"type\":\"boolean\"},"
    "\"score_threshold\":{\"type\":\"number\"},"
    "\"rerank\":{\"$ref\":\"#/components/schemas/Rerank\"},"
    "\"consistency\":{\"$ref\":\"#/components/schemas/Consistency\"}}},"
    "\"Rerank\":{\"type\":\"object\",\"required\":[\"strategy\"],"
    "\"description\":\"Vectron extension: rerank the candidates "
    "(docs/rerank.md)\",\"properties\":{\"strategy\":{\"type\":"
    "\"string\",\"enum\":[\"exact\",\"mmr\",\"boost\",\"rrf\"]},"
    "\"candidates\":{\"type\":\"integer\"},\"lambda\":{\"type\":"
    "\"number\"},\"boosts\":{\"type\":\"object\"},\"queries\":"
    "{\"type\":\"array\",\"items\":{\"$ref\":"
    "\"#/components/schemas/Vector\"}},\"rrf_k\":{\"type\":\"number\"},"
    "\"timeout_ms\":{\"type\":\"integer\"},\"service\":{\"type\":"
    "\"boolean\"}}},"
    "\"Search\":{\"type\":\"object\",\"required\":[\"vector\"],"
    "\"properties\":{\"vector\":{\"$ref\":\"#/components/schemas/Vector\"},"
    "\"top\":{\"type\":\"integer\",\"description\":\"alias of limit; one "
    "of them is required\"},\"with_vectors\":{\"type\":\"boolean\"},"
    "\"consistency\":{\"$ref\":\"#/components/schemas/Consistency\"},"
    "\"filter\":{\"$ref\":\"#/components/schemas/Filter\"},"
    "\"params\":{\"$ref\":\"#/components/schemas/SearchParams\"},"
    "\"limit\":{\"type\":\"integer\"},\"offset\":{\"type\":\"integer\"},"
    "\"with_payload\":{\"$ref\":\"#/components/schemas/WithPayload\"},"
    "\"with_vector\":{\"type\":\"boolean\"},"
    "\"rerank\":{\"$ref\":\"#/components/schemas/Rerank\"},"
    "\"score_threshold\":{\"type\":\"number\"}}},"
    "\"Selector\":{\"type\":\"object\",\"properties\":{"
    "\"points\":{\"type\":\"array\",\"items\":"
    "{\"$ref\":\"#/components/schemas/PointId\"}},"
    "\"filter\":{\"$ref\":\"#/components/schemas/Filter\"}}}"
    "}";

enum {
    DOC_WAIT = 1,         /* takes ?wait= */
    DOC_READ = 2,         /* takes ?consistency= */
    DOC_OPTIONAL_BODY = 4, /* an empty body means {} */
    DOC_SEARCH = 8         /* takes ?partial= and ?timeout= */
};

typedef struct route_doc {
    const char *name;
    const char *summary;
    unsigned flags;      /* DOC_* */
    const char *request; /* schema JSON, NULL: no body */
    const char *plain;   /* service routes: the bare 200 body (no
                            envelope); NULL: the envelope */
} route_doc;

static const route_doc docs[] = {
    {"root", "Server title and version", 0, NULL,
     "{\"title\": ..., \"version\": ...}"},
    {"healthz", "Liveness: the process answers", 0, NULL, "Plain text"},
    {"livez", "Liveness (alias of /healthz)", 0, NULL, "Plain text"},
    {"readyz", "Readiness: every hosted shard is open and caught up", 0, NULL,
     "Plain text; 503 while not ready"},
    {"metrics", "Prometheus metrics (text format 0.0.4)", 0, NULL,
     "Prometheus text exposition format 0.0.4"},
    {"openapi", "This document", 0, NULL, "This OpenAPI document"},
    {"dashboard", "The web dashboard (docs/dashboard.md)", 0, NULL,
     "HTML page"},
    {"dashboard_asset",
     "A file of the web dashboard (ETag; 304 on If-None-Match; 404 for "
     "unknown names)",
     0, NULL, "The file, with its Content-Type"},
    {"collections_list", "List collections", 0, NULL, NULL},
    {"collection_get", "Collection info", 0, NULL, NULL},
    {"collection_create", "Create a collection", 0,
     "{\"type\":\"object\",\"required\":[\"vectors\"],\"properties\":{"
     "\"vectors\":{\"type\":\"object\",\"required\":[\"size\",\"distance\"],"
     "\"properties\":{\"size\":{\"type\":\"integer\"},\"distance\":{"
     "\"type\":\"string\",\"enum\":[\"Cosine\",\"Euclid\",\"Dot\"]}}},"
     "\"hnsw_config\":{\"type\":\"object\",\"properties\":{\"m\":{\"type\":"
     "\"integer\"},\"ef_construct\":{\"type\":\"integer\"}}},"
     "\"quantization_config\":{\"type\":\"object\",\"properties\":{"
     "\"scalar\":{\"type\":\"object\",\"properties\":{\"type\":{\"type\":"
     "\"string\",\"enum\":[\"int8\"]},\"quantile\":{\"type\":\"number\"},"
     "\"always_ram\":{\"type\":\"boolean\"}}}}},"
     "\"shard_number\":{\"type\":\"integer\"},"
     "\"replication_factor\":{\"type\":\"integer\"},"
     "\"read_consistency\":{\"$ref\":\"#/components/schemas/Consistency\"}}}",
     NULL},
    {"collection_delete", "Delete a collection", 0, NULL, NULL},
    {"collection_exists", "Whether a collection exists", 0, NULL, NULL},
    {"index_create", "Create a payload index", DOC_WAIT,
     "{\"type\":\"object\",\"required\":[\"field_name\",\"field_schema\"],"
     "\"properties\":{\"field_name\":{\"type\":\"string\"},\"field_schema\":"
     "{\"oneOf\":[{\"type\":\"string\",\"enum\":[\"keyword\",\"integer\","
     "\"float\",\"bool\"]},{\"type\":\"object\",\"properties\":{\"type\":"
     "{\"type\":\"string\"}}}]}}}",
     NULL},
    {"index_delete", "Drop a payload index (a no-op when there is none)",
     DOC_WAIT, NULL, NULL},
    {"points_upsert",
     "Upsert points (JSON, or the binary bulk body with Content-Type "
     "application/vnd.vectron.bulk-upsert)",
     DOC_WAIT,
     "{\"type\":\"object\",\"properties\":{\"points\":{\"type\":\"array\","
     "\"items\":{\"type\":\"object\",\"required\":[\"id\",\"vector\"],"
     "\"properties\":{\"id\":{\"$ref\":\"#/components/schemas/PointId\"},"
     "\"vector\":{\"$ref\":\"#/components/schemas/Vector\"},\"payload\":"
     "{\"type\":\"object\"}}}},\"batch\":{\"type\":\"object\",\"required\":"
     "[\"ids\",\"vectors\"],\"properties\":{\"ids\":{\"type\":\"array\","
     "\"items\":{\"$ref\":\"#/components/schemas/PointId\"}},\"vectors\":"
     "{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/"
     "Vector\"}},\"payloads\":{\"type\":\"array\",\"items\":{\"type\":"
     "\"object\"}}}}}}",
     NULL},
    {"points_retrieve", "Retrieve points by id", DOC_READ,
     "{\"type\":\"object\",\"required\":[\"ids\"],\"properties\":{\"ids\":"
     "{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/"
     "PointId\"}},\"with_payload\":{\"$ref\":\"#/components/schemas/"
     "WithPayload\"},\"with_vector\":{\"type\":\"boolean\"},\"with_vectors\":{"
     "\"type\":\"boolean\"},\"consistency\":"
     "{\"$ref\":\"#/components/schemas/Consistency\"}}}",
     NULL},
    {"point_get", "Retrieve one point", 0, NULL, NULL},
    {"points_delete", "Delete points by ids or filter", DOC_WAIT,
     "{\"$ref\":\"#/components/schemas/Selector\"}", NULL},
    {"payload_set", "Set (merge) payload keys", DOC_WAIT,
     "{\"type\":\"object\",\"required\":[\"payload\"],\"properties\":{"
     "\"payload\":{\"type\":\"object\"},\"points\":{\"type\":\"array\"},"
     "\"filter\":{\"$ref\":\"#/components/schemas/Filter\"}}}",
     NULL},
    {"payload_overwrite", "Replace the whole payload", DOC_WAIT,
     "{\"type\":\"object\",\"required\":[\"payload\"],\"properties\":{"
     "\"payload\":{\"type\":\"object\"},\"points\":{\"type\":\"array\"},"
     "\"filter\":{\"$ref\":\"#/components/schemas/Filter\"}}}",
     NULL},
    {"payload_delete", "Delete payload keys", DOC_WAIT,
     "{\"type\":\"object\",\"required\":[\"keys\"],\"properties\":{\"keys\":"
     "{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"points\":"
     "{\"type\":\"array\"},\"filter\":{\"$ref\":\"#/components/schemas/"
     "Filter\"}}}",
     NULL},
    {"payload_clear", "Remove every payload key", DOC_WAIT,
     "{\"$ref\":\"#/components/schemas/Selector\"}", NULL},
    {"points_scroll", "Page through points in id order",
     DOC_OPTIONAL_BODY | DOC_READ,
     "{\"type\":\"object\",\"properties\":{\"filter\":{\"$ref\":\"#/"
     "components/schemas/Filter\"},\"limit\":{\"type\":\"integer\"},"
     "\"offset\":{\"$ref\":\"#/components/schemas/PointId\"},"
     "\"with_payload\":{\"$ref\":\"#/components/schemas/WithPayload\"},"
     "\"with_vector\":{\"type\":\"boolean\"},"
     "\"with_vectors\":{\"type\":\"boolean\"},\"consistency\":{\"$ref\":"
     "\"#/components/schemas/Consistency\"}}}",
     NULL},
    {"points_count", "Count points matching a filter",
     DOC_OPTIONAL_BODY | DOC_READ,
     "{\"type\":\"object\",\"properties\":{\"filter\":{\"$ref\":\"#/"
     "components/schemas/Filter\"},\"exact\":{\"type\":\"boolean\"},"
     "\"consistency\":{\"$ref\":\"#/components/schemas/Consistency\"}}}",
     NULL},
    {"points_query", "Nearest neighbours of a vector or of a point",
     DOC_OPTIONAL_BODY | DOC_READ | DOC_SEARCH,
     "{\"$ref\":\"#/components/schemas/Query\"}",
     NULL},
    {"points_query_batch", "Several queries in one request",
     DOC_READ | DOC_SEARCH,
     "{\"type\":\"object\",\"required\":[\"searches\"],\"properties\":{"
     "\"searches\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/"
     "schemas/Query\"}}}}",
     NULL},
    {"points_search", "Nearest neighbours (older search API)",
     DOC_READ | DOC_SEARCH,
     "{\"$ref\":\"#/components/schemas/Search\"}", NULL},
    {"points_search_batch", "Several searches (older search API)",
     DOC_READ | DOC_SEARCH,
     "{\"type\":\"object\",\"required\":[\"searches\"],\"properties\":{"
     "\"searches\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/"
     "schemas/Search\"}}}}",
     NULL},
    {"collection_update", "Not supported by Vectron (400)", 0, NULL, NULL},
    {"points_batch_update", "Not supported by Vectron (400)", 0, NULL, NULL},
    {"vectors_update", "Not supported by Vectron (400)", 0, NULL, NULL},
    {"vectors_delete", "Not supported by Vectron (400)", 0, NULL, NULL},
    {"points_recommend", "Not supported by Vectron (400)", 0, NULL, NULL},
    {"points_discover", "Not supported by Vectron (400)", 0, NULL, NULL},
    {"points_query_groups", "Not supported by Vectron (400)", 0, NULL, NULL},
    {"aliases", "Not supported by Vectron (400)", 0, NULL, NULL},
    {"aliases_update", "Not supported by Vectron (400)", 0, NULL, NULL},
    {"collection_aliases", "Not supported by Vectron (400)", 0, NULL, NULL},
    {"snapshots_list", "Not supported by Vectron (400)", 0, NULL, NULL},
    {"snapshot_create", "Not supported by Vectron (400)", 0, NULL, NULL},
    {"cluster",
     "Cluster state: Qdrant's fields plus nodes and every collection's "
     "shards (leader, role, applied index, points, bytes)",
     0, NULL, NULL},
    {"collection_cluster",
     "A collection's shards in Qdrant's shape (shard_count, local_shards, "
     "remote_shards, shard_transfers)",
     0, NULL, NULL},
    {"keys_create", "Create an API key (admin); the secret is in the answer "
                    "only",
     0,
     "{\"type\":\"object\",\"required\":[\"access\"],\"properties\":{"
     "\"name\":{\"type\":\"string\"},\"access\":{\"type\":\"string\","
     "\"enum\":[\"admin\",\"read-write\",\"read-only\"]},\"collections\":"
     "{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"expires_at\":"
     "{\"type\":\"integer\",\"description\":\"Unix seconds\"}}}",
     NULL},
    {"keys_list", "List API keys (admin); never their secrets", 0, NULL, NULL},
    {"keys_revoke", "Revoke an API key (admin)", 0, NULL, NULL},
};

static const route_doc *find_doc(const char *name)
{
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        if (strcmp(docs[i].name, name) == 0)
            return &docs[i];
    return NULL;
}

int gw_api_route_documented(const char *name)
{
    return find_doc(name) != NULL;
}

/* A parameter object. */
static json_t *param(const char *name, const char *in, int required,
                     const char *type)
{
    return json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", name, "in", in,
                     "required", required, "schema", "type", type);
}

static json_t *operation(const http_route *rt)
{
    const route_doc *d = find_doc(rt->name);
    json_t *op = json_object(), *params = json_array();
    if (!op || !params)
        goto fail;
    json_object_set_new(op, "operationId", json_string(rt->name));
    json_object_set_new(op, "summary", json_string(d ? d->summary : rt->name));
    /* Path parameters, in pattern order. */
    for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p, '{')) {
        const char *e = strchr(p, '}');
        if (!e)
            break;
        char name[64];
        size_t len = (size_t)(e - p - 1) < sizeof name - 1 ? (size_t)(e - p - 1)
                                                           : sizeof name - 1;
        memcpy(name, p + 1, len);
        name[len] = '\0';
        json_array_append_new(params, param(name, "path", 1, "string"));
        p = e;
    }
    if (d && (d->flags & DOC_WAIT))
        json_array_append_new(params, param("wait", "query", 0, "boolean"));
    if (d && (d->flags & DOC_READ))
        json_array_append_new(params,
                              param("consistency", "query", 0, "string"));
    if (d && (d->flags & DOC_SEARCH)) {
        json_array_append_new(params, param("partial", "query", 0, "boolean"));
        json_array_append_new(params, param("timeout", "query", 0, "integer"));
    }
    json_object_set_new(op, "parameters", params);
    params = NULL;
    int optional_body = d && (d->flags & DOC_OPTIONAL_BODY);
    if (d && d->request) {
        json_t *schema = json_loads(d->request, 0, NULL);
        if (!schema)
            goto fail;
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b,s:{s:{s:o}}}", "required",
                                      !optional_body, "content",
                                      "application/json", "schema", schema));
    }
    /* Credentials (docs/auth.md): every route but the probes takes the
     * api-key header or a bearer token (enforced once a credential is
     * configured). */
    if ((rt->access & HTTP_ACCESS_LEVEL_MASK) == HTTP_ACCESS_PUBLIC)
        json_object_set_new(op, "security", json_array());
    else
        json_object_set_new(op, "x-vectron-access",
                            json_string((rt->access & HTTP_ACCESS_LEVEL_MASK) ==
                                                HTTP_ACCESS_READ
                                            ? "read"
                                        : (rt->access &
                                           HTTP_ACCESS_LEVEL_MASK) ==
                                                HTTP_ACCESS_WRITE
                                            ? "write"
                                            : "admin"));
    if (d && d->plain) /* bare bodies, no envelope */
        json_object_set_new(
            op, "responses",
            json_pack("{s:{s:s}}", "200", "description", d->plain));
    else
        json_object_set_new(
            op, "responses",
            json_pack(
                "{s:{s:s},s:{s:s}}", "200", "description",
                "{\"result\": ..., \"status\": \"ok\", \"time\": seconds}",
                "default", "description",
                "{\"status\": {\"error\": message}, \"time\": seconds}"));
    return op;
fail:
    json_decref(params);
    json_decref(op);
    return NULL;
}

json_t *gw_api_openapi_doc(const http_route *rt, size_t n)
{
    json_t *schemas = json_loads(components, 0, NULL);
    json_t *paths = json_object();
    json_t *doc = NULL;
    if (!schemas || !paths)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_object_get(paths, rt[i].pattern);
        if (!item) {
            item = json_object();
            if (!item || json_object_set_new(paths, rt[i].pattern, item))
                goto out;
        }
        char method[16];
        size_t k = 0;
        for (; rt[i].method[k] && k < sizeof method - 1; k++)
            method[k] = (char)(rt[i].method[k] | 0x20); /* lower case */
        method[k] = '\0';
        json_t *op = operation(&rt[i]);
        if (!op || json_object_set_new(item, method, op))
            goto out;
    }
    doc = json_pack(
        "{s:s,s:{s:s,s:s,s:s},s:O,s:{s:O,s:{s:{s:s,s:s,s:s},s:{s:s,s:s}}},"
        "s:[{s:[]},{s:[]}]}",
        "openapi", "3.0.3", "info", "title", "Vectron REST API", "version",
        VECTRON_VERSION, "description",
        "Qdrant-compatible core endpoints plus Vectron's "
        "extensions; see docs/api.md and docs/auth.md.",
        "paths", paths, "components", "schemas", schemas, "securitySchemes",
        "apiKey", "type", "apiKey", "in", "header", "name", "api-key",
        "bearer", "type", "http", "scheme", "bearer", "security", "apiKey",
        "bearer");
out:
    json_decref(paths);
    json_decref(schemas);
    return doc;
}
