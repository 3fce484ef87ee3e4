/*
 * proc.c - shared process set-up of the `vectron` servers (proc.h).
 *
 * Threading: main thread at start-up; vx_proc_fatal may run on any
 * thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/proc.h"
#include "common/common.h"

/* The json log format: one object per line on stderr. */
static void log_json(int level, const char *module, const char *msg, void *arg)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *o =
        json_pack("{s:f,s:s,s:s,s:s}", "time",
                  (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9, "level",
                  level >= 0 && level <= 3 ? names[level] : "?", "module",
                  module, "msg", msg);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text) {
        fprintf(stderr, "%s\n", text);
        free(text);
    } else { /* not UTF-8, or out of memory: still say it */
        vectron_log_stderr(level, module, msg, NULL);
    }
    json_decref(o);
}

static sigset_t stop_signals(void)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    return sigs;
}

void vx_proc_init(const vx_serve_config *cfg)
{
    vectron_log_set(cfg->log_format == VX_SERVE_LOG_JSON ? log_json
                                                         : vectron_log_stderr,
                    NULL, cfg->log_level);
    /* Every thread started from here inherits the blocked set; the main
     * thread takes the signals with sigwait. SIGPIPE is ignored (a dead
     * peer must not kill the process). */
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs = stop_signals();
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
}

int vx_proc_wait_signal(void)
{
    sigset_t sigs = stop_signals();
    int sig = 0;
    sigwait(&sigs, &sig);
    return sig;
}

void vx_proc_fatal(void *arg, const char *msg)
{
    (void)arg;
    vx_log(VECTRON_LOG_ERROR, "proc", "fatal: %s; stopping", msg);
    /* The replica cannot skip a committed entry; die and let the restart
     * replay the log from the last good state. */
    abort();
}

void vx_proc_host_options(const vx_serve_config *cfg, host_options *o)
{
    memset(o, 0, sizeof *o);
    o->data_dir = cfg->data;
    o->fatal = vx_proc_fatal;
    o->checkpoint_interval_ms = (unsigned)cfg->index_checkpoint_interval_ms;
    o->indexer_nice = (int)cfg->indexer_nice;
    o->max_pending = (size_t)cfg->index_max_pending;
    store_options_default(&o->store);
    o->store.map_size = (size_t)cfg->store_map_size;
    o->store.sync = (store_sync_mode)cfg->store_sync;
}

static int make_dir(const char *dir, vectron_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) && errno != EEXIST)
            return vx_err(err, VECTRON_IO, "mkdir %s: %s", path,
                          strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0755) && errno != EEXIST)
        return vx_err(err, VECTRON_IO, "mkdir %s: %s", path, strerror(errno));
    return 0;
}

int vx_proc_data_dir(const char *dir, int *fd, vectron_error *err)
{
    char path[PATH_MAX];
    int rc = make_dir(dir, err);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/LOCK", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0)
        return vx_err(err, VECTRON_IO, "open %s: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return vx_err(err, VECTRON_IO, "%s: %s", path,
                      e == EWOULDBLOCK
                          ? "another vectron process uses this data directory"
                          : strerror(e));
    }
    return 0;
}

int vx_proc_raft_node(const vx_serve_config *cfg, vxr_node **out,
                      vectron_error *err)
{
    vxr_settings rs;
    vxr_settings_default(&rs);
    rs.election_timeout_ms = (unsigned)cfg->election_timeout_ms;
    rs.heartbeat_timeout_ms = (unsigned)cfg->heartbeat_interval_ms;
    rs.snapshot_threshold = (unsigned)cfg->snapshot_threshold;
    rs.snapshot_trailing = (unsigned)cfg->snapshot_trailing;
    rs.segment_size = (size_t)cfg->segment_size;
    vxr_node_config nc = {.data_dir = cfg->data,
                          .listen_address = cfg->raft_listen,
                          .settings = &rs};
    return vxr_node_start(&nc, out, err);
}

static void pd_apply(void *ctx, uint64_t index, const void *buf, size_t len,
                     int64_t *result)
{
    int rc = pd_catalog_apply(ctx, index, buf, len);
    if (rc == VECTRON_NOMEM)
        vx_proc_fatal(NULL, "catalog: out of memory applying an entry");
    *result = rc;
}

static int pd_snapshot(void *ctx, uint64_t index, void **buf, size_t *len,
                       vectron_error *err)
{
    (void)index;
    return pd_catalog_snapshot(ctx, buf, len, err);
}

static int pd_restore(void *ctx, uint64_t index, const void *buf, size_t len,
                      vectron_error *err)
{
    (void)index;
    return pd_catalog_restore(ctx, buf, len, err);
}

vxr_fsm vx_proc_catalog_fsm(pd_catalog *catalog)
{
    vxr_fsm f = {.ctx = catalog,
                 .apply = pd_apply,
                 .snapshot = pd_snapshot,
                 .restore = pd_restore};
    return f;
}

