/*
 * rerank_json.c - the rerank service's JSON contract (rerank_json.h):
 * request encoder and parser, response encoder and parser. The parsers
 * take untrusted input (fuzzed by fuzz/fuzz_rerank_json.c): every member
 * is type- and range-checked, unknown members are rejected, nothing is
 * read outside the body.
 *
 * Threading: reentrant; no state outside the caller's structs.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "common/json.h"
#include "rerank/rerank_json.h"

const char *rerank_metric_name(vectron_metric m)
{
    switch (m) {
    case VECTRON_METRIC_L2:
        return "l2";
    case VECTRON_METRIC_COSINE:
        return "cosine";
    case VECTRON_METRIC_DOT:
        return "dot";
    }
    return "l2";
}

/* ---- encoding ---------------------------------------------------------- */

/* A float as a number in 9 significant digits (enough to read back the
 * same float32), through a marker so that it is not widened to 17. */
static json_t *jfloat(float f)
{
    char buf[40];
    int n = snprintf(buf, sizeof buf, "%.9g", (double)f);
    if (!isfinite(f) || n <= 0 || (size_t)n >= sizeof buf)
        return json_null();
    return vx_json_marker(buf, (size_t)n);
}

static json_t *jvector(const float *v, uint32_t dim)
{
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < dim; i++) {
        if (json_array_append_new(a, jfloat(v[i]))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* Sets o[k] = v (stolen); -1 if v is NULL or out of memory. */
static int put(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

static int encode_boost(json_t *o, const rerank_boost *b)
{
    json_t *bo = json_object(), *f = json_object();
    if (put(o, "boosts", bo) || !f || put(bo, "fields", f))
        return -1;
    for (size_t i = 0; i < b->nfields; i++)
        if (put(f, b->fields[i].field, json_real(b->fields[i].weight)))
            return -1;
    if (b->time_field) {
        json_t *r = json_object();
        if (put(bo, "recency", r) ||
            put(r, "field", json_string(b->time_field)) ||
            put(r, "half_life_s", json_real(b->half_life_s)) ||
            put(r, "weight", json_real(b->recency_weight)) ||
            put(r, "now", json_real(b->now_s)))
            return -1;
    }
    return 0;
}

static int encode(const rerank_request *rq, json_t *o)
{
    int vectors = rq->strategy == RERANK_EXACT || rq->strategy == RERANK_MMR;
    json_t *cands = json_array();
    if (put(o, "strategy", json_string(rerank_strategy_name(rq->strategy))) ||
        put(o, "metric", json_string(rerank_metric_name(rq->metric))) ||
        put(o, "limit", json_integer((json_int_t)rq->limit)))
        return -1;
    if (vectors && rq->query && put(o, "query", jvector(rq->query, rq->dim)))
        return -1;
    if (put(o, "candidates", cands))
        return -1;
    for (size_t i = 0; i < rq->ncands; i++) {
        const rerank_cand *c = &rq->cands[i];
        json_t *e = json_object();
        if (json_array_append_new(cands, e) || !e ||
            put(e, "id", vx_json_point_id(&c->id)) ||
            put(e, "score", json_real(c->score)))
            return -1;
        if (c->vector && vectors &&
            put(e, "vector", jvector(c->vector, rq->dim)))
            return -1;
        if (c->payload && rq->strategy == RERANK_BOOST &&
            put(e, "payload", json_incref((json_t *)c->payload)))
            return -1;
    }
    switch (rq->strategy) {
    case RERANK_MMR:
        return put(o, "lambda", json_real(rq->lambda));
    case RERANK_BOOST:
        return encode_boost(o, &rq->boost);
    case RERANK_RRF: {
        json_t *ls = json_array();
        if (put(o, "rrf_k", json_real(rq->rrf_k)) || put(o, "lists", ls))
            return -1;
        for (size_t l = 0; l < rq->nlists; l++) {
            json_t *a = json_array();
            if (json_array_append_new(ls, a) || !a)
                return -1;
            for (size_t i = 0; i < rq->lists[l].n; i++)
                if (json_array_append_new(
                        a, vx_json_point_id(&rq->lists[l].ids[i])))
                    return -1;
        }
        return 0;
    }
    default:
        return 0;
    }
}

int rerank_request_encode(const rerank_request *rq, char **out, size_t *len,
                          vectron_error *err)
{
    json_t *o = json_object();
    *out = NULL;
    if (!o || encode(rq, o)) {
        json_decref(o);
        return vx_err(err, VECTRON_NOMEM, "rerank request");
    }
    int rc = vx_json_dump(o, out, len, err);
    json_decref(o);
    return rc;
}

int rerank_response_encode(const rerank_fused *r, size_t n, char **out,
                           size_t *len, vectron_error *err)
{
    json_t *o = json_object(), *a = json_array();
    int bad = !o || put(o, "ranked", a);
    for (size_t i = 0; i < n && !bad; i++) {
        json_t *e = json_object();
        bad = json_array_append_new(a, e) || !e ||
              put(e, "id", vx_json_point_id(&r[i].id)) ||
              put(e, "score", json_real(isfinite(r[i].score) ? r[i].score : 0));
    }
    *out = NULL;
    if (bad) {
        json_decref(o);
        return vx_err(err, VECTRON_NOMEM, "rerank response");
    }
    int rc = vx_json_dump(o, out, len, err);
    json_decref(o);
    return rc;
}

/* ---- parsing ----------------------------------------------------------- */

/* Rejects members of o outside the NULL-terminated list known. */
static int check_members(const json_t *o, const char *what,
                         const char *const *known, vectron_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k) != 0)
            i++;
        if (!known[i])
            return vx_err(err, VECTRON_INVALID, "%s%s%s: unknown field", what,
                          *what ? "." : "", k);
    }
    return 0;
}

