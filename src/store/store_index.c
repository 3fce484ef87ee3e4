/*
 * store_index.c - payload indexes of the point store: their definitions
 * (meta "index/<field>"), the order-preserving encoding of indexed values,
 * collecting a payload's entries, maintaining them inside write
 * transactions, and the equality and range queries.
 *
 * An entry is the key
 *   field, 0x00, type, encoded value, internal id (u64 big-endian)
 * with an empty value in the pidx database, so that all entries of one
 * field and type are contiguous and ordered by value, then by internal id.
 * Value encodings (docs/formats/store.md):
 *   integer  the i64 with its sign bit flipped, big-endian;
 *   float    the IEEE-754 bits, all flipped for negatives, sign bit set
 *            for the rest, big-endian (-0.0 is stored as 0.0);
 *   bool     one byte, 0 or 1;
 *   keyword  the bytes with each 0x00 written as 0x00 0xFF, then 0x00
 *            0x01. A keyword longer than KW_MAX encoded bytes keeps its
 *            first bytes (up to KW_MAX), then 0x00 0x02 and a 64-bit hash
 *            of the whole value, so that equality stays exact and keys
 *            stay below LMDB's 511-byte limit.
 * Every encoded value is prefix-free, so an equality lookup reads exactly
 * the entries of its value.
 *
 * Threading: see store.h. Definitions for the writer come from
 * store_txn_defs; queries read them from the meta database of their own
 * transaction.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "store/store_int.h"

/* Longest encoded keyword kept in full (see above). */
#define KW_MAX 290

/* Longest entry key: field, 0, type, value (KW_MAX + 10), internal id. */
#define ENTRY_MAX (STORE_FIELD_MAX + 2 + KW_MAX + 10 + 8)

/* The single byte of an empty LMDB value (LMDB copies zero bytes of it). */
static uint8_t empty_byte;

/* ------------------------------------------------------------- names */

const char *store_index_type_name(store_index_type type)
{
    switch (type) {
    case STORE_KEYWORD:
        return "keyword";
    case STORE_INTEGER:
        return "integer";
    case STORE_FLOAT:
        return "float";
    case STORE_BOOL:
        return "bool";
    }
    return NULL;
}

int store_index_type_parse(const char *name, store_index_type *type,
                           vectron_error *err)
{
    for (int t = STORE_KEYWORD; t <= STORE_BOOL; t++) {
        if (name && strcmp(name, store_index_type_name(t)) == 0) {
            *type = (store_index_type)t;
            return 0;
        }
    }
    return vx_err(err, VECTRON_INVALID,
                  "unknown index type \"%s\" (keyword, integer, float, bool)",
                  name ? name : "");
}

static int valid_type(int type)
{
    return type >= STORE_KEYWORD && type <= STORE_BOOL;
}

/* A field is 1..STORE_FIELD_MAX bytes, without NUL, and its dotted
 * segments are not empty. */
static int check_field(const char *field, vectron_error *err)
{
    size_t n = field ? strlen(field) : 0;

    if (n == 0 || n > STORE_FIELD_MAX) {
        return vx_err(err, VECTRON_INVALID, "index field must be 1 to %u bytes",
                      STORE_FIELD_MAX);
    }
    if (field[0] == '.' || field[n - 1] == '.' || strstr(field, "..")) {
        return vx_err(err, VECTRON_INVALID,
                      "index field \"%s\" has an empty path segment", field);
    }
    return 0;
}

/* ---------------------------------------------------------- encoding */

static size_t put_head(uint8_t *out, const char *field, size_t field_len,
                       store_index_type type)
{
    memcpy(out, field, field_len);
    out[field_len] = 0;
    out[field_len + 1] = (uint8_t)type;
    return field_len + 2;
}

static size_t enc_int(uint8_t *out, int64_t v)
{
    store_put_be64(out, (uint64_t)v ^ (1ULL << 63));
    return 8;
}

static size_t enc_float(uint8_t *out, double d)
{
    uint64_t bits;

    if (d == 0) {
        d = 0.0; /* -0.0 == 0.0, so they share one key */
    }
    memcpy(&bits, &d, 8);
    bits = (bits >> 63) ? ~bits : bits | (1ULL << 63);
    store_put_be64(out, bits);
    return 8;
}

