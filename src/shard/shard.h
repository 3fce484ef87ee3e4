/*
 * shard.h - the shard state machine: the deterministic "apply" of command
 * batches (the Raft log entries of one shard) to its LMDB point store and
 * its HNSW index, and searches over it.
 *
 * Apply writes the store in one transaction together with the Raft index
 * it brings the store to, so replaying the log after a crash skips what is
 * already there. The HNSW index is fed through a pending buffer that an
 * indexer thread drains; searches cover graph ∪ pending (brute force over
 * pending), so a write is searchable as soon as it is applied.
 *
 * Threading: shard_apply is called by one thread at a time (the Raft loop
 * thread). shard_search and the read functions may run concurrently with
 * it and with each other from any threads. The shard owns one indexer
 * thread, started by shard_open and joined by shard_close.
 *
 * Vectors are stored in the index's stored form: under cosine they are
 * normalised on apply (as Qdrant does), so the store returns unit vectors.
 */
#ifndef VECTRON_SHARD_H
#define VECTRON_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "common/point_id.h"
#include "store/store.h"
#include "vectron/index.h"

typedef struct shard shard;

typedef struct shard_params {
    vectron_index_params index; /* dim, metric, m, ef_construction, quant */
    store_options store;        /* store.dim is set from index.dim */
    /* Niceness of the indexer thread (0..19; 0 leaves it as the process
     * is). Above 0 the indexer yields the CPU to applies, replication and
     * searches: acknowledged writes wait in the pending buffer (searched
     * exactly) instead of queueing behind graph inserts. */
    int indexer_nice;
} shard_params;

/* Opens (or creates) the shard in dir: opens the store, loads the HNSW
 * checkpoint (dir/index.vxi, see shard_checkpoint) and reconciles it with
 * the stored points (adds what is missing or changed, removes what the
 * store no longer has), or rebuilds the index from the stored points when
 * there is no usable checkpoint; then starts the indexer thread. On
 * success *out is owned by the caller (shard_close). */
int shard_open(const char *dir, const shard_params *p, shard **out,
               vectron_error *err);

/* Saves the HNSW graph to dir/index.vxi (temporary file, fsync, rename)
 * so that the next shard_open loads it instead of rebuilding. It may run
 * while writes are applied and searches run: the checkpoint need not match
 * any applied index, since shard_open reconciles it with the store, the
 * source of truth. *points gets the number of points saved (may be NULL).
 * Errors: IO, NOMEM. */
int shard_checkpoint(shard *sh, size_t *points, vectron_error *err);

/* Changes the directory the shard names its files by (index.vxi) and
 * reports in errors, for a shard whose directory is renamed while open
 * (LMDB keeps its open files). Call it while no other thread uses the
 * shard's directory (no shard_checkpoint running). Errors: NOMEM. */
int shard_set_dir(shard *sh, const char *dir, vectron_error *err);

/* Stops the indexer and closes everything. NULL is a no-op. */
void shard_close(shard *sh);

/* The store underneath, for reads (scroll, retrieve, count); owned by the
 * shard, valid until shard_close. */
store *shard_store(shard *sh);

/* The Raft index the store has applied. Advanced only once the applied
 * batch is visible to searches (store and pending buffer). */
uint64_t shard_applied_index(shard *sh);

/* Memory the HNSW graph holds (vectron_index_memory), and the points in
 * it (pending writes not yet included). Thread-safe; O(1): the index
 * counts its upper-layer allocations as it makes them, so the heartbeat
 * and /metrics that read it every second cost nothing per point. */
size_t shard_index_memory(shard *sh);
size_t shard_index_points(shard *sh);

/* ---- commands (format: docs/formats/shard-commands.md) ---- */

typedef struct shard_cmd {
    uint8_t *buf;
    size_t len, cap;
    uint32_t n_ops;
    int failed; /* an append ran out of memory: finish reports NOMEM */
} shard_cmd;

void shard_cmd_init(shard_cmd *c);
void shard_cmd_close(shard_cmd *c);
void shard_cmd_upsert(shard_cmd *c, const point_id *id, const float *vec,
                      uint32_t dim, const char *payload, size_t payload_len);
void shard_cmd_delete(shard_cmd *c, const point_id *id);
void shard_cmd_set_payload(shard_cmd *c, const point_id *id, const char *json,
                           size_t len, int merge);
void shard_cmd_delete_payload(shard_cmd *c, const point_id *id,
                              const char *const *keys, size_t n);
void shard_cmd_create_index(shard_cmd *c, const char *field,
                            store_index_type type);
/* Drops the payload index on field (a no-op when there is none). */
void shard_cmd_drop_index(shard_cmd *c, const char *field);
/* Seals the command (header counts, CRC32C). *buf points into c (valid
 * until shard_cmd_close). Errors: NOMEM (an append failed), LIMIT. */
int shard_cmd_finish(shard_cmd *c, const uint8_t **buf, size_t *len,
                     vectron_error *err);

/* Applies the command at Raft index `index`. Entries at or below the
 * applied index are skipped (replay). A command that does not decode or
 * validate (bad CRC, wrong dimension, ...) changes no point but still
 * advances the applied index, deterministically on every replica, and
 * returns INVALID. Any other error (IO, LIMIT from a full map) means the
 * store could not be written: the caller must stop this replica rather
 * than skip the entry. */
int shard_apply(shard *sh, uint64_t index, const void *cmd, size_t len,
                vectron_error *err);

/* ---- search ---- */

typedef struct shard_hit {
    point_id id;
    uint64_t internal_id;
    float distance; /* the index's distance: lower is closer */
} shard_hit;

/* Searches graph ∪ pending. sp->filter / sp->allow, when given, act on
 * internal ids. Results are resolved to point ids through the store;
 * points deleted meanwhile are dropped. out has room for sp->k hits. */
int shard_search(shard *sh, const float *query, const vectron_search_params *sp,
                 shard_hit *out, size_t *n_out, vectron_error *err);

/* Waits until every applied write is in the graph (tests, benchmarks,
 * snapshots). Returns TIMEOUT after timeout_ms. */
int shard_wait_indexed(shard *sh, unsigned timeout_ms, vectron_error *err);

/* Waits until fewer than max writes wait for the indexer (max >= 1):
 * the backpressure writers apply so that the pending buffer, searched by
 * brute force, stays bounded. Returns TIMEOUT after timeout_ms. */
int shard_wait_pending_below(shard *sh, size_t max, unsigned timeout_ms,
                             vectron_error *err);

/* Number of writes applied but not yet in the graph. */
size_t shard_pending(shard *sh);

#endif
