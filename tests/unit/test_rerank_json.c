/*
 * test_rerank_json.c - the JSON around reranking: the "rerank" extension
 * of search/query bodies (gateway decoder: defaults, every parameter,
 * error messages for bad values and parameters of another strategy), and
 * the rerank service's contract (src/rerank/rerank_json.c): request
 * encode -> parse round trip, response encode -> parse, and rejection of
 * malformed requests and responses.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/common.h"
#include "gateway/qdrant_json.h"
#include "rerank/rerank_json.h"

static vectron_error err;

static void decode_ok(const char *body, gw_search *s)
{
    memset(&err, 0, sizeof err);
    cr_assert_eq(gw_decode_query(body, strlen(body), 2, NULL, s, &err), 0,
                 "%s: %s", body, err.msg);
}

static void decode_bad(const char *body, const char *msg)
{
    gw_search s;
    memset(&err, 0, sizeof err);
    cr_assert_eq(gw_decode_query(body, strlen(body), 2, NULL, &s, &err),
                 VECTRON_INVALID, "accepted %s", body);
    cr_expect_str_eq(err.msg, msg, "%s", body);
    gw_search zero;
    memset(&zero, 0, sizeof zero);
    cr_expect(memcmp(&s, &zero, sizeof s) == 0, "not zeroed after %s", body);
}

Test(rerank_decode, absent_and_defaults)
{
    gw_search s;
    decode_ok("{\"query\":[1,0]}", &s);
    cr_expect_eq(s.rerank.strategy, RERANK_NONE);
    gw_search_close(&s);
    decode_ok("{\"query\":[1,0],\"limit\":3,\"rerank\":{\"strategy\":\"mmr\"}}",
              &s);
    cr_expect_eq(s.rerank.strategy, RERANK_MMR);
    cr_expect_eq(s.rerank.candidates, 0);
    cr_expect_float_eq(s.rerank.lambda, 0.5, 1e-12);
    cr_expect_eq(s.rerank.service, -1);
    gw_search_close(&s);
}

Test(rerank_decode, every_parameter)
{
    gw_search s;
    decode_ok("{\"query\":[1,0],\"limit\":2,\"offset\":1,\"rerank\":{"
              "\"strategy\":\"boost\",\"candidates\":50,\"timeout_ms\":250,"
              "\"service\":false,\"boosts\":{\"fields\":{\"a.b\":-0.5,"
              "\"c\":2},\"recency\":{\"field\":\"ts\",\"half_life_s\":3600,"
              "\"weight\":0.25,\"now\":\"2024-02-29T12:00:00Z\"}}}}",
              &s);
    const gw_rerank *r = &s.rerank;
    cr_expect_eq(r->strategy, RERANK_BOOST);
    cr_expect_eq(r->candidates, 50);
    cr_expect_eq(r->timeout_ms, 250);
    cr_expect_eq(r->service, 0);
    cr_assert_eq(r->nfields, 2);
    cr_expect_str_eq(r->fields[0], "a.b");
    cr_expect_float_eq(r->weights[0], -0.5, 1e-12);
    cr_expect_str_eq(r->time_field, "ts");
    cr_expect_float_eq(r->half_life_s, 3600, 1e-9);
    cr_expect_float_eq(r->recency_weight, 0.25, 1e-12);
    cr_expect(r->has_now);
    cr_expect_eq(r->now_s, 1709208000.0);
    gw_search_close(&s);
    decode_ok("{\"query\":[1,0],\"rerank\":{\"strategy\":\"rrf\",\"rrf_k\":10,"
              "\"queries\":[[0,1],[1,1]]}}",
              &s);
    cr_expect_eq(s.rerank.nqueries, 2);
    cr_expect_eq(s.rerank.queries[3], 1.0f);
    cr_expect_float_eq(s.rerank.rrf_k, 10, 1e-12);
    gw_search_close(&s);
    /* /points/search takes it as well */
    const char *b = "{\"vector\":[1,0],\"limit\":1,\"rerank\":{\"strategy\":"
                    "\"exact\",\"service\":true}}";
    cr_assert_eq(gw_decode_search(b, strlen(b), 2, NULL, &s, &err), 0, "%s",
                 err.msg);
    cr_expect_eq(s.rerank.strategy, RERANK_EXACT);
    cr_expect_eq(s.rerank.service, 1);
    gw_search_close(&s);
}

