/*
 * qdrant_fastvec.c - a fast path for the query vector of a search request.
 * Decoding a 784-number array through jansson (one json_t per number,
 * then the tree walk) was a third of the server's CPU time per search
 * (docs/bench.md). Here the top-level member "query" (or "vector") of the
 * body is found in the raw text and, when it is an array of exactly dim
 * plain JSON numbers within float32 range, parsed straight into floats;
 * the decoder then parses a copy of the body with that array replaced by
 * null. Anything unusual (another shape, a bad number, escapes in the
 * key) makes it step aside: the regular decoder sees the original body and
 * reports errors exactly as before.
 *
 * Threading: pure.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/json.h"
#include "gateway/qdrant_json_int.h"

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n &&
           (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Skips a string starting at s[i] == '"'; returns the index after it, or
 * n when unterminated. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

/* Skips any JSON value starting at s[i]; returns the index after it. The
 * skip is lenient (jansson validates the text later). */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    int depth = 0;
    while (i < n) {
        char ch = s[i];
        if (ch == '"') {
            i = skip_string(s, i, n);
            if (depth == 0)
                return i;
            continue;
        }
        if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return i; /* the end of the enclosing object */
            if (--depth == 0)
                return i + 1;
        } else if (depth == 0 && ch == ',') {
            return i;
        }
        i++;
    }
    return n;
}

/* Parses "[n, n, ...]" at s[i] into dst (exactly dim numbers); returns the
 * index after ']' or 0 when it does not apply. */
