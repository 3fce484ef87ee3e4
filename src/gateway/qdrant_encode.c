/*
 * qdrant_encode.c - the response side of qdrant_json.h: points, records,
 * scroll, count, update and collection results as jansson values, payload
 * projection (with_payload), the success and error envelopes and the HTTP
 * status of an error code. Output is valid JSON for any input.
 *
 * Threading: reentrant; builds new values and only takes references to
 * the caller's payloads (jansson's reference counts are atomic).
 */
#include <math.h>
#include <string.h>

#include "common/common.h"
#include "gateway/qdrant_json_int.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c0 = s[0];
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c0 < 0x80) {
        return 1;
    }
    if (c0 >= 0xC2 && c0 <= 0xDF) {
        k = 2;
    } else if (c0 >= 0xE0 && c0 <= 0xEF) {
        k = 3;
        lo = c0 == 0xE0 ? 0xA0 : 0x80;
        hi = c0 == 0xED ? 0x9F : 0xBF;
    } else if (c0 >= 0xF0 && c0 <= 0xF4) {
        k = 4;
        lo = c0 == 0xF0 ? 0x90 : 0x80;
        hi = c0 == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (n < k || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < k; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    return k;
}

/* A JSON string of any bytes: NUL and invalid UTF-8 become U+FFFD. */
static json_t *jstr(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    gw_buf b = {0};
    size_t i = 0, k;
    json_t *j = NULL;

    while (i < n && u[i] && (k = utf8_seq(u + i, n - i)) != 0) {
        i += k;
    }
    if (i == n) {
        return json_stringn(s, n);
    }
    if (gw_buf_add(&b, s, i)) {
        goto out;
    }
    while (i < n) {
        k = u[i] ? utf8_seq(u + i, n - i) : 0;
        if (k ? gw_buf_add(&b, s + i, k) : gw_buf_add(&b, "\xEF\xBF\xBD", 3)) {
            goto out;
        }
        i += k ? k : 1;
    }
    j = json_stringn(b.p ? b.p : "", b.len);
out:
    vx_free(b.p);
    return j;
}

/* A vector as JSON: rendered once as the text of a number array inside a
 * marker (common/json.h: a NUL-led string, which no decoded input can
 * hold, written as is), not as dim json_t numbers: responses carrying
 * vectors were bound by allocating and dumping one value per component.
 * Non-finite components (which stored vectors never hold) become null. */
static json_t *jvector(const float *v, uint32_t dim)
{
    gw_buf b = {0};
    char num[40];
    json_t *j = NULL;

    if (gw_buf_add(&b, "\0[", 2)) {
        goto out;
    }
    for (uint32_t i = 0; i < dim; i++) {
        size_t n = isfinite(v[i]) ? gw_format_float(v[i], num) : 0;
        if ((i && gw_buf_add(&b, ",", 1)) ||
            gw_buf_add(&b, n ? num : "null", n ? n : 4)) {
            goto out;
        }
    }
    if (gw_buf_add(&b, "]", 1)) {
        goto out;
    }
    j = json_stringn(b.p, b.len);
out:
    vx_free(b.p);
    return j;
}

static json_t *point_obj(const gw_point_out *p, int scored)
{
    json_t *o = json_object();

    if (!o || json_object_set_new(o, "id", gw_json_point_id(&p->id))) {
        goto fail;
    }
    if (scored && (json_object_set_new(o, "version", gw_ju64(p->version)) ||
                   json_object_set_new(o, "score", gw_jfloat(p->score)))) {
        goto fail;
    }
    if (p->payload && json_object_set(o, "payload", p->payload)) {
        goto fail;
    }
    if (p->vector &&
        json_object_set_new(o, "vector", jvector(p->vector, p->dim))) {
        goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

static json_t *points_array(const gw_point_out *pts, size_t n, int scored)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, point_obj(&pts[i], scored))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *gw_json_scored_points(const gw_point_out *pts, size_t n)
{
    return points_array(pts, n, 1);
}

json_t *gw_json_records(const gw_point_out *pts, size_t n)
{
    return points_array(pts, n, 0);
}

/* {k: v} with v stolen; NULL if either fails. */
static json_t *obj1(const char *k, json_t *v)
{
    json_t *o = json_object();

    if (!o) {
        json_decref(v);
        return NULL;
    }
    if (json_object_set_new(o, k, v)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *gw_json_query_result(const gw_point_out *pts, size_t n)
{
    return obj1("points", points_array(pts, n, 1));
}

json_t *gw_json_scroll_result(const gw_point_out *pts, size_t n,
                              const point_id *next_offset)
{
    json_t *o = obj1("points", points_array(pts, n, 0));

    if (o && json_object_set_new(o, "next_page_offset",
                                 next_offset ? gw_json_point_id(next_offset)
                                             : json_null())) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *gw_json_count_result(uint64_t count)
{
    return obj1("count", gw_ju64(count));
}

json_t *gw_json_update_result(uint64_t operation_id, int completed)
{
    json_t *o = obj1("operation_id", gw_ju64(operation_id));

    if (o && json_object_set_new(
                 o, "status",
                 json_string(completed ? "completed" : "acknowledged"))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *gw_json_collections_list(const char *const *names, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        const char *s = names[i] ? names[i] : "";
        if (json_array_append_new(a, obj1("name", jstr(s, strlen(s))))) {
            json_decref(a);
            return NULL;
        }
    }
    return obj1("collections", a);
}

/* Sets each key/value pair (values stolen); -1 if any fails. */
static int set_all(json_t *o, const char *const *keys, json_t **vals, size_t n)
{
    int rc = o ? 0 : -1;

    for (size_t i = 0; i < n; i++) {
        if (rc || json_object_set_new(o, keys[i], vals[i])) {
            if (rc) {
                json_decref(vals[i]);
            }
            rc = -1;
        }
    }
    return rc;
}

static json_t *build(const char *const *keys, json_t **vals, size_t n)
{
    json_t *o = json_object();

    if (set_all(o, keys, vals, n)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

#define BUILD(keys, ...)                                                       \
    build(keys, (json_t *[]){__VA_ARGS__}, sizeof(keys) / sizeof(keys[0]))

json_t *gw_json_collection_info(const gw_collection_info *info)
{
    static const char *const status_names[] = {"green", "yellow", "red"};
    static const char *const distances[] = {"Euclid", "Cosine", "Dot"};
    static const char *const kvec[] = {"size", "distance"};
    static const char *const kparams[] = {"vectors",
                                          "shard_number",
                                          "replication_factor",
                                          "write_consistency_factor",
                                          "on_disk_payload",
                                          "read_consistency"};
    static const char *const khnsw[] = {"m", "ef_construct",
                                        "full_scan_threshold",
                                        "max_indexing_threads", "on_disk"};
    static const char *const kopt[] = {
        "deleted_threshold",      "vacuum_min_vector_number",
        "default_segment_number", "max_segment_size",
        "memmap_threshold",       "indexing_threshold",
        "flush_interval_sec",     "max_optimization_threads"};
    static const char *const kwal[] = {"wal_capacity_mb", "wal_segments_ahead"};
    static const char *const kscalar[] = {"type", "quantile", "always_ram"};
    static const char *const kconf[] = {"params", "hnsw_config",
                                        "optimizer_config", "wal_config",
                                        "quantization_config"};
    static const char *const kfield[] = {"data_type", "points"};
    static const char *const kinfo[] = {
        "status",        "optimizer_status", "indexed_vectors_count",
        "points_count",  "segments_count",   "config",
        "payload_schema"};
    const gw_collection_config *cf = &info->config;
    json_t *quant = json_null(), *schema = json_object();
    unsigned st = info->status <= GW_STATUS_RED ? info->status : 2;
    unsigned di = cf->metric <= VECTRON_METRIC_DOT ? cf->metric : 0;

    if (cf->quant == VECTRON_QUANT_INT8) {
        quant = obj1("scalar", BUILD(kscalar, json_string("int8"),
                                     cf->quantile > 0 ? gw_jfloat(cf->quantile)
                                                      : json_null(),
                                     json_boolean(cf->always_ram)));
    }
    for (size_t i = 0; schema && i < info->nfields; i++) {
        const gw_field_info *f = &info->fields[i];
        const char *name = f->name ? f->name : "";
        json_t *k = jstr(name, strlen(name));
        json_t *v = BUILD(kfield, json_string(gw_field_type_name(f->type)),
                          gw_ju64(f->points));
        /* Keys go through jstr so that any bytes make valid JSON. */
        if (!k || !v || json_object_set_new(schema, json_string_value(k), v)) {
            if (!v || !k) {
                json_decref(v);
            }
            json_decref(k);
            json_decref(schema);
            schema = NULL;
            break;
        }
        json_decref(k);
    }
    return BUILD(
        kinfo, json_string(status_names[st]), json_string("ok"),
        gw_ju64(info->indexed_vectors_count), gw_ju64(info->points_count),
        gw_ju64(info->segments_count),
        BUILD(kconf,
              BUILD(kparams,
                    BUILD(kvec, json_integer(cf->dim),
                          json_string(distances[di])),
                    json_integer(cf->shard_number),
                    json_integer(cf->replication_factor), json_integer(1),
                    json_false(),
                    json_string(gw_consistency_name(cf->read_consistency))),
              BUILD(khnsw, json_integer(cf->m),
                    json_integer(cf->ef_construction), json_integer(10000),
                    json_integer(0), json_false()),
              BUILD(kopt, gw_jdouble(0.2), json_integer(1000), json_integer(0),
                    json_null(), json_null(), json_integer(20000),
                    json_integer(5), json_null()),
              BUILD(kwal, json_integer(32), json_integer(0)), quant),
        schema);
}

/* Splits dotted key into its first segment [0, *n) and the rest. */
static const char *first_seg(const char *key, size_t *n)
{
    const char *dot = strchr(key, '.');

    *n = dot ? (size_t)(dot - key) : strlen(key);
    return dot ? dot + 1 : NULL;
}

/* Copies the value at dotted key of src into dst (objects only). */
static int include_path(json_t *dst, json_t *src, const char *key)
{
    size_t n;
    const char *rest = first_seg(key, &n);
    json_t *v = json_object_getn(src, key, n), *d;

    if (!v) {
        return 0;
    }
    if (!rest) {
        return json_object_setn(dst, key, n, v);
    }
    if (!json_is_object(v)) {
        return 0;
    }
    d = json_object_getn(dst, key, n);
    if (!json_is_object(d)) {
        if (!(d = json_object()) || json_object_setn_new(dst, key, n, d)) {
            return -1;
        }
    }
    return include_path(d, v, rest);
}

/* Removes dotted key from obj (a fresh shallow copy), copying shared
 * objects on the way down. */
static int exclude_path(json_t *obj, const char *key)
{
    size_t n;
    const char *rest = first_seg(key, &n);
    json_t *v = json_object_getn(obj, key, n), *cp;

    if (!v) {
        return 0;
    }
    if (!rest) {
        json_object_deln(obj, key, n);
        return 0;
    }
    if (!json_is_object(v)) {
        return 0;
    }
    if (!(cp = json_copy(v)) || json_object_setn_new(obj, key, n, cp)) {
        return -1;
    }
    return exclude_path(cp, rest);
}

int gw_payload_project(json_t *payload, const gw_payload_select *sel,
                       json_t **out, vectron_error *err)
{
    json_t *o = NULL;
    int rc = 0;

    *out = NULL;
    switch (sel->mode) {
    case GW_PAYLOAD_NONE:
        return 0;
    case GW_PAYLOAD_ALL:
        *out = payload ? json_incref(payload) : json_object();
        return *out ? 0 : vx_err(err, VECTRON_NOMEM, "payload: out of memory");
    case GW_PAYLOAD_INCLUDE:
        o = json_object();
        for (size_t i = 0; o && rc == 0 && i < sel->nkeys; i++) {
            rc = json_is_object(payload)
                     ? include_path(o, payload, sel->keys[i])
                     : 0;
        }
        break;
    case GW_PAYLOAD_EXCLUDE:
        o = json_is_object(payload) ? json_copy(payload) : json_object();
        for (size_t i = 0; o && rc == 0 && i < sel->nkeys; i++) {
            rc = exclude_path(o, sel->keys[i]);
        }
        break;
    }
    if (!o || rc) {
        json_decref(o);
        return vx_err(err, VECTRON_NOMEM, "payload: out of memory");
    }
    *out = o;
    return 0;
}

static int respond(json_t *o, char **out, size_t *out_len, vectron_error *err)
{
    int rc;

    if (!o) {
        return vx_err(err, VECTRON_NOMEM, "response: out of memory");
    }
    rc = gw_json_dump(o, out, out_len, err);
    json_decref(o);
    return rc;
}

int gw_respond_ok(json_t *result, double time_s, int partial, char **out,
                  size_t *out_len, vectron_error *err)
{
    static const char *const keys[] = {"result", "status", "time"};
    json_t *o;

    *out = NULL;
    *out_len = 0;
    if (!result) {
        return vx_err(err, VECTRON_NOMEM, "response: out of memory");
    }
    o = BUILD(keys, result, json_string("ok"), gw_jdouble(time_s));
    if (o && partial && json_object_set_new(o, "partial", json_true())) {
        json_decref(o);
        o = NULL;
    }
    return respond(o, out, out_len, err);
}

int gw_respond_error(const char *msg, double time_s, char **out,
                     size_t *out_len, vectron_error *err)
{
    static const char *const keys[] = {"status", "time"};
    const char *m = msg ? msg : "unknown error";

    *out = NULL;
    *out_len = 0;
    return respond(
        BUILD(keys, obj1("error", jstr(m, strlen(m))), gw_jdouble(time_s)), out,
        out_len, err);
}

int gw_http_status(int code)
{
    switch (code) {
    case VECTRON_OK:
        return 200;
    case VECTRON_INVALID:
    case VECTRON_DIMENSION:
    case VECTRON_UNSUPPORTED:
    case VECTRON_LIMIT:
        return 400;
    case VECTRON_NOT_FOUND:
        return 404;
    case VECTRON_EXISTS:
        return 409;
    case VECTRON_NOMEM:
    case VECTRON_UNAVAILABLE:
    case VECTRON_NOT_LEADER:
        return 503;
    case VECTRON_TIMEOUT:
        return 504;
    default:
        return 500;
    }
}
