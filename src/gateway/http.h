/*
 * http.h - the gateway's HTTP server: libmicrohttpd underneath, a route
 * table of "METHOD /pattern/{param}" entries on top, whole request bodies
 * handed to handlers, Qdrant-style JSON errors for everything the server
 * answers itself, and per-route Prometheus metrics.
 *
 * Request flow. For each request the server
 *  1. splits the URL path (as received, before any decoding) into
 *     segments, percent-decodes each one (a bad escape or %00 is 400) and
 *     matches them against the patterns: literal segments must be equal,
 *     a {name} segment captures any non-empty segment. One trailing slash
 *     is ignored. When several patterns match, the one whose leftmost
 *     differing segment is a literal wins. No pattern matches: 404; a
 *     pattern matches but not with this method: 405 with an Allow header.
 *     A query argument holding %00 is 400. When the route is found and
 *     cfg->guard is set, the guard runs now, on the headers alone; a
 *     refusal is answered like a routing error (after the body has been
 *     discarded, or at once when Content-Length is over max_body);
 *  2. reads the body. A Content-Length above max_body is answered at once
 *     (413, or the routing error of step 1) without reading the body, and
 *     the connection is then closed. Other routing errors are answered
 *     once the body (if any) has been read and discarded, so the
 *     connection stays open. A chunked body is kept up to max_body; beyond
 *     that it is discarded and answered with 413 once it ends, but if it
 *     runs past 2 * max_body the connection is closed without an answer
 *     (libmicrohttpd 0.9.75 cannot queue a response while a body is still
 *     arriving);
 *  3. calls the route's handler once with the whole body, then sends what
 *     it left in the http_response. A handler that leaves no body, or a
 *     status outside 100..599, gets 500 instead.
 * Every error body the server writes itself is Qdrant's envelope
 * {"status":{"error":"..."},"time":seconds}. libmicrohttpd answers some
 * malformed requests on its own (bad request line, headers too large:
 * 400/431 with an HTML body); those never reach the router or the metrics.
 *
 * Connections are persistent as HTTP/1.1 says (libmicrohttpd's logic:
 * "Connection: close" is honoured, pipelined requests are answered in
 * order); Content-Length is always set, responses are never chunked. Bodies are
 * sent from the handler's buffer without a copy, so large responses (tens
 * of MB) cost one buffer.
 *
 * Errors: http_server_start returns 0 or a vectron_error_code and fills
 * err when not NULL: INVALID for a bad configuration or route table, IO
 * when the socket cannot be bound or the threads not started (the message
 * carries libmicrohttpd's reason when it gave one), NOMEM.
 *
 * Threading. libmicrohttpd runs cfg->threads threads, each with its own
 * epoll set (poll/select where epoll is missing); a connection stays on
 * one thread, and handlers run on those threads, so a handler that
 * blocks for a long time delays the other connections of its thread.
 * Handlers must be thread-safe: different requests run concurrently, and
 * ctx is shared by all of them. An http_request and its strings are only
 * valid during the handler call. The caller must ignore SIGPIPE (the
 * threads libmicrohttpd starts block it, but the caller's own threads are
 * its business, see DESIGN.md section 7).
 */
#ifndef VECTRON_GW_HTTP_H
#define VECTRON_GW_HTTP_H

#include <stddef.h>

#include "common/metrics.h"
#include "vectron/error.h"

/* Most {param} captures per pattern and segments per path. */
#define HTTP_MAX_PARAMS 4u
#define HTTP_MAX_SEGMENTS 16u

/* Extra response headers per response; the longest name or value
 * including the terminating NUL; and the room all names and values of one
 * response share (an arena in the http_response, which lives on the
 * handler thread's stack during the request: a response costs
 * HTTP_HEADER_ARENA bytes however its headers are sized). A session token
 * (vectron-session) of 64 shards takes under 450 bytes, one of 1024 shards
 * at indexes below 2^35 about 6.8 KB. */
#define HTTP_MAX_HEADERS 8u
#define HTTP_HEADER_SIZE 8192u
#define HTTP_HEADER_ARENA 10240u

typedef struct http_route http_route;

