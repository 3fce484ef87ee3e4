/*
 * config.c - the knob table: value parsers and formatters, table checks,
 * and loading from defaults, config file, environment and flags. See
 * config.h for the syntax of every source; the --help, Markdown and dump
 * writers are in config_doc.c.
 *
 * Threading: vx_config_load reads the environment and must run before
 * other threads start; everything else is reentrant.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "common/config_int.h"

/* Values quoted in messages are cut to this many bytes so that the knob
 * and source still fit in the message. */
#define QUOTE_MAX 80

/* ------------------------------------------------------------ parsers */

/* Parses one or more decimal digits at *p into *out and advances *p past
 * them. Returns 0, 1 if there is no digit, 2 on 64-bit overflow (*p still
 * advanced, so that callers can check the rest of the syntax). */
static int parse_digits(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    bool overflow = false;

    if (!isdigit((unsigned char)*s)) {
        return 1;
    }
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            overflow = true;
        } else {
            v = v * 10 + d;
        }
        s++;
    }
    *p = s;
    *out = v;
    return overflow ? 2 : 0;
}

/* Sets err's code to code (after vx_err_wrap kept the inner one). */
static int recode(vectron_error *err, int code)
{
    if (err) {
        err->code = code;
    }
    return code;
}

static int parse_int64(const char *text, int64_t *out, vectron_error *err)
{
    const char *p = text;
    bool neg = false;
    uint64_t mag;
    int rc;

    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    rc = parse_digits(&p, &mag);
    if (rc == 1 || *p != '\0') {
        return vx_err(err, VECTRON_INVALID, "'%.*s' is not an integer",
                      QUOTE_MAX, text);
    }
    if (rc == 2 || mag > (uint64_t)INT64_MAX + (neg ? 1u : 0u)) {
        return vx_err(err, VECTRON_INVALID,
                      "'%.*s' is out of range for a 64-bit integer", QUOTE_MAX,
                      text);
    }
    if (neg) {
        *out = mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag;
    } else {
        *out = (int64_t)mag;
    }
    return 0;
}

static int parse_uint64(const char *text, uint64_t *out, vectron_error *err)
{
    const char *p = text;
    int rc;

    if (*p == '+') {
        p++;
    }
    rc = parse_digits(&p, out);
    if (rc == 1 || *p != '\0') {
        return vx_err(err, VECTRON_INVALID,
                      "'%.*s' is not a non-negative integer", QUOTE_MAX, text);
    }
    if (rc == 2) {
        return vx_err(err, VECTRON_INVALID,
                      "'%.*s' is out of range for a 64-bit integer", QUOTE_MAX,
                      text);
    }
    return 0;
}

static int parse_double(const char *text, double *out, vectron_error *err)
{
    const char *p = text;
    bool digits = false;
    char *end;
    double d;

    /* Only plain decimal notation: strtod alone would also take "inf",
     * "nan", hex floats and leading spaces. */
    if (*p == '+' || *p == '-') {
        p++;
    }
    while (isdigit((unsigned char)*p)) {
        p++;
        digits = true;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits = true;
        }
    }
    if (digits && (*p == 'e' || *p == 'E')) {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        if (!isdigit((unsigned char)*p)) {
            digits = false;
        }
        while (isdigit((unsigned char)*p)) {
            p++;
        }
    }
    if (!digits || *p != '\0') {
        return vx_err(err, VECTRON_INVALID, "'%.*s' is not a number", QUOTE_MAX,
                      text);
    }
    errno = 0;
    d = strtod(text, &end);
    if (*end != '\0' || !isfinite(d)) {
        return vx_err(err, VECTRON_INVALID, "'%.*s' is out of range", QUOTE_MAX,
                      text);
    }
    *out = d;
    return 0;
}

int vx_config_parse_bool(const char *text, bool *out, vectron_error *err)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return vx_err(err, VECTRON_INVALID,
                  "'%.*s' is not a boolean (true or false)", QUOTE_MAX, text);
}

