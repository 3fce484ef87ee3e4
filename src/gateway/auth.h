/*
 * auth.h - authentication, access control and rate limiting of the REST
 * API (docs/auth.md): Qdrant's credentials (an `api-key` header, or
 * `Authorization: Bearer <token>` with an API key or an HS256 JWT), API
 * keys with a level (admin, read-write, read-only) and optional
 * collection scopes, and a token bucket per credential (per client
 * address when anonymous).
 *
 * Where state lives. The stored API keys are Placement Driver metadata
 * (pd/catalog.h), reached through a lookup callback: `vectron serve`
 * reads its catalog directly, a separate gateway process will read its
 * PD client's copy, and nothing here changes. The bootstrap keys and the
 * JWT secret are configuration. The token buckets are this process's
 * own: with several gateways behind a load balancer each enforces the
 * limits on the traffic it receives.
 *
 * The guard (gw_auth_guard, an http_guard_fn) runs before each handler:
 * public routes pass; otherwise, while no credential is configured
 * anywhere, every request is anonymous and only rate-limited; once one is
 * (a bootstrap key, a JWT secret or any stored key), a request needs a
 * credential that authenticates (401, or 403 for a JWT with a bad
 * signature or past its exp, as Qdrant), that is within its rate (429
 * with Retry-After) and that grants the route's access to the route's
 * collection (403). On success the request carries the credential's id
 * (req->key_id) and its gw_principal (req->auth).
 *
 * Secrets are compared in constant time: every presented credential is
 * hashed (BLAKE2b-256) and the hashes compared with sodium_memcmp; JWT
 * signatures likewise.
 *
 * Threading: a gw_auth is immutable after gw_auth_new except for the rate
 * limiter (its own locks) and metric counters (atomic); the guard and
 * every function here run concurrently from any thread.
 *
 * Prefix: gw_auth_, gw_jwt_, gw_principal_, gw_rate_.
 */
#ifndef VECTRON_GW_AUTH_H
#define VECTRON_GW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/metrics.h"
#include "gateway/http.h"
#include "pd/catalog.h"
#include "vectron/error.h"

/* Access levels, ordered: the PD_KEY_* values. 0 is no access. */
enum {
    GW_LEVEL_NONE = 0,
    GW_LEVEL_READ = PD_KEY_READ,
    GW_LEVEL_WRITE = PD_KEY_WRITE,
    GW_LEVEL_ADMIN = PD_KEY_ADMIN
};

/* Longest credential accepted (header value), bytes. */
#define GW_AUTH_TOKEN_MAX 8192u
/* JWT exp leeway for clock skew, seconds (Qdrant's). */
#define GW_JWT_LEEWAY_S 30u

/* What an authenticated credential may do: one vx_malloc'd block (free
 * with vx_free). Unscoped: every collection at `level`. Scoped: only the
 * listed collections, each at its own level; `level` is then the highest
 * of them (it picks the rate limit). */
typedef struct gw_principal {
    int level;
    int scoped;
    size_t nscopes;
    struct gw_scope {
        const char *name; /* into the same block */
        int level;
    } scopes[];
} gw_principal;

/* A principal with level and, when n > 0, scopes names[i] at levels[i]
 * (levels NULL: all at level). NULL when out of memory. */
gw_principal *gw_principal_new(int level, size_t n, const char *const *names,
                               const size_t *name_lens, const int *levels);

/* The level p grants on collection name (GW_LEVEL_NONE outside its
 * scope). p NULL (authentication off): GW_LEVEL_ADMIN. */
int gw_principal_level(const gw_principal *p, const char *name);

/* ---- JWT (auth_jwt.c) ---------------------------------------------------- */

enum gw_jwt_result {
    GW_JWT_OK = 0,
    GW_JWT_MALFORMED = 1,     /* not a JWT, not HS256, no exp: 401 */
    GW_JWT_BAD_SIGNATURE = 2, /* 403 (Qdrant) */
    GW_JWT_EXPIRED = 3,       /* exp + leeway before now: 403 (Qdrant) */
    GW_JWT_BAD_CLAIMS = 4,    /* access or value_exists we cannot honour:
                                 401 */
    GW_JWT_NOMEM = 5
};

/* Verifies token (len bytes, not NUL-terminated) as an HS256 JWT signed
 * with secret, at Unix time now, and turns its claims into *out (on
 * GW_JWT_OK only; vx_free). Claims, Qdrant's shape: `exp` (required,
 * seconds), `access` ("r": read everything, "m": manage = admin, or a
 * list of {"collection": name, "access": "r"|"rw"}; absent: "m", as
 * Qdrant), `sub` (optional: copied into sub, at most sub_size - 1 bytes,
 * non-printable bytes replaced by '_'; "" when absent), `value_exists`
 * (refused: not supported). msg (msg_size bytes) receives the reason of a
 * failure. Pure; never reads beyond len. */
