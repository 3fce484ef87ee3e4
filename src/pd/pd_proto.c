/*
 * pd_proto.c - catalog structs <-> protobuf messages (pd_proto.h).
 *
 * Threading: reentrant.
 */
#include <string.h>

#include "common/common.h"
#include "pd/pd_proto.h"

void pd_params_to_proto(const pd_collection_params *p,
                        Vectron__CollectionParams *m)
{
    vectron__collection_params__init(m);
    m->dim = p->dim;
    m->metric = (uint32_t)p->metric;
    m->quant = (uint32_t)p->quant;
    m->quantile = p->quantile;
    m->m = p->m;
    m->ef_construction = p->ef_construction;
    m->shard_number = p->shard_number;
    m->replication_factor = p->replication_factor;
    m->read_consistency = p->read_consistency;
}

int pd_params_from_proto(const Vectron__CollectionParams *m,
                         pd_collection_params *out, vectron_error *err)
{
    memset(out, 0, sizeof *out);
    if (!m)
        return vx_err(err, VECTRON_INVALID, "collection parameters missing");
    if (m->metric > VECTRON_METRIC_DOT || m->quant > VECTRON_QUANT_INT8 ||
        m->read_consistency > PD_READ_EVENTUAL)
        return vx_err(err, VECTRON_INVALID, "collection parameters: bad enum");
    out->dim = m->dim;
    out->metric = (vectron_metric)m->metric;
    out->quant = (vectron_quant)m->quant;
    out->quantile = m->quantile;
    out->m = m->m;
    out->ef_construction = m->ef_construction;
    out->shard_number = m->shard_number;
    out->replication_factor = m->replication_factor;
    out->read_consistency = (uint8_t)m->read_consistency;
    return 0;
}

int pd_collection_from_proto(const Vectron__CatalogCollection *m,
                             pd_collection *out, vectron_error *err)
{
    memset(out, 0, sizeof *out);
    size_t nl = m->name ? strlen(m->name) : 0;
    int rc = pd_check_name(m->name ? m->name : "", nl, err);
    if (rc)
        return rc;
    memcpy(out->name, m->name, nl + 1);
    out->id = m->id;
    out->first_group = m->first_group;
    out->created_index = m->created_index;
    return pd_params_from_proto(m->params, &out->p, err);
}
