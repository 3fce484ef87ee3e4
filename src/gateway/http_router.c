/*
 * http_router.c - the route table of the HTTP server (http.h): patterns
 * compiled into segments once at start, and per request the raw URL path
 * split, percent-decoded and matched.
 *
 * Matching compares decoded segments with literal pattern segments, so
 * "/collection%73" reaches "/collections"; a capture takes any non-empty
 * decoded segment, "%2F" included. Among the routes that match a path and
 * method, the one with a literal at the leftmost segment where they differ
 * wins, whatever the table order.
 *
 * Threading: reentrant; the compiled table is read-only after
 * http_routes_compile.
 */
#include <string.h>

#include "common/common.h"
#include "gateway/http.h"

/* ---- compile ----------------------------------------------------------- */

static int compile_one(const http_route *r, size_t idx, http_compiled_route *c,
                       vectron_error *err)
{
    const char *p;

    memset(c, 0, sizeof *c);
    if (!r->method || !r->method[0] || !r->pattern || !r->fn || !r->name ||
        !r->name[0]) {
        return vx_err(err, VECTRON_INVALID,
                      "http: routes[%zu]: method, pattern, handler and name "
                      "are required",
                      idx);
    }
    if (r->pattern[0] != '/') {
        return vx_err(err, VECTRON_INVALID,
                      "http: routes[%zu] \"%.100s\": pattern must start with "
                      "'/'",
                      idx, r->pattern);
    }
    p = r->pattern + 1;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0) {
            return vx_err(err, VECTRON_INVALID,
                          "http: routes[%zu] \"%.100s\": empty segment", idx,
                          r->pattern);
        }
        if (c->nseg == HTTP_MAX_SEGMENTS) {
            return vx_err(err, VECTRON_INVALID,
                          "http: routes[%zu] \"%.100s\": more than %u "
                          "segments",
                          idx, r->pattern, HTTP_MAX_SEGMENTS);
        }
        if (p[0] == '{') {
            if (len < 3 || p[len - 1] != '}' || memchr(p + 1, '{', len - 2) ||
                memchr(p + 1, '}', len - 2)) {
                return vx_err(err, VECTRON_INVALID,
                              "http: routes[%zu] \"%.100s\": a capture must "
                              "be a whole segment {name}",
                              idx, r->pattern);
            }
            if (c->nparams == HTTP_MAX_PARAMS) {
                return vx_err(err, VECTRON_INVALID,
                              "http: routes[%zu] \"%.100s\": more than %u "
                              "captures",
                              idx, r->pattern, HTTP_MAX_PARAMS);
            }
            c->nparams++;
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len) ||
                memchr(p, '%', len)) {
                return vx_err(err, VECTRON_INVALID,
                              "http: routes[%zu] \"%.100s\": '{', '}' or '%%' "
                              "inside a literal segment",
                              idx, r->pattern);
            }
            c->seg[c->nseg].text = p;
            c->seg[c->nseg].len = len;
            c->literal_mask |= 1u << (HTTP_MAX_SEGMENTS - 1 - c->nseg);
        }
        c->nseg++;
        if (!end) {
            break;
        }
        p = end + 1; /* a trailing '/' ends the loop here */
    }
    if (r->collection_param) {
        size_t nl = strlen(r->collection_param);
        const char *q = r->pattern;
        while ((q = strchr(q, '{')) != NULL &&
               !(strncmp(q + 1, r->collection_param, nl) == 0 &&
                 q[nl + 1] == '}')) {
            q++;
        }
        if (!q) {
            return vx_err(err, VECTRON_INVALID,
                          "http: routes[%zu] \"%.100s\": collection_param "
                          "\"%.60s\" is not one of its captures",
                          idx, r->pattern, r->collection_param);
        }
    }
    return 0;
}

/* 1 if a and b have the same literals in the same places. */
static int same_shape(const http_compiled_route *a,
                      const http_compiled_route *b)
{
    if (a->nseg != b->nseg || a->literal_mask != b->literal_mask) {
        return 0;
    }
    for (size_t s = 0; s < a->nseg; s++) {
        if (a->seg[s].text &&
            (a->seg[s].len != b->seg[s].len ||
             memcmp(a->seg[s].text, b->seg[s].text, a->seg[s].len) != 0)) {
            return 0;
        }
    }
    return 1;
}

