/*
 * metrics.c - the metrics registry (metrics.h): families and series in
 * append-only linked lists, values in atomics, text rendering in the
 * Prometheus exposition format 0.0.4.
 *
 * Threading: the registry's mutex guards the family list, every family's
 * series list and the collector list; nodes are appended under it and
 * never unlinked before vx_metrics_free, so a node reached once stays
 * valid. Series values are only touched through relaxed atomics: counters
 * and histogram buckets with fetch_add, gauges and histogram sums (doubles
 * kept as their bit patterns in a uint64) with compare-and-swap loops.
 * Collectors are called after the mutex is released: the collector count
 * is read under it and that many nodes are walked without it.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/metrics.h"

/* A series. vx_counter, vx_gauge and vx_histogram are never defined:
 * handles are pointers to this struct converted to those types. */
struct series {
    struct series *next;
    const struct vx_metric_family *family;     /* bucket bounds */
    char *strings;                             /* backing of values */
    const char *values[VX_METRICS_MAX_LABELS]; /* label values */
    _Atomic uint64_t value;    /* counter: count; gauge: double bits */
    _Atomic uint64_t sum_bits; /* histogram: sum as double bits */
    _Atomic uint64_t *buckets; /* histogram: nbounds + 1, not cumulative */
};

struct vx_metric_family {
    struct vx_metric_family *next;
    vx_metrics *reg;
    vx_metric_type type;
    char *name;
    char *help; /* "" when none */
    size_t nlabels;
    char *label_names[VX_METRICS_MAX_LABELS];
    size_t nbounds;
    double bounds[VX_METRICS_MAX_BUCKETS];
    struct series *first, *last;
};

struct collector {
    struct collector *next;
    vx_metrics_collect_fn fn;
    void *arg;
};

struct vx_metrics {
    pthread_mutex_t lock;
    vx_metric_family *first, *last;
    struct collector *cfirst, *clast;
    size_t ncollectors;
};

struct vx_metrics_out {
    char *p;
    size_t len, cap;
    int nomem;
};

static const char *const type_names[] = {"counter", "gauge", "histogram"};

/* ---- helpers ----------------------------------------------------------- */

static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *a, double delta)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        a, &old, d2u(u2d(old) + delta), memory_order_relaxed,
        memory_order_relaxed)) {
    }
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = vx_malloc(n);
    if (p) {
        memcpy(p, s, n);
    }
    return p;
}

static int is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int valid_metric_name(const char *s)
{
    if (!s || !(is_alpha_(s[0]) || s[0] == ':')) {
        return 0;
    }
    for (s++; *s; s++) {
        if (!is_alpha_(*s) && !is_digit(*s) && *s != ':') {
            return 0;
        }
    }
    return 1;
}

static int valid_label_name(const char *s)
{
    if (!s || !is_alpha_(s[0]) || (s[0] == '_' && s[1] == '_')) {
        return 0;
    }
    for (s++; *s; s++) {
        if (!is_alpha_(*s) && !is_digit(*s)) {
            return 0;
        }
    }
    return 1;
}

/* Prometheus float text: NaN, +Inf, -Inf or the shortest of %.15g and
 * %.17g that reads back as v. */
static void fmt_double(char *buf, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(buf, size, "%.15g", v);
        if (strtod(buf, NULL) != v) {
            snprintf(buf, size, "%.17g", v);
        }
    }
}

/* ---- output buffer ----------------------------------------------------- */

