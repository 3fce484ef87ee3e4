/*
 * qdrant_json.h - the gateway's request decoders and response encoders for
 * Vectron's Qdrant-compatible REST API, plus the binary bulk-upsert body.
 * Pure functions: no I/O, no global state (except gw_json_use_vx_alloc).
 * What each decoder accepts, with examples and error messages, is in
 * docs/api-json.md; the bulk body is specified in
 * docs/formats/bulk-upsert.md.
 *
 * Files: qdrant_json.c (JSON primitives, point ids, enums),
 * qdrant_decode_ctx.c (the decoding context and shared value decoders),
 * qdrant_decode.c (request decoders), qdrant_bulk.c (the binary bulk
 * body), qdrant_encode.c (response encoders); their shared internals are in
 * qdrant_json_int.h.
 *
 * Decoders take the raw request body (body, len: need not be
 * NUL-terminated; the body is borrowed for the call only) and fill a
 * caller-allocated struct that then owns every pointer in it; release it
 * with the matching *_close function (which also accepts a zeroed struct
 * and may be called twice). Every decode error returns VECTRON_INVALID
 * (or VECTRON_NOMEM) with a message that starts with the JSON path of the
 * problem: "points[3].vector[17]: not a finite number",
 * "limit: 20000 exceeds the maximum of 10000", "body: invalid JSON at line
 * 1, column 9: ...". On error the output struct is left zeroed and nothing
 * stays allocated.
 *
 * Common rules for all JSON bodies:
 *  - the top level must be an object; duplicate keys are rejected;
 *  - a field whose value is null is treated as absent;
 *  - unknown fields are rejected; Qdrant fields that do not change
 *    Vectron's behaviour are accepted and ignored, and Qdrant features
 *    Vectron lacks are rejected with "... not supported by Vectron" unless
 *    null (lists per request in docs/api-json.md);
 *  - integers may be as large as 2^64-1 (jansson alone stops at 2^63-1:
 *    gw_json_load keeps larger literals exact as "big-number markers").
 *
 * Encoders build jansson values (new references; NULL means out of
 * memory) and gw_respond_* turn them into the final response text. Output
 * is valid JSON for any input: strings are escaped and invalid UTF-8 is
 * replaced by U+FFFD; non-finite floats become null.
 *
 * Big-number markers: jansson cannot hold an integer above INT64_MAX, so
 * gw_json_load represents such a literal as a string whose first byte is
 * NUL followed by the literal's text, and the encoders use the same form
 * for ids above INT64_MAX and for float32 values printed in their shortest
 * form. gw_json_dump writes a marker back as a bare number. Therefore:
 * serialise every value built here with gw_json_dump (json_dumps would
 * print the marker as a string), and read stored payload text with
 * gw_json_load (it may contain integers above INT64_MAX). No legitimate
 * string can collide with a marker: gw_json_load rejects "\u0000".
 *
 * Threading: all functions are reentrant; distinct requests may be
 * decoded and encoded concurrently. Decoded structs and json_t values are
 * not synchronised: share them read-only. jansson's reference counts are
 * atomic, so taking a reference to a payload another thread also reads is
 * safe.
 */
#ifndef VECTRON_GW_QDRANT_JSON_H
#define VECTRON_GW_QDRANT_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/json.h"
#include "common/point_id.h"
#include "filter/filter.h"
#include "rerank/rerank.h"
#include "vectron/error.h"
#include "vectron/index.h"

/* ---- limits ------------------------------------------------------------ */

/* Caller-supplied bounds; exceeding one is VECTRON_INVALID with a message
 * naming the field and the bound. */
typedef struct gw_limits {
    uint32_t max_dim;          /* largest collection dimension accepted
                                  (<= VECTRON_MAX_DIM); default 65536 */
    uint32_t max_limit;        /* largest limit/top; default 10000 */
    uint32_t max_offset;       /* largest numeric offset; default 100000 */
    uint32_t max_batch;        /* most points per upsert, ids per request,
                                  searches per batch, keys, and entries of
                                  filter lists; default 10000 */
    uint32_t max_filter_depth; /* deepest filter nesting; default 16 */
} gw_limits;

