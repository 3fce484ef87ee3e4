/*
 * fuzz_dashboard.c - libFuzzer harness for what the dashboard handler
 * reads from a request (gateway/dashboard.h): the If-None-Match header
 * value and the asset name captured from the path.
 *
 * Input: the bytes up to the first NUL are an If-None-Match value checked
 * against every embedded ETag; the bytes after it are a file name looked
 * up in the table. A found asset must carry exactly that name; a value
 * that is one ETag alone, or "*", must match it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/dashboard.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    CHECK(text);
    memcpy(text, data, size);
    text[size] = '\0';
    const char *inm = text;
    size_t first = strlen(text);
    const char *name = first < size ? text + first + 1 : "";
    for (size_t i = 0; i < gw_dashboard_nassets; i++) {
        const char *tag = gw_dashboard_assets[i].etag;
        int m = gw_dashboard_etag_matches(inm, tag);
        if (strcmp(inm, tag) == 0 || strcmp(inm, "*") == 0)
            CHECK(m);
    }
    const gw_dashboard_asset *a = gw_dashboard_find(name);
    if (a)
        CHECK(strcmp(a->name, name) == 0);
    free(text);
    return 0;
}
