/*
 * test_metrics.c - unit tests of the metrics registry: the exposition
 * text of every metric type (HELP/TYPE lines, label escaping, cumulative
 * histogram buckets with +Inf, _sum and _count), name validation,
 * find-or-create of families and series, collectors, concurrent updates
 * that must add up exactly, and allocation failures (NOMEM, no leak).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/metrics.h"

static vectron_error err;

/* Renders m and returns the text (free with vx_free). */
static char *render(vx_metrics *m)
{
    char *text;
    size_t len;

    cr_assert_eq(vx_metrics_render(m, &text, &len, &err), 0, "%s", err.msg);
    cr_assert_eq(strlen(text), len);
    return text;
}

Test(metrics, empty_registry)
{
    vx_metrics *m;
    cr_assert_eq(vx_metrics_new(&m, &err), 0);
    char *text = render(m);
    cr_assert_str_eq(text, "");
    vx_free(text);
    vx_metrics_free(m);
    vx_metrics_free(NULL);
}

Test(metrics, counter_format_and_escaping)
{
    static const char *const labels[] = {"route", "code"};
    vx_metrics *m;
    vx_metric_family *f, *g;
    vx_counter *a, *b, *a2;

    cr_assert_eq(vx_metrics_new(&m, &err), 0);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_COUNTER, "x_requests_total",
                                   "Requests, with a \\ and a\nnewline \"q\".",
                                   labels, 2, NULL, 0, &f, &err),
                 0, "%s", err.msg);
    const char *va[] = {"plain", "200"};
    const char *vb[] = {"we\"ird\\pa\nth", ""};
    cr_assert_eq(vx_metrics_counter(f, va, &a, &err), 0);
    cr_assert_eq(vx_metrics_counter(f, vb, &b, &err), 0);
    cr_assert_eq(vx_metrics_counter(f, va, &a2, &err), 0);
    cr_assert_eq(a, a2, "same labels, same series");
    cr_assert_neq(a, b);
    vx_counter_add(a, 3);
    vx_counter_add(a2, 2);
    vx_counter_add(b, UINT64_C(18446744073709551615));
    vx_counter_add(NULL, 1);
    cr_assert_eq(vx_counter_value(a), 5);
    cr_assert_eq(vx_counter_value(NULL), 0);

    /* Registering again with the same shape finds the family. */
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_COUNTER, "x_requests_total",
                                   "Requests, with a \\ and a\nnewline \"q\".",
                                   labels, 2, NULL, 0, &g, &err),
                 0);
    cr_assert_eq(f, g);

    char *text = render(m);
    cr_assert_str_eq(
        text, "# HELP x_requests_total Requests, with a \\\\ and a\\nnewline "
              "\"q\".\n"
              "# TYPE x_requests_total counter\n"
              "x_requests_total{route=\"plain\",code=\"200\"} 5\n"
              "x_requests_total{route=\"we\\\"ird\\\\pa\\nth\",code=\"\"} "
              "18446744073709551615\n");
    vx_free(text);
    vx_metrics_free(m);
}

