/*
 * test_filter.c - unit tests of payload filters: decoding (good filters and
 * bad ones with exact error paths), evaluation truth tables over nested
 * objects, arrays, missing and null values, the canonical JSON round trip
 * and the planner's index-condition extraction.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "common/common.h"
#include "filter/filter.h"
#include "gateway/qdrant_json.h"

#define J(...) #__VA_ARGS__

static vectron_error err;

static gw_filter *parse(const char *text)
{
    gw_filter *f = NULL;
    int rc = gw_filter_parse(text, strlen(text), 0, &f, &err);

    cr_assert_eq(rc, 0, "%s: %s", text, err.msg);
    return f;
}

static void bad(const char *text, const char *msg)
{
    gw_filter *f = (gw_filter *)1;
    int rc = gw_filter_parse(text, strlen(text), 0, &f, &err);

    cr_assert_eq(rc, VECTRON_INVALID, "accepted %s", text);
    cr_assert_null(f);
    cr_assert_str_eq(err.msg, msg, "filter %s", text);
}

static json_t *load(const char *text)
{
    json_t *j;

    cr_assert_eq(gw_json_load(text, strlen(text), &j, &err), 0, "%s", err.msg);
    return j;
}

/* The payload every truth-table row is evaluated against. */
static const char *payload_text = J({
    "city" : "London",
    "n" : 5,
    "f" : 2.5,
    "fl5" : 5.0,
    "b" : true,
    "tags" : [ "a", "b" ],
    "nums" : [ 1, 2, 3 ],
    "deep" : {"x" : {"y" : "z"}},
    "arr" : [ {"k" : 1, "l" : [7]}, {"k" : 2, "l" : [ 8, 9 ]} ],
    "nul" : null,
    "empty" : [],
    "nullarr" : [null],
    "big" : 18446744073709551615,
    "mixed" : [ "5", 5, null, [6], { "o" : 1 } ],
    "matrix" : [ [ 1, 2 ], [3] ]
});

static void row(const json_t *payload, const char *filter, int want)
{
    gw_filter *f = parse(filter);
    point_id id = {0, 5, {0}};

    cr_assert_eq(gw_filter_match(f, payload, &id), want, "filter %s", filter);
    gw_filter_free(f);
}

/* Wraps one condition in {"must": [cond]}. */
static void cond(const json_t *payload, const char *c, int want)
{
    char buf[1024];

    snprintf(buf, sizeof buf, "{\"must\":[%s]}", c);
    row(payload, buf, want);
}

Test(eval, match_value)
{
    json_t *p = load(payload_text);

    cond(p, J({"key" : "city", "match" : {"value" : "London"}}), 1);
    cond(p, J({"key" : "city", "match" : {"value" : "london"}}), 0);
    cond(p, J({"key" : "n", "match" : {"value" : 5}}), 1);
    cond(p, J({"key" : "n", "match" : {"value" : "5"}}), 0);
    cond(p, J({"key" : "fl5", "match" : {"value" : 5}}), 0);
    cond(p, J({"key" : "b", "match" : {"value" : true}}), 1);
    cond(p, J({"key" : "b", "match" : {"value" : false}}), 0);
    cond(p, J({"key" : "n", "match" : {"value" : true}}), 0);
    cond(p, J({"key" : "tags", "match" : {"value" : "b"}}), 1);
    cond(p, J({"key" : "tags", "match" : {"value" : "c"}}), 0);
    cond(p, J({"key" : "deep.x.y", "match" : {"value" : "z"}}), 1);
    cond(p, J({"key" : "deep.x", "match" : {"value" : "z"}}), 0);
    cond(p, J({"key" : "arr.k", "match" : {"value" : 2}}), 1);
    cond(p, J({"key" : "arr[].k", "match" : {"value" : 1}}), 1);
    cond(p, J({"key" : "arr.k", "match" : {"value" : 3}}), 0);
    cond(p, J({"key" : "arr.l", "match" : {"value" : 9}}), 1);
    cond(p, J({"key" : "missing", "match" : {"value" : 1}}), 0);
    cond(p, J({"key" : "city.sub", "match" : {"value" : 1}}), 0);
    cond(p, J({"key" : "nul", "match" : {"value" : "x"}}), 0);
    cond(p, J({"key" : "mixed", "match" : {"value" : 5}}), 1);
    cond(p, J({"key" : "mixed", "match" : {"value" : 6}}), 0);
    cond(p, J({"key" : "mixed.o", "match" : {"value" : 1}}), 1);
    cond(p, J({"key" : "big", "match" : {"value" : 1}}), 0);
    json_decref(p);
}

