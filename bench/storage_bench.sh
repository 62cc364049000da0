#!/usr/bin/env bash
# Storage benchmark: PostgreSQL 15 and fio on a plain directory, on the pgcmk encrypted mount and
# on gocryptfs (the best-known peer), interleaved (A B C A B C ...) on one machine; prints medians
# and ratios to the plain directory as a Markdown table. Not part of `make test`.
#
#   bench/storage_bench.sh PGCMK_BIN|BUILD_DIR [ROUNDS]
#
# Environment: KINDS (default "plain plain-pgconf pgcmk gocryptfs"; also "pgcmk-nowb" = writeback
# cache off, and "pgcmk-base" = the pgcmk binary in PGCMK_BASE, for an interleaved A/B of two
# builds), where plain-pgconf is a plain directory with the PostgreSQL settings that pgcmk servers
# use (`pgcmk server postgres-settings`, which the pgcmk kinds get too),
# SCALE (20), CLIENTS (4), SECONDS_PER_RUN (20), FIO_SECONDS (15), OUT (results directory).
# Runs as root and puts PostgreSQL, the mounts and fio under the unprivileged user pgcmk.
set -euo pipefail

PGCMK=${1:?usage: storage_bench.sh PGCMK_BIN|BUILD_DIR [ROUNDS]}
# `make bench` passes the build directory, as it does to every benchmark.
if [[ -d "$PGCMK" ]]; then PGCMK=$PGCMK/src/cli/pgcmk; fi
ROUNDS=${2:-3}
KINDS=${KINDS:-plain plain-pgconf pgcmk gocryptfs}
SCALE=${SCALE:-20}
CLIENTS=${CLIENTS:-4}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
FIO_SECONDS=${FIO_SECONDS:-15}
PGCMK_BASE=${PGCMK_BASE:-}
if [[ -d "$PGCMK_BASE" ]]; then PGCMK_BASE=$PGCMK_BASE/src/cli/pgcmk; fi
[[ " $KINDS " != *" pgcmk-base "* || -x "$PGCMK_BASE" ]] || {
  echo "KINDS has pgcmk-base: set PGCMK_BASE to the other pgcmk binary or build directory" >&2
  exit 1
}
PGBIN=/usr/lib/postgresql/15/bin
[[ $(id -u) -eq 0 ]] || { echo "run as root (it uses runuser and drop_caches)" >&2; exit 1; }
[[ $(stat -c %a /dev/fuse) == 666 ]] || chmod 0666 /dev/fuse
as_pg() { runuser -u pgcmk -- "$@"; }

WORK=$(mktemp -d /var/tmp/pgcmk-bench-XXXXXX)
chmod 0755 "$WORK"
chown pgcmk: "$WORK"
OUT=${OUT:-$WORK/results}
mkdir -p "$OUT"
RESULTS=$OUT/raw.csv
echo "round,kind,metric,value" >"$RESULTS"
PORT=$((20000 + RANDOM % 20000))
FS_PID=
log() { echo "storage_bench: $*" >&2; }
die() {
  echo "storage_bench: $*" >&2
  exit 1
}

