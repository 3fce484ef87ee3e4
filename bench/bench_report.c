/*
 * bench_report.c - turns the index benchmark's CSV (bench_index --out)
 * into the summary table, a target check, and per-data-set gnuplot input.
 *
 *   bench_report --csv bench/out/index.csv [--plot-dir bench/out]
 *                [--baseline hnswlib]
 *
 * For every (data set, library) it takes the build rows (the last one per
 * thread count) and the search rows of one build (the largest thread count
 * that has search rows), reduces the search points to their Pareto
 * frontier (no other point has both higher recall and higher QPS; for
 * vectron-int8 this merges the oversampling curves), and reads QPS at
 * recall 0.90 / 0.95 / 0.99 off the frontier by interpolating log(QPS)
 * linearly in recall. A target below the lowest recall measured prints
 * the QPS of that point with a '>' (a lower bound); one above the highest
 * prints n/a.
 *
 * With --plot-dir it writes index-<data>-<lib>.dat (recall, QPS, ef,
 * oversampling of the frontier) and index-<data>.gp, a gnuplot script
 * drawing index-<data>.png.
 *
 * Threading: single-threaded.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 20000
#define MAX_COLS 32
#define MAX_GROUPS 64
#define MAX_THREADS_SEEN 8

static const double targets[] = {0.90, 0.95, 0.99};
#define N_TARGETS 3

typedef struct point {
    double recall, qps;
    unsigned ef;
    double os;
    double util; /* CPU time / wall time of the measurement, NAN if unknown */
} point;

typedef struct build_row {
    int threads;
    double secs, pps, rss_mb, self_mb, theory_mb;
    double util; /* CPU time / (wall time x threads), NAN if unknown */
} build_row;

/* Below these CPU utilisations a measurement is flagged as contended. */
#define BUILD_UTIL_MIN 0.85
#define SEARCH_UTIL_MIN 0.90

typedef struct group {
    char data[32], lib[32];
    size_t n;
    build_row builds[MAX_THREADS_SEEN];
    int n_builds;
    point *points;
    int *point_threads;
    size_t n_points, cap_points;
    point *frontier;
    size_t n_frontier;
    double qps_at[N_TARGETS];
    int lower_bound[N_TARGETS];
    int search_contended; /* a measured search point had low utilisation */
} group;

static group groups[MAX_GROUPS];
static int n_groups;

static void die(const char *msg)
{
    fprintf(stderr, "bench_report: %s\n", msg);
    exit(1);
}

/* snprintf that treats truncation as fatal. */
__attribute__((format(printf, 3, 4))) static void format(char *buf, size_t len,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        die("name too long");
    }
}

static group *find_group(const char *data, const char *lib, int create)
{
    for (int i = 0; i < n_groups; i++) {
        if (strcmp(groups[i].data, data) == 0 &&
            strcmp(groups[i].lib, lib) == 0) {
            return &groups[i];
        }
    }
    if (!create) {
        return NULL;
    }
    if (n_groups == MAX_GROUPS) {
        die("too many (data set, library) pairs");
    }
    group *g = &groups[n_groups++];
    memset(g, 0, sizeof(*g));
    format(g->data, sizeof(g->data), "%s", data);
    format(g->lib, sizeof(g->lib), "%s", lib);
    return g;
}

/* Splits line in place at commas; returns the field count. */
static int split(char *line, char **f)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    f[n++] = line;
    for (char *p = line; *p != '\0' && n < MAX_COLS; p++) {
        if (*p == ',') {
            *p = '\0';
            f[n++] = p + 1;
        }
    }
    return n;
}

