/*
 * test_http_client.c - unit tests of common/http_client against the
 * project's own HTTP server (gateway/http) on 127.0.0.1 with an ephemeral
 * port: methods, bodies and headers both ways, error statuses passed
 * through, keep-alive (the server sees the same client port), a refused
 * connection, a timeout, the response cap, bad arguments, and one client
 * per thread used concurrently.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/common.h"
#include "common/http_client.h"
#include "gateway/http.h"

TestSuite(http_client, .timeout = 60);

static void set_text(http_response *resp, const char *text, size_t n)
{
    resp->body = vx_malloc(n + 1);
    cr_assert_not_null(resp->body);
    memcpy(resp->body, text, n);
    resp->body[n] = '\0';
    resp->len = n;
    resp->content_type = "text/plain";
}

/* "METHOD|content-type|x-test|client|body" */
static void h_echo(void *ctx, const http_request *req, http_response *resp)
{
    (void)ctx;
    const char *ct = http_header(req, "content-type");
    const char *xt = http_header(req, "x-test");
    size_t cap = req->body_len + 512;
    char *text = vx_malloc(cap);
    cr_assert_not_null(text);
    int n = snprintf(text, cap, "%s|%s|%s|%s|", req->method, ct ? ct : "-",
                     xt ? xt : "-", req->client);
    memcpy(text + n, req->body, req->body_len);
    set_text(resp, text, (size_t)n + req->body_len);
    vx_free(text);
}

static void h_missing(void *ctx, const http_request *req, http_response *resp)
{
    (void)ctx;
    http_respond_error(req, resp, 404, "no such thing");
}

static void h_slow(void *ctx, const http_request *req, http_response *resp)
{
    (void)ctx;
    (void)req;
    usleep(1500 * 1000);
    set_text(resp, "late", 4);
}

#define BIG 3000000u
static void h_big(void *ctx, const http_request *req, http_response *resp)
{
    (void)ctx;
    (void)req;
    resp->body = vx_malloc(BIG);
    cr_assert_not_null(resp->body);
    for (size_t i = 0; i < BIG; i++)
        resp->body[i] = (char)('a' + i % 26);
    resp->len = BIG;
    resp->content_type = "application/octet-stream";
}

static const http_route routes[] = {
    {"GET", "/echo", h_echo, "echo_get"},
    {"POST", "/echo", h_echo, "echo_post"},
    {"PUT", "/echo", h_echo, "echo_put"},
    {"DELETE", "/echo", h_echo, "echo_delete"},
    {"GET", "/missing", h_missing, "missing"},
    {"GET", "/slow", h_slow, "slow"},
    {"GET", "/big", h_big, "big"},
};

static http_server *srv;
static char base[64];

static void start(void)
{
    http_config cfg = {0};
    vectron_error err;
    signal(SIGPIPE, SIG_IGN);
    cfg.listen_address = "127.0.0.1:0";
    cfg.thread_per_connection = 1;
    cfg.max_body = 1 << 20;
    cr_assert_eq(http_server_start(&cfg, routes,
                                   sizeof routes / sizeof routes[0], NULL,
                                   &srv, &err),
                 0, "%s", err.msg);
    snprintf(base, sizeof base, "http://127.0.0.1:%u",
             http_server_port(srv));
}

static void stop(void)
{
    http_server_stop(srv);
    srv = NULL;
}

static void url(char *out, size_t n, const char *path)
{
    snprintf(out, n, "%s%s", base, path);
}

/* The client field ("ip:port") of an echo body. */
static void client_of(const char *body, char *out, size_t n)
{
    const char *p = body;
    for (int i = 0; i < 3; i++) {
        p = strchr(p, '|');
        cr_assert_not_null(p);
        p++;
    }
    const char *e = strchr(p, '|');
    cr_assert_not_null(e);
    snprintf(out, n, "%.*s", (int)(e - p), p);
}

