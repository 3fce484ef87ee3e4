/*
 * auth_rate.c - token buckets per credential or client address (auth.h).
 *
 * The table is split into stripes, each a small chained hash table under
 * its own mutex, so requests of different keys rarely contend while one
 * key's bucket is exact across every HTTP thread (all of its takes
 * serialise on one stripe lock). Each stripe holds at most max_keys /
 * NSTRIPES buckets; when a new key finds its stripe full, buckets that
 * have refilled completely are dropped (a full bucket is the same as a
 * missing one), and if none has, the new key shares the stripe's overflow
 * bucket, limited like the key itself: a flood of distinct addresses can
 * then slow itself down, but never grow memory.
 *
 * Threading: any thread; the stripe locks are the only shared state.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "common/common.h"
#include "gateway/auth.h"

#define NSTRIPES 64u
#define NBUCKETS 256u /* hash chains per stripe */
#define KEY_MAX 96u

typedef struct bucket {
    struct bucket *next;
    double tokens;
    double last; /* monotonic seconds of the last refill */
    char key[KEY_MAX];
} bucket;

typedef struct stripe {
    pthread_mutex_t mu;
    bucket *chains[NBUCKETS];
    size_t n;
    bucket overflow;
} stripe;

struct gw_ratelimiter {
    size_t per_stripe;
    stripe s[NSTRIPES];
};

int gw_rate_new(size_t max_keys, gw_ratelimiter **out, vectron_error *err)
{
    gw_ratelimiter *rl = vx_calloc(1, sizeof *rl);
    if (!rl)
        return vx_err(err, VECTRON_NOMEM, "rate limiter");
    if (max_keys == 0)
        max_keys = 65536;
    rl->per_stripe = max_keys / NSTRIPES ? max_keys / NSTRIPES : 1;
    for (size_t i = 0; i < NSTRIPES; i++) {
        pthread_mutex_init(&rl->s[i].mu, NULL);
        rl->s[i].overflow.last = -1;
    }
    *out = rl;
    return 0;
}

void gw_rate_free(gw_ratelimiter *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < NSTRIPES; i++) {
        for (size_t c = 0; c < NBUCKETS; c++) {
            bucket *b = rl->s[i].chains[c];
            while (b) {
                bucket *next = b->next;
                vx_free(b);
                b = next;
            }
        }
        pthread_mutex_destroy(&rl->s[i].mu);
    }
    vx_free(rl);
}

static uint64_t hash_key(const char *k)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, then mixed */
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return vx_mix64(h);
}

static void refill(bucket *b, const gw_rate_limit *lim, double burst,
                   double now)
{
    if (b->last < 0) {
        b->tokens = burst;
    } else if (now > b->last) {
        b->tokens += (now - b->last) * lim->rate;
        if (b->tokens > burst)
            b->tokens = burst;
    }
    if (now > b->last)
        b->last = now;
}

/* Drops the buckets of stripe s that are full at time now. */
static void sweep(stripe *s, const gw_rate_limit *lim, double burst, double now)
{
    for (size_t c = 0; c < NBUCKETS; c++) {
        bucket **pp = &s->chains[c];
        while (*pp) {
            bucket *b = *pp;
            if (b->tokens + (now - b->last) * lim->rate >= burst) {
                *pp = b->next;
                vx_free(b);
                s->n--;
            } else {
                pp = &b->next;
            }
        }
    }
}

int gw_rate_take(gw_ratelimiter *rl, const char *key, const gw_rate_limit *lim,
                 double now, unsigned *retry_after_s)
{
    if (!(lim->rate > 0))
        return 1;
    double burst = lim->burst >= 1 ? lim->burst : 1;
    uint64_t h = hash_key(key);
    stripe *s = &rl->s[h % NSTRIPES];
    size_t chain = (size_t)(h / NSTRIPES) % NBUCKETS;
    int ok;

    pthread_mutex_lock(&s->mu);
    bucket *b = s->chains[chain];
    while (b && strncmp(b->key, key, KEY_MAX - 1) != 0)
        b = b->next;
    if (!b) {
        if (s->n >= rl->per_stripe)
            sweep(s, lim, burst, now);
        if (s->n < rl->per_stripe && (b = vx_calloc(1, sizeof *b)) != NULL) {
            strncpy(b->key, key, KEY_MAX - 1);
            b->last = -1;
            b->next = s->chains[chain];
            s->chains[chain] = b;
            s->n++;
        } else {
            b = &s->overflow; /* full of live buckets, or out of memory */
        }
    }
    refill(b, lim, burst, now);
    ok = b->tokens >= 1;
    if (ok) {
        b->tokens -= 1;
    } else {
        double wait = (1 - b->tokens) / lim->rate;
        double secs = ceil(wait);
        *retry_after_s = secs < 1 ? 1u : secs > 86400 ? 86400u : (unsigned)secs;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}
