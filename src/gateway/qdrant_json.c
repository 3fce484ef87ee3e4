/*
 * qdrant_json.c - see qdrant_json.h. Layout: JSON primitives (big-number
 * aware load and dump), the decoding context that names JSON paths in
 * errors, request decoders, the binary bulk-upsert body, response
 * encoders.
 *
 * Threading: reentrant; no mutable state outside the caller's structs
 * (gw_json_use_vx_alloc aside, which is start-up only).
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "gateway/qdrant_json.h"

#define LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

void gw_limits_default(gw_limits *lim)
{
    lim->max_dim = VECTRON_MAX_DIM;
    lim->max_limit = 10000;
    lim->max_offset = 100000;
    lim->max_batch = 10000;
    lim->max_filter_depth = GW_FILTER_DEFAULT_MAX_DEPTH;
}

/* Set when an allocation made by jansson on this thread failed: jansson
 * reports some of those as syntax errors, so load_text checks it. */
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

/* vx_malloc that never asks for zero bytes (which may legally return
 * NULL and would read as out-of-memory). */
static void *xalloc(size_t n)
{
    return vx_malloc(n ? n : 1);
}

static void *xcalloc(size_t count, size_t size)
{
    return vx_calloc(count ? count : 1, size);
}

/* ---- growable byte buffer ---------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static int buf_reserve(buf *b, size_t extra)
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

static int buf_add(buf *b, const void *s, size_t n)
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

static int buf_dump_cb(const char *s, size_t n, void *arg)
{
    return buf_add(arg, s, n);
}

/* ---- big-number markers ------------------------------------------------ */

/* Parses a canonical unsigned decimal (no sign, no leading zeros) of n
 * bytes. -1 if malformed or above 2^64-1. */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || (n > 1 && s[0] == '0')) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* A JSON number literal per RFC 8259. */
static int valid_number(const char *s, size_t n)
{
    size_t i = 0, d;

    if (i < n && s[i] == '-') {
        i++;
    }
    if (i < n && s[i] == '0') {
        i++;
    } else {
        for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        }
        if (i == d || s[d] == '0') {
            return 0;
        }
    }
    if (i < n && s[i] == '.') {
        for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        }
        if (i == d) {
            return 0;
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        }
        if (i == d) {
            return 0;
        }
    }
    return i == n;
}

/* 1 if tok[0..n) is a well-formed integer literal outside int64. */
static int is_big_int(const char *tok, size_t n)
{
    int neg = tok[0] == '-';
    const char *d = tok + neg;
    size_t nd = n - (size_t)neg;

    if (nd < 19 || d[0] == '0') {
        return 0;
    }
    for (size_t i = 0; i < nd; i++) {
        if (d[i] < '0' || d[i] > '9') {
            return 0;
        }
    }
    if (nd > 19) {
        return 1;
    }
    return memcmp(d, neg ? "9223372036854775808" : "9223372036854775807", 19) >
           0;
}

static int num_char(char ch)
{
    return (ch >= '0' && ch <= '9') || ch == '-' || ch == '+' || ch == '.' ||
           ch == 'e' || ch == 'E';
}

/* Scans JSON text: counts integer literals outside int64 (outside
 * strings) and notes "\u0000" escapes. Tolerates malformed text (jansson
 * reports it later). If out is not NULL, also writes the text with each
 * such literal turned into a marker string. */
static size_t scan_text(const char *s, size_t len, int *has_nul, char *out,
                        size_t *out_len)
{
    size_t i = 0, nbig = 0, w = 0;

    *has_nul = 0;
    while (i < len) {
        size_t st = i;
        if (s[i] == '"') {
            for (i++; i < len && s[i] != '"'; i++) {
                if (s[i] == '\\') {
                    if (len - i >= 6 && s[i + 1] == 'u' &&
                        memcmp(s + i + 2, "0000", 4) == 0) {
                        *has_nul = 1;
                    }
                    i++;
                }
            }
            i = i < len ? i + 1 : len;
        } else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
            while (i < len && num_char(s[i])) {
                i++;
            }
            if (is_big_int(s + st, i - st)) {
                nbig++;
                if (out) {
                    memcpy(out + w, "\"\\u0000", 7);
                    memcpy(out + w + 7, s + st, i - st);
                    out[w + 7 + (i - st)] = '"';
                    w += 8 + (i - st);
                }
                continue;
            }
        } else {
            i++;
        }
        if (out) {
            memcpy(out + w, s + st, i - st);
            w += i - st;
        }
    }
    if (out_len) {
        *out_len = w;
    }
    return nbig;
}

/* Rewrites markers in jansson's output (in place) as bare numbers. Only
 * string tokens that start with "\u0000" and hold a valid number are
 * rewritten; anything else is copied. */
static size_t unmark(char *s, size_t len)
{
    size_t r = 0, w = 0;

    while (r < len) {
        if (s[r] != '"') {
            s[w++] = s[r++];
            continue;
        }
        if (len - r >= 9 && memcmp(s + r + 1, "\\u0000", 6) == 0) {
            size_t e = r + 7;
            while (e < len && num_char(s[e])) {
                e++;
            }
            if (e < len && s[e] == '"' && valid_number(s + r + 7, e - r - 7)) {
                memmove(s + w, s + r + 7, e - r - 7);
                w += e - r - 7;
                r = e + 1;
                continue;
            }
        }
        s[w++] = s[r++];
        while (r < len && s[r] != '"') {
            if (s[r] == '\\' && r + 1 < len) {
                s[w++] = s[r++];
            }
            s[w++] = s[r++];
        }
        if (r < len) {
            s[w++] = s[r++];
        }
    }
    return w;
}

/* Appends the compact serialisation of j to b, markers resolved. */
static int dump_into(buf *b, const json_t *j, vectron_error *err)
{
    size_t start = b->len;
    char *hit;

    if (json_dump_callback(j, buf_dump_cb, b, DUMP_FLAGS) != 0) {
        b->len = start;
        return vx_err(err, VECTRON_NOMEM, "serialise JSON: out of memory");
    }
    hit = memmem(b->p + start, b->len - start, "\\u0000", 6);
    if (hit) {
        b->len = start + unmark(b->p + start, b->len - start);
    }
    return 0;
}