Test(eval, match_any_except_text)
{
    json_t *p = load(payload_text);

    cond(p, J({"key" : "city", "match" : {"any" : [ "Paris", "London" ]}}), 1);
    cond(p, J({"key" : "city", "match" : {"any" : ["Paris"]}}), 0);
    cond(p, J({"key" : "n", "match" : {"any" : [ 9, 1, 5 ]}}), 1);
    cond(p, J({"key" : "n", "match" : {"any" : ["5"]}}), 0);
    cond(p, J({"key" : "tags", "match" : {"any" : [ "c", "b" ]}}), 1);
    cond(p, J({"key" : "city", "match" : {"any" : []}}), 0);
    cond(p, J({"key" : "missing", "match" : {"any" : [1]}}), 0);

    cond(p, J({"key" : "city", "match" : {"except" : ["London"]}}), 0);
    cond(p, J({"key" : "city", "match" : {"except" : ["Paris"]}}), 1);
    cond(p, J({"key" : "city", "match" : {"except" : [1]}}), 1);
    cond(p, J({"key" : "city", "match" : {"except" : []}}), 1);
    cond(p, J({"key" : "n", "match" : {"except" : [ 5, 6 ]}}), 0);
    cond(p, J({"key" : "n", "match" : {"except" : [6]}}), 1);
    cond(p, J({"key" : "missing", "match" : {"except" : ["x"]}}), 0);
    cond(p, J({"key" : "nul", "match" : {"except" : ["x"]}}), 0);
    cond(p, J({"key" : "empty", "match" : {"except" : ["x"]}}), 0);
    cond(p, J({"key" : "nullarr", "match" : {"except" : ["x"]}}), 0);
    cond(p, J({"key" : "tags", "match" : {"except" : ["a"]}}), 1);
    cond(p, J({"key" : "tags", "match" : {"except" : [ "a", "b" ]}}), 0);
    cond(p, J({"key" : "f", "match" : {"except" : [2]}}), 1);
    cond(p, J({"key" : "b", "match" : {"except" : ["x"]}}), 1);
    cond(p, J({"key" : "deep", "match" : {"except" : ["x"]}}), 1);
    cond(p, J({"key" : "matrix", "match" : {"except" : [1]}}), 1);
    cond(p, J({"key" : "big", "match" : {"except" : [1]}}), 1);

    cond(p, J({"key" : "city", "match" : {"text" : "ond"}}), 1);
    cond(p, J({"key" : "city", "match" : {"text" : "Lon don"}}), 0);
    cond(p, J({"key" : "city", "match" : {"text" : ""}}), 1);
    cond(p, J({"key" : "n", "match" : {"text" : "5"}}), 0);
    cond(p, J({"key" : "big", "match" : {"text" : "1844"}}), 0);
    cond(p, J({"key" : "mixed", "match" : {"text" : "5"}}), 1);
    json_decref(p);
}

