"""Search result cache, request log and /metrics of `vectron serve`.

What it checks
--------------
* Result cache (docs/cache.md): a repeated search is answered from the
  cache (``X-Vectron-Cache: hit``, same result, the hit counter moves); a
  write acknowledged with ``wait=true`` (upsert, payload change, delete) is
  visible to the very next search, at eventual and strong consistency, on
  1 and 2 shards, also while another client keeps running the same search
  concurrently (which would plant stale entries if a shard published its
  applied index before the write became searchable); batch forms are
  cached too; ``--search-cache-size 0`` turns it off.
* Request log (docs/request-log.md): one JSON object per line with the
  documented fields and values matching what the client sent and
  received; with ``--request-log-sample 0`` only errors and slow requests
  are written, and slow ones carry ``"slow": true``.
* /metrics (docs/metrics.md): every documented family is present; the
  placement view on one node (1 node up, 0 under-replicated shards, the
  shard count from the catalog), per-shard points / applied index / apply
  lag / index and store sizes, search phase histograms (rerank present),
  request latency by route and status.

How to run
----------
    python3 -m pytest tests/integration/test_observability.py -q
"""

import json
from pathlib import Path
import random
import re
import time
from datetime import datetime

import pytest

from conftest import rand_vec

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics(api):
    status, _ = api.get("/metrics")
    assert status == 200
    out = {}
    for ln in api.last_raw.decode().split("\n"):
        if not ln or ln.startswith("#"):
            continue
        m = SAMPLE_RE.match(ln)
        assert m, ln
        labels = frozenset(LABEL_RE.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(ms, name, **labels):
    return ms.get((name, frozenset(labels.items())))


def create(api, name, dim, distance="Euclid", shards=1, **extra):
    body = {"vectors": {"size": dim, "distance": distance},
            "shard_number": shards}
    body.update(extra)
    assert api.ok("PUT", f"/collections/{name}", body) is True


def upsert(api, c, points):
    api.ok("PUT", f"/collections/{c}/points?wait=true",
           {"points": [{"id": i, "vector": v, "payload": p or {}}
                       for i, v, p in points]})


def cache_header(api):
    return api.last_headers.get("x-vectron-cache")


def search(api, c, body, path="query", params=""):
    res = api.ok("POST", f"/collections/{c}/points/{path}{params}", body)
    return res, cache_header(api)


@pytest.mark.parametrize("shards", [1, 2])
@pytest.mark.parametrize("consistency", ["", "?consistency=majority"])
def test_write_visible_to_next_search(server, shards, consistency):
    api = server.api
    c = f"cache_vis_{shards}_{'strong' if consistency else 'ev'}"
    dim = 8
    rng = random.Random(7 + shards)
    create(api, c, dim, shards=shards)
    upsert(api, c, [(i, rand_vec(rng, dim, 10), {"i": i})
                    for i in range(1, 200)])
    origin = [0.0] * dim
    body = {"query": origin, "limit": 3, "with_payload": True}

    first, h1 = search(api, c, body, params=consistency)
    again, h2 = search(api, c, body, params=consistency)
    assert (h1, h2) == ("miss", "hit")
    assert again == first

    for k in range(25):
        # Each new point is nearer the origin than everything before it.
        pid = 10_000 + k
        v = [0.0] * dim
        v[k % dim] = 1.0 / (k + 2)
        upsert(api, c, [(pid, v, {"k": k})])
        res, h = search(api, c, body, params=consistency)
        assert h == "miss", f"write {pid} did not change the cache key"
        assert res["points"][0]["id"] == pid, res
        assert res["points"][0]["payload"] == {"k": k}
        res2, h = search(api, c, body, params=consistency)
        assert h == "hit" and res2 == res

    # A payload change and a delete are writes too.
    api.ok("POST", f"/collections/{c}/points/payload?wait=true",
           {"payload": {"new": True}, "points": [10_024]})
    res, h = search(api, c, body, params=consistency)
    assert h == "miss" and res["points"][0]["payload"] == {"k": 24,
                                                          "new": True}
    api.ok("POST", f"/collections/{c}/points/delete?wait=true",
           {"points": [10_024]})
    res, h = search(api, c, body, params=consistency)
    assert h == "miss"
    assert 10_024 not in [p["id"] for p in res["points"]]
    assert res["points"][0]["id"] == 10_023


def test_write_visible_while_others_search(server):
    """Another client keeps running the same search while writes land: a
    result cached from a half-applied write would be served after the
    acknowledgement."""
    import threading

    api = server.api
    c = "cache_race"
    dim = 4
    create(api, c, dim, shards=2)
    upsert(api, c, [(1, [5.0] * dim, None)])
    body = {"query": [0.0] * dim, "limit": 1}
    stop = threading.Event()
    errors = []

    def hammer():
        cl = server.client()
        try:
            while not stop.is_set():
                st, _ = cl.post(f"/collections/{c}/points/query", body)
                if st != 200:
                    errors.append(st)
        finally:
            cl.close()

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 60
        for k in range(150):
            assert time.monotonic() < deadline
            pid = 100 + k
            v = [0.0] * dim
            v[k % dim] = 4.0 / (k + 2)
            upsert(api, c, [(pid, v, None)])
            res, _ = search(api, c, body)
            assert res["points"][0]["id"] == pid, (k, res)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors


def test_cache_hits_batch_and_metrics(server):
    api = server.api
    c = "cache_batch"
    dim = 4
    rng = random.Random(3)
    create(api, c, dim, distance="Cosine", shards=2)
    upsert(api, c, [(i, rand_vec(rng, dim), None) for i in range(1, 50)])
    before = metrics(api)
    hits0 = metric(before, "vectron_search_cache_hits_total")
    body = {"searches": [{"vector": rand_vec(rng, dim), "limit": 5},
                         {"vector": rand_vec(rng, dim), "limit": 2}]}
    r1, h1 = search(api, c, body, "search/batch")
    r2, h2 = search(api, c, body, "search/batch")
    assert (h1, h2) == ("miss", "hit") and r1 == r2
    assert [len(x) for x in r2] == [5, 2]
    qb = {"searches": [{"query": 7, "limit": 3}]}
    r1, h1 = search(api, c, qb, "query/batch")
    r2, h2 = search(api, c, qb, "query/batch")
    assert (h1, h2) == ("miss", "hit") and r1 == r2
    # The key holds the raw body (docs/cache.md): the same request with
    # other whitespace is another entry, and gives the same answer.
    st, js = api.request("POST", f"/collections/{c}/points/query/batch",
                         raw=b'{ "searches" : [ {"query":7, "limit":3} ] }',
                         headers={"Content-Type": "application/json"})
    assert st == 200 and cache_header(api) == "miss"
    assert js["result"] == r1
    after = metrics(api)
    assert metric(after, "vectron_search_cache_hits_total") >= hits0 + 2
    assert metric(after, "vectron_search_cache_entries") >= 2
    assert 0 < metric(after, "vectron_search_cache_bytes") <= metric(
        after, "vectron_search_cache_max_bytes")
    # Errors are not cached and not looked up.
    st, _ = api.post(f"/collections/{c}/points/query", {"query": [1, 2]})
    assert st == 400 and cache_header(api) is None


def test_cache_off(make_server):
    srv = make_server(["--search-cache-size", "0"])
    srv.start()
    api = srv.api
    create(api, "c", 2)
    upsert(api, "c", [(1, [1.0, 2.0], None)])
    for _ in range(3):
        res, h = search(api, "c", {"query": [1.0, 2.0], "limit": 1})
        assert h is None and res["points"][0]["id"] == 1
    ms = metrics(api)
    assert metric(ms, "vectron_search_cache_max_bytes") == 0
    assert metric(ms, "vectron_search_cache_hits_total") == 0


def read_log(path, want, timeout=10.0):
    """The parsed lines of the request log once it has at least `want`."""
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= want or time.monotonic() > deadline:
            return [json.loads(ln) for ln in lines]
        time.sleep(0.05)


def test_request_log_contents(make_server, tmp_path):
    log = tmp_path / "requests.log"
    srv = make_server(["--request-log", str(log)])
    srv.start()
    api = srv.api
    create(api, "rl", 3, shards=2)
    body = {"points": [{"id": 1, "vector": [1, 2, 3]}]}
    api.ok("PUT", "/collections/rl/points?wait=true", body)
    sent = json.dumps({"query": [1, 2, 3], "limit": 1}).encode()
    st, _ = api.request("POST", "/collections/rl/points/query", raw=sent,
                        headers={"Content-Type": "application/json"})
    assert st == 200
    got_bytes = len(api.last_raw)
    st, _ = api.request("POST", "/collections/rl/points/query", raw=sent,
                        headers={"Content-Type": "application/json"})
    st, _ = api.get("/collections/nope")
    assert st == 404
    st, _ = api.get("/no/such/route")
    assert st == 404
    lines = read_log(log, 6)
    # Servers may log their own probes (/readyz) first.
    lines = [ln for ln in lines if ln["route"] != "readyz"]
    assert len(lines) == 6, lines
    keys = {"time", "key_id", "client", "method", "route", "path",
            "collection", "status", "latency_ms", "request_bytes",
            "response_bytes", "shards", "slow"}
    for ln in lines:
        assert keys <= set(ln), ln
        assert ln["key_id"] is None
        assert ln["client"].startswith("127.0.0.1:")
        assert ln["latency_ms"] >= 0 and ln["slow"] is False
        datetime.strptime(ln["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    create_ln, up, q1, q2, nf, nr = lines
    assert (create_ln["route"], create_ln["method"], create_ln["status"],
            create_ln["collection"]) == ("collection_create", "PUT", 200,
                                         "rl")
    assert up["route"] == "points_upsert" and up["shards"] == 1
    assert up["request_bytes"] == len(json.dumps(body))
    assert q1["route"] == "points_query" and q1["shards"] == 2
    assert q1["request_bytes"] == len(sent)
    assert q1["response_bytes"] == got_bytes
    assert (q1["cache"], q2["cache"]) == ("miss", "hit")
    assert q1["searches"] == 1 and q1["limit"] == 1
    assert (nf["route"], nf["status"], nf["collection"]) == (
        "collection_get", 404, "nope")
    assert (nr["route"], nr["status"], nr["collection"],
            nr["path"]) == ("none", 404, None, "/no/such/route")


def test_request_log_sampling_and_slow(make_server, tmp_path):
    log = tmp_path / "requests.log"
    srv = make_server(["--request-log", str(log), "--request-log-sample",
                       "0", "--slow-query-ms", "1ms"])
    srv.start()
    api = srv.api
    # Creating a collection (Raft group, LMDB, fsync) takes well over 1 ms.
    create(api, "s", 2)
    for _ in range(20):
        api.get("/healthz")
    st, _ = api.get("/collections/missing")
    assert st == 404
    lines = read_log(log, 2)
    time.sleep(0.5)  # anything else would have been flushed by now
    lines = read_log(log, 2)
    for ln in lines:
        assert ln["status"] >= 400 or ln["slow"] is True, ln
        if ln["slow"]:
            assert ln["latency_ms"] >= 1.0, ln
    routes = [ln["route"] for ln in lines]
    assert "collection_create" in routes
    assert "collection_get" in routes
    assert routes.count("healthz") <= 20
    fast_ok = [ln for ln in lines if ln["status"] < 400 and not ln["slow"]]
    assert not fast_ok
    ms = metrics(api)
    assert metric(ms, "vectron_slow_requests_total") >= 1
    assert "slow-query" in srv.tail(200)


DOCUMENTED = [
    "vectron_http_requests_total", "vectron_http_request_duration_seconds",
    "vectron_http_request_bytes_total", "vectron_http_response_bytes_total",
    "vectron_search_phase_seconds", "vectron_collections",
    "vectron_metadata_epoch", "vectron_pd_nodes_up", "vectron_pd_shards",
    "vectron_pd_under_replicated_shards", "vectron_search_cache_hits_total",
    "vectron_search_cache_misses_total", "vectron_search_cache_inserts_total",
    "vectron_search_cache_evictions_total",
    "vectron_search_cache_expired_total",
    "vectron_search_cache_too_large_total", "vectron_search_cache_bytes",
    "vectron_search_cache_entries", "vectron_search_cache_max_bytes",
    "vectron_shard_points", "vectron_shard_pending",
    "vectron_shard_applied_index", "vectron_shard_index_points",
    "vectron_shard_index_memory_bytes", "vectron_shard_store_bytes",
    "vectron_raft_term", "vectron_raft_commit_index",
    "vectron_raft_applied_index", "vectron_raft_apply_lag",
    "vectron_raft_is_leader", "vectron_request_log_lines_total",
    "vectron_request_log_dropped_total", "vectron_slow_requests_total",
]


def test_metrics_families_and_values(make_server):
    from pathlib import Path
    srv = make_server()
    srv.start()
    api = srv.api
    create(api, "m1", 4, shards=3)
    create(api, "m2", 4, shards=1)
    pts = [(i, [float(i), 1.0, 2.0, 3.0], None) for i in range(1, 101)]
    upsert(api, "m1", pts)
    before = metrics(api)
    for _ in range(3):
        search(api, "m1", {"query": [1.0, 1.0, 2.0, 3.0], "limit": 5})
    ms = metrics(api)
    text = api.last_raw.decode()
    for name in DOCUMENTED:
        assert f"# TYPE {name} " in text, name
    doc = (Path(__file__).resolve().parents[2] / "docs" /
           "metrics.md").read_text()
    for name in DOCUMENTED:
        assert f"`{name}`" in doc, f"{name} not in docs/metrics.md"

    assert metric(ms, "vectron_pd_nodes_up") == 1
    assert metric(ms, "vectron_pd_shards") == 4
    assert metric(ms, "vectron_pd_under_replicated_shards") == 0
    assert metric(ms, "vectron_collections") == 2
    points = sum(metric(ms, "vectron_shard_points", collection="m1",
                        shard=str(k)) for k in range(3))
    assert points == 100
    for k in range(3):
        lab = {"collection": "m1", "shard": str(k)}
        assert metric(ms, "vectron_raft_is_leader", **lab) == 1
        assert metric(ms, "vectron_raft_apply_lag", **lab) == 0
        assert metric(ms, "vectron_raft_applied_index", **lab) <= metric(
            ms, "vectron_raft_commit_index", **lab)
        assert metric(ms, "vectron_shard_store_bytes", **lab) > 0
        assert metric(ms, "vectron_shard_index_memory_bytes", **lab) > 0
    assert metric(ms, "vectron_shard_applied_index", collection="m2",
                  shard="0") is not None

    def count(m, phase):
        return metric(m, "vectron_search_phase_seconds_count", phase=phase)
    assert count(ms, "route") - count(before, "route") == 3
    assert count(ms, "shards") - count(before, "shards") == 1  # 2 hits
    assert count(ms, "merge") - count(before, "merge") == 1
    assert count(ms, "rerank") == 0
    assert metric(ms, "vectron_search_cache_hits_total") - metric(
        before, "vectron_search_cache_hits_total") == 2
    assert metric(ms, "vectron_http_request_duration_seconds_count",
                  route="points_query", status="2xx") == 3
    # An upsert advances the applied index of the shard it touched.
    applied = [metric(ms, "vectron_shard_applied_index", collection="m1",
                      shard=str(k)) for k in range(3)]
    upsert(api, "m1", [(1, [9.0, 9.0, 9.0, 9.0], None)])
    ms2 = metrics(api)
    after = [metric(ms2, "vectron_shard_applied_index", collection="m1",
                    shard=str(k)) for k in range(3)]
    assert sum(a > b for a, b in zip(after, applied)) == 1
    assert all(a >= b for a, b in zip(after, applied))


def indexer_nices(pid):
    """Niceness of each vx-indexer thread of process pid (/proc)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() != "vx-indexer":
                continue
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        # Fields after the parenthesised comm; nice is field 19 (1-based).
        out.append(int(stat.rsplit(")", 1)[1].split()[16]))
    return out


def test_indexer_priority_and_backpressure(make_server):
    """--indexer-nice sets each shard's indexer thread's niceness, and
    --index-max-pending bounds the writes waiting for it: with a slow
    graph (m 64, ef_construct 512, 512 dimensions) and back-to-back
    batches of 200, pending never exceeds the bound plus the batch just
    applied, and every point is indexed in the end. Without the bound the
    same load leaves thousands pending (checked below, so the test can
    fail)."""
    dim, batch, bound = 512, 200, 100
    rng = random.Random(5)

    def run(args, rounds):
        srv = make_server(args)
        srv.start()
        api = srv.client()
        create(api, "bp", dim, hnsw_config={"m": 64, "ef_construct": 512})
        worst = 0
        for r in range(rounds):
            upsert(api, "bp", [(r * batch + i,
                                [rng.random() for _ in range(dim)], None)
                               for i in range(batch)])
            pend = metric(metrics(api), "vectron_shard_pending",
                          collection="bp", shard="0")
            worst = max(worst, int(pend))
        nices = indexer_nices(srv.pid)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if metric(metrics(api), "vectron_shard_pending", collection="bp",
                      shard="0") == 0:
                break
            time.sleep(0.2)
        ms = metrics(api)
        assert metric(ms, "vectron_shard_index_points", collection="bp",
                      shard="0") == rounds * batch
        srv.terminate()
        return worst, nices

    worst, nices = run(["--index-max-pending", str(bound),
                        "--indexer-nice", "7"], 10)
    assert nices and all(n == 7 for n in nices), nices
    assert worst < bound + batch, worst
    free, _ = run(["--index-max-pending", "0", "--indexer-nice", "0"], 10)
    print(f"pending at most {worst} with a bound of {bound}, {free} with none")
    assert free >= bound + batch, f"no backlog without the bound ({free})"
