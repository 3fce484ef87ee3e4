/*
 * cli_collections.c - `vectron collections list|create|delete|info`, over
 * the REST collection routes (GET /collections, PUT, DELETE and GET
 * /collections/{name}).
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
    fprintf(
        out,
        "usage: vectron collections list [options]\n"
        "       vectron collections create NAME --dim N [--distance D] "
        "[options]\n"
        "       vectron collections delete NAME [options]\n"
        "       vectron collections info NAME [options]\n"
        "\n"
        "options:\n"
        "  --url URL            server (default $VECTRON_URL, else %s)\n"
        "  --json               print the server's JSON response\n"
        "  --timeout S          request timeout in seconds (default 60)\n"
        "  -h, --help           this help\n"
        "create:\n"
        "  --dim N              vector dimension (required)\n"
        "  --distance D         Cosine, Euclid or Dot (default Cosine)\n"
        "  --shards N           shard_number (default: the server's)\n"
        "  --replication N      replication_factor\n"
        "  --m N                HNSW m (links per node)\n"
        "  --ef-construct N     HNSW ef_construct\n"
        "  --quantization int8  int8 scalar quantization\n"
        "  --read-consistency C strong, bounded or eventual\n",
        CLI_DEFAULT_URL);
}

typedef struct copts {
    const char *url, *distance, *quant, *consistency;
    unsigned long dim, shards, replication, m, ef_construct, timeout;
    int raw;
} copts;

static int list(cli_conn *c, const copts *o, vectron_error *err)
{
    json_t *j = NULL;
    int rc = cli_call(c, "GET", "/collections", NULL, 0, NULL, &j, NULL, err);
    if (rc)
        return rc;
    if (o->raw) {
        char *t;
        size_t n;
        if ((rc = vx_json_dump(j, &t, &n, err)) == 0) {
            printf("%s\n", t);
            vx_free(t);
        }
        json_decref(j);
        return rc;
    }
    json_t *cols =
        json_object_get(json_object_get(j, "result"), "collections");
    cli_table t;
    cli_table_init(&t, 1);
    const char *head[] = {"NAME"};
    cli_table_row(&t, head);
    size_t i;
    json_t *v;
    json_array_foreach(cols, i, v)
    {
        const char *row[] = {json_string_value(json_object_get(v, "name"))};
        cli_table_row(&t, row);
    }
    rc = cli_table_print(&t, stdout, err);
    cli_table_free(&t);
    json_decref(j);
    return rc;
}

static int info(cli_conn *c, const char *path, const copts *o,
                vectron_error *err)
{
    json_t *j = NULL;
    int rc = cli_call(c, "GET", path, NULL, 0, NULL, &j, NULL, err);
    if (rc)
        return rc;
    if (o->raw) {
        char *t;
        size_t n;
        if ((rc = vx_json_dump(j, &t, &n, err)) == 0) {
            printf("%s\n", t);
            vx_free(t);
        }
        json_decref(j);
        return rc;
    }
    json_t *r = json_object_get(j, "result");
    json_t *cf = json_object_get(r, "config");
    json_t *params = json_object_get(cf, "params");
    json_t *vec = json_object_get(params, "vectors");
    json_t *hnsw = json_object_get(cf, "hnsw_config");
    struct {
        const char *k;
        json_t *v;
    } rows[] = {
        {"status", json_object_get(r, "status")},
        {"points", json_object_get(r, "points_count")},
        {"indexed vectors", json_object_get(r, "indexed_vectors_count")},
        {"dimension", json_object_get(vec, "size")},
        {"distance", json_object_get(vec, "distance")},
        {"shards", json_object_get(params, "shard_number")},
        {"replication factor", json_object_get(params, "replication_factor")},
        {"read consistency", json_object_get(params, "read_consistency")},
        {"hnsw m", json_object_get(hnsw, "m")},
        {"hnsw ef_construct", json_object_get(hnsw, "ef_construct")},
        {"quantization", json_object_get(cf, "quantization_config")},
        {"payload indexes", json_object_get(r, "payload_schema")},
    };
    cli_table t;
    cli_table_init(&t, 2);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char cell[512];
        cli_json_cell(rows[i].v, cell, sizeof cell);
        const char *row[] = {rows[i].k, cell};
        cli_table_row(&t, row);
    }
    rc = cli_table_print(&t, stdout, err);
    cli_table_free(&t);
    json_decref(j);
    return rc;
}

static int create(cli_conn *c, const char *path, const copts *o,
                  vectron_error *err)
{
    json_t *b = json_pack("{s:{s:I,s:s}}", "vectors", "size",
                          (json_int_t)o->dim, "distance", o->distance);
    if (!b)
        return vx_err(err, VECTRON_NOMEM, "out of memory");
    if (o->shards)
        json_object_set_new(b, "shard_number",
                            json_integer((json_int_t)o->shards));
    if (o->replication)
        json_object_set_new(b, "replication_factor",
                            json_integer((json_int_t)o->replication));
    if (o->consistency)
        json_object_set_new(b, "read_consistency",
                            json_string(o->consistency));
    if (o->m || o->ef_construct) {
        json_t *h = json_object();
        if (o->m)
            json_object_set_new(h, "m", json_integer((json_int_t)o->m));
        if (o->ef_construct)
            json_object_set_new(h, "ef_construct",
                                json_integer((json_int_t)o->ef_construct));
        json_object_set_new(b, "hnsw_config", h);
    }
    if (o->quant)
        json_object_set_new(b, "quantization_config",
                            json_pack("{s:{s:s}}", "scalar", "type", o->quant));
    char *text = NULL;
    size_t n = 0;
    int rc = vx_json_dump(b, &text, &n, err);
    json_decref(b);
    if (rc)
        return rc;
    rc = cli_call(c, "PUT", path, text, n, NULL, NULL, NULL, err);
    vx_free(text);
    return rc;
}

int cli_collections_main(int argc, char **argv)
{
    enum {
        O_URL = 256, O_JSON, O_TIMEOUT, O_DIM, O_DISTANCE, O_SHARDS,
        O_REPLICATION, O_M, O_EF, O_QUANT, O_CONSISTENCY
    };
    static const struct option lo[] = {
        {"url", required_argument, NULL, O_URL},
        {"json", no_argument, NULL, O_JSON},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"dim", required_argument, NULL, O_DIM},
        {"distance", required_argument, NULL, O_DISTANCE},
        {"shards", required_argument, NULL, O_SHARDS},
        {"replication", required_argument, NULL, O_REPLICATION},
        {"m", required_argument, NULL, O_M},
        {"ef-construct", required_argument, NULL, O_EF},
        {"quantization", required_argument, NULL, O_QUANT},
        {"read-consistency", required_argument, NULL, O_CONSISTENCY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    copts o = {.distance = "Cosine", .timeout = 60};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        unsigned long *num = NULL, max = 0;
        switch (ch) {
        case O_URL:
            o.url = optarg;
            break;
        case O_JSON:
            o.raw = 1;
            break;
        case O_TIMEOUT:
            num = &o.timeout, max = 86400;
            break;
        case O_DIM:
            num = &o.dim, max = 65536;
            break;
        case O_SHARDS:
            num = &o.shards, max = 1024;
            break;
        case O_REPLICATION:
            num = &o.replication, max = 16;
            break;
        case O_M:
            num = &o.m, max = 1000000;
            break;
        case O_EF:
            num = &o.ef_construct, max = 1000000;
            break;
        case O_DISTANCE:
            if (strcmp(optarg, "Cosine") && strcmp(optarg, "Euclid") &&
                strcmp(optarg, "Dot")) {
                fprintf(stderr, "vectron collections: --distance: expected "
                                "Cosine, Euclid or Dot\n");
                return CLI_EXIT_USAGE;
            }
            o.distance = optarg;
            break;
        case O_QUANT:
            if (strcmp(optarg, "int8") != 0) {
                fprintf(stderr, "vectron collections: --quantization: only "
                                "int8 is supported\n");
                return CLI_EXIT_USAGE;
            }
            o.quant = optarg;
            break;
        case O_CONSISTENCY:
            o.consistency = optarg;
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
        if (num && (cli_parse_uint(optarg, max, num) || !*num)) {
            fprintf(stderr,
                    "vectron collections: --%s: expected an integer in "
                    "1..%lu\n",
                    lo[ch - O_URL].name, max);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[optind];
    const char *name = optind + 1 < argc ? argv[optind + 1] : NULL;
    int needs_name = strcmp(sub, "list") != 0;
    if (strcmp(sub, "list") && strcmp(sub, "create") &&
        strcmp(sub, "delete") && strcmp(sub, "info")) {
        fprintf(stderr,
                "vectron collections: unknown subcommand '%s' (list, create, "
                "delete, info)\n",
                sub);
        return CLI_EXIT_USAGE;
    }
    if (argc - optind != (needs_name ? 2 : 1)) {
        fprintf(stderr, needs_name ? "vectron collections %s: expected one "
                                     "collection name\n"
                                   : "vectron collections %s: unexpected "
                                     "argument\n",
                sub);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(sub, "create") == 0 && !o.dim) {
        fprintf(stderr, "vectron collections create: --dim is required\n");
        return CLI_EXIT_USAGE;
    }

    vectron_error err = {0};
    cli_conn conn;
    char path[1100];
    int rc = cli_conn_open(&conn, o.url, (unsigned)o.timeout * 1000, &err);
    if (rc == 0 && name) {
        memcpy(path, "/collections/", 13);
        rc = cli_escape(name, path + 13, sizeof path - 13, &err);
    }
    if (rc == 0) {
        if (strcmp(sub, "list") == 0) {
            rc = list(&conn, &o, &err);
        } else if (strcmp(sub, "info") == 0) {
            rc = info(&conn, path, &o, &err);
        } else if (strcmp(sub, "create") == 0) {
            rc = create(&conn, path, &o, &err);
            if (rc == 0)
                printf("created collection %s\n", name);
        } else {
            json_t *j = NULL;
            rc = cli_call(&conn, "DELETE", path, NULL, 0, NULL, &j, NULL,
                          &err);
            /* The server answers false (HTTP 200) when there is none. */
            if (rc == 0 && !json_is_true(json_object_get(j, "result")))
                rc = vx_err(&err, VECTRON_NOT_FOUND,
                            "collection %s does not exist", name);
            json_decref(j);
            if (rc == 0)
                printf("deleted collection %s\n", name);
        }
    }
    cli_conn_close(&conn);
    if (rc) {
        char verb[32];
        snprintf(verb, sizeof verb, "collections %s", sub);
        return cli_fail(verb, &err);
    }
    return CLI_EXIT_OK;
}
