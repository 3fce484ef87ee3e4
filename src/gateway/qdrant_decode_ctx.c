/*
 * qdrant_decode_ctx.c - the decoding context that every request decoder
 * (qdrant_decode.c, qdrant_bulk.c) works in: the JSON path that starts
 * each error message, field checks, loading the body, and the decoders of
 * values that recur across requests (integers, numbers, filters, vectors,
 * id and key lists, with_payload, with_vector, payload text). Declared in
 * qdrant_json_int.h.
 *
 * Threading: reentrant; a gw_jctx lives on the stack of one decode call.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "gateway/qdrant_json_int.h"

/* ---- decoding context -------------------------------------------------- */

void gw_ctx_init(gw_jctx *c, const gw_limits *lim, vectron_error *err)
{
    c->err = err;
    if (lim) {
        c->lim = *lim;
    } else {
        gw_limits_default(&c->lim);
    }
    if (c->lim.max_dim == 0 || c->lim.max_dim > VECTRON_MAX_DIM) {
        c->lim.max_dim = VECTRON_MAX_DIM;
    }
    c->body_len = 0;
    c->vstride = 0;
    c->plen = 0;
    c->pre_vector = NULL;
    c->pre_count = 0;
    c->path[0] = '\0';
    vectron_error_clear(err);
}

/* Moves the end of the path past the n bytes that snprintf reported for a
 * segment written there into room bytes (cut to what fitted); returns the
 * previous end, the mark for gw_pop. */
static size_t grow(gw_jctx *c, size_t room, int n)
{
    size_t mark = c->plen;

    if (n > 0) {
        c->plen += (size_t)n < room ? (size_t)n : room - 1;
    }
    return mark;
}

size_t gw_push_key(gw_jctx *c, const char *key)
{
    size_t room = sizeof c->path - c->plen;

    return grow(
        c, room,
        snprintf(c->path + c->plen, room, "%s%s", c->plen ? "." : "", key));
}

size_t gw_push_idx(gw_jctx *c, size_t i)
{
    size_t room = sizeof c->path - c->plen;

    return grow(c, room, snprintf(c->path + c->plen, room, "[%zu]", i));
}

void gw_pop(gw_jctx *c, size_t mark)
{
    c->plen = mark;
    c->path[mark] = '\0';
}

static const char *cur_path(const gw_jctx *c)
{
    return c->plen ? c->path : "body";
}