/* FNV-1a over the bytes, then a final mix. */
static uint64_t hash64(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
    }
    return vx_mix64(h);
}

static size_t enc_keyword(uint8_t *out, const char *s, size_t n)
{
    size_t esc = n, o = 0, i;

    for (i = 0; i < n; i++) {
        esc += s[i] == 0;
    }
    for (i = 0; i < n; i++) {
        size_t need = s[i] ? 1 : 2;
        if (esc > KW_MAX && o + need > KW_MAX) {
            break;
        }
        out[o++] = (uint8_t)s[i];
        if (!s[i]) {
            out[o++] = 0xFF;
        }
    }
    out[o++] = 0;
    if (esc <= KW_MAX) {
        out[o++] = 1;
        return o;
    }
    out[o++] = 2;
    store_put_be64(out + o, hash64(s, n));
    return o + 8;
}

/* ----------------------------------------------------------- entries */

static int keys_add(store_keys *keys, const uint8_t *k, size_t n,
                    vectron_error *err)
{
    if (keys->len + 2 + n > keys->cap) {
        size_t cap = keys->cap ? keys->cap * 2 : 1024;
        uint8_t *p;
        while (cap < keys->len + 2 + n) {
            cap *= 2;
        }
        p = vx_realloc(keys->buf, cap);
        if (!p) {
            return vx_err(err, VECTRON_NOMEM, "index entries: out of memory");
        }
        keys->buf = p;
        keys->cap = cap;
    }
    keys->buf[keys->len] = (uint8_t)(n >> 8);
    keys->buf[keys->len + 1] = (uint8_t)n;
    memcpy(keys->buf + keys->len + 2, k, n);
    keys->len += 2 + n;
    keys->n++;
    return 0;
}

void store_keys_free(store_keys *keys)
{
    vx_free(keys->buf);
    memset(keys, 0, sizeof *keys);
}

/* Adds the entry of one JSON scalar v under def, if v has def's type. */
static int collect_value(const store_def *def, const json_t *v,
                         store_keys *keys, vectron_error *err)
{
    uint8_t k[ENTRY_MAX];
    size_t o = put_head(k, def->field, def->field_len, def->type);

    switch (def->type) {
    case STORE_KEYWORD:
        if (!json_is_string(v) || vx_json_is_bignum(v)) {
            return 0;
        }
        o += enc_keyword(k + o, json_string_value(v), json_string_length(v));
        break;
    case STORE_INTEGER:
        if (!json_is_integer(v)) {
            return 0;
        }
        o += enc_int(k + o, json_integer_value(v));
        break;
    case STORE_FLOAT:
        if (json_is_integer(v)) {
            o += enc_float(k + o, (double)json_integer_value(v));
        } else if (json_is_real(v)) {
            o += enc_float(k + o, json_real_value(v));
        } else if (vx_json_is_bignum(v)) {
            /* An integer outside int64: the filter compares it as a
             * number, so the float index must hold it too. */
            o += enc_float(k + o, strtod(json_string_value(v) + 1, NULL));
        } else {
            return 0;
        }
        break;
    case STORE_BOOL:
        if (!json_is_boolean(v)) {
            return 0;
        }
        k[o++] = json_is_true(v) ? 1 : 0;
        break;
    }
    return keys_add(keys, k, o, err);
}

/* Follows path (len bytes, dotted) from node, descending into arrays, and
 * adds the entries of every value found at its end. */
static int collect_path(const store_def *def, const json_t *node,
                        const char *path, size_t len, store_keys *keys,
                        vectron_error *err)
{
    const char *dot;
    size_t seg;
    const json_t *child;
    int rc = 0;

    if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node) && !rc; i++) {
            rc = collect_path(def, json_array_get(node, i), path, len, keys,
                              err);
        }
        return rc;
    }
    if (len == 0) {
        return collect_value(def, node, keys, err);
    }
    if (!json_is_object(node)) {
        return 0;
    }
    dot = memchr(path, '.', len);
    seg = dot ? (size_t)(dot - path) : len;
    child = json_object_getn(
        node, path,
        seg >= 2 && memcmp(path + seg - 2, "[]", 2) == 0 ? seg - 2 : seg);
    if (!child) {
        return 0;
    }
    return collect_path(def, child, dot ? dot + 1 : path + len,
                        dot ? len - seg - 1 : 0, keys, err);
}

