/*
 * cli_parse.c - the JSONL and CSV record parsers of `vectron import` (see
 * cli_parse.h; formats in docs/cli.md). Every byte is untrusted: lengths
 * are checked before each read, numbers must follow JSON's grammar, and
 * JSON text goes through common/json (duplicate keys, "\u0000" and bad
 * UTF-8 rejected).
 *
 * Threading: pure functions over caller-owned values.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_parse.h"
#include "common/common.h"
#include "common/json.h"

void cli_record_free(cli_record *r)
{
    vx_free(r->vec);
    vx_free(r->payload);
    memset(r, 0, sizeof *r);
}

static int reserve_vec(cli_record *r, size_t dim, vectron_error *err)
{
    if (dim > CLI_MAX_DIM)
        return vx_err(err, VECTRON_INVALID,
                      "vector: %zu components exceed the maximum of %u", dim,
                      CLI_MAX_DIM);
    if (dim > r->vec_cap) {
        float *v = vx_realloc(r->vec, dim * sizeof *v);
        if (!v)
            return vx_err(err, VECTRON_NOMEM, "out of memory");
        r->vec = v;
        r->vec_cap = (uint32_t)dim;
    }
    return 0;
}

static int set_payload_text(cli_record *r, const char *text, size_t n,
                            vectron_error *err)
{
    if (n + 1 > r->payload_cap) {
        char *p = vx_realloc(r->payload, n + 1);
        if (!p)
            return vx_err(err, VECTRON_NOMEM, "out of memory");
        r->payload = p;
        r->payload_cap = n + 1;
    }
    memcpy(r->payload, text, n);
    r->payload[n] = '\0';
    r->payload_len = n;
    return 0;
}

/* The payload object j (or none) into r. */
static int set_payload(cli_record *r, const json_t *j, vectron_error *err)
{
    r->payload_len = 0;
    if (!j || json_object_size(j) == 0)
        return 0;
    char *text = NULL;
    size_t n = 0;
    int rc = vx_json_dump(j, &text, &n, err);
    if (rc)
        return rc;
    rc = set_payload_text(r, text, n, err);
    vx_free(text);
    return rc;
}

/* A finite number within float range as a float. */
static int to_float(double d, const char *what, size_t i, float *out,
                    vectron_error *err)
{
    if (!isfinite(d) || fabs(d) > FLT_MAX)
        return vx_err(err, VECTRON_INVALID,
                      "%s[%zu]: not a finite number within float range", what,
                      i);
    *out = (float)d;
    return 0;
}

/* A JSON array of numbers into r->vec. */
static int json_vector(const json_t *a, const char *what, cli_record *r,
                       vectron_error *err)
{
    if (!json_is_array(a))
        return vx_err(err, VECTRON_INVALID, "%s: must be an array of numbers",
                      what);
    size_t n = json_array_size(a);
    if (n == 0)
        return vx_err(err, VECTRON_INVALID, "%s: empty", what);
    int rc = reserve_vec(r, n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(a, i);
        if (!json_is_number(x))
            return vx_err(err, VECTRON_INVALID, "%s[%zu]: not a number", what,
                          i);
        if ((rc = to_float(json_number_value(x), what, i, &r->vec[i], err)))
            return rc;
    }
    r->dim = (uint32_t)n;
    return 0;
}

/* ---- JSONL fast path -----------------------------------------------------
 * jansson allocates one value per vector component, which made parsing
 * most of an import's CPU time. The fast path reads the common shape
 * directly: a top-level object whose keys are exactly "id", "vector" and
 * "payload" (no escapes), a vector of plain numbers; the id and payload
 * values are delimited here and parsed by common/json. Anything else
 * (escaped keys, integers beyond 18 digits, errors of any kind) returns
 * -1 and the line goes through the jansson path, which defines the
 * result and the messages; the fuzz target checks that both paths agree
 * whenever the fast one accepts. */

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
                     s[i] == '\r'))
        i++;
    return i;
}

