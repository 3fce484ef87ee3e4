"""Read-path policies of the cluster gateway (docs/cluster.md):

* bounded-staleness reads with the `vectron-session` token: a write
  through one gateway, then reads with its token through a second gateway
  at consistency=bounded, while one follower of every shard is stopped
  (SIGSTOP) and so behind: every read sees the write; a token ahead of
  every replica is never answered from a stale replica (503 after the
  request timeout); malformed tokens and tokens of another collection are
  400;
* the partial-results policy of searches: one shard (replication factor
  1) stopped; partial=false answers 503 naming the shard, partial=true
  answers 200 with the other shards' hits and the vectron-partial headers,
  and the answer is counted in /metrics and never cached;
* `vectron serve` takes and returns the same token.

Every wait is bounded; stopped processes are resumed before the end.
"""

import base64
import struct
import time

import pytest

from cluster import Cluster, Proc, crc32c
from conftest import JsonClient, assert_error, free_port

DIM = 4

def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def read_varint(b, at):
    v, shift = 0, 0
    while True:
        x = b[at]
        at += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return v, at


def make_token(first_group, indexes):
    """docs/formats/session-token.md, written independently of the C
    code."""
    body = varint(first_group) + varint(len(indexes)) + \
        b"".join(varint(i) for i in indexes)
    body += struct.pack("<I", crc32c(body))
    return "v1." + base64.urlsafe_b64encode(body).decode().rstrip("=")


def parse_token(text):
    assert text.startswith("v1."), text
    b64 = text[3:]
    raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
    body, crc = raw[:-4], struct.unpack("<I", raw[-4:])[0]
    assert crc32c(body) == crc, "token checksum"
    first, at = read_varint(body, 0)
    n, at = read_varint(body, at)
    idx = []
    for _ in range(n):
        v, at = read_varint(body, at)
        idx.append(v)
    assert at == len(body)
    return first, idx


