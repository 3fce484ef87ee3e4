/*
 * qdrant_json_int.h - private header of the gateway's JSON layer: the
 * internals shared by qdrant_json.c (JSON primitives, point ids, enums),
 * qdrant_decode_ctx.c (the decoding context and the value decoders),
 * qdrant_decode.c (request decoders), qdrant_bulk.c (the binary
 * bulk-upsert body) and qdrant_encode.c (response encoders). Not for the
 * HTTP handlers: they use qdrant_json.h only.
 *
 * Threading: as qdrant_json.h. Everything here is reentrant; a gw_jctx and
 * a gw_buf belong to the one call that set them up.
 */
#ifndef VECTRON_GW_QDRANT_JSON_INT_H
#define VECTRON_GW_QDRANT_JSON_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "gateway/qdrant_json.h"

/* ---- allocation and buffers (qdrant_json.c) ---------------------------- */

/* vx_malloc that never asks for zero bytes (which may legally return
 * NULL and would read as out-of-memory). */
static inline void *gw_xalloc(size_t n)
{
    return vx_malloc(n ? n : 1);
}

static inline void *gw_xcalloc(size_t count, size_t size)
{
    return vx_calloc(count ? count : 1, size);
}

/* A growable byte buffer; zero-initialise it, release p with vx_free. */
typedef struct gw_buf {
    char *p;
    size_t len, cap;
} gw_buf;

/* Appends n bytes of s to b. -1 when out of memory (b unchanged). */
int gw_buf_add(gw_buf *b, const void *s, size_t n);

/* ---- big-number aware text (qdrant_json.c) ----------------------------- */

/* Parses a canonical unsigned decimal (no sign, no leading zeros) of n
 * bytes. -1 if malformed or above 2^64-1. */
int gw_parse_u64(const char *s, size_t n, uint64_t *out);

/* Appends the compact serialisation of j to b, markers resolved. On error
 * (NOMEM) b->len is as before. */
int gw_dump_into(gw_buf *b, const json_t *j, vectron_error *err);

/* gw_json_load with `what` naming the text in messages ("body",
 * "points[3].payload"). */
int gw_load_text(const char *text, size_t len, const char *what, json_t **out,
                 vectron_error *err);

/* Numbers as JSON (new references, NULL when out of memory): an integer
 * or, above INT64_MAX, a marker; a float32 in its shortest round-tripping
 * form (non-finite: null); a double with 9 significant digits (non-finite:
 * 0). */
json_t *gw_ju64(uint64_t v);
json_t *gw_jfloat(float f);
/* The text gw_jfloat writes for a finite f into buf (40 bytes); returns its
 * length. */
size_t gw_format_float(float f, char *buf);
json_t *gw_jdouble(double v);

/* ---- decoding context (qdrant_decode_ctx.c) ---------------------------- */

/* The state of one decode: limits, where errors go, and the JSON path of
 * the value being decoded, which every error message starts with. The
 * path buffer is bounded; a longer path is cut (messages stay readable and
 * NUL-terminated). */
typedef struct gw_jctx {
    vectron_error *err;
    gw_limits lim;
    size_t body_len;  /* bytes of the body being decoded */
    uint32_t vstride; /* upsert: floats between decoded vectors */
    size_t plen;
    char path[192];
    float *pre_vector; /* search: the vector gw_fast_vector decoded, owned
                          until the decoder takes it; upsert: the vectors
                          gw_fast_points decoded (pre_count of them) */
    size_t pre_count;
} gw_jctx;

/* The fast path for a search body's vector (qdrant_fastvec.c): when the
 * top-level member key of text is an array of exactly dim plain numbers
 * within float32 range, decodes it into dst, sets *out (vx_malloc'd,
 * *out_len bytes) to text with that array replaced by null and returns 0;
 * otherwise returns -1 and the caller decodes text as usual. */
int gw_fast_vector(const char *text, size_t len, const char *key, uint32_t dim,
                   float *dst, char **out, size_t *out_len);

/* The same for an upsert body {"points": [{.., "vector": [..], ..}, ..]}:
 * when every point has a "vector" member that is an array of exactly dim
 * plain numbers within float32 range (and there are at most max_points),
 * decodes them into *vecs (vx_malloc'd, *count * dim floats, point order),
 * sets *out to text with each of those arrays replaced by null and
 * returns 0; otherwise -1. */
int gw_fast_points(const char *text, size_t len, uint32_t dim,
                   size_t max_points, float **vecs, size_t *count, char **out,
                   size_t *out_len);

/* Sets up c with lim (NULL: the defaults; max_dim clamped to
 * VECTRON_MAX_DIM) and clears err. */
void gw_ctx_init(gw_jctx *c, const gw_limits *lim, vectron_error *err);

/* Extends the path with ".key" (key not NULL; no dot at the start) or
 * "[i]" and returns the mark that gw_pop takes to cut it back. */
size_t gw_push_key(gw_jctx *c, const char *key);
size_t gw_push_idx(gw_jctx *c, size_t i);
void gw_pop(gw_jctx *c, size_t mark);

