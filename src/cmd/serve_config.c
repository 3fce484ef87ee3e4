/*
 * serve_config.c - the knob table of `vectron serve` and the checks that
 * tie knobs together. Each knob says what it does and what changing it
 * trades off; --help and docs are generated from these texts, so keep
 * them true when the code they describe changes.
 *
 * Threading: see serve_config.h.
 */
#include "cmd/serve_config.h"
#include "common/common.h"

#define OFF(field) offsetof(vx_serve_config, field)

static const char *const store_sync_values[] = {"none", "data", "full", NULL};
static const char *const log_level_values[] = {"debug", "info", "warn", "error",
                                               NULL};
static const char *const log_format_values[] = {"text", "json", NULL};

static const vx_config_knob serve_knobs[] = {
    /* ---------------------------------------------------------- network */
    {.name = "data",
     .type = VX_CFG_STRING,
     .def = "./data",
     .offset = OFF(data),
     .section = "network",
     .doc = "Directory holding all of this node's state: shard stores, HNSW "
            "checkpoints, Raft logs and snapshots, cluster metadata.",
     .effect = "Put it on a local SSD; starting with another directory "
               "starts an empty database, so keep it stable across "
               "restarts."},
    {.name = "http-listen",
     .type = VX_CFG_STRING,
     .def = "127.0.0.1:6333",
     .offset = OFF(http_listen),
     .section = "network",
     .doc = "Address:port of the public REST API (6333 is Qdrant's port, so "
            "Qdrant clients find it).",
     .effect = "The default accepts local clients only; 0.0.0.0:6333 (or one "
               "interface's address) serves other hosts."},
    {.name = "raft-listen",
     .type = VX_CFG_STRING,
     .def = "127.0.0.1:6335",
     .offset = OFF(raft_listen),
     .section = "network",
     .doc = "Address:port of Raft traffic between nodes: one multiplexed port "
            "for every Raft group of this node.",
     .effect = "Other members must reach it; keep it off untrusted networks, "
               "as Raft messages are not authenticated."},
    {.name = "http-threads",
     .type = VX_CFG_UINT64,
     .def = "0",
     .min = "0",
     .max = "1024",
     .offset = OFF(http_threads),
     .section = "network",
     .doc = "Threads that parse HTTP requests and run their handlers; 0 "
            "gives each connection its own thread (up to max-connections).",
     .effect = "0 never makes one client wait behind another's search or "
               "write (a fixed pool pins each connection to the thread that "
               "accepted it, so two busy clients can share one); a pool "
               "bounds the thread count for many idle connections."},
    {.name = "max-connections",
     .type = VX_CFG_UINT64,
     .def = "1024",
     .min = "1",
     .max = "1000000",
     .offset = OFF(max_connections),
     .section = "network",
     .doc = "Most HTTP connections open at once; further ones are refused.",
     .effect = "Higher admits more clients, each holding a file descriptor "
               "and buffers; keep it below the open-file limit (ulimit -n)."},
    {.name = "connection-timeout",
     .type = VX_CFG_DURATION,
     .def = "60s",
     .min = "1s",
     .max = "1h",
     .offset = OFF(connection_timeout_ms),
     .section = "network",
     .doc = "An HTTP connection idle for this long is closed.",
     .effect = "Shorter frees descriptors held by idle clients sooner; longer "
               "lets keep-alive clients reuse connections across pauses."},
    {.name = "max-body-size",
     .type = VX_CFG_SIZE,
     .def = "64MiB",
     .min = "1KiB",
     .max = "1GiB",
     .offset = OFF(max_body_size),
     .section = "network",
     .doc = "Largest request body accepted; a larger one is refused with "
            "HTTP 413.",
     .effect = "Bounds the memory one request can take (the body is held and "
               "parsed in memory); raise it for large upsert batches of "
               "high-dimensional vectors."},

    /* ----------------------------------------------------------- limits */
    {.name = "max-limit",
     .type = VX_CFG_UINT64,
     .def = "10000",
     .min = "1",
     .max = "100000",
     .offset = OFF(max_limit),
     .section = "limits",
     .doc = "Largest limit (results wanted) a search may ask for.",
     .effect = "Higher allows deeper result lists; a search's ef is raised to "
               "at least its limit, so large limits are slow and memory "
               "hungry."},
    {.name = "max-batch",
     .type = VX_CFG_UINT64,
     .def = "10000",
     .min = "1",
     .max = "1000000",
     .offset = OFF(max_batch),
     .section = "limits",
     .doc = "Most points, ids or searches in one request (upsert, delete, "
            "retrieve, batch search).",
     .effect = "Larger batches amortise per-request and Raft overhead but let "
               "one request hold more memory and occupy a shard's write path "
               "longer."},
    {.name = "max-offset",
     .type = VX_CFG_UINT64,
     .def = "100000",
     .min = "0",
     .max = "10000000",
     .offset = OFF(max_offset),
     .section = "limits",
     .doc = "Largest offset (results skipped) a search may ask for.",
     .effect = "A search with offset o collects limit + o candidates, so a "
               "deep offset costs as much as a large limit; scroll pages "
               "cheaply instead."},
    {.name = "max-dim",
     .type = VX_CFG_UINT64,
     .def = "65536",
     .min = "1",
     .max = "65536",
     .offset = OFF(max_dim),
     .section = "limits",
     .doc = "Largest vector dimension a collection may be created with.",
     .effect = "Lower refuses collections whose points would be huge (4 bytes "
               "per dimension per point, stored and indexed)."},
    {.name = "max-collections",
     .type = VX_CFG_UINT64,
     .def = "1000",
     .min = "1",
     .max = "100000",
     .offset = OFF(max_collections),
     .section = "limits",
     .doc = "Most collections this node holds.",
     .effect = "Each collection brings shards, Raft groups, LMDB environments "
               "and threads; the cap stops a runaway client from exhausting "
               "memory and file descriptors."},
    {.name = "request-timeout",
     .type = VX_CFG_DURATION,
     .def = "30s",
     .min = "100ms",
     .max = "1h",
     .offset = OFF(request_timeout_ms),
     .section = "limits",
     .doc = "How long a write waits for Raft to commit it before the request "
            "fails with a timeout (HTTP 504).",
     .effect = "Shorter fails fast while a group has no leader, longer rides "
               "out elections and slow disks; a timed-out write may still be "
               "applied, so retry idempotently."},

    /* ------------------------------------------------------------- raft */
    {.name = "election-timeout",
     .type = VX_CFG_DURATION,
     .def = "1000ms",
     .min = "10ms",
     .max = "60s",
     .offset = OFF(election_timeout_ms),
     .section = "raft",
     .doc = "Base election timeout: a follower that hears no leader for 1 to "
            "2 times this long starts an election.",
     .effect = "Lower replaces a lost leader sooner but risks needless "
               "elections on a loaded host or slow network; keep it about 10x "
               "heartbeat-interval."},
    {.name = "heartbeat-interval",
     .type = VX_CFG_DURATION,
     .def = "100ms",
     .min = "1ms",
     .max = "10s",
     .offset = OFF(heartbeat_interval_ms),
     .section = "raft",
     .doc = "How often a leader sends heartbeats to its followers; must be "
            "below election-timeout.",
     .effect = "Lower lets followers notice a dead leader sooner but costs "
               "messages and CPU for every Raft group (every shard is one)."},
    {.name = "snapshot-threshold",
     .type = VX_CFG_UINT64,
     .def = "1024",
     .min = "16",
     .max = "10000000",
     .offset = OFF(snapshot_threshold),
     .section = "raft",
     .doc = "Log entries applied since the last snapshot that trigger a new "
            "one.",
     .effect = "Lower keeps the log on disk short and restarts quick to "
               "replay; higher snapshots less often (each flushes the "
               "shard's store to disk)."},
    {.name = "snapshot-trailing",
     .type = VX_CFG_UINT64,
     .def = "128",
     .min = "0",
     .max = "10000000",
     .offset = OFF(snapshot_trailing),
     .section = "raft",
     .doc = "Log entries kept behind a snapshot so that a lagging follower "
            "catches up from the log.",
     .effect = "Higher spares followers further behind a full snapshot "
               "transfer, at the cost of disk space for the log."},
    {.name = "segment-size",
     .type = VX_CFG_SIZE,
     .def = "16MiB",
     .min = "64KiB",
     .max = "1GiB",
     .offset = OFF(segment_size),
     .section = "raft",
     .doc = "Size of each preallocated Raft log segment file; keep it "
            "several times the largest write request.",
     .effect = "Every group keeps one or two segments open, so disk use grows "
               "with shards x this; an entry larger than a segment costs a "
               "new segment each (measured: 1MiB segments held 500-point "
               "784-d bulk upserts to 12k points/s, 64MiB let them reach "
               "44k)."},

    /* ---------------------------------------------------------- storage */
    {.name = "store-map-size",
     .type = VX_CFG_SIZE,
     .def = "64GiB",
     .min = "16MiB",
     .max = "64TiB",
     .offset = OFF(store_map_size),
     .section = "storage",
     .doc = "LMDB map size of each shard store: the most data one shard can "
            "hold. Virtual address space; the file grows only as data is "
            "written.",
     .effect = "Too small and writes to a full shard fail with a limit error; "
               "every shard reserves this much address space, so thousands "
               "of shards need a smaller value."},
    {.name = "store-sync",
     .type = VX_CFG_ENUM,
     .def = "none",
     .values = store_sync_values,
     .offset = OFF(store_sync),
     .section = "storage",
     .doc = "When shard stores flush commits: none (before each Raft "
            "snapshot only), data (each commit's data), full (each commit, "
            "data and meta page).",
     .effect = "The Raft log is fsynced, so kill -9 loses nothing in any mode "
               "and commits lost to a power failure are replayed from it; "
               "with none, a power loss on a file system that reorders writes "
               "may damage a store, data rules that out with a flush per "
               "commit, full adds a second."},
    {.name = "index-checkpoint-interval",
     .type = VX_CFG_DURATION,
     .def = "60s",
     .min = "0",
     .max = "24h",
     .offset = OFF(index_checkpoint_interval_ms),
     .section = "storage",
     .doc = "How often a shard saves its HNSW graph so that a restart loads "
            "it instead of rebuilding it from the stored points; 0 disables.",
     .effect = "Shorter leaves fewer points to re-insert after a restart but "
               "writes the graph to disk more often; with 0 every restart "
               "rebuilds every index."},
    {.name = "indexer-nice",
     .type = VX_CFG_UINT64,
     .def = "10",
     .min = "0",
     .max = "19",
     .offset = OFF(indexer_nice),
     .section = "storage",
     .doc = "Niceness of each shard's indexer thread, which inserts applied "
            "writes into the HNSW graph; until it does they are searched "
            "exactly from the pending buffer. 0 runs it at the process's "
            "priority.",
     .effect = "Higher lets applies, replication and searches take the CPU "
               "first, so writes are acknowledged faster while the graph "
               "catches up behind them (docs/tuning.md has the measured "
               "effect); lower keeps the pending buffer short when CPU is "
               "scarce."},
    {.name = "index-max-pending",
     .type = VX_CFG_UINT64,
     .def = "65536",
     .min = "0",
     .max = "100000000",
     .offset = OFF(index_max_pending),
     .section = "storage",
     .doc = "The most writes one shard lets wait for its indexer: beyond "
            "it, new writes to that shard wait (up to their timeout, then "
            "503) until the indexer catches up. 0: no bound.",
     .effect = "Each pending point costs every search of the shard one exact "
               "distance; a lower bound keeps searches fast under heavy "
               "ingest, a higher one absorbs longer bursts of writes."},

    /* ----------------------------------------------------------- search */
    {.name = "default-hnsw-m",
     .type = VX_CFG_UINT64,
     .def = "16",
     .min = "2",
     .max = "128",
     .offset = OFF(default_hnsw_m),
     .section = "search",
     .doc = "HNSW links per node (m) for collections created without "
            "hnsw_config.m.",
     .effect = "Higher improves recall, most at high dimension, at the cost "
               "of memory (about 8 x m bytes per point) and slower inserts."},
    {.name = "default-ef-construct",
     .type = VX_CFG_UINT64,
     .def = "100",
     .min = "4",
     .max = "100000",
     .offset = OFF(default_ef_construct),
     .section = "search",
     .doc = "HNSW build candidate list size for collections created without "
            "hnsw_config.ef_construct; at least default-hnsw-m.",
     .effect = "Higher builds a better graph (more recall at the same search "
               "ef) but makes inserts proportionally slower."},
    {.name = "default-hnsw-ef",
     .type = VX_CFG_UINT64,
     .def = "64",
     .min = "1",
     .max = "100000",
     .offset = OFF(default_hnsw_ef),
     .section = "search",
     .doc = "Search candidate list size (ef) when a query gives no "
            "params.hnsw_ef; the server uses max(ef, limit).",
     .effect = "Higher raises recall and latency roughly in proportion; "
               "queries can override it per request."},
    {.name = "exact-selectivity",
     .type = VX_CFG_DOUBLE,
     .def = "0.01",
     .min = "0",
     .max = "1",
     .offset = OFF(exact_selectivity),
     .section = "search",
     .doc = "A filtered search whose filter is estimated to match fewer than "
            "this fraction of the points scans them exactly.",
     .effect = "Higher answers more filters by exact scans (full recall, time "
               "grows with the matches); lower walks the graph more, which "
               "loses recall when few points pass."},
    {.name = "default-oversampling",
     .type = VX_CFG_DOUBLE,
     .def = "2.0",
     .min = "1",
     .max = "100",
     .offset = OFF(default_oversampling),
     .section = "search",
     .doc = "int8-quantized collections: limit x this many candidates from "
            "the int8 search are rescored with the float vectors.",
     .effect = "Higher recovers more of the recall lost to quantization at "
               "the cost of more float distance computations."},
    {.name = "search-partial",
     .type = VX_CFG_BOOL,
     .def = "false",
     .offset = OFF(search_partial),
     .section = "search",
     .doc = "Cluster gateway: a search some of whose shards cannot answer "
            "within its timeout returns the other shards' results (200, "
            "vectron-partial header) instead of failing with 503; a "
            "request's ?partial= overrides it.",
     .effect = "On keeps searches answering through a shard outage at the "
               "cost of silently lower recall for those answers (the header "
               "says which shards are missing); off fails loudly."},
    {.name = "search-cache-size",
     .type = VX_CFG_SIZE,
     .def = "64MiB",
     .min = "0",
     .max = "64GiB",
     .offset = OFF(search_cache_size),
     .section = "search",
     .doc = "Memory for the search result cache (query, search and their "
            "batch forms), keyed by each shard's applied Raft index so that "
            "a write invalidates what it affects; 0 disables it.",
     .effect = "Repeated searches are answered without searching while no "
               "write reaches their shards; the default holds thousands of "
               "typical results (a few KB each) for little memory next to "
               "the indexes. A result larger than 1/32 of this is not "
               "cached."},
    {.name = "search-cache-ttl",
     .type = VX_CFG_DURATION,
     .def = "0",
     .min = "0",
     .max = "24h",
     .offset = OFF(search_cache_ttl_ms),
     .section = "search",
     .doc = "A cached search result older than this is searched again; 0 "
            "keeps results until evicted.",
     .effect = "Never needed for freshness (a write changes the key); set "
               "it to bound how long results of a collection that stopped "
               "changing keep memory, at the cost of re-running them."},

    /* ----------------------------------------------------------- rerank */
    {.name = "reranker-url",
     .type = VX_CFG_STRING,
     .def = "",
     .offset = OFF(reranker_url),
     .section = "rerank",
     .doc = "Endpoint of a rerank service (e.g. http://127.0.0.1:6340/rerank, "
            "served by `vectron reranker` or anything implementing "
            "docs/rerank.md); empty reranks in-process.",
     .effect = "A service can run a learned model or move reranking CPU off "
               "the gateway, at the cost of a network round trip carrying "
               "the candidates; when it fails or times out the search order "
               "is returned, flagged, and counted in "
               "vectron_rerank_fallbacks_total."},
    {.name = "reranker-timeout",
     .type = VX_CFG_DURATION,
     .def = "1s",
     .min = "1ms",
     .max = "10m",
     .offset = OFF(reranker_timeout_ms),
     .section = "rerank",
     .doc = "How long the gateway waits for the rerank service when a "
            "request gives no rerank.timeout_ms.",
     .effect = "Shorter bounds the latency a slow service adds (falling back "
               "to the search order sooner); longer gives a heavy model time "
               "to answer."},

    /* ---------------------------------------------------------- logging */
    {.name = "log-level",
     .type = VX_CFG_ENUM,
     .def = "info",
     .values = log_level_values,
     .offset = OFF(log_level),
     .section = "logging",
     .doc = "Least severity of the log records written.",
     .effect = "debug explains what every module does but is verbose; warn "
               "and error show only problems."},
    {.name = "log-format",
     .type = VX_CFG_ENUM,
     .def = "text",
     .values = log_format_values,
     .offset = OFF(log_format),
     .section = "logging",
     .doc = "Log record format: text (one readable line) or json (one JSON "
            "object per line).",
     .effect = "json suits log collectors; text is easier to read in a "
               "terminal."},
    {.name = "slow-query-ms",
     .type = VX_CFG_DURATION,
     .def = "0",
     .min = "0",
     .max = "1h",
     .offset = OFF(slow_query_ms),
     .section = "logging",
     .doc = "Requests that take at least this long are logged at warn level "
            "(searches with their parameters) and always written to the "
            "request log with \"slow\":true; 0 disables.",
     .effect = "Lower catches more slow queries but logs more lines."},
    /* ---------------------------------------------------------- cluster */
    {.name = "node-id",
     .type = VX_CFG_UINT64,
     .def = "1",
     .min = "1",
     .max = "1000000000",
     .offset = OFF(node_id),
     .section = "cluster",
     .doc = "`vectron pd` and `vectron worker`: this member's id, unique "
            "among the PD members, and among the workers (a worker's id is "
            "its Raft member id in every shard group it hosts).",
     .effect = "Keep it with the data directory: a node that comes back "
               "under another id is a new, empty node."},
    {.name = "rpc-listen",
     .type = VX_CFG_STRING,
     .def = "127.0.0.1:6336",
     .offset = OFF(rpc_listen),
     .section = "cluster",
     .doc = "`vectron pd` and `vectron worker`: address:port of the internal "
            "RPC server (gateways and workers call the PD here, gateways "
            "and the PD call workers here).",
     .effect = "Must be reachable from every other cluster process; keep it "
               "off untrusted networks (no authentication inside the "
               "cluster)."},
    {.name = "pd",
     .type = VX_CFG_STRING,
     .def = "",
     .offset = OFF(pd),
     .section = "cluster",
     .doc = "`vectron worker` and `vectron gateway`: the RPC addresses of "
            "the Placement Driver members, comma-separated.",
     .effect = "List every PD member: calls go to whichever leads, so one "
               "listed member down is harmless."},
    {.name = "pd-peers",
     .type = VX_CFG_STRING,
     .def = "",
     .offset = OFF(pd_peers),
     .section = "cluster",
     .doc = "`vectron pd`: the founding PD members as id=raft-address "
            "pairs, comma-separated (1=10.0.0.1:6335,2=...); empty: this "
            "member alone. Read only when the data directory is new.",
     .effect = "Three members survive one failure, five survive two; every "
               "member must be started with the same list."},
    {.name = "worker-heartbeat",
     .type = VX_CFG_DURATION,
     .def = "1s",
     .min = "50ms",
     .max = "1m",
     .offset = OFF(worker_heartbeat_ms),
     .section = "cluster",
     .doc = "`vectron worker`: time between heartbeats to the PD (carrying "
            "every replica's figures); also how soon it notices catalog "
            "changes.",
     .effect = "Shorter makes placement changes and the PD's figures fresher "
               "at the cost of more PD traffic (one small message per "
               "worker per beat)."},
    {.name = "node-grace",
     .type = VX_CFG_DURATION,
     .def = "5s",
     .min = "100ms",
     .max = "1h",
     .offset = OFF(node_grace_ms),
     .section = "cluster",
     .doc = "`vectron pd`: a worker not heard from for this long is dead, "
            "and the PD re-replicates its shards on the other workers.",
     .effect = "Shorter restores the replication factor sooner but moves "
               "data after brief pauses (GC, network blips); keep it well "
               "above worker-heartbeat."},
    {.name = "schedule-interval",
     .type = VX_CFG_DURATION,
     .def = "1s",
     .min = "10ms",
     .max = "1h",
     .offset = OFF(schedule_interval_ms),
     .section = "cluster",
     .doc = "`vectron pd`: time between passes of the PD leader's "
            "scheduler (failure repair, drains, replica and leader "
            "balancing).",
     .effect = "Shorter reacts faster; each pass reads the whole catalog, "
               "which is cheap below tens of thousands of shards."},
    {.name = "replica-balance-threshold",
     .type = VX_CFG_UINT64,
     .def = "2",
     .min = "0",
     .max = "1000000",
     .offset = OFF(replica_balance_threshold),
     .section = "cluster",
     .doc = "`vectron pd`: move a replica (one at a time, cluster-wide) "
            "when the live active worker holding the most replicas holds "
            "this many more than the least-loaded one that can take one "
            "of its shards; 0 starts no more moves (one in progress is "
            "finished), 1 acts as 2.",
     .effect = "Lower spreads replicas (and their load) more evenly, e.g. "
               "onto a newly added worker; each move copies a whole shard's "
               "store to the new worker (docs/scaling.md), so a higher "
               "value moves less data for a rougher balance."},

    /* --------------------------------------------------------- security */
    {.name = "api-key",
     .type = VX_CFG_STRING,
     .def = "",
     .offset = OFF(api_key),
     .section = "security",
     .doc = "Bootstrap admin API key (Qdrant's service.api_key): once set, "
            "every route but /healthz, /livez and /readyz needs a "
            "credential. Prefer VECTRON_API_KEY or the config file to a flag.",
     .effect = "Secures a fresh server and lets `vectron keys create` mint "
               "scoped keys; use a long random value (e.g. openssl rand "
               "-base64 32) and TLS in front of the server."},
    {.name = "read-only-api-key",
     .type = VX_CFG_STRING,
     .def = "",
     .offset = OFF(read_only_api_key),
     .section = "security",
     .doc = "Bootstrap read-only API key (Qdrant's "
            "service.read_only_api_key); setting it also turns "
            "authentication on.",
     .effect = "Gives readers a key without an admin round trip; stored "
               "keys (vectron keys create) can be scoped and revoked, this "
               "one only changed by a restart."},
    {.name = "jwt-secret",
     .type = VX_CFG_STRING,
     .def = "",
     .offset = OFF(jwt_secret),
     .section = "security",
     .doc = "HMAC secret of HS256 JWTs accepted as bearer tokens (Qdrant's "
            "claims: exp, access); setting it turns authentication on.",
     .effect = "Lets an identity service mint short-lived, per-collection "
               "tokens without touching the server; whoever holds it can "
               "mint any access, so keep it as secret as api-key (Qdrant "
               "signs with its api_key: set both alike to match)."},
    {.name = "rate-limit-anonymous",
     .type = VX_CFG_DOUBLE,
     .def = "0",
     .min = "0",
     .max = "1000000",
     .offset = OFF(rate_limit_anonymous),
     .section = "security",
     .doc = "Requests per second allowed to each client without credentials "
            "(only while no credential is configured) and each address "
            "presenting bad credentials (a token bucket "
            "per client address); 0: unlimited.",
     .effect = "Lower protects the server from one busy or runaway client; "
               "excess requests get 429 with Retry-After. Each gateway "
               "process counts on its own."},
    {.name = "rate-burst-anonymous",
     .type = VX_CFG_UINT64,
     .def = "0",
     .min = "0",
     .max = "1000000",
     .offset = OFF(rate_burst_anonymous),
     .section = "security",
     .doc = "Bucket size for rate-limit-anonymous: requests allowed at once "
            "after a pause; 0: one second's worth (at least 1).",
     .effect = "Higher absorbs bursts without 429s; the long-run rate stays "
               "rate-limit-anonymous."},
    {.name = "rate-limit-read",
     .type = VX_CFG_DOUBLE,
     .def = "0",
     .min = "0",
     .max = "1000000",
     .offset = OFF(rate_limit_read),
     .section = "security",
     .doc = "Requests per second allowed to each read-only credential (a token "
            "bucket "
            "per credential); 0: unlimited.",
     .effect = "Lower protects the server from one busy or runaway client; "
               "excess requests get 429 with Retry-After. Each gateway "
               "process counts on its own."},
    {.name = "rate-burst-read",
     .type = VX_CFG_UINT64,
     .def = "0",
     .min = "0",
     .max = "1000000",
     .offset = OFF(rate_burst_read),
     .section = "security",
     .doc = "Bucket size for rate-limit-read: requests allowed at once "
            "after a pause; 0: one second's worth (at least 1).",
     .effect = "Higher absorbs bursts without 429s; the long-run rate stays "
               "rate-limit-read."},
    {.name = "rate-limit-write",
     .type = VX_CFG_DOUBLE,
     .def = "0",
     .min = "0",
     .max = "1000000",
     .offset = OFF(rate_limit_write),
     .section = "security",
     .doc = "Requests per second allowed to each read-write credential (a "
            "token bucket "
            "per credential); 0: unlimited.",
     .effect = "Lower protects the server from one busy or runaway client; "
               "excess requests get 429 with Retry-After. Each gateway "
               "process counts on its own."},
    {.name = "rate-burst-write",
     .type = VX_CFG_UINT64,
     .def = "0",
     .min = "0",
     .max = "1000000",
     .offset = OFF(rate_burst_write),
     .section = "security",
     .doc = "Bucket size for rate-limit-write: requests allowed at once "
            "after a pause; 0: one second's worth (at least 1).",
     .effect = "Higher absorbs bursts without 429s; the long-run rate stays "
               "rate-limit-write."},
    {.name = "rate-limit-admin",
     .type = VX_CFG_DOUBLE,
     .def = "0",
     .min = "0",
     .max = "1000000",
     .offset = OFF(rate_limit_admin),
     .section = "security",
     .doc =
         "Requests per second allowed to each admin credential (a token bucket "
         "per credential); 0: unlimited.",
     .effect = "Lower protects the server from one busy or runaway client; "
               "excess requests get 429 with Retry-After. Each gateway "
               "process counts on its own."},
    {.name = "rate-burst-admin",
     .type = VX_CFG_UINT64,
     .def = "0",
     .min = "0",
     .max = "1000000",
     .offset = OFF(rate_burst_admin),
     .section = "security",
     .doc = "Bucket size for rate-limit-admin: requests allowed at once "
            "after a pause; 0: one second's worth (at least 1).",
     .effect = "Higher absorbs bursts without 429s; the long-run rate stays "
               "rate-limit-admin."},
    {.name = "request-log",
     .type = VX_CFG_STRING,
     .def = "off",
     .offset = OFF(request_log),
     .section = "logging",
     .doc = "Where the request log goes: off, stderr, or a file path "
            "(appended): one JSON line per request (docs/request-log.md).",
     .effect = "A writer thread does the I/O, so requests never wait on the "
               "disk; when it falls behind, lines are dropped and counted "
               "(vectron_request_log_dropped_total)."},
    {.name = "request-log-sample",
     .type = VX_CFG_DOUBLE,
     .def = "1",
     .min = "0",
     .max = "1",
     .offset = OFF(request_log_sample),
     .section = "logging",
     .doc = "Fraction of successful, fast requests written to the request "
            "log; errors (status >= 400) and slow requests are always "
            "written.",
     .effect = "Lower cuts the log's volume and cost under heavy traffic "
               "while keeping every failure and slow query."},
};

