/*
 * cluster.c - the cluster's server processes: `vectron pd` (a Placement
 * Driver member: the catalog's Raft group with its peers, the PD RPC
 * service and scheduler) and `vectron worker` (shard replicas in Raft
 * groups with other workers, the shard RPC service, the agent that keeps
 * the replicas in line with the PD's placement) and `vectron gateway` (the
 * REST API over a remote host: no data of its own, any number of them).
 * docs/cluster.md tells how to start them.
 *
 * Both take the same knob table as `vectron serve` (serve_config.c); each
 * reads the knobs that concern it (the "cluster" section says which).
 *
 * Threading: main thread only, plus the threads of the modules started.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/proc.h"
#include "cmd/serve_config.h"
#include "common/common.h"
#include "common/metrics.h"
#include "gateway/api.h"
#include "gateway/http.h"
#include "pd/pd_service.h"
#include "rpc/rpc.h"
#include "worker/agent.h"
#include "worker/host.h"
#include "worker/service.h"

int vx_pd_main(int argc, char **argv);
int vx_worker_main(int argc, char **argv);
int vx_gateway_main(int argc, char **argv);

/* Loads the config for subcommand name; 0 to go on, else the exit code
 * (help printed: 0 via *done). */
static int load(const char *name, int argc, char **argv, vx_serve_config *cfg,
                int *done)
{
    vx_config_status st;
    vectron_error err = {0};
    *done = 0;
    if (vx_serve_config_load(argc, argv, cfg, &st, &err)) {
        fprintf(stderr, "vectron %s: %s\n", name, err.msg);
        *done = 1;
        return 2;
    }
    if (st.help) {
        vx_serve_config_help(stdout, NULL);
        vx_serve_config_close(cfg);
        *done = 1;
        return 0;
    }
    if (st.first_positional < argc) {
        fprintf(stderr, "vectron %s: unexpected argument '%s'\n", name,
                argv[st.first_positional]);
        vx_serve_config_close(cfg);
        *done = 1;
        return 2;
    }
    return 0;
}

#define MAX_PEERS 9

/* Parses "id=addr,id=addr" into members (addresses point into buf). */
static int parse_peers(char *buf, vxr_member *m, size_t *n, vectron_error *err)
{
    char *save = NULL;
    *n = 0;
    for (char *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        char *end = NULL;
        if (!eq || *n == MAX_PEERS)
            return vx_err(err, VECTRON_INVALID,
                          "--pd-peers: '%s' is not id=address (at most %d)", t,
                          MAX_PEERS);
        *eq = '\0';
        unsigned long long id = strtoull(t, &end, 10);
        if (*end || id == 0)
            return vx_err(err, VECTRON_INVALID, "--pd-peers: bad id '%s'", t);
        for (size_t i = 0; i < *n; i++)
            if (m[i].id == id)
                return vx_err(err, VECTRON_INVALID, "--pd-peers: id %llu twice",
                              id);
        m[*n].id = id;
        m[*n].address = eq + 1;
        (*n)++;
    }
    return 0;
}