static void out_put(vx_metrics_out *o, const char *s, size_t n)
{
    if (o->nomem) {
        return;
    }
    if (o->cap - o->len < n + 1) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap - o->len < n + 1) {
            cap *= 2;
        }
        char *p = vx_realloc(o->p, cap);
        if (!p) {
            o->nomem = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void out_str(vx_metrics_out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

/* Appends s escaped: backslash and newline always, double quote when
 * quote is set (label values; HELP text leaves quotes alone). */
static void out_escaped(vx_metrics_out *o, const char *s, int quote)
{
    const char *run = s;

    for (; *s; s++) {
        const char *rep = NULL;
        if (*s == '\\') {
            rep = "\\\\";
        } else if (*s == '\n') {
            rep = "\\n";
        } else if (*s == '"' && quote) {
            rep = "\\\"";
        }
        if (rep) {
            out_put(o, run, (size_t)(s - run));
            out_str(o, rep);
            run = s + 1;
        }
    }
    out_put(o, run, (size_t)(s - run));
}

static void out_header(vx_metrics_out *o, vx_metric_type type, const char *name,
                       const char *help)
{
    if (help && help[0]) {
        out_str(o, "# HELP ");
        out_str(o, name);
        out_str(o, " ");
        out_escaped(o, help, 0);
        out_str(o, "\n");
    }
    out_str(o, "# TYPE ");
    out_str(o, name);
    out_str(o, " ");
    out_str(o, type_names[type]);
    out_str(o, "\n");
}

/* name suffix {names[i]="values[i]",..., le="le"} value_text\n; the
 * braces are omitted when there is no label at all. */
static void out_line(vx_metrics_out *o, const char *name, const char *suffix,
                     const char *const *names, const char *const *values,
                     size_t n, const char *le, const char *value_text)
{
    out_str(o, name);
    out_str(o, suffix);
    if (n > 0 || le) {
        out_str(o, "{");
        for (size_t i = 0; i < n; i++) {
            if (i > 0) {
                out_str(o, ",");
            }
            out_str(o, names[i]);
            out_str(o, "=\"");
            out_escaped(o, values[i], 1);
            out_str(o, "\"");
        }
        if (le) {
            out_str(o, n > 0 ? ",le=\"" : "le=\"");
            out_str(o, le);
            out_str(o, "\"");
        }
        out_str(o, "}");
    }
    out_str(o, " ");
    out_str(o, value_text);
    out_str(o, "\n");
}

/* ---- registry ---------------------------------------------------------- */

int vx_metrics_new(vx_metrics **out, vectron_error *err)
{
    vx_metrics *m = vx_calloc(1, sizeof *m);

    *out = NULL;
    if (!m) {
        return vx_err(err, VECTRON_NOMEM, "metrics: out of memory");
    }
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        vx_free(m);
        return vx_err(err, VECTRON_NOMEM, "metrics: cannot create mutex");
    }
    *out = m;
    return 0;
}

static void series_free(struct series *s)
{
    vx_free(s->buckets);
    vx_free(s->strings);
    vx_free(s);
}

static void family_free(vx_metric_family *f)
{
    struct series *s = f->first;
    while (s) {
        struct series *next = s->next;
        series_free(s);
        s = next;
    }
    for (size_t i = 0; i < f->nlabels; i++) {
        vx_free(f->label_names[i]);
    }
    vx_free(f->help);
    vx_free(f->name);
    vx_free(f);
}

void vx_metrics_free(vx_metrics *m)
{
    if (!m) {
        return;
    }
    vx_metric_family *f = m->first;
    while (f) {
        vx_metric_family *next = f->next;
        family_free(f);
        f = next;
    }
    struct collector *c = m->cfirst;
    while (c) {
        struct collector *next = c->next;
        vx_free(c);
        c = next;
    }
    pthread_mutex_destroy(&m->lock);
    vx_free(m);
}

/* Creates the series of f for values (not yet linked). */
static struct series *series_new(const vx_metric_family *f,
                                 const char *const *values)
{
    struct series *s = vx_calloc(1, sizeof *s);
    size_t total = 0;

    if (!s) {
        return NULL;
    }
    s->family = f;
    for (size_t i = 0; i < f->nlabels; i++) {
        total += strlen(values[i]) + 1;
    }
    s->strings = vx_malloc(total);
    if (!s->strings) {
        goto fail;
    }
    char *p = s->strings;
    for (size_t i = 0; i < f->nlabels; i++) {
        size_t n = strlen(values[i]) + 1;
        memcpy(p, values[i], n);
        s->values[i] = p;
        p += n;
    }
    atomic_init(&s->value, f->type == VX_METRIC_GAUGE ? d2u(0.0) : 0);
    atomic_init(&s->sum_bits, d2u(0.0));
    if (f->type == VX_METRIC_HISTOGRAM) {
        s->buckets = vx_malloc((f->nbounds + 1) * sizeof *s->buckets);
        if (!s->buckets) {
            goto fail;
        }
        for (size_t i = 0; i <= f->nbounds; i++) {
            atomic_init(&s->buckets[i], 0);
        }
    }
    return s;
fail:
    series_free(s);
    return NULL;
}

/* Returns 1 if f has exactly this shape. */
static int family_same(const vx_metric_family *f, vx_metric_type type,
                       const char *help, const char *const *label_names,
                       size_t nlabels, const double *bounds, size_t nbounds)
{
    if (f->type != type || strcmp(f->help, help ? help : "") != 0 ||
        f->nlabels != nlabels || f->nbounds != nbounds) {
        return 0;
    }
    for (size_t i = 0; i < nlabels; i++) {
        if (strcmp(f->label_names[i], label_names[i]) != 0) {
            return 0;
        }
    }
    for (size_t i = 0; i < nbounds; i++) {
        if (f->bounds[i] != bounds[i]) {
            return 0;
        }
    }
    return 1;
}

static int check_family_args(vx_metric_type type, const char *name,
                             const char *const *label_names, size_t nlabels,
                             const double *bounds, size_t nbounds,
                             vectron_error *err)
{
    if ((unsigned)type > VX_METRIC_HISTOGRAM) {
        return vx_err(err, VECTRON_INVALID, "metrics: unknown type %d",
                      (int)type);
    }
    if (!valid_metric_name(name)) {
        return vx_err(err, VECTRON_INVALID, "metrics: invalid metric name");
    }
    if (nlabels > VX_METRICS_MAX_LABELS || (nlabels > 0 && !label_names)) {
        return vx_err(err, VECTRON_INVALID, "metrics: %s: bad label list",
                      name);
    }
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_label_name(label_names[i]) ||
            (type == VX_METRIC_HISTOGRAM &&
             strcmp(label_names[i], "le") == 0)) {
            return vx_err(err, VECTRON_INVALID,
                          "metrics: %s: invalid label name %zu", name, i);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(label_names[i], label_names[j]) == 0) {
                return vx_err(err, VECTRON_INVALID,
                              "metrics: %s: duplicate label %s", name,
                              label_names[i]);
            }
        }
    }
    if (type != VX_METRIC_HISTOGRAM) {
        if (bounds || nbounds) {
            return vx_err(err, VECTRON_INVALID,
                          "metrics: %s: bounds given for a %s", name,
                          type_names[type]);
        }
        return 0;
    }
    if (nbounds > VX_METRICS_MAX_BUCKETS || (nbounds > 0 && !bounds)) {
        return vx_err(err, VECTRON_INVALID, "metrics: %s: bad bucket list",
                      name);
    }
    for (size_t i = 0; i < nbounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
            return vx_err(err, VECTRON_INVALID,
                          "metrics: %s: bucket bounds must be finite and "
                          "strictly increasing",
                          name);
        }
    }
    return 0;
}

