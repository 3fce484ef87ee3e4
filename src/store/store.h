/*
 * store.h - the point store of one shard: an LMDB environment in one
 * directory (<data>/shards/<id>/) holding the shard's points (id, float
 * vector, JSON payload), the map from the dense internal ids that the HNSW
 * index uses back to point ids, the shard's applied Raft index, an opaque
 * collection-config blob, and payload indexes (keyword, integer, float,
 * bool) over registered payload fields. The on-disk layout is specified in
 * docs/formats/store.md.
 *
 * The store is the durable state under a Raft state machine: the Raft log
 * is the write-ahead log. Every write transaction commits its data and the
 * applied index (store_set_applied) atomically, so after a crash the shard
 * skips log entries at or below store_applied_index. By default commits do
 * not fsync (STORE_SYNC_NONE): a killed process loses nothing (the data is
 * in the page cache), a power loss may lose every commit since the last
 * store_sync. The caller calls store_sync before it records a Raft
 * snapshot.
 *
 * Errors. Every function that can fail returns 0 or a vectron_error_code
 * and, when err is not NULL, fills err with a message. LMDB's codes never
 * leave this module: a full map is VECTRON_LIMIT (the message says to raise
 * the map size), a damaged record or database is VECTRON_CORRUPT, an I/O
 * failure is VECTRON_IO. A record whose checksum does not match is reported
 * as VECTRON_CORRUPT; the store never crashes on damaged data.
 *
 * Threading model.
 * - After store_open returns, any number of threads may read concurrently,
 *   each with its own store_read handle or with rd = NULL (a short read
 *   transaction per call). Readers never block writers or each other.
 * - One write transaction at a time. store_txn_begin blocks while another
 *   thread's write transaction is open and returns once it has committed
 *   or aborted; two threads that write therefore take turns, they never
 *   interleave inside one transaction. A thread that calls store_txn_begin
 *   while it already holds a write transaction gets VECTRON_INVALID
 *   (instead of deadlocking). A store_txn must be used, committed and
 *   aborted by the thread that began it.
 * - A store_read may be handed from one thread to another but is used by
 *   one thread at a time.
 * - store_close requires that no other call is in flight and that every
 *   store_txn and store_read has ended.
 * - One process opens a store directory at a time.
 */
#ifndef VECTRON_STORE_H
#define VECTRON_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/point_id.h"
#include "vectron/error.h"

typedef struct store store;
typedef struct store_txn store_txn;
typedef struct store_read store_read;

/* Largest vector dimension and payload accepted by store_upsert. */
#define STORE_DIM_MAX 65536u
#define STORE_PAYLOAD_MAX (64u << 20)

/* Longest field name a payload index accepts (bytes). */
#define STORE_FIELD_MAX 128u

/* ---------------------------------------------------------------- open */

typedef enum store_sync_mode {
    /* Commits do not flush (MDB_NOSYNC). kill -9 loses nothing; a power
     * loss may lose commits since the last store_sync and, on a file
     * system that reorders writes, may damage the store. The default. */
    STORE_SYNC_NONE = 0,
    /* Commits flush the data but not the meta page (MDB_NOMETASYNC): a
     * power loss keeps the store intact but may undo the last commit. */
    STORE_SYNC_DATA = 1,
    /* Every commit is durable when it returns. */
    STORE_SYNC_FULL = 2
} store_sync_mode;

typedef struct store_options {
    /* Size of the memory map, which bounds the store's size. It is virtual
     * address space; the file grows only as data is written. Default 64
     * GiB. A store whose file is already larger opens with the file's
     * size. */
    size_t map_size;
    store_sync_mode sync; /* default STORE_SYNC_NONE */
    unsigned max_readers; /* concurrent read transactions; default 126 */
    /* When not 0, every upserted vector must have this dimension
     * (VECTRON_DIMENSION otherwise). Not stored; the caller passes the
     * collection's dimension each time it opens the store. Default 0. */
    uint32_t dim;
} store_options;

/* Fills opt with the defaults above. */
void store_options_default(store_options *opt);

/* Opens the store in directory dir (created, with its parents, if
 * missing), creating an empty store if the directory holds none. opt may
 * be NULL for the defaults. On success *out is a new handle owned by the
 * caller (release it with store_close); on failure *out is untouched.
 * Errors: INVALID (bad options), IO (cannot create or open the
 * directory or files), CORRUPT (not a Vectron store, or damaged),
 * UNSUPPORTED (a store format or LMDB version this build cannot read),
 * NOMEM, LIMIT (map too small to initialise). */
int store_open(const char *dir, const store_options *opt, store **out,
               vectron_error *err);

/* Closes the store and frees st (NULL is a no-op). Every transaction and
 * read handle must have ended. Does not sync: call store_sync first if the
 * last commits must survive a power loss. */
void store_close(store *st);

