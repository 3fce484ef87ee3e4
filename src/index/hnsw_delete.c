/*
 * hnsw_delete.c - removing points while keeping recall. A removed node
 * becomes a tombstone: never returned, still traversed, and each neighbour
 * that linked to it is relinked at once from the union of its own and the
 * tombstone's neighbours (heuristic selection). When tombstones exceed a
 * tenth of the slots, a vacuum repairs every remaining link to them and
 * frees their slots for reuse.
 *
 * Threading: see hnsw.h. Removal holds idx->lock shared and one stripe at
 * a time; vacuum holds idx->lock exclusive.
 */
#include <string.h>

#include "index/hnsw.h"

#define VACUUM_MIN 64

void hnsw_tombstone(vectron_index *idx, uint32_t s)
{
    uint32_t nb[2 * VECTRON_MAX_M], n0;
    int level = hnsw_level(idx, s);

    /* Its layer-0 links stop counting towards in-degrees. */
    hnsw_node_lock(idx, s);
    n0 = hnsw_links(idx, s, 0)[0];
    memcpy(nb, hnsw_links(idx, s, 0) + 1, n0 * sizeof(uint32_t));
    for (uint32_t i = 0; i < n0; i++) {
        hnsw_indeg_add(idx, nb[i], -1);
    }
    hnsw_or_flags(idx, s, HNSW_F_UNCOUNTED);
    hnsw_node_unlock(idx, s);

    for (int l = 0; l <= level; l++) {
        uint32_t n = hnsw_copy_links(idx, s, l, nb);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t t = nb[i], *tl;
            int linked = 0;
            if (!hnsw_live(idx, t)) {
                continue;
            }
            hnsw_node_lock(idx, t);
            tl = hnsw_links(idx, t, l);
            for (uint32_t j = 0; j < tl[0]; j++) {
                if (tl[1 + j] == s) {
                    linked = 1;
                    break;
                }
            }
            if (linked) {
                hnsw_relink(idx, t, l, nb, n);
            }
            hnsw_node_unlock(idx, t);
        }
        if (l > 0) {
            continue;
        }
        /* A neighbour that only s linked to gets a link from the live
         * neighbour of s closest to it, forced when the heuristic refuses
         * it (vacuum's reconnect pass is the backstop when y has no link
         * to let go). */
        for (uint32_t i = 0; i < n; i++) {
            uint32_t z = nb[i], y = HNSW_NONE;
            float best = 0.0f;
            if (!hnsw_live(idx, z) || hnsw_indeg(idx, z) > 0) {
                continue;
            }
            for (uint32_t j = 0; j < n; j++) {
                float d;
                if (j == i || !hnsw_live(idx, nb[j])) {
                    continue;
                }
                d = hnsw_dist_q(idx, hnsw_vec(idx, z), hnsw_vec(idx, nb[j]));
                if (y == HNSW_NONE || d < best) {
                    best = d;
                    y = nb[j];
                }
            }
            if (y != HNSW_NONE) {
                hnsw_node_lock(idx, y);
                if (hnsw_live(idx, y)) {
                    hnsw_relink(idx, y, 0, &z, 1);
                    if (hnsw_indeg(idx, z) == 0) {
                        hnsw_force_link0(idx, y, z);
                    }
                }
                hnsw_node_unlock(idx, y);
            }
        }
    }
}

int vectron_index_remove(vectron_index *idx, uint64_t id, vectron_error *err)
{
    uint32_t s;
    int rc;

    if ((rc = hnsw_maybe_vacuum(idx, err)) != 0) {
        return vx_err_wrap(err, rc, "remove point %llu",
                           (unsigned long long)id);
    }
    pthread_rwlock_rdlock(&idx->lock);
    pthread_mutex_lock(&idx->map_lock);
    s = hnsw_map_get(idx, id);
    if (s == HNSW_NONE) {
        pthread_mutex_unlock(&idx->map_lock);
        pthread_rwlock_unlock(&idx->lock);
        return vx_err(err, VECTRON_NOT_FOUND, "remove point %llu: not found",
                      (unsigned long long)id);
    }
    hnsw_map_del(idx, id);
    hnsw_set_flags(idx, s, HNSW_F_USED | HNSW_F_DELETED);
    idx->n_deleted++;
    pthread_mutex_unlock(&idx->map_lock);
    hnsw_tombstone(idx, s);
    pthread_rwlock_unlock(&idx->lock);
    return 0;
}

