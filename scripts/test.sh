#!/usr/bin/env bash
# The whole livecard test suite, from a fresh clone on a fresh machine.
#
# Installs what the tests need when it is missing (Debian's chromium and
# chromium-driver for the browser tests, coturn for its TURN test client,
# prosody and prosody-modules for the XMPP presence connector, kamailio,
# kamailio-presence-modules and sip-tester for the SIP watcher,
# axe-core and DynamoDB Local from npm), then checks
# formatting and lints and runs every test of the workspace: unit tests with
# simulated time, the store conformance suite against the embedded
# DynamoDB-compatible server, the handlers in-process, the CLI against the
# real binary, and the end-to-end tests in headless Chromium; then the
# edge host (scripts/test-worker.sh: the Worker built for wasm32 with its
# pinned toolchain, bundled, and tested under wrangler dev), the Terraform
# offline (scripts/test-infra.sh) and the media node's container image
# (scripts/test-container.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# Nothing here talks to AWS; make sure no SDK looks for the metadata service.
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=livecard-test AWS_SECRET_ACCESS_KEY=livecard-test AWS_REGION=us-east-1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A one-off run (CI, a fresh clone) gains nothing from incremental state but
# writes about 6 GB of it; developers keep theirs.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi

# A cold run writes about 12 GB (target/, the Worker's toolchain, images);
# say so at the start rather than fail an hour in with "No space left".
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ -n "$free_kb" ] && [ "$free_kb" -lt $((14 * 1024 * 1024)) ]; then
  echo "warning: $((free_kb / 1024 / 1024)) GB free here; a cold test run needs about 14 GB" >&2
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: installing $* needs root (or sudo)" >&2; return 1
  fi
}

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# coturn's test client and peer talk to the media node (interoperability).
command -v turnutils_uclient >/dev/null 2>&1 || missing+=(coturn)
# Presence from XMPP is tested against Prosody with mod_privilege (XEP-0356).
command -v prosody >/dev/null 2>&1 || missing+=(prosody)
[ -f /usr/lib/prosody/modules/mod_privilege/mod_privilege.lua ] || missing+=(prosody-modules)
# Phone calls as presence are tested against Kamailio's presence modules,
# with SIPp (sip-tester) as the phones.
command -v kamailio >/dev/null 2>&1 || missing+=(kamailio)
[ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/presence_dialoginfo.so ] || missing+=(kamailio-presence-modules)
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
# The media node's image is built and run with podman (runc), FROM scratch.
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]} (Debian)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f tests/node_modules/axe-core/axe.min.js ]; then
  echo "==> installing axe-core (npm)"
  (cd tests && npm ci --no-audit --no-fund --loglevel=error)
fi
emulator=tests/dynamodb-local/node_modules/amplify-dynamodb-simulator/emulator
if [ ! -f "$emulator/DynamoDBLocal.jar" ]; then
  echo "==> installing Amazon's DynamoDB Local (npm amplify-dynamodb-simulator)"
  (cd tests/dynamodb-local && npm ci --no-audit --no-fund --loglevel=error)
fi

# An independent implementation of Standard Webhooks checks the signatures
# of outgoing webhooks (PyPI standardwebhooks).
pytools=.tools/test-python
if [ ! -x "$pytools/bin/python3" ] || ! "$pytools/bin/python3" -c 'import standardwebhooks' 2>/dev/null; then
  echo "==> installing standardwebhooks (PyPI) into $pytools"
  python3 -m venv "$pytools"
  "$pytools/bin/pip" install --quiet --disable-pip-version-check 'standardwebhooks==1.3.0'
fi
export LIVECARD_TEST_PYTHON="$PWD/$pytools/bin/python3"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo fmt --manifest-path functions/worker/Cargo.toml -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings

echo "==> cargo test"
log=$(mktemp)
ddb_pid=""
cleanup() { [ -n "$ddb_pid" ] && kill "$ddb_pid" 2>/dev/null; rm -f "$log"; }
trap cleanup EXIT
# --all-targets: libraries, binaries and test files (there are no doctests).
cargo test --workspace --all-features --all-targets 2>&1 | tee "$log"

echo "==> store conformance suite against Amazon's DynamoDB Local (in memory, telemetry off)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$emulator" && exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
  -inMemory -port "$port" -disableTelemetry) > /dev/null 2>&1 &
ddb_pid=$!
for _ in $(seq 1 120); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.5)" 2>/dev/null && break
  kill -0 "$ddb_pid" 2>/dev/null || { echo "error: DynamoDB Local did not start" >&2; exit 1; }
  sleep 0.5
done
# The same test binary as above (same features across the workspace): no rebuild.
LIVECARD_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port" \
  cargo test --workspace --all-features --test conformance 2>&1 | tee -a "$log"
echo "==> the edge host: the Worker built, bundled and tested under wrangler dev (scripts/test-worker.sh)"
LIVECARD_TEST_DYNAMODB_LOCAL="http://127.0.0.1:$port" ./scripts/test-worker.sh 2>&1 | tee -a "$log"
echo "==> fuzz targets, briefly (card token, signaling, STUN/TURN, presence webhook, API bodies, Teams notifications)"
./scripts/fuzz.sh 15 2>&1 | tee -a "$log"

echo "==> infrastructure (offline: terraform fmt/validate/test, checkov, hadolint)"
./scripts/test-infra.sh 2>&1 | tee -a "$log"

echo "==> the media node's container image (podman)"
./scripts/test-container.sh 2>&1 | tee -a "$log"
# One closing line for the whole suite.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