#define N_KNOBS (sizeof serve_knobs / sizeof serve_knobs[0])

const vx_config_knob *vx_serve_config_table(size_t *n)
{
    *n = N_KNOBS;
    return serve_knobs;
}

/* The rules no single knob's range can express. */
static int check_relations(const vx_serve_config *c, vectron_error *err)
{
    if (c->heartbeat_interval_ms >= c->election_timeout_ms) {
        return vx_err(err, VECTRON_INVALID,
                      "heartbeat-interval (%llums) must be below "
                      "election-timeout (%llums)",
                      (unsigned long long)c->heartbeat_interval_ms,
                      (unsigned long long)c->election_timeout_ms);
    }
    if (c->default_ef_construct < c->default_hnsw_m) {
        return vx_err(err, VECTRON_INVALID,
                      "default-ef-construct (%llu) must be at least "
                      "default-hnsw-m (%llu)",
                      (unsigned long long)c->default_ef_construct,
                      (unsigned long long)c->default_hnsw_m);
    }
    return 0;
}

int vx_serve_config_load(int argc, char **argv, vx_serve_config *cfg,
                         vx_config_status *st, vectron_error *err)
{
    int rc = vx_config_load(serve_knobs, N_KNOBS, argc, argv, cfg, st, err);

    if (rc || st->help) {
        return rc;
    }
    if ((rc = check_relations(cfg, err))) {
        vx_serve_config_close(cfg);
    }
    return rc;
}

void vx_serve_config_close(vx_serve_config *cfg)
{
    vx_config_close(serve_knobs, N_KNOBS, cfg);
}

int vx_serve_config_help(FILE *out, vectron_error *err)
{
    return vx_config_help(serve_knobs, N_KNOBS, out,
                          "usage: vectron serve [flags]\n\n"
                          "Runs a single-process Vectron: placement driver, "
                          "worker and REST gateway\nsharing one data "
                          "directory.",
                          err);
}

int vx_serve_config_markdown(FILE *out, vectron_error *err)
{
    return vx_config_markdown(serve_knobs, N_KNOBS, out,
                              "vectron serve: configuration", err);
}

int vx_serve_config_dump(const vx_serve_config *cfg, FILE *out,
                         vectron_error *err)
{
    return vx_config_dump(serve_knobs, N_KNOBS, cfg, out, err);
}
