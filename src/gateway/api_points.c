/*
 * api_points.c - point routes: upsert (JSON and the binary bulk body),
 * retrieve, delete, payload updates, scroll and count. Writes are split by
 * shard (a stable hash of the point id) into one command per shard, all
 * replicated at once; reads scatter to every shard and merge in id order.
 *
 * A write that touches several shards is atomic per shard, not across
 * shards (as Qdrant's). Deletes and payload updates by filter resolve the
 * filter first, then replicate the resulting ids.
 *
 * Threading: any HTTP thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "gateway/api.h"

/* ------------------------------------------------- per-shard commands */

typedef struct cmd_set {
    uint32_t n;
    shard_cmd *cmds;
} cmd_set;

static int cmds_init(api_call *c, cmd_set *cs, uint32_t n)
{
    cs->n = n;
    cs->cmds = vx_calloc(n, sizeof(*cs->cmds));
    if (!cs->cmds) {
        api_fail(c, VECTRON_NOMEM, "out of memory");
        return VECTRON_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++)
        shard_cmd_init(&cs->cmds[i]);
    return 0;
}

static void cmds_close(cmd_set *cs)
{
    for (uint32_t i = 0; cs->cmds && i < cs->n; i++)
        shard_cmd_close(&cs->cmds[i]);
    vx_free(cs->cmds);
    cs->cmds = NULL;
}

/* Seals the non-empty commands, replicates them and sends the update
 * result (or the error). */
static void cmds_submit(api_call *c, host_shard **s, cmd_set *cs, int wait)
{
    vectron_error err = {0};
    host_shard **ts = vx_calloc(cs->n, sizeof(*ts));
    const uint8_t **bufs = vx_calloc(cs->n, sizeof(*bufs));
    size_t *lens = vx_calloc(cs->n, sizeof(*lens));
    size_t k = 0;
    int rc = 0;
    if (!ts || !bufs || !lens)
        rc = vx_err(&err, VECTRON_NOMEM, "write");
    for (uint32_t i = 0; !rc && i < cs->n; i++) {
        if (cs->cmds[i].n_ops == 0 && !cs->cmds[i].failed)
            continue;
        if ((rc = shard_cmd_finish(&cs->cmds[i], &bufs[k], &lens[k], &err)))
            break;
        ts[k++] = s[i];
    }
    if (rc)
        api_fail_err(c, rc, &err);
    else
        api_replicate(c, k, ts, bufs, lens, wait);
    vx_free(ts);
    vx_free(bufs);
    vx_free(lens);
}

/* ------------------------------------------------------------- upsert */

static int is_bulk(const http_request *r)
{
    const char *t = http_header(r, "Content-Type");
    return t &&
           (strncasecmp(t, "application/vnd.vectron.bulk-upsert", 35) == 0 ||
            strncasecmp(t, "application/octet-stream", 24) == 0);
}

void gw_api_upsert(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    pd_collection col;
    vectron_error err = {0};
    gw_upsert u;
    int wait, rc;
    if (api_collection(&c, &col) || (wait = api_wait(&c)) < 0)
        return;
    if (is_bulk(r))
        rc = gw_decode_bulk_upsert((const uint8_t *)r->body, r->body_len,
                                   col.p.dim, &c.api->o.limits, &u, &err);
    else
        rc = gw_decode_upsert(r->body, r->body_len, col.p.dim, &c.api->o.limits,
                              &u, &err);
    /* The rules the index applies (finite, no overflow, non-zero under
     * cosine), checked here so that no shard refuses a part of the batch
     * after the others applied theirs. */
    for (size_t i = 0; !rc && i < u.count; i++) {
        if ((rc = vectron_vector_check(
                 col.p.metric, u.vectors + i * (size_t)u.dim, u.dim, &err)))
            vx_err_wrap(&err, rc, "points[%zu].vector", i);
    }
    if (rc) {
        api_fail_err(&c, rc, &err);
        gw_upsert_close(&u);
        return;
    }
    host_shard **s = NULL;
    cmd_set cs = {0};
    if (api_acquire_shards(&c, &col, &s) == 0 &&
        cmds_init(&c, &cs, col.p.shard_number) == 0) {
        for (size_t i = 0; i < u.count; i++) {
            const gw_text *pl = u.payloads ? &u.payloads[i] : NULL;
            uint32_t sh = host_shard_of(&u.ids[i], col.p.shard_number);
            shard_cmd_upsert(
                &cs.cmds[sh], &u.ids[i], u.vectors + i * (size_t)u.dim, u.dim,
                pl && pl->data ? pl->data : NULL, pl && pl->data ? pl->len : 0);
        }
        cmds_submit(&c, s, &cs, wait);
    }
    cmds_close(&cs);
    api_release_shards(&c, &col, s);
    gw_upsert_close(&u);
}

