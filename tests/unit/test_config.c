/*
 * test_config.c - unit tests of the config table (common/config.c) and of
 * the knob table of `vectron serve` (cmd/serve_config.c): value parsers
 * with their bounds, suffixes and overflow, flag forms, precedence of
 * file < environment < flags, config-file errors with line numbers, help,
 * Markdown and dump output, and allocation failures.
 *
 * Criterion runs each test in its own process, so setenv in one test does
 * not leak into another; every test still starts by clearing the
 * variables it could be influenced by.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/serve_config.h"
#include "common/common.h"
#include "common/config.h"

/* ------------------------------------------------------- a test table */

typedef struct tcfg {
    char *name;
    bool verbose;
    int64_t delta;
    uint64_t count;
    double ratio;
    uint64_t buffer_size;
    uint64_t wait_ms;
    int mode;
    uint64_t big;
    int64_t any_int;
    double any_double;
} tcfg;

static const char *const modes[] = {"fast", "safe", NULL};

#define T(field) offsetof(tcfg, field)
static const vx_config_knob tknobs[] = {
    {.name = "name",
     .type = VX_CFG_STRING,
     .def = "anon",
     .offset = T(name),
     .section = "general",
     .doc = "A name.",
     .effect = "None."},
    {.name = "verbose",
     .type = VX_CFG_BOOL,
     .def = "false",
     .offset = T(verbose),
     .section = "general",
     .doc = "Chatty.",
     .effect = "More output."},
    {.name = "delta",
     .type = VX_CFG_INT64,
     .def = "0",
     .min = "-10",
     .max = "10",
     .offset = T(delta),
     .section = "numbers",
     .doc = "A delta.",
     .effect = "None."},
    {.name = "count",
     .type = VX_CFG_UINT64,
     .def = "4",
     .min = "1",
     .max = "100",
     .offset = T(count),
     .section = "numbers",
     .doc = "A count.",
     .effect = "None."},
    {.name = "ratio",
     .type = VX_CFG_DOUBLE,
     .def = "0.5",
     .min = "0",
     .max = "1",
     .offset = T(ratio),
     .section = "numbers",
     .doc = "A ratio.",
     .effect = "None."},
    {.name = "buffer-size",
     .type = VX_CFG_SIZE,
     .def = "1MiB",
     .min = "1KiB",
     .max = "1GiB",
     .offset = T(buffer_size),
     .section = "general",
     .doc = "A size | with a pipe.",
     .effect = "None."},
    {.name = "wait",
     .type = VX_CFG_DURATION,
     .def = "2s",
     .min = "10ms",
     .max = "1h",
     .offset = T(wait_ms),
     .section = "general",
     .doc = "A wait.",
     .effect = "None."},
    {.name = "mode",
     .type = VX_CFG_ENUM,
     .def = "safe",
     .values = modes,
     .offset = T(mode),
     .section = "general",
     .doc = "A mode.",
     .effect = "None."},
    {.name = "big",
     .type = VX_CFG_UINT64,
     .def = "0",
     .offset = T(big),
     .section = "numbers",
     .doc = "Unbounded.",
     .effect = "None."},
    {.name = "any-int",
     .type = VX_CFG_INT64,
     .def = "0",
     .offset = T(any_int),
     .section = "numbers",
     .doc = "Unbounded.",
     .effect = "None."},
    {.name = "any-double",
     .type = VX_CFG_DOUBLE,
     .def = "0",
     .offset = T(any_double),
     .section = "numbers",
     .doc = "Unbounded.",
     .effect = "None."},
};
#define NT (sizeof tknobs / sizeof tknobs[0])

static void clear_env(void)
{
    size_t n;
    const vx_config_knob *serve = vx_serve_config_table(&n);
    char name[VX_CFG_NAME_MAX + 16];

    unsetenv("VECTRON_CONFIG");
    for (size_t i = 0; i < n; i++) {
        vx_config_env_name(serve[i].name, name, sizeof name);
        unsetenv(name);
    }
    for (size_t i = 0; i < NT; i++) {
        vx_config_env_name(tknobs[i].name, name, sizeof name);
        unsetenv(name);
    }
}

TestSuite(parse, .init = clear_env);
TestSuite(load, .init = clear_env);
TestSuite(file, .init = clear_env);
TestSuite(table, .init = clear_env);
TestSuite(serve, .init = clear_env);
TestSuite(output, .init = clear_env);

/* Runs vx_config_load on the test table with argv = {"prog", args...}
 * (args NULL-terminated). argv is copied into buf (at least 32 slots)
 * because loading reorders it. */
static int tload(tcfg *c, vx_config_status *st, vectron_error *err, char **buf,
                 const char *const *args)
{
    int argc = 0;

    buf[argc++] = "prog";
    for (; *args; args++) {
        cr_assert_lt(argc, 31);
        buf[argc++] = (char *)*args;
    }
    buf[argc] = NULL;
    vectron_error_clear(err);
    return vx_config_load(tknobs, NT, argc, buf, c, st, err);
}

#define TLOAD(c, st, err, ...)                                                 \
    tload(c, st, err, argv_buf, (const char *const[]){__VA_ARGS__, NULL})

/* Loads the test table expecting failure and checks the message. */
#define EXPECT_FAIL(want_, ...)                                                \
    do {                                                                       \
        tcfg c_;                                                               \
        vx_config_status st_;                                                  \
        vectron_error err_;                                                    \
        char *argv_buf[32];                                                    \
        cr_assert_eq(TLOAD(&c_, &st_, &err_, __VA_ARGS__), VECTRON_INVALID);   \
        cr_assert_str_eq(err_.msg, want_);                                     \
        cr_assert_eq(err_.code, VECTRON_INVALID);                              \
    } while (0)

static const vx_config_knob *tknob(const char *name)
{
    const vx_config_knob *k = vx_config_find(tknobs, NT, name);
    cr_assert_not_null(k, "%s", name);
    return k;
}

/* Parses text as knob name of the test table into c; returns the code and
 * leaves the message in err. */
static int tparse(tcfg *c, const char *name, const char *text,
                  vectron_error *err)
{
    vectron_error_clear(err);
    return vx_config_parse(tknob(name), text, c, err);
}

