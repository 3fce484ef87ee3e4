/*
 * rpc_frame.c - the RPC wire format (docs/formats/rpc.md): the
 * connection preamble, the 24-byte frame header with its CRC32C, and the
 * receive buffer that cuts a byte stream into frames.
 *
 * Threading: the codec functions are reentrant; a receive buffer is used
 * by one thread at a time (its connection's loop thread).
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "common/common.h"
#include "rpc/rpc_int.h"

static const uint8_t magic[4] = {'V', 'X', 'R', 'P'};

void rpc_preamble_encode(uint8_t *p)
{
    memcpy(p, magic, 4);
    vx_put_u32(p + 4, RPC_VERSION);
}

int rpc_preamble_check(const uint8_t *p, vectron_error *err)
{
    if (memcmp(p, magic, 4) != 0) {
        return vx_err(err, VECTRON_CORRUPT,
                      "rpc: the peer does not speak Vectron RPC");
    }
    if (vx_get_u32(p + 4) != RPC_VERSION) {
        return vx_err(err, VECTRON_UNSUPPORTED,
                      "rpc: protocol version %u (this node speaks %u)",
                      vx_get_u32(p + 4), RPC_VERSION);
    }
    return 0;
}

void rpc_header_encode(const rpc_header *h, const uint8_t *payload, size_t len,
                       uint8_t *out)
{
    vx_put_u32(out, (uint32_t)len);
    out[4] = h->kind;
    out[5] = h->flags;
    out[6] = (uint8_t)h->method;
    out[7] = (uint8_t)(h->method >> 8);
    vx_put_u32(out + 8, h->arg);
    vx_put_u64(out + 12, h->id);
    uint32_t crc = vx_crc32c(0, out, 20);
    crc = vx_crc32c(crc, payload, len);
    vx_put_u32(out + 20, crc);
}

uint8_t *rpc_frame_new(const rpc_header *h, const uint8_t *payload, size_t len)
{
    uint8_t *f = vx_malloc(RPC_HEADER_SIZE + len);

    if (!f) {
        return NULL;
    }
    if (len) {
        memcpy(f + RPC_HEADER_SIZE, payload, len);
    }
    rpc_header_encode(h, f + RPC_HEADER_SIZE, len, f);
    return f;
}

int rpc_rbuf_reserve(rpc_rbuf *rb, size_t want, vectron_error *err)
{
    if (rb->cap - rb->end >= want) {
        return 0;
    }
    /* Compact first: the unread bytes move to the front. */
    if (rb->start > 0) {
        size_t used = rb->end - rb->start;
        memmove(rb->buf, rb->buf + rb->start, used);
        rb->start = 0;
        rb->end = used;
        if (rb->cap - rb->end >= want) {
            return 0;
        }
    }
    size_t cap = rb->cap ? rb->cap : 64u << 10;
    while (cap - rb->end < want) {
        cap *= 2;
    }
    uint8_t *nb = vx_realloc(rb->buf, cap);
    if (!nb) {
        return vx_err(err, VECTRON_NOMEM, "rpc: receive buffer of %zu bytes",
                      cap);
    }
    rb->buf = nb;
    rb->cap = cap;
    return 0;
}

void rpc_rbuf_free(rpc_rbuf *rb)
{
    vx_free(rb->buf);
    memset(rb, 0, sizeof *rb);
}

const uint8_t *rpc_rbuf_take(rpc_rbuf *rb, size_t n)
{
    const uint8_t *p = rb->buf + rb->start;
    rb->start += n;
    return p;
}

int rpc_rbuf_next(rpc_rbuf *rb, size_t max_payload, rpc_header *h,
                  const uint8_t **payload, int *got, vectron_error *err)
{
    size_t used = rb->end - rb->start;
    const uint8_t *p = rb->buf + rb->start;

    *got = 0;
    if (used < RPC_HEADER_SIZE) {
        return 0;
    }
    h->len = vx_get_u32(p);
    h->kind = p[4];
    h->flags = p[5];
    h->method = (uint16_t)(p[6] | (p[7] << 8));
    h->arg = vx_get_u32(p + 8);
    h->id = vx_get_u64(p + 12);
    if (h->kind != RPC_KIND_REQUEST && h->kind != RPC_KIND_RESPONSE) {
        return vx_err(err, VECTRON_CORRUPT, "rpc: frame kind %u", h->kind);
    }
    if (h->flags != 0) {
        return vx_err(err, VECTRON_CORRUPT, "rpc: frame flags 0x%x", h->flags);
    }
    if (h->len > max_payload) {
        return vx_err(err, VECTRON_LIMIT,
                      "rpc: frame of %u bytes (the limit is %zu)", h->len,
                      max_payload);
    }
    if (used - RPC_HEADER_SIZE < h->len) {
        return 0;
    }
    uint32_t crc = vx_crc32c(0, p, 20);
    crc = vx_crc32c(crc, p + RPC_HEADER_SIZE, h->len);
    if (crc != vx_get_u32(p + 20)) {
        return vx_err(err, VECTRON_CORRUPT,
                      "rpc: checksum mismatch in frame %llu",
                      (unsigned long long)h->id);
    }
    *payload = p + RPC_HEADER_SIZE;
    rb->start += RPC_HEADER_SIZE + h->len;
    if (rb->start == rb->end) {
        rb->start = rb->end = 0; /* the payload stays readable: no write
                                    happens before the next call */
    }
    *got = 1;
    return 0;
}

void rpc_block_sigpipe(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}
