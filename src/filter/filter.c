/*
 * filter.c - see filter.h. A decoded filter is a tree of nodes in one
 * arena (freed at once); evaluation walks the payload without allocating.
 *
 * Threading: decoding builds a private tree; afterwards the tree is never
 * written, so evaluation may run on any number of threads at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/json.h"
#include "filter/filter.h"

/* ---- arena ------------------------------------------------------------- */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk;

typedef struct arena {
    chunk *head;
} arena;

#define ARENA_CHUNK 4096u

static void *arena_alloc(arena *a, size_t n)
{
    chunk *c = a->head;
    void *p;

    n = (n + 15) & ~(size_t)15;
    if (n == 0) {
        n = 16;
    }
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        if (cap > SIZE_MAX - sizeof *c || !(c = vx_malloc(sizeof *c + cap))) {
            return NULL;
        }
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

static void arena_free(arena *a)
{
    chunk *c = a->head;

    while (c) {
        chunk *next = c->next;
        vx_free(c);
        c = next;
    }
    a->head = NULL;
}

/* ---- the tree ---------------------------------------------------------- */

enum kind {
    K_GROUP,
    K_MATCH,
    K_ANY,
    K_EXCEPT,
    K_TEXT,
    K_RANGE,
    K_COUNT,
    K_IS_EMPTY,
    K_IS_NULL,
    K_HAS_ID,
    K_NESTED
};

typedef struct node node;

typedef struct nlist {
    node **v;
    size_t n;
} nlist;

typedef struct group {
    nlist must, should, must_not, min;
    uint64_t min_count;
    int has_min;
} group;

typedef struct vcount {
    int has_gt, has_gte, has_lt, has_lte;
    uint64_t gt, gte, lt, lte;
} vcount;

struct node {
    enum kind kind;
    const char *key;   /* normalised dotted path (field conditions) */
    const char **segs; /* its segments, NUL-terminated */
    size_t nsegs;
    union {
        group g;    /* K_GROUP */
        gw_value v; /* K_MATCH */
        struct {
            gw_value *v; /* sorted, unique */
            size_t n;
            int type; /* a gw_value_type, or -1 when empty */
        } list;       /* K_ANY, K_EXCEPT */
        struct {
            const char *s;
            size_t len;
        } text;         /* K_TEXT */
        gw_range range; /* K_RANGE */
        vcount count;   /* K_COUNT */
        struct {
            point_id *v; /* sorted, unique */
            size_t n;
        } ids;        /* K_HAS_ID */
        node *nested; /* K_NESTED: a K_GROUP */
    } u;
};

struct gw_filter {
    arena a;
    node *root;
};

/* ---- decoding context -------------------------------------------------- */

typedef struct fctx {
    vectron_error *err;
    arena *a;
    unsigned max_depth;
    size_t max_list;
    size_t plen;
    char path[192];
} fctx;

static size_t push_key(fctx *c, const char *key)
{
    size_t mark = c->plen, room = sizeof c->path - c->plen;
    int n = snprintf(c->path + c->plen, room, "%s%s", c->plen ? "." : "", key);
    if (n > 0) {
        c->plen += (size_t)n < room ? (size_t)n : room - 1;
    }
    return mark;
}

static size_t push_idx(fctx *c, size_t i)
{
    size_t mark = c->plen, room = sizeof c->path - c->plen;
    int n = snprintf(c->path + c->plen, room, "[%zu]", i);
    if (n > 0) {
        c->plen += (size_t)n < room ? (size_t)n : room - 1;
    }
    return mark;
}

static void pop(fctx *c, size_t mark)
{
    c->plen = mark;
    c->path[mark] = '\0';
}

static int fail(fctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(fctx *c, const char *fmt, ...)
{
    char msg[VECTRON_ERROR_MSG_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vx_err(c->err, VECTRON_INVALID, "%s: %s",
                  c->plen ? c->path : "filter", msg);
}

static int oom(fctx *c)
{
    return vx_err(c->err, VECTRON_NOMEM, "%s: out of memory",
                  c->plen ? c->path : "filter");
}

static const json_t *get(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_null(v) ? NULL : v;
}

static int in_list(const char *const *l, const char *k)
{
    for (; l && *l; l++) {
        if (strcmp(*l, k) == 0) {
            return 1;
        }
    }
    return 0;
}

static int check_fields(fctx *c, const json_t *o, const char *const *known,
                        const char *const *unsupported)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)o, k, v)
    {
        if (in_list(known, k)) {
            continue;
        }
        if (in_list(unsupported, k)) {
            if (json_is_null(v)) {
                continue;
            }
            size_t m = push_key(c, k);
            int rc = fail(c, "not supported by Vectron");
            pop(c, m);
            return rc;
        }
        return fail(c, "unknown field \"%.60s\"", k);
    }
    return 0;
}

