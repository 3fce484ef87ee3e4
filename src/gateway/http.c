/*
 * http.c - the gateway's HTTP server on libmicrohttpd (http.h): request
 * state, body accumulation, dispatch to handlers, responses, metrics and
 * the server's life cycle. Route compilation and matching are in
 * http_router.c.
 *
 * Life of a request in libmicrohttpd terms. The URI log callback sees the
 * raw request target before libmicrohttpd decodes it in place; it
 * allocates the request's state (a req_state, with a copy of the raw path)
 * and returns it as the request's con_cls. The access handler is then
 * called once with the headers, once per piece of body, and once more
 * when the body is complete; it routes on the first call, stores or
 * discards the body on the next ones and runs the route's handler on the
 * last. The completion callback records metrics and frees the state; it
 * is called for every request whose URI log callback ran, also when the
 * connection dies midway or the server stops.
 *
 * Threading: a req_state belongs to the connection's thread. The server
 * struct is read-only after start except for the metric handle cache
 * (atomic pointers, written with find-or-create results, so racing
 * writers store the same value) and the start-up message (written by the
 * starting thread only).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/common.h"
#include "gateway/http.h"
#include "gateway/qdrant_json.h"

#define DEFAULT_LISTEN "127.0.0.1:6333"
#define DEFAULT_MAX_BODY ((size_t)32 << 20)
#define DEFAULT_TIMEOUT_S 60u

/* Status classes 1xx..5xx. */
#define NCLASSES 5u

/* Methods that get their own label when no route matched. */
static const char *const common_methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"};
#define NMETHODS (sizeof common_methods / sizeof common_methods[0])

/* Request duration buckets, seconds: 100us .. 10s. */
static const double duration_bounds[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

/* Sent when even an error body cannot be allocated. */
static const char nomem_body[] = "{\"status\":{\"error\":\"out of memory\"},"
                                 "\"time\":0}";

struct http_server {
    struct MHD_Daemon *daemon;
    const http_route *routes;
    size_t nroutes;
    http_compiled_route *compiled; /* nroutes */
    void *ctx;
    http_guard_fn guard;
    void *guard_ctx;
    size_t max_body;
    unsigned port;
    void (*on_complete)(void *arg, const http_log_record *rec);
    void *on_complete_arg;

    /* Metrics; all NULL when cfg->metrics was. Index nroutes is the
     * "none" route. */
    vx_metric_family *f_requests, *f_duration;
    vx_counter **req_bytes, **resp_bytes; /* nroutes + 1 */
    /* duration series, found on first use, at route * NCLASSES + class
     * (route nroutes: "none"). */
    _Atomic(vx_histogram *) *duration;
    /* requests_total series, found on first use: routed requests at
     * route * NCLASSES + class, unrouted ones after them at
     * (nroutes + method) * NCLASSES + class. */
    _Atomic(vx_counter *) *requests;

    /* Start-up: the last message libmicrohttpd logged on the starting
     * thread, for the error message when the start fails. */
    atomic_int starting;
    pthread_t starter;
    char start_msg[200];
};

enum phase {
    PHASE_NEW = 0, /* headers seen, not routed yet */
    PHASE_BODY,    /* routed; storing the body */
    PHASE_DRAIN,   /* body refused; discarding it, answer when it ends */
    PHASE_DONE     /* a response is queued */
};

typedef struct req_state {
    http_server *srv;
    struct MHD_Connection *conn;
    struct timespec start;
    struct timespec wall; /* CLOCK_REALTIME at start, for the log */
    enum phase phase;
    char *path;   /* raw path, NUL-terminated (points into this block) */
    char *segbuf; /* decoded segments (points into this block) */
    const char *method;
    http_route_match match;
    size_t method_idx; /* in common_methods, when no route matched */
    char *body;        /* vx_malloc'd, body_cap bytes */
    size_t body_len, body_cap;
    uint64_t received;  /* body bytes seen, stored or not */
    int pending_status; /* PHASE_DRAIN: the error to answer with */
    char pending_msg[256];
    char pending_allow[128]; /* 405: the Allow header */
    int status;              /* status of the queued response; 0: none */
    size_t resp_len;
    char client[64];
    /* The guard's verdict (http_request_set_auth) and its refusal. */
    char key_id[HTTP_KEY_ID_SIZE];
    int has_key_id;
    void *auth;              /* vx_malloc'd, freed at completion */
    http_response *refusal;  /* vx_malloc'd with its body; sent instead of
                                the pending error */
    /* From the handler, for the request log. */
    unsigned shards;
    char log_extra[sizeof(((http_response *)0)->log_extra)];
} req_state;

/* ---- time -------------------------------------------------------------- */

static double seconds_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) +
           (double)(now.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* ---- libmicrohttpd's log ----------------------------------------------- */

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server *srv = cls;
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
        msg[--n] = '\0';
    }
    if (atomic_load(&srv->starting) &&
        pthread_equal(pthread_self(), srv->starter)) {
        snprintf(srv->start_msg, sizeof srv->start_msg, "%.199s", msg);
    }
    vx_log(VECTRON_LOG_WARN, "http", "libmicrohttpd: %s", msg);
}

