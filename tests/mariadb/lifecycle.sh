#!/usr/bin/env bash
# tests/mariadb/lifecycle.sh: a rolling restart under writes, and IST whose donor or joiner dies.
# Usage: lifecycle.sh PROVIDER_SO. Prints each check as it runs; the last line is "N passed, M failed".
#
# Three MariaDB nodes, wsrep_sst_method=rsync (issue 17's tests):
# 1. rolling: clients write through every node and record each acknowledged commit with its
#    time; n1, n2, n3 in turn are stopped cleanly and started again, 3 Synced in between. No
#    restart may copy data (the donor's rsync script runs with --bypass, the joiner's says "rsync
#    IST completed"); every acknowledged row is on all three, the checksums equal; the longest
#    time without a commit is printed, and fails the test above MAX_GAP_MS when that is set.
# 2. donor: n3 misses GAP write-sets, starts again, and its IST donor is SIGKILLed while the
#    stream runs. n3 must end Synced with the others' data, or leave with Galera's "Will never
#    receive state" line having applied a prefix of the gap, in order (its recovered position
#    is between where it stopped and the group's), and then come back by IST from there from
#    the node left, with the same data (that node is bootstrapped when n3 left before the dead
#    donor was evicted: it is then one of two, no quorum, as on Galera). Never a hang.
# 3. joiner: n3 misses GAP write-sets again and is SIGKILLed while it receives or applies them;
#    started again from its recovered position it must be Synced with identical checksums.
# State transfer under churn (parts 4-7; the SST method is then "churn", a test script on PATH
# that runs wsrep_sst_rsync, and on the donor can first wait or aim rsync at a closed port):
# 4. twice: n2 and n3 stopped cleanly at once, started again at once: both catch up from n1.
# 5. during: n3 misses CHURN_GAP write-sets and starts; while it receives its IST the other
#    node that is not its donor is stopped and started again.
# 6. pending: n3 comes back with an empty data directory (a full SST); its donor's script waits
#    PENDING_S seconds before it copies, and n3 is SIGKILLed and started again meanwhile; the
#    donor's rsync of the first transfer then finds no joiner, or the joiner's second instance.
# 7. donorfail: n3 comes back empty again and its donor's rsync cannot reach it (a closed port,
#    as with a firewall): n3 must leave with "Will never receive state", and a start without the
#    fault must then join by SST.
# Parts 4-7 run with clients writing through every node; each ends with the three Synced, every
# acknowledged row on all three and equal checksums, every wait bounded (DEADLINE for it all).
set -u
PROVIDER=${1:?usage: lifecycle.sh PROVIDER_SO}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
DEADLINE=${DEADLINE:-2400}
PARTS=${LIFECYCLE_PARTS:-rolling donor joiner twice during pending donorfail}
CHURN_GAP=${CHURN_GAP:-30000}  # write-sets n3 misses in part 5
PENDING_S=${PENDING_S:-8}      # part 6: how long the donor's script waits before it copies
GAP=${GAP:-100000}             # write-sets a restarted node misses in parts 2 and 3
AWAY_S=${AWAY_S:-4}            # seconds each node stays down in the rolling restart
MAX_GAP_MS=${MAX_GAP_MS:-}     # part 1: fail when the longest commit gap exceeds it (empty: print only)
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
# A store that holds GAP write-sets on both providers; commits not flushed one by one, so that
# producing the gap does not dominate the run.
export MDB_PROVIDER_OPTIONS="gmcast.listen_addr=tcp://127.0.0.1:{GCOMM};ist.recv_addr=127.0.0.1:{IST};gcache.size=256M"
export MDB_EXTRA_CNF="innodb_flush_log_at_trx_commit=2"
NODES="n1 n2 n3"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

# shellcheck disable=SC2086 # NODES is a list
formed() { mdb_formed $NODES; }
# shellcheck disable=SC2086
per_node() { mdb_per_node "$1" $NODES; }
sw() { mdb_sql "$1" "SET SESSION wsrep_sync_wait=15; $2"; }
lines() { wc -l <"$(mdb_dir "$1")/error.log"; }
since() { tail -n "+$(($2 + 1))" "$(mdb_dir "$1")/error.log"; } # NAME LINE: the log after LINE
now_ms() { local t=${EPOCHREALTIME/./}; echo "${t%???}"; }       # wall clock: differences only
log_has() { since "$1" "$2" | grep -q "$3"; }                  # NAME LINE PATTERN
# wait_fast SECONDS CMD...: wait_for, polling every 50 ms (a kill must land inside a window)
wait_fast() {
  local limit=$1 start=$SECONDS; shift
  while ! "$@"; do
    [ $((SECONDS - start)) -lt "$limit" ] || return 1
    sleep 0.05
  done
}
others() { local n; for n in $NODES; do [ "$n" = "$1" ] || echo "$n"; done; }

