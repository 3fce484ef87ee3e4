"""REST API of `vectron serve` (Qdrant-compatible): good and bad input.

What it checks
--------------
* Happy path of every endpoint with small data, on 1 and 2 shards:
  collections (create, info, list, exists, delete, re-create), upsert in the
  record and the columnar form, retrieve (POST and GET by id), set / delete
  payload, scroll pagination, count, query by vector and by point id, query
  batch, legacy search, score_threshold, with_payload / with_vector, payload
  indexes; scores follow Qdrant (Euclid: distance, Cosine: cosine, Dot: dot
  product) and vectors come back as the exact float32 bytes sent; payload
  values of every JSON type (u64 and i64 extremes, 5.0, escapes, non-BMP
  characters, nesting) come back exactly; the largest documented limit and
  offset are accepted.
* Bad input gets a 4xx with ``{"status": {"error": "<non-empty>"}}`` and
  changes nothing (the point count is unchanged): wrong dimension, NaN /
  Infinity / out-of-range numbers, malformed JSON, unknown collection (404),
  bad ids (negative, fraction, malformed UUID, above 2^64-1), limit above
  10000, unknown fields, and a body above ``--max-body-size`` (413, on a
  second server started with ``--max-body-size 1MiB``).
* Filtered count / scroll / exact and approximate query against a brute
  force computed here over ~500 points with payload indexes (must, should,
  must_not, match value/any, range, has_id, is_empty, dotted keys into
  nested objects); approximate results must all match and keep recall.
* Read-your-writes: a point upserted with ``wait=true`` is found by the next
  approximate query. Delete by ids and by filter.
* Collections and points survive a clean restart (SIGTERM, exit status 0)
  and a kill -9; a deleted collection stays deleted.
* ``/metrics`` parses as Prometheus text; ``/openapi.json`` is an OpenAPI
  document listing these paths.

How to run
----------
    python3 -m pytest tests/integration -q                 # whole suite
    python3 -m pytest tests/integration/test_api.py -q     # this file

(Debian's python3 with python3-pytest; VECTRON_BIN overrides build/vectron.)
"""

import json
import math
import random
import re
import select
import socket
import struct
import time
import zlib

import pytest

from conftest import (SCORE, assert_error, count, create_collection, f32,
                      id_key, rand_vec, same_json, scroll_all, upsert,
                      vec_equal)

U64_MAX = 18446744073709551615


# ---------------------------------------------------------------------------
# helpers


def brute_force(points, query, distance, limit, pred=lambda i, pl: True,
                exclude=()):
    """[(score, id)] best first, Qdrant's scores, over points matching pred.
    points: {id: (vector, payload)}."""
    fn, higher = SCORE[distance]
    scored = [(fn(query, v), pid) for pid, (v, pl) in points.items()
              if pid not in exclude and pred(pid, pl)]
    scored.sort(key=lambda t: (-t[0] if higher else t[0]))
    return scored[:limit]


def score_tol(s):
    return 2e-4 * max(1.0, abs(s))


def check_ranking(got, expected, distance, what):
    """got: server points [{"id","score"}]; expected: brute_force output.
    Tie-tolerant: the score lists agree, and each returned id's true score
    equals the score the server reported for it."""
    assert len(got) == len(expected), (
        f"{what}: {len(got)} results, brute force has {len(expected)}\n got "
        f"{[(p['id'], p['score']) for p in got]}\n exp {expected}")
    truth = {pid: s for s, pid in expected}
    _, higher = SCORE[distance]
    prev = None
    for rank, (p, (es, eid)) in enumerate(zip(got, expected)):
        s = p["score"]
        assert abs(s - es) <= score_tol(es), (
            f"{what}: rank {rank}: score {s} (id {p['id']}), brute force "
            f"{es} (id {eid})\n got {[(q['id'], q['score']) for q in got]}"
            f"\n exp {expected}")
        k = id_key(p["id"])
        if k in truth:
            assert abs(truth[k] - s) <= score_tol(s), (what, k, s, truth[k])
        else:
            # A tie at the cut-off may pick another id with the same score.
            assert abs(s - expected[-1][0]) <= score_tol(s), (
                f"{what}: id {p['id']} (score {s}) is not among the brute "
                f"force results {expected}")
        if prev is not None:
            ok = s <= prev + score_tol(s) if higher else \
                s >= prev - score_tol(s)
            assert ok, f"{what}: scores not ordered: {got}"
        prev = s


def q(api, coll, body):
    return api.ok("POST", f"/collections/{coll}/points/query", body)["points"]


def make_points(rng, n, dim, start=1):
    return {start + i: (rand_vec(rng, dim), {"i": start + i, "g": i % 3})
            for i in range(n)}


def load(api, coll, points, form="points", chunk=200):
    items = [(pid, v, pl) for pid, (v, pl) in points.items()]
    for k in range(0, len(items), chunk):
        upsert(api, coll, items[k:k + chunk],
               form if form != "mixed" else ("points", "batch")[k // chunk
                                                                % 2])


# ---------------------------------------------------------------------------
# service endpoints


def test_service_endpoints(api):
    status, js = api.get("/")
    assert status == 200 and isinstance(js, dict), (status, api.last_raw)
    for path in ("/healthz", "/readyz"):
        status, _ = api.get(path)
        assert status == 200, (path, status, api.last_raw)


def test_envelope(api):
    status, js = api.get("/collections")
    assert status == 200, (status, api.last_raw)
    assert js.get("status") == "ok" and isinstance(js.get("time"),
                                                   (int, float)), js
    assert api.last_headers.get("content-type", "").startswith(
        "application/json"), api.last_headers
    status, js = api.get("/collections/no_such_collection_x")
    assert_error(status, js, 404, "GET unknown collection")
    assert isinstance(js.get("time"), (int, float)), js


# ---------------------------------------------------------------------------
# collections


@pytest.mark.parametrize("shards", [1, 2])
def test_collection_lifecycle(api, shards):
    c = f"life_{shards}"
    assert api.ok("GET", f"/collections/{c}/exists") == {"exists": False}
    assert create_collection(api, c, 8, "Dot", shards=shards) is True
    assert api.ok("GET", f"/collections/{c}/exists") == {"exists": True}
    names = [x["name"] for x in api.ok("GET", "/collections")["collections"]]
    assert c in names
    info = api.ok("GET", f"/collections/{c}")
    params = info["config"]["params"]
    assert params["vectors"]["size"] == 8, info
    assert params["vectors"]["distance"] == "Dot", info
    assert params.get("shard_number", shards) == shards, info
    assert info.get("points_count") in (0, None), info

    status, js = api.put(f"/collections/{c}",
                         {"vectors": {"size": 8, "distance": "Dot"}})
    assert_error(status, js, what="create an existing collection")
    assert status in (400, 409), status

    upsert(api, c, [(1, [1.0] * 8, {"a": 1}), (2, [2.0] * 8, None)])
    assert count(api, c) == 2
    assert api.ok("DELETE", f"/collections/{c}") is True
    assert api.ok("GET", f"/collections/{c}/exists") == {"exists": False}
    status, js = api.get(f"/collections/{c}")
    assert_error(status, js, 404, "info of a deleted collection")
    names = [x["name"] for x in api.ok("GET", "/collections")["collections"]]
    assert c not in names
    status, js = api.delete(f"/collections/{c}")
    assert status in (200, 404), (status, js)
    if status == 200:
        assert js["result"] is False, js

    # Re-created under the same name: empty, new dimension.
    assert create_collection(api, c, 4, "Euclid", shards=shards) is True
    assert count(api, c) == 0
    assert api.ok("POST", f"/collections/{c}/points", {"ids": [1, 2]}) == []
    info = api.ok("GET", f"/collections/{c}")
    assert info["config"]["params"]["vectors"]["size"] == 4
    assert api.ok("DELETE", f"/collections/{c}") is True


# ---------------------------------------------------------------------------
# points