int vx_config_parse_size(const char *text, uint64_t *bytes, vectron_error *err)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"", 0},     {"b", 0},  {"k", 10},   {"kib", 10}, {"m", 20},
                 {"mib", 20}, {"g", 30}, {"gib", 30}, {"t", 40},   {"tib", 40}};
    static const char *const ambiguous[] = {"kb", "mb", "gb", "tb"};
    const char *p = text;
    uint64_t v;
    int rc;

    rc = parse_digits(&p, &v);
    if (rc == 1) {
        goto bad;
    }
    while (*p == ' ') {
        p++;
    }
    for (size_t i = 0; i < sizeof ambiguous / sizeof ambiguous[0]; i++) {
        if (strcasecmp(p, ambiguous[i]) == 0) {
            return vx_err(err, VECTRON_INVALID,
                          "'%.*s' is ambiguous: sizes are powers of 1024, "
                          "write %ciB (or %c)",
                          QUOTE_MAX, text, toupper((unsigned char)p[0]),
                          tolower((unsigned char)p[0]));
        }
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(p, units[i].suffix) == 0) {
            if (p > text && p[-1] == ' ' && units[i].suffix[0] == '\0') {
                goto bad; /* trailing spaces */
            }
            if (rc == 2 || v > (UINT64_MAX >> units[i].shift)) {
                return vx_err(err, VECTRON_INVALID,
                              "'%.*s' is out of range for a 64-bit size",
                              QUOTE_MAX, text);
            }
            *bytes = v << units[i].shift;
            return 0;
        }
    }
bad:
    return vx_err(err, VECTRON_INVALID, "'%.*s' is not a size (e.g. 64MiB)",
                  QUOTE_MAX, text);
}

int vx_config_parse_duration(const char *text, uint64_t *ms, vectron_error *err)
{
    const char *p = text;
    uint64_t total = 0;
    bool overflow = false;

    if (*p == '\0') {
        goto bad;
    }
    while (*p != '\0') {
        uint64_t v, scale;
        int rc = parse_digits(&p, &v);
        if (rc == 1) {
            goto bad;
        }
        overflow |= rc == 2;
        if (p[0] == 'm' && p[1] == 's') {
            scale = 1;
            p += 2;
        } else if (p[0] == 's') {
            scale = 1000;
            p++;
        } else if (p[0] == 'm') {
            scale = 60 * 1000;
            p++;
        } else if (p[0] == 'h') {
            scale = 60 * 60 * 1000;
            p++;
        } else if (p[0] == '\0' && strspn(text, "0123456789") == strlen(text)) {
            scale = 1; /* a bare number is milliseconds */
        } else {
            goto bad;
        }
        if (overflow || v > UINT64_MAX / scale ||
            total > UINT64_MAX - v * scale) {
            overflow = true;
            continue;
        }
        total += v * scale;
    }
    if (overflow) {
        return vx_err(err, VECTRON_INVALID,
                      "'%.*s' is out of range for a 64-bit duration", QUOTE_MAX,
                      text);
    }
    *ms = total;
    return 0;
bad:
    return vx_err(err, VECTRON_INVALID,
                  "'%.*s' is not a duration (e.g. 250ms, 2s, 1m)", QUOTE_MAX,
                  text);
}

