/*
 * fuzz_auth.c - libFuzzer harness for the credential parsers of the
 * gateway (gateway/auth.h): what an unauthenticated client controls.
 *
 * Input: byte 0 selects the target; the rest is the data.
 *   0: the data is a bearer token for gw_jwt_verify (header, base64url,
 *      signature; a forged token must never verify);
 *   1: the data is a claims object: it is signed with the secret first,
 *      so the claims parser (exp, access shapes, sub) is reached; a
 *      principal that comes out must be consistent;
 *   2: the data is a credential for gw_auth_authenticate (bootstrap key,
 *      "vxk_" tokens against a catalog holding one key, JWTs).
 * Threading: libFuzzer's one thread.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "gateway/auth.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

static const uint8_t secret[] = "fuzz-secret-fuzz-secret-fuzz-sec";

static void check_principal(const gw_principal *p)
{
    CHECK(p->level >= GW_LEVEL_NONE && p->level <= GW_LEVEL_ADMIN);
    for (size_t i = 0; i < p->nscopes; i++) {
        CHECK(p->scopes[i].level <= p->level);
        CHECK(pd_check_name(p->scopes[i].name, strlen(p->scopes[i].name),
                            NULL) == 0);
        CHECK(gw_principal_level(p, p->scopes[i].name) == p->scopes[i].level);
    }
}

static int lookup(void *ctx, const char *id, pd_api_key *out)
{
    return pd_catalog_key_get(ctx, id, out, NULL);
}

static size_t count(void *ctx)
{
    return pd_catalog_key_count(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gw_auth *auth;
    static pd_catalog *cat;
    char sub[64], msg[256];
    gw_principal *p = NULL;

    if (size < 1)
        return 0;
    if (!auth) {
        CHECK(sodium_init() >= 0);
        CHECK(pd_catalog_new(&cat, NULL) == 0);
        pd_api_key k;
        char token[GW_KEY_TOKEN_SIZE];
        uint8_t *buf;
        size_t len;
        memset(&k, 0, sizeof k);
        gw_auth_new_token(k.id, token);
        gw_auth_hash(token, strlen(token), k.hash);
        k.level = PD_KEY_WRITE;
        strcpy(k.scopes, "a,b");
        CHECK(pd_cmd_key_create(&k, &buf, &len, NULL) == 0);
        CHECK(pd_catalog_apply(cat, 1, buf, len) == 0);
        vx_free(buf);
        gw_auth_options o = {.api_key = "fuzz-bootstrap-key",
                             .jwt_secret = (const char *)secret,
                             .lookup = lookup,
                             .count = count,
                             .keys_ctx = cat};
        CHECK(gw_auth_new(&o, &auth, NULL) == 0);
    }
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0:
        /* Unsigned by us: verifying must fail (or the fuzzer found a
         * forgery), and must not crash. */
        CHECK(gw_jwt_verify(text, n, secret, sizeof secret - 1, 1000, &p, sub,
                            sizeof sub, msg, sizeof msg) != GW_JWT_OK);
        CHECK(p == NULL);
        break;
    case 1: {
        char *claims = malloc(n + 1), *tok = NULL;
        CHECK(claims);
        memcpy(claims, text, n);
        claims[n] = '\0';
        if (gw_jwt_sign(claims, secret, sizeof secret - 1, &tok, NULL) == 0) {
            int rc = gw_jwt_verify(tok, strlen(tok), secret, sizeof secret - 1,
                                   1000, &p, sub, sizeof sub, msg, sizeof msg);
            CHECK((rc == GW_JWT_OK) == (p != NULL));
            CHECK(rc != GW_JWT_BAD_SIGNATURE || n != strlen(claims));
            if (p)
                check_principal(p);
            vx_free(p);
            vx_free(tok);
        }
        free(claims);
        break;
    }
    default: {
        char *cred = malloc(n + 1), key_id[HTTP_KEY_ID_SIZE];
        CHECK(cred);
        memcpy(cred, text, n);
        cred[n] = '\0';
        int st =
            gw_auth_authenticate(auth, cred, 1000, &p, key_id, msg, sizeof msg);
        CHECK((st == 0) == (p != NULL));
        CHECK(st == 0 || st == 401 || st == 403);
        if (p) {
            check_principal(p);
            CHECK(key_id[0]);
        }
        vx_free(p);
        free(cred);
        break;
    }
    }
    return 0;
}
