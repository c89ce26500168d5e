#!/usr/bin/env bash
# tests/bench/sr_bench.sh: one large transaction on a 3-node MariaDB cluster while small ones run
# on the other two nodes, with streaming replication on and off, for any provider.
# Usage: sr_bench.sh ROWS[,ROWS...] PROVIDER_SO...  (e.g. 1000000 trireme.so galera.so)
# SR_MODES="off on" (default) chooses the runs; SR_FRAG_ROWS the fragment size (10000 rows).
#
# n1 runs `UPDATE sr.big SET v = v + 1` over ROWS rows in one transaction, once with
# wsrep_trx_fragment_size=SR_FRAG_ROWS rows (streaming) and once without; meanwhile sysbench
# (oltp_update_non_index, 2 threads each) writes small transactions on n2 and n3 to another
# table. One line per run:
#   sr_bench PROVIDER ROWS on|off total_s=T commit_s=C small_max_ms=M small_tps=A rss_mb=n1/n2/n3
# total_s: UPDATE start to COMMIT return; commit_s: the COMMIT alone; small_max_ms: the longest
# a small transaction took (sysbench's per-second 100th percentile, the maximum over the run);
# small_tps: their rate over the large transaction's time; rss_mb: each mariadbd's largest
# resident size sampled every 0.5 s during the large transaction.
set -u
ROWS_LIST=${1:?usage: sr_bench.sh ROWS[,ROWS...] PROVIDER_SO...}
shift
[ $# -gt 0 ] || { echo "usage: sr_bench.sh ROWS[,ROWS...] PROVIDER_SO..." >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
FRAG_ROWS=${SR_FRAG_ROWS:-10000}
export MDB_SQL_TIMEOUT=3600
export MDB_PROVIDER_OPTIONS="gmcast.listen_addr=tcp://127.0.0.1:{GCOMM};ist.recv_addr=127.0.0.1:{IST};gcache.size=1G"
export MDB_EXTRA_CNF="innodb_buffer_pool_size=1G
innodb_log_file_size=512M
innodb_lock_wait_timeout=3600
wsrep_max_ws_size=2147483647"
NODES="n1 n2 n3"

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# load ROWS: the large table (in transactions of 100 000 rows) and sysbench's small one
load() {
  local rows=$1 lo hi
  mdb_sql n1 "CREATE DATABASE sr; CREATE TABLE sr.big (id INT PRIMARY KEY, v INT NOT NULL,
    pad CHAR(24) NOT NULL) ENGINE=InnoDB; CREATE DATABASE sbtest" || return 1
  for lo in $(seq 1 100000 "$rows"); do
    hi=$((lo + 99999)); [ "$hi" -le "$rows" ] || hi=$rows
    mdb_sql n1 "INSERT INTO sr.big SELECT seq, 0, 'abcdefghijklmnopqrstuvwx' FROM sr.seq_${lo}_to_${hi}" ||
      return 1
  done
  sysbench oltp_update_non_index --mysql-socket="$(mdb_dir n1)/mysqld.sock" --mysql-user=root \
    --mysql-db=sbtest --tables=1 --table-size=10000 prepare >/dev/null || return 1
  [ "$(mdb_sql n3 "SET SESSION wsrep_sync_wait=15; SELECT COUNT(*) FROM sr.big")" = "$rows" ]
}

