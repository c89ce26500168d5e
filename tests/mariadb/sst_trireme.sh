#!/usr/bin/env bash
# tests/mariadb/sst_trireme.sh: wsrep_sst_method=trireme end to end on MariaDB 10.11.
# Usage: sst_trireme.sh PROVIDER_SO WSREP_SST_TRIREME. The last line is "N passed, M failed".
#
# n1 bootstraps with 5000 InnoDB rows and an Aria table; n2 joins by SST through our tool (found
# in PATH, as MariaDB looks for wsrep_sst_<method>) and must hold the same data. Then n3 joins
# while the donor's stream is damaged on purpose (a flipped byte, then a cut connection, through
# the test-only TRIREME_SST_TEST_FAULT_FILE): n3 must fail with a message naming the frame, leave
# its datadir as it was, and the cluster must go on; with the fault gone n3 joins and matches.
set -u
PROVIDER=$(realpath -m "${1:?usage: sst_trireme.sh PROVIDER_SO WSREP_SST_TRIREME}")
TOOL=$(realpath -m "${2:?usage: sst_trireme.sh PROVIDER_SO WSREP_SST_TRIREME}")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
DEADLINE=${DEADLINE:-240}
ROWS=${ROWS:-5000}
# SST_METHOD=mariabackup runs part 1 with MariaDB's own method on the same data, for comparison
# (the lead's benchmark: ROWS=500000 SST_METHOD=trireme|mariabackup sst_trireme.sh ...).
SST_METHOD=${SST_METHOD:-trireme}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

echo "sst_trireme: provider $PROVIDER, SST tool $TOOL"
[ -r "$PROVIDER" ] || abort "provider library $PROVIDER not found (build it first)"
[ -x "$TOOL" ] || abort "$TOOL not built"
command -v mariadb-backup >/dev/null || command -v mariabackup >/dev/null ||
  abort "mariadb-backup is not installed (cmake/install-deps.sh installs it)"
mdb_init || abort "test environment (mariadb client, mariadb-install-db)"

# MariaDB runs wsrep_sst_trireme from PATH; a copy the server's user can run.
mkdir -p "$MDB_ROOT/bin"
cp "$TOOL" "$MDB_ROOT/bin/wsrep_sst_trireme"
chmod 755 "$MDB_ROOT/bin" "$MDB_ROOT/bin/wsrep_sst_trireme"
export PATH="$MDB_ROOT/bin:$PATH"
FAULT=$MDB_ROOT/sst-fault
export TRIREME_SST_TEST_FAULT_FILE=$FAULT # read by donors; absent = no fault
export MDB_EXTRA_CNF="wsrep_sst_method=$SST_METHOD
wsrep_sst_auth=root:
[sst]
sst-idle-timeout=30"