/* Writes text to a new temporary file; returns its path (static). */
static const char *write_tmp(const char *text)
{
    static char path[64];
    int fd;

    snprintf(path, sizeof path, "/tmp/vx_test_config_XXXXXX");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* ------------------------------------------------------------ parsers */

Test(parse, int64_bounds_and_overflow)
{
    tcfg c = {0};
    vectron_error err;

    cr_assert_eq(tparse(&c, "any-int", "9223372036854775807", &err), 0);
    cr_assert_eq(c.any_int, INT64_MAX);
    cr_assert_eq(tparse(&c, "any-int", "-9223372036854775808", &err), 0);
    cr_assert_eq(c.any_int, INT64_MIN);
    cr_assert_eq(tparse(&c, "any-int", "+7", &err), 0);
    cr_assert_eq(c.any_int, 7);
    cr_assert_eq(tparse(&c, "any-int", "9223372036854775808", &err),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "'9223372036854775808' is out of range for a "
                              "64-bit integer");
    cr_assert_eq(tparse(&c, "any-int", "-9223372036854775809", &err),
                 VECTRON_INVALID);
    cr_assert_eq(tparse(&c, "any-int", "99999999999999999999", &err),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "'99999999999999999999' is out of range for a "
                              "64-bit integer");
    const char *bad[] = {"",     "-",   "1.5", " 1", "1 ",
                         "0x10", "abc", "1e3", "--1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tparse(&c, "any-int", bad[i], &err), VECTRON_INVALID,
                     "'%s'", bad[i]);
        cr_assert(strstr(err.msg, "is not an integer"), "%s", err.msg);
    }
    /* Bounds: -10..10. */
    cr_assert_eq(tparse(&c, "delta", "-10", &err), 0);
    cr_assert_eq(c.delta, -10);
    cr_assert_eq(tparse(&c, "delta", "10", &err), 0);
    cr_assert_eq(tparse(&c, "delta", "-11", &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "-11 is below the minimum -10");
    cr_assert_eq(tparse(&c, "delta", "11", &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "11 is above the maximum 10");
    cr_assert_eq(c.delta, 10, "a rejected value leaves the field alone");
}

Test(parse, uint64_bounds_and_overflow)
{
    tcfg c = {0};
    vectron_error err;

    cr_assert_eq(tparse(&c, "big", "18446744073709551615", &err), 0);
    cr_assert_eq(c.big, UINT64_MAX);
    cr_assert_eq(tparse(&c, "big", "18446744073709551616", &err),
                 VECTRON_INVALID);
    cr_assert_eq(tparse(&c, "big", "99999999999999999999", &err),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "'99999999999999999999' is out of range for a "
                              "64-bit integer");
    cr_assert_eq(tparse(&c, "big", "-1", &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "'-1' is not a non-negative integer");
    cr_assert_eq(tparse(&c, "big", "", &err), VECTRON_INVALID);
    cr_assert_eq(tparse(&c, "big", "12abc", &err), VECTRON_INVALID);
    cr_assert_eq(tparse(&c, "count", "1", &err), 0);
    cr_assert_eq(tparse(&c, "count", "100", &err), 0);
    cr_assert_eq(c.count, 100);
    cr_assert_eq(tparse(&c, "count", "0", &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "0 is below the minimum 1");
    cr_assert_eq(tparse(&c, "count", "101", &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "101 is above the maximum 100");
}

Test(parse, double_syntax_and_bounds)
{
    tcfg c = {0};
    vectron_error err;
    const struct {
        const char *text;
        double want;
    } ok[] = {{"0.01", 0.01}, {"2", 2.0},     {"2.0", 2.0}, {"1e-3", 1e-3},
              {".5", 0.5},    {"-1.5", -1.5}, {"1.", 1.0},  {"3E2", 300.0}};
    const char *bad[] = {"",   "inf", "nan", "0x1p3", "1e",   "e5", "abc",
                         " 1", "1 ",  ".",   "1e999", "-inf", "1,5"};

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cr_assert_eq(tparse(&c, "any-double", ok[i].text, &err), 0, "%s: %s",
                     ok[i].text, err.msg);
        cr_assert_float_eq(c.any_double, ok[i].want, 1e-12, "%s", ok[i].text);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tparse(&c, "any-double", bad[i], &err), VECTRON_INVALID,
                     "'%s'", bad[i]);
    }
    cr_assert_eq(tparse(&c, "any-double", "abc", &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "'abc' is not a number");
    cr_assert_eq(tparse(&c, "ratio", "1", &err), 0);
    cr_assert_eq(tparse(&c, "ratio", "0", &err), 0);
    cr_assert_eq(tparse(&c, "ratio", "1.0001", &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "1.0001 is above the maximum 1");
    cr_assert_eq(tparse(&c, "ratio", "-0.1", &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "-0.1 is below the minimum 0");
}

Test(parse, size_suffixes_bounds_and_overflow)
{
    const struct {
        const char *text;
        uint64_t want;
    } ok[] = {{"0", 0},
              {"1", 1},
              {"1b", 1},
              {"1B", 1},
              {"1k", 1024},
              {"1K", 1024},
              {"1KiB", 1024},
              {"1kib", 1024},
              {"64MiB", 64ull << 20},
              {"64m", 64ull << 20},
              {"64 MiB", 64ull << 20},
              {"2g", 2ull << 30},
              {"2GiB", 2ull << 30},
              {"3t", 3ull << 40},
              {"3TiB", 3ull << 40},
              {"16777215t", 16777215ull << 40},
              {"18446744073709551615", UINT64_MAX}};
    const char *bad[] = {"",    "k",     "-1k", "1.5g",    "1 ",   "1x",
                         "1kk", "1 k b", "1Ki", "1 KiB x", "0x10", "+1k"};
    vectron_error err;
    uint64_t v;
    tcfg c = {0};

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        v = 12345;
        cr_assert_eq(vx_config_parse_size(ok[i].text, &v, &err), 0, "%s",
                     ok[i].text);
        cr_assert_eq(v, ok[i].want, "%s", ok[i].text);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(vx_config_parse_size(bad[i], &v, &err), VECTRON_INVALID,
                     "'%s'", bad[i]);
    }
    cr_assert_eq(vx_config_parse_size("abc", &v, &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "'abc' is not a size (e.g. 64MiB)");
    cr_assert_eq(vx_config_parse_size("64MB", &v, &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "'64MB' is ambiguous: sizes are powers of "
                              "1024, write MiB (or m)");
    cr_assert_eq(vx_config_parse_size("1kb", &v, &err), VECTRON_INVALID);
    cr_assert_eq(vx_config_parse_size("16777216t", &v, &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "'16777216t' is out of range for a 64-bit size");
    cr_assert_eq(vx_config_parse_size("99999999999999999999", &v, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vx_config_parse_size("18446744073709551616", &v, &err),
                 VECTRON_INVALID);
    /* Bounds 1KiB..1GiB, compared in bytes. */
    cr_assert_eq(tparse(&c, "buffer-size", "1024", &err), 0);
    cr_assert_eq(tparse(&c, "buffer-size", "1g", &err), 0);
    cr_assert_eq(c.buffer_size, 1ull << 30);
    cr_assert_eq(tparse(&c, "buffer-size", "1023", &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "1023 is below the minimum 1KiB");
    cr_assert_eq(tparse(&c, "buffer-size", "1073741825", &err),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "1073741825 is above the maximum 1GiB");
}

Test(parse, duration_units_bounds_and_overflow)
{
    const struct {
        const char *text;
        uint64_t want;
    } ok[] = {{"0", 0},
              {"250ms", 250},
              {"2s", 2000},
              {"1m", 60000},
              {"1h", 3600000},
              {"1m30s", 90000},
              {"1h1m1s1ms", 3661001},
              {"1500", 1500},
              {"0s", 0}};
    const char *bad[] = {"",    "s",    "1.5s", "1m30", "10x", "-1s",
                         "1 s", "1sec", "ms",   "1s ",  "+1s"};
    vectron_error err;
    uint64_t v;
    tcfg c = {0};

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cr_assert_eq(vx_config_parse_duration(ok[i].text, &v, &err), 0, "%s",
                     ok[i].text);
        cr_assert_eq(v, ok[i].want, "%s", ok[i].text);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(vx_config_parse_duration(bad[i], &v, &err),
                     VECTRON_INVALID, "'%s'", bad[i]);
    }
    cr_assert_eq(vx_config_parse_duration("soon", &v, &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "'soon' is not a duration (e.g. 250ms, 2s, 1m)");
    cr_assert_eq(vx_config_parse_duration("18446744073709551615", &v, &err), 0);
    cr_assert_eq(v, UINT64_MAX);
    cr_assert_eq(vx_config_parse_duration("99999999999999999999ms", &v, &err),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "'99999999999999999999ms' is out of range for "
                              "a 64-bit duration");
    /* 2^64 ms / 3.6e6 = 5124095576030.43 hours. */
    cr_assert_eq(vx_config_parse_duration("5124095576030h", &v, &err), 0);
    cr_assert_eq(vx_config_parse_duration("5124095576031h", &v, &err),
                 VECTRON_INVALID);
    cr_assert_eq(vx_config_parse_duration("5124095576030h1h", &v, &err),
                 VECTRON_INVALID);
    /* Bounds 10ms..1h. */
    cr_assert_eq(tparse(&c, "wait", "10ms", &err), 0);
    cr_assert_eq(tparse(&c, "wait", "60m", &err), 0);
    cr_assert_eq(c.wait_ms, 3600000);
    cr_assert_eq(tparse(&c, "wait", "9ms", &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "9ms is below the minimum 10ms");
    cr_assert_eq(tparse(&c, "wait", "1h1ms", &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "1h1ms is above the maximum 1h");
}

Test(parse, bool_forms)
{
    const char *yes[] = {"true", "TRUE", "True", "yes", "on", "1", "YES"};
    const char *no[] = {"false", "FALSE", "no", "off", "0", "Off"};
    const char *bad[] = {"", "maybe", "2", "t", "truee", " true"};
    vectron_error err;
    bool b;

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        b = false;
        cr_assert_eq(vx_config_parse_bool(yes[i], &b, &err), 0, "%s", yes[i]);
        cr_assert(b, "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        b = true;
        cr_assert_eq(vx_config_parse_bool(no[i], &b, &err), 0, "%s", no[i]);
        cr_assert(!b, "%s", no[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(vx_config_parse_bool(bad[i], &b, &err), VECTRON_INVALID,
                     "'%s'", bad[i]);
    }
    cr_assert_eq(vx_config_parse_bool("maybe", &b, &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "'maybe' is not a boolean (true or false)");
}

Test(parse, enum_and_string)
{
    tcfg c = {0};
    vectron_error err;

    cr_assert_eq(tparse(&c, "mode", "fast", &err), 0);
    cr_assert_eq(c.mode, 0);
    cr_assert_eq(tparse(&c, "mode", "SAFE", &err), 0);
    cr_assert_eq(c.mode, 1);
    cr_assert_eq(tparse(&c, "mode", "slow", &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "'slow' is not one of fast, safe");
    /* A string is copied and the previous copy freed (ASan checks). */
    cr_assert_eq(tparse(&c, "name", "first", &err), 0);
    cr_assert_eq(tparse(&c, "name", "", &err), 0);
    cr_assert_str_eq(c.name, "");
    cr_assert_eq(tparse(&c, "name", "with spaces # and hash", &err), 0);
    cr_assert_str_eq(c.name, "with spaces # and hash");
    vx_config_close(tknobs, NT, &c);
    cr_assert_null(c.name);
    vx_config_close(tknobs, NT, &c);
}

Test(parse, format_round_trips)
{
    tcfg c;
    vectron_error err;
    char buf[64];

    cr_assert_eq(vx_config_init(tknobs, NT, &c, &err), 0, "%s", err.msg);
    vx_config_format(tknob("buffer-size"), &c, buf, sizeof buf);
    cr_assert_str_eq(buf, "1MiB");
    vx_config_format(tknob("wait"), &c, buf, sizeof buf);
    cr_assert_str_eq(buf, "2s");
    vx_config_format(tknob("ratio"), &c, buf, sizeof buf);
    cr_assert_str_eq(buf, "0.5");
    vx_config_format(tknob("mode"), &c, buf, sizeof buf);
    cr_assert_str_eq(buf, "safe");
    vx_config_format(tknob("verbose"), &c, buf, sizeof buf);
    cr_assert_str_eq(buf, "false");
    cr_assert_eq(tparse(&c, "buffer-size", "1536", &err), 0);
    vx_config_format(tknob("buffer-size"), &c, buf, sizeof buf);
    cr_assert_str_eq(buf, "1536");
    cr_assert_eq(tparse(&c, "wait", "90s", &err), 0);
    vx_config_format(tknob("wait"), &c, buf, sizeof buf);
    cr_assert_str_eq(buf, "90s");
    cr_assert_eq(tparse(&c, "any-double", "0.1", &err), 0);
    vx_config_format(tknob("any-double"), &c, buf, sizeof buf);
    cr_assert_str_eq(buf, "0.1");
    cr_assert_eq(tparse(&c, "any-int", "-9223372036854775808", &err), 0);
    vx_config_format(tknob("any-int"), &c, buf, sizeof buf);
    cr_assert_str_eq(buf, "-9223372036854775808");
    /* snprintf semantics: the full length, truncated text. */
    cr_assert_eq(vx_config_format(tknob("any-int"), &c, buf, 4), 20);
    cr_assert_str_eq(buf, "-92");
    vx_config_close(tknobs, NT, &c);
}

/* -------------------------------------------------------------- flags */

Test(load, defaults_without_arguments)
{
    tcfg c;
    vx_config_status st;
    vectron_error err;
    char *argv[] = {"prog", NULL};

    cr_assert_eq(vx_config_load(tknobs, NT, 1, argv, &c, &st, &err), 0);
    cr_assert_str_eq(c.name, "anon");
    cr_assert(!c.verbose);
    cr_assert_eq(c.count, 4);
    cr_assert_eq(c.buffer_size, 1 << 20);
    cr_assert_eq(c.wait_ms, 2000);
    cr_assert_eq(c.mode, 1);
    cr_assert(!st.help);
    cr_assert_null(st.config_file);
    cr_assert_eq(st.first_positional, 1);
    vx_config_close(tknobs, NT, &c);
}

Test(load, flag_forms)
{
    tcfg c;
    vx_config_status st;
    vectron_error err;
    char *argv_buf[32];

    cr_assert_eq(TLOAD(&c, &st, &err, "--count", "5", "--ratio=0.25", "--name",
                       "x y", "--buffer-size=2k", "--wait", "1m", "--mode=FAST",
                       "--verbose", "--delta", "-3"),
                 0, "%s", err.msg);
    cr_assert_eq(c.count, 5);
    cr_assert_float_eq(c.ratio, 0.25, 1e-12);
    cr_assert_str_eq(c.name, "x y");
    cr_assert_eq(c.buffer_size, 2048);
    cr_assert_eq(c.wait_ms, 60000);
    cr_assert_eq(c.mode, 0);
    cr_assert(c.verbose);
    cr_assert_eq(c.delta, -3, "a negative number is a value, not a flag");
    vx_config_close(tknobs, NT, &c);

    /* The last occurrence wins; --name= gives an empty string; a value
     * may start with "--" in the inline form. */
    cr_assert_eq(TLOAD(&c, &st, &err, "--count", "5", "--count=6",
                       "--name=", "--verbose", "--no-verbose"),
                 0, "%s", err.msg);
    cr_assert_eq(c.count, 6);
    cr_assert_str_eq(c.name, "");
    cr_assert(!c.verbose);
    vx_config_close(tknobs, NT, &c);
    cr_assert_eq(TLOAD(&c, &st, &err, "--name=--odd", "--verbose=true"), 0);
    cr_assert_str_eq(c.name, "--odd");
    cr_assert(c.verbose);
    vx_config_close(tknobs, NT, &c);
    cr_assert_eq(TLOAD(&c, &st, &err, "--verbose=yes", "--verbose=off"), 0);
    cr_assert(!c.verbose);
    vx_config_close(tknobs, NT, &c);
}

Test(load, flag_errors_name_the_flag)
{
    EXPECT_FAIL("--count: 0 is below the minimum 1", "--count", "0");
    EXPECT_FAIL("--count: 0 is below the minimum 1", "--count=0");
    EXPECT_FAIL("--buffer-size: 'abc' is not a size (e.g. 64MiB)",
                "--buffer-size", "abc");
    EXPECT_FAIL("--verbose: 'maybe' is not a boolean (true or false)",
                "--verbose=maybe");
    EXPECT_FAIL("--no-verbose takes no value; write --verbose=VALUE",
                "--no-verbose=true");
    EXPECT_FAIL("--no-count: count is not a boolean; --no- applies to "
                "booleans only",
                "--no-count");
    EXPECT_FAIL("--count: missing value", "--count");
    EXPECT_FAIL("--count: missing value (the next argument --verbose is a "
                "flag; write --count=VALUE for a value that starts with "
                "'--')",
                "--count", "--verbose");
    EXPECT_FAIL("--config: missing value", "--config");
    EXPECT_FAIL("--help takes no value", "--help=1");
    EXPECT_FAIL("--big: '99999999999999999999' is out of range for a 64-bit "
                "integer",
                "--big", "99999999999999999999");
    /* The first problem is reported. */
    EXPECT_FAIL("--cout: unknown flag; did you mean --count?", "--cout", "1",
                "--bogus-flag-xyz");
}

Test(load, unknown_flags_suggest_the_closest_knob)
{
    EXPECT_FAIL("--cout: unknown flag; did you mean --count?", "--cout", "1");
    EXPECT_FAIL("--buffer_size: unknown flag; did you mean --buffer-size?",
                "--buffer_size=1k");
    EXPECT_FAIL("--BUFFER-SIZE: unknown flag; did you mean --buffer-size?",
                "--BUFFER-SIZE=1k");
    EXPECT_FAIL("--verbos: unknown flag; did you mean --verbose?", "--verbos");
    EXPECT_FAIL("--conifg: unknown flag; did you mean --config?", "--conifg",
                "x");
    EXPECT_FAIL("--zzzzzzzzzz: unknown flag (see --help)", "--zzzzzzzzzz");
    EXPECT_FAIL("-count: unknown flag; did you mean --count?", "-count", "1");
    EXPECT_FAIL("-x: unknown flag (see --help)", "-x");
    EXPECT_FAIL("--no-such: unknown flag (see --help)", "--no-such");
}

Test(load, positionals_are_returned_in_order)
{
    tcfg c;
    vx_config_status st;
    vectron_error err;
    char *argv_buf[32];

    cr_assert_eq(TLOAD(&c, &st, &err, "one", "--count", "7", "two", "-",
                       "--verbose", "three", "--", "--count", "-x"),
                 0, "%s", err.msg);
    cr_assert_eq(c.count, 7);
    cr_assert(c.verbose);
    cr_assert_eq(st.first_positional, 5);
    cr_assert_str_eq(argv_buf[0], "prog");
    cr_assert_str_eq(argv_buf[5], "one");
    cr_assert_str_eq(argv_buf[6], "two");
    cr_assert_str_eq(argv_buf[7], "-");
    cr_assert_str_eq(argv_buf[8], "three");
    cr_assert_str_eq(argv_buf[9], "--count");
    cr_assert_str_eq(argv_buf[10], "-x");
    vx_config_close(tknobs, NT, &c);
}

Test(load, help_is_reported_not_an_error)
{
    tcfg c;
    vx_config_status st;
    vectron_error err;
    char *argv_buf[32];

    setenv("VECTRON_COUNT", "not a number", 1);
    cr_assert_eq(TLOAD(&c, &st, &err, "--count", "9", "-h"), 0);
    cr_assert(st.help);
    cr_assert_eq(c.count, 4, "with help, values are the defaults");
    vx_config_close(tknobs, NT, &c);
    /* Help wins over a bad flag anywhere on the line. */
    cr_assert_eq(TLOAD(&c, &st, &err, "--bogus", "--help"), 0);
    cr_assert(st.help);
    cr_assert_eq(err.code, VECTRON_OK);
    vx_config_close(tknobs, NT, &c);
    /* After "--", -h is a positional. */
    unsetenv("VECTRON_COUNT");
    cr_assert_eq(TLOAD(&c, &st, &err, "--", "-h"), 0);
    cr_assert(!st.help);
    cr_assert_str_eq(argv_buf[st.first_positional], "-h");
    vx_config_close(tknobs, NT, &c);
}

/* ------------------------------------------------------ precedence */

Test(load, precedence_file_env_flag)
{
    tcfg c;
    vx_config_status st;
    vectron_error err;
    char *argv_buf[32];
    const char *path = write_tmp("count = 10\nratio = 0.1\nname = file\n"
                                 "wait = 5s\n");
    char p[64];

    snprintf(p, sizeof p, "%s", path);
    /* File only. */
    cr_assert_eq(TLOAD(&c, &st, &err, "--config", p), 0, "%s", err.msg);
    cr_assert_eq(c.count, 10);
    cr_assert_str_eq(c.name, "file");
    cr_assert_str_eq(st.config_file, p);
    vx_config_close(tknobs, NT, &c);
    /* Environment overrides the file. */
    setenv("VECTRON_COUNT", "20", 1);
    setenv("VECTRON_NAME", "env", 1);
    cr_assert_eq(TLOAD(&c, &st, &err, "--config", p), 0, "%s", err.msg);
    cr_assert_eq(c.count, 20);
    cr_assert_str_eq(c.name, "env");
    cr_assert_float_eq(c.ratio, 0.1, 1e-12);
    vx_config_close(tknobs, NT, &c);
    /* Flags override both, wherever --config appears. */
    cr_assert_eq(TLOAD(&c, &st, &err, "--count=30", "--config", p), 0, "%s",
                 err.msg);
    cr_assert_eq(c.count, 30);
    cr_assert_str_eq(c.name, "env");
    cr_assert_float_eq(c.ratio, 0.1, 1e-12);
    cr_assert_eq(c.wait_ms, 5000);
    cr_assert_eq(c.buffer_size, 1 << 20, "untouched knobs keep defaults");
    vx_config_close(tknobs, NT, &c);
    /* VECTRON_CONFIG names the file when --config is absent. */
    unsetenv("VECTRON_COUNT");
    setenv("VECTRON_CONFIG", p, 1);
    cr_assert_eq(TLOAD(&c, &st, &err, "--verbose"), 0, "%s", err.msg);
    cr_assert_eq(c.count, 10);
    cr_assert_str_eq(st.config_file, p);
    vx_config_close(tknobs, NT, &c);
    /* --config beats VECTRON_CONFIG. */
    setenv("VECTRON_CONFIG", "/nonexistent/vx.conf", 1);
    cr_assert_eq(TLOAD(&c, &st, &err, "--config", p), 0, "%s", err.msg);
    cr_assert_eq(c.count, 10);
    vx_config_close(tknobs, NT, &c);
    unlink(p);
}

Test(load, environment_errors_name_the_variable)
{
    setenv("VECTRON_BUFFER_SIZE", "abc", 1);
    EXPECT_FAIL("VECTRON_BUFFER_SIZE: 'abc' is not a size (e.g. 64MiB)",
                "--count", "5");
    unsetenv("VECTRON_BUFFER_SIZE");
    setenv("VECTRON_VERBOSE", "on", 1);
    {
        tcfg c;
        vx_config_status st;
        vectron_error err;
        char *argv_buf[32];
        cr_assert_eq(TLOAD(&c, &st, &err, "x"), 0);
        cr_assert(c.verbose);
        vx_config_close(tknobs, NT, &c);
        cr_assert_eq(TLOAD(&c, &st, &err, "--no-verbose"), 0);
        cr_assert(!c.verbose, "a flag beats the environment");
        vx_config_close(tknobs, NT, &c);
    }
    setenv("VECTRON_MODE", "turbo", 1);
    EXPECT_FAIL("VECTRON_MODE: 'turbo' is not one of fast, safe", "x");
    unsetenv("VECTRON_MODE");
    setenv("VECTRON_WAIT", "", 1);
    EXPECT_FAIL("VECTRON_WAIT: '' is not a duration (e.g. 250ms, 2s, 1m)", "x");
}

/* ------------------------------------------------------- config file */

/* Loads the test table with --config holding text; returns the code and
 * leaves the message (with the path replaced by "F") in msg. */
static int load_file(const char *text, tcfg *c, char *msg, size_t len)
{
    vx_config_status st;
    vectron_error err;
    char p[64], *argv[] = {"prog", "--config", p, NULL};
    int rc;

    snprintf(p, sizeof p, "%s", write_tmp(text));
    rc = vx_config_load(tknobs, NT, 3, argv, c, &st, &err);
    unlink(p);
    if (rc) {
        const char *at = strstr(err.msg, p);
        cr_assert_not_null(at, "the message names the file: %s", err.msg);
        snprintf(msg, len, "%.*sF%s", (int)(at - err.msg), err.msg,
                 at + strlen(p));
    }
    return rc;
}

#define FILE_FAIL(text, want)                                                  \
    do {                                                                       \
        tcfg c_;                                                               \
        char msg_[300];                                                        \
        cr_assert_eq(load_file(text, &c_, msg_, sizeof msg_),                  \
                     VECTRON_INVALID);                                         \
        cr_assert_str_eq(msg_, want);                                          \
    } while (0)

Test(file, syntax_comments_and_quotes)
{
    tcfg c;
    char msg[300];

    cr_assert_eq(load_file("# a comment\n"
                           "\n"
                           "   \t\n"
                           "count=7\n"
                           "  ratio   =   0.75   # trailing comment\n"
                           "name = \"two words # not a comment\"  # comment\n"
                           "buffer-size = '4k'\r\n"
                           "wait = 1m30s\n"
                           "verbose = yes\n"
                           "mode = fast",
                           &c, msg, sizeof msg),
                 0, "%s", msg);
    cr_assert_eq(c.count, 7);
    cr_assert_float_eq(c.ratio, 0.75, 1e-12);
    cr_assert_str_eq(c.name, "two words # not a comment");
    cr_assert_eq(c.buffer_size, 4096);
    cr_assert_eq(c.wait_ms, 90000);
    cr_assert(c.verbose);
    cr_assert_eq(c.mode, 0);
    vx_config_close(tknobs, NT, &c);

    cr_assert_eq(load_file("name = \"a \\\"quoted\\\" \\\\ C:\\dir\"\n", &c,
                           msg, sizeof msg),
                 0, "%s", msg);
    cr_assert_str_eq(c.name, "a \"quoted\" \\ C:\\dir");
    vx_config_close(tknobs, NT, &c);
    cr_assert_eq(load_file("name = 'it''\n", &c, msg, sizeof msg),
                 VECTRON_INVALID);
    cr_assert_eq(
        load_file("name = 'say \"hi\"'\nname2x = 1\n", &c, msg, sizeof msg),
        VECTRON_INVALID);
    cr_assert_str_eq(msg, "--config: F:2: name2x: unknown knob; did you "
                          "mean 'name'?");
    cr_assert_eq(load_file("name = \"\"\n", &c, msg, sizeof msg), 0);
    cr_assert_str_eq(c.name, "");
    vx_config_close(tknobs, NT, &c);
    cr_assert_eq(load_file("name = a#b\n", &c, msg, sizeof msg), 0);
    cr_assert_str_eq(c.name, "a#b", "a '#' inside a word is not a comment");
    vx_config_close(tknobs, NT, &c);
    cr_assert_eq(load_file("", &c, msg, sizeof msg), 0);
    cr_assert_eq(c.count, 4);
    vx_config_close(tknobs, NT, &c);
}

Test(file, errors_carry_file_and_line)
{
    FILE_FAIL("count = 5\n\n# c\ncout = 6\n",
              "--config: F:4: cout: unknown knob; did you mean 'count'?");
    FILE_FAIL("zzzzzzzz = 1\n", "--config: F:1: zzzzzzzz: unknown knob");
    FILE_FAIL("count = 5\nratio = 0.5\ncount = 6\n",
              "--config: F:3: count: already set on line 1");
    FILE_FAIL("ratio = 0.5\ncount = 0\n",
              "--config: F:2: count: 0 is below the minimum 1");
    FILE_FAIL("buffer-size = lots\n",
              "--config: F:1: buffer-size: 'lots' is not a size (e.g. "
              "64MiB)");
    FILE_FAIL("count 5\n", "--config: F:1: expected 'name = value'");
    FILE_FAIL("= 5\n", "--config: F:1: expected 'name = value'");
    FILE_FAIL("[network]\n", "--config: F:1: expected 'name = value'");
    FILE_FAIL("count =\n",
              "--config: F:1: missing value (write \"\" for an empty string)");
    FILE_FAIL("count = # nothing\n",
              "--config: F:1: missing value (write \"\" for an empty string)");
    FILE_FAIL("\n\nname = \"open\n",
              "--config: F:3: unterminated quoted value");
    FILE_FAIL("name = \"a\" b\n",
              "--config: F:1: unexpected text after the closing quote");
    FILE_FAIL("config = x\n", "--config: F:1: config: unknown knob");
    FILE_FAIL("count = 99999999999999999999\n",
              "--config: F:1: count: '99999999999999999999' is out of range "
              "for a 64-bit integer");
}

Test(file, nul_byte_and_missing_file)
{
    tcfg c;
    vx_config_status st;
    vectron_error err;
    char p[64], *argv[] = {"prog", "--config", p, NULL};
    static const char text[] = "count = 5\nname = a\0b\n";
    FILE *f;

    snprintf(p, sizeof p, "%s", write_tmp(""));
    f = fopen(p, "wb");
    cr_assert_not_null(f);
    fwrite(text, 1, sizeof text - 1, f);
    fclose(f);
    cr_assert_eq(vx_config_load(tknobs, NT, 3, argv, &c, &st, &err),
                 VECTRON_INVALID);
    cr_assert(strstr(err.msg, ":2: NUL byte"), "%s", err.msg);
    unlink(p);
    cr_assert_eq(vx_config_load(tknobs, NT, 3, argv, &c, &st, &err),
                 VECTRON_IO);
    cr_assert(strstr(err.msg, "--config: cannot open /tmp/vx_test_config_"),
              "%s", err.msg);
    cr_assert(strstr(err.msg, "No such file or directory"), "%s", err.msg);
    cr_assert_null(st.config_file);
    setenv("VECTRON_CONFIG", "/nonexistent/vx.conf", 1);
    argv[1] = NULL;
    cr_assert_eq(vx_config_load(tknobs, NT, 1, argv, &c, &st, &err),
                 VECTRON_IO);
    cr_assert_str_eq(err.msg, "VECTRON_CONFIG: cannot open "
                              "/nonexistent/vx.conf: No such file or "
                              "directory");
    setenv("VECTRON_CONFIG", "/tmp", 1);
    cr_assert_eq(vx_config_load(tknobs, NT, 1, argv, &c, &st, &err),
                 VECTRON_IO);
    cr_assert(strstr(err.msg, "Is a directory"), "%s", err.msg);
}

Test(file, too_large)
{
    tcfg c;
    char msg[300];
    size_t n = VX_CFG_FILE_MAX + 10;
    char *text = malloc(n + 1);

    cr_assert_not_null(text);
    memset(text, '#', n);
    text[n] = '\0';
    cr_assert_eq(load_file(text, &c, msg, sizeof msg), VECTRON_INVALID);
    cr_assert(strstr(msg, "larger than"), "%s", msg);
    free(text);
}

/* -------------------------------------------------------------- table */

Test(table, test_table_is_valid)
{
    vectron_error err;
    cr_assert_eq(vx_config_check(tknobs, NT, &err), 0, "%s", err.msg);
}

Test(table, malformed_tables_are_rejected)
{
    static const char *const empty_values[] = {NULL};
    static const char *const upper_values[] = {"Fast", NULL};
    const vx_config_knob good = {.name = "ok",
                                 .type = VX_CFG_UINT64,
                                 .def = "5",
                                 .min = "1",
                                 .max = "10",
                                 .section = "s",
                                 .doc = "d",
                                 .effect = "e"};
    struct {
        vx_config_knob k;
        const char *want;
    } cases[] = {
        {good, NULL},
        {good, "default: 11 is above the maximum 10"},
        {good, "default: 'x' is not a non-negative integer"},
        {good, "minimum 10 above maximum 1"},
        {good, "invalid name"},
        {good, "invalid name"},
        {good, "invalid name"},
        {good, "invalid name"},
        {good, "invalid name"},
        {good, "section, doc and effect must be one non-empty line"},
        {good, "section, doc and effect must be one non-empty line"},
        {good, "values are required for enums and only for them"},
        {good, "no values"},
        {good, "value 'Fast' is not a lower-case word"},
        {good, "this type takes no range"},
        {good, "no default"},
        {good, "minimum: 'abc' is not a non-negative integer"},
    };
    vectron_error err;
    size_t i = 1;

    cases[i++].k.def = "11";
    cases[i++].k.def = "x";
    cases[i].k.min = "10";
    cases[i++].k.max = "1";
    cases[i++].k.name = "Upper";
    cases[i++].k.name = "no-thing";
    cases[i++].k.name = "help";
    cases[i++].k.name = "a--b";
    cases[i++].k.name = "trailing-";
    cases[i++].k.doc = "";
    cases[i++].k.effect = "two\nlines";
    cases[i].k.type = VX_CFG_ENUM;
    cases[i].k.min = cases[i].k.max = NULL;
    cases[i++].k.def = "x";
    cases[i].k.type = VX_CFG_ENUM;
    cases[i].k.min = cases[i].k.max = NULL;
    cases[i++].k.values = empty_values;
    cases[i].k.type = VX_CFG_ENUM;
    cases[i].k.min = cases[i].k.max = NULL;
    cases[i++].k.values = upper_values;
    cases[i++].k.type = VX_CFG_STRING;
    cases[i++].k.def = NULL;
    cases[i++].k.min = "abc";
    cr_assert_eq(i, sizeof cases / sizeof cases[0]);

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = vx_config_check(&cases[i].k, 1, &err);
        if (!cases[i].want) {
            cr_assert_eq(rc, 0, "case %zu: %s", i, err.msg);
            continue;
        }
        char want[300];
        snprintf(want, sizeof want, "config table: knob '%s': %s",
                 cases[i].k.name, cases[i].want);
        cr_assert_eq(rc, VECTRON_INVALID, "case %zu", i);
        cr_assert_str_eq(err.msg, want, "case %zu", i);
    }

    vx_config_knob two[2] = {good, good};
    cr_assert_eq(vx_config_check(two, 2, &err), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "config table: knob 'ok' is defined twice");

    /* Loading refuses a malformed table as a programming error. */
    tcfg c;
    vx_config_status st;
    char *argv[] = {"prog", NULL};
    two[1].name = "other";
    two[1].def = "0";
    cr_assert_eq(vx_config_load(two, 2, 1, argv, &c, &st, &err),
                 VECTRON_INTERNAL);
    cr_assert_eq(err.code, VECTRON_INTERNAL);
    cr_assert_str_eq(err.msg, "load: config table: knob 'other': default: "
                              "0 is below the minimum 1");
}

/* Allocation hooks that fail the n-th allocation and count live blocks. */
static long fail_at, n_allocs, live;

static void *fail_malloc(size_t n, void *arg)
{
    (void)arg;
    if (n_allocs++ == fail_at) {
        return NULL;
    }
    live++;
    return malloc(n);
}

static void *fail_realloc(void *p, size_t n, void *arg)
{
    void *q;
    (void)arg;
    if (n_allocs++ == fail_at) {
        return NULL;
    }
    q = realloc(p, n);
    if (q && !p) {
        live++;
    }
    return q;
}

static void fail_free(void *p, void *arg)
{
    (void)arg;
    live--;
    free(p);
}

Test(table, allocation_failures_leak_nothing)
{
    const vectron_alloc_hooks hooks = {fail_malloc, fail_realloc, fail_free,
                                       NULL};
    char p[64];
    bool done = false;

    setenv("VECTRON_NAME", "from-env", 1);
    snprintf(p, sizeof p, "%s", write_tmp("name = file\nwait = 3s\n"));
    for (fail_at = 0; !done && fail_at < 1000; fail_at++) {
        tcfg c;
        vx_config_status st;
        vectron_error err;
        char *argv[] = {"prog", "pos", "--config", p, "--name", "flag", NULL};
        int rc;

        n_allocs = 0;
        live = 0;
        vectron_alloc_set_hooks(&hooks);
        rc = vx_config_load(tknobs, NT, 6, argv, &c, &st, &err);
        if (rc == 0) {
            cr_assert_str_eq(c.name, "flag");
            cr_assert_eq(c.wait_ms, 3000);
            vx_config_close(tknobs, NT, &c);
            done = true;
        } else {
            cr_assert_eq(rc, VECTRON_NOMEM, "fail_at %ld: %s", fail_at,
                         err.msg);
        }
        vectron_alloc_set_hooks(NULL);
        cr_assert_eq(live, 0, "fail_at %ld: %ld blocks leaked", fail_at, live);
    }
    cr_assert(done);
    cr_assert_gt(fail_at, 3, "the loop exercised several failure points");
    unlink(p);
}

/* -------------------------------------------------------------- serve */

static int sload(vx_serve_config *c, vx_config_status *st, vectron_error *err,
                 char **buf, const char *const *args)
{
    int argc = 0;

    buf[argc++] = "serve";
    for (; *args; args++) {
        buf[argc++] = (char *)*args;
    }
    buf[argc] = NULL;
    vectron_error_clear(err);
    return vx_serve_config_load(argc, buf, c, st, err);
}

#define SLOAD(c, st, err, ...)                                                 \
    sload(c, st, err, argv_buf, (const char *const[]){__VA_ARGS__, NULL})

Test(serve, table_is_valid_and_every_default_is_in_range)
{
    size_t n;
    const vx_config_knob *t = vx_serve_config_table(&n);
    vectron_error err;

    cr_assert_eq(vx_config_check(t, n, &err), 0, "%s", err.msg);
    cr_assert_geq(n, 28);
    for (size_t i = 0; i < n; i++) {
        vx_serve_config c;
        memset(&c, 0, sizeof c);
        /* The default, and both bounds, parse and pass the range. */
        cr_assert_eq(vx_config_parse(&t[i], t[i].def, &c, &err), 0, "%s: %s",
                     t[i].name, err.msg);
        if (t[i].min) {
            cr_assert_eq(vx_config_parse(&t[i], t[i].min, &c, &err), 0,
                         "%s: %s", t[i].name, err.msg);
        }
        if (t[i].max) {
            cr_assert_eq(vx_config_parse(&t[i], t[i].max, &c, &err), 0,
                         "%s: %s", t[i].name, err.msg);
        }
        cr_assert_leq(t[i].offset + sizeof(uint64_t), sizeof c, "%s",
                      t[i].name);
        vx_serve_config_close(&c);
        /* Ranged knobs have both bounds; the docs show them. */
        if (t[i].type != VX_CFG_STRING && t[i].type != VX_CFG_ENUM &&
            t[i].type != VX_CFG_BOOL) {
            cr_assert(t[i].min && t[i].max, "%s has a range", t[i].name);
        }
    }
}

Test(serve, defaults)
{
    vx_serve_config c;
    vx_config_status st;
    vectron_error err;
    char *argv_buf[32];

    cr_assert_eq(SLOAD(&c, &st, &err, "--data", "/tmp/x"), 0, "%s", err.msg);
    cr_assert_str_eq(c.data, "/tmp/x");
    cr_assert_str_eq(c.http_listen, "127.0.0.1:6333");
    cr_assert_str_eq(c.raft_listen, "127.0.0.1:6335");
    cr_assert_eq(c.http_threads, 0);
    cr_assert_eq(c.max_connections, 1024);
    cr_assert_eq(c.connection_timeout_ms, 60000);
    cr_assert_eq(c.max_body_size, 64ull << 20);
    cr_assert_eq(c.max_limit, 10000);
    cr_assert_eq(c.max_batch, 10000);
    cr_assert_eq(c.max_offset, 100000);
    cr_assert_eq(c.max_dim, 65536);
    cr_assert_eq(c.max_collections, 1000);
    cr_assert_eq(c.request_timeout_ms, 30000);
    cr_assert_eq(c.election_timeout_ms, 1000);
    cr_assert_eq(c.heartbeat_interval_ms, 100);
    cr_assert_eq(c.snapshot_threshold, 1024);
    cr_assert_eq(c.snapshot_trailing, 128);
    cr_assert_eq(c.segment_size, 16ull << 20);
    cr_assert_eq(c.store_map_size, 64ull << 30);
    cr_assert_eq(c.store_sync, VX_SERVE_SYNC_NONE);
    cr_assert_eq(c.index_checkpoint_interval_ms, 60000);
    cr_assert_eq(c.default_hnsw_m, 16);
    cr_assert_eq(c.default_ef_construct, 100);
    cr_assert_eq(c.default_hnsw_ef, 64);
    cr_assert_float_eq(c.exact_selectivity, 0.01, 1e-12);
    cr_assert_float_eq(c.default_oversampling, 2.0, 1e-12);
    cr_assert_eq(c.log_level, VECTRON_LOG_INFO);
    cr_assert_eq(c.log_format, VX_SERVE_LOG_TEXT);
    cr_assert_eq(c.slow_query_ms, 0);
    vx_serve_config_close(&c);
    vx_serve_config_close(&c);
}

Test(serve, enums_map_to_their_constants)
{
    vx_serve_config c;
    vx_config_status st;
    vectron_error err;
    char *argv_buf[32];

    cr_assert_eq(SLOAD(&c, &st, &err, "--store-sync=full", "--log-level",
                       "warn", "--log-format=json"),
                 0, "%s", err.msg);
    cr_assert_eq(c.store_sync, VX_SERVE_SYNC_FULL);
    cr_assert_eq(c.log_level, VECTRON_LOG_WARN);
    cr_assert_eq(c.log_format, VX_SERVE_LOG_JSON);
    vx_serve_config_close(&c);
    cr_assert_eq(
        SLOAD(&c, &st, &err, "--store-sync=data", "--log-level", "debug"), 0);
    cr_assert_eq(c.store_sync, VX_SERVE_SYNC_DATA);
    cr_assert_eq(c.log_level, VECTRON_LOG_DEBUG);
    vx_serve_config_close(&c);
    cr_assert_eq(SLOAD(&c, &st, &err, "--log-level=error"), 0);
    cr_assert_eq(c.log_level, VECTRON_LOG_ERROR);
    vx_serve_config_close(&c);
    cr_assert_eq(SLOAD(&c, &st, &err, "--log-level=verbose"), VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "--log-level: 'verbose' is not one of debug, "
                              "info, warn, error");
}

Test(serve, messages_name_knob_and_source)
{
    vx_serve_config c;
    vx_config_status st;
    vectron_error err;
    char *argv_buf[32];

    cr_assert_eq(SLOAD(&c, &st, &err, "--max-connections", "0"),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "--max-connections: 0 is below the minimum 1");
    setenv("VECTRON_MAX_BODY_SIZE", "abc", 1);
    cr_assert_eq(SLOAD(&c, &st, &err, "--http-threads", "4"), VECTRON_INVALID);
    cr_assert_str_eq(err.msg,
                     "VECTRON_MAX_BODY_SIZE: 'abc' is not a size (e.g. 64MiB)");
    setenv("VECTRON_MAX_BODY_SIZE", "128MiB", 1);
    cr_assert_eq(SLOAD(&c, &st, &err, "--http-thread", "4"), VECTRON_INVALID);
    cr_assert_str_eq(
        err.msg, "--http-thread: unknown flag; did you mean --http-threads?");
    cr_assert_eq(SLOAD(&c, &st, &err, "--max-body-size=2GiB"), VECTRON_INVALID);
    cr_assert_str_eq(err.msg,
                     "--max-body-size: 2GiB is above the maximum 1GiB");
    cr_assert_eq(SLOAD(&c, &st, &err, "--http-threads", "4"), 0);
    cr_assert_eq(c.max_body_size, 128ull << 20);
    vx_serve_config_close(&c);
}

Test(serve, relations_between_knobs)
{
    vx_serve_config c;
    vx_config_status st;
    vectron_error err;
    char *argv_buf[32];

    cr_assert_eq(SLOAD(&c, &st, &err, "--heartbeat-interval", "1s",
                       "--election-timeout", "500ms"),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "heartbeat-interval (1000ms) must be below "
                              "election-timeout (500ms)");
    cr_assert_null(c.data, "a failed load leaves nothing to free");
    cr_assert_eq(SLOAD(&c, &st, &err, "--default-hnsw-m=64",
                       "--default-ef-construct=32"),
                 VECTRON_INVALID);
    cr_assert_str_eq(err.msg, "default-ef-construct (32) must be at least "
                              "default-hnsw-m (64)");
    cr_assert_eq(SLOAD(&c, &st, &err, "--default-hnsw-m=64",
                       "--default-ef-construct=64", "--election-timeout=2s",
                       "--heartbeat-interval=1999ms"),
                 0, "%s", err.msg);
    vx_serve_config_close(&c);
    cr_assert_eq(SLOAD(&c, &st, &err, "--help", "--heartbeat-interval=5s"), 0);
    cr_assert(st.help);
    vx_serve_config_close(&c);
}

/* ------------------------------------------------------------- output */

/* Runs fn into a memory buffer and returns it (caller frees). */
static char *capture_serve(int (*fn)(FILE *, vectron_error *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    vectron_error err;

    cr_assert_not_null(f);
    cr_assert_eq(fn(f, &err), 0);
    fclose(f);
    return buf;
}

Test(output, help_lists_every_knob_aligned_and_narrow)
{
    size_t n;
    const vx_config_knob *t = vx_serve_config_table(&n);
    char *help = capture_serve(vx_serve_config_help);
    char want[128];

    cr_assert(strstr(help, "usage: vectron serve [flags]"));
    cr_assert(strstr(help, "--config FILE"));
    cr_assert(strstr(help, "-h, --help"));
    for (size_t i = 0; i < n; i++) {
        snprintf(want, sizeof want,
                 t[i].type == VX_CFG_BOOL ? "\n  --[no-]%s " : "\n  --%s ",
                 t[i].name);
        cr_assert(strstr(help, want), "help lacks %s", t[i].name);
        snprintf(want, sizeof want, "\n%s:\n", t[i].section);
        cr_assert(strstr(help, want), "help lacks section %s", t[i].section);
    }
    cr_assert(strstr(help, "(default 64MiB; range 1KiB..1GiB)"), "%s", help);
    cr_assert(strstr(help, "(default none; one of none, data, full)"));
    cr_assert(strstr(help, "(default ./data)"));
    /* Every line fits 80 columns. */
    for (const char *line = help; *line;) {
        size_t w = strcspn(line, "\n");
        cr_assert_leq(w, 80, "long line: %.*s", (int)w, line);
        line += w + (line[w] == '\n');
    }
    free(help);
}

Test(output, help_shows_booleans_and_unbounded)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    vectron_error err;

    cr_assert_eq(vx_config_help(tknobs, NT, f, "usage: prog", &err), 0);
    fclose(f);
    cr_assert(strstr(buf, "--[no-]verbose"), "%s", buf);
    cr_assert(strstr(buf, "(default false)"));
    cr_assert(strstr(buf, "(default 0)"));
    cr_assert(strstr(buf, "--wait DURATION"));
    free(buf);
}

Test(output, markdown_lists_every_knob)
{
    size_t n;
    const vx_config_knob *t = vx_serve_config_table(&n);
    char *md = capture_serve(vx_serve_config_markdown);
    char want[256], env[VX_CFG_NAME_MAX + 16];

    cr_assert(strncmp(md, "# vectron serve: configuration\n", 31) == 0);
    cr_assert(strstr(md, "**defaults < config file < environment < "
                         "command-line flags**"));
    cr_assert(strstr(md, "| knob | env | default | range/values | what it "
                         "does | effect |"));
    for (size_t i = 0; i < n; i++) {
        vx_config_env_name(t[i].name, env, sizeof env);
        /* An empty default (a secret not set) shows as `""`. */
        snprintf(want, sizeof want, "| `%s` | `%s` | `%s` | ", t[i].name, env,
                 t[i].def[0] ? t[i].def : "\"\"");
        cr_assert(strstr(md, want), "markdown lacks %s", want);
        cr_assert(strstr(md, t[i].doc), "markdown lacks the doc of %s",
                  t[i].name);
        snprintf(want, sizeof want, "\n## %s\n", t[i].section);
        cr_assert(strstr(md, want));
    }
    cr_assert(strstr(md, "| `store-sync` | `VECTRON_STORE_SYNC` | `none` | "
                         "`none`, `data`, `full` |"));
    cr_assert(strstr(md, "| `max-body-size` | `VECTRON_MAX_BODY_SIZE` | "
                         "`64MiB` | 1KiB..1GiB |"));
    free(md);

    /* A '|' in a doc is escaped so that it cannot split the cell. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    vectron_error err;
    cr_assert_eq(vx_config_markdown(tknobs, NT, f, "T", &err), 0);
    fclose(f);
    cr_assert(strstr(buf, "A size \\| with a pipe."), "%s", buf);
    cr_assert(strstr(buf, "| `verbose` | `VECTRON_VERBOSE` | `false` | "
                          "`true`, `false` |"));
    free(buf);
}

Test(output, dump_round_trips_through_the_config_file)
{
    vx_serve_config a, b;
    vx_config_status st;
    vectron_error err;
    char *argv_buf[32], *buf = NULL, path[64];
    size_t len = 0, n;
    const vx_config_knob *t = vx_serve_config_table(&n);
    FILE *f;

    cr_assert_eq(SLOAD(&a, &st, &err, "--data", "/srv/my \"vx\" \\data #1",
                       "--http-threads=3", "--store-sync=full",
                       "--exact-selectivity=0.125", "--request-timeout=90s",
                       "--max-body-size=1536k", "--log-format", "json"),
                 0, "%s", err.msg);
    f = open_memstream(&buf, &len);
    cr_assert_eq(vx_serve_config_dump(&a, f, &err), 0);
    fclose(f);
    cr_assert(strstr(buf, "\nhttp-threads = 3  # default 0\n"), "%s", buf);
    cr_assert(strstr(buf, "\nmax-limit = 10000\n"), "%s", buf);
    cr_assert(strstr(buf, "\nstore-sync = full  # default none\n"), "%s", buf);
    cr_assert(strstr(buf, "\nhttp-listen = \"127.0.0.1:6333\"\n"), "%s", buf);
    cr_assert(strstr(buf, "\n# storage\n"));
    snprintf(path, sizeof path, "%s", write_tmp(buf));
    free(buf);
    cr_assert_eq(SLOAD(&b, &st, &err, "--config", path), 0, "%s", err.msg);
    unlink(path);
    for (size_t i = 0; i < n; i++) {
        char x[256], y[256];
        vx_config_format(&t[i], &a, x, sizeof x);
        vx_config_format(&t[i], &b, y, sizeof y);
        cr_assert_str_eq(x, y, "%s", t[i].name);
    }
    cr_assert_str_eq(b.data, "/srv/my \"vx\" \\data #1");
    vx_serve_config_close(&a);
    vx_serve_config_close(&b);
}

Test(output, write_errors_are_reported)
{
    FILE *f = fopen("/dev/null", "r");
    vectron_error err;

    cr_assert_not_null(f);
    cr_assert_eq(vx_serve_config_help(f, &err), VECTRON_IO);
    cr_assert_str_eq(err.msg, "write help: output error");
    fclose(f);
}
