"""Tests of the Python SDK (clients/python/vectron) against a live server.

Run from the repository root (needs build/vectron, or VECTRON_BIN):

    /usr/bin/python3 -m pytest clients/python/tests -q
"""

import builtins
import inspect
import json
import math
import random
import socket
import struct
import time
import uuid
from array import array

import pytest

import vectron
import vectron.client
from vectron import bulk as vbulk


BULK_CT = "application/vnd.vectron.bulk-upsert"


# ---------------------------------------------------------------------------
# helpers


def f32(x):
    """x rounded to the nearest float32."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f32_bytes(vec):
    return struct.pack(f"<{len(vec)}f", *vec)


def rand_vec(rng, dim, scale=10.0):
    return [f32(rng.uniform(-scale, scale)) for _ in range(dim)]


def l2(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def spy(client):
    """Records every request the client makes: (method, path,
    content_type, data bytes or None, json body or None)."""
    calls = []
    orig = client._raw

    def wrapped(method, path, body=None, **kw):
        calls.append((method, path, kw.get("content_type"), kw.get("data"),
                      body))
        return orig(method, path, body, **kw)

    client._raw = wrapped
    return calls


def metric(client, name, labels):
    """The value of one Prometheus sample of the server, 0 if absent."""
    status, raw = client._raw("GET", "/metrics")
    assert status == 200
    want = name + "{" + labels + "}"
    for line in raw.decode().splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.02) + 1):
        if pred():
            return True
        if time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    return pred()


PAYLOADS = [
    {"city": "Zürich", "emoji": "😀 naïve", "n": 1},
    {"big": 18446744073709551615, "neg": -9223372036854775809,
     "real": 2.5, "whole": 3.0},
    {"nested": {"a": [1, {"b": None}], "t": True, "f": False}},
    {},
    None,
]


def dataset(rng, n_int, n_uuid, dim):
    """Points with exact float32 vectors, ints and UUIDs, varied payloads."""
    pts = []
    special_ids = [0, 2 ** 63, 2 ** 64 - 1]
    for i in range(n_int):
        pid = special_ids[i] if i < len(special_ids) else 1000 + i
        vec = rand_vec(rng, dim)
        if i == 3:  # extreme but valid float32 values
            vec[0], vec[1], vec[2] = f32(1e-45), f32(-1.17549435e-38), \
                f32(3.0e18)
        pts.append((pid, vec, PAYLOADS[i % len(PAYLOADS)]))
    for i in range(n_uuid):
        pid = str(uuid.UUID(int=rng.getrandbits(128)))
        payload = PAYLOADS[(i + 2) % len(PAYLOADS)]
        pts.append((pid, rand_vec(rng, dim), payload))
    rng.shuffle(pts)
    return pts


def check_stored(client, name, pts):
    """Every point of pts is stored with bit-exact float32 components and
    its payload ({} when sent without one)."""
    ids = [p[0] for p in pts]
    got = client.retrieve(name, ids, with_vector=True)
    assert len(got) == len(pts)
    by_id = {g.id: g for g in got}
    for pid, vec, payload in pts:
        g = by_id[pid]
        assert g.score is None
        assert f32_bytes(g.vector) == f32_bytes(vec), (pid, vec, g.vector)
        assert g.payload == (payload if payload is not None else {}), pid
        # types survive too (3.0 stays a float, big ints exact)
        assert json.dumps(g.payload, sort_keys=True) == \
            json.dumps(payload if payload is not None else {},
                       sort_keys=True)


# ---------------------------------------------------------------------------
# CRC32C and the bulk body, offline


def _crc32c_bitwise(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def test_crc32c_matches_reference():
    assert vectron.crc32c(b"123456789") == 0xE3069283  # the check value
    assert vectron.crc32c(b"") == 0
    assert vectron.crc32c(b"\x00" * 32) == 0x8A9136AA  # RFC 3720 B.4
    assert vectron.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert vectron.crc32c(bytes(range(32))) == 0x46DD794E
    rng = random.Random(1)
    for n in list(range(0, 80)) + [127, 128, 129, 1000, 4096 + 7]:
        data = bytes(rng.getrandbits(8) for _ in range(n))
        ref = _crc32c_bitwise(data)
        assert vectron.crc32c(data) == ref, n
        assert vectron.crc32c(bytearray(data)) == ref
        assert vectron.crc32c(memoryview(data)) == ref
        cut = n // 3
        assert vectron.crc32c(data[cut:], vectron.crc32c(data[:cut])) == ref


def test_bulk_body_matches_the_documented_examples():
    # docs/formats/bulk-upsert.md: id 7, dim 2, [1, -2], payload {"a":1}
    one = vectron.encode_bulk_upsert([7], [[1.0, -2.0]], [{"a": 1}])
    assert len(one) == 63
    assert one[:59] == bytes.fromhex(
        "565842554c4b0000" "01000000" "02000000" "02000000" "01000000"
        "0000000000000000" "0700000000000000" "0000803f000000c0"
        "07000000") + b'{"a":1}'
    assert struct.unpack("<I", one[59:])[0] == _crc32c_bitwise(one[:59])
    # docs/api.md: ids 7 and 8, [1, -2] and [0.5, 0.5], payload on the
    # first: the 83 bytes of its xxd dump, CRC included.
    two = vectron.encode_bulk_upsert([7, 8], [[1, -2], [0.5, 0.5]],
                                     [{"a": 1}, None])
    assert two == bytes.fromhex(
        "565842554c4b00000100000002000000020000000200000000000000"
        "00000000070000000000000008000000000000000000803f000000c0"
        "0000003f0000003f07000000000000007b2261223a317d3f876314")


def test_bulk_body_layout():
    u1, u2 = uuid.uuid4(), uuid.uuid4()
    vecs = [[0.25, -1.5, 3.0], [1e-3, 2.0, -0.0]]
    body = vectron.encode_bulk_upsert([str(u1), u2], vecs)
    assert len(body) == 32 + 2 * 16 + 2 * 3 * 4 + 4  # no payload section
    magic, version, flags, dim, count, reserved = \
        struct.unpack_from("<8sIIIIQ", body)
    assert (magic, version, flags, dim, count, reserved) == \
        (vbulk.MAGIC, 1, vbulk.FLAG_UUID_IDS, 3, 2, 0)
    assert body[32:64] == u1.bytes + u2.bytes
    assert body[64:88] == struct.pack("<6f", 0.25, -1.5, 3.0, 1e-3, 2.0,
                                      -0.0)
    assert struct.unpack("<I", body[-4:])[0] == \
        vectron.crc32c(body[:-4])
    # payload section: lengths then texts; None is length 0
    body = vectron.encode_bulk_upsert([1, 2, 3], [[1.0]] * 3,
                                      [None, {"k": "é"}, {}])
    flags = struct.unpack_from("<I", body, 12)[0]
    assert flags == vbulk.FLAG_PAYLOADS
    off = 32 + 3 * 8 + 3 * 4
    lens = struct.unpack_from("<3I", body, off)
    texts = body[off + 12:-4]
    assert lens == (0, len(b'{"k":"\\u00e9"}'), 2)
    assert texts == b'{"k":"\\u00e9"}{}'
    assert len(body) == off + 12 + sum(lens) + 4
    # empty body: 36 bytes
    assert len(vectron.encode_bulk_upsert([], [])) == 36
    # client-side refusals
    with pytest.raises(ValueError, match="either integer ids or UUIDs"):
        vectron.encode_bulk_upsert([1, str(u1)], [[1.0], [2.0]])
    with pytest.raises(ValueError, match="expected dimension 2, got 3"):
        vectron.encode_bulk_upsert([1, 2], [[1.0, 2.0], [1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="2\\^64-1"):
        vectron.encode_bulk_upsert([-1], [[1.0]])
    with pytest.raises(ValueError, match="expected 2 payloads"):
        vectron.encode_bulk_upsert([1, 2], [[1.0], [2.0]], [{}])
    with pytest.raises(TypeError):
        vectron.encode_bulk_upsert([1], ["ab"])


# ---------------------------------------------------------------------------
# service endpoints and collections


def test_info_and_ready(client):
    info = client.info()
    assert info["title"].startswith("vectron")
    assert isinstance(info["version"], str)
    assert client.ready() is True


def test_collections_lifecycle(client, coll_name):
    assert client.collection_exists(coll_name) is False
    assert client.create_collection(coll_name, 8, "euclid", m=8,
                                    ef_construct=40, shard_number=2,
                                    read_consistency="strong") is True
    assert client.collection_exists(coll_name) is True
    assert coll_name in client.list_collections()
    info = client.get_collection(coll_name)
    params = info["config"]["params"]
    assert params["vectors"] == {"size": 8, "distance": "Euclid"}
    assert params["shard_number"] == 2
    assert params["read_consistency"] == "strong"
    assert info["config"]["hnsw_config"]["m"] == 8
    assert info["config"]["hnsw_config"]["ef_construct"] == 40
    assert info["config"]["quantization_config"] is None
    assert info["points_count"] == 0

    with pytest.raises(vectron.Conflict) as ei:
        client.create_collection(coll_name, 8)
    assert ei.value.status == 409
    assert ei.value.message == \
        f"Wrong input: Collection `{coll_name}` already exists!"

    assert client.delete_collection(coll_name) is True
    assert client.delete_collection(coll_name) is False
    assert client.collection_exists(coll_name) is False
    assert coll_name not in client.list_collections()


def test_int8_collection_and_quantization_params(client, coll_name):
    client.create_collection(coll_name, 16, "Dot", int8=0.99)
    q = client.get_collection(coll_name)["config"]["quantization_config"]
    assert q["scalar"]["type"] == "int8"
    assert q["scalar"]["quantile"] == pytest.approx(0.99)
    rng = random.Random(5)
    pts = [(i, rand_vec(rng, 16, 1.0)) for i in range(200)]
    client.upsert(coll_name, pts)
    query = rand_vec(rng, 16, 1.0)
    exact = client.search(coll_name, query, limit=5, exact=True)
    hits = client.search(coll_name, query, limit=5, oversampling=4.0,
                         rescore=True, ef=64)
    assert [h.id for h in hits] == [h.id for h in exact]
    assert hits[0].score >= hits[-1].score  # Dot: highest first


def test_payload_indexes(client, coll_name):
    client.create_collection(coll_name, 2, "Euclid")
    res = client.create_payload_index(coll_name, "city", "keyword")
    assert isinstance(res, vectron.UpdateResult)
    assert res.status == "completed" and res.operation_id > 0
    client.create_payload_index(coll_name, "meta[].stars", "integer")
    client.create_payload_index(coll_name, "pop", "float")
    schema = client.get_collection(coll_name)["payload_schema"]
    assert schema["city"]["data_type"] == "keyword"
    assert schema["meta.stars"]["data_type"] == "integer"
    assert schema["pop"]["data_type"] == "float"
    with pytest.raises(vectron.BadRequest) as ei:
        client.create_payload_index(coll_name, "city", "integer")
    assert ei.value.status == 400
    assert "city" in ei.value.message and "keyword" in ei.value.message
    with pytest.raises(vectron.BadRequest) as ei:
        client.create_payload_index(coll_name, "loc", "geo")
    assert ei.value.message == \
        'field_schema: "geo" indexes are not supported by Vectron'
    assert client.delete_payload_index(coll_name, "pop").status == \
        "completed"
    client.delete_payload_index(coll_name, "meta.stars")
    schema = client.get_collection(coll_name)["payload_schema"]
    assert set(schema) == {"city"}


# ---------------------------------------------------------------------------
# upsert


def test_upsert_bulk_roundtrip_exact_float32(client, vectron_server,
                                             coll_name):
    rng = random.Random(42)
    dim = 24
    pts = dataset(rng, 520, 180, dim)
    client.create_collection(coll_name, dim, "Euclid", shard_number=3)
    calls = spy(client)
    before = metric(client, "vectron_http_request_bytes_total",
                    'route="points_upsert"')
    n = client.upsert(coll_name, pts, batch_size=128)
    assert n == len(pts)
    ups = [c for c in calls if c[0] == "PUT" and c[1].endswith("/points")]
    # 6 batches of at most 128 points; the batches mixing integer ids and
    # UUIDs go as two bodies each
    assert len(ups) > 6
    for _, _, ctype, data, body in ups:
        assert ctype == BULK_CT and body is None
        assert data[:8] == vbulk.MAGIC
        assert struct.unpack("<I", data[-4:])[0] == \
            vectron.crc32c(data[:-4])
    sent = sum(len(c[3]) for c in ups)
    after = metric(client, "vectron_http_request_bytes_total",
                   'route="points_upsert"')
    assert after - before == sent  # the server received exactly these
    assert client.count(coll_name) == len(pts)
    check_stored(client, coll_name, pts)


def test_upsert_json_fallback_exact_float32(client, coll_name):
    rng = random.Random(43)
    dim = 24
    pts = dataset(rng, 150, 50, dim)
    client.create_collection(coll_name, dim, "Euclid", shard_number=2)
    calls = spy(client)
    assert client.upsert(coll_name, pts, bulk=False, batch_size=64) == 200
    ups = [c for c in calls if c[0] == "PUT" and c[1].endswith("/points")]
    assert len(ups) == 4
    for _, _, ctype, data, body in ups:
        assert ctype == "application/json" and data is None
        assert len(body["points"]) <= 64
    check_stored(client, coll_name, pts)
    # a body made only of ids and vectors (no payloads): a typical
    # embedding upload (the upsert fast path of f6ac9c3 refused it with
    # HTTP 500 "upsert: vector size bound")
    plain = [(5000 + i, rand_vec(rng, dim), None) for i in range(300)]
    assert client.upsert(coll_name, [p[:2] for p in plain], bulk=False) == 300
    check_stored(client, coll_name, plain)


def test_upsert_input_forms(client, coll_name):
    client.create_collection(coll_name, 3, "Euclid")
    u = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
    # Point objects, dicts, 2- and 3-tuples, a UUID object, array.array
    n = client.upsert(coll_name, [
        vectron.Point(1, [1, 2, 3], {"k": "point"}),
        {"id": 2, "vector": (0.5, 0.25, 0.125), "payload": {"k": "dict"}},
        (3, [3, 3, 3]),
        [4, array("f", [4, 4, 4]), {"k": "list"}],
        (u, [5, 5, 5], None),
    ])
    assert n == 5
    got = {p.id: p for p in client.retrieve(coll_name, [1, 2, 3, 4, str(u)],
                                             with_vector=True)}
    assert got[1].payload == {"k": "point"} and got[1].vector == [1, 2, 3]
    assert got[2].vector == [0.5, 0.25, 0.125]
    assert got[3].payload == {}
    assert got[4].vector == [4, 4, 4]
    assert got[str(u)].vector == [5, 5, 5]

    # a generator is consumed lazily, batch by batch
    pulled = []

    def gen():
        for i in range(10, 35):
            pulled.append(i)
            yield (i, [float(i), 0.0, 1.0], {"i": i})

    calls = spy(client)
    assert client.upsert(coll_name, gen(), batch_size=10) == 25
    ups = [c for c in calls if c[0] == "PUT"]
    assert len(ups) == 3 and pulled == list(range(10, 35))

    # columns: ids, vectors, payloads with None entries
    assert client.upsert(coll_name, ids=[100, 101, 102],
                         vectors=[[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                         payloads=[{"c": 1}, None, {"c": 3}]) == 3
    got = client.retrieve(coll_name, [100, 101, 102], with_vector=True)
    assert [p.payload for p in got] == [{"c": 1}, {}, {"c": 3}]
    assert client.upsert(coll_name, ids=[103], vectors=[[2, 2, 2]],
                         bulk=False) == 1
    assert client.count(coll_name) == 5 + 25 + 4
    # nothing to send
    assert client.upsert(coll_name, []) == 0
    assert client.upsert(coll_name, ids=[], vectors=[]) == 0

    # replace: vector and payload
    client.upsert(coll_name, [(1, [9, 9, 9])])
    p = client.retrieve(coll_name, [1], with_vector=True)[0]
    assert p.vector == [9, 9, 9] and p.payload == {}

    # wait=False: acknowledged, visible soon after
    assert client.upsert(coll_name, [(200, [1, 1, 1])], wait=False) == 1
    assert wait_until(lambda: client.count(coll_name) == 35)


def test_upsert_auto_batches(client, coll_name):
    client.create_collection(coll_name, 4, "Dot")
    calls = spy(client)
    pts = [(i, [1.0, 0.0, float(i % 7), 1.0]) for i in range(2500)]
    assert client.upsert(coll_name, pts) == 2500
    ups = [c for c in calls if c[0] == "PUT"]
    assert len(ups) == 3  # 1000 + 1000 + 500
    assert client.count(coll_name) == 2500


def test_upsert_client_side_checks(client, coll_name):
    client.create_collection(coll_name, 2, "Euclid")
    with pytest.raises(ValueError):
        client.upsert(coll_name, [(-1, [1, 2])])
    with pytest.raises(ValueError):
        client.upsert(coll_name, [("not-a-uuid", [1, 2])])
    with pytest.raises(TypeError):
        client.upsert(coll_name, [(True, [1, 2])])
    with pytest.raises(ValueError, match="no vector"):
        client.upsert(coll_name, [{"id": 1}])
    with pytest.raises(ValueError, match="not both"):
        client.upsert(coll_name, [(1, [1, 2])], ids=[1], vectors=[[1, 2]])
    with pytest.raises(ValueError, match="expected 2 vectors"):
        client.upsert(coll_name, ids=[1, 2], vectors=[[1, 2]])
    with pytest.raises(ValueError, match="dimension"):
        client.upsert(coll_name, [(1, [1, 2]), (2, [1, 2, 3])])
    with pytest.raises(ValueError, match="batch_size"):
        client.upsert(coll_name, [(1, [1, 2])], batch_size=0)
    with pytest.raises(ValueError):  # NaN cannot be written as JSON
        client.upsert(coll_name, [(1, [1, 2], {"x": float("nan")})])
    assert client.count(coll_name) == 0


# ---------------------------------------------------------------------------
# search


COLORS = ("red", "green", "blue")


@pytest.fixture
def search_coll(client, coll_name):
    """A 8-d Euclid collection of 300 points with payloads."""
    rng = random.Random(7)
    client.create_collection(coll_name, 8, "Euclid", shard_number=2)
    client.create_payload_index(coll_name, "color", "keyword")
    client.create_payload_index(coll_name, "n", "float")
    pts = [(i, rand_vec(rng, 8, 1.0),
            {"color": COLORS[i % 3], "n": i, "tag": f"p{i}"})
           for i in range(300)]
    client.upsert(coll_name, pts)
    return coll_name, {p[0]: p for p in pts}, rng


def test_search(client, search_coll):
    name, pts, rng = search_coll
    q = rand_vec(rng, 8, 1.0)
    truth = sorted(pts, key=lambda i: l2(q, pts[i][1]))
    hits = client.search(name, q, limit=10, exact=True)
    assert [h.id for h in hits] == truth[:10]
    for h in hits:
        assert isinstance(h, vectron.Point)
        assert h.score == pytest.approx(l2(q, pts[h.id][1]), rel=1e-5)
        assert h.payload == pts[h.id][2]  # with_payload defaults to True
        assert h.vector is None
    assert [h.id for h in client.search(name, q, limit=10, ef=256)] == \
        truth[:10]

    # filter (answered with the keyword index), with_vector, payload keys
    red = {"must": [{"key": "color", "match": {"value": "red"}}]}
    hits = client.search(name, q, limit=5, filter=red, with_vector=True,
                         with_payload=["tag"], ef=256)
    want = [i for i in truth if pts[i][2]["color"] == "red"][:5]
    assert [h.id for h in hits] == want
    for h in hits:
        assert h.payload == {"tag": f"p{h.id}"}
        assert f32_bytes(h.vector) == f32_bytes(pts[h.id][1])
    rng_f = {"must": [{"key": "n", "range": {"gte": 100, "lt": 110}}]}
    assert sorted(h.id for h in client.search(name, q, limit=50,
                                              filter=rng_f)) == \
        list(range(100, 110))

    # no payload
    hits = client.search(name, q, limit=3, with_payload=False)
    assert all(h.payload is None for h in hits)

    # score_threshold: Euclid keeps distances <= threshold
    top = client.search(name, q, limit=10)
    thr = top[3].score
    kept = client.search(name, q, limit=10, score_threshold=thr)
    assert [h.id for h in kept] == [h.id for h in top[:4]]

    # offset
    assert [h.id for h in client.search(name, q, limit=5, offset=2)] == \
        [h.id for h in top[2:7]]

    # by point id: that point's vector, the point itself left out
    hits = client.search(name, 17, limit=5, exact=True)
    want = sorted((i for i in pts if i != 17),
                  key=lambda i: l2(pts[17][1], pts[i][1]))[:5]
    assert [h.id for h in hits] == want

    # without a query: filter matches in id order, score 0
    hits = client.search(name, None, limit=4, filter=red)
    assert [h.id for h in hits] == [0, 3, 6, 9]
    assert all(h.score == 0 for h in hits)

    # consistency
    assert [h.id for h in client.search(name, q, limit=3,
                                        consistency="strong")] == truth[:3]


def test_search_batch(client, search_coll):
    name, pts, rng = search_coll
    q1, q2 = rand_vec(rng, 8, 1.0), rand_vec(rng, 8, 1.0)
    blue = {"must": [{"key": "color", "match": {"value": "blue"}}]}
    res = client.search_batch(name, [q1, 5, {"query": q2, "limit": 2,
                                             "filter": blue,
                                             "with_payload": False}],
                              limit=4, exact=True)
    assert len(res) == 3
    assert res[0] == client.search(name, q1, limit=4, exact=True)
    assert res[1] == client.search(name, 5, limit=4, exact=True)
    assert res[2] == client.search(name, q2, limit=2, filter=blue,
                                   exact=True, with_payload=False)
    assert len(res[2]) == 2 and res[2][0].payload is None
    assert client.search_batch(name, []) == []
    with pytest.raises(TypeError, match="unknown search arguments"):
        client.search_batch(name, [{"query": q1, "lmit": 3}])
    with pytest.raises(vectron.NotFound) as ei:
        client.search_batch(name, [q1, 999999])
    assert ei.value.message == \
        "searches[1]: query: point: get point 999999: not found"


# ---------------------------------------------------------------------------
# retrieve, delete, payloads, scroll, count


def test_retrieve(client, search_coll):
    name, pts, _ = search_coll
    got = client.retrieve(name, [5, 999999, 2, 5])
    assert [p.id for p in got] == [5, 2]  # missing left out, once each
    assert got[0].payload == pts[5][2] and got[0].vector is None
    got = client.retrieve(name, [7], with_payload=False, with_vector=True,
                          consistency="strong")
    assert got[0].payload is None
    assert f32_bytes(got[0].vector) == f32_bytes(pts[7][1])
    got = client.retrieve(name, [7], with_payload={"exclude": ["tag"]})
    assert got[0].payload == {"color": pts[7][2]["color"], "n": 7}
    assert client.retrieve(name, []) == []


def test_delete(client, search_coll):
    name, pts, _ = search_coll
    res = client.delete(name, ids=[1, 2, 3, 123456])
    assert res.status == "completed"
    assert client.count(name) == 297
    assert client.retrieve(name, [1, 2, 3]) == []
    green = {"must": [{"key": "color", "match": {"value": "green"}}]}
    n_green = client.count(name, filter=green)
    assert n_green == 99  # 100 green points minus id 1
    client.delete(name, filter=green)
    assert client.count(name) == 297 - 99
    assert client.count(name, filter=green) == 0
    res = client.delete(name, ids=[0], wait=False)
    assert res == vectron.UpdateResult(0, "acknowledged")
    assert wait_until(lambda: client.count(name) == 297 - 100)
    with pytest.raises(ValueError, match="exactly one"):
        client.delete(name)
    with pytest.raises(ValueError, match="exactly one"):
        client.delete(name, ids=[1], filter=green)


def test_payload_operations(client, coll_name):
    client.create_collection(coll_name, 2, "Euclid")
    client.upsert(coll_name, [
        (i, [float(i), 1.0], {"g": i % 2, "keep": i, "meta": {"x": 1,
                                                             "y": 2}})
        for i in range(6)])

    def payload(i):
        return client.retrieve(coll_name, [i])[0].payload

    r = client.set_payload(coll_name, {"new": "v", "keep": "changed"},
                           ids=[0, 1, 99])
    assert r.status == "completed"
    assert payload(0) == {"g": 0, "keep": "changed", "meta": {"x": 1, "y": 2},
                          "new": "v"}
    assert payload(2) == {"g": 0, "keep": 2, "meta": {"x": 1, "y": 2}}
    odd = {"must": [{"key": "g", "match": {"value": 1}}]}
    client.set_payload(coll_name, {"odd": True}, filter=odd)
    assert [payload(i).get("odd") for i in range(6)] == \
        [None, True, None, True, None, True]

    client.overwrite_payload(coll_name, {"only": 1}, ids=[2])
    assert payload(2) == {"only": 1}
    client.overwrite_payload(coll_name, {"o": 1}, filter=odd)
    assert payload(3) == {"o": 1} and payload(5) == {"o": 1}

    client.delete_payload(coll_name, ["meta.x", "absent"], ids=[4])
    assert payload(4) == {"g": 0, "keep": 4, "meta": {"y": 2}}
    client.delete_payload(coll_name, "keep", filter={"must": [
        {"has_id": [0, 4]}]})
    assert payload(0) == {"g": 0, "meta": {"x": 1, "y": 2}, "new": "v"}
    assert payload(4) == {"g": 0, "meta": {"y": 2}}

    client.clear_payload(coll_name, ids=[0])
    assert payload(0) == {}
    client.clear_payload(coll_name, filter=odd)  # none has g=1 any more
    assert payload(1) == {"o": 1}
    client.clear_payload(coll_name, filter={"must": [
        {"key": "o", "match": {"value": 1}}]})
    assert [payload(i) for i in range(6)] == \
        [{}, {}, {"only": 1}, {}, {"g": 0, "meta": {"y": 2}}, {}]

    with pytest.raises(ValueError, match="exactly one"):
        client.set_payload(coll_name, {"a": 1}, ids=[1], filter={})
    with pytest.raises(ValueError, match="exactly one"):
        client.set_payload(coll_name, {"a": 1})
    with pytest.raises(vectron.BadRequest) as ei:
        client.set_payload(coll_name, [1, 2], ids=[1])
    assert ei.value.message.startswith("payload")


def test_scroll_over_many_pages(client, coll_name):
    client.create_collection(coll_name, 2, "Euclid", shard_number=3)
    uuids = sorted(str(uuid.UUID(int=(7 << 100) + k)) for k in range(40))
    ints = list(range(0, 2000, 2))
    pts = [(i, [float(i), 0.5], {"even4": i % 4 == 0}) for i in ints] + \
        [(u, [1.0, 2.0], {"even4": False}) for u in uuids]
    client.upsert(coll_name, pts, batch_size=500)

    calls = spy(client)
    it = client.scroll(coll_name, batch=64)
    assert calls == []  # lazy: nothing asked before the first next()
    got = list(it)
    pages = [c for c in calls if c[1].endswith("/points/scroll")]
    assert len(pages) == math.ceil(len(pts) / 64)
    assert [p.id for p in got] == ints + uuids  # id order, each once
    assert got[0].payload == {"even4": True} and got[0].vector is None
    assert got[0].score is None

    f = {"must": [{"key": "even4", "match": {"value": True}}]}
    got = list(client.scroll(coll_name, filter=f, batch=100,
                             with_payload=False, with_vector=True))
    assert [p.id for p in got] == list(range(0, 2000, 4))
    assert got[3].vector == [12.0, 0.5] and got[3].payload is None
    assert client.count(coll_name, filter=f) == 500

    got = list(client.scroll(coll_name, offset=1995, batch=7))
    assert [p.id for p in got] == [1996, 1998] + uuids
    got = list(client.scroll(coll_name, offset=uuids[30], batch=3,
                             consistency="strong"))
    assert [p.id for p in got] == uuids[30:]
    # a partial read is fine: stop early
    first = next(iter(client.scroll(coll_name, batch=5)))
    assert first.id == 0
    # an error surfaces from next()
    with pytest.raises(vectron.BadRequest) as ei:
        next(client.scroll(coll_name, batch=0))
    assert ei.value.message == "limit: must be at least 1"


def test_scroll_stops_when_the_server_does_not_advance(fake_http):
    page = {"result": {"points": [{"id": 5, "payload": {}}],
                       "next_page_offset": 5}, "status": "ok", "time": 0}
    fake_http.json_route("POST", "/collections/c/points/scroll", 200, page)
    c = vectron.Client(fake_http.url)
    it = c.scroll("c")
    assert next(it).id == 5
    with pytest.raises(vectron.VectronError, match="does not follow"):
        next(it)
    c.close()


def test_count(client, search_coll):
    name, pts, _ = search_coll
    assert client.count(name) == 300
    assert client.count(name, filter={"must": [
        {"key": "color", "match": {"any": ["red", "blue"]}}]}) == 200
    assert client.count(name, filter={"must_not": [
        {"key": "n", "range": {"lt": 250}}]}, consistency="strong") == 50


# ---------------------------------------------------------------------------
# errors


def test_errors_carry_the_server_message(client, coll_name):
    with pytest.raises(vectron.NotFound) as ei:
        client.get_collection("no-such-collection")
    e = ei.value
    assert isinstance(e, vectron.VectronError)
    assert e.status == 404
    assert e.message == "Not found: Collection `no-such-collection` " \
        "doesn't exist!"
    assert (e.method, e.path) == ("GET", "/collections/no-such-collection")
    assert str(e) == ("Not found: Collection `no-such-collection` doesn't "
                      "exist! (HTTP 404; GET "
                      "/collections/no-such-collection)")

    with pytest.raises(vectron.NotFound):
        client.upsert("no-such-collection", [(1, [1.0])])
    with pytest.raises(vectron.BadRequest) as ei:
        client.create_collection(coll_name, 4, "Manhattan")
    assert ei.value.message == \
        'vectors.distance: "Manhattan" is not supported by Vectron'

    client.create_collection(coll_name, 4, "Cosine")
    with pytest.raises(vectron.BadRequest) as ei:
        client.upsert(coll_name, [(1, [1, 2, 3])])
    assert ei.value.status == 400
    assert ei.value.message == "bulk: expected dimension 4, got 3"
    assert ei.value.note == "upsert batch of points 0..0"
    with pytest.raises(vectron.BadRequest) as ei:
        client.upsert(coll_name, [(1, [1, 2, 3])], bulk=False)
    assert ei.value.message == "points[0].vector: expected dimension 4, got 3"
    for use_bulk in (True, False):
        with pytest.raises(vectron.BadRequest) as ei:
            client.upsert(coll_name, [(1, [1, 0, 0, 0]), (2, [0, 0, 0, 0])],
                          bulk=use_bulk)
        assert ei.value.message == \
            "points[1].vector: zero vector has no cosine direction"
    with pytest.raises(vectron.BadRequest) as ei:
        client.upsert(coll_name, [(1, [1, 0, 0, float("nan")])])
    assert ei.value.message == "points[0].vector[3]: not a finite number"
    # the second batch fails; the first stays written
    with pytest.raises(vectron.BadRequest) as ei:
        client.upsert(coll_name, [(1, [1, 0, 0, 0]), (2, [0, 1, 0, 0]),
                                  (3, [0, 0, 0, 0])], batch_size=2)
    assert ei.value.note == "upsert batch of points 2..2"
    assert "upsert batch of points 2..2" in str(ei.value)
    assert client.count(coll_name) == 2

    with pytest.raises(vectron.NotFound) as ei:
        client.search(coll_name, 999)
    assert ei.value.message == "query: point: get point 999: not found"
    with pytest.raises(vectron.BadRequest) as ei:
        client.search(coll_name, [1, 0, 0, 0], filter={"must": [{"foo": 1}]})
    assert ei.value.message.startswith('filter.must[0]: unknown condition '
                                       '"foo"')
    with pytest.raises(vectron.BadRequest) as ei:
        client.search(coll_name, [1, 0, 0, 0], consistency="bogus")
    assert ei.value.message == \
        'consistency: must be "strong", "bounded" or "eventual"'
    with pytest.raises(vectron.BadRequest) as ei:
        client.search(coll_name, [1, 0, 0, 0], limit=100001)
    assert "exceeds the maximum" in ei.value.message
    with pytest.raises(vectron.BadRequest) as ei:
        client.count(coll_name, filter={"must": [
            {"key": "a[0].b", "match": {"value": 1}}]})
    assert ei.value.message.startswith("filter.must[0].key: array indexes")


def test_body_too_large_is_bad_request_413(make_server):
    srv = make_server("--max-body-size", "64KiB")
    c = vectron.Client(srv.url, timeout=10)
    c.create_collection("big", 1000, "Euclid")
    pts = [(i, [float(i)] * 1000) for i in range(20)]  # ~80 KB of body
    for use_bulk in (True, False):
        with pytest.raises(vectron.BadRequest) as ei:
            c.upsert("big", pts, batch_size=20, bulk=use_bulk)
        assert ei.value.status == 413
        assert ei.value.message == \
            "body: larger than the limit of 65536 bytes"
    # a body so large that the server answers (and closes) before the
    # client has sent it: the send fails, the 413 is read all the same
    huge = [(i, [0.5] * 1000) for i in range(2000)]  # 8 MB
    with pytest.raises(vectron.BadRequest) as ei:
        c.upsert("big", huge, batch_size=2000)
    assert ei.value.status == 413
    # the client recovers (a new connection if the server closed it)
    assert c.upsert("big", pts, batch_size=5) == 20
    assert c.count("big") == 20
    c.close()


@pytest.mark.parametrize("status,cls", [
    (400, vectron.BadRequest), (413, vectron.BadRequest),
    (404, vectron.NotFound), (409, vectron.Conflict),
    (503, vectron.Unavailable), (504, vectron.Unavailable),
    (500, vectron.VectronError), (405, vectron.VectronError)])
def test_status_mapping(fake_http, status, cls):
    fake_http.json_route("GET", "/collections/c", status,
                         {"status": {"error": f"msg {status}"}, "time": 0})
    c = vectron.Client(fake_http.url)
    with pytest.raises(vectron.VectronError) as ei:
        c.get_collection("c")
    assert type(ei.value) is cls
    assert ei.value.status == status and ei.value.message == f"msg {status}"
    c.close()


def test_non_json_answers(fake_http):
    fake_http.routes[("GET", "/collections")] = (
        502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"})
    fake_http.routes[("GET", "/collections/x")] = (200, b"hello", {})
    c = vectron.Client(fake_http.url)
    with pytest.raises(vectron.VectronError) as ei:
        c.list_collections()
    assert ei.value.status == 502
    assert ei.value.message == "<html>Bad Gateway</html>"
    with pytest.raises(vectron.VectronError) as ei:
        c.get_collection("x")
    assert ei.value.status == 200
    assert ei.value.message == "unexpected response: hello"
    c.close()


def test_connection_errors():
    port = free_port()  # nothing listens there
    c = vectron.Client(f"http://127.0.0.1:{port}", timeout=5)
    with pytest.raises(vectron.ConnectionError) as ei:
        c.list_collections()
    e = ei.value
    assert e.status is None and "cannot connect" in e.message
    assert isinstance(e, vectron.VectronError)
    assert isinstance(e, builtins.ConnectionError)  # and so an OSError
    assert isinstance(e.__cause__, OSError)

    # a server that accepts but never answers: the timeout
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        c = vectron.Client(f"http://127.0.0.1:{s.getsockname()[1]}",
                           timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(vectron.ConnectionError) as ei:
            c.count("x")
        assert time.monotonic() - t0 < 5
        assert "no answer" in ei.value.message
        c.close()


# ---------------------------------------------------------------------------
# connection handling


def test_keep_alive_reuses_one_connection(client, coll_name):
    connects = []
    orig = client._connect

    def counting(*a):
        connects.append(1)
        return orig(*a)

    client.close()
    client._connect = counting
    client.create_collection(coll_name, 2, "Euclid")
    for i in range(20):
        client.upsert(coll_name, [(i, [1.0, float(i)])])
        client.count(coll_name)
    assert len(connects) == 1
    assert not vectron.client._dropped(client._conn.sock)


def _ok_routes(fake):
    fake.json_route("GET", "/collections", 200,
                    {"result": {"collections": [{"name": "a"}]},
                     "status": "ok", "time": 0})
    fake.json_route("PUT", "/collections/a", 200,
                    {"result": True, "status": "ok", "time": 0})


def test_connection_closed_by_the_server_is_replaced(fake_http,
                                                     monkeypatch):
    _ok_routes(fake_http)
    fake_http.close_after_response = True
    c = vectron.Client(fake_http.url)
    assert c.list_collections() == ["a"]
    # the closed connection is seen as such (readable: EOF)
    assert wait_until(lambda: vectron.client._dropped(c._conn.sock), 5)
    for _ in range(4):  # detected before reuse
        assert c.list_collections() == ["a"]
    assert fake_http.connections == 5
    # undetected: an idempotent request is retried once on a new connection
    monkeypatch.setattr(vectron.client, "_dropped", lambda sock: False)
    for _ in range(3):
        assert c.list_collections() == ["a"]
    # ... but not a collection creation (it is not idempotent)
    c.close()
    c.create_collection("a", 2)  # a fresh connection, then closed
    with pytest.raises(vectron.ConnectionError):
        c.create_collection("a", 2)
    c.close()


def test_api_key_url_prefix_and_headers(fake_http):
    fake_http.json_route("GET", "/proxy/v1/collections", 200,
                         {"result": {"collections": []}, "status": "ok",
                          "time": 0})
    with vectron.Client(fake_http.url + "/proxy/v1/", api_key="s3cret") as c:
        assert c.list_collections() == []
    method, path, headers, _ = fake_http.requests[-1]
    assert (method, path) == ("GET", "/proxy/v1/collections")
    assert headers["api-key"] == "s3cret"
    assert headers["user-agent"].startswith("vectron-python/")
    with vectron.Client(fake_http.url) as c:
        with pytest.raises(vectron.NotFound):
            c.list_collections()
    assert "api-key" not in fake_http.requests[-1][2]


def test_url_parsing():
    c = vectron.Client("localhost")
    assert (c.scheme, c.host, c.port, c.prefix) == \
        ("http", "localhost", 6333, "")
    assert vectron.Client().url == "http://127.0.0.1:6333"
    assert vectron.Client("https://db.example:8443/x/").url == \
        "https://db.example:8443/x"
    assert vectron.Client("http://[::1]:7000").url == "http://[::1]:7000"
    with pytest.raises(ValueError):
        vectron.Client("ftp://host")
    assert repr(vectron.Client("h:1")) == "Client('http://h:1')"


# ---------------------------------------------------------------------------
# arrays


class FakeVector:
    """A numpy-like 1-D float32 array: astype/tobytes/tolist/ndim."""

    ndim = 1

    def __init__(self, values):
        self.values = [f32(v) for v in values]
        self.astype_calls = 0

    def __len__(self):
        return len(self.values)

    def astype(self, dtype):
        assert dtype == "<f4"
        self.astype_calls += 1
        return self

    def tobytes(self):
        return f32_bytes(self.values)

    def tolist(self):
        return list(self.values)


class FakeMatrix:
    """A numpy-like 2-D float32 array."""

    ndim = 2

    def __init__(self, rows):
        self.rows = [[f32(v) for v in r] for r in rows]
        self.shape = (len(self.rows), len(self.rows[0]) if self.rows else 0)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return FakeMatrix(self.rows[k])
        return FakeVector(self.rows[k])

    def astype(self, dtype):
        assert dtype == "<f4"
        return self

    def tobytes(self):
        return b"".join(f32_bytes(r) for r in self.rows)

    def tolist(self):
        return [list(r) for r in self.rows]


class ListOnly:
    """Only .tolist() (like a tensor type without astype)."""

    def __init__(self, values):
        self.values = values

    def tolist(self):
        return list(self.values)


def test_duck_typed_arrays(client, coll_name):
    client.create_collection(coll_name, 3, "Euclid")
    rng = random.Random(3)
    rows = [rand_vec(rng, 3) for _ in range(30)]
    v = FakeVector(rows[0])
    client.upsert(coll_name, [(0, v)])
    assert v.astype_calls == 1  # the bulk body took the array's bytes
    client.upsert(coll_name, [(1, FakeVector(rows[1]))], bulk=False)
    client.upsert(coll_name, [(2, ListOnly(rows[2]))])
    client.upsert(coll_name, [(3, ListOnly(rows[3]))], bulk=False)
    m = FakeMatrix(rows[4:30])
    client.upsert(coll_name, ids=ListOnly(range(4, 30)), vectors=m,
                  batch_size=10)
    client.upsert(coll_name, ids=list(range(4, 30)), vectors=m, bulk=False)
    got = client.retrieve(coll_name, list(range(30)), with_vector=True)
    assert [f32_bytes(p.vector) for p in got] == [f32_bytes(r) for r in rows]
    hits = client.search(coll_name, FakeVector(rows[9]), limit=1)
    assert hits[0].id == 9 and hits[0].score == 0
    res = client.search_batch(coll_name, FakeMatrix([rows[5], rows[6]]),
                              limit=1)
    assert [r[0].id for r in res] == [5, 6]
    assert client.search(coll_name, ListOnly(rows[7]), limit=1)[0].id == 7


def test_numpy_arrays(client, coll_name):
    np = pytest.importorskip("numpy")
    client.create_collection(coll_name, 16, "Euclid")
    rng = np.random.default_rng(11)
    vecs = rng.standard_normal((1200, 16)).astype(np.float32)
    ids = np.arange(1200, dtype=np.int64)
    payloads = [{"x": np.float32(0.5), "i": np.int64(i),
                 "arr": np.arange(3)} for i in range(1200)]
    calls = spy(client)
    assert client.upsert(coll_name, ids=ids, vectors=vecs,
                         payloads=payloads) == 1200
    assert all(c[2] == BULK_CT for c in calls if c[0] == "PUT")
    client.upsert(coll_name, ids=ids[:100], vectors=vecs[:100].astype(
        np.float64), bulk=False)
    client.upsert(coll_name, [(int(i) + 5000, vecs[i]) for i in range(50)])
    got = client.retrieve(coll_name, ids[:300], with_vector=True)
    assert np.array_equal(np.array([p.vector for p in got],
                                   dtype=np.float32), vecs[:300])
    assert got[150].payload == {"x": 0.5, "i": 150, "arr": [0, 1, 2]}
    assert got[7].payload == {}  # re-upserted without payload
    hits = client.search(coll_name, vecs[42], limit=1, exact=True)
    assert hits[0].id == 42
    assert client.search(coll_name, np.int64(42), limit=1)[0].id != 42
    res = client.search_batch(coll_name, vecs[10:13], limit=1, exact=True)
    assert [r[0].id for r in res] == [10, 11, 12]
    assert len(client.retrieve(coll_name, np.array([1, 2, 3]))) == 3
    client.delete(coll_name, ids=np.arange(10))
    assert client.count(coll_name) == 1250 - 10


# ---------------------------------------------------------------------------
# API surface


def test_every_public_function_has_a_docstring():
    missing = []
    for name in vectron.__all__:
        obj = getattr(vectron, name)
        if name.startswith("__"):
            continue
        if inspect.isclass(obj):
            if not obj.__doc__ or not obj.__doc__.strip():
                missing.append(name)
            for mname, member in vars(obj).items():
                if mname.startswith("_") and mname not in (
                        "__init__", "__repr__", "__str__", "__eq__",
                        "__enter__", "__exit__"):
                    continue
                if callable(member) or isinstance(member, (staticmethod,
                                                           classmethod)):
                    fn = getattr(member, "__func__", member)
                    if not (fn.__doc__ or "").strip():
                        missing.append(f"{name}.{mname}")
        elif callable(obj) and not (obj.__doc__ or "").strip():
            missing.append(name)
    for mod in (vectron, vectron.client, vbulk, vectron.errors,
                vectron.models):
        if not (mod.__doc__ or "").strip():
            missing.append(mod.__name__)
    assert missing == []
    public = {n for n in vars(vectron.Client) if not n.startswith("_")}
    assert {"create_collection", "get_collection", "list_collections",
            "delete_collection", "collection_exists", "create_payload_index",
            "delete_payload_index", "upsert", "search", "search_batch",
            "retrieve", "delete", "set_payload", "overwrite_payload",
            "delete_payload", "clear_payload", "scroll", "count", "info",
            "ready", "close"} <= public


def test_session_tokens_follow_the_collection(vectron_server, coll_name):
    """session=True: the client keeps the last vectron-session token per
    collection, sends it back (the server merges), and forgets it when the
    collection is dropped (a stale token would be a 400 on the new one)."""
    c = vectron.Client(vectron_server.url, timeout=30, session=True)
    try:
        c.create_collection(coll_name, 4, "euclid", shard_number=2)
        assert coll_name not in c.sessions
        c.upsert(coll_name, [(1, [1.0, 0, 0, 0]), (2, [0, 1.0, 0, 0])])
        t1 = c.sessions[coll_name]
        assert t1.startswith("v1.")
        assert c.count(coll_name, consistency="bounded") == 2
        t2 = c.sessions[coll_name]
        assert t2.startswith("v1.")
        c.upsert(coll_name, [(3, [0, 0, 1.0, 0])])
        assert c.sessions[coll_name] != t1
        assert c.count(coll_name, consistency="bounded") == 3
        c.delete_collection(coll_name)
        assert coll_name not in c.sessions
        c.create_collection(coll_name, 4, "euclid", shard_number=2)
        assert c.count(coll_name, consistency="bounded") == 0
        # The old token on the new collection: refused, as documented.
        with pytest.raises(vectron.BadRequest) as ei:
            c.sessions[coll_name] = t1
            c.count(coll_name, consistency="bounded")
        assert "another collection" in ei.value.message
    finally:
        c.close()
    plain = vectron.Client(vectron_server.url, timeout=30)
    assert plain.sessions is None
    plain.close()
