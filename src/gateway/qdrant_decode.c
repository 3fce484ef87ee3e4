/*
 * qdrant_decode.c - the request decoders of qdrant_json.h: collections,
 * JSON upsert, search and query (single and batch), retrieve, point
 * selectors, payload updates, scroll, count and payload indexes. Each
 * parses the body, walks it in a gw_jctx (qdrant_decode_ctx.c) and fills
 * the caller's struct, which is left zeroed on error.
 *
 * Threading: reentrant; no state outside the caller's structs.
 */
#include <float.h>
#include <string.h>

#include "common/common.h"
#include "gateway/qdrant_json_int.h"

/* ---- collections ------------------------------------------------------- */

static int decode_hnsw(gw_jctx *c, const json_t *h, gw_collection_config *cfg)
{
    static const char *const known[] = {"m", "ef_construct", NULL};
    static const char *const ignored[] = {
        "full_scan_threshold", "max_indexing_threads", "on_disk",
        "payload_m",           "inline_storage",       NULL};
    int rc;

    if ((rc = gw_need_object(c, h)) ||
        (rc = gw_check_fields(c, h, known, ignored, NULL)) ||
        (rc = gw_opt_uint(c, h, "m", 2, VECTRON_MAX_M, &cfg->m)) ||
        (rc = gw_opt_uint(c, h, "ef_construct", 4, VECTRON_MAX_EF,
                          &cfg->ef_construction))) {
        return rc;
    }
    return 0;
}

static int decode_quant(gw_jctx *c, const json_t *q, gw_collection_config *cfg)
{
    static const char *const known[] = {"scalar", NULL};
    static const char *const unsup[] = {"product", "binary", NULL};
    static const char *const sknown[] = {"type", "quantile", "always_ram",
                                         NULL};
    const json_t *s, *t;
    double quantile = 0;
    size_t m;
    int rc;

    if ((rc = gw_need_object(c, q)) ||
        (rc = gw_check_fields(c, q, known, NULL, unsup))) {
        return rc;
    }
    if (!(s = gw_get(q, "scalar"))) {
        return gw_missing(c, "scalar");
    }
    m = gw_push_key(c, "scalar");
    if ((rc = gw_need_object(c, s)) ||
        (rc = gw_check_fields(c, s, sknown, NULL, NULL))) {
        goto out;
    }
    if (!(t = gw_get(s, "type"))) {
        rc = gw_missing(c, "type");
        goto out;
    }
    if (!json_is_string(t) || strcmp(json_string_value(t), "int8") != 0) {
        size_t m2 = gw_push_key(c, "type");
        rc = gw_fail(c, "must be \"int8\"");
        gw_pop(c, m2);
        goto out;
    }
    if ((rc = gw_opt_number(c, s, "quantile", 0.5, 1.0, &quantile, NULL)) ||
        (rc = gw_opt_bool(c, s, "always_ram", &cfg->always_ram))) {
        goto out;
    }
    cfg->quant = VECTRON_QUANT_INT8;
    cfg->quantile = (float)quantile;
out:
    gw_pop(c, m);
    return rc;
}

static int decode_distance(gw_jctx *c, const json_t *v, vectron_metric *metric)
{
    const char *s;

    if (!json_is_string(v) || gw_json_is_bignum(v)) {
        return gw_fail(c, "must be \"Cosine\", \"Euclid\" or \"Dot\"");
    }
    s = json_string_value(v);
    if (strcmp(s, "Cosine") == 0) {
        *metric = VECTRON_METRIC_COSINE;
    } else if (strcmp(s, "Euclid") == 0) {
        *metric = VECTRON_METRIC_L2;
    } else if (strcmp(s, "Dot") == 0) {
        *metric = VECTRON_METRIC_DOT;
    } else if (strcmp(s, "Manhattan") == 0) {
        return gw_fail(c, "\"Manhattan\" is not supported by Vectron");
    } else {
        return gw_fail(c,
                       "unknown distance \"%.40s\" (expected \"Cosine\", "
                       "\"Euclid\" or \"Dot\")",
                       s);
    }
    return 0;
}

static int decode_vectors_params(gw_jctx *c, const json_t *v,
                                 gw_collection_config *cfg)
{
    static const char *const known[] = {"size",        "distance",
                                        "hnsw_config", "quantization_config",
                                        "datatype",    NULL};
    static const char *const ignored[] = {"on_disk", NULL};
    static const char *const unsup[] = {"multivector_config", NULL};
    const json_t *x;
    uint64_t size;
    size_t m;
    int rc;

    if (!json_is_object(v)) {
        return gw_fail(c, "must be an object {\"size\", \"distance\"}");
    }
    if (!json_object_get(v, "size") && !json_object_get(v, "distance") &&
        json_object_size(v) > 0) {
        const char *k;
        json_t *x2;
        int named = 1;
        json_object_foreach((json_t *)v, k, x2)
        {
            named &= json_is_object(x2);
        }
        if (named) {
            return gw_fail(c, "named vectors are not supported by Vectron");
        }
    }
    if ((rc = gw_check_fields(c, v, known, ignored, unsup))) {
        return rc;
    }
    if (!(x = gw_get(v, "size"))) {
        return gw_missing(c, "size");
    }
    m = gw_push_key(c, "size");
    rc = gw_as_uint(c, x, 1, c->lim.max_dim, &size);
    gw_pop(c, m);
    if (rc) {
        return rc;
    }
    cfg->dim = (uint32_t)size;
    if (!(x = gw_get(v, "distance"))) {
        return gw_missing(c, "distance");
    }
    m = gw_push_key(c, "distance");
    rc = decode_distance(c, x, &cfg->metric);
    gw_pop(c, m);
    if (rc) {
        return rc;
    }
    if ((x = gw_get(v, "datatype"))) {
        m = gw_push_key(c, "datatype");
        if (!json_is_string(x) ||
            strcmp(json_string_value(x), "float32") != 0) {
            rc = gw_fail(c, "only \"float32\" is supported by Vectron");
        }
        gw_pop(c, m);
        if (rc) {
            return rc;
        }
    }
    if ((x = gw_get(v, "hnsw_config"))) {
        m = gw_push_key(c, "hnsw_config");
        rc = decode_hnsw(c, x, cfg);
        gw_pop(c, m);
        if (rc) {
            return rc;
        }
    }
    if ((x = gw_get(v, "quantization_config"))) {
        m = gw_push_key(c, "quantization_config");
        rc = decode_quant(c, x, cfg);
        gw_pop(c, m);
    }
    return rc;
}

