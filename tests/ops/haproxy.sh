#!/usr/bin/env bash
# tests/ops/haproxy.sh: Debian's HAProxy (option httpchk against trireme-status --serve-check) in
# front of 3 MariaDB nodes, clients writing through it while the active node is killed, restarted and
# desynced. Records when HAProxy takes each node out and back, the errors clients see and the
# longest stretch without a commit. Usage: haproxy.sh PROVIDER_SO TRIREME_STATUS (any provider:
# run it on trireme and on Galera 4 in one sitting). Heavy: `make test-haproxy`.
#
# HAProxy as the OpenStack HA guides set it up for Galera: one active server, the others backup
# (writes go to one node, no certification conflicts), check every second, two checks to fall or
# rise, sessions on a server marked down are cut (on-marked-down shutdown-sessions).
set -u
PROVIDER=${1:?usage: haproxy.sh PROVIDER_SO TRIREME_STATUS}
TS=${2:?usage: haproxy.sh PROVIDER_SO TRIREME_STATUS [LB_PROBE]}
PROBE=${3:-$(dirname "$TS")/../tests/lb_probe}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
DEADLINE=${DEADLINE:-560}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
NODES="n1 n2 n3"
INTER_MS=${INTER_MS:-1000} # HAProxy check interval
THREADS=${THREADS:-4}
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

status_is() { # VAR VALUE NODE...
  local var=$1 want=$2 n; shift 2
  for n in "$@"; do [ "$(mdb_status "$n" "$var")" = "$want" ] || return 1; done
}
formed() {
  status_is wsrep_cluster_size 3 $NODES && status_is wsrep_local_state_comment Synced $NODES
}
now() { date +%s.%N; }
event() { echo "$(now) $*" >>"$MDB_ROOT/events"; echo "event: $*"; }
bg() { "$@" & MDB_CHILD_PIDS="$MDB_CHILD_PIDS $!"; }

echo "haproxy: provider $PROVIDER, check $TS"
command -v haproxy >/dev/null || abort "haproxy is not installed (cmake/install-deps.sh --with-haproxy)"
[ -x "$TS" ] || abort "$TS not built"
[ -x "$PROBE" ] || abort "$PROBE not built"
mdb_init || abort "test environment"

mdb_node_create n1 "$PROVIDER" gcomm:// || abort "create n1"
JOIN=gcomm://127.0.0.1:$(mdb_get n1 gcomm_port)
for n in n2 n3; do mdb_node_create "$n" "$PROVIDER" "$JOIN" || abort "create $n"; done
for n in $NODES; do
  mdb_start "$n"
  mdb_wait_ready "$n" 120 || abort "$n: wsrep_ready=ON"
done
wait_for 60 formed || abort "cluster not formed"
mdb_sql n1 "CREATE USER 'sb'@'127.0.0.1' IDENTIFIED BY 'sbpw'; GRANT ALL ON *.* TO 'sb'@'127.0.0.1';
  CREATE USER 'check'@'localhost' IDENTIFIED BY 'checkpw'; CREATE DATABASE sbtest" || abort "users"
pass "3 nodes Synced; users created"

# The health checks, one per node, on the node's own socket as clustercheck would run locally.
HP=$(mdb_pick_ports) || abort "ports"
declare -A HPORT
i=0
for n in $NODES; do
  HPORT[$n]=$((HP + i)); i=$((i + 1))
  bg "$TS" --no-defaults -S "$(mdb_dir "$n")/mysqld.sock" -u check -pcheckpw \
    --serve-check "127.0.0.1:${HPORT[$n]}" >"$MDB_ROOT/check-$n.log" 2>&1
done
LB=$((HP + 3))
cat >"$MDB_ROOT/haproxy.cfg" <<EOF
global
  maxconn 512
  stats socket $MDB_ROOT/haproxy.sock mode 600 level admin