Test(metrics, unlabelled_and_gauge_values)
{
    vx_metrics *m;
    vx_metric_family *f, *g;
    vx_counter *c;
    vx_gauge *v;

    cr_assert_eq(vx_metrics_new(&m, &err), 0);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_COUNTER, "a_total", NULL, NULL,
                                   0, NULL, 0, &f, &err),
                 0);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_GAUGE, "b:ratio", "B.", NULL, 0,
                                   NULL, 0, &g, &err),
                 0);
    /* Both render before any update. */
    char *text = render(m);
    cr_assert_str_eq(text, "# TYPE a_total counter\n"
                           "a_total 0\n"
                           "# HELP b:ratio B.\n"
                           "# TYPE b:ratio gauge\n"
                           "b:ratio 0\n");
    vx_free(text);

    cr_assert_eq(vx_metrics_counter(f, NULL, &c, &err), 0);
    cr_assert_eq(vx_metrics_gauge(g, NULL, &v, &err), 0);
    vx_counter_add(c, 7);
    struct {
        double set, add;
        const char *text;
    } cases[] = {
        {0.1, 0, "0.1"},       {1.5, -3, "-1.5"},
        {1e300, 0, "1e+300"},  {1.0 / 3.0, 0, "0.33333333333333331"},
        {INFINITY, 0, "+Inf"}, {-INFINITY, 0, "-Inf"},
        {NAN, 0, "NaN"},       {42, 0.25, "42.25"},
        {-0.0, -0.0, "-0"},    {123456789012, 0, "123456789012"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[200];
        vx_gauge_set(v, cases[i].set);
        vx_gauge_add(v, cases[i].add);
        text = render(m);
        snprintf(want, sizeof want,
                 "# TYPE a_total counter\n"
                 "a_total 7\n"
                 "# HELP b:ratio B.\n"
                 "# TYPE b:ratio gauge\n"
                 "b:ratio %s\n",
                 cases[i].text);
        cr_assert_str_eq(text, want, "case %zu", i);
        vx_free(text);
    }
    vx_gauge_set(v, 2.5);
    cr_assert_eq(vx_gauge_value(v), 2.5);
    vx_gauge_set(NULL, 1);
    vx_gauge_add(NULL, 1);
    cr_assert_eq(vx_gauge_value(NULL), 0.0);
    vx_metrics_free(m);
}

Test(metrics, histogram_format)
{
    static const char *const labels[] = {"route"};
    static const double bounds[] = {0.001, 0.01, 0.1, 1};
    vx_metrics *m;
    vx_metric_family *f;
    vx_histogram *h, *h2;

    cr_assert_eq(vx_metrics_new(&m, &err), 0);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_HISTOGRAM, "lat_seconds",
                                   "Latency.", labels, 1, bounds, 4, &f, &err),
                 0, "%s", err.msg);
    const char *v1[] = {"q"};
    const char *v2[] = {"u"};
    cr_assert_eq(vx_metrics_histogram(f, v1, &h, &err), 0);
    cr_assert_eq(vx_metrics_histogram(f, v2, &h2, &err), 0);
    /* 0.001 is inclusive (le), 5 and NaN go to +Inf only. */
    double obs[] = {0.0005, 0.001, 0.05, 0.05, 0.5, 5};
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++) {
        vx_histogram_observe(h, obs[i]);
    }
    vx_histogram_observe(h2, NAN);
    vx_histogram_observe(NULL, 1);
    cr_assert_eq(vx_histogram_count(h), 6);
    cr_assert_float_eq(vx_histogram_sum(h), 5.6015, 1e-12);

    char *text = render(m);
    cr_assert_str_eq(text, "# HELP lat_seconds Latency.\n"
                           "# TYPE lat_seconds histogram\n"
                           "lat_seconds_bucket{route=\"q\",le=\"0.001\"} 2\n"
                           "lat_seconds_bucket{route=\"q\",le=\"0.01\"} 2\n"
                           "lat_seconds_bucket{route=\"q\",le=\"0.1\"} 4\n"
                           "lat_seconds_bucket{route=\"q\",le=\"1\"} 5\n"
                           "lat_seconds_bucket{route=\"q\",le=\"+Inf\"} 6\n"
                           "lat_seconds_sum{route=\"q\"} 5.6015\n"
                           "lat_seconds_count{route=\"q\"} 6\n"
                           "lat_seconds_bucket{route=\"u\",le=\"0.001\"} 0\n"
                           "lat_seconds_bucket{route=\"u\",le=\"0.01\"} 0\n"
                           "lat_seconds_bucket{route=\"u\",le=\"0.1\"} 0\n"
                           "lat_seconds_bucket{route=\"u\",le=\"1\"} 0\n"
                           "lat_seconds_bucket{route=\"u\",le=\"+Inf\"} 1\n"
                           "lat_seconds_sum{route=\"u\"} NaN\n"
                           "lat_seconds_count{route=\"u\"} 1\n");
    vx_free(text);
    vx_metrics_free(m);
}