static int number(const json_t *v, const char *what, double lo, double hi,
                  double *out, vectron_error *err)
{
    if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
        !(json_number_value(v) >= lo && json_number_value(v) <= hi))
        return vx_err(err, VECTRON_INVALID,
                      "%s: must be a number between %g and %g", what, lo, hi);
    *out = json_number_value(v);
    return 0;
}

/* A vector of exactly dim float32-range components into dst. */
static int vector(const json_t *v, const char *what, uint32_t dim, float *dst,
                  vectron_error *err)
{
    if (!json_is_array(v))
        return vx_err(err, VECTRON_INVALID, "%s: must be a list of numbers",
                      what);
    if (json_array_size(v) != dim)
        return vx_err(err, VECTRON_INVALID, "%s: %zu components, expected %u",
                      what, json_array_size(v), dim);
    for (uint32_t i = 0; i < dim; i++) {
        const json_t *x = json_array_get(v, i);
        double d;
        if (!json_is_number(x) || !isfinite(d = json_number_value(x)) ||
            fabs(d) > 3.4028234663852886e38)
            return vx_err(err, VECTRON_INVALID,
                          "%s[%u]: not a finite float32 number", what, i);
        dst[i] = (float)d;
    }
    return 0;
}

static int parse_boosts(const json_t *o, rerank_parsed *p, double now_s,
                        vectron_error *err)
{
    static const char *const known[] = {"fields", "recency", NULL};
    static const char *const rknown[] = {"field", "half_life_s", "weight",
                                         "now", NULL};
    rerank_boost *b = &p->rq.boost;
    const json_t *f, *r, *v;
    int rc;
    if (!json_is_object(o))
        return vx_err(err, VECTRON_INVALID, "boosts: must be an object");
    if ((rc = check_members(o, "boosts", known, err)))
        return rc;
    if ((f = json_object_get(o, "fields"))) {
        const char *k;
        json_t *w;
        size_t n = 0;
        if (!json_is_object(f))
            return vx_err(err, VECTRON_INVALID,
                          "boosts.fields: must be an object");
        p->fields = vx_calloc(json_object_size(f) + 1, sizeof *p->fields);
        if (!p->fields)
            return vx_err(err, VECTRON_NOMEM, "boosts");
        json_object_foreach((json_t *)f, k, w)
        {
            double d = 0;
            if ((rc = number(w, "boosts.fields", -1e9, 1e9, &d, err)))
                return rc;
            p->fields[n].field = k; /* keys live as long as root */
            p->fields[n].weight = d;
            n++;
        }
        b->fields = p->fields;
        b->nfields = n;
    }
    if ((r = json_object_get(o, "recency"))) {
        if (!json_is_object(r))
            return vx_err(err, VECTRON_INVALID,
                          "boosts.recency: must be an object");
        if ((rc = check_members(r, "boosts.recency", rknown, err)))
            return rc;
        v = json_object_get(r, "field");
        if (!json_is_string(v) || vx_json_is_bignum(v) ||
            json_string_length(v) == 0)
            return vx_err(err, VECTRON_INVALID,
                          "boosts.recency.field: must be a non-empty string");
        b->time_field = json_string_value(v);
        if ((rc = number(json_object_get(r, "half_life_s"),
                         "boosts.recency.half_life_s", 1e-9, 1e12,
                         &b->half_life_s, err)))
            return rc;
        b->recency_weight = 1;
        if ((v = json_object_get(r, "weight")) &&
            (rc = number(v, "boosts.recency.weight", -1e9, 1e9,
                         &b->recency_weight, err)))
            return rc;
        b->now_s = now_s;
        if ((v = json_object_get(r, "now")) &&
            (vx_json_is_bignum(v) || rerank_parse_time(v, &b->now_s)))
            return vx_err(err, VECTRON_INVALID,
                          "boosts.recency.now: must be epoch seconds or an "
                          "RFC 3339 time");
    }
    return 0;
}