Test(eval, range_and_values_count)
{
    json_t *p = load(payload_text);

    cond(p, J({"key" : "n", "range" : {"gt" : 4}}), 1);
    cond(p, J({"key" : "n", "range" : {"gte" : 5, "lt" : 5}}), 0);
    cond(p, J({"key" : "n", "range" : {"gte" : 5, "lte" : 5}}), 1);
    cond(p, J({"key" : "f", "range" : {"lte" : 2.5, "gt" : 2.4999}}), 1);
    cond(p, J({"key" : "f", "range" : {"lt" : 2.5}}), 0);
    cond(p, J({"key" : "nums", "range" : {"gt" : 2}}), 1);
    cond(p, J({"key" : "nums", "range" : {"gt" : 3}}), 0);
    cond(p, J({"key" : "city", "range" : {"gt" : 0}}), 0);
    cond(p, J({"key" : "mixed", "range" : {"gte" : 5, "lte" : 5}}), 1);
    cond(p, J({"key" : "big", "range" : {"gt" : 1e19}}), 1);
    cond(p, J({"key" : "n", "range" : {}}), 1);
    cond(p, J({"key" : "missing", "range" : {}}), 0);
    cond(p, J({"key" : "arr.l", "range" : {"gte" : 9}}), 1);

    cond(p, J({"key" : "tags", "values_count" : {"gte" : 2}}), 1);
    cond(p, J({"key" : "tags", "values_count" : {"lt" : 2}}), 0);
    cond(p, J({"key" : "city", "values_count" : {"lte" : 1, "gt" : 0}}), 1);
    cond(p, J({"key" : "nul", "values_count" : {"lt" : 1}}), 1);
    cond(p, J({"key" : "empty", "values_count" : {"lt" : 1}}), 1);
    cond(p, J({"key" : "missing", "values_count" : {"lt" : 1}}), 0);
    cond(p, J({"key" : "arr.l", "values_count" : {"gt" : 1}}), 1);
    cond(p, J({"key" : "arr.l", "values_count" : {"gt" : 2}}), 0);
    json_decref(p);
}

Test(eval, empty_null_and_ids)
{
    json_t *p = load(payload_text);
    gw_filter *f;
    point_id uuid;

    cond(p, J({"is_empty" : {"key" : "missing"}}), 1);
    cond(p, J({"is_empty" : {"key" : "nul"}}), 1);
    cond(p, J({"is_empty" : {"key" : "empty"}}), 1);
    cond(p, J({"is_empty" : {"key" : "nullarr"}}), 0);
    cond(p, J({"is_empty" : {"key" : "city"}}), 0);
    cond(p, J({"is_empty" : {"key" : "arr.missing"}}), 1);
    cond(p, J({"is_empty" : {"key" : "arr.k"}}), 0);
    cond(p, J({"is_null" : {"key" : "nul"}}), 1);
    cond(p, J({"is_null" : {"key" : "missing"}}), 0);
    cond(p, J({"is_null" : {"key" : "empty"}}), 0);
    cond(p, J({"is_null" : {"key" : "nullarr"}}), 0);
    cond(p, J({"is_null" : {"key" : "city"}}), 0);

    cond(p, J({"has_id" : [ 9, 5, 5, "550e8400-e29b-41d4-a716-446655440000" ]}),
         1);
    cond(p, J({"has_id" : [ 6, 18446744073709551615 ]}), 0);
    cond(p, J({"has_id" : []}), 0);

    f = parse(J({
        "must" : {
            "has_id" : [
                1, 18446744073709551615, "550e8400-e29b-41d4-a716-446655440000"
            ]
        }
    }));
    cr_assert_eq(gw_point_id_parse_text("550E8400-E29B-41D4-A716-446655440000",
                                        36, &uuid, &err),
                 0);
    cr_assert(gw_filter_match(f, p, &uuid));
    uuid.uuid[15] = 1;
    cr_assert(!gw_filter_match(f, p, &uuid));
    uuid.is_uuid = 0;
    uuid.num = UINT64_MAX;
    cr_assert(gw_filter_match(f, p, &uuid));
    cr_assert(!gw_filter_match(f, p, NULL));
    gw_filter_free(f);

    /* The empty payload. */
    f = parse(J({"must" : [ {"is_empty" : {"key" : "a"}} ]}));
    cr_assert(gw_filter_match(f, NULL, NULL));
    gw_filter_free(f);
    f = parse(J({"must" : [ {"key" : "a", "match" : {"except" : [1]}} ]}));
    cr_assert(!gw_filter_match(f, NULL, NULL));
    gw_filter_free(f);
    json_decref(p);
}