static int parse_enum(const vx_config_knob *k, const char *text, int *out,
                      vectron_error *err)
{
    char list[160];
    size_t used = 0;

    for (int i = 0; k->values[i]; i++) {
        if (strcasecmp(text, k->values[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    list[0] = '\0';
    for (int i = 0; k->values[i] && used < sizeof list; i++) {
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                 i ? ", " : "", k->values[i]);
    }
    return vx_err(err, VECTRON_INVALID, "'%.*s' is not one of %s", QUOTE_MAX,
                  text, list);
}

/* Parses text by k's type into v without range checks. A string stays
 * borrowed from text. */
int vx_cfg_parse_raw(const vx_config_knob *k, const char *text, vx_cfg_val *v,
                     vectron_error *err)
{
    switch (k->type) {
    case VX_CFG_STRING:
        v->s = text;
        return 0;
    case VX_CFG_ENUM:
        return parse_enum(k, text, &v->e, err);
    case VX_CFG_BOOL:
        return vx_config_parse_bool(text, &v->b, err);
    case VX_CFG_INT64:
        return parse_int64(text, &v->i, err);
    case VX_CFG_UINT64:
        return parse_uint64(text, &v->u, err);
    case VX_CFG_DOUBLE:
        return parse_double(text, &v->d, err);
    case VX_CFG_SIZE:
        return vx_config_parse_size(text, &v->u, err);
    case VX_CFG_DURATION:
        return vx_config_parse_duration(text, &v->u, err);
    }
    return vx_err(err, VECTRON_INTERNAL, "unknown knob type %d", (int)k->type);
}

static bool has_range(vx_config_type t)
{
    return t == VX_CFG_INT64 || t == VX_CFG_UINT64 || t == VX_CFG_DOUBLE ||
           t == VX_CFG_SIZE || t == VX_CFG_DURATION;
}

/* -1, 0, 1 for two values of a ranged type. */
static int cmp_val(vx_config_type t, const vx_cfg_val *a, const vx_cfg_val *b)
{
    switch (t) {
    case VX_CFG_INT64:
        return (a->i > b->i) - (a->i < b->i);
    case VX_CFG_DOUBLE:
        return (a->d > b->d) - (a->d < b->d);
    default:
        return (a->u > b->u) - (a->u < b->u);
    }
}

/* Checks v (parsed from text) against k's bounds. */
static int check_range(const vx_config_knob *k, const vx_cfg_val *v,
                       const char *text, vectron_error *err)
{
    vx_cfg_val bound;

    if (!has_range(k->type)) {
        return 0;
    }
    if (k->min) {
        if (vx_cfg_parse_raw(k, k->min, &bound, err)) {
            return vx_err_wrap(err, VECTRON_INTERNAL, "minimum");
        }
        if (cmp_val(k->type, v, &bound) < 0) {
            return vx_err(err, VECTRON_INVALID, "%.*s is below the minimum %s",
                          QUOTE_MAX, text, k->min);
        }
    }
    if (k->max) {
        if (vx_cfg_parse_raw(k, k->max, &bound, err)) {
            return vx_err_wrap(err, VECTRON_INTERNAL, "maximum");
        }
        if (cmp_val(k->type, v, &bound) > 0) {
            return vx_err(err, VECTRON_INVALID, "%.*s is above the maximum %s",
                          QUOTE_MAX, text, k->max);
        }
    }
    return 0;
}

/* ------------------------------------------------------ field access */

static void *field(void *values, const vx_config_knob *k)
{
    return (char *)values + k->offset;
}

/* Size of k's field in the caller's struct. Every member of vx_cfg_val
 * starts at its first byte, so a field is copied to and from the member
 * of its type with one memcpy. */
_Static_assert(sizeof(double) == sizeof(uint64_t), "64-bit double");

static size_t field_size(vx_config_type t)
{
    switch (t) {
    case VX_CFG_STRING:
        return sizeof(char *);
    case VX_CFG_ENUM:
        return sizeof(int);
    case VX_CFG_BOOL:
        return sizeof(bool);
    default:
        return sizeof(uint64_t); /* int64_t, uint64_t and double alike */
    }
}

void vx_cfg_load_field(const vx_config_knob *k, const void *values,
                       vx_cfg_val *v)
{
    memcpy(v, (const char *)values + k->offset, field_size(k->type));
}

/* Stores v in k's field. A string is copied; the old one is freed. */
static int store_field(const vx_config_knob *k, void *values,
                       const vx_cfg_val *v, vectron_error *err)
{
    void *f = field(values, k);

    if (k->type == VX_CFG_STRING) {
        size_t len = strlen(v->s);
        char *copy = vx_malloc(len + 1), *old;
        if (!copy) {
            return vx_err(err, VECTRON_NOMEM, "out of memory");
        }
        memcpy(copy, v->s, len + 1);
        memcpy(&old, f, sizeof old);
        vx_free(old);
        memcpy(f, &copy, sizeof copy);
        return 0;
    }
    memcpy(f, v, field_size(k->type));
    return 0;
}

int vx_config_parse(const vx_config_knob *k, const char *text, void *values,
                    vectron_error *err)
{
    vx_cfg_val v;
    int rc;

    if ((rc = vx_cfg_parse_raw(k, text, &v, err)) ||
        (rc = check_range(k, &v, text, err))) {
        return rc;
    }
    return store_field(k, values, &v, err);
}

/* --------------------------------------------------------- formatting */

size_t vx_cfg_format_val(const vx_config_knob *k, const vx_cfg_val *v,
                         char *buf, size_t len)
{
    static const struct {
        const char *suffix;
        uint64_t scale;
    } sizes[] = {{"TiB", 1ull << 40},
                 {"GiB", 1ull << 30},
                 {"MiB", 1ull << 20},
                 {"KiB", 1ull << 10}},
      durations[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    int n = 0;

    switch (k->type) {
    case VX_CFG_STRING:
        n = snprintf(buf, len, "%s", v->s ? v->s : "");
        break;
    case VX_CFG_ENUM: {
        int count = 0;
        while (k->values[count]) {
            count++;
        }
        n = snprintf(buf, len, "%s",
                     v->e >= 0 && v->e < count ? k->values[v->e] : "?");
        break;
    }
    case VX_CFG_BOOL:
        n = snprintf(buf, len, "%s", v->b ? "true" : "false");
        break;
    case VX_CFG_INT64:
        n = snprintf(buf, len, "%" PRId64, v->i);
        break;
    case VX_CFG_UINT64:
        n = snprintf(buf, len, "%" PRIu64, v->u);
        break;
    case VX_CFG_DOUBLE: {
        /* The shortest %g that reads back as the same double. */
        char tmp[40];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v->d);
            if (strtod(tmp, NULL) == v->d) {
                break;
            }
        }
        n = snprintf(buf, len, "%s", tmp);
        break;
    }
    case VX_CFG_SIZE:
        n = snprintf(buf, len, "%" PRIu64, v->u);
        for (size_t i = 0; v->u && i < sizeof sizes / sizeof sizes[0]; i++) {
            if (v->u % sizes[i].scale == 0) {
                n = snprintf(buf, len, "%" PRIu64 "%s", v->u / sizes[i].scale,
                             sizes[i].suffix);
                break;
            }
        }
        break;
    case VX_CFG_DURATION:
        n = snprintf(buf, len, "%" PRIu64, v->u);
        for (size_t i = 0; v->u && i < sizeof durations / sizeof durations[0];
             i++) {
            if (v->u % durations[i].scale == 0) {
                n = snprintf(buf, len, "%" PRIu64 "%s",
                             v->u / durations[i].scale, durations[i].suffix);
                break;
            }
        }
        break;
    }
    return n < 0 ? 0 : (size_t)n;
}

size_t vx_config_format(const vx_config_knob *k, const void *values, char *buf,
                        size_t len)
{
    vx_cfg_val v;
    vx_cfg_load_field(k, values, &v);
    return vx_cfg_format_val(k, &v, buf, len);
}

void vx_config_env_name(const char *name, char *buf, size_t len)
{
    size_t i = 0;
    const char *prefix = "VECTRON_";

    if (len == 0) {
        return;
    }
    for (const char *p = prefix; *p && i + 1 < len; p++) {
        buf[i++] = *p;
    }
    for (const char *p = name; *p && i + 1 < len; p++) {
        buf[i++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    }
    buf[i] = '\0';
}

/* -------------------------------------------------------- table check */

static bool valid_name(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > VX_CFG_NAME_MAX || s[0] < 'a' || s[0] > 'z' ||
        s[len - 1] == '-' || strstr(s, "--") || strncmp(s, "no-", 3) == 0 ||
        strcmp(s, "help") == 0 || strcmp(s, "config") == 0) {
        return false;
    }
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == len;
}

static bool one_line(const char *s)
{
    return s && s[0] && !strchr(s, '\n');
}

static int check_knob(const vx_config_knob *k, vectron_error *err)
{
    vx_cfg_val def, lo, hi;

    if (!valid_name(k->name)) {
        return vx_err(err, VECTRON_INVALID, "invalid name");
    }
    if ((int)k->type < (int)VX_CFG_STRING ||
        (int)k->type > (int)VX_CFG_DURATION) {
        return vx_err(err, VECTRON_INVALID, "unknown type %d", (int)k->type);
    }
    if (!one_line(k->section) || !one_line(k->doc) || !one_line(k->effect)) {
        return vx_err(err, VECTRON_INVALID,
                      "section, doc and effect must be one non-empty line");
    }
    if ((k->type == VX_CFG_ENUM) != (k->values != NULL)) {
        return vx_err(err, VECTRON_INVALID,
                      "values are required for enums and only for them");
    }
    if (k->values) {
        if (!k->values[0]) {
            return vx_err(err, VECTRON_INVALID, "no values");
        }
        for (int i = 0; k->values[i]; i++) {
            const char *s = k->values[i];
            if (!s[0] || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_") !=
                             strlen(s)) {
                return vx_err(err, VECTRON_INVALID,
                              "value '%s' is not a lower-case word", s);
            }
            for (int j = 0; j < i; j++) {
                if (strcmp(s, k->values[j]) == 0) {
                    return vx_err(err, VECTRON_INVALID,
                                  "value '%s' is listed twice", s);
                }
            }
        }
    }
    if (!has_range(k->type) && (k->min || k->max)) {
        return vx_err(err, VECTRON_INVALID, "this type takes no range");
    }
    if (!k->def) {
        return vx_err(err, VECTRON_INVALID, "no default");
    }
    if (vx_cfg_parse_raw(k, k->def, &def, err)) {
        return vx_err_wrap(err, VECTRON_INVALID, "default");
    }
    if (k->min && vx_cfg_parse_raw(k, k->min, &lo, err)) {
        return vx_err_wrap(err, VECTRON_INVALID, "minimum");
    }
    if (k->max && vx_cfg_parse_raw(k, k->max, &hi, err)) {
        return vx_err_wrap(err, VECTRON_INVALID, "maximum");
    }
    if (k->min && k->max && cmp_val(k->type, &lo, &hi) > 0) {
        return vx_err(err, VECTRON_INVALID, "minimum %s above maximum %s",
                      k->min, k->max);
    }
    if (check_range(k, &def, k->def, err)) {
        return vx_err_wrap(err, VECTRON_INVALID, "default");
    }
    return 0;
}

int vx_config_check(const vx_config_knob *table, size_t n, vectron_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const vx_config_knob *k = &table[i];
        if (!k->name) {
            return vx_err(err, VECTRON_INVALID,
                          "config table: knob %zu: no name", i);
        }
        if (check_knob(k, err)) {
            return vx_err_wrap(err, VECTRON_INVALID,
                               "config table: knob '%.*s'", VX_CFG_NAME_MAX + 8,
                               k->name);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(k->name, table[j].name) == 0) {
                return vx_err(err, VECTRON_INVALID,
                              "config table: knob '%s' is defined twice",
                              k->name);
            }
        }
    }
    return 0;
}

