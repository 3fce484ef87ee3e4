/*
 * shard_int.h - private header of the shard module: the shard struct, the
 * pending buffer shared by shard.c (lifecycle, indexer, search) and
 * shard_cmd.c (command encoding, decoding and apply).
 *
 * Threading: `mu` guards the pending buffer and the applied-index cache;
 * the indexer thread waits on `cv_work`, shard_wait_indexed on `cv_done`.
 */
#ifndef VECTRON_SHARD_INT_H
#define VECTRON_SHARD_INT_H

#include <pthread.h>

#include "shard/shard.h"

enum { PENDING_UPSERT = 1, PENDING_DELETE = 2 };

typedef struct pending_entry {
    uint64_t internal_id;
    int op;
    float *vec; /* PENDING_UPSERT: dim floats in stored form, owned */
} pending_entry;

/* The HNSW checkpoint in the shard's directory (shard_checkpoint). */
#define SHARD_INDEX_FILE "index.vxi"

struct shard {
    shard_params p;
    char *dir; /* the shard's directory, owned */
    store *st;
    vectron_index *idx;

    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    pending_entry *pend; /* [head, tail) are live */
    size_t head, tail, cap;
    size_t taken; /* entries the indexer is working on, from head */
    int stop;
    pthread_t indexer;
    uint64_t applied; /* cache of the store's applied index */
};

/* Makes room for n more pending entries (mu not held). NOMEM on failure.
 * Only the apply thread pushes, so room reserved stays available. */
int shard_pending_reserve(shard *sh, size_t n);
/* Appends to the pending buffer (mu not held) within reserved room; takes
 * ownership of vec (NULL for deletes). Cannot fail. */
void shard_pending_push(shard *sh, uint64_t internal_id, int op, float *vec);
/* Records the applied index after a store commit. */
void shard_set_applied(shard *sh, uint64_t index);

#endif
