#!/usr/bin/env bash
# tests/mariadb/one_node.sh: one MariaDB 10.11 node on a wsrep provider (trireme or Galera), end to end.
# Usage: one_node.sh PROVIDER_SO. Prints each check as it runs; the last line is "N passed, M failed".
set -u
PROVIDER=${1:?usage: one_node.sh PROVIDER_SO}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"

SB_SECONDS=${SB_SECONDS:-20}
# Every wait is bounded; the whole test gives up at DEADLINE s, well inside ctest's TIMEOUT
# (600 s), so its EXIT trap still gets to stop the server it started.
DEADLINE=${DEADLINE:-400}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

lc() { mdb_status n1 wsrep_last_committed; }

# step DESC DELTA SQL: SQL succeeds and wsrep_last_committed grows by exactly DELTA.
step() {
  local desc=$1 delta=$2 sql=$3 before after out
  in_time
  before=$(lc)
  if ! out=$(mdb_sql n1 "$sql" 2>&1); then
    fail "$desc: $out"
    return
  fi
  after=$(lc)
  if [ -n "$before" ] && [ -n "$after" ] && [ $((after - before)) -eq "$delta" ]; then
    pass "$desc: wsrep_last_committed $before -> $after"
  else
    fail "$desc: wsrep_last_committed $before -> $after, want +$delta"
  fi
}

echo "one_node: provider $PROVIDER"
[ -r "$PROVIDER" ] || abort "provider library $PROVIDER not found (build it first)"
mdb_init || abort "test environment (mariadb client, mariadb-install-db)"

# ---- bootstrap one node ----------------------------------------------------------------------
mdb_node_create n1 "$PROVIDER" gcomm:// || abort "create datadir and system tables"
echo "node n1: $(mdb_dir n1), mysqld port $(mdb_get n1 port), gcomm port $(mdb_get n1 gcomm_port)"
t0=$SECONDS
mdb_start n1
mdb_wait_ready n1 90 || abort "wsrep_ready=ON within 90 s"
pass "wsrep_ready=ON after $((SECONDS - t0)) s"
expect "wsrep_cluster_size" "$(mdb_status n1 wsrep_cluster_size)" 1
expect "wsrep_local_state_comment" "$(mdb_status n1 wsrep_local_state_comment)" Synced
expect "wsrep_cluster_status" "$(mdb_status n1 wsrep_cluster_status)" Primary
expect "wsrep_connected" "$(mdb_status n1 wsrep_connected)" ON
name=$(mdb_status n1 wsrep_provider_name)
if [ -n "$name" ]; then
  pass "wsrep_provider_name=$name version=$(mdb_status n1 wsrep_provider_version)"
else
  fail "wsrep_provider_name is empty"
fi
uuid=$(mdb_status n1 wsrep_cluster_state_uuid)
if [[ "$uuid" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] &&
   [ "$uuid" != 00000000-0000-0000-0000-000000000000 ]; then
  pass "wsrep_cluster_state_uuid=$uuid"
else
  fail "wsrep_cluster_state_uuid '$uuid' is not a cluster UUID"
fi
# Galera 4 gives the bootstrap view its own seqno (1); a provider may also start at 0. Whichever,
# every later primary view (the restart below) must do the same.
VIEW_SEQNO=$(lc)
case "$VIEW_SEQNO" in
  0|1) pass "fresh cluster starts at wsrep_last_committed=$VIEW_SEQNO" ;;
  *) fail "fresh cluster starts at wsrep_last_committed='$VIEW_SEQNO', want 0 or 1"; VIEW_SEQNO=1 ;;
esac

# ---- DDL and DML: one seqno per commit ---------------------------------------------------------
step "CREATE DATABASE" 1 "CREATE DATABASE trireme_t"
step "CREATE TABLE" 1 "CREATE TABLE trireme_t.t (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB"
step "INSERT one row" 1 "INSERT INTO trireme_t.t VALUES (1, 10)"
step "INSERT three rows" 1 "INSERT INTO trireme_t.t VALUES (2, 20), (3, 30), (4, 40)"
step "UPDATE" 1 "UPDATE trireme_t.t SET v = v + 1 WHERE id <= 2"
step "DELETE" 1 "DELETE FROM trireme_t.t WHERE id = 4"
step "ALTER TABLE ADD COLUMN" 1 "ALTER TABLE trireme_t.t ADD COLUMN note VARCHAR(32) DEFAULT 'x'"
step "CREATE INDEX" 1 "CREATE INDEX iv ON trireme_t.t (v)"
step "multi-statement transaction, one commit" 1 \
  "BEGIN; INSERT INTO trireme_t.t (id, v) VALUES (5, 50); UPDATE trireme_t.t SET note = 'y' WHERE id = 1; COMMIT"
