/*
 * catalog.c - the PD metadata state machine: command encoding, apply,
 * snapshot and restore of the collection catalog (catalog.h).
 *
 * Threading: a rwlock guards the state; apply/restore take it exclusively
 * (on the Raft loop thread), readers share it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/net.h"
#include "pd/catalog.h"

#define CMD_MAGIC 0x43505856u  /* "VXPC" */
#define SNAP_MAGIC 0x53505856u /* "VXPS" */
#define FORMAT_VERSION 1
#define SNAP_VERSION 2 /* 1: collections only; 2: + keys, nodes, placements */
#define OP_CREATE 1
#define OP_DROP 2
#define OP_KEY_CREATE 3
#define OP_KEY_REVOKE 4
#define OP_NODE_SET 5
#define OP_PLACE 6
#define CMD_HEADER 8   /* magic, version, op, reserved */
#define PARAMS_SIZE 32 /* encoded pd_collection_params */

struct pd_catalog {
    pthread_rwlock_t lock;
    pd_collection *cols; /* sorted by name */
    size_t n, cap;
    uint64_t next_id;
    uint64_t next_group;
    uint64_t epoch;
    pd_node *nodes; /* sorted by id */
    size_t nn, ncap;
    pd_placement *pl; /* sorted by group */
    size_t npl, plcap;
    pd_api_key *keys; /* sorted by id */
    size_t nkeys, keys_cap;
};