static node *new_node(fctx *c, enum kind kind)
{
    node *n = arena_alloc(c->a, sizeof *n);

    if (n) {
        memset(n, 0, sizeof *n);
        n->kind = kind;
    }
    return n;
}

static char *arena_strn(arena *a, const char *s, size_t len)
{
    char *d = arena_alloc(a, len + 1);

    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

/* ---- decoders ---------------------------------------------------------- */

static int dec_group(fctx *c, const json_t *j, unsigned depth, int nested,
                     node **out);

/* The "key" member of o: splits and normalises the dotted path. */
static int dec_key(fctx *c, const json_t *o, node *n)
{
    const json_t *k = get(o, "key");
    const char *s;
    size_t len, nseg = 1, m, at = 0;
    char *norm;
    int rc = 0;

    if (!k) {
        return fail(c, "missing field \"key\"");
    }
    m = push_key(c, "key");
    if (!json_is_string(k) || vx_json_is_bignum(k)) {
        rc = fail(c, "must be a string");
        goto out;
    }
    s = json_string_value(k);
    len = json_string_length(k);
    if (len == 0 || memchr(s, '\0', len)) {
        rc = fail(c, "must be a non-empty path");
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        nseg += s[i] == '.';
    }
    n->segs = arena_alloc(c->a, nseg * sizeof *n->segs);
    norm = arena_alloc(c->a, len + 1);
    if (!n->segs || !norm) {
        rc = oom(c);
        goto out;
    }
    for (size_t i = 0, st = 0; i <= len; i++) {
        size_t sl;
        const char *seg;
        if (i < len && s[i] != '.') {
            continue;
        }
        seg = s + st;
        sl = i - st;
        st = i + 1;
        if (sl >= 2 && memcmp(seg + sl - 2, "[]", 2) == 0) {
            sl -= 2;
        }
        if (sl == 0) {
            rc = fail(c, "empty path segment in \"%.60s\"", s);
            goto out;
        }
        if (memchr(seg, '[', sl) || memchr(seg, ']', sl)) {
            rc = fail(c,
                      "array indexes are not supported in \"%.60s\" (use "
                      "\"a[].b\" or \"a.b\")",
                      s);
            goto out;
        }
        if (!(n->segs[n->nsegs++] = arena_strn(c->a, seg, sl))) {
            rc = oom(c);
            goto out;
        }
        if (at) {
            norm[at++] = '.';
        }
        memcpy(norm + at, seg, sl);
        at += sl;
    }
    norm[at] = '\0';
    n->key = norm;
out:
    pop(c, m);
    return rc;
}

/* A match value: string, int64 or bool. */
static int dec_scalar(fctx *c, const json_t *v, gw_value *out)
{
    memset(out, 0, sizeof *out);
    if (vx_json_is_bignum(v)) {
        return fail(c, "%.40s is outside the int64 range",
                    json_string_value(v) + 1);
    }
    if (json_is_string(v)) {
        out->type = GW_VALUE_STRING;
        out->len = json_string_length(v);
        if (memchr(json_string_value(v), '\0', out->len)) {
            return fail(c, "must not contain NUL");
        }
        out->s = arena_strn(c->a, json_string_value(v), out->len);
        return out->s ? 0 : oom(c);
    }
    if (json_is_integer(v)) {
        out->type = GW_VALUE_INT;
        out->i = json_integer_value(v);
        return 0;
    }
    if (json_is_boolean(v)) {
        out->type = GW_VALUE_BOOL;
        out->b = json_is_true(v);
        return 0;
    }
    return fail(c, "must be a string, an integer or a boolean");
}

static int value_cmp(const void *pa, const void *pb)
{
    const gw_value *a = pa, *b = pb;
    int r;

    if (a->type == GW_VALUE_INT) {
        return (a->i > b->i) - (a->i < b->i);
    }
    r = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
    if (r) {
        return r;
    }
    return (a->len > b->len) - (a->len < b->len);
}

/* match.any / match.except: strings or integers, one type. */
static int dec_values(fctx *c, const json_t *v, node *n)
{
    size_t cnt, k = 0;
    int rc = 0;

    if (!json_is_array(v)) {
        return fail(c, "must be an array of strings or integers");
    }
    cnt = json_array_size(v);
    if (c->max_list && cnt > c->max_list) {
        return fail(c, "%zu values exceed the maximum of %zu", cnt,
                    c->max_list);
    }
    n->u.list.type = -1;
    if (!(n->u.list.v = arena_alloc(c->a, cnt * sizeof(gw_value)))) {
        return oom(c);
    }
    for (size_t i = 0; i < cnt && rc == 0; i++) {
        const json_t *e = json_array_get(v, i);
        gw_value *x = &n->u.list.v[i];
        size_t m = push_idx(c, i);
        if (json_is_boolean(e)) {
            rc = fail(c, "must be a string or an integer");
        } else if ((rc = dec_scalar(c, e, x)) == 0) {
            if (n->u.list.type == -1) {
                n->u.list.type = (int)x->type;
            } else if (n->u.list.type != (int)x->type) {
                rc =
                    fail(c, "mixed types (expected %s)",
                         n->u.list.type == GW_VALUE_INT ? "integer" : "string");
            }
        }
        pop(c, m);
    }
    if (rc) {
        return rc;
    }
    if (cnt > 1) {
        qsort(n->u.list.v, cnt, sizeof(gw_value), value_cmp);
    }
    for (size_t i = 0; i < cnt; i++) {
        if (k == 0 || value_cmp(&n->u.list.v[k - 1], &n->u.list.v[i])) {
            n->u.list.v[k++] = n->u.list.v[i];
        }
    }
    n->u.list.n = k;
    return 0;
}

static int dec_match(fctx *c, const json_t *mo, node *n)
{
    static const char *const known[] = {"value", "any", "except", "text", NULL};
    static const char *const unsup[] = {"phrase", "text_any", NULL};
    const char *which = NULL;
    const json_t *v = NULL;
    int rc;

    if (!json_is_object(mo)) {
        return fail(c, "must be an object");
    }
    if ((rc = check_fields(c, mo, known, unsup))) {
        return rc;
    }
    for (int i = 0; known[i]; i++) {
        if (get(mo, known[i])) {
            if (which) {
                return fail(c, "give only one of value, any, except and "
                               "text");
            }
            which = known[i];
            v = get(mo, which);
        }
    }
    if (!which) {
        return fail(c, "needs one of value, any, except or text");
    }
    size_t m = push_key(c, which);
    if (strcmp(which, "value") == 0) {
        n->kind = K_MATCH;
        rc = dec_scalar(c, v, &n->u.v);
    } else if (strcmp(which, "text") == 0) {
        n->kind = K_TEXT;
        if (!json_is_string(v) || vx_json_is_bignum(v)) {
            rc = fail(c, "must be a string");
        } else {
            n->u.text.len = json_string_length(v);
            n->u.text.s = arena_strn(c->a, json_string_value(v), n->u.text.len);
            rc = n->u.text.s ? 0 : oom(c);
        }
    } else {
        n->kind = which[0] == 'a' ? K_ANY : K_EXCEPT;
        rc = dec_values(c, v, n);
    }
    pop(c, m);
    return rc;
}

static int dec_range(fctx *c, const json_t *ro, node *n)
{
    static const char *const known[] = {"gt", "gte", "lt", "lte", NULL};
    gw_range *r = &n->u.range;
    int *has[] = {&r->has_gt, &r->has_gte, &r->has_lt, &r->has_lte};
    double *val[] = {&r->gt, &r->gte, &r->lt, &r->lte};
    int rc;

    n->kind = K_RANGE;
    if (!json_is_object(ro)) {
        return fail(c, "must be an object");
    }
    if ((rc = check_fields(c, ro, known, NULL))) {
        return rc;
    }
    for (int i = 0; i < 4; i++) {
        const json_t *v = get(ro, known[i]);
        if (!v) {
            continue;
        }
        if (json_is_real(v)) {
            *val[i] = json_real_value(v);
        } else if (json_is_integer(v)) {
            *val[i] = (double)json_integer_value(v);
        } else if (vx_json_is_bignum(v)) {
            *val[i] = strtod(json_string_value(v) + 1, NULL);
        } else {
            size_t m = push_key(c, known[i]);
            rc = fail(c, json_is_string(v)
                             ? "must be a number (datetime ranges are not "
                               "supported by Vectron)"
                             : "must be a number");
            pop(c, m);
            return rc;
        }
        *has[i] = 1;
    }
    return 0;
}

static int dec_count(fctx *c, const json_t *co, node *n)
{
    static const char *const known[] = {"gt", "gte", "lt", "lte", NULL};
    vcount *r = &n->u.count;
    int *has[] = {&r->has_gt, &r->has_gte, &r->has_lt, &r->has_lte};
    uint64_t *val[] = {&r->gt, &r->gte, &r->lt, &r->lte};
    int rc;

    n->kind = K_COUNT;
    if (!json_is_object(co)) {
        return fail(c, "must be an object");
    }
    if ((rc = check_fields(c, co, known, NULL))) {
        return rc;
    }
    for (int i = 0; i < 4; i++) {
        const json_t *v = get(co, known[i]);
        if (!v) {
            continue;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            size_t m = push_key(c, known[i]);
            rc = fail(c, "must be a non-negative integer");
            pop(c, m);
            return rc;
        }
        *val[i] = (uint64_t)json_integer_value(v);
        *has[i] = 1;
    }
    return 0;
}

static int dec_field(fctx *c, const json_t *j, node *n)
{
    static const char *const known[] = {"key", "match", "range", "values_count",
                                        NULL};
    static const char *const unsup[] = {"geo_bounding_box", "geo_radius",
                                        "geo_polygon", NULL};
    const json_t *mt = get(j, "match"), *rg = get(j, "range"),
                 *vc = get(j, "values_count");
    size_t m;
    int rc;

    if ((rc = check_fields(c, j, known, unsup)) || (rc = dec_key(c, j, n))) {
        return rc;
    }
    if (!!mt + !!rg + !!vc != 1) {
        return fail(c, mt || rg || vc ? "give only one of match, range and "
                                        "values_count"
                                      : "needs one of match, range or "
                                        "values_count");
    }
    m = push_key(c, mt ? "match" : rg ? "range" : "values_count");
    rc = mt   ? dec_match(c, mt, n)
         : rg ? dec_range(c, rg, n)
              : dec_count(c, vc, n);
    pop(c, m);
    return rc;
}

static int id_cmp(const void *a, const void *b)
{
    return point_id_cmp(a, b);
}

static int dec_has_id(fctx *c, const json_t *v, node *n)
{
    size_t cnt, k = 0;
    point_id *ids;

    n->kind = K_HAS_ID;
    if (!json_is_array(v)) {
        return fail(c, "must be an array of point ids");
    }
    cnt = json_array_size(v);
    if (c->max_list && cnt > c->max_list) {
        return fail(c, "%zu ids exceed the maximum of %zu", cnt, c->max_list);
    }
    if (!(ids = arena_alloc(c->a, cnt * sizeof *ids))) {
        return oom(c);
    }
    for (size_t i = 0; i < cnt; i++) {
        size_t m = push_idx(c, i);
        int rc = vx_json_get_point_id(json_array_get(v, i), c->path, &ids[i],
                                      c->err);
        pop(c, m);
        if (rc) {
            return rc;
        }
    }
    if (cnt > 1) {
        qsort(ids, cnt, sizeof *ids, id_cmp);
    }
    for (size_t i = 0; i < cnt; i++) {
        if (k == 0 || point_id_cmp(&ids[k - 1], &ids[i])) {
            ids[k++] = ids[i];
        }
    }
    n->u.ids.v = ids;
    n->u.ids.n = k;
    return 0;
}

/* {"key": k} of is_empty / is_null. */
static int dec_key_only(fctx *c, const json_t *v, node *n)
{
    static const char *const known[] = {"key", NULL};
    int rc;

    if (!json_is_object(v)) {
        return fail(c, "must be an object {\"key\": ...}");
    }
    if ((rc = check_fields(c, v, known, NULL))) {
        return rc;
    }
    return dec_key(c, v, n);
}

static int dec_nested(fctx *c, const json_t *v, unsigned depth, node *n)
{
    static const char *const known[] = {"key", "filter", NULL};
    const json_t *f;
    size_t m;
    int rc;

    if (!json_is_object(v)) {
        return fail(c, "must be an object {\"key\", \"filter\"}");
    }
    if ((rc = check_fields(c, v, known, NULL)) || (rc = dec_key(c, v, n))) {
        return rc;
    }
    if (!(f = get(v, "filter"))) {
        return fail(c, "missing field \"filter\"");
    }
    m = push_key(c, "filter");
    rc = dec_group(c, f, depth + 1, 1, &n->u.nested);
    pop(c, m);
    return rc;
}

static int dec_cond(fctx *c, const json_t *j, unsigned depth, int nested,
                    node **out)
{
    static const char *const kinds[] = {"has_id", "is_empty", "is_null",
                                        "nested", NULL};
    static const char *const groupk[] = {"must", "should", "must_not",
                                         "min_should", NULL};
    static const char *const unsup[] = {"has_vector", NULL};
    const char *which = NULL;
    size_t m;
    node *n;
    int rc;

    *out = NULL;
    if (!json_is_object(j)) {
        return fail(c, "must be a condition object");
    }
    if (json_object_get(j, "key")) {
        if (!(n = new_node(c, K_MATCH))) {
            return oom(c);
        }
        *out = n;
        return dec_field(c, j, n);
    }
    for (int i = 0; kinds[i]; i++) {
        if (json_object_get(j, kinds[i])) {
            which = kinds[i];
            break;
        }
    }
    if (!which) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            if (in_list(unsup, k)) {
                return check_fields(c, j, groupk, unsup);
            }
            if (!in_list(groupk, k)) {
                return fail(c,
                            "unknown condition \"%.40s\" (expected key, "
                            "has_id, is_empty, is_null, nested or "
                            "must/should/must_not)",
                            k);
            }
        }
        return dec_group(c, j, depth + 1, nested, out);
    }
    if (json_object_size(j) != 1) {
        return fail(c, "a %s condition takes no other fields", which);
    }
    if (strcmp(which, "has_id") == 0 && nested) {
        return fail(c, "has_id is not allowed inside a nested filter");
    }
    if (!(n = new_node(c, K_HAS_ID))) {
        return oom(c);
    }
    *out = n;
    m = push_key(c, which);
    if (strcmp(which, "has_id") == 0) {
        rc = dec_has_id(c, json_object_get(j, which), n);
    } else if (strcmp(which, "nested") == 0) {
        n->kind = K_NESTED;
        rc = dec_nested(c, json_object_get(j, which), depth, n);
    } else {
        n->kind = which[3] == 'e' ? K_IS_EMPTY : K_IS_NULL;
        rc = dec_key_only(c, json_object_get(j, which), n);
    }
    pop(c, m);
    return rc;
}

