/*
 * host_read.c - local reads of one hosted shard: filtered search (the
 * filter planner uses the shard's payload indexes to build an allow-list,
 * then every candidate is checked against the whole filter), filtered
 * scans and counts.
 *
 * Threading: any thread; each call uses its own LMDB read transaction.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/json.h"
#include "worker/host.h"
#include "worker/host_int.h"

#define MAX_CONDS 16

typedef struct match_ctx {
    store *st;
    store_read *rd;
    const gw_filter *filter;
    const point_id *exclude;
} match_ctx;

/* Parses a payload's text and matches it against filter. */
static int payload_matches(const gw_filter *f, const char *payload, size_t len,
                           const point_id *id)
{
    json_t *j = NULL;
    if (len && vx_json_load(payload, len, "payload", &j, NULL))
        return 0; /* a stored payload always parses; be safe */
    int m = gw_filter_match(f, j, id);
    json_decref(j);
    return m;
}

static int pass(uint64_t internal_id, void *arg)
{
    match_ctx *c = arg;
    point_id pid;
    if (store_get_by_internal(c->st, c->rd, internal_id, &pid, NULL))
        return 0;
    if (c->exclude && point_id_cmp(&pid, c->exclude) == 0)
        return 0;
    if (!c->filter)
        return 1;
    store_point p;
    if (store_get(c->st, c->rd, &pid, &p, NULL))
        return 0;
    int m = payload_matches(c->filter, p.payload, p.payload_len, &pid);
    store_point_clear(&p);
    return m;
}

/* ------------------------------------------------------------- planner */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts and removes duplicates. */
static size_t sort_unique(uint64_t *v, size_t n)
{
    if (n < 2)
        return n;
    qsort(v, n, sizeof(*v), cmp_u64);
    size_t w = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[w - 1])
            v[w++] = v[i];
    return w;
}

/* Intersects sorted unique a[0..*na) with b[0..nb) into a. */
static void intersect(uint64_t *a, size_t *na, const uint64_t *b, size_t nb)
{
    size_t i = 0, j = 0, w = 0;
    while (i < *na && j < nb) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else {
            a[w++] = a[i];
            i++;
            j++;
        }
    }
    *na = w;
}

static const store_index_def *find_def(const store_index_def *defs, size_t n,
                                       const char *field)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(defs[i].field, field) == 0)
            return &defs[i];
    return NULL;
}

/* Converts a match value for an index of type t; 0 if they do not line up
 * (the condition is then left to the predicate). */
static int to_store_value(const gw_value *v, store_index_type t,
                          store_value *out)
{
    memset(out, 0, sizeof(*out));
    switch (v->type) {
    case GW_VALUE_STRING:
        if (t != STORE_KEYWORD)
            return 0;
        out->type = STORE_KEYWORD;
        out->s = v->s;
        out->s_len = v->len;
        return 1;
    case GW_VALUE_INT:
        if (t != STORE_INTEGER)
            return 0;
        out->type = STORE_INTEGER;
        out->i = v->i;
        return 1;
    case GW_VALUE_BOOL:
        if (t != STORE_BOOL)
            return 0;
        out->type = STORE_BOOL;
        out->b = v->b;
        return 1;
    }
    return 0;
}

/* Candidates of one condition: *ids (vx_malloc'd, sorted unique) or
 * returns 1 when the condition cannot use an index. Errors: < 0. */
