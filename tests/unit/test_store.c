/*
 * test_store.c - unit tests of the point store: round trips for numeric
 * and UUID ids, internal ids (kept on update, never reused), deletes,
 * payload set / merge / key deletion, payload indexes kept up to date
 * across every kind of write and queried by equality and range, the
 * applied index committing atomically with the data, scan order and
 * paging, reopening, checksum damage (made through a raw LMDB handle),
 * a full map, consistent copies, read handles and writer exclusion.
 *
 * Each test runs in its own process (Criterion) with its own directory
 * under /tmp.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <lmdb.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "store/store.h"

static char dir[64];
static char dir2[80];

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/vectron-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(dir2, sizeof dir2, "%s-copy", dir);
}

static void teardown(void)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    nftw(dir2, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 120);

/* ------------------------------------------------------------ helpers */

static store *open_at(const char *d, size_t map_size)
{
    store_options opt;
    vectron_error err;
    store *st = NULL;
    int rc;

    store_options_default(&opt);
    if (map_size) {
        opt.map_size = map_size;
    }
    rc = store_open(d, &opt, &st, &err);
    cr_assert_eq(rc, 0, "open %s: %s", d, err.msg);
    return st;
}

static point_id num(uint64_t n)
{
    point_id id;
    memset(&id, 0, sizeof id);
    id.num = n;
    return id;
}

static point_id uuid(const char *s)
{
    point_id id;
    cr_assert_eq(point_id_parse_uuid(s, strlen(s), &id, NULL), 0);
    return id;
}

static void fill(float *v, uint32_t dim, uint64_t seed)
{
    for (uint32_t i = 0; i < dim; i++) {
        seed = vx_mix64(seed);
        v[i] = (float)(seed % 2000) / 1000.0f - 1.0f;
    }
}

static store_txn *begin(store *st)
{
    store_txn *txn = NULL;
    vectron_error err;
    cr_assert_eq(store_txn_begin(st, &txn, &err), 0, "%s", err.msg);
    return txn;
}

static void commit(store_txn *txn)
{
    vectron_error err;
    cr_assert_eq(store_txn_commit(txn, &err), 0, "%s", err.msg);
}

/* Upserts one point (vector from seed, dim 4) in its own transaction and
 * returns its internal id. */
static uint64_t put1(store *st, point_id id, uint64_t seed, const char *payload)
{
    store_txn *txn = begin(st);
    vectron_error err;
    float v[4];
    uint64_t iid = 0;
    int rc;

    fill(v, 4, seed);
    rc = store_upsert(txn, &id, v, 4, payload, payload ? strlen(payload) : 0,
                      &iid, &err);
    cr_assert_eq(rc, 0, "upsert: %s", err.msg);
    commit(txn);
    return iid;
}

static void set_payload1(store *st, point_id id, const char *json, int merge)
{
    store_txn *txn = begin(st);
    vectron_error err;
    int rc = store_set_payload(txn, &id, json, strlen(json), merge, &err);
    cr_assert_eq(rc, 0, "set payload: %s", err.msg);
    commit(txn);
}

static void del1(store *st, point_id id)
{
    store_txn *txn = begin(st);
    vectron_error err;
    cr_assert_eq(store_delete(txn, &id, NULL, &err), 0, "%s", err.msg);
    commit(txn);
}

static void index1(store *st, const char *field, store_index_type type)
{
    store_txn *txn = begin(st);
    vectron_error err;
    cr_assert_eq(store_index_create(txn, field, type, &err), 0, "%s", err.msg);
    commit(txn);
}

static char *payload_of(store *st, point_id id)
{
    store_point p;
    vectron_error err;
    char *s;
    cr_assert_eq(store_get(st, NULL, &id, &p, &err), 0, "%s", err.msg);
    s = strdup(p.payload);
    store_point_clear(&p);
    return s;
}

static void expect_payload(store *st, point_id id, const char *want)
{
    char *got = payload_of(st, id);
    cr_assert_str_eq(got, want);
    free(got);
}

/* Compares an id list with the expected one (ascending). */
static void expect_ids(uint64_t *ids, size_t n, const uint64_t *want,
                       size_t n_want, const char *what)
{
    cr_assert_eq(n, n_want, "%s: %zu ids, expected %zu", what, n, n_want);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ids[i], want[i], "%s: id %zu is %llu, expected %llu", what,
                     i, (unsigned long long)ids[i],
                     (unsigned long long)want[i]);
    }
    vx_free(ids);
}

static store_value v_int(int64_t i)
{
    store_value v = {.type = STORE_INTEGER, .i = i};
    return v;
}

static store_value v_float(double f)
{
    store_value v = {.type = STORE_FLOAT, .f = f};
    return v;
}

static store_value v_kw(const char *s)
{
    store_value v = {.type = STORE_KEYWORD, .s = s, .s_len = strlen(s)};
    return v;
}

static store_value v_bool(int b)
{
    store_value v = {.type = STORE_BOOL, .b = b};
    return v;
}