# same_data WHAT NODE...: CHECKSUM TABLE life.t and the row count agree on every NODE
same_data() {
  local what=$1 n s sums="" counts=""; shift
  for n in "$@"; do
    s=$(sw "$n" "CHECKSUM TABLE life.t" 2>&1 | cut -f2); sums="$sums $n=$s"
    counts="$counts $n=$(sw "$n" "SELECT COUNT(*) FROM life.t" 2>&1)"
  done
  if [ "$(tr ' ' '\n' <<<"$sums" | sed -n 's/.*=//p' | sort -u | wc -l)" = 1 ] &&
     [ "$(tr ' ' '\n' <<<"$counts" | sed -n 's/.*=//p' | sort -u | wc -l)" = 1 ]; then
    pass "$what: CHECKSUM TABLE life.t and row count equal:$sums;$counts"
  else
    fail "$what: data differs: checksums$sums; rows$counts"
  fi
}

# no_sst WHO NODE LOGLINES: the restart of WHO after its log line LINE (and the donors' logs
# after theirs, "n1:L1 n2:L2 ...") copied no data: the joiner's rsync script ran as IST and
# every donor script that ran had --bypass.
no_sst() {
  local who=$1 from=$2 marks=$3 m n l donors full
  if since "$who" "$from" | grep -q 'rsync IST completed on joiner'; then
    pass "$who: its rsync script ran as IST ('rsync IST completed on joiner')"
  else
    fail "$who: no 'rsync IST completed on joiner' in its log: $(since "$who" "$from" | grep -m1 -o 'rsync [A-Z]* completed on joiner\|SST [a-z ]*failed.*')"
  fi
  donors=0 full=0
  for m in $marks; do
    n=${m%%:*} l=${m#*:}
    donors=$((donors + $(since "$n" "$l" | grep -c "Running: 'wsrep_sst_[a-z]* --role 'donor'")))
    full=$((full + $(since "$n" "$l" | grep "Running: 'wsrep_sst_[a-z]* --role 'donor'" | grep -vc -- '--bypass')))
  done
  if [ "$donors" -ge 1 ] && [ "$full" = 0 ]; then
    pass "$who: every donor script ran with --bypass ($donors)"
  else
    fail "$who: donor scripts $donors, of them without --bypass (a full copy) $full"
  fi
}
marks_of() { local n out=""; for n in "$@"; do out="$out $n:$(lines "$n")"; done; echo "$out"; }

# ---- clients: each writes through one node and records "MS ID" of every acknowledged commit
client() { # NODE K
  local node=$1 k=$2 i=0 id
  while [ ! -e "$MDB_ROOT/stop" ]; do
    i=$((i + 1)); id=$((k * 10000000 + ROUND * 1000000 + i))
    if MDB_SQL_TIMEOUT=20 mdb_sql "$node" "INSERT INTO life.t VALUES ($id, '$node', 'c')" >/dev/null 2>&1; then
      echo "$(now_ms) $id" >>"$MDB_ROOT/commits.$k"
    else
      sleep 0.05 # a node down or not ready refuses at once: do not spin
    fi
  done
}
CLIENTS=""
ROUND=0     # each clients_start writes ids of its own: a part's client never repeats an earlier id
ROUND_T0=0  # when the clients of this round started (now_ms)
clients_start() {
  local n k=0
  rm -f "$MDB_ROOT/stop"
  ROUND=$((ROUND + 1)) ROUND_T0=$(now_ms)
  for n in $NODES $NODES; do
    k=$((k + 1)); touch "$MDB_ROOT/commits.$k"
    client "$n" "$k" &
    CLIENTS="$CLIENTS $!"
  done
  MDB_CHILD_PIDS="$MDB_CHILD_PIDS $CLIENTS"
}
clients_stop() {
  local p
  touch "$MDB_ROOT/stop"
  for p in $CLIENTS; do wait "$p" 2>/dev/null; MDB_CHILD_PIDS=${MDB_CHILD_PIDS/ $p/}; done
  CLIENTS=""
}
# gap T0 T1: the longest time in ms within [T0, T1] without a commit from any client
gap() {
  cat "$MDB_ROOT"/commits.* | awk -v t0="$1" -v t1="$2" '$1 >= t0 && $1 <= t1 { print $1 }' | sort -n |
    awk -v t0="$1" -v t1="$2" 'BEGIN { p = t0; m = 0 } { if ($1 - p > m) m = $1 - p; p = $1 }
                               END { if (t1 - p > m) m = t1 - p; print m }'
}
gap_at() { # T0 T1: when (ms after T0) the longest gap began
  cat "$MDB_ROOT"/commits.* | awk -v t0="$1" -v t1="$2" '$1 >= t0 && $1 <= t1 { print $1 }' | sort -n |
    awk -v t0="$1" -v t1="$2" 'BEGIN { p = t0; m = 0; at = 0 } { if ($1 - p > m) { m = $1 - p; at = p - t0 }; p = $1 }
                               END { if (t1 - p > m) at = p - t0; print at }'
}
commits_in() { cat "$MDB_ROOT"/commits.* | awk -v t0="$1" -v t1="$2" '$1 >= t0 && $1 <= t1' | wc -l; }

# acked_everywhere WHAT: every acknowledged id is on all three nodes
acked_everywhere() {
  local n missing
  cat "$MDB_ROOT"/commits.* | cut -d' ' -f2 | sort >"$MDB_ROOT/acked"
  for n in $NODES; do
    sw "$n" "SELECT id FROM life.t WHERE pad = 'c'" 2>&1 | sort >"$MDB_ROOT/have.$n"
    missing=$(comm -23 "$MDB_ROOT/acked" "$MDB_ROOT/have.$n" | wc -l)
    expect "$1: acknowledged rows missing on $n (of $(wc -l <"$MDB_ROOT/acked"))" "$missing" 0
  done
}

# ---- 1. rolling restart
rolling() {
  local n t0 ts tr tf g all_g from marks line="" worst=0
  echo "--- 1. rolling restart of n1, n2, n3 under writes through every node ($AWAY_S s down each)"
  clients_start
  sleep 3
  t0=$(now_ms)
  sleep 3
  for n in $NODES; do
    from=$(lines "$n")
    ts=$(now_ms)
    if mdb_stop "$n" 120; then pass "$n: clean shutdown"; else fail "$n: clean shutdown within 120 s"; fi
    # shellcheck disable=SC2046
    wait_for 30 mdb_status_is wsrep_cluster_size 2 $(others "$n") ||
      fail "$n gone: the others did not see a view of 2 within 30 s"
    sleep "$AWAY_S"
    # shellcheck disable=SC2046
    marks=$(marks_of $(others "$n"))
    tr=$(now_ms)
    mdb_start "$n"
    mdb_wait_ready "$n" 150 || abort "$n: wsrep_ready=ON within 150 s of its restart"
    wait_for 60 formed || abort "after $n's restart, 3 Synced: $(per_node wsrep_local_state_comment)"
    tf=$(now_ms)
    sleep 2 # commits after it: the clients go on
    g=$(gap "$ts" "$(now_ms)")
    [ "$g" -gt "$worst" ] && worst=$g
    pass "$n: back, 3 Synced $(((tf - tr) / 100 / 10)).$(((tf - tr) / 100 % 10)) s after its start"
    line="$line $n:${g}ms"
    echo "FIGURE: $n restart: longest commit gap $g ms (it began $(gap_at "$ts" "$(now_ms)") ms after the stop), $(commits_in "$ts" "$(now_ms)") commits in $(((tf + 2000 - ts) / 1000)) s"
    no_sst "$n" "$from" "$marks"
  done
  tf=$(now_ms)
  sleep 1
  clients_stop
  all_g=$(gap "$t0" "$tf")
  echo "FIGURE: rolling restart on $(basename "$PROVIDER"): longest commit gap $all_g ms over $(((tf - t0) / 1000)) s ($(commits_in "$t0" "$tf") commits; per restart$line)"
  if [ -n "$MAX_GAP_MS" ]; then
    if [ "$all_g" -le "$MAX_GAP_MS" ]; then pass "longest commit gap $all_g ms <= $MAX_GAP_MS ms"; else
      fail "longest commit gap $all_g ms > $MAX_GAP_MS ms"; fi
  fi
  acked_everywhere "rolling restart"
  same_data "rolling restart" n1 n2 n3
}

# write_gap N: N single-row write-sets, through two connections, to n1 and n2
write_gap() {
  local n=$1 base half p pids=""
  base=$(sw n1 "SELECT COALESCE(MAX(id), 0) FROM life.t WHERE id < 10000000")
  half=$((n / 2))
  for p in 0 1; do
    awk -v b=$((base + p * half)) -v n=$half 'BEGIN { for (i = 1; i <= n; i++)
        printf "INSERT INTO life.t VALUES (%d, \"gap\", REPEAT(\"x\", 100));\n", b + i }' |
      timeout 900 "$MDB_CLIENT" --no-defaults --protocol=socket -S "$(mdb_dir "n$((p + 1))")/mysqld.sock" -uroot &
    pids="$pids $!"
  done
  MDB_CHILD_PIDS="$MDB_CHILD_PIDS $pids"
  local rc=0
  for p in $pids; do wait "$p" || rc=1; MDB_CHILD_PIDS=${MDB_CHILD_PIDS/ $p/}; done
  return $rc
}

