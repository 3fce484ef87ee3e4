/*
 * test_http.c - unit tests of the gateway's HTTP server. Each test starts
 * a server on 127.0.0.1 with an ephemeral port and a test route table,
 * and talks to it with plain sockets through a tiny client that writes
 * raw requests and reads one response at a time (so pipelining and
 * keep-alive are visible). Covered: routing with captures, percent-
 * decoding and its errors, 404/405 envelopes, the body cap with
 * Content-Length and chunked bodies, a 10 MB response, keep-alive,
 * query arguments and headers, handler mistakes, extra headers,
 * concurrent clients, metrics, route table and config validation, and
 * stopping (idle, and with a handler in flight).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/metrics.h"
#include "gateway/http.h"

/* One timeout for every test (per-test .timeout values made Criterion
 * 2.4's runner leak under ASan with --jobs 2). */
TestSuite(http, .timeout = 60);

#define BIG_LEN 10000000u
#define MAX_BODY 1000u

/* ---- handlers ---------------------------------------------------------- */

typedef struct test_ctx {
    atomic_int calls;
    atomic_int slow_started, slow_finished;
} test_ctx;

/* Sets a text body (copied). */
static void set_text(http_response *resp, const char *text)
{
    size_t n = strlen(text);
    resp->body = vx_malloc(n + 1);
    cr_assert_not_null(resp->body);
    memcpy(resp->body, text, n + 1);
    resp->len = n;
    resp->content_type = "text/plain";
}

static const char *or_null(const char *s)
{
    return s ? s : "(null)";
}

/* Describes the request: captures, raw path, some arguments and a
 * header. */
static void h_echo(void *ctx, const http_request *req, http_response *resp)
{
    test_ctx *t = ctx;
    char text[1024];

    atomic_fetch_add(&t->calls, 1);
    snprintf(
        text, sizeof text,
        "n=%zu|a=%s|b=%s|path=%s|x=%s|flag=%s|none=%s|h=%s|"
        "method=%s|route=%s",
        req->nparams, req->nparams > 0 ? req->params[0] : "-",
        req->nparams > 1 ? req->params[1] : "-", req->path,
        or_null(http_query_arg(req, "x")), or_null(http_query_arg(req, "flag")),
        or_null(http_query_arg(req, "none")),
        or_null(http_header(req, "x-TEST")), req->method, req->route->name);
    set_text(resp, text);
}

/* Returns the body as received. */
static void h_body(void *ctx, const http_request *req, http_response *resp)
{
    (void)ctx;
    cr_assert_eq(req->body[req->body_len], '\0');
    resp->body = vx_malloc(req->body_len + 1);
    cr_assert_not_null(resp->body);
    memcpy(resp->body, req->body, req->body_len);
    resp->len = req->body_len;
    resp->content_type = "application/octet-stream";
}

static void h_item(void *ctx, const http_request *req, http_response *resp)
{
    char text[256];
    (void)ctx;
    snprintf(text, sizeof text, "%s item=%s", req->method, req->params[0]);
    set_text(resp, text);
}

static void h_special(void *ctx, const http_request *req, http_response *resp)
{
    (void)ctx;
    (void)req;
    set_text(resp, "special");
}

