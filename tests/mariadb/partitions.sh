#!/usr/bin/env bash
# tests/mariadb/partitions.sh: 3 MariaDB nodes, each mariadbd in a network namespace of its own, under
# a bank workload through network faults one after another, each healed before the next.
# Usage: partitions.sh PROVIDER_SO. The last line is "N passed, M failed"; exits 77 (skipped) when
# not root or without ip, nft and tc. Deletes its namespaces and ends only the servers and clients
# it started, also when it fails.
#
# Nodes n1..n3 are 10.78.0.1..3 on their namespace's loopback, joined by a veth pair per pair of
# nodes; faults are nftables rules on a node's output (and tc netem where the kernel has it). Two
# clients per node move money between 100 accounts, one transfer per transaction, and record the
# id and time of each transfer whose COMMIT succeeded. Faults: a node killed with SIGKILL (the
# reference), one-way loss, a partial partition (n1-n2 cut, both reach n3), a flapping link, 5 %
# random loss, netem delay with loss and reordering. After each heal the cluster must be one
# primary view of 3, all Synced, with the total balance unchanged; at the end every recorded
# transfer must exist on every node and CHECKSUM TABLE must agree. Per fault it prints the longest
# time without any successful commit (all clients together, and the worst single client).
set -u
PROVIDER=${1:?usage: partitions.sh PROVIDER_SO}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"
DEADLINE=${DEADLINE:-900}
FAULT_S=${PART_FAULT_S:-6}
HEAL_S=${PART_HEAL_S:-90} # how long the cluster may take to be 3 Synced again after a heal
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
NODES="n1 n2 n3"
ACCOUNTS=100
START_BAL=1000
NS=trm$$ # namespaces trm<pid>1..3
PORT=4306 # each node has its own namespace, so the same ports everywhere

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
for t in ip nft tc; do command -v $t >/dev/null || skip "needs ip, tc and nft (cmake/install-deps.sh)"; done
[ -r "$PROVIDER" ] || { echo "provider library $PROVIDER not found (build it first)"; exit 1; }

# shellcheck source-path=SCRIPTDIR source=../scripts/lib-netns.sh
source "$HERE/../scripts/lib-netns.sh"
NETNS_PREFIX=$NS NETNS_NET=10.78.0 NETNS_BASE=0
MDB_AFTER_CLEANUP=netns_delete # the namespaces go once the servers in them are stopped
mdb_init || skip "no mariadb client or mariadb-install-db"
echo "partitions: provider $PROVIDER"
netns_mesh 1 2 3
case $? in 0) ;; 77) skip "cannot create network namespaces or use nftables here" ;; *) abort "cannot create veth pairs" ;; esac
drop() { netns_drop "$@"; } # A's packets to B
heal() { netns_heal; }

# --- the cluster
netns_mdb_create "$PROVIDER" $PORT 1 2 3 || abort "n1 n2 n3 created"
all=$NETNS_GCOMM_ALL
for n in $NODES; do
  mdb_start "$n"
  mdb_wait_ready "$n" 120 || abort "$n started and ready"
done
mdb_set_address n1 "$all" # a restart of n1 joins the others instead of bootstrapping

# shellcheck disable=SC2086 # NODES is a list
formed() { mdb_formed $NODES; }
# shellcheck disable=SC2086
per_node() { mdb_per_node "$1" $NODES; }
wait_for 60 formed || abort "cluster of 3 formed in namespaces: $(per_node wsrep_local_state_comment)"
pass "3 nodes in namespaces $NS{1,2,3}, Synced in one primary component"

mdb_sql n1 "CREATE DATABASE bank;
  CREATE TABLE bank.acct (id INT PRIMARY KEY, bal BIGINT NOT NULL) ENGINE=InnoDB;
  CREATE TABLE bank.xfer (id BIGINT PRIMARY KEY, src INT, dst INT, amt INT) ENGINE=InnoDB;
  INSERT INTO bank.acct SELECT seq, $START_BAL FROM bank.seq_1_to_$ACCOUNTS" || abort "n1: bank tables"
TOTAL=$((ACCOUNTS * START_BAL))
wait_for 30 mdb_status_is wsrep_last_committed "$(mdb_status n1 wsrep_last_committed)" $NODES ||
  abort "bank tables replicated"

