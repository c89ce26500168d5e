#!/usr/bin/env bash
# tests/mariadb/sr_large.sh: a 1 000 000-row UPDATE replicated in fragments on 3 MariaDB nodes.
# Usage: sr_large.sh PROVIDER_SO. Runs on trireme and Galera 4 alike; last line "N passed, M failed".
#
# Streaming replication end to end (issue 20): n1 updates every row of a table of SR_ROWS rows
# (default 1 000 000) with wsrep_trx_fragment_size set. 1. A small transaction on n2 that holds
# row 1 when the first fragment reaches n2 loses (BF-aborted, ER_LOCK_DEADLOCK at its COMMIT),
# the large one commits and every node holds the same table. 2. n1 is killed (SIGKILL) while a
# second large UPDATE is open: n2 and n3 roll its fragments back (their streaming logs empty, the
# table as before it), stay writable, and n1 rejoins with the same checksums.
set -u
PROVIDER=${1:?usage: sr_large.sh PROVIDER_SO}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
ROWS=${SR_ROWS:-1000000}
FRAG_ROWS=${SR_FRAG_ROWS:-10000} # wsrep_trx_fragment_unit=rows: 100 fragments for 10^6 rows
# Every wait is bounded; the whole test gives up at DEADLINE s, well inside ctest's TIMEOUT
# (900 s), so its EXIT trap still gets to stop the servers it started.
DEADLINE=${DEADLINE:-780}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-300}
# A larger buffer pool than the other tests: the table and the undo of a 10^6-row UPDATE.
export MDB_EXTRA_CNF="innodb_buffer_pool_size=256M
innodb_lock_wait_timeout=300"
NODES="n1 n2 n3"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

status_is() { # VAR VALUE NODE...: the status variable is VALUE on every NODE given
  local var=$1 want=$2 n; shift 2
  for n in "$@"; do [ "$(mdb_status "$n" "$var")" = "$want" ] || return 1; done
}
formed() { # NODE...: all Synced in one primary component of that many
  status_is wsrep_cluster_size $# "$@" && status_is wsrep_local_state_comment Synced "$@" &&
    status_is wsrep_cluster_status Primary "$@"
}
per_node() { # VAR: "n1=v1 n2=v2 ..."
  local n out=""
  for n in $NODES; do out="$out $n=$(mdb_status "$n" "$1")"; done
  echo "${out# }"
}
# sw NODE SQL: SQL after a causality wait (the read sees every write committed anywhere before).
sw() { mdb_sql "$1" "SET SESSION wsrep_sync_wait=15; $2"; }
sums() { sw "$1" "SELECT COUNT(*), SUM(v), SUM(v * (id % 7)) FROM sr.big; CHECKSUM TABLE sr.big" 2>&1 |
  tr '\n\t' '  '; }
same_sums() { # PREFIX NODE...: the same sums on every NODE; echoes them
  local prefix=$1 n first="" s ok=1; shift
  for n in "$@"; do
    s=$(sums "$n")
    [ -n "$first" ] || first=$s
    [ "$s" = "$first" ] || ok=0
    echo "  $n: $s"
  done
  if [ "$ok" = 1 ]; then pass "$prefix: the same table on $*"; else fail "$prefix: tables differ"; fi
}
sr_log_rows() { mdb_sql "$1" "SELECT COUNT(*) FROM mysql.wsrep_streaming_log"; }
sr_log_empty() { local n; for n in "$@"; do [ "$(sr_log_rows "$n")" = 0 ] || return 1; done; }
sr_log_started() { local c; c=$(sr_log_rows "$1") && [ -n "$c" ] && [ "$c" -gt 0 ]; }
# client FD NODE OUT: a mariadb client on NODE reading SQL from this shell's fd FD (7, 8 or 9),
# writing to OUT; CLIENT_PID is its pid. It holds none of the other clients' pipes: a client
# holding another's write end would keep that one from ever seeing EOF when FD is closed.
client() {
  local sock out
  printf -v sock %q "$(mdb_dir "$2")/mysqld.sock"
  printf -v out %q "$3"
  eval "exec $1> >(exec 7>&- 8>&- 9>&-; exec \"\$MDB_CLIENT\" --no-defaults --protocol=socket \
    -S $sock -uroot -N -B -f -n >$out 2>&1)"
  CLIENT_PID=$!
  MDB_CHILD_PIDS="$MDB_CHILD_PIDS $CLIENT_PID"
}
SR_SESSION="SET SESSION wsrep_trx_fragment_unit='rows'; SET SESSION wsrep_trx_fragment_size=$FRAG_ROWS"