/* Fills *lim with the defaults above. */
void gw_limits_default(gw_limits *lim);

/* Largest shard_number / replication_factor accepted. */
#define GW_MAX_SHARDS 1024u
#define GW_MAX_REPLICAS 16u

/* ---- shared types ------------------------------------------------------ */

/* Read consistency (Vectron extension; DESIGN.md section 5). */
typedef enum gw_consistency {
    GW_CONSISTENCY_DEFAULT = 0, /* not given: the collection's default */
    GW_CONSISTENCY_STRONG = 1,
    GW_CONSISTENCY_BOUNDED = 2,
    GW_CONSISTENCY_EVENTUAL = 3
} gw_consistency;

/* Parses "strong", "bounded" or "eventual" (len bytes; for a query
 * parameter). INVALID otherwise. */
int gw_consistency_parse(const char *s, size_t len, gw_consistency *out,
                         vectron_error *err);

/* "strong", "bounded", "eventual" or "default"; static strings. */
const char *gw_consistency_name(gw_consistency c);

/* Parses a point id given as text, e.g. a URL path segment: decimal
 * digits (0..2^64-1, no sign, no leading zeros) or a UUID. INVALID
 * otherwise. */
int gw_point_id_parse_text(const char *s, size_t len, point_id *out,
                           vectron_error *err);

/* A byte string; in decoded structs data points into memory owned by the
 * struct. data == NULL means absent. */
typedef struct gw_text {
    const char *data;
    size_t len;
} gw_text;

/* Which payload fields a response carries (Qdrant's with_payload: a bool,
 * a list of keys, {"include": [..]} or {"exclude": [..]}). */
typedef enum gw_payload_mode {
    GW_PAYLOAD_NONE = 0,
    GW_PAYLOAD_ALL = 1,
    GW_PAYLOAD_INCLUDE = 2,
    GW_PAYLOAD_EXCLUDE = 3
} gw_payload_mode;

typedef struct gw_payload_select {
    gw_payload_mode mode;
    char **keys; /* INCLUDE/EXCLUDE: nkeys owned NUL-terminated dotted
                    paths */
    size_t nkeys;
} gw_payload_select;

/* Payload index field types (create index). */
typedef enum gw_field_type {
    GW_FIELD_KEYWORD = 0,
    GW_FIELD_INTEGER = 1,
    GW_FIELD_FLOAT = 2,
    GW_FIELD_BOOL = 3
} gw_field_type;

/* "keyword", "integer", "float", "bool". */
const char *gw_field_type_name(gw_field_type t);

/* ---- JSON primitives --------------------------------------------------- */

/* Routes jansson's allocations through vx_malloc/vx_free (so allocation
 * hooks and failure injection cover them). Process-wide: call once at
 * start-up, before any thread uses jansson, or not at all. */
void gw_json_use_vx_alloc(void);

/* Parses len bytes of JSON text (any top-level value) into *out (a new
 * reference), keeping integers outside int64 as big-number markers and
 * rejecting duplicate object keys and "\u0000". Errors: INVALID "body:
 * invalid JSON at line L, column C: reason"; NOMEM. */
int gw_json_load(const char *text, size_t len, json_t **out,
                 vectron_error *err);

/* Serialises j compactly, writing big-number markers as bare numbers.
 * *out is NUL-terminated, *out_len bytes, owned by the caller: free with
 * vx_free. Errors: NOMEM (then *out is NULL). */
int gw_json_dump(const json_t *j, char **out, size_t *out_len,
                 vectron_error *err);

/* Returns 1 if j is a big-number marker (see above). */
static inline int gw_json_is_bignum(const json_t *j)
{
    return vx_json_is_bignum(j);
}