int gw_fail(gw_jctx *c, const char *fmt, ...)
{
    char msg[VECTRON_ERROR_MSG_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vx_err(c->err, VECTRON_INVALID, "%s: %s", cur_path(c), msg);
}

int gw_oom(gw_jctx *c)
{
    return vx_err(c->err, VECTRON_NOMEM, "%s: out of memory", cur_path(c));
}

/* Member k of object o; NULL when absent or null. */
const json_t *gw_get(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_null(v) ? NULL : v;
}

int gw_in_list(const char *const *l, const char *k)
{
    for (; l && *l; l++) {
        if (strcmp(*l, k) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Rejects members of o outside known and ignored, and non-null members in
 * unsupported. */
int gw_check_fields(gw_jctx *c, const json_t *o, const char *const *known,
                    const char *const *ignored, const char *const *unsupported)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)o, k, v)
    {
        if (gw_in_list(known, k) || gw_in_list(ignored, k)) {
            continue;
        }
        if (gw_in_list(unsupported, k)) {
            if (json_is_null(v)) {
                continue;
            }
            size_t m = gw_push_key(c, k);
            int rc = gw_fail(c, "not supported by Vectron");
            gw_pop(c, m);
            return rc;
        }
        return gw_fail(c, "unknown field \"%.60s\"", k);
    }
    return 0;
}

int gw_need_object(gw_jctx *c, const json_t *v)
{
    return json_is_object(v) ? 0 : gw_fail(c, "must be a JSON object");
}

int gw_missing(gw_jctx *c, const char *k)
{
    return gw_fail(c, "missing field \"%s\"", k);
}

/* Parses the body; an empty (or blank) body is {} when empty_ok. */
int gw_load_root(gw_jctx *c, const char *body, size_t len, int empty_ok,
                 json_t **root)
{
    size_t i = 0;
    int rc;

    while (body && i < len &&
           (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' ||
            body[i] == '\r')) {
        i++;
    }
    c->body_len = len;
    if (!body || i == len) {
        if (!empty_ok) {
            return gw_fail(c, "must be a JSON object (the body is empty)");
        }
        *root = json_object();
        return *root ? 0 : gw_oom(c);
    }
    rc = gw_load_text(body, len, "body", root, c->err);
    if (rc == 0 && !json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        rc = gw_fail(c, "must be a JSON object");
    }
    return rc;
}

/* ---- value decoders (at the current path) ------------------------------ */

int gw_as_uint(gw_jctx *c, const json_t *v, uint64_t lo, uint64_t hi,
               uint64_t *out)
{
    uint64_t x;

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0) {
            return gw_fail(c, "must be a non-negative integer (got %lld)",
                           (long long)i);
        }
        x = (uint64_t)i;
    } else if (gw_json_is_bignum(v)) {
        const char *s = json_string_value(v) + 1;
        if (*s == '-') {
            return gw_fail(c, "must be a non-negative integer (got %.40s)", s);
        }
        if (gw_parse_u64(s, strlen(s), &x)) {
            return gw_fail(c, "%.40s exceeds the maximum of %" PRIu64, s, hi);
        }
    } else {
        return gw_fail(c, "must be a non-negative integer");
    }
    if (x < lo) {
        return gw_fail(c, "must be at least %" PRIu64, lo);
    }
    if (x > hi) {
        return gw_fail(c, "%" PRIu64 " exceeds the maximum of %" PRIu64, x, hi);
    }
    *out = x;
    return 0;
}

/* Any JSON number (integer, real or marker) as a double. */
static int num_value(const json_t *v, double *out)
{
    if (json_is_real(v)) {
        *out = json_real_value(v);
    } else if (json_is_integer(v)) {
        *out = (double)json_integer_value(v);
    } else if (gw_json_is_bignum(v)) {
        *out = strtod(json_string_value(v) + 1, NULL);
    } else {
        return -1;
    }
    return 0;
}

int gw_opt_uint(gw_jctx *c, const json_t *o, const char *k, uint64_t lo,
                uint64_t hi, uint32_t *out)
{
    const json_t *v = gw_get(o, k);
    uint64_t x;
    size_t m;
    int rc;

    if (!v) {
        return 0;
    }
    m = gw_push_key(c, k);
    rc = gw_as_uint(c, v, lo, hi, &x);
    gw_pop(c, m);
    if (rc == 0) {
        *out = (uint32_t)x;
    }
    return rc;
}

