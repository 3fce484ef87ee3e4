/*
 * qdrant_decode_rerank.c - the decoder of the "rerank" extension of
 * search and query requests (docs/rerank.md):
 *
 *   "rerank": {"strategy": "exact" | "mmr" | "boost" | "rrf",
 *              "candidates": N, "lambda": x, "rrf_k": k,
 *              "boosts": {"fields": {"path": weight, ..},
 *                         "recency": {"field": "path", "half_life_s": s,
 *                                     "weight": w, "now": t}},
 *              "queries": [vector, ..], "timeout_ms": ms, "service": b}
 *
 * A parameter that belongs to another strategy is rejected, so that a
 * misspelt strategy or a forgotten one never silently does nothing.
 *
 * Threading: reentrant; no state outside the caller's structs.
 */
#include <math.h>
#include <string.h>

#include "common/common.h"
#include "gateway/qdrant_json_int.h"

/* Most extra query vectors an rrf request may carry, and the longest
 * payload path a boost may name. */
#define RERANK_MAX_QUERIES 64u
#define RERANK_MAX_PATH 255u
/* Bounds of the numeric parameters. */
#define RERANK_MAX_WEIGHT 1e9
#define RERANK_MAX_HALF_LIFE 1e12
#define RERANK_MAX_RRF_K 1e6
#define RERANK_MAX_TIMEOUT_MS 600000u

void gw_rerank_close(gw_rerank *r)
{
    for (size_t i = 0; r->fields && i < r->nfields; i++) {
        vx_free(r->fields[i]);
    }
    vx_free(r->fields);
    vx_free(r->weights);
    vx_free(r->time_field);
    vx_free(r->queries);
    memset(r, 0, sizeof *r);
}

/* A payload path: a non-empty string of at most RERANK_MAX_PATH bytes
 * whose dot-separated parts are non-empty. *out is an owned copy. */
static int decode_path(gw_jctx *c, const char *s, size_t n, char **out)
{
    if (n == 0 || n > RERANK_MAX_PATH) {
        return gw_fail(c, "a payload path must be 1 to %u bytes",
                       RERANK_MAX_PATH);
    }
    if (memchr(s, '\0', n)) {
        return gw_fail(c, "a payload path must not contain NUL");
    }
    if (s[0] == '.' || s[n - 1] == '.' || memmem(s, n, "..", 2)) {
        return gw_fail(c, "\"%.*s\" is not a payload path (empty part)", (int)n,
                       s);
    }
    if (!(*out = gw_dup_n(s, n))) {
        return gw_oom(c);
    }
    return 0;
}

static int decode_fields(gw_jctx *c, const json_t *f, gw_rerank *r)
{
    const char *key;
    json_t *val;
    size_t n, i = 0;
    int rc;

    if ((rc = gw_need_object(c, f))) {
        return rc;
    }
    n = json_object_size(f);
    if (n > c->lim.max_batch) {
        return gw_fail(c, "%zu fields exceed the maximum of %u", n,
                       c->lim.max_batch);
    }
    r->fields = gw_xcalloc(n, sizeof *r->fields);
    r->weights = gw_xcalloc(n, sizeof *r->weights);
    if (!r->fields || !r->weights) {
        return gw_oom(c);
    }
    json_object_foreach((json_t *)f, key, val)
    {
        size_t m = gw_push_key(c, key);
        double w = 0;
        if (json_is_null(val)) {
            gw_pop(c, m);
            continue;
        }
        if (!json_is_number(val) || !isfinite(w = json_number_value(val)) ||
            fabs(w) > RERANK_MAX_WEIGHT) {
            rc = gw_fail(c, "must be a number between %g and %g",
                         -RERANK_MAX_WEIGHT, RERANK_MAX_WEIGHT);
        } else {
            rc = decode_path(c, key, strlen(key), &r->fields[i]);
        }
        gw_pop(c, m);
        if (rc) {
            return rc;
        }
        r->weights[i++] = w;
        r->nfields = i;
    }
    return 0;
}

