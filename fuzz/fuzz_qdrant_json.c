/*
 * fuzz_qdrant_json.c - libFuzzer harness over every gateway decoder.
 *
 * Input: byte 0 selects the decoder, byte 1 holds the collection
 * dimension (1 + bits 0-1) and, for the bulk body, whether to recompute
 * its CRC32C (bit 2) so the fuzzer gets past the checksum; the rest is
 * the body. Whatever a decoder accepts is pushed further: decoded points
 * go through the bulk encoder and back, filters through their canonical
 * JSON and back and are evaluated, and responses built from the input
 * must parse as JSON again. Any inconsistency aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "gateway/qdrant_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            abort();                                                           \
        }                                                                      \
    } while (0)

static const char payload_text[] =
    "{\"a\":1,\"b\":\"x\",\"c\":[1,2.5,null,{\"d\":true}],\"e\":{\"f\":[]},"
    "\"g\":18446744073709551615}";

/* Output text must be JSON that gw_json_load accepts. */
static void check_json_text(const char *s, size_t n)
{
    json_t *j;

    CHECK(gw_json_load(s, n, &j, NULL) == 0);
    json_decref(j);
}

/* A filter's canonical JSON must re-decode to the same canonical JSON and
 * give the same verdicts. */
static void exercise_filter(const gw_filter *f)
{
    json_t *j = gw_filter_to_json(f), *p = NULL;
    char *s = NULL, *s2 = NULL;
    size_t n, n2;
    gw_filter *g = NULL;
    gw_index_cond conds[4];
    point_id id = {0, 1, {0}};

    if (!j) {
        return;
    }
    CHECK(gw_json_dump(j, &s, &n, NULL) == 0);
    json_decref(j);
    CHECK(gw_filter_parse(s, n, 64, &g, NULL) == 0);
    j = gw_filter_to_json(g);
    CHECK(j && gw_json_dump(j, &s2, &n2, NULL) == 0);
    CHECK(n == n2 && memcmp(s, s2, n) == 0);
    json_decref(j);
    CHECK(gw_json_load(payload_text, sizeof payload_text - 1, &p, NULL) == 0);
    CHECK(gw_filter_match(f, p, &id) == gw_filter_match(g, p, &id));
    CHECK(gw_filter_match(f, NULL, NULL) == gw_filter_match(g, NULL, NULL));
    size_t nc = gw_filter_index_conds(f, conds, 4);
    CHECK(nc == gw_filter_index_conds(g, NULL, 0));
    json_decref(p);
    gw_filter_free(g);
    vx_free(s);
    vx_free(s2);
}

/* Points survive the bulk encoder and decoder unchanged, and render as
 * valid response JSON. */
static void exercise_upsert(const gw_upsert *u)
{
    uint8_t *b = NULL;
    size_t n;
    gw_upsert v;
    gw_point_out *pts;
    char *s;
    int uuid = u->count && u->ids[0].is_uuid;

    for (size_t i = 0; i < u->count; i++) {
        if (u->ids[i].is_uuid != uuid) {
            return; /* the bulk body has one id kind */
        }
    }
    CHECK(gw_encode_bulk_upsert(u->ids, u->vectors, u->payloads, u->count,
                                u->dim, &b, &n, NULL) == 0);
    CHECK(gw_decode_bulk_upsert(b, n, u->dim, NULL, &v, NULL) == 0);
    CHECK(v.count == u->count);
    CHECK(memcmp(v.vectors, u->vectors, u->count * u->dim * 4) == 0);
    for (size_t i = 0; i < u->count; i++) {
        CHECK(point_id_cmp(&v.ids[i], &u->ids[i]) == 0);
        if (u->payloads && u->payloads[i].data) {
            CHECK(v.payloads && v.payloads[i].len == u->payloads[i].len);
            CHECK(memcmp(v.payloads[i].data, u->payloads[i].data,
                         v.payloads[i].len) == 0);
        }
    }
    pts = calloc(u->count ? u->count : 1, sizeof *pts);
    for (size_t i = 0; pts && i < u->count; i++) {
        pts[i].id = u->ids[i];
        pts[i].score = u->vectors[i * u->dim];
        pts[i].vector = u->vectors + i * u->dim;
        pts[i].dim = u->dim;
        if (u->payloads && u->payloads[i].data) {
            CHECK(gw_json_load(u->payloads[i].data, u->payloads[i].len,
                               &pts[i].payload, NULL) == 0);
            CHECK(json_is_object(pts[i].payload));
        }
    }
    if (pts && gw_respond_ok(gw_json_scored_points(pts, u->count), 0.1, 0, &s,
                             &n, NULL) == 0) {
        check_json_text(s, n);
        vx_free(s);
    }
    for (size_t i = 0; pts && i < u->count; i++) {
        json_decref(pts[i].payload);
    }
    free(pts);
    gw_upsert_close(&v);
    vx_free(b);
}