/* ---- metrics ----------------------------------------------------------- */

static int metrics_init(http_server *srv, vx_metrics *m, vectron_error *err)
{
    static const char *const req_labels[] = {"route", "method", "status"};
    static const char *const route_label[] = {"route"};
    static const char *const dur_labels[] = {"route", "status"};
    vx_metric_family *f_in, *f_out;
    size_t n = srv->nroutes + 1;
    size_t ncache = (srv->nroutes + NMETHODS) * NCLASSES;
    int rc;

    rc = vx_metrics_family(m, VX_METRIC_COUNTER, "vectron_http_requests_total",
                           "HTTP requests answered, by route, method and "
                           "status class.",
                           req_labels, 3, NULL, 0, &srv->f_requests, err);
    if (rc == 0) {
        rc = vx_metrics_family(
            m, VX_METRIC_HISTOGRAM, "vectron_http_request_duration_seconds",
            "Time from the request line to the last byte of the response, "
            "by route and status class.",
            dur_labels, 2, duration_bounds,
            sizeof duration_bounds / sizeof duration_bounds[0],
            &srv->f_duration, err);
    }
    if (rc == 0) {
        rc = vx_metrics_family(m, VX_METRIC_COUNTER,
                               "vectron_http_request_bytes_total",
                               "Request body bytes received, by route.",
                               route_label, 1, NULL, 0, &f_in, err);
    }
    if (rc == 0) {
        rc = vx_metrics_family(m, VX_METRIC_COUNTER,
                               "vectron_http_response_bytes_total",
                               "Response body bytes sent, by route.",
                               route_label, 1, NULL, 0, &f_out, err);
    }
    if (rc) {
        return vx_err_wrap(err, rc, "http: metrics");
    }
    srv->duration = vx_calloc(n * NCLASSES, sizeof *srv->duration);
    srv->req_bytes = vx_calloc(n, sizeof *srv->req_bytes);
    srv->resp_bytes = vx_calloc(n, sizeof *srv->resp_bytes);
    srv->requests = vx_calloc(ncache, sizeof *srv->requests);
    if (!srv->duration || !srv->req_bytes || !srv->resp_bytes ||
        !srv->requests) {
        return vx_err(err, VECTRON_NOMEM, "http: metrics: out of memory");
    }
    for (size_t i = 0; i < ncache; i++) {
        atomic_init(&srv->requests[i], NULL);
    }
    for (size_t i = 0; i < n * NCLASSES; i++) {
        atomic_init(&srv->duration[i], NULL);
    }
    for (size_t i = 0; i < n; i++) {
        const char *v[1] = {i < srv->nroutes ? srv->routes[i].name : "none"};
        rc = vx_metrics_counter(f_in, v, &srv->req_bytes[i], err);
        if (rc == 0) {
            rc = vx_metrics_counter(f_out, v, &srv->resp_bytes[i], err);
        }
        if (rc) {
            return vx_err_wrap(err, rc, "http: metrics");
        }
    }
    return 0;
}

