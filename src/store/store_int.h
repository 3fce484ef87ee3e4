/*
 * store_int.h - private header of the point store: the handle layouts and
 * the internal functions shared by store.c (open, close, records, meta,
 * transactions), store_write.c (write operations), store_read.c (read
 * handles and queries), store_index.c (payload indexes) and store_json.c
 * (payload JSON).
 *
 * Threading: see store.h. store->defs, the committed list of payload
 * indexes, is read and replaced only by the thread that holds the write
 * transaction (store->write_mu); readers take index definitions from the
 * meta database of their own LMDB transaction instead.
 */
#ifndef VECTRON_STORE_INT_H
#define VECTRON_STORE_INT_H

#include <jansson.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>

#include "common/common.h"
#include "store/store.h"

/* The record format version written into every point record, and the
 * store's format version kept in meta under "format". */
#define STORE_RECORD_VERSION 1
#define STORE_FORMAT_VERSION 1
#define STORE_MAGIC "VXSTORE"

/* Bytes of a point record around its vector and payload: version (1),
 * dim (4), internal id (8), payload length (4), CRC32C (4). */
#define STORE_RECORD_OVERHEAD 21

/* Meta keys. Index definitions live under STORE_META_INDEX + field. */
#define STORE_META_FORMAT "format"
#define STORE_META_APPLIED "applied"
#define STORE_META_NEXT_ID "next_id"
#define STORE_META_CONFIG "config"
#define STORE_META_INDEX "index/"

/* A payload index definition as the writer keeps it. */
typedef struct store_def {
    char *field; /* NUL-terminated, owned */
    size_t field_len;
    store_index_type type;
} store_def;

typedef struct store_defs {
    store_def *v; /* owned */
    size_t n;
} store_defs;

struct store {
    MDB_env *env;
    MDB_dbi points;   /* point key -> record */
    MDB_dbi internal; /* internal id (u64 BE) -> point key */
    MDB_dbi meta;     /* ASCII key -> value + CRC32C */
    MDB_dbi pidx;     /* index entry key -> empty */
    store_options opt;
    char *dir;
    pthread_mutex_t write_mu; /* error-checking: detects re-entry */
    store_defs defs;          /* committed indexes; writer only */
};

struct store_read {
    store *st;
    MDB_txn *txn;
    int in_write; /* 1: the view of a store_txn, owned by it */
};

struct store_txn {
    store_read rd;    /* rd.txn is the LMDB write transaction */
    int failed;       /* code of a half-applied failure, or 0 */
    uint64_t next_id; /* the next internal id to assign */
    store_defs defs;  /* txn's own copy once it changes indexes */
    int own_defs;     /* 1 when defs is txn's copy */
};

/* A point record parsed in place: pointers into the LMDB value. */
typedef struct store_record {
    uint32_t dim;
    uint64_t internal_id;
    const uint8_t *vector; /* 4 * dim bytes, little-endian floats */
    const uint8_t *payload;
    size_t payload_len;
} store_record;

/* A list of encoded payload-index key prefixes (field, 0, type, value),
 * each stored as a 2-byte length and its bytes. */
typedef struct store_keys {
    uint8_t *buf;
    size_t len;
    size_t cap;
    size_t n;
} store_keys;

/* ---- store.c */

/* Translates an LMDB or errno code rc into a vectron code, fills err with
 * the formatted context and LMDB's description, and returns the code. */