# n3_away: n3 stops cleanly and misses GAP write-sets; echoes its grastate seqno
n3_away() {
  local t0
  mdb_stop n3 120 || { fail "n3: clean shutdown within 120 s"; return 1; }
  wait_for 30 mdb_status_is wsrep_cluster_size 2 n1 n2 || fail "n1, n2: a view of 2 within 30 s"
  t0=$SECONDS
  write_gap "$GAP" || abort "writing $GAP rows while n3 is away"
  echo "n3 away: $GAP write-sets written in $((SECONDS - t0)) s; n3 stopped at seqno $(mdb_grastate n3 seqno), n1 at $(mdb_status n1 wsrep_last_committed)" >&2
}

# which_donor FROM1 FROM2: the node (n1 or n2) whose log after FROM shows a donor script
which_donor() {
  local n m
  for m in "n1:$1" "n2:$2"; do
    n=${m%%:*}
    since "$n" "${m#*:}" | grep -q "Running: 'wsrep_sst_[a-z]* --role 'donor'\|IST sender starts\|async IST sender" && { echo "$n"; return; }
  done
}

# left_said NODE LINE WHEN: NODE, gone, said Galera's "Will never receive state" after LINE
left_said() {
  if since "$1" "$2" | grep -q "Will never receive state"; then
    pass "$1 left $3: $(since "$1" "$2" | grep -m1 -o 'Will never receive state.*' | cut -c1-160)"
  else
    fail "$1 exited without 'Will never receive state': $(since "$1" "$2" | grep -m3 'ERROR' | tr '\n' ' ' | cut -c1-400)"
  fi
}

