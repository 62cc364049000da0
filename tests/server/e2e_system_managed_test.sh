#!/usr/bin/env bash
# End-to-end: the default, system-managed key (no vault). create generates and shows the admin
# password once; the key file is 0600 next to the data; start/show/list/query/restart/stop work;
# a second server gets its own key and port; the JSON outputs parse.
TEST_NAME=system-managed
source "$(dirname "$0")/lib.sh"

SERVERS+=(sys1 sys2)
out=$(server create sys1 --port "$(free_port)" --check-interval 1)
PW=$(sed -n "s/.*admin password for 'postgres' (shown once, stored nowhere): //p" <<<"$out")
[[ -n "$PW" ]] || fail "no generated password shown: $out"
printf '%s\n' "$PW" >"$WORK/sys1.password"
grep -rqa -- "$PW" "$STATE" && fail "the generated password is stored somewhere under the state dir"
K="$STATE/servers/sys1/system.key"
[[ $(stat -c '%a %U' "$K") == "600 pgcmk" ]] || fail "system key is $(stat -c '%a %U' "$K")"
[[ $(stat -c %s "$K") == 32 ]] || fail "system key is not 32 bytes"

server start sys1 >/dev/null || fail "start failed"
[[ $(state_of sys1) == Ready ]] || fail "not Ready"
[[ $(server_json sys1 | field '["dataEncryption"]["type"]') == SystemManaged ]] || fail "wrong type"
sql sys1 "create table t as select 1 as x"
server restart sys1 >/dev/null || fail "restart failed"
[[ $(sql sys1 "select x from t") == 1 ]] || fail "data lost across restart"

printf 'second-pw\n' >"$WORK/sys2.password"
server create sys2 --admin-password-file "$WORK/sys2.password" --port "$(free_port)" >/dev/null
cmp -s "$K" "$STATE/servers/sys2/system.key" && fail "two servers share a system key"
server list --output json | python3 -c '
import json, sys
names = sorted(s["name"] for s in json.load(sys.stdin)["value"])
assert names == ["sys1", "sys2"], names' || fail "list --output json"
grep -q "sys1 .*Ready" <<<"$(server list)" || fail "list does not show sys1 Ready"
if server create sys1 2>/dev/null; then fail "a duplicate name was accepted"; fi
if server delete sys1 2>/dev/null; then fail "deleted a running server"; fi
server stop sys1 >/dev/null
server delete sys2 >/dev/null
[[ ! -e "$STATE/servers/sys2" ]] || fail "delete left files"
log "PASS"