int gw_json_dump(const json_t *j, char **out, size_t *out_len,
                 vectron_error *err)
{
    buf b = {0};
    int rc;

    *out = NULL;
    *out_len = 0;
    rc = dump_into(&b, j, err);
    if (rc == 0 && buf_add(&b, "", 1)) {
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
static int load_text(const char *text, size_t len, const char *what,
                     json_t **out, vectron_error *err)
{
    json_error_t je;
    int has_nul, rc = 0;
    size_t nbig, nlen;
    char *tmp = NULL;
    json_t *j;

    *out = NULL;
    if (!text) {
        text = "";
        len = 0;
    }
    nbig = scan_text(text, len, &has_nul, NULL, NULL);
    if (has_nul) {
        return vx_err(err, VECTRON_INVALID,
                      "%s: invalid JSON: \\u0000 is not allowed in strings",
                      what);
    }
    jansson_oom = 0;
    if (nbig) {
        if (nbig > (SIZE_MAX - len) / 8 || !(tmp = xalloc(len + 8 * nbig))) {
            return vx_err(err, VECTRON_NOMEM, "%s: out of memory", what);
        }
        scan_text(text, len, &has_nul, tmp, &nlen);
        j = json_loadb(tmp, nlen, LOAD_FLAGS | JSON_ALLOW_NUL, &je);
    } else {
        j = json_loadb(text, len, LOAD_FLAGS, &je);
    }
    if (!j) {
        /* jansson leaves the text empty when its set-up allocation
         * fails. */
        if (json_error_code(&je) == json_error_out_of_memory ||
            je.text[0] == '\0' || jansson_oom) {
            rc = vx_err(err, VECTRON_NOMEM, "%s: out of memory", what);
        } else {
            rc = vx_err(err, VECTRON_INVALID,
                        "%s: invalid JSON at line %d, column %d: %s", what,
                        je.line, je.column, je.text);
        }
    }
    vx_free(tmp);
    *out = j;
    return rc;
}

int gw_json_load(const char *text, size_t len, json_t **out, vectron_error *err)
{
    return load_text(text, len, "body", out, err);
}

/* A number given as text (at most 39 bytes) as a marker. */
static json_t *marker(const char *num, size_t n)
{
    char b[40];

    b[0] = '\0';
    memcpy(b + 1, num, n);
    return json_stringn(b, n + 1);
}

static json_t *ju64(uint64_t v)
{
    char d[24];
    int n;

    if (v <= INT64_MAX) {
        return json_integer((json_int_t)v);
    }
    n = snprintf(d, sizeof d, "%" PRIu64, v);
    return marker(d, (size_t)n);
}

/* A float32 in its shortest round-tripping form (7 or 9 significant
 * digits); non-finite values become null. */
static json_t *jfloat(float f)
{
    char d[40];
    int n;

    if (!isfinite(f)) {
        return json_null();
    }
    n = snprintf(d, sizeof d, "%.7g", (double)f);
    if (strtof(d, NULL) != f) {
        n = snprintf(d, sizeof d, "%.9g", (double)f);
    }
    return marker(d, (size_t)n);
}

static json_t *jdouble(double v)
{
    char d[40];
    int n;

    if (!isfinite(v)) {
        v = 0;
    }
    n = snprintf(d, sizeof d, "%.9g", v);
    return marker(d, (size_t)n);
}

/* ---- point ids --------------------------------------------------------- */

int gw_json_get_point_id(const json_t *j, const char *path, point_id *out,
                         vectron_error *err)
{
    const char *p = path && *path ? path : "id";

    memset(out, 0, sizeof *out);
    if (json_is_integer(j)) {
        json_int_t v = json_integer_value(j);
        if (v < 0) {
            return vx_err(err, VECTRON_INVALID,
                          "%s: point id must not be negative (got %lld)", p,
                          (long long)v);
        }
        out->num = (uint64_t)v;
        return 0;
    }
    if (gw_json_is_bignum(j)) {
        const char *s = json_string_value(j) + 1;
        if (*s == '-') {
            return vx_err(err, VECTRON_INVALID,
                          "%s: point id must not be negative", p);
        }
        if (parse_u64(s, strlen(s), &out->num)) {
            return vx_err(err, VECTRON_INVALID,
                          "%s: point id exceeds 2^64-1 (got %.40s)", p, s);
        }
        return 0;
    }
    if (json_is_string(j)) {
        if (point_id_parse_uuid(json_string_value(j), json_string_length(j),
                                out, NULL)) {
            memset(out, 0, sizeof *out);
            return vx_err(err, VECTRON_INVALID,
                          "%s: point id string is not a UUID", p);
        }
        return 0;
    }
    if (json_is_real(j)) {
        return vx_err(err, VECTRON_INVALID,
                      "%s: point id must be an integer, not a fraction", p);
    }
    return vx_err(err, VECTRON_INVALID,
                  "%s: point id must be an unsigned integer or a UUID string",
                  p);
}

int gw_point_id_parse_text(const char *s, size_t len, point_id *out,
                           vectron_error *err)
{
    size_t i;

    memset(out, 0, sizeof *out);
    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
    }
    if (len > 0 && i == len && parse_u64(s, len, &out->num) == 0) {
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
    char b[40];
    size_t n;

    if (!id->is_uuid) {
        return ju64(id->num);
    }
    n = point_id_format(id, b);
    return json_stringn(b, n);
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

/* ---- decoding context -------------------------------------------------- */

/* The path buffer is bounded; a longer path is cut (messages stay
 * readable and NUL-terminated). */
typedef struct jctx {
    vectron_error *err;
    gw_limits lim;
    size_t body_len;  /* bytes of the body being decoded */
    uint32_t vstride; /* upsert: floats between decoded vectors */
    size_t plen;
    char path[192];
} jctx;

static void ctx_init(jctx *c, const gw_limits *lim, vectron_error *err)
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
    c->path[0] = '\0';
    vectron_error_clear(err);
}

static size_t push_fmt(jctx *c, const char *fmt, const char *key, size_t i)
{
    size_t mark = c->plen, room = sizeof c->path - c->plen;
    int n =
        key ? snprintf(c->path + c->plen, room, fmt, c->plen ? "." : "", key)
            : snprintf(c->path + c->plen, room, fmt, i);
    if (n > 0) {
        c->plen += (size_t)n < room ? (size_t)n : room - 1;
    }
    return mark;
}

static size_t push_key(jctx *c, const char *key)
{
    return push_fmt(c, "%s%s", key, 0);
}

static size_t push_idx(jctx *c, size_t i)
{
    return push_fmt(c, "[%zu]", NULL, i);
}

static void pop(jctx *c, size_t mark)
{
    c->plen = mark;
    c->path[mark] = '\0';
}

static const char *cur_path(const jctx *c)
{
    return c->plen ? c->path : "body";
}

static int fail(jctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(jctx *c, const char *fmt, ...)
{
    char msg[VECTRON_ERROR_MSG_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vx_err(c->err, VECTRON_INVALID, "%s: %s", cur_path(c), msg);
}

static int oom(jctx *c)
{
    return vx_err(c->err, VECTRON_NOMEM, "%s: out of memory", cur_path(c));
}

/* Member k of object o; NULL when absent or null. */
static const json_t *get(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_null(v) ? NULL : v;
}

static int in_list(const char *const *l, const char *k)
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
static int check_fields(jctx *c, const json_t *o, const char *const *known,
                        const char *const *ignored,
                        const char *const *unsupported)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)o, k, v)
    {
        if (in_list(known, k) || in_list(ignored, k)) {
            continue;
        }
        if (in_list(unsupported, k)) {
            if (json_is_null(v)) {
                continue;
            }
            size_t m = push_key(c, k);
            int rc = fail(c, "not supported by Vectron");
            pop(c, m);
            return rc;
        }
        return fail(c, "unknown field \"%.60s\"", k);
    }
    return 0;
}

static int need_object(jctx *c, const json_t *v)
{
    return json_is_object(v) ? 0 : fail(c, "must be a JSON object");
}

static int missing(jctx *c, const char *k)
{
    return fail(c, "missing field \"%s\"", k);
}

/* Parses the body; an empty (or blank) body is {} when empty_ok. */
static int load_root(jctx *c, const char *body, size_t len, int empty_ok,
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
            return fail(c, "must be a JSON object (the body is empty)");
        }
        *root = json_object();
        return *root ? 0 : oom(c);
    }
    rc = load_text(body, len, "body", root, c->err);
    if (rc == 0 && !json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        rc = fail(c, "must be a JSON object");
    }
    return rc;
}

/* ---- value decoders (at the current path) ------------------------------ */

