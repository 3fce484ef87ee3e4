/*
 * config.h - one table of knobs drives command-line flags, the config
 * file, environment variables, --help and the Markdown reference.
 *
 * A program describes each knob once (vx_config_knob: name, type, default,
 * range, section, doc, effect and where in the program's own struct the
 * parsed value goes) and calls vx_config_load. Values are taken, later
 * sources overriding earlier ones, from
 *
 *     defaults < config file < environment < command-line flags
 *
 * - Flags: `--name value` or `--name=value`; booleans as `--name`,
 *   `--name=true|false` or `--no-name`. `--config FILE` names the config
 *   file, `-h`/`--help` asks for help, `--` ends the flags. Any other
 *   argument not starting with '-' (and a lone "-") is positional and is
 *   returned to the caller. A separate value may not start with "--" (that is
 * almost always a forgotten value); write `--name=--odd` instead.
 * - Environment: VECTRON_ + the name upper-cased with '-' turned into '_'
 *   (http-listen -> VECTRON_HTTP_LISTEN). VECTRON_CONFIG names the config
 *   file when --config is not given. Variables that match no knob are
 *   ignored (other subcommands share the VECTRON_ prefix).
 * - Config file: one `name = value` per line; blank lines and lines
 *   starting with '#' are ignored, and so is a '#' that follows the value
 *   after whitespace. A value may be quoted: "..." (where \" and \\ are
 *   escapes; any other backslash is literal) or '...' (literal). Unknown
 *   and repeated names are errors.
 *
 * Value syntax per type:
 * - string: any text. enum: one of the knob's values (case-insensitive).
 * - bool: true/false, yes/no, on/off, 1/0 (case-insensitive).
 * - int64, uint64: decimal integers; out-of-range 64-bit values are
 *   rejected, never wrapped.
 * - double: a decimal number ("0.01", "2", "1e-3"); no inf or nan.
 * - size: an integer number of bytes with an optional suffix, powers of
 *   1024: k/m/g/t or KiB/MiB/GiB/TiB (case-insensitive), or b. "64MB" is
 *   rejected as ambiguous.
 * - duration: milliseconds; components with units ms, s, m, h ("250ms",
 *   "2s", "1m30s"); a bare number is milliseconds.
 *
 * Every error message names the knob and where the value came from:
 *     "--http-threads: 0 is below the minimum 1"
 *     "VECTRON_MAX_BODY_SIZE: 'abc' is not a size (e.g. 64MiB)"
 *     "serve.conf:12: http-thread: unknown knob; did you mean
 *      'http-threads'?"
 *
 * Errors: VECTRON_INVALID for bad input (flags, environment, file),
 * VECTRON_IO when the config file cannot be read or an output stream
 * fails, VECTRON_NOMEM, and VECTRON_INTERNAL for a malformed table (a
 * programming error; vx_config_check tells what is wrong).
 *
 * Tables: vx_config_load checks its table first (INTERNAL if malformed);
 * the other functions assume a table that passes vx_config_check, which a
 * unit test of each table should call.
 *
 * Threading: loading reads the environment (getenv); call it at start-up
 * before other threads run. The other functions are reentrant.
 */
#ifndef VECTRON_CONFIG_H
#define VECTRON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vectron/error.h"

/* The type of a knob, and the C type of its field in the caller's struct. */
typedef enum vx_config_type {
    VX_CFG_STRING,   /* char *: NUL-terminated, heap, owned by the struct */
    VX_CFG_ENUM,     /* int: index into the knob's values */
    VX_CFG_BOOL,     /* bool */
    VX_CFG_INT64,    /* int64_t */
    VX_CFG_UINT64,   /* uint64_t */
    VX_CFG_DOUBLE,   /* double */
    VX_CFG_SIZE,     /* uint64_t: bytes */
    VX_CFG_DURATION, /* uint64_t: milliseconds */
} vx_config_type;

/* Longest knob name. */
#define VX_CFG_NAME_MAX 48

/* Largest config file accepted. */
#define VX_CFG_FILE_MAX (1u << 20)

/* One knob. Tables are static constant data; every text is borrowed for
 * the life of the program. */
typedef struct vx_config_knob {
    /* kebab-case: [a-z][a-z0-9-]*, no "--", no trailing '-', not starting
     * with "no-", not "help" or "config"; at most VX_CFG_NAME_MAX bytes. */
    const char *name;
    vx_config_type type;
    /* The default, as text in the knob's own syntax ("64MiB", "60s"). */
    const char *def;
    /* Inclusive bounds as text in the same syntax, or NULL for none. Not
     * allowed for string, enum and bool knobs. */
    const char *min;
    const char *max;
    /* NULL-terminated allowed values of an enum knob (lower case); the
     * field holds the index of the chosen one. NULL for other types. */
    const char *const *values;
    /* offsetof(your_struct, field): where the parsed value is written. */
    size_t offset;
    /* Group in --help and in the docs ("network", "storage", ...). */
    const char *section;
    /* One line: what the knob does. */
    const char *doc;
    /* One line: what changing it trades off. */
    const char *effect;
} vx_config_knob;

