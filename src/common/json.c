/*
 * json.c - JSON text with big-number markers and shortest reals (json.h):
 * the loader rewrites integer literals outside int64 into marker strings
 * before handing the text to jansson; the writer is Vectron's own, so that
 * markers come out as bare numbers and reals in their shortest form.
 *
 * Threading: pure functions.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/json.h"

#define LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/* 1 if tok[0..n) is a well-formed integer literal outside int64. */
static int is_big_int(const char *tok, size_t n)
{
    int neg = tok[0] == '-';
    const char *d = tok + neg;
    size_t nd = n - (size_t)neg;

    if (nd < 19 || d[0] == '0')
        return 0;
    for (size_t i = 0; i < nd; i++)
        if (d[i] < '0' || d[i] > '9')
            return 0;
    if (nd > 19)
        return 1;
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
                        memcmp(s + i + 2, "0000", 4) == 0)
                        *has_nul = 1;
                    i++;
                }
            }
            i = i < len ? i + 1 : len;
        } else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
            while (i < len && num_char(s[i]))
                i++;
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
    if (out_len)
        *out_len = w;
    return nbig;
}

int vx_json_load(const char *text, size_t len, const char *what, json_t **out,
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
    if (has_nul)
        return vx_err(err, VECTRON_INVALID,
                      "%s: invalid JSON: \\u0000 is not allowed in strings",
                      what);
    if (nbig) {
        if (nbig > (SIZE_MAX - len) / 8 || !(tmp = vx_malloc(len + 8 * nbig)))
            return vx_err(err, VECTRON_NOMEM, "%s: out of memory", what);
        scan_text(text, len, &has_nul, tmp, &nlen);
        j = json_loadb(tmp, nlen, LOAD_FLAGS | JSON_ALLOW_NUL, &je);
    } else {
        j = json_loadb(text, len, LOAD_FLAGS, &je);
    }
    if (!j) {
        /* jansson leaves the text empty when its set-up allocation
         * fails. */
        if (json_error_code(&je) == json_error_out_of_memory ||
            je.text[0] == '\0')
            rc = vx_err(err, VECTRON_NOMEM, "%s: out of memory", what);
        else
            rc = vx_err(err, VECTRON_INVALID,
                        "%s: invalid JSON at line %d, column %d: %s", what,
                        je.line, je.column, je.text);
    }
    vx_free(tmp);
    *out = j;
    return rc;
}

/* A JSON number literal per RFC 8259. */
int vx_json_valid_number(const char *s, size_t n)
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

/* 1 if s[0..n) is "[" (number|null) ("," (number|null))* "]" or "[]",
 * without spaces: the pre-rendered arrays a marker may hold. */
static int valid_number_array(const char *s, size_t n)
{
    size_t i = 1;
    if (n < 2 || s[0] != '[' || s[n - 1] != ']')
        return 0;
    if (n == 2)
        return 1;
    while (i < n - 1) {
        size_t st = i;
        while (i < n - 1 && s[i] != ',')
            i++;
        if (!(i - st == 4 && memcmp(s + st, "null", 4) == 0) &&
            !vx_json_valid_number(s + st, i - st))
            return 0;
        if (i < n - 1)
            i++; /* the comma */
        if (i == n - 1 && s[i - 1] == ',')
            return 0;
    }
    return 1;
}

json_t *vx_json_marker(const char *num, size_t n)
{
    char buf[48];
    if (n > sizeof buf - 2)
        return NULL;
    buf[0] = '\0';
    memcpy(buf + 1, num, n);
    return json_stringn(buf, n + 1);
}

/* ------------------------------------------------------------- writer */

static void put(vx_json_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = vx_realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Writes s (n bytes of UTF-8, as jansson validated it) as a JSON string. */
static void put_string(vx_json_buf *b, const char *s, size_t n)
{
    size_t run = 0;

    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        const char *e = NULL;

        switch (c) {
        case '"':
            e = "\\\"";
            break;
        case '\\':
            e = "\\\\";
            break;
        case '\b':
            e = "\\b";
            break;
        case '\f':
            e = "\\f";
            break;
        case '\n':
            e = "\\n";
            break;
        case '\r':
            e = "\\r";
            break;
        case '\t':
            e = "\\t";
            break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                e = esc;
            }
            break;
        }
        if (e) {
            put(b, s + run, i - run);
            put(b, e, strlen(e));
            run = i + 1;
        }
    }
    put(b, s + run, n - run);
    put(b, "\"", 1);
}

