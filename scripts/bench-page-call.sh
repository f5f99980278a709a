#!/usr/bin/env bash
# Call set-up through the product's own pages: `livecard up` (release
# build), a visitor's card page ("Start video call") and the advisor's
# console in headless Chromium with fake cameras, from the click to both
# sides showing a decoded frame; relay-only, then peer to peer; beside the
# floor (two peer connections in one page, no signaling, no product page)
# in the same run (bench/src/page_call.rs).
#
#   ./scripts/bench-page-call.sh [calls per mode, default 20]
#
# Needs Debian's chromium and chromium-driver (installed when missing).
# Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
need_chromium

echo "==> building livecard (release) and the bench driver"
cargo build --quiet --release -p livecard-local
cargo build --quiet -p livecard-bench --bin page-call

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
  echo "==> $runs calls, $mode, through the card page and the console"
  floor=()
  [ "$mode" = relay-only ] && floor=(--turn "$turn" --secret-file "$data/secrets.json")
  target/debug/page-call --card "$card" --signin "$signin" --runs "$runs" --label "$mode" "${floor[@]}"
  kill "$lc_pid"; wait "$lc_pid" 2>/dev/null || true; lc_pid=""
done
echo "($(nproc) cores, $(date -u +%F))"