echo "sr_large: provider $PROVIDER, $ROWS rows, fragments of $FRAG_ROWS rows"
[ -r "$PROVIDER" ] || abort "provider library $PROVIDER not found (build it first)"
mdb_init || abort "test environment (mariadb client, mariadb-install-db)"
# shellcheck disable=SC2086
mdb_cluster "$PROVIDER" $NODES || abort "3 nodes created, started and ready"
wait_for 60 formed $NODES || abort "cluster of 3 not formed within 60 s: $(per_node wsrep_local_state_comment)"
pass "3 nodes Synced in a primary component"
expect "n1 accepts wsrep_trx_fragment_size (the provider offers streaming)" \
  "$(mdb_sql n1 "$SR_SESSION; SELECT @@SESSION.wsrep_trx_fragment_size" 2>&1)" "$FRAG_ROWS"

# The table, loaded in transactions of 100 000 rows (the Sequence engine generates them).
mdb_sql n1 "CREATE DATABASE sr; CREATE TABLE sr.big (id INT PRIMARY KEY, v INT NOT NULL,
  pad CHAR(24) NOT NULL) ENGINE=InnoDB" || abort "n1: CREATE TABLE sr.big"
t0=$SECONDS
for lo in $(seq 1 100000 "$ROWS"); do
  hi=$((lo + 99999)); [ "$hi" -le "$ROWS" ] || hi=$ROWS
  mdb_sql n1 "INSERT INTO sr.big SELECT seq, 0, 'abcdefghijklmnopqrstuvwx' FROM sr.seq_${lo}_to_${hi}" ||
    abort "n1: loading rows $lo..$hi"
done
expect "n3 holds the $ROWS rows ($((SECONDS - t0)) s to load)" \
  "$(sw n3 "SELECT COUNT(*) FROM sr.big")" "$ROWS"

echo "--- 1. a streaming UPDATE of every row; a small transaction on n2 holds row 1"
# n2's transaction takes row 1 locally (nothing replicated yet). The first fragment from n1
# touches row 1: applying it on n2 must BF-abort the local holder, whose COMMIT then fails.
client 7 n2 "$MDB_ROOT/small.out"
SMALL_PID=$CLIENT_PID
echo "BEGIN; UPDATE sr.big SET v = -7 WHERE id = 1; SELECT 'holding';" >&7
wait_for 20 grep -qs holding "$MDB_ROOT/small.out" || fail "n2: the small transaction did not take row 1"
t0=$SECONDS
# The large UPDATE runs in an explicit transaction, committed only after the checks below: its
# fragments are out when the statement returns, however fast the machine is.
client 9 n1 "$MDB_ROOT/big1.out"
big1=$CLIENT_PID
echo "$SR_SESSION; BEGIN; UPDATE sr.big SET v = v + 1; SELECT 'updated';" >&9
wait_for 600 grep -qs updated "$MDB_ROOT/big1.out" || fail "n1: the streaming UPDATE did not return within 600 s"
t_upd=$((SECONDS - t0))
if wait_for 120 sr_log_started n2; then
  pass "n2: fragments of the open transaction in mysql.wsrep_streaming_log ($(sr_log_rows n2) rows)"
else
  fail "n2: no fragment in mysql.wsrep_streaming_log within 120 s"
fi
echo "COMMIT;" >&7
exec 7>&-
wait "$SMALL_PID" 2>/dev/null
if grep -q "ERROR 1213" "$MDB_ROOT/small.out"; then
  pass "n2: the small transaction lost: $(grep -m1 ERROR "$MDB_ROOT/small.out")"
else
  fail "n2: the small transaction was not BF-aborted: $(tr '\n' ' ' <"$MDB_ROOT/small.out")"
