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
    "\"consistency\":{\"$ref\":\"#/components/schemas/Consistency\"}}},"
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
    "\"score_threshold\":{\"type\":\"number\"}}},"
    "\"Selector\":{\"type\":\"object\",\"properties\":{"
    "\"points\":{\"type\":\"array\",\"items\":"
    "{\"$ref\":\"#/components/schemas/PointId\"}},"
    "\"filter\":{\"$ref\":\"#/components/schemas/Filter\"}}}"
    "}";

typedef struct route_doc {
    const char *name;
    const char *summary;
    int wait;            /* takes ?wait= */
    const char *request; /* schema JSON, NULL: no body */
} route_doc;

static const route_doc docs[] = {
    {"root", "Server title and version", 0, NULL},
    {"healthz", "Liveness: the process answers", 0, NULL},
    {"livez", "Liveness (alias of /healthz)", 0, NULL},
    {"readyz", "Readiness: every hosted shard is open and caught up", 0, NULL},
    {"metrics", "Prometheus metrics (text format 0.0.4)", 0, NULL},
    {"openapi", "This document", 0, NULL},
    {"collections_list", "List collections", 0, NULL},
    {"collection_get", "Collection info", 0, NULL},
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
     "\"read_consistency\":{\"$ref\":\"#/components/schemas/Consistency\"}}}"},
    {"collection_delete", "Delete a collection", 0, NULL},
    {"collection_exists", "Whether a collection exists", 0, NULL},
    {"index_create", "Create a payload index", 1,
     "{\"type\":\"object\",\"required\":[\"field_name\",\"field_schema\"],"
     "\"properties\":{\"field_name\":{\"type\":\"string\"},\"field_schema\":"
     "{\"oneOf\":[{\"type\":\"string\",\"enum\":[\"keyword\",\"integer\","
     "\"float\",\"bool\"]},{\"type\":\"object\",\"properties\":{\"type\":"
     "{\"type\":\"string\"}}}]}}}"},
    {"index_delete", "Drop a payload index (a no-op when there is none)", 1,
     NULL},
    {"points_upsert",
     "Upsert points (JSON, or the binary bulk body with Content-Type "
     "application/vnd.vectron.bulk-upsert)",
     1,
     "{\"type\":\"object\",\"properties\":{\"points\":{\"type\":\"array\","
     "\"items\":{\"type\":\"object\",\"required\":[\"id\",\"vector\"],"
     "\"properties\":{\"id\":{\"$ref\":\"#/components/schemas/PointId\"},"
     "\"vector\":{\"$ref\":\"#/components/schemas/Vector\"},\"payload\":"
     "{\"type\":\"object\"}}}},\"batch\":{\"type\":\"object\",\"required\":"
     "[\"ids\",\"vectors\"],\"properties\":{\"ids\":{\"type\":\"array\","
     "\"items\":{\"$ref\":\"#/components/schemas/PointId\"}},\"vectors\":"
     "{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/"
     "Vector\"}},\"payloads\":{\"type\":\"array\",\"items\":{\"type\":"
     "\"object\"}}}}}}"},
    {"points_retrieve", "Retrieve points by id", 0,
     "{\"type\":\"object\",\"required\":[\"ids\"],\"properties\":{\"ids\":"
     "{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/"
     "PointId\"}},\"with_payload\":{\"$ref\":\"#/components/schemas/"
     "WithPayload\"},\"with_vector\":{\"type\":\"boolean\"},\"with_vectors\":{"
     "\"type\":\"boolean\"},\"consistency\":"
     "{\"$ref\":\"#/components/schemas/Consistency\"}}}"},
    {"point_get", "Retrieve one point", 0, NULL},
    {"points_delete", "Delete points by ids or filter", 1,
     "{\"$ref\":\"#/components/schemas/Selector\"}"},
    {"payload_set", "Set (merge) payload keys", 1,
     "{\"type\":\"object\",\"required\":[\"payload\"],\"properties\":{"
     "\"payload\":{\"type\":\"object\"},\"points\":{\"type\":\"array\"},"
     "\"filter\":{\"$ref\":\"#/components/schemas/Filter\"}}}"},
    {"payload_overwrite", "Replace the whole payload", 1,
     "{\"type\":\"object\",\"required\":[\"payload\"],\"properties\":{"
     "\"payload\":{\"type\":\"object\"},\"points\":{\"type\":\"array\"},"
     "\"filter\":{\"$ref\":\"#/components/schemas/Filter\"}}}"},
    {"payload_delete", "Delete payload keys", 1,
     "{\"type\":\"object\",\"required\":[\"keys\"],\"properties\":{\"keys\":"
     "{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"points\":"
     "{\"type\":\"array\"},\"filter\":{\"$ref\":\"#/components/schemas/"
     "Filter\"}}}"},
    {"payload_clear", "Remove every payload key", 1,
     "{\"$ref\":\"#/components/schemas/Selector\"}"},
    {"points_scroll", "Page through points in id order", 0,
     "{\"type\":\"object\",\"properties\":{\"filter\":{\"$ref\":\"#/"
     "components/schemas/Filter\"},\"limit\":{\"type\":\"integer\"},"
     "\"offset\":{\"$ref\":\"#/components/schemas/PointId\"},"
     "\"with_payload\":{\"$ref\":\"#/components/schemas/WithPayload\"},"
     "\"with_vector\":{\"type\":\"boolean\"},"
     "\"with_vectors\":{\"type\":\"boolean\"},\"consistency\":{\"$ref\":"
     "\"#/components/schemas/Consistency\"}}}"},
    {"points_count", "Count points matching a filter", 0,
     "{\"type\":\"object\",\"properties\":{\"filter\":{\"$ref\":\"#/"
     "components/schemas/Filter\"},\"exact\":{\"type\":\"boolean\"},"
     "\"consistency\":{\"$ref\":\"#/components/schemas/Consistency\"}}}"},
    {"points_query", "Nearest neighbours of a vector or of a point", 0,
     "{\"$ref\":\"#/components/schemas/Query\"}"},
    {"points_query_batch", "Several queries in one request", 0,
     "{\"type\":\"object\",\"required\":[\"searches\"],\"properties\":{"
     "\"searches\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/"
     "schemas/Query\"}}}}"},
    {"points_search", "Nearest neighbours (older search API)", 0,
     "{\"$ref\":\"#/components/schemas/Search\"}"},
    {"points_search_batch", "Several searches (older search API)", 0,
     "{\"type\":\"object\",\"required\":[\"searches\"],\"properties\":{"
     "\"searches\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/"
     "schemas/Search\"}}}}"},
    {"collection_update", "Not supported by Vectron (400)", 0, NULL},
    {"points_batch_update", "Not supported by Vectron (400)", 0, NULL},
    {"vectors_update", "Not supported by Vectron (400)", 0, NULL},
    {"vectors_delete", "Not supported by Vectron (400)", 0, NULL},
    {"points_recommend", "Not supported by Vectron (400)", 0, NULL},
    {"points_discover", "Not supported by Vectron (400)", 0, NULL},
    {"points_query_groups", "Not supported by Vectron (400)", 0, NULL},
    {"aliases", "Not supported by Vectron (400)", 0, NULL},
    {"aliases_update", "Not supported by Vectron (400)", 0, NULL},
    {"collection_aliases", "Not supported by Vectron (400)", 0, NULL},
    {"snapshots_list", "Not supported by Vectron (400)", 0, NULL},
    {"snapshot_create", "Not supported by Vectron (400)", 0, NULL},
    {"cluster", "Not supported by Vectron (400)", 0, NULL},
    {"collection_cluster", "Not supported by Vectron (400)", 0, NULL},
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
    if (d && d->wait)
        json_array_append_new(params, param("wait", "query", 0, "boolean"));
    static const char *const reads[] = {"points_retrieve",    "points_scroll",
                                        "points_count",       "points_query",
                                        "points_query_batch", "points_search",
                                        "points_search_batch"};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
        if (strcmp(rt->name, reads[i]) == 0)
            json_array_append_new(params,
                                  param("consistency", "query", 0, "string"));
    json_object_set_new(op, "parameters", params);
    params = NULL;
    /* Bodies that may be empty (meaning {}). */
    int optional_body = strcmp(rt->name, "points_scroll") == 0 ||
                        strcmp(rt->name, "points_count") == 0 ||
                        strcmp(rt->name, "points_query") == 0;
    if (d && d->request) {
        json_t *schema = json_loads(d->request, 0, NULL);
        if (!schema)
            goto fail;
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b,s:{s:{s:o}}}", "required",
                                      !optional_body, "content",
                                      "application/json", "schema", schema));
    }
    static const char *const service[] = {"root",   "healthz", "livez",
                                          "readyz", "metrics", "openapi"};
    int plain = 0;
    for (size_t i = 0; i < sizeof service / sizeof service[0]; i++)
        plain |= strcmp(rt->name, service[i]) == 0;
    if (plain) /* bare bodies, no envelope */
        json_object_set_new(
            op, "responses",
            json_pack("{s:{s:s}}", "200", "description",
                      strcmp(rt->name, "metrics") == 0
                          ? "Prometheus text exposition format 0.0.4"
                      : strcmp(rt->name, "root") == 0
                          ? "{\"title\": ..., \"version\": ...}"
                      : strcmp(rt->name, "openapi") == 0
                          ? "This OpenAPI document"
                      : strcmp(rt->name, "readyz") == 0
                          ? "Plain text; 503 while not ready"
                          : "Plain text"));
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
    doc = json_pack("{s:s,s:{s:s,s:s,s:s},s:O,s:{s:O}}", "openapi", "3.0.3",
                    "info", "title", "Vectron REST API", "version",
                    VECTRON_VERSION, "description",
                    "Qdrant-compatible core endpoints plus Vectron's "
                    "extensions; see docs/api.md.",
                    "paths", paths, "components", "schemas", schemas);
out:
    json_decref(paths);
    json_decref(schemas);
    return doc;
}