/* A clause: one condition or an array of them. */
static int dec_list(fctx *c, const json_t *v, unsigned depth, int nested,
                    nlist *l)
{
    size_t cnt;

    if (json_is_object(v)) {
        if (!(l->v = arena_alloc(c->a, sizeof *l->v))) {
            return oom(c);
        }
        l->n = 1;
        return dec_cond(c, v, depth, nested, &l->v[0]);
    }
    if (!json_is_array(v)) {
        return fail(c, "must be a condition or an array of conditions");
    }
    cnt = json_array_size(v);
    if (c->max_list && cnt > c->max_list) {
        return fail(c, "%zu conditions exceed the maximum of %zu", cnt,
                    c->max_list);
    }
    if (!(l->v = arena_alloc(c->a, cnt * sizeof *l->v))) {
        return oom(c);
    }
    for (size_t i = 0; i < cnt; i++) {
        size_t m = push_idx(c, i);
        int rc = dec_cond(c, json_array_get(v, i), depth, nested, &l->v[i]);
        pop(c, m);
        if (rc) {
            return rc;
        }
        l->n = i + 1;
    }
    return 0;
}

static int dec_min_should(fctx *c, const json_t *v, unsigned depth, int nested,
                          group *g)
{
    static const char *const known[] = {"conditions", "min_count", NULL};
    const json_t *conds, *mc;
    size_t m;
    int rc;

    if (!json_is_object(v)) {
        return fail(c, "must be an object {\"conditions\", \"min_count\"}");
    }
    if ((rc = check_fields(c, v, known, NULL))) {
        return rc;
    }
    if (!(conds = get(v, "conditions"))) {
        return fail(c, "missing field \"conditions\"");
    }
    if (!(mc = get(v, "min_count"))) {
        return fail(c, "missing field \"min_count\"");
    }
    m = push_key(c, "min_count");
    if (!json_is_integer(mc) || json_integer_value(mc) < 0) {
        rc = fail(c, "must be a non-negative integer");
    }
    pop(c, m);
    if (rc) {
        return rc;
    }
    g->has_min = 1;
    g->min_count = (uint64_t)json_integer_value(mc);
    m = push_key(c, "conditions");
    rc = json_is_array(conds) ? dec_list(c, conds, depth, nested, &g->min)
                              : fail(c, "must be an array of conditions");
    pop(c, m);
    return rc;
}

