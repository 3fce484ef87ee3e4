/*
 * test_api.c - the REST route table and the OpenAPI document built from
 * it: every route is documented, the document lists exactly the routes
 * the server serves, and the table is one the HTTP router accepts.
 * (Endpoint behaviour is tested against a live server by
 * tests/integration and tests/js.)
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

#include "gateway/api.h"

Test(api, every_route_is_documented_and_in_the_openapi_document)
{
    size_t n;
    const http_route *rt = gw_api_routes(&n);
    cr_assert_gt(n, 20);
    json_t *doc = gw_api_openapi_doc(rt, n);
    cr_assert_not_null(doc);
    json_t *paths = json_object_get(doc, "paths");
    cr_assert(json_is_object(paths));
    size_t ops = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(gw_api_route_documented(rt[i].name),
                  "route %s %s (%s) has no entry in api_openapi.c",
                  rt[i].method, rt[i].pattern, rt[i].name);
        json_t *item = json_object_get(paths, rt[i].pattern);
        cr_assert_not_null(item, "path %s missing", rt[i].pattern);
        char m[16];
        size_t k = 0;
        for (; rt[i].method[k] && k < sizeof m - 1; k++)
            m[k] = (char)tolower((unsigned char)rt[i].method[k]);
        m[k] = '\0';
        json_t *op = json_object_get(item, m);
        cr_assert_not_null(op, "%s %s missing", m, rt[i].pattern);
        cr_assert_str_eq(json_string_value(json_object_get(op, "operationId")),
                         rt[i].name);
        for (size_t j = 0; j < i; j++)
            cr_assert(strcmp(rt[i].name, rt[j].name) != 0,
                      "route name %s used twice", rt[i].name);
    }
    /* Nothing more in the document than the table. */
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item) ops += json_object_size(item);
    cr_assert_eq(ops, n);
    json_decref(doc);
}

static void nop(void *ctx, const http_request *r, http_response *w)
{
    (void)ctx;
    (void)r;
    (void)w;
}

Test(api, the_router_accepts_the_table)
{
    size_t n;
    const http_route *rt = gw_api_routes(&n);
    http_route copy[64];
    cr_assert_leq(n, 64);
    for (size_t i = 0; i < n; i++) {
        copy[i] = rt[i];
        copy[i].fn = nop;
    }
    http_config cfg = {.listen_address = "127.0.0.1:0", .threads = 1};
    http_server *s = NULL;
    vectron_error err;
    cr_assert_eq(http_server_start(&cfg, copy, n, NULL, &s, &err), 0, "%s",
                 err.msg);
    http_server_stop(s);
}
