/*
 * proc.h - what every `vectron` server process does the same way: logging
 * set-up, the fatal-apply handler, the data directory (created, locked for
 * one process), the Raft node from the config, the Placement Driver's
 * catalog as a Raft FSM, and waiting for SIGINT/SIGTERM.
 *
 * Threading: call from main before other threads start, except
 * vx_proc_wait_signal, which blocks the main thread until a signal.
 */
#ifndef VECTRON_CMD_PROC_H
#define VECTRON_CMD_PROC_H

#include <signal.h>

#include "cmd/serve_config.h"
#include "gateway/api.h"
#include "gateway/auth.h"
#include "gateway/http.h"
#include "gateway/request_log.h"
#include "gateway/result_cache.h"
#include "pd/catalog.h"
#include "raft/raft_node.h"
#include "worker/host.h"

/* Installs the log format and level of cfg; ignores SIGPIPE and blocks
 * SIGINT/SIGTERM in this thread (and so in every thread started later):
 * vx_proc_wait_signal takes them. */
void vx_proc_init(const vx_serve_config *cfg);

/* Waits for SIGINT or SIGTERM; returns the signal. */
int vx_proc_wait_signal(void);

/* host_options.fatal: logs and aborts (a replica that cannot apply a
 * committed entry must stop, and the restart replays the log). */
void vx_proc_fatal(void *arg, const char *msg);

/* The shard host's options from cfg (data directory, stores, index
 * checkpoints, indexer priority and backpressure, vx_proc_fatal); the
 * caller sets node, member_id and the cluster fields. */
void vx_proc_host_options(const vx_serve_config *cfg, host_options *o);

/* Creates cfg->data (and parents) and takes <data>/LOCK for the life of
 * the process (*fd; close it at exit). Errors: IO (another process holds
 * it, or the directory cannot be made). */
int vx_proc_data_dir(const char *dir, int *fd, vectron_error *err);

/* Starts the Raft node on cfg's data directory and raft-listen address
 * with cfg's Raft knobs. */
int vx_proc_raft_node(const vx_serve_config *cfg, vxr_node **out,
                      vectron_error *err);

/* The catalog as a Raft FSM (ctx: the pd_catalog). */
vxr_fsm vx_proc_catalog_fsm(pd_catalog *catalog);

/* The REST API's options from cfg (limits, defaults, timeouts). */
void vx_proc_api_options(const vx_serve_config *cfg, gw_api_options *o);

/* The gateway's services around the API: the authenticator (cfg's
 * security knobs, docs/auth.md; stored keys read from catalog: the local
 * one, or a cluster gateway's mirror of the PD's), the result cache and
 * the request log. */
typedef struct vx_proc_gateway {
    gw_auth *auth;
    gw_cache *cache; /* NULL: off */
    gw_reqlog *reqlog;
} vx_proc_gateway;

/* Opens them and hooks the cache and the log into api. On failure what
 * was opened stays in g for vx_proc_gateway_close. */
int vx_proc_gateway_open(const vx_serve_config *cfg, gw_api *api,
                         pd_catalog *catalog, vx_proc_gateway *g,
                         vectron_error *err);
void vx_proc_gateway_close(vx_proc_gateway *g);

/* Starts the HTTP server on cfg's address with the API's route table
 * (ctx: api; api->metrics collects per-route metrics) behind g's guard,
 * logging to g's request log. */
int vx_proc_http_start(const vx_serve_config *cfg, gw_api *api,
                       const vx_proc_gateway *g, http_server **out,
                       vectron_error *err);

#endif
