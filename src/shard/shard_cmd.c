/*
 * shard_cmd.c - shard commands: building them (shard_cmd_*), decoding and
 * validating them, and applying them (shard_apply). Format:
 * docs/formats/shard-commands.md.
 *
 * Apply is split as the house style asks: prepare (decode, validate,
 * allocate every vector copy and the pending-buffer room; may fail and
 * changes nothing) and commit (one store transaction with the applied
 * index, then pushes to the pending buffer, which cannot fail).
 *
 * Threading: shard_cmd builders are plain caller-owned buffers. shard_apply
 * runs on one thread at a time.
 */
#include <string.h>

#include "common/common.h"
#include "shard/shard_int.h"

#define MAGIC "VXCM"
#define VERSION 1u
#define HEADER 12u

enum {
    OP_UPSERT = 1,
    OP_DELETE = 2,
    OP_SET_PAYLOAD = 3,
    OP_DELETE_PAYLOAD = 4,
    OP_CREATE_INDEX = 5,
    OP_DROP_INDEX = 6
};

/* ---- building ---- */

void shard_cmd_init(shard_cmd *c)
{
    memset(c, 0, sizeof *c);
    c->len = HEADER; /* the header is written by shard_cmd_finish */
}

void shard_cmd_close(shard_cmd *c)
{
    vx_free(c->buf);
    memset(c, 0, sizeof *c);
}

static uint8_t *room(shard_cmd *c, size_t n)
{
    if (c->failed) {
        return NULL;
    }
    if (c->len + n + 4 > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        uint8_t *b;
        while (cap < c->len + n + 4) {
            cap *= 2;
        }
        b = vx_realloc(c->buf, cap);
        if (!b) {
            c->failed = 1;
            return NULL;
        }
        c->buf = b;
        c->cap = cap;
    }
    c->len += n;
    return c->buf + c->len - n;
}

static void put_key(uint8_t *p, const point_id *id, size_t *used)
{
    size_t n = point_id_key(id, p + 1);
    p[0] = (uint8_t)n;
    *used = 1 + n;
}

void shard_cmd_upsert(shard_cmd *c, const point_id *id, const float *vec,
                      uint32_t dim, const char *payload, size_t payload_len)
{
    size_t need = 1 + 1 + POINT_KEY_MAX + 4 + (size_t)dim * 4 + 4 + payload_len;
    uint8_t *p = room(c, need), *q;
    size_t used;
    if (!p) {
        return;
    }
    p[0] = OP_UPSERT;
    put_key(p + 1, id, &used);
    q = p + 1 + used;
    vx_put_u32(q, dim);
    memcpy(q + 4, vec, (size_t)dim * 4);
    q += 4 + (size_t)dim * 4;
    vx_put_u32(q, (uint32_t)payload_len);
    if (payload_len) {
        memcpy(q + 4, payload, payload_len);
    }
    q += 4 + payload_len;
    c->len -= need - (size_t)(q - p); /* give back unused key room */
    c->n_ops++;
}

void shard_cmd_delete(shard_cmd *c, const point_id *id)
{
    size_t need = 1 + 1 + POINT_KEY_MAX, used;
    uint8_t *p = room(c, need);
    if (!p) {
        return;
    }
    p[0] = OP_DELETE;
    put_key(p + 1, id, &used);
    c->len -= need - (1 + used);
    c->n_ops++;
}

void shard_cmd_set_payload(shard_cmd *c, const point_id *id, const char *json,
                           size_t len, int merge)
{
    size_t need = 1 + 1 + POINT_KEY_MAX + 1 + 4 + len, used;
    uint8_t *p = room(c, need), *q;
    if (!p) {
        return;
    }
    p[0] = OP_SET_PAYLOAD;
    put_key(p + 1, id, &used);
    q = p + 1 + used;
    q[0] = merge ? 1 : 0;
    vx_put_u32(q + 1, (uint32_t)len);
    if (len) {
        memcpy(q + 5, json, len);
    }
    c->len -= need - (size_t)(q + 5 + len - p);
    c->n_ops++;
}

