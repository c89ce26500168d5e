#!/usr/bin/env bash
# tests/bench/sst_bench.sh: what a full SST of a SIZE_GB database costs, per SST method.
# Usage: sst_bench.sh SIZE_GB PROVIDER_SO METHOD...   (METHOD: trireme, rsync, mariabackup;
#        METHOD:KEY=VALUE adds [sst] options for that run, e.g. trireme:zstd-level=0)
#
# n1 is filled with SIZE_GB GiB of InnoDB data (four sysbench-shaped tables, rows made by the
# server itself from the sequence engine, not replicated: the copy is what is measured, not the
# load; the datadir adds the system tablespace, undo and a 96 MiB redo log), then for each METHOD an empty n2 joins it by SST and leaves again. Per method, one line
#   sst_bench PROVIDER METHOD DATADIR_MIB SECONDS DONOR_CPU_S SERVER_CPU_S SCRIPT_CPU_S WIRE_MIB
# SECONDS: n2's mariadbd start to wsrep_local_state_comment=Synced (polled every 0.2 s).
# DONOR_CPU_S = SERVER_CPU_S + SCRIPT_CPU_S: n1's mariadbd user+sys time, and that of the SST
#   script's whole process tree (the children mariadbd reaped: cutime+cstime of its
#   /proc/PID/stat, which takes in each descendant its parent waited for); both as differences
#   from before n2's start to after n1's script has exited. The sum of each descendant's own CPU
#   time, sampled every 0.2 s, cross-checks the second figure from below (it misses the last
#   0.2 s of each process and processes shorter than that; a descendant nobody waited for would
#   be missing from the reaped figure instead).
# WIRE_MIB: bytes of the packets sent to n2's SST port (IP and TCP headers included), counted by
#   an nftables rule in a network namespace of the bench's own, where both nodes run on loopback.
# The trireme method runs WSREP_SST_TRIREME (default build/bin/wsrep_sst_trireme). Needs root.
set -u
SIZE_GB=${1:?usage: sst_bench.sh SIZE_GB PROVIDER_SO METHOD...}
PROVIDER=$(realpath -m "${2:?usage: sst_bench.sh SIZE_GB PROVIDER_SO METHOD...}")
shift 2
[ $# -gt 0 ] || { echo "usage: sst_bench.sh SIZE_GB PROVIDER_SO METHOD..." >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOL=$(realpath -m "${WSREP_SST_TRIREME:-$HERE/../../build/bin/wsrep_sst_trireme}")
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
export MDB_SQL_TIMEOUT=3600
TABLES=4
CHUNK=${CHUNK:-100000}

say() { echo "sst_bench: $*" >&2; }
die() { say "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (a network namespace and an nftables counter)"
command -v nft >/dev/null && command -v ip >/dev/null || die "needs ip and nft"
[ -r "$PROVIDER" ] || die "no provider library $PROVIDER"

NS=trsstb$$
nft_sst() { ip netns exec "$NS" nft "$@"; }
bench_cleanup() { ip netns del "$NS" 2>/dev/null; }
export MDB_AFTER_CLEANUP=bench_cleanup
mdb_init || exit 1
ip netns add "$NS" || die "cannot make network namespace $NS"
ip -n "$NS" link set lo up
nft_sst add table inet sstbench && nft_sst add chain inet sstbench out \
  '{ type filter hook output priority 0; policy accept; }' || die "nftables unusable in $NS"
export MDB_NODE_PREFIX="ip netns exec $NS"

if [ -x "$TOOL" ]; then # MariaDB runs wsrep_sst_<method> from PATH; a copy mysql can run
  mkdir -p "$MDB_ROOT/bin"
  cp "$TOOL" "$MDB_ROOT/bin/wsrep_sst_trireme"
  chmod 755 "$MDB_ROOT/bin" "$MDB_ROOT/bin/wsrep_sst_trireme"
  export PATH="$MDB_ROOT/bin:$PATH"
fi
SST_PASS=sst-bench-pw
export MDB_EXTRA_CNF="innodb_flush_log_at_trx_commit=2
innodb_buffer_pool_size=1G
innodb_log_file_size=96M
wsrep_sst_auth=sst:$SST_PASS
[sst]
sst-idle-timeout=300"

# ---- n1 with SIZE_GB of data ---------------------------------------------------------------------
mdb_node_create n1 "$PROVIDER" gcomm:// || die "create n1"
JOIN=gcomm://127.0.0.1:$(mdb_get n1 gcomm_port)
mdb_start n1
mdb_wait_ready n1 120 || die "n1 not ready"
mdb_sql n1 "CREATE USER sst@localhost IDENTIFIED BY '$SST_PASS'; GRANT ALL ON *.* TO sst@localhost;
  CREATE USER sst@'127.0.0.1' IDENTIFIED BY '$SST_PASS'; GRANT ALL ON *.* TO sst@'127.0.0.1';
  CREATE DATABASE sb" || die "n1: user and schema"
WANT_BYTES=$(awk -v g="$SIZE_GB" 'BEGIN { printf "%d", g * 1073741824 }')
# Rounds of CHUNK rows into each table, the tables in parallel, until the schema's files hold
# SIZE_GB (GiB): the size is measured, not computed from a guessed row size. wsrep off in the
# session (one node, nothing to replicate to; the SST copies the files whatever wrote them).
# Text as sysbench's: c of 120 characters, pad of 60, here hex digits (sysbench uses decimal digit
# groups: both about 4 bits of information per byte); k random, as sysbench's, for the index.
for t in $(seq 1 $TABLES); do
  mdb_sql n1 "CREATE TABLE sb.t$t (id INT NOT NULL PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL,
    pad CHAR(60) NOT NULL, KEY k_$t (k)) ENGINE=InnoDB" || die "n1: table t$t"
done
fill() { # T LO HI
  mdb_sql n1 "SET SESSION wsrep_on=OFF; INSERT INTO sb.t$1 SELECT seq, FLOOR(RAND() * 10000000),
    CONCAT(MD5(seq), SHA1(seq * $1), MD5(seq + $1), LEFT(SHA1(seq), 8)),
    LEFT(CONCAT(MD5(seq * 7), SHA1(seq + 3)), 60) FROM sb.seq_$2_to_$3"
}
t0=$SECONDS
ROWS=0
while [ "$(du -sb "$(mdb_dir n1)/data/sb" | cut -f1)" -lt "$WANT_BYTES" ]; do
  pids=""
  for t in $(seq 1 $TABLES); do fill "$t" $((ROWS + 1)) $((ROWS + CHUNK)) & pids="$pids $!"; done
  for p in $pids; do wait "$p" || die "n1: filling the tables failed"; done
  ROWS=$((ROWS + CHUNK))
done
N1_MIB=$(du -sm "$(mdb_dir n1)/data" | cut -f1)
say "n1: $TABLES tables of $ROWS rows in $((SECONDS - t0)) s, datadir $N1_MIB MiB ($(du -sm "$(mdb_dir n1)/data/sb" | cut -f1) MiB in sb); load $(cut -d' ' -f1-3 /proc/loadavg)"
df -h "$MDB_ROOT" | tail -n 1 >&2

# ---- CPU accounting ------------------------------------------------------------------------------
TCK=$(getconf CLK_TCK)
# stat PID: "utime+stime cutime+cstime" in ticks (fields 14-17; the command may hold spaces)
cpu_of() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13, $14 + $15 }'; }
# descendants PID: every process whose chain of parents leads to PID
descendants() {
  awk -v root="$1" 'FNR == 1 { sub(/^.*\) /, ""); pp[FILENAME] = $2; } END {
      for (f in pp) { split(f, a, "/"); par[a[3]] = pp[f] }
      for (p in par) { q = par[p]; while (q > 1) { if (q == root) { print p; break } q = par[q] } } }' \
    /proc/[0-9]*/stat 2>/dev/null
}
declare -A SEEN # pid -> the largest own utime+stime seen, in ticks
declare -A COMM # pid -> its command name
sample_tree() {
  local p v
  for p in $(descendants "$1"); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
    [ -n "$v" ] && [ "${SEEN[$p]:-0}" -lt "$v" ] && SEEN[$p]=$v
    [ -n "${COMM[$p]:-}" ] || COMM[$p]=$(cat "/proc/$p/comm" 2>/dev/null)
  done
}
sampled_ticks() { local p s=0; for p in "${!SEEN[@]}"; do s=$((s + SEEN[$p])); done; echo "$s"; }
sampled_by_comm() { # "name 1.2 s, ..." over the sampled processes, largest first
  local p
  for p in "${!SEEN[@]}"; do echo "${COMM[$p]:-?} ${SEEN[$p]}"; done |
    awk -v h="$TCK" '{ t[$1] += $2 } END { for (c in t) printf "%d %s %.1f s\n", t[c], c, t[c] / h }' |
    sort -rn | cut -d' ' -f2- | paste -sd, - | sed 's/,/, /g'
}
secs() { awk -v t="$1" -v h="$TCK" 'BEGIN { printf "%.1f", t / h }'; }