static int as_uint(jctx *c, const json_t *v, uint64_t lo, uint64_t hi,
                   uint64_t *out)
{
    uint64_t x;

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0) {
            return fail(c, "must be a non-negative integer (got %lld)",
                        (long long)i);
        }
        x = (uint64_t)i;
    } else if (gw_json_is_bignum(v)) {
        const char *s = json_string_value(v) + 1;
        if (*s == '-') {
            return fail(c, "must be a non-negative integer (got %.40s)", s);
        }
        if (parse_u64(s, strlen(s), &x)) {
            return fail(c, "%.40s exceeds the maximum of %" PRIu64, s, hi);
        }
    } else {
        return fail(c, "must be a non-negative integer");
    }
    if (x < lo) {
        return fail(c, "must be at least %" PRIu64, lo);
    }
    if (x > hi) {
        return fail(c, "%" PRIu64 " exceeds the maximum of %" PRIu64, x, hi);
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

static int opt_uint(jctx *c, const json_t *o, const char *k, uint64_t lo,
                    uint64_t hi, uint32_t *out)
{
    const json_t *v = get(o, k);
    uint64_t x;
    size_t m;
    int rc;

    if (!v) {
        return 0;
    }
    m = push_key(c, k);
    rc = as_uint(c, v, lo, hi, &x);
    pop(c, m);
    if (rc == 0) {
        *out = (uint32_t)x;
    }
    return rc;
}

static int opt_bool(jctx *c, const json_t *o, const char *k, int *out)
{
    const json_t *v = get(o, k);
    size_t m;
    int rc;

    if (!v) {
        return 0;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    m = push_key(c, k);
    rc = fail(c, "must be true or false");
    pop(c, m);
    return rc;
}

/* A number in [lo, hi]; *present set when given. */
static int opt_number(jctx *c, const json_t *o, const char *k, double lo,
                      double hi, double *out, int *present)
{
    const json_t *v = get(o, k);
    size_t m;
    double d;
    int rc = 0;

    if (!v) {
        return 0;
    }
    m = push_key(c, k);
    if (num_value(v, &d)) {
        rc = fail(c, "must be a number");
    } else if (!(d >= lo && d <= hi)) {
        rc = fail(c, "must be between %g and %g", lo, hi);
    } else {
        *out = d;
        if (present) {
            *present = 1;
        }
    }
    pop(c, m);
    return rc;
}

static int opt_consistency(jctx *c, const json_t *o, const char *k,
                           gw_consistency *out)
{
    const json_t *v = get(o, k);
    size_t m;
    int rc = 0;

    if (!v) {
        return 0;
    }
    m = push_key(c, k);
    if (!json_is_string(v) ||
        gw_consistency_parse(json_string_value(v), json_string_length(v), out,
                             NULL)) {
        rc = fail(c, "must be \"strong\", \"bounded\" or \"eventual\"");
    }
    pop(c, m);
    return rc;
}

static int opt_filter(jctx *c, const json_t *o, gw_filter **out)
{
    const json_t *v = get(o, "filter");
    size_t m;
    int rc;

    if (!v) {
        return 0;
    }
    m = push_key(c, "filter");
    rc = gw_filter_decode(v, c->path, c->lim.max_filter_depth, c->lim.max_batch,
                          out, c->err);
    pop(c, m);
    return rc;
}

/* A string that is not a marker, non-empty when nonempty is set. */
static int as_string(jctx *c, const json_t *v, int nonempty, const char **s,
                     size_t *len)
{
    if (!json_is_string(v) || gw_json_is_bignum(v)) {
        return fail(c, "must be a string");
    }
    if (nonempty && json_string_length(v) == 0) {
        return fail(c, "must not be empty");
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

static char *dup_n(const char *s, size_t n)
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
static int decode_vector(jctx *c, const json_t *v, uint32_t dim, float *dst)
{
    size_t n;

    if (!json_is_array(v)) {
        if (json_is_object(v)) {
            return fail(c, "named vectors are not supported by Vectron");
        }
        return fail(c, "must be an array of %u numbers", dim);
    }
    n = json_array_size(v);
    if (n != dim) {
        return fail(c, "expected dimension %u, got %zu", dim, n);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        double d;
        if (json_is_real(e)) {
            d = json_real_value(e);
        } else if (json_is_integer(e)) {
            d = (double)json_integer_value(e);
        } else if (num_value(e, &d)) {
            size_t m = push_idx(c, i);
            int rc = fail(c, "not a finite number");
            pop(c, m);
            return rc;
        }
        if (!(fabs(d) <= FLT_MAX)) {
            size_t m = push_idx(c, i);
            int rc = fail(c, "%g is outside the float32 range", d);
            pop(c, m);
            return rc;
        }
        dst[i] = (float)d;
    }
    return 0;
}

/* Decodes a list of point ids (at most max_batch). */
static int id_list(jctx *c, const json_t *v, point_id **ids, size_t *n)
{
    size_t cnt;

    *ids = NULL;
    *n = 0;
    if (!json_is_array(v)) {
        return fail(c, "must be an array of point ids");
    }
    cnt = json_array_size(v);
    if (cnt > c->lim.max_batch) {
        return fail(c, "%zu ids exceed the maximum of %u", cnt,
                    c->lim.max_batch);
    }
    *ids = xcalloc(cnt, sizeof **ids);
    if (!*ids) {
        return oom(c);
    }
    for (size_t i = 0; i < cnt; i++) {
        size_t m = push_idx(c, i);
        int rc = gw_json_get_point_id(json_array_get(v, i), c->path, &(*ids)[i],
                                      c->err);
        pop(c, m);
        if (rc) {
            vx_free(*ids);
            *ids = NULL;
            return rc;
        }
    }
    *n = cnt;
    return 0;
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vx_free(keys[i]);
    }
    vx_free(keys);
}

/* Decodes a list of non-empty strings (at most max_batch). */
static int key_list(jctx *c, const json_t *v, char ***keys, size_t *n)
{
    size_t cnt;
    char **k;

    *keys = NULL;
    *n = 0;
    if (!json_is_array(v)) {
        return fail(c, "must be an array of strings");
    }
    cnt = json_array_size(v);
    if (cnt > c->lim.max_batch) {
        return fail(c, "%zu keys exceed the maximum of %u", cnt,
                    c->lim.max_batch);
    }
    k = xcalloc(cnt, sizeof *k);
    if (!k) {
        return oom(c);
    }
    for (size_t i = 0; i < cnt; i++) {
        size_t m = push_idx(c, i), len = 0;
        const char *s = NULL;
        int rc = as_string(c, json_array_get(v, i), 1, &s, &len);
        if (rc == 0 && !(k[i] = dup_n(s, len))) {
            rc = oom(c);
        }
        pop(c, m);
        if (rc) {
            free_keys(k, cnt);
            return rc;
        }
    }
    *keys = k;
    *n = cnt;
    return 0;
}

static void payload_select_close(gw_payload_select *p)
{
    free_keys(p->keys, p->nkeys);
    p->keys = NULL;
    p->nkeys = 0;
    p->mode = GW_PAYLOAD_NONE;
}

/* with_payload: bool, [keys], {"include": [..]} or {"exclude": [..]}. */
static int opt_with_payload(jctx *c, const json_t *o, gw_payload_select *out)
{
    static const char *const known[] = {"include", "exclude", NULL};
    const json_t *v = get(o, "with_payload"), *inc, *exc;
    size_t m;
    int rc = 0;

    if (!v) {
        return 0;
    }
    m = push_key(c, "with_payload");
    if (json_is_boolean(v)) {
        out->mode = json_is_true(v) ? GW_PAYLOAD_ALL : GW_PAYLOAD_NONE;
    } else if (json_is_array(v)) {
        out->mode = GW_PAYLOAD_INCLUDE;
        rc = key_list(c, v, &out->keys, &out->nkeys);
    } else if (json_is_object(v)) {
        rc = check_fields(c, v, known, NULL, NULL);
        inc = get(v, "include");
        exc = get(v, "exclude");
        if (rc == 0 && (!inc == !exc)) {
            rc = fail(c, "give exactly one of \"include\" and \"exclude\"");
        }
        if (rc == 0) {
            size_t m2 = push_key(c, inc ? "include" : "exclude");
            out->mode = inc ? GW_PAYLOAD_INCLUDE : GW_PAYLOAD_EXCLUDE;
            rc = key_list(c, inc ? inc : exc, &out->keys, &out->nkeys);
            pop(c, m2);
        }
    } else {
        rc = fail(c, "must be a boolean, a list of keys or "
                     "{\"include\"|\"exclude\": [keys]}");
    }
    if (rc) {
        payload_select_close(out);
    }
    pop(c, m);
    return rc;
}

/* with_vector (alias with_vectors): a boolean; lists name vectors. */
static int opt_with_vector(jctx *c, const json_t *o, int *out)
{
    const json_t *a = get(o, "with_vector"), *b = get(o, "with_vectors");
    const char *k = a ? "with_vector" : "with_vectors";
    const json_t *v = a ? a : b;
    size_t m;
    int rc = 0;

    if (a && b) {
        return fail(c, "give either with_vector or with_vectors, not both");
    }
    if (!v) {
        return 0;
    }
    m = push_key(c, k);
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
    } else if (json_is_array(v) && json_array_size(v) == 0) {
        *out = 0;
    } else if (json_is_array(v)) {
        rc = fail(c, "named vectors are not supported by Vectron");
    } else {
        rc = fail(c, "must be true or false");
    }
    pop(c, m);
    return rc;
}

/* Appends payload object v as compact text plus a NUL to arena. */
static int payload_text(jctx *c, const json_t *v, buf *arena, size_t *off,
                        size_t *len)
{
    int rc;

    if (!json_is_object(v)) {
        return fail(c, "must be a JSON object");
    }
    *off = arena->len;
    rc = dump_into(arena, v, c->err);
    if (rc == 0 && buf_add(arena, "", 1)) {
        rc = oom(c);
    }
    if (rc == 0) {
        *len = arena->len - *off - 1;
    }
    return rc;
}

/* ---- collections ------------------------------------------------------- */

static int decode_hnsw(jctx *c, const json_t *h, gw_collection_config *cfg)
{
    static const char *const known[] = {"m", "ef_construct", NULL};
    static const char *const ignored[] = {
        "full_scan_threshold", "max_indexing_threads", "on_disk",
        "payload_m",           "inline_storage",       NULL};
    int rc;

    if ((rc = need_object(c, h)) ||
        (rc = check_fields(c, h, known, ignored, NULL)) ||
        (rc = opt_uint(c, h, "m", 2, VECTRON_MAX_M, &cfg->m)) ||
        (rc = opt_uint(c, h, "ef_construct", 4, VECTRON_MAX_EF,
                       &cfg->ef_construction))) {
        return rc;
    }
    return 0;
}

static int decode_quant(jctx *c, const json_t *q, gw_collection_config *cfg)
{
    static const char *const known[] = {"scalar", NULL};
    static const char *const unsup[] = {"product", "binary", NULL};
    static const char *const sknown[] = {"type", "quantile", "always_ram",
                                         NULL};
    const json_t *s, *t;
    double quantile = 0;
    size_t m;
    int rc;

    if ((rc = need_object(c, q)) ||
        (rc = check_fields(c, q, known, NULL, unsup))) {
        return rc;
    }
    if (!(s = get(q, "scalar"))) {
        return missing(c, "scalar");
    }
    m = push_key(c, "scalar");
    if ((rc = need_object(c, s)) ||
        (rc = check_fields(c, s, sknown, NULL, NULL))) {
        goto out;
    }
    if (!(t = get(s, "type"))) {
        rc = missing(c, "type");
        goto out;
    }
    if (!json_is_string(t) || strcmp(json_string_value(t), "int8") != 0) {
        size_t m2 = push_key(c, "type");
        rc = fail(c, "must be \"int8\"");
        pop(c, m2);
        goto out;
    }
    if ((rc = opt_number(c, s, "quantile", 0.5, 1.0, &quantile, NULL)) ||
        (rc = opt_bool(c, s, "always_ram", &cfg->always_ram))) {
        goto out;
    }
    cfg->quant = VECTRON_QUANT_INT8;
    cfg->quantile = (float)quantile;
out:
    pop(c, m);
    return rc;
}

static int decode_distance(jctx *c, const json_t *v, vectron_metric *metric)
{
    const char *s;

    if (!json_is_string(v) || gw_json_is_bignum(v)) {
        return fail(c, "must be \"Cosine\", \"Euclid\" or \"Dot\"");
    }
    s = json_string_value(v);
    if (strcmp(s, "Cosine") == 0) {
        *metric = VECTRON_METRIC_COSINE;
    } else if (strcmp(s, "Euclid") == 0) {
        *metric = VECTRON_METRIC_L2;
    } else if (strcmp(s, "Dot") == 0) {
        *metric = VECTRON_METRIC_DOT;
    } else if (strcmp(s, "Manhattan") == 0) {
        return fail(c, "\"Manhattan\" is not supported by Vectron");
    } else {
        return fail(c,
                    "unknown distance \"%.40s\" (expected \"Cosine\", "
                    "\"Euclid\" or \"Dot\")",
                    s);
    }
    return 0;
}

static int decode_vectors_params(jctx *c, const json_t *v,
                                 gw_collection_config *cfg)
{
    static const char *const known[] = {"size",        "distance",
                                        "hnsw_config", "quantization_config",
                                        "datatype",    NULL};
    static const char *const ignored[] = {"on_disk", NULL};
    static const char *const unsup[] = {"multivector_config", NULL};
    const json_t *x;
    uint64_t size;
    size_t m;
    int rc;

    if (!json_is_object(v)) {
        return fail(c, "must be an object {\"size\", \"distance\"}");
    }
    if (!json_object_get(v, "size") && !json_object_get(v, "distance") &&
        json_object_size(v) > 0) {
        const char *k;
        json_t *x2;
        int named = 1;
        json_object_foreach((json_t *)v, k, x2)
        {
            named &= json_is_object(x2);
        }
        if (named) {
            return fail(c, "named vectors are not supported by Vectron");
        }
    }
    if ((rc = check_fields(c, v, known, ignored, unsup))) {
        return rc;
    }
    if (!(x = get(v, "size"))) {
        return missing(c, "size");
    }
    m = push_key(c, "size");
    rc = as_uint(c, x, 1, c->lim.max_dim, &size);
    pop(c, m);
    if (rc) {
        return rc;
    }
    cfg->dim = (uint32_t)size;
    if (!(x = get(v, "distance"))) {
        return missing(c, "distance");
    }
    m = push_key(c, "distance");
    rc = decode_distance(c, x, &cfg->metric);
    pop(c, m);
    if (rc) {
        return rc;
    }
    if ((x = get(v, "datatype"))) {
        m = push_key(c, "datatype");
        if (!json_is_string(x) ||
            strcmp(json_string_value(x), "float32") != 0) {
            rc = fail(c, "only \"float32\" is supported by Vectron");
        }
        pop(c, m);
        if (rc) {
            return rc;
        }
    }
    if ((x = get(v, "hnsw_config"))) {
        m = push_key(c, "hnsw_config");
        rc = decode_hnsw(c, x, cfg);
        pop(c, m);
        if (rc) {
            return rc;
        }
    }
    if ((x = get(v, "quantization_config"))) {
        m = push_key(c, "quantization_config");
        rc = decode_quant(c, x, cfg);
        pop(c, m);
    }
    return rc;
}

int gw_decode_create_collection(const char *body, size_t len,
                                const gw_limits *lim, gw_collection_config *out,
                                vectron_error *err)
{
    static const char *const known[] = {
        "vectors",      "hnsw_config",        "quantization_config",
        "shard_number", "replication_factor", "read_consistency",
        "consistency",  "sharding_method",    NULL};
    static const char *const ignored[] = {"write_consistency_factor",
                                          "on_disk_payload",
                                          "optimizers_config",
                                          "wal_config",
                                          "strict_mode_config",
                                          "metadata",
                                          NULL};
    static const char *const unsup[] = {"sparse_vectors", "init_from", NULL};
    json_t *root = NULL;
    const json_t *x;
    jctx c;
    size_t m;
    int rc;

    memset(out, 0, sizeof *out);
    ctx_init(&c, lim, err);
    if ((rc = load_root(&c, body, len, 0, &root)) ||
        (rc = check_fields(&c, root, known, ignored, unsup))) {
        goto out;
    }
    if ((x = get(root, "sharding_method"))) {
        if (!json_is_string(x) || strcmp(json_string_value(x), "auto")) {
            m = push_key(&c, "sharding_method");
            rc = fail(&c, "only \"auto\" is supported by Vectron");
            pop(&c, m);
            goto out;
        }
    }
    if ((x = get(root, "hnsw_config"))) {
        m = push_key(&c, "hnsw_config");
        rc = decode_hnsw(&c, x, out);
        pop(&c, m);
        if (rc) {
            goto out;
        }
    }
    if ((x = get(root, "quantization_config"))) {
        m = push_key(&c, "quantization_config");
        rc = decode_quant(&c, x, out);
        pop(&c, m);
        if (rc) {
            goto out;
        }
    }
    if (!(x = get(root, "vectors"))) {
        rc = missing(&c, "vectors");
        goto out;
    }
    m = push_key(&c, "vectors");
    rc = decode_vectors_params(&c, x, out);
    pop(&c, m);
    if (rc) {
        goto out;
    }
    if (out->m && out->ef_construction && out->ef_construction < out->m) {
        rc =
            vx_err(err, VECTRON_INVALID,
                   "hnsw_config.ef_construct: must be at least m (%u)", out->m);
        goto out;
    }
    if ((rc = opt_uint(&c, root, "shard_number", 1, GW_MAX_SHARDS,
                       &out->shard_number)) ||
        (rc = opt_uint(&c, root, "replication_factor", 1, GW_MAX_REPLICAS,
                       &out->replication_factor))) {
        goto out;
    }
    if (get(root, "read_consistency") && get(root, "consistency")) {
        rc = fail(&c, "give either read_consistency or consistency, not "
                      "both");
        goto out;
    }
    if ((rc = opt_consistency(&c, root, "read_consistency",
                              &out->read_consistency)) ||
        (rc = opt_consistency(&c, root, "consistency",
                              &out->read_consistency))) {
        goto out;
    }
out:
    json_decref(root);
    if (rc) {
        memset(out, 0, sizeof *out);
    }
    return rc;
}

/* ---- upsert ------------------------------------------------------------ */

void gw_upsert_close(gw_upsert *u)
{
    vx_free(u->ids);
    vx_free(u->vectors);
    vx_free(u->payloads);
    vx_free(u->payload_buf);
    memset(u, 0, sizeof *u);
}

/* Allocates ids and vectors for count points plus a scratch array of
 * payload offsets (SIZE_MAX: none). A JSON vector takes at least 2 bytes
 * per component, so when count * dim * 2 exceeds the body some vector is
 * malformed: then one vector's room is allocated and reused (vstride 0)
 * until decoding finds the error, so a small body cannot make us allocate
 * count * dim floats. */
static int upsert_alloc(jctx *c, gw_upsert *u, size_t count, uint32_t dim,
                        size_t **offs)
{
    int doomed = count > 1 && (uint64_t)count * dim * 2 > c->body_len;

    c->vstride = doomed ? 0 : dim;
    u->count = count;
    u->dim = dim;
    u->ids = xcalloc(count, sizeof *u->ids);
    u->vectors = xalloc((doomed ? 1 : count) * dim * sizeof(float));
    u->payloads = xcalloc(count, sizeof *u->payloads);
    *offs = xalloc(count * sizeof **offs);
    if (!u->ids || !u->vectors || !u->payloads || !*offs) {
        return oom(c);
    }
    for (size_t i = 0; i < count; i++) {
        (*offs)[i] = SIZE_MAX;
    }
    return 0;
}

/* Points payloads into the arena, which u then owns. */
static void upsert_finish(gw_upsert *u, buf *arena, const size_t *offs)
{
    int any = 0;

    for (size_t i = 0; i < u->count; i++) {
        if (offs[i] != SIZE_MAX) {
            u->payloads[i].data = arena->p + offs[i];
            any = 1;
        }
    }
    if (!any) {
        vx_free(u->payloads);
        u->payloads = NULL;
        vx_free(arena->p);
    } else {
        u->payload_buf = arena->p;
    }
    arena->p = NULL;
}

static int upsert_points(jctx *c, const json_t *pts, uint32_t dim, gw_upsert *u,
                         buf *arena, size_t **offs)
{
    static const char *const known[] = {"id", "vector", "payload", NULL};
    size_t n;
    int rc = 0;

    if (!json_is_array(pts)) {
        return fail(c, "must be an array of points");
    }
    n = json_array_size(pts);
    if (n > c->lim.max_batch) {
        return fail(c, "%zu points exceed the maximum of %u", n,
                    c->lim.max_batch);
    }
    if ((rc = upsert_alloc(c, u, n, dim, offs))) {
        return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *p = json_array_get(pts, i), *v;
        size_t m = push_idx(c, i), m2;
        if ((rc = need_object(c, p)) ||
            (rc = check_fields(c, p, known, NULL, NULL))) {
            goto next;
        }
        if (!(v = get(p, "id"))) {
            rc = missing(c, "id");
            goto next;
        }
        m2 = push_key(c, "id");
        rc = gw_json_get_point_id(v, c->path, &u->ids[i], c->err);
        pop(c, m2);
        if (rc) {
            goto next;
        }
        if (!(v = get(p, "vector"))) {
            rc = missing(c, "vector");
            goto next;
        }
        m2 = push_key(c, "vector");
        rc = decode_vector(c, v, dim, u->vectors + i * c->vstride);
        pop(c, m2);
        if (rc == 0 && (v = get(p, "payload"))) {
            m2 = push_key(c, "payload");
            rc = payload_text(c, v, arena, &(*offs)[i], &u->payloads[i].len);
            pop(c, m2);
        }
    next:
        pop(c, m);
    }
    return rc;
}

static int upsert_batch(jctx *c, const json_t *b, uint32_t dim, gw_upsert *u,
                        buf *arena, size_t **offs)
{
    static const char *const known[] = {"ids", "vectors", "payloads", NULL};
    const json_t *ids, *vecs, *pls;
    point_id *tmp = NULL;
    size_t n, m;
    int rc;

    if ((rc = need_object(c, b)) ||
        (rc = check_fields(c, b, known, NULL, NULL))) {
        return rc;
    }
    if (!(ids = get(b, "ids"))) {
        return missing(c, "ids");
    }
    if (!(vecs = get(b, "vectors"))) {
        return missing(c, "vectors");
    }
    m = push_key(c, "ids");
    rc = id_list(c, ids, &tmp, &n);
    pop(c, m);
    if (rc) {
        return rc;
    }
    if ((rc = upsert_alloc(c, u, n, dim, offs))) {
        goto out;
    }
    memcpy(u->ids, tmp, n * sizeof *tmp);
    m = push_key(c, "vectors");
    if (!json_is_array(vecs)) {
        rc = fail(c, "must be an array of vectors");
    } else if (json_array_size(vecs) != n) {
        rc = fail(c, "expected %zu vectors (one per id), got %zu", n,
                  json_array_size(vecs));
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t m2 = push_idx(c, i);
        rc = decode_vector(c, json_array_get(vecs, i), dim,
                           u->vectors + i * c->vstride);
        pop(c, m2);
    }
    pop(c, m);
    if (rc || !(pls = get(b, "payloads"))) {
        goto out;
    }
    m = push_key(c, "payloads");
    if (!json_is_array(pls)) {
        rc = fail(c, "must be an array of objects");
    } else if (json_array_size(pls) != n) {
        rc = fail(c, "expected %zu payloads (one per id), got %zu", n,
                  json_array_size(pls));
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *p = json_array_get(pls, i);
        size_t m2 = push_idx(c, i);
        if (!json_is_null(p)) {
            rc = payload_text(c, p, arena, &(*offs)[i], &u->payloads[i].len);
        }
        pop(c, m2);
    }
    pop(c, m);
out:
    vx_free(tmp);
    return rc;
}

int gw_decode_upsert(const char *body, size_t len, uint32_t dim,
                     const gw_limits *lim, gw_upsert *out, vectron_error *err)
{
    static const char *const known[] = {"points", "batch", NULL};
    static const char *const unsup[] = {"shard_key", "update_filter", NULL};
    json_t *root = NULL;
    const json_t *pts, *b;
    buf arena = {0};
    size_t *offs = NULL;
    jctx c;
    size_t m;
    int rc;

    memset(out, 0, sizeof *out);
    ctx_init(&c, lim, err);
    if (dim == 0 || dim > VECTRON_MAX_DIM) {
        return vx_err(err, VECTRON_INVALID,
                      "collection dimension %u is out of range", dim);
    }
    if ((rc = load_root(&c, body, len, 0, &root)) ||
        (rc = check_fields(&c, root, known, NULL, unsup))) {
        goto out;
    }
    pts = get(root, "points");
    b = get(root, "batch");
    if (pts && b) {
        rc = fail(&c, "give either points or batch, not both");
        goto out;
    }
    if (!pts && !b) {
        rc = fail(&c, "missing field \"points\" (or \"batch\")");
        goto out;
    }
    m = push_key(&c, pts ? "points" : "batch");
    rc = pts ? upsert_points(&c, pts, dim, out, &arena, &offs)
             : upsert_batch(&c, b, dim, out, &arena, &offs);
    pop(&c, m);
    if (rc == 0 && c.vstride == 0 && out->count > 1) {
        rc = vx_err(err, VECTRON_INTERNAL, "upsert: vector size bound");
    }
    if (rc == 0) {
        upsert_finish(out, &arena, offs);
    }
out:
    vx_free(offs);
    vx_free(arena.p);
    json_decref(root);
    if (rc) {
        gw_upsert_close(out);
    }
    return rc;
}

/* ---- binary bulk upsert (docs/formats/bulk-upsert.md) ------------------ */

#define BULK_MAGIC "VXBULK\0\0"
#define BULK_VERSION 1u
#define BULK_HEADER 32u
#define BULK_FLAG_UUID 1u
#define BULK_FLAG_PAYLOADS 2u

int gw_decode_bulk_upsert(const uint8_t *body, size_t len, uint32_t dim,
                          const gw_limits *lim, gw_upsert *out,
                          vectron_error *err)
{
    uint32_t version, flags, bdim, count, crc, want;
    uint64_t idsz, need, pl_total = 0;
    const uint8_t *p, *lens = NULL, *pl;
    buf arena = {0};
    size_t *offs = NULL;
    jctx c;
    int rc;

    memset(out, 0, sizeof *out);
    ctx_init(&c, lim, err);
    c.body_len = len; /* 4 bytes per component: never "doomed" */
    if (dim == 0 || dim > VECTRON_MAX_DIM) {
        return vx_err(err, VECTRON_INVALID,
                      "collection dimension %u is out of range", dim);
    }
    if (!body || len < BULK_HEADER + 4) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: truncated: %zu bytes, the minimum is %u", len,
                      BULK_HEADER + 4);
    }
    if (memcmp(body, BULK_MAGIC, 8) != 0) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: bad magic (not a bulk "
                      "upsert body)");
    }
    crc = vx_get_u32(body + len - 4);
    want = vx_crc32c(0, body, len - 4);
    if (crc != want) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: checksum mismatch (stored %08x, computed %08x)",
                      crc, want);
    }
    version = vx_get_u32(body + 8);
    flags = vx_get_u32(body + 12);
    bdim = vx_get_u32(body + 16);
    count = vx_get_u32(body + 20);
    if (version != BULK_VERSION) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: unsupported version %u (expected %u)", version,
                      BULK_VERSION);
    }
    if (flags & ~(BULK_FLAG_UUID | BULK_FLAG_PAYLOADS)) {
        return vx_err(err, VECTRON_INVALID, "bulk: unknown flags %#x", flags);
    }
    if (vx_get_u64(body + 24) != 0) {
        return vx_err(err, VECTRON_INVALID, "bulk: reserved bytes not zero");
    }
    if (bdim != dim) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: expected dimension %u, got %u", dim, bdim);
    }
    if (count > c.lim.max_batch) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: %u points exceed the maximum of %u", count,
                      c.lim.max_batch);
    }
    idsz = flags & BULK_FLAG_UUID ? 16 : 8;
    /* count < 2^32 and dim <= 2^16: no 64-bit overflow below. */
    need = BULK_HEADER + (uint64_t)count * idsz + (uint64_t)count * dim * 4 +
           (flags & BULK_FLAG_PAYLOADS ? (uint64_t)count * 4 : 0) + 4;
    if (need > len) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: truncated: %u points need at least %" PRIu64
                      " bytes, got %zu",
                      count, need, len);
    }
    if (flags & BULK_FLAG_PAYLOADS) {
        lens = body + need - 4 - (uint64_t)count * 4;
        for (uint32_t i = 0; i < count; i++) {
            pl_total += vx_get_u32(lens + 4 * (size_t)i);
            if (pl_total > len - need) {
                return vx_err(err, VECTRON_INVALID,
                              "bulk: truncated: payload of point %u runs "
                              "past the end",
                              i);
            }
        }
    }
    if (need + pl_total != len) {
        return vx_err(err, VECTRON_INVALID, "bulk: %" PRIu64 " trailing bytes",
                      len - need - pl_total);
    }
    if ((rc = upsert_alloc(&c, out, count, dim, &offs))) {
        goto out;
    }
    p = body + BULK_HEADER;
    for (uint32_t i = 0; i < count; i++, p += idsz) {
        if (flags & BULK_FLAG_UUID) {
            out->ids[i].is_uuid = 1;
            memcpy(out->ids[i].uuid, p, 16);
        } else {
            out->ids[i].num = vx_get_u64(p);
        }
    }
    for (size_t i = 0; i < (size_t)count * dim; i++, p += 4) {
        uint32_t bits = vx_get_u32(p);
        float f;
        memcpy(&f, &bits, sizeof f);
        if (!isfinite(f)) {
            rc = vx_err(err, VECTRON_INVALID,
                        "points[%zu].vector[%zu]: not a finite number", i / dim,
                        i % dim);
            goto out;
        }
        out->vectors[i] = f;
    }
    pl = body + need - 4;
    for (uint32_t i = 0; lens && i < count; i++) {
        uint32_t n = vx_get_u32(lens + 4 * (size_t)i);
        char what[48];
        json_t *j;
        if (n == 0) {
            continue;
        }
        snprintf(what, sizeof what, "points[%u].payload", i);
        if ((rc = load_text((const char *)pl, n, what, &j, err))) {
            goto out;
        }
        if (!json_is_object(j)) {
            rc =
                vx_err(err, VECTRON_INVALID, "%s: must be a JSON object", what);
        } else {
            offs[i] = arena.len;
            out->payloads[i].len = n;
            if (buf_add(&arena, pl, n) || buf_add(&arena, "", 1)) {
                rc = vx_err(err, VECTRON_NOMEM, "%s: out of memory", what);
            }
        }
        json_decref(j);
        if (rc) {
            goto out;
        }
        pl += n;
    }
    upsert_finish(out, &arena, offs);