int store_index_collect(const store_def *defs, size_t n_defs,
                        const json_t *payload, store_keys *keys,
                        vectron_error *err)
{
    int rc = 0;

    for (size_t i = 0; i < n_defs && payload && !rc; i++) {
        rc = collect_path(&defs[i], payload, defs[i].field, defs[i].field_len,
                          keys, err);
    }
    return rc;
}

int store_index_write(const store *st, MDB_txn *txn, const store_keys *keys,
                      uint64_t internal_id, int put, vectron_error *err)
{
    uint8_t k[ENTRY_MAX + 8];
    MDB_val key, val = {0, &empty_byte};
    size_t off = 0;
    int rc;

    for (size_t i = 0; i < keys->n; i++) {
        size_t n = (size_t)keys->buf[off] << 8 | keys->buf[off + 1];
        memcpy(k, keys->buf + off + 2, n);
        store_put_be64(k + n, internal_id);
        off += 2 + n;
        key.mv_size = n + 8;
        key.mv_data = k;
        if (put) {
            rc = mdb_put(txn, st->pidx, &key, &val, 0);
        } else {
            rc = mdb_del(txn, st->pidx, &key, NULL);
            /* A value listed twice (an array [1, 1]) has one entry. */
            if (rc == MDB_NOTFOUND) {
                rc = 0;
            }
        }
        if (rc) {
            return store_lmdb_err(err, st, rc, "payload index entry");
        }
    }
    return 0;
}

/* -------------------------------------------------------- definitions */

static void def_key(char *out, const char *field, size_t field_len)
{
    memcpy(out, STORE_META_INDEX, sizeof STORE_META_INDEX - 1);
    memcpy(out + sizeof STORE_META_INDEX - 1, field, field_len);
}

void store_defs_free(store_defs *defs)
{
    for (size_t i = 0; i < defs->n; i++) {
        vx_free(defs->v[i].field);
    }
    vx_free(defs->v);
    defs->v = NULL;
    defs->n = 0;
}

/* Appends a definition to defs (field copied). */
static int defs_add(store_defs *defs, const char *field, size_t field_len,
                    store_index_type type, vectron_error *err)
{
    store_def *v = vx_realloc(defs->v, (defs->n + 1) * sizeof *v);
    char *f;

    if (!v) {
        return vx_err(err, VECTRON_NOMEM, "index definitions: out of memory");
    }
    defs->v = v;
    f = vx_malloc(field_len + 1);
    if (!f) {
        return vx_err(err, VECTRON_NOMEM, "index definitions: out of memory");
    }
    memcpy(f, field, field_len);
    f[field_len] = '\0';
    v[defs->n].field = f;
    v[defs->n].field_len = field_len;
    v[defs->n].type = type;
    defs->n++;
    return 0;
}

int store_defs_load(const store *st, MDB_txn *txn, store_defs *out,
                    vectron_error *err)
{
    const size_t plen = sizeof STORE_META_INDEX - 1;
    store_defs defs = {NULL, 0};
    MDB_cursor *cur = NULL;
    MDB_val k = {plen, STORE_META_INDEX}, v;
    int rc;

    rc = mdb_cursor_open(txn, st->meta, &cur);
    if (rc) {
        cur = NULL;
        rc = store_lmdb_err(err, st, rc, "index definitions");
        goto out;
    }
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= plen &&
           memcmp(k.mv_data, STORE_META_INDEX, plen) == 0) {
        const uint8_t *p = v.mv_data;
        const char *field = (const char *)k.mv_data + plen;
        size_t field_len = k.mv_size - plen;

        if (v.mv_size != 5 || vx_crc32c(0, p, 1) != vx_get_u32(p + 1) ||
            !valid_type(p[0]) || field_len == 0 ||
            field_len > STORE_FIELD_MAX || memchr(field, 0, field_len)) {
            rc =
                vx_err(err, VECTRON_CORRUPT, "index definition %.*s is damaged",
                       (int)k.mv_size, (const char *)k.mv_data);
            goto out;
        }
        rc = defs_add(&defs, field, field_len, (store_index_type)p[0], err);
        if (rc) {
            goto out;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND) {
        rc = store_lmdb_err(err, st, rc, "index definitions");
        goto out;
    }
    rc = 0;
    *out = defs;
    defs.v = NULL;
    defs.n = 0;
out:
    if (cur) {
        mdb_cursor_close(cur);
    }
    store_defs_free(&defs);
    return rc;
}