# ---- one method ----------------------------------------------------------------------------------
# METHOD[:KEY=VALUE...]: the options after the method name go to the [sst] group of both nodes
# for this run only (the scripts read my.cnf when they start): trireme:zstd-level=0
run_method() {
  local spec=$1 m=${1%%:*} p1 before_self before_kids after_self after_kids t0 ms sport wire state
  local opts="" o
  [ "$spec" = "$m" ] || opts=${spec#*:}
  p1=$(mdb_pid n1)
  mdb_node_create n2 "$PROVIDER" "$JOIN" || return 1
  sed -i "s/^wsrep_sst_method=.*/wsrep_sst_method=$m/" "$(mdb_dir n2)/my.cnf"
  cp "$(mdb_dir n1)/my.cnf" "$MDB_ROOT/n1.my.cnf.orig"
  for o in ${opts//:/ }; do # my.cnf ends in the [sst] group (MDB_EXTRA_CNF)
    echo "$o" | tee -a "$(mdb_dir n1)/my.cnf" >>"$(mdb_dir n2)/my.cnf"
  done
  sport=$(mdb_get n2 sst_port)
  nft_sst flush chain inet sstbench out
  nft_sst add rule inet sstbench out tcp dport "$sport" counter
  SEEN=(); COMM=()
  say "$m: start, load $(cut -d' ' -f1-3 /proc/loadavg)"
  read -r before_self before_kids <<<"$(cpu_of "$p1")"
  t0=$(date +%s%3N)
  mdb_start n2
  ms=""
  while :; do
    state=$(mdb_status n2 wsrep_local_state_comment 2>/dev/null)
    if [ "$state" = Synced ]; then ms=$(($(date +%s%3N) - t0)); break; fi
    mdb_alive "$(mdb_pid n2)" || break
    [ $(($(date +%s%3N) - t0)) -lt 3600000 ] || break
    sample_tree "$p1"
    sleep 0.2
  done
  # the donor's script may still be finishing (its cleanup) after the joiner is Synced
  for _ in $(seq 1 600); do
    [ -z "$(descendants "$p1")" ] && break
    sample_tree "$p1"
    sleep 0.2
  done
  [ -z "$(descendants "$p1")" ] || say "$m: n1 still has SST processes after 120 s: $(descendants "$p1" | tr '\n' ' ')"
  read -r after_self after_kids <<<"$(cpu_of "$p1")"
  wire=$(nft_sst list chain inet sstbench out | sed -n 's/.*counter packets [0-9]* bytes \([0-9]*\).*/\1/p')
  if [ -z "$ms" ]; then
    say "$m: n2 not Synced (state '$state'); its log:"; tail -n 30 "$(mdb_dir n2)/error.log" >&2
    echo "sst_bench $(basename "$PROVIDER") $spec FAILED"
  else
    local self=$((after_self - before_self)) kids=$((after_kids - before_kids))
    printf 'sst_bench %s %s %s %d.%d %s %s %s %s\n' "$(basename "$PROVIDER")" "$spec" "$N1_MIB" \
      $((ms / 1000)) $((ms % 1000 / 100)) "$(secs $((self + kids)))" "$(secs "$self")" "$(secs "$kids")" \
      "$(awk -v b="${wire:-0}" 'BEGIN { printf "%.0f", b / 1048576 }')"
    say "$m: script tree sampled every 0.2 s: $(secs "$(sampled_ticks)") s CPU" \
      "(at most the reaped figure $(secs "$kids") s; processes seen: ${#SEEN[@]}: $(sampled_by_comm));" \
      "n2 datadir $(du -sm "$(mdb_dir n2)/data" | cut -f1) MiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
    grep -a "Running: 'wsrep_sst_$m" "$(mdb_dir n2)/error.log" | grep -q -- "--role 'joiner'" ||
      say "$m: warning: n2 did not run a $m joiner script"
    grep -a "Running: 'wsrep_sst_$m" "$(mdb_dir n1)/error.log" | tail -n 1 | grep -q -- "--bypass" &&
      say "$m: warning: n1's donor script ran with --bypass (not a full SST)"
  fi
  cp "$MDB_ROOT/n1.my.cnf.orig" "$(mdb_dir n1)/my.cnf"
  mdb_stop n2 300 || mdb_kill n2
  rm -rf "$(mdb_dir n2)"
  for _ in $(seq 1 60); do [ "$(mdb_status n1 wsrep_cluster_size)" = 1 ] && break; sleep 0.5; done
}

echo "# sst_bench PROVIDER METHOD DATADIR_MIB SECONDS DONOR_CPU_S SERVER_CPU_S SCRIPT_CPU_S WIRE_MIB"
for m in "$@"; do run_method "$m"; done
