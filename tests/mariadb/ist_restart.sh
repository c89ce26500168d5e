#!/usr/bin/env bash
# tests/mariadb/ist_restart.sh: a restarted MariaDB node rejoins by IST, its rsync SST bypassed.
# Usage: ist_restart.sh PROVIDER_SO. Prints each check as it runs; the last line is "N passed, M failed".
#
# Three nodes with wsrep_sst_method=rsync. Node 3 is stopped (cleanly, then once with SIGKILL,
# after which its position comes from mariadbd --wsrep-recover as mysqld_safe and systemd do),
# the others write rows it misses, and it is started again: MariaDB prepares its rsync script and
# sends a snapshot request, which carries the node's position too; the donor's write-set store
# holds the gap, so its script runs with --bypass and copies nothing ("rsync IST completed on
# joiner"), and the gap comes by IST ("Receiving IST: N write-sets"). Checksums equal everywhere.
# Four appliers: the gap's write-sets apply in parallel where they do not touch the same rows,
# and each UPDATE of a row inserted in the gap must wait for its INSERT (replication.md §6).
set -u
PROVIDER=${1:?usage: ist_restart.sh PROVIDER_SO}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
DEADLINE=${DEADLINE:-500}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
export MDB_EXTRA_CNF="wsrep_slave_threads=4"
NODES="n1 n2 n3"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

sw() { mdb_sql "$1" "SET SESSION wsrep_sync_wait=15; $2"; }
synced3() {
  local n
  for n in $NODES; do
    [ "$(mdb_status "$n" wsrep_cluster_size)" = 3 ] &&
      [ "$(mdb_status "$n" wsrep_local_state_comment)" = Synced ] || return 1
  done
}
two_left() { [ "$(mdb_status n1 wsrep_cluster_size)" = 2 ]; }
lines() { wc -l <"$(mdb_dir "$1")/error.log"; }
since() { tail -n "+$(($2 + 1))" "$(mdb_dir "$1")/error.log"; } # NAME LINE: the log after LINE

in_log() {
  if grep -q "$2" <<<"$1"; then
    pass "n3: $(grep -o "$3" <<<"$1" | head -n 1)"
  else
    fail "$4: $(grep -o "$3" <<<"$1" | head -n 1)"
  fi
}

