#!/usr/bin/env bash
# The whole livecard test suite, from a fresh clone on a fresh machine.
#
# Installs what the tests need when it is missing (Debian's chromium and
# chromium-driver for the browser tests, axe-core from npm), then checks
# formatting and lints and runs every test of the workspace: unit tests with
# simulated time, the store conformance suite against the embedded
# DynamoDB-compatible server, the handlers in-process, the CLI against the
# real binary, and the end-to-end tests in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

# Nothing here talks to AWS; make sure no SDK looks for the metadata service.
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=livecard-test AWS_SECRET_ACCESS_KEY=livecard-test AWS_REGION=us-east-1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: installing $* needs root (or sudo)" >&2; return 1
  fi
}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]} (Debian)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f tests/node_modules/axe-core/axe.min.js ]; then
  echo "==> installing axe-core (npm)"
  (cd tests && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings

echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# --all-targets: libraries, binaries and test files (there are no doctests).
cargo test --workspace --all-features --all-targets 2>&1 | tee "$log"
# One closing line for the whole suite.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
