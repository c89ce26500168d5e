#!/usr/bin/env bash
# tests/mariadb/cluster_restart.sh: a whole-cluster power loss under writes, and the way back.
# Usage: cluster_restart.sh PROVIDER_SO. The last line is "N passed, M failed".
#
# Three MariaDB nodes; a writer on each inserts rows and records each one the server
# acknowledged. n3 is SIGKILLed, n1 and n2 go on writing, then both are SIGKILLed at the same
# moment (a power loss of what was left), their positions recovered as
# systemd's galera_recovery does (mariadbd --wsrep-recover), and all three started again with
# their usual wsrep_cluster_address: they must form a primary component by themselves
# (pc.recovery, no bootstrap), every acknowledged row must be on every node, the checksums
# equal, and a node that was behind must catch up by IST, not by a full copy (issue 17 §3).
set -u
PROVIDER=${1:?usage: cluster_restart.sh PROVIDER_SO}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
DEADLINE=${DEADLINE:-420}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
NODES="n1 n2 n3"
WRITE_SECONDS=${WRITE_SECONDS:-8}
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

status_is() { # VAR VALUE NODE...
  local var=$1 want=$2 n; shift 2
  for n in "$@"; do [ "$(mdb_status "$n" "$var" 2>/dev/null)" = "$want" ] || return 1; done
}
per_node() { # VAR: "n1=v1 n2=v2 n3=v3"
  local n out=""
  for n in $NODES; do out="$out $n=$(mdb_status "$n" "$1" 2>/dev/null)"; done
  echo "${out# }"
}
formed() { # shellcheck disable=SC2086
  status_is wsrep_cluster_size 3 $NODES && status_is wsrep_cluster_status Primary $NODES &&
    status_is wsrep_local_state_comment Synced $NODES
}
# writer NODE K: inserts ids K*1000000+1.. until stopped; each id the server acknowledged is
# appended to acked.K (a commit that returned OK must survive anything that follows).
writer() {
  local node=$1 k=$2 i=0 id
  while :; do
    i=$((i + 1)); id=$((k * 1000000 + i))
    if mdb_sql "$node" "INSERT INTO d.t VALUES ($id, '$node')" >/dev/null 2>&1; then
      echo "$id" >>"$MDB_ROOT/acked.$k"
    fi
  done
}

echo "cluster_restart: provider $PROVIDER"
[ -r "$PROVIDER" ] || abort "provider library $PROVIDER not found (build it first)"
mdb_init || abort "test environment (mariadb client, mariadb-install-db)"
# shellcheck disable=SC2086
mdb_cluster "$PROVIDER" $NODES || abort "3 nodes created, started and ready"
wait_for 60 formed || abort "cluster of 3 not formed within 60 s: $(per_node wsrep_local_state_comment)"
pass "3 nodes Synced in a primary component"
all="gcomm://127.0.0.1:$(mdb_get n1 gcomm_port),127.0.0.1:$(mdb_get n2 gcomm_port),127.0.0.1:$(mdb_get n3 gcomm_port)"
for n in $NODES; do mdb_set_address "$n" "$all"; done
mdb_sql n1 "CREATE DATABASE d; CREATE TABLE d.t (id BIGINT PRIMARY KEY, node VARCHAR(8)) ENGINE=InnoDB" ||
  abort "n1: CREATE TABLE d.t"

echo "--- 1. writers on every node; n3 SIGKILLed; n1 and n2 SIGKILLed at once $WRITE_SECONDS s later"
wpids=""
k=0
for n in $NODES; do
  k=$((k + 1)); : >"$MDB_ROOT/acked.$k"
  writer "$n" "$k" &
  wpids="$wpids $!"