/* Longest credential id a guard may record (http_request_set_key_id),
 * including the terminating NUL. */
#define HTTP_KEY_ID_SIZE 64u

typedef struct http_request {
    const char *method; /* "GET", "PUT", "POST", "DELETE", ... */
    const char *path;   /* the URL path as received: not decoded, no query */
    const char *params[HTTP_MAX_PARAMS]; /* the {name} captures in pattern
                                            order, percent-decoded,
                                            NUL-terminated, non-empty */
    size_t nparams;
    const char *body; /* the whole body, NUL-terminated; "" if none */
    size_t body_len;
    const char *client;      /* peer as "ip:port" or "[ip6]:port"
                                ("unknown" if libmicrohttpd cannot tell) */
    const http_route *route; /* the matched entry of the route table */
    /* Set by the guard (http_config.guard), NULL otherwise: the id of the
     * credential that authenticated the request (an API key's id,
     * "bootstrap", "jwt:<sub>"), and the guard's verdict for the handler
     * (opaque to the server; a vx_malloc'd block the server frees with
     * vx_free after the response). Both stay valid until the request's
     * completion, so a request log may read key_id after the handler. */
    const char *key_id;
    void *auth;
    void *conn; /* internal: the server's per-request state */
} http_request;

/* The capture of the pattern's {name} segment, or NULL if the pattern has
 * none by that name. Valid during the handler (or guard) call. */
const char *http_param(const http_request *r, const char *name);

/* For guards: records the authenticated credential's id (copied, truncated
 * to HTTP_KEY_ID_SIZE - 1 bytes) and the verdict block auth (vx_malloc'd,
 * NULL for none; the server takes it over and frees it with vx_free when
 * the request completes). The handler then sees them as req->key_id and
 * req->auth. */
void http_request_set_auth(http_request *r, const char *key_id, void *auth);

/* The value of request header name (case-insensitive), or NULL if absent.
 * The first one when the header repeats. Valid during the handler call. */
const char *http_header(const http_request *r, const char *name);

/* The value of query argument name, percent-decoded and with '+' read as
 * a space (form encoding), "" for "?name" without '=', or NULL if absent.
 * The first one when the argument repeats. Valid during the handler
 * call. */
const char *http_query_arg(const http_request *r, const char *name);

/* Seconds since the request line arrived (for the "time" field of
 * responses). */
double http_request_elapsed(const http_request *r);

typedef struct http_response {
    int status;               /* set to 200 before the handler runs */
    const char *content_type; /* NULL (the default): "application/json";
                                 else it must outlive the handler call
                                 (a literal): it is copied after the
                                 handler returns */
    char *body;               /* vx_malloc'd, len bytes; the server takes
                                 it and frees it with vx_free, also when
                                 it substitutes a 500. An empty response
                                 still needs a buffer (len 0) */
    size_t len;
    /* Extra headers: header i's name and value are NUL-terminated strings
     * at arena + headers[i][0] and arena + headers[i][1] (offsets, so
     * the struct may be copied). Use http_response_header to add. */
    unsigned short headers[HTTP_MAX_HEADERS][2];
    size_t nheaders;
    size_t arena_used;
    char arena[HTTP_HEADER_ARENA];
    /* For the request log (http_config.on_complete), both optional: the
     * shards the request touched, and extra members for its JSON record
     * ("\"cache\":\"hit\",\"searches\":1": members without braces,
     * valid JSON when wrapped in {}; the handler's own text, never
     * client input unescaped). */
    unsigned shards;
    char log_extra[192];
} http_response;

/* Adds header "name: value" to resp. Errors: INVALID if resp already has
 * HTTP_MAX_HEADERS headers, name or value does not fit HTTP_HEADER_SIZE,
 * the arena has no room left for both,
 * name is not an HTTP token, value holds CR, LF or other control bytes,
 * or name is one the server owns (Content-Type, Content-Length,
 * Transfer-Encoding, Connection). */
int http_response_header(http_response *resp, const char *name,
                         const char *value);

/* Replaces resp's status and body with Qdrant's error envelope for msg
 * (any bytes; NULL: "unknown error"), freeing a body already set. When
 * the envelope cannot be allocated the body is left NULL, which the
 * server turns into a 500. */
