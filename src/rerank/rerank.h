/*
 * rerank.h - the reranker's strategies: pure functions that reorder the
 * candidates a search produced, given the query vector(s) and each
 * candidate's id, score, full-precision vector and payload. The gateway
 * calls them in-process after merging the shards' candidates, and
 * `vectron reranker` serves them over HTTP (docs/rerank.md).
 *
 * Scores. Every strategy writes each candidate's new score into
 * rerank_cand.score and sorts the array best first (ties: smaller point
 * id first). The score conventions are those of the collection's metric
 * for exact and mmr (Qdrant's: L2 is the Euclidean distance, lower is
 * better; cosine is the cosine similarity and dot the dot product, higher
 * is better) and "higher is better" for boost and rrf (docs/rerank.md).
 *
 * Similarity. mmr and boost need a similarity where higher is better:
 * sim = score for cosine and dot, sim = -score for L2.
 *
 * Errors: INVALID (bad parameters: a missing vector for exact or mmr, a
 * lambda outside [0, 1], a non-positive half-life), NOMEM. On error the
 * candidates keep their order and scores may be partly rewritten.
 *
 * Threading: reentrant, no global state; candidates and payloads are read
 * (payloads) or reordered (the array) by the one call.
 */
#ifndef VECTRON_RERANK_H
#define VECTRON_RERANK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/point_id.h"
#include "vectron/error.h"
#include "vectron/index.h"

typedef enum rerank_strategy {
    RERANK_NONE = 0,
    RERANK_EXACT = 1, /* rescore with full-precision vectors */
    RERANK_MMR = 2,   /* maximal marginal relevance (diversity) */
    RERANK_BOOST = 3, /* payload field weights and recency decay */
    RERANK_RRF = 4    /* reciprocal-rank fusion of several lists */
} rerank_strategy;

/* "exact", "mmr", "boost", "rrf" ("none" for RERANK_NONE); static. */
const char *rerank_strategy_name(rerank_strategy s);

/* Parses a strategy name of len bytes; -1 when unknown. */
int rerank_strategy_parse(const char *s, size_t len, rerank_strategy *out);

/* One candidate. vector and payload are borrowed for the call. */
typedef struct rerank_cand {
    point_id id;
    float score;           /* in: the search's score; out: the new score */
    const float *vector;   /* dim floats, or NULL when not loaded */
    const json_t *payload; /* a JSON object, or NULL */
} rerank_cand;

/* Sorts c[0..n) best first for the convention: higher_better or not;
 * ties by point id. */
void rerank_sort(rerank_cand *c, size_t n, int higher_better);

/* 1 if scores of this metric are better when higher (cosine, dot). */
int rerank_metric_higher_better(vectron_metric m);

/* ---- exact ------------------------------------------------------------- */

/* Rescores every candidate against query (dim floats) with the float
 * kernels of index/distance.h: L2 -> sqrt(sum (q - v)^2), cosine ->
 * q.v / (|q| |v|) (0 when either norm is 0), dot -> q.v. Then sorts. Every
 * candidate needs its vector (INVALID otherwise). */
int rerank_exact(const float *query, uint32_t dim, vectron_metric metric,
                 rerank_cand *c, size_t n, vectron_error *err);

/* The exact score of one vector for the metric (as above). */
float rerank_exact_score(const float *query, const float *v, uint32_t dim,
                         vectron_metric metric);

/* ---- mmr --------------------------------------------------------------- */

/* Maximal marginal relevance: picks up to `limit` candidates one at a
 * time, each maximising
 *     lambda * sim(q, c) - (1 - lambda) * max over picked p of sim(c, p)
 * (the first pick: the most relevant), where sim is the metric's
 * similarity of the exact scores (above). c[0..min(limit, n)) receives the
 * picks in order, the rest follow by relevance; every score becomes the
 * candidate's exact score against the query. lambda in [0, 1]: 1 is pure
 * relevance, 0 pure diversity. Needs every vector. Cost: O(n * limit *
 * dim). */
