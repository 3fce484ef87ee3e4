/*
 * session_token.c - encoding and parsing of the `vectron-session` token
 * (session_token.h, docs/formats/session-token.md). The parser takes
 * untrusted input (a request header): every read is bounded by the
 * decoded length, counts are capped before allocating, and the CRC32C is
 * checked before the contents are trusted.
 *
 * Threading: pure functions over caller memory.
 */
#include <string.h>

#include <sodium.h>

#include "common/common.h"
#include "gateway/session_token.h"

#define PREFIX "v1."
#define PREFIX_LEN 3u
#define VARINT_MAX 10u

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Reads a varint at *at (< len); -1 when truncated or longer than 64 bits
 * (or not in its shortest form beyond the tenth byte). */
static int get_varint(const uint8_t *p, size_t len, size_t *at, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < VARINT_MAX; i++) {
        if (*at >= len)
            return -1;
        uint8_t b = p[(*at)++];
        if (i == VARINT_MAX - 1 && b > 1)
            return -1; /* over 64 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

size_t gw_session_text_max(uint32_t n)
{
    size_t bin = (2 + (size_t)n) * VARINT_MAX + 4;
    return PREFIX_LEN + sodium_base64_ENCODED_LEN(
                            bin, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int gw_session_format(const gw_session *s, char *buf, size_t size,
                      vectron_error *err)
{
    if (s->n > GW_SESSION_MAX_SHARDS)
        return vx_err(err, VECTRON_INVALID, "session token: %u shards",
                      (unsigned)s->n);
    uint8_t *bin = vx_malloc((2 + (size_t)s->n) * VARINT_MAX + 4);
    if (!bin)
        return vx_err(err, VECTRON_NOMEM, "session token");
    size_t n = put_varint(bin, s->first_group);
    n += put_varint(bin + n, s->n);
    for (uint32_t i = 0; i < s->n; i++)
        n += put_varint(bin + n, s->index[i]);
    uint32_t crc = vx_crc32c(0, bin, n);
    for (int i = 0; i < 4; i++)
        bin[n++] = (uint8_t)(crc >> (8 * i));
    size_t need = PREFIX_LEN + sodium_base64_ENCODED_LEN(
                                   n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    int rc = 0;
    if (size < need) {
        if (size)
            buf[0] = '\0';
        rc = vx_err(err, VECTRON_INVALID,
                    "session token: %zu bytes do not fit in %zu", need, size);
    } else {
        memcpy(buf, PREFIX, PREFIX_LEN);
        sodium_bin2base64(buf + PREFIX_LEN, size - PREFIX_LEN, bin, n,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    }
    vx_free(bin);
    return rc;
}

int gw_session_parse(const char *text, size_t len, gw_session *out,
                     vectron_error *err)
{
    memset(out, 0, sizeof *out);
    if (len > GW_SESSION_MAX_TEXT)
        return vx_err(err, VECTRON_INVALID,
                      "session token: longer than %u "
                      "bytes",
                      GW_SESSION_MAX_TEXT);
    if (len < PREFIX_LEN || memcmp(text, PREFIX, PREFIX_LEN) != 0)
        return vx_err(err, VECTRON_INVALID,
                      "session token: expected a \"v1.\" token");
    const char *b64 = text + PREFIX_LEN;
    size_t b64_len = len - PREFIX_LEN;
    size_t cap = b64_len / 4 * 3 + 3;
    uint8_t *bin = vx_malloc(cap ? cap : 1);
    if (!bin)
        return vx_err(err, VECTRON_NOMEM, "session token");
    size_t n = 0;
    const char *end = NULL;
    int rc = 0;
    if (sodium_base642bin(bin, cap, b64, b64_len, NULL, &n, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != b64 + b64_len) {
        rc = vx_err(err, VECTRON_INVALID, "session token: not base64url");
        goto out;
    }
    if (n < 4 + 2) {
        rc = vx_err(err, VECTRON_INVALID, "session token: too short");
        goto out;
    }
    n -= 4;
    uint32_t want = (uint32_t)bin[n] | (uint32_t)bin[n + 1] << 8 |
                    (uint32_t)bin[n + 2] << 16 | (uint32_t)bin[n + 3] << 24;
    if (vx_crc32c(0, bin, n) != want) {
        rc = vx_err(err, VECTRON_INVALID, "session token: checksum mismatch");
        goto out;
    }
    size_t at = 0;
    uint64_t first = 0, count = 0;
    if (get_varint(bin, n, &at, &first) || get_varint(bin, n, &at, &count)) {
        rc = vx_err(err, VECTRON_INVALID, "session token: truncated header");
        goto out;
    }
    if (count == 0 || count > GW_SESSION_MAX_SHARDS || count > n - at) {
        rc = vx_err(err, VECTRON_INVALID, "session token: bad shard count");
        goto out;
    }
    out->index = vx_calloc((size_t)count, sizeof *out->index);
    if (!out->index) {
        rc = vx_err(err, VECTRON_NOMEM, "session token");
        goto out;
    }
    out->first_group = first;
    out->n = (uint32_t)count;
    for (uint32_t i = 0; i < out->n; i++) {
        if (get_varint(bin, n, &at, &out->index[i])) {
            rc = vx_err(err, VECTRON_INVALID,
                        "session token: truncated at shard %u", (unsigned)i);
            goto out;
        }
    }
    if (at != n)
        rc = vx_err(err, VECTRON_INVALID, "session token: trailing bytes");
out:
    vx_free(bin);
    if (rc)
        gw_session_clear(out);
    return rc;
}

int gw_session_merge(gw_session *a, const gw_session *b, vectron_error *err)
{
    if (a->first_group != b->first_group || a->n != b->n)
        return vx_err(err, VECTRON_INVALID,
                      "session token: another collection's");
    for (uint32_t i = 0; i < a->n; i++)
        if (b->index[i] > a->index[i])
            a->index[i] = b->index[i];
    return 0;
}

void gw_session_clear(gw_session *s)
{
    vx_free(s->index);
    memset(s, 0, sizeof *s);
}
