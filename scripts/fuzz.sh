#!/usr/bin/env bash
# The fuzz targets in fuzz/ (cargo-fuzz, libFuzzer, stable Rust without a
# sanitizer: Rust's own checks, overflow checks and debug assertions
# catch the bugs):
#
#   ./scripts/fuzz.sh [seconds per target, default 60] [target ...]
#
# Installs cargo-fuzz when it is missing. Each target starts from its seeds
# (fuzz/seeds/<target>) in a scratch corpus, so the tree is not changed; a
# crash leaves its input in fuzz/artifacts/<target>/ and fails the run
# (add it as a regression test). Prints executions, coverage and crashes
# per target. The test command runs it briefly; docs/fuzzing.md has the
# figures of a longer run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(card_token signaling stun_turn presence_webhook api_bodies teams_notifications)

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz (crates.io)"
  cargo install --quiet --locked cargo-fuzz
fi

echo "==> building the fuzz targets"
# --sanitizer none: the run works on stable Rust; debug assertions stay on.
(cd fuzz && cargo fuzz build --sanitizer none)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for target in "${targets[@]}"; do
  mkdir -p "$work/$target" "fuzz/artifacts/$target"
  log="$work/$target.log"
  status=0
  (cd fuzz && cargo fuzz run --sanitizer none "$target" "$work/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/") >"$log" 2>&1 || status=$?
  execs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')
  features=$(grep -oE 'ft: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')
  crashes=$(find "fuzz/artifacts/$target" -type f | wc -l)
  echo "fuzz $target: ${execs:-0} executions in ${seconds}s, coverage ${cov:-0} edges (${features:-0} features), crashes $crashes"
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    tail -n 40 "$log"
  fi
done
exit $failed