@pytest.mark.parametrize("shards", [1, 2])
def test_upsert_and_retrieve(api, shards):
    c = f"pts_{shards}"
    rng = random.Random(10 + shards)
    create_collection(api, c, 8, "Euclid", shards=shards)
    pts = make_points(rng, 40, 8)
    items = list(pts.items())
    upsert(api, c, [(i, v, p) for i, (v, p) in items[:20]], "points")
    upsert(api, c, [(i, v, p) for i, (v, p) in items[20:]], "batch")
    assert count(api, c) == 40

    got = api.ok("POST", f"/collections/{c}/points",
                 {"ids": list(pts) + [999999], "with_vector": True,
                  "with_payload": True})
    assert len(got) == 40, got
    for rec in got:
        v, pl = pts[rec["id"]]
        assert vec_equal(v, rec["vector"]), (rec, v)
        assert same_json(pl, rec["payload"]), (rec, pl)

    got = api.ok("POST", f"/collections/{c}/points",
                 {"ids": [1, 2], "with_vector": False,
                  "with_payload": False})
    assert sorted(r["id"] for r in got) == [1, 2]
    for rec in got:
        assert rec.get("vector") is None, rec
        assert not rec.get("payload"), rec

    rec = api.ok("GET", f"/collections/{c}/points/7")
    assert rec["id"] == 7 and same_json(pts[7][1], rec["payload"]), rec
    if rec.get("vector") is not None:
        assert vec_equal(pts[7][0], rec["vector"]), rec
    status, js = api.get(f"/collections/{c}/points/123456")
    assert_error(status, js, 404, "GET a missing point")

    # Ids: u64 max and UUIDs (upper case, no hyphens) round trip.
    u = "550E8400E29B41D4A716446655440000"
    v1, v2 = rand_vec(rng, 8), rand_vec(rng, 8)
    upsert(api, c, [(U64_MAX, v1, {"big": True}), (u, v2, None)], "batch")
    got = api.ok("POST", f"/collections/{c}/points",
                 {"ids": [U64_MAX, "550e8400-e29b-41d4-a716-446655440000"],
                  "with_vector": True, "with_payload": True})
    byid = {id_key(r["id"]): r for r in got}
    assert byid[U64_MAX]["id"] == U64_MAX and vec_equal(
        v1, byid[U64_MAX]["vector"]), got
    ur = byid["550e8400-e29b-41d4-a716-446655440000"]
    assert ur["id"] == "550e8400-e29b-41d4-a716-446655440000", ur
    assert vec_equal(v2, ur["vector"]) and not ur.get("payload"), ur
    rec = api.ok("GET",
                 f"/collections/{c}/points/550e8400-e29b-41d4-a716-"
                 f"446655440000")
    assert rec["id"] == "550e8400-e29b-41d4-a716-446655440000", rec
    rec = api.ok("GET", f"/collections/{c}/points/{U64_MAX}")
    assert rec["id"] == U64_MAX, rec

    # Upsert replaces the whole point (payload keys not sent are gone).
    v3 = rand_vec(rng, 8)
    upsert(api, c, [(5, v3, {"new": "x"})])
    rec = api.ok("POST", f"/collections/{c}/points",
                 {"ids": [5], "with_vector": True, "with_payload": True})[0]
    assert vec_equal(v3, rec["vector"]) and rec["payload"] == {"new": "x"}
    assert count(api, c) == 42

    # Unusual float32 values come back bit-exact.
    ext = [f32(1e18), f32(-3.0e15), f32(1.17549435e-38), f32(1e-45),
           f32(0.1), f32(1 / 3), 16777217.0, f32(-2.5e-12)]
    ext = [f32(x) for x in ext]
    upsert(api, c, [(77, ext, None)])
    rec = api.ok("POST", f"/collections/{c}/points",
                 {"ids": [77], "with_vector": True})[0]
    assert vec_equal(ext, rec["vector"]), (ext, rec["vector"])
    # float32 max: stored exactly, or refused as a whole batch with a 4xx.
    huge = [f32(3.4028234e38), f32(-3.4028234e38)] + [1.0] * 6
    status, js = api.put(f"/collections/{c}/points?wait=true",
                         {"points": [{"id": 78, "vector": [2.0] * 8},
                                     {"id": 79, "vector": huge}]})
    if status == 200:
        rec = api.ok("POST", f"/collections/{c}/points",
                     {"ids": [79], "with_vector": True})[0]
        assert vec_equal(huge, rec["vector"]), (huge, rec["vector"])
    else:
        assert_error(status, js, 400, "float32 max in a vector")
        assert api.ok("POST", f"/collections/{c}/points",
                      {"ids": [78, 79]}) == [], \
            "a refused batch was partly applied"
        upsert(api, c, [(78, [2.0] * 8, None)])


def test_payload_set_and_delete(api):
    c = "payload_ops"
    create_collection(api, c, 4, "Euclid", shards=2)
    upsert(api, c, [(i, [float(i)] * 4, {"a": i, "keep": "k"})
                    for i in range(1, 11)])
    res = api.ok("POST", f"/collections/{c}/points/payload?wait=true",
                 {"payload": {"b": "new", "a": -1, "obj": {"x": [1, 2]}},
                  "points": [1, 2, 3]})
    assert res.get("status") == "completed", res
    recs = {r["id"]: r["payload"] for r in api.ok(
        "POST", f"/collections/{c}/points",
        {"ids": list(range(1, 11)), "with_payload": True})}
    for i in (1, 2, 3):
        assert same_json(recs[i], {"a": -1, "keep": "k", "b": "new",
                                   "obj": {"x": [1, 2]}}), recs[i]
    for i in range(4, 11):
        assert same_json(recs[i], {"a": i, "keep": "k"}), recs[i]

    res = api.ok("POST", f"/collections/{c}/points/payload/delete?wait=true",
                 {"keys": ["b", "keep", "nonexistent"], "points": [2, 3, 4]})
    assert res.get("status") == "completed", res
    recs = {r["id"]: r["payload"] for r in api.ok(
        "POST", f"/collections/{c}/points",
        {"ids": [1, 2, 3, 4, 5], "with_payload": True})}
    assert same_json(recs[1], {"a": -1, "keep": "k", "b": "new",
                               "obj": {"x": [1, 2]}}), recs[1]
    assert same_json(recs[2], {"a": -1, "obj": {"x": [1, 2]}}), recs[2]
    assert same_json(recs[4], {"a": 4}), recs[4]
    assert same_json(recs[5], {"a": 5, "keep": "k"}), recs[5]
    assert count(api, c, {"must": [{"key": "keep",
                                    "match": {"value": "k"}}]}) == 7


PAYLOAD_VALUES = {
    "u64_max": U64_MAX,
    "above_int64": 9223372036854775808,
    "int64_min": -9223372036854775808,
    "zero": 0,
    "float": 0.1,
    "tiny": 5e-324,
    "huge": 1.7976931348623157e308,
    "neg_float": -2.5,
    "integral_float": 5.0,
    "str": "caf\u00e9 \U0001f642 \"q\" \\ \n\t",
    "empty_str": "",
    "null": None,
    "t": True,
    "f": False,
    "arr": [1, "two", [3.5, {"x": None}], [], {}],
    "obj": {"a": {"b": {"c": [1, 2, {"d": "deep"}]}}},
    "empty_obj": {},
}


@pytest.mark.parametrize("key", sorted(PAYLOAD_VALUES))
def test_payload_values_round_trip(api, key):
    """Every JSON value type comes back exactly: integers of all u64/i64
    sizes (docs/api-json.md: stored and returned exactly), 5.0 stays a
    real, strings with escapes and non-BMP characters."""
    c = "payload_values"
    if not api.ok("GET", f"/collections/{c}/exists")["exists"]:
        create_collection(api, c, 2, "Euclid", shards=2)
    pid = sorted(PAYLOAD_VALUES).index(key) + 1
    payload = {key: PAYLOAD_VALUES[key], "k": key}
    status, js = api.put(f"/collections/{c}/points?wait=true",
                         {"points": [{"id": pid, "vector": [1.0, 2.0],
                                      "payload": payload}]})
    assert status == 200, (f"upsert with payload {payload!r}: HTTP "
                           f"{status}: {api.last_raw[:300]!r}")
    for rec in (api.ok("GET", f"/collections/{c}/points/{pid}"),
                api.ok("POST", f"/collections/{c}/points",
                       {"ids": [pid]})[0],
                api.ok("POST", f"/collections/{c}/points/scroll",
                       {"offset": pid, "limit": 1})["points"][0]):
        assert same_json(payload, rec["payload"]), (
            f"payload sent {payload!r}, got {rec['payload']!r} (raw "
            f"{api.last_raw[:300]!r})")


