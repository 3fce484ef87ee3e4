#!/usr/bin/env bash
# Runs the dashboard test (dashboard.test.mjs) against build/vectron (or
# $VECTRON_BIN): headless Debian chromium driven by playwright-core. Installs
# Debian's nodejs/npm and chromium if they are missing, and runs `npm ci`
# only when node_modules is missing or was installed from another
# package-lock.json or by another node version. Screenshots go to
# build/dashboard-screenshots/ (or $DASHBOARD_SCREENSHOT_DIR); the test
# prints their paths.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi
if [ ! -x /usr/bin/chromium ]; then
    missing+=(chromium)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "tests/dashboard: installing Debian packages ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp="node_modules/.vectron-install-stamp"
want="$(sha256sum package-lock.json | cut -d' ' -f1) node $(node --version)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    npm ci --no-audit --no-fund --prefer-offline
    printf '%s\n' "$want" > "$stamp"
fi

exec node --test dashboard.test.mjs
