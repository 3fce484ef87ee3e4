/*
 * main.c - the one `vectron` binary: dispatches to its subcommands
 * (DESIGN section 1): `serve`, and the client verbs (import, search,
 * collections, status; src/cli, docs/cli.md). `pd`, `worker`, `gateway`
 * and `reranker` come with the cluster.
 *
 * Threading: the main thread; a subcommand starts whatever it needs.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cmd/serve_config.h"
#include "gateway/api.h"

int vx_serve_main(int argc, char **argv);

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vectron <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve        run the database in one process (PD + worker +\n"
            "               gateway on one data directory)\n"
            "  import       load vectors from fvecs, JSONL or CSV into a "
            "collection\n"
            "  search       nearest neighbours of a vector or a point\n"
            "  collections  list, create, delete or describe collections\n"
            "  status       the node's shards: leader, role, indexes, "
            "points, bytes\n"
            "  config-doc   print docs/config.md (the knob table as Markdown)\n"
            "  version      print the version\n"
            "\n"
            "`vectron serve --help` lists every knob; `vectron COMMAND --help`\n"
            "the options of a command. The client commands talk to\n"
            "--url (default $VECTRON_URL, else " CLI_DEFAULT_URL ").\n");
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
    if (strcmp(cmd, "import") == 0)
        return cli_import_main(argc - 1, argv + 1);
    if (strcmp(cmd, "search") == 0)
        return cli_search_main(argc - 1, argv + 1);
    if (strcmp(cmd, "collections") == 0)
        return cli_collections_main(argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0)
        return cli_status_main(argc - 1, argv + 1);
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