static int cond_candidates(store *st, store_read *rd,
                           const store_index_def *defs, size_t ndefs,
                           const gw_index_cond *c, uint64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (c->kind == GW_ICOND_HAS_ID) {
        uint64_t *v = vx_malloc((c->nids ? c->nids : 1) * sizeof(*v));
        if (!v)
            return -1;
        size_t k = 0;
        for (size_t i = 0; i < c->nids; i++) {
            store_point p;
            if (store_get(st, rd, &c->ids[i], &p, NULL) == 0) {
                v[k++] = p.internal_id;
                store_point_clear(&p);
            }
        }
        *ids = v;
        *n = sort_unique(v, k);
        return 0;
    }
    const store_index_def *d = find_def(defs, ndefs, c->key);
    if (!d)
        return 1;
    if (c->kind == GW_ICOND_RANGE) {
        /* Only a float index holds every number (it takes integers too);
         * an integer index leaves out 2.5, which a range may match. */
        if (d->type != STORE_FLOAT)
            return 1;
        const gw_range *r = &c->range;
        store_value lo = {.type = STORE_FLOAT}, hi = {.type = STORE_FLOAT};
        int has_lo = r->has_gt || r->has_gte, has_hi = r->has_lt || r->has_lte;
        lo.f = r->has_gt ? r->gt : r->gte;
        hi.f = r->has_lt ? r->lt : r->lte;
        /* gt and gte both given: the stricter wins. */
        int lo_incl = !r->has_gt, hi_incl = !r->has_lt;
        if (r->has_gt && r->has_gte && r->gte > r->gt) {
            lo.f = r->gte;
            lo_incl = 1;
        }
        if (r->has_lt && r->has_lte && r->lte < r->lt) {
            hi.f = r->lte;
            hi_incl = 1;
        }
        if (store_index_range(st, rd, c->key, has_lo ? &lo : NULL, lo_incl,
                              has_hi ? &hi : NULL, hi_incl, ids, n, NULL))
            return 1;
        return 0;
    }
    size_t nv = c->kind == GW_ICOND_EQ ? 1 : c->nvalues;
    const gw_value *vals = c->kind == GW_ICOND_EQ ? &c->value : c->values;
    uint64_t *acc = NULL;
    size_t nacc = 0;
    for (size_t i = 0; i < nv; i++) {
        store_value sv;
        uint64_t *part;
        size_t np;
        if (!to_store_value(&vals[i], d->type, &sv) ||
            store_index_eq(st, rd, c->key, &sv, &part, &np, NULL)) {
            vx_free(acc);
            return 1;
        }
        if (np) {
            uint64_t *grown = vx_realloc(acc, (nacc + np) * sizeof(*acc));
            if (!grown) {
                vx_free(part);
                vx_free(acc);
                return -1;
            }
            acc = grown;
            memcpy(acc + nacc, part, np * sizeof(*acc));
            nacc += np;
        }
        vx_free(part);
    }
    *ids = acc;
    *n = sort_unique(acc, nacc);
    return 0;
}

/* Builds the allow-list for filter f: *allow stays NULL (and *have 0) when
 * no condition can use an index. */
static int plan(store *st, store_read *rd, const gw_filter *f, uint64_t **allow,
                size_t *n_allow, int *have, vectron_error *err)
{
    gw_index_cond conds[MAX_CONDS];
    size_t nc = gw_filter_index_conds(f, conds, MAX_CONDS);
    store_index_def *defs = NULL;
    size_t ndefs = 0;
    int rc = 0;
    *allow = NULL;
    *n_allow = 0;
    *have = 0;
    if (nc > MAX_CONDS)
        nc = MAX_CONDS;
    if (nc == 0)
        return 0;
    if ((rc = store_index_list(st, rd, &defs, &ndefs, err)))
        return rc;
    for (size_t i = 0; i < nc; i++) {
        uint64_t *ids;
        size_t n;
        int r = cond_candidates(st, rd, defs, ndefs, &conds[i], &ids, &n);
        if (r < 0) {
            rc = vx_err(err, VECTRON_NOMEM, "filter plan");
            break;
        }
        if (r > 0)
            continue;
        if (!*have) {
            *allow = ids;
            *n_allow = n;
            *have = 1;
        } else {
            intersect(*allow, n_allow, ids, n);
            vx_free(ids);
        }
    }
    store_index_defs_free(defs, ndefs);
    if (rc) {
        vx_free(*allow);
        *allow = NULL;
        *have = 0;
    }
    return rc;
}

/* --------------------------------------------------------------- search */

/* A replica catching up from a store copy cannot answer reads. */
static int stale_err(const host_shard *s, vectron_error *err)
{
    return vx_err(err, VECTRON_UNAVAILABLE,
                  "group %" PRIu64 ": this replica is catching up (copying "
                  "the store from a peer)",
                  s->group);
}

