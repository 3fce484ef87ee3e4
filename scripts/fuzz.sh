#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) and runs each for
# a bounded time (FUZZ_SECONDS, default 60). Crashes land in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-60}"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVECTRON_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)"
corpus=build-fuzz/corpus-index
mkdir -p "$corpus"
./build-fuzz/fuzz/fuzz_gen_seeds "$corpus"
./build-fuzz/fuzz/fuzz_index_load -max_total_time="$secs" -max_len=65536 \
    -artifact_prefix=build-fuzz/ "$corpus"
