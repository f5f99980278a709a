#!/usr/bin/env bash
# Builds the Lambda zips: livecard-http, livecard-ws, livecard-sweep and livecard-forward, each
# a `bootstrap` binary for the provided.al2023 runtime, for x86_64 and arm64.
#
#   ./scripts/build-lambda.sh            # both architectures
#   ./scripts/build-lambda.sh arm64      # or x86_64
#
# Installs cargo-lambda and ziglang from PyPI into .tools/lambda when missing
# (zig links against an old glibc, so the binaries run on Amazon Linux
# 2023, glibc 2.34), checks that no binary needs a newer glibc, and writes
# dist/lambda/<arch>/<function>.zip with their sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true

archs=("$@")
[ ${#archs[@]} -eq 0 ] && archs=(x86_64 arm64)
for arch in "${archs[@]}"; do
  case "$arch" in x86_64|arm64) ;; *) echo "error: unknown architecture $arch (x86_64 or arm64)" >&2; exit 2;; esac
done

tools=.tools/lambda
if [ ! -x "$tools/bin/cargo-lambda" ] || [ ! -x "$tools/bin/python-zig" ]; then
  echo "==> installing cargo-lambda and ziglang (PyPI) into $tools"
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check 'cargo-lambda==1.9.2' 'ziglang==0.15.2'
fi
export PATH="$PWD/$tools/bin:$PATH"

# The newest glibc symbol version a binary may need (Amazon Linux 2023).
max_glibc=2.34
functions=(livecard-http livecard-ws livecard-sweep livecard-forward)
for arch in "${archs[@]}"; do
  flag="--x86-64"; triple=x86_64-unknown-linux-gnu
  [ "$arch" = arm64 ] && { flag="--arm64"; triple=aarch64-unknown-linux-gnu; }
  echo "==> cargo lambda build --release $flag"
  cargo lambda build --release "$flag" --output-format zip -p livecard-lambda \
    --lambda-dir "target/lambda-$arch"
  mkdir -p "dist/lambda/$arch"
  for f in "${functions[@]}"; do
    bin="target/$triple/release/$f"
    need=$(readelf -V --wide "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
    if [ "$(printf '%s\n%s\n' "$need" "$max_glibc" | sort -V | tail -1)" != "$max_glibc" ]; then
      echo "error: $f ($arch) needs glibc $need; Amazon Linux 2023 has $max_glibc" >&2
      exit 1
    fi
    cp "target/lambda-$arch/$f/bootstrap.zip" "dist/lambda/$arch/$f.zip"
    printf '%-8s %-16s %8s bytes zipped, needs glibc %s\n' "$arch" "$f" \
      "$(stat -c %s "dist/lambda/$arch/$f.zip")" "$need"
  done
done
