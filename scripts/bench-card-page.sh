#!/usr/bin/env bash
# Card page throughput and latency: `livecard up` (release build) serving a
# card link, beside nginx serving a static file of the same size, measured
# with wrk in the same run on the same machine. Prints a Markdown table for
# docs/benchmarks.md. Loopback only.
#
#   ./scripts/bench-card-page.sh [seconds per run, default 20] [connections, default 64]
#
# LIVECARD_BIN=/path/to/livecard measures that build instead of this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-20}"
connections="${2:-64}"
threads=2

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# LIVECARD_BIN names another build to measure (an older one, to compare).
bin=${LIVECARD_BIN:-./target/release/livecard}
[ -n "${LIVECARD_BIN:-}" ] || cargo build --release --quiet -p livecard-local
work=$(mktemp -d -p "${BENCH_TMP:-/tmp}")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

lc_port=$(free_port)
# wrk's connections all come from one address: lift the per-client cap.
limits=()
"$bin" up --help | grep -q -- --max-connections-per-client && limits=(--max-connections-per-client 100000)
LIVECARD_LOG=warn "$bin" --data-dir "$work/data" up --addr "127.0.0.1:$lc_port" "${limits[@]}" > "$work/up.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "^card links" "$work/up.log" 2>/dev/null && break; sleep 0.1; done
card_url=$(awk '/^card links/{getline; print $NF; exit}' "$work/up.log")
[ -n "$card_url" ] || { echo "no card link from livecard up" >&2; cat "$work/up.log" >&2; exit 1; }
size=$(curl -s "$card_url" | wc -c)

mkdir -p "$work/www" "$work/nginx"
head -c "$size" /dev/zero | tr '\0' 'x' > "$work/www/card.html"
ng_port=$(free_port)
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$ng_port;
    root $work/www;
    location / { default_type text/html; }
  }
}
CONF
"$NGINX" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$ng_port/card.html" >/dev/null && break; sleep 0.1; done

run() { wrk -t"$threads" -c"$connections" -d"${duration}s" --latency "$1" > "$work/wrk.txt"
  cp "$work/wrk.txt" "$work/wrk-last.txt"
  local rps p99 errs
  rps=$(awk '/^Requests\/sec/{print $2}' "$work/wrk.txt")
  p99=$(awk '$1=="99%"{print $2}' "$work/wrk.txt")
  errs=$(awk '/Non-2xx/{print $NF}' "$work/wrk.txt"); errs=${errs:-0}
  echo "$rps $p99 $errs"; }

# Warm both up, then measure (nginx first, then livecard, then nginx again
# so that machine noise shows).
warm=$(wrk -t1 -c4 -d2s "$card_url" | awk '/requests in/{print $1}'); wrk -t1 -c4 -d2s "http://127.0.0.1:$ng_port/card.html" >/dev/null
read -r ng1_rps ng1_p99 _ <<<"$(run "http://127.0.0.1:$ng_port/card.html")"
read -r lc_rps lc_p99 lc_err <<<"$(run "$card_url")"
lc_requests=$(awk '/requests in/{print $1}' "$work/wrk-last.txt")
# Let the event writer drain before nginx is measured again, then check
# that every card page view became a stored card_opened event.
sleep 5
stored=$(python3 - "$card_url" "$work/data/admin.key" <<'PY'
import json, sys, urllib.request, datetime
base = sys.argv[1].split("/c/")[0]
key = open(sys.argv[2]).read().strip()
today = datetime.datetime.now(datetime.timezone.utc).date()
count = 0
for day in (today - datetime.timedelta(days=1), today):
    cursor = None
    while True:
        url = f"{base}/api/v1/events?day={day}&limit=100" + (f"&cursor={cursor}" if cursor else "")
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
        page = json.load(urllib.request.urlopen(req))
        count += sum(1 for e in page["events"] if e["name"] == "card_opened")
        cursor = page.get("next")
        if not cursor:
            break
print(count)
PY
)
read -r ng2_rps ng2_p99 _ <<<"$(run "http://127.0.0.1:$ng_port/card.html")"
ratio=$(python3 -c "print(f'{$lc_rps / ((($ng1_rps)+($ng2_rps))/2):.3f}')")

echo "| server | requests/s | p99 latency | non-2xx |"
echo "|---|---|---|---|"
echo "| nginx, static file of $size bytes (before) | $ng1_rps | $ng1_p99 | 0 |"
echo "| livecard card page ($size bytes) | $lc_rps | $lc_p99 | $lc_err |"
echo "| nginx, static file of $size bytes (after) | $ng2_rps | $ng2_p99 | 0 |"
echo
served=$((lc_requests + warm + 1))
echo "card pages answered (wrk's count, warm-up and the size probe included): $served; card_opened events stored: $stored (requests still in flight when wrk stops are served but not counted, at most $connections)"
echo "livecard / nginx requests/s: $ratio (wrk -t$threads -c$connections -d${duration}s, $(nproc) cores, $(date -u +%F))"
