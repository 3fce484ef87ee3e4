/*
 * auth.c - the authenticator and the HTTP guard (auth.h): credentials to
 * principals, route access checks, rate limits, API key tokens.
 *
 * Threading: a gw_auth is read-only after gw_auth_new (the rate limiter
 * and the metric counters synchronise themselves); every function runs
 * concurrently from any thread.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/common.h"
#include "gateway/auth.h"

#define TOKEN_PREFIX "vxk_"
#define ID_HEX 16u

struct gw_auth {
    int has_admin, has_ro;
    uint8_t admin_hash[PD_KEY_HASH_SIZE];
    uint8_t ro_hash[PD_KEY_HASH_SIZE];
    uint8_t *jwt_secret; /* NULL: JWTs off */
    size_t jwt_secret_len;
    gw_key_lookup_fn lookup;
    gw_key_count_fn count;
    void *keys_ctx;
    gw_rate_limit rate[GW_RATE_LEVELS];
    gw_ratelimiter *rl;
    vx_counter *denied_401, *denied_403;
    vx_counter *limited[GW_RATE_LEVELS];
};

static const char *const level_names[GW_RATE_LEVELS] = {"anonymous", "read",
                                                        "write", "admin"};

/* ---- principals ---------------------------------------------------------- */

gw_principal *gw_principal_new(int level, size_t n, const char *const *names,
                               const size_t *name_lens, const int *levels)
{
    size_t text = 0;
    for (size_t i = 0; i < n; i++)
        text += name_lens[i] + 1;
    gw_principal *p = vx_malloc(sizeof *p + n * sizeof p->scopes[0] + text);
    if (!p)
        return NULL;
    p->level = level;
    p->scoped = n > 0;
    p->nscopes = n;
    char *t = (char *)&p->scopes[n];
    for (size_t i = 0; i < n; i++) {
        memcpy(t, names[i], name_lens[i]);
        t[name_lens[i]] = '\0';
        p->scopes[i].name = t;
        p->scopes[i].level = levels ? levels[i] : level;
        t += name_lens[i] + 1;
    }
    return p;
}

int gw_principal_level(const gw_principal *p, const char *name)
{
    if (!p)
        return GW_LEVEL_ADMIN;
    if (!p->scoped)
        return p->level;
    for (size_t i = 0; i < p->nscopes; i++)
        if (name && strcmp(p->scopes[i].name, name) == 0)
            return p->scopes[i].level;
    return GW_LEVEL_NONE;
}

/* A stored key's principal: its level on its scopes (comma-separated). */
static gw_principal *key_principal(const pd_api_key *k)
{
    const char *names[256];
    size_t lens[256];
    size_t n = 0;
    const char *s = k->scopes;
    while (*s && n < 256) {
        size_t l = strcspn(s, ",");
        names[n] = s;
        lens[n++] = l;
        s += l;
        if (*s == ',')
            s++;
    }
    return gw_principal_new(k->level, n, names, lens, NULL);
}

/* ---- tokens -------------------------------------------------------------- */

void gw_auth_hash(const char *text, size_t len, uint8_t out[PD_KEY_HASH_SIZE])
{
    static const unsigned char
        personal[crypto_generichash_blake2b_PERSONALBYTES] = "vectron.apikey.1";
    crypto_generichash_blake2b_salt_personal(out, PD_KEY_HASH_SIZE,
                                             (const unsigned char *)text, len,
                                             NULL, 0, NULL, personal);
}

