/*
 * test_concurrency.c - searches run while other threads insert, update and
 * delete. Afterwards the graph invariants hold, nothing is lost, and recall
 * is as good as a sequential build's. Bounded: fixed work per thread.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define N 8000
#define DIM 24
#define WRITERS 3
#define READERS 3

static tu_data base;
static vectron_index *idx;
static atomic_int failures;
static atomic_long searches;
static atomic_int writers_done;

static void *writer(void *arg)
{
    long w = (long)arg;
    vectron_error err;
    for (size_t i = (size_t)w; i < N; i += WRITERS) {
        if (vectron_index_add(idx, i, base.vecs + i * DIM, &err) != 0) {
            atomic_fetch_add(&failures, 1);
        }
        /* Churn a little: delete and restore an earlier point of ours. */
        if (i % 50 == 0 && i >= 150) {
            size_t j = i - 150; /* written by this same writer */
            if (vectron_index_remove(idx, j, &err) != 0 ||
                vectron_index_add(idx, j, base.vecs + j * DIM, &err) != 0) {
                fprintf(stderr, "churn %zu: %s\n", j, err.msg);
                atomic_fetch_add(&failures, 1);
            }
        }
    }
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

static void *reader(void *arg)
{
    long r = (long)arg;
    vectron_search_params sp;
    vectron_hit hits[10];
    vectron_error err;
    size_t n, q = (size_t)r;

    vectron_search_params_default(&sp, 10);
    while (atomic_load(&writers_done) < WRITERS) {
        q = (q * 7919 + 13) % N;
        if (vectron_index_search(idx, base.vecs + q * DIM, &sp, hits, &n,
                                 &err) != 0) {
            fprintf(stderr, "search: %s\n", err.msg);
            atomic_fetch_add(&failures, 1);
        }
        for (size_t i = 1; i < n; i++) {
            if (hits[i].distance < hits[i - 1].distance || hits[i].id >= N ||
                hits[i].id == hits[i - 1].id) {
                fprintf(stderr, "bad result %zu: id %llu d %g\n", i,
                        (unsigned long long)hits[i].id, hits[i].distance);
                atomic_fetch_add(&failures, 1);
            }
        }
        atomic_fetch_add(&searches, 1);
    }
    return NULL;
}

Test(concurrency, search_during_insert_update_delete, .timeout = 600)
{
    pthread_t w[WRITERS], r[READERS];
    vectron_index_params p;
    tu_data q;
    uint64_t *gt;
    vectron_search_params sp;
    char msg[256];
    double rec;

    tu_clustered(&base, N, DIM, 40, 1, 3);
    tu_clustered(&q, 200, DIM, 40, 1, 4);
    vectron_index_params_default(&p, DIM);
    cr_assert_eq(vectron_index_new(&p, &idx, NULL), 0);
    for (long i = 0; i < READERS; i++) {
        pthread_create(&r[i], NULL, reader, (void *)i);
    }
    for (long i = 0; i < WRITERS; i++) {
        pthread_create(&w[i], NULL, writer, (void *)i);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(w[i], NULL);
    }
    for (int i = 0; i < READERS; i++) {
        pthread_join(r[i], NULL);
    }
    cr_assert_eq(atomic_load(&failures), 0);
    cr_assert_eq(vectron_index_size(idx), N);
    /* Relinking keeps each node's last incoming link, yet a pair of nodes
     * can end up linking only to each other; the reconnect pass (which
     * shards run when their writes go idle) must leave nothing out. */
    if (tu_check_graph(idx, msg, sizeof msg) != 0) {
        printf("before reconnect: %s\n", msg);
    }
    size_t attached = 0;
    cr_assert_eq(vectron_index_reconnect(idx, &attached, NULL), 0);
    cr_assert_eq(tu_check_graph(idx, msg, sizeof msg), 0, "%s", msg);
    gt = tu_ground_truth(&base, &q, 10, VECTRON_METRIC_L2, NULL);
    vectron_search_params_default(&sp, 10);
    rec = tu_recall(idx, &q, gt, &sp);
    printf("concurrent build: recall@10 %.4f, %ld searches during build\n", rec,
           atomic_load(&searches));
    cr_assert_geq(rec, 0.95);
    cr_assert_gt(atomic_load(&searches), 0);
    free(gt);
    vectron_index_free(idx);
    tu_free(&base);
    tu_free(&q);
}