Test(eval, clauses_and_nesting)
{
    json_t *p = load(payload_text);
    const char *london = J({"key" : "city", "match" : {"value" : "London"}});
    char buf[1024];

    row(p, "{}", 1);
    row(p, J({"must" : null, "should" : null}), 1);
    snprintf(buf, sizeof buf, "{\"must\":%s}", london);
    row(p, buf, 1);
    snprintf(buf, sizeof buf, "{\"must_not\":[%s]}", london);
    row(p, buf, 0);
    row(p, J({
            "should" : [
                {"key" : "city", "match" : {"value" : "Berlin"}},
                {"key" : "n", "match" : {"value" : 5}}
            ]
        }),
        1);
    row(p, J({
            "should" : [
                {"key" : "city", "match" : {"value" : "Berlin"}},
                {"key" : "n", "match" : {"value" : 6}}
            ]
        }),
        0);
    row(p, J({"should" : []}), 1);
    row(p, J({
            "must" : [
                {
                    "should" : [
                        {"key" : "n", "match" : {"value" : 6}},
                        {"key" : "b", "match" : {"value" : true}}
                    ]
                },
                {"must_not" : [ {"is_null" : {"key" : "city"}} ]}
            ],
            "must_not" : [ {"must" : [ {"key" : "n", "range" : {"gt" : 9}} ]} ]
        }),
        1);
    row(p, J({
            "min_should" : {
                "conditions" : [
                    {"key" : "n", "match" : {"value" : 5}},
                    {"key" : "n", "match" : {"value" : 6}},
                    {"key" : "b", "match" : {"value" : true}}
                ],
                "min_count" : 2
            }
        }),
        1);
    row(p, J({
            "min_should" : {
                "conditions" : [
                    {"key" : "n", "match" : {"value" : 5}},
                    {"key" : "n", "match" : {"value" : 6}},
                    {"key" : "b", "match" : {"value" : true}}
                ],
                "min_count" : 3
            }
        }),
        0);

    /* nested: all conditions must hold for the SAME array element, unlike
     * the flattened form. */
    row(p, J({
            "must" : [
                {"key" : "arr.k", "match" : {"value" : 1}},
                {"key" : "arr.l", "match" : {"value" : 8}}
            ]
        }),
        1);
    cond(p, J({
             "nested" : {
                 "key" : "arr",
                 "filter" : {
                     "must" : [
                         {"key" : "k", "match" : {"value" : 1}},
                         {"key" : "l", "match" : {"value" : 8}}
                     ]
                 }
             }
         }),
         0);
    cond(p, J({
             "nested" : {
                 "key" : "arr",
                 "filter" : {
                     "must" : [
                         {"key" : "k", "match" : {"value" : 2}},
                         {"key" : "l", "match" : {"value" : 8}}
                     ]
                 }
             }
         }),
         1);
    cond(p, J({
             "nested" : {
                 "key" : "arr[]",
                 "filter" :
                     {"must_not" : [ {"key" : "k", "match" : {"value" : 1}} ]}
             }
         }),
         1);
    cond(p, J({
             "nested" : {
                 "key" : "deep",
                 "filter" :
                     {"must" : [ {"key" : "x.y", "match" : {"value" : "z"}} ]}
             }
         }),
         1);
    cond(p, J({"nested" : {"key" : "missing", "filter" : {}}}), 0);
    json_decref(p);
}