static unsigned char big_byte(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

static void h_big(void *ctx, const http_request *req, http_response *resp)
{
    (void)ctx;
    (void)req;
    resp->body = vx_malloc(BIG_LEN);
    cr_assert_not_null(resp->body);
    for (size_t i = 0; i < BIG_LEN; i++) {
        resp->body[i] = (char)big_byte(i);
    }
    resp->len = BIG_LEN;
    resp->content_type = "application/octet-stream";
}

static void h_nobody(void *ctx, const http_request *req, http_response *resp)
{
    (void)ctx;
    (void)req;
    resp->status = 201; /* but no body: a handler bug */
}

static void h_status0(void *ctx, const http_request *req, http_response *resp)
{
    (void)ctx;
    (void)req;
    set_text(resp, "x");
    resp->status = 0;
}

static void h_busy(void *ctx, const http_request *req, http_response *resp)
{
    (void)ctx;
    http_respond_error(req, resp, 503, "busy \"now\"");
    cr_assert_eq(http_response_header(resp, "Retry-After", "7"), 0);
    cr_assert_eq(http_response_header(resp, "X-Two", "a b"), 0);
}

static void h_slow(void *ctx, const http_request *req, http_response *resp)
{
    test_ctx *t = ctx;
    (void)req;
    atomic_store(&t->slow_started, 1);
    usleep(300 * 1000);
    set_text(resp, "slow");
    atomic_store(&t->slow_finished, 1);
}

static const http_route routes[] = {
    {"GET", "/echo/{a}/{b}", h_echo, "echo2", HTTP_ACCESS_PUBLIC, NULL},
    {"GET", "/echo", h_echo, "echo0", HTTP_ACCESS_PUBLIC, NULL},
    {"POST", "/body", h_body, "body", HTTP_ACCESS_PUBLIC, NULL},
    {"PUT", "/items/{id}", h_item, "item_put", HTTP_ACCESS_PUBLIC, NULL},
    {"GET", "/items/{id}", h_item, "item_get", HTTP_ACCESS_PUBLIC, NULL},
    {"DELETE", "/items/{id}", h_item, "item_delete", HTTP_ACCESS_PUBLIC, NULL},
    {"GET", "/items/special", h_special, "item_special", HTTP_ACCESS_PUBLIC, NULL},
    {"GET", "/big", h_big, "big", HTTP_ACCESS_PUBLIC, NULL},
    {"GET", "/nobody", h_nobody, "nobody", HTTP_ACCESS_PUBLIC, NULL},
    {"GET", "/status0", h_status0, "status0", HTTP_ACCESS_PUBLIC, NULL},
    {"GET", "/busy", h_busy, "busy", HTTP_ACCESS_PUBLIC, NULL},
    {"GET", "/slow", h_slow, "slow", HTTP_ACCESS_PUBLIC, NULL},
    {"GET", "/", h_special, "root", HTTP_ACCESS_PUBLIC, NULL},
};
#define NROUTES (sizeof routes / sizeof routes[0])

/* ---- server fixture ---------------------------------------------------- */

static test_ctx ctx;
static http_server *srv;
static vx_metrics *metrics;
static unsigned port;
static int per_connection; /* start() uses one thread per connection */

static void start(unsigned threads, int with_metrics)
{
    http_config cfg = {0};
    vectron_error err;

    cfg.thread_per_connection = per_connection;
    signal(SIGPIPE, SIG_IGN);
    cfg.listen_address = "127.0.0.1:0";
    cfg.threads = threads;
    cfg.max_body = MAX_BODY;
    cfg.connection_timeout_s = 30;
    if (with_metrics) {
        cr_assert_eq(vx_metrics_new(&metrics, &err), 0);
        cfg.metrics = metrics;
    }
    cr_assert_eq(http_server_start(&cfg, routes, NROUTES, &ctx, &srv, &err), 0,
                 "%s", err.msg);
    port = http_server_port(srv);
    cr_assert_gt(port, 0);
}

static void stop(void)
{
    http_server_stop(srv);
    srv = NULL;
    vx_metrics_free(metrics);
    metrics = NULL;
}

/* ---- client ------------------------------------------------------------ */

static int cl_connect(void)
{
    struct sockaddr_in a = {0};
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Sends everything; returns 0, or -1 if the peer went away. */
static int cl_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int cl_send_str(int fd, const char *s)
{
    return cl_send(fd, s, strlen(s));
}

typedef struct reply {
    int status;
    char head[8192]; /* status line and headers */
    char *body;      /* malloc'd, NUL-terminated */
    size_t len;
} reply;

/* Value of header name in r (case-insensitive) into out; 1 if found. */
static int reply_header(const reply *r, const char *name, char *out,
                        size_t size)
{
    size_t nl = strlen(name);
    const char *line = strstr(r->head, "\r\n");

    while (line && line[2] != '\r' && line[2] != '\0') {
        line += 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            v += strspn(v, " ");
            size_t vl = strcspn(v, "\r");
            snprintf(out, size, "%.*s", (int)vl, v);
            return 1;
        }
        line = strstr(line, "\r\n");
    }
    return 0;
}

/* Reads one response (Content-Length framed). Returns 0, or -1 on EOF or
 * error before a whole response arrived. */
static int cl_recv(int fd, reply *r)
{
    size_t n = 0;
    char cl[32];

    memset(r, 0, sizeof *r);
    while (n < 4 || memcmp(r->head + n - 4, "\r\n\r\n", 4) != 0) {
        if (n + 1 >= sizeof r->head) {
            return -1;
        }
        if (recv(fd, r->head + n, 1, 0) != 1) {
            return -1;
        }
        n++;
    }
    r->head[n] = '\0';
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1) {
        return -1;
    }
    r->len = reply_header(r, "Content-Length", cl, sizeof cl)
                 ? strtoull(cl, NULL, 10)
                 : 0;
    r->body = malloc(r->len + 1);
    cr_assert_not_null(r->body);
    for (size_t got = 0; got < r->len;) {
        ssize_t k = recv(fd, r->body + got, r->len - got, 0);
        if (k <= 0) {
            free(r->body);
            r->body = NULL;
            return -1;
        }
        got += (size_t)k;
    }
    r->body[r->len] = '\0';
    return 0;
}

static void reply_free(reply *r)
{
    free(r->body);
    r->body = NULL;
}

