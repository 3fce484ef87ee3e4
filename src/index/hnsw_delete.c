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
    uint32_t nb[2 * VECTRON_MAX_M];
    int level = hnsw_level(idx, s);

    for (int l = 0; l <= level; l++) {
        uint32_t n = hnsw_copy_links(idx, s, l, nb);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t t = nb[i], *tl;
            int linked = 0;
            if (hnsw_flags(idx, t) & HNSW_F_DELETED) {
                continue;
            }
            pthread_mutex_lock(hnsw_stripe(idx, t));
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
            pthread_mutex_unlock(hnsw_stripe(idx, t));
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
    s = hnsw_map_get(&idx->map, id);
    if (s == HNSW_NONE) {
        pthread_mutex_unlock(&idx->map_lock);
        pthread_rwlock_unlock(&idx->lock);
        return vx_err(err, VECTRON_NOT_FOUND, "remove point %llu: not found",
                      (unsigned long long)id);
    }
    hnsw_map_del(&idx->map, id);
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
out:
    pthread_rwlock_unlock(&idx->lock);
    return rc;
}
