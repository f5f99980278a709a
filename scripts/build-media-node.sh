#!/usr/bin/env bash
# Builds the media node as one static binary, the only file of its
# container image (media-node/Dockerfile):
#   dist/livecard-media-node/x86_64/livecard-media-node
exec "$(dirname "$0")/build-static.sh" livecard-media-node livecard-media-node
