"""The rerank extension through the REST API (docs/rerank.md).

In-process: every strategy (exact on an int8 collection for each metric,
MMR, payload boosts with recency, RRF) against orders computed here by
brute force or by hand, offset/limit after reranking, the search and batch
endpoints, and bad parameters -> 400.  Service mode: `vectron reranker`
started on a free loopback port answers the same as in-process; a stopped
service, one answering 500 and one slower than the timeout make the gateway
fall back to the search order, flagged in the response and counted in the
metrics.
"""

import http.server
import json
import math
import random
import re
import subprocess
import threading
import time

import pytest

from conftest import (SCORE, _STARTED, _server_env, assert_error,
                      create_collection, f32, free_port)

# The MMR example of tests/unit/test_rerank.c: unit vectors at these angles
# (degrees) from the query (1, 0).
ANGLES = {1: 10, 2: 15, 3: -30, 4: 40}


def unit(deg):
    r = math.radians(deg)
    return [f32(math.cos(r)), f32(math.sin(r))]


def ids(points):
    return [p["id"] for p in points]


def query(api, col, body):
    return api.ok("POST", f"/collections/{col}/points/query", body)["points"]


@pytest.fixture(scope="module")
def small(api):
    """Collection "rr_small": the four MMR vectors, with payloads."""
    create_collection(api, "rr_small", 2, "Cosine")
    payloads = {1: {"price": 10, "meta": {"rating": 4}, "ts": 999900},
                2: {"price": 5.0, "meta": {"rating": 5},
                    "ts": "1970-01-12T13:46:40Z"},
                3: {"price": "x", "ts": "1970-01-12T15:41:40+02:00"},
                4: {}}
    pts = [{"id": i, "vector": unit(a), "payload": payloads[i]}
           for i, a in ANGLES.items()]
    api.ok("PUT", "/collections/rr_small/points?wait=true", {"points": pts})
    return "rr_small"


def test_no_rerank_is_plain_search(api, small):
    got = query(api, small, {"query": [1, 0], "limit": 4})
    assert ids(got) == [1, 2, 3, 4]
    assert "rerank_fallback" not in api.ok(
        "POST", f"/collections/{small}/points/query",
        {"query": [1, 0], "limit": 4})


@pytest.mark.parametrize("lam,want", [(0.5, [1, 3, 2, 4]),
                                      (1.0, [1, 2, 3, 4]),
                                      (0.0, [1, 3, 4, 2])])
def test_mmr(api, small, lam, want):
    got = query(api, small, {"query": [1, 0], "limit": 4,
                             "rerank": {"strategy": "mmr", "lambda": lam}})
    assert ids(got) == want
    # scores stay the cosine similarity to the query
    for p in got:
        assert p["score"] == pytest.approx(
            math.cos(math.radians(ANGLES[p["id"]])), abs=1e-5)


def test_mmr_limit_and_offset(api, small):
    # picks A, C, then B; offset 1 limit 2 -> C, B
    got = query(api, small, {"query": [1, 0], "limit": 2, "offset": 1,
                             "rerank": {"strategy": "mmr", "lambda": 0.5}})
    assert ids(got) == [3, 2]


def test_boost_fields(api, small):
    # price -0.01, meta.rating 0.04 on cosine scores:
    # 1: .985 - .10 + .16 = 1.045; 2: .966 - .05 + .20 = 1.116;
    # 3: .866 (price is a string); 4: .766
    got = query(api, small, {
        "query": [1, 0], "limit": 4, "with_payload": True,
        "rerank": {"strategy": "boost",
                   "boosts": {"fields": {"price": -0.01,
                                         "meta.rating": 0.04}}}})
    assert ids(got) == [2, 1, 3, 4]
    assert got[0]["score"] == pytest.approx(
        math.cos(math.radians(15)) - 0.05 + 0.2, abs=1e-5)
    assert got[0]["payload"]["meta"] == {"rating": 5}