int gw_jwt_verify(const char *token, size_t len, const uint8_t *secret,
                  size_t secret_len, uint64_t now, gw_principal **out,
                  char *sub, size_t sub_size, char *msg, size_t msg_size);

/* Builds an HS256 JWT over the claims JSON text (for tests and tools):
 * *out is vx_malloc'd, NUL-terminated. Errors: NOMEM. */
int gw_jwt_sign(const char *claims_json, const uint8_t *secret,
                size_t secret_len, char **out, vectron_error *err);

/* ---- rate limiter (auth_rate.c) -------------------------------------------
 * Token buckets keyed by a string (a credential id, or "addr:<ip>"), held
 * in a table of bounded size: buckets that have refilled are dropped when
 * room is needed, and while the table is full of draining buckets new
 * keys share one overflow bucket. */

typedef struct gw_rate_limit {
    double rate;  /* tokens per second; 0: unlimited */
    double burst; /* bucket size; below 1 counts as 1 */
} gw_rate_limit;

typedef struct gw_ratelimiter gw_ratelimiter;

/* Errors: NOMEM. max_keys 0: 65536. */
int gw_rate_new(size_t max_keys, gw_ratelimiter **out, vectron_error *err);
void gw_rate_free(gw_ratelimiter *rl); /* NULL is a no-op */

/* Takes one token from key's bucket at monotonic time now (seconds).
 * Returns 1 when the request may run; 0 when the bucket is empty, with
 * *retry_after_s the whole seconds (at least 1) until a token is back. */
int gw_rate_take(gw_ratelimiter *rl, const char *key, const gw_rate_limit *lim,
                 double now, unsigned *retry_after_s);

/* ---- the authenticator (auth.c) ------------------------------------------ */

/* Looks a stored key up by id into *out: 0, or non-zero when there is
 * none. Must be thread-safe. */
typedef int (*gw_key_lookup_fn)(void *ctx, const char *id, pd_api_key *out);
/* How many keys are stored (any non-zero count turns authentication
 * on). */
typedef size_t (*gw_key_count_fn)(void *ctx);

/* Rate limits by level: index 0 anonymous, then GW_LEVEL_READ, _WRITE,
 * _ADMIN. */
#define GW_RATE_LEVELS 4

typedef struct gw_auth_options {
    const char *api_key;           /* bootstrap admin key; NULL/"": none */
    const char *read_only_api_key; /* bootstrap read-only key */
    const char *jwt_secret;        /* HS256 secret; NULL/"": no JWTs */
    gw_key_lookup_fn lookup;       /* NULL: no stored keys */
    gw_key_count_fn count;
    void *keys_ctx;
    gw_rate_limit rate[GW_RATE_LEVELS];
    size_t rate_max_keys; /* 0: 65536 */
    vx_metrics *metrics;  /* NULL: no metrics */
} gw_auth_options;

typedef struct gw_auth gw_auth;

/* Copies o (strings included). With metrics, registers
 *   vectron_auth_denied_total{status}        401 / 403 answers
 *   vectron_rate_limited_total{level}        429 answers, by the level
 *       whose limit was hit (anonymous, read, write, admin)
 * Errors: NOMEM, INVALID (metrics). */
int gw_auth_new(const gw_auth_options *o, gw_auth **out, vectron_error *err);
void gw_auth_free(gw_auth *a); /* NULL is a no-op */

/* 1 when credentials are required (a bootstrap key, a JWT secret or a
 * stored key exists). */
int gw_auth_enabled(gw_auth *a);

/* Authenticates a credential (the api-key header's value, or the token of
 * "Authorization: Bearer <token>") at Unix time now. Returns 0 with *out
 * (vx_free) and key_id filled (at most HTTP_KEY_ID_SIZE bytes), or the
 * HTTP status to answer (401, 403; 503 when out of memory) with msg. */
int gw_auth_authenticate(gw_auth *a, const char *credential, uint64_t now,
                         gw_principal **out, char key_id[HTTP_KEY_ID_SIZE],
                         char *msg, size_t msg_size);

/* 0 when p may call route r (with its collection parameter taken from
 * req); otherwise 403's message in msg. */
int gw_auth_allows(const gw_principal *p, const http_request *req, char *msg,
                   size_t msg_size);

/* The http_guard_fn; ctx is the gw_auth. */
int gw_auth_guard(void *ctx, http_request *req, http_response *resp);

/* ---- API key tokens --------------------------------------------------------
 * A token is "vxk_<id>_<secret>": id 16 hex digits, secret 43 base64url
 * characters (32 random bytes). The catalog stores the id and
 * gw_auth_hash(token). */

#define GW_KEY_TOKEN_SIZE 80u /* with the NUL */

/* A new random id (16 hex digits + NUL) and token. */
void gw_auth_new_token(char id[17], char token[GW_KEY_TOKEN_SIZE]);

/* BLAKE2b-256 of text, personalised for Vectron API keys. */
void gw_auth_hash(const char *text, size_t len, uint8_t out[PD_KEY_HASH_SIZE]);

#endif