@pytest.mark.parametrize("shards", [1, 2])
def test_scroll_and_count(api, shards):
    c = f"scroll_{shards}"
    rng = random.Random(20 + shards)
    create_collection(api, c, 4, "Euclid", shards=shards)
    ids = sorted(rng.sample(range(1, 10000), 53))
    upsert(api, c, [(i, rand_vec(rng, 4), {"odd": i % 2 == 1, "i": i})
                    for i in ids])
    assert count(api, c) == 53
    assert api.ok("POST", f"/collections/{c}/points/count", {}) \
        == {"count": 53}

    pages = []
    offset = None
    for _ in range(20):
        body = {"limit": 7, "with_payload": True, "with_vector": True}
        if offset is not None:
            body["offset"] = offset
        res = api.ok("POST", f"/collections/{c}/points/scroll", body)
        pages.append(res["points"])
        for p in res["points"]:
            assert p["payload"]["i"] == p["id"], p
            assert len(p["vector"]) == 4, p
        offset = res["next_page_offset"]
        if offset is None:
            break
    assert offset is None
    got = [p["id"] for page in pages for p in page]
    assert got == ids, "scroll must list every id once, in id order"
    assert all(len(p) == 7 for p in pages[:-1]), [len(p) for p in pages]
    for a, b in zip(pages, pages[1:]):
        assert b[0]["id"] > a[-1]["id"]

    # offset is the first id returned (inclusive); between ids: the next.
    res = api.ok("POST", f"/collections/{c}/points/scroll",
                 {"offset": ids[10], "limit": 3})
    assert [p["id"] for p in res["points"]] == ids[10:13]
    assert res["next_page_offset"] == ids[13]
    res = api.ok("POST", f"/collections/{c}/points/scroll",
                 {"offset": ids[10] + 1, "limit": 2})
    assert [p["id"] for p in res["points"]] == ids[11:13]
    # Default with_payload is true, with_vector false.
    p0 = api.ok("POST", f"/collections/{c}/points/scroll",
                {"limit": 1})["points"][0]
    assert p0.get("payload") and p0.get("vector") is None, p0

    odd = {"must": [{"key": "odd", "match": {"value": True}}]}
    want = [i for i in ids if i % 2 == 1]
    assert count(api, c, odd) == len(want)
    assert [p["id"] for p in scroll_all(api, c, odd, page=4)] == want
    res = api.ok("POST", f"/collections/{c}/points/scroll",
                 {"limit": 1000})
    assert len(res["points"]) == 53 and res["next_page_offset"] is None


# ---------------------------------------------------------------------------
# query / search


@pytest.mark.parametrize("distance", ["Euclid", "Cosine", "Dot"])
@pytest.mark.parametrize("shards", [1, 2])
def test_query_by_vector(api, distance, shards):
    c = f"q_{distance}_{shards}"
    rng = random.Random(zlib.crc32(c.encode()))
    create_collection(api, c, 8, distance, shards=shards)
    pts = make_points(rng, 200, 8)
    load(api, c, pts, "mixed")
    for t in range(5):
        qv = rand_vec(rng, 8)
        exp = brute_force(pts, qv, distance, 10)
        got = q(api, c, {"query": qv, "limit": 10,
                         "params": {"exact": True}})
        check_ranking(got, exp, distance, f"{c} exact query {t}")
        got = q(api, c, {"query": qv, "limit": 10,
                         "params": {"hnsw_ef": 128}})
        check_ranking(got, exp, distance, f"{c} hnsw query {t} (ef 128, "
                      f"200 points: expected exact)")

    qv = rand_vec(rng, 8)
    got = q(api, c, {"query": qv, "limit": 3, "with_payload": True,
                     "with_vector": True})
    assert len(got) == 3
    for p in got:
        v, pl = pts[p["id"]]
        assert same_json(pl, p["payload"]), p
        if distance == "Cosine":
            # Qdrant returns the normalised vector; the original is fine too.
            n = math.sqrt(sum(x * x for x in v))
            assert vec_equal(v, p["vector"]) or all(
                abs(a - b / n) <= 1e-6 for a, b in zip(p["vector"], v)), (
                "Cosine: neither the vector sent nor its normalisation",
                p, v)
        else:
            assert vec_equal(v, p["vector"]), p
    got = q(api, c, {"query": qv, "limit": 3})
    assert all("payload" not in p or p["payload"] is None for p in got), \
        f"with_payload defaults to false for query: {got}"
    got = q(api, c, {"query": qv, "limit": 3,
                     "with_payload": {"include": ["g"]}})
    for p in got:
        assert p["payload"] == {"g": pts[p["id"]][1]["g"]}, p
    got = q(api, c, {"query": qv, "limit": 3, "with_payload": ["i"]})
    for p in got:
        assert p["payload"] == {"i": p["id"]}, p
    # Default limit is 10.
    assert len(q(api, c, {"query": qv})) == 10


@pytest.mark.parametrize("distance", ["Euclid", "Cosine"])
def test_query_by_id_batch_search_threshold(api, distance):
    c = f"qid_{distance}"
    rng = random.Random(31)
    create_collection(api, c, 8, distance, shards=2)
    pts = make_points(rng, 150, 8)
    load(api, c, pts)

    # Query by point id: the nearest neighbours of that point's vector.
    # Qdrant leaves the point itself out; tolerate it at rank 0 too.
    pid = 42
    got = q(api, c, {"query": pid, "limit": 5, "params": {"exact": True}})
    if got and got[0]["id"] == pid:
        got = got[1:]
        exp = brute_force(pts, pts[pid][0], distance, 4, exclude={pid})
    else:
        exp = brute_force(pts, pts[pid][0], distance, 5, exclude={pid})
    check_ranking(got, exp, distance, f"{c} query by id")
    status, js = api.post(f"/collections/{c}/points/query",
                          {"query": 987654, "limit": 5})
    assert_error(status, js, what="query by a missing point id")

    # Batch: each entry equals the single query.
    qs = [rand_vec(rng, 8) for _ in range(3)]
    bodies = [{"query": qs[0], "limit": 4, "params": {"exact": True}},
              {"query": qs[1], "limit": 2, "params": {"exact": True},
               "filter": {"must": [{"key": "g", "match": {"value": 1}}]}},
              {"query": qs[2], "limit": 6, "params": {"exact": True},
               "with_payload": True}]
    res = api.ok("POST", f"/collections/{c}/points/query/batch",
                 {"searches": bodies})
    assert isinstance(res, list) and len(res) == 3, res
    for body, r in zip(bodies, res):
        single = q(api, c, body)
        assert [p["id"] for p in r["points"]] == [p["id"] for p in single]
    exp = brute_force(pts, qs[1], distance, 2,
                      lambda i, pl: pl["g"] == 1)
    check_ranking(res[1]["points"], exp, distance, "batch with filter")

    # Legacy search: a list of scored points.
    res = api.ok("POST", f"/collections/{c}/points/search",
                 {"vector": qs[0], "limit": 4, "params": {"exact": True}})
    assert isinstance(res, list), res
    check_ranking(res, brute_force(pts, qs[0], distance, 4), distance,
                  "legacy search")

    # score_threshold: Cosine keeps score >= t, Euclid keeps distance <= t.
    fn, higher = SCORE[distance]
    scores = sorted(fn(qs[2], v) for v, _ in pts.values())
    if higher:
        scores.reverse()
    # A threshold in the widest gap between the 10th..30th best scores.
    k = max(range(10, 30), key=lambda j: abs(scores[j] - scores[j + 1]))
    t = (scores[k] + scores[k + 1]) / 2
    got = q(api, c, {"query": qs[2], "limit": 100, "score_threshold": t,
                     "params": {"exact": True}})
    assert len(got) == k + 1, (f"score_threshold {t}: expected the {k + 1} "
                               f"points beyond it, got {len(got)}", got)
    for p in got:
        assert (p["score"] >= t) if higher else (p["score"] <= t), (t, p)