Test(decode, errors_with_paths)
{
    bad(J({"must" : [ {"key" : "a", "match" : {"value" : 1.5}} ]}),
        "filter.must[0].match.value: must be a string, an integer or a "
        "boolean");
    bad(J({
            "must" :
                [ {"key" : "a", "match" : {"value" : 9223372036854775808}} ]
        }),
        "filter.must[0].match.value: 9223372036854775808 is outside the "
        "int64 range");
    bad(J({"must" : [ {"key" : "a", "match" : {"any" : [ "x", 1 ]}} ]}),
        "filter.must[0].match.any[1]: mixed types (expected string)");
    bad(J({"should" : [ {"key" : "a", "match" : {"except" : [ 1, true ]}} ]}),
        "filter.should[0].match.except[1]: must be a string or an integer");
    bad(J({"must" : [ {"key" : "a", "match" : {"any" : "x"}} ]}),
        "filter.must[0].match.any: must be an array of strings or integers");
    bad(J({"must" : [ {"key" : "a", "match" : {"value" : 1, "any" : [1]}} ]}),
        "filter.must[0].match: give only one of value, any, except and text");
    bad(J({"must" : [ {"key" : "a", "match" : {"phrase" : "x y"}} ]}),
        "filter.must[0].match.phrase: not supported by Vectron");
    bad(J({"must" : [ {"key" : "a", "match" : {"value" : 1}, "range" : {}} ]}),
        "filter.must[0]: give only one of match, range and values_count");
    bad(J({"must" : [ {"key" : "a", "range" : {"gt" : "2020-01-01"}} ]}),
        "filter.must[0].range.gt: must be a number (datetime ranges are not "
        "supported by Vectron)");
    bad(J({"must" : [ {"key" : "a", "range" : {"gt" : true}} ]}),
        "filter.must[0].range.gt: must be a number");
    bad(J({"must" : [ {"key" : "a", "range" : {"from" : 1}} ]}),
        "filter.must[0].range: unknown field \"from\"");
    bad(J({"must" : [ {"key" : "a", "values_count" : {"gt" : -1}} ]}),
        "filter.must[0].values_count.gt: must be a non-negative integer");
    bad(J({"must" : [ {"key" : "a", "geo_radius" : {}} ]}),
        "filter.must[0].geo_radius: not supported by Vectron");
    bad(J({"must" : [ {"key" : "", "match" : {"value" : 1}} ]}),
        "filter.must[0].key: must be a non-empty path");
    bad(J({"must" : [ {"key" : "a..b", "match" : {"value" : 1}} ]}),
        "filter.must[0].key: empty path segment in \"a..b\"");
    bad(J({"must" : [ {"key" : "a[0].b", "match" : {"value" : 1}} ]}),
        "filter.must[0].key: array indexes are not supported in \"a[0].b\" "
        "(use \"a[].b\" or \"a.b\")");
    bad(J({"must" : [ {"key" : 1, "match" : {"value" : 1}} ]}),
        "filter.must[0].key: must be a string");
    bad(J({"must" : [ {"has_id" : [ 1, -1 ]} ]}),
        "filter.must[0].has_id[1]: point id must not be negative (got -1)");
    bad(J({"must" : [ {"has_id" : [1], "key" : "a"} ]}),
        "filter.must[0]: unknown field \"has_id\"");
    bad(J({"must" : [ {"has_id" : [1], "is_null" : {"key" : "a"}} ]}),
        "filter.must[0]: a has_id condition takes no other fields");
    bad(J({"must" : [ {"is_empty" : "a"} ]}),
        "filter.must[0].is_empty: must be an object {\"key\": ...}");
    bad(J({
            "must" : [ {
                "nested" :
                    {"key" : "a", "filter" : {"must" : [ {"has_id" : [1]} ]}}
            } ]
        }),
        "filter.must[0].nested.filter.must[0]: has_id is not allowed inside "
        "a nested filter");
    bad(J({"must" : [ {"nested" : {"key" : "a"}} ]}),
        "filter.must[0].nested: missing field \"filter\"");
    bad(J({"must" : [ {"foo" : 1} ]}),
        "filter.must[0]: unknown condition \"foo\" (expected key, has_id, "
        "is_empty, is_null, nested or must/should/must_not)");
    bad(J({"must" : [ {"has_vector" : "v"} ]}),
        "filter.must[0].has_vector: not supported by Vectron");
    bad(J({"must" : [1]}), "filter.must[0]: must be a condition object");
    bad(J({"must" : 1}),
        "filter.must: must be a condition or an array of conditions");
    bad(J({"min_should" : {"conditions" : []}}),
        "filter.min_should: missing field \"min_count\"");
    bad(J({"must" : [], "filter" : {}}), "filter: unknown field \"filter\"");
    bad(J([1]), "filter: must be a filter object");
    bad("{", "body: invalid JSON at line 1, column 1: string or '}' expected "
             "near end of file");
}