static const vx_config_knob *find_n(const vx_config_knob *table, size_t n,
                                    const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(table[i].name) == len &&
            memcmp(table[i].name, name, len) == 0) {
            return &table[i];
        }
    }
    return NULL;
}

const vx_config_knob *vx_config_find(const vx_config_knob *table, size_t n,
                                     const char *name)
{
    return find_n(table, n, name, strlen(name));
}

/* ------------------------------------------------------------ init */

void vx_config_close(const vx_config_knob *table, size_t n, void *values)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].type == VX_CFG_STRING) {
            char *s = NULL;
            void *f = field(values, &table[i]);
            memcpy(&s, f, sizeof s);
            vx_free(s);
            s = NULL;
            memcpy(f, &s, sizeof s);
        }
    }
}

/* Sets every string field to NULL without freeing what was there. */
static void null_strings(const vx_config_knob *table, size_t n, void *values)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].type == VX_CFG_STRING) {
            char *s = NULL;
            memcpy(field(values, &table[i]), &s, sizeof s);
        }
    }
}

int vx_config_init(const vx_config_knob *table, size_t n, void *values,
                   vectron_error *err)
{
    null_strings(table, n, values);
    for (size_t i = 0; i < n; i++) {
        int rc = vx_config_parse(&table[i], table[i].def, values, err);
        if (rc) {
            vx_config_close(table, n, values);
            vx_err_wrap(err, rc, "default of %s", table[i].name);
            return recode(err, rc == VECTRON_NOMEM ? rc : VECTRON_INTERNAL);
        }
    }
    return 0;
}