/* Forces every committed transaction to disk (mdb_env_sync with force).
 * Errors: IO. Safe to call concurrently with readers and a writer. */
int store_sync(store *st, vectron_error *err);

/* Writes a compacted, consistent copy of the store (as of the moment of
 * the call; concurrent writes are not included) to dest_dir, which is
 * created if missing and must not already hold a store. The copy opens
 * with store_open. Runs concurrently with readers and a writer, but blocks
 * the calling thread for as long as the copy takes: never call it on an
 * event-loop thread. Errors: EXISTS (dest_dir already holds data.mdb), IO,
 * NOMEM. */
int store_copy(store *st, const char *dest_dir, vectron_error *err);

/* The directory the store was opened in. Borrowed; valid until
 * store_close. */
const char *store_dir(const store *st);

/* ------------------------------------------------- write transactions */

/* Begins the write transaction; blocks while another thread holds one.
 * On success *out is owned by the caller until store_txn_commit or
 * store_txn_abort. Errors: INVALID (this thread already holds the write
 * transaction), NOMEM, IO, CORRUPT (damaged meta records). */
int store_txn_begin(store *st, store_txn **out, vectron_error *err);

/* Commits and ends txn; txn is freed whether or not this succeeds. If an
 * earlier operation in txn failed in a way that left it half applied (see
 * below), nothing is committed and that operation's code is returned.
 * Errors: LIMIT (map full: raise the map size), IO, and the code of an
 * earlier failure. */
int store_txn_commit(store_txn *txn, vectron_error *err);

/* Discards every change of txn and frees it. NULL is a no-op. */
void store_txn_abort(store_txn *txn);

/*
 * The write operations below all take an open txn and change nothing
 * visible to readers until store_txn_commit.
 *
 * Failure rule: an operation that fails before it writes anything leaves
 * txn as it was, and the caller may go on using it. That is always the
 * case for INVALID, DIMENSION, NOT_FOUND and EXISTS, and for a damaged
 * existing record (CORRUPT) found by upsert, delete and the payload
 * updates. A failure after the first write (LIMIT, IO, NOMEM, or CORRUPT
 * while store_index_create indexes existing points) may leave the
 * operation half applied: txn is then marked failed, every later write
 * operation and store_txn_commit return that code, and the caller must
 * end txn (commit and abort both discard it).
 */

/* Inserts or replaces the point id: its vector (dim floats, copied) and
 * its payload (payload_len bytes of a JSON object, stored as given;
 * payload may be NULL when payload_len is 0, meaning no payload). A new
 * point gets the next internal id (monotonic from 1, never reused, even
 * after a delete); an existing point keeps its internal id. Payload
 * indexes are updated in txn. *internal_id (may be NULL) receives the
 * point's internal id. Errors: INVALID (dim 0 or above STORE_DIM_MAX, a
 * non-finite component, payload not a JSON object or above
 * STORE_PAYLOAD_MAX), DIMENSION (dim differs from store_options.dim),
 * CORRUPT (the existing record is damaged), LIMIT, IO, NOMEM. */
int store_upsert(store_txn *txn, const point_id *id, const float *vec,
                 uint32_t dim, const char *payload, size_t payload_len,
                 uint64_t *internal_id, vectron_error *err);

/* Deletes the point id and its payload-index entries. *internal_id (may
 * be NULL) receives the deleted point's internal id. A missing point is
 * NOT_FOUND and changes nothing (txn stays usable), so deleting twice is
 * harmless. Errors: NOT_FOUND, CORRUPT, LIMIT, IO. */
int store_delete(store_txn *txn, const point_id *id, uint64_t *internal_id,
                 vectron_error *err);

/* Sets the payload of the existing point id from json (len bytes of a
 * JSON object). merge = 1 overwrites only the top-level keys present in
 * json and keeps the others (Qdrant's set_payload); merge = 0 replaces the
 * whole payload with json as given (Qdrant's overwrite_payload; len 0
 * clears it). A merged payload is re-serialised compactly (key order
 * kept, numbers in their shortest round-trip form). The vector and
 * internal id are kept. Errors: NOT_FOUND, INVALID, CORRUPT, LIMIT, IO,
 * NOMEM. */
int store_set_payload(store_txn *txn, const point_id *id, const char *json,
                      size_t len, int merge, vectron_error *err);

/* Removes keys[0..n) (NUL-terminated; a dotted path "a.b" names key b
 * inside object a, and descends into arrays of objects) from the payload
 * of the existing point id. Keys that are absent are ignored; if none is
 * present nothing is written. Errors: NOT_FOUND, INVALID, CORRUPT, LIMIT,
 * IO, NOMEM. */
int store_delete_payload_keys(store_txn *txn, const point_id *id,
                              const char *const *keys, size_t n,
                              vectron_error *err);

