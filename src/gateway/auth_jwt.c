/*
 * auth_jwt.c - HS256 JSON Web Tokens (RFC 7519) with Qdrant's claims:
 * verification (signature with libsodium's HMAC-SHA256, compared in
 * constant time; exp with Qdrant's 30 s leeway; the access claim turned
 * into a gw_principal) and signing for tests and tools. See auth.h.
 *
 * Untrusted input: every length is bounded by the token's, base64url is
 * decoded by libsodium (strict alphabet, no padding), JSON by jansson;
 * fuzz/fuzz_auth.c runs this parser.
 *
 * Threading: pure functions, reentrant.
 */
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "gateway/auth.h"

#define MAX_SCOPES 256u

/* Decodes base64url (no padding) text[0..n) into a new NUL-terminated
 * block; NULL when it is not base64url or out of memory. */
static char *b64url_decode(const char *text, size_t n, size_t *out_len)
{
    size_t cap = n / 4 * 3 + 3;
    char *out = vx_malloc(cap + 1);
    if (!out)
        return NULL;
    if (sodium_base642bin((unsigned char *)out, cap, text, n, NULL, out_len,
                          NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        vx_free(out);
        return NULL;
    }
    out[*out_len] = '\0';
    return out;
}

static void hmac(const uint8_t *secret, size_t secret_len, const char *msg,
                 size_t len, uint8_t mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, secret, secret_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
}

static json_t *load_object(const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* The access claim: "r", "m", or a list of {collection, access}. */
static int access_claim(json_t *access, gw_principal **out, char *msg,
                        size_t msg_size)
{
    if (!access) {
        /* Qdrant: full access when the claim is absent. */
        *out = gw_principal_new(GW_LEVEL_ADMIN, 0, NULL, NULL, NULL);
        return *out ? GW_JWT_OK : GW_JWT_NOMEM;
    }
    if (json_is_string(access)) {
        const char *v = json_string_value(access);
        int level = strcmp(v, "r") == 0   ? GW_LEVEL_READ
                    : strcmp(v, "m") == 0 ? GW_LEVEL_ADMIN
                                          : GW_LEVEL_NONE;
        if (level == GW_LEVEL_NONE) {
            snprintf(msg, msg_size,
                     "JWT access: expected \"r\", \"m\" or a "
                     "list of collections");
            return GW_JWT_BAD_CLAIMS;
        }
        *out = gw_principal_new(level, 0, NULL, NULL, NULL);
        return *out ? GW_JWT_OK : GW_JWT_NOMEM;
    }
    size_t n = json_array_size(access);
    if (!json_is_array(access) || n > MAX_SCOPES) {
        snprintf(msg, msg_size,
                 "JWT access: expected \"r\", \"m\" or a list "
                 "of at most %u collections",
                 MAX_SCOPES);
        return GW_JWT_BAD_CLAIMS;
    }
    const char *names[MAX_SCOPES];
    size_t lens[MAX_SCOPES];
    int levels[MAX_SCOPES];
    int top = GW_LEVEL_NONE;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(access, i);
        json_t *col = json_object_get(e, "collection");
        json_t *acc = json_object_get(e, "access");
        const char *a = json_string_value(acc);
        if (!json_is_object(e) || !json_is_string(col) || !a ||
            pd_check_name(json_string_value(col), json_string_length(col),
                          NULL) ||
            (strcmp(a, "r") != 0 && strcmp(a, "rw") != 0)) {
            snprintf(msg, msg_size,
                     "JWT access[%zu]: expected {\"collection\": name, "
                     "\"access\": \"r\" or \"rw\"}",
                     i);
            return GW_JWT_BAD_CLAIMS;
        }
        json_t *payload = json_object_get(e, "payload");
        if (payload && !json_is_null(payload)) {
            /* A restriction we cannot enforce must not be ignored. */
            snprintf(msg, msg_size,
                     "JWT access[%zu]: payload restrictions "
                     "are not supported",
                     i);
            return GW_JWT_BAD_CLAIMS;
        }
        names[i] = json_string_value(col);
        lens[i] = json_string_length(col);
        levels[i] = a[1] ? GW_LEVEL_WRITE : GW_LEVEL_READ;
        for (size_t j = 0; j < i; j++) {
            if (lens[j] == lens[i] &&
                memcmp(names[j], names[i], lens[i]) == 0) {
                snprintf(msg, msg_size,
                         "JWT access: collection `%.64s` is listed twice",
                         names[i]);
                return GW_JWT_BAD_CLAIMS;
            }
        }
        if (levels[i] > top)
            top = levels[i];
    }
    *out = gw_principal_new(top, n, names, lens, levels);
    if (*out)
        (*out)->scoped = 1; /* an empty list grants nothing */
    return *out ? GW_JWT_OK : GW_JWT_NOMEM;
}

int gw_jwt_verify(const char *token, size_t len, const uint8_t *secret,
                  size_t secret_len, uint64_t now, gw_principal **out,
                  char *sub, size_t sub_size, char *msg, size_t msg_size)
{
    const char *dot1, *dot2;
    char *header_text = NULL, *payload_text = NULL;
    json_t *header = NULL, *claims = NULL;
    size_t hlen, plen, slen;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    uint8_t sig[crypto_auth_hmacsha256_BYTES + 3];
    int rc = GW_JWT_MALFORMED;

    *out = NULL;
    if (sub_size)
        sub[0] = '\0';
    snprintf(msg, msg_size, "Invalid API key or JWT");
    if (len > GW_AUTH_TOKEN_MAX || !(dot1 = memchr(token, '.', len)) ||
        !(dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) ||
        memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return GW_JWT_MALFORMED;

    header_text = b64url_decode(token, (size_t)(dot1 - token), &hlen);
    if (!header_text || !(header = load_object(header_text, hlen)))
        goto out;
    const char *alg = json_string_value(json_object_get(header, "alg"));
    if (!alg || strcmp(alg, "HS256") != 0) {
        snprintf(msg, msg_size, "JWT: only HS256 tokens are accepted");
        goto out;
    }
    /* The signature: 32 bytes of base64url, compared in constant time. */
    if (sodium_base642bin(sig, sizeof sig, dot2 + 1,
                          len - (size_t)(dot2 + 1 - token), NULL, &slen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        slen != sizeof mac)
        goto out;
    hmac(secret, secret_len, token, (size_t)(dot2 - token), mac);
    if (sodium_memcmp(mac, sig, sizeof mac) != 0) {
        snprintf(msg, msg_size, "JWT: invalid signature");
        rc = GW_JWT_BAD_SIGNATURE;
        goto out;
    }

    payload_text = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen);
    if (!payload_text || !(claims = load_object(payload_text, plen)))
        goto out;
    json_t *exp = json_object_get(claims, "exp");
    if (!json_is_number(exp) || !isfinite(json_number_value(exp))) {
        snprintf(msg, msg_size, "JWT: the exp claim is required");
        goto out;
    }
    if (json_number_value(exp) + GW_JWT_LEEWAY_S < (double)now) {
        snprintf(msg, msg_size, "JWT: expired");
        rc = GW_JWT_EXPIRED;
        goto out;
    }
    json_t *ve = json_object_get(claims, "value_exists");
    if (ve && !json_is_null(ve)) {
        snprintf(msg, msg_size, "JWT: value_exists is not supported");
        rc = GW_JWT_BAD_CLAIMS;
        goto out;
    }
    json_t *s = json_object_get(claims, "sub");
    if (s && !json_is_null(s) && !json_is_string(s)) {
        snprintf(msg, msg_size, "JWT: sub must be a string");
        rc = GW_JWT_BAD_CLAIMS;
        goto out;
    }
    if (json_is_string(s) && sub_size) {
        const char *v = json_string_value(s);
        size_t i = 0, n = json_string_length(s);
        for (; i < n && i + 1 < sub_size; i++) {
            unsigned char ch = (unsigned char)v[i];
            sub[i] = ch > 0x20 && ch < 0x7f ? (char)ch : '_';
        }
        sub[i] = '\0';
    }
    rc = access_claim(json_object_get(claims, "access"), out, msg, msg_size);
    if (rc == GW_JWT_OK)
        msg[0] = '\0';
out:
    json_decref(claims);
    json_decref(header);
    vx_free(payload_text);
    vx_free(header_text);
    return rc;
}

/* base64url of data into a new NUL-terminated block. */
static char *b64url(const void *data, size_t n)
{
    size_t cap =
        sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = vx_malloc(cap);
    if (out)
        sodium_bin2base64(out, cap, data, n,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

int gw_jwt_sign(const char *claims_json, const uint8_t *secret,
                size_t secret_len, char **out, vectron_error *err)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *h = b64url(header, sizeof header - 1);
    char *p = b64url(claims_json, strlen(claims_json));
    char *tok = NULL;
    int rc = 0;
    if (!h || !p) {
        rc = vx_err(err, VECTRON_NOMEM, "jwt");
        goto out;
    }
    size_t hl = strlen(h), pl = strlen(p);
    size_t sl = sodium_base64_ENCODED_LEN(
        crypto_auth_hmacsha256_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    tok = vx_malloc(hl + 1 + pl + 1 + sl);
    if (!tok) {
        rc = vx_err(err, VECTRON_NOMEM, "jwt");
        goto out;
    }
    memcpy(tok, h, hl);
    tok[hl] = '.';
    memcpy(tok + hl + 1, p, pl);
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    hmac(secret, secret_len, tok, hl + 1 + pl, mac);
    tok[hl + 1 + pl] = '.';
    sodium_bin2base64(tok + hl + 2 + pl, sl, mac, sizeof mac,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    *out = tok;
out:
    vx_free(h);
    vx_free(p);
    return rc;
}
