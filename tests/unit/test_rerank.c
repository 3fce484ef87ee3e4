/*
 * test_rerank.c - the rerank strategies (src/rerank) on small inputs whose
 * expected orders and scores were computed by hand (the arithmetic is in
 * the comments): exact rescoring for each metric, MMR at three lambdas,
 * payload boosts with recency decay, RFC 3339 timestamps, and
 * reciprocal-rank fusion.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "common/common.h"
#include "rerank/rerank.h"

static point_id pid(uint64_t n)
{
    point_id p;
    memset(&p, 0, sizeof p);
    p.num = n;
    return p;
}

static void expect_order(const rerank_cand *c, size_t n, const uint64_t *ids)
{
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(c[i].id.num, ids[i], "rank %zu: id %llu, want %llu", i,
                     (unsigned long long)c[i].id.num,
                     (unsigned long long)ids[i]);
}

Test(rerank, exact_l2)
{
    /* q = (0,0): distances |(3,4)| = 5, |(1,0)| = 1, |(0,2)| = 2; the
     * stale (int8) scores in say the opposite. */
    const float q[2] = {0, 0}, v1[2] = {3, 4}, v2[2] = {1, 0}, v3[2] = {0, 2};
    rerank_cand c[3] = {{pid(1), 1.0f, v1, NULL},
                        {pid(2), 9.0f, v2, NULL},
                        {pid(3), 0.5f, v3, NULL}};
    cr_assert_eq(rerank_exact(q, 2, VECTRON_METRIC_L2, c, 3, NULL), 0);
    expect_order(c, 3, (uint64_t[]){2, 3, 1});
    cr_expect_float_eq(c[0].score, 1.0f, 1e-6);
    cr_expect_float_eq(c[1].score, 2.0f, 1e-6);
    cr_expect_float_eq(c[2].score, 5.0f, 1e-6);
}

Test(rerank, exact_cosine_and_dot)
{
    /* cosine with q = (1,0): (3,4) -> 0.6, (1,0) -> 1, (0,2) -> 0,
     * (-1,0) -> -1. */
    const float q[2] = {1, 0}, v1[2] = {3, 4}, v2[2] = {1, 0}, v3[2] = {0, 2},
                v4[2] = {-1, 0};
    rerank_cand c[4] = {{pid(4), 0, v4, NULL},
                        {pid(3), 0, v3, NULL},
                        {pid(1), 0, v1, NULL},
                        {pid(2), 0, v2, NULL}};
    cr_assert_eq(rerank_exact(q, 2, VECTRON_METRIC_COSINE, c, 4, NULL), 0);
    expect_order(c, 4, (uint64_t[]){2, 1, 3, 4});
    cr_expect_float_eq(c[1].score, 0.6f, 1e-6);
    cr_expect_float_eq(c[3].score, -1.0f, 1e-6);

    /* dot with q = (1,1): (3,4) -> 7, (1,0) -> 1, (0,2) -> 2. */
    const float q2[2] = {1, 1};
    rerank_cand d[3] = {
        {pid(1), 0, v1, NULL}, {pid(2), 0, v2, NULL}, {pid(3), 0, v3, NULL}};
    cr_assert_eq(rerank_exact(q2, 2, VECTRON_METRIC_DOT, d, 3, NULL), 0);
    expect_order(d, 3, (uint64_t[]){1, 3, 2});
    cr_expect_float_eq(d[0].score, 7.0f, 1e-6);
}

Test(rerank, exact_needs_vectors)
{
    const float q[2] = {1, 0}, v1[2] = {3, 4};
    rerank_cand c[2] = {{pid(1), 0, v1, NULL}, {pid(2), 0, NULL, NULL}};
    vectron_error err = {0};
    cr_expect_eq(rerank_exact(q, 2, VECTRON_METRIC_L2, c, 2, &err),
                 VECTRON_INVALID);
    cr_expect(strstr(err.msg, "candidate 1") != NULL, "%s", err.msg);
}

/* Unit vectors at the given angle (degrees) from q = (1,0). */
static void at_angle(float *v, double deg)
{
    v[0] = (float)cos(deg * M_PI / 180);
    v[1] = (float)sin(deg * M_PI / 180);
}

