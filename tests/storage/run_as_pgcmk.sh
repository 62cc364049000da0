#!/usr/bin/env bash
# Runs a test program as the unprivileged OS user pgcmk: FUSE mounts and PostgreSQL never run as
# root. As root (CI) it first makes sure /dev/fuse has Debian's usual mode 0666 (containers may
# ship it 0600, which breaks unprivileged mounts through fusermount3) and provides a tiny tmpfs
# owned by pgcmk for the ENOSPC test.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then
  exec "$@"
fi
id -u pgcmk >/dev/null 2>&1 || { echo "run_as_pgcmk: user pgcmk missing (scripts/install-deps.sh)" >&2; exit 1; }
if [[ $(stat -c %a /dev/fuse) != 666 ]]; then
  chmod 0666 /dev/fuse
fi
small=$(mktemp -d /tmp/pgcmk-smallfs-XXXXXX)
cleanup() { umount "$small" 2>/dev/null || true; rmdir "$small" 2>/dev/null || true; }
trap cleanup EXIT
if mount -t tmpfs -o size=6m,mode=0700,uid="$(id -u pgcmk)",gid="$(id -g pgcmk)" tmpfs "$small"; then
  export PGCMK_SMALL_FS=$small
fi
# Strict: under this wrapper every fixture is expected, so a test that would skip fails instead.
runuser -u pgcmk -- env PGCMK_SMALL_FS="${PGCMK_SMALL_FS:-}" PGCMK_BIN="${PGCMK_BIN:-}" \
  PGCMK_SEED="${PGCMK_SEED:-}" PGCMK_TEST_STRICT=1 "$@"