def test_limits(api):
    c = "limits"
    rng = random.Random(5)
    create_collection(api, c, 4, "Euclid")
    upsert(api, c, [(i, rand_vec(rng, 4), None) for i in range(1, 21)])
    qv = rand_vec(rng, 4)
    assert len(q(api, c, {"query": qv, "limit": 10000})) == 20
    # The largest documented limit and offset together are valid too.
    for body in ({"query": qv, "limit": 10, "offset": 5},
                 {"query": qv, "limit": 10, "offset": 100000},
                 {"query": qv, "limit": 10000, "offset": 100000}):
        status, js = api.post(f"/collections/{c}/points/query", body)
        assert status == 200, (body, status, js)
        want = 15 if body["offset"] == 5 else 0
        assert len(js["result"]["points"]) == min(want, body["limit"]), js
    for path, body in [
        ("query", {"query": qv, "limit": 10001}),
        ("query", {"query": qv, "limit": 0}),
        ("query", {"query": qv, "limit": -1}),
        ("search", {"vector": qv, "limit": 10001}),
        ("scroll", {"limit": 10001}),
        ("query/batch", {"searches": [{"query": qv, "limit": 10001}]}),
    ]:
        status, js = api.post(f"/collections/{c}/points/{path}", body)
        assert_error(status, js, 400, f"{path} {body.get('limit')}")


# ---------------------------------------------------------------------------
# bad input: 4xx, JSON error, nothing applied


@pytest.fixture(scope="module")
def bad(api):
    """A 2-shard collection (dim 4) holding 10 points, and a checker that
    asserts the count is still 10 and the points unchanged."""
    c = "bad_input"
    create_collection(api, c, 4, "Euclid", shards=2)
    pts = {i: ([float(i), 0.5, -1.0, 2.0], {"i": i}) for i in range(1, 11)}
    upsert(api, c, [(i, v, p) for i, (v, p) in pts.items()])

    def unchanged(what):
        n = count(api, c)
        assert n == 10, f"{what}: count changed to {n}"
        recs = api.ok("POST", f"/collections/{c}/points",
                      {"ids": list(pts), "with_vector": True,
                       "with_payload": True})
        for r in recs:
            v, pl = pts[r["id"]]
            assert vec_equal(v, r["vector"]) and same_json(pl, r["payload"]),\
                f"{what}: point {r['id']} changed: {r}"
        assert len(recs) == 10, f"{what}: points changed"
    return c, unchanged


def _send_bad(api, bad, method, path, body=None, raw=None, expect=None,
              what=""):
    c, unchanged = bad
    status, js = api.request(method, path.format(c=c), body, raw=raw)
    what = what or f"{method} {path} {raw or body!r}"[:200]
    msg = assert_error(status, js, expect, what)
    unchanged(what)
    return msg


GOOD_V = [1.0, 2.0, 3.0, 4.0]


def test_wrong_dimension(api, bad):
    up = "/collections/{c}/points?wait=true"
    _send_bad(api, bad, "PUT", up, {"points": [
        {"id": 100, "vector": GOOD_V}, {"id": 101, "vector": [1.0, 2.0]},
        {"id": 1, "vector": GOOD_V}]}, expect=400, what="short vector")
    _send_bad(api, bad, "PUT", up, {"points": [
        {"id": 100, "vector": GOOD_V + [5.0]}]}, expect=400,
        what="long vector")
    _send_bad(api, bad, "PUT", up, {"points": [
        {"id": 100, "vector": []}]}, expect=400, what="empty vector")
    _send_bad(api, bad, "PUT", up, {"batch": {
        "ids": [100, 101], "vectors": [GOOD_V, [1.0, 2.0, 3.0]]}},
        expect=400, what="batch short vector")
    _send_bad(api, bad, "PUT", up, {"batch": {
        "ids": [100, 101], "vectors": [GOOD_V]}}, expect=400,
        what="batch one vector for two ids")
    _send_bad(api, bad, "POST", "/collections/{c}/points/query",
              {"query": [1.0, 2.0]}, expect=400, what="query dimension")
    _send_bad(api, bad, "POST", "/collections/{c}/points/search",
              {"vector": [1.0] * 5, "limit": 3}, expect=400,
              what="search dimension")


@pytest.mark.parametrize("text", ["NaN", "-NaN", "Infinity", "-Infinity",
                                  "inf", "\"NaN\"", "null", "1e39",
                                  "-1e39", "1e400", "[1]", "{}", "true"])
def test_non_finite_vector(api, bad, text):
    raw = ('{"points": [{"id": 100, "vector": [1.0, 2.0, 3.0, 4.0]}, '
           '{"id": 1, "vector": [0.5, %s, 1.0, 2.0]}]}' % text)
    _send_bad(api, bad, "PUT", "/collections/{c}/points?wait=true", raw=raw,
              expect=400, what=f"vector element {text}")
    raw = '{"query": [0.5, %s, 1.0, 2.0]}' % text
    _send_bad(api, bad, "POST", "/collections/{c}/points/query", raw=raw,
              expect=400, what=f"query element {text}")


@pytest.mark.parametrize("raw", [
    '{"points": [{"id": 100, "vector": [1, 2, 3, 4]}',
    '{"points": [{"id": 100, "vector": [1, 2, 3, 4]},]}',
    '{"points": [{"id": 100, "vector": [1, 2, 3, 4]}]} x',
    '{"points": [{"id": 100, "vector": [1, 2, 3, 4]}]}{}',
    "{'points': []}",
    '{"points": [{"id": 100, "vector": [1, 2, 3, 4], "payload": '
    '{"a": 1, "a": 2}}]}',
    '{"points": [{"id": 100, "vector": [1, 2, 3, 4], "payload": '
    '{"s": "\\u0000"}}]}',
    b'{"points": [{"id": 100, "vector": [1, 2, 3, 4], "payload": '
    b'{"s": "\xff\xfe"}}]}',
    "",
    "[]",
    "null",
    '"points"',
    '{"points": null}',
    '{"points": {"id": 100}}',
    '{}',
    '{"points": [], "batch": {"ids": [], "vectors": []}}',
])
def test_malformed_upsert(api, bad, raw):
    _send_bad(api, bad, "PUT", "/collections/{c}/points?wait=true",
              raw=raw, expect=400, what=f"malformed body {raw!r}"[:120])


@pytest.mark.parametrize("path,raw", [
    ("/collections/{c}/points/query", '{"query": [1, 2, 3, 4], "limit": }'),
    ("/collections/{c}/points/scroll", '{"limit": 5'),
    ("/collections/{c}/points/count", '{"filter": {"must": [}}'),
    ("/collections/{c}/points/delete?wait=true", '{"points": [1, 2'),
    ("/collections/{c}/points/payload?wait=true", '{"payload": {"a": 1}, '),
    ("/collections/{c}/points", '{"ids": [1, 2,'),
])
def test_malformed_other(api, bad, path, raw):
    _send_bad(api, bad, "POST", path, raw=raw, expect=400,
              what=f"malformed {path}")


def test_malformed_create_collection(api):
    for raw in ['{"vectors": {"size": 4, "distance": "Euclid"}',
                '{"vectors": {"size": 4, "distance": "euclid"}}',
                '{"vectors": {"size": 0, "distance": "Euclid"}}',
                '{"vectors": {"size": -3, "distance": "Euclid"}}',
                '{"vectors": {"size": 4.5, "distance": "Euclid"}}',
                '{"vectors": {"size": 65537, "distance": "Euclid"}}',
                '{"vectors": {"distance": "Euclid"}}',
                '{"vectors": {"size": 4, "distance": "Euclid"}, '
                '"shard_number": 0}',
                '{"vectors": {"size": 4, "distance": "Manhattan"}}',
                '{"vectors": {"size": 4, "distance": "Euclid"}, '
                '"shard_numbr": 2}',
                '{"vectors": {"size": 4, "distance": "Euclid", "sise": 3}}',
                '']:
        status, js = api.put("/collections/badcreate", raw=raw)
        assert_error(status, js, 400, f"create {raw!r}")
        assert api.ok("GET", "/collections/badcreate/exists") == \
            {"exists": False}, f"created by a rejected request {raw!r}"
    for name in ["bad name", "a/b", "x" * 300, ".", ".."]:
        status, js = api.put(f"/collections/{name.replace(' ', '%20')}",
                             {"vectors": {"size": 4, "distance": "Euclid"}})
        if status == 200:
            # Accepting odd names is allowed; they must then work.
            api.ok("DELETE", f"/collections/{name.replace(' ', '%20')}")
        else:
            assert 400 <= status < 500, (name, status, js)


