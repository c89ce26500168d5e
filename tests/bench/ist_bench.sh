#!/usr/bin/env bash
# tests/bench/ist_bench.sh: how long a restarted MariaDB node takes to be Synced again by IST.
# Usage: ist_bench.sh GAP[,GAP...] PROVIDER_SO...  (e.g. 10000,100000 trireme.so galera.so)
#
# Two nodes; n2 stops cleanly; n1 commits GAP single-row transactions that n2 misses; n2 starts
# again with the same configuration (rsync SST, which both providers bypass for IST). Reported per
# provider and gap: seconds from `mariadbd` start to wsrep_ready=ON with n2 at n1's position, and
# write-sets per second over that time. One line each: "ist_bench PROVIDER GAP SECONDS RATE".
# IST_BENCH_LOGS=DIR keeps both nodes' error log lines of each restart, each line prefixed by the
# seconds since n2's start at which it appeared (the logs themselves say whole seconds):
# DIR/PROVIDER-GAP-n1.log and -n2.log, for a phase-by-phase reading.
set -u
GAPS=${1:?usage: ist_bench.sh GAP[,GAP...] PROVIDER_SO...}
shift
[ $# -gt 0 ] || { echo "usage: ist_bench.sh GAP[,GAP...] PROVIDER_SO..." >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
export MDB_SQL_TIMEOUT=600
# Big enough stores for a 10^6 gap on either provider; commits not flushed per transaction so
# that producing the gap does not dominate the run (the joiner's apply is measured, not this).
export MDB_PROVIDER_OPTIONS="gmcast.listen_addr=tcp://127.0.0.1:{GCOMM};ist.recv_addr=127.0.0.1:{IST};gcache.size=1G"
export MDB_EXTRA_CNF="innodb_flush_log_at_trx_commit=2
innodb_buffer_pool_size=256M"

lc() { mdb_status "$1" wsrep_last_committed; }
# stamp NODE T0 OUT: from now until NODE's server exits, each new line of its error log goes to
# OUT after the seconds since T0 (microseconds since the epoch) at which it was seen.
stamp() {
  local log l skip us
  log="$(mdb_dir "$1")/error.log"
  skip=$(($(wc -l <"$log" 2>/dev/null || echo 0) + 1))
  tail -n +"$skip" -F --pid="$(mdb_pid "$1")" "$log" 2>/dev/null |
    while IFS= read -r l; do
      us=$((${EPOCHREALTIME/./} - $2))
      printf '%d.%03d %s\n' $((us / 1000000)) $((us / 1000 % 1000)) "$l"
    done >"$3"
}
# gap N: N autocommit INSERTs on n1, each its own write-set, through one client connection.
gap() {
  local n=$1 base
  base=$(mdb_sql n1 "SELECT COALESCE(MAX(id), 0) FROM b.t")
  awk -v b="$base" -v n="$n" 'BEGIN { for (i = 1; i <= n; i++)
      printf "INSERT INTO b.t VALUES (%d, %d, REPEAT(\"x\", 100));\n", b + i, i }' |
    timeout 900 "$MDB_CLIENT" --no-defaults --protocol=socket -S "$(mdb_dir n1)/mysqld.sock" -uroot
}

run_one() { # PROVIDER GAP
  local provider=$1 n=$2 target t0 t1 ms
  mdb_cluster "$provider" n1 n2 || { echo "ist_bench: cluster of 2 on $provider failed" >&2; return 1; }
  mdb_sql n1 "CREATE DATABASE b; CREATE TABLE b.t (id INT PRIMARY KEY, k INT, pad VARCHAR(128))"
  mdb_stop n2 120 || return 1
  gap "$n" || { echo "ist_bench: writing the gap failed" >&2; return 1; }
  target=$(lc n1)
  t0=$(date +%s%N)
  mdb_start n2
  local s1="" s2="" tag
  if [ -n "${IST_BENCH_LOGS:-}" ]; then
    tag="${IST_BENCH_LOGS}/$(basename "$provider" .so)-$n"
    mkdir -p "$IST_BENCH_LOGS"
    stamp n2 $((t0 / 1000)) "$tag-n2.log" & s2=$!
    stamp n1 $((t0 / 1000)) "$tag-n1.log" & s1=$!
  fi
  mdb_wait_ready n2 1800 || return 1
  while [ "$(lc n2)" -lt "$target" ]; do sleep 0.05; done
  t1=$(date +%s%N)
  ms=$(((t1 - t0) / 1000000))
  grep -aq "Receiving IST\|IST received\|receiving IST" "$(mdb_dir n2)/error.log" ||
    echo "ist_bench: warning: no IST line in n2's log (a full SST?)" >&2
  printf 'ist_bench %s %d %d.%03d %d\n' "$(basename "$provider")" "$n" $((ms / 1000)) $((ms % 1000)) \
    $((n * 1000 / (ms > 0 ? ms : 1)))
  mdb_stop n2 120; mdb_stop n1 120
  [ -z "$s2" ] || wait "$s2" "$s1"
}

mdb_init || exit 1
for provider in "$@"; do
  for n in ${GAPS//,/ }; do
    run_one "$provider" "$n" || echo "ist_bench $(basename "$provider") $n FAILED"
    mdb_kill n2; mdb_kill n1 # after a failure; mdb_node_create starts the next run afresh
  done
done
