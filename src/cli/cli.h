/*
 * cli.h - the client verbs of the `vectron` binary (import, search,
 * collections, status; docs/cli.md): each a `*_main(argc, argv)` that
 * parses its options, talks to a server's REST API through
 * common/http_client and returns the process exit code. Errors go to
 * stderr as one line "vectron VERB: message" (the server's own message
 * passed through for HTTP errors).
 *
 * Files: cli.c (connection and request helpers, tables), cli_parse.c (the
 * input line parsers, fuzzed by fuzz/fuzz_cli_parse.c), cli_import.c,
 * cli_search.c, cli_collections.c, cli_status.c.
 *
 * Depends on common only. Threading: the main thread, except that import
 * sends its batches from worker threads (cli_import.c).
 * Prefix: cli_.
 */
#ifndef VECTRON_CLI_H
#define VECTRON_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "common/http_client.h"
#include "vectron/error.h"

/* Exit codes: 0 ok, 1 failure (server, network, input), 2 usage. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

#define CLI_DEFAULT_URL "http://127.0.0.1:6333"

/* The verbs (argv[0] is the verb's name). */
int cli_import_main(int argc, char **argv);
int cli_search_main(int argc, char **argv);
int cli_collections_main(int argc, char **argv);
int cli_status_main(int argc, char **argv);

int cli_keys_main(int argc, char **argv);

/* The environment variable holding the client's credential. Not
 * VECTRON_API_KEY: that one sets the server's bootstrap admin key (the
 * api-key knob), and a `vectron serve` started from the same shell must
 * not take a client's key as its admin key. */
#define CLI_KEY_ENV "VECTRON_CLIENT_KEY"

/* A connection to one server. */
typedef struct cli_conn {
    char base[512]; /* URL without a trailing slash */
    unsigned timeout_ms;
    vx_http_client *http;
    const char *api_key; /* sent as the api-key header; NULL: none.
                            Borrowed (argv or the environment) */
} cli_conn;

/* Opens a client for url (NULL: $VECTRON_URL, else CLI_DEFAULT_URL),
 * sending $VECTRON_CLIENT_KEY as its credential when set (docs/auth.md;
 * a verb may replace it with cli_conn.api_key).
 * Errors: INVALID (url too long or not http(s)://), NOMEM, IO. */
int cli_conn_open(cli_conn *c, const char *url, unsigned timeout_ms,
                  vectron_error *err);
void cli_conn_close(cli_conn *c);

/* Sends METHOD base+path (path already escaped; see cli_escape) with an
 * optional body of content type ctype (NULL: JSON). On a 2xx answer
 * returns 0 and, when out is not NULL, the parsed JSON in *out (a new
 * reference). Any other status is an error whose message is the server's
 * ("HTTP 404: Not found: Collection `x` doesn't exist!"), with
 * err->code NOT_FOUND for 404, INVALID for other 4xx, UNAVAILABLE for
 * 5xx. *status (may be NULL) gets the HTTP status (0 when none). */
int cli_call(cli_conn *c, const char *method, const char *path,
             const void *body, size_t len, const char *ctype, json_t **out,
             long *status, vectron_error *err);

/* Percent-escapes s for use as one path segment into out (cap bytes).
 * Errors: LIMIT when it does not fit. */
int cli_escape(const char *s, char *out, size_t cap, vectron_error *err);

/* Prints "vectron VERB: msg" to stderr and returns CLI_EXIT_FAIL. */
int cli_fail(const char *verb, const vectron_error *err);

/* A text table printed with aligned columns. Cells are copied. */
typedef struct cli_table {
    size_t ncol, nrow;
    char **cells; /* nrow * ncol, row 0 is the header */
    size_t cap;
    int oom;
} cli_table;

void cli_table_init(cli_table *t, size_t ncol);
/* Appends a row of t->ncol cells (NULL cells print as empty). */
void cli_table_row(cli_table *t, const char *const *cells);
/* Prints the table (columns separated by two spaces; the last column is
 * not padded). Errors: NOMEM if a row could not be added. */
int cli_table_print(cli_table *t, FILE *out, vectron_error *err);
void cli_table_free(cli_table *t);

/* Writes a JSON value compactly into buf (cap bytes, truncated with
 * "..." when longer): strings without quotes, others as JSON text. */
void cli_json_cell(const json_t *v, char *buf, size_t cap);

/* Parses a whole unsigned decimal; -1 on junk or overflow of max. */
int cli_parse_uint(const char *s, unsigned long max, unsigned long *out);

#endif