int gw_decode_create_collection(const char *body, size_t len,
                                const gw_limits *lim, gw_collection_config *out,
                                vectron_error *err)
{
    static const char *const known[] = {
        "vectors",      "hnsw_config",        "quantization_config",
        "shard_number", "replication_factor", "read_consistency",
        "consistency",  "sharding_method",    NULL};
    static const char *const ignored[] = {"write_consistency_factor",
                                          "on_disk_payload",
                                          "optimizers_config",
                                          "wal_config",
                                          "strict_mode_config",
                                          "metadata",
                                          NULL};
    static const char *const unsup[] = {"sparse_vectors", "init_from", NULL};
    json_t *root = NULL;
    const json_t *x;
    gw_jctx c;
    size_t m;
    int rc;

    memset(out, 0, sizeof *out);
    gw_ctx_init(&c, lim, err);
    if ((rc = gw_load_root(&c, body, len, 0, &root)) ||
        (rc = gw_check_fields(&c, root, known, ignored, unsup))) {
        goto out;
    }
    if ((x = gw_get(root, "sharding_method"))) {
        if (!json_is_string(x) || strcmp(json_string_value(x), "auto")) {
            m = gw_push_key(&c, "sharding_method");
            rc = gw_fail(&c, "only \"auto\" is supported by Vectron");
            gw_pop(&c, m);
            goto out;
        }
    }
    if ((x = gw_get(root, "hnsw_config"))) {
        m = gw_push_key(&c, "hnsw_config");
        rc = decode_hnsw(&c, x, out);
        gw_pop(&c, m);
        if (rc) {
            goto out;
        }
    }
    if ((x = gw_get(root, "quantization_config"))) {
        m = gw_push_key(&c, "quantization_config");
        rc = decode_quant(&c, x, out);
        gw_pop(&c, m);
        if (rc) {
            goto out;
        }
    }
    if (!(x = gw_get(root, "vectors"))) {
        rc = gw_missing(&c, "vectors");
        goto out;
    }
    m = gw_push_key(&c, "vectors");
    rc = decode_vectors_params(&c, x, out);
    gw_pop(&c, m);
    if (rc) {
        goto out;
    }
    if (out->m && out->ef_construction && out->ef_construction < out->m) {
        rc =
            vx_err(err, VECTRON_INVALID,
                   "hnsw_config.ef_construct: must be at least m (%u)", out->m);
        goto out;
    }
    if ((rc = gw_opt_uint(&c, root, "shard_number", 1, GW_MAX_SHARDS,
                          &out->shard_number)) ||
        (rc = gw_opt_uint(&c, root, "replication_factor", 1, GW_MAX_REPLICAS,
                          &out->replication_factor))) {
        goto out;
    }
    if (gw_get(root, "read_consistency") && gw_get(root, "consistency")) {
        rc = gw_fail(&c, "give either read_consistency or consistency, not "
                         "both");
        goto out;
    }
    if ((rc = gw_opt_consistency(&c, root, "read_consistency",
                                 &out->read_consistency)) ||
        (rc = gw_opt_consistency(&c, root, "consistency",
                                 &out->read_consistency))) {
        goto out;
    }
out:
    json_decref(root);
    if (rc) {
        memset(out, 0, sizeof *out);
    }
    return rc;
}

/* ---- upsert ------------------------------------------------------------ */

void gw_upsert_close(gw_upsert *u)
{
    vx_free(u->ids);
    vx_free(u->vectors);
    vx_free(u->payloads);
    vx_free(u->payload_buf);
    memset(u, 0, sizeof *u);
}

/* Allocates ids and vectors for count points plus a scratch array of
 * payload offsets (SIZE_MAX: none). A JSON vector takes at least 2 bytes
 * per component, so when count * dim * 2 exceeds the body some vector is
 * malformed: then one vector's room is allocated and reused (vstride 0)
 * until decoding finds the error, so a small body cannot make us allocate
 * count * dim floats. */
