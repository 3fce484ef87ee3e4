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

#include "cmd/proc.h"
#include "cmd/serve_config.h"
#include "common/common.h"
#include "gateway/api.h"
#include "gateway/auth.h"
#include "gateway/http.h"
#include "gateway/request_log.h"
#include "gateway/result_cache.h"

#define LOG "serve"

int vx_serve_main(int argc, char **argv);

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
    vx_proc_gateway gws;
    memset(&gws, 0, sizeof gws);
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
    vx_proc_init(&cfg);
    if ((rc = vx_proc_data_dir(cfg.data, &lock_fd, &err)) ||
        (rc = vx_proc_raft_node(&cfg, &node, &err)) ||
        (rc = pd_catalog_new(&catalog, &err)))
        goto out;

    unsigned timeout_ms = (unsigned)cfg.request_timeout_ms;
    char addr[VXR_ADDRESS_MAX];
    snprintf(addr, sizeof addr, "%s", vxr_node_address(node));
    vxr_member self = {.id = 1, .address = addr};
    vxr_fsm pd_fsm = vx_proc_catalog_fsm(catalog);
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

    host_options ho;
    vx_proc_host_options(&cfg, &ho);
    ho.node = node;
    ho.member_id = 1;
    if ((rc = host_open(&ho, &hst, &err)) ||
        (rc = vx_metrics_new(&metrics, &err)))
        goto out;

    api.node = node;
    api.catalog = catalog;
    api.host = hst;
    api.metrics = metrics;
    vx_proc_api_options(&cfg, &api.o);
    if ((rc = gw_api_metrics_init(&api, &err)) ||
        (rc = gw_api_rerank_init(&api, &err)) ||
        (rc = open_collections(&api, timeout_ms, &err)))
        goto out;

    if ((rc = vx_proc_gateway_open(&cfg, &api, catalog, &gws, &err)) ||
        (rc = vx_proc_http_start(&cfg, &api, &gws, &http, &err)))
        goto out;
    api.ready = 1;
    vx_log(VECTRON_LOG_INFO, LOG,
           "ready: REST API on http://%s (port %u), raft on %s, data in %s",
           cfg.http_listen, http_server_port(http), vxr_node_address(node),
           cfg.data);
    fprintf(stderr, "vectron serve: listening on port %u\n",
            http_server_port(http));

    int sig = vx_proc_wait_signal();
    vx_log(VECTRON_LOG_INFO, LOG, "signal %d: shutting down", sig);
    exit_code = 0;
out:
    if (rc) {
        fprintf(stderr, "vectron serve: %s\n", err.msg);
        vx_log(VECTRON_LOG_ERROR, LOG, "%s", err.msg);
    }
    api.ready = 0;
    http_server_stop(http);
    vx_proc_gateway_close(&gws);
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