out:
    vx_free(offs);
    vx_free(arena.p);
    if (rc) {
        gw_upsert_close(out);
    }
    return rc;
}

int gw_encode_bulk_upsert(const point_id *ids, const float *vectors,
                          const gw_text *payloads, size_t count, uint32_t dim,
                          uint8_t **out, size_t *out_len, vectron_error *err)
{
    int uuid = count > 0 && ids[0].is_uuid;
    uint64_t idsz = uuid ? 16 : 8, size, pl_total = 0;
    uint8_t *b, *p;

    *out = NULL;
    *out_len = 0;
    if (dim == 0 || dim > VECTRON_MAX_DIM || count > UINT32_MAX) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk encode: dimension %u or count %zu out of range",
                      dim, count);
    }
    for (size_t i = 0; i < count; i++) {
        if (ids[i].is_uuid != uuid) {
            return vx_err(err, VECTRON_INVALID,
                          "bulk encode: point %zu: ids mix integers and "
                          "UUIDs",
                          i);
        }
        if (payloads && payloads[i].data) {
            if (payloads[i].len > UINT32_MAX) {
                return vx_err(err, VECTRON_LIMIT,
                              "bulk encode: payload of point %zu exceeds "
                              "4 GiB",
                              i);
            }
            pl_total += payloads[i].len;
        }
    }
    size = BULK_HEADER + count * idsz + (uint64_t)count * dim * 4 +
           (payloads ? count * 4 + pl_total : 0) + 4;
    if ((uint64_t)(size_t)size != size || !(b = vx_malloc((size_t)size))) {
        return vx_err(err, VECTRON_NOMEM, "bulk encode: out of memory");
    }
    memset(b, 0, BULK_HEADER);
    memcpy(b, BULK_MAGIC, 8);
    vx_put_u32(b + 8, BULK_VERSION);
    vx_put_u32(b + 12, (uuid ? BULK_FLAG_UUID : 0) |
                           (payloads ? BULK_FLAG_PAYLOADS : 0));
    vx_put_u32(b + 16, dim);
    vx_put_u32(b + 20, (uint32_t)count);
    p = b + BULK_HEADER;
    for (size_t i = 0; i < count; i++, p += idsz) {
        if (uuid) {
            memcpy(p, ids[i].uuid, 16);
        } else {
            vx_put_u64(p, ids[i].num);
        }
    }
    for (size_t i = 0; i < count * dim; i++, p += 4) {
        uint32_t bits;
        memcpy(&bits, &vectors[i], 4);
        vx_put_u32(p, bits);
    }
    if (payloads) {
        for (size_t i = 0; i < count; i++, p += 4) {
            vx_put_u32(p, payloads[i].data ? (uint32_t)payloads[i].len : 0);
        }
        for (size_t i = 0; i < count; i++) {
            if (payloads[i].data && payloads[i].len) {
                memcpy(p, payloads[i].data, payloads[i].len);
                p += payloads[i].len;
            }
        }
    }
    vx_put_u32(p, vx_crc32c(0, b, (size_t)size - 4));
    *out = b;
    *out_len = (size_t)size;
    return 0;
}

