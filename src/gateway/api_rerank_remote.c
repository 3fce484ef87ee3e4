/*
 * api_rerank_remote.c - the gateway's client of a rerank service (knob
 * reranker-url; the contract is in src/rerank/rerank_json.h and
 * docs/rerank.md): encodes the request, POSTs it with the request's
 * timeout, checks and parses the answer.
 *
 * Threading: any HTTP thread. HTTP client handles (each keeps a
 * keep-alive connection) live in a small pool under api->rerank_mu: a
 * call takes one (or makes one), uses it alone and puts it back.
 */
#include <string.h>

#include "common/common.h"
#include "common/http_client.h"
#include "gateway/api.h"
#include "rerank/rerank_json.h"

/* Largest rerank response accepted. */
#define RERANK_MAX_RESPONSE (64u << 20)

static int take(gw_api *api, vx_http_client **out, vectron_error *err)
{
    pthread_mutex_lock(&api->rerank_mu);
    *out = api->rerank_npool ? api->rerank_pool[--api->rerank_npool] : NULL;
    pthread_mutex_unlock(&api->rerank_mu);
    if (*out)
        return 0;
    return vx_http_client_new(RERANK_MAX_RESPONSE, out, err);
}

static void give_back(gw_api *api, vx_http_client *c, int healthy)
{
    if (healthy) {
        pthread_mutex_lock(&api->rerank_mu);
        if (api->rerank_npool < GW_RERANK_POOL) {
            api->rerank_pool[api->rerank_npool++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&api->rerank_mu);
    }
    vx_http_client_free(c);
}

void gw_api_rerank_close(gw_api *api)
{
    while (api->rerank_npool)
        vx_http_client_free(api->rerank_pool[--api->rerank_npool]);
}

int api_rerank_remote(gw_api *api, const rerank_request *rq,
                      unsigned timeout_ms, rerank_fused **out, size_t *nout,
                      vectron_error *err)
{
    const char *url = api->o.reranker_url;
    vx_http_client *c = NULL;
    vx_http_response resp = {0};
    char *body = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    *nout = 0;
    if ((rc = rerank_request_encode(rq, &body, &len, err)) ||
        (rc = take(api, &c, err)))
        goto out;
    rc = vx_http_client_request(c, "POST", url, NULL, 0, body, len, timeout_ms,
                                &resp, err);
    give_back(api, c, rc == 0);
    if (rc)
        goto out;
    if (resp.status != 200) {
        rc = vx_err(err, VECTRON_UNAVAILABLE,
                    "rerank service %s answered HTTP %ld: %.200s", url,
                    resp.status, resp.body);
        goto out;
    }
    if ((rc = rerank_response_parse(resp.body, resp.len, rq->limit, out, nout,
                                    err)))
        vx_err_wrap(err, rc, "rerank service %s", url);
out:
    vx_http_response_free(&resp);
    vx_free(body);
    return rc;
}
