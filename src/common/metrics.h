/*
 * metrics.h - a registry of counters, gauges and histograms with label
 * sets, rendered in the Prometheus text exposition format 0.0.4.
 *
 * Model. A registry (vx_metrics) holds metric families; a family has a
 * name, a help text, a type and a fixed list of label names (histograms
 * also a fixed list of bucket bounds). A family holds one series per
 * distinct tuple of label values: a vx_counter, vx_gauge or vx_histogram.
 * Look a series up once (that takes the registry's lock), keep the
 * handle, and update it on the hot path (relaxed atomics, no lock, no
 * allocation). Families and series live until vx_metrics_free; there is
 * no way to remove one.
 *
 * Values that are cheaper to compute when scraped than to keep up to date
 * (sizes of things, queue depths) come from collectors: callbacks that
 * vx_metrics_render calls, which append families and samples through the
 * vx_metrics_out functions.
 *
 * Output. Families appear in registration order, series in creation
 * order, collectors' output after all registered families, in the order
 * the collectors were added. Label values and help texts are escaped as
 * the format requires (backslash, double quote, newline). Counters print
 * as unsigned integers; other values as the shortest of %.15g / %.17g
 * that reads back exactly, or NaN, +Inf, -Inf (the C locale's decimal
 * point is assumed: Vectron never calls setlocale). A histogram prints a
 * cumulative _bucket line per bound plus le="+Inf", then _sum and _count;
 * _count always equals the +Inf bucket, even while observations race with
 * the scrape (a scrape may see an observation in the buckets but not yet
 * in _sum).
 *
 * Names. Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* and must not start with "__"; histograms may not
 * use the label "le". Label values may hold any bytes but NUL.
 *
 * Errors: every function that can fail returns 0 or a vectron_error_code
 * (INVALID for bad names or arguments, EXISTS for a family registered
 * again with a different shape, NOMEM) and fills err when not NULL.
 *
 * Threading: every function is thread-safe. Registration, series lookup,
 * collector registration and rendering serialise on the registry's mutex;
 * updates through series handles never lock. Collectors run on the
 * rendering thread without the registry's lock held, so they may look up
 * series, but two renders may run their collectors concurrently.
 * vx_metrics_free requires that no other call on the registry or its
 * handles is in flight.
 */
#ifndef VECTRON_METRICS_H
#define VECTRON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "vectron/error.h"

typedef struct vx_metrics vx_metrics;
typedef struct vx_metric_family vx_metric_family;
typedef struct vx_counter vx_counter;
typedef struct vx_gauge vx_gauge;
typedef struct vx_histogram vx_histogram;
typedef struct vx_metrics_out vx_metrics_out;

typedef enum vx_metric_type {
    VX_METRIC_COUNTER = 0,
    VX_METRIC_GAUGE = 1,
    VX_METRIC_HISTOGRAM = 2
} vx_metric_type;

/* Most label names per family and bucket bounds per histogram. */
#define VX_METRICS_MAX_LABELS 8u
#define VX_METRICS_MAX_BUCKETS 64u

/* ---- registry ---------------------------------------------------------- */

/* Creates an empty registry in *out (free with vx_metrics_free). Errors:
 * NOMEM (then *out is NULL). */
int vx_metrics_new(vx_metrics **out, vectron_error *err);

/* Frees the registry, its families and series; every handle obtained from
 * it becomes invalid. NULL is a no-op. */
void vx_metrics_free(vx_metrics *m);

/* Registers a family, or finds the one already registered under name.
 * label_names: nlabels borrowed strings (NULL when nlabels is 0). bounds:
 * for histograms, nbounds finite, strictly increasing upper bounds (the
 * +Inf bucket is implicit; nbounds may be 0); must be NULL / 0 for other
 * types. name, help and the label names are copied. A family without
 * labels gets its one series at once, so it renders as 0 before the first
 * update. *out stays valid until vx_metrics_free. Errors: INVALID (a bad
 * name, too many labels or bounds, bounds not increasing), EXISTS (name
 * already registered with another type, help, label list or bounds),
 * NOMEM. */
int vx_metrics_family(vx_metrics *m, vx_metric_type type, const char *name,
                      const char *help, const char *const *label_names,
                      size_t nlabels, const double *bounds, size_t nbounds,
                      vx_metric_family **out, vectron_error *err);

/* Find-or-create the series of family f for label_values (as many
 * borrowed strings as f has labels, in the order of its label names;
 * copied; NULL when it has none). The family must be of the matching
 * type, else INVALID. The handle stays valid until vx_metrics_free.
 * Lookups scan the family's series: keep the handle rather than looking
 * it up per update. Errors: INVALID, NOMEM. */
int vx_metrics_counter(vx_metric_family *f, const char *const *label_values,
                       vx_counter **out, vectron_error *err);
int vx_metrics_gauge(vx_metric_family *f, const char *const *label_values,
                     vx_gauge **out, vectron_error *err);
int vx_metrics_histogram(vx_metric_family *f, const char *const *label_values,
                         vx_histogram **out, vectron_error *err);

/* ---- updates (lock-free; a NULL handle is a no-op / reads 0) ----------- */

void vx_counter_add(vx_counter *c, uint64_t n);
uint64_t vx_counter_value(const vx_counter *c);

void vx_gauge_set(vx_gauge *g, double v);
void vx_gauge_add(vx_gauge *g, double delta);
double vx_gauge_value(const vx_gauge *g);

/* Counts v in the first bucket whose bound is >= v (the +Inf bucket if
 * none; NaN too) and adds v to the sum. */
void vx_histogram_observe(vx_histogram *h, double v);
uint64_t vx_histogram_count(const vx_histogram *h);
double vx_histogram_sum(const vx_histogram *h);

/* ---- collectors -------------------------------------------------------- */

/* Called by vx_metrics_render with the output being built; appends
 * families and samples with vx_metrics_out_family / vx_metrics_out_value.
 * Runs on the rendering thread, possibly concurrently with itself from
 * another render. */
typedef void (*vx_metrics_collect_fn)(void *arg, vx_metrics_out *out);

/* Adds a collector; arg is passed to fn as is and must stay valid until
 * vx_metrics_free. Collectors cannot be removed. Errors: NOMEM. */
int vx_metrics_add_collector(vx_metrics *m, vx_metrics_collect_fn fn, void *arg,
                             vectron_error *err);

/* Appends the "# HELP" and "# TYPE" lines of a family (help may be NULL:
 * no HELP line). Call once per family, before its samples; a family name
 * already registered in the registry must not be reused (the output
 * would hold it twice). Returns 0, INVALID (bad name: nothing appended) or
 * NOMEM (sticky: vx_metrics_render then fails). */
int vx_metrics_out_family(vx_metrics_out *o, vx_metric_type type,
                          const char *name, const char *help);

/* Appends one sample line: name{label_names[i]="label_values[i]",...}
 * value. For a histogram the caller writes the _bucket, _sum and _count
 * lines itself. Returns 0, INVALID (bad name or label name: nothing
 * appended) or NOMEM (sticky). */
int vx_metrics_out_value(vx_metrics_out *o, const char *name,
                         const char *const *label_names,
                         const char *const *label_values, size_t nlabels,
                         double value);

/* ---- rendering --------------------------------------------------------- */

/* Renders every family and then runs every collector. *out (free with
 * vx_free) holds *out_len bytes of text plus a terminating NUL; serve it
 * with Content-Type VX_METRICS_CONTENT_TYPE. Errors: NOMEM (then *out is
 * NULL). */
int vx_metrics_render(vx_metrics *m, char **out, size_t *out_len,
                      vectron_error *err);

#define VX_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
