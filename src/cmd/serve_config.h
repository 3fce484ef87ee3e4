/*
 * serve_config.h - the knobs of `vectron serve`: one table (serve_config.c)
 * drives its flags, config file, environment variables, --help and the
 * Markdown reference (see common/config.h for the syntax of each source).
 *
 * Threading: vx_serve_config_load reads the environment; call it at
 * start-up before other threads run. The rest is reentrant.
 */
#ifndef VECTRON_SERVE_CONFIG_H
#define VECTRON_SERVE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "vectron/error.h"

/* Values of store_sync, in the order of the knob's values; the same
 * numbers as store_sync_mode (store/store.h). */
enum vx_serve_store_sync {
    VX_SERVE_SYNC_NONE = 0,
    VX_SERVE_SYNC_DATA = 1,
    VX_SERVE_SYNC_FULL = 2
};

/* Values of log_format. log_level holds a vectron_log_level
 * (VECTRON_LOG_DEBUG .. VECTRON_LOG_ERROR). */
enum vx_serve_log_format { VX_SERVE_LOG_TEXT = 0, VX_SERVE_LOG_JSON = 1 };

/* The effective configuration. Strings are owned by the struct
 * (vx_serve_config_close); durations are milliseconds, sizes bytes. Every
 * value lies within its knob's range (see --help). */
typedef struct vx_serve_config {
    /* network */
    char *data;
    char *http_listen;
    char *raft_listen;
    uint64_t http_threads;
    uint64_t max_connections;
    uint64_t connection_timeout_ms;
    uint64_t max_body_size;
    /* limits */
    uint64_t max_limit;
    uint64_t max_batch;
    uint64_t max_offset;
    uint64_t max_dim;
    uint64_t max_collections;
    uint64_t request_timeout_ms;
    /* raft */
    uint64_t election_timeout_ms;
    uint64_t heartbeat_interval_ms;
    uint64_t snapshot_threshold;
    uint64_t snapshot_trailing;
    uint64_t segment_size;
    /* storage */
    uint64_t store_map_size;
    int store_sync;                        /* enum vx_serve_store_sync */
    uint64_t index_checkpoint_interval_ms; /* 0: no checkpoints */
    uint64_t indexer_nice;                 /* 0..19 */
    uint64_t index_max_pending;            /* per shard; 0: no bound */
    /* search */
    uint64_t default_hnsw_m;
    uint64_t default_ef_construct;
    uint64_t default_hnsw_ef;
    double exact_selectivity;
    double default_oversampling;
    bool search_partial; /* searches may answer without missing shards */
    uint64_t search_cache_size;   /* bytes; 0: off */
    uint64_t search_cache_ttl_ms; /* 0: no expiry */
    /* rerank */
    char *reranker_url; /* "": rerank in-process */
    uint64_t reranker_timeout_ms;
    /* logging */
    int log_level;          /* enum vectron_log_level */
    int log_format;         /* enum vx_serve_log_format */
    uint64_t slow_query_ms; /* 0: off */
    /* cluster */
    uint64_t node_id;
    char *rpc_listen;
    char *pd;
    char *pd_peers;
    uint64_t worker_heartbeat_ms;
    uint64_t node_grace_ms;
    uint64_t schedule_interval_ms;
    uint64_t replica_balance_threshold; /* 0: no replica balancing */
    /* security (docs/auth.md); "" means not set */
    char *api_key;
    char *read_only_api_key;
    char *jwt_secret;
    double rate_limit_anonymous, rate_limit_read, rate_limit_write,
        rate_limit_admin; /* requests/s; 0: unlimited */
    uint64_t rate_burst_anonymous, rate_burst_read, rate_burst_write,
        rate_burst_admin; /* 0: one second's worth */
    char *request_log;    /* "off", "stderr" or a file path */
    double request_log_sample;
} vx_serve_config;

/* The knob table; *n receives its length. Static, valid forever. */
const vx_config_knob *vx_serve_config_table(size_t *n);

/* Loads the configuration of `vectron serve` from defaults, config file,
 * environment and flags (argv[0] is skipped: pass the subcommand's argv,
 * e.g. {"serve", "--data", "/var/lib/vectron"}), then checks the rules
 * that tie knobs together (heartbeat-interval below election-timeout,
 * default-ef-construct at least default-hnsw-m). st reports --help, the
 * config file read, and where the positional arguments start (argv is
 * reordered so that they come last; `vectron serve` takes none, so the
 * caller should reject any).
 *
 * On success *cfg owns its strings (vx_serve_config_close). If st->help is
 * set, cfg holds the defaults and nothing else was read: print
 * vx_serve_config_help and exit 0. On failure *cfg owns nothing and err
 * names the knob and where its value came from. Errors: INVALID, IO (the
 * config file), NOMEM. */
int vx_serve_config_load(int argc, char **argv, vx_serve_config *cfg,
                         vx_config_status *st, vectron_error *err);

/* Frees the strings of cfg. Safe to call twice. */
void vx_serve_config_close(vx_serve_config *cfg);

/* Writes `vectron serve --help`. Returns 0, or IO. */
int vx_serve_config_help(FILE *out, vectron_error *err);

/* Writes the Markdown reference of the serve knobs. Returns 0, or IO. */
int vx_serve_config_markdown(FILE *out, vectron_error *err);

/* Writes cfg as a config file (what is in force). Returns 0, or IO. */
int vx_serve_config_dump(const vx_serve_config *cfg, FILE *out,
                         vectron_error *err);

#endif