/* One request on a new connection. */
static void request(const char *raw, reply *r)
{
    int fd = cl_connect();
    cr_assert_eq(cl_send_str(fd, raw), 0);
    cr_assert_eq(cl_recv(fd, r), 0, "no reply to %s", raw);
    close(fd);
}

static void get(const char *target, reply *r)
{
    char raw[2048];
    snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    request(raw, r);
}

/* 1 if the peer closed the connection (EOF or reset) without sending
 * anything more. */
static int cl_closed(int fd)
{
    char c;
    return recv(fd, &c, 1, 0) <= 0;
}

/* Checks that r carries Qdrant's error envelope; returns the message
 * (static copy). */
static const char *error_envelope(const reply *r)
{
    static char msg[512];
    char ct[128];
    json_error_t je;
    json_t *j = json_loadb(r->body, r->len, 0, &je);

    cr_assert_not_null(j, "not JSON: %s (%s)", r->body, je.text);
    cr_assert(reply_header(r, "Content-Type", ct, sizeof ct));
    cr_assert_str_eq(ct, "application/json");
    json_t *status = json_object_get(j, "status");
    cr_assert(json_is_object(status), "%s", r->body);
    cr_assert(json_is_string(json_object_get(status, "error")), "%s", r->body);
    cr_assert(json_is_number(json_object_get(j, "time")), "%s", r->body);
    snprintf(msg, sizeof msg, "%s",
             json_string_value(json_object_get(status, "error")));
    json_decref(j);
    return msg;
}

/* ---- routing ----------------------------------------------------------- */

Test(http, route_match_and_captures)
{
    reply r;
    char ct[64];

    start(2, 0);
    get("/echo/one/two", &r);
    cr_assert_eq(r.status, 200);
    cr_assert(reply_header(&r, "Content-Type", ct, sizeof ct));
    cr_assert_str_eq(ct, "text/plain");
    cr_assert_str_eq(r.body, "n=2|a=one|b=two|path=/echo/one/two|x=(null)|"
                             "flag=(null)|none=(null)|h=(null)|method=GET|"
                             "route=echo2");
    reply_free(&r);

    /* Trailing slash tolerated, no captures. */
    get("/echo/", &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "n=0|") == r.body, "%s", r.body);
    cr_assert(strstr(r.body, "route=echo0"), "%s", r.body);
    reply_free(&r);
    get("/echo/a/b/", &r);
    cr_assert_eq(r.status, 200);
    reply_free(&r);

    get("/", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "special");
    reply_free(&r);

    /* The literal segment wins over the capture whatever the order. */
    get("/items/special", &r);
    cr_assert_str_eq(r.body, "special");
    reply_free(&r);
    get("/items/42", &r);
    cr_assert_str_eq(r.body, "GET item=42");
    reply_free(&r);
    request("DELETE /items/special HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    cr_assert_str_eq(r.body, "DELETE item=special");
    reply_free(&r);

    /* Absolute-form request target. */
    get("http://example.com/echo/p/q?x=1", &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "a=p|b=q|path=/echo/p/q|x=1|"), "%s", r.body);
    reply_free(&r);

    size_t n;
    cr_assert_eq(http_server_routes(srv, &n), routes);
    cr_assert_eq(n, NROUTES);
    stop();
}

Test(http, percent_decoding)
{
    reply r;

    start(1, 0);
    get("/echo/hello%20w%C3%B6rld/a%2Fb%25", &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "a=hello w\xc3\xb6rld|b=a/b%|"
                             "path=/echo/hello%20w%C3%B6rld/a%2Fb%25|"),
              "%s", r.body);
    reply_free(&r);

    /* Literal segments compare decoded. */
    get("/ech%6F/x/y", &r);
    cr_assert_eq(r.status, 200);
    reply_free(&r);

    const char *bad[] = {"/echo/%zz/b", "/echo/%00/b", "/echo/a/%4",
                         "/echo/a/b%", "/nothing/%G1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        get(bad[i], &r);
        cr_assert_eq(r.status, 400, "%s", bad[i]);
        cr_assert(strstr(error_envelope(&r), "percent-encoding"));
        reply_free(&r);
    }

    /* Empty captures and empty segments do not match. */
    const char *missing[] = {"/echo//b", "/echo/a//", "/echo/a/b/c", "/items",
                             "//"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        get(missing[i], &r);
        cr_assert_eq(r.status, 404, "%s", missing[i]);
        reply_free(&r);
    }
    stop();
}