/* Counts a finished request with a response. */
static void metrics_record(http_server *srv, const req_state *st)
{
    size_t r = st->match.route ? st->match.index : srv->nroutes;
    size_t cls = (size_t)(st->status / 100 - 1);
    size_t slot;
    vx_counter *c;
    vx_histogram *h;
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

    if (!srv->f_requests || cls >= NCLASSES) {
        return;
    }
    slot = st->match.route ? r * NCLASSES + cls
                           : (srv->nroutes + st->method_idx) * NCLASSES + cls;
    c = atomic_load_explicit(&srv->requests[slot], memory_order_acquire);
    if (!c) {
        const char *v[3] = {st->match.route ? st->match.route->name : "none",
                            st->match.route ? st->match.route->method
                                            : common_methods[st->method_idx],
                            classes[cls]};
        if (vx_metrics_counter(srv->f_requests, v, &c, NULL) == 0) {
            atomic_store_explicit(&srv->requests[slot], c,
                                  memory_order_release);
        }
    }
    vx_counter_add(c, 1);
    slot = r * NCLASSES + cls;
    h = atomic_load_explicit(&srv->duration[slot], memory_order_acquire);
    if (!h) {
        const char *v[2] = {st->match.route ? st->match.route->name : "none",
                            classes[cls]};
        if (vx_metrics_histogram(srv->f_duration, v, &h, NULL) == 0) {
            atomic_store_explicit(&srv->duration[slot], h,
                                  memory_order_release);
        }
    }
    vx_histogram_observe(h, seconds_since(&st->start));
    vx_counter_add(srv->req_bytes[r], st->received);
    vx_counter_add(srv->resp_bytes[r], st->resp_len);
}

/* ---- request state ----------------------------------------------------- */

/* Returns the path part of a request target: origin form as is, the
 * absolute form without scheme and authority. *len excludes the query. */
static const char *target_path(const char *uri, size_t *len)
{
    const char *p = uri;

    if (strncasecmp(p, "http://", 7) == 0 ||
        strncasecmp(p, "https://", 8) == 0) {
        p = strstr(p, "//") + 2;
        p += strcspn(p, "/?#");
        if (*p != '/') {
            *len = 0; /* "http://host" or "http://host?q": path "/" */
            return "/";
        }
    }
    *len = strcspn(p, "?#");
    return p;
}

/* Hands a finished request to the on_complete hook. */
static void log_record(http_server *srv, const req_state *st)
{
    http_log_record rec;

    memset(&rec, 0, sizeof rec);
    rec.unix_time = (double)st->wall.tv_sec + (double)st->wall.tv_nsec * 1e-9;
    rec.seconds = seconds_since(&st->start);
    rec.method = st->method ? st->method : "?";
    rec.path = st->path;
    rec.route = st->match.route;
    rec.params = st->match.route ? st->match.params : NULL;
    rec.nparams = st->match.route ? st->match.nparams : 0;
    rec.status = st->status;
    rec.request_bytes = st->received;
    rec.response_bytes = st->resp_len;
    rec.key_id = st->has_key_id ? st->key_id : NULL;
    rec.client = st->client;
    rec.shards = st->shards;
    rec.extra = st->log_extra;
    srv->on_complete(srv->on_complete_arg, &rec);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    size_t len;
    const char *path = target_path(uri, &len);
    req_state *st;

    (void)conn;
    if (len == 0) {
        len = 1; /* the absolute form's empty path is "/" */
    }
    st = vx_calloc(1, sizeof *st + 2 * (len + 1));
    if (!st) {
        return NULL; /* the access handler answers 503 */
    }
    st->srv = cls;
    clock_gettime(CLOCK_MONOTONIC, &st->start);
    clock_gettime(CLOCK_REALTIME, &st->wall);
    st->path = (char *)(st + 1);
    st->segbuf = st->path + len + 1;
    memcpy(st->path, path, len);
    st->path[len] = '\0';
    return st;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    req_state *st = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (!st) {
        return;
    }
    if (st->status) {
        metrics_record(st->srv, st);
        if (st->srv->on_complete) {
            log_record(st->srv, st);
        }
    }
    if (st->refusal) {
        vx_free(st->refusal->body);
        vx_free(st->refusal);
    }
    vx_free(st->auth);
    vx_free(st->body);
    vx_free(st);
    *con_cls = NULL;
}

