/*
 * cli_keys.c - `vectron keys create|list|revoke`: API key management over
 * the admin routes POST /keys, GET /keys, DELETE /keys/{id} (docs/auth.md).
 * The calling credential must be an admin's: --api-key, else
 * $VECTRON_CLIENT_KEY. `create` prints the new key's secret once (the
 * server keeps only its hash).
 *
 * Threading: single-threaded.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/common.h"
#include "common/json.h"

#define VERB "vectron keys"
#define MAX_COLLECTIONS 256

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vectron keys create --access LEVEL [--collection NAME]... "
            "[--name TEXT]\n"
            "                           [--expires-in SECONDS] [options]\n"
            "       vectron keys list [options]\n"
            "       vectron keys revoke ID [options]\n"
            "\n"
            "Manages API keys (admin only; docs/auth.md). create prints the "
            "new key's\nsecret once: store it, the server keeps only a hash.\n"
            "\n"
            "create:\n"
            "  --access LEVEL       admin, read-write or read-only\n"
            "  --collection NAME    limit the key to this collection "
            "(repeatable;\n"
            "                       default: every collection; not for "
            "admin keys)\n"
            "  --name TEXT          a label shown by list\n"
            "  --expires-in S       the key stops working after S seconds\n"
            "options:\n"
            "  --url URL            server (default $VECTRON_URL, else %s)\n"
            "  --api-key KEY        an admin credential (default "
            "$" CLI_KEY_ENV ")\n"
            "  --json               print the server's JSON response\n"
            "  --timeout S          request timeout in seconds (default 30)\n"
            "  -h, --help           this help\n",
            CLI_DEFAULT_URL);
}

static void print_keys(json_t *keys)
{
    cli_table t;
    size_t i;
    json_t *k;
    cli_table_init(&t, 6);
    const char *head[] = {"ID",   "ACCESS",  "COLLECTIONS",
                          "NAME", "CREATED", "EXPIRES"};
    cli_table_row(&t, head);
    json_array_foreach(keys, i, k)
    {
        char id[64], acc[32], cols[512], name[160], created[32], expires[32];
        cli_json_cell(json_object_get(k, "id"), id, sizeof id);
        cli_json_cell(json_object_get(k, "access"), acc, sizeof acc);
        json_t *c = json_object_get(k, "collections");
        if (json_array_size(c) == 0) {
            snprintf(cols, sizeof cols, "*");
        } else {
            size_t o = 0, j;
            json_t *v;
            cols[0] = '\0';
            json_array_foreach(c, j, v)
            {
                o += (size_t)snprintf(
                    cols + o, o < sizeof cols ? sizeof cols - o : 0, "%s%s",
                    j ? "," : "",
                    json_string_value(v) ? json_string_value(v) : "?");
                if (o >= sizeof cols)
                    break;
            }
        }
        cli_json_cell(json_object_get(k, "name"), name, sizeof name);
        json_t *ca = json_object_get(k, "created_at");
        json_t *ex = json_object_get(k, "expires_at");
        time_t tc = (time_t)json_integer_value(ca);
        strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&tc));
        if (json_is_integer(ex)) {
            time_t te = (time_t)json_integer_value(ex);
            strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%SZ",
                     gmtime(&te));
        } else {
            snprintf(expires, sizeof expires, "never");
        }
        const char *row[] = {id, acc, cols, name, created, expires};
        cli_table_row(&t, row);
    }
    vectron_error err = {0};
    if (cli_table_print(&t, stdout, &err))
        cli_fail("keys", &err);
    cli_table_free(&t);
}

int cli_keys_main(int argc, char **argv)
{
    enum {
        O_URL = 256,
        O_KEY,
        O_JSON,
        O_TIMEOUT,
        O_ACCESS,
        O_COLLECTION,
        O_NAME,
        O_EXPIRES
    };
    static const struct option lo[] = {
        {"url", required_argument, NULL, O_URL},
        {"api-key", required_argument, NULL, O_KEY},
        {"json", no_argument, NULL, O_JSON},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"access", required_argument, NULL, O_ACCESS},
        {"collection", required_argument, NULL, O_COLLECTION},
        {"name", required_argument, NULL, O_NAME},
        {"expires-in", required_argument, NULL, O_EXPIRES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *url = NULL, *key = NULL, *access = NULL, *name = NULL;
    const char *cols[MAX_COLLECTIONS];
    size_t ncols = 0;
    unsigned long timeout = 30, expires_in = 0;
    int raw = 0, ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case O_URL:
            url = optarg;
            break;
        case O_KEY:
            key = optarg;
            break;
        case O_JSON:
            raw = 1;
            break;
        case O_TIMEOUT:
            if (cli_parse_uint(optarg, 86400, &timeout) || !timeout) {
                fprintf(stderr, VERB ": --timeout: expected 1..86400\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case O_ACCESS:
            access = optarg;
            break;
        case O_COLLECTION:
            if (ncols == MAX_COLLECTIONS) {
                fprintf(stderr, VERB ": at most %d --collection\n",
                        MAX_COLLECTIONS);
                return CLI_EXIT_USAGE;
            }
            cols[ncols++] = optarg;
            break;
        case O_NAME:
            name = optarg;
            break;
        case O_EXPIRES:
            if (cli_parse_uint(optarg, 100ul * 365 * 86400, &expires_in) ||
                !expires_in) {
                fprintf(stderr, VERB ": --expires-in: expected seconds\n");
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
    if (optind >= argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[optind];
    int create = strcmp(sub, "create") == 0, list = strcmp(sub, "list") == 0,
        revoke = strcmp(sub, "revoke") == 0;
    if (!create && !list && !revoke) {
        fprintf(stderr, VERB ": unknown command '%s' (create, list, revoke)\n",
                sub);
        return CLI_EXIT_USAGE;
    }
    if (argc - optind != (revoke ? 2 : 1)) {
        fprintf(stderr, VERB " %s: %s\n", sub,
                revoke ? "expected one key ID" : "unexpected argument");
        return CLI_EXIT_USAGE;
    }
    if (create && !access) {
        fprintf(stderr, VERB " create: --access is required (admin, "
                             "read-write or read-only)\n");
        return CLI_EXIT_USAGE;
    }
    if (!create && (access || ncols || name || expires_in)) {
        fprintf(stderr,
                VERB " %s: --access, --collection, --name and "
                     "--expires-in are for create\n",
                sub);
        return CLI_EXIT_USAGE;
    }

    cli_conn conn;
    vectron_error err = {0};
    json_t *res = NULL, *body = NULL;
    char *text = NULL;
    int rc = cli_conn_open(&conn, url, (unsigned)timeout * 1000, &err);
    if (rc)
        return cli_fail("keys", &err);
    if (key)
        conn.api_key = key;
    if (create) {
        body = json_pack("{s:s}", "access", access);
        if (body && name)
            json_object_set_new(body, "name", json_string(name));
        if (body && ncols) {
            json_t *a = json_array();
            for (size_t i = 0; a && i < ncols; i++)
                json_array_append_new(a, json_string(cols[i]));
            json_object_set_new(body, "collections", a);
        }
        if (body && expires_in)
            json_object_set_new(
                body, "expires_at",
                json_integer((json_int_t)time(NULL) + (json_int_t)expires_in));
        text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        if (!text) {
            rc = vx_err(&err, VECTRON_NOMEM, "request body");
        } else {
            rc = cli_call(&conn, "POST", "/keys", text, strlen(text), NULL,
                          &res, NULL, &err);
        }
    } else if (list) {
        rc = cli_call(&conn, "GET", "/keys", NULL, 0, NULL, &res, NULL, &err);
    } else {
        char path[256], esc[200];
        rc = cli_escape(argv[optind + 1], esc, sizeof esc, &err);
        if (rc == 0) {
            snprintf(path, sizeof path, "/keys/%s", esc);
            rc = cli_call(&conn, "DELETE", path, NULL, 0, NULL, &res, NULL,
                          &err);
        }
    }
    if (rc) {
        rc = cli_fail("keys", &err);
        goto out;
    }
    json_t *result = json_object_get(res, "result");
    if (raw) {
        char *s = json_dumps(res, JSON_COMPACT);
        if (s) {
            printf("%s\n", s);
            free(s);
        }
    } else if (create) {
        char acc[32], cl[2048];
        size_t o = 0;
        cli_json_cell(json_object_get(result, "access"), acc, sizeof acc);
        cl[0] = '\0';
        for (size_t i = 0; i < ncols && o < sizeof cl; i++)
            o += (size_t)snprintf(cl + o, sizeof cl - o, "%s%s", i ? "," : "",
                                  cols[i]);
        printf("id:      %s\naccess:  %s\nscope:   %s\nkey:     %s\n",
               json_string_value(json_object_get(result, "id")), acc,
               ncols ? cl : "every collection",
               json_string_value(json_object_get(result, "key")));
        fprintf(stderr, "store the key now: it cannot be shown again\n");
    } else if (list) {
        print_keys(json_object_get(result, "keys"));
    } else {
        printf("revoked %s\n", argv[optind + 1]);
    }
    rc = CLI_EXIT_OK;
out:
    free(text);
    json_decref(body);
    json_decref(res);
    cli_conn_close(&conn);
    return rc;
}
