#!/usr/bin/env bash
# tests/mariadb/three_nodes.sh: a 3-node MariaDB 10.11 cluster on trireme over loopback, end to end.
# Usage: three_nodes.sh PROVIDER_SO. Prints each check as it runs; the last line is "N passed, M failed".
#
# Node 1 bootstraps (gcomm://) and gets some data; nodes 2 and 3 join it by state transfer with
# MariaDB's own wsrep_sst_rsync. Under load, node 3 is killed with SIGKILL, the other two keep
# committing, and node 3 comes back by a full state transfer.
set -u
PROVIDER=${1:?usage: three_nodes.sh PROVIDER_SO}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"

SB_SECONDS=${SB_SECONDS:-60} # the issue asks for 60 s of sysbench on all three
# Every wait is bounded; the whole test gives up at DEADLINE s, well inside ctest's TIMEOUT
# (600 s), so its EXIT trap still gets to stop the servers it started.
DEADLINE=${DEADLINE:-450}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
NODES="n1 n2 n3"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

# sw NODE SQL: SQL after a causality wait (all reads see every write committed anywhere before).
sw() { mdb_sql "$1" "SET SESSION wsrep_sync_wait=15; $2"; }
lc() { mdb_status "$1" wsrep_last_committed; }
all_lc() { local n; for n in $NODES; do printf '%s ' "$(lc "$n")"; done; }
same() { # WORDS...: at least one, all equal, all non-negative integers
  local w
  [ $# -gt 0 ] || return 1
  for w in "$@"; do [[ "$w" =~ ^[0-9]+$ ]] && [ "$w" = "$1" ] || return 1; done
}
lc_equal() { # every node's wsrep_last_committed is the same number
  # shellcheck disable=SC2046
  same $(all_lc)
}
# stuck_report: what every node is waiting on (a hung load), for the failure message.
stuck_report() {
  local n
  for n in $NODES; do
    echo "--- $n: wsrep_last_committed=$(lc "$n") recv_queue=$(mdb_status "$n" wsrep_local_recv_queue)" \
      "send_queue=$(mdb_status "$n" wsrep_local_send_queue) fc_sent=$(mdb_status "$n" wsrep_flow_control_sent)" \
      "fc_recv=$(mdb_status "$n" wsrep_flow_control_recv)"
    MDB_SQL_TIMEOUT=10 mdb_sql "$n" "SELECT ID, USER, COMMAND, TIME, STATE, LEFT(INFO, 70)
        FROM information_schema.PROCESSLIST
        WHERE (COMMAND <> 'Sleep' OR USER = 'system user') AND ID <> CONNECTION_ID();
      SELECT 'lock wait: thread', r.trx_mysql_thread_id, LEFT(r.trx_query, 50), 'blocked by thread',
          b.trx_mysql_thread_id, b.trx_state, LEFT(b.trx_query, 50)
        FROM information_schema.INNODB_LOCK_WAITS w
        JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id
        JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id" 2>&1
    grep -a 'BF lock wait long' "$(mdb_dir "$n")/error.log" | tail -n 2
  done
}
status_is() { # NODE VAR VALUE...: the status variable is VALUE on every NODE given
  local var=$1 want=$2 n; shift 2
  for n in "$@"; do [ "$(mdb_status "$n" "$var")" = "$want" ] || return 1; done
}
formed() { # all three Synced in a primary component of 3
  status_is wsrep_cluster_size 3 $NODES && status_is wsrep_local_state_comment Synced $NODES &&
    status_is wsrep_cluster_status Primary $NODES
}
checksums_match() { # PREFIX TABLE...: CHECKSUM TABLE equal on every node of $NODES
  local prefix=$1 t sums; shift
  for t in "$@"; do
    sums=$(for n in $NODES; do sw "$n" "CHECKSUM TABLE $t" 2>&1 | cut -f2 | tr '\n' ' '; done)
    # shellcheck disable=SC2086
    if same $sums; then
      pass "${prefix}CHECKSUM TABLE $t identical on all three (${sums% })"
    else
      fail "${prefix}CHECKSUM TABLE $t differs: n1 n2 n3 = $sums"
    fi
  done
}
per_node() { # VAR: "n1=v1 n2=v2 n3=v3"
  local n out=""
  for n in $NODES; do out="$out $n=$(mdb_status "$n" "$1")"; done
  echo "${out# }"
}

echo "three_nodes: provider $PROVIDER"
[ -r "$PROVIDER" ] || abort "provider library $PROVIDER not found (build it first)"
command -v sysbench >/dev/null || abort "sysbench is not installed"
mdb_init || abort "test environment (mariadb client, mariadb-install-db)"

# ---- form the cluster -------------------------------------------------------------------------
# the caller's lines (wsrep_debug=1, say) come after ours
export MDB_EXTRA_CNF="wsrep_slave_threads=4${MDB_EXTRA_CNF:+
$MDB_EXTRA_CNF}"
mdb_node_create n1 "$PROVIDER" gcomm:// || abort "create n1's datadir and system tables"
JOIN=gcomm://127.0.0.1:$(mdb_get n1 gcomm_port)
for n in n2 n3; do
  mdb_node_create "$n" "$PROVIDER" "$JOIN" || abort "create $n's datadir and system tables"
