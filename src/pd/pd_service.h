/*
 * pd_service.h - the Placement Driver's RPC service and scheduler, on top
 * of the catalog's Raft group (one per PD member; the group's leader
 * answers, the others say NOT_LEADER).
 *
 * Service (methods in src/rpc/methods.h, messages in proto/): node
 * registration, heartbeats (kept as soft state on the leader: last time
 * heard and the latest figures of each replica), the catalog with
 * placement, leaders and figures, collection create (the leader chooses
 * the placement: replication_factor distinct active, live nodes with the
 * fewest replicas) and drop, node drain. Every change is a committed
 * catalog command.
 *
 * Scheduler (a thread; acts only while this member leads, and only after
 * leading for a grace period, so a new leader first hears every live node):
 * a node not heard from for `grace_ms` is dead. For each shard with
 * replicas on dead, draining or removed nodes it restores the replication
 * factor step by step, each step idempotent and driven by the committed
 * placement, so a new PD leader carries on where the old one stopped:
 *   1. fewer good replicas than the factor: place a new replica on the
 *      live active node with the fewest replicas (compare-and-set on the
 *      group's conf_epoch); its worker opens it as a joining member;
 *   2. every good replica that has not received the group's log yet is
 *      added to the Raft group by the group's leader (add + promote,
 *      which catches it up first);
 *   3. then the bad replicas are removed from the Raft group and from the
 *      placement (their workers, if alive, delete their copies).
 * Repair comes first. Then replica balancing (docs/cluster.md), one move
 * at a time cluster-wide: when the cluster is settled (every shard has
 * exactly its factor of replicas on live active nodes, every replica
 * reports, every group has a leader, no active node is down) and the live
 * active node with the most replicas holds balance_threshold more than the
 * least-loaded node not holding one of its groups, that group's placement
 * gets a replica there (factor + 1). A placement above its factor with
 * every replica good is a move in progress, finished step by step from the
 * catalog and the heartbeats: the replica to drop is the one on the node
 * with the most replicas (lowest id on ties, never the last placed); the
 * others are added to the Raft group and must catch up with the leader's
 * applied index; a leader to drop first hands its leadership over; once
 * the leader counts every replica as a voter the dropped one leaves the
 * group and the placement. Leader balancing, when no move is in progress
 * and every replica reports: a node leading two more shards than another
 * hands one leadership to a replica on a node leading fewer (one transfer
 * per pass).
 *
 * Threading: pd_service_handle runs on the RPC pool threads; the soft
 * state has its own mutex; the scheduler thread makes RPC calls to
 * workers and submits catalog commands like any handler.
 *
 * Prefix: pd_.
 */
#ifndef VECTRON_PD_SERVICE_H
#define VECTRON_PD_SERVICE_H

#include <stdint.h>

#include "pd/catalog.h"
#include "raft/raft_node.h"
#include "rpc/rpc.h"

typedef struct pd_service pd_service;

typedef struct pd_service_options {
    vxr_node *node;       /* borrowed: runs the catalog group */
    pd_catalog *catalog;  /* borrowed: the group's FSM */
    rpc_client *rpc;      /* borrowed: orders to workers */
    unsigned timeout_ms;  /* commits and orders wait this long */
    unsigned grace_ms;    /* a node silent this long is dead */
    unsigned schedule_ms; /* between scheduler passes; 0: no scheduler */
    /* Replica balancing: a move starts when the most-loaded live active
     * node holds this many more replicas than the least-loaded one that
     * can take one of its groups (below 2: 2). */
    unsigned balance_threshold;
    int no_replica_balance; /* 1: start no replica moves */
} pd_service_options;

/* Starts the scheduler thread (when schedule_ms). Errors: NOMEM,
 * INTERNAL. */
int pd_service_start(const pd_service_options *o, pd_service **out,
                     vectron_error *err);

/* Stops the scheduler and frees s (after the RPC server has stopped). */
void pd_service_stop(pd_service *s);

/* The rpc_handler_fn of a PD member (ctx: the pd_service). */
void pd_service_handle(void *ctx, rpc_request *rq, uint16_t method,
                       const uint8_t *req, size_t len);

#endif
