/*
 * rpc_int.h - the RPC module's internals shared by its files: the frame
 * codec (docs/formats/rpc.md) and the receive buffer that both the
 * server's and the client's connections read frames from.
 *
 * Threading: the codec is reentrant; a receive buffer belongs to one
 * connection and is used on its loop thread only.
 */
#ifndef VECTRON_RPC_INT_H
#define VECTRON_RPC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rpc/rpc.h"

#define RPC_PREAMBLE_SIZE 8u /* "VXRP" + u32 version */
#define RPC_VERSION 1u
#define RPC_HEADER_SIZE 24u

enum { RPC_KIND_REQUEST = 1, RPC_KIND_RESPONSE = 2 };

typedef struct rpc_header {
    uint32_t len;    /* payload bytes */
    uint8_t kind;    /* RPC_KIND_* */
    uint8_t flags;   /* 0 */
    uint16_t method; /* request's method; echoed in the response */
    uint32_t arg;    /* request: deadline in ms (0: none); response: code */
    uint64_t id;     /* chosen by the client, echoed */
} rpc_header;

/* Writes the preamble into p[0..RPC_PREAMBLE_SIZE). */
void rpc_preamble_encode(uint8_t *p);

/* Checks a received preamble. Errors: CORRUPT (not Vectron RPC),
 * UNSUPPORTED (another version). */
int rpc_preamble_check(const uint8_t *p, vectron_error *err);

/* Writes h's header followed by the checksum over it and payload into
 * out[0..RPC_HEADER_SIZE); h->len must be len. The payload itself goes
 * right after the header in the same buffer or a separate one. */
void rpc_header_encode(const rpc_header *h, const uint8_t *payload, size_t len,
                       uint8_t *out);

/* A frame in one buffer: header + payload (vx_malloc'd; free with
 * vx_free). NULL when out of memory. */
uint8_t *rpc_frame_new(const rpc_header *h, const uint8_t *payload, size_t len);

/* The receive buffer of a connection. */
typedef struct rpc_rbuf {
    uint8_t *buf;
    size_t start; /* first unread byte */
    size_t end;   /* one past the last received byte */
    size_t cap;
} rpc_rbuf;

/* Space for at least want more bytes at buf + end (grows, compacts).
 * Errors: NOMEM. */
int rpc_rbuf_reserve(rpc_rbuf *rb, size_t want, vectron_error *err);

void rpc_rbuf_free(rpc_rbuf *rb);

/* The next whole frame: sets *got to 1 with *h and *payload (pointing
 * into rb, valid until the next call on rb) and consumes it, or *got to 0
 * when more bytes are needed. Errors: CORRUPT (bad kind, flags or
 * checksum), LIMIT (payload above max_payload); after one the connection
 * must be closed. */
int rpc_rbuf_next(rpc_rbuf *rb, size_t max_payload, rpc_header *h,
                  const uint8_t **payload, int *got, vectron_error *err);

/* Takes n bytes (<= what is buffered) from the front: for the preamble. */
const uint8_t *rpc_rbuf_take(rpc_rbuf *rb, size_t n);

/* Blocks SIGPIPE in the calling thread (the module's own threads), so a
 * write to a connection the peer closed fails with EPIPE instead of
 * killing the process. */
void rpc_block_sigpipe(void);

static inline size_t rpc_rbuf_used(const rpc_rbuf *rb)
{
    return rb->end - rb->start;
}

#endif