static int decode_recency(gw_jctx *c, const json_t *o, gw_rerank *r)
{
    static const char *const known[] = {"field", "half_life_s", "weight", "now",
                                        NULL};
    const json_t *v;
    const char *s;
    size_t n, m;
    int rc, has_half = 0;

    if ((rc = gw_need_object(c, o)) ||
        (rc = gw_check_fields(c, o, known, NULL, NULL))) {
        return rc;
    }
    if (!(v = gw_get(o, "field"))) {
        return gw_missing(c, "field");
    }
    m = gw_push_key(c, "field");
    rc = gw_as_string(c, v, 1, &s, &n);
    if (!rc) {
        rc = decode_path(c, s, n, &r->time_field);
    }
    gw_pop(c, m);
    if (rc) {
        return rc;
    }
    r->recency_weight = 1;
    if ((rc = gw_opt_number(c, o, "half_life_s", 0, RERANK_MAX_HALF_LIFE,
                            &r->half_life_s, &has_half)) ||
        (rc = gw_opt_number(c, o, "weight", -RERANK_MAX_WEIGHT,
                            RERANK_MAX_WEIGHT, &r->recency_weight, NULL))) {
        return rc;
    }
    if (!has_half) {
        return gw_missing(c, "half_life_s");
    }
    if (!(r->half_life_s > 0)) {
        m = gw_push_key(c, "half_life_s");
        rc = gw_fail(c, "must be above 0");
        gw_pop(c, m);
        return rc;
    }
    if ((v = gw_get(o, "now"))) {
        m = gw_push_key(c, "now");
        if (gw_json_is_bignum(v) || rerank_parse_time(v, &r->now_s)) {
            rc = gw_fail(c, "must be epoch seconds or an RFC 3339 time");
        }
        gw_pop(c, m);
        r->has_now = rc == 0;
    }
    return rc;
}

static int decode_boosts(gw_jctx *c, const json_t *o, gw_rerank *r)
{
    static const char *const known[] = {"fields", "recency", NULL};
    const json_t *v;
    size_t m;
    int rc;

    if ((rc = gw_need_object(c, o)) ||
        (rc = gw_check_fields(c, o, known, NULL, NULL))) {
        return rc;
    }
    if ((v = gw_get(o, "fields"))) {
        m = gw_push_key(c, "fields");
        rc = decode_fields(c, v, r);
        gw_pop(c, m);
        if (rc) {
            return rc;
        }
    }
    if ((v = gw_get(o, "recency"))) {
        m = gw_push_key(c, "recency");
        rc = decode_recency(c, v, r);
        gw_pop(c, m);
        if (rc) {
            return rc;
        }
    }
    if (r->nfields == 0 && !r->time_field) {
        return gw_fail(c, "give fields, recency or both");
    }
    return 0;
}

static int decode_queries(gw_jctx *c, const json_t *v, uint32_t dim,
                          gw_rerank *r)
{
    size_t n;
    int rc = 0;

    if (!json_is_array(v)) {
        return gw_fail(c, "must be a list of vectors");
    }
    n = json_array_size(v);
    if (n == 0 || n > RERANK_MAX_QUERIES) {
        return gw_fail(c, "must hold 1 to %u vectors", RERANK_MAX_QUERIES);
    }
    if (!(r->queries = gw_xalloc(n * dim * sizeof(float)))) {
        return gw_oom(c);
    }
    for (size_t i = 0; i < n && !rc; i++) {
        size_t m = gw_push_idx(c, i);
        rc = gw_decode_vector(c, json_array_get(v, i), dim,
                              r->queries + i * dim);
        gw_pop(c, m);
    }
    if (!rc) {
        r->nqueries = n;
    }
    return rc;
}

