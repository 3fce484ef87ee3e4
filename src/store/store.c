/*
 * store.c - the point store's lifecycle (open, close, sync, copy), the
 * translation of LMDB's error codes, the point record and meta value
 * encodings, and the write transaction itself (begin, commit, abort). The
 * write operations are in store_write.c; the formats are specified in
 * docs/formats/store.md.
 *
 * Threading: see store.h. Write transactions are serialised by
 * store->write_mu, an error-checking mutex (so that a thread that begins a
 * second write transaction gets an error instead of a deadlock), and by
 * LMDB's own writer lock behind it. The environment is opened with
 * MDB_NOTLS, so read transactions are not tied to threads.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store_int.h"

/* ------------------------------------------------------------- errors */

uint64_t store_used_bytes(store *st)
{
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info(st->env, &info) != 0 || mdb_env_stat(st->env, &stat) != 0)
        return 0;
    return ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize;
}

int store_lmdb_err(vectron_error *err, const store *st, int rc, const char *fmt,
                   ...)
{
    char ctx[160];
    va_list ap;
    int code;

    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    switch (rc) {
    case MDB_MAP_FULL: {
        MDB_envinfo info;
        size_t map = 0;
        if (st && mdb_env_info(st->env, &info) == 0) {
            map = info.me_mapsize;
        }
        return vx_err(err, VECTRON_LIMIT,
                      "%s: the store's map is full (map size %zu bytes); "
                      "raise the map size",
                      ctx, map);
    }
    case MDB_READERS_FULL:
        return vx_err(err, VECTRON_LIMIT,
                      "%s: too many concurrent readers; raise max_readers",
                      ctx);
    case MDB_TXN_FULL:
    case MDB_DBS_FULL:
    case MDB_TLS_FULL:
    case MDB_CURSOR_FULL:
    case MDB_PAGE_FULL:
        code = VECTRON_LIMIT;
        break;
    case MDB_NOTFOUND:
        code = VECTRON_NOT_FOUND;
        break;
    case MDB_KEYEXIST:
    case EEXIST:
        code = VECTRON_EXISTS;
        break;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_INCOMPATIBLE:
        code = VECTRON_CORRUPT;
        break;
    case MDB_VERSION_MISMATCH:
        code = VECTRON_UNSUPPORTED;
        break;
    case MDB_BAD_VALSIZE:
    case EINVAL:
        code = VECTRON_INVALID;
        break;
    case ENOMEM:
        code = VECTRON_NOMEM;
        break;
    default:
        /* LMDB's own codes are negative; positive ones are errno values
         * from the file system. */
        code = rc > 0 ? VECTRON_IO : VECTRON_INTERNAL;
        break;
    }
    return vx_err(err, code, "%s: %s", ctx, mdb_strerror(rc));
}

/* ------------------------------------------------------------ records */

size_t store_record_size(uint32_t dim, size_t payload_len)
{
    return STORE_RECORD_OVERHEAD + 4 * (size_t)dim + payload_len;
}

/* Writes a whole record into p (record_size bytes). The vector is vec:
 * dim floats, or when encoded is 1, 4 * dim bytes already in the record's
 * little-endian form. */
void store_record_fill(uint8_t *p, uint32_t dim, uint64_t internal_id,
                       const void *vec, int encoded, const char *payload,
                       size_t payload_len)
{
    size_t off = 0;

    p[off++] = STORE_RECORD_VERSION;
    vx_put_u32(p + off, dim);
    off += 4;
    vx_put_u64(p + off, internal_id);
    off += 8;
    if (encoded) {
        memcpy(p + off, vec, 4 * (size_t)dim);
    } else {
        const float *f = vec;
        for (uint32_t i = 0; i < dim; i++) {
            uint32_t bits;
            memcpy(&bits, &f[i], 4);
            vx_put_u32(p + off + 4 * (size_t)i, bits);
        }
    }
    off += 4 * (size_t)dim;
    vx_put_u32(p + off, (uint32_t)payload_len);
    off += 4;
    if (payload_len) {
        memcpy(p + off, payload, payload_len);
    }
    off += payload_len;
    vx_put_u32(p + off, vx_crc32c(0, p, off));
}