/* The end of the JSON value starting at s[i] (its syntax is checked
 * later by the real parser; this only has to find where it ends), or 0. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    size_t depth = 0;
    do {
        if (i >= n)
            return 0;
        char ch = s[i];
        if (ch == '"') {
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
            if (i >= n)
                return 0;
            i++;
        } else if (ch == '{' || ch == '[') {
            depth++;
            i++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return 0;
            depth--;
            i++;
        } else if (depth == 0) {
            while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' &&
                   s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
                   s[i] != '\n')
                i++;
            return i;
        } else {
            i++;
        }
    } while (depth > 0);
    return i;
}

/* A number token s[i..) of a vector; returns its end or 0. */
static size_t fast_number(const char *s, size_t i, size_t n, double *out)
{
    size_t st = i;
    int integer = 1;
    while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
                     s[i] == '+' || s[i] == '.' || s[i] == 'e' ||
                     s[i] == 'E')) {
        if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
            integer = 0;
        i++;
    }
    size_t len = i - st;
    char tmp[64];
    if (len == 0 || len >= sizeof tmp || !vx_json_valid_number(s + st, len))
        return 0;
    memcpy(tmp, s + st, len);
    tmp[len] = '\0';
    if (integer) {
        if (len > 18)
            return 0;
        *out = (double)strtoll(tmp, NULL, 10);
    } else {
        *out = strtod(tmp, NULL);
    }
    return i;
}

static int fast_jsonl(const char *s, size_t n, cli_record *out)
{
    size_t i = skip_ws(s, 0, n);
    int seen_id = 0, seen_vec = 0, seen_pl = 0;
    if (i >= n || s[i] != '{')
        return -1;
    i = skip_ws(s, i + 1, n);
    if (i < n && s[i] == '}')
        return -1;
    for (;;) {
        if (i >= n || s[i] != '"')
            return -1;
        size_t k = i + 1, ke = k;
        while (ke < n && s[ke] != '"' && s[ke] != '\\')
            ke++;
        if (ke >= n || s[ke] != '"')
            return -1;
        size_t klen = ke - k;
        i = skip_ws(s, ke + 1, n);
        if (i >= n || s[i] != ':')
            return -1;
        i = skip_ws(s, i + 1, n);
        if (klen == 6 && memcmp(s + k, "vector", 6) == 0) {
            if (seen_vec++ || i >= n || s[i] != '[')
                return -1;
            uint32_t d = 0;
            i = skip_ws(s, i + 1, n);
            if (i < n && s[i] == ']')
                return -1;
            for (;;) {
                double v;
                size_t e = fast_number(s, i, n, &v);
                if (!e || d >= CLI_MAX_DIM)
                    return -1;
                if (d >= out->vec_cap) {
                    size_t cap = out->vec_cap ? 2 * (size_t)out->vec_cap : 256;
                    if (reserve_vec(out, cap < CLI_MAX_DIM ? cap : CLI_MAX_DIM,
                                    NULL))
                        return -1;
                }
                if (!isfinite(v) || fabs(v) > FLT_MAX)
                    return -1;
                out->vec[d++] = (float)v;
                i = skip_ws(s, e, n);
                if (i < n && s[i] == ',') {
                    i = skip_ws(s, i + 1, n);
                    continue;
                }
                if (i < n && s[i] == ']')
                    break;
                return -1;
            }
            out->dim = d;
            i++;
        } else if ((klen == 2 && memcmp(s + k, "id", 2) == 0) ||
                   (klen == 7 && memcmp(s + k, "payload", 7) == 0)) {
            int is_id = klen == 2;
            if (is_id ? seen_id++ : seen_pl++)
                return -1;
            size_t e = skip_value(s, i, n);
            if (!e)
                return -1;
            json_t *j = NULL;
            if (vx_json_load(s + i, e - i, "value", &j, NULL))
                return -1;
            int rc = 0;
            if (is_id) {
                if (json_is_null(j))
                    out->has_id = 0;
                else if (vx_json_get_point_id(j, "id", &out->id, NULL))
                    rc = -1;
                else
                    out->has_id = 1;
            } else if (json_is_object(j)) {
                rc = set_payload(out, j, NULL) ? -1 : 0;
            } else if (!json_is_null(j)) {
                rc = -1;
            }
            json_decref(j);
            if (rc)
                return -1;
            i = e;
        } else {
            return -1;
        }
        i = skip_ws(s, i, n);
        if (i < n && s[i] == ',') {
            i = skip_ws(s, i + 1, n);
            continue;
        }
        if (i < n && s[i] == '}')
            break;
        return -1;
    }
    i = skip_ws(s, i + 1, n);
    if (i != n || !seen_vec)
        return -1;
    return 0;
}

