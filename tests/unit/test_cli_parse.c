/*
 * test_cli_parse.c - unit tests of the `vectron import` record parsers
 * (src/cli/cli_parse.c): JSONL records through the fast path and the
 * jansson path (which must agree, also on the corner cases listed here:
 * -0, escaped keys, long integers, whitespace, nested payloads), the
 * errors both give, and CSV headers and lines (quoting, component and
 * vector columns, payload typing, field counts).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cli/cli_parse.h"
#include "common/common.h"

TestSuite(cli_parse, .timeout = 60);

/* Parses line both ways, checks that they agree, and returns rc. */
static int both(const char *line, cli_record *r)
{
    cli_record s = {0};
    vectron_error e1 = {0}, e2 = {0};
    int rc = cli_parse_jsonl(line, strlen(line), r, &e1);
    int rc2 = cli_parse_jsonl_slow(line, strlen(line), &s, &e2);
    cr_assert_eq(rc == 0, rc2 == 0, "%s: fast %d (%s), slow %d (%s)", line,
                 rc, e1.msg, rc2, e2.msg);
    if (rc == 0) {
        cr_assert_eq(r->dim, s.dim);
        cr_assert_eq(r->has_id, s.has_id);
        cr_assert_eq(memcmp(r->vec, s.vec, r->dim * sizeof(float)), 0, "%s",
                     line);
        cr_assert_eq(r->payload_len, s.payload_len, "%s", line);
        if (r->payload_len)
            cr_assert_str_eq(r->payload, s.payload);
        if (r->has_id)
            cr_assert_eq(point_id_cmp(&r->id, &s.id), 0);
    } else {
        cr_assert_str_eq(e1.msg, e2.msg);
    }
    cli_record_free(&s);
    return rc;
}

Test(cli_parse, jsonl_records)
{
    cli_record r = {0};
    cr_assert_eq(both("{\"id\":7,\"vector\":[1,2.5,-3e2],\"payload\":"
                      "{\"a\":\"x\",\"n\":18446744073709551615}}",
                      &r),
                 0);
    cr_assert_eq(r.dim, 3);
    cr_assert(r.has_id && !r.id.is_uuid && r.id.num == 7);
    cr_assert_eq(r.vec[2], -300.0f);
    cr_assert_str_eq(r.payload, "{\"a\":\"x\",\"n\":18446744073709551615}");
    cr_assert_eq(both(" { \"vector\" : [ 0 , -0 , 0.5 ] , \"payload\" : null "
                      "} ",
                      &r),
                 0);
    cr_assert(!r.has_id && r.payload_len == 0 && r.dim == 3);
    cr_assert(!signbit(r.vec[1])); /* -0 is the integer 0, as in jansson */
    cr_assert_eq(both("{\"vector\":[-0.0]}", &r), 0);
    cr_assert(signbit(r.vec[0]));
    cr_assert_eq(both("{\"\\u0069d\":\"550e8400-e29b-41d4-a716-446655440000\","
                      "\"vector\":[1]}",
                      &r),
                 0);
    cr_assert(r.has_id && r.id.is_uuid);
    cr_assert_eq(both("{\"vector\":[123456789012345678],\"payload\":{\"s\":"
                      "\"a\\\"}b\",\"n\":{\"m\":[1,{\"x\":\"]\"}]}}}",
                      &r),
                 0);
    cr_assert_eq(r.vec[0], (float)123456789012345678.0);
    cr_assert_eq(both("{\"vector\":[1],\"payload\":{}}", &r), 0);
    cr_assert_eq(r.payload_len, 0);
    cli_record_free(&r);
}

Test(cli_parse, jsonl_errors)
{
    static const char *const bad[] = {
        "",
        "[1]",
        "{}",
        "{\"vector\":[]}",
        "{\"vector\":[1,]}",
        "{\"vector\":[1]",
        "{\"vector\":[1]}x",
        "{\"vector\":[1],\"vector\":[2]}",
        "{\"vector\":[NaN]}",
        "{\"vector\":[1e39]}",
        "{\"vector\":[1e400]}",
        "{\"vector\":[12345678901234567890123]}",
        "{\"vector\":[01]}",
        "{\"vector\":[\"1\"]}",
        "{\"vector\":[1],\"id\":-1}",
        "{\"vector\":[1],\"id\":1.5}",
        "{\"vector\":[1],\"id\":\"nope\"}",
        "{\"vector\":[1],\"payload\":[1]}",
        "{\"vector\":[1],\"payload\":{\"a\":1,\"a\":2}}",
        "{\"vector\":[1],\"payload\":{\"a\":\"\\u0000\"}}",
        "{\"vector\":[1],\"vectr\":[1]}",
        "{\"vector\":[1],\"payload\":{\"a\":\"\xff\"}}",
    };
    cli_record r = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_neq(both(bad[i], &r), 0, "accepted: %s", bad[i]);
    vectron_error err;
    const char *l = "{\"vector\":[1],\"vectr\":1}";
    cr_assert_neq(cli_parse_jsonl(l, strlen(l), &r, &err), 0);
    cr_assert(strstr(err.msg, "unknown field \"vectr\""), "%s", err.msg);
    cli_record_free(&r);
}

Test(cli_parse, csv)
{
    cli_csv c;
    cli_record r = {0};
    vectron_error err;
    const char *h = "id,v0,v1,name,price,zip";
    cr_assert_eq(cli_csv_header(h, strlen(h), &c, &err), 0, "%s", err.msg);
    cr_assert_eq(c.ncol, 6);
    cr_assert_eq(c.dim, 2);
    const char *l = "5,0.5,-2,\"a \"\"b\"\", c\",3.5,007";
    cr_assert_eq(cli_parse_csv(&c, l, strlen(l), &r, &err), 0, "%s", err.msg);
    cr_assert(r.has_id && r.id.num == 5 && r.dim == 2 && r.vec[1] == -2.0f);
    cr_assert_str_eq(r.payload,
                     "{\"name\":\"a \\\"b\\\", c\",\"price\":3.5,\"zip\":\"007\"}");
    l = ",1,2,,-7,";
    cr_assert_eq(cli_parse_csv(&c, l, strlen(l), &r, &err), 0, "%s", err.msg);
    cr_assert(!r.has_id);
    cr_assert_str_eq(r.payload, "{\"price\":-7}");
    static const char *const badl[] = {"1,2", "1,2,3,4,5,6,7", "1,x,2,,,",
                                       "1,\"2,3,,,", "1,2\"x\",3,,,",
                                       "-1,1,2,,,", "1,nan,2,,,"};
    for (size_t i = 0; i < sizeof badl / sizeof badl[0]; i++)
        cr_assert_neq(cli_parse_csv(&c, badl[i], strlen(badl[i]), &r, &err),
                      0, "accepted: %s", badl[i]);
    cli_csv_free(&c);

    h = "label,vector";
    cr_assert_eq(cli_csv_header(h, strlen(h), &c, &err), 0);
    l = "cat,\"[1,2,3]\"";
    cr_assert_eq(cli_parse_csv(&c, l, strlen(l), &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.dim, 3);
    cr_assert_str_eq(r.payload, "{\"label\":\"cat\"}");
    cli_csv_free(&c);

    static const char *const badh[] = {"a,b", "v0,vector", "v0,v0", "v0,,x",
                                       "\"v0"};
    for (size_t i = 0; i < sizeof badh / sizeof badh[0]; i++)
        cr_assert_neq(cli_csv_header(badh[i], strlen(badh[i]), &c, &err), 0,
                      "accepted: %s", badh[i]);
    cli_record_free(&r);
}
