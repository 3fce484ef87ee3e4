/*
 * test_dashboard.c - the embedded dashboard (gateway/dashboard.h): the
 * table that embed_dashboard.cmake generates (every file, its type, ETag,
 * bytes equal to the source), the If-None-Match rule, and the handlers
 * behind a real HTTP server (200 with the bytes, 304, 404 for unknown names
 * and traversal attempts). Headers and the page itself are tested in a
 * browser by tests/dashboard.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "common/http_client.h"
#include "gateway/dashboard.h"

#ifndef VECTRON_DASHBOARD_DIR
#error "VECTRON_DASHBOARD_DIR must name src/gateway/dashboard"
#endif

TestSuite(dashboard, .timeout = 60);

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    char *buf = vx_malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static const char *type_for(const char *name)
{
    const char *dot = strrchr(name, '.');
    cr_assert_not_null(dot, "%s has no extension", name);
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    cr_assert_fail("no expected type for %s", name);
    return NULL;
}

Test(dashboard, table_holds_every_source_file_byte_for_byte)
{
    DIR *d = opendir(VECTRON_DASHBOARD_DIR);
    cr_assert_not_null(d);
    size_t files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        files++;
        const gw_dashboard_asset *a = gw_dashboard_find(e->d_name);
        cr_assert_not_null(a, "%s is not embedded", e->d_name);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", VECTRON_DASHBOARD_DIR, e->d_name);
        size_t len;
        char *src = read_file(path, &len);
        cr_assert_eq(a->len, len, "%s: %zu bytes embedded, %zu on disk",
                     e->d_name, a->len, len);
        cr_assert_eq(memcmp(a->data, src, len), 0, "%s differs", e->d_name);
        cr_assert_eq(a->data[len], 0, "%s: no NUL after the data", e->d_name);
        vx_free(src);
        cr_assert_str_eq(a->content_type, type_for(a->name));
        /* "\"" + 16 hex digits + "\"" */
        cr_assert_eq(strlen(a->etag), 18u, "%s: etag %s", a->name, a->etag);
        cr_assert_eq(a->etag[0], '"');
        cr_assert_eq(a->etag[17], '"');
        cr_assert_eq(strspn(a->etag + 1, "0123456789abcdef"), 16u);
    }
    closedir(d);
    cr_assert_eq(files, gw_dashboard_nassets);
    for (size_t i = 0; i < gw_dashboard_nassets; i++)
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(gw_dashboard_assets[i].etag,
                              gw_dashboard_assets[j].etag);
}

/* Every "/dashboard/..." URL that index.html references is embedded. */
Test(dashboard, index_references_only_embedded_files)
{
    const gw_dashboard_asset *index = gw_dashboard_find("index.html");
    cr_assert_not_null(index);
    const char *p = (const char *)index->data;
    size_t refs = 0;
    while ((p = strstr(p, "\"/dashboard/")) != NULL) {
        p += strlen("\"/dashboard/");
        const char *end = strchr(p, '"');
        cr_assert_not_null(end);
        char name[128];
        size_t n = (size_t)(end - p);
        cr_assert_lt(n, sizeof name);
        memcpy(name, p, n);
        name[n] = '\0';
        cr_assert_not_null(gw_dashboard_find(name),
                           "index.html references /dashboard/%s", name);
        refs++;
    }
    cr_assert_geq(refs, 3u); /* style, script, icon */
    cr_assert_eq(strstr((const char *)index->data, "http://"), NULL,
                 "index.html must not fetch from elsewhere");
    cr_assert_eq(strstr((const char *)index->data, "https://"), NULL);
}

Test(dashboard, find_takes_exact_names_only)
{
    cr_assert_not_null(gw_dashboard_find("app.js"));
    const char *bad[] = {"",          ".",           "..",      "INDEX.HTML",
                         "index.htm", "index.html/", "/app.js", "../app.js",
                         "app.js ",   "app.js\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_null(gw_dashboard_find(bad[i]), "\"%s\"", bad[i]);
}