static int dec_group(fctx *c, const json_t *j, unsigned depth, int nested,
                     node **out)
{
    static const char *const known[] = {"must", "should", "must_not",
                                        "min_should", NULL};
    nlist *lists[3];
    node *n;
    int rc;

    *out = NULL;
    if (!json_is_object(j)) {
        return fail(c, "must be a filter object");
    }
    if (depth > c->max_depth) {
        return fail(c, "filter is nested deeper than %u levels", c->max_depth);
    }
    if ((rc = check_fields(c, j, known, NULL))) {
        return rc;
    }
    if (!(n = new_node(c, K_GROUP))) {
        return oom(c);
    }
    *out = n;
    lists[0] = &n->u.g.must;
    lists[1] = &n->u.g.should;
    lists[2] = &n->u.g.must_not;
    for (int i = 0; i < 3; i++) {
        const json_t *v = get(j, known[i]);
        if (v) {
            size_t m = push_key(c, known[i]);
            rc = dec_list(c, v, depth, nested, lists[i]);
            pop(c, m);
            if (rc) {
                return rc;
            }
        }
    }
    if (get(j, "min_should")) {
        size_t m = push_key(c, "min_should");
        rc = dec_min_should(c, get(j, "min_should"), depth, nested, &n->u.g);
        pop(c, m);
    }
    return rc;
}

