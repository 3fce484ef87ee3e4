/*
 * reranker.c - `vectron reranker`: the rerank strategies of src/rerank
 * served over HTTP with the JSON contract of docs/rerank.md (POST
 * /rerank; GET /healthz answers {"status":"ok"}). A gateway started with
 * --reranker-url http://HOST:PORT/rerank sends its candidates here; a
 * learned model can replace this process by serving the same contract.
 *
 * Knobs: its own small table (listen address, threads, body size, log
 * level), read like serve's (flags, VECTRON_* environment, config file).
 *
 * Threading: the main thread waits for SIGINT/SIGTERM; requests run on
 * the HTTP server's threads, each on its own parsed request (no shared
 * state).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "common/config.h"
#include "gateway/http.h"
#include "rerank/rerank_json.h"

int vx_reranker_main(int argc, char **argv);

typedef struct reranker_config {
    char *listen;
    uint64_t http_threads;
    uint64_t max_body_size;
    int log_level;
} reranker_config;

static const char *const log_level_values[] = {"debug", "info", "warn", "error",
                                               NULL};

#define OFF(field) offsetof(reranker_config, field)

static const vx_config_knob reranker_knobs[] = {
    {.name = "listen",
     .type = VX_CFG_STRING,
     .def = "127.0.0.1:6340",
     .offset = OFF(listen),
     .section = "network",
     .doc = "Address:port the rerank service listens on (port 0 picks a "
            "free one, printed at start-up).",
     .effect = "Gateways reach it at http://ADDRESS:PORT/rerank; keep it on "
               "a trusted network, as requests are not authenticated."},
    {.name = "http-threads",
     .type = VX_CFG_UINT64,
     .def = "0",
     .min = "0",
     .max = "1024",
     .offset = OFF(http_threads),
     .section = "network",
     .doc = "Threads that serve requests; 0 gives each connection its own "
            "thread.",
     .effect = "0 never queues one gateway connection behind another's "
               "rerank; a pool bounds the thread count."},
    {.name = "max-body-size",
     .type = VX_CFG_SIZE,
     .def = "256MiB",
     .min = "1KiB",
     .max = "4GiB",
     .offset = OFF(max_body_size),
     .section = "network",
     .doc = "Largest request accepted (candidates with their vectors and "
            "payloads); a larger one is refused with HTTP 413.",
     .effect = "Bounds the memory one request takes; 1000 candidates of "
               "768-d vectors take about 8 MiB of JSON."},
    {.name = "log-level",
     .type = VX_CFG_ENUM,
     .def = "info",
     .values = log_level_values,
     .offset = OFF(log_level),
     .section = "logging",
     .doc = "Least severity of the log records written.",
     .effect = "debug logs every request's strategy and size."},
};

#define N_KNOBS (sizeof reranker_knobs / sizeof reranker_knobs[0])

const vx_config_knob *vx_reranker_config_table(size_t *n);

/* The knob table (for its unit test); static, valid forever. */
const vx_config_knob *vx_reranker_config_table(size_t *n)
{
    *n = N_KNOBS;
    return reranker_knobs;
}

static double wall_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void rerank_route(void *ctx, const http_request *r, http_response *w)
{
    rerank_parsed p;
    rerank_fused *ranked = NULL;
    size_t n = 0;
    vectron_error err = {0};
    int rc;
    (void)ctx;
    if ((rc = rerank_request_parse(r->body, r->body_len, wall_now_s(), &p,
                                   &err)) == 0) {
        vx_log(VECTRON_LOG_DEBUG, "reranker",
               "strategy=%s candidates=%zu lists=%zu limit=%zu",
               rerank_strategy_name(p.rq.strategy), p.rq.ncands, p.rq.nlists,
               p.rq.limit);
        if ((rc = rerank_run(&p.rq, &ranked, &n, &err)) == 0)
            rc = rerank_response_encode(ranked, n, &w->body, &w->len, &err);
        rerank_parsed_close(&p);
    }
    vx_free(ranked);
    if (rc)
        http_respond_error(r, w, rc == VECTRON_NOMEM ? 503 : 400, err.msg);
}

static void healthz(void *ctx, const http_request *r, http_response *w)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    (void)ctx;
    (void)r;
    if ((w->body = vx_malloc(sizeof ok - 1))) {
        memcpy(w->body, ok, sizeof ok - 1);
        w->len = sizeof ok - 1;
    }
}

static const http_route routes[] = {
    /* No guard on this server (an internal service): PUBLIC. */
    {"POST", "/rerank", rerank_route, "rerank", HTTP_ACCESS_PUBLIC, NULL},
    {"GET", "/healthz", healthz, "healthz", HTTP_ACCESS_PUBLIC, NULL},
};

int vx_reranker_main(int argc, char **argv)
{
    reranker_config cfg;
    vx_config_status st;
    vectron_error err = {0};
    http_server *srv = NULL;
    int rc;

    memset(&cfg, 0, sizeof cfg);
    if ((rc = vx_config_load(reranker_knobs, N_KNOBS, argc, argv, &cfg, &st,
                             &err))) {
        fprintf(stderr, "vectron reranker: %s\n", err.msg);
        return 2;
    }
    if (st.help) {
        vx_config_help(reranker_knobs, N_KNOBS, stdout,
                       "usage: vectron reranker [flags]\n\n"
                       "Serves the rerank strategies over HTTP "
                       "(docs/rerank.md).",
                       NULL);
        vx_config_close(reranker_knobs, N_KNOBS, &cfg);
        return 0;
    }
    if (st.first_positional < argc) {
        fprintf(stderr, "vectron reranker: unexpected argument '%s'\n",
                argv[st.first_positional]);
        vx_config_close(reranker_knobs, N_KNOBS, &cfg);
        return 2;
    }
    vectron_log_set(vectron_log_stderr, NULL, cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    http_config hc = {.listen_address = cfg.listen,
                      .threads = (unsigned)cfg.http_threads,
                      .thread_per_connection = cfg.http_threads == 0,
                      .max_body = (size_t)cfg.max_body_size};
    if ((rc = http_server_start(&hc, routes, sizeof routes / sizeof routes[0],
                                NULL, &srv, &err))) {
        fprintf(stderr, "vectron reranker: %s\n", err.msg);
        vx_config_close(reranker_knobs, N_KNOBS, &cfg);
        return 1;
    }
    vx_log(VECTRON_LOG_INFO, "reranker", "ready: POST http://%s/rerank",
           cfg.listen);
    fprintf(stderr, "vectron reranker: listening on port %u\n",
            http_server_port(srv));
    int sig = 0;
    sigwait(&sigs, &sig);
    vx_log(VECTRON_LOG_INFO, "reranker", "signal %d: shutting down", sig);
    http_server_stop(srv);
    vx_config_close(reranker_knobs, N_KNOBS, &cfg);
    return 0;
}