#define EQ(st, field, val, ...)                                                \
    do {                                                                       \
        const uint64_t want_[] = {__VA_ARGS__};                                \
        store_value v_ = (val);                                                \
        uint64_t *ids_;                                                        \
        size_t n_;                                                             \
        vectron_error e_;                                                      \
        int rc_ = store_index_eq(st, NULL, field, &v_, &ids_, &n_, &e_);       \
        cr_assert_eq(rc_, 0, "eq %s: %s", field, e_.msg);                      \
        expect_ids(ids_, n_, want_ + 1, sizeof want_ / sizeof *want_ - 1,      \
                   "eq " field " line " #val);                                 \
    } while (0)

#define RANGE(st, field, lo, lo_incl, hi, hi_incl, ...)                        \
    do {                                                                       \
        const uint64_t want_[] = {__VA_ARGS__};                                \
        uint64_t *ids_;                                                        \
        size_t n_;                                                             \
        vectron_error e_;                                                      \
        int rc_ = store_index_range(st, NULL, field, lo, lo_incl, hi, hi_incl, \
                                    &ids_, &n_, &e_);                          \
        cr_assert_eq(rc_, 0, "range %s: %s", field, e_.msg);                   \
        expect_ids(ids_, n_, want_ + 1, sizeof want_ / sizeof *want_ - 1,      \
                   "range " field " " #lo " " #hi);                            \
    } while (0)

/* The expected-id lists above start with a dummy 0 so that they may be
 * empty. */

/* --------------------------------------------------------- round trips */

Test(store, round_trip_numeric_and_uuid)
{
    store *st = open_at(dir, 0);
    point_id a = num(42), b = uuid("6f1e2c3a-9b8d-4e7f-a1b2-c3d4e5f60718");
    const char *pa = " {\"x\": 1,  \"s\": \"t\"} ";
    float va[16], vb[16];
    uint64_t ia, ib, n;
    store_txn *txn = begin(st);
    vectron_error err;
    store_point p;
    point_id back;

    fill(va, 16, 1);
    fill(vb, 16, 2);
    cr_assert_eq(store_upsert(txn, &a, va, 16, pa, strlen(pa), &ia, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(store_upsert(txn, &b, vb, 16, NULL, 0, &ib, &err), 0);
    commit(txn);
    cr_assert_eq(ia, 1);
    cr_assert_eq(ib, 2);

    cr_assert_eq(store_get(st, NULL, &a, &p, &err), 0, "%s", err.msg);
    cr_assert_eq(p.dim, 16);
    cr_assert_eq(p.internal_id, 1);
    cr_assert_eq(memcmp(p.vector, va, sizeof va), 0);
    cr_assert_str_eq(p.payload, pa, "payload is stored as given");
    cr_assert_eq(p.payload_len, strlen(pa));
    cr_assert_eq(point_id_cmp(&p.id, &a), 0);
    store_point_clear(&p);

    cr_assert_eq(store_get(st, NULL, &b, &p, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(p.vector, vb, sizeof vb), 0);
    cr_assert_eq(p.payload_len, 0);
    cr_assert_str_eq(p.payload, "");
    store_point_clear(&p);

    cr_assert_eq(store_get_by_internal(st, NULL, 1, &back, &err), 0);
    cr_assert_eq(point_id_cmp(&back, &a), 0);
    cr_assert_eq(store_get_by_internal(st, NULL, 2, &back, &err), 0);
    cr_assert_eq(point_id_cmp(&back, &b), 0);
    cr_assert_eq(store_get_by_internal(st, NULL, 3, &back, &err),
                 VECTRON_NOT_FOUND);
    cr_assert_eq(store_count(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(store_next_internal_id(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 3);
    point_id missing = num(43);
    cr_assert_eq(store_get(st, NULL, &missing, &p, &err), VECTRON_NOT_FOUND);
    cr_assert_not_null(strstr(err.msg, "43"), "%s", err.msg);
    store_close(st);
}

Test(store, update_keeps_internal_id_and_ids_are_never_reused)
{
    store *st = open_at(dir, 0);
    point_id id = num(7);
    uint64_t i1, i2, i3, n;
    vectron_error err;
    store_point p;
    float v[4];
    point_id back;

    i1 = put1(st, id, 1, "{\"v\":1}");
    i2 = put1(st, id, 2, "{\"v\":2}");
    cr_assert_eq(i1, i2);
    cr_assert_eq(store_get(st, NULL, &id, &p, &err), 0);
    fill(v, 4, 2);
    cr_assert_eq(memcmp(p.vector, v, sizeof v), 0);
    cr_assert_str_eq(p.payload, "{\"v\":2}");
    store_point_clear(&p);
    cr_assert_eq(store_count(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 1);

    del1(st, id);
    i3 = put1(st, id, 3, NULL);
    cr_assert_gt(i3, i1, "a deleted point's internal id is not reused");
    cr_assert_eq(store_get_by_internal(st, NULL, i1, &back, &err),
                 VECTRON_NOT_FOUND);
    cr_assert_eq(store_get_by_internal(st, NULL, i3, &back, &err), 0);
    store_close(st);
}

Test(store, delete_and_missing_delete_is_harmless)
{
    store *st = open_at(dir, 0);
    point_id a = num(1), b = num(2), c = num(3);
    uint64_t iid = 0, n;
    vectron_error err;
    store_point p;
    store_txn *txn;

    put1(st, a, 1, NULL);
    put1(st, b, 2, NULL);
    txn = begin(st);
    cr_assert_eq(store_delete(txn, &a, &iid, &err), 0, "%s", err.msg);
    cr_assert_eq(iid, 1);
    cr_assert_eq(store_delete(txn, &a, &iid, &err), VECTRON_NOT_FOUND);
    cr_assert_eq(store_delete(txn, &c, NULL, &err), VECTRON_NOT_FOUND);
    cr_assert_eq(store_set_applied(txn, 9, &err), 0, "%s", err.msg);
    commit(txn);
    cr_assert_eq(store_get(st, NULL, &a, &p, &err), VECTRON_NOT_FOUND);
    cr_assert_eq(store_get(st, NULL, &b, &p, &err), 0);
    store_point_clear(&p);
    cr_assert_eq(store_count(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(store_applied_index(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 9, "the transaction went on after NOT_FOUND");
    store_close(st);
}

Test(store, bad_input_leaves_txn_usable)
{
    store_options opt;
    store *st = NULL;
    vectron_error err;
    point_id a = num(1);
    float v[4] = {1, 2, 3, 4}, bad[4] = {1, NAN, 3, 4};
    store_txn *txn, *again;
    uint64_t n;

    store_options_default(&opt);
    opt.dim = 4;
    cr_assert_eq(store_open(dir, &opt, &st, &err), 0, "%s", err.msg);
    txn = begin(st);
    cr_assert_eq(store_upsert(txn, &a, v, 3, NULL, 0, NULL, &err),
                 VECTRON_DIMENSION);
    cr_assert_eq(store_upsert(txn, &a, bad, 4, NULL, 0, NULL, &err),
                 VECTRON_INVALID);
    cr_assert_eq(store_upsert(txn, &a, v, 4, "[1]", 3, NULL, &err),
                 VECTRON_INVALID);
    cr_assert_eq(store_upsert(txn, &a, v, 4, "{\"a\":", 5, NULL, &err),
                 VECTRON_INVALID);
    cr_assert_not_null(strstr(err.msg, "point 1"), "%s", err.msg);
    cr_assert_eq(store_set_payload(txn, &a, "{}", 2, 1, &err),
                 VECTRON_NOT_FOUND);
    cr_assert_eq(store_upsert(txn, &a, v, 4, "{}", 2, NULL, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(store_txn_begin(st, &again, &err), VECTRON_INVALID,
                 "a second begin on the same thread must not deadlock");
    commit(txn);
    cr_assert_eq(store_count(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 1);
    store_close(st);
}

/* ------------------------------------------------------------ payloads */

Test(store, payload_merge_replace_and_delete_keys)
{
    store *st = open_at(dir, 0);
    point_id id = num(5);
    const char *keys[] = {"b.c", "e", "missing", "l.k"};
    vectron_error err;
    store_txn *txn;

    put1(st, id, 1,
         "{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"f\":0.1,\"l\":[{\"k\":1,\"m\":2},"
         "{\"k\":3}]}");
    set_payload1(st, id, "{\"a\":5,\"e\":\"x\\\"y\",\"g\":-2.5e-7}", 1);
    expect_payload(st, id,
                   "{\"a\":5,\"b\":{\"c\":2,\"d\":3},\"f\":0.1,\"l\":[{\"k\":"
                   "1,\"m\":2},{\"k\":3}],\"e\":\"x\\\"y\",\"g\":-2.5e-07}");

    txn = begin(st);
    cr_assert_eq(store_delete_payload_keys(txn, &id, keys, 4, &err), 0, "%s",
                 err.msg);
    commit(txn);
    expect_payload(st, id,
                   "{\"a\":5,\"b\":{\"d\":3},\"f\":0.1,\"l\":[{\"m\":2},{}],"
                   "\"g\":-2.5e-07}");

    set_payload1(st, id, " {\"z\" : true} ", 0);
    expect_payload(st, id, " {\"z\" : true} ");

    /* Merging into an empty payload, and reals that stay reals. */
    txn = begin(st);
    cr_assert_eq(store_set_payload(txn, &id, NULL, 0, 0, &err), 0, "%s",
                 err.msg);
    commit(txn);
    expect_payload(st, id, "");
    set_payload1(st, id, "{\"r\":2.0,\"big\":1e300,\"u\":\"\\u00e9\\n\"}", 1);
    expect_payload(st, id, "{\"r\":2.0,\"big\":1e+300,\"u\":\"\xc3\xa9\\n\"}");

    txn = begin(st);
    cr_assert_eq(store_set_payload(txn, &id, "[]", 2, 1, &err),
                 VECTRON_INVALID);
    cr_assert_eq(store_set_payload(txn, &id, "{\"a\":1", 6, 0, &err),
                 VECTRON_INVALID);
    commit(txn);
    store_close(st);
}

/* ------------------------------------------------------ payload indexes */

Test(store, index_maintained_across_writes)
{
    store *st = open_at(dir, 0);
    vectron_error err;
    store_txn *txn;
    store_value lo, hi;
    const char *dk[] = {"n"};

    index1(st, "n", STORE_INTEGER);
    index1(st, "price", STORE_FLOAT);
    index1(st, "tag", STORE_KEYWORD);
    index1(st, "ok", STORE_BOOL);
    index1(st, "meta.color", STORE_KEYWORD);
    index1(st, "nums", STORE_INTEGER);

    /* Internal ids 1..5. */
    put1(st, num(10), 1,
         "{\"n\":-5,\"price\":-1.5,\"tag\":\"red\",\"ok\":true,"
         "\"meta\":{\"color\":\"blue\"},\"nums\":[3,-7,3]}");
    put1(st, num(11), 2,
         "{\"n\":0,\"price\":0.0,\"tag\":[\"red\",\"green\"],\"ok\":false,"
         "\"meta\":[{\"color\":\"red\"},{\"color\":\"blue\"}]}");
    put1(st, num(12), 3,
         "{\"n\":9223372036854775807,\"price\":2.25,\"tag\":\"blue\","
         "\"ok\":1,\"nums\":-7}");
    put1(st, num(13), 4,
         "{\"n\":-9223372036854775808,\"price\":-0.0,\"tag\":5,"
         "\"meta\":{\"color\":[\"green\",\"red\"]}}");
    put1(st, num(14), 5, "{\"n\":7,\"price\":1e10,\"nums\":[]}");

    EQ(st, "n", v_int(-5), 0, 1);
    EQ(st, "n", v_int(0), 0, 2);
    EQ(st, "n", v_int(1), 0);
    EQ(st, "price", v_float(0.0), 0, 2, 4);
    EQ(st, "price", v_float(-0.0), 0, 2, 4);
    EQ(st, "tag", v_kw("red"), 0, 1, 2);
    EQ(st, "tag", v_kw("re"), 0);
    EQ(st, "ok", v_bool(1), 0, 1);
    EQ(st, "ok", v_bool(0), 0, 2);
    EQ(st, "meta.color", v_kw("red"), 0, 2, 4);
    EQ(st, "meta.color", v_kw("blue"), 0, 1, 2);
    EQ(st, "nums", v_int(3), 0, 1);
    EQ(st, "nums", v_int(-7), 0, 1, 3);

    lo = v_int(-5);
    hi = v_int(7);
    RANGE(st, "n", &lo, 1, &hi, 1, 0, 1, 2, 5);
    RANGE(st, "n", &lo, 0, &hi, 0, 0, 2);
    RANGE(st, "n", NULL, 0, &lo, 1, 0, 1, 4);
    RANGE(st, "n", &hi, 0, NULL, 0, 0, 3);
    RANGE(st, "n", NULL, 0, NULL, 0, 0, 1, 2, 3, 4, 5);
    lo = v_float(-1.5);
    hi = v_float(2.25);
    RANGE(st, "price", &lo, 1, &hi, 0, 0, 1, 2, 4);
    RANGE(st, "price", &lo, 0, &hi, 1, 0, 2, 3, 4);
    RANGE(st, "price", &hi, 0, NULL, 0, 0, 5);
    lo = v_int(-10);
    hi = v_int(0);
    RANGE(st, "nums", &lo, 1, &hi, 1, 0, 1, 3);
    lo = v_kw("green");
    hi = v_kw("red");
    RANGE(st, "tag", &lo, 1, &hi, 0, 0, 2);
    RANGE(st, "meta.color", &lo, 1, &hi, 1, 0, 2, 4);
    lo = v_bool(0);
    hi = v_bool(1);
    RANGE(st, "ok", &lo, 1, &hi, 1, 0, 1, 2);

    /* Update by upsert: old entries go, new ones come. */
    put1(st, num(10), 6, "{\"n\":100,\"tag\":\"black\"}");
    EQ(st, "n", v_int(-5), 0);
    EQ(st, "n", v_int(100), 0, 1);
    EQ(st, "tag", v_kw("red"), 0, 2);
    EQ(st, "nums", v_int(-7), 0, 3);
    EQ(st, "meta.color", v_kw("blue"), 0, 2);

    /* Merge, replace and key deletion. */
    set_payload1(st, num(11), "{\"n\":100,\"tag\":\"white\"}", 1);
    EQ(st, "n", v_int(100), 0, 1, 2);
    EQ(st, "tag", v_kw("red"), 0);
    EQ(st, "ok", v_bool(0), 0, 2);
    EQ(st, "meta.color", v_kw("blue"), 0, 2);
    set_payload1(st, num(11), "{\"ok\":true}", 0);
    EQ(st, "n", v_int(100), 0, 1);
    EQ(st, "ok", v_bool(0), 0);
    EQ(st, "ok", v_bool(1), 0, 2);
    EQ(st, "meta.color", v_kw("blue"), 0);
    txn = begin(st);
    point_id p10 = num(10);
    cr_assert_eq(store_delete_payload_keys(txn, &p10, dk, 1, &err), 0);
    commit(txn);
    EQ(st, "n", v_int(100), 0);
    EQ(st, "tag", v_kw("black"), 0, 1);

    /* Delete. */
    del1(st, num(12));
    EQ(st, "price", v_float(2.25), 0);
    EQ(st, "nums", v_int(-7), 0);
    lo = v_int(INT64_MIN);
    RANGE(st, "n", &lo, 1, NULL, 0, 0, 4, 5);
    store_close(st);
}

Test(store, index_backfill_drop_list_and_conversions)
{
    store *st = open_at(dir, 0);
    vectron_error err;
    store_txn *txn;
    store_index_def *defs;
    size_t n;
    store_value lo, hi, v;
    uint64_t *ids;

    put1(st, num(1), 1, "{\"n\":1,\"f\":1}");
    put1(st, num(2), 2, "{\"n\":2,\"f\":2.5}");
    put1(st, num(3), 3, "{\"n\":3,\"f\":\"x\"}");
    index1(st, "n", STORE_INTEGER);
    index1(st, "f", STORE_FLOAT);
    index1(st, "n", STORE_INTEGER); /* again: nothing happens */

    txn = begin(st);
    cr_assert_eq(store_index_create(txn, "n", STORE_FLOAT, &err),
                 VECTRON_EXISTS);
    cr_assert_eq(store_index_create(txn, "a..b", STORE_FLOAT, &err),
                 VECTRON_INVALID);
    cr_assert_eq(store_index_create(txn, "", STORE_FLOAT, &err),
                 VECTRON_INVALID);
    cr_assert_eq(store_index_create(txn, "x", (store_index_type)9, &err),
                 VECTRON_INVALID);
    commit(txn);

    EQ(st, "n", v_int(2), 0, 2);
    EQ(st, "f", v_int(1), 0, 1);
    EQ(st, "f", v_float(2.5), 0, 2);
    /* Float bounds on an integer index round toward the inside. */
    lo = v_float(1.5);
    hi = v_float(3.0);
    RANGE(st, "n", &lo, 0, &hi, 0, 0, 2);
    RANGE(st, "n", &lo, 1, &hi, 1, 0, 2, 3);
    lo = v_float(1.0);
    RANGE(st, "n", &lo, 0, NULL, 0, 0, 2, 3);
    lo = v_float(-1e300);
    hi = v_float(1e300);
    RANGE(st, "n", &lo, 1, &hi, 1, 0, 1, 2, 3);
    RANGE(st, "n", &hi, 1, NULL, 0, 0);
    EQ(st, "n", v_float(2.0), 0, 2);
    EQ(st, "n", v_float(2.5), 0);

    v = v_kw("2");
    cr_assert_eq(store_index_eq(st, NULL, "n", &v, &ids, &n, &err),
                 VECTRON_INVALID);
    v = v_float(NAN);
    cr_assert_eq(store_index_eq(st, NULL, "f", &v, &ids, &n, &err),
                 VECTRON_INVALID);
    v = v_int(1);
    cr_assert_eq(store_index_eq(st, NULL, "zz", &v, &ids, &n, &err),
                 VECTRON_NOT_FOUND);

    cr_assert_eq(store_index_list(st, NULL, &defs, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(defs[0].field, "f");
    cr_assert_eq(defs[0].type, STORE_FLOAT);
    cr_assert_str_eq(defs[1].field, "n");
    cr_assert_eq(defs[1].type, STORE_INTEGER);
    store_index_defs_free(defs, n);

    txn = begin(st);
    cr_assert_eq(store_index_drop(txn, "n", &err), 0, "%s", err.msg);
    cr_assert_eq(store_index_drop(txn, "n", &err), VECTRON_NOT_FOUND);
    commit(txn);
    v = v_int(2);
    cr_assert_eq(store_index_eq(st, NULL, "n", &v, &ids, &n, &err),
                 VECTRON_NOT_FOUND);
    /* The dropped entries are gone: a new index starts from the data. */
    put1(st, num(2), 2, "{\"n\":20}");
    index1(st, "n", STORE_INTEGER);
    EQ(st, "n", v_int(2), 0);
    EQ(st, "n", v_int(20), 0, 2);

    /* An aborted create leaves no index behind. */
    txn = begin(st);
    cr_assert_eq(store_index_create(txn, "g", STORE_FLOAT, &err), 0);
    store_txn_abort(txn);
    cr_assert_eq(store_index_list(st, NULL, &defs, &n, &err), 0);
    cr_assert_eq(n, 2);
    store_index_defs_free(defs, n);
    put1(st, num(9), 9, "{\"g\":1.0}");
    v = v_float(1.0);
    cr_assert_eq(store_index_eq(st, NULL, "g", &v, &ids, &n, &err),
                 VECTRON_NOT_FOUND);
    store_close(st);
}

Test(store, keyword_prefixes_nul_bytes_and_long_values)
{
    store *st = open_at(dir, 0);
    char big1[1024], big2[1024];
    char payload[1200];
    store_value v, lo;

    index1(st, "k", STORE_KEYWORD);
    put1(st, num(1), 1, "{\"k\":\"a\"}");
    put1(st, num(2), 2, "{\"k\":\"ab\"}");
    put1(st, num(3), 3, "{\"k\":\"a\\u0001b\"}");
    put1(st, num(4), 4, "{\"k\":\"\"}");

    memset(big1, 'q', 600);
    big1[600] = '\0';
    memcpy(big2, big1, 601);
    big2[599] = 'r';
    snprintf(payload, sizeof payload, "{\"k\":\"%s\"}", big1);
    put1(st, num(5), 5, payload);
    snprintf(payload, sizeof payload, "{\"k\":\"%s\"}", big2);
    put1(st, num(6), 6, payload);

    EQ(st, "k", v_kw("a"), 0, 1);
    EQ(st, "k", v_kw("ab"), 0, 2);
    EQ(st, "k", v_kw(""), 0, 4);
    v.type = STORE_KEYWORD;
    v.s = "a\001b";
    v.s_len = 3;
    EQ(st, "k", v, 0, 3);
    /* "\u0000" is refused in payloads (it would collide with the
     * big-number markers of common/json.h). */
    {
        store_txn *txn = begin(st);
        vectron_error err;
        point_id id = num(7);
        float vec[4] = {1, 2, 3, 4};
        const char *bad = "{\"k\":\"a\\u0000b\"}";
        cr_assert_eq(store_upsert(txn, &id, vec, 4, bad, strlen(bad), NULL,
                                  &err),
                     VECTRON_INVALID);
        store_txn_abort(txn);
    }
    EQ(st, "k", v_kw(big1), 0, 5);
    EQ(st, "k", v_kw(big2), 0, 6);
    big1[300] = '\0';
    EQ(st, "k", v_kw(big1), 0);
    lo = v_kw("a");
    RANGE(st, "k", &lo, 1, NULL, 0, 0, 1, 2, 3, 5, 6);
    RANGE(st, "k", &lo, 0, NULL, 0, 0, 2, 3, 5, 6);
    v = v_kw("b");
    RANGE(st, "k", NULL, 0, &v, 0, 0, 1, 2, 3, 4);
    store_close(st);
}

/* --------------------------------------------------- atomicity, applied */

Test(store, applied_index_commits_atomically_with_data)
{
    store *st = open_at(dir, 0);
    point_id a = num(1);
    float v[4] = {1, 2, 3, 4};
    vectron_error err;
    store_txn *txn;
    store_point p;
    uint64_t n, *ids;
    size_t nids;
    store_value val = v_int(1);
    store_read *in;

    index1(st, "n", STORE_INTEGER);
    txn = begin(st);
    cr_assert_eq(store_upsert(txn, &a, v, 4, "{\"n\":1}", 7, NULL, &err), 0);
    cr_assert_eq(store_set_applied(txn, 5, &err), 0);
    cr_assert_eq(store_set_config(txn, "cfg", 3, &err), 0);
    /* The transaction's own view sees its writes. */
    in = store_txn_read(txn);
    cr_assert_eq(store_get(st, in, &a, &p, &err), 0, "%s", err.msg);
    store_point_clear(&p);
    cr_assert_eq(store_applied_index(st, in, &n, &err), 0);
    cr_assert_eq(n, 5);
    cr_assert_eq(store_index_eq(st, in, "n", &val, &ids, &nids, &err), 0);
    cr_assert_eq(nids, 1);
    vx_free(ids);
    store_txn_abort(txn);

    cr_assert_eq(store_get(st, NULL, &a, &p, &err), VECTRON_NOT_FOUND);
    cr_assert_eq(store_count(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(store_applied_index(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(store_next_internal_id(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 1, "an aborted upsert allocates no internal id");
    EQ(st, "n", v_int(1), 0);
    {
        void *blob;
        size_t len;
        cr_assert_eq(store_get_config(st, NULL, &blob, &len, &err),
                     VECTRON_NOT_FOUND);
    }

    txn = begin(st);
    cr_assert_eq(store_upsert(txn, &a, v, 4, "{\"n\":1}", 7, NULL, &err), 0);
    cr_assert_eq(store_set_applied(txn, 5, &err), 0);
    commit(txn);
    cr_assert_eq(store_applied_index(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 5);
    cr_assert_eq(store_get(st, NULL, &a, &p, &err), 0);
    store_point_clear(&p);
    EQ(st, "n", v_int(1), 0, 1);

    txn = begin(st);
    cr_assert_eq(store_set_applied(txn, 4, &err), VECTRON_INVALID);
    cr_assert_eq(store_set_applied(txn, 5, &err), 0);
    commit(txn);
    store_close(st);
}

/* ---------------------------------------------------------------- scan */

typedef struct collect {
    point_id ids[16];
    uint64_t iids[16];
    size_t n;
    size_t stop_at; /* answer STORE_SCAN_STOP for the point with this index */
} collect;

static int collect_fn(void *arg, const store_point_view *p, vectron_error *err)
{
    collect *c = arg;
    (void)err;
    if (c->n == c->stop_at) {
        return STORE_SCAN_STOP;
    }
    cr_assert_lt(c->n, 16);
    cr_assert_eq(p->dim, 4);
    c->ids[c->n] = p->id;
    c->iids[c->n] = p->internal_id;
    c->n++;
    return 0;
}

static int failing_fn(void *arg, const store_point_view *p, vectron_error *err)
{
    (void)arg;
    (void)p;
    return vx_err(err, VECTRON_IO, "callback failed");
}

Test(store, scan_order_and_paging)
{
    store *st = open_at(dir, 0);
    point_id order[6];
    point_id ua = uuid("00000000-0000-4000-8000-000000000001");
    point_id ub = uuid("ff000000-0000-4000-8000-000000000000");
    vectron_error err;
    collect c;
    point_id next;
    int has_next;
    size_t seen = 0;

    put1(st, ub, 1, NULL);
    put1(st, num(100), 2, NULL);
    put1(st, num(3), 3, NULL);
    put1(st, ua, 4, NULL);
    put1(st, num(1), 5, NULL);
    put1(st, num(5), 6, NULL);
    order[0] = num(1);
    order[1] = num(3);
    order[2] = num(5);
    order[3] = num(100);
    order[4] = ua;
    order[5] = ub;

    memset(&c, 0, sizeof c);
    c.stop_at = SIZE_MAX;
    cr_assert_eq(store_foreach(st, NULL, collect_fn, &c, &err), 0);
    cr_assert_eq(c.n, 6);
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq(point_id_cmp(&c.ids[i], &order[i]), 0, "position %zu", i);
    }

    /* Pages of two, following next offsets. */
    for (int page = 0;; page++) {
        memset(&c, 0, sizeof c);
        c.stop_at = SIZE_MAX;
        cr_assert_eq(store_scan(st, NULL, page ? &next : NULL, 2, collect_fn,
                                &c, &next, &has_next, &err),
                     0, "%s", err.msg);
        for (size_t i = 0; i < c.n; i++) {
            cr_assert_eq(point_id_cmp(&c.ids[i], &order[seen + i]), 0);
        }
        seen += c.n;
        if (!has_next) {
            break;
        }
        cr_assert_eq(point_id_cmp(&next, &order[seen]), 0);
    }
    cr_assert_eq(seen, 6);

    /* From an id between stored ones; STOP leaves that point for later. */
    memset(&c, 0, sizeof c);
    c.stop_at = 2;
    next = num(4);
    cr_assert_eq(store_scan(st, NULL, &next, SIZE_MAX, collect_fn, &c, &next,
                            &has_next, &err),
                 0);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(point_id_cmp(&c.ids[0], &order[2]), 0);
    cr_assert(has_next);
    cr_assert_eq(point_id_cmp(&next, &ua), 0);

    /* Limit 0 only reports where the page would start. */
    memset(&c, 0, sizeof c);
    c.stop_at = SIZE_MAX;
    cr_assert_eq(
        store_scan(st, NULL, NULL, 0, collect_fn, &c, &next, &has_next, &err),
        0);
    cr_assert_eq(c.n, 0);
    cr_assert(has_next);
    cr_assert_eq(point_id_cmp(&next, &order[0]), 0);
    next = uuid("ff100000-0000-4000-8000-000000000000");
    cr_assert_eq(
        store_scan(st, NULL, &next, 10, collect_fn, &c, &next, &has_next, &err),
        0);
    cr_assert_eq(has_next, 0);

    cr_assert_eq(store_foreach(st, NULL, failing_fn, NULL, &err), VECTRON_IO);
    cr_assert_str_eq(err.msg, "callback failed");
    store_close(st);
}

/* ------------------------------------------------------------- reopen */

/* Fills a store with points, payload indexes, applied index and config. */
static void populate(store *st)
{
    store_txn *txn;
    vectron_error err;
    char payload[64];

    index1(st, "n", STORE_INTEGER);
    index1(st, "t", STORE_KEYWORD);
    txn = begin(st);
    for (uint64_t i = 0; i < 50; i++) {
        point_id id = num(i * 3);
        float v[4];
        fill(v, 4, i);
        snprintf(payload, sizeof payload, "{\"n\":%d,\"t\":\"%s\"}",
                 (int)i - 25, i % 2 ? "odd" : "even");
        cr_assert_eq(
            store_upsert(txn, &id, v, 4, payload, strlen(payload), NULL, &err),
            0, "%s", err.msg);
    }
    point_id u = uuid("12345678-1234-4234-9234-123456789abc");
    float v[4] = {9, 9, 9, 9};
    cr_assert_eq(store_upsert(txn, &u, v, 4, NULL, 0, NULL, &err), 0);
    cr_assert_eq(store_set_applied(txn, 77, &err), 0);
    cr_assert_eq(store_set_config(txn, "{\"dim\":4}", 9, &err), 0);
    commit(txn);
    /* Some churn so that internal ids have holes. */
    del1(st, num(3));
    put1(st, num(3), 99, "{\"n\":1000}");
    del1(st, num(6));
}

/* Checks two stores hold the same points, indexes and meta. */
typedef struct dump {
    size_t n;
    uint64_t iids[64];
    point_id ids[64];
    float vecs[64][4];
    char payloads[64][48];
} dump;

static int dump_fn(void *arg, const store_point_view *p, vectron_error *err)
{
    dump *d = arg;
    (void)err;
    cr_assert_lt(d->n, 64);
    cr_assert_lt(p->payload_len, 48);
    d->ids[d->n] = p->id;
    d->iids[d->n] = p->internal_id;
    memcpy(d->vecs[d->n], p->vector, sizeof d->vecs[0]);
    memcpy(d->payloads[d->n], p->payload, p->payload_len);
    d->payloads[d->n][p->payload_len] = '\0';
    d->n++;
    return 0;
}

static void expect_same(store *a, store *b)
{
    static dump da, db;
    vectron_error err;
    uint64_t x, y;
    void *ca, *cb;
    size_t la, lb;

    memset(&da, 0, sizeof da);
    memset(&db, 0, sizeof db);
    cr_assert_eq(store_foreach(a, NULL, dump_fn, &da, &err), 0, "%s", err.msg);
    cr_assert_eq(store_foreach(b, NULL, dump_fn, &db, &err), 0, "%s", err.msg);
    cr_assert_eq(da.n, db.n);
    cr_assert_eq(da.n, 50);
    cr_assert_eq(memcmp(da.ids, db.ids, sizeof da.ids), 0);
    cr_assert_eq(memcmp(da.iids, db.iids, sizeof da.iids), 0);
    cr_assert_eq(memcmp(da.vecs, db.vecs, sizeof da.vecs), 0);
    cr_assert_eq(memcmp(da.payloads, db.payloads, sizeof da.payloads), 0);
    cr_assert_eq(store_applied_index(a, NULL, &x, &err), 0);
    cr_assert_eq(store_applied_index(b, NULL, &y, &err), 0);
    cr_assert_eq(x, 77);
    cr_assert_eq(x, y);
    cr_assert_eq(store_next_internal_id(a, NULL, &x, &err), 0);
    cr_assert_eq(store_next_internal_id(b, NULL, &y, &err), 0);
    cr_assert_eq(x, 53);
    cr_assert_eq(x, y);
    cr_assert_eq(store_get_config(a, NULL, &ca, &la, &err), 0);
    cr_assert_eq(store_get_config(b, NULL, &cb, &lb, &err), 0);
    cr_assert_eq(la, 9);
    cr_assert_eq(lb, 9);
    cr_assert_eq(memcmp(ca, cb, la), 0);
    vx_free(ca);
    vx_free(cb);
    /* Odd i has internal id i + 1; point 3 (i = 1) lost its "t". */
    EQ(b, "t", v_kw("odd"), 0, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
       30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 50);
    EQ(b, "n", v_int(1000), 0, 52);
    EQ(b, "n", v_int(-24), 0);
    store_value lo = v_int(-25), hi = v_int(-20);
    RANGE(b, "n", &lo, 1, &hi, 0, 0, 1, 4, 5);
}

Test(store, reopen_keeps_everything)
{
    store *st = open_at(dir, 0);
    store *again;
    uint64_t iid;

    populate(st);
    store_close(st);
    st = open_at(dir, 0);
    again = open_at(dir2, 0);
    populate(again);
    expect_same(again, st);
    store_close(again);
    /* Indexes are maintained after reopening, ids continue. */
    iid = put1(st, num(1), 1, "{\"n\":-24}");
    cr_assert_eq(iid, 53);
    EQ(st, "n", v_int(-24), 0, 53);
    store_close(st);
}

/* -------------------------------------------------------- corruption */

/* Flips one byte at offset off of the value of key in database db, through
 * a raw LMDB handle on the closed store's directory. */
static void poke(const char *d, const char *db, const void *key, size_t klen,
                 size_t off)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {klen, (void *)key}, v;
    uint8_t buf[512];

    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 8), 0);
    cr_assert_eq(mdb_env_open(env, d, 0, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
    cr_assert_eq(mdb_get(txn, dbi, &k, &v), 0);
    cr_assert_lt(off, v.mv_size);
    cr_assert_leq(v.mv_size, sizeof buf);
    memcpy(buf, v.mv_data, v.mv_size);
    buf[off] ^= 0x10;
    v.mv_data = buf;
    cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

Test(store, crc_mismatch_is_corrupt)
{
    store *st = open_at(dir, 0);
    point_id a = num(1), b = num(2);
    uint8_t key[POINT_KEY_MAX];
    size_t klen = point_id_key(&a, key);
    vectron_error err;
    store_point p;
    store_txn *txn;
    collect c;
    float v[4] = {0};
    uint64_t n;

    index1(st, "n", STORE_INTEGER);
    put1(st, a, 1, "{\"n\":1}");
    put1(st, b, 2, "{\"n\":2}");
    store_close(st);
    poke(dir, "points", key, klen, 20); /* a byte of the vector */
    poke(dir, "meta", "applied", 7, 3);

    st = open_at(dir, 0);
    cr_assert_eq(store_get(st, NULL, &a, &p, &err), VECTRON_CORRUPT);
    cr_assert_not_null(strstr(err.msg, "checksum"), "%s", err.msg);
    cr_assert_null(p.vector);
    cr_assert_eq(store_get(st, NULL, &b, &p, &err), 0, "%s", err.msg);
    store_point_clear(&p);
    memset(&c, 0, sizeof c);
    c.stop_at = SIZE_MAX;
    cr_assert_eq(store_foreach(st, NULL, collect_fn, &c, &err),
                 VECTRON_CORRUPT);
    cr_assert_eq(store_applied_index(st, NULL, &n, &err), VECTRON_CORRUPT);

    /* Writes over the damaged record refuse and leave the txn usable. */
    txn = begin(st);
    cr_assert_eq(store_upsert(txn, &a, v, 4, NULL, 0, NULL, &err),
                 VECTRON_CORRUPT);
    cr_assert_eq(store_delete(txn, &a, NULL, &err), VECTRON_CORRUPT);
    cr_assert_eq(store_set_payload(txn, &a, "{}", 2, 0, &err), VECTRON_CORRUPT);
    cr_assert_eq(store_upsert(txn, &b, v, 4, NULL, 0, NULL, &err), 0);
    commit(txn);
    EQ(st, "n", v_int(2), 0);
    store_close(st);
}

/* ----------------------------------------------------------- map full */

Test(store, map_full_is_limit_and_store_stays_usable)
{
    store *st = open_at(dir, 1 << 20);
    static float big[1024];
    vectron_error err;
    store_txn *txn;
    uint64_t n;
    int rc = 0;
    uint64_t i;

    txn = begin(st);
    for (i = 0; i < 20; i++) {
        point_id id = num(i);
        float v[4] = {1, 2, 3, 4};
        cr_assert_eq(store_upsert(txn, &id, v, 4, NULL, 0, NULL, &err), 0);
    }
    commit(txn);

    txn = begin(st);
    for (i = 1000; i < 10000 && rc == 0; i++) {
        point_id id = num(i);
        rc = store_upsert(txn, &id, big, 1024, NULL, 0, NULL, &err);
    }
    cr_assert_eq(rc, VECTRON_LIMIT, "rc %d after %llu points: %s", rc,
                 (unsigned long long)i, err.msg);
    cr_assert_not_null(strstr(err.msg, "raise the map size"), "%s", err.msg);
    {
        point_id id = num(5);
        float v[4] = {0};
        cr_assert_eq(store_upsert(txn, &id, v, 4, NULL, 0, NULL, &err),
                     VECTRON_LIMIT, "a failed txn refuses further writes");
        cr_assert_eq(store_set_applied(txn, 3, &err), VECTRON_LIMIT);
    }
    cr_assert_eq(store_txn_commit(txn, &err), VECTRON_LIMIT);

    cr_assert_eq(store_count(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 20);
    cr_assert_eq(store_applied_index(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 0);
    txn = begin(st);
    {
        point_id id = num(500);
        float v[4] = {5, 5, 5, 5};
        cr_assert_eq(store_upsert(txn, &id, v, 4, NULL, 0, NULL, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(store_set_applied(txn, 3, &err), 0);
    }
    commit(txn);
    cr_assert_eq(store_count(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 21);

    /* A larger map takes what did not fit. */
    store_close(st);
    st = open_at(dir, 64 << 20);
    txn = begin(st);
    for (i = 1000; i < 1400; i++) {
        point_id id = num(i);
        cr_assert_eq(store_upsert(txn, &id, big, 1024, NULL, 0, NULL, &err), 0,
                     "%s", err.msg);
    }
    commit(txn);
    cr_assert_eq(store_count(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 421);
    store_close(st);
}

/* ---------------------------------------------------------------- copy */

Test(store, copy_is_an_identical_openable_store)
{
    store *st = open_at(dir, 0);
    store *cp;
    vectron_error err;
    store_txn *txn;

    populate(st);
    cr_assert_eq(store_sync(st, &err), 0, "%s", err.msg);
    /* Concurrent work in another transaction is not in the copy. */
    txn = begin(st);
    cr_assert_eq(store_copy(st, dir2, &err), 0, "%s", err.msg);
    store_txn_abort(txn);
    cr_assert_eq(store_copy(st, dir2, &err), VECTRON_EXISTS);
    cp = open_at(dir2, 0);
    expect_same(st, cp);
    store_close(cp);
    store_close(st);
}

/* ---------------------------------------------------------- concurrency */

Test(store, read_handle_sees_a_snapshot)
{
    store *st = open_at(dir, 0);
    store_read *rd;
    vectron_error err;
    uint64_t n;
    store_point p;
    point_id b = num(2);

    put1(st, num(1), 1, NULL);
    cr_assert_eq(store_read_begin(st, &rd, &err), 0);
    put1(st, b, 2, NULL);
    cr_assert_eq(store_count(st, rd, &n, &err), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(store_get(st, rd, &b, &p, &err), VECTRON_NOT_FOUND);
    cr_assert_eq(store_count(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(store_read_renew(rd, &err), 0);
    cr_assert_eq(store_get(st, rd, &b, &p, &err), 0);
    store_point_clear(&p);
    store_read_end(rd);
    store_close(st);
}

typedef struct writer_arg {
    store *st;
    uint64_t applied_seen;
} writer_arg;

static void *second_writer(void *arg)
{
    writer_arg *w = arg;
    store_txn *txn = NULL;
    vectron_error err;
    point_id id = num(2);
    float v[4] = {2, 2, 2, 2};

    if (store_txn_begin(w->st, &txn, &err) != 0) {
        return NULL;
    }
    store_applied_index(w->st, store_txn_read(txn), &w->applied_seen, &err);
    store_upsert(txn, &id, v, 4, NULL, 0, NULL, &err);
    store_set_applied(txn, 2, &err);
    store_txn_commit(txn, &err);
    return NULL;
}

Test(store, writers_take_turns)
{
    store *st = open_at(dir, 0);
    writer_arg w = {st, 99};
    store_txn *txn;
    pthread_t th;
    vectron_error err;
    point_id id = num(1);
    float v[4] = {1, 1, 1, 1};
    uint64_t n;

    txn = begin(st);
    cr_assert_eq(store_upsert(txn, &id, v, 4, NULL, 0, NULL, &err), 0);
    cr_assert_eq(store_set_applied(txn, 1, &err), 0);
    cr_assert_eq(pthread_create(&th, NULL, second_writer, &w), 0);
    /* Give the second writer time to reach store_txn_begin; it must wait
     * there until this transaction commits. */
    usleep(50 * 1000);
    commit(txn);
    pthread_join(th, NULL);
    cr_assert_eq(w.applied_seen, 1,
                 "the second writer began after the first committed");
    cr_assert_eq(store_count(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(store_applied_index(st, NULL, &n, &err), 0);
    cr_assert_eq(n, 2);
    store_close(st);
}