/* ---- search and query -------------------------------------------------- */

void gw_search_close(gw_search *s)
{
    vx_free(s->vector);
    gw_filter_free(s->filter);
    payload_select_close(&s->with_payload);
    memset(s, 0, sizeof *s);
}

/* A query vector (array) or point id at the current path. */
static int decode_target(jctx *c, const json_t *v, uint32_t dim, gw_search *s)
{
    if (json_is_array(v)) {
        s->kind = GW_QUERY_VECTOR;
        if (!(s->vector = xalloc(dim * sizeof(float)))) {
            return oom(c);
        }
        return decode_vector(c, v, dim, s->vector);
    }
    if (json_is_integer(v) || json_is_string(v) || json_is_real(v)) {
        s->kind = GW_QUERY_ID;
        return gw_json_get_point_id(v, c->path, &s->id, c->err);
    }
    return fail(c, "must be a vector or a point id");
}

static int decode_query_value(jctx *c, const json_t *q, uint32_t dim,
                              gw_search *s)
{
    static const char *const known[] = {"nearest", NULL};
    static const char *const unsup[] = {
        "recommend", "discover", "context", "order_by", "fusion",
        "rrf",       "formula",  "sample",  "mmr",      NULL};
    const json_t *n;
    size_t m;
    int rc;

    if (!json_is_object(q)) {
        return decode_target(c, q, dim, s);
    }
    if ((rc = check_fields(c, q, known, NULL, unsup))) {
        return rc;
    }
    if (!(n = get(q, "nearest"))) {
        return missing(c, "nearest");
    }
    m = push_key(c, "nearest");
    rc = decode_target(c, n, dim, s);
    pop(c, m);
    return rc;
}

static int decode_params(jctx *c, const json_t *p, gw_search *s)
{
    static const char *const known[] = {"hnsw_ef", "exact", "quantization",
                                        NULL};
    static const char *const ignored[] = {"indexed_only", NULL};
    static const char *const unsup[] = {"acorn", NULL};
    static const char *const qknown[] = {"ignore", "rescore", "oversampling",
                                         NULL};
    const json_t *q;
    size_t m;
    int rc, rescore = -1;

    if ((rc = need_object(c, p)) ||
        (rc = check_fields(c, p, known, ignored, unsup)) ||
        (rc = opt_uint(c, p, "hnsw_ef", 1, VECTRON_MAX_EF, &s->hnsw_ef)) ||
        (rc = opt_bool(c, p, "exact", &s->exact))) {
        return rc;
    }
    if (!(q = get(p, "quantization"))) {
        return 0;
    }
    m = push_key(c, "quantization");
    if ((rc = need_object(c, q)) ||
        (rc = check_fields(c, q, qknown, NULL, NULL)) ||
        (rc = opt_bool(c, q, "ignore", &s->quant_ignore)) ||
        (rc = opt_bool(c, q, "rescore", &rescore)) ||
        (rc = opt_number(c, q, "oversampling", 1.0, 1000.0, &s->oversampling,
                         NULL))) {
        goto out;
    }
    s->rescore = rescore;
out:
    pop(c, m);
    return rc;
}