void http_respond_error(const http_request *req, http_response *resp,
                        int status, const char *msg);

/* A handler: reads req, fills resp. ctx is the pointer given to
 * http_server_start. Runs on a libmicrohttpd thread (see the top). */
typedef void (*http_handler_fn)(void *ctx, const http_request *req,
                                http_response *resp);

/* What a route requires of the caller's credential (http_route.access).
 * The server does not interpret it: it hands the route to the guard,
 * which does. The zero value is the strictest, so a route that says
 * nothing is admin-only. */
enum http_access {
    HTTP_ACCESS_ADMIN = 0,  /* admin credentials (key management) */
    HTTP_ACCESS_READ = 1,   /* read access */
    HTTP_ACCESS_WRITE = 2,  /* read-write access */
    HTTP_ACCESS_PUBLIC = 3, /* no credential needed (probes) */
    HTTP_ACCESS_LEVEL_MASK = 0x0f,
    /* Flag: a route without a collection parameter that a
     * collection-scoped credential may still call (the handler narrows
     * what it returns to the credential's scope, or the route exposes
     * nothing per collection). Without it, such a route needs an unscoped
     * credential. */
    HTTP_ACCESS_ANY_SCOPE = 0x10
};

struct http_route {
    const char *method;  /* exact, case-sensitive: "GET", "POST", ... */
    const char *pattern; /* "/collections/{name}/points/{id}" */
    http_handler_fn fn;
    const char *name;    /* metric label, e.g. "points_query" */
    unsigned access;     /* enum http_access level, | HTTP_ACCESS_ANY_SCOPE */
    /* The name of the {capture} that names the collection the request
     * touches ("collection_name"), checked against a scoped credential;
     * NULL when the route names none. */
    const char *collection_param;
};

/* A guard: called for every routed request once its headers are in,
 * before the body is read and before the handler runs (authentication,
 * rate limits). req has no body yet (body "" and body_len 0); resp is
 * prepared as for a handler. Return 0 to let the request through (after
 * http_request_set_auth, if it wants to), or non-zero after filling resp
 * with the refusal (status, body, extra headers such as Retry-After); the
 * server then reads and discards the body and sends resp without calling
 * the handler. Runs on libmicrohttpd's threads, concurrently with
 * itself. */
typedef int (*http_guard_fn)(void *ctx, http_request *req,
                             http_response *resp);
/* What the server knows of a finished request, for a request log. Every
 * pointer is valid during the on_complete call only. */
typedef struct http_log_record {
    double unix_time;          /* wall clock when the request line arrived */
    double seconds;            /* request line to the last byte queued */
    const char *method;        /* as received */
    const char *path;          /* raw path, no query */
    const http_route *route;   /* NULL when no route matched */
    const char *const *params; /* the route's decoded captures */
    size_t nparams;
    int status;
    uint64_t request_bytes, response_bytes; /* bodies */
    const char *key_id; /* NULL: anonymous (http_request.key_id) */
    const char *client; /* "ip:port" */
    unsigned shards;    /* http_response.shards; 0 without a handler */
    const char *extra;  /* http_response.log_extra; "" if none */
} http_log_record;

typedef struct http_config {
    /* "ip:port" or "[ip6]:port", numeric only; port 0 picks a free port
     * (read it with http_server_port). NULL: "127.0.0.1:6333". */
    const char *listen_address;
    unsigned threads; /* pool size; 0: 1 */
    /* One thread per connection instead of the pool: handlers that block
     * (Raft waits, searches) then never hold up another connection, and
     * concurrent clients never share a thread. threads is ignored. */
    int thread_per_connection;
    size_t max_body;               /* bytes; 0: 32 MiB */
    unsigned connection_timeout_s; /* idle connections closed; 0: 60 */
    unsigned max_connections;      /* 0: libmicrohttpd's default */
    vx_metrics *metrics;           /* NULL: no metrics; borrowed, must
                                      outlive the server */
    http_guard_fn guard;           /* NULL: every routed request runs */
    void *guard_ctx;               /* passed to guard; borrowed, must
                                      outlive the server */
    /* Called once per answered request, after its response is queued or
     * sent (libmicrohttpd's completion), on the connection's thread; NULL:
     * none. It must be thread-safe and must not block on I/O (it delays
     * that connection's next request). */
    void (*on_complete)(void *arg, const http_log_record *rec);
    void *on_complete_arg;
} http_config;