Test(rerank_decode, errors)
{
    decode_bad("{\"query\":[1,0],\"rerank\":{}}",
               "rerank: missing field \"strategy\"");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"best\"}}",
               "rerank.strategy: must be \"exact\", \"mmr\", \"boost\" or "
               "\"rrf\"");
    decode_bad("{\"rerank\":{\"strategy\":\"exact\"}}",
               "rerank: needs a query vector or point id to rerank");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"exact\","
               "\"lambda\":0.5}}",
               "rerank.lambda: only for strategy \"mmr\"");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"mmr\","
               "\"lambda\":1.5}}",
               "rerank.lambda: must be between 0 and 1");
    decode_bad("{\"query\":[1,0],\"limit\":5,\"offset\":5,\"rerank\":{"
               "\"strategy\":\"exact\",\"candidates\":9}}",
               "rerank.candidates: must be at least limit + offset (10)");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"boost\"}}",
               "rerank: missing field \"boosts\"");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"boost\","
               "\"boosts\":{}}}",
               "rerank.boosts: give fields, recency or both");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"boost\","
               "\"boosts\":{\"fields\":{\"a\":\"x\"}}}}",
               "rerank.boosts.fields.a: must be a number between -1e+09 and "
               "1e+09");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"boost\","
               "\"boosts\":{\"fields\":{\"a..b\":1}}}}",
               "rerank.boosts.fields.a..b: \"a..b\" is not a payload path "
               "(empty part)");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"boost\","
               "\"boosts\":{\"recency\":{\"field\":\"t\"}}}}",
               "rerank.boosts.recency: missing field \"half_life_s\"");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"boost\","
               "\"boosts\":{\"recency\":{\"field\":\"t\",\"half_life_s\":0}}}}",
               "rerank.boosts.recency.half_life_s: must be above 0");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"boost\","
               "\"boosts\":{\"recency\":{\"field\":\"t\",\"half_life_s\":1,"
               "\"now\":\"noon\"}}}}",
               "rerank.boosts.recency.now: must be epoch seconds or an RFC "
               "3339 time");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"rrf\"}}",
               "rerank: missing field \"queries\"");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"rrf\","
               "\"queries\":[]}}",
               "rerank.queries: must hold 1 to 64 vectors");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"rrf\","
               "\"queries\":[[1,2,3]]}}",
               "rerank.queries[0]: expected dimension 2, got 3");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"exact\","
               "\"timeout_ms\":0}}",
               "rerank.timeout_ms: must be at least 1");
    decode_bad("{\"query\":[1,0],\"rerank\":{\"strategy\":\"exact\","
               "\"k\":1}}",
               "rerank: unknown field \"k\"");
}

/* ---- the service contract ---------------------------------------------- */

static point_id pid(uint64_t n)
{
    point_id p;
    memset(&p, 0, sizeof p);
    p.num = n;
    return p;
}

Test(rerank_contract, request_round_trip)
{
    const float q[2] = {1, 0}, v1[2] = {0.1f, 0.7f}, v2[2] = {3, 4};
    json_t *pl = json_pack("{s:i}", "p", 3);
    rerank_cand c[2] = {{pid(7), 0.5f, v1, pl}, {pid(9), 0.25f, v2, NULL}};
    rerank_request rq = {.strategy = RERANK_MMR,
                         .metric = VECTRON_METRIC_DOT,
                         .dim = 2,
                         .query = q,
                         .cands = c,
                         .ncands = 2,
                         .limit = 2,
                         .lambda = 0.25};
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(rerank_request_encode(&rq, &text, &len, &err), 0);
    rerank_parsed p;
    cr_assert_eq(rerank_request_parse(text, len, 0, &p, &err), 0, "%s: %s",
                 text, err.msg);
    cr_expect_eq(p.rq.strategy, RERANK_MMR);
    cr_expect_eq(p.rq.metric, VECTRON_METRIC_DOT);
    cr_expect_eq(p.rq.dim, 2);
    cr_expect_eq(p.rq.limit, 2);
    cr_expect_float_eq(p.rq.lambda, 0.25, 1e-12);
    cr_assert_eq(p.rq.ncands, 2);
    cr_expect_eq(p.rq.cands[0].id.num, 7);
    cr_expect_eq(p.rq.cands[0].vector[0], 0.1f); /* float32 exact */
    cr_expect_eq(p.rq.cands[0].vector[1], 0.7f);
    cr_expect_eq(p.rq.cands[1].score, 0.25f);
    cr_expect_eq(p.rq.query[0], 1.0f);
    /* Both sides rank alike: dot with (1,0): 3 > 0.1; the mmr picks are
     * then the same. */
    rerank_fused *a = NULL, *b = NULL;
    size_t na, nb;
    cr_assert_eq(rerank_run(&p.rq, &a, &na, &err), 0);
    cr_assert_eq(rerank_run(&rq, &b, &nb, &err), 0);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++)
        cr_expect_eq(a[i].id.num, b[i].id.num);
    cr_expect_eq(a[0].id.num, 9);
    rerank_parsed_close(&p);
    vx_free(text);

    /* The response. */
    cr_assert_eq(rerank_response_encode(a, na, &text, &len, &err), 0);
    rerank_fused *back = NULL;
    size_t nback;
    cr_assert_eq(rerank_response_parse(text, len, 2, &back, &nback, &err), 0);
    cr_assert_eq(nback, 2);
    cr_expect_eq(back[0].id.num, 9);
    cr_expect_float_eq(back[0].score, 3.0, 1e-6);
    vx_free(back);
    cr_expect_eq(rerank_response_parse(text, len, 1, &back, &nback, &err),
                 VECTRON_INVALID);
    vx_free(text);
    vx_free(a);
    vx_free(b);
    json_decref(pl);
}

