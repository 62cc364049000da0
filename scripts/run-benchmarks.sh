#!/usr/bin/env bash
# Runs every benchmark script that exists (bench/*.sh); each prints its own ratio table.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
for b in bench/*.sh; do
  [[ -e "$b" ]] || continue
  echo "== $b"
  bash "$b" "$BUILD"
done
