#!/usr/bin/env bash
# `make run`: starts `vectron serve` on ./data (VECTRON_DATA overrides),
# loads the sample collection on first run (Fashion-MNIST converted to
# JSONL by scripts/sample_jsonl.py, then `vectron import`; an interrupted
# load resumes on the next run), prints how to query it, and keeps the
# server in the foreground until Ctrl-C.
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

# The sample: 10,000 images with their label as payload, a keyword index
# on "label". Loaded when the collection does not exist yet, or when an
# earlier load was interrupted (its import state file is still there).
vectron="$root/build/vectron"
sample="$root/build/fashion-mnist.jsonl"
state="$root/build/fashion.fashion-mnist.jsonl.import-state"
case "$(curl -sf "$url/collections/fashion/exists" || true)" in
    *'"exists":true'*) loaded=1 ;;
    *) loaded=0 ;;
esac
if [ $loaded = 0 ] || [ -f "$state" ]; then
    if [ ! -f "$sample" ]; then
        echo "run: writing $sample (Fashion-MNIST as JSONL)"
        python3 "$root/scripts/sample_jsonl.py" --out "$sample" --count 10000
    fi
    if [ ! -f "$state" ]; then
        "$vectron" collections create fashion --dim 784 --distance Euclid \
            --url "$url" >/dev/null
        curl -sf -X PUT "$url/collections/fashion/index?wait=true" \
            -H 'Content-Type: application/json' \
            -d '{"field_name": "label", "field_schema": "keyword"}' >/dev/null
    fi
    "$vectron" import --url "$url" --collection fashion "$sample"
fi

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

With the CLI (docs/cli.md):

  $vectron search --url $url -c fashion --id 42 --limit 5 --with-payload
  $vectron search --url $url -c fashion --id 42 --limit 5 --with-payload \\
       --filter '{"must": [{"key": "label", "match": {"value": "Sneaker"}}]}'
  $vectron collections info fashion --url $url
  $vectron status --url $url

With the Python SDK (clients/python, docs/python.md):

  PYTHONPATH=$root/clients/python python3 -c '
import vectron
c = vectron.Client("$url")
for p in c.search("fashion", 42, limit=5):
    print(p.id, round(p.score, 1), p.payload["label"])'

API reference: docs/api.md. Stop with Ctrl-C.
MSG
wait $pid
