/*
 * fuzz_session_token.c - libFuzzer harness for the session token parser
 * (gateway/session_token.h): the vectron-session request header, which
 * any client controls.
 *
 * Input: the header's value. A token that parses must format back to a
 * text that parses to the same contents (first group, shard count, every
 * index), and merge with itself unchanged.
 * Threading: libFuzzer's one thread.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "gateway/session_token.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_session s, back;
    if (gw_session_parse((const char *)data, size, &s, NULL) != 0) {
        CHECK(s.index == NULL && s.n == 0);
        return 0;
    }
    CHECK(s.n >= 1 && s.n <= GW_SESSION_MAX_SHARDS && s.index);
    size_t cap = gw_session_text_max(s.n);
    char *text = malloc(cap);
    CHECK(text);
    CHECK(gw_session_format(&s, text, cap, NULL) == 0);
    CHECK(strlen(text) < cap);
    CHECK(gw_session_parse(text, strlen(text), &back, NULL) == 0);
    CHECK(back.first_group == s.first_group && back.n == s.n);
    CHECK(memcmp(back.index, s.index, s.n * sizeof *s.index) == 0);
    CHECK(gw_session_merge(&back, &s, NULL) == 0);
    CHECK(memcmp(back.index, s.index, s.n * sizeof *s.index) == 0);
    free(text);
    gw_session_clear(&back);
    gw_session_clear(&s);
    return 0;
}
