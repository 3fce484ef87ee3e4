/*
 * api_collections.c - collection routes: list, info, create, delete,
 * exists, and payload index creation. Creation and deletion are Placement
 * Driver commands: in `vectron serve` committed to the local catalog group
 * (a Raft group of one) and followed by opening or closing the shards on
 * this node; in a cluster's gateway (a remote host) sent to the PD, which
 * places the replicas on the workers.
 *
 * Threading: any HTTP thread; create and delete hold api->ctl_mu so that
 * the catalog and the hosted shards change together.
 */
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "gateway/api.h"
#include "gateway/auth.h"

int api_pd_submit(api_call *c, const uint8_t *buf, size_t len,
                  vectron_error *err)
{
    if (host_is_remote(c->api->host)) {
        /* A cluster gateway: only key commands come here (collections go
         * through host_remote_create/drop, which place the shards). */
        if (!pd_cmd_is_key(buf, len))
            return vx_err(err, VECTRON_UNSUPPORTED,
                          "metadata change not available through a gateway");
        return host_remote_submit(c->api->host, buf, len, err);
    }
    vxr_result res;
    int rc = vxr_apply_wait(c->api->node, PD_GROUP_ID, buf, len,
                            c->api->o.request_timeout_ms, &res, err);
    if (rc == VXR_TIMEOUT || rc == VXR_LEADERSHIP_LOST)
        return vx_err(err, VECTRON_TIMEOUT,
                      "metadata change not confirmed in time");
    if (rc < 0)
        return vx_err(err, VECTRON_UNAVAILABLE, "metadata group: %s",
                      vxr_status_name(rc));
    if (rc)
        return rc;
    return (int)res.value;
}

void gw_api_create_collection(void *ctx, const http_request *r,
                              http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    gw_api *api = c.api;
    vectron_error err = {0};
    gw_collection_config cfg;
    const char *name = r->params[0];
    int rc = pd_check_name(name, strlen(name), &err);
    if (rc || (rc = gw_decode_create_collection(r->body, r->body_len,
                                                &api->o.limits, &cfg, &err))) {
        api_fail_err(&c, rc, &err);
        return;
    }
    pd_collection_params p = {
        .dim = cfg.dim,
        .metric = cfg.metric,
        .quant = cfg.quant,
        .quantile = cfg.quantile,
        .m = cfg.m ? cfg.m : api->o.default_m,
        .ef_construction = cfg.ef_construction ? cfg.ef_construction
                                               : api->o.default_ef_construction,
        .shard_number = cfg.shard_number ? cfg.shard_number : 1,
        .replication_factor =
            cfg.replication_factor ? cfg.replication_factor : 1,
        .read_consistency =
            cfg.read_consistency == GW_CONSISTENCY_STRONG    ? PD_READ_STRONG
            : cfg.read_consistency == GW_CONSISTENCY_BOUNDED ? PD_READ_BOUNDED
                                                             : PD_READ_EVENTUAL,
    };
    if (p.ef_construction < p.m)
        p.ef_construction = p.m;
    if (p.replication_factor > 1 && !host_is_remote(api->host)) {
        api_fail(&c, VECTRON_INVALID,
                 "replication_factor: `vectron serve` is a single node; "
                 "replication needs a cluster");
        return;
    }
    uint8_t *buf = NULL;
    size_t len;
    if ((rc = pd_cmd_create(name, &p, &buf, &len, &err))) {
        api_fail_err(&c, rc, &err);
        return;
    }
    pthread_mutex_lock(&api->ctl_mu);
    pd_collection *all = NULL;
    size_t ncols = 0;
    if (pd_catalog_list(api->catalog, &all, &ncols, &err) == 0 &&
        ncols >= api->o.max_collections) {
        vx_free(all);
        vx_free(buf);
        pthread_mutex_unlock(&api->ctl_mu);
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Wrong input: the server holds %zu collections, the "
                 "maximum (max-collections)",
                 ncols);
        api_fail(&c, VECTRON_LIMIT, msg);
        return;
    }
    vx_free(all);
    if (host_is_remote(api->host))
        rc = host_remote_create(api->host, name, &p, api->o.request_timeout_ms,
                                &err);
    else
        rc = api_pd_submit(&c, buf, len, &err);
    vx_free(buf);
    pd_collection col;
    if (rc == VECTRON_EXISTS) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "Wrong input: Collection `%s` already exists!", name);
        pthread_mutex_unlock(&api->ctl_mu);
        api_fail(&c, rc, msg);
        return;
    }
    if (rc == 0 && (rc = pd_catalog_get(api->catalog, name, &col, &err)) == 0)
        rc = host_ensure(api->host, &col, api->o.request_timeout_ms, &err);
    pthread_mutex_unlock(&api->ctl_mu);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    api_ok(&c, json_true());
}

