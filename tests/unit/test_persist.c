/*
 * test_persist.c - save/load: a round trip gives the same answers (float
 * and int8, after deletes), and every kind of damage - truncation at any
 * length, a flipped bit anywhere, a forged header with a valid checksum -
 * is reported as an error with a message, never a crash.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "testutil.h"

static char path[256];

static void make_path(void)
{
    snprintf(path, sizeof path, "/tmp/vectron-test-%d.idx", (int)getpid());
}

static uint8_t *read_all(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    uint8_t *buf;
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(*len);
    cr_assert_eq(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

static void same_answers(const vectron_index *a, const vectron_index *b,
                         const tu_data *q)
{
    vectron_search_params sp;
    vectron_hit ha[10], hb[10];
    size_t na, nb;
    vectron_search_params_default(&sp, 10);
    for (size_t i = 0; i < q->n; i++) {
        cr_assert_eq(
            vectron_index_search(a, q->vecs + i * q->dim, &sp, ha, &na, NULL),
            0);
        cr_assert_eq(
            vectron_index_search(b, q->vecs + i * q->dim, &sp, hb, &nb, NULL),
            0);
        cr_assert_eq(na, nb);
        for (size_t j = 0; j < na; j++) {
            cr_assert_eq(ha[j].id, hb[j].id, "query %zu rank %zu", i, j);
            cr_assert_float_eq(ha[j].distance, hb[j].distance, 1e-6);
        }
    }
}

static void round_trip(vectron_quant quant, vectron_metric metric)
{
    tu_data d, q;
    vectron_index_params p;
    vectron_index *a, *b;
    vectron_error err;
    char msg[256];

    make_path();
    tu_clustered(&d, 3000, 20, 10, 1, 2);
    tu_clustered(&q, 50, 20, 10, 1, 3);
    vectron_index_params_default(&p, 20);
    p.quant = quant;
    p.metric = metric;
    p.m = 8;
    p.seed = 42;
    cr_assert_eq(vectron_index_new(&p, &a, NULL), 0);
    tu_add_rows(a, &d, 0, d.n);
    for (uint64_t i = 0; i < 3000; i += 7) {
        cr_assert_eq(vectron_index_remove(a, i, NULL), 0);
    }
    cr_assert_eq(vectron_index_save(a, path, &err), 0, "%s", err.msg);
    cr_assert_eq(vectron_index_load(path, &b, &err), 0, "%s", err.msg);
    cr_assert_eq(vectron_index_size(b), vectron_index_size(a));
    cr_assert_eq(tu_check_graph(b, msg, sizeof msg), 0, "%s", msg);
    same_answers(a, b, &q);
    /* The loaded index keeps working: adds, removes, saves again. */
    cr_assert_eq(vectron_index_add(b, 7, d.vecs + 7 * 20, NULL), 0);
    cr_assert_eq(vectron_index_remove(b, 8, NULL), 0);
    cr_assert_eq(vectron_index_save(b, path, &err), 0, "%s", err.msg);
    unlink(path);
    vectron_index_free(a);
    vectron_index_free(b);
    tu_free(&d);
    tu_free(&q);
}

Test(persist, round_trip_float)
{
    round_trip(VECTRON_QUANT_NONE, VECTRON_METRIC_L2);
}

Test(persist, round_trip_int8_cosine)
{
    round_trip(VECTRON_QUANT_INT8, VECTRON_METRIC_COSINE);
}

Test(persist, empty_index)
{
    vectron_index_params p;
    vectron_index *a, *b;
    make_path();
    vectron_index_params_default(&p, 5);
    cr_assert_eq(vectron_index_new(&p, &a, NULL), 0);
    cr_assert_eq(vectron_index_save(a, path, NULL), 0);
    cr_assert_eq(vectron_index_load(path, &b, NULL), 0);
    cr_assert_eq(vectron_index_size(b), 0);
    cr_assert_eq(vectron_index_dim(b), 5);
    unlink(path);
    vectron_index_free(a);
    vectron_index_free(b);
}

Test(persist, missing_file_and_bad_path)
{
    vectron_index *b = NULL;
    vectron_error err;
    cr_assert_eq(vectron_index_load("/nonexistent/x.idx", &b, &err),
                 VECTRON_NOT_FOUND);
    cr_assert(strstr(err.msg, "/nonexistent/x.idx") != NULL, "%s", err.msg);
    cr_assert_null(b);
}