static void client_text(struct MHD_Connection *conn, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char ip[INET6_ADDRSTRLEN];

    snprintf(out, size, "unknown");
    if (!ci || !ci->client_addr) {
        return;
    }
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ci->client_addr;
        if (inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip)) {
            snprintf(out, size, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
        }
    } else if (ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ci->client_addr;
        if (inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip)) {
            snprintf(out, size, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
        }
    }
}

/* ---- responses --------------------------------------------------------- */

/* Queues a response whose body (vx_malloc'd, len bytes) libmicrohttpd
 * takes over; body NULL sends the static out-of-memory body. */
static enum MHD_Result queue(req_state *st, int status, const char *ctype,
                             char *body, size_t len, const http_response *hdr,
                             const char *allow)
{
    struct MHD_Response *r;
    enum MHD_Result ok;

    if (body) {
        r = MHD_create_response_from_buffer_with_free_callback(len, body,
                                                               vx_free);
        if (!r) {
            vx_free(body);
        }
    } else {
        status = 503;
        ctype = NULL;
        len = sizeof nomem_body - 1;
        r = MHD_create_response_from_buffer(len, (void *)nomem_body,
                                            MHD_RESPMEM_PERSISTENT);
    }
    if (!r) {
        return MHD_NO;
    }
    ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                 ctype ? ctype : "application/json");
    for (size_t i = 0; hdr && i < hdr->nheaders && ok == MHD_YES; i++) {
        ok = MHD_add_response_header(r, hdr->arena + hdr->headers[i][0],
                                     hdr->arena + hdr->headers[i][1]);
    }
    if (allow && ok == MHD_YES) {
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (ok == MHD_YES) {
        ok = MHD_queue_response(st->conn, (unsigned)status, r);
    }
    MHD_destroy_response(r);
    if (ok == MHD_YES) {
        st->phase = PHASE_DONE;
        st->status = status;
        st->resp_len = len;
    }
    return ok;
}

static enum MHD_Result queue_error(req_state *st, int status, const char *msg,
                                   const char *allow)
{
    char *body = NULL;
    size_t len = 0;

    if (gw_respond_error(msg, seconds_since(&st->start), &body, &len, NULL)) {
        body = NULL;
    }
    return queue(st, status, NULL, body, len, NULL, allow);
}

static enum MHD_Result queue_pending(req_state *st)
{
    if (st->refusal) {
        http_response *r = st->refusal;
        char *body = r->body;
        r->body = NULL; /* queue takes it over */
        return queue(st, r->status, r->content_type, body, r->len, r, NULL);
    }
    return queue_error(st, st->pending_status, st->pending_msg,
                       st->pending_allow[0] ? st->pending_allow : NULL);
}

/* ---- dispatch ---------------------------------------------------------- */

/* Stops at the first query argument whose key or value holds a NUL
 * (from %00). */