int gw_upsert_alloc(gw_jctx *c, gw_upsert *u, size_t count, uint32_t dim,
                    size_t **offs)
{
    int doomed = count > 1 && (uint64_t)count * dim * 2 > c->body_len;

    c->vstride = doomed ? 0 : dim;
    u->count = count;
    u->dim = dim;
    u->ids = gw_xcalloc(count, sizeof *u->ids);
    u->vectors = gw_xalloc((doomed ? 1 : count) * dim * sizeof(float));
    u->payloads = gw_xcalloc(count, sizeof *u->payloads);
    *offs = gw_xalloc(count * sizeof **offs);
    if (!u->ids || !u->vectors || !u->payloads || !*offs) {
        return gw_oom(c);
    }
    for (size_t i = 0; i < count; i++) {
        (*offs)[i] = SIZE_MAX;
    }
    return 0;
}

/* Points payloads into the arena, which u then owns. */
void gw_upsert_finish(gw_upsert *u, gw_buf *arena, const size_t *offs)
{
    int any = 0;

    for (size_t i = 0; i < u->count; i++) {
        if (offs[i] != SIZE_MAX) {
            u->payloads[i].data = arena->p + offs[i];
            any = 1;
        }
    }
    if (!any) {
        vx_free(u->payloads);
        u->payloads = NULL;
        vx_free(arena->p);
    } else {
        u->payload_buf = arena->p;
    }
    arena->p = NULL;
}

static int upsert_points(gw_jctx *c, const json_t *pts, uint32_t dim,
                         gw_upsert *u, gw_buf *arena, size_t **offs)
{
    static const char *const known[] = {"id", "vector", "payload", NULL};
    size_t n;
    int rc = 0;

    if (!json_is_array(pts)) {
        return gw_fail(c, "must be an array of points");
    }
    n = json_array_size(pts);
    if (n > c->lim.max_batch) {
        return gw_fail(c, "%zu points exceed the maximum of %u", n,
                       c->lim.max_batch);
    }
    if ((rc = gw_upsert_alloc(c, u, n, dim, offs))) {
        return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *p = json_array_get(pts, i), *v;
        size_t m = gw_push_idx(c, i), m2;
        if ((rc = gw_need_object(c, p)) ||
            (rc = gw_check_fields(c, p, known, NULL, NULL))) {
            goto next;
        }
        if (!(v = gw_get(p, "id"))) {
            rc = gw_missing(c, "id");
            goto next;
        }
        m2 = gw_push_key(c, "id");
        rc = gw_json_get_point_id(v, c->path, &u->ids[i], c->err);
        gw_pop(c, m2);
        if (rc) {
            goto next;
        }
        if (c->pre_vector && c->pre_count == n) {
            /* Decoded by gw_fast_points (already checked). */
            memcpy(u->vectors + i * c->vstride, c->pre_vector + i * dim,
                   dim * sizeof(float));
        } else if (!(v = gw_get(p, "vector"))) {
            rc = gw_missing(c, "vector");
            goto next;
        } else {
            m2 = gw_push_key(c, "vector");
            rc = gw_decode_vector(c, v, dim, u->vectors + i * c->vstride);
            gw_pop(c, m2);
        }
        if (rc == 0 && (v = gw_get(p, "payload"))) {
            m2 = gw_push_key(c, "payload");
            rc = gw_payload_text(c, v, arena, &(*offs)[i], &u->payloads[i].len);
            gw_pop(c, m2);
        }
    next:
        gw_pop(c, m);
    }
    return rc;
}

static int upsert_batch(gw_jctx *c, const json_t *b, uint32_t dim, gw_upsert *u,
                        gw_buf *arena, size_t **offs)
{
    static const char *const known[] = {"ids", "vectors", "payloads", NULL};
    const json_t *ids, *vecs, *pls;
    point_id *tmp = NULL;
    size_t n, m;
    int rc;

    if ((rc = gw_need_object(c, b)) ||
        (rc = gw_check_fields(c, b, known, NULL, NULL))) {
        return rc;
    }
    if (!(ids = gw_get(b, "ids"))) {
        return gw_missing(c, "ids");
    }
    if (!(vecs = gw_get(b, "vectors"))) {
        return gw_missing(c, "vectors");
    }
    m = gw_push_key(c, "ids");
    rc = gw_id_list(c, ids, &tmp, &n);
    gw_pop(c, m);
    if (rc) {
        return rc;
    }
    if ((rc = gw_upsert_alloc(c, u, n, dim, offs))) {
        goto out;
    }
    memcpy(u->ids, tmp, n * sizeof *tmp);
    m = gw_push_key(c, "vectors");
    if (!json_is_array(vecs)) {
        rc = gw_fail(c, "must be an array of vectors");
    } else if (json_array_size(vecs) != n) {
        rc = gw_fail(c, "expected %zu vectors (one per id), got %zu", n,
                     json_array_size(vecs));
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t m2 = gw_push_idx(c, i);
        rc = gw_decode_vector(c, json_array_get(vecs, i), dim,
                              u->vectors + i * c->vstride);
        gw_pop(c, m2);
    }
    gw_pop(c, m);
    if (rc || !(pls = gw_get(b, "payloads"))) {
        goto out;
    }
    m = gw_push_key(c, "payloads");
    if (!json_is_array(pls)) {
        rc = gw_fail(c, "must be an array of objects");
    } else if (json_array_size(pls) != n) {
        rc = gw_fail(c, "expected %zu payloads (one per id), got %zu", n,
                     json_array_size(pls));
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *p = json_array_get(pls, i);
        size_t m2 = gw_push_idx(c, i);
        if (!json_is_null(p)) {
            rc = gw_payload_text(c, p, arena, &(*offs)[i], &u->payloads[i].len);
        }
        gw_pop(c, m2);
    }
    gw_pop(c, m);
out:
    vx_free(tmp);
    return rc;
}