static uint8_t *saved_small(size_t *len)
{
    tu_data d;
    vectron_index_params p;
    vectron_index *a;
    uint8_t *buf;
    make_path();
    tu_uniform(&d, 300, 6, 4);
    vectron_index_params_default(&p, 6);
    p.m = 4;
    p.ef_construction = 16;
    p.quant = VECTRON_QUANT_INT8;
    p.quant_train_size = 100;
    cr_assert_eq(vectron_index_new(&p, &a, NULL), 0);
    tu_add_rows(a, &d, 0, d.n);
    cr_assert_eq(vectron_index_save(a, path, NULL), 0);
    buf = read_all(path, len);
    unlink(path);
    vectron_index_free(a);
    tu_free(&d);
    return buf;
}

Test(corruption, every_truncation_is_an_error)
{
    size_t len;
    uint8_t *buf = saved_small(&len);
    for (size_t cut = 0; cut < len; cut++) {
        vectron_index *b = (vectron_index *)1;
        vectron_error err;
        int rc = vectron_index_load_buffer(buf, cut, &b, &err);
        cr_assert_eq(rc, VECTRON_CORRUPT, "cut %zu: rc %d", cut, rc);
        cr_assert_null(b);
        cr_assert_gt(strlen(err.msg), 10);
    }
    free(buf);
}

Test(corruption, every_flipped_bit_is_detected)
{
    size_t len;
    uint8_t *buf = saved_small(&len);
    /* All bytes, one rotating bit each: the checksum catches them all. */
    for (size_t i = 0; i < len; i++) {
        vectron_index *b;
        int rc;
        buf[i] ^= (uint8_t)(1u << (i % 8));
        rc = vectron_index_load_buffer(buf, len, &b, NULL);
        cr_assert_neq(rc, 0, "flip at %zu not detected", i);
        buf[i] ^= (uint8_t)(1u << (i % 8));
    }
    free(buf);
}

/* Rewrites the trailing checksum so that damage reaches the parser. */
static void fix_crc(uint8_t *buf, size_t len)
{
    vx_put_u32(buf + len - 4, vx_crc32c(0, buf, len - 4));
}

Test(corruption, forged_content_with_valid_checksum)
{
    size_t len;
    uint8_t *buf = saved_small(&len), *copy = malloc(len);
    uint64_t s = 5;
    int rejected = 0;

    /* Forged header fields. */
    uint32_t offsets[] = {12, 16, 20, 24, 28, 32, 36, 40, 44, 56, 60, 64, 68};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        uint32_t vals[] = {0, 1, 3, 0xffffffffu, 0x7fffffffu, 100000};
        for (size_t v = 0; v < 6; v++) {
            vectron_index *b = NULL;
            memcpy(copy, buf, len);
            vx_put_u32(copy + offsets[i], vals[v]);
            fix_crc(copy, len);
            if (vectron_index_load_buffer(copy, len, &b, NULL) != 0) {
                rejected++;
            } else {
                /* Accepted: it must then be a usable index. */
                char msg[256];
                cr_assert_eq(tu_check_graph(b, msg, sizeof msg), 0, "%s", msg);
                vectron_index_free(b);
            }
        }
    }
    /* Random byte damage in the body. */
    for (int round = 0; round < 3000; round++) {
        vectron_index *b = NULL;
        size_t at;
        memcpy(copy, buf, len);
        s = vx_mix64(s);
        at = 96 + (size_t)(s % (len - 100));
        copy[at] = (uint8_t)(s >> 40);
        fix_crc(copy, len);
        if (vectron_index_load_buffer(copy, len, &b, NULL) != 0) {
            rejected++;
        } else {
            char msg[256];
            cr_assert_eq(tu_check_graph(b, msg, sizeof msg), 0, "%s", msg);
            vectron_index_free(b);
        }
    }
    cr_assert_gt(rejected, 0);
    free(copy);
    free(buf);
}

Test(corruption, version_and_magic)
{
    size_t len;
    uint8_t *buf = saved_small(&len);
    vectron_index *b;
    vectron_error err;
    vx_put_u32(buf + 8, 2);
    cr_assert_eq(vectron_index_load_buffer(buf, len, &b, &err),
                 VECTRON_UNSUPPORTED);
    cr_assert(strstr(err.msg, "version 2") != NULL, "%s", err.msg);
    vx_put_u32(buf + 8, 1);
    buf[0] = 'X';
    cr_assert_eq(vectron_index_load_buffer(buf, len, &b, &err),
                 VECTRON_CORRUPT);
    cr_assert(strstr(err.msg, "magic") != NULL, "%s", err.msg);
    free(buf);
}