now_ms() { local t=${EPOCHREALTIME/./}; echo "${t%???}"; } # wall clock: only differences are used
# client NODE K: transfers until DIR/stop exists; "MS ID" of each acknowledged commit to commits.K
client() {
  local node=$1 k=$2 i=0 id a b amt
  while [ ! -e "$MDB_ROOT/stop" ]; do
    i=$((i + 1)); id=$((k * 1000000 + i))
    a=$((RANDOM % ACCOUNTS + 1)); b=$(((a + RANDOM % (ACCOUNTS - 1)) % ACCOUNTS + 1)); amt=$((RANDOM % 50 + 1))
    if MDB_SQL_TIMEOUT=20 mdb_sql "$node" "START TRANSACTION;
        UPDATE bank.acct SET bal = bal - $amt WHERE id = $a; UPDATE bank.acct SET bal = bal + $amt WHERE id = $b;
        INSERT INTO bank.xfer VALUES ($id, $a, $b, $amt); COMMIT" >/dev/null 2>&1; then
      echo "$(now_ms) $id" >>"$MDB_ROOT/commits.$k"
    else
      sleep 0.05 # a node down or non-primary refuses at once: do not spin
    fi
  done
}
CLIENTS=""
k=0
for n in $NODES $NODES; do
  k=$((k + 1)); : >"$MDB_ROOT/commits.$k"
  client "$n" "$k" &
  CLIENTS="$CLIENTS $!"
done
MDB_CHILD_PIDS="$MDB_CHILD_PIDS $CLIENTS"

# gap T0 T1 [FILES]: the longest time in ms within [T0, T1] without a commit in FILES
gap() {
  local t0=$1 t1=$2; shift 2
  cat "$@" | awk -v t0="$t0" -v t1="$t1" '$1 >= t0 && $1 <= t1 { print $1 }' | sort -n |
    awk -v t0="$t0" -v t1="$t1" 'BEGIN { p = t0; m = 0 } { if ($1 - p > m) m = $1 - p; p = $1 }
                                 END { if (t1 - p > m) m = t1 - p; print m }'
}
worst_client() { # T0 T1
  local k g w=0
  for k in 1 2 3 4 5 6; do g=$(gap "$1" "$2" "$MDB_ROOT/commits.$k"); [ "$g" -gt $w ] && w=$g; done
  echo $w
}
balance_ok() { # NODE...
  local n s
  for n in "$@"; do
    s=$(mdb_sql "$n" "SELECT SUM(bal) FROM bank.acct") || return 1
    [ "$s" = $TOTAL ] || { echo "$n: total balance $s, want $TOTAL"; return 1; }
  done
}
SUMMARY=""
# after NAME T0 T_HEAL: the cluster must be 3 Synced again; records the figures of the fault
after() {
  local name=$1 t0=$2 th=$3 tf all_g during worst n
  if ! wait_for "$HEAL_S" formed; then
    fail "$name: not one primary view of 3 Synced ${HEAL_S} s after healing: $(per_node wsrep_cluster_size) / $(per_node wsrep_local_state_comment)"
    echo "summary so far:$SUMMARY
  $name: NOT RECOVERED within $HEAL_S s"
    finish
  fi
  tf=$(now_ms)
  sleep 1 # commits after the heal show that the clients go on
  during=$(gap "$t0" "$th" "$MDB_ROOT"/commits.*)
  all_g=$(gap "$t0" "$tf" "$MDB_ROOT"/commits.*)
  worst=$(worst_client "$t0" "$th")
  n=$(cat "$MDB_ROOT"/commits.* | awk -v t0="$t0" -v t1="$th" '$1 >= t0 && $1 <= t1' | wc -l)
  pass "$name: healed, 3 Synced again $(((tf - th) / 100 / 10)).$(((tf - th) / 100 % 10)) s after"
  local b; b=$(balance_ok $NODES) && pass "$name: total balance $TOTAL on every node" || fail "$name: $b"
  SUMMARY="$SUMMARY
  $name: longest commit gap $during ms during the fault ($all_g ms until 3 Synced again), worst single client $worst ms; $n commits in $(((th - t0) / 1000)) s; re-formed $(((tf - th) / 100 / 10)).$(((tf - th) / 100 % 10)) s after the heal"
  echo "FIGURE:${SUMMARY##*$'\n'}"
}

