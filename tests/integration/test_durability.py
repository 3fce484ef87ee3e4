"""kill -9 durability of `vectron serve`.

What it checks
--------------
One writer thread upserts batches with ``?wait=true`` into a 16-dimensional
Euclid collection: 1..64 points per batch, random float32 vectors, payload
``{"batch": b, "i": i, "tag": <random unicode string>}``, fresh ids for every
batch (integers, sometimes UUIDs), sent either as ``{"points": [...]}`` or as
the columnar ``{"batch": {...}}`` form.  Meanwhile the main thread SIGKILLs
the server at a random moment 20-400 ms after it became ready, restarts it on
the same data directory and ports, and does that again (20 times by default).

Every batch the server acknowledged (HTTP 200, ``"status": "completed"``) and
every batch that was in flight at a kill is recorded.  After every few
restarts and after the last one the test verifies that

* every acknowledged point is present with the exact float32 vector bytes
  and the exact payload (5 is not 5.0);
* with one shard, every in-flight batch is either fully present or fully
  absent (count with ``{"must": [{"key": "batch", "match": {"value": b}}]}``
  is 0 or the batch size), and once seen present or absent it stays so; with
  two shards (batches span shards, no cross-shard atomicity is promised),
  each point of an in-flight batch is present with its exact data or absent;
* no point exists that was never sent (count and a full scroll match);
* an exact search (``params.exact = true``) with an acknowledged point's
  vector returns that point first.

Any request that fails while the server is NOT being killed (a timeout, a
dropped connection, a non-200 answer after /readyz said ready) fails the
test too.

The kill -9 test runs three ways: one shard with default settings (20
kills); one shard with a Raft snapshot every 16 entries and an HNSW
checkpoint every second, so restarts also go through snapshot restore, log
compaction and checkpoint loading (10 kills); two shards (5 kills).

Two more tests:

* SIGTERM under load: three writers upsert while the server gets SIGTERM
  five times; it must exit 0 within 30 s each time and keep every
  acknowledged batch (in-flight ones all or nothing).
* kill -9 during collection create/delete (60 rounds): the server must
  start again on the same directory; listed collections must work, and the
  last acknowledged create/delete of each name must hold.

How to run
----------
    python3 -m pytest tests/integration -q                       # whole suite
    python3 -m pytest tests/integration/test_durability.py -q -s  # this file

Environment: ``VECTRON_DURABILITY_KILLS`` (default 20; e.g. 200 for a soak),
``VECTRON_DURABILITY_SEED`` (the seed is printed, and repeated in every
failure message, for reproduction; kill timing still varies with the
machine), ``VECTRON_DURABILITY_TIMEOUT`` (seconds; default max(480, 24 per
kill)).
"""

import http.client
import json
import os
import random
import threading
import time
import traceback
import uuid

import pytest

from conftest import (READY_TIMEOUT, JsonClient, VectronServer, f32, id_key,
                      same_json, vec_equal)

DIM = 16
COLL = "durability"
KILLS = int(os.environ.get("VECTRON_DURABILITY_KILLS", "20"))
SEED = int(os.environ.get("VECTRON_DURABILITY_SEED",
                          str(random.SystemRandom().randrange(1 << 32))))
TIME_LIMIT = float(os.environ.get("VECTRON_DURABILITY_TIMEOUT",
                                  str(max(480, 24 * KILLS))))
VERIFY_EVERY = 5
# A restart after kill -9 rebuilds the HNSW graph of everything written
# since the last checkpoint (every 60 s by default, and a server killed
# every second never reaches one), so restarts slow down as data grows:
# allow more than the harness default.
RESTART_TIMEOUT = max(READY_TIMEOUT, 180.0)
TAG_CHARS = "abcXYZ019 _-\"\\/\n\téß漢字🙂"


class Batch:
    def __init__(self, b, ids, vectors, payloads, form):
        self.b = b
        self.ids = ids
        self.vectors = vectors
        self.payloads = payloads
        self.form = form

    def __len__(self):
        return len(self.ids)