done
for n in $NODES; do
  echo "node $n: $(mdb_dir "$n"), mysqld port $(mdb_get "$n" port), gcomm port $(mdb_get "$n" gcomm_port), $(mdb_get "$n" address)"
done
for n in $NODES; do
  t0=$SECONDS
  mdb_start "$n"
  mdb_wait_ready "$n" 90 || abort "$n: wsrep_ready=ON within 90 s"
  pass "$n: wsrep_ready=ON after $((SECONDS - t0)) s (cluster size $(mdb_status "$n" wsrep_cluster_size))"
  if [ "$n" = n1 ]; then # data the joiners can only have by state transfer
    mdb_sql n1 "CREATE DATABASE pre; CREATE TABLE pre.t (id INT PRIMARY KEY, v VARCHAR(16)) ENGINE=InnoDB;
      INSERT INTO pre.t SELECT seq, CONCAT('row', seq) FROM pre.seq_1_to_500" || abort "n1: data before the joins"
  else
    grep -q 'State transfer received' "$(mdb_dir "$n")/error.log" &&
      pass "$n: joined by state transfer ($(grep -o "wsrep_sst_[a-z]* --role 'joiner'" "$(mdb_dir "$n")/error.log" | head -n 1))" ||
      fail "$n: no state transfer in its error log"
    expect "$n has n1's data from before it joined" "$(mdb_sql "$n" "SELECT COUNT(*), SUM(LENGTH(v)) FROM pre.t" 2>&1 | tr '\t' ' ')" "500 2892"
  fi
done

# ---- 1. one primary component of three, same position ------------------------------------------
echo "--- 1. cluster formed"
if wait_for 60 formed; then
  pass "all three Synced, Primary, wsrep_cluster_size=3"
else
  fail "cluster not formed within 60 s: size $(per_node wsrep_cluster_size); $(per_node wsrep_local_state_comment); $(per_node wsrep_cluster_status)"
fi
uuids=$(for n in $NODES; do mdb_status "$n" wsrep_cluster_state_uuid; done | sort -u)
if [ "$(echo "$uuids" | wc -l)" -eq 1 ] && [ -n "$uuids" ] &&
   [ "$uuids" != 00000000-0000-0000-0000-000000000000 ]; then
  pass "same wsrep_cluster_state_uuid on all three ($uuids)"
else
  fail "wsrep_cluster_state_uuid differs: $(per_node wsrep_cluster_state_uuid)"
