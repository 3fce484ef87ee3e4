/*
 * rerank.c - the rerank strategies of rerank.h: exact rescoring, MMR,
 * payload boosts with recency decay, and reciprocal-rank fusion, plus the
 * helpers they share (sorting, payload paths, RFC 3339 timestamps).
 *
 * Threading: reentrant; pure functions over the caller's arrays.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/json.h"
#include "index/distance.h"
#include "rerank/rerank.h"

const char *rerank_strategy_name(rerank_strategy s)
{
    switch (s) {
    case RERANK_EXACT:
        return "exact";
    case RERANK_MMR:
        return "mmr";
    case RERANK_BOOST:
        return "boost";
    case RERANK_RRF:
        return "rrf";
    case RERANK_NONE:
        break;
    }
    return "none";
}

int rerank_strategy_parse(const char *s, size_t len, rerank_strategy *out)
{
    static const rerank_strategy all[] = {RERANK_EXACT, RERANK_MMR,
                                          RERANK_BOOST, RERANK_RRF};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *name = rerank_strategy_name(all[i]);
        if (strlen(name) == len && memcmp(name, s, len) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

int rerank_metric_higher_better(vectron_metric m)
{
    return m != VECTRON_METRIC_L2;
}

static int cmp_higher(const void *a, const void *b)
{
    const rerank_cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return point_id_cmp(&x->id, &y->id);
}

static int cmp_lower(const void *a, const void *b)
{
    const rerank_cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return point_id_cmp(&x->id, &y->id);
}

void rerank_sort(rerank_cand *c, size_t n, int higher_better)
{
    if (n > 1)
        qsort(c, n, sizeof *c, higher_better ? cmp_higher : cmp_lower);
}

/* ---- exact ------------------------------------------------------------- */

float rerank_exact_score(const float *query, const float *v, uint32_t dim,
                         vectron_metric metric)
{
    const distance_kernels *k = distance_kernels_best();
    switch (metric) {
    case VECTRON_METRIC_L2: {
        float d = k->l2sq_f32(query, v, dim);
        return sqrtf(d > 0 ? d : 0);
    }
    case VECTRON_METRIC_COSINE: {
        float qq = k->dot_f32(query, query, dim);
        float vv = k->dot_f32(v, v, dim);
        if (!(qq > 0) || !(vv > 0))
            return 0;
        return k->dot_f32(query, v, dim) / (sqrtf(qq) * sqrtf(vv));
    }
    case VECTRON_METRIC_DOT:
        return k->dot_f32(query, v, dim);
    }
    return 0;
}

static int need_vectors(const float *query, uint32_t dim, const rerank_cand *c,
                        size_t n, const char *what, vectron_error *err)
{
    if (!query || dim == 0)
        return vx_err(err, VECTRON_INVALID, "%s: needs a query vector", what);
    for (size_t i = 0; i < n; i++)
        if (!c[i].vector)
            return vx_err(err, VECTRON_INVALID,
                          "%s: candidate %zu has no vector", what, i);
    return 0;
}

