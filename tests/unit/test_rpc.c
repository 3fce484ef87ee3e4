/*
 * test_rpc.c - unit tests of the internal RPC layer (src/rpc): each test
 * starts a server on 127.0.0.1 with an ephemeral port and a test handler,
 * and a client. Covered: round trips, many calls in flight from many
 * threads and through rpc_call_all, error answers, deadlines (a call that
 * times out, and the late answer ignored), an unreachable peer and the
 * backoff, reconnection after a server restart, large payloads and the
 * size limit, garbage and wrong preambles on the socket, stopping a server
 * with a request in flight, and the remaining-deadline view of a handler.
 * The frame codec is also fuzzed (fuzz/fuzz_rpc_frame.c).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "rpc/rpc.h"
#include "rpc/rpc_int.h"

TestSuite(rpc, .timeout = 60);

enum {
    M_ECHO = 1,      /* answers the request reversed */
    M_FAIL = 2,      /* answers NOT_FOUND "no such thing" */
    M_SLOW = 3,      /* sleeps the ms in the request (u32), then echoes */
    M_REMAINING = 4, /* answers rpc_request_remaining_ms (u32) */
};

static void handler(void *ctx, rpc_request *call, uint16_t method,
                    const uint8_t *req, size_t len)
{
    (void)ctx;
    switch (method) {
    case M_ECHO: {
        uint8_t *r = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) {
            r[i] = req[len - 1 - i];
        }
        rpc_reply(call, r, len);
        free(r);
        return;
    }
    case M_FAIL:
        rpc_reply_error(call, VECTRON_NOT_FOUND, "no such thing");
        return;
    case M_SLOW: {
        uint32_t ms = len >= 4 ? vx_get_u32(req) : 0;
        usleep(ms * 1000u);
        rpc_reply(call, req, len);
        return;
    }
    case M_REMAINING: {
        uint8_t b[4];
        vx_put_u32(b, rpc_request_remaining_ms(call));
        rpc_reply(call, b, 4);
        return;
    }
    default:
        rpc_reply_error(call, VECTRON_UNSUPPORTED, "unknown method");
    }
}

static rpc_server *start_server(const char *listen, char *addr, size_t n)
{
    rpc_server_options o = {.listen = listen, .threads = 4, .handler = handler};
    rpc_server *s = NULL;
    vectron_error err = {0};
    int rc = rpc_server_start(&o, &s, &err);
    cr_assert_eq(rc, 0, "start: %s", err.msg);
    snprintf(addr, n, "127.0.0.1:%u", rpc_server_port(s));
    return s;
}

static rpc_client *start_client(void)
{
    rpc_client *c = NULL;
    vectron_error err = {0};
    cr_assert_eq(rpc_client_start(NULL, &c, &err), 0, "%s", err.msg);
    return c;
}

static void check_echo(rpc_client *c, const char *addr, const char *text)
{
    rpc_result r;
    vectron_error err = {0};
    size_t n = strlen(text);
    int rc =
        rpc_call(c, addr, M_ECHO, (const uint8_t *)text, n, 5000, &r, &err);
    cr_assert_eq(rc, 0, "echo: %s", err.msg);
    cr_assert_eq(r.len, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(r.data[i], (uint8_t)text[n - 1 - i]);
    }
    rpc_result_free(&r);
}

