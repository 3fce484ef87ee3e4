/*
 * rpc_proto.c - protobuf helpers shared by the services (rpc_proto.h).
 *
 * Threading: reentrant.
 */
#include <string.h>

#include "common/common.h"
#include "rpc/rpc_proto.h"

void rpc_reply_msg(rpc_request *rq, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = vx_malloc(n ? n : 1);
    if (!buf) {
        rpc_reply_error(rq, VECTRON_NOMEM, "out of memory");
        return;
    }
    protobuf_c_message_pack(msg, buf);
    rpc_reply(rq, buf, n);
    vx_free(buf);
}

int rpc_call_msg(rpc_client *c, const char *addr, uint16_t method,
                 const ProtobufCMessage *msg, unsigned deadline_ms,
                 rpc_result *out, vectron_error *err)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = vx_malloc(n ? n : 1);
    if (!buf) {
        *out = (rpc_result){0};
        return vx_err(err, VECTRON_NOMEM, "rpc request");
    }
    protobuf_c_message_pack(msg, buf);
    int rc = rpc_call(c, addr, method, buf, n, deadline_ms, out, err);
    vx_free(buf);
    return rc;
}

size_t rpc_split_members(char *list, char **out, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *t = list ? strtok_r(list, ",", &save) : NULL; t && n < max;
         t = strtok_r(NULL, ",", &save))
        if (*t)
            out[n++] = t;
    return n;
}

int rpc_call_leader(rpc_client *c, char *const *addrs, size_t n,
                    size_t start, size_t *answered, uint16_t method,
                    const ProtobufCMessage *msg, unsigned deadline_ms,
                    rpc_result *out, vectron_error *err)
{
    int rc = vx_err(err, VECTRON_UNAVAILABLE, "rpc: no member to call");
    for (size_t k = 0; k < n; k++) {
        size_t at = (start + k) % n;
        rc = rpc_call_msg(c, addrs[at], method, msg, deadline_ms, out, err);
        if (rc == 0) {
            if (answered)
                *answered = at;
            return 0;
        }
        if (rc != VECTRON_NOT_LEADER && rc != VECTRON_UNAVAILABLE &&
            rc != VECTRON_TIMEOUT)
            return rc; /* the leader refused: no use asking the others */
    }
    return rc;
}

void rpc_point_id_to(const point_id *id, Vectron__PointId *m)
{
    vectron__point_id__init(m);
    if (id->is_uuid) {
        m->uuid.len = 16;
        m->uuid.data = (uint8_t *)id->uuid;
    } else {
        m->num = id->num;
    }
}

int rpc_point_id_from(const Vectron__PointId *m, point_id *out,
                      vectron_error *err)
{
    memset(out, 0, sizeof *out);
    if (!m)
        return vx_err(err, VECTRON_INVALID, "point id missing");
    if (m->uuid.len == 16) {
        out->is_uuid = 1;
        memcpy(out->uuid, m->uuid.data, 16);
        return 0;
    }
    if (m->uuid.len != 0)
        return vx_err(err, VECTRON_INVALID, "uuid of %zu bytes", m->uuid.len);
    out->num = m->num;
    return 0;
}