int store_record_parse(const MDB_val *val, store_record *rec,
                       vectron_error *err)
{
    const uint8_t *p = val->mv_data;
    size_t n = val->mv_size;
    uint32_t dim, plen;

    if (n < STORE_RECORD_OVERHEAD) {
        return vx_err(err, VECTRON_CORRUPT,
                      "point record of %zu bytes is truncated", n);
    }
    if (vx_crc32c(0, p, n - 4) != vx_get_u32(p + n - 4)) {
        return vx_err(err, VECTRON_CORRUPT, "point record checksum mismatch");
    }
    if (p[0] != STORE_RECORD_VERSION) {
        return vx_err(err, VECTRON_UNSUPPORTED,
                      "point record version %u (this build reads %u)", p[0],
                      STORE_RECORD_VERSION);
    }
    dim = vx_get_u32(p + 1);
    if (dim == 0 || dim > STORE_DIM_MAX ||
        4 * (size_t)dim > n - STORE_RECORD_OVERHEAD) {
        return vx_err(err, VECTRON_CORRUPT,
                      "point record dimension %u does not fit its %zu bytes",
                      dim, n);
    }
    plen = vx_get_u32(p + 13 + 4 * (size_t)dim);
    if ((size_t)plen != n - STORE_RECORD_OVERHEAD - 4 * (size_t)dim) {
        return vx_err(err, VECTRON_CORRUPT,
                      "point record payload length %u does not fit its %zu "
                      "bytes",
                      plen, n);
    }
    rec->dim = dim;
    rec->internal_id = vx_get_u64(p + 5);
    rec->vector = p + 13;
    rec->payload = p + 17 + 4 * (size_t)dim;
    rec->payload_len = plen;
    return 0;
}

void store_record_vector(const store_record *rec, float *out)
{
    for (uint32_t i = 0; i < rec->dim; i++) {
        uint32_t bits = vx_get_u32(rec->vector + 4 * (size_t)i);
        memcpy(&out[i], &bits, 4);
    }
}

/* --------------------------------------------------------------- meta */

int store_meta_get(const store *st, MDB_txn *txn, const char *key,
                   size_t key_len, const uint8_t **val, size_t *len,
                   vectron_error *err)
{
    MDB_val k = {key_len, (void *)key}, v;
    const uint8_t *p = NULL;
    int rc;

    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return vx_err(err, VECTRON_NOT_FOUND, "meta %.*s: not set",
                      (int)key_len, key);
    }
    if (rc) {
        return store_lmdb_err(err, st, rc, "meta %.*s", (int)key_len, key);
    }
    p = v.mv_data;
    if (v.mv_size < 4 ||
        vx_crc32c(0, p, v.mv_size - 4) != vx_get_u32(p + v.mv_size - 4)) {
        return vx_err(err, VECTRON_CORRUPT, "meta %.*s: checksum mismatch",
                      (int)key_len, key);
    }
    *val = p;
    *len = v.mv_size - 4;
    return 0;
}

int store_meta_put(const store *st, MDB_txn *txn, const char *key,
                   size_t key_len, const void *data, size_t len,
                   vectron_error *err)
{
    MDB_val k = {key_len, (void *)key}, v = {len + 4, NULL};
    uint8_t *p;
    int rc;

    rc = mdb_put(txn, st->meta, &k, &v, MDB_RESERVE);
    if (rc) {
        return store_lmdb_err(err, st, rc, "write meta %.*s", (int)key_len,
                              key);
    }
    p = v.mv_data;
    if (len) {
        memcpy(p, data, len);
    }
    vx_put_u32(p + len, vx_crc32c(0, p, len));
    return 0;
}

int store_meta_get_u64(const store *st, MDB_txn *txn, const char *key,
                       uint64_t *out, vectron_error *err)
{
    const uint8_t *p = NULL;
    size_t len = 0;
    int rc = store_meta_get(st, txn, key, strlen(key), &p, &len, err);

    if (rc) {
        return rc;
    }
    if (len != 8) {
        return vx_err(err, VECTRON_CORRUPT, "meta %s: %zu bytes, expected 8",
                      key, len);
    }
    *out = vx_get_u64(p);
    return 0;
}

int store_meta_put_u64(const store *st, MDB_txn *txn, const char *key,
                       uint64_t v, vectron_error *err)
{
    uint8_t buf[8];

    vx_put_u64(buf, v);
    return store_meta_put(st, txn, key, strlen(key), buf, 8, err);
}

/* ---------------------------------------------------------- open/close */

void store_options_default(store_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->map_size = sizeof(size_t) >= 8 ? (size_t)64 << 30 : (size_t)1 << 30;
    opt->sync = STORE_SYNC_NONE;
    opt->max_readers = 126;
    opt->dim = 0;
}

