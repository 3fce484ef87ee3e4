/*
 * cli_parse.h - the record parsers of `vectron import` (formats:
 * docs/cli.md "Input formats"): one JSONL line, a CSV header and one CSV
 * line, each into a cli_record. They take untrusted bytes of any length
 * and content (fuzzed by fuzz/fuzz_cli_parse.c) and never read outside
 * them.
 *
 * Threading: pure functions over caller-owned values.
 */
#ifndef VECTRON_CLI_PARSE_H
#define VECTRON_CLI_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "common/point_id.h"
#include "vectron/error.h"

/* Longest vector accepted (the server has its own limit too). */
#define CLI_MAX_DIM 65536u

/* One parsed record. The buffers are owned by the record and reused by
 * the next parse into it; free them with cli_record_free. */
typedef struct cli_record {
    int has_id;
    point_id id;
    float *vec; /* dim floats */
    uint32_t dim, vec_cap;
    char *payload; /* compact JSON object text, NUL-terminated, or NULL */
    size_t payload_len, payload_cap;
} cli_record;

void cli_record_free(cli_record *r);

/* Parses one JSONL line (len bytes, no newline; need not be
 * NUL-terminated): a JSON object with "vector" (an array of finite
 * numbers within float range, required), "id" (an unsigned integer or a
 * UUID string, optional) and "payload" (an object or null, optional); any
 * other key is an error. Errors: INVALID with a message (no file:line;
 * the caller adds it), NOMEM. */
int cli_parse_jsonl(const char *line, size_t len, cli_record *out,
                    vectron_error *err);

/* The same through jansson only (the definition of the result; the fast
 * path of cli_parse_jsonl must agree with it, which the fuzz target
 * checks). */
int cli_parse_jsonl_slow(const char *line, size_t len, cli_record *out,
                         vectron_error *err);

/* A CSV layout from the header line. */
typedef enum cli_csv_role {
    CLI_CSV_PAYLOAD = 0,
    CLI_CSV_ID,
    CLI_CSV_COMPONENT, /* one vector component */
    CLI_CSV_VECTOR     /* the whole vector as a JSON array */
} cli_csv_role;

typedef struct cli_csv {
    size_t ncol;
    cli_csv_role *role; /* ncol */
    char **name;        /* ncol header names (payload keys) */
    uint32_t dim;       /* number of COMPONENT columns (0 with VECTOR) */
} cli_csv;

/* Parses the header line: fields (quoted as in data lines) name the
 * columns. "id" is the point id; "vector" holds a whole vector as a JSON
 * array; a name that is "v" followed by digits, or only digits, is a
 * vector component (components in column order); any other column is a
 * payload key. Errors: INVALID (empty name, duplicate name, no vector
 * column, both "vector" and components, a bad quote), NOMEM. */
int cli_csv_header(const char *line, size_t len, cli_csv *out,
                   vectron_error *err);
void cli_csv_free(cli_csv *c);

/* Parses one data line against the header: exactly c->ncol fields,
 * separated by ',', a field optionally in double quotes with "" for a
 * quote (no line breaks inside a field). Components must be finite
 * numbers; the id an unsigned integer or a UUID (empty: none); a payload
 * cell becomes an integer, a real, true/false, or else a string; an empty
 * cell is left out of the payload. Errors: INVALID, NOMEM. */
int cli_parse_csv(const cli_csv *c, const char *line, size_t len,
                  cli_record *out, vectron_error *err);

#endif