static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind,
                                 const char *key, size_t key_size,
                                 const char *value, size_t value_size)
{
    int *bad = cls;

    (void)kind;
    if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
        *bad = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

static size_t method_index(const char *method)
{
    size_t i = 0;
    while (i < NMETHODS - 1 && strcmp(method, common_methods[i]) != 0) {
        i++;
    }
    return i;
}

/* Records the error to send once the body has been discarded. */
static void set_pending(req_state *st, int status, const char *msg,
                        const char *allow)
{
    st->pending_status = status;
    snprintf(st->pending_msg, sizeof st->pending_msg, "%s", msg);
    snprintf(st->pending_allow, sizeof st->pending_allow, "%s",
             allow ? allow : "");
}

static void set_too_large(req_state *st)
{
    char msg[96];
    snprintf(msg, sizeof msg, "body: larger than the limit of %zu bytes",
             st->srv->max_body);
    set_pending(st, 413, msg, NULL);
}

/* The http_request view of st for the guard and the handler. */
static void fill_request(req_state *st, http_request *req)
{
    memset(req, 0, sizeof *req);
    req->method = st->method;
    req->path = st->path;
    for (size_t i = 0; i < st->match.nparams; i++) {
        req->params[i] = st->match.params[i];
    }
    req->nparams = st->match.nparams;
    if (st->body) {
        st->body[st->body_len] = '\0';
        req->body = st->body;
    } else {
        req->body = "";
    }
    req->body_len = st->body_len;
    req->client = st->client;
    req->route = st->match.route;
    req->key_id = st->has_key_id ? st->key_id : NULL;
    req->auth = st->auth;
    req->conn = st;
}

/* Runs the guard; 0 lets the request through. A refusal is kept in
 * st->refusal (sent by queue_pending). */
static int run_guard(req_state *st)
{
    http_server *srv = st->srv;
    http_request req;
    http_response *resp;
    int rc;

    if (!srv->guard) {
        return 0;
    }
    resp = vx_calloc(1, sizeof *resp);
    if (!resp) {
        set_pending(st, 503, "out of memory", NULL);
        return 1;
    }
    fill_request(st, &req);
    resp->status = 200;
    rc = srv->guard(srv->guard_ctx, &req, resp);
    if (rc == 0) {
        vx_free(resp->body);
        vx_free(resp);
        return 0;
    }
    if (!resp->body || resp->status < 100 || resp->status > 599) {
        vx_free(resp->body);
        vx_free(resp);
        set_pending(st, 500, "internal error: guard left no response", NULL);
        return 1;
    }
    st->refusal = resp;
    st->pending_status = resp->status;
    return 1;
}

/* First call (headers only): route, check the query arguments and the
 * Content-Length. An error is answered at once when the body is too large
 * to be read (libmicrohttpd then closes the connection); otherwise only
 * after the body has been read and discarded, which keeps the connection
 * alive. */
static enum MHD_Result start_request(req_state *st, const char *method)
{
    http_server *srv = st->srv;
    char allow[sizeof st->pending_allow];
    const char *cl;
    unsigned long long clen = 0;
    int bad = 0, too_large = 0;

    st->method = method;
    st->method_idx = method_index(method);
    cl = MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND,
                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        clen = strtoull(cl, &end, 10);
        too_large = errno || end == cl || clen > srv->max_body;
    }
    switch (http_route_find(srv->routes, srv->compiled, srv->nroutes, method,
                            st->path, st->segbuf, &st->match, allow,
                            sizeof allow)) {
    case HTTP_ROUTE_FOUND:
        MHD_get_connection_values_n(st->conn, MHD_GET_ARGUMENT_KIND, check_arg,
                                    &bad);
        if (bad) {
            set_pending(st, 400, "query: %00 is not allowed", NULL);
        } else if (run_guard(st) == 0 && too_large) {
            set_too_large(st);
        }
        break;
    case HTTP_ROUTE_BAD_PATH:
        set_pending(st, 400, "invalid percent-encoding in URL path", NULL);
        break;
    case HTTP_ROUTE_WRONG_METHOD: {
        char msg[sizeof st->pending_msg];
        snprintf(msg, sizeof msg, "method %.32s not allowed; allowed: %.200s",
                 method, allow);
        set_pending(st, 405, msg, allow);
        break;
    }
    default:
        set_pending(st, 404, "not found", NULL);
        break;
    }
    if (st->pending_status) {
        if (too_large) {
            return queue_pending(st);
        }
        st->phase = PHASE_DRAIN;
        return MHD_YES;
    }
    if (clen > 0) {
        /* Exact size: the body never needs to grow. */
        st->body = vx_malloc((size_t)clen + 1);
        if (st->body) {
            st->body_cap = (size_t)clen + 1;
        }
    }
    st->phase = PHASE_BODY;
    return MHD_YES;
}

/* Body bytes: store them, or once over the limit (or out of memory)
 * discard them until the body ends, up to 2 * max_body bytes in all. */