def test_boost_recency(api, small):
    # now 1,000,000 s, half-life 100 s, weight 0.5:
    # 1: .985 + .5 * .5 = 1.235 (100 s old); 2: .966 + .5 = 1.466 (now);
    # 3: .866 + .5 * .125 = .929 (300 s old); 4: .766 (no timestamp)
    got = query(api, small, {
        "query": [1, 0], "limit": 4,
        "rerank": {"strategy": "boost",
                   "boosts": {"recency": {"field": "ts", "half_life_s": 100,
                                          "weight": 0.5,
                                          "now": "1970-01-12T13:46:40Z"}}}})
    assert ids(got) == [2, 1, 3, 4]
    assert got[2]["score"] == pytest.approx(
        math.cos(math.radians(-30)) + 0.0625, abs=1e-5)


def rrf_expected(vectors, queries, k, limit):
    """Ids ranked by reciprocal-rank fusion of cosine rankings."""
    fused = {}
    for q in queries:
        order = sorted(vectors, key=lambda i: (-SCORE["Cosine"][0](
            q, vectors[i]), i))
        for rank, i in enumerate(order, 1):
            fused[i] = fused.get(i, 0.0) + 1.0 / (k + rank)
    return [i for i, _ in sorted(fused.items(),
                                 key=lambda kv: (-kv[1], kv[0]))][:limit]


def test_rrf(api, small):
    vectors = {i: unit(a) for i, a in ANGLES.items()}
    # The first query ranks 1 2 3 4, the second (given twice, so it counts
    # double) 4 2 1 3; with k = 10 the fusion is 4 2 1 3.
    qs = [[1, 0], [0, 1], [0, 1]]
    want = rrf_expected(vectors, qs, 10, 4)
    got = query(api, small, {"query": qs[0], "limit": 4,
                             "rerank": {"strategy": "rrf", "rrf_k": 10,
                                        "queries": qs[1:]}})
    assert want == [4, 2, 1, 3]
    assert ids(got) == want
    assert got[0]["score"] == pytest.approx(1 / 14 + 2 / 11, abs=1e-6)


@pytest.mark.parametrize("distance", ["Euclid", "Cosine", "Dot"])
def test_exact_on_int8(api, distance):
    """Exact rescoring over every point of an int8 collection is the brute
    force top-k with exact scores."""
    rng = random.Random(7)
    dim, n, col = 8, 120, f"rr_int8_{distance.lower()}"
    create_collection(api, col, dim, distance, quantization_config={
        "scalar": {"type": "int8", "quantile": 0.99}})
    vecs = {i: [f32(rng.gauss(0, 1)) for _ in range(dim)]
            for i in range(1, n + 1)}
    api.ok("PUT", f"/collections/{col}/points?wait=true",
           {"points": [{"id": i, "vector": v} for i, v in vecs.items()]})
    fn, higher = SCORE[distance]
    for t in range(5):
        q = [f32(rng.gauss(0, 1)) for _ in range(dim)]
        exact = sorted(vecs, key=lambda i: ((-1 if higher else 1) *
                                            fn(q, vecs[i]), i))[:10]
        got = query(api, col, {"query": q, "limit": 10,
                               "params": {"quantization": {"rescore": False}},
                               "rerank": {"strategy": "exact",
                                          "candidates": n}})
        assert ids(got) == exact, f"query {t}"
        for p in got:
            assert p["score"] == pytest.approx(fn(q, vecs[p["id"]]),
                                               rel=1e-4, abs=1e-4)


def test_search_and_batch_endpoints(api, small):
    body = {"vector": [1, 0], "limit": 4,
            "rerank": {"strategy": "mmr", "lambda": 0.5}}
    got = api.ok("POST", f"/collections/{small}/points/search", body)
    assert ids(got) == [1, 3, 2, 4]
    got = api.ok("POST", f"/collections/{small}/points/query/batch",
                 {"searches": [{"query": [1, 0], "limit": 4,
                                "rerank": {"strategy": "mmr",
                                           "lambda": 0.0}},
                               {"query": [1, 0], "limit": 4}]})
    assert ids(got[0]["points"]) == [1, 3, 4, 2]
    assert ids(got[1]["points"]) == [1, 2, 3, 4]


