#!/usr/bin/env bash
# The edge host's tests (part of scripts/test.sh), offline:
#
# 1. The production Worker builds (scripts/build-worker.sh), wrangler
#    bundles it as `wrangler deploy` would (--dry-run: a broken bundle or
#    wrangler.toml fails here), and starts within the platform's limit
#    (`wrangler check startup`).
# 2. The test build (with the conformance route) runs under
#    `wrangler dev --local`: the store conformance suite inside workerd
#    against the embedded store, and against the DynamoDB-compatible
#    server at LIVECARD_TEST_DYNAMODB_LOCAL when it is set (scripts/test.sh
#    starts Amazon's DynamoDB Local); bad input; and the browser scenarios
#    (card chat, reload, cut socket, widget, portal with axe, a relay-only
#    video call, a restart mid-chat) in headless Chromium.
#
# The tests share the main workspace's build (same features as
# scripts/test.sh): nothing is compiled twice.
set -euo pipefail
cd "$(dirname "$0")/.."
# The machine's own toolchain runs the tests; the one below is for wasm.
host_path=$PATH
# shellcheck source=scripts/worker-tools.sh
source scripts/worker-tools.sh

echo "==> cargo clippy (the Worker's code, checked for this machine)"
(cd functions/worker && PATH=$host_path env -u RUSTC -u RUSTC_BOOTSTRAP -u CARGO_UNSTABLE_BUILD_STD \
  cargo clippy --quiet --all-targets --features conformance -- -D warnings)

echo "==> the Worker (production build)"
scripts/build-worker.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd functions/worker && $WRANGLER deploy --dry-run --outdir "$out" >"$out/deploy.log" 2>&1) || {
  cat "$out/deploy.log" >&2; echo "error: wrangler deploy --dry-run failed" >&2; exit 1; }
grep -E "Total Upload" "$out/deploy.log" || true
(cd functions/worker && $WRANGLER check startup >"$out/startup.log" 2>&1 && rm -f worker-startup.cpuprofile) || {
  cat "$out/startup.log" >&2; echo "error: wrangler check startup failed" >&2; exit 1; }
grep -E "Bundle:|Active:" "$out/startup.log" || true

echo "==> the Worker (test build, with the conformance route)"
scripts/build-worker.sh --features conformance
# The wasm toolchain's settings are for the wasm build only.
unset RUSTC RUSTC_BOOTSTRAP CARGO_UNSTABLE_BUILD_STD
export PATH=$host_path
tests=(--test worker --test e2e_contact --test e2e_call --test e2e_portal_card)
echo "==> the edge host under wrangler dev (embedded store)"
cargo test --workspace --all-features "${tests[@]}" -- --ignored --test-threads 2
if [ -n "${LIVECARD_TEST_DYNAMODB_LOCAL:-}" ]; then
  echo "==> the store conformance suite inside workerd against DynamoDB Local"
  LIVECARD_TEST_DYNAMODB_ENDPOINT="$LIVECARD_TEST_DYNAMODB_LOCAL" \
    cargo test --workspace --all-features --test worker -- --ignored the_store_conformance_suite
fi
