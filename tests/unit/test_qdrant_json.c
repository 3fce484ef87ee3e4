/*
 * test_qdrant_json.c - unit tests of the gateway's JSON layer: big-number
 * aware load/dump, point ids, every request decoder (good bodies and bad
 * ones with their exact error paths), the binary bulk-upsert body (round
 * trip, every truncation and bit flip), response encoders, and allocation
 * failure injection (nothing leaks, every failure is NOMEM).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "gateway/qdrant_json.h"
#include "gateway/qdrant_json_int.h"

/* JSON literal without escaping: J({"a": 1}) is "{\"a\": 1}". */
#define J(...) #__VA_ARGS__

static vectron_error err;

/* ---- decoder dispatch (for the generic error checks) ------------------- */

enum dec {
    D_CREATE,
    D_UPSERT,
    D_QUERY,
    D_SEARCH,
    D_QUERY_BATCH,
    D_SEARCH_BATCH,
    D_RETRIEVE,
    D_DELETE,
    D_SET_PAYLOAD,
    D_DELETE_PAYLOAD,
    D_SCROLL,
    D_COUNT,
    D_INDEX
};

/* Decodes body with decoder d (collection dimension 3), closes the result
 * and returns the code. A failed decode must leave its struct zeroed. */
static int run_dec(enum dec d, const char *body, const gw_limits *lim)
{
    size_t len = strlen(body);
    int rc = -1;
    union {
        gw_collection_config cc;
        gw_upsert up;
        gw_search s;
        gw_search_batch sb;
        gw_retrieve r;
        gw_selector sel;
        gw_set_payload sp;
        gw_delete_payload dp;
        gw_scroll sc;
        gw_count cn;
        gw_payload_index pi;
    } u, zero;

    memset(&u, 0x5a, sizeof u);
    memset(&zero, 0, sizeof zero);
    switch (d) {
    case D_CREATE:
        rc = gw_decode_create_collection(body, len, lim, &u.cc, &err);
        if (rc) {
            cr_assert(memcmp(&u.cc, &zero.cc, sizeof u.cc) == 0);
        }
        break;
    case D_UPSERT:
        rc = gw_decode_upsert(body, len, 3, lim, &u.up, &err);
        if (rc) {
            cr_assert(memcmp(&u.up, &zero.up, sizeof u.up) == 0);
        }
        gw_upsert_close(&u.up);
        break;
    case D_QUERY:
    case D_SEARCH:
        rc = d == D_QUERY ? gw_decode_query(body, len, 3, lim, &u.s, &err)
                          : gw_decode_search(body, len, 3, lim, &u.s, &err);
        if (rc) {
            cr_assert(memcmp(&u.s, &zero.s, sizeof u.s) == 0);
        }
        gw_search_close(&u.s);
        break;
    case D_QUERY_BATCH:
    case D_SEARCH_BATCH:
        rc = d == D_QUERY_BATCH
                 ? gw_decode_query_batch(body, len, 3, lim, &u.sb, &err)
                 : gw_decode_search_batch(body, len, 3, lim, &u.sb, &err);
        if (rc) {
            cr_assert(memcmp(&u.sb, &zero.sb, sizeof u.sb) == 0);
        }
        gw_search_batch_close(&u.sb);
        break;
    case D_RETRIEVE:
        rc = gw_decode_retrieve(body, len, lim, &u.r, &err);
        if (rc) {
            cr_assert(memcmp(&u.r, &zero.r, sizeof u.r) == 0);
        }
        gw_retrieve_close(&u.r);
        break;
    case D_DELETE:
        rc = gw_decode_delete_points(body, len, lim, &u.sel, &err);
        if (rc) {
            cr_assert(memcmp(&u.sel, &zero.sel, sizeof u.sel) == 0);
        }
        gw_selector_close(&u.sel);
        break;
    case D_SET_PAYLOAD:
        rc = gw_decode_set_payload(body, len, lim, &u.sp, &err);
        if (rc) {
            cr_assert(memcmp(&u.sp, &zero.sp, sizeof u.sp) == 0);
        }
        gw_set_payload_close(&u.sp);
        break;
    case D_DELETE_PAYLOAD:
        rc = gw_decode_delete_payload(body, len, lim, &u.dp, &err);
        if (rc) {
            cr_assert(memcmp(&u.dp, &zero.dp, sizeof u.dp) == 0);
        }
        gw_delete_payload_close(&u.dp);
        break;
    case D_SCROLL:
        rc = gw_decode_scroll(body, len, lim, &u.sc, &err);
        if (rc) {
            cr_assert(memcmp(&u.sc, &zero.sc, sizeof u.sc) == 0);
        }
        gw_scroll_close(&u.sc);
        break;
    case D_COUNT:
        rc = gw_decode_count(body, len, lim, &u.cn, &err);
        if (rc) {
            cr_assert(memcmp(&u.cn, &zero.cn, sizeof u.cn) == 0);
        }
        gw_count_close(&u.cn);
        break;
    case D_INDEX:
        rc = gw_decode_payload_index(body, len, &u.pi, &err);
        if (rc) {
            cr_assert(memcmp(&u.pi, &zero.pi, sizeof u.pi) == 0);
        }
        gw_payload_index_close(&u.pi);
        break;
    }
    return rc;
}

static void bad(enum dec d, const char *body, const char *msg)
{
    int rc = run_dec(d, body, NULL);
    cr_assert_eq(rc, VECTRON_INVALID, "decoder %d accepted %s (rc %d)", d, body,
                 rc);
    cr_assert_str_eq(err.msg, msg, "decoder %d, body %s", d, body);
}

static void good(enum dec d, const char *body)
{
    int rc = run_dec(d, body, NULL);
    cr_assert_eq(rc, 0, "decoder %d rejected %s: %s", d, body, err.msg);
}

/* Dumps j (stolen) with gw_json_dump and compares with want. */
static void dump_is(json_t *j, const char *want)
{
    char *s;
    size_t n;

    cr_assert_not_null(j);
    cr_assert_eq(gw_json_dump(j, &s, &n, &err), 0);
    cr_assert_str_eq(s, want);
    cr_assert_eq(n, strlen(want));
    vx_free(s);
    json_decref(j);
}

/* ---- load / dump ------------------------------------------------------- */

Test(json, big_numbers_round_trip)
{
    const char *in =
        "{\"a\":18446744073709551615,\"b\":-9223372036854775809,\"c\":"
        "[9223372036854775807,-9223372036854775808,2.5,\"x\\u0001y\"],"
        "\"d\":123456789012345678901234567890}";
    const char *want = "{\"a\":18446744073709551615,\"b\":-9223372036854775809,"
                       "\"c\":[9223372036854775807,-9223372036854775808,2.5,"
                       "\"x\\u0001y\"],\"d\":123456789012345678901234567890}";
    json_t *j;

    cr_assert_eq(gw_json_load(in, strlen(in), &j, &err), 0, "%s", err.msg);
    cr_assert(gw_json_is_bignum(json_object_get(j, "a")));
    cr_assert(json_is_integer(json_array_get(json_object_get(j, "c"), 0)));
    dump_is(j, want);
}