static int decode_search_obj(jctx *c, const json_t *o, uint32_t dim,
                             int is_query, gw_search *s)
{
    static const char *const qknown[] = {
        "query",           "filter",       "params",      "limit",
        "offset",          "with_payload", "with_vector", "with_vectors",
        "score_threshold", "consistency",  NULL};
    static const char *const qunsup[] = {"prefetch", "using", "lookup_from",
                                         "shard_key", NULL};
    static const char *const sknown[] = {
        "vector",       "filter",          "params",       "limit",
        "top",          "offset",          "with_payload", "with_vector",
        "with_vectors", "score_threshold", "consistency",  NULL};
    static const char *const sunsup[] = {"shard_key", NULL};
    const json_t *v, *lv, *tv;
    double thr = 0;
    size_t m;
    int rc;

    memset(s, 0, sizeof *s);
    s->rescore = -1;
    s->limit = is_query ? (c->lim.max_limit < 10 ? c->lim.max_limit : 10) : 0;
    if ((rc = need_object(c, o)) ||
        (rc = check_fields(c, o, is_query ? qknown : sknown, NULL,
                           is_query ? qunsup : sunsup))) {
        return rc;
    }
    if (is_query) {
        if ((v = get(o, "query"))) {
            m = push_key(c, "query");
            rc = decode_query_value(c, v, dim, s);
            pop(c, m);
        }
    } else if (!(v = get(o, "vector"))) {
        rc = missing(c, "vector");
    } else {
        m = push_key(c, "vector");
        s->kind = GW_QUERY_VECTOR;
        if (!json_is_array(v)) {
            rc = decode_vector(c, v, dim, NULL);
        } else if (!(s->vector = xalloc(dim * sizeof(float)))) {
            rc = oom(c);
        } else {
            rc = decode_vector(c, v, dim, s->vector);
        }
        pop(c, m);
    }
    if (rc || (rc = opt_filter(c, o, &s->filter))) {
        return rc;
    }
    if ((v = get(o, "params"))) {
        m = push_key(c, "params");
        rc = decode_params(c, v, s);
        pop(c, m);
        if (rc) {
            return rc;
        }
    }
    lv = get(o, "limit");
    tv = is_query ? NULL : get(o, "top");
    if (lv && tv) {
        return fail(c, "give either limit or top, not both");
    }
    if (!is_query && !lv && !tv) {
        return missing(c, "limit");
    }
    if ((rc = opt_uint(c, o, tv ? "top" : "limit", 1, c->lim.max_limit,
                       &s->limit)) ||
        (rc = opt_uint(c, o, "offset", 0, c->lim.max_offset, &s->offset)) ||
        (rc = opt_with_payload(c, o, &s->with_payload)) ||
        (rc = opt_with_vector(c, o, &s->with_vector)) ||
        (rc = opt_number(c, o, "score_threshold", -FLT_MAX, FLT_MAX, &thr,
                         &s->has_score_threshold)) ||
        (rc = opt_consistency(c, o, "consistency", &s->consistency))) {
        return rc;
    }
    s->score_threshold = (float)thr;
    return 0;
}

static int decode_one_search(const char *body, size_t len, uint32_t dim,
                             const gw_limits *lim, int is_query, gw_search *out,
                             vectron_error *err)
{
    json_t *root = NULL;
    jctx c;
    int rc;

    memset(out, 0, sizeof *out);
    ctx_init(&c, lim, err);
    if (dim == 0 || dim > VECTRON_MAX_DIM) {
        return vx_err(err, VECTRON_INVALID,
                      "collection dimension %u is out of range", dim);
    }
    rc = load_root(&c, body, len, is_query, &root);
    if (rc == 0) {
        rc = decode_search_obj(&c, root, dim, is_query, out);
    }
    json_decref(root);
    if (rc) {
        gw_search_close(out);
    }
    return rc;
}

int gw_decode_query(const char *body, size_t len, uint32_t dim,
                    const gw_limits *lim, gw_search *out, vectron_error *err)
{
    return decode_one_search(body, len, dim, lim, 1, out, err);
}

int gw_decode_search(const char *body, size_t len, uint32_t dim,
                     const gw_limits *lim, gw_search *out, vectron_error *err)
{
    return decode_one_search(body, len, dim, lim, 0, out, err);
}

void gw_search_batch_close(gw_search_batch *b)
{
    for (size_t i = 0; b->searches && i < b->count; i++) {
        gw_search_close(&b->searches[i]);
    }
    vx_free(b->searches);
    memset(b, 0, sizeof *b);
}

static int decode_batch(const char *body, size_t len, uint32_t dim,
                        const gw_limits *lim, int is_query,
                        gw_search_batch *out, vectron_error *err)
{
    static const char *const known[] = {"searches", NULL};
    json_t *root = NULL;
    const json_t *s;
    jctx c;
    size_t n, m;
    int rc;

    memset(out, 0, sizeof *out);
    ctx_init(&c, lim, err);
    if (dim == 0 || dim > VECTRON_MAX_DIM) {
        return vx_err(err, VECTRON_INVALID,
                      "collection dimension %u is out of range", dim);
    }
    if ((rc = load_root(&c, body, len, 0, &root)) ||
        (rc = check_fields(&c, root, known, NULL, NULL))) {
        goto out;
    }
    if (!(s = get(root, "searches"))) {
        rc = missing(&c, "searches");
        goto out;
    }
    m = push_key(&c, "searches");
    n = json_is_array(s) ? json_array_size(s) : 0;
    if (!json_is_array(s)) {
        rc = fail(&c, "must be an array of requests");
    } else if (n > c.lim.max_batch) {
        rc = fail(&c, "%zu searches exceed the maximum of %u", n,
                  c.lim.max_batch);
    } else if (!(out->searches = xcalloc(n, sizeof *out->searches))) {
        rc = oom(&c);
    } else {
        out->count = n;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t m2 = push_idx(&c, i);
        rc = decode_search_obj(&c, json_array_get(s, i), dim, is_query,
                               &out->searches[i]);
        pop(&c, m2);
    }
    pop(&c, m);
out:
    json_decref(root);
    if (rc) {
        gw_search_batch_close(out);
    }
    return rc;
}

int gw_decode_query_batch(const char *body, size_t len, uint32_t dim,
                          const gw_limits *lim, gw_search_batch *out,
                          vectron_error *err)
{
    return decode_batch(body, len, dim, lim, 1, out, err);
}

int gw_decode_search_batch(const char *body, size_t len, uint32_t dim,
                           const gw_limits *lim, gw_search_batch *out,
                           vectron_error *err)
{
    return decode_batch(body, len, dim, lim, 0, out, err);
}

/* ---- retrieve, selectors, payload updates, scroll, count --------------- */

void gw_retrieve_close(gw_retrieve *r)
{
    vx_free(r->ids);
    payload_select_close(&r->with_payload);
    memset(r, 0, sizeof *r);
}

int gw_decode_retrieve(const char *body, size_t len, const gw_limits *lim,
                       gw_retrieve *out, vectron_error *err)
{
    static const char *const known[] = {"ids",         "with_payload",
                                        "with_vector", "with_vectors",
                                        "consistency", NULL};
    static const char *const unsup[] = {"shard_key", NULL};
    json_t *root = NULL;
    const json_t *v;
    jctx c;
    size_t m;
    int rc;

    memset(out, 0, sizeof *out);
    out->with_payload.mode = GW_PAYLOAD_ALL;
    ctx_init(&c, lim, err);
    if ((rc = load_root(&c, body, len, 0, &root)) ||
        (rc = check_fields(&c, root, known, NULL, unsup))) {
        goto out;
    }
    if (!(v = get(root, "ids"))) {
        rc = missing(&c, "ids");
        goto out;
    }
    m = push_key(&c, "ids");
    rc = id_list(&c, v, &out->ids, &out->count);
    pop(&c, m);
    if (rc || (rc = opt_with_payload(&c, root, &out->with_payload)) ||
        (rc = opt_with_vector(&c, root, &out->with_vector)) ||
        (rc = opt_consistency(&c, root, "consistency", &out->consistency))) {
        goto out;
    }
out:
    json_decref(root);
    if (rc) {
        gw_retrieve_close(out);
    }
    return rc;
}

void gw_selector_close(gw_selector *s)
{
    vx_free(s->ids);
    gw_filter_free(s->filter);
    memset(s, 0, sizeof *s);
}

/* "points" xor "filter" of object o. */
static int decode_selector(jctx *c, const json_t *o, gw_selector *sel)
{
    const json_t *p = get(o, "points"), *f = get(o, "filter");
    size_t m;
    int rc;

    if (p && f) {
        return fail(c, "give either points or filter, not both");
    }
    if (!p && !f) {
        return fail(c, "missing field \"points\" (or \"filter\")");
    }
    if (f) {
        sel->by_filter = 1;
        return opt_filter(c, o, &sel->filter);
    }
    m = push_key(c, "points");
    rc = id_list(c, p, &sel->ids, &sel->count);
    pop(c, m);
    return rc;
}

int gw_decode_delete_points(const char *body, size_t len, const gw_limits *lim,
                            gw_selector *out, vectron_error *err)
{
    static const char *const known[] = {"points", "filter", NULL};
    static const char *const unsup[] = {"shard_key", NULL};
    json_t *root = NULL;
    jctx c;
    int rc;

    memset(out, 0, sizeof *out);
    ctx_init(&c, lim, err);
    if ((rc = load_root(&c, body, len, 0, &root)) == 0 &&
        (rc = check_fields(&c, root, known, NULL, unsup)) == 0) {
        rc = decode_selector(&c, root, out);
    }
    json_decref(root);
    if (rc) {
        gw_selector_close(out);
    }
    return rc;
}

void gw_set_payload_close(gw_set_payload *p)
{
    vx_free((char *)p->payload.data);
    vx_free(p->key);
    gw_selector_close(&p->sel);
    memset(p, 0, sizeof *p);
}