/* Decodes a point id value at JSON path `path`: a non-negative integer up
 * to 2^64-1 (jansson integer or marker) or a UUID string. INVALID with
 * "path: ..." otherwise. */
int gw_json_get_point_id(const json_t *j, const char *path, point_id *out,
                         vectron_error *err);

/* A point id as JSON: an integer, a marker (above INT64_MAX) or a UUID
 * string. New reference; NULL when out of memory. */
json_t *gw_json_point_id(const point_id *id);

/* ---- collections ------------------------------------------------------- */

/* Zero in m, ef_construction, quantile, shard_number or replication_factor
 * means "not given": apply the server default. */
typedef struct gw_collection_config {
    uint32_t dim;                    /* vectors.size, 1..max_dim */
    vectron_metric metric;           /* vectors.distance */
    uint32_t m;                      /* hnsw_config.m, 2..VECTRON_MAX_M */
    uint32_t ef_construction;        /* hnsw_config.ef_construct,
                                        4..VECTRON_MAX_EF, >= m */
    vectron_quant quant;             /* quantization_config.scalar => INT8 */
    float quantile;                  /* scalar.quantile, 0.5..1 */
    int always_ram;                  /* scalar.always_ram */
    uint32_t shard_number;           /* 1..GW_MAX_SHARDS */
    uint32_t replication_factor;     /* 1..GW_MAX_REPLICAS */
    gw_consistency read_consistency; /* read_consistency | consistency */
} gw_collection_config;

/* PUT /collections/{name}. Owns no memory (no close function). */
int gw_decode_create_collection(const char *body, size_t len,
                                const gw_limits *lim, gw_collection_config *out,
                                vectron_error *err);

/* ---- upsert ------------------------------------------------------------ */

/* Decoded points, from JSON or from the binary bulk body. */
typedef struct gw_upsert {
    size_t count;
    uint32_t dim;
    point_id *ids;     /* count ids, in body order (duplicates kept: the
                          last one wins when applied) */
    float *vectors;    /* count * dim floats, one vx_malloc block, point i
                          at vectors + i * dim; all finite. The caller may
                          take it (set the field to NULL, vx_free it
                          later) */
    gw_text *payloads; /* count entries (data NULL: no payload), or NULL
                          when no point has one. Each is compact JSON text
                          of an object (integers above INT64_MAX kept
                          verbatim: read with gw_json_load) */
    char *payload_buf; /* backing store of payloads[i].data */
} gw_upsert;

/* PUT /collections/{name}/points: {"points": [{"id", "vector",
 * "payload"?}, ..]} or {"batch": {"ids", "vectors", "payloads"?}}. dim is
 * the collection's dimension; every vector must have exactly dim finite
 * components within float32 range. */
int gw_decode_upsert(const char *body, size_t len, uint32_t dim,
                     const gw_limits *lim, gw_upsert *out, vectron_error *err);

/* The binary bulk body (docs/formats/bulk-upsert.md): validates magic,
 * version, flags, sizes (no overflow, no trailing bytes), CRC32C, finite
 * floats, ids and payload objects; never reads outside body[0..len). */
int gw_decode_bulk_upsert(const uint8_t *body, size_t len, uint32_t dim,
                          const gw_limits *lim, gw_upsert *out,
                          vectron_error *err);

/* Releases everything u owns and zeroes it. */
void gw_upsert_close(gw_upsert *u);

/* Encodes a bulk body: count points of dimension dim, ids[count],
 * vectors[count * dim], payloads (NULL, or count entries whose data is
 * NULL or the text of a JSON object; not validated here). UUID ids are
 * used for the whole body iff ids[0] is one; mixing kinds is INVALID.
 * *out (free with vx_free) holds *out_len bytes. Errors: INVALID, LIMIT
 * (over 4 GiB of payload), NOMEM. */
int gw_encode_bulk_upsert(const point_id *ids, const float *vectors,
                          const gw_text *payloads, size_t count, uint32_t dim,
                          uint8_t **out, size_t *out_len, vectron_error *err);

