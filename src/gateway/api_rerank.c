/*
 * api_rerank.c - searches with the rerank extension (docs/rerank.md):
 * fetch more candidates than asked for (rerank.candidates, default
 * 4 * (limit + offset)) from every shard, drop those below
 * score_threshold (on the search's scores), load what the strategy needs
 * (vectors, payloads), rerank in-process (src/rerank) or with the
 * configured rerank service (api_rerank_remote.c), then skip the offset
 * and cut to the limit. When the service fails or times out, the search
 * order is kept, the fallback is counted in vectron_rerank_fallbacks_total
 * and flagged in the response.
 *
 * Threading: any HTTP thread; everything here is per request, the metric
 * handles are set once at start-up and updated lock-free.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "gateway/api.h"

int gw_api_rerank_init(gw_api *api, vectron_error *err)
{
    static const char *const mode_label[] = {"mode"};
    static const char *const reason_label[] = {"reason"};
    vx_metric_family *f;
    int rc;
    if (!api->metrics)
        return 0;
    if ((rc = vx_metrics_family(api->metrics, VX_METRIC_COUNTER,
                                "vectron_rerank_total",
                                "Searches reranked, by where the reranking "
                                "ran (in_process or service).",
                                mode_label, 1, NULL, 0, &f, err)) ||
        (rc = vx_metrics_counter(f, (const char *[]){"in_process"},
                                 &api->rerank_m.in_process, err)) ||
        (rc = vx_metrics_counter(f, (const char *[]){"service"},
                                 &api->rerank_m.service, err)) ||
        (rc = vx_metrics_family(api->metrics, VX_METRIC_COUNTER,
                                "vectron_rerank_fallbacks_total",
                                "Searches answered in the search order "
                                "because the rerank service failed (timeout "
                                "or error).",
                                reason_label, 1, NULL, 0, &f, err)) ||
        (rc = vx_metrics_counter(f, (const char *[]){"timeout"},
                                 &api->rerank_m.fallback_timeout, err)) ||
        (rc = vx_metrics_counter(f, (const char *[]){"error"},
                                 &api->rerank_m.fallback_error, err)))
        return rc;
    return 0;
}

/* The candidates of one search list, with the points loaded for them. */
typedef struct cand_set {
    rerank_cand *c;
    store_point *pt;  /* parallel to c as loaded; the strategies reorder c
                         but not pt */
    json_t **payload; /* parallel to pt; parsed when asked */
    size_t *by_id;    /* indexes of pt in id order (lookups) */
    size_t n;
    int loaded;
} cand_set;

static void cand_set_close(cand_set *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        if (cs->pt)
            store_point_clear(&cs->pt[i]);
        if (cs->payload)
            json_decref(cs->payload[i]);
    }
    vx_free(cs->c);
    vx_free(cs->pt);
    vx_free(cs->payload);
    vx_free(cs->by_id);
    memset(cs, 0, sizeof *cs);
}

/* Searches for k candidates to vec and keeps those that pass the score
 * threshold, as rerank candidates with the search's scores. */
static int fetch(gw_api *api, const pd_collection *col, host_shard **s,
                 const gw_search *q, const float *vec, const point_id *exclude,
                 uint32_t k, cand_set *cs, vectron_error *err)
{
    shard_hit *hits = NULL;
    size_t nh = 0;
    int rc = api_gather(api, col, s, q, vec, exclude, k, &hits, &nh, err);
    if (rc)
        return rc;
    cs->c = vx_calloc(nh ? nh : 1, sizeof *cs->c);
    if (!cs->c) {
        vx_free(hits);
        return vx_err(err, VECTRON_NOMEM, "rerank");
    }
    int euclid = col->p.metric == VECTRON_METRIC_L2;
    for (size_t i = 0; i < nh; i++) {
        float score = api_score(col->p.metric, hits[i].distance);
        if (q->has_score_threshold &&
            (euclid ? score > q->score_threshold : score < q->score_threshold))
            break; /* sorted: the rest are worse */
        cs->c[cs->n].id = hits[i].id;
        cs->c[cs->n].score = score;
        cs->n++;
    }
    vx_free(hits);
    return 0;
}

/* qsort has no context argument: the points being indexed, set just
 * before each sort by the calling thread. */