int http_routes_compile(const http_route *routes, size_t nroutes,
                        http_compiled_route **out, vectron_error *err)
{
    http_compiled_route *c;
    int rc = 0;

    *out = NULL;
    if (nroutes > 0 && !routes) {
        return vx_err(err, VECTRON_INVALID, "http: route table is NULL");
    }
    c = vx_calloc(nroutes ? nroutes : 1, sizeof *c);
    if (!c) {
        return vx_err(err, VECTRON_NOMEM, "http: out of memory");
    }
    for (size_t i = 0; i < nroutes && rc == 0; i++) {
        rc = compile_one(&routes[i], i, &c[i], err);
        for (size_t j = 0; j < i && rc == 0; j++) {
            if (strcmp(routes[i].method, routes[j].method) == 0 &&
                same_shape(&c[i], &c[j])) {
                rc = vx_err(err, VECTRON_INVALID,
                            "http: routes[%zu] (%.16s %.100s) duplicates "
                            "routes[%zu]",
                            i, routes[i].method, routes[i].pattern, j);
            }
        }
    }
    if (rc) {
        vx_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ---- match ------------------------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Percent-decodes s[0..n) into out (NUL-terminated, at most n + 1 bytes).
 * Returns the decoded length, or -1 for a bad escape or %00. */
static long decode(const char *s, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        if (n - i < 3) {
            return -1;
        }
        int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            return -1;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return (long)o;
}

/* Appends method to the ", "-separated list in allow unless present. */
static void allow_add(char *allow, size_t size, const char *method)
{
    size_t ml = strlen(method), al = strlen(allow);
    const char *p = allow;

    while (*p) {
        size_t tl = strcspn(p, ",");
        if (tl == ml && memcmp(p, method, ml) == 0) {
            return;
        }
        p += tl;
        p += strspn(p, ", ");
    }
    if (al + (al ? 2 : 0) + ml + 1 > size) {
        return;
    }
    if (al) {
        memcpy(allow + al, ", ", 2);
        al += 2;
    }
    memcpy(allow + al, method, ml + 1);
}

int http_route_find(const http_route *routes,
                    const http_compiled_route *compiled, size_t nroutes,
                    const char *method, const char *path, char *segbuf,
                    http_route_match *m, char *allow, size_t allow_size)
{
    const char *seg[HTTP_MAX_SEGMENTS];
    size_t seglen[HTTP_MAX_SEGMENTS];
    size_t nseg = 0, plen;
    const char *p;
    char *d = segbuf;
    long best = -1;

    memset(m, 0, sizeof *m);
    if (allow_size > 0) {
        allow[0] = '\0';
    }
    if (path[0] != '/') {
        return HTTP_ROUTE_NOT_FOUND;
    }
    p = path + 1;
    plen = strlen(p);
    /* One trailing slash is ignored ("/a/" is "/a", "/a//" is not). */
    if (plen >= 2 && p[plen - 1] == '/' && p[plen - 2] != '/') {
        plen--;
    }
    for (size_t i = 0; plen > 0;) {
        size_t j = i;
        while (j < plen && p[j] != '/') {
            j++;
        }
        if (nseg == HTTP_MAX_SEGMENTS) {
            return HTTP_ROUTE_NOT_FOUND;
        }
        long n = decode(p + i, j - i, d);
        if (n < 0) {
            return HTTP_ROUTE_BAD_PATH;
        }
        seg[nseg] = d;
        seglen[nseg] = (size_t)n;
        nseg++;
        d += n + 1;
        if (j >= plen) {
            break;
        }
        i = j + 1;
    }

    for (size_t r = 0; r < nroutes; r++) {
        const http_compiled_route *c = &compiled[r];
        size_t s = 0;
        if (c->nseg != nseg) {
            continue;
        }
        while (s < nseg && (c->seg[s].text ? seglen[s] == c->seg[s].len &&
                                                 memcmp(seg[s], c->seg[s].text,
                                                        seglen[s]) == 0
                                           : seglen[s] > 0)) {
            s++;
        }
        if (s < nseg) {
            continue;
        }
        if (strcmp(routes[r].method, method) != 0) {
            allow_add(allow, allow_size, routes[r].method);
        } else if (best < 0 || c->literal_mask > compiled[best].literal_mask) {
            best = (long)r;
        }
    }
    if (best < 0) {
        return allow_size > 0 && allow[0] ? HTTP_ROUTE_WRONG_METHOD
                                          : HTTP_ROUTE_NOT_FOUND;
    }
    m->route = &routes[best];
    m->index = (size_t)best;
    for (size_t s = 0; s < nseg; s++) {
        if (!compiled[best].seg[s].text) {
            m->params[m->nparams++] = seg[s];
        }
    }
    return HTTP_ROUTE_FOUND;
}
