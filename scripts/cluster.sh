#!/usr/bin/env bash
# A local cluster on loopback: 3 Placement Driver members, 3 workers and
# 1 gateway, each with its own data directory under $DIR (default
# ./cluster-data) and its log in $DIR/<name>.log.
#
#   scripts/cluster.sh up      start them (ports from $BASE, default 7100)
#   scripts/cluster.sh down    stop them (SIGTERM to the PIDs it started)
#   scripts/cluster.sh status  which are running
#
# Ports: PD i raft BASE+i, rpc BASE+10+i; worker i raft BASE+20+i, rpc
# BASE+30+i; gateway HTTP BASE+40 (i = 1..3). `make cluster` runs `up`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${VECTRON_BIN:-$root/build/vectron}"
dir="${DIR:-$root/cluster-data}"
base="${BASE:-7100}"
cmd="${1:-status}"

pd_rpc() { echo "127.0.0.1:$((base + 10 + $1))"; }
pd_list="$(pd_rpc 1),$(pd_rpc 2),$(pd_rpc 3)"
peers="1=127.0.0.1:$((base + 1)),2=127.0.0.1:$((base + 2)),3=127.0.0.1:$((base + 3))"

start() { # name, args...
    local name="$1"
    shift
    if [ -f "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
        echo "$name already running (pid $(cat "$dir/$name.pid"))"
        return
    fi
    "$bin" "$@" >>"$dir/$name.log" 2>&1 &
    echo $! >"$dir/$name.pid"
    echo "$name started (pid $!)"
}

case "$cmd" in
up)
    mkdir -p "$dir"
    for i in 1 2 3; do
        start "pd$i" pd --node-id "$i" --data "$dir/pd$i" \
            --raft-listen "127.0.0.1:$((base + i))" --rpc-listen "$(pd_rpc "$i")" \
            --pd-peers "$peers"
    done
    for i in 1 2 3; do
        start "worker$i" worker --node-id "$i" --data "$dir/worker$i" \
            --raft-listen "127.0.0.1:$((base + 20 + i))" \
            --rpc-listen "127.0.0.1:$((base + 30 + i))" --pd "$pd_list"
    done
    start gateway gateway --pd "$pd_list" --http-listen "127.0.0.1:$((base + 40))"
    url="http://127.0.0.1:$((base + 40))"
    for _ in $(seq 1 100); do
        if curl -sf "$url/readyz" >/dev/null 2>&1; then break; fi
        sleep 0.1
    done
    echo "gateway: $url (PD: $pd_list)"
    ;;
down)
    for f in "$dir"/*.pid; do
        [ -e "$f" ] || continue
        pid="$(cat "$f")"
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
        fi
        rm -f "$f"
    done
    echo "stopped"
    ;;
status)
    for f in "$dir"/*.pid; do
        [ -e "$f" ] || { echo "nothing started"; break; }
        name="$(basename "$f" .pid)"
        if kill -0 "$(cat "$f")" 2>/dev/null; then
            echo "$name running (pid $(cat "$f"))"
        else
            echo "$name stopped"
        fi
    done
    ;;
*)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