Test(http_client, methods_bodies_headers, .init = start, .fini = stop)
{
    vx_http_client *c;
    vx_http_response r;
    vectron_error err;
    char u[128];
    url(u, sizeof u, "/echo");

    cr_assert_eq(vx_http_client_new(0, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(vx_http_client_request(c, "GET", u, NULL, 0, NULL, 0, 5000,
                                        &r, &err),
                 0, "%s", err.msg);
    cr_assert_eq(r.status, 200);
    cr_assert(strncmp(r.body, "GET|-|-|", 8) == 0, "%s", r.body);
    vx_http_response_free(&r);

    const char *hdr[] = {"X-Test: yes"};
    cr_assert_eq(vx_http_client_request(c, "POST", u, hdr, 1, "{\"a\":1}", 7,
                                        5000, &r, &err),
                 0, "%s", err.msg);
    cr_assert_eq(r.status, 200);
    cr_assert(strncmp(r.body, "POST|application/json|yes|", 26) == 0, "%s",
              r.body);
    cr_assert(strcmp(r.body + r.len - 7, "{\"a\":1}") == 0, "%s", r.body);
    vx_http_response_free(&r);

    /* A caller's Content-Type replaces the default; bodies may hold NULs. */
    const char *hdr2[] = {"Content-Type: application/octet-stream"};
    cr_assert_eq(vx_http_client_request(c, "PUT", u, hdr2, 1, "a\0b", 3, 5000,
                                        &r, &err),
                 0, "%s", err.msg);
    cr_assert(strncmp(r.body, "PUT|application/octet-stream|-|", 31) == 0,
              "%s", r.body);
    cr_assert_eq(memcmp(r.body + r.len - 3, "a\0b", 3), 0);
    vx_http_response_free(&r);

    cr_assert_eq(vx_http_client_request(c, "DELETE", u, NULL, 0, NULL, 0, 5000,
                                        &r, &err),
                 0, "%s", err.msg);
    cr_assert(strncmp(r.body, "DELETE|", 7) == 0, "%s", r.body);
    vx_http_response_free(&r);

    /* An error status is a successful call with the server's body. */
    url(u, sizeof u, "/missing");
    cr_assert_eq(vx_http_client_request(c, "GET", u, NULL, 0, NULL, 0, 5000,
                                        &r, &err),
                 0, "%s", err.msg);
    cr_assert_eq(r.status, 404);
    cr_assert_not_null(strstr(r.body, "no such thing"), "%s", r.body);
    vx_http_response_free(&r);
    vx_http_client_free(c);
}

Test(http_client, keep_alive_reuses_the_connection, .init = start,
     .fini = stop)
{
    vx_http_client *c, *c2;
    vx_http_response r;
    vectron_error err;
    char u[128], first[64], next[64], other[64];
    url(u, sizeof u, "/echo");

    cr_assert_eq(vx_http_client_new(0, &c, &err), 0);
    cr_assert_eq(vx_http_client_new(0, &c2, &err), 0);
    cr_assert_eq(vx_http_client_request(c, "GET", u, NULL, 0, NULL, 0, 5000,
                                        &r, &err),
                 0, "%s", err.msg);
    client_of(r.body, first, sizeof first);
    vx_http_response_free(&r);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(vx_http_client_request(c, i % 2 ? "POST" : "GET", u, NULL,
                                            0, i % 2 ? "x" : NULL, i % 2, 5000,
                                            &r, &err),
                     0, "%s", err.msg);
        client_of(r.body, next, sizeof next);
        cr_assert_str_eq(next, first);
        vx_http_response_free(&r);
    }
    /* A second handle has its own connection. */
    cr_assert_eq(vx_http_client_request(c2, "GET", u, NULL, 0, NULL, 0, 5000,
                                        &r, &err),
                 0, "%s", err.msg);
    client_of(r.body, other, sizeof other);
    cr_assert_str_neq(other, first);
    vx_http_response_free(&r);
    vx_http_client_free(c);
    vx_http_client_free(c2);
}

Test(http_client, connection_refused_names_the_url)
{
    /* A port nobody listens on: bind one, read it, close it. */
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);

    vx_http_client *c;
    vx_http_response r;
    vectron_error err;
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%u/collections",
             (unsigned)ntohs(a.sin_port));
    cr_assert_eq(vx_http_client_new(0, &c, &err), 0);
    cr_assert_eq(vx_http_client_request(c, "GET", u, NULL, 0, NULL, 0, 5000,
                                        &r, &err),
                 VECTRON_UNAVAILABLE);
    cr_assert_eq(err.code, VECTRON_UNAVAILABLE);
    cr_assert_not_null(strstr(err.msg, u), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "onnect"), "%s", err.msg);
    cr_assert_null(r.body);
    vx_http_client_free(c);
}

