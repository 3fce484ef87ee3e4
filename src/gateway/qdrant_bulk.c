/*
 * qdrant_bulk.c - the binary bulk-upsert body (docs/formats/bulk-upsert.md):
 * gw_decode_bulk_upsert, which validates every byte before it fills a
 * gw_upsert like the JSON decoder's, and gw_encode_bulk_upsert.
 *
 * Threading: reentrant; no state outside the caller's structs.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "gateway/qdrant_json_int.h"

#define BULK_MAGIC "VXBULK\0\0"
#define BULK_VERSION 1u
#define BULK_HEADER 32u
#define BULK_FLAG_UUID 1u
#define BULK_FLAG_PAYLOADS 2u

int gw_decode_bulk_upsert(const uint8_t *body, size_t len, uint32_t dim,
                          const gw_limits *lim, gw_upsert *out,
                          vectron_error *err)
{
    uint32_t version, flags, bdim, count, crc, want;
    uint64_t idsz, need, pl_total = 0;
    const uint8_t *p, *lens = NULL, *pl;
    gw_buf arena = {0};
    size_t *offs = NULL;
    gw_jctx c;
    int rc;

    memset(out, 0, sizeof *out);
    gw_ctx_init(&c, lim, err);
    c.body_len = len; /* 4 bytes per component: never "doomed" */
    if (dim == 0 || dim > VECTRON_MAX_DIM) {
        return vx_err(err, VECTRON_INVALID,
                      "collection dimension %u is out of range", dim);
    }
    if (!body || len < BULK_HEADER + 4) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: truncated: %zu bytes, the minimum is %u", len,
                      BULK_HEADER + 4);
    }
    if (memcmp(body, BULK_MAGIC, 8) != 0) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: bad magic (not a bulk "
                      "upsert body)");
    }
    crc = vx_get_u32(body + len - 4);
    want = vx_crc32c(0, body, len - 4);
    if (crc != want) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: checksum mismatch (stored %08x, computed %08x)",
                      crc, want);
    }
    version = vx_get_u32(body + 8);
    flags = vx_get_u32(body + 12);
    bdim = vx_get_u32(body + 16);
    count = vx_get_u32(body + 20);
    if (version != BULK_VERSION) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: unsupported version %u (expected %u)", version,
                      BULK_VERSION);
    }
    if (flags & ~(BULK_FLAG_UUID | BULK_FLAG_PAYLOADS)) {
        return vx_err(err, VECTRON_INVALID, "bulk: unknown flags %#x", flags);
    }
    if (vx_get_u64(body + 24) != 0) {
        return vx_err(err, VECTRON_INVALID, "bulk: reserved bytes not zero");
    }
    if (bdim != dim) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: expected dimension %u, got %u", dim, bdim);
    }
    if (count > c.lim.max_batch) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: %u points exceed the maximum of %u", count,
                      c.lim.max_batch);
    }
    idsz = flags & BULK_FLAG_UUID ? 16 : 8;
    /* count < 2^32 and dim <= 2^16: no 64-bit overflow below. */
    need = BULK_HEADER + (uint64_t)count * idsz + (uint64_t)count * dim * 4 +
           (flags & BULK_FLAG_PAYLOADS ? (uint64_t)count * 4 : 0) + 4;
    if (need > len) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk: truncated: %u points need at least %" PRIu64
                      " bytes, got %zu",
                      count, need, len);
    }
    if (flags & BULK_FLAG_PAYLOADS) {
        lens = body + need - 4 - (uint64_t)count * 4;
        for (uint32_t i = 0; i < count; i++) {
            pl_total += vx_get_u32(lens + 4 * (size_t)i);
            if (pl_total > len - need) {
                return vx_err(err, VECTRON_INVALID,
                              "bulk: truncated: payload of point %u runs "
                              "past the end",
                              i);
            }
        }
    }
    if (need + pl_total != len) {
        return vx_err(err, VECTRON_INVALID, "bulk: %" PRIu64 " trailing bytes",
                      len - need - pl_total);
    }
    if ((rc = gw_upsert_alloc(&c, out, count, dim, &offs))) {
        goto out;
    }
    p = body + BULK_HEADER;
    for (uint32_t i = 0; i < count; i++, p += idsz) {
        if (flags & BULK_FLAG_UUID) {
            out->ids[i].is_uuid = 1;
            memcpy(out->ids[i].uuid, p, 16);
        } else {
            out->ids[i].num = vx_get_u64(p);
        }
    }
    for (size_t i = 0; i < (size_t)count * dim; i++, p += 4) {
        uint32_t bits = vx_get_u32(p);
        float f;
        memcpy(&f, &bits, sizeof f);
        if (!isfinite(f)) {
            rc = vx_err(err, VECTRON_INVALID,
                        "points[%zu].vector[%zu]: not a finite number", i / dim,
                        i % dim);
            goto out;
        }
        out->vectors[i] = f;
    }
    pl = body + need - 4;
    for (uint32_t i = 0; lens && i < count; i++) {
        uint32_t n = vx_get_u32(lens + 4 * (size_t)i);
        char what[48];
        json_t *j;
        if (n == 0) {
            continue;
        }
        snprintf(what, sizeof what, "points[%u].payload", i);
        if ((rc = gw_load_text((const char *)pl, n, what, &j, err))) {
            goto out;
        }
        if (!json_is_object(j)) {
            rc =
                vx_err(err, VECTRON_INVALID, "%s: must be a JSON object", what);
        } else {
            offs[i] = arena.len;
            out->payloads[i].len = n;
            if (gw_buf_add(&arena, pl, n) || gw_buf_add(&arena, "", 1)) {
                rc = vx_err(err, VECTRON_NOMEM, "%s: out of memory", what);
            }
        }
        json_decref(j);
        if (rc) {
            goto out;
        }
        pl += n;
    }
    gw_upsert_finish(out, &arena, offs);