/* ------------------------------------------------------ create / drop */

/* Indexes every point of txn under def. */
static int backfill(store_txn *txn, const store_def *def, vectron_error *err)
{
    store *st = txn->rd.st;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    store_keys keys = {0};
    int rc;

    rc = mdb_cursor_open(txn->rd.txn, st->points, &cur);
    if (rc) {
        cur = NULL;
        rc = store_lmdb_err(err, st, rc, "index existing points");
        goto out;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        store_record rec;
        json_t *json = NULL;

        rc = store_record_parse(&v, &rec, err);
        if (rc) {
            goto out;
        }
        if (rec.payload_len == 0) {
            continue;
        }
        rc = store_json_parse((const char *)rec.payload, rec.payload_len, &json,
                              err);
        if (rc == VECTRON_INVALID) {
            rc = vx_err(err, VECTRON_CORRUPT,
                        "stored payload is not a JSON object");
        }
        if (!rc) {
            keys.len = 0;
            keys.n = 0;
            rc = store_index_collect(def, 1, json, &keys, err);
        }
        json_decref(json);
        if (!rc) {
            rc = store_index_write(st, txn->rd.txn, &keys, rec.internal_id, 1,
                                   err);
        }
        if (rc) {
            goto out;
        }
    }
    if (rc == MDB_NOTFOUND) {
        rc = 0;
    } else {
        rc = store_lmdb_err(err, st, rc, "index existing points");
    }
out:
    if (cur) {
        mdb_cursor_close(cur);
    }
    store_keys_free(&keys);
    return rc;
}

static const store_def *find_def(const store_defs *defs, const char *field)
{
    for (size_t i = 0; i < defs->n; i++) {
        if (strcmp(defs->v[i].field, field) == 0) {
            return &defs->v[i];
        }
    }
    return NULL;
}

int store_index_create(store_txn *txn, const char *field, store_index_type type,
                       vectron_error *err)
{
    const store_def *def;
    char mkey[sizeof STORE_META_INDEX + STORE_FIELD_MAX];
    uint8_t mval = (uint8_t)type;
    size_t field_len;
    int written = 0;
    int rc;

    if (!txn) {
        return vx_err(err, VECTRON_INVALID, "create index: no transaction");
    }
    rc = store_txn_check(txn, err);
    if (!rc) {
        rc = check_field(field, err);
    }
    if (!rc && !valid_type(type)) {
        rc = vx_err(err, VECTRON_INVALID, "bad index type %d", (int)type);
    }
    if (rc) {
        return vx_err_wrap(err, rc, "create index");
    }
    field_len = strlen(field);
    def = find_def(store_txn_defs(txn), field);
    if (def && def->type == type) {
        return 0;
    }
    if (def) {
        return vx_err(err, VECTRON_EXISTS,
                      "create index on %s: the field has a %s index", field,
                      store_index_type_name(def->type));
    }
    rc = store_txn_own_defs(txn, err);
    if (!rc) {
        rc = defs_add(&txn->defs, field, field_len, type, err);
    }
    if (rc) {
        goto out;
    }

    written = 1;
    def_key(mkey, field, field_len);
    rc = store_meta_put(txn->rd.st, txn->rd.txn, mkey,
                        sizeof STORE_META_INDEX - 1 + field_len, &mval, 1, err);
    if (!rc) {
        rc = backfill(txn, &txn->defs.v[txn->defs.n - 1], err);
    }
out:
    if (rc) {
        vx_err_wrap(err, rc, "create index on %s", field);
        if (written) {
            txn->failed = rc;
        }
    }
    return rc;
}

