/*
 * fuzz_rpc_frame.c - libFuzzer harness for the RPC wire decoder
 * (src/rpc/rpc_frame.c): byte 0 picks the chunk size in which the rest
 * is fed to a receive buffer, as a socket would deliver it; the first 8
 * bytes after it go through the preamble check, the rest is cut into
 * frames until the decoder needs more bytes or reports an error. Every
 * frame handed out must lie inside the bytes received.
 *
 * Threading: single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "rpc/rpc_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rpc_rbuf rb = {0};
    size_t chunk;
    size_t fed = 0;
    size_t taken = 0;
    int preamble = 0;

    if (size < 1) {
        return 0;
    }
    chunk = (size_t)data[0] % 64 + 1;
    data++;
    size--;
    while (fed < size) {
        size_t n = size - fed < chunk ? size - fed : chunk;
        if (rpc_rbuf_reserve(&rb, n, NULL) != 0) {
            break;
        }
        memcpy(rb.buf + rb.end, data + fed, n);
        rb.end += n;
        fed += n;
        if (!preamble) {
            if (rpc_rbuf_used(&rb) < RPC_PREAMBLE_SIZE) {
                continue;
            }
            if (rpc_preamble_check(rpc_rbuf_take(&rb, RPC_PREAMBLE_SIZE),
                                   NULL) != 0) {
                break;
            }
            taken += RPC_PREAMBLE_SIZE;
            preamble = 1;
        }
        for (;;) {
            rpc_header h;
            const uint8_t *p = NULL;
            int got = 0;
            if (rpc_rbuf_next(&rb, 4096, &h, &p, &got, NULL) != 0) {
                goto out;
            }
            if (!got) {
                break;
            }
            if (h.len > 4096 || p < rb.buf || p + h.len > rb.buf + rb.cap) {
                abort();
            }
            taken += RPC_HEADER_SIZE + h.len;
            if (taken > fed) {
                abort();
            }
        }
    }
out:
    rpc_rbuf_free(&rb);
    return 0;
}