/* ------------------------------------------------------ suggestions */

/* Edit distance between a and b, ignoring case and treating '_' as '-'
 * (so "http_threads" is a distance 0 from "http-threads"). Names longer
 * than 64 bytes are not compared (SIZE_MAX). */
static size_t edit_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b), row[65];

    if (la > 64 || lb > 64) {
        return SIZE_MAX;
    }
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        int ca = tolower((unsigned char)a[i - 1]);
        row[0] = i;
        ca = ca == '_' ? '-' : ca;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (ca != b[j - 1]);
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            if (up + 1 < best) {
                best = up + 1;
            }
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The knob (or built-in flag) name closest to name, or NULL if none is
 * close enough to be a likely typo. */
static const char *suggest(const vx_config_knob *table, size_t n,
                           const char *name, size_t len, bool builtins)
{
    static const char *const extra[] = {"config", "help"};
    const char *best = NULL;
    size_t best_d = len / 3 > 2 ? len / 3 : 2;

    best_d++; /* accept distances <= max(2, len / 3) */
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(name, len, table[i].name);
        if (d < best_d) {
            best_d = d;
            best = table[i].name;
        }
    }
    for (size_t i = 0; builtins && i < sizeof extra / sizeof extra[0]; i++) {
        size_t d = edit_distance(name, len, extra[i]);
        if (d < best_d) {
            best_d = d;
            best = extra[i];
        }
    }
    return best;
}

/* ------------------------------------------------------ config file */