int rerank_exact(const float *query, uint32_t dim, vectron_metric metric,
                 rerank_cand *c, size_t n, vectron_error *err)
{
    int rc = need_vectors(query, dim, c, n, "exact", err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        c[i].score = rerank_exact_score(query, c[i].vector, dim, metric);
    rerank_sort(c, n, rerank_metric_higher_better(metric));
    return 0;
}

/* ---- mmr --------------------------------------------------------------- */

/* Similarity (higher is closer) of an exact score. */
static double sim_of(float score, vectron_metric metric)
{
    return metric == VECTRON_METRIC_L2 ? -(double)score : (double)score;
}

int rerank_mmr(const float *query, uint32_t dim, vectron_metric metric,
               double lambda, size_t limit, rerank_cand *c, size_t n,
               vectron_error *err)
{
    int rc = need_vectors(query, dim, c, n, "mmr", err);
    if (rc)
        return rc;
    if (!(lambda >= 0 && lambda <= 1))
        return vx_err(err, VECTRON_INVALID, "mmr: lambda must be in [0, 1]");
    /* Relevance order first: the picks then break ties by relevance, and
     * the unpicked tail is left in it. */
    for (size_t i = 0; i < n; i++)
        c[i].score = rerank_exact_score(query, c[i].vector, dim, metric);
    rerank_sort(c, n, rerank_metric_higher_better(metric));
    size_t picks = limit < n ? limit : n;
    /* maxsim[i]: the largest similarity of candidate i to a pick so far. */
    double *maxsim = vx_malloc((n ? n : 1) * sizeof *maxsim);
    if (!maxsim)
        return vx_err(err, VECTRON_NOMEM, "mmr");
    for (size_t i = 0; i < n; i++)
        maxsim[i] = -INFINITY;
    for (size_t p = 0; p < picks; p++) {
        size_t best = p;
        double best_v = -INFINITY;
        for (size_t i = p; i < n; i++) {
            double rel = sim_of(c[i].score, metric);
            double v = p == 0 ? rel : lambda * rel - (1 - lambda) * maxsim[i];
            if (v > best_v) { /* strict: earlier (more relevant) wins ties */
                best_v = v;
                best = i;
            }
        }
        /* Move the pick to position p, keeping the rest in relevance
         * order (a rotation, not a swap). */
        if (best != p) {
            rerank_cand t = c[best];
            double ts = maxsim[best];
            memmove(&c[p + 1], &c[p], (best - p) * sizeof *c);
            memmove(&maxsim[p + 1], &maxsim[p], (best - p) * sizeof *maxsim);
            c[p] = t;
            maxsim[p] = ts;
        }
        for (size_t i = p + 1; i < n; i++) {
            double s = sim_of(
                rerank_exact_score(c[p].vector, c[i].vector, dim, metric),
                metric);
            if (s > maxsim[i])
                maxsim[i] = s;
        }
    }
    vx_free(maxsim);
    return 0;
}

/* ---- boost ------------------------------------------------------------- */

const json_t *rerank_payload_get(const json_t *payload, const char *path)
{
    const json_t *cur = payload;
    const char *p = path;
    char key[256];
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(cur) || len == 0 || len >= sizeof key)
            return NULL;
        memcpy(key, p, len);
        key[len] = '\0';
        cur = json_object_get(cur, key);
        p += len + (dot ? 1 : 0);
        if (dot && !*p)
            return NULL; /* a trailing dot names nothing */
    }
    return cur;
}