static _Thread_local const store_point *sort_pts;

static int cmp_pt_index(const void *a, const void *b)
{
    return point_id_cmp(&sort_pts[*(const size_t *)a].id,
                        &sort_pts[*(const size_t *)b].id);
}

static int cmp_cand_id(const void *a, const void *b)
{
    return point_id_cmp(&((const rerank_cand *)a)->id,
                        &((const rerank_cand *)b)->id);
}

/* Loads the points of cs (vectors, payload text; the parsed payload when
 * parse is set), dropping those deleted since the search. */
static int load(const pd_collection *col, host_shard **s, cand_set *cs,
                int parse, vectron_error *err)
{
    uint32_t ns = col->p.shard_number;
    cs->pt = vx_calloc(cs->n ? cs->n : 1, sizeof *cs->pt);
    cs->payload = vx_calloc(cs->n ? cs->n : 1, sizeof *cs->payload);
    if (!cs->pt || !cs->payload)
        return vx_err(err, VECTRON_NOMEM, "rerank");
    cs->loaded = 1;
    size_t m = 0;
    for (size_t i = 0; i < cs->n; i++) {
        host_shard *hs = s[host_shard_of(&cs->c[i].id, ns)];
        int rc = host_shard_get(hs, &cs->c[i].id, &cs->pt[m], err);
        if (rc == VECTRON_NOT_FOUND)
            continue; /* deleted since: leave it out */
        if (rc)
            return rc;
        cs->c[m] = cs->c[i];
        cs->c[m].vector = cs->pt[m].vector;
        if (parse && cs->pt[m].payload_len) {
            if ((rc = vx_json_load(cs->pt[m].payload, cs->pt[m].payload_len,
                                   "payload", &cs->payload[m], err))) {
                store_point_clear(&cs->pt[m]);
                return rc;
            }
            cs->c[m].payload = cs->payload[m];
        }
        m++;
    }
    cs->n = m;
    if (!(cs->by_id = vx_malloc((m ? m : 1) * sizeof *cs->by_id)))
        return vx_err(err, VECTRON_NOMEM, "rerank");
    for (size_t i = 0; i < m; i++)
        cs->by_id[i] = i;
    sort_pts = cs->pt;
    if (m > 1)
        qsort(cs->by_id, m, sizeof *cs->by_id, cmp_pt_index);
    return 0;
}

static double wall_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The loaded point of id in cs (binary search over by_id); SIZE_MAX if
 * absent. */