def vec(i):
    return [float(i % 1000), float(i // 1000), 0.5, -1.0]


def create(c, name, shards, rf):
    c.api.ok("PUT", f"/collections/{name}", {
        "vectors": {"size": DIM, "distance": "Euclid"},
        "shard_number": shards, "replication_factor": rf})
    return c.wait_leaders(name)


def wait_stopped(proc, timeout=10):
    """SIGSTOP is asynchronous: waits until the kernel shows the process
    stopped ('T' in /proc/PID/stat)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.01)
    raise AssertionError(f"{proc.name} did not stop")


def session(api):
    return api.last_headers.get("vectron-session")


@pytest.fixture
def cluster(vectron_bin, tmp_path):
    c = Cluster(vectron_bin, tmp_path / "cluster", pds=1, workers=3)
    extra = []
    try:
        c.start()
        yield c, extra
    finally:
        for p in extra:
            p.term()
        for w in c.workers.values():
            if w.stopped:
                w.resume()
        c.stop()


def second_gateway(c, extra, timeout="3s"):
    """Another gateway of the same cluster (its own routing view and
    acknowledged writes), with a short request timeout."""
    port = free_port()
    g = Proc(c.binary, "gateway2", [
        "gateway", "--pd", c.pd_list, "--http-listen", f"{c.host}:{port}",
        "--request-timeout", timeout], c.root)
    g.start()
    extra.append(g)
    api = JsonClient(c.host, port, timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if api.get("/readyz", retry=False, timeout=2)[0] == 200:
                return api
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("second gateway not ready\n" + g.tail())


def test_bounded_reads_through_another_gateway(cluster):
    c, extra = cluster
    shards = create(c, "b", shards=2, rf=3)
    first = min(s["group"] for s in shards)
    b = second_gateway(c, extra)
    # A worker that leads no shard: stopped, it is a follower left behind.
    leaders = {s["leader"] for s in shards}
    lagging = next(n for n in sorted(c.workers) if n not in leaders)
    c.workers[lagging].pause()
    try:
        wait_stopped(c.workers[lagging])
        token = None
        for i in range(1, 21):
            hdrs = {"vectron-session": token} if token else None
            st, js = c.api.put("/collections/b/points?wait=true", {
                "points": [{"id": i, "vector": vec(i),
                            "payload": {"n": i}}]}, headers=hdrs)
            assert st == 200, js
            token = session(c.api)
            assert token, "a write answers with a session token"
            tf, tidx = parse_token(token)
            assert tf == first and len(tidx) == 2
            # Read it back through the other gateway, bounded, 3 ways.
            h = {"vectron-session": token}
            st, js = b.post("/collections/b/points?consistency=bounded",
                            {"ids": [i], "with_payload": True}, headers=h)
            assert st == 200, js
            assert [p["id"] for p in js["result"]] == [i], \
                f"bounded read missed write {i}: {js}"
            assert js["result"][0]["payload"] == {"n": i}
            back = session(b)
            _, bidx = parse_token(back)
            assert all(x >= y for x, y in zip(bidx, tidx)), \
                "the answer's token is at least the request's"
            st, js = b.post("/collections/b/points/count?consistency=bounded",
                            {"exact": True}, headers=h)
            assert st == 200 and js["result"]["count"] == i, js
            st, js = b.post("/collections/b/points/query?consistency=bounded",
                            {"query": vec(i), "limit": 1}, headers=h)
            assert st == 200, js
            assert js["result"]["points"][0]["id"] == i, js
    finally:
        c.workers[lagging].resume()

    # A token ahead of every replica is never answered by a stale one.
    ahead = make_token(first, [10 ** 9, 0])
    t0 = time.monotonic()
    st, js = b.post("/collections/b/points/count?consistency=bounded",
                    {"exact": True}, headers={"vectron-session": ahead})
    assert st == 503, (st, js)
    assert time.monotonic() - t0 < 30

    # Malformed tokens and another collection's: 400 with a clear error.
    create(c, "other", shards=2, rf=1)
    deadline = time.monotonic() + 20  # gateway b's catalog refresh
    while b.get("/collections/other")[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    st, js = b.post("/collections/other/points/count?consistency=bounded",
                    {"exact": True}, headers={"vectron-session": token})
    assert "another collection" in assert_error(st, js, 400)
    for bad in ["v1.", "v2." + token[3:], token[:-2], "v1.!!!!",
                make_token(first, [1, 2, 3])]:
        st, js = b.post("/collections/b/points/count?consistency=bounded",
                        {"exact": True}, headers={"vectron-session": bad})
        msg = assert_error(st, js, 400, bad)
        assert "vectron-session" in msg, msg


def test_partial_search_results(cluster):
    c, extra = cluster
    shards = create(c, "p", shards=3, rf=1)
    c.api.ok("PUT", "/collections/p/points?wait=true", {
        "points": [{"id": i, "vector": vec(i)} for i in range(1, 61)]})
    # The shard (and node) to stop: one that holds some shards, not all.
    by_node = {}
    for idx, s in enumerate(sorted(shards, key=lambda s: s["group"])):
        by_node.setdefault(s["replicas"][0], []).append(idx)
    node, lost = next((n, ix) for n, ix in by_node.items()
                      if len(ix) < len(shards))
    q = {"query": vec(30), "limit": 60}
    st, full = c.api.post("/collections/p/points/query", q)
    assert st == 200 and len(full["result"]["points"]) == 60
    # Another body while the worker is stopped: the full answer above is
    # in the result cache under q.
    q = {"query": vec(30), "limit": 59}
    c.workers[node].pause()
    try:
        wait_stopped(c.workers[node])
        t0 = time.monotonic()
        st, js = c.api.post(
            "/collections/p/points/query?partial=false&timeout=1", q)
        msg = assert_error(st, js, 503)
        assert time.monotonic() - t0 < 15
        for ix in lost:
            assert str(ix) in msg.split("(shards ")[1], msg
        for _ in range(2):  # twice: the second must not come from a cache
            st, js = c.api.post(
                "/collections/p/points/query?partial=true&timeout=1", q)
            assert st == 200, js
            hdr = c.api.last_headers
            assert hdr.get("vectron-partial") == \
                f"{len(lost)}/3 shards missing", hdr
            assert sorted(int(x) for x in
                          hdr["vectron-partial-shards"].split(",")) == lost
            assert hdr.get("x-vectron-cache") != "hit"
            got = js["result"]["points"]
            assert 0 < len(got) < 59
            assert js["status"] == "ok" and "time" in js
        st, js = c.api.post("/collections/p/points/query?partial=maybe", q)
        assert_error(st, js, 400)
    finally:
        c.workers[node].resume()
    st, text = c.api.get("/metrics")
    body = c.api.last_raw.decode()
    line = next(x for x in body.splitlines()
                if x.startswith("vectron_search_partial_total"))
    assert float(line.split()[-1]) >= 2, line
    # Back to whole answers once the worker answers again.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        st, js = c.api.post("/collections/p/points/query?partial=true", q)
        if st == 200 and "vectron-partial" not in c.api.last_headers:
            break
        time.sleep(0.2)
    assert len(js["result"]["points"]) == 59, js


def test_serve_session_token(make_server):
    srv = make_server()
    srv.start()
    api = srv.api
    api.ok("PUT", "/collections/s", {
        "vectors": {"size": DIM, "distance": "Euclid"}, "shard_number": 2})
    st, js = api.put("/collections/s/points?wait=true", {
        "points": [{"id": i, "vector": vec(i)} for i in range(1, 11)]})
    assert st == 200
    token = session(api)
    first, idx = parse_token(token)
    assert len(idx) == 2 and all(x > 0 for x in idx)
    st, js = api.post("/collections/s/points/count?consistency=bounded",
                      {"exact": True}, headers={"vectron-session": token})
    assert st == 200 and js["result"]["count"] == 10
    _, idx2 = parse_token(session(api))
    assert all(x >= y for x, y in zip(idx2, idx))
    ahead = make_token(first, [idx[0], 10 ** 9])
    st, js = api.post("/collections/s/points/count?consistency=bounded",
                      {"exact": True}, headers={"vectron-session": ahead})
    assert st == 503, js
    st, js = api.post("/collections/s/points/count?consistency=bounded",
                      {"exact": True}, headers={"vectron-session": "v1.x"})
    assert_error(st, js, 400)
    st, js = api.post("/collections/s/points/count",
                      {"exact": True},
                      headers={"vectron-session": "v1." + "A" * 17000})
    assert st == 431, (st, js)