NODES="n1 n2"
sw() { mdb_sql "$1" "SET SESSION wsrep_sync_wait=15; $2"; }
sums() { # NODE: row count and checksums of the test tables
  sw "$1" "SELECT COUNT(*) FROM sst.t; CHECKSUM TABLE sst.t, sst.a" 2>&1 | cut -f2 | tr '\n' ' '
}
formed() { # NODE...: all Synced in one primary component of that many
  local n
  for n in "$@"; do
    [ "$(mdb_status "$n" wsrep_cluster_size)" = $# ] &&
      [ "$(mdb_status "$n" wsrep_local_state_comment)" = Synced ] || return 1
  done
}
exited() { ! mdb_alive "$(mdb_pid "$1")"; }
log_of() { cat "$(mdb_dir "$1")/error.log" 2>/dev/null; }

mdb_node_create n1 "$PROVIDER" gcomm:// || abort "create n1"
JOIN=gcomm://127.0.0.1:$(mdb_get n1 gcomm_port)
mdb_start n1
mdb_wait_ready n1 60 || abort "n1: wsrep_ready=ON within 60 s"
mdb_sql n1 "CREATE DATABASE sst;
  CREATE TABLE sst.t (id INT PRIMARY KEY, v VARCHAR(64), n BIGINT) ENGINE=InnoDB;
  INSERT INTO sst.t SELECT seq, SHA1(seq), seq * 7919 FROM sst.seq_1_to_$ROWS;
  CREATE TABLE sst.a (id INT PRIMARY KEY, v VARCHAR(32)) ENGINE=Aria;
  INSERT INTO sst.a SELECT seq, MD5(seq) FROM sst.seq_1_to_200" || abort "n1: test data"
pass "n1: bootstrapped with $ROWS InnoDB rows and 200 Aria rows"

# ---- 1. n2 joins by SST through wsrep_sst_trireme ---------------------------------------------
echo "--- 1. SST to n2 ($SST_METHOD, $(du -sm "$(mdb_dir n1)/data" | cut -f1) MiB datadir)"
mdb_node_create n2 "$PROVIDER" "$JOIN" || abort "create n2"
t0=$SECONDS
mdb_start n2
mdb_wait_ready n2 90 || abort "n2: wsrep_ready=ON within 90 s"
pass "n2: ready after $((SECONDS - t0)) s"
log_of n2 | grep -q "wsrep_sst_$SST_METHOD --role 'joiner'" &&
  pass "n2: MariaDB ran wsrep_sst_$SST_METHOD as joiner" || fail "n2: wsrep_sst_$SST_METHOD joiner not run"
if [ "$SST_METHOD" = trireme ]; then
done_line=$(log_of n2 | grep -o 'SST joiner: done, .*' | tail -n 1)
[ -n "$done_line" ] && pass "n2: $done_line" || fail "n2: no transfer summary in its log"
log_of n1 | grep -q 'the joiner verified' && pass "n1: the joiner verified the stream" ||
  fail "n1: no donor confirmation in its log"
fi
wait_for 30 formed n1 n2 && pass "n1, n2 Synced in a cluster of 2" || fail "n1, n2 not Synced"
expect "n2 holds n1's data (rows, CHECKSUM TABLE t, a)" "$(sums n2)" "$(sums n1)"
find "$(mdb_dir n2)/data" -maxdepth 1 -name '.trireme-sst*' | grep -q . &&
  fail "n2: staging left in the datadir" || pass "n2: no staging left in the datadir"
mdb_sql n2 "INSERT INTO sst.t VALUES ($((ROWS + 1)), 'after', 1)" || fail "n2: write after SST"
expect "a write on n2 after SST reaches n1" "$(sw n1 "SELECT v FROM sst.t WHERE id = $((ROWS + 1))")" after

[ "$SST_METHOD" = trireme ] || finish

# ---- 2. damaged streams: n3 fails cleanly, its datadir untouched ---------------------------------
inventory() { # DIR: the server files' names and sizes (not the node's own state, store and logs)
  (cd "$1" && find . \( -path './.trireme-sst*' -o -name grastate.dat -o -name gvwstate.dat -o \
    -name galera.cache -o -name 'gcache.page.*' -o \
    -name '*.log' -o -name '*.pid' \) -prune -o -printf '%p %s\n' | sort | md5sum)
}
damaged() { # KIND OFFSET WANT_IN_LOG
  local kind=$1 off=$2 want=$3 before after d
  echo "--- 2. SST to n3 with the stream damaged: $kind at offset $off"
  d=$(mdb_dir n3)/data
  before=$(inventory "$d")
  echo "$kind $off" >"$FAULT"
  local from; from=$(( $(log_of n3 | wc -l) + 1 )) # this attempt's lines only
  mdb_start n3
  if wait_for 90 exited n3; then
    pass "n3: mariadbd stopped after the failed transfer"
  else
    fail "n3: still running with a $kind stream"; mdb_kill n3
  fi
  rm -f "$FAULT"
  local msg; msg=$(log_of n3 | tail -n "+$from" | grep -a 'WSREP_SST: \[ERROR\] SST stream' | head -n 1)
  if [ -n "$msg" ] && echo "$msg" | grep -q "$want"; then
    pass "n3: joiner names the failure: $(echo "${msg#*ERROR\] }" | sed 's/ ([0-9]\{8\} .*)$//')"
  else
    fail "n3: no '$want' in the joiner's error ($(log_of n3 | tail -n "+$from" | grep -a 'WSREP_SST' | tail -n 3))"
  fi
  after=$(inventory "$d")
  expect "n3: datadir entries unchanged" "$after" "$before"
  find "$d" -maxdepth 1 -name '.trireme-sst*' | grep -q . &&
    fail "n3: staging left in the datadir" || pass "n3: no staging left behind"
  wait_for 60 formed n1 n2 && pass "n1, n2 Synced again, cluster of 2" ||
    fail "n1, n2 not back to Synced/2: $(mdb_status n1 wsrep_local_state_comment)/$(mdb_status n1 wsrep_cluster_size)"
}
mdb_node_create n3 "$PROVIDER" "$JOIN" || abort "create n3"
damaged flip 5000 "SHA-256 mismatch"
damaged cut 5000 "truncated"

# ---- 3. the same n3 joins once the stream is whole -------------------------------------------
echo "--- 3. SST to n3"
NODES="n1 n2 n3"
mdb_start n3
mdb_wait_ready n3 90 || abort "n3: wsrep_ready=ON within 90 s"
wait_for 30 formed n1 n2 n3 && pass "n1, n2, n3 Synced in a cluster of 3" || fail "cluster of 3 not formed"
want=$(sums n1)
for n in n2 n3; do expect "$n has the same rows and checksums as n1" "$(sums "$n")" "$want"; done
finish
