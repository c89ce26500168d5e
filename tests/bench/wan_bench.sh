#!/usr/bin/env bash
# tests/bench/wan_bench.sh: 3 MariaDB nodes, each in a network namespace of its own, joined by links
# that delay every packet (tests/bench/wan_link), under sysbench from clients spread over the nodes.
# Usage: wan_bench.sh [TRIREME_SO [GALERA_SO]]. For each one-way delay in WAN_DELAYS (ms; default
# "10 50") a cluster per provider, Galera 4 and trireme in turn (WAN_ORDER="trireme galera" starts
# with trireme, WAN_ORDER=trireme runs trireme only; the order flips from one delay to the next), and on it a run per client count in
# WAN_CLIENTS (default "16 64"), WAN_SECONDS each (default 60). Workload: sysbench
# oltp_update_index on 4 tables x 10000 rows: each event is one autocommit UPDATE of one row, so
# its latency (sysbench's per-event histogram, restarts after a conflict included) is that of one
# replicated commit. The rows get ids 1..10000 from sysbench (--auto_inc=off): with
# AUTO_INCREMENT, wsrep_auto_increment_control strides the ids by the cluster size, two random ids
# in three then match no row, and such an UPDATE replicates nothing and returns in 0.05 ms; every
# run checks that all its events wrote a row. Clients split over the nodes (C/3 each,
# the rest to the first), each sysbench inside its node's namespace on the node's socket. Prints
# per run TPS (all nodes), commit latency p50 and p99 from the merged sysbench histograms, the
# conflicts per second (events restarted after ER_LOCK_DEADLOCK and the like: certification
# failures or local transactions aborted by a replicated one) and, of those, the certification
# failures per second (wsrep_local_cert_failures), and the 1-minute load average at the end of the
# run; the tables must hold every row after prepare, and after each run there must have been no
# view change, every node must have applied everything and CHECKSUM TABLE must agree.
# Exits 77 (skipped) without root, sysbench or a TUN device; 1 if a check failed. Ends only the
# servers, clients and wan_link it started, and deletes its namespaces, also when it fails.
#
# Delay: wan_link holds each packet D ms one way, so a round trip between two nodes takes 2D; that
# is what "netem delay D on every node's interface" gives (netem delays each node's egress).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TRIREME=${1:-$ROOT/build/lib/libtrireme.so}
GALERA=${2:-/usr/lib/galera/libgalera_smm.so}
WAN_BIN=${WAN_BIN:-$ROOT/build/bench/wan_link}
DELAYS=${WAN_DELAYS:-10 50}
CLIENTS=${WAN_CLIENTS:-16 64}
RUN_S=${WAN_SECONDS:-60}
DEADLINE=${DEADLINE:-7200}
TABLES=4
TABLE_SIZE=10000
TEST=oltp_update_index
PORT=4306 # each node has its own namespace, so the same ports everywhere
NS=wan$$  # namespaces wan<pid>1..3
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-netns.sh
source "$HERE/../scripts/lib-netns.sh"

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces and TUN devices"
for t in ip sysbench python3; do command -v $t >/dev/null || skip "needs $t"; done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ -x "$WAN_BIN" ] || { echo "$WAN_BIN not built (make build)"; exit 1; }
for p in "$TRIREME" "$GALERA"; do [ -r "$p" ] || { echo "provider $p not found"; exit 1; }; done

