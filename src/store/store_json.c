/*
 * store_json.c - the point store's payload JSON: parsing a payload into a
 * jansson object and serialising a changed payload (both through
 * common/json.c: integers outside int64 stay exact, reals are written in
 * their shortest round-trip form), and removing dotted key paths.
 *
 * Threading: pure functions over caller-owned values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "store/store_int.h"

int store_json_parse(const char *text, size_t len, json_t **out,
                     vectron_error *err)
{
    json_t *json;
    int rc;

    if (len == 0) {
        json = json_object();
        if (!json) {
            return vx_err(err, VECTRON_NOMEM, "payload: out of memory");
        }
        *out = json;
        return 0;
    }
    /* Integers outside int64 stay exact (big-number markers). */
    if ((rc = vx_json_load(text, len, "payload", &json, err)) != 0) {
        return rc;
    }
    if (!json_is_object(json)) {
        json_decref(json);
        return vx_err(err, VECTRON_INVALID, "not a JSON object");
    }
    *out = json;
    return 0;
}

int store_json_dump(const json_t *json, char **out, size_t *len,
                    vectron_error *err)
{
    return vx_json_dump(json, out, len, err);
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
