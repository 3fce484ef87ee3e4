#!/usr/bin/env python3
"""The cluster benchmark (part 4 of `make bench`; docs/bench.md).

Starts a local cluster with scripts/cluster.sh (3 PD members, 3 workers,
1 gateway on loopback, in a fresh directory) and measures, on Fashion-MNIST
(Debian's dataset-fashion-mnist, written as JSONL by scripts/sample_jsonl.py):

1. replicated upsert throughput: `vectron import` (binary bulk batches of
   500, wait=true, 2 in flight) into a collection with replication factor 1
   and into one with replication factor 3; the ratio RF3/RF1. Acknowledged
   writes are durable and searchable (exactly, from each shard's pending
   buffer) before the HNSW graph holds them, so the time until every
   replica's graph holds every point (`vectron replica-status` on each
   worker shows nothing pending) is measured too, and its rate;
2. single-point upsert latency (one point per request, wait=true, one
   client, keep-alive) on RF 3, p50/p99, beside the put latency of etcd
   (Debian's etcd-server, started here on its own data directory on the
   same disk, one member, its JSON gateway, the same client loop): one Raft
   commit each, as the reference;
3. search QPS at eventual consistency (k=10, ef 64, THREADS client threads
   for SECONDS seconds) on the RF 1 and the RF 3 collection: three replicas
   to spread reads over against one.

Every figure printed is measured here; results go to stdout and, with
--out, to a CSV. Stops everything it started. Standard library only.

    bench/bench_cluster.py [--points 20000] [--seconds 10] [--threads 4]
"""
import argparse
import base64
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("VECTRON_BIN", ROOT / "build" / "vectron"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.c.connect()
        self.c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        self.c.request(method, path, body=data,
                       headers={"Content-Type": "application/json"})
        r = self.c.getresponse()
        raw = r.read()
        return r.status, raw


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def all_indexed(base):
    """True when every replica on the 3 workers has an empty pending
    buffer and the replicas of each group have applied the same index."""
    applied = {}
    for i in (1, 2, 3):
        p = subprocess.run([str(BIN), "replica-status",
                            f"127.0.0.1:{base + 30 + i}"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            return False
        for line in p.stdout.splitlines():
            r = json.loads(line)
            if r["pending"]:
                return False
            applied.setdefault(r["group"], set()).add(r["applied_index"])
    return all(len(v) == 1 for v in applied.values())


def read_queries(n):
    """n Fashion-MNIST test images as float vectors."""
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                   "rb") as f:
        f.read(16)
        return [[float(b) for b in f.read(784)] for _ in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=20000)
    ap.add_argument("--singles", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--parallel", type=int, default=2,
                    help="import batches in flight")
    ap.add_argument("--out")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vectron-bench-cluster-"))
    base = free_port() // 100 * 100 % 60000 + 1000
    env = dict(os.environ, DIR=str(work / "cluster"), BASE=str(base),
               VECTRON_BIN=str(BIN))
    gw = base + 40
    rows = []
    etcd = None
    try:
        jsonl = work / "fashion.jsonl"
        subprocess.run([sys.executable, str(ROOT / "scripts/sample_jsonl.py"),
                        "--out", str(jsonl), "--count", str(a.points)],
                       check=True)
        subprocess.run([str(ROOT / "scripts/cluster.sh"), "up"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        c = Client(gw)
        for rf in (1, 3):
            # The PD elects a leader and the workers register a moment
            # after the gateway is up: retry for a minute.
            deadline = time.monotonic() + 60
            while True:
                st, raw = c.req("PUT", f"/collections/rf{rf}", {
                    "vectors": {"size": 784, "distance": "Euclid"},
                    "shard_number": 2, "replication_factor": rf})
                if st == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert st == 200, raw
        # 1. throughput
        tput, indexed = {}, {}
        for rf in (1, 3):
            t0 = time.monotonic()
            p = subprocess.run([str(BIN), "import", "-c", f"rf{rf}",
                                "--url", f"http://127.0.0.1:{gw}",
                                "--batch", "500", "--parallel",
                                str(a.parallel),
                                "--restart", "--state-dir", str(work),
                                str(jsonl)],
                               capture_output=True, text=True)
            secs = time.monotonic() - t0
            assert p.returncode == 0, p.stderr
            tput[rf] = a.points / secs
            print(f"upsert RF{rf}: {a.points} points in {secs:.2f} s = "
                  f"{tput[rf]:.0f} points/s")
            rows.append((f"upsert_points_per_s_rf{rf}", f"{tput[rf]:.0f}"))
            deadline = time.monotonic() + 600
            while not all_indexed(base) and time.monotonic() < deadline:
                time.sleep(0.05)
            isecs = time.monotonic() - t0
            indexed[rf] = a.points / isecs
            print(f"  indexed on every replica after {isecs:.2f} s = "
                  f"{indexed[rf]:.0f} points/s")
            rows.append((f"indexed_points_per_s_rf{rf}", f"{indexed[rf]:.0f}"))
        ratio = tput[3] / tput[1]
        print(f"upsert RF3/RF1 = {ratio:.2f} (acknowledged); "
              f"{indexed[3] / indexed[1]:.2f} (indexed on every replica)")
        rows.append(("upsert_ratio_rf3_rf1", f"{ratio:.3f}"))
        rows.append(("indexed_ratio_rf3_rf1",
                     f"{indexed[3] / indexed[1]:.3f}"))
        # 2. single upserts
        vec = [0.5] * 784
        lat = []
        for i in range(a.singles):
            t0 = time.perf_counter()
            st, raw = c.req("PUT", "/collections/rf3/points?wait=true", {
                "points": [{"id": 10_000_000 + i, "vector": vec}]})
            lat.append(time.perf_counter() - t0)
            assert st == 200, raw
        p50, p99 = percentile(lat, 0.5) * 1e3, percentile(lat, 0.99) * 1e3
        print(f"single upsert RF3 (wait=true): p50 {p50:.2f} ms, "
              f"p99 {p99:.2f} ms ({a.singles} requests)")
        rows += [("single_upsert_p50_ms", f"{p50:.3f}"),
                 ("single_upsert_p99_ms", f"{p99:.3f}")]
        etcd_bin = shutil.which("etcd") or "/usr/bin/etcd"
        if os.path.exists(etcd_bin):
            cport, pport = free_port(), free_port()
            etcd = subprocess.Popen(
                [etcd_bin, "--data-dir", str(work / "etcd"),
                 "--listen-client-urls", f"http://127.0.0.1:{cport}",
                 "--advertise-client-urls", f"http://127.0.0.1:{cport}",
                 "--listen-peer-urls", f"http://127.0.0.1:{pport}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
                 "--initial-cluster", f"default=http://127.0.0.1:{pport}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(100):
                try:
                    e = Client(cport)
                    if e.req("GET", "/health")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            elat = []
            val = base64.b64encode(b"x" * 100).decode()
            for i in range(a.singles):
                key = base64.b64encode(b"k%d" % i).decode()
                t0 = time.perf_counter()
                st, raw = e.req("POST", "/v3/kv/put", {"key": key,
                                                       "value": val})
                elat.append(time.perf_counter() - t0)
                assert st == 200, raw
            e50 = percentile(elat, 0.5) * 1e3
            e99 = percentile(elat, 0.99) * 1e3
            print(f"etcd put (same disk, same client loop): p50 {e50:.2f} ms, "
                  f"p99 {e99:.2f} ms")
            rows += [("etcd_put_p50_ms", f"{e50:.3f}"),
                     ("etcd_put_p99_ms", f"{e99:.3f}")]
        else:
            print("etcd-server not installed: no reference latency")
        # 3. search QPS, eventual consistency
        queries = read_queries(200)
        for rf in (1, 3):
            stop = time.monotonic() + a.seconds
            counts = [0] * a.threads

            def run(t):
                cl = Client(gw)
                i = t
                while time.monotonic() < stop:
                    st, raw = cl.req("POST", f"/collections/rf{rf}/points/query",
                                     {"query": queries[i % len(queries)],
                                      "limit": 10, "params": {"hnsw_ef": 64}})
                    assert st == 200, raw
                    counts[t] += 1
                    i += a.threads

            ts = [threading.Thread(target=run, args=(t,))
                  for t in range(a.threads)]
            t0 = time.monotonic()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            qps = sum(counts) / (time.monotonic() - t0)
            print(f"search RF{rf} eventual, {a.threads} client threads: "
                  f"{qps:.0f} QPS")
            rows.append((f"search_qps_rf{rf}", f"{qps:.0f}"))
    finally:
        if etcd:
            etcd.send_signal(signal.SIGTERM)
            try:
                etcd.wait(timeout=30)
            except subprocess.TimeoutExpired:
                etcd.kill()
        subprocess.run([str(ROOT / "scripts/cluster.sh"), "down"], env=env,
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write("metric,value\n")
            for k, v in rows:
                f.write(f"{k},{v}\n")


if __name__ == "__main__":
    main()