int store_index_drop(store_txn *txn, const char *field, vectron_error *err)
{
    store *st;
    const store_def *def;
    char mkey[sizeof STORE_META_INDEX + STORE_FIELD_MAX];
    uint8_t head[STORE_FIELD_MAX + 2];
    size_t field_len, hlen, idx;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int written = 0;
    int rc;

    if (!txn || !field) {
        return vx_err(err, VECTRON_INVALID, "drop index: bad arguments");
    }
    rc = store_txn_check(txn, err);
    if (rc) {
        return rc;
    }
    st = txn->rd.st;
    def = find_def(store_txn_defs(txn), field);
    if (!def) {
        return vx_err(err, VECTRON_NOT_FOUND, "drop index on %s: no such index",
                      field);
    }
    field_len = def->field_len;
    hlen = put_head(head, field, field_len, def->type);
    rc = store_txn_own_defs(txn, err);
    if (rc) {
        goto out;
    }
    idx = (size_t)(find_def(&txn->defs, field) - txn->defs.v);
    vx_free(txn->defs.v[idx].field);
    memmove(&txn->defs.v[idx], &txn->defs.v[idx + 1],
            (txn->defs.n - idx - 1) * sizeof *txn->defs.v);
    txn->defs.n--;

    written = 1;
    def_key(mkey, field, field_len);
    k.mv_size = sizeof STORE_META_INDEX - 1 + field_len;
    k.mv_data = mkey;
    rc = mdb_del(txn->rd.txn, st->meta, &k, NULL);
    if (rc) {
        rc = store_lmdb_err(err, st, rc, "drop index on %s", field);
        goto out;
    }
    rc = mdb_cursor_open(txn->rd.txn, st->pidx, &cur);
    if (rc) {
        cur = NULL;
        rc = store_lmdb_err(err, st, rc, "drop index on %s", field);
        goto out;
    }
    /* Seek again after each delete: simple, and dropping is rare. */
    for (;;) {
        k.mv_size = hlen;
        k.mv_data = head;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND ||
            (rc == 0 && (k.mv_size < hlen || memcmp(k.mv_data, head, hlen)))) {
            rc = 0;
            break;
        }
        if (!rc) {
            rc = mdb_cursor_del(cur, 0);
        }
        if (rc) {
            rc = store_lmdb_err(err, st, rc, "drop index on %s", field);
            goto out;
        }
    }
out:
    if (cur) {
        mdb_cursor_close(cur);
    }
    if (rc && written) {
        txn->failed = rc;
    }
    return rc;
}

/* ----------------------------------------------------------- queries */

/* The type of the index on field in txn. Errors: NOT_FOUND, CORRUPT. */
static int index_type(const store *st, MDB_txn *txn, const char *field,
                      store_index_type *type, vectron_error *err)
{
    char mkey[sizeof STORE_META_INDEX + STORE_FIELD_MAX];
    size_t field_len = field ? strlen(field) : 0;
    const uint8_t *p = NULL;
    size_t len;
    int rc;

    if (field_len == 0 || field_len > STORE_FIELD_MAX) {
        return vx_err(err, VECTRON_NOT_FOUND, "no index on field \"%s\"",
                      field ? field : "");
    }
    def_key(mkey, field, field_len);
    rc = store_meta_get(st, txn, mkey, sizeof STORE_META_INDEX - 1 + field_len,
                        &p, &len, err);
    if (rc == VECTRON_NOT_FOUND) {
        return vx_err(err, VECTRON_NOT_FOUND, "no index on field \"%s\"",
                      field);
    }
    if (rc) {
        return rc;
    }
    if (len != 1 || !valid_type(p[0])) {
        return vx_err(err, VECTRON_CORRUPT, "index definition %s is damaged",
                      field);
    }
    *type = (store_index_type)p[0];
    return 0;
}

/* Bound kinds for encode_query. */
enum { Q_EQ, Q_LO, Q_HI };

/* Encodes the query value v for an index of type type into out. For an
 * integer index a float is rounded toward the inside of the range (and
 * *incl becomes 1); *none is set when nothing can match, *open when the
 * bound lies beyond every value and can be dropped. */