int gw_decode_upsert(const char *body, size_t len, uint32_t dim,
                     const gw_limits *lim, gw_upsert *out, vectron_error *err)
{
    static const char *const known[] = {"points", "batch", NULL};
    static const char *const unsup[] = {"shard_key", "update_filter", NULL};
    json_t *root = NULL;
    const json_t *pts, *b;
    gw_buf arena = {0};
    size_t *offs = NULL;
    gw_jctx c;
    size_t m;
    int rc;

    memset(out, 0, sizeof *out);
    gw_ctx_init(&c, lim, err);
    if (dim == 0 || dim > VECTRON_MAX_DIM) {
        return vx_err(err, VECTRON_INVALID,
                      "collection dimension %u is out of range", dim);
    }
    char *alt = NULL;
    size_t alt_len = 0;
    if (gw_fast_points(body, len, dim, c.lim.max_batch, &c.pre_vector,
                       &c.pre_count, &alt, &alt_len) != 0) {
        c.pre_vector = NULL;
        c.pre_count = 0;
    }
    rc = gw_load_root(&c, alt ? alt : body, alt ? alt_len : len, 0, &root);
    vx_free(alt);
    c.body_len = len; /* the original size (gw_upsert_alloc's bound) */
    if (rc || (rc = gw_check_fields(&c, root, known, NULL, unsup))) {
        goto out;
    }
    pts = gw_get(root, "points");
    b = gw_get(root, "batch");
    if (pts && b) {
        rc = gw_fail(&c, "give either points or batch, not both");
        goto out;
    }
    if (!pts && !b) {
        rc = gw_fail(&c, "missing field \"points\" (or \"batch\")");
        goto out;
    }
    m = gw_push_key(&c, pts ? "points" : "batch");
    rc = pts ? upsert_points(&c, pts, dim, out, &arena, &offs)
             : upsert_batch(&c, b, dim, out, &arena, &offs);
    gw_pop(&c, m);
    if (rc == 0 && c.vstride == 0 && out->count > 1) {
        rc = vx_err(err, VECTRON_INTERNAL, "upsert: vector size bound");
    }
    if (rc == 0) {
        gw_upsert_finish(out, &arena, offs);
    }
out:
    vx_free(offs);
    vx_free(arena.p);
    vx_free(c.pre_vector);
    json_decref(root);
    if (rc) {
        gw_upsert_close(out);
    }
    return rc;
}

/* ---- search and query -------------------------------------------------- */

void gw_search_close(gw_search *s)
{
    vx_free(s->vector);
    gw_filter_free(s->filter);
    gw_payload_select_close(&s->with_payload);
    gw_rerank_close(&s->rerank);
    memset(s, 0, sizeof *s);
}

/* A query vector (array) or point id at the current path. */
static int decode_target(gw_jctx *c, const json_t *v, uint32_t dim,
                         gw_search *s)
{
    if (json_is_array(v)) {
        s->kind = GW_QUERY_VECTOR;
        if (!(s->vector = gw_xalloc(dim * sizeof(float)))) {
            return gw_oom(c);
        }
        return gw_decode_vector(c, v, dim, s->vector);
    }
    if (json_is_integer(v) || json_is_string(v) || json_is_real(v)) {
        s->kind = GW_QUERY_ID;
        return gw_json_get_point_id(v, c->path, &s->id, c->err);
    }
    return gw_fail(c, "must be a vector or a point id");
}

static int decode_query_value(gw_jctx *c, const json_t *q, uint32_t dim,
                              gw_search *s)
{
    static const char *const known[] = {"nearest", NULL};
    static const char *const unsup[] = {
        "recommend", "discover", "context", "order_by", "fusion",
        "rrf",       "formula",  "sample",  "mmr",      NULL};
    const json_t *n;
    size_t m;
    int rc;

    if (!json_is_object(q)) {
        return decode_target(c, q, dim, s);
    }
    if ((rc = gw_check_fields(c, q, known, NULL, unsup))) {
        return rc;
    }
    if (!(n = gw_get(q, "nearest"))) {
        return gw_missing(c, "nearest");
    }
    m = gw_push_key(c, "nearest");
    rc = decode_target(c, n, dim, s);
    gw_pop(c, m);
    return rc;
}