Test(http, not_found_and_method_not_allowed)
{
    reply r;
    char allow[128];

    start(1, 0);
    get("/nope/nothing", &r);
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(error_envelope(&r), "not found");
    reply_free(&r);

    request("POST /items/3 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
            &r);
    cr_assert_eq(r.status, 405);
    cr_assert(reply_header(&r, "Allow", allow, sizeof allow));
    cr_assert_str_eq(allow, "PUT, GET, DELETE");
    cr_assert(strstr(error_envelope(&r), "POST not allowed"));
    reply_free(&r);

    /* HEAD is not routed: 405 listing GET, headers only. */
    int fd = cl_connect();
    cr_assert_eq(cl_send_str(fd, "HEAD /big HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    char head[512];
    size_t n = 0;
    while (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0) {
        cr_assert_eq(recv(fd, head + n, 1, 0), 1);
        n++;
        cr_assert_lt(n, sizeof head);
    }
    head[n] = '\0';
    cr_assert(strstr(head, " 405 "), "%s", head);
    close(fd);
    stop();
}

/* ---- bodies ------------------------------------------------------------ */

Test(http, body_round_trip)
{
    char raw[2048], body[MAX_BODY];
    reply r;

    start(1, 0);
    for (size_t i = 0; i < sizeof body; i++) {
        body[i] = (char)('a' + i % 26);
    }
    /* Exactly max_body. */
    int fd = cl_connect();
    snprintf(raw, sizeof raw,
             "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: %u\r\n\r\n",
             MAX_BODY);
    cr_assert_eq(cl_send_str(fd, raw), 0);
    cr_assert_eq(cl_send(fd, body, sizeof body), 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.len, MAX_BODY);
    cr_assert_arr_eq(r.body, body, MAX_BODY);
    reply_free(&r);

    /* Chunked within the limit, same connection. */
    cr_assert_eq(cl_send_str(fd, "POST /body HTTP/1.1\r\nHost: t\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n"
                                 "5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n"
                                 "0\r\n\r\n"),
                 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello world");
    reply_free(&r);

    /* No body at all. */
    cr_assert_eq(cl_send_str(fd, "POST /body HTTP/1.1\r\nHost: t\r\n"
                                 "Content-Length: 0\r\n\r\n"),
                 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.len, 0);
    reply_free(&r);
    close(fd);
    stop();
}

Test(http, body_cap_content_length)
{
    char raw[256];
    reply r;

    start(1, 0);
    /* Only the headers are sent: the answer must not wait for the body. */
    int fd = cl_connect();
    snprintf(raw, sizeof raw,
             "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: %u\r\n\r\n",
             MAX_BODY + 1);
    cr_assert_eq(cl_send_str(fd, raw), 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_eq(r.status, 413);
    cr_assert(strstr(error_envelope(&r), "larger than the limit of 1000"));
    reply_free(&r);
    cr_assert(cl_closed(fd), "connection closed after an early answer");
    close(fd);

    /* With Expect: 100-continue no 100 is sent, just the 413. */
    fd = cl_connect();
    cr_assert_eq(cl_send_str(fd, "POST /body HTTP/1.1\r\nHost: t\r\n"
                                 "Expect: 100-continue\r\n"
                                 "Content-Length: 99999999999\r\n\r\n"),
                 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_eq(r.status, 413);
    reply_free(&r);
    close(fd);

    /* A route that does not exist is 404 before the size is looked at. */
    request("POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n",
            &r);
    cr_assert_eq(r.status, 404);
    reply_free(&r);
    stop();
}

/* Sends a chunked body of nchunks chunks of size bytes. */
static int send_chunked(int fd, size_t nchunks, size_t size)
{
    char *chunk = malloc(size);
    char line[32];
    int rc = cl_send_str(fd, "POST /body HTTP/1.1\r\nHost: t\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n");

    cr_assert_not_null(chunk);
    memset(chunk, 'z', size);
    for (size_t i = 0; i < nchunks && rc == 0; i++) {
        snprintf(line, sizeof line, "%zx\r\n", size);
        rc = cl_send_str(fd, line);
        if (rc == 0) {
            rc = cl_send(fd, chunk, size);
        }
        if (rc == 0) {
            rc = cl_send_str(fd, "\r\n");
        }
    }
    if (rc == 0) {
        rc = cl_send_str(fd, "0\r\n\r\n");
    }
    free(chunk);
    return rc;
}

Test(http, body_cap_chunked)
{
    reply r;

    start(1, 0);
    /* 1500 bytes: over the limit, under twice the limit: 413. */
    int fd = cl_connect();
    cr_assert_eq(send_chunked(fd, 3, 500), 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_eq(r.status, 413);
    cr_assert(strstr(error_envelope(&r), "larger than the limit"));
    reply_free(&r);
    close(fd);

    /* Far beyond: the connection is closed without an answer. */
    fd = cl_connect();
    send_chunked(fd, 100, 500); /* may fail once the server has closed */
    cr_assert_neq(cl_recv(fd, &r), 0);
    close(fd);

    /* The server still works. */
    get("/echo/a/b", &r);
    cr_assert_eq(r.status, 200);
    reply_free(&r);
    stop();
}

Test(http, ten_megabyte_response)
{
    reply r;

    start(1, 0);
    get("/big", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.len, BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++) {
        if ((unsigned char)r.body[i] != big_byte(i)) {
            cr_assert_fail("byte %zu differs", i);
        }
    }
    reply_free(&r);
    stop();
}

/* ---- connections ------------------------------------------------------- */

Test(http, keep_alive_and_pipelining)
{
    reply r;
    int fd;

    start(1, 0);
    fd = cl_connect();
    cr_assert_eq(cl_send_str(fd, "GET /echo/1/2 HTTP/1.1\r\nHost: t\r\n\r\n"),
                 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert(strstr(r.body, "a=1|b=2"));
    reply_free(&r);
    /* An error answer keeps the connection too. */
    cr_assert_eq(cl_send_str(fd, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_eq(r.status, 404);
    reply_free(&r);
    /* So does one for a request with a (small) body: it is read and
     * discarded. */
    cr_assert_eq(cl_send_str(fd, "PATCH /items/1 HTTP/1.1\r\nHost: t\r\n"
                                 "Content-Length: 4\r\n\r\nabcd"),
                 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_eq(r.status, 405);
    reply_free(&r);
    cr_assert_eq(cl_send_str(fd, "GET /echo/3/4 HTTP/1.1\r\nHost: t\r\n\r\n"),
                 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert(strstr(r.body, "a=3|b=4"));
    reply_free(&r);

    /* Two requests in one write. */
    cr_assert_eq(cl_send_str(fd, "GET /echo/5/6 HTTP/1.1\r\nHost: t\r\n\r\n"
                                 "GET /items/7 HTTP/1.1\r\nHost: t\r\n\r\n"),
                 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert(strstr(r.body, "a=5|b=6"));
    reply_free(&r);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_str_eq(r.body, "GET item=7");
    reply_free(&r);

    /* Connection: close is honoured. */
    cr_assert_eq(cl_send_str(fd, "GET /items/8 HTTP/1.1\r\nHost: t\r\n"
                                 "Connection: close\r\n\r\n"),
                 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_str_eq(r.body, "GET item=8");
    reply_free(&r);
    cr_assert(cl_closed(fd));
    close(fd);
    stop();
}

Test(http, query_args_and_headers)
{
    reply r;

    start(1, 0);
    request("GET /echo/q/h?x=1%202+3&flag&y=2 HTTP/1.1\r\nHost: t\r\n"
            "X-Test: hello there\r\n\r\n",
            &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "path=/echo/q/h|x=1 2 3|flag=|none=(null)|"
                             "h=hello there|"),
              "%s", r.body);
    reply_free(&r);

    get("/echo/q/h?x=a%00b", &r);
    cr_assert_eq(r.status, 400);
    cr_assert(strstr(error_envelope(&r), "%00"));
    reply_free(&r);
    stop();
}

Test(http, handler_mistakes_become_500)
{
    reply r;

    start(1, 0);
    get("/nobody", &r);
    cr_assert_eq(r.status, 500);
    error_envelope(&r);
    reply_free(&r);
    get("/status0", &r);
    cr_assert_eq(r.status, 500);
    error_envelope(&r);
    reply_free(&r);
    stop();
}

Test(http, extra_headers_and_error_helper)
{
    reply r;
    char v[64];

    start(1, 0);
    get("/busy", &r);
    cr_assert_eq(r.status, 503);
    cr_assert_str_eq(error_envelope(&r), "busy \"now\"");
    cr_assert(reply_header(&r, "Retry-After", v, sizeof v));
    cr_assert_str_eq(v, "7");
    cr_assert(reply_header(&r, "X-Two", v, sizeof v));
    cr_assert_str_eq(v, "a b");
    reply_free(&r);
    stop();
}

Test(http, response_header_validation)
{
    http_response resp;
    char longv[HTTP_HEADER_SIZE + 1];

    memset(&resp, 0, sizeof resp);
    memset(longv, 'v', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    cr_assert_eq(http_response_header(&resp, "Bad Name", "x"), VECTRON_INVALID);
    cr_assert_eq(http_response_header(&resp, "", "x"), VECTRON_INVALID);
    cr_assert_eq(http_response_header(&resp, "X-A", "a\r\nInjected: 1"),
                 VECTRON_INVALID);
    cr_assert_eq(http_response_header(&resp, "content-length", "3"),
                 VECTRON_INVALID);
    cr_assert_eq(http_response_header(&resp, "Content-Type", "text/html"),
                 VECTRON_INVALID);
    cr_assert_eq(http_response_header(&resp, "X-Long", longv), VECTRON_INVALID);
    cr_assert_eq(resp.nheaders, 0);
    for (unsigned i = 0; i < HTTP_MAX_HEADERS; i++) {
        cr_assert_eq(http_response_header(&resp, "X-Ok", "1"), 0);
    }
    cr_assert_eq(http_response_header(&resp, "X-Ok", "1"), VECTRON_INVALID);
}

/* Names and values share one arena per response: a value up to
 * HTTP_HEADER_SIZE - 1 bytes fits, and headers stop fitting once the
 * arena is full, leaving the ones before intact. */
Test(http, response_header_arena)
{
    static http_response resp;
    static char big[HTTP_HEADER_SIZE];

    memset(&resp, 0, sizeof resp);
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_eq(http_response_header(&resp, "X-Big", big), 0);
    cr_assert_eq(http_response_header(&resp, "X-Small", "s"), 0);
    size_t used = resp.arena_used;
    cr_assert_eq(used, 6 + sizeof big + 8 + 2);
    /* What is left cannot take a second big value. */
    cr_assert_eq(http_response_header(&resp, "X-Big2", big), VECTRON_INVALID);
    cr_assert_eq(resp.arena_used, used);
    cr_assert_eq(resp.nheaders, 2);
    cr_assert_str_eq(resp.arena + resp.headers[0][0], "X-Big");
    cr_assert_str_eq(resp.arena + resp.headers[0][1], big);
    cr_assert_str_eq(resp.arena + resp.headers[1][0], "X-Small");
    cr_assert_str_eq(resp.arena + resp.headers[1][1], "s");
    /* A copy of the struct keeps working (offsets, not pointers). */
    static http_response copy;
    copy = resp;
    cr_assert_str_eq(copy.arena + copy.headers[1][1], "s");
}

/* ---- concurrency ------------------------------------------------------- */

#define CLIENTS 4
#define PER_CLIENT 100

static void *client_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    int fd = cl_connect();
    int ok = 0;

    for (int i = 0; i < PER_CLIENT; i++) {
        char raw[128], want[64];
        reply r;
        if (i % 10 == 9) {
            /* Now and then a fresh connection. */
            close(fd);
            fd = cl_connect();
        }
        snprintf(raw, sizeof raw,
                 "GET /echo/c%d/%d HTTP/1.1\r\nHost: t\r\n\r\n", id, i);
        snprintf(want, sizeof want, "a=c%d|b=%d|", id, i);
        if (cl_send_str(fd, raw) == 0 && cl_recv(fd, &r) == 0) {
            ok += r.status == 200 && strstr(r.body, want) != NULL;
            reply_free(&r);
        }
    }
    close(fd);
    return (void *)(intptr_t)ok;
}

Test(http, concurrent_clients)
{
    pthread_t t[CLIENTS];
    int total = 0;

    start(2, 1);
    for (int i = 0; i < CLIENTS; i++) {
        cr_assert_eq(
            pthread_create(&t[i], NULL, client_thread, (void *)(intptr_t)i), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        total += (int)(intptr_t)ok;
    }
    cr_assert_eq(total, CLIENTS * PER_CLIENT);
    cr_assert_eq(atomic_load(&ctx.calls), CLIENTS * PER_CLIENT);
    stop();
}

static void *slow_get(void *arg)
{
    reply *r = arg;
    get("/slow", r);
    return NULL;
}

/* With a thread per connection, a handler that blocks (as a Raft wait or a
 * search does) holds up no other connection; concurrent clients work as
 * with the pool. */
Test(http, thread_per_connection)
{
    pthread_t t[CLIENTS], slow;
    reply rs, r;
    int total = 0;

    per_connection = 1;
    start(1, 0);
    cr_assert_eq(pthread_create(&slow, NULL, slow_get, &rs), 0);
    while (!atomic_load(&ctx.slow_started))
        usleep(1000);
    get("/echo/x/y", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(atomic_load(&ctx.slow_finished), 0,
                 "the second connection waited for the slow handler");
    reply_free(&r);
    pthread_join(slow, NULL);
    cr_assert_eq(rs.status, 200);
    reply_free(&rs);
    for (int i = 0; i < CLIENTS; i++)
        cr_assert_eq(
            pthread_create(&t[i], NULL, client_thread, (void *)(intptr_t)i), 0);
    for (int i = 0; i < CLIENTS; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        total += (int)(intptr_t)ok;
    }
    cr_assert_eq(total, CLIENTS * PER_CLIENT);
    stop();
}

/* ---- metrics ----------------------------------------------------------- */

Test(http, metrics_per_route_and_status)
{
    reply r;
    char *text;
    size_t len;
    int fd;

    start(1, 1);
    fd = cl_connect();
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(
            cl_send_str(fd, "GET /echo/a/b HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        cr_assert_eq(cl_recv(fd, &r), 0);
        reply_free(&r);
    }
    cr_assert_eq(cl_send_str(fd, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    reply_free(&r);
    cr_assert_eq(cl_send_str(fd, "BREW /nope HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    reply_free(&r);
    cr_assert_eq(cl_send_str(fd, "POST /body HTTP/1.1\r\nHost: t\r\n"
                                 "Content-Length: 5\r\n\r\nhello"),
                 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    reply_free(&r);
    close(fd);

    const char *want[] = {
        "vectron_http_requests_total{route=\"echo2\",method=\"GET\","
        "status=\"2xx\"} 3\n",
        "vectron_http_requests_total{route=\"none\",method=\"GET\","
        "status=\"4xx\"} 1\n",
        "vectron_http_requests_total{route=\"none\",method=\"other\","
        "status=\"4xx\"} 1\n",
        "vectron_http_requests_total{route=\"body\",method=\"POST\","
        "status=\"2xx\"} 1\n",
        "vectron_http_request_duration_seconds_count{route=\"echo2\","
        "status=\"2xx\"} 3\n",
        "vectron_http_request_duration_seconds_bucket{route=\"echo2\","
        "status=\"2xx\",le=\"+Inf\"} 3\n",
        "vectron_http_request_duration_seconds_bucket{route=\"none\","
        "status=\"4xx\",le=\"0.0001\"} ",
        "vectron_http_request_bytes_total{route=\"body\"} 5\n",
        "vectron_http_response_bytes_total{route=\"body\"} 5\n",
        "# TYPE vectron_http_request_duration_seconds histogram\n",
    };
    /* A request's metrics are recorded when libmicrohttpd reports it
     * complete, which may be just after the client read the answer. */
    for (int attempt = 0;; attempt++) {
        size_t found = 0;
        cr_assert_eq(vx_metrics_render(metrics, &text, &len, NULL), 0);
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            found += strstr(text, want[i]) != NULL;
        }
        if (found == sizeof want / sizeof want[0]) {
            break;
        }
        if (attempt == 500) {
            cr_assert_fail("metrics missing:\n%s", text);
        }
        vx_free(text);
        usleep(10 * 1000);
    }
    vx_free(text);
    stop();
}

/* ---- allocation failures ----------------------------------------------- */

static atomic_int fail_all;     /* every vx allocation fails */
static atomic_size_t fail_size; /* allocations of exactly this size fail */

static void *t_malloc(size_t n, void *arg)
{
    (void)arg;
    if (atomic_load(&fail_all) || n == atomic_load(&fail_size)) {
        return NULL;
    }
    return malloc(n);
}

static void *t_realloc(void *p, size_t n, void *arg)
{
    (void)arg;
    if (atomic_load(&fail_all) || n == atomic_load(&fail_size)) {
        return NULL;
    }
    return realloc(p, n);
}

static void t_free(void *p, void *arg)
{
    (void)arg;
    free(p);
}

Test(http, out_of_memory_is_503)
{
    vectron_alloc_hooks hooks = {t_malloc, t_realloc, t_free, NULL};
    reply r;

    start(1, 1);
    vectron_alloc_set_hooks(&hooks);

    /* No request state at all: the static body. */
    atomic_store(&fail_all, 1);
    get("/echo/a/b", &r);
    atomic_store(&fail_all, 0);
    cr_assert_eq(r.status, 503);
    cr_assert_str_eq(error_envelope(&r), "out of memory");
    reply_free(&r);

    /* The body buffer (max_body + 1 bytes for a chunked body) cannot
     * grow: the body is discarded and answered with 503. */
    atomic_store(&fail_size, (size_t)MAX_BODY + 1);
    int fd = cl_connect();
    cr_assert_eq(send_chunked(fd, 1, 10), 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_eq(r.status, 503);
    cr_assert(strstr(error_envelope(&r), "out of memory"));
    reply_free(&r);
    atomic_store(&fail_size, 0);

    /* The connection survives and the next request is fine. */
    cr_assert_eq(cl_send_str(fd, "GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n"),
                 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_eq(r.status, 200);
    reply_free(&r);
    close(fd);
    stop();
    vectron_alloc_set_hooks(NULL);
}

/* ---- configuration ----------------------------------------------------- */

static void h_dummy(void *c, const http_request *req, http_response *resp)
{
    (void)c;
    (void)req;
    (void)resp;
}

Test(http, invalid_route_tables_and_config)
{
    http_config cfg = {0};
    http_server *s;
    vectron_error err;
    struct {
        http_route r[2];
        size_t n;
    } bad[] = {
        {{{"GET", "no-slash", h_dummy, "a", HTTP_ACCESS_PUBLIC, NULL}}, 1},
        {{{"GET", "/a//b", h_dummy, "a", HTTP_ACCESS_PUBLIC, NULL}}, 1},
        {{{"GET", "/a/{x", h_dummy, "a", HTTP_ACCESS_PUBLIC, NULL}}, 1},
        {{{"GET", "/a/x{y}", h_dummy, "a", HTTP_ACCESS_PUBLIC, NULL}}, 1},
        {{{"GET", "/a/{}", h_dummy, "a", HTTP_ACCESS_PUBLIC, NULL}}, 1},
        {{{"GET", "/a%20", h_dummy, "a", HTTP_ACCESS_PUBLIC, NULL}}, 1},
        {{{"GET", "/{a}/{b}/{c}/{d}/{e}", h_dummy, "a", HTTP_ACCESS_PUBLIC, NULL}}, 1},
        {{{"GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", h_dummy, "a", HTTP_ACCESS_PUBLIC, NULL}}, 1},
        {{{"GET", "/a", NULL, "a", HTTP_ACCESS_PUBLIC, NULL}}, 1},
        {{{"GET", "/a", h_dummy, NULL, HTTP_ACCESS_PUBLIC, NULL}}, 1},
        {{{NULL, "/a", h_dummy, "a", HTTP_ACCESS_PUBLIC, NULL}}, 1},
        {{{"GET", "/a/{x}", h_dummy, "a", HTTP_ACCESS_PUBLIC, NULL}, {"GET", "/a/{y}/", h_dummy, "b", HTTP_ACCESS_PUBLIC, NULL}},
         2},
    };

    cfg.listen_address = "127.0.0.1:0";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(
            http_server_start(&cfg, bad[i].r, bad[i].n, NULL, &s, &err),
            VECTRON_INVALID, "case %zu", i);
        cr_assert_null(s);
        cr_assert(strstr(err.msg, "routes["), "%s", err.msg);
    }

    http_route ok[] = {{"GET", "/a/{x}", h_dummy, "a", HTTP_ACCESS_PUBLIC, NULL},
                       {"PUT", "/a/{y}", h_dummy, "b", HTTP_ACCESS_PUBLIC, NULL}};
    const char *addrs[] = {"127.0.0.1",
                           "localhost:80",
                           "127.0.0.1:x",
                           "127.0.0.1:70000",
                           "[::1:80",
                           "::1:80",
                           ""};
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        cfg.listen_address = addrs[i];
        cr_assert_eq(http_server_start(&cfg, ok, 2, NULL, &s, &err),
                     VECTRON_INVALID, "%s", addrs[i]);
        cr_assert(strstr(err.msg, "listen address"), "%s", err.msg);
    }

    /* A port in use is IO, with the reason. */
    http_server *first;
    char addr[64];
    cfg.listen_address = "127.0.0.1:0";
    cr_assert_eq(http_server_start(&cfg, ok, 2, NULL, &first, &err), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", http_server_port(first));
    cfg.listen_address = addr;
    cr_assert_eq(http_server_start(&cfg, ok, 2, NULL, &s, &err), VECTRON_IO);
    cr_assert(strstr(err.msg, addr), "%s", err.msg);
    http_server_stop(first);
    http_server_stop(NULL);
}

Test(http, ipv6_loopback)
{
    http_config cfg = {0};
    http_server *s;
    vectron_error err;
    http_route rt[] = {{"GET", "/x", h_special, "x", HTTP_ACCESS_PUBLIC, NULL}};

    cfg.listen_address = "[::1]:0";
    if (http_server_start(&cfg, rt, 1, NULL, &s, &err) != 0) {
        cr_skip_test("no IPv6 loopback here: %s", err.msg);
    }
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {0};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((uint16_t)http_server_port(s));
    a.sin6_addr = in6addr_loopback;
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    reply r;
    cr_assert_eq(cl_send_str(fd, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    cr_assert_str_eq(r.body, "special");
    reply_free(&r);
    close(fd);
    http_server_stop(s);
}

/* ---- stopping ---------------------------------------------------------- */

Test(http, stop_while_idle)
{
    reply r;
    int fd;

    /* Never used. */
    start(2, 1);
    stop();

    /* With an idle keep-alive connection open. */
    start(2, 0);
    fd = cl_connect();
    cr_assert_eq(cl_send_str(fd, "GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n"),
                 0);
    cr_assert_eq(cl_recv(fd, &r), 0);
    reply_free(&r);
    stop();
    cr_assert(cl_closed(fd), "idle connection closed by stop");
    close(fd);
}

static void *slow_client(void *arg)
{
    (void)arg;
    int fd = cl_connect();
    cl_send_str(fd, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    char c;
    while (recv(fd, &c, 1, 0) > 0) {
    }
    close(fd);
    return NULL;
}

Test(http, stop_waits_for_handler_in_flight)
{
    pthread_t t;

    start(1, 1);
    cr_assert_eq(pthread_create(&t, NULL, slow_client, NULL), 0);
    while (!atomic_load(&ctx.slow_started)) {
        usleep(1000);
    }
    stop();
    cr_assert(atomic_load(&ctx.slow_finished),
              "stop returned while the handler ran");
    pthread_join(t, NULL);
}