cleanup() {
  set +e
  for k in $KINDS; do
    [[ -f $WORK/$k/dir/data/postmaster.pid ]] &&
      as_pg "$PGBIN/pg_ctl" -D "$WORK/$k/dir/data" -m immediate stop >/dev/null 2>&1
  done
  unmount_kind
  rm -rf "$WORK"/plain* "$WORK"/pgcmk* "$WORK"/gocryptfs "$WORK"/fio.json
  [[ $OUT == "$WORK"/* ]] || rm -rf "$WORK"
}
trap cleanup EXIT

# Prepares the kind's directory at $WORK/KIND/dir (mounting if needed).
mount_kind() {
  local kind=$1 base=$WORK/$1
  rm -rf "$base"
  as_pg mkdir -p "$base/dir"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$base/key"
  chown pgcmk: "$base/key"
  chmod 0600 "$base/key"
  case $kind in
    plain | plain-pgconf) ;;
    pgcmk | pgcmk-nowb | pgcmk-base)
      local wb=on bin=$PGCMK
      [[ $kind == pgcmk-nowb ]] && wb=off
      [[ $kind == pgcmk-base ]] && bin=$PGCMK_BASE
      as_pg bash -c 'exec "$1" fs init "$2" --key-fd 3 3<"$3"' _ "$bin" "$base/backing" "$base/key" >/dev/null
      as_pg bash -c 'echo $$ > "$1/fs.pid"; exec "$2" fs mount "$3" "$4" --key-fd 3 --writeback-cache "$5" 3<"$1/key"' \
        _ "$base" "$bin" "$base/backing" "$base/dir" "$wb" >>"$base/fs.log" 2>&1 &
      for _ in $(seq 100); do grep -q " $base/dir fuse" /proc/mounts && break; sleep 0.1; done
      FS_PID=$(cat "$base/fs.pid")
      ;;
    gocryptfs)
      as_pg mkdir -p "$base/cipher"
      as_pg gocryptfs -q -init -passfile "$base/key" "$base/cipher" >/dev/null
      as_pg gocryptfs -q -passfile "$base/key" "$base/cipher" "$base/dir"
      ;;
  esac
}

unmount_kind() {
  if [[ -n $FS_PID ]]; then
    kill -TERM "$FS_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$FS_PID" 2>/dev/null || break; sleep 0.1; done
    FS_PID=
  fi
  for k in $KINDS; do
    grep -q " $WORK/$k/dir fuse" /proc/mounts && as_pg fusermount3 -u -z "$WORK/$k/dir"
  done
  return 0
}

record() { echo "$1,$2,$3,$4" >>"$RESULTS"; }

# User + system CPU seconds of the pgcmk filesystem process so far (0 without one).
daemon_cpu_seconds() {
  if [[ -n $FS_PID ]]; then
    awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$FS_PID/stat"
  else
    echo 0
  fi
}

bench_postgres() {
  local round=$1 kind=$2 data=$WORK/$2/dir/data
  as_pg "$PGBIN/initdb" -D "$data" --data-checksums -A trust -U postgres >/dev/null
  as_pg tee -a "$data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
fsync = on
EOF
  # pgcmk servers run with these settings (src/server); the plain-pgconf kind shows what they do
  # without the encrypted mount.
  if [[ $kind == pgcmk* || $kind == plain-pgconf ]]; then
    "$PGCMK" server postgres-settings | as_pg tee -a "$data/postgresql.conf" >/dev/null
  fi
  as_pg "$PGBIN/pg_ctl" -D "$data" -l "$WORK/$kind/pg.log" -w start >/dev/null
  local pgb=(as_pg pgbench -h 127.0.0.1 -p "$PORT" -U postgres)
  local t0 t1
  t0=$(date +%s.%N)
  # A failed pgbench stops the benchmark (with its output) instead of recording a figure.
  "${pgb[@]}" -i -q -s "$SCALE" postgres >"$WORK/pgbench.out" 2>&1 ||
    { cat "$WORK/pgbench.out"; die "pgbench -i failed on $kind"; }
  t1=$(date +%s.%N)
  record "$round" "$kind" init_s "$(echo "$t1 - $t0" | bc)"
  local mode metric
  for mode in rw ro; do
    metric=${mode}_tps
    "${pgb[@]}" $([[ $mode == ro ]] && echo -S) -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" \
      postgres >"$WORK/pgbench.out" 2>&1 || { cat "$WORK/pgbench.out"; die "pgbench ($mode) failed on $kind"; }
    grep -q '^tps' "$WORK/pgbench.out" || { cat "$WORK/pgbench.out"; die "pgbench ($mode) printed no tps on $kind"; }
    awk -v r="$round" -v k="$kind" -v m="$metric" -F'[ =]+' '/^tps/ {print r "," k "," m "," $2}' \
      "$WORK/pgbench.out" >>"$RESULTS"
  done
  as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  as_pg rm -rf "$data"
}

bench_fio() {
  local round=$1 kind=$2 dir=$WORK/$2/dir/fio
  as_pg mkdir -p "$dir"
  local common=(--directory="$dir" --ioengine=psync --group_reporting --output-format=json)
  local cpu0
  cpu0=$(daemon_cpu_seconds)
  as_pg fio --name=seqwrite "${common[@]}" --rw=write --bs=1M --size=1G --end_fsync=1 \
    >"$WORK/fio.json"
  record "$round" "$kind" seq_write_MBps \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["write"]["bw"]/1024)' "$WORK/fio.json")"
  # CPU seconds of the filesystem daemon for that 1 GiB: robust to a noisy machine.
  [[ -n $FS_PID ]] && record "$round" "$kind" seq_write_daemon_cpu_s "$(echo "$(daemon_cpu_seconds) - $cpu0" | bc)"
  sync
  echo 3 >/proc/sys/vm/drop_caches
  as_pg fio --name=seqwrite "${common[@]}" --rw=read --bs=1M --size=1G >"$WORK/fio.json"
  record "$round" "$kind" seq_read_MBps \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["read"]["bw"]/1024)' "$WORK/fio.json")"
  as_pg fio --name=randrw "${common[@]}" --rw=randrw --bs=8k --size=512M --numjobs=4 \
    --time_based --runtime="$FIO_SECONDS" --fdatasync=64 >"$WORK/fio.json"
  record "$round" "$kind" randrw_8k_iops \
    "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print(j["read"]["iops"]+j["write"]["iops"])' "$WORK/fio.json")"
  as_pg rm -rf "$dir"
}

for ((round = 1; round <= ROUNDS; round++)); do
  for kind in $KINDS; do
    log "round $round: $kind"
    mount_kind "$kind"
    bench_postgres "$round" "$kind"
    bench_fio "$round" "$kind"
    unmount_kind
    rm -rf "${WORK:?}/$kind"
  done
done

python3 - "$RESULTS" "$KINDS" <<'EOF' | tee "$OUT/table.md"
# Per round, each figure is divided by the plain directory's figure of the same round (the runs
# are interleaved, so a noisy neighbour hits all kinds of one round alike); the table shows the
# median of those ratios and, in parentheses, the median absolute value.
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
kinds = sys.argv[2].split()
metrics = [("init_s", "`pgbench -i -s 20`", True), ("rw_tps", "read-write TPS", False),
           ("ro_tps", "select-only TPS", False), ("seq_write_MBps", "seq write MB/s", False),
           ("seq_read_MBps", "seq read MB/s (cold)", False), ("randrw_8k_iops", "8 KiB randrw IOPS", False)]
val = {(r["round"], r["kind"], r["metric"]): float(r["value"]) for r in rows}
rounds = sorted({r["round"] for r in rows})
def table(base):
    print("| storage | " + " | ".join(t for _, t, _ in metrics) + " |")
    print("|---" * (len(metrics) + 1) + "|")
    for k in kinds:
        cells = []
        for m, _, lower_better in metrics:
            ratios = [val[r, k, m] / val[r, base, m] for r in rounds
                      if (r, k, m) in val and (r, base, m) in val and val[r, base, m]]
            absolute = [val[r, k, m] for r in rounds if (r, k, m) in val]
            if not ratios:
                cells.append("n/a")
                continue
            ratio, v = statistics.median(ratios), statistics.median(absolute)
            unit = " s" if lower_better else ""
            cells.append(f"{ratio:.2f}{'x' if lower_better else ''} ({v:.4g}{unit})")
        print(f"| {k} | " + " | ".join(cells) + " |")
print("Ratios to `plain` (a plain directory, stock PostgreSQL settings):")
print()
table("plain")
# pgcmk kinds run PostgreSQL with pgcmk's settings; plain-pgconf is the plain directory with the
# same settings, so this table shows the mount's own cost, apart from the settings.
if "plain-pgconf" in kinds:
    print()
    print("Ratios to `plain-pgconf` (a plain directory with the PostgreSQL settings pgcmk uses):")
    print()
    table("plain-pgconf")
cpu = {k: [val[r, k, "seq_write_daemon_cpu_s"] for r in rounds if (r, k, "seq_write_daemon_cpu_s") in val]
       for k in kinds}
cpu = {k: v for k, v in cpu.items() if v}
if cpu:
    print()
    print("Filesystem daemon CPU seconds for the 1 GiB sequential write (per round): " +
          "; ".join(f"{k} {' / '.join(f'{x:.2f}' for x in v)}" for k, v in cpu.items()))
EOF
log "raw results: $RESULTS"
