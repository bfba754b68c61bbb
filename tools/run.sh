#!/usr/bin/env bash
# The main job: set up, build, and run radars on the device found.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
build/radars devices
build/radars selfcheck
