/*
 * http_client.h - a small blocking HTTP/1.1 client over libcurl for the
 * `vectron` client verbs, tools and tests: one call sends a method, a URL,
 * extra headers and a body with a timeout and returns the status and the
 * whole response body.
 *
 * Connections. A client handle keeps libcurl's connection cache, so
 * consecutive requests to the same host:port reuse one TCP connection
 * (HTTP keep-alive) as long as the server keeps it open; a request whose
 * reused connection turns out to be dead is retried by libcurl on a fresh
 * one. Redirects are not followed; proxies from the environment
 * (http_proxy, no_proxy) are honoured as libcurl does.
 *
 * Errors (return value and err, when not NULL; the message always names
 * the method and URL, then libcurl's reason):
 *   UNAVAILABLE  the server could not be reached (resolve or connect
 *                failed, connection refused or reset, nothing received);
 *   TIMEOUT      the whole exchange took longer than timeout_ms;
 *   INVALID      a bad argument (NULL or empty method or URL, a header
 *                without ':' or with CR/LF, a URL libcurl rejects);
 *   LIMIT        the response body is larger than the client's cap;
 *   IO           any other transfer failure;
 *   NOMEM.
 * An HTTP error status (4xx, 5xx) is not an error of this call: it
 * returns 0 with the status and the server's body.
 *
 * Threading: a client handle belongs to one thread at a time (use one per
 * thread); different handles may be used concurrently. The first
 * vx_http_client_new runs libcurl's global initialisation once
 * (pthread_once). Timeouts do not use signals (CURLOPT_NOSIGNAL).
 */
#ifndef VECTRON_COMMON_HTTP_CLIENT_H
#define VECTRON_COMMON_HTTP_CLIENT_H

#include <stddef.h>

#include "vectron/error.h"

typedef struct vx_http_client vx_http_client;

/* A response: owned by the caller, released with vx_http_response_free. */
typedef struct vx_http_response {
    long status; /* HTTP status code, e.g. 200 */
    char *body;  /* vx_malloc'd, len bytes plus a terminating NUL that is
                    not counted (so text can be used as a C string); never
                    NULL after a successful call */
    size_t len;
} vx_http_response;

/* Creates a client in *out. max_response caps a response body in bytes
 * (0: 1 GiB). Errors: NOMEM, IO (libcurl could not be initialised). */
int vx_http_client_new(size_t max_response, vx_http_client **out,
                       vectron_error *err);

/* Closes the client's connections and frees it. NULL is a no-op. */
void vx_http_client_free(vx_http_client *c);

/* Sends one request and waits for the whole response.
 *   method   "GET", "PUT", "POST", "DELETE", ... (sent as is);
 *   url      absolute "http://host:port/path?query", already escaped;
 *   headers  nheaders "Name: value" strings (borrowed for the call) added
 *            to the request; when a body is sent without a Content-Type
 *            among them, "Content-Type: application/json" is added;
 *   body     body_len bytes sent as the body (NULL with 0: no body);
 *   timeout_ms  limit for the whole exchange, connect included (0: none).
 * On success *out holds the status and the body (free it with
 * vx_http_response_free). On error *out is zeroed and nothing needs
 * freeing. */
int vx_http_client_request(vx_http_client *c, const char *method,
                           const char *url, const char *const *headers,
                           size_t nheaders, const void *body, size_t body_len,
                           unsigned timeout_ms, vx_http_response *out,
                           vectron_error *err);

/* Frees r->body and zeroes r. NULL is a no-op. */
void vx_http_response_free(vx_http_response *r);

#endif