/* A decoded rerank extension is consistent, and its strategy runs on a
 * few synthetic candidates (vectors of the query's dimension, the payload
 * above) without error. */
static void exercise_rerank(const gw_search *s, uint32_t dim)
{
    const gw_rerank *r = &s->rerank;
    static const float vecs[3][4] = {
        {1, 0, 0, 0}, {0.5f, 0.5f, 0, 1}, {-1, 2, 3, 4}};
    json_t *p = NULL;
    rerank_cand c[3];
    rerank_field_weight fw[8];
    point_id lid[3];
    rerank_list lists[2];
    rerank_fused *out = NULL;
    size_t n = 0;

    if (r->strategy == RERANK_NONE) {
        return;
    }
    CHECK(s->kind != GW_QUERY_NONE);
    CHECK(r->candidates == 0 ||
          r->candidates >= (uint64_t)s->limit + s->offset);
    CHECK(r->lambda >= 0 && r->lambda <= 1);
    CHECK(r->strategy != RERANK_BOOST || r->nfields || r->time_field);
    CHECK(r->strategy != RERANK_BOOST || !r->time_field || r->half_life_s > 0);
    CHECK(r->strategy != RERANK_RRF || r->nqueries >= 1);
    CHECK(gw_json_load(payload_text, sizeof payload_text - 1, &p, NULL) == 0);
    for (int i = 0; i < 3; i++) {
        memset(&c[i].id, 0, sizeof c[i].id);
        c[i].id.num = (uint64_t)(3 - i);
        c[i].score = (float)i;
        c[i].vector = vecs[i];
        c[i].payload = i == 1 ? p : NULL;
        lid[i] = c[i].id;
    }
    size_t nf = r->nfields < 8 ? r->nfields : 8;
    for (size_t i = 0; i < nf; i++) {
        fw[i].field = r->fields[i];
        fw[i].weight = r->weights[i];
    }
    lists[0] = (rerank_list){lid, 3};
    lists[1] = (rerank_list){lid + 1, 2};
    rerank_request rq = {.strategy = r->strategy,
                         .metric = VECTRON_METRIC_COSINE,
                         .dim = dim,
                         .query = s->vector ? s->vector : vecs[0],
                         .cands = c,
                         .ncands = 3,
                         .lists = lists,
                         .nlists = 2,
                         .limit = s->limit,
                         .lambda = r->lambda,
                         .boost = {.fields = fw,
                                   .nfields = nf,
                                   .time_field = r->time_field,
                                   .half_life_s = r->half_life_s,
                                   .recency_weight = r->recency_weight,
                                   .now_s = r->has_now ? r->now_s : 0},
                         .rrf_k = r->rrf_k};
    CHECK(rerank_run(&rq, &out, &n, NULL) == 0);
    CHECK(n <= 3 && n <= s->limit);
    vx_free(out);
    json_decref(p);
}