int pd_check_name(const char *name, size_t len, vectron_error *err)
{
    if (len == 0 || len > PD_NAME_MAX)
        return vx_err(err, VECTRON_INVALID,
                      "collection name must be 1 to %u bytes", PD_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.'))
            return vx_err(err, VECTRON_INVALID,
                          "collection name may hold only letters, digits, "
                          "'_', '-' and '.'");
    }
    if ((len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.'))
        return vx_err(err, VECTRON_INVALID,
                      "collection name may not be '.' or '..'");
    return 0;
}

static int check_params(const pd_collection_params *p, vectron_error *err)
{
    if (p->dim == 0 || p->dim > VECTRON_MAX_DIM)
        return vx_err(err, VECTRON_INVALID, "dimension %u out of range",
                      p->dim);
    if (p->metric > VECTRON_METRIC_DOT || p->quant > VECTRON_QUANT_INT8)
        return vx_err(err, VECTRON_INVALID, "bad metric or quantization");
    if (p->shard_number == 0 || p->shard_number > PD_MAX_SHARDS)
        return vx_err(err, VECTRON_INVALID, "shard_number %u out of range",
                      p->shard_number);
    if (p->replication_factor == 0)
        return vx_err(err, VECTRON_INVALID, "replication_factor is 0");
    return 0;
}

/* ---------------------------------------------------------------- codec */

static void put_params(uint8_t *q, const pd_collection_params *p)
{
    uint32_t qbits;
    memcpy(&qbits, &p->quantile, 4);
    vx_put_u32(q, p->dim);
    q[4] = (uint8_t)p->metric;
    q[5] = (uint8_t)p->quant;
    q[6] = p->read_consistency;
    q[7] = 0;
    vx_put_u32(q + 8, p->m);
    vx_put_u32(q + 12, p->ef_construction);
    vx_put_u32(q + 16, qbits);
    vx_put_u32(q + 20, p->shard_number);
    vx_put_u32(q + 24, p->replication_factor);
    vx_put_u32(q + 28, 0);
}

static void get_params(const uint8_t *q, pd_collection_params *p)
{
    uint32_t qbits = vx_get_u32(q + 16);
    memset(p, 0, sizeof(*p));
    p->dim = vx_get_u32(q);
    p->metric = (vectron_metric)q[4];
    p->quant = (vectron_quant)q[5];
    p->read_consistency = q[6];
    p->m = vx_get_u32(q + 8);
    p->ef_construction = vx_get_u32(q + 12);
    memcpy(&p->quantile, &qbits, 4);
    p->shard_number = vx_get_u32(q + 20);
    p->replication_factor = vx_get_u32(q + 24);
}

static void put_u16(uint8_t *q, size_t v)
{
    q[0] = (uint8_t)v;
    q[1] = (uint8_t)(v >> 8);
}

static uint8_t *start_cmd(int op, size_t body, size_t *len)
{
    *len = CMD_HEADER + body + 4;
    uint8_t *b = vx_calloc(1, *len);
    if (!b)
        return NULL;
    vx_put_u32(b, CMD_MAGIC);
    b[4] = FORMAT_VERSION;
    b[5] = (uint8_t)op;
    return b;
}

static void seal(uint8_t *b, size_t len)
{
    vx_put_u32(b + len - 4, vx_crc32c(0, b, len - 4));
}

int pd_cmd_create(const char *name, const pd_collection_params *p,
                  uint8_t **buf, size_t *len, vectron_error *err)
{
    return pd_cmd_create_placed(name, p, NULL, buf, len, err);
}

/* 0 when the n node ids are non-zero and distinct. */
static int check_replicas(const uint64_t *r, uint32_t n)
{
    if (n == 0 || n > PD_MAX_REPLICAS)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        if (r[i] == 0)
            return -1;
        for (uint32_t j = 0; j < i; j++)
            if (r[i] == r[j])
                return -1;
    }
    return 0;
}

int pd_cmd_create_placed(const char *name, const pd_collection_params *p,
                         const uint64_t *replicas, uint8_t **buf, size_t *len,
                         vectron_error *err)
{
    size_t nl = strlen(name);
    size_t nr = 0;
    int rc;
    if ((rc = pd_check_name(name, nl, err)) || (rc = check_params(p, err)))
        return rc;
    if (replicas) {
        if (p->replication_factor > PD_MAX_REPLICAS)
            return vx_err(err, VECTRON_INVALID,
                          "replication_factor %u above %u",
                          p->replication_factor, PD_MAX_REPLICAS);
        nr = (size_t)p->shard_number * p->replication_factor;
        for (uint32_t i = 0; i < p->shard_number; i++)
            if (check_replicas(replicas + (size_t)i * p->replication_factor,
                               p->replication_factor))
                return vx_err(err, VECTRON_INVALID,
                              "shard %u: replicas must be distinct node ids",
                              i);
    }
    uint8_t *b = start_cmd(OP_CREATE, 2 + nl + PARAMS_SIZE + 8 * nr, len);
    if (!b)
        return vx_err(err, VECTRON_NOMEM, "pd command");
    put_u16(b + CMD_HEADER, nl);
    memcpy(b + CMD_HEADER + 2, name, nl);
    put_params(b + CMD_HEADER + 2 + nl, p);
    for (size_t i = 0; i < nr; i++)
        vx_put_u64(b + CMD_HEADER + 2 + nl + PARAMS_SIZE + 8 * i, replicas[i]);
    seal(b, *len);
    *buf = b;
    return 0;
}

/* 0 when addr is a printable "ip:port" that fits PD_ADDR_MAX. */
static int check_addr(const char *addr)
{
    struct sockaddr_storage sa;
    size_t n = strnlen(addr, PD_ADDR_MAX);
    if (n == 0 || n >= PD_ADDR_MAX)
        return -1;
    return vx_parse_address(addr, &sa, NULL) ? -1 : 0;
}

int pd_cmd_node_set(const pd_node *node, uint8_t **buf, size_t *len,
                    vectron_error *err)
{
    if (node->id == 0)
        return vx_err(err, VECTRON_INVALID, "node id 0");
    if (node->state > PD_NODE_REMOVED)
        return vx_err(err, VECTRON_INVALID, "node state %u", node->state);
    if (check_addr(node->raft_addr) || check_addr(node->rpc_addr))
        return vx_err(err, VECTRON_INVALID,
                      "node %llu: addresses must be ip:port (got '%.63s', "
                      "'%.63s')",
                      (unsigned long long)node->id, node->raft_addr,
                      node->rpc_addr);
    size_t rl = strlen(node->raft_addr), pl = strlen(node->rpc_addr);
    uint8_t *b = start_cmd(OP_NODE_SET, 12 + rl + pl, len);
    if (!b)
        return vx_err(err, VECTRON_NOMEM, "pd command");
    uint8_t *q = b + CMD_HEADER;
    vx_put_u64(q, node->id);
    q[8] = node->state;
    q[9] = (uint8_t)rl;
    q[10] = (uint8_t)pl;
    memcpy(q + 12, node->raft_addr, rl);
    memcpy(q + 12 + rl, node->rpc_addr, pl);
    seal(b, *len);
    *buf = b;
    return 0;
}

int pd_cmd_place(uint64_t group, uint64_t expect_epoch,
                 const uint64_t *replicas, uint32_t n, uint8_t **buf,
                 size_t *len, vectron_error *err)
{
    if (check_replicas(replicas, n))
        return vx_err(err, VECTRON_INVALID,
                      "group %llu: 1 to %u distinct non-zero node ids",
                      (unsigned long long)group, PD_MAX_REPLICAS);
    uint8_t *b = start_cmd(OP_PLACE, 20 + 8 * (size_t)n, len);
    if (!b)
        return vx_err(err, VECTRON_NOMEM, "pd command");
    uint8_t *q = b + CMD_HEADER;
    vx_put_u64(q, group);
    vx_put_u64(q + 8, expect_epoch);
    vx_put_u32(q + 16, n);
    for (uint32_t i = 0; i < n; i++)
        vx_put_u64(q + 20 + 8 * i, replicas[i]);
    seal(b, *len);
    *buf = b;
    return 0;
}

int pd_cmd_drop(const char *name, uint8_t **buf, size_t *len,
                vectron_error *err)
{
    size_t nl = strlen(name);
    int rc;
    if ((rc = pd_check_name(name, nl, err)))
        return rc;
    uint8_t *b = start_cmd(OP_DROP, 2 + nl, len);
    if (!b)
        return vx_err(err, VECTRON_NOMEM, "pd command");
    put_u16(b + CMD_HEADER, nl);
    memcpy(b + CMD_HEADER + 2, name, nl);
    seal(b, *len);
    *buf = b;
    return 0;
}

/* Reads a length-prefixed name at *pos into out; advances *pos. */
static int get_name(const uint8_t *b, size_t end, size_t *pos,
                    char out[PD_NAME_MAX + 1])
{
    if (*pos + 2 > end)
        return -1;
    size_t nl = (size_t)b[*pos] | (size_t)b[*pos + 1] << 8;
    *pos += 2;
    if (nl == 0 || nl > PD_NAME_MAX || *pos + nl > end)
        return -1;
    memcpy(out, b + *pos, nl);
    out[nl] = '\0';
    *pos += nl;
    return pd_check_name(out, nl, NULL) ? -1 : 0;
}

/* ----------------------------------------------------------- key codec */

static int check_key_id(const char *id, size_t len)
{
    if (len == 0 || len > PD_KEY_ID_MAX)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9')))
            return -1;
    }
    return 0;
}

/* Checks scopes text: "" or comma-separated collection names, none
 * repeated. */
static int check_scopes(const char *s, size_t len, vectron_error *err)
{
    if (len == 0)
        return 0;
    if (len > PD_KEY_SCOPES_MAX)
        return vx_err(err, VECTRON_INVALID,
                      "collections: more than %u bytes in all",
                      PD_KEY_SCOPES_MAX);
    for (size_t i = 0; i <= len;) {
        size_t j = i;
        while (j < len && s[j] != ',')
            j++;
        int rc = pd_check_name(s + i, j - i, err);
        if (rc)
            return rc;
        /* Repeated name: compare with every earlier one. */
        for (size_t k = 0; k < i;) {
            size_t e = k;
            while (s[e] != ',')
                e++;
            if (e - k == j - i && memcmp(s + k, s + i, j - i) == 0)
                return vx_err(err, VECTRON_INVALID,
                              "collections: `%.*s` is listed twice",
                              (int)(j - i), s + i);
            k = e + 1;
        }
        i = j + 1;
    }
    return 0;
}