void shard_cmd_delete_payload(shard_cmd *c, const point_id *id,
                              const char *const *keys, size_t n)
{
    size_t need = 1 + 1 + POINT_KEY_MAX + 4, used;
    uint8_t *p, *q;
    for (size_t i = 0; i < n; i++) {
        need += 2 + strlen(keys[i]);
    }
    if (!(p = room(c, need))) {
        return;
    }
    p[0] = OP_DELETE_PAYLOAD;
    put_key(p + 1, id, &used);
    q = p + 1 + used;
    vx_put_u32(q, (uint32_t)n);
    q += 4;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(keys[i]);
        if (l > 65535) {
            c->failed = 1;
            return;
        }
        q[0] = (uint8_t)l;
        q[1] = (uint8_t)(l >> 8);
        memcpy(q + 2, keys[i], l);
        q += 2 + l;
    }
    c->len -= need - (size_t)(q - p);
    c->n_ops++;
}

void shard_cmd_create_index(shard_cmd *c, const char *field,
                            store_index_type type)
{
    size_t l = strlen(field);
    uint8_t *p;
    if (l > 65535) {
        c->failed = 1;
        return;
    }
    if (!(p = room(c, 1 + 2 + l + 1))) {
        return;
    }
    p[0] = OP_CREATE_INDEX;
    p[1] = (uint8_t)l;
    p[2] = (uint8_t)(l >> 8);
    memcpy(p + 3, field, l);
    p[3 + l] = (uint8_t)type;
    c->n_ops++;
}

void shard_cmd_drop_index(shard_cmd *c, const char *field)
{
    size_t l = strlen(field);
    uint8_t *p;
    if (l > 65535) {
        c->failed = 1;
        return;
    }
    if (!(p = room(c, 1 + 2 + l))) {
        return;
    }
    p[0] = OP_DROP_INDEX;
    p[1] = (uint8_t)l;
    p[2] = (uint8_t)(l >> 8);
    memcpy(p + 3, field, l);
    c->n_ops++;
}

int shard_cmd_finish(shard_cmd *c, const uint8_t **buf, size_t *len,
                     vectron_error *err)
{
    if (c->failed) {
        return vx_err(err, VECTRON_NOMEM,
                      "build command: out of memory or "
                      "oversized field");
    }
    if (!c->buf && !room(c, 0)) {
        return vx_err(err, VECTRON_NOMEM, "build command: out of memory");
    }
    memcpy(c->buf, MAGIC, 4);
    c->buf[4] = VERSION & 0xff;
    c->buf[5] = VERSION >> 8;
    c->buf[6] = c->buf[7] = 0;
    vx_put_u32(c->buf + 8, c->n_ops);
    vx_put_u32(c->buf + c->len, vx_crc32c(0, c->buf, c->len));
    *buf = c->buf;
    *len = c->len + 4;
    return 0;
}

/* ---- decoding ---- */

typedef struct op {
    int type;
    point_id id;
    const uint8_t *vec; /* unaligned little-endian floats */
    uint32_t dim;
    const char *data; /* payload / json / field */
    size_t data_len;
    int merge;
    char **keys; /* OP_DELETE_PAYLOAD: owned NUL-terminated copies */
    size_t n_keys;
    store_index_type index_type;
    float *copy; /* OP_UPSERT: the vector for the pending buffer */
} op;

typedef struct cursor {
    const uint8_t *p, *end;
} cursor;

static int need(cursor *c, size_t n)
{
    return (size_t)(c->end - c->p) >= n;
}

static void free_ops(op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ops[i].n_keys; k++) {
            vx_free(ops[i].keys[k]);
        }
        vx_free(ops[i].keys);
        vx_free(ops[i].copy);
    }
    vx_free(ops);
}