int rerank_mmr(const float *query, uint32_t dim, vectron_metric metric,
               double lambda, size_t limit, rerank_cand *c, size_t n,
               vectron_error *err);

/* ---- boost ------------------------------------------------------------- */

typedef struct rerank_field_weight {
    const char *field; /* dotted payload path ("a.b"), borrowed */
    double weight;
} rerank_field_weight;

typedef struct rerank_boost {
    const rerank_field_weight *fields; /* nfields entries, borrowed */
    size_t nfields;
    /* Recency: time_field NULL disables it. */
    const char *time_field; /* dotted payload path, borrowed */
    double half_life_s;     /* > 0 */
    double recency_weight;
    double now_s; /* the reference time, Unix epoch seconds */
} rerank_boost;

/* new score = sim + sum over fields of weight * value
 *                 + recency_weight * 0.5 ^ (max(0, now - t) / half_life)
 * where sim is the candidate's similarity (score for cosine and dot,
 * -score for L2), value a numeric payload field (a JSON integer or real;
 * absent or any other type: 0), and t the time field read by
 * rerank_parse_time (absent or unreadable: the recency term is 0).
 * Vectors are not needed. Then sorts, higher first. */
int rerank_boost_apply(const rerank_boost *b, vectron_metric metric,
                       rerank_cand *c, size_t n, vectron_error *err);

/* Reads a timestamp: a JSON number is Unix epoch seconds (fractions
 * allowed); a string is RFC 3339 ("2024-05-01T12:00:00Z",
 * "2024-05-01t12:00:00.25+02:00", a space for T allowed). Returns 0 and
 * *out (epoch seconds), or -1. */
int rerank_parse_time(const json_t *v, double *out);

/* The same for text s[0..n) in RFC 3339 form. */
int rerank_parse_rfc3339(const char *s, size_t n, double *out);

/* The payload value at dotted path (walking objects); NULL if absent. */
const json_t *rerank_payload_get(const json_t *payload, const char *path);

/* ---- rrf --------------------------------------------------------------- */

/* One ranked list: ids[0] is rank 1. Borrowed. */
typedef struct rerank_list {
    const point_id *ids;
    size_t n;
} rerank_list;

/* A ranked result: a fused id (rrf) or any strategy's output. */
typedef struct rerank_fused {
    point_id id;
    double score; /* rrf: sum over lists containing id of 1 / (k + rank) */
} rerank_fused;

/* Reciprocal-rank fusion of lists[0..nlists) with constant k (>= 0; 60
 * is the usual choice): *out (vx_malloc'd, *nout entries, free with
 * vx_free) holds every distinct id, best first (ties: smaller id). An id
 * repeated within one list counts at its best rank there. */
int rerank_rrf(const rerank_list *lists, size_t nlists, double k,
               rerank_fused **out, size_t *nout, vectron_error *err);

/* ---- one call for any strategy ----------------------------------------- */

/* A rerank request: what the gateway hands to the in-process strategies
 * or sends to a rerank service (rerank_json.c; docs/rerank.md). Every
 * pointer is borrowed. */
typedef struct rerank_request {
    rerank_strategy strategy;
    vectron_metric metric;
    uint32_t dim;
    const float *query; /* dim floats; needed by exact and mmr */
    rerank_cand *cands; /* exact, mmr, boost: reordered in place */
    size_t ncands;
    const rerank_list *lists; /* rrf */
    size_t nlists;
    size_t limit;  /* results wanted, >= 1 */
    double lambda; /* mmr */
    rerank_boost boost;
    double rrf_k; /* rrf */
} rerank_request;

/* Runs rq's strategy and returns the best min(limit, candidates) results
 * in *out (vx_malloc'd, *nout entries, free with vx_free), best first.
 * Errors: as the strategy's; INVALID for RERANK_NONE. */
int rerank_run(rerank_request *rq, rerank_fused **out, size_t *nout,
               vectron_error *err);

#endif