static enum MHD_Result take_body(req_state *st, const char *data, size_t n)
{
    size_t max = st->srv->max_body;

    st->received += n;
    if (st->phase == PHASE_BODY && st->received > max) {
        st->phase = PHASE_DRAIN;
        set_too_large(st);
    }
    if (st->phase == PHASE_BODY && st->body_cap < st->body_len + n + 1) {
        size_t cap = st->body_cap ? st->body_cap : 4096;
        while (cap < st->body_len + n + 1) {
            cap *= 2;
        }
        if (cap > max + 1) {
            cap = max + 1;
        }
        char *p = vx_realloc(st->body, cap);
        if (!p) {
            st->phase = PHASE_DRAIN;
            set_pending(st, 503, "body: out of memory", NULL);
        } else {
            st->body = p;
            st->body_cap = cap;
        }
    }
    if (st->phase == PHASE_DRAIN) {
        vx_free(st->body);
        st->body = NULL;
        st->body_len = st->body_cap = 0;
        if (st->received > 2 * (uint64_t)max) {
            vx_log(VECTRON_LOG_WARN, "http",
                   "client=%s path=%s body over twice the limit of %zu "
                   "bytes: closing the connection",
                   st->client, st->path, max);
            return MHD_NO;
        }
        return MHD_YES;
    }
    memcpy(st->body + st->body_len, data, n);
    st->body_len += n;
    return MHD_YES;
}

/* Last call: run the handler and send what it produced. */
static enum MHD_Result run_handler(req_state *st)
{
    http_server *srv = st->srv;
    const http_route *route = st->match.route;
    http_request req;
    http_response resp;

    fill_request(st, &req);
    memset(&resp, 0, sizeof resp);
    resp.status = 200;
    route->fn(srv->ctx, &req, &resp);
    st->shards = resp.shards;
    memcpy(st->log_extra, resp.log_extra, sizeof st->log_extra);
    st->log_extra[sizeof st->log_extra - 1] = '\0';
    if (req.key_id && req.key_id != st->key_id) {
        /* A handler that named the credential itself (the guard's is
         * already in st->key_id). */
        st->has_key_id = 1;
        snprintf(st->key_id, sizeof st->key_id, "%s", req.key_id);
    }
    if (!resp.body || resp.status < 100 || resp.status > 599) {
        vx_log(VECTRON_LOG_ERROR, "http",
               "route=%s status=%d handler left no valid response", route->name,
               resp.status);
        vx_free(resp.body);
        return queue_error(st, 500, "internal error: no response", NULL);
    }
    return queue(st, resp.status, resp.content_type, resp.body, resp.len, &resp,
                 NULL);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    req_state *st = *con_cls;

    (void)cls;
    (void)url; /* decoded in place by libmicrohttpd: st->path is raw */
    (void)version;
    if (!st) {
        /* The URI log callback could not allocate. */
        struct MHD_Response *r = MHD_create_response_from_buffer(
            sizeof nomem_body - 1, (void *)nomem_body, MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ok = MHD_NO;
        if (r) {
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                    "application/json");
            ok = MHD_queue_response(conn, 503, r);
            MHD_destroy_response(r);
        }
        return ok;
    }
    switch (st->phase) {
    case PHASE_NEW:
        st->conn = conn;
        client_text(conn, st->client, sizeof st->client);
        return start_request(st, method);
    case PHASE_BODY:
    case PHASE_DRAIN:
        if (*upload_data_size > 0) {
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            return take_body(st, upload_data, n);
        }
        if (st->phase == PHASE_DRAIN) {
            return queue_pending(st);
        }
        return run_handler(st);
    case PHASE_DONE:
    default:
        return MHD_NO;
    }
}

/* ---- request accessors and response helpers ---------------------------- */

const char *http_header(const http_request *r, const char *name)
{
    const req_state *st = r->conn;
    return MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND, name);
}

