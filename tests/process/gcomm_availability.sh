#!/usr/bin/env bash
# tests/process/gcomm_availability.sh: how long delivery stops when a member fails, with default
# timeouts: 3 trireme-gcomm-node processes under load; kill -9 of a member that does not order,
# kill -9 of the one that orders, gmcast.isolate of each (how soon it stops calling itself
# primary), and a member cut off unawares. The orderer is the one the views name.
# Usage: gcomm_availability.sh path/to/trireme-gcomm-node.
# Limits (ms) from the environment: AVAIL_MEMBER_MS (100), AVAIL_LEADER_MS (1000),
# AVAIL_ISOLATE_MS (1000, one keepalive period). Ends only the processes it started.
set -u
BIN=${1:?path to trireme-gcomm-node}
MEMBER_MS=${AVAIL_MEMBER_MS:-100}
LEADER_MS=${AVAIL_LEADER_MS:-1000}
ISOLATE_MS=${AVAIL_ISOLATE_MS:-1000}
N=3
WORK_NAME=gcomm-avail

. "$(dirname "$0")/proc_lib.sh"
. "$(dirname "$0")/gcomm_lib.sh"

BASE=$(free_ports $((N + 2))) || fail "no free port range"

find_leader() { # sets L, the orderer of the whole group
    L=$(leader "$ALL") || fail "the last views of nodes $ALL name no common leader among them"
}

others() { seq 0 $((N - 1)) | grep -vx "$1" | tr '\n' ' '; } # every node but $1

# survivors_gap "nodes" t0: a second after their new primary view, sets WORST to their longest
# delivery gap since a second before t0; fails if one delivered nothing in that last second.
survivors_gap() {
    local i g t1
    sleep 1
    t1=$(now_ms)
    WORST=0
    for i in $1; do
        g=$(longest_gap "$i" $(($2 - 1000)) "$t1")
        log "  node $i: longest delivery gap $g ms"
        [ "$g" -gt "$WORST" ] && WORST=$g
        [ "$(longest_gap "$i" $((t1 - 1000)) "$t1")" != 0 ] || fail "node $i delivers nothing after the view change"
    done
}

# kill_one who limit what: kill -9 of node who, then the survivors' longest delivery gap.
kill_one() {
    local who=$1 limit=$2 what=$3 t0 rest
    rest=$(others "$who")
    t0=$(now_ms)
    kill -9 "${PIDS[$who]}"; wait "${PIDS[$who]}" 2>/dev/null; PIDS[$who]=""
    wait_views "$rest" $((N - 1)) 30 || fail "no $((N - 1))-member primary view after kill -9 of node $who"
    log "  new primary view after $(($(now_ms) - t0)) ms (evs.suspect_timeout PT5S)"
    survivors_gap "$rest" "$t0"
    log "$what: longest delivery gap $WORST ms (limit $limit ms)"
    [ "$WORST" -le "$limit" ] || fail "$what: delivery stopped for $WORST ms"
    start "$who"
    wait_views "$ALL" $N 30 || fail "node $who did not rejoin"
    sleep 1
}

# isolate_one who limit what: gmcast.isolate on node who (SIGUSR1); how soon it stops calling
# itself primary, and the majority's longest delivery gap until a second after its new view.
isolate_one() {
    local who=$1 limit=$2 what=$3 t t0 rest iso="" off="" lag
    t0=$(now_ms)
    kill -USR1 "${PIDS[$who]}"
    t=0
    while [ -z "$off" ]; do
        sleep 0.1; t=$((t + 1)); [ $t -lt 100 ] || fail "isolated node $who still calls itself primary after 10 s"
        iso=$(awk '$1 == "ISOLATE" && $2 == 1 { print $3 }' "$WORK/$who.out" | tail -1)
        [ -n "$iso" ] && off=$(awk -v a="$iso" '$1 == "PRIMARY" && $2 == 0 && $3 >= a { print $3; exit }' "$WORK/$who.out")
    done
    lag=$(awk -v a="$iso" -v b="$off" 'BEGIN { printf "%.0f\n", b - a }')
    rest=$(others "$who")
    wait_views "$rest" $((N - 1)) 30 || fail "the majority formed no primary view without node $who"
    survivors_gap "$rest" "$t0"
    log "$what: not primary after $lag ms (limit $ISOLATE_MS ms); majority's longest delivery gap $WORST ms (limit $limit ms)"
    [ "$lag" -le "$ISOLATE_MS" ] || fail "$what: it called itself primary for $lag ms"
    [ "$WORST" -le "$limit" ] || fail "$what: the majority's delivery stopped for $WORST ms"
    kill -USR1 "${PIDS[$who]}"
    wait_views "$ALL" $N 30 || fail "node $who did not come back after the isolation ended"
    sleep 1
}