defaults
  mode tcp
  timeout connect 2s
  timeout client 120s
  timeout server 120s
listen mariadb
  bind 127.0.0.1:$LB
  option httpchk
  default-server inter ${INTER_MS} fastinter ${INTER_MS} downinter ${INTER_MS} rise 2 fall 2 on-marked-down shutdown-sessions
  server n1 127.0.0.1:$(mdb_get n1 port) check port ${HPORT[n1]}
  server n2 127.0.0.1:$(mdb_get n2 port) check port ${HPORT[n2]} backup
  server n3 127.0.0.1:$(mdb_get n3 port) check port ${HPORT[n3]} backup
EOF
haproxy -c -f "$MDB_ROOT/haproxy.cfg" >/dev/null || abort "haproxy -c: $(haproxy -c -f "$MDB_ROOT/haproxy.cfg" 2>&1)"
bg haproxy -db -f "$MDB_ROOT/haproxy.cfg" >"$MDB_ROOT/haproxy.log" 2>&1
hastat() { echo "show stat" | socat -t 2 - "UNIX-CONNECT:$MDB_ROOT/haproxy.sock" 2>/dev/null; }
# server status (UP, DOWN, "UP 1/2", ...) by name, as HAProxy sees it
srv() { hastat | awk -F, -v s="$1" '$1 == "mariadb" && $2 == s { print $18 }'; }
all_up() { [ "$(srv n1)" = UP ] && [ "$(srv n2)" = UP ] && [ "$(srv n3)" = UP ]; }
wait_for 30 all_up || abort "HAProxy does not see the three servers UP: $(hastat | cut -d, -f1,2,18)"
pass "HAProxy on 127.0.0.1:$LB sees n1 n2 n3 UP through --serve-check"
# Server state changes with their times.
poll_states() {
  local last="" cur
  while :; do
    cur=$(hastat | awk -F, '$1 == "mariadb" && $2 ~ /^n[0-9]$/ { printf "%s=%s ", $2, $18 }')
    [ -n "$cur" ] && [ "$cur" != "$last" ] && echo "$(now) $cur" >>"$MDB_ROOT/states"
    last=$cur
    sleep 0.1
  done
}
bg poll_states

mdb_sql n1 "CREATE DATABASE probe; CREATE TABLE probe.t (id INT PRIMARY KEY, n BIGINT NOT NULL) ENGINE=InnoDB;
  INSERT INTO probe.t SELECT seq, 0 FROM probe.seq_1_to_$THREADS" || abort "probe table"
# The clients: lb_probe (sysbench 1.0.20 crashes when it reconnects after a lost connection).
"$PROBE" 127.0.0.1 "$LB" sb sbpw 900 "$THREADS" >"$MDB_ROOT/probe.log" 2>&1 &
SBPID=$!
MDB_CHILD_PIDS="$MDB_CHILD_PIDS $SBPID"
event start
sleep 8
# ---- the active node killed, then restarted (it rejoins by state transfer) ---------------------
event "kill n1"
mdb_kill n1
sleep 15
event "restart n1"
# n1 bootstrapped the cluster (gcomm://); back, it joins the others
mdb_set_address n1 "gcomm://127.0.0.1:$(mdb_get n2 gcomm_port),127.0.0.1:$(mdb_get n3 gcomm_port)"
mdb_start n1
if mdb_wait_ready n1 180 && wait_for 120 formed; then
  event "n1 synced"
else
  fail "n1 not back and Synced within the limits"
fi
wait_for 30 all_up || fail "HAProxy: not all UP again"
event "all up"
sleep 8
# ---- the active node desynced, then resynced ---------------------------------------------------
event "desync n1"
mdb_sql n1 "SET GLOBAL wsrep_desync=ON" || fail "desync n1"
sleep 10
event "resync n1"
mdb_sql n1 "SET GLOBAL wsrep_desync=OFF" || fail "resync n1"
wait_for 30 status_is wsrep_local_state_comment Synced n1 || fail "n1 not Synced after resync"
wait_for 30 all_up || fail "HAProxy: not all UP after the resync"
event "all up"
sleep 8
event end
kill -INT "$SBPID" 2>/dev/null
wait "$SBPID" 2>/dev/null
MDB_CHILD_PIDS=${MDB_CHILD_PIDS/ $SBPID/}

