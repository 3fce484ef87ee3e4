/*
 * bench_util.c - file, clock, memory and exact-distance helpers shared by
 * the benchmark programs (see bench.h).
 *
 * Threading: every function is reentrant; none keeps state.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

int bench_read_vecs(const char *path, size_t max_n, bench_matrix *out,
                    char *err, size_t errlen)
{
    int rc = -1;
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    memset(out, 0, sizeof(*out));
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    int32_t dim = 0;
    if (fread(&dim, 4, 1, f) != 1 || dim <= 0 || dim > (1 << 20)) {
        snprintf(err, errlen, "%s: bad or missing header", path);
        goto out;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        snprintf(err, errlen, "%s: seek: %s", path, strerror(errno));
        goto out;
    }
    long size = ftell(f);
    size_t row = 4 + 4 * (size_t)dim;
    if (size < 0 || (size_t)size % row != 0) {
        snprintf(err, errlen, "%s: size %ld is not a multiple of %zu", path,
                 size, row);
        goto out;
    }
    size_t n = (size_t)size / row;
    if (max_n != 0 && max_n < n) {
        n = max_n;
    }
    rewind(f);
    buf = malloc(n * 4 * (size_t)dim + 1);
    unsigned char *rowbuf = malloc(row);
    if (buf == NULL || rowbuf == NULL) {
        free(rowbuf);
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t d;
        if (fread(rowbuf, row, 1, f) != 1) {
            free(rowbuf);
            snprintf(err, errlen, "%s: short read at row %zu", path, i);
            goto out;
        }
        memcpy(&d, rowbuf, 4);
        if (d != dim) {
            free(rowbuf);
            snprintf(err, errlen, "%s: row %zu has dimension %d, not %d", path,
                     i, (int)d, (int)dim);
            goto out;
        }
        memcpy(buf + i * 4 * (size_t)dim, rowbuf + 4, 4 * (size_t)dim);
    }
    free(rowbuf);
    out->data = buf;
    out->n = n;
    out->dim = (uint32_t)dim;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}

int bench_write_vecs(const char *path, const void *data, size_t n, uint32_t dim,
                     char *err, size_t errlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    const unsigned char *p = data;
    int32_t d = (int32_t)dim;
    for (size_t i = 0; i < n; i++) {
        if (fwrite(&d, 4, 1, f) != 1 ||
            fwrite(p + i * 4 * (size_t)dim, 4 * (size_t)dim, 1, f) != 1) {
            snprintf(err, errlen, "%s: write: %s", tmp, strerror(errno));
            fclose(f);
            return -1;
        }
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

void bench_matrix_free(bench_matrix *m)
{
    free(m->data);
    memset(m, 0, sizeof(*m));
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0;
    }
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

size_t bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return 0;
    }
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoull(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

double bench_exact_distance(bench_metric metric, const float *a, const float *b,
                            uint32_t dim)
{
    if (metric == BENCH_METRIC_L2) {
        double s = 0;
        for (uint32_t i = 0; i < dim; i++) {
            double t = (double)a[i] - (double)b[i];
            s += t * t;
        }
        return s;
    }
    double ab = 0, aa = 0, bb = 0;
    for (uint32_t i = 0; i < dim; i++) {
        ab += (double)a[i] * (double)b[i];
        aa += (double)a[i] * (double)a[i];
        bb += (double)b[i] * (double)b[i];
    }
    if (aa == 0 || bb == 0) {
        return 1.0;
    }
    return 1.0 - ab / (sqrt(aa) * sqrt(bb));
}

/* ---- data sets --------------------------------------------------------- */