log "starting $N nodes on ports $BASE.."
start 0 bootstrap
sleep 0.3
for i in $(seq 1 $((N - 1))); do start "$i"; done
ALL=$(seq 0 $((N - 1)) | tr '\n' ' ')
wait_views "$ALL" $N 20 || fail "group of $N did not form"
sleep 2

find_leader
M=$(( (L + 1) % N ))
log "kill -9 node $M, a member that does not order (node $L orders)"
kill_one "$M" "$MEMBER_MS" "member killed"

find_leader
log "kill -9 node $L, the member that orders"
kill_one "$L" "$LEADER_MS" "orderer killed"

find_leader
X=$(( (L + 1) % N ))
log "gmcast.isolate on node $X, a member that does not order (node $L orders)"
isolate_one "$X" "$MEMBER_MS" "member isolated"

find_leader
log "gmcast.isolate on node $L, the member that orders"
isolate_one "$L" "$LEADER_MS" "orderer isolated"

find_leader
X=$(( (L + 1) % N ))
rest=$(others "$X")

# Cut off without knowing it: its two peers stop (SIGSTOP), its links stay up. Only its lease
# (keepalive/2 after the last heartbeat answered) tells it that it no longer has the majority.
log "SIGSTOP of nodes $rest: node $X is cut off from the majority"
t0=$(now_ms)
for i in $rest; do kill -STOP "${PIDS[$i]}"; done
t=0 off=""
while [ -z "$off" ]; do
    sleep 0.1; t=$((t + 1)); [ $t -lt 50 ] || break
    off=$(awk -v a="$t0" '$1 == "PRIMARY" && $2 == 0 && $3 >= a { print $3; exit }' "$WORK/$X.out")
done
for i in $rest; do kill -CONT "${PIDS[$i]}"; done
[ -n "$off" ] || fail "node $X, cut off, still called itself primary after 5 s"
lag=$(awk -v a="$t0" -v b="$off" 'BEGIN { printf "%.0f\n", b - a }')
log "cut-off node stopped calling itself primary after $lag ms (limit $ISOLATE_MS ms)"
[ "$lag" -le "$ISOLATE_MS" ] || fail "the cut-off node called itself primary for $lag ms"
t=0
until awk -v a="$off" '$1 == "PRIMARY" && $2 == 1 && $3 > a { f = 1 } END { exit !f }' "$WORK/$X.out"; do
    sleep 0.1; t=$((t + 1)); [ $t -lt 300 ] || fail "node $X not primary again 30 s after its peers resumed"
done
wait_views "$ALL" $N 30 || fail "no $N-member primary view after the peers resumed"

for i in $ALL; do kill -TERM "${PIDS[$i]}"; done
for i in $ALL; do
    wait "${PIDS[$i]}"; rc=$?; PIDS[$i]=""
    [ "$rc" = 0 ] || fail "node $i exited with status $rc after SIGTERM"
done
grep -l "ERROR: .*Sanitizer\|WARNING: ThreadSanitizer" "$WORK"/*.err && fail "sanitizer report"
cat "$WORK"/[0-9]*.out | awk '$1=="MSG"{k=$2" "$3; if ((k in m) && m[k]!=$5) {print "order mismatch at", k; bad=1} m[k]=$5}
    END{printf "%d distinct seqnos agree\n", length(m); exit bad}' || fail "delivery logs disagree"
log "PASS"