const char *http_query_arg(const http_request *r, const char *name)
{
    const req_state *st = r->conn;
    const char *v = NULL;

    if (MHD_lookup_connection_value_n(st->conn, MHD_GET_ARGUMENT_KIND, name,
                                      strlen(name), &v, NULL) != MHD_YES) {
        return NULL;
    }
    return v ? v : "";
}

const char *http_param(const http_request *r, const char *name)
{
    const char *p;
    size_t i = 0, nl = strlen(name);

    if (!r->route) {
        return NULL;
    }
    for (p = strchr(r->route->pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        if (!e) {
            break;
        }
        if ((size_t)(e - p - 1) == nl && memcmp(p + 1, name, nl) == 0) {
            return i < r->nparams ? r->params[i] : NULL;
        }
        i++;
    }
    return NULL;
}

void http_request_set_auth(http_request *r, const char *key_id, void *auth)
{
    req_state *st = r->conn;

    if (key_id) {
        snprintf(st->key_id, sizeof st->key_id, "%s", key_id);
        st->has_key_id = 1;
        r->key_id = st->key_id;
    }
    if (auth != st->auth) {
        vx_free(st->auth);
        st->auth = auth;
    }
    r->auth = auth;
}

double http_request_elapsed(const http_request *r)
{
    const req_state *st = r->conn;
    return seconds_since(&st->start);
}

static int is_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

int http_response_header(http_response *resp, const char *name,
                         const char *value)
{
    static const char *const reserved[] = {"Content-Type", "Content-Length",
                                           "Transfer-Encoding", "Connection"};
    size_t nl = strlen(name), vl = strlen(value);

    if (resp->nheaders >= HTTP_MAX_HEADERS) {
        return VECTRON_INVALID;
    }
    if (nl == 0 || nl >= HTTP_HEADER_SIZE || vl >= HTTP_HEADER_SIZE) {
        return VECTRON_INVALID;
    }
    for (size_t i = 0; i < nl; i++) {
        if (!is_token_char((unsigned char)name[i])) {
            return VECTRON_INVALID;
        }
    }
    for (size_t i = 0; i < vl; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return VECTRON_INVALID;
        }
    }
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        if (strcasecmp(name, reserved[i]) == 0) {
            return VECTRON_INVALID;
        }
    }
    if (resp->arena_used > HTTP_HEADER_ARENA ||
        nl + vl + 2 > HTTP_HEADER_ARENA - resp->arena_used) {
        return VECTRON_INVALID;
    }
    char *at = resp->arena + resp->arena_used;
    memcpy(at, name, nl + 1);
    memcpy(at + nl + 1, value, vl + 1);
    resp->headers[resp->nheaders][0] = (unsigned short)resp->arena_used;
    resp->headers[resp->nheaders][1] =
        (unsigned short)(resp->arena_used + nl + 1);
    resp->arena_used += nl + vl + 2;
    resp->nheaders++;
    return 0;
}

void http_respond_error(const http_request *req, http_response *resp,
                        int status, const char *msg)
{
    vx_free(resp->body);
    resp->body = NULL;
    resp->len = 0;
    resp->status = status;
    resp->content_type = NULL;
    if (gw_respond_error(msg, http_request_elapsed(req), &resp->body,
                         &resp->len, NULL)) {
        resp->body = NULL;
        resp->len = 0;
    }
}

/* ---- life cycle -------------------------------------------------------- */

/* Parses "ip:port" or "[ip6]:port" (numeric) into *ss. */
static int parse_listen(const char *addr, struct sockaddr_storage *ss, int *v6,
                        vectron_error *err)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon, *port;
    size_t hl;
    unsigned long p;
    char *end;

    memset(ss, 0, sizeof *ss);
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':') {
            goto bad;
        }
        hl = (size_t)(close - addr - 1);
        if (hl >= sizeof host) {
            goto bad;
        }
        memcpy(host, addr + 1, hl);
        port = close + 2;
        *v6 = 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) {
            goto bad;
        }
        hl = (size_t)(colon - addr);
        if (hl >= sizeof host) {
            goto bad;
        }
        memcpy(host, addr, hl);
        port = colon + 1;
        *v6 = 0;
    }
    host[hl] = '\0';
    if (port[0] < '0' || port[0] > '9') {
        goto bad;
    }
    errno = 0;
    p = strtoul(port, &end, 10);
    if (errno || *end || p > 65535) {
        goto bad;
    }
    if (*v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)p);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
            goto bad;
        }
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)p);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
            goto bad;
        }
    }
    return 0;
