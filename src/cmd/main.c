/*
 * main.c - the one `vectron` binary: dispatches to its subcommands
 * (DESIGN section 1): `serve` and `reranker` so far; `pd`, `worker`,
 * `gateway` and the client verbs come with the cluster and the tools.
 *
 * Threading: the main thread; a subcommand starts whatever it needs.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/serve_config.h"
#include "gateway/api.h"

int vx_serve_main(int argc, char **argv);
int vx_reranker_main(int argc, char **argv);

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vectron <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve        run the database in one process (PD + worker +\n"
            "               gateway on one data directory)\n"
            "  reranker     serve the rerank strategies over HTTP\n"
            "               (docs/rerank.md)\n"
            "  config-doc   print docs/config.md (the knob table as Markdown)\n"
            "  version      print the version\n"
            "\n"
            "`vectron serve --help` lists every knob.\n");
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
