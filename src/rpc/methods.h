/*
 * methods.h - the method numbers of Vectron's internal RPC services (the
 * frame's method field, docs/formats/rpc.md). Each method's request and
 * answer messages are in proto/vectron.proto, named in the comments.
 * Numbers are never reused.
 *
 * Threading: constants only.
 */
#ifndef VECTRON_RPC_METHODS_H
#define VECTRON_RPC_METHODS_H

enum rpc_method {
    /* Placement Driver (answered by the PD leader; the others answer
     * NOT_LEADER) */
    RPC_PD_REGISTER = 1,  /* RegisterNodeRequest -> RegisterNodeResponse */
    RPC_PD_HEARTBEAT = 2, /* HeartbeatRequest -> HeartbeatResponse */
    RPC_PD_CATALOG = 3,   /* GetCatalogRequest -> GetCatalogResponse */
    RPC_PD_CREATE = 4,    /* CreateCollectionRequest -> ChangeResponse */
    RPC_PD_DROP = 5,      /* DropCollectionRequest -> ChangeResponse */
    RPC_PD_DRAIN = 6,     /* DrainNodeRequest -> ChangeResponse */
    RPC_PD_SUBMIT = 7,    /* PdSubmitRequest -> ChangeResponse (key
                             create/revoke commands only) */

    /* Worker: shard service (writes and strong reads on the group's
     * leader, NOT_LEADER elsewhere; other reads on any replica) */
    RPC_SHARD_WRITE = 50,  /* ShardWriteRequest -> ShardWriteResponse */
    RPC_SHARD_SEARCH = 51, /* ShardSearchRequest -> ShardSearchResponse */
    RPC_SHARD_GET = 52,    /* ShardGetRequest -> ShardGetResponse */
    RPC_SHARD_SCAN = 53,   /* ShardScanRequest -> ShardScanResponse */
    RPC_SHARD_COUNT = 54,  /* ShardCountRequest -> ShardCountResponse */
    RPC_SHARD_STATUS = 55, /* ShardStatusRequest -> ShardStatusResponse */
    RPC_SHARD_INFO = 56,   /* ShardInfoRequest -> ShardInfoResponse */

    /* Worker: control service (the PD's orders) */
    RPC_CTL_CHANGE_REPLICAS = 80, /* ChangeReplicasRequest -> Empty */
    RPC_CTL_TRANSFER_LEADER = 81, /* TransferLeaderRequest -> Empty */
    RPC_CTL_STORE_COPY = 82,      /* StoreCopyRequest -> StoreCopyResponse */
};

#endif
