/*
 * test_auth.c - authentication, access control and rate limits of the
 * gateway (gateway/auth.h) and the API keys of the PD catalog.
 *
 * - JWT: signing and verification, Qdrant's claim shapes, every refusal
 *   (bad signature, expired, no exp, alg, payload and value_exists
 *   restrictions, garbage).
 * - The route table: the REAL table of gw_api_routes is served by the
 *   real HTTP server with the real guard (only the handlers are replaced
 *   by one that counts calls), and for EVERY route the test sends no
 *   credential, an unknown key, an expired key, an expired JWT, a JWT
 *   with a bad signature, a credential scoped to another collection, a
 *   read-only credential, and credentials that must pass. A route added
 *   to the table is covered without touching this file; a route that
 *   names a collection must declare it as its collection_param.
 * - Rate limits: the bucket arithmetic with a fake clock, and a bounded
 *   load test from several threads against the live server that checks
 *   the accepted count stays within rate * time + burst, and that 429s
 *   carry Retry-After.
 * - The catalog: key create / revoke outcomes and snapshots carrying
 *   keys (and version 1 snapshots, which have none, still restoring).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "gateway/api.h"
#include "gateway/auth.h"

TestSuite(auth, .timeout = 120);

static const uint8_t secret[] = "0123456789abcdef0123456789abcdef";
#define SECRET_LEN (sizeof secret - 1)

/* ---- a tiny HTTP client ------------------------------------------------ */

