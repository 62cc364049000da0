#!/usr/bin/env bash
# Runs every test: unit and integration tests registered with CTest (including the known-answer
# vector suites and the Azure SDK compatibility suite), with per-test time limits.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export PGCMK_SHARED_DIR=${PGCMK_SHARED_DIR:-$(cd .. && pwd)/shared}
# Format check first: cheap, and CI must fail on unformatted code.
scripts/check-format.sh
cd "$BUILD"
# shellcheck disable=SC2086
ctest --output-on-failure --timeout 900 -j 2 ${CTEST_ARGS:-}
