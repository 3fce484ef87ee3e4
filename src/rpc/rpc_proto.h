/*
 * rpc_proto.h - protobuf helpers shared by the RPC services and their
 * clients (the PD service, the worker's services and agent, the gateway's
 * remote host, the inspection tools): packing a message into a call or an
 * answer, and point ids to and from their message.
 *
 * Threading: as rpc.h; the conversions are reentrant.
 */
#ifndef VECTRON_RPC_PROTO_H
#define VECTRON_RPC_PROTO_H

#include "common/point_id.h"
#include "proto/vectron.pb-c.h"
#include "rpc/rpc.h"

/* Packs msg and answers rq with it (NOMEM answered on failure). */
void rpc_reply_msg(rpc_request *rq, const ProtobufCMessage *msg);

/* Packs msg and calls method on addr (rpc_call). */
int rpc_call_msg(rpc_client *c, const char *addr, uint16_t method,
                 const ProtobufCMessage *msg, unsigned deadline_ms,
                 rpc_result *out, vectron_error *err);

/* Calls method on a group of members where one leads (the PD): tries
 * addrs[start], addrs[start + 1], ... (wrapping) until one answers;
 * NOT_LEADER, UNAVAILABLE and TIMEOUT move on to the next, any other
 * answer ends the search. *answered (may be NULL) gets the index of the
 * member that answered, to start there next time. */
/* Splits a comma-separated member list ("host:port,host:port") in place
 * into at most max addresses, skipping empty items; returns the count. */
size_t rpc_split_members(char *list, char **out, size_t max);

int rpc_call_leader(rpc_client *c, char *const *addrs, size_t n,
                    size_t start, size_t *answered, uint16_t method,
                    const ProtobufCMessage *msg, unsigned deadline_ms,
                    rpc_result *out, vectron_error *err);

/* Fills m (initialised here) from id; m borrows id's UUID bytes. */
void rpc_point_id_to(const point_id *id, Vectron__PointId *m);

/* Reads m into *out. Errors: INVALID (missing, or a UUID not 16 bytes). */
int rpc_point_id_from(const Vectron__PointId *m, point_id *out,
                      vectron_error *err);

#endif
