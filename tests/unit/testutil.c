/*
 * testutil.c - see testutil.h.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/common.h"
#include "index/hnsw.h"
#include "testutil.h"

static double uniform01(uint64_t *s)
{
    *s = vx_mix64(*s);
    return (double)(*s >> 11) * (1.0 / 9007199254740992.0);
}

void tu_uniform(tu_data *d, size_t n, uint32_t dim, uint64_t seed)
{
    d->n = n;
    d->dim = dim;
    d->vecs = malloc(n * dim * sizeof(float));
    cr_assert_not_null(d->vecs);
    for (size_t i = 0; i < n * dim; i++) {
        d->vecs[i] = (float)(uniform01(&seed) * 2.0 - 1.0);
    }
}

void tu_clustered(tu_data *d, size_t n, uint32_t dim, uint32_t clusters,
                  uint64_t center_seed, uint64_t seed)
{
    float *centers = malloc((size_t)clusters * dim * sizeof(float));
    cr_assert_not_null(centers);
    for (size_t i = 0; i < (size_t)clusters * dim; i++) {
        centers[i] = (float)(uniform01(&center_seed) * 20.0 - 10.0);
    }
    d->n = n;
    d->dim = dim;
    d->vecs = malloc(n * dim * sizeof(float));
    cr_assert_not_null(d->vecs);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = (uint32_t)(uniform01(&seed) * clusters);
        for (uint32_t j = 0; j < dim; j++) {
            /* Sum of 4 uniforms: roughly Gaussian, unit-ish spread. */
            double g = uniform01(&seed) + uniform01(&seed) + uniform01(&seed) +
                       uniform01(&seed) - 2.0;
            d->vecs[i * dim + j] = centers[(size_t)c * dim + j] + (float)g * 2;
        }
    }
    free(centers);
}