static int decode_params(gw_jctx *c, const json_t *p, gw_search *s)
{
    static const char *const known[] = {"hnsw_ef", "exact", "quantization",
                                        NULL};
    static const char *const ignored[] = {"indexed_only", NULL};
    static const char *const unsup[] = {"acorn", NULL};
    static const char *const qknown[] = {"ignore", "rescore", "oversampling",
                                         NULL};
    const json_t *q;
    size_t m;
    int rc, rescore = -1;

    if ((rc = gw_need_object(c, p)) ||
        (rc = gw_check_fields(c, p, known, ignored, unsup)) ||
        (rc = gw_opt_uint(c, p, "hnsw_ef", 1, VECTRON_MAX_EF, &s->hnsw_ef)) ||
        (rc = gw_opt_bool(c, p, "exact", &s->exact))) {
        return rc;
    }
    if (!(q = gw_get(p, "quantization"))) {
        return 0;
    }
    m = gw_push_key(c, "quantization");
    if ((rc = gw_need_object(c, q)) ||
        (rc = gw_check_fields(c, q, qknown, NULL, NULL)) ||
        (rc = gw_opt_bool(c, q, "ignore", &s->quant_ignore)) ||
        (rc = gw_opt_bool(c, q, "rescore", &rescore)) ||
        (rc = gw_opt_number(c, q, "oversampling", 1.0, 1000.0, &s->oversampling,
                            NULL))) {
        goto out;
    }
    s->rescore = rescore;
out:
    gw_pop(c, m);
    return rc;
}

static int decode_search_obj(gw_jctx *c, const json_t *o, uint32_t dim,
                             int is_query, gw_search *s)
{
    static const char *const qknown[] = {
        "query",           "filter",       "params",      "limit",
        "offset",          "with_payload", "with_vector", "with_vectors",
        "score_threshold", "consistency",  "rerank",      NULL};
    static const char *const qunsup[] = {"prefetch", "using", "lookup_from",
                                         "shard_key", NULL};
    static const char *const sknown[] = {"vector",
                                         "filter",
                                         "params",
                                         "limit",
                                         "top",
                                         "offset",
                                         "with_payload",
                                         "with_vector",
                                         "with_vectors",
                                         "score_threshold",
                                         "consistency",
                                         "rerank",
                                         NULL};
    static const char *const sunsup[] = {"shard_key", NULL};
    const json_t *v, *lv, *tv;
    double thr = 0;
    size_t m;
    int rc;

    memset(s, 0, sizeof *s);
    s->rescore = -1;
    s->limit = is_query ? (c->lim.max_limit < 10 ? c->lim.max_limit : 10) : 0;
    if ((rc = gw_need_object(c, o)) ||
        (rc = gw_check_fields(c, o, is_query ? qknown : sknown, NULL,
                              is_query ? qunsup : sunsup))) {
        return rc;
    }
    if (c->pre_vector) { /* decoded by gw_fast_vector */
        s->kind = GW_QUERY_VECTOR;
        s->vector = c->pre_vector;
        c->pre_vector = NULL;
    } else if (is_query) {
        if ((v = gw_get(o, "query"))) {
            m = gw_push_key(c, "query");
            rc = decode_query_value(c, v, dim, s);
            gw_pop(c, m);
        }
    } else if (!(v = gw_get(o, "vector"))) {
        rc = gw_missing(c, "vector");
    } else {
        m = gw_push_key(c, "vector");
        s->kind = GW_QUERY_VECTOR;
        if (!json_is_array(v)) {
            rc = gw_decode_vector(c, v, dim, NULL);
        } else if (!(s->vector = gw_xalloc(dim * sizeof(float)))) {
            rc = gw_oom(c);
        } else {
            rc = gw_decode_vector(c, v, dim, s->vector);
        }
        gw_pop(c, m);
    }
    if (rc || (rc = gw_opt_filter(c, o, &s->filter))) {
        return rc;
    }
    if ((v = gw_get(o, "params"))) {
        m = gw_push_key(c, "params");
        rc = decode_params(c, v, s);
        gw_pop(c, m);
        if (rc) {
            return rc;
        }
    }
    lv = gw_get(o, "limit");
    tv = is_query ? NULL : gw_get(o, "top");
    if (lv && tv) {
        return gw_fail(c, "give either limit or top, not both");
    }
    if (!is_query && !lv && !tv) {
        return gw_missing(c, "limit");
    }
    if ((rc = gw_opt_uint(c, o, tv ? "top" : "limit", 1, c->lim.max_limit,
                          &s->limit)) ||
        (rc = gw_opt_uint(c, o, "offset", 0, c->lim.max_offset, &s->offset)) ||
        (rc = gw_opt_with_payload(c, o, &s->with_payload)) ||
        (rc = gw_opt_with_vector(c, o, &s->with_vector)) ||
        (rc = gw_opt_number(c, o, "score_threshold", -FLT_MAX, FLT_MAX, &thr,
                            &s->has_score_threshold)) ||
        (rc = gw_opt_consistency(c, o, "consistency", &s->consistency))) {
        return rc;
    }
    s->score_threshold = (float)thr;
    if ((v = gw_get(o, "rerank"))) {
        m = gw_push_key(c, "rerank");
        rc = gw_decode_rerank(c, v, dim, s);
        gw_pop(c, m);
    }
    return rc;
}

static int decode_one_search(const char *body, size_t len, uint32_t dim,
                             const gw_limits *lim, int is_query, gw_search *out,
                             vectron_error *err)
{
    json_t *root = NULL;
    gw_jctx c;
    int rc;

    memset(out, 0, sizeof *out);
    gw_ctx_init(&c, lim, err);
    if (dim == 0 || dim > VECTRON_MAX_DIM) {
        return vx_err(err, VECTRON_INVALID,
                      "collection dimension %u is out of range", dim);
    }
    char *alt = NULL;
    size_t alt_len = 0;
    c.pre_vector = gw_xalloc(dim * sizeof(float));
    if (c.pre_vector &&
        gw_fast_vector(body, len, is_query ? "query" : "vector", dim,
                       c.pre_vector, &alt, &alt_len) != 0) {
        vx_free(c.pre_vector);
        c.pre_vector = NULL;
    }
    rc = gw_load_root(&c, alt ? alt : body, alt ? alt_len : len, is_query,
                      &root);
    if (rc == 0) {
        rc = decode_search_obj(&c, root, dim, is_query, out);
    }
    json_decref(root);
    vx_free(alt);
    vx_free(c.pre_vector);
    if (rc) {
        gw_search_close(out);
    }
    return rc;
}