static int local_search(host_shard *s, const host_search *rq, shard_hit *out,
                        size_t *n_out, vectron_error *err)
{
    shard *sh = host_shard_shard(s);
    store *st = shard_store(sh);
    store_read *rd = NULL;
    uint64_t *allow = NULL;
    size_t n_allow = 0;
    int have_allow = 0, rc;
    *n_out = 0;
    if ((rc = store_read_begin(st, &rd, err)))
        return rc;
    if (rq->filter &&
        (rc = plan(st, rd, rq->filter, &allow, &n_allow, &have_allow, err)))
        goto out;
    if (have_allow && n_allow == 0)
        goto out; /* an indexed condition matches nothing */

    match_ctx mc = {
        .st = st, .rd = rd, .filter = rq->filter, .exclude = rq->exclude};
    vectron_search_params sp;
    vectron_search_params_default(&sp, rq->k);
    sp.ef = rq->ef;
    sp.exact = rq->exact;
    if (rq->filter || rq->exclude) {
        sp.filter = pass;
        sp.filter_arg = &mc;
    }
    if (have_allow) {
        sp.allow = allow;
        sp.n_allow = n_allow;
    }
    if (rq->exact_selectivity >= 0)
        sp.exact_selectivity = rq->exact_selectivity;
    if (rq->rescore >= 0)
        sp.rescore = rq->rescore;
    if (rq->oversampling >= 1)
        sp.oversampling = rq->oversampling;
    rc = shard_search(sh, rq->vector, &sp, out, n_out, err);
out:
    vx_free(allow);
    store_read_end(rd);
    return rc;
}

int host_shard_search(host_shard *s, const host_search *rq, shard_hit *out,
                      size_t *n_out, vectron_error *err)
{
    if (s->remote)
        return hr_search(s, rq, out, n_out, err);
    if (atomic_load(&s->stale))
        return stale_err(s, err);
    pthread_rwlock_rdlock(&s->swap);
    int rc = local_search(s, rq, out, n_out, err);
    pthread_rwlock_unlock(&s->swap);
    return rc;
}

/* ----------------------------------------------------------- scan/count */

typedef struct scan_ctx {
    const gw_filter *filter;
    store_point_fn fn;
    void *arg;
    uint64_t count;
} scan_ctx;

static int scan_one(void *arg, const store_point_view *p, vectron_error *err)
{
    scan_ctx *c = arg;
    if (c->filter &&
        !payload_matches(c->filter, p->payload, p->payload_len, &p->id))
        return 0;
    if (!c->fn) {
        c->count++;
        return 0;
    }
    return c->fn(c->arg, p, err);
}

static int local_scan(host_shard *s, const gw_filter *filter,
                      const point_id *from, store_point_fn fn, void *arg,
                      vectron_error *err)
{
    store *st = shard_store(host_shard_shard(s));
    scan_ctx c = {.filter = filter, .fn = fn, .arg = arg};
    return store_scan(st, NULL, from, SIZE_MAX, scan_one, &c, NULL, NULL, err);
}

int host_shard_scan(host_shard *s, const gw_filter *filter,
                    const point_id *from, store_point_fn fn, void *arg,
                    vectron_error *err)
{
    if (s->remote)
        return hr_scan(s, filter, from, fn, arg, err);
    if (atomic_load(&s->stale))
        return stale_err(s, err);
    pthread_rwlock_rdlock(&s->swap);
    int rc = local_scan(s, filter, from, fn, arg, err);
    pthread_rwlock_unlock(&s->swap);
    return rc;
}

static int local_count(host_shard *s, const gw_filter *filter, uint64_t *out,
                       vectron_error *err)
{
    store *st = shard_store(host_shard_shard(s));
    if (!filter)
        return store_count(st, NULL, out, err);
    scan_ctx c = {.filter = filter};
    int rc =
        store_scan(st, NULL, NULL, SIZE_MAX, scan_one, &c, NULL, NULL, err);
    *out = c.count;
    return rc;
}

int host_shard_count(host_shard *s, const gw_filter *filter, uint64_t *out,
                     vectron_error *err)
{
    if (s->remote)
        return hr_count(s, filter, out, err);
    if (atomic_load(&s->stale))
        return stale_err(s, err);
    pthread_rwlock_rdlock(&s->swap);
    int rc = local_count(s, filter, out, err);
    pthread_rwlock_unlock(&s->swap);
    return rc;
}

