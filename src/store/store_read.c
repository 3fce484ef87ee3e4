/*
 * store_read.c - reads of the point store: read handles (LMDB read-only
 * transactions), point lookups by id and by internal id, the applied
 * index, counts, the config blob, and scans in key order.
 *
 * Threading: see store.h. Every function here may run on any number of
 * threads at once; each call uses its caller's handle or a read
 * transaction of its own. The environment is opened with MDB_NOTLS, so a
 * handle may move between threads.
 */
#include <stdint.h>
#include <string.h>

#include "store/store_int.h"

int store_read_acquire(store *st, store_read *rd, MDB_txn **txn,
                       vectron_error *err)
{
    int rc;

    if (rd) {
        *txn = rd->txn;
        return 0;
    }
    rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    if (rc) {
        *txn = NULL;
        return store_lmdb_err(err, st, rc, "begin read");
    }
    return 0;
}

void store_read_release(const store_read *rd, MDB_txn *txn)
{
    if (!rd && txn) {
        mdb_txn_abort(txn);
    }
}

int store_read_begin(store *st, store_read **out, vectron_error *err)
{
    store_read *rd = vx_calloc(1, sizeof *rd);
    int rc;

    if (!rd) {
        return vx_err(err, VECTRON_NOMEM, "begin read: out of memory");
    }
    rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &rd->txn);
    if (rc) {
        vx_free(rd);
        return store_lmdb_err(err, st, rc, "begin read");
    }
    rd->st = st;
    *out = rd;
    return 0;
}

int store_read_renew(store_read *rd, vectron_error *err)
{
    int rc;

    if (rd->in_write) {
        return vx_err(err, VECTRON_INVALID,
                      "renew read: the handle belongs to a write transaction");
    }
    mdb_txn_reset(rd->txn);
    rc = mdb_txn_renew(rd->txn);
    if (rc) {
        return store_lmdb_err(err, rd->st, rc, "renew read");
    }
    return 0;
}

void store_read_end(store_read *rd)
{
    /* The handle of a write transaction ends with the transaction. */
    if (!rd || rd->in_write) {
        return;
    }
    mdb_txn_abort(rd->txn);
    vx_free(rd);
}

void store_point_clear(store_point *p)
{
    vx_free(p->vector);
    vx_free(p->payload);
    memset(p, 0, sizeof *p);
}

int store_get(store *st, store_read *rd, const point_id *id, store_point *out,
              vectron_error *err)
{
    uint8_t key[POINT_KEY_MAX];
    char idbuf[40];
    MDB_txn *txn = NULL;
    MDB_val k, v;
    store_record rec;
    int rc;

    if (!id || !out) {
        return vx_err(err, VECTRON_INVALID, "get: bad arguments");
    }
    memset(out, 0, sizeof *out);
    point_id_format(id, idbuf);
    rc = store_read_acquire(st, rd, &txn, err);
    if (rc) {
        return vx_err_wrap(err, rc, "get point %s", idbuf);
    }
    k.mv_size = point_id_key(id, key);
    k.mv_data = key;
    rc = mdb_get(txn, st->points, &k, &v);
    if (rc == MDB_NOTFOUND) {
        rc = vx_err(err, VECTRON_NOT_FOUND, "get point %s: not found", idbuf);
        goto out;
    }
    if (rc) {
        rc = store_lmdb_err(err, st, rc, "get point %s", idbuf);
        goto out;
    }
    rc = store_record_parse(&v, &rec, err);
    if (rc) {
        vx_err_wrap(err, rc, "get point %s", idbuf);
        goto out;
    }
    out->vector = vx_malloc(4 * (size_t)rec.dim);
    out->payload = vx_malloc(rec.payload_len + 1);
    if (!out->vector || !out->payload) {
        rc = vx_err(err, VECTRON_NOMEM, "get point %s: out of memory", idbuf);
        goto out;
    }
    store_record_vector(&rec, out->vector);
    if (rec.payload_len) {
        memcpy(out->payload, rec.payload, rec.payload_len);
    }
    out->payload[rec.payload_len] = '\0';
    out->payload_len = rec.payload_len;
    out->id = *id;
    out->internal_id = rec.internal_id;
    out->dim = rec.dim;
out:
    store_read_release(rd, txn);
    if (rc) {
        store_point_clear(out);
    }
    return rc;
}

int store_get_by_internal(store *st, store_read *rd, uint64_t internal_id,
                          point_id *out, vectron_error *err)
{
    uint8_t key[8];
    MDB_txn *txn = NULL;
    MDB_val k = {8, key}, v;
    int rc;

    if (!out) {
        return vx_err(err, VECTRON_INVALID, "get by internal id: no output");
    }
    rc = store_read_acquire(st, rd, &txn, err);
    if (rc) {
        return vx_err_wrap(err, rc, "get internal id %llu",
                           (unsigned long long)internal_id);
    }
    store_put_be64(key, internal_id);
    rc = mdb_get(txn, st->internal, &k, &v);
    if (rc == MDB_NOTFOUND) {
        rc = vx_err(err, VECTRON_NOT_FOUND, "internal id %llu: not found",
                    (unsigned long long)internal_id);
    } else if (rc) {
        rc = store_lmdb_err(err, st, rc, "get internal id %llu",
                            (unsigned long long)internal_id);
    } else if (point_id_from_key(v.mv_data, v.mv_size, out, err) != 0) {
        rc = vx_err(err, VECTRON_CORRUPT,
                    "internal id %llu maps to a malformed point key",
                    (unsigned long long)internal_id);
    }
    store_read_release(rd, txn);
    return rc;
}

