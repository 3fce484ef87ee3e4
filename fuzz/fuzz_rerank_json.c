/*
 * fuzz_rerank_json.c - libFuzzer harness over the rerank service's JSON
 * contract (src/rerank/rerank_json.c). Byte 0 even: the input is a request
 * body; whatever parses is run through its strategy, the ranking encoded
 * as a response, and that response must parse back to the same ids and
 * scores. Byte 0 odd: the input is a response body for the gateway's
 * parser (at most 8 entries asked for). Any inconsistency aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "rerank/rerank_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20)) {
        return 0;
    }
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    rerank_fused *r = NULL, *back = NULL;
    size_t n = 0, nb = 0;

    if (data[0] & 1) {
        if (rerank_response_parse(body, len, 8, &r, &n, NULL) == 0) {
            CHECK(n <= 8);
            vx_free(r);
        }
        return 0;
    }
    rerank_parsed p;
    if (rerank_request_parse(body, len, 1e9, &p, NULL) != 0) {
        return 0;
    }
    CHECK(p.rq.limit >= 1);
    if (rerank_run(&p.rq, &r, &n, NULL) == 0) {
        char *text = NULL;
        size_t tl = 0;
        CHECK(n <= p.rq.limit);
        CHECK(rerank_response_encode(r, n, &text, &tl, NULL) == 0);
        CHECK(rerank_response_parse(text, tl, n, &back, &nb, NULL) == 0);
        CHECK(nb == n);
        for (size_t i = 0; i < n; i++) {
            CHECK(point_id_cmp(&back[i].id, &r[i].id) == 0);
        }
        vx_free(text);
        vx_free(back);
        vx_free(r);
    }
    rerank_parsed_close(&p);
    return 0;
}
