/*
 * service.c - the worker's RPC services (service.h): decode the protobuf
 * request, check it, run it on the hosted replica, encode the answer.
 *
 * Threading: any number of RPC pool threads at once; each call works on
 * its own request, answer and pinned replica.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "filter/filter.h"
#include "proto/vectron.pb-c.h"
#include "rpc/methods.h"
#include "rpc/rpc_proto.h"
#include "worker/service.h"

/* ------------------------------------------------------------ helpers */

static void reply_err(rpc_request *rq, int code, const vectron_error *err)
{
    rpc_reply_error(rq, code, err && err->msg[0] ? err->msg : NULL);
}

/* Pins the replica of group; NULL when not hosted, answered UNAVAILABLE
 * (never NOT_FOUND, which a point lookup would take for "no such
 * point"): the caller tries another replica. */
static host_shard *pin(wk_service *svc, rpc_request *rq, uint64_t group)
{
    host_shard *s = host_acquire(svc->host, group);
    if (!s) {
        char msg[96];
        snprintf(msg, sizeof msg, "group %" PRIu64 " is not hosted here",
                 group);
        rpc_reply_error(rq, VECTRON_UNAVAILABLE, msg);
    }
    return s;
}

/* 0 when this replica leads its group; else NOT_LEADER is answered with
 * the leader hint ("leader=<id>", 0 when unknown). */
static int must_lead(wk_service *svc, rpc_request *rq, uint64_t group)
{
    vxr_group_info gi;
    vectron_error err = {0};
    int rc = vxr_group_status(svc->node, group, &gi, &err);
    if (rc) {
        rpc_reply_error(rq, VECTRON_UNAVAILABLE, err.msg);
        return -1;
    }
    if (gi.state != VXR_STATE_LEADER) {
        char msg[64];
        snprintf(msg, sizeof msg, "leader=%" PRIu64, gi.leader_id);
        rpc_reply_error(rq, VECTRON_NOT_LEADER, msg);
        return -1;
    }
    return 0;
}

/* How long a bounded read waits for a replica to apply the index it asks
 * for before refusing ("replica behind", UNAVAILABLE: the gateway tries
 * another replica). */
#define BOUNDED_WAIT_MS 50u

/* Applies the read consistency; on failure the answer is sent. */
static int read_point(wk_service *svc, rpc_request *rq, host_shard *s,
                      uint32_t consistency, uint64_t min_applied)
{
    vectron_error err = {0};
    if (consistency == 1) {
        if (must_lead(svc, rq, host_shard_group(s)))
            return -1;
        int rc = host_barrier(svc->host, s, svc->timeout_ms, &err);
        if (rc) {
            reply_err(rq, rc, &err);
            return -1;
        }
    } else if (consistency == 2) {
        /* A replica a little behind (entries committed, not yet applied)
         * gets up to BOUNDED_WAIT_MS to catch up; further behind, the
         * gateway asks another replica. This runs on an RPC pool thread,
         * never the Raft loop, so sleeping here does not hold up apply. */
        uint64_t applied = host_shard_applied(s);
        for (unsigned waited = 0;
             applied < min_applied && waited < BOUNDED_WAIT_MS; waited++) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
            applied = host_shard_applied(s);
        }
        if (applied < min_applied) {
            char msg[128];
            snprintf(msg, sizeof msg,
                     "replica behind: applied %" PRIu64 " < %" PRIu64, applied,
                     min_applied);
            rpc_reply_error(rq, VECTRON_UNAVAILABLE, msg);
            return -1;
        }
    } else if (consistency != 0 && consistency != 3) {
        rpc_reply_error(rq, VECTRON_INVALID, "bad consistency");
        return -1;
    }
    return 0;
}

/* Parses the filter text (empty: none); on failure INVALID is sent. */
static int filter_of(wk_service *svc, rpc_request *rq,
                     const ProtobufCBinaryData *text, gw_filter **out)
{
    vectron_error err = {0};
    *out = NULL;
    if (text->len == 0)
        return 0;
    if (gw_filter_parse((const char *)text->data, text->len,
                        svc->max_filter_depth, out, &err)) {
        reply_err(rq, VECTRON_INVALID, &err);
        return -1;
    }
    return 0;
}

