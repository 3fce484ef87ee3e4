/*
 * json.h - JSON text in and out for every module that stores or serves
 * JSON (the gateway's requests and responses, the store's payloads), over
 * jansson, with two things jansson lacks:
 *
 *  - Integers outside int64 (up to 2^64-1 and below -2^63) are kept
 *    exactly as "big-number markers": a jansson string whose first byte is
 *    NUL followed by the literal's text. vx_json_load creates them and
 *    rejects "\u0000" in strings, so no real string can collide with one;
 *    vx_json_dump writes them back as bare numbers. A marker may also hold
 *    a pre-rendered array of numbers ("[1,0.5,null]", no spaces; the
 *    gateway renders vectors that way), written as is.
 *  - Reals are written in the shortest form that reads back as the same
 *    double (jansson writes 17 digits: 8.9 would become 8.9000000000000004).
 *
 * Output is compact (no spaces), object keys in insertion order, strings
 * escaped as RFC 8259 requires (UTF-8 written as is).
 *
 * Threading: pure functions over caller-owned values.
 */
#ifndef VECTRON_COMMON_JSON_H
#define VECTRON_COMMON_JSON_H

#include <jansson.h>
#include <stddef.h>

#include <stdint.h>

#include "common/point_id.h"
#include "vectron/error.h"

/* Parses len bytes of JSON text (any top-level value; need not be
 * NUL-terminated) into *out, a new reference. Duplicate object keys and
 * "\u0000" are rejected. what names the text in messages. Errors: INVALID
 * "what: invalid JSON at line L, column C: reason"; NOMEM (including when
 * jansson's own allocation failed, which it reports with an empty text). */
int vx_json_load(const char *text, size_t len, const char *what, json_t **out,
                 vectron_error *err);

/* A growable text buffer; p is vx_malloc'd, NUL-terminated after each
 * append, and owned by the caller (vx_free). oom is set by a failed
 * allocation and makes later appends no-ops. */
typedef struct vx_json_buf {
    char *p;
    size_t len, cap;
    int oom;
} vx_json_buf;

/* Appends the compact text of j to b. Errors: NOMEM (b->len is then back
 * where it was). */
int vx_json_dump_into(vx_json_buf *b, const json_t *j, vectron_error *err);

/* The compact text of j in *out (vx_malloc'd, NUL-terminated, *len
 * bytes). Errors: NOMEM (*out NULL). */
int vx_json_dump(const json_t *j, char **out, size_t *len, vectron_error *err);

/* A big-number marker holding the literal num[0..n) (a valid JSON number
 * of at most 40 bytes, unchecked). New reference, NULL when out of memory. */
json_t *vx_json_marker(const char *num, size_t n);

/* Parses a canonical unsigned decimal (no sign, no leading zeros) of n
 * bytes into *out. -1 if malformed or above 2^64-1. */
int vx_parse_u64(const char *s, size_t n, uint64_t *out);

/* v as JSON: an integer, or a marker above INT64_MAX. New reference; NULL
 * when out of memory. */
json_t *vx_json_u64(uint64_t v);

/* Decodes a point id value at JSON path `path` (NULL: "id"): a
 * non-negative integer up to 2^64-1 (jansson integer or marker) or a UUID
 * string. INVALID with "path: ..." otherwise; *out zeroed on error. */
int vx_json_get_point_id(const json_t *j, const char *path, point_id *out,
                         vectron_error *err);

/* A point id as JSON: an integer, a marker (above INT64_MAX) or a UUID
 * string. New reference; NULL when out of memory. */
json_t *vx_json_point_id(const point_id *id);

/* 1 if s[0..n) is a JSON number literal (RFC 8259 grammar). */
int vx_json_valid_number(const char *s, size_t n);

/* 1 if j is a big-number marker. */
static inline int vx_json_is_bignum(const json_t *j)
{
    return json_is_string(j) && json_string_length(j) > 1 &&
           json_string_value(j)[0] == '\0';
}

#endif