Test(rerank, mmr)
{
    /* q = (1,0), cosine. A at 10 deg (relevance .985), B at 15 deg (.966),
     * C at -30 deg (.866), D at 40 deg (.766).
     * lambda .5: pick A; then B: .5*.966 - .5*cos 5 = -.015,
     *   C: .5*.866 - .5*cos 40 = .050, D: .5*.766 - .5*cos 30 = -.050 -> C;
     *   then B: .5*.966 - .5*max(cos 5, cos 45) = -.015,
     *   D: .5*.766 - .5*max(cos 30, cos 70) = -.050 -> B; then D.
     * lambda 1: relevance order A B C D.
     * lambda 0: A; then the least similar to A: C (cos 40 = .766 beats
     *   D's cos 30 and B's cos 5); then D (max sim .866) before B (.996). */
    float a[2], b[2], cc[2], d[2], q[2] = {1, 0};
    at_angle(a, 10);
    at_angle(b, 15);
    at_angle(cc, -30);
    at_angle(d, 40);
    const double lambdas[3] = {0.5, 1.0, 0.0};
    const uint64_t want[3][4] = {{1, 3, 2, 4}, {1, 2, 3, 4}, {1, 3, 4, 2}};
    for (int t = 0; t < 3; t++) {
        rerank_cand c[4] = {{pid(4), 0, d, NULL},
                            {pid(2), 0, b, NULL},
                            {pid(1), 0, a, NULL},
                            {pid(3), 0, cc, NULL}};
        cr_assert_eq(
            rerank_mmr(q, 2, VECTRON_METRIC_COSINE, lambdas[t], 4, c, 4, NULL),
            0);
        expect_order(c, 4, want[t]);
        /* scores stay the relevance (cosine to q) */
        cr_expect_float_eq(c[0].score, (float)cos(10 * M_PI / 180), 1e-5);
    }
    /* limit 2 at lambda .5: the picks A, C, then the rest by relevance
     * (B, D). */
    rerank_cand c[4] = {{pid(4), 0, d, NULL},
                        {pid(2), 0, b, NULL},
                        {pid(1), 0, a, NULL},
                        {pid(3), 0, cc, NULL}};
    cr_assert_eq(rerank_mmr(q, 2, VECTRON_METRIC_COSINE, 0.5, 2, c, 4, NULL),
                 0);
    expect_order(c, 4, (uint64_t[]){1, 3, 2, 4});
    vectron_error err = {0};
    cr_expect_eq(rerank_mmr(q, 2, VECTRON_METRIC_COSINE, 1.5, 2, c, 4, &err),
                 VECTRON_INVALID);
}

static json_t *js(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    cr_assert(j != NULL, "%s", e.text);
    return j;
}

Test(rerank, boost_fields)
{
    /* cosine; weights price -0.01, meta.rating 0.04:
     * 1: .9 - .10 + .16 = .96;  2: .8 - .05 + .20 = .95;
     * 3: .85 (price is a string: 0);  4: .7 (no fields). */
    json_t *p1 = js("{\"price\":10,\"meta\":{\"rating\":4}}");
    json_t *p2 = js("{\"price\":5.0,\"meta\":{\"rating\":5}}");
    json_t *p3 = js("{\"price\":\"x\"}");
    rerank_cand c[4] = {{pid(1), 0.9f, NULL, p1},
                        {pid(3), 0.85f, NULL, p3},
                        {pid(2), 0.8f, NULL, p2},
                        {pid(4), 0.7f, NULL, NULL}};
    rerank_field_weight w[2] = {{"price", -0.01}, {"meta.rating", 0.04}};
    rerank_boost b = {.fields = w, .nfields = 2};
    cr_assert_eq(rerank_boost_apply(&b, VECTRON_METRIC_COSINE, c, 4, NULL), 0);
    expect_order(c, 4, (uint64_t[]){1, 2, 3, 4});
    cr_expect_float_eq(c[0].score, 0.96f, 1e-6);
    cr_expect_float_eq(c[1].score, 0.95f, 1e-6);

    /* L2: the similarity is -distance. 1: -1 + 2*0 = -1; 2: -2 + 2*1 = 0. */
    json_t *q1 = js("{\"b\":0}"), *q2 = js("{\"b\":1}");
    rerank_cand d[2] = {{pid(1), 1.0f, NULL, q1}, {pid(2), 2.0f, NULL, q2}};
    rerank_field_weight wb = {"b", 2.0};
    rerank_boost bb = {.fields = &wb, .nfields = 1};
    cr_assert_eq(rerank_boost_apply(&bb, VECTRON_METRIC_L2, d, 2, NULL), 0);
    expect_order(d, 2, (uint64_t[]){2, 1});
    cr_expect_float_eq(d[0].score, 0.0f, 1e-6);
    cr_expect_float_eq(d[1].score, -1.0f, 1e-6);
    json_decref(p1);
    json_decref(p2);
    json_decref(p3);
    json_decref(q1);
    json_decref(q2);
}