static size_t find_point(const cand_set *cs, const point_id *id)
{
    size_t lo = 0, hi = cs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = point_id_cmp(&cs->pt[cs->by_id[mid]].id, id);
        if (c == 0)
            return cs->by_id[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

/* Renders ranked[first..first+limit) as scored points, taking the loaded
 * points from cs. */
static int render(const gw_search *q, const cand_set *cs,
                  const rerank_fused *ranked, size_t nranked, json_t **out,
                  vectron_error *err)
{
    size_t first = q->offset < nranked ? q->offset : nranked;
    size_t n = nranked - first < q->limit ? nranked - first : q->limit;
    gw_point_out *pts = vx_calloc(n ? n : 1, sizeof *pts);
    unsigned char *used = vx_calloc(cs->n ? cs->n : 1, 1);
    size_t m = 0;
    int rc = 0;
    if (!pts || !used) {
        vx_free(pts);
        vx_free(used);
        return vx_err(err, VECTRON_NOMEM, "rerank");
    }
    for (size_t i = 0; i < n && !rc; i++) {
        size_t at = find_point(cs, &ranked[first + i].id);
        /* Not a candidate, or already given (a service's mistakes): skip. */
        if (at == SIZE_MAX || used[at])
            continue;
        used[at] = 1;
        const store_point *pt = &cs->pt[at];
        gw_point_out *p = &pts[m++];
        p->id = ranked[first + i].id;
        p->score = (float)ranked[first + i].score;
        if (q->with_vector) {
            p->vector = pt->vector;
            p->dim = pt->dim;
        }
        rc = api_payload(pt->payload, pt->payload_len, &q->with_payload,
                         &p->payload, err);
    }
    if (!rc && !(*out = gw_json_scored_points(pts, m)))
        rc = vx_err(err, VECTRON_NOMEM, "rerank result");
    for (size_t i = 0; i < m; i++)
        json_decref(pts[i].payload);
    vx_free(pts);
    vx_free(used);
    return rc;
}

/* The search order of c[0..n) as a ranking (the fallback). */
static int search_order(const rerank_cand *c, size_t n, size_t limit,
                        rerank_fused **out, size_t *nout, vectron_error *err)
{
    if (n > limit)
        n = limit;
    *out = vx_malloc((n ? n : 1) * sizeof **out);
    if (!*out)
        return vx_err(err, VECTRON_NOMEM, "rerank");
    for (size_t i = 0; i < n; i++) {
        (*out)[i].id = c[i].id;
        (*out)[i].score = c[i].score;
    }
    *nout = n;
    return 0;
}

int api_rerank_search(gw_api *api, const pd_collection *col, host_shard **s,
                      const gw_search *q, const float *vec,
                      const point_id *exclude, json_t **out, int *fallback,
                      vectron_error *err)
{
    const gw_rerank *r = &q->rerank;
    uint32_t dim = col->p.dim;
    uint64_t want64 = (uint64_t)q->limit + q->offset;
    uint32_t want = want64 < VECTRON_MAX_K ? (uint32_t)want64 : VECTRON_MAX_K;
    uint64_t k64 = r->candidates ? r->candidates : 4 * want64;
    uint32_t k = k64 < VECTRON_MAX_K ? (uint32_t)k64 : VECTRON_MAX_K;
    int use_service = api->o.reranker_url && r->service != 0;
    size_t nlists = 1 + (r->strategy == RERANK_RRF ? r->nqueries : 0);
    cand_set *sets = NULL;
    rerank_list *lists = NULL;
    point_id *ids = NULL;
    rerank_field_weight *fw = NULL;
    rerank_fused *ranked = NULL;
    rerank_cand *main_list = NULL; /* rrf: the first list, for a fallback */
    size_t nranked = 0, total = 0, nmain = 0;
    int rc = 0;

    *out = NULL;
    if (r->service == 1 && !api->o.reranker_url)
        return vx_err(err, VECTRON_INVALID,
                      "rerank.service: no rerank service is configured "
                      "(knob reranker-url)");
    if (k < want)
        k = want;
    /* rrf: at most VECTRON_MAX_K candidates over all lists together. */
    if (nlists > 1 && (uint64_t)k * nlists > VECTRON_MAX_K)
        k = VECTRON_MAX_K / (uint32_t)nlists > want
                ? VECTRON_MAX_K / (uint32_t)nlists
                : want;
    sets = vx_calloc(nlists, sizeof *sets);
    lists = vx_calloc(nlists, sizeof *lists);
    fw = vx_calloc(r->nfields ? r->nfields : 1, sizeof *fw);
    if (!sets || !lists || !fw) {
        rc = vx_err(err, VECTRON_NOMEM, "rerank");
        goto out;
    }
    for (size_t l = 0; l < nlists && !rc; l++) {
        const float *qv = l == 0 ? vec : r->queries + (l - 1) * dim;
        rc = fetch(api, col, s, q, qv, exclude, k, &sets[l], err);
        total += sets[l].n;
    }
    if (rc)
        goto out;

    cand_set *cs = &sets[0];
    if (r->strategy == RERANK_RRF) {
        /* The fused ranking needs ids only; the output needs the union's
         * points, loaded once below (one entry per id, with the search
         * score of one of the lists that found it). */
        ids = vx_calloc(total ? total : 1, sizeof *ids);
        if (!ids) {
            rc = vx_err(err, VECTRON_NOMEM, "rerank");
            goto out;
        }
        size_t at = 0;
        for (size_t l = 0; l < nlists; l++) {
            lists[l].ids = ids + at;
            lists[l].n = sets[l].n;
            for (size_t i = 0; i < sets[l].n; i++)
                ids[at++] = sets[l].c[i].id;
        }
        /* The main list, kept for a fallback, then the union of every
         * list as set 0's candidates (sorted by id, each id once). */
        main_list = vx_malloc((cs->n ? cs->n : 1) * sizeof *main_list);
        rerank_cand *all = vx_realloc(cs->c, (total ? total : 1) * sizeof *all);
        if (!main_list || !all) {
            if (all)
                cs->c = all;
            rc = vx_err(err, VECTRON_NOMEM, "rerank");
            goto out;
        }
        cs->c = all;
        nmain = cs->n;
        memcpy(main_list, cs->c, nmain * sizeof *main_list);
        for (size_t l = 1; l < nlists; l++)
            for (size_t i = 0; i < sets[l].n; i++)
                cs->c[cs->n++] = sets[l].c[i];
        if (cs->n > 1)
            qsort(cs->c, cs->n, sizeof *cs->c, cmp_cand_id);
        size_t u = 0;
        for (size_t i = 0; i < cs->n; i++)
            if (u == 0 || point_id_cmp(&cs->c[u - 1].id, &cs->c[i].id) != 0)
                cs->c[u++] = cs->c[i];
        cs->n = u;
    }
    int parse = r->strategy == RERANK_BOOST || use_service;
    if ((rc = load(col, s, cs, parse, err)))
        goto out;
    if (r->strategy == RERANK_RRF) {
        /* Drop from the lists the ids deleted since the search. */
        for (size_t l = 0; l < nlists; l++) {
            point_id *li = (point_id *)lists[l].ids;
            size_t m = 0;
            for (size_t i = 0; i < lists[l].n; i++)
                if (find_point(cs, &li[i]) != SIZE_MAX)
                    li[m++] = li[i];
            lists[l].n = m;
        }
        /* The same for the fallback's main list. */
        size_t m = 0;
        for (size_t i = 0; i < nmain; i++)
            if (find_point(cs, &main_list[i].id) != SIZE_MAX)
                main_list[m++] = main_list[i];
        nmain = m;
    }
    for (size_t i = 0; i < r->nfields; i++) {
        fw[i].field = r->fields[i];
        fw[i].weight = r->weights[i];
    }
    rerank_request rq = {
        .strategy = r->strategy,
        .metric = col->p.metric,
        .dim = dim,
        .query = vec,
        .cands = cs->c,
        .ncands = cs->n,
        .lists = lists,
        .nlists = nlists,
        .limit = want,
        .lambda = r->lambda,
        .boost = {.fields = fw,
                  .nfields = r->nfields,
                  .time_field = r->time_field,
                  .half_life_s = r->half_life_s,
                  .recency_weight = r->recency_weight,
                  .now_s = r->has_now ? r->now_s : wall_now_s()},
        .rrf_k = r->rrf_k,
    };
    if (use_service) {
        unsigned timeout_ms =
            r->timeout_ms ? r->timeout_ms : api->o.reranker_timeout_ms;
        vectron_error serr = {0};
        int src =
            api_rerank_remote(api, &rq, timeout_ms, &ranked, &nranked, &serr);
        vx_counter_add(api->rerank_m.service, 1);
        if (src) {
            vx_counter_add(src == VECTRON_TIMEOUT
                               ? api->rerank_m.fallback_timeout
                               : api->rerank_m.fallback_error,
                           1);
            vx_log(VECTRON_LOG_WARN, "rerank",
                   "collection=%s url=%s fallback to the search order: %s",
                   col->name, api->o.reranker_url, serr.msg);
            *fallback = 1;
            /* The search order: the main list (rrf), else the candidates,
             * which the remote call leaves in search order. */
            rc = main_list
                     ? search_order(main_list, nmain, want, &ranked, &nranked,
                                    err)
                     : search_order(cs->c, cs->n, want, &ranked, &nranked, err);
        }
    } else {
        vx_counter_add(api->rerank_m.in_process, 1);
        rc = rerank_run(&rq, &ranked, &nranked, err);
        if (rc)
            vx_err_wrap(err, rc, "rerank");
    }
    if (!rc)
        rc = render(q, cs, ranked, nranked, out, err);
out:
    for (size_t l = 0; sets && l < nlists; l++)
        cand_set_close(&sets[l]);
    vx_free(sets);
    vx_free(lists);
    vx_free(ids);
    vx_free(fw);
    vx_free(ranked);
    vx_free(main_list);
    return rc;
}