#define DECODE(type, fn)                                                       \
    type *m = fn##__unpack(NULL, len, req);                                    \
    if (!m) {                                                                  \
        rpc_reply_error(rq, VECTRON_INVALID, "request does not decode");       \
        return;                                                                \
    }

/* ------------------------------------------------------------- writes */

static void do_write(wk_service *svc, rpc_request *rq, const uint8_t *req,
                     size_t len)
{
    DECODE(Vectron__ShardWriteRequest, vectron__shard_write_request);
    vectron_error err = {0};
    host_shard *s = NULL;
    if (m->command.len == 0) {
        rpc_reply_error(rq, VECTRON_INVALID, "empty command");
        goto out;
    }
    if (!(s = pin(svc, rq, m->group)) || must_lead(svc, rq, m->group))
        goto out;
    uint64_t known = host_shard_conf_epoch(s);
    if (m->conf_epoch && m->conf_epoch < known) {
        /* The caller routes by an older placement: it refreshes its
         * catalog and retries (the write itself would be safe: Raft
         * orders it, but the caller's view of the replicas is stale). */
        char msg[160];
        snprintf(msg, sizeof msg,
                 "group %" PRIu64 ": stale placement epoch %" PRIu64
                 " (this replica knows %" PRIu64 "): refresh the catalog",
                 m->group, m->conf_epoch, known);
        rpc_reply_error(rq, VECTRON_UNAVAILABLE, msg);
        goto out;
    }
    const uint8_t *buf = m->command.data;
    size_t blen = m->command.len;
    uint64_t index = 0;
    int completed = 0;
    int rc = host_write(svc->host, 1, &s, &buf, &blen, m->wait, svc->timeout_ms,
                        &index, &completed, &err);
    if (rc) {
        reply_err(rq, rc, &err);
        goto out;
    }
    Vectron__ShardWriteResponse r = VECTRON__SHARD_WRITE_RESPONSE__INIT;
    r.index = index;
    r.completed = completed;
    rpc_reply_msg(rq, &r.base);
out:
    if (s)
        host_release(s);
    vectron__shard_write_request__free_unpacked(m, NULL);
}

/* -------------------------------------------------------------- reads */