class Writer(threading.Thread):
    """Upserts batches while run_ok is set; records what happened to each.

    Threading: the main thread only touches run_ok/killing/stop and reads
    the result dicts while the writer is idle (idle set, run_ok clear)."""

    def __init__(self, port, seed, base=0):
        super().__init__(name=f"durability-writer-{base}", daemon=True)
        self.port = port
        self.rng = random.Random(seed)
        self.run_ok = threading.Event()
        self.idle = threading.Event()
        self.stop = threading.Event()
        self.killing = False
        # Batch numbers and integer ids start at base, so several writers
        # never collide.
        self.next_b = base + 1
        self.next_id = base * 100 + 1
        self.acked = {}        # b -> Batch
        self.in_flight = {}    # b -> (Batch, error) failed during a kill
        self.refused = {}      # b -> Batch, connection refused: never sent
        self.unexpected = []   # problems while the server was not killed
        self.requests = 0
        self.failure = None

    # -- batch generation ------------------------------------------------
    def _vector(self):
        scale = 10.0 ** self.rng.uniform(-3, 3)
        v = []
        for _ in range(DIM):
            x = f32(self.rng.gauss(0.0, 1.0) * scale)
            v.append(x if x != 0.0 else 0.5)  # keep -0.0 out
        return v

    def _tag(self):
        return "".join(self.rng.choice(TAG_CHARS)
                       for _ in range(self.rng.randint(0, 12)))

    def _make_batch(self):
        b = self.next_b
        self.next_b += 1
        n = self.rng.randint(1, 64)
        use_uuid = self.rng.random() < 0.15
        ids = []
        for _ in range(n):
            if use_uuid:
                ids.append(str(uuid.UUID(int=self.rng.getrandbits(128),
                                         version=4)))
            else:
                ids.append(self.next_id)
                self.next_id += self.rng.randint(1, 3)
        vectors = [self._vector() for _ in range(n)]
        payloads = [{"batch": b, "i": i, "tag": self._tag()}
                    for i in range(n)]
        form = "points" if self.rng.random() < 0.5 else "batch"
        return Batch(b, ids, vectors, payloads, form)

    def _body(self, batch):
        if batch.form == "points":
            body = {"points": [{"id": i, "vector": v, "payload": p}
                               for i, v, p in zip(batch.ids, batch.vectors,
                                                  batch.payloads)]}
        else:
            body = {"batch": {"ids": batch.ids, "vectors": batch.vectors,
                              "payloads": batch.payloads}}
        return json.dumps(body, ensure_ascii=self.rng.random() < 0.5)

    # -- loop ------------------------------------------------------------
    def run(self):
        try:
            self._loop()
        except BaseException:
            self.failure = traceback.format_exc()
            self.idle.set()

    def _loop(self):
        client = JsonClient("127.0.0.1", self.port, timeout=30.0)
        path = f"/collections/{COLL}/points?wait=true"
        for _ in range(10_000_000):
            if self.stop.is_set():
                break
            if not self.run_ok.is_set():
                client.close()
                self.idle.set()
                self.run_ok.wait(0.1)
                continue
            self.idle.clear()
            if not self.run_ok.is_set():
                continue
            batch = self._make_batch()
            body = self._body(batch)
            if client.conn is None:
                try:
                    client._connect(30.0)
                except ConnectionRefusedError as e:
                    client.close()
                    self.refused[batch.b] = batch
                    if not self.killing:
                        self.unexpected.append(
                            f"batch {batch.b}: connection refused while "
                            f"the server was up: {e!r}")
                    continue
            self.requests += 1
            t0 = time.monotonic()
            try:
                status, js = client.put(path, raw=body, retry=False)
            except (OSError, http.client.HTTPException) as e:
                client.close()
                self.in_flight[batch.b] = (batch, repr(e))
                if not self.killing:
                    self.unexpected.append(
                        f"batch {batch.b}: request failed after "
                        f"{time.monotonic() - t0:.1f}s while the server was "
                        f"up: {e!r}")
                continue
            result = js.get("result") if isinstance(js, dict) else None
            if status == 200 and js.get("status") == "ok" \
                    and isinstance(result, dict) \
                    and result.get("status") == "completed":
                self.acked[batch.b] = batch
                continue
            self.in_flight[batch.b] = (batch, f"HTTP {status}")
            if not self.killing:
                self.unexpected.append(
                    f"batch {batch.b} ({len(batch)} points, form "
                    f"{batch.form}): HTTP {status}: "
                    f"{client.last_raw[:500]!r}")
        client.close()
        self.idle.set()


