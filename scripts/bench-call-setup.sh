#!/usr/bin/env bash
# Call set-up through a TURN relay, the media node beside coturn, in one
# run: headless Chromium with a fake camera and microphone, relay-only, from
# getUserMedia to the first decoded video frame on the receiving side,
# interleaved between the two servers (bench/src/call_setup.rs).
#
#   ./scripts/bench-call-setup.sh [runs, default 20]
#
# Needs Debian's coturn, chromium and chromium-driver (installed when
# missing). Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}

missing=()
command -v turnserver >/dev/null 2>&1 || missing+=(coturn)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]} (Debian)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "==> building the media node (release, static) and the bench driver"
./scripts/build-media-node.sh >/dev/null
cargo build --quiet -p livecard-bench --bin call-setup
node_bin=dist/livecard-media-node/x86_64/livecard-media-node

secret="livecard-bench-shared-secret-$(date +%s)-0123456789"
secret_b64=$(printf %s "$secret" | base64 -w0)
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ours=$(free_port)
theirs=$(free_port)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

LIVECARD_TURN_SECRET=$secret_b64 LIVECARD_MEDIA_LISTEN=127.0.0.1:$ours \
  LIVECARD_MEDIA_HTTP=127.0.0.1:0 LIVECARD_MEDIA_ALLOW_PEERS=127.0.0.0/8 \
  LIVECARD_MEDIA_RELAY_PORTS=20000-39999 LIVECARD_MEDIA_ALLOCATIONS_PER_USER=1000 \
  LIVECARD_MEDIA_DRAIN_DEADLINE_S=0 RUST_LOG=warn "$node_bin" >"$work/livecard.log" 2>&1 &
pids+=($!); disown
turnserver -n --listening-ip=127.0.0.1 --listening-port="$theirs" --relay-ip=127.0.0.1 \
  --use-auth-secret --static-auth-secret="$secret" --realm=livecard \
  --no-tls --no-dtls --no-cli --allow-loopback-peers --min-port=40000 --max-port=59999 \
  --total-quota=0 --user-quota=0 --no-stdout-log --log-file="$work/coturn.log" >/dev/null 2>&1 &
pids+=($!); disown
sleep 1

echo "==> $runs calls per server, relay-only, getUserMedia to the first decoded frame"
target/debug/call-setup --server "livecard=127.0.0.1:$ours" --server "coturn=127.0.0.1:$theirs" \
  --secret "$secret" --runs "$runs"
