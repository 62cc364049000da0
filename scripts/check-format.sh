#!/usr/bin/env bash
# Fails if any C++ file differs from clang-format's output (.clang-format at the root).
set -euo pipefail
cd "$(dirname "$0")/.."
bad=()
while IFS= read -r f; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done < <(git ls-files '*.cc' '*.h')
if ((${#bad[@]})); then
  echo "check-format: not clang-formatted (run 'make format'): ${bad[*]}" >&2
  exit 1
fi