static int check_key(const pd_api_key *k, vectron_error *err)
{
    size_t nl = strnlen(k->name, PD_KEY_NAME_MAX + 1);
    size_t sl = strnlen(k->scopes, PD_KEY_SCOPES_MAX + 1);
    if (check_key_id(k->id, strnlen(k->id, PD_KEY_ID_MAX + 1)))
        return vx_err(err, VECTRON_INVALID,
                      "key id must be 1 to %u letters or digits",
                      PD_KEY_ID_MAX);
    if (nl > PD_KEY_NAME_MAX)
        return vx_err(err, VECTRON_INVALID, "key name: more than %u bytes",
                      PD_KEY_NAME_MAX);
    for (size_t i = 0; i < nl; i++)
        if ((unsigned char)k->name[i] < 0x20 || k->name[i] == 0x7f)
            return vx_err(err, VECTRON_INVALID,
                          "key name: control characters are not allowed");
    if (k->level < PD_KEY_READ || k->level > PD_KEY_ADMIN)
        return vx_err(err, VECTRON_INVALID, "key level %u out of range",
                      k->level);
    if (k->level == PD_KEY_ADMIN && sl > 0)
        return vx_err(err, VECTRON_INVALID,
                      "an admin key cannot be limited to collections");
    return check_scopes(k->scopes, sl, err);
}

static size_t key_body_size(const pd_api_key *k)
{
    return 1 + strlen(k->id) + 2 + 2 + strlen(k->name) + 2 + strlen(k->scopes) +
           PD_KEY_HASH_SIZE + 8 + 8;
}

/* Writes the key record shared by the create command and the snapshot;
 * returns the bytes written. */
static size_t put_key(uint8_t *q, const pd_api_key *k)
{
    size_t il = strlen(k->id), nl = strlen(k->name), sl = strlen(k->scopes);
    size_t pos = 0;
    q[pos++] = (uint8_t)il;
    memcpy(q + pos, k->id, il);
    pos += il;
    q[pos++] = k->level;
    q[pos++] = 0;
    put_u16(q + pos, nl);
    memcpy(q + pos + 2, k->name, nl);
    pos += 2 + nl;
    put_u16(q + pos, sl);
    memcpy(q + pos + 2, k->scopes, sl);
    pos += 2 + sl;
    memcpy(q + pos, k->hash, PD_KEY_HASH_SIZE);
    pos += PD_KEY_HASH_SIZE;
    vx_put_u64(q + pos, k->created_at);
    vx_put_u64(q + pos + 8, k->expires_at);
    return pos + 16;
}

/* Reads a key record at *pos (bounded by end) into k and checks it. */
static int get_key(const uint8_t *b, size_t end, size_t *pos, pd_api_key *k)
{
    size_t p = *pos, l;
    memset(k, 0, sizeof(*k));
    if (p + 1 > end || (l = b[p]) == 0 || l > PD_KEY_ID_MAX ||
        p + 1 + l + 2 > end)
        return -1;
    memcpy(k->id, b + p + 1, l);
    p += 1 + l;
    k->level = b[p];
    if (b[p + 1] != 0)
        return -1;
    p += 2;
    if (p + 2 > end)
        return -1;
    l = (size_t)b[p] | (size_t)b[p + 1] << 8;
    if (l > PD_KEY_NAME_MAX || p + 2 + l > end)
        return -1;
    memcpy(k->name, b + p + 2, l);
    if (memchr(k->name, '\0', l))
        return -1;
    p += 2 + l;
    if (p + 2 > end)
        return -1;
    l = (size_t)b[p] | (size_t)b[p + 1] << 8;
    if (l > PD_KEY_SCOPES_MAX || p + 2 + l > end)
        return -1;
    memcpy(k->scopes, b + p + 2, l);
    if (memchr(k->scopes, '\0', l))
        return -1;
    p += 2 + l;
    if (p + PD_KEY_HASH_SIZE + 16 > end)
        return -1;
    memcpy(k->hash, b + p, PD_KEY_HASH_SIZE);
    k->created_at = vx_get_u64(b + p + PD_KEY_HASH_SIZE);
    k->expires_at = vx_get_u64(b + p + PD_KEY_HASH_SIZE + 8);
    p += PD_KEY_HASH_SIZE + 16;
    if (check_key(k, NULL))
        return -1;
    *pos = p;
    return 0;
}

int pd_cmd_key_create(const pd_api_key *k, uint8_t **buf, size_t *len,
                      vectron_error *err)
{
    int rc = check_key(k, err);
    if (rc)
        return rc;
    uint8_t *b = start_cmd(OP_KEY_CREATE, key_body_size(k), len);
    if (!b)
        return vx_err(err, VECTRON_NOMEM, "pd command");
    put_key(b + CMD_HEADER, k);
    seal(b, *len);
    *buf = b;
    return 0;
}

int pd_cmd_key_revoke(const char *id, uint8_t **buf, size_t *len,
                      vectron_error *err)
{
    size_t il = strlen(id);
    if (check_key_id(id, il))
        return vx_err(err, VECTRON_INVALID,
                      "key id must be 1 to %u letters or digits",
                      PD_KEY_ID_MAX);
    uint8_t *b = start_cmd(OP_KEY_REVOKE, 1 + il, len);
    if (!b)
        return vx_err(err, VECTRON_NOMEM, "pd command");
    b[CMD_HEADER] = (uint8_t)il;
    memcpy(b + CMD_HEADER + 1, id, il);
    seal(b, *len);
    *buf = b;
    return 0;
}

/* ---------------------------------------------------------------- state */