static int dial(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {.tv_sec = 10};
    int one = 1;
    cr_assert_geq(fd, 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Sends one request on fd and reads one response (Content-Length
 * framed). Returns the status; head (if not NULL, size bytes) receives
 * the response headers. */
static int exchange(int fd, const char *method, const char *path,
                    const char *header, const char *body, char *head,
                    size_t size)
{
    char req[16384], buf[65536];
    size_t blen = body ? strlen(body) : 0, got = 0;
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: t\r\n%s%sContent-Length: "
                     "%zu\r\n\r\n%s",
                     method, path, header ? header : "", header ? "\r\n" : "",
                     blen, body ? body : "");
    cr_assert_lt((size_t)n, sizeof req);
    cr_assert_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    for (;;) {
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        cr_assert_gt(r, 0, "no response to %s %s", method, path);
        got += (size_t)r;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
        if (got >= (size_t)(end + 4 - buf) + want) {
            if (head)
                snprintf(head, size, "%.*s", (int)(end - buf), buf);
            return atoi(buf + 9);
        }
    }
}

static int request(unsigned port, const char *method, const char *path,
                   const char *header, char *head, size_t size)
{
    int fd = dial(port);
    int st = exchange(fd, method, path, header, NULL, head, size);
    close(fd);
    return st;
}

/* ---- JWT ----------------------------------------------------------------- */

static char *jwt(const char *claims, const uint8_t *key, size_t klen)
{
    char *t = NULL;
    cr_assert_eq(gw_jwt_sign(claims, key, klen, &t, NULL), 0);
    return t;
}

static int verify(const char *tok, gw_principal **p, char *sub)
{
    char msg[256];
    char s[64];
    int rc = gw_jwt_verify(tok, strlen(tok), secret, SECRET_LEN,
                           (uint64_t)time(NULL), p, sub ? sub : s, 64, msg,
                           sizeof msg);
    if (rc)
        cr_assert(msg[0], "a refusal says why");
    return rc;
}

Test(auth, jwt_claims_and_refusals)
{
    cr_assert_geq(sodium_init(), 0);
    long long now = (long long)time(NULL);
    char claims[512], sub[64];
    gw_principal *p = NULL;

    snprintf(claims, sizeof claims, "{\"exp\":%lld,\"access\":\"r\"}",
             now + 60);
    char *t = jwt(claims, secret, SECRET_LEN);
    cr_assert_eq(verify(t, &p, sub), GW_JWT_OK);
    cr_assert_eq(p->level, GW_LEVEL_READ);
    cr_assert_eq(p->scoped, 0);
    cr_assert_str_eq(sub, "");
    vx_free(p);
    /* One flipped signature character: 403's case. */
    t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
    cr_assert_eq(verify(t, &p, NULL), GW_JWT_BAD_SIGNATURE);
    cr_assert_null(p);
    vx_free(t);
    /* Another secret. */
    t = jwt(claims, (const uint8_t *)"other", 5);
    cr_assert_eq(verify(t, &p, NULL), GW_JWT_BAD_SIGNATURE);
    vx_free(t);

    /* Expired beyond the leeway; within it still good. */
    snprintf(claims, sizeof claims, "{\"exp\":%lld}", now - 3600);
    t = jwt(claims, secret, SECRET_LEN);
    cr_assert_eq(verify(t, &p, NULL), GW_JWT_EXPIRED);
    vx_free(t);
    snprintf(claims, sizeof claims, "{\"exp\":%lld,\"sub\":\"app 1\"}",
             now - 5);
    t = jwt(claims, secret, SECRET_LEN);
    cr_assert_eq(verify(t, &p, sub), GW_JWT_OK);
    cr_assert_eq(p->level, GW_LEVEL_ADMIN, "no access claim: manage");
    cr_assert_str_eq(sub, "app_1");
    vx_free(p);
    vx_free(t);

    /* Collection list. */
    snprintf(claims, sizeof claims,
             "{\"exp\":%lld,\"access\":[{\"collection\":\"a\",\"access\":"
             "\"rw\"},{\"collection\":\"b\",\"access\":\"r\"}]}",
             now + 60);
    t = jwt(claims, secret, SECRET_LEN);
    cr_assert_eq(verify(t, &p, NULL), GW_JWT_OK);
    cr_assert(p->scoped);
    cr_assert_eq(p->level, GW_LEVEL_WRITE);
    cr_assert_eq(gw_principal_level(p, "a"), GW_LEVEL_WRITE);
    cr_assert_eq(gw_principal_level(p, "b"), GW_LEVEL_READ);
    cr_assert_eq(gw_principal_level(p, "c"), GW_LEVEL_NONE);
    vx_free(p);
    vx_free(t);

    /* Refused claims: 401's cases. */
    const char *bad[] = {
        "{\"access\":\"r\"}",               /* no exp */
        "{\"exp\":\"soon\"}",               /* exp not a number */
        "{\"exp\":%lld,\"access\":\"rw\"}", /* not a global mode */
        "{\"exp\":%lld,\"access\":[{\"collection\":\"a\",\"access\":\"m\"}]}",
        "{\"exp\":%lld,\"access\":[{\"collection\":\"a\",\"access\":\"r\","
        "\"payload\":{\"k\":1}}]}",
        "{\"exp\":%lld,\"access\":[{\"collection\":\"a\",\"access\":\"r\"},"
        "{\"collection\":\"a\",\"access\":\"rw\"}]}",
        "{\"exp\":%lld,\"access\":[{\"collection\":\"../"
        "x\",\"access\":\"r\"}]}",
        "{\"exp\":%lld,\"value_exists\":{\"collection\":\"a\",\"matches\":[]}}",
        "{\"exp\":%lld,\"sub\":5}",
        "[1,2]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(claims, sizeof claims, bad[i], now + 60);
        t = jwt(claims, secret, SECRET_LEN);
        int rc = verify(t, &p, NULL);
        cr_assert(rc == GW_JWT_MALFORMED || rc == GW_JWT_BAD_CLAIMS,
                  "case %zu: %d", i, rc);
        cr_assert_null(p);
        vx_free(t);
    }
    /* Not HS256 (alg none with an empty signature) and garbage. */
    const char *garbage[] = {
        "eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.",
        "a.b.c",
        "....",
        "abc",
        "",
        "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjk5OTk5OTk5OTl9.%%%",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        cr_assert_eq(verify(garbage[i], &p, NULL), GW_JWT_MALFORMED, "%s",
                     garbage[i]);
    }
}

/* ---- the route table against the live server ----------------------------- */

static atomic_int reached;

static void counting(void *ctx, const http_request *r, http_response *w)
{
    (void)ctx;
    atomic_fetch_add(&reached, 1);
    /* The guard's verdict reaches the handler. */
    if (r->route->access != HTTP_ACCESS_PUBLIC)
        cr_assert(r->key_id && r->key_id[0] && r->auth);
    w->body = vx_malloc(2);
    memcpy(w->body, "{}", 2);
    w->len = 2;
}

static int lookup(void *ctx, const char *id, pd_api_key *out)
{
    return pd_catalog_key_get(ctx, id, out, NULL);
}

static size_t count(void *ctx)
{
    return pd_catalog_key_count(ctx);
}

static uint64_t next_index = 1;

/* Stores a key in c; token receives its secret. */
static void add_key(pd_catalog *c, int level, const char *scopes,
                    uint64_t expires_at, char token[GW_KEY_TOKEN_SIZE])
{
    pd_api_key k;
    uint8_t *buf;
    size_t len;
    memset(&k, 0, sizeof k);
    gw_auth_new_token(k.id, token);
    gw_auth_hash(token, strlen(token), k.hash);
    k.level = (uint8_t)level;
    snprintf(k.scopes, sizeof k.scopes, "%s", scopes);
    k.created_at = (uint64_t)time(NULL);
    k.expires_at = expires_at;
    cr_assert_eq(pd_cmd_key_create(&k, &buf, &len, NULL), 0);
    cr_assert_eq(pd_catalog_apply(c, next_index++, buf, len), 0);
    vx_free(buf);
}

/* A concrete path for a pattern: the collection capture is "c1", others
 * "x". */
static void concrete(const http_route *r, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = r->pattern; *p && o + 1 < size;) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            size_t nl = (size_t)(e - p - 1);
            int coll = r->collection_param &&
                       strlen(r->collection_param) == nl &&
                       memcmp(p + 1, r->collection_param, nl) == 0;
            o += (size_t)snprintf(out + o, size - o, "%s", coll ? "c1" : "x");
            p = e + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

typedef struct cred {
    const char *what;
    char header[400];
    int c1;     /* level granted on collection c1 */
    int top;    /* the principal's level (its highest) */
    int global; /* unscoped */
    int fail;   /* authentication fails with this status */
} cred;

/* The status the guard must give c on route r (0: the handler runs),
 * from the rules of docs/auth.md. */
static int expected(const cred *c, const http_route *r)
{
    unsigned lvl = r->access & HTTP_ACCESS_LEVEL_MASK;
    int need = lvl == HTTP_ACCESS_READ     ? GW_LEVEL_READ
               : lvl == HTTP_ACCESS_WRITE  ? GW_LEVEL_WRITE
               : lvl == HTTP_ACCESS_PUBLIC ? GW_LEVEL_NONE
                                           : GW_LEVEL_ADMIN;
    if (need == GW_LEVEL_NONE)
        return 0;
    if (c->fail)
        return c->fail;
    if (r->collection_param)
        return c->c1 >= need ? 0 : 403;
    if (!c->global && !(r->access & HTTP_ACCESS_ANY_SCOPE))
        return 403;
    return c->top >= need ? 0 : 403;
}

Test(auth, every_route_of_the_table_is_guarded)
{
    size_t n;
    const http_route *rt = gw_api_routes(&n);
    http_route copy[128];
    pd_catalog *cat;
    gw_auth *auth;
    http_server *srv;
    vectron_error err;
    char tok[8][GW_KEY_TOKEN_SIZE];
    long long now = (long long)time(NULL);
    char claims[256];

    cr_assert_leq(n, 128);
    cr_assert_eq(pd_catalog_new(&cat, NULL), 0);
    add_key(cat, PD_KEY_ADMIN, "", 0, tok[0]);
    add_key(cat, PD_KEY_WRITE, "", 0, tok[1]);
    add_key(cat, PD_KEY_READ, "", 0, tok[2]);
    add_key(cat, PD_KEY_WRITE, "c1", 0, tok[3]);
    add_key(cat, PD_KEY_WRITE, "other", 0, tok[4]);
    add_key(cat, PD_KEY_WRITE, "", (uint64_t)now - 10, tok[5]);

    /* Invariants of the table that keep a new route from skipping a
     * check: a collection in the path is the collection_param; only the
     * probes and the dashboard's static files are public; PUT, PATCH and DELETE need write or more. */
    for (size_t i = 0; i < n; i++) {
        copy[i] = rt[i];
        copy[i].fn = counting;
        unsigned lvl = rt[i].access & HTTP_ACCESS_LEVEL_MASK;
        if (strstr(rt[i].pattern, "{collection_name}"))
            cr_assert(rt[i].collection_param && strcmp(rt[i].collection_param,
                                                       "collection_name") == 0,
                      "%s names a collection but does not declare it",
                      rt[i].name);
        if (lvl == HTTP_ACCESS_PUBLIC)
            cr_assert(strcmp(rt[i].pattern, "/healthz") == 0 ||
                          strcmp(rt[i].pattern, "/livez") == 0 ||
                          strcmp(rt[i].pattern, "/readyz") == 0 ||
                          strncmp(rt[i].pattern, "/dashboard", 10) == 0,
                      "%s is public", rt[i].name);
        if (strcmp(rt[i].method, "GET") != 0 &&
            strcmp(rt[i].method, "POST") != 0)
            cr_assert(lvl == HTTP_ACCESS_WRITE || lvl == HTTP_ACCESS_ADMIN,
                      "%s %s changes state but needs only read", rt[i].method,
                      rt[i].pattern);
    }

    gw_auth_options ao = {.api_key = "bootstrap-admin-key-0123",
                          .jwt_secret = (const char *)secret,
                          .lookup = lookup,
                          .count = count,
                          .keys_ctx = cat};
    cr_assert_eq(gw_auth_new(&ao, &auth, &err), 0, "%s", err.msg);
    http_config cfg = {.listen_address = "127.0.0.1:0",
                       .threads = 2,
                       .guard = gw_auth_guard,
                       .guard_ctx = auth};
    cr_assert_eq(http_server_start(&cfg, copy, n, NULL, &srv, &err), 0, "%s",
                 err.msg);
    unsigned port = http_server_port(srv);

    cred creds[16];
    size_t nc = 0;
#define CRED(w, lc1, ltop, gl, fl, ...)                                        \
    do {                                                                       \
        creds[nc].what = w;                                                    \
        creds[nc].c1 = lc1;                                                    \
        creds[nc].top = ltop;                                                  \
        creds[nc].global = gl;                                                 \
        creds[nc].fail = fl;                                                   \
        snprintf(creds[nc].header, sizeof creds[nc].header, __VA_ARGS__);      \
        nc++;                                                                  \
    } while (0)
    CRED("none", 0, 0, 0, 401, "X-None: 1");
    CRED("unknown key", 0, 0, 0, 401, "api-key: vxk_0123456789abcdef_nope");
    CRED("wrong secret of a real id", 0, 0, 0, 401, "api-key: %.21sWRONG",
         tok[1]);
    CRED("expired key", 0, 0, 0, 401, "api-key: %s", tok[5]);
    snprintf(claims, sizeof claims, "{\"exp\":%lld,\"access\":\"m\"}",
             now - 3600);
    char *t = jwt(claims, secret, SECRET_LEN);
    CRED("expired JWT", 0, 0, 0, 403, "Authorization: Bearer %s", t);
    vx_free(t);
    snprintf(claims, sizeof claims, "{\"exp\":%lld,\"access\":\"m\"}",
             now + 3600);
    t = jwt(claims, (const uint8_t *)"not the secret", 14);
    CRED("JWT with a bad signature", 0, 0, 0, 403, "Authorization: Bearer %s",
         t);
    vx_free(t);
    CRED("bootstrap admin", GW_LEVEL_ADMIN, GW_LEVEL_ADMIN, 1, 0,
         "api-key: bootstrap-admin-key-0123");
    CRED("stored admin", GW_LEVEL_ADMIN, GW_LEVEL_ADMIN, 1, 0,
         "Authorization: Bearer %s", tok[0]);
    CRED("read-write", GW_LEVEL_WRITE, GW_LEVEL_WRITE, 1, 0, "api-key: %s",
         tok[1]);
    CRED("read-only", GW_LEVEL_READ, GW_LEVEL_READ, 1, 0, "api-key: %s",
         tok[2]);
    CRED("read-write on c1", GW_LEVEL_WRITE, GW_LEVEL_WRITE, 0, 0,
         "api-key: %s", tok[3]);
    CRED("read-write on another", GW_LEVEL_NONE, GW_LEVEL_WRITE, 0, 0,
         "api-key: %s", tok[4]);
    snprintf(claims, sizeof claims,
             "{\"exp\":%lld,\"sub\":\"t\",\"access\":[{\"collection\":\"c1\","
             "\"access\":\"r\"}]}",
             now + 3600);
    t = jwt(claims, secret, SECRET_LEN);
    CRED("JWT read on c1", GW_LEVEL_READ, GW_LEVEL_READ, 0, 0,
         "Authorization: Bearer %s", t);
    vx_free(t);
    snprintf(claims, sizeof claims, "{\"exp\":%lld,\"access\":\"r\"}",
             now + 3600);
    t = jwt(claims, secret, SECRET_LEN);
    CRED("JWT global read", GW_LEVEL_READ, GW_LEVEL_READ, 1, 0,
         "Authorization: Bearer %s", t);
    vx_free(t);

    size_t checked = 0;
    for (size_t i = 0; i < n; i++) {
        char path[512];
        const http_route *r = &copy[i];
        concrete(r, path, sizeof path);
        for (size_t k = 0; k < nc; k++) {
            const cred *c = &creds[k];
            int want = expected(c, r);
            int before = atomic_load(&reached);
            char head[2048];
            int st =
                request(port, r->method, path, c->header, head, sizeof head);
            int ran = atomic_load(&reached) - before;
            if (want == 0) {
                cr_assert_eq(st, 200, "%s %s with %s: %d, want the handler",
                             r->method, path, c->what, st);
                cr_assert_eq(ran, 1);
            } else {
                cr_assert_eq(st, want, "%s %s with %s: %d, want %d", r->method,
                             path, c->what, st, want);
                cr_assert_eq(ran, 0, "%s %s with %s ran the handler", r->method,
                             path, c->what);
                if (want == 401)
                    cr_assert(strcasestr(head, "WWW-Authenticate: Bearer"));
            }
            checked++;
        }
    }
    cr_assert_eq(checked, n * nc);

    /* A refusal keeps the connection usable: the body is read and
     * discarded, then the next request runs. */
    int fd = dial(port);
    cr_assert_eq(exchange(fd, "PUT", "/collections/c1/points", NULL,
                          "{\"points\":[]}", NULL, 0),
                 401);
    char hdr[400];
    snprintf(hdr, sizeof hdr, "api-key: %s", tok[3]);
    cr_assert_eq(exchange(fd, "PUT", "/collections/c1/points", hdr,
                          "{\"points\":[]}", NULL, 0),
                 200);
    close(fd);

    /* A revoked key stops working at once. */
    pd_api_key k;
    char id[PD_KEY_ID_MAX + 1];
    snprintf(id, sizeof id, "%.16s", tok[2] + 4);
    cr_assert_eq(pd_catalog_key_get(cat, id, &k, NULL), 0);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(pd_cmd_key_revoke(id, &buf, &len, NULL), 0);
    cr_assert_eq(pd_catalog_apply(cat, next_index++, buf, len), 0);
    vx_free(buf);
    snprintf(hdr, sizeof hdr, "api-key: %s", tok[2]);
    cr_assert_eq(request(port, "GET", "/collections", hdr, NULL, 0), 401);

    http_server_stop(srv);
    gw_auth_free(auth);
    pd_catalog_free(cat);
}

Test(auth, off_until_a_credential_exists)
{
    pd_catalog *cat;
    gw_auth *auth;
    char token[GW_KEY_TOKEN_SIZE];
    cr_assert_eq(pd_catalog_new(&cat, NULL), 0);
    gw_auth_options ao = {.lookup = lookup, .count = count, .keys_ctx = cat};
    cr_assert_eq(gw_auth_new(&ao, &auth, NULL), 0);
    cr_assert_eq(gw_auth_enabled(auth), 0);
    add_key(cat, PD_KEY_READ, "", 0, token);
    cr_assert_eq(gw_auth_enabled(auth), 1);
    gw_principal *p;
    char id[HTTP_KEY_ID_SIZE], msg[200];
    cr_assert_eq(gw_auth_authenticate(auth, token, (uint64_t)time(NULL), &p, id,
                                      msg, sizeof msg),
                 0);
    cr_assert_eq(p->level, GW_LEVEL_READ);
    cr_assert_eq(strncmp(token + 4, id, 16), 0);
    vx_free(p);
    /* No JWT secret: a JWT-shaped credential is just invalid. */
    cr_assert_eq(
        gw_auth_authenticate(auth, "a.b.c", 0, &p, id, msg, sizeof msg), 401);
    gw_auth_free(auth);
    pd_catalog_free(cat);
}

/* ---- rate limits --------------------------------------------------------- */

Test(auth, token_bucket_arithmetic)
{
    gw_ratelimiter *rl;
    gw_rate_limit lim = {.rate = 10, .burst = 5};
    unsigned retry = 0;
    cr_assert_eq(gw_rate_new(0, &rl, NULL), 0);
    for (int i = 0; i < 5; i++)
        cr_assert(gw_rate_take(rl, "k", &lim, 100.0, &retry));
    cr_assert_not(gw_rate_take(rl, "k", &lim, 100.0, &retry));
    cr_assert_eq(retry, 1);
    /* Another key has its own bucket. */
    cr_assert(gw_rate_take(rl, "other", &lim, 100.0, &retry));
    /* 0.25 s later: 2.5 tokens back, so 2 takes. */
    cr_assert(gw_rate_take(rl, "k", &lim, 100.25, &retry));
    cr_assert(gw_rate_take(rl, "k", &lim, 100.25, &retry));
    cr_assert_not(gw_rate_take(rl, "k", &lim, 100.25, &retry));
    /* Slow rate: Retry-After rounds up. */
    gw_rate_limit slow = {.rate = 0.1, .burst = 1};
    cr_assert(gw_rate_take(rl, "s", &slow, 0, &retry));
    cr_assert_not(gw_rate_take(rl, "s", &slow, 0.5, &retry));
    cr_assert_eq(retry, 10);
    /* Unlimited. */
    gw_rate_limit off = {0};
    for (int i = 0; i < 1000; i++)
        cr_assert(gw_rate_take(rl, "k", &off, 100.25, &retry));
    gw_rate_free(rl);

    /* A tiny table: new keys beyond it share an overflow bucket rather
     * than grow memory, and full buckets are recycled. */
    cr_assert_eq(gw_rate_new(64, &rl, NULL), 0);
    int refused = 0;
    for (int i = 0; i < 5000; i++) {
        char key[32];
        snprintf(key, sizeof key, "addr:%d", i);
        refused += !gw_rate_take(rl, key, &lim, 200.0, &retry);
    }
    cr_assert_gt(refused, 0, "overflow bucket never filled");
    /* Much later everything has refilled: fresh keys get room again. */
    for (int i = 0; i < 64; i++) {
        char key[32];
        snprintf(key, sizeof key, "late:%d", i);
        cr_assert(gw_rate_take(rl, key, &lim, 10000.0, &retry));
    }
    gw_rate_free(rl);
}

typedef struct load {
    unsigned port;
    const char *header;
    double until;
    atomic_int ok, limited, other, retry_ok;
} load;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *hammer(void *arg)
{
    load *l = arg;
    int fd = dial(l->port);
    for (int i = 0; i < 100000 && mono() < l->until; i++) {
        char head[2048];
        int st = exchange(fd, "GET", "/collections", l->header, NULL, head,
                          sizeof head);
        if (st == 200) {
            atomic_fetch_add(&l->ok, 1);
        } else if (st == 429) {
            atomic_fetch_add(&l->limited, 1);
            if (strcasestr(head, "\r\nRetry-After: 1"))
                atomic_fetch_add(&l->retry_ok, 1);
        } else {
            atomic_fetch_add(&l->other, 1);
        }
    }
    close(fd);
    return NULL;
}

Test(auth, rate_limit_holds_across_threads)
{
    const double rate = 40, burst = 10, secs = 1.5;
    const int nthreads = 4;
    pd_catalog *cat;
    gw_auth *auth;
    http_server *srv;
    vectron_error err;
    vx_metrics *m;
    size_t n;
    const http_route *rt = gw_api_routes(&n);
    http_route copy[128];
    for (size_t i = 0; i < n; i++) {
        copy[i] = rt[i];
        copy[i].fn = counting;
    }
    cr_assert_eq(pd_catalog_new(&cat, NULL), 0);
    cr_assert_eq(vx_metrics_new(&m, NULL), 0);
    gw_auth_options ao = {.api_key = "bootstrap-admin-key-0123",
                          .lookup = lookup,
                          .count = count,
                          .keys_ctx = cat,
                          .metrics = m};
    ao.rate[GW_LEVEL_ADMIN] = (gw_rate_limit){.rate = rate, .burst = burst};
    cr_assert_eq(gw_auth_new(&ao, &auth, &err), 0, "%s", err.msg);
    http_config cfg = {.listen_address = "127.0.0.1:0",
                       .threads = 4,
                       .guard = gw_auth_guard,
                       .guard_ctx = auth};
    cr_assert_eq(http_server_start(&cfg, copy, n, NULL, &srv, &err), 0, "%s",
                 err.msg);
    load l = {.port = http_server_port(srv),
              .header = "api-key: bootstrap-admin-key-0123"};
    pthread_t th[8];
    double t0 = mono();
    l.until = t0 + secs;
    for (int i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, hammer, &l);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    double elapsed = mono() - t0;
    int ok = atomic_load(&l.ok), limited = atomic_load(&l.limited);
    cr_log_info("rate %.0f/s burst %.0f: %d accepted, %d refused in %.3f s",
                rate, burst, ok, limited, elapsed);
    cr_assert_eq(atomic_load(&l.other), 0);
    cr_assert_leq(ok, rate * elapsed + burst,
                  "%d accepted in %.3f s exceeds %.0f/s + %.0f", ok, elapsed,
                  rate, burst);
    cr_assert_geq(ok, (int)burst, "the burst itself must pass");
    cr_assert_gt(limited, 0, "the limit never engaged");
    cr_assert_eq(atomic_load(&l.retry_ok), limited,
                 "every 429 carries Retry-After");

    /* The rejections are counted for Prometheus. */
    char *text;
    size_t len;
    cr_assert_eq(vx_metrics_render(m, &text, &len, NULL), 0);
    char line[128];
    snprintf(line, sizeof line,
             "vectron_rate_limited_total{level=\"admin\"} %d", limited);
    cr_assert(strstr(text, line), "%s not in\n%s", line, text);
    vx_free(text);

    http_server_stop(srv);
    gw_auth_free(auth);
    pd_catalog_free(cat);
    vx_metrics_free(m);
}

/* ---- the catalog --------------------------------------------------------- */

Test(auth, catalog_keys_apply_and_snapshot)
{
    pd_catalog *c, *r;
    pd_api_key k, got;
    uint8_t *buf;
    size_t len;
    cr_assert_eq(pd_catalog_new(&c, NULL), 0);
    cr_assert_eq(pd_catalog_new(&r, NULL), 0);

    memset(&k, 0, sizeof k);
    snprintf(k.id, sizeof k.id, "abc123");
    snprintf(k.name, sizeof k.name, "ingest job");
    snprintf(k.scopes, sizeof k.scopes, "a,b.c");
    k.level = PD_KEY_WRITE;
    memset(k.hash, 7, sizeof k.hash);
    k.created_at = 1700000000;
    k.expires_at = 1800000000;
    cr_assert_eq(pd_cmd_key_create(&k, &buf, &len, NULL), 0);
    cr_assert_eq(pd_catalog_apply(c, 5, buf, len), 0);
    cr_assert_eq(pd_catalog_apply(c, 6, buf, len), VECTRON_EXISTS);
    vx_free(buf);
    cr_assert_eq(pd_catalog_key_get(c, "abc123", &got, NULL), 0);
    cr_assert_str_eq(got.scopes, "a,b.c");
    cr_assert_str_eq(got.name, "ingest job");
    cr_assert_eq(got.created_index, 5);
    cr_assert_eq(got.expires_at, 1800000000);
    cr_assert_eq(memcmp(got.hash, k.hash, sizeof k.hash), 0);

    /* Invalid keys are refused by the encoder. */
    pd_api_key bad = k;
    snprintf(bad.scopes, sizeof bad.scopes, "a,a");
    cr_assert_eq(pd_cmd_key_create(&bad, &buf, &len, NULL), VECTRON_INVALID);
    bad = k;
    bad.level = PD_KEY_ADMIN;
    cr_assert_eq(pd_cmd_key_create(&bad, &buf, &len, NULL), VECTRON_INVALID);
    bad = k;
    snprintf(bad.id, sizeof bad.id, "a-b");
    cr_assert_eq(pd_cmd_key_create(&bad, &buf, &len, NULL), VECTRON_INVALID);
    bad = k;
    bad.level = 9;
    cr_assert_eq(pd_cmd_key_create(&bad, &buf, &len, NULL), VECTRON_INVALID);

    /* Snapshot round trip carries the keys. */
    void *snap;
    size_t slen;
    cr_assert_eq(pd_catalog_snapshot(c, &snap, &slen, NULL), 0);
    cr_assert_eq(pd_catalog_restore(r, snap, slen, NULL), 0);
    cr_assert_eq(pd_catalog_key_count(r), 1);
    cr_assert_eq(pd_catalog_key_get(r, "abc123", &got, NULL), 0);
    cr_assert_eq(got.created_index, 5);
    cr_assert_str_eq(got.scopes, "a,b.c");
    /* Any flipped byte is refused and leaves the state alone. */
    for (size_t i = 0; i < slen; i += 7) {
        ((uint8_t *)snap)[i] ^= 0x40;
        cr_assert_neq(pd_catalog_restore(r, snap, slen, NULL), 0, "byte %zu",
                      i);
        ((uint8_t *)snap)[i] ^= 0x40;
    }
    cr_assert_eq(pd_catalog_key_count(r), 1);
    vx_free(snap);

    /* Revoke. */
    cr_assert_eq(pd_cmd_key_revoke("abc123", &buf, &len, NULL), 0);
    cr_assert_eq(pd_catalog_apply(c, 7, buf, len), 0);
    cr_assert_eq(pd_catalog_apply(c, 8, buf, len), VECTRON_NOT_FOUND);
    vx_free(buf);
    cr_assert_eq(pd_catalog_key_count(c), 0);

    /* A version 1 snapshot (no key section) still restores: built from a
     * version 2 one without keys. */
    cr_assert_eq(pd_catalog_snapshot(c, &snap, &slen, NULL), 0);
    uint8_t *v1 = snap;
    /* The key, node and placement counts (all 0) before the CRC. */
    cr_assert_eq(vx_get_u32(v1 + slen - 16), 0);
    cr_assert_eq(vx_get_u32(v1 + slen - 12), 0);
    cr_assert_eq(vx_get_u32(v1 + slen - 8), 0);
    v1[4] = 1;
    slen -= 12;
    vx_put_u32(v1 + slen - 4, vx_crc32c(0, v1, slen - 4));
    cr_assert_eq(pd_catalog_restore(r, v1, slen, NULL), 0);
    cr_assert_eq(pd_catalog_key_count(r), 0);
    vx_free(snap);

    pd_catalog_free(c);
    pd_catalog_free(r);
}
