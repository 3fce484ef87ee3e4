/*
 * qdrant_json.c - see qdrant_json.h. The JSON primitives the rest of the
 * layer builds on: limits, the jansson allocation hook, the growable
 * buffer, big-number markers (big-number aware load and dump, numbers
 * encoded as markers), point ids and the enums' names. The decoders are in
 * qdrant_decode_ctx.c, qdrant_decode.c and qdrant_bulk.c, the encoders in
 * qdrant_encode.c; what they share is in qdrant_json_int.h.
 *
 * Threading: reentrant; no mutable state outside the caller's structs
 * (gw_json_use_vx_alloc aside, which is start-up only, and the per-thread
 * flag that notes jansson's failed allocations).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/json.h"
#include "gateway/qdrant_json_int.h"

void gw_limits_default(gw_limits *lim)
{
    lim->max_dim = VECTRON_MAX_DIM;
    lim->max_limit = 10000;
    lim->max_offset = 100000;
    lim->max_batch = 10000;
    lim->max_filter_depth = GW_FILTER_DEFAULT_MAX_DEPTH;
}

/* Set when an allocation made by jansson on this thread failed: jansson
 * reports some of those as syntax errors, so gw_load_text checks it. */
static _Thread_local int jansson_oom;

static void *jansson_malloc(size_t n)
{
    void *p = vx_malloc(n);

    if (!p) {
        jansson_oom = 1;
    }
    return p;
}

void gw_json_use_vx_alloc(void)
{
    json_set_alloc_funcs(jansson_malloc, vx_free);
}

/* ---- growable byte buffer ---------------------------------------------- */

