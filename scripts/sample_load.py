#!/usr/bin/env python3
"""Loads a sample collection into a running `vectron serve` for `make run`.

Reads the first N images (default 10,000) of Fashion-MNIST from Debian's
dataset-fashion-mnist package (gzipped idx files), and upserts them as
784-dimensional vectors (raw pixels, Euclidean distance) with their label as
payload into the collection "fashion", with a keyword payload index on
"label". Does nothing if the collection already exists. Standard library
only.

    scripts/sample_load.py [--url http://127.0.0.1:6333] [--count 10000]
"""
import argparse
import gzip
import json
import struct
import sys
import urllib.error
import urllib.request

SRC = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
          "Shirt", "Sneaker", "Bag", "Ankle boot"]


def call(url, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        msg = e.read().decode(errors="replace")
        sys.exit(f"sample_load: {method} {path}: HTTP {e.code}: {msg}")


def read_idx(path, count):
    with gzip.open(path, "rb") as f:
        magic = struct.unpack(">I", f.read(4))[0]
        ndim = magic & 0xFF
        dims = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        n = min(count, dims[0])
        per = 1
        for d in dims[1:]:
            per *= d
        raw = f.read(n * per)
        return [raw[i * per:(i + 1) * per] for i in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:6333")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--collection", default="fashion")
    a = ap.parse_args()
    name = a.collection
    if call(a.url, "GET", f"/collections/{name}/exists")["result"]["exists"]:
        print(f"sample_load: collection '{name}' already exists; kept as is")
        return
    images = read_idx(f"{SRC}/train-images-idx3-ubyte.gz", a.count)
    labels = read_idx(f"{SRC}/train-labels-idx1-ubyte.gz", a.count)
    call(a.url, "PUT", f"/collections/{name}",
         {"vectors": {"size": 784, "distance": "Euclid"}})
    call(a.url, "PUT", f"/collections/{name}/index?wait=true",
         {"field_name": "label", "field_schema": "keyword"})
    batch = 500
    for start in range(0, len(images), batch):
        pts = [{"id": i, "vector": list(images[i]),
                "payload": {"label": LABELS[labels[i][0]],
                            "label_id": labels[i][0]}}
               for i in range(start, min(start + batch, len(images)))]
        call(a.url, "PUT", f"/collections/{name}/points?wait=true",
             {"points": pts})
        print(f"\rsample_load: {start + len(pts)}/{len(images)} points",
              end="", flush=True)
    print()


if __name__ == "__main__":
    main()
