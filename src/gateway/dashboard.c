/*
 * dashboard.c - serves the embedded dashboard files (dashboard.h): lookup
 * by exact name, caching headers, conditional requests.
 *
 * Threading: reentrant; reads static data only.
 */
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "gateway/dashboard.h"

/* Only this origin: the page fetches the REST API of the server that
 * served it and nothing else (no CDN, works offline). */
#define DASHBOARD_CSP                                                          \
    "default-src 'self'; img-src 'self' data:; base-uri 'none'; "              \
    "form-action 'none'; frame-ancestors 'none'"

const gw_dashboard_asset *gw_dashboard_find(const char *name)
{
    for (size_t i = 0; i < gw_dashboard_nassets; i++)
        if (strcmp(gw_dashboard_assets[i].name, name) == 0)
            return &gw_dashboard_assets[i];
    return NULL;
}

/* Strips "W/" and compares the entity tag text between the quotes. */
static int same_tag(const char *a, size_t alen, const char *etag)
{
    size_t elen = strlen(etag);
    if (alen >= 2 && a[0] == 'W' && a[1] == '/') {
        a += 2;
        alen -= 2;
    }
    if (elen >= 2 && etag[0] == 'W' && etag[1] == '/') {
        etag += 2;
        elen -= 2;
    }
    return alen == elen && memcmp(a, etag, alen) == 0;
}

int gw_dashboard_etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return 0;
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t len = (size_t)(end - start);
        if (len == 1 && start[0] == '*')
            return 1;
        if (len && same_tag(start, len, etag))
            return 1;
    }
    return 0;
}

static void serve(const http_request *r, http_response *w, const char *name)
{
    const gw_dashboard_asset *a = gw_dashboard_find(name);
    if (!a) {
        char msg[320];
        snprintf(msg, sizeof msg, "dashboard: no file named `%.255s`", name);
        http_respond_error(r, w, 404, msg);
        return;
    }
    if (http_response_header(w, "ETag", a->etag) ||
        http_response_header(w, "Cache-Control", "no-cache") ||
        http_response_header(w, "X-Content-Type-Options", "nosniff") ||
        http_response_header(w, "Content-Security-Policy", DASHBOARD_CSP)) {
        http_respond_error(r, w, 500, "dashboard: response headers");
        return;
    }
    int fresh =
        gw_dashboard_etag_matches(http_header(r, "If-None-Match"), a->etag);
    size_t len = fresh ? 0 : a->len;
    w->body = vx_malloc(len + 1);
    if (!w->body) {
        http_respond_error(r, w, 503, "out of memory");
        return;
    }
    if (len)
        memcpy(w->body, a->data, len);
    w->len = len;
    w->status = fresh ? 304 : 200;
    w->content_type = a->content_type;
}

void gw_dashboard_index(void *ctx, const http_request *r, http_response *w)
{
    (void)ctx;
    serve(r, w, "index.html");
}

void gw_dashboard_asset_get(void *ctx, const http_request *r, http_response *w)
{
    (void)ctx;
    serve(r, w, r->nparams ? r->params[0] : "");
}