echo "--- HAProxy server states"
cat "$MDB_ROOT/states"
echo "--- events"
cat "$MDB_ROOT/events"
# first time at or after T where the state line has n1=WANT
state_after() { # T WANT
  [ -n "$1" ] || return 0
  awk -v t="$1" -v w="n1=$2 " '$1 >= t && index($0, w) { printf "%.1f", $1 - t; exit }' "$MDB_ROOT/states"
}
ev() { awk -v e="$1" '{ t = $1; $1 = ""; sub(/^ /, "") } $0 == e { print t; exit }' "$MDB_ROOT/events"; }
limit=$(awk -v i="$INTER_MS" 'BEGIN { printf "%.1f", 2 * i / 1000 + 2 }') # fall 2 checks, slack 2 s
within() { # DESC SECONDS LIMIT
  if [ -n "$2" ] && awk -v a="$2" -v b="$3" 'BEGIN { exit !(a <= b) }'; then pass "$1 after $2 s (limit $3 s)"; else fail "$1: '${2:-never}' (limit $3 s)"; fi
}
within "killed n1 taken out of rotation" "$(state_after "$(ev 'kill n1')" DOWN)" "$limit"
within "desynced n1 taken out of rotation" "$(state_after "$(ev 'desync n1')" DOWN)" "$limit"
within "n1 back in rotation once Synced" "$(state_after "$(ev 'n1 synced')" UP)" "$limit"
within "n1 back in rotation once resynced" "$(state_after "$(ev 'resync n1')" UP)" "$((${limit%.*} + 3))"

echo "--- clients through HAProxy"
cat "$MDB_ROOT/probe.log"
res=$(grep '^RESULT' "$MDB_ROOT/probe.log")
val() { printf '%s\n' "$res" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
commits=$(val commits) gap=$(val longest_gap_ms) start=$(val start_epoch)
gap_at=$(awk -v s="$start" -v g="$(val gap_from_s)" 'BEGIN { printf "%.3f", s + g }')
near=$(awk -v t="$gap_at" '{ d = t - $1; if (d >= -1 && (best == "" || d < bd)) { bd = d; best = $0 } } END { sub(/^[0-9.]+ /, "", best); print best }' "$MDB_ROOT/events")
echo "RESULT provider=$(basename "$PROVIDER") seconds=$(val seconds) commits=$commits errors=$(val errors) longest_gap_ms=$gap (it began $(awk -v a="$gap_at" -v e="$(ev "$near")" 'BEGIN { printf "%.1f", a - e }') s after '$near') $(grep '^errors_by_code' "$MDB_ROOT/probe.log")"
[ "${commits:-0}" -gt 0 ] && pass "clients through HAProxy: $commits commits" || fail "no commit through HAProxy"
# The longest stretch without a commit: the kill (detection, fail-over), the donor's transfer.
if [ -n "$gap" ] && [ "${gap%.*}" -le "${MAX_GAP_MS:-20000}" ]; then pass "longest gap without a commit: $gap ms"; else fail "longest gap without a commit: ${gap:-?} ms (limit ${MAX_GAP_MS:-20000})"; fi
tail_c=$(sed -n 's/^per_second (commits\/errors)://p' "$MDB_ROOT/probe.log" | tr ' ' '\n' | grep . | tail -n 6 | head -n 5 | cut -d/ -f1 | paste -sd+ | bc)
[ "${tail_c:-0}" -gt 0 ] && pass "commits in the last seconds ($tail_c)" || fail "no commit in the last seconds"
finish