def test_query_by_point_id(api, small):
    # query = point 1's vector (excluded), exact: 2 (5 deg), 4 (30 deg),
    # 3 (40 deg)
    got = query(api, small, {"query": 1, "limit": 3,
                             "rerank": {"strategy": "exact"}})
    assert ids(got) == [2, 4, 3]


BAD = [
    ({"strategy": "best"}, "rerank.strategy"),
    ({}, "strategy"),
    ({"strategy": "exact", "lambda": 0.3}, "only for strategy"),
    ({"strategy": "mmr", "lambda": 2}, "rerank.lambda"),
    ({"strategy": "exact", "candidates": 1}, "rerank.candidates"),
    ({"strategy": "exact", "candidates": 0}, "rerank.candidates"),
    ({"strategy": "boost"}, "boosts"),
    ({"strategy": "boost", "boosts": {"fields": {"p": "high"}}},
     "rerank.boosts.fields.p"),
    ({"strategy": "boost", "boosts": {"recency": {"field": "ts"}}},
     "half_life_s"),
    ({"strategy": "rrf", "queries": [[1, 2, 3]]}, "rerank.queries[0]"),
    ({"strategy": "rrf", "queries": "x"}, "rerank.queries"),
    ({"strategy": "exact", "timeout_ms": -5}, "rerank.timeout_ms"),
    ({"strategy": "exact", "service": "yes"}, "rerank.service"),
    ({"strategy": "exact", "service": True}, "no rerank service"),
    ("exact", "rerank"),
]


@pytest.mark.parametrize("rerank,msg", BAD)
def test_bad_parameters(api, small, rerank, msg):
    status, body = api.post(f"/collections/{small}/points/query",
                            {"query": [1, 0], "limit": 2, "rerank": rerank})
    err = assert_error(status, body, 400, f"rerank={rerank!r}")
    assert msg in err


def test_rerank_needs_a_query(api, small):
    status, body = api.post(f"/collections/{small}/points/query",
                            {"limit": 2, "rerank": {"strategy": "exact"}})
    assert "needs a query" in assert_error(status, body, 400)


# ---------------------------------------------------------------------------
# service mode


class Reranker:
    """A `vectron reranker` process on a free loopback port."""

    def __init__(self, binary, log_path):
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(binary), "reranker", "--listen", "127.0.0.1:0"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=_server_env())
        _STARTED[self.proc.pid] = self.proc
        deadline = time.monotonic() + 30
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            m = re.search(rb"listening on port (\d+)", log_path.read_bytes())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        assert self.port, log_path.read_bytes()[-2000:]
        self.url = f"http://127.0.0.1:{self.port}/rerank"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        _STARTED.pop(self.proc.pid, None)
        return self.proc.returncode


@pytest.fixture
def reranker(vectron_bin, tmp_path):
    r = Reranker(vectron_bin, tmp_path / "reranker.log")
    yield r
    assert r.stop() in (0, -15), (tmp_path / "reranker.log").read_bytes()


def load_small(api):
    create_collection(api, "s", 2, "Cosine")
    api.ok("PUT", "/collections/s/points?wait=true",
           {"points": [{"id": i, "vector": unit(a),
                        "payload": {"p": i}} for i, a in ANGLES.items()]})


def metric(api, name, labels):
    status, _ = api.get("/metrics")
    assert status == 200
    text = api.last_raw.decode()
    m = re.search(re.escape(name + "{" + labels + "}") + r" (\d+)", text)
    return int(m.group(1)) if m else 0


