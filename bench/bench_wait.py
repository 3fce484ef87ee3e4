#!/usr/bin/env python3
"""wait=true against wait=false (docs/tuning.md), measured on `vectron
serve`: upsert N Fashion-MNIST points (Debian's dataset-fashion-mnist) in
batches of B as JSON bodies encoded before the clock starts (so the figure
is the server's, not the client's encoding), one keep-alive client, once
with wait=true (each batch answered when applied: durable and searchable)
and once with wait=false (answered once handed to Raft), into two fresh
collections; reports the time until every batch is acknowledged, the time
until every point is counted (visible), and both as points/s. Starts its
own server on free loopback ports and a temporary data directory, and
stops it.

    bench/bench_wait.py [--points 20000] [--batch 500] [--out CSV]
"""
import argparse
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "clients" / "python"))
import vectron  # noqa: E402

BIN = Path(os.environ.get("VECTRON_BIN", ROOT / "build" / "vectron"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def images(n):
    with gzip.open("/usr/share/datasets/fashion-mnist/"
                   "train-images-idx3-ubyte.gz", "rb") as f:
        f.read(16)
        return [list(f.read(784)) for _ in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--out")
    a = ap.parse_args()
    data = images(a.points)
    work = Path(tempfile.mkdtemp(prefix="vectron-bench-wait-"))
    port, raft = free_port(), free_port()
    proc = subprocess.Popen([str(BIN), "serve", "--data", str(work / "d"),
                             "--http-listen", f"127.0.0.1:{port}",
                             "--raft-listen", f"127.0.0.1:{raft}"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    rows = []
    try:
        c = vectron.Client(f"http://127.0.0.1:{port}")
        for _ in range(300):
            try:
                if c.ready():
                    break
            except vectron.VectronError:
                pass
            except OSError:
                pass
            time.sleep(0.1)
        for wait in (True, False):
            name = f"w{int(wait)}"
            c.create_collection(name, 784, distance="Euclid")
            bodies = [json.dumps({"points": [
                {"id": i, "vector": data[i]}
                for i in range(b, min(b + a.batch, a.points))]}).encode()
                for b in range(0, a.points, a.batch)]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            path = f"/collections/{name}/points?wait={str(wait).lower()}"
            t0 = time.monotonic()
            for body in bodies:
                conn.request("PUT", path, body=body,
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                raw = r.read()
                assert r.status == 200, raw
            t_ack = time.monotonic() - t0
            conn.close()
            while c.count(name) < a.points:
                time.sleep(0.005)
            t_vis = time.monotonic() - t0
            print(f"wait={str(wait).lower()}: {a.points} points, batches of "
                  f"{a.batch}: acknowledged in {t_ack:.2f} s "
                  f"({a.points / t_ack:.0f} points/s), all visible after "
                  f"{t_vis:.2f} s ({a.points / t_vis:.0f} points/s)")
            rows.append((str(wait).lower(), f"{t_ack:.3f}", f"{t_vis:.3f}"))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write("wait,ack_s,visible_s\n")
            for r in rows:
                f.write(",".join(r) + "\n")


if __name__ == "__main__":
    main()