Test(decode, depth_and_list_limits)
{
    char buf[4096];
    size_t n = 0;
    gw_filter *f;
    json_t *j;

    /* 16 levels are accepted by default, 17 are not. */
    for (int depth = 16; depth <= 17; depth++) {
        n = 0;
        for (int i = 0; i < depth; i++) {
            n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"must\":[");
        }
        for (int i = 0; i < depth; i++) {
            n += (size_t)snprintf(buf + n, sizeof buf - n, "]}");
        }
        int rc = gw_filter_parse(buf, n, 0, &f, &err);
        if (depth == 16) {
            cr_assert_eq(rc, 0, "%s", err.msg);
            gw_filter_free(f);
        } else {
            cr_assert_eq(rc, VECTRON_INVALID);
            cr_assert(strstr(err.msg, "filter is nested deeper than 16 "
                                      "levels"),
                      "%s", err.msg);
        }
    }
    cr_assert_eq(gw_filter_parse(buf, n, 32, &f, &err), 0);
    gw_filter_free(f);

    j = json_pack("{s:[{s:[i,i,i]}]}", "must", "has_id", 1, 2, 3);
    cr_assert_eq(gw_filter_decode(j, "searches[1].filter", 0, 2, &f, &err),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "searches[1].filter.must[0].has_id: 3 ids "
                              "exceed the maximum of 2");
    cr_assert_eq(gw_filter_decode(j, NULL, 0, 3, &f, &err), 0);
    gw_filter_free(f);
    json_decref(j);
}

static void round_trip(const char *in, const char *canonical)
{
    gw_filter *f = parse(in), *g;
    char *s, *s2;
    size_t n, n2;
    json_t *j = gw_filter_to_json(f);

    cr_assert_not_null(j);
    cr_assert_eq(gw_json_dump(j, &s, &n, &err), 0);
    json_decref(j);
    cr_assert_str_eq(s, canonical);
    g = parse(s);
    j = gw_filter_to_json(g);
    cr_assert_eq(gw_json_dump(j, &s2, &n2, &err), 0);
    json_decref(j);
    cr_assert_str_eq(s2, s);
    vx_free(s);
    vx_free(s2);
    gw_filter_free(f);
    gw_filter_free(g);
}

Test(canonical, round_trip)
{
    round_trip("{}", "{}");
    round_trip(
        J({
            "must" : {"key" : "a[].b", "match" : {"any" : [ "y", "x", "y" ]}},
            "should" : [
                {"key" : "n", "range" : {"lt" : 3, "gte" : 1.5}}, {
                    "has_id" : [
                        18446744073709551615, 2, 2,
                        "550E8400-E29B-41D4-A716-446655440000"
                    ]
                }
            ],
            "must_not" : [
                {"is_empty" : {"key" : "e"}}, {"is_null" : {"key" : "z"}},
                {"key" : "t", "match" : {"text" : "hé"}},
                {"key" : "c", "values_count" : {"gt" : 2}}, {
                    "nested" : {
                        "key" : "arr[]",
                        "filter" : {
                            "must" : [
                                {"key" : "k", "match" : {"except" : [ 3, 1 ]}}
                            ]
                        }
                    }
                }
            ],
            "min_should" : {
                "conditions" : [ {"key" : "b", "match" : {"value" : false}} ],
                "min_count" : 1
            }
        }),
        "{\"must\":[{\"key\":\"a.b\",\"match\":{\"any\":[\"x\",\"y\"]}}],"
        "\"should\":[{\"key\":\"n\",\"range\":{\"gte\":1.5,\"lt\":3.0}},"
        "{\"has_id\":[2,18446744073709551615,"
        "\"550e8400-e29b-41d4-a716-446655440000\"]}],"
        "\"must_not\":[{\"is_empty\":{\"key\":\"e\"}},"
        "{\"is_null\":{\"key\":\"z\"}},"
        "{\"key\":\"t\",\"match\":{\"text\":\"h\xc3\xa9\"}},"
        "{\"key\":\"c\",\"values_count\":{\"gt\":2}},"
        "{\"nested\":{\"key\":\"arr\",\"filter\":{\"must\":[{\"key\":\"k\","
        "\"match\":{\"except\":[1,3]}}]}}}],"
        "\"min_should\":{\"conditions\":[{\"key\":\"b\",\"match\":{\"value\":"
        "false}}],\"min_count\":1}}");
}

