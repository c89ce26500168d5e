#!/usr/bin/env bash
# tests/bench/ist_bench.sh: how long a restarted MariaDB node takes to be Synced again by IST.
# Usage: ist_bench.sh GAP[,GAP...] PROVIDER_SO...  (e.g. 10000,100000 trireme.so galera.so)
# IST_BENCH_SST=trireme runs both providers with wsrep_sst_method=trireme (IST_BENCH_TOOL, default
# build/bin/wsrep_sst_trireme) instead of rsync, whose joiner script polls once a second.
#
# Two nodes; n2 stops cleanly; n1 commits GAP single-row transactions that n2 misses; n2 starts
# again with the same configuration (rsync SST, which both providers bypass for IST). Reported per
# provider and gap: seconds from `mariadbd` start to wsrep_ready=ON with n2 at n1's position, and
# write-sets per second over that time. One line each: "ist_bench PROVIDER GAP SECONDS RATE".
# IST_BENCH_REPEAT=K restarts n2 K times from a copy of its stopped directory, taken before the
# first start, so that one gap (minutes at 10^6) serves K timings of the same IST.
# IST_BENCH_PERF=PREFIX records a system-wide profile (perf record -g -a) during each timed start
# (IST_BENCH_PERF_ARGS: its event options, default "-F 499"; "-e sched:sched_switch" for waits).
# IST_BENCH_GAP=sysbench makes the gap with sysbench oltp_write_only (8 clients, 8 tables of
# 100 000 rows made while n2 still runs; one write-set per event: four row changes on random rows)
# instead of single-row INSERTs at the end of one table.
# IST_BENCH_APPLIERS=K sets wsrep_slave_threads=K on both nodes (default 1, MariaDB's default):
# with more, each provider applies the IST range in parallel as far as its dependencies allow.
set -u
GAPS=${1:?usage: ist_bench.sh GAP[,GAP...] PROVIDER_SO...}
shift
[ $# -gt 0 ] || { echo "usage: ist_bench.sh GAP[,GAP...] PROVIDER_SO..." >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
export MDB_SQL_TIMEOUT=600
# Readiness polled every 50 ms, not 0.5 s: the time measured is the joiner's, not the poll's.
export MDB_READY_POLL=0.05
# Big enough stores for a 10^6 gap on either provider; commits not flushed per transaction so
# that producing the gap does not dominate the run (the joiner's apply is measured, not this).
export MDB_PROVIDER_OPTIONS="gmcast.listen_addr=tcp://127.0.0.1:{GCOMM};ist.recv_addr=127.0.0.1:{IST};gcache.size=1G"
export MDB_EXTRA_CNF="innodb_flush_log_at_trx_commit=2
innodb_buffer_pool_size=256M
wsrep_slave_threads=${IST_BENCH_APPLIERS:-1}"
SST=${IST_BENCH_SST:-rsync}

lc() { mdb_status "$1" wsrep_last_committed; }
# gap N: N autocommit INSERTs on n1, each its own write-set, through one client connection.
gap() {
  local n=$1 base
  base=$(mdb_sql n1 "SELECT COALESCE(MAX(id), 0) FROM b.t")
  awk -v b="$base" -v n="$n" 'BEGIN { for (i = 1; i <= n; i++)
      printf "INSERT INTO b.t VALUES (%d, %d, REPEAT(\"x\", 100));\n", b + i, i }' |
    timeout 900 "$MDB_CLIENT" --no-defaults --protocol=socket -S "$(mdb_dir n1)/mysqld.sock" -uroot
}

GAP=${IST_BENCH_GAP:-insert}
SB_TABLES=8
sb() { # ARGS...: sysbench oltp_write_only on n1
  sysbench oltp_write_only --db-driver=mysql --mysql-socket="$(mdb_dir n1)/mysqld.sock" \
    --mysql-user=root --mysql-db=sbtest --tables=$SB_TABLES --table-size=100000 --rand-type=uniform "$@"
}
# the tables the gap writes, for the checksums: "a, b, ..."
gap_tables() {
  if [ "$GAP" = sysbench ]; then seq -f 'sbtest.sbtest%g' -s ', ' 1 "$SB_TABLES"; else echo b.t; fi
}