/* Repairs every link from live nodes to tombstones. Exclusive lock held. */
static void repair_all(vectron_index *idx)
{
    uint32_t extra[4 * VECTRON_MAX_M];

    for (uint32_t t = 0; t < idx->n_slots; t++) {
        if (hnsw_flags(idx, t) != HNSW_F_USED) {
            continue;
        }
        for (int l = 0; l <= hnsw_level(idx, t); l++) {
            uint32_t *tl = hnsw_links(idx, t, l), n_extra = 0;
            int dirty = 0;
            for (uint32_t j = 0; j < tl[0]; j++) {
                uint32_t d = tl[1 + j];
                if (!(hnsw_flags(idx, d) & HNSW_F_DELETED)) {
                    continue;
                }
                dirty = 1;
                /* Offer the tombstone's live neighbours as replacements. */
                uint32_t *dl = hnsw_links(idx, d, l);
                for (uint32_t i = 0; i < dl[0]; i++) {
                    if (n_extra < sizeof extra / sizeof extra[0] &&
                        !(hnsw_flags(idx, dl[1 + i]) & HNSW_F_DELETED)) {
                        extra[n_extra++] = dl[1 + i];
                    }
                }
            }
            if (dirty) {
                hnsw_relink(idx, t, l, extra, n_extra);
            }
        }
    }
}

/* Picks the live node with the highest level as the entry point. */
static void choose_entry(vectron_index *idx)
{
    idx->entry = HNSW_NONE;
    idx->max_level = -1;
    for (uint32_t s = 0; s < idx->n_slots; s++) {
        if (hnsw_flags(idx, s) == HNSW_F_USED &&
            hnsw_level(idx, s) > idx->max_level) {
            idx->entry = s;
            idx->max_level = hnsw_level(idx, s);
        }
    }
}

/* Breadth-first marking of layer 0 from root; returns nodes marked. */
static void mark_from(vectron_index *idx, uint32_t root, uint8_t *seen,
                      uint32_t *queue, uint32_t n_slots)
{
    uint32_t head = 0, tail = 0, nb[2 * VECTRON_MAX_M];
    if (seen[root]) {
        return;
    }
    seen[root] = 1;
    queue[tail++] = root;
    while (head < tail) {
        /* A copy under the node's stripe lock: writers may relink it. */
        uint32_t n = hnsw_copy_links(idx, queue[head++], 0, nb);
        for (uint32_t i = 0; i < n; i++) {
            /* Slots added after the pass began are left to the next. */
            if (nb[i] < n_slots && !seen[nb[i]]) {
                seen[nb[i]] = 1;
                queue[tail++] = nb[i];
            }
        }
    }
}

/* Gives orphan s an incoming layer-0 link from the nearest reachable node
 * that can take one, preferring one with room. */
static void attach(vectron_index *idx, hnsw_scratch *sc, uint32_t entry,
                   uint32_t s, const uint8_t *seen, int lock_nodes)
{
    const float *v = hnsw_vec(idx, s);
    uint32_t n;

    sc->eps[0].s = entry;
    sc->eps[0].d = hnsw_dist_q(idx, v, hnsw_vec(idx, entry));
    n = hnsw_search_level(idx, sc, v, 1, 0);
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t t = sc->w[i].s;
            int done = 0;
            if (t == s || !seen[t] ||
                (pass == 0 && hnsw_links(idx, t, 0)[0] >= idx->m0)) {
                continue;
            }
            if (lock_nodes) {
                hnsw_node_lock(idx, t);
            }
            if (hnsw_flags(idx, t) == HNSW_F_USED) {
                done = hnsw_force_link0(idx, t, s);
            }
            if (lock_nodes) {
                hnsw_node_unlock(idx, t);
            }
            if (done) {
                return;
            }
        }
    }
}

/* One reconnect pass (see vectron_index_reconnect); lock_nodes: other
 * threads may write (idx->lock held shared), so each attach takes the
 * chosen node's stripe lock. Returns the nodes attached, or -1 on
 * allocation failure (the graph stays valid, only less connected). */