# recovered_seqno NODE: the seqno mariadbd --wsrep-recover finds in InnoDB
recovered_seqno() { local p; p=$(mdb_recover "$1") || return 1; echo "${p##*:}"; }

# ---- 2. the IST donor killed mid-transfer
donor_killed() {
  local p3 f1 f2 f3 donor left t0 outcome="" rs pos
  echo "--- 2. n3 misses $GAP write-sets, restarts; its IST donor is SIGKILLed while the stream runs"
  n3_away
  p3=$(mdb_grastate n3 seqno)
  f1=$(lines n1) f2=$(lines n2) f3=$(lines n3)
  mdb_start n3
  # the stream has begun when the joiner says "Receiving IST"; the donor is the one whose script ran
  wait_fast 120 log_has n3 "$f3" "Receiving IST" || abort "n3: no 'Receiving IST' within 120 s"
  donor=$(which_donor "$f1" "$f2")
  [ -n "$donor" ] || abort "no donor script in n1's or n2's log"
  mdb_kill "$donor"
  left=$(others "$donor" | grep -v n3)
  pass "$donor (the donor) SIGKILLed while n3 receives IST; $left is left"
  # n3 either completes (the stream had arrived: nothing more was needed from the donor, or a
  # retry from $left), or leaves; within 120 s, never a hang
  t0=$SECONDS
  while [ $((SECONDS - t0)) -lt 120 ]; do
    if ! mdb_alive "$(mdb_pid n3)"; then outcome=left; break; fi
    if [ "$(mdb_status n3 wsrep_local_state_comment 2>/dev/null)" = Synced ] &&
       [ "$(mdb_status n3 wsrep_ready 2>/dev/null)" = ON ]; then outcome=synced; break; fi
    sleep 0.2
  done
  echo "n3's log after the donor's kill:" >&2
  since n3 "$f3" | grep -E "Receiving IST|IST received|donor|Will never|Terminated|abort|IST:" | tail -n 12 >&2
  case $outcome in
  synced)
    pass "n3 Synced $((SECONDS - t0)) s after its donor's kill ($(since n3 "$f3" | grep -c 'IST received') complete streams)"
    ;;
  left)
    left_said n3 "$f3" "$((SECONDS - t0)) s after its donor's kill"
    mdb_kill n3 # reap
    # a prefix of the gap applied as it came, in order: InnoDB is at or past where n3
    # stopped and not past the group; grastate.dat keeps the uuid. same_data below shows that
    # the prefix was the group's and the IST from there brought the rest.
    rs=$(recovered_seqno n3) || fail "n3: --wsrep-recover after leaving"
    local glc; glc=$(mdb_status "$left" wsrep_last_committed)
    if [ -n "$rs" ] && [ -n "$glc" ] && [ "$rs" -ge "$p3" ] && [ "$rs" -le "$glc" ]; then
      pass "n3 after leaving: recovered seqno $rs, $((rs - p3)) write-sets of the gap applied (stopped at $p3, group at $glc)"
    else
      fail "n3 after leaving: recovered seqno ${rs:-none}, not between $p3 and ${glc:-?}"
    fi
    if [ "$(mdb_grastate n3 uuid)" = "$(mdb_grastate "$left" uuid)" ]; then
      pass "n3: grastate.dat keeps the group uuid (IST next time)"
    else
      fail "n3: grastate.dat lost the group's uuid: $(tr '\n' ' ' <"$(mdb_dir n3)/data/grastate.dat")"
    fi
    if ! wait_for 30 mdb_status_is wsrep_cluster_status Primary "$left"; then
      # n3 left before the group had evicted its dead donor: of the last primary component,
      # n3 left (it no longer counts) and $left is one of the two others, not a majority, so
      # it is non-Primary, as Galera's quorum makes it. The operator's answer on Galera too:
      # pc.bootstrap on the node left.
      echo "note: $left non-Primary (n3 left before its dead donor was evicted); pc.bootstrap on $left" >&2
      mdb_sql "$left" "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'"
      wait_for 30 mdb_status_is wsrep_cluster_status Primary "$left" ||
        fail "$left: not Primary after the donor's kill, n3's leave and pc.bootstrap: $(mdb_status "$left" wsrep_cluster_status)"
    fi
    f3=$(lines n3)
    local marks; marks=$(marks_of "$left")
    # grastate.dat says seqno -1 after the abort: the position comes from InnoDB, as systemd's
    # galera_recovery gives it
    mdb_start n3 --wsrep-start-position="$(mdb_grastate n3 uuid):$rs"
    if mdb_wait_ready n3 150; then pass "n3 started again, ready"; else abort "n3: ready within 150 s of its second start"; fi
    no_sst n3 "$f3" "$marks"
    ;;
  *)
    abort "n3 neither Synced nor gone 120 s after its donor's kill: $(mdb_status n3 wsrep_local_state_comment)"
    ;;
  esac
  # the donor back (crash recovery, then IST from the others)
  pos=$(mdb_recover "$donor") || abort "$donor: --wsrep-recover"
  mdb_start "$donor" --wsrep-start-position="$pos"
  mdb_wait_ready "$donor" 150 || abort "$donor: ready after its restart"
  wait_for 60 formed || abort "3 Synced after the donor's restart: $(per_node wsrep_local_state_comment)"
  pass "$donor back from its recovered position $pos; 3 Synced"
  same_data "donor killed" n1 n2 n3
}

