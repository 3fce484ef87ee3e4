/*
 * store_write.c - the write operations of a store transaction: upsert,
 * delete, payload set / merge / key deletion (each keeping the payload
 * indexes in step), the applied Raft index and the config blob.
 *
 * Every operation checks everything it can (arguments, the existing
 * record, the payload JSON, the index entries to write) before its first
 * write, so that a rejected operation leaves the transaction untouched; a
 * failure after the first write marks the transaction failed (see the
 * failure rule in store.h).
 *
 * Threading: a store_txn is used by the thread that began it only; see
 * store.h.
 */
#include <math.h>
#include <string.h>

#include "store/store_int.h"

/* Looks up the record of key k in txn. Returns 0 with *rec filled,
 * NOT_FOUND, or an error. what and idbuf give the message context. */
static int find_record(store_txn *txn, MDB_val *k, MDB_val *v,
                       store_record *rec, const char *what, const char *idbuf,
                       vectron_error *err)
{
    store *st = txn->rd.st;
    int rc = mdb_get(txn->rd.txn, st->points, k, v);

    if (rc == MDB_NOTFOUND) {
        return vx_err(err, VECTRON_NOT_FOUND, "%s point %s: not found", what,
                      idbuf);
    }
    if (rc) {
        return store_lmdb_err(err, st, rc, "%s point %s", what, idbuf);
    }
    rc = store_record_parse(v, rec, err);
    if (rc) {
        return vx_err_wrap(err, rc, "%s point %s", what, idbuf);
    }
    return 0;
}

/* Parses a stored payload (len 0 gives an empty object). A stored payload
 * that does not parse is damage, reported as CORRUPT. */
static int parse_stored(const store_record *rec, json_t **out,
                        vectron_error *err)
{
    int rc = store_json_parse((const char *)rec->payload, rec->payload_len, out,
                              err);

    if (rc == VECTRON_INVALID) {
        rc =
            vx_err(err, VECTRON_CORRUPT, "stored payload is not a JSON object");
    }
    return rc;
}

/* Collects the index entries of a stored record's payload when indexes
 * exist. */
static int stored_entries(const store_defs *defs, const store_record *rec,
                          store_keys *keys, vectron_error *err)
{
    json_t *json = NULL;
    int rc;

    if (defs->n == 0 || rec->payload_len == 0) {
        return 0;
    }
    rc = parse_stored(rec, &json, err);
    if (!rc) {
        rc = store_index_collect(defs->v, defs->n, json, keys, err);
    }
    json_decref(json);
    return rc;
}

