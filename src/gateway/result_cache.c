/*
 * result_cache.c - the byte-capped, sharded LRU behind the search result
 * cache (result_cache.h).
 *
 * Layout. GW_CACHE_SHARDS parts; a key goes to the part chosen by the top
 * bits of its XXH3 hash and to the bucket chosen by the low bits. Each part
 * holds a chained hash table (power-of-two buckets, doubled when the
 * entries outnumber them) and a doubly linked LRU list (head: most
 * recently used). An entry is one allocation: header, key, value, NUL.
 *
 * Threading: each part has its own mutex, held for the whole of a lookup
 * or insert in that part (hashing and the value copy for the caller's
 * buffer happen outside it where possible). Counters live in the parts
 * under the same locks.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define XXH_INLINE_ALL /* header-only: no library to link */
#include <xxhash.h>

#include "common/common.h"
#include "gateway/result_cache.h"

typedef struct entry {
    uint64_t hash;
    struct entry *chain;       /* next in the bucket */
    struct entry *prev, *next; /* LRU list */
    uint64_t born_ms;          /* when stored */
    size_t klen, vlen;         /* bytes after the header: key, value */
} entry;

_Static_assert(sizeof(entry) <= GW_CACHE_ENTRY_OVERHEAD,
               "entry header larger than its accounted overhead");

typedef struct part {
    pthread_mutex_t mu;
    entry **buckets;
    size_t nbuckets; /* power of two */
    entry *head, *tail;
    size_t bytes, cap, entries;
    uint64_t hits, misses, inserts, evictions, expired, too_large;
    char pad[64];
} part;

struct gw_cache {
    gw_cache_options o;
    part parts[GW_CACHE_SHARDS];
};

static uint64_t mono_ms(void *arg)
{
    struct timespec ts;
    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t gw_cache_hash(const void *key, size_t klen)
{
    return XXH3_64bits(key, klen);
}

static size_t entry_cost(size_t klen, size_t vlen)
{
    return GW_CACHE_ENTRY_OVERHEAD + klen + vlen;
}

static char *entry_key(entry *e)
{
    return (char *)(e + 1);
}

static part *part_of(gw_cache *c, uint64_t h)
{
    return &c->parts[h >> 60 & (GW_CACHE_SHARDS - 1)];
}

int gw_cache_new(const gw_cache_options *o, gw_cache **out, vectron_error *err)
{
    *out = NULL;
    if (!o->max_bytes)
        return vx_err(err, VECTRON_INVALID, "cache: max_bytes is 0");
    gw_cache *c = vx_calloc(1, sizeof *c);
    if (!c)
        return vx_err(err, VECTRON_NOMEM, "cache: out of memory");
    c->o = *o;
    if (!c->o.now_ms)
        c->o.now_ms = mono_ms;
    for (size_t i = 0; i < GW_CACHE_SHARDS; i++) {
        part *p = &c->parts[i];
        pthread_mutex_init(&p->mu, NULL);
        p->cap = o->max_bytes / GW_CACHE_SHARDS;
        p->nbuckets = 64;
        p->buckets = vx_calloc(p->nbuckets, sizeof *p->buckets);
        if (!p->buckets) {
            gw_cache_free(c);
            return vx_err(err, VECTRON_NOMEM, "cache: out of memory");
        }
    }
    *out = c;
    return 0;
}

void gw_cache_free(gw_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < GW_CACHE_SHARDS; i++) {
        part *p = &c->parts[i];
        entry *e = p->head;
        while (e) {
            entry *next = e->next;
            vx_free(e);
            e = next;
        }
        vx_free(p->buckets);
        pthread_mutex_destroy(&p->mu);
    }
    vx_free(c);
}

/* ---- list and table (part lock held) ----------------------------------- */