static int parse_lists(const json_t *ls, rerank_parsed *p, vectron_error *err)
{
    size_t total = 0, at = 0;
    if (!json_is_array(ls) || json_array_size(ls) == 0 ||
        json_array_size(ls) > RERANK_MAX_LISTS)
        return vx_err(err, VECTRON_INVALID,
                      "lists: must be a list of 1 to %u lists of ids",
                      RERANK_MAX_LISTS);
    for (size_t l = 0; l < json_array_size(ls); l++) {
        const json_t *a = json_array_get(ls, l);
        if (!json_is_array(a) || json_array_size(a) > RERANK_MAX_CANDIDATES)
            return vx_err(err, VECTRON_INVALID,
                          "lists[%zu]: must be a list of at most %u ids", l,
                          RERANK_MAX_CANDIDATES);
        total += json_array_size(a);
    }
    p->lists = vx_calloc(json_array_size(ls), sizeof *p->lists);
    p->ids = vx_calloc(total ? total : 1, sizeof *p->ids);
    if (!p->lists || !p->ids)
        return vx_err(err, VECTRON_NOMEM, "lists");
    for (size_t l = 0; l < json_array_size(ls); l++) {
        const json_t *a = json_array_get(ls, l);
        p->lists[l].ids = p->ids + at;
        p->lists[l].n = json_array_size(a);
        for (size_t i = 0; i < json_array_size(a); i++) {
            char path[64];
            snprintf(path, sizeof path, "lists[%zu][%zu]", l, i);
            int rc = vx_json_get_point_id(json_array_get(a, i), path,
                                          &p->ids[at++], err);
            if (rc)
                return rc;
        }
    }
    p->rq.lists = p->lists;
    p->rq.nlists = json_array_size(ls);
    return 0;
}

