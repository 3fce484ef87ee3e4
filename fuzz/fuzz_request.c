/*
 * fuzz_request.c - libFuzzer harness for what the server decodes before a
 * handler runs and what the PD replicates: the router (method + path
 * against the real REST route table, percent-decoding of captures) and the
 * catalog state machine (PD commands and catalog snapshots).
 *
 * Input: byte 0 selects the target; the rest is the data. For the router,
 * the data is "METHOD PATH" up to the first NUL; matched captures must be
 * NUL-terminated, non-empty and free of NUL. For the catalog, the data is
 * applied as a command to a catalog holding two collections, then given
 * to restore; anything that decodes must round-trip through a snapshot.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "gateway/api.h"
#include "pd/catalog.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

static void route(const uint8_t *data, size_t n)
{
    static http_compiled_route *compiled;
    static const http_route *routes;
    static size_t nroutes;
    if (!compiled) {
        routes = gw_api_routes(&nroutes);
        CHECK(http_routes_compile(routes, nroutes, &compiled, NULL) == 0);
    }
    char *text = malloc(n + 1);
    CHECK(text);
    memcpy(text, data, n);
    text[n] = '\0';
    char *sp = strchr(text, ' ');
    const char *method = text, *path = "";
    if (sp) {
        *sp = '\0';
        path = sp + 1;
    }
    char *segbuf = malloc(strlen(path) + 1);
    CHECK(segbuf);
    http_route_match m;
    char allow[64];
    int r = http_route_find(routes, compiled, nroutes, method, path, segbuf, &m,
                            allow, sizeof allow);
    if (r == HTTP_ROUTE_FOUND) {
        CHECK(m.route == &routes[m.index]);
        for (size_t i = 0; i < m.nparams; i++)
            CHECK(m.params[i] && m.params[i][0]);
    }
    free(segbuf);
    free(text);
}

static void catalog(const uint8_t *data, size_t n)
{
    pd_catalog *c, *r;
    CHECK(pd_catalog_new(&c, NULL) == 0);
    CHECK(pd_catalog_new(&r, NULL) == 0);
    pd_collection_params p = {.dim = 4,
                              .metric = VECTRON_METRIC_L2,
                              .m = 16,
                              .ef_construction = 100,
                              .shard_number = 2,
                              .replication_factor = 1,
                              .read_consistency = PD_READ_EVENTUAL};
    const char *names[] = {"alpha", "beta"};
    for (int i = 0; i < 2; i++) {
        uint8_t *buf;
        size_t len;
        CHECK(pd_cmd_create(names[i], &p, &buf, &len, NULL) == 0);
        CHECK(pd_catalog_apply(c, (uint64_t)i + 1, buf, len) == 0);
        vx_free(buf);
    }
    (void)pd_catalog_apply(c, 10, data, n);
    void *snap;
    size_t len;
    CHECK(pd_catalog_snapshot(c, &snap, &len, NULL) == 0);
    CHECK(pd_catalog_restore(r, snap, len, NULL) == 0);
    CHECK(pd_catalog_epoch(r) == pd_catalog_epoch(c));
    vx_free(snap);
    /* Untrusted snapshot bytes: must be rejected or restored, never
     * crash; a restored catalog must snapshot again. */
    if (pd_catalog_restore(r, data, n, NULL) == 0) {
        CHECK(pd_catalog_snapshot(r, &snap, &len, NULL) == 0);
        vx_free(snap);
    }
    pd_catalog_free(c);
    pd_catalog_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        catalog(data + 1, size - 1);
    else
        route(data + 1, size - 1);
    return 0;
}
