"""Authentication, API keys and rate limits of a live `vectron serve`
(docs/auth.md): the bootstrap key, keys created, listed and revoked over
the API (and kept across restarts, from the Raft log and from a catalog
snapshot), collection scopes, JWTs (HS256, Qdrant's claims), 401/403/429
answers, and the Prometheus counters.

The per-route matrix (every route x every kind of credential) is the
unit test tests/unit/test_auth.c, which walks the router's own table.
"""

import base64
import hashlib
import hmac
import json
import time

ADMIN = "integration-admin-key-0123456789"
SECRET = "integration-jwt-secret-0123456789abcdef"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims, secret=SECRET):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(),
                   hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def key_hdr(k):
    return {"api-key": k}


def bearer(t):
    return {"Authorization": f"Bearer {t}"}


def make_collection(api, name):
    st, js = api.put(f"/collections/{name}",
                     {"vectors": {"size": 2, "distance": "Dot"}},
                     headers=key_hdr(ADMIN))
    assert st == 200, js


def test_keys_scopes_jwt_and_restart(make_server):
    srv = make_server(["--api-key", ADMIN, "--jwt-secret", SECRET,
                       "--snapshot-threshold", "16",
                       "--snapshot-trailing", "0"])
    srv.start()
    api = srv.api

    # Probes are open; everything else needs a credential.
    for p in ("/healthz", "/livez", "/readyz"):
        assert api.get(p)[0] == 200
    st, js = api.get("/collections")
    assert st == 401 and "Must provide an API key" in js["status"]["error"]
    assert api.last_headers["www-authenticate"].startswith("Bearer")
    assert api.get("/collections", headers=key_hdr("nope"))[0] == 401
    assert api.get("/", headers=key_hdr(ADMIN))[0] == 200
    assert api.get("/metrics", headers=key_hdr(ADMIN))[0] == 200

    make_collection(api, "a")
    make_collection(api, "b")

    # Keys: create (the secret once), list (never a secret), use.
    st, js = api.post("/keys", {"name": "reader of a", "access": "read-only",
                                "collections": ["a"]},
                      headers=key_hdr(ADMIN))
    assert st == 200, js
    ro = js["result"]
    assert ro["key"].startswith("vxk_" + ro["id"] + "_")
    assert ro["access"] == "read-only" and ro["collections"] == ["a"]
    st, js = api.post("/keys", {"access": "read-write"},
                      headers=key_hdr(ADMIN))
    rw = js["result"]
    st, js = api.get("/keys", headers=key_hdr(ADMIN))
    assert st == 200
    listed = {k["id"]: k for k in js["result"]["keys"]}
    assert set(listed) == {ro["id"], rw["id"]}
    assert all("key" not in k and "hash" not in k for k in listed.values())
    assert ro["key"] not in api.last_raw.decode()

    # Bad create bodies.
    for body in ({"access": "root"}, {"access": "admin", "collections": ["a"]},
                 {"access": "read-only", "collections": []},
                 {"access": "read-only", "collections": ["a/b"]},
                 {"access": "read-only", "bogus": 1}):
        assert api.post("/keys", body, headers=key_hdr(ADMIN))[0] == 400, body

    # Scopes and levels.
    h = key_hdr(ro["key"])
    st, js = api.get("/collections", headers=h)
    assert st == 200 and [c["name"] for c in js["result"]["collections"]] \
        == ["a"]
    assert api.get("/collections/a", headers=h)[0] == 200
    st, js = api.get("/collections/b", headers=h)
    assert st == 403 and "collection b" in js["status"]["error"]
    st, js = api.put("/collections/a/points",
                     {"points": [{"id": 1, "vector": [1, 0]}]}, headers=h)
    assert st == 403 and "Write access" in js["status"]["error"]
    assert api.get("/keys", headers=h)[0] == 403
    assert api.get("/metrics", headers=h)[0] == 403  # global read only
    assert api.post("/keys", {"access": "admin"},
                    headers=key_hdr(rw["key"]))[0] == 403
    st, js = api.put("/collections/a/points",
                     {"points": [{"id": 1, "vector": [1, 0]}]},
                     headers=bearer(rw["key"]))
    assert st == 200, js

    # JWTs with Qdrant's claims.
    now = int(time.time())
    t = jwt({"exp": now + 600, "sub": "svc",
             "access": [{"collection": "b", "access": "rw"}]})
    assert api.put("/collections/b/points",
                   {"points": [{"id": 7, "vector": [0, 1]}]},
                   headers=bearer(t))[0] == 200
    assert api.get("/collections/a", headers=bearer(t))[0] == 403
    st, js = api.get("/collections", headers=bearer(
        jwt({"exp": now - 3600, "access": "r"})))
    assert st == 403 and "expired" in js["status"]["error"]
    assert api.get("/collections", headers=bearer(
        jwt({"exp": now + 600, "access": "r"}, secret="wrong")))[0] == 403
    assert api.get("/collections", headers=bearer(
        jwt({"access": "r"})))[0] == 401  # exp is required
    assert api.get("/collections/a", headers=bearer(
        jwt({"exp": now + 600, "access": "r"})))[0] == 200

    # Enough key changes for the PD group to take a snapshot (threshold
    # 16), so that the restart below restores keys from a snapshot and
    # the log tail.
    extra = []
    for i in range(20):
        st, js = api.post("/keys", {"access": "read-only", "name": f"k{i}"},
                          headers=key_hdr(ADMIN))
        assert st == 200
        extra.append(js["result"]["id"])
    for kid in extra:
        assert api.delete(f"/keys/{kid}", headers=key_hdr(ADMIN))[0] == 200
    assert api.delete("/keys/" + extra[0], headers=key_hdr(ADMIN))[0] == 404

    # Revoke: the key stops working at once.
    assert api.delete(f"/keys/{rw['id']}", headers=key_hdr(ADMIN))[0] == 200
    assert api.get("/collections", headers=key_hdr(rw["key"]))[0] == 401

    srv.restart()
    api = srv.api
    assert api.get("/collections/a", headers=key_hdr(ro["key"]))[0] == 200
    assert api.get("/collections", headers=key_hdr(rw["key"]))[0] == 401
    st, js = api.get("/keys", headers=key_hdr(ADMIN))
    assert [k["id"] for k in js["result"]["keys"]] == [ro["id"]]

    # Without the bootstrap key the stored keys still secure the server.
    srv.terminate()
    srv.extra_args = []
    srv.start()
    api = srv.api
    assert api.get("/collections")[0] == 401
    assert api.get("/collections/a", headers=key_hdr(ro["key"]))[0] == 200