/* ----------------------------------------------------------- selectors */

typedef struct id_list {
    point_id *ids;
    size_t n, cap;
} id_list;

static int collect_id(void *arg, const store_point_view *p, vectron_error *err)
{
    id_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        point_id *g = vx_realloc(l->ids, cap * sizeof(*g));
        if (!g)
            return vx_err(err, VECTRON_NOMEM, "filter ids");
        l->ids = g;
        l->cap = cap;
    }
    l->ids[l->n++] = p->id;
    return 0;
}

typedef void (*sel_fn)(shard_cmd *cmd, const point_id *id, void *arg);

/* Adds op(id) for every selected point to its shard's command. Filters
 * are resolved on each shard (the points matching now). */
static int select_points(api_call *c, const pd_collection *col, host_shard **s,
                         const gw_selector *sel, cmd_set *cs, sel_fn op,
                         void *arg)
{
    vectron_error err = {0};
    if (!sel->by_filter) {
        for (size_t i = 0; i < sel->count; i++)
            op(&cs->cmds[host_shard_of(&sel->ids[i], col->p.shard_number)],
               &sel->ids[i], arg);
        return 0;
    }
    for (uint32_t k = 0; k < col->p.shard_number; k++) {
        id_list l = {0};
        int rc = host_shard_scan(s[k], sel->filter, NULL, collect_id, &l, &err);
        if (rc) {
            vx_free(l.ids);
            api_fail_err(c, rc, &err);
            return rc;
        }
        for (size_t i = 0; i < l.n; i++)
            op(&cs->cmds[k], &l.ids[i], arg);
        vx_free(l.ids);
    }
    return 0;
}

/* Runs a selector-based write: op per selected point. */
static void selector_write(api_call *c, const gw_selector *sel, sel_fn op,
                           void *arg)
{
    pd_collection col;
    host_shard **s = NULL;
    cmd_set cs = {0};
    int wait;
    if (api_collection(c, &col) || (wait = api_wait(c)) < 0)
        return;
    if (api_acquire_shards(c, &col, &s) == 0 &&
        cmds_init(c, &cs, col.p.shard_number) == 0 &&
        select_points(c, &col, s, sel, &cs, op, arg) == 0)
        cmds_submit(c, s, &cs, wait);
    cmds_close(&cs);
    api_release_shards(c, &col, s);
}

static void op_delete(shard_cmd *cmd, const point_id *id, void *arg)
{
    (void)arg;
    shard_cmd_delete(cmd, id);
}

