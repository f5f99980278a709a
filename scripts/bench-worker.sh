#!/usr/bin/env bash
# The edge host measured (docs/benchmarks.md, "The Worker"):
#
# - the Worker's wasm, raw and gzipped, and `wrangler check startup`;
# - CPU per request in workerd (what the platform bills and limits: 10 ms
#   on the free plan) for the card page, the portal and a relayed chat
#   message, beside the same requests on the local host (`livecard up`) in
#   the same run. Both use the embedded store; workerd's figure is the
#   Worker alone (the store runs in the `livecard edge` process), the local
#   host's includes its embedded store.
#
#   ./scripts/bench-worker.sh [seconds per run, default 10] [connections, default 8]
#
# Loopback only; wrk from Debian is installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
connections="${2:-8}"
command -v wrk >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }

./scripts/build-worker.sh > /dev/null
wasm=functions/worker/build/index_bg.wasm
raw=$(wc -c < "$wasm"); gz=$(gzip -9c "$wasm" | wc -c)
# shellcheck source=scripts/worker-tools.sh
host_path=$PATH; source scripts/worker-tools.sh
startup=$(cd functions/worker && $WRANGLER check startup 2>&1 | awk '/Active:/{print $3; exit}'; rm -f worker-startup.cpuprofile)
unset RUSTC RUSTC_BOOTSTRAP CARGO_UNSTABLE_BUILD_STD; export PATH=$host_path
cargo build --release --quiet -p livecard-local -p livecard-bench
bin=./target/release/livecard

work=$(mktemp -d -p "${BENCH_TMP:-/tmp}")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Neither host's limits should refuse the load.
export LIVECARD_CONTACT_LIMIT=100000 LIVECARD_MESSAGE_RATE=10000 LIVECARD_LOG=warn

edge_port=$(free_port)
"$bin" --data-dir "$work/edge" edge --addr "127.0.0.1:$edge_port" --turn-addr 127.0.0.1:0 \
  --demo-addr 127.0.0.1:0 > "$work/edge.log" 2>&1 &
pids+=($!)
local_port=$(free_port)
"$bin" --data-dir "$work/local" up --addr "127.0.0.1:$local_port" --turn-addr 127.0.0.1:0 \
  --demo-addr 127.0.0.1:0 --max-connections-per-client 1000000 --max-connections 1000000 > "$work/local.log" 2>&1 &
pids+=($!)
local_pid=$!
for log in edge local; do
  for _ in $(seq 1 600); do grep -q "^card links" "$work/$log.log" 2>/dev/null && break; sleep 0.2; done
  grep -q "^card links" "$work/$log.log" || { echo "the $log host did not start" >&2; cat "$work/$log.log" >&2; exit 1; }
done
workerd_pid=$(pgrep -f -- "workerd serve .*--socket-addr=entry=127.0.0.1:$edge_port" | head -1)
[ -n "$workerd_pid" ] || { echo "no workerd serving port $edge_port" >&2; exit 1; }

cpu_ms() { awk '{print ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"'}' "/proc/$1/stat"; }
measure() { # pid url -> "requests cpu_us_per_request p50"
  local before after
  before=$(cpu_ms "$1")
  wrk -t2 -c"$connections" -d"${duration}s" --latency "$2" > "$work/wrk.txt"
  after=$(cpu_ms "$1")
  local n; n=$(awk '/requests in/{print $1}' "$work/wrk.txt")
  local p50; p50=$(awk '$1=="50%"{print $2}' "$work/wrk.txt")
  local non2xx; non2xx=$(awk '/Non-2xx/{print $NF}' "$work/wrk.txt")
  echo "$n $(python3 -c "print(round(($after - $before) * 1000 / $n, 1))") $p50 ${non2xx:-0}"
}
card() { awk '/^card links/{getline; print $NF; exit}' "$work/$1.log"; }

echo "machine: $(nproc) cores, $(uname -sr); wrangler 4.164.0, workerd $(functions/worker/node_modules/.bin/workerd --version 2>/dev/null | awk '{print $2}')"
echo "bundle: ${raw} bytes of wasm, ${gz} gzipped; startup (wrangler check startup, active): ${startup} ms"
echo
echo "| request | Worker: CPU per request (workerd) | local host: CPU per request | ratio | Worker p50 | local p50 |"
echo "|---|---|---|---|---|---|"
# /healthz (a few bytes of JSON, no store) is the floor: what the runtime
# and wrangler's local dev proxy cost per request before any handler work.
for what in healthz card portal; do
  case $what in
    healthz) e="http://127.0.0.1:$edge_port/healthz"; l="http://127.0.0.1:$local_port/healthz" ;;
    card) e=$(card edge); l=$(card local) ;;
    portal) e="http://127.0.0.1:$edge_port/"; l="http://127.0.0.1:$local_port/" ;;
  esac
  read -r en ecpu ep50 ebad <<< "$(measure "$workerd_pid" "$e")"
  read -r ln lcpu lp50 lbad <<< "$(measure "$local_pid" "$l")"
  [ "$ebad" = 0 ] && [ "$lbad" = 0 ] || { echo "error: non-2xx answers ($ebad, $lbad)" >&2; exit 1; }
  echo "| $what ($en / $ln requests) | ${ecpu} µs | ${lcpu} µs | $(python3 -c "print(round($ecpu / $lcpu, 2))") | $ep50 | $lp50 |"
done
relay=./target/release/ws-relay
er=$($relay --target livecard --kind chat --url "http://127.0.0.1:$edge_port" --data-dir "$work/edge" \
  --pairs 10 --seconds "$duration" --server-pid "$workerd_pid")
lr=$($relay --target livecard --kind chat --url "http://127.0.0.1:$local_port" --data-dir "$work/local" \
  --pairs 10 --seconds "$duration" --server-pid "$local_pid")
# user + system µs per delivered message
cpu_of() { python3 -c 'import json,sys; c=json.load(sys.stdin)["server_cpu_us_per_msg"]; print(round(c["user"]+c["sys"],1))'; }
ecpu=$(echo "$er" | cpu_of)
lcpu=$(echo "$lr" | cpu_of)
ep50=$(echo "$er" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("p50_ms", d.get("latency_p50_ms","?")))')
lp50=$(echo "$lr" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("p50_ms", d.get("latency_p50_ms","?")))')
echo "| relayed chat message (10 pairs) | ${ecpu} µs | ${lcpu} µs | $(python3 -c "print(round($ecpu / $lcpu, 2))") | ${ep50} ms | ${lp50} ms |"
echo
echo "edge relay: $er"
echo "local relay: $lr"