step "ROLLBACK replicates nothing" 0 \
  "BEGIN; INSERT INTO trireme_t.t (id, v) VALUES (6, 60); ROLLBACK"
step "SELECT replicates nothing" 0 "SELECT COUNT(*) FROM trireme_t.t"
expect "table content after DML and ALTER" \
  "$(mdb_sql n1 "SELECT GROUP_CONCAT(CONCAT(id, ':', v, ':', note) ORDER BY id) FROM trireme_t.t")" \
  "1:11:y,2:21:x,3:30:x,5:50:x"

# ---- desync, pause, RSU, brute-force abort ------------------------------------------------------
# FLUSH TABLES WITH READ LOCK desyncs and pauses the provider; wsrep_desync desyncs only.
expect "FTWRL desyncs the node" \
  "$(mdb_sql n1 "FLUSH TABLES WITH READ LOCK; SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'; UNLOCK TABLES" | cut -f2)" \
  "Donor/Desynced"
expect "after UNLOCK TABLES" "$(mdb_status n1 wsrep_local_state_comment)" Synced
step "a desynced node takes writes" 1 \
  "SET GLOBAL wsrep_desync=ON; INSERT INTO trireme_t.t (id, v) VALUES (7, 70); SET GLOBAL wsrep_desync=OFF"
for _ in $(seq 50); do [ "$(mdb_status n1 wsrep_local_state_comment)" = Synced ] && break; sleep 0.1; done
expect "resync returns to Synced" "$(mdb_status n1 wsrep_local_state_comment)" Synced
step "RSU DDL is local: no seqno" 0 \
  "SET SESSION wsrep_OSU_method=RSU; ALTER TABLE trireme_t.t ADD COLUMN r INT; SET SESSION wsrep_OSU_method=TOI"
# A TOI DDL must abort an open transaction that holds a lock on its table (ER_LOCK_DEADLOCK).
bf_before=$(mdb_status n1 wsrep_local_bf_aborts)
mdb_sql n1 "BEGIN; UPDATE trireme_t.t SET v = v + 1 WHERE id = 1; SELECT SLEEP(5); COMMIT" \
  >"$MDB_ROOT/victim.out" 2>&1 &
victim=$!
sleep 1
step "TOI DDL while a transaction holds its table" 1 "ALTER TABLE trireme_t.t ADD COLUMN bf INT"
wait "$victim"
if grep -q "1213" "$MDB_ROOT/victim.out"; then
  pass "the open transaction was BF-aborted with ER_LOCK_DEADLOCK"
else
  fail "the open transaction was not aborted: $(tr '\n' ' ' <"$MDB_ROOT/victim.out")"
fi
expect "wsrep_local_bf_aborts counted it" "$(mdb_status n1 wsrep_local_bf_aborts)" "$((bf_before + 1))"

# ---- sysbench oltp_write_only ------------------------------------------------------------------
# Any error aborts sysbench except 1213: plain InnoDB on one server deadlocks now and then under
# this load too, and sysbench retries those. That they are InnoDB's and not the provider's is
# checked by wsrep_local_cert_failures and wsrep_local_bf_aborts staying 0.
SOCK="$(mdb_dir n1)/mysqld.sock"
SB=(timeout -k 5 $((SB_SECONDS + 90)) sysbench oltp_write_only --db-driver=mysql --mysql-socket="$SOCK" --mysql-user=root
    --mysql-db=sbtest --tables=2 --table-size=1000 --threads=4 --mysql-ignore-errors=1213)
if ! command -v sysbench >/dev/null; then
  fail "sysbench is not installed"