/* Creates dir and its missing parents. */
static int make_dirs(const char *dir, vectron_error *err)
{
    size_t n = strlen(dir);
    char *path = vx_malloc(n + 1);
    struct stat sb;
    int rc = 0;

    if (!path) {
        return vx_err(err, VECTRON_NOMEM, "directory %s: out of memory", dir);
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') {
            continue;
        }
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            rc = vx_err(err, VECTRON_IO, "create directory %s: %s", path,
                        strerror(errno));
            goto out;
        }
        path[i] = dir[i];
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        rc = vx_err(err, VECTRON_IO, "%s is not a directory", dir);
        goto out;
    }
out:
    vx_free(path);
    return rc;
}

/* In one write transaction: opens the named databases, checks the format
 * record (or writes the initial meta of a new store) and loads the index
 * definitions. */
static int init_env(store *st, vectron_error *err)
{
    static const char *const names[4] = {"points", "internal", "meta", "pidx"};
    MDB_dbi *dbis[4] = {&st->points, &st->internal, &st->meta, &st->pidx};
    MDB_txn *txn = NULL;
    const uint8_t *p = NULL;
    size_t len;
    int rc;

    rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc) {
        rc = store_lmdb_err(err, st, rc, "begin");
        txn = NULL;
        goto out;
    }
    for (int i = 0; i < 4; i++) {
        rc = mdb_dbi_open(txn, names[i], MDB_CREATE, dbis[i]);
        if (rc) {
            rc = store_lmdb_err(err, st, rc, "open database %s", names[i]);
            goto out;
        }
    }
    rc = store_meta_get(st, txn, STORE_META_FORMAT, strlen(STORE_META_FORMAT),
                        &p, &len, err);
    if (rc == VECTRON_NOT_FOUND) {
        uint8_t fmt[12];
        MDB_stat ms;

        rc = mdb_stat(txn, st->points, &ms);
        if (rc) {
            rc = store_lmdb_err(err, st, rc, "stat points");
            goto out;
        }
        if (ms.ms_entries) {
            rc = vx_err(err, VECTRON_CORRUPT,
                        "points without a format record: not a Vectron store");
            goto out;
        }
        memcpy(fmt, STORE_MAGIC, 8);
        vx_put_u32(fmt + 8, STORE_FORMAT_VERSION);
        rc = store_meta_put(st, txn, STORE_META_FORMAT,
                            strlen(STORE_META_FORMAT), fmt, sizeof fmt, err);
        if (!rc) {
            rc = store_meta_put_u64(st, txn, STORE_META_APPLIED, 0, err);
        }
        if (!rc) {
            rc = store_meta_put_u64(st, txn, STORE_META_NEXT_ID, 1, err);
        }
        if (rc) {
            goto out;
        }
    } else if (rc) {
        goto out;
    } else if (len != 12 || memcmp(p, STORE_MAGIC, 8) != 0) {
        rc = vx_err(err, VECTRON_CORRUPT,
                    "bad format record: not a Vectron store");
        goto out;
    } else if (vx_get_u32(p + 8) != STORE_FORMAT_VERSION) {
        rc = vx_err(err, VECTRON_UNSUPPORTED,
                    "store format version %u (this build reads %u)",
                    vx_get_u32(p + 8), STORE_FORMAT_VERSION);
        goto out;
    }
    rc = store_defs_load(st, txn, &st->defs, err);
    if (rc) {
        goto out;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc) {
        rc = store_lmdb_err(err, st, rc, "commit");
    }
out:
    if (txn) {
        mdb_txn_abort(txn);
    }
    return rc;
}

