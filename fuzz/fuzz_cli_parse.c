/*
 * fuzz_cli_parse.c - libFuzzer harness over the record parsers of
 * `vectron import` (src/cli/cli_parse.c).
 *
 * Input: byte 0 even: each '\n'-separated line of the rest is parsed as a
 * JSONL record; odd: the first line is a CSV header and each further line
 * a CSV record against it (every line is tried; rejections are fine
 * as long as they carry a message). Whatever a
 * parser accepts must be consistent: a dimension in 1..CLI_MAX_DIM, every
 * component finite, a payload that is a JSON object. One record is
 * reused across lines, as the importer does. JSONL lines also go through
 * the jansson-only parser, which must agree with the fast path exactly
 * (same acceptance, same record bytes, same message). Any inconsistency
 * aborts.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_parse.h"
#include "common/common.h"
#include "common/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            abort();                                                           \
        }                                                                      \
    } while (0)

static void check_record(const cli_record *r)
{
    CHECK(r->dim >= 1 && r->dim <= CLI_MAX_DIM && r->dim <= r->vec_cap);
    for (uint32_t i = 0; i < r->dim; i++)
        CHECK(isfinite(r->vec[i]));
    if (r->payload_len) {
        json_t *j = NULL;
        CHECK(strlen(r->payload) == r->payload_len);
        CHECK(vx_json_load(r->payload, r->payload_len, "payload", &j, NULL) ==
              0);
        CHECK(json_is_object(j));
        json_decref(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int csv_mode = data[0] & 1;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    cli_record rec = {0}, slow = {0};
    cli_csv csv = {0};
    int have_header = 0;
    vectron_error err, err2;
    while (p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!csv_mode) {
            /* The fast path must agree with jansson's (the definition). */
            int rc = cli_parse_jsonl(p, len, &rec, &err);
            int rc2 = cli_parse_jsonl_slow(p, len, &slow, &err2);
            CHECK((rc == 0) == (rc2 == 0));
            if (rc == 0) {
                check_record(&rec);
                CHECK(rec.has_id == slow.has_id && rec.dim == slow.dim);
                CHECK(!rec.has_id ||
                      point_id_cmp(&rec.id, &slow.id) == 0);
                CHECK(memcmp(rec.vec, slow.vec, rec.dim * sizeof(float)) ==
                      0);
                CHECK(rec.payload_len == slow.payload_len);
                CHECK(!rec.payload_len ||
                      memcmp(rec.payload, slow.payload, rec.payload_len) ==
                          0);
            } else {
                CHECK(err.code != 0 && err.msg[0]);
                CHECK(strcmp(err.msg, err2.msg) == 0);
            }
        } else if (!have_header) {
            if (cli_csv_header(p, len, &csv, &err) != 0) {
                CHECK(err.code != 0 && err.msg[0]);
                break;
            }
            CHECK(csv.ncol >= 1);
            have_header = 1;
        } else {
            if (cli_parse_csv(&csv, p, len, &rec, &err) == 0) {
                check_record(&rec);
                if (csv.dim)
                    CHECK(rec.dim == csv.dim);
            } else {
                CHECK(err.code != 0 && err.msg[0]);
            }
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    cli_csv_free(&csv);
    cli_record_free(&rec);
    cli_record_free(&slow);
    return 0;
}