int pd_catalog_new(pd_catalog **out, vectron_error *err)
{
    pd_catalog *c = vx_calloc(1, sizeof(*c));
    if (!c)
        return vx_err(err, VECTRON_NOMEM, "catalog");
    pthread_rwlock_init(&c->lock, NULL);
    c->next_id = 1;
    c->next_group = PD_FIRST_SHARD_GROUP;
    *out = c;
    return 0;
}

void pd_catalog_free(pd_catalog *c)
{
    if (!c)
        return;
    pthread_rwlock_destroy(&c->lock);
    vx_free(c->cols);
    vx_free(c->nodes);
    vx_free(c->pl);
    vx_free(c->keys);
    vx_free(c);
}

/* Binary search over n records of size sz whose first field is a
 * NUL-terminated string key: its position, or where it would go (*found
 * 0). */
static size_t find_str(const void *arr, size_t n, size_t sz, const char *key,
                       int *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp((const char *)arr + mid * sz, key);
        if (cmp == 0) {
            *found = 1;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

/* Position of name among the collections (sorted by name). */
static size_t find(const pd_catalog *c, const char *name, int *found)
{
    return find_str(c->cols, c->n, sizeof *c->cols, name, found);
}

/* Makes room for one more record of size sz at index at; -1 when out of
 * memory (nothing changed). */
static int grow_at(void **arr, size_t *n, size_t *cap, size_t sz, size_t at)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        void *na = vx_realloc(*arr, nc * sz);
        if (!na)
            return -1;
        *arr = na;
        *cap = nc;
    }
    memmove((char *)*arr + (at + 1) * sz, (char *)*arr + at * sz,
            (*n - at) * sz);
    (*n)++;
    return 0;
}

/* Inserts col in order; -1 when out of memory (nothing changed). */
static int insert(pd_catalog *c, const pd_collection *col)
{
    int found;
    size_t at = find(c, col->name, &found);
    if (grow_at((void **)&c->cols, &c->n, &c->cap, sizeof *c->cols, at))
        return -1;
    c->cols[at] = *col;
    return 0;
}

/* Position of key id among the keys (sorted by id). */
static size_t find_key(const pd_catalog *c, const char *id, int *found)
{
    return find_str(c->keys, c->nkeys, sizeof *c->keys, id, found);
}

/* Applies a key command (the header and CRC are checked). */
static int apply_key(pd_catalog *c, uint64_t index, const uint8_t *b,
                     size_t end)
{
    size_t pos = CMD_HEADER;
    pd_api_key k;
    int rc = 0, found;
    if (b[5] == OP_KEY_CREATE) {
        if (get_key(b, end, &pos, &k) || pos != end)
            return VECTRON_CORRUPT;
    } else {
        size_t il = pos < end ? b[pos] : 0;
        if (il == 0 || pos + 1 + il != end)
            return VECTRON_CORRUPT;
        memset(&k, 0, sizeof(k));
        memcpy(k.id, b + pos + 1, il < PD_KEY_ID_MAX ? il : PD_KEY_ID_MAX);
        if (check_key_id(k.id, il))
            return VECTRON_CORRUPT;
    }
    pthread_rwlock_wrlock(&c->lock);
    size_t at = find_key(c, k.id, &found);
    if (b[5] == OP_KEY_CREATE) {
        if (found) {
            rc = VECTRON_EXISTS;
        } else if (c->nkeys >= PD_MAX_KEYS) {
            rc = VECTRON_LIMIT;
        } else {
            if (grow_at((void **)&c->keys, &c->nkeys, &c->keys_cap,
                        sizeof *c->keys, at)) {
                rc = VECTRON_NOMEM; /* fatal for the replica */
                goto out;
            }
            k.created_index = index;
            c->keys[at] = k;
        }
    } else if (!found) {
        rc = VECTRON_NOT_FOUND;
    } else {
        memmove(c->keys + at, c->keys + at + 1,
                (c->nkeys - at - 1) * sizeof(*c->keys));
        c->nkeys--;
    }
out:
    pthread_rwlock_unlock(&c->lock);
    return rc;
}

/* Binary search by id over n records of size sz whose first field is a
 * u64 key; *found says whether it is there. */
