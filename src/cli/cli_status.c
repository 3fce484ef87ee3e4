/*
 * cli_status.c - `vectron status`: the node (later the cluster) as tables,
 * from GET /cluster (docs/api.md "Cluster state"): the nodes, then every
 * shard of every collection with its leader, this node's role, Raft term
 * and indexes, points, index memory and bytes on disk.
 *
 * Threading: single-threaded.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"
#include "common/json.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vectron status [options]\n"
            "\n"
            "Prints the nodes and the shards of every collection (GET "
            "/cluster).\n"
            "\n"
            "options:\n"
            "  --url URL            server (default $VECTRON_URL, else %s)\n"
            "  --json               print the server's JSON response\n"
            "  --timeout S          request timeout in seconds (default 30)\n"
            "  -h, --help           this help\n",
            CLI_DEFAULT_URL);
}

/* Bytes as "12.3 MiB". */
static void human(double b, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%.0f B", b);
    else
        snprintf(buf, cap, "%.1f %s", b, units[u]);
}

static void cell(json_t *o, const char *key, char *buf, size_t cap)
{
    cli_json_cell(json_object_get(o, key), buf, cap);
}

int cli_status_main(int argc, char **argv)
{
    enum { O_URL = 256, O_JSON, O_TIMEOUT };
    static const struct option lo[] = {
        {"url", required_argument, NULL, O_URL},
        {"json", no_argument, NULL, O_JSON},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *url = NULL;
    unsigned long timeout = 30;
    int raw = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case O_URL:
            url = optarg;
            break;
        case O_JSON:
            raw = 1;
            break;
        case O_TIMEOUT:
            if (cli_parse_uint(optarg, 86400, &timeout) || !timeout) {
                fprintf(stderr,
                        "vectron status: --timeout: expected 1..86400\n");
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
        fprintf(stderr, "vectron status: unexpected argument '%s'\n",
                argv[optind]);
        return CLI_EXIT_USAGE;
    }
    vectron_error err = {0};
    cli_conn conn;
    json_t *j = NULL;
    int rc = cli_conn_open(&conn, url, (unsigned)timeout * 1000, &err);
    if (rc == 0)
        rc = cli_call(&conn, "GET", "/cluster", NULL, 0, NULL, &j, NULL, &err);
    cli_conn_close(&conn);
    if (rc)
        return cli_fail("status", &err);
    if (raw) {
        char *t;
        size_t n;
        if ((rc = vx_json_dump(j, &t, &n, &err)) == 0) {
            printf("%s\n", t);
            vx_free(t);
        }
        json_decref(j);
        return rc ? cli_fail("status", &err) : CLI_EXIT_OK;
    }
    json_t *r = json_object_get(j, "result");
    cli_table t;
    size_t i, k;
    json_t *v, *s;

    cli_table_init(&t, 4);
    const char *nh[] = {"NODE", "ADDRESS", "STATE", "METADATA ROLE"};
    cli_table_row(&t, nh);
    json_t *raft = json_object_get(r, "raft_info");
    json_array_foreach(json_object_get(r, "nodes"), i, v)
    {
        char id[32], addr[300], st[32], role[32] = "-";
        cell(v, "id", id, sizeof id);
        cell(v, "address", addr, sizeof addr);
        cell(v, "state", st, sizeof st);
        if (json_equal(json_object_get(v, "id"), json_object_get(r, "peer_id")))
            cell(raft, "role", role, sizeof role);
        const char *row[] = {id, addr, st, role};
        cli_table_row(&t, row);
    }
    rc = cli_table_print(&t, stdout, &err);
    cli_table_free(&t);

    cli_table_init(&t, 12);
    const char *sh[] = {"COLLECTION", "SHARD",   "STATE",  "LEADER",
                        "ROLE",       "TERM",    "COMMIT", "APPLIED",
                        "POINTS",     "PENDING", "MEMORY", "DISK"};
    cli_table_row(&t, sh);
    size_t nshards = 0;
    json_array_foreach(json_object_get(r, "collections"), i, v)
    {
        json_array_foreach(json_object_get(v, "shards"), k, s)
        {
            char c[8][64], disk[32], mem[32];
            static const char *const keys[] = {
                "shard_id", "state",        "leader",        "role",
                "term",     "commit_index", "applied_index", "points"};
            for (int f = 0; f < 8; f++)
                cell(s, keys[f], c[f], sizeof c[f]);
            char pending[32];
            cell(s, "pending", pending, sizeof pending);
            json_t *db = json_object_get(s, "disk_bytes");
            human(json_is_number(db) ? json_number_value(db) : 0, disk,
                  sizeof disk);
            json_t *mb = json_object_get(s, "index_memory_bytes");
            human(json_is_number(mb) ? json_number_value(mb) : 0, mem,
                  sizeof mem);
            const char *row[] = {
                json_string_value(json_object_get(v, "name")),
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], pending, mem,
                disk};
            cli_table_row(&t, row);
            nshards++;
        }
    }
    if (rc == 0) {
        printf("\n");
        if (nshards)
            rc = cli_table_print(&t, stdout, &err);
        else
            printf("no collections\n");
    }
    cli_table_free(&t);
    json_decref(j);
    return rc ? cli_fail("status", &err) : CLI_EXIT_OK;
}
