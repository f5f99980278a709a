#!/usr/bin/env bash
# Failover through the product's own pages: `livecard up --relay-only
# --no-media-node` (release build), media nodes as `livecard media-node`
# processes, a video call between a card page and the console in headless
# Chromium; the node the call relays through is killed (SIGKILL) or drained
# (SIGTERM) after a fresh node joined, and the time to video through the new
# node is measured (bench/src/failover.rs).
#
#   ./scripts/bench-failover.sh [kills, default 10] [drains, default 10]
#
# Needs Debian's chromium and chromium-driver (installed when missing).
# Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-10}
drains=${2:-10}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]} (Debian)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "==> building livecard (release) and the bench driver"
cargo build --quiet --release -p livecard-local
cargo build --quiet -p livecard-bench --bin failover

work=$(mktemp -d)
lc_pid=""
cleanup() { [ -n "$lc_pid" ] && kill "$lc_pid" 2>/dev/null; pkill -9 -f "$work/data media-node" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

data="$work/data"
LIVECARD_LOG=warn ./target/release/livecard --data-dir "$data" up --addr "127.0.0.1:$(free_port)" \
  --demo-addr 127.0.0.1:0 --relay-only --no-media-node > "$work/up.log" 2>&1 &
lc_pid=$!
for _ in $(seq 1 200); do grep -q "Ben Okafor.*/signin/" "$work/up.log" 2>/dev/null && break; sleep 0.1; done
card=$(awk '/^card links/{c=1; next} /^advisor sign-in links/{c=0} c && /Ben Okafor/ {print $NF}' "$work/up.log")
signin=$(awk '/^advisor sign-in links/{s=1; next} s && /Ben Okafor/ {print $NF}' "$work/up.log")
[ -n "$card" ] && [ -n "$signin" ] || { echo "no links from livecard up" >&2; cat "$work/up.log" >&2; exit 1; }
echo "==> one video call; $drains nodes drained, then $kills killed, each after a fresh node joined"
target/debug/failover --bin ./target/release/livecard --data-dir "$data" \
  --card "$card" --signin "$signin" --kills "$kills" --drains "$drains"
echo "($(nproc) cores, $(date -u +%F))"