Test(metrics, histogram_without_labels_or_bounds)
{
    vx_metrics *m;
    vx_metric_family *f;
    vx_histogram *h;

    cr_assert_eq(vx_metrics_new(&m, &err), 0);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_HISTOGRAM, "h", NULL, NULL, 0,
                                   NULL, 0, &f, &err),
                 0);
    cr_assert_eq(vx_metrics_histogram(f, NULL, &h, &err), 0);
    vx_histogram_observe(h, 2);
    char *text = render(m);
    cr_assert_str_eq(text, "# TYPE h histogram\n"
                           "h_bucket{le=\"+Inf\"} 1\n"
                           "h_sum 2\n"
                           "h_count 1\n");
    vx_free(text);
    vx_metrics_free(m);
}

Test(metrics, invalid_arguments)
{
    static const char *const ok1[] = {"a"};
    static const char *const dup[] = {"a", "a"};
    static const char *const le[] = {"le"};
    static const char *const reserved[] = {"__x"};
    static const char *const digit[] = {"1a"};
    static const double up[] = {1, 2};
    static const double down[] = {2, 1};
    static const double inf[] = {1, INFINITY};
    vx_metrics *m;
    vx_metric_family *f;

    cr_assert_eq(vx_metrics_new(&m, &err), 0);
    const char *bad_names[] = {"", "1abc", "a-b", "a b", "é", NULL};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        cr_assert_eq(vx_metrics_family(m, VX_METRIC_COUNTER, bad_names[i], "",
                                       NULL, 0, NULL, 0, &f, &err),
                     VECTRON_INVALID, "name %zu", i);
        cr_assert_null(f);
    }
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_COUNTER, "c", "", dup, 2, NULL,
                                   0, &f, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_COUNTER, "c", "", reserved, 1,
                                   NULL, 0, &f, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_COUNTER, "c", "", digit, 1,
                                   NULL, 0, &f, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_HISTOGRAM, "h", "", le, 1, up,
                                   2, &f, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_HISTOGRAM, "h", "", NULL, 0,
                                   down, 2, &f, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_HISTOGRAM, "h", "", NULL, 0,
                                   inf, 2, &f, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_GAUGE, "g", "", NULL, 0, up, 2,
                                   &f, &err),
                 VECTRON_INVALID, "bounds on a gauge");

    /* Same name, other shape: EXISTS. */
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_COUNTER, "c", "help", ok1, 1,
                                   NULL, 0, &f, &err),
                 0);
    vx_metric_family *g;
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_GAUGE, "c", "help", ok1, 1,
                                   NULL, 0, &g, &err),
                 VECTRON_EXISTS);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_COUNTER, "c", "other", ok1, 1,
                                   NULL, 0, &g, &err),
                 VECTRON_EXISTS);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_COUNTER, "c", "help", NULL, 0,
                                   NULL, 0, &g, &err),
                 VECTRON_EXISTS);

    /* Series of the wrong type, missing values. */
    vx_gauge *gg;
    vx_counter *cc;
    const char *nullv[] = {NULL};
    cr_assert_eq(vx_metrics_gauge(f, ok1, &gg, &err), VECTRON_INVALID);
    cr_assert_null(gg);
    cr_assert_eq(vx_metrics_counter(f, NULL, &cc, &err), VECTRON_INVALID);
    cr_assert_eq(vx_metrics_counter(f, nullv, &cc, &err), VECTRON_INVALID);
    vx_metrics_free(m);
}

static void collect(void *arg, vx_metrics_out *o)
{
    static const char *const names[] = {"shard", "bad-name"};
    const char *values[] = {"s\"1", "x"};
    int *calls = arg;

    (*calls)++;
    cr_assert_eq(vx_metrics_out_family(o, VX_METRIC_GAUGE, "dyn_points",
                                       "Points, computed at scrape."),
                 0);
    cr_assert_eq(vx_metrics_out_value(o, "dyn_points", names, values, 1, 12.5),
                 0);
    cr_assert_eq(vx_metrics_out_value(o, "dyn_points", NULL, NULL, 0, 3), 0);
    /* Rejected, and nothing is appended. */
    cr_assert_eq(vx_metrics_out_value(o, "dyn_points", names, values, 2, 1),
                 VECTRON_INVALID);
    cr_assert_eq(vx_metrics_out_value(o, "bad name", NULL, NULL, 0, 1),
                 VECTRON_INVALID);
    cr_assert_eq(vx_metrics_out_family(o, VX_METRIC_GAUGE, "", NULL),
                 VECTRON_INVALID);
}