int gw_decode_query(const char *body, size_t len, uint32_t dim,
                    const gw_limits *lim, gw_search *out, vectron_error *err)
{
    return decode_one_search(body, len, dim, lim, 1, out, err);
}

int gw_decode_search(const char *body, size_t len, uint32_t dim,
                     const gw_limits *lim, gw_search *out, vectron_error *err)
{
    return decode_one_search(body, len, dim, lim, 0, out, err);
}

void gw_search_batch_close(gw_search_batch *b)
{
    for (size_t i = 0; b->searches && i < b->count; i++) {
        gw_search_close(&b->searches[i]);
    }
    vx_free(b->searches);
    memset(b, 0, sizeof *b);
}

static int decode_batch(const char *body, size_t len, uint32_t dim,
                        const gw_limits *lim, int is_query,
                        gw_search_batch *out, vectron_error *err)
{
    static const char *const known[] = {"searches", NULL};
    json_t *root = NULL;
    const json_t *s;
    gw_jctx c;
    size_t n, m;
    int rc;

    memset(out, 0, sizeof *out);
    gw_ctx_init(&c, lim, err);
    if (dim == 0 || dim > VECTRON_MAX_DIM) {
        return vx_err(err, VECTRON_INVALID,
                      "collection dimension %u is out of range", dim);
    }
    if ((rc = gw_load_root(&c, body, len, 0, &root)) ||
        (rc = gw_check_fields(&c, root, known, NULL, NULL))) {
        goto out;
    }
    if (!(s = gw_get(root, "searches"))) {
        rc = gw_missing(&c, "searches");
        goto out;
    }
    m = gw_push_key(&c, "searches");
    n = json_is_array(s) ? json_array_size(s) : 0;
    if (!json_is_array(s)) {
        rc = gw_fail(&c, "must be an array of requests");
    } else if (n > c.lim.max_batch) {
        rc = gw_fail(&c, "%zu searches exceed the maximum of %u", n,
                     c.lim.max_batch);
    } else if (!(out->searches = gw_xcalloc(n, sizeof *out->searches))) {
        rc = gw_oom(&c);
    } else {
        out->count = n;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t m2 = gw_push_idx(&c, i);
        rc = decode_search_obj(&c, json_array_get(s, i), dim, is_query,
                               &out->searches[i]);
        gw_pop(&c, m2);
    }
    gw_pop(&c, m);
out:
    json_decref(root);
    if (rc) {
        gw_search_batch_close(out);
    }
    return rc;
}

int gw_decode_query_batch(const char *body, size_t len, uint32_t dim,
                          const gw_limits *lim, gw_search_batch *out,
                          vectron_error *err)
{
    return decode_batch(body, len, dim, lim, 1, out, err);
}

int gw_decode_search_batch(const char *body, size_t len, uint32_t dim,
                           const gw_limits *lim, gw_search_batch *out,
                           vectron_error *err)
{
    return decode_batch(body, len, dim, lim, 0, out, err);
}

/* ---- retrieve, selectors, payload updates, scroll, count --------------- */

void gw_retrieve_close(gw_retrieve *r)
{
    vx_free(r->ids);
    gw_payload_select_close(&r->with_payload);
    memset(r, 0, sizeof *r);
}

int gw_decode_retrieve(const char *body, size_t len, const gw_limits *lim,
                       gw_retrieve *out, vectron_error *err)
{
    static const char *const known[] = {"ids",         "with_payload",
                                        "with_vector", "with_vectors",
                                        "consistency", NULL};
    static const char *const unsup[] = {"shard_key", NULL};
    json_t *root = NULL;
    const json_t *v;
    gw_jctx c;
    size_t m;
    int rc;

    memset(out, 0, sizeof *out);
    out->with_payload.mode = GW_PAYLOAD_ALL;
    gw_ctx_init(&c, lim, err);
    if ((rc = gw_load_root(&c, body, len, 0, &root)) ||
        (rc = gw_check_fields(&c, root, known, NULL, unsup))) {
        goto out;
    }
    if (!(v = gw_get(root, "ids"))) {
        rc = gw_missing(&c, "ids");
        goto out;
    }
    m = gw_push_key(&c, "ids");
    rc = gw_id_list(&c, v, &out->ids, &out->count);
    gw_pop(&c, m);
    if (rc || (rc = gw_opt_with_payload(&c, root, &out->with_payload)) ||
        (rc = gw_opt_with_vector(&c, root, &out->with_vector)) ||
        (rc = gw_opt_consistency(&c, root, "consistency", &out->consistency))) {
        goto out;
    }
out:
    json_decref(root);
    if (rc) {
        gw_retrieve_close(out);
    }
    return rc;
}

