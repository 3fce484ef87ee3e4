/*
 * http_client.c - the blocking HTTP client of http_client.h on libcurl's
 * easy interface. One CURL easy handle per client: curl_easy_reset between
 * requests clears the options but keeps the connection cache, which is
 * what makes keep-alive work across calls.
 *
 * Threading: a client is used by one thread at a time (documented in the
 * header); libcurl's global init runs once under pthread_once.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "common/http_client.h"

#define DEFAULT_MAX_RESPONSE ((size_t)1 << 30)

struct vx_http_client {
    CURL *curl;
    size_t max_response;
    char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int vx_http_client_new(size_t max_response, vx_http_client **out,
                       vectron_error *err)
{
    *out = NULL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return vx_err(err, VECTRON_IO, "http client: libcurl init: %s",
                      curl_easy_strerror(global_rc));
    vx_http_client *c = vx_calloc(1, sizeof *c);
    if (!c)
        return vx_err(err, VECTRON_NOMEM, "http client: out of memory");
    c->curl = curl_easy_init();
    if (!c->curl) {
        vx_free(c);
        return vx_err(err, VECTRON_IO, "http client: curl_easy_init failed");
    }
    c->max_response = max_response ? max_response : DEFAULT_MAX_RESPONSE;
    *out = c;
    return 0;
}

void vx_http_client_free(vx_http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    vx_free(c);
}

void vx_http_response_free(vx_http_response *r)
{
    if (!r)
        return;
    vx_free(r->body);
    memset(r, 0, sizeof *r);
}

/* The body being received. */
typedef struct sink {
    char *p;
    size_t len, cap, max;
    int oom, too_big;
} sink;

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t n = size * nmemb;
    if (n > s->max - s->len) {
        s->too_big = 1;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *p = vx_realloc(s->p, cap);
        if (!p) {
            s->oom = 1;
            return 0;
        }
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, data, n);
    s->len += n;
    s->p[s->len] = '\0';
    return n;
}

/* 1 if h is a "Name: value" line without CR or LF. */
static int header_ok(const char *h)
{
    const char *colon = h ? strchr(h, ':') : NULL;
    return colon && colon != h && !strpbrk(h, "\r\n");
}

static int is_connect_failure(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        return 1;
    default:
        return 0;
    }
}

int vx_http_client_request(vx_http_client *c, const char *method,
                           const char *url, const char *const *headers,
                           size_t nheaders, const void *body, size_t body_len,
                           unsigned timeout_ms, vx_http_response *out,
                           vectron_error *err)
{
    struct curl_slist *list = NULL;
    sink s = {.max = c->max_response};
    int rc = 0, has_type = 0;

    memset(out, 0, sizeof *out);
    if (!method || !*method || !url || !*url)
        return vx_err(err, VECTRON_INVALID, "http: empty method or URL");
    for (size_t i = 0; i < nheaders; i++) {
        if (!header_ok(headers[i])) {
            rc = vx_err(err, VECTRON_INVALID, "%s %s: bad header '%s'", method,
                        url, headers[i] ? headers[i] : "(null)");
            goto out;
        }
        if (strncasecmp(headers[i], "content-type:", 13) == 0)
            has_type = 1;
        struct curl_slist *l = curl_slist_append(list, headers[i]);
        if (!l)
            goto nomem;
        list = l;
    }
    if (body && !has_type) {
        struct curl_slist *l =
            curl_slist_append(list, "Content-Type: application/json");
        if (!l)
            goto nomem;
        list = l;
    }
    /* No "Expect: 100-continue" round trip before large bodies. */
    struct curl_slist *l = curl_slist_append(list, "Expect:");
    if (!l)
        goto nomem;
    list = l;

    CURL *h = c->curl;
    curl_easy_reset(h);
    c->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK) {
        rc = vx_err(err, VECTRON_INVALID, "%s %s: bad URL", method, url);
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    if (strcmp(method, body ? "POST" : "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);

    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
        if (s.oom)
            rc = vx_err(err, VECTRON_NOMEM, "%s %s: out of memory", method,
                        url);
        else if (s.too_big)
            rc = vx_err(err, VECTRON_LIMIT,
                        "%s %s: response body larger than %zu bytes", method,
                        url, c->max_response);
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            rc = vx_err(err, VECTRON_TIMEOUT, "%s %s: timed out: %s", method,
                        url, why);
        else if (is_connect_failure(cc))
            rc = vx_err(err, VECTRON_UNAVAILABLE, "%s %s: %s: %s", method, url,
                        curl_easy_strerror(cc), why);
        else if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL)
            rc = vx_err(err, VECTRON_INVALID, "%s %s: %s", method, url, why);
        else
            rc = vx_err(err, VECTRON_IO, "%s %s: %s: %s", method, url,
                        curl_easy_strerror(cc), why);
        goto out;
    }
    if (!s.p) {
        s.p = vx_malloc(1);
        if (!s.p)
            goto nomem;
        s.p[0] = '\0';
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = s.p;
    out->len = s.len;
    s.p = NULL;
    goto out;

nomem:
    rc = vx_err(err, VECTRON_NOMEM, "%s %s: out of memory", method, url);
out:
    curl_slist_free_all(list);
    vx_free(s.p);
    return rc;
}