sleep 3
t0=$(now_ms); n=$(cat "$MDB_ROOT"/commits.* | wc -l)
sleep "$FAULT_S"
echo "baseline: $(($(cat "$MDB_ROOT"/commits.* | wc -l) - n)) commits in $FAULT_S s, longest gap $(gap "$t0" "$(now_ms)" "$MDB_ROOT"/commits.*) ms"
SUMMARY="
  no fault: longest commit gap $(gap "$t0" "$(now_ms)" "$MDB_ROOT"/commits.*) ms, $(($(cat "$MDB_ROOT"/commits.* | wc -l) - n)) commits in $FAULT_S s"

echo "--- reference: n3 killed with SIGKILL, restarted $FAULT_S s later (IST from its recovered position)"
t0=$(now_ms)
mdb_kill n3
sleep "$FAULT_S"
th=$(now_ms)
pos=$(mdb_recover n3) || abort "n3: --wsrep-recover position after SIGKILL"
mdb_start n3 --wsrep-start-position="$pos"
after "n3 killed (reference)" "$t0" "$th"

echo "--- one-way loss: n2's packets to n1 dropped"
t0=$(now_ms); drop 2 1; sleep "$FAULT_S"; th=$(now_ms); heal
after "one-way loss n2 -> n1" "$t0" "$th"

echo "--- partial partition: n1 and n2 cut from each other, both reach n3"
t0=$(now_ms); drop 1 2; drop 2 1; sleep "$FAULT_S"; th=$(now_ms); heal
after "partial partition n1 | n2, both reach n3" "$t0" "$th"

echo "--- flapping link n1 - n3: cut and restored every 0.3-0.7 s"
t0=$(now_ms)
for k in $(seq 1 $((FAULT_S * 2))); do
  if [ $((k % 2)) = 1 ]; then drop 1 3; drop 3 1; else heal; fi
  sleep 0.$((3 + RANDOM % 5))
done
th=$(now_ms); heal
after "flapping link n1 - n3" "$t0" "$th"

echo "--- 5 % random loss on every link"
t0=$(now_ms); for i in 1 2 3; do netns_lossy "$i" 5; done; sleep "$FAULT_S"; th=$(now_ms); heal
after "5 % random loss on every link" "$t0" "$th"

netem=1
netns_netem delay 20ms 10ms reorder 25% 50% loss 1% || netem=0
if [ $netem = 1 ]; then
  echo "--- netem: delay 20±10 ms, 25 % reordered, 1 % loss on every link"
  t0=$(now_ms); sleep "$FAULT_S"; th=$(now_ms); heal
  after "netem delay 20±10 ms, 25 % reordered, 1 % loss" "$t0" "$th"
else
  heal
  echo "netem: this kernel has no sch_netem; delay and reordering not run"
  SUMMARY="$SUMMARY
  netem delay/reordering: NOT RUN (this kernel has no sch_netem)"
fi

# --- the end: clients stopped, every node applied everything, then the data compared
touch "$MDB_ROOT/stop"
for p in $CLIENTS; do wait "$p" 2>/dev/null; done
wait_for "$HEAL_S" formed || abort "3 Synced at the end: $(per_node wsrep_local_state_comment)"
wait_for 60 mdb_status_is wsrep_last_committed "$(mdb_status n1 wsrep_last_committed)" $NODES ||
  fail "same wsrep_last_committed on every node: $(per_node wsrep_last_committed)"
sort -u <(cat "$MDB_ROOT"/commits.* | awk '{ print $2 }') >"$MDB_ROOT/acked"
acked=$(wc -l <"$MDB_ROOT/acked")
[ "$acked" -gt 100 ] || fail "only $acked transfers acknowledged: the workload did not run"
sums=""
for n in $NODES; do
  mdb_sql "$n" "SELECT id FROM bank.xfer" | sort -u >"$MDB_ROOT/have.$n"
  lost=$(comm -23 "$MDB_ROOT/acked" "$MDB_ROOT/have.$n" | wc -l)
  expect "$n: acknowledged transfers missing (of $acked)" "$lost" 0
  sums="$sums $(mdb_sql "$n" "CHECKSUM TABLE bank.acct, bank.xfer" | awk '{ printf "%s/", $2 }')"
done
b=$(balance_ok $NODES) && pass "total balance $TOTAL on every node at the end" || fail "$b"
expect "CHECKSUM TABLE bank.acct, bank.xfer equal on n1 n2 n3" "$(echo "$sums" | tr ' ' '\n' | sed '/^$/d' | sort -u | wc -l)" 1
echo "summary ($(basename "$PROVIDER"), $acked transfers acknowledged, 6 clients, faults of $FAULT_S s):$SUMMARY"
finish