static int read_file(const char *path, char **out, size_t *out_len,
                     vectron_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;

    if (!f) {
        return vx_err(err, VECTRON_IO, "cannot open %s: %s", path,
                      strerror(errno));
    }
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            char *nbuf;
            if (cap > VX_CFG_FILE_MAX) {
                break; /* too large, reported below */
            }
            nbuf = vx_realloc(buf, ncap + 1);
            if (!nbuf) {
                rc = vx_err(err, VECTRON_NOMEM, "%s: out of memory", path);
                goto out;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        rc = vx_err(err, VECTRON_IO, "cannot read %s: %s", path,
                    strerror(errno));
        goto out;
    }
    if (len > VX_CFG_FILE_MAX) {
        rc = vx_err(err, VECTRON_INVALID,
                    "%s: larger than %u bytes; not a config file?", path,
                    VX_CFG_FILE_MAX);
        goto out;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    buf = NULL;
out:
    vx_free(buf);
    fclose(f);
    return rc;
}

static char *skip_space(char *p)
{
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    return p;
}

/* Splits one line (NUL-terminated, no newline) into *key and *val, in
 * place. Returns 0 for a blank or comment line, 1 for a pair, -1 with
 * *why set for a syntax error. */
static int split_line(char *line, char **key, char **val, const char **why)
{
    char *p = skip_space(line), *end;

    if (*p == '\0' || *p == '#') {
        return 0;
    }
    *key = p;
    while (*p && *p != '=' && *p != ' ' && *p != '\t') {
        p++;
    }
    end = p;
    p = skip_space(p);
    if (*p != '=' || end == *key) {
        *why = "expected 'name = value'";
        return -1;
    }
    *end = '\0';
    p = skip_space(p + 1);
    if (*p == '"' || *p == '\'') {
        char quote = *p++, *w = p;
        *val = w;
        while (*p && *p != quote) {
            if (quote == '"' && p[0] == '\\' && (p[1] == '"' || p[1] == '\\')) {
                p++;
            }
            *w++ = *p++;
        }
        if (*p != quote) {
            *why = "unterminated quoted value";
            return -1;
        }
        p = skip_space(p + 1);
        *w = '\0';
        if (*p != '\0' && *p != '#') {
            *why = "unexpected text after the closing quote";
            return -1;
        }
        return 1;
    }
    *val = p;
    while (*p && !(*p == '#' && (p[-1] == ' ' || p[-1] == '\t'))) {
        p++;
    }
    while (p > *val && (p[-1] == ' ' || p[-1] == '\t')) {
        p--;
    }
    *p = '\0';
    if (p == *val) {
        *why = "missing value (write \"\" for an empty string)";
        return -1;
    }
    return 1;
}

static int apply_file(const vx_config_knob *table, size_t n, const char *path,
                      void *values, vectron_error *err)
{
    char *buf = NULL, *line;
    size_t len = 0, *set_line = NULL, lineno = 0;
    int rc;

    if ((rc = read_file(path, &buf, &len, err))) {
        return rc;
    }
    set_line = vx_calloc(n ? n : 1, sizeof *set_line);
    if (!set_line) {
        rc = vx_err(err, VECTRON_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if (memchr(buf, '\0', len)) {
        size_t at = (size_t)((char *)memchr(buf, '\0', len) - buf), ln = 1;
        for (size_t i = 0; i < at; i++) {
            ln += buf[i] == '\n';
        }
        rc = vx_err(err, VECTRON_INVALID, "%s:%zu: NUL byte; not a text file?",
                    path, ln);
        goto out;
    }
    for (line = buf; line && *line;) {
        char *nl = strchr(line, '\n'), *key, *val;
        const char *why = NULL;
        const vx_config_knob *k;
        int kind;

        lineno++;
        if (nl) {
            *nl = '\0';
            if (nl > line && nl[-1] == '\r') {
                nl[-1] = '\0';
            }
        }
        kind = split_line(line, &key, &val, &why);
        line = nl ? nl + 1 : NULL;
        if (kind == 0) {
            continue;
        }
        if (kind < 0) {
            rc = vx_err(err, VECTRON_INVALID, "%s:%zu: %s", path, lineno, why);
            goto out;
        }
        k = vx_config_find(table, n, key);
        if (!k) {
            const char *s = suggest(table, n, key, strlen(key), false);
            if (s) {
                rc = vx_err(err, VECTRON_INVALID,
                            "%s:%zu: %.*s: unknown knob; did you mean '%s'?",
                            path, lineno, VX_CFG_NAME_MAX + 8, key, s);
            } else {
                rc = vx_err(err, VECTRON_INVALID, "%s:%zu: %.*s: unknown knob",
                            path, lineno, VX_CFG_NAME_MAX + 8, key);
            }
            goto out;
        }
        if (set_line[k - table]) {
            rc = vx_err(err, VECTRON_INVALID,
                        "%s:%zu: %s: already set on line %zu", path, lineno,
                        k->name, set_line[k - table]);
            goto out;
        }
        set_line[k - table] = lineno;
        if ((rc = vx_config_parse(k, val, values, err))) {
            vx_err_wrap(err, rc, "%s:%zu: %s", path, lineno, k->name);
            goto out;
        }
    }
out:
    vx_free(set_line);
    vx_free(buf);
    return rc;
}

/* -------------------------------------------------------------- flags */

/* One knob set on the command line, applied after the file and the
 * environment. */
typedef struct flag_item {
    const vx_config_knob *k;
    const char *flag; /* as typed, without "--" and "=value" */
    int flag_len;
    const char *text;
} flag_item;

typedef struct arg_scan {
    const vx_config_knob *table;
    size_t n;
    flag_item *items;
    size_t n_items;
    unsigned char *positional; /* per argv index */
    const char *config_file;
    bool help;
    int rc;
    vectron_error *err;
} arg_scan;

/* Records the first error of the scan; later ones are dropped so that the
 * message is about the first problem. */
static void scan_error(arg_scan *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void scan_error(arg_scan *a, const char *fmt, ...)
{
    char msg[VECTRON_ERROR_MSG_SIZE];
    va_list ap;

    if (a->rc) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    a->rc = vx_err(a->err, VECTRON_INVALID, "%s", msg);
}

/* Takes the value of flag argv[*i] (name of length len): inline after '='
 * or the next argument. NULL (error recorded) if there is none. */
static const char *flag_value(arg_scan *a, int argc, char **argv, int *i,
                              const char *name, int len, const char *inl)
{
    if (inl) {
        return inl;
    }
    if (*i + 1 >= argc) {
        scan_error(a, "--%.*s: missing value", len, name);
        return NULL;
    }
    if (strncmp(argv[*i + 1], "--", 2) == 0) {
        scan_error(a,
                   "--%.*s: missing value (the next argument %.*s is a flag; "
                   "write --%.*s=VALUE for a value that starts with '--')",
                   len, name, VX_CFG_NAME_MAX + 8, argv[*i + 1], len, name);
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

static void unknown_flag(arg_scan *a, const char *dashes, const char *name,
                         int len)
{
    const char *s = suggest(a->table, a->n, name, (size_t)len, true);

    if (s) {
        scan_error(a, "%s%.*s: unknown flag; did you mean --%s?", dashes, len,
                   name, s);
    } else {
        scan_error(a, "%s%.*s: unknown flag (see --help)", dashes, len, name);
    }
}

static void scan_long(arg_scan *a, int argc, char **argv, int *i)
{
    const char *body = argv[*i] + 2, *eq = strchr(body, '=');
    const char *inl = eq ? eq + 1 : NULL, *text;
    int len = eq ? (int)(eq - body) : (int)strlen(body);
    const vx_config_knob *k;

    if (len > VX_CFG_NAME_MAX + 3) {
        len = VX_CFG_NAME_MAX + 3; /* too long for any knob; for messages */
    }
    if (len == 4 && memcmp(body, "help", 4) == 0) {
        if (inl) {
            scan_error(a, "--help takes no value");
        } else {
            a->help = true;
        }
        return;
    }
    if (len == 6 && memcmp(body, "config", 6) == 0) {
        text = flag_value(a, argc, argv, i, body, len, inl);
        if (text) {
            a->config_file = text;
        }
        return;
    }
    k = find_n(a->table, a->n, body, (size_t)len);
    if (k) {
        if (k->type == VX_CFG_BOOL) {
            text = inl ? inl : "true";
        } else {
            text = flag_value(a, argc, argv, i, body, len, inl);
        }
    } else if (len > 3 && memcmp(body, "no-", 3) == 0 &&
               (k = find_n(a->table, a->n, body + 3, (size_t)len - 3))) {
        if (k->type != VX_CFG_BOOL) {
            scan_error(a,
                       "--%.*s: %s is not a boolean; --no- applies to "
                       "booleans only",
                       len, body, k->name);
            return;
        }
        if (inl) {
            scan_error(a, "--%.*s takes no value; write --%s=VALUE", len, body,
                       k->name);
            return;
        }
        text = "false";
    } else {
        unknown_flag(a, "--", body, len);
        return;
    }
    if (text) {
        a->items[a->n_items++] = (flag_item){k, body, len, text};
    }
}

static void scan_args(arg_scan *a, int argc, char **argv)
{
    bool flags_done = false;

    for (int i = 1; i < argc; i++) {
        const char *t = argv[i];
        if (flags_done) {
            a->positional[i] = 1;
        } else if (strcmp(t, "--") == 0) {
            flags_done = true;
        } else if (strcmp(t, "-h") == 0) {
            a->help = true;
        } else if (t[0] == '-' && t[1] == '-') {
            scan_long(a, argc, argv, &i);
        } else if (t[0] == '-' && t[1] != '\0') {
            const char *body = t + 1, *eq = strchr(body, '=');
            int len = eq ? (int)(eq - body) : (int)strlen(body);
            if (len > VX_CFG_NAME_MAX + 3) {
                len = VX_CFG_NAME_MAX + 3;
            }
            if (find_n(a->table, a->n, body, (size_t)len) ||
                (len == 6 && memcmp(body, "config", 6) == 0) ||
                (len == 4 && memcmp(body, "help", 4) == 0)) {
                scan_error(a, "-%.*s: unknown flag; did you mean --%.*s?", len,
                           body, len, body);
            } else {
                unknown_flag(a, "-", body, len);
            }
        } else {
            a->positional[i] = 1;
        }
    }
}

/* Moves the positional arguments, in order, to the end of argv and returns
 * the index of the first. tmp has room for argc pointers. */
static int move_positionals(int argc, char **argv, const unsigned char *pos,
                            char **tmp)
{
    int w = 0, first;

    for (int i = 1; i < argc; i++) {
        if (!pos[i]) {
            tmp[w++] = argv[i];
        }
    }
    first = w + 1;
    for (int i = 1; i < argc; i++) {
        if (pos[i]) {
            tmp[w++] = argv[i];
        }
    }
    if (argc > 1) {
        memcpy(argv + 1, tmp, (size_t)w * sizeof *argv);
    }
    return first;
}

/* ------------------------------------------------------------- load */

static int apply_env(const vx_config_knob *table, size_t n, void *values,
                     vectron_error *err)
{
    for (size_t i = 0; i < n; i++) {
        char name[VX_CFG_NAME_MAX + 16];
        const char *text;
        int rc;

        vx_config_env_name(table[i].name, name, sizeof name);
        text = getenv(name);
        if (text && (rc = vx_config_parse(&table[i], text, values, err))) {
            return vx_err_wrap(err, rc, "%s", name);
        }
    }
    return 0;
}

int vx_config_load(const vx_config_knob *table, size_t n, int argc, char **argv,
                   void *values, vx_config_status *st, vectron_error *err)
{
    arg_scan a;
    char **tmp = NULL;
    bool loaded = false;
    int rc;

    memset(st, 0, sizeof *st);
    st->first_positional = argc > 0 ? argc : 0;
    if ((rc = vx_config_check(table, n, err))) {
        vx_err_wrap(err, rc, "load");
        return recode(err, VECTRON_INTERNAL);
    }
    null_strings(table, n, values);
    memset(&a, 0, sizeof a);
    a.table = table;
    a.n = n;
    a.err = err;
    if (argc > 1) {
        a.items = vx_calloc((size_t)argc, sizeof *a.items);
        a.positional = vx_calloc((size_t)argc, 1);
        tmp = vx_calloc((size_t)argc, sizeof *tmp);
        if (!a.items || !a.positional || !tmp) {
            rc = vx_err(err, VECTRON_NOMEM, "out of memory");
            goto out;
        }
        scan_args(&a, argc, argv);
    }
    if ((rc = vx_config_init(table, n, values, err))) {
        goto out;
    }
    loaded = true;
    if (a.help) {
        st->help = true;
        rc = 0;
        vectron_error_clear(err);
        goto positionals;
    }
    if ((rc = a.rc)) {
        goto out;
    }
    if (a.config_file) {
        st->config_file = a.config_file;
        if ((rc = apply_file(table, n, a.config_file, values, err))) {
            vx_err_wrap(err, rc, "--config");
            goto out;
        }
    } else {
        const char *env = getenv("VECTRON_CONFIG");
        if (env && env[0]) {
            st->config_file = env;
            if ((rc = apply_file(table, n, env, values, err))) {
                vx_err_wrap(err, rc, "VECTRON_CONFIG");
                goto out;
            }
        }
    }
    if ((rc = apply_env(table, n, values, err))) {
        goto out;
    }
    for (size_t i = 0; i < a.n_items; i++) {
        const flag_item *it = &a.items[i];
        if ((rc = vx_config_parse(it->k, it->text, values, err))) {
            vx_err_wrap(err, rc, "--%.*s", it->flag_len, it->flag);
            goto out;
        }
    }
positionals:
    if (argc > 1) {
        st->first_positional = move_positionals(argc, argv, a.positional, tmp);
    }
out:
    if (rc && loaded) {
        vx_config_close(table, n, values);
    }
    if (rc) {
        st->config_file = NULL;
    }
    vx_free(tmp);
    vx_free(a.positional);
    vx_free(a.items);
    return rc;
}