static int buf_reserve(gw_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > SIZE_MAX - b->len) {
        return -1;
    }
    need = b->len + extra;
    if (need <= b->cap) {
        return 0;
    }
    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    p = vx_realloc(b->p, cap);
    if (!p) {
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

int gw_buf_add(gw_buf *b, const void *s, size_t n)
{
    if (buf_reserve(b, n)) {
        return -1;
    }
    if (n) {
        memcpy(b->p + b->len, s, n);
    }
    b->len += n;
    return 0;
}

/* ---- big-number markers ------------------------------------------------ */

/* Parses a canonical unsigned decimal (no sign, no leading zeros) of n
 * bytes. -1 if malformed or above 2^64-1. */
int gw_parse_u64(const char *s, size_t n, uint64_t *out)
{
    return vx_parse_u64(s, n, out);
}

/* Appends the compact serialisation of j to b (common/json.c: markers as
 * bare numbers, reals in their shortest form). */
int gw_dump_into(gw_buf *b, const json_t *j, vectron_error *err)
{
    vx_json_buf vb = {b->p, b->len, b->cap, 0};
    int rc = vx_json_dump_into(&vb, j, err);
    b->p = vb.p;
    b->len = vb.len;
    b->cap = vb.cap;
    return rc;
}

int gw_json_dump(const json_t *j, char **out, size_t *out_len,
                 vectron_error *err)
{
    gw_buf b = {0};
    int rc;

    *out = NULL;
    *out_len = 0;
    rc = gw_dump_into(&b, j, err);
    if (rc == 0 && gw_buf_add(&b, "", 1)) {
        rc = vx_err(err, VECTRON_NOMEM, "serialise JSON: out of memory");
    }
    if (rc) {
        vx_free(b.p);
        return rc;
    }
    *out = b.p;
    *out_len = b.len - 1;
    return 0;
}

/* gw_json_load with `what` naming the text in messages. */
int gw_load_text(const char *text, size_t len, const char *what, json_t **out,
                 vectron_error *err)
{
    jansson_oom = 0;
    int rc = vx_json_load(text, len, what, out, err);
    if (rc == VECTRON_INVALID && jansson_oom) {
        /* jansson reports some failed allocations as syntax errors. */
        rc = vx_err(err, VECTRON_NOMEM, "%s: out of memory", what);
    }
    return rc;
}

int gw_json_load(const char *text, size_t len, json_t **out, vectron_error *err)
{
    return gw_load_text(text, len, "body", out, err);
}

/* A number given as text (at most 39 bytes) as a marker. */
json_t *gw_ju64(uint64_t v)
{
    return vx_json_u64(v);
}

/* A float32 in its shortest round-tripping form (7 or 9 significant
 * digits); non-finite values become null. */
/* Writes f in the shortest of %.7g / %.9g that reads back as f (an
 * integer-valued f below 10^7, which %.7g prints as its digits, directly);
 * returns the length.
 * buf holds at least 40 bytes; f is finite. */
size_t gw_format_float(float f, char *buf)
{
    if (fabsf(f) < 1e7f && f == (float)(int32_t)f &&
        !(f == 0.0f && signbit(f))) {
        /* What %.7g prints for these, without the cost of printf. */
        int32_t v = (int32_t)f;
        char tmp[16];
        size_t n = 0, w = 0;
        uint32_t u = v < 0 ? (uint32_t)(-(int64_t)v) : (uint32_t)v;
        do {
            tmp[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            buf[w++] = '-';
        while (n)
            buf[w++] = tmp[--n];
        buf[w] = '\0';
        return w;
    }
    int n = snprintf(buf, 40, "%.7g", (double)f);
    if (strtof(buf, NULL) != f)
        n = snprintf(buf, 40, "%.9g", (double)f);
    return (size_t)n;
}

json_t *gw_jfloat(float f)
{
    char d[40];

    if (!isfinite(f)) {
        return json_null();
    }
    return vx_json_marker(d, gw_format_float(f, d));
}

json_t *gw_jdouble(double v)
{
    char d[40];
    int n;

    if (!isfinite(v)) {
        v = 0;
    }
    n = snprintf(d, sizeof d, "%.9g", v);
    return vx_json_marker(d, (size_t)n);
}

/* ---- point ids --------------------------------------------------------- */

int gw_json_get_point_id(const json_t *j, const char *path, point_id *out,
                         vectron_error *err)
{
    return vx_json_get_point_id(j, path, out, err);
}

int gw_point_id_parse_text(const char *s, size_t len, point_id *out,
                           vectron_error *err)
{
    size_t i;

    memset(out, 0, sizeof *out);
    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
    }
    if (len > 0 && i == len && gw_parse_u64(s, len, &out->num) == 0) {
        return 0;
    }
    if (point_id_parse_uuid(s, len, out, NULL)) {
        memset(out, 0, sizeof *out);
        if (len > 0 && i == len) {
            return vx_err(err, VECTRON_INVALID,
                          "point id must be an integer up to 2^64-1 without "
                          "leading zeros");
        }
        return vx_err(err, VECTRON_INVALID,
                      "point id must be an unsigned integer or a UUID");
    }
    return 0;
}

json_t *gw_json_point_id(const point_id *id)
{
    return vx_json_point_id(id);
}

/* ---- enums ------------------------------------------------------------- */

int gw_consistency_parse(const char *s, size_t len, gw_consistency *out,
                         vectron_error *err)
{
    static const char *const names[] = {"strong", "bounded", "eventual"};

    for (int i = 0; i < 3; i++) {
        if (len == strlen(names[i]) && memcmp(s, names[i], len) == 0) {
            *out = (gw_consistency)(i + 1);
            return 0;
        }
    }
    return vx_err(err, VECTRON_INVALID,
                  "consistency must be \"strong\", \"bounded\" or "
                  "\"eventual\"");
}

const char *gw_consistency_name(gw_consistency c)
{
    switch (c) {
    case GW_CONSISTENCY_STRONG:
        return "strong";
    case GW_CONSISTENCY_BOUNDED:
        return "bounded";
    case GW_CONSISTENCY_EVENTUAL:
        return "eventual";
    default:
        return "default";
    }
}

const char *gw_field_type_name(gw_field_type t)
{
    switch (t) {
    case GW_FIELD_INTEGER:
        return "integer";
    case GW_FIELD_FLOAT:
        return "float";
    case GW_FIELD_BOOL:
        return "bool";
    default:
        return "keyword";
    }
}
