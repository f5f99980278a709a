#!/usr/bin/env bash
# The service images (called by scripts/test.sh): builds each static binary
# and its FROM-scratch image with podman, checks that the image holds the
# one binary, runs as non-root and has a health check, then runs it:
# - the media node: /healthz answers, the health check passes, and coturn's
#   test client gets a TURN allocation through the container and its
#   packets back from coturn's echo peer;
# - the connectors service: its end-to-end test
#   (functions/connectors/tests/service.rs) run against the container
#   instead of the binary: a phone call at Kamailio stored and pushed.
set -euo pipefail
cd "$(dirname "$0")/.."

image=localhost/livecard-media-node:test
connectors_image=localhost/livecard-connectors:test
name="livecard-media-test-$$"
work=$(mktemp -d)
peer_pid=""
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman rmi -f "$image" "$connectors_image" >/dev/null 2>&1 || true
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1" >&2; exit 1; }

# The image holds its one static binary, runs as the fixed non-root user and
# has a health check that runs that binary.
check_image() {
  local image=$1 binary=$2 dir
  dir=$(mktemp -d -p "$work")
  podman save --format docker-archive -o "$dir/image.tar" "$image" 2>/dev/null
  tar -xf "$dir/image.tar" -C "$dir"
  files=$(python3 - "$dir" <<'PY'
import json, sys, tarfile, os
work = sys.argv[1]
names = set()
for layer in json.load(open(os.path.join(work, "manifest.json")))[0]["Layers"]:
    with tarfile.open(os.path.join(work, layer)) as t:
        names.update(m.name for m in t.getmembers())
print(" ".join(sorted(names)))
PY
)
  [ "$files" = "$binary" ] || fail "the $binary image holds more than the binary: $files"
  ok "the $binary image holds nothing but the static binary"
  config=$(podman image inspect "$image")
  user=$(echo "$config" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Config"]["User"])')
  [ "$user" = "65532:65532" ] || fail "the $binary image runs as '$user'"
  ok "the $binary image runs as a non-root user ($user)"
  echo "$config" | python3 -c 'import json,sys; h=json.load(sys.stdin)[0]["Healthcheck"]["Test"]; sys.exit(0 if "healthcheck" in h else 1)' \
    || fail "no health check in the $binary image"
  ok "the $binary image has a health check"
}

echo "==> media node: static binary and image"
./scripts/build-media-node.sh >/dev/null
podman build --quiet --runtime runc --format docker -f media-node/Dockerfile -t "$image" . >/dev/null
check_image "$image" livecard-media-node

echo "==> running it (host network, loopback ports)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
turn=$(free_port); http=$(free_port); peer=$(free_port)
secret="livecard-container-test-secret-$$-0123456789"
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=65536
podman run -d --name "$name" --runtime runc --network host \
  --ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096 \
  --health-interval=disable --health-cmd "[\"/livecard-media-node\",\"healthcheck\",\"--addr\",\"127.0.0.1:$http\"]" \
  -e LIVECARD_TURN_SECRET="$(printf %s "$secret" | base64 -w0)" \
  -e LIVECARD_MEDIA_LISTEN="127.0.0.1:$turn" -e LIVECARD_MEDIA_HTTP="127.0.0.1:$http" \
  -e LIVECARD_MEDIA_ALLOW_PEERS=127.0.0.0/8 -e LIVECARD_MEDIA_ALLOCATIONS_PER_USER=8 \
  "$image" >/dev/null 2>"$work/run.err" || { cat "$work/run.err" >&2; fail "the container did not start"; }

for _ in $(seq 1 50); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$http/healthz', timeout=1)" 2>/dev/null && break
  sleep 0.2
done
health=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$http/healthz', timeout=2).read().decode())") \
  || { podman logs "$name" >&2; fail "/healthz does not answer"; }
grep -q '"status":"ok"' <<<"$health" || fail "/healthz: $health"
ok "/healthz answers: $health"
podman healthcheck run "$name" >/dev/null 2>&1 || fail "the health check does not pass"
ok "the container's health check passes"

turnutils_peer -L 127.0.0.1 -p "$peer" >/dev/null 2>&1 &
peer_pid=$!
sleep 0.5
out=$(timeout 60 turnutils_uclient -c -m 1 -n 20 -l 200 -z 10 -e 127.0.0.1 -r "$peer" -p "$turn" \
  -W "$secret" -u container 127.0.0.1 2>&1) || true
grep -q "tot_send_msgs=20, tot_recv_msgs=20" <<<"$out" || { echo "$out" >&2; podman logs "$name" >&2; fail "no relay through the container"; }
ok "a TURN allocation through the container relays 20 of 20 packets"
# Captured first: `head` closing the pipe early would fail it under pipefail.
logs=$(podman logs "$name" 2>&1)
printf '%s\n' "$logs" | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin if l.strip()]' \
  || fail "the node's logs are not JSON: $logs"
ok "the node logs JSON"

echo "==> connectors service: static binary and image"
./scripts/build-connectors.sh >/dev/null
podman build --quiet --runtime runc --format docker -f functions/connectors/Dockerfile -t "$connectors_image" . >/dev/null
check_image "$connectors_image" livecard-connectors
# The same test binary scripts/test.sh built (same features: no rebuild).
out=$(LIVECARD_CONNECTORS_IMAGE="$connectors_image" cargo test --workspace --all-features --test service 2>&1) \
  || { echo "$out" >&2; fail "the connectors container's end-to-end test"; }
grep -q "test result: ok. 1 passed" <<<"$out" || { echo "$out" >&2; fail "the connectors container's test did not run"; }
ok "the connectors container stores a phone call from Kamailio, pushes it to the console, stops on SIGTERM"

echo "test result: ok. $passed passed; 0 failed (container)"