int vx_metrics_family(vx_metrics *m, vx_metric_type type, const char *name,
                      const char *help, const char *const *label_names,
                      size_t nlabels, const double *bounds, size_t nbounds,
                      vx_metric_family **out, vectron_error *err)
{
    vx_metric_family *f = NULL;
    int rc;

    *out = NULL;
    rc = check_family_args(type, name, label_names, nlabels, bounds, nbounds,
                           err);
    if (rc) {
        return rc;
    }
    pthread_mutex_lock(&m->lock);
    for (vx_metric_family *g = m->first; g; g = g->next) {
        if (strcmp(g->name, name) == 0) {
            if (!family_same(g, type, help, label_names, nlabels, bounds,
                             nbounds)) {
                rc = vx_err(err, VECTRON_EXISTS,
                            "metrics: %s: already registered with another "
                            "type, help, labels or buckets",
                            name);
            } else {
                *out = g;
            }
            goto out;
        }
    }
    f = vx_calloc(1, sizeof *f);
    if (!f) {
        goto nomem;
    }
    f->reg = m;
    f->type = type;
    f->name = dup_str(name);
    f->help = dup_str(help ? help : "");
    if (!f->name || !f->help) {
        goto nomem;
    }
    for (size_t i = 0; i < nlabels; i++) {
        f->label_names[i] = dup_str(label_names[i]);
        if (!f->label_names[i]) {
            goto nomem;
        }
        f->nlabels = i + 1;
    }
    f->nbounds = nbounds;
    if (nbounds > 0) {
        memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
    }
    if (nlabels == 0) {
        f->first = f->last = series_new(f, NULL);
        if (!f->first) {
            goto nomem;
        }
    }
    if (m->last) {
        m->last->next = f;
    } else {
        m->first = f;
    }
    m->last = f;
    *out = f;
    f = NULL;
    goto out;
nomem:
    rc = vx_err(err, VECTRON_NOMEM, "metrics: %s: out of memory", name);
out:
    pthread_mutex_unlock(&m->lock);
    if (f) {
        family_free(f);
    }
    return rc;
}

