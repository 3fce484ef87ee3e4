/*
 * rerank_json.h - the HTTP/JSON contract of a rerank service
 * (docs/rerank.md): POST /rerank with a request body
 *
 *   {"strategy": "exact" | "mmr" | "boost" | "rrf",
 *    "metric": "l2" | "cosine" | "dot",
 *    "query": [floats],                       exact, mmr
 *    "candidates": [{"id", "score", "vector"?, "payload"?}, ..],
 *    "lists": [[id, ..], ..],                 rrf
 *    "limit": n, "lambda": x, "rrf_k": k,
 *    "boosts": {"fields": {path: weight}, "recency": {"field",
 *               "half_life_s", "weight", "now"}}}
 *
 * answered with {"ranked": [{"id", "score"}, ..]}, best first, at most
 * limit entries. The gateway encodes requests and parses responses; the
 * `vectron reranker` service parses requests and encodes responses. Any
 * other implementation (a learned model) only has to honour this text.
 *
 * Errors: INVALID with a message naming the JSON path ("candidates[3].
 * vector: 3 components, the query has 4"), NOMEM.
 *
 * Threading: reentrant; a rerank_parsed belongs to one thread at a time.
 */
#ifndef VECTRON_RERANK_JSON_H
#define VECTRON_RERANK_JSON_H

#include <stddef.h>

#include "rerank/rerank.h"

/* Most candidates and lists a request may carry. */
#define RERANK_MAX_CANDIDATES 100000u
#define RERANK_MAX_LISTS 65u

/* "l2", "cosine", "dot"; static. */
const char *rerank_metric_name(vectron_metric m);

/* Encodes rq as a request body into *out (vx_malloc'd, NUL-terminated,
 * *len bytes; free with vx_free). Vectors are sent for exact and mmr,
 * payloads for boost; the other strategies' parameters are left out. */
int rerank_request_encode(const rerank_request *rq, char **out, size_t *len,
                          vectron_error *err);

/* A parsed request: rq points into the storage it owns. */
typedef struct rerank_parsed {
    rerank_request rq;
    json_t *root;  /* the body; candidates' payloads point into it */
    float *floats; /* the query and the candidates' vectors */
    rerank_cand *cands;
    rerank_list *lists;
    point_id *ids; /* the lists' ids */
    rerank_field_weight *fields;
} rerank_parsed;

/* Parses a request body of len bytes (need not be NUL-terminated).
 * now_s is used when a boost's recency gives no "now". On success *out
 * owns everything (rerank_parsed_close); on error it is zeroed. */
int rerank_request_parse(const char *body, size_t len, double now_s,
                         rerank_parsed *out, vectron_error *err);

void rerank_parsed_close(rerank_parsed *p);

/* {"ranked": [{"id", "score"}..]} into *out (vx_malloc'd, *len bytes). */
int rerank_response_encode(const rerank_fused *r, size_t n, char **out,
                           size_t *len, vectron_error *err);

/* Parses a response body: at most max entries (more is INVALID), each id
 * a point id and each score a finite number. *out (vx_malloc'd, free
 * with vx_free) holds *n entries. */
int rerank_response_parse(const char *body, size_t len, size_t max,
                          rerank_fused **out, size_t *n, vectron_error *err);

#endif