static void lru_unlink(part *p, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        p->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        p->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(part *p, entry *e)
{
    e->prev = NULL;
    e->next = p->head;
    if (p->head)
        p->head->prev = e;
    p->head = e;
    if (!p->tail)
        p->tail = e;
}

static entry **find_slot(part *p, uint64_t h, const void *key, size_t klen)
{
    entry **pp = &p->buckets[h & (p->nbuckets - 1)];
    while (*pp) {
        entry *e = *pp;
        if (e->hash == h && e->klen == klen &&
            memcmp(entry_key(e), key, klen) == 0)
            return pp;
        pp = &e->chain;
    }
    return pp;
}

/* Unlinks e from its bucket and the list and frees it. */
static void drop(part *p, entry *e)
{
    entry **pp = &p->buckets[e->hash & (p->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(p, e);
    p->bytes -= entry_cost(e->klen, e->vlen);
    p->entries--;
    vx_free(e);
}

/* Doubles the bucket array; on allocation failure keeps the old one
 * (longer chains, still correct). */
static void grow(part *p)
{
    size_t n = p->nbuckets * 2;
    entry **b = vx_calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < p->nbuckets; i++) {
        entry *e = p->buckets[i];
        while (e) {
            entry *next = e->chain;
            entry **slot = &b[e->hash & (n - 1)];
            e->chain = *slot;
            *slot = e;
            e = next;
        }
    }
    vx_free(p->buckets);
    p->buckets = b;
    p->nbuckets = n;
}

static int expired(const gw_cache *c, const entry *e, uint64_t now)
{
    return c->o.ttl_ms && now - e->born_ms >= c->o.ttl_ms;
}

/* ---- API --------------------------------------------------------------- */

int gw_cache_get(gw_cache *c, const void *key, size_t klen, char **val,
                 size_t *vlen)
{
    uint64_t h = gw_cache_hash(key, klen);
    part *p = part_of(c, h);
    uint64_t now = c->o.ttl_ms ? c->o.now_ms(c->o.now_arg) : 0;
    int hit = 0;

    *val = NULL;
    *vlen = 0;
    pthread_mutex_lock(&p->mu);
    entry *e = *find_slot(p, h, key, klen);
    if (e && expired(c, e, now)) {
        drop(p, e);
        p->expired++;
        e = NULL;
    }
    if (e) {
        char *copy = vx_malloc(e->vlen + 1);
        if (copy) {
            memcpy(copy, entry_key(e) + e->klen, e->vlen + 1);
            *val = copy;
            *vlen = e->vlen;
            lru_unlink(p, e);
            lru_push_front(p, e);
            hit = 1;
        }
    }
    if (hit)
        p->hits++;
    else
        p->misses++;
    pthread_mutex_unlock(&p->mu);
    return hit;
}

size_t gw_cache_max_entry(const gw_cache *c)
{
    return c->parts[0].cap / 2;
}

int gw_cache_put(gw_cache *c, const void *key, size_t klen, const void *val,
                 size_t vlen)
{
    uint64_t h = gw_cache_hash(key, klen);
    part *p = part_of(c, h);
    size_t cost = entry_cost(klen, vlen);

    if (cost > p->cap / 2) {
        pthread_mutex_lock(&p->mu);
        p->too_large++;
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    /* Built outside the lock. */
    entry *n = vx_malloc(sizeof *n + klen + vlen + 1);
    if (!n)
        return 0;
    n->hash = h;
    n->klen = klen;
    n->vlen = vlen;
    n->chain = n->prev = n->next = NULL;
    memcpy(entry_key(n), key, klen);
    memcpy(entry_key(n) + klen, val, vlen);
    entry_key(n)[klen + vlen] = '\0';
    n->born_ms = c->o.ttl_ms ? c->o.now_ms(c->o.now_arg) : 0;

    pthread_mutex_lock(&p->mu);
    entry *old = *find_slot(p, h, key, klen);
    if (old)
        drop(p, old);
    while (p->bytes + cost > p->cap && p->tail) {
        drop(p, p->tail);
        p->evictions++;
    }
    if (p->entries + 1 > p->nbuckets)
        grow(p);
    entry **slot = find_slot(p, h, key, klen);
    *slot = n;
    lru_push_front(p, n);
    p->bytes += cost;
    p->entries++;
    p->inserts++;
    pthread_mutex_unlock(&p->mu);
    return 1;
}

void gw_cache_get_stats(gw_cache *c, gw_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    out->max_bytes = c->o.max_bytes;
    for (size_t i = 0; i < GW_CACHE_SHARDS; i++) {
        part *p = &c->parts[i];
        pthread_mutex_lock(&p->mu);
        out->hits += p->hits;
        out->misses += p->misses;
        out->inserts += p->inserts;
        out->evictions += p->evictions;
        out->expired += p->expired;
        out->too_large += p->too_large;
        out->bytes += p->bytes;
        out->entries += p->entries;
        pthread_mutex_unlock(&p->mu);
    }
}
