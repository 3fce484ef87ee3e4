"""The cluster under faults: real `vectron pd`, `vectron worker` and
`vectron gateway` processes on loopback (tests/integration/cluster.py).

Every test writes through the gateway with wait=true, records what was
acknowledged, injects its fault, and then checks, replica by replica
(`vectron replica-dump`), that every replica of every shard holds the
same points with the same vector bytes and that no acknowledged write is
missing. Covered:

* replicated CRUD through the gateway (replication factor 3, two shards);
* kill -9 of a shard leader's worker during writes: writes resume after
  the election; after a restart every acknowledged write is everywhere;
* SIGSTOP of a shard leader's worker past the election timeout, then
  SIGCONT: no split brain (the old leader's term is stale), nothing
  acknowledged lost;
* kill -9 of the PD leader: reads and writes go on; metadata changes
  (a new collection) work again after the PD re-elects;
* a worker lost for good with a spare present: the PD restores the
  replication factor on the spare, which gets every point.

Each test is bounded: fixed numbers of writes and waits with deadlines.
"""

import random
import struct
import subprocess
import threading
import time

import pytest

from cluster import Cluster, crc32c

DIM = 4


def vec(i):
    # Exactly representable in float32, distinct per id.
    return [float(i % 1000), float(i // 1000), 0.5, -1.0]


def vcrc(i):
    return crc32c(struct.pack("<4f", *vec(i)))


@pytest.fixture
def cluster(vectron_bin, tmp_path):
    c = Cluster(vectron_bin, tmp_path / "cluster", pds=3, workers=3)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def create(c, name, shards=2, rf=3):
    c.api.ok("PUT", f"/collections/{name}", {
        "vectors": {"size": DIM, "distance": "Euclid"},
        "shard_number": shards, "replication_factor": rf})
    return c.wait_leaders(name)


def upsert(c, name, ids, client=None, timeout=30):
    api = client or c.api
    st, js = api.put(f"/collections/{name}/points?wait=true", {
        "points": [{"id": i, "vector": vec(i), "payload": {"n": i}}
                   for i in ids]}, timeout=timeout)
    upsert.last = (st, js)
    return st == 200 and js and js.get("status") == "ok"


class Writer(threading.Thread):
    """Writes batches of new ids until stopped (or max_batches); records
    the ids whose batch was acknowledged."""

    def __init__(self, c, name, start_id, batch=20, max_batches=400):
        super().__init__(daemon=True)
        self.c, self.name = c, name
        self.next = start_id
        self.batch = batch
        self.max_batches = max_batches
        self.acked = {}
        self.failed = 0
        self.last_failure = None
        self.stop_flag = threading.Event()
        self.client = None

    def run(self):
        from conftest import JsonClient
        self.client = JsonClient(self.c.host, self.c.http_port, timeout=30)
        for _ in range(self.max_batches):
            if self.stop_flag.is_set():
                break
            ids = list(range(self.next, self.next + self.batch))
            self.next += self.batch
            try:
                ok = upsert(self.c, self.name, ids, client=self.client)
            except OSError:
                ok = False
            if ok:
                for i in ids:
                    self.acked[i] = vcrc(i)
            else:
                self.failed += 1
                self.last_failure = getattr(upsert, "last", None)
                time.sleep(0.05)
        self.client.close()

    def acked_since(self, n):
        return len(self.acked) > n


def wait_progress(w, since, timeout=45):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(w.acked) > since:
            return
        time.sleep(0.1)
    raise AssertionError(f"writes did not resume (acked {len(w.acked)}, "
                         f"failed batches {w.failed})")


def test_replicated_crud(cluster):
    c = cluster
    shards = create(c, "crud")
    assert len(shards) == 2
    for s in shards:
        assert len(set(s["replicas"])) == 3
    assert upsert(c, "crud", range(1, 201))
    res = c.api.ok("POST", "/collections/crud/points/query?consistency=all",
                   {"query": vec(42), "limit": 3, "with_payload": True})
    assert res["points"][0]["id"] == 42
    assert res["points"][0]["payload"] == {"n": 42}
    assert c.api.ok("POST", "/collections/crud/points/count?consistency=all",
                    {"exact": True})["count"] == 200
    got = c.api.ok("POST", "/collections/crud/points",
                   {"ids": [7, 9999], "with_vector": True})
    assert [p["id"] for p in got] == [7]
    assert got[0]["vector"] == vec(7)
    # The result cache works in a cluster gateway at eventual
    # consistency, and a write through it is seen by the next search.
    q = {"query": [7.25, 0.0, 0.5, -1.0], "limit": 1}
    first = c.api.ok("POST", "/collections/crud/points/query", q)
    again = c.api.ok("POST", "/collections/crud/points/query", q)
    assert again == first
    assert c.api.last_headers.get("x-vectron-cache") == "hit"
    st, js = c.api.put("/collections/crud/points?wait=true", {
        "points": [{"id": 777, "vector": [7.25, 0.0, 0.5, -1.0]}]})
    assert st == 200, js
    after = c.api.ok("POST", "/collections/crud/points/query", q)
    assert after["points"][0]["id"] == 777, after
    c.api.ok("POST", "/collections/crud/points/delete?wait=true",
             {"points": [777]})
    c.api.ok("POST", "/collections/crud/points/delete?wait=true",
             {"points": [1, 2, 3]})
    info = c.api.ok("GET", "/collections/crud")
    assert info["config"]["params"]["replication_factor"] == 3
    expect = {i: vcrc(i) for i in range(4, 201)}
    merged = c.converged("crud", expect)
    assert set(merged) == set(expect), "deleted points are gone everywhere"
    assert c.api.ok("DELETE", "/collections/crud") is True


def leader_worker(c, name, shard=0):
    s = c.shards(name)[shard]
    return s["leader"], s["group"]


def test_kill_shard_leader_during_writes(cluster):
    c = cluster
    create(c, "k")
    w = Writer(c, "k", 1)
    w.start()
    wait_progress(w, 100)
    leader, group = leader_worker(c, "k")
    c.workers[leader].kill9()
    before = len(w.acked)
    wait_progress(w, before + 100)  # the group elected another leader
    c.workers[leader].start()      # the old leader comes back, catches up
    time.sleep(1.0)
    w.stop_flag.set()
    w.join(timeout=60)
    assert not w.is_alive()
    c.converged("k", w.acked, timeout=90)


def test_sigstop_leader_no_split_brain(cluster):
    c = cluster
    create(c, "p", shards=1)
    w = Writer(c, "p", 1)
    w.start()
    wait_progress(w, 60)
    leader, group = leader_worker(c, "p")
    c.workers[leader].pause()
    time.sleep(2.5)  # several election timeouts
    before = len(w.acked)
    wait_progress(w, before + 60)  # the majority moved on without it
    c.workers[leader].resume()
    time.sleep(1.5)  # the old leader sees the higher term and steps down
    w.stop_flag.set()
    w.join(timeout=60)
    shards = c.wait_leaders("p")
    leaders = {r["node"] for s in shards for r in s["reports"]
               if r["role"] == 3 and r["term"] == max(
                   x["term"] for x in s["reports"])}
    assert len(leaders) <= 1, f"two leaders in the latest term: {leaders}"
    c.converged("p", w.acked, timeout=90)


def test_pd_leader_loss(cluster):
    c = cluster
    create(c, "m", shards=1)
    assert upsert(c, "m", range(1, 51))
    i = c.pd_leader()
    c.pds[i].kill9()
    # The data path does not need the PD.
    assert upsert(c, "m", range(51, 101))
    res = c.api.ok("POST", "/collections/m/points/count", {})
    assert res["count"] >= 50
    # Metadata changes work again once the other two elect a leader.
    deadline = time.monotonic() + 60
    while True:
        st, js = c.api.put("/collections/after", {
            "vectors": {"size": DIM, "distance": "Euclid"},
            "replication_factor": 3}, timeout=30)
        if st == 200:
            break
        assert time.monotonic() < deadline, f"create after PD loss: {js}"
        time.sleep(0.5)
    c.wait_leaders("after")
    assert upsert(c, "after", [1, 2, 3])
    c.pds[i].start()
    c.converged("m", {i: vcrc(i) for i in range(1, 101)}, timeout=60)


def test_worker_lost_spare_restores_replication(cluster):
    c = cluster
    c.add_worker(4)
    c.wait_workers(4)
    shards = create(c, "r", shards=2)
    assert upsert(c, "r", range(1, 301))
    # Lose a worker that holds replicas (every worker but the spare may).
    victim = next(n for n in shards[0]["replicas"] if n != 4)
    c.workers[victim].kill9()
    deadline = time.monotonic() + 90
    while True:
        sh = c.shards("r")
        if sh and all(victim not in s["replicas"] and
                      len(s["replicas"]) == 3 for s in sh):
            break
        assert time.monotonic() < deadline, \
            f"replication not restored: {sh}\n" + c.tails()
        time.sleep(0.5)
    assert any(4 in s["replicas"] for s in c.shards("r"))
    c.converged("r", {i: vcrc(i) for i in range(1, 301)}, timeout=90)


ADMIN = "cluster-admin-key-0123456789"


def test_auth_keys_through_a_cluster_gateway(vectron_bin, tmp_path):
    """Stored API keys live in the PD's catalog: a key created through a
    gateway is committed by the PD, mirrored back, and enforced."""
    c = Cluster(vectron_bin, tmp_path / "cluster", pds=1, workers=3,
                gateway_args=("--api-key", ADMIN))
    try:
        c.start()
        admin = {"api-key": ADMIN}
        assert c.api.get("/collections")[0] == 401
        c.api.ok("PUT", "/collections/sec", {
            "vectors": {"size": DIM, "distance": "Euclid"},
            "replication_factor": 3}, headers=admin)
        c.wait_leaders("sec")
        st, js = c.api.put("/collections/sec/points?wait=true", {
            "points": [{"id": 1, "vector": vec(1)}]}, headers=admin)
        assert st == 200, js
        st, js = c.api.post("/keys", {"access": "read-only",
                                      "collections": ["sec"]}, headers=admin)
        assert st == 200, js
        ro = {"api-key": js["result"]["key"]}
        kid = js["result"]["id"]
        assert c.api.get("/collections/sec", headers=ro)[0] == 200
        st, _ = c.api.put("/collections/sec/points?wait=true", {
            "points": [{"id": 2, "vector": vec(2)}]}, headers=ro)
        assert st == 403
        st, js = c.api.get("/keys", headers=admin)
        assert st == 200 and [k["id"] for k in js["result"]["keys"]] == [kid]
        assert c.api.delete(f"/keys/{kid}", headers=admin)[0] == 200
        assert c.api.get("/collections/sec", headers=ro)[0] == 401
    finally:
        c.stop()


def test_drain_moves_replicas_away(cluster, vectron_bin):
    c = cluster
    c.add_worker(4)
    c.wait_workers(4)
    shards = create(c, "d", shards=2)
    assert upsert(c, "d", range(1, 201))
    victim = shards[0]["replicas"][0]
    out = subprocess.run([str(vectron_bin), "node", "drain", c.pd_list,
                          str(victim)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 90
    while True:
        sh = c.shards("d")
        if sh and all(victim not in s["replicas"] and
                      len(s["replicas"]) == 3 for s in sh):
            break
        assert time.monotonic() < deadline, f"drain stuck: {sh}\n" + \
            c.tails()
        time.sleep(0.5)
    # The drained worker still runs; every replica has every point.
    assert c.workers[victim].running
    c.converged("d", {i: vcrc(i) for i in range(1, 201)}, timeout=60)
    assert upsert(c, "d", [500, 501])


def leaders_per_node(c, name):
    counts = {n: 0 for n in c.workers}
    for s in c.shards(name):
        if s["leader"]:
            counts[s["leader"]] += 1
    return counts


def test_leaders_rebalance_after_a_restart(cluster):
    """A worker that restarts leads nothing at first (its groups elected
    leaders elsewhere); the PD's scheduler hands it leaderships back until
    no worker leads two more shards than another."""
    c = cluster
    create(c, "bal", shards=6)
    assert upsert(c, "bal", range(1, 61))
    victim = 1
    c.workers[victim].kill9()
    c.wait_leaders("bal", avoid=(victim,))
    c.workers[victim].start()
    deadline = time.monotonic() + 90
    while True:
        counts = leaders_per_node(c, "bal")
        if sum(counts.values()) == 6 and counts[victim] >= 1 and \
                max(counts.values()) - min(counts.values()) <= 1:
            break
        assert time.monotonic() < deadline, \
            f"leaders not balanced: {counts}\n" + c.tails()
        time.sleep(0.5)
    assert upsert(c, "bal", [100, 101])


def replicas_per_node(c, name, shards=None):
    counts = {n: 0 for n in c.workers}
    for s in shards if shards is not None else c.shards(name):
        for n in s["replicas"]:
            counts[n] += 1
    return counts


def strong(c, path, body, timeout=20):
    """POST at strong consistency; retried (bounded) while refused."""
    deadline = time.monotonic() + timeout
    while True:
        st, js = c.api.post(f"{path}?consistency=all", body, timeout=30)
        if st == 200:
            return js["result"]
        assert time.monotonic() < deadline, f"strong read refused: {js}"
        time.sleep(0.2)


def wait_balanced(c, name, new_node, deadline, rf=2):
    """Waits until every shard of `name` has rf replicas, node new_node
    holds some and no node holds two more than another; returns the
    shards and the per-node counts."""
    while True:
        sh = c.shards(name)
        counts = replicas_per_node(c, name, sh)
        if sh and all(len(s["replicas"]) == rf for s in sh) and \
                counts[new_node] >= 1 and \
                max(counts.values()) - min(counts.values()) <= 1:
            return sh, counts
        assert time.monotonic() < deadline, \
            f"replicas not balanced: {counts} {sh}\n" + c.tails()
        time.sleep(0.3)


def test_new_worker_gets_replicas(cluster):
    """Replica balancing: a fourth, empty worker joins a cluster whose
    three workers hold 4 shards x 2 replicas; while a writer runs, the
    PD moves replicas onto it one at a time (add, catch up, drop the
    most-loaded node's copy) until no worker holds two more than another.
    Nothing acknowledged is lost, strong reads see every acknowledged
    point, and the replicas of each group hold the same points."""
    c = cluster
    create(c, "grow", shards=4, rf=2)
    assert upsert(c, "grow", range(1, 201))
    before = replicas_per_node(c, "grow")
    assert sum(before.values()) == 8 and max(before.values()) >= 3, before
    w = Writer(c, "grow", 1000, batch=10, max_batches=3000)
    w.start()
    wait_progress(w, 20)
    t0 = time.monotonic()
    acked0 = len(w.acked)
    c.add_worker(4)
    sh, counts = wait_balanced(c, "grow", 4, t0 + 90)
    took = time.monotonic() - t0
    print(f"balanced in {took:.1f} s: {counts}")
    # Writes went on through the moves, and go on after them.
    assert len(w.acked) > acked0
    wait_progress(w, len(w.acked) + 20)
    w.stop_flag.set()
    w.join(timeout=60)
    assert not w.is_alive()
    expect = {i: vcrc(i) for i in range(1, 201)}
    expect.update(w.acked)
    # Every acknowledged point reads back at strong consistency. (Leader
    # balancing may still be handing leaderships over: a read that finds
    # no leader is refused, and retried; a read that answers must be
    # complete.)
    ids = sorted(expect)
    for k in range(0, len(ids), 200):
        chunk = ids[k:k + 200]
        got = strong(c, "/collections/grow/points", {"ids": chunk})
        assert {p["id"] for p in got} == set(chunk)
    # A batch that was not acknowledged may or may not be applied (on some
    # shards): at most its points come on top.
    count = strong(c, "/collections/grow/points/count",
                   {"exact": True})["count"]
    print(f"writes: {len(w.acked)} acknowledged, {w.failed} failed "
          f"batches (last: {w.last_failure}), count {count}")
    assert len(expect) <= count <= len(expect) + w.batch * w.failed
    # A leader handing its leadership over refuses writes as NOT_LEADER;
    # the gateway retries them on the next leader, so none fails.
    assert w.failed == 0, w.last_failure
    c.converged("grow", expect, timeout=60)
    # The placement stays put once balanced (no flip-flop).
    time.sleep(2)
    assert replicas_per_node(c, "grow") == counts


def test_move_survives_pd_leader_loss(cluster):
    """A replica move half done when the PD leader dies: the new PD leader
    carries it on from the committed placement (the shard with one
    replica too many), keeping the newly added replica."""
    c = cluster
    create(c, "mv", shards=3, rf=2)  # two replicas per worker
    assert upsert(c, "mv", range(1, 301))
    c.add_worker(4)
    deadline = time.monotonic() + 60
    moving = None
    while moving is None:
        for s in c.shards("mv"):
            if len(s["replicas"]) == 3:
                moving = s
        assert time.monotonic() < deadline, "no move started\n" + c.tails()
        time.sleep(0.05)
    assert moving["replicas"][-1] == 4, moving
    i = c.pd_leader()
    c.pds[i].kill9()
    assert upsert(c, "mv", range(301, 401))  # the data path goes on
    sh, _ = wait_balanced(c, "mv", 4, time.monotonic() + 60)
    after = next(s for s in sh if s["group"] == moving["group"])
    assert 4 in after["replicas"], (moving, after)
    assert set(after["replicas"]) < set(moving["replicas"])
    c.pds[i].start()
    c.converged("mv", {i: vcrc(i) for i in range(1, 401)}, timeout=60)


def test_stale_placement_epoch_refused(cluster):
    """A write names the placement epoch the gateway routes by; the
    shard's leader refuses one older than the epoch it learned from the
    PD (so a gateway with stale routes refreshes them and retries), and
    takes the current one."""
    c = cluster
    create(c, "ep", shards=1, rf=3)
    assert upsert(c, "ep", [1])
    sh = c.wait_leaders("ep")[0]
    leader, group, epoch = sh["leader"], sh["group"], sh["conf_epoch"]
    assert epoch > 1, sh
    assert not c.replica_write(leader, group, 7, DIM, epoch=epoch - 1)
    assert "stale placement epoch" in c.last_replica_write_error, \
        c.last_replica_write_error
    assert c.replica_write(leader, group, 8, DIM, epoch=epoch), \
        c.last_replica_write_error
    assert c.replica_write(leader, group, 9, DIM), \
        c.last_replica_write_error  # no epoch named: not checked
