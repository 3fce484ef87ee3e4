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
#include "gateway/qdrant_json_int.h"

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

static int buf_dump_cb(const char *s, size_t n, void *arg)
{
    return gw_buf_add(arg, s, n);
}

/* ---- big-number markers ------------------------------------------------ */

/* Parses a canonical unsigned decimal (no sign, no leading zeros) of n
 * bytes. -1 if malformed or above 2^64-1. */
int gw_parse_u64(const char *s, size_t n, uint64_t *out)
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
int gw_dump_into(gw_buf *b, const json_t *j, vectron_error *err)
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
        if (nbig > (SIZE_MAX - len) / 8 || !(tmp = gw_xalloc(len + 8 * nbig))) {
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
    return gw_load_text(text, len, "body", out, err);
}

/* A number given as text (at most 39 bytes) as a marker. */
static json_t *marker(const char *num, size_t n)
{
    char b[40];

    b[0] = '\0';
    memcpy(b + 1, num, n);
    return json_stringn(b, n + 1);
}

json_t *gw_ju64(uint64_t v)
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
json_t *gw_jfloat(float f)
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

json_t *gw_jdouble(double v)
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
        if (gw_parse_u64(s, strlen(s), &out->num)) {
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
    char b[40];
    size_t n;

    if (!id->is_uuid) {
        return gw_ju64(id->num);
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
