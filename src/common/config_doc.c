/*
 * config_doc.c - what the knob table says about itself: --help text
 * (vx_config_help), the Markdown reference (vx_config_markdown) and the
 * effective configuration as a config file (vx_config_dump). The parsers
 * and the loader are in config.c.
 *
 * Threading: reentrant; each writer reads only the table and the
 * caller's values and writes only to the caller's stream.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "common/config_int.h"

/* ------------------------------------------------------------- output */

static int out_status(FILE *out, const char *what, vectron_error *err)
{
    if (ferror(out)) {
        return vx_err(err, VECTRON_IO, "write %s: output error", what);
    }
    return 0;
}

/* Whether knob i is the first of its section. Sections are listed in the
 * order of their first knob; a section's knobs need not be adjacent. */
static bool first_of_section(const vx_config_knob *table, size_t i)
{
    for (size_t j = 0; j < i; j++) {
        if (strcmp(table[j].section, table[i].section) == 0) {
            return false;
        }
    }
    return true;
}

static const char *placeholder(vx_config_type t)
{
    switch (t) {
    case VX_CFG_STRING:
        return "TEXT";
    case VX_CFG_ENUM:
        return "WORD";
    case VX_CFG_BOOL:
        return "";
    case VX_CFG_INT64:
    case VX_CFG_UINT64:
        return "N";
    case VX_CFG_DOUBLE:
        return "X";
    case VX_CFG_SIZE:
        return "SIZE";
    case VX_CFG_DURATION:
        return "DURATION";
    }
    return "";
}

/* "--name ARG" or "--[no-]name" for a boolean. */
static size_t flag_form(const vx_config_knob *k, char *buf, size_t len)
{
    int n;

    if (k->type == VX_CFG_BOOL) {
        n = snprintf(buf, len, "--[no-]%s", k->name);
    } else {
        n = snprintf(buf, len, "--%s %s", k->name, placeholder(k->type));
    }
    return n < 0 ? 0 : (size_t)n;
}

/* "range 1..1024", "at least 1", "one of a, b" or "" into buf. sep joins
 * enum values. */
static void range_text(const vx_config_knob *k, char *buf, size_t len,
                       const char *sep)
{
    size_t used = 0;

    buf[0] = '\0';
    if (k->values) {
        for (int i = 0; k->values[i] && used < len; i++) {
            used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                     i ? sep : "", k->values[i]);
        }
    } else if (k->min && k->max) {
        snprintf(buf, len, "%s..%s", k->min, k->max);
    } else if (k->min) {
        snprintf(buf, len, ">= %s", k->min);
    } else if (k->max) {
        snprintf(buf, len, "<= %s", k->max);
    }
}

/* Writes words of text starting at column *colp, wrapping at 79 columns
 * with continuation lines indented to indent. */