static void exercise_search(const gw_search *s, uint32_t dim)
{
    if (s->filter) {
        exercise_filter(s->filter);
    }
    exercise_rerank(s, dim);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body;
    size_t len;
    uint32_t dim;
    int sel;

    if (size < 2 || size > (1u << 20)) {
        return 0;
    }
    sel = data[0] % 16;
    dim = 1 + (data[1] & 3);
    body = (const char *)data + 2;
    len = size - 2;

    switch (sel) {
    case 0: {
        gw_collection_config c;
        (void)gw_decode_create_collection(body, len, NULL, &c, NULL);
        break;
    }
    case 1: {
        gw_upsert u;
        if (gw_decode_upsert(body, len, dim, NULL, &u, NULL) == 0) {
            exercise_upsert(&u);
            gw_upsert_close(&u);
        }
        break;
    }
    case 2:
    case 3: {
        gw_search s;
        int rc = sel == 2 ? gw_decode_query(body, len, dim, NULL, &s, NULL)
                          : gw_decode_search(body, len, dim, NULL, &s, NULL);
        if (rc == 0) {
            exercise_search(&s, dim);
            gw_search_close(&s);
        }
        break;
    }
    case 4:
    case 5: {
        gw_search_batch b;
        int rc = sel == 4
                     ? gw_decode_query_batch(body, len, dim, NULL, &b, NULL)
                     : gw_decode_search_batch(body, len, dim, NULL, &b, NULL);
        if (rc == 0) {
            for (size_t i = 0; i < b.count; i++) {
                exercise_search(&b.searches[i], dim);
            }
            gw_search_batch_close(&b);
        }
        break;
    }
    case 6: {
        gw_retrieve r;
        if (gw_decode_retrieve(body, len, NULL, &r, NULL) == 0) {
            gw_retrieve_close(&r);
        }
        break;
    }
    case 7: {
        gw_selector s;
        if (gw_decode_delete_points(body, len, NULL, &s, NULL) == 0) {
            if (s.filter) {
                exercise_filter(s.filter);
            }
            gw_selector_close(&s);
        }
        break;
    }
    case 8: {
        gw_set_payload p;
        if (gw_decode_set_payload(body, len, NULL, &p, NULL) == 0) {
            check_json_text(p.payload.data, p.payload.len);
            gw_set_payload_close(&p);
        }
        break;
    }
    case 9: {
        gw_delete_payload p;
        if (gw_decode_delete_payload(body, len, NULL, &p, NULL) == 0) {
            gw_delete_payload_close(&p);
        }
        break;
    }
    case 10: {
        gw_scroll s;
        if (gw_decode_scroll(body, len, NULL, &s, NULL) == 0) {
            if (s.filter) {
                exercise_filter(s.filter);
            }
            gw_scroll_close(&s);
        }
        break;
    }
    case 11: {
        gw_count c;
        if (gw_decode_count(body, len, NULL, &c, NULL) == 0) {
            gw_count_close(&c);
        }
        gw_payload_index pi;
        if (gw_decode_payload_index(body, len, &pi, NULL) == 0) {
            gw_payload_index_close(&pi);
        }
        break;
    }
    case 12: {
        uint8_t *b = malloc(len ? len : 1);
        gw_upsert u;
        if (!b) {
            break;
        }
        memcpy(b, body, len);
        if ((data[1] & 4) && len >= 4) {
            vx_put_u32(b + len - 4, vx_crc32c(0, b, len - 4));
        }
        if (gw_decode_bulk_upsert(b, len, dim, NULL, &u, NULL) == 0) {
            exercise_upsert(&u);
            gw_upsert_close(&u);
        }
        free(b);
        break;
    }
    case 13: {
        gw_filter *f;
        if (gw_filter_parse(body, len, 0, &f, NULL) == 0) {
            exercise_filter(f);
            gw_filter_free(f);
        }
        break;
    }
    case 14: {
        /* load -> dump -> load -> dump is stable. */
        json_t *j, *k;
        char *s, *s2;
        size_t n, n2;
        if (gw_json_load(body, len, &j, NULL) == 0) {
            CHECK(gw_json_dump(j, &s, &n, NULL) == 0);
            CHECK(gw_json_load(s, n, &k, NULL) == 0);
            CHECK(gw_json_dump(k, &s2, &n2, NULL) == 0);
            CHECK(n == n2 && memcmp(s, s2, n) == 0);
            json_decref(j);
            json_decref(k);
            vx_free(s);
            vx_free(s2);
        }
        break;
    }
    default: {
        /* Error bodies and id text: any bytes give valid JSON. */
        char *msg = malloc(len + 1), *s;
        size_t n;
        point_id id;
        if (!msg) {
            break;
        }
        memcpy(msg, body, len);
        msg[len] = '\0';
        if (gw_respond_error(msg, 0.5, &s, &n, NULL) == 0) {
            check_json_text(s, n);
            vx_free(s);
        }
        if (gw_point_id_parse_text(body, len, &id, NULL) == 0) {
            char t[40];
            point_id back;
            size_t tn = point_id_format(&id, t);
            CHECK(gw_point_id_parse_text(t, tn, &back, NULL) == 0);
            CHECK(point_id_cmp(&id, &back) == 0);
        }
        free(msg);
        break;
    }
    }
    return 0;
}