run_one() { # PROVIDER GAP
  local provider=$1 n=$2 target t0 t1 ms
  mdb_cluster "$provider" n1 n2 || { echo "ist_bench: cluster of 2 on $provider failed" >&2; return 1; }
  if [ "$GAP" = sysbench ]; then
    mdb_sql n1 "CREATE DATABASE sbtest" && sb --threads=2 prepare >"$MDB_ROOT/sb-prepare.log" 2>&1 ||
      { echo "ist_bench: sysbench prepare failed" >&2; return 1; }
    while [ "$(lc n2)" -lt "$(lc n1)" ]; do sleep 0.2; done # n2 stops with the tables
  else
    mdb_sql n1 "CREATE DATABASE b; CREATE TABLE b.t (id INT PRIMARY KEY, k INT, pad VARCHAR(128))"
  fi
  mdb_stop n2 120 || return 1
  if [ "$GAP" = sysbench ]; then
    sb --threads=8 --events="$n" --time=0 run >"$MDB_ROOT/sb-gap.log" 2>&1
  else
    gap "$n"
  fi || { echo "ist_bench: writing the gap failed" >&2; return 1; }
  local r repeat=${IST_BENCH_REPEAT:-1} d2 saved
  d2=$(mdb_dir n2)
  saved="$MDB_ROOT/n2.saved"
  [ "$repeat" -le 1 ] || { rm -rf "$saved" && cp -a "$d2" "$saved"; } || return 1
  for ((r = 1; r <= repeat; r++)); do
    if [ "$r" -gt 1 ]; then # n2 as it was before its first start: the same gap again
      mdb_stop n2 120 || return 1
      rm -rf "$d2" && cp -a "$saved" "$d2" || return 1
    fi
    target=$(lc n1)
    t0=$(date +%s%N)
    mdb_start n2
    if [ -n "${IST_BENCH_PERF:-}" ]; then # IST_BENCH_PERF=PREFIX: perf record -g -a (both nodes), 20 s
      # shellcheck disable=SC2086 # the options split into words
      perf record ${IST_BENCH_PERF_ARGS:--F 499} -g -a -o "$IST_BENCH_PERF-$(basename "$provider" .so)-$n-$r.data" \
        -- sleep "${IST_BENCH_PERF_SECS:-20}" >/dev/null 2>&1 &
    fi
    mdb_wait_ready n2 1800 || return 1
    while [ "$(lc n2)" -lt "$target" ]; do sleep 0.05; done
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    grep -aq "Receiving IST\|IST received\|receiving IST" "$d2/error.log" ||
      echo "ist_bench: warning: no IST line in n2's log (a full SST?)" >&2
    printf 'ist_bench %s %d %d.%03d %d %s %s appliers=%s\n' "$(basename "$provider")" "$n" $((ms / 1000)) \
      $((ms % 1000)) $((n * 1000 / (ms > 0 ? ms : 1))) "$SST" "$GAP" "${IST_BENCH_APPLIERS:-1}"
    # untimed: how parallel the joiner applied (Galera's names: 1.0 is one at a time)
    echo "ist_bench: n2 wsrep_apply_window $(mdb_status n2 wsrep_apply_window)" \
      "wsrep_apply_oooe $(mdb_status n2 wsrep_apply_oooe)" \
      "wsrep_commit_window $(mdb_status n2 wsrep_commit_window)" >&2
    # untimed: the joiner holds what the donor holds (parallel apply must not reorder a row)
    local c1 c2 tables
    tables=$(gap_tables)
    c1=$(mdb_sql n1 "CHECKSUM TABLE $tables") c2=$(mdb_sql n2 "CHECKSUM TABLE $tables")
    [ -n "$c1" ] && [ "$c1" = "$c2" ] ||
      { echo "ist_bench: n2's table differs from n1's after IST: '$c2' against '$c1'" >&2; return 1; }
    if [ -n "${IST_BENCH_LOGS:-}" ]; then # IST_BENCH_LOGS=DIR keeps both error logs of each run
      mkdir -p "$IST_BENCH_LOGS"
      for x in n1 n2; do
        cp "$(mdb_dir $x)/error.log" "$IST_BENCH_LOGS/$(basename "$provider" .so)-$n-$SST-$x$([ "$r" -gt 1 ] && echo "-r$r").log"
      done
    fi
  done
  mdb_stop n2 120; mdb_stop n1 120
  rm -rf "$saved"
}

mdb_init || exit 1
if [ "$SST" = trireme ]; then # MariaDB runs wsrep_sst_<method> from PATH: a copy its user can run
  tool=${IST_BENCH_TOOL:-$HERE/../../build/bin/wsrep_sst_trireme}
  [ -x "$tool" ] || { echo "ist_bench: $tool not built" >&2; exit 2; }
  mkdir -p "$MDB_ROOT/bin" && cp "$tool" "$MDB_ROOT/bin/wsrep_sst_trireme" &&
    chmod 755 "$MDB_ROOT/bin" "$MDB_ROOT/bin/wsrep_sst_trireme" || exit 2
  export PATH="$MDB_ROOT/bin:$PATH"
  MDB_EXTRA_CNF="$MDB_EXTRA_CNF
wsrep_sst_method=trireme
wsrep_sst_auth=root:"
elif [ "$SST" != rsync ]; then
  echo "ist_bench: IST_BENCH_SST is rsync or trireme, not $SST" >&2
  exit 2
fi
for provider in "$@"; do
  for n in ${GAPS//,/ }; do
    run_one "$provider" "$n" || echo "ist_bench $(basename "$provider") $n FAILED"
    mdb_kill n2; mdb_kill n1 # after a failure; mdb_node_create starts the next run afresh
  done
done
