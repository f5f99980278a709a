#!/usr/bin/env bash
# The media node's TURN relay beside coturn, in one run on this machine:
# coturn's own load client (turnutils_uclient) at rising load, each client
# sending 1,200-byte packets every 10 ms through a relay to coturn's UDP echo
# peer (turnutils_peer) and back; each server in turn, with the same
# credentials scheme (TURN REST API, one shared secret). Reports messages
# sent and received back, loss, round-trip time and jitter as the client
# measured them, and the server's CPU (user + system time over the run).
#
#   ./scripts/bench-turn.sh [loads...]    # default: 400 800 1600 clients
#   PROFILE=1 ./scripts/bench-turn.sh 800 # also where each server's CPU goes
#
# Packets relayed per CPU-second counts both directions (client to peer and
# back). PROFILE=1 samples each server with `perf record` (Debian's
# linux-perf) and prints its CPU by system call and the user-space share.
#
# Needs Debian's coturn (installed when missing). Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
loads=("$@")
[ ${#loads[@]} -gt 0 ] || loads=(400 800 1600)
profile=${PROFILE:-}
messages=${BENCH_TURN_MESSAGES:-500}

if ! command -v turnserver >/dev/null 2>&1; then
  echo "==> installing coturn (Debian)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends coturn >/dev/null
fi
if [ -n "$profile" ] && ! command -v perf >/dev/null 2>&1; then
  echo "==> installing perf (Debian linux-perf)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
fi
ulimit -n 65536 2>/dev/null || true

echo "==> building the media node (release, static)"
./scripts/build-media-node.sh >/dev/null
node_bin=dist/livecard-media-node/x86_64/livecard-media-node

secret="livecard-bench-shared-secret-$(date +%s)-0123456789"
secret_b64=$(printf %s "$secret" | base64 -w0)
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
peer_port=$(free_port)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

turnutils_peer -L 127.0.0.1 -p "$peer_port" >/dev/null 2>&1 &
pids+=($!); disown

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

start_server() { # name port -> pid on stdout
  local name=$1 port=$2
  if [ "$name" = livecard ]; then
    LIVECARD_TURN_SECRET=$secret_b64 LIVECARD_MEDIA_LISTEN=127.0.0.1:$port \
      LIVECARD_MEDIA_HTTP=127.0.0.1:0 LIVECARD_MEDIA_ALLOW_PEERS=127.0.0.0/8 \
      LIVECARD_MEDIA_RELAY_PORTS=20000-39999 \
      LIVECARD_MEDIA_MAX_ALLOCATIONS=20000 LIVECARD_MEDIA_ALLOCATIONS_PER_USER=20000 \
      LIVECARD_MEDIA_DRAIN_DEADLINE_S=0 \
      RUST_LOG=warn "$node_bin" >"$work/$name.log" 2>&1 &
  else
    turnserver -n --listening-ip=127.0.0.1 --listening-port="$port" --relay-ip=127.0.0.1 \
      --use-auth-secret --static-auth-secret="$secret" --realm=livecard \
      --no-tls --no-dtls --no-cli --allow-loopback-peers --min-port=40000 --max-port=59999 \
      --total-quota=0 --user-quota=0 --no-stdout-log --log-file="$work/$name.log" --simple-log \
      >/dev/null 2>&1 &
  fi
  echo $!
}

run_load() { # name port clients -> one result line
  local name=$1 port=$2 clients=$3
  local pid; pid=$(start_server "$name" "$port")
  pids+=("$pid")
  sleep 1
  local before; before=$(cpu_ticks "$pid")
  local perf_pid=
  if [ -n "$profile" ]; then
    perf record -F 499 -g -p "$pid" -o "$work/$name-$clients.perf" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  local t0; t0=$(date +%s.%N)
  timeout 600 turnutils_uclient -c -m "$clients" -n "$messages" -l 1200 -z 10 \
    -e 127.0.0.1 -r "$peer_port" -p "$port" -W "$secret" -u bench 127.0.0.1 \
    >"$work/$name-$clients.out" 2>&1 || true
  local t1; t1=$(date +%s.%N)
  local after; after=$(cpu_ticks "$pid")
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null || true; fi
  kill -9 "$pid" 2>/dev/null || true
  python3 - "$name" "$clients" "$work/$name-$clients.out" "$before" "$after" "$hz" "$t0" "$t1" <<'PY'
import re, sys
name, clients, path, before, after, hz, t0, t1 = sys.argv[1:]
text = open(path, errors="replace").read()
def last(pattern, cast=float, default=0):
    found = re.findall(pattern, text)
    return cast(found[-1]) if found else default
sent = last(r"tot_send_msgs=(\d+), tot_recv_msgs=\d+", int)
recv = last(r"tot_send_msgs=\d+, tot_recv_msgs=(\d+)", int)
loss = last(r"Total lost packets \d+ \(([\d.]+)%\)")
rtt = last(r"Average round trip delay ([\d.]+) ms")
jitter = last(r"Average jitter ([\d.]+) ms")
wall = float(t1) - float(t0)
cpu = (int(after) - int(before)) / int(hz)
errors = len(re.findall(r"error \d+", text))
per_cpu = (2 * recv / cpu) if cpu else 0
print(f"{name}\t{clients}\t{sent}\t{recv}\t{loss:.2f}\t{rtt:.2f}\t{jitter:.2f}\t{cpu:.2f}\t{per_cpu:.0f}\t{wall:.1f}\t{errors}")
PY
}

echo "==> $messages messages of 1,200 bytes every 10 ms per client, echoed by turnutils_peer"
printf "server\tclients\tsent\treceived\tloss%%\trtt_ms\tjitter_ms\tcpu_s\tpkts_per_cpu_s\twall_s\terrors\n" | tee "$work/results.tsv"
for clients in "${loads[@]}"; do
  for name in livecard coturn; do
    run_load "$name" "$(free_port)" "$clients" | tee -a "$work/results.tsv"
  done
done

if [ -n "$profile" ]; then
  for data in "$work"/*.perf; do
    echo
    echo "==> where the CPU went: $(basename "$data" .perf) (share of samples, system calls include the kernel work they cause)"
    perf report -i "$data" --children --sort sym --stdio -g none 2>/dev/null \
      | grep -E '\[k\] __x64_sys_[a-z_]+$' | awk '{ printf "  %-28s %s\n", $NF, $1 }' | head -8
    perf report -i "$data" --no-children --sort dso --stdio 2>/dev/null \
      | awk '/%/ && $2 !~ /kernel/ { user += $1 } END { printf "  %-28s %.2f%%\n", "user space", user }'
  done
fi

echo
echo "==> ratios (livecard / coturn)"
python3 - "$work/results.tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {}
for r in rows:
    by.setdefault(r["clients"], {})[r["server"]] = r
print("clients\treceived\tcpu\tpkts_per_cpu_s\trtt")
for clients, pair in by.items():
    a, b = pair.get("livecard"), pair.get("coturn")
    if not a or not b:
        continue
    def ratio(k):
        x, y = float(a[k]), float(b[k])
        return f"{x / y:.2f}" if y else "n/a"
    print(f"{clients}\t{ratio('received')}\t{ratio('cpu_s')}\t{ratio('pkts_per_cpu_s')}\t{ratio('rtt_ms')}")
PY
