/*
 * point_id.c - see point_id.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "common/point_id.h"

size_t point_id_key(const point_id *id, uint8_t *key)
{
    if (id->is_uuid) {
        key[0] = 1;
        memcpy(key + 1, id->uuid, 16);
        return 17;
    }
    key[0] = 0;
    for (int i = 0; i < 8; i++) {
        key[1 + i] = (uint8_t)(id->num >> (56 - 8 * i));
    }
    return 9;
}

int point_id_from_key(const uint8_t *key, size_t len, point_id *id,
                      vectron_error *err)
{
    memset(id, 0, sizeof *id);
    if (len == 9 && key[0] == 0) {
        for (int i = 0; i < 8; i++) {
            id->num = id->num << 8 | key[1 + i];
        }
        return 0;
    }
    if (len == 17 && key[0] == 1) {
        id->is_uuid = 1;
        memcpy(id->uuid, key + 1, 16);
        return 0;
    }
    return vx_err(err, VECTRON_INVALID, "malformed point key (%zu bytes)",
                  len);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int point_id_parse_uuid(const char *s, size_t len, point_id *id,
                        vectron_error *err)
{
    size_t j = 0;

    memset(id, 0, sizeof *id);
    if (len != 36 && len != 32) {
        return vx_err(err, VECTRON_INVALID,
                      "point id is neither an unsigned integer nor a UUID");
    }
    for (size_t i = 0; i < len;) {
        int hi, lo;
        if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-') {
                return vx_err(err, VECTRON_INVALID, "malformed UUID");
            }
            i++;
            continue;
        }
        if (i + 1 >= len || (hi = hexval(s[i])) < 0 ||
            (lo = hexval(s[i + 1])) < 0) {
            return vx_err(err, VECTRON_INVALID, "malformed UUID");
        }
        id->uuid[j++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    if (j != 16) {
        return vx_err(err, VECTRON_INVALID, "malformed UUID");
    }
    id->is_uuid = 1;
    return 0;
}

size_t point_id_format(const point_id *id, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (!id->is_uuid) {
        return (size_t)sprintf(buf, "%" PRIu64, id->num);
    }
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            buf[n++] = '-';
        }
        buf[n++] = hex[id->uuid[i] >> 4];
        buf[n++] = hex[id->uuid[i] & 15];
    }
    buf[n] = '\0';
    return n;
}

int point_id_cmp(const point_id *a, const point_id *b)
{
    if (a->is_uuid != b->is_uuid) {
        return a->is_uuid ? 1 : -1;
    }
    if (!a->is_uuid) {
        return (a->num > b->num) - (a->num < b->num);
    }
    int c = memcmp(a->uuid, b->uuid, 16);
    return (c > 0) - (c < 0);
}