int store_upsert(store_txn *txn, const point_id *id, const float *vec,
                 uint32_t dim, const char *payload, size_t payload_len,
                 uint64_t *internal_id, vectron_error *err)
{
    store *st;
    const store_defs *defs;
    uint8_t key[POINT_KEY_MAX], ikey[8];
    char idbuf[40];
    MDB_val k, v, ik, iv;
    store_record old;
    store_keys oldk = {0}, newk = {0};
    json_t *json = NULL;
    uint64_t iid = 0;
    int exists = 0, written = 0;
    int rc;

    if (!txn || !id) {
        return vx_err(err, VECTRON_INVALID, "upsert: no transaction or id");
    }
    rc = store_txn_check(txn, err);
    if (rc) {
        return rc;
    }
    st = txn->rd.st;
    defs = store_txn_defs(txn);
    point_id_format(id, idbuf);
    if (dim == 0 || dim > STORE_DIM_MAX || !vec) {
        return vx_err(err, VECTRON_INVALID,
                      "upsert point %s: dimension %u out of range", idbuf, dim);
    }
    if (st->opt.dim && dim != st->opt.dim) {
        return vx_err(err, VECTRON_DIMENSION,
                      "upsert point %s: dimension %u, the store holds %u",
                      idbuf, dim, st->opt.dim);
    }
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(vec[i])) {
            return vx_err(err, VECTRON_INVALID,
                          "upsert point %s: component %u is not finite", idbuf,
                          i);
        }
    }
    if (payload_len > STORE_PAYLOAD_MAX || (payload_len && !payload)) {
        return vx_err(err, VECTRON_INVALID,
                      "upsert point %s: payload of %zu bytes (at most %u)",
                      idbuf, payload_len, STORE_PAYLOAD_MAX);
    }
    if (payload_len) {
        rc = store_json_parse(payload, payload_len, &json, err);
        if (rc) {
            vx_err_wrap(err, rc, "upsert point %s: payload", idbuf);
            goto out;
        }
    }
    k.mv_size = point_id_key(id, key);
    k.mv_data = key;
    rc = mdb_get(txn->rd.txn, st->points, &k, &v);
    if (rc == 0) {
        exists = 1;
        rc = store_record_parse(&v, &old, err);
        if (rc) {
            vx_err_wrap(err, rc, "upsert point %s", idbuf);
            goto out;
        }
        iid = old.internal_id;
        rc = stored_entries(defs, &old, &oldk, err);
        if (rc) {
            vx_err_wrap(err, rc, "upsert point %s", idbuf);
            goto out;
        }
    } else if (rc == MDB_NOTFOUND) {
        if (txn->next_id == UINT64_MAX) {
            rc = vx_err(err, VECTRON_LIMIT,
                        "upsert point %s: internal ids exhausted", idbuf);
            goto out;
        }
        iid = txn->next_id;
        rc = 0;
    } else {
        rc = store_lmdb_err(err, st, rc, "upsert point %s", idbuf);
        goto out;
    }
    if (json && defs->n) {
        rc = store_index_collect(defs->v, defs->n, json, &newk, err);
        if (rc) {
            vx_err_wrap(err, rc, "upsert point %s", idbuf);
            goto out;
        }
    }

    /* Everything is checked; from here on a failure leaves txn half
     * applied. */
    written = 1;
    rc = store_index_write(st, txn->rd.txn, &oldk, iid, 0, err);
    if (rc) {
        vx_err_wrap(err, rc, "upsert point %s", idbuf);
        goto out;
    }
    v.mv_size = store_record_size(dim, payload_len);
    v.mv_data = NULL;
    rc = mdb_put(txn->rd.txn, st->points, &k, &v, MDB_RESERVE);
    if (rc) {
        rc = store_lmdb_err(err, st, rc, "upsert point %s", idbuf);
        goto out;
    }
    store_record_fill(v.mv_data, dim, iid, vec, 0, payload, payload_len);
    if (!exists) {
        store_put_be64(ikey, iid);
        ik.mv_size = 8;
        ik.mv_data = ikey;
        iv = k;
        rc = mdb_put(txn->rd.txn, st->internal, &ik, &iv, 0);
        if (rc) {
            rc = store_lmdb_err(err, st, rc, "upsert point %s: internal id",
                                idbuf);
            goto out;
        }
        rc = store_meta_put_u64(st, txn->rd.txn, STORE_META_NEXT_ID, iid + 1,
                                err);
        if (rc) {
            vx_err_wrap(err, rc, "upsert point %s", idbuf);
            goto out;
        }
        txn->next_id = iid + 1;
    }
    rc = store_index_write(st, txn->rd.txn, &newk, iid, 1, err);
    if (rc) {
        vx_err_wrap(err, rc, "upsert point %s", idbuf);
        goto out;
    }
    if (internal_id) {
        *internal_id = iid;
    }
out:
    json_decref(json);
    store_keys_free(&oldk);
    store_keys_free(&newk);
    if (rc && written) {
        txn->failed = rc;
    }
    return rc;
}

int store_delete(store_txn *txn, const point_id *id, uint64_t *internal_id,
                 vectron_error *err)
{
    store *st;
    uint8_t key[POINT_KEY_MAX], ikey[8];
    char idbuf[40];
    MDB_val k, v, ik;
    store_record old;
    store_keys oldk = {0};
    int written = 0;
    int rc;

    if (!txn || !id) {
        return vx_err(err, VECTRON_INVALID, "delete: no transaction or id");
    }
    rc = store_txn_check(txn, err);
    if (rc) {
        return rc;
    }
    st = txn->rd.st;
    point_id_format(id, idbuf);
    k.mv_size = point_id_key(id, key);
    k.mv_data = key;
    rc = find_record(txn, &k, &v, &old, "delete", idbuf, err);
    if (rc) {
        goto out;
    }
    rc = stored_entries(store_txn_defs(txn), &old, &oldk, err);
    if (rc) {
        vx_err_wrap(err, rc, "delete point %s", idbuf);
        goto out;
    }

    written = 1;
    rc = store_index_write(st, txn->rd.txn, &oldk, old.internal_id, 0, err);
    if (rc) {
        vx_err_wrap(err, rc, "delete point %s", idbuf);
        goto out;
    }
    store_put_be64(ikey, old.internal_id);
    ik.mv_size = 8;
    ik.mv_data = ikey;
    rc = mdb_del(txn->rd.txn, st->internal, &ik, NULL);
    if (rc && rc != MDB_NOTFOUND) {
        rc = store_lmdb_err(err, st, rc, "delete point %s: internal id", idbuf);
        goto out;
    }
    rc = mdb_del(txn->rd.txn, st->points, &k, NULL);
    if (rc) {
        rc = store_lmdb_err(err, st, rc, "delete point %s", idbuf);
        goto out;
    }
    if (internal_id) {
        *internal_id = old.internal_id;
    }
out:
    store_keys_free(&oldk);
    if (rc && written) {
        txn->failed = rc;
    }
    return rc;
}