fi
if wait_for 30 lc_equal; then
  pass "equal wsrep_last_committed ($(all_lc))"
else
  fail "wsrep_last_committed not equal within 30 s: $(all_lc)"
fi

# ---- 2. DML on each node visible on the other two -------------------------------------------------
echo "--- 2. DML everywhere"
if mdb_sql n1 "CREATE DATABASE t3; CREATE TABLE t3.t (id INT PRIMARY KEY, node VARCHAR(8), v INT NOT NULL) ENGINE=InnoDB"; then
  pass "n1: CREATE DATABASE t3, CREATE TABLE t3.t"
else
  fail "n1: CREATE DATABASE/TABLE"
fi
i=0
for n in $NODES; do
  i=$((i + 1))
  if out=$(mdb_sql "$n" "INSERT INTO t3.t VALUES ($i, '$n', $((i * 10))); UPDATE t3.t SET v = v + 1 WHERE id = $i" 2>&1); then
    for m in $NODES; do
      [ "$m" = "$n" ] && continue
      expect "row written on $n read on $m" "$(sw "$m" "SELECT CONCAT(node, ':', v) FROM t3.t WHERE id = $i" 2>&1)" \
        "$n:$((i * 10 + 1))"
    done
  else
    fail "$n: INSERT/UPDATE: $out"
  fi
done
if out=$(mdb_sql n3 "DELETE FROM t3.t WHERE id = 1" 2>&1); then
  for m in n1 n2; do
    expect "DELETE on n3 seen on $m" "$(sw "$m" "SELECT GROUP_CONCAT(id ORDER BY id) FROM t3.t" 2>&1)" "2,3"
  done
else
  fail "n3: DELETE: $out"
fi