typedef struct http_server http_server;

/* Validates routes and starts serving. routes: nroutes entries whose
 * array and strings are borrowed and must stay valid until
 * http_server_stop returns; every pattern starts with '/', has at most
 * HTTP_MAX_SEGMENTS segments and HTTP_MAX_PARAMS captures (a capture is a
 * whole segment "{name}"), no two entries share a method and a pattern
 * shape, each has a handler and a name, and a collection_param names one
 * of its captures. cfg is read during the call
 * only. When cfg->metrics is set, the server registers and updates
 *   vectron_http_requests_total{route,method,status}      counter
 *   vectron_http_request_duration_seconds{route,status}   histogram,
 *       from the request line to the last byte sent, 100us..10s
 *   vectron_http_request_bytes_total{route}               counter (bodies)
 *   vectron_http_response_bytes_total{route}              counter (bodies)
 * where status is the class ("2xx".."5xx"), route the route's name or
 * "none" when no route matched, and method the route's method, or one of
 * the common methods or "other" when no route matched (registering the
 * same families again, e.g. from a second server, finds them). On success
 * *out is the running server (stop it with http_server_stop); on error
 * *out is NULL and nothing runs (families already registered stay). */
int http_server_start(const http_config *cfg, const http_route *routes,
                      size_t nroutes, void *ctx, http_server **out,
                      vectron_error *err);

/* The port the server listens on (the chosen one when cfg asked for 0). */
unsigned http_server_port(const http_server *s);

/* The route table given to http_server_start (*n receives its length). */
const http_route *http_server_routes(const http_server *s, size_t *n);

/* Closes the listening socket, waits for the handlers in flight to
 * return, closes every connection (responses still being sent are cut
 * off) and frees s. Must not be called from a handler. NULL is a
 * no-op. */
void http_server_stop(http_server *s);

/* ---- internal: shared by http.c and http_router.c, not for handlers ---- */

/* A pattern split into segments: text NULL marks a {param} capture. */
typedef struct http_compiled_route {
    size_t nseg;
    size_t nparams;
    unsigned literal_mask; /* bit HTTP_MAX_SEGMENTS - 1 - i: segment i is
                              a literal (larger wins: leftmost literal) */
    struct {
        const char *text; /* into the pattern; not NUL-terminated */
        size_t len;
    } seg[HTTP_MAX_SEGMENTS];
} http_compiled_route;

typedef struct http_route_match {
    const http_route *route; /* NULL unless HTTP_ROUTE_FOUND */
    size_t index;            /* of route in the table */
    const char *params[HTTP_MAX_PARAMS];
    size_t nparams;
} http_route_match;

enum http_route_result {
    HTTP_ROUTE_FOUND = 0,
    HTTP_ROUTE_NOT_FOUND = 1,    /* 404 */
    HTTP_ROUTE_WRONG_METHOD = 2, /* 405; allow holds the methods */
    HTTP_ROUTE_BAD_PATH = 3      /* 400: bad escape or %00 */
};

/* Checks the table (rules at http_server_start) and compiles it into *out
 * (nroutes entries, vx_free). Errors: INVALID naming the entry, NOMEM. */
int http_routes_compile(const http_route *routes, size_t nroutes,
                        http_compiled_route **out, vectron_error *err);

/* Matches method and path (raw, NUL-terminated, starting with '/' or not
 * matching anything) against the table. segbuf (strlen(path) + 1 bytes)
 * receives the decoded segments that m->params point into. For
 * HTTP_ROUTE_WRONG_METHOD allow receives "GET, PUT" (truncated to
 * allow_size). Returns an enum http_route_result. */
int http_route_find(const http_route *routes,
                    const http_compiled_route *compiled, size_t nroutes,
                    const char *method, const char *path, char *segbuf,
                    http_route_match *m, char *allow, size_t allow_size);

#endif