BAD_IDS = [-1, 1.5, 1.0, -0.0, U64_MAX + 1, "not-a-uuid",
           "550e8400-e29b-41d4-a716-44665544000",
           "550e8400-e29b-41d4-a716-4466554400000",
           "550e8400-e29b-41d4-a716-44665544000g", "", True, None,
           [1], {"id": 1}]


@pytest.mark.parametrize("bad_id", BAD_IDS, ids=[repr(x) for x in BAD_IDS])
def test_bad_ids(api, bad, bad_id):
    # Raw JSON text keeps 1.0 and -0.0 as written.
    idtext = json.dumps(bad_id) if not isinstance(bad_id, float) \
        else repr(bad_id)
    raw = ('{"points": [{"id": 100, "vector": [1, 2, 3, 4]}, '
           '{"id": %s, "vector": [1, 2, 3, 4]}]}' % idtext)
    _send_bad(api, bad, "PUT", "/collections/{c}/points?wait=true", raw=raw,
              expect=400, what=f"upsert id {idtext}")
    raw = ('{"batch": {"ids": [100, %s], "vectors": [[1, 2, 3, 4], '
           '[1, 2, 3, 4]]}}' % idtext)
    _send_bad(api, bad, "PUT", "/collections/{c}/points?wait=true", raw=raw,
              expect=400, what=f"batch id {idtext}")
    _send_bad(api, bad, "POST", "/collections/{c}/points",
              raw='{"ids": [1, %s]}' % idtext, expect=400,
              what=f"retrieve id {idtext}")
    _send_bad(api, bad, "POST", "/collections/{c}/points/delete?wait=true",
              raw='{"points": [1, %s]}' % idtext, expect=400,
              what=f"delete id {idtext}")


@pytest.mark.parametrize("text", ["-1", "1.5", "abc", "01", "+1",
                                  "18446744073709551616",
                                  "550e8400-e29b-41d4-a716-44665544000"])
def test_bad_id_in_url(api, bad, text):
    c, unchanged = bad
    status, js = api.get(f"/collections/{c}/points/{text}")
    assert_error(status, js, what=f"GET point {text}")
    assert status in (400, 404), (text, status)


def test_unknown_collection(api):
    u = "/collections/nope_never_created"
    for method, path, body in [
        ("GET", u, None),
        ("GET", u + "/points/1", None),
        ("PUT", u + "/points?wait=true",
         {"points": [{"id": 1, "vector": GOOD_V}]}),
        ("POST", u + "/points", {"ids": [1]}),
        ("POST", u + "/points/delete?wait=true", {"points": [1]}),
        ("POST", u + "/points/payload?wait=true",
         {"payload": {"a": 1}, "points": [1]}),
        ("POST", u + "/points/payload/delete?wait=true",
         {"keys": ["a"], "points": [1]}),
        ("POST", u + "/points/scroll", {}),
        ("POST", u + "/points/count", {}),
        ("POST", u + "/points/query", {"query": GOOD_V}),
        ("POST", u + "/points/query/batch", {"searches": [{"query": GOOD_V}]}),
        ("POST", u + "/points/search", {"vector": GOOD_V, "limit": 1}),
        ("PUT", u + "/index", {"field_name": "a", "field_schema": "keyword"}),
    ]:
        status, js = api.request(method, path, body)
        assert_error(status, js, 404, f"{method} {path}")
    assert api.ok("GET", u + "/exists") == {"exists": False}
    names = [x["name"] for x in api.ok("GET", "/collections")["collections"]]
    assert "nope_never_created" not in names


@pytest.mark.parametrize("path,body", [
    ("PUT /collections/{c}/points?wait=true",
     {"points": [{"id": 100, "vector": GOOD_V}], "foo": 1}),
    ("PUT /collections/{c}/points?wait=true",
     {"points": [{"id": 100, "vector": GOOD_V, "vectr": GOOD_V}]}),
    ("PUT /collections/{c}/points?wait=true",
     {"points": [{"id": 100, "vector": GOOD_V, "payloads": {"a": 1}}]}),
    ("PUT /collections/{c}/points?wait=true",
     {"batch": {"ids": [100], "vectors": [GOOD_V], "payload": [{}]}}),
    ("POST /collections/{c}/points/query", {"query": GOOD_V, "lmit": 3}),
    ("POST /collections/{c}/points/query",
     {"query": GOOD_V, "params": {"hnsw": 3}}),
    ("POST /collections/{c}/points/query",
     {"query": GOOD_V, "filter": {"mus": []}}),
    ("POST /collections/{c}/points/query",
     {"query": GOOD_V, "filter": {"must": [{"key": "i",
                                            "match": {"valu": 1}}]}}),
    ("POST /collections/{c}/points/search", {"vector": GOOD_V, "limit": 3,
                                             "filtr": {}}),
    ("POST /collections/{c}/points/scroll", {"limt": 3}),
    ("POST /collections/{c}/points/count", {"filtr": {}}),
    ("POST /collections/{c}/points", {"ids": [1], "with_vectr": True}),
    ("POST /collections/{c}/points/delete?wait=true",
     {"points": [1], "extra": True}),
    ("POST /collections/{c}/points/delete?wait=true",
     {"filter": {"must": [{"key": "i", "range": {"gtt": 0}}]}}),
    ("POST /collections/{c}/points/payload?wait=true",
     {"payload": {"z": 1}, "points": [1], "pointz": [2]}),
    ("POST /collections/{c}/points/payload/delete?wait=true",
     {"keys": ["i"], "points": [1], "kees": []}),
    ("PUT /collections/{c}/index",
     {"field_name": "i", "field_schema": "integer", "x": 1}),
])
def test_unknown_fields(api, bad, path, body):
    method, p = path.split(" ", 1)
    _send_bad(api, bad, method, p, body, expect=400,
              what=f"unknown field in {path}: {body}")


def test_other_rejections(api, bad):
    c, _ = bad
    for method, path, body in [
        ("POST", "/collections/{c}/points/delete?wait=true", {}),
        ("POST", "/collections/{c}/points/delete?wait=true",
         {"points": [1], "filter": {}}),
        ("POST", "/collections/{c}/points/payload?wait=true",
         {"payload": [1], "points": [1]}),
        ("POST", "/collections/{c}/points/payload?wait=true",
         {"payload": {"a": 1}}),
        ("POST", "/collections/{c}/points/payload/delete?wait=true",
         {"keys": [""], "points": [1]}),
        ("PUT", "/collections/{c}/points?wait=true",
         {"points": [{"id": 100, "vector": GOOD_V, "payload": [1]}]}),
        ("PUT", "/collections/{c}/points?wait=true",
         {"points": [{"id": 100}]}),
        ("PUT", "/collections/{c}/points?wait=true",
         {"points": [{"vector": GOOD_V}]}),
        ("PUT", "/collections/{c}/index",
         {"field_name": "i", "field_schema": "nonsense"}),
        ("PUT", "/collections/{c}/index", {"field_schema": "integer"}),
        ("POST", "/collections/{c}/points/count",
         {"filter": {"must": [{"key": "i", "match": {"any": [1, "a"]}}]}}),
        ("POST", "/collections/{c}/points/count",
         {"filter": {"must": [{"key": "a[0].b", "match": {"value": 1}}]}}),
    ]:
        _send_bad(api, bad, method, path, body, expect=400,
                  what=f"{method} {path} {body}")


