# A throwaway key vault for benchmarks and test suites (source this file; bash).
#   start_throwaway_vault PGCMK WORK [INIT_ARGS... --] [SERVE_ARGS...]
# Initialises a vault in WORK/vault, serves it on a free loopback port (HTTPS, its own CA) with
# SERVE_ARGS, waits for WORK/vault/vault.url and sets VAULT_DAEMON (pid) and VAULT_URL. Fails,
# printing the daemon's log, if it does not come up within 10 s. Registers an EXIT trap that
# stops the daemon and removes WORK.
start_throwaway_vault() {
  local pgcmk=$1 work=$2
  shift 2
  local init_args=()
  if [[ " $* " == *" -- "* ]]; then
    while [[ $1 != -- ]]; do init_args+=("$1"); shift; done
    shift
  fi
  VAULT_DAEMON=""
  trap 'stop_throwaway_vault "'"$work"'"' EXIT
  "$pgcmk" vault init --data-dir "$work/vault" "${init_args[@]}" >/dev/null
  "$pgcmk" vault serve --data-dir "$work/vault" --listen 127.0.0.1:0 "$@" >"$work/daemon.log" 2>&1 &
  VAULT_DAEMON=$!
  for _ in $(seq 1 200); do [[ -s "$work/vault/vault.url" ]] && break; sleep 0.05; done
  if [[ ! -s "$work/vault/vault.url" ]]; then
    echo "the vault did not start:" >&2
    cat "$work/daemon.log" >&2
    return 1
  fi
  VAULT_URL=$(tr -d '\n' < "$work/vault/vault.url")
}

stop_throwaway_vault() {
  if [[ -n "${VAULT_DAEMON:-}" ]]; then
    kill "$VAULT_DAEMON" 2>/dev/null || true
    wait "$VAULT_DAEMON" 2>/dev/null || true
  fi
  rm -rf "$1"
}