int gw_opt_bool(gw_jctx *c, const json_t *o, const char *k, int *out)
{
    const json_t *v = gw_get(o, k);
    size_t m;
    int rc;

    if (!v) {
        return 0;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    m = gw_push_key(c, k);
    rc = gw_fail(c, "must be true or false");
    gw_pop(c, m);
    return rc;
}

/* A number in [lo, hi]; *present set when given. */
int gw_opt_number(gw_jctx *c, const json_t *o, const char *k, double lo,
                  double hi, double *out, int *present)
{
    const json_t *v = gw_get(o, k);
    size_t m;
    double d;
    int rc = 0;

    if (!v) {
        return 0;
    }
    m = gw_push_key(c, k);
    if (num_value(v, &d)) {
        rc = gw_fail(c, "must be a number");
    } else if (!(d >= lo && d <= hi)) {
        rc = gw_fail(c, "must be between %g and %g", lo, hi);
    } else {
        *out = d;
        if (present) {
            *present = 1;
        }
    }
    gw_pop(c, m);
    return rc;
}

int gw_opt_consistency(gw_jctx *c, const json_t *o, const char *k,
                       gw_consistency *out)
{
    const json_t *v = gw_get(o, k);
    size_t m;
    int rc = 0;

    if (!v) {
        return 0;
    }
    m = gw_push_key(c, k);
    if (!json_is_string(v) ||
        gw_consistency_parse(json_string_value(v), json_string_length(v), out,
                             NULL)) {
        rc = gw_fail(c, "must be \"strong\", \"bounded\" or \"eventual\"");
    }
    gw_pop(c, m);
    return rc;
}

int gw_opt_filter(gw_jctx *c, const json_t *o, gw_filter **out)
{
    const json_t *v = gw_get(o, "filter");
    size_t m;
    int rc;

    if (!v) {
        return 0;
    }
    m = gw_push_key(c, "filter");
    rc = gw_filter_decode(v, c->path, c->lim.max_filter_depth, c->lim.max_batch,
                          out, c->err);
    gw_pop(c, m);
    return rc;
}

/* A string that is not a marker, non-empty when nonempty is set. */
int gw_as_string(gw_jctx *c, const json_t *v, int nonempty, const char **s,
                 size_t *len)
{
    if (!json_is_string(v) || gw_json_is_bignum(v)) {
        return gw_fail(c, "must be a string");
    }
    if (nonempty && json_string_length(v) == 0) {
        return gw_fail(c, "must not be empty");
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

char *gw_dup_n(const char *s, size_t n)
{
    char *d = vx_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Decodes vector v of exactly dim finite float32 components into dst.
 * Only errors allocate nothing; this is the write path's hot loop. */
int gw_decode_vector(gw_jctx *c, const json_t *v, uint32_t dim, float *dst)
{
    size_t n;

    if (!json_is_array(v)) {
        if (json_is_object(v)) {
            return gw_fail(c, "named vectors are not supported by Vectron");
        }
        return gw_fail(c, "must be an array of %u numbers", dim);
    }
    n = json_array_size(v);
    if (n != dim) {
        return gw_fail(c, "expected dimension %u, got %zu", dim, n);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        double d;
        if (json_is_real(e)) {
            d = json_real_value(e);
        } else if (json_is_integer(e)) {
            d = (double)json_integer_value(e);
        } else if (num_value(e, &d)) {
            size_t m = gw_push_idx(c, i);
            int rc = gw_fail(c, "not a finite number");
            gw_pop(c, m);
            return rc;
        }
        if (!(fabs(d) <= FLT_MAX)) {
            size_t m = gw_push_idx(c, i);
            int rc = gw_fail(c, "%g is outside the float32 range", d);
            gw_pop(c, m);
            return rc;
        }
        dst[i] = (float)d;
    }
    return 0;
}

/* Decodes a list of point ids (at most max_batch). */
int gw_id_list(gw_jctx *c, const json_t *v, point_id **ids, size_t *n)
{
    size_t cnt;

    *ids = NULL;
    *n = 0;
    if (!json_is_array(v)) {
        return gw_fail(c, "must be an array of point ids");
    }
    cnt = json_array_size(v);
    if (cnt > c->lim.max_batch) {
        return gw_fail(c, "%zu ids exceed the maximum of %u", cnt,
                       c->lim.max_batch);
    }
    *ids = gw_xcalloc(cnt, sizeof **ids);
    if (!*ids) {
        return gw_oom(c);
    }
    for (size_t i = 0; i < cnt; i++) {
        size_t m = gw_push_idx(c, i);
        int rc = gw_json_get_point_id(json_array_get(v, i), c->path, &(*ids)[i],
                                      c->err);
        gw_pop(c, m);
        if (rc) {
            vx_free(*ids);
            *ids = NULL;
            return rc;
        }
    }
    *n = cnt;
    return 0;
}

void gw_free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vx_free(keys[i]);
    }
    vx_free(keys);
}

/* Decodes a list of non-empty strings (at most max_batch). */
int gw_key_list(gw_jctx *c, const json_t *v, char ***keys, size_t *n)
{
    size_t cnt;
    char **k;

    *keys = NULL;
    *n = 0;
    if (!json_is_array(v)) {
        return gw_fail(c, "must be an array of strings");
    }
    cnt = json_array_size(v);
    if (cnt > c->lim.max_batch) {
        return gw_fail(c, "%zu keys exceed the maximum of %u", cnt,
                       c->lim.max_batch);
    }
    k = gw_xcalloc(cnt, sizeof *k);
    if (!k) {
        return gw_oom(c);
    }
    for (size_t i = 0; i < cnt; i++) {
        size_t m = gw_push_idx(c, i), len = 0;
        const char *s = NULL;
        int rc = gw_as_string(c, json_array_get(v, i), 1, &s, &len);
        if (rc == 0 && !(k[i] = gw_dup_n(s, len))) {
            rc = gw_oom(c);
        }
        gw_pop(c, m);
        if (rc) {
            gw_free_keys(k, cnt);
            return rc;
        }
    }
    *keys = k;
    *n = cnt;
    return 0;
}

void gw_payload_select_close(gw_payload_select *p)
{
    gw_free_keys(p->keys, p->nkeys);
    p->keys = NULL;
    p->nkeys = 0;
    p->mode = GW_PAYLOAD_NONE;
}

/* with_payload: bool, [keys], {"include": [..]} or {"exclude": [..]}. */
int gw_opt_with_payload(gw_jctx *c, const json_t *o, gw_payload_select *out)
{
    static const char *const known[] = {"include", "exclude", NULL};
    const json_t *v = gw_get(o, "with_payload"), *inc, *exc;
    size_t m;
    int rc = 0;

    if (!v) {
        return 0;
    }
    m = gw_push_key(c, "with_payload");
    if (json_is_boolean(v)) {
        out->mode = json_is_true(v) ? GW_PAYLOAD_ALL : GW_PAYLOAD_NONE;
    } else if (json_is_array(v)) {
        out->mode = GW_PAYLOAD_INCLUDE;
        rc = gw_key_list(c, v, &out->keys, &out->nkeys);
    } else if (json_is_object(v)) {
        rc = gw_check_fields(c, v, known, NULL, NULL);
        inc = gw_get(v, "include");
        exc = gw_get(v, "exclude");
        if (rc == 0 && (!inc == !exc)) {
            rc = gw_fail(c, "give exactly one of \"include\" and \"exclude\"");
        }
        if (rc == 0) {
            size_t m2 = gw_push_key(c, inc ? "include" : "exclude");
            out->mode = inc ? GW_PAYLOAD_INCLUDE : GW_PAYLOAD_EXCLUDE;
            rc = gw_key_list(c, inc ? inc : exc, &out->keys, &out->nkeys);
            gw_pop(c, m2);
        }
    } else {
        rc = gw_fail(c, "must be a boolean, a list of keys or "
                        "{\"include\"|\"exclude\": [keys]}");
    }
    if (rc) {
        gw_payload_select_close(out);
    }
    gw_pop(c, m);
    return rc;
}

/* with_vector (alias with_vectors): a boolean; lists name vectors. */
int gw_opt_with_vector(gw_jctx *c, const json_t *o, int *out)
{
    const json_t *a = gw_get(o, "with_vector"), *b = gw_get(o, "with_vectors");
    const char *k = a ? "with_vector" : "with_vectors";
    const json_t *v = a ? a : b;
    size_t m;
    int rc = 0;

    if (a && b) {
        return gw_fail(c, "give either with_vector or with_vectors, not both");
    }
    if (!v) {
        return 0;
    }
    m = gw_push_key(c, k);
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
    } else if (json_is_array(v) && json_array_size(v) == 0) {
        *out = 0;
    } else if (json_is_array(v)) {
        rc = gw_fail(c, "named vectors are not supported by Vectron");
    } else {
        rc = gw_fail(c, "must be true or false");
    }
    gw_pop(c, m);
    return rc;
}

/* Appends payload object v as compact text plus a NUL to arena. */
int gw_payload_text(gw_jctx *c, const json_t *v, gw_buf *arena, size_t *off,
                    size_t *len)
{
    int rc;

    if (!json_is_object(v)) {
        return gw_fail(c, "must be a JSON object");
    }
    *off = arena->len;
    rc = gw_dump_into(arena, v, c->err);
    if (rc == 0 && gw_buf_add(arena, "", 1)) {
        rc = gw_oom(c);
    }
    if (rc == 0) {
        *len = arena->len - *off - 1;
    }
    return rc;
}