Test(rerank, boost_recency)
{
    /* now = 1,000,000 s, half-life 100 s, weight 1:
     * 1: .5 + 0.5^(100/100) = 1.0 (epoch number now - 100)
     * 2: .6 + 0.5^0 = 1.6 (1970-01-12T13:46:40Z is exactly now)
     * 3: .9 + 0.5^3 = 1.025 (now - 300, written with a +02:00 offset)
     * 4: .95 (no timestamp) */
    json_t *p1 = js("{\"ts\":999900}");
    json_t *p2 = js("{\"ts\":\"1970-01-12T13:46:40Z\"}");
    json_t *p3 = js("{\"ts\":\"1970-01-12T15:41:40+02:00\"}");
    json_t *p4 = js("{\"ts\":\"yesterday\"}");
    rerank_cand c[4] = {{pid(1), 0.5f, NULL, p1},
                        {pid(2), 0.6f, NULL, p2},
                        {pid(3), 0.9f, NULL, p3},
                        {pid(4), 0.95f, NULL, p4}};
    rerank_boost b = {.time_field = "ts",
                      .half_life_s = 100,
                      .recency_weight = 1,
                      .now_s = 1000000};
    cr_assert_eq(rerank_boost_apply(&b, VECTRON_METRIC_DOT, c, 4, NULL), 0);
    expect_order(c, 4, (uint64_t[]){2, 3, 1, 4});
    cr_expect_float_eq(c[0].score, 1.6f, 1e-6);
    cr_expect_float_eq(c[1].score, 1.025f, 1e-6);
    cr_expect_float_eq(c[2].score, 1.0f, 1e-6);
    cr_expect_float_eq(c[3].score, 0.95f, 1e-6);
    b.half_life_s = 0;
    cr_expect_eq(rerank_boost_apply(&b, VECTRON_METRIC_DOT, c, 4, NULL),
                 VECTRON_INVALID);
    json_decref(p1);
    json_decref(p2);
    json_decref(p3);
    json_decref(p4);
}

Test(rerank, rfc3339)
{
    double t;
    const char *ok = "2024-02-29T12:00:00Z";
    cr_assert_eq(rerank_parse_rfc3339(ok, strlen(ok), &t), 0);
    cr_expect_eq(t, 1709208000.0);
    const char *frac = "2024-02-29t13:30:00.25+01:30";
    cr_assert_eq(rerank_parse_rfc3339(frac, strlen(frac), &t), 0);
    cr_expect_eq(t, 1709208000.25);
    const char *neg = "1969-12-31 23:00:00-01:00";
    cr_assert_eq(rerank_parse_rfc3339(neg, strlen(neg), &t), 0);
    cr_expect_eq(t, 0.0);
    const char *bad[] = {"2023-02-29T00:00:00Z",
                         "2024-01-01T00:00:00",
                         "2024-01-01",
                         "2024-13-01T00:00:00Z",
                         "2024-01-01T24:00:00Z",
                         "2024-01-01T00:00:00.Z",
                         "2024-01-01T00:00:00+1:00",
                         "2024-01-01T00:00:00Zx",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(rerank_parse_rfc3339(bad[i], strlen(bad[i]), &t), -1, "%s",
                     bad[i]);
}

Test(rerank, rrf)
{
    /* k = 60. L1 = [1,2,3], L2 = [2,3,1], L3 = [5,2], L4 = [7,7]:
     * 2: 1/62 + 1/61 + 1/62 = .04865;  1: 1/61 + 1/63 = .03227;
     * 3: 1/63 + 1/62 = .03200;  5: 1/61;  7: 1/61 (its repeat in L4 does
     * not count), tied with 5: the smaller id first. */
    point_id l1[3] = {pid(1), pid(2), pid(3)}, l2[3] = {pid(2), pid(3), pid(1)},
             l3[2] = {pid(5), pid(2)}, l4[2] = {pid(7), pid(7)};
    rerank_list lists[4] = {{l1, 3}, {l2, 3}, {l3, 2}, {l4, 2}};
    rerank_fused *f = NULL;
    size_t n = 0;
    cr_assert_eq(rerank_rrf(lists, 4, 60, &f, &n, NULL), 0);
    cr_assert_eq(n, 5);
    const uint64_t want[5] = {2, 1, 3, 5, 7};
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(f[i].id.num, want[i], "rank %zu", i);
    cr_expect_float_eq(f[0].score, 1.0 / 62 + 1.0 / 61 + 1.0 / 62, 1e-12);
    cr_expect_eq(f[3].score, f[4].score);
    vx_free(f);
    cr_expect_eq(rerank_rrf(lists, 4, -1, &f, &n, NULL), VECTRON_INVALID);
    cr_assert_eq(rerank_rrf(NULL, 0, 60, &f, &n, NULL), 0);
    cr_expect_eq(n, 0);
    vx_free(f);
}

Test(rerank, payload_paths)
{
    json_t *p = js("{\"a\":{\"b\":{\"c\":3}},\"x\":1}");
    cr_expect_eq(json_integer_value(rerank_payload_get(p, "a.b.c")), 3);
    cr_expect_null(rerank_payload_get(p, "a.b.c.d"));
    cr_expect_null(rerank_payload_get(p, "a."));
    cr_expect_null(rerank_payload_get(p, ".x"));
    cr_expect_null(rerank_payload_get(NULL, "x"));
    json_decref(p);
}