Test(json, rejects_nul_duplicates_and_garbage)
{
    json_t *j;
    const char *nul = "{\"a\":\"x\\u0000\"}";
    const char *dup = J({"a" : 1, "a" : 2});

    cr_assert_eq(gw_json_load(nul, strlen(nul), &j, &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg,
                     "body: invalid JSON: \\u0000 is not allowed in strings");
    cr_assert_null(j);
    cr_assert_eq(gw_json_load(dup, strlen(dup), &j, &err), VECTRON_INVALID);
    cr_assert(strstr(err.msg, "duplicate object key"), "%s", err.msg);
    cr_assert_eq(gw_json_load("{\"a\":", 5, &j, &err), VECTRON_INVALID);
    cr_assert(strncmp(err.msg, "body: invalid JSON at line 1, column", 36) == 0,
              "%s", err.msg);
    /* A big literal with leading zeros stays jansson's problem. */
    cr_assert_eq(gw_json_load("[00000000000000000000001]", 25, &j, &err),
                 VECTRON_INVALID);
    /* A marker-looking string in ordinary input stays a string. */
    const char *s = J(["\\u0000123"]);
    cr_assert_eq(gw_json_load(s, strlen(s), &j, &err), 0);
    dump_is(j, "[\"\\\\u0000123\"]");
}

Test(json, dump_never_unmarks_non_numbers)
{
    json_t *a = json_array();
    json_array_append_new(a, json_stringn("\0abc", 4));
    json_array_append_new(a, json_stringn("\0-1.5e3", 7));
    json_array_append_new(a, json_stringn("\0", 1));
    json_array_append_new(a, json_stringn("\0--", 3));
    dump_is(a, "[\"\\u0000abc\",-1.5e3,\"\\u0000\",\"\\u0000--\"]");
}

/* ---- point ids --------------------------------------------------------- */

static int id_of(const char *json, point_id *id)
{
    json_t *j;
    int rc;

    cr_assert_eq(gw_json_load(json, strlen(json), &j, &err), 0, "%s", err.msg);
    rc = gw_json_get_point_id(j, "id", id, &err);
    json_decref(j);
    return rc;
}

Test(ids, every_kind)
{
    point_id id;

    cr_assert_eq(id_of("0", &id), 0);
    cr_assert(!id.is_uuid && id.num == 0);
    cr_assert_eq(id_of("9223372036854775807", &id), 0);
    cr_assert_eq(id.num, 9223372036854775807ULL);
    cr_assert_eq(id_of("9223372036854775808", &id), 0);
    cr_assert_eq(id.num, 9223372036854775808ULL);
    cr_assert_eq(id_of("18446744073709551615", &id), 0);
    cr_assert_eq(id.num, UINT64_MAX);
    cr_assert_eq(id_of("\"550e8400-e29b-41d4-a716-446655440000\"", &id), 0);
    cr_assert(id.is_uuid && id.uuid[0] == 0x55 && id.uuid[15] == 0);
    cr_assert_eq(id_of("\"550E8400E29B41D4A716446655440000\"", &id), 0);
    cr_assert(id.is_uuid && id.uuid[1] == 0x0e);

    cr_assert_eq(id_of("18446744073709551616", &id), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "id: point id exceeds 2^64-1 (got "
                              "18446744073709551616)");
    cr_assert_eq(id_of("-1", &id), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "id: point id must not be negative (got -1)");
    cr_assert_eq(id_of("-18446744073709551615", &id), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "id: point id must not be negative");
    cr_assert_eq(id_of("1.5", &id), VECTRON_INVALID);
    cr_assert_str_eq(err.msg,
                     "id: point id must be an integer, not a fraction");
    cr_assert_eq(id_of("1.0", &id), VECTRON_INVALID);
    cr_assert_eq(id_of("\"12\"", &id), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "id: point id string is not a UUID");
    cr_assert_eq(id_of("\"550e8400-e29b-41d4-a716-44665544000g\"", &id),
                 VECTRON_INVALID);
    cr_assert_eq(id_of("true", &id), VECTRON_INVALID);
    cr_assert_str_eq(
        err.msg, "id: point id must be an unsigned integer or a UUID string");
    cr_assert_eq(id_of("null", &id), VECTRON_INVALID);
}

Test(ids, text_form)
{
    point_id id;

    cr_assert_eq(gw_point_id_parse_text("18446744073709551615", 20, &id, &err),
                 0);
    cr_assert_eq(id.num, UINT64_MAX);
    cr_assert_eq(gw_point_id_parse_text("0", 1, &id, &err), 0);
    cr_assert_eq(gw_point_id_parse_text("01", 2, &id, &err), VECTRON_INVALID);
    cr_assert_eq(gw_point_id_parse_text("-1", 2, &id, &err), VECTRON_INVALID);
    cr_assert_eq(gw_point_id_parse_text("18446744073709551616", 20, &id, &err),
                 VECTRON_INVALID);
    cr_assert_eq(gw_point_id_parse_text("", 0, &id, &err), VECTRON_INVALID);
    cr_assert_eq(gw_point_id_parse_text("550e8400-e29b-41d4-a716-446655440000",
                                        36, &id, &err),
                 0);
    cr_assert(id.is_uuid);
    /* 32 decimal digits overflow u64 but form a hex UUID. */
    cr_assert_eq(gw_point_id_parse_text("12345678901234567890123456789012", 32,
                                        &id, &err),
                 0);
    cr_assert(id.is_uuid);
}

Test(ids, encode)
{
    point_id a = {0, 7, {0}}, b = {0, UINT64_MAX, {0}}, c;
    json_t *arr = json_array();

    cr_assert_eq(gw_point_id_parse_text("550e8400-e29b-41d4-a716-446655440000",
                                        36, &c, &err),
                 0);
    json_array_append_new(arr, gw_json_point_id(&a));
    json_array_append_new(arr, gw_json_point_id(&b));
    json_array_append_new(arr, gw_json_point_id(&c));
    dump_is(arr, "[7,18446744073709551615,"
                 "\"550e8400-e29b-41d4-a716-446655440000\"]");
}

Test(ids, consistency_names)
{
    gw_consistency c;

    cr_assert_eq(gw_consistency_parse("bounded", 7, &c, &err), 0);
    cr_assert_eq(c, GW_CONSISTENCY_BOUNDED);
    cr_assert_eq(gw_consistency_parse("bound", 5, &c, &err), VECTRON_INVALID);
    cr_assert_str_eq(gw_consistency_name(GW_CONSISTENCY_EVENTUAL), "eventual");
}

/* ---- create collection ------------------------------------------------- */

Test(create, full_body)
{
    const char *b = J({
        "vectors" : {"size" : 768, "distance" : "Dot", "on_disk" : true},
        "hnsw_config" :
            {"m" : 32, "ef_construct" : 400, "full_scan_threshold" : 10000},
        "quantization_config" : {
            "scalar" : {"type" : "int8", "quantile" : 0.99, "always_ram" : true}
        },
        "shard_number" : 6,
        "replication_factor" : 3,
        "write_consistency_factor" : 2,
        "optimizers_config" : {"indexing_threshold" : 0},
        "init_from" : null,
        "read_consistency" : "bounded"
    });
    gw_collection_config cc;

    cr_assert_eq(gw_decode_create_collection(b, strlen(b), NULL, &cc, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(cc.dim, 768);
    cr_assert_eq(cc.metric, VECTRON_METRIC_DOT);
    cr_assert_eq(cc.m, 32);
    cr_assert_eq(cc.ef_construction, 400);
    cr_assert_eq(cc.quant, VECTRON_QUANT_INT8);
    cr_assert_float_eq(cc.quantile, 0.99f, 1e-6);
    cr_assert_eq(cc.always_ram, 1);
    cr_assert_eq(cc.shard_number, 6);
    cr_assert_eq(cc.replication_factor, 3);
    cr_assert_eq(cc.read_consistency, GW_CONSISTENCY_BOUNDED);
}

Test(create, minimal_and_overrides)
{
    const char *b = J({
        "vectors" :
            {"size" : 4, "distance" : "Euclid", "hnsw_config" : {"m" : 8}},
        "hnsw_config" : {"m" : 16},
        "consistency" : "eventual"
    });
    gw_collection_config cc;

    cr_assert_eq(gw_decode_create_collection(b, strlen(b), NULL, &cc, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(cc.metric, VECTRON_METRIC_L2);
    cr_assert_eq(cc.m, 8);
    cr_assert_eq(cc.ef_construction, 0);
    cr_assert_eq(cc.quant, VECTRON_QUANT_NONE);
    cr_assert_eq(cc.shard_number, 0);
    cr_assert_eq(cc.read_consistency, GW_CONSISTENCY_EVENTUAL);
    good(D_CREATE, J({
             "vectors" : {"size" : 1, "distance" : "Cosine"},
             "sharding_method" : "auto"
         }));
}

Test(create, errors)
{
    bad(D_CREATE, J({"vectors" : {"size" : 4, "distance" : "cosine"}}),
        "vectors.distance: unknown distance \"cosine\" (expected "
        "\"Cosine\", \"Euclid\" or \"Dot\")");
    bad(D_CREATE, J({"vectors" : {"size" : 4, "distance" : "Manhattan"}}),
        "vectors.distance: \"Manhattan\" is not supported by Vectron");
    bad(D_CREATE, J({"vectors" : {"size" : 0, "distance" : "Dot"}}),
        "vectors.size: must be at least 1");
    bad(D_CREATE, J({"vectors" : {"size" : 65537, "distance" : "Dot"}}),
        "vectors.size: 65537 exceeds the maximum of 65536");
    bad(D_CREATE, J({"vectors" : {"size" : -4, "distance" : "Dot"}}),
        "vectors.size: must be a non-negative integer (got -4)");
    bad(D_CREATE, J({"vectors" : {"size" : 4.5, "distance" : "Dot"}}),
        "vectors.size: must be a non-negative integer");
    bad(D_CREATE,
        J({"vectors" : {"size" : 99999999999999999999, "distance" : "Dot"}}),
        "vectors.size: 99999999999999999999 exceeds the maximum of 65536");
    bad(D_CREATE, J({"vectors" : {"distance" : "Dot"}}),
        "vectors: missing field \"size\"");
    bad(D_CREATE, J({"vectors" : {"size" : 3}}),
        "vectors: missing field \"distance\"");
    bad(D_CREATE, J({"hnsw_config" : {"m" : 16}}),
        "body: missing field \"vectors\"");
    bad(D_CREATE, J({"vectors" : {"image" : {"size" : 3, "distance" : "Dot"}}}),
        "vectors: named vectors are not supported by Vectron");
    bad(D_CREATE, J({
            "vectors" : {"size" : 3, "distance" : "Dot", "datatype" : "float16"}
        }),
        "vectors.datatype: only \"float32\" is supported by Vectron");
    bad(D_CREATE, J({
            "vectors" : {"size" : 3, "distance" : "Dot"},
            "hnsw_config" : {"m" : 1}
        }),
        "hnsw_config.m: must be at least 2");
    bad(D_CREATE, J({
            "vectors" : {"size" : 3, "distance" : "Dot"},
            "hnsw_config" : {"m" : 64, "ef_construct" : 32}
        }),
        "hnsw_config.ef_construct: must be at least m (64)");
    bad(D_CREATE, J({
            "vectors" : {"size" : 3, "distance" : "Dot"},
            "hnsw_config" : {"mm" : 64}
        }),
        "hnsw_config: unknown field \"mm\"");
    bad(D_CREATE, J({
            "vectors" : {"size" : 3, "distance" : "Dot"},
            "quantization_config" : {"product" : {}}
        }),
        "quantization_config.product: not supported by Vectron");
    bad(D_CREATE, J({
            "vectors" : {"size" : 3, "distance" : "Dot"},
            "quantization_config" : {"scalar" : {"type" : "int4"}}
        }),
        "quantization_config.scalar.type: must be \"int8\"");
    bad(D_CREATE, J({
            "vectors" : {"size" : 3, "distance" : "Dot"},
            "quantization_config" :
                {"scalar" : {"type" : "int8", "quantile" : 0.2}}
        }),
        "quantization_config.scalar.quantile: must be between 0.5 and 1");
    bad(D_CREATE,
        J({"vectors" : {"size" : 3, "distance" : "Dot"}, "shard_number" : 0}),
        "shard_number: must be at least 1");
    bad(D_CREATE, J({
            "vectors" : {"size" : 3, "distance" : "Dot"},
            "replication_factor" : 17
        }),
        "replication_factor: 17 exceeds the maximum of 16");
    bad(D_CREATE, J({
            "vectors" : {"size" : 3, "distance" : "Dot"},
            "read_consistency" : "strong",
            "consistency" : "strong"
        }),
        "body: give either read_consistency or consistency, not both");
    bad(D_CREATE, J({
            "vectors" : {"size" : 3, "distance" : "Dot"},
            "consistency" : "majority"
        }),
        "consistency: must be \"strong\", \"bounded\" or \"eventual\"");
    bad(D_CREATE, J({
            "vectors" : {"size" : 3, "distance" : "Dot"},
            "sparse_vectors" : {"s" : {}}
        }),
        "sparse_vectors: not supported by Vectron");
    bad(D_CREATE,
        J({"vectors" : {"size" : 3, "distance" : "Dot"}, "vector" : 1}),
        "body: unknown field \"vector\"");
    bad(D_CREATE, J([1]), "body: must be a JSON object");
    bad(D_CREATE, "", "body: must be a JSON object (the body is empty)");
    bad(D_CREATE, "{\"vectors\":{\"size\":3,}}",
        "body: invalid JSON at line 1, column 22: string or '}' expected "
        "near '}'");
}

Test(create, custom_limits)
{
    gw_limits l;
    gw_collection_config cc;
    const char *b = J({"vectors" : {"size" : 2048, "distance" : "Dot"}});

    gw_limits_default(&l);
    l.max_dim = 1536;
    cr_assert_eq(gw_decode_create_collection(b, strlen(b), &l, &cc, &err),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "vectors.size: 2048 exceeds the maximum of 1536");
}

/* ---- upsert ------------------------------------------------------------ */

Test(upsert, points_form)
{
    const char *b = J({
        "points" : [
            {"id" : 1, "vector" : [ 0.5, -1, 2e3 ], "payload" : {"a" : "x"}},
            {"id" : 18446744073709551615, "vector" : [ 0, 0, 1 ]}, {
                "id" : "550e8400-e29b-41d4-a716-446655440000",
                "vector" : [ 1, 100000000000000000000, -0.0 ],
                "payload" :
                    {"n" : 18446744073709551615, "l" : [ 1, {"b" : null} ]}
            }
        ]
    });
    gw_upsert u;

    cr_assert_eq(gw_decode_upsert(b, strlen(b), 3, NULL, &u, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(u.count, 3);
    cr_assert_eq(u.dim, 3);
    cr_assert_eq(u.ids[0].num, 1);
    cr_assert_eq(u.ids[1].num, UINT64_MAX);
    cr_assert(u.ids[2].is_uuid);
    cr_assert_eq(u.vectors[0], 0.5f);
    cr_assert_eq(u.vectors[1], -1.0f);
    cr_assert_eq(u.vectors[2], 2000.0f);
    cr_assert_eq(u.vectors[5], 1.0f);
    cr_assert_eq(u.vectors[7], 1e20f);
    cr_assert_not_null(u.payloads);
    cr_assert_str_eq(u.payloads[0].data, "{\"a\":\"x\"}");
    cr_assert_eq(u.payloads[0].len, 9);
    cr_assert_null(u.payloads[1].data);
    cr_assert_str_eq(u.payloads[2].data,
                     "{\"n\":18446744073709551615,\"l\":[1,{\"b\":null}]}");
    /* The caller may take the vectors. */
    float *v = u.vectors;
    u.vectors = NULL;
    gw_upsert_close(&u);
    vx_free(v);
}

Test(upsert, batch_form)
{
    const char *b = J({
        "batch" : {
            "ids" : [ 3, 4 ],
            "vectors" : [ [ 1, 2, 3 ], [ 4, 5, 6 ] ],
            "payloads" : [ null, {"k" : 1} ]
        }
    });
    const char *nopl = J({
        "batch" : {"ids" : [5], "vectors" : [[ 1, 2, 3 ]], "payloads" : null}
    });
    gw_upsert u;

    cr_assert_eq(gw_decode_upsert(b, strlen(b), 3, NULL, &u, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(u.count, 2);
    cr_assert_eq(u.ids[1].num, 4);
    cr_assert_eq(u.vectors[5], 6.0f);
    cr_assert_null(u.payloads[0].data);
    cr_assert_str_eq(u.payloads[1].data, "{\"k\":1}");
    gw_upsert_close(&u);
    cr_assert_eq(gw_decode_upsert(nopl, strlen(nopl), 3, NULL, &u, &err), 0);
    cr_assert_null(u.payloads);
    cr_assert_null(u.payload_buf);
    gw_upsert_close(&u);
    good(D_UPSERT, J({"points" : []}));
}

Test(upsert, errors)
{
    bad(D_UPSERT, J({
            "points" : [
                {"id" : 1, "vector" : [ 1, 2, 3 ]},
                {"id" : 2, "vector" : [ 1, 2 ]}
            ]
        }),
        "points[1].vector: expected dimension 3, got 2");
    bad(D_UPSERT, J({"points" : [ {"id" : 1, "vector" : [ 1, "NaN", 3 ]} ]}),
        "points[0].vector[1]: not a finite number");
    bad(D_UPSERT, J({"points" : [ {"id" : 1, "vector" : [ 1, 2, [3] ]} ]}),
        "points[0].vector[2]: not a finite number");
    bad(D_UPSERT, J({"points" : [ {"id" : 1, "vector" : [ 1, 2, null ]} ]}),
        "points[0].vector[2]: not a finite number");
    bad(D_UPSERT, J({"points" : [ {"id" : 1, "vector" : [ 1, 2, 1e39 ]} ]}),
        "points[0].vector[2]: 1e+39 is outside the float32 range");
    bad(D_UPSERT, J({
            "points" : [ {
                "id" : 1,
                "vector" : [ 1, 2, -1000000000000000000000000000000000000000 ]
            } ]
        }),
        "points[0].vector[2]: -1e+39 is outside the float32 range");
    cr_assert_eq(
        run_dec(D_UPSERT,
                J({"points" : [ {"id" : 1, "vector" : [ 1, 2, 1e400 ]} ]}),
                NULL),
        VECTRON_INVALID);
    cr_assert(strstr(err.msg, "real number overflow"), "%s", err.msg);
    bad(D_UPSERT, J({"points" : [ {"id" : 1, "vector" : {"a" : [1]}} ]}),
        "points[0].vector: named vectors are not supported by Vectron");
    bad(D_UPSERT, J({"points" : [ {"id" : -3, "vector" : [ 1, 2, 3 ]} ]}),
        "points[0].id: point id must not be negative (got -3)");
    bad(D_UPSERT, J({"points" : [ {"id" : 2.5, "vector" : [ 1, 2, 3 ]} ]}),
        "points[0].id: point id must be an integer, not a fraction");
    bad(D_UPSERT, J({"points" : [ {"id" : "p1", "vector" : [ 1, 2, 3 ]} ]}),
        "points[0].id: point id string is not a UUID");
    bad(D_UPSERT, J({
            "points" : [ {"id" : 18446744073709551616, "vector" : [ 1, 2, 3 ]} ]
        }),
        "points[0].id: point id exceeds 2^64-1 (got 18446744073709551616)");
    bad(D_UPSERT, J({"points" : [ {"vector" : [ 1, 2, 3 ]} ]}),
        "points[0]: missing field \"id\"");
    bad(D_UPSERT, J({"points" : [ {"id" : 1} ]}),
        "points[0]: missing field \"vector\"");
    bad(D_UPSERT,
        J({"points" : [ {"id" : 1, "vector" : [ 1, 2, 3 ], "payload" : []} ]}),
        "points[0].payload: must be a JSON object");
    bad(D_UPSERT,
        J({"points" : [ {"id" : 1, "vector" : [ 1, 2, 3 ], "vectors" : 1} ]}),
        "points[0]: unknown field \"vectors\"");
    bad(D_UPSERT, J({"points" : [1]}), "points[0]: must be a JSON object");
    bad(D_UPSERT, J({"points" : {}}), "points: must be an array of points");
    bad(D_UPSERT, J({}), "body: missing field \"points\" (or \"batch\")");
    bad(D_UPSERT, J({"points" : [], "batch" : {}}),
        "body: give either points or batch, not both");
    bad(D_UPSERT, J({"points" : [], "shard_key" : "a"}),
        "shard_key: not supported by Vectron");
    bad(D_UPSERT, J({"batch" : {"ids" : [ 1, 2 ], "vectors" : [[ 1, 2, 3 ]]}}),
        "batch.vectors: expected 2 vectors (one per id), got 1");
    bad(D_UPSERT, J({
            "batch" :
                {"ids" : [ 1, 2 ], "vectors" : [ [ 1, 2, 3 ], [ 1, 2, 3, 4 ] ]}
        }),
        "batch.vectors[1]: expected dimension 3, got 4");
    bad(D_UPSERT, J({
            "batch" :
                {"ids" : [ 1, -2 ], "vectors" : [ [ 1, 2, 3 ], [ 1, 2, 3 ] ]}
        }),
        "batch.ids[1]: point id must not be negative (got -2)");
    bad(D_UPSERT, J({
            "batch" : {"ids" : [1], "vectors" : [[ 1, 2, 3 ]], "payloads" : [1]}
        }),
        "batch.payloads[0]: must be a JSON object");
    bad(D_UPSERT, J({
            "batch" : {"ids" : [1], "vectors" : [[ 1, 2, 3 ]], "payloads" : []}
        }),
        "batch.payloads: expected 1 payloads (one per id), got 0");
    bad(D_UPSERT, J({"batch" : {"vectors" : []}}),
        "batch: missing field \"ids\"");
}

Test(upsert, limits_and_dimension_bound)
{
    gw_limits l;
    gw_upsert u;
    const char *b = J({
        "points" : [
            {"id" : 1, "vector" : [ 1, 2, 3 ]},
            {"id" : 2, "vector" : [ 1, 2, 3 ]}
        ]
    });
    /* Many points with a short body and a large dimension: the decoder
     * must not allocate count * dim floats up front, and still report the
     * first bad vector. */
    const char *small = J({
        "points" : [
            {"id" : 1, "vector" : [1]}, {"id" : 2, "vector" : [2]},
            {"id" : 3, "vector" : [3]}
        ]
    });

    gw_limits_default(&l);
    l.max_batch = 1;
    cr_assert_eq(gw_decode_upsert(b, strlen(b), 3, &l, &u, &err),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "points: 2 points exceed the maximum of 1");
    cr_assert_eq(gw_decode_upsert(small, strlen(small), 65536, NULL, &u, &err),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg,
                     "points[0].vector: expected dimension 65536, got 1");
    cr_assert_eq(gw_decode_upsert(b, strlen(b), 0, NULL, &u, &err),
                 VECTRON_INVALID);
}

/* ---- binary bulk upsert ------------------------------------------------ */

static uint8_t *make_bulk(int uuid, int with_payloads, size_t *len)
{
    point_id ids[3];
    float vecs[3 * 4];
    gw_text pl[3] = {{"{\"a\":1}", 7}, {NULL, 0}, {"{\"b\":[true]}", 12}};
    uint8_t *b;

    memset(ids, 0, sizeof ids);
    for (int i = 0; i < 3; i++) {
        ids[i].is_uuid = uuid;
        ids[i].num = uuid ? 0 : (i == 2 ? UINT64_MAX : (uint64_t)i * 10);
        for (int k = 0; k < 16; k++) {
            ids[i].uuid[k] = uuid ? (uint8_t)(i * 16 + k) : 0;
        }
    }
    for (int i = 0; i < 12; i++) {
        vecs[i] = (float)i * 0.25f - 1.0f;
    }
    cr_assert_eq(gw_encode_bulk_upsert(ids, vecs, with_payloads ? pl : NULL, 3,
                                       4, &b, len, &err),
                 0, "%s", err.msg);
    return b;
}

/* Rewrites the CRC after a deliberate edit. */
static void fix_crc(uint8_t *b, size_t len)
{
    vx_put_u32(b + len - 4, vx_crc32c(0, b, len - 4));
}

static void bulk_bad(const uint8_t *b, size_t len, uint32_t dim,
                     const char *msg)
{
    gw_upsert u;
    int rc = gw_decode_bulk_upsert(b, len, dim, NULL, &u, &err);

    cr_assert_eq(rc, VECTRON_INVALID, "accepted; expected %s", msg);
    if (msg) {
        cr_assert_str_eq(err.msg, msg);
    }
    cr_assert_null(u.ids);
    cr_assert_null(u.vectors);
}

Test(bulk, round_trip)
{
    size_t len;
    uint8_t *b = make_bulk(0, 1, &len);
    gw_upsert u;

    cr_assert_eq(len, 32 + 3 * 8 + 3 * 4 * 4 + 3 * 4 + 7 + 12 + 4);
    cr_assert_eq(gw_decode_bulk_upsert(b, len, 4, NULL, &u, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(u.count, 3);
    cr_assert_eq(u.ids[1].num, 10);
    cr_assert_eq(u.ids[2].num, UINT64_MAX);
    for (int i = 0; i < 12; i++) {
        cr_assert_eq(u.vectors[i], (float)i * 0.25f - 1.0f);
    }
    cr_assert_str_eq(u.payloads[0].data, "{\"a\":1}");
    cr_assert_null(u.payloads[1].data);
    cr_assert_str_eq(u.payloads[2].data, "{\"b\":[true]}");
    cr_assert_eq(u.payloads[2].len, 12);
    gw_upsert_close(&u);
    vx_free(b);

    b = make_bulk(1, 0, &len);
    cr_assert_eq(gw_decode_bulk_upsert(b, len, 4, NULL, &u, &err), 0, "%s",
                 err.msg);
    cr_assert(u.ids[2].is_uuid);
    cr_assert_eq(u.ids[2].uuid[15], 47);
    cr_assert_null(u.payloads);
    gw_upsert_close(&u);
    vx_free(b);

    cr_assert_eq(gw_encode_bulk_upsert(NULL, NULL, NULL, 0, 8, &b, &len, &err),
                 0);
    cr_assert_eq(len, 36);
    cr_assert_eq(gw_decode_bulk_upsert(b, len, 8, NULL, &u, &err), 0);
    cr_assert_eq(u.count, 0);
    gw_upsert_close(&u);
    vx_free(b);
}

Test(bulk, every_truncation_and_bit_flip_is_detected)
{
    size_t len;
    uint8_t *b = make_bulk(0, 1, &len);
    gw_upsert u;

    for (size_t n = 0; n < len; n++) {
        cr_assert_eq(gw_decode_bulk_upsert(b, n, 4, NULL, &u, &err),
                     VECTRON_INVALID, "truncated to %zu accepted", n);
        cr_assert_null(u.ids);
    }
    for (size_t bit = 0; bit < len * 8; bit++) {
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_eq(gw_decode_bulk_upsert(b, len, 4, NULL, &u, &err),
                     VECTRON_INVALID, "flip of bit %zu accepted", bit);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cr_assert_eq(gw_decode_bulk_upsert(b, len, 4, NULL, &u, &err), 0);
    gw_upsert_close(&u);
    vx_free(b);
}

Test(bulk, header_and_content_checks)
{
    size_t len;
    uint8_t *b = make_bulk(0, 1, &len), *big;
    uint8_t save[4];

    bulk_bad(b, len, 3, "bulk: expected dimension 3, got 4");
    bulk_bad(NULL, 0, 4, "bulk: truncated: 0 bytes, the minimum is 36");
    b[0] = 'W';
    bulk_bad(b, len, 4, "bulk: bad magic (not a bulk upsert body)");
    b[0] = 'V';
    b[len - 1] ^= 1;
    bulk_bad(b, len, 4, NULL);
    cr_assert(strncmp(err.msg, "bulk: checksum mismatch", 23) == 0);
    b[len - 1] ^= 1;

    vx_put_u32(b + 8, 2);
    fix_crc(b, len);
    bulk_bad(b, len, 4, "bulk: unsupported version 2 (expected 1)");
    vx_put_u32(b + 8, 1);
    vx_put_u32(b + 12, 2 | 8);
    fix_crc(b, len);
    bulk_bad(b, len, 4, "bulk: unknown flags 0xa");
    vx_put_u32(b + 12, 2);
    b[30] = 1;
    fix_crc(b, len);
    bulk_bad(b, len, 4, "bulk: reserved bytes not zero");
    b[30] = 0;
    vx_put_u32(b + 20, 4000000000u);
    fix_crc(b, len);
    bulk_bad(b, len, 4, "bulk: 4000000000 points exceed the maximum of 10000");
    vx_put_u32(b + 20, 9000);
    fix_crc(b, len);
    bulk_bad(b, len, 4,
             "bulk: truncated: 9000 points need at least 252036 bytes, "
             "got 139");
    vx_put_u32(b + 20, 3);

    /* Payload lengths: 7, 0, 12 at offset 32 + 24 + 48 = 104. */
    memcpy(save, b + 112, 4);
    vx_put_u32(b + 112, 0xFFFFFFF0u);
    fix_crc(b, len);
    bulk_bad(b, len, 4,
             "bulk: truncated: payload of point 2 runs past the end");
    vx_put_u32(b + 112, 11);
    fix_crc(b, len);
    bulk_bad(b, len, 4, "bulk: 1 trailing bytes");
    memcpy(b + 112, save, 4);

    /* A NaN component (point 1, component 2). */
    vx_put_u32(b + 56 + 16 + 8, 0x7FC00000u);
    fix_crc(b, len);
    bulk_bad(b, len, 4, "points[1].vector[2]: not a finite number");
    vx_put_u32(b + 56 + 16 + 8, 0x7F800000u);
    fix_crc(b, len);
    bulk_bad(b, len, 4, "points[1].vector[2]: not a finite number");
    vx_free(b);

    {
        point_id ids[2] = {{0, 1, {0}}, {0, 2, {0}}};
        float v[2] = {1, 2};
        gw_text pl[2] = {{"[1]", 3}, {"{\"a\":", 5}};
        size_t n;
        cr_assert_eq(gw_encode_bulk_upsert(ids, v, pl, 2, 1, &big, &n, &err),
                     0);
        bulk_bad(big, n, 1, "points[0].payload: must be a JSON object");
        vx_free(big);
        pl[0].data = "{}";
        pl[0].len = 2;
        cr_assert_eq(gw_encode_bulk_upsert(ids, v, pl, 2, 1, &big, &n, &err),
                     0);
        bulk_bad(big, n, 1, NULL);
        cr_assert(strncmp(err.msg, "points[1].payload: invalid JSON", 31) == 0,
                  "%s", err.msg);
        vx_free(big);
        ids[1].is_uuid = 1;
        cr_assert_eq(gw_encode_bulk_upsert(ids, v, NULL, 2, 1, &big, &n, &err),
                     VECTRON_INVALID);
    }
}

/* ---- search and query -------------------------------------------------- */

Test(query, full_body)
{
    const char *b = J({
        "query" : [ 1, 2, 3 ],
        "filter" : {"must" : [ {"key" : "a", "match" : {"value" : 1}} ]},
        "params" : {
            "hnsw_ef" : 128,
            "exact" : false,
            "quantization" :
                {"ignore" : false, "rescore" : true, "oversampling" : 2.5}
        },
        "limit" : 5,
        "offset" : 10,
        "with_payload" : {"exclude" : [ "big", "a.b" ]},
        "with_vector" : true,
        "score_threshold" : 0.75,
        "consistency" : "strong"
    });
    gw_search s;

    cr_assert_eq(gw_decode_query(b, strlen(b), 3, NULL, &s, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(s.kind, GW_QUERY_VECTOR);
    cr_assert_eq(s.vector[2], 3.0f);
    cr_assert_not_null(s.filter);
    cr_assert_eq(s.hnsw_ef, 128);
    cr_assert_eq(s.exact, 0);
    cr_assert_eq(s.rescore, 1);
    cr_assert_float_eq(s.oversampling, 2.5, 1e-9);
    cr_assert_eq(s.limit, 5);
    cr_assert_eq(s.offset, 10);
    cr_assert_eq(s.with_payload.mode, GW_PAYLOAD_EXCLUDE);
    cr_assert_eq(s.with_payload.nkeys, 2);
    cr_assert_str_eq(s.with_payload.keys[1], "a.b");
    cr_assert_eq(s.with_vector, 1);
    cr_assert_eq(s.has_score_threshold, 1);
    cr_assert_float_eq(s.score_threshold, 0.75f, 1e-6);
    cr_assert_eq(s.consistency, GW_CONSISTENCY_STRONG);
    gw_search_close(&s);
}

Test(query, query_forms_and_defaults)
{
    gw_search s;
    const char *byid =
        J({"query" : 18446744073709551615, "with_payload" : [ "a", "b" ]});
    const char *near = J({
        "query" : {"nearest" : "550e8400-e29b-41d4-a716-446655440000"},
        "with_payload" : true
    });

    cr_assert_eq(gw_decode_query("", 0, 3, NULL, &s, &err), 0);
    cr_assert_eq(s.kind, GW_QUERY_NONE);
    cr_assert_eq(s.limit, 10);
    cr_assert_eq(s.rescore, -1);
    cr_assert_eq(s.with_payload.mode, GW_PAYLOAD_NONE);
    gw_search_close(&s);
    cr_assert_eq(gw_decode_query(byid, strlen(byid), 3, NULL, &s, &err), 0);
    cr_assert_eq(s.kind, GW_QUERY_ID);
    cr_assert_eq(s.id.num, UINT64_MAX);
    cr_assert_eq(s.with_payload.mode, GW_PAYLOAD_INCLUDE);
    cr_assert_eq(s.with_payload.nkeys, 2);
    gw_search_close(&s);
    cr_assert_eq(gw_decode_query(near, strlen(near), 3, NULL, &s, &err), 0);
    cr_assert_eq(s.kind, GW_QUERY_ID);
    cr_assert(s.id.is_uuid);
    cr_assert_eq(s.with_payload.mode, GW_PAYLOAD_ALL);
    gw_search_close(&s);
    good(D_QUERY, J({"query" : {"nearest" : [ 1, 2, 3 ]}, "using" : null}));
}

Test(query, errors)
{
    bad(D_QUERY, J({"query" : [ 1, 2 ]}), "query: expected dimension 3, got 2");
    bad(D_QUERY, J({"query" : [ 1, 2, "x" ]}), "query[2]: not a finite number");
    bad(D_QUERY, J({"query" : -1}),
        "query: point id must not be negative (got -1)");
    bad(D_QUERY, J({"query" : true}), "query: must be a vector or a point id");
    bad(D_QUERY, J({"query" : {"recommend" : {"positive" : [1]}}}),
        "query.recommend: not supported by Vectron");
    bad(D_QUERY, J({"query" : {"nearest" : [ 1, 2 ]}}),
        "query.nearest: expected dimension 3, got 2");
    bad(D_QUERY, J({"query" : {}}), "query: missing field \"nearest\"");
    bad(D_QUERY, J({"prefetch" : [ {"query" : [ 1, 2, 3 ]} ]}),
        "prefetch: not supported by Vectron");
    bad(D_QUERY, J({"using" : "image"}), "using: not supported by Vectron");
    bad(D_QUERY, J({"limit" : 0}), "limit: must be at least 1");
    bad(D_QUERY, J({"limit" : 20000}),
        "limit: 20000 exceeds the maximum of 10000");
    bad(D_QUERY, J({"offset" : 100001}),
        "offset: 100001 exceeds the maximum of 100000");
    bad(D_QUERY, J({"top" : 5}), "body: unknown field \"top\"");
    bad(D_QUERY, J({"params" : {"hnsw_ef" : 0}}),
        "params.hnsw_ef: must be at least 1");
    bad(D_QUERY, J({"params" : {"exact" : 1}}),
        "params.exact: must be true or false");
    bad(D_QUERY, J({"params" : {"quantization" : {"oversampling" : 0.5}}}),
        "params.quantization.oversampling: must be between 1 and 1000");
    bad(D_QUERY, J({"params" : {"acorn" : {"enable" : true}}}),
        "params.acorn: not supported by Vectron");
    bad(D_QUERY, J({"with_payload" : {"include" : ["a"], "exclude" : ["b"]}}),
        "with_payload: give exactly one of \"include\" and \"exclude\"");
    bad(D_QUERY, J({"with_payload" : [ "a", 1 ]}),
        "with_payload[1]: must be a string");
    bad(D_QUERY, J({"with_payload" : {"include" : [""]}}),
        "with_payload.include[0]: must not be empty");
    bad(D_QUERY, J({"with_payload" : 1}),
        "with_payload: must be a boolean, a list of keys or "
        "{\"include\"|\"exclude\": [keys]}");
    bad(D_QUERY, J({"with_vector" : ["image"]}),
        "with_vector: named vectors are not supported by Vectron");
    bad(D_QUERY, J({"with_vector" : true, "with_vectors" : true}),
        "body: give either with_vector or with_vectors, not both");
    bad(D_QUERY, J({"score_threshold" : "high"}),
        "score_threshold: must be a number");
    bad(D_QUERY, J({"consistency" : 1}),
        "consistency: must be \"strong\", \"bounded\" or \"eventual\"");
    bad(D_QUERY, J({"filter" : {"must" : [ {"key" : "a"} ]}}),
        "filter.must[0]: needs one of match, range or values_count");
    bad(D_QUERY, J([]), "body: must be a JSON object");
}

Test(search, legacy_body)
{
    const char *b = J({
        "vector" : [ 0.1, 0.2, 0.3 ],
        "top" : 3,
        "with_vectors" : true,
        "offset" : 2
    });
    gw_search s;

    cr_assert_eq(gw_decode_search(b, strlen(b), 3, NULL, &s, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(s.kind, GW_QUERY_VECTOR);
    cr_assert_eq(s.vector[0], 0.1f);
    cr_assert_eq(s.limit, 3);
    cr_assert_eq(s.offset, 2);
    cr_assert_eq(s.with_vector, 1);
    gw_search_close(&s);
    bad(D_SEARCH, J({"limit" : 3}), "body: missing field \"vector\"");
    bad(D_SEARCH, J({"vector" : [ 1, 2, 3 ]}), "body: missing field \"limit\"");
    bad(D_SEARCH, J({"vector" : [ 1, 2, 3 ], "limit" : 1, "top" : 1}),
        "body: give either limit or top, not both");
    bad(D_SEARCH,
        J({"vector" : {"name" : "a", "vector" : [ 1, 2, 3 ]}, "limit" : 1}),
        "vector: named vectors are not supported by Vectron");
    bad(D_SEARCH, J({"vector" : 7, "limit" : 1}),
        "vector: must be an array of 3 numbers");
    bad(D_SEARCH, J({"vector" : [ 1, 2, 3 ], "top" : 10001}),
        "top: 10001 exceeds the maximum of 10000");
    bad(D_SEARCH, J({"vector" : [ 1, 2, 3 ], "limit" : 1, "query" : [1]}),
        "body: unknown field \"query\"");
}

Test(search, batches)
{
    const char *b = J({
        "searches" : [
            {"vector" : [ 1, 2, 3 ], "limit" : 1},
            {"vector" : [ 4, 5, 6 ], "limit" : 2, "filter" : {}}
        ]
    });
    gw_search_batch sb;
    gw_limits l;

    cr_assert_eq(gw_decode_search_batch(b, strlen(b), 3, NULL, &sb, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(sb.count, 2);
    cr_assert_eq(sb.searches[1].vector[0], 4.0f);
    cr_assert_not_null(sb.searches[1].filter);
    gw_search_batch_close(&sb);
    good(D_QUERY_BATCH, J({"searches" : [ {}, {"query" : 5} ]}));
    good(D_QUERY_BATCH, J({"searches" : []}));
    bad(D_SEARCH_BATCH, J({
            "searches" : [
                {"vector" : [ 1, 2, 3 ], "limit" : 1},
                {"vector" : [ 1, 2, 3 ], "limit" : 0}
            ]
        }),
        "searches[1].limit: must be at least 1");
    bad(D_QUERY_BATCH, J({"searches" : [ {"query" : [ 1, 2, 3, 4 ]} ]}),
        "searches[0].query: expected dimension 3, got 4");
    bad(D_QUERY_BATCH, J({"searches" : {}}),
        "searches: must be an array of requests");
    bad(D_QUERY_BATCH, J({"search" : []}), "body: unknown field \"search\"");
    bad(D_QUERY_BATCH, J({}), "body: missing field \"searches\"");
    gw_limits_default(&l);
    l.max_batch = 1;
    cr_assert_eq(run_dec(D_QUERY_BATCH, J({"searches" : [ {}, {} ]}), &l),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "searches: 2 searches exceed the maximum of 1");
}

/* ---- retrieve, delete, payload, scroll, count, index ------------------- */

Test(points, retrieve)
{
    const char *b = J({
        "ids" : [ 1, "550e8400-e29b-41d4-a716-446655440000" ],
        "with_vector" : true
    });
    gw_retrieve r;

    cr_assert_eq(gw_decode_retrieve(b, strlen(b), NULL, &r, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(r.count, 2);
    cr_assert(r.ids[1].is_uuid);
    cr_assert_eq(r.with_payload.mode, GW_PAYLOAD_ALL);
    cr_assert_eq(r.with_vector, 1);
    gw_retrieve_close(&r);
    bad(D_RETRIEVE, J({"ids" : [ 1, 2, -5 ]}),
        "ids[2]: point id must not be negative (got -5)");
    bad(D_RETRIEVE, J({"ids" : 1}), "ids: must be an array of point ids");
    bad(D_RETRIEVE, J({"with_payload" : false}), "body: missing field \"ids\"");
}

Test(points, delete_selectors)
{
    const char *byf = J({"filter" : {"must" : {"has_id" : [1]}}});
    gw_selector s;

    cr_assert_eq(gw_decode_delete_points(byf, strlen(byf), NULL, &s, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(s.by_filter, 1);
    cr_assert_not_null(s.filter);
    gw_selector_close(&s);
    good(D_DELETE, J({"points" : [ 1, 2, 3 ]}));
    good(D_DELETE, J({"points" : []}));
    bad(D_DELETE, J({"points" : [1], "filter" : {}}),
        "body: give either points or filter, not both");
    bad(D_DELETE, J({}), "body: missing field \"points\" (or \"filter\")");
    bad(D_DELETE, J({"points" : [ 1, 1.5 ]}),
        "points[1]: point id must be an integer, not a fraction");
    bad(D_DELETE, J({"filter" : {"must" : [ {"key" : "a", "match" : {}} ]}}),
        "filter.must[0].match: needs one of value, any, except or text");
    bad(D_DELETE, J({"filter" : []}), "filter: must be a filter object");
}

Test(points, set_and_delete_payload)
{
    const char *b = J({
        "payload" : {"x" : 1, "y" : [ 1, 2 ]},
        "points" : [ 1, 2 ],
        "key" : "a.b"
    });
    gw_set_payload p;
    gw_delete_payload d;
    const char *db = J({"keys" : [ "x", "y.z" ], "filter" : {}});

    cr_assert_eq(gw_decode_set_payload(b, strlen(b), NULL, &p, &err), 0, "%s",
                 err.msg);
    cr_assert_str_eq(p.payload.data, "{\"x\":1,\"y\":[1,2]}");
    cr_assert_eq(p.payload.len, strlen(p.payload.data));
    cr_assert_str_eq(p.key, "a.b");
    cr_assert_eq(p.sel.count, 2);
    gw_set_payload_close(&p);
    bad(D_SET_PAYLOAD, J({"payload" : 5, "points" : [1]}),
        "payload: must be a JSON object");
    bad(D_SET_PAYLOAD, J({"points" : [1]}), "body: missing field \"payload\"");
    bad(D_SET_PAYLOAD, J({"payload" : {}}),
        "body: missing field \"points\" (or \"filter\")");
    bad(D_SET_PAYLOAD, J({"payload" : {}, "points" : [], "key" : ""}),
        "key: must not be empty");

    cr_assert_eq(gw_decode_delete_payload(db, strlen(db), NULL, &d, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(d.nkeys, 2);
    cr_assert_str_eq(d.keys[1], "y.z");
    cr_assert_eq(d.sel.by_filter, 1);
    gw_delete_payload_close(&d);
    bad(D_DELETE_PAYLOAD, J({"keys" : [ "x", "" ], "points" : [1]}),
        "keys[1]: must not be empty");
    bad(D_DELETE_PAYLOAD, J({"points" : [1]}), "body: missing field \"keys\"");
}

Test(points, scroll_and_count)
{
    const char *b = J({
        "offset" : "550e8400-e29b-41d4-a716-446655440000",
        "limit" : 100,
        "with_payload" : false,
        "filter" : {"must_not" : [ {"is_empty" : {"key" : "a"}} ]}
    });
    gw_scroll s;
    gw_count c;

    cr_assert_eq(gw_decode_scroll(" \n", 2, NULL, &s, &err), 0);
    cr_assert_eq(s.limit, 10);
    cr_assert_eq(s.has_offset, 0);
    cr_assert_eq(s.with_payload.mode, GW_PAYLOAD_ALL);
    gw_scroll_close(&s);
    cr_assert_eq(gw_decode_scroll(b, strlen(b), NULL, &s, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(s.has_offset, 1);
    cr_assert(s.offset.is_uuid);
    cr_assert_eq(s.limit, 100);
    cr_assert_eq(s.with_payload.mode, GW_PAYLOAD_NONE);
    cr_assert_not_null(s.filter);
    gw_scroll_close(&s);
    bad(D_SCROLL, J({"offset" : -1}),
        "offset: point id must not be negative (got -1)");
    bad(D_SCROLL, J({"order_by" : "a"}), "order_by: not supported by Vectron");

    cr_assert_eq(gw_decode_count("{}", 2, NULL, &c, &err), 0);
    cr_assert_eq(c.exact, 1);
    cr_assert_null(c.filter);
    gw_count_close(&c);
    cr_assert_eq(gw_decode_count("{\"exact\":false}", 15, NULL, &c, &err), 0);
    cr_assert_eq(c.exact, 0);
    gw_count_close(&c);
    bad(D_COUNT, J({"exact" : "yes"}), "exact: must be true or false");
}

Test(points, payload_index)
{
    gw_payload_index p;
    const char *b = J({"field_name" : "a.b", "field_schema" : "integer"});
    const char *o = J({
        "field_name" : "t",
        "field_schema" : {"type" : "keyword", "is_tenant" : true}
    });

    cr_assert_eq(gw_decode_payload_index(b, strlen(b), &p, &err), 0);
    cr_assert_str_eq(p.field_name, "a.b");
    cr_assert_eq(p.type, GW_FIELD_INTEGER);
    gw_payload_index_close(&p);
    cr_assert_eq(gw_decode_payload_index(o, strlen(o), &p, &err), 0);
    cr_assert_eq(p.type, GW_FIELD_KEYWORD);
    gw_payload_index_close(&p);
    good(D_INDEX, J({"field_name" : "f", "field_schema" : "bool"}));
    bad(D_INDEX, J({"field_name" : "f", "field_schema" : "geo"}),
        "field_schema: \"geo\" indexes are not supported by Vectron");
    bad(D_INDEX, J({"field_name" : "f", "field_schema" : "int"}),
        "field_schema: unknown field type \"int\" (expected \"keyword\", "
        "\"integer\", \"float\" or \"bool\")");
    bad(D_INDEX, J({"field_name" : "f", "field_schema" : {"is_tenant" : 1}}),
        "field_schema: missing field \"type\"");
    bad(D_INDEX, J({"field_schema" : "bool"}),
        "body: missing field \"field_name\"");
    bad(D_INDEX, J({"field_name" : 1, "field_schema" : "bool"}),
        "field_name: must be a string");
}

/* ---- responses --------------------------------------------------------- */

static void respond_is(json_t *result, const char *want_result)
{
    char *s, want[4096];
    size_t n;

    cr_assert_eq(gw_respond_ok(result, 0.25, 0, &s, &n, &err), 0);
    snprintf(want, sizeof want,
             "{\"result\":%s,\"status\":\"ok\",\"time\":0.25}", want_result);
    cr_assert_str_eq(s, want);
    vx_free(s);
}

Test(respond, scored_points)
{
    const char *pl = J({"t" : "a\"b\\c\u00e9", "n" : 18446744073709551615});
    json_t *payload;
    float vec[3] = {0.1f, -2.5f, 1e-7f};
    gw_point_out pts[3];

    cr_assert_eq(gw_json_load(pl, strlen(pl), &payload, &err), 0);
    memset(pts, 0, sizeof pts);
    pts[0].id.num = 18446744073709551615ULL;
    pts[0].version = 3;
    pts[0].score = 0.9f;
    pts[0].payload = payload;
    pts[0].vector = vec;
    pts[0].dim = 3;
    cr_assert_eq(gw_point_id_parse_text("550e8400-e29b-41d4-a716-446655440000",
                                        36, &pts[1].id, &err),
                 0);
    pts[1].score = NAN;
    pts[2].id.num = 2;
    pts[2].score = 1.0f / 3.0f;
    respond_is(
        gw_json_scored_points(pts, 3),
        "[{\"id\":18446744073709551615,\"version\":3,\"score\":0.9,"
        "\"payload\":{\"t\":\"a\\\"b\\\\c\xc3\xa9\",\"n\":"
        "18446744073709551615},\"vector\":[0.1,-2.5,1e-07]},"
        "{\"id\":\"550e8400-e29b-41d4-a716-446655440000\",\"version\":0,"
        "\"score\":null},{\"id\":2,\"version\":0,\"score\":0.333333343}]");
    respond_is(gw_json_query_result(pts + 2, 1),
               "{\"points\":[{\"id\":2,\"version\":0,\"score\":0.333333343}]}");
    respond_is(gw_json_records(pts, 1),
               "[{\"id\":18446744073709551615,\"payload\":{\"t\":"
               "\"a\\\"b\\\\c\xc3\xa9\",\"n\":18446744073709551615},"
               "\"vector\":[0.1,-2.5,1e-07]}]");
    respond_is(gw_json_scroll_result(pts + 2, 1, &pts[0].id),
               "{\"points\":[{\"id\":2}],\"next_page_offset\":"
               "18446744073709551615}");
    respond_is(gw_json_scroll_result(NULL, 0, NULL),
               "{\"points\":[],\"next_page_offset\":null}");
    json_decref(payload);
}

Test(respond, small_results_and_errors)
{
    char *s;
    size_t n;
    const char *names[] = {"a", "bad\xff\xfe", "nul"};

    respond_is(gw_json_count_result(42), "{\"count\":42}");
    respond_is(gw_json_update_result(7, 1),
               "{\"operation_id\":7,\"status\":\"completed\"}");
    respond_is(gw_json_update_result(8, 0),
               "{\"operation_id\":8,\"status\":\"acknowledged\"}");
    respond_is(json_true(), "true");
    respond_is(gw_json_collections_list(names, 3),
               "{\"collections\":[{\"name\":\"a\"},{\"name\":\"bad"
               "\xef\xbf\xbd\xef\xbf\xbd\"},{\"name\":\"nul\"}]}");

    cr_assert_eq(gw_respond_ok(json_null(), 1e-4, 1, &s, &n, &err), 0);
    cr_assert_str_eq(s, "{\"result\":null,\"status\":\"ok\",\"time\":"
                        "0.0001,\"partial\":true}");
    vx_free(s);
    cr_assert_eq(gw_respond_ok(NULL, 0, 0, &s, &n, &err), VECTRON_NOMEM);
    cr_assert_null(s);

    cr_assert_eq(gw_respond_error("points[3].vector[17]: not a finite "
                                  "number \"\x80\"\n",
                                  0.5, &s, &n, &err),
                 0);
    cr_assert_str_eq(s, "{\"status\":{\"error\":\"points[3].vector[17]: not "
                        "a finite number \\\"\xef\xbf\xbd\\\"\\n\"},"
                        "\"time\":0.5}");
    vx_free(s);
    cr_assert_eq(gw_respond_error(NULL, NAN, &s, &n, &err), 0);
    cr_assert_str_eq(s, "{\"status\":{\"error\":\"unknown error\"},"
                        "\"time\":0}");
    vx_free(s);
    cr_assert_eq(gw_http_status(VECTRON_INVALID), 400);
    cr_assert_eq(gw_http_status(VECTRON_NOT_FOUND), 404);
    cr_assert_eq(gw_http_status(VECTRON_EXISTS), 409);
    cr_assert_eq(gw_http_status(VECTRON_IO), 500);
}

Test(respond, collection_info)
{
    gw_field_info fields[2] = {{"city", GW_FIELD_KEYWORD, 10},
                               {"n\xff", GW_FIELD_INTEGER, 3}};
    gw_collection_info info;
    json_t *j, *back;
    char *s;
    size_t n;

    memset(&info, 0, sizeof info);
    info.status = GW_STATUS_YELLOW;
    info.points_count = 100;
    info.indexed_vectors_count = 90;
    info.segments_count = 2;
    info.config.dim = 128;
    info.config.metric = VECTRON_METRIC_COSINE;
    info.config.m = 16;
    info.config.ef_construction = 200;
    info.config.quant = VECTRON_QUANT_INT8;
    info.config.quantile = 0.99f;
    info.config.shard_number = 2;
    info.config.replication_factor = 3;
    info.config.read_consistency = GW_CONSISTENCY_STRONG;
    info.fields = fields;
    info.nfields = 2;
    j = gw_json_collection_info(&info);
    cr_assert_not_null(j);
    cr_assert_eq(gw_respond_ok(j, 0, 0, &s, &n, &err), 0);
    cr_assert_eq(gw_json_load(s, n, &back, &err), 0, "%s", err.msg);
    j = json_object_get(back, "result");
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "yellow");
    cr_assert_eq(json_integer_value(json_object_get(j, "points_count")), 100);
    cr_assert_eq(
        json_integer_value(json_object_get(
            json_object_get(
                json_object_get(json_object_get(j, "config"), "params"),
                "vectors"),
            "size")),
        128);
    cr_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(
                json_object_get(json_object_get(j, "config"), "params"),
                "vectors"),
            "distance")),
        "Cosine");
    cr_assert(strstr(s, "\"quantization_config\":{\"scalar\":{\"type\":"
                        "\"int8\",\"quantile\":0.99,\"always_ram\":false}}"),
              "%s", s);
    cr_assert(strstr(s, "\"payload_schema\":{\"city\":{\"data_type\":"
                        "\"keyword\",\"points\":10},\"n\xef\xbf\xbd\":{"
                        "\"data_type\":\"integer\",\"points\":3}}"),
              "%s", s);
    json_decref(back);
    vx_free(s);
}

Test(respond, payload_projection)
{
    const char *pl =
        J({"a" : {"b" : 1, "c" : 2}, "d" : 3, "e" : [ {"f" : 1} ]});
    json_t *p, *out;
    char *keys_inc[] = {"a.b", "d", "zz", "e.f"};
    char *keys_exc[] = {"a.c", "e", "nope.x"};
    gw_payload_select sel;

    cr_assert_eq(gw_json_load(pl, strlen(pl), &p, &err), 0);
    sel.mode = GW_PAYLOAD_INCLUDE;
    sel.keys = keys_inc;
    sel.nkeys = 4;
    cr_assert_eq(gw_payload_project(p, &sel, &out, &err), 0);
    dump_is(out, "{\"a\":{\"b\":1},\"d\":3}");
    sel.mode = GW_PAYLOAD_EXCLUDE;
    sel.keys = keys_exc;
    sel.nkeys = 3;
    cr_assert_eq(gw_payload_project(p, &sel, &out, &err), 0);
    dump_is(out, "{\"a\":{\"b\":1},\"d\":3}");
    /* The source is untouched. */
    dump_is(json_incref(p),
            "{\"a\":{\"b\":1,\"c\":2},\"d\":3,\"e\":[{\"f\":1}]}");
    sel.mode = GW_PAYLOAD_NONE;
    cr_assert_eq(gw_payload_project(p, &sel, &out, &err), 0);
    cr_assert_null(out);
    sel.mode = GW_PAYLOAD_ALL;
    cr_assert_eq(gw_payload_project(NULL, &sel, &out, &err), 0);
    dump_is(out, "{}");
    json_decref(p);
}

/* ---- allocation failure injection -------------------------------------- */

static long alloc_budget = -1; /* allocations left; -1: unlimited */
static int alloc_failed;

static void *fail_malloc(size_t n, void *arg)
{
    (void)arg;
    if (alloc_budget == 0) {
        alloc_failed = 1;
        return NULL;
    }
    if (alloc_budget > 0) {
        alloc_budget--;
    }
    return malloc(n);
}

static void *fail_realloc(void *p, size_t n, void *arg)
{
    (void)arg;
    if (alloc_budget == 0) {
        alloc_failed = 1;
        return NULL;
    }
    if (alloc_budget > 0) {
        alloc_budget--;
    }
    return realloc(p, n);
}

static void plain_free(void *p, void *arg)
{
    (void)arg;
    free(p);
}

/* Runs decoder d on body with 0, 1, 2, ... allocations allowed until it
 * succeeds; every failing run must report NOMEM. ASan checks leaks. */
static void survive_oom(enum dec d, const char *body)
{
    vectron_alloc_hooks h = {fail_malloc, fail_realloc, plain_free, NULL};
    int rc;

    vectron_alloc_set_hooks(&h);
    gw_json_use_vx_alloc();
    for (long budget = 0;; budget++) {
        alloc_budget = budget;
        alloc_failed = 0;
        rc = run_dec(d, body, NULL);
        if (rc == 0) {
            break;
        }
        cr_assert(alloc_failed, "decoder %d failed without OOM: %s", d,
                  err.msg);
        cr_assert_eq(rc, VECTRON_NOMEM, "decoder %d, budget %ld: %d %s", d,
                     budget, rc, err.msg);
        cr_assert(budget < 100000);
    }
    alloc_budget = -1;
}

Test(oom, decoders_fail_cleanly)
{
    survive_oom(D_CREATE, J({
                    "vectors" : {"size" : 4, "distance" : "Dot"},
                    "hnsw_config" : {"m" : 8}
                }));
    survive_oom(D_UPSERT, J({
                    "points" : [
                        {
                            "id" : 18446744073709551615,
                            "vector" : [ 1, 2, 3 ],
                            "payload" : {"a" : [ 1, {"b" : "c"} ], "n" : 1}
                        },
                        {
                            "id" : "550e8400-e29b-41d4-a716-446655440000",
                            "vector" : [ 1, 2, 3 ],
                            "payload" : {"z" : 1}
                        }
                    ]
                }));
    survive_oom(D_UPSERT, J({
                    "batch" : {
                        "ids" : [ 1, 2 ],
                        "vectors" : [ [ 1, 2, 3 ], [ 4, 5, 6 ] ],
                        "payloads" : [ {"a" : 1}, null ]
                    }
                }));
    survive_oom(
        D_QUERY, J({
            "query" : [ 1, 2, 3 ],
            "filter" : {
                "must" : [
                    {"key" : "a.b", "match" : {"any" : [ "x", "y" ]}}, {
                        "nested" : {
                            "key" : "n",
                            "filter" : {
                                "must" : [ {"key" : "k", "range" : {"gt" : 1}} ]
                            }
                        }
                    },
                    {"has_id" : [ 1, 2, 3 ]}
                ]
            },
            "with_payload" : {"include" : [ "a", "b" ]}
        }));
    survive_oom(
        D_SEARCH_BATCH, J({
            "searches" : [
                {"vector" : [ 1, 2, 3 ], "limit" : 1, "with_payload" : ["x"]},
                {"vector" : [ 1, 2, 3 ], "limit" : 1}
            ]
        }));
    survive_oom(D_RETRIEVE, J({"ids" : [ 1, 2 ], "with_payload" : ["a"]}));
    survive_oom(D_SET_PAYLOAD,
                J({"payload" : {"a" : 1}, "filter" : {}, "key" : "k"}));
    survive_oom(D_DELETE_PAYLOAD, J({"keys" : [ "a", "b" ], "points" : [1]}));
    survive_oom(D_SCROLL, J({
                    "filter" : {"should" : [ {"is_null" : {"key" : "a"}} ]},
                    "offset" : 5,
                    "with_payload" : ["a"]
                }));
    survive_oom(D_COUNT, J({"filter" : {}}));
    survive_oom(D_INDEX, J({"field_name" : "a", "field_schema" : "float"}));
}

Test(oom, encoders_fail_cleanly)
{
    vectron_alloc_hooks h = {fail_malloc, fail_realloc, plain_free, NULL};
    float vec[2] = {1, 2};
    gw_point_out p;
    char *s;
    size_t n;
    int rc;

    memset(&p, 0, sizeof p);
    p.id.num = UINT64_MAX;
    p.vector = vec;
    p.dim = 2;
    vectron_alloc_set_hooks(&h);
    gw_json_use_vx_alloc();
    for (long budget = 0;; budget++) {
        alloc_budget = budget;
        alloc_failed = 0;
        rc = gw_respond_ok(gw_json_query_result(&p, 1), 0.5, 1, &s, &n, &err);
        if (rc == 0) {
            break;
        }
        cr_assert_eq(rc, VECTRON_NOMEM);
        cr_assert_null(s);
    }
    alloc_budget = -1;
    cr_assert_str_eq(s, "{\"result\":{\"points\":[{\"id\":"
                        "18446744073709551615,\"version\":0,\"score\":0,"
                        "\"vector\":[1,2]}]},\"status\":\"ok\",\"time\":0.5,"
                        "\"partial\":true}");
    vx_free(s);
}

/* The search-vector fast path (qdrant_fastvec.c) must decode exactly what
 * the jansson path does, and step aside (same errors as before) on
 * anything unusual. */
Test(search, fast_vector_path_matches_the_decoder)
{
    gw_search s;
    const char *b = "{ \"limit\" : 3, \"filter\": {\"must\": [{\"key\": "
                    "\"query\", \"match\": {\"value\": \"[1,2]\"}}]},"
                    "\"query\" : [ 1 , -2.5e1,3E-2, 0.1 ,-0 ] }";
    cr_assert_eq(gw_decode_query(b, strlen(b), 5, NULL, &s, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(s.kind, GW_QUERY_VECTOR);
    cr_assert_eq(s.limit, 3);
    cr_assert_not_null(s.filter);
    float want[5] = {1.0f, -25.0f, (float)3e-2, (float)0.1, -0.0f};
    cr_assert_eq(memcmp(s.vector, want, sizeof want), 0);
    gw_search_close(&s);

    /* The legacy search body: "vector". */
    b = "{\"vector\":[1,2,3],\"limit\":2}";
    cr_assert_eq(gw_decode_search(b, strlen(b), 3, NULL, &s, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(s.vector[2], 3.0f);
    gw_search_close(&s);

    /* Errors come from the regular decoder, unchanged. */
    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"{\"query\":[1,2]}", "query: expected dimension 3, got 2"},
        {"{\"query\":[1,2,1e39]}",
         "query[2]: 1e+39 is outside the float32 range"},
        {"{\"query\":[1,2,3],\"query\":[1,2,3]}", "duplicate"},
        {"{\"query\":[1,2,3],\"limit\":0}", "limit"},
        {"{\"query\":[1,2,\"3\"]}", "query[2]"},
        {"{\"query\":[1,2,3]", "invalid JSON"},
        {"{\"query\":[1,2,3],}", "invalid JSON"},
        {"{\"query\":[01,2,3]}", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = gw_decode_query(bad[i].body, strlen(bad[i].body), 3, NULL, &s,
                                 &err);
        cr_assert_neq(rc, 0, "%s accepted", bad[i].body);
        cr_assert(strstr(err.msg, bad[i].msg) != NULL, "%s: %s", bad[i].body,
                  err.msg);
    }
}

/* The upsert fast path (gw_fast_points) decodes what the jansson path
 * does, leaves payloads and ids to the decoder, and steps aside with the
 * same errors on anything unusual. */
Test(upsert, fast_points_path_matches_the_decoder)
{
    gw_upsert u;
    const char *b =
        "{\"points\": [ {\"payload\": {\"v\": [1,2,3], \"vector\": \"x\"},"
        " \"id\": 7, \"vector\": [ 1, -2.5e1 ,3E-2 ]},"
        "{\"vector\":[0.1,0,-0],\"id\":\"550e8400-e29b-41d4-a716-"
        "446655440000\"}]}";
    cr_assert_eq(gw_decode_upsert(b, strlen(b), 3, NULL, &u, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(u.count, 2);
    float want[6] = {1.0f, -25.0f, (float)3e-2, (float)0.1, 0.0f, -0.0f};
    cr_assert_eq(memcmp(u.vectors, want, sizeof want), 0);
    cr_assert_eq(u.ids[0].num, 7);
    cr_assert_not_null(u.payloads);
    cr_assert_str_eq(u.payloads[0].data, "{\"v\":[1,2,3],\"vector\":\"x\"}");
    gw_upsert_close(&u);

    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"{\"points\":[{\"id\":1,\"vector\":[1,2,3]},{\"id\":2,\"vector\":[1,2]"
         "}]}",
         "points[1].vector: expected dimension 3, got 2"},
        {"{\"points\":[{\"id\":1,\"vector\":[1,2,3],\"vector\":[1,2,3]}]}",
         "duplicate"},
        {"{\"points\":[{\"id\":1,\"vector\":[1,2,3]}],\"points\":[]}",
         "duplicate"},
        {"{\"points\":[{\"id\":-1,\"vector\":[1,2,3]}]}", "points[0].id"},
        {"{\"points\":[{\"vector\":[1,2,3]}]}", "points[0]: missing field"},
        {"{\"points\":[{\"id\":1,\"vector\":[1,2,1e39]}]}",
         "outside the float32 range"},
        {"{\"points\":[{\"id\":1,\"vector\":[1,2,3]}],\"batch\":{}}",
         "either points or batch"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = gw_decode_upsert(bad[i].body, strlen(bad[i].body), 3, NULL, &u,
                                  &err);
        cr_assert_neq(rc, 0, "%s accepted", bad[i].body);
        cr_assert(strstr(err.msg, bad[i].msg) != NULL, "%s: %s", bad[i].body,
                  err.msg);
    }
}

/* Bodies whose text is mostly vectors (the fast path replaces them, so
 * size bounds must use the original body). */
Test(upsert, fast_points_many_points)
{
    enum { N = 200, DIM = 64 };
    static char body[N * (DIM * 4 + 32) + 64];
    size_t w = (size_t)sprintf(body, "{\"points\":[");
    for (int i = 0; i < N; i++) {
        w += (size_t)sprintf(body + w, "%s{\"id\":%d,\"vector\":[",
                             i ? "," : "", i);
        for (int d = 0; d < DIM; d++)
            w += (size_t)sprintf(body + w, "%s%d", d ? "," : "", (i + d) % 10);
        w += (size_t)sprintf(body + w, "]}");
    }
    w += (size_t)sprintf(body + w, "]}");
    gw_upsert u;
    cr_assert_eq(gw_decode_upsert(body, w, DIM, NULL, &u, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(u.count, N);
    for (int i = 0; i < N; i++)
        for (int d = 0; d < DIM; d++)
            cr_assert_eq(u.vectors[(size_t)i * DIM + d], (float)((i + d) % 10));
    gw_upsert_close(&u);
}

/* gw_format_float (the integer shortcut included) prints what the
 * %.7g-else-%.9g rule prints, for integers, halves and random bit
 * patterns; and a vector in a response reads back exactly. */
Test(encode, float_text_matches_the_printf_rule)
{
    uint32_t x = 12345;
    for (int i = 0; i < 200000; i++) {
        float f;
        if (i < 40000) {
            f = (float)(i - 20000);
        } else if (i < 60000) {
            f = (float)(i - 50000) * 0.5f + (i % 2 ? 16777216.0f : 0.0f);
        } else {
            x = x * 1664525u + 1013904223u;
            memcpy(&f, &x, 4);
        }
        if (!isfinite(f)) {
            continue;
        }
        char got[40], want[40];
        size_t n = gw_format_float(f, got);
        snprintf(want, sizeof want, "%.7g", (double)f);
        if (strtof(want, NULL) != f) {
            snprintf(want, sizeof want, "%.9g", (double)f);
        }
        cr_assert_str_eq(got, want, "i %d f %.9g", i, (double)f);
        cr_assert_eq(n, strlen(want));
        cr_assert_eq(strtof(got, NULL), f);
    }
    float v[4] = {0.1f, -0.0f, 3.0f, 1e-30f};
    gw_point_out p = {.id = {0, 1, {0}}, .vector = v, .dim = 4};
    respond_is(gw_json_records(&p, 1),
               "[{\"id\":1,\"vector\":[0.1,-0,3,1e-30]}]");
}