int vx_pd_main(int argc, char **argv)
{
    vx_serve_config cfg;
    vectron_error err = {0};
    int done, rc, lock_fd = -1, exit_code = 1, group_open = 0;
    int code = load("pd", argc, argv, &cfg, &done);
    vxr_node *node = NULL;
    pd_catalog *catalog = NULL;
    rpc_client *rpc = NULL;
    pd_service *svc = NULL;
    rpc_server *server = NULL;
    char *peers = NULL;
    if (done)
        return code;
    vx_proc_init(&cfg);
    if ((rc = vx_proc_data_dir(cfg.data, &lock_fd, &err)) ||
        (rc = vx_proc_raft_node(&cfg, &node, &err)) ||
        (rc = pd_catalog_new(&catalog, &err)))
        goto out;

    vxr_member members[MAX_PEERS];
    size_t nm = 0;
    char self_addr[VXR_ADDRESS_MAX];
    snprintf(self_addr, sizeof self_addr, "%s", vxr_node_address(node));
    peers = strdup(cfg.pd_peers);
    if (!peers) {
        rc = vx_err(&err, VECTRON_NOMEM, "pd-peers");
        goto out;
    }
    if ((rc = parse_peers(peers, members, &nm, &err)))
        goto out;
    if (nm == 0) {
        members[0] = (vxr_member){.id = cfg.node_id, .address = self_addr};
        nm = 1;
    }
    int listed = 0;
    for (size_t i = 0; i < nm; i++)
        listed |= members[i].id == cfg.node_id;
    if (!listed) {
        rc = vx_err(&err, VECTRON_INVALID,
                    "--node-id %" PRIu64 " is not in --pd-peers", cfg.node_id);
        goto out;
    }
    vxr_fsm fsm = vx_proc_catalog_fsm(catalog);
    vxr_group_params gp = {.group_id = PD_GROUP_ID,
                           .member_id = cfg.node_id,
                           .members = members,
                           .n_members = nm,
                           .fsm = &fsm};
    if ((rc = vxr_group_create(node, &gp, &err)))
        goto out;
    group_open = 1;

    pd_service_options so = {.node = node,
                             .catalog = catalog,
                             .timeout_ms = (unsigned)cfg.request_timeout_ms,
                             .grace_ms = (unsigned)cfg.node_grace_ms,
                             .schedule_ms = (unsigned)cfg.schedule_interval_ms};
    if ((rc = rpc_client_start(NULL, &rpc, &err)))
        goto out;
    so.rpc = rpc;
    so.balance_threshold = (unsigned)cfg.replica_balance_threshold;
    so.no_replica_balance = cfg.replica_balance_threshold == 0;
    if ((rc = pd_service_start(&so, &svc, &err)))
        goto out;
    rpc_server_options ro = {.listen = cfg.rpc_listen,
                             .threads = 8,
                             .handler = pd_service_handle,
                             .ctx = svc};
    if ((rc = rpc_server_start(&ro, &server, &err)))
        goto out;
    vx_log(VECTRON_LOG_INFO, "pd",
           "PD member %" PRIu64 " of %zu: raft on %s, rpc on port %u, data "
           "in %s",
           cfg.node_id, nm, vxr_node_address(node), rpc_server_port(server),
           cfg.data);
    fprintf(stderr, "vectron pd: member %" PRIu64 ", rpc port %u\n",
            cfg.node_id, rpc_server_port(server));
    vx_log(VECTRON_LOG_INFO, "pd", "signal %d: shutting down",
           vx_proc_wait_signal());
    exit_code = 0;
out:
    if (rc) {
        fprintf(stderr, "vectron pd: %s\n", err.msg);
        vx_log(VECTRON_LOG_ERROR, "pd", "%s", err.msg);
    }
    rpc_server_stop(server);
    pd_service_stop(svc);
    rpc_client_stop(rpc);
    if (group_open)
        host_close_group(node, PD_GROUP_ID);
    vxr_node_stop(node);
    pd_catalog_free(catalog);
    free(peers);
    vx_serve_config_close(&cfg);
    if (lock_fd >= 0)
        close(lock_fd);
    return exit_code;
}

int vx_worker_main(int argc, char **argv)
{
    vx_serve_config cfg;
    vectron_error err = {0};
    int done, rc, lock_fd = -1, exit_code = 1;
    int code = load("worker", argc, argv, &cfg, &done);
    vxr_node *node = NULL;
    host *hst = NULL;
    rpc_client *rpc = NULL;
    rpc_server *server = NULL;
    wk_agent *agent = NULL;
    wk_service svc;
    if (done)
        return code;
    memset(&svc, 0, sizeof svc);
    vx_proc_init(&cfg);
    if (!cfg.pd[0]) {
        rc = vx_err(&err, VECTRON_INVALID,
                    "--pd: the Placement Driver's RPC addresses are needed");
        goto out;
    }
    if ((rc = vx_proc_data_dir(cfg.data, &lock_fd, &err)) ||
        (rc = vx_proc_raft_node(&cfg, &node, &err)))
        goto out;
    /* The address the others reach: the listen host with the real port
     * (filled in once the RPC server is bound; the host reads it when it
     * writes a snapshot manifest). */
    char rpc_addr[VXR_ADDRESS_MAX];
    snprintf(rpc_addr, sizeof rpc_addr, "%s", cfg.rpc_listen);
    if ((rc = rpc_client_start(NULL, &rpc, &err)))
        goto out;
    host_options ho;
    vx_proc_host_options(&cfg, &ho);
    ho.node = node;
    ho.member_id = cfg.node_id;
    ho.rpc = rpc;
    ho.rpc_address = rpc_addr;
    if ((rc = host_open(&ho, &hst, &err)))
        goto out;
    svc.host = hst;
    svc.node = node;
    svc.timeout_ms = (unsigned)cfg.request_timeout_ms;
    svc.max_filter_depth = 16;
    svc.max_k = (uint32_t)(cfg.max_limit + cfg.max_offset + 1);
    rpc_server_options ro = {.listen = cfg.rpc_listen,
                             .threads = 16,
                             .handler = wk_service_handle,
                             .ctx = &svc};
    if ((rc = rpc_server_start(&ro, &server, &err)))
        goto out;
    const char *colon = strrchr(cfg.rpc_listen, ':');
    snprintf(rpc_addr, sizeof rpc_addr, "%.*s:%u",
             (int)(colon ? colon - cfg.rpc_listen : 0), cfg.rpc_listen,
             rpc_server_port(server));
    wk_agent_options ao = {.host = hst,
                           .service = &svc,
                           .rpc = rpc,
                           .pd = cfg.pd,
                           .node_id = cfg.node_id,
                           .raft_address = vxr_node_address(node),
                           .rpc_address = rpc_addr,
                           .heartbeat_ms = (unsigned)cfg.worker_heartbeat_ms,
                           .timeout_ms = (unsigned)cfg.request_timeout_ms};
    if ((rc = wk_agent_start(&ao, &agent, &err)))
        goto out;
    vx_log(VECTRON_LOG_INFO, "worker",
           "worker %" PRIu64 ": raft on %s, rpc on %s, PD %s, data in %s",
           cfg.node_id, vxr_node_address(node), rpc_addr, cfg.pd, cfg.data);
    fprintf(stderr, "vectron worker: node %" PRIu64 ", rpc %s\n", cfg.node_id,
            rpc_addr);
    vx_log(VECTRON_LOG_INFO, "worker", "signal %d: shutting down",
           vx_proc_wait_signal());
    exit_code = 0;
out:
    if (rc) {
        fprintf(stderr, "vectron worker: %s\n", err.msg);
        vx_log(VECTRON_LOG_ERROR, "worker", "%s", err.msg);
    }
    wk_agent_stop(agent);
    rpc_server_stop(server);
    host_close(hst); /* before the client: store copiers use it */
    rpc_client_stop(rpc);
    vxr_node_stop(node);
    vx_serve_config_close(&cfg);
    if (lock_fd >= 0)
        close(lock_fd);
    return exit_code;
}

