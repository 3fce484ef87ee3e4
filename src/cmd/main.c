/*
 * main.c - the one `vectron` binary: dispatches to its subcommands
 * (DESIGN section 1): `serve` (everything in one process), the cluster's
 * `pd`, `worker` and `gateway`, the `reranker` service, the client verbs
 * (import, search, collections, status, keys; src/cli, docs/cli.md) and
 * inspection tools.
 *
 * Threading: the main thread; a subcommand starts whatever it needs.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cmd/serve_config.h"
#include "gateway/api.h"

int vx_serve_main(int argc, char **argv);
int vx_pd_main(int argc, char **argv);
int vx_worker_main(int argc, char **argv);
int vx_gateway_main(int argc, char **argv);
int vx_replica_dump_main(int argc, char **argv);
int vx_replica_status_main(int argc, char **argv);
int vx_pd_catalog_main(int argc, char **argv);
int vx_replica_write_main(int argc, char **argv);
int vx_node_main(int argc, char **argv);
int vx_reranker_main(int argc, char **argv);

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: vectron <command> [options]\n"
        "\n"
        "commands:\n"
        "  serve        run the database in one process (PD + worker +\n"
        "               gateway on one data directory)\n"
        "  pd           run a Placement Driver member (cluster metadata)\n"
        "  worker       run a cluster worker (shard replicas)\n"
        "  gateway      run a cluster gateway (the REST API)\n"
        "  replica-dump list the points of one shard replica (JSON)\n"
        "  replica-status  one worker's replicas: role, applied, pending\n"
        "  pd-catalog   print the Placement Driver's catalog (JSON)\n"
        "  node drain   move a worker's replicas away (cluster)\n"
        "  replica-write  write one point to one replica (fault tests)\n"
        "  import       load vectors from fvecs, JSONL or CSV into a "
        "collection\n"
        "  search       nearest neighbours of a vector or a point\n"
        "  collections  list, create, delete or describe collections\n"
        "  status       the node's shards: leader, role, indexes, "
        "points, bytes\n"
        "  keys         create, list or revoke API keys (admin)\n"
        "  reranker     serve the rerank strategies over HTTP\n"
        "               (docs/rerank.md)\n"
        "  config-doc   print docs/config.md (the knob table as Markdown)\n"
        "  version      print the version\n"
        "\n"
        "`vectron serve --help` lists every knob; `vectron COMMAND --help`\n"
        "the options of a command. The client commands talk to\n"
        "--url (default $VECTRON_URL, else " CLI_DEFAULT_URL ") with\n"
        "the credential in $" CLI_KEY_ENV " (docs/auth.md).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return vx_serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "pd") == 0)
        return vx_pd_main(argc - 1, argv + 1);
    if (strcmp(cmd, "worker") == 0)
        return vx_worker_main(argc - 1, argv + 1);
    if (strcmp(cmd, "gateway") == 0)
        return vx_gateway_main(argc - 1, argv + 1);
    if (strcmp(cmd, "replica-dump") == 0)
        return vx_replica_dump_main(argc - 1, argv + 1);
    if (strcmp(cmd, "replica-status") == 0)
        return vx_replica_status_main(argc - 1, argv + 1);
    if (strcmp(cmd, "pd-catalog") == 0)
        return vx_pd_catalog_main(argc - 1, argv + 1);
    if (strcmp(cmd, "replica-write") == 0)
        return vx_replica_write_main(argc - 1, argv + 1);
    if (strcmp(cmd, "node") == 0)
        return vx_node_main(argc - 1, argv + 1);
    if (strcmp(cmd, "import") == 0)
        return cli_import_main(argc - 1, argv + 1);
    if (strcmp(cmd, "search") == 0)
        return cli_search_main(argc - 1, argv + 1);
    if (strcmp(cmd, "collections") == 0)
        return cli_collections_main(argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0)
        return cli_status_main(argc - 1, argv + 1);
    if (strcmp(cmd, "keys") == 0)
        return cli_keys_main(argc - 1, argv + 1);
    if (strcmp(cmd, "reranker") == 0)
        return vx_reranker_main(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("vectron %s\n", VECTRON_VERSION);
        return 0;
    }
    if (strcmp(cmd, "config-doc") == 0) {
        vectron_error err = {0};
        if (vx_serve_config_markdown(stdout, &err)) {
            fprintf(stderr, "vectron: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "vectron: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