NETNS_PREFIX=$NS NETNS_NET=10.79.0 NETNS_BASE=0
MDB_AFTER_CLEANUP=netns_delete # wan_link and the namespaces go once the servers are stopped
mdb_init "" || skip "no mariadb client or mariadb-install-db"
NETNS_WAN_BIN=$WAN_BIN NETNS_WAN_LOG=$MDB_ROOT/wan_link.log
# A copy of each provider: a rebuild during the sitting must not change what is measured.
mkdir -p "$MDB_ROOT/lib" && chmod 755 "$MDB_ROOT/lib"
cp "$TRIREME" "$MDB_ROOT/lib/libtrireme.so" || abort "trireme copied to $MDB_ROOT/lib"
cp "$GALERA" "$MDB_ROOT/lib/libgalera_smm.so" || abort "Galera copied to $MDB_ROOT/lib"
TRIREME=$MDB_ROOT/lib/libtrireme.so GALERA=$MDB_ROOT/lib/libgalera_smm.so
export MDB_EXTRA_CNF="wsrep_slave_threads=4"
NODES=(n1 n2 n3)

# rtt_ms A B: min and median round trip in ms of 20 UDP echoes from namespace A to B's address
rtt_ms() {
  local a=$1 b=$2 srv
  ip netns exec "$NS$b" timeout 20 python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 9999)); s.settimeout(10)
while True:
    d, a = s.recvfrom(2048); s.sendto(d, a)' "$(netns_addr "$b")" 2>/dev/null &
  srv=$!
  sleep 0.3
  ip netns exec "$NS$a" python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); r = []
for i in range(20):
    t = time.monotonic(); s.sendto(b"x" * 64, (sys.argv[1], 9999)); s.recvfrom(2048)
    r.append((time.monotonic() - t) * 1000); time.sleep(0.02)
r.sort(); print("%.2f %.2f" % (r[0], r[10]))' "$(netns_addr "$b")"
  kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
}

# cluster_up PROVIDER DELAY_MS: namespaces, wan_link, the round trip checked, 3 nodes Synced,
# the sysbench tables
cluster_up() {
  local provider=$1 d=$2 i r
  NETNS_WAN_DELAY_MS=$d
  netns_wan 1 2 3 || abort "namespaces joined by wan_link (delay $d ms)"
  # wan_link stands for the network: real time, so that the servers' load does not delay it
  command -v chrt >/dev/null && chrt -f -p 10 "$NETNS_WAN_PID" >/dev/null
  r=$(rtt_ms 1 2)
  echo "wan_link pid $NETNS_WAN_PID, one-way delay $d ms: round trip n1 -> n2 min/median ${r% *}/${r#* } ms"
  awk -v m="${r% *}" -v d="$d" 'BEGIN { exit !(m >= 2 * d && m < 2 * d + 2) }' ||
    fail "round trip n1 -> n2 ${r% *} ms, want 2 x $d ms (+ under 2 ms)"
  netns_mdb_create "$provider" $PORT 1 2 3 || abort "n1 n2 n3 created"
  for i in "${NODES[@]}"; do
    mdb_start "$i"
    mdb_wait_ready "$i" 300 || abort "$i started and ready"
  done
  wait_for 120 mdb_formed "${NODES[@]}" || abort "3 nodes Synced: $(mdb_per_node wsrep_local_state_comment "${NODES[@]}")"
  mdb_sql n1 "CREATE DATABASE sbtest" || abort "sbtest created"
  sysbench "$TEST" --db-driver=mysql --mysql-socket="$(mdb_dir n1)/mysqld.sock" --mysql-user=root \
    --mysql-db=sbtest --tables=$TABLES --table-size=$TABLE_SIZE --threads=$TABLES --auto_inc=off prepare \
    >"$MDB_ROOT/prepare.log" 2>&1 || { cat "$MDB_ROOT/prepare.log"; abort "sysbench prepare"; }
  synced_to_n1 || abort "the tables replicated"
  # sysbench 1.0 exits 0 even when a loading thread failed: count the rows on every node
  for i in "${NODES[@]}"; do
    r=$(mdb_sql "$i" "SELECT SUM(n) FROM ($(seq -s ' UNION ALL ' -f \
      'SELECT COUNT(*) AS n FROM sbtest.sbtest%g' 1 $TABLES)) AS t")
    [ "$r" = $((TABLES * TABLE_SIZE)) ] ||
      { grep -m 3 FATAL "$MDB_ROOT/prepare.log" | cut -c1-200; abort "$i has $r rows after prepare, want $((TABLES * TABLE_SIZE))"; }
  done
  VIEW_ID=$(mdb_per_node wsrep_cluster_conf_id "${NODES[@]}")
}