void gw_api_delete_collection(void *ctx, const http_request *r,
                              http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    gw_api *api = c.api;
    vectron_error err = {0};
    pd_collection col;
    uint8_t *buf = NULL;
    size_t len;
    int rc;
    pthread_mutex_lock(&api->ctl_mu);
    if (pd_catalog_get(api->catalog, r->params[0], &col, &err)) {
        /* Qdrant answers deleting an unknown collection with false. */
        pthread_mutex_unlock(&api->ctl_mu);
        api_ok(&c, json_false());
        return;
    }
    if (host_is_remote(api->host))
        rc = host_remote_drop(api->host, col.name, api->o.request_timeout_ms,
                              &err);
    else if ((rc = pd_cmd_drop(col.name, &buf, &len, &err)) == 0)
        rc = api_pd_submit(&c, buf, len, &err);
    vx_free(buf);
    if (rc == 0)
        rc = host_drop(api->host, &col, &err);
    pthread_mutex_unlock(&api->ctl_mu);
    if (rc == VECTRON_NOT_FOUND) {
        api_ok(&c, json_false());
        return;
    }
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    api_ok(&c, json_true());
}

void gw_api_list_collections(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    vectron_error err = {0};
    pd_collection *cols = NULL;
    size_t n = 0;
    int rc = pd_catalog_list(c.api->catalog, &cols, &n, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    const char **names = vx_calloc(n ? n : 1, sizeof(*names));
    if (!names) {
        vx_free(cols);
        api_fail(&c, VECTRON_NOMEM, "out of memory");
        return;
    }
    /* A credential limited to some collections sees only those. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (gw_principal_level(r->auth, cols[i].name) >= GW_LEVEL_READ)
            names[k++] = cols[i].name;
    api_ok(&c, gw_json_collections_list(names, k));
    vx_free(names);
    vx_free(cols);
}

void gw_api_collection_exists(void *ctx, const http_request *r,
                              http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    pd_collection col;
    int found = pd_catalog_get(c.api->catalog, r->params[0], &col, NULL) == 0;
    json_t *res = json_pack("{s:b}", "exists", found);
    api_ok(&c, res);
}

static gw_field_type field_type(store_index_type t)
{
    switch (t) {
    case STORE_KEYWORD:
        return GW_FIELD_KEYWORD;
    case STORE_INTEGER:
        return GW_FIELD_INTEGER;
    case STORE_FLOAT:
        return GW_FIELD_FLOAT;
    case STORE_BOOL:
        return GW_FIELD_BOOL;
    }
    return GW_FIELD_KEYWORD;
}

void gw_api_get_collection(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    pd_collection col;
    host_shard **s = NULL;
    if (api_collection(&c, &col) || api_acquire_shards(&c, &col, &s))
        return;
    vectron_error err = {0};
    gw_collection_info info;
    memset(&info, 0, sizeof info);
    uint64_t pending = 0;
    int rc = 0;
    gw_field_info *fields = NULL;
    size_t ndefs = 0;
    host_shard_info *si = vx_calloc(col.p.shard_number, sizeof *si);
    if (!si)
        rc = vx_err(&err, VECTRON_NOMEM, "collection info");
    for (uint32_t i = 0; i < col.p.shard_number && !rc; i++) {
        rc = host_shard_info_of(s[i], 1, &si[i], &err);
        info.points_count += si[i].points;
        pending += si[i].pending;
    }
    /* Every shard has the same indexes (they are created on all). */
    if (!rc)
        ndefs = si[0].n_indexes;
    if (!rc && ndefs && !(fields = vx_calloc(ndefs, sizeof(*fields))))
        rc = vx_err(&err, VECTRON_NOMEM, "collection info");
    for (size_t i = 0; !rc && i < ndefs; i++) {
        fields[i].name = si[0].indexes[i].field;
        fields[i].type = field_type(si[0].indexes[i].type);
        for (uint32_t k = 0; k < col.p.shard_number; k++)
            for (size_t x = 0; x < si[k].n_indexes; x++)
                if (strcmp(si[k].indexes[x].field, fields[i].name) == 0)
                    fields[i].points += si[k].indexes[x].points;
    }
    if (rc) {
        api_fail_err(&c, rc, &err);
    } else {
        info.status = pending ? GW_STATUS_YELLOW : GW_STATUS_GREEN;
        info.indexed_vectors_count =
            info.points_count > pending ? info.points_count - pending : 0;
        info.segments_count = col.p.shard_number;
        info.config.dim = col.p.dim;
        info.config.metric = col.p.metric;
        info.config.m = col.p.m;
        info.config.ef_construction = col.p.ef_construction;
        info.config.quant = col.p.quant;
        info.config.quantile = col.p.quantile;
        info.config.shard_number = col.p.shard_number;
        info.config.replication_factor = col.p.replication_factor;
        info.config.read_consistency =
            col.p.read_consistency == PD_READ_STRONG ? GW_CONSISTENCY_STRONG
            : col.p.read_consistency == PD_READ_BOUNDED
                ? GW_CONSISTENCY_BOUNDED
                : GW_CONSISTENCY_EVENTUAL;
        info.fields = fields;
        info.nfields = ndefs;
        api_ok(&c, gw_json_collection_info(&info));
    }
    vx_free(fields);
    for (uint32_t i = 0; si && i < col.p.shard_number; i++)
        host_shard_info_clear(&si[i]);
    vx_free(si);
    api_release_shards(&c, &col, s);
}

/* Payload index field names are dotted paths; "a[].b" means "a.b" (as in
 * filters, which normalise the same way). Rewrites f in place. Errors:
 * INVALID (empty, an empty segment, too long). */
static int normalize_field(char *f, vectron_error *err)
{
    char *w = f;
    for (const char *p = f; *p;) {
        if (p[0] == '[' && p[1] == ']') {
            p += 2;
            continue;
        }
        *w++ = *p++;
    }
    *w = '\0';
    size_t n = strlen(f);
    if (n == 0 || n > STORE_FIELD_MAX || f[0] == '.' || f[n - 1] == '.' ||
        strstr(f, "..") || strpbrk(f, "[]"))
        return vx_err(err, VECTRON_INVALID,
                      "field_name: expected a dotted path of non-empty keys "
                      "(at most %u bytes)",
                      STORE_FIELD_MAX);
    return 0;
}

/* Refuses an index of another type on an indexed field (the shard would
 * reject it, deterministically, but with no reason for the client). */
static int check_index_type(api_call *c, host_shard *s, const char *field,
                            store_index_type type)
{
    host_shard_info info;
    vectron_error err = {0};
    int rc = host_shard_info_of(s, 0, &info, &err);
    if (rc) {
        api_fail_err(c, rc, &err);
        return rc;
    }
    for (size_t i = 0; i < info.n_indexes && !rc; i++) {
        if (strcmp(info.indexes[i].field, field) == 0 &&
            info.indexes[i].type != type) {
            char msg[STORE_FIELD_MAX + 160];
            snprintf(msg, sizeof msg,
                     "Wrong input: field `%s` already has an index of type "
                     "%s; delete it first",
                     field, store_index_type_name(info.indexes[i].type));
            api_fail(c, VECTRON_INVALID, msg);
            rc = VECTRON_INVALID;
        }
    }
    host_shard_info_clear(&info);
    return rc;
}

/* Replicates one sealed command to every shard of col and sends the
 * update result. */
static void write_all(api_call *c, const pd_collection *col, host_shard **s,
                      const uint8_t *buf, size_t len, int wait)
{
    uint32_t n = col->p.shard_number;
    const uint8_t **bufs = vx_calloc(n, sizeof(*bufs));
    size_t *lens = vx_calloc(n, sizeof(*lens));
    if (!bufs || !lens) {
        api_fail(c, VECTRON_NOMEM, "out of memory");
    } else {
        for (uint32_t i = 0; i < n; i++) {
            bufs[i] = buf;
            lens[i] = len;
        }
        api_replicate(c, n, s, bufs, lens, wait);
    }
    vx_free(bufs);
    vx_free(lens);
}

void gw_api_create_index(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    pd_collection col;
    host_shard **s = NULL;
    vectron_error err = {0};
    gw_payload_index pi;
    int wait, rc;
    if (api_collection(&c, &col) || (wait = api_wait(&c)) < 0)
        return;
    if ((rc = gw_decode_payload_index(r->body, r->body_len, &pi, &err))) {
        api_fail_err(&c, rc, &err);
        return;
    }
    if ((rc = normalize_field(pi.field_name, &err))) {
        api_fail_err(&c, rc, &err);
        gw_payload_index_close(&pi);
        return;
    }
    static const store_index_type types[] = {
        [GW_FIELD_KEYWORD] = STORE_KEYWORD,
        [GW_FIELD_INTEGER] = STORE_INTEGER,
        [GW_FIELD_FLOAT] = STORE_FLOAT,
        [GW_FIELD_BOOL] = STORE_BOOL,
    };
    shard_cmd cmd;
    shard_cmd_init(&cmd);
    shard_cmd_create_index(&cmd, pi.field_name, types[pi.type]);
    const uint8_t *buf;
    size_t len;
    if ((rc = shard_cmd_finish(&cmd, &buf, &len, &err)))
        api_fail_err(&c, rc, &err);
    else if (api_acquire_shards(&c, &col, &s) == 0 &&
             check_index_type(&c, s[0], pi.field_name, types[pi.type]) == 0)
        write_all(&c, &col, s, buf, len, wait);
    shard_cmd_close(&cmd);
    gw_payload_index_close(&pi);
    api_release_shards(&c, &col, s);
}

void gw_api_delete_index(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    pd_collection col;
    host_shard **s = NULL;
    vectron_error err = {0};
    int wait, rc;
    if (api_collection(&c, &col) || (wait = api_wait(&c)) < 0)
        return;
    /* Normalised in a copy; the limit applies to the normalised name, as
     * on creation. */
    size_t flen = strlen(r->params[1]);
    char *field = vx_malloc(flen + 1);
    if (!field) {
        api_fail(&c, VECTRON_NOMEM, "out of memory");
        return;
    }
    memcpy(field, r->params[1], flen + 1);
    if ((rc = normalize_field(field, &err))) {
        vx_free(field);
        api_fail_err(&c, rc, &err);
        return;
    }
    shard_cmd cmd;
    shard_cmd_init(&cmd);
    shard_cmd_drop_index(&cmd, field);
    const uint8_t *buf;
    size_t len;
    if ((rc = shard_cmd_finish(&cmd, &buf, &len, &err)))
        api_fail_err(&c, rc, &err);
    else if (api_acquire_shards(&c, &col, &s) == 0)
        write_all(&c, &col, s, buf, len, wait);
    shard_cmd_close(&cmd);
    api_release_shards(&c, &col, s);
    vx_free(field);
}