void gw_api_delete_points(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    vectron_error err = {0};
    gw_selector sel;
    int rc = gw_decode_delete_points(r->body, r->body_len, &c.api->o.limits,
                                     &sel, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    selector_write(&c, &sel, op_delete, NULL);
    gw_selector_close(&sel);
}

typedef struct payload_op {
    const gw_text *payload;
    int merge;
} payload_op;

static void op_set_payload(shard_cmd *cmd, const point_id *id, void *arg)
{
    const payload_op *p = arg;
    shard_cmd_set_payload(cmd, id, p->payload->data, p->payload->len, p->merge);
}

static void payload_write(void *ctx, const http_request *r, http_response *w,
                          int merge)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    vectron_error err = {0};
    gw_set_payload sp;
    int rc = gw_decode_set_payload(r->body, r->body_len, &c.api->o.limits, &sp,
                                   &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    if (sp.key) {
        api_fail(&c, VECTRON_UNSUPPORTED,
                 "key: setting a payload under a nested key is not "
                 "supported by Vectron");
    } else {
        payload_op op = {.payload = &sp.payload, .merge = merge};
        selector_write(&c, &sp.sel, op_set_payload, &op);
    }
    gw_set_payload_close(&sp);
}

void gw_api_set_payload(void *ctx, const http_request *r, http_response *w)
{
    payload_write(ctx, r, w, 1);
}

void gw_api_overwrite_payload(void *ctx, const http_request *r,
                              http_response *w)
{
    payload_write(ctx, r, w, 0);
}

static void op_clear_payload(shard_cmd *cmd, const point_id *id, void *arg)
{
    (void)arg;
    shard_cmd_set_payload(cmd, id, "{}", 2, 0);
}

void gw_api_clear_payload(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    vectron_error err = {0};
    gw_selector sel;
    int rc = gw_decode_delete_points(r->body, r->body_len, &c.api->o.limits,
                                     &sel, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    selector_write(&c, &sel, op_clear_payload, NULL);
    gw_selector_close(&sel);
}

static void op_delete_keys(shard_cmd *cmd, const point_id *id, void *arg)
{
    const gw_delete_payload *dp = arg;
    shard_cmd_delete_payload(cmd, id, (const char *const *)dp->keys, dp->nkeys);
}

void gw_api_delete_payload(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    vectron_error err = {0};
    gw_delete_payload dp;
    int rc = gw_decode_delete_payload(r->body, r->body_len, &c.api->o.limits,
                                      &dp, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    selector_write(&c, &dp.sel, op_delete_keys, &dp);
    gw_delete_payload_close(&dp);
}

/* ------------------------------------------------------------ retrieve */

static int cmp_id(const void *a, const void *b)
{
    return point_id_cmp(a, b);
}

/* Builds records for the points ids[0..n) that exist (missing ones are
 * left out, as Qdrant does). */
static void send_records(api_call *c, const pd_collection *col, host_shard **s,
                         const point_id *ids, size_t n,
                         const gw_payload_select *sel, int with_vector,
                         int single)
{
    vectron_error err = {0};
    gw_point_out *out = vx_calloc(n ? n : 1, sizeof(*out));
    store_point *pts = vx_calloc(n ? n : 1, sizeof(*pts));
    size_t k = 0;
    int rc = 0;
    if (!out || !pts)
        rc = vx_err(&err, VECTRON_NOMEM, "retrieve");
    /* Each point once, in the order first asked (as Qdrant): a sorted
     * copy of the ids with an emitted flag per distinct id. */
    point_id *sorted = vx_malloc((n ? n : 1) * sizeof(*sorted));
    uint8_t *emitted = vx_calloc(n ? n : 1, 1);
    if (!rc && (!sorted || !emitted))
        rc = vx_err(&err, VECTRON_NOMEM, "retrieve");
    if (!rc) {
        memcpy(sorted, ids, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), cmp_id);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        point_id *at = bsearch(&ids[i], sorted, n, sizeof(*sorted), cmp_id);
        size_t pos = (size_t)(at - sorted);
        while (pos > 0 && point_id_cmp(&sorted[pos - 1], &ids[i]) == 0)
            pos--; /* the first of equal ids carries the flag */
        if (emitted[pos])
            continue;
        emitted[pos] = 1;
        host_shard *sh = s[host_shard_of(&ids[i], col->p.shard_number)];
        rc = host_shard_get(sh, &ids[i], &pts[k], &err);
        if (rc == VECTRON_NOT_FOUND) {
            rc = 0;
            continue;
        }
        if (rc)
            break;
        out[k].id = ids[i];
        if (with_vector) {
            out[k].vector = pts[k].vector;
            out[k].dim = pts[k].dim;
        }
        rc = api_payload(pts[k].payload, pts[k].payload_len, sel,
                         &out[k].payload, &err);
        k++;
    }
    if (rc) {
        api_fail_err(c, rc, &err);
    } else if (single) {
        if (k == 0) {
            char idtext[64];
            point_id_format(&ids[0], idtext);
            char msg[128];
            snprintf(msg, sizeof msg, "Not found: No point with id %s found",
                     idtext);
            api_fail(c, VECTRON_NOT_FOUND, msg);
        } else {
            json_t *arr = gw_json_records(out, 1);
            json_t *one = arr ? json_incref(json_array_get(arr, 0)) : NULL;
            json_decref(arr);
            api_ok(c, one);
        }
    } else {
        api_ok(c, gw_json_records(out, k));
    }
    for (size_t i = 0; out && pts && i < n; i++) {
        json_decref(out[i].payload);
        store_point_clear(&pts[i]);
    }
    vx_free(out);
    vx_free(pts);
    vx_free(sorted);
    vx_free(emitted);
}

void gw_api_retrieve(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    pd_collection col;
    host_shard **s = NULL;
    vectron_error err = {0};
    gw_retrieve rq;
    if (api_collection(&c, &col))
        return;
    int rc =
        gw_decode_retrieve(r->body, r->body_len, &c.api->o.limits, &rq, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    if (api_acquire_shards(&c, &col, &s) == 0 &&
        api_consistency(&c, &col, s, rq.consistency) == 0)
        send_records(&c, &col, s, rq.ids, rq.count, &rq.with_payload,
                     rq.with_vector, 0);
    api_release_shards(&c, &col, s);
    gw_retrieve_close(&rq);
}

void gw_api_get_point(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    pd_collection col;
    host_shard **s = NULL;
    vectron_error err = {0};
    point_id id;
    if (api_collection(&c, &col))
        return;
    int rc =
        gw_point_id_parse_text(r->params[1], strlen(r->params[1]), &id, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    gw_payload_select all = {.mode = GW_PAYLOAD_ALL};
    if (api_acquire_shards(&c, &col, &s) == 0)
        send_records(&c, &col, s, &id, 1, &all, 1, 1);
    api_release_shards(&c, &col, s);
}

/* -------------------------------------------------------------- scroll */

/* The points a scroll keeps: the first limit + 1 by id across the shards
 * seen so far (the extra one is next_page_offset), plus room for one more
 * shard's page. Vectors and payloads are copied only when the response
 * carries them. */
typedef struct page {
    store_point *pts;
    size_t n, cap;  /* cap = 2 * keep */
    size_t keep;    /* limit + 1 */
    size_t shard_n; /* points added from the shard being scanned */
    int vectors, payloads;
} page;

static int page_add(void *arg, const store_point_view *p, vectron_error *err)
{
    page *pg = arg;
    if (pg->shard_n == pg->keep)
        return STORE_SCAN_STOP;
    store_point *q = &pg->pts[pg->n];
    memset(q, 0, sizeof(*q));
    q->id = p->id;
    q->internal_id = p->internal_id;
    q->dim = p->dim;
    if (pg->vectors) {
        q->vector = vx_malloc((size_t)p->dim * sizeof(float));
        if (!q->vector)
            return vx_err(err, VECTRON_NOMEM, "scroll");
        memcpy(q->vector, p->vector, (size_t)p->dim * sizeof(float));
    }
    if (pg->payloads) {
        q->payload = vx_malloc(p->payload_len + 1);
        if (!q->payload) {
            store_point_clear(q);
            return vx_err(err, VECTRON_NOMEM, "scroll");
        }
        memcpy(q->payload, p->payload, p->payload_len);
        q->payload[p->payload_len] = '\0';
        q->payload_len = p->payload_len;
    }
    pg->n++;
    pg->shard_n++;
    return 0;
}

static int cmp_point(const void *a, const void *b)
{
    return point_id_cmp(&((const store_point *)a)->id,
                        &((const store_point *)b)->id);
}

/* Keeps the first pg->keep points by id. */
static void page_trim(page *pg)
{
    qsort(pg->pts, pg->n, sizeof(*pg->pts), cmp_point);
    for (size_t i = pg->keep; i < pg->n; i++)
        store_point_clear(&pg->pts[i]);
    if (pg->n > pg->keep)
        pg->n = pg->keep;
}

void gw_api_scroll(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    pd_collection col;
    host_shard **s = NULL;
    vectron_error err = {0};
    gw_scroll sc;
    if (api_collection(&c, &col))
        return;
    int rc =
        gw_decode_scroll(r->body, r->body_len, &c.api->o.limits, &sc, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    page pg = {.keep = (size_t)sc.limit + 1,
               .vectors = sc.with_vector,
               .payloads = sc.with_payload.mode != GW_PAYLOAD_NONE};
    pg.cap = 2 * pg.keep;
    gw_point_out *out = NULL;
    pg.pts = vx_calloc(pg.cap, sizeof(*pg.pts));
    out = vx_calloc(pg.keep, sizeof(*out));
    if (!pg.pts || !out) {
        api_fail(&c, VECTRON_NOMEM, "out of memory");
        goto done;
    }
    if (api_acquire_shards(&c, &col, &s) ||
        api_consistency(&c, &col, s, sc.consistency))
        goto done;
    for (uint32_t k = 0; k < col.p.shard_number && !rc; k++) {
        pg.shard_n = 0;
        rc = host_shard_scan(s[k], sc.filter, sc.has_offset ? &sc.offset : NULL,
                             page_add, &pg, &err);
        page_trim(&pg);
    }
    if (rc) {
        api_fail_err(&c, rc, &err);
        goto done;
    }
    size_t n = pg.n < sc.limit ? pg.n : sc.limit;
    for (size_t i = 0; i < n && !rc; i++) {
        out[i].id = pg.pts[i].id;
        if (sc.with_vector) {
            out[i].vector = pg.pts[i].vector;
            out[i].dim = pg.pts[i].dim;
        }
        rc = api_payload(pg.pts[i].payload, pg.pts[i].payload_len,
                         &sc.with_payload, &out[i].payload, &err);
    }
    if (rc)
        api_fail_err(&c, rc, &err);
    else
        api_ok(&c,
               gw_json_scroll_result(out, n, pg.n > n ? &pg.pts[n].id : NULL));
    for (size_t i = 0; i < n; i++)
        json_decref(out[i].payload);
done:
    for (size_t i = 0; pg.pts && i < pg.n; i++)
        store_point_clear(&pg.pts[i]);
    vx_free(pg.pts);
    vx_free(out);
    api_release_shards(&c, &col, s);
    gw_scroll_close(&sc);
}

/* --------------------------------------------------------------- count */

void gw_api_count(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    pd_collection col;
    host_shard **s = NULL;
    vectron_error err = {0};
    gw_count cn;
    if (api_collection(&c, &col))
        return;
    int rc = gw_decode_count(r->body, r->body_len, &c.api->o.limits, &cn, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    if (api_acquire_shards(&c, &col, &s) == 0 &&
        api_consistency(&c, &col, s, cn.consistency) == 0) {
        uint64_t total = 0;
        for (uint32_t k = 0; k < col.p.shard_number && !rc; k++) {
            uint64_t n = 0;
            rc = host_shard_count(s[k], cn.filter, &n, &err);
            total += n;
        }
        if (rc)
            api_fail_err(&c, rc, &err);
        else
            api_ok(&c, gw_json_count_result(total));
    }
    api_release_shards(&c, &col, s);
    gw_count_close(&cn);
}