static size_t find_u64(const void *arr, size_t n, size_t sz, uint64_t key,
                       int *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint64_t k;
        memcpy(&k, (const char *)arr + mid * sz, sizeof k);
        if (k == key) {
            *found = 1;
            return mid;
        }
        if (k < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}


static const pd_node *node_get(const pd_catalog *c, uint64_t id)
{
    int found;
    size_t at = find_u64(c->nodes, c->nn, sizeof *c->nodes, id, &found);
    return found ? &c->nodes[at] : NULL;
}

/* 0 when every replica names a known node that may hold replicas: not
 * removed, and active when active_only (placement of a new collection). */
static int replicas_usable(const pd_catalog *c, const uint64_t *r, uint32_t n,
                           int active_only)
{
    for (uint32_t i = 0; i < n; i++) {
        const pd_node *node = node_get(c, r[i]);
        if (!node)
            return VECTRON_NOT_FOUND;
        if (node->state == PD_NODE_REMOVED ||
            (active_only && node->state != PD_NODE_ACTIVE))
            return VECTRON_INVALID;
    }
    return 0;
}

static int apply_create(pd_catalog *c, uint64_t index, const uint8_t *b,
                        size_t pos, size_t end)
{
    pd_collection col;
    int found;
    memset(&col, 0, sizeof(col));
    if (get_name(b, end, &pos, col.name) || pos + PARAMS_SIZE > end)
        return VECTRON_CORRUPT;
    get_params(b + pos, &col.p);
    pos += PARAMS_SIZE;
    if (check_params(&col.p, NULL))
        return VECTRON_CORRUPT;
    size_t nr = (size_t)col.p.shard_number * col.p.replication_factor;
    int placed = pos != end;
    if (placed &&
        (col.p.replication_factor > PD_MAX_REPLICAS || pos + 8 * nr != end))
        return VECTRON_CORRUPT;
    const uint8_t *rep = b + pos;
    uint64_t row[PD_MAX_REPLICAS];
    for (uint32_t s = 0; placed && s < col.p.shard_number; s++) {
        for (uint32_t j = 0; j < col.p.replication_factor; j++)
            row[j] = vx_get_u64(rep +
                                8 * ((size_t)s * col.p.replication_factor + j));
        if (check_replicas(row, col.p.replication_factor))
            return VECTRON_CORRUPT;
        int rc = replicas_usable(c, row, col.p.replication_factor, 1);
        if (rc)
            return rc;
    }
    find(c, col.name, &found);
    if (found)
        return VECTRON_EXISTS;
    if (c->next_group > UINT64_MAX - col.p.shard_number)
        return VECTRON_LIMIT;
    /* Room first, so that nothing fails once the state starts changing. */
    if (placed && c->npl + col.p.shard_number > c->plcap) {
        size_t cap = c->plcap ? c->plcap : 8;
        while (cap < c->npl + col.p.shard_number)
            cap *= 2;
        pd_placement *np = vx_realloc(c->pl, cap * sizeof(*np));
        if (!np)
            return VECTRON_NOMEM;
        c->pl = np;
        c->plcap = cap;
    }
    col.id = c->next_id;
    col.first_group = c->next_group;
    col.created_index = index;
    if (insert(c, &col)) {
        /* Out of memory cannot be applied deterministically; the caller
         * treats NOMEM from apply as fatal for this replica. */
        return VECTRON_NOMEM;
    }
    /* New groups have the highest ids: they go at the end, in order. */
    for (uint32_t s = 0; placed && s < col.p.shard_number; s++) {
        pd_placement *pl = &c->pl[c->npl++];
        memset(pl, 0, sizeof(*pl));
        pl->group = col.first_group + s;
        pl->conf_epoch = index;
        pl->n = col.p.replication_factor;
        for (uint32_t j = 0; j < pl->n; j++)
            pl->replicas[j] = vx_get_u64(rep + 8 * ((size_t)s * pl->n + j));
    }
    c->next_id++;
    c->next_group += col.p.shard_number;
    c->epoch = index;
    return 0;
}

static int apply_drop(pd_catalog *c, uint64_t index, const uint8_t *b,
                      size_t pos, size_t end)
{
    char name[PD_NAME_MAX + 1];
    int found;
    if (get_name(b, end, &pos, name) || pos != end)
        return VECTRON_CORRUPT;
    size_t at = find(c, name, &found);
    if (!found)
        return VECTRON_NOT_FOUND;
    uint64_t g0 = c->cols[at].first_group;
    uint64_t g1 = g0 + c->cols[at].p.shard_number;
    memmove(c->cols + at, c->cols + at + 1, (c->n - at - 1) * sizeof(*c->cols));
    c->n--;
    size_t w = 0;
    for (size_t i = 0; i < c->npl; i++)
        if (c->pl[i].group < g0 || c->pl[i].group >= g1)
            c->pl[w++] = c->pl[i];
    c->npl = w;
    c->epoch = index;
    return 0;
}

static int apply_node_set(pd_catalog *c, uint64_t index, const uint8_t *b,
                          size_t pos, size_t end)
{
    pd_node node;
    int found;
    if (pos + 12 > end)
        return VECTRON_CORRUPT;
    memset(&node, 0, sizeof(node));
    node.id = vx_get_u64(b + pos);
    node.state = b[pos + 8];
    size_t rl = b[pos + 9], pl = b[pos + 10];
    if (b[pos + 11] != 0 || pos + 12 + rl + pl != end || rl >= PD_ADDR_MAX ||
        pl >= PD_ADDR_MAX || node.id == 0 || node.state > PD_NODE_REMOVED)
        return VECTRON_CORRUPT;
    memcpy(node.raft_addr, b + pos + 12, rl);
    memcpy(node.rpc_addr, b + pos + 12 + rl, pl);
    if (memchr(node.raft_addr, 0, rl) || memchr(node.rpc_addr, 0, pl) ||
        check_addr(node.raft_addr) || check_addr(node.rpc_addr))
        return VECTRON_CORRUPT;
    size_t at = find_u64(c->nodes, c->nn, sizeof *c->nodes, node.id, &found);
    if (!found &&
        grow_at((void **)&c->nodes, &c->nn, &c->ncap, sizeof *c->nodes, at))
        return VECTRON_NOMEM;
    c->nodes[at] = node;
    c->epoch = index;
    return 0;
}

static int apply_place(pd_catalog *c, uint64_t index, const uint8_t *b,
                       size_t pos, size_t end)
{
    uint64_t r[PD_MAX_REPLICAS];
    int found;
    if (pos + 20 > end)
        return VECTRON_CORRUPT;
    uint64_t group = vx_get_u64(b + pos);
    uint64_t expect = vx_get_u64(b + pos + 8);
    uint32_t n = vx_get_u32(b + pos + 16);
    if (n == 0 || n > PD_MAX_REPLICAS || pos + 20 + 8 * (size_t)n != end)
        return VECTRON_CORRUPT;
    for (uint32_t i = 0; i < n; i++)
        r[i] = vx_get_u64(b + pos + 20 + 8 * i);
    if (check_replicas(r, n))
        return VECTRON_CORRUPT;
    size_t at = find_u64(c->pl, c->npl, sizeof *c->pl, group, &found);
    if (!found)
        return VECTRON_NOT_FOUND;
    if (c->pl[at].conf_epoch != expect)
        return VECTRON_EXISTS;
    int rc = replicas_usable(c, r, n, 0);
    if (rc)
        return rc;
    c->pl[at].n = n;
    memset(c->pl[at].replicas, 0, sizeof c->pl[at].replicas);
    memcpy(c->pl[at].replicas, r, n * sizeof *r);
    c->pl[at].conf_epoch = index;
    c->epoch = index;
    return 0;
}

int pd_catalog_apply(pd_catalog *c, uint64_t index, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    if (len < CMD_HEADER + 4 || vx_get_u32(b) != CMD_MAGIC ||
        b[4] != FORMAT_VERSION || b[6] != 0 || b[7] != 0 ||
        vx_crc32c(0, b, len - 4) != vx_get_u32(b + len - 4))
        return VECTRON_CORRUPT;
    size_t end = len - 4, pos = CMD_HEADER;
    int rc;
    if (b[5] == OP_KEY_CREATE || b[5] == OP_KEY_REVOKE)
        return apply_key(c, index, b, end);
    pthread_rwlock_wrlock(&c->lock);
    switch (b[5]) {
    case OP_CREATE:
        rc = apply_create(c, index, b, pos, end);
        break;
    case OP_DROP:
        rc = apply_drop(c, index, b, pos, end);
        break;
    case OP_NODE_SET:
        rc = apply_node_set(c, index, b, pos, end);
        break;
    case OP_PLACE:
        rc = apply_place(c, index, b, pos, end);
        break;
    default:
        rc = VECTRON_CORRUPT;
    }
    pthread_rwlock_unlock(&c->lock);
    return rc;
}

/* ------------------------------------------------------------- snapshot */

#define SNAP_HEADER                                                            \
    36 /* magic, version, reserved, next_id, next_group,                       \
          epoch, count */
#define SNAP_RECORD (2 + 8 + 8 + 8 + PARAMS_SIZE) /* + name bytes */

#define NODE_RECORD 12  /* + address bytes */
#define PLACE_RECORD 20 /* + 8 per replica */

int pd_catalog_snapshot(pd_catalog *c, void **out, size_t *out_len,
                        vectron_error *err)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t len = SNAP_HEADER + 4 + 4 + 8;
    for (size_t i = 0; i < c->n; i++)
        len += SNAP_RECORD + strlen(c->cols[i].name);
    for (size_t i = 0; i < c->nkeys; i++)
        len += key_body_size(&c->keys[i]) + 8;
    for (size_t i = 0; i < c->nn; i++)
        len += NODE_RECORD + strlen(c->nodes[i].raft_addr) +
               strlen(c->nodes[i].rpc_addr);
    for (size_t i = 0; i < c->npl; i++)
        len += PLACE_RECORD + 8 * (size_t)c->pl[i].n;
    uint8_t *b = vx_calloc(1, len);
    if (!b) {
        pthread_rwlock_unlock(&c->lock);
        return vx_err(err, VECTRON_NOMEM, "catalog snapshot");
    }
    vx_put_u32(b, SNAP_MAGIC);
    b[4] = SNAP_VERSION;
    vx_put_u64(b + 8, c->next_id);
    vx_put_u64(b + 16, c->next_group);
    vx_put_u64(b + 24, c->epoch);
    vx_put_u32(b + 32, (uint32_t)c->n);
    size_t pos = SNAP_HEADER;
    for (size_t i = 0; i < c->n; i++) {
        const pd_collection *col = &c->cols[i];
        size_t nl = strlen(col->name);
        put_u16(b + pos, nl);
        memcpy(b + pos + 2, col->name, nl);
        pos += 2 + nl;
        vx_put_u64(b + pos, col->id);
        vx_put_u64(b + pos + 8, col->first_group);
        vx_put_u64(b + pos + 16, col->created_index);
        put_params(b + pos + 24, &col->p);
        pos += 24 + PARAMS_SIZE;
    }
    vx_put_u32(b + pos, (uint32_t)c->nkeys);
    pos += 4;
    for (size_t i = 0; i < c->nkeys; i++) {
        pos += put_key(b + pos, &c->keys[i]);
        vx_put_u64(b + pos, c->keys[i].created_index);
        pos += 8;
    }
    vx_put_u32(b + pos, (uint32_t)c->nn);
    pos += 4;
    for (size_t i = 0; i < c->nn; i++) {
        const pd_node *nd = &c->nodes[i];
        size_t rl = strlen(nd->raft_addr), pl = strlen(nd->rpc_addr);
        vx_put_u64(b + pos, nd->id);
        b[pos + 8] = nd->state;
        b[pos + 9] = (uint8_t)rl;
        b[pos + 10] = (uint8_t)pl;
        memcpy(b + pos + 12, nd->raft_addr, rl);
        memcpy(b + pos + 12 + rl, nd->rpc_addr, pl);
        pos += NODE_RECORD + rl + pl;
    }
    vx_put_u32(b + pos, (uint32_t)c->npl);
    pos += 4;
    for (size_t i = 0; i < c->npl; i++) {
        const pd_placement *pl = &c->pl[i];
        vx_put_u64(b + pos, pl->group);
        vx_put_u64(b + pos + 8, pl->conf_epoch);
        vx_put_u32(b + pos + 16, pl->n);
        for (uint32_t j = 0; j < pl->n; j++)
            vx_put_u64(b + pos + 20 + 8 * j, pl->replicas[j]);
        pos += PLACE_RECORD + 8 * (size_t)pl->n;
    }
    pthread_rwlock_unlock(&c->lock);
    seal(b, len);
    *out = b;
    *out_len = len;
    return 0;
}