/* What vx_config_load found besides the knob values. */
typedef struct vx_config_status {
    /* -h or --help was given: print help (vx_config_help) and exit 0.
     * Values then hold the defaults and the other sources are not read. */
    bool help;
    /* argv[first_positional .. argc) are the positional arguments, in the
     * order given (vx_config_load moves them to the end of argv). */
    int first_positional;
    /* The config file read, or NULL. Borrowed from argv or the
     * environment. */
    const char *config_file;
} vx_config_status;

/* Checks that a table is well formed: names valid and unique, every
 * default/min/max parses, min <= default <= max, enum values present and
 * lower case, texts non-empty. INVALID with a message naming the knob
 * otherwise. */
int vx_config_check(const vx_config_knob *table, size_t n, vectron_error *err);

/* Returns the knob called name (exact match), or NULL. The pointer is into
 * table. */
const vx_config_knob *vx_config_find(const vx_config_knob *table, size_t n,
                                     const char *name);

/* Writes every knob's default into values (a caller-allocated struct).
 * Whatever values held before is overwritten without being freed. On
 * success the struct owns its strings (vx_config_close); on failure it
 * owns nothing (string fields are NULL). Errors: NOMEM, INTERNAL for a
 * default that does not parse (vx_config_check finds those first). */
int vx_config_init(const vx_config_knob *table, size_t n, void *values,
                   vectron_error *err);

/* Frees the string fields of values and sets them to NULL. Safe to call
 * twice, or on a struct whose string fields are NULL. */
void vx_config_close(const vx_config_knob *table, size_t n, void *values);

/* Fills values from defaults, the config file, the environment and argv,
 * in that order of precedence (see the top of this file). argv[0] is the
 * program or subcommand name and is skipped. The argv array itself (not
 * the strings) is reordered so that positional arguments come last; st
 * reports where they start, whether help was asked for and which config
 * file was read.
 *
 * Returns 0 on success, and values owns its strings (vx_config_close).
 * On failure values owns nothing (its string fields are NULL, except after
 * INTERNAL, when values is not touched) and err names the knob and the
 * source. */
int vx_config_load(const vx_config_knob *table, size_t n, int argc, char **argv,
                   void *values, vx_config_status *st, vectron_error *err);

/* Parses text as knob k's value, checks it against the knob's range or
 * values, and stores it in values (the previous string of a string knob
 * is freed, so string fields must be NULL or owned by the struct). The
 * message names neither knob nor source ("0 is below the minimum 1");
 * callers add them. Errors: INVALID, NOMEM. */
int vx_config_parse(const vx_config_knob *k, const char *text, void *values,
                    vectron_error *err);

/* Formats knob k's current value in values as text that parses back to
 * the same value (strings unquoted). Returns the length the full text
 * needs, like snprintf; buf is always NUL-terminated when len > 0. */
size_t vx_config_format(const vx_config_knob *k, const void *values, char *buf,
                        size_t len);

/* Parsers of the scalar syntaxes, for other modules (for example request
 * parameters). INVALID with a message that quotes text. */
int vx_config_parse_size(const char *text, uint64_t *bytes, vectron_error *err);
int vx_config_parse_duration(const char *text, uint64_t *ms,
                             vectron_error *err);
int vx_config_parse_bool(const char *text, bool *out, vectron_error *err);

/* Writes the environment variable name of a knob ("VECTRON_HTTP_LISTEN")
 * into buf (at least VX_CFG_NAME_MAX + 9 bytes). */
void vx_config_env_name(const char *name, char *buf, size_t len);

/* Writes --help text: usage_line (e.g. "usage: vectron serve [flags]"),
 * a paragraph on sources and precedence, then the knobs grouped by
 * section with their defaults and ranges, aligned for 80 columns.
 * Returns 0, or IO if writing to out failed. */
int vx_config_help(const vx_config_knob *table, size_t n, FILE *out,
                   const char *usage_line, vectron_error *err);

/* Writes a Markdown reference: "# title", an introduction (precedence,
 * flag and environment forms, config-file syntax, value syntax), then per
 * section a table | knob | env | default | range/values | what it does |
 * effect |. Returns 0, or IO. */
int vx_config_markdown(const vx_config_knob *table, size_t n, FILE *out,
                       const char *title, vectron_error *err);

/* Writes the effective configuration in values as a config file that
 * vx_config_load accepts, grouped by section; a value that differs from
 * its default is followed by "# default X". Returns 0, or IO. */
int vx_config_dump(const vx_config_knob *table, size_t n, const void *values,
                   FILE *out, vectron_error *err);

#endif
