/*
 * hnsw_io.c - saving and loading an index (format: docs/formats/index.md).
 * Save writes only live points, renumbered densely, to path.tmp through a
 * buffered writer that checksums as it goes, fsyncs it and renames it over
 * path. Load verifies the checksum first, then parses with a bounds-checked
 * cursor and validates every count, level and link before the index is
 * returned, so a corrupt or truncated file yields VECTRON_CORRUPT and never
 * a crash or a half-built index.
 *
 * Threading: save holds idx->lock shared (concurrent adds may proceed;
 * points added after the save began are not written); load builds a new
 * index no one else can see yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index/hnsw.h"

#define MAGIC "VXINDEX\0"
#define VERSION 1u
#define HEADER_SIZE 96u

/* ---- writer ---- */

typedef struct writer {
    FILE *f;
    uint32_t crc;
    int failed;
} writer;

static void put(writer *w, const void *p, size_t n)
{
    if (w->failed) {
        return;
    }
    w->crc = vx_crc32c(w->crc, p, n);
    if (fwrite(p, 1, n, w->f) != n) {
        w->failed = errno ? errno : EIO;
    }
}

static void put_u32(writer *w, uint32_t v)
{
    uint8_t b[4];
    vx_put_u32(b, v);
    put(w, b, 4);
}

static void put_u64(writer *w, uint64_t v)
{
    uint8_t b[8];
    vx_put_u64(b, v);
    put(w, b, 8);
}

static void put_f32s(writer *w, const float *v, uint32_t n)
{
    /* x86-64 is little-endian: floats are written as they are in memory. */
    put(w, v, (size_t)n * sizeof(float));
}

static int fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    int fd, rc = 0;
    if (!copy) {
        return ENOMEM;
    }
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0) {
        rc = errno;
    }
    if (fd >= 0) {
        close(fd);
    }
    free(copy);
    return rc;
}