static void do_search(wk_service *svc, rpc_request *rq, const uint8_t *req,
                      size_t len)
{
    DECODE(Vectron__ShardSearchRequest, vectron__shard_search_request);
    vectron_error err = {0};
    host_shard *s = NULL;
    gw_filter *filter = NULL;
    shard_hit *hits = NULL;
    Vectron__Hit *hm = NULL;
    Vectron__Hit **hp = NULL;
    Vectron__PointId *ids = NULL;
    point_id exclude;
    if (!(s = pin(svc, rq, m->group)))
        goto out;
    if (m->n_vector != host_shard_dim(s)) {
        snprintf(err.msg, sizeof err.msg,
                 "vector of %zu dimensions, the collection has %u", m->n_vector,
                 host_shard_dim(s));
        reply_err(rq, VECTRON_DIMENSION, &err);
        goto out;
    }
    if (m->k == 0 || m->k > svc->max_k) {
        snprintf(err.msg, sizeof err.msg, "k %u not in 1..%u", m->k,
                 svc->max_k);
        reply_err(rq, VECTRON_INVALID, &err);
        goto out;
    }
    if (m->exclude && rpc_point_id_from(m->exclude, &exclude, &err)) {
        reply_err(rq, VECTRON_INVALID, &err);
        goto out;
    }
    if (read_point(svc, rq, s, m->consistency, m->min_applied) ||
        filter_of(svc, rq, &m->filter, &filter))
        goto out;
    host_search hs = {.vector = m->vector,
                      .k = m->k,
                      .ef = m->ef,
                      .exact = m->exact,
                      .filter = filter,
                      .rescore = m->rescore,
                      .oversampling = m->oversampling,
                      .exact_selectivity = m->exact_selectivity,
                      .exclude = m->exclude ? &exclude : NULL};
    size_t n = 0;
    hits = vx_malloc(m->k * sizeof *hits);
    if (!hits) {
        rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    int rc = host_shard_search(s, &hs, hits, &n, &err);
    if (rc) {
        reply_err(rq, rc, &err);
        goto out;
    }
    hm = vx_calloc(n ? n : 1, sizeof *hm);
    hp = vx_calloc(n ? n : 1, sizeof *hp);
    ids = vx_calloc(n ? n : 1, sizeof *ids);
    if (!hm || !hp || !ids) {
        rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        vectron__hit__init(&hm[i]);
        rpc_point_id_to(&hits[i].id, &ids[i]);
        hm[i].id = &ids[i];
        hm[i].distance = hits[i].distance;
        hp[i] = &hm[i];
    }
    Vectron__ShardSearchResponse r = VECTRON__SHARD_SEARCH_RESPONSE__INIT;
    r.n_hits = n;
    r.hits = hp;
    r.applied_index = host_shard_applied(s);
    rpc_reply_msg(rq, &r.base);
out:
    vx_free(hits);
    vx_free(hm);
    vx_free(hp);
    vx_free(ids);
    gw_filter_free(filter);
    if (s)
        host_release(s);
    vectron__shard_search_request__free_unpacked(m, NULL);
}

/* Points collected for an answer (get and scan). */
typedef struct point_list {
    Vectron__Point *pts;
    Vectron__Point **ptrs;
    Vectron__PointId *ids;
    point_id *idcopy;   /* the ids the messages point into */
    store_point *owned; /* get: the store's copies */
    size_t n, cap;
    int vectors, payloads;
    uint32_t limit; /* scan: stop after this many */
    point_id next;  /* scan: the first point not returned */
    int has_next;
    char **copies; /* scan: payload and vector copies */
    size_t ncopies;
} point_list;

static int list_grow(point_list *l)
{
    if (l->n < l->cap)
        return 0;
    size_t cap = l->cap ? l->cap * 2 : 16;
    Vectron__Point *p = vx_realloc(l->pts, cap * sizeof *p);
    if (!p)
        return VECTRON_NOMEM;
    l->pts = p;
    Vectron__PointId *ids = vx_realloc(l->ids, cap * sizeof *ids);
    if (!ids)
        return VECTRON_NOMEM;
    l->ids = ids;
    point_id *idc = vx_realloc(l->idcopy, cap * sizeof *idc);
    if (!idc)
        return VECTRON_NOMEM;
    l->idcopy = idc;
    char **c = vx_realloc(l->copies, 2 * cap * sizeof *c);
    if (!c)
        return VECTRON_NOMEM;
    l->copies = c;
    l->cap = cap;
    return 0;
}

/* Adds a point whose vector and payload stay valid until the answer is
 * sent (copied by the caller when they are borrowed). */
static int list_add(point_list *l, const point_id *id, const float *vec,
                    uint32_t dim, const char *payload, size_t plen)
{
    if (list_grow(l))
        return VECTRON_NOMEM;
    Vectron__Point *p = &l->pts[l->n];
    vectron__point__init(p);
    l->idcopy[l->n] = *id; /* the message's id is set by list_finish, once
                              the arrays stop moving */
    if (l->vectors && vec) {
        p->has_vector = 1;
        p->n_vector = dim;
        p->vector = (float *)vec;
    }
    if (l->payloads && plen) {
        p->payload.len = plen;
        p->payload.data = (uint8_t *)payload;
    }
    l->n++;
    return 0;
}

/* Frees what the list holds (after the answer is sent). */
static void list_free(point_list *l)
{
    for (size_t i = 0; i < l->ncopies; i++)
        vx_free(l->copies[i]);
    if (l->owned)
        for (size_t i = 0; i < l->n; i++)
            store_point_clear(&l->owned[i]);
    vx_free(l->owned);
    vx_free(l->copies);
    vx_free(l->pts);
    vx_free(l->ptrs);
    vx_free(l->ids);
    vx_free(l->idcopy);
}

static int list_finish(point_list *l)
{
    l->ptrs = vx_calloc(l->n ? l->n : 1, sizeof *l->ptrs);
    if (!l->ptrs)
        return VECTRON_NOMEM;
    for (size_t i = 0; i < l->n; i++) {
        rpc_point_id_to(&l->idcopy[i], &l->ids[i]);
        l->pts[i].id = &l->ids[i];
        l->ptrs[i] = &l->pts[i];
    }
    return 0;
}

static void do_get(wk_service *svc, rpc_request *rq, const uint8_t *req,
                   size_t len)
{
    DECODE(Vectron__ShardGetRequest, vectron__shard_get_request);
    vectron_error err = {0};
    host_shard *s = NULL;
    point_list l = {.vectors = m->with_vector, .payloads = m->with_payload};
    if (m->n_ids > svc->max_k) {
        rpc_reply_error(rq, VECTRON_INVALID, "too many ids");
        goto out;
    }
    if (!(s = pin(svc, rq, m->group)) ||
        read_point(svc, rq, s, m->consistency, m->min_applied))
        goto out;
    l.owned = vx_calloc(m->n_ids ? m->n_ids : 1, sizeof *l.owned);
    if (!l.owned) {
        rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < m->n_ids; i++) {
        point_id id;
        if (rpc_point_id_from(m->ids[i], &id, &err)) {
            reply_err(rq, VECTRON_INVALID, &err);
            goto out;
        }
        store_point *p = &l.owned[l.n];
        int rc = host_shard_get(s, &id, p, &err);
        if (rc == VECTRON_NOT_FOUND)
            continue;
        if (rc || list_add(&l, &p->id, p->vector, p->dim, p->payload,
                           p->payload_len)) {
            store_point_clear(p);
            reply_err(rq, rc ? rc : VECTRON_NOMEM, &err);
            goto out;
        }
    }
    if (list_finish(&l)) {
        rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    Vectron__ShardGetResponse r = VECTRON__SHARD_GET_RESPONSE__INIT;
    r.n_points = l.n;
    r.points = l.ptrs;
    r.applied_index = host_shard_applied(s);
    rpc_reply_msg(rq, &r.base);
out:
    list_free(&l);
    if (s)
        host_release(s);
    vectron__shard_get_request__free_unpacked(m, NULL);
}

/* Scan callback: copies the borrowed vector and payload. */
static int scan_add(void *arg, const store_point_view *p, vectron_error *err)
{
    point_list *l = arg;
    if (l->n == l->limit) {
        l->next = p->id;
        l->has_next = 1;
        return STORE_SCAN_STOP;
    }
    if (list_grow(l))
        return vx_err(err, VECTRON_NOMEM, "scan");
    float *vec = NULL;
    char *pl = NULL;
    if (l->vectors) {
        vec = vx_malloc((p->dim ? p->dim : 1) * sizeof *vec);
        if (!vec)
            return vx_err(err, VECTRON_NOMEM, "scan");
        memcpy(vec, p->vector, p->dim * sizeof *vec);
        l->copies[l->ncopies++] = (char *)vec;
    }
    if (l->payloads && p->payload_len) {
        pl = vx_malloc(p->payload_len);
        if (!pl)
            return vx_err(err, VECTRON_NOMEM, "scan");
        memcpy(pl, p->payload, p->payload_len);
        l->copies[l->ncopies++] = pl;
    }
    if (list_add(l, &p->id, vec, p->dim, pl, p->payload_len))
        return vx_err(err, VECTRON_NOMEM, "scan");
    return 0;
}

static void do_scan(wk_service *svc, rpc_request *rq, const uint8_t *req,
                    size_t len)
{
    DECODE(Vectron__ShardScanRequest, vectron__shard_scan_request);
    vectron_error err = {0};
    host_shard *s = NULL;
    gw_filter *filter = NULL;
    point_id from;
    point_list l = {.vectors = m->with_vector,
                    .payloads = m->with_payload,
                    .limit = m->limit};
    Vectron__PointId next = VECTRON__POINT_ID__INIT;
    if (m->limit == 0 || m->limit > svc->max_k) {
        rpc_reply_error(rq, VECTRON_INVALID, "limit out of range");
        goto out;
    }
    if (m->has_from && rpc_point_id_from(m->from, &from, &err)) {
        reply_err(rq, VECTRON_INVALID, &err);
        goto out;
    }
    if (!(s = pin(svc, rq, m->group)) ||
        read_point(svc, rq, s, m->consistency, m->min_applied) ||
        filter_of(svc, rq, &m->filter, &filter))
        goto out;
    int rc = host_shard_scan(s, filter, m->has_from ? &from : NULL, scan_add,
                             &l, &err);
    if (rc || list_finish(&l)) {
        reply_err(rq, rc ? rc : VECTRON_NOMEM, &err);
        goto out;
    }
    Vectron__ShardScanResponse r = VECTRON__SHARD_SCAN_RESPONSE__INIT;
    r.n_points = l.n;
    r.points = l.ptrs;
    if (l.has_next) {
        rpc_point_id_to(&l.next, &next);
        r.next = &next;
        r.has_next = 1;
    }
    r.applied_index = host_shard_applied(s);
    rpc_reply_msg(rq, &r.base);
out:
    list_free(&l);
    gw_filter_free(filter);
    if (s)
        host_release(s);
    vectron__shard_scan_request__free_unpacked(m, NULL);
}

static void do_count(wk_service *svc, rpc_request *rq, const uint8_t *req,
                     size_t len)
{
    DECODE(Vectron__ShardCountRequest, vectron__shard_count_request);
    vectron_error err = {0};
    host_shard *s = NULL;
    gw_filter *filter = NULL;
    if (!(s = pin(svc, rq, m->group)) ||
        read_point(svc, rq, s, m->consistency, m->min_applied) ||
        filter_of(svc, rq, &m->filter, &filter))
        goto out;
    uint64_t count = 0;
    int rc = host_shard_count(s, filter, &count, &err);
    if (rc) {
        reply_err(rq, rc, &err);
        goto out;
    }
    Vectron__ShardCountResponse r = VECTRON__SHARD_COUNT_RESPONSE__INIT;
    r.count = count;
    r.applied_index = host_shard_applied(s);
    rpc_reply_msg(rq, &r.base);
out:
    gw_filter_free(filter);
    if (s)
        host_release(s);
    vectron__shard_count_request__free_unpacked(m, NULL);
}

void wk_report_to(const host_report *hr, uint64_t requests,
                  Vectron__ShardReport *m)
{
    vectron__shard_report__init(m);
    m->group = hr->group;
    m->role = (uint32_t)hr->role;
    m->term = hr->term;
    m->commit_index = hr->commit_index;
    m->applied_index = hr->applied_index;
    m->points = hr->points;
    m->bytes = hr->bytes;
    m->requests = requests;
    m->leader_id = hr->leader_id;
    m->pending = hr->pending;
    m->voters = hr->n_voters;
}

static void do_status(wk_service *svc, rpc_request *rq, const uint8_t *req,
                      size_t len)
{
    DECODE(Vectron__ShardStatusRequest, vectron__shard_status_request);
    vectron_error err = {0};
    uint64_t *groups = NULL;
    size_t n = 0;
    Vectron__ShardReport *rs = NULL;
    Vectron__ShardReport **rp = NULL;
    if (m->n_groups == 0) {
        if (host_groups(svc->host, &groups, &n, &err)) {
            reply_err(rq, VECTRON_NOMEM, &err);
            goto out;
        }
    }
    const uint64_t *want = m->n_groups ? m->groups : groups;
    size_t nw = m->n_groups ? m->n_groups : n;
    rs = vx_calloc(nw ? nw : 1, sizeof *rs);
    rp = vx_calloc(nw ? nw : 1, sizeof *rp);
    if (!rs || !rp) {
        rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < nw; i++) {
        host_report hr;
        if (host_report_of(svc->host, want[i], &hr, NULL))
            continue;
        wk_report_to(&hr, 0, &rs[k]);
        rp[k] = &rs[k];
        k++;
    }
    Vectron__ShardStatusResponse r = VECTRON__SHARD_STATUS_RESPONSE__INIT;
    r.n_shards = k;
    r.shards = rp;
    rpc_reply_msg(rq, &r.base);
out:
    vx_free(groups);
    vx_free(rs);
    vx_free(rp);
    vectron__shard_status_request__free_unpacked(m, NULL);
}

static void do_info(wk_service *svc, rpc_request *rq, const uint8_t *req,
                    size_t len)
{
    DECODE(Vectron__ShardInfoRequest, vectron__shard_info_request);
    vectron_error err = {0};
    host_shard *s = NULL;
    host_shard_info info = {0};
    Vectron__IndexInfo *ii = NULL;
    Vectron__IndexInfo **ip = NULL;
    if (!(s = pin(svc, rq, m->group)))
        goto out;
    int rc = host_shard_info_of(s, m->index_points, &info, &err);
    if (rc) {
        reply_err(rq, rc, &err);
        goto out;
    }
    ii = vx_calloc(info.n_indexes ? info.n_indexes : 1, sizeof *ii);
    ip = vx_calloc(info.n_indexes ? info.n_indexes : 1, sizeof *ip);
    if (!ii || !ip) {
        rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < info.n_indexes; i++) {
        vectron__index_info__init(&ii[i]);
        ii[i].field = info.indexes[i].field;
        ii[i].type = (uint32_t)info.indexes[i].type;
        ii[i].points = info.indexes[i].points;
        ip[i] = &ii[i];
    }
    Vectron__ShardInfoResponse r = VECTRON__SHARD_INFO_RESPONSE__INIT;
    r.points = info.points;
    r.pending = info.pending;
    r.applied_index = info.applied_index;
    r.n_indexes = info.n_indexes;
    r.indexes = ip;
    rpc_reply_msg(rq, &r.base);
out:
    vx_free(ii);
    vx_free(ip);
    host_shard_info_clear(&info);
    if (s)
        host_release(s);
    vectron__shard_info_request__free_unpacked(m, NULL);
}

/* ------------------------------------------------------------ control */

/* Answers a control order: the error of a Raft request (its negative
 * outcomes read as UNAVAILABLE), or an Empty message. */
static void reply_done(rpc_request *rq, int rc, const vectron_error *err)
{
    if (rc) {
        reply_err(rq, rc > 0 ? rc : VECTRON_UNAVAILABLE, err);
        return;
    }
    Vectron__Empty e = VECTRON__EMPTY__INIT;
    rpc_reply_msg(rq, &e.base);
}

static void do_change(wk_service *svc, rpc_request *rq, const uint8_t *req,
                      size_t len)
{
    DECODE(Vectron__ChangeReplicasRequest, vectron__change_replicas_request);
    vectron_error err = {0};
    int rc = 0;
    if ((m->add_node == 0) == (m->remove_node == 0)) {
        rpc_reply_error(rq, VECTRON_INVALID,
                        "exactly one of add_node and remove_node");
        goto out;
    }
    if (must_lead(svc, rq, m->group))
        goto out;
    if (m->add_node) {
        vxr_request a = {.type = VXR_OP_ADD,
                         .group_id = m->group,
                         .member_id = m->add_node,
                         .address = m->add_raft_address};
        vxr_request v = {.type = VXR_OP_ASSIGN,
                         .group_id = m->group,
                         .member_id = m->add_node,
                         .role = VXR_ROLE_VOTER};
        rc = vxr_submit_wait(svc->node, &a, svc->timeout_ms, NULL, &err);
        /* Already a member (a retried order): go on to the promotion;
         * an existing voter refuses that (INVALID): done already. */
        if (rc == 0 || rc == VECTRON_EXISTS) {
            int existed = rc == VECTRON_EXISTS;
            rc = vxr_submit_wait(svc->node, &v, svc->timeout_ms, NULL, &err);
            if (existed && rc == VECTRON_INVALID)
                rc = 0;
        }
    } else {
        vxr_request r = {.type = VXR_OP_REMOVE,
                         .group_id = m->group,
                         .member_id = m->remove_node};
        rc = vxr_submit_wait(svc->node, &r, svc->timeout_ms, NULL, &err);
    }
    reply_done(rq, rc, &err);
out:
    vectron__change_replicas_request__free_unpacked(m, NULL);
}

static void do_transfer(wk_service *svc, rpc_request *rq, const uint8_t *req,
                        size_t len)
{
    DECODE(Vectron__TransferLeaderRequest, vectron__transfer_leader_request);
    vectron_error err = {0};
    if (must_lead(svc, rq, m->group))
        goto out;
    vxr_request t = {
        .type = VXR_OP_TRANSFER, .group_id = m->group, .member_id = m->to_node};
    reply_done(rq, vxr_submit_wait(svc->node, &t, svc->timeout_ms, NULL, &err),
               &err);
out:
    vectron__transfer_leader_request__free_unpacked(m, NULL);
}

static void do_store_copy(wk_service *svc, rpc_request *rq, const uint8_t *req,
                          size_t len)
{
    DECODE(Vectron__StoreCopyRequest, vectron__store_copy_request);
    vectron_error err = {0};
    uint64_t id = m->copy_id, size = 0, applied = 0;
    uint8_t *buf = vx_malloc(1u << 20);
    size_t n = 0;
    int last = 0, rc = 0;
    if (!buf) {
        rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    if (id == 0) {
        if (m->offset != 0) {
            rpc_reply_error(rq, VECTRON_INVALID, "a new copy starts at 0");
            goto out;
        }
        rc = host_copy_begin(svc->host, m->group, &id, &size, &applied, &err);
    }
    if (!rc)
        rc = host_copy_read(svc->host, id, m->offset, buf, 1u << 20, &n, &size,
                            &last, &err);
    if (rc) {
        reply_err(rq, rc, &err);
        goto out;
    }
    Vectron__StoreCopyResponse r = VECTRON__STORE_COPY_RESPONSE__INIT;
    r.copy_id = id;
    r.total = size;
    r.data.data = buf;
    r.data.len = n;
    r.crc = vx_crc32c(0, buf, n);
    r.last = last;
    r.applied_index = applied;
    rpc_reply_msg(rq, &r.base);
out:
    vx_free(buf);
    vectron__store_copy_request__free_unpacked(m, NULL);
}

void wk_service_handle(void *ctx, rpc_request *rq, uint16_t method,
                       const uint8_t *req, size_t len)
{
    wk_service *svc = ctx;
    atomic_fetch_add(&svc->requests, 1);
    switch (method) {
    case RPC_SHARD_WRITE:
        do_write(svc, rq, req, len);
        return;
    case RPC_SHARD_SEARCH:
        do_search(svc, rq, req, len);
        return;
    case RPC_SHARD_GET:
        do_get(svc, rq, req, len);
        return;
    case RPC_SHARD_SCAN:
        do_scan(svc, rq, req, len);
        return;
    case RPC_SHARD_COUNT:
        do_count(svc, rq, req, len);
        return;
    case RPC_SHARD_STATUS:
        do_status(svc, rq, req, len);
        return;
    case RPC_SHARD_INFO:
        do_info(svc, rq, req, len);
        return;
    case RPC_CTL_CHANGE_REPLICAS:
        do_change(svc, rq, req, len);
        return;
    case RPC_CTL_TRANSFER_LEADER:
        do_transfer(svc, rq, req, len);
        return;
    case RPC_CTL_STORE_COPY:
        do_store_copy(svc, rq, req, len);
        return;
    default:
        rpc_reply_error(rq, VECTRON_UNSUPPORTED, "unknown method");
    }
}
