#!/usr/bin/env bash
# Lambda functions: cold start (process spawn to the first handled
# invocation) of livecard-http and livecard-ws beside a hello-world
# lambda_runtime binary built the same way (release, same profile) and the
# AWS SDK's own floor (lambda-sdk-floor: a secret read and one item written,
# nothing of livecard) and livecard's HTTP function on lambda_http instead of
# its own adapter (lambda-http-peer), in the same run, interleaved; and warm handler
# latency (p50/p99) for the card page and a chat message. Under a Lambda
# runtime API on loopback, against the embedded DynamoDB-compatible server.
# Prints one JSON line per figure.
#
#   ./scripts/bench-lambda.sh [cold starts per function, default 30] [warm invocations, default 2000]
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true
cold="${1:-30}"
warm="${2:-2000}"
# The functions as they ship (no emulator inside), then the bench and its peers.
cargo build --release --quiet -p livecard-lambda --bins
cargo build --release --quiet -p livecard-bench --bin lambda-start --bin lambda-hello --bin lambda-sdk-floor --bin lambda-http-peer
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
./target/release/lambda-start --bin-dir target/release --cold "$cold" --warm "$warm"