int pd_catalog_restore(pd_catalog *c, const void *buf, size_t len,
                       vectron_error *err)
{
    const uint8_t *b = buf;
    pd_collection *cols = NULL;
    pd_node *nodes = NULL;
    pd_placement *pls = NULL;
    pd_api_key *keys = NULL;
    uint32_t nn = 0, npl = 0, nk = 0;
    if (len < SNAP_HEADER + 4 || vx_get_u32(b) != SNAP_MAGIC)
        return vx_err(err, VECTRON_CORRUPT, "catalog snapshot: bad magic");
    if (b[4] != 1 && b[4] != SNAP_VERSION)
        return vx_err(err, VECTRON_UNSUPPORTED, "catalog snapshot: version %u",
                      b[4]);
    if (vx_crc32c(0, b, len - 4) != vx_get_u32(b + len - 4))
        return vx_err(err, VECTRON_CORRUPT, "catalog snapshot: bad checksum");
    uint32_t n = vx_get_u32(b + 32);
    size_t end = len - 4, pos = SNAP_HEADER;
    if (n > (end - pos) / SNAP_RECORD)
        return vx_err(err, VECTRON_CORRUPT, "catalog snapshot: bad count");
    cols = n ? vx_calloc(n, sizeof(*cols)) : NULL;
    if (n && !cols)
        return vx_err(err, VECTRON_NOMEM, "catalog snapshot");
    for (uint32_t i = 0; i < n; i++) {
        pd_collection *col = &cols[i];
        if (get_name(b, end, &pos, col->name) || pos + 24 + PARAMS_SIZE > end ||
            (i > 0 && strcmp(cols[i - 1].name, col->name) >= 0))
            goto corrupt;
        col->id = vx_get_u64(b + pos);
        col->first_group = vx_get_u64(b + pos + 8);
        col->created_index = vx_get_u64(b + pos + 16);
        get_params(b + pos + 24, &col->p);
        if (check_params(&col->p, NULL))
            goto corrupt;
        pos += 24 + PARAMS_SIZE;
    }
    if (b[4] >= 2) {
        if (pos + 4 > end)
            goto corrupt;
        nk = vx_get_u32(b + pos);
        pos += 4;
        if (nk > PD_MAX_KEYS)
            goto corrupt;
        keys = nk ? vx_calloc(nk, sizeof(*keys)) : NULL;
        if (nk && !keys)
            goto nomem;
        for (uint32_t i = 0; i < nk; i++) {
            if (get_key(b, end, &pos, &keys[i]) || pos + 8 > end ||
                (i > 0 && strcmp(keys[i - 1].id, keys[i].id) >= 0))
                goto corrupt;
            keys[i].created_index = vx_get_u64(b + pos);
            pos += 8;
        }
        if (pos + 4 > end)
            goto corrupt;
        nn = vx_get_u32(b + pos);
        pos += 4;
        if (nn > (end - pos) / NODE_RECORD)
            goto corrupt;
        nodes = nn ? vx_calloc(nn, sizeof(*nodes)) : NULL;
        if (nn && !nodes)
            goto nomem;
        for (uint32_t i = 0; i < nn; i++) {
            pd_node *nd = &nodes[i];
            if (pos + NODE_RECORD > end)
                goto corrupt;
            nd->id = vx_get_u64(b + pos);
            nd->state = b[pos + 8];
            size_t rl = b[pos + 9], pl = b[pos + 10];
            if (b[pos + 11] || rl >= PD_ADDR_MAX || pl >= PD_ADDR_MAX ||
                pos + NODE_RECORD + rl + pl > end || nd->id == 0 ||
                nd->state > PD_NODE_REMOVED ||
                (i > 0 && nodes[i - 1].id >= nd->id))
                goto corrupt;
            memcpy(nd->raft_addr, b + pos + 12, rl);
            memcpy(nd->rpc_addr, b + pos + 12 + rl, pl);
            if (memchr(nd->raft_addr, 0, rl) || memchr(nd->rpc_addr, 0, pl) ||
                check_addr(nd->raft_addr) || check_addr(nd->rpc_addr))
                goto corrupt;
            pos += NODE_RECORD + rl + pl;
        }
        if (pos + 4 > end)
            goto corrupt;
        npl = vx_get_u32(b + pos);
        pos += 4;
        if (npl > (end - pos) / PLACE_RECORD)
            goto corrupt;
        pls = npl ? vx_calloc(npl, sizeof(*pls)) : NULL;
        if (npl && !pls)
            goto nomem;
        for (uint32_t i = 0; i < npl; i++) {
            pd_placement *pl = &pls[i];
            if (pos + PLACE_RECORD > end)
                goto corrupt;
            pl->group = vx_get_u64(b + pos);
            pl->conf_epoch = vx_get_u64(b + pos + 8);
            pl->n = vx_get_u32(b + pos + 16);
            if (pl->n == 0 || pl->n > PD_MAX_REPLICAS ||
                pos + PLACE_RECORD + 8 * (size_t)pl->n > end ||
                (i > 0 && pls[i - 1].group >= pl->group))
                goto corrupt;
            for (uint32_t j = 0; j < pl->n; j++)
                pl->replicas[j] = vx_get_u64(b + pos + 20 + 8 * j);
            if (check_replicas(pl->replicas, pl->n))
                goto corrupt;
            pos += PLACE_RECORD + 8 * (size_t)pl->n;
        }
    }
    if (pos != end)
        goto corrupt;
    pthread_rwlock_wrlock(&c->lock);
    vx_free(c->cols);
    vx_free(c->nodes);
    vx_free(c->pl);
    c->cols = cols;
    c->n = c->cap = n;
    c->nodes = nodes;
    c->nn = c->ncap = nn;
    c->pl = pls;
    c->npl = c->plcap = npl;
    vx_free(c->keys);
    c->keys = keys;
    c->nkeys = c->keys_cap = nk;
    c->next_id = vx_get_u64(b + 8);
    c->next_group = vx_get_u64(b + 16);
    c->epoch = vx_get_u64(b + 24);
    pthread_rwlock_unlock(&c->lock);
    return 0;
nomem:
    vx_free(cols);
    vx_free(nodes);
    vx_free(pls);
    vx_free(keys);
    return vx_err(err, VECTRON_NOMEM, "catalog snapshot");
corrupt:
    vx_free(cols);
    vx_free(nodes);
    vx_free(pls);
    vx_free(keys);
    return vx_err(err, VECTRON_CORRUPT, "catalog snapshot: bad record");
}