int vx_gateway_main(int argc, char **argv)
{
    vx_serve_config cfg;
    vectron_error err = {0};
    int done, rc, exit_code = 1;
    int code = load("gateway", argc, argv, &cfg, &done);
    pd_catalog *mirror = NULL;
    rpc_client *rpc = NULL;
    host *hst = NULL;
    vx_metrics *metrics = NULL;
    http_server *http = NULL;
    vx_proc_gateway gws;
    gw_api api;
    if (done)
        return code;
    memset(&api, 0, sizeof api);
    memset(&gws, 0, sizeof gws);
    pthread_mutex_init(&api.ctl_mu, NULL);
    pthread_mutex_init(&api.rerank_mu, NULL);
    vx_proc_init(&cfg);
    if (!cfg.pd[0]) {
        rc = vx_err(&err, VECTRON_INVALID,
                    "--pd: the Placement Driver's RPC addresses are needed");
        goto out;
    }
    if ((rc = pd_catalog_new(&mirror, &err)) ||
        (rc = rpc_client_start(NULL, &rpc, &err)))
        goto out;
    host_remote_options ro = {.rpc = rpc,
                              .pd = cfg.pd,
                              .mirror = mirror,
                              .refresh_ms = 1000,
                              .timeout_ms = (unsigned)cfg.request_timeout_ms};
    if ((rc = host_open_remote(&ro, &hst, &err)) ||
        (rc = vx_metrics_new(&metrics, &err)))
        goto out;
    api.catalog = mirror;
    api.host = hst;
    api.metrics = metrics;
    vx_proc_api_options(&cfg, &api.o);
    if ((rc = gw_api_metrics_init(&api, &err)) ||
        (rc = vx_proc_gateway_open(&cfg, &api, mirror, &gws, &err)) ||
        (rc = vx_proc_http_start(&cfg, &api, &gws, &http, &err)))
        goto out;
    api.ready = 1;
    vx_log(VECTRON_LOG_INFO, "gateway",
           "ready: REST API on %s (port %u), PD %s", cfg.http_listen,
           http_server_port(http), cfg.pd);
    fprintf(stderr, "vectron gateway: listening on port %u\n",
            http_server_port(http));
    vx_log(VECTRON_LOG_INFO, "gateway", "signal %d: shutting down",
           vx_proc_wait_signal());
    exit_code = 0;
out:
    if (rc) {
        fprintf(stderr, "vectron gateway: %s\n", err.msg);
        vx_log(VECTRON_LOG_ERROR, "gateway", "%s", err.msg);
    }
    api.ready = 0;
    http_server_stop(http);
    vx_proc_gateway_close(&gws);
    gw_api_rerank_close(&api);
    host_close(hst);
    rpc_client_stop(rpc);
    pd_catalog_free(mirror);
    vx_metrics_free(metrics);
    vx_serve_config_close(&cfg);
    pthread_mutex_destroy(&api.ctl_mu);
    pthread_mutex_destroy(&api.rerank_mu);
    return exit_code;
}
