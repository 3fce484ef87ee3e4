/*
 * catalog.h - the Placement Driver's metadata state machine: the catalog of
 * collections and the Raft groups of their shards.
 *
 * The catalog is the FSM of the PD's Raft group (one member in `vectron
 * serve`, three or five in a cluster). Commands create and drop
 * collections, and create and revoke API keys (stored hashed, never in
 * clear; docs/auth.md); apply is deterministic (ids and group ids come from
 * counters in the state, never from clocks). The whole catalog is small
 * (a few hundred bytes per collection), so a Raft snapshot of it is the
 * full state. Formats: docs/formats/pd-commands.md.
 *
 * Threading: pd_catalog_apply / _snapshot / _restore run on the Raft loop
 * thread, one at a time; the read functions (pd_catalog_get, _list,
 * _epoch) may run concurrently from any thread (a rwlock guards the
 * state). The encoders are pure.
 *
 * Prefix: pd_.
 */
#ifndef VECTRON_PD_CATALOG_H
#define VECTRON_PD_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "vectron/error.h"
#include "vectron/index.h"

/* Longest collection name in bytes. */
#define PD_NAME_MAX 255u
/* The PD's own Raft group id; shard groups are numbered from
 * PD_FIRST_SHARD_GROUP. */
#define PD_GROUP_ID 1u
#define PD_FIRST_SHARD_GROUP 1000u
/* Most shards per collection. */
#define PD_MAX_SHARDS 1024u

/* Most replicas per shard (Raft voters). */
#define PD_MAX_REPLICAS 7u

/* Longest node address ("ip:port") in bytes, terminating NUL included. */
#define PD_ADDR_MAX 64u

/* Read consistency defaults a collection may carry (DESIGN section 5). */
enum { PD_READ_STRONG = 1, PD_READ_BOUNDED = 2, PD_READ_EVENTUAL = 3 };

/* The parameters of a collection, fixed at creation. */
typedef struct pd_collection_params {
    uint32_t dim;
    vectron_metric metric;
    vectron_quant quant;
    float quantile; /* int8 quantile (0.5..1], 0: the index default */
    uint32_t m, ef_construction;
    uint32_t shard_number, replication_factor;
    uint8_t read_consistency; /* PD_READ_* */
} pd_collection_params;

typedef struct pd_collection {
    char name[PD_NAME_MAX + 1];
    uint64_t id;            /* unique, never reused */
    uint64_t first_group;   /* shard i is Raft group first_group + i */
    uint64_t created_index; /* the Raft index of the create command */
    pd_collection_params p;
} pd_collection;

/* A cluster node (a worker) as the catalog records it. Liveness (up or
 * down) is not here: it is the PD leader's soft state from heartbeats. */
enum { PD_NODE_ACTIVE = 0, PD_NODE_DRAINING = 1, PD_NODE_REMOVED = 2 };

typedef struct pd_node {
    uint64_t id;   /* > 0; also its Raft member id in every group */
    uint8_t state; /* PD_NODE_* */
    char raft_addr[PD_ADDR_MAX];
    char rpc_addr[PD_ADDR_MAX];
} pd_node;

/* The replica set of one shard group. conf_epoch is the Raft index of the
 * command that last set it (a compare-and-set token for changes). */
typedef struct pd_placement {
    uint64_t group;
    uint64_t conf_epoch;
    uint32_t n;
    uint64_t replicas[PD_MAX_REPLICAS]; /* node ids, distinct */
} pd_placement;

/* Checks a collection name: 1..PD_NAME_MAX bytes of [A-Za-z0-9_.-], not
 * "." or "..". INVALID with a message otherwise. */
int pd_check_name(const char *name, size_t len, vectron_error *err);

/* ---- commands ----------------------------------------------------------
 * Encoders return a vx_malloc'd buffer in *buf (caller frees with vx_free)
 * of *len bytes. Errors: INVALID (bad name or parameters), NOMEM. */
int pd_cmd_create(const char *name, const pd_collection_params *p,
                  uint8_t **buf, size_t *len, vectron_error *err);
int pd_cmd_drop(const char *name, uint8_t **buf, size_t *len,
                vectron_error *err);

/* Create with placement (a cluster): replicas holds shard_number rows of
 * replication_factor node ids (row i: shard i's replicas). */
int pd_cmd_create_placed(const char *name, const pd_collection_params *p,
                         const uint64_t *replicas, uint8_t **buf, size_t *len,
                         vectron_error *err);

/* Registers a node or updates its addresses and state. */
int pd_cmd_node_set(const pd_node *node, uint8_t **buf, size_t *len,
                    vectron_error *err);

/* Sets the replicas of a placed group if its conf_epoch is still
 * expect_epoch (compare-and-set). */
int pd_cmd_place(uint64_t group, uint64_t expect_epoch,
                 const uint64_t *replicas, uint32_t n, uint8_t **buf,
                 size_t *len, vectron_error *err);
/* ---- API keys ------------------------------------------------------------
 * A key's secret never reaches the catalog: the gateway that creates a key
 * sends its BLAKE2b hash (docs/auth.md). Ids are chosen by the proposer
 * (random), so apply stays deterministic; times are the proposer's clock,
 * carried in the command. */

#define PD_KEY_ID_MAX 32u       /* id: 1..32 bytes of [A-Za-z0-9] */
#define PD_KEY_NAME_MAX 128u    /* label: printable bytes, may be empty */
#define PD_KEY_SCOPES_MAX 2047u /* comma-separated collection names */
#define PD_KEY_HASH_SIZE 32u
#define PD_MAX_KEYS 4096u