int cli_parse_jsonl(const char *line, size_t len, cli_record *out,
                    vectron_error *err)
{
    out->has_id = 0;
    out->dim = 0;
    out->payload_len = 0;
    if (fast_jsonl(line, len, out) == 0)
        return 0;
    return cli_parse_jsonl_slow(line, len, out, err);
}

int cli_parse_jsonl_slow(const char *line, size_t len, cli_record *out,
                         vectron_error *err)
{
    json_t *j = NULL;
    int rc;
    out->has_id = 0;
    out->dim = 0;
    out->payload_len = 0;
    if ((rc = vx_json_load(line, len, "line", &j, err)))
        return rc;
    if (!json_is_object(j)) {
        rc = vx_err(err, VECTRON_INVALID, "line: must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "id") != 0 && strcmp(key, "vector") != 0 &&
            strcmp(key, "payload") != 0) {
            rc = vx_err(err, VECTRON_INVALID,
                        "unknown field \"%.64s\" (expected id, vector, "
                        "payload)",
                        key);
            goto out;
        }
    }
    json_t *id = json_object_get(j, "id");
    if (id && !json_is_null(id)) {
        if ((rc = vx_json_get_point_id(id, "id", &out->id, err)))
            goto out;
        out->has_id = 1;
    }
    json_t *vec = json_object_get(j, "vector");
    if (!vec) {
        rc = vx_err(err, VECTRON_INVALID, "vector: missing");
        goto out;
    }
    if ((rc = json_vector(vec, "vector", out, err)))
        goto out;
    json_t *pl = json_object_get(j, "payload");
    if (pl && !json_is_null(pl) && !json_is_object(pl)) {
        rc = vx_err(err, VECTRON_INVALID, "payload: must be a JSON object");
        goto out;
    }
    rc = set_payload(out, json_is_object(pl) ? pl : NULL, err);
out:
    json_decref(j);
    return rc;
}

/* ---- CSV ---------------------------------------------------------------- */

/* Fields of one line, unquoted into a scratch copy (each NUL-terminated;
 * a NUL inside a field is an error). */
typedef struct fields {
    char *buf;
    char **f;
    size_t *flen;
    size_t n;
} fields;

static void fields_free(fields *fs)
{
    vx_free(fs->buf);
    vx_free(fs->f);
    vx_free(fs->flen);
    memset(fs, 0, sizeof *fs);
}

static int split(const char *line, size_t len, fields *fs, vectron_error *err)
{
    memset(fs, 0, sizeof *fs);
    size_t maxf = 1;
    for (size_t i = 0; i < len; i++)
        maxf += line[i] == ',';
    fs->buf = vx_malloc(len + maxf + 1);
    fs->f = vx_malloc(maxf * sizeof *fs->f);
    fs->flen = vx_malloc(maxf * sizeof *fs->flen);
    if (!fs->buf || !fs->f || !fs->flen) {
        fields_free(fs);
        return vx_err(err, VECTRON_NOMEM, "out of memory");
    }
    size_t i = 0, o = 0;
    for (;;) {
        char *start = fs->buf + o;
        if (i < len && line[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) {
                    size_t fno = fs->n + 1;
                    fields_free(fs);
                    return vx_err(err, VECTRON_INVALID,
                                  "field %zu: unterminated quote", fno);
                }
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        fs->buf[o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                fs->buf[o++] = line[i++];
            }
            if (i < len && line[i] != ',') {
                size_t fno = fs->n + 1;
                fields_free(fs);
                return vx_err(err, VECTRON_INVALID,
                              "field %zu: text after the closing quote", fno);
            }
        } else {
            while (i < len && line[i] != ',') {
                if (line[i] == '"') {
                    size_t fno = fs->n + 1;
                    fields_free(fs);
                    return vx_err(err, VECTRON_INVALID,
                                  "field %zu: quote inside an unquoted field",
                                  fno);
                }
                fs->buf[o++] = line[i++];
            }
        }
        size_t flen = (size_t)(fs->buf + o - start);
        if (memchr(start, '\0', flen)) {
            size_t fno = fs->n + 1;
            fields_free(fs);
            return vx_err(err, VECTRON_INVALID, "field %zu: NUL byte", fno);
        }
        fs->buf[o++] = '\0';
        fs->f[fs->n] = start;
        fs->flen[fs->n] = flen;
        fs->n++;
        if (i >= len)
            break;
        i++; /* the comma */
    }
    return 0;
}

