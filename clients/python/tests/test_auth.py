"""The SDK against a secured `vectron serve` (docs/auth.md): the api_key
argument authenticates every call, and the server's refusals become
Unauthorized, Forbidden and RateLimited."""

import json
import urllib.request

import pytest

import vectron

ADMIN = "sdk-test-admin-key-0123456789"


def _create_key(srv, body):
    req = urllib.request.Request(
        f"http://127.0.0.1:{srv.http_port}/keys", method="POST",
        data=json.dumps(body).encode(),
        headers={"api-key": ADMIN, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["result"]["key"]


def test_secured_server(make_server):
    srv = make_server("--api-key", ADMIN, "--rate-limit-read", "1",
                      "--rate-burst-read", "40")
    url = f"http://127.0.0.1:{srv.http_port}"

    with vectron.Client(url, api_key=ADMIN) as admin:
        admin.create_collection("sec", dim=2, distance="dot")
        admin.upsert("sec", [vectron.Point(id=1, vector=[1.0, 0.0])])
        assert [c for c in admin.list_collections()] == ["sec"]

    with vectron.Client(url) as anon:
        with pytest.raises(vectron.Unauthorized) as e:
            anon.list_collections()
        assert e.value.status == 401
    with vectron.Client(url, api_key="not-a-key") as wrong:
        with pytest.raises(vectron.Unauthorized):
            wrong.count("sec")

    ro = _create_key(srv, {"access": "read-only", "collections": ["sec"]})
    with vectron.Client(url, api_key=ro) as reader:
        assert reader.count("sec") == 1
        hits = reader.search("sec", [1.0, 0.0], limit=1)
        assert [h.id for h in hits] == [1]
        with pytest.raises(vectron.Forbidden) as e:
            reader.upsert("sec", [vectron.Point(id=2, vector=[0.0, 1.0])])
        assert "Write access" in e.value.message
        with pytest.raises(vectron.Forbidden):
            reader.create_collection("other", dim=2, distance="dot")
        # The burst of 40 at 1/s runs out: RateLimited.
        with pytest.raises(vectron.RateLimited) as e:
            for _ in range(60):
                reader.count("sec")
        assert e.value.status == 429
