/*
 * config_int.h - private header of the config table: what config.c
 * (parsers, formatters, table checks, loading) shares with config_doc.c
 * (--help, Markdown and dump writers).
 *
 * Threading: as config.h; everything here is reentrant.
 */
#ifndef VECTRON_CONFIG_INT_H
#define VECTRON_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

/* A parsed value of any type. Strings are borrowed from the text parsed
 * until stored. */
typedef union vx_cfg_val {
    const char *s;
    int e;
    bool b;
    int64_t i;
    uint64_t u;
    double d;
} vx_cfg_val;

/* Parses text by k's type into v without range checks. A string stays
 * borrowed from text. Errors: INVALID (message quotes text), INTERNAL for
 * an unknown type. */
int vx_cfg_parse_raw(const vx_config_knob *k, const char *text, vx_cfg_val *v,
                     vectron_error *err);

/* Reads k's field of values (a caller's struct) into v; a string is
 * borrowed from the struct. */
void vx_cfg_load_field(const vx_config_knob *k, const void *values,
                       vx_cfg_val *v);

/* Formats v, a value of k's type, as text that parses back to it; returns
 * the length the full text needs, like snprintf. */
size_t vx_cfg_format_val(const vx_config_knob *k, const vx_cfg_val *v,
                         char *buf, size_t len);

#endif