done
MDB_CHILD_PIDS="$MDB_CHILD_PIDS $wpids"
sleep "$WRITE_SECONDS"
# n3 first, so that it is behind when the power goes: n1 and n2 go on without it
mdb_kill n3
sleep "$WRITE_SECONDS"
pids=""
for n in n1 n2; do pids="$pids $(mdb_pid "$n")"; done
# shellcheck disable=SC2086
kill -KILL $pids 2>/dev/null
# shellcheck disable=SC2086
kill -TERM $wpids 2>/dev/null
for p in $wpids; do wait "$p" 2>/dev/null; done
for n in $NODES; do mdb_kill "$n"; done
acked=$(cat "$MDB_ROOT"/acked.* | wc -l)
[ "$acked" -gt 0 ] || abort "no write was acknowledged before the power loss"
pass "$acked rows acknowledged before the power loss"
expect "safe_to_bootstrap after the power loss" \
  "$(for n in $NODES; do mdb_grastate "$n" safe_to_bootstrap; done | tr '\n' ' ')" "0 0 0 "

echo "--- 2. positions recovered, all three started with their usual address"
for n in $NODES; do
  pos=$(mdb_recover "$n") || abort "$n: --wsrep-recover"
  echo "$n recovered $pos"
  eval "pos_$n=\$pos"
done
for n in $NODES; do
  eval "lines_$n=\$(wc -l <\"\$(mdb_dir $n)/error.log\")"
  eval "mdb_start $n --wsrep-start-position=\$pos_$n"
done
for n in $NODES; do mdb_wait_ready "$n" 180 || abort "$n not ready after the restart"; done
if wait_for 60 formed; then pass "a primary component of 3 without a bootstrap (pc.recovery)"; else
  abort "after the restart: $(per_node wsrep_cluster_status) $(per_node wsrep_local_state_comment)"
fi

echo "--- 3. nothing acknowledged lost, the same data everywhere"
sort -n "$MDB_ROOT"/acked.* >"$MDB_ROOT/acked.all"
for n in $NODES; do
  mdb_sql "$n" "SET SESSION wsrep_sync_wait=15; SELECT id FROM d.t ORDER BY id" >"$MDB_ROOT/have.$n" 2>&1
  missing=$(comm -23 "$MDB_ROOT/acked.all" <(sort -n "$MDB_ROOT/have.$n") | wc -l)
  expect "$n: acknowledged rows missing" "$missing" 0
done
sums=$(for n in $NODES; do mdb_sql "$n" "SET SESSION wsrep_sync_wait=15; CHECKSUM TABLE d.t" 2>&1 | cut -f2; done | sort -u)
if [ "$(echo "$sums" | wc -l)" = 1 ] && [ -n "$sums" ]; then
  pass "CHECKSUM TABLE d.t equal on all three ($sums)"
else
  fail "CHECKSUM TABLE d.t differs: $(echo "$sums" | tr '\n' ' ')"
fi
# no full copy after the power loss: a node that was behind catches up by IST (a donor's SST
# script then runs with --bypass)
best=0
for n in $NODES; do eval "q=\${pos_$n##*:}"; [ "$q" -gt "$best" ] && best=$q; done
for n in $NODES; do
  eval "q=\${pos_$n##*:}; from=\$lines_$n"
  after=$(tail -n "+$((from + 1))" "$(mdb_dir "$n")/error.log")
  if echo "$after" | grep -q "Running: 'wsrep_sst_rsync --role 'donor'" &&
     ! echo "$after" | grep "Running: 'wsrep_sst_rsync --role 'donor'" | grep -q -- "--bypass"; then
    fail "$n donated a full SST after the power loss"
  fi
  if [ "$q" -lt "$best" ]; then
    if echo "$after" | grep -q "Receiving IST"; then
      pass "$n, behind at $q of $best, caught up by IST"
    else
      fail "$n, behind at $q of $best, did not catch up by IST"
    fi
  fi
done
for n in n3 n2 n1; do
  if mdb_stop "$n" 120; then pass "$n: clean shutdown"; else fail "$n: clean shutdown within 120 s"; fi
done
finish