void gw_selector_close(gw_selector *s)
{
    vx_free(s->ids);
    gw_filter_free(s->filter);
    memset(s, 0, sizeof *s);
}

/* "points" xor "filter" of object o. */
static int decode_selector(gw_jctx *c, const json_t *o, gw_selector *sel)
{
    const json_t *p = gw_get(o, "points"), *f = gw_get(o, "filter");
    size_t m;
    int rc;

    if (p && f) {
        return gw_fail(c, "give either points or filter, not both");
    }
    if (!p && !f) {
        return gw_fail(c, "missing field \"points\" (or \"filter\")");
    }
    if (f) {
        sel->by_filter = 1;
        return gw_opt_filter(c, o, &sel->filter);
    }
    m = gw_push_key(c, "points");
    rc = gw_id_list(c, p, &sel->ids, &sel->count);
    gw_pop(c, m);
    return rc;
}

int gw_decode_delete_points(const char *body, size_t len, const gw_limits *lim,
                            gw_selector *out, vectron_error *err)
{
    static const char *const known[] = {"points", "filter", NULL};
    static const char *const unsup[] = {"shard_key", NULL};
    json_t *root = NULL;
    gw_jctx c;
    int rc;

    memset(out, 0, sizeof *out);
    gw_ctx_init(&c, lim, err);
    if ((rc = gw_load_root(&c, body, len, 0, &root)) == 0 &&
        (rc = gw_check_fields(&c, root, known, NULL, unsup)) == 0) {
        rc = decode_selector(&c, root, out);
    }
    json_decref(root);
    if (rc) {
        gw_selector_close(out);
    }
    return rc;
}

void gw_set_payload_close(gw_set_payload *p)
{
    vx_free((char *)p->payload.data);
    vx_free(p->key);
    gw_selector_close(&p->sel);
    memset(p, 0, sizeof *p);
}

int gw_decode_set_payload(const char *body, size_t len, const gw_limits *lim,
                          gw_set_payload *out, vectron_error *err)
{
    static const char *const known[] = {"payload", "points", "filter", "key",
                                        NULL};
    static const char *const unsup[] = {"shard_key", NULL};
    json_t *root = NULL;
    const json_t *v;
    gw_buf text = {0};
    size_t m, off = 0, n = 0, klen = 0;
    const char *k = NULL;
    gw_jctx c;
    int rc;

    memset(out, 0, sizeof *out);
    gw_ctx_init(&c, lim, err);
    if ((rc = gw_load_root(&c, body, len, 0, &root)) ||
        (rc = gw_check_fields(&c, root, known, NULL, unsup))) {
        goto out;
    }
    if (!(v = gw_get(root, "payload"))) {
        rc = gw_missing(&c, "payload");
        goto out;
    }
    m = gw_push_key(&c, "payload");
    rc = gw_payload_text(&c, v, &text, &off, &n);
    gw_pop(&c, m);
    if (rc) {
        goto out;
    }
    out->payload.data = text.p;
    out->payload.len = n;
    text.p = NULL;
    if ((v = gw_get(root, "key"))) {
        m = gw_push_key(&c, "key");
        rc = gw_as_string(&c, v, 1, &k, &klen);
        if (rc == 0 && !(out->key = gw_dup_n(k, klen))) {
            rc = gw_oom(&c);
        }
        gw_pop(&c, m);
        if (rc) {
            goto out;
        }
    }
    rc = decode_selector(&c, root, &out->sel);
out:
    vx_free(text.p);
    json_decref(root);
    if (rc) {
        gw_set_payload_close(out);
    }
    return rc;
}

void gw_delete_payload_close(gw_delete_payload *p)
{
    gw_free_keys(p->keys, p->nkeys);
    gw_selector_close(&p->sel);
    memset(p, 0, sizeof *p);
}

int gw_decode_delete_payload(const char *body, size_t len, const gw_limits *lim,
                             gw_delete_payload *out, vectron_error *err)
{
    static const char *const known[] = {"keys", "points", "filter", NULL};
    static const char *const unsup[] = {"shard_key", NULL};
    json_t *root = NULL;
    const json_t *v;
    gw_jctx c;
    size_t m;
    int rc;

    memset(out, 0, sizeof *out);
    gw_ctx_init(&c, lim, err);
    if ((rc = gw_load_root(&c, body, len, 0, &root)) ||
        (rc = gw_check_fields(&c, root, known, NULL, unsup))) {
        goto out;
    }
    if (!(v = gw_get(root, "keys"))) {
        rc = gw_missing(&c, "keys");
        goto out;
    }
    m = gw_push_key(&c, "keys");
    rc = gw_key_list(&c, v, &out->keys, &out->nkeys);
    gw_pop(&c, m);
    if (rc == 0) {
        rc = decode_selector(&c, root, &out->sel);
    }
out:
    json_decref(root);
    if (rc) {
        gw_delete_payload_close(out);
    }
    return rc;
}

void gw_scroll_close(gw_scroll *s)
{
    gw_filter_free(s->filter);
    gw_payload_select_close(&s->with_payload);
    memset(s, 0, sizeof *s);
}

