#!/usr/bin/env bash
# Builds tests/tsan/stress_result_cache.c with -fsanitize=thread (the result
# cache, the request log and the allocator hooks they use) and runs it; any
# ThreadSanitizer report fails the run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${TMPDIR:-/tmp}/vectron-tsan-cache"
gcc -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=thread -I"$root/src" \
    -I"$root/include" "$root/tests/tsan/stress_result_cache.c" \
    "$root/src/gateway/result_cache.c" "$root/src/gateway/request_log.c" \
    "$root/src/common/alloc.c" "$root/src/common/error.c" \
    "$root/src/common/log.c" -o "$out" -lpthread
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out"