/* Find-or-create the series of f for values, checking the type. */
static int lookup(vx_metric_family *f, vx_metric_type type,
                  const char *const *values, struct series **out,
                  vectron_error *err)
{
    struct series *s;
    int rc = 0;

    *out = NULL;
    if (f->type != type) {
        return vx_err(err, VECTRON_INVALID, "metrics: %s is a %s, not a %s",
                      f->name, type_names[f->type], type_names[type]);
    }
    if (f->nlabels > 0 && !values) {
        return vx_err(err, VECTRON_INVALID, "metrics: %s: label values missing",
                      f->name);
    }
    for (size_t i = 0; i < f->nlabels; i++) {
        if (!values[i]) {
            return vx_err(err, VECTRON_INVALID,
                          "metrics: %s: label value %s is NULL", f->name,
                          f->label_names[i]);
        }
    }
    pthread_mutex_lock(&f->reg->lock);
    for (s = f->first; s; s = s->next) {
        size_t i = 0;
        while (i < f->nlabels && strcmp(s->values[i], values[i]) == 0) {
            i++;
        }
        if (i == f->nlabels) {
            *out = s;
            goto out;
        }
    }
    s = series_new(f, values);
    if (!s) {
        rc = vx_err(err, VECTRON_NOMEM, "metrics: %s: out of memory", f->name);
        goto out;
    }
    if (f->last) {
        f->last->next = s;
    } else {
        f->first = s;
    }
    f->last = s;
    *out = s;
out:
    pthread_mutex_unlock(&f->reg->lock);
    return rc;
}

int vx_metrics_counter(vx_metric_family *f, const char *const *label_values,
                       vx_counter **out, vectron_error *err)
{
    struct series *s;
    int rc = lookup(f, VX_METRIC_COUNTER, label_values, &s, err);
    *out = (vx_counter *)s;
    return rc;
}

int vx_metrics_gauge(vx_metric_family *f, const char *const *label_values,
                     vx_gauge **out, vectron_error *err)
{
    struct series *s;
    int rc = lookup(f, VX_METRIC_GAUGE, label_values, &s, err);
    *out = (vx_gauge *)s;
    return rc;
}

int vx_metrics_histogram(vx_metric_family *f, const char *const *label_values,
                         vx_histogram **out, vectron_error *err)
{
    struct series *s;
    int rc = lookup(f, VX_METRIC_HISTOGRAM, label_values, &s, err);
    *out = (vx_histogram *)s;
    return rc;
}

/* ---- updates ----------------------------------------------------------- */

void vx_counter_add(vx_counter *c, uint64_t n)
{
    if (c) {
        atomic_fetch_add_explicit(&((struct series *)c)->value, n,
                                  memory_order_relaxed);
    }
}

uint64_t vx_counter_value(const vx_counter *c)
{
    if (!c) {
        return 0;
    }
    return atomic_load_explicit(&((struct series *)c)->value,
                                memory_order_relaxed);
}

void vx_gauge_set(vx_gauge *g, double v)
{
    if (g) {
        atomic_store_explicit(&((struct series *)g)->value, d2u(v),
                              memory_order_relaxed);
    }
}

void vx_gauge_add(vx_gauge *g, double delta)
{
    if (g) {
        atomic_add_double(&((struct series *)g)->value, delta);
    }
}

double vx_gauge_value(const vx_gauge *g)
{
    if (!g) {
        return 0.0;
    }
    return u2d(atomic_load_explicit(&((struct series *)g)->value,
                                    memory_order_relaxed));
}

void vx_histogram_observe(vx_histogram *h, double v)
{
    struct series *s = (struct series *)h;
    size_t i = 0;

    if (!s) {
        return;
    }
    /* NaN compares false everywhere and lands in +Inf. */
    while (i < s->family->nbounds && !(v <= s->family->bounds[i])) {
        i++;
    }
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&s->sum_bits, v);
}

uint64_t vx_histogram_count(const vx_histogram *h)
{
    struct series *s = (struct series *)h;
    uint64_t n = 0;

    if (!s) {
        return 0;
    }
    for (size_t i = 0; i <= s->family->nbounds; i++) {
        n += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
    }
    return n;
}

double vx_histogram_sum(const vx_histogram *h)
{
    if (!h) {
        return 0.0;
    }
    return u2d(atomic_load_explicit(&((struct series *)h)->sum_bits,
                                    memory_order_relaxed));
}

/* ---- collectors -------------------------------------------------------- */

