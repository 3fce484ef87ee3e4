/*
 * shard.c - shard lifecycle (open: store + index rebuild + indexer
 * thread), the indexer that drains the pending buffer into the HNSW graph,
 * and searches over graph ∪ pending.
 *
 * Threading: see shard.h and shard_int.h. Search never blocks on the
 * indexer except for the brief pending-buffer snapshot under `mu`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "common/common.h"
#include "shard/shard_int.h"

#define INDEXER_BATCH 256
/* After writes have been idle this long, the indexer runs one reconnect
 * pass over the graph (O(points), concurrent with searches). */
#define RECONNECT_IDLE_MS 2000

/* ---- pending buffer ---- */

int shard_pending_reserve(shard *sh, size_t n)
{
    int rc = 0;
    pthread_mutex_lock(&sh->mu);
    if (sh->tail + n > sh->cap) {
        size_t cap = sh->cap ? sh->cap : 1024;
        pending_entry *p;
        while (cap < sh->tail + n) {
            cap *= 2;
        }
        p = vx_realloc(sh->pend, cap * sizeof *p);
        if (!p) {
            rc = VECTRON_NOMEM;
        } else {
            sh->pend = p;
            sh->cap = cap;
        }
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

void shard_pending_push(shard *sh, uint64_t internal_id, int op, float *vec)
{
    pthread_mutex_lock(&sh->mu);
    sh->pend[sh->tail].internal_id = internal_id;
    sh->pend[sh->tail].op = op;
    sh->pend[sh->tail].vec = vec;
    sh->tail++;
    pthread_cond_signal(&sh->cv_work);
    pthread_mutex_unlock(&sh->mu);
}

void shard_set_applied(shard *sh, uint64_t index)
{
    pthread_mutex_lock(&sh->mu);
    sh->applied = index;
    pthread_mutex_unlock(&sh->mu);
}

static void *indexer_main(void *arg)
{
    shard *sh = arg;
    vectron_error err;

    pthread_setname_np(pthread_self(), "vx-indexer");
    /* Linux: a thread id as the PRIO_PROCESS target sets this thread's
     * niceness only. Raising it needs no privilege; a failure leaves the
     * indexer at the process's priority, which is only slower writes. */
    if (sh->p.indexer_nice > 0 &&
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
                    sh->p.indexer_nice) != 0) {
        vx_log(VECTRON_LOG_WARN, "shard", "indexer niceness %d: %s",
               sh->p.indexer_nice, strerror(errno));
    }
    int dirty = 0; /* graph written since the last reconnect pass */
    pthread_mutex_lock(&sh->mu);
    for (;;) {
        size_t n;
        while (sh->head == sh->tail && !sh->stop) {
            if (!dirty) {
                pthread_cond_wait(&sh->cv_work, &sh->mu);
                continue;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            vx_timespec_add_ms(&until, RECONNECT_IDLE_MS);
            if (pthread_cond_timedwait(&sh->cv_work, &sh->mu, &until) !=
                    ETIMEDOUT ||
                sh->head != sh->tail || sh->stop) {
                continue;
            }
            /* Writes went idle: one pass links any island the relinking
             * left (vectron_index_reconnect), so no point stays
             * unreachable for searches. */
            dirty = 0;
            pthread_mutex_unlock(&sh->mu);
            size_t attached = 0;
            if (vectron_index_reconnect(sh->idx, &attached, &err) != 0) {
                vx_log(VECTRON_LOG_WARN, "shard", "%s", err.msg);
            } else if (attached) {
                vx_log(VECTRON_LOG_DEBUG, "shard",
                       "reconnect: linked %zu unreachable points", attached);
            }
            pthread_mutex_lock(&sh->mu);
        }
        if (sh->stop) {
            break;
        }
        dirty = 1;
        n = sh->tail - sh->head;
        if (n > INDEXER_BATCH) {
            n = INDEXER_BATCH;
        }
        sh->taken = n;
        /* Entries stay visible to searches while they are indexed; the
         * array may be reallocated by pushes, so work on a copy. */
        pending_entry batch[INDEXER_BATCH];
        memcpy(batch, sh->pend + sh->head, n * sizeof *batch);
        pthread_mutex_unlock(&sh->mu);

        for (size_t i = 0; i < n; i++) {
            int rc;
            if (batch[i].op == PENDING_UPSERT) {
                rc = vectron_index_add(sh->idx, batch[i].internal_id,
                                       batch[i].vec, &err);
            } else {
                rc = vectron_index_remove(sh->idx, batch[i].internal_id, &err);
                if (rc == VECTRON_NOT_FOUND) {
                    rc = 0;
                }
            }
            if (rc) {
                /* The store holds the truth; the point stays searchable
                 * only through an exact scan of the store (future work:
                 * retry). Log loudly. */
                vx_log(VECTRON_LOG_ERROR, "shard",
                       "indexer: internal id "
                       "%llu: %s",
                       (unsigned long long)batch[i].internal_id, err.msg);
            }
        }

        pthread_mutex_lock(&sh->mu);
        for (size_t i = 0; i < n; i++) {
            vx_free(sh->pend[sh->head + i].vec);
        }
        sh->head += n;
        sh->taken = 0;
        if (sh->head == sh->tail) {
            sh->head = sh->tail = 0;
        } else if (sh->head > sh->cap / 2) {
            memmove(sh->pend, sh->pend + sh->head,
                    (sh->tail - sh->head) * sizeof *sh->pend);
            sh->tail -= sh->head;
            sh->head = 0;
        }
        pthread_cond_broadcast(&sh->cv_done);
    }
    pthread_mutex_unlock(&sh->mu);
    return NULL;
}

/* ---- lifecycle ---- */

/* Rebuilding the graph from the store, in chunks of REBUILD_CHUNK points
 * inserted by every core at once (the index takes concurrent adds). */
#define REBUILD_CHUNK 4096u
#define REBUILD_THREADS_MAX 16

typedef struct rebuild {
    shard *sh;
    uint64_t *ids;
    float *vecs; /* REBUILD_CHUNK * dim */
    size_t n;
    size_t next; /* next point to insert; under mu */
    pthread_mutex_t mu;
    int rc;
    vectron_error err;
} rebuild;

static void *rebuild_worker(void *arg)
{
    rebuild *r = arg;
    size_t dim = r->sh->p.index.dim;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        size_t i = r->rc ? r->n : r->next++;
        pthread_mutex_unlock(&r->mu);
        if (i >= r->n) {
            return NULL;
        }
        vectron_error err = {0};
        int rc =
            vectron_index_add(r->sh->idx, r->ids[i], r->vecs + i * dim, &err);
        if (rc) {
            pthread_mutex_lock(&r->mu);
            if (!r->rc) {
                r->rc = rc;
                r->err = err;
            }
            pthread_mutex_unlock(&r->mu);
        }
    }
}

/* Inserts the buffered chunk with up to one thread per core. */
static int rebuild_flush(rebuild *r, vectron_error *err)
{
    pthread_t th[REBUILD_THREADS_MAX];
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = cores < 1 ? 1 : (size_t)cores, started = 0;
    if (nt > REBUILD_THREADS_MAX) {
        nt = REBUILD_THREADS_MAX;
    }
    r->next = 0;
    for (size_t t = 1; t < nt; t++) {
        if (pthread_create(&th[started], NULL, rebuild_worker, r) == 0) {
            started++;
        }
    }
    rebuild_worker(r); /* this thread works too */
    for (size_t t = 0; t < started; t++) {
        pthread_join(th[t], NULL);
    }
    r->n = 0;
    if (r->rc) {
        if (err) {
            *err = r->err;
        }
        return r->rc;
    }
    return 0;
}

static int rebuild_one(void *arg, const store_point_view *p, vectron_error *err)
{
    rebuild *r = arg;
    size_t dim = r->sh->p.index.dim;
    r->ids[r->n] = p->internal_id;
    memcpy(r->vecs + r->n * dim, p->vector, dim * sizeof(float));
    if (++r->n == REBUILD_CHUNK) {
        return rebuild_flush(r, err);
    }
    return 0;
}

static int rebuild_all(shard *sh, vectron_error *err)
{
    rebuild r = {.sh = sh};
    int rc;
    r.ids = vx_malloc(REBUILD_CHUNK * sizeof(*r.ids));
    r.vecs = vx_malloc((size_t)REBUILD_CHUNK * sh->p.index.dim * sizeof(float));
    if (!r.ids || !r.vecs) {
        vx_free(r.ids);
        vx_free(r.vecs);
        return vx_err(err, VECTRON_NOMEM, "rebuild: out of memory");
    }
    pthread_mutex_init(&r.mu, NULL);
    rc = store_foreach(sh->st, NULL, rebuild_one, &r, err);
    if (rc == 0 && r.n) {
        rc = rebuild_flush(&r, err);
    }
    pthread_mutex_destroy(&r.mu);
    vx_free(r.ids);
    vx_free(r.vecs);
    return rc;
}

/* Reconciling a loaded checkpoint with the store. */
typedef struct reconcile {
    shard *sh;
    float *a, *b;   /* dim floats each */
    uint8_t *seen;  /* one bit per internal id below limit */
    uint64_t limit; /* the store's next internal id */
    size_t kept, added;
} reconcile;

static int reconcile_one(void *arg, const store_point_view *p,
                         vectron_error *err)
{
    reconcile *r = arg;
    size_t bytes = (size_t)p->dim * sizeof(float);
    int rc;
    if (p->internal_id < r->limit)
        r->seen[p->internal_id / 8] |= (uint8_t)(1u << (p->internal_id % 8));
    if (vectron_index_get(r->sh->idx, p->internal_id, r->a, NULL) == 0 &&
        vectron_index_prepare(r->sh->idx, p->vector, r->b, NULL) == 0 &&
        memcmp(r->a, r->b, bytes) == 0) {
        r->kept++;
        return 0;
    }
    if ((rc = vectron_index_add(r->sh->idx, p->internal_id, p->vector, err)))
        return rc;
    r->added++;
    return 0;
}

/* Loads dir/index.vxi into sh->idx and brings it in line with the store:
 * *loaded is 1 when done, 0 when there is no usable checkpoint (sh->idx is
 * then untouched). Returns 0 or an error. */
static int load_checkpoint(shard *sh, int *loaded, vectron_error *err)
{
    size_t plen = strlen(sh->dir) + sizeof("/" SHARD_INDEX_FILE);
    char *path = vx_malloc(plen);
    vectron_index *idx = NULL;
    reconcile r = {.sh = sh};
    vectron_error lerr = {0};
    int rc = 0;
    *loaded = 0;
    if (!path)
        return vx_err(err, VECTRON_NOMEM, "checkpoint path");
    snprintf(path, plen, "%s/" SHARD_INDEX_FILE, sh->dir);
    if (access(path, F_OK) != 0)
        goto out;
    if (vectron_index_load(path, &idx, &lerr) != 0 ||
        vectron_index_dim(idx) != sh->p.index.dim) {
        vx_log(VECTRON_LOG_WARN, "shard",
               "dir=%s ignoring the index checkpoint: %s", sh->dir,
               lerr.msg[0] ? lerr.msg : "dimension mismatch");
        vectron_index_free(idx);
        goto out;
    }
    if ((rc = store_next_internal_id(sh->st, NULL, &r.limit, err)))
        goto fail;
    r.a = vx_malloc((size_t)sh->p.index.dim * sizeof(float));
    r.b = vx_malloc((size_t)sh->p.index.dim * sizeof(float));
    r.seen = vx_calloc(r.limit / 8 + 1, 1);
    if (!r.a || !r.b || !r.seen) {
        rc = vx_err(err, VECTRON_NOMEM, "reconcile checkpoint");
        goto fail;
    }
    vectron_index *fresh = sh->idx;
    sh->idx = idx;
    rc = store_foreach(sh->st, NULL, reconcile_one, &r, err);
    idx = sh->idx;
    sh->idx = fresh;
    if (rc)
        goto fail;
    /* Points the store no longer has. */
    size_t removed = 0;
    if (vectron_index_size(idx) > r.kept + r.added) {
        for (uint64_t id = 1; id < r.limit; id++) {
            if (!(r.seen[id / 8] & (1u << (id % 8))) &&
                vectron_index_remove(idx, id, NULL) == 0)
                removed++;
        }
    }
    if (vectron_index_size(idx) != r.kept + r.added) {
        /* An id at or above the store's counter: not this store's graph. */
        vx_log(VECTRON_LOG_WARN, "shard",
               "dir=%s the index checkpoint does not match the store; "
               "rebuilding",
               sh->dir);
        vectron_index_free(idx);
        goto out;
    }
    vx_log(VECTRON_LOG_INFO, "shard",
           "dir=%s loaded the index checkpoint: kept=%zu added=%zu "
           "removed=%zu",
           sh->dir, r.kept, r.added, removed);
    vectron_index_free(sh->idx);
    sh->idx = idx;
    *loaded = 1;
    goto out;
fail:
    vectron_index_free(idx);
out:
    vx_free(r.a);
    vx_free(r.b);
    vx_free(r.seen);
    vx_free(path);
    return rc;
}

int shard_checkpoint(shard *sh, size_t *points, vectron_error *err)
{
    size_t plen = strlen(sh->dir) + sizeof("/" SHARD_INDEX_FILE);
    char *path = vx_malloc(plen);
    if (!path)
        return vx_err(err, VECTRON_NOMEM, "checkpoint path");
    snprintf(path, plen, "%s/" SHARD_INDEX_FILE, sh->dir);
    size_t n = vectron_index_size(sh->idx);
    int rc = vectron_index_save(sh->idx, path, err);
    vx_free(path);
    if (rc)
        return vx_err_wrap(err, rc, "shard %s: checkpoint", sh->dir);
    if (points)
        *points = n;
    return 0;
}

int shard_open(const char *dir, const shard_params *p, shard **out,
               vectron_error *err)
{
    shard *sh = vx_calloc(1, sizeof *sh);
    int rc = 0, have_sync = 0, loaded = 0;

    if (!sh) {
        return vx_err(err, VECTRON_NOMEM, "open shard %s: out of memory", dir);
    }
    sh->p = *p;
    sh->p.store.dim = p->index.dim;
    if (!(sh->dir = vx_malloc(strlen(dir) + 1))) {
        vx_free(sh);
        return vx_err(err, VECTRON_NOMEM, "open shard %s: out of memory", dir);
    }
    memcpy(sh->dir, dir, strlen(dir) + 1);
    if ((rc = vectron_index_new(&sh->p.index, &sh->idx, err)) != 0 ||
        (rc = store_open(dir, &sh->p.store, &sh->st, err)) != 0 ||
        (rc = store_applied_index(sh->st, NULL, &sh->applied, err)) != 0 ||
        (rc = load_checkpoint(sh, &loaded, err)) != 0 ||
        (!loaded && (rc = rebuild_all(sh, err)) != 0)) {
        goto fail;
    }
    pthread_mutex_init(&sh->mu, NULL);
    pthread_cond_init(&sh->cv_work, NULL);
    pthread_cond_init(&sh->cv_done, NULL);
    have_sync = 1;
    if ((rc = pthread_create(&sh->indexer, NULL, indexer_main, sh)) != 0) {
        rc = vx_err(err, VECTRON_INTERNAL, "start indexer: %s", strerror(rc));
        goto fail;
    }
    *out = sh;
    return 0;
fail:
    if (have_sync) {
        pthread_mutex_destroy(&sh->mu);
        pthread_cond_destroy(&sh->cv_work);
        pthread_cond_destroy(&sh->cv_done);
    }
    store_close(sh->st);
    vectron_index_free(sh->idx);
    vx_free(sh->dir);
    vx_free(sh);
    return vx_err_wrap(err, rc, "open shard %s", dir);
}

int shard_set_dir(shard *sh, const char *dir, vectron_error *err)
{
    size_t n = strlen(dir) + 1;
    char *d = vx_malloc(n);
    if (!d) {
        return vx_err(err, VECTRON_NOMEM, "shard %s: out of memory", dir);
    }
    memcpy(d, dir, n);
    vx_free(sh->dir);
    sh->dir = d;
    return 0;
}

void shard_close(shard *sh)
{
    if (!sh) {
        return;
    }
    pthread_mutex_lock(&sh->mu);
    sh->stop = 1;
    pthread_cond_signal(&sh->cv_work);
    pthread_mutex_unlock(&sh->mu);
    pthread_join(sh->indexer, NULL);
    for (size_t i = sh->head; i < sh->tail; i++) {
        vx_free(sh->pend[i].vec);
    }
    vx_free(sh->pend);
    pthread_mutex_destroy(&sh->mu);
    pthread_cond_destroy(&sh->cv_work);
    pthread_cond_destroy(&sh->cv_done);
    store_close(sh->st);
    vectron_index_free(sh->idx);
    vx_free(sh->dir);
    vx_free(sh);
}

store *shard_store(shard *sh)
{
    return sh->st;
}

size_t shard_index_memory(shard *sh)
{
    return vectron_index_memory(sh->idx);
}

size_t shard_index_points(shard *sh)
{
    return vectron_index_size(sh->idx);
}

uint64_t shard_applied_index(shard *sh)
{
    uint64_t a;
    pthread_mutex_lock(&sh->mu);
    a = sh->applied;
    pthread_mutex_unlock(&sh->mu);
    return a;
}

size_t shard_pending(shard *sh)
{
    size_t n;
    pthread_mutex_lock(&sh->mu);
    n = sh->tail - sh->head;
    pthread_mutex_unlock(&sh->mu);
    return n;
}

int shard_wait_indexed(shard *sh, unsigned timeout_ms, vectron_error *err)
{
    return shard_wait_pending_below(sh, 1, timeout_ms, err);
}

int shard_wait_pending_below(shard *sh, size_t max, unsigned timeout_ms,
                             vectron_error *err)
{
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    vx_timespec_add_ms(&until, timeout_ms);
    pthread_mutex_lock(&sh->mu);
    while (sh->tail - sh->head >= max && rc == 0) {
        if (pthread_cond_timedwait(&sh->cv_done, &sh->mu, &until) ==
            ETIMEDOUT) {
            rc = vx_err(err, VECTRON_TIMEOUT,
                        "%zu writes still waiting for the indexer",
                        sh->tail - sh->head);
        }
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

/* ---- search ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

typedef struct pos_entry {
    uint64_t id;
    size_t pos;
} pos_entry;

/* By id ascending, then newest (highest position) first. */
static int cmp_pos(const void *a, const void *b)
{
    const pos_entry *x = a, *y = b;
    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }
    return (x->pos < y->pos) - (x->pos > y->pos);
}

static int cmp_hit(const void *a, const void *b)
{
    const vectron_hit *x = a, *y = b;
    if (x->distance != y->distance) {
        return x->distance < y->distance ? -1 : 1;
    }
    return (x->id > y->id) - (x->id < y->id);
}

/* The graph search skips ids whose graph copy is stale (touched by a
 * pending entry) and applies the caller's predicate. */
typedef struct graph_filter {
    const uint64_t *touched; /* sorted */
    size_t n_touched;
    vectron_filter_fn user;
    void *user_arg;
} graph_filter;

static int graph_pass(uint64_t id, void *arg)
{
    const graph_filter *g = arg;
    if (g->n_touched &&
        bsearch(&id, g->touched, g->n_touched, sizeof *g->touched, cmp_u64)) {
        return 0;
    }
    return !g->user || g->user(id, g->user_arg);
}

int shard_search(shard *sh, const float *query, const vectron_search_params *sp,
                 shard_hit *out, size_t *n_out, vectron_error *err)
{
    uint64_t *touched = NULL, *allow = NULL;
    float *q = NULL;
    pos_entry *order = NULL;
    vectron_hit *cands = NULL;
    size_t n_touched = 0, n_cands = 0, n_graph = 0, k = sp->k;
    vectron_search_params gsp = *sp;
    store_read *rd = NULL;
    int rc = 0;

    *n_out = 0;
    if (k < 1 || k > VECTRON_MAX_K) {
        return vx_err(err, VECTRON_INVALID, "search: k = %zu out of range", k);
    }
    /* The query in stored form and a sorted copy of the allow-list,
     * prepared outside the lock. */
    q = vx_malloc((size_t)sh->p.index.dim * sizeof(float));
    if (sp->allow && sp->n_allow) {
        allow = vx_malloc(sp->n_allow * sizeof *allow);
    }
    if (!q || (sp->allow && sp->n_allow && !allow)) {
        rc = vx_err(err, VECTRON_NOMEM, "search: out of memory");
        goto out;
    }
    if ((rc = vectron_index_prepare(sh->idx, query, q, err)) != 0) {
        rc = vx_err_wrap(err, rc, "search: query");
        goto out;
    }
    if (allow) {
        memcpy(allow, sp->allow, sp->n_allow * sizeof *allow);
        qsort(allow, sp->n_allow, sizeof *allow, cmp_u64);
    }
    /* 1. Snapshot the pending buffer: the newest entry of each internal id
     * is its current state; the graph's copy of such an id is stale.
     * Entries are sorted by (id, newest first) to find them. Only the
     * distances are computed under the lock (it also guards apply and the
     * indexer); the caller's predicate, which may read the store, runs
     * after. */
    pthread_mutex_lock(&sh->mu);
    size_t n_pend = sh->tail - sh->head;
    touched = vx_malloc((n_pend + 1) * sizeof *touched);
    order = vx_malloc((n_pend + 1) * sizeof *order);
    cands = vx_malloc((n_pend + k + 1) * sizeof *cands);
    if (!touched || !order || !cands) {
        pthread_mutex_unlock(&sh->mu);
        rc = vx_err(err, VECTRON_NOMEM, "search: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_pend; i++) {
        order[i].id = sh->pend[sh->head + i].internal_id;
        order[i].pos = i;
    }
    qsort(order, n_pend, sizeof *order, cmp_pos);
    for (size_t i = 0; i < n_pend; i++) {
        pending_entry *e;
        if (i > 0 && order[i].id == order[i - 1].id) {
            continue; /* an older entry of an id already decided */
        }
        e = &sh->pend[sh->head + order[i].pos];
        touched[n_touched++] = e->internal_id; /* ascending: order is */
        if (e->op == PENDING_UPSERT &&
            (!allow || bsearch(&e->internal_id, allow, sp->n_allow,
                               sizeof *allow, cmp_u64))) {
            cands[n_cands].id = e->internal_id;
            cands[n_cands].distance =
                vectron_index_distance(sh->idx, q, e->vec);
            n_cands++;
        }
    }
    pthread_mutex_unlock(&sh->mu);
    /* The closest pending points that pass the predicate, at most k. */
    qsort(cands, n_cands, sizeof *cands, cmp_hit);
    if (sp->filter) {
        size_t kept = 0;
        for (size_t i = 0; i < n_cands && kept < k; i++) {
            if (sp->filter(cands[i].id, sp->filter_arg)) {
                cands[kept++] = cands[i];
            }
        }
        n_cands = kept;
    } else if (n_cands > k) {
        n_cands = k;
    }

    /* 2. The graph, skipping the ids whose graph copy is stale. */
    graph_filter gf = {.touched = touched,
                       .n_touched = n_touched,
                       .user = sp->filter,
                       .user_arg = sp->filter_arg};
    if (n_touched) {
        gsp.filter = graph_pass;
        gsp.filter_arg = &gf;
    }
    if ((rc = vectron_index_search(sh->idx, q, &gsp, cands + n_cands, &n_graph,
                                   err)) != 0) {
        goto out;
    }
    n_cands += n_graph;
    qsort(cands, n_cands, sizeof *cands, cmp_hit);

    /* 3. Resolve to point ids; points deleted since are dropped. */
    if ((rc = store_read_begin(sh->st, &rd, err)) != 0) {
        goto out;
    }
    for (size_t i = 0; i < n_cands && *n_out < k; i++) {
        point_id pid;
        int r = store_get_by_internal(sh->st, rd, cands[i].id, &pid, err);
        if (r == VECTRON_NOT_FOUND) {
            continue;
        }
        if (r) {
            rc = r;
            goto out;
        }
        out[*n_out].id = pid;
        out[*n_out].internal_id = cands[i].id;
        out[*n_out].distance = cands[i].distance;
        (*n_out)++;
    }
out:
    if (rd) {
        store_read_end(rd);
    }
    vx_free(touched);
    vx_free(order);
    vx_free(cands);
    vx_free(allow);
    vx_free(q);
    return rc;
}