cluster_down() {
  local n
  for n in "${NODES[@]}"; do mdb_stop "$n" 120 || fail "$n stopped cleanly"; done
  echo "  wan_link used $(wan_cpu_s) s of CPU since its start"
  netns_delete
  grep -v 'for no namespace' "$NETNS_WAN_LOG" | grep -E 'dropped [1-9]|write errors' | sed 's/^/  /'
  grep -qE 'dropped [1-9]|[1-9][0-9]* write errors' "$NETNS_WAN_LOG" &&
    echo "  (wan_link dropped packets: see above)"
}

# wan_cpu_s: user + system CPU seconds wan_link has used (its /proc stat, in clock ticks)
wan_cpu_s() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' \
    "/proc/$NETNS_WAN_PID/stat" 2>/dev/null
}

# cert_failures: wsrep_local_cert_failures summed over the nodes
cert_failures() {
  local n s=0
  for n in "${NODES[@]}"; do s=$((s + $(mdb_status "$n" wsrep_local_cert_failures))); done
  echo "$s"
}

# synced_to_n1: every node has applied what n1 has committed
synced_to_n1() {
  wait_for 120 mdb_status_is wsrep_last_committed "$(mdb_status n1 wsrep_last_committed)" "${NODES[@]}"
}

# pct P FILES: the latency (ms) at percentile P of the merged sysbench histograms (one bucket grid)
pct() {
  local p=$1; shift
  awk -v p="$p" '/Latency histogram/ { h = 1; next }
    h && /^ *[0-9.]+ +\|/ { if (!($1 in v)) ks[++n] = $1; v[$1] += $NF; t += $NF; next }
    h && !/value/ { h = 0 }
    END { for (i = 2; i <= n; i++) { x = ks[i]; j = i - 1; while (j > 0 && ks[j] + 0 > x + 0) { ks[j + 1] = ks[j]; j-- } ks[j + 1] = x }
          need = t * p / 100; acc = 0
          for (i = 1; i <= n; i++) { acc += v[ks[i]]; if (acc >= need) { printf "%.1f", ks[i]; exit } }
          print "n/a" }' "$@"
}

