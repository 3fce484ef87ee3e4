/*
 * serve.c - `vectron serve`: the embedded default, a cluster of one. One
 * process runs the Placement Driver's catalog as a one-member Raft group,
 * hosts every shard as a one-member Raft group (same code paths as the
 * cluster), and serves the REST API.
 *
 * Start-up: lock <data>/LOCK (one server per data directory), start the
 * Raft node, open the catalog group and wait until its log is applied,
 * remove shard data that a crashed drop left behind, open every
 * collection's shards (each replays its log tail), then start HTTP and
 * report ready. Shutdown on SIGINT/SIGTERM: stop HTTP (handlers in flight
 * finish), close the shards and groups, stop the node.
 *
 * Threading: main thread only, plus the threads of the modules it starts;
 * signals are blocked in every thread and taken with sigwait here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/serve_config.h"
#include "common/common.h"
#include "gateway/api.h"
#include "gateway/http.h"

#define LOG "serve"

int vx_serve_main(int argc, char **argv);

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

static void fatal(void *arg, const char *msg)
{
    (void)arg;
    vx_log(VECTRON_LOG_ERROR, LOG, "fatal: %s; stopping", msg);
    /* The replica cannot skip a committed entry; die and let the restart
     * replay the log from the last good state. */
    abort();
}