int gw_filter_decode(const json_t *j, const char *path, unsigned max_depth,
                     size_t max_list, gw_filter **out, vectron_error *err)
{
    gw_filter *f;
    fctx c;
    int rc;

    *out = NULL;
    vectron_error_clear(err);
    if (!(f = vx_calloc(1, sizeof *f))) {
        return vx_err(err, VECTRON_NOMEM, "%s: out of memory",
                      path && *path ? path : "filter");
    }
    c.err = err;
    c.a = &f->a;
    c.max_depth = max_depth ? max_depth : GW_FILTER_DEFAULT_MAX_DEPTH;
    c.max_list = max_list;
    c.plen = 0;
    c.path[0] = '\0';
    if (path && *path) {
        push_key(&c, path);
    }
    rc = dec_group(&c, j, 1, 0, &f->root);
    if (rc) {
        gw_filter_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int gw_filter_parse(const char *text, size_t len, unsigned max_depth,
                    gw_filter **out, vectron_error *err)
{
    json_t *j;
    int rc;

    *out = NULL;
    if ((rc = vx_json_load(text, len, "body", &j, err))) {
        return rc;
    }
    rc = gw_filter_decode(j, "filter", max_depth, 0, out, err);
    json_decref(j);
    return rc;
}

void gw_filter_free(gw_filter *f)
{
    if (f) {
        arena_free(&f->a);
        vx_free(f);
    }
}

/* ---- evaluation -------------------------------------------------------- */

enum vtype { T_NULL, T_BOOL, T_INT, T_REAL, T_BIG, T_STR, T_ARR, T_OBJ };

static enum vtype vtype(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return T_OBJ;
    case JSON_ARRAY:
        return T_ARR;
    case JSON_STRING:
        return vx_json_is_bignum(v) ? T_BIG : T_STR;
    case JSON_INTEGER:
        return T_INT;
    case JSON_REAL:
        return T_REAL;
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOL;
    default:
        return T_NULL;
    }
}

typedef int (*pred_fn)(const node *n, const json_t *v);

/* 1 if p holds for some value reached by n's path from v (segment i on):
 * objects are stepped into, arrays met before the last segment are
 * flattened. */
static int walk(const node *n, const json_t *v, size_t i, pred_fn p)
{
    if (i == n->nsegs) {
        return p(n, v);
    }
    if (json_is_object(v)) {
        const json_t *ch = json_object_get(v, n->segs[i]);
        return ch && walk(n, ch, i + 1, p);
    }
    if (json_is_array(v)) {
        size_t k, cnt = json_array_size(v);
        for (k = 0; k < cnt; k++) {
            if (walk(n, json_array_get(v, k), i, p)) {
                return 1;
            }
        }
    }
    return 0;
}

static int list_has(const node *n, const json_t *e, enum vtype t)
{
    gw_value key;
    size_t lo = 0, hi = n->u.list.n;

    memset(&key, 0, sizeof key);
    if (t == T_STR && n->u.list.type == GW_VALUE_STRING) {
        key.type = GW_VALUE_STRING;
        key.s = json_string_value(e);
        key.len = json_string_length(e);
    } else if (t == T_INT && n->u.list.type == GW_VALUE_INT) {
        key.type = GW_VALUE_INT;
        key.i = json_integer_value(e);
    } else {
        return 0;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = value_cmp(&n->u.list.v[mid], &key);
        if (r == 0) {
            return 1;
        }
        if (r < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return 0;
}

static int in_range(const gw_range *r, double d)
{
    return (!r->has_gt || d > r->gt) && (!r->has_gte || d >= r->gte) &&
           (!r->has_lt || d < r->lt) && (!r->has_lte || d <= r->lte);
}

/* One (non-expanded) value against a match/range node. */
static int match_one(const node *n, const json_t *e)
{
    enum vtype t = vtype(e);
    double d;

    switch (n->kind) {
    case K_MATCH:
        switch (n->u.v.type) {
        case GW_VALUE_STRING:
            return t == T_STR && json_string_length(e) == n->u.v.len &&
                   memcmp(json_string_value(e), n->u.v.s, n->u.v.len) == 0;
        case GW_VALUE_INT:
            return t == T_INT && json_integer_value(e) == n->u.v.i;
        default:
            return t == T_BOOL && json_is_true(e) == n->u.v.b;
        }
    case K_ANY:
        return list_has(n, e, t);
    case K_EXCEPT:
        /* Qdrant: null never matches; a string or an integer matches when
         * not listed; any other value (float, bool, array, object)
         * matches. */
        if (t == T_NULL) {
            return 0;
        }
        return t == T_STR || t == T_INT ? !list_has(n, e, t) : 1;
    case K_TEXT:
        return t == T_STR &&
               (n->u.text.len == 0 ||
                memmem(json_string_value(e), json_string_length(e), n->u.text.s,
                       n->u.text.len) != NULL);
    case K_RANGE:
        if (t == T_INT) {
            d = (double)json_integer_value(e);
        } else if (t == T_REAL) {
            d = json_real_value(e);
        } else if (t == T_BIG) {
            d = strtod(json_string_value(e) + 1, NULL);
        } else {
            return 0;
        }
        return in_range(&n->u.range, d);
    default:
        return 0;
    }
}

static int pred_field(const node *n, const json_t *v)
{
    if (json_is_array(v)) {
        size_t cnt = json_array_size(v);
        for (size_t k = 0; k < cnt; k++) {
            if (match_one(n, json_array_get(v, k))) {
                return 1;
            }
        }
        return 0;
    }
    return match_one(n, v);
}

static int pred_count(const node *n, const json_t *v)
{
    const vcount *r = &n->u.count;
    uint64_t cnt = json_is_array(v)  ? json_array_size(v)
                   : json_is_null(v) ? 0
                                     : 1;

    return (!r->has_gt || cnt > r->gt) && (!r->has_gte || cnt >= r->gte) &&
           (!r->has_lt || cnt < r->lt) && (!r->has_lte || cnt <= r->lte);
}

static int pred_nonempty(const node *n, const json_t *v)
{
    (void)n;
    return !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0);
}

static int pred_null(const node *n, const json_t *v)
{
    (void)n;
    return json_is_null(v);
}

static int eval_group(const group *g, const json_t *payload,
                      const point_id *id);

static int pred_nested(const node *n, const json_t *v)
{
    if (json_is_object(v)) {
        return eval_group(&n->u.nested->u.g, v, NULL);
    }
    if (json_is_array(v)) {
        size_t cnt = json_array_size(v);
        for (size_t k = 0; k < cnt; k++) {
            const json_t *e = json_array_get(v, k);
            if (json_is_object(e) && eval_group(&n->u.nested->u.g, e, NULL)) {
                return 1;
            }
        }
    }
    return 0;
}

static int has_id(const node *n, const point_id *id)
{
    size_t lo = 0, hi = n->u.ids.n;

    while (id && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = point_id_cmp(&n->u.ids.v[mid], id);
        if (r == 0) {
            return 1;
        }
        if (r < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return 0;
}

static int eval_node(const node *n, const json_t *payload, const point_id *id)
{
    switch (n->kind) {
    case K_GROUP:
        return eval_group(&n->u.g, payload, id);
    case K_HAS_ID:
        return has_id(n, id);
    case K_IS_EMPTY:
        return !walk(n, payload, 0, pred_nonempty);
    case K_IS_NULL:
        return walk(n, payload, 0, pred_null);
    case K_NESTED:
        return walk(n, payload, 0, pred_nested);
    case K_COUNT:
        return walk(n, payload, 0, pred_count);
    default:
        return walk(n, payload, 0, pred_field);
    }
}

static int eval_group(const group *g, const json_t *payload, const point_id *id)
{
    size_t i, hits = 0;

    for (i = 0; i < g->must.n; i++) {
        if (!eval_node(g->must.v[i], payload, id)) {
            return 0;
        }
    }
    for (i = 0; i < g->must_not.n; i++) {
        if (eval_node(g->must_not.v[i], payload, id)) {
            return 0;
        }
    }
    if (g->should.n) {
        for (i = 0; i < g->should.n; i++) {
            if (eval_node(g->should.v[i], payload, id)) {
                break;
            }
        }
        if (i == g->should.n) {
            return 0;
        }
    }
    if (g->has_min) {
        for (i = 0; i < g->min.n && hits < g->min_count; i++) {
            hits += (size_t)eval_node(g->min.v[i], payload, id);
        }
        if (hits < g->min_count) {
            return 0;
        }
    }
    return 1;
}

int gw_filter_match(const gw_filter *f, const json_t *payload,
                    const point_id *id)
{
    return eval_group(&f->root->u.g, payload, id);
}

/* ---- canonical JSON ---------------------------------------------------- */

/* Sets o[k] = v and returns o; steals both, NULL if anything failed. */
static json_t *kv(json_t *o, const char *k, json_t *v)
{
    if (!o) {
        json_decref(v);
        return NULL;
    }
    if (json_object_set_new(o, k, v)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *value_json(const gw_value *v)
{
    switch (v->type) {
    case GW_VALUE_STRING:
        return json_stringn(v->s, v->len);
    case GW_VALUE_INT:
        return json_integer(v->i);
    default:
        return json_boolean(v->b);
    }
}

static json_t *group_json(const group *g);

static json_t *list_json(const nlist *l);

static json_t *node_json(const node *n)
{
    static const char *const rk[] = {"gt", "gte", "lt", "lte"};
    json_t *o, *x;

    switch (n->kind) {
    case K_GROUP:
        return group_json(&n->u.g);
    case K_HAS_ID:
        x = json_array();
        for (size_t i = 0; x && i < n->u.ids.n; i++) {
            if (json_array_append_new(x, vx_json_point_id(&n->u.ids.v[i]))) {
                json_decref(x);
                x = NULL;
            }
        }
        return kv(json_object(), "has_id", x);
    case K_IS_EMPTY:
    case K_IS_NULL:
        return kv(json_object(), n->kind == K_IS_EMPTY ? "is_empty" : "is_null",
                  kv(json_object(), "key", json_string(n->key)));
    case K_NESTED:
        return kv(json_object(), "nested",
                  kv(kv(json_object(), "key", json_string(n->key)), "filter",
                     group_json(&n->u.nested->u.g)));
    default:
        break;
    }
    o = kv(json_object(), "key", json_string(n->key));
    switch (n->kind) {
    case K_MATCH:
        return kv(o, "match", kv(json_object(), "value", value_json(&n->u.v)));
    case K_TEXT:
        return kv(o, "match",
                  kv(json_object(), "text",
                     json_stringn(n->u.text.s, n->u.text.len)));
    case K_ANY:
    case K_EXCEPT:
        x = json_array();
        for (size_t i = 0; x && i < n->u.list.n; i++) {
            if (json_array_append_new(x, value_json(&n->u.list.v[i]))) {
                json_decref(x);
                x = NULL;
            }
        }
        return kv(o, "match",
                  kv(json_object(), n->kind == K_ANY ? "any" : "except", x));
    case K_RANGE: {
        const gw_range *r = &n->u.range;
        const int has[] = {r->has_gt, r->has_gte, r->has_lt, r->has_lte};
        const double val[] = {r->gt, r->gte, r->lt, r->lte};
        x = json_object();
        for (int i = 0; i < 4; i++) {
            if (has[i]) {
                x = kv(x, rk[i], json_real(val[i]));
            }
        }
        return kv(o, "range", x);
    }
    default: { /* K_COUNT */
        const vcount *r = &n->u.count;
        const int has[] = {r->has_gt, r->has_gte, r->has_lt, r->has_lte};
        const uint64_t val[] = {r->gt, r->gte, r->lt, r->lte};
        x = json_object();
        for (int i = 0; i < 4; i++) {
            if (has[i]) {
                x = kv(x, rk[i], json_integer((json_int_t)val[i]));
            }
        }
        return kv(o, "values_count", x);
    }
    }
}

static json_t *list_json(const nlist *l)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < l->n; i++) {
        if (json_array_append_new(a, node_json(l->v[i]))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *group_json(const group *g)
{
    json_t *o = json_object();

    if (g->must.n) {
        o = kv(o, "must", list_json(&g->must));
    }
    if (g->should.n) {
        o = kv(o, "should", list_json(&g->should));
    }
    if (g->must_not.n) {
        o = kv(o, "must_not", list_json(&g->must_not));
    }
    if (g->has_min) {
        o = kv(o, "min_should",
               kv(kv(json_object(), "conditions", list_json(&g->min)),
                  "min_count", json_integer((json_int_t)g->min_count)));
    }
    return o;
}

json_t *gw_filter_to_json(const gw_filter *f)
{
    return group_json(&f->root->u.g);
}

/* ---- planner support --------------------------------------------------- */

static void collect(const group *g, gw_index_cond *out, size_t cap,
                    size_t *cnt);

static void add_cond(const node *n, gw_index_cond *out, size_t cap, size_t *cnt)
{
    gw_index_cond c;

    memset(&c, 0, sizeof c);
    c.key = n->key;
    switch (n->kind) {
    case K_GROUP:
        collect(&n->u.g, out, cap, cnt);
        return;
    case K_MATCH:
        c.kind = GW_ICOND_EQ;
        c.value = n->u.v;
        break;
    case K_ANY:
        c.kind = GW_ICOND_ANY;
        c.values = n->u.list.v;
        c.nvalues = n->u.list.n;
        break;
    case K_RANGE:
        c.kind = GW_ICOND_RANGE;
        c.range = n->u.range;
        break;
    case K_HAS_ID:
        c.kind = GW_ICOND_HAS_ID;
        c.key = NULL;
        c.ids = n->u.ids.v;
        c.nids = n->u.ids.n;
        break;
    default:
        return;
    }
    if (*cnt < cap) {
        out[*cnt] = c;
    }
    (*cnt)++;
}

static void collect(const group *g, gw_index_cond *out, size_t cap, size_t *cnt)
{
    for (size_t i = 0; i < g->must.n; i++) {
        add_cond(g->must.v[i], out, cap, cnt);
    }
    if (g->should.n == 1) {
        add_cond(g->should.v[0], out, cap, cnt);
    }
}

size_t gw_filter_index_conds(const gw_filter *f, gw_index_cond *out, size_t cap)
{
    size_t cnt = 0;

    collect(&f->root->u.g, out, cap, &cnt);
    return cnt;
}
