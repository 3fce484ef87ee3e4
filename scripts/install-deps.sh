#!/usr/bin/env bash
# Installs the Debian packages Vectron needs to build, test, run and
# benchmark. Idempotent: it asks dpkg first and runs `apt-get update` once,
# only when something is missing. Usage: scripts/install-deps.sh [--bench]
set -euo pipefail

pkgs=(
    build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
    libcriterion-dev
    libraft-dev libuv1-dev liblmdb-dev libmicrohttpd-dev libjansson-dev
    libprotobuf-c-dev protobuf-c-compiler libsodium-dev libzstd-dev
    libxxhash-dev zlib1g-dev libcurl4-openssl-dev
    python3 python3-pytest curl
    dataset-fashion-mnist
    nodejs npm
    chromium
)
if [ "${1:-}" = "--bench" ]; then
    pkgs+=(libhnswlib-dev libfaiss-dev gnuplot-nox etcd-server)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing+=("$p")
    fi
done
# node and npm may come from outside Debian on some machines; accept them.
if command -v npm >/dev/null 2>&1; then
    filtered=()
    for p in "${missing[@]}"; do
        case "$p" in nodejs|npm) ;; *) filtered+=("$p") ;; esac
    done
    missing=("${filtered[@]+"${filtered[@]}"}")
fi

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