/* Access levels of a key, ordered (a higher level includes the lower). */
enum { PD_KEY_READ = 1, PD_KEY_WRITE = 2, PD_KEY_ADMIN = 3 };

typedef struct pd_api_key {
    char id[PD_KEY_ID_MAX + 1];
    char name[PD_KEY_NAME_MAX + 1];
    /* Collections the key may touch, comma-separated, "" for every one.
     * Admin keys are never scoped. */
    char scopes[PD_KEY_SCOPES_MAX + 1];
    uint8_t level; /* PD_KEY_* */
    uint8_t hash[PD_KEY_HASH_SIZE];
    uint64_t created_at;    /* Unix seconds, the proposer's clock */
    uint64_t expires_at;    /* Unix seconds; 0: never */
    uint64_t created_index; /* the Raft index of the create command */
} pd_api_key;

/* Encodes the creation of key k (id, name, scopes, level, hash,
 * created_at, expires_at are read; created_index is assigned by apply).
 * Errors: INVALID (bad id, name, level or scopes: each a collection name,
 * none repeated, none for an admin key), NOMEM. */
int pd_cmd_key_create(const pd_api_key *k, uint8_t **buf, size_t *len,
                      vectron_error *err);
/* Encodes the revocation of the key with this id. Errors: INVALID,
 * NOMEM. */
int pd_cmd_key_revoke(const char *id, uint8_t **buf, size_t *len,
                      vectron_error *err);

/* ---- the state machine ------------------------------------------------ */

typedef struct pd_catalog pd_catalog;

/* An empty catalog. Errors: NOMEM. */
int pd_catalog_new(pd_catalog **out, vectron_error *err);
void pd_catalog_free(pd_catalog *c); /* NULL is a no-op */

/* Applies a command at Raft index `index`. Returns 0, or the outcome the
 * submitter sees: EXISTS (create of an existing name or key id; a place
 * whose expected conf_epoch is stale), NOT_FOUND (drop of an unknown
 * collection, revoke of an unknown key, a place of an unplaced group, a
 * placement naming an unknown node), INVALID (a placement on a removed
 * node or, at create, on a node that is not active), LIMIT (too many
 * groups, or PD_MAX_KEYS keys), CORRUPT (a command that does not decode;
 * ignored, as on every replica). Deterministic. */
int pd_catalog_apply(pd_catalog *c, uint64_t index, const void *buf,
                     size_t len);

/* Serialises the whole catalog (docs/formats/pd-commands.md) into *buf
 * (vx_malloc'd). Errors: NOMEM. */
int pd_catalog_snapshot(pd_catalog *c, void **buf, size_t *len,
                        vectron_error *err);

/* Replaces the state with a snapshot. Errors: CORRUPT, UNSUPPORTED,
 * NOMEM (the state is then unchanged). */
int pd_catalog_restore(pd_catalog *c, const void *buf, size_t len,
                       vectron_error *err);

/* Copies the collection called name into *out. NOT_FOUND otherwise. */
int pd_catalog_get(pd_catalog *c, const char *name, pd_collection *out,
                   vectron_error *err);

/* Copies every collection, ordered by name, into *out (vx_malloc'd,
 * caller frees with vx_free; NULL when *n is 0). Errors: NOMEM. */
int pd_catalog_list(pd_catalog *c, pd_collection **out, size_t *n,
                    vectron_error *err);

/* Copies every node, ordered by id, into *out (vx_malloc'd; NULL when *n
 * is 0). Errors: NOMEM. */
int pd_catalog_nodes(pd_catalog *c, pd_node **out, size_t *n,
                     vectron_error *err);

/* Copies the placement of group into *out. NOT_FOUND when the group has
 * none (a collection created without placement, as in `vectron serve`). */
int pd_catalog_placement(pd_catalog *c, uint64_t group, pd_placement *out,
                         vectron_error *err);

/* Copies every placement, ordered by group, into *out (vx_malloc'd; NULL
 * when *n is 0). Errors: NOMEM. */
int pd_catalog_placements(pd_catalog *c, pd_placement **out, size_t *n,
                          vectron_error *err);

/* Replaces the whole state with copies of the given arrays (each sorted:
 * collections by name, nodes by id, placements by group, keys by id) and
 * epoch: a gateway's mirror of the PD's catalog. Errors: NOMEM (unchanged). */
int pd_catalog_replace(pd_catalog *c, uint64_t epoch, const pd_collection *cols,
                       size_t ncols, const pd_node *nodes, size_t nn,
                       const pd_placement *pls, size_t npl,
                       const pd_api_key *keys, size_t nkeys,
                       vectron_error *err);

/* 1 if buf[0..len) is a key command (create or revoke) by its header:
 * what a gateway may forward to the PD. Apply checks the rest. */
int pd_cmd_is_key(const uint8_t *buf, size_t len);

/* Copies the key with this id into *out. NOT_FOUND otherwise. */
int pd_catalog_key_get(pd_catalog *c, const char *id, pd_api_key *out,
                       vectron_error *err);

/* Copies every key, ordered by id, into *out (vx_malloc'd, caller frees
 * with vx_free; NULL when *n is 0). Errors: NOMEM. */
int pd_catalog_key_list(pd_catalog *c, pd_api_key **out, size_t *n,
                        vectron_error *err);

/* The number of keys stored (no lock-free guarantee: takes the read
 * lock). */
size_t pd_catalog_key_count(pd_catalog *c);

/* The Raft index of the last change (0 for an empty history): the
 * metadata epoch that caches compare. */
uint64_t pd_catalog_epoch(pd_catalog *c);

#endif