static int is_component_name(const char *s)
{
    if (*s == 'v')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

void cli_csv_free(cli_csv *c)
{
    for (size_t i = 0; c->name && i < c->ncol; i++)
        vx_free(c->name[i]);
    vx_free(c->name);
    vx_free(c->role);
    memset(c, 0, sizeof *c);
}

int cli_csv_header(const char *line, size_t len, cli_csv *out,
                   vectron_error *err)
{
    fields fs;
    int rc;
    int have_vector = 0, have_id = 0;
    memset(out, 0, sizeof *out);
    if ((rc = split(line, len, &fs, err)))
        return vx_err_wrap(err, rc, "header");
    out->role = vx_calloc(fs.n, sizeof *out->role);
    out->name = vx_calloc(fs.n, sizeof *out->name);
    if (!out->role || !out->name) {
        rc = vx_err(err, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    out->ncol = fs.n;
    for (size_t i = 0; i < fs.n; i++) {
        const char *name = fs.f[i];
        if (fs.flen[i] == 0) {
            rc = vx_err(err, VECTRON_INVALID, "header: column %zu has no name",
                        i + 1);
            goto out;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(out->name[k], name) == 0) {
                rc = vx_err(err, VECTRON_INVALID,
                            "header: column \"%.64s\" appears twice", name);
                goto out;
            }
        out->name[i] = vx_malloc(fs.flen[i] + 1);
        if (!out->name[i]) {
            rc = vx_err(err, VECTRON_NOMEM, "out of memory");
            goto out;
        }
        memcpy(out->name[i], name, fs.flen[i] + 1);
        if (strcmp(name, "id") == 0) {
            out->role[i] = CLI_CSV_ID;
            have_id = 1;
        } else if (strcmp(name, "vector") == 0) {
            out->role[i] = CLI_CSV_VECTOR;
            have_vector = 1;
        } else if (is_component_name(name)) {
            out->role[i] = CLI_CSV_COMPONENT;
            out->dim++;
        } else {
            out->role[i] = CLI_CSV_PAYLOAD;
        }
    }
    (void)have_id;
    if (have_vector && out->dim) {
        rc = vx_err(err, VECTRON_INVALID,
                    "header: both a \"vector\" column and component columns "
                    "(v0, v1, ...)");
        goto out;
    }
    if (!have_vector && !out->dim) {
        rc = vx_err(err, VECTRON_INVALID,
                    "header: no vector column (name them v0, v1, ... or 0, "
                    "1, ..., or one \"vector\" column holding [..])");
        goto out;
    }
    if (out->dim > CLI_MAX_DIM) {
        rc = vx_err(err, VECTRON_INVALID,
                    "header: %u components exceed the maximum of %u",
                    out->dim, CLI_MAX_DIM);
        goto out;
    }
out:
    fields_free(&fs);
    if (rc)
        cli_csv_free(out);
    return rc;
}

/* A JSON number literal of exactly n bytes (s NUL-terminated at n). */
static int number_cell(const char *s, size_t n, double *out)
{
    if (n == 0 || n > 400 || !vx_json_valid_number(s, n))
        return -1;
    *out = strtod(s, NULL);
    return 0;
}

/* A payload cell as a JSON value (new reference), NULL when out of
 * memory or invalid UTF-8 (*bad set). */
static json_t *cell_value(const char *s, size_t n, int *bad)
{
    double d;
    *bad = 0;
    if (strcmp(s, "true") == 0)
        return json_true();
    if (strcmp(s, "false") == 0)
        return json_false();
    if (vx_json_valid_number(s, n)) {
        int integer = !memchr(s, '.', n) && !memchr(s, 'e', n) &&
                      !memchr(s, 'E', n);
        if (integer && n <= 40) {
            json_t *m;
            if (s[0] != '-') {
                uint64_t u;
                if (vx_parse_u64(s, n, &u) == 0)
                    return vx_json_u64(u);
            } else {
                char *end;
                long long v = strtoll(s, &end, 10);
                int overflow = v == LLONG_MIN &&
                               strcmp(s, "-9223372036854775808") != 0;
                if (*end == '\0' && !overflow)
                    return json_integer(v);
            }
            m = vx_json_marker(s, n);
            return m;
        }
        if (number_cell(s, n, &d) == 0 && isfinite(d))
            return json_real(d);
    }
    json_t *str = json_stringn(s, n);
    if (!str)
        *bad = 1;
    return str;
}

int cli_parse_csv(const cli_csv *c, const char *line, size_t len,
                  cli_record *out, vectron_error *err)
{
    fields fs;
    json_t *pl = NULL;
    int rc;
    out->has_id = 0;
    out->dim = 0;
    out->payload_len = 0;
    if ((rc = split(line, len, &fs, err)))
        return rc;
    if (fs.n != c->ncol) {
        rc = vx_err(err, VECTRON_INVALID,
                    "%zu fields, the header has %zu columns", fs.n, c->ncol);
        goto out;
    }
    if (c->dim && (rc = reserve_vec(out, c->dim, err)))
        goto out;
    uint32_t k = 0;
    for (size_t i = 0; i < fs.n; i++) {
        const char *s = fs.f[i];
        size_t n = fs.flen[i];
        switch (c->role[i]) {
        case CLI_CSV_ID:
            if (n == 0)
                break;
            if (s[0] >= '0' && s[0] <= '9' && n < 21) {
                if (vx_parse_u64(s, n, &out->id.num) != 0) {
                    rc = vx_err(err, VECTRON_INVALID,
                                "id: \"%.64s\" is not an unsigned integer or "
                                "a UUID",
                                s);
                    goto out;
                }
                out->id.is_uuid = 0;
            } else if (point_id_parse_uuid(s, n, &out->id, NULL) != 0) {
                rc = vx_err(err, VECTRON_INVALID,
                            "id: \"%.64s\" is not an unsigned integer or a "
                            "UUID",
                            s);
                goto out;
            }
            out->has_id = 1;
            break;
        case CLI_CSV_COMPONENT: {
            double d;
            if (number_cell(s, n, &d) != 0) {
                rc = vx_err(err, VECTRON_INVALID,
                            "column %s: \"%.32s\" is not a number", c->name[i],
                            s);
                goto out;
            }
            if ((rc = to_float(d, "vector", k, &out->vec[k], err)))
                goto out;
            k++;
            break;
        }
        case CLI_CSV_VECTOR: {
            json_t *a = NULL;
            if ((rc = vx_json_load(s, n, "vector", &a, err)))
                goto out;
            rc = json_vector(a, "vector", out, err);
            json_decref(a);
            if (rc)
                goto out;
            break;
        }
        default: {
            if (n == 0)
                break;
            int bad;
            json_t *v = cell_value(s, n, &bad);
            if (!v) {
                rc = bad ? vx_err(err, VECTRON_INVALID,
                                  "column %s: not valid UTF-8", c->name[i])
                         : vx_err(err, VECTRON_NOMEM, "out of memory");
                goto out;
            }
            if (!pl && !(pl = json_object())) {
                json_decref(v);
                rc = vx_err(err, VECTRON_NOMEM, "out of memory");
                goto out;
            }
            if (json_object_set_new(pl, c->name[i], v)) {
                rc = vx_err(err, VECTRON_INVALID,
                            "column %.64s: not a valid payload key",
                            c->name[i]);
                goto out;
            }
        }
        }
    }
    if (c->dim)
        out->dim = c->dim;
    rc = set_payload(out, pl, err);
out:
    json_decref(pl);
    fields_free(&fs);
    return rc;
}