static long reconnect_pass(vectron_index *idx, int lock_nodes)
{
    uint8_t *seen = NULL;
    uint32_t *queue = NULL, n_slots, entry;
    long fixed = 0;
    hnsw_scratch sc;
    int have_sc = 0;

    pthread_mutex_lock(&idx->map_lock);
    n_slots = idx->n_slots;
    pthread_mutex_unlock(&idx->map_lock);
    pthread_mutex_lock(&idx->entry_lock);
    entry = idx->entry;
    pthread_mutex_unlock(&idx->entry_lock);
    if (entry == HNSW_NONE || n_slots == 0) {
        return 0;
    }
    seen = vx_calloc(n_slots, 1);
    queue = vx_malloc((size_t)n_slots * sizeof *queue);
    if (!seen || !queue ||
        hnsw_scratch_init(idx, &sc, idx->p.ef_construction) != 0) {
        fixed = -1;
        goto out;
    }
    have_sc = 1;
    mark_from(idx, entry, seen, queue, n_slots);
    for (uint32_t s = 0; s < n_slots; s++) {
        if (!seen[s] && hnsw_flags(idx, s) == HNSW_F_USED) {
            attach(idx, &sc, entry, s, seen, lock_nodes);
            mark_from(idx, s, seen, queue, n_slots);
            fixed++;
        }
    }
out:
    if (have_sc) {
        hnsw_scratch_close(idx, &sc);
    }
    vx_free(seen);
    vx_free(queue);
    return fixed;
}

/* After tombstones are freed, makes every live node reachable on layer 0
 * from the entry point again. Exclusive lock held. Best effort on
 * allocation failure. */
void hnsw_reconnect(vectron_index *idx)
{
    long fixed = reconnect_pass(idx, 0);
    if (fixed < 0) {
        vx_log(VECTRON_LOG_WARN, "index", "reconnect: out of memory");
    } else if (fixed) {
        vx_log(VECTRON_LOG_DEBUG, "index", "reconnect: attached %ld nodes",
               fixed);
    }
}

int vectron_index_reconnect(vectron_index *idx, size_t *attached,
                            vectron_error *err)
{
    pthread_rwlock_rdlock(&idx->lock);
    long fixed = reconnect_pass(idx, 1);
    pthread_rwlock_unlock(&idx->lock);
    if (fixed < 0) {
        return vx_err(err, VECTRON_NOMEM, "reconnect: out of memory");
    }
    if (attached) {
        *attached = (size_t)fixed;
    }
    return 0;
}

int hnsw_maybe_vacuum(vectron_index *idx, vectron_error *err)
{
    size_t n_deleted;
    uint32_t need;
    int rc = 0;

    pthread_mutex_lock(&idx->map_lock);
    n_deleted = idx->n_deleted;
    need = idx->n_slots / 10;
    pthread_mutex_unlock(&idx->map_lock);
    if (n_deleted < VACUUM_MIN || n_deleted < need) {
        return 0;
    }
    pthread_rwlock_wrlock(&idx->lock);
    if (idx->n_deleted < VACUUM_MIN || idx->n_deleted < idx->n_slots / 10) {
        goto out; /* another thread vacuumed meanwhile */
    }
    if (idx->n_free + idx->n_deleted > idx->cap_free) {
        size_t cap = idx->n_free + idx->n_deleted + idx->n_slots / 8;
        uint32_t *fs = vx_realloc(idx->free_slots, cap * sizeof *fs);
        if (!fs) {
            rc = vx_err(err, VECTRON_NOMEM, "vacuum: out of memory");
            goto out;
        }
        idx->free_slots = fs;
        idx->cap_free = (uint32_t)cap;
    }
    repair_all(idx);
    for (uint32_t s = idx->n_slots; s-- > 0;) {
        if (hnsw_flags(idx, s) & HNSW_F_DELETED) {
            hnsw_free_node_links(idx, s);
            hnsw_blk(idx, s)->levels[s & (HNSW_BLOCK - 1)] = 0;
            hnsw_set_flags(idx, s, 0);
            idx->free_slots[idx->n_free++] = s;
        }
    }
    vx_log(VECTRON_LOG_DEBUG, "index", "vacuum freed %zu slots",
           idx->n_deleted);
    idx->n_deleted = 0;
    if (idx->entry != HNSW_NONE && hnsw_flags(idx, idx->entry) == 0) {
        choose_entry(idx);
    }
    hnsw_reconnect(idx);
out:
    pthread_rwlock_unlock(&idx->lock);
    return rc;
}