else
  mdb_sql n1 "CREATE DATABASE sbtest"
  if mdb_bg "${SB[@]}" --threads=2 prepare >"$MDB_ROOT/sb-prepare.log" 2>&1; then
    pass "sysbench prepare 2 tables x 1000 rows"
  else
    fail "sysbench prepare: $(tail -n 3 "$MDB_ROOT/sb-prepare.log" | tr '\n' ' ')"
  fi
  before=$(lc)
  sb_bf_before=$(mdb_status n1 wsrep_local_bf_aborts)
  mdb_bg "${SB[@]}" --time="$SB_SECONDS" --report-interval=0 run >"$MDB_ROOT/sb-run.log" 2>&1
  rc=$?
  after=$(lc)
  trx=$(awk '/transactions:/ { print $2; exit }' "$MDB_ROOT/sb-run.log")
  tps=$(awk '/transactions:/ { gsub(/\(/, "", $3); print $3; exit }' "$MDB_ROOT/sb-run.log")
  dl=$(awk '/ignored errors:/ { print $3; exit }' "$MDB_ROOT/sb-run.log")
  if [ "$rc" -eq 0 ] && [ "${trx:-0}" -gt 0 ] && [ -n "$dl" ]; then
    pass "sysbench oltp_write_only ${SB_SECONDS}s, 4 threads: $trx transactions ($tps/s), 0 errors, $dl InnoDB deadlocks retried"
  else
    fail "sysbench oltp_write_only: exit $rc, transactions=${trx:-?}: $(grep -m3 -i 'error\|fatal' "$MDB_ROOT/sb-run.log" | tr '\n' ' ')"
  fi
  expect "no certification failures on one node" "$(mdb_status n1 wsrep_local_cert_failures)" 0
  expect "no BF aborts during sysbench" "$(mdb_status n1 wsrep_local_bf_aborts)" "${sb_bf_before:-?}"
  # Each sysbench transaction is one commit, so one seqno each, and nothing else commits.
  expect "wsrep_last_committed grew by the sysbench transaction count" \
    "$((${after:-0} - ${before:-0}))" "${trx:-?}"
  expect "sbtest row counts unchanged (delete+insert pairs)" \
    "$(mdb_sql n1 "SELECT (SELECT COUNT(*) FROM sbtest.sbtest1), (SELECT COUNT(*) FROM sbtest.sbtest2)" | tr '\t' ' ')" \
    "1000 1000"
fi
expect "still Synced after the load" "$(mdb_status n1 wsrep_local_state_comment)" Synced

# ---- clean shutdown keeps the position ----------------------------------------------------------
B=$(lc)
uuid=$(mdb_status n1 wsrep_cluster_state_uuid)
if mdb_stop n1 120; then pass "clean shutdown"; else fail "clean shutdown within 120 s"; fi
expect "grastate.dat in Galera's format" \
  "$(head -n 2 "$(mdb_dir n1)/data/grastate.dat" 2>/dev/null | tr '\n' '|')" "# GALERA saved state|version: 2.1|"
expect "grastate.dat uuid after clean shutdown" "$(mdb_grastate n1 uuid)" "$uuid"
expect "grastate.dat seqno after clean shutdown" "$(mdb_grastate n1 seqno)" "$B"
expect "grastate.dat safe_to_bootstrap after clean shutdown" "$(mdb_grastate n1 safe_to_bootstrap)" 1

t0=$SECONDS
mdb_start n1
mdb_wait_ready n1 90 || abort "wsrep_ready=ON within 90 s after restart"
pass "restarted, wsrep_ready=ON after $((SECONDS - t0)) s"
expect "cluster uuid kept across restart" "$(mdb_status n1 wsrep_cluster_state_uuid)" "$uuid"
expect "wsrep_last_committed after restart = before ($B) + view seqno ($VIEW_SEQNO)" \
  "$(lc)" "$((B + VIEW_SEQNO))"
expect "wsrep_cluster_size after restart" "$(mdb_status n1 wsrep_cluster_size)" 1
expect "wsrep_local_state_comment after restart" "$(mdb_status n1 wsrep_local_state_comment)" Synced
expect "data kept across restart" \
  "$(mdb_sql n1 "SELECT GROUP_CONCAT(id ORDER BY id) FROM trireme_t.t")" "1,2,3,5,7"
step "INSERT after restart" 1 "INSERT INTO trireme_t.t (id, v) VALUES (8, 80)"
B=$(lc)
if mdb_stop n1 120; then pass "final clean shutdown"; else fail "final clean shutdown within 120 s"; fi
expect "grastate.dat seqno after final shutdown" "$(mdb_grastate n1 seqno)" "$B"

finish
