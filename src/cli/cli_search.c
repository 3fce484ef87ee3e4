/*
 * cli_search.c - `vectron search`: nearest neighbours of a vector or of a
 * stored point (POST /collections/{name}/points/query), printed as a
 * table (rank, id, score, payload) or as the server's raw JSON.
 *
 * Threading: single-threaded.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"
#include "common/json.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vectron search --collection NAME (--vector JSON | --id ID) "
            "[options]\n"
            "\n"
            "Prints the nearest neighbours of a vector, or of a stored "
            "point.\n"
            "\n"
            "options:\n"
            "  --url URL            server (default $VECTRON_URL, else %s)\n"
            "  -c, --collection NAME  collection to search (required)\n"
            "  --vector JSON        query vector, e.g. '[0.1, 0.2, 0.3]'\n"
            "  --id ID              query with the vector of point ID (an "
            "integer or a UUID;\n"
            "                       the point itself is left out)\n"
            "  -k, --limit K        results (default 10)\n"
            "  --filter JSON        a Qdrant filter, e.g. "
            "'{\"must\":[{\"key\":\"label\",\"match\":{\"value\":3}}]}'\n"
            "  --ef N               hnsw_ef for this query\n"
            "  --exact              exact search (no index)\n"
            "  --with-payload       show payloads\n"
            "  --json               print the server's JSON response\n"
            "  --timeout S          request timeout in seconds (default 30)\n"
            "  -h, --help           this help\n",
            CLI_DEFAULT_URL);
}

int cli_search_main(int argc, char **argv)
{
    enum {
        O_URL = 256, O_VECTOR, O_ID, O_FILTER, O_EF, O_EXACT, O_PAYLOAD,
        O_JSON, O_TIMEOUT
    };
    static const struct option lo[] = {
        {"url", required_argument, NULL, O_URL},
        {"collection", required_argument, NULL, 'c'},
        {"vector", required_argument, NULL, O_VECTOR},
        {"id", required_argument, NULL, O_ID},
        {"limit", required_argument, NULL, 'k'},
        {"filter", required_argument, NULL, O_FILTER},
        {"ef", required_argument, NULL, O_EF},
        {"exact", no_argument, NULL, O_EXACT},
        {"with-payload", no_argument, NULL, O_PAYLOAD},
        {"json", no_argument, NULL, O_JSON},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *url = NULL, *coll = NULL, *vector = NULL, *id = NULL,
               *filter = NULL;
    unsigned long limit = 10, ef = 0, timeout = 30;
    int exact = 0, with_payload = 0, raw = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:k:h", lo, NULL)) != -1) {
        switch (ch) {
        case O_URL:
            url = optarg;
            break;
        case 'c':
            coll = optarg;
            break;
        case O_VECTOR:
            vector = optarg;
            break;
        case O_ID:
            id = optarg;
            break;
        case 'k':
            if (cli_parse_uint(optarg, 1000000, &limit) || !limit) {
                fprintf(stderr, "vectron search: --limit: expected a "
                                "positive integer\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case O_FILTER:
            filter = optarg;
            break;
        case O_EF:
            if (cli_parse_uint(optarg, 1000000, &ef) || !ef) {
                fprintf(stderr,
                        "vectron search: --ef: expected a positive integer\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case O_EXACT:
            exact = 1;
            break;
        case O_PAYLOAD:
            with_payload = 1;
            break;
        case O_JSON:
            raw = 1;
            break;
        case O_TIMEOUT:
            if (cli_parse_uint(optarg, 86400, &timeout) || !timeout) {
                fprintf(stderr, "vectron search: --timeout: expected "
                                "1..86400\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "vectron search: unexpected argument '%s'\n",
                argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (!coll || (!vector == !id)) {
        fprintf(stderr, "vectron search: --collection and one of --vector or "
                        "--id are required\n");
        return CLI_EXIT_USAGE;
    }

    vectron_error err = {0};
    json_t *body = NULL, *q = NULL, *fj = NULL, *resp = NULL;
    char *text = NULL;
    size_t len = 0;
    cli_conn conn = {0};
    int rc;

    if (vector) {
        if ((rc = vx_json_load(vector, strlen(vector), "--vector", &q, &err)))
            goto out;
        if (!json_is_array(q)) {
            rc = vx_err(&err, VECTRON_INVALID,
                        "--vector: expected a JSON array of numbers");
            goto out;
        }
    } else {
        uint64_t u;
        q = vx_parse_u64(id, strlen(id), &u) == 0 ? vx_json_u64(u)
                                                  : json_string(id);
    }
    if (filter &&
        (rc = vx_json_load(filter, strlen(filter), "--filter", &fj, &err)))
        goto out;
    body = json_pack("{s:o,s:I,s:b}", "query", q, "limit", (json_int_t)limit,
                     "with_payload", with_payload);
    q = NULL;
    if (!body) {
        rc = vx_err(&err, VECTRON_NOMEM, "out of memory");
        goto out;
    }
    if (fj) {
        json_object_set_new(body, "filter", fj);
        fj = NULL;
    }
    if (ef || exact) {
        json_t *params = json_object();
        if (ef)
            json_object_set_new(params, "hnsw_ef", json_integer((json_int_t)ef));
        if (exact)
            json_object_set_new(params, "exact", json_true());
        json_object_set_new(body, "params", params);
    }
    if ((rc = vx_json_dump(body, &text, &len, &err)))
        goto out;
    char path[1100];
    memcpy(path, "/collections/", 13);
    if ((rc = cli_escape(coll, path + 13, sizeof path - 40, &err)))
        goto out;
    strcat(path, "/points/query");
    if ((rc = cli_conn_open(&conn, url, (unsigned)timeout * 1000, &err)))
        goto out;
    if ((rc = cli_call(&conn, "POST", path, text, len, NULL, &resp, NULL,
                       &err)))
        goto out;
    if (raw) {
        char *out = NULL;
        size_t n;
        if ((rc = vx_json_dump(resp, &out, &n, &err)))
            goto out;
        printf("%s\n", out);
        vx_free(out);
        goto out;
    }
    json_t *points =
        json_object_get(json_object_get(resp, "result"), "points");
    cli_table t;
    cli_table_init(&t, with_payload ? 4 : 3);
    const char *head[] = {"RANK", "ID", "SCORE", "PAYLOAD"};
    cli_table_row(&t, head);
    size_t i;
    json_t *p;
    json_array_foreach(points, i, p)
    {
        char rank[24], idc[64], score[32], pl[512];
        snprintf(rank, sizeof rank, "%zu", i + 1);
        cli_json_cell(json_object_get(p, "id"), idc, sizeof idc);
        json_t *s = json_object_get(p, "score");
        snprintf(score, sizeof score, "%.6g",
                 json_is_number(s) ? json_number_value(s) : 0.0);
        cli_json_cell(json_object_get(p, "payload"), pl, sizeof pl);
        const char *row[] = {rank, idc, score, pl};
        cli_table_row(&t, row);
    }
    rc = cli_table_print(&t, stdout, &err);
    cli_table_free(&t);
out:
    json_decref(q);
    json_decref(fj);
    json_decref(body);
    json_decref(resp);
    vx_free(text);
    cli_conn_close(&conn);
    return rc ? cli_fail("search", &err) : CLI_EXIT_OK;
}