static int get_key(cursor *c, point_id *id, vectron_error *err)
{
    size_t l;
    if (!need(c, 1) || !need(c, 1 + (l = c->p[0]))) {
        return vx_err(err, VECTRON_INVALID, "truncated point key");
    }
    if (point_id_from_key(c->p + 1, l, id, err) != 0) {
        return VECTRON_INVALID;
    }
    c->p += 1 + l;
    return 0;
}

#define BAD(...)                                                               \
    do {                                                                       \
        rc = vx_err(err, VECTRON_INVALID, __VA_ARGS__);                        \
        goto out;                                                              \
    } while (0)

/* Decodes and validates the whole command into *ops. */
static int decode(shard *sh, const uint8_t *b, size_t len, op **out,
                  size_t *n_out, vectron_error *err)
{
    cursor c;
    op *ops = NULL;
    uint32_t n = 0, i = 0;
    int rc = 0;

    if (len < HEADER + 4 || memcmp(b, MAGIC, 4) != 0) {
        BAD("not a shard command");
    }
    if ((b[4] | b[5] << 8) != VERSION) {
        BAD("command version %u unsupported", (unsigned)(b[4] | b[5] << 8));
    }
    if (vx_crc32c(0, b, len - 4) != vx_get_u32(b + len - 4)) {
        BAD("command checksum mismatch");
    }
    n = vx_get_u32(b + 8);
    if (n > (len - HEADER - 4) / 2) {
        BAD("op count %u does not fit the command", n);
    }
    ops = vx_calloc(n ? n : 1, sizeof *ops);
    if (!ops) {
        rc = vx_err(err, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    c.p = b + HEADER;
    c.end = b + len - 4;
    for (i = 0; i < n; i++) {
        op *o = &ops[i];
        if (!need(&c, 1)) {
            BAD("op %u: truncated", i);
        }
        o->type = *c.p++;
        switch (o->type) {
        case OP_UPSERT:
            if (get_key(&c, &o->id, err) || !need(&c, 4)) {
                BAD("op %u: bad point key", i);
            }
            o->dim = vx_get_u32(c.p);
            c.p += 4;
            if (o->dim != sh->p.index.dim) {
                rc = vx_err(err, VECTRON_DIMENSION,
                            "op %u: vector of dimension %u, collection has %u",
                            i, o->dim, sh->p.index.dim);
                goto out;
            }
            if (!need(&c, (size_t)o->dim * 4 + 4)) {
                BAD("op %u: truncated vector", i);
            }
            o->vec = c.p;
            c.p += (size_t)o->dim * 4;
            o->data_len = vx_get_u32(c.p);
            c.p += 4;
            if (!need(&c, o->data_len)) {
                BAD("op %u: truncated payload", i);
            }
            o->data = (const char *)c.p;
            c.p += o->data_len;
            o->copy = vx_malloc((size_t)o->dim * sizeof(float));
            if (!o->copy) {
                rc = vx_err(err, VECTRON_NOMEM, "out of memory");
                goto out;
            }
            memcpy(o->copy, o->vec, (size_t)o->dim * 4);
            /* The index's own rules, so that no stored point can be one
             * the index refuses; the pending copy is kept in stored form
             * (normalised under cosine) so searches score it directly. */
            if ((rc = vectron_index_prepare(sh->idx, o->copy, o->copy, err)) !=
                0) {
                vx_err_wrap(err, rc, "op %u", i);
                goto out;
            }
            break;
        case OP_DELETE:
            if (get_key(&c, &o->id, err)) {
                BAD("op %u: bad point key", i);
            }
            break;
        case OP_SET_PAYLOAD:
            if (get_key(&c, &o->id, err) || !need(&c, 5)) {
                BAD("op %u: bad point key", i);
            }
            o->merge = c.p[0] != 0;
            o->data_len = vx_get_u32(c.p + 1);
            c.p += 5;
            if (!need(&c, o->data_len)) {
                BAD("op %u: truncated payload", i);
            }
            o->data = (const char *)c.p;
            c.p += o->data_len;
            break;
        case OP_DELETE_PAYLOAD: {
            size_t nk;
            if (get_key(&c, &o->id, err) || !need(&c, 4)) {
                BAD("op %u: bad point key", i);
            }
            nk = vx_get_u32(c.p);
            c.p += 4;
            if (nk > (size_t)(c.end - c.p) / 2) {
                BAD("op %u: key count does not fit", i);
            }
            /* n_keys is set only once keys exists (free_ops walks it). */
            o->keys = vx_calloc(nk ? nk : 1, sizeof *o->keys);
            if (!o->keys) {
                rc = vx_err(err, VECTRON_NOMEM, "out of memory");
                goto out;
            }
            o->n_keys = nk;
            for (size_t k = 0; k < o->n_keys; k++) {
                size_t l;
                if (!need(&c, 2) || !need(&c, 2 + (l = c.p[0] | c.p[1] << 8))) {
                    BAD("op %u: truncated key", i);
                }
                o->keys[k] = vx_malloc(l + 1);
                if (!o->keys[k]) {
                    rc = vx_err(err, VECTRON_NOMEM, "out of memory");
                    goto out;
                }
                memcpy(o->keys[k], c.p + 2, l);
                o->keys[k][l] = '\0';
                c.p += 2 + l;
            }
            break;
        }
        case OP_CREATE_INDEX: {
            size_t l;
            if (!need(&c, 2) || !need(&c, 2 + (l = c.p[0] | c.p[1] << 8) + 1)) {
                BAD("op %u: truncated field", i);
            }
            o->data = (const char *)c.p + 2;
            o->data_len = l;
            o->index_type = (store_index_type)c.p[2 + l];
            c.p += 3 + l;
            break;
        }
        case OP_DROP_INDEX: {
            size_t l;
            if (!need(&c, 2) || !need(&c, 2 + (l = c.p[0] | c.p[1] << 8))) {
                BAD("op %u: truncated field", i);
            }
            o->data = (const char *)c.p + 2;
            o->data_len = l;
            c.p += 2 + l;
            break;
        }
        default:
            BAD("op %u: unknown type %d", i, o->type);
        }
    }
    if (c.p != c.end) {
        BAD("%zu trailing bytes after the last op", (size_t)(c.end - c.p));
    }
    *out = ops;
    *n_out = n;
    ops = NULL;
out:
    if (ops) {
        free_ops(ops, n);
    }
    return rc;
}

/* ---- apply ---- */

static int run_op(shard *sh, store_txn *txn, op *o, uint64_t *internal,
                  vectron_error *err)
{
    int rc = 0;
    char field[STORE_FIELD_MAX + 1];

    (void)sh;
    switch (o->type) {
    case OP_UPSERT:
        rc = store_upsert(txn, &o->id, o->copy, o->dim, o->data, o->data_len,
                          internal, err);
        break;
    case OP_DELETE:
        rc = store_delete(txn, &o->id, internal, err);
        break;
    case OP_SET_PAYLOAD:
        rc =
            store_set_payload(txn, &o->id, o->data, o->data_len, o->merge, err);
        break;
    case OP_DELETE_PAYLOAD:
        rc = store_delete_payload_keys(
            txn, &o->id, (const char *const *)o->keys, o->n_keys, err);
        break;
    case OP_CREATE_INDEX:
        if (o->data_len > STORE_FIELD_MAX) {
            return vx_err(err, VECTRON_INVALID, "index field name too long");
        }
        memcpy(field, o->data, o->data_len);
        field[o->data_len] = '\0';
        rc = store_index_create(txn, field, o->index_type, err);
        break;
    case OP_DROP_INDEX:
        if (o->data_len > STORE_FIELD_MAX) {
            return vx_err(err, VECTRON_INVALID, "index field name too long");
        }
        memcpy(field, o->data, o->data_len);
        field[o->data_len] = '\0';
        rc = store_index_drop(txn, field, err);
        if (rc == VECTRON_NOT_FOUND) {
            rc = 0; /* dropping an index that is not there is a no-op */
        }
        break;
    }
    return rc;
}

int shard_apply(shard *sh, uint64_t index, const void *cmd, size_t len,
                vectron_error *err)
{
    op *ops = NULL;
    size_t n = 0;
    uint64_t *internal = NULL;
    store_txn *txn = NULL;
    int rc, invalid = 0;
    vectron_error cmd_err;

    if (index <= shard_applied_index(sh)) {
        return 0; /* replayed entry already in the store */
    }
    /* Prepare. A command that does not decode is rejected the same way on
     * every replica: no point changes, the applied index still moves. */
    rc = decode(sh, cmd, len, &ops, &n, &cmd_err);
    if (rc == VECTRON_NOMEM) {
        return vx_err(err, rc, "apply %llu: out of memory",
                      (unsigned long long)index);
    }
    if (rc) {
        invalid = rc;
        n = 0;
    }
    internal = vx_calloc(n ? n : 1, sizeof *internal);
    if (!internal || shard_pending_reserve(sh, n) != 0) {
        rc = vx_err(err, VECTRON_NOMEM, "apply %llu: out of memory",
                    (unsigned long long)index);
        goto out;
    }
    /* Commit. */
    if ((rc = store_txn_begin(sh->st, &txn, err)) != 0) {
        goto out;
    }
    for (size_t i = 0; i < n && !invalid; i++) {
        int r = run_op(sh, txn, &ops[i], &internal[i], &cmd_err);
        if (r == VECTRON_NOT_FOUND) {
            /* Deleting or updating a missing point is a no-op. */
            internal[i] = 0;
            continue;
        }
        if (r == VECTRON_INVALID || r == VECTRON_DIMENSION ||
            r == VECTRON_EXISTS || r == VECTRON_UNSUPPORTED) {
            /* Rejected deterministically (the outcome depends only on the
             * command and the state, e.g. an index of another type on the
             * field): undo the whole batch. Only environmental failures
             * (I/O, a full map, memory) stop the replica. */
            store_txn_abort(txn);
            txn = NULL;
            invalid = r;
            if ((rc = store_txn_begin(sh->st, &txn, err)) != 0) {
                goto out;
            }
            break;
        }
        if (r) {
            rc = vx_err_wrap(&cmd_err, r, "apply %llu op %zu",
                             (unsigned long long)index, i);
            if (err) {
                *err = cmd_err;
            }
            goto out;
        }
    }
    if ((rc = store_set_applied(txn, index, err)) != 0) {
        goto out;
    }
    rc = store_txn_commit(txn, err);
    txn = NULL;
    if (rc) {
        goto out;
    }
    if (!invalid) {
        for (size_t i = 0; i < n; i++) {
            if (internal[i] == 0) {
                continue;
            }
            if (ops[i].type == OP_UPSERT) {
                shard_pending_push(sh, internal[i], PENDING_UPSERT,
                                   ops[i].copy);
                ops[i].copy = NULL;
            } else if (ops[i].type == OP_DELETE) {
                shard_pending_push(sh, internal[i], PENDING_DELETE, NULL);
            }
        }
    }
    /* Only now that searches see the batch (store and pending): a reader
     * that sees the new applied index must see its data, since the
     * gateway's result cache keys results by applied index. */
    shard_set_applied(sh, index);
    if (invalid) {
        if (err) {
            *err = cmd_err;
        }
        rc = invalid == VECTRON_DIMENSION ? VECTRON_DIMENSION : VECTRON_INVALID;
    }
out:
    if (txn) {
        store_txn_abort(txn);
    }
    if (ops) {
        free_ops(ops, n);
    }
    vx_free(internal);
    return rc;
}
