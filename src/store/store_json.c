/*
 * store_json.c - the point store's payload JSON: parsing a payload into a
 * jansson object, serialising a changed payload compactly (jansson writes
 * reals with 17 digits, so 0.1 would come back as 0.10000000000000001;
 * this writer uses the shortest form that reads back to the same double),
 * and removing dotted key paths.
 *
 * Threading: pure functions over caller-owned values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

int store_json_parse(const char *text, size_t len, json_t **out,
                     vectron_error *err)
{
    json_error_t jerr;
    json_t *json;

    if (len == 0) {
        json = json_object();
        if (!json) {
            return vx_err(err, VECTRON_NOMEM, "payload: out of memory");
        }
        *out = json;
        return 0;
    }
    json = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
    if (!json) {
        if (json_error_code(&jerr) == json_error_out_of_memory) {
            return vx_err(err, VECTRON_NOMEM, "payload: out of memory");
        }
        return vx_err(err, VECTRON_INVALID, "not valid JSON: %s at byte %d",
                      jerr.text, jerr.position);
    }
    if (!json_is_object(json)) {
        json_decref(json);
        return vx_err(err, VECTRON_INVALID, "not a JSON object");
    }
    *out = json;
    return 0;
}

/* A growing output buffer; oom records a failed allocation. */
typedef struct out_buf {
    char *p;
    size_t len;
    size_t cap;
    int oom;
} out_buf;

static void put(out_buf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        p = vx_realloc(b->p, cap);
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
static void put_string(out_buf *b, const char *s, size_t n)
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
 * decimal point or exponent so that it stays a real. */
static void put_real(out_buf *b, double d)
{
    char tmp[48];
    int has_mark = 0;

    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) {
            break;
        }
    }
    for (char *c = tmp; *c; c++) {
        /* The C library follows the locale's decimal separator. */
        if (*c == ',') {
            *c = '.';
        }
        if (*c == '.' || *c == 'e' || *c == 'E') {
            has_mark = 1;
        }
    }
    put(b, tmp, strlen(tmp));
    if (!has_mark) {
        put(b, ".0", 2);
    }
}

static void put_value(out_buf *b, const json_t *v)
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
            if (it) {
                put(b, ",", 1);
            }
        }
        put(b, "}", 1);
        break;
    }
    case JSON_ARRAY:
        put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) {
                put(b, ",", 1);
            }
            put_value(b, json_array_get(v, i));
        }
        put(b, "]", 1);
        break;
    case JSON_STRING:
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

int store_json_dump(const json_t *json, char **out, size_t *len,
                    vectron_error *err)
{
    out_buf b = {NULL, 0, 0, 0};

    put_value(&b, json);
    if (b.oom) {
        vx_free(b.p);
        return vx_err(err, VECTRON_NOMEM, "serialise payload: out of memory");
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

size_t store_json_remove(json_t *obj, const char *path, size_t path_len)
{
    const char *dot = memchr(path, '.', path_len);
    size_t seg = dot ? (size_t)(dot - path) : path_len;
    size_t key_len = seg;
    size_t removed = 0;
    json_t *child;

    if (json_is_array(obj)) {
        for (size_t i = 0; i < json_array_size(obj); i++) {
            removed +=
                store_json_remove(json_array_get(obj, i), path, path_len);
        }
        return removed;
    }
    if (!json_is_object(obj)) {
        return 0;
    }
    /* "a[].b" names the same thing as "a.b": arrays are descended into
     * either way. */
    if (key_len >= 2 && memcmp(path + key_len - 2, "[]", 2) == 0) {
        key_len -= 2;
    }
    if (!dot) {
        return json_object_deln(obj, path, key_len) == 0 ? 1 : 0;
    }
    child = json_object_getn(obj, path, key_len);
    if (!child) {
        return 0;
    }
    return store_json_remove(child, dot + 1, path_len - seg - 1);
}
