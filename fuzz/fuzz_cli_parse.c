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
 * reused across lines, as the importer does. Any inconsistency aborts.
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
    cli_record rec = {0};
    cli_csv csv = {0};
    int have_header = 0;
    vectron_error err;
    while (p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!csv_mode) {
            if (cli_parse_jsonl(p, len, &rec, &err) == 0)
                check_record(&rec);
            else
                CHECK(err.code != 0 && err.msg[0]);
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
    return 0;
}