Test(planner, index_conditions)
{
    gw_filter *f = parse(J({
        "must" : [
            {"key" : "a", "match" : {"value" : "x"}},
            {"key" : "b.c", "range" : {"gt" : 1, "lte" : 9}}, {
                "must" : [ {"key" : "d", "match" : {"any" : [ 3, 1 ]}} ],
                "should" : [ {"key" : "e", "match" : {"value" : true}} ]
            },
            {"is_empty" : {"key" : "f"}},
            {"key" : "g", "match" : {"except" : [1]}}, {
                "should" : [
                    {"key" : "h", "match" : {"value" : 1}},
                    {"key" : "i", "match" : {"value" : 2}}
                ]
            }
        ],
        "should" : {"has_id" : [ 3, 1, 1 ]},
        "must_not" : [ {"key" : "j", "match" : {"value" : 1}} ]
    }));
    gw_index_cond c[8];
    size_t n = gw_filter_index_conds(f, c, 8);

    cr_assert_eq(n, 5);
    cr_assert_eq(c[0].kind, GW_ICOND_EQ);
    cr_assert_str_eq(c[0].key, "a");
    cr_assert_eq(c[0].value.type, GW_VALUE_STRING);
    cr_assert_str_eq(c[0].value.s, "x");
    cr_assert_eq(c[1].kind, GW_ICOND_RANGE);
    cr_assert_str_eq(c[1].key, "b.c");
    cr_assert(c[1].range.has_gt && c[1].range.has_lte);
    cr_assert(!c[1].range.has_gte && !c[1].range.has_lt);
    cr_assert_eq(c[1].range.gt, 1.0);
    cr_assert_eq(c[1].range.lte, 9.0);
    cr_assert_eq(c[2].kind, GW_ICOND_ANY);
    cr_assert_str_eq(c[2].key, "d");
    cr_assert_eq(c[2].nvalues, 2);
    cr_assert_eq(c[2].values[0].i, 1);
    cr_assert_eq(c[2].values[1].i, 3);
    cr_assert_eq(c[3].kind, GW_ICOND_EQ);
    cr_assert_str_eq(c[3].key, "e");
    cr_assert_eq(c[3].value.type, GW_VALUE_BOOL);
    cr_assert_eq(c[3].value.b, 1);
    cr_assert_eq(c[4].kind, GW_ICOND_HAS_ID);
    cr_assert_null(c[4].key);
    cr_assert_eq(c[4].nids, 2);
    cr_assert_eq(c[4].ids[0].num, 1);
    cr_assert_eq(c[4].ids[1].num, 3);
    cr_assert_eq(gw_filter_index_conds(f, c, 2), 5);
    cr_assert_eq(gw_filter_index_conds(f, NULL, 0), 5);
    gw_filter_free(f);

    f = parse(J({
        "should" : [
            {"key" : "a", "match" : {"value" : 1}},
            {"key" : "b", "match" : {"value" : 1}}
        ]
    }));
    cr_assert_eq(gw_filter_index_conds(f, c, 8), 0);
    gw_filter_free(f);
}

/* The filter is immutable: evaluation from several threads at once. */
struct shared {
    gw_filter *f;
    json_t *p;
    int hits;
};

static void *eval_thread(void *arg)
{
    struct shared *s = arg;
    point_id id = {0, 5, {0}};

    for (int i = 0; i < 20000; i++) {
        s->hits += gw_filter_match(s->f, s->p, &id);
    }
    return NULL;
}

Test(eval, concurrent_readers)
{
    struct shared s[2];
    pthread_t t[2];
    gw_filter *f = parse(J({
        "must" : [
            {"key" : "arr.k", "match" : {"any" : [ 2, 4 ]}}, {
                "nested" : {
                    "key" : "arr",
                    "filter" :
                        {"must" : [ {"key" : "l", "range" : {"gt" : 8}} ]}
                }
            }
        ]
    }));
    json_t *p = load(payload_text);

    for (int i = 0; i < 2; i++) {
        s[i].f = f;
        s[i].p = p;
        s[i].hits = 0;
        cr_assert_eq(pthread_create(&t[i], NULL, eval_thread, &s[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(s[i].hits, 20000);
    }
    gw_filter_free(f);
    json_decref(p);
}