int vectron_index_save(const vectron_index *cidx, const char *path,
                       vectron_error *err)
{
    vectron_index *idx = (vectron_index *)cidx;
    char *tmp = NULL;
    uint32_t *remap = NULL, n_slots, n = 0, entry, links[2 * VECTRON_MAX_M];
    int max_level = -1, rc = 0, locked = 0;
    writer w = {0};
    uint8_t hdr[HEADER_SIZE];

    if (!path) {
        return vx_err(err, VECTRON_INVALID, "save index: path is NULL");
    }
    tmp = vx_malloc(strlen(path) + 5);
    if (!tmp) {
        rc = vx_err(err, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    sprintf(tmp, "%s.tmp", path);

    pthread_rwlock_rdlock(&idx->lock);
    locked = 1;
    pthread_mutex_lock(&idx->map_lock);
    n_slots = idx->n_slots;
    pthread_mutex_unlock(&idx->map_lock);
    remap = vx_malloc(((size_t)n_slots + 1) * sizeof *remap);
    if (!remap) {
        rc = vx_err(err, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    entry = HNSW_NONE;
    for (uint32_t s = 0; s < n_slots; s++) {
        if (hnsw_flags(idx, s) == HNSW_F_USED) {
            remap[s] = n++;
            if (hnsw_level(idx, s) > max_level) {
                max_level = hnsw_level(idx, s);
                entry = remap[s];
            }
        } else {
            remap[s] = HNSW_NONE;
        }
    }
    /* Keep the live entry point if there is one at the top level. */
    pthread_mutex_lock(&idx->entry_lock);
    if (idx->entry != HNSW_NONE && idx->entry < n_slots &&
        remap[idx->entry] != HNSW_NONE &&
        hnsw_level(idx, idx->entry) == max_level) {
        entry = remap[idx->entry];
    }
    pthread_mutex_unlock(&idx->entry_lock);

    w.f = fopen(tmp, "wb");
    if (!w.f) {
        rc = vx_err(err, VECTRON_IO, "open %s: %s", tmp, strerror(errno));
        goto out;
    }
    setvbuf(w.f, NULL, _IOFBF, 1 << 20);
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, MAGIC, 8);
    vx_put_u32(hdr + 8, VERSION);
    vx_put_u32(hdr + 12, HEADER_SIZE);
    vx_put_u32(hdr + 16, idx->p.dim);
    vx_put_u32(hdr + 20, (uint32_t)idx->p.metric);
    vx_put_u32(hdr + 24, idx->p.m);
    vx_put_u32(hdr + 28, idx->p.ef_construction);
    vx_put_u32(hdr + 32, (uint32_t)idx->p.quant);
    vx_put_u32(hdr + 36, (uint32_t)idx->p.quant_per_dim);
    vx_put_u32(hdr + 40, idx->p.quant_train_size);
    vx_put_u32(hdr + 44,
               idx->p.quant == VECTRON_QUANT_INT8 && idx->qz.trained ? 1u : 0u);
    vx_put_u64(hdr + 48, idx->p.seed);
    vx_put_u64(hdr + 56, n);
    vx_put_u32(hdr + 64, entry);
    vx_put_u32(hdr + 68, (uint32_t)max_level);
    put(&w, hdr, sizeof hdr);
    if (vx_get_u32(hdr + 44)) {
        put_f32s(&w, idx->qz.lo, idx->p.dim);
        put_f32s(&w, idx->qz.scale, idx->p.dim);
    }
    for (uint32_t s = 0; s < n_slots && !w.failed; s++) {
        int level;
        if (remap[s] == HNSW_NONE) {
            continue;
        }
        level = hnsw_level(idx, s);
        put_u64(&w, hnsw_id(idx, s));
        put_u32(&w, (uint32_t)level);
        put_f32s(&w, hnsw_vec(idx, s), idx->p.dim);
        for (int l = 0; l <= level; l++) {
            uint32_t cnt = hnsw_copy_links(idx, s, l, links), kept = 0;
            for (uint32_t i = 0; i < cnt; i++) {
                if (links[i] < n_slots && remap[links[i]] != HNSW_NONE) {
                    links[kept++] = remap[links[i]];
                }
            }
            put_u32(&w, kept);
            for (uint32_t i = 0; i < kept; i++) {
                put_u32(&w, links[i]);
            }
        }
    }
    pthread_rwlock_unlock(&idx->lock);
    locked = 0;
    {
        uint8_t b[4];
        vx_put_u32(b, w.crc);
        if (!w.failed && fwrite(b, 1, 4, w.f) != 4) {
            w.failed = errno ? errno : EIO;
        }
    }
    if (!w.failed && fflush(w.f) != 0) {
        w.failed = errno;
    }
    if (!w.failed && fsync(fileno(w.f)) != 0) {
        w.failed = errno;
    }
    if (fclose(w.f) != 0 && !w.failed) {
        w.failed = errno;
    }
    w.f = NULL;
    if (w.failed) {
        rc = vx_err(err, VECTRON_IO, "write %s: %s", tmp, strerror(w.failed));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = vx_err(err, VECTRON_IO, "rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if ((w.failed = fsync_dir_of(path)) != 0) {
        rc = vx_err(err, VECTRON_IO, "fsync directory of %s: %s", path,
                    strerror(w.failed));
    }
out:
    if (w.f) {
        fclose(w.f);
        unlink(tmp);
    }
    if (locked) {
        pthread_rwlock_unlock(&idx->lock);
    }
    vx_free(remap);
    vx_free(tmp);
    if (rc) {
        return vx_err_wrap(err, rc, "save index");
    }
    return 0;
}

/* ---- reader ---- */

typedef struct cursor {
    const uint8_t *p, *end;
} cursor;

static int take(cursor *c, size_t n, const uint8_t **out)
{
    if ((size_t)(c->end - c->p) < n) {
        return -1;
    }
    *out = c->p;
    c->p += n;
    return 0;
}

static int get_u32(cursor *c, uint32_t *v)
{
    const uint8_t *p;
    if (take(c, 4, &p)) {
        return -1;
    }
    *v = vx_get_u32(p);
    return 0;
}

static int get_u64(cursor *c, uint64_t *v)
{
    const uint8_t *p;
    if (take(c, 8, &p)) {
        return -1;
    }
    *v = vx_get_u64(p);
    return 0;
}

static int get_f32s(cursor *c, float *out, uint32_t n)
{
    const uint8_t *p;
    if (take(c, (size_t)n * 4, &p)) {
        return -1;
    }
    memcpy(out, p, (size_t)n * 4);
    return 0;
}

#define CORRUPT(...)                                                           \
    do {                                                                       \
        rc = vx_err(err, VECTRON_CORRUPT, __VA_ARGS__);                        \
        goto out;                                                              \
    } while (0)

/* Fills idx (new, empty, params set) with n nodes from c. */
static int load_nodes(vectron_index *idx, cursor *c, uint64_t n,
                      vectron_error *err)
{
    int rc = 0;

    for (uint32_t i = 0; i < n; i++) {
        uint64_t id;
        uint32_t level, bi = i & (HNSW_BLOCK - 1);
        hnsw_block *b;
        float *v;

        if ((rc = hnsw_ensure_block(idx, i, err)) != 0) {
            goto out;
        }
        b = hnsw_blk(idx, i);
        if (get_u64(c, &id) || get_u32(c, &level)) {
            CORRUPT("node %u: truncated", i);
        }
        if (level > HNSW_MAX_LEVEL) {
            CORRUPT("node %u: level %u above %d", i, level, HNSW_MAX_LEVEL);
        }
        v = hnsw_vec(idx, i);
        if (get_f32s(c, v, idx->p.dim)) {
            CORRUPT("node %u: truncated vector", i);
        }
        for (uint32_t d = 0; d < idx->p.dim; d++) {
            if (!isfinite(v[d])) {
                CORRUPT("node %u: vector component %u is not finite", i, d);
            }
        }
        b->ids[bi] = id;
        b->levels[bi] = (uint8_t)level;
        if (level > 0) {
            uint32_t *upper =
                vx_calloc((size_t)level * idx->upper_stride, sizeof(uint32_t));
            if (!upper) {
                rc = vx_err(err, VECTRON_NOMEM, "out of memory");
                goto out;
            }
            hnsw_set_upper(idx, i, upper);
        }
        b->flags[bi] = HNSW_F_USED;
        idx->n_slots = i + 1;
        for (uint32_t l = 0; l <= level; l++) {
            uint32_t cnt, *links = hnsw_links(idx, i, (int)l);
            if (get_u32(c, &cnt)) {
                CORRUPT("node %u: truncated links", i);
            }
            if (cnt > hnsw_max_links(idx, (int)l)) {
                CORRUPT("node %u: %u links at level %u, more than %u", i, cnt,
                        l, hnsw_max_links(idx, (int)l));
            }
            links[0] = cnt;
            for (uint32_t j = 0; j < cnt; j++) {
                if (get_u32(c, &links[1 + j])) {
                    CORRUPT("node %u: truncated links", i);
                }
                if (links[1 + j] >= n || links[1 + j] == i) {
                    CORRUPT("node %u: link %u out of range", i, links[1 + j]);
                }
                for (uint32_t k = 0; k < j; k++) {
                    if (links[1 + k] == links[1 + j]) {
                        CORRUPT("node %u: duplicate link %u", i, links[1 + j]);
                    }
                }
            }
        }
        if (hnsw_map_get(idx, id) != HNSW_NONE) {
            CORRUPT("node %u: duplicate id %llu", i, (unsigned long long)id);
        }
        hnsw_map_put(idx, id, i);
    }
    /* Every link at level l must reach a node that has level l. */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t *l0 = hnsw_links(idx, i, 0);
        for (uint32_t j = 0; j < l0[0]; j++) {
            hnsw_indeg_add(idx, l0[1 + j], 1);
        }
        for (int l = 1; l <= hnsw_level(idx, i); l++) {
            uint32_t *links = hnsw_links(idx, i, l);
            for (uint32_t j = 0; j < links[0]; j++) {
                if (hnsw_level(idx, links[1 + j]) < l) {
                    CORRUPT("node %u: level-%d link to node %u of level %d", i,
                            l, links[1 + j], hnsw_level(idx, links[1 + j]));
                }
            }
        }
    }
out:
    return rc;
}

int vectron_index_load_buffer(const void *buf, size_t len, vectron_index **out,
                              vectron_error *err)
{
    const uint8_t *b = buf, *hdr;
    vectron_index *idx = NULL;
    vectron_index_params p;
    cursor c;
    uint64_t n;
    uint32_t entry, trained, crc, max_level_u;
    float *lo = NULL, *scale = NULL;
    int rc = 0;

    *out = NULL;
    if (!buf || len < HEADER_SIZE + 4) {
        CORRUPT("file too short (%zu bytes)", len);
    }
    if (memcmp(b, MAGIC, 8) != 0) {
        CORRUPT("not a Vectron index (bad magic)");
    }
    if (vx_get_u32(b + 8) != VERSION) {
        rc = vx_err(err, VECTRON_UNSUPPORTED,
                    "index format version %u, "
                    "this build reads version %u",
                    vx_get_u32(b + 8), VERSION);
        goto out;
    }
    crc = vx_get_u32(b + len - 4);
    if (vx_crc32c(0, b, len - 4) != crc) {
        CORRUPT("checksum mismatch (file damaged or truncated)");
    }
    c.p = b;
    c.end = b + len - 4;
    take(&c, HEADER_SIZE, &hdr);
    if (vx_get_u32(hdr + 12) != HEADER_SIZE) {
        CORRUPT("header size %u, expected %u", vx_get_u32(hdr + 12),
                HEADER_SIZE);
    }
    vectron_index_params_default(&p, vx_get_u32(hdr + 16));
    p.metric = (vectron_metric)vx_get_u32(hdr + 20);
    p.m = vx_get_u32(hdr + 24);
    p.ef_construction = vx_get_u32(hdr + 28);
    p.quant = (vectron_quant)vx_get_u32(hdr + 32);
    p.quant_per_dim = (int)vx_get_u32(hdr + 36);
    p.quant_train_size = vx_get_u32(hdr + 40);
    trained = vx_get_u32(hdr + 44);
    p.seed = vx_get_u64(hdr + 48);
    n = vx_get_u64(hdr + 56);
    entry = vx_get_u32(hdr + 64);
    max_level_u = vx_get_u32(hdr + 68);
    if (p.quant_per_dim != 0 && p.quant_per_dim != 1) {
        CORRUPT("bad quant_per_dim %d", p.quant_per_dim);
    }
    if ((rc = vectron_index_new(&p, &idx, err)) != 0) {
        rc = vx_err(err, VECTRON_CORRUPT, "bad parameters: %s",
                    err ? err->msg : "");
        goto out;
    }
    /* Each node needs at least id + level + vector + one count. */
    if (n > (size_t)(c.end - c.p) / (16 + (size_t)p.dim * 4) ||
        n >= HNSW_NONE - 2) {
        CORRUPT("node count %llu does not fit the file", (unsigned long long)n);
    }
    if (trained > 1 || (trained && p.quant != VECTRON_QUANT_INT8)) {
        CORRUPT("bad quantizer flag %u", trained);
    }
    if (trained) {
        lo = vx_malloc(p.dim * sizeof(float));
        scale = vx_malloc(p.dim * sizeof(float));
        if (!lo || !scale) {
            rc = vx_err(err, VECTRON_NOMEM, "out of memory");
            goto out;
        }
        if (get_f32s(&c, lo, p.dim) || get_f32s(&c, scale, p.dim)) {
            CORRUPT("truncated quantizer ranges");
        }
        if ((rc = quant_set(&idx->qz, lo, scale, err)) != 0) {
            goto out;
        }
    }
    if (hnsw_map_reserve(idx, n) != 0) {
        rc = vx_err(err, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = load_nodes(idx, &c, n, err)) != 0) {
        goto out;
    }
    if (c.p != c.end) {
        CORRUPT("%zu unexpected bytes after the last node",
                (size_t)(c.end - c.p));
    }
    if (n == 0) {
        if (entry != HNSW_NONE || max_level_u != UINT32_MAX) {
            CORRUPT("empty index with an entry point");
        }
    } else {
        int top = -1;
        for (uint32_t i = 0; i < n; i++) {
            if (hnsw_level(idx, i) > top) {
                top = hnsw_level(idx, i);
            }
        }
        if (entry >= n || (int)max_level_u != top ||
            hnsw_level(idx, entry) != top) {
            CORRUPT("bad entry point %u (level %d)", entry, (int)max_level_u);
        }
        idx->entry = entry;
        idx->max_level = top;
    }
    if (trained) {
        for (uint32_t i = 0; i < n; i++) {
            quant_encode(&idx->qz, hnsw_vec(idx, i), hnsw_code(idx, i));
        }
    }
    /* A file written by save is fully connected; one that is not (edited
     * or from a future writer) is made so rather than rejected. */
    hnsw_reconnect(idx);
    *out = idx;
    idx = NULL;
out:
    vectron_index_free(idx);
    vx_free(lo);
    vx_free(scale);
    if (rc) {
        return vx_err_wrap(err, rc, "load index");
    }
    return 0;
}

int vectron_index_load(const char *path, vectron_index **out,
                       vectron_error *err)
{
    struct stat st;
    void *map = MAP_FAILED;
    int fd = -1, rc = 0;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = vx_err(err, errno == ENOENT ? VECTRON_NOT_FOUND : VECTRON_IO,
                    "load index: open %s: %s", path, strerror(errno));
        goto out;
    }
    if (st.st_size == 0) {
        rc = vx_err(err, VECTRON_CORRUPT, "load index: %s is empty", path);
        goto out;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = vx_err(err, VECTRON_IO, "load index: mmap %s: %s", path,
                    strerror(errno));
        goto out;
    }
    rc = vectron_index_load_buffer(map, (size_t)st.st_size, out, err);
    if (rc) {
        vx_err_wrap(err, rc, "%s", path);
    }
out:
    if (map != MAP_FAILED) {
        munmap(map, (size_t)st.st_size);
    }
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}