Test(http_client, timeout, .init = start, .fini = stop)
{
    vx_http_client *c;
    vx_http_response r;
    vectron_error err;
    char u[128];
    url(u, sizeof u, "/slow");
    cr_assert_eq(vx_http_client_new(0, &c, &err), 0);
    cr_assert_eq(vx_http_client_request(c, "GET", u, NULL, 0, NULL, 0, 200, &r,
                                        &err),
                 VECTRON_TIMEOUT, "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, u), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "timed out"), "%s", err.msg);
    /* The handle is usable again afterwards. */
    url(u, sizeof u, "/echo");
    cr_assert_eq(vx_http_client_request(c, "GET", u, NULL, 0, NULL, 0, 5000,
                                        &r, &err),
                 0, "%s", err.msg);
    cr_assert_eq(r.status, 200);
    vx_http_response_free(&r);
    vx_http_client_free(c);
}

Test(http_client, large_response_and_cap, .init = start, .fini = stop)
{
    vx_http_client *c;
    vx_http_response r;
    vectron_error err;
    char u[128];
    url(u, sizeof u, "/big");
    cr_assert_eq(vx_http_client_new(0, &c, &err), 0);
    cr_assert_eq(vx_http_client_request(c, "GET", u, NULL, 0, NULL, 0, 10000,
                                        &r, &err),
                 0, "%s", err.msg);
    cr_assert_eq(r.len, BIG);
    for (size_t i = 0; i < BIG; i += 99991)
        cr_assert_eq(r.body[i], (char)('a' + i % 26));
    cr_assert_eq(r.body[BIG], '\0');
    vx_http_response_free(&r);
    vx_http_client_free(c);

    cr_assert_eq(vx_http_client_new(1000, &c, &err), 0);
    cr_assert_eq(vx_http_client_request(c, "GET", u, NULL, 0, NULL, 0, 10000,
                                        &r, &err),
                 VECTRON_LIMIT);
    cr_assert_not_null(strstr(err.msg, "1000 bytes"), "%s", err.msg);
    vx_http_client_free(c);
}

Test(http_client, bad_arguments)
{
    vx_http_client *c;
    vx_http_response r;
    vectron_error err;
    cr_assert_eq(vx_http_client_new(0, &c, &err), 0);
    const char *bad[] = {"NoColon"};
    cr_assert_eq(vx_http_client_request(c, "GET", "http://127.0.0.1:1/", bad,
                                        1, NULL, 0, 1000, &r, &err),
                 VECTRON_INVALID);
    const char *crlf[] = {"X: a\r\nY: b"};
    cr_assert_eq(vx_http_client_request(c, "GET", "http://127.0.0.1:1/", crlf,
                                        1, NULL, 0, 1000, &r, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vx_http_client_request(c, "GET", "", NULL, 0, NULL, 0, 1000,
                                        &r, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vx_http_client_request(c, "GET", "gopher0://x/", NULL, 0,
                                        NULL, 0, 1000, &r, &err),
                 VECTRON_INVALID, "%s", err.msg);
    vx_http_client_free(c);
}

typedef struct worker_arg {
    int ok;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    vx_http_client *c;
    vx_http_response r;
    char u[128];
    url(u, sizeof u, "/echo");
    if (vx_http_client_new(0, &c, NULL))
        return NULL;
    for (int i = 0; i < 50; i++) {
        if (vx_http_client_request(c, "POST", u, NULL, 0, "[1,2]", 5, 5000, &r,
                                   NULL) == 0 &&
            r.status == 200 && strcmp(r.body + r.len - 5, "[1,2]") == 0)
            a->ok++;
        vx_http_response_free(&r);
    }
    vx_http_client_free(c);
    return NULL;
}

Test(http_client, one_client_per_thread, .init = start, .fini = stop)
{
    pthread_t t[4];
    worker_arg a[4] = {{0}};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, worker, &a[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(a[i].ok, 50);
    }
}
