#!/usr/bin/env bash
# The measured trade-offs of docs/tuning.md: recall@10 against single-thread
# QPS over an ef sweep for M = 8, 16, 32, float32 and int8 (Fashion-MNIST,
# the first BENCH_N points, default 20000; bench/bench_index.c), then
# upsert with wait=true against wait=false (bench/bench_wait.py). Results:
# bench/out/tuning.csv, bench/out/wait.csv. Part 5 of `make bench`
# (BENCH_TUNING=0 skips it); needs build-bench/ and bench/data (part 1).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${BENCH_OUT:-$root/bench/out}"
n="${BENCH_N:-20000}"
bin="$root/build-bench/bench"
mkdir -p "$out"
cmake --build "$root/build-bench" -j"$(nproc)" --target bench_index bench_gt
gt="$root/bench/data/fashion-n$n.gt"
[ -f "$gt.ivecs" ] || "$bin/bench_gt" --base "$root/bench/data/fashion.base.fvecs" \
    --query "$root/bench/data/fashion.query.fvecs" --n "$n" --metric l2 \
    --k 100 --out "$gt"
csv="$out/tuning.csv"
rm -f "$csv"
for m in 8 16 32; do
    for lib in vectron vectron-int8; do
        tmp="$out/.tuning.csv"
        "$bin/bench_index" --lib "$lib" --data fashion \
            --data-dir "$root/bench/data" --gt "$gt" --n "$n" --m "$m" \
            --efc 200 --threads 1 --efs 10,16,24,32,48,64,96,128,192,256 \
            --out "$tmp" >/dev/null
        [ -s "$csv" ] || head -n 1 "$tmp" >"$csv"
        tail -n +2 "$tmp" >>"$csv"
        rm -f "$tmp"
        echo "tuning: M=$m $lib done"
    done
done
echo "tuning: $csv"
/usr/bin/python3 "$root/bench/bench_wait.py" --points "$n" --out "$out/wait.csv"
