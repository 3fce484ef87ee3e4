/*
 * cli.c - helpers shared by the client verbs: the server connection and
 * its request call (JSON answers parsed, the server's error messages
 * passed through), path escaping, error lines and aligned text tables.
 *
 * Threading: single-threaded (see cli.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"
#include "common/json.h"

int cli_conn_open(cli_conn *c, const char *url, unsigned timeout_ms,
                  vectron_error *err)
{
    memset(c, 0, sizeof *c);
    if (!url || !*url)
        url = getenv("VECTRON_URL");
    if (!url || !*url)
        url = CLI_DEFAULT_URL;
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n >= sizeof c->base)
        return vx_err(err, VECTRON_INVALID, "--url: too long");
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return vx_err(err, VECTRON_INVALID,
                      "--url: expected http://host:port, got '%s'", url);
    memcpy(c->base, url, n);
    c->base[n] = '\0';
    c->timeout_ms = timeout_ms;
    return vx_http_client_new(0, &c->http, err);
}

void cli_conn_close(cli_conn *c)
{
    vx_http_client_free(c->http);
    c->http = NULL;
}

/* The message of Qdrant's error envelope, or the start of the body. */
static void server_message(const vx_http_response *r, char *out, size_t cap)
{
    json_t *j = NULL;
    if (vx_json_load(r->body, r->len, "response", &j, NULL) == 0) {
        json_t *st = json_object_get(j, "status");
        json_t *e = json_is_object(st) ? json_object_get(st, "error") : NULL;
        if (json_is_string(e)) {
            snprintf(out, cap, "%s", json_string_value(e));
            json_decref(j);
            return;
        }
        json_decref(j);
    }
    size_t n = r->len < 200 ? r->len : 200;
    snprintf(out, cap, "%.*s", (int)n, r->body);
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

int cli_call(cli_conn *c, const char *method, const char *path,
             const void *body, size_t len, const char *ctype, json_t **out,
             long *status, vectron_error *err)
{
    char url[2048];
    char hdr[128];
    const char *hdrs[1] = {hdr};
    vx_http_response r;
    int rc;

    if (out)
        *out = NULL;
    if (status)
        *status = 0;
    if (snprintf(url, sizeof url, "%s%s", c->base, path) >= (int)sizeof url)
        return vx_err(err, VECTRON_LIMIT, "URL too long");
    snprintf(hdr, sizeof hdr, "Content-Type: %s",
             ctype ? ctype : "application/json");
    rc = vx_http_client_request(c->http, method, url, hdrs, body ? 1 : 0, body,
                                len, c->timeout_ms, &r, err);
    if (rc)
        return rc;
    if (status)
        *status = r.status;
    if (r.status < 200 || r.status > 299) {
        char msg[VECTRON_ERROR_MSG_SIZE];
        server_message(&r, msg, sizeof msg);
        rc = vx_err(err,
                    r.status == 404   ? VECTRON_NOT_FOUND
                    : r.status >= 500 ? VECTRON_UNAVAILABLE
                                      : VECTRON_INVALID,
                    "HTTP %ld: %s", r.status, msg);
        vx_http_response_free(&r);
        return rc;
    }
    if (out) {
        rc = vx_json_load(r.body, r.len, "server response", out, err);
    }
    vx_http_response_free(&r);
    return rc;
}

int cli_escape(const char *s, char *out, size_t cap, vectron_error *err)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
                    *p == '.' || *p == '~';
        if (o + (plain ? 1 : 3) + 1 > cap)
            return vx_err(err, VECTRON_LIMIT, "name too long");
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

int cli_fail(const char *verb, const vectron_error *err)
{
    fprintf(stderr, "vectron %s: %s\n", verb,
            err->msg[0] ? err->msg : vectron_error_name(err->code));
    return CLI_EXIT_FAIL;
}

int cli_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* ---- tables ------------------------------------------------------------ */

void cli_table_init(cli_table *t, size_t ncol)
{
    memset(t, 0, sizeof *t);
    t->ncol = ncol;
}

void cli_table_row(cli_table *t, const char *const *cells)
{
    if (t->oom)
        return;
    if ((t->nrow + 1) * t->ncol > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : t->ncol * 16;
        char **p = vx_realloc(t->cells, cap * sizeof *p);
        if (!p) {
            t->oom = 1;
            return;
        }
        t->cells = p;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncol; i++) {
        const char *s = cells[i] ? cells[i] : "";
        size_t n = strlen(s);
        char *d = vx_malloc(n + 1);
        if (!d) {
            for (size_t k = 0; k < i; k++)
                vx_free(t->cells[t->nrow * t->ncol + k]);
            t->oom = 1;
            return;
        }
        memcpy(d, s, n + 1);
        t->cells[t->nrow * t->ncol + i] = d;
    }
    t->nrow++;
}

int cli_table_print(cli_table *t, FILE *out, vectron_error *err)
{
    if (t->oom)
        return vx_err(err, VECTRON_NOMEM, "out of memory");
    size_t w[64] = {0};
    size_t ncol = t->ncol < 64 ? t->ncol : 64;
    for (size_t r = 0; r < t->nrow; r++)
        for (size_t i = 0; i < ncol; i++) {
            size_t n = strlen(t->cells[r * t->ncol + i]);
            if (n > w[i])
                w[i] = n;
        }
    for (size_t r = 0; r < t->nrow; r++) {
        for (size_t i = 0; i < ncol; i++) {
            const char *s = t->cells[r * t->ncol + i];
            if (i + 1 < ncol)
                fprintf(out, "%-*s  ", (int)w[i], s);
            else
                fprintf(out, "%s", s);
        }
        fputc('\n', out);
    }
    return 0;
}

void cli_table_free(cli_table *t)
{
    for (size_t i = 0; i < t->nrow * t->ncol; i++)
        vx_free(t->cells[i]);
    vx_free(t->cells);
    memset(t, 0, sizeof *t);
}

void cli_json_cell(const json_t *v, char *buf, size_t cap)
{
    if (!v || json_is_null(v)) {
        snprintf(buf, cap, "-");
        return;
    }
    if (json_is_string(v) && !vx_json_is_bignum(v)) {
        snprintf(buf, cap, "%s", json_string_value(v));
        return;
    }
    char *text = NULL;
    size_t n = 0;
    if (vx_json_dump(v, &text, &n, NULL)) {
        snprintf(buf, cap, "?");
        return;
    }
    if (n >= cap && cap > 4)
        snprintf(buf, cap, "%.*s...", (int)(cap - 4), text);
    else
        snprintf(buf, cap, "%s", text);
    vx_free(text);
}
