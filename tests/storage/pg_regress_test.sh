#!/usr/bin/env bash
# PostgreSQL's regression suite (parallel_schedule, ~217 tests) run differentially: once against a
# server whose data directory is a plain folder, once against one on the encrypted filesystem
# (data directory and the suite's output directory, which holds the test tablespace, both on the
# mount). The lists of failing tests must be identical, and so must the outputs of those that fail
# (the Debian source package may lag the installed server by a minor version, so a few failures
# on both sides are expected and tolerated).
#
#   pg_regress_test.sh PGCMK_BIN
#
# As root it installs what it needs (a deb-src entry, dpkg-dev, postgresql-server-dev-15, the
# source package, cached in $PGCMK_PG_SRC, default /var/tmp/pgcmk-pgsrc) and runs PostgreSQL and
# the mount as the unprivileged user pgcmk.
set -euo pipefail

PGCMK=${1:?usage: pg_regress_test.sh PGCMK_BIN}
PGBIN=/usr/lib/postgresql/15/bin
SRC_CACHE=${PGCMK_PG_SRC:-/var/tmp/pgcmk-pgsrc}
log() { echo "pg_regress_test: $*"; }

if [[ $(id -u) -eq 0 ]]; then
  RUN=(runuser -u pgcmk --)
  [[ $(stat -c %a /dev/fuse) == 666 ]] || chmod 0666 /dev/fuse
else
  RUN=()
fi
as_pg() { "${RUN[@]}" "$@"; }

