#!/usr/bin/env bash
# tests/mariadb/arbitrator.sh: two MariaDB nodes and trireme-arbd, as the OpenStack HA guides run them.
# Usage: arbitrator.sh PROVIDER_SO TRIREME_ARBD. The last line is "N passed, M failed".
#
# n1, n2 (MariaDB on trireme) and the arbitrator a: killing a is nothing to the data nodes;
# killing n2 leaves n1 Primary and writable (its vote and a's are 2 of 3); killing a then as well
# leaves n1 alone, non-Primary (the arbitrator's vote was what kept it primary). n2 and a come
# back; then all three are killed at once and started again with their usual addresses: they
# form a primary component by themselves (pc.recovery) with every acknowledged row.
set -u
PROVIDER=${1:?usage: arbitrator.sh PROVIDER_SO TRIREME_ARBD}
ARBD=${2:?usage: arbitrator.sh PROVIDER_SO TRIREME_ARBD}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
# Every wait is bounded; the whole test gives up at DEADLINE s, inside ctest's TIMEOUT (600 s).
DEADLINE=${DEADLINE:-420}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

status_is() { # VAR VALUE NODE...: the status variable is VALUE on every NODE given
  local var=$1 want=$2 n; shift 2
  for n in "$@"; do [ "$(mdb_status "$n" "$var" 2>/dev/null)" = "$want" ] || return 1; done
}
per_node() { # VAR NODE...: "n1=v1 n2=v2"
  local var=$1 n out=""; shift
  for n in "$@"; do out="$out $n=$(mdb_status "$n" "$var" 2>/dev/null)"; done
  echo "${out# }"
}
primary_of() { # SIZE NODE...: every NODE Primary in a component of SIZE members, Synced
  local size=$1; shift
  status_is wsrep_cluster_size "$size" "$@" && status_is wsrep_cluster_status Primary "$@" &&
    status_is wsrep_local_state_comment Synced "$@"
}
ROWS=0
write_row() { # NODE: one acknowledged row more (the bank of rows every node must end with)
  local id=$((ROWS + 1))
  if mdb_sql "$1" "INSERT INTO d.t VALUES ($id, '$1')" >/dev/null; then
    ROWS=$id
    return 0
  fi
  return 1
}
rows_on() { mdb_sql "$1" "SET SESSION wsrep_sync_wait=15; SELECT COUNT(*) FROM d.t" 2>&1; }

ARB_PID=""
arb_start() { # the arbitrator, in the background, with its log and gvwstate.dat in MDB_ROOT/a
  mkdir -p "$MDB_ROOT/a"
  "$ARBD" --address "gcomm://127.0.0.1:$(mdb_get n1 gcomm_port),127.0.0.1:$(mdb_get n2 gcomm_port)" \
    --group trireme_test --name a --workdir "$MDB_ROOT/a" --log "$MDB_ROOT/a/arbd.log" \
    --options "gmcast.listen_addr=tcp://127.0.0.1:$ARB_PORT" </dev/null >>"$MDB_ROOT/a/stdout.log" 2>&1 &
  ARB_PID=$!
  MDB_STARTED_PIDS="$MDB_STARTED_PIDS $ARB_PID"
}
arb_kill() {
  mdb_alive "$ARB_PID" && kill -KILL "$ARB_PID" 2>/dev/null
  wait "$ARB_PID" 2>/dev/null
}
arb_tail() { echo "----- a: last 30 lines of arbd.log -----"; tail -n 30 "$MDB_ROOT/a/arbd.log" 2>/dev/null; }

echo "arbitrator: provider $PROVIDER, arbitrator $ARBD"
[ -r "$PROVIDER" ] || abort "provider library $PROVIDER not found (build it first)"
[ -x "$ARBD" ] || abort "arbitrator $ARBD not found (build it first)"
mdb_init || abort "test environment (mariadb client, mariadb-install-db)"

mdb_cluster "$PROVIDER" n1 n2 || abort "2 nodes created, started and ready"
ARB_PORT=$(mdb_pick_ports) || abort "a free port for the arbitrator"
arb_start
if wait_for 60 primary_of 3 n1 n2; then
  pass "n1, n2 and the arbitrator form a primary component of 3"
else
  arb_tail
  abort "no component of 3 within 60 s: size $(per_node wsrep_cluster_size n1 n2), status" \
    "$(per_node wsrep_cluster_status n1 n2), state $(per_node wsrep_local_state_comment n1 n2)"
fi
mdb_sql n1 "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, node VARCHAR(8)) ENGINE=InnoDB" ||
  abort "n1: CREATE TABLE d.t"
write_row n1 && write_row n2 || fail "writes on n1 and n2"
expect "the arbitrator adds its weight" "$(per_node wsrep_cluster_weight n1 n2)" "n1=3 n2=3"