int gw_decode_set_payload(const char *body, size_t len, const gw_limits *lim,
                          gw_set_payload *out, vectron_error *err)
{
    static const char *const known[] = {"payload", "points", "filter", "key",
                                        NULL};
    static const char *const unsup[] = {"shard_key", NULL};
    json_t *root = NULL;
    const json_t *v;
    buf text = {0};
    size_t m, off = 0, n = 0, klen = 0;
    const char *k = NULL;
    jctx c;
    int rc;

    memset(out, 0, sizeof *out);
    ctx_init(&c, lim, err);
    if ((rc = load_root(&c, body, len, 0, &root)) ||
        (rc = check_fields(&c, root, known, NULL, unsup))) {
        goto out;
    }
    if (!(v = get(root, "payload"))) {
        rc = missing(&c, "payload");
        goto out;
    }
    m = push_key(&c, "payload");
    rc = payload_text(&c, v, &text, &off, &n);
    pop(&c, m);
    if (rc) {
        goto out;
    }
    out->payload.data = text.p;
    out->payload.len = n;
    text.p = NULL;
    if ((v = get(root, "key"))) {
        m = push_key(&c, "key");
        rc = as_string(&c, v, 1, &k, &klen);
        if (rc == 0 && !(out->key = dup_n(k, klen))) {
            rc = oom(&c);
        }
        pop(&c, m);
        if (rc) {
            goto out;
        }
    }
    rc = decode_selector(&c, root, &out->sel);
out:
    vx_free(text.p);
    json_decref(root);
    if (rc) {
        gw_set_payload_close(out);
    }
    return rc;
}

void gw_delete_payload_close(gw_delete_payload *p)
{
    free_keys(p->keys, p->nkeys);
    gw_selector_close(&p->sel);
    memset(p, 0, sizeof *p);
}

int gw_decode_delete_payload(const char *body, size_t len, const gw_limits *lim,
                             gw_delete_payload *out, vectron_error *err)
{
    static const char *const known[] = {"keys", "points", "filter", NULL};
    static const char *const unsup[] = {"shard_key", NULL};
    json_t *root = NULL;
    const json_t *v;
    jctx c;
    size_t m;
    int rc;

    memset(out, 0, sizeof *out);
    ctx_init(&c, lim, err);
    if ((rc = load_root(&c, body, len, 0, &root)) ||
        (rc = check_fields(&c, root, known, NULL, unsup))) {
        goto out;
    }
    if (!(v = get(root, "keys"))) {
        rc = missing(&c, "keys");
        goto out;
    }
    m = push_key(&c, "keys");
    rc = key_list(&c, v, &out->keys, &out->nkeys);
    pop(&c, m);
    if (rc == 0) {
        rc = decode_selector(&c, root, &out->sel);
    }
out:
    json_decref(root);
    if (rc) {
        gw_delete_payload_close(out);
    }
    return rc;
}

void gw_scroll_close(gw_scroll *s)
{
    gw_filter_free(s->filter);
    payload_select_close(&s->with_payload);
    memset(s, 0, sizeof *s);
}

int gw_decode_scroll(const char *body, size_t len, const gw_limits *lim,
                     gw_scroll *out, vectron_error *err)
{
    static const char *const known[] = {
        "filter",      "limit",        "offset",      "with_payload",
        "with_vector", "with_vectors", "consistency", NULL};
    static const char *const unsup[] = {"order_by", "shard_key", NULL};
    json_t *root = NULL;
    const json_t *v;
    jctx c;
    size_t m;
    int rc;

    memset(out, 0, sizeof *out);
    out->limit = 10;
    out->with_payload.mode = GW_PAYLOAD_ALL;
    ctx_init(&c, lim, err);
    if ((rc = load_root(&c, body, len, 1, &root)) ||
        (rc = check_fields(&c, root, known, NULL, unsup)) ||
        (rc = opt_filter(&c, root, &out->filter)) ||
        (rc = opt_uint(&c, root, "limit", 1, c.lim.max_limit, &out->limit))) {
        goto out;
    }
    if ((v = get(root, "offset"))) {
        m = push_key(&c, "offset");
        rc = gw_json_get_point_id(v, c.path, &out->offset, err);
        pop(&c, m);
        if (rc) {
            goto out;
        }
        out->has_offset = 1;
    }
    if ((rc = opt_with_payload(&c, root, &out->with_payload)) ||
        (rc = opt_with_vector(&c, root, &out->with_vector)) ||
        (rc = opt_consistency(&c, root, "consistency", &out->consistency))) {
        goto out;
    }
out:
    json_decref(root);
    if (rc) {
        gw_scroll_close(out);
    }
    return rc;
}

void gw_count_close(gw_count *c)
{
    gw_filter_free(c->filter);
    memset(c, 0, sizeof *c);
}

int gw_decode_count(const char *body, size_t len, const gw_limits *lim,
                    gw_count *out, vectron_error *err)
{
    static const char *const known[] = {"filter", "exact", "consistency", NULL};
    static const char *const unsup[] = {"shard_key", NULL};
    json_t *root = NULL;
    jctx c;
    int rc;

    memset(out, 0, sizeof *out);
    out->exact = 1;
    ctx_init(&c, lim, err);
    if ((rc = load_root(&c, body, len, 1, &root)) == 0 &&
        (rc = check_fields(&c, root, known, NULL, unsup)) == 0 &&
        (rc = opt_filter(&c, root, &out->filter)) == 0 &&
        (rc = opt_bool(&c, root, "exact", &out->exact)) == 0) {
        rc = opt_consistency(&c, root, "consistency", &out->consistency);
    }
    json_decref(root);
    if (rc) {
        gw_count_close(out);
    }
    return rc;
}

void gw_payload_index_close(gw_payload_index *p)
{
    vx_free(p->field_name);
    memset(p, 0, sizeof *p);
}

static int decode_field_type(jctx *c, const json_t *v, gw_field_type *t)
{
    static const char *const names[] = {"keyword", "integer", "float", "bool",
                                        NULL};
    static const char *const unsup[] = {"geo", "text", "datetime", "uuid",
                                        NULL};
    const char *s;

    if (!json_is_string(v) || gw_json_is_bignum(v)) {
        return fail(c, "must be a string");
    }
    s = json_string_value(v);
    for (int i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *t = (gw_field_type)i;
            return 0;
        }
    }
    if (in_list(unsup, s)) {
        return fail(c, "\"%s\" indexes are not supported by Vectron", s);
    }
    return fail(c,
                "unknown field type \"%.40s\" (expected \"keyword\", "
                "\"integer\", \"float\" or \"bool\")",
                s);
}

int gw_decode_payload_index(const char *body, size_t len, gw_payload_index *out,
                            vectron_error *err)
{
    static const char *const known[] = {"field_name", "field_schema", NULL};
    json_t *root = NULL;
    const json_t *v, *t;
    const char *s = NULL;
    size_t m, n = 0;
    jctx c;
    int rc;

    memset(out, 0, sizeof *out);
    ctx_init(&c, NULL, err);
    if ((rc = load_root(&c, body, len, 0, &root)) ||
        (rc = check_fields(&c, root, known, NULL, NULL))) {
        goto out;
    }
    if (!(v = get(root, "field_name"))) {
        rc = missing(&c, "field_name");
        goto out;
    }
    m = push_key(&c, "field_name");
    rc = as_string(&c, v, 1, &s, &n);
    if (rc == 0 && !(out->field_name = dup_n(s, n))) {
        rc = oom(&c);
    }
    pop(&c, m);
    if (rc) {
        goto out;
    }
    if (!(v = get(root, "field_schema"))) {
        rc = missing(&c, "field_schema");
        goto out;
    }
    m = push_key(&c, "field_schema");
    if (json_is_object(v)) {
        /* {"type": .., other index parameters ignored} */
        if (!(t = get(v, "type"))) {
            rc = missing(&c, "type");
        } else {
            size_t m2 = push_key(&c, "type");
            rc = decode_field_type(&c, t, &out->type);
            pop(&c, m2);
        }
    } else {
        rc = decode_field_type(&c, v, &out->type);
    }
    pop(&c, m);
out:
    json_decref(root);
    if (rc) {
        gw_payload_index_close(out);
    }
    return rc;
}