# --- the suite's sources -----------------------------------------------------------------------
src=$(ls -d "$SRC_CACHE"/postgresql-15-*/ 2>/dev/null | head -1 || true)
if [[ -z $src ]]; then
  [[ $(id -u) -eq 0 ]] || { log "needs root once to fetch the source package"; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  if ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      >/etc/apt/sources.list.d/debsrc.sources
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends dpkg-dev postgresql-server-dev-15 make gcc >/dev/null
  mkdir -p "$SRC_CACHE"
  installed=$(dpkg-query -W -f='${Version}' postgresql-15)
  # Prefer the installed server's version; the newest one listed may not be fetchable.
  (cd "$SRC_CACHE" && { apt-get source -qq "postgresql-15=$installed" ||
    for v in $(apt-cache showsrc postgresql-15 | awk '/^Version:/ {print $2}'); do
      apt-get source -qq "postgresql-15=$v" && break
    done; }) >/dev/null 2>&1
  src=$(ls -d "$SRC_CACHE"/postgresql-15-*/ | head -1)
fi
log "suite from $src"

WORK=$(mktemp -d /tmp/pgcmk-regress-XXXXXX)
chmod 0755 "$WORK"
[[ $(id -u) -eq 0 ]] && chown pgcmk: "$WORK"
FS_PID=
PG_DATA_DIRS=()
cleanup() {
  set +e
  for d in "${PG_DATA_DIRS[@]}"; do as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1; done
  if [[ -n $FS_PID ]]; then
    kill -TERM "$FS_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$FS_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  grep -q " $WORK/mnt fuse" /proc/mounts && as_pg fusermount3 -u -z "$WORK/mnt"
  if [[ ${KEEP_WORK:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

as_pg cp -r "$src/src/test/regress" "$WORK/regress"
(cd "$WORK/regress" &&
  as_pg make -s -f "$src/debian/tests/Makefile.regress" \
    PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config with_llvm=no >"$WORK/make.log" 2>&1) ||
  { cat "$WORK/make.log"; exit 1; }
as_pg sed -i -e "s;set regresslib :libdir;set regresslib '$WORK/regress';" \
  "$WORK/regress"/sql/* "$WORK/regress"/expected/*

# $1: label, $2: data directory, $3: where the suite's output directory goes (on the mount for
# the encrypted run: the tablespace test creates its tablespace there). Prints the sorted failing
# test names to $WORK/failed.$1; the output directory is $3/out.$1.
run_suite() {
  local label=$1 data=$2 out_parent=$3 port
  # A free port below the kernel's ephemeral range (32768-60999 here), where the server e2e tests
  # pick theirs and where clients get their source ports.
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 12000))
    python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' \
      "$port" 2>/dev/null && break
  done
  as_pg "$PGBIN/initdb" -D "$data" --data-checksums -A trust -U postgres >"$WORK/initdb.$label.log" 2>&1
  as_pg tee -a "$data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$WORK'
max_prepared_transactions = 10
EOF
  PG_DATA_DIRS+=("$data")
  as_pg "$PGBIN/pg_ctl" -D "$data" -l "$WORK/pg.$label.log" -w start >/dev/null
  local out=$out_parent/out.$label
  as_pg mkdir -p "$out"
  local start=$SECONDS
  (cd "$WORK/regress" && as_pg /usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
    --bindir="$PGBIN" --inputdir=. --outputdir="$out" --host=127.0.0.1 --port="$port" \
    --user=postgres --schedule=parallel_schedule >"$WORK/regress.$label.log" 2>&1) || true
  as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  grep -E '^(not ok|test |ok |     |\s+\S+\s+\.\.\.)' "$WORK/regress.$label.log" >/dev/null || true
  grep -E 'FAILED|failed \(ignored\)|^not ok' "$WORK/regress.$label.log" |
    sed -E 's/^(not ok [0-9]+\s+[-+]?\s*|\s*(test\s+)?)//; s/\s.*//' | sort >"$WORK/failed.$label"
  local total
  total=$(grep -cE '\.\.\. (ok|FAILED)|^(not )?ok ' "$WORK/regress.$label.log" || true)
  log "$label: $total tests, $(wc -l <"$WORK/failed.$label") failed ($((SECONDS - start)) s): $(tr '\n' ' ' <"$WORK/failed.$label")"
  ((total > 150)) || { tail -20 "$WORK/regress.$label.log"; return 1; }
}

run_suite plain "$WORK/plain" "$WORK"

head -c 32 /dev/urandom >"$WORK/key"
chmod 0600 "$WORK/key"
[[ $(id -u) -eq 0 ]] && chown pgcmk: "$WORK/key"
as_pg mkdir -p "$WORK/mnt"
as_pg bash -c 'exec "$1" fs init "$2" --key-fd 3 3<"$3"' _ "$PGCMK" "$WORK/backing" "$WORK/key" >/dev/null
as_pg bash -c 'echo $$ > "$1/fs.pid"; exec "$2" fs mount "$3" "$4" --key-fd 3 3<"$1/key"' \
  _ "$WORK" "$PGCMK" "$WORK/backing" "$WORK/mnt" >>"$WORK/fs.log" 2>&1 &
for _ in $(seq 100); do
  grep -q " $WORK/mnt fuse" /proc/mounts && [[ -s $WORK/fs.pid ]] && break
  sleep 0.1
done
FS_PID=$(cat "$WORK/fs.pid")
run_suite encrypted "$WORK/mnt/data" "$WORK/mnt"

if ! diff -u "$WORK/failed.plain" "$WORK/failed.encrypted"; then
  log "FAIL: the failure lists differ (plain vs encrypted)"
  for t in $(comm -13 "$WORK/failed.plain" "$WORK/failed.encrypted"); do
    as_pg cat "$WORK/mnt/out.encrypted/regression.diffs" 2>/dev/null | grep -A15 "/$t.out" | head -40
  done
  exit 1
fi
# The tests that fail on both sides (the source package's expected files may lag the installed
# server) must fail in the same way: their actual outputs are identical, up to the directories.
for t in $(cat "$WORK/failed.plain"); do
  if ! diff -u <(as_pg sed "s;$WORK/out.plain;OUT;g" "$WORK/out.plain/results/$t.out") \
    <(as_pg sed "s;$WORK/mnt/out.encrypted;OUT;g" "$WORK/mnt/out.encrypted/results/$t.out"); then
    log "FAIL: $t fails differently on the encrypted filesystem"
    exit 1
  fi
done
log "identical results on a plain directory and on the encrypted filesystem"
echo "pg_regress_test: 1 passed, 0 failed"
