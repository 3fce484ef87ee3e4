/*
 * service.h - a worker's RPC services over the replicas it hosts: the
 * shard service (replicated writes on the group's leader, searches, point
 * reads, scans and counts at the read consistency asked, status) and the
 * control service (the PD's membership changes and leadership transfers).
 * Messages: proto/vectron.proto; methods: src/rpc/methods.h.
 *
 * Every request is checked before it touches a shard (a known group, the
 * vector's dimension, k and limits, the filter's JSON), so a bad or
 * hostile request gets INVALID, never a crash. Answers: UNAVAILABLE (the
 * group is not hosted here, or the replica is catching up from a store
 * copy), NOT_LEADER with the text "leader=<id>" or
 * "leader=0" (a write, strong read or control order on a follower),
 * UNAVAILABLE (a bounded read on a replica behind min_applied), or the
 * host's errors.
 *
 * Threading: wk_service_handle runs on the RPC server's pool threads, any
 * number at once; the host is thread-safe.
 *
 * Prefix: wk_.
 */
#ifndef VECTRON_WORKER_SERVICE_H
#define VECTRON_WORKER_SERVICE_H

#include <stdatomic.h>
#include <stdint.h>

#include "raft/raft_node.h"
#include "rpc/rpc.h"
#include "worker/host.h"

typedef struct wk_service {
    host *host;          /* borrowed */
    vxr_node *node;      /* borrowed */
    unsigned timeout_ms; /* writes and barriers wait this long */
    unsigned max_filter_depth;
    uint32_t max_k;                /* largest k or limit accepted */
    atomic_uint_fast64_t requests; /* served, for the load figure */
} wk_service;

struct Vectron__ShardReport;

/* Fills the protobuf report m (initialised here) from hr. */
void wk_report_to(const host_report *hr, uint64_t requests,
                  struct Vectron__ShardReport *m);

/* The rpc_handler_fn of a worker (ctx: the wk_service). */
void wk_service_handle(void *ctx, rpc_request *rq, uint16_t method,
                       const uint8_t *req, size_t len);

#endif