STRATEGY_BODIES = [
    ({"strategy": "exact"}, [1, 2, 3, 4]),
    ({"strategy": "mmr", "lambda": 0.5}, [1, 3, 2, 4]),
    ({"strategy": "mmr", "lambda": 0.0}, [1, 3, 4, 2]),
    # p weight 0.2: 1: .985+.2, 2: .966+.4, 3: .866+.6, 4: .766+.8
    ({"strategy": "boost", "boosts": {"fields": {"p": 0.2}}}, [4, 3, 2, 1]),
    ({"strategy": "rrf", "queries": [[0, 1]]}, None),
]


def test_service_mode_matches_in_process(make_server, reranker):
    srv = make_server(["--reranker-url", reranker.url])
    srv.start()
    api = srv.api
    load_small(api)
    for rr, want in STRATEGY_BODIES:
        base = {"query": [1, 0], "limit": 4}
        remote = api.ok("POST", "/collections/s/points/query",
                        {**base, "rerank": rr})
        assert "rerank_fallback" not in remote, rr
        local = api.ok("POST", "/collections/s/points/query",
                       {**base, "rerank": {**rr, "service": False}})
        assert ids(remote["points"]) == ids(local["points"]), rr
        for a, b in zip(remote["points"], local["points"]):
            assert a["score"] == pytest.approx(b["score"], abs=1e-5)
        if want:
            assert ids(remote["points"]) == want, rr
    assert metric(api, "vectron_rerank_total", 'mode="service"') == \
        len(STRATEGY_BODIES)
    assert metric(api, "vectron_rerank_total", 'mode="in_process"') == \
        len(STRATEGY_BODIES)