/* ---------------------------------------------------------------- reads */

int pd_catalog_get(pd_catalog *c, const char *name, pd_collection *out,
                   vectron_error *err)
{
    int found;
    pthread_rwlock_rdlock(&c->lock);
    size_t at = find(c, name, &found);
    if (found)
        *out = c->cols[at];
    pthread_rwlock_unlock(&c->lock);
    if (!found)
        return vx_err(err, VECTRON_NOT_FOUND, "Collection `%s` doesn't exist!",
                      name);
    return 0;
}

/* Copies n records of size sz under the read lock into a new array. */
static int copy_out(pd_catalog *c, const void *src, const size_t *n, size_t sz,
                    void **out, size_t *out_n, vectron_error *err)
{
    pthread_rwlock_rdlock(&c->lock);
    *out_n = *n;
    *out = NULL;
    if (*n) {
        *out = vx_malloc(*n * sz);
        if (!*out) {
            pthread_rwlock_unlock(&c->lock);
            return vx_err(err, VECTRON_NOMEM, "catalog copy");
        }
        memcpy(*out, *(const void *const *)src, *n * sz);
    }
    pthread_rwlock_unlock(&c->lock);
    return 0;
}

int pd_catalog_list(pd_catalog *c, pd_collection **out, size_t *n,
                    vectron_error *err)
{
    return copy_out(c, &c->cols, &c->n, sizeof **out, (void **)out, n, err);
}