/* INVALID "path: message"; NOMEM "path: out of memory". */
int gw_fail(gw_jctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int gw_oom(gw_jctx *c);

/* Member k of object o; NULL when absent or null. Borrowed from o. */
const json_t *gw_get(const json_t *o, const char *k);

/* 1 if k is in the NULL-terminated list l (which may be NULL). */
int gw_in_list(const char *const *l, const char *k);

/* Rejects members of o outside known and ignored, and non-null members in
 * unsupported (each a NULL-terminated list, or NULL). */
int gw_check_fields(gw_jctx *c, const json_t *o, const char *const *known,
                    const char *const *ignored, const char *const *unsupported);

/* "must be a JSON object" unless v is one; "missing field \"k\"". */
int gw_need_object(gw_jctx *c, const json_t *v);
int gw_missing(gw_jctx *c, const char *k);

/* Parses the body into *root (a new reference to an object); an empty (or
 * blank) body is {} when empty_ok. Records len as c->body_len. */
int gw_load_root(gw_jctx *c, const char *body, size_t len, int empty_ok,
                 json_t **root);

/* ---- value decoders (qdrant_decode_ctx.c) ------------------------------ */

/* The gw_opt_* decoders read member k of o at path ".k": absent or null
 * leaves *out untouched and returns 0. */

/* An unsigned integer (jansson integer or marker) in [lo, hi]. */
int gw_as_uint(gw_jctx *c, const json_t *v, uint64_t lo, uint64_t hi,
               uint64_t *out);
int gw_opt_uint(gw_jctx *c, const json_t *o, const char *k, uint64_t lo,
                uint64_t hi, uint32_t *out);
int gw_opt_bool(gw_jctx *c, const json_t *o, const char *k, int *out);

/* A number in [lo, hi]; *present (may be NULL) set when given. */
int gw_opt_number(gw_jctx *c, const json_t *o, const char *k, double lo,
                  double hi, double *out, int *present);
int gw_opt_consistency(gw_jctx *c, const json_t *o, const char *k,
                       gw_consistency *out);

/* Member "filter" of o; *out owned by the caller (gw_filter_free). */
int gw_opt_filter(gw_jctx *c, const json_t *o, gw_filter **out);

/* A string that is not a marker, non-empty when nonempty is set; *s is
 * borrowed from v. */
int gw_as_string(gw_jctx *c, const json_t *v, int nonempty, const char **s,
                 size_t *len);

/* A NUL-terminated vx_malloc copy of s[0..n); NULL when out of memory. */
char *gw_dup_n(const char *s, size_t n);

/* Decodes vector v of exactly dim finite float32 components into dst
 * (dim floats). Only errors allocate nothing; this is the write path's hot
 * loop. */
int gw_decode_vector(gw_jctx *c, const json_t *v, uint32_t dim, float *dst);

/* A list of point ids (at most max_batch); *ids owned by the caller
 * (vx_free), NULL on error. */
int gw_id_list(gw_jctx *c, const json_t *v, point_id **ids, size_t *n);

/* A list of non-empty strings (at most max_batch); *keys owned by the
 * caller (gw_free_keys), NULL on error. */
int gw_key_list(gw_jctx *c, const json_t *v, char ***keys, size_t *n);
void gw_free_keys(char **keys, size_t n);

/* with_payload: bool, [keys], {"include": [..]} or {"exclude": [..]}. */
int gw_opt_with_payload(gw_jctx *c, const json_t *o, gw_payload_select *out);
void gw_payload_select_close(gw_payload_select *p);

/* with_vector (alias with_vectors): a boolean; lists name vectors. */
int gw_opt_with_vector(gw_jctx *c, const json_t *o, int *out);

/* Appends payload object v as compact text plus a NUL to arena; the text
 * is arena->p[*off .. *off + *len). */
int gw_payload_text(gw_jctx *c, const json_t *v, gw_buf *arena, size_t *off,
                    size_t *len);

/* ---- the rerank extension (qdrant_decode_rerank.c) ---------------------- */

/* Decodes the "rerank" member v of search s at the current path, once s's
 * query, limit and offset are decoded (they are checked against it).
 * Fills s->rerank (released by gw_search_close). */
int gw_decode_rerank(gw_jctx *c, const json_t *v, uint32_t dim, gw_search *s);

/* ---- upsert storage (qdrant_decode.c), shared with qdrant_bulk.c ------- */

/* Allocates ids and vectors for count points plus a scratch array *offs
 * of payload offsets (SIZE_MAX: none; free with vx_free). Sets
 * c->vstride: 0 when the body is too small to hold count * dim
 * components, so that one vector's room is reused (see qdrant_decode.c). */
int gw_upsert_alloc(gw_jctx *c, gw_upsert *u, size_t count, uint32_t dim,
                    size_t **offs);

/* Points u's payloads into the arena, which u then owns (arena->p is
 * NULL afterwards). */
void gw_upsert_finish(gw_upsert *u, gw_buf *arena, const size_t *offs);

#endif