void gw_auth_new_token(char id[ID_HEX + 1], char token[GW_KEY_TOKEN_SIZE])
{
    uint8_t rid[ID_HEX / 2], secret[32];
    char b64[sodium_base64_ENCODED_LEN(
        32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf(rid, sizeof rid);
    randombytes_buf(secret, sizeof secret);
    sodium_bin2hex(id, ID_HEX + 1, rid, sizeof rid);
    sodium_bin2base64(b64, sizeof b64, secret, sizeof secret,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(token, GW_KEY_TOKEN_SIZE, TOKEN_PREFIX "%s_%s", id, b64);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(b64, sizeof b64);
}

/* The id of a "vxk_<id>_<secret>" token into id; -1 when not that form. */
static int token_id(const char *t, char id[PD_KEY_ID_MAX + 1])
{
    if (strncmp(t, TOKEN_PREFIX, 4) != 0)
        return -1;
    t += 4;
    size_t l = 0;
    while (l < PD_KEY_ID_MAX &&
           ((t[l] >= '0' && t[l] <= '9') || (t[l] >= 'a' && t[l] <= 'z') ||
            (t[l] >= 'A' && t[l] <= 'Z')))
        l++;
    if (l == 0 || t[l] != '_')
        return -1;
    memcpy(id, t, l);
    id[l] = '\0';
    return 0;
}

/* ---- life cycle ---------------------------------------------------------- */

int gw_auth_new(const gw_auth_options *o, gw_auth **out, vectron_error *err)
{
    gw_auth *a;
    int rc;

    *out = NULL;
    if (sodium_init() < 0)
        return vx_err(err, VECTRON_INTERNAL, "auth: libsodium did not start");
    a = vx_calloc(1, sizeof *a);
    if (!a)
        return vx_err(err, VECTRON_NOMEM, "auth");
    if (o->api_key && o->api_key[0]) {
        a->has_admin = 1;
        gw_auth_hash(o->api_key, strlen(o->api_key), a->admin_hash);
    }
    if (o->read_only_api_key && o->read_only_api_key[0]) {
        a->has_ro = 1;
        gw_auth_hash(o->read_only_api_key, strlen(o->read_only_api_key),
                     a->ro_hash);
    }
    if (o->jwt_secret && o->jwt_secret[0]) {
        a->jwt_secret_len = strlen(o->jwt_secret);
        a->jwt_secret = vx_malloc(a->jwt_secret_len);
        if (!a->jwt_secret) {
            rc = vx_err(err, VECTRON_NOMEM, "auth");
            goto fail;
        }
        memcpy(a->jwt_secret, o->jwt_secret, a->jwt_secret_len);
    }
    a->lookup = o->lookup;
    a->count = o->count;
    a->keys_ctx = o->keys_ctx;
    memcpy(a->rate, o->rate, sizeof a->rate);
    if ((rc = gw_rate_new(o->rate_max_keys, &a->rl, err)))
        goto fail;
    if (o->metrics) {
        static const char *const status_label[] = {"status"};
        static const char *const level_label[] = {"level"};
        vx_metric_family *fd, *fl;
        rc = vx_metrics_family(o->metrics, VX_METRIC_COUNTER,
                               "vectron_auth_denied_total",
                               "Requests refused for missing, invalid or "
                               "insufficient credentials, by status.",
                               status_label, 1, NULL, 0, &fd, err);
        if (rc == 0)
            rc = vx_metrics_family(o->metrics, VX_METRIC_COUNTER,
                                   "vectron_rate_limited_total",
                                   "Requests refused with 429 by the rate "
                                   "limiter, by the level whose limit was "
                                   "hit.",
                                   level_label, 1, NULL, 0, &fl, err);
        const char *v401[] = {"401"}, *v403[] = {"403"};
        if (rc == 0)
            rc = vx_metrics_counter(fd, v401, &a->denied_401, err);
        if (rc == 0)
            rc = vx_metrics_counter(fd, v403, &a->denied_403, err);
        for (size_t i = 0; rc == 0 && i < GW_RATE_LEVELS; i++) {
            const char *v[] = {level_names[i]};
            rc = vx_metrics_counter(fl, v, &a->limited[i], err);
        }
        if (rc) {
            vx_err_wrap(err, rc, "auth: metrics");
            goto fail;
        }
    }
    *out = a;
    return 0;
fail:
    gw_auth_free(a);
    return rc;
}

void gw_auth_free(gw_auth *a)
{
    if (!a)
        return;
    gw_rate_free(a->rl);
    if (a->jwt_secret) {
        sodium_memzero(a->jwt_secret, a->jwt_secret_len);
        vx_free(a->jwt_secret);
    }
    sodium_memzero(a, sizeof *a);
    vx_free(a);
}

int gw_auth_enabled(gw_auth *a)
{
    return a->has_admin || a->has_ro || a->jwt_secret ||
           (a->count && a->count(a->keys_ctx) > 0);
}

/* ---- authentication ------------------------------------------------------ */

int gw_auth_authenticate(gw_auth *a, const char *cred, uint64_t now,
                         gw_principal **out, char key_id[HTTP_KEY_ID_SIZE],
                         char *msg, size_t msg_size)
{
    size_t len = strlen(cred);
    uint8_t h[PD_KEY_HASH_SIZE];
    char id[PD_KEY_ID_MAX + 1];
    pd_api_key k;

    *out = NULL;
    key_id[0] = '\0';
    if (len == 0 || len > GW_AUTH_TOKEN_MAX) {
        snprintf(msg, msg_size, "Invalid API key or JWT");
        return 401;
    }
    gw_auth_hash(cred, len, h);
    /* Both bootstrap keys are compared, whatever the first gives. */
    int is_admin =
        a->has_admin && sodium_memcmp(h, a->admin_hash, sizeof h) == 0;
    int is_ro = a->has_ro && sodium_memcmp(h, a->ro_hash, sizeof h) == 0;
    if (is_admin || is_ro) {
        *out = gw_principal_new(is_admin ? GW_LEVEL_ADMIN : GW_LEVEL_READ, 0,
                                NULL, NULL, NULL);
        snprintf(key_id, HTTP_KEY_ID_SIZE, "%s",
                 is_admin ? "bootstrap" : "bootstrap-read-only");
        goto done;
    }
    if (a->lookup && token_id(cred, id) == 0 &&
        a->lookup(a->keys_ctx, id, &k) == 0 &&
        sodium_memcmp(h, k.hash, sizeof h) == 0) {
        if (k.expires_at && now >= k.expires_at) {
            snprintf(msg, msg_size, "API key %s has expired", k.id);
            return 401;
        }
        *out = key_principal(&k);
        snprintf(key_id, HTTP_KEY_ID_SIZE, "%s", k.id);
        goto done;
    }
    if (a->jwt_secret && memchr(cred, '.', len)) {
        char sub[HTTP_KEY_ID_SIZE - 4];
        int rc = gw_jwt_verify(cred, len, a->jwt_secret, a->jwt_secret_len, now,
                               out, sub, sizeof sub, msg, msg_size);
        switch (rc) {
        case GW_JWT_OK:
            if (sub[0]) {
                snprintf(key_id, HTTP_KEY_ID_SIZE, "jwt:%s", sub);
            } else {
                /* No subject: the token itself names the bucket. */
                char hex[17];
                sodium_bin2hex(hex, sizeof hex, h, 8);
                snprintf(key_id, HTTP_KEY_ID_SIZE, "jwt:%s", hex);
            }
            goto done;
        case GW_JWT_BAD_SIGNATURE:
        case GW_JWT_EXPIRED:
            return 403;
        case GW_JWT_NOMEM:
            snprintf(msg, msg_size, "out of memory");
            return 503;
        default:
            return 401;
        }
    }
    snprintf(msg, msg_size, "Invalid API key or JWT");
    return 401;
done:
    if (!*out) {
        snprintf(msg, msg_size, "out of memory");
        return 503;
    }
    return 0;
}

static int need_level(unsigned access)
{
    switch (access & HTTP_ACCESS_LEVEL_MASK) {
    case HTTP_ACCESS_READ:
        return GW_LEVEL_READ;
    case HTTP_ACCESS_WRITE:
        return GW_LEVEL_WRITE;
    case HTTP_ACCESS_PUBLIC:
        return GW_LEVEL_NONE;
    default:
        return GW_LEVEL_ADMIN;
    }
}

int gw_auth_allows(const gw_principal *p, const http_request *req, char *msg,
                   size_t msg_size)
{
    const http_route *r = req->route;
    int need = need_level(r->access);
    static const char *const what[] = {"", "Read", "Write", "Admin"};

    if (need == GW_LEVEL_NONE)
        return 0;
    if (r->collection_param) {
        const char *name = http_param(req, r->collection_param);
        if (gw_principal_level(p, name) >= need)
            return 0;
        if (p->scoped && gw_principal_level(p, name) == GW_LEVEL_NONE)
            snprintf(msg, msg_size, "Access to collection %.255s is required",
                     name ? name : "?");
        else
            snprintf(msg, msg_size,
                     "%s access to collection %.255s is "
                     "required",
                     what[need], name ? name : "?");
        return 403;
    }
    if (!(r->access & HTTP_ACCESS_ANY_SCOPE) && p->scoped) {
        snprintf(msg, msg_size,
                 "Global access is required (this credential "
                 "is limited to collections)");
        return 403;
    }
    if (p->level >= need)
        return 0;
    snprintf(msg, msg_size, "%s access is required", what[need]);
    return 403;
}

/* ---- the guard ----------------------------------------------------------- */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The credential of a request: api-key, else "Authorization: Bearer". */
static const char *credential(const http_request *req)
{
    const char *v = http_header(req, "api-key");
    if (v)
        return v;
    v = http_header(req, "Authorization");
    if (v && strncasecmp(v, "Bearer ", 7) == 0) {
        v += 7;
        while (*v == ' ')
            v++;
        return v;
    }
    return NULL;
}

/* "addr:<ip>" from "ip:port" or "[ip6]:port". */
static void address_key(const char *client, char *out, size_t size)
{
    const char *end = strrchr(client, ':');
    size_t n = end ? (size_t)(end - client) : strlen(client);
    if (n >= 2 && client[0] == '[' && client[n - 1] == ']') {
        client++;
        n -= 2;
    }
    snprintf(out, size, "addr:%.*s", (int)n, client);
}

static int refuse(http_request *req, http_response *resp, int status,
                  const char *msg)
{
    http_respond_error(req, resp, status, msg);
    if (status == 401)
        http_response_header(resp, "WWW-Authenticate",
                             "Bearer realm=\"vectron\"");
    return 1;
}

/* Takes a token from key's bucket at level; 0 or the 429 already set. */
static int limit(gw_auth *a, http_request *req, http_response *resp,
                 const char *key, int level)
{
    unsigned retry = 0;
    char msg[160], secs[16];
    if (gw_rate_take(a->rl, key, &a->rate[level], mono_now(), &retry))
        return 0;
    vx_counter_add(a->limited[level], 1);
    snprintf(msg, sizeof msg,
             "Too many requests: the %s rate limit is %.6g per second; retry "
             "after %u s",
             level_names[level], a->rate[level].rate, retry);
    http_respond_error(req, resp, 429, msg);
    snprintf(secs, sizeof secs, "%u", retry);
    http_response_header(resp, "Retry-After", secs);
    return 1;
}

int gw_auth_guard(void *ctx, http_request *req, http_response *resp)
{
    gw_auth *a = ctx;
    char addr[HTTP_KEY_ID_SIZE + 8], key_id[HTTP_KEY_ID_SIZE], msg[320];
    gw_principal *p = NULL;
    int status;

    if (need_level(req->route->access) == GW_LEVEL_NONE)
        return 0; /* probes: never refused */
    address_key(req->client, addr, sizeof addr);
    if (!gw_auth_enabled(a))
        return limit(a, req, resp, addr, 0);
    const char *cred = credential(req);
    if (!cred) {
        if (limit(a, req, resp, addr, 0))
            return 1;
        vx_counter_add(a->denied_401, 1);
        return refuse(req, resp, 401,
                      "Must provide an API key or an Authorization bearer "
                      "token");
    }
    status = gw_auth_authenticate(a, cred, (uint64_t)time(NULL), &p, key_id,
                                  msg, sizeof msg);
    if (status) {
        /* Failed attempts count against the address: guessing is
         * throttled like anonymous traffic. */
        if (limit(a, req, resp, addr, 0))
            return 1;
        vx_counter_add(status == 403 ? a->denied_403 : a->denied_401, 1);
        return refuse(req, resp, status, msg);
    }
    http_request_set_auth(req, key_id, p); /* p now belongs to the request */
    if (limit(a, req, resp, key_id, p->level))
        return 1;
    if ((status = gw_auth_allows(p, req, msg, sizeof msg))) {
        vx_counter_add(a->denied_403, 1);
        return refuse(req, resp, status, msg);
    }
    return 0;
}