static int col_opt(char **hdr, int nh, const char *name)
{
    for (int i = 0; i < nh; i++) {
        if (strcmp(hdr[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

static int col(char **hdr, int nh, const char *name)
{
    int c = col_opt(hdr, nh, name);
    if (c < 0) {
        fprintf(stderr, "bench_report: CSV has no column %s\n", name);
        exit(1);
    }
    return c;
}

static void read_csv(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        die("cannot open the CSV");
    }
    char hline[1024], line[1024];
    char *hdr[MAX_COLS], *v[MAX_COLS];
    if (fgets(hline, sizeof(hline), f) == NULL) {
        die("empty CSV");
    }
    int nh = split(hline, hdr);
    int c_kind = col(hdr, nh, "kind"), c_data = col(hdr, nh, "dataset");
    int c_lib = col(hdr, nh, "lib"), c_n = col(hdr, nh, "n");
    int c_thr = col(hdr, nh, "threads"), c_bs = col(hdr, nh, "build_s");
    int c_pps = col(hdr, nh, "build_pps"), c_rss = col(hdr, nh, "rss_mb");
    int c_self = col(hdr, nh, "self_mb"), c_th = col(hdr, nh, "theory_mb");
    int c_ef = col(hdr, nh, "ef"), c_os = col(hdr, nh, "oversampling");
    int c_rec = col(hdr, nh, "recall"), c_qps = col(hdr, nh, "qps");
    int c_util = col_opt(hdr, nh, "cpu_util");
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "kind,", 5) == 0) {
            continue; /* a repeated header from another run */
        }
        int nv = split(line, v);
        if (nv != nh) {
            continue;
        }
        group *g = find_group(v[c_data], v[c_lib], 1);
        g->n = strtoull(v[c_n], NULL, 10);
        int threads = atoi(v[c_thr]);
        double util =
            c_util >= 0 && v[c_util][0] != '\0' ? atof(v[c_util]) : NAN;
        if (strcmp(v[c_kind], "build") == 0) {
            build_row b = {threads,
                           atof(v[c_bs]),
                           atof(v[c_pps]),
                           atof(v[c_rss]),
                           atof(v[c_self]),
                           atof(v[c_th]),
                           util};
            int j;
            for (j = 0; j < g->n_builds; j++) {
                if (g->builds[j].threads == threads) {
                    break;
                }
            }
            if (j == g->n_builds) {
                if (g->n_builds == MAX_THREADS_SEEN) {
                    continue;
                }
                g->n_builds++;
            }
            g->builds[j] = b;
        } else if (strcmp(v[c_kind], "search") == 0) {
            if (g->n_points == g->cap_points) {
                g->cap_points = g->cap_points ? 2 * g->cap_points : 64;
                g->points = realloc(g->points, sizeof(point) * g->cap_points);
                g->point_threads =
                    realloc(g->point_threads, sizeof(int) * g->cap_points);
                if (g->points == NULL || g->point_threads == NULL) {
                    die("out of memory");
                }
            }
            point p = {atof(v[c_rec]), atof(v[c_qps]), (unsigned)atoi(v[c_ef]),
                       atof(v[c_os]), util};
            g->point_threads[g->n_points] = threads;
            g->points[g->n_points++] = p;
        }
    }
    fclose(f);
}

static int by_recall_desc(const void *pa, const void *pb)
{
    const point *a = pa, *b = pb;
    if (a->recall != b->recall) {
        return a->recall > b->recall ? -1 : 1;
    }
    return (a->qps < b->qps) - (a->qps > b->qps);
}

/* QPS at recall r by interpolating log(QPS) linearly in recall between
 * the frontier points around r; NAN when r is outside the measured
 * range. */
static double qps_at_recall(const group *g, double r)
{
    const point *f = g->frontier;
    size_t nf = g->n_frontier;
    if (nf == 0 || r < f[0].recall || r > f[nf - 1].recall) {
        return NAN;
    }
    if (r == f[0].recall) {
        return f[0].qps;
    }
    for (size_t i = 0; i + 1 < nf; i++) {
        if (f[i].recall < r && r <= f[i + 1].recall) {
            double w = (r - f[i].recall) / (f[i + 1].recall - f[i].recall);
            return exp(log(f[i].qps) + w * (log(f[i + 1].qps) - log(f[i].qps)));
        }
    }
    return NAN;
}

/* True when the whole frontier lies above recall r. */
static int f_covers_above(const group *g, double r)
{
    return g->n_frontier > 0 && g->frontier[0].recall > r;
}

static void make_frontier(group *g)
{
    int use_threads = 0;
    for (size_t i = 0; i < g->n_points; i++) {
        if (g->point_threads[i] > use_threads) {
            use_threads = g->point_threads[i];
        }
    }
    point *tmp = malloc(sizeof(point) * (g->n_points + 1));
    g->frontier = malloc(sizeof(point) * (g->n_points + 1));
    if (tmp == NULL || g->frontier == NULL) {
        die("out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < g->n_points; i++) {
        if (g->point_threads[i] == use_threads) {
            tmp[m++] = g->points[i];
            g->search_contended |= g->points[i].util < SEARCH_UTIL_MIN;
        }
    }
    qsort(tmp, m, sizeof(point), by_recall_desc);
    double best = -1;
    size_t nf = 0;
    for (size_t i = 0; i < m; i++) {
        if (tmp[i].qps > best) {
            g->frontier[nf++] = tmp[i];
            best = tmp[i].qps;
        }
    }
    /* Ascending recall (and so descending QPS). */
    for (size_t i = 0; i < nf / 2; i++) {
        point t = g->frontier[i];
        g->frontier[i] = g->frontier[nf - 1 - i];
        g->frontier[nf - 1 - i] = t;
    }
    g->n_frontier = nf;
    free(tmp);

    for (int t = 0; t < N_TARGETS; t++) {
        g->qps_at[t] = qps_at_recall(g, targets[t]);
        g->lower_bound[t] = 0;
        if (isnan(g->qps_at[t]) && nf > 0 && f_covers_above(g, targets[t])) {
            g->qps_at[t] = g->frontier[0].qps;
            g->lower_bound[t] = 1;
        }
    }
}

static const build_row *build_with(const group *g, int threads)
{
    for (int i = 0; i < g->n_builds; i++) {
        if (g->builds[i].threads == threads) {
            return &g->builds[i];
        }
    }
    return NULL;
}

static void fmt_num(char *buf, size_t len, double v, int lower, int contended)
{
    if (isnan(v)) {
        snprintf(buf, len, "n/a");
    } else {
        snprintf(buf, len, "%s%.0f%s", lower ? ">" : "", v,
                 contended ? "!" : "");
    }
}

static void fmt_ratio(char *buf, size_t len, double a, double b, int lower)
{
    if (isnan(a) || isnan(b) || b <= 0) {
        snprintf(buf, len, "n/a");
    } else {
        snprintf(buf, len, "%s%.2f", lower ? "~" : "", a / b);
    }
}

static void print_table(const char *baseline)
{
    printf("\n%-8s %-13s %8s %8s %9s %7s %8s %9s %6s %9s %9s %9s  %s\n", "data",
           "library", "build1t", "build2t", "2t pts/s", "2t/base", "RSS MB",
           "theory MB", "ratio", "QPS@.90", "QPS@.95", "QPS@.99",
           "QPS / baseline @.90 .95 .99");
    for (int gi = 0; gi < n_groups; gi++) {
        const group *g = &groups[gi];
        const group *b = find_group(g->data, baseline, 0);
        const build_row *b1 = build_with(g, 1), *b2 = build_with(g, 2);
        const build_row *bb2 = b ? build_with(b, 2) : NULL;
        const build_row *mem = b1 ? b1 : (g->n_builds ? &g->builds[0] : NULL);
        char s1[32] = "n/a", s2[32] = "n/a", pps[32] = "n/a", rel[32] = "n/a";
        char rss[32] = "n/a", th[32] = "n/a", ratio[32] = "n/a";
        if (b1) {
            snprintf(s1, sizeof(s1), "%.1f%s", b1->secs,
                     b1->util < BUILD_UTIL_MIN ? "!" : "");
        }
        if (b2) {
            snprintf(s2, sizeof(s2), "%.1f%s", b2->secs,
                     b2->util < BUILD_UTIL_MIN ? "!" : "");
            snprintf(pps, sizeof(pps), "%.0f", b2->pps);
            if (bb2) {
                fmt_ratio(rel, sizeof(rel), b2->pps, bb2->pps, 0);
            }
        }
        if (mem) {
            snprintf(rss, sizeof(rss), "%.1f", mem->rss_mb);
            snprintf(th, sizeof(th), "%.1f", mem->theory_mb);
            fmt_ratio(ratio, sizeof(ratio), mem->rss_mb, mem->theory_mb, 0);
        }
        char q[N_TARGETS][32], r[N_TARGETS][32];
        for (int t = 0; t < N_TARGETS; t++) {
            fmt_num(q[t], sizeof(q[t]), g->qps_at[t], g->lower_bound[t],
                    g->search_contended);
            if (b != NULL) {
                fmt_ratio(r[t], sizeof(r[t]), g->qps_at[t], b->qps_at[t],
                          g->lower_bound[t] || b->lower_bound[t]);
            } else {
                snprintf(r[t], sizeof(r[t]), "n/a");
            }
        }
        printf("%-8s %-13s %8s %8s %9s %7s %8s %9s %6s %9s %9s %9s  %s %s "
               "%s\n",
               g->data, g->lib, s1, s2, pps, rel, rss, th, ratio, q[0], q[1],
               q[2], r[0], r[1], r[2]);
    }
    printf("\nbuild1t/build2t: build seconds with 1/2 threads; 2t/base: "
           "2-thread build throughput relative to %s;\n"
           "RSS MB: RSS growth across the 1-thread build (else the 2-thread "
           "one); theory MB: n*(dim*4 + 2*M*4);\n"
           "QPS: one thread, one query at a time, k=10, interpolated on the "
           "recall/QPS frontier\n"
           "('>' lower bound: the sweep started above that recall; '~' ratio "
           "involving a lower bound).\n"
           "'!': measured while the process got less CPU than it could use "
           "(build below %.0f%%, a search point\n"
           "below %.0f%% of its threads' time): another process competed; "
           "rerun on an idle machine.\n",
           baseline, 100 * BUILD_UTIL_MIN, 100 * SEARCH_UTIL_MIN);
}

/* Prints one target line. bound: 0 = value is exact; 1 = value is a lower
 * bound (met if it already reaches a ">=" target, else undetermined); 2 =
 * undetermined (both sides are lower bounds). */
static void check(const char *what, double value, double want, int ok_if_ge,
                  int bound, int contended)
{
    const char *verdict;
    if (isnan(value) || bound == 2) {
        verdict = "undetermined (recall range not covered)";
    } else if (ok_if_ge ? value >= want : value <= want) {
        verdict = "met";
    } else if (bound == 1) {
        verdict = "undetermined (value is a lower bound)";
    } else {
        verdict = "MISSED";
    }
    printf("  %-48s %s%7.2f  (target %s %.2f)  %s%s\n", what,
           bound == 1 ? ">=" : "  ", value, ok_if_ge ? ">=" : "<=", want,
           verdict, contended ? " ! (contended measurement: rerun)" : "");
}

static void print_targets(const char *baseline)
{
    printf("\nTargets (issue text; 0.95 = recall@10, one thread):\n");
    for (int gi = 0; gi < n_groups; gi++) {
        const group *g = &groups[gi];
        const group *b = find_group(g->data, baseline, 0);
        char what[128];
        if (b == NULL || b == g) {
            continue;
        }
        if (strcmp(g->lib, "vectron") == 0 ||
            strcmp(g->lib, "vectron-int8") == 0) {
            int int8 = strcmp(g->lib, "vectron-int8") == 0;
            double ratio = b->qps_at[1] > 0 ? g->qps_at[1] / b->qps_at[1] : NAN;
            format(what, sizeof(what), "%s %s QPS@.95 / %s", g->data, g->lib,
                   baseline);
            int bound = b->lower_bound[1] ? 2 : g->lower_bound[1];
            int busy = g->search_contended || b->search_contended;
            check(what, ratio, int8 ? 2.0 : 1.3, 1, bound, busy);
            if (bound != 0 && g->n_frontier > 0 && b->n_frontier > 0) {
                /* The sweep cannot go below 0.95 (ef >= k): compare at the
                 * lowest recall both curves reach instead. */
                double r = g->frontier[0].recall > b->frontier[0].recall
                               ? g->frontier[0].recall
                               : b->frontier[0].recall;
                format(what, sizeof(what), "%s %s QPS@%.4f / %s", g->data,
                       g->lib, r, baseline);
                check(what, qps_at_recall(g, r) / qps_at_recall(b, r),
                      int8 ? 2.0 : 1.3, 1, 0, busy);
            }
            const build_row *g2 = build_with(g, 2), *b2 = build_with(b, 2);
            if (g2 && b2 && b2->pps > 0) {
                format(what, sizeof(what), "%s %s 2t build pts/s / %s", g->data,
                       g->lib, baseline);
                check(what, g2->pps / b2->pps, 1.0, 1, 0,
                      g2->util < BUILD_UTIL_MIN || b2->util < BUILD_UTIL_MIN);
            }
            const build_row *m1 = build_with(g, 1);
            if (!int8 && m1 && m1->theory_mb > 0) {
                format(what, sizeof(what), "%s %s RSS / (vectors+links)",
                       g->data, g->lib);
                check(what, m1->rss_mb / m1->theory_mb, 1.1, 0, 0, 0);
            }
        }
    }
}

static void write_plots(const char *dir)
{
    char path[4096];
    for (int gi = 0; gi < n_groups; gi++) {
        const group *g = &groups[gi];
        format(path, sizeof(path), "%s/index-%s-%s.dat", dir, g->data, g->lib);
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            die("cannot write a plot data file");
        }
        fprintf(f, "# recall@10 qps ef oversampling (Pareto frontier)\n");
        for (size_t i = 0; i < g->n_frontier; i++) {
            const point *p = &g->frontier[i];
            fprintf(f, "%.5f %.1f %u %.2f\n", p->recall, p->qps, p->ef, p->os);
        }
        fclose(f);
    }
    for (int gi = 0; gi < n_groups; gi++) {
        const group *g = &groups[gi];
        int first = 1;
        for (int j = 0; j < gi; j++) {
            first &= strcmp(groups[j].data, g->data) != 0;
        }
        if (!first) {
            continue;
        }
        format(path, sizeof(path), "%s/index-%s.gp", dir, g->data);
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            die("cannot write a gnuplot script");
        }
        fprintf(f,
                "set terminal pngcairo size 900,600 noenhanced\n"
                "set output '%s/index-%s.png'\n"
                "set title '%s: recall@10 vs QPS (1 thread, k=10, n=%zu)'\n"
                "set xlabel 'recall@10'\nset ylabel 'queries per second'\n"
                "set logscale y\nset grid\nset key bottom left\n"
                "plot ",
                dir, g->data, g->data, g->n);
        int k = 0;
        for (int j = gi; j < n_groups; j++) {
            if (strcmp(groups[j].data, g->data) != 0 ||
                groups[j].n_frontier == 0) {
                continue;
            }
            fprintf(f,
                    "%s'%s/index-%s-%s.dat' using 1:2 with linespoints "
                    "title '%s'",
                    k++ ? ", \\\n     " : "", dir, g->data, groups[j].lib,
                    groups[j].lib);
        }
        fprintf(f, "\n");
        fclose(f);
    }
}

int main(int argc, char **argv)
{
    const char *csv = NULL, *plot_dir = NULL, *baseline = "hnswlib";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--csv") == 0) {
            csv = argv[i + 1];
        } else if (strcmp(argv[i], "--plot-dir") == 0) {
            plot_dir = argv[i + 1];
        } else if (strcmp(argv[i], "--baseline") == 0) {
            baseline = argv[i + 1];
        } else {
            csv = NULL;
            break;
        }
    }
    if (csv == NULL) {
        fprintf(stderr, "usage: bench_report --csv FILE [--plot-dir DIR] "
                        "[--baseline LIB]\n");
        return 2;
    }
    read_csv(csv);
    for (int i = 0; i < n_groups; i++) {
        make_frontier(&groups[i]);
    }
    print_table(baseline);
    print_targets(baseline);
    if (plot_dir != NULL) {
        write_plots(plot_dir);
    }
    for (int i = 0; i < n_groups; i++) {
        free(groups[i].points);
        free(groups[i].point_threads);
        free(groups[i].frontier);
    }
    return 0;
}