int pd_catalog_nodes(pd_catalog *c, pd_node **out, size_t *n,
                     vectron_error *err)
{
    return copy_out(c, &c->nodes, &c->nn, sizeof **out, (void **)out, n, err);
}

int pd_catalog_placements(pd_catalog *c, pd_placement **out, size_t *n,
                          vectron_error *err)
{
    return copy_out(c, &c->pl, &c->npl, sizeof **out, (void **)out, n, err);
}

int pd_catalog_placement(pd_catalog *c, uint64_t group, pd_placement *out,
                         vectron_error *err)
{
    int found;
    pthread_rwlock_rdlock(&c->lock);
    size_t at = find_u64(c->pl, c->npl, sizeof *c->pl, group, &found);
    if (found)
        *out = c->pl[at];
    pthread_rwlock_unlock(&c->lock);
    if (!found)
        return vx_err(err, VECTRON_NOT_FOUND, "group %llu has no placement",
                      (unsigned long long)group);
    return 0;
}

int pd_catalog_key_get(pd_catalog *c, const char *id, pd_api_key *out,
                       vectron_error *err)
{
    int found;
    pthread_rwlock_rdlock(&c->lock);
    size_t at = find_key(c, id, &found);
    if (found)
        *out = c->keys[at];
    pthread_rwlock_unlock(&c->lock);
    if (!found)
        return vx_err(err, VECTRON_NOT_FOUND, "no key with id `%.40s`", id);
    return 0;
}

int pd_catalog_key_list(pd_catalog *c, pd_api_key **out, size_t *n,
                        vectron_error *err)
{
    pthread_rwlock_rdlock(&c->lock);
    *n = c->nkeys;
    *out = NULL;
    if (c->nkeys) {
        *out = vx_malloc(c->nkeys * sizeof(**out));
        if (!*out) {
            pthread_rwlock_unlock(&c->lock);
            return vx_err(err, VECTRON_NOMEM, "key list");
        }
        memcpy(*out, c->keys, c->nkeys * sizeof(**out));
    }
    pthread_rwlock_unlock(&c->lock);
    return 0;
}

size_t pd_catalog_key_count(pd_catalog *c)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t n = c->nkeys;
    pthread_rwlock_unlock(&c->lock);
    return n;
}

uint64_t pd_catalog_epoch(pd_catalog *c)
{
    pthread_rwlock_rdlock(&c->lock);
    uint64_t e = c->epoch;
    pthread_rwlock_unlock(&c->lock);
    return e;
}

/* A copy of n records of size sz (NULL when n is 0); -1 out of memory. */
static int dup_array(const void *src, size_t n, size_t sz, void **out)
{
    *out = NULL;
    if (!n)
        return 0;
    *out = vx_malloc(n * sz);
    if (!*out)
        return -1;
    memcpy(*out, src, n * sz);
    return 0;
}

int pd_catalog_replace(pd_catalog *c, uint64_t epoch, const pd_collection *cols,
                       size_t ncols, const pd_node *nodes, size_t nn,
                       const pd_placement *pls, size_t npl,
                       const pd_api_key *keys, size_t nkeys, vectron_error *err)
{
    void *a = NULL, *b = NULL, *d = NULL, *k = NULL;
    if (dup_array(cols, ncols, sizeof *cols, &a) ||
        dup_array(nodes, nn, sizeof *nodes, &b) ||
        dup_array(pls, npl, sizeof *pls, &d) ||
        dup_array(keys, nkeys, sizeof *keys, &k)) {
        vx_free(a);
        vx_free(b);
        vx_free(d);
        vx_free(k);
        return vx_err(err, VECTRON_NOMEM, "catalog mirror");
    }
    pthread_rwlock_wrlock(&c->lock);
    vx_free(c->cols);
    vx_free(c->nodes);
    vx_free(c->pl);
    c->cols = a;
    c->n = c->cap = ncols;
    c->nodes = b;
    c->nn = c->ncap = nn;
    c->pl = d;
    c->npl = c->plcap = npl;
    vx_free(c->keys);
    c->keys = k;
    c->nkeys = c->keys_cap = nkeys;
    c->epoch = epoch;
    pthread_rwlock_unlock(&c->lock);
    return 0;
}

int pd_cmd_is_key(const uint8_t *buf, size_t len)
{
    return len >= CMD_HEADER + 4 && vx_get_u32(buf) == CMD_MAGIC &&
           (buf[5] == OP_KEY_CREATE || buf[5] == OP_KEY_REVOKE);
}