RESULTS=""
# run PROVIDER_NAME DELAY C: one sysbench run, C clients over the three nodes
run() {
  local name=$1 d=$2 c=$3 i t pids="" files=() tps=0 err=0 f p50 p99 sums fc cf0 cf ev=0 wr=0 load
  for i in 1 2 3; do mdb_sql "n$i" "FLUSH STATUS" >/dev/null; done
  cf0=$(cert_failures)
  for i in 1 2 3; do
    t=$((c / 3 + (i == 1 ? c % 3 : 0)))
    f=$MDB_ROOT/run.$name.$d.$c.n$i
    files+=("$f")
    ip netns exec "$NS$i" sysbench "$TEST" --db-driver=mysql --mysql-socket="$(mdb_dir "n$i")/mysqld.sock" \
      --mysql-user=root --mysql-db=sbtest --tables=$TABLES --table-size=$TABLE_SIZE --skip_trx=on \
      --threads=$t --time="$RUN_S" --events=0 --percentile=99 --histogram=on \
      --mysql-ignore-errors=1213,1205,1047,1180 run >"$f" 2>&1 &
    pids="$pids $!"
  done
  MDB_CHILD_PIDS="$MDB_CHILD_PIDS $pids"
  for i in $pids; do wait "$i" || fail "$name D=$d C=$c: sysbench exited $?"; done
  load=$(cut -d' ' -f1 /proc/loadavg)
  cf=$(awk -v a="$cf0" -v b="$(cert_failures)" -v t="$RUN_S" 'BEGIN { printf "%.1f", (b - a) / t }')
  for f in "${files[@]}"; do
    tps=$(awk -v s="$tps" '/transactions:/ { gsub(/\(/, "", $3); s += $3 } END { printf "%.1f", s }' "$f")
    err=$(awk -v s="$err" '/ignored errors:/ { gsub(/\(/, "", $4); s += $4 } END { printf "%.1f", s }' "$f")
    ev=$(awk -v s="$ev" '/total number of events:/ { s += $NF } END { print s }' "$f")
    wr=$(awk -v s="$wr" '$1 == "write:" { s += $2 } END { print s }' "$f")
  done
  # each event is one UPDATE of a row that exists: one that wrote nothing replicated nothing
  expect "$name D=$d C=$c: every event wrote a row (writes = events)" "$wr" "$ev"
  p50=$(pct 50 "${files[@]}"); p99=$(pct 99 "${files[@]}")
  fc=$(mdb_per_node wsrep_flow_control_paused "${NODES[@]}")
  # a view change in the middle of a run measures the change, not the link
  expect "$name D=$d C=$c: no view change during the run (wsrep_cluster_conf_id)" \
    "$(mdb_per_node wsrep_cluster_conf_id "${NODES[@]}")" "$VIEW_ID"
  synced_to_n1 || fail "$name D=$d C=$c: every node applied everything: $(mdb_per_node wsrep_last_committed "${NODES[@]}")"
  sums=""
  for i in "${NODES[@]}"; do
    sums="$sums $(mdb_sql "$i" "CHECKSUM TABLE $(seq -s, -f 'sbtest.sbtest%g' 1 $TABLES)" | awk '{ printf "%s/", $2 }')"
  done
  expect "$name D=$d C=$c: CHECKSUM TABLE equal on n1 n2 n3" \
    "$(echo "$sums" | tr ' ' '\n' | sed '/^$/d' | sort -u | wc -l)" 1
  echo "RESULT provider=$name delay_ms=$d clients=$c tps=$tps p50_ms=$p50 p99_ms=$p99 conflicts_per_s=$err cert_failures_per_s=$cf load1=$load fc_paused=[$fc]"
  RESULTS="$RESULTS
| $d ms ($((2 * d)) ms RTT) | $c | $name | $tps | $p50 | $p99 | $err | $cf | $load |"
}

echo "wan_bench: $TEST --skip_trx=on, $TABLES tables x $TABLE_SIZE rows, ${RUN_S} s per run; delays [$DELAYS] ms one way, clients [$CLIENTS]"
echo "providers: trireme $(sha256sum "$TRIREME" | cut -c1-12), Galera 4 $GALERA; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
# The link's own cost: the same namespaces and wan_link with no delay against the same echo
NETNS_WAN_DELAY_MS=0
netns_wan 1 2 3 || abort "namespaces joined by wan_link (no delay)"
command -v chrt >/dev/null && chrt -f -p 10 "$NETNS_WAN_PID" >/dev/null
r=$(rtt_ms 1 2)
echo "wan_link with no delay: round trip n1 -> n2 min/median ${r% *}/${r#* } ms (UDP echo in Python)"
netns_delete
order=${WAN_ORDER:-galera trireme} # the first delay's order; it flips at each delay
for d in $DELAYS; do
  for name in $order; do
    so=$TRIREME; [ "$name" = galera ] && so=$GALERA
    echo "--- $name, one-way delay $d ms ($(date -u +%H:%M:%S) UTC)"
    cluster_up "$so" "$d"
    for c in $CLIENTS; do run "$name" "$d" "$c"; done
    cluster_down
  done
  order=$(echo "$order" | awk '{ print $2, $1 }') # the other provider first at the next delay
done
echo "| one-way delay | clients | provider | TPS | commit p50 ms | commit p99 ms | conflicts/s | cert failures/s | load |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |${RESULTS}"
finish