static int encode_query(store_index_type type, const store_value *v, int kind,
                        int *incl, uint8_t *out, size_t *len, int *none,
                        int *open, vectron_error *err)
{
    const double two63 = 9223372036854775808.0;

    *none = 0;
    *open = 0;
    if (v->type == STORE_FLOAT && isnan(v->f)) {
        return vx_err(err, VECTRON_INVALID, "NaN cannot be looked up");
    }
    switch (type) {
    case STORE_KEYWORD:
    case STORE_BOOL:
        if (v->type != type || (type == STORE_KEYWORD && v->s_len && !v->s)) {
            break;
        }
        *len = type == STORE_BOOL ? 1 : enc_keyword(out, v->s, v->s_len);
        if (type == STORE_BOOL) {
            out[0] = v->b ? 1 : 0;
        }
        return 0;
    case STORE_FLOAT:
        if (v->type == STORE_FLOAT) {
            *len = enc_float(out, v->f);
            return 0;
        }
        if (v->type == STORE_INTEGER) {
            *len = enc_float(out, (double)v->i);
            return 0;
        }
        break;
    case STORE_INTEGER: {
        double f = v->f, c;
        if (v->type == STORE_INTEGER) {
            *len = enc_int(out, v->i);
            return 0;
        }
        if (v->type != STORE_FLOAT) {
            break;
        }
        if (kind == Q_EQ) {
            *none = f != floor(f) || f < -two63 || f >= two63;
            c = f;
        } else if (kind == Q_LO) {
            c = ceil(f);
            if (c == f && !*incl) {
                c += 1;
            }
            *none = c >= two63;
            *open = c < -two63;
        } else {
            c = floor(f);
            if (c == f && !*incl) {
                c -= 1;
            }
            *none = c < -two63;
            *open = c >= two63;
        }
        *incl = 1;
        if (!*none && !*open) {
            *len = enc_int(out, (int64_t)c);
        }
        return 0;
    }
    }
    return vx_err(err, VECTRON_INVALID,
                  "a %s index cannot be queried with a value of type %d",
                  store_index_type_name(type), (int)v->type);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Compares two encoded values as byte strings. */
static int cmp_enc(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

/* Collects the internal ids of the entries from the key lo (head + lo
 * value, or head alone) up to hi, as store_index_range documents. */
static int scan_entries(const store *st, MDB_txn *txn, const uint8_t *head,
                        size_t hlen, const uint8_t *lo, size_t lo_len,
                        int lo_incl, const uint8_t *hi, size_t hi_len,
                        int hi_incl, int eq, uint64_t **ids, size_t *n,
                        vectron_error *err)
{
    uint8_t start[ENTRY_MAX];
    uint64_t *out = NULL;
    size_t count = 0, cap = 0;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc;

    memcpy(start, head, hlen);
    if (lo) {
        memcpy(start + hlen, lo, lo_len);
    }
    rc = mdb_cursor_open(txn, st->pidx, &cur);
    if (rc) {
        cur = NULL;
        rc = store_lmdb_err(err, st, rc, "index lookup");
        goto out;
    }
    k.mv_size = hlen + (lo ? lo_len : 0);
    k.mv_data = start;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *key = k.mv_data;
        const uint8_t *val = key + hlen;
        size_t val_len;

        if (k.mv_size < hlen + 8 || memcmp(key, head, hlen) != 0) {
            break;
        }
        val_len = k.mv_size - hlen - 8;
        if (eq && cmp_enc(val, val_len, lo, lo_len) != 0) {
            break;
        }
        if (lo && !lo_incl && cmp_enc(val, val_len, lo, lo_len) == 0) {
            continue;
        }
        if (hi) {
            int c = cmp_enc(val, val_len, hi, hi_len);
            if (c > 0 || (c == 0 && !hi_incl)) {
                break;
            }
        }
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            uint64_t *p = vx_realloc(out, ncap * sizeof *p);
            if (!p) {
                rc = vx_err(err, VECTRON_NOMEM, "index lookup: out of memory");
                goto out;
            }
            out = p;
            cap = ncap;
        }
        out[count++] = store_get_be64(key + k.mv_size - 8);
    }
    if (rc && rc != MDB_NOTFOUND) {
        rc = store_lmdb_err(err, st, rc, "index lookup");
        goto out;
    }
    rc = 0;
    if (!eq && count > 1) {
        size_t w = 1;
        qsort(out, count, sizeof *out, cmp_u64);
        for (size_t i = 1; i < count; i++) {
            if (out[i] != out[w - 1]) {
                out[w++] = out[i];
            }
        }
        count = w;
    }
    if (count == 0) {
        vx_free(out);
        out = NULL;
    }
    *ids = out;
    *n = count;
    out = NULL;
out:
    if (cur) {
        mdb_cursor_close(cur);
    }
    vx_free(out);
    return rc;
}