static int parse_candidates(const json_t *cs, size_t body_len, rerank_parsed *p,
                            vectron_error *err)
{
    static const char *const known[] = {"id", "score", "vector", "payload",
                                        NULL};
    rerank_request *rq = &p->rq;
    size_t n = 0;
    if (cs && (!json_is_array(cs) ||
               (n = json_array_size(cs)) > RERANK_MAX_CANDIDATES))
        return vx_err(err, VECTRON_INVALID,
                      "candidates: must be a list of at most %u candidates",
                      RERANK_MAX_CANDIDATES);
    /* The dimension: the query's, else the first candidate vector's. */
    size_t nvec = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(json_array_get(cs, i), "vector");
        if (v && !json_is_null(v)) {
            if (!rq->dim && json_is_array(v))
                rq->dim = (uint32_t)(json_array_size(v) < VECTRON_MAX_DIM
                                         ? json_array_size(v)
                                         : VECTRON_MAX_DIM);
            nvec++;
        }
    }
    if (nvec && !rq->dim)
        return vx_err(err, VECTRON_INVALID,
                      "candidates: vectors must have 1 to %u components",
                      VECTRON_MAX_DIM);
    /* Each component takes at least one byte of the body: a bound that
     * keeps a hostile body from asking for a huge allocation. */
    if (nvec && (size_t)rq->dim * nvec > body_len)
        return vx_err(err, VECTRON_INVALID,
                      "candidates: vectors must have %u components", rq->dim);
    float *qv = p->floats;
    p->floats = vx_malloc(((size_t)rq->dim * (nvec + 1)) * sizeof(float) + 1);
    p->cands = vx_calloc(n ? n : 1, sizeof *p->cands);
    if (!p->floats || !p->cands) {
        vx_free(qv);
        return vx_err(err, VECTRON_NOMEM, "candidates");
    }
    if (qv) {
        memcpy(p->floats, qv, rq->dim * sizeof(float));
        vx_free(qv);
        rq->query = p->floats;
    }
    float *next = p->floats + rq->dim;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(cs, i), *v;
        rerank_cand *c = &p->cands[i];
        char path[64];
        int rc;
        snprintf(path, sizeof path, "candidates[%zu]", i);
        if (!json_is_object(e))
            return vx_err(err, VECTRON_INVALID, "%s: must be an object", path);
        if ((rc = check_members(e, path, known, err)))
            return rc;
        snprintf(path, sizeof path, "candidates[%zu].id", i);
        if ((rc = vx_json_get_point_id(json_object_get(e, "id"), path, &c->id,
                                       err)))
            return rc;
        double score = 0;
        snprintf(path, sizeof path, "candidates[%zu].score", i);
        if ((v = json_object_get(e, "score")) &&
            (rc = number(v, path, -3.4e38, 3.4e38, &score, err)))
            return rc;
        c->score = (float)score;
        if ((v = json_object_get(e, "vector")) && !json_is_null(v)) {
            snprintf(path, sizeof path, "candidates[%zu].vector", i);
            if ((rc = vector(v, path, rq->dim, next, err)))
                return rc;
            c->vector = next;
            next += rq->dim;
        }
        if ((v = json_object_get(e, "payload")) && !json_is_null(v)) {
            if (!json_is_object(v))
                return vx_err(err, VECTRON_INVALID,
                              "candidates[%zu].payload: must be an object", i);
            c->payload = v;
        }
    }
    rq->cands = p->cands;
    rq->ncands = n;
    return 0;
}

static int parse(const json_t *o, size_t body_len, rerank_parsed *p,
                 double now_s, vectron_error *err)
{
    static const char *const known[] = {
        "strategy", "metric", "query", "candidates", "lists",
        "limit",    "lambda", "rrf_k", "boosts",     NULL};
    rerank_request *rq = &p->rq;
    const json_t *v;
    double d = 0;
    int rc;
    if (!json_is_object(o))
        return vx_err(err, VECTRON_INVALID, "body: must be a JSON object");
    if ((rc = check_members(o, "", known, err)))
        return rc;
    v = json_object_get(o, "strategy");
    if (!json_is_string(v) ||
        rerank_strategy_parse(json_string_value(v), json_string_length(v),
                              &rq->strategy))
        return vx_err(err, VECTRON_INVALID,
                      "strategy: must be \"exact\", \"mmr\", \"boost\" or "
                      "\"rrf\"");
    rq->metric = VECTRON_METRIC_COSINE;
    if ((v = json_object_get(o, "metric"))) {
        static const vectron_metric ms[] = {
            VECTRON_METRIC_L2, VECTRON_METRIC_COSINE, VECTRON_METRIC_DOT};
        size_t i = 0;
        while (i < 3 &&
               !(json_is_string(v) &&
                 strcmp(json_string_value(v), rerank_metric_name(ms[i])) == 0))
            i++;
        if (i == 3)
            return vx_err(err, VECTRON_INVALID,
                          "metric: must be \"l2\", \"cosine\" or \"dot\"");
        rq->metric = ms[i];
    }
    if ((rc = number(json_object_get(o, "limit"), "limit", 1,
                     RERANK_MAX_CANDIDATES, &d, err)))
        return rc;
    rq->limit = (size_t)d;
    rq->lambda = 0.5;
    if ((v = json_object_get(o, "lambda")) &&
        (rc = number(v, "lambda", 0, 1, &rq->lambda, err)))
        return rc;
    rq->rrf_k = 60;
    if ((v = json_object_get(o, "rrf_k")) &&
        (rc = number(v, "rrf_k", 0, 1e6, &rq->rrf_k, err)))
        return rc;
    if ((v = json_object_get(o, "query")) && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) == 0 ||
            json_array_size(v) > VECTRON_MAX_DIM)
            return vx_err(err, VECTRON_INVALID,
                          "query: must be a vector of 1 to %u numbers",
                          VECTRON_MAX_DIM);
        rq->dim = (uint32_t)json_array_size(v);
        if (!(p->floats = vx_malloc(rq->dim * sizeof(float))))
            return vx_err(err, VECTRON_NOMEM, "query");
        if ((rc = vector(v, "query", rq->dim, p->floats, err)))
            return rc;
        rq->query = p->floats;
    }
    if ((rc = parse_candidates(json_object_get(o, "candidates"), body_len, p,
                               err)))
        return rc;
    if (rq->strategy == RERANK_RRF) {
        if ((rc = parse_lists(json_object_get(o, "lists"), p, err)))
            return rc;
    }
    if (rq->strategy == RERANK_BOOST) {
        if (!(v = json_object_get(o, "boosts")))
            return vx_err(err, VECTRON_INVALID, "boosts: missing");
        if ((rc = parse_boosts(v, p, now_s, err)))
            return rc;
    }
    return 0;
}