int store_lmdb_err(vectron_error *err, const store *st, int rc, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

/* Bytes of a record with dim floats and payload_len payload bytes. */
size_t store_record_size(uint32_t dim, size_t payload_len);

/* Writes a whole record into p (store_record_size bytes). The vector is
 * vec: dim floats, or when encoded is 1, 4 * dim bytes already in the
 * record's little-endian form. */
void store_record_fill(uint8_t *p, uint32_t dim, uint64_t internal_id,
                       const void *vec, int encoded, const char *payload,
                       size_t payload_len);

/* Checks and parses a point record (CRC, version, sizes). Errors: CORRUPT,
 * UNSUPPORTED. */
int store_record_parse(const MDB_val *val, store_record *rec,
                       vectron_error *err);

/* Decodes rec's vector into out (rec->dim floats). */
void store_record_vector(const store_record *rec, float *out);

/* Reads meta value key (its CRC checked and stripped) into *val and *len;
 * the pointer is LMDB's, valid until txn ends or writes. Errors:
 * NOT_FOUND, CORRUPT, IO. */
int store_meta_get(const store *st, MDB_txn *txn, const char *key,
                   size_t key_len, const uint8_t **val, size_t *len,
                   vectron_error *err);

/* Writes meta value key = data + CRC32C. Errors: LIMIT, IO. */
int store_meta_put(const store *st, MDB_txn *txn, const char *key,
                   size_t key_len, const void *data, size_t len,
                   vectron_error *err);

/* Reads a meta value that holds one u64. Errors: NOT_FOUND, CORRUPT, IO. */
int store_meta_get_u64(const store *st, MDB_txn *txn, const char *key,
                       uint64_t *out, vectron_error *err);

/* Writes a meta value that holds one u64. Errors: LIMIT, IO. */
int store_meta_put_u64(const store *st, MDB_txn *txn, const char *key,
                       uint64_t v, vectron_error *err);

/* The index definitions txn currently sees. */
const store_defs *store_txn_defs(const store_txn *txn);

/* Makes txn->defs txn's own copy (copy on write). Errors: NOMEM. */
int store_txn_own_defs(store_txn *txn, vectron_error *err);

/* Returns txn's failure code after reporting it in err, or 0. */
int store_txn_check(store_txn *txn, vectron_error *err);

/* ---- store_read.c */

/* The LMDB transaction a read function uses: rd's, or (rd NULL) a new
 * read-only one that store_read_release ends. Errors: LIMIT, IO. */
int store_read_acquire(store *st, store_read *rd, MDB_txn **txn,
                       vectron_error *err);

void store_read_release(const store_read *rd, MDB_txn *txn);

/* ---- store_index.c */

/* Loads the index definitions stored in meta. Errors: CORRUPT, NOMEM,
 * IO. */
int store_defs_load(const store *st, MDB_txn *txn, store_defs *out,
                    vectron_error *err);

void store_defs_free(store_defs *defs);

/* Appends the index entry prefixes for every value of payload (a JSON
 * object, or NULL for none) under each of defs. Errors: NOMEM. */
int store_index_collect(const store_def *defs, size_t n_defs,
                        const json_t *payload, store_keys *keys,
                        vectron_error *err);

/* Puts (put = 1) or deletes (put = 0) the entries keys for internal_id.
 * Deleting a missing entry is not an error. Errors: LIMIT, IO. */
int store_index_write(const store *st, MDB_txn *txn, const store_keys *keys,
                      uint64_t internal_id, int put, vectron_error *err);

void store_keys_free(store_keys *keys);

/* ---- store_json.c */

/* Parses len bytes as a JSON object into *out (a new reference); len 0
 * gives an empty object. Errors: INVALID, NOMEM. */
int store_json_parse(const char *text, size_t len, json_t **out,
                     vectron_error *err);

/* Serialises an object compactly into *out (vx_malloc'd, NUL-terminated,
 * caller frees with vx_free), keeping key order and writing reals in
 * their shortest round-trip form. Errors: NOMEM. */
int store_json_dump(const json_t *json, char **out, size_t *len,
                    vectron_error *err);

/* Removes the dotted path from obj (descending into arrays of objects);
 * returns how many keys were removed. */
size_t store_json_remove(json_t *obj, const char *path, size_t path_len);

/* ---- big-endian helpers for keys (values on disk are little-endian). */

static inline void store_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (56 - 8 * i));
    }
}

static inline uint64_t store_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

#endif