/* Rewrites the record of key k (old, with index entries oldk) with payload
 * text (len bytes, parsed form json), keeping its vector and internal id,
 * and moves its index entries. Sets *written once it has written. */
static int replace_payload(store_txn *txn, MDB_val *k, const store_record *old,
                           const store_keys *oldk, const json_t *json,
                           const char *text, size_t len, int *written,
                           vectron_error *err)
{
    store *st = txn->rd.st;
    const store_defs *defs = store_txn_defs(txn);
    store_keys newk = {0};
    uint8_t *vec = NULL;
    uint32_t dim = old->dim;
    uint64_t iid = old->internal_id;
    MDB_val v;
    int rc = 0;

    if (len > STORE_PAYLOAD_MAX) {
        rc = vx_err(err, VECTRON_INVALID, "payload of %zu bytes (at most %u)",
                    len, STORE_PAYLOAD_MAX);
        goto out;
    }
    if (defs->n) {
        rc = store_index_collect(defs->v, defs->n, json, &newk, err);
        if (rc) {
            goto out;
        }
    }
    /* The old record's memory may be reused once the record is replaced,
     * so its vector is copied first. */
    vec = vx_malloc(4 * (size_t)dim);
    if (!vec) {
        rc = vx_err(err, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    memcpy(vec, old->vector, 4 * (size_t)dim);

    *written = 1;
    rc = store_index_write(st, txn->rd.txn, oldk, iid, 0, err);
    if (rc) {
        goto out;
    }
    v.mv_size = store_record_size(dim, len);
    v.mv_data = NULL;
    rc = mdb_put(txn->rd.txn, st->points, k, &v, MDB_RESERVE);
    if (rc) {
        rc = store_lmdb_err(err, st, rc, "write record");
        goto out;
    }
    store_record_fill(v.mv_data, dim, iid, vec, 1, text, len);
    rc = store_index_write(st, txn->rd.txn, &newk, iid, 1, err);
out:
    vx_free(vec);
    store_keys_free(&newk);
    return rc;
}

int store_set_payload(store_txn *txn, const point_id *id, const char *json,
                      size_t len, int merge, vectron_error *err)
{
    uint8_t key[POINT_KEY_MAX];
    char idbuf[40];
    MDB_val k, v;
    store_record old;
    store_keys oldk = {0};
    json_t *given = NULL, *merged = NULL;
    char *text = NULL;
    size_t text_len = 0;
    int written = 0;
    int rc;

    if (!txn || !id || (len && !json)) {
        return vx_err(err, VECTRON_INVALID, "set payload: bad arguments");
    }
    rc = store_txn_check(txn, err);
    if (rc) {
        return rc;
    }
    point_id_format(id, idbuf);
    rc = store_json_parse(json, len, &given, err);
    if (rc) {
        vx_err_wrap(err, rc, "set payload of point %s", idbuf);
        goto out;
    }
    k.mv_size = point_id_key(id, key);
    k.mv_data = key;
    rc = find_record(txn, &k, &v, &old, "set payload of", idbuf, err);
    if (rc) {
        goto out;
    }
    if (merge && json_object_size(given) == 0) {
        goto out;
    }
    rc = stored_entries(store_txn_defs(txn), &old, &oldk, err);
    if (rc) {
        vx_err_wrap(err, rc, "set payload of point %s", idbuf);
        goto out;
    }
    if (merge) {
        rc = parse_stored(&old, &merged, err);
        if (!rc && json_object_update(merged, given) != 0) {
            rc = vx_err(err, VECTRON_NOMEM, "merge: out of memory");
        }
        if (!rc) {
            rc = store_json_dump(merged, &text, &text_len, err);
        }
        if (!rc) {
            rc = replace_payload(txn, &k, &old, &oldk, merged, text, text_len,
                                 &written, err);
        }
    } else {
        rc = replace_payload(txn, &k, &old, &oldk, given, json, len, &written,
                             err);
    }
    if (rc) {
        vx_err_wrap(err, rc, "set payload of point %s", idbuf);
        goto out;
    }
out:
    json_decref(given);
    json_decref(merged);
    vx_free(text);
    store_keys_free(&oldk);
    if (rc && written) {
        txn->failed = rc;
    }
    return rc;
}

int store_delete_payload_keys(store_txn *txn, const point_id *id,
                              const char *const *keys, size_t n,
                              vectron_error *err)
{
    uint8_t key[POINT_KEY_MAX];
    char idbuf[40];
    MDB_val k, v;
    store_record old;
    store_keys oldk = {0};
    json_t *json = NULL;
    char *text = NULL;
    size_t text_len = 0, removed = 0;
    int written = 0;
    int rc;

    if (!txn || !id || (n && !keys)) {
        return vx_err(err, VECTRON_INVALID,
                      "delete payload keys: bad arguments");
    }
    rc = store_txn_check(txn, err);
    if (rc) {
        return rc;
    }
    point_id_format(id, idbuf);
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] || !*keys[i]) {
            return vx_err(err, VECTRON_INVALID,
                          "delete payload keys of point %s: key %zu is empty",
                          idbuf, i);
        }
    }
    k.mv_size = point_id_key(id, key);
    k.mv_data = key;
    rc = find_record(txn, &k, &v, &old, "delete payload keys of", idbuf, err);
    if (rc || old.payload_len == 0) {
        goto out;
    }
    rc = parse_stored(&old, &json, err);
    if (!rc) {
        rc = stored_entries(store_txn_defs(txn), &old, &oldk, err);
    }
    if (rc) {
        vx_err_wrap(err, rc, "delete payload keys of point %s", idbuf);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        removed += store_json_remove(json, keys[i], strlen(keys[i]));
    }
    if (removed == 0) {
        goto out;
    }
    rc = store_json_dump(json, &text, &text_len, err);
    if (!rc) {
        rc = replace_payload(txn, &k, &old, &oldk, json, text, text_len,
                             &written, err);
    }
    if (rc) {
        vx_err_wrap(err, rc, "delete payload keys of point %s", idbuf);
        goto out;
    }