int store_open(const char *dir, const store_options *opt, store **out,
               vectron_error *err)
{
    pthread_mutexattr_t attr;
    store *st = NULL;
    unsigned flags = MDB_NOTLS;
    int mutex_ok = 0;
    int rc;

    if (!dir || !*dir || !out) {
        return vx_err(err, VECTRON_INVALID, "open store: no directory");
    }
    st = vx_calloc(1, sizeof *st);
    if (!st) {
        return vx_err(err, VECTRON_NOMEM, "open store %s: out of memory", dir);
    }
    store_options_default(&st->opt);
    if (opt) {
        /* Zero sizes mean the defaults. */
        size_t map_size = st->opt.map_size;
        unsigned max_readers = st->opt.max_readers;
        st->opt = *opt;
        if (st->opt.map_size == 0) {
            st->opt.map_size = map_size;
        }
        if (st->opt.max_readers == 0) {
            st->opt.max_readers = max_readers;
        }
    }
    if ((unsigned)st->opt.sync > STORE_SYNC_FULL ||
        st->opt.dim > STORE_DIM_MAX) {
        rc = vx_err(err, VECTRON_INVALID,
                    "open store %s: bad options (sync %d, dim %u)", dir,
                    (int)st->opt.sync, st->opt.dim);
        goto out;
    }
    st->dir = vx_malloc(strlen(dir) + 1);
    if (!st->dir) {
        rc = vx_err(err, VECTRON_NOMEM, "open store %s: out of memory", dir);
        goto out;
    }
    strcpy(st->dir, dir);
    if (pthread_mutexattr_init(&attr) != 0) {
        rc = vx_err(err, VECTRON_NOMEM, "open store %s: mutex", dir);
        goto out;
    }
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    rc = pthread_mutex_init(&st->write_mu, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc) {
        rc = vx_err(err, VECTRON_NOMEM, "open store %s: mutex", dir);
        goto out;
    }
    mutex_ok = 1;
    rc = make_dirs(dir, err);
    if (rc) {
        vx_err_wrap(err, rc, "open store");
        goto out;
    }
    rc = mdb_env_create(&st->env);
    if (rc) {
        st->env = NULL;
        rc = store_lmdb_err(err, NULL, rc, "open store %s", dir);
        goto out;
    }
    rc = mdb_env_set_maxdbs(st->env, 4);
    if (!rc) {
        rc = mdb_env_set_mapsize(st->env, st->opt.map_size);
    }
    if (!rc) {
        rc = mdb_env_set_maxreaders(st->env, st->opt.max_readers);
    }
    if (st->opt.sync == STORE_SYNC_NONE) {
        flags |= MDB_NOSYNC;
    } else if (st->opt.sync == STORE_SYNC_DATA) {
        flags |= MDB_NOMETASYNC;
    }
    if (!rc) {
        rc = mdb_env_open(st->env, dir, flags, 0644);
    }
    if (rc) {
        rc = store_lmdb_err(err, NULL, rc, "open store %s", dir);
        goto out;
    }
    /* Reader slots left by a process that died are freed now rather than
     * pinning old pages until the lock file is recreated. */
    mdb_reader_check(st->env, NULL);
    rc = init_env(st, err);
    if (rc) {
        vx_err_wrap(err, rc, "open store %s", dir);
        goto out;
    }
    *out = st;
    st = NULL;
out:
    if (st) {
        store_defs_free(&st->defs);
        if (st->env) {
            mdb_env_close(st->env);
        }
        if (mutex_ok) {
            pthread_mutex_destroy(&st->write_mu);
        }
        vx_free(st->dir);
        vx_free(st);
    }
    return rc;
}

void store_close(store *st)
{
    if (!st) {
        return;
    }
    store_defs_free(&st->defs);
    mdb_env_close(st->env);
    pthread_mutex_destroy(&st->write_mu);
    vx_free(st->dir);
    vx_free(st);
}

int store_sync(store *st, vectron_error *err)
{
    int rc = mdb_env_sync(st->env, 1);

    if (rc) {
        return store_lmdb_err(err, st, rc, "sync store %s", st->dir);
    }
    return 0;
}

int store_copy(store *st, const char *dest_dir, vectron_error *err)
{
    int rc;

    if (!dest_dir || !*dest_dir) {
        return vx_err(err, VECTRON_INVALID, "copy store: no directory");
    }
    rc = make_dirs(dest_dir, err);
    if (rc) {
        return vx_err_wrap(err, rc, "copy store");
    }
    rc = mdb_env_copy2(st->env, dest_dir, MDB_CP_COMPACT);
    if (rc == EEXIST) {
        return vx_err(err, VECTRON_EXISTS,
                      "copy store to %s: the directory already holds a store",
                      dest_dir);
    }
    if (rc) {
        return store_lmdb_err(err, st, rc, "copy store to %s", dest_dir);
    }
    return 0;
}

const char *store_dir(const store *st)
{
    return st->dir;
}

/* -------------------------------------------------------- transactions */

