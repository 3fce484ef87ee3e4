#!/usr/bin/env bash
# `make run`: starts `vectron serve` on ./data (VECTRON_DATA overrides),
# loads the sample collection on first run, prints how to query it, and
# keeps the server in the foreground until Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${VECTRON_DATA:-$root/data}"
port="${VECTRON_PORT:-6333}"
url="http://127.0.0.1:$port"

"$root/build/vectron" serve --data "$data" --http-listen "127.0.0.1:$port" \
    --raft-listen "127.0.0.1:$((port + 2))" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM
for _ in $(seq 1 600); do
    if curl -sf "$url/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 $pid 2>/dev/null; then
        echo "run: vectron serve exited (is port $port in use?)" >&2
        exit 1
    fi
    sleep 0.1
done
python3 "$root/scripts/sample_load.py" --url "$url"

cat <<MSG

Vectron is running: REST API on $url (Qdrant-compatible), data in $data.
The sample collection "fashion" holds 10,000 Fashion-MNIST images
(784-d pixel vectors, Euclidean) with their label as payload.

  # the 5 images nearest to image 42, with payloads
  curl -s -X POST $url/collections/fashion/points/query \\
       -H 'Content-Type: application/json' \\
       -d '{"query": 42, "limit": 5, "with_payload": true}'

  # the same, only among sneakers (payload filter on an indexed field)
  curl -s -X POST $url/collections/fashion/points/query \\
       -H 'Content-Type: application/json' \\
       -d '{"query": 42, "limit": 5, "with_payload": true,
            "filter": {"must": [{"key": "label", "match": {"value": "Sneaker"}}]}}'

  # count the bags
  curl -s -X POST $url/collections/fashion/points/count \\
       -H 'Content-Type: application/json' \\
       -d '{"filter": {"must": [{"key": "label", "match": {"value": "Bag"}}]}}'

  curl -s $url/collections/fashion      # collection info
  curl -s $url/metrics | head           # Prometheus metrics

API reference: docs/api.md. Stop with Ctrl-C.
MSG
wait $pid