def _raw_http(port, head, body_chunks, timeout=30.0):
    """Sends a request (head: bytes up to and including the blank line) and
    its body, reading the answer while sending so an early response is not
    lost. Returns (status, headers, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    deadline = time.monotonic() + timeout
    s.setblocking(False)
    out = bytearray(head)
    chunks = list(body_chunks)
    resp = bytearray()
    closed = False
    write_open = True
    try:
        for _ in range(1_000_000):
            if time.monotonic() > deadline:
                raise AssertionError(f"no complete answer in {timeout}s: "
                                     f"{bytes(resp[:300])!r}")
            if not out and chunks:
                out += chunks.pop(0)
            wl = [s] if (out and write_open) else []
            r, w, _ = select.select([s], wl, [], 0.5)
            if r:
                try:
                    data = s.recv(65536)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                    closed = True
                if not data:
                    closed = True
                resp += data
                parsed = _parse_response(bytes(resp), closed)
                if parsed is not None:
                    return parsed
                if closed:
                    raise AssertionError(f"connection closed before a full "
                                         f"answer: {bytes(resp[:300])!r}")
            if w:
                try:
                    n = s.send(out[:65536])
                    del out[:n]
                except (BrokenPipeError, ConnectionResetError):
                    write_open = False
                except BlockingIOError:
                    pass
        raise AssertionError("too many iterations")
    finally:
        s.close()


def _parse_response(buf, closed):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    body = buf[end + 4:]
    if "content-length" in headers:
        n = int(headers["content-length"])
        return (status, headers, body[:n]) if len(body) >= n else None
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        pos = 0
        while True:
            e = body.find(b"\r\n", pos)
            if e < 0:
                return None
            size = int(body[pos:e].split(b";")[0], 16)
            if size == 0:
                return status, headers, out
            if len(body) < e + 2 + size + 2:
                return None
            out += body[e + 2:e + 2 + size]
            pos = e + 2 + size + 2
    return (status, headers, body) if closed else None


def _json_or_raw(body):
    try:
        return json.loads(body)
    except ValueError:
        return body


def _padded_upsert(size, pid=100):
    head = ('{"points": [{"id": %d, "vector": [1, 2, 3, 4], "payload": '
            '{"pad": "' % pid).encode()
    tail = b'"}}]}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_body_size_cap(make_server):
    srv = make_server(["--max-body-size", "1MiB"], name="bodycap")
    srv.start()
    api = srv.api
    create_collection(api, "cap", 4, "Euclid")
    path = "/collections/cap/points?wait=true"

    small = _padded_upsert(900 * 1024, pid=1)
    status, js = api.put(path, raw=small)
    assert status == 200, ("a 900 KiB body under a 1 MiB cap",
                           status, api.last_raw[:300])

    big = _padded_upsert(2 * 1024 * 1024, pid=2)
    head = (f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\n"
            f"Content-Length: {len(big)}\r\n\r\n").encode()
    chunks = [big[i:i + 65536] for i in range(0, len(big), 65536)]
    status, headers, body = _raw_http(srv.http_port, head, chunks)
    assert_error(status, _json_or_raw(body), 413,
                 "2 MiB body with Content-Length")

    head = (f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n").encode()
    chunked = [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks] + [b"0\r\n\r\n"]
    status, headers, body = _raw_http(srv.http_port, head, chunked)
    assert_error(status, _json_or_raw(body), 413,
                 "2 MiB chunked body")

    # Nothing applied and the server still serves.
    assert count(api, "cap") == 1
    assert api.ok("POST", "/collections/cap/points", {"ids": [2]}) == []
    status, _ = api.get("/readyz")
    assert status == 200


# ---------------------------------------------------------------------------
# filters against a brute force


def values_at(payload, key):
    """Values reached by a dotted path; arrays met before the last segment
    are flattened (docs/api-json.md, Filters)."""
    cur = [payload]
    for seg in key.replace("[]", "").split("."):
        nxt = []
        for v in cur:
            stack = [v]
            while stack:
                x = stack.pop()
                if isinstance(x, list):
                    stack.extend(x)
                elif isinstance(x, dict) and seg in x:
                    nxt.append(x[seg])
        cur = nxt
    return cur


def _scalar_eq(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def _any_value(vals, pred):
    for v in vals:
        if isinstance(v, list):
            if any(pred(e) for e in v):
                return True
        elif pred(v):
            return True
    return False


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def cond_match(c, pid, pl):
    if "must" in c or "should" in c or "must_not" in c:
        return filter_match(c, pid, pl)
    if "has_id" in c:
        return pid in c["has_id"]
    if "is_empty" in c:
        vals = values_at(pl, c["is_empty"]["key"])
        return all(v is None or v == [] for v in vals)
    key = c["key"]
    vals = values_at(pl, key)
    if "match" in c:
        m = c["match"]
        if "value" in m:
            return _any_value(vals, lambda x: _scalar_eq(x, m["value"]))
        if "any" in m:
            return _any_value(vals, lambda x: any(_scalar_eq(x, y)
                                                  for y in m["any"]))
    if "range" in c:
        r = c["range"]

        def inr(x):
            if not _is_number(x):
                return False
            return (("gt" not in r or x > r["gt"]) and
                    ("gte" not in r or x >= r["gte"]) and
                    ("lt" not in r or x < r["lt"]) and
                    ("lte" not in r or x <= r["lte"]))
        return _any_value(vals, inr)
    raise AssertionError(f"test evaluator does not know {c}")


def _clause(f, name):
    v = f.get(name)
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def filter_match(f, pid, pl):
    if not all(cond_match(c, pid, pl) for c in _clause(f, "must")):
        return False
    if any(cond_match(c, pid, pl) for c in _clause(f, "must_not")):
        return False
    should = _clause(f, "should")
    if should and not any(cond_match(c, pid, pl) for c in should):
        return False
    return True


COLORS = ["red", "green", "blue", "yellow"]
SHAPES = ["circle", "square", "tri"]


def _filter_payload(rng, i):
    pl = {"color": rng.choice(COLORS), "n": rng.randrange(100)}
    if rng.random() < 0.9:
        pl["price"] = round(rng.uniform(0, 100), 2)
    if rng.random() < 0.8:
        pl["flag"] = rng.random() < 0.5
    if rng.random() < 0.9:
        pl["tags"] = rng.sample(["a", "b", "c", "d"], rng.randint(0, 3))
    if rng.random() < 0.85:
        pl["meta"] = {"size": rng.randrange(10),
                      "shape": rng.choice(SHAPES),
                      "dims": {"w": rng.randrange(6)}}
    r = rng.randrange(5)
    if r == 1:
        pl["opt"] = None
    elif r == 2:
        pl["opt"] = []
    elif r == 3:
        pl["opt"] = "x"
    elif r == 4:
        pl["opt"] = ["y"]
    return pl


def _filters(rng, ids):
    some = sorted(rng.sample(ids, 40))
    return [
        {},
        {"must": [{"key": "color", "match": {"value": "red"}}]},
        {"must": {"key": "color", "match": {"value": "purple"}}},
        {"must": [{"key": "n", "match": {"value": 42}}]},
        {"must": [{"key": "n", "range": {"gte": 10, "lt": 30}}]},
        {"must": [{"key": "price", "range": {"gt": 50.5}}]},
        {"must": [{"key": "price", "range": {"lte": 20, "gte": 10.25}}]},
        {"must": [{"key": "flag", "match": {"value": True}}]},
        {"must_not": [{"key": "flag", "match": {"value": True}}]},
        {"must": [{"key": "tags", "match": {"any": ["a", "c"]}}]},
        {"must": [{"key": "tags", "match": {"value": "b"}},
                  {"key": "tags", "match": {"value": "d"}}]},
        {"must_not": [{"key": "tags", "match": {"value": "b"}}]},
        {"must": [{"key": "meta.size", "match": {"value": 3}}]},
        {"must": [{"key": "meta.shape", "match": {"any": ["circle",
                                                          "tri"]}}],
         "must_not": [{"key": "color", "match": {"value": "red"}}]},
        {"must": [{"key": "meta.dims.w", "range": {"gte": 2, "lte": 3}}]},
        {"must": [{"key": "meta.size", "range": {"lt": 4}},
                  {"key": "meta.shape", "match": {"value": "square"}}]},
        {"should": [{"key": "color", "match": {"value": "red"}},
                    {"key": "n", "range": {"lt": 10}}]},
        {"should": [{"key": "meta.size", "match": {"value": 1}}]},
        {"must": [{"is_empty": {"key": "opt"}}]},
        {"must_not": [{"is_empty": {"key": "opt"}}]},
        {"must": [{"is_empty": {"key": "tags"}}]},
        {"must": [{"is_empty": {"key": "meta.shape"}}]},
        {"must": [{"has_id": some}]},
        {"must": [{"has_id": some},
                  {"key": "color", "match": {"any": ["red", "blue"]}}]},
        {"must_not": [{"has_id": some}],
         "must": [{"key": "n", "range": {"gte": 50}}]},
        {"must": [{"should": [{"key": "color", "match": {"value": "green"}},
                              {"key": "flag", "match": {"value": False}}]},
                  {"must_not": [{"key": "meta.size",
                                 "range": {"gt": 6}}]}]},
        {"must": [{"key": "color", "match": {"any": ["red", "blue"]}},
                  {"key": "n", "range": {"gte": 20}}],
         "must_not": [{"key": "flag", "match": {"value": True}}],
         "should": [{"key": "tags", "match": {"value": "a"}},
                    {"key": "meta.size", "range": {"lte": 4}}]},
        {"must": [{"key": "color", "match": {"value": "yellow"}},
                  {"key": "price", "range": {"gte": 90}},
                  {"key": "meta.size", "match": {"any": [0, 9]}}]},
    ]


@pytest.mark.parametrize("shards", [1, 2])
def test_filters_against_brute_force(api, shards):
    c = f"filters_{shards}"
    rng = random.Random(700 + shards)
    dim = 8
    create_collection(api, c, dim, "Euclid", shards=shards)
    # Half the indexes exist before the data, half are built over it.
    before = [("color", "keyword"), ("n", "integer"), ("meta.size",
                                                       "integer"),
              ("tags", "keyword")]
    after = [("price", "float"), ("flag", "bool"), ("meta.shape",
                                                    "keyword")]
    for k, s in before:
        api.ok("PUT", f"/collections/{c}/index?wait=true",
               {"field_name": k, "field_schema": s})
    ids = rng.sample(range(1, 100000), 500)
    pts = {i: (rand_vec(rng, dim), _filter_payload(rng, i)) for i in ids}
    load(api, c, pts, "mixed", chunk=100)
    for k, s in after:
        api.ok("PUT", f"/collections/{c}/index?wait=true",
               {"field_name": k, "field_schema": {"type": s}})
    schema = api.ok("GET", f"/collections/{c}").get("payload_schema", {})
    for k, _ in before + after:
        assert k in schema, f"payload index {k} missing from {schema}"

    recalls = []
    for fi, flt in enumerate(_filters(rng, ids)):
        what = f"{c} filter #{fi} {json.dumps(flt)}"

        def pred(pid, pl, flt=flt):
            return filter_match(flt, pid, pl)
        want = {pid for pid, (_, pl) in pts.items() if pred(pid, pl)}
        assert count(api, c, flt) == len(want), what
        got = scroll_all(api, c, flt, page=64)
        assert {p["id"] for p in got} == want, (
            f"{what}: scroll extra {sorted({p['id'] for p in got} - want)}"
            f" missing {sorted(want - {p['id'] for p in got})}")
        for t in range(2):
            qv = rand_vec(rng, dim)
            exp = brute_force(pts, qv, "Euclid", 15, pred)
            res = q(api, c, {"query": qv, "limit": 15, "filter": flt,
                             "params": {"exact": True},
                             "with_payload": True})
            check_ranking(res, exp, "Euclid", f"{what} exact")
            for p in res:
                assert same_json(p["payload"], pts[p["id"]][1]), p
            res = q(api, c, {"query": qv, "limit": 15, "filter": flt})
            bad_ids = [p["id"] for p in res if p["id"] not in want]
            assert not bad_ids, f"{what}: hnsw returned non-matching " \
                f"{bad_ids}"
            assert len(res) == len(exp), (
                f"{what}: hnsw returned {len(res)} points, {len(exp)} "
                f"match")
            if exp:
                top = {pid for _, pid in exp}
                recalls.append(len(top & {p["id"] for p in res}) / len(exp))
        legacy = api.ok("POST", f"/collections/{c}/points/search",
                        {"vector": qv, "limit": 5, "filter": flt,
                         "params": {"exact": True}})
        check_ranking(legacy, brute_force(pts, qv, "Euclid", 5, pred),
                      "Euclid", f"{what} legacy search")
    recall = sum(recalls) / len(recalls)
    assert recall >= 0.95, f"{c}: mean filtered recall@15 {recall:.3f}"


# ---------------------------------------------------------------------------
# writes: read-your-writes, deletes


@pytest.mark.parametrize("shards", [1, 2])
def test_read_your_writes(api, shards):
    c = f"ryw_{shards}"
    rng = random.Random(900 + shards)
    create_collection(api, c, 16, "Cosine", shards=shards)
    load(api, c, make_points(rng, 600, 16), "batch")
    n = 600
    for k in range(60):
        pid = 10_000 + k
        v = rand_vec(rng, 16)
        upsert(api, c, [(pid, v, {"k": k})], "points" if k % 2 else "batch")
        n += 1
        got = q(api, c, {"query": v, "limit": 1, "params": {"exact": False}})
        assert got and got[0]["id"] == pid, (
            f"query right after upsert of {pid} found {got}")
        rec = api.ok("GET", f"/collections/{c}/points/{pid}")
        assert rec["payload"] == {"k": k}, rec
        if k % 10 == 0:
            assert count(api, c) == n
    # Overwrite moves the point: the old vector no longer finds it first.
    old = rand_vec(rng, 16)
    upsert(api, c, [(5, old, None)])
    new = rand_vec(rng, 16)
    upsert(api, c, [(5, new, None)])
    got = q(api, c, {"query": new, "limit": 1})
    assert got[0]["id"] == 5, got
    assert count(api, c) == n


@pytest.mark.parametrize("shards", [1, 2])
def test_delete_points(api, shards):
    c = f"del_{shards}"
    rng = random.Random(1100 + shards)
    create_collection(api, c, 8, "Dot", shards=shards)
    api.ok("PUT", f"/collections/{c}/index?wait=true",
           {"field_name": "color", "field_schema": "keyword"})
    pts = {i: (rand_vec(rng, 8), {"color": rng.choice(COLORS), "i": i})
           for i in range(1, 301)}
    load(api, c, pts)

    res = api.ok("POST", f"/collections/{c}/points/delete?wait=true",
                 {"points": [1, 2, 3, 999999]})
    assert res.get("status") == "completed", res
    for i in (1, 2, 3):
        del pts[i]
    assert api.ok("POST", f"/collections/{c}/points", {"ids": [1, 2, 3]}) \
        == []
    status, js = api.get(f"/collections/{c}/points/2")
    assert_error(status, js, 404, "GET a deleted point")

    red = {"must": [{"key": "color", "match": {"value": "red"}}]}
    n_red = sum(1 for _, pl in pts.values() if pl["color"] == "red")
    assert n_red > 0
    res = api.ok("POST", f"/collections/{c}/points/delete?wait=true",
                 {"filter": red})
    assert res.get("status") == "completed", res
    pts = {i: x for i, x in pts.items() if x[1]["color"] != "red"}
    assert count(api, c, red) == 0
    assert count(api, c) == len(pts)
    assert {p["id"] for p in scroll_all(api, c)} == set(pts)
    for _ in range(10):
        qv = rand_vec(rng, 8)
        exp = brute_force(pts, qv, "Dot", 10)
        check_ranking(q(api, c, {"query": qv, "limit": 10,
                                 "params": {"exact": True}}), exp, "Dot",
                      f"{c} exact after delete")
        got = q(api, c, {"query": qv, "limit": 10})
        assert all(p["id"] in pts for p in got), "deleted point returned"

    # A deleted id can be inserted again.
    v = rand_vec(rng, 8)
    upsert(api, c, [(1, v, {"color": "red"})])
    assert count(api, c, red) == 1
    # A filter that matches nothing deletes nothing.
    api.ok("POST", f"/collections/{c}/points/delete?wait=true",
           {"filter": {"must": [{"key": "color",
                                 "match": {"value": "purple"}}]}})
    assert count(api, c) == len(pts) + 1


def test_create_index(api):
    c = "indexes"
    create_collection(api, c, 4, "Euclid")
    upsert(api, c, [(i, [float(i)] * 4, {"k": f"v{i % 3}", "n": i,
                                         "f": i / 2, "b": i % 2 == 0})
                    for i in range(1, 31)])
    for field, schema in [("k", "keyword"), ("n", "integer"),
                          ("f", "float"), ("b", "bool")]:
        api.ok("PUT", f"/collections/{c}/index?wait=true",
               {"field_name": field, "field_schema": schema})
    info = api.ok("GET", f"/collections/{c}")
    schema = info.get("payload_schema")
    assert isinstance(schema, dict) and {"k", "n", "f", "b"} <= set(schema), \
        info
    for field, dt in [("k", "keyword"), ("n", "integer"), ("f", "float"),
                      ("b", "bool")]:
        assert schema[field].get("data_type") == dt, schema
    assert count(api, c, {"must": [{"key": "k",
                                    "match": {"value": "v1"}}]}) == 10
    assert count(api, c, {"must": [{"key": "n",
                                    "range": {"gt": 10, "lte": 20}}]}) == 10
    assert count(api, c, {"must": [{"key": "f",
                                    "range": {"gte": 7.5}}]}) == 16
    assert count(api, c, {"must": [{"key": "b",
                                    "match": {"value": True}}]}) == 15
    status, js = api.put(f"/collections/{c}/index",
                         {"field_name": "g", "field_schema": "geo"})
    assert_error(status, js, 400, "geo index")


# ---------------------------------------------------------------------------
# restarts


def _snapshot(api):
    """Collections, their config and every point, for comparison."""
    out = {}
    for col in api.ok("GET", "/collections")["collections"]:
        name = col["name"]
        info = api.ok("GET", f"/collections/{name}")
        pts = scroll_all(api, name, page=250, with_payload=True,
                         with_vector=True)
        out[name] = {
            "vectors": info["config"]["params"]["vectors"],
            "shard_number": info["config"]["params"].get("shard_number"),
            "schema": sorted(info.get("payload_schema", {}) or {}),
            "points": {json.dumps(p["id"]): (
                json.dumps(p.get("payload"), sort_keys=True),
                struct.pack(f"<{len(p['vector'])}f", *p["vector"]))
                for p in pts},
        }
    return out


def test_restart_clean_and_kill9(make_server):
    srv = make_server(name="restart")
    srv.start()
    api = srv.api
    rng = random.Random(1300)
    create_collection(api, "keep_a", 8, "Euclid")
    create_collection(api, "keep_b", 5, "Dot", shards=2)
    create_collection(api, "gone", 4, "Cosine")
    api.ok("PUT", "/collections/keep_a/index?wait=true",
           {"field_name": "g", "field_schema": "integer"})
    pa = make_points(rng, 300, 8)
    pb = make_points(rng, 120, 5)
    load(api, "keep_a", pa, "mixed", chunk=64)
    load(api, "keep_b", pb, "batch", chunk=50)
    load(api, "gone", make_points(rng, 10, 4))
    api.ok("POST", "/collections/keep_a/points/delete?wait=true",
           {"points": [1, 2, 3]})
    api.ok("POST", "/collections/keep_b/points/payload?wait=true",
           {"payload": {"extra": "yes"}, "points": [7, 8]})
    assert api.ok("DELETE", "/collections/gone") is True
    before = _snapshot(api)
    assert set(before) == {"keep_a", "keep_b"}
    assert len(before["keep_a"]["points"]) == 297

    rc = srv.terminate()
    assert rc == 0, f"SIGTERM: exit status {rc} (None: had to SIGKILL)"
    srv.start()
    assert _snapshot(srv.api) == before, "state differs after clean restart"

    qv = rand_vec(rng, 8)
    exp = brute_force({i: x for i, x in pa.items() if i > 3}, qv, "Euclid",
                      5)
    check_ranking(q(srv.api, "keep_a", {"query": qv, "limit": 5,
                                        "params": {"exact": True}}), exp,
                  "Euclid", "query after clean restart")
    assert count(srv.api, "keep_a", {"must": [
        {"key": "g", "match": {"value": 1}}]}) == sum(
        1 for i, (_, pl) in pa.items() if i > 3 and pl["g"] == 1)

    # More writes, then kill -9.
    upsert(srv.api, "keep_b", [(1000, [1.0, 2.0, 3.0, 4.0, 5.0], {"z": 1})])
    srv.api.ok("POST", "/collections/keep_a/points/delete?wait=true",
               {"filter": {"must": [{"key": "g", "match": {"value": 0}}]}})
    create_collection(srv.api, "late", 3, "Euclid")
    upsert(srv.api, "late", [(1, [0.0, 1.0, 2.0], None)])
    before = _snapshot(srv.api)
    srv.kill9()
    srv.start()
    assert _snapshot(srv.api) == before, "state differs after kill -9"
    check_ranking(q(srv.api, "keep_a", {"query": qv, "limit": 5,
                                        "params": {"exact": True}}),
                  brute_force({i: x for i, x in pa.items()
                               if i > 3 and x[1]["g"] != 0}, qv, "Euclid",
                              5), "Euclid", "query after kill -9")
    # And it still takes writes.
    upsert(srv.api, "late", [(2, [1.0, 1.0, 1.0], None)])
    assert count(srv.api, "late") == 2
    rc = srv.terminate()
    assert rc == 0, f"SIGTERM: exit status {rc}"


# ---------------------------------------------------------------------------
# /metrics and /openapi.json

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE_RE = re.compile(
    rf"^({METRIC_NAME})(\{{(?:{LABEL}(?:,{LABEL})*,?)?\}})?"
    r" +([^ ]+)(?: +(-?\d+))?$")
VALUE_RE = re.compile(r"^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|"
                      r"[+-]?Inf|NaN)$")


def test_metrics_prometheus(api):
    api.get("/collections")
    status, _ = api.get("/metrics", headers={"Accept": "text/plain"})
    assert status == 200, status
    ctype = api.last_headers.get("content-type", "")
    assert ctype.startswith("text/plain"), ctype
    text = api.last_raw.decode("utf-8")
    assert text.endswith("\n"), "exposition text must end with a newline"
    samples = 0
    types = {}
    for ln in text.split("\n")[:-1]:
        if ln.startswith("#"):
            parts = ln.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                assert len(parts) >= 3 and re.fullmatch(METRIC_NAME,
                                                        parts[2]), ln
                if parts[1] == "TYPE":
                    assert len(parts) == 4 and parts[3] in (
                        "counter", "gauge", "histogram", "summary",
                        "untyped"), ln
                    assert parts[2] not in types, f"two TYPE lines: {ln}"
                    types[parts[2]] = parts[3]
            continue
        assert ln.strip(), "empty line in metrics output"
        m = SAMPLE_RE.match(ln)
        assert m, f"not a Prometheus sample line: {ln!r}"
        assert VALUE_RE.match(m.group(3)), f"bad value in {ln!r}"
        samples += 1
    assert samples > 0, "no samples in /metrics"


REQUIRED_PATHS = {
    "/": {"get"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/metrics": {"get"},
    "/collections": {"get"},
    "/collections/{}": {"get", "put", "delete"},
    "/collections/{}/exists": {"get"},
    "/collections/{}/index": {"put"},
    "/collections/{}/points": {"put", "post"},
    "/collections/{}/points/{}": {"get"},
    "/collections/{}/points/delete": {"post"},
    "/collections/{}/points/payload": {"post"},
    "/collections/{}/points/payload/delete": {"post"},
    "/collections/{}/points/scroll": {"post"},
    "/collections/{}/points/count": {"post"},
    "/collections/{}/points/query": {"post"},
    "/collections/{}/points/query/batch": {"post"},
    "/collections/{}/points/search": {"post"},
}


def test_openapi(api):
    status, js = api.get("/openapi.json")
    assert status == 200 and isinstance(js, dict), (status,
                                                    api.last_raw[:300])
    assert isinstance(js.get("openapi"), str) and \
        js["openapi"].startswith("3."), js.get("openapi")
    paths = js.get("paths")
    assert isinstance(paths, dict) and paths, "no paths"
    norm = {}
    for p, ops in paths.items():
        norm[re.sub(r"\{[^}]*\}", "{}", p)] = {k.lower() for k in ops}
    missing = sorted(p for p in REQUIRED_PATHS if p not in norm)
    assert not missing, f"/openapi.json lacks paths {missing}"
    for p, methods in REQUIRED_PATHS.items():
        assert methods <= norm[p], (f"/openapi.json {p}: methods "
                                    f"{sorted(norm[p])}, expected "
                                    f"{sorted(methods)}")
    for p, ops in paths.items():
        for m, op in ops.items():
            if m.lower() in ("get", "put", "post", "delete", "patch"):
                assert isinstance(op, dict) and "responses" in op, (p, m)