# ---- 3. the joiner killed mid-IST, restarted
# applying P: n3 applies its IST, past P + 1000 (its server answers while it is still a joiner)
applying() {
  local lc
  lc=$(mdb_status n3 wsrep_last_committed 2>/dev/null)
  [ -n "$lc" ] && [ "$lc" -gt $(($1 + 1000)) ]
}
joiner_killed() {
  local f3 t0 pos p3 lc target
  echo "--- 3. n3 misses $GAP write-sets, restarts, and is SIGKILLed while it applies them"
  n3_away
  target=$(mdb_status n1 wsrep_last_committed)
  f3=$(lines n3)
  mdb_start n3
  # killed once the apply runs: part of the gap is committed in InnoDB, the rest not
  p3=$(mdb_grastate n3 seqno)
  wait_fast 120 applying "$p3" || abort "n3: no IST apply within 120 s (wsrep_last_committed $(mdb_status n3 wsrep_last_committed))"
  lc=$(mdb_status n3 wsrep_last_committed)
  mdb_kill n3
  if [ "$lc" -gt "$p3" ] && [ "$lc" -lt "$target" ]; then
    pass "n3 SIGKILLed mid-apply: it had committed $lc of $((p3 + 1))..$target"
  else
    fail "n3 was not killed mid-apply: last committed $lc, gap $((p3 + 1))..$target"
  fi
  pos=$(mdb_recover n3) || abort "n3: --wsrep-recover after the kill"
  echo "n3 recovered $pos (stopped at $(mdb_grastate n3 seqno 2>/dev/null), the group at $(mdb_status n1 wsrep_last_committed))"
  f3=$(lines n3)
  t0=$SECONDS
  mdb_start n3 --wsrep-start-position="$pos"
  mdb_wait_ready n3 300 || abort "n3: ready within 300 s of its restart after the kill"
  wait_for 60 formed || abort "3 Synced after n3's restart: $(per_node wsrep_local_state_comment)"
  pass "n3 back and 3 Synced $((SECONDS - t0)) s after its start ($(since n3 "$f3" | grep -o 'rsync [A-Z]* completed on joiner' | head -n 1))"
  same_data "joiner killed" n1 n2 n3
}

