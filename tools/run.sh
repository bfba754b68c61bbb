#!/usr/bin/env bash
# The main job: set up (apt-get what is missing), build, list the devices, check the kernels
# build on the one chosen, and run `radars search` with no arguments (configs/default.ini).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
build/radars devices
build/radars selfcheck
build/radars search "$@"
