/*
 * index_demo.c - what `make run` shows until `vectron serve` exists: builds
 * a Vectron index over Fashion-MNIST (the Debian package
 * dataset-fashion-mnist) with two threads, then searches 1,000 test images
 * and prints recall@10 against exact brute force and queries per second
 * for a few ef values, float32 and int8.
 *
 * Threading: two builder threads call vectron_index_add concurrently; the
 * searches run on the main thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "vectron/index.h"

#define DIR "/usr/share/datasets/fashion-mnist/"
#define K 10
#define N_QUERIES 1000

typedef struct images {
    float *v;
    size_t n;
    uint32_t dim;
} images;

static int load_images(const char *path, size_t max, images *out)
{
    unsigned char hdr[16], *px;
    gzFile f = gzopen(path, "rb");
    size_t n;

    if (!f) {
        fprintf(stderr, "cannot open %s (install dataset-fashion-mnist)\n",
                path);
        return -1;
    }
    if (gzread(f, hdr, 16) != 16 || hdr[2] != 0x08 || hdr[3] != 0x03) {
        fprintf(stderr, "%s: not an idx3 image file\n", path);
        gzclose(f);
        return -1;
    }
    n = (size_t)hdr[4] << 24 | (size_t)hdr[5] << 16 | (size_t)hdr[6] << 8 |
        hdr[7];
    if (n > max) {
        n = max;
    }
    out->dim = (uint32_t)hdr[11] * hdr[15];
    out->n = n;
    px = malloc(n * out->dim);
    out->v = malloc(n * out->dim * sizeof(float));
    if (!px || !out->v ||
        gzread(f, px, (unsigned)(n * out->dim)) != (int)(n * out->dim)) {
        fprintf(stderr, "%s: short read\n", path);
        gzclose(f);
        free(px);
        return -1;
    }
    gzclose(f);
    for (size_t i = 0; i < n * out->dim; i++) {
        out->v[i] = px[i];
    }
    free(px);
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct job {
    vectron_index *idx;
    const images *base;
    size_t start;
} job;

static void *builder(void *arg)
{
    job *j = arg;
    vectron_error err;
    for (size_t i = j->start; i < j->base->n; i += 2) {
        if (vectron_index_add(j->idx, i, j->base->v + i * j->base->dim, &err) !=
            0) {
            fprintf(stderr, "add %zu: %s\n", i, err.msg);
            exit(1);
        }
    }
    return NULL;
}

static int exact_topk(const vectron_index *idx, const images *q, uint64_t *gt)
{
    vectron_search_params sp;
    vectron_hit hits[K];
    vectron_error err;
    size_t n;
    vectron_search_params_default(&sp, K);
    sp.exact = 1;
    for (size_t i = 0; i < q->n; i++) {
        if (vectron_index_search(idx, q->v + i * q->dim, &sp, hits, &n, &err) !=
            0) {
            fprintf(stderr, "exact search: %s\n", err.msg);
            return -1;
        }
        for (size_t j = 0; j < K; j++) {
            gt[i * K + j] = j < n ? hits[j].id : UINT64_MAX;
        }
    }
    return 0;
}

static void sweep(const vectron_index *idx, const images *q, const uint64_t *gt,
                  const char *label)
{
    static const uint32_t efs[] = {10, 16, 32, 64, 128};
    for (size_t e = 0; e < sizeof efs / sizeof efs[0]; e++) {
        vectron_search_params sp;
        vectron_hit hits[K];
        size_t n, found = 0;
        double t0;
        vectron_search_params_default(&sp, K);
        sp.ef = efs[e];
        sp.oversampling = 1.0f;
        t0 = now();
        for (size_t i = 0; i < q->n; i++) {
            vectron_index_search(idx, q->v + i * q->dim, &sp, hits, &n, NULL);
            for (size_t a = 0; a < n; a++) {
                for (size_t b = 0; b < K; b++) {
                    found += hits[a].id == gt[i * K + b];
                }
            }
        }
        printf("  %-8s ef %4u   recall@10 %.4f   %8.0f queries/s (1 thread)\n",
               label, sp.ef, (double)found / (double)(q->n * K),
               (double)q->n / (now() - t0));
    }
}

int main(void)
{
    images base, q;
    uint64_t *gt;
    vectron_quant quants[2] = {VECTRON_QUANT_NONE, VECTRON_QUANT_INT8};

    if (load_images(DIR "train-images-idx3-ubyte.gz", 60000, &base) != 0 ||
        load_images(DIR "t10k-images-idx3-ubyte.gz", N_QUERIES, &q) != 0) {
        return 1;
    }
    gt = malloc(q.n * K * sizeof *gt);
    printf("Vectron index demo: Fashion-MNIST, %zu images of %u pixels, "
           "L2, M=16, ef_construction=200\n",
           base.n, base.dim);
    for (int v = 0; v < 2; v++) {
        vectron_index_params p;
        vectron_index *idx;
        vectron_error err;
        pthread_t th[2];
        job jobs[2];
        double t0;

        vectron_index_params_default(&p, base.dim);
        p.quant = quants[v];
        if (vectron_index_new(&p, &idx, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        t0 = now();
        for (int t = 0; t < 2; t++) {
            jobs[t].idx = idx;
            jobs[t].base = &base;
            jobs[t].start = (size_t)t;
            pthread_create(&th[t], NULL, builder, &jobs[t]);
        }
        for (int t = 0; t < 2; t++) {
            pthread_join(th[t], NULL);
        }
        printf("%s: built in %.1f s with 2 threads, %.0f MB\n",
               v ? "int8 + rescoring" : "float32", now() - t0,
               (double)vectron_index_memory(idx) / 1e6);
        if (v == 0 && exact_topk(idx, &q, gt) != 0) {
            return 1;
        }
        sweep(idx, &q, gt, v ? "int8" : "float32");
        vectron_index_free(idx);
    }
    free(gt);
    free(base.v);
    free(q.v);
    return 0;
}