def _retrieve(api, ids):
    """id_key -> record for the ids that exist."""
    out = {}
    for k in range(0, len(ids), 500):
        chunk = ids[k:k + 500]
        res = api.ok("POST", f"/collections/{COLL}/points",
                     {"ids": chunk, "with_vector": True,
                      "with_payload": True})
        assert isinstance(res, list), res
        for rec in res:
            out[id_key(rec["id"])] = rec
    return out


def _check_point(rec, pid, vec, payload, ctx):
    assert rec is not None, f"{ctx}: point {pid} is missing"
    assert vec_equal(vec, rec.get("vector")), (
        f"{ctx}: point {pid}: vector differs\n sent {vec}\n got  "
        f"{rec.get('vector')}")
    assert same_json(payload, rec.get("payload")), (
        f"{ctx}: point {pid}: payload differs\n sent {payload!r}\n got  "
        f"{rec.get('payload')!r}")


class Ledger:
    """What the main thread has concluded about in-flight batches."""

    def __init__(self):
        self.present = set()   # batches seen fully present
        self.absent = set()    # batches seen fully absent
        self.partial = {}      # (multi-shard) b -> set of present id keys


class _Merged:
    """The records of several writers, seen as one."""

    def __init__(self, writers):
        self.acked, self.in_flight, self.refused = {}, {}, {}
        for w in writers:
            self.acked.update(w.acked)
            self.in_flight.update(w.in_flight)
            self.refused.update(w.refused)