/* ---- search and query -------------------------------------------------- */

typedef enum gw_query_kind {
    GW_QUERY_NONE = 0,   /* no query: list points by id (query API only) */
    GW_QUERY_VECTOR = 1, /* vector holds dim floats */
    GW_QUERY_ID = 2      /* search with the vector of point id */
} gw_query_kind;

/* The rerank extension of a search (docs/rerank.md): strategy NONE (the
 * default) leaves the search as Qdrant runs it. */
typedef struct gw_rerank {
    rerank_strategy strategy;
    uint32_t candidates; /* fetched before reranking; 0: the default,
                            4 * (limit + offset); else >= limit + offset */
    double lambda;       /* mmr: in [0, 1]; default 0.5 */
    /* boost: nfields payload fields (dotted paths, owned) and weights */
    size_t nfields;
    char **fields;
    double *weights;
    char *time_field;      /* boost recency: owned; NULL: no recency */
    double half_life_s;    /* > 0 when time_field is set */
    double recency_weight; /* default 1 */
    int has_now;
    double now_s; /* epoch seconds; has_now 0: the wall clock */
    /* rrf: nqueries more query vectors of dim floats each (owned) */
    size_t nqueries;
    float *queries;
    double rrf_k;        /* default 60 */
    uint32_t timeout_ms; /* the service call; 0: the server's knob */
    int service;         /* -1: the service when configured (default);
                            0: in-process; 1: the service, which must be
                            configured */
} gw_rerank;

void gw_rerank_close(gw_rerank *r);

typedef struct gw_search {
    gw_query_kind kind;
    float *vector;       /* GW_QUERY_VECTOR: dim floats, owned */
    point_id id;         /* GW_QUERY_ID */
    gw_filter *filter;   /* owned; NULL: no filter */
    uint32_t limit;      /* 1..max_limit (query: default 10) */
    uint32_t offset;     /* 0..max_offset */
    uint32_t hnsw_ef;    /* params.hnsw_ef; 0: default */
    int exact;           /* params.exact */
    int quant_ignore;    /* params.quantization.ignore */
    int rescore;         /* params.quantization.rescore: -1 default */
    double oversampling; /* params.quantization.oversampling: 0
                            default, else >= 1 */
    gw_payload_select with_payload; /* default NONE */
    int with_vector;                /* default 0 */
    int has_score_threshold;
    float score_threshold;
    gw_consistency consistency; /* Vectron extension */
    gw_rerank rerank;           /* Vectron extension */
    /* Set by the handler from the URL (?partial=, ?timeout=), not the
     * body: answer without the shards that miss timeout_ms (0: the
     * host's RPC timeout), and where api_gather marks the shards missed
     * (borrowed: the collection's shard count of bytes, set to 1 for a
     * missed shard and never cleared; NULL: none may be missed). */
    int partial;
    unsigned timeout_ms;
    unsigned char *missed;
} gw_search;

/* POST /collections/{name}/points/query. query: a vector, a point id, or
 * {"nearest": vector | id}; absent: GW_QUERY_NONE. An empty body means
 * {}. dim is the collection's dimension. */
int gw_decode_query(const char *body, size_t len, uint32_t dim,
                    const gw_limits *lim, gw_search *out, vectron_error *err);

/* POST /collections/{name}/points/search: "vector" required, "limit"
 * (alias "top") required. */
int gw_decode_search(const char *body, size_t len, uint32_t dim,
                     const gw_limits *lim, gw_search *out, vectron_error *err);

void gw_search_close(gw_search *s);

typedef struct gw_search_batch {
    size_t count;
    gw_search *searches; /* count entries, owned */
} gw_search_batch;

/* POST .../points/query/batch and .../points/search/batch:
 * {"searches": [...]}, each element as above, error paths
 * "searches[i]. ...". At most max_batch searches. */
