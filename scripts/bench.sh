#!/usr/bin/env bash
# `make bench`, part 1: the index benchmark (docs/bench.md). Installs the
# bench dependencies, prepares the data, builds build-bench/ in Release with
# -DVECTRON_BENCH=ON, computes (or reuses) the exact ground truth, then runs
# every library on every data set, each run in its own process:
#   1 thread:  build only (build time, memory)
#   2 threads: build (build time) + single-thread search sweep
# faiss's 1-thread build is skipped unless BENCH_FAISS_1T=1: Debian's faiss
# builds slowly (GloVe with 1 thread took ~470 s here), which would push
# the run well past 25 minutes; its memory then comes from the 2-thread
# build.
# and writes bench/out/index.csv, bench/out/index-<data>.png and the summary
# table (also in bench/out/index-summary.txt).
#
# Knobs (environment):
#   BENCH_QUICK=1       Fashion-MNIST only, first 20000 points; output goes
#                       to bench/out/quick/ so full results are kept
#   BENCH_LIBS="..."    libraries (default: hnswlib vectron vectron-int8 faiss)
#   BENCH_FAISS_1T=1    also time faiss's 1-thread build
#   BENCH_DATA="..."    data sets (default: fashion glove)
#   BENCH_M, BENCH_EFC  HNSW M and ef_construction (default 16, 200)
#   BENCH_OUT=DIR       write the results there instead of bench/out
#   BENCH_NO_INSTALL=1  skip scripts/install-deps.sh
#   BENCH_RERANK=0      skip part 3, the rerank benchmark (bench_rerank on
#                       each data set; BENCH_RERANK_QUERIES queries, default
#                       1000)
#   BENCH_RETRIES=N     rerun a measurement up to N times (default 1) when it
#                       got too little CPU (another process competed: build
#                       below 85% or a search point below 90% of its
#                       threads' time, the cpu_util column); the last
#                       attempt is kept either way and the report flags it
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-bench"
data="$root/bench/data"
out="${BENCH_OUT:-$root/bench/out}"
libs="${BENCH_LIBS:-hnswlib vectron vectron-int8 faiss}"
# int8 sweeps four oversampling factors, so it gets a coarser ef list.
efs_int8="10,16,24,32,48,64,96,128,192,256,384,512"
retries="${BENCH_RETRIES:-1}"
datasets="${BENCH_DATA:-fashion glove}"
m="${BENCH_M:-16}"
efc="${BENCH_EFC:-200}"
n=0
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    datasets=fashion
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
cmake --build "$build" -j"$(nproc)" --target bench_index bench_gt bench_report
bin="$build/bench"

metric_of() {
    case "$1" in
    fashion) echo l2 ;;
    glove) echo cosine ;;
    *) echo "bench: unknown data set $1" >&2; exit 1 ;;
    esac
}

gt_prefix() {
    if [ "$n" -gt 0 ]; then echo "$data/$1-n$n.gt"; else echo "$data/$1.gt"; fi
}

for d in $datasets; do
    gt="$(gt_prefix "$d")"
    if [ ! -s "$gt.fvecs" ] || [ ! -s "$gt.ivecs" ]; then
        echo "bench: exact ground truth for $d (cached in $gt.*)"
        "$bin/bench_gt" --base "$data/$d.base.fvecs" \
            --query "$data/$d.query.fvecs" --n "$n" \
            --metric "$(metric_of "$d")" --k 100 --out "$gt"
    fi
done

mkdir -p "$out"
csv="$out/index.csv"
log="$out/index.log"
rm -f "$csv" "$out"/index-*.dat "$out"/index-*.gp "$out"/index-*.png
: >"$log"
read -r load1 _ </proc/loadavg
echo "bench: $(nproc) CPUs, load average $load1 (other work on the machine" \
    "skews the timings)" | tee -a "$log"

# Prints 1 when the run's CSV (argument) has a contended row, else 0. The
# thresholds are bench_report's BUILD_UTIL_MIN and SEARCH_UTIL_MIN.
contended() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "cpu_util") c = i; next }
        c && $c != "" && $c < ($1 == "build" ? 0.85 : 0.90) { bad = 1 }
        END { print bad + 0 }' "$1"
}