int bench_load_dataset(const char *name, const char *data_dir, size_t n,
                       const char *gt_prefix, uint32_t k, bench_dataset *ds,
                       char *err, size_t errlen)
{
    char path[4200], gt[4096];
    memset(ds, 0, sizeof(*ds));
    if (strcmp(name, "fashion") == 0) {
        ds->metric = BENCH_METRIC_L2;
    } else if (strcmp(name, "glove") == 0) {
        ds->metric = BENCH_METRIC_COSINE;
    } else {
        snprintf(err, errlen, "unknown data set %s", name);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s.base.fvecs", data_dir, name);
    if (bench_read_vecs(path, n, &ds->base, err, errlen) != 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s.query.fvecs", data_dir, name);
    if (bench_read_vecs(path, 0, &ds->query, err, errlen) != 0) {
        return -1;
    }
    if (gt_prefix != NULL) {
        snprintf(gt, sizeof(gt), "%s", gt_prefix);
    } else if (n != 0) {
        snprintf(gt, sizeof(gt), "%s/%s-n%zu.gt", data_dir, name, n);
    } else {
        snprintf(gt, sizeof(gt), "%s/%s.gt", data_dir, name);
    }
    snprintf(path, sizeof(path), "%s.ivecs", gt);
    if (bench_read_vecs(path, 0, &ds->gt_ids, err, errlen) != 0) {
        strncat(err, " (run bench_gt first)", errlen - strlen(err) - 1);
        return -1;
    }
    snprintf(path, sizeof(path), "%s.fvecs", gt);
    if (bench_read_vecs(path, 0, &ds->gt_dist, err, errlen) != 0) {
        strncat(err, " (run bench_gt first)", errlen - strlen(err) - 1);
        return -1;
    }
    if (ds->base.dim != ds->query.dim || ds->gt_ids.n != ds->query.n ||
        ds->gt_dist.n != ds->query.n || ds->gt_ids.dim < k ||
        ds->gt_dist.dim != ds->gt_ids.dim) {
        snprintf(err, errlen,
                 "ground truth: shape does not match the data set");
        return -1;
    }
    /* Catch a stale cache: the stored neighbours must lie in the base and
     * have the stored distances. */
    const int32_t *ids = ds->gt_ids.data;
    const float *dist = ds->gt_dist.data;
    const float *base = ds->base.data, *query = ds->query.data;
    uint32_t dim = ds->base.dim, gk = ds->gt_ids.dim;
    for (size_t q = 0; q < ds->query.n && q < 50; q++) {
        for (uint32_t j = 0; j < k; j++) {
            int32_t id = ids[q * gk + j];
            if (id < 0 || (size_t)id >= ds->base.n) {
                snprintf(err, errlen,
                         "ground truth: neighbour id out of range (stale?)");
                return -1;
            }
            double d = bench_exact_distance(ds->metric, query + q * dim,
                                            base + (size_t)id * dim, dim);
            if (fabs(d - dist[q * gk + j]) > 1e-5 * fabs(d) + 1e-9) {
                snprintf(err, errlen,
                         "ground truth: distances do not match (stale?)");
                return -1;
            }
        }
    }
    return 0;
}

void bench_dataset_free(bench_dataset *ds)
{
    bench_matrix_free(&ds->base);
    bench_matrix_free(&ds->query);
    bench_matrix_free(&ds->gt_ids);
    bench_matrix_free(&ds->gt_dist);
}

double bench_recall_at_k(const bench_dataset *ds, size_t nq, const int64_t *res,
                         uint32_t k)
{
    const int32_t *ids = ds->gt_ids.data;
    const float *dist = ds->gt_dist.data;
    const float *base = ds->base.data, *query = ds->query.data;
    uint32_t dim = ds->base.dim, gk = ds->gt_ids.dim;
    size_t hits = 0;
    for (size_t q = 0; q < nq; q++) {
        const int64_t *r = res + q * k;
        const int32_t *g = ids + q * gk;
        double kth = dist[q * gk + k - 1];
        for (uint32_t i = 0; i < k; i++) {
            int64_t id = r[i];
            if (id < 0 || (size_t)id >= ds->base.n) {
                continue;
            }
            int dup = 0;
            for (uint32_t j = 0; j < i; j++) {
                dup |= r[j] == id;
            }
            if (dup) {
                continue;
            }
            int found = 0;
            for (uint32_t j = 0; j < k && !found; j++) {
                found = g[j] == id;
            }
            if (!found) {
                double d = bench_exact_distance(ds->metric, query + q * dim,
                                                base + (size_t)id * dim, dim);
                found = d <= kth + 1e-6 * fabs(kth);
            }
            hits += (size_t)found;
        }
    }
    return (double)hits / ((double)nq * k);
}