bad:
    return vx_err(err, VECTRON_INVALID,
                  "http: listen address \"%.100s\": expected ip:port or "
                  "[ip6]:port with a numeric address",
                  addr);
}

static void server_free(http_server *srv)
{
    vx_free(srv->requests);
    vx_free(srv->resp_bytes);
    vx_free(srv->req_bytes);
    vx_free(srv->duration);
    vx_free(srv->compiled);
    vx_free(srv);
}

int http_server_start(const http_config *cfg, const http_route *routes,
                      size_t nroutes, void *ctx, http_server **out,
                      vectron_error *err)
{
    const char *listen =
        cfg->listen_address ? cfg->listen_address : DEFAULT_LISTEN;
    struct sockaddr_storage ss;
    struct MHD_OptionItem opts[4];
    size_t nopts = 0;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    http_server *srv = NULL;
    int v6 = 0, rc;

    *out = NULL;
    rc = parse_listen(listen, &ss, &v6, err);
    if (rc) {
        return rc;
    }
    srv = vx_calloc(1, sizeof *srv);
    if (!srv) {
        return vx_err(err, VECTRON_NOMEM, "http: out of memory");
    }
    srv->routes = routes;
    srv->nroutes = nroutes;
    srv->ctx = ctx;
    srv->guard = cfg->guard;
    srv->guard_ctx = cfg->guard_ctx;
    srv->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
    srv->on_complete = cfg->on_complete;
    srv->on_complete_arg = cfg->on_complete_arg;
    atomic_init(&srv->starting, 0);
    rc = http_routes_compile(routes, nroutes, &srv->compiled, err);
    if (rc) {
        goto fail;
    }
    if (cfg->metrics) {
        rc = metrics_init(srv, cfg->metrics, err);
        if (rc) {
            goto fail;
        }
    }

    if (v6) {
        flags |= MHD_USE_IPv6;
    }
    if (cfg->thread_per_connection) {
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    } else if (cfg->threads > 1) {
        opts[nopts++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
                                                (intptr_t)cfg->threads, NULL};
    }
    if (cfg->max_connections > 0) {
        opts[nopts++] = (struct MHD_OptionItem){
            MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->max_connections, NULL};
    }
    opts[nopts++] = (struct MHD_OptionItem){
        MHD_OPTION_CONNECTION_TIMEOUT,
        (intptr_t)(cfg->connection_timeout_s ? cfg->connection_timeout_s
                                             : DEFAULT_TIMEOUT_S),
        NULL};
    opts[nopts++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    srv->starter = pthread_self();
    atomic_store(&srv->starting, 1);
    srv->daemon = MHD_start_daemon(
        flags,
        ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                 : ((struct sockaddr_in *)&ss)->sin_port),
        NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED,
        on_done, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    atomic_store(&srv->starting, 0);
    if (!srv->daemon) {
        rc = vx_err(err, VECTRON_IO, "http: listen on %s: %s", listen,
                    srv->start_msg[0] ? srv->start_msg
                                      : "cannot start the server");
        goto fail;
    }
    {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
        srv->port = di ? di->port : 0;
    }
    vx_log(VECTRON_LOG_INFO, "http", "listen=%s port=%u threads=%u routes=%zu",
           listen, srv->port, cfg->threads ? cfg->threads : 1, nroutes);
    *out = srv;
    return 0;
fail:
    server_free(srv);
    return rc;
}

unsigned http_server_port(const http_server *s)
{
    return s->port;
}

const http_route *http_server_routes(const http_server *s, size_t *n)
{
    *n = s->nroutes;
    return s->routes;
}

void http_server_stop(http_server *s)
{
    if (!s) {
        return;
    }
    MHD_stop_daemon(s->daemon);
    server_free(s);
}