# rejoin HOW: n3 stops (HOW: stop or kill), n1 and n2 write rows it misses, n3 starts again and
# must come back by IST with its rsync snapshot bypassed.
ROWS=100
rejoin() {
  local how=$1 l1 l2 l3 t0 log donors k sums n
  echo "--- n3: $how, then rows it misses, then a restart"
  if [ "$how" = stop ]; then
    if mdb_stop n3 120; then pass "n3: clean shutdown"; else fail "n3: clean shutdown within 120 s"; fi
  else
    mdb_kill n3
    pass "n3: SIGKILL"
  fi
  echo "n3 grastate.dat: seqno $(mdb_grastate n3 seqno)"
  wait_for 30 two_left || fail "n1 and n2 did not see n3 leave within 30 s"
  for k in $(seq 1 50); do # each UPDATE is the next seqno after its row's INSERT, from the other node
    n=n$((k % 2 + 1))
    mdb_sql "$n" "INSERT INTO ist.t VALUES ($((ROWS + k)), '$how-$n', REPEAT('x', 200))" ||
      fail "$n: INSERT while n3 is away"
    n=n$(((k + 1) % 2 + 1))
    mdb_sql "$n" "UPDATE ist.t SET v = CONCAT(v, '-u$k') WHERE id = $((ROWS + k))" ||
      fail "$n: UPDATE of a row n3 misses"
  done
  ROWS=$((ROWS + 50))
  mdb_sql n2 "UPDATE ist.t SET v = CONCAT(v, '-$how') WHERE id <= 20" || fail "n2: UPDATE while n3 is away"
  l1=$(lines n1) l2=$(lines n2) l3=$(lines n3)
  local start=()
  if [ "$how" = kill ]; then
    # grastate.dat says seqno -1 after a crash, and an rsync joiner starts its engines only after
    # the transfer: the position comes from a recovery run first, as mysqld_safe and systemd's
    # galera_recovery do (mariadbd --wsrep-recover, then --wsrep-start-position)
    local d pos
    d=$(mdb_dir n3)
    "$MDB_SERVER" --defaults-file="$d/my.cnf" --wsrep-recover --log-error="$d/recover.log" >/dev/null 2>&1
    pos=$(sed -n 's/.*WSREP: Recovered position: *\([0-9a-f-]*:[0-9-]*\).*/\1/p' "$d/recover.log" | tail -n 1)
    if [ -n "$pos" ]; then
      pass "n3: --wsrep-recover gives $pos"
      start=(--wsrep-start-position="$pos")
    else
      fail "n3: --wsrep-recover gave no position: $(tail -n 3 "$d/recover.log")"
    fi
  fi
  t0=$SECONDS
  mdb_start n3 "${start[@]}"
  if mdb_wait_ready n3 150; then
    pass "n3: wsrep_ready=ON $((SECONDS - t0)) s after its restart"
  else
    abort "n3: wsrep_ready=ON within 150 s of its restart"
  fi
  wait_for 60 synced3 || fail "all three Synced within 60 s"
  log=$(since n3 "$l3")
  # in_log TEXT PATTERN SHOWN WHAT: pass naming the match of SHOWN, or fail saying WHAT
  in_log "$log" 'requested state transfer (SST with IST)' 'requested state transfer ([^)]*)' \
    "n3's request carried no IST part"
  in_log "$log" 'the donor bypassed the snapshot' 'State transfer received: [^,]*, this node.s own state' \
    "n3: sst_received was not at its own position (the snapshot was not bypassed)"
  in_log "$log" 'rsync IST completed on joiner' 'rsync [A-Z]* completed on joiner' \
    "n3's rsync script did not run as IST (it copied data)"
  in_log "$log" 'Receiving IST: [0-9]* write-sets' 'Receiving IST: [0-9]* write-sets, seqnos [0-9-]*' \
    "n3: no 'Receiving IST' line"
  donors=$( (since n1 "$l1"; since n2 "$l2") | grep -c "Bypassing state dump")
  if [ "$donors" = 1 ]; then
    pass "one donor ran its rsync script with --bypass (Bypassing state dump)"
  else
    fail "donor scripts that bypassed: $donors, want 1"
  fi
  expect "rows on n3 after $how" "$(sw n3 "SELECT COUNT(*) FROM ist.t" 2>&1)" "$ROWS"
  sums=$(for n in $NODES; do sw "$n" "CHECKSUM TABLE ist.t" 2>&1 | cut -f2 | tr '\n' ' '; done)
  # shellcheck disable=SC2086
  set -- $sums
  if [ $# = 3 ] && [ "$1" = "$2" ] && [ "$2" = "$3" ]; then
    pass "CHECKSUM TABLE ist.t identical on all three ($1)"
  else
    fail "CHECKSUM TABLE ist.t differs: n1 n2 n3 = $sums"
  fi
  if mdb_sql n3 "INSERT INTO ist.t VALUES ($((ROWS + 1)), 'n3-$how', 'after')" &&
     [ "$(sw n1 "SELECT v FROM ist.t WHERE id = $((ROWS + 1))")" = "n3-$how" ]; then
    pass "n3 takes writes after its IST; n1 reads them"
  else
    fail "n3: a write after its IST"
  fi
  ROWS=$((ROWS + 1))
}

echo "ist_restart: provider $PROVIDER"
[ -r "$PROVIDER" ] || abort "provider library $PROVIDER not found (build it first)"
mdb_init || abort "test environment (mariadb client, mariadb-install-db)"
mdb_cluster "$PROVIDER" n1 n2 n3 || abort "a cluster of three (rsync joins)"
pass "three nodes up, n2 and n3 joined by rsync SST"
wait_for 60 synced3 || abort "all three Synced within 60 s"
mdb_sql n1 "CREATE DATABASE ist; CREATE TABLE ist.t (id INT PRIMARY KEY, v VARCHAR(64), pad TEXT) ENGINE=InnoDB;
  INSERT INTO ist.t SELECT seq, CONCAT('row', seq), REPEAT('y', 100) FROM ist.seq_1_to_$ROWS" ||
  abort "n1: table and rows"
expect "n3 has the rows" "$(sw n3 "SELECT COUNT(*) FROM ist.t" 2>&1)" "$ROWS"

rejoin stop
rejoin kill
finish
