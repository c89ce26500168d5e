#!/usr/bin/env bash
# tests/mariadb/desync_view_change.sh: a desynced node keeps Donor/Desynced across a view change.
# Usage: desync_view_change.sh PROVIDER_SO. Runs on trireme and on Galera 4 alike; the last line
# is "N passed, M failed".
#
# Three nodes; SET GLOBAL wsrep_desync=ON on n1; n3 is killed (SIGKILL, by its PID). After the
# view change n1 must still be Donor/Desynced (issue 16: trireme made it Joined, for good), writes
# must replicate both ways meanwhile, and wsrep_desync=OFF must make it Synced again.
set -u
PROVIDER=${1:?usage: desync_view_change.sh PROVIDER_SO}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
# Every wait is bounded; the whole test gives up at DEADLINE s, well inside ctest's TIMEOUT
# (600 s), so its EXIT trap still gets to stop the servers it started.
DEADLINE=${DEADLINE:-360}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
NODES="n1 n2 n3"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

status_is() { # VAR VALUE NODE...: the status variable is VALUE on every NODE given
  local var=$1 want=$2 n; shift 2
  for n in "$@"; do [ "$(mdb_status "$n" "$var")" = "$want" ] || return 1; done
}
formed() { # all three Synced in one primary component
  status_is wsrep_cluster_size 3 $NODES && status_is wsrep_local_state_comment Synced $NODES &&
    status_is wsrep_cluster_status Primary $NODES
}
per_node() { # VAR: "n1=v1 n2=v2 ..."
  local n out=""
  for n in $NODES; do out="$out $n=$(mdb_status "$n" "$1")"; done
  echo "${out# }"
}
# sw NODE SQL: SQL after a causality wait (the read sees every write committed anywhere before).
sw() { mdb_sql "$1" "SET SESSION wsrep_sync_wait=15; $2"; }
# replicates FROM TO ID: a row inserted on FROM is read on TO.
replicates() {
  local out
  if out=$(mdb_sql "$1" "INSERT INTO d.t VALUES ($3, '$1')" 2>&1); then
    expect "a row written on $1 is read on $2" "$(sw "$2" "SELECT node FROM d.t WHERE id = $3" 2>&1)" "$1"
  else
    fail "$1: INSERT: $out"
  fi
}
# stays NODE VAR VALUE SECONDS: VAR reads VALUE at every sample, twice a second, for SECONDS.
stays() {
  local i v
  for i in $(seq 1 $(($4 * 2))); do
    v=$(mdb_status "$1" "$2")
    [ "$v" = "$3" ] || { echo "$v (sample $i)"; return 1; }
    sleep 0.5
  done
  echo "$3"
}

echo "desync_view_change: provider $PROVIDER"
[ -r "$PROVIDER" ] || abort "provider library $PROVIDER not found (build it first)"
mdb_init || abort "test environment (mariadb client, mariadb-install-db)"

# shellcheck disable=SC2086
mdb_cluster "$PROVIDER" $NODES || abort "3 nodes created, started and ready"
wait_for 60 formed || abort "cluster of 3 not formed within 60 s: $(per_node wsrep_local_state_comment)"
pass "3 nodes Synced in a primary component"
mdb_sql n1 "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, node VARCHAR(8)) ENGINE=InnoDB" ||
  abort "n1: CREATE TABLE d.t"

echo "--- 1. n1 desynced"
mdb_sql n1 "SET GLOBAL wsrep_desync=ON" || abort "n1: SET GLOBAL wsrep_desync=ON"
if wait_for 10 status_is wsrep_local_state_comment Donor/Desynced n1; then
  pass "n1 Donor/Desynced after wsrep_desync=ON"
else
  fail "n1 not Donor/Desynced within 10 s: $(mdb_status n1 wsrep_local_state_comment)"
fi
expect "n1 wsrep_local_state" "$(mdb_status n1 wsrep_local_state)" 2

echo "--- 2. n3 killed: a view change while n1 is desynced"
pid3=$(mdb_pid n3)
mdb_kill n3
mdb_alive "$pid3" && fail "n3 (pid $pid3) still running after SIGKILL"
NODES="n1 n2"
if wait_for 60 status_is wsrep_cluster_size 2 n1 n2; then
  pass "n1 and n2 form a primary component of 2"
else
  fail "wsrep_cluster_size not 2 within 60 s of the kill: $(per_node wsrep_cluster_size)"
fi
expect "both Primary" "$(per_node wsrep_cluster_status)" "n1=Primary n2=Primary"
expect "n1 stays Donor/Desynced after the view change (3 s of samples)" \
  "$(stays n1 wsrep_local_state_comment Donor/Desynced 3)" Donor/Desynced
expect "n1 wsrep_local_state after the view change" "$(mdb_status n1 wsrep_local_state)" 2
expect "n2 Synced" "$(mdb_status n2 wsrep_local_state_comment)" Synced
replicates n2 n1 1
replicates n1 n2 2
expect "n1 still Donor/Desynced after the writes" "$(mdb_status n1 wsrep_local_state_comment)" Donor/Desynced

echo "--- 3. n1 resynced"
mdb_sql n1 "SET GLOBAL wsrep_desync=OFF" || fail "n1: SET GLOBAL wsrep_desync=OFF"
if wait_for 20 status_is wsrep_local_state_comment Synced n1; then
  pass "n1 Synced after wsrep_desync=OFF"
else
  fail "n1 not Synced within 20 s of wsrep_desync=OFF: $(mdb_status n1 wsrep_local_state_comment)"
fi
expect "n1 wsrep_local_state" "$(mdb_status n1 wsrep_local_state)" 4
expect "n1 wsrep_ready" "$(mdb_status n1 wsrep_ready)" ON
replicates n1 n2 3
replicates n2 n1 4
sums=$(for n in $NODES; do sw "$n" "CHECKSUM TABLE d.t" 2>&1 | cut -f2; done | sort -u)
if [ "$(echo "$sums" | wc -l)" = 1 ] && [ -n "$sums" ]; then
  pass "CHECKSUM TABLE d.t equal on n1 and n2 ($sums)"
else
  fail "CHECKSUM TABLE d.t differs: $(echo "$sums" | tr '\n' ' ')"
fi

echo "--- 4. stop"
if mdb_stop n2 120; then pass "n2: clean shutdown"; else fail "n2: clean shutdown within 120 s"; fi
if mdb_stop n1 120; then pass "n1: clean shutdown"; else fail "n1: clean shutdown within 120 s"; fi
finish