# Runs bench_index once (retrying contended measurements) and appends its
# rows to the CSV.
run_one() {
    local tmp="$out/.run.csv" attempt=0
    while :; do
        rm -f "$tmp"
        if ! "$bin/bench_index" "$@" --out "$tmp" 2>&1 | tee -a "$log"; then
            return 1
        fi
        if [ "$(contended "$tmp")" = 0 ] || [ "$attempt" -ge "$retries" ]; then
            break
        fi
        attempt=$((attempt + 1))
        read -r load1 _ </proc/loadavg
        echo "bench: too little CPU (contended; load average $load1)," \
            "retry $attempt of $retries" | tee -a "$log"
    done
    if [ ! -s "$csv" ]; then
        head -n 1 "$tmp" >"$csv"
    fi
    tail -n +2 "$tmp" >>"$csv"
    rm -f "$tmp"
}

failed=0
start=$(date +%s)
for d in $datasets; do
    for lib in $libs; do
        for threads in 1 2; do
            args=(--lib "$lib" --data "$d" --data-dir "$data" --n "$n"
                --gt "$(gt_prefix "$d")" --threads "$threads" --m "$m"
                --efc "$efc")
            if [ "$threads" = 1 ]; then
                if [ "$lib" = faiss ] && [ "${BENCH_FAISS_1T:-0}" != 1 ]; then
                    continue
                fi
                args+=(--no-search)
            fi
            if [ "$lib" = vectron-int8 ]; then
                args+=(--efs "$efs_int8")
            fi
            read -r load1 _ </proc/loadavg
            echo "bench: $lib on $d, build with $threads thread(s)" \
                "(load average $load1)" | tee -a "$log"
            if ! run_one "${args[@]}"; then
                echo "bench: FAILED: $lib on $d ($threads threads)" |
                    tee -a "$log"
                failed=1
            fi
        done
    done
done
echo "bench: runs took $(($(date +%s) - start)) s" | tee -a "$log"

"$bin/bench_report" --csv "$csv" --plot-dir "$out" |
    tee "$out/index-summary.txt"
for gp in "$out"/index-*.gp; do
    [ -e "$gp" ] || continue
    gnuplot "$gp"
done
echo
echo "bench: CSV $csv, plots: $(ls "$out"/index-*.png 2>/dev/null | tr '\n' ' ')"
# Part 2: the HTTP benchmark (scripts/bench-http.sh); BENCH_HTTP=0 skips it.
[ "${BENCH_HTTP:-1}" = 0 ] || BENCH_NO_INSTALL=1 "$root/scripts/bench-http.sh" || failed=1
# Part 3: the rerank benchmark (docs/bench.md): recall@10 of int8 candidates
# alone and after exact rescoring, on each data set (Fashion-MNIST first);
# BENCH_RERANK=0 skips it.
if [ "${BENCH_RERANK:-1}" != 0 ]; then
    cmake --build "$build" -j"$(nproc)" --target bench_rerank
    rm -f "$out/rerank.csv" "$out/rerank-summary.txt"
    for d in $datasets; do
        tmp="$out/.rerank.csv"
        if "$bin/bench_rerank" --data "$d" --data-dir "$data" \
            --gt "$(gt_prefix "$d")" --n "$n" --m "$m" --efc "$efc" \
            --queries "${BENCH_RERANK_QUERIES:-1000}" --out "$tmp" \
            --index "$data/rerank-$d-n$n-m$m-efc$efc.idx" |
            tee -a "$out/rerank-summary.txt"; then
            [ -s "$out/rerank.csv" ] || head -n 1 "$tmp" >"$out/rerank.csv"
            tail -n +2 "$tmp" >>"$out/rerank.csv"
            rm -f "$tmp"
        else
            echo "bench: FAILED: bench_rerank on $d"
            failed=1
        fi
    done
    echo "bench: rerank CSV $out/rerank.csv"
fi
# Part 4: the cluster benchmark (bench/bench_cluster.py: replicated upsert
# throughput RF3 vs RF1, single-upsert latency beside etcd, search QPS on 1
# vs 3 replicas); BENCH_CLUSTER=0 skips it.
if [ "${BENCH_CLUSTER:-1}" != 0 ]; then
    /usr/bin/python3 "$root/bench/bench_cluster.py" --out "$out/cluster.csv" |
        tee "$out/cluster-summary.txt" || failed=1
fi
# Part 5: the tuning curves of docs/tuning.md (scripts/bench-tuning.sh);
# BENCH_TUNING=0 skips it.
[ "${BENCH_TUNING:-1}" = 0 ] || "$root/scripts/bench-tuning.sh" || failed=1
exit "$failed"