Test(metrics, collectors_append_after_families)
{
    vx_metrics *m;
    vx_metric_family *f;
    int calls = 0;

    cr_assert_eq(vx_metrics_new(&m, &err), 0);
    cr_assert_eq(vx_metrics_add_collector(m, collect, &calls, &err), 0);
    cr_assert_eq(vx_metrics_add_collector(m, NULL, NULL, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_COUNTER, "static_total", "S.",
                                   NULL, 0, NULL, 0, &f, &err),
                 0);
    char *text = render(m);
    cr_assert_eq(calls, 1);
    cr_assert_str_eq(text, "# HELP static_total S.\n"
                           "# TYPE static_total counter\n"
                           "static_total 0\n"
                           "# HELP dyn_points Points, computed at scrape.\n"
                           "# TYPE dyn_points gauge\n"
                           "dyn_points{shard=\"s\\\"1\"} 12.5\n"
                           "dyn_points 3\n");
    vx_free(text);
    vx_metrics_free(m);
}

/* ---- concurrency ------------------------------------------------------- */

#define NTHREADS 4
#define NITERS 100000

struct worker {
    vx_metric_family *fc, *fg, *fh;
    int id;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    /* Every thread looks the same series up (find-or-create race) and one
     * of its own. */
    const char *shared[] = {"shared"};
    char own_name[16];
    snprintf(own_name, sizeof own_name, "t%d", w->id);
    const char *own[] = {own_name};
    vx_counter *c, *mine;
    vx_gauge *g;
    vx_histogram *h;

    cr_assert_eq(vx_metrics_counter(w->fc, shared, &c, NULL), 0);
    cr_assert_eq(vx_metrics_counter(w->fc, own, &mine, NULL), 0);
    cr_assert_eq(vx_metrics_gauge(w->fg, NULL, &g, NULL), 0);
    cr_assert_eq(vx_metrics_histogram(w->fh, NULL, &h, NULL), 0);
    for (int i = 0; i < NITERS; i++) {
        vx_counter_add(c, 1);
        vx_counter_add(mine, 2);
        vx_gauge_add(g, 1.0);
        vx_histogram_observe(h, (i % 3) ? 0.5 : 2.0);
    }
    return NULL;
}

Test(metrics, concurrent_updates_add_up)
{
    static const char *const labels[] = {"who"};
    static const double bounds[] = {1};
    vx_metrics *m;
    struct worker w[NTHREADS];
    pthread_t t[NTHREADS];
    vx_metric_family *fc, *fg, *fh;

    cr_assert_eq(vx_metrics_new(&m, &err), 0);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_COUNTER, "c_total", "", labels,
                                   1, NULL, 0, &fc, &err),
                 0);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_GAUGE, "g", "", NULL, 0, NULL,
                                   0, &fg, &err),
                 0);
    cr_assert_eq(vx_metrics_family(m, VX_METRIC_HISTOGRAM, "h", "", NULL, 0,
                                   bounds, 1, &fh, &err),
                 0);
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){fc, fg, fh, i};
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
    }
    /* Scrapes while the workers run must not disturb them. */
    for (int i = 0; i < 20; i++) {
        vx_free(render(m));
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
    }

    const char *shared[] = {"shared"};
    vx_counter *c;
    vx_gauge *g;
    vx_histogram *h;
    cr_assert_eq(vx_metrics_counter(fc, shared, &c, &err), 0);
    cr_assert_eq(vx_metrics_gauge(fg, NULL, &g, &err), 0);
    cr_assert_eq(vx_metrics_histogram(fh, NULL, &h, &err), 0);
    cr_assert_eq(vx_counter_value(c), (uint64_t)NTHREADS * NITERS);
    cr_assert_eq(vx_gauge_value(g), (double)NTHREADS * NITERS);
    cr_assert_eq(vx_histogram_count(h), (uint64_t)NTHREADS * NITERS);

    /* Per bucket: i % 3 == 0 observed 2.0 (+Inf only), others 0.5. */
    uint64_t big = (NITERS + 2) / 3, small = NITERS - big;
    char want[512];
    snprintf(want, sizeof want,
             "h_bucket{le=\"1\"} %llu\n"
             "h_bucket{le=\"+Inf\"} %llu\n"
             "h_sum %.15g\n"
             "h_count %llu\n",
             (unsigned long long)(NTHREADS * small),
             (unsigned long long)NTHREADS * NITERS,
             NTHREADS * (0.5 * (double)small + 2.0 * (double)big),
             (unsigned long long)NTHREADS * NITERS);
    char *text = render(m);
    cr_assert(strstr(text, want), "%s\nwant:\n%s", text, want);
    for (int i = 0; i < NTHREADS; i++) {
        char line[64];
        snprintf(line, sizeof line, "c_total{who=\"t%d\"} %d\n", i, 2 * NITERS);
        cr_assert(strstr(text, line), "%s", line);
    }
    vx_free(text);
    vx_metrics_free(m);
}