/* Reads one u64 meta value. */
static int read_meta_u64(store *st, store_read *rd, const char *key,
                         uint64_t *out, vectron_error *err)
{
    MDB_txn *txn = NULL;
    int rc;

    if (!out) {
        return vx_err(err, VECTRON_INVALID, "read %s: no output", key);
    }
    rc = store_read_acquire(st, rd, &txn, err);
    if (!rc) {
        rc = store_meta_get_u64(st, txn, key, out, err);
    }
    store_read_release(rd, txn);
    return rc;
}

int store_applied_index(store *st, store_read *rd, uint64_t *out,
                        vectron_error *err)
{
    return read_meta_u64(st, rd, STORE_META_APPLIED, out, err);
}

int store_next_internal_id(store *st, store_read *rd, uint64_t *out,
                           vectron_error *err)
{
    return read_meta_u64(st, rd, STORE_META_NEXT_ID, out, err);
}

int store_count(store *st, store_read *rd, uint64_t *out, vectron_error *err)
{
    MDB_txn *txn = NULL;
    MDB_stat ms;
    int rc;

    if (!out) {
        return vx_err(err, VECTRON_INVALID, "count: no output");
    }
    rc = store_read_acquire(st, rd, &txn, err);
    if (rc) {
        return vx_err_wrap(err, rc, "count");
    }
    rc = mdb_stat(txn, st->points, &ms);
    if (rc) {
        rc = store_lmdb_err(err, st, rc, "count");
    } else {
        *out = ms.ms_entries;
    }
    store_read_release(rd, txn);
    return rc;
}

int store_get_config(store *st, store_read *rd, void **blob, size_t *len,
                     vectron_error *err)
{
    MDB_txn *txn = NULL;
    const uint8_t *p = NULL;
    size_t n;
    void *copy = NULL;
    int rc;

    if (!blob || !len) {
        return vx_err(err, VECTRON_INVALID, "get config: no output");
    }
    rc = store_read_acquire(st, rd, &txn, err);
    if (rc) {
        return vx_err_wrap(err, rc, "get config");
    }
    rc = store_meta_get(st, txn, STORE_META_CONFIG, strlen(STORE_META_CONFIG),
                        &p, &n, err);
    if (rc) {
        goto out;
    }
    if (n) {
        copy = vx_malloc(n);
        if (!copy) {
            rc = vx_err(err, VECTRON_NOMEM, "get config: out of memory");
            goto out;
        }
        memcpy(copy, p, n);
    }
    *blob = copy;
    *len = n;
out:
    store_read_release(rd, txn);
    return rc;
}

int store_scan(store *st, store_read *rd, const point_id *from, size_t limit,
               store_point_fn fn, void *arg, point_id *next, int *has_next,
               vectron_error *err)
{
    uint8_t key[POINT_KEY_MAX];
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    float *vec = NULL;
    uint32_t vec_cap = 0;
    size_t visited = 0;
    int more = 0;
    point_id id;
    int rc;

    if (!fn) {
        return vx_err(err, VECTRON_INVALID, "scan: no callback");
    }
    rc = store_read_acquire(st, rd, &txn, err);
    if (rc) {
        return vx_err_wrap(err, rc, "scan");
    }
    rc = mdb_cursor_open(txn, st->points, &cur);
    if (rc) {
        cur = NULL;
        rc = store_lmdb_err(err, st, rc, "scan");
        goto out;
    }
    if (from) {
        k.mv_size = point_id_key(from, key);
        k.mv_data = key;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    while (rc == 0) {
        store_record rec;
        store_point_view view;
        char idbuf[40];

        if (point_id_from_key(k.mv_data, k.mv_size, &id, NULL) != 0) {
            rc = vx_err(err, VECTRON_CORRUPT, "scan: malformed point key");
            goto out;
        }
        if (visited == limit) {
            more = 1;
            break;
        }
        rc = store_record_parse(&v, &rec, err);
        if (rc) {
            point_id_format(&id, idbuf);
            vx_err_wrap(err, rc, "scan: point %s", idbuf);
            goto out;
        }
        if (rec.dim > vec_cap) {
            float *p = vx_realloc(vec, 4 * (size_t)rec.dim);
            if (!p) {
                rc = vx_err(err, VECTRON_NOMEM, "scan: out of memory");
                goto out;
            }
            vec = p;
            vec_cap = rec.dim;
        }
        store_record_vector(&rec, vec);
        view.id = id;
        view.internal_id = rec.internal_id;
        view.dim = rec.dim;
        view.vector = vec;
        view.payload = (const char *)rec.payload;
        view.payload_len = rec.payload_len;
        rc = fn(arg, &view, err);
        if (rc == STORE_SCAN_STOP) {
            more = 1;
            break;
        }
        if (rc) {
            goto out;
        }
        visited++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND && rc != STORE_SCAN_STOP) {
        rc = store_lmdb_err(err, st, rc, "scan");
        goto out;
    }
    rc = 0;
    if (has_next) {
        *has_next = more;
    }
    if (next && more) {
        *next = id;
    }
out:
    if (cur) {
        mdb_cursor_close(cur);
    }
    store_read_release(rd, txn);
    vx_free(vec);
    return rc;
}

int store_foreach(store *st, store_read *rd, store_point_fn fn, void *arg,
                  vectron_error *err)
{
    return store_scan(st, rd, NULL, SIZE_MAX, fn, arg, NULL, NULL, err);
}