# ---- state transfer under churn (parts 4-7)
# churn_script: $MDB_ROOT/bin/wsrep_sst_churn, on the servers' PATH (MariaDB runs
# wsrep_sst_<method> from PATH; the donor runs the joiner's method). It is wsrep_sst_rsync, but
# on the donor it first waits while $MDB_ROOT/sst-wait holds seconds, and sends to a closed port
# while $MDB_ROOT/sst-unreachable exists: the joiner's rsync daemon unreachable, as behind a
# firewall, so rsync fails and the script exits non-zero.
churn_script() {
  local closed rsync_sst
  rsync_sst=$(command -v wsrep_sst_rsync) || abort "wsrep_sst_rsync not found (MariaDB's SST scripts)"
  closed=$(mdb_pick_ports) || abort "a free port for the unreachable joiner"
  mkdir -p "$MDB_ROOT/bin"
  cat >"$MDB_ROOT/bin/wsrep_sst_churn" <<SCRIPT
#!/bin/bash
# lifecycle.sh's SST method: $rsync_sst, with faults on the donor while the test asks for them
args=("\$@") role=""
for ((i = 0; i < \${#args[@]}; i++)); do
  [ "\${args[i]}" = --role ] && role=\${args[i + 1]}
done
if [ "\$role" = donor ] && [ -r "$MDB_ROOT/sst-wait" ]; then
  w=\$(cat "$MDB_ROOT/sst-wait")
  echo "wsrep_sst_churn: the donor waits \$w s before it copies" >&2
  sleep "\$w"
fi
if [ "\$role" = donor ] && [ -e "$MDB_ROOT/sst-unreachable" ]; then
  for ((i = 0; i < \${#args[@]}; i++)); do
    if [ "\${args[i]}" = --address ]; then
      a=\${args[i + 1]}
      args[i + 1]="\${a%%:*}:$closed/\${a#*/}"
      echo "wsrep_sst_churn: sending to \${args[i + 1]} instead of \$a (nothing listens there)" >&2
    fi
  done
fi
exec "$rsync_sst" "\${args[@]}"
SCRIPT
  chmod 755 "$MDB_ROOT/bin" "$MDB_ROOT/bin/wsrep_sst_churn"
  export PATH="$MDB_ROOT/bin:$PATH"
}
# churn_method: the SST method of every node becomes "churn" (my.cnf, read at the next start,
# and the running servers' global)
churn_method() {
  local n
  for n in $NODES; do
    sed -i 's/^wsrep_sst_method=.*/wsrep_sst_method=churn/' "$(mdb_dir "$n")/my.cnf"
    mdb_sql "$n" "SET GLOBAL wsrep_sst_method='churn'" >/dev/null 2>&1
  done
  rm -f "$MDB_ROOT/sst-wait" "$MDB_ROOT/sst-unreachable"
}
# churn_end WHAT: clients stopped; three Synced, every acknowledged row everywhere, same data
churn_end() {
  wait_for 90 formed || fail "$1: 3 Synced within 90 s: $(per_node wsrep_local_state_comment)"
  sleep 2 # commits after it
  local t1; t1=$(now_ms)
  clients_stop
  echo "FIGURE: $1 on $(basename "$PROVIDER"): longest commit gap $(gap "$ROUND_T0" "$t1") ms, $(commits_in "$ROUND_T0" "$t1") commits in $(((t1 - ROUND_T0) / 1000)) s"
  acked_everywhere "$1"
  same_data "$1" n1 n2 n3
}
# stop_together A B: clean shutdowns begun at the same moment
stop_together() {
  local n
  for n in "$@"; do kill -TERM "$(mdb_pid "$n")" 2>/dev/null; done
  for n in "$@"; do
    if mdb_stop "$n" 120; then pass "$n: clean shutdown"; else fail "$n: clean shutdown within 120 s"; fi
  done
}
# n3_empty: n3 stopped and made again with an empty data directory on the same ports: it joins by SST
n3_empty() {
  local d; d=$(mdb_dir n3)
  mdb_stop n3 120 || fail "n3: clean shutdown within 120 s"
  cp "$d/error.log" "$MDB_ROOT/n3-error.log.$SECONDS" 2>/dev/null # for a post-mortem (MDB_KEEP=1)
  wait_for 30 mdb_status_is wsrep_cluster_size 2 n1 n2 || fail "n1, n2: a view of 2 within 30 s"
  mdb_node_create n3 "$PROVIDER" "$all" "$(mdb_get n3 port)" "$(mdb_get n3 gcomm_port)" \
    "$(mdb_get n3 ist_port)" "$(mdb_get n3 sst_port)" || abort "n3: an empty data directory"
  sed -i 's/^wsrep_sst_method=.*/wsrep_sst_method=churn/' "$d/my.cnf"
}
n3_gone() { ! mdb_alive "$(mdb_pid n3)"; }
donor_known() { [ -n "$(which_donor "$1" "$2")" ]; } # FROM1 FROM2

# ---- 4. two nodes restarted at once
twice() {
  local marks f2 f3 t0
  echo "--- 4. n2 and n3 stopped cleanly at once and started again at once, under writes"
  churn_method
  clients_start
  sleep 2
  stop_together n2 n3
  wait_for 30 mdb_status_is wsrep_cluster_size 1 n1 || fail "n1: a view of 1 within 30 s"
  expect "n1 alone after two clean leaves: wsrep_cluster_status" "$(mdb_status n1 wsrep_cluster_status)" Primary
  sleep "$AWAY_S"
  marks=$(marks_of n1 n2 n3)
  f2=$(lines n2) f3=$(lines n3)
  t0=$SECONDS
  mdb_start n2
  mdb_start n3
  mdb_wait_ready n2 150 || abort "n2: ready within 150 s of the joint start"
  mdb_wait_ready n3 150 || abort "n3: ready within 150 s of the joint start"
  wait_for 90 formed || abort "after the joint start, 3 Synced: $(per_node wsrep_local_state_comment)"
  pass "n2 and n3 back, 3 Synced $((SECONDS - t0)) s after their joint start"
  no_sst n2 "$f2" "$marks"
  no_sst n3 "$f3" "$marks"
  churn_end "two restarted at once"
}

# ---- 5. a node restarted while another joins
during() {
  local f1 f2 f3 donor other t0 GAP=$CHURN_GAP
  echo "--- 5. n3 misses $CHURN_GAP write-sets and joins (its donor's script waits $PENDING_S s); meanwhile the node that is not its donor restarts"
  churn_method
  clients_start
  n3_away
  echo "$PENDING_S" >"$MDB_ROOT/sst-wait" # n3 is a joiner at least this long
  f1=$(lines n1) f2=$(lines n2) f3=$(lines n3)
  t0=$SECONDS
  mdb_start n3
  wait_fast 120 donor_known "$f1" "$f2" || abort "no donor script in n1's or n2's log within 120 s"
  donor=$(which_donor "$f1" "$f2")
  other=$(others n3 | grep -vx "$donor")
  if mdb_stop "$other" 120; then pass "$other (not the donor) stopped cleanly while n3 joins from $donor"; else
    fail "$other: clean shutdown within 120 s while n3 joins"; fi
  if since n3 "$f3" | grep -q 'JOINED -> SYNCED'; then
    fail "n3 was Synced before $other's stop ended: the restart did not happen during its join"
  else
    pass "n3 still joining when $other's stop ended"
  fi
  mdb_start "$other"
  rm -f "$MDB_ROOT/sst-wait"
  mdb_wait_ready n3 150 || abort "n3: ready within 150 s of its start"
  mdb_wait_ready "$other" 150 || abort "$other: ready within 150 s of its restart"
  wait_for 90 formed || abort "3 Synced after $other's restart during n3's join: $(per_node wsrep_local_state_comment)"
  pass "n3 joined and $other back: 3 Synced $((SECONDS - t0)) s after n3's start"
  churn_end "restart during a join"
}

# ---- 6. the joiner restarted while a transfer to it is pending
pending() {
  local f1 f2 f3 donor t0 outcome=""
  echo "--- 6. n3 joins empty (SST); donors' scripts wait $PENDING_S s; n3 is SIGKILLed and started again meanwhile"
  churn_method
  clients_start
  sleep 2
  n3_empty
  echo "$PENDING_S" >"$MDB_ROOT/sst-wait"
  f1=$(lines n1) f2=$(lines n2)
  mdb_start n3
  wait_fast 120 donor_known "$f1" "$f2" || abort "no donor script in n1's or n2's log within 120 s"
  donor=$(which_donor "$f1" "$f2")
  mdb_kill n3
  pass "n3 SIGKILLed while its donor $donor waits to copy"
  f3=$(lines n3)
  t0=$SECONDS
  # at once, and the second transfer waits too: the first donor's rsync finds this instance's
  # daemon listening for the second donor, and copies a state older than the second request
  mdb_start n3
  while [ $((SECONDS - t0)) -lt 300 ]; do
    in_time
    if n3_gone; then outcome=left; break; fi
    if mdb_status_is wsrep_ready ON n3 2>/dev/null; then outcome=ready; break; fi
    sleep 0.5
  done
  rm -f "$MDB_ROOT/sst-wait"
  echo "n3's second start: $(since n3 "$f3" | grep -o 'State transfer received.*\|Will never receive state.*\|Requesting state transfer.*\|without a state transfer.*' | cut -c1-200 | tr '\n' '|')"
  case $outcome in
  ready) pass "n3 ready $((SECONDS - t0)) s after its second start" ;;
  left)
    left_said n3 "$f3" "after its second start"
    mdb_kill n3 # reap
    wait_for 60 mdb_formed n1 n2 || fail "n1, n2: 2 Synced after n3 left: $(mdb_per_node wsrep_local_state_comment n1 n2)"
    f3=$(lines n3)
    mdb_start n3
    mdb_wait_ready n3 300 || abort "n3: ready within 300 s of its third start"
    pass "n3 ready $((SECONDS - t0)) s after its second start, by a third"
    ;;
  *) abort "n3 neither ready nor gone 300 s after its second start" ;;
  esac
  wait_for 90 formed || abort "3 Synced after n3's restarts: $(per_node wsrep_local_state_comment)"
  echo "donors' scripts: $(for n in n1 n2; do since "$n" "$(eval echo "\$f${n#n}")" | grep -o 'rsync returned code [0-9]*\|State transfer to.*\|State transfer sent.*\|SST sent:.*\|SST failed.*' | sed "s/^/$n: /" | tr '\n' '|'; done)"
  churn_end "joiner restarted during a pending transfer"
}

# ---- 7. a donor whose SST script fails
donorfail() {
  local f1 f2 donor t0
  echo "--- 7. n3 joins empty (SST); its donor's rsync cannot reach it: n3 must leave, then join"
  churn_method
  clients_start
  sleep 2
  n3_empty
  touch "$MDB_ROOT/sst-unreachable"
  f1=$(lines n1) f2=$(lines n2)
  t0=$SECONDS
  mdb_start n3
  if wait_for 180 n3_gone; then pass "n3 exited $((SECONDS - t0)) s after its start"; else
    abort "n3 still running 180 s after its donor's script failed: $(mdb_status n3 wsrep_local_state_comment)"; fi
  mdb_kill n3 # reap
  donor=$(which_donor "$f1" "$f2")
  if [ -n "$donor" ] && since "$donor" "$(eval echo "\$f${donor#n}")" | grep -q 'rsync returned code'; then
    pass "$donor (the donor): its rsync failed ($(since "$donor" "$(eval echo "\$f${donor#n}")" | grep -m1 -o 'rsync returned code [0-9]*'))"
  else
    fail "no donor whose rsync failed in n1's or n2's log (donor '${donor:-none}')"
  fi
  left_said n3 0 "after its donor's script failed"
  wait_for 60 mdb_formed n1 n2 || fail "n1, n2: 2 Synced within 60 s of the failed transfer: $(mdb_per_node wsrep_local_state_comment n1 n2)"
  rm -f "$MDB_ROOT/sst-unreachable"
  t0=$SECONDS
  mdb_start n3
  mdb_wait_ready n3 300 || abort "n3: ready within 300 s of its start after the failed transfer"
  wait_for 90 formed || abort "3 Synced after n3's second start: $(per_node wsrep_local_state_comment)"
  pass "n3 started again: 3 Synced $((SECONDS - t0)) s after"
  churn_end "donor script failed"
}


echo "lifecycle: provider $PROVIDER, parts: $PARTS"
[ -r "$PROVIDER" ] || abort "provider library $PROVIDER not found (build it first)"
mdb_init "" || abort "test environment (mariadb client, mariadb-install-db)"
churn_script
# shellcheck disable=SC2086
mdb_cluster "$PROVIDER" $NODES || abort "3 nodes created, started and ready"
wait_for 60 formed || abort "cluster of 3 not formed within 60 s: $(per_node wsrep_local_state_comment)"
pass "3 nodes Synced in a primary component"
all="gcomm://127.0.0.1:$(mdb_get n1 gcomm_port),127.0.0.1:$(mdb_get n2 gcomm_port),127.0.0.1:$(mdb_get n3 gcomm_port)"
for n in $NODES; do mdb_set_address "$n" "$all"; done # a restarted n1 joins instead of bootstrapping
mdb_sql n1 "CREATE DATABASE life; CREATE TABLE life.t (id BIGINT PRIMARY KEY, node VARCHAR(8), pad VARCHAR(128)) ENGINE=InnoDB" ||
  abort "n1: CREATE TABLE life.t"
for part in $PARTS; do
  case $part in
  rolling) rolling ;;
  donor) donor_killed ;;
  joiner) joiner_killed ;;
  twice) twice ;;
  during) during ;;
  pending) pending ;;
  donorfail) donorfail ;;
  *) abort "unknown part $part" ;;
  esac
done
for n in n3 n2 n1; do
  if mdb_stop "$n" 120; then pass "$n: clean shutdown"; else fail "$n: clean shutdown within 120 s"; fi
done
finish
