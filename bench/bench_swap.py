#!/usr/bin/env python3
"""How long a replica that catches up by store copy stalls its node's Raft
loop (src/worker/host_copy.c): the copier swaps the copied store in while
holding the shard's apply_mu, which every FSM callback of the node waits
for, and logs "swap held apply_mu for N ms".

Starts a local cluster with tests/integration/cluster.py (3 PD members,
4 workers, one gateway on loopback, --snapshot-threshold 64 so that the
log is compacted), creates a collection of 1 shard x 3 replicas, upserts
--points points (dim 64, batches of 20), then keeps a writer running
while it kills a worker holding a replica: the spare is given the replica,
installs the snapshot by copying the store, and catches up. Prints the
held time(s) and the deferred-entry counts from the spare's log. Stops
everything it started. Standard library only.

    /usr/bin/python3 bench/bench_swap.py [--points 5000] [--binary build/vectron]
"""
import argparse
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import cluster as cl  # noqa: E402

DIM = 64


def vec(rng):
    return [rng.uniform(-1, 1) for _ in range(DIM)]


def upsert(api, ids, rng):
    st, js = api.put("/collections/s/points?wait=true", {
        "points": [{"id": i, "vector": vec(rng), "payload": {"n": i}}
                   for i in ids]}, timeout=60)
    return st == 200


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument("--binary", default=str(ROOT / "build" / "vectron"))
    ap.add_argument("--keep", help="run in this directory and keep it")
    a = ap.parse_args()
    cl.RAFT_ARGS = cl.RAFT_ARGS + ["--snapshot-threshold", "64",
                                   "--snapshot-trailing", "16"]
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-swap-") as tmp:
        if a.keep:
            tmp = a.keep
        c = cl.Cluster(a.binary, Path(tmp) / "c", pds=3, workers=4)
        try:
            c.start()
            c.api.ok("PUT", "/collections/s", {
                "vectors": {"size": DIM, "distance": "Euclid"},
                "shard_number": 1, "replication_factor": 3})
            shards = c.wait_leaders("s")
            for k in range(1, a.points + 1, 20):
                assert upsert(c.api, range(k, min(k + 20, a.points + 1)),
                              rng)
            reps = shards[0]["replicas"]
            spare = next(n for n in c.workers if n not in reps)
            victim = next(n for n in reps if n != shards[0]["leader"])
            stop = threading.Event()
            written = [0]

            def writer():
                from conftest import JsonClient
                cli = JsonClient(c.host, c.http_port, timeout=30)
                r = random.Random(9)
                nxt = a.points + 1
                while not stop.is_set():
                    try:
                        if upsert(cli, range(nxt, nxt + 10), r):
                            written[0] += 10
                    except OSError:
                        time.sleep(0.05)
                    nxt += 10
                cli.close()

            t = threading.Thread(target=writer, daemon=True)
            t.start()
            c.workers[victim].kill9()
            log = c.workers[spare].log_path
            deadline = time.monotonic() + 120
            held = []
            while time.monotonic() < deadline:
                text = log.read_text(errors="replace")
                held = re.findall(r"swap held apply_mu for ([0-9.]+) ms",
                                  text)
                if held:
                    break
                time.sleep(0.5)
            time.sleep(1)
            stop.set()
            t.join(timeout=60)
            text = log.read_text(errors="replace")
            for line in text.splitlines():
                if re.search(r"copying the store|installed the copied|"
                             r"swap held|deferred|spill", line):
                    print(line)
            if not held:
                print("no store copy seen\n" + c.tails())
                return 1
            print(f"points {a.points}, written during the copy {written[0]}"
                  f", apply_mu held by the swap: {', '.join(held)} ms")
            return 0
        finally:
            c.stop()


if __name__ == "__main__":
    sys.exit(main())