run_mode() { # PROVIDER ROWS on|off
  local provider=$1 rows=$2 mode=$3 n pids="" sb out=$MDB_ROOT/bench
  local frag=0 t0 t2 p1 p2 p3 m1=0 m2=0 m3=0 r
  [ "$mode" = on ] && frag=$FRAG_ROWS
  mkdir -p "$out"
  for n in n2 n3; do
    sysbench oltp_update_non_index --mysql-socket="$(mdb_dir $n)/mysqld.sock" --mysql-user=root \
      --mysql-db=sbtest --tables=1 --table-size=10000 --threads=2 --time=100000 \
      --report-interval=1 --percentile=100 --mysql-ignore-errors=1213,1205,1047,1180 \
      run >"$out/sb-$n-$mode.out" 2>&1 &
    pids="$pids $!"
  done
  MDB_CHILD_PIDS="${MDB_CHILD_PIDS:-} $pids"
  sleep 5 # sysbench up to speed
  p1=$(mdb_pid n1); p2=$(mdb_pid n2); p3=$(mdb_pid n3)
  t0=$(date +%s%N)
  { printf "SET SESSION wsrep_trx_fragment_unit='rows'; SET SESSION wsrep_trx_fragment_size=%d;\n" "$frag"
    echo "SELECT 'begin', UNIX_TIMESTAMP(NOW(6)); BEGIN; UPDATE sr.big SET v = v + 1;"
    echo "SELECT 'committing', UNIX_TIMESTAMP(NOW(6)); COMMIT; SELECT 'committed', UNIX_TIMESTAMP(NOW(6));"
  } | "$MDB_CLIENT" --no-defaults --protocol=socket -S "$(mdb_dir n1)/mysqld.sock" -uroot -N -B -n \
      >"$out/big-$mode.out" 2>&1 &
  local big=$!
  MDB_CHILD_PIDS="$MDB_CHILD_PIDS $big"
  while kill -0 "$big" 2>/dev/null; do
    r=$(rss_kb "$p1"); [ "$r" -gt "$m1" ] && m1=$r
    r=$(rss_kb "$p2"); [ "$r" -gt "$m2" ] && m2=$r
    r=$(rss_kb "$p3"); [ "$r" -gt "$m3" ] && m3=$r
    sleep 0.5
  done
  t2=$(date +%s%N)
  sleep 3 # the small transactions that waited for the commit finish
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null
  # shellcheck disable=SC2086
  wait $pids 2>/dev/null
  if ! grep -q committed "$out/big-$mode.out" || grep -q ERROR "$out/big-$mode.out"; then
    echo "sr_bench $(basename "$provider") $rows $mode FAILED: $(tr '\n' ' ' <"$out/big-$mode.out")"
    return 1
  fi
  # per-second lines: "[ 12s ] thds: 2 tps: 85.00 ... lat (ms,100%): 23.10 ..."; the seconds of
  # the large transaction are those after the 5 s warm-up
  local secs=$(((t2 - t0) / 1000000000 + 3))
  sb=$(cat "$out"/sb-n[23]-"$mode".out | awk -v from=6 -v to=$((5 + secs)) '
    /^\[ [0-9]+s \]/ { s = $2 + 0; if (s < from || s > to) next
      for (i = 1; i <= NF; i++) {
        if ($i == "tps:") tps += $(i + 1)
        if ($i == "(ms,100%):" && $(i + 1) + 0 > max) max = $(i + 1) + 0 } }
    END { printf "small_max_ms=%d small_tps=%.0f", max, tps / (to - from + 1) }')
  # the server's clock: UPDATE start, COMMIT start, COMMIT end
  local times
  times=$(awk '$1 == "begin" { b = $2 } $1 == "committing" { c = $2 } $1 == "committed" { e = $2 }
    END { printf "total_s=%.1f commit_s=%.1f", e - b, e - c }' "$out/big-$mode.out")
  printf 'sr_bench %s %d %s %s %s rss_mb=%d/%d/%d\n' "$(basename "$provider")" "$rows" "$mode" \
    "$times" "$sb" $((m1 / 1024)) $((m2 / 1024)) $((m3 / 1024))
  [ "$(mdb_sql n1 "SELECT COUNT(*) FROM mysql.wsrep_streaming_log")" = 0 ] ||
    echo "sr_bench: warning: streaming log rows left on n1" >&2
}

run_one() { # PROVIDER ROWS
  local provider=$1 rows=$2 n
  # shellcheck disable=SC2086
  mdb_cluster "$provider" $NODES || { echo "sr_bench: cluster of 3 on $provider failed" >&2; return 1; }
  load "$rows" || { echo "sr_bench: loading $rows rows failed" >&2; return 1; }
  local mode
  for mode in ${SR_MODES:-off on}; do run_mode "$provider" "$rows" "$mode"; done
  local s1 s
  s1=$(mdb_sql n1 "CHECKSUM TABLE sr.big" | cut -f2)
  for n in n2 n3; do
    # a causal read gives up after repl.causal_read_timeout (30 s) while the node still applies
    # a 10^7-row write-set: ask again, for up to 10 minutes
    local try
    for try in $(seq 1 20); do
      s=$(mdb_sql "$n" "SET SESSION wsrep_sync_wait=15; CHECKSUM TABLE sr.big" 2>/dev/null | cut -f2)
      [ -n "$s" ] && break
    done
    [ "$s" = "$s1" ] || echo "sr_bench: $(basename "$provider") $rows: $n's table differs from n1's" >&2
  done
  for n in n3 n2 n1; do mdb_stop "$n" 300; done
}

mdb_init || exit 1
for provider in "$@"; do
  for rows in ${ROWS_LIST//,/ }; do
    run_one "$provider" "$rows" || echo "sr_bench $(basename "$provider") $rows FAILED"
    for n in n3 n2 n1; do mdb_kill "$n"; done # after a failure; the next run starts afresh
  done
done