def test_rate_limits_and_metrics(make_server):
    # Slow refills (one token per 5 s) keep the counts below exact even
    # on a loaded machine.
    srv = make_server(["--api-key", ADMIN, "--rate-limit-read", "0.2",
                       "--rate-burst-read", "3", "--rate-limit-anonymous",
                       "0.2", "--rate-burst-anonymous", "2"])
    srv.start()
    api = srv.api
    make_collection(api, "a")
    st, js = api.post("/keys", {"access": "read-only"},
                      headers=key_hdr(ADMIN))
    h = key_hdr(js["result"]["key"])
    t0 = time.monotonic()
    statuses = [api.get("/collections/a", headers=h)[0] for _ in range(8)]
    refilled = int((time.monotonic() - t0) * 0.2)
    # The burst of 3 passes; then only what refilled meanwhile.
    assert statuses[:3] == [200, 200, 200], statuses
    assert statuses.count(200) <= 3 + refilled, statuses
    assert statuses.count(429) >= 5 - refilled, statuses
    st, js = api.get("/collections/a", headers=h)
    assert st == 429 and int(api.last_headers["retry-after"]) >= 1
    assert "rate limit" in js["status"]["error"]
    # Bad credentials are limited per address, like anonymous ones.
    bad = [api.get("/collections", headers=key_hdr("guess"))[0]
           for _ in range(5)]
    assert bad[:2] == [401, 401] and 429 in bad, bad
    # The admin key has no limit configured.
    for _ in range(10):
        assert api.get("/collections", headers=key_hdr(ADMIN))[0] == 200
    st, _ = api.get("/metrics", headers=key_hdr(ADMIN))
    text = api.last_raw.decode()
    lim = {line.split("{")[1].split("}")[0]: int(line.split()[-1])
           for line in text.splitlines()
           if line.startswith("vectron_rate_limited_total{")}
    assert lim['level="read"'] >= 2 and lim['level="anonymous"'] >= 1, lim
    assert 'vectron_auth_denied_total{status="401"}' in text


def test_open_without_credentials(make_server):
    srv = make_server([])
    srv.start()
    api = srv.api
    assert api.get("/collections")[0] == 200
    # An open server is open for everything, /keys included: the first
    # key created there secures it (docs/auth.md prefers the api-key knob).
    st, js = api.post("/keys", {"access": "admin"})
    assert st == 200, js
    key = js["result"]["key"]
    # The first stored key turns authentication on.
    assert api.get("/collections")[0] == 401
    assert api.get("/collections", headers=key_hdr(key))[0] == 200


def test_cli_keys(make_server, vectron_bin):
    import os
    import subprocess
    srv = make_server(["--api-key", ADMIN])
    srv.start()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VECTRON_")}
    env["VECTRON_URL"] = f"http://127.0.0.1:{srv.http_port}"

    def run(*args, key=None):
        e = dict(env)
        if key:
            e["VECTRON_CLIENT_KEY"] = key
        p = subprocess.run([str(vectron_bin), *args], env=e, timeout=60,
                           capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr

    rc, out, err = run("keys", "list")
    assert rc == 1 and "HTTP 401" in err
    rc, out, err = run("keys", "create", "--access", "read-only",
                       "--collection", "a", "--name", "cli test",
                       "--expires-in", "3600", key=ADMIN)
    assert rc == 0, err
    fields = dict(line.split(":", 1) for line in out.splitlines())
    kid, secret = fields["id"].strip(), fields["key"].strip()
    assert secret.startswith(f"vxk_{kid}_") and fields["scope"].strip() == "a"
    rc, out, err = run("keys", "list", "--api-key", ADMIN)
    assert rc == 0 and kid in out and "cli test" in out and secret not in out
    # The new key authenticates the other verbs through the environment.
    rc, out, err = run("collections", "list", key=secret)
    assert rc == 0, err
    rc, out, err = run("keys", "list", key=secret)
    assert rc == 1 and "HTTP 403" in err
    rc, out, err = run("keys", "revoke", kid, key=ADMIN)
    assert rc == 0 and kid in out
    rc, out, err = run("collections", "list", key=secret)
    assert rc == 1 and "HTTP 401" in err
    rc, out, err = run("keys", "revoke", kid, key=ADMIN)
    assert rc == 1 and "HTTP 404" in err
    rc, out, err = run("keys", "create", key=ADMIN)
    assert rc == 2 and "--access is required" in err
