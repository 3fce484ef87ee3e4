/*
 * result_cache.h - the gateway's search result cache: a byte-capped LRU
 * map from opaque keys to opaque values, with an optional time to live.
 *
 * The cache knows nothing about searches. The search handlers
 * (api_search.c) build keys that hold the collection, the request and
 * every shard's applied Raft index read at lookup time, so a write to any
 * shard changes the key of every search over it: stale entries are never
 * found again and age out of the LRU (docs/cache.md). Nothing here is an
 * in-process pointer, so the same keys work when the gateway runs apart
 * from the workers and learns the applied indexes over RPC.
 *
 * Memory. An entry costs its key, its value and a fixed header
 * (GW_CACHE_ENTRY_OVERHEAD); the sum over all entries never exceeds
 * max_bytes. The map is split into GW_CACHE_SHARDS independent parts, each
 * with max_bytes / GW_CACHE_SHARDS of the budget, its own lock, hash table
 * and LRU list; an entry larger than half a part's budget is not stored.
 * Inserting evicts the least recently used entries of the key's part until
 * the new entry fits.
 *
 * Time to live. With ttl_ms > 0 an entry older than ttl_ms is a miss (and
 * is removed when found); 0 keeps entries until they are evicted.
 *
 * Threading: every function is thread-safe; a lookup or insert locks one
 * part only, chosen by the key's hash, so threads working on different
 * keys rarely contend. Values are copied out under the lock (no reference
 * outlives the call). gw_cache_free requires that no other call is in
 * flight.
 *
 * Prefix: gw_cache_.
 */
#ifndef VECTRON_GW_RESULT_CACHE_H
#define VECTRON_GW_RESULT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "vectron/error.h"

#define GW_CACHE_SHARDS 16u

/* Bytes an entry costs besides its key and value. */
#define GW_CACHE_ENTRY_OVERHEAD 64u

typedef struct gw_cache gw_cache;

typedef struct gw_cache_options {
    size_t max_bytes; /* > 0 */
    uint64_t ttl_ms;  /* 0: entries do not expire */
    /* The clock for the time to live, in milliseconds (tests); NULL:
     * CLOCK_MONOTONIC. */
    uint64_t (*now_ms)(void *arg);
    void *now_arg;
} gw_cache_options;

/* Counters since creation and the current size. */
typedef struct gw_cache_stats {
    uint64_t hits, misses;
    uint64_t inserts;   /* entries stored */
    uint64_t evictions; /* entries dropped to make room */
    uint64_t expired;   /* entries dropped because their ttl ran out */
    uint64_t too_large; /* values not stored: above the per-entry cap */
    uint64_t bytes;     /* held now, overheads included */
    uint64_t entries;   /* held now */
    uint64_t max_bytes;
} gw_cache_stats;

/* Creates an empty cache (free with gw_cache_free). Errors: INVALID
 * (max_bytes 0), NOMEM. */
int gw_cache_new(const gw_cache_options *o, gw_cache **out, vectron_error *err);

/* Frees every entry and the cache. NULL is a no-op. */
void gw_cache_free(gw_cache *c);

/* Looks key (klen bytes, borrowed) up. On a hit, *val receives a copy of
 * the value (vx_malloc'd, NUL-terminated, *vlen bytes before the NUL;
 * the caller frees it), the entry becomes the most recently used, and 1
 * is returned. A miss (absent, expired, or no memory for the copy)
 * returns 0 and leaves *val NULL. */
int gw_cache_get(gw_cache *c, const void *key, size_t klen, char **val,
                 size_t *vlen);

/* Stores a copy of key -> val (both borrowed), replacing an entry with
 * the same key, evicting least recently used entries of its part to make
 * room. Returns 1 if stored, 0 if not (too large, or out of memory: the
 * cache is only an optimisation, so neither is an error). */
int gw_cache_put(gw_cache *c, const void *key, size_t klen, const void *val,
                 size_t vlen);

/* The largest entry (key + value + GW_CACHE_ENTRY_OVERHEAD) put stores:
 * half of a part's budget. */
size_t gw_cache_max_entry(const gw_cache *c);

/* The 64-bit hash gw_cache uses for key (XXH3). */
uint64_t gw_cache_hash(const void *key, size_t klen);

/* Reads the counters (each part's under its lock, so the sum is not one
 * instant's view while other threads work). */
void gw_cache_get_stats(gw_cache *c, gw_cache_stats *out);

#endif
