#!/usr/bin/env bash
# File transfer through the product's own pages: `livecard up` (release
# build), a visitor's card page in a chat with the advisor's console, both
# in headless Chromium; the visitor sends files over the data link (call.js),
# each timed from send() to the sender learning the receiver checked it;
# relay-only, then peer to peer; beside the floor (one RTCDataChannel
# between two peer connections in one page, the same bytes, no checksum, no
# signaling, no product page) in the same run (bench/src/file_transfer.rs).
#
#   ./scripts/bench-files.sh [MB per file, default 20] [files per mode, default 5]
#
# Needs Debian's chromium and chromium-driver (installed when missing).
# Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-20}
runs=${2:-5}

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
need_chromium

echo "==> building livecard (release) and the bench driver"
cargo build --quiet --release -p livecard-local
cargo build --quiet -p livecard-bench --bin file-transfer

work=$(mktemp -d)
lc_pid=""
cleanup() { [ -n "$lc_pid" ] && kill "$lc_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

for mode in relay-only p2p; do
  data="$work/data-$mode"
  flags=(--addr "127.0.0.1:$(free_port)" --demo-addr 127.0.0.1:0 --turn-addr 127.0.0.1:0)
  [ "$mode" = relay-only ] && flags+=(--relay-only)
  start_livecard "$data" "$work/up-$mode.log" "${flags[@]}"
  links_of "$work/up-$mode.log" "Ben Okafor"
  echo "==> $runs files of $mb MB, $mode, from the card page's chat to the console"
  floor=()
  [ "$mode" = relay-only ] && floor=(--turn "$turn" --secret-file "$data/secrets.json")
  target/debug/file-transfer --card "$card" --signin "$signin" --mb "$mb" --runs "$runs" --label "$mode" "${floor[@]}"
  kill "$lc_pid"; wait "$lc_pid" 2>/dev/null || true; lc_pid=""
done
echo "($(nproc) cores, $(date -u +%F))"
