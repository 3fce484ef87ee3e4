/*
 * test_common.c - unit tests of the common module: error table and
 * context wrapping, CRC32C known answers and hardware/software agreement,
 * allocation hooks.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/common.h"

uint32_t vx_crc32c_sw(uint32_t crc, const void *buf, size_t len);

Test(error, names_and_messages)
{
    cr_assert_str_eq(vectron_error_name(VECTRON_NOMEM), "NOMEM");
    cr_assert_str_eq(vectron_error_name(12345), "UNKNOWN");
    cr_assert_str_eq(vectron_error_default_message(VECTRON_OK), "success");
}

Test(error, wrap_adds_context)
{
    vectron_error err;
    vectron_error_clear(&err);
    cr_assert_eq(vx_err(&err, VECTRON_CORRUPT, "node %d", 12), VECTRON_CORRUPT);
    cr_assert_eq(vx_err_wrap(&err, VECTRON_IO, "load %s", "x.idx"),
                 VECTRON_CORRUPT);
    cr_assert_str_eq(err.msg, "load x.idx: node 12");
    cr_assert_eq(vx_err(NULL, VECTRON_INVALID, "ignored"), VECTRON_INVALID);
}

Test(crc32c, known_answers)
{
    /* RFC 3720 test vectors. */
    uint8_t zeros[32] = {0}, ones[32], inc[32];
    memset(ones, 0xff, sizeof ones);
    for (int i = 0; i < 32; i++) {
        inc[i] = (uint8_t)i;
    }
    cr_assert_eq(vx_crc32c(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(vx_crc32c(0, zeros, 32), 0x8A9136AAu);
    cr_assert_eq(vx_crc32c(0, ones, 32), 0x62A8AB43u);
    cr_assert_eq(vx_crc32c(0, inc, 32), 0x46DD794Eu);
}

Test(crc32c, incremental_and_paths_agree)
{
    uint8_t buf[1000];
    uint64_t s = 1;
    for (size_t i = 0; i < sizeof buf; i++) {
        s = vx_mix64(s);
        buf[i] = (uint8_t)s;
    }
    for (size_t len = 0; len <= sizeof buf; len += 37) {
        uint32_t whole = vx_crc32c(0, buf, len);
        cr_assert_eq(whole, vx_crc32c_sw(0, buf, len));
        size_t half = len / 3;
        uint32_t inc =
            vx_crc32c(vx_crc32c(0, buf, half), buf + half, len - half);
        cr_assert_eq(whole, inc, "len %zu", len);
    }
}

static int fail_after;
static void *t_malloc(size_t n, void *arg)
{
    (void)arg;
    return fail_after-- > 0 ? malloc(n) : NULL;
}
static void *t_realloc(void *p, size_t n, void *arg)
{
    (void)arg;
    return fail_after-- > 0 ? realloc(p, n) : NULL;
}
static void t_free(void *p, void *arg)
{
    (void)arg;
    free(p);
}

Test(alloc, hooks_fail_and_restore)
{
    vectron_alloc_hooks h = {t_malloc, t_realloc, t_free, NULL};
    fail_after = 1;
    vectron_alloc_set_hooks(&h);
    void *a = vx_malloc(10);
    cr_assert_not_null(a);
    cr_assert_null(vx_malloc(10));
    vx_free(a);
    vectron_alloc_set_hooks(NULL);
    a = vx_malloc(10);
    cr_assert_not_null(a);
    vx_free(a);
    cr_assert_null(vx_calloc(SIZE_MAX / 2, 4));
}

#include "common/point_id.h"

Test(point_id, uuid_round_trip_and_order)
{
    const char *s = "550e8400-E29B-41d4-a716-446655440000";
    point_id a, b, n1 = {0, 5, {0}}, n2 = {0, 300, {0}};
    uint8_t key[POINT_KEY_MAX], key2[POINT_KEY_MAX];
    char buf[40];

    cr_assert_eq(point_id_parse_uuid(s, strlen(s), &a, NULL), 0);
    cr_assert_eq(point_id_format(&a, buf), 36);
    cr_assert_str_eq(buf, "550e8400-e29b-41d4-a716-446655440000");
    cr_assert_eq(point_id_parse_uuid("550e8400e29b41d4a716446655440000", 32,
                                     &b, NULL),
                 0);
    cr_assert_eq(point_id_cmp(&a, &b), 0);
    cr_assert_eq(point_id_key(&a, key), 17);
    cr_assert_eq(point_id_from_key(key, 17, &b, NULL), 0);
    cr_assert_eq(point_id_cmp(&a, &b), 0);
    /* Numbers order before UUIDs and numerically, in key form too. */
    cr_assert_lt(point_id_cmp(&n1, &n2), 0);
    cr_assert_lt(point_id_cmp(&n2, &a), 0);
    point_id_key(&n1, key);
    point_id_key(&n2, key2);
    cr_assert_lt(memcmp(key, key2, 9), 0);
    cr_assert_eq(point_id_format(&n2, buf), 3);
    cr_assert_neq(point_id_parse_uuid("550e8400-e29b-41d4-a716-44665544000g",
                                      36, &b, NULL),
                  0);
    cr_assert_neq(point_id_parse_uuid("550e8400_e29b-41d4-a716-446655440000",
                                      36, &b, NULL),
                  0);
    cr_assert_neq(point_id_parse_uuid("12", 2, &b, NULL), 0);
    cr_assert_neq(point_id_from_key(key, 5, &b, NULL), 0);
}