out:
    vx_free(offs);
    vx_free(arena.p);
    if (rc) {
        gw_upsert_close(out);
    }
    return rc;
}

int gw_encode_bulk_upsert(const point_id *ids, const float *vectors,
                          const gw_text *payloads, size_t count, uint32_t dim,
                          uint8_t **out, size_t *out_len, vectron_error *err)
{
    int uuid = count > 0 && ids[0].is_uuid;
    uint64_t idsz = uuid ? 16 : 8, size, pl_total = 0;
    uint8_t *b, *p;

    *out = NULL;
    *out_len = 0;
    if (dim == 0 || dim > VECTRON_MAX_DIM || count > UINT32_MAX) {
        return vx_err(err, VECTRON_INVALID,
                      "bulk encode: dimension %u or count %zu out of range",
                      dim, count);
    }
    for (size_t i = 0; i < count; i++) {
        if (ids[i].is_uuid != uuid) {
            return vx_err(err, VECTRON_INVALID,
                          "bulk encode: point %zu: ids mix integers and "
                          "UUIDs",
                          i);
        }
        if (payloads && payloads[i].data) {
            if (payloads[i].len > UINT32_MAX) {
                return vx_err(err, VECTRON_LIMIT,
                              "bulk encode: payload of point %zu exceeds "
                              "4 GiB",
                              i);
            }
            pl_total += payloads[i].len;
        }
    }
    size = BULK_HEADER + count * idsz + (uint64_t)count * dim * 4 +
           (payloads ? count * 4 + pl_total : 0) + 4;
    if ((uint64_t)(size_t)size != size || !(b = vx_malloc((size_t)size))) {
        return vx_err(err, VECTRON_NOMEM, "bulk encode: out of memory");
    }
    memset(b, 0, BULK_HEADER);
    memcpy(b, BULK_MAGIC, 8);
    vx_put_u32(b + 8, BULK_VERSION);
    vx_put_u32(b + 12, (uuid ? BULK_FLAG_UUID : 0) |
                           (payloads ? BULK_FLAG_PAYLOADS : 0));
    vx_put_u32(b + 16, dim);
    vx_put_u32(b + 20, (uint32_t)count);
    p = b + BULK_HEADER;
    for (size_t i = 0; i < count; i++, p += idsz) {
        if (uuid) {
            memcpy(p, ids[i].uuid, 16);
        } else {
            vx_put_u64(p, ids[i].num);
        }
    }
    for (size_t i = 0; i < count * dim; i++, p += 4) {
        uint32_t bits;
        memcpy(&bits, &vectors[i], 4);
        vx_put_u32(p, bits);
    }
    if (payloads) {
        for (size_t i = 0; i < count; i++, p += 4) {
            vx_put_u32(p, payloads[i].data ? (uint32_t)payloads[i].len : 0);
        }
        for (size_t i = 0; i < count; i++) {
            if (payloads[i].data && payloads[i].len) {
                memcpy(p, payloads[i].data, payloads[i].len);
                p += payloads[i].len;
            }
        }
    }
    vx_put_u32(p, vx_crc32c(0, b, (size_t)size - 4));
    *out = b;
    *out_len = (size_t)size;
    return 0;
}
