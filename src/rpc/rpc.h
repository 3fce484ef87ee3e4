/*
 * rpc.h - Vectron's internal RPC: request/response frames over TCP
 * (docs/formats/rpc.md), many requests in flight per connection, a
 * deadline on every request, reconnection with backoff. Payloads are
 * opaque bytes here; the services put protobuf-c messages in them
 * (proto/vectron.proto).
 *
 * The server (rpc_server_*) owns one libuv loop thread that accepts
 * connections and reads frames, and a pool of handler threads: each
 * request is handed to the handler on a pool thread, which may block
 * (a Raft commit, a search) and must answer exactly once with rpc_reply
 * or rpc_reply_error, from any thread, now or later.
 *
 * The client (rpc_client_*) owns one libuv loop thread too. Calls are
 * submitted from any thread; one connection per peer address carries all
 * calls to that peer. A call ends exactly once: with the response, with
 * the peer's error, with VECTRON_TIMEOUT when its deadline passes first,
 * or with VECTRON_UNAVAILABLE when the connection cannot be made or is
 * lost (the request may or may not have been executed then: callers retry
 * only what is idempotent or fenced). After a failed connection attempt
 * the peer is in backoff (100 ms doubling to 2 s): calls to it fail at
 * once with VECTRON_UNAVAILABLE until the backoff ends, so callers can try
 * another replica instead of queueing behind a dead one.
 *
 * Threading: every function may be called from any thread except where
 * noted. Callbacks run on the client's loop thread and must not block.
 *
 * Prefix: rpc_.
 */
#ifndef VECTRON_RPC_H
#define VECTRON_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "vectron/error.h"

/* Largest payload a frame may carry by default (both sides refuse bigger
 * frames: the server closes the connection, the client fails the call). */
#define RPC_DEFAULT_MAX_PAYLOAD (64u << 20)

/* ------------------------------------------------------------- server */

typedef struct rpc_server rpc_server;
typedef struct rpc_request rpc_request; /* one request awaiting its answer */

/* Handles one request. req[0..len) is valid until the call is answered.
 * Runs on a pool thread; may block. Must answer call exactly once. */
typedef void (*rpc_handler_fn)(void *ctx, rpc_request *call, uint16_t method,
                               const uint8_t *req, size_t len);

typedef struct rpc_server_options {
    const char *listen;     /* "ip:port" ("127.0.0.1:0" picks a port) */
    unsigned threads;       /* handler threads; 0: 8 */
    size_t max_payload;     /* 0: RPC_DEFAULT_MAX_PAYLOAD */
    rpc_handler_fn handler; /* required */
    void *ctx;              /* passed to handler */
} rpc_server_options;

/* Binds, listens and starts the loop and pool threads. On success *out is
 * the running server. Errors: INVALID (options, address), IO (bind or
 * listen, with the reason), NOMEM. */
int rpc_server_start(const rpc_server_options *o, rpc_server **out,
                     vectron_error *err);

/* The port the server listens on (useful after "ip:0"). */
uint16_t rpc_server_port(const rpc_server *s);

/* Stops accepting, waits until every request handed to the handler has
 * been answered, closes the connections, joins the threads and frees s.
 * Must not be called from a handler. */
void rpc_server_stop(rpc_server *s);

/* Answers call with payload resp[0..len) (copied) and releases it.
 * Answers to a connection that has closed are dropped. */
void rpc_reply(rpc_request *call, const uint8_t *resp, size_t len);

/* Answers call with an error: code (a vectron_error_code, not OK) and a
 * message (may be NULL), and releases it. */
void rpc_reply_error(rpc_request *call, int code, const char *msg);

/* Milliseconds left before the caller's deadline (0 when it has passed;
 * UINT32_MAX when the caller set none). */
uint32_t rpc_request_remaining_ms(const rpc_request *call);

/* ------------------------------------------------------------- client */

typedef struct rpc_client rpc_client;

/* A call's end. code is VECTRON_OK with the response in data[0..len), or
 * an error code with the message in data[0..len) (not NUL-terminated).
 * data is valid only during the callback. Runs on the client's loop
 * thread; must not block. */
typedef void (*rpc_done_fn)(void *arg, int code, const uint8_t *data,
                            size_t len);

typedef struct rpc_client_options {
    size_t max_payload;          /* 0: RPC_DEFAULT_MAX_PAYLOAD */
    unsigned connect_timeout_ms; /* 0: 2000 */
} rpc_client_options;

/* Starts the client's loop thread. o may be NULL (defaults). Errors:
 * NOMEM, IO (thread or loop). */
int rpc_client_start(const rpc_client_options *o, rpc_client **out,
                     vectron_error *err);

/* Fails every call still in progress with VECTRON_UNAVAILABLE, closes the
 * connections, joins the thread, frees c. Must not be called from a
 * callback. */
void rpc_client_stop(rpc_client *c);

/* Sends request req[0..len) (copied) for method to the peer at addr
 * ("ip:port"), which must answer within deadline_ms (0: no deadline).
 * If this returns 0, done is called exactly once, later, on the loop
 * thread; if it returns an error, done is never called. Errors: INVALID
 * (address, too large), NOMEM, UNAVAILABLE (the client is stopping). */
int rpc_call_async(rpc_client *c, const char *addr, uint16_t method,
                   const uint8_t *req, size_t len, unsigned deadline_ms,
                   rpc_done_fn done, void *arg, vectron_error *err);

/* A response owned by the caller (free with rpc_result_free). */
typedef struct rpc_result {
    uint8_t *data;
    size_t len;
} rpc_result;

void rpc_result_free(rpc_result *r);

/* rpc_call_async, then waits for the end. On success out holds the
 * response; on failure err carries the code and the peer's message ("rpc
 * ADDR method M: ..."). Must not be called on the client's loop thread. */
int rpc_call(rpc_client *c, const char *addr, uint16_t method,
             const uint8_t *req, size_t len, unsigned deadline_ms,
             rpc_result *out, vectron_error *err);

/* One of several calls made at once by rpc_call_all. */
typedef struct rpc_multi {
    const char *addr; /* in */
    uint16_t method;
    const uint8_t *req;
    size_t len;
    int code;            /* out: VECTRON_OK or the error */
    rpc_result result;   /* out: response when code is OK */
    vectron_error error; /* out: when code is not OK */
} rpc_multi;

/* Sends the n calls at once (scatter) and waits for all of them
 * (gather), each with deadline_ms. Each entry's outcome is in its out
 * fields; the return is the number of failed calls. */
size_t rpc_call_all(rpc_client *c, rpc_multi *calls, size_t n,
                    unsigned deadline_ms);

#endif
