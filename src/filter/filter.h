/*
 * filter.h - Qdrant payload filters: decoding from JSON into an immutable
 * tree, evaluation against one point (payload + id), a canonical JSON form
 * for forwarding to workers, and extraction of the conjunctive conditions a
 * payload index can answer (for the query planner).
 *
 * Accepted syntax and the exact matching semantics are documented in
 * docs/api-json.md ("Filters"). In short:
 *   filter    = { "must": C, "should": C, "must_not": C,
 *                 "min_should": {"conditions": [..], "min_count": n} }
 *               where C is one condition or an array of conditions;
 *   condition = { "key": k, "match": {"value"|"any"|"except"|"text": ..} }
 *             | { "key": k, "range": {"gt"|"gte"|"lt"|"lte": number} }
 *             | { "key": k, "values_count": {"gt"|..: count} }
 *             | { "has_id": [ids] } | { "is_empty": {"key": k} }
 *             | { "is_null": {"key": k} }
 *             | { "nested": {"key": k, "filter": filter} }
 *             | filter   (a nested group)
 * A key is a dotted path ("a.b.c"; "a[].b" is accepted and means the same).
 * Walking a path steps into objects; an array met on the way is flattened
 * (each element is walked); a condition on a field matches if ANY value the
 * path reaches matches (and, for a value that is an array, if any element
 * matches) - Qdrant's semantics.
 *
 * Ownership: a gw_filter owns all its memory (one arena). Nothing returned
 * by these functions borrows from the JSON it was decoded from.
 *
 * Threading: a decoded gw_filter is immutable; gw_filter_match,
 * gw_filter_to_json and gw_filter_index_conds may run concurrently on the
 * same filter from any number of threads. Payloads passed to
 * gw_filter_match are only read.
 */
#ifndef VECTRON_FILTER_H
#define VECTRON_FILTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/point_id.h"
#include "vectron/error.h"

/* Deepest nesting of filter groups / nested conditions accepted when the
 * caller passes 0 as max_depth. */
#define GW_FILTER_DEFAULT_MAX_DEPTH 16u

typedef struct gw_filter gw_filter;

/* Decodes the filter object j. path names j in error messages ("filter",
 * "searches[2].filter"; NULL or "" means the top level). max_depth bounds
 * group nesting (0: GW_FILTER_DEFAULT_MAX_DEPTH); max_list bounds the
 * length of every has_id / any / except / condition list (0: unbounded).
 * j is borrowed for the call only and may contain the big-number markers
 * produced by vx_json_load (see common/json.h).
 * On success *out owns a new filter (free with gw_filter_free). Errors:
 * INVALID with a message naming the JSON path ("filter.must[1].match.any[2]:
 * mixed types (expected string)"); NOMEM. On error *out is NULL and nothing
 * stays allocated. */
int gw_filter_decode(const json_t *j, const char *path, unsigned max_depth,
                     size_t max_list, gw_filter **out, vectron_error *err);

/* Parses JSON text (len bytes, need not be NUL-terminated) with
 * vx_json_load and decodes it as above with path "filter". */
int gw_filter_parse(const char *text, size_t len, unsigned max_depth,
                    gw_filter **out, vectron_error *err);

/* Frees f and everything it owns. NULL is a no-op. */
void gw_filter_free(gw_filter *f);

/* Returns 1 if the point matches f, else 0. payload is the point's payload
 * (a JSON object; NULL means the empty payload), borrowed and only read.
 * id is the point's id (borrowed; NULL: has_id conditions never match).
 * Inside a "nested" condition the payload is the array element and has_id
 * is not allowed (rejected at decode time). Payload numbers may be jansson
 * integers, reals or big-number markers (vx_json_load). Cannot fail. */
int gw_filter_match(const gw_filter *f, const json_t *payload,
                    const point_id *id);

/* Builds the canonical JSON form of f: a new reference (decref it), or
 * NULL when out of memory. Ids above INT64_MAX are big-number markers, so
 * serialise the result with gw_json_dump; gw_filter_parse of that text
 * yields an equivalent filter. */
json_t *gw_filter_to_json(const gw_filter *f);

/* ---- planner support -------------------------------------------------- */

typedef enum gw_value_type {
    GW_VALUE_STRING = 0,
    GW_VALUE_INT = 1,
    GW_VALUE_BOOL = 2
} gw_value_type;

/* One scalar of a match condition. s points into the filter's arena
 * (NUL-terminated, len bytes, no embedded NUL). */
typedef struct gw_value {
    gw_value_type type;
    int64_t i;     /* GW_VALUE_INT */
    int b;         /* GW_VALUE_BOOL: 0 or 1 */
    const char *s; /* GW_VALUE_STRING */
    size_t len;
} gw_value;

/* A numeric range; a bound applies only when its has_ flag is set. */
typedef struct gw_range {
    int has_gt, has_gte, has_lt, has_lte;
    double gt, gte, lt, lte;
} gw_range;

typedef enum gw_index_cond_kind {
    GW_ICOND_EQ = 0,    /* key's value equals value */
    GW_ICOND_ANY = 1,   /* key's value is one of values[0..nvalues) */
    GW_ICOND_RANGE = 2, /* key's numeric value lies in range */
    GW_ICOND_HAS_ID = 3 /* the point id is one of ids[0..nids) */
} gw_index_cond_kind;

/* One condition a payload index can answer. Pointers borrow from the
 * filter and stay valid until gw_filter_free. */
typedef struct gw_index_cond {
    gw_index_cond_kind kind;
    const char *key;        /* normalised dotted path ("a.b"); NULL for
                               HAS_ID */
    gw_value value;         /* EQ */
    const gw_value *values; /* ANY: sorted (ints ascending, strings
                               bytewise), unique, all of one type */
    size_t nvalues;
    gw_range range;      /* RANGE */
    const point_id *ids; /* HAS_ID: sorted by point_id_cmp, unique */
    size_t nids;
} gw_index_cond;

/* Lists the conditions that every matching point necessarily satisfies
 * and that an equality/range index or the id map can answer: field match
 * value / any, range and has_id conditions of the top-level conjunction
 * (must, nested groups' must, and a should holding exactly one condition).
 * They are necessary, not sufficient: the planner may intersect index
 * candidates but must still run gw_filter_match on each candidate. Writes
 * up to cap entries to out (out may be NULL when cap is 0) and returns the
 * total number available, so a caller can size its array. Cannot fail. */
size_t gw_filter_index_conds(const gw_filter *f, gw_index_cond *out,
                             size_t cap);

#endif