static size_t parse_array(const char *s, size_t i, size_t n, uint32_t dim,
                          float *dst)
{
    uint32_t k = 0;
    char tok[64];
    if (i >= n || s[i] != '[')
        return 0;
    i = skip_ws(s, i + 1, n);
    if (i < n && s[i] == ']')
        return 0; /* empty: let the decoder explain */
    for (;;) {
        size_t st = i;
        while (i < n &&
               ((s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '+' ||
                s[i] == '.' || s[i] == 'e' || s[i] == 'E'))
            i++;
        size_t len = i - st;
        if (len == 0 || len >= sizeof tok || k >= dim ||
            !vx_json_valid_number(s + st, len))
            return 0;
        memcpy(tok, s + st, len);
        tok[len] = '\0';
        double d = strtod(tok, NULL);
        if (!(fabs(d) <= FLT_MAX))
            return 0; /* out of range or not finite: the decoder says so */
        dst[k++] = (float)d;
        i = skip_ws(s, i, n);
        if (i < n && s[i] == ',') {
            i = skip_ws(s, i + 1, n);
            continue;
        }
        if (i < n && s[i] == ']')
            return k == dim ? i + 1 : 0;
        return 0;
    }
}

int gw_fast_vector(const char *text, size_t len, const char *key, uint32_t dim,
                   float *dst, char **out, size_t *out_len)
{
    size_t klen = strlen(key), i = skip_ws(text, 0, len);
    *out = NULL;
    if (i >= len || text[i] != '{')
        return -1;
    i = skip_ws(text, i + 1, len);
    while (i < len && text[i] == '"') {
        size_t ks = i + 1, ke = skip_string(text, i, len);
        if (ke >= len)
            return -1;
        i = skip_ws(text, ke, len);
        if (i >= len || text[i] != ':')
            return -1;
        i = skip_ws(text, i + 1, len);
        if (ke - 1 - ks == klen && memcmp(text + ks, key, klen) == 0) {
            size_t end = parse_array(text, i, len, dim, dst);
            if (!end)
                return -1;
            /* The body with the array replaced by null. */
            size_t n = i + 4 + (len - end);
            char *t = vx_malloc(n + 1);
            if (!t)
                return -1;
            memcpy(t, text, i);
            memcpy(t + i, "null", 4);
            memcpy(t + i + 4, text + end, len - end);
            t[n] = '\0';
            *out = t;
            *out_len = n;
            return 0;
        }
        i = skip_ws(text, skip_value(text, i, len), len);
        if (i < len && text[i] == ',')
            i = skip_ws(text, i + 1, len);
        else
            return -1;
    }
    return -1;
}

/* A growing list of replaced spans and their vectors. */
typedef struct spans {
    size_t (*at)[2]; /* [start, end) of each vector array in the text */
    float *vecs;
    size_t n, cap;
} spans;

static int spans_grow(spans *sp, uint32_t dim)
{
    if (sp->n < sp->cap)
        return 0;
    size_t cap = sp->cap ? sp->cap * 2 : 64;
    size_t(*at)[2] = vx_realloc(sp->at, cap * sizeof(*at));
    if (!at)
        return -1;
    sp->at = at;
    float *v = vx_realloc(sp->vecs, cap * dim * sizeof(float));
    if (!v)
        return -1;
    sp->vecs = v;
    sp->cap = cap;
    return 0;
}

/* Scans one point object at text[i] == '{' for its "vector" member; adds
 * it to sp. Returns the index after the object, or 0 to step aside. */
static size_t scan_point(const char *text, size_t i, size_t len, uint32_t dim,
                         spans *sp)
{
    int found = 0;
    i = skip_ws(text, i + 1, len);
    if (i < len && text[i] == '}')
        return 0;
    while (i < len && text[i] == '"') {
        size_t ks = i + 1, ke = skip_string(text, i, len);
        if (ke >= len)
            return 0;
        i = skip_ws(text, ke, len);
        if (i >= len || text[i] != ':')
            return 0;
        i = skip_ws(text, i + 1, len);
        if (ke - 1 - ks == 6 && memcmp(text + ks, "vector", 6) == 0) {
            if (found || spans_grow(sp, dim))
                return 0;
            size_t end = parse_array(text, i, len, dim, sp->vecs + sp->n * dim);
            if (!end)
                return 0;
            sp->at[sp->n][0] = i;
            sp->at[sp->n][1] = end;
            sp->n++;
            found = 1;
            i = end;
        } else {
            i = skip_value(text, i, len);
        }
        i = skip_ws(text, i, len);
        if (i < len && text[i] == ',') {
            i = skip_ws(text, i + 1, len);
            continue;
        }
        if (i < len && text[i] == '}')
            return found ? i + 1 : 0;
        return 0;
    }
    return 0;
}

int gw_fast_points(const char *text, size_t len, uint32_t dim,
                   size_t max_points, float **vecs, size_t *count, char **out,
                   size_t *out_len)
{
    spans sp = {0};
    size_t i = skip_ws(text, 0, len);
    int ok = 0;
    *out = NULL;
    *vecs = NULL;
    *count = 0;
    if (i >= len || text[i] != '{')
        return -1;
    i = skip_ws(text, i + 1, len);
    while (!ok && i < len && text[i] == '"') {
        size_t ks = i + 1, ke = skip_string(text, i, len);
        if (ke >= len)
            goto fail;
        i = skip_ws(text, ke, len);
        if (i >= len || text[i] != ':')
            goto fail;
        i = skip_ws(text, i + 1, len);
        if (ke - 1 - ks == 6 && memcmp(text + ks, "points", 6) == 0) {
            if (i >= len || text[i] != '[')
                goto fail;
            i = skip_ws(text, i + 1, len);
            while (i < len && text[i] == '{') {
                if (sp.n >= max_points ||
                    !(i = scan_point(text, i, len, dim, &sp)))
                    goto fail;
                i = skip_ws(text, i, len);
                if (i < len && text[i] == ',')
                    i = skip_ws(text, i + 1, len);
                else
                    break;
            }
            if (i >= len || text[i] != ']' || sp.n == 0)
                goto fail;
            ok = 1;
            break;
        }
        i = skip_ws(text, skip_value(text, i, len), len);
        if (i < len && text[i] == ',')
            i = skip_ws(text, i + 1, len);
        else
            goto fail;
    }
    if (!ok)
        goto fail;
    /* The body with every vector array replaced by null. */
    size_t n = len, w = 0, r = 0;
    for (size_t k = 0; k < sp.n; k++)
        n = n - (sp.at[k][1] - sp.at[k][0]) + 4;
    char *t = vx_malloc(n + 1);
    if (!t)
        goto fail;
    for (size_t k = 0; k < sp.n; k++) {
        memcpy(t + w, text + r, sp.at[k][0] - r);
        w += sp.at[k][0] - r;
        memcpy(t + w, "null", 4);
        w += 4;
        r = sp.at[k][1];
    }
    memcpy(t + w, text + r, len - r);
    w += len - r;
    t[w] = '\0';
    vx_free(sp.at);
    *out = t;
    *out_len = w;
    *vecs = sp.vecs;
    *count = sp.n;
    return 0;
fail:
    vx_free(sp.at);
    vx_free(sp.vecs);
    return -1;
}