int gw_decode_query_batch(const char *body, size_t len, uint32_t dim,
                          const gw_limits *lim, gw_search_batch *out,
                          vectron_error *err);
int gw_decode_search_batch(const char *body, size_t len, uint32_t dim,
                           const gw_limits *lim, gw_search_batch *out,
                           vectron_error *err);

void gw_search_batch_close(gw_search_batch *b);

/* ---- retrieve, delete, payload updates, scroll, count ------------------ */

/* POST /collections/{name}/points: {"ids": [..], "with_payload" (default
 * true), "with_vector" (default false), "consistency"}. */
typedef struct gw_retrieve {
    size_t count;
    point_id *ids; /* owned */
    gw_payload_select with_payload;
    int with_vector;
    gw_consistency consistency;
} gw_retrieve;

int gw_decode_retrieve(const char *body, size_t len, const gw_limits *lim,
                       gw_retrieve *out, vectron_error *err);
void gw_retrieve_close(gw_retrieve *r);

/* Which points an update applies to: a list of ids or a filter. */
typedef struct gw_selector {
    int by_filter; /* 0: ids[0..count) (possibly empty); 1: filter */
    size_t count;
    point_id *ids;     /* owned */
    gw_filter *filter; /* owned */
} gw_selector;

/* POST .../points/delete and .../points/payload/clear: {"points": [ids]}
 * or {"filter": {..}} (exactly one). */
int gw_decode_delete_points(const char *body, size_t len, const gw_limits *lim,
                            gw_selector *out, vectron_error *err);
void gw_selector_close(gw_selector *s);

/* POST/PUT .../points/payload: {"payload": {..}, "points": [..] |
 * "filter": {..}, "key": "path"?}. */
typedef struct gw_set_payload {
    gw_text payload; /* compact JSON object text, owned (NUL-terminated) */
    char *key;       /* owned; NULL: set at the top level */
    gw_selector sel;
} gw_set_payload;

int gw_decode_set_payload(const char *body, size_t len, const gw_limits *lim,
                          gw_set_payload *out, vectron_error *err);
void gw_set_payload_close(gw_set_payload *p);

/* POST .../points/payload/delete: {"keys": [..], "points" | "filter"}. */
typedef struct gw_delete_payload {
    size_t nkeys;
    char **keys; /* owned NUL-terminated dotted paths */
    gw_selector sel;
} gw_delete_payload;

int gw_decode_delete_payload(const char *body, size_t len, const gw_limits *lim,
                             gw_delete_payload *out, vectron_error *err);
void gw_delete_payload_close(gw_delete_payload *p);

/* POST .../points/scroll: {"filter", "limit" (default 10), "offset" (a
 * point id), "with_payload" (default true), "with_vector" (default
 * false), "consistency"}. An empty body means {}. */
typedef struct gw_scroll {
    gw_filter *filter; /* owned; NULL: none */
    uint32_t limit;
    int has_offset;
    point_id offset;
    gw_payload_select with_payload;
    int with_vector;
    gw_consistency consistency;
} gw_scroll;

int gw_decode_scroll(const char *body, size_t len, const gw_limits *lim,
                     gw_scroll *out, vectron_error *err);
void gw_scroll_close(gw_scroll *s);

/* POST .../points/count: {"filter", "exact" (default true),
 * "consistency"}. An empty body means {}. */
typedef struct gw_count {
    gw_filter *filter; /* owned; NULL: none */
    int exact;
    gw_consistency consistency;
} gw_count;

int gw_decode_count(const char *body, size_t len, const gw_limits *lim,
                    gw_count *out, vectron_error *err);
void gw_count_close(gw_count *c);

/* PUT .../index: {"field_name": "a.b", "field_schema": "keyword" |
 * "integer" | "float" | "bool" | {"type": ...}}. */
typedef struct gw_payload_index {
    char *field_name; /* owned */
    gw_field_type type;
} gw_payload_index;