/* The catalog as a Raft FSM. */
static void pd_apply(void *ctx, uint64_t index, const void *buf, size_t len,
                     int64_t *result)
{
    int rc = pd_catalog_apply(ctx, index, buf, len);
    if (rc == VECTRON_NOMEM)
        fatal(NULL, "catalog: out of memory applying an entry");
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

/* Holds an exclusive lock on <data>/LOCK for the life of the process. */
static int lock_data_dir(const char *dir, int *fd, vectron_error *err)
{
    char path[PATH_MAX];
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

static int open_collections(gw_api *api, unsigned timeout_ms,
                            vectron_error *err)
{
    pd_collection *cols = NULL;
    size_t n = 0;
    int rc = pd_catalog_list(api->catalog, &cols, &n, err);
    if (rc)
        return rc;
    rc = host_gc(api->host, cols, n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        vx_log(VECTRON_LOG_INFO, LOG, "opening collection %s (%u shards)",
               cols[i].name, cols[i].p.shard_number);
        rc = host_ensure(api->host, &cols[i], timeout_ms, err);
    }
    vx_free(cols);
    return rc;
}

int vx_serve_main(int argc, char **argv)
{
    vx_serve_config cfg;
    vx_config_status st;
    vectron_error err = {0};
    int rc, lock_fd = -1, exit_code = 1;
    vxr_node *node = NULL;
    pd_catalog *catalog = NULL;
    host *hst = NULL;
    http_server *http = NULL;
    vx_metrics *metrics = NULL;
    int pd_open = 0;
    gw_api api;
    memset(&api, 0, sizeof api);
    pthread_mutex_init(&api.ctl_mu, NULL);
    pthread_mutex_init(&api.rerank_mu, NULL);

    if ((rc = vx_serve_config_load(argc, argv, &cfg, &st, &err))) {
        fprintf(stderr, "vectron serve: %s\n", err.msg);
        return 2;
    }
    if (st.help) {
        vx_serve_config_help(stdout, NULL);
        vx_serve_config_close(&cfg);
        return 0;
    }
    if (st.first_positional < argc) {
        fprintf(stderr, "vectron serve: unexpected argument '%s'\n",
                argv[st.first_positional]);
        vx_serve_config_close(&cfg);
        return 2;
    }
    vectron_log_set(cfg.log_format == VX_SERVE_LOG_JSON ? log_json
                                                        : vectron_log_stderr,
                    NULL, cfg.log_level);

    /* Every thread started from here inherits the blocked set; the main
     * thread takes the signals with sigwait. SIGPIPE is ignored (a dead
     * peer must not kill the process). */
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if ((rc = make_dir(cfg.data, &err)) ||
        (rc = lock_data_dir(cfg.data, &lock_fd, &err)))
        goto out;

    vxr_settings rs;
    vxr_settings_default(&rs);
    rs.election_timeout_ms = (unsigned)cfg.election_timeout_ms;
    rs.heartbeat_timeout_ms = (unsigned)cfg.heartbeat_interval_ms;
    rs.snapshot_threshold = (unsigned)cfg.snapshot_threshold;
    rs.snapshot_trailing = (unsigned)cfg.snapshot_trailing;
    rs.segment_size = (size_t)cfg.segment_size;
    vxr_node_config nc = {.data_dir = cfg.data,
                          .listen_address = cfg.raft_listen,
                          .settings = &rs};
    if ((rc = vxr_node_start(&nc, &node, &err)) ||
        (rc = pd_catalog_new(&catalog, &err)))
        goto out;

    unsigned timeout_ms = (unsigned)cfg.request_timeout_ms;
    char addr[VXR_ADDRESS_MAX];
    snprintf(addr, sizeof addr, "%s", vxr_node_address(node));
    vxr_member self = {.id = 1, .address = addr};
    vxr_fsm pd_fsm = {.ctx = catalog,
                      .apply = pd_apply,
                      .snapshot = pd_snapshot,
                      .restore = pd_restore};
    vxr_group_params gp = {.group_id = PD_GROUP_ID,
                           .member_id = 1,
                           .members = &self,
                           .n_members = 1,
                           .fsm = &pd_fsm};
    if ((rc = vxr_group_create(node, &gp, &err)))
        goto out;
    pd_open = 1;
    if ((rc = host_wait_group_ready(node, PD_GROUP_ID, timeout_ms, &err)))
        goto out;

    host_options ho = {.data_dir = cfg.data,
                       .node = node,
                       .member_id = 1,
                       .fatal = fatal,
                       .checkpoint_interval_ms =
                           (unsigned)cfg.index_checkpoint_interval_ms};
    store_options_default(&ho.store);
    ho.store.map_size = (size_t)cfg.store_map_size;
    ho.store.sync = (store_sync_mode)cfg.store_sync;
    if ((rc = host_open(&ho, &hst, &err)) ||
        (rc = vx_metrics_new(&metrics, &err)))
        goto out;

    api.node = node;
    api.catalog = catalog;
    api.host = hst;
    api.metrics = metrics;
    gw_limits_default(&api.o.limits);
    api.o.limits.max_limit = (uint32_t)cfg.max_limit;
    api.o.limits.max_batch = (uint32_t)cfg.max_batch;
    api.o.limits.max_offset = (uint32_t)cfg.max_offset;
    api.o.limits.max_dim = (uint32_t)cfg.max_dim;
    api.o.request_timeout_ms = timeout_ms;
    api.o.default_m = (uint32_t)cfg.default_hnsw_m;
    api.o.default_ef_construction = (uint32_t)cfg.default_ef_construct;
    api.o.default_hnsw_ef = (uint32_t)cfg.default_hnsw_ef;
    api.o.exact_selectivity = (float)cfg.exact_selectivity;
    api.o.default_oversampling = (float)cfg.default_oversampling;
    api.o.max_collections = cfg.max_collections;
    api.o.slow_query_ms = cfg.slow_query_ms;
    api.o.reranker_url = cfg.reranker_url[0] ? cfg.reranker_url : NULL;
    api.o.reranker_timeout_ms = (unsigned)cfg.reranker_timeout_ms;
    if ((rc = gw_api_metrics_init(&api, &err)) ||
        (rc = gw_api_rerank_init(&api, &err)) ||
        (rc = open_collections(&api, timeout_ms, &err)))
        goto out;

    size_t nroutes;
    const http_route *routes = gw_api_routes(&nroutes);
    http_config hc = {.listen_address = cfg.http_listen,
                      .threads = (unsigned)cfg.http_threads,
                      .thread_per_connection = cfg.http_threads == 0,
                      .max_body = (size_t)cfg.max_body_size,
                      .connection_timeout_s =
                          (unsigned)(cfg.connection_timeout_ms / 1000),
                      .max_connections = (unsigned)cfg.max_connections,
                      .metrics = metrics};
    if ((rc = http_server_start(&hc, routes, nroutes, &api, &http, &err)))
        goto out;
    api.ready = 1;
    vx_log(VECTRON_LOG_INFO, LOG,
           "ready: REST API on http://%s (port %u), raft on %s, data in %s",
           cfg.http_listen, http_server_port(http), vxr_node_address(node),
           cfg.data);
    fprintf(stderr, "vectron serve: listening on port %u\n",
            http_server_port(http));

    int sig = 0;
    sigwait(&sigs, &sig);
    vx_log(VECTRON_LOG_INFO, LOG, "signal %d: shutting down", sig);
    exit_code = 0;
out:
    if (rc) {
        fprintf(stderr, "vectron serve: %s\n", err.msg);
        vx_log(VECTRON_LOG_ERROR, LOG, "%s", err.msg);
    }
    api.ready = 0;
    http_server_stop(http);
    host_close(hst);
    if (pd_open)
        host_close_group(node, PD_GROUP_ID);
    vxr_node_stop(node);
    pd_catalog_free(catalog);
    vx_metrics_free(metrics);
    vx_serve_config_close(&cfg);
    if (lock_fd >= 0)
        close(lock_fd);
    gw_api_rerank_close(&api);
    pthread_mutex_destroy(&api.rerank_mu);
    pthread_mutex_destroy(&api.ctl_mu);
    return exit_code;
}