/* Records the Raft index that txn's changes bring the store to. Errors:
 * INVALID (index below the current applied index), LIMIT, IO. */
int store_set_applied(store_txn *txn, uint64_t index, vectron_error *err);

/* Sets the opaque collection-config blob (len bytes, copied; len may be
 * 0). Errors: INVALID (len above STORE_PAYLOAD_MAX), LIMIT, IO. */
int store_set_config(store_txn *txn, const void *blob, size_t len,
                     vectron_error *err);

/* A read handle on txn itself (it sees txn's uncommitted changes) to pass
 * to the read functions below. Owned by txn: valid until txn ends; never
 * pass it to store_read_end or store_read_renew; use it only from txn's
 * thread. */
store_read *store_txn_read(store_txn *txn);

/* ------------------------------------------------------ payload indexes */

typedef enum store_index_type {
    STORE_KEYWORD = 1, /* JSON strings, compared as bytes */
    STORE_INTEGER = 2, /* JSON integers (int64) */
    STORE_FLOAT = 3,   /* JSON numbers, as double */
    STORE_BOOL = 4     /* true / false */
} store_index_type;

/* "keyword", "integer", "float", "bool"; static, or NULL for a bad type. */
const char *store_index_type_name(store_index_type type);

/* Parses one of the names above. Errors: INVALID. */
int store_index_type_parse(const char *name, store_index_type *type,
                           vectron_error *err);

/* Registers a payload index on field (a top-level key or a dotted path
 * "a.b"; an array on the path or at its end indexes each element) and
 * indexes every existing point in txn. Values of other JSON types than
 * the index's are not indexed. Creating an index that exists with the
 * same type does nothing. Errors: INVALID (empty field, longer than
 * STORE_FIELD_MAX, containing NUL, or a bad type), EXISTS (field indexed
 * with another type), CORRUPT, LIMIT, IO, NOMEM. */
int store_index_create(store_txn *txn, const char *field, store_index_type type,
                       vectron_error *err);

/* Drops the index on field and all its entries. Errors: NOT_FOUND (no
 * such index; txn unchanged), LIMIT, IO. */
int store_index_drop(store_txn *txn, const char *field, vectron_error *err);

/* A value to look up in a payload index. For STORE_KEYWORD, s points to
 * s_len bytes (borrowed for the call). */
typedef struct store_value {
    store_index_type type;
    int64_t i;     /* STORE_INTEGER */
    double f;      /* STORE_FLOAT */
    int b;         /* STORE_BOOL: 0 or 1 */
    const char *s; /* STORE_KEYWORD */
    size_t s_len;
} store_value;

/* ---------------------------------------------------------------- reads */

/*
 * Every read function takes rd: NULL for a short read transaction of its
 * own (each call sees the latest commit), or a handle from store_read_begin
 * (every call sees the same consistent snapshot) or store_txn_read.
 */

/* Opens a read handle: a consistent snapshot of the store as of now. Keep
 * it short-lived: while it is open, LMDB cannot reuse the pages that later
 * commits free, so the file grows. On success *out is owned by the caller
 * until store_read_end. Errors: LIMIT (max_readers handles open), IO,
 * NOMEM. */
int store_read_begin(store *st, store_read **out, vectron_error *err);

/* Moves rd to the latest committed snapshot (cheaper than end + begin).
 * Errors: IO; on failure rd must still be ended. */
int store_read_renew(store_read *rd, vectron_error *err);

/* Ends and frees rd (NULL is a no-op). Pointers obtained through rd stay
 * valid only until then. */
void store_read_end(store_read *rd);

/* A point owned by the caller; release with store_point_clear. */
typedef struct store_point {
    point_id id;
    uint64_t internal_id;
    uint32_t dim;
    float *vector;      /* dim floats, owned */
    char *payload;      /* payload_len bytes + a NUL, owned; "" if none */
    size_t payload_len; /* 0 when the point has no payload */
} store_point;

/* Frees p's vector and payload and zeroes it (safe on a zeroed point). */
void store_point_clear(store_point *p);

/* Reads the point id into *out (owned by the caller; on failure *out is
 * zeroed). Errors: NOT_FOUND, CORRUPT (checksum mismatch, bad record),
 * UNSUPPORTED (a record version this build cannot read), NOMEM, IO. */
int store_get(store *st, store_read *rd, const point_id *id, store_point *out,
              vectron_error *err);

/* Maps an internal id back to its point id. Errors: NOT_FOUND, CORRUPT,
 * IO. */
int store_get_by_internal(store *st, store_read *rd, uint64_t internal_id,
                          point_id *out, vectron_error *err);

/* The applied Raft index (0 for a new store). Errors: CORRUPT, IO. */
int store_applied_index(store *st, store_read *rd, uint64_t *out,
                        vectron_error *err);