int gw_decode_scroll(const char *body, size_t len, const gw_limits *lim,
                     gw_scroll *out, vectron_error *err)
{
    static const char *const known[] = {
        "filter",      "limit",        "offset",      "with_payload",
        "with_vector", "with_vectors", "consistency", NULL};
    static const char *const unsup[] = {"order_by", "shard_key", NULL};
    json_t *root = NULL;
    const json_t *v;
    gw_jctx c;
    size_t m;
    int rc;

    memset(out, 0, sizeof *out);
    out->limit = 10;
    out->with_payload.mode = GW_PAYLOAD_ALL;
    gw_ctx_init(&c, lim, err);
    if ((rc = gw_load_root(&c, body, len, 1, &root)) ||
        (rc = gw_check_fields(&c, root, known, NULL, unsup)) ||
        (rc = gw_opt_filter(&c, root, &out->filter)) ||
        (rc =
             gw_opt_uint(&c, root, "limit", 1, c.lim.max_limit, &out->limit))) {
        goto out;
    }
    if ((v = gw_get(root, "offset"))) {
        m = gw_push_key(&c, "offset");
        rc = gw_json_get_point_id(v, c.path, &out->offset, err);
        gw_pop(&c, m);
        if (rc) {
            goto out;
        }
        out->has_offset = 1;
    }
    if ((rc = gw_opt_with_payload(&c, root, &out->with_payload)) ||
        (rc = gw_opt_with_vector(&c, root, &out->with_vector)) ||
        (rc = gw_opt_consistency(&c, root, "consistency", &out->consistency))) {
        goto out;
    }
out:
    json_decref(root);
    if (rc) {
        gw_scroll_close(out);
    }
    return rc;
}

void gw_count_close(gw_count *c)
{
    gw_filter_free(c->filter);
    memset(c, 0, sizeof *c);
}

int gw_decode_count(const char *body, size_t len, const gw_limits *lim,
                    gw_count *out, vectron_error *err)
{
    static const char *const known[] = {"filter", "exact", "consistency", NULL};
    static const char *const unsup[] = {"shard_key", NULL};
    json_t *root = NULL;
    gw_jctx c;
    int rc;

    memset(out, 0, sizeof *out);
    out->exact = 1;
    gw_ctx_init(&c, lim, err);
    if ((rc = gw_load_root(&c, body, len, 1, &root)) == 0 &&
        (rc = gw_check_fields(&c, root, known, NULL, unsup)) == 0 &&
        (rc = gw_opt_filter(&c, root, &out->filter)) == 0 &&
        (rc = gw_opt_bool(&c, root, "exact", &out->exact)) == 0) {
        rc = gw_opt_consistency(&c, root, "consistency", &out->consistency);
    }
    json_decref(root);
    if (rc) {
        gw_count_close(out);
    }
    return rc;
}

void gw_payload_index_close(gw_payload_index *p)
{
    vx_free(p->field_name);
    memset(p, 0, sizeof *p);
}

static int decode_field_type(gw_jctx *c, const json_t *v, gw_field_type *t)
{
    static const char *const names[] = {"keyword", "integer", "float", "bool",
                                        NULL};
    static const char *const unsup[] = {"geo", "text", "datetime", "uuid",
                                        NULL};
    const char *s;

    if (!json_is_string(v) || gw_json_is_bignum(v)) {
        return gw_fail(c, "must be a string");
    }
    s = json_string_value(v);
    for (int i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *t = (gw_field_type)i;
            return 0;
        }
    }
    if (gw_in_list(unsup, s)) {
        return gw_fail(c, "\"%s\" indexes are not supported by Vectron", s);
    }
    return gw_fail(c,
                   "unknown field type \"%.40s\" (expected \"keyword\", "
                   "\"integer\", \"float\" or \"bool\")",
                   s);
}

int gw_decode_payload_index(const char *body, size_t len, gw_payload_index *out,
                            vectron_error *err)
{
    static const char *const known[] = {"field_name", "field_schema", NULL};
    json_t *root = NULL;
    const json_t *v, *t;
    const char *s = NULL;
    size_t m, n = 0;
    gw_jctx c;
    int rc;

    memset(out, 0, sizeof *out);
    gw_ctx_init(&c, NULL, err);
    if ((rc = gw_load_root(&c, body, len, 0, &root)) ||
        (rc = gw_check_fields(&c, root, known, NULL, NULL))) {
        goto out;
    }
    if (!(v = gw_get(root, "field_name"))) {
        rc = gw_missing(&c, "field_name");
        goto out;
    }
    m = gw_push_key(&c, "field_name");
    rc = gw_as_string(&c, v, 1, &s, &n);
    if (rc == 0 && !(out->field_name = gw_dup_n(s, n))) {
        rc = gw_oom(&c);
    }
    gw_pop(&c, m);
    if (rc) {
        goto out;
    }
    if (!(v = gw_get(root, "field_schema"))) {
        rc = gw_missing(&c, "field_schema");
        goto out;
    }
    m = gw_push_key(&c, "field_schema");
    if (json_is_object(v)) {
        /* {"type": .., other index parameters ignored} */
        if (!(t = gw_get(v, "type"))) {
            rc = gw_missing(&c, "type");
        } else {
            size_t m2 = gw_push_key(&c, "type");
            rc = decode_field_type(&c, t, &out->type);
            gw_pop(&c, m2);
        }
    } else {
        rc = decode_field_type(&c, v, &out->type);
    }
    gw_pop(&c, m);
out:
    json_decref(root);
    if (rc) {
        gw_payload_index_close(out);
    }
    return rc;
}
