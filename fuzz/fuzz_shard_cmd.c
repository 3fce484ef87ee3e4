/*
 * fuzz_shard_cmd.c - libFuzzer harness for shard command decoding and
 * apply. One shard (dimension 4, in a temporary directory) lives for the
 * whole run; every input is applied at the next Raft index, its trailing
 * CRC32C recomputed for half the inputs so the fuzzer reaches the decoder.
 * Whatever the input, apply must return an error or succeed, and a search
 * afterwards must work.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "shard/shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static shard *sh;
static uint64_t next_index = 1;

static void open_once(void)
{
    char dir[512];
    shard_params p;
    const char *base = getenv("VECTRON_FUZZ_DIR");
    snprintf(dir, sizeof dir, "%s/vectron-fuzz-shard-%d", base ? base : "/tmp",
             (int)getpid());
    vectron_index_params_default(&p.index, 4);
    store_options_default(&p.store);
    p.store.map_size = (size_t)256 << 20;
    if (shard_open(dir, &p, &sh, NULL) != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf;
    float q[4] = {1, 0, 0, 0};
    vectron_search_params sp;
    shard_hit hits[3];
    size_t n;
    vectron_error err;

    if (!sh) {
        open_once();
    }
    if (size < 4 || size > (1u << 16)) {
        return 0;
    }
    buf = malloc(size);
    if (!buf) {
        return 0;
    }
    memcpy(buf, data, size);
    if (data[size - 1] & 1) {
        vx_put_u32(buf + size - 4, vx_crc32c(0, buf, size - 4));
    }
    (void)shard_apply(sh, next_index++, buf, size, NULL);
    free(buf);
    vectron_search_params_default(&sp, 3);
    if (shard_search(sh, q, &sp, hits, &n, &err) != 0) {
        fprintf(stderr, "search failed: %s\n", err.msg);
        abort();
    }
    return 0;
}