void vx_proc_api_options(const vx_serve_config *cfg, gw_api_options *o)
{
    gw_limits_default(&o->limits);
    o->limits.max_limit = (uint32_t)cfg->max_limit;
    o->limits.max_batch = (uint32_t)cfg->max_batch;
    o->limits.max_offset = (uint32_t)cfg->max_offset;
    o->limits.max_dim = (uint32_t)cfg->max_dim;
    o->request_timeout_ms = (unsigned)cfg->request_timeout_ms;
    o->default_m = (uint32_t)cfg->default_hnsw_m;
    o->default_ef_construction = (uint32_t)cfg->default_ef_construct;
    o->default_hnsw_ef = (uint32_t)cfg->default_hnsw_ef;
    o->exact_selectivity = (float)cfg->exact_selectivity;
    o->default_oversampling = (float)cfg->default_oversampling;
    o->search_partial = cfg->search_partial;
    o->max_collections = cfg->max_collections;
    o->reranker_url = cfg->reranker_url[0] ? cfg->reranker_url : NULL;
    o->reranker_timeout_ms = (unsigned)cfg->reranker_timeout_ms;
}

/* Stored API keys for the authenticator, read from the catalog. */
static int key_lookup(void *ctx, const char *id, pd_api_key *out)
{
    return pd_catalog_key_get(ctx, id, out, NULL);
}

static size_t key_count(void *ctx)
{
    return pd_catalog_key_count(ctx);
}

static gw_rate_limit rate_of(double rate, uint64_t burst)
{
    gw_rate_limit l = {.rate = rate,
                       .burst = burst      ? (double)burst
                                : rate < 1 ? 1
                                           : rate};
    return l;
}

static int open_auth(const vx_serve_config *cfg, pd_catalog *catalog,
                     vx_metrics *metrics, gw_auth **out, vectron_error *err)
{
    gw_auth_options ao = {
        .api_key = cfg->api_key,
        .read_only_api_key = cfg->read_only_api_key,
        .jwt_secret = cfg->jwt_secret,
        .lookup = key_lookup,
        .count = key_count,
        .keys_ctx = catalog,
        .rate = {rate_of(cfg->rate_limit_anonymous, cfg->rate_burst_anonymous),
                 rate_of(cfg->rate_limit_read, cfg->rate_burst_read),
                 rate_of(cfg->rate_limit_write, cfg->rate_burst_write),
                 rate_of(cfg->rate_limit_admin, cfg->rate_burst_admin)},
        .metrics = metrics};
    int rc = gw_auth_new(&ao, out, err);
    if (rc)
        return rc;
    if ((cfg->api_key[0] && strlen(cfg->api_key) < 16) ||
        (cfg->read_only_api_key[0] && strlen(cfg->read_only_api_key) < 16) ||
        (cfg->jwt_secret[0] && strlen(cfg->jwt_secret) < 32))
        vx_log(VECTRON_LOG_WARN, "proc",
               "a bootstrap API key shorter than 16 bytes or a jwt-secret "
               "shorter than 32 bytes can be guessed; use long random values");
    vx_log(VECTRON_LOG_INFO, "proc", "authentication %s",
           gw_auth_enabled(*out) ? "on" : "off (no credential configured)");
    return 0;
}

int vx_proc_gateway_open(const vx_serve_config *cfg, gw_api *api,
                         pd_catalog *catalog, vx_proc_gateway *g,
                         vectron_error *err)
{
    memset(g, 0, sizeof *g);
    int rc = open_auth(cfg, catalog, api->metrics, &g->auth, err);
    if (rc)
        return rc;
    if (cfg->search_cache_size) {
        gw_cache_options co = {.max_bytes = (size_t)cfg->search_cache_size,
                               .ttl_ms = cfg->search_cache_ttl_ms};
        if ((rc = gw_cache_new(&co, &g->cache, err)))
            return rc;
    }
    gw_reqlog_options lo = {.target = cfg->request_log,
                            .sample = cfg->request_log_sample,
                            .slow_ms = cfg->slow_query_ms};
    if ((rc = gw_reqlog_open(&lo, &g->reqlog, err)))
        return rc;
    api->cache = g->cache;
    api->reqlog = g->reqlog;
    return 0;
}

void vx_proc_gateway_close(vx_proc_gateway *g)
{
    gw_reqlog_close(g->reqlog);
    gw_cache_free(g->cache);
    gw_auth_free(g->auth);
    memset(g, 0, sizeof *g);
}

int vx_proc_http_start(const vx_serve_config *cfg, gw_api *api,
                       const vx_proc_gateway *g, http_server **out,
                       vectron_error *err)
{
    size_t nroutes;
    const http_route *routes = gw_api_routes(&nroutes);
    http_config hc = {.listen_address = cfg->http_listen,
                      .threads = (unsigned)cfg->http_threads,
                      .thread_per_connection = cfg->http_threads == 0,
                      .max_body = (size_t)cfg->max_body_size,
                      .connection_timeout_s =
                          (unsigned)(cfg->connection_timeout_ms / 1000),
                      .max_connections = (unsigned)cfg->max_connections,
                      .metrics = api->metrics,
                      .guard = gw_auth_guard,
                      .guard_ctx = g->auth,
                      .on_complete = gw_reqlog_hook,
                      .on_complete_arg = g->reqlog};
    return http_server_start(&hc, routes, nroutes, api, out, err);
}
