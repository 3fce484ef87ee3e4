/*
 * test_session_token.c - the vectron-session token (gateway/session_token.h,
 * docs/formats/session-token.md): round trips over shard counts and index
 * sizes, the documented example, merge, and malformed input (prefix,
 * base64url, checksum, truncation, overlong varints, trailing bytes,
 * shard-count limits, buffer too small).
 * Threading: Criterion's one thread per test.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "gateway/session_token.h"

static void round_trip(uint64_t first, uint32_t n, uint64_t seed)
{
    gw_session s = {.first_group = first, .n = n};
    s.index = vx_calloc(n, sizeof *s.index);
    cr_assert(s.index);
    uint64_t x = seed;
    for (uint32_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        /* every width: 0, small, 35 bits, 64 bits */
        s.index[i] = i % 4 == 0   ? 0
                     : i % 4 == 1 ? x >> 57
                     : i % 4 == 2 ? x >> 29
                                  : x;
    }
    size_t cap = gw_session_text_max(n);
    char *text = vx_malloc(cap);
    cr_assert(text);
    cr_assert_eq(gw_session_format(&s, text, cap, NULL), 0);
    cr_assert(strncmp(text, "v1.", 3) == 0);
    for (const char *p = text + 3; *p; p++)
        cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-_",
                         *p),
                  "not base64url: %s", text);
    gw_session back;
    vectron_error err = {0};
    cr_assert_eq(gw_session_parse(text, strlen(text), &back, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(back.first_group, first);
    cr_assert_eq(back.n, n);
    cr_assert_eq(memcmp(back.index, s.index, n * sizeof *s.index), 0);
    gw_session_clear(&back);
    gw_session_clear(&s);
    vx_free(text);
}

Test(session_token, round_trips)
{
    round_trip(1, 1, 1);
    round_trip(5, 3, 2);
    round_trip(UINT64_MAX, 64, 3);
    round_trip(1234567, GW_SESSION_MAX_SHARDS, 4);
    round_trip(9, 1000, 5);
}

/* The example of docs/formats/session-token.md and the fuzz seeds. */
Test(session_token, documented_example)
{
    uint64_t idx[3] = {0, 200, 1000000};
    gw_session s = {.first_group = 100, .n = 3, .index = idx};
    char text[128];
    cr_assert_eq(gw_session_format(&s, text, sizeof text, NULL), 0);
    cr_assert_str_eq(text, "v1.ZAMAyAHAhD0SnCE1");
    uint64_t one[1] = {7};
    gw_session s1 = {.first_group = 5, .n = 1, .index = one};
    cr_assert_eq(gw_session_format(&s1, text, sizeof text, NULL), 0);
    cr_assert_str_eq(text, "v1.BQEHgmmTnA");
}

/* 64 shards at indexes below 2^35 fit the header size the docs promise. */
Test(session_token, sixty_four_shards_fit)
{
    uint64_t idx[64];
    for (int i = 0; i < 64; i++)
        idx[i] = (1ull << 35) - 1 - (uint64_t)i;
    gw_session s = {.first_group = UINT32_MAX, .n = 64, .index = idx};
    char text[1024];
    cr_assert_eq(gw_session_format(&s, text, sizeof text, NULL), 0);
    cr_assert_leq(strlen(text), 443u);
    char small[16];
    cr_assert_eq(gw_session_format(&s, small, sizeof small, NULL),
                 VECTRON_INVALID);
    cr_assert_str_eq(small, "");
}

Test(session_token, merge)
{
    uint64_t a_idx[3] = {1, 9, 0}, b_idx[3] = {4, 2, 7}, c_idx[2] = {1, 1};
    gw_session a = {.first_group = 10, .n = 3, .index = a_idx};
    gw_session b = {.first_group = 10, .n = 3, .index = b_idx};
    gw_session other = {.first_group = 11, .n = 3, .index = b_idx};
    gw_session fewer = {.first_group = 10, .n = 2, .index = c_idx};
    cr_assert_eq(gw_session_merge(&a, &b, NULL), 0);
    cr_assert_eq(a_idx[0], 4);
    cr_assert_eq(a_idx[1], 9);
    cr_assert_eq(a_idx[2], 7);
    cr_assert_eq(gw_session_merge(&a, &other, NULL), VECTRON_INVALID);
    cr_assert_eq(gw_session_merge(&a, &fewer, NULL), VECTRON_INVALID);
    cr_assert_eq(a_idx[0], 4);
}

static void bad(const char *text, size_t len, const char *why)
{
    gw_session s;
    vectron_error err = {0};
    cr_assert_eq(gw_session_parse(text, len, &s, &err), VECTRON_INVALID,
                 "accepted %s", why);
    cr_assert_null(s.index);
    cr_assert_eq(s.n, 0);
    cr_assert(strstr(err.msg, "session token"), "%s: %s", why, err.msg);
}

/* Builds "v1." + base64url(bin + crc32c(bin)) into out. */
static void forge(const uint8_t *bin, size_t n, char *out, size_t size)
{
    uint8_t buf[64];
    memcpy(buf, bin, n);
    uint32_t crc = vx_crc32c(0, bin, n);
    for (int i = 0; i < 4; i++)
        buf[n + (size_t)i] = (uint8_t)(crc >> (8 * i));
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t at = 0, len = n + 4;
    at += (size_t)snprintf(out, size, "v1.");
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)buf[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)buf[i + 1] << 8;
        if (i + 2 < len)
            v |= buf[i + 2];
        out[at++] = b64[(v >> 18) & 63];
        out[at++] = b64[(v >> 12) & 63];
        if (i + 1 < len)
            out[at++] = b64[(v >> 6) & 63];
        if (i + 2 < len)
            out[at++] = b64[v & 63];
    }
    out[at] = '\0';
}

