#!/usr/bin/env bash
# Installs what pgcmk needs on Debian 12: the union of scripts/deps/*.txt (apt packages) and the
# test OS user that PostgreSQL and FUSE mounts run as (PostgreSQL never runs as root).
# Idempotent and quiet when everything is present. Must run as root (or via sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  exec sudo -E "$0" "$@"
fi

mapfile -t wanted < <(cat scripts/deps/*.txt | sed -e 's/#.*//' -e 's/[[:space:]]//g' | grep -v '^$' | sort -u)
missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The unprivileged OS user that runs PostgreSQL and the FUSE filesystem in demos and tests.
if ! id -u pgcmk >/dev/null 2>&1; then
  useradd --system --create-home --home-dir /var/lib/pgcmk --shell /bin/bash pgcmk
fi
# Tests and the demo run PostgreSQL and FUSE mounts as pgcmk from binaries in this tree: let that
# user traverse (x only, via an ACL entry for pgcmk alone) every directory above the checkout.
dir=$(pwd)
while [[ "$dir" != "/" ]]; do
  if ! runuser -u pgcmk -- test -x "$dir" 2>/dev/null; then setfacl -m u:pgcmk:x "$dir"; fi
  dir=$(dirname "$dir")
done
# Unprivileged FUSE mounts (fusermount3) need /dev/fuse readable and writable by everyone, as
# Debian's udev rule makes it; some containers ship it 0600.
if [[ -c /dev/fuse ]] && [[ $(stat -c %a /dev/fuse) != 666 ]]; then chmod 0666 /dev/fuse; fi
# Debian's postgresql package may start a cluster on 5432; pgcmk never needs it.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
  pg_lsclusters -h | awk '$4=="online"{print $1, $2}' | while read -r v c; do pg_ctlcluster "$v" "$c" stop || true; done
fi
# npm packages for the Azure SDK compatibility suite, when that suite is present.
if [[ -f tests/sdk/package.json ]]; then
  if ! command -v node >/dev/null; then apt-get install -y -qq nodejs npm >/dev/null; fi
  (cd tests/sdk && { [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error; })
fi