int gw_decode_payload_index(const char *body, size_t len, gw_payload_index *out,
                            vectron_error *err);
void gw_payload_index_close(gw_payload_index *p);

/* ---- responses --------------------------------------------------------- */

/* A point to put in a response. Everything is borrowed for the call. */
typedef struct gw_point_out {
    point_id id;
    uint64_t version;    /* scored points only */
    float score;         /* scored points only */
    json_t *payload;     /* NULL: omitted; else a reference is taken */
    const float *vector; /* NULL: omitted; else dim floats */
    uint32_t dim;
} gw_point_out;

/* Scored points: [{"id", "version", "score", "payload"?, "vector"?}..].
 * Results of /points/search; wrap in {"points": ..} for /points/query
 * with gw_json_query_result. */
json_t *gw_json_scored_points(const gw_point_out *pts, size_t n);

/* {"points": scored points} */
json_t *gw_json_query_result(const gw_point_out *pts, size_t n);

/* Records (retrieve): [{"id", "payload"?, "vector"?}..]. */
json_t *gw_json_records(const gw_point_out *pts, size_t n);

/* Scroll: {"points": records, "next_page_offset": id or null}. */
json_t *gw_json_scroll_result(const gw_point_out *pts, size_t n,
                              const point_id *next_offset /* NULL: null */);

/* {"count": n} */
json_t *gw_json_count_result(uint64_t count);

/* Update result: {"operation_id": id, "status": "completed" |
 * "acknowledged"}. */
json_t *gw_json_update_result(uint64_t operation_id, int completed);

/* {"collections": [{"name": ..}..]}; names borrowed, any bytes. */
json_t *gw_json_collections_list(const char *const *names, size_t n);

typedef enum gw_collection_status {
    GW_STATUS_GREEN = 0,
    GW_STATUS_YELLOW = 1,
    GW_STATUS_RED = 2
} gw_collection_status;

typedef struct gw_field_info {
    const char *name; /* borrowed */
    gw_field_type type;
    uint64_t points; /* points indexed under this field */
} gw_field_info;

/* Collection info (GET /collections/{name}); config holds the resolved
 * values (no zeros). Everything borrowed. */
typedef struct gw_collection_info {
    gw_collection_status status;
    uint64_t points_count;
    uint64_t indexed_vectors_count;
    uint64_t segments_count;
    gw_collection_config config;
    const gw_field_info *fields;
    size_t nfields;
} gw_collection_info;

json_t *gw_json_collection_info(const gw_collection_info *info);

/* Projects payload (a JSON object, borrowed) through sel into *out (a new
 * reference; NULL when sel->mode is NONE). INCLUDE copies the listed
 * dotted paths (walking objects only), EXCLUDE copies everything but
 * them. Errors: NOMEM. */
int gw_payload_project(json_t *payload, const gw_payload_select *sel,
                       json_t **out, vectron_error *err);

/* The success envelope {"result": result, "status": "ok", "time": t} (and
 * "partial": true when partial is set, see DESIGN.md section 5). result is
 * stolen, even on error; NULL means its construction ran out of memory and
 * yields NOMEM. *out (free with vx_free) is NUL-terminated JSON of
 * *out_len bytes. */
int gw_respond_ok(json_t *result, double time_s, int partial, char **out,
                  size_t *out_len, vectron_error *err);

/* The error envelope {"status": {"error": msg}, "time": t}; msg may hold
 * any bytes (NULL: "unknown error"). Errors: NOMEM only. */
int gw_respond_error(const char *msg, double time_s, char **out,
                     size_t *out_len, vectron_error *err);

/* The HTTP status for a Vectron error code: 400 for INVALID, DIMENSION,
 * UNSUPPORTED and LIMIT; 404 NOT_FOUND; 409 EXISTS; 503 NOMEM, UNAVAILABLE and
 * NOT_LEADER; 504 TIMEOUT; 500 otherwise; 200 for OK. */
int gw_http_status(int code);

#endif