int vx_metrics_add_collector(vx_metrics *m, vx_metrics_collect_fn fn, void *arg,
                             vectron_error *err)
{
    struct collector *c;

    if (!fn) {
        return vx_err(err, VECTRON_INVALID, "metrics: collector is NULL");
    }
    c = vx_calloc(1, sizeof *c);
    if (!c) {
        return vx_err(err, VECTRON_NOMEM, "metrics: out of memory");
    }
    c->fn = fn;
    c->arg = arg;
    pthread_mutex_lock(&m->lock);
    if (m->clast) {
        m->clast->next = c;
    } else {
        m->cfirst = c;
    }
    m->clast = c;
    m->ncollectors++;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

int vx_metrics_out_family(vx_metrics_out *o, vx_metric_type type,
                          const char *name, const char *help)
{
    if ((unsigned)type > VX_METRIC_HISTOGRAM || !valid_metric_name(name)) {
        return VECTRON_INVALID;
    }
    out_header(o, type, name, help);
    return o->nomem ? VECTRON_NOMEM : 0;
}

int vx_metrics_out_value(vx_metrics_out *o, const char *name,
                         const char *const *label_names,
                         const char *const *label_values, size_t nlabels,
                         double value)
{
    char num[40];

    if (!valid_metric_name(name) ||
        (nlabels > 0 && (!label_names || !label_values))) {
        return VECTRON_INVALID;
    }
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_label_name(label_names[i]) || !label_values[i]) {
            return VECTRON_INVALID;
        }
    }
    fmt_double(num, sizeof num, value);
    out_line(o, name, "", label_names, label_values, nlabels, NULL, num);
    return o->nomem ? VECTRON_NOMEM : 0;
}

/* ---- rendering --------------------------------------------------------- */

static void render_series(vx_metrics_out *o, const vx_metric_family *f,
                          struct series *s)
{
    const char *const *names = (const char *const *)f->label_names;
    char num[40], le[40];

    switch (f->type) {
    case VX_METRIC_COUNTER:
        snprintf(num, sizeof num, "%llu",
                 (unsigned long long)atomic_load_explicit(
                     &s->value, memory_order_relaxed));
        out_line(o, f->name, "", names, s->values, f->nlabels, NULL, num);
        break;
    case VX_METRIC_GAUGE:
        fmt_double(num, sizeof num,
                   u2d(atomic_load_explicit(&s->value, memory_order_relaxed)));
        out_line(o, f->name, "", names, s->values, f->nlabels, NULL, num);
        break;
    case VX_METRIC_HISTOGRAM: {
        uint64_t cum = 0;
        for (size_t i = 0; i <= f->nbounds; i++) {
            cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
            if (i < f->nbounds) {
                fmt_double(le, sizeof le, f->bounds[i]);
            } else {
                snprintf(le, sizeof le, "+Inf");
            }
            snprintf(num, sizeof num, "%llu", (unsigned long long)cum);
            out_line(o, f->name, "_bucket", names, s->values, f->nlabels, le,
                     num);
        }
        fmt_double(
            num, sizeof num,
            u2d(atomic_load_explicit(&s->sum_bits, memory_order_relaxed)));
        out_line(o, f->name, "_sum", names, s->values, f->nlabels, NULL, num);
        snprintf(num, sizeof num, "%llu", (unsigned long long)cum);
        out_line(o, f->name, "_count", names, s->values, f->nlabels, NULL, num);
        break;
    }
    }
}

int vx_metrics_render(vx_metrics *m, char **out, size_t *out_len,
                      vectron_error *err)
{
    vx_metrics_out o = {0};
    struct collector *c;
    size_t n;

    *out = NULL;
    *out_len = 0;
    out_put(&o, "", 0); /* an empty registry still yields "" */
    pthread_mutex_lock(&m->lock);
    for (const vx_metric_family *f = m->first; f; f = f->next) {
        out_header(&o, f->type, f->name, f->help);
        for (struct series *s = f->first; s; s = s->next) {
            render_series(&o, f, s);
        }
    }
    c = m->cfirst;
    n = m->ncollectors;
    pthread_mutex_unlock(&m->lock);
    /* The first n nodes and their links were written before the unlock
     * above; the n-th node's link may be written concurrently, so it is
     * not read. */
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            c = c->next;
        }
        c->fn(c->arg, &o);
    }
    if (o.nomem) {
        vx_free(o.p);
        return vx_err(err, VECTRON_NOMEM, "metrics: render: out of memory");
    }
    *out = o.p;
    *out_len = o.len;
    return 0;
}