def test_reranker_contract_directly(reranker):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", reranker.port, timeout=10)
    body = {"strategy": "exact", "metric": "l2", "query": [0, 0], "limit": 2,
            "candidates": [{"id": 1, "score": 0, "vector": [3, 4]},
                           {"id": "550e8400-e29b-41d4-a716-446655440000",
                            "score": 0, "vector": [1, 0]},
                           {"id": 3, "score": 0, "vector": [0, 2]}]}
    conn.request("POST", "/rerank", json.dumps(body),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    got = json.loads(resp.read())
    assert resp.status == 200
    assert got == {"ranked": [
        {"id": "550e8400-e29b-41d4-a716-446655440000", "score": 1.0},
        {"id": 3, "score": 2.0}]}
    conn.request("POST", "/rerank", json.dumps({"strategy": "exact"}),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    err = json.loads(resp.read())
    assert resp.status == 400 and "limit" in err["status"]["error"]
    conn.request("GET", "/healthz")
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read()) == {"status": "ok"}
    conn.close()


def assert_fallback(api, reason_metric):
    before = metric(api, "vectron_rerank_fallbacks_total", reason_metric)
    res = api.ok("POST", "/collections/s/points/query",
                 {"query": [1, 0], "limit": 4,
                  "rerank": {"strategy": "mmr", "lambda": 0.0,
                             "timeout_ms": 300}})
    assert api.last_headers.get("vectron-rerank") == "fallback"
    assert res.get("rerank_fallback") is True
    assert ids(res["points"]) == [1, 2, 3, 4]  # the search order
    got = api.ok("POST", "/collections/s/points/search",
                 {"vector": [1, 0], "limit": 2,
                  "rerank": {"strategy": "exact", "timeout_ms": 300}})
    assert ids(got) == [1, 2]
    assert api.last_headers.get("vectron-rerank") == "fallback"
    # rrf falls back to the first query's order
    res = api.ok("POST", "/collections/s/points/query",
                 {"query": [1, 0], "limit": 3,
                  "rerank": {"strategy": "rrf", "queries": [[0, 1]],
                             "timeout_ms": 300}})
    assert res.get("rerank_fallback") is True
    assert ids(res["points"]) == [1, 2, 3]
    assert metric(api, "vectron_rerank_fallbacks_total", reason_metric) == \
        before + 3
    # service: false still reranks in-process, without a fallback
    res = api.ok("POST", "/collections/s/points/query",
                 {"query": [1, 0], "limit": 4,
                  "rerank": {"strategy": "mmr", "lambda": 0.0,
                             "service": False}})
    assert "rerank_fallback" not in res
    assert ids(res["points"]) == [1, 3, 4, 2]


def test_fallback_when_service_stopped(make_server, reranker):
    srv = make_server(["--reranker-url", reranker.url])
    srv.start()
    load_small(srv.api)
    reranker.stop()
    assert_fallback(srv.api, 'reason="error"')


class FakeService:
    """A stand-in rerank service on loopback that either answers after a
    delay (longer than the gateway's timeout) or with HTTP 500. Sleeps are
    bounded and cut short when the test ends."""

    def __init__(self, delay_s=0.0, status=200, rank=None):
        stop = self.stop_event = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                req = json.loads(self.rfile.read(n))
                outer.requests += 1
                stop.wait(delay_s)
                outer.last_request = req
                ranked = rank(req) if rank else [
                    {"id": c["id"], "score": 0}
                    for c in req["candidates"][:req["limit"]]]
                body = json.dumps({"ranked": ranked}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.requests = 0
        self.last_request = None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/rerank"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def test_fallback_on_timeout(make_server):
    slow = FakeService(delay_s=5.0)
    try:
        srv = make_server(["--reranker-url", slow.url])
        srv.start()
        load_small(srv.api)
        assert_fallback(srv.api, 'reason="timeout"')
        assert slow.requests >= 3
    finally:
        slow.close()


def test_fallback_on_service_error(make_server):
    broken = FakeService(status=500)
    try:
        srv = make_server(["--reranker-url", broken.url,
                           "--reranker-timeout", "5s"])
        srv.start()
        load_small(srv.api)
        assert_fallback(srv.api, 'reason="error"')
    finally:
        broken.close()


def test_service_required_but_missing(api, small):
    status, body = api.post(f"/collections/{small}/points/query",
                            {"query": [1, 0], "limit": 2,
                             "rerank": {"strategy": "exact",
                                        "service": True}})
    assert "reranker-url" in assert_error(status, body, 400)
    assert free_port() > 0


def test_custom_service_order(make_server):
    """A service that is not `vectron reranker` (as a learned model would
    be): the gateway returns its order and scores, skipping ids that were
    not candidates and repeats."""
    def rank(req):
        ids_desc = sorted((c["id"] for c in req["candidates"]),
                          reverse=True)
        out = [{"id": 99, "score": 9.0}]  # not a candidate
        out += [{"id": i, "score": 10.0 - i} for i in ids_desc]
        out.insert(2, {"id": ids_desc[0], "score": 0.0})  # a repeat
        return out[:req["limit"]]

    model = FakeService(rank=rank)
    try:
        srv = make_server(["--reranker-url", model.url])
        srv.start()
        load_small(srv.api)
        res = srv.api.ok("POST", "/collections/s/points/query",
                         {"query": [1, 0], "limit": 4, "with_payload": True,
                          "rerank": {"strategy": "boost",
                                     "boosts": {"fields": {"p": 1}}}})
        assert "rerank_fallback" not in res
        # limit 4 asked for: 99 (skipped), 4, 4 again (skipped), 3
        assert ids(res["points"]) == [4, 3]
        assert [p["score"] for p in res["points"]] == [6.0, 7.0]
        assert res["points"][0]["payload"] == {"p": 4}
        req = model.last_request
        assert req["strategy"] == "boost" and req["metric"] == "cosine"
        assert req["limit"] == 4
        assert req["boosts"]["fields"] == {"p": 1}
        assert sorted(c["id"] for c in req["candidates"]) == [1, 2, 3, 4]
        assert all("payload" in c and "vector" not in c
                   for c in req["candidates"])
    finally:
        model.close()