out:
    json_decref(json);
    vx_free(text);
    store_keys_free(&oldk);
    if (rc && written) {
        txn->failed = rc;
    }
    return rc;
}

int store_set_applied(store_txn *txn, uint64_t index, vectron_error *err)
{
    store *st;
    uint64_t cur;
    int rc;

    if (!txn) {
        return vx_err(err, VECTRON_INVALID, "set applied: no transaction");
    }
    rc = store_txn_check(txn, err);
    if (rc) {
        return rc;
    }
    st = txn->rd.st;
    rc = store_meta_get_u64(st, txn->rd.txn, STORE_META_APPLIED, &cur, err);
    if (rc) {
        return vx_err_wrap(err, rc, "set applied");
    }
    if (index < cur) {
        return vx_err(err, VECTRON_INVALID,
                      "set applied: index %llu is below the applied index "
                      "%llu",
                      (unsigned long long)index, (unsigned long long)cur);
    }
    rc = store_meta_put_u64(st, txn->rd.txn, STORE_META_APPLIED, index, err);
    if (rc) {
        txn->failed = rc;
        return vx_err_wrap(err, rc, "set applied");
    }
    return 0;
}

int store_set_config(store_txn *txn, const void *blob, size_t len,
                     vectron_error *err)
{
    int rc;

    if (!txn || (len && !blob) || len > STORE_PAYLOAD_MAX) {
        return vx_err(err, VECTRON_INVALID, "set config: bad arguments");
    }
    rc = store_txn_check(txn, err);
    if (rc) {
        return rc;
    }
    rc = store_meta_put(txn->rd.st, txn->rd.txn, STORE_META_CONFIG,
                        strlen(STORE_META_CONFIG), blob, len, err);
    if (rc) {
        txn->failed = rc;
        return vx_err_wrap(err, rc, "set config");
    }
    return 0;
}
