#!/usr/bin/env bash
# The README's main job. Until the server issue lands this only shows the built program.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
"$BUILD/src/cli/pgcmk" version
"$BUILD/src/cli/pgcmk" help