/* Writes d in the shortest %g form that reads back as d, always with a
 * decimal point or exponent so that it stays a real. Non-finite values
 * (which JSON cannot hold) are written as null. */
static void put_real(vx_json_buf *b, double d)
{
    char tmp[48];
    int has_mark = 0;

    if (d != d || d - d != 0) {
        put(b, "null", 4);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    for (char *c = tmp; *c; c++) {
        /* The C library follows the locale's decimal separator. */
        if (*c == ',')
            *c = '.';
        if (*c == '.' || *c == 'e' || *c == 'E')
            has_mark = 1;
    }
    put(b, tmp, strlen(tmp));
    if (!has_mark)
        put(b, ".0", 2);
}

static void put_value(vx_json_buf *b, const json_t *v)
{
    char tmp[32];

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        json_t *obj = (json_t *)v;
        void *it = json_object_iter(obj);
        put(b, "{", 1);
        while (it) {
            put_string(b, json_object_iter_key(it),
                       json_object_iter_key_len(it));
            put(b, ":", 1);
            put_value(b, json_object_iter_value(it));
            it = json_object_iter_next(obj, it);
            if (it)
                put(b, ",", 1);
        }
        put(b, "}", 1);
        break;
    }
    case JSON_ARRAY:
        put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                put(b, ",", 1);
            put_value(b, json_array_get(v, i));
        }
        put(b, "]", 1);
        break;
    case JSON_STRING:
        if (vx_json_is_bignum(v) &&
            (vx_json_valid_number(json_string_value(v) + 1,
                                  json_string_length(v) - 1) ||
             valid_number_array(json_string_value(v) + 1,
                                json_string_length(v) - 1)))
            put(b, json_string_value(v) + 1, json_string_length(v) - 1);
        else
            put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        put(b, tmp, strlen(tmp));
        break;
    case JSON_REAL:
        put_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        put(b, "true", 4);
        break;
    case JSON_FALSE:
        put(b, "false", 5);
        break;
    case JSON_NULL:
        put(b, "null", 4);
        break;
    }
}

int vx_json_dump_into(vx_json_buf *b, const json_t *j, vectron_error *err)
{
    size_t start = b->len;
    put_value(b, j);
    if (b->oom) {
        b->len = start;
        if (b->p)
            b->p[start] = '\0';
        return vx_err(err, VECTRON_NOMEM, "serialise JSON: out of memory");
    }
    return 0;
}

int vx_json_dump(const json_t *j, char **out, size_t *len, vectron_error *err)
{
    vx_json_buf b = {0};
    *out = NULL;
    *len = 0;
    int rc = vx_json_dump_into(&b, j, err);
    if (rc == 0 && !b.p)
        put(&b, "", 0);
    if (rc == 0 && b.oom)
        rc = vx_err(err, VECTRON_NOMEM, "serialise JSON: out of memory");
    if (rc) {
        vx_free(b.p);
        return rc;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

/* ---------------------------------------------------------- numbers, ids */

int vx_parse_u64(const char *s, size_t n, uint64_t *out)
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

json_t *vx_json_u64(uint64_t v)
{
    char d[24];
    int n;

    if (v <= INT64_MAX) {
        return json_integer((json_int_t)v);
    }
    n = snprintf(d, sizeof d, "%" PRIu64, v);
    return vx_json_marker(d, (size_t)n);
}

int vx_json_get_point_id(const json_t *j, const char *path, point_id *out,
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
    if (vx_json_is_bignum(j)) {
        const char *s = json_string_value(j) + 1;
        if (*s == '-') {
            return vx_err(err, VECTRON_INVALID,
                          "%s: point id must not be negative", p);
        }
        if (vx_parse_u64(s, strlen(s), &out->num)) {
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

json_t *vx_json_point_id(const point_id *id)
{
    char b[40];
    size_t n;

    if (!id->is_uuid) {
        return vx_json_u64(id->num);
    }
    n = point_id_format(id, b);
    return json_stringn(b, n);
}
