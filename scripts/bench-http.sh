#!/usr/bin/env bash
# `make bench`, part 2: the HTTP benchmark (docs/bench.md, "HTTP
# benchmark"). Builds bench_http and the vectron binary in build-bench/
# (Release, -DVECTRON_BENCH=ON, as scripts/bench.sh does), prepares the data
# and ground truth if missing, then runs bench_http: it starts
# `build-bench/vectron serve` on free loopback ports with its data in a
# fresh directory under $TMPDIR (removed afterwards), loads Fashion-MNIST
# through the REST API (JSON and binary bulk bodies, 1 and 2 client
# threads), sweeps searches over keep-alive connections and compares with
# the in-process index. Writes bench/out/http.csv, bench/out/http.log and
# bench/out/http-summary.txt.
#
# Knobs (environment):
#   BENCH_QUICK=1          first 20000 points; output goes to bench/out/quick/
#   BENCH_OUT=DIR          write the results there instead of bench/out
#   BENCH_NO_INSTALL=1     skip scripts/install-deps.sh (via bench-data.sh)
#   BENCH_M, BENCH_EFC     HNSW M and ef_construct (default 16, 200)
#   BENCH_HTTP_EFS=LIST    ef sweep (default 10,16,24,32,48,64,96,128)
#   BENCH_HTTP_QUERIES=Q   only the first Q queries (default: all 10000)
#   BENCH_HTTP_BATCH=B     points per upsert request (default 500)
#   BENCH_HTTP_SERVER_ARGS extra `vectron serve` flags, e.g. "--http-threads 2"
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-bench"
data="$root/bench/data"
out="${BENCH_OUT:-$root/bench/out}"
n=0
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    n=20000
    out="$out/quick"
fi

if [ "${BENCH_NO_INSTALL:-0}" = 1 ]; then
    "$root/scripts/bench-data.sh" --no-install
else
    "$root/scripts/bench-data.sh"
fi

cmake -S "$root" -B "$build" -DVECTRON_BENCH=ON -DCMAKE_BUILD_TYPE=Release \
    >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_http bench_gt vectron
bin="$build/bench"

gt="$data/fashion.gt"
if [ "$n" -gt 0 ]; then gt="$data/fashion-n$n.gt"; fi
if [ ! -s "$gt.fvecs" ] || [ ! -s "$gt.ivecs" ]; then
    echo "bench-http: exact ground truth (cached in $gt.*)"
    "$bin/bench_gt" --base "$data/fashion.base.fvecs" \
        --query "$data/fashion.query.fvecs" --n "$n" --metric l2 --k 100 \
        --out "$gt"
fi

mkdir -p "$out"
log="$out/http.log"
read -r load1 _ </proc/loadavg
echo "bench-http: $(nproc) CPUs, load average $load1 (other work on the" \
    "machine skews the timings; see the other_cores column)" | tee "$log"
start=$(date +%s)
status=0
"$bin/bench_http" --vectron "$build/vectron" --data fashion \
    --data-dir "$data" --n "$n" --gt "$gt" \
    --m "${BENCH_M:-16}" --efc "${BENCH_EFC:-200}" \
    --efs "${BENCH_HTTP_EFS:-10,16,24,32,48,64,96,128}" \
    --queries "${BENCH_HTTP_QUERIES:-0}" --batch "${BENCH_HTTP_BATCH:-500}" \
    --server-args "${BENCH_HTTP_SERVER_ARGS:-}" --work "${TMPDIR:-/tmp}" \
    --out "$out/http.csv" --summary "$out/http-summary.txt" 2>&1 |
    tee -a "$log" || status=$?
echo "bench-http: took $(($(date +%s) - start)) s; CSV $out/http.csv," \
    "summary $out/http-summary.txt" | tee -a "$log"
exit "$status"
