/*
 * fuzz_index_load.c - libFuzzer harness for the index loader. The input is
 * treated as an index file; its trailing CRC32C is recomputed first so the
 * fuzzer reaches the parser instead of stopping at the checksum. Any
 * accepted input must yield an index that can be searched, added to and
 * saved-loaded without crashing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "vectron/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf;
    vectron_index *idx = NULL;
    vectron_error err;

    if (size < 4 || size > (1u << 20)) {
        return 0;
    }
    buf = malloc(size);
    if (!buf) {
        return 0;
    }
    memcpy(buf, data, size);
    /* Half the inputs keep their CRC as given: the checksum path too. */
    if (data[0] & 1) {
        vx_put_u32(buf + size - 4, vx_crc32c(0, buf, size - 4));
    }
    if (vectron_index_load_buffer(buf, size, &idx, &err) == 0) {
        uint32_t dim = vectron_index_dim(idx);
        float *q = calloc(dim, sizeof(float));
        vectron_search_params sp;
        vectron_hit hits[4];
        size_t n;
        if (q) {
            q[0] = 1.0f;
            vectron_search_params_default(&sp, 4);
            vectron_index_search(idx, q, &sp, hits, &n, NULL);
            vectron_index_add(idx, 12345, q, NULL);
            vectron_index_search(idx, q, &sp, hits, &n, NULL);
            free(q);
        }
        vectron_index_free(idx);
    }
    free(buf);
    return 0;
}