Test(session_token, malformed)
{
    char good[128];
    uint64_t idx[3] = {0, 200, 1000000};
    gw_session s = {.first_group = 100, .n = 3, .index = idx};
    cr_assert_eq(gw_session_format(&s, good, sizeof good, NULL), 0);
    size_t gl = strlen(good);

    bad("", 0, "empty");
    bad("v2.ZAMAyAHAhD0SnCE1", 19, "version 2");
    bad("ZAMAyAHAhD0SnCE1", 16, "no prefix");
    bad("v1.", 3, "nothing after the prefix");
    bad("v1.ZAMA*AHAhD0SnCE1", 19, "a non-base64url byte");
    bad("v1.ZAMAyAHAhD0SnCE1==", 21, "padding");
    bad(good, gl - 1, "truncated text");
    char flip[128];
    memcpy(flip, good, gl + 1);
    flip[5] = flip[5] == 'A' ? 'B' : 'A';
    bad(flip, gl, "a changed byte (checksum)");
    char nul[128];
    memcpy(nul, good, gl + 1);
    nul[4] = '\0';
    bad(nul, gl, "an embedded NUL");

    char t[128];
    const uint8_t zero_shards[] = {1, 0};
    forge(zero_shards, sizeof zero_shards, t, sizeof t);
    bad(t, strlen(t), "zero shards");
    const uint8_t too_many[] = {1, 0x81, 0x08}; /* 1025 */
    forge(too_many, sizeof too_many, t, sizeof t);
    bad(t, strlen(t), "more shards than allowed");
    const uint8_t missing[] = {1, 3, 5, 6};
    forge(missing, sizeof missing, t, sizeof t);
    bad(t, strlen(t), "fewer indexes than shards");
    const uint8_t trailing[] = {1, 1, 5, 6};
    forge(trailing, sizeof trailing, t, sizeof t);
    bad(t, strlen(t), "trailing bytes");
    const uint8_t overlong[] = {1,    1,    0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    forge(overlong, sizeof overlong, t, sizeof t);
    bad(t, strlen(t), "a varint over 64 bits");
    const uint8_t unterminated[] = {1, 1, 0x80};
    forge(unterminated, sizeof unterminated, t, sizeof t);
    bad(t, strlen(t), "an unterminated varint");
    /* The largest 64-bit varint is fine. */
    const uint8_t max64[] = {1,    1,    0xff, 0xff, 0xff, 0xff,
                             0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    forge(max64, sizeof max64, t, sizeof t);
    gw_session ok;
    cr_assert_eq(gw_session_parse(t, strlen(t), &ok, NULL), 0);
    cr_assert_eq(ok.index[0], UINT64_MAX);
    gw_session_clear(&ok);

    char *huge = vx_malloc(GW_SESSION_MAX_TEXT + 2);
    memset(huge, 'A', GW_SESSION_MAX_TEXT + 1);
    memcpy(huge, "v1.", 3);
    huge[GW_SESSION_MAX_TEXT + 1] = '\0';
    bad(huge, GW_SESSION_MAX_TEXT + 1, "too long");
    vx_free(huge);
}