Test(rpc, round_trip_and_empty_payload)
{
    char addr[64];
    rpc_server *s = start_server("127.0.0.1:0", addr, sizeof addr);
    rpc_client *c = start_client();
    rpc_result r;
    vectron_error err = {0};

    check_echo(c, addr, "hello, raft");
    cr_assert_eq(rpc_call(c, addr, M_ECHO, NULL, 0, 0, &r, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(r.len, 0);
    rpc_result_free(&r);
    rpc_client_stop(c);
    rpc_server_stop(s);
}

Test(rpc, error_answer_carries_code_and_message)
{
    char addr[64];
    rpc_server *s = start_server("127.0.0.1:0", addr, sizeof addr);
    rpc_client *c = start_client();
    rpc_result r;
    vectron_error err = {0};

    int rc = rpc_call(c, addr, M_FAIL, (const uint8_t *)"x", 1, 5000, &r, &err);
    cr_assert_eq(rc, VECTRON_NOT_FOUND);
    cr_assert_eq(err.code, VECTRON_NOT_FOUND);
    cr_assert(strstr(err.msg, "no such thing"), "%s", err.msg);
    cr_assert(strstr(err.msg, addr), "%s", err.msg);
    cr_assert_null(r.data);
    rc = rpc_call(c, addr, 999, NULL, 0, 5000, &r, &err);
    cr_assert_eq(rc, VECTRON_UNSUPPORTED);
    rpc_client_stop(c);
    rpc_server_stop(s);
}

typedef struct hammer {
    rpc_client *c;
    const char *addr;
    int id;
    int failures;
} hammer;

static void *hammer_main(void *arg)
{
    hammer *h = arg;
    for (int i = 0; i < 300; i++) {
        char msg[64];
        rpc_result r;
        vectron_error err = {0};
        int n = snprintf(msg, sizeof msg, "thread %d call %d", h->id, i);
        if (rpc_call(h->c, h->addr, M_ECHO, (const uint8_t *)msg, (size_t)n,
                     10000, &r, &err) != 0 ||
            r.len != (size_t)n) {
            h->failures++;
        } else {
            for (int j = 0; j < n; j++) {
                if (r.data[j] != (uint8_t)msg[n - 1 - j]) {
                    h->failures++;
                    break;
                }
            }
        }
        rpc_result_free(&r);
    }
    return NULL;
}

Test(rpc, many_threads_share_one_connection)
{
    char addr[64];
    rpc_server *s = start_server("127.0.0.1:0", addr, sizeof addr);
    rpc_client *c = start_client();
    pthread_t t[8];
    hammer h[8];

    for (int i = 0; i < 8; i++) {
        h[i] = (hammer){c, addr, i, 0};
        pthread_create(&t[i], NULL, hammer_main, &h[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(h[i].failures, 0, "thread %d: %d failures", i,
                     h[i].failures);
    }
    rpc_client_stop(c);
    rpc_server_stop(s);
}

Test(rpc, scatter_gather_to_several_servers)
{
    char addr[3][64];
    rpc_server *s[3];
    rpc_client *c = start_client();
    rpc_multi m[300];
    char req[300][16];

    for (int i = 0; i < 3; i++) {
        s[i] = start_server("127.0.0.1:0", addr[i], sizeof addr[i]);
    }
    for (int i = 0; i < 300; i++) {
        int n = snprintf(req[i], sizeof req[i], "req-%d", i);
        m[i] = (rpc_multi){.addr = addr[i % 3],
                           .method = M_ECHO,
                           .req = (const uint8_t *)req[i],
                           .len = (size_t)n};
    }
    m[7].method = M_FAIL;
    size_t failed = rpc_call_all(c, m, 300, 10000);
    cr_assert_eq(failed, 1);
    for (int i = 0; i < 300; i++) {
        if (i == 7) {
            cr_assert_eq(m[i].code, VECTRON_NOT_FOUND);
            continue;
        }
        cr_assert_eq(m[i].code, 0, "%d: %s", i, m[i].error.msg);
        cr_assert_eq(m[i].result.len, m[i].len);
        cr_assert_eq(m[i].result.data[0], (uint8_t)req[i][m[i].len - 1]);
        rpc_result_free(&m[i].result);
    }
    rpc_client_stop(c);
    for (int i = 0; i < 3; i++) {
        rpc_server_stop(s[i]);
    }
}

Test(rpc, deadline_passes_and_late_answer_is_ignored)
{
    char addr[64];
    rpc_server *s = start_server("127.0.0.1:0", addr, sizeof addr);
    rpc_client *c = start_client();
    rpc_result r;
    vectron_error err = {0};
    uint8_t slow[4];

    vx_put_u32(slow, 400);
    int rc = rpc_call(c, addr, M_SLOW, slow, 4, 50, &r, &err);
    cr_assert_eq(rc, VECTRON_TIMEOUT, "%d %s", rc, err.msg);
    cr_assert(strstr(err.msg, "deadline"), "%s", err.msg);
    /* The connection stays usable; the late answer (id unknown by then)
     * is dropped. */
    usleep(500 * 1000);
    check_echo(c, addr, "still here");
    rpc_client_stop(c);
    rpc_server_stop(s);
}

Test(rpc, handler_sees_the_remaining_deadline)
{
    char addr[64];
    rpc_server *s = start_server("127.0.0.1:0", addr, sizeof addr);
    rpc_client *c = start_client();
    rpc_result r;
    vectron_error err = {0};

    cr_assert_eq(rpc_call(c, addr, M_REMAINING, NULL, 0, 5000, &r, &err), 0);
    uint32_t left = vx_get_u32(r.data);
    cr_assert(left > 0 && left <= 5000, "left %u", left);
    rpc_result_free(&r);
    cr_assert_eq(rpc_call(c, addr, M_REMAINING, NULL, 0, 0, &r, &err), 0);
    cr_assert_eq(vx_get_u32(r.data), UINT32_MAX);
    rpc_result_free(&r);
    rpc_client_stop(c);
    rpc_server_stop(s);
}

/* A loopback port with nothing listening on it (bound, then closed). */
static uint16_t dead_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(bind(fd, (struct sockaddr *)&sa, sl) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

Test(rpc, unreachable_peer_fails_then_backs_off)
{
    char addr[64];
    rpc_client *c = start_client();
    rpc_result r;
    vectron_error err = {0};

    snprintf(addr, sizeof addr, "127.0.0.1:%u", dead_port());
    int rc = rpc_call(c, addr, M_ECHO, (const uint8_t *)"x", 1, 5000, &r, &err);
    cr_assert_eq(rc, VECTRON_UNAVAILABLE, "%d %s", rc, err.msg);
    cr_assert(strstr(err.msg, "connect"), "%s", err.msg);
    rc = rpc_call(c, addr, M_ECHO, (const uint8_t *)"x", 1, 5000, &r, &err);
    cr_assert_eq(rc, VECTRON_UNAVAILABLE);
    cr_assert(strstr(err.msg, "next attempt"), "%s", err.msg);
    rpc_client_stop(c);
}

Test(rpc, reconnects_after_server_restart)
{
    char addr[64];
    char listen[64];
    rpc_server *s = start_server("127.0.0.1:0", addr, sizeof addr);
    rpc_client *c = start_client();
    rpc_result r;
    vectron_error err = {0};
    int ok = 0;

    check_echo(c, addr, "before");
    rpc_server_stop(s);
    int rc = rpc_call(c, addr, M_ECHO, (const uint8_t *)"x", 1, 5000, &r, &err);
    cr_assert_eq(rc, VECTRON_UNAVAILABLE, "%d %s", rc, err.msg);
    snprintf(listen, sizeof listen, "%s", addr);
    s = start_server(listen, addr, sizeof addr);
    for (int i = 0; i < 60 && !ok; i++) { /* backoff is at most 2 s */
        rc = rpc_call(c, addr, M_ECHO, (const uint8_t *)"abc", 3, 5000, &r,
                      &err);
        if (rc == 0) {
            ok = 1;
            rpc_result_free(&r);
        } else {
            cr_assert_eq(rc, VECTRON_UNAVAILABLE, "%s", err.msg);
            usleep(100 * 1000);
        }
    }
    cr_assert(ok, "never reconnected: %s", err.msg);
    check_echo(c, addr, "after");
    rpc_client_stop(c);
    rpc_server_stop(s);
}

Test(rpc, large_payload_and_the_limit)
{
    char addr[64];
    rpc_server_options o = {.listen = "127.0.0.1:0",
                            .threads = 2,
                            .handler = handler,
                            .max_payload = 16u << 20};
    rpc_server *s = NULL;
    rpc_client_options co = {.max_payload = 32u << 20};
    rpc_client *c = NULL;
    rpc_result r;
    vectron_error err = {0};
    size_t n = 8u << 20;
    uint8_t *big = malloc(24u << 20);

    cr_assert_eq(rpc_server_start(&o, &s, &err), 0, "%s", err.msg);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", rpc_server_port(s));
    cr_assert_eq(rpc_client_start(&co, &c, &err), 0);
    for (size_t i = 0; i < (24u << 20); i++) {
        big[i] = (uint8_t)(i * 131u + 7u);
    }
    cr_assert_eq(rpc_call(c, addr, M_ECHO, big, n, 20000, &r, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(r.len, n);
    cr_assert_eq(r.data[0], big[n - 1]);
    cr_assert_eq(r.data[n - 1], big[0]);
    rpc_result_free(&r);
    /* Above the server's limit: it drops the connection. */
    int rc = rpc_call(c, addr, M_ECHO, big, 24u << 20, 20000, &r, &err);
    cr_assert_eq(rc, VECTRON_UNAVAILABLE, "%d %s", rc, err.msg);
    /* Above the client's own limit: refused before sending. */
    rpc_client_stop(c);
    co.max_payload = 1024;
    cr_assert_eq(rpc_client_start(&co, &c, &err), 0);
    rc = rpc_call(c, addr, M_ECHO, big, 2048, 20000, &r, &err);
    cr_assert_eq(rc, VECTRON_INVALID);
    check_echo(c, addr, "small is fine");
    free(big);
    rpc_client_stop(c);
    rpc_server_stop(s);
}

static int raw_connect(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    return fd;
}

/* Reads until EOF (the server closed) or 5 s; returns 1 on EOF. */
static int closed_by_server(int fd)
{
    struct timeval tv = {.tv_sec = 5};
    char b[256];
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
        ssize_t n = read(fd, b, sizeof b);
        if (n == 0) {
            return 1;
        }
        if (n < 0) {
            return 0;
        }
    }
}

Test(rpc, garbage_closes_only_that_connection)
{
    char addr[64];
    rpc_server *s = start_server("127.0.0.1:0", addr, sizeof addr);
    rpc_client *c = start_client();
    uint16_t port = rpc_server_port(s);
    uint8_t frame[64];

    signal(SIGPIPE, SIG_IGN);
    check_echo(c, addr, "first");

    int fd = raw_connect(port); /* not our protocol at all */
    cr_assert(write(fd, "GET / HTTP/1.1\r\n\r\n", 18) == 18);
    cr_assert(closed_by_server(fd));
    close(fd);

    fd = raw_connect(port); /* another version */
    rpc_preamble_encode(frame);
    vx_put_u32(frame + 4, 99);
    cr_assert(write(fd, frame, 8) == 8);
    cr_assert(closed_by_server(fd));
    close(fd);

    fd = raw_connect(port); /* a frame with a bad checksum */
    rpc_preamble_encode(frame);
    rpc_header h = {
        .len = 3, .kind = RPC_KIND_REQUEST, .method = M_ECHO, .id = 1};
    rpc_header_encode(&h, (const uint8_t *)"abc", 3, frame + 8);
    memcpy(frame + 8 + RPC_HEADER_SIZE, "abd", 3);
    cr_assert(write(fd, frame, 8 + RPC_HEADER_SIZE + 3) ==
              (ssize_t)(8 + RPC_HEADER_SIZE + 3));
    cr_assert(closed_by_server(fd));
    close(fd);

    fd = raw_connect(port); /* a good frame on a raw socket is answered */
    rpc_header_encode(&h, (const uint8_t *)"abc", 3, frame + 8);
    memcpy(frame + 8 + RPC_HEADER_SIZE, "abc", 3);
    cr_assert(write(fd, frame, 8 + RPC_HEADER_SIZE + 3) ==
              (ssize_t)(8 + RPC_HEADER_SIZE + 3));
    uint8_t ans[RPC_HEADER_SIZE + 3];
    size_t got = 0;
    while (got < sizeof ans) {
        ssize_t n = read(fd, ans + got, sizeof ans - got);
        cr_assert(n > 0);
        got += (size_t)n;
    }
    cr_assert_eq(ans[4], RPC_KIND_RESPONSE);
    cr_assert_eq(vx_get_u64(ans + 12), 1);
    cr_assert_eq(memcmp(ans + RPC_HEADER_SIZE, "cba", 3), 0);
    close(fd);

    check_echo(c, addr, "others are unaffected");
    rpc_client_stop(c);
    rpc_server_stop(s);
}

typedef struct slow_call {
    rpc_client *c;
    const char *addr;
    int rc;
    vectron_error err;
} slow_call;

static void *slow_main(void *arg)
{
    slow_call *sc = arg;
    uint8_t req[4];
    rpc_result r;
    vx_put_u32(req, 300);
    sc->rc = rpc_call(sc->c, sc->addr, M_SLOW, req, 4, 10000, &r, &sc->err);
    rpc_result_free(&r);
    return NULL;
}

Test(rpc, stop_answers_requests_in_flight)
{
    char addr[64];
    rpc_server *s = start_server("127.0.0.1:0", addr, sizeof addr);
    rpc_client *c = start_client();
    slow_call sc = {c, addr, -1, {0}};
    pthread_t t;

    pthread_create(&t, NULL, slow_main, &sc);
    usleep(100 * 1000); /* the request is in the handler */
    rpc_server_stop(s);
    pthread_join(t, NULL);
    cr_assert_eq(sc.rc, 0, "%s", sc.err.msg);
    rpc_client_stop(c);
}

Test(rpc, bad_arguments)
{
    rpc_client *c = start_client();
    rpc_server *s = NULL;
    rpc_result r;
    vectron_error err = {0};
    rpc_server_options o = {.listen = "localhost:1", .handler = handler};

    cr_assert_eq(rpc_call(c, "nonsense", M_ECHO, NULL, 0, 0, &r, &err),
                 VECTRON_INVALID);
    cr_assert_eq(rpc_server_start(&o, &s, &err), VECTRON_INVALID);
    o.listen = "127.0.0.1:0";
    o.handler = NULL;
    cr_assert_eq(rpc_server_start(&o, &s, &err), VECTRON_INVALID);
    rpc_client_stop(c);
}