# ---- 3. DDL on node 2 -----------------------------------------------------------------------------
echo "--- 3. DDL from n2"
if out=$(mdb_sql n2 "CREATE TABLE t3.d (id INT PRIMARY KEY, a INT) ENGINE=InnoDB;
    INSERT INTO t3.d VALUES (1, 1);
    ALTER TABLE t3.d ADD COLUMN b VARCHAR(16) NOT NULL DEFAULT 'x';
    INSERT INTO t3.d VALUES (2, 2, 'y')" 2>&1); then
  pass "n2: CREATE TABLE, INSERT, ALTER TABLE ADD COLUMN, INSERT"
  for m in n1 n3; do
    expect "t3.d's columns on $m" \
      "$(sw "$m" "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 't3' AND TABLE_NAME = 'd'" 2>&1)" \
      "id,a,b"
    expect "t3.d's rows on $m" "$(sw "$m" "SELECT GROUP_CONCAT(CONCAT(id, ':', a, ':', b) ORDER BY id) FROM t3.d" 2>&1)" \
      "1:1:x,2:2:y"
  done
else
  fail "n2: DDL: $out"
fi

# ---- 4. the same row updated from two nodes at once ------------------------------------------------
echo "--- 4. conflicting updates from n1 and n2"
mdb_sql n1 "INSERT INTO t3.t VALUES (100, 'n1', 0)" || fail "n1: INSERT row 100"
sw n2 "SELECT 1" >/dev/null
bf_before=$(per_node wsrep_local_bf_aborts)
cf_before=$(per_node wsrep_local_cert_failures)
mdb_sql n1 "BEGIN; UPDATE t3.t SET v = 1, node = 'n1' WHERE id = 100; SELECT SLEEP(3); COMMIT" \
  >"$MDB_ROOT/conflict-n1.out" 2>&1 &
holder=$!
MDB_CHILD_PIDS="$MDB_CHILD_PIDS $holder"
# n2 writes only once n1's transaction holds the row (its UPDATE done, the SLEEP running).
n1_holds() {
  [ "$(mdb_sql n1 "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(3)%'")" = 1 ]
}
if wait_for 20 n1_holds; then
  mdb_sql n2 "BEGIN; UPDATE t3.t SET v = 2, node = 'n2' WHERE id = 100; COMMIT" >"$MDB_ROOT/conflict-n2.out" 2>&1
  rc2=$?
else
  echo "n1's transaction never reached its SLEEP" >"$MDB_ROOT/conflict-n2.out"
  rc2=99
fi
wait "$holder"
rc1=$?
MDB_CHILD_PIDS=${MDB_CHILD_PIDS/ $holder/}
out1=$(tr '\n' ' ' <"$MDB_ROOT/conflict-n1.out")
out2=$(tr '\n' ' ' <"$MDB_ROOT/conflict-n2.out")
echo "n1: exit $rc1 ${out1}"
echo "n2: exit $rc2 ${out2}"
dl1=0 dl2=0
grep -q "ERROR 1213" "$MDB_ROOT/conflict-n1.out" && dl1=1
grep -q "ERROR 1213" "$MDB_ROOT/conflict-n2.out" && dl2=1
winner=""
if [ $dl1 = 1 ] && [ $dl2 = 0 ] && [ $rc2 = 0 ]; then
  winner=n2
elif [ $dl2 = 1 ] && [ $dl1 = 0 ] && [ $rc1 = 0 ]; then
  winner=n1
fi
if [ -n "$winner" ]; then
  pass "exactly one got ER_LOCK_DEADLOCK (1213), $winner committed"
else
  fail "want exactly one ER_LOCK_DEADLOCK and one commit: n1 exit $rc1 '$out1', n2 exit $rc2 '$out2'"
fi
echo "wsrep_local_bf_aborts before: $bf_before, after: $(per_node wsrep_local_bf_aborts)"
echo "wsrep_local_cert_failures before: $cf_before, after: $(per_node wsrep_local_cert_failures)"
want="${winner:-?}:$([ "$winner" = n1 ] && echo 1 || echo 2)"
for m in $NODES; do
  expect "row 100 on $m" "$(sw "$m" "SELECT CONCAT(node, ':', v) FROM t3.t WHERE id = 100" 2>&1)" "$want"
done

# ---- 5. sysbench on all three nodes at once ---------------------------------------------------------
# SB_SECONDS=0 skips it (to exercise the other checks alone).
if [ "$SB_SECONDS" -gt 0 ]; then
echo "--- 5. sysbench oltp_write_only on all three nodes, ${SB_SECONDS}s"
# 1213 is ignored (sysbench retries): a certification failure or a BF abort is how a multi-master
# write conflict surfaces. Anything else makes sysbench exit non-zero.
sb() { # NODE ARGS...
  local n=$1; shift
  timeout -k 5 $((SB_SECONDS + 60)) sysbench oltp_write_only --db-driver=mysql \
    --mysql-socket="$(mdb_dir "$n")/mysqld.sock" --mysql-user=root --mysql-db=sbtest --tables=4 \
    --table-size=1000 --rand-type=uniform --mysql-ignore-errors=1213 "$@"
}
TABLES="sbtest.sbtest1 sbtest.sbtest2 sbtest.sbtest3 sbtest.sbtest4"
mdb_sql n1 "CREATE DATABASE sbtest" || fail "n1: CREATE DATABASE sbtest"
if mdb_bg sb n1 --threads=2 prepare >"$MDB_ROOT/sb-prepare.log" 2>&1; then
  pass "sysbench prepare on n1: 4 tables x 1000 rows"
else
  fail "sysbench prepare: $(tail -n 3 "$MDB_ROOT/sb-prepare.log" | tr '\n' ' ')"
fi
for m in n2 n3; do
  expect "prepared rows reached $m" \
    "$(sw "$m" "SELECT (SELECT COUNT(*) FROM sbtest.sbtest1) + (SELECT COUNT(*) FROM sbtest.sbtest4)" 2>&1)" 2000
done
lc_before=$(lc n1)
bf_before=$(per_node wsrep_local_bf_aborts)
cf_before=$(per_node wsrep_local_cert_failures)
sbpids=""
for n in $NODES; do
  sb "$n" --threads=2 --time="$SB_SECONDS" --report-interval=0 run >"$MDB_ROOT/sb-run-$n.log" 2>&1 &
  sbpids="$sbpids $!"
  MDB_CHILD_PIDS="$MDB_CHILD_PIDS $!"
done
total=0
sb_failed=0
# shellcheck disable=SC2086
set -- $sbpids
for n in $NODES; do
  pid=$1; shift
  wait "$pid"
  rc=$?
  MDB_CHILD_PIDS=${MDB_CHILD_PIDS/ $pid/}
  log="$MDB_ROOT/sb-run-$n.log"
  trx=$(awk '/transactions:/ { print $2; exit }' "$log")
  tps=$(awk '/transactions:/ { gsub(/\(/, "", $3); print $3; exit }' "$log")
  dl=$(awk '/ignored errors:/ { print $3; exit }' "$log")
  if [ "$rc" -eq 0 ] && [ "${trx:-0}" -gt 0 ] && [ -n "$dl" ]; then
    pass "sysbench on $n: $trx transactions ($tps/s), $dl 1213s retried, no other error"
    total=$((total + trx))
  else
    sb_failed=1
    fail "sysbench on $n: exit $rc, transactions=${trx:-?}: $(grep -m3 -i 'error\|fatal' "$log" | tr '\n' ' ')"
  fi
done
echo "wsrep_local_bf_aborts before: $bf_before, after: $(per_node wsrep_local_bf_aborts)"
echo "wsrep_local_cert_failures before: $cf_before, after: $(per_node wsrep_local_cert_failures)"
if [ "$sb_failed" = 1 ] && ! lc_equal; then
  stuck_report
  abort "the cluster is stuck after the load (wsrep_last_committed $(all_lc)): see above"
fi
if wait_for 60 lc_equal; then
  pass "after the load, wsrep_last_committed equal on all three ($(all_lc)); n1 grew by $(( $(lc n1) - lc_before )), $total sysbench commits"
else
  fail "wsrep_last_committed not equal within 60 s after the load: $(all_lc)"
fi
checksums_match "" $TABLES
expect "all still Synced after the load" "$(per_node wsrep_local_state_comment)" \
  "n1=Synced n2=Synced n3=Synced"
fi

# ---- 5b. kill -9 of n3 under load; it comes back by state transfer -------------------------------
if [ "$SB_SECONDS" -gt 0 ]; then
KILL_SECONDS=${KILL_SECONDS:-20}
echo "--- 5b. SIGKILL n3 while n1 and n2 write (${KILL_SECONDS}s of sysbench); n3 rejoins by SST"
sbpids=""
for n in n1 n2; do
  sb "$n" --threads=2 --time="$KILL_SECONDS" --report-interval=1 run >"$MDB_ROOT/sb-kill-$n.log" 2>&1 &
  sbpids="$sbpids $!"
  MDB_CHILD_PIDS="$MDB_CHILD_PIDS $!"
done
sleep 5
lc_kill=$(lc n1)
mdb_kill n3
t_kill=$SECONDS
NODES="n1 n2"
if wait_for 30 status_is wsrep_cluster_size 2 n1 n2; then
  pass "n1 and n2 form a primary component of 2 after $((SECONDS - t_kill)) s"
else
  fail "wsrep_cluster_size not 2 within 30 s of the kill: $(per_node wsrep_cluster_size)"
fi
sleep 2
lc_after=$(lc n1)
if [[ "$lc_after" =~ ^[0-9]+$ ]] && [ "$lc_after" -gt "${lc_kill:-0}" ]; then
  pass "commits go on after the kill (n1 at $lc_kill when n3 died, $lc_after now)"
else
  fail "no commits after the kill: n1 at ${lc_kill:-?}, then ${lc_after:-?}"
fi
sb_failed=0
# shellcheck disable=SC2086
set -- $sbpids
for n in n1 n2; do
  pid=$1; shift
  wait "$pid"
  rc=$?
  MDB_CHILD_PIDS=${MDB_CHILD_PIDS/ $pid/}
  log="$MDB_ROOT/sb-kill-$n.log"
  # the per-second throughput around the kill: a zero is a second without any commit
  per_s=$(awk '/^\[ *[0-9]+s \]/ { for (i = 1; i <= NF; i++) if ($i == "tps:") printf "%d ", $(i + 1) }' "$log")
  zeros=$(echo "$per_s" | tr ' ' '\n' | grep -c '^0$')
  echo "sysbench on $n, transactions per second: $per_s"
  if [ "$rc" -eq 0 ]; then
    pass "sysbench on $n through the kill: exit 0, no error other than 1213; seconds without a commit: $zeros"
  else
    sb_failed=1
    fail "sysbench on $n through the kill: exit $rc: $(grep -m3 -i 'error\|fatal' "$log" | tr '\n' ' ')"
  fi
done
expect "n1 and n2 stay Primary and Synced" "$(per_node wsrep_cluster_status) $(per_node wsrep_local_state_comment)" \
  "n1=Primary n2=Primary n1=Synced n2=Synced"
echo "n3 grastate.dat after the kill: seqno $(mdb_grastate n3 seqno), safe_to_bootstrap $(mdb_grastate n3 safe_to_bootstrap)"
t0=$SECONDS
sst_before=$(grep -c 'State transfer received' "$(mdb_dir n3)/error.log")
mdb_start n3
if mdb_wait_ready n3 120; then
  pass "n3: back after SIGKILL, wsrep_ready=ON after $((SECONDS - t0)) s"
else
  abort "n3: wsrep_ready=ON within 120 s of its restart"
fi
NODES="n1 n2 n3"
sst_after=$(grep -c 'State transfer received' "$(mdb_dir n3)/error.log")
if [ "$sst_after" -gt "$sst_before" ]; then pass "n3 rejoined by state transfer"; else fail "n3 rejoined without a state transfer"; fi
if wait_for 60 formed; then
  pass "all three Synced, Primary, wsrep_cluster_size=3 again"
else
  fail "cluster not re-formed within 60 s: size $(per_node wsrep_cluster_size); $(per_node wsrep_local_state_comment)"
fi
if wait_for 60 lc_equal; then
  pass "wsrep_last_committed equal on all three ($(all_lc))"
else
  fail "wsrep_last_committed not equal within 60 s: $(all_lc)"
fi
# shellcheck disable=SC2086
checksums_match "after the rejoin, " $TABLES pre.t
if out=$(mdb_sql n3 "INSERT INTO t3.t VALUES (300, 'n3', 300)" 2>&1); then
  expect "a write on the rejoined n3 reaches n1" "$(sw n1 "SELECT CONCAT(node, ':', v) FROM t3.t WHERE id = 300" 2>&1)" "n3:300"
else
  fail "n3: INSERT after the rejoin: $out"
fi
fi

# ---- 6. node 3 leaves gracefully ----------------------------------------------------------------------
echo "--- 6. n3 shuts down"
if mdb_stop n3 120; then pass "n3: clean shutdown"; else fail "n3: clean shutdown within 120 s"; fi
NODES="n1 n2"
if wait_for 30 status_is wsrep_cluster_size 2 n1 n2; then
  pass "n1 and n2 report wsrep_cluster_size=2"
else
  fail "wsrep_cluster_size not 2 within 30 s: $(per_node wsrep_cluster_size)"
fi
expect "n1 and n2 stay Primary" "$(per_node wsrep_cluster_status)" "n1=Primary n2=Primary"
expect "n1 and n2 stay Synced" "$(per_node wsrep_local_state_comment)" "n1=Synced n2=Synced"
if out=$(mdb_sql n1 "INSERT INTO t3.t VALUES (200, 'n1', 200)" 2>&1); then
  pass "n1: INSERT after n3 left"
  expect "the INSERT is visible on n2" "$(sw n2 "SELECT CONCAT(node, ':', v) FROM t3.t WHERE id = 200" 2>&1)" "n1:200"
else
  fail "n1: INSERT after n3 left: $out"
fi
if out=$(mdb_sql n2 "UPDATE t3.t SET v = 201 WHERE id = 200" 2>&1); then
  expect "an UPDATE on n2 is visible on n1" "$(sw n1 "SELECT v FROM t3.t WHERE id = 200" 2>&1)" 201
else
  fail "n2: UPDATE after n3 left: $out"
fi

# ---- 6b. an even split of the two (gmcast.isolate): no primary, writes refused, healed ----------------
echo "--- 6b. even split of n1 and n2 by gmcast.isolate"
mdb_sql n2 "SET GLOBAL wsrep_provider_options='gmcast.isolate=1'" || fail "n2: gmcast.isolate=1"
if wait_for 30 status_is wsrep_cluster_status non-Primary n1 n2; then
  pass "both halves non-Primary ($(per_node wsrep_cluster_status))"
else
  fail "not both non-Primary within 30 s: $(per_node wsrep_cluster_status)"
fi
for n in n1 n2; do
  out=$(mdb_sql "$n" "INSERT INTO t3.t VALUES (400, '$n', 400)" 2>&1)
  if echo "$out" | grep -q "ERROR 1047"; then pass "$n refuses a write with ER 1047"; else fail "$n during the split: '$out'"; fi
done
mdb_sql n2 "SET GLOBAL wsrep_provider_options='gmcast.isolate=0'" || fail "n2: gmcast.isolate=0"
if wait_for 60 status_is wsrep_cluster_status Primary n1 n2 && wait_for 30 status_is wsrep_cluster_size 2 n1 n2 &&
   wait_for 30 status_is wsrep_local_state_comment Synced n1 n2; then
  pass "healed: Primary, size 2, Synced on both"
else
  fail "not healed within 60 s: $(per_node wsrep_cluster_status) $(per_node wsrep_cluster_size) $(per_node wsrep_local_state_comment)"
fi
if out=$(mdb_sql n2 "INSERT INTO t3.t VALUES (401, 'n2', 401)" 2>&1); then
  expect "a write after the heal reaches n1" "$(sw n1 "SELECT CONCAT(node, ':', v) FROM t3.t WHERE id = 401" 2>&1)" "n2:401"
else
  fail "n2: INSERT after the heal: $out"
fi

# ---- 7. the end: stop n2, then n1 -----------------------------------------------------------------------
echo "--- 7. stop all"
wait_for 30 lc_equal || true
B=$(lc n1)
if mdb_stop n2 120; then pass "n2: clean shutdown"; else fail "n2: clean shutdown within 120 s"; fi
if mdb_stop n1 120; then pass "n1: clean shutdown (last)"; else fail "n1: clean shutdown within 120 s"; fi
expect "n1 grastate.dat safe_to_bootstrap" "$(mdb_grastate n1 safe_to_bootstrap)" 1
S=$(mdb_grastate n1 seqno)
if [[ "$S" =~ ^[0-9]+$ ]] && [ "$S" -ge "${B:-0}" ]; then
  pass "n1 grastate.dat seqno $S (last committed before the shutdowns: $B)"
else
  fail "n1 grastate.dat seqno '$S', want >= $B"
fi
echo "grastate.dat safe_to_bootstrap: n1=$(mdb_grastate n1 safe_to_bootstrap) n2=$(mdb_grastate n2 safe_to_bootstrap) n3=$(mdb_grastate n3 safe_to_bootstrap)"

finish