int store_txn_begin(store *st, store_txn **out, vectron_error *err)
{
    store_txn *txn;
    int locked = 0;
    int rc;

    txn = vx_calloc(1, sizeof *txn);
    if (!txn) {
        return vx_err(err, VECTRON_NOMEM, "begin: out of memory");
    }
    rc = pthread_mutex_lock(&st->write_mu);
    if (rc == EDEADLK) {
        rc = vx_err(err, VECTRON_INVALID,
                    "begin: this thread already holds the write transaction");
        goto out;
    }
    if (rc) {
        rc = vx_err(err, VECTRON_INTERNAL, "begin: lock: %s", strerror(rc));
        goto out;
    }
    locked = 1;
    rc = mdb_txn_begin(st->env, NULL, 0, &txn->rd.txn);
    if (rc) {
        txn->rd.txn = NULL;
        rc = store_lmdb_err(err, st, rc, "begin");
        goto out;
    }
    txn->rd.st = st;
    txn->rd.in_write = 1;
    rc = store_meta_get_u64(st, txn->rd.txn, STORE_META_NEXT_ID, &txn->next_id,
                            err);
    if (rc) {
        vx_err_wrap(err, rc, "begin");
        goto out;
    }
    *out = txn;
    txn = NULL;
out:
    if (txn) {
        if (txn->rd.txn) {
            mdb_txn_abort(txn->rd.txn);
        }
        if (locked) {
            pthread_mutex_unlock(&st->write_mu);
        }
        vx_free(txn);
    }
    return rc;
}

/* Releases what txn holds after its LMDB transaction has ended. */
static void txn_release(store_txn *txn)
{
    int rc;

    if (txn->own_defs) {
        store_defs_free(&txn->defs);
    }
    rc = pthread_mutex_unlock(&txn->rd.st->write_mu);
    /* Unlocking fails only when another thread ends the transaction. */
    assert(rc == 0);
    (void)rc;
    vx_free(txn);
}

int store_txn_commit(store_txn *txn, vectron_error *err)
{
    store *st;
    int rc;

    if (!txn) {
        return vx_err(err, VECTRON_INVALID, "commit: no transaction");
    }
    st = txn->rd.st;
    if (txn->failed) {
        rc = vx_err(err, txn->failed,
                    "commit: an earlier operation failed (%s); nothing was "
                    "committed",
                    vectron_error_name(txn->failed));
        mdb_txn_abort(txn->rd.txn);
        goto out;
    }
    /* mdb_txn_commit ends the LMDB transaction whatever it returns. */
    rc = mdb_txn_commit(txn->rd.txn);
    if (rc) {
        rc = store_lmdb_err(err, st, rc, "commit");
        goto out;
    }
    if (txn->own_defs) {
        store_defs_free(&st->defs);
        st->defs = txn->defs;
        txn->defs.v = NULL;
        txn->defs.n = 0;
        txn->own_defs = 0;
    }
out:
    txn_release(txn);
    return rc;
}

void store_txn_abort(store_txn *txn)
{
    if (!txn) {
        return;
    }
    mdb_txn_abort(txn->rd.txn);
    txn_release(txn);
}

store_read *store_txn_read(store_txn *txn)
{
    return &txn->rd;
}

int store_txn_check(store_txn *txn, vectron_error *err)
{
    if (txn->failed) {
        return vx_err(err, txn->failed,
                      "an earlier operation of this transaction failed (%s); "
                      "abort it",
                      vectron_error_name(txn->failed));
    }
    return 0;
}

const store_defs *store_txn_defs(const store_txn *txn)
{
    return txn->own_defs ? &txn->defs : &txn->rd.st->defs;
}

int store_txn_own_defs(store_txn *txn, vectron_error *err)
{
    const store_defs *src = &txn->rd.st->defs;
    store_defs copy = {NULL, 0};
    int rc = 0;

    if (txn->own_defs) {
        return 0;
    }
    if (src->n) {
        copy.v = vx_calloc(src->n, sizeof *copy.v);
        if (!copy.v) {
            rc = vx_err(err, VECTRON_NOMEM, "index definitions: out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < src->n; i++) {
        store_def *d = &copy.v[copy.n];
        d->field = vx_malloc(src->v[i].field_len + 1);
        if (!d->field) {
            rc = vx_err(err, VECTRON_NOMEM, "index definitions: out of memory");
            goto out;
        }
        memcpy(d->field, src->v[i].field, src->v[i].field_len + 1);
        d->field_len = src->v[i].field_len;
        d->type = src->v[i].type;
        copy.n++;
    }
    txn->defs = copy;
    copy.v = NULL;
    copy.n = 0;
    txn->own_defs = 1;
out:
    store_defs_free(&copy);
    return rc;
}