int tu_fashion(tu_data *d, size_t n, int test_set)
{
    const char *path = test_set ? "/usr/share/datasets/fashion-mnist/"
                                  "t10k-images-idx3-ubyte.gz"
                                : "/usr/share/datasets/fashion-mnist/"
                                  "train-images-idx3-ubyte.gz";
    unsigned char hdr[16];
    gzFile f = gzopen(path, "rb");
    uint32_t count, rows, cols;
    unsigned char *px;

    if (!f) {
        return -1;
    }
    if (gzread(f, hdr, 16) != 16 || vx_get_u32(hdr) != 0x03080000u) {
        gzclose(f);
        return -1;
    }
    count = (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 |
            (uint32_t)hdr[6] << 8 | hdr[7];
    rows = hdr[11];
    cols = hdr[15];
    if (n > count) {
        n = count;
    }
    d->n = n;
    d->dim = rows * cols;
    px = malloc(n * d->dim);
    d->vecs = malloc(n * d->dim * sizeof(float));
    cr_assert(px && d->vecs);
    if (gzread(f, px, (unsigned)(n * d->dim)) != (int)(n * d->dim)) {
        gzclose(f);
        free(px);
        return -1;
    }
    gzclose(f);
    for (size_t i = 0; i < n * d->dim; i++) {
        d->vecs[i] = px[i];
    }
    free(px);
    return 0;
}

void tu_free(tu_data *d)
{
    free(d->vecs);
    d->vecs = NULL;
}

static double ref_dist(const float *a, const float *b, uint32_t dim,
                       vectron_metric metric)
{
    double s = 0, na = 0, nb = 0;
    for (uint32_t i = 0; i < dim; i++) {
        if (metric == VECTRON_METRIC_L2) {
            double t = (double)a[i] - b[i];
            s += t * t;
        } else {
            s += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
    }
    if (metric == VECTRON_METRIC_L2) {
        return s;
    }
    if (metric == VECTRON_METRIC_COSINE) {
        return 1.0 - s / sqrt(na * nb);
    }
    return -s;
}

uint64_t *tu_ground_truth(const tu_data *base, const tu_data *queries,
                          uint32_t k, vectron_metric metric,
                          const uint8_t *skip)
{
    uint64_t *gt = malloc(queries->n * k * sizeof *gt);
    double *best = malloc(k * sizeof *best);
    cr_assert(gt && best);
    for (size_t q = 0; q < queries->n; q++) {
        uint32_t have = 0;
        const float *qv = queries->vecs + q * queries->dim;
        for (size_t i = 0; i < base->n; i++) {
            double d;
            uint32_t j;
            if (skip && skip[i]) {
                continue;
            }
            d = ref_dist(qv, base->vecs + i * base->dim, base->dim, metric);
            if (have == k && d >= best[k - 1]) {
                continue;
            }
            j = have < k ? have++ : k - 1;
            while (j > 0 && best[j - 1] > d) {
                best[j] = best[j - 1];
                gt[q * k + j] = gt[q * k + j - 1];
                j--;
            }
            best[j] = d;
            gt[q * k + j] = i;
        }
        cr_assert_eq(have, k);
    }
    free(best);
    return gt;
}

double tu_recall(const vectron_index *idx, const tu_data *queries,
                 const uint64_t *gt, const vectron_search_params *sp)
{
    uint32_t k = sp->k;
    vectron_hit *hits = malloc(k * sizeof *hits);
    size_t found = 0;
    vectron_error err;

    cr_assert_not_null(hits);
    for (size_t q = 0; q < queries->n; q++) {
        size_t n;
        int rc = vectron_index_search(idx, queries->vecs + q * queries->dim, sp,
                                      hits, &n, &err);
        cr_assert_eq(rc, 0, "search: %s", err.msg);
        for (size_t i = 0; i < n; i++) {
            for (uint32_t j = 0; j < k; j++) {
                if (hits[i].id == gt[q * k + j]) {
                    found++;
                    break;
                }
            }
        }
    }
    free(hits);
    return (double)found / (double)(queries->n * k);
}

void tu_add_rows(vectron_index *idx, const tu_data *d, size_t from, size_t to)
{
    vectron_error err;
    for (size_t i = from; i < to; i++) {
        int rc = vectron_index_add(idx, i, d->vecs + i * d->dim, &err);
        cr_assert_eq(rc, 0, "add %zu: %s", i, err.msg);
    }
}

int tu_check_graph(const vectron_index *cidx, char *msg, size_t msg_size)
{
    vectron_index *idx = (vectron_index *)cidx;
    uint32_t n = idx->n_slots, *queue, head = 0, tail = 0, reached = 0;
    uint32_t live = 0;
    uint8_t *seen;
    int rc = -1;

    seen = calloc(n + 1, 1);
    queue = malloc((n + 1) * sizeof *queue);
    cr_assert(seen && queue);
    /* The running count of upper-layer bytes (vectron_index_memory)
     * matches a recount of the lists allocated. */
    size_t upper = 0;
    for (uint32_t s = 0; s < n; s++) {
        hnsw_block *b = hnsw_blk(idx, s);
        uint32_t i = s & (HNSW_BLOCK - 1);
        if (b->upper_idx[i] && b->upper_list[b->upper_idx[i] - 1]) {
            upper += (size_t)hnsw_level(idx, s) * idx->upper_stride *
                     sizeof(uint32_t);
        }
    }
    if (upper != idx->upper_bytes) {
        snprintf(msg, msg_size, "upper-layer bytes %zu, counted %zu",
                 idx->upper_bytes, upper);
        goto out;
    }
    for (uint32_t s = 0; s < n; s++) {
        unsigned f = hnsw_flags(idx, s);
        if (!(f & HNSW_F_USED)) {
            continue;
        }
        if (f == HNSW_F_USED) {
            live++;
        }
        if (hnsw_level(idx, s) > idx->max_level) {
            snprintf(msg, msg_size, "slot %u level %d above max %d", s,
                     hnsw_level(idx, s), idx->max_level);
            goto out;
        }
        for (int l = 0; l <= hnsw_level(idx, s); l++) {
            uint32_t *links = hnsw_links(idx, s, l);
            if (links[0] > hnsw_max_links(idx, l)) {
                snprintf(msg, msg_size, "slot %u level %d degree %u > %u", s, l,
                         links[0], hnsw_max_links(idx, l));
                goto out;
            }
            for (uint32_t i = 0; i < links[0]; i++) {
                uint32_t t = links[1 + i];
                if (t >= n || t == s || !(hnsw_flags(idx, t) & HNSW_F_USED) ||
                    hnsw_level(idx, t) < l) {
                    snprintf(msg, msg_size, "slot %u level %d bad link %u", s,
                             l, t);
                    goto out;
                }
                for (uint32_t j = 0; j < i; j++) {
                    if (links[1 + j] == t) {
                        snprintf(msg, msg_size, "slot %u duplicate link %u", s,
                                 t);
                        goto out;
                    }
                }
            }
        }
    }
    /* The kept layer-0 in-degrees match the links. */
    {
        uint32_t *count = calloc(n + 1, sizeof *count);
        cr_assert_not_null(count);
        for (uint32_t s = 0; s < n; s++) {
            if (hnsw_flags(idx, s) == HNSW_F_USED) {
                uint32_t *l = hnsw_links(idx, s, 0);
                for (uint32_t i = 0; i < l[0]; i++) {
                    count[l[1 + i]]++;
                }
            }
        }
        for (uint32_t s = 0; s < n; s++) {
            if (hnsw_flags(idx, s) == HNSW_F_USED &&
                count[s] != hnsw_indeg(idx, s)) {
                snprintf(msg, msg_size, "slot %u in-degree %u, links say %u", s,
                         hnsw_indeg(idx, s), count[s]);
                free(count);
                goto out;
            }
        }
        free(count);
    }
    if (live != idx->map.live) {
        snprintf(msg, msg_size, "%u live slots but %zu ids in the map", live,
                 idx->map.live);
        goto out;
    }
    if (live == 0) {
        rc = 0;
        goto out;
    }
    if (idx->entry == HNSW_NONE ||
        hnsw_level(idx, idx->entry) != idx->max_level) {
        snprintf(msg, msg_size, "entry point %u not at max level %d",
                 idx->entry, idx->max_level);
        goto out;
    }
    /* Breadth-first over layer 0 from the entry point. */
    queue[tail++] = idx->entry;
    seen[idx->entry] = 1;
    while (head < tail) {
        uint32_t s = queue[head++], *links = hnsw_links(idx, s, 0);
        if (hnsw_flags(idx, s) == HNSW_F_USED) {
            reached++;
        }
        for (uint32_t i = 0; i < links[0]; i++) {
            if (!seen[links[1 + i]]) {
                seen[links[1 + i]] = 1;
                queue[tail++] = links[1 + i];
            }
        }
    }
    if (reached != live) {
        snprintf(msg, msg_size, "%u of %u live nodes reachable on layer 0",
                 reached, live);
        goto out;
    }
    rc = 0;
out:
    free(seen);
    free(queue);
    return rc;
}
