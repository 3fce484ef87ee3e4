#!/usr/bin/env python3
"""Writes the sample data set of `make run` as JSONL for `vectron import`.

Reads the first N images (default 10,000; the whole training set is 60,000)
of Fashion-MNIST from Debian's dataset-fashion-mnist package (gzipped idx
files) and writes one line per image:

    {"id": 0, "vector": [0, 0, ..., 255], "payload": {"label": "Ankle boot", "label_id": 9}}

the vector being the 784 raw pixels. The output is written to OUT.tmp and
renamed, so a partial file is never left under OUT. Standard library only.

    scripts/sample_jsonl.py --out fashion.jsonl [--count 10000]
"""
import argparse
import gzip
import json
import os
import struct

SRC = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
          "Shirt", "Sneaker", "Bag", "Ankle boot"]


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
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=10000)
    a = ap.parse_args()
    images = read_idx(f"{SRC}/train-images-idx3-ubyte.gz", a.count)
    labels = read_idx(f"{SRC}/train-labels-idx1-ubyte.gz", a.count)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        for i, (img, lab) in enumerate(zip(images, labels)):
            rec = {"id": i, "vector": list(img),
                   "payload": {"label": LABELS[lab[0]], "label_id": lab[0]}}
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