/* ---- allocation failures ----------------------------------------------- */

static int fail_at = -1; /* fail the fail_at-th allocation from now */
static int alloc_count;

static void *t_malloc(size_t n, void *arg)
{
    (void)arg;
    if (alloc_count++ == fail_at) {
        return NULL;
    }
    return malloc(n);
}

static void *t_realloc(void *p, size_t n, void *arg)
{
    (void)arg;
    if (alloc_count++ == fail_at) {
        return NULL;
    }
    return realloc(p, n);
}

static void t_free(void *p, void *arg)
{
    (void)arg;
    free(p);
}

/* Builds a registry with one of each type and renders it; returns the
 * first error. Everything is freed whatever happens. */
static int build_and_render(void)
{
    static const char *const labels[] = {"a", "b"};
    static const double bounds[] = {1, 2};
    const char *values[] = {"x", "y"};
    vx_metrics *m;
    vx_metric_family *f;
    vx_counter *c;
    vx_histogram *h;
    char *text;
    size_t len;
    int rc;

    rc = vx_metrics_new(&m, &err);
    if (rc) {
        return rc;
    }
    rc = vx_metrics_family(m, VX_METRIC_COUNTER, "c_total", "C.", labels, 2,
                           NULL, 0, &f, &err);
    if (!rc) {
        rc = vx_metrics_counter(f, values, &c, &err);
    }
    if (!rc) {
        rc = vx_metrics_family(m, VX_METRIC_HISTOGRAM, "h", "H.", labels, 2,
                               bounds, 2, &f, &err);
    }
    if (!rc) {
        rc = vx_metrics_histogram(f, values, &h, &err);
    }
    if (!rc) {
        rc = vx_metrics_family(m, VX_METRIC_GAUGE, "g", NULL, NULL, 0, NULL, 0,
                               &f, &err);
    }
    if (!rc) {
        rc = vx_metrics_render(m, &text, &len, &err);
        if (!rc) {
            vx_free(text);
        } else {
            cr_assert_null(text);
        }
    }
    vx_metrics_free(m);
    return rc;
}

Test(metrics, allocation_failures)
{
    vectron_alloc_hooks hooks = {t_malloc, t_realloc, t_free, NULL};
    int failures = 0;

    vectron_alloc_set_hooks(&hooks);
    for (fail_at = 0;; fail_at++) {
        alloc_count = 0;
        int rc = build_and_render();
        if (rc == 0) {
            break;
        }
        cr_assert_eq(rc, VECTRON_NOMEM, "fail_at %d: %s", fail_at, err.msg);
        failures++;
    }
    vectron_alloc_set_hooks(NULL);
    cr_assert_gt(failures, 10, "every allocation site was exercised");
}
