#!/usr/bin/env bash
# tests/process/gcomm_auto_evict.sh: Galera's auto-eviction with real processes (docs/design/gcomm.md
# section 14). 3 trireme-gcomm-node processes under load with evs.auto_evict=3; node 2's links drop
# and come back every ~1.2 s (gmcast.isolate on and off, SIGUSR1), so the other two count a delay
# per drop. Checks: both evict node 2 (same list), it says it was evicted and stays out while the
# two go on as a primary view of 2; a restart under the same uuid (gvwstate.dat kept) is refused
# again; evs.evict cleared at node 0 (SIGUSR2) empties node 1's list too, and a restart of node 2
# then brings the group back to 3. With EVICT_THRESHOLD=0 (auto-eviction off) the same flapping
# must evict nobody. Usage: gcomm_auto_evict.sh path/to/trireme-gcomm-node. Ends only the
# processes it started.
set -u
BIN=${1:?path to trireme-gcomm-node}
THRESHOLD=${EVICT_THRESHOLD:-3}
N=3
WORK_NAME=gcomm-evict

. "$(dirname "$0")/proc_lib.sh"
. "$(dirname "$0")/gcomm_lib.sh"

BASE=$(free_ports $((N + 2))) || fail "no free port range"
for i in 0 1 2; do NODE_EXTRA[$i]="--opt evs.auto_evict=$THRESHOLD"; done

evict_list() { awk '$1 == "EVICTLIST" { l = $3 } END { print l }' "$WORK/$1.out"; } # the last one printed
lists() { case ",$(evict_list "$1")," in *",$2,"*) return 0 ;; esac; return 1; }
evicted_lines() { grep -c '^EVICTED' "$WORK/$1.out"; }

log "starting $N nodes on ports $BASE.. (evs.auto_evict=$THRESHOLD)"
start 0 bootstrap
sleep 0.3
for i in 1 2; do start "$i"; done
ALL="0 1 2"
wait_views "$ALL" $N 20 || fail "group of $N did not form"
sleep 2
X=2
UX=${UUIDS[$X]}

log "node $X flaps: its links drop every ~1.2 s"
t0=$(now_ms)
flaps=0
while [ $flaps -lt 10 ]; do
    kill -USR1 "${PIDS[$X]}"; sleep 0.3; kill -USR1 "${PIDS[$X]}"; sleep 0.9
    flaps=$((flaps + 1))
    if [ "$THRESHOLD" != 0 ] && lists 0 "$UX" && lists 1 "$UX"; then break; fi
done
dt=$(($(now_ms) - t0))

if [ "$THRESHOLD" = 0 ]; then
    sleep 2
    for i in 0 1; do [ "$(evict_list "$i")" = "" ] || fail "node $i evicted $(evict_list "$i") with auto-eviction off"; done
    [ "$(evicted_lines $X)" = 0 ] || fail "node $X was evicted with auto-eviction off"
    wait_views "$ALL" $N 30 || fail "the group is not whole again after the flapping"
    log "auto-eviction off: $flaps flaps in $dt ms, nobody evicted, the group of 3 is whole again"
else
    lists 0 "$UX" && lists 1 "$UX" || fail "node $X not evicted at both others after $flaps flaps ($dt ms)"
    log "node $X evicted at nodes 0 and 1 after $flaps flaps, $dt ms"
    [ "$(evict_list 0)" = "$(evict_list 1)" ] || fail "evict lists differ: $(evict_list 0) / $(evict_list 1)"
    t=0
    until [ "$(evicted_lines $X)" -ge 1 ]; do
        sleep 0.1; t=$((t + 1)); [ $t -lt 100 ] || fail "node $X did not learn it was evicted"
    done
    grep -q "has been evicted from the cluster" "$WORK/$X.err" || fail "node $X logged no eviction line"
    wait_views "0 1" 2 30 || fail "nodes 0 and 1 formed no primary view of 2 without node $X"
    sleep 2
    prim_of 0 2 && prim_of 1 2 || fail "nodes 0 and 1 left their view of 2"
    ev_at=$(awk '$1 == "EVICTED" { print $2; exit }' "$WORK/$X.out")
    awk -v a="$ev_at" '$1 == "PRIMARY" && $2 == 1 && $3 > a { f = 1 } END { exit !f }' "$WORK/$X.out" &&
        fail "node $X primary again after its eviction"

    log "restart node $X under the same uuid: refused while the list holds it"
    kill -TERM "${PIDS[$X]}"; wait "${PIDS[$X]}" 2>/dev/null; PIDS[$X]=""
    before=$(evicted_lines $X)
    start $X
    [ "${UUIDS[$X]}" = "$UX" ] || fail "node $X restarted under another uuid (${UUIDS[$X]})"
    t=0
    until [ "$(evicted_lines $X)" -gt "$before" ]; do
        sleep 0.1; t=$((t + 1)); [ $t -lt 150 ] || fail "restarted node $X was not refused"
    done
    sleep 1
    prim_of 0 2 && prim_of 1 2 || fail "the restarted evicted node changed the others' view"

    log "evs.evict cleared at node 0 (SIGUSR2)"
    kill -USR2 "${PIDS[0]}"
    t=0
    until [ "$(evict_list 0)" = "-" ] && [ "$(evict_list 1)" = "-" ]; do
        sleep 0.1; t=$((t + 1)); [ $t -lt 100 ] || fail "the clear did not reach node 1 ($(evict_list 1))"
    done
    log "both lists empty $((t * 100)) ms after the clear; restart node $X"
    kill -TERM "${PIDS[$X]}"; wait "${PIDS[$X]}" 2>/dev/null; PIDS[$X]=""
    start $X
    wait_views "$ALL" $N 30 || fail "node $X did not come back after the clear"
    log "node $X back: one primary view of 3"
fi

sleep 1
finish_checked "$ALL"
log "PASS"