int rerank_request_parse(const char *body, size_t len, double now_s,
                         rerank_parsed *out, vectron_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = vx_json_load(body, len, "body", &out->root, err);
    if (!rc)
        rc = parse(out->root, len, out, now_s, err);
    if (rc)
        rerank_parsed_close(out);
    return rc;
}

void rerank_parsed_close(rerank_parsed *p)
{
    json_decref(p->root);
    vx_free(p->floats);
    vx_free(p->cands);
    vx_free(p->lists);
    vx_free(p->ids);
    vx_free(p->fields);
    memset(p, 0, sizeof *p);
}

int rerank_response_parse(const char *body, size_t len, size_t max,
                          rerank_fused **out, size_t *n, vectron_error *err)
{
    static const char *const eknown[] = {"id", "score", NULL};
    json_t *root = NULL;
    const json_t *a;
    rerank_fused *r = NULL;
    size_t m = 0;
    int rc;
    *out = NULL;
    *n = 0;
    if ((rc = vx_json_load(body, len, "response", &root, err)))
        return rc;
    if (!json_is_object(root) ||
        !json_is_array(a = json_object_get(root, "ranked"))) {
        rc = vx_err(err, VECTRON_INVALID,
                    "response: must be an object with a \"ranked\" list");
        goto out;
    }
    if ((m = json_array_size(a)) > max) {
        rc = vx_err(err, VECTRON_INVALID,
                    "response: %zu ranked entries, at most %zu asked for", m,
                    max);
        goto out;
    }
    if (!(r = vx_calloc(m ? m : 1, sizeof *r))) {
        rc = vx_err(err, VECTRON_NOMEM, "response");
        goto out;
    }
    for (size_t i = 0; i < m && !rc; i++) {
        const json_t *e = json_array_get(a, i);
        char path[48];
        snprintf(path, sizeof path, "ranked[%zu]", i);
        if (!json_is_object(e)) {
            rc = vx_err(err, VECTRON_INVALID, "%s: must be an object", path);
            break;
        }
        if ((rc = check_members(e, path, eknown, err)))
            break;
        snprintf(path, sizeof path, "ranked[%zu].id", i);
        if ((rc = vx_json_get_point_id(json_object_get(e, "id"), path, &r[i].id,
                                       err)))
            break;
        snprintf(path, sizeof path, "ranked[%zu].score", i);
        rc = number(json_object_get(e, "score"), path, -1e300, 1e300,
                    &r[i].score, err);
    }
out:
    json_decref(root);
    if (rc) {
        vx_free(r);
        return rc;
    }
    *out = r;
    *n = m;
    return 0;
}
