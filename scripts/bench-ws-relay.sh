#!/usr/bin/env bash
# Signaling relay: pairs of WebSocket clients exchanging messages through
# `livecard up` (release build), beside the PeerJS server (npm `peer`)
# relaying the same traffic, in the same run on the same machine. Closed
# loop: each side answers every message it receives. For livecard, `chat`
# messages are stored (group commit), de-duplicated, acknowledged and pushed
# to both sides; `signal` messages (read receipts here; typing and the call
# messages take the same path) are relayed only. Also memory per idle
# connection. Loopback only. Prints one JSON line per run.
#
#   ./scripts/bench-ws-relay.sh [seconds per run, default 10] [client counts, default "1000 5000"]
#   IDLE_ONLY=1 ./scripts/bench-ws-relay.sh 10 "1000 5000"   # memory per idle connection only
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
counts="${2:-1000 5000}"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# LIVECARD_BIN names another build of the server to measure (to compare).
bin=${LIVECARD_BIN:-./target/release/livecard}
if [ -n "${LIVECARD_BIN:-}" ]; then
  cargo build --release --quiet -p livecard-bench
else
  cargo build --release --quiet -p livecard-local -p livecard-bench
fi
if [ ! -d bench/peerjs/node_modules/peer ]; then
  (cd bench/peerjs && npm ci --no-audit --no-fund --silent)
fi
work=$(mktemp -d -p "${BENCH_TMP:-/tmp}")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

start_livecard() {
  lc_port=$(free_port)
  rm -rf "$work/data"
  # The bench's clients all come from one address: lift the connection caps.
  local limits=()
  "$bin" up --help | grep -q -- --max-connections-per-client &&
    limits=(--max-connections-per-client 1000000 --max-connections 1000000)
  LIVECARD_LOG=warn "$bin" --data-dir "$work/data" up --addr "127.0.0.1:$lc_port" \
    --demo-addr 127.0.0.1:0 --contact-limit 100000 --message-rate 10000 "${limits[@]}" > "$work/up.log" 2>&1 &
  lc_pid=$!
  pids+=("$lc_pid")
  for _ in $(seq 1 200); do grep -q "^card links" "$work/up.log" 2>/dev/null && break; sleep 0.1; done
}
start_peerjs() {
  pj_port=$(free_port)
  node bench/peerjs/node_modules/peer/dist/bin/peerjs.js --port "$pj_port" > "$work/peer.log" 2>&1 &
  pj_pid=$!
  pids+=("$pj_pid")
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$pj_port") 2>/dev/null && break; sleep 0.1; done
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

relay=./target/release/ws-relay
# IDLE_ONLY=1: the memory per idle connection only (below).
[ "${IDLE_ONLY:-0}" = 1 ] && counts_relay="" || counts_relay="$counts"
for clients in $counts_relay; do
  pairs=$((clients / 2))
  start_livecard
  $relay --target livecard --kind chat --url "http://127.0.0.1:$lc_port" --data-dir "$work/data" --pairs "$pairs" --seconds "$duration" --server-pid "$lc_pid"
  $relay --target livecard --kind signal --url "http://127.0.0.1:$lc_port" --data-dir "$work/data" --pairs "$pairs" --first "$pairs" --seconds "$duration" --server-pid "$lc_pid"
  stop "$lc_pid"
  start_peerjs
  $relay --target peerjs --url "ws://127.0.0.1:$pj_port" --pairs "$pairs" --seconds "$duration" --server-pid "$pj_pid"
  stop "$pj_pid"
done

# Memory per idle connection: RSS before and after opening the clients.
# `bare`: connections only; `sessions`: livecard pairs in connected
# sessions (advisor console + visitor), PeerJS peers (it has no sessions).
for clients in $counts; do
pairs=$((clients / 2))
for run in "livecard --bare" "peerjs --bare" "livecard" "peerjs"; do
  target=${run%% *}
  extra=""
  [ "$run" != "$target" ] && extra="--bare"
  if [ "$target" = livecard ]; then start_livecard; pid=$lc_pid; url="http://127.0.0.1:$lc_port"
  else start_peerjs; pid=$pj_pid; url="ws://127.0.0.1:$pj_port"; fi
  sleep 2
  before=$(rss_kb "$pid")
  rm -f "$work/idle.json"
  $relay --target "$target" --url "$url" --data-dir "$work/data" --pairs "$pairs" --idle $extra --seconds 8 > "$work/idle.json" &
  idle=$!
  for _ in $(seq 1 600); do [ -s "$work/idle.json" ] && break; sleep 0.5; done
  sleep 4
  after=$(rss_kb "$pid")
  wait "$idle" || true
  echo "{\"target\":\"$target\",\"mode\":\"idle${extra:+ bare}\",\"clients\":$clients,\"rss_before_kb\":$before,\"rss_after_kb\":$after,\"bytes_per_connection\":$(( (after - before) * 1024 / clients ))}"
  stop "$pid"
done
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); node $(node --version); peer $(node -p 'require("./bench/peerjs/node_modules/peer/package.json").version')"
