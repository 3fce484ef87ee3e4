/*
 * api_keys.c - the API key routes (admin only, docs/auth.md): create (the
 * secret is returned once, only its hash is replicated), list (never a
 * secret or a hash), revoke. Keys are Placement Driver metadata, changed
 * by PD commands like collections.
 *
 * Threading: any HTTP thread; nothing here keeps state.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "gateway/api.h"
#include "gateway/auth.h"

static const char *const level_text[] = {"", "read-only", "read-write",
                                         "admin"};

static int parse_level(const char *s)
{
    if (!s)
        return 0;
    if (strcmp(s, "admin") == 0)
        return PD_KEY_ADMIN;
    if (strcmp(s, "read-write") == 0 || strcmp(s, "rw") == 0)
        return PD_KEY_WRITE;
    if (strcmp(s, "read-only") == 0 || strcmp(s, "r") == 0)
        return PD_KEY_READ;
    return 0;
}

/* The public view of a key: everything but the hash. */
static json_t *key_json(const pd_api_key *k)
{
    json_t *cols = json_array();
    const char *s = k->scopes;
    while (cols && *s) {
        size_t l = strcspn(s, ",");
        json_array_append_new(cols, json_stringn(s, l));
        s += l;
        if (*s == ',')
            s++;
    }
    return json_pack("{s:s,s:s,s:s,s:o,s:I,s:o}", "id", k->id, "name", k->name,
                     "access", level_text[k->level], "collections", cols,
                     "created_at", (json_int_t)k->created_at, "expires_at",
                     k->expires_at ? json_integer((json_int_t)k->expires_at)
                                   : json_null());
}

/* Reads the create body into k (everything but id and hash). */
static int decode_create(const http_request *r, pd_api_key *k,
                         vectron_error *err)
{
    json_t *j = NULL;
    int rc;
    memset(k, 0, sizeof *k);
    if ((rc = gw_json_load(r->body, r->body_len, &j, err)))
        return rc;
    rc = VECTRON_INVALID;
    if (!json_is_object(j)) {
        vx_err(err, rc, "body: expected a JSON object");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "name") && strcmp(key, "access") &&
            strcmp(key, "collections") && strcmp(key, "expires_at")) {
            vx_err(err, rc,
                   "%.64s: unknown field (expected name, access, "
                   "collections, expires_at)",
                   key);
            goto out;
        }
    }
    json_t *name = json_object_get(j, "name");
    if (name && !json_is_null(name)) {
        if (!json_is_string(name) ||
            json_string_length(name) > PD_KEY_NAME_MAX) {
            vx_err(err, rc, "name: expected a string of at most %u bytes",
                   PD_KEY_NAME_MAX);
            goto out;
        }
        memcpy(k->name, json_string_value(name), json_string_length(name));
    }
    k->level =
        (uint8_t)parse_level(json_string_value(json_object_get(j, "access")));
    if (!k->level) {
        vx_err(err, rc,
               "access: expected \"admin\", \"read-write\" or \"read-only\"");
        goto out;
    }
    json_t *cols = json_object_get(j, "collections");
    if (cols && !json_is_null(cols)) {
        size_t i, pos = 0;
        json_t *c;
        if (!json_is_array(cols)) {
            vx_err(err, rc, "collections: expected an array of names");
            goto out;
        }
        json_array_foreach(cols, i, c)
        {
            size_t l = json_string_length(c);
            if (!json_is_string(c) || pos + l + 1 > PD_KEY_SCOPES_MAX) {
                vx_err(err, rc,
                       "collections[%zu]: expected a name (at most "
                       "%u bytes in all)",
                       i, PD_KEY_SCOPES_MAX);
                goto out;
            }
            if (pos)
                k->scopes[pos++] = ',';
            memcpy(k->scopes + pos, json_string_value(c), l);
            pos += l;
        }
        if (json_array_size(cols) == 0) {
            vx_err(err, rc,
                   "collections: an empty list would grant nothing; "
                   "omit it for every collection");
            goto out;
        }
    }
    json_t *exp = json_object_get(j, "expires_at");
    if (exp && !json_is_null(exp)) {
        if (!json_is_integer(exp) || json_integer_value(exp) <= 0) {
            vx_err(err, rc, "expires_at: expected Unix seconds");
            goto out;
        }
        k->expires_at = (uint64_t)json_integer_value(exp);
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}

void gw_api_create_key(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    vectron_error err = {0};
    pd_api_key k;
    char token[GW_KEY_TOKEN_SIZE];
    uint8_t *buf = NULL;
    size_t len;
    int rc = decode_create(r, &k, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    k.created_at = (uint64_t)time(NULL);
    if (k.expires_at && k.expires_at <= k.created_at) {
        api_fail(&c, VECTRON_INVALID, "expires_at: in the past");
        return;
    }
    gw_auth_new_token(k.id, token);
    gw_auth_hash(token, strlen(token), k.hash);
    if ((rc = pd_cmd_key_create(&k, &buf, &len, &err)) == 0)
        rc = api_pd_submit(&c, buf, len, &err);
    vx_free(buf);
    if (rc == VECTRON_LIMIT) {
        api_fail(&c, rc, "Wrong input: too many API keys");
    } else if (rc) {
        api_fail_err(&c, rc, &err);
    } else {
        json_t *o = key_json(&k);
        if (o)
            json_object_set_new(o, "key", json_string(token));
        vx_log(VECTRON_LOG_INFO, "auth", "key=%s access=%s created by %s", k.id,
               level_text[k.level], r->key_id ? r->key_id : "-");
        api_ok(&c, o);
    }
    sodium_memzero(token, sizeof token);
}

void gw_api_list_keys(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    vectron_error err = {0};
    pd_api_key *keys = NULL;
    size_t n = 0;
    int rc = pd_catalog_key_list(c.api->catalog, &keys, &n, &err);
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, key_json(&keys[i])))
            break;
    vx_free(keys);
    api_ok(&c, json_pack("{s:o}", "keys", arr));
}

void gw_api_revoke_key(void *ctx, const http_request *r, http_response *w)
{
    api_call c;
    api_begin(&c, ctx, r, w);
    vectron_error err = {0};
    uint8_t *buf = NULL;
    size_t len;
    const char *id = http_param(r, "key_id");
    int rc = pd_cmd_key_revoke(id ? id : "", &buf, &len, &err);
    if (rc == 0)
        rc = api_pd_submit(&c, buf, len, &err);
    vx_free(buf);
    if (rc == VECTRON_NOT_FOUND || rc == VECTRON_INVALID) {
        char msg[160];
        snprintf(msg, sizeof msg, "Not found: no API key with id `%.40s`",
                 id ? id : "");
        api_fail(&c, VECTRON_NOT_FOUND, msg);
        return;
    }
    if (rc) {
        api_fail_err(&c, rc, &err);
        return;
    }
    vx_log(VECTRON_LOG_INFO, "auth", "key=%s revoked by %s", id,
           r->key_id ? r->key_id : "-");
    api_ok(&c, json_true());
}
