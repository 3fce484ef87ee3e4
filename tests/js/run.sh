#!/usr/bin/env bash
# Runs the Qdrant JS client integration test against build/vectron (or
# $VECTRON_BIN). Installs Debian's nodejs/npm if node is missing, and runs
# `npm ci` only when node_modules is missing or was installed from another
# package-lock.json or by another node version.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "tests/js: installing Debian packages nodejs npm" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi

stamp="node_modules/.vectron-install-stamp"
want="$(sha256sum package-lock.json | cut -d' ' -f1) node $(node --version)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    npm ci --no-audit --no-fund --prefer-offline
    printf '%s\n' "$want" > "$stamp"
fi

exec node --test client.test.mjs