def _verify(api, writer, ledger, shards, rng, ctx):
    if isinstance(writer, list):
        writer = _Merged(writer)
    acked = list(writer.acked.values())
    acked_ids = [pid for bt in acked for pid in bt.ids]
    got = _retrieve(api, acked_ids)
    for bt in acked:
        for pid, vec, pl in zip(bt.ids, bt.vectors, bt.payloads):
            _check_point(got.get(id_key(pid)), pid, vec, pl,
                         f"{ctx}: acknowledged batch {bt.b}")

    expected = {id_key(pid) for pid in acked_ids}

    for b, (bt, err) in sorted(writer.in_flight.items()):
        res = api.ok("POST", f"/collections/{COLL}/points/count",
                     {"filter": {"must": [{"key": "batch",
                                           "match": {"value": b}}]},
                      "exact": True})
        n = res["count"]
        recs = _retrieve(api, bt.ids)
        if shards == 1:
            assert n in (0, len(bt)), (
                f"{ctx}: batch {b} in flight at a kill ({err}) is partly "
                f"applied: count {n} of {len(bt)}")
            assert len(recs) == n, (
                f"{ctx}: batch {b}: count by filter says {n}, retrieve by "
                f"id finds {len(recs)} of {len(bt)}")
            if n:
                assert b not in ledger.absent, (
                    f"{ctx}: batch {b} was absent after an earlier restart"
                    f" and is present now")
                ledger.present.add(b)
            else:
                assert b not in ledger.present, (
                    f"{ctx}: batch {b} was present after an earlier restart"
                    f" and has vanished")
                ledger.absent.add(b)
        else:
            assert n == len(recs), (
                f"{ctx}: batch {b}: count by filter says {n}, retrieve by "
                f"id finds {len(recs)} of {len(bt)}")
            before = ledger.partial.get(b)
            now = set(recs)
            if before is not None:
                assert before <= now, (
                    f"{ctx}: batch {b}: points {sorted(before - now, key=str)}"
                    f" were present after an earlier restart and vanished")
            ledger.partial[b] = now
        for pid, vec, pl in zip(bt.ids, bt.vectors, bt.payloads):
            rec = recs.get(id_key(pid))
            if rec is not None:
                _check_point(rec, pid, vec, pl,
                             f"{ctx}: in-flight batch {b}")
                expected.add(id_key(pid))

    for b, bt in sorted(writer.refused.items()):
        recs = _retrieve(api, bt.ids)
        assert not recs, (f"{ctx}: batch {b} was never sent (connection "
                          f"refused) but {len(recs)} of its points exist")

    res = api.ok("POST", f"/collections/{COLL}/points/count",
                 {"exact": True})
    assert res["count"] == len(expected), (
        f"{ctx}: collection holds {res['count']} points, expected "
        f"{len(expected)} (acknowledged + in-flight batches found present)")

    seen = set()
    offset = None
    for _ in range(len(expected) // 1000 + 3):
        body = {"limit": 1000, "with_payload": False, "with_vector": False}
        if offset is not None:
            body["offset"] = offset
        res = api.ok("POST", f"/collections/{COLL}/points/scroll", body)
        for p in res["points"]:
            k = id_key(p["id"])
            assert k not in seen, f"{ctx}: scroll returned {k} twice"
            seen.add(k)
        offset = res.get("next_page_offset")
        if offset is None:
            break
    assert offset is None, f"{ctx}: scroll did not end"
    never_sent = seen - expected
    assert not never_sent, (
        f"{ctx}: {len(never_sent)} points exist that were never sent or "
        f"whose batch was not acknowledged, e.g. "
        f"{sorted(never_sent, key=str)[:5]}")
    assert seen == expected, (
        f"{ctx}: scroll misses {len(expected - seen)} points, e.g. "
        f"{sorted(expected - seen, key=str)[:5]}")

    sample = rng.sample(acked, min(len(acked), 8))
    for bt in sample:
        j = rng.randrange(len(bt))
        res = api.ok("POST", f"/collections/{COLL}/points/query",
                     {"query": bt.vectors[j], "limit": 3,
                      "params": {"exact": True}})
        pts = res["points"]
        assert pts and id_key(pts[0]["id"]) == id_key(bt.ids[j]), (
            f"{ctx}: exact search with the vector of point {bt.ids[j]} "
            f"(batch {bt.b}) returned {pts}")
        assert abs(pts[0]["score"]) <= 1e-6, (
            f"{ctx}: exact search for point {bt.ids[j]}'s own vector "
            f"scored {pts[0]['score']} (expected distance 0)")
    return len(expected)


# Raft snapshots (log compaction) and HNSW checkpoints every few writes, so
# that restarts go through those paths as well as plain log replay.
SNAPSHOTS = ["--snapshot-threshold", "16", "--snapshot-trailing", "4",
             "--index-checkpoint-interval", "1s"]


@pytest.mark.parametrize("shards,kills,extra", [
    pytest.param(1, KILLS, [], id="1shard"),
    pytest.param(1, max(5, KILLS // 2), SNAPSHOTS, id="1shard-snapshots"),
    pytest.param(2, max(4, KILLS // 4), [], id="2shards"),
])
def test_kill9_durability(vectron_bin, tmp_path, shards, kills, extra):
    seed = SEED + shards + 10 * len(extra)
    rng = random.Random(seed)
    ctx0 = (f"[VECTRON_DURABILITY_SEED={SEED} shards={shards} "
            f"kills={kills} args={' '.join(extra)}]")
    print(f"\n{ctx0} seed for this case: {seed}; data in {tmp_path}")
    t_start = time.monotonic()

    srv = VectronServer(vectron_bin, tmp_path / "data", tmp_path,
                        extra_args=extra, ready_timeout=RESTART_TIMEOUT)
    srv.start()
    api = srv.api
    api.ok("PUT", f"/collections/{COLL}",
           {"vectors": {"size": DIM, "distance": "Euclid"},
            "shard_number": shards})
    api.ok("PUT", f"/collections/{COLL}/index?wait=true",
           {"field_name": "batch", "field_schema": "integer"})

    writer = Writer(srv.http_port, seed ^ 0x5EED)
    ledger = Ledger()
    restart_secs = []
    verified = 0
    writer.start()
    try:
        for k in range(1, kills + 1):
            elapsed = time.monotonic() - t_start
            assert elapsed < TIME_LIMIT, (
                f"{ctx0}: time limit {TIME_LIMIT:.0f}s exceeded after "
                f"{k - 1} kills")
            ctx = f"{ctx0} after kill {k}"
            writer.killing = False
            writer.run_ok.set()
            time.sleep(rng.uniform(0.020, 0.400))
            writer.run_ok.clear()
            writer.killing = True
            srv.kill9()
            assert writer.idle.wait(60), f"{ctx}: writer did not stop"
            assert writer.failure is None, f"{ctx}: writer crashed:\n" \
                f"{writer.failure}"
            restart_secs.append(srv.start())
            writer.killing = False
            assert not writer.unexpected, (
                f"{ctx}: requests failed while the server was up:\n  " +
                "\n  ".join(writer.unexpected[:10]))
            if k % VERIFY_EVERY == 0 or k == kills:
                verified = _verify(srv.api, writer, ledger, shards, rng, ctx)
        assert writer.acked, f"{ctx0}: no batch was ever acknowledged"
        # The writer is inside a request nearly all the time, so over ten
        # kills some must hit one; if none did, this test proved nothing.
        assert kills < 10 or writer.in_flight or writer.refused, (
            f"{ctx0}: no kill interrupted a request")
    finally:
        writer.stop.set()
        writer.run_ok.set()
        writer.join(60)
        rc = srv.terminate()

    assert not writer.is_alive(), f"{ctx0}: writer thread did not finish"
    assert rc == 0, f"{ctx0}: SIGTERM after the test: exit status {rc}"
    n_acked = sum(len(b) for b in writer.acked.values())
    print(f"{ctx0}: {writer.requests} upserts, {len(writer.acked)} batches "
          f"({n_acked} points) acknowledged, {len(writer.in_flight)} in "
          f"flight at a kill ({len(ledger.present)} present, "
          f"{len(ledger.absent)} absent, {len(ledger.partial)} multi-shard),"
          f" {len(writer.refused)} refused; {verified} points at the end; "
          f"restart to ready: max {max(restart_secs):.2f}s, mean "
          f"{sum(restart_secs) / len(restart_secs):.2f}s; total "
          f"{time.monotonic() - t_start:.0f}s")


def test_sigterm_under_load(vectron_bin, tmp_path):
    """SIGTERM while three writers upsert: the server exits with status 0
    within the stop timeout, and after a restart every acknowledged batch
    is there (in-flight batches all or nothing on one shard)."""
    seed = SEED + 100
    rng = random.Random(seed)
    ctx0 = f"[VECTRON_DURABILITY_SEED={SEED} sigterm]"
    print(f"\n{ctx0} seed for this case: {seed}")
    srv = VectronServer(vectron_bin, tmp_path / "data", tmp_path,
                        ready_timeout=RESTART_TIMEOUT)
    srv.start()
    srv.api.ok("PUT", f"/collections/{COLL}",
               {"vectors": {"size": DIM, "distance": "Euclid"},
                "shard_number": 1})
    writers = [Writer(srv.http_port, seed * 7 + k, base=k * 10_000_000)
               for k in range(3)]
    ledger = Ledger()
    for w in writers:
        w.start()
    try:
        for k in range(1, 6):
            ctx = f"{ctx0} after SIGTERM {k}"
            for w in writers:
                w.killing = False
                w.run_ok.set()
            time.sleep(rng.uniform(0.1, 0.5))
            for w in writers:
                w.killing = True
            srv.sigterm()
            for w in writers:
                w.run_ok.clear()
            rc = srv.terminate()
            assert rc == 0, (f"{ctx}: exit status {rc} (None: still "
                             f"running 30s after SIGTERM)")
            for w in writers:
                assert w.idle.wait(60), f"{ctx}: writer did not stop"
                assert w.failure is None, f"{ctx}: {w.failure}"
            srv.start()
            for w in writers:
                w.killing = False
                assert not w.unexpected, (
                    f"{ctx}: requests failed while the server was up:\n  "
                    + "\n  ".join(w.unexpected[:10]))
            _verify(srv.api, writers, ledger, 1, rng, ctx)
        assert all(w.acked for w in writers), f"{ctx0}: a writer never " \
            f"got an acknowledgement"
        m = _Merged(writers)
        print(f"{ctx0}: {len(m.acked)} batches acknowledged, "
              f"{len(m.in_flight)} in flight at a SIGTERM "
              f"({len(ledger.present)} present, {len(ledger.absent)} "
              f"absent), {len(m.refused)} refused")
    finally:
        for w in writers:
            w.stop.set()
            w.run_ok.set()
        for w in writers:
            w.join(60)
        rc = srv.terminate()
    assert rc == 0, f"{ctx0}: final SIGTERM: exit status {rc}"


def test_kill9_during_collection_ops(vectron_bin, tmp_path):
    """kill -9 while collections are created and deleted: the server must
    start again on the same data directory, every collection it lists must
    take writes and answer, and the last acknowledged create or delete of
    each name must hold (a name whose last request was cut by the kill may
    be either). 60 rounds by default, 3 per VECTRON_DURABILITY_KILLS when
    that is larger; each round is one kill."""
    seed = SEED + 200
    rng = random.Random(seed)
    ctx0 = f"[VECTRON_DURABILITY_SEED={SEED} collection ops]"
    print(f"\n{ctx0} seed for this case: {seed}")
    srv = VectronServer(vectron_bin, tmp_path / "data", tmp_path,
                        ready_timeout=RESTART_TIMEOUT)
    srv.start()
    names = [f"c{k}" for k in range(6)]
    known = {}  # name -> True (exists) / False (absent) / None (unknown)
    rounds = max(60, KILLS * 3)
    for rnd in range(1, rounds + 1):
        ctx = f"{ctx0} round {rnd}"
        ops = []
        op_rng = random.Random(rng.random())

        # Creates (of names believed absent, 2-4 shards) alternate with
        # deletes (of names believed present). The kill lands 0-150 ms
        # after the churn starts its target-th request, a create; creating
        # a collection takes tens of milliseconds, so most kills cut one.
        target = 2 * rng.randrange(4)
        armed = threading.Event()
        present = {n for n in names if known.get(n)}

        def churn():
            cl = JsonClient("127.0.0.1", srv.http_port, timeout=30.0)
            for k in range(200):
                if k == target:
                    armed.set()
                create = k % 2 == 0
                pool = sorted(set(names) - present if create else present)
                name = op_rng.choice(pool or names)
                try:
                    if create:
                        st, js = cl.put(
                            f"/collections/{name}",
                            {"vectors": {"size": 2, "distance": "Dot"},
                             "shard_number": op_rng.randint(2, 4)},
                            retry=False)
                        state = True if st in (200, 409) else "?"
                        present.add(name)
                    else:
                        st, js = cl.delete(f"/collections/{name}",
                                           retry=False)
                        state = False if st in (200, 404) else "?"
                        present.discard(name)
                except (OSError, http.client.HTTPException) as e:
                    ops.append((name, None, repr(e)))
                    return
                ops.append((name, state, st))
        th = threading.Thread(target=churn, daemon=True)
        th.start()
        armed.wait(30)
        time.sleep(rng.uniform(0.0, 0.15))
        srv.kill9()
        th.join(30)
        assert not th.is_alive(), f"{ctx}: client thread hung"
        for name, state, st in ops:
            assert state != "?", f"{ctx}: {name}: unexpected HTTP {st}"
            known[name] = state
        srv.start()
        api = srv.api
        listed = {c["name"] for c in api.ok("GET", "/collections")
                  ["collections"]}
        for name in names:
            exists = api.ok("GET", f"/collections/{name}/exists")["exists"]
            assert exists == (name in listed), (ctx, name, exists, listed)
            if known.get(name) is not None:
                assert exists == known[name], (
                    f"{ctx}: {name}: last acknowledged request says "
                    f"{'exists' if known[name] else 'absent'}, server says "
                    f"{'exists' if exists else 'absent'}")
            known[name] = exists
            if exists:
                api.ok("PUT", f"/collections/{name}/points?wait=true",
                       {"points": [{"id": rnd, "vector": [1.0, 2.0]}]})
                assert api.ok("POST", f"/collections/{name}/points",
                              {"ids": [rnd]}), f"{ctx}: {name}: no point"
                q = api.ok("POST", f"/collections/{name}/points/query",
                           {"query": [1.0, 2.0], "limit": 1})
                assert q["points"], f"{ctx}: {name}: query found nothing"
            else:
                status, js = api.get(f"/collections/{name}")
                assert status == 404, (ctx, name, status, js)
        # Keep at most two collections between rounds: each restart opens
        # every shard, and cheap restarts buy more kills in the time.
        for name in sorted(n for n in names if known[n])[2:]:
            assert api.ok("DELETE", f"/collections/{name}") is True
            known[name] = False
    rc = srv.terminate()
    assert rc == 0, f"{ctx0}: SIGTERM: exit status {rc}"