Test(dashboard, if_none_match)
{
    const char *tag = "\"0123456789abcdef\"";
    cr_assert(!gw_dashboard_etag_matches(NULL, tag));
    cr_assert(!gw_dashboard_etag_matches("", tag));
    cr_assert(gw_dashboard_etag_matches("\"0123456789abcdef\"", tag));
    cr_assert(gw_dashboard_etag_matches("W/\"0123456789abcdef\"", tag));
    cr_assert(gw_dashboard_etag_matches("*", tag));
    cr_assert(
        gw_dashboard_etag_matches(" \"x\" ,  \"0123456789abcdef\" ", tag));
    cr_assert(gw_dashboard_etag_matches("\"x\",*", tag));
    cr_assert(!gw_dashboard_etag_matches("\"0123456789abcdee\"", tag));
    cr_assert(!gw_dashboard_etag_matches("0123456789abcdef", tag));
    cr_assert(!gw_dashboard_etag_matches("\"0123456789abcdef", tag));
    cr_assert(!gw_dashboard_etag_matches("\"x\", \"y\"", tag));
    cr_assert(!gw_dashboard_etag_matches(",,, ,", tag));
    cr_assert(!gw_dashboard_etag_matches("**", tag));
}

/* ---- behind the HTTP server ---------------------------------------------- */

static const http_route routes[] = {
    {"GET", "/dashboard", gw_dashboard_index, "dashboard", HTTP_ACCESS_PUBLIC,
     NULL},
    {"GET", "/dashboard/{asset}", gw_dashboard_asset_get, "dashboard_asset",
     HTTP_ACCESS_PUBLIC, NULL},
};

static http_server *srv;
static vx_http_client *cli;

static void start(void)
{
    http_config cfg = {.listen_address = "127.0.0.1:0", .threads = 2};
    vectron_error err = {0};
    cr_assert_eq(http_server_start(&cfg, routes, 2, NULL, &srv, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(vx_http_client_new(0, &cli, &err), 0, "%s", err.msg);
}

static void stop(void)
{
    vx_http_client_free(cli);
    http_server_stop(srv);
}

static long get(const char *path, const char *inm, vx_http_response *r)
{
    char url[512];
    char hdr[160];
    const char *headers[1] = {hdr};
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", http_server_port(srv),
             path);
    if (inm)
        snprintf(hdr, sizeof hdr, "If-None-Match: %s", inm);
    vectron_error err = {0};
    cr_assert_eq(vx_http_client_request(cli, "GET", url, headers, inm ? 1 : 0,
                                        NULL, 0, 10000, r, &err),
                 0, "%s: %s", path, err.msg);
    return r->status;
}

Test(dashboard, served_over_http, .init = start, .fini = stop)
{
    vx_http_response r;
    for (size_t i = 0; i < gw_dashboard_nassets; i++) {
        const gw_dashboard_asset *a = &gw_dashboard_assets[i];
        char path[256];
        snprintf(path, sizeof path, "/dashboard/%s", a->name);
        cr_assert_eq(get(path, NULL, &r), 200, "%s", path);
        cr_assert_eq(r.len, a->len);
        cr_assert_eq(memcmp(r.body, a->data, a->len), 0);
        vx_http_response_free(&r);
        cr_assert_eq(get(path, a->etag, &r), 304, "%s", path);
        cr_assert_eq(r.len, 0u);
        vx_http_response_free(&r);
        cr_assert_eq(get(path, "\"0000000000000000\"", &r), 200, "%s", path);
        vx_http_response_free(&r);
    }
    const gw_dashboard_asset *index = gw_dashboard_find("index.html");
    cr_assert_eq(get("/dashboard", NULL, &r), 200);
    cr_assert_eq(r.len, index->len);
    vx_http_response_free(&r);
    cr_assert_eq(get("/dashboard/", NULL, &r), 200);
    vx_http_response_free(&r);

    const char *missing[] = {
        "/dashboard/nope.js",       "/dashboard/..",
        "/dashboard/%2e%2e",        "/dashboard/..%2Fapi.c",
        "/dashboard/index.html%2F", "/dashboard/a/b"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        cr_assert_eq(get(missing[i], NULL, &r), 404, "%s", missing[i]);
        cr_assert(strstr(r.body, "\"error\"") != NULL, "%s", r.body);
        vx_http_response_free(&r);
    }
}
