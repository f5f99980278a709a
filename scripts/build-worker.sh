#!/usr/bin/env bash
# Builds the Worker offline into functions/worker/build/ (index.js and its
# wasm), with the pinned toolchain (installed when missing, see
# scripts/worker-tools.sh). Arguments after the script name go to cargo,
# e.g. `scripts/build-worker.sh --features conformance` (the test build).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/worker-tools.sh
source scripts/worker-tools.sh
cd functions/worker
if [ $# -gt 0 ]; then
  "$WORKER_BUILD" --release -- "$@"
else
  "$WORKER_BUILD" --release
fi
wasm=build/index_bg.wasm
[ -f "$wasm" ] || wasm=$(find build -name '*.wasm' | head -1)
echo "==> $(wc -c < "$wasm") bytes of wasm, $(gzip -9c "$wasm" | wc -c) gzipped ($wasm)"