/* Rejects member k of o unless the strategy is one of those allowed. */
static int only_for(gw_jctx *c, const json_t *o, const char *k,
                    rerank_strategy s, rerank_strategy a, rerank_strategy b)
{
    if (!gw_get(o, k) || s == a || s == b) {
        return 0;
    }
    size_t m = gw_push_key(c, k);
    int rc =
        b != RERANK_NONE
            ? gw_fail(c, "only for strategy \"%s\" or \"%s\"",
                      rerank_strategy_name(a), rerank_strategy_name(b))
            : gw_fail(c, "only for strategy \"%s\"", rerank_strategy_name(a));
    gw_pop(c, m);
    return rc;
}

int gw_decode_rerank(gw_jctx *c, const json_t *o, uint32_t dim, gw_search *s)
{
    static const char *const known[] = {"strategy",   "candidates", "lambda",
                                        "boosts",     "queries",    "rrf_k",
                                        "timeout_ms", "service",    NULL};
    gw_rerank *r = &s->rerank;
    const json_t *v;
    const char *name;
    size_t n, m;
    int rc, service = -1;

    memset(r, 0, sizeof *r);
    r->lambda = 0.5;
    r->rrf_k = 60;
    r->service = -1;
    if ((rc = gw_need_object(c, o)) ||
        (rc = gw_check_fields(c, o, known, NULL, NULL))) {
        return rc;
    }
    if (!(v = gw_get(o, "strategy"))) {
        return gw_missing(c, "strategy");
    }
    m = gw_push_key(c, "strategy");
    if (!(rc = gw_as_string(c, v, 1, &name, &n)) &&
        rerank_strategy_parse(name, n, &r->strategy)) {
        rc = gw_fail(c, "must be \"exact\", \"mmr\", \"boost\" or \"rrf\"");
    }
    gw_pop(c, m);
    if (rc) {
        return rc;
    }
    if (s->kind == GW_QUERY_NONE) {
        return gw_fail(c, "needs a query vector or point id to rerank");
    }
    if ((rc = only_for(c, o, "lambda", r->strategy, RERANK_MMR, RERANK_NONE)) ||
        (rc = only_for(c, o, "boosts", r->strategy, RERANK_BOOST,
                       RERANK_NONE)) ||
        (rc =
             only_for(c, o, "queries", r->strategy, RERANK_RRF, RERANK_NONE)) ||
        (rc = only_for(c, o, "rrf_k", r->strategy, RERANK_RRF, RERANK_NONE)) ||
        (rc = gw_opt_uint(c, o, "candidates", 1, VECTRON_MAX_K,
                          &r->candidates)) ||
        (rc = gw_opt_number(c, o, "lambda", 0, 1, &r->lambda, NULL)) ||
        (rc = gw_opt_number(c, o, "rrf_k", 0, RERANK_MAX_RRF_K, &r->rrf_k,
                            NULL)) ||
        (rc = gw_opt_uint(c, o, "timeout_ms", 1, RERANK_MAX_TIMEOUT_MS,
                          &r->timeout_ms)) ||
        (rc = gw_opt_bool(c, o, "service", &service))) {
        return rc;
    }
    r->service = service;
    uint64_t want = (uint64_t)s->limit + s->offset;
    if (r->candidates && r->candidates < want) {
        m = gw_push_key(c, "candidates");
        rc = gw_fail(c, "must be at least limit + offset (%llu)",
                     (unsigned long long)want);
        gw_pop(c, m);
        return rc;
    }
    if (r->strategy == RERANK_BOOST) {
        if (!(v = gw_get(o, "boosts"))) {
            return gw_missing(c, "boosts");
        }
        m = gw_push_key(c, "boosts");
        rc = decode_boosts(c, v, r);
        gw_pop(c, m);
    } else if (r->strategy == RERANK_RRF) {
        if (!(v = gw_get(o, "queries"))) {
            return gw_missing(c, "queries");
        }
        m = gw_push_key(c, "queries");
        rc = decode_queries(c, v, dim, r);
        gw_pop(c, m);
    }
    return rc;
}