/* ---- response encoders ------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c0 = s[0];
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c0 < 0x80) {
        return 1;
    }
    if (c0 >= 0xC2 && c0 <= 0xDF) {
        k = 2;
    } else if (c0 >= 0xE0 && c0 <= 0xEF) {
        k = 3;
        lo = c0 == 0xE0 ? 0xA0 : 0x80;
        hi = c0 == 0xED ? 0x9F : 0xBF;
    } else if (c0 >= 0xF0 && c0 <= 0xF4) {
        k = 4;
        lo = c0 == 0xF0 ? 0x90 : 0x80;
        hi = c0 == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (n < k || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < k; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    return k;
}

/* A JSON string of any bytes: NUL and invalid UTF-8 become U+FFFD. */
static json_t *jstr(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    buf b = {0};
    size_t i = 0, k;
    json_t *j = NULL;

    while (i < n && u[i] && (k = utf8_seq(u + i, n - i)) != 0) {
        i += k;
    }
    if (i == n) {
        return json_stringn(s, n);
    }
    if (buf_add(&b, s, i)) {
        goto out;
    }
    while (i < n) {
        k = u[i] ? utf8_seq(u + i, n - i) : 0;
        if (k ? buf_add(&b, s + i, k) : buf_add(&b, "\xEF\xBF\xBD", 3)) {
            goto out;
        }
        i += k ? k : 1;
    }
    j = json_stringn(b.p ? b.p : "", b.len);
out:
    vx_free(b.p);
    return j;
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

static json_t *point_obj(const gw_point_out *p, int scored)
{
    json_t *o = json_object();

    if (!o || json_object_set_new(o, "id", gw_json_point_id(&p->id))) {
        goto fail;
    }
    if (scored && (json_object_set_new(o, "version", ju64(p->version)) ||
                   json_object_set_new(o, "score", jfloat(p->score)))) {
        goto fail;
    }
    if (p->payload && json_object_set(o, "payload", p->payload)) {
        goto fail;
    }
    if (p->vector &&
        json_object_set_new(o, "vector", jvector(p->vector, p->dim))) {
        goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

static json_t *points_array(const gw_point_out *pts, size_t n, int scored)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, point_obj(&pts[i], scored))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *gw_json_scored_points(const gw_point_out *pts, size_t n)
{
    return points_array(pts, n, 1);
}

json_t *gw_json_records(const gw_point_out *pts, size_t n)
{
    return points_array(pts, n, 0);
}

/* {k: v} with v stolen; NULL if either fails. */
static json_t *obj1(const char *k, json_t *v)
{
    json_t *o = json_object();

    if (!o) {
        json_decref(v);
        return NULL;
    }
    if (json_object_set_new(o, k, v)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *gw_json_query_result(const gw_point_out *pts, size_t n)
{
    return obj1("points", points_array(pts, n, 1));
}

json_t *gw_json_scroll_result(const gw_point_out *pts, size_t n,
                              const point_id *next_offset)
{
    json_t *o = obj1("points", points_array(pts, n, 0));

    if (o && json_object_set_new(o, "next_page_offset",
                                 next_offset ? gw_json_point_id(next_offset)
                                             : json_null())) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *gw_json_count_result(uint64_t count)
{
    return obj1("count", ju64(count));
}

json_t *gw_json_update_result(uint64_t operation_id, int completed)
{
    json_t *o = obj1("operation_id", ju64(operation_id));

    if (o && json_object_set_new(
                 o, "status",
                 json_string(completed ? "completed" : "acknowledged"))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *gw_json_collections_list(const char *const *names, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        const char *s = names[i] ? names[i] : "";
        if (json_array_append_new(a, obj1("name", jstr(s, strlen(s))))) {
            json_decref(a);
            return NULL;
        }
    }
    return obj1("collections", a);
}

/* Sets each key/value pair (values stolen); -1 if any fails. */
static int set_all(json_t *o, const char *const *keys, json_t **vals, size_t n)
{
    int rc = o ? 0 : -1;

    for (size_t i = 0; i < n; i++) {
        if (rc || json_object_set_new(o, keys[i], vals[i])) {
            if (rc) {
                json_decref(vals[i]);
            }
            rc = -1;
        }
    }
    return rc;
}

static json_t *build(const char *const *keys, json_t **vals, size_t n)
{
    json_t *o = json_object();

    if (set_all(o, keys, vals, n)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

#define BUILD(keys, ...)                                                       \
    build(keys, (json_t *[]){__VA_ARGS__}, sizeof(keys) / sizeof(keys[0]))

json_t *gw_json_collection_info(const gw_collection_info *info)
{
    static const char *const status_names[] = {"green", "yellow", "red"};
    static const char *const distances[] = {"Euclid", "Cosine", "Dot"};
    static const char *const kvec[] = {"size", "distance"};
    static const char *const kparams[] = {"vectors",
                                          "shard_number",
                                          "replication_factor",
                                          "write_consistency_factor",
                                          "on_disk_payload",
                                          "read_consistency"};
    static const char *const khnsw[] = {"m", "ef_construct",
                                        "full_scan_threshold",
                                        "max_indexing_threads", "on_disk"};
    static const char *const kopt[] = {
        "deleted_threshold",      "vacuum_min_vector_number",
        "default_segment_number", "max_segment_size",
        "memmap_threshold",       "indexing_threshold",
        "flush_interval_sec",     "max_optimization_threads"};
    static const char *const kwal[] = {"wal_capacity_mb", "wal_segments_ahead"};
    static const char *const kscalar[] = {"type", "quantile", "always_ram"};
    static const char *const kconf[] = {"params", "hnsw_config",
                                        "optimizer_config", "wal_config",
                                        "quantization_config"};
    static const char *const kfield[] = {"data_type", "points"};
    static const char *const kinfo[] = {
        "status",        "optimizer_status", "indexed_vectors_count",
        "points_count",  "segments_count",   "config",
        "payload_schema"};
    const gw_collection_config *cf = &info->config;
    json_t *quant = json_null(), *schema = json_object();
    unsigned st = info->status <= GW_STATUS_RED ? info->status : 2;
    unsigned di = cf->metric <= VECTRON_METRIC_DOT ? cf->metric : 0;

    if (cf->quant == VECTRON_QUANT_INT8) {
        quant = obj1("scalar", BUILD(kscalar, json_string("int8"),
                                     cf->quantile > 0 ? jfloat(cf->quantile)
                                                      : json_null(),
                                     json_boolean(cf->always_ram)));
    }
    for (size_t i = 0; schema && i < info->nfields; i++) {
        const gw_field_info *f = &info->fields[i];
        const char *name = f->name ? f->name : "";
        json_t *k = jstr(name, strlen(name));
        json_t *v = BUILD(kfield, json_string(gw_field_type_name(f->type)),
                          ju64(f->points));
        /* Keys go through jstr so that any bytes make valid JSON. */
        if (!k || !v || json_object_set_new(schema, json_string_value(k), v)) {
            if (!v || !k) {
                json_decref(v);
            }
            json_decref(k);
            json_decref(schema);
            schema = NULL;
            break;
        }
        json_decref(k);
    }
    return BUILD(
        kinfo, json_string(status_names[st]), json_string("ok"),
        ju64(info->indexed_vectors_count), ju64(info->points_count),
        ju64(info->segments_count),
        BUILD(kconf,
              BUILD(kparams,
                    BUILD(kvec, json_integer(cf->dim),
                          json_string(distances[di])),
                    json_integer(cf->shard_number),
                    json_integer(cf->replication_factor), json_integer(1),
                    json_false(),
                    json_string(gw_consistency_name(cf->read_consistency))),
              BUILD(khnsw, json_integer(cf->m),
                    json_integer(cf->ef_construction), json_integer(10000),
                    json_integer(0), json_false()),
              BUILD(kopt, jdouble(0.2), json_integer(1000), json_integer(0),
                    json_null(), json_null(), json_integer(20000),
                    json_integer(5), json_null()),
              BUILD(kwal, json_integer(32), json_integer(0)), quant),
        schema);
}

/* Splits dotted key into its first segment [0, *n) and the rest. */
static const char *first_seg(const char *key, size_t *n)
{
    const char *dot = strchr(key, '.');

    *n = dot ? (size_t)(dot - key) : strlen(key);
    return dot ? dot + 1 : NULL;
}

/* Copies the value at dotted key of src into dst (objects only). */
static int include_path(json_t *dst, json_t *src, const char *key)
{
    size_t n;
    const char *rest = first_seg(key, &n);
    json_t *v = json_object_getn(src, key, n), *d;

    if (!v) {
        return 0;
    }
    if (!rest) {
        return json_object_setn(dst, key, n, v);
    }
    if (!json_is_object(v)) {
        return 0;
    }
    d = json_object_getn(dst, key, n);
    if (!json_is_object(d)) {
        if (!(d = json_object()) || json_object_setn_new(dst, key, n, d)) {
            return -1;
        }
    }
    return include_path(d, v, rest);
}

/* Removes dotted key from obj (a fresh shallow copy), copying shared
 * objects on the way down. */
static int exclude_path(json_t *obj, const char *key)
{
    size_t n;
    const char *rest = first_seg(key, &n);
    json_t *v = json_object_getn(obj, key, n), *cp;

    if (!v) {
        return 0;
    }
    if (!rest) {
        json_object_deln(obj, key, n);
        return 0;
    }
    if (!json_is_object(v)) {
        return 0;
    }
    if (!(cp = json_copy(v)) || json_object_setn_new(obj, key, n, cp)) {
        return -1;
    }
    return exclude_path(cp, rest);
}

int gw_payload_project(json_t *payload, const gw_payload_select *sel,
                       json_t **out, vectron_error *err)
{
    json_t *o = NULL;
    int rc = 0;

    *out = NULL;
    switch (sel->mode) {
    case GW_PAYLOAD_NONE:
        return 0;
    case GW_PAYLOAD_ALL:
        *out = payload ? json_incref(payload) : json_object();
        return *out ? 0 : vx_err(err, VECTRON_NOMEM, "payload: out of memory");
    case GW_PAYLOAD_INCLUDE:
        o = json_object();
        for (size_t i = 0; o && rc == 0 && i < sel->nkeys; i++) {
            rc = json_is_object(payload)
                     ? include_path(o, payload, sel->keys[i])
                     : 0;
        }
        break;
    case GW_PAYLOAD_EXCLUDE:
        o = json_is_object(payload) ? json_copy(payload) : json_object();
        for (size_t i = 0; o && rc == 0 && i < sel->nkeys; i++) {
            rc = exclude_path(o, sel->keys[i]);
        }
        break;
    }
    if (!o || rc) {
        json_decref(o);
        return vx_err(err, VECTRON_NOMEM, "payload: out of memory");
    }
    *out = o;
    return 0;
}

static int respond(json_t *o, char **out, size_t *out_len, vectron_error *err)
{
    int rc;

    if (!o) {
        return vx_err(err, VECTRON_NOMEM, "response: out of memory");
    }
    rc = gw_json_dump(o, out, out_len, err);
    json_decref(o);
    return rc;
}

int gw_respond_ok(json_t *result, double time_s, int partial, char **out,
                  size_t *out_len, vectron_error *err)
{
    static const char *const keys[] = {"result", "status", "time"};
    json_t *o;

    *out = NULL;
    *out_len = 0;
    if (!result) {
        return vx_err(err, VECTRON_NOMEM, "response: out of memory");
    }
    o = BUILD(keys, result, json_string("ok"), jdouble(time_s));
    if (o && partial && json_object_set_new(o, "partial", json_true())) {
        json_decref(o);
        o = NULL;
    }
    return respond(o, out, out_len, err);
}

int gw_respond_error(const char *msg, double time_s, char **out,
                     size_t *out_len, vectron_error *err)
{
    static const char *const keys[] = {"status", "time"};
    const char *m = msg ? msg : "unknown error";

    *out = NULL;
    *out_len = 0;
    return respond(
        BUILD(keys, obj1("error", jstr(m, strlen(m))), jdouble(time_s)), out,
        out_len, err);
}

int gw_http_status(int code)
{
    switch (code) {
    case VECTRON_OK:
        return 200;
    case VECTRON_INVALID:
    case VECTRON_DIMENSION:
    case VECTRON_UNSUPPORTED:
    case VECTRON_LIMIT:
        return 400;
    case VECTRON_NOT_FOUND:
        return 404;
    case VECTRON_EXISTS:
        return 409;
    case VECTRON_NOMEM:
    case VECTRON_UNAVAILABLE:
    case VECTRON_NOT_LEADER:
        return 503;
    case VECTRON_TIMEOUT:
        return 504;
    default:
        return 500;
    }
}