static void wrap(FILE *out, const char *text, size_t indent, size_t *colp)
{
    size_t col = *colp;
    const char *p = text;

    while (*p) {
        size_t w = strcspn(p, " ");
        if (col > indent && col + 1 + w > 79) {
            fprintf(out, "\n%*s", (int)indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", (int)w, p);
        col += w;
        p += w;
        while (*p == ' ') {
            p++;
        }
    }
    *colp = col;
}

static void help_entry(FILE *out, const char *form, const char *doc,
                       size_t indent)
{
    size_t col = 2 + strlen(form);

    fprintf(out, "  %s", form);
    if (col + 2 > indent) {
        fprintf(out, "\n%*s", (int)indent, "");
    } else {
        fprintf(out, "%*s", (int)(indent - col), "");
    }
    col = indent;
    wrap(out, doc, indent, &col);
    fputc('\n', out);
}

int vx_config_help(const vx_config_knob *table, size_t n, FILE *out,
                   const char *usage_line, vectron_error *err)
{
    size_t indent = 0;
    char form[VX_CFG_NAME_MAX + 32];
    size_t col = 0;

    for (size_t i = 0; i < n; i++) {
        size_t w = flag_form(&table[i], form, sizeof form);
        if (w > indent) {
            indent = w;
        }
    }
    indent += 4;
    if (indent < 20) {
        indent = 20;
    }
    if (indent > 34) {
        indent = 34;
    }
    if (usage_line) {
        fprintf(out, "%s\n\n", usage_line);
    }
    wrap(out,
         "Every flag can also be set in the environment as VECTRON_<NAME> "
         "(--http-listen is VECTRON_HTTP_LISTEN) or as a \"name = value\" "
         "line in a config file. Precedence: defaults < config file < "
         "environment < flags. Booleans: --name, --name=false, --no-name. "
         "Sizes take k, m, g, t or KiB, MiB, GiB, TiB (powers of 1024); "
         "durations take ms, s, m, h (a bare number is milliseconds).",
         0, &col);
    fputs("\n\n", out);
    help_entry(out, "-h, --help", "Show this help and exit.", indent);
    help_entry(out, "--config FILE",
               "Read knobs from FILE (default: $VECTRON_CONFIG, else none).",
               indent);
    for (size_t i = 0; i < n; i++) {
        if (!first_of_section(table, i)) {
            continue;
        }
        fprintf(out, "\n%s:\n", table[i].section);
        for (size_t j = i; j < n; j++) {
            const vx_config_knob *k = &table[j];
            char range[200], line[320];
            if (strcmp(k->section, table[i].section) != 0) {
                continue;
            }
            flag_form(k, form, sizeof form);
            help_entry(out, form, k->doc, indent);
            range_text(k, range, sizeof range, ", ");
            if (k->values) {
                snprintf(line, sizeof line, "(default %s; one of %s)", k->def,
                         range);
            } else if (range[0]) {
                snprintf(line, sizeof line, "(default %s; range %s)", k->def,
                         range);
            } else {
                snprintf(line, sizeof line, "(default %s)",
                         k->def[0] ? k->def : "\"\"");
            }
            fprintf(out, "%*s", (int)indent, "");
            col = indent;
            wrap(out, line, indent, &col);
            fputc('\n', out);
        }
    }
    return out_status(out, "help", err);
}

/* Writes s into a Markdown table cell, escaping '|'. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') {
            fputc('\\', out);
        }
        fputc(*s, out);
    }
}

int vx_config_markdown(const vx_config_knob *table, size_t n, FILE *out,
                       const char *title, vectron_error *err)
{
    fprintf(out, "# %s\n\n", title ? title : "Configuration");
    fputs(
        "Every knob can be set in three places besides its default. "
        "Later sources override earlier ones: **defaults < config file < "
        "environment < command-line flags**.\n\n"
        "- **Flags**: `--name value` or `--name=value`. Booleans: `--name` "
        "(true), `--name=true|false`, `--no-name` (false). `-h`/`--help` "
        "prints the knobs and exits; `--` ends the flags. A separate value "
        "may not start with `--`; write `--name=--value`.\n"
        "- **Environment**: `VECTRON_` followed by the name upper-cased with "
        "`-` turned into `_`: `--http-listen` is `VECTRON_HTTP_LISTEN`. "
        "Variables that match no knob are ignored.\n"
        "- **Config file**: named by `--config FILE` or `VECTRON_CONFIG`. One "
        "`name = value` per line; blank lines and `#` comments are ignored "
        "(a `#` after the value must follow a space). Values may be quoted: "
        "`\"...\"` with `\\\"` and `\\\\` escapes, or `'...'` taken "
        "literally. An unknown or repeated name is an error reported as "
        "`FILE:LINE`.\n\n"
        "Value syntax: sizes are bytes with an optional suffix `k`, `m`, "
        "`g`, `t` or `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024; `MB` is "
        "rejected as ambiguous). Durations combine `ms`, `s`, `m`, `h` "
        "(`250ms`, `2s`, `1m30s`); a bare number is milliseconds. Booleans "
        "are `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`. Values outside "
        "a knob's range are rejected, never clamped.\n\n"
        "The effective configuration can be printed as a config file, which "
        "shows what is in force and which values differ from the "
        "defaults.\n",
        out);
    for (size_t i = 0; i < n; i++) {
        if (!first_of_section(table, i)) {
            continue;
        }
        fprintf(out, "\n## %s\n\n", table[i].section);
        fputs("| knob | env | default | range/values | what it does | "
              "effect |\n|---|---|---|---|---|---|\n",
              out);
        for (size_t j = i; j < n; j++) {
            const vx_config_knob *k = &table[j];
            char env[VX_CFG_NAME_MAX + 16], range[200];
            if (strcmp(k->section, table[i].section) != 0) {
                continue;
            }
            vx_config_env_name(k->name, env, sizeof env);
            range_text(k, range, sizeof range, "`, `");
            fprintf(out, "| `%s` | `%s` | `", k->name, env);
            md_cell(out, k->def[0] ? k->def : "\"\"");
            fputs("` | ", out);
            if (k->values) {
                fputc('`', out);
                md_cell(out, range);
                fputc('`', out);
            } else if (k->type == VX_CFG_BOOL) {
                fputs("`true`, `false`", out);
            } else if (range[0]) {
                md_cell(out, range);
            } else {
                fputs("any", out);
            }
            fputs(" | ", out);
            md_cell(out, k->doc);
            fputs(" | ", out);
            md_cell(out, k->effect);
            fputs(" |\n", out);
        }
    }
    return out_status(out, "markdown", err);
}

/* Writes s as a double-quoted config value. */
static void write_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', out);
        }
        fputc(*s, out);
    }
    fputc('"', out);
}

int vx_config_dump(const vx_config_knob *table, size_t n, const void *values,
                   FILE *out, vectron_error *err)
{
    fputs("# Effective configuration. Load it with --config FILE; values "
          "that differ\n# from the defaults are marked.\n",
          out);
    for (size_t i = 0; i < n; i++) {
        if (!first_of_section(table, i)) {
            continue;
        }
        fprintf(out, "\n# %s\n", table[i].section);
        for (size_t j = i; j < n; j++) {
            const vx_config_knob *k = &table[j];
            vx_cfg_val cur, def;
            char a[128], b[128];
            bool same;
            if (strcmp(k->section, table[i].section) != 0) {
                continue;
            }
            vx_cfg_load_field(k, values, &cur);
            if (vx_cfg_parse_raw(k, k->def, &def, NULL)) {
                return vx_err(err, VECTRON_INTERNAL,
                              "dump: default of %s does not parse", k->name);
            }
            if (k->type == VX_CFG_STRING) {
                same = strcmp(cur.s ? cur.s : "", def.s) == 0;
                fprintf(out, "%s = ", k->name);
                write_quoted(out, cur.s ? cur.s : "");
            } else {
                vx_cfg_format_val(k, &cur, a, sizeof a);
                vx_cfg_format_val(k, &def, b, sizeof b);
                same = strcmp(a, b) == 0;
                fprintf(out, "%s = %s", k->name, a);
            }
            if (!same) {
                fputs("  # default ", out);
                if (k->type == VX_CFG_STRING) {
                    write_quoted(out, k->def);
                } else {
                    fputs(k->def, out);
                }
            }
            fputc('\n', out);
        }
    }
    return out_status(out, "configuration", err);
}