fi
t0=$SECONDS
echo "COMMIT; SELECT 'committed';" >&9
exec 9>&-
wait "$big1" 2>/dev/null
if grep -q committed "$MDB_ROOT/big1.out" && ! grep -q ERROR "$MDB_ROOT/big1.out"; then
  pass "n1: the streaming UPDATE committed (UPDATE $t_upd s, COMMIT $((SECONDS - t0)) s)"
else
  fail "n1: the streaming UPDATE did not commit: $(tr '\n' ' ' <"$MDB_ROOT/big1.out")"
fi
expect "n2 row 1 holds the large transaction's value" "$(sw n2 "SELECT v FROM sr.big WHERE id = 1")" 1
expect "n3: every row updated once" "$(sw n3 "SELECT COUNT(*) FROM sr.big WHERE v = 1")" "$ROWS"
wait_for 60 sr_log_empty $NODES && pass "streaming logs empty after the commit" ||
  fail "streaming log rows left: $(for n in $NODES; do printf '%s=%s ' "$n" "$(sr_log_rows "$n")"; done)"
same_sums "after the streaming commit" $NODES

echo "--- 2. n1 killed while its second streaming UPDATE is open"
before=$(sums n2)
# The UPDATE runs in an open transaction that is never committed: its fragments are all out
# when the statement returns, and the kill finds it open however fast the machine is.
client 8 n1 "$MDB_ROOT/big2.out"
big2=$CLIENT_PID
echo "$SR_SESSION; BEGIN; UPDATE sr.big SET v = v + 10; SELECT 'updated';" >&8
wait_for 600 grep -qs updated "$MDB_ROOT/big2.out" || fail "n1: the second UPDATE did not return within 600 s"
if wait_for 120 sr_log_started n3; then
  pass "n3: fragments of n1's open transaction arrived ($(sr_log_rows n3) rows)"
else
  fail "n3: no fragment of the second UPDATE within 120 s"
fi
mdb_kill n1
exec 8>&-
wait "$big2" 2>/dev/null
NODES="n2 n3"
if wait_for 60 formed n2 n3; then pass "n2, n3 Synced in a primary component of 2"; else
  fail "n2, n3 not a primary component of 2: $(per_node wsrep_cluster_size) $(per_node wsrep_cluster_status)"
fi
wait_for 120 sr_log_empty n2 n3 && pass "n2, n3: the dead node's fragments rolled back (logs empty)" ||
  fail "n2, n3: streaming log rows left: $(per_node wsrep_cluster_size) n2=$(sr_log_rows n2) n3=$(sr_log_rows n3)"
expect "n2: the table as before the second UPDATE" "$(sums n2)" "$before"
expect "n3: no row holds the rolled-back value" "$(sw n3 "SELECT COUNT(*) FROM sr.big WHERE v > 1")" 0
mdb_sql n3 "UPDATE sr.big SET v = 5 WHERE id = 2" || fail "n3: write after the rollback"
expect "n2 reads n3's write" "$(sw n2 "SELECT v FROM sr.big WHERE id = 2")" 5

echo "--- 3. n1 back"
pos=$(mdb_recover n1) || fail "n1: mariadbd --wsrep-recover"
# n1 bootstrapped the cluster (gcomm://); now it joins the two that stayed.
mdb_set_address n1 "gcomm://127.0.0.1:$(mdb_get n2 gcomm_port),127.0.0.1:$(mdb_get n3 gcomm_port)"
mdb_start n1 ${pos:+--wsrep-start-position="$pos"}
mdb_wait_ready n1 300 || fail "n1: not ready within 300 s of its restart"
NODES="n1 n2 n3"
wait_for 120 formed $NODES && pass "n1, n2, n3 Synced again" ||
  fail "not a cluster of 3 again: $(per_node wsrep_local_state_comment)"
wait_for 60 sr_log_empty $NODES || fail "streaming log rows left after n1's return"
same_sums "after n1's return" $NODES

echo "--- 4. stop"
for n in n3 n2 n1; do
  if mdb_stop "$n" 120; then pass "$n: clean shutdown"; else fail "$n: clean shutdown within 120 s"; fi
done
finish