Test(rerank_contract, boost_and_rrf_requests)
{
    const char *boost =
        "{\"strategy\":\"boost\",\"metric\":\"l2\",\"limit\":2,\"candidates\":"
        "[{\"id\":1,\"score\":1,\"payload\":{\"b\":0}},{\"id\":2,\"score\":2,"
        "\"payload\":{\"b\":1}}],\"boosts\":{\"fields\":{\"b\":2}}}";
    rerank_parsed p;
    rerank_fused *r = NULL;
    size_t n;
    cr_assert_eq(rerank_request_parse(boost, strlen(boost), 0, &p, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(rerank_run(&p.rq, &r, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_expect_eq(r[0].id.num, 2); /* -2 + 2 = 0 beats -1 */
    vx_free(r);
    rerank_parsed_close(&p);

    const char *rrf = "{\"strategy\":\"rrf\",\"limit\":3,\"rrf_k\":60,"
                      "\"lists\":[[1,2,3],[2,3,1],[5,2]]}";
    cr_assert_eq(rerank_request_parse(rrf, strlen(rrf), 0, &p, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(rerank_run(&p.rq, &r, &n, &err), 0);
    cr_assert_eq(n, 3);
    cr_expect_eq(r[0].id.num, 2);
    cr_expect_eq(r[1].id.num, 1);
    cr_expect_eq(r[2].id.num, 3);
    vx_free(r);
    rerank_parsed_close(&p);
}

Test(rerank_contract, bad_requests)
{
    static const struct {
        const char *body, *msg;
    } cases[] = {
        {"[]", "body: must be a JSON object"},
        {"{\"strategy\":\"x\",\"limit\":1}",
         "strategy: must be \"exact\", \"mmr\", \"boost\" or \"rrf\""},
        {"{\"strategy\":\"exact\"}",
         "limit: must be a number between 1 and 100000"},
        {"{\"strategy\":\"exact\",\"limit\":1,\"extra\":1}",
         "extra: unknown field"},
        {"{\"strategy\":\"exact\",\"limit\":1,\"metric\":\"hamming\"}",
         "metric: must be \"l2\", \"cosine\" or \"dot\""},
        {"{\"strategy\":\"exact\",\"limit\":1,\"query\":[1,0],\"candidates\":"
         "[{\"id\":1,\"vector\":[1]}]}",
         "candidates[0].vector: 1 components, expected 2"},
        {"{\"strategy\":\"exact\",\"limit\":1,\"candidates\":[{\"id\":-1}]}",
         "candidates[0].id: point id must not be negative (got -1)"},
        {"{\"strategy\":\"exact\",\"limit\":1,\"candidates\":[{\"id\":1,"
         "\"payload\":[]}]}",
         "candidates[0].payload: must be an object"},
        {"{\"strategy\":\"rrf\",\"limit\":1,\"lists\":[]}",
         "lists: must be a list of 1 to 65 lists of ids"},
        {"{\"strategy\":\"boost\",\"limit\":1}", "boosts: missing"},
        {"{\"strategy\":\"exact\",\"limit\":1,\"query\":[1e39]}",
         "query[0]: not a finite float32 number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rerank_parsed p;
        memset(&err, 0, sizeof err);
        cr_expect_eq(rerank_request_parse(cases[i].body, strlen(cases[i].body),
                                          0, &p, &err),
                     VECTRON_INVALID, "accepted %s", cases[i].body);
        cr_expect_str_eq(err.msg, cases[i].msg, "%s", cases[i].body);
    }
    /* exact without vectors parses but cannot run */
    const char *nov = "{\"strategy\":\"exact\",\"limit\":1,\"query\":[1],"
                      "\"candidates\":[{\"id\":1}]}";
    rerank_parsed p;
    rerank_fused *r = NULL;
    size_t n;
    cr_assert_eq(rerank_request_parse(nov, strlen(nov), 0, &p, &err), 0);
    cr_expect_eq(rerank_run(&p.rq, &r, &n, &err), VECTRON_INVALID);
    rerank_parsed_close(&p);
    /* responses */
    const char *bad_resp[] = {"{}", "{\"ranked\":[{\"id\":1}]}",
                              "{\"ranked\":[{\"id\":1,\"score\":\"x\"}]}",
                              "{\"ranked\":[1]}", "nope"};
    for (size_t i = 0; i < sizeof bad_resp / sizeof bad_resp[0]; i++)
        cr_expect_neq(rerank_response_parse(bad_resp[i], strlen(bad_resp[i]),
                                            10, &r, &n, &err),
                      0, "accepted %s", bad_resp[i]);
}

/* ---- `vectron reranker`'s knob table ----------------------------------- */

#include "common/config.h"

const vx_config_knob *vx_reranker_config_table(size_t *n);

Test(reranker_config, table_is_well_formed)
{
    size_t n = 0;
    const vx_config_knob *t = vx_reranker_config_table(&n);
    cr_assert_gt(n, 0);
    cr_assert_eq(vx_config_check(t, n, &err), 0, "%s", err.msg);
    const vx_config_knob *listen = vx_config_find(t, n, "listen");
    cr_assert_not_null(listen);
    cr_expect_str_eq(listen->def, "127.0.0.1:6340");
}