static int local_get(host_shard *s, const point_id *id, store_point *out,
                     vectron_error *err)
{
    return store_get(shard_store(host_shard_shard(s)), NULL, id, out, err);
}

int host_shard_get(host_shard *s, const point_id *id, store_point *out,
                   vectron_error *err)
{
    if (s->remote)
        return hr_get(s, id, out, err);
    if (atomic_load(&s->stale))
        return stale_err(s, err);
    pthread_rwlock_rdlock(&s->swap);
    int rc = local_get(s, id, out, err);
    pthread_rwlock_unlock(&s->swap);
    return rc;
}

/* Points indexed under a field: its whole range in the index. */
static uint64_t field_points(store *st, const store_index_def *d)
{
    uint64_t *ids = NULL;
    size_t n = 0;
    if (d->type == STORE_BOOL) {
        size_t total = 0;
        for (int b = 0; b <= 1; b++) {
            store_value v = {.type = STORE_BOOL, .b = b};
            if (store_index_eq(st, NULL, d->field, &v, &ids, &n, NULL) == 0)
                total += n;
            vx_free(ids);
            ids = NULL;
        }
        return total;
    }
    if (store_index_range(st, NULL, d->field, NULL, 1, NULL, 1, &ids, &n, NULL))
        return 0;
    vx_free(ids);
    return n;
}

static int local_info(host_shard *s, int index_points, host_shard_info *out,
                      vectron_error *err)
{
    shard *sh = host_shard_shard(s);
    store *st = shard_store(sh);
    store_index_def *defs = NULL;
    size_t n = 0;
    memset(out, 0, sizeof *out);
    int rc = store_count(st, NULL, &out->points, err);
    if (!rc)
        rc = store_index_list(st, NULL, &defs, &n, err);
    if (rc)
        return rc;
    out->pending = shard_pending(sh);
    out->applied_index = shard_applied_index(sh);
    if (n) {
        out->indexes = vx_calloc(n, sizeof *out->indexes);
        if (!out->indexes) {
            store_index_defs_free(defs, n);
            return vx_err(err, VECTRON_NOMEM, "shard info");
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (index_points)
            out->indexes[i].points = field_points(st, &defs[i]);
        out->indexes[i].type = defs[i].type;
        out->indexes[i].field = defs[i].field;
        defs[i].field = NULL; /* moved */
    }
    out->n_indexes = n;
    store_index_defs_free(defs, n);
    return 0;
}

int host_shard_info_of(host_shard *s, int index_points, host_shard_info *out,
                       vectron_error *err)
{
    if (s->remote)
        return hr_info(s, index_points, out, err);
    if (atomic_load(&s->stale))
        return stale_err(s, err);
    pthread_rwlock_rdlock(&s->swap);
    int rc = local_info(s, index_points, out, err);
    pthread_rwlock_unlock(&s->swap);
    return rc;
}

void host_shard_info_clear(host_shard_info *info)
{
    for (size_t i = 0; i < info->n_indexes; i++)
        vx_free(info->indexes[i].field);
    vx_free(info->indexes);
    memset(info, 0, sizeof *info);
}

uint64_t host_shard_conf_epoch(host_shard *s)
{
    return atomic_load(&s->conf_epoch);
}

void host_set_conf_epoch(host *h, uint64_t group, uint64_t epoch)
{
    host_shard *s = host_acquire(h, group);
    if (!s)
        return;
    uint64_t cur = atomic_load(&s->conf_epoch);
    while (cur < epoch &&
           !atomic_compare_exchange_weak(&s->conf_epoch, &cur, epoch))
        ;
    host_release(s);
}

uint64_t host_shard_applied(host_shard *s)
{
    if (s->remote)
        return hr_applied(s);
    pthread_rwlock_rdlock(&s->swap);
    uint64_t a = shard_applied_index(s->sh);
    pthread_rwlock_unlock(&s->swap);
    return a;
}

void host_shard_set_min_applied(host_shard *s, uint64_t min)
{
    if (!s->remote)
        return;
    if (s->consistency != PD_READ_STRONG)
        s->consistency = PD_READ_BOUNDED;
    if (min > s->min_applied)
        s->min_applied = min;
}

uint64_t host_shard_seen(host_shard *s)
{
    if (!s->remote)
        return host_shard_applied(s);
    return atomic_load(&s->seen);
}
