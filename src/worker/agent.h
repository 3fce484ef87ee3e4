/*
 * agent.h - a worker's link to the Placement Driver: registers the node,
 * sends a heartbeat every interval with the figures of every hosted
 * replica, and, whenever the PD's catalog epoch moves, fetches the catalog
 * and reconciles the replicas it hosts with the placement: opens the ones
 * placed on this node (bootstrapping the founding members of a new group,
 * joining otherwise) and deletes the ones no longer placed here (a dropped
 * collection, or a replica the PD moved away after removing it from the
 * group).
 *
 * The PD is reached through any of its members' RPC addresses: a call
 * answered NOT_LEADER or failing is retried on the next address.
 *
 * Threading: one thread of its own; wk_agent_stop joins it.
 *
 * Prefix: wk_.
 */
#ifndef VECTRON_WORKER_AGENT_H
#define VECTRON_WORKER_AGENT_H

#include <stdint.h>

#include "rpc/rpc.h"
#include "worker/host.h"
#include "worker/service.h"

typedef struct wk_agent wk_agent;

typedef struct wk_agent_options {
    host *host;          /* borrowed; must outlive the agent */
    wk_service *service; /* borrowed: its request counter is the load */
    rpc_client *rpc;     /* borrowed */
    const char *pd;      /* the PD members' RPC addresses, comma-separated */
    uint64_t node_id;
    const char *raft_address; /* this node's, as peers reach it */
    const char *rpc_address;
    unsigned heartbeat_ms; /* between heartbeats */
    unsigned timeout_ms;   /* each PD call's deadline */
} wk_agent_options;

/* Starts the agent thread (copies o's strings). Errors: INVALID (no PD
 * address), NOMEM, INTERNAL (thread). */
int wk_agent_start(const wk_agent_options *o, wk_agent **out,
                   vectron_error *err);

/* Stops and joins the thread, frees a. NULL is a no-op. */
void wk_agent_stop(wk_agent *a);

#endif
