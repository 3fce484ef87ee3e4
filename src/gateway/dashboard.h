/*
 * dashboard.h - the web dashboard served at /dashboard (docs/dashboard.md):
 * static files from src/gateway/dashboard/ compiled into the binary at
 * build time (embed_dashboard.cmake writes dashboard_assets.c), so
 * `vectron serve` needs nothing beside its executable. The page itself is plain
 * HTML/CSS/JS that reads the public REST API of the same server.
 *
 * Serving rules: the asset is looked up by its exact name in the embedded
 * table (no file system access, so no path can escape it: "..", "%2F" and
 * anything else not in the table is a 404); each answer carries the
 * asset's Content-Type, an ETag (a hash of its bytes computed at build
 * time), "Cache-Control: no-cache" (revalidate every time: the assets
 * change with the binary), X-Content-Type-Options: nosniff and a
 * Content-Security-Policy that allows nothing but this origin. A request
 * whose If-None-Match names the current ETag gets 304 with no body.
 *
 * Threading: the asset table is read-only static data; the handler is
 * reentrant.
 *
 * Prefix: gw_dashboard_.
 */
#ifndef VECTRON_GW_DASHBOARD_H
#define VECTRON_GW_DASHBOARD_H

#include <stddef.h>

#include "gateway/http.h"

typedef struct gw_dashboard_asset {
    const char *name;         /* "app.js": the last URL segment */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const char *etag;         /* quoted: "\"3f2a...\"" */
    const unsigned char *data;
    size_t len;
} gw_dashboard_asset;

/* The embedded assets (generated; static storage). */
extern const gw_dashboard_asset gw_dashboard_assets[];
extern const size_t gw_dashboard_nassets;

/* The asset called name, or NULL. name is borrowed for the call. */
const gw_dashboard_asset *gw_dashboard_find(const char *name);

/* 1 if the If-None-Match header value inm (NULL: absent) matches etag:
 * "*", or a comma-separated list holding it (weak "W/" forms compare
 * equal, as RFC 9110 says for If-None-Match). */
int gw_dashboard_etag_matches(const char *inm, const char *etag);

/* Route handlers. GET /dashboard answers index.html; GET
 * /dashboard/{asset} the named asset, or 404. ctx is unused. */
void gw_dashboard_index(void *ctx, const http_request *r, http_response *w);
void gw_dashboard_asset_get(void *ctx, const http_request *r, http_response *w);

#endif