int store_index_range(store *st, store_read *rd, const char *field,
                      const store_value *lo, int lo_incl, const store_value *hi,
                      int hi_incl, uint64_t **ids, size_t *n,
                      vectron_error *err)
{
    uint8_t head[STORE_FIELD_MAX + 2], lo_enc[KW_MAX + 10], hi_enc[KW_MAX + 10];
    size_t lo_len = 0, hi_len = 0, hlen;
    int none = 0, open = 0;
    store_index_type type;
    MDB_txn *txn = NULL;
    int rc;

    if (!ids || !n || !field) {
        return vx_err(err, VECTRON_INVALID, "index range: bad arguments");
    }
    *ids = NULL;
    *n = 0;
    rc = store_read_acquire(st, rd, &txn, err);
    if (rc) {
        return vx_err_wrap(err, rc, "index range on %s", field);
    }
    rc = index_type(st, txn, field, &type, err);
    if (rc) {
        goto out;
    }
    hlen = put_head(head, field, strlen(field), type);
    if (lo) {
        rc = encode_query(type, lo, Q_LO, &lo_incl, lo_enc, &lo_len, &none,
                          &open, err);
        if (rc || none) {
            goto out;
        }
        if (open) {
            lo = NULL;
        }
    }
    if (hi) {
        rc = encode_query(type, hi, Q_HI, &hi_incl, hi_enc, &hi_len, &none,
                          &open, err);
        if (rc || none) {
            goto out;
        }
        if (open) {
            hi = NULL;
        }
    }
    rc = scan_entries(st, txn, head, hlen, lo ? lo_enc : NULL, lo_len, lo_incl,
                      hi ? hi_enc : NULL, hi_len, hi_incl, 0, ids, n, err);
out:
    store_read_release(rd, txn);
    if (rc) {
        vx_err_wrap(err, rc, "index range on %s", field);
    }
    return rc;
}

int store_index_eq(store *st, store_read *rd, const char *field,
                   const store_value *value, uint64_t **ids, size_t *n,
                   vectron_error *err)
{
    uint8_t head[STORE_FIELD_MAX + 2], enc[KW_MAX + 10];
    size_t len = 0, hlen;
    int none = 0, open = 0, incl = 1;
    store_index_type type;
    MDB_txn *txn = NULL;
    int rc;

    if (!ids || !n || !value || !field) {
        return vx_err(err, VECTRON_INVALID, "index lookup: bad arguments");
    }
    *ids = NULL;
    *n = 0;
    rc = store_read_acquire(st, rd, &txn, err);
    if (rc) {
        return vx_err_wrap(err, rc, "index lookup on %s", field);
    }
    rc = index_type(st, txn, field, &type, err);
    if (!rc) {
        rc = encode_query(type, value, Q_EQ, &incl, enc, &len, &none, &open,
                          err);
    }
    if (rc || none) {
        goto out;
    }
    hlen = put_head(head, field, strlen(field), type);
    rc = scan_entries(st, txn, head, hlen, enc, len, 1, NULL, 0, 1, 1, ids, n,
                      err);
out:
    store_read_release(rd, txn);
    if (rc) {
        vx_err_wrap(err, rc, "index lookup on %s", field);
    }
    return rc;
}

int store_index_list(store *st, store_read *rd, store_index_def **defs,
                     size_t *n, vectron_error *err)
{
    store_defs loaded = {NULL, 0};
    store_index_def *out = NULL;
    MDB_txn *txn = NULL;
    int rc;

    if (!defs || !n) {
        return vx_err(err, VECTRON_INVALID, "list indexes: no output");
    }
    rc = store_read_acquire(st, rd, &txn, err);
    if (rc) {
        return vx_err_wrap(err, rc, "list indexes");
    }
    rc = store_defs_load(st, txn, &loaded, err);
    if (rc) {
        goto out;
    }
    if (loaded.n) {
        out = vx_calloc(loaded.n, sizeof *out);
        if (!out) {
            rc = vx_err(err, VECTRON_NOMEM, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < loaded.n; i++) {
        out[i].field = loaded.v[i].field;
        out[i].type = loaded.v[i].type;
        loaded.v[i].field = NULL;
    }
    *defs = out;
    *n = loaded.n;
out:
    store_read_release(rd, txn);
    store_defs_free(&loaded);
    if (rc) {
        vx_err_wrap(err, rc, "list indexes");
    }
    return rc;
}

void store_index_defs_free(store_index_def *defs, size_t n)
{
    if (!defs) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        vx_free(defs[i].field);
    }
    vx_free(defs);
}
