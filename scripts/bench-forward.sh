#!/usr/bin/env bash
# Analytics forwarding (docs/analytics.md), two figures for docs/benchmarks.md:
#
# 1. Throughput: events per second the forwarder (App::forward, the code
#    every host runs) takes from the outbox in the embedded store, batches,
#    sends to capture servers on loopback and settles, per destination kind
#    and all three at once (bench/src/forward.rs).
# 2. The card page's cost with forwarding on: `livecard up` (release)
#    serving a card link under wrk with no destinations, then with a signed
#    webhook and a cookieless Matomo (every view makes two deliveries, sent by
#    the background forwarder to nginx while wrk runs), then with none again.
#    Goal: at most 10 % fewer card pages per second.
#
#   ./scripts/bench-forward.sh [seconds per run, default 20] [connections, default 64] [events, default 20000]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-20}"
connections="${2:-64}"
events="${3:-20000}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release --quiet -p livecard-local -p livecard-bench --bin livecard --bin forward
echo "## Forwarding throughput"
echo
./target/release/forward "$events"
echo

work=$(mktemp -d -p "${BENCH_TMP:-/tmp}")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The destinations: nginx answering as Matomo's bulk endpoint and as a webhook receiver.
ng_port=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log $work/nginx/access.log;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$ng_port;
    location /matomo.php { default_type application/json; return 200 '{"status":"success","tracked":1,"invalid":0}'; }
    location /hooks/ { return 204; }
  }
}
CONF
"$NGINX" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

lc_port=$(free_port)
printf 'forward_allow = ["127.0.0.1/32"]\n' > "$work/livecard.toml"
LIVECARD_LOG=warn ./target/release/livecard --data-dir "$work/data" up --config "$work/livecard.toml" \
  --addr "127.0.0.1:$lc_port" --max-connections-per-client 100000 > "$work/up.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "^card links" "$work/up.log" 2>/dev/null && break; sleep 0.1; done
card_url=$(awk '/^card links/{getline; print $NF; exit}' "$work/up.log")
[ -n "$card_url" ] || { echo "no card link from livecard up" >&2; cat "$work/up.log" >&2; exit 1; }
api=(--data-dir "$work/data" --api "http://127.0.0.1:$lc_port")

run() { wrk -t2 -c"$connections" -d"${duration}s" --latency "$card_url" > "$work/wrk.txt"
  echo "$(awk '/^Requests\/sec/{print $2}' "$work/wrk.txt") $(awk '$1=="99%"{print $2}' "$work/wrk.txt") $(awk '/requests in/{print $1}' "$work/wrk.txt")"; }

wrk -t1 -c4 -d2s "$card_url" >/dev/null
read -r off1 off1_p99 _ <<<"$(run)"
./target/release/livecard destination set crm --kind webhook --url "http://127.0.0.1:$ng_port/hooks/crm" --generate-secret "${api[@]}" >/dev/null
./target/release/livecard destination set matomo --kind matomo --url "http://127.0.0.1:$ng_port" --site-id 1 --cookieless "${api[@]}" >/dev/null
sleep 11 # the handlers read destinations at most every 10 s
: > "$work/nginx/access.log"
# (a) The page's own path: deliveries are made (queued, written in
# batches) while the destinations are paused, so nothing is sent yet.
./target/release/livecard destination pause crm "${api[@]}" >/dev/null
./target/release/livecard destination pause matomo "${api[@]}" >/dev/null
read -r made made_p99 made_n <<<"$(run)"
sleep 2
backlog=$(./target/release/livecard destination list --json "${api[@]}" | python3 -c 'import json,sys; print(sum(d["deliveries"]["pending"] for d in json.load(sys.stdin)["destinations"]))')
./target/release/livecard destination resume crm "${api[@]}" >/dev/null
./target/release/livecard destination resume matomo "${api[@]}" >/dev/null
drain_start=$(date +%s.%N)
for _ in $(seq 1 300); do
  left=$(./target/release/livecard destination list --json "${api[@]}" | python3 -c 'import json,sys; print(sum(d["deliveries"]["pending"] for d in json.load(sys.stdin)["destinations"]))')
  [ "$left" = 0 ] && break; sleep 0.5
done
drain=$(python3 -c "print(f'{$(date +%s.%N) - $drain_start:.1f}')")
# (b) Everything on the same two cores: pages, and the forwarder sending
# every view's two deliveries to nginx while wrk runs.
read -r on on_p99 on_n <<<"$(run)"
# Let the forwarder drain, then count what arrived.
for _ in $(seq 1 120); do
  pending=$(./target/release/livecard destination list --json "${api[@]}" | python3 -c 'import json,sys; print(sum(d["deliveries"]["pending"] for d in json.load(sys.stdin)["destinations"]))')
  [ "$pending" = 0 ] && break; sleep 1
done
hooks=$(grep -c 'POST /hooks/' "$work/nginx/access.log" || true)
bulks=$(grep -c 'POST /matomo.php' "$work/nginx/access.log" || true)
./target/release/livecard destination delete crm "${api[@]}" >/dev/null
./target/release/livecard destination delete matomo "${api[@]}" >/dev/null
sleep 11
read -r off2 off2_p99 _ <<<"$(run)"
ratio=$(python3 -c "print(f'{$on / (($off1 + $off2) / 2):.3f}')")
made_ratio=$(python3 -c "print(f'{$made / (($off1 + $off2) / 2):.3f}')")

echo "## The card page with forwarding on"
echo
echo "| card page | requests/s | p99 latency |"
echo "|---|---|---|"
echo "| forwarding off (before) | $off1 | $off1_p99 |"
echo "| forwarding on, destinations paused: each view makes two deliveries (queued, written in batches) | $made | $made_p99 |"
echo "| forwarding on: the same, and the forwarder sends them on the same cores meanwhile | $on | $on_p99 |"
echo "| forwarding off (after) | $off2 | $off2_p99 |"
echo
echo "deliveries made / off: $made_ratio; with the forwarder sending too / off: $ratio (wrk -t2 -c$connections -d${duration}s, $(nproc) cores, $(date -u +%F));"
echo "the $made_n views with paused destinations left $backlog deliveries, sent in ${drain} s once resumed;"
echo "during and after the run with forwarding on: $on_n card pages counted by wrk, $hooks webhook requests and $bulks Matomo bulk requests arrived, outbox pending at the end: $pending"
