#!/usr/bin/env bash
# Builds the media node as one static binary (glibc linked in), the only
# file of its container image (media-node/Dockerfile):
#   dist/media-node/x86_64/livecard-media-node
# The target is the host's own (x86_64-unknown-linux-gnu); no toolchain or
# target is added. `--target` keeps these flags off the workspace's other
# builds.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
if [ "$(uname -m)" != "x86_64" ]; then
  echo "error: build the media node image on x86_64 (this is $(uname -m))" >&2
  exit 1
fi
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked -p livecard-media-node --bin livecard-media-node --target "$target"
out=dist/media-node/x86_64
mkdir -p "$out"
cp "${CARGO_TARGET_DIR:-target}/$target/release/livecard-media-node" "$out/"
linkage=$(ldd "$out/livecard-media-node" 2>&1 || true)
if ! grep -qE 'statically linked|not a dynamic executable' <<<"$linkage"; then
  echo "error: $out/livecard-media-node is not static" >&2
  exit 1
fi
ls -l "$out/livecard-media-node"