/* Bytes of the store's data file in use (LMDB's pages up to the last one
 * used, times the page size): what the store holds on disk, free pages
 * inside it included. Cannot fail; 0 if LMDB cannot tell. */
uint64_t store_used_bytes(store *st);

/* The number of points. Errors: IO. */
int store_count(store *st, store_read *rd, uint64_t *out, vectron_error *err);

/* The next internal id store_upsert would assign. Errors: CORRUPT, IO. */
int store_next_internal_id(store *st, store_read *rd, uint64_t *out,
                           vectron_error *err);

/* Copies the collection-config blob into *blob (vx_malloc'd, caller frees
 * with vx_free; NULL when len is 0) and its length into *len. Errors:
 * NOT_FOUND (never set), CORRUPT, NOMEM, IO. */
int store_get_config(store *st, store_read *rd, void **blob, size_t *len,
                     vectron_error *err);

/* A point as the scan callbacks see it. Every pointer is borrowed and
 * valid only during the callback. */
typedef struct store_point_view {
    point_id id;
    uint64_t internal_id;
    uint32_t dim;
    const float *vector; /* dim floats */
    const char *payload; /* payload_len bytes, NOT NUL-terminated */
    size_t payload_len;
} store_point_view;

/* Returned by a store_point_fn to end a scan early, without error, before
 * the point it was given (that point becomes the scan's *next). */
#define STORE_SCAN_STOP (-1)

/* Called for each point of a scan. Returns 0 to go on, STORE_SCAN_STOP,
 * or a vectron_error_code (filling err, which is the err passed to the
 * scan), which ends the scan and is returned by it. arg is the caller's. */
typedef int (*store_point_fn)(void *arg, const store_point_view *p,
                              vectron_error *err);

/* Visits points in key order (numeric ids ascending, then UUIDs bytewise),
 * starting at from (inclusive; NULL for the first point), calling fn for
 * at most limit points (SIZE_MAX for all). On success *has_next (may be
 * NULL) says whether the scan ended before the last point, and then *next
 * (may be NULL) is the id of the first point not visited: the point after
 * the limit-th one, or the one fn answered STORE_SCAN_STOP for. That is
 * the offset of the next page (Qdrant's next_page_offset); *next is left
 * untouched when *has_next is 0. fn must not write through the
 * transaction being scanned. Errors: CORRUPT (a damaged record ends the
 * scan), NOMEM, IO, or fn's code. */
int store_scan(store *st, store_read *rd, const point_id *from, size_t limit,
               store_point_fn fn, void *arg, point_id *next, int *has_next,
               vectron_error *err);

/* Visits every point in key order: for rebuilding the HNSW index at
 * start-up. Same callback contract as store_scan (STORE_SCAN_STOP ends it
 * with 0). */
int store_foreach(store *st, store_read *rd, store_point_fn fn, void *arg,
                  vectron_error *err);

/* Internal ids of the points whose field has value, ascending, without
 * duplicates, in *ids (vx_malloc'd, caller frees with vx_free; NULL when
 * *n is 0). A value of another type is converted where it makes sense
 * (an integer against a float index; a whole float against an integer
 * index; a fractional one matches nothing). Errors: NOT_FOUND (field not
 * indexed), INVALID (a value type that cannot match the index type, a NaN
 * float), CORRUPT, NOMEM, IO. */
int store_index_eq(store *st, store_read *rd, const char *field,
                   const store_value *value, uint64_t **ids, size_t *n,
                   vectron_error *err);

/* Internal ids of the points whose field has a value in the range from lo
 * to hi (either may be NULL for unbounded; lo_incl / hi_incl: 1 for >= /
 * <=, 0 for > / <), ascending, without duplicates (a point with several
 * values in range appears once), in *ids as for store_index_eq. Ranges
 * over keywords compare bytes; for keywords longer than about 290 bytes
 * only their first bytes take part in the order (equality stays exact).
 * Bounds convert as for store_index_eq (a float bound against an integer
 * index is rounded toward the inside of the range). Errors: as
 * store_index_eq. */
int store_index_range(store *st, store_read *rd, const char *field,
                      const store_value *lo, int lo_incl, const store_value *hi,
                      int hi_incl, uint64_t **ids, size_t *n,
                      vectron_error *err);

/* A registered payload index. */
typedef struct store_index_def {
    char *field; /* owned by the array, NUL-terminated */
    store_index_type type;
} store_index_def;

/* The registered indexes, ordered by field name, in *defs (caller frees
 * with store_index_defs_free; NULL when *n is 0). Errors: CORRUPT, NOMEM,
 * IO. */
int store_index_list(store *st, store_read *rd, store_index_def **defs,
                     size_t *n, vectron_error *err);

/* Frees an array from store_index_list (NULL is a no-op). */
void store_index_defs_free(store_index_def *defs, size_t n);

#endif
