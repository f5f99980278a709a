#!/usr/bin/env bash
# The advisor console's first load with many conversations open:
# `livecard up` (release build), an advisor with 50 chats connected (each
# with a few visitor messages) and 50 ended under Recent, their console loaded afresh in headless
# Chromium (cache emptied) until interactive (socket open, every
# conversation listed, every transcript replayed); the bytes it moved (page,
# assets, API calls, socket frames); beside an advisor with one
# conversation, in the same run (bench/src/console_load.rs).
#
#   ./scripts/bench-console.sh [active, default 50] [recent, default 50] [loads, default 5]
#
# Needs Debian's chromium and chromium-driver (installed when missing).
# Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
active=${1:-50}
recent=${2:-50}
runs=${3:-5}

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
need_chromium

echo "==> building livecard (release) and the bench driver"
cargo build --quiet --release -p livecard-local
cargo build --quiet -p livecard-bench --bin console-load

work=$(mktemp -d)
lc_pid=""
cleanup() { [ -n "$lc_pid" ] && kill "$lc_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(free_port)
export LIVECARD_CONTACT_LIMIT=100000
start_livecard "$work/data" "$work/up.log" \
  --addr "127.0.0.1:$port" --demo-addr 127.0.0.1:0 --turn-addr 127.0.0.1:0
echo "==> $active conversations open, $recent recent, $runs first loads of the console"
target/debug/console-load --url "http://127.0.0.1:$port" --data-dir "$work/data" --active "$active" --recent "$recent" --runs "$runs"
echo "($(nproc) cores, $(date -u +%F))"