echo "--- 1. the arbitrator killed: nothing changes for the data nodes"
arb_kill
if wait_for 30 primary_of 2 n1 n2; then pass "n1 and n2 stay Primary, 2 members"; else
  fail "after the arbitrator's kill: $(per_node wsrep_cluster_status n1 n2) $(per_node wsrep_cluster_size n1 n2)"
fi
write_row n1 && write_row n2 && pass "both still writable" || fail "writes after the arbitrator's kill"
arb_start
if wait_for 60 primary_of 3 n1 n2; then pass "the arbitrator back: 3 members"; else
  arb_tail; fail "the arbitrator did not rejoin within 60 s: $(per_node wsrep_cluster_size n1 n2)"
fi

echo "--- 2. n2 killed: n1 and the arbitrator are 2 votes of 3"
mdb_kill n2
if wait_for 30 primary_of 2 n1; then pass "n1 Primary with the arbitrator"; else
  fail "n1 after n2's kill: $(per_node wsrep_cluster_status n1) $(per_node wsrep_cluster_size n1)"
fi
write_row n1 && pass "n1 writable" || fail "n1: a write after n2's kill"

echo "--- 3. the arbitrator killed too: n1 alone is 1 vote of 2, not primary"
arb_kill
if wait_for 30 status_is wsrep_cluster_status non-Primary n1; then
  pass "n1 non-Primary without the arbitrator's vote"
else
  fail "n1 after the arbitrator's kill: $(per_node wsrep_cluster_status n1)"
fi
if mdb_sql n1 "INSERT INTO d.t VALUES (100000, 'np')" >/dev/null 2>&1; then
  fail "n1 accepted a write while non-Primary"
else
  pass "n1 refuses writes while non-Primary"
fi
arb_start
if wait_for 30 primary_of 2 n1; then pass "the arbitrator back: n1 Primary again"; else
  arb_tail; fail "n1 after the arbitrator's return: $(per_node wsrep_cluster_status n1)"
fi
write_row n1 || fail "n1: a write after the arbitrator's return"
mdb_start n2
if mdb_wait_ready n2 120 && wait_for 60 primary_of 3 n1 n2; then pass "n2 rejoins: 3 members"; else
  abort "n2 did not rejoin: $(per_node wsrep_local_state_comment n2)"
fi
expect "n2 has every row" "$(rows_on n2)" "$ROWS"

echo "--- 4. all three killed at once, started again with their usual addresses"
all="gcomm://127.0.0.1:$(mdb_get n1 gcomm_port),127.0.0.1:$(mdb_get n2 gcomm_port),127.0.0.1:$ARB_PORT"
mdb_set_address n1 "$all"
mdb_set_address n2 "$all"
write_row n2 || fail "n2: a write before the power loss"
p1=$(mdb_pid n1); p2=$(mdb_pid n2)
kill -KILL "$p1" "$p2" "$ARB_PID" 2>/dev/null
mdb_kill n1; mdb_kill n2; arb_kill
expect "grastate.dat safe_to_bootstrap after the power loss" \
  "$(mdb_grastate n1 safe_to_bootstrap) $(mdb_grastate n2 safe_to_bootstrap)" "0 0"
# as systemd's galera_recovery does: the position from InnoDB, given at start
pos1=$(mdb_recover n1) || fail "n1: --wsrep-recover"
pos2=$(mdb_recover n2) || fail "n2: --wsrep-recover"
echo "recovered positions: n1 $pos1, n2 $pos2"
mdb_start n1 --wsrep-start-position="$pos1"; mdb_start n2 --wsrep-start-position="$pos2"; arb_start
if mdb_wait_ready n1 120 && mdb_wait_ready n2 120 && wait_for 60 primary_of 3 n1 n2; then
  pass "a primary component of 3 without a bootstrap (pc.recovery)"
else
  arb_tail
  abort "no primary after the restart: $(per_node wsrep_cluster_status n1 n2) $(per_node wsrep_cluster_size n1 n2)"
fi
expect "n1 has every acknowledged row" "$(rows_on n1)" "$ROWS"
expect "n2 has every acknowledged row" "$(rows_on n2)" "$ROWS"
write_row n1 && write_row n2 && pass "both writable after the restart" || fail "writes after the restart"
sums=$(for n in n1 n2; do mdb_sql "$n" "SET SESSION wsrep_sync_wait=15; CHECKSUM TABLE d.t" 2>&1 | cut -f2; done | sort -u)
if [ "$(echo "$sums" | wc -l)" = 1 ] && [ -n "$sums" ]; then
  pass "CHECKSUM TABLE d.t equal on n1 and n2 ($sums)"
else
  fail "CHECKSUM TABLE d.t differs: $(echo "$sums" | tr '\n' ' ')"
fi

echo "--- 5. stop"
arb_kill
if mdb_stop n2 120; then pass "n2: clean shutdown"; else fail "n2: clean shutdown within 120 s"; fi
if mdb_stop n1 120; then pass "n1: clean shutdown"; else fail "n1: clean shutdown within 120 s"; fi
[ "$FAILED" -gt 0 ] && arb_tail
finish