static int digits(const char *s, size_t n, size_t at, size_t count, int *out)
{
    int v = 0;
    if (at + count > n)
        return -1;
    for (size_t i = 0; i < count; i++) {
        char ch = s[at + i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

int rerank_parse_rfc3339(const char *s, size_t n, double *out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    size_t i;
    if (digits(s, n, 0, 4, &y) || n < 19 || s[4] != '-' ||
        digits(s, n, 5, 2, &mo) || s[7] != '-' || digits(s, n, 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s, n, 11, 2, &h) || s[13] != ':' || digits(s, n, 14, 2, &mi) ||
        s[16] != ':' || digits(s, n, 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 60) /* 60: a leap second, read as :59 + 1 */
        return -1;
    double frac = 0, scale = 0.1;
    i = 19;
    if (i < n && s[i] == '.') {
        i++;
        size_t start = i;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            frac += (s[i] - '0') * scale;
            scale /= 10;
        }
        if (i == start)
            return -1;
    }
    if (i >= n)
        return -1; /* RFC 3339 requires an offset */
    int sign = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '+' ? 1 : -1;
        if (digits(s, n, i + 1, 2, &oh) || i + 3 >= n || s[i + 3] != ':' ||
            digits(s, n, i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        i += 6;
    } else {
        return -1;
    }
    if (i != n)
        return -1;
    double t = (double)days_from_civil(y, mo, d) * 86400.0 + h * 3600.0 +
               mi * 60.0 + sec + frac;
    t -= sign * (oh * 3600.0 + om * 60.0);
    *out = t;
    return 0;
}

int rerank_parse_time(const json_t *v, double *out)
{
    if (json_is_integer(v)) {
        *out = (double)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double t = json_real_value(v);
        if (!isfinite(t))
            return -1;
        *out = t;
        return 0;
    }
    if (json_is_string(v) && !vx_json_is_bignum(v))
        return rerank_parse_rfc3339(json_string_value(v), json_string_length(v),
                                    out);
    return -1;
}

static double field_value(const json_t *payload, const char *path)
{
    const json_t *v = rerank_payload_get(payload, path);
    if (json_is_integer(v))
        return (double)json_integer_value(v);
    if (json_is_real(v) && isfinite(json_real_value(v)))
        return json_real_value(v);
    return 0;
}

int rerank_boost_apply(const rerank_boost *b, vectron_metric metric,
                       rerank_cand *c, size_t n, vectron_error *err)
{
    if (b->time_field && !(b->half_life_s > 0 && isfinite(b->half_life_s)))
        return vx_err(err, VECTRON_INVALID,
                      "boost: half_life must be a positive number of seconds");
    for (size_t i = 0; i < n; i++) {
        double s = sim_of(c[i].score, metric);
        for (size_t f = 0; f < b->nfields; f++)
            s += b->fields[f].weight *
                 field_value(c[i].payload, b->fields[f].field);
        double t;
        if (b->time_field &&
            rerank_parse_time(rerank_payload_get(c[i].payload, b->time_field),
                              &t) == 0) {
            double age = b->now_s - t;
            if (!(age > 0))
                age = 0;
            s += b->recency_weight * exp2(-age / b->half_life_s);
        }
        c[i].score = (float)s;
    }
    rerank_sort(c, n, 1);
    return 0;
}

/* ---- rrf --------------------------------------------------------------- */

typedef struct rrf_entry {
    point_id id;
    size_t list, rank; /* rank from 1 */
} rrf_entry;

static int cmp_entry(const void *a, const void *b)
{
    const rrf_entry *x = a, *y = b;
    int c = point_id_cmp(&x->id, &y->id);
    if (c)
        return c;
    if (x->list != y->list)
        return x->list < y->list ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static int cmp_fused(const void *a, const void *b)
{
    const rerank_fused *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return point_id_cmp(&x->id, &y->id);
}

int rerank_rrf(const rerank_list *lists, size_t nlists, double k,
               rerank_fused **out, size_t *nout, vectron_error *err)
{
    size_t total = 0, m = 0;
    *out = NULL;
    *nout = 0;
    if (!(k >= 0 && isfinite(k)))
        return vx_err(err, VECTRON_INVALID, "rrf: k must be >= 0");
    for (size_t l = 0; l < nlists; l++)
        total += lists[l].n;
    rrf_entry *e = vx_malloc((total ? total : 1) * sizeof *e);
    rerank_fused *f = vx_malloc((total ? total : 1) * sizeof *f);
    if (!e || !f) {
        vx_free(e);
        vx_free(f);
        return vx_err(err, VECTRON_NOMEM, "rrf");
    }
    size_t at = 0;
    for (size_t l = 0; l < nlists; l++)
        for (size_t r = 0; r < lists[l].n; r++)
            e[at++] = (rrf_entry){lists[l].ids[r], l, r + 1};
    if (total > 1)
        qsort(e, total, sizeof *e, cmp_entry);
    /* Sum in double in list order so the result does not depend on how
     * the entries were sorted. */
    for (size_t i = 0; i < total;) {
        size_t j = i;
        double s = 0;
        while (j < total && point_id_cmp(&e[j].id, &e[i].id) == 0) {
            /* entries of one list are adjacent, best rank first */
            if (j == i || e[j].list != e[j - 1].list)
                s += 1.0 / (k + (double)e[j].rank);
            j++;
        }
        f[m].id = e[i].id;
        f[m].score = s;
        m++;
        i = j;
    }
    vx_free(e);
    if (m > 1)
        qsort(f, m, sizeof *f, cmp_fused);
    *out = f;
    *nout = m;
    return 0;
}

/* ---- one call for any strategy ----------------------------------------- */

int rerank_run(rerank_request *rq, rerank_fused **out, size_t *nout,
               vectron_error *err)
{
    int rc;
    *out = NULL;
    *nout = 0;
    switch (rq->strategy) {
    case RERANK_EXACT:
        rc = rerank_exact(rq->query, rq->dim, rq->metric, rq->cands, rq->ncands,
                          err);
        break;
    case RERANK_MMR:
        rc = rerank_mmr(rq->query, rq->dim, rq->metric, rq->lambda, rq->limit,
                        rq->cands, rq->ncands, err);
        break;
    case RERANK_BOOST:
        rc = rerank_boost_apply(&rq->boost, rq->metric, rq->cands, rq->ncands,
                                err);
        break;
    case RERANK_RRF: {
        rerank_fused *f = NULL;
        size_t n = 0;
        if ((rc = rerank_rrf(rq->lists, rq->nlists, rq->rrf_k, &f, &n, err)))
            return rc;
        *out = f;
        *nout = n < rq->limit ? n : rq->limit;
        return 0;
    }
    default:
        return vx_err(err, VECTRON_INVALID, "rerank: no strategy");
    }
    if (rc)
        return rc;
    size_t n = rq->ncands < rq->limit ? rq->ncands : rq->limit;
    rerank_fused *f = vx_malloc((n ? n : 1) * sizeof *f);
    if (!f)
        return vx_err(err, VECTRON_NOMEM, "rerank");
    for (size_t i = 0; i < n; i++) {
        f[i].id = rq->cands[i].id;
        f[i].score = rq->cands[i].score;
    }
    *out = f;
    *nout = n;
    return 0;
}
