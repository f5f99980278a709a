#!/usr/bin/env bash
# Builds the connectors service as one static binary, the only file of its
# container image (functions/connectors/Dockerfile):
#   dist/livecard-connectors/x86_64/livecard-connectors
exec "$(dirname "$0")/build-static.sh" livecard-connectors livecard-connectors service
