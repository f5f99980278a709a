#!/usr/bin/env bash
# Builds one of livecard's service binaries as a static executable (glibc
# linked in), the only file of its FROM-scratch container image:
#   scripts/build-static.sh <package> <binary> [features]
#   -> dist/<binary>/x86_64/<binary>
# The target is the host's own (x86_64-unknown-linux-gnu); no toolchain or
# target is added. `--target` keeps these flags off the workspace's other
# builds, and the service images share one build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
package=${1:?usage: scripts/build-static.sh <package> <binary> [features]}
binary=${2:?usage: scripts/build-static.sh <package> <binary> [features]}
features=${3:-}
target=x86_64-unknown-linux-gnu
if [ "$(uname -m)" != "x86_64" ]; then
  echo "error: build the $binary image on x86_64 (this is $(uname -m))" >&2
  exit 1
fi
args=(--release --locked -p "$package" --bin "$binary" --target "$target")
[ -n "$features" ] && args+=(--features "$features")
RUSTFLAGS="-C target-feature=+crt-static" cargo build "${args[@]}"
out=dist/$binary/x86_64
mkdir -p "$out"
cp "${CARGO_TARGET_DIR:-target}/$target/release/$binary" "$out/"
linkage=$(ldd "$out/$binary" 2>&1 || true)
if ! grep -qE 'statically linked|not a dynamic executable' <<<"$linkage"; then
  echo "error: $out/$binary is not static" >&2
  exit 1
fi
ls -l "$out/$binary"
